"""External components (XEP-0114)."""
import hashlib
import socket
import time

from ternlib import (COMPONENT, COMPONENT_SECRET, NS_CLIENT, NS_COMPONENT,
                     RawStream, connect_tls, password, q, sasl_failure,
                     show)


def component(server, domain=COMPONENT, secret=COMPONENT_SECRET):
    """Open a component stream and send the handshake (not waited for)."""
    c = RawStream(server.component_port)
    c.open(to=domain, ns=NS_COMPONENT)
    # No id is fine when the server already refuses the domain.
    digest = hashlib.sha1(((c.stream_id or '') + secret).encode()).hexdigest()
    c.send('<handshake>%s</handshake>' % digest)
    return c


def connected(server):
    c = component(server)
    assert c.stream_id, 'no stream id from the server'
    h = c.expect(q(NS_COMPONENT, 'handshake'))
    assert not (h.text or '').strip() and len(h) == 0, show(h)
    return c


def alice(server, resource='desk'):
    s = connect_tls(server.c2s)
    s.authenticate('alice')
    s.bind(resource)
    return s


def test_handshake(mserver):
    c = connected(mserver)
    assert c.root.get('from') == COMPONENT


def test_client_to_component(mserver):
    c = connected(mserver)
    a = alice(mserver)
    a.message('foo@comp.localhost', 'to the gateway')
    m = c.wait_message(NS_COMPONENT)
    assert m.get('from') == 'alice@localhost/desk', show(m)
    assert m.get('to') == 'foo@comp.localhost'
    assert m.findtext(q(NS_COMPONENT, 'body')) == 'to the gateway'


def test_component_to_client(mserver):
    c = connected(mserver)
    a = alice(mserver, 'laptop')
    c.send("<message from='foo@comp.localhost' to='alice@localhost/laptop' "
           "type='chat'><body>from the gateway</body></message>")
    m = a.wait_message()
    assert m.get('from') == 'foo@comp.localhost', show(m)
    assert m.findtext(q(NS_CLIENT, 'body')) == 'from the gateway'


def test_wrong_secret(mserver):
    c = component(mserver, secret='wrong')
    c.assert_stream_error('not-authorized')


def test_unknown_component_domain(mserver):
    c = component(mserver, domain='nosuch.localhost')
    c.assert_stream_error('host-unknown')


def test_component_spoofing_a_foreign_from(mserver):
    c = connected(mserver)
    a = alice(mserver, 'victim')
    c.send("<message from='bob@localhost/x' to='alice@localhost/victim' "
           "type='chat'><body>spoofed</body></message>")
    try:
        cond = c.stream_error()
    except TimeoutError:
        cond = None  # not a stream error: then it must have bounced
    if cond is not None:
        assert cond == 'invalid-from'
        assert c.wait_closed()
    else:
        err = c.wait_message(NS_COMPONENT)
        assert err.get('type') == 'error', show(err)
    a.alive()
    try:
        m = a.wait_message(timeout=0.5)
    except TimeoutError:
        return
    assert m.get('from') != 'bob@localhost/x', show(m)


def ctl_connections(srv):
    """Open connections, from ternd's control socket ("ok ...
    connections=N ...")."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(srv.dir / 'ternd.sock'))
        s.sendall(b'status\n')
        data = b''
        while not data.endswith(b'\n'):
            chunk = s.recv(512)
            if not chunk:
                break
            data += chunk
    fields = dict(kv.split('=', 1) for kv in data.decode().split()[1:])
    return int(fields['connections'])


def quiet(srv):
    """Wait until ternd holds no connection (the fixture's start-up
    probes are gone), so that per-address counts start from zero."""
    for _ in range(200):
        if ctl_connections(srv) == 0:
            return
        time.sleep(0.02)
    raise AssertionError('connections stay open')


def test_conns_per_ip(make_server):
    """limits.conns_per_ip holds on the component port as on c2s: one
    connection too many gets policy-violation (RFC 6120 §4.9.3.14)
    before any handshake, and every connection counts, whatever its
    port."""
    srv = make_server(limits={'conns_per_ip': 2})
    quiet(srv)
    c = connected(srv)
    a = connect_tls(srv.c2s)
    extra = RawStream(srv.component_port)
    extra.send(extra.header(to=COMPONENT, ns=NS_COMPONENT))
    extra.assert_stream_error('policy-violation')
    # the component that is in still works
    c.send("<iq type='get' id='p1' from='%s' to='localhost'><ping "
           "xmlns='urn:xmpp:ping'/></iq>" % COMPONENT)
    r = c.wait_for(lambda e: e.get('id') == 'p1')
    assert r.get('type') == 'result', show(r)
    a.close()


def test_failed_handshakes_are_throttled_per_ip(make_server):
    """XEP-0114 §3 handshake failures count as failed logins for the
    address (limits.sasl_failures_per_ip, as SASL failures on c2s):
    past the limit even the right secret is refused with
    policy-violation (RFC 6120 §4.9.3.14), and a client's SASL from
    that address gets temporary-auth-failure (RFC 6120 §6.5.11)."""
    srv = make_server(limits={'sasl_failures_per_ip': 3})
    for _ in range(3):
        component(srv, secret='wrong').assert_stream_error('not-authorized')
    component(srv).assert_stream_error('policy-violation')
    s = connect_tls(srv.c2s)
    el = s.scram('SCRAM-SHA-256', 'alice', password('alice'))
    assert sasl_failure(el) == 'temporary-auth-failure', show(el)
    assert 'handshake refused' in srv.log


def test_sasl_failures_throttle_component_handshakes(make_server):
    """The count is per address, not per port: SASL failures on c2s
    (RFC 6120 §6.5) leave a component from that address no attempt."""
    srv = make_server(limits={'sasl_failures_per_ip': 2,
                              'sasl_retries': 2})
    s = connect_tls(srv.c2s)
    for _ in range(2):
        el = s.scram('SCRAM-SHA-256', 'alice', 'wrong')
        assert sasl_failure(el) == 'not-authorized', show(el)
    component(srv).assert_stream_error('policy-violation')

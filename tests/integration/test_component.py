"""External components (XEP-0114)."""
import hashlib

from ternlib import (COMPONENT, COMPONENT_SECRET, NS_CLIENT, NS_COMPONENT,
                     RawStream, connect_tls, q, show)


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

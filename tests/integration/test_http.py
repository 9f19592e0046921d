"""The HTTP/1.1 server (issue 15) on the http and https listeners: keep-
alive, pipelining, limits and their status codes, timeouts, host-meta
(XEP-0156) and /metrics, with raw sockets."""
import email.utils
import re
import time

from httputil import Reader, connect, fetch, http_server, request
from ternlib import connect_tls, free_ports
from test_component import connected as component_connected
from test_s2s import login, pair, pki

assert pki  # the fixture, for the federation metrics test

HOST_META = ('    host_meta: { websocket_url: "wss://localhost:5281/ws", '
             'bosh_url: "https://localhost:5281/http-bind" }\n')


def hm_server(make_server, top=''):
    return http_server(make_server, host_extra=HOST_META, top=top,
                       modules_extra=('host_meta',))


def test_host_meta(make_server):
    """XEP-0156 §3: /.well-known/host-meta (XRD) and host-meta.json list
    the configured WebSocket and BOSH endpoints, with
    Access-Control-Allow-Origin: * for web clients on other origins; the
    same over https."""
    srv = hm_server(make_server)
    r = fetch(srv.http, 'GET', '/.well-known/host-meta',
              host='localhost:%d' % srv.http)
    assert r.status == 200, r
    assert r.header('content-type').startswith('application/xrd+xml'), r
    assert r.header('access-control-allow-origin') == '*', r
    assert b"rel='urn:xmpp:alt-connections:websocket' " \
        b"href='wss://localhost:5281/ws'" in r.body, r.body
    assert b"rel='urn:xmpp:alt-connections:xbosh' " \
        b"href='https://localhost:5281/http-bind'" in r.body, r.body
    j = fetch(srv.https, 'GET', '/.well-known/host-meta.json', tls=True)
    assert j.status == 200, j
    assert j.header('access-control-allow-origin') == '*', j
    import json
    links = {ln['rel']: ln['href'] for ln in json.loads(j.body)['links']}
    assert links == {
        'urn:xmpp:alt-connections:websocket': 'wss://localhost:5281/ws',
        'urn:xmpp:alt-connections:xbosh':
            'https://localhost:5281/http-bind'}, links
    # another Host has no host-meta here
    assert fetch(srv.http, 'GET', '/.well-known/host-meta',
                 host='other.example').status == 404
    r = fetch(srv.http, 'DELETE', '/.well-known/host-meta')
    assert r.status == 405 and 'GET' in r.header('allow'), r


def test_keepalive_pipelining_head_and_headers(make_server):
    """RFC 9112 §9.3 (persistent connections), §9.3.2 (pipelining: answers
    in request order), RFC 9110 §9.3.2 (HEAD: the GET's headers, no body),
    §6.6.1 (Date) and §8.6 (Content-Length); an unknown path is a 404
    that keeps the connection."""
    srv = hm_server(make_server)
    c = connect(srv.http)
    c.sendall(request('GET', '/.well-known/host-meta') +
              request('HEAD', '/.well-known/host-meta.json') +
              request('GET', '/nope') +
              request('GET', '/.well-known/host-meta.json'))
    rd = Reader(c)
    a = rd.response()
    b = rd.response(head=True)
    n = rd.response()
    d = rd.response()
    assert a.status == 200 and b'<XRD' in a.body, a
    assert b.status == 200 and b.body == b'', b
    assert int(b.header('content-length')) == len(d.body), (b, d)
    assert n.status == 404, n
    assert d.status == 200 and d.body.startswith(b'{"links"'), d
    for r in (a, b, n, d):
        assert r.header('connection') is None, r
        when = email.utils.parsedate_to_datetime(r.header('date'))
        assert abs(when.timestamp() - time.time()) < 60, r
        assert re.match(r'^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$',
                        r.header('date')), r
    # still open: one more request on the same connection, closing it
    c.sendall(request('GET', '/.well-known/host-meta',
                      headers=[('Connection', 'close')]))
    r = rd.response()
    assert r.status == 200 and r.header('connection') == 'close', r
    assert rd.wait_closed()


def test_http10_closes(make_server):
    """RFC 9112 §9.3: an HTTP/1.0 request without keep-alive ends the
    connection after the answer."""
    srv = hm_server(make_server)
    c = connect(srv.http)
    c.sendall(b'GET /.well-known/host-meta HTTP/1.0\r\n'
              b'Host: localhost\r\n\r\n')
    c.settimeout(5)
    data = b''
    while True:
        d = c.recv(4096)
        if not d:
            break
        data += d
    assert data.startswith(b'HTTP/1.1 200 OK\r\n'), data
    assert b'\r\nConnection: close\r\n' in data, data


def status_and_closed(port, data, tls=False):
    c = connect(port, tls)
    c.sendall(data)
    rd = Reader(c)
    r = rd.response()
    closed = rd.wait_closed()
    c.close()
    return r, closed


def test_limits(make_server):
    """RFC 6585 §5 (431 for too many or too large header fields), RFC
    9110 §15.5.15 (414 for a long target), §15.5.12 (411 for a body
    without length), RFC 9112 §3.2 (400 for HTTP/1.1 without Host), and
    malformed requests: each answered, then the connection closed."""
    srv = hm_server(make_server,
                    top='http: { max_header_size: 2k, max_headers: 20, '
                        'max_request_line: 256 }\n')
    big = [('X-Big', 'a' * 3000)]
    r, closed = status_and_closed(srv.http, request('GET', '/', headers=big))
    assert r.status == 431 and closed, r
    many = [('X-H%d' % i, 'v') for i in range(25)]
    r, closed = status_and_closed(srv.http, request('GET', '/',
                                                    headers=many))
    assert r.status == 431 and closed, r
    r, closed = status_and_closed(srv.http, request('GET', '/' + 'a' * 300))
    assert r.status == 414 and closed, r
    r, closed = status_and_closed(
        srv.http, b'PUT /x HTTP/1.1\r\nHost: localhost\r\n\r\n')
    assert r.status == 411 and closed, r
    r, closed = status_and_closed(srv.http, b'GET / HTTP/1.1\r\n\r\n')
    assert r.status == 400 and closed, r
    r, closed = status_and_closed(srv.http, b'GET / HTTP/1.1\r\n'
                                  b'Host: localhost\r\nBad Header\r\n\r\n')
    assert r.status == 400 and closed, r
    r, closed = status_and_closed(srv.http, b'\x16\x03\x01garbage\r\n\r\n')
    assert r.status in (400, 501) and closed, r
    # over TLS the same
    r, closed = status_and_closed(srv.https, request('GET', '/', headers=big),
                                  tls=True)
    assert r.status == 431 and closed, r
    # the server is fine afterwards
    assert fetch(srv.http, 'GET', '/.well-known/host-meta').status == 200


def test_slowloris_and_idle(make_server):
    """A client that sends its headers too slowly gets 408 and a close
    after header_timeout, however steadily it trickles (RFC 9110
    §15.5.9); a kept-alive connection with no request is closed after
    idle_timeout."""
    srv = hm_server(make_server,
                    top='http: { header_timeout: 1s, idle_timeout: 1s }\n')
    c = connect(srv.http)
    c.sendall(b'GET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\n')
    start = time.monotonic()
    got = b''
    c.settimeout(0.2)
    while time.monotonic() - start < 5:
        try:
            c.sendall(b'X-Slow: 1\r\n')
        except OSError:
            break
        try:
            d = c.recv(4096)
            if not d:
                break
            got += d
        except TimeoutError:
            pass
        except OSError:
            break
    assert got.startswith(b'HTTP/1.1 408 '), got
    assert time.monotonic() - start < 5
    c.close()

    c = connect(srv.http)
    c.sendall(request('GET', '/.well-known/host-meta'))
    rd = Reader(c)
    assert rd.response().status == 200
    assert rd.wait_closed(timeout=5)
    assert rd.buf == b''


def test_metrics_only_where_enabled(make_server):
    """/metrics (OpenMetrics text) is served on the listener marked
    metrics: true, and does not exist on the others; it counts client
    authentications and connections."""
    srv = hm_server(make_server)
    s = connect_tls(srv.c2s, 'alice', 'pc')
    r = fetch(srv.https, 'GET', '/metrics', tls=True)
    assert r.status == 404, r
    r = fetch(srv.http, 'GET', '/metrics')
    assert r.status == 200, r
    assert r.header('content-type').startswith(
        'application/openmetrics-text'), r
    text = r.body.decode()
    assert text.endswith('# EOF\n'), text
    assert 'tern_auth_total{result="success"} 1\n' in text, text
    assert 'tern_connections{kind="c2s"} 1\n' in text, text
    assert re.search(r'^tern_memory_resident_bytes \d+$', text, re.M), text
    assert re.search(r'^tern_storage_commits_total \d+$', text, re.M), text
    s.close()


def samples(text):
    """name{labels} -> value of every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith('#'):
            key, value = line.rsplit(' ', 1)
            out[key] = float(value)
    return out


def test_metrics_kinds_queues_and_commit_histogram(make_server):
    """/metrics counts connections of every kind (a component here),
    client stanzas in and out by kind, the send queues, and storage
    commit times as an OpenMetrics histogram whose buckets only grow
    and end at its count."""
    srv = hm_server(make_server)
    comp = component_connected(srv)
    s = connect_tls(srv.c2s, 'alice', 'pc')
    s.message('alice@localhost/pc', 'to myself')
    s.wait_message()
    s.alive()
    text = fetch(srv.http, 'GET', '/metrics').body.decode()
    v = samples(text)
    assert v['tern_connections{kind="component"}'] == 1, text
    assert v['tern_connections{kind="c2s"}'] == 1, text
    assert v['tern_connections{kind="s2s_in"}'] == 0, text
    assert v['tern_stanzas_in_total{kind="message"}'] == 1, text
    assert v['tern_stanzas_out_total{kind="message"}'] == 1, text
    assert v['tern_stanzas_in_total{kind="iq"}'] >= 1, text
    assert v['tern_send_queue_bytes'] >= 0, text
    assert v['tern_s2s_waiting_stanzas'] == 0, text
    assert '# TYPE tern_storage_commit_seconds histogram\n' in text, text
    buckets = [(k, n) for k, n in v.items()
               if k.startswith('tern_storage_commit_seconds_bucket')]
    assert buckets[-1][0].endswith('{le="+Inf"}'), buckets
    counts = [n for _, n in buckets]
    assert counts == sorted(counts), buckets
    assert counts[-1] == v['tern_storage_commit_seconds_count'] >= 1, text
    assert v['tern_storage_commit_seconds_sum'] >= 0, text
    s.close()
    comp.close()


def test_metrics_federation(make_server, pki):
    """Stanzas to and from other servers are counted by kind, and the
    server streams by direction."""
    a, b = pair(make_server, pki, start=False)
    port = free_ports(1)[0]
    text = a.config.read_text()
    at = text.index('listeners:\n') + len('listeners:\n')
    a.write_config(text[:at] + '  - { type: http, address: 127.0.0.1, '
                   'port: %d, metrics: true }\n' % port + text[at:])
    a.start()
    b.start()
    alice, bob = login(a, 'alice'), login(b, 'bob')
    alice.message('bob@b.test', 'hello from a')
    bob.wait_message(timeout=15)
    bob.message('alice@a.test/r', 'hello from b')
    alice.wait_message(timeout=15)
    v = samples(fetch(port, 'GET', '/metrics').body.decode())
    assert v['tern_s2s_stanzas_out_total{kind="message"}'] == 1, v
    assert v['tern_s2s_stanzas_in_total{kind="message"}'] == 1, v
    assert v['tern_connections{kind="s2s_out"}'] == 1, v
    assert v['tern_s2s_waiting_stanzas'] == 0, v


def test_conns_per_ip(make_server):
    """limits.conns_per_ip holds on the HTTP ports as on c2s: one
    connection too many is answered 503 (RFC 9110 §15.6.4) and closed;
    the ones before it still work."""
    srv = http_server(make_server, limits={'conns_per_ip': 2},
                      host_extra=HOST_META, modules_extra=('host_meta',))
    held = []
    refused = None
    deadline = time.monotonic() + 10
    while len(held) < 5:
        c = connect(srv.http)
        c.sendall(request('GET', '/.well-known/host-meta'))
        r = Reader(c).response()
        if r.status == 503 and not held and time.monotonic() < deadline:
            # the start-up probe's connections may still count for a
            # moment (seen on a loaded sanitizer run): try again
            c.close()
            time.sleep(0.2)
            continue
        if r.status == 503:
            refused = c
            break
        assert r.status == 200, r
        held.append(c)
    assert refused is not None and len(held) <= 2, held
    assert Reader(refused).wait_closed()
    held[-1].sendall(request('GET', '/.well-known/host-meta'))
    assert Reader(held[-1]).response().status == 200
    for c in held + [refused]:
        c.close()


def test_upgrade_without_switch_closes(make_server):
    """RFC 9110 §7.8: a server may ignore Upgrade; the request is answered
    as HTTP and, since the bytes after it may be another protocol, the
    connection closes."""
    srv = hm_server(make_server)
    r, closed = status_and_closed(srv.http, request(
        'GET', '/.well-known/host-meta', headers=[
            ('Upgrade', 'websocket'), ('Connection', 'Upgrade')]) +
        b'\x81\x05hello')
    assert r.status == 200 and closed, r
    assert r.header('connection') == 'close', r


def test_alpn_http_on_the_direct_tls_xmpp_port(server):
    """One port for XMPP and HTTPS (RFC 7301 ALPN on the c2s_tls port):
    a client choosing http/1.1 gets the HTTP server (here a 404 for a
    path nothing serves, then keep-alive), one choosing xmpp-client or
    nothing gets XMPP; a STARTTLS stream never switches."""
    import socket
    import ssl
    from ternlib import RawStream, client_tls_context, NS_STREAM, q
    ctx = client_tls_context(alpn=['http/1.1'])
    with socket.create_connection(('127.0.0.1', server.c2s_tls), 5) as raw:
        with ctx.wrap_socket(raw, server_hostname='localhost') as s:
            assert s.selected_alpn_protocol() == 'http/1.1'
            s.sendall(b'GET /nothing-here HTTP/1.1\r\nHost: localhost\r\n\r\n')
            data = s.recv(4096)
            assert data.startswith(b'HTTP/1.1 404'), data
            s.sendall(b'GET /still HTTP/1.1\r\nHost: localhost\r\n\r\n')
            assert s.recv(4096).startswith(b'HTTP/1.1 404')
    for alpn in (('xmpp-client', 'http/1.1'), None):
        x = RawStream.direct_tls(server.c2s_tls, alpn=alpn)
        if alpn:
            assert x.sock.selected_alpn_protocol() == 'xmpp-client'
        f = x.open()
        assert f.tag == q(NS_STREAM, 'features')
    x = RawStream(server.c2s)
    x.open()
    x.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    x.expect('{urn:ietf:params:xml:ns:xmpp-tls}proceed')
    x.wrap_tls(alpn=['http/1.1'])
    assert x.sock.selected_alpn_protocol() is None
    assert x.open().tag == q(NS_STREAM, 'features')

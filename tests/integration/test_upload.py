"""XEP-0363 HTTP File Upload on upload.localhost (issue 15): slot requests
over XMPP, PUT and GET over the HTTP listeners, driven with raw sockets."""
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit, quote

import pytest

from httputil import Reader, connect, fetch, http_server, request
from ternlib import connect_tls, q, show, stanza_error

NS_UPLOAD = 'urn:xmpp:http:upload:0'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_DATA = 'jabber:x:data'
UPLOAD = 'upload.localhost'


def upload_server(make_server, settings='', top='', **kw):
    """A ternd with upload on UPLOAD; settings: more keys of the host's
    upload: map; top: more top-level config lines."""
    srv = http_server(make_server, start=False, **kw)
    host_extra = ('    services: [{ module: upload, domain: %s }]\n'
                  '    upload: { url: "http://localhost:%d/upload", '
                  'dir: files%s }\n' % (UPLOAD, srv.http, settings))
    text = srv.config.read_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    srv.write_config(text[:at] + host_extra + text[at:] + top)
    return srv.start()


def slot(s, filename='photo.jpg', size=5, ctype='image/jpeg'):
    attrs = "filename='%s' size='%d'" % (filename, size)
    if ctype:
        attrs += " content-type='%s'" % ctype
    return s.iq('get', "<request xmlns='%s' %s/>" % (NS_UPLOAD, attrs),
                to=UPLOAD)


def urls(r):
    assert r.get('type') == 'result', show(r)
    sl = r.find(q(NS_UPLOAD, 'slot'))
    put = sl.find(q(NS_UPLOAD, 'put')).get('url')
    get = sl.find(q(NS_UPLOAD, 'get')).get('url')
    return put, get


def target(url):
    u = urlsplit(url)
    return u.path + ('?' + u.query if u.query else '')


def put(srv, url, body, ctype='image/jpeg', extra=()):
    headers = list(extra)
    if ctype:
        headers.append(('Content-Type', ctype))
    return fetch(srv.http, 'PUT', target(url), headers=headers, body=body)


def test_round_trip_with_cors(make_server):
    """XEP-0363 §4-§5: a slot, the CORS preflight a browser sends before
    the PUT (Fetch standard), the PUT (201), and a GET with the right
    Content-Type, Content-Length, ETag and CORS header; disco announces
    the limit in an XEP-0128 form (XEP-0363 §3)."""
    srv = upload_server(make_server, settings=', max_file_size: 1M')
    s = connect_tls(srv.c2s, 'alice', 'pc')
    info = s.iq('get', "<query xmlns='%s'/>" % NS_INFO, to=UPLOAD)
    assert info.find('.//{%s}feature[@var="%s"]' % (NS_INFO, NS_UPLOAD)) \
        is not None, show(info)
    fields = {f.get('var'): f.findtext(q(NS_DATA, 'value'))
              for f in info.iter(q(NS_DATA, 'field'))}
    assert fields == {'FORM_TYPE': NS_UPLOAD,
                      'max-file-size': str(1024 * 1024)}, show(info)

    data = bytes(range(256)) * 40
    put_url, get_url = urls(slot(s, 'très cool.jpg', len(data)))
    assert put_url.startswith('http://localhost:%d/upload/%s/'
                              % (srv.http, UPLOAD)), put_url
    assert get_url.endswith('/' + quote('très cool.jpg', safe='')), get_url

    pre = fetch(srv.http, 'OPTIONS', target(put_url), headers=[
        ('Origin', 'https://web.example'),
        ('Access-Control-Request-Method', 'PUT'),
        ('Access-Control-Request-Headers', 'content-type')])
    assert pre.status in (200, 204), pre
    assert pre.header('access-control-allow-origin') == '*', pre
    assert 'PUT' in pre.header('access-control-allow-methods'), pre
    assert 'content-type' in \
        pre.header('access-control-allow-headers').lower(), pre

    r = put(srv, put_url, data, extra=[('Origin', 'https://web.example')])
    assert r.status == 201, r
    assert r.header('access-control-allow-origin') == '*', r

    g = fetch(srv.http, 'GET', target(get_url))
    assert g.status == 200 and g.body == data, g
    assert g.header('content-type') == 'image/jpeg', g
    assert g.header('content-length') == str(len(data)), g
    assert g.header('access-control-allow-origin') == '*', g
    assert g.header('content-disposition') is None, g  # an image
    etag = g.header('etag')
    assert etag, g
    # the same file over TLS, then a revalidation (RFC 9110 §13.1.2)
    g2 = fetch(srv.https, 'GET', target(get_url), tls=True)
    assert g2.status == 200 and g2.body == data, g2
    nm = fetch(srv.http, 'GET', target(get_url),
               headers=[('If-None-Match', etag)])
    assert nm.status == 304 and nm.body == b'', nm
    h = fetch(srv.http, 'HEAD', target(get_url))
    assert h.status == 200 and h.header('content-length') == str(len(data))
    # the slot cannot be written twice
    assert put(srv, put_url, data).status == 409


def test_non_image_is_attachment_and_range(make_server):
    """RFC 9110 §14 (Range, 206, 416) and RFC 6266 (Content-Disposition:
    attachment for what a browser must not render inline)."""
    srv = upload_server(make_server)
    s = connect_tls(srv.c2s, 'alice', 'pc')
    data = b'0123456789' * 1000
    put_url, get_url = urls(slot(s, 'a.html', len(data), 'text/html'))
    assert put(srv, put_url, data, 'text/html').status == 201
    g = fetch(srv.http, 'GET', target(get_url), headers=[('Range',
                                                          'bytes=10-19')])
    assert g.status == 206 and g.body == data[10:20], g
    assert g.header('content-range') == 'bytes 10-19/%d' % len(data), g
    assert g.header('content-disposition').startswith('attachment'), g
    assert g.header('x-content-type-options') == 'nosniff', g
    g = fetch(srv.http, 'GET', target(get_url), headers=[('Range',
                                                          'bytes=-5')])
    assert g.status == 206 and g.body == data[-5:], g
    g = fetch(srv.http, 'GET', target(get_url), headers=[('Range',
                                                          'bytes=99999-')])
    assert g.status == 416, g
    assert g.header('content-range') == 'bytes */%d' % len(data), g


def test_big_file_streams(make_server):
    """A file larger than the server's send queue (256 KiB) and read
    chunk (64 KiB) arrives whole, over TLS too, with a pipelined request
    answered after it (RFC 9112 §9.3.2)."""
    srv = upload_server(make_server)
    s = connect_tls(srv.c2s, 'alice', 'pc')
    data = bytes((i * 7) & 0xff for i in range(3 * 1024 * 1024 + 17))
    put_url, get_url = urls(slot(s, 'big.bin', len(data), None))
    assert put(srv, put_url, data, None).status == 201
    for tls, port in ((False, srv.http), (True, srv.https)):
        c = connect(port, tls)
        c.sendall(request('GET', target(get_url)) +
                  request('GET', '/.well-known/nothing'))
        rd = Reader(c)
        g = rd.response()
        assert g.status == 200 and g.body == data, (g.status, len(g.body))
        assert g.header('content-type') == 'application/octet-stream'
        assert rd.response().status == 404
        c.close()


def test_size_and_quota_errors(make_server):
    """XEP-0363 §4: a file over the limit gets not-acceptable with
    <file-too-large/> and the limit; a user over the quota gets
    resource-constraint; a PUT larger than the limit gets 413 at once."""
    srv = upload_server(make_server,
                        settings=', max_file_size: 1000, quota: 1500')
    s = connect_tls(srv.c2s, 'alice', 'pc')
    r = slot(s, size=1001)
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'not-acceptable'
    assert r.findtext('.//{%s}max-file-size' % NS_UPLOAD) == '1000', show(r)
    r = slot(s, size=-1)
    assert stanza_error(r) == 'bad-request', show(r)

    put_url, _ = urls(slot(s, size=1000))
    assert put(srv, put_url, b'x' * 1000).status == 201
    r = slot(s, size=600)
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'resource-constraint', show(r)
    # another user has a quota of their own
    b = connect_tls(srv.c2s, 'bob', 'pc')
    urls(slot(b, size=600))
    # a body larger than the service takes
    big = fetch(srv.http, 'PUT', target(put_url).replace('n=1000', 'n=2000'),
                body=b'y' * 2000)
    assert big.status == 413, big


def test_bad_signature_and_expired_slot(make_server):
    """The PUT URL is signed (HMAC) over slot, name, size, type, expiry
    and user: any change, another content type, a body of another size,
    or a URL used after slot_lifetime is refused."""
    srv = upload_server(make_server, settings=', slot_lifetime: 1s')
    s = connect_tls(srv.c2s, 'alice', 'pc')
    put_url, get_url = urls(slot(s, 'f.txt', 4, 'text/plain'))
    t = target(put_url)
    sig = t[t.index('&s=') + 3:]
    forged = t[:t.index('&s=') + 3] + ('A' if sig[0] != 'A' else 'B') + sig[1:]
    assert fetch(srv.http, 'PUT', forged, body=b'abcd',
                 headers=[('Content-Type', 'text/plain')]).status == 403
    other_user = t.replace('u=alice', 'u=bob')
    assert fetch(srv.http, 'PUT', other_user, body=b'abcd',
                 headers=[('Content-Type', 'text/plain')]).status == 403
    assert put(srv, put_url, b'abcd', 'image/png').status == 403
    assert put(srv, put_url, b'abcde', 'text/plain').status == 400
    # nothing was stored by the refused attempts
    assert fetch(srv.http, 'GET', target(get_url)).status == 404
    time.sleep(2.2)
    assert put(srv, put_url, b'abcd', 'text/plain').status == 403
    assert fetch(srv.http, 'GET', target(get_url)).status == 404


def test_traversal_refused(make_server):
    """Paths that climb out of the upload directory (.., %2e%2e, %2f,
    backslashes, NUL) are refused before any file is opened, and a slot
    whose MAC does not match is unknown (404)."""
    srv = upload_server(make_server)
    secret = srv.dir / 'secret.txt'
    secret.write_text('top secret')
    s = connect_tls(srv.c2s, 'alice', 'pc')
    put_url, get_url = urls(slot(s, 'a.txt', 3, 'text/plain'))
    assert put(srv, put_url, b'abc', 'text/plain').status == 201
    base = '/upload/%s/' % UPLOAD
    slot_id = target(get_url).split('/')[3]
    attempts = [
        base + '../../secret.txt',
        base + '%2e%2e/%2e%2e/secret.txt',
        base + '..%2f..%2fsecret.txt',
        base + slot_id + '/../../../secret.txt',
        base + slot_id + '/..%2f..%2f..%2fsecret.txt',
        base + slot_id + '/%2e%2e%5c%2e%2e%5csecret.txt',
        base + slot_id + '/a.txt%00',
        base + 'x' * 36 + '/a.txt',
        base + slot_id[:-1] + 'A/a.txt',
        '/upload/../secret.txt',
        base + slot_id + '/meta',
        base + slot_id + '/data',
    ]
    for path in attempts:
        r = fetch(srv.http, 'GET', path)
        assert r.status in (400, 404), (path, r)
        assert b'top secret' not in r.body
    r = fetch(srv.http, 'GET', target(get_url))
    assert r.status == 200 and r.body == b'abc', r


@pytest.mark.parametrize('where', ['own', 'policy'])
def test_expiry_and_account_deletion(make_server, where):
    """Files go after `expire` (a timer on the loop) and with the account
    (user/deleted). The age is the service's own `expire`, or by
    default the server's one policy, retention.uploads."""
    if where == 'own':
        srv = upload_server(make_server, settings=', expire: 2s',
                            top='retention: { uploads: 30d }\n')
    else:
        srv = upload_server(make_server, top='retention: { uploads: 2s }\n')
    s = connect_tls(srv.c2s, 'alice', 'pc')
    put_url, get_url = urls(slot(s, 'old.txt', 2, 'text/plain'))
    assert put(srv, put_url, b'hi', 'text/plain').status == 201
    assert fetch(srv.http, 'GET', target(get_url)).status == 200
    files = srv.dir / 'files' / UPLOAD
    deadline = time.monotonic() + 10
    while any(files.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(files.iterdir()), list(files.iterdir())
    assert fetch(srv.http, 'GET', target(get_url)).status == 404
    s.close()

    srv2 = upload_server(make_server)
    b = connect_tls(srv2.c2s, 'bob', 'pc')
    put_url, get_url = urls(slot(b, 'mine.txt', 2, 'text/plain'))
    assert put(srv2, put_url, b'hi', 'text/plain').status == 201
    b.close()
    srv2.ternctl_ok('deluser', 'bob@localhost')
    assert fetch(srv2.http, 'GET', target(get_url)).status == 404
    assert not any((srv2.dir / 'files' / UPLOAD).iterdir())


def test_chunked_put_and_bad_chunking(make_server):
    """RFC 9112 §7.1: a chunked PUT body is taken as it comes; a bad
    chunk size is answered 400 and the connection closed."""
    srv = upload_server(make_server)
    s = connect_tls(srv.c2s, 'alice', 'pc')
    put_url, get_url = urls(slot(s, 'c.txt', 10, 'text/plain'))
    c = connect(srv.http)
    c.sendall(('PUT %s HTTP/1.1\r\nHost: localhost\r\n'
               'Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n'
               '\r\n4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n'
               % target(put_url)).encode())
    assert Reader(c).response().status == 201
    c.close()
    assert fetch(srv.http, 'GET', target(get_url)).body == b'abcdefghij'

    put_url, get_url = urls(slot(s, 'd.txt', 10, 'text/plain'))
    c = connect(srv.http)
    c.sendall(('PUT %s HTTP/1.1\r\nHost: localhost\r\n'
               'Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n'
               '\r\n4\r\nabcd\r\nzz\r\nefghij\r\n0\r\n\r\n'
               % target(put_url)).encode())
    rd = Reader(c)
    assert rd.response().status == 400
    assert rd.wait_closed()
    assert fetch(srv.http, 'GET', target(get_url)).status == 404
    assert not any(p.name == 'data.part'
                   for p in (srv.dir / 'files').rglob('*'))


def test_reload_keeps_urls_and_offline_deletion(make_server):
    """A reload (SIGHUP) re-registers the service: URLs given before it
    still work (the secret is kept in the store); ternctl deluser with
    ternd stopped deletes the files too."""
    srv = upload_server(make_server)
    s = connect_tls(srv.c2s, 'alice', 'pc')
    put_url, get_url = urls(slot(s, 'r.txt', 2, 'text/plain'))
    mark = len(srv.log)
    srv.signal(signal.SIGHUP)
    assert srv.wait_log('reloaded', start=mark)
    assert put(srv, put_url, b'ok', 'text/plain').status == 201
    assert fetch(srv.http, 'GET', target(get_url)).body == b'ok'
    s.close()
    assert srv.stop() == []
    srv.ternctl_ok('deluser', 'alice@localhost')
    assert not any((srv.dir / 'files' / UPLOAD).iterdir())


def test_expect_100_continue(make_server):
    """RFC 9110 §10.1.1: a client that asks Expect: 100-continue (curl
    does for bodies over 1 KiB) gets 100 Continue once the server takes
    the body, and no 100 when the PUT is refused at once."""
    srv = upload_server(make_server)
    s = connect_tls(srv.c2s, 'alice', 'pc')
    data = b'z' * 5000
    put_url, get_url = urls(slot(s, 'e.bin', len(data), None))
    c = connect(srv.http)
    head = request('PUT', target(put_url), headers=[
        ('Expect', '100-continue')], body=data)[:-len(data)]
    c.sendall(head)
    got = c.recv(100)
    assert got == b'HTTP/1.1 100 Continue\r\n\r\n', got
    c.sendall(data)
    assert Reader(c).response().status == 201
    c.close()
    assert fetch(srv.http, 'GET', target(get_url)).body == data
    c = connect(srv.http)
    c.sendall(head)  # the slot is used: 409 at once, without 100
    got = c.recv(12)
    assert got == b'HTTP/1.1 409', got
    c.close()


def test_content_types_refused_and_allowed(make_server):
    """upload.content_types: a slot for a type not listed is refused
    (XEP-0363 §4 leaves the condition to the service: not-acceptable,
    as Prosody answers), a listed one and one under a listed kind
    (image/*) are given; types compare without case."""
    srv = upload_server(make_server,
                        settings=', content_types: ["image/*", "text/plain"]')
    s = connect_tls(srv.c2s, 'alice', 'pc')
    r = slot(s, 'a.exe', ctype='application/x-msdownload')
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'not-acceptable', show(r)
    urls(slot(s, 'b.png', ctype='image/png'))
    urls(slot(s, 'c.txt', ctype='Text/Plain'))
    # a PUT must carry the type its slot was given for (the type is
    # signed into the URL: another one is a forged URL, 403)
    put_url, _ = urls(slot(s, 'd.jpg', ctype='image/jpeg'))
    assert put(srv, put_url, b'12345', ctype='text/html').status == 403
    assert put(srv, put_url, b'12345').status == 201
    # a request that names no type is application/octet-stream, which
    # is not listed
    r = slot(s, 'e.bin', ctype=None)
    assert stanza_error(r) == 'not-acceptable', show(r)


def test_stalled_body_times_out_and_keeps_nothing(make_server):
    """A PUT whose body stops coming gets 408 Request Timeout (RFC 9110
    §15.5.9) after http.idle_timeout and the connection closes; the part
    that came is not kept: the GET is 404 and the slot can be used
    again with the whole file."""
    srv = upload_server(make_server, top='http: { idle_timeout: 1s }\n')
    s = connect_tls(srv.c2s, 'alice', 'pc')
    data = b'q' * 100
    put_url, get_url = urls(slot(s, 'e.bin', len(data), None))
    c = connect(srv.http)
    c.sendall(request('PUT', target(put_url), body=data)[:-90])
    rd = Reader(c)
    r = rd.response()
    assert r.status == 408, r
    assert rd.wait_closed(timeout=5)
    assert fetch(srv.http, 'GET', target(get_url)).status == 404
    assert put(srv, put_url, data, ctype=None).status == 201
    assert fetch(srv.http, 'GET', target(get_url)).body == data

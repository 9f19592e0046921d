"""tls.light_sessions (src/net/tls_rec.c): once a client stream over
TLS 1.3 (STARTTLS, Direct TLS or wss) is bound and idle, ternd frees
OpenSSL's per-connection state and carries the records itself (RFC 8446
§5) with the keys and sequence numbers OpenSSL reached. Stanzas of every
size both ways, KeyUpdate from the client (before and after the
hand-over, with and without a request for ours, §4.6.3), close_notify,
reading paused by the rate limit; TLS 1.2 and the setting turned off
keep OpenSSL's state. The gauge tern_tls_light_connections (/metrics)
says which path a stream is on."""
import re
import ssl
import subprocess
import threading
import time

from httputil import fetch, http_server
from ternlib import (DOMAIN, NS_CLIENT, NS_TLS, SLOW, TIMEOUT, RawStream,
                     password,
                     b64, connect_tls, q, show)


def light_count(srv):
    r = fetch(srv.http, 'GET', '/metrics')
    assert r.status == 200, r
    m = re.search(r'^tern_tls_light_connections (\d+)$', r.body.decode(),
                  re.M)
    assert m, r.body
    return int(m.group(1))


def wait_light(srv, n):
    deadline = time.monotonic() + TIMEOUT
    while True:
        got = light_count(srv)
        if got == n:
            return
        assert time.monotonic() < deadline, \
            'tern_tls_light_connections %d, expected %d' % (got, n)
        time.sleep(0.05)


def exchange(a, b, size):
    body = ''.join(chr(ord('a') + i % 26) for i in range(size))
    a.message(b.jid, body)
    m = b.wait_message()
    assert m.findtext(q(NS_CLIENT, 'body')) == body, 'body of %d' % size


def test_light_session_carries_stanzas(make_server):
    """Both streams go light after binding; stanzas from one byte to
    200 kB (records of every size, several in one read, one split over
    many reads) pass both ways, and 50 pipelined pings are answered."""
    srv = http_server(make_server)
    a = connect_tls(srv.c2s, 'alice', 'pc')
    b = connect_tls(srv.c2s, 'bob', 'pc')
    assert a.tls_version == 'TLSv1.3'
    wait_light(srv, 2)
    a.ping()
    for size in (1, 100, 16000, 16384, 40000, 200000):
        exchange(a, b, size)
        exchange(b, a, size)
    a.send(''.join("<iq type='get' id='p%d' to='%s'><ping xmlns='urn:xmpp:"
                   "ping'/></iq>" % (i, DOMAIN) for i in range(50)))
    for i in range(50):
        el = a.wait_for(lambda e, i=i: e.get('id') == 'p%d' % i)
        assert el.get('type') == 'result', show(el)
    assert light_count(srv) == 2
    a.close()
    b.close()
    wait_light(srv, 0)


def test_close_notify_both_ways(make_server):
    """The client's close_notify ends the stream; ours comes back under
    the right key and sequence number (unwrap() checks it)."""
    srv = http_server(make_server)
    a = connect_tls(srv.c2s, 'alice', 'pc')
    wait_light(srv, 1)
    a.ping()
    a.sock.settimeout(TIMEOUT)
    a.sock.unwrap()
    srv.wait_log('closed peer=127.0.0.1')
    wait_light(srv, 0)


def test_read_paused_by_rate_limit(make_server):
    """Records read ahead while the rate limit pauses the stream are
    decrypted when it reads again, in order."""
    srv = http_server(make_server, limits={'c2s_rate': '40k',
                                           'c2s_burst': '8k'})
    a = connect_tls(srv.c2s, 'alice', 'pc')
    b = connect_tls(srv.c2s, 'bob', 'pc')
    wait_light(srv, 2)
    bodies = ['%d-' % i + 'x' * 9000 for i in range(10)]
    a.send(''.join("<message to='%s' type='chat'><body>%s</body></message>"
                   % (b.jid, t) for t in bodies))
    for t in bodies:
        m = b.wait_message(timeout=10 * SLOW)
        assert m.findtext(q(NS_CLIENT, 'body')) == t
    a.ping()


def test_tls12_keeps_openssl(make_server):
    """A TLS 1.2 stream is not taken over (only TLS 1.3 records are
    carried by ternd) and works as before."""
    srv = http_server(make_server)
    s = RawStream(srv.c2s)
    s.open()
    s.send("<starttls xmlns='%s'/>" % NS_TLS)
    s.expect(q(NS_TLS, 'proceed'))
    s.wrap_tls(max_version=ssl.TLSVersion.TLSv1_2)
    s.open()
    assert s.tls_version == 'TLSv1.2'
    s.authenticate('alice')
    s.bind('pc')
    s.ping()
    time.sleep(0.3)
    assert light_count(srv) == 0
    s.ping()


def test_setting_off_keeps_openssl(make_server):
    """tls.light_sessions: false keeps OpenSSL's state for every
    connection."""
    srv = http_server(make_server, start=False)
    text = srv.config.read_text().replace(
        'c2s_require_tls: true }',
        'c2s_require_tls: true, light_sessions: false }')
    srv.write_config(text)
    srv.start()
    a = connect_tls(srv.c2s, 'alice', 'pc')
    b = connect_tls(srv.c2s, 'bob', 'pc')
    exchange(a, b, 20000)
    time.sleep(0.3)
    assert light_count(srv) == 0
    a.ping()


class SClient:
    """openssl s_client on the Direct TLS port: it sends a KeyUpdate
    when a line of its input is K (ours requested) or k."""

    def __init__(self, port):
        self.p = subprocess.Popen(
            ['openssl', 's_client', '-connect', '127.0.0.1:%d' % port,
             '-servername', DOMAIN, '-alpn', 'xmpp-client', '-tls1_3'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        self.out = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.mark = 0

    def _read(self):
        while True:
            b = self.p.stdout.read1(65536)
            if not b:
                return
            with self.lock:
                self.out += b

    def send(self, text):
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()
        time.sleep(0.2)  # one read of s_client's: a line alone

    def wait(self, pattern, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                m = re.search(pattern.encode(), self.out[self.mark:])
                if m:
                    self.mark += m.end()
                    return m
                tail = bytes(self.out[-2000:])
            assert self.p.poll() is None or m, tail
            assert time.monotonic() < deadline, \
                'no %r in s_client output:\n%s' % (pattern, tail)
            time.sleep(0.05)

    def ping(self, n):
        self.send("<iq type='get' id='k%d' to='%s'><ping xmlns='urn:xmpp:"
                  "ping'/></iq>\n" % (n, DOMAIN))
        self.wait("id=.k%d. [^>]*type=.result.|type=.result. [^>]*id=.k%d."
                  % (n, n))

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def sclient_login(sc, key_update_before=None):
    header = ("<stream:stream to='%s' xmlns='jabber:client' xmlns:stream="
              "'http://etherx.jabber.org/streams' version='1.0'>\n" % DOMAIN)
    sc.wait('Verify return code')
    if key_update_before:
        sc.send(key_update_before + '\n')
    sc.send(header)
    sc.wait('</stream:features>')
    sc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism="
            "'PLAIN'>%s</auth>\n" % b64('\0alice\0' + password('alice')))
    sc.wait('<success')
    sc.send(header)
    sc.wait('</stream:features>')
    sc.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:"
            "xmpp-bind'><resource>ku</resource></bind></iq>\n")
    sc.wait('</bind>')


def test_key_update_after_hand_over(make_server):
    """A light stream follows the client's KeyUpdate (new read keys)
    and, when asked, sends its own and moves its write keys on."""
    srv = http_server(make_server)
    sc = SClient(srv.c2s_tls)
    try:
        sclient_login(sc)
        wait_light(srv, 1)
        sc.ping(1)
        sc.send('k\n')  # update_not_requested
        sc.ping(2)
        sc.send('K\n')  # update_requested: ours follows
        sc.ping(3)
        sc.send('K\n')
        sc.send('k\n')
        sc.ping(4)
        assert light_count(srv) == 1
    finally:
        sc.close()
    wait_light(srv, 0)


def test_key_update_before_hand_over(make_server):
    """KeyUpdates while OpenSSL still holds the connection are followed
    (its message callback), so the hand-over takes the updated keys."""
    srv = http_server(make_server)
    sc = SClient(srv.c2s_tls)
    try:
        sclient_login(sc, key_update_before='K')
        sc.ping(1)
        wait_light(srv, 1)
        sc.ping(2)
    finally:
        sc.close()


def test_websocket_session_goes_light(make_server):
    """A session bound over wss (RFC 7395) is taken over the same way;
    frames of every size pass both ways afterwards."""
    from test_websocket import WS
    srv = http_server(make_server)
    w = WS(srv.https, tls=True)
    jid = w.login('alice')
    bob = connect_tls(srv.c2s, 'bob', 'tcp')
    wait_light(srv, 2)
    for size in (10, 20000, 100000):
        body = 'w' * size
        bob.message(jid, body)
        m = w.element()
        while m.tag != q(NS_CLIENT, 'message'):
            m = w.element()
        assert m.findtext(q(NS_CLIENT, 'body')) == body
        w.send("<message xmlns='jabber:client' to='%s' type='chat'>"
               "<body>%s</body></message>" % (bob.jid, body))
        m = bob.wait_message()
        assert m.findtext(q(NS_CLIENT, 'body')) == body
    assert light_count(srv) == 2

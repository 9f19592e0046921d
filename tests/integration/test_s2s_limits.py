"""Federation's limits and teardown (issue 16 §4): the stanza size and
byte rate of an incoming server-to-server stream, the queue of stanzas
waiting for a remote domain while its stream is set up (overflow and a
failed set-up bounce every stanza exactly once, RFC 6120 §8.3), the idle
timeout of both directions, and a prompt, clean exit on SIGTERM in every
state of an outgoing stream's set-up.

The remote server is played by hand: RawServer (test_s2s.py) connects
to ternd as a.test; Peer accepts ternd's own outgoing streams as b.test
(STARTTLS with b.test's certificate from the test CA, then SASL EXTERNAL
or dialback, or nothing at all, as each test needs)."""
import signal
import socket
import ssl
import time
from collections import deque

import pytest

from ternlib import (NS_SASL, NS_STREAM, NS_TLS, SLOW, TIMEOUT, RawStream,
                     show, stanza_error)
from test_s2s import (A, B, NS_DB, NS_SERVER, RawServer, external, login,
                      pki, s2s_conf)

assert pki  # the fixture, for the tests of this module

NS_CLIENT = 'jabber:client'
NS_DB_FEATURE = 'urn:xmpp:features:dialback'


def q(ns, name):
    return '{%s}%s' % (ns, name)


# ---- b.test's server, by hand ----

class Peer(RawServer):
    """One of ternd's outgoing streams, accepted by the test."""

    @classmethod
    def accepted(cls, sock, timeout=TIMEOUT):
        s = cls.__new__(cls)
        s.timeout = timeout
        s.sock = sock
        s.sock.settimeout(timeout)
        RawStream.opened.append(s)
        s.pending = deque()
        s.eof = False
        s.tls_version = None
        s.received = bytearray()
        s._reset()
        return s

    def their_header(self):
        deadline = time.monotonic() + self.timeout
        while self.root is None:
            self._pump(deadline)
        assert self.root.tag == q(NS_STREAM, 'stream'), self.root.tag
        return self.root

    def our_header(self, features, frm=B, to=A):
        """Our stream header and features (None: none yet)."""
        self.send("<?xml version='1.0'?><stream:stream xmlns='%s' "
                  "xmlns:stream='%s' xmlns:db='%s' from='%s' to='%s' "
                  "id='peer-%d' version='1.0'>%s"
                  % (NS_SERVER, NS_STREAM, NS_DB, frm, to,
                     id(self) % 100000,
                     '' if features is None else
                     '<stream:features>%s</stream:features>' % features))

    def starttls(self, cert, handshake=True):
        """Offer STARTTLS, grant it, and (handshake) do the server side
        of the TLS handshake with cert."""
        self.their_header()
        self.our_header("<starttls xmlns='%s'><required/></starttls>"
                        % NS_TLS)
        self.expect(q(NS_TLS, 'starttls'))
        self.send("<proceed xmlns='%s'/>" % NS_TLS)
        if not handshake:
            return
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert))
        self.sock = ctx.wrap_socket(self.sock, server_side=True)
        self._reset()
        self.their_header()

    def external(self, cert, bidi=False):
        """STARTTLS, then take ternd's SASL EXTERNAL: the stream is
        ready for stanzas when this returns. With bidi, offer XEP-0288
        (our stanzas may then go back on this stream) and see it asked
        for."""
        self.starttls(cert)
        self.our_header("<mechanisms xmlns='%s'><mechanism>EXTERNAL"
                        "</mechanism></mechanisms>%s" % (
                            NS_SASL, "<bidi xmlns='urn:xmpp:features:"
                            "bidi'/>" if bidi else ''))
        if bidi:
            self.expect('{urn:xmpp:bidi}bidi')
        self.expect(q(NS_SASL, 'auth'))
        self.send("<success xmlns='%s'/>" % NS_SASL)
        self._reset()
        self.their_header()
        self.our_header('')
        return self

    def messages(self, n, timeout=None):
        return [self.wait_for(lambda e: e.tag == q(NS_SERVER, 'message'),
                              timeout) for _ in range(n)]


class PeerListener:
    """b.test's s2s port. backlog=0 and fill(): a full accept queue, so
    that the kernel drops ternd's SYN and its connect() stays pending."""

    def __init__(self, backlog=8):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.fillers = []

    def accept(self, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        c, _ = self.sock.accept()
        return Peer.accepted(c)

    def fill(self):
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(('127.0.0.1', self.port))
            except BlockingIOError:
                pass
            self.fillers.append(c)
        time.sleep(0.2)

    def close(self):
        for s in [self.sock] + self.fillers:
            s.close()


@pytest.fixture
def listener():
    ls = PeerListener()
    yield ls
    ls.close()


def a_server(make_server, pki, port, extra='', start=True):
    """a.test, routing b.test to port."""
    a = make_server(domain=A, cert=pki[A], start=False)
    a.s2s = s2s_conf(pki['ca'], {B: port}, extra)
    a.write_config()
    if start:
        a.start()
    return a


def b_server(make_server, pki, extra=''):
    """b.test, reached by hand (RawServer), routing nowhere."""
    b = make_server(domain=B, cert=pki[B], start=False)
    b.s2s = s2s_conf(pki['ca'], {}, extra)
    b.write_config()
    b.start()
    return b


def proven(port, cert, frm=A, to=B):
    """A stream to port proven as frm by its certificate, ready for
    stanzas."""
    s = external(port, cert, frm, to)
    s.expect(q(NS_SASL, 'success'))
    s.s2s_open(frm, to)
    return s


def proven_a(b, pki):
    """A stream to b.test proven as a.test."""
    return proven(b.s2s_port, pki[A])


def body_of(el):
    return el.findtext(q(NS_SERVER, 'body')) or \
        el.findtext(q(NS_CLIENT, 'body'))


def errors_by_id(stream, ids, expect=None, settle=1.0):
    """The errors the client gets for ids: {id: [condition, ...]} (each
    id should appear once) and {id: error type}. Waits for expect errors
    (None: for the first), then until settle seconds pass without one
    more."""
    got, types = {}, {}
    deadline = time.monotonic() + TIMEOUT
    while True:
        n = sum(len(v) for v in got.values())
        done = n >= expect if expect is not None else n > 0
        wait = settle if done else deadline - time.monotonic()
        if wait <= 0:
            return got, types
        try:
            el = stream.wait_for(
                lambda e: e.get('type') == 'error' and e.get('id') in ids,
                timeout=wait)
        except TimeoutError:
            return got, types
        got.setdefault(el.get('id'), []).append(stanza_error(el))
        types[el.get('id')] = el.find(q(NS_CLIENT, 'error')).get('type')


# ---- an incoming stream's limits ----

def test_stanza_size_default_512k(make_server, pki):
    """s2s.stanza_size (default 512 KiB): a proven peer's stanza just
    under the limit is delivered, one just over it ends the stream with
    policy-violation (RFC 6120 §4.9.3.12) and is not delivered."""
    b = b_server(make_server, pki)
    bob = login(b, 'bob')
    s = proven_a(b, pki)
    head = ("<message xmlns='jabber:server' from='alice@a.test/x' "
            "to='bob@b.test' type='chat'><body>")
    tail = '</body></message>'
    fits = 512 * 1024 - len(head) - len(tail) - 64
    s.send(head + 'x' * fits + tail)
    m = bob.wait_message(timeout=10 * SLOW)
    assert len(body_of(m)) == fits
    s.send(head + 'y' * (513 * 1024) + tail)
    s.assert_stream_error('policy-violation', timeout=10 * SLOW)
    bob.nothing(within=0.5)


def test_stanza_size_configured(make_server, pki):
    """A smaller s2s.stanza_size holds the same way, and before the peer
    is proven the stricter limits.unauth_stanza_size applies."""
    b = b_server(make_server, pki, ', stanza_size: 16k')
    bob = login(b, 'bob')
    s = proven_a(b, pki)
    s.send("<message xmlns='jabber:server' from='alice@a.test/x' "
           "to='bob@b.test'><body>%s</body></message>" % ('x' * 15000))
    assert len(body_of(bob.wait_message())) == 15000
    s.send("<message xmlns='jabber:server' from='alice@a.test/x' "
           "to='bob@b.test'><body>%s</body></message>" % ('x' * 17000))
    s.assert_stream_error('policy-violation')
    bob.nothing(within=0.5)
    # not proven yet: 16k (the test config's unauth_stanza_size) is the
    # limit for everything, a dialback key too
    s = RawServer(b.s2s_port)
    s.s2s_open(A, B)
    s.tls()
    s.s2s_open(A, B)
    s.send("<db:result from='a.test' to='b.test'>%s</db:result>"
           % ('0' * 17000))
    s.assert_stream_error('policy-violation')


def bidi_peer(make_server, pki, listener, extra):
    """a.test (s2s options extra), alice logged in, and b.test's side of
    a.test's stream to it, made bidirectional (XEP-0288) and up."""
    a = a_server(make_server, pki, listener.port, extra)
    alice = login(a, 'alice')
    alice.send("<message to='bob@b.test' id='hi'><body>hi</body>"
               "</message>")
    s = listener.accept().external(pki[B], bidi=True)
    s.messages(1)
    return a, alice, s


def test_stanza_size_bidi(make_server, pki, listener):
    """s2s.stanza_size holds for what a bidirectional peer (XEP-0288)
    sends back on our own stream too."""
    a, alice, s = bidi_peer(make_server, pki, listener, ', stanza_size: 16k')
    for n in (15000, 17000):
        s.send("<message xmlns='jabber:server' from='bob@b.test/x' "
               "to='alice@a.test/r' id='b%d'><body>%s</body></message>"
               % (n, 'x' * n))
    assert alice.wait_message().get('id') == 'b15000'
    s.assert_stream_error('policy-violation')
    alice.nothing(within=0.5)


READ_CHUNK = 16384  # what ternd reads at once (src/net/conn.c)


@pytest.mark.parametrize('way', ('incoming', 'bidi'))
def test_rate_throttles_without_loss(make_server, pki, listener, way):
    """s2s.rate 4k (bursts of 8k): 36 KB of messages sent at once by a
    proven peer are all delivered, in order, but reading pauses once the
    burst is spent, so the last one arrives no sooner than the rate
    allows; the stream stays open. The same holds for what a peer sends
    back on our own stream to it (XEP-0288 bidi). (A read already made
    is processed and paid for by a longer pause: t seconds let through
    at most burst + t * rate + one read.)"""
    if way == 'incoming':
        srv = b_server(make_server, pki, ', rate: 4k')
        user = login(srv, 'bob')
        s = proven_a(srv, pki)
        frm, to = 'alice@a.test/x', 'bob@b.test'
    else:
        srv, user, s = bidi_peer(make_server, pki, listener, ', rate: 4k')
        frm, to = 'bob@b.test/x', 'alice@a.test/r'
    n, size = 18, 2000
    start = time.monotonic()
    s.send(''.join("<message xmlns='jabber:server' from='%s' to='%s' "
                   "id='r%d'><body>%s</body></message>"
                   % (frm, to, i, str(i % 10) * size) for i in range(n)))
    got = [user.wait_message(timeout=20 * SLOW) for _ in range(n)]
    took = time.monotonic() - start
    assert [m.get('id') for m in got] == ['r%d' % i for i in range(n)]
    least = (n * size - 8192 - READ_CHUNK) / 4096.0
    assert took >= least, 'took %.2fs, the rate allows no less than ' \
        '%.2fs' % (took, least)
    assert srv.wait_log('throttled')
    # still open and usable once the bucket refilled
    s.send("<message xmlns='jabber:server' from='%s' to='%s' id='after'>"
           "<body>after</body></message>" % (frm, to))
    assert user.wait_message(timeout=10 * SLOW).get('id') == 'after'


# ---- the queue of an outgoing stream being set up ----

def test_queue_overflow_bounces_rest_delivers(make_server, pki, listener):
    """s2s.queue_size 16k: while b.test's server has not answered
    ternd's stream header, alice's first messages wait and the ones past
    16k bounce at once with resource-constraint (type wait); once the
    stream is up the waiting ones arrive in order. Every message is
    either delivered or bounced, never both, never neither."""
    a = a_server(make_server, pki, listener.port, ', queue_size: 16k')
    alice = login(a, 'alice')
    ids = ['q%d' % i for i in range(10)]
    for i in ids:
        alice.send("<message to='bob@b.test' id='%s' type='chat'><body>%s"
                   "</body></message>" % (i, 'z' * 3000))
    alice.alive()
    bounced, types = errors_by_id(alice, ids)
    assert bounced, 'nothing bounced past queue_size'
    assert all(c == ['resource-constraint'] for c in bounced.values()), \
        bounced
    assert set(types.values()) == {'wait'}, types
    waiting = [i for i in ids if i not in bounced]
    # 16k holds five 3k messages: the first ones wait, the rest bounced
    assert waiting == ids[:len(waiting)] and 4 <= len(waiting) <= 5, \
        (waiting, bounced)
    # an iq result past the limit gets no error back: nothing answers a
    # result (RFC 6120 §8.2.3)
    alice.send("<iq to='bob@b.test/x' id='res' type='result'><query "
               "xmlns='jabber:iq:version'><name>%s</name></query></iq>"
               % ('n' * 3000))
    alice.alive()
    got, _ = errors_by_id(alice, ['res'], expect=0, settle=0.5)
    assert not got, got
    peer = listener.accept().external(pki[B])
    got = peer.messages(len(waiting))
    assert [m.get('id') for m in got] == waiting
    assert all(m.get('from') == 'alice@a.test/r' for m in got)
    peer.nothing(within=0.5)
    # the stream is up: nothing is queued or limited by queue_size now
    for i in range(8):
        alice.send("<message to='bob@b.test' id='l%d'><body>%s</body>"
                   "</message>" % (i, 'z' * 3000))
    assert [m.get('id') for m in peer.messages(8)] == \
        ['l%d' % i for i in range(8)]
    alice.nothing(within=0.3)


def queue_some(alice):
    """Messages, an iq and a presence for b.test, sent while its stream
    is being set up; returns the ids that must bounce."""
    ids = ['w%d' % i for i in range(5)]
    for i in ids:
        alice.send("<message to='bob@b.test' id='%s'><body>wait</body>"
                   "</message>" % i)
    alice.send("<iq to='b.test' id='wq' type='get'><ping xmlns='urn:xmpp:"
               "ping'/></iq>")
    alice.send("<presence to='bob@b.test' id='wp'/>")
    alice.alive()  # all of them routed (and so queued) by now
    return ids + ['wq']


@pytest.mark.parametrize('how', ('closed', 'stream_error'))
def test_failed_setup_bounces_each_once(make_server, pki, listener, how):
    """The peer closes the connection, or ends the stream with a stream
    error, before the stream is up: every queued message and iq bounces
    exactly once with remote-server-not-found (RFC 6120 §8.3.3.15);
    presence is dropped quietly (RFC 6121 §4.3); a stream error is not
    answered with another (ternd closes its stream cleanly); a later
    message makes a new attempt."""
    a = a_server(make_server, pki, listener.port)
    alice = login(a, 'alice')
    ids = queue_some(alice)
    peer = listener.accept()
    peer.their_header()
    assert a.wait_log('s2s-out a.test->b.test connecting -> negotiating')
    if how == 'closed':
        peer.close()
    else:
        peer.our_header(None)
        peer.send("<stream:error><host-unknown xmlns='urn:ietf:params:xml:"
                  "ns:xmpp-streams'/></stream:error></stream:stream>")
        assert peer.wait_closed(), 'no </stream:stream> from ternd'
        errs = [show(e) for e in peer.pending]
        assert not errs, 'ternd answered a stream error with: %s' % errs
    bounced, _ = errors_by_id(alice, ids + ['wp'], expect=len(ids))
    assert bounced == {i: ['remote-server-not-found'] for i in ids}, bounced
    # a new stanza: a new stream, which this time comes up
    alice.send("<message to='bob@b.test' id='again'><body>again</body>"
               "</message>")
    peer = listener.accept().external(pki[B])
    assert peer.messages(1)[0].get('id') == 'again'


def test_setup_timeout_bounces_each_once(make_server, pki, listener):
    """The peer takes the connection and never answers: after
    s2s.connect_timeout every queued message and iq bounces exactly once
    with remote-server-timeout, and ternd closes the connection."""
    a = a_server(make_server, pki, listener.port, ', connect_timeout: 2s')
    alice = login(a, 'alice')
    start = time.monotonic()
    ids = queue_some(alice)
    peer = listener.accept()
    peer.their_header()
    bounced, _ = errors_by_id(alice, ids + ['wp'], expect=len(ids))
    took = time.monotonic() - start
    assert bounced == {i: ['remote-server-timeout'] for i in ids}, bounced
    assert 1.5 <= took <= 2 + 2.5 * SLOW, took
    peer.wait_closed()


# ---- idle streams ----

def test_idle_streams_close_cleanly_and_reopen(make_server, pki, listener):
    """s2s.idle_timeout (10 s, its least): an outgoing stream idle that
    long ends with </stream:stream> and no stream error, and the next
    message opens a new one; an incoming stream idle that long is closed
    the same way. Until the peer answers with its own closing tag (or
    5 s pass) what it sends is still delivered (RFC 6120 §4.4). Both
    directions run side by side (one wait)."""
    idle = 10
    a = a_server(make_server, pki, listener.port,
                 ', idle_timeout: %ds' % idle)
    alice = login(a, 'alice')
    # out: a.test -> b.test (the peer)
    alice.send("<message to='bob@b.test' id='i1'><body>one</body>"
               "</message>")
    out = listener.accept().external(pki[B], bidi=True)
    assert out.messages(1)[0].get('id') == 'i1'
    t_out = time.monotonic()
    # in: "b.test" -> a.test, proven by b.test's certificate; a second
    # one that will not answer our closing tag
    silent = proven(a.s2s_port, pki[B], B, A)
    t_silent = time.monotonic()
    inc = proven(a.s2s_port, pki[B], B, A)
    inc.send("<message xmlns='jabber:server' from='bob@b.test/x' "
             "to='alice@a.test/r' id='i2'><body>in</body></message>")
    assert alice.wait_message().get('id') == 'i2'
    t_in = time.monotonic()
    status = a.ternctl_ok('status').stdout
    assert 's2s_in=2 ' in status and 's2s_out=1 ' in status, status

    # RFC 6120 §4.4: the side that closes still processes what the other
    # sent before it saw the closing tag (here: just after), on the
    # outgoing stream (bidirectional, XEP-0288) as on the incoming one
    deadline = time.monotonic() + idle + 5 * SLOW
    closed = {}
    for name, s, t in (('out', out, t_out), ('in', inc, t_in)):
        while not s.stream_closed:
            s._pump(deadline)
        closed[name] = time.monotonic() - t
        s.send("<message xmlns='jabber:server' from='bob@b.test/x' "
               "to='alice@a.test/r' id='late-%s'><body>crossed</body>"
               "</message></stream:stream>" % name)
        assert alice.wait_message().get('id') == 'late-' + name
    closed_out, closed_in = closed['out'], closed['in']
    # our closing tags ended them at once
    for s in (out, inc):
        t = time.monotonic()
        assert s.wait_closed()
        assert time.monotonic() - t < 1.0 * SLOW
    # a peer that does not close its side: the connection ends after
    # the 5 s grace (S2S_LINGER)
    assert silent.wait_closed(timeout=10 * SLOW)
    took = time.monotonic() - t_silent
    assert idle + 5 - 0.5 <= took <= idle + 5 + 3 * SLOW, took
    for s in (out, inc):
        errs = [e for e in s.pending if e.tag == q(NS_STREAM, 'error')]
        assert not errs, show(errs[0])
    assert idle - 0.5 <= closed_out <= idle + 3 * SLOW, closed_out
    assert idle - 0.5 <= closed_in <= idle + 3 * SLOW, closed_in
    assert a.wait_log('s2s-out a.test->b.test ready -> done')
    deadline = time.monotonic() + 5 * SLOW
    while True:
        status = a.ternctl_ok('status').stdout
        if 's2s_in=0 ' in status and 's2s_out=0 ' in status:
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    # a new message: a new stream
    alice.send("<message to='bob@b.test' id='i3'><body>two</body>"
               "</message>")
    again = listener.accept().external(pki[B])
    assert again.messages(1)[0].get('id') == 'i3'
    assert a.log.count('s2s-out a.test->b.test new') == 2
    alice.nothing(within=0.3)


# ---- SIGTERM while a stream is being set up ----

class BlackHoleDNS:
    """A UDP port that takes queries and answers none."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.port = self.sock.getsockname()[1]

    def got_query(self, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        try:
            return bool(self.sock.recv(4096))
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def stop_and_time(srv, limit):
    """SIGTERM; returns (exit status, seconds) or fails after limit."""
    start = time.monotonic()
    srv.signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(limit)
    except Exception:
        srv.proc.kill()
        srv.proc.wait(10)
        raise AssertionError('ternd did not exit within %.0fs of SIGTERM:'
                             '\n%s' % (limit, srv.log[-3000:]))
    return rc, time.monotonic() - start


SETUP_STATES = ('resolving', 'connecting', 'tls_handshake',
                'dialback_result', 'dialback_verify')


@pytest.mark.parametrize('state', SETUP_STATES)
def test_sigterm_during_setup(make_server, pki, listener, state):
    """ternd exits promptly (well within its 3 s grace) with status 0,
    and without a sanitizer report, when SIGTERM comes while an outgoing
    stream is resolving its peer's name, connecting, in the TLS
    handshake, waiting for the answer to its dialback key, or waiting
    for the answer to a <db:verify/> asked for an incoming stream."""
    dns = BlackHoleDNS()
    peer = None
    try:
        if state == 'resolving':
            a = make_server(domain=A, cert=pki[A], start=False)
            a.s2s = s2s_conf(pki['ca'], {}, ', dns_server: "127.0.0.1@%d"'
                             % dns.port)
            a.write_config()
            a.start()
        else:
            if state == 'connecting':
                listener.sock.listen(0)
                listener.fill()
            a = a_server(make_server, pki, listener.port)
        alice = login(a, 'alice')
        if state == 'dialback_verify':
            # b.test (by hand) offers a dialback key for itself; a.test
            # asks b.test's authoritative server (the listener) about it
            s = RawServer(a.s2s_port)
            s.s2s_open(B, A)
            s.tls(sni=A)
            s.s2s_open(B, A)
            s.send("<db:result from='b.test' to='a.test'>%s</db:result>"
                   % ('0' * 64))
        else:
            alice.send("<message to='bob@b.test' id='t1'><body>x</body>"
                       "</message>")
        if state == 'resolving':
            assert dns.got_query(), 'no DNS query'
        elif state == 'connecting':
            assert a.wait_log('s2s-out a.test->b.test resolving -> '
                              'connecting')
            time.sleep(0.3)
            assert 'a.test->b.test connected' not in a.log
        else:
            peer = listener.accept()
            if state == 'tls_handshake':
                peer.starttls(pki[B], handshake=False)
                # ternd's ClientHello, never answered
                peer.sock.settimeout(TIMEOUT)
                assert peer.sock.recv(5)[:1] == b'\x16'
            else:
                peer.starttls(pki[B])
                peer.our_header("<dialback xmlns='%s'><errors/>"
                                "</dialback>" % NS_DB_FEATURE)
                want = 'verify' if state == 'dialback_verify' else \
                    'result'
                peer.wait_for(lambda e: e.tag == q(NS_DB, want))
        rc, took = stop_and_time(a, 10 * SLOW)
        assert rc == 0, 'exit status %d after SIGTERM:\n%s' % (
            rc, a.log[-3000:])
        assert took < 2 * SLOW, 'exit took %.2fs' % took
        assert 'ternd: stopped' in a.log
        # the streams that can still read are told why (RFC 6120
        # §4.9.3.22), the incoming one and the outgoing one alike
        if state.startswith('dialback'):
            peer.assert_stream_error('system-shutdown')
        if state == 'dialback_verify':
            s.assert_stream_error('system-shutdown')
    finally:
        dns.close()


def test_slow_peer_overflow_bounces(make_server, pki):
    """A remote server that stops reading: once ternd's send queue for
    it is full (4 x limits.send_queue) the stream ends, and the stanza
    that did not fit bounces with remote-server-timeout instead of
    vanishing; the next one opens a new stream."""
    listener = PeerListener()
    listener.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        a = a_server(make_server, pki, listener.port, start=False)
        a.limits['send_queue'] = '64k'
        a.write_config()
        a.start()
        alice = login(a, 'alice')
        alice.send("<message to='bob@b.test' id='s0'><body>x</body>"
                   "</message>")
        peer = listener.accept().external(pki[B])
        assert peer.messages(1)[0].get('id') == 's0'
        # small enough for alice's own queue when they bounce; one at a
        # time until the first bounce (the stream ended at the one that
        # did not fit)
        bounced, sent = None, []
        for n in range(1, 2000, 10):
            batch = ['s%d' % k for k in range(n, n + 10)]
            alice.send(''.join(
                "<message to='bob@b.test' id='%s'><body>%s</body>"
                "</message>" % (i, 'y' * 20000) for i in batch))
            sent += batch
            # stop sending once the stream failed (else a new stream's
            # queue would fill up too)
            full = 'failed: send queue full' in a.log
            try:
                bounced = alice.wait_for(
                    lambda e: e.get('type') == 'error',
                    timeout=TIMEOUT if full else 0.05)
                break
            except TimeoutError:
                if full:
                    break
        assert bounced is not None, 'the stanza past the full queue vanished'
        assert stanza_error(bounced) == 'remote-server-timeout', \
            show(bounced)
        assert a.wait_log('failed: send queue full')
        alice.nothing(within=0.5)  # that one alone
        # what was sent after it, and the next one, go on a new stream
        alice.send("<message to='bob@b.test' id='next'><body>x</body>"
                   "</message>")
        rest = sent[sent.index(bounced.get('id')) + 1:] + ['next']
        peer = listener.accept().external(pki[B])
        assert [m.get('id') for m in peer.messages(len(rest))] == rest
    finally:
        listener.close()


def s2s_counts(srv):
    out = srv.ternctl_ok('status').stdout.split()
    kv = dict(w.split('=', 1) for w in out if '=' in w)
    return int(kv['s2s_in']), int(kv['s2s_out'])


def test_idle_between_two_ternd(make_server, pki):
    """Two ternd with idle_timeout 10 s: both ends of their one
    (bidirectional) stream time out at about the same moment, each
    closes its side, and neither is left with a stream; the next
    messages each way open a new one."""
    from test_s2s import pair
    a, b = pair(make_server, pki, a_extra=', idle_timeout: 10s',
                b_extra=', idle_timeout: 10s')
    alice, bob = login(a, 'alice'), login(b, 'bob')
    alice.message('bob@b.test', 'one')
    assert body_of(bob.wait_message(timeout=15 * SLOW)) == 'one'
    bob.message('alice@a.test/r', 'back')
    assert body_of(alice.wait_message(timeout=15 * SLOW)) == 'back'
    assert s2s_counts(a) == (0, 1) and s2s_counts(b) == (1, 0)
    deadline = time.monotonic() + 10 + 8 * SLOW
    while s2s_counts(a) != (0, 0) or s2s_counts(b) != (0, 0):
        assert time.monotonic() < deadline, (s2s_counts(a), s2s_counts(b))
        time.sleep(0.25)
    for srv in (a, b):
        assert 'stream error' not in ''.join(
            line for line in srv.log.splitlines(True) if 's2s' in line), \
            srv.log[-3000:]
    bob.message('alice@a.test/r', 'two')
    assert body_of(alice.wait_message(timeout=15 * SLOW)) == 'two'
    alice.message('bob@b.test', 'three')
    assert body_of(bob.wait_message(timeout=15 * SLOW)) == 'three'


def test_sigterm_while_idle_streams_linger(make_server, pki, listener):
    """SIGTERM while idle streams in both directions wait for the
    peer's closing tag (RFC 6120 §4.4): ternd does not wait out the
    grace, it closes them and exits at once."""
    a = a_server(make_server, pki, listener.port, ', idle_timeout: 10s')
    alice = login(a, 'alice')
    alice.send("<message to='bob@b.test' id='g1'><body>x</body></message>")
    out = listener.accept().external(pki[B])
    out.messages(1)
    inc = proven(a.s2s_port, pki[B], B, A)
    deadline = time.monotonic() + 10 + 5 * SLOW
    for s in (out, inc):
        while not s.stream_closed:
            s._pump(deadline)
    rc, took = stop_and_time(a, 10 * SLOW)
    assert rc == 0, a.log[-3000:]
    assert took < 2 * SLOW, 'exit took %.2fs' % took
    for s in (out, inc):
        s.wait_closed(timeout=2)
        assert s.eof

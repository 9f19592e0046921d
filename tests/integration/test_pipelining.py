"""XEP-0305 §3 (pipelining): a client that sends the next steps of the
login without waiting for the server's answers. After STARTTLS (whose
handshake is a hard stop, RFC 6120 §5.4.3.3) the rest of a login can go
in one write: the stream header, SASL, the restarted stream's header
(RFC 6120 §6.4.6: the stream is restarted on <success/>), bind,
presence and the first requests. The server must take each step in
order from the bytes it already has, never wait for more, and lose
nothing across the restart. A reconnecting client resumes TLS from its
ticket (XEP-0305's reconnection advice)."""
import re
import time
import xml.etree.ElementTree as ET

from ternlib import (NS_BIND, NS_PING, NS_SASL, NS_SASL2, NS_STREAM,
                     RawStream, TIMEOUT, auth_xml, authenticate_xml,
                     client_tls_context, connect_tls, password, q, show)


def read_until(s, marker, timeout=TIMEOUT):
    """Every byte the server sends until marker shows (raw, after TLS):
    the replies to a pipelined login cross a stream restart, so one XML
    parser cannot read them."""
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while marker not in buf:
        left = deadline - time.monotonic()
        assert left > 0, 'no %r within %ss: %r' % (marker, timeout,
                                                    bytes(buf[-2000:]))
        s.sock.settimeout(left)
        data = s.sock.recv(65536)
        assert data, 'closed: %r' % bytes(buf[-2000:])
        buf += data
    return bytes(buf)


def streams(raw):
    """The top-level elements of each stream in raw, a list per stream
    (a stream header starts a new one)."""
    out = []
    for part in re.split(rb'(?=(?:<\?xml[^>]*\?>)?<stream:stream\b)', raw):
        if b'<stream:stream' not in part[:200]:
            continue
        p = ET.XMLPullParser(events=('start', 'end'))
        p.feed(part)
        depth, els, root = 0, [], None
        for ev, el in p.read_events():
            if ev == 'start':
                depth += 1
                root = root if root is not None else el
            else:
                if depth == 2:
                    els.append(el)
                depth -= 1
        out.append((root, els))
    return out


def after_tls(port):
    """A connection right after its STARTTLS handshake: the next bytes
    are the client's first on the TLS layer."""
    s = RawStream(port)
    s.open()
    s.starttls(reopen=False)
    return s


def plain_auth(user, pw=None):
    return auth_xml('PLAIN', '\0%s\0%s' % (
        user, pw if pw is not None else password(user)))


BIND = ("<iq type='set' id='b1'><bind xmlns='%s'><resource>pipe"
        "</resource></bind></iq>" % NS_BIND)
PING = ("<iq type='get' id='p1' to='localhost'><ping xmlns='%s'/></iq>"
        % NS_PING)


def test_whole_login_in_one_write_after_starttls(server):
    """Header, PLAIN, the restarted stream's header, bind, presence and
    a ping in one write: two streams come back, the first with its
    features and <success/>, the second (a new id) with its features,
    the bind result and the ping's, in that order."""
    s = after_tls(server.c2s)
    s.send(s.header() + plain_auth('alice') + s.header() + BIND
           + '<presence/>' + PING)
    raw = read_until(s, b"id='p1'")
    got = streams(raw)
    assert len(got) == 2, raw
    (root1, els1), (root2, els2) = got
    assert [e.tag for e in els1] == [q(NS_STREAM, 'features'),
                                     q(NS_SASL, 'success')], raw
    assert root2.get('id') and root2.get('id') != root1.get('id'), raw
    assert els2[0].tag == q(NS_STREAM, 'features'), raw
    res = [e for e in els2 if e.get('id') in ('b1', 'p1')]
    assert [e.get('id') for e in res] == ['b1', 'p1'], raw
    assert all(e.get('type') == 'result' for e in res), raw
    jid = res[0].find('%s/%s' % (q(NS_BIND, 'bind'), q(NS_BIND, 'jid'))).text
    assert jid == 'alice@localhost/pipe'


def test_pipelined_login_is_a_full_session(server):
    """The pipelined session's presence reaches the account's other
    resource, and a message to it right after its ping arrives."""
    other = connect_tls(server.c2s, 'alice', resource='other')
    other.presence()
    s = after_tls(server.c2s)
    s.send(s.header() + plain_auth('alice') + s.header() + BIND
           + '<presence><status>piped</status></presence>' + PING)
    read_until(s, b"id='p1'")
    pres = other.wait_for(lambda e: e.tag == '{jabber:client}presence'
                          and e.get('from') == 'alice@localhost/pipe')
    assert pres.findtext('{jabber:client}status') == 'piped', show(pres)
    other.message('alice@localhost/pipe', 'after the pipe')
    read_until(s, b'after the pipe')


def test_failed_pipelined_auth_takes_nothing_after_it(server):
    """A wrong password with a restart and a bind pipelined behind it:
    <failure/> is the answer, and the bytes behind it are not taken as
    a restarted, authenticated stream: no second stream header, no
    bound JID (RFC 6120 §6.4.5: the stream is not restarted), and the
    stream ends in a stream error."""
    s = after_tls(server.c2s)
    s.send(s.header() + plain_auth('alice', 'not-the-password')
           + s.header() + BIND)
    raw = read_until(s, b'</failure>')
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        s.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = s.sock.recv(65536)
        except (TimeoutError, OSError):
            continue
        if not data:
            break
        raw += data
    assert b'not-authorized' in raw, raw
    assert raw.count(b'<stream:stream') == 1, raw
    assert b'<jid>' not in raw, raw
    # the header behind the failure is a second XML declaration inside
    # the same stream: not-well-formed (RFC 6120 §4.9.3.13)
    assert b'<not-well-formed' in raw, raw


def test_sasl2_bind2_and_a_ping_in_one_write(server):
    """SASL2 (XEP-0388) with Bind 2 inline (XEP-0386) needs no restart:
    header, <authenticate/> and a ping in one write get the features,
    <success/> naming the bound JID, and the ping's result."""
    s = after_tls(server.c2s)
    s.send(s.header()
           + authenticate_xml(
               'PLAIN', '\0alice\0' + password('alice'),
               extra="<bind xmlns='urn:xmpp:bind:0'><tag>pipe</tag></bind>",
               uaid='d4565fa7-4d72-4749-b3d3-740edbf87770')
           + PING)
    raw = read_until(s, b"id='p1'")
    got = streams(raw)
    assert len(got) == 1, raw
    els = got[0][1]
    assert [e.tag for e in els[:2]] == [q(NS_STREAM, 'features'),
                                        q(NS_SASL2, 'success')], raw
    ident = els[1].findtext(q(NS_SASL2, 'authorization-identifier'))
    assert ident and ident.startswith('alice@localhost/pipe'), raw
    ping = [e for e in els if e.get('id') == 'p1']
    assert ping and ping[0].get('type') == 'result', raw


def test_reconnect_resumes_tls(server):
    """XEP-0305, reconnection: a client that reconnects offers the
    session ticket of its last connection and the server resumes TLS
    1.3 from it (RFC 8446 §2.2: no certificate, no signature), and the
    login on the resumed connection works, twice in a row."""
    ctx = client_tls_context()
    sess = None
    reused = []
    for i in range(3):
        s = RawStream(server.c2s)
        s.open()
        s.starttls(ctx=ctx, session=sess)
        s.authenticate('alice')
        s.bind('r%d' % i)
        s.ping()           # the ticket has arrived by now (post-handshake)
        reused.append(s.sock.session_reused)
        sess = s.sock.session
        s.close()
    assert reused == [False, True, True], reused

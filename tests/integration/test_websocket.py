"""XMPP over WebSocket (RFC 7395) at /xmpp-websocket: the handshake (RFC
6455 §4), <open/>/<close/> framing, the same SASL, bind and stream
management as over TCP, a message exchanged with a TCP client, and bad
input: missing subprotocol, wrong version, binary and unmasked frames,
oversized messages."""
import base64
import hashlib
import os
import socket
import struct
import xml.etree.ElementTree as ET

import pytest

from httputil import connect, http_server
from ternlib import (NS_BIND, NS_SASL, NS_STREAM, TIMEOUT, Scram,
                     b64decode, connect_tls, password, q, show)

NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


class WS:
    """A minimal RFC 6455 client: masked text frames out, frames in."""

    def __init__(self, port, tls=False, proto='xmpp', version='13',
                 path='/xmpp-websocket'):
        self.sock = connect(port, tls)
        self.key = base64.b64encode(os.urandom(16)).decode()
        hdrs = ['GET %s HTTP/1.1' % path, 'Host: localhost',
                'Upgrade: websocket', 'Connection: Upgrade',
                'Sec-WebSocket-Key: ' + self.key,
                'Sec-WebSocket-Version: ' + version]
        if proto:
            hdrs.append('Sec-WebSocket-Protocol: ' + proto)
        self.sock.sendall(('\r\n'.join(hdrs) + '\r\n\r\n').encode())
        self.buf = b''
        while b'\r\n\r\n' not in self.buf:
            d = self.sock.recv(4096)
            assert d, 'closed during the handshake: %r' % self.buf
            self.buf += d
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        lines = head.decode().split('\r\n')
        self.status = int(lines[0].split()[1])
        self.headers = {ln.split(':', 1)[0].lower(): ln.split(':', 1)[1]
                        .strip() for ln in lines[1:]}

    def send_frame(self, payload, opcode=1, mask=True, fin=True):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr = struct.pack('!BB', b0, mbit | n)
        elif n < 65536:
            hdr = struct.pack('!BBH', b0, mbit | 126, n)
        else:
            hdr = struct.pack('!BBQ', b0, mbit | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            hdr += key
        self.sock.sendall(hdr + payload)

    def send(self, text):
        self.send_frame(text)

    def _need(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError('closed')
            self.buf += d

    def frame(self):
        """(opcode, payload) of the next frame."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, 'server frames are not masked'
        n, at = b1 & 0x7f, 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack('!H', self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack('!Q', self.buf[2:10])[0], 10
        self._need(at + n)
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return b0 & 0x0f, payload

    def element(self):
        """The next text message, parsed (standalone XML, RFC 7395)."""
        while True:
            op, p = self.frame()
            if op == 1:
                return ET.fromstring(p.decode())
            assert op in (9, 10), 'unexpected frame %d %r' % (op, p)

    def open(self, to='localhost'):
        self.send("<open xmlns='%s' to='%s' version='1.0'/>"
                  % (NS_FRAMING, to))
        o = self.element()
        assert o.tag == q(NS_FRAMING, 'open'), show(o)
        return o, self.element()

    def login(self, user):
        self.open()
        sc = Scram('SCRAM-SHA-1', user, password(user))
        self.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
                  % (NS_SASL, base64.b64encode(sc.client_first()).decode()))
        ch = self.element()
        assert ch.tag == q(NS_SASL, 'challenge'), show(ch)
        self.send("<response xmlns='%s'>%s</response>" % (
            NS_SASL, base64.b64encode(
                sc.client_final(b64decode(ch.text))).decode()))
        ok = self.element()
        assert ok.tag == q(NS_SASL, 'success'), show(ok)
        _, f = self.open()
        assert f.find(q(NS_BIND, 'bind')) is not None, show(f)
        self.send("<iq xmlns='jabber:client' type='set' id='b'>"
                  "<bind xmlns='%s'><resource>ws</resource></bind></iq>"
                  % NS_BIND)
        r = self.element()
        assert r.get('type') == 'result', show(r)
        return r.find('%s/%s' % (q(NS_BIND, 'bind'), q(NS_BIND, 'jid'))).text


def ws_server(make_server):
    return http_server(make_server)


def test_handshake_and_open(make_server):
    """RFC 6455 §4.2.2 accept key and RFC 7395 §3.1 subprotocol; the
    server's <open/> carries an id and version, and the features offer no
    STARTTLS (the framing has none) but SASL (over https)."""
    srv = ws_server(make_server)
    w = WS(srv.https, tls=True)
    assert w.status == 101
    want = base64.b64encode(hashlib.sha1(
        (w.key + GUID).encode()).digest()).decode()
    assert w.headers['sec-websocket-accept'] == want
    assert w.headers['sec-websocket-protocol'] == 'xmpp'
    o, f = w.open()
    assert o.get('from') == 'localhost' and o.get('id'), show(o)
    assert o.get('version') == '1.0'
    assert f.tag == q(NS_STREAM, 'features'), show(f)
    assert f.find(q('urn:ietf:params:xml:ns:xmpp-tls', 'starttls')) is None
    assert f.find(q(NS_SASL, 'mechanisms')) is not None, show(f)


def test_login_and_message_with_tcp_client(make_server):
    """SASL, bind and a message both ways between a WebSocket client and a
    TCP client: the same c2s state machine over both framings; stanzas
    arrive standalone with their jabber:client namespace."""
    srv = ws_server(make_server)
    w = WS(srv.https, tls=True)
    jid = w.login('alice')
    assert jid == 'alice@localhost/ws'
    w.send("<presence xmlns='jabber:client'/>")
    bob = connect_tls(srv.c2s, 'bob', 'tcp')
    bob.send("<message to='%s' type='chat'><body>to ws</body></message>"
             % jid)
    m = w.element()
    while m.tag != q('jabber:client', 'message'):
        m = w.element()
    assert m.findtext(q('jabber:client', 'body')) == 'to ws', show(m)
    w.send("<message xmlns='jabber:client' to='bob@localhost/tcp' "
           "type='chat'><body>from ws</body></message>")
    m = bob.wait_message()
    assert m.findtext(q('jabber:client', 'body')) == 'from ws'
    assert m.get('from') == jid


def test_close_framing(make_server):
    """RFC 7395 §3.6: <close/> from the client is answered with <close/>
    and the server closes the WebSocket (close frame 1000)."""
    srv = ws_server(make_server)
    w = WS(srv.https, tls=True)
    w.open()
    w.send("<close xmlns='%s'/>" % NS_FRAMING)
    c = w.element()
    assert c.tag == q(NS_FRAMING, 'close'), show(c)
    op, p = w.frame()
    assert op == 8 and struct.unpack('!H', p[:2])[0] == 1000


def test_plain_http_refuses_auth(make_server):
    """Over ws:// (no TLS) the stream is as unencrypted as plain TCP: with
    c2s_require_tls, authentication is refused (encryption-required)."""
    srv = ws_server(make_server)
    w = WS(srv.http)
    w.open()
    w.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (
        NS_SASL, base64.b64encode(b'\0alice\0secret-alice').decode()))
    f = w.element()
    assert f.tag == q(NS_SASL, 'failure'), show(f)
    assert f.find(q(NS_SASL, 'encryption-required')) is not None


@pytest.mark.parametrize('proto,version,status', [
    (None, '13', 400),  # no xmpp subprotocol (RFC 7395 §3.1)
    ('chat', '13', 400),
    ('xmpp', '8', 426),  # RFC 6455 §4.4
])
def test_bad_handshakes(make_server, proto, version, status):
    srv = ws_server(make_server)
    w = WS(srv.https, tls=True, proto=proto, version=version)
    assert w.status == status


def test_binary_frame_closes_1003(make_server):
    """RFC 7395 §3.2: only text frames; a binary one closes with 1003."""
    srv = ws_server(make_server)
    w = WS(srv.https, tls=True)
    w.open()
    w.send_frame(b'<x/>', opcode=2)
    op, p = w.frame()
    assert op == 8 and struct.unpack('!H', p[:2])[0] == 1003, (op, p)


def test_unmasked_frame_is_a_protocol_error(make_server):
    """RFC 6455 §5.1: client frames must be masked; else 1002."""
    srv = ws_server(make_server)
    w = WS(srv.https, tls=True)
    w.send_frame("<open xmlns='%s' to='localhost' version='1.0'/>"
                 % NS_FRAMING, mask=False)
    op, p = w.frame()
    assert op == 8 and struct.unpack('!H', p[:2])[0] == 1002, (op, p)


def test_oversized_message_closes_1009(make_server):
    """A message beyond the stanza limit: close 1009 (message too big)."""
    srv = ws_server(make_server)
    w = WS(srv.https, tls=True)
    w.open()
    w.send_frame('<message>' + 'x' * (300 * 1024) + '</message>')
    while True:
        op, p = w.frame()
        if op == 8:
            break
    assert struct.unpack('!H', p[:2])[0] == 1009, p


def test_ping_answered_and_bad_xml(make_server):
    """A WebSocket ping gets a pong; a message that is not well-formed is
    a stream error (not-well-formed) then <close/>."""
    srv = ws_server(make_server)
    w = WS(srv.https, tls=True)
    w.open()
    w.send_frame(b'hi', opcode=9)
    op, p = w.frame()
    assert op == 10 and p == b'hi'
    w.send('<message><body>x</message>')
    e = w.element()
    assert e.tag == q(NS_STREAM, 'error'), show(e)
    assert e.find(q('urn:ietf:params:xml:ns:xmpp-streams',
                    'not-well-formed')) is not None, show(e)
    c = w.element()
    assert c.tag == q(NS_FRAMING, 'close'), show(c)

"""SOCKS5 Bytestreams proxy (XEP-0065) on proxy.localhost."""
import hashlib
import inspect
import os
import signal
import socket
import struct
import threading
import time

from ternlib import (COMPONENT, NS_COMPONENT, Ternd, connect_tls, free_ports,
                     q, show, stanza_error)
from test_component import connected

NS_BS = 'http://jabber.org/protocol/bytestreams'
NS_INFO = 'http://jabber.org/protocol/disco#info'
PROXY = 'proxy.localhost'
MODULES = inspect.signature(Ternd).parameters['modules'].default


def proxy_server(make_server, settings=''):
    srv = make_server(start=False)
    srv.proxy_port = free_ports(1)[0]
    text = srv.config.read_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    extra = ('    services: [{ module: proxy65, domain: %s }]\n'
             '    proxy65: { port: %d%s }\n' % (PROXY, srv.proxy_port,
                                                settings))
    srv.write_config(text[:at] + extra + text[at:])
    return srv.start()


def login(srv, user, resource='r'):
    return connect_tls(srv.c2s, user, resource)


def dstaddr(sid, requester, target):
    return hashlib.sha1((sid + requester + target).encode()).hexdigest()


def socks5(srv, addr):
    """A SOCKS5 connection through the handshake for DST.ADDR addr."""
    s = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=5)
    s.sendall(b'\x05\x01\x00')
    assert s.recv(2) == b'\x05\x00'
    req = b'\x05\x01\x00\x03\x28' + addr.encode() + b'\x00\x00'
    s.sendall(req)
    reply = b''
    while len(reply) < len(req):
        chunk = s.recv(len(req) - len(reply))
        assert chunk, 'proxy closed during the handshake'
        reply += chunk
    assert reply == b'\x05\x00' + req[2:], reply
    return s


def activate(s, sid, target):
    return s.iq('set', "<query xmlns='%s' sid='%s'><activate>%s</activate>"
                "</query>" % (NS_BS, sid, target), to=PROXY)


def recv_all(s, timeout=20):
    s.settimeout(timeout)
    out = []
    while True:
        b = s.recv(65536)
        if not b:
            return b''.join(out)
        out.append(b)


def closed(s, timeout=5):
    """True when the proxy closed s (a reset counts: it closed without
    reading what we sent)."""
    try:
        return recv_all(s, timeout) == b''
    except ConnectionResetError:
        return True


def test_disco_and_streamhost(make_server):
    srv = proxy_server(make_server)
    a = login(srv, 'alice')
    r = a.iq('get', "<query xmlns='%s'/>" % NS_INFO, to=PROXY)
    qe = r.find(q(NS_INFO, 'query'))
    ident = qe.find(q(NS_INFO, 'identity'))
    assert (ident.get('category'), ident.get('type')) == \
        ('proxy', 'bytestreams'), show(r)
    assert NS_BS in {f.get('var') for f in qe.findall(q(NS_INFO, 'feature'))}
    r = a.iq('get', "<query xmlns='%s'/>" % NS_BS, to=PROXY)
    sh = r.find(q(NS_BS, 'query')).find(q(NS_BS, 'streamhost'))
    assert sh.attrib == {'jid': PROXY, 'host': '127.0.0.1',
                         'port': str(srv.proxy_port)}, show(r)
    # others get nothing
    c = connected(srv)
    c.send("<iq xmlns='%s' type='get' id='x1' from='eve@%s' to='%s'>"
           "<query xmlns='%s'/></iq>" % (NS_COMPONENT, COMPONENT, PROXY,
                                         NS_BS))
    r = c.expect(q(NS_COMPONENT, 'iq'))
    assert stanza_error(r) == 'forbidden', show(r)


def test_transfer_one_mib(make_server):
    srv = proxy_server(make_server)
    a = login(srv, 'alice', 'desk')
    b = login(srv, 'bob', 'phone')
    sid = 'sid-1'
    addr = dstaddr(sid, 'alice@localhost/desk', 'bob@localhost/phone')
    tb = socks5(srv, addr)
    # only one party connected
    r = activate(a, sid, 'bob@localhost/phone')
    assert stanza_error(r) == 'not-allowed', show(r)
    ta = socks5(srv, addr)
    # the target (or anyone else) cannot activate alice's stream
    r = activate(b, sid, 'bob@localhost/phone')
    assert stanza_error(r) == 'item-not-found', show(r)
    r = activate(b, sid, 'alice@localhost/desk')
    assert stanza_error(r) == 'item-not-found', show(r)
    r = activate(a, 'other-sid', 'bob@localhost/phone')
    assert stanza_error(r) == 'item-not-found', show(r)
    r = a.iq('set', "<query xmlns='%s' sid='%s'/>" % (NS_BS, sid), to=PROXY)
    assert stanza_error(r) == 'bad-request', show(r)
    for bad in ('', '@localhost', 'bob@/phone'):
        r = activate(a, sid, bad)
        assert stanza_error(r) == 'bad-request', show(r)
    # the target's JID is compared prepared
    r = activate(a, sid, 'Bob@LOCALHOST/phone')
    assert r.get('type') == 'result', show(r)
    data = os.urandom(1 << 20)

    def send():
        ta.sendall(data)
        ta.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    # the target reads late: the proxy must hold the sender back, not
    # buffer the whole file
    time.sleep(1)
    got = recv_all(tb)
    t.join(10)
    assert len(got) == len(data) and got == data
    # and the other way, after the half close
    tb.sendall(b'thanks')
    tb.shutdown(socket.SHUT_WR)
    assert recv_all(ta) == b'thanks'
    ta.close()
    tb.close()
    assert 'proxy65 proxy.localhost activated' in srv.log


def test_unpaired_times_out_and_limits(make_server):
    srv = proxy_server(make_server, ', pending_timeout: 1s, max_pending: 3')
    waiting = [socks5(srv, dstaddr(sid, 'alice@localhost/r', 'bob@localhost/r'))
               for sid in ('x', 'y', 'z')]
    # a fourth waiting connection is one too many
    s = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=5)
    s.sendall(b'\x05\x01\x00')
    assert closed(s)
    start = time.monotonic()
    assert all(closed(w, 10) for w in waiting)
    assert 0.5 < time.monotonic() - start < 5
    # bad SOCKS5: a method other than no-auth only, a non-domain address
    s = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=5)
    s.sendall(b'\x05\x01\x02')
    assert recv_all(s, 5) == b'\x05\xff'
    s = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=5)
    s.sendall(b'\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50')
    assert recv_all(s, 5)[:4] == b'\x05\x00\x05\x07'
    # a third party with the same address as a waiting pair
    addr = dstaddr('w', 'alice@localhost/r', 'bob@localhost/r')
    p1, p2 = socks5(srv, addr), socks5(srv, addr)
    s = socket.create_connection(('127.0.0.1', srv.proxy_port), timeout=5)
    s.sendall(b'\x05\x01\x00\x05\x01\x00\x03\x28' + addr.encode() +
              b'\x00\x00')
    assert recv_all(s, 5) == b'\x05\x00'
    p1.close()
    p2.close()


def test_streams_per_user_and_idle(make_server):
    srv = proxy_server(make_server,
                       ', max_streams_per_user: 1, idle_timeout: 1s')
    a = login(srv, 'alice')
    pairs = []
    for sid in ('one', 'two'):
        addr = dstaddr(sid, 'alice@localhost/r', 'bob@localhost/r')
        pairs.append((socks5(srv, addr), socks5(srv, addr)))
    assert activate(a, 'one', 'bob@localhost/r').get('type') == 'result'
    r = activate(a, 'two', 'bob@localhost/r')
    assert stanza_error(r) == 'resource-constraint', show(r)
    x, y = pairs[0]
    x.sendall(b'ping')
    y.settimeout(5)
    assert y.recv(4) == b'ping'
    # silence for idle_timeout closes the stream, both sides
    start = time.monotonic()
    assert closed(x, 10) and closed(y, 10)
    assert 0.5 < time.monotonic() - start < 5
    # and frees the slot
    assert activate(a, 'two', 'bob@localhost/r').get('type') == 'result'


def test_reload_keeps_the_listener(make_server):
    """A reload rebuilds the service: its port is bound again."""
    srv = proxy_server(make_server)
    at = len(srv.log)
    srv.signal(signal.SIGHUP)
    assert srv.wait_log('configuration and certificates reloaded', start=at)
    assert 'proxy65 proxy.localhost listening' in srv.log[at:]
    addr = dstaddr('r', 'alice@localhost/r', 'bob@localhost/r')
    x, y = socks5(srv, addr), socks5(srv, addr)
    a = login(srv, 'alice')
    assert activate(a, 'r', 'bob@localhost/r').get('type') == 'result'
    x.sendall(b'after reload')
    y.settimeout(5)
    assert y.recv(12) == b'after reload'


def test_max_bandwidth(make_server):
    srv = proxy_server(make_server, ', max_bandwidth: 256k')
    a = login(srv, 'alice')
    addr = dstaddr('bw', 'alice@localhost/r', 'bob@localhost/r')
    x, y = socks5(srv, addr), socks5(srv, addr)
    assert activate(a, 'bw', 'bob@localhost/r').get('type') == 'result'
    data = os.urandom(640 * 1024)
    start = time.monotonic()
    t = threading.Thread(target=lambda: (x.sendall(data),
                                         x.shutdown(socket.SHUT_WR)),
                         daemon=True)
    t.start()
    got = recv_all(y)
    took = time.monotonic() - start
    t.join(10)
    assert got == data
    # 2.5 s worth at 256 KiB/s: the first second's share goes at once
    assert 1.5 < took < 8, took

"""HTTP helpers for the tests of the HTTP server (test_http.py) and the
services on it (test_upload.py): a ternd with http/https listeners, raw
HTTP/1.1 over plain or TLS sockets, and a parser for pipelined answers."""
import socket
import ssl
import time

from ternlib import SLOW, free_ports

TIMEOUT = 5 * SLOW


def http_server(make_server, listeners=None, host_extra='', top='',
                modules_extra=(), start=True, **kw):
    """A ternd with an http listener (metrics on) and an https one (metrics
    off) on free ports: srv.http, srv.https. listeners: more YAML lines."""
    srv = make_server(start=False, **kw)
    srv.http, srv.https = free_ports(2)
    srv.modules += list(modules_extra)
    text = srv.config_text()
    lines = ('  - { type: http, address: 127.0.0.1, port: %d, '
             'metrics: true }\n'
             '  - { type: https, address: 127.0.0.1, port: %d }\n'
             % (srv.http, srv.https)) + (listeners or '')
    at = text.index('listeners:\n') + len('listeners:\n')
    text = text[:at] + lines + text[at:]
    at = text.index('\n', text.index('    modules: [')) + 1
    text = top + text[:at] + host_extra + text[at:]
    srv.write_config(text)
    if start:
        srv.start()
        wait_port(srv.http)
    return srv


def wait_port(port):
    deadline = time.monotonic() + 10 * SLOW
    while True:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def connect(port, tls=False):
    s = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname='localhost')
    s.settimeout(TIMEOUT)
    return s


def request(method, path, host='localhost', headers=(), body=b''):
    h = ['%s %s HTTP/1.1' % (method, path), 'Host: %s' % host]
    h += ['%s: %s' % kv for kv in headers]
    if body or method in ('PUT', 'POST'):
        h.append('Content-Length: %d' % len(body))
    return ('\r\n'.join(h) + '\r\n\r\n').encode() + body


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (last wins)
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return '<%d %s %r %r>' % (self.status, self.reason, self.headers,
                                  self.body[:200])


class Reader:
    """Reads answers one by one from a socket (pipelined or not)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.closed = False

    def _more(self):
        try:
            d = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            d = b''
        if not d:
            self.closed = True
            raise EOFError('connection closed')
        self.buf += d

    def response(self, head=False):
        while b'\r\n\r\n' not in self.buf:
            self._more()
        top, rest = bytes(self.buf).split(b'\r\n\r\n', 1)
        self.buf = bytearray(rest)
        lines = top.decode('latin-1').split('\r\n')
        ver, status, reason = (lines[0].split(' ', 2) + [''])[:3]
        assert ver == 'HTTP/1.1', lines[0]
        headers = {}
        for line in lines[1:]:
            k, v = line.split(':', 1)
            headers[k.strip().lower()] = v.strip()
        status = int(status)
        n = 0
        if not head and status not in (204, 304) and status >= 200:
            n = int(headers.get('content-length', '0'))
        while len(self.buf) < n:
            self._more()
        body = bytes(self.buf[:n])
        del self.buf[:n]
        if status == 100:
            return self.response(head)
        return Response(status, reason, headers, body)

    def wait_closed(self, timeout=TIMEOUT):
        """True when the peer closes (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                self._more()
        except EOFError:
            return True
        except socket.timeout:
            return False


def fetch(port, method, path, tls=False, **kw):
    """One request on a new connection; returns the Response."""
    s = connect(port, tls)
    try:
        s.sendall(request(method, path, **kw))
        return Reader(s).response(head=method == 'HEAD')
    finally:
        s.close()

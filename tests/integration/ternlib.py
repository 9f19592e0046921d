"""Helpers for Tern's integration tests.

- Ternd: one daemon in its own directory (config, certs, SQLite file, log),
  started on free loopback ports, stopped with SIGTERM and checked.
- RawStream: a hand-driven XMPP stream over a plain socket (STARTTLS, Direct
  TLS, SASL PLAIN and SCRAM, bind) with an incremental XML reader.
- Client / run(): slixmpp clients driven inside a fresh asyncio loop.
"""
import asyncio
import base64
import collections
import hashlib
import hmac
import os
import secrets
import random
import signal
import socket
import ssl
import subprocess
import time
import xml.etree.ElementTree as ET
from collections import deque
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get('TERN_BIN') or REPO / 'build')
VALGRIND = os.environ.get('TERN_VALGRIND') == '1'
# Everything waits this many times longer under valgrind.
SLOW = 10 if VALGRIND else 1
TIMEOUT = 5 * SLOW

DOMAIN = 'localhost'
COMPONENT = 'comp.localhost'
COMPONENT_SECRET = 's3cret'
USERS = ('alice', 'bob', 'carol')
SANITIZER_MARKS = ('AddressSanitizer', 'runtime error:', 'LeakSanitizer')

NS_STREAM = 'http://etherx.jabber.org/streams'
NS_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_SASL2 = 'urn:xmpp:sasl:2'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session'
NS_CLIENT = 'jabber:client'
NS_COMPONENT = 'jabber:component:accept'
NS_SASL_CB = 'urn:xmpp:sasl-cb:0'
NS_CAPS = 'http://jabber.org/protocol/caps'
NS_PING = 'urn:xmpp:ping'


def q(ns, name):
    """Clark notation: q(NS_TLS, 'proceed') -> '{urn:...}proceed'."""
    return '{%s}%s' % (ns, name)


def password(user):
    return 'secret-' + user


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def show(el):
    return ET.tostring(el, encoding='unicode') if el is not None else 'None'


def _ephemeral_low():
    """The lowest port the kernel hands out for outgoing connections."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports handed out lately by this process: a server's ports are free
# (not yet bound) between the call that chose them and its start, so a
# second call for the same server (an HTTP listener added to its config)
# must not draw one of them again.
_RECENT_PORTS = collections.deque(maxlen=1024)


def free_ports(n, host='127.0.0.1'):
    """n distinct free ports, none handed out lately by this process;
    all held open until all are chosen.

    They are drawn at random below the kernel's ephemeral range: a port
    bound to 0 and closed comes from that range, and any outgoing
    connection (a peer server's, a client's, ternd's own s2s) could take
    it before the server under test binds it ("Address already in
    use"). Ports below the range are only taken by an explicit bind."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    low = 10000
    high = max(low + 1000, _ephemeral_low()) - 1
    # pytest-xdist workers (gw0, gw1, ...) draw from ranges of their
    # own: a port one worker found free is not bound by another's ternd
    # before its own server binds it
    worker = os.environ.get('PYTEST_XDIST_WORKER', '')
    count = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1') or 1)
    if worker.startswith('gw') and worker[2:].isdigit() and count > 1:
        span = (high - low + 1) // count
        low += int(worker[2:]) % count * span
        high = low + span - 1
    rng = random.SystemRandom()
    socks = []
    try:
        for _ in range(200 * n):
            if len(socks) == n:
                break
            port = rng.randint(low, high)
            if port in _RECENT_PORTS:
                continue
            s = socket.socket(fam, socket.SOCK_STREAM)
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        if len(socks) < n:
            raise AssertionError('no %d free ports in %d-%d'
                                 % (n, low, high))
        ports = [s.getsockname()[1] for s in socks]
        _RECENT_PORTS.extend(ports)
        return ports
    finally:
        for s in socks:
            s.close()


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


def make_cert(path):
    """ECDSA P-256 self-signed cert + key in one PEM file."""
    key = path.with_suffix('.key.tmp')
    crt = path.with_suffix('.crt.tmp')
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'ec',
         '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256', '-nodes',
         '-keyout', str(key), '-out', str(crt), '-days', '1',
         '-subj', '/CN=localhost',
         '-addext', 'subjectAltName=DNS:localhost,DNS:*.localhost'],
        check=True, capture_output=True, timeout=30)
    path.write_bytes(crt.read_bytes() + key.read_bytes())
    key.unlink()
    crt.unlink()


# ---------------------------------------------------------------- daemon

class Ternd:
    """One ternd instance in directory d (config file d/tern.yml).
    storage='memory' runs it on the in-memory backend (nothing survives
    a restart; ternctl cannot add users to it: pass users=None to
    make_server and register in-band)."""

    def __init__(self, d, cert_pem, limits=None, log_level='debug',
                 storage='sqlite', domain=DOMAIN, s2s=None,
                 modules=('disco', 'ping', 'version', 'time', 'vcard',
                          'private', 'register', 'welcome',
                          'contact_info', 'roster', 'presence',
                          'offline', 'blocking', 'last', 'smacks',
                          'carbons', 'mam', 'csi', 'push', 'pep',
                          'avatar', 'bookmarks', 'adhoc')):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / 'certs').mkdir(exist_ok=True)
        (self.dir / 'certs' / ('%s.pem' % domain)).write_bytes(
            Path(cert_pem).read_bytes())
        self.config = self.dir / 'tern.yml'
        self.logfile = self.dir / 'ternd.log'
        self.domain = domain
        self.component = COMPONENT
        self.ipv6 = ipv6_loopback()
        (self.c2s, self.c2s_tls, self.component_port, self.s2s_port,
         self.s2s_tls_port) = free_ports(5)
        # the s2s: section's YAML mapping text; None: federation off
        # (the test machine has no DNS to rely on)
        self.s2s = s2s
        self.c2s6 = free_ports(1, '::1')[0] if self.ipv6 else None
        self.limits = {
            'c2s_stanza_size': '256k', 'unauth_stanza_size': '16k',
            'xml_depth': 64, 'xml_attrs': 64, 'unauth_timeout': '30s',
            'sasl_failures_per_ip': 10, 'sasl_retries': 3,
        }
        self.limits.update(limits or {})
        self.log_level = log_level
        self.storage = storage
        self.modules = list(modules)
        self.proc = None
        self._logf = None
        self.write_config()

    # -- configuration
    def config_text(self, extra=''):
        lim = ', '.join('%s: %s' % kv for kv in self.limits.items())
        lines = [
            'log_level: %s' % self.log_level,
            'control_socket: ternd.sock',
            'storage: { backend: %s, path: tern.db }' % self.storage,
            'tls: { cert_dir: certs, min_version: "1.2", '
            'c2s_require_tls: true }',
            'limits: { %s }' % lim,
            'listeners:',
            '  - { type: c2s, address: 127.0.0.1, port: %d }' % self.c2s,
            '  - { type: c2s_tls, address: 127.0.0.1, port: %d }'
            % self.c2s_tls,
        ]
        if self.ipv6:
            lines.append('  - { type: c2s, address: "::1", port: %d }'
                         % self.c2s6)
        lines += [
            '  - { type: component, address: 127.0.0.1, port: %d }'
            % self.component_port,
        ]
        if self.s2s is not None:
            lines.append('  - { type: s2s, address: 127.0.0.1, port: %d }'
                         % self.s2s_port)
            lines.append('  - { type: s2s_tls, address: 127.0.0.1, '
                         'port: %d }' % self.s2s_tls_port)
        lines += [
            'hosts:',
            '  - name: %s' % self.domain,
            '    modules: [%s]' % ', '.join(self.modules),
            'components:',
            '  - { name: %s, secret: %s }' % (COMPONENT, COMPONENT_SECRET),
            's2s: %s' % (self.s2s if self.s2s is not None
                         else '{ enabled: false }'),
        ]
        return '\n'.join(lines) + '\n' + extra

    def write_config(self, text=None):
        self.config.write_text(text if text is not None
                               else self.config_text())

    # -- processes
    def ternctl(self, *args, input=None):
        """Run ternctl; returns CompletedProcess (text, never raises on
        a non-zero exit)."""
        return subprocess.run(
            [str(BIN / 'ternctl'), '-c', str(self.config)] + list(args),
            input=input, capture_output=True, text=True, cwd=self.dir,
            timeout=30 * SLOW)

    def ternctl_ok(self, *args, input=None):
        r = self.ternctl(*args, input=input)
        assert r.returncode == 0, 'ternctl %s: exit %d\n%s%s' % (
            ' '.join(args), r.returncode, r.stdout, r.stderr)
        return r

    def add_users(self, users=USERS):
        for u in users:
            self.ternctl_ok('adduser', '%s@%s' % (u, self.domain),
                            password(u))

    def command(self):
        cmd = [str(BIN / 'ternd'), '-c', str(self.config)]
        if VALGRIND:
            cmd = ['valgrind', '--error-exitcode=99', '--leak-check=full',
                   '--errors-for-leak-kinds=definite'] + cmd
        return cmd

    def start(self):
        self._logf = open(self.logfile, 'ab')
        self.proc = subprocess.Popen(self.command(), cwd=self.dir,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=self._logf)
        ports = [self.c2s, self.c2s_tls, self.component_port]
        deadline = time.monotonic() + 10 * SLOW
        while ports:
            if self.proc.poll() is not None:
                raise AssertionError('ternd exited with %d while starting:\n%s'
                                     % (self.proc.returncode, self.log))
            if time.monotonic() > deadline:
                raise AssertionError('ternd not listening on %d after %ds:\n%s'
                                     % (ports[0], 10 * SLOW, self.log))
            try:
                socket.create_connection(('127.0.0.1', ports[0]),
                                         timeout=0.5).close()
                ports.pop(0)
            except OSError:
                time.sleep(0.05)
        return self

    def run_to_exit(self, timeout=10):
        """Run ternd expecting it to exit by itself (config errors);
        returns (exit code, stderr text)."""
        r = subprocess.run(self.command(), cwd=self.dir, capture_output=True,
                           text=True, timeout=timeout * SLOW)
        return r.returncode, r.stderr

    @property
    def pid(self):
        return self.proc.pid

    def signal(self, sig):
        self.proc.send_signal(sig)

    @property
    def log(self):
        try:
            return self.logfile.read_text(errors='replace')
        except FileNotFoundError:
            return ''

    def wait_log(self, text, timeout=5, start=0):
        """Wait until text appears in the log after offset start."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if text in self.log[start:]:
                return True
            time.sleep(0.05)
        return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, wait, and return a list of problems (empty: fine)."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                problems.append('ternd did not exit within %ds of SIGTERM'
                                % (10 * SLOW))
        rc = self.proc.returncode
        if rc < 0:
            problems.append('ternd died by signal %d' % -rc)
        elif rc != 0:
            problems.append('ternd exited with status %d' % rc)
        if self._logf:
            self._logf.close()
            self._logf = None
        log = self.log
        for mark in SANITIZER_MARKS:
            if mark in log:
                problems.append('ternd log contains %r' % mark)
        return problems


# ---------------------------------------------------------------- raw XMPP

class StreamClosed(Exception):
    """The peer closed the TCP connection."""


def client_tls_context(alpn=None, max_version=None, min_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if max_version:
        ctx.maximum_version = max_version
    if min_version:
        ctx.minimum_version = min_version
    return ctx


_D = object()  # "the stream's domain" as a default argument


class RawStream:
    """A hand-driven XMPP stream. Received top-level elements queue in
    self.pending; next() pops the first, wait_for() takes the first match
    and leaves the others queued. self.domain (default DOMAIN) is the
    server's domain that headers, SNI and pings name."""

    domain = DOMAIN

    # Every stream opened; conftest closes a test's streams after it.
    opened = []

    def __init__(self, port, host='127.0.0.1', timeout=TIMEOUT,
                 source=None):
        self.timeout = timeout
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        RawStream.opened.append(self)
        self.pending = deque()
        self.eof = False
        self.tls_version = None
        self.received = bytearray()  # every byte read (after TLS)
        self._reset()

    @classmethod
    def direct_tls(cls, port, sni=DOMAIN, alpn=('xmpp-client',), **kw):
        s = cls(port, **kw)
        s.wrap_tls(sni=sni, alpn=list(alpn) if alpn else None)
        return s

    def _reset(self):
        """A new XML stream: new parser, no root yet."""
        self.parser = ET.XMLPullParser(events=('start', 'end'))
        self.depth = 0
        self.root = None
        self.stream_closed = False  # saw </stream:stream>

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- bytes
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _pump(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError('no data from server within %.1fs'
                               % self.timeout)
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError,
                ssl.SSLZeroReturnError):
            data = b''
        except socket.timeout:
            raise TimeoutError('no data from server within %.1fs'
                               % self.timeout) from None
        if not data:
            self.eof = True
            raise StreamClosed('connection closed by server')
        self.received += data
        self.parser.feed(data)
        for ev, el in self.parser.read_events():
            if ev == 'start':
                self.depth += 1
                if self.depth == 1:
                    self.root = el
            else:
                if self.depth == 2:
                    self.pending.append(el)
                    self.root.remove(el)
                elif self.depth == 1:
                    self.stream_closed = True
                self.depth -= 1

    # -- elements
    def next(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.pending:
            if self.eof:
                raise StreamClosed('connection closed by server')
            self._pump(deadline)
        return self.pending.popleft()

    def wait_for(self, pred, timeout=None):
        """First queued or arriving element for which pred(el) is true."""
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = 0
        while True:
            for i in range(seen, len(self.pending)):
                if pred(self.pending[i]):
                    el = self.pending[i]
                    del self.pending[i]
                    return el
            seen = len(self.pending)
            if self.eof:
                raise StreamClosed('connection closed by server; queued: '
                                   + ' '.join(show(e) for e in self.pending))
            self._pump(deadline)

    def expect(self, tag, timeout=None):
        el = self.next(timeout)
        assert el.tag == tag, 'expected %s, got %s' % (tag, show(el))
        return el

    def nothing(self, within=0.5):
        """Assert no element arrives within the given time."""
        try:
            el = self.next(within)
        except TimeoutError:
            return
        raise AssertionError('unexpected element: %s' % show(el))

    def stream_error(self, timeout=None):
        """Read up to a stream error; returns its condition's local name
        (asserting the condition is in the streams namespace)."""
        el = self.wait_for(lambda e: e.tag == q(NS_STREAM, 'error'), timeout)
        conds = [c.tag for c in el if c.tag.startswith('{%s}' % NS_STREAMS)
                 and c.tag != q(NS_STREAMS, 'text')]
        assert len(conds) == 1, 'bad stream error: %s' % show(el)
        return conds[0].split('}')[1]

    def wait_closed(self, timeout=None):
        """Read until the server closes the connection; returns whether the
        server sent </stream:stream> before closing."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.eof:
            try:
                self._pump(deadline)
            except StreamClosed:
                break
        return self.stream_closed

    def assert_stream_error(self, *conditions, timeout=None):
        """The next stream error has one of conditions, is followed by
        </stream:stream> and the connection is closed."""
        cond = self.stream_error(timeout)
        assert cond in conditions, 'stream error %s, expected %s' % (
            cond, '/'.join(conditions))
        assert self.wait_closed(timeout), \
            'stream error not followed by </stream:stream>'
        return cond

    # -- stream set-up
    def header(self, to=_D, ns=NS_CLIENT, version='1.0', extra=''):
        if to is _D:
            to = self.domain
        attrs = ''
        if to is not None:
            attrs += ' to=%s' % quoteattr(to)
        if version is not None:
            attrs += ' version=%s' % quoteattr(version)
        return ("<?xml version='1.0'?><stream:stream xmlns=%s "
                "xmlns:stream='%s'%s%s>" % (quoteattr(ns), NS_STREAM,
                                             attrs, extra))

    def open(self, to=_D, ns=NS_CLIENT, version='1.0'):
        """Send a stream header, read the server's; returns the features
        element (for version 1.0) or None."""
        self._reset()
        self.send(self.header(to, ns, version))
        deadline = time.monotonic() + self.timeout
        while self.root is None:
            self._pump(deadline)
        assert self.root.tag == q(NS_STREAM, 'stream'), self.root.tag
        self.stream_id = self.root.get('id')
        if version is None or ns == NS_COMPONENT:
            return None
        return self.expect(q(NS_STREAM, 'features'))

    def wrap_tls(self, sni=_D, alpn=None, max_version=None, ctx=None,
                 session=None):
        """ctx: a client context of the caller's (to resume TLS with
        session, a previous connection's ssl.SSLSession)."""
        if sni is _D:
            sni = self.domain
        if ctx is None:
            ctx = client_tls_context(alpn, max_version)
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=sni,
                                    session=session)
        self.tls_version = self.sock.version()
        self._reset()

    def starttls(self, reopen=True, **kw):
        """STARTTLS; then the restarted stream's header unless reopen is
        false (the caller sends the next bytes itself)."""
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        self.expect(q(NS_TLS, 'proceed'))
        self.wrap_tls(**kw)
        return self.open() if reopen else None

    def peer_cert_der(self):
        return self.sock.getpeercert(binary_form=True)

    # -- SASL
    def auth(self, mech, initial=None):
        """Send <auth/> (auth_xml) and return the answer."""
        self.send(auth_xml(mech, initial))
        return self.next()

    def response(self, data):
        self.send("<response xmlns='%s'>%s</response>"
                  % (NS_SASL, b64(data) if data else ''))
        return self.next()

    def plain(self, user, pw, authzid=''):
        """SASL PLAIN; returns the <success/> or <failure/> element."""
        return self.auth('PLAIN', '%s\0%s\0%s' % (authzid, user, pw))

    def scram(self, mech, user, pw, cb_type=None, cb_data=b''):
        """A full SCRAM exchange; returns the final <success/> (server
        signature verified) or <failure/>."""
        sc = Scram(mech, user, pw, cb_type, cb_data)
        el = self.auth(mech, sc.client_first())
        if el.tag != q(NS_SASL, 'challenge'):
            return el
        el = self.response(sc.client_final(b64decode(el.text)))
        if el.tag == q(NS_SASL, 'challenge'):
            sc.verify(b64decode(el.text))
            el = self.response(b'')
            assert el.tag == q(NS_SASL, 'success'), show(el)
        elif el.tag == q(NS_SASL, 'success'):
            sc.verify(b64decode(el.text))
        return el

    def login(self, user, pw=None, resource=None, mech='SCRAM-SHA-256',
              direct=False):
        """From a fresh connection: (STARTTLS,) SASL, bind; returns the
        bound full JID."""
        if not direct:
            self.open()
            self.starttls()
        else:
            self.open()
        self.authenticate(user, pw, mech)
        return self.bind(resource)

    def authenticate(self, user, pw=None, mech='SCRAM-SHA-256'):
        pw = pw if pw is not None else password(user)
        if mech == 'PLAIN':
            el = self.plain(user, pw)
        else:
            el = self.scram(mech, user, pw)
        assert el.tag == q(NS_SASL, 'success'), show(el)
        self.features = self.open()
        return self.features

    def bind(self, resource=None):
        body = ('<resource>%s</resource>' % escape(resource)
                if resource is not None else '')
        iq = self.iq('set', "<bind xmlns='%s'>%s</bind>" % (NS_BIND, body))
        assert iq.get('type') == 'result', show(iq)
        self.jid = iq.find('%s/%s' % (q(NS_BIND, 'bind'),
                                      q(NS_BIND, 'jid'))).text
        return self.jid

    # -- stanzas
    def iq(self, type_, payload='', to=None, ns=NS_CLIENT, timeout=None):
        """Send an iq and return the response with the same id."""
        iq_id = secrets.token_hex(4)
        to_attr = ' to=%s' % quoteattr(to) if to else ''
        self.send("<iq type='%s' id='%s'%s>%s</iq>"
                  % (type_, iq_id, to_attr, payload))
        return self.wait_for(lambda e: e.tag == q(ns, 'iq')
                             and e.get('id') == iq_id, timeout)

    def ping(self, to=_D):
        """XEP-0199 ping; asserts a result."""
        if to is _D:
            to = self.domain
        r = self.iq('get', "<ping xmlns='%s'/>" % NS_PING, to=to)
        assert r.get('type') == 'result', show(r)

    def alive(self):
        """A round trip to the server: an iq answered (any type) proves
        the stream works and everything sent before was processed."""
        r = self.iq('get', "<ping xmlns='%s'/>" % NS_PING, to=self.domain)
        assert r.get('type') in ('result', 'error'), show(r)

    def presence(self, priority=None, extra=''):
        body = ('<priority>%d</priority>' % priority
                if priority is not None else '') + extra
        self.send('<presence>%s</presence>' % body)

    def message(self, to, body, type_='chat', extra_attrs=''):
        self.send("<message to=%s type='%s'%s><body>%s</body></message>"
                  % (quoteattr(to), type_, extra_attrs, escape(body)))

    def wait_message(self, ns=NS_CLIENT, timeout=None):
        return self.wait_for(lambda e: e.tag == q(ns, 'message'), timeout)


def auth_xml(mech, initial=None):
    """An RFC 6120 <auth/>; initial is raw bytes/str (None: no payload,
    '' : '=')."""
    if initial is None:
        body = ''
    elif initial in ('', b''):
        body = '='
    else:
        body = b64(initial)
    return "<auth xmlns='%s' mechanism=%s>%s</auth>" % (
        NS_SASL, quoteattr(mech), body)


def authenticate_xml(mech, initial, extra='', uaid=None):
    """A XEP-0388 (SASL2) <authenticate/>: initial raw bytes/str or None,
    uaid the user-agent id (none if None), extra inside (Bind 2, ...)."""
    ua = ("<user-agent id=%s><software>tern-test</software></user-agent>"
          % quoteattr(uaid) if uaid else '')
    init = ('<initial-response>%s</initial-response>' % b64(initial)
            if initial is not None else '')
    return ("<authenticate xmlns='%s' mechanism=%s>%s%s%s</authenticate>"
            % (NS_SASL2, quoteattr(mech), init, ua, extra))


def b64decode(text):
    return base64.b64decode(text or '')


def stanza_error(el):
    """The defined condition of a stanza error (local name) and its type."""
    err = el.find(q(el.tag.split('}')[0][1:], 'error'))
    assert err is not None, 'no <error/> in %s' % show(el)
    conds = [c.tag.split('}')[1] for c in err
             if c.tag.startswith('{%s}' % NS_STANZAS)
             and c.tag != q(NS_STANZAS, 'text')]
    assert len(conds) == 1, 'bad stanza error: %s' % show(el)
    return conds[0]


def sasl_failure(el):
    """Local name of a SASL <failure/>'s condition."""
    assert el.tag == q(NS_SASL, 'failure'), 'expected failure: %s' % show(el)
    conds = [c.tag.split('}')[1] for c in el if c.tag != q(NS_SASL, 'text')]
    assert len(conds) == 1, show(el)
    return conds[0]


def connect_tls(port, user=None, resource=None, domain=DOMAIN, **kw):
    """A STARTTLS stream up to the post-TLS features (or logged in and
    bound, to resource if given, when user is given)."""
    s = RawStream(port, **kw)
    s.domain = domain
    s.open()
    s.features = s.starttls()
    if user:
        s.authenticate(user)
        s.bind(resource)
    return s


def online(server, user, resource='r'):
    """A raw stream logged in (STARTTLS, SCRAM, bind) as user that sent
    initial presence and had it processed."""
    s = connect_tls(server.c2s, user, resource, domain=server.domain)
    s.presence()
    s.alive()
    return s


def subscribe_mutually(server, x='alice', y='bob'):
    """x and y subscribe to each other (RFC 6121 §3) from two streams that
    never become available; both streams are closed cleanly before this
    returns, so the server has finished with them."""
    a = connect_tls(server.c2s, x)
    b = connect_tls(server.c2s, y)
    xj, yj = '%s@%s' % (x, server.domain), '%s@%s' % (y, server.domain)
    for p, r, rj, pj in ((a, b, yj, xj), (b, a, xj, yj)):
        p.send("<presence type='subscribe' to='%s'/>" % rj)
        p.alive()
        r.send("<presence type='subscribed' to='%s'/>" % pj)
        r.alive()
        p.alive()
    for s in (a, b):
        s.send('</stream:stream>')
        s.wait_closed()


# ---------------------------------------------------------------- SCRAM

class Scram:
    """A SCRAM client (RFC 5802, RFC 7677) with channel binding."""

    def __init__(self, mech, user, pw, cb_type=None, cb_data=b''):
        name = mech.upper()
        self.plus = name.endswith('-PLUS')
        self.hash = {'SCRAM-SHA-1': 'sha1', 'SCRAM-SHA-256': 'sha256',
                     'SCRAM-SHA-512': 'sha512'}[name.replace('-PLUS', '')]
        self.user = user.replace('=', '=3D').replace(',', '=2C')
        self.pw = pw.encode()
        self.gs2 = ('p=%s,,' % cb_type if self.plus else 'n,,').encode()
        self.cb_data = cb_data if self.plus else b''
        self.cnonce = b64(secrets.token_bytes(18))

    def client_first(self):
        self.first_bare = 'n=%s,r=%s' % (self.user, self.cnonce)
        return self.gs2 + self.first_bare.encode()

    def _hmac(self, key, msg):
        return hmac.new(key, msg, self.hash).digest()

    def client_final(self, server_first):
        attrs = dict(kv.split('=', 1)
                     for kv in server_first.decode().split(','))
        nonce, salt, iters = attrs['r'], b64decode(attrs['s']), int(attrs['i'])
        assert nonce.startswith(self.cnonce), 'server nonce lacks ours'
        salted = hashlib.pbkdf2_hmac(self.hash, self.pw, salt, iters)
        client_key = self._hmac(salted, b'Client Key')
        stored = hashlib.new(self.hash, client_key).digest()
        without_proof = 'c=%s,r=%s' % (b64(self.gs2 + self.cb_data), nonce)
        self.auth_message = ('%s,%s,%s' % (self.first_bare,
                                           server_first.decode(),
                                           without_proof)).encode()
        sig = self._hmac(stored, self.auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        server_key = self._hmac(salted, b'Server Key')
        self.server_sig = self._hmac(server_key, self.auth_message)
        return ('%s,p=%s' % (without_proof, b64(proof))).encode()

    def verify(self, server_final):
        attrs = dict(kv.split('=', 1)
                     for kv in server_final.decode().split(','))
        assert 'v' in attrs, 'server-final without v=: %r' % server_final
        assert b64decode(attrs['v']) == self.server_sig, \
            'server signature mismatch'


def tls_server_end_point(der):
    """RFC 5929 §4.1 for a SHA-256 (or MD5/SHA-1) signed certificate."""
    return hashlib.sha256(der).digest()


# ---------------------------------------------------------------- slixmpp

def _slixmpp():
    import slixmpp  # noqa: imported late so that pure raw tests run without
    return slixmpp


class Session:
    """slixmpp clients sharing one asyncio loop; created in run()."""

    def __init__(self, server):
        self.server = server
        self.clients = []

    async def login(self, user, resource=None, mech='SCRAM-SHA-256',
                    direct_tls=False, priority=None, pw=None,
                    plugins=('xep_0030', 'xep_0199', 'xep_0092',
                             'xep_0202'), port=None, address='127.0.0.1',
                    default_creds=False):
        """Log a slixmpp client in (STARTTLS by default); waits for
        session_start; sends initial presence with priority if given.
        mech None: slixmpp picks; default_creds: slixmpp's own SASL
        callback (tls-unique binding and the 'y' flag), as poezio."""
        slixmpp = _slixmpp()
        jid = '%s@%s' % (user, self.server.domain)
        if resource:
            jid += '/' + resource
        pw = pw if pw is not None else password(user)

        def creds(required, optional):
            # slixmpp's own callback adds tls-unique channel-binding data
            # and then sends the 'y' flag for non-PLUS SCRAM, which a server
            # offering -PLUS must refuse (RFC 5802 §6). Leave it out.
            values = {'username': user, 'password': pw,
                      'host': self.server.domain,
                      'realm': self.server.domain,
                      'service-name': self.server.domain,
                      'service': 'xmpp'}
            return {k: v for k, v in values.items()
                    if k in required | optional}

        fm = {} if default_creds else {'sasl_callback': creds}
        if mech:
            fm['use_mech'] = mech
        xmpp = slixmpp.ClientXMPP(jid, pw, plugin_config={
            'feature_mechanisms': fm})
        xmpp.ssl_context.check_hostname = False
        xmpp.ssl_context.verify_mode = ssl.CERT_NONE
        if direct_tls:
            xmpp.ssl_context.set_alpn_protocols(['xmpp-client'])
        xmpp.whitespace_keepalive = False
        xmpp.auto_reconnect = False
        for p in plugins:
            xmpp.register_plugin(p)
        xmpp.inbox = asyncio.Queue()
        xmpp.errors = asyncio.Queue()
        xmpp.add_event_handler('message', xmpp.inbox.put_nowait)
        xmpp.add_event_handler('message_error', xmpp.errors.put_nowait)
        loop = asyncio.get_running_loop()
        started = loop.create_future()
        lost = loop.create_future()

        def done(fut, value):
            if not fut.done():
                fut.set_result(value)

        xmpp.add_event_handler('session_start', lambda _: done(started, True))
        xmpp.add_event_handler('failed_all_auth',
                               lambda _: done(started, 'auth failed'))
        xmpp.add_event_handler('disconnected',
                               lambda _: done(started, 'disconnected'))
        xmpp.add_event_handler('disconnected', lambda _: done(lost, True))
        xmpp.add_event_handler('stream_error',
                               lambda e: done(started, 'stream error %s'
                                              % e['condition']))
        xmpp.lost = lost

        # Connect by name (SNI, stream 'to'), resolve to the loopback.
        async def records(domain, port=None, _addr=address):
            return [(_addr, _addr, port)]
        xmpp.get_dns_records = records
        xmpp.default_domain = self.server.domain
        if port is None:
            port = self.server.c2s_tls if direct_tls else self.server.c2s
        self.clients.append(xmpp)
        xmpp.connect((self.server.domain, port), use_ssl=direct_tls,
                     force_starttls=not direct_tls)
        try:
            res = await asyncio.wait_for(started, 10 * SLOW)
        except asyncio.TimeoutError:
            res = 'no session_start within %ds' % (10 * SLOW)
        assert res is True, '%s login failed: %s' % (jid, res)
        if priority is not None:
            xmpp.send_presence(ppriority=priority)
            await self.sync(xmpp)
        return xmpp

    async def sync(self, xmpp):
        """Round trip to the server: everything xmpp sent before has been
        processed once this returns."""
        await xmpp['xep_0199'].ping(jid=self.server.domain,
                                    timeout=TIMEOUT)

    async def close(self):
        for c in self.clients:
            if c.transport:
                c.disconnect(wait=0.5)
        for c in self.clients:
            try:
                await asyncio.wait_for(asyncio.shield(c.lost), 3 * SLOW)
            except asyncio.TimeoutError:
                c.abort()


def run(server, scenario, timeout=40):
    """Run `async def scenario(session)` in a fresh loop; clients are
    disconnected afterwards."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sess = Session(server)

    async def main():
        try:
            return await asyncio.wait_for(scenario(sess), timeout * SLOW)
        finally:
            await sess.close()
    try:
        return loop.run_until_complete(main())
    finally:
        tasks = asyncio.all_tasks(loop)
        for t in tasks:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*tasks,
                                               return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)


async def recv(queue, timeout=TIMEOUT):
    return await asyncio.wait_for(queue.get(), timeout)


async def no_message(queue, within=1.0):
    try:
        m = await asyncio.wait_for(queue.get(), within)
    except asyncio.TimeoutError:
        return
    raise AssertionError('unexpected message: %s' % m)

"""Federation test harness: real Prosody and ejabberd on the loopback.

Everything runs as the current user from a temporary directory, on free
loopback ports, and is torn down after the test module:

- Pki: a test CA and leaf certificates (subjectAltName dNSName for the
  domain and *.domain; the XMPP id-on-xmppAddr otherName of RFC 6120
  section 13.7.1.4 on request, see Pki.leaf for why not by default),
  made with the openssl command line tool.
- Unbound: an unbound(8) instance serving the zone `test.`: A records for
  every domain and _xmpp-server._tcp / _xmpps-server._tcp SRV records
  (RFC 6120 section 3.2.1, XEP-0368) for every domain and its
  conference subdomain. Records can be changed while it runs
  (add_records, set_srv: through unbound-control over a Unix socket).
- Prosody (b.test) and Ejabberd (c.test): started with their own config,
  data and log under the temp dir, trusting only the test CA, resolving
  through the unbound instance, with c2s/s2s on free ports.
- Federation: the three together, plus the ports reserved for Tern's
  a.test (s2s and Direct TLS s2s), and client login helpers that verify
  the servers' certificates against the test CA.

SRV targets are `localhost.`, not `b.test.`: ejabberd (p1_xmpp) asks
inet_res for SRV records but resolves the target with getaddrinfo(3),
which only knows /etc/hosts and the system resolver. A records for the
domains themselves exist for the A/AAAA fallback of RFC 6120 section
3.2.2 (Prosody and Tern resolve through unbound for both).

Bind the fixtures in a test module to use them:

    federation = fedlib.federation  # module scope, certificates only
    make_federation = fedlib.make_federation  # factory, per test
"""
import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import ternlib
from ternlib import SLOW, free_ports

TERN_DOMAIN = 'a.test'
PROSODY_DOMAIN = 'b.test'
EJABBERD_DOMAIN = 'c.test'
USERS = ('alice', 'bob')
XMPP_ADDR_OID = '1.3.6.1.5.5.7.8.5'  # id-on-xmppAddr, RFC 6120 13.7.1.4


def _ejabberd_libs():
    """Debian's ERL_LIBS for ejabberd (/usr/lib/<triplet>)."""
    for beam in sorted(Path('/usr/lib').glob(
            '*/ejabberd-*/ebin/ejabberd_s2s_out.beam')):
        return beam.parents[2]
    return None


EJABBERD_LIBS = _ejabberd_libs()
START_TIMEOUT = 30 * SLOW  # ejabberd takes ~2 s alone, more when busy


def missing():
    """Why the federation tests cannot run here (None: they can)."""
    need = ('prosody', 'prosodyctl', 'erl', 'unbound', 'unbound-control',
            'openssl')
    lost = [n for n in need if shutil.which(n, path=os.environ.get(
        'PATH', '') + ':/usr/sbin:/sbin') is None]
    if EJABBERD_LIBS is None or not list(
            EJABBERD_LIBS.glob('ejabberd-*/ebin/ejabberd_s2s_out.beam')):
        lost.append('ejabberd')
    if not list(Path('/usr/lib').glob('*/lua/*/lunbound.so')):
        lost.append('lua-unbound')
    if not lost:
        return None
    return ('federation tests need %s (run scripts/deps.sh as root)'
            % ', '.join(lost))


def which(name):
    return shutil.which(name, path=os.environ.get('PATH', '') +
                        ':/usr/sbin:/sbin') or name


def _run(cmd, **kw):
    kw.setdefault('timeout', 30 * SLOW)
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError('%s: exit %d\n%s%s' % (
            ' '.join(map(str, cmd)), r.returncode, r.stdout, r.stderr))
    return r


def wait_port(port, proc, what, log=None, timeout=START_TIMEOUT):
    """Wait until something accepts TCP on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError('%s exited with %d while starting%s' % (
                what, proc.returncode, _tail(log)))
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError('%s not listening on %d after %ds%s' % (
                what, port, timeout, _tail(log)))
        time.sleep(0.1)


def _tail(path, n=3000):
    if path is None:
        return ''
    try:
        return ':\n' + Path(path).read_text(errors='replace')[-n:]
    except OSError:
        return ''


def _stop(proc, what, timeout=10 * SLOW, stuck=None):
    """SIGTERM, bounded wait, then SIGKILL. Returns a problem or None.
    stuck, if given, is asked every 0.2 s while waiting: when it returns
    true the process is known never to finish its shutdown (a bug of that
    program, not of Tern), and it is killed at once without a problem."""
    if proc is None or proc.poll() is not None:
        return None
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            proc.wait(0.2)
            return None
        except subprocess.TimeoutExpired:
            pass
        if stuck is not None and stuck():
            proc.kill()
            proc.wait(10)
            return None
    proc.kill()
    proc.wait(10)
    return '%s did not exit within %ds of SIGTERM' % (what, timeout)


# ---------------------------------------------------------------- PKI

class Pki:
    """A test CA in d/ca.crt and leaf certificates signed by it."""

    def __init__(self, d):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = self.dir / 'ca.crt'
        self.ca_key = self.dir / 'ca.key'
        _run(['openssl', 'req', '-x509', '-newkey', 'ec',
              '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256',
              '-nodes', '-keyout', str(self.ca_key), '-out', str(self.ca),
              '-days', '30', '-subj', '/O=Tern tests/CN=Tern test CA',
              '-addext', 'basicConstraints=critical,CA:TRUE',
              '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])

    def leaf(self, domain, names=None, xmpp_addr=False, tag=''):
        """Key and certificate for domain (plus *.domain, so that
        conference.domain is covered): returns (crt, key) paths; the .pem
        beside them holds certificate, CA and key in one file.

        xmpp_addr adds id-on-xmppAddr otherNames (RFC 6120 13.7.1.4) for
        the non-wildcard names. Off by default: ejabberd 23.01 (p1_xmpp
        1.6.1, still so upstream) crashes its incoming s2s session on
        SASL EXTERNAL when the peer's certificate has an xmppAddr that is
        a bare domain (xmpp_stream_pkix:get_domains_from_san returns a
        binary inside lists:flatmap: badarg), so such a certificate can
        never authenticate to ejabberd. tag names a second certificate
        for the same domain (files <domain><tag>.crt/.key/.pem)."""
        crt = self.dir / (domain + tag + '.crt')
        key = self.dir / (domain + tag + '.key')
        if crt.exists():
            return crt, key
        csr = self.dir / (domain + tag + '.csr')
        ext = self.dir / (domain + tag + '.ext')
        names = names or [domain, '*.' + domain]
        san = ['DNS:' + n for n in names]
        if xmpp_addr:
            san += ['otherName:%s;UTF8:%s' % (XMPP_ADDR_OID, n)
                    for n in names if not n.startswith('*')]
        ext.write_text(
            'basicConstraints = critical,CA:FALSE\n'
            'keyUsage = critical,digitalSignature,keyAgreement\n'
            'extendedKeyUsage = serverAuth,clientAuth\n'
            'subjectAltName = %s\n' % ','.join(san))
        _run(['openssl', 'req', '-new', '-newkey', 'ec',
              '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
              '-keyout', str(key), '-out', str(csr), '-subj',
              '/CN=' + domain])
        _run(['openssl', 'x509', '-req', '-in', str(csr), '-sha256',
              '-CA', str(self.ca), '-CAkey', str(self.ca_key),
              '-set_serial', str(int.from_bytes(os.urandom(8), 'big')),
              '-days', '30', '-extfile', str(ext), '-out', str(crt)])
        self.pem(domain, tag).write_bytes(
            crt.read_bytes() + self.ca.read_bytes() + key.read_bytes())
        csr.unlink()
        ext.unlink()
        return crt, key

    def pem(self, domain, tag=''):
        return self.dir / (domain + tag + '.pem')

    def self_signed(self, domain):
        """A certificate for domain that the test CA did not sign (for
        tests of untrusted peers): returns (crt, key)."""
        crt = self.dir / (domain + '.untrusted.crt')
        key = self.dir / (domain + '.untrusted.key')
        _run(['openssl', 'req', '-x509', '-newkey', 'ec',
              '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256',
              '-nodes', '-keyout', str(key), '-out', str(crt), '-days', '30',
              '-subj', '/CN=' + domain,
              '-addext', 'subjectAltName=DNS:%s,DNS:*.%s' % (domain, domain)])
        return crt, key


# ---------------------------------------------------------------- DNS

class Unbound:
    """unbound(8) answering for the zone `test.` on 127.0.0.1:port (UDP
    and TCP), and localhost through unbound's built-in zone. (A
    `local-zone: "." refuse` to stop recursion would also hide every
    local-data record: unbound 1.17 then drops its default zones and
    the test zone's data alike.)"""

    def __init__(self, d):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / 'unbound.conf'
        self.logfile = self.dir / 'unbound.log'
        self.sock = self.dir / 'control.sock'
        self.port = _free_udp_tcp_port()
        self.records = []
        self.proc = None
        self._logf = None

    @property
    def address(self):
        """The resolver as libunbound's ub_ctx_set_fwd takes it."""
        return '127.0.0.1@%d' % self.port

    def add_domain(self, domain, s2s_port, s2s_tls_port=None,
                   target='localhost.'):
        """A records for domain and conference.domain, and SRV records
        for their s2s ports (see set_srv)."""
        self.add_records(['%s. 60 IN A 127.0.0.1' % name
                          for name in (domain, 'conference.' + domain)])
        self.set_srv(domain, s2s_port, s2s_tls_port, target)

    def set_srv(self, domain, s2s_port, s2s_tls_port=None,
                target='localhost.'):
        """Set (or replace) the SRV records of domain and
        conference.domain: _xmpp-server._tcp at s2s_port, priority 10,
        and _xmpps-server._tcp (XEP-0368) at s2s_tls_port, priority 0.
        Peers merge both sets and take the lowest priority first (with
        equal priorities they pick by weight, at random), so Direct TLS
        is tried first and STARTTLS is the fallback. Replace records
        before any peer looked them up: peers cache them for the TTL."""
        names = []
        for name in (domain, 'conference.' + domain):
            names += ['_xmpp-server._tcp.%s.' % name,
                      '_xmpps-server._tcp.%s.' % name]
        self.records = [r for r in self.records
                        if r.split(' ', 1)[0] not in names]
        if self.proc is not None:
            for n in names:
                self.control('local_data_remove', n)
        recs = []
        for name in (domain, 'conference.' + domain):
            recs.append('_xmpp-server._tcp.%s. 60 IN SRV 10 5 %d %s'
                        % (name, s2s_port, target))
            if s2s_tls_port:
                recs.append('_xmpps-server._tcp.%s. 60 IN SRV 0 5 %d %s'
                            % (name, s2s_tls_port, target))
        self.add_records(recs)

    def add_records(self, recs):
        """Add records (zone file lines, absolute names); at once if
        unbound runs."""
        self.records += recs
        if self.proc is not None:
            for r in recs:
                self.control('local_data', r)

    def control(self, *args):
        return _run([which('unbound-control'), '-c', str(self.conf)]
                    + list(args), timeout=10 * SLOW)

    def write_config(self):
        lines = [
            'server:',
            '  interface: 127.0.0.1',
            '  port: %d' % self.port,
            '  do-ip6: no',
            '  do-daemonize: no',
            '  username: ""',
            '  chroot: ""',
            '  directory: "%s"' % self.dir,
            '  pidfile: "%s/unbound.pid"' % self.dir,
            '  logfile: ""',
            '  use-syslog: no',
            '  use-systemd: no',
            '  verbosity: 1',
            '  log-queries: yes',
            '  num-threads: 1',
            '  so-reuseport: no',
            '  access-control: 127.0.0.0/8 allow',
            '  local-zone: "test." static',
            # SRV targets are localhost.: IPv4 only, so that no peer
            # tries ::1 (where nothing listens) first
            '  local-zone: "localhost." static',
            '  local-data: "localhost. 60 IN A 127.0.0.1"',
        ]
        lines += ['  local-data: "%s"' % r for r in self.records]
        lines += [
            'remote-control:',
            '  control-enable: yes',
            '  control-interface: "%s"' % self.sock,
            '  control-use-cert: no',
        ]
        self.conf.write_text('\n'.join(lines) + '\n')

    def start(self):
        self.write_config()
        _run([which('unbound-checkconf'), str(self.conf)])
        self._logf = open(self.logfile, 'ab')
        self.proc = subprocess.Popen(
            [which('unbound'), '-d', '-c', str(self.conf)], cwd=self.dir,
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=self._logf)
        wait_port(self.port, self.proc, 'unbound', self.logfile,
                  timeout=10 * SLOW)
        return self

    def stop(self):
        p = _stop(self.proc, 'unbound')
        if self._logf:
            self._logf.close()
            self._logf = None
        return [p] if p else []


def _free_udp_tcp_port():
    """A port free for both TCP and UDP on 127.0.0.1."""
    for _ in range(50):
        port = free_ports(1)[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(('127.0.0.1', port))
            except OSError:
                continue
        return port
    raise AssertionError('no free UDP+TCP port')


# ---------------------------------------------------------------- servers

class Server:
    """What both servers share: directory, ports, users, log."""
    name = 'server'

    def __init__(self, d, domain, pki, dns, secure=True, dialback=False,
                 trusted=True, direct_tls=True):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.domain = domain
        self.muc = 'conference.' + domain
        self.pki = pki
        self.dns = dns
        self.secure = secure
        self.dialback = dialback
        self.trusted = trusted
        self.c2s, self.s2s, self.s2s_tls, self.http = free_ports(4)
        if trusted:
            self.crt, self.key = pki.leaf(domain)
        else:
            self.crt, self.key = pki.self_signed(domain)
        self.pem = self.dir / (domain + '.pem')
        self.pem.write_bytes(self.crt.read_bytes() + self.key.read_bytes())
        self.proc = None
        self._logf = None
        self.stdout = self.dir / (self.name + '.stdout')
        dns.add_domain(domain, self.s2s, self.s2s_tls if direct_tls else None)

    def jid(self, user):
        return '%s@%s' % (user, self.domain)

    @property
    def log(self):
        try:
            return self.logfile.read_text(errors='replace')
        except OSError:
            return ''

    def wait_log(self, text, timeout=10):
        """Wait until text appears in the log (ejabberd writes its log
        with a delay: a line may show up well after the event)."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            if text in self.log:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def _popen(self, cmd, env=None):
        self._logf = open(self.stdout, 'ab')
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(cmd, cwd=self.dir, env=e,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=self._logf,
                                     start_new_session=True)

    def shutdown_stuck(self):
        """Whether the log shows a shutdown that can never finish."""
        return False

    def stop(self):
        # an Erlang node under a loaded CI machine can take more than
        # ten seconds to stop: the peers get longer than ternd does
        p = _stop(self.proc, self.name, timeout=30 * SLOW,
                  stuck=self.shutdown_stuck)
        if self._logf:
            self._logf.close()
            self._logf = None
        return [p] if p else []


def _lua(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return '{ %s }' % '; '.join(_lua(x) for x in v)
    if isinstance(v, dict):
        return '{ %s }' % '; '.join('[%s] = %s' % (_lua(k), _lua(x))
                                     for k, x in v.items())
    return '"%s"' % str(v).replace('\\', '\\\\').replace('"', '\\"')


class Prosody(Server):
    """Prosody 0.12 for one domain (default b.test) with a MUC service on
    conference.<domain>. secure: s2s_secure_auth (peers must present a
    certificate valid for their domain); dialback: load mod_dialback
    (XEP-0220) as the fallback; trusted=False: a self-signed certificate
    that no peer trusts."""
    name = 'prosody'

    def __init__(self, d, domain=PROSODY_DOMAIN, **kw):
        super().__init__(d, domain, **kw)
        self.config = self.dir / 'prosody.cfg.lua'
        self.logfile = self.dir / 'prosody.log'
        self.data = self.dir / 'data'
        self.data.mkdir(exist_ok=True)
        certs = self.dir / 'certs'
        certs.mkdir(exist_ok=True)
        for ext, src in (('crt', self.crt), ('key', self.key)):
            (certs / ('%s.%s' % (domain, ext))).write_bytes(
                Path(src).read_bytes())
        self.extra = ''

    def config_text(self):
        g = {
            'run_as_root': True,  # ignored unless started as root
            'daemonize': False,
            'pidfile': str(self.dir / 'prosody.pid'),
            'data_path': str(self.data),
            'admin_socket': str(self.dir / 'admin.sock'),
            'interfaces': ['127.0.0.1'],
            'local_interfaces': ['127.0.0.1'],
            'c2s_ports': [self.c2s],
            's2s_ports': [self.s2s],
            'c2s_direct_tls_ports': [],
            's2s_direct_tls_ports': [self.s2s_tls],
            'http_ports': [],
            'https_ports': [],
            'component_ports': [],
            'certificates': str(self.dir / 'certs'),
            'ssl': {'cafile': str(self.pki.ca)},
            'c2s_require_encryption': True,
            's2s_require_encryption': True,
            's2s_secure_auth': self.secure,
            'authentication': 'internal_hashed',
            'storage': 'internal',
            'allow_registration': False,
            # net.unbound (lua-unbound): only the test resolver, no
            # /etc/resolv.conf, no /etc/hosts, no DNSSEC trust anchor;
            # libunbound answers NXDOMAIN for test. itself (an RFC 6761
            # default zone) unless that zone is made transparent
            'unbound': {'resolvconf': False, 'hoststxt': False,
                        'forward': [self.dns.address],
                        'options': {'local-zone:': 'test. transparent'}},
            'modules_enabled': ['roster', 'saslauth', 'tls', 'disco',
                                'ping', 'pep', 'private', 'vcard4',
                                'carbons', 'time', 'version', 'blocklist',
                                's2s_bidi']
            + (['dialback'] if self.dialback else []),
            'modules_disabled': [] if self.dialback else ['dialback'],
            'log': [{'levels': {'min': 'debug'}, 'to': 'file',
                     'filename': str(self.logfile)}],
        }
        text = ''.join('%s = %s\n' % (k, _lua(v)) for k, v in g.items())
        text += self.extra
        text += '\nVirtualHost %s\n' % _lua(self.domain)
        text += '\nComponent %s "muc"\n' % _lua(self.muc)
        return text

    def shutdown_stuck(self):
        """Prosody 0.12.3 never exits when SIGTERM arrives while an
        incoming s2s connection is still being set up (Tern's last
        connection attempt, say): mod_s2s's server-stopping hook calls
        session:close on a session that has none yet, the error kills
        the shutdown runner, and the process idles until SIGKILL. Seen
        once in three runs of test_secure_auth_refuses_untrusted_peer."""
        log = self.log
        at = log.rfind('Received SIGTERM')
        return at >= 0 and "attempt to call a nil value (method 'close')" \
            in log[at:]

    def prosodyctl(self, *args):
        return _run([which('prosodyctl'), '--config', str(self.config)]
                    + list(args), cwd=self.dir)

    def register(self, user, pw):
        self.prosodyctl('register', user, self.domain, pw)

    def start(self, users=USERS):
        self.config.write_text(self.config_text())
        for u in users:
            self.register(u, ternlib.password(u))
        self._popen([which('prosody'), '-F', '--config', str(self.config)])
        for port in (self.c2s, self.s2s):
            wait_port(port, self.proc, 'prosody', self.logfile)
        return self


def inetrc(port):
    """An ERL_INETRC for inet_res (ejabberd's SRV lookups) asking only
    127.0.0.1@port. The resolv_conf line must come first: by default
    inet_db (re)reads /etc/resolv.conf before each query and replaces the
    nameserver list with it; /dev/null makes that list empty, and the
    nameserver line after it then stays."""
    return ('{resolv_conf, "/dev/null"}.\n'
            '{nameserver, {127,0,0,1}, %d}.\n'
            '{lookup, [file, dns]}.\n' % port)


class Ejabberd(Server):
    """ejabberd 23.01 for one domain (default c.test), run straight from
    erl (ejabberdctl insists on root or the ejabberd user, and su's to
    it), as a non-distributed node: no epmd, no node name. Users are
    registered through mod_http_api on a loopback port. dialback: load
    mod_s2s_dialback; without it only SASL EXTERNAL authenticates (so
    secure is implied); trusted as for Prosody."""
    name = 'ejabberd'

    def __init__(self, d, domain=EJABBERD_DOMAIN, **kw):
        super().__init__(d, domain, **kw)
        self.config = self.dir / 'ejabberd.yml'
        self.logdir = self.dir / 'log'
        self.logdir.mkdir(exist_ok=True)
        self.logfile = self.logdir / 'ejabberd.log'
        self.spool = self.dir / 'spool'
        self.spool.mkdir(exist_ok=True)
        self.inetrc = self.dir / 'inetrc'
        self.extra = ''

    def config_text(self):
        modules = {
            'mod_roster': '{}', 'mod_disco': '{}', 'mod_ping': '{}',
            'mod_caps': '{}', 'mod_pubsub': '{plugins: [flat, pep]}',
            'mod_private': '{}', 'mod_vcard': '{}', 'mod_carboncopy': '{}',
            'mod_time': '{}', 'mod_version': '{}', 'mod_blocking': '{}',
            'mod_privacy': '{}',
            'mod_muc': '{host: "%s"}' % self.muc,
            'mod_http_api': '{}',
        }
        if self.dialback:
            modules['mod_s2s_dialback'] = '{}'
        y = [
            'hosts: ["%s"]' % self.domain,
            'loglevel: info',
            'log_rotate_count: 0',
            'certfiles: ["%s"]' % self.pem,
            'ca_file: "%s"' % self.pki.ca,
            'acme: {auto: false}',
            'auth_method: internal',
            'default_db: mnesia',
            's2s_use_starttls: required',
            's2s_access: all',
            'outgoing_s2s_families: [ipv4]',
            's2s_dns_timeout: %d' % (5 * SLOW),
            's2s_dns_retries: 1',
            'listen:',
            '  - {port: %d, ip: "127.0.0.1", module: ejabberd_c2s, '
            'starttls_required: true}' % self.c2s,
            '  - {port: %d, ip: "127.0.0.1", module: ejabberd_s2s_in}'
            % self.s2s,
            '  - {port: %d, ip: "127.0.0.1", module: ejabberd_s2s_in, '
            'tls: true}' % self.s2s_tls,
            '  - {port: %d, ip: "127.0.0.1", module: ejabberd_http, '
            'request_handlers: {"/api": mod_http_api}}' % self.http,
            'api_permissions:',
            '  "loopback":',
            '    from: [mod_http_api]',
            '    who: {ip: 127.0.0.1/8}',
            '    what: ["*"]',
            'modules:',
        ]
        y += ['  %s: %s' % kv for kv in modules.items()]
        return '\n'.join(y) + '\n' + self.extra

    def env(self):
        return {
            'ERL_LIBS': str(EJABBERD_LIBS),
            'EJABBERD_CONFIG_PATH': str(self.config),
            'EJABBERD_LOG_PATH': str(self.logfile),
            'ERL_INETRC': str(self.inetrc),
            'ERL_CRASH_DUMP': str(self.logdir / 'erl_crash.dump'),
            'ERL_CRASH_DUMP_BYTES': '0',
            'HOME': str(self.dir),
        }

    def start(self, users=USERS):
        self.config.write_text(self.config_text())
        self.inetrc.write_text(inetrc(self.dns.port))
        self._popen([which('erl'), '-noinput', '-noshell',
                     '-mnesia', 'dir', '"%s"' % self.spool,
                     '-s', 'ejabberd'], env=self.env())
        for port in (self.http, self.c2s, self.s2s):
            wait_port(port, self.proc, 'ejabberd', self.logfile)
        for u in users:
            self.register(u, ternlib.password(u))
        return self

    def api(self, command, **args):
        req = urllib.request.Request(
            'http://127.0.0.1:%d/api/%s' % (self.http, command),
            data=json.dumps(args).encode(), method='POST',
            headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
            return json.loads(r.read() or b'null')

    def register(self, user, pw):
        self.api('register', user=user, host=self.domain, password=pw)


# ---------------------------------------------------------------- together

class Federation:
    """CA, DNS, Prosody (b.test) and ejabberd (c.test) in directory d,
    and what Tern's a.test needs: the ports reserved for it (tern_s2s,
    tern_s2s_tls; their SRV records are in the zone from the start), its
    certificate (tern_crt, tern_key; tern_pem holds both) and the CA
    (pki.ca) to trust.

    secure, dialback and direct_tls (publish _xmpps-server SRV records)
    apply to both servers unless prosody= or
    ejabberd= (dicts of Server keyword arguments) say otherwise, e.g.
    Federation(d, secure=False, dialback=True,
               ejabberd={'trusted': False}).
    peers: the names of the servers to start (both by default)."""

    def __init__(self, d, secure=True, dialback=False, prosody=None,
                 ejabberd=None, direct_tls=True,
                 peers=('prosody', 'ejabberd')):
        self.dir = Path(d)
        self.pki = Pki(self.dir / 'pki')
        self.dns = Unbound(self.dir / 'unbound')
        self.tern_s2s, self.tern_s2s_tls = free_ports(2)
        # both peers try _xmpps-server (Direct TLS, XEP-0368) addresses
        # first and fall back to _xmpp-server (STARTTLS) ones;
        # direct_tls=False leaves the former out of the zone
        self.dns.add_domain(TERN_DOMAIN, self.tern_s2s,
                            self.tern_s2s_tls if direct_tls else None)
        self.tern_crt, self.tern_key = self.pki.leaf(TERN_DOMAIN)
        self.tern_pem = self.dir / 'pki' / (TERN_DOMAIN + '.tern.pem')
        self.tern_pem.write_bytes(self.tern_crt.read_bytes()
                                  + self.tern_key.read_bytes())
        kw = dict(pki=self.pki, dns=self.dns, secure=secure,
                  dialback=dialback, direct_tls=direct_tls)
        self.prosody = Prosody(self.dir / 'prosody',
                               **dict(kw, **(prosody or {})))
        self.ejabberd = Ejabberd(self.dir / 'ejabberd',
                                 **dict(kw, **(ejabberd or {})))
        # only the peers a test talks to are started (an Erlang node
        # stopped seconds after its boot can take long to exit)
        self.servers = [s for s in (self.prosody, self.ejabberd)
                        if s.name in peers]

    def start(self):
        try:
            self.dns.start()
            for s in self.servers:
                s.start()
        except BaseException:
            self.stop()
            raise
        return self

    def set_tern_ports(self, s2s, s2s_tls=None):
        """Point a.test's SRV records at the ports a Tern fixture chose
        (instead of tern_s2s / tern_s2s_tls); s2s_tls None: no Direct
        TLS record."""
        self.tern_s2s, self.tern_s2s_tls = s2s, s2s_tls
        self.dns.set_srv(TERN_DOMAIN, s2s, s2s_tls)

    def tern_s2s_yaml(self, routes=False, **extra):
        """The s2s: section for a Tern serving a.test here, as one YAML
        flow mapping: trust the test CA, require certificates, and find
        the peers through the test resolver (routes=True: through static
        routes instead). extra: more keys (values in YAML). Key names
        follow the s2s directive table in src/core/config_s2s.c."""
        kv = {'ca_file': '"%s"' % self.pki.ca, 'secure_auth': 'true'}
        if routes:
            items = ['{ domain: %s, address: "%s", port: %d }' % (d, a, p)
                     for d, (a, p) in self.tern_hosts().items()]
            kv['routes'] = '[ %s ]' % ', '.join(items)
        else:
            kv['dns_server'] = '"%s"' % self.tern_dns()
        kv.update(extra)
        return '{ %s }' % ', '.join('%s: %s' % i for i in kv.items())

    def tern_dns(self):
        """The resolver Tern's libunbound should forward to
        ("127.0.0.1@port", as ub_ctx_set_fwd takes it). libunbound
        answers NXDOMAIN for anything under test. by itself (one of its
        RFC 6761 default local zones) without asking the forwarder,
        unless the context also gets ub_ctx_set_option(ctx,
        "local-zone:", "test. transparent")."""
        return self.dns.address

    def tern_hosts(self):
        """A static override instead of DNS: domain -> (host, s2s port),
        for the peers and their MUC services."""
        hosts = {}
        for s in self.servers:
            hosts[s.domain] = hosts[s.muc] = ('127.0.0.1', s.s2s)
        return hosts

    def tern_hosts_tls(self):
        """The same for Direct TLS s2s (XEP-0368)."""
        hosts = {}
        for s in self.servers:
            hosts[s.domain] = hosts[s.muc] = ('127.0.0.1', s.s2s_tls)
        return hosts

    def stop(self):
        problems = []
        for s in self.servers:
            problems += s.stop()
        problems += self.dns.stop()
        return problems

    def logs(self):
        return '\n'.join('--- %s\n%s' % (s.logfile, s.log[-6000:])
                         for s in self.servers)


class _Federations:
    def __init__(self, factory):
        self.factory = factory
        self.all = []

    def __call__(self, start=True, **kw):
        why = missing()
        if why:
            pytest.skip(why)
        fed = Federation(self.factory.mktemp('fed'), **kw)
        self.all.append(fed)
        if start:
            fed.start()
        return fed

    def finish(self):
        problems = []
        for fed in self.all:
            problems += fed.stop()
        if problems:
            pytest.fail('\n'.join(problems) + '\n' + '\n'.join(
                f.logs() for f in self.all), pytrace=False)


@pytest.fixture(scope='module')
def federation(tmp_path_factory):
    """Prosody (b.test) and ejabberd (c.test) federating through a test
    CA and DNS zone, certificates only (no dialback), shared by the tests
    of a module; skipped when the packages are not installed."""
    feds = _Federations(tmp_path_factory)
    fed = feds()
    yield fed
    feds.finish()


@pytest.fixture
def make_federation(tmp_path_factory):
    """A factory for one test's own federation: make_federation(
    secure=False, dialback=True, ejabberd={'trusted': False},
    start=True), stopped after the test."""
    feds = _Federations(tmp_path_factory)
    yield feds
    feds.finish()


# ---------------------------------------------------------------- clients

def verifying_context(ca):
    """A client TLS context that trusts only the test CA."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def login(server, user, resource='fed', timeout=15, presence=True):
    """A slixmpp client logged in to server (Prosody, Ejabberd or
    anything with domain, c2s and pki) over STARTTLS, verifying the
    server's certificate against the test CA. The client has .inbox and
    .errors queues of received messages and message errors. presence:
    send initial presence and wait for the server to have it (ejabberd
    bounces messages to a bare JID with no available resource when it
    has no offline storage)."""
    slixmpp = ternlib._slixmpp()
    pw = ternlib.password(user)
    jid = '%s@%s/%s' % (user, server.domain, resource)

    def creds(required, optional):
        # no channel binding: see ternlib.Session.login
        values = {'username': user, 'password': pw,
                  'host': server.domain, 'realm': server.domain,
                  'service-name': server.domain, 'service': 'xmpp'}
        return {k: v for k, v in values.items() if k in required | optional}

    xmpp = slixmpp.ClientXMPP(jid, pw, plugin_config={
        'feature_mechanisms': {'sasl_callback': creds}})
    # a server with an untrusted certificate: the client trusts that
    # certificate itself (the tests are about s2s, not c2s)
    xmpp.ssl_context = verifying_context(
        server.pki.ca if server.trusted else server.crt)
    xmpp.whitespace_keepalive = False
    xmpp.auto_reconnect = False
    for p in ('xep_0030', 'xep_0199'):
        xmpp.register_plugin(p)
    xmpp.inbox = asyncio.Queue()
    xmpp.errors = asyncio.Queue()
    xmpp.add_event_handler('message', xmpp.inbox.put_nowait)
    xmpp.add_event_handler('message_error', xmpp.errors.put_nowait)
    loop = asyncio.get_running_loop()
    started = loop.create_future()
    xmpp.lost = loop.create_future()

    def done(fut, value):
        if not fut.done():
            fut.set_result(value)

    xmpp.add_event_handler('session_start', lambda _: done(started, True))
    xmpp.add_event_handler('failed_all_auth',
                           lambda _: done(started, 'auth failed'))
    xmpp.add_event_handler('disconnected',
                           lambda _: done(started, 'disconnected'))
    xmpp.add_event_handler('disconnected', lambda _: done(xmpp.lost, True))
    xmpp.add_event_handler('stream_error', lambda e: done(
        started, 'stream error %s' % e['condition']))

    async def records(domain, port=None):
        return [('127.0.0.1', '127.0.0.1', port)]
    xmpp.get_dns_records = records
    xmpp.connect((server.domain, server.c2s), force_starttls=True)
    try:
        res = await asyncio.wait_for(started, timeout * SLOW)
    except asyncio.TimeoutError:
        res = 'no session_start within %ds' % (timeout * SLOW)
    if res is not True:
        xmpp.abort()
        raise AssertionError('%s login failed: %s' % (jid, res))
    if presence:
        xmpp.send_presence()
        await xmpp['xep_0199'].ping(jid=server.domain, timeout=5 * SLOW)
    return xmpp


async def logout(*clients):
    for c in clients:
        if c.transport:
            c.disconnect(wait=0.5)
    for c in clients:
        try:
            await asyncio.wait_for(asyncio.shield(c.lost), 3 * SLOW)
        except asyncio.TimeoutError:
            c.abort()


def run(scenario, timeout=45):
    """Run `async def scenario()` in a fresh event loop, bounded."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(
            asyncio.wait_for(scenario(), timeout * SLOW))
    finally:
        tasks = asyncio.all_tasks(loop)
        for t in tasks:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*tasks,
                                               return_exceptions=True))
        loop.close()

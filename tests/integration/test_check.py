"""ternctl check (issue 17 item 7): certificates, DNS and ports, each
problem printed with its fix, against a real DNS server (unbound with
the test zone) and a test CA (fedlib.Unbound, fedlib.Pki)."""
import datetime
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import fedlib
from ternlib import COMPONENT, free_ports

pytestmark = pytest.mark.skipif(
    shutil.which('unbound', path='/usr/sbin:/usr/bin') is None,
    reason='unbound not installed (scripts/deps.sh)')


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    return fedlib.Pki(tmp_path_factory.mktemp('pki'))


@pytest.fixture(scope='module')
def dns(tmp_path_factory):
    u = fedlib.Unbound(tmp_path_factory.mktemp('unbound'))
    u.start()
    yield u
    assert not u.stop()


def sign(pki, domain, names, days_from, days_to, path, xmpp_addrs=()):
    """A certificate for names (dNSName) and xmpp_addrs (id-on-xmppAddr,
    RFC 6120 13.7.1.4) signed by the test CA, valid from days_from to
    days_to (days from now, may be negative), with its key, in one PEM
    file at path."""
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(),
                                                None)
    ca = x509.load_pem_x509_certificate(pki.ca.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    crt = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(
               NameOID.COMMON_NAME, domain)]))
           .issuer_name(ca.subject)
           .public_key(key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now + datetime.timedelta(days=days_from))
           .not_valid_after(now + datetime.timedelta(days=days_to))
           .add_extension(x509.SubjectAlternativeName(
               [x509.DNSName(n) for n in names]
               + [x509.OtherName(XMPP_ADDR, utf8_der(a))
                  for a in xmpp_addrs]), critical=False)
           .add_extension(x509.ExtendedKeyUsage(
               [x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
           .sign(ca_key, hashes.SHA256()))
    path.write_bytes(
        crt.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()))
    return path


XMPP_ADDR = x509.ObjectIdentifier(fedlib.XMPP_ADDR_OID)


def utf8_der(s):
    b = s.encode()
    assert len(b) < 128
    return bytes([0x0c, len(b)]) + b


_n = [0]


def domain_name():
    _n[0] += 1
    return 'chk%d.test' % _n[0]


def checked_server(make_server, pki, dns, cert=None, start=True,
                   records=True, domain=None):
    """A ternd for a fresh domain under test. with its muc service and
    its component under it, certificates from the test CA (trusted by
    s2s.ca_file), resolving through the test DNS; records: the SRV and A
    records matching its listeners."""
    domain = domain or domain_name()
    if cert is None:
        pki.leaf(domain)
        cert = pki.pem(domain)
    s2s = '{ enabled: true, ca_file: "%s", dns_server: "%s" }' % (
        pki.ca, dns.address)
    srv = make_server(start=False, domain=domain, cert=cert, s2s=s2s,
                      users=())
    srv.muc = 'conference.' + domain
    srv.comp = 'comp.' + domain
    text = srv.config_text().replace(COMPONENT, srv.comp)
    at = text.index('\n', text.index('    modules: [')) + 1
    srv.write_config(text[:at] + '    services: [{ module: muc, domain: '
                     '%s }]\n' % srv.muc + text[at:])
    if records:
        add_records(dns, srv)
    if start:
        srv.start()
    return srv


def add_records(dns, srv, c2s_port=None, target=None):
    d = srv.domain
    target = target or d
    dns.add_records([
        '%s. 60 IN A 127.0.0.1' % d,
        '_xmpp-client._tcp.%s. 60 IN SRV 0 5 %d %s.'
        % (d, c2s_port or srv.c2s, target),
        '_xmpps-client._tcp.%s. 60 IN SRV 0 5 %d %s.'
        % (d, srv.c2s_tls, target),
        '_xmpp-server._tcp.%s. 60 IN SRV 0 5 %d %s.'
        % (d, srv.s2s_port, target),
        '_xmpps-server._tcp.%s. 60 IN SRV 0 5 %d %s.'
        % (d, srv.s2s_tls_port, target),
        '%s. 60 IN A 127.0.0.1' % srv.muc,
        '%s. 60 IN AAAA ::1' % srv.comp,
    ] + ['_xmpp%s-server._tcp.%s. 60 IN SRV 0 5 %d %s.' % (s, name, port, d)
         for name in (srv.muc, srv.comp)
         for s, port in (('', srv.s2s_port), ('s', srv.s2s_tls_port))])


def c2s_ports(srv):
    """The c2s listeners' ports as ternctl lists them."""
    return ', '.join(str(p) for p in (srv.c2s, srv.c2s6) if p)


def listener_is(srv):
    return 'listeners are on' if srv.c2s6 else 'listener is on'


def check(srv, *args):
    r = srv.ternctl('check', *args)
    return r.returncode, r.stdout + r.stderr


def problems(out):
    """(subject, level, message, fix) of each problem reported."""
    lines = out.splitlines()
    found = []
    for i, line in enumerate(lines):
        for level in ('error', 'warning'):
            tag = ': %s: ' % level
            if tag in line and i + 1 < len(lines) and \
                    lines[i + 1].startswith('    fix: '):
                subject, msg = line.split(tag, 1)
                found.append((subject, level, msg, lines[i + 1][9:]))
    return found


def test_check_all_good(make_server, pki, dns):
    srv = checked_server(make_server, pki, dns)
    rc, out = check(srv)
    assert rc == 0, out
    assert problems(out) == [], out
    assert '0 errors, 0 warnings' in out
    for d in (srv.domain, srv.muc, srv.comp):
        assert '%s: ok: %s.pem' % (d, srv.domain) in out, out
    assert '_xmpps-client._tcp.%s: ok: 0 5 %d %s' % (
        srv.domain, srv.c2s_tls, srv.domain) in out
    assert 'c2s 127.0.0.1:%d: ok: accepts connections' % srv.c2s in out
    rc, out = check(srv, '--strict')
    assert rc == 0, out


def test_check_parts_and_usage(make_server, pki, dns):
    srv = checked_server(make_server, pki, dns, start=False)
    rc, out = check(srv, 'certs')
    assert rc == 0, out
    assert '_xmpp' not in out and 'accepts' not in out
    rc, out = check(srv, 'dns')
    assert rc == 0, out
    assert '.pem' not in out
    rc, out = check(srv, 'config')
    assert rc == 0 and 'configuration valid' in out, out
    rc, out = check(srv, 'retention')
    assert rc == 0 and 'kept' in out, out
    for bad in (('nonsense',), ('certs', 'dns'), ('--public',),
                ('--public', 'example.org'), ('--bogus',)):
        rc, out = check(srv, *bad)
        assert rc == 2, (bad, out)
        assert 'usage: ternctl check' in out


def test_check_not_running(make_server, pki, dns):
    srv = checked_server(make_server, pki, dns, start=False)
    rc, out = check(srv, 'ports')
    assert rc == 1, out
    [(subject, level, msg, fix)] = problems(out)
    assert (subject, level) == ('ternd', 'error')
    assert msg.startswith('not running'), msg
    assert fix.startswith('start ternd'), fix


def test_check_closed_port(make_server, pki, dns):
    srv = checked_server(make_server, pki, dns)
    closed = free_ports(1)[0]
    text = srv.config.read_text()
    srv.write_config(text.replace(
        'listeners:\n', 'listeners:\n  - { type: c2s_tls, address: '
        '127.0.0.1, port: %d }\n' % closed))
    rc, out = check(srv, 'ports')
    srv.write_config(text)
    assert rc == 1, out
    assert problems(out) == [(
        'c2s_tls 127.0.0.1:%d' % closed, 'error',
        'cannot connect: Connection refused',
        "see ternd's log for why it could not bind port %d, or ternctl "
        'reload after changing listeners' % closed)], out
    # the public address: 127.0.0.2 is loopback too, nothing listens there
    rc, out = check(srv, 'ports', '--public', '127.0.0.2')
    assert rc == 1
    subjects = [p[0] for p in problems(out)]
    assert 'c2s 127.0.0.2:%d' % srv.c2s in subjects, out
    assert 'component 127.0.0.2:%d' % srv.component_port not in subjects


def test_check_dns_wrong_port_and_target(make_server, pki, dns):
    srv = checked_server(make_server, pki, dns, start=False, records=False)
    # no listener's port (ternd is not running: they are free too)
    wrong = next(p for p in free_ports(8) if p not in (
        srv.c2s, srv.c2s6, srv.c2s_tls, srv.s2s_port, srv.s2s_tls_port,
        srv.component_port))
    add_records(dns, srv, c2s_port=wrong)
    rc, out = check(srv, 'dns')
    assert rc == 1, out
    assert problems(out) == [(
        '_xmpp-client._tcp.' + srv.domain, 'error',
        'port %d, but the c2s %s %s' % (wrong, listener_is(srv),
                                         c2s_ports(srv)),
        'make the record\'s port one of %s, or add a c2s listener on %d'
        % (c2s_ports(srv), wrong))], out

    srv2 = checked_server(make_server, pki, dns, start=False, records=False)
    add_records(dns, srv2, target='nowhere.' + srv2.domain)
    rc, out = check(srv2, 'dns')
    assert rc == 1, out
    found = problems(out)
    assert len(found) == 4, out  # each of the four SRV names
    for subject, level, msg, fix in found:
        assert level == 'error'
        assert msg == 'target nowhere.%s: no A or AAAA record' % srv2.domain
        assert fix.startswith('add A and/or AAAA records for nowhere.')


def test_check_dns_missing_records(make_server, pki, dns):
    srv = checked_server(make_server, pki, dns, start=False, records=False)
    rc, out = check(srv, 'dns')
    assert rc == 1, out
    got = {(p[0], p[1]): p for p in problems(out)}
    d = srv.domain
    # clients and servers fall back to 5222/5269, where nothing listens
    assert got[('_xmpp-client._tcp.' + d, 'error')][2] == (
        'no record: clients try port 5222, but the c2s %s %s'
        % (listener_is(srv), c2s_ports(srv)))
    assert got[('_xmpp-client._tcp.' + d, 'error')][3] == (
        'add "_xmpp-client._tcp.%s. 3600 IN SRV 0 5 %d %s." to the zone'
        % (d, srv.c2s, d))
    assert ('_xmpps-client._tcp.' + d, 'warning') in got
    assert got[(d, 'error')][2].startswith('no A/AAAA record and no SRV')
    assert got[(srv.muc, 'warning')][2].startswith(
        'no A/AAAA and no _xmpp-server SRV record')


def test_check_dns_failure_is_reported(make_server, pki, dns):
    srv = checked_server(make_server, pki, dns, start=False)
    # a resolver where nothing answers: the lookups fail, not "no record"
    port = free_ports(1)[0]
    text = srv.config.read_text()
    srv.write_config(text.replace(dns.address, '127.0.0.1@%d' % port))
    rc, out = check(srv, 'dns')
    assert rc == 1, out
    assert any('lookup failed' in p[2] for p in problems(out)), out


def test_check_expired_and_expiring(make_server, pki, dns, tmp_path):
    d = domain_name()
    pem = sign(pki, d, [d, '*.' + d], -60, -1, tmp_path / 'old.pem')
    srv = checked_server(make_server, pki, dns, cert=pem, start=False,
                         domain=d)
    rc, out = check(srv, 'certs')
    assert rc == 1, out
    found = problems(out)
    assert len(found) == 3, out  # host, muc service, component
    for subject, level, msg, fix in found:
        assert level == 'error'
        assert ' expired on ' in msg, msg
        assert fix.startswith('renew the certificate'), fix

    d = domain_name()
    pem = sign(pki, d, [d, '*.' + d], -1, 5, tmp_path / 'soon.pem')
    srv = checked_server(make_server, pki, dns, cert=pem, start=False,
                         domain=d)
    rc, out = check(srv, 'certs')
    assert rc == 0, out
    found = problems(out)
    assert {p[1] for p in found} == {'warning'}, out
    assert all(' expires in 4 days' in p[2] or ' expires in 5 days'
               in p[2] for p in found), out
    rc, out = check(srv, 'certs', '--strict')
    assert rc == 1, out


def test_check_wrong_name(make_server, pki, dns):
    pki.leaf('elsewhere.test')
    srv = checked_server(make_server, pki, dns,
                         cert=pki.pem('elsewhere.test'), start=False)
    rc, out = check(srv, 'certs')
    assert rc == 1, out
    found = problems(out)
    assert [p[0] for p in found] == [srv.domain, srv.muc, srv.comp], out
    assert found[0][2] == 'no certificate in %s/certs names it ' \
        '(1 certificate there)' % srv.dir, out
    assert found[0][3] == (
        'put a certificate whose subjectAltName has the dNSName %s, with '
        'its key, in %s/certs; then ternctl reload' % (srv.domain, srv.dir))
    assert found[1][3].startswith(
        'put a certificate whose subjectAltName has the dNSName %s (or '
        '*.%s)' % (srv.muc, srv.domain)), out


def test_check_only_exact_name_no_wildcard(make_server, pki, dns,
                                           tmp_path):
    # a wildcard covers one label: *.d does not cover d itself, and a
    # certificate for d alone does not cover conference.d
    d = domain_name()
    pem = sign(pki, d, [d], -1, 30, tmp_path / 'exact.pem')
    srv = checked_server(make_server, pki, dns, cert=pem, start=False,
                         domain=d)
    rc, out = check(srv, 'certs')
    assert rc == 1, out
    assert [p[0] for p in problems(out)] == [srv.muc, srv.comp], out


def test_check_untrusted_chain(make_server, pki, dns, tmp_path):
    d = domain_name()
    crt, key = pki.self_signed(d)
    pem = tmp_path / 'self.pem'
    pem.write_bytes(crt.read_bytes() + key.read_bytes())
    srv = checked_server(make_server, pki, dns, cert=pem, start=False,
                         domain=d)
    rc, out = check(srv, 'certs')
    assert rc == 1, out
    found = problems(out)
    assert len(found) == 3, out
    assert found[0][2] == '%s.pem does not verify against %s: ' \
        'self-signed certificate' % (d, pki.ca), out
    assert found[0][3].startswith('append the intermediate certificates')


def test_check_key_missing(make_server, pki, dns, tmp_path):
    d = domain_name()
    crt, _ = pki.leaf(d)
    srv = checked_server(make_server, pki, dns, cert=crt, start=False,
                         domain=d)
    rc, out = check(srv, 'certs')
    assert rc == 1, out
    found = problems(out)
    assert found[0][:2] == (srv.domain, 'error'), out
    assert 'private key is missing or does not match' in found[0][2]


def test_check_xmpp_addr(make_server, pki, dns, tmp_path):
    # ternd picks its certificate by dNSName: an xmppAddr alone does not
    # make it serve one, and the check says so
    d = domain_name()
    pem = sign(pki, d, ['*.' + d], -1, 30, tmp_path / 'xa.pem',
               xmpp_addrs=[d])
    srv = checked_server(make_server, pki, dns, cert=pem, start=False,
                         domain=d)
    rc, out = check(srv, 'certs')
    assert rc == 1, out
    assert problems(out) == [(
        d, 'error', '%s.pem names it only as an xmppAddr: ternd picks '
        'certificates by dNSName' % d,
        'put a certificate whose subjectAltName has the dNSName %s, with '
        'its key, in %s/certs; then ternctl reload' % (d, srv.dir))], out

    d = domain_name()
    pki.leaf(d, xmpp_addr=True)
    srv = checked_server(make_server, pki, dns, start=False, domain=d)
    rc, out = check(srv, 'certs')
    assert rc == 0, out
    assert '%s: ok: %s.pem (subject CN=%s, expires ' % (d, d, d) in out
    assert out.count(', xmppAddr too') == 1, out  # the host's alone


def test_check_unloadable_cert(make_server, pki, dns):
    srv = checked_server(make_server, pki, dns, start=False)
    bad = srv.dir / 'certs' / 'broken.crt'
    lines = pki.leaf(srv.domain)[0].read_text().splitlines()
    bad.write_text('\n'.join(lines[:3] + lines[-1:]) + '\n')  # cut short
    rc, out = check(srv, 'certs')
    assert rc == 1, out
    [(subject, level, msg, fix)] = problems(out)
    assert (subject, level) == (str(bad), 'error'), out
    assert msg.startswith('holds a certificate that cannot be loaded: ')
    assert fix.startswith('put the certificate in it again')
    assert '%s: ok: %s.pem' % (srv.domain, srv.domain) in out

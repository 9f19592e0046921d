"""Federation between two ternd (RFC 6120 server-to-server): a.test and
b.test on loopback, certificates from a test CA, fixed routes instead of
DNS (s2s.routes). Raw streams play a hostile remote server.

RFC 6120 §5 (STARTTLS), §6.4 (SASL EXTERNAL for servers), §4.9.3.9
(invalid-from), §13.7 (certificates); XEP-0220 (dialback), XEP-0344 §2.4
(dialback with certificates)."""
import ssl
import subprocess

import pytest

from ternlib import (NS_SASL, NS_STANZAS, NS_STREAM, NS_TLS, TIMEOUT,
                     RawStream, b64, connect_tls, free_ports, q, show,
                     stanza_error)

NS_SERVER = 'jabber:server'
NS_DB = 'jabber:server:dialback'
A, B = 'a.test', 'b.test'


def _openssl(*args, cwd):
    subprocess.run(['openssl'] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=30)


def make_ca(d, name):
    _openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-sha256', '-nodes',
             '-keyout', name + '.key', '-out', name + '.pem', '-days', '2',
             '-subj', '/CN=' + name,
             '-addext', 'basicConstraints=critical,CA:TRUE',
             '-addext', 'keyUsage=critical,keyCertSign,cRLSign', cwd=d)
    return d / (name + '.pem')


def make_leaf(d, ca, domain):
    """A leaf for domain signed by ca; returns the PEM (chain + key)."""
    base = '%s-by-%s' % (domain, ca)
    key, csr, crt = base + '.key', base + '.csr', base + '.crt'
    _openssl('req', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
             '-out', csr, '-subj', '/CN=' + domain, cwd=d)
    ext = d / (base + '.ext')
    ext.write_text('subjectAltName=DNS:%s,DNS:*.%s\n'
                   'extendedKeyUsage=serverAuth,clientAuth\n'
                   % (domain, domain))
    _openssl('x509', '-req', '-in', csr, '-CA', ca + '.pem', '-CAkey',
             ca + '.key', '-CAcreateserial', '-out', crt, '-days', '2',
             '-sha256', '-extfile', ext.name, cwd=d)
    pem = d / (base + '.pem')
    pem.write_bytes((d / crt).read_bytes() + (d / key).read_bytes())
    return pem



def make_odd_leaf(d, ca, name, cn, dns=(), xmpp_addr=None, srv=None,
                  expired=False):
    """A leaf signed by ca with exactly the identifiers given (RFC 6120
    §13.7.1.4: dNSName, id-on-xmppAddr, SRV-ID), or one whose validity
    ended yesterday; returns the PEM (certificate + key)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def der_string(tag, text):
        raw = text.encode()
        return bytes([tag, len(raw)]) + raw

    ca_key = serialization.load_pem_private_key(
        (d / (ca + '.key')).read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((d / (ca + '.pem')).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName(n) for n in dns]
    if xmpp_addr:
        san.append(x509.OtherName(x509.ObjectIdentifier('1.3.6.1.5.5.7.8.5'),
                                  der_string(0x0c, xmpp_addr)))
    if srv:
        san.append(x509.OtherName(x509.ObjectIdentifier('1.3.6.1.5.5.7.8.7'),
                                  der_string(0x16, srv)))
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = ((now - datetime.timedelta(days=3),
                   now - datetime.timedelta(days=1)) if expired else
                  (now - datetime.timedelta(hours=1),
                   now + datetime.timedelta(days=2)))
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                     cn)]))
         .issuer_name(ca_cert.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(start).not_valid_after(end)
         .add_extension(x509.ExtendedKeyUsage(
             [ExtendedKeyUsageOID.SERVER_AUTH,
              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    pem = d / (name + '.pem')
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) +
                    key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return pem

@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp('pki')
    ca = make_ca(d, 'ca')
    other = make_ca(d, 'other-ca')
    return {
        'dir': d, 'ca': ca, 'other_ca': other,
        A: make_leaf(d, 'ca', A), B: make_leaf(d, 'ca', B),
        'evil': make_leaf(d, 'other-ca', A),  # a.test, wrong CA
    }


def s2s_conf(ca, routes, extra=''):
    r = ', '.join('{ domain: %s, address: 127.0.0.1, port: %d }' % kv
                  for kv in routes.items())
    return '{ ca_file: "%s", routes: [%s]%s }' % (ca, r, extra)


def pair(make_server, pki, a_extra='', b_extra='', a_ca=None, b_ca=None,
         start=True):
    """Two servers routing to each other."""
    a = make_server(domain=A, cert=pki[A], start=False)
    b = make_server(domain=B, cert=pki[B], start=False)
    a.s2s = s2s_conf(a_ca or pki['ca'], {B: b.s2s_port}, a_extra)
    b.s2s = s2s_conf(b_ca or pki['ca'], {A: a.s2s_port}, b_extra)
    for s in (a, b):
        s.write_config()
        if start:
            s.start()
    return a, b


def login(srv, user):
    s = connect_tls(srv.c2s, user, 'r', domain=srv.domain)
    s.presence()
    s.alive()
    return s


def test_message_both_ways_by_certificate(make_server, pki):
    """Both servers trust the CA: SASL EXTERNAL in both directions
    (RFC 6120 §6.4), messages flow both ways with their 'from' kept."""
    a, b = pair(make_server, pki)
    alice, bob = login(a, 'alice'), login(b, 'bob')
    alice.message('bob@b.test', 'hello from a')
    m = bob.wait_message(timeout=15)
    assert m.get('from') == 'alice@a.test/r', show(m)
    assert m.findtext(q('jabber:client', 'body')) == 'hello from a'
    bob.message('alice@a.test/r', 'hello from b')
    m = alice.wait_message(timeout=15)
    assert m.get('from') == 'bob@b.test/r', show(m)
    assert b.wait_log('a.test->b.test authenticated by certificate')
    assert a.wait_log('s2s-out a.test->b.test ready (certificate, peer '
                      'certificate valid)')


def test_subscription_and_presence_across(make_server, pki):
    """RFC 6121 §3 across servers: subscribe, approve, then presence
    reaches the contact on the other server."""
    a, b = pair(make_server, pki)
    alice, bob = login(a, 'alice'), login(b, 'bob')
    alice.send("<presence type='subscribe' to='bob@b.test'/>")
    p = bob.wait_for(lambda e: e.tag == q('jabber:client', 'presence') and
                     e.get('type') == 'subscribe', timeout=15)
    assert p.get('from') == 'alice@a.test', show(p)
    bob.send("<presence type='subscribed' to='alice@a.test'/>")
    # bob is online: alice gets his presence after the approval
    p = alice.wait_for(lambda e: e.tag == q('jabber:client', 'presence') and
                       e.get('from') == 'bob@b.test/r' and
                       e.get('type') is None, timeout=15)
    assert p is not None


def test_iq_across_and_error_back(make_server, pki):
    """An iq to a remote user's server is answered over federation; an
    iq to a user that does not exist there comes back as an error."""
    a, b = pair(make_server, pki)
    alice = login(a, 'alice')
    r = alice.iq('get', "<ping xmlns='urn:xmpp:ping'/>", to=B,
                 timeout=15)
    assert r.get('type') == 'result', show(r)
    assert r.get('from') == B
    r = alice.iq('get', "<query xmlns='jabber:iq:version'/>",
                 to='nobody@b.test/x', timeout=15)
    assert r.get('type') == 'error', show(r)


def test_dialback_when_certificate_not_trusted(make_server, pki):
    """b.test does not trust a.test's CA: no EXTERNAL is offered, and
    a.test proves itself by dialback through b.test's connection back to
    it (XEP-0220 §2.1-2.4)."""
    a, b = pair(make_server, pki, b_ca=pki['other_ca'])
    alice, bob = login(a, 'alice'), login(b, 'bob')
    alice.message('bob@b.test', 'by dialback')
    m = bob.wait_message(timeout=15)
    assert m.findtext(q('jabber:client', 'body')) == 'by dialback'
    assert b.wait_log('a.test->b.test authenticated by dialback')


@pytest.mark.parametrize('policy', ['secure_auth: true',
                                    'secure_domains: [a.test]'])
def test_secure_auth_refuses_untrusted_certificate(make_server, pki, policy):
    """With secure_auth, or with a.test in s2s.secure_domains while
    secure_auth is off, b.test wants a valid certificate; a.test's does
    not chain to b.test's CA, so a.test's dialback is refused with the
    not-authorized dialback error (XEP-0220 §2.6) and alice's message
    bounces (remote-server-not-found)."""
    a, b = pair(make_server, pki, b_ca=pki['other_ca'],
                b_extra=', ' + policy)
    alice = login(a, 'alice')
    login(b, 'bob')
    alice.message('bob@b.test', 'must not arrive')
    m = alice.wait_message(timeout=15)
    assert m.get('type') == 'error', show(m)
    assert stanza_error(m) == 'remote-server-not-found', show(m)
    assert b.wait_log('certificate required')


def test_insecure_domains_allow_dialback_under_secure_auth(make_server, pki):
    """s2s.insecure_domains: with secure_auth on, a domain named there
    may still prove itself by dialback (Prosody's s2s_insecure_domains)."""
    a, b = pair(make_server, pki, b_ca=pki['other_ca'],
                b_extra=', secure_auth: true, insecure_domains: [a.test]')
    alice, bob = login(a, 'alice'), login(b, 'bob')
    alice.message('bob@b.test', 'dialback allowed for a.test')
    m = bob.wait_message(timeout=15)
    assert m.findtext(q('jabber:client', 'body')) == \
        'dialback allowed for a.test', show(m)
    assert b.wait_log('a.test->b.test authenticated by dialback')


def test_unreachable_server_bounces(make_server, pki):
    """Nothing listens at the route: the message bounces with
    remote-server-not-found; presence is dropped quietly."""
    a = make_server(domain=A, cert=pki[A], start=False)
    a.s2s = s2s_conf(pki['ca'], {B: a.s2s_port + 0})
    a.s2s = s2s_conf(pki['ca'], {B: _closed_port()})
    a.write_config()
    a.start()
    alice = login(a, 'alice')
    alice.message('bob@b.test', 'nobody home')
    m = alice.wait_message(timeout=15)
    assert stanza_error(m) == 'remote-server-not-found', show(m)


def _closed_port():
    return free_ports(1)[0]


def test_blocked_domain(make_server, pki):
    """s2s.blocked: b.test refuses a.test's stream (policy-violation) and
    a.test's user gets an error instead of silence."""
    a, b = pair(make_server, pki, b_extra=', blocked: [a.test]')
    alice = login(a, 'alice')
    alice.message('bob@b.test', 'blocked')
    m = alice.wait_message(timeout=15)
    assert m.get('type') == 'error', show(m)


# ---- a hand-driven remote server ----

class RawServer(RawStream):
    """An s2s stream to a ternd, driven by hand."""

    def s2s_open(self, frm, to):
        self._reset()
        self.send("<?xml version='1.0'?><stream:stream xmlns='%s' "
                  "xmlns:stream='%s' xmlns:db='%s' from='%s' to='%s' "
                  "version='1.0'>" % (NS_SERVER, NS_STREAM, NS_DB, frm, to))
        import time
        deadline = time.monotonic() + self.timeout
        while self.root is None:
            self._pump(deadline)
        self.stream_id = self.root.get('id')
        return self.expect(q(NS_STREAM, 'features'))

    def tls(self, cert=None, sni=B):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if cert:
            ctx.load_cert_chain(str(cert))
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        self.expect(q(NS_TLS, 'proceed'))
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=sni)
        self._reset()


def external(port, cert, frm=A, to=B):
    """A stream to port from frm (its certificate cert, after STARTTLS)
    that has sent its SASL EXTERNAL <auth/>; the answer is the
    caller's."""
    s = RawServer(port)
    s.s2s_open(frm, to)
    s.tls(cert=cert, sni=to)
    s.s2s_open(frm, to)
    s.send("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>"
           % (NS_SASL, b64(frm)))
    return s


def test_spoofed_from_is_invalid_from(make_server, pki):
    """A peer proven as a.test (EXTERNAL with a.test's certificate) that
    sends a stanza from evil.test gets the invalid-from stream error
    (RFC 6120 §4.9.3.9), and the stanza goes nowhere."""
    b = make_server(domain=B, cert=pki[B], start=False)
    b.s2s = s2s_conf(pki['ca'], {})
    b.write_config()
    b.start()
    bob = login(b, 'bob')
    s = RawServer(b.s2s_port)
    f = s.s2s_open(A, B)
    assert f.find(q(NS_TLS, 'starttls')) is not None, show(f)
    s.tls(cert=pki[A])
    f = s.s2s_open(A, B)
    mechs = [m.text for m in f.iter(q(NS_SASL, 'mechanism'))]
    assert mechs == ['EXTERNAL'], show(f)
    s.send("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>"
           % (NS_SASL, b64(A)))
    s.expect(q(NS_SASL, 'success'))
    s.s2s_open(A, B)
    # a stanza from the proven domain is delivered...
    s.send("<message xmlns='jabber:server' from='alice@a.test/x' "
           "to='bob@b.test' type='chat'><body>real</body></message>")
    m = bob.wait_message(timeout=TIMEOUT)
    assert m.get('from') == 'alice@a.test/x', show(m)
    # ...one from another domain ends the stream
    s.send("<message xmlns='jabber:server' from='eve@evil.test' "
           "to='bob@b.test' type='chat'><body>spoof</body></message>")
    s.assert_stream_error('invalid-from')
    bob.nothing(within=0.5)


def test_external_with_wrong_certificate_refused(make_server, pki):
    """A certificate for a.test from a CA b.test does not trust: no
    EXTERNAL offered, and an EXTERNAL attempt anyway fails with
    not-authorized (RFC 6120 §6.4.5)."""
    b = make_server(domain=B, cert=pki[B], start=False)
    b.s2s = s2s_conf(pki['ca'], {})
    b.write_config()
    b.start()
    s = RawServer(b.s2s_port)
    s.s2s_open(A, B)
    s.tls(cert=pki['evil'])
    f = s.s2s_open(A, B)
    assert f.find(q(NS_SASL, 'mechanisms')) is None, show(f)
    assert f.find(q('urn:xmpp:features:dialback', 'dialback')) is not None
    s.send("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>"
           % (NS_SASL, b64(A)))
    r = s.expect(q(NS_SASL, 'failure'))
    assert r.find(q(NS_SASL, 'not-authorized')) is not None, show(r)



@pytest.mark.parametrize('ident', ['xmppAddr', 'SRV-ID', 'CN-only'])
def test_external_by_xmpp_identifiers(make_server, pki, ident):
    """RFC 6120 §13.7.1.4 and RFC 7590 §3.1: a certificate naming the
    peer only by id-on-xmppAddr, or only by the SRV-ID _xmpp-server.a.test
    (no dNSName; a CN that is not the domain), proves a.test; so does one
    with no subjectAltName at all whose CN is a.test (the CN-ID fallback
    RFC 6125 §6.4.4 allows, which Prosody and ejabberd keep too)."""
    kw = {'xmppAddr': {'xmpp_addr': A},
          'SRV-ID': {'srv': '_xmpp-server.' + A},
          'CN-only': {}}[ident]
    pem = make_odd_leaf(pki['dir'], 'ca', 'a-' + ident,
                        A if ident == 'CN-only' else 'not-the-domain', **kw)
    b = make_server(domain=B, cert=pki[B], start=False)
    b.s2s = s2s_conf(pki['ca'], {})
    b.write_config()
    b.start()
    s = external(b.s2s_port, pem)
    s.expect(q(NS_SASL, 'success'))


@pytest.mark.parametrize('bad', ['wrong-name', 'cn-beside-san', 'expired'])
def test_external_refuses_bad_certificates(make_server, pki, bad):
    """RFC 6125 §6 / RFC 6120 §13.7.2: a certificate from a trusted CA
    for another name (c.test), one whose CN is a.test but whose
    subjectAltName names c.test (the CN must not be looked at once there
    is a DNS-ID, RFC 6125 §6.4.4), or one that has expired, does not
    prove a.test: EXTERNAL fails with not-authorized (RFC 6120 §6.4.5)
    and dialback stays offered."""
    pem = {
        'wrong-name': lambda: make_odd_leaf(
            pki['dir'], 'ca', 'c-for-a', 'c.test', dns=['c.test']),
        'cn-beside-san': lambda: make_odd_leaf(
            pki['dir'], 'ca', 'a-cn-c-san', A, dns=['c.test']),
        'expired': lambda: make_odd_leaf(
            pki['dir'], 'ca', 'a-expired', A, dns=[A], expired=True),
    }[bad]()
    b = make_server(domain=B, cert=pki[B], start=False)
    b.s2s = s2s_conf(pki['ca'], {})
    b.write_config()
    b.start()
    s = RawServer(b.s2s_port)
    s.s2s_open(A, B)
    s.tls(cert=pem, sni=B)
    f = s.s2s_open(A, B)
    assert f.find(q('urn:xmpp:features:dialback', 'dialback')) is not None
    s.send("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>"
           % (NS_SASL, b64(A)))
    r = s.expect(q(NS_SASL, 'failure'))
    assert r.find(q(NS_SASL, 'not-authorized')) is not None, show(r)

def test_stanza_before_authentication(make_server, pki):
    """After TLS but before proving a domain, a stanza ends the stream
    with not-authorized; before TLS anything but STARTTLS is a
    policy-violation (TLS is required)."""
    b = make_server(domain=B, cert=pki[B], start=False)
    b.s2s = s2s_conf(pki['ca'], {})
    b.write_config()
    b.start()
    s = RawServer(b.s2s_port)
    s.s2s_open(A, B)
    s.send("<db:result from='a.test' to='b.test'>abc</db:result>")
    s.assert_stream_error('policy-violation')
    s = RawServer(b.s2s_port)
    s.s2s_open(A, B)
    s.tls()
    s.s2s_open(A, B)
    s.send("<message from='alice@a.test' to='bob@b.test'><body>x</body>"
           "</message>")
    s.assert_stream_error('not-authorized')


def test_stream_to_unknown_host(make_server, pki):
    """A header naming a domain we do not serve: host-unknown."""
    b = make_server(domain=B, cert=pki[B], start=False)
    b.s2s = s2s_conf(pki['ca'], {})
    b.write_config()
    b.start()
    s = RawServer(b.s2s_port)
    s.send("<?xml version='1.0'?><stream:stream xmlns='%s' "
           "xmlns:stream='%s' from='a.test' to='c.test' version='1.0'>"
           % (NS_SERVER, NS_STREAM))
    s.assert_stream_error('host-unknown')


def test_dialback_key_mismatch(make_server, pki):
    """A forged dialback key for a.test (we are not a.test): b.test asks
    a.test's real server, which says invalid; b.test answers
    type='invalid' and closes with not-authorized (XEP-0220 §2.4)."""
    a, b = pair(make_server, pki)
    s = RawServer(b.s2s_port)
    s.s2s_open(A, B)
    s.tls()  # no certificate: only dialback can prove a.test
    f = s.s2s_open(A, B)
    assert f.find(q(NS_SASL, 'mechanisms')) is None, show(f)
    s.send("<db:result from='a.test' to='b.test'>%s</db:result>" % ('0' * 64))
    r = s.wait_for(lambda e: e.tag == q(NS_DB, 'result'), timeout=15)
    assert r.get('type') == 'invalid', show(r)
    s.assert_stream_error('not-authorized')
    assert a.wait_log('verify a.test->b.test')


def test_dialback_verify_answers(make_server, pki):
    """We are the authoritative server: a <db:verify/> with a key we did
    not make is answered invalid; to a domain we do not serve, with an
    item-not-found error (XEP-0220 §2.3)."""
    a = make_server(domain=A, cert=pki[A], start=False)
    a.s2s = s2s_conf(pki['ca'], {})
    a.write_config()
    a.start()
    s = RawServer(a.s2s_port)
    s.s2s_open(B, A)
    s.tls(sni=A)
    s.s2s_open(B, A)
    s.send("<db:verify from='b.test' to='a.test' id='abc'>%s</db:verify>"
           % ('1' * 64))
    r = s.wait_for(lambda e: e.tag == q(NS_DB, 'verify'))
    assert r.get('type') == 'invalid', show(r)
    assert r.get('from') == A and r.get('to') == B and r.get('id') == 'abc'
    s.send("<db:verify from='b.test' to='x.test' id='abc'>%s</db:verify>"
           % ('1' * 64))
    r = s.wait_for(lambda e: e.tag == q(NS_DB, 'verify'))
    assert r.get('type') == 'error', show(r)
    assert r.find('%s/%s' % (q(NS_SERVER, 'error'),
                             q(NS_STANZAS, 'item-not-found'))) is not None


def test_dns_failure_bounces(make_server, pki):
    """No route and a DNS server that does not answer: the SRV and
    address lookups fail (libunbound, asynchronously) and the message
    bounces with remote-server-not-found within the connect timeout;
    the server stays up (RFC 6120 §3.2)."""
    a = make_server(domain=A, cert=pki[A], start=False)
    a.s2s = s2s_conf(pki['ca'], {},
                     ', dns_server: "127.0.0.1@%d", connect_timeout: 3s'
                     % _closed_port())
    a.write_config()
    a.start()
    alice = login(a, 'alice')
    alice.message('someone@example.org', 'far away')
    m = alice.wait_message(timeout=15)
    assert stanza_error(m) in ('remote-server-not-found',
                               'remote-server-timeout'), show(m)
    alice.ping()


class Socks5Proxy:
    """A SOCKS5 proxy (RFC 1928, no auth) standing in for Tor: CONNECT
    by name to a mapped address; remembers what it was asked for."""

    def __init__(self, targets):
        import socket
        import threading
        self.targets = targets
        self.asked = []
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.threading = threading
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import socket
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(10)
            try:
                assert c.recv(3) == b'\x05\x01\x00'
                c.sendall(b'\x05\x00')
                head = c.recv(5)
                host = c.recv(head[4]).decode()
                port = int.from_bytes(c.recv(2), 'big')
                self.asked.append((host, port))
                up = socket.create_connection(self.targets[host], 10)
                c.sendall(b'\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00')
            except Exception:
                c.close()
                continue
            for a, b in ((c, up), (up, c)):
                self.threading.Thread(target=self._pipe, args=(a, b),
                                      daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        a.settimeout(None)
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(2)
            except OSError:
                pass

    def close(self):
        self.sock.close()


ONION = 'b' * 56 + '.onion'


def test_onion_through_socks5_proxy(make_server, pki):
    """s2s.tor_proxy: a stream to a .onion domain goes through the
    SOCKS5 proxy, which is asked for the name itself (no DNS query
    leaves the server), on port 5269; the message arrives."""
    onion_pem = make_leaf(pki['dir'], 'ca', ONION)
    a = make_server(domain=A, cert=pki[A], start=False)
    b = make_server(domain=ONION, cert=onion_pem, start=False)
    proxy = Socks5Proxy({ONION: ('127.0.0.1', b.s2s_port)})
    try:
        a.s2s = s2s_conf(pki['ca'], {}, ', tor_proxy: "127.0.0.1:%d"'
                         % proxy.port)
        b.s2s = s2s_conf(pki['ca'], {A: a.s2s_port})
        for s in (a, b):
            s.write_config()
            s.start()
        alice, bob = login(a, 'alice'), login(b, 'bob')
        alice.message('bob@' + ONION, 'over tor')
        m = bob.wait_message(timeout=15)
        assert m.findtext(q('jabber:client', 'body')) == 'over tor'
        assert proxy.asked == [(ONION, 5269)]
    finally:
        proxy.close()



def test_tor_all_sends_every_stream_through_the_proxy(make_server, pki):
    """s2s.tor_all: a stream to an ordinary domain goes through the
    SOCKS5 proxy too, asked for the name itself on port 5269 (no DNS
    query or configured route is used); the message arrives."""
    a = make_server(domain=A, cert=pki[A], start=False)
    b = make_server(domain=B, cert=pki[B], start=False)
    proxy = Socks5Proxy({B: ('127.0.0.1', b.s2s_port)})
    try:
        a.s2s = s2s_conf(pki['ca'], {B: _closed_port()},
                         ', tor_proxy: "127.0.0.1:%d", tor_all: true'
                         % proxy.port)
        b.s2s = s2s_conf(pki['ca'], {A: a.s2s_port})
        for s in (a, b):
            s.write_config()
            s.start()
        alice, bob = login(a, 'alice'), login(b, 'bob')
        alice.message('bob@b.test', 'all over tor')
        m = bob.wait_message(timeout=15)
        assert m.findtext(q('jabber:client', 'body')) == 'all over tor'
        assert proxy.asked == [(B, 5269)], proxy.asked
    finally:
        proxy.close()


def test_route_to_a_peers_onion_service(make_server, pki):
    """s2s.routes with an onion address (Prosody's mod_onions
    onions_map): b.test is reached through Tor at its hidden service,
    the stream still addressed to b.test; the proxy is asked for the
    onion name and the route's port, never for b.test."""
    a = make_server(domain=A, cert=pki[A], start=False)
    b = make_server(domain=B, cert=pki[B], start=False)
    proxy = Socks5Proxy({ONION: ('127.0.0.1', b.s2s_port)})
    try:
        a.s2s = ('{ ca_file: "%s", tor_proxy: "127.0.0.1:%d", routes: '
                 '[{ domain: b.test, address: %s, port: 5555 }] }'
                 % (pki['ca'], proxy.port, ONION))
        b.s2s = s2s_conf(pki['ca'], {A: a.s2s_port})
        for s in (a, b):
            s.write_config()
            s.start()
        alice, bob = login(a, 'alice'), login(b, 'bob')
        alice.message('bob@b.test', 'to the hidden service')
        m = bob.wait_message(timeout=15)
        assert m.findtext(q('jabber:client', 'body')) == \
            'to the hidden service'
        assert m.get('from') == 'alice@a.test/r', show(m)
        assert proxy.asked == [(ONION, 5555)], proxy.asked
    finally:
        proxy.close()


def test_onion_host_connects_only_through_tor(make_server, pki):
    """A host that is itself an onion service never connects in the
    open: its stream to b.test goes through the proxy even though a
    direct route is configured (it leads to a closed port)."""
    onion_pem = make_leaf(pki['dir'], 'ca', ONION)
    a = make_server(domain=ONION, cert=onion_pem, start=False)
    b = make_server(domain=B, cert=pki[B], start=False)
    proxy = Socks5Proxy({B: ('127.0.0.1', b.s2s_port)})
    try:
        a.s2s = s2s_conf(pki['ca'], {B: _closed_port()},
                         ', tor_proxy: "127.0.0.1:%d"' % proxy.port)
        b.s2s = s2s_conf(pki['ca'], {})
        for s in (a, b):
            s.write_config()
            s.start()
        alice, bob = login(a, 'alice'), login(b, 'bob')
        alice.message('bob@b.test', 'from a hidden service')
        m = bob.wait_message(timeout=15)
        assert m.get('from') == 'alice@%s/r' % ONION, show(m)
        assert proxy.asked == [(B, 5269)], proxy.asked
    finally:
        proxy.close()


def test_onion_route_without_proxy_is_a_config_error(make_server, pki):
    a = make_server(domain=A, cert=pki[A], start=False)
    a.s2s = ('{ ca_file: "%s", routes: [{ domain: b.test, address: %s }] }'
             % (pki['ca'], ONION))
    a.write_config()
    rc, err = a.run_to_exit()
    assert rc != 0 and 'needs s2s.tor_proxy' in err and ONION in err, err

def test_onion_without_proxy_bounces(make_server, pki):
    """No tor_proxy: a .onion domain is unreachable, at once."""
    a = make_server(domain=A, cert=pki[A], start=False)
    a.s2s = s2s_conf(pki['ca'], {})
    a.write_config()
    a.start()
    alice = login(a, 'alice')
    alice.message('bob@' + ONION, 'nowhere')
    m = alice.wait_message(timeout=5)
    assert stanza_error(m) == 'remote-server-not-found', show(m)


def test_bad_tor_proxy_is_a_config_error(make_server, pki):
    a = make_server(domain=A, cert=pki[A], start=False)
    a.s2s = s2s_conf(pki['ca'], {}, ', tor_proxy: "localhost"')
    a.write_config()
    rc, err = a.run_to_exit()
    assert rc != 0 and 's2s.tor_proxy' in err, err


def test_bidirectional_stream(make_server, pki):
    """XEP-0288: a.test's stream to b.test asks for bidi (b.test offers
    it after TLS); b.test's answer comes back on that same stream, so
    b.test opens no stream of its own to a.test."""
    a, b = pair(make_server, pki)
    alice, bob = login(a, 'alice'), login(b, 'bob')
    alice.message('bob@b.test', 'one stream')
    m = bob.wait_message(timeout=15)
    bob.message('alice@a.test/r', 'back the same way')
    m = alice.wait_message(timeout=15)
    assert m.findtext(q('jabber:client', 'body')) == 'back the same way'
    assert b.wait_log('bidirectional')
    assert 's2s-out b.test->a.test new' not in b.log


def test_sender_multiplexing(make_server, pki):
    """XEP-0220 §4.2: a.test already has a stream to b.test; its group
    chat service conference.a.test then sends to b.test (a mediated
    invitation) by proving itself with dialback on that same stream (a
    certificate naming *.a.test settles it, XEP-0344), not by a new
    connection."""
    a, b = pair(make_server, pki, start=False)
    text = a.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    a.write_config(text[:at] + '    services: [{ module: muc, domain: '
                   'conference.a.test }]\n' + text[at:])
    b.write_config()
    a.start()
    b.start()
    alice, bob = login(a, 'alice'), login(b, 'bob')
    alice.message('bob@b.test', 'first the host')
    bob.wait_message(timeout=15)
    room = 'r@conference.a.test'
    alice.send("<presence to='%s/alice'/>" % room)
    alice.wait_for(lambda e: e.get('from') == room + '/alice', timeout=15)
    alice.send("<message to='%s'><x xmlns='http://jabber.org/protocol/"
               "muc#user'><invite to='bob@b.test'/></x></message>" % room)
    m = bob.wait_for(lambda e: e.tag == q('jabber:client', 'message') and
                     e.get('from') == room, timeout=15)
    assert m.find('{http://jabber.org/protocol/muc#user}x') is not None
    assert a.wait_log('s2s-out conference.a.test->b.test multiplexed on '
                      'a.test->b.test')
    assert b.wait_log('conference.a.test->b.test authenticated by '
                      'dialback with certificate')
    assert 's2s-out conference.a.test->b.test connected' not in a.log


def test_allowed_list_refuses_others(make_server, pki):
    """s2s.allowed (a closed federation): a stream from a domain not in
    it ends at its header with policy-violation."""
    b = make_server(domain=B, cert=pki[B], start=False)
    b.s2s = s2s_conf(pki['ca'], {}, ', allowed: [c.test]')
    b.write_config()
    b.start()
    s = RawServer(b.s2s_port)
    s.send("<?xml version='1.0'?><stream:stream xmlns='%s' "
           "xmlns:stream='%s' from='a.test' to='b.test' version='1.0'>"
           % (NS_SERVER, NS_STREAM))
    s.assert_stream_error('policy-violation')


def test_streams_per_domain(make_server, pki):
    """s2s.streams_per_domain: a second stream proving a.test while the
    first is open ends with policy-violation."""
    b = make_server(domain=B, cert=pki[B], start=False)
    b.s2s = s2s_conf(pki['ca'], {}, ', streams_per_domain: 1')
    b.write_config()
    b.start()
    first = external(b.s2s_port, pki[A])
    first.expect(q(NS_SASL, 'success'))
    second = external(b.s2s_port, pki[A])
    second.assert_stream_error('policy-violation')

"""The federation harness itself: Prosody (b.test) and ejabberd (c.test)
federate through the test CA and the test DNS zone, without Tern.

If these fail, the Tern interop tests built on fedlib cannot be trusted;
they are skipped when prosody, ejabberd or unbound are not installed
(scripts/deps.sh installs them).
"""
import socket
import ssl
import struct

import pytest

import fedlib
from ternlib import TIMEOUT, recv

federation = fedlib.federation  # the module-scoped fixture
make_federation = fedlib.make_federation  # one test's own


def srv_port(port, name):
    """The port of the first SRV record for name from 127.0.0.1:port."""
    data = dns_query(port, name, 33, raw=True)
    i = 12
    while data[i]:
        i += data[i] + 1
    i += 5  # end of QNAME, QTYPE, QCLASS
    i += 2 if data[i] & 0xc0 == 0xc0 else len(data)  # compressed owner
    i += 10  # TYPE, CLASS, TTL, RDLENGTH
    return struct.unpack('>H', data[i + 4:i + 6])[0]


def dns_query(port, name, qtype, raw=False):
    """One UDP query to 127.0.0.1:port: (rcode, answer count)."""
    pkt = struct.pack('>HHHHHH', 0x7e57, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip('.').split('.'):
        pkt += bytes([len(label)]) + label.encode()
    pkt += b'\0' + struct.pack('>HH', qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.sendto(pkt, ('127.0.0.1', port))
        data = s.recv(4096)
    if raw:
        return data
    return data[3] & 15, struct.unpack('>H', data[6:8])[0]


def exchange(b, c):
    """alice@b sends to bob@c and back; returns nothing, asserts."""
    async def scenario():
        alice = await fedlib.login(b, 'alice')
        bob = await fedlib.login(c, 'bob')
        try:
            for src, dst, text in ((alice, bob, 'b to c'),
                                   (bob, alice, 'c to b')):
                src.send_message(mto=dst.boundjid.bare, mbody=text,
                                 mtype='chat')
                m = await recv(dst.inbox, timeout=20 * fedlib.SLOW)
                assert m['body'] == text
                assert m['from'].bare == src.boundjid.bare
            assert alice.errors.empty() and bob.errors.empty()
        finally:
            await fedlib.logout(alice, bob)
    fedlib.run(scenario)


def test_zone_has_srv_and_a_records(federation):
    """RFC 6120 section 3.2.1 / XEP-0368: the zone answers the SRV
    records every server looks up, for Tern's a.test too, and A records
    for the A/AAAA fallback (RFC 6120 section 3.2.2)."""
    port = federation.dns.port
    for d in ('a.test', 'b.test', 'c.test', 'conference.b.test'):
        assert dns_query(port, '_xmpp-server._tcp.' + d, 33) == (0, 1), d
        assert dns_query(port, '_xmpps-server._tcp.' + d, 33) == (0, 1), d
        assert dns_query(port, d, 1) == (0, 1), d
    assert dns_query(port, 'nowhere.test', 1)[0] == 3  # NXDOMAIN
    federation.dns.add_records(['late.test. 60 IN A 127.0.0.1'])
    assert dns_query(port, 'late.test', 1) == (0, 1)
    assert (srv_port(port, '_xmpp-server._tcp.a.test')
            == federation.tern_s2s)


def test_tern_ports_can_move(make_federation):
    """RFC 6120 section 3.2.1: a Tern fixture that picked its own s2s
    port points a.test's SRV record at it (one record, not two)."""
    fed = make_federation(start=False)
    fed.dns.start()
    fed.set_tern_ports(40001)
    port = fed.dns.port
    assert srv_port(port, '_xmpp-server._tcp.a.test') == 40001
    assert dns_query(port, '_xmpp-server._tcp.a.test', 33) == (0, 1)
    assert dns_query(port, '_xmpps-server._tcp.a.test', 33)[1] == 0
    fed.set_tern_ports(40002, 40003)
    assert srv_port(port, '_xmpp-server._tcp.a.test') == 40002
    assert srv_port(port, '_xmpps-server._tcp.a.test') == 40003
    assert dns_query(port, '_xmpp-server._tcp.conference.a.test',
                     33) == (0, 1)
    assert 'dns_server: "%s"' % fed.tern_dns() in fed.tern_s2s_yaml()
    assert 'port: %d' % fed.ejabberd.s2s in fed.tern_s2s_yaml(routes=True)


@pytest.mark.parametrize('domain', ['b.test', 'c.test'])
def test_c2s_certificate_verifies_against_test_ca(federation, domain):
    """RFC 6120 section 13.7.2 / RFC 6125 section 6.4: each server
    presents a certificate for its domain (dNSName) that verifies against
    the test CA."""
    server = {s.domain: s for s in federation.servers}[domain]
    ctx = fedlib.verifying_context(federation.pki.ca)
    with socket.create_connection(('127.0.0.1', server.c2s),
                                  timeout=TIMEOUT) as sock:
        sock.sendall(('<?xml version="1.0"?><stream:stream to="%s" '
                      'xmlns="jabber:client" xmlns:stream='
                      '"http://etherx.jabber.org/streams" version="1.0">'
                      '<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>'
                      % domain).encode())
        buf = b''
        while b'<proceed' not in buf:
            chunk = sock.recv(4096)
            assert chunk, 'closed before <proceed/>: %r' % buf
            buf += chunk
        with ctx.wrap_socket(sock, server_hostname=domain) as tls:
            cert = tls.getpeercert()
    assert ('DNS', domain) in cert['subjectAltName']


def test_xmpp_addr_certificate():
    """RFC 6120 section 13.7.1.4: Pki can put id-on-xmppAddr otherNames
    in a certificate (not by default: see fedlib.Pki.leaf)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        pki = fedlib.Pki(d)
        crt, _ = pki.leaf('x.test', xmpp_addr=True)
        der = ssl.PEM_cert_to_DER_cert(crt.read_text())
    # OID 1.3.6.1.5.5.7.8.5, then the UTF8String x.test
    assert bytes.fromhex('06082b06010505070805') in der
    assert b'\x0c\x06x.test' in der


def test_messages_cross_both_ways(federation):
    """RFC 6120 sections 8 and 10.4 / RFC 7590: a chat message from
    b.test (Prosody) reaches c.test (ejabberd) and one from c.test
    reaches b.test, over s2s found through the test zone's SRV records
    and authenticated with certificates from the test CA only (SASL
    EXTERNAL, XEP-0178; dialback is off on both, and Prosody requires
    secure auth)."""
    b, c = federation.prosody, federation.ejabberd
    exchange(b, c)
    # both took the Direct TLS (XEP-0368) records first
    for line in ('Received[s2sin_unauthed]: <starttls',
                 'Sending[s2sout_unauthed]: <starttls'):
        assert line not in b.log
    for line in ('Accepted inbound s2s EXTERNAL authentication '
                 'b.test -> c.test',
                 'Accepted outbound s2s EXTERNAL authentication '
                 'c.test -> b.test'):
        assert c.wait_log(line), '%r not in\n%s' % (line, c.log)
    assert 'dialback' not in c.log


def test_messages_cross_over_starttls(make_federation):
    """RFC 6120 section 5: without _xmpps-server records (XEP-0368) both
    peers connect to the _xmpp-server port and negotiate STARTTLS."""
    fed = make_federation(direct_tls=False)
    b, c = fed.prosody, fed.ejabberd
    exchange(b, c)
    line = 'Received[s2sin_unauthed]: <starttls'
    assert b.wait_log(line), '%r not in\n%s' % (line, b.log)
    line = 'Sending[s2sout_unauthed]: <starttls'
    assert b.wait_log(line), '%r not in\n%s' % (line, b.log)


def test_dialback_when_certificate_untrusted(make_federation):
    """XEP-0220 / XEP-0344: with ejabberd's certificate self-signed (not
    from the test CA) and secure auth off, c.test authenticates to
    b.test by dialback, while b.test (trusted) still uses SASL EXTERNAL
    (XEP-0178) towards c.test."""
    fed = make_federation(secure=False, dialback=True,
                          ejabberd={'trusted': False})
    b, c = fed.prosody, fed.ejabberd
    exchange(b, c)
    for line in ('Accepted inbound s2s EXTERNAL authentication '
                 'b.test -> c.test',
                 'Accepted outbound s2s dialback authentication '
                 'c.test -> b.test'):
        assert c.wait_log(line), '%r not in\n%s' % (line, c.log)

"""External Service Discovery (XEP-0215): STUN/TURN servers for the
host's users, with TURN credentials coturn accepts (use-auth-secret)."""
import base64
import calendar
import hashlib
import hmac
import inspect
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from ternlib import (COMPONENT, NS_COMPONENT, Ternd, connect_tls, free_ports,
                     q, show, stanza_error)
from test_component import connected

NS = 'urn:xmpp:extdisco:2'
NS_INFO = 'http://jabber.org/protocol/disco#info'
MODULES = inspect.signature(Ternd).parameters['modules'].default
SECRET = 'n0t-so-s3cret'


def extdisco_server(make_server, services, settings=''):
    srv = make_server(modules=list(MODULES) + ['extdisco'], start=False)
    text = srv.config.read_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    extra = '    extdisco:\n      services:\n%s%s' % (
        ''.join('        - %s\n' % s for s in services), settings)
    srv.write_config(text[:at] + extra + text[at:])
    return srv.start()


def login(srv, user='alice'):
    return connect_tls(srv.c2s, user, 'phone')


def services(s, type_=None):
    attr = " type='%s'" % type_ if type_ else ''
    r = s.iq('get', "<services xmlns='%s'%s/>" % (NS, attr), to='localhost')
    assert r.get('type') == 'result', show(r)
    el = r.find(q(NS, 'services'))
    assert el is not None and el.get('type') == type_, show(r)
    return [dict(e.attrib) for e in el.findall(q(NS, 'service'))]


def expected_password(username, secret=SECRET):
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def check_credentials(svc, ttl, jid='alice@localhost', secret=SECRET):
    """The coturn REST API form, computed here independently."""
    expiry, _, who = svc['username'].partition(':')
    assert who == jid
    assert abs(int(expiry) - (time.time() + ttl)) <= 5, svc
    assert svc['password'] == expected_password(svc['username'], secret)
    assert svc['restricted'] in ('1', 'true')
    when = calendar.timegm(time.strptime(svc['expires'],
                                         '%Y-%m-%dT%H:%M:%SZ'))
    assert when == int(expiry), svc


TURN = ("{ type: turn, host: 127.0.0.1, port: %d, transport: udp, "
        "secret: %s, name: Relay }")
STUN = "{ type: stun, host: stun.example.org }"
TURNS = "{ type: turns, host: turn.example.org, transport: tcp, secret: other }"


def test_services_credentials_and_filter(make_server):
    srv = extdisco_server(make_server, [TURN % (3479, SECRET), STUN, TURNS],
                          settings='      ttl: 2h\n')
    a = login(srv)
    r = a.iq('get', "<query xmlns='%s'/>" % NS_INFO, to='localhost')
    feats = {f.get('var') for f in r.find(q(NS_INFO, 'query'))}
    assert NS in feats
    allsv = services(a)
    assert [s['type'] for s in allsv] == ['turn', 'stun', 'turns']
    turn, stun, turns = allsv
    assert (turn['host'], turn['port'], turn['transport'], turn['name']) == \
        ('127.0.0.1', '3479', 'udp', 'Relay')
    check_credentials(turn, 7200)
    check_credentials(turns, 7200, secret='other')
    assert turns['port'] == '5349' and turns['transport'] == 'tcp'
    # STUN needs no credentials: none, and not restricted
    assert stun['port'] == '3478' and 'username' not in stun
    assert 'password' not in stun and 'restricted' not in stun
    # the type filter
    assert [s['type'] for s in services(a, 'stun')] == ['stun']
    assert [s['host'] for s in services(a, 'turns')] == ['turn.example.org']
    assert services(a, 'nosuch') == []
    # bob's credentials are his own
    b = login(srv, 'bob')
    check_credentials(services(b, 'turn')[0], 7200, jid='bob@localhost')


def credentials(s, attrs):
    return s.iq('get', "<credentials xmlns='%s'><service %s/></credentials>"
                % (NS, attrs), to='localhost')


def test_credentials_request(make_server):
    srv = extdisco_server(make_server, [TURN % (3479, SECRET), STUN,
                                        TURN % (3480, 'second')])
    a = login(srv)
    r = credentials(a, "host='127.0.0.1' type='turn'")
    assert r.get('type') == 'result', show(r)
    got = [dict(e.attrib) for e in
           r.find(q(NS, 'credentials')).findall(q(NS, 'service'))]
    assert [g['port'] for g in got] == ['3479', '3480']
    check_credentials(got[0], 86400)
    check_credentials(got[1], 86400, secret='second')
    r = credentials(a, "host='127.0.0.1' type='turn' port='3480'")
    got = r.find(q(NS, 'credentials')).findall(q(NS, 'service'))
    assert len(got) == 1 and got[0].get('port') == '3480', show(r)
    # unknown service, one with no credentials, wrong port
    for attrs in ("host='turn.nowhere' type='turn'",
                  "host='stun.example.org' type='stun'",
                  "host='127.0.0.1' type='turn' port='1'",
                  "host='127.0.0.1' type='turns'"):
        r = credentials(a, attrs)
        assert r.get('type') == 'error', show(r)
        assert stanza_error(r) == 'item-not-found', show(r)
    for attrs in ("host='127.0.0.1'", "type='turn'"):
        r = credentials(a, attrs)
        assert stanza_error(r) == 'bad-request', show(r)
    r = a.iq('get', "<credentials xmlns='%s'/>" % NS, to='localhost')
    assert stanza_error(r) == 'bad-request', show(r)


def test_not_for_others(make_server):
    """A remote entity (here a component's user) learns nothing."""
    srv = extdisco_server(make_server, [TURN % (3479, SECRET)])
    c = connected(srv)
    for payload, cond in (
            ("<services xmlns='%s'/>" % NS, 'forbidden'),
            ("<credentials xmlns='%s'><service host='127.0.0.1' "
             "type='turn'/></credentials>" % NS, 'not-authorized')):
        c.send("<iq xmlns='%s' type='get' id='x1' from='eve@%s' "
               "to='localhost'>%s</iq>" % (NS_COMPONENT, COMPONENT, payload))
        r = c.expect(q(NS_COMPONENT, 'iq'))
        assert r.get('type') == 'error', show(r)
        assert stanza_error(r) == cond, show(r)
        assert 'password' not in show(r)


def test_bad_config_names_the_line(make_server):
    srv = make_server(modules=list(MODULES) + ['extdisco'], start=False)
    text = srv.config.read_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    bad = ('    extdisco:\n      services:\n'
           '        - { type: tern, host: x }\n')
    srv.write_config(text[:at] + bad + text[at:])
    rc, err = srv.run_to_exit()
    line = text[:at].count('\n') + 3
    assert rc != 0 and ('tern.yml:%d' % line) in err, err
    assert 'tern' in err


# -- a real TURN server checks the credentials

def stun_attr(kind, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack('!HH', kind, len(value)) + value + b'\0' * pad


def stun_parse(data):
    kind, length, cookie = struct.unpack('!HHI', data[:8])
    assert cookie == 0x2112A442
    attrs, off = {}, 20
    while off < 20 + length:
        t, n = struct.unpack('!HH', data[off:off + 4])
        attrs[t] = data[off + 4:off + 4 + n]
        off += 4 + n + (4 - n % 4) % 4
    return kind, attrs


def error_code(attrs):
    v = attrs[0x0009]
    return v[2] * 100 + v[3]


def allocate(s, port, username=None, password=None, realm=None, nonce=None):
    """One TURN Allocate (RFC 8656) over UDP socket s (the nonce is
    bound to its address); returns (type, attrs)."""
    tid = os.urandom(12)
    body = stun_attr(0x0019, bytes([17, 0, 0, 0]))  # REQUESTED-TRANSPORT
    if username is not None:
        body += stun_attr(0x0006, username.encode())
        body += stun_attr(0x0014, realm) + stun_attr(0x0015, nonce)
        key = hashlib.md5(b'%s:%s:%s' % (username.encode(), realm,
                                          password.encode())).digest()
        head = struct.pack('!HHI', 0x0003, len(body) + 24, 0x2112A442) + tid
        mac = hmac.new(key, head + body, hashlib.sha1).digest()
        body += stun_attr(0x0008, mac)  # MESSAGE-INTEGRITY
    msg = struct.pack('!HHI', 0x0003, len(body), 0x2112A442) + tid + body
    for _ in range(5):
        s.sendto(msg, ('127.0.0.1', port))
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        assert data[8:20] == tid
        return stun_parse(data)
    raise AssertionError('no answer from the TURN server')


def authed_allocate(port, username, password):
    """Allocate from a fresh address: the 401 challenge, then the
    request with credentials."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        kind, attrs = allocate(s, port)
        assert (kind, error_code(attrs)) == (0x0113, 401), attrs
        return allocate(s, port, username, password, attrs[0x0014],
                        attrs[0x0015])


@pytest.mark.skipif(shutil.which('turnserver') is None,
                    reason='coturn not installed (scripts/deps.sh)')
def test_coturn_accepts_the_credentials(make_server, tmp_path):
    port, lo = free_ports(2)
    srv = extdisco_server(make_server, [TURN % (port, SECRET)])
    turn = subprocess.Popen(
        ['turnserver', '-n', '--listening-ip=127.0.0.1',
         '--listening-port=%d' % port, '--relay-ip=127.0.0.1',
         '--min-port=%d' % lo, '--max-port=%d' % lo,
         '--use-auth-secret', '--static-auth-secret=%s' % SECRET,
         '--realm=localhost', '--no-tls', '--no-dtls', '--no-cli',
         '--no-tcp-relay', '--userdb=%s' % (tmp_path / 'turndb'),
         '--pidfile=%s' % (tmp_path / 'turn.pid'), '--log-file=stdout',
         '--simple-log'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    try:
        a = login(srv)
        svc = services(a, 'turn')[0]
        old = '%d:alice@localhost' % (time.time() - 60)
        for user, pw in ((svc['username'], svc['password'] + 'x'),
                         (svc['username'][:-1], svc['password']),
                         # expired, even with its right password
                         (old, expected_password(old))):
            kind, attrs = authed_allocate(port, user, pw)
            assert (kind, error_code(attrs)) == (0x0113, 401), attrs
        kind, attrs = authed_allocate(port, svc['username'], svc['password'])
        assert kind == 0x0103, (hex(kind), attrs)  # Allocate success
        assert 0x0016 in attrs  # XOR-RELAYED-ADDRESS
    finally:
        turn.terminate()
        try:
            out = turn.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            turn.kill()
            out = turn.communicate()[0]
        print(out.decode(errors='replace')[-3000:])

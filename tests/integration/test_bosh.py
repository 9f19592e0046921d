"""XMPP over BOSH (XEP-0124, XEP-0206) at /http-bind: session creation
with features, SASL and the restart, bind, held requests answered when a
stanza arrives or after `wait`, a message both ways with a TCP client,
rid windows and retransmission, terminate, and bad input."""
import base64
import http.client
import ssl
import threading
import xml.etree.ElementTree as ET

from httputil import http_server
from ternlib import NS_BIND, NS_SASL, NS_STREAM, connect_tls, q, show

NS_BOSH = 'http://jabber.org/protocol/httpbind'
NS_XBOSH = 'urn:xmpp:xbosh'


class Bosh:
    def __init__(self, port, tls=True):
        self.port, self.tls = port, tls
        self.rid = 1000
        self.sid = None

    def conn(self):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection('127.0.0.1', self.port,
                                               context=ctx, timeout=15)
        return http.client.HTTPConnection('127.0.0.1', self.port,
                                          timeout=15)

    def post(self, payload='', attrs='', rid=None, raw=None):
        """POST one body; returns (status, parsed body or None)."""
        if rid is None:
            self.rid += 1
            rid = self.rid
        if raw is None:
            sid = " sid='%s'" % self.sid if self.sid else ''
            raw = ("<body xmlns='%s' xmlns:xmpp='%s' rid='%d'%s%s>%s"
                   "</body>" % (NS_BOSH, NS_XBOSH, rid, sid, attrs, payload))
        c = self.conn()
        c.request('POST', '/http-bind', body=raw.encode(),
                  headers={'Content-Type': 'text/xml; charset=utf-8'})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, (ET.fromstring(data) if r.status == 200 else None)

    def create(self, wait=2):
        st, b = self.post(attrs=" to='localhost' wait='%d' hold='1' "
                          "xmpp:version='1.0' ver='1.11'" % wait)
        assert st == 200, st
        self.sid = b.get('sid')
        assert self.sid and b.get('from') == 'localhost', show(b)
        return b

    def login(self, user):
        b = self.create()
        f = b.find(q(NS_STREAM, 'features'))
        assert f is not None, show(b)
        plain = base64.b64encode(('\0%s\0secret-%s' % (user, user))
                                 .encode()).decode()
        st, b = self.post("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                          % (NS_SASL, plain))
        assert b.find(q(NS_SASL, 'success')) is not None, show(b)
        st, b = self.post(attrs=" to='localhost' xmpp:restart='true'")
        f = b.find(q(NS_STREAM, 'features'))
        assert f is not None and f.find(q(NS_BIND, 'bind')) is not None, \
            show(b)
        st, b = self.post("<iq xmlns='jabber:client' type='set' id='b'>"
                          "<bind xmlns='%s'><resource>bosh</resource>"
                          "</bind></iq>" % NS_BIND)
        iq = b.find(q('jabber:client', 'iq'))
        assert iq.get('type') == 'result', show(b)
        return iq.find('%s/%s' % (q(NS_BIND, 'bind'), q(NS_BIND, 'jid'))).text


def srv_for(make_server):
    return http_server(make_server)


def test_session_creation(make_server):
    """XEP-0124 §7.1 / XEP-0206 §4: the creation answer carries sid,
    wait (capped), requests, hold, inactivity, polling, authid and
    xmpp:version, and the stream features (SASL offered over https; no
    STARTTLS, no channel binding: requests travel on several
    connections)."""
    srv = srv_for(make_server)
    b = Bosh(srv.https)
    st, body = b.post(attrs=" to='localhost' wait='600' hold='1' "
                      "xmpp:version='1.0' ver='1.11'")
    assert st == 200
    assert body.get('wait') == '60' and body.get('requests') == '2'
    assert body.get('hold') == '1' and body.get('inactivity')
    assert body.get('authid') and body.get('secure') == 'true'
    assert body.get('{%s}version' % NS_XBOSH) == '1.0'
    f = body.find(q(NS_STREAM, 'features'))
    mechs = [m.text for m in f.iter(q(NS_SASL, 'mechanism'))]
    assert 'PLAIN' in mechs and 'SCRAM-SHA-256' in mechs, mechs
    assert not [m for m in mechs if m.endswith('-PLUS')], mechs
    assert f.find(q('urn:ietf:params:xml:ns:xmpp-tls', 'starttls')) is None


def test_login_and_messages_with_tcp_client(make_server):
    """SASL, restart and bind over BOSH; a held request is answered as
    soon as a message for the session arrives; a message sent over BOSH
    reaches a TCP client."""
    srv = srv_for(make_server)
    b = Bosh(srv.https)
    jid = b.login('alice')
    assert jid == 'alice@localhost/bosh'
    b.post("<presence xmlns='jabber:client'/>")
    bob = connect_tls(srv.c2s, 'bob', 'tcp')
    got = {}

    def poll():
        got['r'] = b.post()
    t = threading.Thread(target=poll)
    t.start()
    bob.send("<message to='%s' type='chat'><body>to bosh</body></message>"
             % jid)
    t.join(20)
    st, body = got['r']
    msgs = body.findall(q('jabber:client', 'message'))
    assert msgs and msgs[0].findtext(q('jabber:client', 'body')) == \
        'to bosh', show(body)
    b.post("<message xmlns='jabber:client' to='bob@localhost/tcp' "
           "type='chat'><body>from bosh</body></message>")
    m = bob.wait_message()
    assert m.findtext(q('jabber:client', 'body')) == 'from bosh'
    assert m.get('from') == jid


def test_wait_expiry_and_retransmission(make_server):
    """XEP-0124 §7.3: with nothing to send the request is answered empty
    after `wait`; §14.3: the same rid again gets the same answer."""
    srv = srv_for(make_server)
    b = Bosh(srv.https)
    b.create(wait=1)
    st, body = b.post()
    assert st == 200 and len(body) == 0, show(body)
    st2, body2 = b.post(rid=b.rid)
    assert st2 == 200 and ET.tostring(body2) == ET.tostring(body)


def test_rid_outside_window_and_unknown_sid(make_server):
    """XEP-0124 §14.2: a rid beyond the window ends the session (404);
    §17.2: an unknown sid is 404."""
    srv = srv_for(make_server)
    b = Bosh(srv.https)
    b.create()
    st, _ = b.post(rid=b.rid + 10)
    assert st == 404
    st, _ = b.post()
    assert st == 404  # the session is gone
    b.sid = 'nosuchsession'
    st, _ = b.post()
    assert st == 404


def test_terminate(make_server):
    """XEP-0124 §13: type='terminate' ends the session; the answer says
    terminate."""
    srv = srv_for(make_server)
    b = Bosh(srv.https)
    b.login('alice')
    st, body = b.post(attrs=" type='terminate'",
                      payload="<presence xmlns='jabber:client' "
                      "type='unavailable'/>")
    assert st == 200 and body.get('type') == 'terminate', show(body)


def test_bad_input(make_server):
    """Not a <body/>, malformed XML, a session for an unknown host, GET:
    each gets its specified answer; CORS preflight is answered."""
    srv = srv_for(make_server)
    b = Bosh(srv.https)
    st, body = b.post(raw='<notbody/>')
    assert body.get('type') == 'terminate'
    assert body.get('condition') == 'bad-request'
    st, body = b.post(raw='<body xmlns="%s"' % NS_BOSH)
    assert body.get('condition') == 'bad-request'
    st, body = b.post(attrs=" to='elsewhere.example' xmpp:version='1.0'")
    assert body.get('condition') == 'host-unknown', show(body)
    c = b.conn()
    c.request('GET', '/http-bind')
    assert c.getresponse().status == 405
    c = b.conn()
    c.request('OPTIONS', '/http-bind', headers={
        'Origin': 'https://web.example',
        'Access-Control-Request-Method': 'POST'})
    r = c.getresponse()
    assert r.status == 204
    assert r.getheader('Access-Control-Allow-Origin') == '*'


def test_plain_http_offers_no_auth(make_server):
    """Over plain http with c2s_require_tls, no mechanism is offered and
    authentication is refused (encryption-required)."""
    srv = srv_for(make_server)
    b = Bosh(srv.http, tls=False)
    body = b.create()
    f = body.find(q(NS_STREAM, 'features'))
    assert f.find(q(NS_SASL, 'mechanisms')) is None, show(f)
    st, body = b.post("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>biwsbj1h"
                      "LHI9YWJj</auth>" % NS_SASL)
    fl = body.find(q(NS_SASL, 'failure'))
    assert fl is not None and fl.find(
        q(NS_SASL, 'encryption-required')) is not None, show(body)

"""XMPP over BOSH (XEP-0124, XEP-0206) at /http-bind: session creation
with features, SASL and the restart, bind, held requests answered when a
stanza arrives or after `wait`, a message both ways with a TCP client,
rid windows and retransmission, terminate, and bad input."""
import base64
import http.client
import ssl
import threading
import time
import xml.etree.ElementTree as ET

from httputil import http_server
from ternlib import NS_BIND, NS_SASL, NS_STREAM, connect_tls, q, show

NS_BOSH = 'http://jabber.org/protocol/httpbind'
NS_XBOSH = 'urn:xmpp:xbosh'
PING = ("<iq xmlns='jabber:client' type='get' id='%s'>"
        "<ping xmlns='urn:xmpp:ping'/></iq>")


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

    def create(self, wait=2, extra=''):
        st, b = self.post(attrs=" to='localhost' wait='%d' hold='1' "
                          "xmpp:version='1.0' ver='1.11'%s" % (wait, extra))
        assert st == 200, st
        self.sid = b.get('sid')
        assert self.sid and b.get('from') == 'localhost', show(b)
        return b

    def login(self, user, create=True):
        if create:
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


def _held(b, **kw):
    """POST in a thread; returns (thread, result dict) to join later."""
    got = {}

    def run():
        got['t0'] = time.monotonic()
        got['r'] = b.post(**kw)
        got['t1'] = time.monotonic()
    t = threading.Thread(target=run)
    t.start()
    return t, got


def test_acknowledgements_and_report(make_server):
    """XEP-0124 §9: a client that asks for acks (ack='1') gets the
    creation rid acknowledged; an answer to a held request names the
    higher rid received since; a request acknowledging less than was
    answered long ago gets an immediate answer with report and time,
    and the reported request sent again gets its answer again; an
    acknowledged answer is forgotten (§14.3: 404)."""
    srv = srv_for(make_server)
    b = Bosh(srv.https)
    body = b.create(wait=1, extra=" ack='1'")
    assert body.get('ack') == str(b.rid), show(body)
    b.login('alice', create=False)
    st, body = b.post("<presence xmlns='jabber:client'/>")
    assert body.get('ack') is None, show(body)  # nothing beyond its rid
    t, first = _held(b)              # rid n: held
    time.sleep(0.3)
    n = b.rid
    st, second = b.post(PING % 'p1')   # rid n+1: n answered, acks n+1
    t.join(10)
    st1, body1 = first['r']
    assert body1.get('ack') == str(n + 1), show(body1)
    assert 'p1' in ET.tostring(body1).decode() + \
        ET.tostring(second).decode()
    time.sleep(2.2)
    # the client says it has nothing after n-1: answer n is reported
    st, body = b.post(attrs=" ack='%d'" % (n - 1))
    assert st == 200 and body.get('report') == str(n), show(body)
    assert int(body.get('time')) >= 2000, show(body)
    st, again = b.post(rid=n, attrs=" ack='%d'" % (n - 1))
    assert ET.tostring(again) == ET.tostring(body1)
    # acknowledged: forgotten, and asking for it again ends the session
    b.post(attrs=" ack='%d'" % b.rid)
    st, _ = b.post(rid=n)
    assert st == 404


def test_requests_processed_in_rid_order(make_server):
    """XEP-0124 §14.2: a request that arrives before the one below it
    (two connections) waits for it; both are processed in rid order:
    the TCP contact gets the messages in that order."""
    srv = srv_for(make_server)
    b = Bosh(srv.https)
    b.create(wait=1)
    jid = b.login('alice', create=False)
    bob = connect_tls(srv.c2s, 'bob', 'tcp')
    n = b.rid
    msg = ("<message xmlns='jabber:client' to='bob@localhost/tcp' "
           "type='chat'><body>%s</body></message>")
    t, late = _held(b, rid=n + 2, payload=msg % 'second')
    time.sleep(0.5)
    st, _ = b.post(rid=n + 1, payload=msg % 'first')
    assert st == 200
    t.join(10)
    assert late['r'][0] == 200
    bodies = [bob.wait_message().findtext(q('jabber:client', 'body'))
              for _ in range(2)]
    assert bodies == ['first', 'second'], bodies
    b.rid = n + 2
    st, _ = b.post(msg % 'third')
    assert st == 200
    assert bob.wait_message().get('from') == jid


def test_resent_held_request_takes_its_place(make_server):
    """§14.3: a client that sends a held request again (its first
    connection looked dead) gets the answer on the new connection; the
    old one gets an empty body."""
    srv = srv_for(make_server)
    b = Bosh(srv.https)
    b.create(wait=5)
    jid = b.login('alice', create=False)
    b.post("<presence xmlns='jabber:client'/>")
    bob = connect_tls(srv.c2s, 'bob', 'tcp')
    t1, old = _held(b)
    time.sleep(0.3)
    t2, new = _held(b, rid=b.rid)
    t1.join(10)
    assert old['r'][0] == 200 and len(old['r'][1]) == 0, show(old['r'][1])
    assert old['t1'] - old['t0'] < 4
    bob.send("<message to='%s' type='chat'><body>again</body></message>"
             % jid)
    t2.join(10)
    st, body = new['r']
    assert 'again' in ET.tostring(body).decode(), show(body)


def test_polling_session(make_server):
    """§12: hold='0' makes a polling session (hold 0, requests 1): each
    request is answered at once; two empty requests closer together
    than `polling` seconds end it with policy-violation."""
    srv = srv_for(make_server)
    b = Bosh(srv.https)
    st, body = b.post(attrs=" to='localhost' wait='10' hold='0' "
                      "xmpp:version='1.0' ver='1.11'")
    b.sid = body.get('sid')
    assert body.get('hold') == '0' and body.get('requests') == '1', \
        show(body)
    polling = int(body.get('polling'))
    time.sleep(polling + 0.2)
    t0 = time.monotonic()
    st, body = b.post()
    assert st == 200 and body.get('type') is None, show(body)
    assert time.monotonic() - t0 < 5  # not held for `wait`
    st, body = b.post()
    assert body.get('type') == 'terminate', show(body)
    assert body.get('condition') == 'policy-violation', show(body)

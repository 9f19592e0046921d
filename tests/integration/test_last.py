"""Last Activity (XEP-0012): server uptime, and users' last logout for
those who may see their presence."""
import inspect
import time

from ternlib import subscribe_mutually as mutual
from ternlib import NS_CLIENT, Ternd, connect_tls, q, show, stanza_error

NS_LAST = 'jabber:iq:last'
NS_INFO = 'http://jabber.org/protocol/disco#info'
QUERY = "<query xmlns='%s'/>" % NS_LAST
MODULES = inspect.signature(Ternd).parameters['modules'].default
NEEDED = ('roster', 'presence', 'last')


def last_server(make_server):
    mods = list(MODULES) + [m for m in NEEDED if m not in MODULES]
    return make_server(modules=mods)


def login(server, user, resource=None, available=True):
    s = connect_tls(server.c2s)
    s.authenticate(user)
    s.bind(resource)
    if available:
        s.presence()
    s.alive()
    return s




def last(s, to=None):
    """(seconds, text) of a result; asserts it is one."""
    r = s.iq('get', QUERY, to=to)
    assert r.get('type') == 'result', show(r)
    el = r.find(q(NS_LAST, 'query'))
    assert el is not None, show(r)
    return int(el.get('seconds')), el.text


def features(s, to):
    r = s.iq('get', "<query xmlns='%s'/>" % NS_INFO, to=to)
    return {f.get('var') for f in r.find(q(NS_INFO, 'query'))}


def test_server_uptime_and_disco(make_server):
    srv = last_server(make_server)
    started = time.monotonic()
    a = login(srv, 'alice')
    secs, text = last(a, 'localhost')
    assert 0 <= secs <= time.monotonic() - started + 5
    assert text is None
    time.sleep(1.1)
    assert last(a, 'localhost')[0] >= 1
    assert NS_LAST in features(a, 'localhost')
    assert NS_LAST in features(a, 'alice@localhost')


def test_forbidden_without_subscription(make_server):
    srv = last_server(make_server)
    a = login(srv, 'alice', 'pc')
    c = login(srv, 'carol')
    r = c.iq('get', QUERY, to='alice@localhost')
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'forbidden', show(r)
    assert r.find(q(NS_CLIENT, 'error')).get('type') == 'auth'
    # to the full JID: refused by the server, never reaches the client
    r = c.iq('get', QUERY, to='alice@localhost/pc')
    assert stanza_error(r) == 'forbidden', show(r)
    a.alive()
    assert not [e for e in a.pending if e.tag == q(NS_CLIENT, 'iq')]


def test_online_self_and_subscribed(make_server):
    srv = last_server(make_server)
    mutual(srv, 'alice', 'bob')
    a = login(srv, 'alice', 'pc')
    assert last(a) == (0, None)  # oneself, no 'to'
    b = login(srv, 'bob')
    assert last(b, 'alice@localhost') == (0, None)
    # a full JID query from a subscriber reaches the client
    iq_id = 'full1'
    b.send("<iq type='get' id='%s' to='alice@localhost/pc'>%s</iq>"
           % (iq_id, QUERY))
    got = a.wait_for(lambda e: e.tag == q(NS_CLIENT, 'iq')
                     and e.get('id') == iq_id)
    assert got.get('from') == b.jid, show(got)
    a.send("<iq type='result' id='%s' to='%s'><query xmlns='%s' "
           "seconds='42'/></iq>" % (iq_id, b.jid, NS_LAST))
    r = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'iq')
                   and e.get('id') == iq_id)
    assert r.find(q(NS_LAST, 'query')).get('seconds') == '42'
    # an absent resource: RFC 6121 §8.5.3.2.1
    r = b.iq('get', QUERY, to='alice@localhost/gone')
    assert stanza_error(r) == 'service-unavailable', show(r)


def test_seconds_since_logout_with_status(make_server):
    srv = last_server(make_server)
    mutual(srv, 'alice', 'bob')
    a1 = login(srv, 'alice', 'one')
    a2 = login(srv, 'alice', 'two')
    a1.send("<presence type='unavailable'><status>Heading Home</status>"
            "</presence>")
    a1.send('</stream:stream>')
    a1.wait_closed()
    b = login(srv, 'bob')
    assert last(b, 'alice@localhost') == (0, None)  # 'two' is still on
    a2.send("<presence type='unavailable'><status>Heading Home"
            "</status></presence>")
    a2.send('</stream:stream>')
    a2.wait_closed()
    time.sleep(1.2)
    secs, text = last(b, 'alice@localhost')
    assert 1 <= secs <= 10
    assert text == 'Heading Home'
    # kept across a restart
    b.close()
    assert srv.stop() == []
    srv.start()
    b = login(srv, 'bob')
    secs, text = last(b, 'alice@localhost')
    assert secs >= 1 and text == 'Heading Home'
    # a logout without a status leaves none
    a = login(srv, 'alice')
    a.send('</stream:stream>')
    a.wait_closed()
    b.alive()
    secs, text = last(b, 'alice@localhost')
    assert secs <= 5 and text is None

"""Offline messages (XEP-0160) with delay stamps (XEP-0203)."""
import calendar
import inspect
import time

from ternlib import (NS_CLIENT, NS_STANZAS, Ternd, connect_tls, q, show,
                     stanza_error)

NS_DELAY = 'urn:xmpp:delay'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_CHATSTATES = 'http://jabber.org/protocol/chatstates'
NS_HINTS = 'urn:xmpp:hints'
MODULES = inspect.signature(Ternd).parameters['modules'].default


def offline_server(make_server, settings='', **kw):
    """A server with the offline module (and settings for it)."""
    mods = list(kw.pop('modules', MODULES))
    if 'offline' not in mods:
        mods.append('offline')
    srv = make_server(start=False, modules=mods, **kw)
    cfg = srv.config_text()
    line = '    modules: [%s]\n' % ', '.join(srv.modules)
    assert line in cfg
    if settings:
        cfg = cfg.replace(line, line + '    offline: { %s }\n' % settings)
    srv.write_config(cfg)
    return srv.start()


def login(server, user, resource=None):
    s = connect_tls(server.c2s)
    s.authenticate(user)
    s.bind(resource)
    return s


def is_msg(el):
    return el.tag == q(NS_CLIENT, 'message')


def body(el):
    b = el.find(q(NS_CLIENT, 'body'))
    return b.text if b is not None else None


def send(s, to, text, type_='chat', extra=''):
    t = " type='%s'" % type_ if type_ is not None else ''
    s.send("<message to='%s'%s><body>%s</body>%s</message>"
           % (to, t, text, extra))


def stamp_secs(el):
    d = el.find(q(NS_DELAY, 'delay'))
    assert d is not None, 'no delay in %s' % show(el)
    assert d.get('from') == 'localhost', show(el)
    assert d.text == 'Offline Storage', show(el)
    return calendar.timegm(time.strptime(d.get('stamp'),
                                         '%Y-%m-%dT%H:%M:%SZ'))


def no_message(s, within=0.5):
    """No message arrives within the time (presence may)."""
    try:
        el = s.wait_for(is_msg, within)
    except TimeoutError:
        return
    raise AssertionError('unexpected message: %s' % show(el))


def messages(s, n):
    return [s.wait_for(is_msg) for _ in range(n)]


def test_msgoffline_in_server_disco(make_server):
    srv = offline_server(make_server)
    a = login(srv, 'alice')
    r = a.iq('get', "<query xmlns='%s'/>" % NS_INFO, to='localhost')
    feats = {f.get('var') for f in r.find(q(NS_INFO, 'query'))}
    assert 'msgoffline' in feats, show(r)


def test_stored_then_delivered_in_order_with_delay(make_server):
    srv = offline_server(make_server)
    a = login(srv, 'alice', 'pc')
    before = int(time.time())
    send(a, 'bob@localhost', 'one')
    send(a, 'bob@localhost', 'two', type_='normal')
    send(a, 'bob@localhost', 'three', type_=None)
    send(a, 'bob@localhost/gone', 'four')  # absent resource: bare rules
    a.alive()
    no_message(a, 0.3)  # stored: no error comes back
    b = login(srv, 'bob', 'phone')
    no_message(b, 0.5)  # nothing before presence
    b.presence(priority=1)
    got = messages(b, 4)
    assert [body(m) for m in got] == ['one', 'two', 'three', 'four']
    assert [m.get('type') for m in got] == ['chat', 'normal', None, 'chat']
    for m in got:
        assert m.get('from') == 'alice@localhost/pc', show(m)
        assert before - 2 <= stamp_secs(m) <= time.time() + 2
    no_message(b, 0.5)
    b.close()
    # delivered means deleted: a new session gets nothing again
    b2 = login(srv, 'bob', 'tablet')
    b2.presence(priority=0)
    b2.alive()
    no_message(b2, 0.5)


def test_negative_priority_waits_for_non_negative(make_server):
    srv = offline_server(make_server)
    a = login(srv, 'alice')
    b = login(srv, 'bob', 'phone')
    b.presence(priority=-1)
    b.alive()
    send(a, 'bob@localhost', 'held')
    a.alive()
    no_message(b, 0.5)
    b.presence(priority=-5)  # still negative: nothing
    no_message(b, 0.5)
    b.presence(priority=2)
    assert body(b.wait_for(is_msg)) == 'held'
    # later updates do not deliver twice, online messages go directly
    b.presence(priority=3)
    send(a, 'bob@localhost', 'live')
    m = b.wait_for(is_msg)
    assert body(m) == 'live' and m.find(q(NS_DELAY, 'delay')) is None
    no_message(b, 0.5)


def test_only_the_presence_sender_gets_them(make_server):
    srv = offline_server(make_server)
    a = login(srv, 'alice')
    send(a, 'bob@localhost', 'once')
    a.alive()
    b1 = login(srv, 'bob', 'one')
    b2 = login(srv, 'bob', 'two')
    b1.presence(priority=0)
    assert body(b1.wait_for(is_msg)) == 'once'
    b2.presence(priority=0)
    b2.alive()
    no_message(b2, 0.5)


def test_what_is_not_stored(make_server):
    srv = offline_server(make_server)
    a = login(srv, 'alice')
    # headline: dropped silently (XEP-0160 §3)
    send(a, 'bob@localhost', 'news', type_='headline')
    # chat state alone: not worth storing, dropped silently
    a.send("<message to='bob@localhost' type='chat'>"
           "<composing xmlns='%s'/></message>" % NS_CHATSTATES)
    a.alive()
    no_message(a, 0.3)
    # groupchat: service-unavailable
    send(a, 'bob@localhost', 'room', type_='groupchat')
    e = a.wait_for(is_msg)
    assert e.get('type') == 'error' and \
        stanza_error(e) == 'service-unavailable', show(e)
    # XEP-0334 no-store: not kept, so the sender learns it
    send(a, 'bob@localhost', 'secret', extra="<no-store xmlns='%s'/>"
         % NS_HINTS)
    e = a.wait_for(is_msg)
    assert stanza_error(e) == 'service-unavailable', show(e)
    # a receipt-like payload without body is kept
    a.send("<message to='bob@localhost' id='r1'>"
           "<received xmlns='urn:xmpp:receipts' id='x'/></message>")
    a.alive()
    b = login(srv, 'bob')
    b.presence()
    m = b.wait_for(is_msg)
    assert m.find('{urn:xmpp:receipts}received') is not None, show(m)
    assert m.get('id') == 'r1'
    stamp_secs(m)
    no_message(b, 0.5)


def test_quota_by_count(make_server):
    srv = offline_server(make_server, 'max_messages: 3')
    a = login(srv, 'alice')
    for i in range(3):
        send(a, 'bob@localhost', 'm%d' % i)
    a.alive()
    no_message(a, 0.3)
    send(a, 'bob@localhost', 'too many')
    e = a.wait_for(is_msg)
    assert e.get('type') == 'error', show(e)
    assert e.get('from') == 'bob@localhost', show(e)
    assert stanza_error(e) == 'service-unavailable'
    assert e.find('%s/%s' % (q(NS_CLIENT, 'error'),
                             q(NS_STANZAS, 'service-unavailable'))) \
        is not None, show(e)
    assert srv.wait_log('offline quota full user=bob@localhost')
    b = login(srv, 'bob')
    b.presence()
    assert [body(m) for m in messages(b, 3)] == ['m0', 'm1', 'm2']
    no_message(b, 0.5)
    # delivered messages free the quota again
    b.send('</stream:stream>')
    b.wait_closed()
    for i in range(3):
        send(a, 'bob@localhost', 'again%d' % i)
    a.alive()
    no_message(a, 0.3)
    b = login(srv, 'bob')
    b.presence()
    assert [body(m) for m in messages(b, 3)] == ['again0', 'again1',
                                                 'again2']


def test_quota_by_bytes(make_server):
    srv = offline_server(make_server, 'max_bytes: 2k')
    a = login(srv, 'alice')
    # two fit in 2k with the delay and the archive's stanza-id, not three
    big = 'x' * 700
    send(a, 'bob@localhost', big)
    send(a, 'bob@localhost', big)
    a.alive()
    no_message(a, 0.3)
    send(a, 'bob@localhost', big)
    e = a.wait_for(is_msg)
    assert stanza_error(e) == 'service-unavailable', show(e)
    b = login(srv, 'bob')
    b.presence()
    assert [body(m) for m in messages(b, 2)] == [big, big]
    no_message(b, 0.5)


def test_offline_messages_survive_restart(make_server):
    srv = offline_server(make_server)
    a = login(srv, 'alice', 'pc')
    send(a, 'bob@localhost', 'before restart')
    send(a, 'bob@localhost', 'second & <last>'.replace('&', '&amp;')
         .replace('<', '&lt;').replace('>', '&gt;'))
    a.alive()
    a.close()
    assert srv.stop() == []
    srv.start()
    b = login(srv, 'bob')
    b.presence()
    got = messages(b, 2)
    assert [body(m) for m in got] == ['before restart', 'second & <last>']
    for m in got:
        stamp_secs(m)
        assert m.get('from') == 'alice@localhost/pc'

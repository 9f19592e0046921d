"""Blocking Command (XEP-0191): the list, pushes, and enforcement in both
directions, across devices, for offline users and across restarts."""
import inspect

from ternlib import subscribe_mutually as mutual
from ternlib import (NS_CLIENT, NS_PING, Ternd, connect_tls, q, show,
                     stanza_error)

NS_BLOCKING = 'urn:xmpp:blocking'
NS_BLOCKED = 'urn:xmpp:blocking:errors'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ROSTER = 'jabber:iq:roster'
MODULES = inspect.signature(Ternd).parameters['modules'].default
NEEDED = ('roster', 'presence', 'offline', 'blocking')


def blocking_server(make_server, settings=''):
    mods = list(MODULES) + [m for m in NEEDED if m not in MODULES]
    srv = make_server(start=False, modules=mods)
    cfg = srv.config_text()
    line = '    modules: [%s]\n' % ', '.join(srv.modules)
    assert line in cfg
    if settings:
        cfg = cfg.replace(line, line + '    blocking: { %s }\n' % settings)
    srv.write_config(cfg)
    return srv.start()


def login(server, user, resource=None, available=True):
    s = connect_tls(server.c2s)
    s.authenticate(user)
    s.bind(resource)
    if available:
        s.presence()
    s.alive()
    return s


def items(jids):
    return ''.join("<item jid='%s'/>" % j for j in jids)


def blocklist(s):
    r = s.iq('get', "<blocklist xmlns='%s'/>" % NS_BLOCKING)
    assert r.get('type') == 'result', show(r)
    bl = r.find(q(NS_BLOCKING, 'blocklist'))
    assert bl is not None, show(r)
    return [i.get('jid') for i in bl.findall(q(NS_BLOCKING, 'item'))]


def block(s, *jids):
    r = s.iq('set', "<block xmlns='%s'>%s</block>"
             % (NS_BLOCKING, items(jids)))
    return r


def unblock(s, *jids):
    return s.iq('set', "<unblock xmlns='%s'>%s</unblock>"
                % (NS_BLOCKING, items(jids)))


def ok(r):
    assert r.get('type') == 'result', show(r)


def is_push(op):
    return lambda e: (e.tag == q(NS_CLIENT, 'iq') and e.get('type') == 'set'
                      and e.find(q(NS_BLOCKING, op)) is not None)


def push_items(e, op):
    return [i.get('jid') for i in e.find(q(NS_BLOCKING, op))]


def is_msg(e):
    return e.tag == q(NS_CLIENT, 'message')


def is_pres(frm, type_=None):
    return lambda e: (e.tag == q(NS_CLIENT, 'presence')
                      and e.get('from') == frm and e.get('type') == type_)


def none_of(s, pred, within=0.5):
    try:
        el = s.wait_for(pred, within)
    except TimeoutError:
        return
    raise AssertionError('unexpected: %s' % show(el))


def message(s, to, text):
    s.send("<message to='%s' type='chat' id='m-%s'><body>%s</body>"
           "</message>" % (to, text, text))


def error_of(s, kind='message'):
    e = s.wait_for(lambda x: x.tag == q(NS_CLIENT, kind)
                   and x.get('type') == 'error')
    return e, stanza_error(e)


def assert_blocked_error(s, kind='message'):
    e, cond = error_of(s, kind)
    assert cond == 'not-acceptable', show(e)
    err = e.find(q(NS_CLIENT, 'error'))
    assert err.get('type') == 'cancel', show(e)
    assert err.find(q(NS_BLOCKED, 'blocked')) is not None, show(e)
    return e




def test_feature_in_server_disco(make_server):
    srv = blocking_server(make_server)
    a = login(srv, 'alice')
    r = a.iq('get', "<query xmlns='%s'/>" % NS_INFO, to='localhost')
    feats = {f.get('var') for f in r.find(q(NS_INFO, 'query'))}
    assert NS_BLOCKING in feats, show(r)


def test_list_block_unblock_and_pushes(make_server):
    srv = blocking_server(make_server)
    pc = login(srv, 'alice', 'pc')
    phone = login(srv, 'alice', 'phone')
    watch = login(srv, 'alice', 'watch')  # never asks for the list
    assert blocklist(pc) == []
    assert blocklist(phone) == []
    ok(block(pc, 'bob@localhost', 'carol@localhost/x', 'example.org'))
    for s in (pc, phone):
        p = s.wait_for(is_push('block'))
        assert sorted(push_items(p, 'block')) == [
            'bob@localhost', 'carol@localhost/x', 'example.org'], show(p)
        assert p.get('to') == s.jid, show(p)
    none_of(watch, is_push('block'))
    assert blocklist(phone) == ['bob@localhost', 'carol@localhost/x',
                                'example.org']
    # blocking again is harmless
    ok(block(phone, 'bob@localhost'))
    assert blocklist(pc).count('bob@localhost') == 1
    ok(unblock(phone, 'bob@localhost'))
    for s in (pc, phone):
        p = s.wait_for(is_push('unblock'))
        assert push_items(p, 'unblock') == ['bob@localhost'], show(p)
    assert blocklist(watch) == ['carol@localhost/x', 'example.org']
    ok(unblock(pc))
    for s in (pc, phone, watch):
        p = s.wait_for(is_push('unblock'))
        assert push_items(p, 'unblock') == [], show(p)
    assert blocklist(pc) == []


def test_bad_requests(make_server):
    srv = blocking_server(make_server)
    a = login(srv, 'alice')
    r = block(a)
    assert r.get('type') == 'error' and stanza_error(r) == 'bad-request'
    r = a.iq('set', "<block xmlns='%s'><item/></block>" % NS_BLOCKING)
    assert stanza_error(r) == 'bad-request', show(r)
    r = block(a, 'a@b@c')
    assert stanza_error(r) == 'jid-malformed', show(r)
    assert blocklist(a) == []
    # someone else's list is nobody's business
    b = login(srv, 'bob')
    r = b.iq('get', "<blocklist xmlns='%s'/>" % NS_BLOCKING,
             to='alice@localhost')
    assert stanza_error(r) == 'service-unavailable', show(r)
    r = b.iq('set', "<block xmlns='%s'>%s</block>"
             % (NS_BLOCKING, items(['carol@localhost'])),
             to='alice@localhost')
    assert stanza_error(r) == 'service-unavailable', show(r)
    assert blocklist(a) == []


def test_limit(make_server):
    srv = blocking_server(make_server, 'max_items: 2')
    a = login(srv, 'alice')
    r = block(a, 'x@localhost', 'y@localhost', 'z@localhost')
    assert stanza_error(r) == 'policy-violation', show(r)
    assert blocklist(a) == []
    ok(block(a, 'x@localhost', 'y@localhost'))
    r = block(a, 'z@localhost')
    assert stanza_error(r) == 'policy-violation', show(r)
    ok(block(a, 'y@localhost'))  # already there: no growth


def test_enforced_both_ways_on_every_device(make_server):
    srv = blocking_server(make_server)
    pc = login(srv, 'alice', 'pc')
    phone = login(srv, 'alice', 'phone')
    bob = login(srv, 'bob', 'b')
    ok(block(pc, 'bob@localhost'))
    # inbound message: service-unavailable, from the blocked-by account
    message(bob, 'alice@localhost', 'in1')
    e, cond = error_of(bob)
    assert cond == 'service-unavailable', show(e)
    assert e.get('from') == 'alice@localhost', show(e)
    message(bob, 'alice@localhost/phone', 'in2')
    e, cond = error_of(bob)
    assert cond == 'service-unavailable', show(e)
    # inbound iq get: service-unavailable; presence: silence
    r = bob.iq('get', "<ping xmlns='%s'/>" % NS_PING,
               to='alice@localhost/phone')
    assert stanza_error(r) == 'service-unavailable', show(r)
    bob.send("<presence to='alice@localhost/pc'/>")
    bob.alive()
    none_of(bob, lambda x: x.get('type') == 'error')
    for s in (pc, phone):
        none_of(s, lambda x: x.get('from', '').startswith('bob@'))
    # outbound from the other device, which never touched the list
    message(phone, 'bob@localhost', 'out1')
    e = assert_blocked_error(phone)
    assert e.get('from') == 'bob@localhost', show(e)
    r = phone.iq('get', "<ping xmlns='%s'/>" % NS_PING,
                 to='bob@localhost/b')
    assert stanza_error(r) == 'not-acceptable', show(r)
    assert r.find('%s/%s' % (q(NS_CLIENT, 'error'),
                             q(NS_BLOCKED, 'blocked'))) is not None
    phone.send("<presence to='bob@localhost/b'/>")
    phone.alive()
    none_of(phone, lambda x: x.get('type') == 'error')
    none_of(bob, lambda x: x.get('from', '').startswith('alice@'))
    # a device that logs in later is blocked too
    later = login(srv, 'alice', 'later')
    message(later, 'bob@localhost', 'out2')
    assert_blocked_error(later)
    # own resources are never blocked
    message(pc, 'alice@localhost/phone', 'self')
    assert phone.wait_for(is_msg).get('from') == 'alice@localhost/pc'
    # unblocked: messages flow again
    ok(unblock(later, 'bob@localhost'))
    message(bob, 'alice@localhost/pc', 'after')
    m = pc.wait_for(lambda x: is_msg(x) and x.get('id') == 'm-after')
    assert m.get('type') == 'chat', show(m)
    message(phone, 'bob@localhost/b', 'back')
    m = bob.wait_for(lambda x: is_msg(x) and x.get('id') == 'm-back')
    assert m.get('type') == 'chat', show(m)


def test_full_jid_and_domain_items(make_server):
    srv = blocking_server(make_server)
    a = login(srv, 'alice')
    bob_phone = login(srv, 'bob', 'phone')
    bob_pc = login(srv, 'bob', 'pc')
    ok(block(a, 'bob@localhost/phone'))
    message(bob_phone, 'alice@localhost', 'p')
    assert error_of(bob_phone)[1] == 'service-unavailable'
    message(bob_pc, 'alice@localhost', 'c')
    assert a.wait_for(is_msg).get('from') == 'bob@localhost/pc'
    # a domain item blocks every JID of that domain
    ok(block(a, 'localhost'))
    message(bob_pc, 'alice@localhost', 'd')
    assert error_of(bob_pc)[1] == 'service-unavailable'
    # but not the server itself (the session must keep working)
    a.alive()


def test_presence_on_block_and_unblock(make_server):
    srv = blocking_server(make_server)
    mutual(srv, 'alice', 'bob')
    bob = login(srv, 'bob', 'b')
    alice = login(srv, 'alice', 'pc')
    bob.wait_for(is_pres('alice@localhost/pc'))
    # forget what came before (the answer to bob's probe while alice
    # was offline)
    alice.wait_for(is_pres('bob@localhost/b'))
    bob.pending.clear()
    alice.pending.clear()
    ok(block(alice, 'bob@localhost'))
    # §3.3: bob sees alice leave, and hears no more of her
    bob.wait_for(is_pres('alice@localhost/pc', 'unavailable'))
    alice.presence(extra='<status>busy</status>')
    alice.alive()
    none_of(bob, lambda x: x.get('from', '').startswith('alice@'))
    # nor does alice hear of bob
    bob.presence(extra='<status>hello?</status>')
    bob.alive()
    none_of(alice, lambda x: x.get('from', '').startswith('bob@'))
    # §3.4: unblocked, bob gets her current presence back
    ok(unblock(alice, 'bob@localhost'))
    p = bob.wait_for(is_pres('alice@localhost/pc'))
    assert p.find(q(NS_CLIENT, 'status')).text == 'busy', show(p)


def test_offline_user_stays_protected(make_server):
    srv = blocking_server(make_server)
    a = login(srv, 'alice')
    ok(block(a, 'bob@localhost'))
    a.send('</stream:stream>')
    a.wait_closed()
    bob = login(srv, 'bob')
    message(bob, 'alice@localhost', 'while-away')
    e, cond = error_of(bob)
    assert cond == 'service-unavailable', show(e)
    # not kept for later either
    a = login(srv, 'alice')
    none_of(a, is_msg)


def test_blocklist_survives_restart(make_server):
    srv = blocking_server(make_server)
    a = login(srv, 'alice')
    ok(block(a, 'bob@localhost', 'carol@localhost'))
    a.close()
    assert srv.stop() == []
    srv.start()
    bob = login(srv, 'bob')
    message(bob, 'alice@localhost', 'x')  # alice offline: from storage
    assert error_of(bob)[1] == 'service-unavailable'
    a = login(srv, 'alice')
    assert blocklist(a) == ['bob@localhost', 'carol@localhost']
    message(bob, 'alice@localhost', 'y')  # alice online: from the cache
    assert error_of(bob)[1] == 'service-unavailable'
    message(a, 'bob@localhost', 'z')
    assert_blocked_error(a)

"""Rosters (RFC 6121 §2) and roster versioning (XEP-0237)."""
from ternlib import (NS_CLIENT, connect_tls, q, run, show, stanza_error)

NS_ROSTER = 'jabber:iq:roster'
NS_ROSTERVER = 'urn:xmpp:features:rosterver'
QUERY = "<query xmlns='%s'/>" % NS_ROSTER


def login(server, user, resource=None, interested=True):
    s = connect_tls(server.c2s)
    s.authenticate(user)
    s.bind(resource)
    if interested:
        r = s.iq('get', QUERY)
        assert r.get('type') == 'result', show(r)
    return s


def roster_set(s, jid, name=None, groups=(), extra=''):
    attrs = " jid='%s'" % jid
    if name is not None:
        attrs += " name='%s'" % name
    body = ''.join('<group>%s</group>' % g for g in groups)
    return s.iq('set', "<query xmlns='%s'><item%s%s>%s</item></query>"
                % (NS_ROSTER, attrs, extra, body))


def items(r):
    qn = r.find(q(NS_ROSTER, 'query'))
    assert qn is not None, show(r)
    return {i.get('jid'): i for i in qn.findall(q(NS_ROSTER, 'item'))}


def is_push(el):
    return (el.tag == q(NS_CLIENT, 'iq') and el.get('type') == 'set'
            and el.find(q(NS_ROSTER, 'query')) is not None)


def push_item(s, timeout=None):
    el = s.wait_for(is_push, timeout)
    (item,) = el.find(q(NS_ROSTER, 'query')).findall(q(NS_ROSTER, 'item'))
    return el, item


def test_get_set_update_remove_with_pushes_to_every_resource(server):
    pc = login(server, 'alice', 'pc')
    phone = login(server, 'alice', 'phone')
    idle = login(server, 'alice', 'idle', interested=False)
    assert items(pc.iq('get', QUERY)) == {}
    r = roster_set(pc, 'bob@localhost', 'Bob', ('Friends', 'Work'))
    assert r.get('type') == 'result', show(r)
    for s in (pc, phone):
        push, item = push_item(s)
        assert push.get('to') == s.jid
        assert item.get('jid') == 'bob@localhost'
        assert item.get('name') == 'Bob'
        assert item.get('subscription') == 'none'
        assert item.get('ask') is None
        assert sorted(g.text for g in item) == ['Friends', 'Work']
        s.send("<iq type='result' id='%s'/>" % push.get('id'))
    idle.nothing(0.5)
    got = items(phone.iq('get', QUERY))
    assert list(got) == ['bob@localhost']
    assert got['bob@localhost'].get('name') == 'Bob'
    # update: new name, one group
    r = roster_set(phone, 'bob@localhost', 'Bobby', ('Work',))
    assert r.get('type') == 'result', show(r)
    for s in (pc, phone):
        _, item = push_item(s)
        assert item.get('name') == 'Bobby'
        assert [g.text for g in item] == ['Work']
    # remove
    r = roster_set(pc, 'bob@localhost', extra=" subscription='remove'")
    assert r.get('type') == 'result', show(r)
    for s in (pc, phone):
        _, item = push_item(s)
        assert item.get('subscription') == 'remove'
        assert item.get('jid') == 'bob@localhost'
    assert items(pc.iq('get', QUERY)) == {}
    r = roster_set(pc, 'bob@localhost', extra=" subscription='remove'")
    assert r.get('type') == 'error'
    assert stanza_error(r) == 'item-not-found'


def test_set_validation(server):
    s = login(server, 'alice')
    two = ("<query xmlns='%s'><item jid='a@localhost'/>"
           "<item jid='b@localhost'/></query>" % NS_ROSTER)
    r = s.iq('set', two)
    assert stanza_error(r) == 'bad-request'
    r = roster_set(s, 'carol@localhost', groups=('G', 'G'))
    assert stanza_error(r) == 'bad-request'
    r = roster_set(s, 'a@b@c')
    assert stanza_error(r) == 'jid-malformed'
    r = roster_set(s, 'carol@localhost', groups=('',))
    assert stanza_error(r) == 'not-acceptable'
    r = roster_set(s, 'carol@localhost', name='x' * 2000)
    assert stanza_error(r) == 'not-acceptable'
    r = s.iq('set', "<query xmlns='%s'><item name='x'/></query>" % NS_ROSTER)
    assert stanza_error(r) == 'bad-request'
    # a client cannot grant itself a subscription
    r = roster_set(s, 'carol@localhost', extra=" subscription='both' "
                   "ask='subscribe'")
    assert r.get('type') == 'result', show(r)
    _, item = push_item(s)
    assert item.get('subscription') == 'none'
    assert item.get('ask') is None
    # nobody reads or writes another user's roster
    r = s.iq('get', QUERY, to='bob@localhost')
    assert stanza_error(r) == 'forbidden'
    assert items(s.iq('get', QUERY)).keys() == {'carol@localhost'}


def test_versioning(server):
    s = connect_tls(server.c2s)
    s.authenticate('alice')
    assert s.features.find(q(NS_ROSTERVER, 'ver')) is not None, \
        show(s.features)
    s.bind('a')
    r = s.iq('get', "<query xmlns='%s' ver=''/>" % NS_ROSTER)
    v0 = r.find(q(NS_ROSTER, 'query')).get('ver')
    assert v0 is not None
    # unchanged: an empty result
    r = s.iq('get', "<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, v0))
    assert r.get('type') == 'result' and len(r) == 0, show(r)
    roster_set(s, 'bob@localhost', 'Bob')
    push, _ = push_item(s)
    v1 = push.find(q(NS_ROSTER, 'query')).get('ver')
    assert v1 and v1 != v0
    roster_set(s, 'carol@localhost', 'Carol')
    push, _ = push_item(s)
    v2 = push.find(q(NS_ROSTER, 'query')).get('ver')
    assert v2 not in (v0, v1)
    # a later session with the newest version gets nothing again; with
    # an older one, the whole roster and the current version
    t = login(server, 'alice', 'b', interested=False)
    r = t.iq('get', "<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, v2))
    assert r.get('type') == 'result' and len(r) == 0, show(r)
    r = t.iq('get', "<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, v1))
    assert r.find(q(NS_ROSTER, 'query')).get('ver') == v2
    assert set(items(r)) == {'bob@localhost', 'carol@localhost'}
    # the empty answer made t interested: it gets the next push
    roster_set(s, 'dave@localhost')
    for c in (s, t):
        push, item = push_item(c)
        assert item.get('jid') == 'dave@localhost'


def test_size_limit(make_server):
    srv = make_server(start=False)
    line = '    modules: [%s]\n' % ', '.join(srv.modules)
    text = srv.config_text()
    assert line in text
    text = text.replace(line, line + '    roster: { max_items: 2 }\n')
    srv.write_config(text)
    srv.start()
    s = login(srv, 'alice')
    for jid in ('a@localhost', 'b@localhost'):
        assert roster_set(s, jid).get('type') == 'result'
    r = roster_set(s, 'c@localhost')
    assert stanza_error(r) == 'not-allowed'
    err = r.find(q(NS_CLIENT, 'error'))
    assert 'at most 2' in err.find(
        '{urn:ietf:params:xml:ns:xmpp-stanzas}text').text
    # updating an existing item still works at the limit
    assert roster_set(s, 'a@localhost', 'A').get('type') == 'result'


def test_deluser_removes_contact_with_push(server):
    alice = login(server, 'alice')
    assert roster_set(alice, 'bob@localhost', 'Bob').get('type') == 'result'
    push_item(alice)
    server.ternctl_ok('deluser', 'bob@localhost')
    _, item = push_item(alice)
    assert item.get('jid') == 'bob@localhost'
    assert item.get('subscription') == 'remove'
    assert items(alice.iq('get', QUERY)) == {}


def test_slixmpp_roster(server):
    async def scenario(s):
        a1 = await s.login('alice', 'one')
        a2 = await s.login('alice', 'two')
        pushed = []
        a2.add_event_handler('roster_update', pushed.append)
        await a1.get_roster()
        await a2.get_roster()
        await a1.update_roster('carol@localhost', name='Carol',
                               groups=['Team'])
        await s.sync(a2)
        assert pushed, 'no roster push reached the second resource'
        item = a2.client_roster['carol@localhost']
        assert item['name'] == 'Carol'
        assert item['groups'] == ['Team']
        assert item['subscription'] == 'none'
    run(server, scenario)

"""Presence subscriptions (RFC 6121 §3), pre-approval, persistence."""
from ternlib import NS_CLIENT, connect_tls, q, show

NS_ROSTER = 'jabber:iq:roster'
NS_PREAPPROVAL = 'urn:xmpp:features:pre-approval'
QUERY = "<query xmlns='%s'/>" % NS_ROSTER


def login(server, user, resource=None, available=True):
    s = connect_tls(server.c2s)
    s.authenticate(user)
    s.bind(resource)
    r = s.iq('get', QUERY)
    assert r.get('type') == 'result', show(r)
    if available:
        s.presence()
        s.alive()
    return s


def items(s):
    r = s.iq('get', QUERY)
    qn = r.find(q(NS_ROSTER, 'query'))
    return {i.get('jid'): i for i in qn.findall(q(NS_ROSTER, 'item'))}


def push_item(s):
    el = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'iq')
                    and e.get('type') == 'set'
                    and e.find(q(NS_ROSTER, 'query')) is not None)
    (item,) = el.find(q(NS_ROSTER, 'query'))
    return item


def presence(s, type_, frm=None):
    def match(e):
        return (e.tag == q(NS_CLIENT, 'presence')
                and e.get('type') == type_
                and (frm is None or e.get('from') == frm))
    return s.wait_for(match)


def no_presence(s, type_, within=0.5):
    try:
        el = presence_timeout(s, type_, within)
    except TimeoutError:
        return
    raise AssertionError('unexpected presence %s' % show(el))


def presence_timeout(s, type_, within):
    return s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'presence')
                      and e.get('type') == type_, within)


def send(s, type_, to, extra=''):
    s.send("<presence type='%s' to='%s'>%s</presence>" % (type_, to, extra))


def subscribe(a, b, a_jid, b_jid):
    """a subscribes to b's presence, b approves (both online)."""
    send(a, 'subscribe', b_jid)
    item = push_item(a)
    assert item.get('ask') == 'subscribe'
    req = presence(b, 'subscribe')
    assert req.get('from') == a_jid  # bare, stamped by the server
    send(b, 'subscribed', a_jid)
    return push_item(a), push_item(b)


def test_full_handshake_both_directions(server):
    alice = login(server, 'alice', 'pc')
    bob = login(server, 'bob', 'phone')
    a_item, b_item = subscribe(alice, bob, 'alice@localhost',
                               'bob@localhost')
    assert a_item.get('subscription') == 'to'
    assert a_item.get('ask') is None
    assert b_item.get('subscription') == 'from'
    assert b_item.get('jid') == 'alice@localhost'
    ok = presence(alice, 'subscribed')
    assert ok.get('from') == 'bob@localhost'
    # §3.1.5: the contact's presence follows the approval
    p = presence(alice, None, 'bob@localhost/phone')
    assert p.get('to') == 'alice@localhost'
    # the other way
    b_item, a_item = subscribe(bob, alice, 'bob@localhost',
                               'alice@localhost')
    assert b_item.get('subscription') == 'both'
    assert a_item.get('subscription') == 'both'
    presence(bob, None, 'alice@localhost/pc')
    assert items(alice)['bob@localhost'].get('subscription') == 'both'
    assert items(bob)['alice@localhost'].get('subscription') == 'both'
    # asking again changes nothing: bob's server answers for bob
    # (§3.1.3) and alice's, with nothing pending, ignores it (§3.1.6)
    send(alice, 'subscribe', 'bob@localhost')
    no_presence(bob, 'subscribe')
    no_presence(alice, 'subscribed')
    assert items(alice)['bob@localhost'].get('subscription') == 'both'


def test_pending_request_waits_for_login(server):
    alice = login(server, 'alice')
    send(alice, 'subscribe', 'bob@localhost',
         '<status>it is alice</status>')
    assert push_item(alice).get('ask') == 'subscribe'
    alice.alive()
    bob = login(server, 'bob', available=False)
    # not in bob's roster until bob answers
    assert items(bob) == {}
    bob.presence()
    req = presence(bob, 'subscribe')
    assert req.get('from') == 'alice@localhost'
    assert req.find(q(NS_CLIENT, 'status')).text == 'it is alice'
    # a second resource logging in gets it too
    bob2 = login(server, 'bob', 'two')
    presence(bob2, 'subscribe')
    # denying: alice learns it, the ask goes
    send(bob, 'unsubscribed', 'alice@localhost')
    item = push_item(alice)
    assert item.get('subscription') == 'none'
    assert item.get('ask') is None
    assert presence(alice, 'unsubscribed').get('from') == 'bob@localhost'
    bob3 = login(server, 'bob', 'three')
    no_presence(bob3, 'subscribe')
    assert items(bob) == {}


def test_pre_approval(server):
    bob = login(server, 'bob')
    assert bob.features.find(q(NS_PREAPPROVAL, 'sub')) is not None
    send(bob, 'subscribed', 'alice@localhost')
    item = push_item(bob)
    assert item.get('approved') == 'true'
    assert item.get('subscription') == 'none'
    alice = login(server, 'alice')
    no_presence(alice, 'subscribed')
    send(alice, 'subscribe', 'bob@localhost')
    assert push_item(alice).get('ask') == 'subscribe'
    item = push_item(alice)
    assert item.get('subscription') == 'to'
    assert presence(alice, 'subscribed').get('from') == 'bob@localhost'
    item = push_item(bob)
    assert item.get('subscription') == 'from'
    assert item.get('approved') is None
    no_presence(bob, 'subscribe')


def test_unsubscribe_and_unsubscribed(server):
    alice = login(server, 'alice')
    bob = login(server, 'bob')
    subscribe(alice, bob, 'alice@localhost', 'bob@localhost')
    subscribe(bob, alice, 'bob@localhost', 'alice@localhost')
    assert items(alice)['bob@localhost'].get('subscription') == 'both'
    # alice stops following bob: both → from for alice, to for bob
    send(alice, 'unsubscribe', 'bob@localhost')
    assert push_item(alice).get('subscription') == 'from'
    assert presence(bob, 'unsubscribe').get('from') == 'alice@localhost'
    assert push_item(bob).get('subscription') == 'to'
    # bob is now told unavailable by bob's server (§3.3.3)
    presence(alice, 'unavailable')
    # alice cancels bob's subscription to her: from → none
    send(alice, 'unsubscribed', 'bob@localhost')
    assert push_item(alice).get('subscription') == 'none'
    assert presence(bob, 'unsubscribed').get('from') == 'alice@localhost'
    assert push_item(bob).get('subscription') == 'none'
    presence(bob, 'unavailable', 'alice@localhost/' +
             alice.jid.split('/')[1])
    # roster removal with a subscription tells the contact
    subscribe(alice, bob, 'alice@localhost', 'bob@localhost')
    r = alice.iq('set', "<query xmlns='%s'><item jid='bob@localhost' "
                 "subscription='remove'/></query>" % NS_ROSTER)
    assert r.get('type') == 'result', show(r)
    assert presence(bob, 'unsubscribe').get('from') == 'alice@localhost'
    assert push_item(bob).get('subscription') == 'none'


def test_state_survives_restart(server):
    alice = login(server, 'alice')
    bob = login(server, 'bob')
    subscribe(alice, bob, 'alice@localhost', 'bob@localhost')
    alice.alive()
    send(alice, 'subscribe', 'carol@localhost', '<status>hi</status>')
    alice.alive()
    r = alice.iq('set', "<query xmlns='%s'><item jid='bob@localhost' "
                 "name='B'><group>G</group></item></query>" % NS_ROSTER)
    assert r.get('type') == 'result'
    alice.close()
    bob.close()
    assert server.stop() == []
    server.start()
    alice = login(server, 'alice', available=False)
    got = items(alice)
    assert got['bob@localhost'].get('subscription') == 'to'
    assert got['bob@localhost'].get('name') == 'B'
    assert [g.text for g in got['bob@localhost']] == ['G']
    assert got['carol@localhost'].get('ask') == 'subscribe'
    bob = login(server, 'bob', available=False)
    assert items(bob)['alice@localhost'].get('subscription') == 'from'
    carol = login(server, 'carol')
    req = presence(carol, 'subscribe')
    assert req.get('from') == 'alice@localhost'
    assert req.find(q(NS_CLIENT, 'status')).text == 'hi'
    send(carol, 'subscribed', 'alice@localhost')
    assert push_item(alice).get('subscription') == 'to'


def test_pending_requests_from_strangers_are_capped(make_server):
    """roster.max_pending: requests from people not in the roster are
    kept up to the cap; the next stranger gets a resource-constraint
    presence error (wait), nothing is stored for it, and an approved or
    known contact is not affected."""
    users = ('alice', 'bob', 'carol', 'dave')
    srv = make_server(start=False, users=users)
    line = '    modules: [%s]\n' % ', '.join(srv.modules)
    text = srv.config_text()
    assert line in text
    srv.write_config(text.replace(
        line, line + '    roster: { max_pending: 2 }\n'))
    srv.start()
    alice = login(srv, 'alice', available=False)  # offline: requests wait
    senders = {u: login(srv, u) for u in ('bob', 'carol', 'dave')}
    for u in ('bob', 'carol'):
        send(senders[u], 'subscribe', 'alice@localhost')
        push_item(senders[u])
    senders['bob'].alive()
    send(senders['dave'], 'subscribe', 'alice@localhost')
    push_item(senders['dave'])          # dave's own roster shows ask
    err = presence(senders['dave'], 'error', 'alice@localhost')
    cond = err.find(q(NS_CLIENT, 'error'))
    assert cond.get('type') == 'wait'
    assert cond.find(
        '{urn:ietf:params:xml:ns:xmpp-stanzas}resource-constraint') \
        is not None
    # alice sees exactly the two kept requests when she comes online
    alice.presence()
    got = set()
    for _ in range(2):
        got.add(presence(alice, 'subscribe').get('from'))
    assert got == {'bob@localhost', 'carol@localhost'}
    no_presence(alice, 'subscribe')
    # answering one makes room for the next stranger
    send(alice, 'subscribed', 'bob@localhost')
    push_item(alice)
    alice.alive()
    send(senders['dave'], 'subscribe', 'alice@localhost')
    assert presence(alice, 'subscribe').get('from') == 'dave@localhost'


def count_subscribes(s, frm):
    """After a round trip (everything routed before it is queued ahead of
    the answer), the subscribe requests from frm that s received."""
    s.alive()
    n = 0
    while True:
        try:
            el = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'presence')
                            and e.get('type') == 'subscribe'
                            and e.get('from') == frm, 0.01)
        except TimeoutError:
            return n
        n += 1


def test_repeated_subscribe_is_delivered_once(server):
    """RFC 6121 §3.1.3 and Appendix A.3.1 ("None + Pending In": deliver
    no, no state change): while a request waits for the contact's
    answer, the same request again is not delivered again, however
    often it comes. The contact's next login still gets it, once."""
    bob = login(server, 'bob', 'phone')
    alice = login(server, 'alice', 'pc')
    req = "<presence type='subscribe' to='bob@localhost'/>"
    alice.send(req * 300)
    alice.alive()
    assert count_subscribes(bob, 'alice@localhost') == 1
    # a second burst while it is still pending: nothing
    alice.send(req * 10)
    alice.alive()
    assert count_subscribes(bob, 'alice@localhost') == 0
    # §3.1.3: at the contact's next login, the pending request again
    bob.send('</stream:stream>')
    bob.wait_closed()
    bob = login(server, 'bob', 'phone')
    assert count_subscribes(bob, 'alice@localhost') == 1
    # still pending: the answer works as usual (§3.1.5)
    send(bob, 'subscribed', 'alice@localhost')
    assert presence(alice, 'subscribed').get('from') == 'bob@localhost'

"""Per-account state loaded once (docs/design.md, "Storage without
blocking the loop", point 2) with loads that complete later, as a network
database's would: the memory backend with `deferred_loads: true` answers
every account-state load on the next loop iteration, and
`account_cache: 0` drops every state at the end of each iteration, so
nearly every stanza waits for a load. Clients see the same XMPP as with
inline loads: RFC 6121 §8.5.2.1.1 messages to an available resource
arrive in the order sent, exactly once; §3 subscriptions and presence
broadcast work; XEP-0160 offline messages are kept and delivered in
order; XEP-0191 blocking holds; and a stanza that finds its account's
queue full gets an RFC 6120 §8.3.3.18 resource-constraint error (type
wait)."""
from ternlib import (NS_CLIENT, connect_tls, password, q, show,
                     stanza_error, subscribe_mutually)
from test_register import host_settings, register

NS_BLOCKING = 'urn:xmpp:blocking'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
WAITS = 'waits for the state of'


def deferred_server(make_server, users=('alice', 'bob', 'carol'),
                    **storage):
    opts = {'deferred_loads': 'true', 'account_cache': '0'}
    opts.update(storage)
    srv = make_server(start=False, users=None, storage='memory, ' + ', '.join(
        '%s: %s' % kv for kv in opts.items()))
    host_settings(srv, ['register: { allow_registration: true }'])
    srv.start()
    for user in users:
        s = connect_tls(srv.c2s)
        r = register(s, user, password(user))
        assert r.get('type') == 'result', show(r)
        s.close()
    return srv


def chat(to, body):
    return "<message to='%s' type='chat'><body>%s</body></message>" % (
        to, body)


def bodies(s, n):
    got = []
    for _ in range(n):
        m = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message')
                       and e.find(q(NS_CLIENT, 'body')) is not None)
        got.append(m.findtext(q(NS_CLIENT, 'body')))
    return got


def test_messages_wait_for_loads_in_order_exactly_once(make_server):
    """RFC 6121 §8.5.2.1.1: a burst of messages to an available
    resource, each waiting for its sender's and its recipient's state,
    arrives in the order sent and exactly once."""
    srv = deferred_server(make_server)
    a = connect_tls(srv.c2s, 'alice', 'home')
    b = connect_tls(srv.c2s, 'bob', 'home')
    b.presence()
    b.alive()
    sent = ['m%02d' % i for i in range(20)]
    a.send(''.join(chat('bob@localhost', x) for x in sent))
    assert bodies(b, len(sent)) == sent
    a.send(chat('bob@localhost', 'end'))
    assert bodies(b, 1) == ['end']  # nothing doubled came between
    assert not [e for e in b.pending if e.tag == q(NS_CLIENT, 'message')]
    assert WAITS in srv.log, 'no stanza waited for a load'
    a.close()
    b.close()


def test_subscription_and_presence_with_deferred_loads(make_server):
    """RFC 6121 §3.1 and §4.2: a mutual subscription made while every
    roster read waits for a load; the contact's initial presence then
    reaches the subscriber."""
    srv = deferred_server(make_server)
    subscribe_mutually(srv, 'alice', 'bob')
    b = connect_tls(srv.c2s, 'bob', 'home')
    b.presence()
    b.alive()
    a = connect_tls(srv.c2s, 'alice', 'home')
    a.presence()
    p = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'presence')
                   and e.get('from') == 'alice@localhost/home')
    assert p.get('type') is None, show(p)
    # and bob's presence was sent to alice on her initial presence
    p = a.wait_for(lambda e: e.tag == q(NS_CLIENT, 'presence')
                   and e.get('from') == 'bob@localhost/home')
    assert p.get('type') is None, show(p)
    a.close()
    b.close()


def test_offline_messages_with_deferred_loads(make_server):
    """XEP-0160: messages to an offline account wait for its state, are
    stored in order, and come once at its next available presence."""
    srv = deferred_server(make_server)
    a = connect_tls(srv.c2s, 'alice', 'home')
    sent = ['o%d' % i for i in range(5)]
    a.send(''.join(chat('carol@localhost', x) for x in sent))
    a.alive()
    srv.wait_log('offline stored user=carol@localhost', timeout=10)
    for _ in range(50):  # bounded: the fifth store follows the first
        if srv.log.count('offline stored user=carol@localhost') == 5:
            break
        a.alive()
    c = connect_tls(srv.c2s, 'carol', 'phone')
    c.presence()
    assert bodies(c, 5) == sent
    c.alive()
    assert not [e for e in c.pending if e.tag == q(NS_CLIENT, 'message')]
    a.close()
    c.close()


def test_blocking_with_deferred_loads(make_server):
    """XEP-0191 §3.5: once bob blocks alice, her message to him gets
    service-unavailable, though bob's blocklist had to be loaded again
    (it was dropped at the end of the iteration that stored it)."""
    srv = deferred_server(make_server)
    b = connect_tls(srv.c2s, 'bob', 'home')
    b.presence()
    b.alive()
    r = b.iq('set', "<block xmlns='%s'><item jid='alice@localhost'/>"
             "</block>" % NS_BLOCKING)
    assert r.get('type') == 'result', show(r)
    a = connect_tls(srv.c2s, 'alice', 'home')
    a.send(chat('bob@localhost', 'let me in'))
    e = a.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message')
                   and e.get('type') == 'error')
    assert stanza_error(e) == 'service-unavailable', show(e)
    b.alive()
    assert not [m for m in b.pending if m.tag == q(NS_CLIENT, 'message')]
    a.close()
    b.close()


def test_full_queue_gets_resource_constraint(make_server):
    """RFC 6120 §8.3.3.18: with room for 4 stanzas behind carol's load,
    of 10 messages sent at once the first 4 wait and are stored for her
    in order; the other 6 come back as resource-constraint errors of
    type wait (alice's state stays loaded: the cache is large)."""
    srv = deferred_server(make_server, account_cache='32M',
                          account_queue='4')
    a = connect_tls(srv.c2s, 'alice', 'home')
    a.presence()
    a.alive()
    sent = ['q%d' % i for i in range(10)]
    a.send(''.join(chat('carol@localhost', x) for x in sent))
    errs = []
    for _ in range(6):
        e = a.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message')
                       and e.get('type') == 'error')
        assert stanza_error(e) == 'resource-constraint', show(e)
        assert e.find(q(NS_CLIENT, 'error')).get('type') == 'wait', show(e)
        errs.append(e.findtext(q(NS_CLIENT, 'body')))
    assert errs == sent[4:]
    c = connect_tls(srv.c2s, 'carol', 'phone')
    c.presence()
    assert bodies(c, 4) == sent[:4]
    c.alive()
    assert not [e for e in c.pending if e.tag == q(NS_CLIENT, 'message')]
    a.close()
    c.close()


def test_sender_gone_before_its_message_is_routed(make_server):
    """RFC 6121 §8.5.2.2.1 (offline storage) with the sender's session
    ended while its message waits for a load: the waiting message holds
    the session's id, not the session; it is looked up again (gone) and
    the message is still routed once, into carol's offline store."""
    srv = deferred_server(make_server)
    a = connect_tls(srv.c2s, 'alice', 'home')
    a.send(chat('carol@localhost', 'parting words') + '</stream:stream>')
    a.wait_closed()
    for _ in range(50):  # bounded: it is stored on the next iterations
        if 'offline stored user=carol@localhost' in srv.log:
            break
        b = connect_tls(srv.c2s, 'bob', 'r')
        b.alive()
        b.close()
    c = connect_tls(srv.c2s, 'carol', 'phone')
    c.presence()
    assert bodies(c, 1) == ['parting words']
    c.alive()
    assert not [e for e in c.pending if e.tag == q(NS_CLIENT, 'message')]
    c.close()

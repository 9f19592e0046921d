"""Message and iq routing (RFC 6120 §8, §10; RFC 6121 §8.5)."""
from ternlib import (NS_CLIENT, NS_PING, connect_tls, no_message, q, recv,
                     run, show, stanza_error)

TRICKY = 'a <b> & "c" \'d\' ]]> \u00e9\u00df\u4e2d\u6587 \u2603 \U0001d11e'


def logged_in(server, user, resource=None):
    s = connect_tls(server.c2s)
    s.authenticate(user)
    s.bind(resource)
    return s


def test_chat_both_ways(mserver):
    async def scenario(s):
        alice = await s.login('alice', 'pc', priority=0)
        bob = await s.login('bob', 'phone', priority=0)
        alice.send_message(mto='bob@localhost', mbody=TRICKY, mtype='chat')
        m = await recv(bob.inbox)
        assert m['body'] == TRICKY
        assert m['from'].full == 'alice@localhost/pc'
        assert m['type'] == 'chat'
        bob.send_message(mto=m['from'], mbody='re: ' + TRICKY, mtype='chat')
        m = await recv(alice.inbox)
        assert m['body'] == 're: ' + TRICKY
        assert m['from'].full == 'bob@localhost/phone'
    run(mserver, scenario)


def test_bare_jid_goes_to_highest_priority(mserver):
    async def scenario(s):
        high = await s.login('bob', 'high', priority=5)
        low = await s.login('bob', 'low', priority=1)
        alice = await s.login('alice', priority=0)
        alice.send_message(mto='bob@localhost', mbody='hi', mtype='chat')
        assert (await recv(high.inbox))['body'] == 'hi'
        await no_message(low.inbox)
    run(mserver, scenario)


def test_bare_jid_equal_priority_reaches_both(mserver):
    async def scenario(s):
        one = await s.login('bob', 'one', priority=3)
        two = await s.login('bob', 'two', priority=3)
        alice = await s.login('alice', priority=0)
        alice.send_message(mto='bob@localhost', mbody='both', mtype='chat')
        assert (await recv(one.inbox))['body'] == 'both'
        assert (await recv(two.inbox))['body'] == 'both'
    run(mserver, scenario)


def test_negative_priority_never_gets_bare_messages(mserver):
    async def scenario(s):
        neg = await s.login('carol', 'neg', priority=-1)
        alice = await s.login('alice', priority=0)
        alice.send_message(mto='carol@localhost', mbody='alone', mtype='chat')
        await no_message(neg.inbox)
        zero = await s.login('carol', 'zero', priority=0)
        # RFC 6121 §8.5.2.1.1: with no non-negative resource the message
        # went to offline storage (XEP-0160); the first non-negative
        # resource gets it, before what follows.
        first = await recv(zero.inbox)
        assert first['body'] == 'alone'
        assert first.xml.find('{urn:xmpp:delay}delay') is not None
        alice.send_message(mto='carol@localhost', mbody='two', mtype='chat')
        assert (await recv(zero.inbox))['body'] == 'two'
        await no_message(neg.inbox)
        # A full JID still reaches the negative-priority resource.
        alice.send_message(mto='carol@localhost/neg', mbody='f', mtype='chat')
        assert (await recv(neg.inbox))['body'] == 'f'
    run(mserver, scenario)


def test_offline_full_jid_message_falls_back_to_bare(mserver):
    async def scenario(s):
        online = await s.login('bob', 'online', priority=0)
        alice = await s.login('alice', priority=0)
        alice.send_message(mto='bob@localhost/gone', mbody='fb', mtype='chat')
        m = await recv(online.inbox)
        assert m['body'] == 'fb'
        assert m['to'].full in ('bob@localhost/gone', 'bob@localhost',
                                'bob@localhost/online')
    run(mserver, scenario)


def test_iq_to_offline_full_jid(mserver):
    bob = logged_in(mserver, 'bob', 'here')
    bob.presence(0)
    bob.alive()
    alice = logged_in(mserver, 'alice')
    r = alice.iq('get', "<ping xmlns='%s'/>" % NS_PING,
                 to='bob@localhost/nowhere')
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'service-unavailable'
    bob.nothing()


def test_message_to_unknown_local_user(mserver):
    alice = logged_in(mserver, 'alice')
    alice.message('nosuchuser@localhost', 'anyone?')
    m = alice.wait_message()
    assert m.get('type') == 'error', show(m)
    assert m.get('from') == 'nosuchuser@localhost'
    assert stanza_error(m) == 'service-unavailable'


def test_message_to_remote_domain(mserver):
    alice = logged_in(mserver, 'alice')
    alice.message('someone@example.org', 'far away')
    m = alice.wait_message()
    assert m.get('type') == 'error', show(m)
    assert stanza_error(m) == 'remote-server-not-found'


def test_unknown_iq_namespace_to_server(mserver):
    alice = logged_in(mserver, 'alice')
    r = alice.iq('get', "<query xmlns='urn:example:no-such-thing'/>",
                 to='localhost')
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'service-unavailable'
    assert r.get('from') == 'localhost'


def test_unknown_iq_namespace_without_to(mserver):
    alice = logged_in(mserver, 'alice')
    r = alice.iq('get', "<query xmlns='urn:example:no-such-thing'/>")
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'service-unavailable'


def test_spoofed_from_is_stamped_or_refused(mserver):
    # RFC 6120 allows both: stamp the real full JID (§8.1.2.1) or end the
    # stream with <invalid-from/> (§4.9.3.9). Never deliver the lie.
    bob = logged_in(mserver, 'bob', 'target')
    alice = logged_in(mserver, 'alice', 'liar')
    alice.message('bob@localhost/target', 'spoof',
                  extra_attrs=" from='bob@localhost/x'")
    try:
        m = bob.wait_message(timeout=2)
    except TimeoutError:
        alice.assert_stream_error('invalid-from')
        bob.alive()
        bob.nothing()
        return
    assert m.get('from') == 'alice@localhost/liar', show(m)
    assert m.find(q(NS_CLIENT, 'body')).text == 'spoof'


def test_malformed_to(mserver):
    alice = logged_in(mserver, 'alice')
    alice.message('a@b@c', 'bad jid')
    m = alice.wait_message()
    assert m.get('type') == 'error', show(m)
    assert stanza_error(m) == 'jid-malformed'
    alice.alive()


def test_error_messages_do_not_bounce(mserver):
    alice = logged_in(mserver, 'alice')
    alice.send("<message to='nosuchuser@localhost' type='error'>"
               "<error type='cancel'><item-not-found xmlns="
               "'urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    alice.alive()
    alice.nothing()


def test_stanza_bigger_than_the_send_queue(make_server):
    """limits.send_queue below the stanza limit: one stanza bigger than
    the queue still reaches a recipient whose queue is empty (it is not
    a slow reader); the connection stays up for the next one."""
    srv = make_server(limits={'send_queue': '64k',
                              'c2s_stanza_size': '256k'})
    alice = logged_in(srv, 'alice', 'a')
    bob = logged_in(srv, 'bob', 'b')
    big = 'x' * (150 * 1024)
    alice.send("<message to='bob@localhost/b' type='chat' id='big'>"
               "<body>%s</body></message>" % big)
    m = bob.wait_message(timeout=10)
    assert m.get('id') == 'big', show(m)
    assert len(m.findtext(q(NS_CLIENT, 'body'))) == len(big)
    alice.send("<message to='bob@localhost/b' type='chat' id='next'>"
               "<body>small</body></message>")
    assert bob.wait_message(timeout=10).get('id') == 'next'

"""What stream management (XEP-0198) does with what a client never
acknowledged: asks for acknowledgements after a quiet moment, delivers
offline messages (XEP-0160) to one resource once, keeps their one delay
(XEP-0203), drops copies meant for one session (XEP-0280 carbons, XEP-0313
results) when the session ends, and stamps a delay on what it sends again
after resumption.

Clients here behave like libstrophe (profanity): they answer <r/> but
never acknowledge on their own, or they never acknowledge at all."""
import calendar
import time
from collections import deque

from ternlib import DOMAIN, NS_CLIENT, connect_tls, q, show

NS_SM = 'urn:xmpp:sm:3'
NS_DELAY = 'urn:xmpp:delay'
NS_CARBONS = 'urn:xmpp:carbons:2'
NS_MAM = 'urn:xmpp:mam:2'
ALICE = 'alice@' + DOMAIN


class Counted(deque):
    """A RawStream's queue that counts the stanzas arriving (XEP-0198
    h as a client computes it)."""
    STANZAS = {q(NS_CLIENT, n) for n in ('message', 'presence', 'iq')}

    def __init__(self, items=()):
        super().__init__(items)
        self.count = 0

    def append(self, el):
        if el.tag in self.STANZAS:
            self.count += 1
        super().append(el)


def enable_sm(s, resume=False):
    s.send("<enable xmlns='%s'%s/>"
           % (NS_SM, " resume='true'" if resume else ''))
    s.enabled = s.wait_for(lambda e: e.tag == q(NS_SM, 'enabled'))
    s.pending = Counted(s.pending)


def login(srv, user, resource, sm=False, resume=False):
    s = connect_tls(srv.c2s)
    s.authenticate(user)
    s.bind(resource)
    if sm:
        enable_sm(s, resume)
    return s


def is_msg(e):
    return e.tag == q(NS_CLIENT, 'message')


def body(m):
    return m.findtext(q(NS_CLIENT, 'body'))


def delays(m):
    return m.findall(q(NS_DELAY, 'delay'))


def messages(s, n, timeout=None):
    return [s.wait_for(is_msg, timeout) for _ in range(n)]


def no_message(s, within=1.0):
    """No message arrives within the time (presence, <r/> may)."""
    try:
        el = s.wait_for(is_msg, within)
    except TimeoutError:
        return
    raise AssertionError('unexpected message: %s' % show(el))


def answer_r(s, timeout=None):
    """Wait for the server's <r/> and answer it with every stanza
    received so far, as libstrophe does."""
    s.wait_for(lambda e: e.tag == q(NS_SM, 'r'), timeout)
    s.send("<a xmlns='%s' h='%d'/>" % (NS_SM, s.pending.count))


def ack_all(s):
    s.alive()
    s.send("<a xmlns='%s' h='%d'/>" % (NS_SM, s.pending.count))
    s.alive()


def nothing_stored(server):
    """A new resource of alice gets no message: nothing was left in
    offline storage."""
    c = login(server, 'alice', 'tablet')
    c.presence()
    c.alive()
    no_message(c)


def stamp_secs(d):
    return calendar.timegm(time.strptime(d.get('stamp'),
                                         '%Y-%m-%dT%H:%M:%SZ'))


def store_offline(srv, bodies, to=ALICE):
    bob = login(srv, 'bob', 'pc')
    for b in bodies:
        bob.message(to, b)
    bob.alive()
    bob.close()


def test_ack_requested_after_quiet_time(server):
    """XEP-0198 §4: the server may send <r/> at any time; it asks once the
    stream has been quiet for a moment with anything unacknowledged, not
    only after request_every (5) stanzas."""
    bob = login(server, 'bob', 'pc')
    s = login(server, 'alice', 'phone', sm=True)
    s.presence()
    bob.message(ALICE + '/phone', 'one')
    s.wait_for(is_msg)
    # at most a presence and one message: far below five
    answer_r(s, timeout=10)
    s.alive()


def test_ack_requested_right_after_a_burst(make_server):
    """XEP-0198 §4, as Prosody does: the server asks right after what it
    sent in one go, without waiting for request_every stanzas or for a
    quiet time (set to an hour here), so that profanity (libstrophe, acks
    only when asked), which logs out a moment after its offline messages
    came, has confirmed them. While that request is unanswered it does
    not ask again for each stanza; its <a/> lets the next burst be asked
    about."""
    srv = make_server(start=False)
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    srv.write_config(text[:at] + '    smacks: { request_after: 1h }\n'
                     + text[at:])
    srv.start()
    store_offline(srv, ['b1', 'b2'])
    s = login(srv, 'alice', 'phone', sm=True)
    s.presence()
    assert [body(m) for m in messages(s, 2)] == ['b1', 'b2']
    answer_r(s)
    s.alive()
    s.send('</stream:stream>')
    s.wait_closed()
    # confirmed: the next login gets nothing again
    n = login(srv, 'alice', 'laptop', sm=True)
    n.presence()
    n.alive()
    no_message(n, 0.5)
    # one message after the <a/>: asked about at once again
    bob = login(srv, 'bob', 'pc')
    bob.message(ALICE + '/laptop', 'later')
    assert body(n.wait_for(is_msg)) == 'later'
    answer_r(n)
    n.alive()


def test_answering_client_gets_offline_messages_once(server):
    """XEP-0160 §2 with XEP-0198: a client that acknowledges only when
    asked (libstrophe) confirms the offline messages after the server's
    <r/>, so they are deleted; the next login gets none again."""
    store_offline(server, ['o1', 'o2', 'o3'])
    s = login(server, 'alice', 'phone', sm=True)
    s.presence()
    got = messages(s, 3)
    assert [body(m) for m in got] == ['o1', 'o2', 'o3']
    answer_r(s, timeout=10)
    s.alive()
    s.send('</stream:stream>')
    s.wait_closed()
    n = login(server, 'alice', 'laptop')
    n.presence()
    n.alive()
    no_message(n)


def test_unacked_offline_messages_return_with_one_original_delay(server):
    """XEP-0203 §3 / XEP-0160: messages that go back to storage because a
    session ended without confirming them keep their one original
    <delay/>: no second one, the stamp unchanged."""
    store_offline(server, ['d1', 'd2'])
    time.sleep(1.1)      # a later re-store would show a later stamp
    s = login(server, 'alice', 'phone', sm=True)
    s.presence()
    first = messages(s, 2)
    stamps = []
    for m in first:
        assert len(delays(m)) == 1, show(m)
        stamps.append(delays(m)[0].get('stamp'))
    time.sleep(1.1)
    s.send('</stream:stream>')        # never acknowledged
    s.wait_closed()
    n = login(server, 'alice', 'laptop', sm=True)
    n.presence()
    again = messages(n, 2)
    assert [body(m) for m in again] == ['d1', 'd2']
    for m, stamp in zip(again, stamps):
        d = delays(m)
        assert len(d) == 1, show(m)
        assert d[0].get('stamp') == stamp, show(m)
        assert d[0].get('from') == DOMAIN, show(m)
    no_message(n)
    ack_all(n)
    n.send('</stream:stream>')
    n.wait_closed()
    # confirmed: gone for good
    n = login(server, 'alice', 'tablet')
    n.presence()
    n.alive()
    no_message(n)


def test_offline_messages_in_flight_go_to_one_resource_once(server):
    """XEP-0160 §2 / RFC 6121 §8.5.2.1.1: while one session holds the
    offline messages unconfirmed, a second resource does not get them
    too; when the first ends without confirming, the second gets each
    exactly once; after that storage is empty."""
    store_offline(server, ['f1', 'f2', 'f3'])
    a = login(server, 'alice', 'phone', sm=True)
    a.presence()
    assert [body(m) for m in messages(a, 3)] == ['f1', 'f2', 'f3']
    b = login(server, 'alice', 'laptop')
    b.presence()
    b.alive()
    no_message(b)
    a.send('</stream:stream>')        # never acknowledged
    a.wait_closed()
    got = messages(b, 3)
    assert [body(m) for m in got] == ['f1', 'f2', 'f3']
    for m in got:
        assert len(delays(m)) == 1, show(m)
    no_message(b)
    b.send('</stream:stream>')
    b.wait_closed()
    nothing_stored(server)


def test_unacked_in_flight_offline_go_back_to_storage_once(server):
    """Two sessions that never acknowledge: the offline messages return to
    storage once (not once per session) and the next login gets each
    exactly once."""
    store_offline(server, ['g1', 'g2'])
    a = login(server, 'alice', 'phone', sm=True)
    a.presence()
    messages(a, 2)
    b = login(server, 'alice', 'laptop', sm=True)
    b.presence()
    b.alive()
    a.send('</stream:stream>')
    a.wait_closed()
    messages(b, 2)                    # handed over, never acknowledged
    b.send('</stream:stream>')
    b.wait_closed()
    c = login(server, 'alice', 'tablet')
    c.presence()
    got = messages(c, 2)
    assert sorted(body(m) for m in got) == ['g1', 'g2']
    for m in got:
        assert len(delays(m)) == 1, show(m)
    no_message(c)


def carbons_on(s):
    r = s.iq('set', "<enable xmlns='%s'/>" % NS_CARBONS)
    assert r.get('type') == 'result', show(r)


def test_unacked_copies_are_dropped_at_session_end(server):
    """XEP-0198 §5, XEP-0280 §6, XEP-0313 §4.2: carbon copies and archive
    results sent to one session are for that session only; when it ends
    without acknowledging them they are not given to the account's other
    resource (which has the original) nor stored offline."""
    bob = login(server, 'bob', 'pc')
    bob.presence()
    a = login(server, 'alice', 'phone', sm=True)
    carbons_on(a)
    a.presence()
    b = login(server, 'alice', 'laptop')
    carbons_on(b)
    b.presence()
    b.alive()
    # a received copy: bob writes to the laptop
    bob.message(ALICE + '/laptop', 'to the laptop')
    assert body(b.wait_for(is_msg)) == 'to the laptop'
    m = a.wait_for(is_msg)
    assert m.find(q(NS_CARBONS, 'received')) is not None, show(m)
    # a sent copy: the laptop writes to bob
    b.message('bob@' + DOMAIN, 'from the laptop')
    m = a.wait_for(is_msg)
    assert m.find(q(NS_CARBONS, 'sent')) is not None, show(m)
    # archive results for the phone alone
    a.send("<iq type='set' id='mam1'><query xmlns='%s' queryid='x'/></iq>"
           % NS_MAM)
    r = a.wait_for(lambda e: e.tag == q(NS_CLIENT, 'iq')
                   and e.get('id') == 'mam1')
    assert r.get('type') == 'result', show(r)
    b.alive()
    no_message(b, 0.3)
    a.send('</stream:stream>')        # nothing acknowledged
    a.wait_closed()
    b.alive()
    no_message(b)
    b.send('</stream:stream>')
    b.wait_closed()
    nothing_stored(server)


def test_unacked_chat_to_full_jid_goes_to_other_resource(server):
    """RFC 6121 §8.5.3.2.1: a chat message to a resource that is gone is
    handled as if sent to the bare JID, so an unacknowledged one reaches
    the other resource (once, with a delay)."""
    bob = login(server, 'bob', 'pc')
    a = login(server, 'alice', 'phone', sm=True)
    a.presence()
    b = login(server, 'alice', 'laptop')
    b.presence()
    b.alive()
    bob.message(ALICE + '/phone', 'for the phone')
    a.wait_for(is_msg)
    a.send('</stream:stream>')
    a.wait_closed()
    m = b.wait_for(is_msg)
    assert body(m) == 'for the phone'
    assert len(delays(m)) == 1, show(m)
    no_message(b)


def test_unacked_message_not_repeated_to_a_resource_that_had_it(server):
    """A phone that never acknowledges loses its link for good; the
    laptop, online before, already got what it would be rerouted: a
    message to the bare JID at the same priority (RFC 6121 §8.5.2.1.1)
    and a chat message to the phone as a carbon copy (XEP-0280 §6). It
    must not get them a second time (XEP-0198 §5); a laptop that had
    neither still gets the chat message (test above)."""
    bob = login(server, 'bob', 'pc')
    b = login(server, 'alice', 'laptop')
    r = b.iq('set', "<enable xmlns='%s'/>" % NS_CARBONS)
    assert r.get('type') == 'result', show(r)
    b.presence()
    b.alive()
    time.sleep(1.1)  # the laptop is online a second before the messages
    a = login(server, 'alice', 'phone', sm=True)
    a.presence()
    a.alive()
    bob.message(ALICE, 'to the account')
    bob.message(ALICE + '/phone', 'to the phone')
    bob.alive()
    got = [body(m) for m in messages(a, 2)]
    assert got == ['to the account', 'to the phone'], got
    first = b.wait_for(lambda e: is_msg(e) and body(e) == 'to the account')
    assert first is not None
    cc = b.wait_for(lambda e: is_msg(e) and e.find(
        q(NS_CARBONS, 'received')) is not None)
    assert cc is not None
    a.send('</stream:stream>')
    a.wait_closed()
    b.alive()
    no_message(b)


def test_resumed_stream_stamps_delay(server):
    """XEP-0198 §5 / XEP-0203: a message queued while the client was away
    and sent after resumption carries a delay with the time the server
    queued it, not the resumption time."""
    bob = login(server, 'bob', 'pc')
    a = login(server, 'alice', 'phone', sm=True, resume=True)
    a.presence()
    a.alive()
    a.sock.close()
    time.sleep(0.3)
    bob.message(ALICE + '/phone', 'while away')
    bob.alive()
    queued = time.time()
    time.sleep(2.5)
    n = connect_tls(server.c2s)
    n.authenticate('alice')
    n.send("<resume xmlns='%s' previd='%s' h='%d'/>"
           % (NS_SM, a.enabled.get('id'), a.pending.count))
    res = n.wait_for(lambda e: e.tag in (q(NS_SM, 'resumed'),
                                         q(NS_SM, 'failed')))
    assert res.tag == q(NS_SM, 'resumed'), show(res)
    m = n.wait_for(is_msg)
    assert body(m) == 'while away'
    d = delays(m)
    assert len(d) == 1, show(m)
    assert d[0].get('from') == DOMAIN, show(m)
    # the time it was queued, not the resumption 2.5 s later
    assert stamp_secs(d[0]) <= int(queued) + 1, show(m)


def test_welcome_message_once_for_never_acking_client(make_server):
    """The welcome message reaches a new account through offline storage;
    a client that never acknowledges gets it again at the next login,
    once, with its one original delay."""
    srv = make_server(start=False)
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    srv.write_config(text[:at] + '    welcome: { message: "hello" }\n'
                     + text[at:])
    srv.start()
    srv.ternctl_ok('adduser', 'dave@localhost', 'pw-dave-1')

    def dave(res):
        s = connect_tls(srv.c2s)
        s.authenticate('dave', 'pw-dave-1')
        s.bind(res)
        s.send("<enable xmlns='%s'/>" % NS_SM)
        s.wait_for(lambda e: e.tag == q(NS_SM, 'enabled'))
        s.presence()
        return s

    s = dave('one')
    m = s.wait_for(is_msg)
    stamp = delays(m)[0].get('stamp')
    s.send('</stream:stream>')
    s.wait_closed()
    s = dave('two')
    m = s.wait_for(is_msg)
    assert body(m) == 'hello'
    assert [d.get('stamp') for d in delays(m)] == [stamp], show(m)
    no_message(s)


def test_held_carbon_not_rerouted_at_session_end(server):
    """XEP-0352 with XEP-0280 §6: a carbon copy of a receipt held for an
    inactive session is that session's own copy; when it ends, the
    account's other resource (which has the original) does not get it."""
    bob = login(server, 'bob', 'pc')
    a = login(server, 'alice', 'phone')
    carbons_on(a)
    a.presence()
    a.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    a.alive()
    b = login(server, 'alice', 'laptop')
    carbons_on(b)
    b.presence()
    b.alive()
    bob.send("<message to='%s/laptop' type='chat'><received xmlns="
             "'urn:xmpp:receipts' id='r1'/></message>" % ALICE)
    bob.alive()
    m = b.wait_for(is_msg)
    assert m.find(q('urn:xmpp:receipts', 'received')) is not None, show(m)
    a.send('</stream:stream>')
    a.wait_closed()
    b.alive()
    no_message(b)

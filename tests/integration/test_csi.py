"""XEP-0352 client state indication: while a client is inactive, presence
updates (only the latest per contact) and chat states wait; anything
important flushes them first, in order; <active/> flushes."""
import time

from ternlib import DOMAIN, NS_CLIENT, connect_tls, q, show

NS_CSI = 'urn:xmpp:csi:0'
NS_SM = 'urn:xmpp:sm:3'
NS_CHATSTATES = 'http://jabber.org/protocol/chatstates'
ALICE = 'alice@%s/phone' % DOMAIN


def csi_server(make_server, settings):
    srv = make_server(start=False)
    cfg = srv.config_text()
    line = '    modules: [%s]\n' % ', '.join(srv.modules)
    assert line in cfg
    srv.write_config(cfg.replace(line, line + '    %s\n' % settings))
    return srv.start()


def login(srv, user, resource, presence=True):
    s = connect_tls(srv.c2s)
    feats = s.authenticate(user)
    s.bind(resource)
    if presence:
        s.presence()
    s.alive()
    s.pending.clear()  # our own presence echo
    s.features = feats
    return s


def inactive(s):
    s.send("<inactive xmlns='%s'/>" % NS_CSI)
    s.alive()  # nothing held yet: the answer passes at once


def stanzas(s, n, timeout=None):
    """The next n stanzas (not stream management elements)."""
    out = []
    while len(out) < n:
        e = s.next(timeout)
        if e.tag.startswith('{%s}' % NS_CLIENT):
            out.append(e)
    return out


def describe(e):
    """A short label per stanza, to compare orders."""
    kind = e.tag.split('}')[1]
    frm = (e.get('from') or '').split('@')[0]
    if kind == 'presence':
        return 'presence %s %s' % (frm, e.findtext(q(NS_CLIENT, 'status')))
    if kind == 'message':
        body = e.findtext(q(NS_CLIENT, 'body'))
        if body is not None:
            return 'message %s %s' % (frm, body)
        states = [c.tag.split('}')[1] for c in e
                  if c.tag.startswith('{%s}' % NS_CHATSTATES)]
        if states:
            return 'state %s %s' % (frm, states[0])
        return 'message %s %s' % (frm, [c.tag for c in e])
    return '%s %s' % (kind, e.get('type'))


def status(s, text, to=ALICE):
    s.send("<presence to='%s'><status>%s</status></presence>" % (to, text))


def composing(s, to=ALICE):
    s.send("<message to='%s' type='chat'><composing xmlns='%s'/></message>"
           % (to, NS_CHATSTATES))


def test_feature(server):
    s = login(server, 'alice', 'phone', presence=False)
    assert s.features.find(q(NS_CSI, 'csi')) is not None, \
        show(s.features)


def test_hold_collapse_and_flush_on_body(server):
    alice = login(server, 'alice', 'phone')
    bob = login(server, 'bob', 'pc')
    carol = login(server, 'carol', 'pc')
    inactive(alice)
    status(bob, 'one')
    status(carol, 'c1')
    composing(bob)
    status(bob, 'two')
    bob.alive()
    carol.alive()
    # nothing important yet: everything waits
    alice.nothing(0.5)
    bob.message(ALICE, 'hello')
    got = [describe(e) for e in stanzas(alice, 4)]
    # bob's first status was replaced by his second; the rest in order,
    # the message that flushed them last
    assert got == ['presence carol c1', 'state bob composing',
                   'presence bob two', 'message bob hello'], got
    alice.nothing(0.3)


def test_active_flushes(server):
    alice = login(server, 'alice', 'phone')
    bob = login(server, 'bob', 'pc')
    inactive(alice)
    composing(bob)
    status(bob, 'away')
    bob.alive()
    alice.nothing(0.5)
    alice.send("<active xmlns='%s'/>" % NS_CSI)
    got = [describe(e) for e in stanzas(alice, 2)]
    assert got == ['state bob composing', 'presence bob away'], got
    # active again: nothing is held any more
    composing(bob)
    got = [describe(e) for e in stanzas(alice, 1)]
    assert got == ['state bob composing'], got


def test_iq_passes_after_what_was_held(server):
    alice = login(server, 'alice', 'phone')
    bob = login(server, 'bob', 'pc')
    inactive(alice)
    status(bob, 'busy')
    bob.alive()
    alice.nothing(0.4)
    # the answer to the client's own request goes out, after the held
    # presence (never reordered)
    alice.send("<iq type='get' id='p1' to='%s'><ping xmlns='urn:xmpp:ping'/>"
               "</iq>" % DOMAIN)
    got = [describe(e) for e in stanzas(alice, 2)]
    assert got == ['presence bob busy', 'iq result'], got
    # an iq from a contact passes at once too
    bob.send("<iq type='get' id='v1' to='%s'><query xmlns="
             "'jabber:iq:version'/></iq>" % ALICE)
    e = alice.wait_for(lambda e: e.tag == q(NS_CLIENT, 'iq'), 2)
    assert e.get('id') == 'v1' and e.get('type') == 'get', show(e)


def test_encrypted_and_call_flush(server):
    alice = login(server, 'alice', 'phone')
    bob = login(server, 'bob', 'pc')
    inactive(alice)
    composing(bob)
    bob.alive()
    alice.nothing(0.4)
    # OMEMO without a fallback body is a message a person reads
    bob.send("<message to='%s' type='chat'><encrypted xmlns="
             "'urn:xmpp:omemo:2'><payload>AAAA</payload></encrypted>"
             "</message>" % ALICE)
    got = stanzas(alice, 2)
    assert describe(got[0]) == 'state bob composing', show(got[0])
    assert got[1].find(q('urn:xmpp:omemo:2', 'encrypted')) is not None
    composing(bob)
    bob.alive()
    alice.nothing(0.4)
    # a call rings at once (XEP-0353)
    bob.send("<message to='%s' type='chat'><propose xmlns="
             "'urn:xmpp:jingle-message:0' id='call1'><description xmlns="
             "'urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose>"
             "</message>" % ALICE)
    got = stanzas(alice, 2)
    assert describe(got[0]) == 'state bob composing', show(got[0])
    assert got[1].find(q('urn:xmpp:jingle-message:0', 'propose')) is not None


def test_markers_held(server):
    alice = login(server, 'alice', 'phone')
    bob = login(server, 'bob', 'pc')
    inactive(alice)
    bob.send("<message to='%s' type='chat'><displayed xmlns="
             "'urn:xmpp:chat-markers:0' id='m1'/></message>" % ALICE)
    bob.alive()
    alice.nothing(0.4)
    alice.send("<active xmlns='%s'/>" % NS_CSI)
    e = stanzas(alice, 1)[0]
    assert e.find(q('urn:xmpp:chat-markers:0', 'displayed')) is not None


def test_held_queue_is_bounded(make_server):
    srv = csi_server(make_server, 'csi: { max_held: 3 }')
    alice = login(srv, 'alice', 'phone')
    bob = login(srv, 'bob', 'pc')
    inactive(alice)
    for i in range(3):
        status(bob, 's%d' % i)  # collapses into one
        composing(bob)
    bob.alive()
    # the latest presence and three chat states would be four held
    # stanzas: the fourth sends everything, in order
    got = [describe(e) for e in stanzas(alice, 4, 2)]
    assert got == ['state bob composing', 'state bob composing',
                   'presence bob s2', 'state bob composing'], got


def test_stream_management_counts_what_was_sent(server):
    """A presence replaced while held never reaches the client, so stream
    management must not wait for its acknowledgement: after resumption
    with the client's count, nothing is sent again."""
    alice = login(server, 'alice', 'phone')
    bob = login(server, 'bob', 'pc')
    alice.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    en = alice.wait_for(lambda e: e.tag == q(NS_SM, 'enabled'))
    inactive(alice)  # one iq result received
    received = 1
    for i in range(4):
        status(bob, 'p%d' % i)
    bob.message(ALICE, 'wake up')
    got = [describe(e) for e in stanzas(alice, 2)]
    assert got == ['presence bob p3', 'message bob wake up'], got
    received += 2
    alice.sock.close()
    time.sleep(0.3)
    n = connect_tls(server.c2s)
    n.authenticate('alice')
    n.send("<resume xmlns='%s' previd='%s' h='%d'/>"
           % (NS_SM, en.get('id'), received))
    res = n.wait_for(lambda e: e.tag in (q(NS_SM, 'resumed'),
                                         q(NS_SM, 'failed')))
    assert res.tag == q(NS_SM, 'resumed'), show(res)
    # nothing unacknowledged: no replay, no request for an ack
    n.nothing(0.7)

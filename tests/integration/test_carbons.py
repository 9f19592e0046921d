"""XEP-0280 Message Carbons: sent and received copies across two resources
of alice talking with bob, <private/> and XEP-0334 no-copy, enable and
disable, eligibility rules."""
from xml.sax.saxutils import quoteattr

from ternlib import RawStream, q, show, stanza_error, DOMAIN, NS_CLIENT

NS_CARBONS = 'urn:xmpp:carbons:2'
NS_FWD = 'urn:xmpp:forward:0'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
ALICE = 'alice@' + DOMAIN
BOB = 'bob@' + DOMAIN


def carbons(s, on=True):
    r = s.iq('set', "<%s xmlns='%s'/>" % ('enable' if on else 'disable',
                                           NS_CARBONS))
    assert r.get('type') == 'result', show(r)


def login(srv, user, res, prio=None, enable=True):
    s = RawStream(srv.c2s)
    s.login(user, resource=res)
    if enable:
        carbons(s)
    s.presence(priority=prio)
    s.alive()
    return s


def messages(s):
    """Every message received so far (after a round trip that proves the
    server wrote everything queued before it)."""
    s.alive()
    out = [e for e in s.pending if e.tag == q(NS_CLIENT, 'message')]
    for e in out:
        s.pending.remove(e)
    return out


def copy_of(m, direction):
    """The forwarded message inside a carbon copy, checked."""
    d = m.find(q(NS_CARBONS, direction))
    assert d is not None, 'no %s copy: %s' % (direction, show(m))
    assert m.get('from') == ALICE, show(m)
    inner = d.find('%s/%s' % (q(NS_FWD, 'forwarded'), q(NS_CLIENT,
                                                         'message')))
    assert inner is not None, show(m)
    return inner


def body(m):
    b = m.find(q(NS_CLIENT, 'body'))
    return b.text if b is not None else None


def send(s, to, text, type_='chat', extra=''):
    s.send("<message to=%s type='%s'><body>%s</body>%s</message>"
           % (quoteattr(to), type_, text, extra))
    s.alive()  # processed by the server before anyone looks


def three(srv):
    a = login(srv, 'alice', 'a')
    b = login(srv, 'alice', 'b')
    bob = login(srv, 'bob', 'x')
    for s in (a, b, bob):
        messages(s)
    return a, b, bob


def test_feature_advertised(server):
    s = login(server, 'alice', 'a', enable=False)
    r = s.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=DOMAIN)
    feats = [f.get('var') for f in r.iter(q(NS_DISCO_INFO, 'feature'))]
    assert NS_CARBONS in feats


def test_sent_copies(server):
    a, b, bob = three(server)
    send(a, BOB, 'hello bob')
    got = messages(bob)
    assert [body(m) for m in got] == ['hello bob']
    assert all(m.find(q(NS_CARBONS, 'sent')) is None for m in got)
    copies = messages(b)
    assert len(copies) == 1, [show(m) for m in copies]
    inner = copy_of(copies[0], 'sent')
    assert copies[0].get('to') == ALICE + '/b'
    assert copies[0].get('type') == 'chat'
    assert inner.get('to') == BOB and inner.get('from') == ALICE + '/a'
    assert body(inner) == 'hello bob'
    # the sending resource gets no copy of its own message
    assert messages(a) == []


def test_received_copies_full_jid(server):
    a, b, bob = three(server)
    send(bob, ALICE + '/a', 'to a only')
    got = messages(a)
    assert [body(m) for m in got] == ['to a only']
    assert got[0].find(q(NS_CARBONS, 'received')) is None
    copies = messages(b)
    assert len(copies) == 1, [show(m) for m in copies]
    inner = copy_of(copies[0], 'received')
    assert inner.get('from') == BOB + '/x'
    assert inner.get('to') == ALICE + '/a'
    assert body(inner) == 'to a only'


def test_received_bare_goes_to_lower_priority(server):
    a = login(server, 'alice', 'a', prio=5)
    b = login(server, 'alice', 'b', prio=1)
    bob = login(server, 'bob', 'x')
    for s in (a, b, bob):
        messages(s)
    send(bob, ALICE, 'to the account')
    got = messages(a)
    assert [body(m) for m in got] == ['to the account']
    copies = messages(b)
    assert len(copies) == 1
    assert body(copy_of(copies[0], 'received')) == 'to the account'


def test_bare_same_priority_no_duplicates(server):
    a, b, bob = three(server)
    send(bob, ALICE, 'both get it')
    for s in (a, b):
        got = messages(s)
        assert [body(m) for m in got] == ['both get it'], \
            [show(m) for m in got]
        assert got[0].find(q(NS_CARBONS, 'received')) is None


def test_private_and_no_copy(server):
    a, b, bob = three(server)
    priv = "<private xmlns='%s'/>" % NS_CARBONS
    nocopy = "<no-copy xmlns='urn:xmpp:hints'/>"
    send(a, BOB, 'secret out', extra=priv + nocopy)
    send(a, BOB, 'hint only', extra=nocopy)
    send(bob, ALICE + '/a', 'secret in', extra=priv)
    assert messages(b) == []
    assert sorted(body(m) for m in messages(bob)) == ['hint only',
                                                      'secret out']
    assert [body(m) for m in messages(a)] == ['secret in']


def test_enable_disable(server):
    a, b, bob = three(server)
    c = login(server, 'alice', 'c', enable=False)
    messages(c)
    carbons(b, on=True)  # twice is fine (XEP-0280 §9.1)
    send(bob, ALICE + '/a', 'one')
    assert len(messages(b)) == 1
    assert messages(c) == []
    carbons(b, on=False)
    carbons(b, on=False)
    send(bob, ALICE + '/a', 'two')
    send(a, BOB, 'three')
    assert messages(b) == []
    carbons(c, on=True)
    send(a, BOB, 'four')
    got = messages(c)
    assert [body(copy_of(m, 'sent')) for m in got] == ['four']


def test_eligibility(server):
    a, b, bob = three(server)
    # normal without body, headline, groupchat-typed: no copies
    bob.send("<message to='%s/a'><subject>x</subject></message>" % ALICE)
    send(bob, ALICE + '/a', 'news', type_='headline')
    # a chat state in a chat message is copied (XEP-0280 §9.2)
    bob.send("<message to='%s/a' type='chat'><active xmlns="
             "'http://jabber.org/protocol/chatstates'/></message>" % ALICE)
    # a normal message with a body is copied
    send(bob, ALICE + '/a', 'plain', type_='normal')
    bob.alive()
    copies = messages(b)
    inner = [copy_of(m, 'received') for m in copies]
    assert len(inner) == 2, [show(m) for m in copies]
    assert inner[0].find(
        q('http://jabber.org/protocol/chatstates', 'active')) is not None
    assert body(inner[1]) == 'plain'


def test_forged_copy_not_copied(server):
    a, b, bob = three(server)
    bob.send("<message to='%s/a' type='chat'><received xmlns='%s'>"
             "<forwarded xmlns='%s'><message xmlns='jabber:client' "
             "from='%s' to='%s' type='chat'><body>fake</body></message>"
             "</forwarded></received></message>"
             % (ALICE, NS_CARBONS, NS_FWD, BOB, ALICE))
    bob.alive()
    got = messages(a)
    assert len(got) == 1
    # XEP-0280 §11: the forged wrapper is gone from what alice gets
    assert got[0].find(q(NS_CARBONS, 'received')) is None, show(got[0])
    assert got[0].get('from') == BOB + '/x'
    # b may get the usual carbon of what is left (a chat message), never
    # the forged content
    for m in messages(b):
        assert 'fake' not in show(m), show(m)


def test_forged_sent_copy_and_mam_result_stripped(server):
    """A peer's message claiming to be our own carbon (<sent/>) or an
    archive result loses those elements; the message itself arrives."""
    a, b, bob = three(server)
    bob.send("<message to='%s/a' type='chat'><body>real</body>"
             "<sent xmlns='%s'><forwarded xmlns='%s'><message "
             "xmlns='jabber:client' from='%s/a' to='%s' type='chat'>"
             "<body>fake</body></message></forwarded></sent>"
             "<result xmlns='urn:xmpp:mam:2' id='x'><forwarded xmlns='%s'>"
             "<message xmlns='jabber:client' from='%s' to='%s'>"
             "<body>fake2</body></message></forwarded></result></message>"
             % (ALICE, NS_CARBONS, NS_FWD, ALICE, BOB, NS_FWD, BOB, ALICE))
    bob.alive()
    (m,) = messages(a)
    assert body(m) == 'real'
    assert m.find(q(NS_CARBONS, 'sent')) is None, show(m)
    assert m.find('{urn:xmpp:mam:2}result') is None, show(m)
    # alice's other resource gets the usual received carbon of it, clean
    (c,) = messages(b)
    inner = copy_of(c, 'received')
    assert inner.find(q(NS_CARBONS, 'sent')) is None, show(c)


def test_not_allowed_for_others(server):
    a = login(server, 'alice', 'a', enable=False)
    login(server, 'bob', 'x', enable=False)
    r = a.iq('set', "<enable xmlns='%s'/>" % NS_CARBONS, to=BOB)
    assert r.get('type') == 'error'
    assert stanza_error(r) == 'not-allowed'

"""Real-time block list (mod/rtbl.c): the host subscribes to a pubsub
node and fetches its items (ids: SHA-256 hex of a bare JID or domain);
here the service is a component (comp.localhost) answering as a pubsub
service would, with pushes for new and retracted items."""
import hashlib

from ternlib import (COMPONENT, NS_CLIENT, NS_COMPONENT, online, q, show,
                     stanza_error)
from test_component import connected
from test_register import host_settings

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_EVENT = NS_PUBSUB + '#event'
D = 'localhost'
NODE = 'spam_sha256'


def h(s):
    return hashlib.sha256(s.encode()).hexdigest()


def answer(c, want):
    """Answer the server's next pubsub iq of kind want ('subscribe' or
    'items') as the service; returns it."""
    iq = c.wait_for(lambda e: e.tag == q(NS_COMPONENT, 'iq') and
                    e.find('{%s}pubsub/{%s}%s' % (NS_PUBSUB, NS_PUBSUB,
                                                  want)) is not None,
                    timeout=10)
    assert iq.get('from') == D and iq.get('to') == COMPONENT, show(iq)
    op = iq.find('{%s}pubsub/{%s}%s' % (NS_PUBSUB, NS_PUBSUB, want))
    assert op.get('node') == NODE, show(iq)
    if want == 'subscribe':
        inner = ("<subscription node='%s' jid='%s' subscription="
                 "'subscribed'/>" % (NODE, D))
    else:
        inner = "<items node='%s'>%s</items>" % (NODE, ''.join(
            "<item id='%s'/>" % i for i in answer.items))
    c.send("<iq type='result' id='%s' from='%s' to='%s'><pubsub xmlns='%s'>"
           "%s</pubsub></iq>" % (iq.get('id'), COMPONENT, D, NS_PUBSUB,
                                 inner))
    return iq


def push(c, inner):
    c.send("<message from='%s' to='%s'><event xmlns='%s'><items node='%s'>"
           "%s</items></event></message>" % (COMPONENT, D, NS_EVENT, NODE,
                                             inner))


def test_rtbl(make_server):
    """Listed JIDs' messages are dropped, listed domains too (pushed),
    subscription requests refused; retractions and the periodic fetch
    lift them."""
    srv = make_server(start=False)
    srv.modules.append('rtbl')
    host_settings(srv, ['rtbl: { service: %s, node: %s, refresh: 1s }'
                        % (COMPONENT, NODE)])
    srv.start()
    c = connected(srv)
    answer.items = [h('spammer@' + COMPONENT).upper()]
    answer(c, 'subscribe')
    answer(c, 'items')
    alice = online(srv, 'alice')
    srv.wait_log('rtbl localhost: 1 entries')

    def send(frm, body):
        c.send("<message from='%s@%s' to='alice@%s' type='chat'><body>%s"
               "</body></message>" % (frm, COMPONENT, D, body))

    send('spammer', 'spam 1')
    send('friend', 'hello 1')
    m = alice.wait_message()
    assert m.findtext(q(NS_CLIENT, 'body')) == 'hello 1', show(m)
    # a push lists the whole domain: friend is refused too, and a
    # subscription request gets <forbidden/>
    push(c, "<item id='%s'/>" % h(COMPONENT))
    alice.alive()
    send('friend', 'hello 2')
    c.send("<presence type='subscribe' from='friend@%s' to='alice@%s'/>"
           % (COMPONENT, D))
    err = c.wait_for(lambda e: e.tag == q(NS_COMPONENT, 'presence') and
                     e.get('type') == 'error')
    assert stanza_error(err) == 'forbidden', show(err)
    alice.nothing(0.3)
    # retracted: allowed again; the spammer still is not
    push(c, "<retract id='%s'/>" % h(COMPONENT))
    alice.alive()
    send('spammer', 'spam 2')
    send('friend', 'hello 3')
    m = alice.wait_message()
    assert m.findtext(q(NS_CLIENT, 'body')) == 'hello 3', show(m)
    # the periodic fetch replaces the list: the spammer is gone
    answer.items = []
    answer(c, 'items')
    srv.wait_log('rtbl localhost: 0 entries')
    send('spammer', 'sorry')
    m = alice.wait_message()
    assert m.findtext(q(NS_CLIENT, 'body')) == 'sorry', show(m)


def test_rtbl_group_chat(make_server):
    """The block list keeps listed JIDs and domains out of the host's
    group chats: their joins get <forbidden/> (type auth, with a text,
    as a banned user's), an occupant listed later can neither talk to
    the room nor send private messages, but still leaves; retracted,
    the domain joins again."""
    from test_muc import (MUC, NS_USER, codes, rj, self_pres, send_join,
                          subject)
    srv = make_server(start=False)
    srv.modules.append('rtbl')
    host_settings(srv, ['services: [{ module: muc, domain: %s }]' % MUC,
                        'rtbl: { service: %s, node: %s, refresh: 1s }'
                        % (COMPONENT, NODE)])
    srv.start()
    c = connected(srv)
    answer.items = [h('spammer@' + COMPONENT)]
    answer(c, 'subscribe')
    answer(c, 'items')
    srv.wait_log('rtbl localhost: 1 entries')
    alice = online(srv, 'alice')
    send_join(alice, 'lobby', 'a', x=False)  # an instant room
    self_pres(alice, 'lobby', 'a')
    subject(alice, 'lobby')

    def comp_pres(frm, to, typ=None):
        c.send("<presence from='%s/r' to='%s'%s><x xmlns="
               "'http://jabber.org/protocol/muc'/></presence>"
               % (frm, to, " type='%s'" % typ if typ else ''))

    def from_room(frm, pred):
        return c.wait_for(lambda e: e.get('to') == frm + '/r' and pred(e),
                          timeout=10)

    def refused(frm, el_tag):
        e = from_room(frm, lambda e: e.tag == q(NS_COMPONENT, el_tag) and
                      e.get('type') == 'error')
        assert stanza_error(e) == 'forbidden', show(e)
        err = e.find(q(NS_COMPONENT, 'error'))
        assert err.get('type') == 'auth', show(e)
        assert 'block list' in err.findtext(
            '{urn:ietf:params:xml:ns:xmpp-stanzas}text'), show(e)
        return e

    spammer, friend = 'spammer@' + COMPONENT, 'friend@' + COMPONENT
    comp_pres(spammer, rj('lobby', 'spam'))
    e = refused(spammer, 'presence')
    assert e.get('from') == rj('lobby', 'spam'), show(e)
    comp_pres(friend, rj('lobby', 'f'))
    from_room(friend, lambda e: e.tag == q(NS_COMPONENT, 'presence') and
              '110' in codes(e))
    p = alice.wait_for(lambda e: e.get('from') == rj('lobby', 'f'))
    assert p.get('type') is None, show(p)

    def gc(frm, body, to=rj('lobby'), typ='groupchat'):
        c.send("<message from='%s/r' to='%s' type='%s'><body>%s</body>"
               "</message>" % (frm, to, typ, body))

    gc(spammer, 'spam to the room')
    refused(spammer, 'message')
    gc(friend, 'hello room')
    m = alice.wait_for(lambda e: e.findtext(q(NS_CLIENT, 'body')) ==
                       'hello room')
    assert m.get('from') == rj('lobby', 'f'), show(m)
    # the whole domain is listed: the occupant is silenced
    push(c, "<item id='%s'/>" % h(COMPONENT))
    alice.alive()
    gc(friend, 'hello again')
    refused(friend, 'message')
    gc(friend, 'psst', to=rj('lobby', 'a'), typ='chat')
    refused(friend, 'message')
    alice.nothing(0.3)
    # leaving still works
    comp_pres(friend, rj('lobby', 'f'), 'unavailable')
    p = alice.wait_for(lambda e: e.get('from') == rj('lobby', 'f'))
    assert p.get('type') == 'unavailable', show(p)
    comp_pres(friend, rj('lobby', 'f'))
    refused(friend, 'presence')
    # retracted: the domain may join again, the spammer still may not
    push(c, "<retract id='%s'/>" % h(COMPONENT))
    alice.alive()
    comp_pres(friend, rj('lobby', 'f'))
    p = alice.wait_for(lambda e: e.get('from') == rj('lobby', 'f'))
    assert p.get('type') is None and p.find(q(NS_USER, 'x')) is not None
    comp_pres(spammer, rj('lobby', 'spam'))
    refused(spammer, 'presence')

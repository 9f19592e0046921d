"""Tern (a.test) federating with real Prosody (b.test) and ejabberd
(c.test), Debian's packages, on loopback: a test CA, a test DNS zone
served by unbound that Tern resolves through libunbound (SRV records
for _xmpp-server and _xmpps-server, RFC 6120 §3.2.1, XEP-0368), both
directions, certificates (SASL EXTERNAL, RFC 6120 §6.4) and dialback
(XEP-0220). Skipped when the peers are not installed (scripts/deps.sh
installs them)."""
import asyncio
import xml.etree.ElementTree as ET

import pytest

import fedlib
from ternlib import (TIMEOUT, connect_tls, recv, show)

make_federation = fedlib.make_federation
PEERS = ('prosody', 'ejabberd')


def tern_for(make_server, fed, **s2s):
    srv = make_server(domain=fedlib.TERN_DOMAIN, cert=fed.tern_pem,
                      users=('alice', 'bob'), start=False)
    srv.s2s = fed.tern_s2s_yaml(**s2s)
    srv.write_config()
    fed.set_tern_ports(srv.s2s_port, srv.s2s_tls_port)
    srv.start()
    return srv


def tern_login(srv, user):
    s = connect_tls(srv.c2s, user, 'r', domain=srv.domain, timeout=30)
    s.presence()
    s.alive()
    return s


def exchange(srv, peer, expect_in_tern_log, peer_first=False):
    """alice@a.test and bob@<peer> exchange a message each way (bob's
    first with peer_first: then the peer opens the first stream)."""
    alice = tern_login(srv, 'alice')

    async def scenario():
        loop = asyncio.get_running_loop()
        bob = await fedlib.login(peer, 'bob')
        async def tern_to_peer():
            alice.message('bob@%s' % peer.domain, 'from tern')
            m = await recv(bob.inbox, timeout=30)
            assert m['body'] == 'from tern'
            assert str(m['from']) == 'alice@a.test/r'

        async def peer_to_tern():
            bob.send_message(mto='alice@a.test/r', mbody='to tern',
                             mtype='chat')
            m = await loop.run_in_executor(
                None, lambda: alice.wait_message(timeout=30))
            assert m.get('from') == 'bob@%s/fed' % peer.domain, show(m)
        try:
            steps = (peer_to_tern, tern_to_peer) if peer_first else \
                (tern_to_peer, peer_to_tern)
            for step in steps:
                await step()
        finally:
            await fedlib.logout(bob)
    fedlib.run(scenario, timeout=90)
    for text in expect_in_tern_log:
        assert srv.wait_log(text, timeout=10), text


def test_prosody_and_ejabberd_by_certificate(make_server,
                                             make_federation):
    """Verified certificates both ways with each peer: Tern's outgoing
    streams authenticate with EXTERNAL, the peers' incoming ones too."""
    fed = make_federation()
    srv = tern_for(make_server, fed)
    # Prosody answers over Tern's stream (XEP-0288 bidi): one stream
    exchange(srv, fed.prosody, ['s2s-out a.test->b.test ready '
                                '(certificate, peer certificate valid)'])
    # Prosody's own messages use that stream too (no second stream)
    exchange(srv, fed.prosody, [], peer_first=True)
    assert 'b.test->a.test authenticated' not in srv.log
    exchange(srv, fed.ejabberd, ['c.test->a.test authenticated by '
                                 'certificate',
                                 's2s-out a.test->c.test ready '
                                 '(certificate, peer certificate valid)'])


def test_prosody_over_starttls_only(make_server, make_federation):
    """No _xmpps-server records: STARTTLS on the s2s port both ways."""
    fed = make_federation(direct_tls=False, peers=('prosody',))
    srv = tern_for(make_server, fed)
    fed.set_tern_ports(srv.s2s_port, None)
    # Prosody speaks first: its stream asks for bidi (XEP-0288), and
    # Tern's answer goes back on it
    exchange(srv, fed.prosody, ['b.test->a.test authenticated by '
                                'certificate', 'bidirectional'],
             peer_first=True)
    assert 's2s-out a.test->b.test new' not in srv.log


@pytest.mark.parametrize('peer', PEERS)
def test_dialback_with_untrusted_peer(make_server, make_federation, peer):
    """Prosody or ejabberd with a self-signed certificate and dialback
    allowed on both sides: Tern (secure_auth false) accepts the peer's
    dialback after verifying the key with the peer's authoritative
    server (XEP-0220 §2.3), and authenticates to it by certificate; a
    message crosses each way."""
    fed = make_federation(secure=False, dialback=True,
                          peers=(peer,), **{peer: {'trusted': False}})
    server = getattr(fed, peer)
    srv = tern_for(make_server, fed, secure_auth='false')
    exchange(srv, server, ['%s->a.test authenticated by '
                           'dialback' % server.domain], peer_first=True)



@pytest.mark.parametrize('peer', PEERS)
def test_tern_proves_itself_by_dialback(make_server, make_federation, peer):
    """The other way round: Tern's certificate is self-signed, so the
    peer (dialback allowed, secure auth off) offers no EXTERNAL on Tern's
    stream and Tern proves a.test by dialback (XEP-0220 §2.1): the peer
    asks Tern's authoritative server, over a stream of its own, to
    verify the key (db:verify, §2.3), and Tern's message is delivered."""
    fed = make_federation(secure=False, dialback=True, peers=(peer,))
    server = getattr(fed, peer)
    crt, key = fed.pki.self_signed(fedlib.TERN_DOMAIN)
    pem = fed.dir / 'tern-self-signed.pem'
    pem.write_bytes(crt.read_bytes() + key.read_bytes())
    srv = make_server(domain=fedlib.TERN_DOMAIN, cert=pem,
                      users=('alice', 'bob'), start=False)
    srv.s2s = fed.tern_s2s_yaml(secure_auth='false')
    srv.write_config()
    fed.set_tern_ports(srv.s2s_port, srv.s2s_tls_port)
    srv.start()
    exchange(srv, server, ['s2s-out a.test->%s ready (dialback'
                           % server.domain])

def test_secure_auth_refuses_untrusted_peer(make_server, make_federation):
    """secure_auth (the default the fixture asks for) and a peer whose
    certificate does not chain to the trust store: Tern's message to it
    bounces with remote-server-not-found."""
    fed = make_federation(secure=False, dialback=True,
                          prosody={'trusted': False}, peers=('prosody',))
    srv = tern_for(make_server, fed)
    alice = tern_login(srv, 'alice')
    alice.message('bob@b.test', 'must not go')
    m = alice.wait_message(timeout=30)
    assert m.get('type') == 'error', show(m)
    assert srv.wait_log('peer certificate not valid')


@pytest.mark.parametrize('peer', PEERS)
def test_subscription_across(make_server, make_federation, peer):
    """RFC 6121 §3 across servers: alice@a.test subscribes to a
    Prosody or ejabberd user, whose client approves (slixmpp's
    auto_authorize); alice then receives bob's presence and sees bob
    subscribed back."""
    fed = make_federation(peers=(peer,))
    server = getattr(fed, peer)
    srv = tern_for(make_server, fed)
    alice = tern_login(srv, 'alice')

    async def scenario():
        loop = asyncio.get_running_loop()
        bob = await fedlib.login(server, 'bob')
        try:
            alice.send("<presence type='subscribe' to='bob@%s'/>"
                       % server.domain)

            def presence_from_bob():
                return alice.wait_for(
                    lambda e: e.tag.endswith('presence') and
                    e.get('from', '').startswith('bob@' + server.domain) and
                    e.get('type') in (None, 'subscribe'), timeout=30)
            p = await loop.run_in_executor(None, presence_from_bob)
            assert p is not None
        finally:
            await fedlib.logout(bob)
    fedlib.run(scenario, timeout=90)


def with_muc(srv):
    """Serve group chat on conference.a.test (a service domain)."""
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    srv.write_config(text[:at] + '    services: [{ module: muc, domain: '
                     'conference.a.test }]\n' + text[at:])


@pytest.mark.parametrize('peer', PEERS)
def test_muc_across_servers(make_server, make_federation, peer):
    """MUC traffic crosses servers (issue 16 item 3): a Prosody (or
    ejabberd) user joins a room on Tern's conference.a.test and a Tern
    user joins one on the peer's conference service; in each, both get
    each other's groupchat messages."""
    fed = make_federation(peers=(peer,))
    server = getattr(fed, peer)
    srv = make_server(domain=fedlib.TERN_DOMAIN, cert=fed.tern_pem,
                      users=('alice', 'bob'), start=False)
    srv.s2s = fed.tern_s2s_yaml()
    with_muc(srv)
    fed.set_tern_ports(srv.s2s_port, srv.s2s_tls_port)
    srv.start()
    alice = tern_login(srv, 'alice')
    muc_ns = 'http://jabber.org/protocol/muc'

    def alice_wait_groupchat(body):
        try:
            return alice.wait_for(
                lambda e: e.tag.endswith('message') and
                e.get('type') == 'groupchat' and
                e.findtext('{jabber:client}body') == body, timeout=30)
        except TimeoutError:
            raise AssertionError('no %r; alice has: %s' % (
                body, ' '.join(show(e) for e in alice.pending)))

    async def scenario():
        loop = asyncio.get_running_loop()
        bob = await fedlib.login(server, 'bob')
        try:
            # a room on Tern: alice makes an instant room (no <x/>)
            room = 'tern-room@conference.a.test'
            alice.send("<presence to='%s/alice'/>" % room)
            await loop.run_in_executor(None, lambda: alice.wait_for(
                lambda e: e.tag.endswith('presence') and
                e.get('from') == room + '/alice', timeout=15))
            bob.send_raw("<presence to='%s/bob'><x xmlns='%s'/></presence>"
                         % (room, muc_ns))
            await asyncio.sleep(0.5)
            bob.send_message(mto=room, mbody='bob in tern room',
                             mtype='groupchat')
            await loop.run_in_executor(
                None, lambda: alice_wait_groupchat('bob in tern room'))
            alice.send("<message to='%s' type='groupchat'><body>alice "
                       "answers</body></message>" % room)
            while True:
                m = await recv(bob.inbox, timeout=30)
                if m['type'] == 'groupchat' and \
                        m['body'] == 'alice answers':
                    break
            # a room on the peer: alice creates it and submits the
            # instant-room form (both lock new rooms until then, XEP-0045
            # §10.1.2)
            room = 'peer-room@%s' % server.muc
            alice.send("<presence to='%s/alice'><x xmlns='%s'/>"
                       "</presence>" % (room, muc_ns))
            await loop.run_in_executor(None, lambda: alice.wait_for(
                lambda e: e.tag.endswith('presence') and
                e.get('from') == room + '/alice', timeout=30))
            r = await loop.run_in_executor(None, lambda: alice.iq(
                'set', "<query xmlns='%s#owner'><x xmlns='jabber:x:data' "
                "type='submit'/></query>" % muc_ns, to=room, timeout=30))
            assert r.get('type') == 'result', show(r)
            bob.send_raw("<presence to='%s/bob'><x xmlns='%s'/></presence>"
                         % (room, muc_ns))
            await asyncio.sleep(0.5)
            bob.send_message(mto=room, mbody='bob in peer room',
                             mtype='groupchat')
            await loop.run_in_executor(
                None, lambda: alice_wait_groupchat('bob in peer room'))
        finally:
            await fedlib.logout(bob)
    fedlib.run(scenario, timeout=120)


@pytest.mark.parametrize('peer', PEERS)
def test_pep_across_servers(make_server, make_federation, peer):
    """PEP (XEP-0163) across servers: bob on Prosody or ejabberd, alice's
    mutual contact, subscribes to her nick node over federation (an iq
    through both servers, XEP-0060 §6.1) and her next publication
    reaches him as an event (XEP-0060 §7.1.2)."""
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
    fed = make_federation(peers=(peer,))
    server = getattr(fed, peer)
    srv = tern_for(make_server, fed)
    alice = tern_login(srv, 'alice')
    nick_ns = 'http://jabber.org/protocol/nick'
    ps = 'http://jabber.org/protocol/pubsub'

    async def scenario():
        loop = asyncio.get_running_loop()
        bob = await fedlib.login(server, 'bob')
        events = asyncio.Queue()
        bob.register_handler(Callback('pep', MatchXPath(
            '{jabber:client}message/{%s#event}event' % ps),
            events.put_nowait))
        try:
            # mutual subscription: alice asks (slixmpp approves), bob
            # asks and alice approves
            alice.send("<presence type='subscribe' to='bob@%s'/>"
                       % server.domain)
            await loop.run_in_executor(None, lambda: alice.wait_for(
                lambda e: e.tag.endswith('presence') and
                e.get('type') == 'subscribed', timeout=30))
            bob.send_presence(pto='alice@a.test', ptype='subscribe')
            await loop.run_in_executor(None, lambda: alice.wait_for(
                lambda e: e.tag.endswith('presence') and
                e.get('type') == 'subscribe', timeout=30))
            alice.send("<presence type='subscribed' to='bob@%s'/>"
                       % server.domain)
            alice.alive()

            def publish(nick):
                r = alice.iq(
                    'set', "<pubsub xmlns='%s'><publish node='%s'><item>"
                    "<nick xmlns='%s'>%s</nick></item></publish>"
                    "</pubsub>" % (ps, nick_ns, nick_ns, nick), timeout=30)
                assert r.get('type') == 'result', show(r)
            await loop.run_in_executor(None, lambda: publish('Alice'))
            iq = bob.make_iq_set(ito='alice@a.test')
            iq.append(ET.fromstring(
                "<pubsub xmlns='%s'><subscribe node='%s' jid='%s'/>"
                "</pubsub>" % (ps, nick_ns, bob.boundjid.full)))
            r = await iq.send(timeout=30)
            assert r['type'] == 'result', str(r)
            await loop.run_in_executor(None, lambda: publish('Alice A.'))
            while True:
                m = await recv(events, timeout=30)
                if m['from'].bare == 'alice@a.test' and \
                        'Alice A.' in str(m):
                    break
        finally:
            await fedlib.logout(bob)
    fedlib.run(scenario, timeout=120)


def caps_presence(s, features):
    """Send available presence with XEP-0115 caps for a client of
    identity client/pc and these features; returns the node#ver that
    disco#info queries will name."""
    import base64
    import hashlib
    node = 'https://tern.example/test'
    text = 'client/pc//tern test<' + ''.join(
        f + '<' for f in sorted(features))
    ver = base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()
    s.send("<presence><c xmlns='http://jabber.org/protocol/caps' "
           "hash='sha-1' node='%s' ver='%s'/></presence>" % (node, ver))
    return '%s#%s' % (node, ver)


def answer_disco(s, e, features):
    """If e is a disco#info get, answer it as a client with features
    (what a peer's PEP service asks to learn a +notify, XEP-0115 §6.2)."""
    info = 'http://jabber.org/protocol/disco#info'
    if e.tag != '{jabber:client}iq' or e.get('type') != 'get' or \
            e.find('{%s}query' % info) is None:
        return False
    node = e.find('{%s}query' % info).get('node')
    s.send("<iq type='result' to='%s' id='%s'><query xmlns='%s'%s>"
           "<identity category='client' type='pc' name='tern test'/>%s"
           "</query></iq>" % (
               e.get('from'), e.get('id'), info,
               " node='%s'" % node if node else '',
               ''.join("<feature var='%s'/>" % f for f in features)))
    return True


@pytest.mark.parametrize('peer', PEERS)
def test_pep_from_peer_to_tern(make_server, make_federation, peer):
    """PEP the other way: bob's node lives on Prosody or ejabberd; alice
    on Tern, his mutual contact, announces +notify for it in her caps
    (XEP-0163 §4, XEP-0115; the peer's disco#info query crosses Tern to
    her client and back) and subscribes to it explicitly (XEP-0060
    §6.1); his next publication reaches her through Tern as an event
    from his bare JID (XEP-0060 §7.1.2)."""
    fed = make_federation(peers=(peer,))
    server = getattr(fed, peer)
    srv = tern_for(make_server, fed)
    alice = tern_login(srv, 'alice')
    nick_ns = 'http://jabber.org/protocol/nick'
    ps = 'http://jabber.org/protocol/pubsub'
    features = ['http://jabber.org/protocol/disco#info',
                'http://jabber.org/protocol/caps', nick_ns,
                nick_ns + '+notify']
    bob_jid = 'bob@%s' % server.domain

    def wait(pred):
        return alice.wait_for(
            lambda e: not answer_disco(alice, e, features) and pred(e),
            timeout=30)

    async def scenario():
        loop = asyncio.get_running_loop()
        bob = await fedlib.login(server, 'bob')
        try:
            alice.send("<presence type='subscribe' to='%s'/>" % bob_jid)
            await loop.run_in_executor(None, lambda: wait(
                lambda e: e.tag.endswith('presence') and
                e.get('type') == 'subscribed'))
            bob.send_presence(pto='alice@a.test', ptype='subscribe')
            await loop.run_in_executor(None, lambda: wait(
                lambda e: e.tag.endswith('presence') and
                e.get('type') == 'subscribe'))
            alice.send("<presence type='subscribed' to='%s'/>" % bob_jid)
            caps_presence(alice, features)
            alice.alive()

            async def publish(nick):
                iq = bob.make_iq_set()
                iq.append(ET.fromstring(
                    "<pubsub xmlns='%s'><publish node='%s'><item>"
                    "<nick xmlns='%s'>%s</nick></item></publish></pubsub>"
                    % (ps, nick_ns, nick_ns, nick)))
                r = await iq.send(timeout=30)
                assert r['type'] == 'result', str(r)
            await publish('Bob')
            alice.send("<iq type='set' id='sub1' to='%s'><pubsub xmlns='%s'>"
                       "<subscribe node='%s' jid='alice@a.test/r'/>"
                       "</pubsub></iq>" % (bob_jid, ps, nick_ns))
            r = await loop.run_in_executor(None, lambda: wait(
                lambda e: e.tag == '{jabber:client}iq' and
                e.get('id') == 'sub1'))
            assert r.get('type') == 'result', show(r)

            def got_event(e):
                return (e.tag == '{jabber:client}message' and
                        e.get('from') == bob_jid and
                        e.find('{%s#event}event' % ps) is not None and
                        'Bob B.' in ET.tostring(e, encoding='unicode'))

            # ejabberd notifies only once it has learnt alice's caps
            # (its disco#info query and her answer cross Tern): under a
            # sanitizer build that can come after a first publication,
            # so bob publishes again, at most three times
            for attempt in range(3):
                await publish('Bob B.')
                try:
                    await loop.run_in_executor(None, lambda: alice.wait_for(
                        lambda e: not answer_disco(alice, e, features)
                        and got_event(e), timeout=15))
                    break
                except TimeoutError:
                    if attempt == 2:
                        raise
        finally:
            await fedlib.logout(bob)
    fedlib.run(scenario, timeout=120)

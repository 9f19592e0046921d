"""Presence (RFC 6121 §4): broadcast, probes, unavailable, directed."""
import asyncio

from ternlib import subscribe_mutually as mutual
from ternlib import NS_CLIENT, connect_tls, q, run, show

NS_ROSTER = 'jabber:iq:roster'
QUERY = "<query xmlns='%s'/>" % NS_ROSTER


def login(server, user, resource=None, available=True, status=None):
    s = connect_tls(server.c2s)
    s.authenticate(user)
    s.bind(resource)
    assert s.iq('get', QUERY).get('type') == 'result'
    if available:
        s.presence(extra='<status>%s</status>' % status if status else '')
    return s


def is_presence(e, type_=None, frm=None):
    return (e.tag == q(NS_CLIENT, 'presence') and e.get('type') == type_
            and (frm is None or e.get('from') == frm))


def presence(s, type_=None, frm=None, timeout=None):
    return s.wait_for(lambda e: is_presence(e, type_, frm), timeout)


def no_presence(s, frm, within=0.5):
    try:
        el = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'presence')
                        and e.get('from', '').startswith(frm), within)
    except TimeoutError:
        return
    raise AssertionError('unexpected presence %s' % show(el))




def test_offline_online_see_each_other(server):
    mutual(server)
    alice = login(server, 'alice', 'pc', status='here')
    # bob is offline: the probe is answered with unavailable
    p = presence(alice, 'unavailable', 'bob@localhost')
    bob = login(server, 'bob', 'phone', status='bob here')
    # bob's initial presence reaches alice; alice's answer to bob's
    # probe reaches bob's new resource
    p = presence(alice, None, 'bob@localhost/phone')
    assert p.find(q(NS_CLIENT, 'status')).text == 'bob here'
    p = presence(bob, None, 'alice@localhost/pc')
    assert p.find(q(NS_CLIENT, 'status')).text == 'here'
    assert p.get('to') == 'bob@localhost/phone'
    # an update
    alice.send('<presence><show>away</show></presence>')
    p = presence(bob, None, 'alice@localhost/pc')
    assert p.find(q(NS_CLIENT, 'show')).text == 'away'
    # alice goes offline cleanly, then comes back
    alice.send("<presence type='unavailable'/>")
    presence(bob, 'unavailable', 'alice@localhost/pc')
    alice.send('</stream:stream>')
    alice.close()
    alice = login(server, 'alice', 'laptop')
    presence(bob, None, 'alice@localhost/laptop')
    p = presence(alice, None, 'bob@localhost/phone')
    assert p.find(q(NS_CLIENT, 'status')).text == 'bob here'
    # carol, with no subscription, sees nothing
    carol = login(server, 'carol')
    carol.alive()
    alice.send('<presence><show>dnd</show></presence>')
    presence(bob, None, 'alice@localhost/laptop')
    no_presence(carol, 'alice@localhost')


def test_dropped_connection_sends_unavailable(server):
    mutual(server)
    bob = login(server, 'bob', 'phone')
    alice = login(server, 'alice', 'pc')
    presence(bob, None, 'alice@localhost/pc')
    alice.sock.close()  # no </stream:stream>
    p = presence(bob, 'unavailable', 'alice@localhost/pc')
    assert p.get('to') == 'bob@localhost'


def test_own_resources_see_each_other(server):
    one = login(server, 'alice', 'one', status='first')
    two = login(server, 'alice', 'two', status='second')
    p = presence(one, None, 'alice@localhost/two')
    assert p.find(q(NS_CLIENT, 'status')).text == 'second'
    p = presence(two, None, 'alice@localhost/one')
    assert p.find(q(NS_CLIENT, 'status')).text == 'first'
    two.close()
    presence(one, 'unavailable', 'alice@localhost/two')


def test_directed_presence_and_cleanup(server):
    carol = login(server, 'carol', 'c')
    alice = login(server, 'alice', 'pc')
    alice.send("<presence to='carol@localhost'><status>psst</status>"
               "</presence>")
    p = presence(carol, None, 'alice@localhost/pc')
    assert p.find(q(NS_CLIENT, 'status')).text == 'psst'
    # going unavailable tells carol, though she is no contact
    alice.send("<presence type='unavailable'/>")
    presence(carol, 'unavailable', 'alice@localhost/pc')
    # and a dropped connection too
    alice2 = login(server, 'alice', 'tab')
    alice2.send("<presence to='carol@localhost/c'/>")
    presence(carol, None, 'alice@localhost/tab')
    alice2.sock.close()
    presence(carol, 'unavailable', 'alice@localhost/tab')
    # a directed unavailable ends the tracking: nothing more at close
    alice3 = login(server, 'alice', 'three')
    alice3.send("<presence to='carol@localhost'/>")
    presence(carol, None, 'alice@localhost/three')
    alice3.send("<presence to='carol@localhost' type='unavailable'/>")
    presence(carol, 'unavailable', 'alice@localhost/three')
    alice3.send("<presence type='unavailable'/>")
    alice3.alive()
    no_presence(carol, 'alice@localhost/three')


def test_probe_needs_subscription(server):
    alice = login(server, 'alice', 'pc')
    alice.alive()
    carol = login(server, 'carol', 'c')
    carol.send("<presence type='probe' to='alice@localhost'/>")
    carol.alive()
    no_presence(carol, 'alice@localhost')


def test_slixmpp_subscription_and_presence(server):
    async def scenario(s):
        alice = await s.login('alice', 'sx')
        bob = await s.login('bob', 'sx')
        for c in (alice, bob):
            await c.get_roster()
            c.roster.auto_authorize = True
            c.roster.auto_subscribe = True
            c.send_presence()
            await s.sync(c)
        got = bob.loop.create_future()

        def avail(p):
            if p['from'].bare == 'alice@localhost' and not got.done():
                got.set_result(p)
        bob.add_event_handler('got_online', avail)
        alice.send_presence(pto='bob@localhost', ptype='subscribe')
        for _ in range(50):
            await s.sync(alice)
            await s.sync(bob)
            if (alice.client_roster['bob@localhost']['subscription']
                    == 'both' and
                    bob.client_roster['alice@localhost']['subscription']
                    == 'both'):
                break
        assert alice.client_roster['bob@localhost']['subscription'] == \
            'both'
        alice.send_presence(pstatus='hello')
        bob.send_presence()
        p = await recv_future(got)
        assert p['from'].full == 'alice@localhost/sx'
    run(server, scenario)


async def recv_future(fut):
    return await asyncio.wait_for(fut, 5)

"""XEP-0198 stream management: acks, counting, resumption after a lost
connection, and what happens to unacknowledged stanzas when a session ends
for good (rerouted to offline storage, iqs bounced)."""
import signal
import time

import pytest

from ternlib import (DOMAIN, NS_CLIENT, RawStream, StreamClosed, connect_tls,
                     q, show)

NS_SM = 'urn:xmpp:sm:3'
NS_DELAY = 'urn:xmpp:delay'


def sm_server(make_server, settings='hibernation_timeout: 10s'):
    srv = make_server(start=False)
    cfg = srv.config_text()
    line = '    modules: [%s]\n' % ', '.join(srv.modules)
    assert line in cfg
    cfg = cfg.replace(line, line + '    smacks: { %s }\n' % settings)
    srv.write_config(cfg)
    return srv.start()


def enable(s, resume=True):
    s.send("<enable xmlns='%s'%s/>" % (NS_SM, " resume='true'"
                                        if resume else ''))
    return s.wait_for(lambda e: e.tag in (q(NS_SM, 'enabled'),
                                          q(NS_SM, 'failed')))


def ask_h(s):
    s.send("<r xmlns='%s'/>" % NS_SM)
    a = s.wait_for(lambda e: e.tag == q(NS_SM, 'a'))
    return int(a.get('h'))


def login(srv, user, resource):
    s = connect_tls(srv.c2s)
    s.authenticate(user)
    s.bind(resource)
    return s


def test_feature_and_enable(server):
    s = connect_tls(server.c2s)
    feats = s.authenticate('alice')
    assert feats.find(q(NS_SM, 'sm')) is not None
    s.bind('phone')
    en = enable(s)
    assert en.tag == q(NS_SM, 'enabled'), show(en)
    assert en.get('resume') == 'true' and en.get('id')
    assert int(en.get('max')) > 0
    # a second enable is refused
    again = enable(s)
    assert again.tag == q(NS_SM, 'failed')
    assert again.find(q('urn:ietf:params:xml:ns:xmpp-stanzas',
                        'unexpected-request')) is not None


def test_inbound_count(server):
    s = login(server, 'alice', 'phone')
    enable(s)
    assert ask_h(s) == 0
    s.alive()                  # one iq
    s.presence()               # one presence
    s.message('bob@%s' % DOMAIN, 'x')
    assert ask_h(s) == 3
    # the <r/> and <a/> themselves are not counted
    assert ask_h(s) == 3


def test_server_requests_acks_and_client_acks(server):
    bob = login(server, 'bob', 'pc')
    bob.presence()
    s = login(server, 'alice', 'phone')
    enable(s)
    s.presence()
    for i in range(6):
        bob.message('alice@%s/phone' % DOMAIN, 'm%d' % i)
    # request_every defaults to 5: after five stanzas we ask
    r = s.wait_for(lambda e: e.tag == q(NS_SM, 'r'))
    assert r is not None
    s.send("<a xmlns='%s' h='5'/>" % NS_SM)
    s.alive()


def test_ack_beyond_sent_is_an_error(server):
    s = login(server, 'alice', 'phone')
    enable(s)
    s.send("<a xmlns='%s' h='7'/>" % NS_SM)
    assert s.stream_error() == 'undefined-condition'


def test_resume_replays_unacked(server):
    bob = login(server, 'bob', 'pc')
    bob.presence()
    s = login(server, 'alice', 'phone')
    en = enable(s)
    s.presence()
    bob.message('alice@%s/phone' % DOMAIN, 'one')
    m = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert m.find(q(NS_CLIENT, 'body')).text == 'one'
    h_before = ask_h(s)
    # the train enters a tunnel: the TCP connection dies without a close
    s.sock.close()
    time.sleep(0.3)
    bob.message('alice@%s/phone' % DOMAIN, 'two')
    bob.message('alice@%s' % DOMAIN, 'three')
    bob.alive()
    # a new connection resumes; it had acknowledged nothing
    n = connect_tls(server.c2s)
    n.authenticate('alice')
    n.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, en.get('id')))
    res = n.wait_for(lambda e: e.tag in (q(NS_SM, 'resumed'),
                                         q(NS_SM, 'failed')))
    assert res.tag == q(NS_SM, 'resumed'), show(res)
    assert int(res.get('h')) == h_before
    bodies = []
    while len(bodies) < 3:
        e = n.next()
        if e.tag == q(NS_CLIENT, 'message'):
            bodies.append(e.find(q(NS_CLIENT, 'body')).text)
    # the presence may come first; messages come in order, none lost
    assert bodies == ['one', 'two', 'three']
    # same full JID, still the same session
    r = n.iq('get', "<ping xmlns='urn:xmpp:ping'/>", to=DOMAIN)
    assert r.get('to') == 'alice@%s/phone' % DOMAIN


def test_resume_unknown_id(server):
    n = connect_tls(server.c2s)
    n.authenticate('alice')
    n.send("<resume xmlns='%s' previd='nope' h='0'/>" % NS_SM)
    f = n.wait_for(lambda e: e.tag == q(NS_SM, 'failed'))
    assert f.find(q('urn:ietf:params:xml:ns:xmpp-stanzas',
                    'item-not-found')) is not None
    # the stream can still bind normally
    n.bind('new')
    n.alive()


def test_other_user_cannot_resume(server):
    s = login(server, 'alice', 'phone')
    en = enable(s)
    s.sock.close()
    time.sleep(0.3)
    n = connect_tls(server.c2s)
    n.authenticate('bob')
    n.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, en.get('id')))
    f = n.wait_for(lambda e: e.tag in (q(NS_SM, 'resumed'),
                                       q(NS_SM, 'failed')))
    assert f.tag == q(NS_SM, 'failed')


def test_expiry_reroutes_to_offline_and_bounces_iqs(make_server):
    srv = sm_server(make_server, 'hibernation_timeout: 10s')
    bob = login(srv, 'bob', 'pc')
    bob.presence()
    s = login(srv, 'alice', 'phone')
    en = enable(s)
    s.presence()
    s.sock.close()
    time.sleep(0.3)
    bob.message('alice@%s/phone' % DOMAIN, 'kept')
    bob.send("<iq type='get' id='q1' to='alice@%s/phone'>"
             "<query xmlns='jabber:iq:version'/></iq>" % DOMAIN)
    bob.alive()
    # hibernation runs out: the message goes to offline storage, the iq
    # gets an error back
    err = bob.wait_for(lambda e: e.tag == q(NS_CLIENT, 'iq')
                       and e.get('id') == 'q1', timeout=20)
    assert err.get('type') == 'error', show(err)
    # a late resume learns it is over, with the h the server had
    n = connect_tls(srv.c2s)
    n.authenticate('alice')
    n.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, en.get('id')))
    f = n.wait_for(lambda e: e.tag in (q(NS_SM, 'resumed'),
                                       q(NS_SM, 'failed')))
    assert f.tag == q(NS_SM, 'failed') and f.get('h') is not None
    n.bind('phone2')
    n.presence()
    m = n.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert m.find(q(NS_CLIENT, 'body')).text == 'kept'
    assert m.find(q(NS_DELAY, 'delay')) is not None


def test_clean_close_reroutes_unacked(server):
    s = login(server, 'alice', 'phone')
    enable(s, resume=False)
    s.presence()
    bob = login(server, 'bob', 'pc')
    bob.message('alice@%s/phone' % DOMAIN, 'unacked')
    s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    # alice closes without acknowledging: the message must not vanish
    s.send('</stream:stream>')
    s.wait_closed()
    n = login(server, 'alice', 'laptop')
    n.presence()
    m = n.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert m.find(q(NS_CLIENT, 'body')).text == 'unacked'


def test_shutdown_keeps_hibernating_messages(make_server):
    srv = sm_server(make_server, 'hibernation_timeout: 5m')
    bob = login(srv, 'bob', 'pc')
    s = login(srv, 'alice', 'phone')
    enable(s)
    s.presence()
    s.sock.close()
    time.sleep(0.3)
    bob.message('alice@%s' % DOMAIN, 'across a restart')
    bob.alive()
    srv.stop()
    srv.start()
    n = login(srv, 'alice', 'laptop')
    n.presence()
    m = n.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert m.find(q(NS_CLIENT, 'body')).text == 'across a restart'


def _count_stanza(e):
    return e.tag in (q(NS_CLIENT, 'message'), q(NS_CLIENT, 'presence'),
                     q(NS_CLIENT, 'iq'))


def _read_bodies(s, want, handled, bodies, stop_after=None):
    """Read stanzas, counting them as handled (XEP-0198 h); collect
    message bodies; stop after stop_after bodies (the 'crash' point)."""
    while len(bodies) < want:
        if stop_after is not None and len(bodies) >= stop_after:
            return handled
        e = s.next(timeout=20)
        if _count_stanza(e):
            handled += 1
            if e.tag == q(NS_CLIENT, 'message'):
                b = e.find(q(NS_CLIENT, 'body'))
                if b is not None:
                    bodies.append(b.text)
        elif e.tag == q(NS_SM, 'r'):
            s.send("<a xmlns='%s' h='%d'/>" % (NS_SM, handled))
    return handled


@pytest.mark.parametrize('resume', [True, False])
def test_thousand_messages_link_killed_at_random_point(make_server, resume):
    """Zero lost: 1,000 messages, the receiver's TCP connection cut at a
    random point; it either resumes (the rest arrives on the resumed
    stream) or never comes back (the rest is in offline storage)."""
    import random
    # the queue must hold all 1,000 for resumption to be possible (at
    # max_queue the session ends and its queue goes to offline storage)
    srv = sm_server(make_server, 'hibernation_timeout: 10s, max_queue: 5000')
    n_msgs = 1000
    cut = random.randint(1, n_msgs - 1)
    bob = login(srv, 'bob', 'pc')
    s = login(srv, 'alice', 'phone')
    en = enable(s)
    s.presence()
    sent = ['m%04d' % i for i in range(n_msgs)]
    # sender in the background of the socket buffers: write all at once
    bob.send(''.join("<message to='alice@%s' type='chat'><body>%s</body>"
                     "</message>" % (DOMAIN, b) for b in sent))
    got, handled = [], 0
    handled = _read_bodies(s, n_msgs, handled, got, stop_after=cut)
    s.sock.close()                     # the tunnel
    bob.alive()                        # everything was routed
    if resume:
        n = connect_tls(srv.c2s)
        n.authenticate('alice')
        n.send("<resume xmlns='%s' previd='%s' h='%d'/>"
               % (NS_SM, en.get('id'), handled))
        r = n.wait_for(lambda e: e.tag in (q(NS_SM, 'resumed'),
                                           q(NS_SM, 'failed')))
        assert r.tag == q(NS_SM, 'resumed'), show(r)
        _read_bodies(n, n_msgs, handled, got)
        assert got == sent             # in order, no gap, no duplicate
    else:
        time.sleep(11)                 # hibernation runs out
        n = login(srv, 'alice', 'laptop')
        n.presence()
        rest = []
        while len(got) + len(rest) < n_msgs or \
                not set(sent) <= set(got) | set(rest):
            e = n.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'),
                           timeout=20)
            rest.append(e.find(q(NS_CLIENT, 'body')).text)
            if len(rest) > n_msgs:
                break
        # what alice read but never acknowledged may come twice; nothing
        # may be missing
        assert set(got) | set(rest) == set(sent)


def test_acked_messages_survive_sigkill(make_server):
    """What the server acknowledged (<a h/>) is in storage: SIGKILL right
    after the ack, restart, and the recipient finds every message."""
    import signal as sig
    srv = sm_server(make_server)
    s = login(srv, 'alice', 'phone')
    enable(s)
    bodies = ['k%03d' % i for i in range(50)]
    for b in bodies:
        s.message('bob@%s' % DOMAIN, b)   # bob is offline: storage
    assert ask_h(s) == 50
    srv.signal(sig.SIGKILL)
    srv.proc.wait(10)
    srv.start()
    bob = login(srv, 'bob', 'pc')
    bob.presence()
    got = []
    while len(got) < len(bodies):
        e = bob.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
        got.append(e.find(q(NS_CLIENT, 'body')).text)
    assert got == bodies


def test_queue_overflow_ends_session_and_keeps_messages(make_server):
    """smacks.max_queue: a client that acknowledges nothing is cut off
    when the queue is full; what it held goes to offline storage."""
    srv = sm_server(make_server, 'max_queue: 10')
    s = login(srv, 'alice', 'phone')
    enable(s)
    s.presence()
    bob = login(srv, 'bob', 'pc')
    for i in range(15):
        bob.message('alice@%s' % DOMAIN, 'q%02d' % i)
    bob.alive()
    assert s.stream_error(timeout=10) == 'policy-violation'
    n = login(srv, 'alice', 'laptop')
    n.presence()
    got = set()
    while len(got) < 15:
        e = n.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
        got.add(e.find(q(NS_CLIENT, 'body')).text)
    assert got == {'q%02d' % i for i in range(15)}


def test_queue_overflow_and_close_in_one_write(make_server):
    """XEP-0198 §5 (acks) with smacks.max_queue: the queue overflows and
    the client closes its stream (RFC 6120 §4.4) in the same read. The
    overflow's disconnect runs when the loop is idle, after the session
    has already ended: it must find the session gone, not touch it."""
    srv = sm_server(make_server, 'max_queue: 10')
    s = login(srv, 'alice', 'phone')
    enable(s)
    # each ping's result goes to alice unacknowledged: 11 > max_queue
    pings = ''.join("<iq type='get' id='p%d' to='%s'><ping xmlns='urn:"
                    "xmpp:ping'/></iq>" % (i, DOMAIN) for i in range(11))
    s.send(pings + '</stream:stream>')
    s.wait_closed()
    # the server lives on and the account can log in again
    n = login(srv, 'alice', 'phone')
    n.alive()


def test_resume_of_a_session_ending_as_slow_consumer(make_server):
    """XEP-0198 §5 (resumption) against limits.send_queue: in one loop
    iteration the session's send queue overflows (it ends when the loop
    is idle) and a new stream resumes it. A session that is ending
    cannot be resumed (item-not-found): the new stream would be left
    holding a session freed under it. ternd is stopped while both
    streams write so that one iteration reads both; both orders are
    tried, since which stream is read first is the kernel's choice."""
    srv = make_server(limits={'send_queue': '64k'})
    ns_private = 'jabber:iq:private'
    big = "<big xmlns='test:big'>%s</big>" % ('x' * (36 * 1024))
    for first in ('resume', 'gets'):
        a = login(srv, 'alice', 'phone')
        r = a.iq('set', "<query xmlns='%s'>%s</query>" % (ns_private, big))
        assert r.get('type') == 'result', show(r)
        sm_id = enable(a).get('id')
        n = connect_tls(srv.c2s)
        n.authenticate('alice')
        resume = "<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, sm_id)
        # two small requests, 72 KiB of answers: over the send queue
        gets = ''.join("<iq type='get' id='g%d'><query xmlns='%s'><big "
                       "xmlns='test:big'/></query></iq>" % (i, ns_private)
                       for i in range(2))
        writes = [(n, resume), (a, gets)]
        if first == 'gets':
            writes.reverse()
        srv.signal(signal.SIGSTOP)
        try:
            for s, data in writes:
                s.send(data)
        finally:
            srv.signal(signal.SIGCONT)
        el = n.wait_for(lambda e: e.tag in (q(NS_SM, 'resumed'),
                                            q(NS_SM, 'failed')))
        assert el.tag in (q(NS_SM, 'resumed'), q(NS_SM, 'failed'))
        # whichever way it went, the new stream works on, then ends
        try:
            n.send("<iq type='get' id='after' to='%s'><ping xmlns="
                   "'urn:xmpp:ping'/></iq>" % DOMAIN)
            n.send('</stream:stream>')
            n.wait_closed()
        except (OSError, StreamClosed):
            pass
        a.close()
    login(srv, 'carol', 'x').alive()

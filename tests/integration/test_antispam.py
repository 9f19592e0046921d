"""Abuse pipeline: the antispam module's stranger limits (lower for
accounts on probation) and XEP-0377 spam reports queued for the admins
(mod/spam_report.c), listed and acted on with ad-hoc commands."""
import inspect

import pytest

from ternlib import (NS_CLIENT, Ternd, connect_tls, online, q, show,
                     stanza_error)
from ternlib import subscribe_mutually as mutual
from test_admin import try_login
from test_register import host_settings

NS_CMD = 'http://jabber.org/protocol/commands'
NS_X = 'jabber:x:data'
NS_BLOCKING = 'urn:xmpp:blocking'
NS_REPORTING = 'urn:xmpp:reporting:1'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
SPAM = 'urn:xmpp:reporting:spam'
LIST = 'urn:tern:reports#list'
ACT = 'urn:tern:reports#act'
D = 'localhost'
MODULES = inspect.signature(Ternd).parameters['modules'].default
USERS = ('alice', 'bob', 'carol', 'dave', 'erin', 'mallory')


def abuse_server(make_server, antispam):
    srv = make_server(start=False, users=USERS,
                      modules=list(MODULES) + ['admin', 'antispam',
                                               'spam_report'])
    host_settings(srv, ['admins: [ alice@localhost ]',
                        'antispam: { %s }' % antispam])
    return srv.start()


def errors(s, cond):
    """Drain what s has received (after a round trip) and count the
    stanza errors with condition cond, and the other stanzas."""
    s.alive()
    n, other = 0, []
    while s.pending:
        el = s.pending.popleft()
        if el.get('type') == 'error':
            assert stanza_error(el) == cond, show(el)
            err = el.find(q(NS_CLIENT, 'error'))
            assert err.get('type') == 'wait', show(el)
            assert 'roster' in err.find(q(NS_STANZAS, 'text')).text
            n += 1
        else:
            other.append(el)
    return n, other


def received(s, pred, n, timeout=10):
    got = [s.wait_for(pred, timeout) for _ in range(n)]
    return got


def command(s, node, payload='', sid=None):
    attrs = " sessionid='%s'" % sid if sid else ''
    r = s.iq('set', "<command xmlns='%s' node='%s' action='execute'%s>%s"
             "</command>" % (NS_CMD, node, attrs, payload), to=D)
    return r


def report_rows(s):
    r = command(s, LIST)
    assert r.get('type') == 'result', show(r)
    x = r.find(q(NS_CMD, 'command')).find(q(NS_X, 'x'))
    rows = []
    for it in x.findall(q(NS_X, 'item')):
        rows.append({f.get('var'): f.findtext(q(NS_X, 'value')) or ''
                     for f in it.findall(q(NS_X, 'field'))})
    return rows


def act(s, report_id, action):
    r = command(s, ACT)
    c = r.find(q(NS_CMD, 'command'))
    assert c.get('status') == 'executing', show(r)
    form = ("<x xmlns='%s' type='submit'><field var='id'><value>%s</value>"
            "</field><field var='action'><value>%s</value></field></x>"
            % (NS_X, report_id, action))
    return command(s, ACT, form, c.get('sessionid'))


@pytest.mark.parametrize('strict', [False, True],
                         ids=['defaults', 'hold-and-bounce'])
def test_spam_burst(make_server, strict):
    """A new account sends 100 messages and subscription requests to
    strangers: only the probation limit passes, the rest get
    <policy-violation/>; roster contacts' 100 messages all arrive; the
    victim's report reaches the admin, who disables the spammer. Strict
    (probation_strangers: hold, strangers_inbound: bounce): the messages
    within the limit are held, not delivered, and dropped when the admin
    disables the spammer; a remote stranger's 100 messages bounce while
    a remote contact's 100 all arrive, in order."""
    srv = abuse_server(make_server, 'stranger_per_minute: 10, '
                       'probation: 24h, probation_stranger_per_minute: 3' +
                       (', probation_strangers: hold, '
                        'strangers_inbound: bounce' if strict else ''))
    mutual(srv, 'bob', 'carol')
    dave, erin = online(srv, 'dave'), online(srv, 'erin')
    bob, carol = online(srv, 'bob'), online(srv, 'carol')
    mal = online(srv, 'mallory')
    for i in range(100):
        if i % 2:
            mal.send("<presence type='subscribe' to='erin@%s'/>" % D)
        else:
            mal.message('dave@%s' % D, 'buy now %d' % i)
    n, _ = errors(mal, 'policy-violation')
    assert n == 97
    dave.alive()
    got = [e for e in dave.pending if e.tag == q(NS_CLIENT, 'message')]
    # three passed: messages 0 and 2 (held when strict), and the first
    # request
    assert [m.findtext(q(NS_CLIENT, 'body')) for m in got] == \
        ([] if strict else ['buy now 0', 'buy now 2']), \
        [show(e) for e in got]
    erin.alive()
    subs = [e for e in erin.pending if e.get('type') == 'subscribe']
    assert len(subs) == 1, [show(e) for e in erin.pending]
    # roster contacts are not limited (bob is on probation too)
    for i in range(100):
        bob.message('carol@%s' % D, 'hi %d' % i)
    n, _ = errors(bob, 'policy-violation')
    assert n == 0
    bodies = [m.findtext(q(NS_CLIENT, 'body')) for m in received(
        carol, lambda e: e.tag == q(NS_CLIENT, 'message'), 100)]
    assert bodies == ['hi %d' % i for i in range(100)]
    if strict:
        remote_burst(srv, carol)

    # dave reports mallory (with a stanza-id and a text)
    alice = online(srv, 'alice')
    bad = dave.iq('set', "<block xmlns='%s'><item jid='mallory@%s'>"
                  "<report xmlns='%s' reason='urn:xmpp:reporting:nope'/>"
                  "</item></block>" % (NS_BLOCKING, D, NS_REPORTING))
    assert stanza_error(bad) == 'bad-request', show(bad)
    r = dave.iq('set', "<block xmlns='%s'><item jid='mallory@%s'>"
                "<report xmlns='%s' reason='%s'>"
                "<stanza-id xmlns='urn:xmpp:sid:0' by='dave@%s' id='s1'/>"
                "<text xmlns='%s'>sells things</text></report></item>"
                "</block>" % (NS_BLOCKING, D, NS_REPORTING, SPAM, D,
                              NS_REPORTING))
    assert r.get('type') == 'result', show(r)
    note = alice.wait_message()
    assert 'mallory@localhost' in note.findtext(q(NS_CLIENT, 'body'))
    # the block itself applies
    dave.message('mallory@%s' % D, 'go away')
    el = dave.wait_for(lambda e: e.get('type') == 'error')
    assert stanza_error(el) == 'not-acceptable', show(el)

    # non-admins cannot see the queue
    r = command(dave, LIST)
    assert r.get('type') == 'error', show(r)
    rows = report_rows(alice)
    # the limit filed one report for the burst (one per minute at most)
    assert len(rows) == 2, rows
    assert (rows[0]['reporter'], rows[0]['jid'], rows[0]['reason']) == \
        (D, 'mallory@localhost', 'urn:tern:antispam:stranger-limit'), rows
    r = act(alice, rows[0]['id'], 'dismiss')
    assert r.get('type') == 'result', show(r)
    row = rows[1]
    assert (row['reporter'], row['jid'], row['reason'], row['stanza-ids'],
            row['text']) == ('dave@localhost', 'mallory@localhost', SPAM,
                             's1', 'sells things'), row
    r = act(alice, 'no-such-report', 'dismiss')
    assert stanza_error(r) == 'item-not-found', show(r)
    r = act(alice, row['id'], 'explode')
    assert stanza_error(r) == 'bad-request', show(r)
    start = len(srv.log)
    r = act(alice, row['id'], 'disable')
    assert r.get('type') == 'result', show(r)
    mal.assert_stream_error('not-authorized')
    if strict:
        # both held messages are dropped, never delivered
        assert srv.wait_log('dropped held message from mallory@localhost '
                            'to dave@localhost', start=start, timeout=15)
        dave.nothing(0.3)
        assert srv.log[start:].count('dropped held message') == 2
    s, el = try_login(srv, 'mallory')
    assert el.tag.endswith('failure'), show(el)
    assert report_rows(alice) == []


def remote_burst(srv, carol):
    """A remote stranger and a remote contact of carol's (the component
    stands for their server) send 100 messages each, interleaved."""
    from test_component import connected
    c = connected(srv)
    cd = srv.component
    r = carol.iq('set', "<query xmlns='jabber:iq:roster'><item jid="
                 "'friend@%s'/></query>" % cd)
    assert r.get('type') == 'result', show(r)
    carol.pending.clear()
    for i in range(100):
        for who in ('stranger', 'friend'):
            c.send("<message from='%s@%s/r' to='carol@%s' type='chat' "
                   "id='%s%d'><body>%s %d</body></message>"
                   % (who, cd, D, who, i, who, i))
    errs = [c.wait_for(lambda e: e.get('type') == 'error', timeout=10)
            for _ in range(100)]
    assert {e.get('to') for e in errs} == {'stranger@%s/r' % cd}
    assert [e.get('id') for e in errs] == ['stranger%d' % i
                                           for i in range(100)]
    bodies = [m.findtext(q(NS_CLIENT, 'body')) for m in received(
        carol, lambda e: e.tag == q(NS_CLIENT, 'message'), 100)]
    assert bodies == ['friend %d' % i for i in range(100)]
    carol.nothing(0.3)


def test_limit_after_probation_and_queue_cap(make_server):
    """Past probation (0 here: none) the higher limit applies; a full
    queue drops the oldest report; dismiss removes one."""
    srv = make_server(start=False, users=USERS,
                      modules=list(MODULES) + ['admin', 'antispam',
                                               'spam_report'])
    host_settings(srv, ['admins: [ alice@localhost ]',
                        'antispam: { stranger_per_minute: 10, '
                        'probation: 0, report_violations: false }',
                        'spam_report: { max_reports: 2, '
                        'notify_admins: false }'])
    srv.start()
    mal = online(srv, 'mallory')
    for i in range(30):
        mal.message('dave@%s' % D, 'x %d' % i)
    n, _ = errors(mal, 'policy-violation')
    assert n == 20
    dave, alice = online(srv, 'dave'), online(srv, 'alice')
    for j in ('a@example.org', 'b@example.org', 'c@example.org'):
        r = dave.iq('set', "<block xmlns='%s'><item jid='%s'><report "
                    "xmlns='%s' reason='%s'/></item></block>"
                    % (NS_BLOCKING, j, NS_REPORTING, SPAM))
        assert r.get('type') == 'result', show(r)
    rows = report_rows(alice)
    assert [r['jid'] for r in rows] == ['b@example.org', 'c@example.org']
    r = act(alice, rows[0]['id'], 'dismiss')
    assert r.get('type') == 'result', show(r)
    assert [r['jid'] for r in report_rows(alice)] == ['c@example.org']
    r = act(alice, rows[1]['id'], 'disable')
    assert stanza_error(r) == 'not-acceptable', show(r)
    alice.nothing(0.3)


def test_probation_muc_and_upload(make_server):
    """An account on probation may not create rooms (it may join one) and
    has the lower upload quota; the admin, however new, is trusted."""
    from httputil import http_server
    from test_muc import MUC, join, send_join, self_pres
    from test_upload import UPLOAD, slot, urls
    srv = http_server(make_server, start=False, users=USERS,
                      modules_extra=('admin', 'antispam'))
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    extra = ('    services: [{ module: muc, domain: %s }, '
             '{ module: upload, domain: %s }]\n'
             '    upload: { url: "http://localhost:%d/upload", dir: files, '
             'quota: 1500 }\n'
             '    admins: [ alice@localhost ]\n'
             '    antispam: { probation: 24h, probation_upload_quota: 500 }\n'
             % (MUC, UPLOAD, srv.http))
    srv.write_config(text[:at] + extra + text[at:])
    srv.start()
    alice, mal = online(srv, 'alice'), online(srv, 'mallory')
    send_join(mal, 'spamroom', 'm')
    p = mal.wait_for(lambda e: e.get('type') == 'error')
    assert stanza_error(p) == 'policy-violation', show(p)
    assert 'New accounts' in p.findtext('.//{%s}text' % NS_STANZAS)
    send_join(alice, 'lobby', 'a', x=False)  # an instant room
    self_pres(alice, 'lobby', 'a')
    join(mal, 'lobby', 'm')
    r = slot(mal, size=600)
    assert stanza_error(r) == 'resource-constraint', show(r)
    urls(slot(mal, size=400))
    urls(slot(alice, size=600))


def test_ternctl_reports(make_server):
    """ternctl reports list/show/dismiss/block on the queue of a running
    ternd; block disables the reported account (ending its session)."""
    srv = abuse_server(make_server, 'probation: 0')
    dave, mal = online(srv, 'dave'), online(srv, 'mallory')
    for j, text in (('mallory@localhost', 'line one\nline two'),
                    ('x@example.org', '')):
        r = dave.iq('set', "<block xmlns='%s'><item jid='%s'><report "
                    "xmlns='%s' reason='%s'><text xmlns='%s'>%s</text>"
                    "</report></item></block>" % (NS_BLOCKING, j,
                                                  NS_REPORTING, SPAM,
                                                  NS_REPORTING, text))
        assert r.get('type') == 'result', show(r)
    out = srv.ternctl_ok('reports', D).stdout
    lines = [ln for ln in out.splitlines() if not ln.startswith(' ')]
    assert len(lines) == 2, out
    assert 'dave@localhost reported mallory@localhost' in lines[0], out
    assert '  line one ...' in out
    ids = [ln.split()[0] for ln in lines]
    show_out = srv.ternctl_ok('reports', 'show', D, ids[0]).stdout
    assert 'line one\nline two' in show_out
    # a remote JID cannot be disabled here
    r = srv.ternctl('reports', 'block', D, ids[1])
    assert r.returncode == 1 and 's2s.blocked' in r.stderr, r
    srv.ternctl_ok('reports', 'dismiss', D, ids[1])
    srv.ternctl_ok('reports', 'block', D, ids[0])
    mal.assert_stream_error('not-authorized')
    assert srv.ternctl_ok('reports', 'list', D).stdout.strip() == ''
    r = srv.ternctl('reports', 'show', D, ids[0])
    assert r.returncode == 1 and 'no report' in r.stderr, r
    r = srv.ternctl('reports', 'frob', D)
    assert r.returncode == 2, r
    r = srv.ternctl('reports', 'nohost.example')
    assert r.returncode == 1 and 'not a host' in r.stderr, r


# ------------------------------------------------- strangers, inbound

NS_COMP = 'jabber:component:accept'
NS_MUC_USER = 'http://jabber.org/protocol/muc#user'


def comp_server(make_server, antispam):
    """A server whose component (comp.localhost) stands for a remote
    domain: it sends as any JID of its domain and gets the errors."""
    from test_component import connected
    srv = make_server(start=False, users=USERS,
                      modules=list(MODULES) + ['antispam'])
    host_settings(srv, ['antispam: { %s }' % antispam])
    srv.start()
    return srv, connected(srv)


def comp_send(c, frm, to, body='', typ='chat', inner=''):
    c.send("<message from='%s' to='%s' type='%s'>%s%s</message>"
           % (frm, to, typ, '<body>%s</body>' % body if body else '', inner))


def comp_error(c, frm, typ='cancel'):
    """The next error for frm at the component: its condition."""
    e = c.wait_for(lambda e: e.get('type') == 'error' and
                   e.get('to') == frm, timeout=10)
    err = e.find(q(NS_COMP, 'error'))
    assert err.get('type') == typ, show(e)
    return stanza_error(e), err.findtext(q(NS_STANZAS, 'text'))


def no_error(c, within=0.3):
    """Nothing the component receives within that time is an error."""
    import time
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            el = c.next(max(0.01, end - time.monotonic()))
        except TimeoutError:
            return
        assert el.get('type') != 'error', show(el)


def body_is(text):
    return lambda e: e.findtext(q(NS_CLIENT, 'body')) == text


def test_strangers_inbound_bounce(make_server):
    """strangers_inbound: bounce refuses strangers' chat and normal
    messages with <policy-violation/>; contacts, those the account wrote
    to, rooms it joined, errors, groupchat, service domains and local
    accounts pass; a stranger's headline vanishes; subscription requests
    from strangers arrive, limited per sender."""
    srv, c = comp_server(make_server, 'strangers_inbound: bounce, '
                         'inbound_stranger_requests_per_minute: 2, '
                         'probation: 0')
    cd = 'comp.localhost'
    alice, bob = online(srv, 'alice'), online(srv, 'bob')
    # a roster item (no subscription) is enough: alice added friend
    r = alice.iq('set', "<query xmlns='jabber:iq:roster'><item jid="
                 "'friend@%s'/></query>" % cd)
    assert r.get('type') == 'result', show(r)
    stranger = 'stranger@%s/r' % cd
    comp_send(c, stranger, 'alice@localhost', 'spam')
    cond, text = comp_error(c, stranger)
    assert cond == 'policy-violation' and 'subscription' in text, text
    comp_send(c, 'friend@%s/r' % cd, 'alice@localhost', 'hi from friend')
    alice.wait_for(body_is('hi from friend'))
    # a headline is dropped without an answer; an error always passes
    comp_send(c, stranger, 'alice@localhost', 'news', typ='headline')
    comp_send(c, stranger, 'alice@localhost/r', 'oops', typ='error',
              inner="<error type='cancel'><item-not-found xmlns='%s'/>"
              "</error>" % NS_STANZAS)
    e = alice.wait_for(lambda e: e.get('type') == 'error')
    assert e.get('from') == stranger, show(e)
    # groupchat (to a session) and the domain itself pass
    comp_send(c, 'room@%s/x' % cd, 'alice@localhost/r', 'gc',
              typ='groupchat')
    alice.wait_for(body_is('gc'))
    comp_send(c, cd, 'alice@localhost', 'from the service', typ='normal')
    alice.wait_for(body_is('from the service'))
    # alice writes first: the answer gets through
    alice.message('pen@%s' % cd, 'hello pen')
    c.wait_for(lambda e: e.get('to') == 'pen@%s' % cd)
    comp_send(c, 'pen@%s/r' % cd, 'alice@localhost', 'hello alice')
    alice.wait_for(body_is('hello alice'))
    # a room alice joined may send her private messages; another room's
    # invitation passes on behalf of a contact only
    alice.send("<presence to='lobby@%s/al'/>" % cd)
    c.wait_for(lambda e: e.get('to') == 'lobby@%s/al' % cd)
    comp_send(c, 'lobby@%s/zed' % cd, 'alice@localhost/r', 'pm',
              inner="<x xmlns='%s'/>" % NS_MUC_USER)
    alice.wait_for(body_is('pm'))
    for inviter, ok in (('friend', True), ('stranger', False)):
        comp_send(c, 'den@%s' % cd, 'alice@localhost', typ='normal',
                  inner="<x xmlns='%s'><invite from='%s@%s/r'/></x>"
                  % (NS_MUC_USER, inviter, cd))
        if ok:
            alice.wait_for(lambda e: e.get('from') == 'den@%s' % cd)
        else:
            assert comp_error(c, 'den@%s' % cd)[0] == 'policy-violation'
    # local accounts are no strangers here
    mal = online(srv, 'mallory')
    mal.message('alice@localhost', 'local hello')
    alice.wait_for(body_is('local hello'))
    # requests: two a minute from one stranger, to anyone
    for to in ('alice', 'bob', 'alice'):
        c.send("<presence type='subscribe' from='%s' to='%s@localhost'/>"
               % (stranger, to))
    cond, text = comp_error(c, stranger, 'wait')
    assert cond == 'policy-violation' and 'at most 2' in text, text
    for s in (alice, bob):
        s.wait_for(lambda e: e.get('type') == 'subscribe' and
                   e.get('from') == 'stranger@%s' % cd)
    c.send("<presence type='subscribe' from='other@%s' to='alice@localhost'"
           "/>" % cd)
    alice.wait_for(lambda e: e.get('type') == 'subscribe' and
                   e.get('from') == 'other@%s' % cd)
    alice.nothing(0.3)
    bob.nothing(0.1)


def test_strangers_inbound_drop(make_server):
    """strangers_inbound: drop loses strangers' messages without an
    answer (nothing is stored offline for them); contacts' still
    arrive, online or offline."""
    srv, c = comp_server(make_server, 'strangers_inbound: drop')
    cd = 'comp.localhost'
    mutual = "<presence type='%s' from='friend@%s' to='dave@localhost'/>"
    dave = online(srv, 'dave')
    r = dave.iq('set', "<query xmlns='jabber:iq:roster'><item jid="
                "'friend@%s'/></query>" % cd)
    assert r.get('type') == 'result', show(r)
    dave.send("<presence type='subscribe' to='friend@%s'/>" % cd)
    c.wait_for(lambda e: e.get('type') == 'subscribe')
    c.send(mutual % ('subscribed', cd))
    dave.alive()
    dave.send('</stream:stream>')
    dave.wait_closed()
    comp_send(c, 'stranger@%s/r' % cd, 'dave@localhost', 'spam offline')
    comp_send(c, 'friend@%s/r' % cd, 'dave@localhost', 'kept offline')
    no_error(c)
    dave = online(srv, 'dave')
    dave.wait_for(body_is('kept offline'))
    comp_send(c, 'stranger@%s/r' % cd, 'dave@localhost', 'spam online')
    comp_send(c, 'friend@%s/r' % cd, 'dave@localhost', 'hi online')
    dave.wait_for(body_is('hi online'))
    dave.nothing(0.3)
    no_error(c)


def test_probation_hold(make_server):
    """probation_strangers: hold keeps a new account's messages to
    strangers (not its requests) until a subscription: then they arrive
    with a delay stamp, in order; the queue survives a restart, is
    capped per account, and what a disabled account held is dropped."""
    srv = abuse_server(make_server, 'probation: 24h, '
                       'probation_stranger_per_minute: 20, '
                       'probation_strangers: hold, probation_hold_max: 3')
    dave, erin, mal = (online(srv, u) for u in ('dave', 'erin', 'mallory'))
    for to, body in (('dave', 'm1'), ('erin', 'e1'), ('dave', 'm2')):
        mal.message('%s@localhost' % to, body)
    mal.send("<message to='dave@localhost' type='chat'><composing xmlns="
             "'http://jabber.org/protocol/chatstates'/></message>")
    mal.message('dave@localhost', 'm3')
    e = mal.wait_for(lambda e: e.get('type') == 'error')
    assert stanza_error(e) == 'policy-violation', show(e)
    assert 'probation' in e.findtext('.//{%s}text' % NS_STANZAS)
    dave.nothing(0.3)
    erin.nothing(0.1)
    # the request is not held; the queue survives a restart
    mal.send("<presence type='subscribe' to='dave@localhost'/>")
    dave.wait_for(lambda e: e.get('type') == 'subscribe')
    srv.stop()
    srv.start()
    dave, mal = online(srv, 'dave'), online(srv, 'mallory')
    dave.send("<presence type='subscribed' to='mallory@localhost'/>")
    got = [dave.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message') and
                         e.find(q(NS_CLIENT, 'body')) is not None,
                         timeout=15) for _ in range(2)]
    assert [m.findtext(q(NS_CLIENT, 'body')) for m in got] == ['m1', 'm2']
    for m in got:
        assert m.get('from').startswith('mallory@localhost'), show(m)
        d = m.find('{urn:xmpp:delay}delay')
        assert d is not None and d.get('from') == 'localhost', show(m)
        assert m.find('{urn:xmpp:sid:0}stanza-id[@by="mallory@localhost"]')\
            is None, show(m)
    # disabled: what it held for erin is dropped, never delivered
    start = len(srv.log)
    srv.ternctl_ok('disable', 'mallory@localhost')
    assert srv.wait_log('dropped held message from mallory@localhost to '
                        'erin@localhost', start=start, timeout=15)
    erin = online(srv, 'erin')
    erin.nothing(0.5)


def test_probation_hold_ends_with_probation(make_server):
    """Held messages go when the probation ends; a stranger who wrote
    first is answered at once."""
    srv = abuse_server(make_server, 'probation: 6s, '
                       'probation_strangers: hold')
    # alice, an admin, is on no probation
    dave, alice, mal = (online(srv, u) for u in ('dave', 'alice',
                                                 'mallory'))
    alice.message('mallory@localhost', 'welcome!')
    mal.wait_for(body_is('welcome!'))
    mal.message('alice@localhost', 'thanks')
    alice.wait_for(body_is('thanks'))
    mal.message('dave@localhost', 'later')
    dave.nothing(0.3)
    m = dave.wait_for(body_is('later'), timeout=20)
    assert m.find('{urn:xmpp:delay}delay') is not None, show(m)


@pytest.mark.parametrize('mode', ['bounce', 'drop'])
def test_probation_bounce_or_drop(make_server, mode):
    """probation_strangers: bounce refuses a new account's message to a
    stranger with policy-violation (type cancel, saying why); drop
    discards it silently (and logs it). Neither touches messages to a
    contact, nor subscription requests, nor an admin's messages."""
    srv = abuse_server(make_server, 'probation: 24h, '
                       'probation_stranger_per_minute: 20, '
                       'probation_strangers: %s' % mode)
    mutual(srv, 'mallory', 'erin')
    dave, erin, mal, alice = (online(srv, u) for u in
                              ('dave', 'erin', 'mallory', 'alice'))
    start = len(srv.log)
    mal.message('dave@localhost', 'buy now')
    if mode == 'bounce':
        e = mal.wait_for(lambda e: e.get('type') == 'error')
        assert stanza_error(e) == 'policy-violation', show(e)
        err = e.find(q(NS_CLIENT, 'error'))
        assert err.get('type') == 'cancel', show(e)
        assert 'probation' in e.findtext('.//{%s}text' % NS_STANZAS)
    else:
        mal.alive()
        assert not [e for e in mal.pending if e.get('type') == 'error'], \
            [show(e) for e in mal.pending]
        assert srv.wait_log('dropped a message from mallory@localhost to '
                            'dave@localhost (probation)', start=start)
    dave.nothing(0.3)
    mal.send("<presence type='subscribe' to='dave@localhost'/>")
    dave.wait_for(lambda e: e.get('type') == 'subscribe')
    mal.message('erin@localhost', 'hi contact')
    erin.wait_for(body_is('hi contact'))
    alice.message('dave@localhost', 'from the admin')
    dave.wait_for(body_is('from the admin'))


def test_bad_antispam_settings(make_server):
    """Bad values of the new settings stop ternd with file:line."""
    import re
    for setting, pattern in (
            ('strangers_inbound: block', r'strangers_inbound'),
            ('probation_strangers: discard', r'probation_strangers'),
            ('probation_hold_max: 0', r'probation_hold_max.*range'),
            ('inbound_stranger_requests_per_minute: -1',
             r'inbound_stranger_requests_per_minute.*range')):
        srv = make_server(start=False, users=(),
                          modules=list(MODULES) + ['antispam'])
        host_settings(srv, ['antispam: { %s }' % setting])
        rc, err = srv.run_to_exit()
        assert rc != 0, err
        assert re.search(r'tern\.yml:\d+:\d+: ', err), err
        assert re.search(pattern, err), err


def test_strangers_inbound_keeps_group_chat(make_server):
    """With strangers_inbound: bounce, the host's own rooms work: a remote
    occupant's groupchat messages and private messages reach a local
    occupant, while the same remote user writing directly is refused; a
    room's invitation passes on behalf of a user of the host, not on
    behalf of a stranger."""
    from test_component import connected
    from test_muc import (MUC, NS_MUC, codes, rj, self_pres, send_join,
                          subject)
    srv = make_server(start=False, users=USERS,
                      modules=list(MODULES) + ['antispam'])
    host_settings(srv, ['services: [{ module: muc, domain: %s }]' % MUC,
                        'antispam: { strangers_inbound: bounce, '
                        'probation: 0 }'])
    srv.start()
    c = connected(srv)
    cd = srv.component
    alice, bob = online(srv, 'alice'), online(srv, 'bob')
    send_join(alice, 'lobby', 'a', x=False)  # an instant room
    self_pres(alice, 'lobby', 'a')
    subject(alice, 'lobby')
    rem = 'rem@%s/r' % cd
    c.send("<presence from='%s' to='%s'><x xmlns='%s'/></presence>"
           % (rem, rj('lobby', 'rem'), NS_MUC))
    c.wait_for(lambda e: e.get('to') == rem and '110' in codes(e))
    c.send("<message from='%s' to='%s' type='groupchat'><body>hi all</body>"
           "</message>" % (rem, rj('lobby')))
    m = alice.wait_for(body_is('hi all'))
    assert m.get('from') == rj('lobby', 'rem'), show(m)
    c.send("<message from='%s' to='%s' type='chat'><body>psst</body>"
           "<x xmlns='%s'/></message>" % (rem, rj('lobby', 'a'),
                                          NS_MUC_USER))
    m = alice.wait_for(body_is('psst'))
    assert m.get('from') == rj('lobby', 'rem'), show(m)
    # directly, rem is a stranger to alice
    comp_send(c, rem, 'alice@localhost', 'direct')
    assert comp_error(c, rem)[0] == 'policy-violation'
    # an invitation through the room: on behalf of a stranger to bob it
    # is refused, on behalf of a user of bob's own host it arrives
    c.send("<message from='%s' to='%s'><x xmlns='%s'><invite to="
           "'bob@localhost'/></x></message>" % (rem, rj('lobby'),
                                                NS_MUC_USER))
    alice.send("<message to='%s'><x xmlns='%s'><invite to='bob@localhost'"
               "/></x></message>" % (rj('lobby'), NS_MUC_USER))
    inv = bob.wait_for(lambda e: e.get('from') == rj('lobby'))
    assert inv.find('{%s}x/{%s}invite' % (NS_MUC_USER, NS_MUC_USER)).get(
        'from').startswith('alice@localhost'), show(inv)
    bob.nothing(0.3)

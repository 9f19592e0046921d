"""Abuse pipeline: the antispam module's stranger limits (lower for
accounts on probation) and XEP-0377 spam reports queued for the admins
(mod/spam_report.c), listed and acted on with ad-hoc commands."""
import inspect

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


def test_spam_burst(make_server):
    """A new account sends 100 messages and subscription requests to
    strangers: only the probation limit passes, the rest get
    <policy-violation/>; roster contacts' 100 messages all arrive; the
    victim's report reaches the admin, who disables the spammer."""
    srv = abuse_server(make_server, 'stranger_per_minute: 10, '
                       'probation: 24h, probation_stranger_per_minute: 3')
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
    # three passed: messages 0 and 2, and the first request
    assert [m.findtext(q(NS_CLIENT, 'body')) for m in got] == \
        ['buy now 0', 'buy now 2'], [show(e) for e in got]
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
    r = act(alice, row['id'], 'disable')
    assert r.get('type') == 'result', show(r)
    mal.assert_stream_error('not-authorized')
    s, el = try_login(srv, 'mallory')
    assert el.tag.endswith('failure'), show(el)
    assert report_rows(alice) == []


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

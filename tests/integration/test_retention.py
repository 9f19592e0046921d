"""The server's one retention policy (the retention: section): expiry runs
inside ternd, deletes the archived (XEP-0313) and offline (XEP-0160)
messages older than their limits and keeps the recent ones, in steps of
at most retention.batch deletions; `0`/`forever` keep everything;
`ternctl check retention` prints the policy."""
import re
import time

from ternlib import NS_CLIENT, connect_tls, online, q, show, stanza_error
from test_mam import NS_MAM, body, query

NS_RETENTION = 'urn:xmpp:tern:retention:0'

BOB = 'bob@localhost'
AGE = 5  # seconds the tests' policy keeps things


def retention_server(make_server, policy):
    srv = make_server(start=False)
    srv.write_config(srv.config_text('retention: { %s }\n' % policy))
    return srv.start()


def passes_done(srv, start=0):
    return [int(n) for n in re.findall(r'retention pass=(\d+) done',
                                       srv.log[start:])]


def wait_two_passes(srv):
    """Wait until a pass that started after now has ended (the one under
    way may have looked at the accounts before)."""
    seen = passes_done(srv)
    last = max(seen) if seen else 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = passes_done(srv)
        if done and max(done) >= last + 2:
            return
        time.sleep(0.1)
    raise AssertionError('no retention pass ended:\n' + srv.log[-3000:])


def send(s, to, text):
    s.send("<message to='%s' type='chat' id='%s'><body>%s</body>"
           "</message>" % (to, text, text))


def old_then_new(srv, a, old):
    """a sends the old messages to bob, and once they are older than AGE
    a 'new' one; returns when a pass that started after that has ended."""
    for text in old:
        send(a, BOB, text)
    a.alive()
    time.sleep(AGE + 0.5)
    send(a, BOB, 'new')
    a.alive()
    wait_two_passes(srv)


def test_expired_go_recent_stay(make_server):
    """Archived and offline messages older than the policy are deleted by
    the server on its own; those younger are kept and delivered."""
    srv = retention_server(make_server, 'archive: %ds, offline: %ds, '
                           'interval: 1s, batch: 3' % (AGE, AGE))
    a = online(srv, 'alice')
    old_then_new(srv, a, ['old%d' % i for i in range(7)])
    assert [body(m) for _, m, _ in query(a)[0]] == ['new']
    b = connect_tls(srv.c2s, 'bob', 'r')
    b.presence()
    b.alive()
    got = []
    while True:
        try:
            m = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'), 1)
        except TimeoutError:
            break
        got.append(m.find(q(NS_CLIENT, 'body')).text)
    assert got == ['new'], got
    # no step deleted more than the batch
    steps = [int(n) for n in re.findall(r'retention pass=\d+ step '
                                        r'deleted=(\d+)', srv.log)]
    assert steps and max(steps) <= 3 and sum(steps) >= 14, steps


def test_forever_keeps(make_server):
    """`forever` (and 0) keep everything: passes (which still run for
    users' own limits) delete nothing."""
    srv = retention_server(make_server, 'archive: forever, offline: 0, '
                           'uploads: 3d, interval: 1s')
    a = online(srv, 'alice')
    send(a, BOB, 'kept')
    a.alive()
    out = srv.ternctl_ok('check', 'retention').stdout
    assert 'archived messages (XEP-0313): kept forever' in out, out
    assert 'offline users (XEP-0160): kept forever' in out, out
    # one policy lists every kind of stored data (issue 17 item 3)
    assert 'uploaded files (upload): kept 3d' in out, out
    assert 'group chat archives (muc): kept 365d' in out, out
    assert 'logs: ternd keeps none itself' in out, out
    wait_two_passes(srv)
    assert [body(m) for _, m, _ in query(a)[0]] == ['kept']
    assert set(re.findall(r'retention pass=\d+ done (deleted=\d+)',
                          srv.log)) == {'deleted=0'}


def set_keep(s, keep):
    return s.iq('set', "<prefs xmlns='%s' default='always'><always/>"
                "<never/><keep xmlns='%s'>%s</keep></prefs>"
                % (NS_MAM, NS_RETENTION, keep))


def test_user_keeps_less(make_server):
    """A user's own, shorter archive limit in its XEP-0313 preferences
    (<keep xmlns='urn:xmpp:tern:retention:0'/>): its archive loses what
    is older, its contact's archive keeps it; a longer limit than the
    server's is not kept, a malformed one is bad-request."""
    srv = retention_server(make_server, 'archive: 1h, offline: forever, '
                           'interval: 1s')
    a, b = online(srv, 'alice'), online(srv, 'bob')
    r = set_keep(a, '%ds' % AGE)
    assert r.get('type') == 'result', show(r)
    k = r.find('.//' + q(NS_RETENTION, 'keep'))
    assert k is not None and k.text == '%ds' % AGE, show(r)
    r = set_keep(b, '30d')
    assert r.find('.//' + q(NS_RETENTION, 'keep')) is None, show(r)
    r = set_keep(b, 'soon')
    assert stanza_error(r) == 'bad-request', show(r)
    old_then_new(srv, a, ['old'])
    assert [body(m) for _, m, _ in query(a)[0]] == ['new']
    assert [body(m) for _, m, _ in query(b)[0]] == ['old', 'new']


def test_check_retention_and_errors(make_server):
    """`ternctl check retention` prints each limit; a bad duration is a
    configuration error with file:line naming the key."""
    srv = make_server(start=False)
    srv.write_config(srv.config_text(
        'retention: { archive: 90d, offline: 12h, interval: 30m }\n'))
    out = srv.ternctl_ok('check', 'retention').stdout
    assert 'archived messages (XEP-0313): kept 90d' in out, out
    assert 'offline users (XEP-0160): kept 12h' in out, out
    assert 'every 30m' in out, out
    srv.write_config(srv.config_text('retention: { archive: soon }\n'))
    rc, err = srv.run_to_exit()
    assert rc == 1 and 'tern.yml:' in err and 'retention.archive' in err, \
        err
    srv.write_config(srv.config_text('retention: { interval: forever }\n'))
    rc, err = srv.run_to_exit()
    assert rc == 1 and 'retention.interval' in err, err


def test_stale_push_registrations(make_server):
    """XEP-0357 registrations that the client did not enable again within
    retention.push are removed: a message to the offline account notifies
    only the app server node enabled recently."""
    from test_push import app_server, enable, login, publish, no_publish
    srv = retention_server(make_server, 'push: %ds, interval: 1s' % AGE)
    c = app_server(srv)
    a = login(srv, 'alice', 'phone')
    assert enable(a, 'n-old').get('type') == 'result'
    a.send('</stream:stream>')
    a.wait_closed()
    time.sleep(AGE + 0.5)
    a = login(srv, 'alice', 'tablet')
    assert enable(a, 'n-new').get('type') == 'result'
    a.send('</stream:stream>')
    a.wait_closed()
    wait_two_passes(srv)
    b = login(srv, 'bob', 'pc')
    b.message('alice@localhost', 'ping')
    _, node, _ = publish(c)
    assert node == 'n-new'
    no_publish(c, 1.0)

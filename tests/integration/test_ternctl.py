"""ternctl against a running ternd: accounts and config checks."""
import re
import time

import pytest

from ternlib import NS_SASL, StreamClosed, connect_tls, q, sasl_failure


def login_result(server, user, pw):
    s = connect_tls(server.c2s)
    el = s.scram('SCRAM-SHA-256', user, pw)
    s.close()
    return el


def can_login(server, user, pw):
    el = login_result(server, user, pw)
    if el.tag == q(NS_SASL, 'success'):
        return True
    assert sasl_failure(el) == 'not-authorized'
    return False


def test_adduser_then_login(server):
    server.ternctl_ok('adduser', 'dave@localhost', 'pw-dave')
    assert can_login(server, 'dave', 'pw-dave')
    assert not can_login(server, 'dave', 'wrong')


def test_adduser_password_from_stdin(server):
    server.ternctl_ok('adduser', 'erin@localhost', input='pw-erin\n')
    assert can_login(server, 'erin', 'pw-erin')


def test_passwd_without_restart(server):
    server.ternctl_ok('adduser', 'dave@localhost', 'old-pw')
    assert can_login(server, 'dave', 'old-pw')
    server.ternctl_ok('passwd', 'dave@localhost', 'new-pw')
    assert not can_login(server, 'dave', 'old-pw')
    assert can_login(server, 'dave', 'new-pw')


def test_deluser_ends_session(server):
    server.ternctl_ok('adduser', 'dave@localhost', 'pw-dave')
    s = connect_tls(server.c2s)
    s.authenticate('dave', 'pw-dave')
    s.bind('x')
    s.alive()
    server.ternctl_ok('deluser', 'dave@localhost')
    start = time.monotonic()
    try:
        cond = s.stream_error(timeout=5)
    except StreamClosed:
        cond = None  # closed without a stream error: acceptable
    except TimeoutError:
        pytest.fail('session of a deleted user still open after 5 s')
    if cond is not None:
        assert cond == 'not-authorized'
        assert s.wait_closed(timeout=5)
    assert time.monotonic() - start < 6
    assert not can_login(server, 'dave', 'pw-dave')


def test_adduser_existing_fails(server):
    r = server.ternctl('adduser', 'alice@localhost', 'another')
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert can_login(server, 'alice', 'secret-alice')


def test_adduser_unknown_host_fails(server):
    r = server.ternctl('adduser', 'zed@nosuch.example', 'pw')
    assert r.returncode != 0, (r.stdout, r.stderr)


def test_users_lists_accounts(server):
    out = server.ternctl_ok('users').stdout
    for u in ('alice', 'bob', 'carol'):
        assert re.search(r'\b%s(@localhost)?\b' % u, out), out
    assert 'dave' not in out
    out = server.ternctl_ok('users', 'localhost').stdout
    assert 'alice' in out


def test_import_200(server):
    f = server.dir / 'import.txt'
    f.write_text(''.join('user%03d@localhost pw-%03d\n' % (i, i)
                         for i in range(200)))
    server.ternctl_ok('import', str(f))
    out = server.ternctl_ok('users').stdout
    assert sum(1 for i in range(200) if 'user%03d' % i in out) == 200
    assert can_login(server, 'user137', 'pw-137')
    assert can_login(server, 'user000', 'pw-000')
    assert not can_login(server, 'user199', 'pw-000')


def test_check_config_ok(server):
    r = server.ternctl('check', 'config')
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_check_config_unknown_key(server):
    text = server.config_text()
    line = text.count('\n') + 1
    server.write_config(text + 'no_such_key: 1\n')
    r = server.ternctl('check', 'config')
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(r'tern\.yml:%d:1\b' % line, r.stdout + r.stderr), \
        r.stdout + r.stderr
    assert 'no_such_key' in r.stdout + r.stderr
    server.write_config()  # leave a valid config for the SIGTERM check


def test_ternctl_error_does_not_hurt_server(server):
    server.ternctl('deluser', 'nobody@localhost')
    assert can_login(server, 'bob', 'secret-bob')


# ---- users --inactive


def inactive(server, *args):
    out = server.ternctl_ok('users', '--inactive', *args).stdout
    return sorted(out.split())


def log_in(server, user, pw=None):
    s = connect_tls(server.c2s)
    s.authenticate(user, pw)
    s.bind()
    s.close()


def test_users_inactive_counts_logins(server):
    # alice, bob, carol were created before ternd started and never
    # logged in: they count from their creation
    assert inactive(server, '1d') == []
    # times are whole seconds: 3.1 s apart is more than 2 s apart
    time.sleep(3.1)
    log_in(server, 'alice')
    assert inactive(server, '2s') == ['bob@localhost', 'carol@localhost']
    assert inactive(server, '2s', 'localhost') == ['bob@localhost',
                                                   'carol@localhost']
    log_in(server, 'carol')
    assert inactive(server, '2s') == ['bob@localhost']
    # plain `users` still lists everyone
    assert sorted(server.ternctl_ok('users').stdout.split()) == [
        'alice@localhost', 'bob@localhost', 'carol@localhost']


def age_accounts(db, days_ago_login, days_ago_created):
    """Rewrite last-login times and creation times in the SQLite file.
    Ageing an account for real would take 90 days; ternd is not running
    yet, so nothing else writes the file meanwhile."""
    import sqlite3
    now = int(time.time())
    con = sqlite3.connect(str(db))
    with con:
        for user, days in days_ago_login.items():
            con.execute("INSERT OR REPLACE INTO kv(host, user, store, value)"
                        " VALUES ('localhost', ?, 'lastlogin', ?)",
                        (user, str(now - days * 86400).encode()))
        for user, days in days_ago_created.items():
            (doc,) = con.execute(
                "SELECT value FROM kv WHERE host = 'localhost' AND "
                "user = ? AND store = 'accounts'", (user,)).fetchone()
            doc = bytes(doc).decode()
            new = re.sub(r'(?m)^created \d+$',
                         'created %d' % (now - days * 86400), doc)
            assert new != doc, doc
            con.execute("UPDATE kv SET value = ? WHERE host = 'localhost' "
                        "AND user = ? AND store = 'accounts'",
                        (new.encode(), user))
    con.close()


def test_users_inactive_90d(make_server):
    srv = make_server(start=False, users=('alice', 'bob', 'carol', 'dave'))
    age_accounts(srv.dir / 'tern.db',
                 days_ago_login={'alice': 100, 'carol': 10},
                 days_ago_created={'alice': 400, 'bob': 95, 'carol': 400,
                                   'dave': 30})
    srv.start()
    # alice: last login 100 days ago; bob: never logged in, created 95
    # days ago; carol logged in 10 days ago; dave is 30 days old
    assert inactive(srv, '90d') == ['alice@localhost', 'bob@localhost']
    assert inactive(srv, '97d') == ['alice@localhost']
    assert inactive(srv, '2160h') == ['alice@localhost', 'bob@localhost']
    assert inactive(srv, '5d') == ['alice@localhost', 'bob@localhost',
                                   'carol@localhost', 'dave@localhost']
    assert inactive(srv, '200d') == []
    # logging in makes an account active again
    log_in(srv, 'bob')
    assert inactive(srv, '90d') == ['alice@localhost']
    # survives a restart (last login is stored)
    assert not srv.stop()
    srv.start()
    assert inactive(srv, '90d') == ['alice@localhost']


def test_users_inactive_bad_arguments(server):
    for args in (('--inactive',), ('--inactive', 'soon'),
                 ('--inactive', '90x'), ('--inactive', '0d'),
                 ('--inactive', '-5d'), ('--inactive', '90d', 'a', 'b')):
        r = server.ternctl('users', *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
    r = server.ternctl('users', '--inactive', '90d', 'nohost.example')
    assert r.returncode == 1, (r.stdout, r.stderr)


def status(server):
    out = server.ternctl_ok('status').stdout.strip()
    fields = dict(kv.split('=', 1) for kv in out.split())
    return fields


def test_status_counts_sessions_and_heap(server):
    before = status(server)
    assert before['storage'] == 'ok'
    if before['heap_used'] != 'n/a':     # 'n/a': a sanitizer's malloc
        assert int(before['heap_used']) > 0
        assert int(before['heap_held']) >= int(before['heap_used'])
    s = connect_tls(server.c2s)
    s.authenticate('alice')
    s.bind('st')
    during = status(server)
    assert int(during['sessions']) == int(before['sessions']) + 1
    assert int(during['connections']) >= int(before['connections']) + 1
    s.close()
    deadline = time.time() + 5
    while int(status(server)['sessions']) != int(before['sessions']):
        assert time.time() < deadline, 'session not gone after close'
        time.sleep(0.05)


def test_status_without_server(make_server):
    srv = make_server(start=False)
    r = srv.ternctl('status')
    assert r.returncode == 1
    assert 'not running' in r.stderr

"""Account housekeeping: deletion with a grace period (restore, purge
by the expiry pass), the inactive-account report, and the automatic
deletion of inactive accounts after a warning message."""
import re
import time

from ternlib import (DOMAIN, NS_CLIENT, NS_SASL, SLOW, connect_tls, q,
                     sasl_failure, show)
from test_register import NS_REG, register

ALICE = 'alice@' + DOMAIN


def configured(make_server, accounts, retention='interval: 1s',
               register_open=False):
    srv = make_server(start=False)
    text = srv.config_text() + 'accounts: { %s }\nretention: { %s }\n' % (
        accounts, retention)
    if register_open:
        line = '    modules: [%s]\n' % ', '.join(srv.modules)
        text = text.replace(
            line, line + '    register: { allow_registration: true }\n')
    srv.write_config(text)
    return srv.start()


def login_el(srv, user, pw):
    s = connect_tls(srv.c2s)
    el = s.scram('SCRAM-SHA-256', user, pw)
    s.close()
    return el


def users(srv):
    return srv.ternctl_ok('users').stdout.split()


def wait_until(pred, timeout):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def vcard_set(s, fn):
    r = s.iq('set', "<vCard xmlns='vcard-temp'><FN>%s</FN></vCard>" % fn)
    assert r.get('type') == 'result', show(r)


def test_grace_delete_then_restore(make_server):
    srv = configured(make_server, 'deletion_grace: 1h', register_open=True)
    s = connect_tls(srv.c2s, 'alice', 'r')
    vcard_set(s, 'Alice')
    r = srv.ternctl_ok('deluser', ALICE)
    assert 'restorable' in r.stdout, r.stdout
    s.assert_stream_error('not-authorized')
    # in its grace period: no login, and nobody else gets the address
    assert sasl_failure(login_el(srv, 'alice', 'secret-alice')) == \
        'account-disabled'
    n = connect_tls(srv.c2s)
    r = register(n, 'alice', 'An0ther-passw0rd')
    assert r.get('type') == 'error', show(r)
    assert r.find(q(NS_CLIENT, 'error')).find(
        '{urn:ietf:params:xml:ns:xmpp-stanzas}conflict') is not None, show(r)
    out = srv.ternctl_ok('inactive', '--days', '0').stdout
    assert re.search(r'^alice@localhost .* disabled deleted purge=\S+$',
                     out, re.M), out
    # enabling is not restoring
    r = srv.ternctl('enable', ALICE)
    assert r.returncode == 1 and 'restore' in r.stderr, r.stderr
    srv.ternctl_ok('restore', ALICE)
    s = connect_tls(srv.c2s, 'alice', 'r')
    r = s.iq('get', "<vCard xmlns='vcard-temp'/>")
    assert r.find('.//{vcard-temp}FN').text == 'Alice', show(r)
    # restoring twice: nothing to restore
    r = srv.ternctl('restore', ALICE)
    assert r.returncode == 1 and 'not deleted' in r.stderr, r.stderr
    # --now purges at once, grace or not
    srv.ternctl_ok('deluser', '--now', ALICE)
    assert ALICE not in users(srv)


def test_inband_unregister_keeps_grace(make_server):
    srv = configured(make_server, 'deletion_grace: 1h')
    s = connect_tls(srv.c2s, 'bob', 'r')
    r = s.iq('set', "<query xmlns='%s'><remove/></query>" % NS_REG)
    assert r.get('type') == 'result', show(r)
    s.assert_stream_error('not-authorized')
    assert sasl_failure(login_el(srv, 'bob', 'secret-bob')) == \
        'account-disabled'
    srv.ternctl_ok('restore', 'bob@' + DOMAIN)
    assert login_el(srv, 'bob', 'secret-bob').tag == q(NS_SASL, 'success')


def test_grace_ends_in_purge(make_server):
    srv = configured(make_server, 'deletion_grace: 2s')
    srv.ternctl_ok('deluser', ALICE)
    assert ALICE in users(srv)  # still there, restorable
    assert wait_until(lambda: ALICE not in users(srv), 15), \
        'not purged:\n' + srv.log[-3000:]
    assert 'account purged after its grace period jid=alice@localhost' in \
        srv.log
    r = srv.ternctl('restore', ALICE)
    assert r.returncode == 1
    assert 'bob@' + DOMAIN in users(srv)


def warned(srv, user):
    out = srv.ternctl_ok('inactive', '--days', '0').stdout
    m = re.search(r'^%s@localhost .*$' % user, out, re.M)
    return m is not None and ' warned=' in m.group(0)


def test_inactive_warning_then_deletion(make_server):
    """alice never logs in: warned, then deleted. bob logs in after the
    warning: he reads it (kept offline) and his account stays."""
    srv = configured(make_server,
                     'inactive_delete: 8s, inactive_warning: 4s')
    out = srv.ternctl_ok('inactive', '--days', '0').stdout
    assert re.search(r'^alice@localhost last_login=never idle_days=0$', out,
                     re.M), out
    assert wait_until(lambda: warned(srv, 'bob') and warned(srv, 'alice'),
                      10), srv.log[-3000:]
    assert ALICE in users(srv)  # warned, not deleted yet
    s = connect_tls(srv.c2s, 'bob', 'r')
    s.presence()
    m = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert m.get('from') == DOMAIN, show(m)
    assert m.findtext(q(NS_CLIENT, 'subject')) == 'Account inactive'
    assert 'will be deleted on' in m.findtext(q(NS_CLIENT, 'body'))
    assert not warned(srv, 'bob')  # his login made the warning stale
    assert wait_until(lambda: ALICE not in users(srv), 15), \
        srv.log[-3000:]
    assert 'account inactive, deleting jid=alice@localhost' in srv.log
    assert 'bob@' + DOMAIN in users(srv)
    out = srv.ternctl_ok('inactive', '--days', '0').stdout
    assert re.search(r'^bob@localhost last_login=\d{4}-\d\d-\d\dT', out,
                     re.M), out


def test_inactive_report_and_off_by_default(server):
    out = server.ternctl_ok('inactive').stdout
    assert out == '', out  # default 90 days: nobody yet
    out = server.ternctl_ok('inactive', '--days', '0').stdout
    assert sorted(ln.split()[0] for ln in out.splitlines()) == [
        'alice@localhost', 'bob@localhost', 'carol@localhost'], out
    r = server.ternctl('inactive', '--days', 'x')
    assert r.returncode == 2 and '--days x' in r.stderr


def test_warning_must_come_before_deletion(make_server):
    srv = make_server(start=False)
    srv.write_config(srv.config_text() + 'accounts:\n'
                     '  inactive_delete: 10d\n  inactive_warning: 10d\n')
    rc, err = srv.run_to_exit()
    assert rc != 0
    assert re.search(r'tern\.yml:\d+:\d+: accounts\.inactive_warning: must '
                     r'be shorter than accounts\.inactive_delete', err), err


def test_admin_delete_keeps_grace(make_server):
    """XEP-0133 delete-user goes through the grace period too; its
    re-enable command does not bring a deleted account back."""
    from test_admin import error_text, run, run_error
    from test_register import host_settings
    srv = make_server(start=False)
    srv.modules.append('admin')
    host_settings(srv, ['admins: [ alice@localhost ]'])
    srv.write_config(srv.config.read_text()
                     + 'accounts: { deletion_grace: 1h }\n')
    srv.start()
    a = connect_tls(srv.c2s, 'alice', 'r')
    run(a, 'delete-user', {'accountjids': ['bob@localhost']})
    assert sasl_failure(login_el(srv, 'bob', 'secret-bob')) == \
        'account-disabled'
    r = run_error(a, 'reenable-user', {'accountjids': ['bob@localhost']})
    assert r.get('type') == 'error' and 'grace' in error_text(r), show(r)
    srv.ternctl_ok('restore', 'bob@' + DOMAIN)
    assert login_el(srv, 'bob', 'secret-bob').tag == q(NS_SASL, 'success')

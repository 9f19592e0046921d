"""Operations: SIGHUP reload, IPv6 listener, config errors at start."""
import os
import re
import signal
import stat
import time

import pytest

from ternlib import SLOW, NS_CLIENT, RawStream, connect_tls, q


def pair(server):
    return (connect_tls(server.c2s, 'alice', 'a'),
            connect_tls(server.c2s, 'bob', 'b'))


def chat(a, b):
    a.message('bob@localhost/b', 'ping-pong')
    m = b.wait_message()
    assert m.findtext(q(NS_CLIENT, 'body')) == 'ping-pong'
    assert m.get('from') == 'alice@localhost/a'


def hup(server, expect, timeout=5):
    """SIGHUP and wait for a log line matching the regex expect."""
    start = len(server.log)
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if re.search(expect, server.log[start:], re.I):
            return
        time.sleep(0.05)
    raise AssertionError('no %r in the log after SIGHUP:\n%s'
                         % (expect, server.log[start:]))


def test_sighup_reload_keeps_sessions(server):
    a, b = pair(server)
    server.log_level = 'info'
    server.write_config()
    hup(server, r'reload')
    assert server.running()
    chat(a, b)
    c = connect_tls(server.c2s)
    c.authenticate('carol')
    c.bind()


def test_sighup_with_bad_config_keeps_old(server):
    a, b = pair(server)
    text = server.config_text()
    line = text.count('\n') + 1
    server.write_config(text + 'no_such_key: yes\n')
    hup(server, r'tern\.yml:%d:\d+' % line)
    assert server.running()
    chat(a, b)
    c = connect_tls(server.c2s)
    c.authenticate('carol')
    c.bind()
    server.write_config()


def test_ipv6_listener(server):
    if not server.ipv6:
        pytest.skip('no IPv6 loopback')
    s = RawStream(server.c2s6, host='::1')
    assert s.login('alice', resource='v6') == 'alice@localhost/v6'
    s.alive()


def test_refuses_to_start_with_bad_config(make_server):
    srv = make_server(start=False)
    text = srv.config_text()
    line = text.count('\n') + 1
    srv.write_config(text + 'no_such_key: 1\n')
    rc, err = srv.run_to_exit()
    assert rc != 0
    assert re.search(r'tern\.yml:%d:1\b' % line, err), err


def test_refuses_out_of_range_port(make_server):
    srv = make_server(start=False, users=())
    text = srv.config_text()
    lines = text.split('\n')
    n = next(i for i, l in enumerate(lines) if 'type: c2s_tls' in l)
    lines[n] = re.sub(r'port: \d+', 'port: 70000', lines[n])
    srv.write_config('\n'.join(lines))
    rc, err = srv.run_to_exit()
    assert rc != 0
    assert re.search(r'tern\.yml:%d:\d+' % (n + 1), err), err
    assert '70000' in err


def test_data_files_are_private(make_server):
    """The database and its -wal/-shm journal hold SCRAM keys, archives
    and private XML: created 0600 by ternctl and ternd (umask 077), and
    a database left readable by others (an older version, a restored
    backup) is tightened at start with a warning."""
    srv = make_server(start=False)  # ternctl adduser created tern.db
    db = srv.dir / 'tern.db'
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600, oct(os.stat(db).st_mode)
    os.chmod(db, 0o644)
    srv.start()
    s = connect_tls(srv.c2s, 'alice')   # writes: the journal exists now
    s.ping()
    for name in ('tern.db', 'tern.db-wal', 'tern.db-shm', 'ternd.sock'):
        p = srv.dir / name
        assert p.exists(), name
        mode = stat.S_IMODE(os.stat(p).st_mode)
        assert mode & 0o077 == 0, '%s is %o' % (name, mode)
    assert srv.wait_log('was readable by others')


def test_reload_dropping_modules_frees_session_data(server):
    """Modules keep data on sessions (presence, blocklist, CSI queue,
    last status, stream management). A reload that drops them drops
    their session/closed handlers too; the data must still go with the
    session (the module's session_free), not leak (LeakSanitizer in
    make sanitize) nor keep timers running on a freed session."""
    s = connect_tls(server.c2s, 'alice', 'data')
    s.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    s.presence(extra='<status>around</status>')
    s.iq('get', "<blocklist xmlns='urn:xmpp:blocking'/>")
    s.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    s.alive()
    keep = [m for m in server.modules if m in ('disco', 'ping', 'roster')]
    server.modules = keep
    server.write_config()
    hup(server, r'reload')
    s.send('</stream:stream>')
    s.wait_closed()
    c = connect_tls(server.c2s, 'alice', 'after')
    c.ping()

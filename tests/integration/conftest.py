"""Integration tests: the real ternd, driven by slixmpp and raw sockets.

Run everything (needs build/ternd and build/ternctl, `make all`):

    /usr/bin/python3 -m pytest tests/integration

Run one test or one file:

    /usr/bin/python3 -m pytest tests/integration -k test_bind_conflict
    /usr/bin/python3 -m pytest tests/integration/test_login.py -v

Environment:
    TERN_BIN=dir       take ternd/ternctl from dir (default <repo>/build)
    TERN_VALGRIND=1    run ternd under valgrind (leaks and errors fail the
                       test; every timeout is ten times longer)

Fixtures:
    server       a fresh ternd for the test (users alice, bob, carol with
                 password "secret-<name>"), stopped with SIGTERM afterwards;
                 the test fails if ternd then exits non-zero, dies by a
                 signal, or logs a sanitizer report.
    mserver      the same, shared by the tests of one module (read-only
                 tests only: nothing that changes accounts or config).
    make_server  a factory: make_server(limits={...}, start=True) for tests
                 that need their own configuration (also domain=, cert=
                 a PEM path, s2s= the s2s: section's YAML text).
    cert_pem     the session's self-signed certificate + key (PEM).
Each test runs under a 60 s alarm (pytest-timeout is not in Debian's
python3-pytest set-up here).
"""
import signal

import pytest

import ternlib
from ternlib import Ternd

TEST_ALARM = 60 * ternlib.SLOW


@pytest.fixture(scope='session')
def cert_pem(tmp_path_factory):
    path = tmp_path_factory.mktemp('certs') / 'localhost.pem'
    ternlib.make_cert(path)
    return path


@pytest.fixture(scope='session', autouse=True)
def binaries():
    for name in ('ternd', 'ternctl'):
        if not (ternlib.BIN / name).exists():
            pytest.exit('%s/%s missing: run make all (or set TERN_BIN)'
                        % (ternlib.BIN, name), returncode=2)


class _Alarm(Exception):
    pass


@pytest.fixture(autouse=True)
def close_streams():
    """Close the raw streams a test opened, so that its sessions do not
    linger into the next test on a shared server."""
    start = len(ternlib.RawStream.opened)
    yield
    for s in ternlib.RawStream.opened[start:]:
        s.close()
    del ternlib.RawStream.opened[start:]


@pytest.fixture(autouse=True)
def alarm():
    def fire(signum, frame):
        raise _Alarm('test exceeded %d s' % TEST_ALARM)
    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(TEST_ALARM)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


class _Servers:
    """Starts Ternd instances and checks each on teardown."""

    def __init__(self, factory, cert):
        self.factory = factory
        self.cert = cert
        self.all = []

    def __call__(self, start=True, users=ternlib.USERS, cert=None, **kw):
        srv = Ternd(self.factory.mktemp('ternd'), cert or self.cert, **kw)
        self.all.append(srv)
        if users:
            srv.add_users(users)
        if start:
            srv.start()
        return srv

    def finish(self):
        problems = []
        for srv in self.all:
            for p in srv.stop():
                problems.append('%s: %s' % (srv.dir, p))
        if problems:
            tails = '\n'.join('--- %s\n%s' % (s.logfile, s.log[-4000:])
                              for s in self.all)
            pytest.fail('\n'.join(problems) + '\n' + tails, pytrace=False)


@pytest.fixture
def make_server(tmp_path_factory, cert_pem):
    servers = _Servers(tmp_path_factory, cert_pem)
    yield servers
    servers.finish()


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture(scope='module')
def mserver(tmp_path_factory, cert_pem):
    servers = _Servers(tmp_path_factory, cert_pem)
    srv = servers()
    yield srv
    servers.finish()

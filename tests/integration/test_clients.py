"""Real Debian XMPP clients against the real ternd, as users run them.

Each client runs in its own temporary HOME (XDG directories, tmux socket,
GnuPG home inside it), connects to 127.0.0.1 on the test server's free
port, and accepts the test's self-signed certificate. Terminal clients
(profanity, mcabber, poezio) run inside tmux on a private socket and are
read back with capture-pane; every wait polls against a deadline. A test
whose client is not installed is skipped (scripts/deps.sh installs them).
On a failure the message carries the client's screen or log and the tail
of ternd.log.
"""
import itertools
import os
import queue
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import ternlib

from ternlib import (DOMAIN, SLOW, NS_CLIENT, connect_tls, password, q,
                     show)

# One step (a login, a message) of a real client; generous for ASan.
STEP = 20 * SLOW
HERE = Path(__file__).resolve().parent
_seq = itertools.count(1)


def need(binary):
    path = shutil.which(binary)
    if path is None:
        pytest.skip('%s is not installed (scripts/deps.sh installs it)'
                    % binary)
    return path


def tail(path, n=4000):
    try:
        text = Path(path).read_text(errors='replace')
    except OSError as e:
        return '(%s)' % e
    return text[-n:]


def wait_until(pred, what, timeout=STEP, diag=lambda: ''):
    """Poll pred() until it is true; on the deadline fail with diag()."""
    deadline = time.monotonic() + timeout
    while True:
        r = pred()
        if r:
            return r
        if time.monotonic() > deadline:
            raise AssertionError('%s: not within %ds\n%s'
                                 % (what, timeout, diag()))
        time.sleep(0.2)


def jid(user):
    return '%s@%s' % (user, DOMAIN)


def online(user, server):
    """A raw stream logged in as user that sent initial presence."""
    return ternlib.online(server, user, 'raw')


def body_of(el):
    b = el.find(q(NS_CLIENT, 'body'))
    return b.text if b is not None else None


def wait_body(stream, text, timeout=STEP):
    """The next message on a raw stream whose body is text (sendxmpp keeps
    the newline that ended its input line)."""
    return stream.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message')
                           and (body_of(e) or '').strip() == text, timeout)


def server_count(server, text):
    return server.log.count(text)


# ------------------------------------------------------------- homes, tmux

class Home:
    """A temporary HOME with XDG directories; removed afterwards."""

    def __init__(self, name, owner=None):
        self.path = Path(tempfile.mkdtemp(prefix='tern-%s-' % name))
        self.owner = owner
        for d in ('.config', '.local/share', '.cache', '.local/state',
                  'run', 'tmux', '.gnupg'):
            (self.path / d).mkdir(parents=True, mode=0o700)

    def env(self):
        keep = ('PATH', 'LD_LIBRARY_PATH', 'TZ')
        env = {k: v for k, v in os.environ.items() if k in keep}
        p = self.path
        env.update(HOME=str(p), XDG_CONFIG_HOME=str(p / '.config'),
                   XDG_DATA_HOME=str(p / '.local/share'),
                   XDG_CACHE_HOME=str(p / '.cache'),
                   XDG_STATE_HOME=str(p / '.local/state'),
                   XDG_RUNTIME_DIR=str(p / 'run'),
                   TMUX_TMPDIR=str(p / 'tmux'), GNUPGHOME=str(p / '.gnupg'),
                   LANG='C.UTF-8', LC_ALL='C.UTF-8', TERM='xterm-256color')
        return env

    def give(self):
        """Hand the whole home to self.owner (uid, gid)."""
        if self.owner is None:
            return
        os.chmod(self.path, 0o700)
        for root, dirs, files in os.walk(self.path):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                os.chown(n, *self.owner)

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


class Tmux:
    """One program in a detached tmux session on a private server."""

    def __init__(self, home, argv, name, env=None):
        self.home = home
        self.env = env or home.env()
        self.sock = 'tern-%d-%s-%d' % (os.getpid(), name, next(_seq))
        conf = home.path / 'tmux.conf'
        conf.write_text('set -g remain-on-exit on\n'
                        'set -g history-limit 10000\n')
        self.base = ['tmux', '-L', self.sock, '-f', str(conf)]
        self._tmux('new-session', '-d', '-x', '200', '-y', '50',
                   shlex.join(argv))

    def _tmux(self, *args):
        return subprocess.run(self.base + list(args), env=self.env,
                              cwd=self.home.path, capture_output=True,
                              text=True, timeout=10 * SLOW)

    def screen(self):
        return self._tmux('capture-pane', '-p', '-J').stdout

    def compact(self):
        """The screen without trailing blanks and empty lines (for
        failure messages)."""
        lines = (line.rstrip(' \u2502') for line in
                 self.screen().splitlines())
        return '\n'.join(line for line in lines if line.strip())

    def keys(self, text, enter=True):
        self._tmux('send-keys', '-l', text)
        if enter:
            self._tmux('send-keys', 'Enter')

    def dead(self):
        r = self._tmux('display-message', '-p', '#{pane_dead}')
        return r.stdout.strip() == '1'

    def kill(self):
        self._tmux('kill-server')


@pytest.fixture
def homes():
    """Factory of Homes (and tmux servers in them), all cleaned up."""
    made, muxes = [], []

    def make(name, owner=None):
        h = Home(name, owner)
        made.append(h)
        return h
    make.muxes = muxes
    yield make
    for m in muxes:
        m.kill()
    for h in made:
        h.remove()


def fail_with(server, *logs):
    """A diag() callback: the given logs' tails and ternd.log's."""
    def diag():
        parts = []
        for name, text in logs:
            parts.append('--- %s\n%s' % (name, text() if callable(text)
                                         else text))
        parts.append('--- ternd.log\n%s' % server.log[-4000:])
        return '\n'.join(parts)
    return diag


# ---------------------------------------------------------------- go-sendxmpp

def go_sendxmpp(server, home, user, *args, stdin='', timeout=STEP):
    need('go-sendxmpp')
    argv = ['go-sendxmpp', '--debug', '-n', '-u', jid(user),
            '-p', password(user), '--timeout', str(STEP)] + list(args)
    return subprocess.run(argv, input=stdin, env=home.env(),
                          cwd=home.path, capture_output=True, text=True,
                          timeout=timeout)


def test_go_sendxmpp_sends(server, homes):
    """go-sendxmpp (mattn/go-xmpp) sends one message over STARTTLS and one
    over Direct TLS (RFC 6120 §5, XEP-0368); bob gets each once. go-xmpp
    writes '</auth>\\n': whitespace before the restarted stream header
    must be accepted (RFC 6120 §4.3.1, §6.4.6)."""
    need('go-sendxmpp')
    bob = online('bob', server)
    home = homes('go-sendxmpp')
    for port, extra, text in ((server.c2s, [], 'hello via starttls'),
                              (server.c2s_tls, ['-t'], 'hello via tls')):
        r = go_sendxmpp(server, home, 'alice', '-j', '127.0.0.1:%d' % port,
                        *extra, jid('bob'), stdin=text + '\n')
        diag = fail_with(server, ('go-sendxmpp', r.stdout + r.stderr))
        assert r.returncode == 0, 'go-sendxmpp exit %d\n%s' % (
            r.returncode, diag())
        try:
            m = wait_body(bob, text)
        except (TimeoutError, AssertionError) as e:
            raise AssertionError('%s\n%s' % (e, diag())) from None
        assert m.get('from').startswith(jid('alice') + '/'), show(m)
    bob.nothing(0.5)


def test_go_sendxmpp_short_sessions_to_offline_user(server, homes):
    """Five go-sendxmpp runs back to back (each: connect, log in, send,
    leave) to a user who is offline: the user's next login gets each
    message once, in order, and the login after gets none (XEP-0160)."""
    need('go-sendxmpp')
    home = homes('go-sendxmpp')
    texts = ['short session %d' % i for i in range(5)]
    for t in texts:
        r = go_sendxmpp(server, home, 'alice', '-j',
                        '127.0.0.1:%d' % server.c2s, jid('carol'),
                        stdin=t + '\n')
        assert r.returncode == 0, r.stdout + r.stderr
    wait_until(lambda: server.log.count('offline stored user=carol') >= 5,
               'the five messages stored')
    carol = online('carol', server)
    got = [body_of(carol.wait_for(lambda e: e.tag == q(NS_CLIENT,
                                                        'message')))
           for _ in texts]
    assert got == texts, got
    carol.alive()
    carol.send('</stream:stream>')
    carol.wait_closed()
    again = online('carol', server)
    again.alive()
    again.nothing(0.5)


def test_go_sendxmpp_listens(server, homes):
    """go-sendxmpp -l stays online and prints a message sent to it
    (RFC 6121 §8.5.2: a message to the bare JID reaches the available
    resource)."""
    need('go-sendxmpp')
    home = homes('go-sendxmpp')
    out = home.path / 'listen.out'
    argv = ['go-sendxmpp', '--debug', '-n', '-l', '-u', jid('bob'),
            '-p', password('bob'), '-j', '127.0.0.1:%d' % server.c2s]
    with open(out, 'w') as f:
        proc = subprocess.Popen(argv, env=home.env(), cwd=home.path,
                                stdin=subprocess.DEVNULL, stdout=f,
                                stderr=subprocess.STDOUT)
    diag = fail_with(server, ('go-sendxmpp -l', lambda: tail(out)))
    try:
        wait_until(lambda: 'bound jid=bob@localhost/go-sendxmpp'
                   in server.log, 'go-sendxmpp -l logged in', diag=diag)
        alice = online('alice', server)
        alice.message(jid('bob'), 'are you listening?')
        alice.alive()
        wait_until(lambda: 'alice@localhost: are you listening?'
                   in tail(out), 'go-sendxmpp -l printed the message',
                   diag=diag)
    finally:
        proc.terminate()
        try:
            proc.wait(5 * SLOW)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- sendxmpp

def test_sendxmpp(server, homes):
    """sendxmpp (Perl Net::XMPP / XML::Stream) sends a message with
    STARTTLS (-t) and with Direct TLS (-e, XEP-0368); bob gets each once.
    XML::Stream only understands features written <stream:features>
    (RFC 6120 §4.3.2 examples)."""
    need('sendxmpp')
    bob = online('bob', server)
    home = homes('sendxmpp')
    for port, flag, text in ((server.c2s, '-t', 'perl says hi (starttls)'),
                             (server.c2s_tls, '-e', 'perl says hi (tls)')):
        argv = ['sendxmpp', '-d', flag, '-n', '-u', 'alice',
                '-p', password('alice'), '-j', '127.0.0.1:%d' % port,
                '-o', DOMAIN, '-r', 'sendxmpp', jid('bob')]
        try:
            r = subprocess.run(argv, input=text + '\n', env=home.env(),
                               cwd=home.path, capture_output=True,
                               text=True, timeout=STEP)
            out = r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            out = 'TIMEOUT after %ds\n%s%s' % (
                STEP, (e.stdout or b'').decode(errors='replace'),
                (e.stderr or b'').decode(errors='replace'))
            r = None
        # Its debug output includes the password; it is a test account.
        diag = fail_with(server, ('sendxmpp %s' % flag, out[-6000:]))
        assert r is not None and r.returncode == 0, \
            'sendxmpp %s failed\n%s' % (flag, diag())
        try:
            wait_body(bob, text)
        except (TimeoutError, AssertionError) as e:
            raise AssertionError('%s\n%s' % (e, diag())) from None
    bob.nothing(0.5)


# ---------------------------------------------------------------- mcabber

def test_mcabber(server, homes):
    """mcabber (loudmouth) logs in with STARTTLS, receives a chat message
    and sends one through its FIFO (RFC 6121 §5)."""
    need('mcabber')
    need('tmux')
    home = homes('mcabber')
    d = home.path / '.mcabber'
    d.mkdir(mode=0o700)
    (d / 'histo').mkdir(mode=0o700)
    fifo = d / 'mcabber.fifo'
    rc = d / 'mcabberrc'
    rc.write_text('\n'.join([
        'set jid = bob@localhost', 'set password = secret-bob',
        'set server = 127.0.0.1', 'set port = %d' % server.c2s,
        'set resource = mcabber', 'set tls = 1',
        'set ssl_ignore_checks = 1', 'set logging = 1',
        'set logging_dir = %s/' % (d / 'histo'),
        'set fifo_name = %s' % fifo, 'set tracelog_level = 2',
        'set tracelog_file = %s' % (d / 'mcabber.log'),
        'module load fifo', '']))
    rc.chmod(0o600)
    alice = online('alice', server)
    mux = Tmux(home, ['mcabber', '-f', str(rc)], 'mcabber')
    homes.muxes.append(mux)
    diag = fail_with(server, ('mcabber screen', mux.compact),
                     ('mcabber.log', lambda: tail(d / 'mcabber.log')))
    wait_until(lambda: 'bound jid=bob@localhost/mcabber' in server.log
               and 'Connection established' in mux.screen(),
               'mcabber logged in', diag=diag)
    alice.message(jid('bob'), 'hello mcabber')
    alice.alive()
    histo = d / 'histo' / jid('alice')
    wait_until(lambda: 'hello mcabber' in tail(histo),
               'mcabber received and logged the message', diag=diag)
    wait_until(lambda: fifo.is_fifo(), 'mcabber FIFO exists', diag=diag)
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, b'/say_to alice@localhost hello alice from mcabber\n')
    finally:
        os.close(fd)
    try:
        m = wait_body(alice, 'hello alice from mcabber')
    except (TimeoutError, AssertionError) as e:
        raise AssertionError('%s\n%s' % (e, diag())) from None
    assert m.get('from').startswith(jid('bob') + '/mcabber'), show(m)


# ---------------------------------------------------------------- profanity

class Profanity:
    """profanity (libstrophe) for one account, in tmux."""

    def __init__(self, server, homes, user, resource='prof', prefs=''):
        need('profanity')
        need('tmux')
        self.server = server
        self.user = user
        self.jid = jid(user)
        self.resource = resource
        self.home = homes('profanity-' + user)
        data = self.home.path / '.local/share/profanity'
        conf = self.home.path / '.config/profanity'
        data.mkdir(parents=True)
        conf.mkdir(parents=True)
        (data / 'accounts').write_text(
            '[%s]\nenabled=true\njid=%s\nserver=127.0.0.1\nport=%d\n'
            'resource=%s\npassword=%s\ntls.policy=trust\n'
            % (self.jid, self.jid, server.c2s, resource, password(user)))
        (conf / 'profrc').write_text(
            '[ui]\nsplash=false\n[notifications]\nmessage=false\n'
            'room=false\ninvite=false\nsub=false\n[logging]\nchlog=true\n'
            + prefs)
        self.data = data
        self.log = data / 'logs' / 'profanity.log'
        self.mux = Tmux(self.home, ['profanity', '-l', 'DEBUG', '-a',
                                    self.jid], 'profanity-' + user)
        homes.muxes.append(self.mux)
        self.diag = fail_with(server, ('profanity %s screen' % user,
                                       self.mux.compact),
                              ('profanity %s log' % user,
                               lambda: tail(self.log, 6000)))
        self.logins = 0
        self.wait_login()

    def bound_marker(self):
        return 'bound jid=%s/%s' % (self.jid, self.resource)

    def wait_login(self):
        """Wait for the next login (the server's log and the screen)."""
        self.logins += 1
        n = self.logins
        wait_until(lambda: server_count(self.server, self.bound_marker())
                   >= n, '%s login #%d (server side)' % (self.jid, n),
                   diag=self.diag)
        wait_until(lambda: 'logged in successfully' in self.mux.screen(),
                   '%s login #%d (profanity screen)' % (self.jid, n),
                   diag=self.diag)

    def cmd(self, text):
        self.mux.keys(text)

    def wait(self, text, what, timeout=STEP):
        return wait_until(lambda: text in self.mux.screen(), what,
                          timeout, self.diag)

    def wait_log(self, text, what, timeout=STEP):
        return wait_until(lambda: text in tail(self.log, 10 ** 7), what,
                          timeout, self.diag)

    def chatlog(self, peer):
        """Every line of profanity's chat log with peer (all days)."""
        d = (self.data / 'chatlogs' / self.jid.replace('@', '_at_')
             / jid(peer).replace('@', '_at_'))
        lines = []
        for f in sorted(d.glob('*.log')) if d.is_dir() else []:
            lines += f.read_text(errors='replace').splitlines()
        return lines

    def count_in(self, peer, text):
        return sum(1 for line in self.chatlog(peer)
                   if line.endswith(': ' + text))

    def db_rows(self, where, args=()):
        db = self.data / 'database' / self.jid.replace('@', '_at_') / \
            'chatlog.db'
        if not db.exists():
            return []
        con = sqlite3.connect('file:%s?mode=ro' % db, uri=True, timeout=5)
        try:
            return con.execute('SELECT from_jid, message, encryption '
                               'FROM ChatLogs WHERE ' + where,
                               args).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            con.close()

    def disconnect(self):
        """/disconnect; returns once the server closed its stream too."""
        def closes():
            return tail(self.log, 10 ** 7).count('RECV: </stream:stream>')
        n = closes()
        self.cmd('/disconnect')
        wait_until(lambda: closes() > n, '%s disconnected' % self.jid,
                   diag=self.diag)

    def connect(self):
        self.cmd('/connect %s' % self.jid)
        self.wait_login()


def test_profanity_chat(server, homes):
    """profanity logs in to a fresh account with STARTTLS, receives a chat
    message and sends one (RFC 6121 §5.2)."""
    bob = online('bob', server)
    alice = Profanity(server, homes, 'alice')
    bob.message(jid('alice'), 'hi profanity')
    bob.alive()
    wait_until(lambda: alice.count_in('bob', 'hi profanity') == 1,
               'profanity logged the incoming message', diag=alice.diag)
    alice.cmd('/msg %s hi bob from profanity' % jid('bob'))
    try:
        m = wait_body(bob, 'hi bob from profanity')
    except (TimeoutError, AssertionError) as e:
        raise AssertionError('%s\n%s' % (e, alice.diag())) from None
    assert m.get('from') == jid('alice') + '/prof', show(m)


def test_profanity_mam_history(server, homes):
    """With /mam on, profanity fills a new chat window from the archive
    (XEP-0313 §4). profanity only asks the server's domain disco#info for
    urn:xmpp:mam:2 before querying."""
    # A message alice got on another device: in her archive only.
    other = online('alice', server)
    bob = online('bob', server)
    bob.message(jid('alice'), 'archived before profanity')
    bob.alive()
    wait_body(other, 'archived before profanity')
    other.send('</stream:stream>')
    other.wait_closed()
    alice = Profanity(server, homes, 'alice')
    alice.cmd('/mam on')
    alice.cmd('/msg %s' % jid('bob'))
    alice.wait_log('<fin xmlns="urn:xmpp:mam:2"',
                   'profanity queried the archive and got <fin/>')
    alice.wait('archived before profanity',
               'the archived message shown in the chat window')
    assert "doesn't support MAM" not in alice.mux.screen(), alice.diag()


def test_profanity_adhoc_commands(server, homes):
    """profanity lists and runs the server's ad-hoc commands (XEP-0050):
    /cmd list asks the domain's commands node, /cmd exec runs
    one and shows its note."""
    alice = Profanity(server, homes, 'alice')
    alice.cmd('/cmd list')
    alice.wait('uptime', 'the server\'s commands listed')
    alice.cmd('/cmd exec ping')
    alice.wait('Pong', 'the ping command\'s note')
    assert server_count(server, 'adhoc ping jid=alice@localhost') == 1


def test_profanity_reconnect_offline(server, homes):
    """profanity reconnects twice; a message sent while it was logged out
    arrives at the next login exactly once and not again at the login
    after (RFC 6121 §8.5.2.2.1; XEP-0160 §4: delivered offline messages are
    removed from storage). libstrophe acknowledges (XEP-0198 §4) only when
    asked, and this user logs out a moment after reading the message:
    the server has to ask in time (or otherwise know it was delivered)."""
    alice = Profanity(server, homes, 'alice')
    bob = online('bob', server)
    alice.disconnect()
    bob.message(jid('alice'), 'sent while you were away')
    bob.alive()
    wait_until(lambda: 'offline stored user=alice@localhost'
               in server.log, 'the server stored the offline message',
               diag=alice.diag)
    alice.connect()
    wait_until(lambda: alice.count_in('bob', 'sent while you were away')
               >= 1, 'the offline message at the first reconnection',
               diag=alice.diag)
    alice.disconnect()
    alice.connect()
    # A round trip through alice's session: anything redelivered at this
    # login has been written before the reply to this message comes back.
    alice.cmd('/msg %s are you there' % jid('bob'))
    wait_body(bob, 'are you there')
    bob.message(jid('alice'), 'yes')
    bob.alive()
    wait_until(lambda: alice.count_in('bob', 'yes') == 1,
               'a live message after the second reconnection',
               diag=alice.diag)
    n = alice.count_in('bob', 'sent while you were away')
    assert n == 1, ('offline message shown %d times over two '
                    'reconnections\n%s' % (n, alice.diag()))


def test_profanity_omemo(server, homes):
    """OMEMO between two fresh accounts, each in its own profanity:
    /omemo gen publishes the device list and bundle with publish-options
    (XEP-0384 §5.3, XEP-0223; profanity looks for
    http://jabber.org/protocol/pubsub#publish-options in the domain's
    disco#info), an absent device list is <item-not-found/> with the legacy
    code='404' (XEP-0086) that profanity checks, and bob's profanity shows
    alice's encrypted message decrypted."""
    trust = '[omemo]\ntrustmode=blind\n'
    alice = Profanity(server, homes, 'alice', prefs=trust)
    bob = Profanity(server, homes, 'bob', prefs=trust)
    for p in (alice, bob):
        p.cmd('/omemo gen')
    for p in (alice, bob):
        p.wait('Your Device ID is', '%s generated OMEMO keys' % p.jid,
               timeout=2 * STEP)
    alice.cmd('/omemo start %s' % jid('bob'))
    alice.wait('[OMEMO]', 'alice opened an OMEMO chat with bob')
    alice.cmd('secret via omemo')
    wait_until(lambda: bob.db_rows('message = ? AND encryption = ?',
                                   ('secret via omemo', 'omemo')),
               "bob's profanity decrypted the OMEMO message",
               diag=fail_with(server, ('alice screen', alice.mux.compact),
                              ('alice log', lambda: tail(alice.log, 6000)),
                              ('bob screen', bob.mux.compact),
                              ('bob log', lambda: tail(bob.log, 6000))))
    bob.cmd('/win 2')
    bob.wait('secret via omemo', "the decrypted message on bob's screen")


def test_two_devices_carbons(server, homes):
    """The same account in profanity and in a second client with carbons
    enabled (XEP-0280 §6, §7): a chat message to profanity's full JID
    reaches profanity directly and the other device as a received carbon,
    and profanity's reply reaches the other device as a sent carbon;
    each exactly once."""
    alice = Profanity(server, homes, 'alice')
    alice.wait_log('urn:xmpp:carbons:2', 'profanity enabled carbons')
    other = connect_tls(server.c2s, 'alice', resource='phone')
    r = other.iq('set', "<enable xmlns='urn:xmpp:carbons:2'/>")
    assert r.get('type') == 'result', show(r)
    other.presence()
    other.alive()
    bob = online('bob', server)
    bob.message(jid('alice') + '/prof', 'to your desktop')
    bob.alive()
    wait_until(lambda: alice.count_in('bob', 'to your desktop') >= 1,
               'profanity got the message', diag=alice.diag)
    fwd = '{urn:xmpp:forward:0}forwarded/' + q(NS_CLIENT, 'message')

    def carbon(kind, text):
        def pred(e):
            c = e.find('{urn:xmpp:carbons:2}' + kind)
            if c is None:
                return False
            inner = c.find(fwd)
            return inner is not None and body_of(inner) == text
        return other.wait_for(pred, STEP)
    carbon('received', 'to your desktop')
    alice.cmd('/msg %s from the desktop' % jid('bob'))
    wait_body(bob, 'from the desktop')
    carbon('sent', 'from the desktop')
    # Exactly once: no further message for the phone or bob (presence
    # updates from profanity may come).
    for s in (other, bob):
        s.alive()
        extra = []
        try:
            while True:
                extra.append(s.next(1.0))
        except TimeoutError:
            pass
        extra = [show(e) for e in extra if e.tag == q(NS_CLIENT, 'message')]
        assert not extra, 'messages delivered twice: %s\n%s' % (
            extra, alice.diag())
    assert alice.count_in('bob', 'to your desktop') == 1, alice.diag()


# ---------------------------------------------------------------- poezio

def _poezio(server, homes, user='carol'):
    """A poezio home for user; returns (start, home, debug log). start()
    runs poezio in tmux and waits until it is logged in. poezio refuses
    to run as root, so as root it runs as nobody."""
    need('poezio')
    need('tmux')
    owner = (65534, 65534) if os.geteuid() == 0 else None
    home = homes('poezio', owner)
    cert = home.path / 'ca.pem'
    pem = (server.dir / 'certs' / 'localhost.pem').read_text()
    cert.write_text(pem[:pem.index('-----END CERTIFICATE-----') + 25]
                    + '\n')
    (home.path / '.config/poezio').mkdir()
    (home.path / '.config/poezio/poezio.cfg').write_text('\n'.join([
        '[Poezio]', 'jid = %s' % jid(user),
        'password = %s' % password(user),
        'custom_host = 127.0.0.1', 'custom_port = %d' % server.c2s,
        'ca_cert_path = %s' % cert, 'ignore_certificate = true',
        'resource = poezio', 'use_bookmarks_method = local',
        'enable_vcard = false', '']))
    home.give()
    debug = home.path / 'poezio-debug.log'
    argv = ['poezio', '-d', str(debug)]
    if owner:
        argv = ['setpriv', '--reuid=%d' % owner[0],
                '--regid=%d' % owner[1], '--clear-groups'] + argv

    def start(logins=1):
        mux = Tmux(home, argv, 'poezio')
        homes.muxes.append(mux)
        mux.diag = fail_with(server, ('poezio screen', mux.compact),
                             ('poezio debug log',
                              lambda: tail(debug, 6000)))
        marker = 'bound jid=%s/poezio' % jid(user)
        wait_until(lambda: server.log.count(marker) >= logins
                   and 'Your JID is' in mux.screen(), 'poezio logged in',
                   diag=mux.diag)
        return mux
    return start, home, debug


def test_poezio(server, homes):
    """poezio (slixmpp) logs in, receives a chat message and sends one
    (RFC 6121 §5)."""
    start, home, _ = _poezio(server, homes)
    alice = online('alice', server)
    mux = start()
    alice.message(jid('carol'), 'hello poezio')
    alice.alive()
    wait_until(lambda: 'hello poezio' in tail(
        home.path / '.local/share/poezio/logs' / jid('alice')),
        'poezio logged the incoming message', diag=mux.diag)
    # The roster tab takes '/' alone to open the command line. On a
    # loaded machine poezio has been seen to miss keys typed just after
    # a message landed (as in poezio_quit): the command is typed again
    # if nothing came, at most three times.
    m = None
    for attempt in range(3):
        mux.keys('/', enter=False)
        time.sleep(0.3 * SLOW)
        mux.keys('message %s hello alice from poezio' % jid('alice'))
        try:
            m = wait_body(alice, 'hello alice from poezio',
                          timeout=STEP / 2)
            break
        except (TimeoutError, AssertionError) as e:
            if attempt == 2:
                raise AssertionError('%s\n%s' % (e, mux.diag())) from None
    assert m.get('from').startswith(jid('carol') + '/poezio'), show(m)


def poezio_quit(mux):
    """/quit in the roster tab, and wait for poezio to end (the pane
    remains on exit). On a loaded machine poezio has been seen to miss
    keys typed just after a message landed: the command is typed again
    every few seconds until it quits (a second /quit is harmless)."""
    deadline = time.monotonic() + STEP
    while time.monotonic() < deadline:
        mux.keys('/', enter=False)
        time.sleep(0.3 * SLOW)
        mux.keys('quit')
        try:
            wait_until(mux.dead, 'poezio quit', timeout=5 * SLOW,
                       diag=mux.diag)
            return
        except AssertionError:
            continue
    wait_until(mux.dead, 'poezio quit', timeout=1, diag=mux.diag)


def test_poezio_offline_message_once(server, homes):
    """A message sent while poezio was not running arrives at its next
    start, and not again at the start after (XEP-0160 §4; slixmpp's
    stream management acknowledges what it got)."""
    start, home, _ = _poezio(server, homes)
    log = home.path / '.local/share/poezio/logs' / jid('alice')
    alice = online('alice', server)
    alice.message(jid('carol'), 'while poezio was off')
    alice.alive()
    wait_until(lambda: 'offline stored user=carol@localhost' in server.log,
               'the server stored the offline message')
    mux = start()
    wait_until(lambda: 'while poezio was off' in tail(log),
               'the offline message at the first start', diag=mux.diag)
    poezio_quit(mux)
    mux.kill()
    mux = start(logins=2)
    # a round trip through the server after the second login: anything
    # it had to deliver went out before this answer
    alice.message(jid('carol'), 'after the restart')
    alice.alive()
    wait_until(lambda: 'after the restart' in tail(log),
               'the live message after the restart', diag=mux.diag)
    assert tail(log).count('while poezio was off') == 1, mux.diag()


# ---------------------------------------------------------------- nbxmpp

class NbxmppDriver:
    """nbxmpp_driver.py in a subprocess; events read by a thread."""

    def __init__(self, server, home, user, resource, mech):
        self.server = server
        self.events = queue.Queue()
        self.all = []
        self.stderr = home.path / 'nbxmpp.stderr'
        self._err = open(self.stderr, 'w')
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / 'nbxmpp_driver.py'),
             '127.0.0.1:%d' % server.c2s,
             user, password(user), resource, mech],
            env=home.env(), cwd=home.path, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._err, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        self.diag = fail_with(server, ('nbxmpp events',
                                       lambda: '\n'.join(self.all)),
                              ('nbxmpp stderr', lambda: tail(self.stderr)))

    def _read(self):
        for line in self.proc.stdout:
            self.events.put(line.rstrip('\n'))

    def send(self, line):
        self.proc.stdin.write(line + '\n')
        self.proc.stdin.flush()

    def expect(self, prefix, timeout=STEP):
        """The next event starting with prefix; others are kept in
        self.all (and fail the test if they are errors)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                ev = self.events.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError('nbxmpp: no %r within %ds\n%s' % (
                    prefix, timeout, self.diag())) from None
            self.all.append(ev)
            if ev.startswith(prefix):
                return ev
            if ev.startswith(('failed', 'resume-failed')):
                raise AssertionError('nbxmpp: %s while waiting for %r\n%s'
                                     % (ev, prefix, self.diag()))

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send('quit')
                self.proc.wait(5 * SLOW)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._err.close()


def test_nbxmpp(server, homes):
    """python3-nbxmpp (Gajim's library) logs in with SCRAM-SHA-256
    (RFC 7677), enables stream management, sends and receives a message;
    after a dropped connection it resumes (XEP-0198 §5) and gets a message
    sent meanwhile exactly once; after a clean close it logs in afresh."""
    pytest.importorskip('gi', reason='python3-gi is not installed')
    pytest.importorskip('nbxmpp', reason='python3-nbxmpp is not installed '
                        '(scripts/deps.sh installs it)')
    home = homes('nbxmpp')
    bob = online('bob', server)
    nb = NbxmppDriver(server, home, 'alice', 'gajim', 'SCRAM-SHA-256')
    try:
        ev = nb.expect('connected')
        assert ev.split()[1] == jid('alice') + '/gajim', ev
        assert 'sm=True' in ev, ev
        assert 'auth ok jid=alice@localhost mech=SCRAM-SHA-256' \
            in server.log, nb.diag()
        nb.expect('sm-enabled')
        nb.send('send %s hello from nbxmpp' % jid('bob'))
        wait_body(bob, 'hello from nbxmpp')
        bob.message(jid('alice'), 'hello nbxmpp')
        ev = nb.expect('message')
        assert ev.endswith(' hello nbxmpp'), ev
        # The network goes away; the server holds the session.
        nb.send('drop')
        nb.expect('disconnected')
        wait_until(lambda: 'smacks hibernating jid=alice@localhost/gajim'
                   in server.log, 'the server hibernates the session',
                   diag=nb.diag)
        bob.message(jid('alice') + '/gajim', 'while you were gone')
        bob.alive()
        nb.send('connect')
        nb.expect('resumed')
        ev = nb.expect('message')
        assert ev.endswith(' while you were gone'), ev
        nb.send('send %s back again' % jid('bob'))
        wait_body(bob, 'back again')
        # A clean close and a fresh login; nothing is delivered twice.
        nb.send('close')
        nb.expect('disconnected')
        nb.send('connect')
        nb.expect('connected')
        nb.expect('sm-enabled')
        nb.send('send %s fresh login' % jid('bob'))
        wait_body(bob, 'fresh login')
        bob.message(jid('alice'), 'last one')
        ev = nb.expect('message')
        assert ev.endswith(' last one'), 'redelivered: %s\n%s' % (
            ev, nb.diag())
        nb.send('close')
        nb.expect('disconnected')
    finally:
        nb.close()


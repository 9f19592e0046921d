"""A real browser client: Converse.js (from the npm registry) in headless
Chromium logs in over XMPP over WebSocket (RFC 7395, wss:// to the https
listener) and exchanges a chat message with a slixmpp client over TCP.
A screenshot of the page is kept as an artifact (pytest's tmp dir and
build/artifacts/converse-websocket.png).

Chromium is driven over its DevTools protocol with the small WebSocket
client below (no selenium/playwright in Debian's python3 set-up). The
npm tarball is cached in build/npm/ so that reruns need no network; the
test is skipped (with the reason) when chromium or the package cannot
be had."""
import asyncio
import base64
import functools
import http.server
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import threading
import time
import urllib.request

import pytest

from httputil import http_server
from ternlib import REPO, SLOW, TIMEOUT, recv, run

CONVERSE = 'converse.js@10.1.2'
NPM_DIR = REPO / 'build' / 'npm'
ARTIFACTS = REPO / 'build' / 'artifacts'


def converse_dist():
    """build/npm/<pkg>/package/dist, fetched once with `npm pack`."""
    name, ver = CONVERSE.split('@')
    tgz = NPM_DIR / ('%s-%s.tgz' % (name, ver))
    out = NPM_DIR / ('%s-%s' % (name, ver))
    dist = out / 'package' / 'dist'
    if (dist / 'converse.min.js').exists():
        return dist
    if not tgz.exists():
        npm = shutil.which('npm')
        if npm is None:
            pytest.skip('npm not installed (and %s not cached)' % tgz)
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([npm, 'pack', CONVERSE, '--pack-destination',
                            str(NPM_DIR)], check=True, timeout=120,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        except (subprocess.SubprocessError, OSError) as e:
            pytest.skip('npm pack %s failed: %s' % (CONVERSE, e))
        if not tgz.exists():
            pytest.skip('npm pack %s made no %s' % (CONVERSE, tgz.name))
    tmp = NPM_DIR / ('.%s-%d' % (out.name, os.getpid()))
    with tarfile.open(tgz) as t:
        t.extractall(tmp, members=[m for m in t.getmembers()
                                   if m.name.startswith('package/dist/')])
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return dist


PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Tern + Converse.js</title>
<link rel="stylesheet" href="/dist/converse.min.css">
<script src="/dist/converse.min.js"></script></head>
<body class="converse-fullscreen"><script>
window.tern = { connected: false, errors: [] };
converse.plugins.add('tern-test', {
  initialize() {
    const c = this._converse;
    window.tern.c = c;
    c.api.listen.on('connected', () => { window.tern.connected = true; });
  }
});
converse.initialize({
  assets_path: '/dist/',
  auto_login: true,
  jid: 'alice@localhost/browser',
  password: 'secret-alice',
  websocket_url: '%(ws)s',
  discover_connection_methods: false,
  view_mode: 'fullscreen',
  allow_non_roster_messaging: true,
  persistent_store: 'IndexedDB',
  whitelisted_plugins: ['tern-test'],
  loglevel: 'info',
});
</script></body></html>
"""


class CDP:
    """Chrome DevTools protocol over a minimal RFC 6455 client."""

    def __init__(self, url):
        assert url.startswith('ws://'), url
        hostport, path = url[5:].split('/', 1)
        host, port = hostport.rsplit(':', 1)
        self.sock = socket.create_connection((host, int(port)),
                                             timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(('GET /%s HTTP/1.1\r\nHost: %s\r\n'
                           'Upgrade: websocket\r\nConnection: Upgrade\r\n'
                           'Sec-WebSocket-Key: %s\r\n'
                           'Sec-WebSocket-Version: 13\r\n\r\n'
                           % (path, hostport, key)).encode())
        self.buf = b''
        while b'\r\n\r\n' not in self.buf:
            d = self.sock.recv(4096)
            assert d, 'devtools closed during the handshake'
            self.buf += d
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        assert b' 101 ' in head.split(b'\r\n')[0], head
        self.id = 0

    def _need(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(1 << 20)
            if not d:
                raise EOFError('devtools closed')
            self.buf += d

    def _message(self):
        data = b''
        while True:
            self._need(2)
            b0, b1 = self.buf[0], self.buf[1]
            n, at = b1 & 0x7f, 2
            if n == 126:
                self._need(4)
                n, at = struct.unpack('!H', self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10)
                n, at = struct.unpack('!Q', self.buf[2:10])[0], 10
            self._need(at + n)
            data += self.buf[at:at + n]
            self.buf = self.buf[at + n:]
            if b0 & 0x80:
                return data

    def call(self, method, **params):
        self.id += 1
        p = json.dumps({'id': self.id, 'method': method,
                        'params': params}).encode()
        n = len(p)
        if n < 126:
            hdr = struct.pack('!BB', 0x81, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack('!BBH', 0x81, 0x80 | 126, n)
        else:
            hdr = struct.pack('!BBQ', 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        self.sock.sendall(hdr + mask + bytes(
            c ^ mask[i % 4] for i, c in enumerate(p)))
        while True:
            m = json.loads(self._message())
            if m.get('id') == self.id:
                assert 'error' not in m, m
                return m['result']

    def js(self, expr):
        r = self.call('Runtime.evaluate', expression=expr,
                      awaitPromise=True, returnByValue=True)
        if 'exceptionDetails' in r:
            e = r['exceptionDetails']
            raise AssertionError(e.get('exception', {}).get(
                'description', e.get('text')))
        return r['result'].get('value')

    def close(self):
        self.sock.close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_page(root):
    h = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def start_chromium(exe, profile, url):
    proc = subprocess.Popen(
        [exe, '--headless=new', '--no-sandbox', '--disable-gpu',
         '--ignore-certificate-errors', '--no-first-run',
         '--disable-extensions', '--disable-background-networking',
         '--window-size=1280,800', '--remote-debugging-port=0',
         '--remote-debugging-address=127.0.0.1',
         '--user-data-dir=%s' % profile, url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    port_file = profile / 'DevToolsActivePort'
    deadline = time.monotonic() + 20 * SLOW
    while True:
        assert proc.poll() is None, 'chromium exited %s' % proc.returncode
        if port_file.exists():
            lines = port_file.read_text().split('\n')
            if len(lines) >= 2 and lines[0]:
                break
        assert time.monotonic() < deadline, 'no DevTools port'
        time.sleep(0.1)
    base = 'http://127.0.0.1:%s' % lines[0]
    while True:
        with urllib.request.urlopen(base + '/json/list',
                                    timeout=TIMEOUT) as r:
            pages = [t for t in json.load(r) if t['type'] == 'page']
        if pages:
            return proc, pages[0]['webSocketDebuggerUrl']
        assert time.monotonic() < deadline, 'no page target'
        time.sleep(0.1)


def wait_js(cdp, expr, what, timeout=20):
    deadline = time.monotonic() + timeout * SLOW
    while not cdp.js(expr):
        assert time.monotonic() < deadline, 'timed out: ' + what
        time.sleep(0.1)


async def await_js(cdp, expr, what, timeout=20):
    deadline = time.monotonic() + timeout * SLOW
    while not cdp.js(expr):
        assert time.monotonic() < deadline, 'timed out: ' + what
        await asyncio.sleep(0.1)


def test_converse_over_websocket_with_slixmpp(make_server, tmp_path):
    """RFC 7395 with a real browser client: Converse.js logs in over
    wss:// (SCRAM, bind, all its start-up IQs), sends a chat message that a
    slixmpp client over TCP receives from its full JID, and shows the
    reply. XEP-0479 (compliance suites 2023) names Converse.js as a web
    client to serve; this is its path."""
    exe = shutil.which('chromium') or shutil.which('chromium-browser')
    if exe is None:
        pytest.skip('chromium not installed (Debian package chromium)')
    dist = converse_dist()
    srv = http_server(make_server)
    root = tmp_path / 'www'
    root.mkdir()
    (root / 'dist').symlink_to(dist, target_is_directory=True)
    ws = 'wss://127.0.0.1:%d/xmpp-websocket' % srv.https
    (root / 'index.html').write_text(PAGE % {'ws': ws})
    httpd = serve_page(root)
    proc = cdp = None
    try:
        proc, dbg = start_chromium(
            exe, tmp_path / 'profile',
            'http://127.0.0.1:%d/index.html' % httpd.server_address[1])
        cdp = CDP(dbg)
        wait_js(cdp, 'window.tern !== undefined && window.tern.connected',
                'Converse.js connected over WebSocket')
        assert 'alice@localhost/browser' in srv.log

        async def scenario(s):
            bob = await s.login('bob', resource='tcp', priority=1)
            cdp.js("""(async () => {
                const c = window.tern.c;
                await c.api.chats.open('bob@localhost', {}, true);
                const chat = await c.api.chats.get('bob@localhost');
                await chat.sendMessage({ body: 'hello from converse' });
                return true; })()""")
            m = await recv(bob.inbox, 20 * SLOW)
            assert m['body'] == 'hello from converse', m
            assert str(m['from']) == 'alice@localhost/browser', m
            bob.send_message(mto=m['from'], mbody='hello from slixmpp',
                             mtype='chat')
            await await_js(cdp, """(async () => {
                const c = window.tern.c;
                const chat = await c.api.chats.get('bob@localhost');
                return !!(chat && chat.messages.findWhere(
                    { body: 'hello from slixmpp' })); })()""",
                           'the reply in the chat model')
            await await_js(cdp, "document.body.innerText.includes("
                           "'hello from slixmpp')",
                           'the reply on the page')

        run(srv, scenario)
        shot = base64.b64decode(cdp.call('Page.captureScreenshot',
                                         format='png')['data'])
        assert shot[:8] == b'\x89PNG\r\n\x1a\n'
        (tmp_path / 'converse-websocket.png').write_bytes(shot)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / 'converse-websocket.png').write_bytes(shot)
    finally:
        if cdp:
            cdp.close()
        if proc:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            try:  # its renderers and zygotes, if any outlived it
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        httpd.shutdown()
        httpd.server_close()

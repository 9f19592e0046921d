"""Drive python3-nbxmpp (Gajim's XMPP library) from a test, line by line.

Run as: python3 nbxmpp_driver.py HOST:PORT USER PASSWORD RESOURCE [MECH]

Reads commands on stdin, one a line:
    send JID BODY   send a chat message
    drop            cut the TCP connection (no </stream:stream>), so that
                    the next connect resumes the stream (XEP-0198)
    close           close the stream cleanly (no resumption)
    connect         connect again
    quit            exit
Writes events on stdout, one a line:
    connected JID sm=SUPPORTED
    sm-enabled      the server answered <enable resume='true'/> with
                    <enabled resume='true'/> (polled; nbxmpp has no signal)
    resumed | resume-failed | disconnected | failed ERROR
    message FROM BODY
It uses a plain GLib main loop, as Gajim does.
"""
import os
import sys

from gi.repository import GLib

from nbxmpp.client import Client
from nbxmpp.const import ConnectionProtocol, ConnectionType
from nbxmpp.protocol import JID, Message, Presence
from nbxmpp.structs import StanzaHandler


def emit(*words):
    sys.stdout.write(' '.join(str(w) for w in words) + '\n')
    sys.stdout.flush()


class Driver:
    def __init__(self, host, user, pw, resource, mech):
        self.loop = GLib.MainLoop()
        self.client = c = Client()
        c.set_domain('localhost')
        c.set_username(user)
        c.set_password(pw)
        c.set_resource(resource)
        c.set_custom_host(host, ConnectionProtocol.TCP,
                          ConnectionType.START_TLS)
        c.set_ignore_tls_errors(True)
        if mech:
            c.set_mechs({mech})
        c.subscribe('connected', self.on_connected)
        c.subscribe('resume-successful', lambda *a: emit('resumed'))
        c.subscribe('resume-failed', lambda *a: emit('resume-failed'))
        c.subscribe('disconnected', self.on_disconnected)
        c.subscribe('connection-failed', self.on_failed)
        c.register_handler(StanzaHandler(name='message',
                                         callback=self.on_message))
        self.buf = b''
        GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT,
                          GLib.IO_IN | GLib.IO_HUP, self.on_stdin)

    def on_connected(self, client, _signal):
        client.send_stanza(Presence())
        emit('connected', client.get_bound_jid(),
             'sm=%s' % client.sm_supported)
        left = [100]

        def poll():
            if client.resumeable:
                emit('sm-enabled')
                return False
            left[0] -= 1
            return left[0] > 0
        GLib.timeout_add(100, poll)

    def on_disconnected(self, client, _signal):
        emit('disconnected', client.get_error()[1] or '')

    def on_failed(self, client, _signal):
        emit('failed', client.get_error())

    def on_message(self, _client, stanza, _properties):
        body = stanza.getBody()
        if body:
            emit('message', stanza.getFrom(), body)

    def on_stdin(self, fd, cond):
        data = os.read(fd, 4096)
        if not data:
            self.loop.quit()
            return False
        self.buf += data
        while b'\n' in self.buf:
            line, self.buf = self.buf.split(b'\n', 1)
            self.command(line.decode().strip())
        return True

    def command(self, line):
        cmd, _, rest = line.partition(' ')
        if cmd == 'send':
            to, _, body = rest.partition(' ')
            self.client.send_stanza(Message(to=JID.from_string(to),
                                            body=body, typ='chat'))
        elif cmd == 'drop':
            self.client.disconnect(immediate=True)
        elif cmd == 'close':
            self.client.disconnect()
        elif cmd == 'connect':
            self.client.connect()
        elif cmd == 'quit':
            self.loop.quit()

    def run(self):
        self.client.connect()
        self.loop.run()


if __name__ == '__main__':
    a = sys.argv[1:]
    Driver(a[0], a[1], a[2], a[3], a[4] if len(a) > 4 else None).run()

"""XEP-0050 Ad-Hoc Commands on the server: profanity (/command list) and
Gajim look for http://jabber.org/protocol/commands on the domain and list
the commands through disco#items on that node."""
from ternlib import NS_CLIENT, NS_STANZAS, connect_tls, q, show, stanza_error

NS_CMD = 'http://jabber.org/protocol/commands'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'


def client(srv, user='alice'):
    return connect_tls(srv.c2s, user, 'cmd')


def execute(s, node, extra=''):
    return s.iq('set', "<command xmlns='%s' node='%s'%s/>"
                % (NS_CMD, node, extra), to='localhost')


def test_commands_listed(mserver):
    """§2.1: the feature on the server, §2.2: the list as disco items of
    the commands node, §2.3: each command is a node with the
    automation/command-node identity."""
    s = client(mserver)
    r = s.iq('get', "<query xmlns='%s'/>" % NS_INFO, to='localhost')
    feats = {f.get('var') for f in r.iter(q(NS_INFO, 'feature'))}
    assert NS_CMD in feats, show(r)
    r = s.iq('get', "<query xmlns='%s' node='%s'/>" % (NS_ITEMS, NS_CMD),
             to='localhost')
    assert r.get('type') == 'result', show(r)
    items = {i.get('node'): i for i in r.iter(q(NS_ITEMS, 'item'))}
    assert set(items) == {'ping', 'uptime', 'storage'}, show(r)
    assert all(i.get('jid') == 'localhost' and i.get('name')
               for i in items.values())
    r = s.iq('get', "<query xmlns='%s' node='ping'/>" % NS_INFO,
             to='localhost')
    ids = [(i.get('category'), i.get('type'))
           for i in r.iter(q(NS_INFO, 'identity'))]
    assert ids == [('automation', 'command-node')], show(r)
    feats = {f.get('var') for f in r.iter(q(NS_INFO, 'feature'))}
    assert {NS_CMD, 'jabber:x:data'} <= feats
    # other nodes still belong to disco (entity caps)
    r = s.iq('get', "<query xmlns='%s' node='nope'/>" % NS_INFO,
             to='localhost')
    assert stanza_error(r) == 'item-not-found'


def test_execute_single_stage(mserver):
    """§3.3 / §4.4: a one-stage command answers status='completed' with a
    sessionid and a note."""
    s = client(mserver)
    for node, want in (('ping', 'Pong'), ('uptime', 'Server uptime: '),
                       ('storage', 'Your account stores ')):
        r = execute(s, node)
        assert r.get('type') == 'result', show(r)
        c = r.find(q(NS_CMD, 'command'))
        assert c.get('status') == 'completed' and c.get('node') == node
        assert c.get('sessionid'), show(r)
        note = c.find(q(NS_CMD, 'note'))
        assert note.get('type') == 'info' and note.text.startswith(want)
    r = execute(s, 'ping', " action='execute'")
    assert r.get('type') == 'result', show(r)


def test_execute_errors(mserver):
    """§4.6: an unknown command is item-not-found; another action than
    execute is <bad-action/>, an unknown session <bad-sessionid/>."""
    s = client(mserver, 'bob')
    r = execute(s, 'no-such-command')
    assert stanza_error(r) == 'item-not-found', show(r)
    for extra, app in ((" action='next'", 'bad-action'),
                       (" action='complete'", 'bad-action'),
                       (" sessionid='x1' action='cancel'", 'bad-sessionid')):
        r = execute(s, 'ping', extra)
        assert stanza_error(r) == 'bad-request', show(r)
        err = r.find(q(NS_CLIENT, 'error'))
        assert err.get('type') == 'modify'
        assert err.find(q(NS_CMD, app)) is not None, show(r)
        assert err.find(q(NS_STANZAS, 'bad-request')) is not None

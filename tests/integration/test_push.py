"""XEP-0357 push notifications: registrations, and notifications to an
app server (here the XEP-0114 component comp.localhost) for messages to an
account that is offline or whose session hibernates (stream management)."""
import hashlib
import time
import xml.etree.ElementTree as ET

from ternlib import (COMPONENT, COMPONENT_SECRET, DOMAIN, NS_CLIENT,
                     NS_COMPONENT, RawStream, connect_tls, q, show,
                     stanza_error)

NS_PUSH = 'urn:xmpp:push:0'
NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_XDATA = 'jabber:x:data'
NS_SM = 'urn:xmpp:sm:3'
NS_INFO = 'http://jabber.org/protocol/disco#info'
ALICE = 'alice@%s' % DOMAIN
OPTIONS = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
           "<value>http://jabber.org/protocol/pubsub#publish-options</value>"
           "</field><field var='secret'><value>s-123</value></field></x>")


def push_server(make_server, settings=''):
    srv = make_server(start=False)
    cfg = srv.config_text()
    line = '    modules: [%s]\n' % ', '.join(srv.modules)
    assert line in cfg
    if settings:
        cfg = cfg.replace(line, line + '    push: { %s }\n' % settings)
    srv.write_config(cfg)
    return srv.start()


def app_server(srv):
    """The app server: a component that receives the publishes."""
    c = RawStream(srv.component_port)
    c.open(to=COMPONENT, ns=NS_COMPONENT)
    digest = hashlib.sha1((c.stream_id + COMPONENT_SECRET).encode())
    c.send('<handshake>%s</handshake>' % digest.hexdigest())
    c.expect(q(NS_COMPONENT, 'handshake'))
    return c


def login(srv, user, resource):
    s = connect_tls(srv.c2s)
    s.authenticate(user)
    s.bind(resource)
    return s


def enable(s, node, jid=COMPONENT, form=''):
    return s.iq('set', "<enable xmlns='%s' jid='%s' node='%s'>%s</enable>"
                % (NS_PUSH, jid, node, form))


def publish(c, timeout=None):
    """The next publish the app server gets: (iq, node, summary fields)."""
    iq = c.wait_for(lambda e: e.tag == q(NS_COMPONENT, 'iq'), timeout)
    assert iq.get('type') == 'set', show(iq)
    assert iq.get('from') == ALICE and iq.get('to') == COMPONENT, show(iq)
    pub = iq.find('%s/%s' % (q(NS_PUBSUB, 'pubsub'), q(NS_PUBSUB, 'publish')))
    assert pub is not None, show(iq)
    x = pub.find('%s/%s/%s' % (q(NS_PUBSUB, 'item'),
                               q(NS_PUSH, 'notification'), q(NS_XDATA, 'x')))
    assert x is not None, show(iq)
    fields = {f.get('var'): f.findtext(q(NS_XDATA, 'value'))
              for f in x.findall(q(NS_XDATA, 'field'))}
    assert fields['FORM_TYPE'] == 'urn:xmpp:push:summary', show(iq)
    return iq, pub.get('node'), fields


def no_publish(c, within=1.0):
    try:
        iq = c.wait_for(lambda e: e.tag == q(NS_COMPONENT, 'iq'), within)
    except TimeoutError:
        return
    raise AssertionError('unexpected publish: %s' % show(iq))


def answer(c, iq, error=False):
    if error:
        c.send("<iq type='error' id='%s' from='%s' to='%s'><error "
               "type='cancel'><item-not-found xmlns='urn:ietf:params:xml:"
               "ns:xmpp-stanzas'/></error></iq>"
               % (iq.get('id'), COMPONENT, ALICE))
    else:
        c.send("<iq type='result' id='%s' from='%s' to='%s'/>"
               % (iq.get('id'), COMPONENT, ALICE))


def registered(srv, node='n1', form=OPTIONS):
    """alice enables push and goes offline."""
    a = login(srv, 'alice', 'phone')
    r = enable(a, node, form=form)
    assert r.get('type') == 'result', show(r)
    a.send('</stream:stream>')
    a.wait_closed()
    return a


def test_feature_enable_disable(server):
    a = login(server, 'alice', 'phone')
    info = a.iq('get', "<query xmlns='%s'/>" % NS_INFO, to=ALICE)
    feats = [f.get('var') for f in info.iter(q(NS_INFO, 'feature'))]
    assert NS_PUSH in feats, show(info)
    r = enable(a, 'n1', form=OPTIONS)
    assert r.get('type') == 'result', show(r)
    # a service jid is required, and the node
    r = a.iq('set', "<enable xmlns='%s' node='x'/>" % NS_PUSH)
    assert stanza_error(r) == 'bad-request', show(r)
    r = a.iq('set', "<enable xmlns='%s' jid='%s'/>" % (NS_PUSH, COMPONENT))
    assert stanza_error(r) == 'bad-request', show(r)
    # someone else cannot change alice's registrations
    b = login(server, 'bob', 'pc')
    r = b.iq('set', "<disable xmlns='%s' jid='%s'/>" % (NS_PUSH, COMPONENT),
             to=ALICE)
    assert r.get('type') == 'error', show(r)
    r = a.iq('set', "<disable xmlns='%s' jid='%s' node='n1'/>"
             % (NS_PUSH, COMPONENT))
    assert r.get('type') == 'result', show(r)
    # disabled: a message while offline notifies nobody
    c = app_server(server)
    a.send('</stream:stream>')
    a.wait_closed()
    b.message(ALICE, 'anyone?')
    b.alive()
    no_publish(c, 0.7)


def test_notification_when_offline(server):
    c = app_server(server)
    registered(server)
    b = login(server, 'bob', 'pc')
    b.message(ALICE, 'secret words')
    iq, node, fields = publish(c)
    assert node == 'n1'
    assert fields['message-count'] == '1', fields
    assert fields['last-message-sender'] == 'bob@%s/pc' % DOMAIN, fields
    # privacy: no body unless the operator asks for it
    assert 'last-message-body' not in fields, fields
    assert b'secret words' not in ET.tostring(iq)
    opts = iq.find('%s/%s/%s' % (q(NS_PUBSUB, 'pubsub'),
                                 q(NS_PUBSUB, 'publish-options'),
                                 q(NS_XDATA, 'x')))
    assert opts is not None, show(iq)
    secret = [f.findtext(q(NS_XDATA, 'value'))
              for f in opts.findall(q(NS_XDATA, 'field'))
              if f.get('var') == 'secret']
    assert secret == ['s-123'], show(iq)
    answer(c, iq)
    # the message itself still went to offline storage
    a = login(server, 'alice', 'phone')
    a.presence()
    m = a.wait_message()
    assert m.findtext(q(NS_CLIENT, 'body')) == 'secret words', show(m)


def test_no_notification_without_body_or_when_online(server):
    c = app_server(server)
    registered(server)
    b = login(server, 'bob', 'pc')
    b.send("<message to='%s' type='chat'><active xmlns='http://jabber.org/"
           "protocol/chatstates'/></message>" % ALICE)
    b.alive()
    no_publish(c, 0.5)
    a = login(server, 'alice', 'laptop')
    a.presence()
    a.alive()
    b.message(ALICE, 'you are here')
    a.wait_message()
    no_publish(c, 0.5)


def test_body_when_configured(make_server):
    srv = push_server(make_server, 'include_body: true')
    c = app_server(srv)
    registered(srv, form='')
    b = login(srv, 'bob', 'pc')
    b.message(ALICE, 'Wherefore art thou?')
    iq, _, fields = publish(c)
    assert fields['last-message-body'] == 'Wherefore art thou?', fields
    # no options were given: none are sent
    assert iq.find('%s/%s' % (q(NS_PUBSUB, 'pubsub'),
                              q(NS_PUBSUB, 'publish-options'))) is None


def test_one_notification_per_burst(make_server):
    srv = push_server(make_server, 'min_interval: 2s')
    c = app_server(srv)
    registered(srv)
    b = login(srv, 'bob', 'pc')
    for i in range(3):
        b.message(ALICE, 'm%d' % i)
    b.alive()
    iq, _, fields = publish(c)
    assert fields['message-count'] == '1', fields
    answer(c, iq)
    no_publish(c, 1.0)
    time.sleep(1.2)
    # after the window, the next message notifies with the whole count
    b.message(ALICE, 'm3')
    iq, _, fields = publish(c)
    assert fields['message-count'] == '4', fields
    answer(c, iq)


def test_notification_when_hibernating(server):
    c = app_server(server)
    a = login(server, 'alice', 'phone')
    assert enable(a, 'n1').get('type') == 'result'
    a.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    en = a.wait_for(lambda e: e.tag == q(NS_SM, 'enabled'))
    a.presence()
    a.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    a.alive()
    b = login(server, 'bob', 'pc')
    b.message(ALICE + '/phone', 'still there')
    a.wait_message()
    no_publish(c, 0.3)  # a live connection: no push
    # the train enters a tunnel
    a.sock.close()
    time.sleep(0.3)
    b.send("<message to='%s' type='chat'><composing xmlns='http://jabber."
           "org/protocol/chatstates'/></message>" % ALICE)
    b.alive()
    no_publish(c, 0.4)  # a chat state wakes nobody
    b.message(ALICE, 'wake up')
    iq, node, fields = publish(c)
    assert node == 'n1' and fields['message-count'] == '1', fields
    answer(c, iq)
    # the phone resumes and gets the message
    n = connect_tls(server.c2s)
    n.authenticate('alice')
    n.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, en.get('id')))
    res = n.wait_for(lambda e: e.tag in (q(NS_SM, 'resumed'),
                                         q(NS_SM, 'failed')))
    assert res.tag == q(NS_SM, 'resumed'), show(res)
    bodies = []
    while 'wake up' not in bodies:
        e = n.next()
        if e.tag == q(NS_CLIENT, 'message'):
            bodies.append(e.findtext(q(NS_CLIENT, 'body')))
    assert 'still there' in bodies


def test_app_server_error_disables(make_server):
    srv = push_server(make_server, 'min_interval: 0s')
    c = app_server(srv)
    a = login(srv, 'alice', 'phone')
    assert enable(a, 'n1').get('type') == 'result'
    assert enable(a, 'n2').get('type') == 'result'
    a.send('</stream:stream>')
    a.wait_closed()
    b = login(srv, 'bob', 'pc')
    b.message(ALICE, 'one')
    first = [publish(c), publish(c)]
    for iq, node, _ in first:
        answer(c, iq, error=(node == 'n1'))
    b.alive()
    time.sleep(0.2)
    b.message(ALICE, 'two')
    iq, node, fields = publish(c)
    assert node == 'n2', show(iq)
    assert fields['message-count'] == '2', fields
    answer(c, iq)
    no_publish(c, 0.7)  # n1 is gone


def test_registrations_survive_restart(make_server):
    srv = make_server()
    registered(srv)
    assert srv.stop() == []
    srv.start()
    c = app_server(srv)
    b = login(srv, 'bob', 'pc')
    b.message(ALICE, 'after the restart')
    iq, node, fields = publish(c)
    assert node == 'n1' and fields['message-count'] == '1', fields
    answer(c, iq)

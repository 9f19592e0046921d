"""PEP (XEP-0163): publish, items, retract, purge, delete, node
configuration, publish-options preconditions (XEP-0060 §7.1.5), access
models, +notify filtering by entity caps (XEP-0115), the last item on
becoming available, limits, restart survival, account deletion."""
import base64
import hashlib
import inspect
import secrets
import sqlite3
from xml.sax.saxutils import quoteattr

from ternlib import subscribe_mutually as mutual
from ternlib import (NS_CAPS, NS_CLIENT, Ternd, connect_tls, q, show,
                     stanza_error)

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_OWNER = NS_PUBSUB + '#owner'
NS_EVENT = NS_PUBSUB + '#event'
NS_ERRORS = NS_PUBSUB + '#errors'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_XDATA = 'jabber:x:data'
NS_ROSTER = 'jabber:iq:roster'
CAPS_NODE = 'https://tern.test/client'
IDENTITY = ('client', 'pc', '', 'Tern test')
MODULES = inspect.signature(Ternd).parameters['modules'].default
TUNE = 'http://jabber.org/protocol/tune'


def caps_ver(features, identity=IDENTITY):
    """XEP-0115 §5.1 verification string hashed with SHA-1."""
    s = '/'.join(identity) + '<'
    s += ''.join(f + '<' for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def disco_answer(features, identity=IDENTITY):
    return ("<identity category='%s' type='%s' name='%s'/>"
            % (identity[0], identity[1], identity[3])
            + ''.join("<feature var=%s/>" % quoteattr(f) for f in features))


def is_disco_query(e):
    return (e.tag == q(NS_CLIENT, 'iq') and e.get('type') == 'get'
            and e.find(q(NS_INFO, 'query')) is not None)


def answer_disco(s, features, wrong=False):
    """Wait for the server's disco#info query and answer it."""
    iq = s.wait_for(is_disco_query)
    node = iq.find(q(NS_INFO, 'query')).get('node')
    feats = list(features) + (['urn:test:lie'] if wrong else [])
    s.send("<iq type='result' id=%s to=%s><query xmlns='%s' node=%s>%s"
           "</query></iq>" % (quoteattr(iq.get('id')), quoteattr(iq.get('from')),
                              NS_INFO, quoteattr(node), disco_answer(feats)))
    return iq


def login(srv, user, resource=None, notify=(), caps=True, answer=True,
          features=None):
    """A raw client, roster fetched, available with caps whose features
    are notify nodes (+notify) and a random one (so the server has not
    seen the ver and asks). Returns the stream."""
    s = connect_tls(srv.c2s)
    s.authenticate(user)
    s.bind(resource)
    assert s.iq('get', "<query xmlns='%s'/>" % NS_ROSTER).get('type') == \
        'result'
    if features is None:
        features = [NS_INFO, 'urn:test:' + secrets.token_hex(4)]
        features += [n + '+notify' for n in notify]
    s.features_list = features
    if not caps:
        s.presence()
        return s
    s.presence(extra="<c xmlns='%s' hash='sha-1' node='%s' ver='%s'/>"
               % (NS_CAPS, CAPS_NODE, caps_ver(features)))
    if answer:
        answer_disco(s, features)
    s.alive()
    return s




def form(form_type, fields):
    body = ("<field var='FORM_TYPE' type='hidden'><value>%s</value></field>"
            % form_type)
    for var, val in fields.items():
        vals = val if isinstance(val, (list, tuple)) else [val]
        body += "<field var=%s>%s</field>" % (
            quoteattr(var), ''.join('<value>%s</value>' % v for v in vals))
    return "<x xmlns='%s' type='submit'>%s</x>" % (NS_XDATA, body)


def publish(s, node, payload, item_id=None, options=None, to=None):
    item = "<item%s>%s</item>" % (
        ' id=%s' % quoteattr(item_id) if item_id else '', payload)
    po = ''
    if options is not None:
        po = '<publish-options>%s</publish-options>' % form(
            NS_PUBSUB + '#publish-options', options)
    return s.iq('set', "<pubsub xmlns='%s'><publish node=%s>%s</publish>%s"
                "</pubsub>" % (NS_PUBSUB, quoteattr(node), item, po), to=to)


def ok(r):
    assert r.get('type') == 'result', show(r)
    return r


def app_error(r):
    err = r.find(q(NS_CLIENT, 'error'))
    assert err is not None, show(r)
    apps = [c.tag.split('}')[1] for c in err
            if c.tag.startswith('{%s}' % NS_ERRORS)]
    return stanza_error(r), (apps[0] if apps else None)


def items(s, owner, node, extra='', attrs=''):
    return s.iq('get', "<pubsub xmlns='%s'><items node=%s%s>%s</items>"
                "</pubsub>" % (NS_PUBSUB, quoteattr(node), attrs, extra),
                to=owner)


def item_ids(r):
    its = ok(r).find(q(NS_PUBSUB, 'pubsub')).find(q(NS_PUBSUB, 'items'))
    return [i.get('id') for i in its.findall(q(NS_PUBSUB, 'item'))]


def is_event(e, node=None):
    if e.tag != q(NS_CLIENT, 'message'):
        return False
    ev = e.find(q(NS_EVENT, 'event'))
    if ev is None:
        return False
    if node is None:
        return True
    return any(c.get('node') == node for c in ev)


def event(s, node=None, timeout=None):
    m = s.wait_for(lambda e: is_event(e, node), timeout)
    assert m.get('type') == 'headline', show(m)
    return m.find(q(NS_EVENT, 'event'))


def no_event(s, within=0.7):
    try:
        m = s.wait_for(is_event, within)
    except TimeoutError:
        return
    raise AssertionError('unexpected event %s' % show(m))


def tune(title):
    return "<tune xmlns='%s'><title>%s</title></tune>" % (TUNE, title)


def event_item(ev):
    its = ev.find(q(NS_EVENT, 'items'))
    return its.find(q(NS_EVENT, 'item'))


def pep_server(make_server, settings='', start=True):
    srv = make_server(start=False)
    cfg = srv.config_text()
    line = '    modules: [%s]\n' % ', '.join(srv.modules)
    assert line in cfg and 'pep' in srv.modules
    if settings:
        cfg = cfg.replace(line, line + '    pep: { %s }\n' % settings)
    srv.write_config(cfg)
    return srv.start() if start else srv


# ------------------------------------------------------------------ tests

def test_account_disco_shows_pep(server):
    a = login(server, 'alice', caps=False)
    r = ok(a.iq('get', "<query xmlns='%s'/>" % NS_INFO,
                to='alice@localhost'))
    query = r.find(q(NS_INFO, 'query'))
    ids = [(i.get('category'), i.get('type'))
           for i in query.findall(q(NS_INFO, 'identity'))]
    feats = {f.get('var') for f in query.findall(q(NS_INFO, 'feature'))}
    assert ('pubsub', 'pep') in ids and ('account', 'registered') in ids
    for f in ('#publish', '#publish-options', '#access-open',
              '#access-presence', '#access-roster', '#access-whitelist',
              '#persistent-items', '#retrieve-items', '#retract-items',
              '#auto-create', '#last-published'):
        assert NS_PUBSUB + f in feats, f


def test_publish_items_retract_purge_delete(server):
    a = login(server, 'alice', 'pc', notify=[TUNE])
    for i in range(3):
        r = ok(publish(a, TUNE, tune('song %d' % i), 'i%d' % i,
                       options={'pubsub#max_items': '10'}))
        pub = r.find(q(NS_PUBSUB, 'pubsub')).find(q(NS_PUBSUB, 'publish'))
        assert pub.find(q(NS_PUBSUB, 'item')).get('id') == 'i%d' % i
        ev = event(a, TUNE)  # own resource with +notify
        assert event_item(ev).get('id') == 'i%d' % i
        assert event_item(ev).find(q(TUNE, 'tune')) is not None
    assert item_ids(items(a, 'alice@localhost', TUNE)) == ['i0', 'i1', 'i2']
    # republishing an id moves it to the end
    ok(publish(a, TUNE, tune('again'), 'i0'))
    event(a, TUNE)
    assert item_ids(items(a, 'alice@localhost', TUNE)) == ['i1', 'i2', 'i0']
    # no 'to' (the account itself), max_items, by id
    assert item_ids(items(a, None, TUNE, attrs=" max_items='2'")) == \
        ['i2', 'i0']
    r = items(a, None, TUNE, extra="<item id='i1'/>")
    assert item_ids(r) == ['i1']
    title = r.find('.//' + q(TUNE, 'title'))
    assert title.text == 'song 1'
    # generated id
    r = ok(publish(a, TUNE, tune('noid')))
    gen = r.find('.//' + q(NS_PUBSUB, 'item')).get('id')
    assert gen and gen in item_ids(items(a, None, TUNE))
    event(a, TUNE)
    # retract with notify
    ok(a.iq('set', "<pubsub xmlns='%s'><retract node='%s' notify='true'>"
            "<item id='i1'/></retract></pubsub>" % (NS_PUBSUB, TUNE)))
    ev = event(a, TUNE)
    assert ev.find(q(NS_EVENT, 'items')).find(
        q(NS_EVENT, 'retract')).get('id') == 'i1'
    assert 'i1' not in item_ids(items(a, None, TUNE))
    r = a.iq('set', "<pubsub xmlns='%s'><retract node='%s'>"
             "<item id='nope'/></retract></pubsub>" % (NS_PUBSUB, TUNE))
    assert stanza_error(r) == 'item-not-found'
    # purge
    ok(a.iq('set', "<pubsub xmlns='%s'><purge node='%s'/></pubsub>"
            % (NS_OWNER, TUNE)))
    ev = event(a, TUNE)
    assert ev.find(q(NS_EVENT, 'purge')) is not None
    assert item_ids(items(a, None, TUNE)) == []
    # delete
    ok(a.iq('set', "<pubsub xmlns='%s'><delete node='%s'/></pubsub>"
            % (NS_OWNER, TUNE)))
    ev = event(a, TUNE)
    assert ev.find(q(NS_EVENT, 'delete')) is not None
    assert stanza_error(items(a, None, TUNE)) == 'item-not-found'
    # errors
    r = publish(a, TUNE, '')
    assert app_error(r) == ('bad-request', 'payload-required')
    b = login(server, 'bob', caps=False)
    r = publish(b, TUNE, tune('x'), to='alice@localhost')
    assert stanza_error(r) == 'forbidden'


def test_notify_filtering_by_caps(server):
    mutual(server)
    a = login(server, 'alice', 'pc', notify=[TUNE])
    a2 = login(server, 'alice', 'phone', notify=[])
    b1 = login(server, 'bob', 'with', notify=[TUNE])
    b2 = login(server, 'bob', 'without', notify=['urn:test:other'])
    b3 = login(server, 'bob', 'nocaps', caps=False)
    c = login(server, 'carol', notify=[TUNE])  # no subscription
    ok(publish(a, TUNE, tune('hello'), 'x1'))
    ev = event(b1, TUNE)
    assert event_item(ev).get('id') == 'x1'
    m_from = ev  # the event element; check the stanza's from below
    assert m_from is not None
    event(a, TUNE)
    for s in (a2, b2, b3, c):
        no_event(s, within=0.4)


def test_event_stanza_shape(server):
    mutual(server)
    a = login(server, 'alice', 'pc')
    b = login(server, 'bob', 'r', notify=[TUNE])
    ok(publish(a, TUNE, tune('shape'), 's1'))
    m = b.wait_for(lambda e: is_event(e, TUNE))
    assert m.get('from') == 'alice@localhost'
    assert m.get('to') == b.jid
    assert m.get('type') == 'headline'


def test_last_item_on_becoming_available(server):
    mutual(server)
    a = login(server, 'alice', 'pc', caps=False)
    ok(publish(a, TUNE, tune('first'), 't1'))
    ok(publish(a, TUNE, tune('last'), 't2'))
    b = login(server, 'bob', 'r', notify=[TUNE])  # answers disco
    ev = event(b, TUNE)
    assert event_item(ev).get('id') == 't2'
    no_event(b, within=0.4)
    # a resource with known caps (same ver) gets it at once, no query
    b2 = login(server, 'bob', 'r2', features=b.features_list, answer=False)
    ev = event(b2, TUNE)
    assert event_item(ev).get('id') == 't2'
    # and one without +notify does not
    b3 = login(server, 'bob', 'r3', notify=[])
    no_event(b3, within=0.4)


def test_wrong_caps_hash_is_not_trusted(server):
    mutual(server)
    a = login(server, 'alice', 'pc', caps=False)
    ok(publish(a, TUNE, tune('x'), 'w1'))
    b = login(server, 'bob', 'liar', notify=[TUNE], answer=False)
    answer_disco(b, b.features_list, wrong=True)
    no_event(b, within=0.5)
    ok(publish(a, TUNE, tune('y'), 'w2'))
    no_event(b, within=0.5)


def access_setup(server, model, groups=None):
    mutual(server)
    a = login(server, 'alice', 'pc', caps=False)
    opts = {'pubsub#access_model': model}
    if groups is not None:
        opts['pubsub#roster_groups_allowed'] = groups
    ok(publish(a, TUNE, tune(model), 'a1', options=opts))
    return a


def test_access_presence(server):
    a = access_setup(server, 'presence')
    b = login(server, 'bob', caps=False)
    c = login(server, 'carol', caps=False)
    assert item_ids(items(b, 'alice@localhost', TUNE)) == ['a1']
    assert app_error(items(c, 'alice@localhost', TUNE)) == \
        ('not-authorized', 'presence-subscription-required')
    assert item_ids(items(a, None, TUNE)) == ['a1']


def test_access_open(server):
    access_setup(server, 'open')
    c = login(server, 'carol', caps=False)
    assert item_ids(items(c, 'alice@localhost', TUNE)) == ['a1']


def test_access_roster_groups(server):
    a = access_setup(server, 'roster', ['Friends'])
    b = login(server, 'bob', caps=False)
    c = login(server, 'carol', caps=False)
    assert app_error(items(b, 'alice@localhost', TUNE)) == \
        ('not-authorized', 'not-in-roster-group')
    ok(a.iq('set', "<query xmlns='%s'><item jid='bob@localhost'>"
            "<group>Friends</group></item></query>" % NS_ROSTER))
    assert item_ids(items(b, 'alice@localhost', TUNE)) == ['a1']
    assert app_error(items(c, 'alice@localhost', TUNE))[0] == \
        'not-authorized'
    # notifications follow the same rule
    b2 = login(server, 'bob', 'n', notify=[TUNE])
    event(b2, TUNE)  # last item
    c2 = login(server, 'carol', 'n', notify=[TUNE])
    ok(publish(a, TUNE, tune('grp'), 'a2'))
    assert event_item(event(b2, TUNE)).get('id') == 'a2'
    no_event(c2, within=0.4)


def test_access_whitelist_private_data(server):
    """XEP-0223: whitelist + persist_items via publish-options."""
    a = access_setup(server, 'whitelist')
    node = 'urn:test:private'
    ok(publish(a, node, "<secret xmlns='urn:test:private'>s</secret>",
               'current', options={'pubsub#access_model': 'whitelist',
                                   'pubsub#persist_items': 'true'}))
    b = login(server, 'bob', 'n', notify=[node, TUNE])
    no_event(b, within=0.4)
    assert app_error(items(b, 'alice@localhost', node)) == \
        ('not-allowed', 'closed-node')
    assert item_ids(items(a, None, node)) == ['current']
    r = b.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, to='alice@localhost')
    assert ok(r).find(q(NS_ITEMS, 'query')).findall(q(NS_ITEMS, 'item')) \
        == []
    r = a.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, to='alice@localhost')
    nodes = {i.get('node') for i in ok(r).find(
        q(NS_ITEMS, 'query')).findall(q(NS_ITEMS, 'item'))}
    assert nodes == {TUNE, node}


def test_publish_options_preconditions(server):
    a = login(server, 'alice', caps=False)
    cases = [
        ('pubsub#access_model', 'open', 'presence'),
        ('pubsub#persist_items', 'true', 'false'),
        ('pubsub#max_items', '5', '6'),
        ('pubsub#max_items', 'max', '1'),
        ('pubsub#send_last_published_item', 'on_sub', 'never'),
        ('pubsub#notify_retract', 'false', 'true'),
    ]
    for n, (var, good, bad) in enumerate(cases):
        node = 'urn:test:pre:%d' % n
        ok(publish(a, node, tune('1'), options={var: good}))  # creates
        ok(publish(a, node, tune('2'), options={var: good}))
        r = publish(a, node, tune('3'), options={var: bad})
        assert app_error(r) == ('conflict', 'precondition-not-met'), var
        # without options: no precondition
        ok(publish(a, node, tune('4')))
    # 'max' is the server's cap, visible in the configuration
    r = ok(a.iq('get', "<pubsub xmlns='%s'><configure node='urn:test:pre:3'/>"
                "</pubsub>" % NS_OWNER))
    fields = {f.get('var'): f.findtext(q(NS_XDATA, 'value'))
              for f in r.iter(q(NS_XDATA, 'field'))}
    assert fields['pubsub#max_items'] == '256'
    assert fields['pubsub#access_model'] == 'presence'
    r = publish(a, 'urn:test:pre:x', tune('1'),
                options={'pubsub#access_model': 'bogus'})
    assert app_error(r) == ('bad-request', 'invalid-options')


def test_node_configuration(server):
    a = login(server, 'alice', caps=False)
    node = 'urn:test:conf'
    r = ok(a.iq('get', "<pubsub xmlns='%s'><default/></pubsub>" % NS_OWNER))
    fields = {f.get('var'): f.findtext(q(NS_XDATA, 'value'))
              for f in r.iter(q(NS_XDATA, 'field'))}
    assert fields['pubsub#access_model'] == 'presence'
    assert fields['FORM_TYPE'] == NS_PUBSUB + '#node_config'
    ok(a.iq('set', "<pubsub xmlns='%s'><create node='%s'/><configure>%s"
            "</configure></pubsub>" % (NS_PUBSUB, node, form(
                NS_PUBSUB + '#node_config', {'pubsub#max_items': '3'}))))
    r = a.iq('set', "<pubsub xmlns='%s'><create node='%s'/></pubsub>"
             % (NS_PUBSUB, node))
    assert stanza_error(r) == 'conflict'
    for i in range(4):
        ok(publish(a, node, tune(str(i)), 'c%d' % i))
    assert item_ids(items(a, None, node)) == ['c1', 'c2', 'c3']
    ok(a.iq('set', "<pubsub xmlns='%s'><configure node='%s'>%s</configure>"
            "</pubsub>" % (NS_OWNER, node, form(
                NS_PUBSUB + '#node_config', {'pubsub#max_items': '2',
                                             'pubsub#access_model': 'open'}))))
    assert item_ids(items(a, None, node)) == ['c2', 'c3']
    c = login(server, 'carol', caps=False)
    assert item_ids(items(c, 'alice@localhost', node)) == ['c2', 'c3']
    r = c.iq('get', "<pubsub xmlns='%s'><configure node='%s'/></pubsub>"
             % (NS_OWNER, node), to='alice@localhost')
    assert stanza_error(r) == 'forbidden'
    r = a.iq('get', "<pubsub xmlns='%s'><configure node='nope'/></pubsub>"
             % NS_OWNER)
    assert stanza_error(r) == 'item-not-found'
    r = a.iq('set', "<pubsub xmlns='%s'><configure node='%s'>%s</configure>"
             "</pubsub>" % (NS_OWNER, node, form(
                 NS_PUBSUB + '#node_config', {'pubsub#max_items': '9999'})))
    assert app_error(r) == ('not-acceptable', 'max-items-exceeded')


def test_explicit_subscribe(server):
    a = login(server, 'alice', caps=False)
    node = 'urn:test:open'
    ok(publish(a, node, tune('one'), 'o1',
               options={'pubsub#access_model': 'open'}))
    ok(publish(a, 'urn:test:closed', tune('x'), 'p1'))
    c = login(server, 'carol', caps=False)
    r = c.iq('set', "<pubsub xmlns='%s'><subscribe node='%s' jid='%s'/>"
             "</pubsub>" % (NS_PUBSUB, node, c.jid), to='alice@localhost')
    sub = ok(r).find('.//' + q(NS_PUBSUB, 'subscription'))
    assert sub.get('subscription') == 'subscribed'
    assert event_item(event(c, node)).get('id') == 'o1'  # last item
    ok(publish(a, node, tune('two'), 'o2'))
    assert event_item(event(c, node)).get('id') == 'o2'
    r = ok(c.iq('get', "<pubsub xmlns='%s'><subscriptions/></pubsub>"
                % NS_PUBSUB, to='alice@localhost'))
    assert [s.get('node') for s in r.iter(q(NS_PUBSUB, 'subscription'))] \
        == [node]
    # not allowed on a presence node, nor for someone else's JID
    r = c.iq('set', "<pubsub xmlns='%s'><subscribe node='urn:test:closed' "
             "jid='%s'/></pubsub>" % (NS_PUBSUB, c.jid), to='alice@localhost')
    assert stanza_error(r) == 'not-authorized'
    r = c.iq('set', "<pubsub xmlns='%s'><subscribe node='%s' "
             "jid='bob@localhost'/></pubsub>" % (NS_PUBSUB, node),
             to='alice@localhost')
    assert app_error(r) == ('bad-request', 'invalid-jid')
    ok(c.iq('set', "<pubsub xmlns='%s'><unsubscribe node='%s' jid='%s'/>"
            "</pubsub>" % (NS_PUBSUB, node, c.jid), to='alice@localhost'))
    ok(publish(a, node, tune('three'), 'o3'))
    no_event(c, within=0.5)


def test_limits(make_server):
    srv = pep_server(make_server,
                     'max_payload: 2k, max_nodes: 3, max_items: 4')
    a = login(srv, 'alice', caps=False)
    big = "<blob xmlns='urn:test:b'>%s</blob>" % ('x' * 3000)
    r = publish(a, 'urn:test:big', big)
    assert app_error(r) == ('not-acceptable', 'payload-too-big')
    r = publish(a, 'urn:test:big', "<blob xmlns='urn:test:b'>%s</blob>"
                % ('x' * 1500))
    ok(r)
    r = publish(a, 'urn:test:n2', tune('1'), options={'pubsub#max_items': '5'})
    assert app_error(r) == ('not-acceptable', 'max-items-exceeded')
    ok(publish(a, 'urn:test:n2', tune('1'),
               options={'pubsub#max_items': 'max'}))
    for i in range(6):
        ok(publish(a, 'urn:test:n2', tune(str(i)), 'm%d' % i))
    assert item_ids(items(a, None, 'urn:test:n2')) == ['m2', 'm3', 'm4',
                                                      'm5']
    ok(publish(a, 'urn:test:n3', tune('1')))
    r = publish(a, 'urn:test:n4', tune('1'))
    assert app_error(r) == ('policy-violation', 'max-nodes-exceeded')
    # deleting one makes room
    ok(a.iq('set', "<pubsub xmlns='%s'><delete node='urn:test:n3'/></pubsub>"
            % NS_OWNER))
    ok(publish(a, 'urn:test:n4', tune('1')))


def test_survives_restart(make_server):
    srv = pep_server(make_server)
    mutual(srv)
    a = login(srv, 'alice', caps=False)
    ok(publish(a, TUNE, tune('kept'), 'k1',
               options={'pubsub#max_items': '5'}))
    ok(publish(a, TUNE, tune('kept2'), 'k2'))
    b = login(srv, 'bob', 'r', notify=[TUNE])  # caps learnt
    assert event_item(event(b, TUNE)).get('id') == 'k2'
    feats = b.features_list
    a.close()
    b.close()
    assert srv.stop() == []
    srv.start()
    a = login(srv, 'alice', caps=False)
    assert item_ids(items(a, None, TUNE)) == ['k1', 'k2']
    r = ok(a.iq('get', "<pubsub xmlns='%s'><configure node='%s'/></pubsub>"
                % (NS_OWNER, TUNE)))
    fields = {f.get('var'): f.findtext(q(NS_XDATA, 'value'))
              for f in r.iter(q(NS_XDATA, 'field'))}
    assert fields['pubsub#max_items'] == '5'
    # the caps cache survived: no disco#info query, the event comes
    b = login(srv, 'bob', 'r', features=feats, answer=False)
    assert event_item(event(b, TUNE)).get('id') == 'k2'
    assert not any(is_disco_query(e) for e in b.pending)


def test_account_deletion_removes_pep(server):
    a = login(server, 'alice', caps=False)
    ok(publish(a, TUNE, tune('gone'), 'g1',
               options={'pubsub#access_model': 'open'}))
    c = login(server, 'carol', caps=False)
    ok(c.iq('set', "<pubsub xmlns='%s'><subscribe node='%s' jid='%s'/>"
            "</pubsub>" % (NS_PUBSUB, TUNE, c.jid), to='alice@localhost'))
    ok(publish(c, TUNE, tune('carol'), 'c1'))
    a.close()
    server.ternctl_ok('deluser', 'alice@localhost')
    server.ternctl_ok('adduser', 'alice@localhost', 'secret-alice')
    a = login(server, 'alice', caps=False)
    assert stanza_error(items(a, None, TUNE)) == 'item-not-found'
    # carol's own data is untouched
    assert item_ids(items(c, None, TUNE)) == ['c1']


PSI_VER = 'q07IKJEyjvHSyhy//CH0CxmKi8w='
PSI_INFO = (
    "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
    "<identity xml:lang='el' category='client' name='\u03a8 0.11' type='pc'/>"
    "<feature var='http://jabber.org/protocol/caps'/>"
    "<feature var='http://jabber.org/protocol/disco#info'/>"
    "<feature var='http://jabber.org/protocol/disco#items'/>"
    "<feature var='http://jabber.org/protocol/muc'/>"
    "<x xmlns='jabber:x:data' type='result'>"
    "<field var='FORM_TYPE' type='hidden'>"
    "<value>urn:xmpp:dataforms:softwareinfo</value></field>"
    "<field var='ip_version' type='text-multi'><value>ipv4</value>"
    "<value>ipv6</value></field>"
    "<field var='os'><value>Mac</value></field>"
    "<field var='os_version'><value>10.5.1</value></field>"
    "<field var='software'><value>Psi</value></field>"
    "<field var='software_version'><value>0.11</value></field></x>")


def psi_online(srv, resource, info, ver=PSI_VER):
    """A resource showing ver; answers the server's query with info if
    one comes; returns (stream, whether the server asked)."""
    s = connect_tls(srv.c2s)
    s.authenticate('alice')
    s.bind(resource)
    s.presence(extra="<c xmlns='%s' hash='sha-1' node='http://psi-im.org' "
               "ver='%s'/>" % (NS_CAPS, ver))
    try:
        iq = s.wait_for(is_disco_query, 1.0)
    except TimeoutError:
        return s, False
    assert iq.find(q(NS_INFO, 'query')).get('node') == \
        'http://psi-im.org#' + ver
    assert iq.get('from') == 'alice@localhost'
    s.send(("<iq type='result' id=%s to=%s><query xmlns='%s' node=%s>%s"
            "</query></iq>" % (quoteattr(iq.get('id')),
                               quoteattr(iq.get('from')), NS_INFO,
                               quoteattr('http://psi-im.org#' + ver), info))
           .encode())
    s.alive()
    return s, True


def test_caps_hash_with_forms_is_verified_and_cached(server):
    """XEP-0115 §5.3's complex example (identities in two languages and
    a XEP-0128 form) verifies: the next resource is not asked again; an
    answer that does not match its ver is asked for again."""
    s1, asked = psi_online(server, 'psi1', PSI_INFO)
    assert asked
    s2, asked = psi_online(server, 'psi2', PSI_INFO)
    assert not asked
    bad = PSI_INFO.replace('>Mac<', '>Linux<')
    fake = 'AAAAAAAAAAAAAAAAAAAAAAAAAAA='
    s3, asked = psi_online(server, 'psi3', bad, ver=fake)
    assert asked
    s4, asked = psi_online(server, 'psi4', bad, ver=fake)
    assert asked  # not cached: it did not verify


def test_long_item_id_and_deleted_subscriber(server):
    a = login(server, 'alice', caps=False)
    node = 'urn:test:uuid'
    uid = '6f1c2b4e-1d2a-4c7e-9f0b-3a5d7e9c1b2a-' + 'x' * 40
    r = ok(publish(a, node, tune('u'), uid,
                   options={'pubsub#access_model': 'open'}))
    assert r.find('.//' + q(NS_PUBSUB, 'item')).get('id') == uid
    assert item_ids(items(a, None, node)) == [uid]
    r = publish(a, node, tune('u'), 'y' * 300)
    assert stanza_error(r) == 'bad-request'
    # carol subscribes, her account goes: the subscription goes with it
    c = login(server, 'carol', caps=False)
    ok(c.iq('set', "<pubsub xmlns='%s'><subscribe node='%s' jid='%s'/>"
            "</pubsub>" % (NS_PUBSUB, node, 'carol@localhost'),
            to='alice@localhost'))
    event(c, node)
    c.close()
    server.ternctl_ok('deluser', 'carol@localhost')
    server.ternctl_ok('adduser', 'carol@localhost', 'secret-carol')
    c = login(server, 'carol', caps=False)
    ok(publish(a, node, tune('after'), 'after'))
    no_event(c, within=0.5)
    r = ok(c.iq('get', "<pubsub xmlns='%s'><subscriptions/></pubsub>"
                % NS_PUBSUB, to='alice@localhost'))
    assert list(r.iter(q(NS_PUBSUB, 'subscription'))) == []


def subscribe(s, owner, node, jid, on=True):
    return s.iq('set', "<pubsub xmlns='%s'><%s node=%s jid=%s/></pubsub>"
                % (NS_PUBSUB, 'subscribe' if on else 'unsubscribe',
                   quoteattr(node), quoteattr(jid)), to=owner)


def error_type(r):
    return r.find(q(NS_CLIENT, 'error')).get('type')


def test_subscription_caps(make_server):
    """XEP-0060 §6.1.3.9: too many subscriptions, per subscriber bare JID
    (all its resources) and per node, get policy-violation with
    <too-many-subscriptions/>; subscribing again is not one more; a freed
    subscription makes room."""
    srv = pep_server(make_server,
                     'max_subscriptions: 3, max_node_subscriptions: 4')
    a = login(srv, 'alice', caps=False)
    node = 'urn:test:open'
    ok(publish(a, node, tune('one'), 'o1',
               options={'pubsub#access_model': 'open'}))
    c = login(srv, 'carol', caps=False)
    for i in range(3):
        ok(subscribe(c, 'alice@localhost', node, 'carol@localhost/r%d' % i))
    r = subscribe(c, 'alice@localhost', node, 'carol@localhost/r3')
    assert app_error(r) == ('policy-violation', 'too-many-subscriptions')
    assert error_type(r) == 'wait'
    ok(subscribe(c, 'alice@localhost', node, 'carol@localhost/r0'))
    # the node has 3; bob's first is the 4th and last the node takes
    b = login(srv, 'bob', caps=False)
    ok(subscribe(b, 'alice@localhost', node, 'bob@localhost/x'))
    r = subscribe(b, 'alice@localhost', node, 'bob@localhost/y')
    assert app_error(r) == ('policy-violation', 'too-many-subscriptions')
    # unsubscribing frees a place
    ok(subscribe(c, 'alice@localhost', node, 'carol@localhost/r0', False))
    ok(subscribe(c, 'alice@localhost', node, 'carol@localhost/r3'))
    r = ok(c.iq('get', "<pubsub xmlns='%s'><subscriptions/></pubsub>"
                % NS_PUBSUB, to='alice@localhost'))
    assert sorted(s.get('jid') for s in
                  r.iter(q(NS_PUBSUB, 'subscription'))) == \
        ['carol@localhost/r%d' % i for i in (1, 2, 3)]


def test_publish_reads_only_its_node_subscribers(make_server):
    """XEP-0060 §7.1.2: a publish notifies its node's subscribers, however
    many subscriptions the owner's other nodes have."""
    srv = pep_server(make_server)
    a = login(srv, 'alice', caps=False)
    busy, quiet = 'urn:test:busy', 'urn:test:quiet'
    for n in (busy, quiet):
        ok(publish(a, n, tune('first'), 'f',
                   options={'pubsub#access_model': 'open',
                            'pubsub#send_last_published_item': 'never'}))
    c = login(srv, 'carol', caps=False)
    for i in range(250):
        ok(subscribe(c, 'alice@localhost', busy, 'carol@localhost/b%d' % i))
    b = login(srv, 'bob', caps=False)
    ok(subscribe(b, 'alice@localhost', quiet, b.jid))
    ok(publish(a, quiet, tune('second'), 's'))
    assert event_item(event(b, quiet)).get('id') == 's'
    no_event(c, within=0.5)


def test_subscriptions_moved_from_host_wide_map(make_server):
    """Subscriptions stored by older versions in the host-wide map are
    moved at start and still get notifications (XEP-0060 §7.1.2)."""
    srv = pep_server(make_server)
    a = login(srv, 'alice', caps=False)
    node = 'urn:test:legacy'
    ok(publish(a, node, tune('one'), 'o1',
               options={'pubsub#access_model': 'open'}))
    a.close()
    assert srv.stop() == []
    db = sqlite3.connect(str(srv.dir / 'tern.db'))
    with db:
        db.execute("INSERT INTO map(host,user,store,key,value) "
                   "VALUES('localhost','','pep_subs',?,x'')",
                   ('alice\n%s\ncarol@localhost/old' % node,))
    db.close()
    srv.start()
    assert srv.wait_log('moved 1 subscriptions')
    a = login(srv, 'alice', caps=False)
    c = login(srv, 'carol', 'old', caps=False)
    r = ok(c.iq('get', "<pubsub xmlns='%s'><subscriptions/></pubsub>"
                % NS_PUBSUB, to='alice@localhost'))
    assert [s.get('jid') for s in r.iter(q(NS_PUBSUB, 'subscription'))] \
        == ['carol@localhost/old']
    ok(publish(a, node, tune('two'), 'o2'))
    assert event_item(event(c, node)).get('id') == 'o2'

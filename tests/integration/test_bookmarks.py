"""Bookmarks: XEP-0402 native bookmarks in PEP and XEP-0048 bookmarks in
private storage (XEP-0049) and the legacy PEP node, converted both ways
(XEP-0411), surviving a restart."""
import inspect

from ternlib import Ternd, connect_tls, q, show, stanza_error

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_PRIVATE = 'jabber:iq:private'
NS_NATIVE = 'urn:xmpp:bookmarks:1'
NS_LEGACY = 'storage:bookmarks'
OPTIONS = ('pubsub#persist_items', 'true'), ('pubsub#max_items', 'max'), \
    ('pubsub#send_last_published_item', 'never'), \
    ('pubsub#access_model', 'whitelist')
MODULES = inspect.signature(Ternd).parameters['modules'].default


def client(server, user='alice'):
    return connect_tls(server.c2s, user)


def private_set(s, inner):
    r = s.iq('set', "<query xmlns='%s'><storage xmlns='%s'>%s</storage>"
             "</query>" % (NS_PRIVATE, NS_LEGACY, inner))
    assert r.get('type') == 'result', show(r)


def private_get(s):
    """The legacy conferences by room JID, and the whole <storage/>."""
    r = s.iq('get', "<query xmlns='%s'><storage xmlns='%s'/></query>"
             % (NS_PRIVATE, NS_LEGACY))
    assert r.get('type') == 'result', show(r)
    st = r.find('%s/%s' % (q(NS_PRIVATE, 'query'), q(NS_LEGACY, 'storage')))
    assert st is not None, show(r)
    return {c.get('jid'): c for c in st.findall(q(NS_LEGACY, 'conference'))}, st


def publish(s, node, item_id, payload, options=OPTIONS):
    form = ''
    if options:
        form = ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE' type='hidden'><value>%s#publish-"
                "options</value></field>%s</x></publish-options>"
                % (NS_PUBSUB, ''.join("<field var='%s'><value>%s</value>"
                                      "</field>" % o for o in options)))
    return s.iq('set', "<pubsub xmlns='%s'><publish node='%s'><item id='%s'>"
                "%s</item></publish>%s</pubsub>"
                % (NS_PUBSUB, node, item_id, payload, form))


def retract(s, node, item_id):
    r = s.iq('set', "<pubsub xmlns='%s'><retract node='%s'><item id='%s'/>"
             "</retract></pubsub>" % (NS_PUBSUB, node, item_id))
    assert r.get('type') == 'result', show(r)


def items(s, node, jid='alice@localhost'):
    r = s.iq('get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>"
             % (NS_PUBSUB, node), to=jid)
    assert r.get('type') == 'result', show(r)
    return {i.get('id'): i[0] for i in
            r.iter(q(NS_PUBSUB, 'item')) if len(i)}


def native(room, name=None, autojoin=None, nick=None, extra=''):
    attrs = ''.join(" %s='%s'" % kv for kv in (('name', name),
                                               ('autojoin', autojoin)) if kv[1])
    return "<conference xmlns='%s'%s>%s%s</conference>" % (
        NS_NATIVE, attrs, '<nick>%s</nick>' % nick if nick else '', extra)


def test_features_on_account(server):
    a = client(server)
    r = a.iq('get', "<query xmlns='%s'/>" % NS_INFO, to='alice@localhost')
    feats = {f.get('var') for f in r.iter(q(NS_INFO, 'feature'))}
    for f in (NS_NATIVE + '#compat', 'urn:xmpp:bookmarks-conversion:0',
              NS_NATIVE + '#compat-pep'):
        assert f in feats, show(r)


def test_private_to_pep(server):
    a = client(server)
    private_set(a, "<conference jid='tea@muc.localhost' name='Tea' "
                "autojoin='true'><nick>al</nick><password>pw</password>"
                "</conference><conference jid='Work@Muc.Localhost' "
                "name='Work'/><url name='Home' url='https://example.org/'/>")
    got = items(a, NS_NATIVE)
    assert set(got) == {'tea@muc.localhost', 'work@muc.localhost'}, got
    tea = got['tea@muc.localhost']
    assert tea.tag == q(NS_NATIVE, 'conference')
    assert tea.get('name') == 'Tea' and tea.get('autojoin') == 'true'
    assert tea.findtext(q(NS_NATIVE, 'nick')) == 'al'
    assert tea.findtext(q(NS_NATIVE, 'password')) == 'pw'
    work = got['work@muc.localhost']
    assert work.get('autojoin') in (None, 'false', '0')
    # the node is as XEP-0402 clients create it: their publish-options
    # match, and others cannot read it
    r = publish(a, NS_NATIVE, 'x@muc.localhost', native('x@muc.localhost'))
    assert r.get('type') == 'result', show(r)
    r = client(server, 'bob').iq(
        'get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>"
        % (NS_PUBSUB, NS_NATIVE), to='alice@localhost')
    assert r.get('type') == 'error', show(r)
    # the legacy PEP node holds the whole document
    leg = items(a, NS_LEGACY)
    assert list(leg) == ['current'], leg
    assert {c.get('jid') for c in leg['current']} >= {'tea@muc.localhost'}
    # a legacy client drops one room and renames another
    private_set(a, "<conference jid='tea@muc.localhost' name='Tea time' "
                "autojoin='false'/>")
    got = items(a, NS_NATIVE)
    assert set(got) == {'tea@muc.localhost'}, got
    assert got['tea@muc.localhost'].get('name') == 'Tea time'
    assert got['tea@muc.localhost'].get('autojoin') in (None, 'false')
    assert got['tea@muc.localhost'].find(q(NS_NATIVE, 'nick')) is None


def test_pep_to_private(server):
    a = client(server)
    # nothing written to private storage yet: it answers from PEP
    r = publish(a, NS_NATIVE, 'tea@muc.localhost',
                native('tea@muc.localhost', 'Tea', 'true', 'al',
                       "<extensions><x xmlns='urn:example:ext'/>"
                       "</extensions>"))
    assert r.get('type') == 'result', show(r)
    confs, _ = private_get(a)
    assert set(confs) == {'tea@muc.localhost'}
    tea = confs['tea@muc.localhost']
    assert tea.get('name') == 'Tea' and tea.get('autojoin') == 'true'
    assert tea.findtext(q(NS_LEGACY, 'nick')) == 'al'
    # a document written by a legacy client is kept in step afterwards,
    # what XEP-0402 cannot hold (URLs) included
    private_set(a, "<conference jid='tea@muc.localhost' name='Tea!' "
                "autojoin='true'><nick>al</nick></conference>"
                "<url name='Home' url='https://example.org/'/>")
    # the extensions the legacy form cannot carry stay in PEP
    tea = items(a, NS_NATIVE)['tea@muc.localhost']
    assert tea.get('name') == 'Tea!'
    assert tea.find('%s/%s' % (q(NS_NATIVE, 'extensions'),
                               q('urn:example:ext', 'x'))) is not None
    r = publish(a, NS_NATIVE, 'dev@muc.localhost',
                native('dev@muc.localhost', 'Dev', nick='alice'))
    assert r.get('type') == 'result', show(r)
    confs, st = private_get(a)
    assert set(confs) == {'tea@muc.localhost', 'dev@muc.localhost'}
    assert confs['dev@muc.localhost'].get('name') == 'Dev'
    assert st.find(q(NS_LEGACY, 'url')).get('name') == 'Home'
    retract(a, NS_NATIVE, 'tea@muc.localhost')
    confs, st = private_get(a)
    assert set(confs) == {'dev@muc.localhost'}
    assert st.find(q(NS_LEGACY, 'url')) is not None
    leg = items(a, NS_LEGACY)['current']
    assert {c.get('jid') for c in leg.findall(q(NS_LEGACY, 'conference'))} \
        == {'dev@muc.localhost'}


def test_legacy_pep_node_to_native_and_private(server):
    a = client(server)
    r = publish(a, NS_LEGACY, 'current',
                "<storage xmlns='%s'><conference jid='old@muc.localhost' "
                "name='Old' autojoin='1'/></storage>" % NS_LEGACY,
                options=(('pubsub#access_model', 'whitelist'),))
    assert r.get('type') == 'result', show(r)
    got = items(a, NS_NATIVE)
    assert set(got) == {'old@muc.localhost'}
    assert got['old@muc.localhost'].get('autojoin') == 'true'
    confs, _ = private_get(a)
    assert confs['old@muc.localhost'].get('name') == 'Old'


def test_others_private_storage_untouched(server):
    a = client(server)
    private_set(a, "<conference jid='a@muc.localhost'/>")
    b = client(server, 'bob')
    confs, _ = private_get(b)
    assert confs == {}
    r = b.iq('get', "<query xmlns='%s'><storage xmlns='%s'/></query>"
             % (NS_PRIVATE, NS_LEGACY), to='alice@localhost')
    assert stanza_error(r) == 'forbidden'


def test_bookmarks_survive_restart(make_server):
    srv = make_server()
    a = client(srv)
    private_set(a, "<conference jid='tea@muc.localhost' name='Tea'/>")
    r = publish(a, NS_NATIVE, 'dev@muc.localhost',
                native('dev@muc.localhost', 'Dev'))
    assert r.get('type') == 'result', show(r)
    a.close()
    assert not srv.stop()
    srv.start()
    a = client(srv)
    assert set(items(a, NS_NATIVE)) == {'tea@muc.localhost',
                                        'dev@muc.localhost'}
    confs, _ = private_get(a)
    assert set(confs) == {'tea@muc.localhost', 'dev@muc.localhost'}


def test_older_private_bookmarks_reach_pep_at_login(make_server):
    # stored while the server did no conversion
    srv = make_server(modules=[m for m in MODULES if m != 'bookmarks'])
    a = client(srv)
    private_set(a, "<conference jid='tea@muc.localhost' name='Tea'/>")
    a.close()
    assert not srv.stop()
    srv.modules = list(MODULES)
    srv.write_config()
    srv.start()
    a = client(srv)
    got = items(a, NS_NATIVE)
    assert set(got) == {'tea@muc.localhost'}, got
    assert got['tea@muc.localhost'].get('name') == 'Tea'

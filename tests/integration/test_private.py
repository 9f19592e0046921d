"""XEP-0049 Private XML Storage: per-namespace storage, the owner only,
reserved namespaces, the per-account size limit, and restarts."""
from ternlib import connect_tls, q, show, stanza_error

NS_PRIVATE = 'jabber:iq:private'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'

BOOKMARKS = ("<storage xmlns='storage:bookmarks'>"
             "<conference jid='tea@muc.localhost' name='Tea' "
             "autojoin='true'><nick>alice</nick></conference></storage>")
PREFS = "<prefs xmlns='example:prefs'><colour>blue</colour></prefs>"


def host_settings(srv, lines):
    """Put per-host module settings under the host in srv's config."""
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    srv.write_config(text[:at] + ''.join('    %s\n' % l for l in lines)
                     + text[at:])


def client(server, user='alice'):
    return connect_tls(server.c2s, user)


def store(s, inner, to=None):
    return s.iq('set', "<query xmlns='%s'>%s</query>" % (NS_PRIVATE, inner),
                to=to)


def fetch(s, inner, to=None):
    r = s.iq('get', "<query xmlns='%s'>%s</query>" % (NS_PRIVATE, inner),
             to=to)
    assert r.get('type') == 'result', show(r)
    return r.find(q(NS_PRIVATE, 'query'))


def error_of(r):
    assert r.get('type') == 'error', show(r)
    return stanza_error(r)


def test_store_and_retrieve_per_namespace(server):
    a = client(server)
    assert store(a, BOOKMARKS).get('type') == 'result'
    assert store(a, PREFS).get('type') == 'result'
    res = fetch(a, "<storage xmlns='storage:bookmarks'/>")
    assert len(res) == 1, show(res)
    conf = res.find('%s/%s' % (q('storage:bookmarks', 'storage'),
                               q('storage:bookmarks', 'conference')))
    assert conf.get('jid') == 'tea@muc.localhost'
    assert conf.findtext(q('storage:bookmarks', 'nick')) == 'alice'
    res = fetch(a, "<prefs xmlns='example:prefs'/>", to='alice@localhost')
    assert res.find('%s/%s' % (q('example:prefs', 'prefs'),
                               q('example:prefs', 'colour'))).text == 'blue'


def test_nothing_stored_gives_empty_element(server):
    res = fetch(client(server), "<storage xmlns='storage:rosternotes'/>")
    kids = list(res)
    assert len(kids) == 1 and kids[0].tag == q('storage:rosternotes',
                                               'storage'), show(res)
    assert len(kids[0]) == 0


def test_replace_namespace(server):
    a = client(server)
    assert store(a, BOOKMARKS).get('type') == 'result'
    assert store(a, "<storage xmlns='storage:bookmarks'/>").get('type') \
        == 'result'
    res = fetch(a, "<storage xmlns='storage:bookmarks'/>")
    assert len(res[0]) == 0, show(res)


def test_multiple_elements_of_one_namespace(server):
    a = client(server)
    r = store(a, "<a xmlns='x:multi'>1</a><b xmlns='x:multi'>2</b>")
    assert r.get('type') == 'result', show(r)
    res = fetch(a, "<a xmlns='x:multi'/>")
    assert [e.tag for e in res] == [q('x:multi', 'a'), q('x:multi', 'b')]


def test_other_users_data_forbidden(server):
    a = client(server)
    assert store(a, PREFS).get('type') == 'result'
    b = client(server, 'bob')
    assert error_of(fetch_raw(b, "<prefs xmlns='example:prefs'/>",
                              'alice@localhost')) == 'forbidden'
    assert error_of(store(b, PREFS.replace('blue', 'red'),
                          to='alice@localhost')) == 'forbidden'
    res = fetch(a, "<prefs xmlns='example:prefs'/>")
    assert 'blue' in show(res)
    # bob's own space is separate
    res = fetch(b, "<prefs xmlns='example:prefs'/>")
    assert len(res[0]) == 0


def fetch_raw(s, inner, to=None):
    return s.iq('get', "<query xmlns='%s'>%s</query>" % (NS_PRIVATE, inner),
                to=to)


def test_reserved_namespaces_refused(server):
    a = client(server)
    for inner in ("<vCard xmlns='vcard-temp'><FN>x</FN></vCard>",
                  "<query xmlns='jabber:iq:roster'/>",
                  "<x xmlns='jabber:client'/>",
                  "<query xmlns='jabber:iq:private'/>",
                  "<q xmlns='http://jabber.org/protocol/disco#info'/>"):
        assert error_of(store(a, inner)) == 'not-acceptable', inner
        assert error_of(fetch_raw(a, inner)) == 'not-acceptable', inner


def test_empty_queries(server):
    a = client(server)
    assert error_of(store(a, '')) == 'not-acceptable'
    assert error_of(fetch_raw(a, '')) == 'bad-request'


def test_size_limit_per_account(make_server):
    srv = make_server(start=False)
    host_settings(srv, ['private: { max_size: 2k }'])
    srv.start()
    a = client(srv)
    assert store(a, "<n xmlns='x:one'>%s</n>" % ('1' * 900)).get('type') \
        == 'result'
    assert store(a, "<n xmlns='x:two'>%s</n>" % ('2' * 900)).get('type') \
        == 'result'
    r = store(a, "<n xmlns='x:three'>%s</n>" % ('3' * 900))
    assert error_of(r) == 'not-acceptable'
    assert '2048' in r.find(q('jabber:client', 'error')).findtext(
        q(NS_STANZAS, 'text'))
    # replacing a namespace counts its new size, not old + new
    assert store(a, "<n xmlns='x:two'>%s</n>" % ('4' * 950)).get('type') \
        == 'result'
    assert len(fetch(a, "<n xmlns='x:three'/>")[0]) == 0
    # another account has its own allowance
    b = client(srv, 'bob')
    assert store(b, "<n xmlns='x:three'>%s</n>" % ('3' * 900)).get(
        'type') == 'result'


def test_private_survives_restart(make_server):
    srv = make_server()
    assert store(client(srv), BOOKMARKS).get('type') == 'result'
    assert not srv.stop()
    srv.start()
    res = fetch(client(srv), "<storage xmlns='storage:bookmarks'/>")
    assert 'tea@muc.localhost' in show(res)


def test_private_gone_with_account(server):
    assert store(client(server), PREFS).get('type') == 'result'
    server.ternctl_ok('deluser', 'alice@localhost')
    server.ternctl_ok('adduser', 'alice@localhost', 'secret-alice')
    res = fetch(client(server), "<prefs xmlns='example:prefs'/>")
    assert len(res[0]) == 0

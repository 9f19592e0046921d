"""XEP-0054 vcard-temp: own vCard, other users' vCards, size limit, and
the vCard surviving a restart of ternd."""
from ternlib import connect_tls, q, run, show, stanza_error

NS_VCARD = 'vcard-temp'
NS_INFO = 'http://jabber.org/protocol/disco#info'

VCARD = ("<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN>"
         "<NICKNAME>alice &amp; co</NICKNAME>"
         "<EMAIL><INTERNET/><USERID>alice@example.org</USERID></EMAIL>"
         "</vCard>")


def host_settings(srv, lines):
    """Put per-host module settings under the host in srv's config."""
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    srv.write_config(text[:at] + ''.join('    %s\n' % l for l in lines)
                     + text[at:])


def client(server, user='alice'):
    return connect_tls(server.c2s, user)


def get_vcard(s, to=None):
    r = s.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=to)
    assert r.get('type') == 'result', show(r)
    v = r.find(q(NS_VCARD, 'vCard'))
    assert v is not None, show(r)
    return v


def test_empty_vcard_when_none_stored(server):
    v = get_vcard(client(server))
    assert len(v) == 0, show(v)
    v = get_vcard(client(server, 'bob'), to='alice@localhost')
    assert len(v) == 0, show(v)


def test_set_and_get_own_and_others(server):
    a = client(server)
    r = a.iq('set', VCARD)
    assert r.get('type') == 'result', show(r)
    v = get_vcard(a)
    assert v.findtext(q(NS_VCARD, 'FN')) == 'Alice Liddell'
    assert v.findtext(q(NS_VCARD, 'NICKNAME')) == 'alice & co'
    email = v.find(q(NS_VCARD, 'EMAIL'))
    assert email.find(q(NS_VCARD, 'INTERNET')) is not None
    # to one's own bare JID is the same as no 'to'
    v = get_vcard(a, to='alice@localhost')
    assert v.findtext(q(NS_VCARD, 'FN')) == 'Alice Liddell'
    # anyone may read it
    b = client(server, 'bob')
    v = get_vcard(b, to='alice@localhost')
    assert v.findtext(q(NS_VCARD, 'USERID'),
                      default=None) is None  # nested, not direct
    assert v.find('%s/%s' % (q(NS_VCARD, 'EMAIL'),
                             q(NS_VCARD, 'USERID'))).text == \
        'alice@example.org'
    # bob's own vCard is still empty
    assert len(get_vcard(b)) == 0


def test_replace_and_clear(server):
    a = client(server)
    assert a.iq('set', VCARD).get('type') == 'result'
    r = a.iq('set', "<vCard xmlns='vcard-temp'><FN>A. L.</FN></vCard>")
    assert r.get('type') == 'result', show(r)
    v = get_vcard(a)
    assert v.findtext(q(NS_VCARD, 'FN')) == 'A. L.'
    assert v.find(q(NS_VCARD, 'NICKNAME')) is None
    assert a.iq('set', "<vCard xmlns='vcard-temp'/>").get('type') == \
        'result'
    assert len(get_vcard(a)) == 0


def test_set_for_another_user_forbidden(server):
    b = client(server, 'bob')
    r = b.iq('set', VCARD, to='alice@localhost')
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'forbidden'
    assert len(get_vcard(client(server))) == 0


def test_get_unknown_user(server):
    r = client(server).iq('get', "<vCard xmlns='vcard-temp'/>",
                          to='nobody@localhost')
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'service-unavailable'


def test_size_limit(make_server):
    srv = make_server(start=False)
    host_settings(srv, ['vcard: { max_size: 1k }'])
    srv.start()
    a = client(srv)
    fits = "<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard>" % ('x' * 900)
    assert a.iq('set', fits).get('type') == 'result'
    big = "<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard>" % ('y' * 1100)
    r = a.iq('set', big)
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'not-acceptable'
    err = r.find(q('jabber:client', 'error'))
    assert err.get('type') == 'modify'
    assert '1024' in err.findtext(q('urn:ietf:params:xml:ns:xmpp-stanzas',
                                    'text'))
    # the stored one is untouched
    v = get_vcard(a)
    assert v.findtext(q(NS_VCARD, 'DESC')) == 'x' * 900


def test_vcard_survives_restart(make_server):
    srv = make_server()
    assert client(srv).iq('set', VCARD).get('type') == 'result'
    assert not srv.stop()
    srv.start()
    v = get_vcard(client(srv, 'carol'), to='alice@localhost')
    assert v.findtext(q(NS_VCARD, 'FN')) == 'Alice Liddell'
    assert v.findtext(q(NS_VCARD, 'NICKNAME')) == 'alice & co'


def test_vcard_gone_with_account(server):
    assert client(server).iq('set', VCARD).get('type') == 'result'
    server.ternctl_ok('deluser', 'alice@localhost')
    server.ternctl_ok('adduser', 'alice@localhost', 'secret-alice')
    assert len(get_vcard(client(server))) == 0


def test_feature_advertised_and_slixmpp(server):
    async def scenario(sess):
        a = await sess.login('alice', plugins=('xep_0030', 'xep_0054',
                                               'xep_0199'))
        info = await a['xep_0030'].get_info(jid='localhost')
        assert NS_VCARD in info['disco_info']['features']
        card = a['xep_0054'].make_vcard()
        card['FN'] = 'Alice via slixmpp'
        await a['xep_0054'].publish_vcard(card)
        b = await sess.login('bob', plugins=('xep_0030', 'xep_0054',
                                             'xep_0199'))
        res = await b['xep_0054'].get_vcard('alice@localhost',
                                            cached=False)
        assert res['vcard_temp']['FN'] == 'Alice via slixmpp'
    run(server, scenario)

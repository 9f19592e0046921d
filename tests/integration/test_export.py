"""ternctl export and import (XEP-0227): a round trip into a fresh server
checked by protocol, the files Prosody and ejabberd write, and bad
input (an error naming file:line, nothing imported)."""
import base64
import hashlib
import hmac
import re
import secrets

from ternlib import (DOMAIN, NS_CLIENT, NS_SASL, connect_tls, q, show)
from test_mam import NS_MAM, body, query
from test_omemo import OM2, OM2_DEVICES, OPEN, device_ids, om2_devices
from test_pep import NS_OWNER, NS_PUBSUB, NS_XDATA, items, ok, publish

NS_ROSTER = 'jabber:iq:roster'
NS_VCARD = 'vcard-temp'
NS_PRIVATE = 'jabber:iq:private'
NS_BLOCKING = 'urn:xmpp:blocking'
NS_PIE = 'urn:xmpp:pie:0'
ALICE = 'alice@' + DOMAIN
BOB = 'bob@' + DOMAIN
CAROL = 'carol@' + DOMAIN


def login(srv, user, pw=None, resource='r'):
    s = connect_tls(srv.c2s)
    s.authenticate(user, pw)
    s.bind(resource)
    return s


def can_login(srv, user, pw, mech='SCRAM-SHA-256'):
    s = connect_tls(srv.c2s)
    el = s.scram(mech, user, pw) if mech != 'PLAIN' else s.plain(user, pw)
    s.close()
    return el.tag == q(NS_SASL, 'success')


def roster(s):
    r = ok(s.iq('get', "<query xmlns='%s'/>" % NS_ROSTER))
    out = {}
    for it in r.find(q(NS_ROSTER, 'query')):
        out[it.get('jid')] = (it.get('name'), it.get('subscription'),
                              it.get('ask'),
                              sorted(g.text for g in
                                     it.findall(q(NS_ROSTER, 'group'))))
    return out


def vcard_fn(s, to=None):
    r = ok(s.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=to))
    fn = r.find(q(NS_VCARD, 'vCard')).find(q(NS_VCARD, 'FN'))
    return fn.text if fn is not None else None


def private(s, ns, name):
    r = ok(s.iq('get', "<query xmlns='%s'><%s xmlns='%s'/></query>"
                % (NS_PRIVATE, name, ns)))
    return r.find(q(NS_PRIVATE, 'query')).find(q(ns, name))


def blocklist(s):
    r = ok(s.iq('get', "<blocklist xmlns='%s'/>" % NS_BLOCKING))
    return sorted(i.get('jid') for i in
                  r.find(q(NS_BLOCKING, 'blocklist')))


def access_model(s, node):
    r = ok(s.iq('get', "<pubsub xmlns='%s'><configure node='%s'/></pubsub>"
                % (NS_OWNER, node)))
    for f in r.iter(q(NS_XDATA, 'field')):
        if f.get('var') == 'pubsub#access_model':
            return f.find(q(NS_XDATA, 'value')).text
    raise AssertionError(show(r))


def fill(srv):
    """alice: roster, vCard, private XML, PEP (OMEMO devices, open), a
    block, archived messages with bob; carol: an offline message."""
    a = login(srv, 'alice')
    ok(a.iq('set', "<query xmlns='%s'><item jid='%s' name='Bobby'>"
            "<group>Friends</group><group>Work</group></item></query>"
            % (NS_ROSTER, BOB)))
    a.send("<presence type='subscribe' to='%s'/>" % BOB)
    ok(a.iq('set', "<vCard xmlns='%s'><FN>Alice Liddell</FN></vCard>"
            % NS_VCARD))
    ok(a.iq('set', "<query xmlns='%s'><prefs xmlns='urn:test:prefs'>"
            "<colour>blue</colour></prefs></query>" % NS_PRIVATE))
    ok(publish(a, OM2_DEVICES, om2_devices(7, 9), 'current',
               options=OPEN))
    ok(a.iq('set', "<block xmlns='%s'><item jid='spam@evil.example'/>"
            "</block>" % NS_BLOCKING))
    b = login(srv, 'bob')
    for i in range(3):
        a.send("<message to='%s' type='chat'><body>hello %d</body>"
               "</message>" % (BOB, i))
        a.alive()
    b.send("<message to='%s' type='chat'><body>for carol</body></message>"
           % CAROL)
    b.alive()
    a.close()
    b.close()


def check_alice(srv):
    a = login(srv, 'alice')
    r = roster(a)
    assert r[BOB] == ('Bobby', 'none', 'subscribe', ['Friends', 'Work']), r
    assert vcard_fn(a) == 'Alice Liddell'
    assert private(a, 'urn:test:prefs', 'prefs').find(
        q('urn:test:prefs', 'colour')).text == 'blue'
    assert blocklist(a) == ['spam@evil.example']
    assert device_ids(ok(items(a, ALICE, OM2_DEVICES)), OM2,
                      'devices') == [7, 9]
    assert access_model(a, OM2_DEVICES) == 'open'
    res, fin, _ = query(a)
    assert [body(m) for _, m, _ in res] == ['hello 0', 'hello 1',
                                            'hello 2'], res
    return a, res


def test_round_trip_into_fresh_server(make_server, tmp_path):
    src = make_server()
    fill(src)
    out = tmp_path / 'export.xml'
    r = src.ternctl_ok('export', '--all', str(out))
    assert 'exported 3 accounts' in r.stdout, r.stdout
    text = out.read_text()
    assert "<server-data xmlns='%s'>" % NS_PIE in text
    assert 'scram-credentials' in text and 'password=' not in text
    a_src, res_src = check_alice(src)
    a_src.close()

    dst = make_server(users=())
    r = dst.ternctl_ok('import', str(out))
    assert 'imported 3 accounts' in r.stdout, r.stdout
    # the same password works: the SCRAM keys travelled
    assert can_login(dst, 'alice', 'secret-alice')
    assert can_login(dst, 'bob', 'secret-bob', 'PLAIN')
    a, res = check_alice(dst)
    # archive ids are kept, so clients' sync points stay valid
    assert [i for i, _, _ in res] == [i for i, _, _ in res_src]
    assert vcard_fn(a, to=ALICE) == 'Alice Liddell'
    b = login(dst, 'bob')
    res, _, _ = query(b)
    assert [body(m) for _, m, _ in res] == ['hello 0', 'hello 1', 'hello 2',
                                            'for carol']
    c = login(dst, 'carol')
    c.presence()
    m = c.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert body(m) == 'for carol' and m.get('from').startswith(BOB)
    # alice's request to bob is still waiting for his answer
    assert roster(b) == {}, 'a pending request is not a roster item'
    b.presence()
    p = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'presence')
                   and e.get('type') == 'subscribe')
    assert p.get('from') == ALICE


def test_disabled_and_last_login_travel(make_server, tmp_path):
    src = make_server()
    login(src, 'bob').close()
    src.ternctl_ok('disable', 'carol@' + DOMAIN)
    out = tmp_path / 'all.xml'
    src.ternctl_ok('export', '--all', str(out))
    dst = make_server(users=())
    dst.ternctl_ok('import', str(out))
    s = connect_tls(dst.c2s)
    assert s.scram('SCRAM-SHA-256', 'carol', 'secret-carol').find(
        q(NS_SASL, 'account-disabled')) is not None
    report = dst.ternctl_ok('inactive', '--days', '0').stdout
    assert re.search(r'^bob@localhost last_login=\d{4}-', report, re.M), \
        report
    assert re.search(r'^alice@localhost last_login=never', report, re.M), \
        report


def test_export_one_user_and_existing_accounts(make_server, tmp_path):
    src = make_server()
    fill(src)
    out = tmp_path / 'alice.xml'
    src.ternctl_ok('export', '--user', ALICE, str(out))
    text = out.read_text()
    assert "name='alice'" in text and "name='bob'" not in text
    dst = make_server()  # alice, bob, carol exist with their passwords
    r = dst.ternctl('import', str(out))
    assert r.returncode == 1
    assert re.search(r'alice\.xml:\d+: alice@localhost already exists: '
                     r'--force replaces it, --merge adds', r.stderr), r.stderr
    assert 'nothing imported' in r.stderr
    a = login(dst, 'alice')
    assert roster(a) == {}
    a.close()
    r = dst.ternctl_ok('import', '--merge', str(out))
    assert 'alice@localhost exists: merged' in r.stdout
    a, _ = check_alice(dst)
    a.close()
    # --force: replaced; the archive is the file's alone afterwards
    dst.ternctl_ok('import', '--force', str(out))
    a, res = check_alice(dst)
    assert len(res) == 3


def scram_keys(pw, h=hashlib.sha1, iters=4096):
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac(h().name, pw.encode(), salt, iters)
    ck = hmac.new(salted, b'Client Key', h).digest()
    sk = hmac.new(salted, b'Server Key', h).digest()
    b = base64.b64encode
    return (b(h(ck).digest()).decode(), b(sk).decode(), b(salt).decode(),
            iters)


def scram_el(user, pw, mech='SCRAM-SHA-1', iters=4096):
    h = hashlib.sha1 if mech == 'SCRAM-SHA-1' else hashlib.sha256
    stored, server, salt, _ = scram_keys(pw, h, iters)
    return ("<scram-credentials xmlns='urn:xmpp:pie:0#scram' "
            "mechanism='%s'><iter-count>%d</iter-count><salt>%s</salt>"
            "<server-key>%s</server-key><stored-key>%s</stored-key>"
            "</scram-credentials>" % (mech, iters, salt, server, stored))


def test_import_prosody_layout(make_server, tmp_path):
    """mod_storage_xep0227 / prosody-migrator: one file per user under
    DATA/HOST/, each a whole <server-data/>; SCRAM-SHA-1 keys only."""
    d = tmp_path / 'prosody' / DOMAIN
    d.mkdir(parents=True)
    (d / 'romeo.xml').write_text(
        "<?xml version='1.0' encoding='utf-8'?>\n"
        "<server-data xmlns='urn:xmpp:pie:0'><host jid='%s'>"
        "<user name='romeo'>%s"
        "<vCard xmlns='vcard-temp'><FN>Romeo Montague</FN></vCard>"
        "<query xmlns='jabber:iq:roster' version='3'>"
        "<item jid='juliet@%s' subscription='both' name='Juliet'>"
        "<group>Lovers</group></item>"
        "<item jid='benvolio@example.net' subscription='none' "
        "ask='subscribe'/></query>"
        "<presence xmlns='jabber:client' type='subscribe' "
        "from='mercutio@example.net'/>"
        "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>"
        "<configure node='http://jabber.org/protocol/nick'>"
        "<x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' "
        "type='hidden'><value>http://jabber.org/protocol/pubsub#node_config"
        "</value></field><field var='pubsub#access_model'><value>open"
        "</value></field><field var='pubsub#prosody_only'><value>x</value>"
        "</field></x></configure></pubsub>"
        "<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
        "<items node='http://jabber.org/protocol/nick'><item id='current'>"
        "<nick xmlns='http://jabber.org/protocol/nick'>Romy</nick></item>"
        "</items></pubsub>"
        "<archive xmlns='urn:xmpp:pie:0#mam'>"
        "<result xmlns='urn:xmpp:mam:2' id='6e7f9c33-prosody'>"
        "<forwarded xmlns='urn:xmpp:forward:0'>"
        "<delay xmlns='urn:xmpp:delay' stamp='2023-07-10T23:08:25Z'/>"
        "<message xmlns='jabber:client' to='romeo@%s/orchard' "
        "from='juliet@%s/balcony' type='chat'><body>Wherefore art thou"
        "</body></message></forwarded></result></archive>"
        "</user></host></server-data>\n"
        % (DOMAIN, scram_el('romeo', 'pw-romeo'), DOMAIN, DOMAIN, DOMAIN))
    (d / 'juliet.xml').write_text(
        "<server-data xmlns='urn:xmpp:pie:0'><host jid='%s'>"
        "<user name='juliet' password='pw-juliet'/></host></server-data>"
        % DOMAIN)
    srv = make_server(users=())
    r = srv.ternctl_ok('import', str(tmp_path / 'prosody'))
    assert 'imported 2 accounts' in r.stdout, r.stdout
    # SHA-1 keys only: SCRAM-SHA-1 and PLAIN work, SHA-256 cannot
    assert can_login(srv, 'romeo', 'pw-romeo', 'SCRAM-SHA-1')
    assert can_login(srv, 'romeo', 'pw-romeo', 'PLAIN')
    assert not can_login(srv, 'romeo', 'wrong', 'SCRAM-SHA-1')
    assert can_login(srv, 'juliet', 'pw-juliet')
    s = connect_tls(srv.c2s)
    assert s.scram('SCRAM-SHA-1', 'romeo', 'pw-romeo').tag == \
        q(NS_SASL, 'success')
    s.open()
    s.bind('r')
    jul = 'juliet@' + DOMAIN
    assert roster(s) == {
        jul: ('Juliet', 'both', None, ['Lovers']),
        'benvolio@example.net': (None, 'none', 'subscribe', [])}
    assert vcard_fn(s) == 'Romeo Montague'
    its = ok(items(s, 'romeo@' + DOMAIN, 'http://jabber.org/protocol/nick'))
    assert its.find('.//{http://jabber.org/protocol/nick}nick').text == \
        'Romy'
    assert access_model(s, 'http://jabber.org/protocol/nick') == 'open'
    res, _, _ = query(s)
    assert [(i, body(m), st) for i, m, st in res] == [
        ('6e7f9c33-prosody', 'Wherefore art thou', '2023-07-10T23:08:25Z')]
    res, _, _ = query(s, {'with': jul})
    assert len(res) == 1
    # the pending request from mercutio is waiting: on presence it comes
    s.presence()
    p = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'presence')
                   and e.get('type') == 'subscribe')
    assert p.get('from') == 'mercutio@example.net'


def test_import_ejabberd_piefxis(make_server, tmp_path):
    """export_piefxis to a directory: a main file including one file per
    host (xi:include), SCRAM-SHA-256 credentials, offline messages, a
    privacy list holding blocks, private XML."""
    (tmp_path / 'main.xml').write_text(
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<server-data xmlns='urn:xmpp:pie:0' "
        "xmlns:xi='http://www.w3.org/2001/XInclude'>"
        "<xi:include href='%s.xml'/></server-data>" % DOMAIN)
    (tmp_path / ('%s.xml' % DOMAIN)).write_text(
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<host xmlns='urn:xmpp:pie:0' "
        "xmlns:xi='http://www.w3.org/2001/XInclude' jid='%s'>"
        "<user name='tybalt'>%s"
        "<offline-messages><message xmlns='jabber:client' "
        "from='mercutio@example.net/x' to='tybalt@%s' type='chat'>"
        "<body>a plague</body><delay xmlns='urn:xmpp:delay' "
        "from='%s' stamp='2024-01-02T03:04:05Z'>Offline Storage</delay>"
        "</message></offline-messages>"
        "<query xmlns='jabber:iq:privacy'><default name='Blocked contacts'/>"
        "<list name='Blocked contacts'><item type='jid' "
        "value='romeo@example.net' action='deny' order='1'/>"
        "<item action='allow' order='2'/></list>"
        "</query>"
        "<query xmlns='jabber:iq:private'><storage xmlns='storage:rosternotes'>"
        "<note jid='romeo@example.net'>Montague</note></storage></query>"
        "<query xmlns='jabber:iq:roster'><item jid='capulet@%s' "
        "subscription='from'/></query>"
        "<last xmlns='jabber:iq:last' seconds='5'/>"
        "</user>"
        "<user name='nurse' password='scram:%s,%s,%s,%d'/>"
        "<user name='lady' password='scram:sha256,%s,%s,%s,%d'/>"
        "</host>"
        % ((DOMAIN, scram_el('tybalt', 'pw-tybalt', 'SCRAM-SHA-256'),
            DOMAIN, DOMAIN, DOMAIN) + scram_keys('pw-nurse')
           + scram_keys('pw-lady', hashlib.sha256)))
    srv = make_server(users=())
    r = srv.ternctl_ok('import', str(tmp_path / 'main.xml'))
    assert 'imported 3 accounts' in r.stdout, r.stdout
    # ejabberd's older password='scram:...' form
    assert can_login(srv, 'nurse', 'pw-nurse', 'SCRAM-SHA-1')
    assert can_login(srv, 'lady', 'pw-lady', 'SCRAM-SHA-256')
    assert not can_login(srv, 'lady', 'pw-nurse', 'SCRAM-SHA-256')
    # what nobody takes is named, with its line
    assert re.search(r"\.xml:1: warning: tybalt@localhost: <last "
                     r"xmlns='jabber:iq:last'> not imported", r.stderr), \
        r.stderr
    assert 'privacy lists: only the default list' in r.stderr, r.stderr
    assert '1 other rules dropped' in r.stderr, r.stderr
    assert can_login(srv, 'tybalt', 'pw-tybalt')
    s = login(srv, 'tybalt', 'pw-tybalt')
    assert blocklist(s) == ['romeo@example.net']
    assert private(s, 'storage:rosternotes', 'storage').find(
        q('storage:rosternotes', 'note')).text == 'Montague'
    assert roster(s)['capulet@' + DOMAIN][1] == 'from'
    s.presence()
    m = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert body(m) == 'a plague'
    delay = m.find('{urn:xmpp:delay}delay')
    assert delay.get('stamp') == '2024-01-02T03:04:05Z'


def user_count(srv):
    return len([ln for ln in srv.ternctl_ok('users').stdout.splitlines()
                if ln.strip()])


def test_malformed_file_names_line_and_imports_nothing(make_server,
                                                       tmp_path):
    srv = make_server(users=())
    bad = tmp_path / 'bad.xml'
    bad.write_text(
        "<server-data xmlns='urn:xmpp:pie:0'>\n"
        "<host jid='%s'>\n"
        "<user name='first' password='pw-first'/>\n"
        "<user name='second' password='pw-second'>\n"
        "<vCard xmlns='vcard-temp'><FN>unclosed</vCard>\n"
        "</user></host></server-data>\n" % DOMAIN)
    r = srv.ternctl('import', str(bad))
    assert r.returncode == 1
    assert re.search(r'bad\.xml:5: not well-formed XML: mismatched tag',
                     r.stderr), r.stderr
    assert 'nothing imported' in r.stderr
    assert user_count(srv) == 0
    # a host that is not served, a bad user name, bad SCRAM keys
    for body_, line, what in (
            ("<host jid='elsewhere.example'>", 2,
             'elsewhere.example is not a host of'),
            ("<host jid='%s'>\n<user name='a b@c' password='x'/>" % DOMAIN,
             3, 'valid user name'),
            ("<host jid='%s'>\n<user name='nocreds'/>" % DOMAIN, 3,
             'nocreds@localhost: no password and no SCRAM credentials'),
            ("<host jid='%s'>\n<user name='z'>\n<scram-credentials "
             "xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>"
             "<iter-count>0</iter-count></scram-credentials>" % DOMAIN,
             4, 'iter-count is not a positive number')):
        bad.write_text("<server-data xmlns='urn:xmpp:pie:0'>\n%s\n%s"
                       "</server-data>\n" % (body_, '' if 'elsewhere' in body_
                                             else '</user></host>'
                                             if 'scram' in body_
                                             else '</host>'))
        r = srv.ternctl('import', str(bad))
        assert r.returncode == 1, r.stdout
        assert re.search(r'bad\.xml:%d: .*%s' % (line, re.escape(what)),
                         r.stderr), r.stderr
        assert user_count(srv) == 0
    # not XEP-0227 at all
    bad.write_text("<html><body/></html>")
    r = srv.ternctl('import', str(bad))
    assert r.returncode == 1
    assert "bad.xml:1: expected <server-data xmlns='urn:xmpp:pie:0'>" in \
        r.stderr


def test_account_over_a_cap_is_rolled_back_alone(make_server, tmp_path):
    """A vCard over vcard.max_size fails its account as a whole (the
    password and roster written before it go too); the others import."""
    srv = make_server(users=(), start=False)
    cfg = srv.config_text()
    line = '    modules: [%s]\n' % ', '.join(srv.modules)
    srv.write_config(cfg.replace(line, line + '    vcard: { max_size: 1k }\n'))
    srv.start()
    f = tmp_path / 'caps.xml'
    f.write_text(
        "<server-data xmlns='urn:xmpp:pie:0'><host jid='%s'>\n"
        "<user name='ok1' password='pw-ok1'/>\n"
        "<user name='big' password='pw-big'>\n"
        "<query xmlns='jabber:iq:roster'><item jid='x@example.net'/></query>\n"
        "<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard>\n"
        "</user>\n"
        "<user name='ok2' password='pw-ok2'/>\n"
        "</host></server-data>\n" % (DOMAIN, 'x' * 4000))
    r = srv.ternctl('import', str(f))
    assert r.returncode == 1
    assert re.search(r'caps\.xml:5: big@localhost: vCard of \d+ bytes, '
                     r'more than vcard\.max_size \(1024\); nothing of this '
                     r'account imported', r.stderr), r.stderr
    assert 'imported 2 accounts, 1 failed' in r.stdout
    users = srv.ternctl_ok('users').stdout.split()
    assert sorted(users) == ['ok1@localhost', 'ok2@localhost'], users
    assert can_login(srv, 'ok2', 'pw-ok2')

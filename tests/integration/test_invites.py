"""Invitations (XEP-0401 easy onboarding, XEP-0379 pre-approved roster
subscription, XEP-0445 pre-authenticated registration): tokens made by
`ternctl invite` and by ad-hoc command, registration that needs one when
register.invite_only is on, used-up and expired tokens refused, and the
inviter and the new account mutual contacts afterwards."""
import re
import sqlite3
import time

from ternlib import (NS_SASL, connect_tls, q, show, stanza_error)
from test_register import host_settings

NS_REG = 'jabber:iq:register'
NS_PARS = 'urn:xmpp:pars:0'
NS_IBR_TOKEN = 'urn:xmpp:ibr-token:0'
NS_ROSTER = 'jabber:iq:roster'
NS_CMD = 'http://jabber.org/protocol/commands'
NS_X = 'jabber:x:data'
PW = 'Str0ng-enough-pw'


def invite_server(make_server, **opts):
    srv = make_server(start=False)
    srv.modules.append('invites')
    reg = {'invite_only': 'true'}
    reg.update(opts)
    host_settings(srv, ['register: { %s }' % ', '.join(
        '%s: %s' % kv for kv in reg.items()),
        'admins: [ alice@localhost ]'])
    return srv.start()


def create(srv, *args):
    r = srv.ternctl_ok('invite', 'create', *args, 'localhost')
    token = re.search(r'^token (\S+)$', r.stdout, re.M).group(1)
    uri = r.stdout.splitlines()[1]
    return token, uri


def register(srv, user, token=None, preauth=None):
    """Register user on a new stream: token inside the query, or sent
    first as <preauth/>; returns the answer to the registration."""
    s = connect_tls(srv.c2s)
    assert s.features.find(q(NS_IBR_TOKEN, 'register')) is not None, \
        show(s.features)
    if preauth:
        r = s.iq('set', "<preauth xmlns='%s' token='%s'/>"
                 % (NS_PARS, preauth))
        if r.get('type') != 'result':
            s.close()
            return r
    extra = "<preauth xmlns='%s' token='%s'/>" % (NS_PARS, token) \
        if token else ''
    r = s.iq('set', "<query xmlns='%s'><username>%s</username>"
             "<password>%s</password>%s</query>" % (NS_REG, user, PW, extra))
    s.close()
    return r


def can_login(srv, user):
    s = connect_tls(srv.c2s)
    el = s.scram('SCRAM-SHA-256', user, PW)
    s.close()
    return el.tag == q(NS_SASL, 'success')


def roster(srv, user, pw=PW):
    s = connect_tls(srv.c2s)
    s.authenticate(user, pw)
    s.bind()
    r = s.iq('get', "<query xmlns='%s'/>" % NS_ROSTER)
    s.close()
    assert r.get('type') == 'result', show(r)
    return {i.get('jid'): i for i in r.find(q(NS_ROSTER, 'query'))}


def test_refused_without_token(make_server):
    srv = invite_server(make_server)
    r = register(srv, 'mallory')
    assert stanza_error(r) == 'forbidden', show(r)
    r = register(srv, 'mallory', token='A' * 24)
    assert stanza_error(r) == 'item-not-found', show(r)
    r = register(srv, 'mallory', preauth='nonsense')
    assert stanza_error(r) == 'item-not-found', show(r)
    assert not can_login(srv, 'mallory')


def test_ternctl_token_single_use(make_server):
    srv = invite_server(make_server)
    token, uri = create(srv)
    assert uri == 'xmpp:localhost?register;preauth=%s' % token
    listed = srv.ternctl_ok('invite', 'list', 'localhost').stdout
    assert token in listed and ' account ' in listed
    r = register(srv, 'newbie', preauth=token)
    assert r.get('type') == 'result', show(r)
    assert can_login(srv, 'newbie')
    # used up: gone from the list, refused again
    assert token not in srv.ternctl_ok('invite', 'list', 'localhost').stdout
    r = register(srv, 'second', token=token)
    assert stanza_error(r) == 'item-not-found', show(r)
    assert not can_login(srv, 'second')
    # no HTTP listener: no landing page to name
    out = srv.ternctl_ok('invite', 'create', 'localhost').stdout
    assert 'page ' not in out and '/invite/' not in out, out


def test_multi_use_and_revoke(make_server):
    srv = invite_server(make_server)
    token, _ = create(srv, '--uses', '2')
    for u in ('one', 'two'):
        r = register(srv, u, token=token)
        assert r.get('type') == 'result', show(r)
    assert stanza_error(register(srv, 'three', token=token)) == \
        'item-not-found'
    token, _ = create(srv)
    srv.ternctl_ok('invite', 'revoke', 'localhost', token)
    assert stanza_error(register(srv, 'four', token=token)) == \
        'item-not-found'
    r = srv.ternctl('invite', 'revoke', 'localhost', token)
    assert r.returncode == 1 and 'no such invitation' in r.stderr


def test_expired_refused(make_server):
    srv = invite_server(make_server)
    token, _ = create(srv, '--expires', '1s')
    time.sleep(2.2)
    r = register(srv, 'late', token=token)
    assert stanza_error(r) == 'item-not-found', show(r)
    assert not can_login(srv, 'late')


def test_bad_command_lines(make_server):
    srv = invite_server(make_server)
    for args, code in ((('--uses', '0'), 2), (('--expires', 'soon'), 2),
                       (('--contact', 'nobody@localhost'), 1)):
        r = srv.ternctl('invite', 'create', *args, 'localhost')
        assert r.returncode == code, (args, r.stdout, r.stderr)
    r = srv.ternctl('invite', 'create', 'elsewhere.example')
    assert r.returncode == 1 and 'not a host' in r.stderr


def test_contact_invite_mutual_roster(make_server):
    srv = invite_server(make_server)
    token, uri = create(srv, '--contact', 'alice@localhost', '--group',
                        'Friends')
    assert uri == 'xmpp:alice@localhost?roster;preauth=%s;ibr=y' % token
    r = register(srv, 'newfriend', preauth=token)
    assert r.get('type') == 'result', show(r)
    mine = roster(srv, 'newfriend')
    assert mine['alice@localhost'].get('subscription') == 'both', \
        show(mine['alice@localhost'])
    assert [g.text for g in mine['alice@localhost']] == ['Friends']
    from ternlib import password
    hers = roster(srv, 'alice', password('alice'))
    assert hers['newfriend@localhost'].get('subscription') == 'both'


def execute(s, node):
    return s.iq('set', "<command xmlns='%s' node='%s' action='execute'/>"
                % (NS_CMD, node), to='localhost')


def form_values(r):
    assert r.get('type') == 'result', show(r)
    c = r.find(q(NS_CMD, 'command'))
    assert c.get('status') == 'completed', show(c)
    return {f.get('var'): f.findtext(q(NS_X, 'value'))
            for f in c.find(q(NS_X, 'x'))}


def test_adhoc_invites(make_server):
    from ternlib import password
    srv = invite_server(make_server)
    bob = connect_tls(srv.c2s)
    bob.authenticate('bob', password('bob'))
    bob.bind()
    # a user invites a contact, and may not create accounts
    v = form_values(execute(bob, 'urn:xmpp:invite#invite'))
    assert v['uri'] == 'xmpp:bob@localhost?roster;preauth=%s;ibr=y' \
        % v['token']
    r = execute(bob, 'urn:xmpp:invite#create-account')
    assert stanza_error(r) in ('forbidden', 'item-not-found'), show(r)
    r = register(srv, 'bobsfriend', token=v['token'])
    assert r.get('type') == 'result', show(r)
    assert roster(srv, 'bob', password('bob'))[
        'bobsfriend@localhost'].get('subscription') == 'both'
    # the admin makes an account invitation
    alice = connect_tls(srv.c2s)
    alice.authenticate('alice', password('alice'))
    alice.bind()
    v = form_values(execute(alice, 'urn:xmpp:invite#create-account'))
    assert v['uri'] == 'xmpp:localhost?register;preauth=%s' % v['token']
    assert int(v['expire']) > time.time() + 6 * 86400
    assert register(srv, 'viaadmin', preauth=v['token']).get('type') == \
        'result'
    assert can_login(srv, 'viaadmin')


def test_cap_on_invitations(make_server):
    srv = invite_server(make_server)
    # fill the store directly (1000 live ones) rather than by 1000 runs
    db = srv.dir / 'tern.db'
    assert db.exists(), list(srv.dir.iterdir())
    token, _ = create(srv)
    con = sqlite3.connect(str(db))
    cols = [c[1] for c in con.execute("PRAGMA table_info(map)")]
    row = con.execute("SELECT * FROM map WHERE key=?", (token,)).fetchone()
    assert row is not None, cols
    rows = [tuple(('T%023d' % i) if c == 'key' else v
                  for c, v in zip(cols, row)) for i in range(999)]
    con.executemany("INSERT INTO map VALUES (%s)" % ','.join(
        '?' * len(cols)), rows)
    con.commit()
    con.close()
    r = srv.ternctl('invite', 'create', 'localhost')
    assert r.returncode == 1 and 'already holds 1000' in r.stderr, r.stderr


# ---- the landing page ----

def page_server(make_server):
    from httputil import http_server
    return http_server(make_server, modules_extra=('invites',),
                       host_extra='    register: { invite_only: true }\n')


def get(srv, path, method='GET', body=b''):
    from httputil import fetch
    headers = ()
    if body:
        headers = (('Content-Type', 'application/x-www-form-urlencoded'),)
    return fetch(srv.http, method, path, headers=headers, body=body)


def test_page_uri_and_qr(make_server):
    srv = page_server(make_server)
    token, uri = create(srv, '--contact', 'alice@localhost')
    r = get(srv, '/invite/' + token)
    assert r.status == 200, r
    assert r.header('content-type').startswith('text/html')
    html = r.body.decode()
    assert 'href="%s"' % uri in html
    for name in ('Conversations', 'Monocles', 'Monal', 'Siskin', 'Gajim',
                 'Dino'):
        assert name in html
    svg = re.search(r'<svg [^>]*viewBox="-4 -4 (\d+) \1".*?</svg>', html,
                    re.S)
    assert svg, html
    # a version-2+ code: 25 modules or more, quiet zone of 4 around
    assert int(svg.group(1)) >= 25 + 8
    assert svg.group(0).count('h1v1h-1z') > 100
    # unknown, malformed, used-up: 404 with a page saying so
    for bad in ('A' * 24, '<script>', ''):
        r = get(srv, '/invite/' + bad)
        assert r.status == 404, r
        assert 'Invitation not found' in r.body.decode()
        assert '<script>' not in r.body.decode()
    assert get(srv, '/invite/' + token, method='DELETE').status == 405


def test_create_names_the_page(make_server):
    """`ternctl invite create` prints the landing page's URL (what an
    admin passes on to someone without an XMPP client yet): the host's
    name and the HTTPS listener's port, and that URL serves the page."""
    from httputil import fetch
    srv = page_server(make_server)
    out = srv.ternctl_ok('invite', 'create', 'localhost').stdout
    token = re.search(r'^token (\S+)$', out, re.M).group(1)
    page = re.search(r'^page (\S+)$', out, re.M)
    assert page, out
    assert page.group(1) == 'https://localhost:%d/invite/%s' % (
        srv.https, token), out
    r = fetch(srv.https, 'GET', '/invite/' + token, tls=True)
    assert r.status == 200, r
    assert 'preauth=' + token in r.body.decode()
    # HTTP listeners but no invites module on the host: no page served,
    # none named
    from httputil import http_server
    other = http_server(make_server)
    out = other.ternctl_ok('invite', 'create', 'localhost').stdout
    assert re.search(r'^token \S+$', out, re.M), out
    assert 'page ' not in out and '/invite/' not in out, out


def test_web_registration(make_server):
    from urllib.parse import urlencode
    srv = page_server(make_server)
    token, _ = create(srv, '--contact', 'alice@localhost')
    path = '/invite/' + token

    def post(**fields):
        return get(srv, path, 'POST', urlencode(fields).encode())

    # the token of the form must be the page's
    r = post(token='B' * 24, username='webby', password=PW)
    assert r.status == 400 and 'does not match' in r.body.decode()
    r = post(token=token, username='webby', password='short')
    assert r.status == 400 and 'at least' in r.body.decode(), r.body
    # a name that is taken, escaped when shown back
    r = post(token=token, username='alice', password=PW)
    assert r.status == 400 and 'taken' in r.body.decode()
    r = post(token=token, username='<b>x</b>', password=PW)
    assert '<b>x</b>' not in r.body.decode()
    r = post(token=token, username='webby', password=PW)
    assert r.status == 200, r.body
    assert 'webby@localhost' in r.body.decode()
    assert can_login(srv, 'webby')
    from ternlib import password
    assert roster(srv, 'alice', password('alice'))[
        'webby@localhost'].get('subscription') == 'both'
    # used up now
    assert get(srv, path).status == 404
    r = post(token=token, username='webby2', password=PW)
    assert r.status == 404


def test_page_screenshot(make_server, tmp_path):
    import shutil
    import subprocess
    import pytest
    from pathlib import Path
    exe = shutil.which('chromium') or shutil.which('chromium-browser')
    if not exe:
        pytest.skip('chromium not installed (Debian package chromium)')
    srv = page_server(make_server)
    token, _ = create(srv)
    shot = tmp_path / 'invite-page.png'
    subprocess.run(
        [exe, '--headless=new', '--no-sandbox', '--disable-gpu',
         '--no-first-run', '--disable-extensions',
         '--disable-background-networking', '--window-size=800,1400',
         '--user-data-dir=%s' % (tmp_path / 'profile'),
         '--screenshot=%s' % shot,
         'http://localhost:%d/invite/%s' % (srv.http, token)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
        start_new_session=True)
    data = shot.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    artifacts = Path(__file__).resolve().parents[2] / 'build' / 'artifacts'
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / 'invite-page.png').write_bytes(data)


def test_existing_account_subscribes_with_token(make_server):
    """XEP-0379: an account that exists already (here bob) follows a
    contact invitation: its request with the token is approved at once
    and the inviter asks back."""
    from ternlib import password
    srv = invite_server(make_server)
    token, _ = create(srv, '--contact', 'alice@localhost')
    bob = connect_tls(srv.c2s)
    bob.authenticate('bob', password('bob'))
    bob.bind()
    bob.send("<presence/>")
    # a wrong token: an ordinary request, left for alice to answer
    bob.send("<presence to='alice@localhost' type='subscribe'>"
             "<preauth xmlns='%s' token='%s'/></presence>"
             % (NS_PARS, 'C' * 24))
    bob.nothing(0.5)
    bob.send("<presence to='carol@localhost' type='subscribe'>"
             "<preauth xmlns='%s' token='%s'/></presence>"
             % (NS_PARS, token))  # not the inviter: no approval
    bob.send("<presence to='alice@localhost' type='subscribe'>"
             "<preauth xmlns='%s' token='%s'/></presence>"
             % (NS_PARS, token))

    def pres(kind):
        return lambda el: (el.tag == '{jabber:client}presence'
                           and el.get('type') == kind
                           and el.get('from') == 'alice@localhost')
    bob.wait_for(pres('subscribed'))
    bob.wait_for(pres('subscribe'))
    hers = roster(srv, 'alice', password('alice'))
    item = hers['bob@localhost']
    assert item.get('subscription') == 'from', show(item)
    assert item.get('ask') == 'subscribe', show(item)
    assert token not in srv.ternctl_ok('invite', 'list',
                                       'localhost').stdout
    # bob approves: mutual
    bob.send("<presence to='alice@localhost' type='subscribed'/>")
    bob.nothing(0.5)
    assert roster(srv, 'alice', password('alice'))['bob@localhost'].get(
        'subscription') == 'both'

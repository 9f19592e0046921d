"""The welcome message: sent by the server to each new account, whether
created by ternctl (ternd running) or by in-band registration."""
from ternlib import connect_tls, q, show

NS_CLIENT = 'jabber:client'
TEXT = 'Welcome to Tern! Please turn on end-to-end encryption.'


def host_settings(srv, lines):
    """Put per-host module settings under the host in srv's config."""
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    srv.write_config(text[:at] + ''.join('    %s\n' % l for l in lines)
                     + text[at:])


def welcome_server(make_server, modules=None, extra=()):
    kw = {'start': False}
    if modules is not None:
        kw['modules'] = modules
    srv = make_server(**kw)
    host_settings(srv, ['welcome: { message: "%s" }' % TEXT] + list(extra))
    return srv.start()


def test_no_message_by_default(server):
    server.ternctl_ok('adduser', 'dave@localhost', 'pw-dave-1')
    s = connect_tls(server.c2s)
    s.authenticate('dave', 'pw-dave-1')
    s.bind()
    s.presence()
    s.alive()
    s.nothing(within=0.5)


def first_login_messages(srv, user, pw):
    s = connect_tls(srv.c2s)
    s.authenticate(user, pw)
    s.bind()
    s.presence()
    return s


def test_welcome_at_first_login_via_ternctl(make_server):
    """ternctl adduser tells the running ternd (user-created), whose
    welcome module sends the message to the new, still offline, account;
    the offline module keeps it until the first login."""
    mods = ['disco', 'ping', 'welcome', 'offline']
    srv = welcome_server(make_server, modules=mods)
    srv.ternctl_ok('adduser', 'dave@localhost', 'pw-dave-1')
    s = first_login_messages(srv, 'dave', 'pw-dave-1')
    m = s.wait_message(timeout=5)
    assert m.get('from') == 'localhost', show(m)
    assert m.get('to', '').startswith('dave@localhost'), show(m)
    assert m.findtext(q(NS_CLIENT, 'body')) == TEXT
    # only once
    s.close()
    s = first_login_messages(srv, 'dave', 'pw-dave-1')
    s.alive()
    s.nothing(within=0.5)


def test_welcome_after_in_band_registration(make_server):
    mods = ['disco', 'ping', 'register', 'welcome', 'offline']
    srv = welcome_server(make_server, modules=mods,
                         extra=['register: { allow_registration: true }'])
    s = connect_tls(srv.c2s)
    r = s.iq('set', "<query xmlns='jabber:iq:register'><username>erin"
             "</username><password>Good-Pass-42</password></query>")
    assert r.get('type') == 'result', show(r)
    s.authenticate('erin', 'Good-Pass-42')
    s.bind()
    s.presence()
    m = s.wait_message(timeout=5)
    assert m.get('from') == 'localhost'
    assert m.findtext(q(NS_CLIENT, 'body')) == TEXT


def test_welcome_not_sent_to_existing_accounts(make_server):
    mods = ['disco', 'ping', 'welcome', 'offline']
    srv = welcome_server(make_server, modules=mods)
    s = first_login_messages(srv, 'alice', 'secret-alice')
    s.alive()
    s.nothing(within=0.5)

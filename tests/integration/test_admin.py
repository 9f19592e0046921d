"""XEP-0133 Service Administration: the admin module's ad-hoc commands
(XEP-0050), run by the host's `admins:` with raw XML, refused to everyone
else; disabled accounts (RFC 6120 §6.5.1 <account-disabled/>); the
message of the day; `ternctl status` and `ternctl reload`."""
import pytest

from ternlib import (NS_CLIENT, NS_SASL, NS_STANZAS, NS_STREAMS, RawStream,
                     connect_tls, password, q, sasl_failure, show,
                     stanza_error)
from test_register import host_settings

NS_CMD = 'http://jabber.org/protocol/commands'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_X = 'jabber:x:data'
ADMIN = 'http://jabber.org/protocol/admin'
D = 'localhost'


def node(name):
    return '%s#%s' % (ADMIN, name)


def admin_server(make_server, users=('alice', 'bob', 'carol')):
    srv = make_server(start=False, users=users)
    srv.modules.append('admin')
    host_settings(srv, ['admins: [ Alice@localhost ]'])
    return srv.start()


@pytest.fixture(scope='module')
def asrv(tmp_path_factory, cert_pem):
    """One admin-enabled server for the tests that change nothing that
    the others look at (accounts used are their own)."""
    from conftest import _Servers
    servers = _Servers(tmp_path_factory, cert_pem)
    srv = admin_server(servers, users=('alice', 'bob', 'carol', 'dave',
                                       'erin', 'frank'))
    yield srv
    servers.finish()


def field_xml(var, values):
    if isinstance(values, str):
        values = [values]
    return "<field var='%s'>%s</field>" % (var, ''.join(
        '<value>%s</value>' % v for v in values))


def execute(s, name, extra=''):
    return s.iq('set', "<command xmlns='%s' node='%s' action='execute'%s/>"
                % (NS_CMD, node(name), extra), to=D)


def submit(s, name, sid, fields, action=''):
    form = ("<x xmlns='%s' type='submit'>%s%s</x>"
            % (NS_X, field_xml('FORM_TYPE', ADMIN),
               ''.join(field_xml(k, v) for k, v in fields.items())))
    act = " action='%s'" % action if action else ''
    return s.iq('set', "<command xmlns='%s' node='%s' sessionid='%s'%s>%s"
                "</command>" % (NS_CMD, node(name), sid, act, form), to=D)


def command(r):
    assert r.get('type') == 'result', show(r)
    return r.find(q(NS_CMD, 'command'))


def run(s, name, fields):
    """Execute, check the form (XEP-0133's fields), submit it; returns the
    completed <command/>."""
    c = command(execute(s, name))
    assert c.get('status') == 'executing', show(c)
    x = c.find(q(NS_X, 'x'))
    assert x is not None and x.get('type') == 'form', show(c)
    vars_ = {f.get('var') for f in x.iter(q(NS_X, 'field'))}
    assert 'FORM_TYPE' in vars_ and set(fields) <= vars_, show(c)
    acts = c.find(q(NS_CMD, 'actions'))
    assert acts is not None and acts.find(q(NS_CMD, 'complete')) is not None
    r = submit(s, name, c.get('sessionid'), fields)
    c2 = command(r)
    assert c2.get('status') == 'completed', show(r)
    assert c2.get('sessionid') == c.get('sessionid')
    return c2


def run_error(s, name, fields):
    c = command(execute(s, name))
    return submit(s, name, c.get('sessionid'), fields)


def values(c, var):
    x = c.find(q(NS_X, 'x'))
    for f in x.iter(q(NS_X, 'field')):
        if f.get('var') == var:
            return [v.text or '' for v in f.iter(q(NS_X, 'value'))]
    raise AssertionError('no field %s in %s' % (var, show(c)))


def error_text(r):
    t = r.find('%s/%s' % (q(NS_CLIENT, 'error'), q(NS_STANZAS, 'text')))
    return t.text if t is not None else ''


def login(srv, user, pw=None, resource='r'):
    return connect_tls(srv.c2s, user, resource) if pw is None else \
        _login_pw(srv, user, pw, resource)


def _login_pw(srv, user, pw, resource):
    s = RawStream(srv.c2s)
    s.domain = D
    s.open()
    s.starttls()
    s.authenticate(user, pw)
    s.bind(resource)
    return s


def try_login(srv, user, pw=None):
    """SASL only: the <success/> or <failure/>."""
    s = RawStream(srv.c2s)
    s.domain = D
    s.open()
    s.starttls()
    return s, s.scram('SCRAM-SHA-256', user, pw or password(user))


# ------------------------------------------------------------ discovery

def test_listed_for_admins_only(asrv):
    """XEP-0133 §2: the commands are disco nodes of the server; §6 and
    XEP-0050 §4.1: a non-admin does not see them in disco#items and gets
    <forbidden/> when it asks for one or runs it anyway."""
    a = login(asrv, 'alice')
    r = a.iq('get', "<query xmlns='%s' node='%s'/>" % (NS_ITEMS, NS_CMD),
             to=D)
    nodes = {i.get('node') for i in r.iter(q(NS_ITEMS, 'item'))}
    want = {node(n) for n in (
        'add-user', 'delete-user', 'disable-user', 'reenable-user',
        'end-user-session', 'change-user-password', 'user-stats',
        'get-registered-users-num', 'get-online-users-num',
        'get-online-users-list', 'announce', 'set-motd', 'edit-motd',
        'delete-motd')}
    assert want <= nodes and 'ping' in nodes, show(r)
    b = login(asrv, 'bob')
    r = b.iq('get', "<query xmlns='%s' node='%s'/>" % (NS_ITEMS, NS_CMD),
             to=D)
    nodes = {i.get('node') for i in r.iter(q(NS_ITEMS, 'item'))}
    assert nodes == {'ping', 'uptime', 'storage'}, show(r)
    for name in ('add-user', 'delete-user', 'announce', 'set-motd'):
        r = execute(b, name)
        assert stanza_error(r) == 'forbidden', show(r)
        r = b.iq('get', "<query xmlns='%s' node='%s'/>"
                 % (NS_INFO, node(name)), to=D)
        assert stanza_error(r) == 'forbidden', show(r)
    # a session id of an admin's command is no way in either
    c = command(execute(a, 'add-user'))
    r = submit(b, 'add-user', c.get('sessionid'),
               {'accountjid': 'mallory@localhost', 'password': 'x'})
    assert stanza_error(r) == 'forbidden', show(r)
    r = submit(a, 'add-user', c.get('sessionid'), {}, action='cancel')
    assert command(r).get('status') == 'canceled'


# ------------------------------------------------------------ accounts

def test_add_change_delete(asrv):
    """§4.1 add-user creates an account that logs in; §4.7
    change-user-password; §4.2 delete-user ends its sessions and removes
    it (conflict on an existing JID, bad-request on bad input)."""
    a = login(asrv, 'alice')
    c = run(a, 'add-user', {'accountjid': 'newbie@localhost',
                            'password': 'pw-one',
                            'password-verify': 'pw-one'})
    s = login(asrv, 'newbie', 'pw-one')
    r = run_error(a, 'add-user', {'accountjid': 'newbie@localhost',
                                  'password': 'x', 'password-verify': 'x'})
    assert stanza_error(r) == 'conflict', show(r)
    for fields, text in (
            ({'accountjid': 'x@localhost', 'password': 'a',
              'password-verify': 'b'}, 'do not match'),
            ({'accountjid': 'x@elsewhere.example', 'password': 'a'},
             'not an account of localhost'),
            ({'accountjid': '@@', 'password': 'a'}, 'not a valid JID'),
            ({'accountjid': 'x@localhost/r', 'password': 'a'},
             'no resource'),
            ({'password': 'a'}, "'accountjid'"),
            ({'accountjid': 'y@localhost'}, "'password'")):
        r = run_error(a, 'add-user', fields)
        assert stanza_error(r) == 'bad-request', show(r)
        assert text in error_text(r), show(r)
    c = run(a, 'change-user-password', {'accountjid': 'newbie@localhost',
                                        'password': 'pw-two'})
    _, el = try_login(asrv, 'newbie', 'pw-one')
    assert sasl_failure(el) == 'not-authorized'
    login(asrv, 'newbie', 'pw-two', resource='other').close()
    r = run_error(a, 'change-user-password',
                  {'accountjid': 'ghost@localhost', 'password': 'x'})
    assert stanza_error(r) == 'bad-request', show(r)
    assert 'no such account' in error_text(r)
    c = run(a, 'delete-user', {'accountjids': ['newbie@localhost']})
    assert '1 account deleted' in c.find(q(NS_CMD, 'note')).text
    s.assert_stream_error('not-authorized')
    _, el = try_login(asrv, 'newbie', 'pw-two')
    assert sasl_failure(el) == 'not-authorized'
    r = run_error(a, 'delete-user', {'accountjids': ['newbie@localhost']})
    assert stanza_error(r) == 'bad-request', show(r)


def test_disable_reenable(asrv):
    """§4.3 disable-user ends the sessions and refuses logins with
    RFC 6120 §6.5.1 <account-disabled/> (PLAIN and SCRAM, only after the
    password was proved), keeping the account's data; §4.4
    reenable-user lets it in again with its data."""
    a = login(asrv, 'alice')
    d = login(asrv, 'dave')
    r = d.iq('set', "<query xmlns='jabber:iq:private'><keep xmlns='k'>"
             "mine</keep></query>")
    assert r.get('type') == 'result', show(r)
    run(a, 'disable-user', {'accountjids': ['dave@localhost']})
    d.assert_stream_error('not-authorized')
    s, el = try_login(asrv, 'dave')
    assert sasl_failure(el) == 'account-disabled', show(el)
    assert 'disabled' in (el.find(q(NS_SASL, 'text')).text or '')
    s = RawStream(asrv.c2s)
    s.domain = D
    s.open()
    s.starttls()
    assert sasl_failure(s.plain('dave', password('dave'))) == \
        'account-disabled'
    # a wrong password learns nothing about the state
    assert sasl_failure(s.plain('dave', 'wrong')) == 'not-authorized'
    c = command(execute(a, 'get-disabled-users-num'))
    assert values(c, 'disabledusersnum') == ['1'], show(c)
    run(a, 'reenable-user', {'accountjids': ['dave@localhost']})
    d = login(asrv, 'dave')
    r = d.iq('get', "<query xmlns='jabber:iq:private'><keep xmlns='k'/>"
             "</query>")
    assert r.find('.//{k}keep').text == 'mine', show(r)
    c = command(execute(a, 'get-disabled-users-num'))
    assert values(c, 'disabledusersnum') == ['0'], show(c)


def test_end_user_session(asrv):
    """§4.5: a full JID ends that session only, a bare JID all of the
    account's; the account may log in again (a kick, not a ban)."""
    a = login(asrv, 'alice')
    e1 = login(asrv, 'erin', resource='one')
    e2 = login(asrv, 'erin', resource='two')
    c = run(a, 'end-user-session', {'accountjids': ['erin@localhost/one']})
    assert '1 session ended' in c.find(q(NS_CMD, 'note')).text
    e1.assert_stream_error('policy-violation')
    e2.alive()
    e3 = login(asrv, 'erin', resource='three')
    c = run(a, 'end-user-session', {'accountjids': ['erin@localhost']})
    assert '2 sessions ended' in c.find(q(NS_CMD, 'note')).text
    e2.assert_stream_error('policy-violation')
    e3.assert_stream_error('policy-violation')
    login(asrv, 'erin').alive()
    r = run_error(a, 'end-user-session', {'accountjids': []})
    assert stanza_error(r) == 'bad-request', show(r)
    assert 'at least one' in error_text(r)


# ------------------------------------------------------------ statistics

def test_counts_and_lists(asrv):
    """§4.13 registered, §4.15 online number, §4.20 online list (with
    max_items), §4.10 user statistics."""
    a = login(asrv, 'alice', resource='desk')
    f1 = login(asrv, 'frank', resource='home')
    f2 = login(asrv, 'frank', resource='work')
    c = command(execute(a, 'get-registered-users-num'))
    assert c.get('status') == 'completed'
    assert int(values(c, 'registeredusersnum')[0]) >= 6, show(c)
    c = command(execute(a, 'get-online-users-num'))
    n = int(values(c, 'onlineusersnum')[0])
    assert n >= 2, show(c)
    c = run(a, 'get-online-users-list', {'max_items': 'none'})
    jids = values(c, 'onlineuserjids')
    assert 'alice@localhost' in jids and 'frank@localhost' in jids
    assert len(jids) == len(set(jids)) == n, show(c)
    c = run(a, 'get-online-users-list', {'max_items': '1'})
    assert len(values(c, 'onlineuserjids')) == 1, show(c)
    r = run_error(a, 'get-online-users-list', {'max_items': 'lots'})
    assert stanza_error(r) == 'bad-request', show(r)
    assert 'max_items' in error_text(r)
    c = run(a, 'user-stats', {'accountjid': 'frank@localhost'})
    assert sorted(values(c, 'onlineresources')) == ['home', 'work']
    assert values(c, 'ipaddresses') == ['127.0.0.1'] * 2, show(c)
    assert values(c, 'rostersize') == ['0']
    f1.close()
    f2.close()


# ------------------------------------------------------------ announcements

def test_announce(asrv):
    """§4.23: the announcement reaches every online session of the host,
    from the server; an empty one is bad-request."""
    a = login(asrv, 'alice')
    b = login(asrv, 'bob')
    c = login(asrv, 'carol')
    run(a, 'announce', {'announcement': ['Going down', 'in 5 minutes']})
    for s in (a, b, c):
        m = s.wait_message()
        assert m.get('from') == D and m.get('type') == 'headline'
        assert m.find(q(NS_CLIENT, 'body')).text == \
            'Going down\nin 5 minutes', show(m)
    r = run_error(a, 'announce', {'announcement': ['  ']})
    assert stanza_error(r) == 'bad-request', show(r)


def motd_of(s):
    m = s.wait_message()
    assert m.get('from') == D and m.get('type') == 'normal', show(m)
    return m.find(q(NS_CLIENT, 'body')).text


def no_message(s):
    """No message is queued or arrives: s.alive() came back first, so
    the server had sent everything it would for the login."""
    try:
        m = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'), 0.5)
    except TimeoutError:
        return
    raise AssertionError('unexpected message: %s' % show(m))


def online(srv, user, resource='r'):
    s = login(srv, user, resource=resource)
    s.presence()
    return s


def test_motd(make_server):
    """§4.24-4.26: the message of the day goes to those online when it is
    set and to each other account at its next login, once; an edited one
    goes out again (the form shows the current text); a deleted one is
    sent no more."""
    srv = admin_server(make_server)
    a = online(srv, 'alice')
    b = online(srv, 'bob')
    a.alive()
    b.alive()
    run(a, 'set-motd', {'motd': ['Welcome', 'to the server']})
    assert motd_of(a) == 'Welcome\nto the server'
    assert motd_of(b) == 'Welcome\nto the server'
    c = online(srv, 'carol')
    assert motd_of(c) == 'Welcome\nto the server'
    c.close()
    c = online(srv, 'carol', 'again')
    c.alive()
    no_message(c)
    c.close()
    cmd = command(execute(a, 'edit-motd'))
    x = cmd.find(q(NS_X, 'x'))
    cur = [v.text for f in x.iter(q(NS_X, 'field'))
           if f.get('var') == 'motd' for v in f.iter(q(NS_X, 'value'))]
    assert cur == ['Welcome', 'to the server'], show(cmd)
    r = submit(a, 'edit-motd', cmd.get('sessionid'),
               {'motd': 'Maintenance tonight'})
    assert command(r).get('status') == 'completed'
    assert motd_of(a) == 'Maintenance tonight'
    c = online(srv, 'carol', 'third')
    assert motd_of(c) == 'Maintenance tonight'
    c.close()
    c = command(execute(a, 'delete-motd'))
    assert c.get('status') == 'completed'
    # a new account logs in: nothing
    run(a, 'add-user', {'accountjid': 'dora@localhost', 'password': 'pw'})
    d = RawStream(srv.c2s)
    d.domain = D
    d.open()
    d.starttls()
    d.authenticate('dora', 'pw')
    d.bind('r')
    d.presence()
    d.alive()
    no_message(d)


# ------------------------------------------------------------ config, ternctl

def test_admins_config_checked(make_server):
    """A JID in admins: that is not a bare JID is a config error with
    file:line."""
    srv = make_server(start=False)
    host_settings(srv, ['admins: [ "alice@localhost/phone" ]'])
    rc, err = srv.run_to_exit()
    assert rc != 0 and 'tern.yml:' in err and 'admins' in err, err
    assert 'not a bare JID' in err, err


def test_ternctl_status_reload(make_server):
    """`ternctl status` counts sessions, connections by kind, queued bytes
    and the storage size; `ternctl reload` reloads the configuration (a
    new admin can run the commands at once)."""
    srv = admin_server(make_server)
    b = login(srv, 'bob')
    login(srv, 'carol').alive()
    out = srv.ternctl_ok('status').stdout
    kv = dict(w.split('=', 1) for w in out.split() if '=' in w)
    assert kv['sessions'] == '2' and kv['c2s'] == '2', out
    for k in ('s2s_in', 's2s_out', 'queued', 'storage_bytes'):
        assert kv[k].isdigit(), out
    assert int(kv['storage_bytes']) > 0, out
    assert stanza_error(execute(b, 'announce')) == 'forbidden'
    text = srv.config.read_text().replace(
        'admins: [ Alice@localhost ]', 'admins: [ alice@localhost, '
        'bob@localhost ]')
    srv.write_config(text)
    assert 'ok' in srv.ternctl_ok('reload').stdout
    c = command(execute(b, 'announce'))
    assert c.get('status') == 'executing', show(c)
    srv.write_config(text.replace('bob@localhost', 'bob@x/y'))
    r = srv.ternctl('reload')
    assert r.returncode == 1 and 'not a bare JID' in r.stderr, r.stderr


def test_ternctl_disable_enable(make_server):
    """`ternctl disable` does what disable-user does (RFC 6120 §6.5.1
    account-disabled, sessions ended) from a terminal, with ternd running
    or not; `ternctl enable` undoes it."""
    srv = make_server()
    b = login(srv, 'bob')
    srv.ternctl_ok('disable', 'bob@localhost')
    b.assert_stream_error('not-authorized')
    _, el = try_login(srv, 'bob')
    assert sasl_failure(el) == 'account-disabled', show(el)
    r = srv.ternctl('disable', 'nobody@localhost')
    assert r.returncode == 1 and 'no such account' in r.stderr, r.stderr
    srv.ternctl_ok('enable', 'bob@localhost')
    login(srv, 'bob').alive()
    assert srv.stop() == []
    srv.ternctl_ok('disable', 'carol@localhost')
    srv.start()
    _, el = try_login(srv, 'carol')
    assert sasl_failure(el) == 'account-disabled', show(el)

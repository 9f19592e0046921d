"""XEP-0077 In-Band Registration: off by default; when on, the stream
feature, the form, account creation with its errors, password strength
and per-IP throttling; once logged in (even with registration off),
registration info, password change and account removal."""
from ternlib import (NS_SASL, NS_STREAM, StreamClosed, RawStream,
                     connect_tls, q, show, stanza_error)

NS_REG = 'jabber:iq:register'
NS_FEATURE = 'http://jabber.org/features/iq-register'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'


def host_settings(srv, lines):
    """Put per-host module settings under the host in srv's config."""
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    srv.write_config(text[:at] + ''.join('    %s\n' % l for l in lines)
                     + text[at:])


def open_server(make_server, **settings):
    srv = make_server(start=False)
    opts = {'allow_registration': 'true'}
    opts.update(settings)
    host_settings(srv, ['register: { %s }' % ', '.join(
        '%s: %s' % kv for kv in opts.items())])
    return srv.start()


def register(s, user, pw):
    body = ''
    if user is not None:
        body += '<username>%s</username>' % user
    if pw is not None:
        body += '<password>%s</password>' % pw
    return s.iq('set', "<query xmlns='%s'>%s</query>" % (NS_REG, body))


def error_text(r):
    return r.find(q('jabber:client', 'error')).findtext(q(NS_STANZAS,
                                                          'text')) or ''


def can_login(server, user, pw):
    s = connect_tls(server.c2s)
    el = s.scram('SCRAM-SHA-256', user, pw)
    s.close()
    return el.tag == q(NS_SASL, 'success')


def test_off_by_default(server):
    s = connect_tls(server.c2s)
    assert s.features.find(q(NS_FEATURE, 'register')) is None, \
        show(s.features)
    r = s.iq('get', "<query xmlns='%s'/>" % NS_REG)
    assert r.get('type') == 'error', show(r)
    assert stanza_error(r) == 'service-unavailable'
    r = register(s, 'mallory', 'Str0ng-enough')
    assert stanza_error(r) == 'service-unavailable'
    # the stream is still usable for logging in
    s.authenticate('alice')
    s.bind()
    assert not can_login(server, 'mallory', 'Str0ng-enough')


def test_feature_and_form(make_server):
    srv = open_server(make_server)
    s = RawStream(srv.c2s)
    before_tls = s.open()
    # TLS is required: nothing pre-auth is offered before it
    assert before_tls.find(q(NS_FEATURE, 'register')) is None
    feats = s.starttls()
    assert feats.find(q(NS_FEATURE, 'register')) is not None, show(feats)
    r = s.iq('get', "<query xmlns='%s'/>" % NS_REG)
    assert r.get('type') == 'result', show(r)
    form = r.find(q(NS_REG, 'query'))
    assert form.find(q(NS_REG, 'username')) is not None
    assert form.find(q(NS_REG, 'password')) is not None
    assert form.findtext(q(NS_REG, 'instructions'))


def test_no_registration_before_tls(make_server):
    srv = open_server(make_server)
    s = RawStream(srv.c2s)
    s.open()
    s.send("<iq type='get' id='r1'><query xmlns='%s'/></iq>" % NS_REG)
    s.assert_stream_error('not-authorized')


def test_register_then_login(make_server):
    srv = open_server(make_server)
    s = connect_tls(srv.c2s)
    r = register(s, 'Dave', 'Correct-Horse-9')
    assert r.get('type') == 'result', show(r)
    # the same stream goes on to authenticate (username nodeprep'd)
    s.authenticate('dave', 'Correct-Horse-9')
    s.bind()
    s.alive()
    assert 'dave@localhost' in srv.ternctl_ok('users').stdout


def test_register_errors(make_server):
    srv = open_server(make_server)
    s = connect_tls(srv.c2s)
    r = register(s, 'alice', 'Another-Pass-1')
    assert stanza_error(r) == 'conflict'
    assert r.find(q(NS_REG, 'query')) is None, 'request echoed: ' + show(r)
    assert can_login(srv, 'alice', 'secret-alice')
    assert stanza_error(register(s, 'erin', None)) == 'not-acceptable'
    assert stanza_error(register(s, None, 'Good-Pass-42')) == \
        'not-acceptable'
    assert stanza_error(register(s, '', 'Good-Pass-42')) == 'not-acceptable'
    r = register(s, 'bad@name', 'Good-Pass-42')
    assert stanza_error(r) == 'not-acceptable', show(r)
    # <remove/> needs a login
    r = s.iq('set', "<query xmlns='%s'><remove/></query>" % NS_REG)
    assert stanza_error(r) == 'not-authorized'
    assert can_login(srv, 'alice', 'secret-alice')


def test_password_strength(make_server):
    srv = open_server(make_server)
    s = connect_tls(srv.c2s)
    for pw, why in (('Sh0rt!', 'at least 8'),
                    ('abcdefghij', 'mixed'),       # one class, < 12
                    ('12345678901', 'mixed'),
                    ('ABCDEFGHIJK', 'mixed')):
        r = register(s, 'frank', pw)
        assert stanza_error(r) == 'not-acceptable', (pw, show(r))
        assert why.split()[0] in error_text(r) or why in error_text(r), \
            (pw, error_text(r))
    r = register(s, 'Frank-Frank-1', 'frank-frank-1')
    assert stanza_error(r) == 'not-acceptable'
    assert 'username' in error_text(r)
    assert not can_login(srv, 'frank', 'abcdefghij')
    # one class is fine from 12 characters, two classes from 8
    assert register(s, 'frank', 'abcdefghijkl').get('type') == 'result'
    assert register(s, 'grace', 'abcd1234').get('type') == 'result'
    assert can_login(srv, 'grace', 'abcd1234')


def test_min_password_length_setting(make_server):
    srv = open_server(make_server, min_password_length=14)
    s = connect_tls(srv.c2s)
    r = register(s, 'heidi', 'Abcdefgh-123')
    assert stanza_error(r) == 'not-acceptable'
    assert '14' in error_text(r)
    assert register(s, 'heidi', 'Abcdefgh-12345').get('type') == 'result'


def test_throttling_per_ip(make_server):
    srv = open_server(make_server, registrations_per_ip_per_hour=2)
    # failed attempts do not count
    s = connect_tls(srv.c2s)
    assert stanza_error(register(s, 'alice', 'Good-Pass-20')) == 'conflict'
    assert stanza_error(register(s, 'zed', 'weak')) == 'not-acceptable'
    for i in range(2):
        s = connect_tls(srv.c2s)
        r = register(s, 'user%d' % i, 'Good-Pass-%d0' % i)
        assert r.get('type') == 'result', show(r)
        s.close()
    s = connect_tls(srv.c2s)
    r = register(s, 'user2', 'Good-Pass-20')
    assert stanza_error(r) == 'policy-violation', show(r)
    assert r.find(q('jabber:client', 'error')).get('type') == 'wait'
    assert not can_login(srv, 'user2', 'Good-Pass-20')
    assert can_login(srv, 'user1', 'Good-Pass-10')


def test_throttling_default_is_three(make_server):
    srv = open_server(make_server)
    s = connect_tls(srv.c2s)
    for i in range(3):
        assert register(s, 'u%d' % i, 'Good-Pass-%d0' % i).get('type') == \
            'result'
    assert stanza_error(register(s, 'u3', 'Good-Pass-30')) == \
        'policy-violation'


def logged_in(server, user='alice', pw=None, resource=None):
    s = connect_tls(server.c2s)
    s.authenticate(user, pw)
    s.bind(resource)
    return s


def test_registered_info_when_logged_in(server):
    s = logged_in(server)
    for to in (None, 'localhost', 'alice@localhost'):
        r = s.iq('get', "<query xmlns='%s'/>" % NS_REG, to=to)
        assert r.get('type') == 'result', show(r)
        query = r.find(q(NS_REG, 'query'))
        assert query.find(q(NS_REG, 'registered')) is not None
        assert query.findtext(q(NS_REG, 'username')) == 'alice'


def test_password_change_with_registration_off(server):
    s = logged_in(server)
    r = s.iq('set', "<query xmlns='%s'><username>alice</username>"
             "<password>New-Secret-77</password></query>" % NS_REG,
             to='localhost')
    assert r.get('type') == 'result', show(r)
    s.alive()  # the stream stays up
    assert can_login(server, 'alice', 'New-Secret-77')
    assert not can_login(server, 'alice', 'secret-alice')
    # without 'to' and without <username/> too
    r = s.iq('set', "<query xmlns='%s'><password>Third-Secret-88"
             "</password></query>" % NS_REG)
    assert r.get('type') == 'result', show(r)
    assert can_login(server, 'alice', 'Third-Secret-88')


def test_password_change_errors(server):
    s = logged_in(server)
    r = s.iq('set', "<query xmlns='%s'><username>alice</username>"
             "<password>short</password></query>" % NS_REG)
    assert stanza_error(r) == 'not-acceptable'
    assert r.find(q(NS_REG, 'query')) is None, 'password echoed: ' + show(r)
    r = s.iq('set', "<query xmlns='%s'><username>alice</username>"
             "<password/></query>" % NS_REG)
    assert stanza_error(r) == 'bad-request'
    r = s.iq('set', "<query xmlns='%s'><username>bob</username>"
             "<password>Bobs-New-Pass-1</password></query>" % NS_REG)
    assert stanza_error(r) == 'forbidden'
    r = s.iq('set', "<query xmlns='%s'><password>Bobs-New-Pass-1"
             "</password></query>" % NS_REG, to='bob@localhost')
    assert stanza_error(r) == 'forbidden'
    assert can_login(server, 'alice', 'secret-alice')
    assert can_login(server, 'bob', 'secret-bob')


def test_remove_account_while_logged_in(server):
    other = logged_in(server, resource='phone')
    s = logged_in(server, resource='laptop')
    s.send("<iq type='set' id='unreg1'><query xmlns='%s'><remove/>"
           "</query></iq>" % NS_REG)
    # the result comes first, then the stream error ends the stream
    first = s.next()
    assert first.tag == q('jabber:client', 'iq'), show(first)
    assert first.get('id') == 'unreg1' and first.get('type') == 'result', \
        show(first)
    s.assert_stream_error('not-authorized')
    other.assert_stream_error('not-authorized')
    assert not can_login(server, 'alice', 'secret-alice')
    assert 'alice@localhost' not in server.ternctl_ok('users').stdout
    assert can_login(server, 'bob', 'secret-bob')


def test_remove_must_be_alone(server):
    s = logged_in(server)
    r = s.iq('set', "<query xmlns='%s'><remove/><username>alice</username>"
             "</query>" % NS_REG)
    assert stanza_error(r) == 'bad-request'
    s.alive()
    assert can_login(server, 'alice', 'secret-alice')


def test_remove_other_account_forbidden(server):
    s = logged_in(server)
    r = s.iq('set', "<query xmlns='%s'><remove/></query>" % NS_REG,
             to='bob@localhost')
    assert stanza_error(r) == 'forbidden'
    assert can_login(server, 'bob', 'secret-bob')


def test_throttling_per_network(make_server):
    """The /24 of the address has its own limit, counted over all its
    addresses: three loopback addresses of one /24, one registration
    each allowed per address, two for the network."""
    srv = open_server(make_server, registrations_per_ip_per_hour=1,
                      registrations_per_network_per_hour=2)
    for i in range(2):
        s = connect_tls(srv.c2s, source='127.0.0.%d' % (i + 2))
        r = register(s, 'net%d' % i, 'Good-Pass-%d0' % i)
        assert r.get('type') == 'result', show(r)
        s.close()
    s = connect_tls(srv.c2s, source='127.0.0.4')
    r = register(s, 'net2', 'Good-Pass-20')
    assert stanza_error(r) == 'policy-violation', show(r)
    assert 'network' in error_text(r)
    assert not can_login(srv, 'net2', 'Good-Pass-20')
    # another /24 is not affected
    s = connect_tls(srv.c2s, source='127.0.1.2')
    assert register(s, 'net3', 'Good-Pass-30').get('type') == 'result'

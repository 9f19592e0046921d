"""Resource binding (RFC 6120 §7) and the legacy session iq (RFC 3921)."""
from ternlib import (NS_BIND, NS_SESSION, connect_tls, q, show)


def authed(server, user='alice'):
    s = connect_tls(server.c2s)
    s.authenticate(user)
    return s


def test_features_after_sasl(mserver):
    s = authed(mserver)
    assert s.features.find(q(NS_BIND, 'bind')) is not None, show(s.features)
    sess = s.features.find(q(NS_SESSION, 'session'))
    assert sess is not None, show(s.features)
    assert sess.find(q(NS_SESSION, 'optional')) is not None


def test_client_chosen_resource(mserver):
    assert authed(mserver).bind('home') == 'alice@localhost/home'


def test_server_generated_resource(mserver):
    jid = authed(mserver).bind()
    assert jid.startswith('alice@localhost/')
    assert len(jid) > len('alice@localhost/')


def test_two_generated_resources_differ(mserver):
    assert authed(mserver).bind() != authed(mserver).bind()


def test_legacy_session_iq(mserver):
    s = authed(mserver)
    s.bind('legacy')
    r = s.iq('set', "<session xmlns='%s'/>" % NS_SESSION)
    assert r.get('type') == 'result', show(r)


def test_resource_conflict_kicks_the_first(mserver):
    first = authed(mserver, 'bob')
    first.bind('dup')
    second = authed(mserver, 'bob')
    assert second.bind('dup') == 'bob@localhost/dup'
    first.assert_stream_error('conflict')
    second.alive()


def test_bound_session_is_usable(mserver):
    s = authed(mserver, 'carol')
    s.bind('x')
    s.alive()

"""storage: { backend: memory } (issue 13): ternd serves from the
in-memory backend — an account made by XEP-0077 in-band registration,
an RFC 6120 §6 SASL login and §7 bind, an RFC 6121 §5.2 chat message
delivered — and nothing of it survives a restart."""
from ternlib import NS_CLIENT, NS_SASL, connect_tls, password, q, show
from test_register import host_settings, register


def test_memory_backend_serves_login_and_message(make_server):
    srv = make_server(start=False, users=None, storage='memory')
    host_settings(srv, ['register: { allow_registration: true }'])
    srv.start()
    assert 'memory backend' in srv.log
    for user in ('alice', 'bob'):
        s = connect_tls(srv.c2s)
        r = register(s, user, password(user))
        assert r.get('type') == 'result', show(r)
        s.close()

    a = connect_tls(srv.c2s, 'alice', 'home')
    b = connect_tls(srv.c2s, 'bob', 'home')
    b.presence()
    b.alive()
    a.message('bob@%s' % srv.domain, 'hello from memory')
    m = b.wait_message()
    assert m.findtext(q(NS_CLIENT, 'body')) == 'hello from memory', show(m)
    assert m.get('from') == 'alice@%s/home' % srv.domain, show(m)
    a.close()
    b.close()

    # a restart starts from nothing: the account is gone
    assert srv.stop() == []
    srv.start()
    s = connect_tls(srv.c2s)
    el = s.scram('SCRAM-SHA-256', 'alice', password('alice'))
    assert el.tag == q(NS_SASL, 'failure'), show(el)
    s.close()


def test_ternctl_refuses_memory_backend(make_server):
    """ternctl cannot reach a store that lives inside ternd: it says so
    instead of writing into a throwaway store of its own."""
    srv = make_server(start=False, users=None, storage='memory')
    r = srv.ternctl('adduser', 'dave@localhost', 'pw-dave-12345')
    assert r.returncode != 0, r.stdout
    assert 'memory' in r.stderr, r.stderr

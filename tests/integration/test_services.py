"""Service domains (issue 13, the domain table): a host declares domains
of their own that a module serves (here the echo service); the router
hands their stanzas to that module's hooks by the JID's shape alone, the
host's disco#items lists them (XEP-0030 §4), and the configuration check
refuses a module placed where it cannot run."""
import re
import signal

from ternlib import NS_CLIENT, connect_tls, q, show, stanza_error

NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
ECHO = 'echo.localhost'


def with_services(srv, services_yaml):
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    return text[:at] + services_yaml + text[at:]


def echo_server(make_server, **kw):
    srv = make_server(start=False, **kw)
    srv.write_config(with_services(
        srv, '    services: [{ module: echo, domain: %s }]\n' % ECHO))
    return srv.start()


def test_service_discovered_and_answers(make_server):
    srv = echo_server(make_server)
    s = connect_tls(srv.c2s, 'alice', 'pc')
    r = s.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, to='localhost')
    jids = [i.get('jid') for i in r.iter(q(NS_ITEMS, 'item'))]
    assert jids[0] == ECHO and 'comp.localhost' in jids, show(r)
    r = s.iq('get', "<query xmlns='%s'/>" % NS_INFO, to=ECHO)
    assert r.get('type') == 'result' and r.get('from') == ECHO, show(r)
    ids = [(i.get('category'), i.get('type'))
           for i in r.iter(q(NS_INFO, 'identity'))]
    assert ids == [('component', 'generic')], show(r)
    s.ping(to=ECHO)
    # the host's own answers are not the service's, and back
    r = s.iq('get', "<query xmlns='%s'/>" % NS_INFO, to='localhost')
    ids = [(i.get('category'), i.get('type'))
           for i in r.iter(q(NS_INFO, 'identity'))]
    assert ('server', 'im') in ids and ('component', 'generic') not in ids
    # RFC 6120 §8.4: what the service does not handle
    r = s.iq('get', "<query xmlns='jabber:iq:version'/>", to=ECHO)
    assert stanza_error(r) == 'service-unavailable', show(r)


def test_jid_shape_alone_decides(make_server):
    """On a service domain there are no accounts: a node or a resource
    reaches the service as it is (no 'is this an account' check, no
    groupchat bounce), here echoed back."""
    srv = echo_server(make_server)
    s = connect_tls(srv.c2s, 'alice', 'pc')
    for to, typ in ((ECHO, 'chat'), ('room@' + ECHO, 'groupchat'),
                    ('room@%s/nick' % ECHO, 'groupchat'),
                    ('nobody@%s' % ECHO, 'normal')):
        s.send("<message to='%s' type='%s' id='m-%s'><body>hi %s</body>"
               "</message>" % (to, typ, typ, to))
        m = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
        assert m.get('from') == to, show(m)
        assert m.get('type') == typ, show(m)
        assert m.findtext(q(NS_CLIENT, 'body')) == 'hi ' + to
    # an account domain still bounces a groupchat message to a user
    s.send("<message to='bob@localhost/x' type='groupchat' id='g1'>"
           "<body>no</body></message>")
    e = s.wait_for(lambda el: el.get('id') == 'g1')
    assert stanza_error(e) == 'service-unavailable', show(e)


def test_service_added_by_reload(make_server):
    srv = make_server()
    s = connect_tls(srv.c2s, 'alice', 'pc')
    r = s.iq('get', "<query xmlns='%s'/>" % NS_INFO, to=ECHO)
    assert stanza_error(r) == 'remote-server-not-found', show(r)
    srv.write_config(with_services(
        srv, '    services: [{ module: echo, domain: %s }]\n' % ECHO))
    start = len(srv.log)
    srv.signal(signal.SIGHUP)
    assert srv.wait_log('reloaded', start=start), srv.log[start:]
    s.ping(to=ECHO)


def _refused(make_server, services_yaml, pattern, modules_extra=''):
    srv = make_server(start=False, users=())
    text = with_services(srv, services_yaml)
    if modules_extra:
        text = text.replace('    modules: [', '    modules: [%s, '
                            % modules_extra, 1)
    srv.write_config(text)
    rc, err = srv.run_to_exit()
    assert rc != 0, err
    assert re.search(r'tern\.yml:\d+:\d+: ', err), err
    assert re.search(pattern, err), err
    return err


def test_wrong_placements_refused(make_server):
    _refused(make_server, '', r"module 'echo' serves a domain of its own",
             modules_extra='echo')
    _refused(make_server,
             '    services: [{ module: roster, domain: r.localhost }]\n',
             r"module 'roster' cannot serve a domain of its own")
    _refused(make_server,
             '    services: [{ module: nope, domain: r.localhost }]\n',
             r"unknown module 'nope'")


def test_service_domain_must_be_its_own(make_server):
    for dom, what in (('localhost', r'hosts\[0\]'),
                      ('comp.localhost', r'components\[0\]')):
        _refused(make_server,
                 '    services: [{ module: echo, domain: %s }]\n' % dom,
                 r"'%s' is already %s; a service needs a domain"
                 % (re.escape(dom), what))
    _refused(make_server,
             '    services: [{ module: echo, domain: e.localhost },'
             ' { module: echo, domain: e.localhost }]\n',
             r"hosts\[0\]\.services\[1\]\.domain: 'e\.localhost' is "
             r"already hosts\[0\]\.services\[0\]")
    _refused(make_server,
             '    services: [{ module: echo, domain: "a@b" }]\n',
             r'not a domain name')


def test_one_module_and_one_config_line(make_server):
    """Issue 13: adding a service domain is one module plus one config
    line. The echo module placed on test.localhost by that line alone
    answers disco there and is listed in the host's disco#items."""
    srv = make_server(start=False)
    srv.write_config(with_services(
        srv, '    services: [{ module: echo, domain: test.localhost }]\n'))
    srv.start()
    s = connect_tls(srv.c2s, 'alice', 'pc')
    r = s.iq('get', "<query xmlns='%s'/>" % NS_INFO, to='test.localhost')
    assert r.get('type') == 'result', show(r)
    assert r.get('from') == 'test.localhost', show(r)
    r = s.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, to='localhost')
    assert 'test.localhost' in [i.get('jid')
                                for i in r.iter(q(NS_ITEMS, 'item'))], show(r)

"""XEP-0157 contact addresses in the server's disco#info, and the XEP-0115
caps verification string covering that extended form (§5.4)."""
import base64
import hashlib
import signal
import time

from ternlib import NS_CAPS, SLOW, connect_tls, q, show

NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_DATA = 'jabber:x:data'
SERVERINFO = 'http://jabber.org/network/serverinfo'

SETTINGS = ('contact_info: { abuse: ["mailto:abuse@example.org", '
            '"xmpp:abuse@localhost"], admin: ["xmpp:admin@localhost"], '
            'security: ["https://example.org/security"], '
            'support: ["https://example.org/help", '
            '"mailto:help@example.org"] }')


def host_settings(srv, lines):
    """Put per-host module settings under the host in srv's config."""
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    srv.write_config(text[:at] + ''.join('    %s\n' % l for l in lines)
                     + text[at:])


def disco_info(s, node=None):
    attr = " node='%s'" % node if node else ''
    r = s.iq('get', "<query xmlns='%s'%s/>" % (NS_INFO, attr),
             to='localhost')
    assert r.get('type') == 'result', show(r)
    return r.find(q(NS_INFO, 'query'))


def form_fields(info):
    forms = [x for x in info.findall(q(NS_DATA, 'x'))
             if any(f.get('var') == 'FORM_TYPE' and
                    f.findtext(q(NS_DATA, 'value')) == SERVERINFO
                    for f in x.findall(q(NS_DATA, 'field')))]
    assert len(forms) <= 1, show(info)
    if not forms:
        return None
    assert forms[0].get('type') == 'result'
    return {f.get('var'): [v.text for v in f.findall(q(NS_DATA, 'value'))]
            for f in forms[0].findall(q(NS_DATA, 'field'))}


def caps_ver(info):
    """XEP-0115 §5.1, written independently of the server's code."""
    s = ''
    ids = sorted((i.get('category'), i.get('type'),
                  i.get('{http://www.w3.org/XML/1998/namespace}lang', ''),
                  i.get('name', ''))
                 for i in info.findall(q(NS_INFO, 'identity')))
    for c, t, lang, name in ids:
        s += '%s/%s/%s/%s<' % (c, t, lang, name)
    for f in sorted(f.get('var') for f in info.findall(q(NS_INFO,
                                                         'feature'))):
        s += f + '<'
    forms = []
    for x in info.findall(q(NS_DATA, 'x')):
        fields = x.findall(q(NS_DATA, 'field'))
        ft = [f for f in fields if f.get('var') == 'FORM_TYPE']
        if not ft or ft[0].get('type') != 'hidden':
            continue
        forms.append((ft[0].findtext(q(NS_DATA, 'value')), fields))
    for ftype, fields in sorted(forms, key=lambda f: f[0].encode()):
        s += ftype + '<'
        for f in sorted(fields, key=lambda f: f.get('var').encode()):
            if f.get('var') == 'FORM_TYPE':
                continue
            s += f.get('var') + '<'
            for v in sorted((v.text or '' for v in
                             f.findall(q(NS_DATA, 'value'))),
                            key=lambda v: v.encode()):
                s += v + '<'
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def stream_caps(srv):
    s = connect_tls(srv.c2s)
    c = s.features.find(q(NS_CAPS, 'c'))
    assert c is not None, show(s.features)
    return s, c.get('ver')


def test_no_form_without_addresses(mserver):
    s, ver = stream_caps(mserver)
    s.authenticate('alice')
    s.bind()
    info = disco_info(s)
    assert form_fields(info) is None, show(info)
    assert ver == caps_ver(info)


def test_addresses_in_disco_and_caps(make_server):
    srv = make_server(start=False)
    host_settings(srv, [SETTINGS])
    srv.start()
    s, ver = stream_caps(srv)
    s.authenticate('alice')
    s.bind()
    info = disco_info(s)
    fields = form_fields(info)
    assert fields == {
        'FORM_TYPE': [SERVERINFO],
        'abuse-addresses': ['mailto:abuse@example.org',
                            'xmpp:abuse@localhost'],
        'admin-addresses': ['xmpp:admin@localhost'],
        'security-addresses': ['https://example.org/security'],
        'support-addresses': ['https://example.org/help',
                              'mailto:help@example.org'],
    }, fields
    # the hash covers the form: §5.4 order (values sorted too)
    assert ver == caps_ver(info)
    info.remove(info.find(q(NS_DATA, 'x')))
    assert ver != caps_ver(info)
    # and the caps node#ver query answers with the same data
    node_info = disco_info(s, 'https://tern.im#' + ver)
    assert form_fields(node_info) == fields


def test_form_visible_to_unauthenticated_caps_and_other_users(make_server):
    srv = make_server(start=False)
    host_settings(srv, [SETTINGS])
    srv.start()
    _, ver1 = stream_caps(srv)
    s, ver2 = stream_caps(srv)
    assert ver1 == ver2
    s.authenticate('bob')
    s.bind()
    assert form_fields(disco_info(s))['admin-addresses'] == \
        ['xmpp:admin@localhost']


def test_address_must_be_a_uri(make_server):
    srv = make_server(start=False)
    host_settings(srv, ['contact_info: { admin: ["admin at example.org"] }'])
    rc, err = srv.run_to_exit()
    assert rc != 0
    assert 'contact_info' in err or 'contact_info' in srv.log, err


def test_caps_follow_a_reload(make_server):
    """The server's caps ver in stream features is computed once per
    host, and again after a reload that changes what disco#info says
    (XEP-0115 §5: the hash always matches the answer)."""
    srv = make_server(start=False)
    srv.start()
    _, before = stream_caps(srv)
    _, again = stream_caps(srv)
    assert before == again
    host_settings(srv, [SETTINGS])
    start = len(srv.log)
    srv.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10 * SLOW
    while 'reloaded' not in srv.log[start:]:
        assert time.monotonic() < deadline, srv.log[start:]
        time.sleep(0.05)
    s, after = stream_caps(srv)
    assert after != before
    s.authenticate('alice')
    s.bind()
    info = disco_info(s)
    assert form_fields(info)['admin-addresses'] == ['xmpp:admin@localhost']
    assert after == caps_ver(info)

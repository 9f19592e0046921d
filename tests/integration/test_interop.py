"""What real clients need that the specs leave open: be liberal where every
other server is (whitespace between stream restarts, the stream: prefix,
legacy error codes, account features announced on the domain)."""
from ternlib import (NS_BIND, NS_CLIENT, NS_SASL, NS_STANZAS, NS_STREAM,
                     NS_TLS, RawStream, b64, connect_tls, password, q, show)


def _open_raw(s, prefix=''):
    """Send prefix + a stream header; return the features."""
    s._reset()
    s.send(prefix + s.header())
    return s.expect(q(NS_STREAM, 'features'))


def test_whitespace_between_stream_restarts(mserver):
    """mattn/go-xmpp (go-sendxmpp) writes '</auth>\\n' and then a new
    header with an XML declaration; the newline reaches the restarted
    parser first. RFC 6120 §4.3.3 / §6.4.6: the restarted stream begins
    with the header; Prosody and ejabberd skip the whitespace, so must we
    (after STARTTLS too, and before the very first header)."""
    s = RawStream(mserver.c2s)
    _open_raw(s, '\n ')
    s.send("<starttls xmlns='%s'/>\n" % NS_TLS)
    s.expect(q(NS_TLS, 'proceed'))
    s.wrap_tls()
    f = _open_raw(s, '\r\n\t')
    assert f.find(q(NS_SASL, 'mechanisms')) is not None, show(f)
    s.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>\n"
           % (NS_SASL, b64('\0alice\0' + password('alice'))))
    el = s.next()
    assert el.tag == q(NS_SASL, 'success'), show(el)
    f = _open_raw(s, '\n')
    assert f.find(q(NS_BIND, 'bind')) is not None, show(f)
    assert s.bind('gx') == 'alice@localhost/gx'
    s.ping()


def test_text_before_header_still_refused(mserver):
    """Only whitespace is skipped: other text before the header is not
    XML (RFC 6120 §11.1) and ends the stream with not-well-formed."""
    s = RawStream(mserver.c2s)
    s.send('\nhello ' + s.header())
    assert s.assert_stream_error('not-well-formed')


def test_stream_prefix_on_features_and_errors(mserver):
    """XML::Stream (sendxmpp) and loudmouth (mcabber) look for the literal
    <stream:features>; every server writes stream-level elements with the
    header's stream: prefix (RFC 6120 §4.3.2, §4.9)."""
    s = RawStream(mserver.c2s)
    s.open()
    raw = bytes(s.received)
    assert b'<stream:features>' in raw, raw
    assert b'<features' not in raw, raw
    s.send('<message><unclosed')  # then an error from the server
    s.send('</wrong>')
    s.assert_stream_error('not-well-formed')
    raw = bytes(s.received)
    assert b'<stream:error>' in raw and b'</stream:error>' in raw, raw


NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_OMEMO_BUNDLES = 'eu.siacs.conversations.axolotl.bundles:31415'


def _domain_info(s):
    r = s.iq('get', "<query xmlns='%s'/>" % NS_INFO, to='localhost')
    assert r.get('type') == 'result', show(r)
    info = r.find(q(NS_INFO, 'query'))
    return ({f.get('var') for f in info.findall(q(NS_INFO, 'feature'))},
            {(i.get('category'), i.get('type'))
             for i in info.findall(q(NS_INFO, 'identity'))})


def test_account_features_announced_on_domain(mserver):
    """profanity probes only the domain (disco#info to the server) for
    MAM and publish-options; without publish-options it creates OMEMO
    bundle nodes with presence access, so strangers cannot start
    encrypted chats. ejabberd and Prosody announce them there
    (XEP-0030 §3.1, XEP-0313 §7, XEP-0163 §9)."""
    s = connect_tls(mserver.c2s, 'alice')
    feats, ids = _domain_info(s)
    assert 'urn:xmpp:mam:2' in feats, feats
    for f in ('#publish', '#publish-options', '#access-open',
              '#retrieve-items', '#auto-create', '#create-and-configure'):
        assert NS_PUBSUB + f in feats, f
    assert ('pubsub', 'pep') in ids, ids
    assert ('server', 'im') in ids, ids


def test_account_features_follow_modules(make_server):
    """Only what is enabled is announced: without mam and pep the
    domain lists neither."""
    srv = make_server(modules=('disco', 'ping', 'roster', 'presence'))
    s = connect_tls(srv.c2s, 'alice')
    feats, ids = _domain_info(s)
    assert 'urn:xmpp:mam:2' not in feats
    assert NS_PUBSUB + '#publish-options' not in feats
    assert ('pubsub', 'pep') not in ids


def test_legacy_error_codes(mserver):
    """profanity 0.13 starts OMEMO on a fresh account only if the items
    request for its own missing device list fails with code='404'.
    RFC 6120 §8.3.2 allows legacy attributes; XEP-0086 §3 maps each
    condition to its code, and Prosody and ejabberd send them."""
    s = connect_tls(mserver.c2s, 'bob')
    r = s.iq('get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>"
             % (NS_PUBSUB, NS_OMEMO_BUNDLES + 'x'), to='bob@localhost')
    assert r.get('type') == 'error', show(r)
    err = r.find(q(NS_CLIENT, 'error'))
    assert err.get('code') == '404', show(r)
    assert err.get('type') == 'cancel', show(r)
    assert err.find(q(NS_STANZAS, 'item-not-found')) is not None, show(r)
    # a router bounce: an iq nobody handles (RFC 6120 §8.4)
    r = s.iq('get', "<query xmlns='urn:example:nothing'/>", to='localhost')
    err = r.find(q(NS_CLIENT, 'error'))
    assert err.get('code') == '503', show(r)
    assert err.find(q(NS_STANZAS, 'service-unavailable')) is not None
    # resource binding errors too
    s2 = connect_tls(mserver.c2s)
    s2.authenticate('carol')
    r = s2.iq('set', "<bind xmlns='%s'><resource>%s</resource></bind>"
              % (NS_BIND, 'r' * 1100))  # over 1023 bytes: RFC 7622 §3.4
    err = r.find(q(NS_CLIENT, 'error'))
    assert err is not None and err.get('code') == '400', show(r)

"""XEP-0388 SASL2, XEP-0386 Bind 2 and XEP-0484 FAST over raw XML on
real TLS streams."""
import hashlib
import hmac
import secrets
import time

from xml.sax.saxutils import quoteattr

from ternlib import (NS_SASL, NS_SASL2, RawStream, Scram,
                     authenticate_xml, b64, b64decode, password, q, show,
                     tls_server_end_point)

NS_BIND2 = 'urn:xmpp:bind:0'
NS_FAST = 'urn:xmpp:fast:0'
NS_SM = 'urn:xmpp:sm:3'
NS_CARBONS = 'urn:xmpp:carbons:2'
NS_CSI = 'urn:xmpp:csi:0'


def tls_stream(port):
    s = RawStream(port)
    s.open()
    return s, s.starttls()


def authenticate(s, mech, initial, extra='', uaid=None):
    s.send(authenticate_xml(mech, initial, extra, uaid))
    return s.next()


def scram2(s, user, pw, extra='', uaid=None, mech='SCRAM-SHA-256'):
    """A SASL2 SCRAM exchange; returns the final element (server
    signature verified on success)."""
    sc = Scram(mech, user, pw)
    el = authenticate(s, mech, sc.client_first(), extra, uaid)
    if el.tag != q(NS_SASL2, 'challenge'):
        return el
    s.send("<response xmlns='%s'>%s</response>"
           % (NS_SASL2, b64(sc.client_final(b64decode(el.text)))))
    el = s.next()
    if el.tag == q(NS_SASL2, 'success'):
        sc.verify(b64decode(el.find(q(NS_SASL2, 'additional-data')).text))
    return el


def ht_initial(user, token, cb=b''):
    mac = hmac.new(token.encode(), b'Initiator' + cb, hashlib.sha256)
    return user.encode() + b'\0' + mac.digest()


def fast_login(port, user, token, uaid, count, mech='HT-SHA-256-NONE',
               extra='', invalidate=False):
    s, f = tls_stream(port)
    cb = b''
    if mech == 'HT-SHA-256-ENDP':
        cb = tls_server_end_point(s.peer_cert_der())
    el = authenticate(s, mech, ht_initial(user, token, cb),
                      "<fast xmlns='%s' count='%d'%s/>%s"
                      % (NS_FAST, count,
                         " invalidate='true'" if invalidate else '', extra),
                      uaid)
    if el.tag == q(NS_SASL2, 'success'):
        want = hmac.new(token.encode(), b'Responder' + cb,
                        hashlib.sha256).digest()
        got = b64decode(el.find(q(NS_SASL2, 'additional-data')).text)
        assert got == want, 'server HMAC mismatch'
    return s, el


def get_token(port, user='alice', uaid=None):
    uaid = uaid or secrets.token_hex(8)
    s, f = tls_stream(port)
    el = scram2(s, user, password(user), uaid=uaid,
                extra="<request-token xmlns='%s' mechanism='HT-SHA-256-NONE'/>"
                % NS_FAST)
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    tok = el.find(q(NS_FAST, 'token'))
    assert tok is not None and tok.get('expiry'), show(el)
    s.close()
    return uaid, tok.get('token')


def test_features_advertise_sasl2_bind2_fast(mserver):
    s, f = tls_stream(mserver.c2s)
    a = f.find(q(NS_SASL2, 'authentication'))
    assert a is not None, show(f)
    mechs = [m.text for m in a.findall(q(NS_SASL2, 'mechanism'))]
    assert 'SCRAM-SHA-256' in mechs
    inl = a.find(q(NS_SASL2, 'inline'))
    b = inl.find(q(NS_BIND2, 'bind'))
    feats = {x.get('var') for x in b.iter(q(NS_BIND2, 'feature'))}
    assert {NS_SM, NS_CARBONS, NS_CSI} <= feats, show(a)
    assert inl.find(q(NS_SM, 'sm')) is not None
    fm = [m.text for m in inl.find(q(NS_FAST, 'fast'))]
    assert 'HT-SHA-256-NONE' in fm and 'HT-SHA-256-ENDP' in fm, fm


def test_scram_login_with_bind2_carbons_sm(mserver):
    s, f = tls_stream(mserver.c2s)
    el = scram2(s, 'alice', password('alice'), uaid='dev-1', extra=(
        "<bind xmlns='%s'><tag>TernTest</tag><enable xmlns='%s'/>"
        "<enable xmlns='%s' resume='true'/></bind>"
        % (NS_BIND2, NS_CARBONS, NS_SM)))
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    jid = el.find(q(NS_SASL2, 'authorization-identifier')).text
    assert jid.startswith('alice@localhost/TernTest.'), jid
    bound = el.find(q(NS_BIND2, 'bound'))
    en = bound.find(q(NS_SM, 'enabled'))
    assert en is not None and en.get('resume') == 'true', show(el)
    # no stream restart: stanzas flow at once
    s.ping()
    # carbons are on: a message bob sends alice's bare JID is copied
    # to this resource (it is also the only one, so it arrives anyway);
    # a message alice sends from another resource comes as a carbon
    o = RawStream(mserver.c2s)
    o.login('alice', resource='other')
    o.message('bob@localhost', 'hello from other')
    c = s.wait_for(lambda e: e.tag == q('jabber:client', 'message'))
    assert c.find(q(NS_CARBONS, 'sent')) is not None, show(c)


def test_bad_password_fails_and_counts(make_server):
    srv = make_server(limits={'sasl_retries': 2})
    s, f = tls_stream(srv.c2s)
    el = scram2(s, 'alice', 'wrong')
    assert el.tag == q(NS_SASL2, 'failure'), show(el)
    assert el.find(q(NS_SASL, 'not-authorized')) is not None, show(el)
    el = scram2(s, 'alice', 'wrong')
    assert el.find(q(NS_SASL, 'not-authorized')) is not None, show(el)
    s.assert_stream_error('policy-violation')


def test_unknown_mechanism_and_bad_uaid(mserver):
    s, f = tls_stream(mserver.c2s)
    el = authenticate(s, 'NOPE', b'x')
    assert el.find(q(NS_SASL, 'invalid-mechanism')) is not None, show(el)
    el = authenticate(s, 'SCRAM-SHA-256', b'n,,n=alice,r=abc',
                      uaid='has space')
    assert el.find(q(NS_SASL, 'malformed-request')) is not None, show(el)
    assert el.find(q(NS_SASL2, 'text')) is not None


def test_fast_token_login_without_scram(mserver):
    uaid, token = get_token(mserver.c2s)
    s, el = fast_login(mserver.c2s, 'alice', token, uaid, 1, extra=(
        "<bind xmlns='%s'><tag>Fast</tag></bind>" % NS_BIND2))
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    jid = el.find(q(NS_SASL2, 'authorization-identifier')).text
    assert jid.startswith('alice@localhost/Fast.'), jid
    s.ping()
    # with channel binding too
    s, el = fast_login(mserver.c2s, 'alice', token, uaid, 2,
                       mech='HT-SHA-256-ENDP')
    assert el.tag == q(NS_SASL2, 'success'), show(el)


def test_fast_replay_unknown_expired_refused(make_server):
    srv = make_server(limits={'sasl_failures_per_ip': 50,
                              'sasl_retries': 5, 'fast_token_lifetime': 1})
    uaid, token = get_token(srv.c2s)
    s, el = fast_login(srv.c2s, 'alice', token, uaid, 5)
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    # the same count again: a replay
    s, el = fast_login(srv.c2s, 'alice', token, uaid, 5)
    assert el.find(q(NS_SASL, 'not-authorized')) is not None, show(el)
    # a token we never issued, or for another device
    s, el = fast_login(srv.c2s, 'alice', 'bogus', uaid, 6)
    assert el.find(q(NS_SASL, 'not-authorized')) is not None, show(el)
    s, el = fast_login(srv.c2s, 'alice', token, 'other-device', 6)
    assert el.find(q(NS_SASL, 'not-authorized')) is not None, show(el)
    # invalidate: the token works once more, then never
    s, el = fast_login(srv.c2s, 'alice', token, uaid, 7, invalidate=True)
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    s, el = fast_login(srv.c2s, 'alice', token, uaid, 8)
    assert el.find(q(NS_SASL, 'not-authorized')) is not None, show(el)
    # a password change ends every token
    uaid, token = get_token(srv.c2s)
    srv.ternctl_ok('passwd', 'alice@localhost', 'newpass')
    s, el = fast_login(srv.c2s, 'alice', token, uaid, 1)
    assert el.find(q(NS_SASL, 'not-authorized')) is not None, show(el)
    # an expired token (the lifetime here is one second)
    uaid, token = get_token(srv.c2s, 'bob')
    time.sleep(2.1)
    s, el = fast_login(srv.c2s, 'bob', token, uaid, 1)
    assert el.find(q(NS_SASL, 'not-authorized')) is not None, show(el)


def test_fast_token_rotation(mserver):
    uaid, token = get_token(mserver.c2s, 'bob')
    # a new token while logging in with the old one
    s, el = fast_login(mserver.c2s, 'bob', token, uaid, 1, extra=(
        "<request-token xmlns='%s' mechanism='HT-SHA-256-NONE'/>"
        % NS_FAST))
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    new = el.find(q(NS_FAST, 'token')).get('token')
    assert new != token
    # the old one still works until the new one is used
    s, el = fast_login(mserver.c2s, 'bob', token, uaid, 2)
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    s, el = fast_login(mserver.c2s, 'bob', new, uaid, 3)
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    s, el = fast_login(mserver.c2s, 'bob', token, uaid, 4)
    assert el.find(q(NS_SASL, 'not-authorized')) is not None, show(el)


def test_sm_resume_inline(mserver):
    s, f = tls_stream(mserver.c2s)
    el = scram2(s, 'carol', password('carol'), extra=(
        "<bind xmlns='%s'><tag>Sm</tag><enable xmlns='%s' resume='true'/>"
        "</bind>" % (NS_BIND2, NS_SM)))
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    jid = el.find(q(NS_SASL2, 'authorization-identifier')).text
    smid = el.find(q(NS_BIND2, 'bound')).find(q(NS_SM, 'enabled')).get('id')
    s.sock.close()  # the link dies without a goodbye
    b = RawStream(mserver.c2s)
    b.login('bob', resource='x')
    b.message(jid, 'while away')
    b.alive()
    s2, f = tls_stream(mserver.c2s)
    el = scram2(s2, 'carol', password('carol'), extra=(
        "<resume xmlns='%s' previd=%s h='0'/>"
        "<bind xmlns='%s'><tag>Sm</tag></bind>"
        % (NS_SM, quoteattr(smid), NS_BIND2)))
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    r = el.find(q(NS_SM, 'resumed'))
    assert r is not None and r.get('previd') == smid, show(el)
    assert el.find(q(NS_SASL2, 'authorization-identifier')).text == jid
    assert el.find(q(NS_BIND2, 'bound')) is None, show(el)
    m = s2.wait_message()
    assert m.findtext('{jabber:client}body') == 'while away', show(m)
    # a resumption that cannot succeed falls back to a new bind
    s3, f = tls_stream(mserver.c2s)
    el = scram2(s3, 'carol', password('carol'), extra=(
        "<resume xmlns='%s' previd='nope' h='0'/>"
        "<bind xmlns='%s'/>" % (NS_SM, NS_BIND2)))
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    assert el.find(q(NS_SM, 'failed')) is not None, show(el)
    assert el.find(q(NS_BIND2, 'bound')) is not None, show(el)


def test_old_sasl_unchanged(mserver):
    s = RawStream(mserver.c2s)
    assert s.login('alice', resource='legacy') == 'alice@localhost/legacy'
    s.ping()


def test_ip_budget_shared_with_sasl(make_server):
    srv = make_server(limits={'sasl_failures_per_ip': 2, 'sasl_retries': 5})
    s, f = tls_stream(srv.c2s)
    el = scram2(s, 'alice', 'wrong')
    assert el.find(q(NS_SASL, 'not-authorized')) is not None, show(el)
    # a failed SASL (not SASL2) attempt counts against the same budget
    el = s.scram('SCRAM-SHA-256', 'alice', 'wrong')
    assert el.tag == q(NS_SASL, 'failure'), show(el)
    s2, f = tls_stream(srv.c2s)
    el = scram2(s2, 'alice', password('alice'))
    assert el.tag == q(NS_SASL2, 'failure'), show(el)
    assert el.find(q(NS_SASL, 'temporary-auth-failure')) is not None


def test_abort_empty_and_stray_response(mserver):
    s, f = tls_stream(mserver.c2s)
    s.send("<response xmlns='%s'>eA==</response>" % NS_SASL2)
    el = s.next()
    assert el.find(q(NS_SASL, 'malformed-request')) is not None, show(el)
    # no initial response: an empty challenge asks for it
    el = authenticate(s, 'SCRAM-SHA-256', None)
    assert el.tag == q(NS_SASL2, 'challenge') and not el.text, show(el)
    s.send("<abort xmlns='%s'/>" % NS_SASL2)
    el = s.next()
    assert el.find(q(NS_SASL, 'aborted')) is not None, show(el)
    # still usable after the abort
    el = scram2(s, 'alice', password('alice'))
    assert el.tag == q(NS_SASL2, 'success'), show(el)
    # and no second authentication on the stream
    s.send("<authenticate xmlns='%s' mechanism='PLAIN'/>" % NS_SASL2)
    s.assert_stream_error('not-authorized')

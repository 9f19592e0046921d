"""Login: STARTTLS, Direct TLS, SASL (SCRAM, SCRAM-PLUS, PLAIN), failures."""
import ssl

import pytest

from ternlib import (NS_CAPS, NS_SASL, NS_SASL_CB, NS_STREAM, NS_TLS,
                     RawStream, Scram, StreamClosed, b64, b64decode,
                     connect_tls, q, run,
                     sasl_failure, show, tls_server_end_point)

MECHS = {'SCRAM-SHA-1', 'SCRAM-SHA-256', 'SCRAM-SHA-1-PLUS',
         'SCRAM-SHA-256-PLUS', 'PLAIN'}


def mechanisms(features):
    mechs = features.find(q(NS_SASL, 'mechanisms'))
    assert mechs is not None, 'no mechanisms: %s' % show(features)
    return {m.text for m in mechs.findall(q(NS_SASL, 'mechanism'))}


def cb_types(features):
    el = features.find(q(NS_SASL_CB, 'sasl-channel-binding'))
    assert el is not None, 'no XEP-0440 element: %s' % show(features)
    return {c.get('type') for c in el.findall(q(NS_SASL_CB, 'channel-binding'))}


@pytest.mark.parametrize('mech', ['SCRAM-SHA-1', 'SCRAM-SHA-256', 'PLAIN'])
def test_slixmpp_starttls_login(mserver, mech):
    async def scenario(s):
        c = await s.login('alice', resource='sx', mech=mech)
        assert c.boundjid.full == 'alice@localhost/sx'
    run(mserver, scenario)


def test_slixmpp_direct_tls_login(mserver):
    async def scenario(s):
        c = await s.login('bob', direct_tls=True)
        assert c.boundjid.bare == 'bob@localhost'
    run(mserver, scenario)


def test_features_before_tls(mserver):
    s = RawStream(mserver.c2s)
    f = s.open()
    tls = f.find(q(NS_TLS, 'starttls'))
    assert tls is not None, show(f)
    assert tls.find(q(NS_TLS, 'required')) is not None
    assert f.find(q(NS_SASL, 'mechanisms')) is None, show(f)
    assert s.root.get('from') == 'localhost'
    assert s.root.get('version') == '1.0'
    assert s.stream_id


def test_features_after_tls(mserver):
    s = connect_tls(mserver.c2s)
    assert s.tls_version == 'TLSv1.3'
    assert MECHS <= mechanisms(s.features)
    assert s.features.find(q(NS_TLS, 'starttls')) is None
    assert {'tls-server-end-point', 'tls-exporter'} <= cb_types(s.features)
    caps = s.features.find(q(NS_CAPS, 'c'))
    assert caps is not None, show(s.features)
    assert caps.get('hash') and caps.get('node') and caps.get('ver')


def starttls12(port):
    """A STARTTLS stream held to TLS 1.2; returns it and the features."""
    s = RawStream(port)
    s.open()
    s.send("<starttls xmlns='%s'/>" % NS_TLS)
    s.expect(q(NS_TLS, 'proceed'))
    s.wrap_tls(max_version=ssl.TLSVersion.TLSv1_2)
    assert s.tls_version == 'TLSv1.2'
    return s, s.open()


def test_tls12_login_with_end_point_binding(mserver):
    s, f = starttls12(mserver.c2s)
    assert 'tls-server-end-point' in cb_types(f)
    el = s.scram('SCRAM-SHA-256-PLUS', 'alice', 'secret-alice',
                 'tls-server-end-point', tls_server_end_point(s.peer_cert_der()))
    assert el.tag == q(NS_SASL, 'success'), show(el)


def test_direct_tls_features_and_alpn(mserver):
    s = RawStream.direct_tls(mserver.c2s_tls)
    assert s.sock.selected_alpn_protocol() == 'xmpp-client'
    f = s.open()
    assert f.find(q(NS_TLS, 'starttls')) is None
    assert MECHS <= mechanisms(f)
    s.authenticate('carol')
    assert s.bind('dt') == 'carol@localhost/dt'


@pytest.mark.parametrize('mech', ['SCRAM-SHA-1', 'SCRAM-SHA-256'])
def test_raw_scram(mserver, mech):
    s = connect_tls(mserver.c2s)
    el = s.scram(mech, 'alice', 'secret-alice')
    assert el.tag == q(NS_SASL, 'success'), show(el)


@pytest.mark.parametrize('mech', ['SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256-PLUS'])
def test_scram_plus(mserver, mech):
    s = connect_tls(mserver.c2s)
    if hasattr(s.sock, 'export_keying_material'):
        cb_type = 'tls-exporter'
        cb = s.sock.export_keying_material(b'EXPORTER-Channel-Binding', 32,
                                           None)
    else:
        # Python's ssl module has no exporter: use the certificate hash.
        cb_type = 'tls-server-end-point'
        cb = tls_server_end_point(s.peer_cert_der())
    el = s.scram(mech, 'bob', 'secret-bob', cb_type, cb)
    assert el.tag == q(NS_SASL, 'success'), show(el)
    s.open()
    assert s.bind().startswith('bob@localhost/')


def test_scram_plus_wrong_binding_data(server):
    s = connect_tls(server.c2s)
    el = s.scram('SCRAM-SHA-256-PLUS', 'bob', 'secret-bob',
                 'tls-server-end-point', b'\0' * 32)
    assert sasl_failure(el) == 'not-authorized'


def test_scram_plus_unsupported_binding_type(server):
    s = connect_tls(server.c2s)
    el = s.scram('SCRAM-SHA-256-PLUS', 'bob', 'secret-bob', 'tls-bogus',
                 tls_server_end_point(s.peer_cert_der()))
    assert el.tag == q(NS_SASL, 'failure'), show(el)


def test_tls_unique_not_offered_nor_accepted_on_tls13(server):
    """RFC 9266 §3: tls-unique is undefined for TLS 1.3, where only
    tls-exporter (and tls-server-end-point) bind the channel. It is not
    advertised (XEP-0440) and a client that binds with it fails, even with
    the right password and the Finished data Python hands out."""
    s = connect_tls(server.c2s)
    assert s.tls_version == 'TLSv1.3'
    assert 'tls-unique' not in cb_types(s.features)
    cb = s.sock.get_channel_binding('tls-unique')
    assert cb, 'python gives tls-unique data on TLS 1.3'
    el = s.scram('SCRAM-SHA-256-PLUS', 'bob', 'secret-bob', 'tls-unique', cb)
    assert el.tag == q(NS_SASL, 'failure'), show(el)
    # the same stream can go on with a binding that is defined here
    el = s.scram('SCRAM-SHA-256-PLUS', 'bob', 'secret-bob',
                 'tls-server-end-point', tls_server_end_point(s.peer_cert_der()))
    assert el.tag == q(NS_SASL, 'success'), show(el)


def test_tls_unique_still_works_on_tls12(mserver):
    """RFC 5929 §3.1: on TLS 1.2 tls-unique is defined and offered."""
    s, f = starttls12(mserver.c2s)
    assert 'tls-unique' in cb_types(f)
    el = s.scram('SCRAM-SHA-1-PLUS', 'carol', 'secret-carol', 'tls-unique',
                 s.sock.get_channel_binding('tls-unique'))
    assert el.tag == q(NS_SASL, 'success'), show(el)


def test_slixmpp_default_mechanisms_log_in_on_tls13(make_server):
    """slixmpp (and so poezio) binds with tls-unique whatever the TLS
    version, then walks down its list (SCRAM-PLUS, SCRAM with 'y', PLAIN).
    Refusing the binding is no password guess: it must neither use up
    the per-connection retries (sasl_retries: 2 here) nor count against
    the IP, so the client still logs in, again and again."""
    srv = make_server(limits={'sasl_retries': 2, 'sasl_failures_per_ip': 3})

    async def scenario(sess):
        for i in range(3):
            c = await sess.login('alice', resource='d%d' % i, mech=None,
                                 default_creds=True)
            assert c.boundjid.full == 'alice@localhost/d%d' % i
            c.disconnect()
    run(srv, scenario)
    assert srv.log.count('channel-binding') >= 4


def test_channel_binding_refusals_are_bounded(server):
    """A client cannot retry refused bindings forever on one stream."""
    s = connect_tls(server.c2s)
    cb = s.sock.get_channel_binding('tls-unique')
    for _ in range(4):
        el = s.scram('SCRAM-SHA-256-PLUS', 'bob', 'secret-bob',
                     'tls-unique', cb)
        assert el.tag == q(NS_SASL, 'failure'), show(el)
    s.send("<auth xmlns='%s' mechanism='SCRAM-SHA-256-PLUS'>%s</auth>"
           % (NS_SASL, b64(Scram('SCRAM-SHA-256-PLUS', 'bob', 'secret-bob',
                                 'tls-unique', cb).client_first())))
    s.assert_stream_error('policy-violation')


@pytest.mark.parametrize('mech', ['PLAIN', 'SCRAM-SHA-256'])
def test_wrong_password_and_unknown_user_look_alike(server, mech):
    def attempt(user, pw):
        s = connect_tls(server.c2s)
        if mech == 'PLAIN':
            el = s.plain(user, pw)
        else:
            el = s.scram(mech, user, pw)
        s.close()
        return el
    wrong = attempt('alice', 'not-her-password')
    unknown = attempt('nosuchuser', 'whatever')
    assert sasl_failure(wrong) == 'not-authorized'
    assert show(unknown) == show(wrong)


def test_unknown_user_scram_gets_a_challenge(server):
    # The server must not tell unknown users apart before the proof.
    s = connect_tls(server.c2s)
    el = s.auth('SCRAM-SHA-256', Scram('SCRAM-SHA-256', 'nosuchuser',
                                       'x').client_first())
    assert el.tag == q(NS_SASL, 'challenge'), show(el)


def test_three_failures_close_the_stream(server):
    s = connect_tls(server.c2s)
    for _ in range(2):
        assert sasl_failure(s.plain('alice', 'wrong')) == 'not-authorized'
    el = s.plain('alice', 'wrong')  # the third: a failure or the error
    if el.tag == q(NS_STREAM, 'error'):
        s.pending.appendleft(el)
    else:
        assert sasl_failure(el) == 'not-authorized'
    s.assert_stream_error('policy-violation', 'not-authorized')


def test_retry_after_failure_succeeds(server):
    s = connect_tls(server.c2s)
    assert sasl_failure(s.plain('alice', 'wrong')) == 'not-authorized'
    s.authenticate('alice')
    assert s.bind('r') == 'alice@localhost/r'


def test_plain_foreign_authzid(server):
    s = connect_tls(server.c2s)
    el = s.plain('alice', 'secret-alice', authzid='bob@localhost')
    assert sasl_failure(el) == 'invalid-authzid'


def test_plain_own_authzid_is_fine(server):
    s = connect_tls(server.c2s)
    el = s.plain('alice', 'secret-alice', authzid='alice@localhost')
    assert el.tag == q(NS_SASL, 'success'), show(el)


def test_invalid_base64(server):
    s = connect_tls(server.c2s)
    s.send("<auth xmlns='%s' mechanism='PLAIN'>!!not*base64!!</auth>"
           % NS_SASL)
    assert sasl_failure(s.next()) == 'incorrect-encoding'


def test_unknown_mechanism(server):
    s = connect_tls(server.c2s)
    assert sasl_failure(s.auth('X-NO-SUCH-MECH', 'abc')) == \
        'invalid-mechanism'


def test_scram_y_flag_refused_when_plus_offered(server):
    # RFC 5802 §6: "y" claims the server has no channel binding; it has.
    s = connect_tls(server.c2s)
    sc = Scram('SCRAM-SHA-256', 'alice', 'secret-alice')
    sc.gs2 = b'y,,'
    el = s.auth('SCRAM-SHA-256', sc.client_first())
    if el.tag == q(NS_SASL, 'challenge'):
        el = s.response(sc.client_final(b64decode(el.text)))
    assert sasl_failure(el) == 'not-authorized'


def test_scram_garbage_client_first(server):
    s = connect_tls(server.c2s)
    assert sasl_failure(s.auth('SCRAM-SHA-1', 'garbage, not scram')) == \
        'malformed-request'


def test_auth_before_starttls(server):
    s = RawStream(server.c2s)
    s.open()
    el = s.plain('alice', 'secret-alice')
    assert el.tag != q(NS_SASL, 'success'), 'plaintext auth accepted'
    if el.tag == q(NS_STREAM, 'error'):
        s.pending.appendleft(el)
        s.assert_stream_error('policy-violation', 'encryption-required')
        return
    assert sasl_failure(el) == 'encryption-required'
    # Then either the server closes the stream, or STARTTLS still works.
    try:
        s.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = s.next()
    except (StreamClosed, OSError):
        return
    if el.tag == q(NS_STREAM, 'error'):
        assert s.wait_closed()
        return
    assert el.tag == q(NS_TLS, 'proceed'), show(el)
    s.wrap_tls()
    s.open()
    s.authenticate('alice')


def test_auth_twice_is_refused(server):
    s = connect_tls(server.c2s)
    s.authenticate('alice')
    el = s.plain('alice', 'secret-alice')
    assert el.tag != q(NS_SASL, 'success'), show(el)



# -- TLS hygiene (issue 8 §7)

def test_bytes_pipelined_after_starttls_are_discarded(mserver):
    """Plaintext sent right behind <starttls/> must not be taken as
    TLS input nor as XML after the handshake (RFC 6120 §5.4.3.3: the
    parties discard what came before the handshake)."""
    s = RawStream(mserver.c2s)
    s.open()
    s.send("<starttls xmlns='%s'/><iq type='get' id='smuggled'>"
           "<ping xmlns='urn:xmpp:ping'/></iq>" % NS_TLS)
    s.expect(q(NS_TLS, 'proceed'))
    s.wrap_tls()                       # fails if the bytes reached TLS
    f = s.open()
    assert f.find(q(NS_SASL, 'mechanisms')) is not None, show(f)
    s.authenticate('alice')
    s.bind()
    s.ping()
    assert all(e.get('id') != 'smuggled' for e in s.pending)


@pytest.mark.parametrize('version', ['TLSv1', 'TLSv1_1'])
def test_old_tls_versions_refused(mserver, version):
    s = RawStream(mserver.c2s)
    s.open()
    s.send("<starttls xmlns='%s'/>" % NS_TLS)
    s.expect(q(NS_TLS, 'proceed'))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
    ctx.minimum_version = getattr(ssl.TLSVersion, version)
    ctx.maximum_version = getattr(ssl.TLSVersion, version)
    s.sock.settimeout(5)
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        ctx.wrap_socket(s.sock, server_hostname='localhost')


def test_no_tls_compression(mserver):
    s = connect_tls(mserver.c2s)
    assert s.sock.compression() is None


def test_client_renegotiation_refused(mserver, tmp_path):
    """TLS 1.2 client-initiated renegotiation (openssl s_client's R
    command) is refused: the connection does not renegotiate."""
    import subprocess
    p = subprocess.Popen(
        ['openssl', 's_client', '-connect', '127.0.0.1:%d' % mserver.c2s,
         '-starttls', 'xmpp', '-xmpphost', 'localhost', '-tls1_2',
         '-no_ign_eof'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(b'R\n', timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    text = out.decode('utf-8', 'replace')
    assert 'Protocol  : TLSv1.2' in text, text[-2000:]
    assert 'RENEGOTIATING' in text, text[-2000:]
    # the server answers the renegotiation with a no_renegotiation alert
    assert 'no renegotiation' in text, text[-2000:]


def _tls12_handshake(port, ciphers):
    """STARTTLS with a TLS 1.2 client offering only ciphers; returns the
    negotiated suite or None when the server refuses all of them."""
    s = RawStream(port)
    s.open()
    s.send("<starttls xmlns='%s'/>" % NS_TLS)
    s.expect(q(NS_TLS, 'proceed'))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers + ':@SECLEVEL=0')
    try:
        tls = ctx.wrap_socket(s.sock, server_hostname='localhost')
    except (ssl.SSLError, ConnectionResetError):
        return None
    name = tls.cipher()[0]
    tls.close()
    return name


@pytest.mark.parametrize('suite', ['ECDHE-ECDSA-AES128-SHA',
                                   'ECDHE-ECDSA-AES256-SHA384',
                                   'AES128-GCM-SHA256'])
def test_tls12_refuses_cbc_sha1_and_static_rsa(mserver, suite):
    """Mozilla's intermediate configuration (the default): TLS 1.2 only
    with AEAD suites with forward secrecy (RFC 7525 §4.2); CBC/SHA-1
    suites from OpenSSL's default list are not offered."""
    assert _tls12_handshake(mserver.c2s, suite) is None


def test_tls12_aead_forward_secret_suite(mserver):
    assert _tls12_handshake(mserver.c2s, 'ECDHE-ECDSA-AES128-GCM-SHA256:'
                            'ECDHE-ECDSA-CHACHA20-POLY1305') in (
        'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305')

"""What real clients need that the specs leave open: be liberal where every
other server is (whitespace between stream restarts, the stream: prefix,
legacy error codes, account features announced on the domain)."""
from ternlib import (NS_BIND, NS_SASL, NS_STREAM, NS_TLS, RawStream, b64,
                     password, q, show)


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

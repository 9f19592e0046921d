"""Avatars: XEP-0084 via PEP, the XEP-0398 conversion between PEP avatars
and vcard-temp both ways, and the XEP-0153 photo hash the server puts in
the user's presence (seen by a contact, kept across a restart)."""
import base64
import hashlib
import os
import struct
import zlib

from ternlib import subscribe_mutually as mutual
from ternlib import NS_CLIENT, connect_tls, q, show

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_EVENT = 'http://jabber.org/protocol/pubsub#event'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_DATA = 'urn:xmpp:avatar:data'
NS_META = 'urn:xmpp:avatar:metadata'
NS_VCARD = 'vcard-temp'
NS_UPDATE = 'vcard-temp:x:update'
NS_CONVERSION = 'urn:xmpp:pep-vcard-conversion:0'
NS_ROSTER = 'jabber:iq:roster'


def png(width, height):
    """Bytes that start like a PNG of that size (IHDR), then noise."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 6, 0, 0, 0)
    chunk = b'IHDR' + ihdr
    return (b'\x89PNG\r\n\x1a\n' + struct.pack('>I', len(ihdr)) + chunk
            + struct.pack('>I', zlib.crc32(chunk)) + os.urandom(300))


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def login(server, user, resource=None, available=True):
    s = connect_tls(server.c2s)
    s.authenticate(user)
    s.bind(resource)
    assert s.iq('get', "<query xmlns='%s'/>" % NS_ROSTER).get('type') == \
        'result'
    if available:
        s.presence()
    return s




def photo_of(p):
    """The XEP-0153 photo of a presence: None without <x/>, '' empty."""
    x = p.find(q(NS_UPDATE, 'x'))
    if x is None:
        return None
    ph = x.find(q(NS_UPDATE, 'photo'))
    assert ph is not None, show(p)
    return ph.text or ''


def presence_from(s, frm, photo=None, timeout=None):
    """The next available presence from frm (with that photo, if given)."""
    def match(e):
        return (e.tag == q(NS_CLIENT, 'presence') and e.get('type') is None
                and e.get('from') == frm
                and (photo is None or photo_of(e) == photo))
    return s.wait_for(match, timeout)


def no_presence_from(s, frm, within=0.7):
    try:
        el = s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'presence')
                        and e.get('from') == frm, within)
    except TimeoutError:
        return
    raise AssertionError('unexpected presence %s' % show(el))


def drain(s):
    """Forget what s received so far (after a round trip)."""
    s.alive()
    s.pending.clear()


def publish(s, node, item_id, payload):
    body = "<item id='%s'>%s</item>" % (item_id, payload) if item_id \
        else '<item>%s</item>' % payload
    r = s.iq('set', "<pubsub xmlns='%s'><publish node='%s'>%s</publish>"
             "</pubsub>" % (NS_PUBSUB, node, body))
    assert r.get('type') == 'result', show(r)


def publish_avatar(s, img, mime='image/png'):
    h = sha1(img)
    publish(s, NS_DATA, h, "<data xmlns='%s'>%s</data>"
            % (NS_DATA, base64.b64encode(img).decode()))
    publish(s, NS_META, h, "<metadata xmlns='%s'><info bytes='%d' id='%s' "
            "type='%s'/></metadata>" % (NS_META, len(img), h, mime))
    return h


def items(s, jid, node, item_id=None, last=False):
    """Items of a node (by id; last: only the most recent one)."""
    inner = "<item id='%s'/>" % item_id if item_id else ''
    mx = " max_items='1'" if last else ''
    r = s.iq('get', "<pubsub xmlns='%s'><items node='%s'%s>%s</items>"
             "</pubsub>" % (NS_PUBSUB, node, mx, inner), to=jid)
    assert r.get('type') == 'result', show(r)
    return r.findall('%s/%s/%s' % (q(NS_PUBSUB, 'pubsub'),
                                   q(NS_PUBSUB, 'items'),
                                   q(NS_PUBSUB, 'item')))


def vcard(s, jid='alice@localhost'):
    r = s.iq('get', "<vCard xmlns='vcard-temp'/>", to=jid)
    assert r.get('type') == 'result', show(r)
    return r.find(q(NS_VCARD, 'vCard'))


def vcard_photo(v):
    ph = v.find(q(NS_VCARD, 'PHOTO'))
    if ph is None:
        return None, None
    return (ph.findtext(q(NS_VCARD, 'TYPE')),
            base64.b64decode(''.join(ph.findtext(q(NS_VCARD, 'BINVAL'))
                                     .split())))


def test_conversion_feature_on_account(server):
    a = login(server, 'alice', available=False)
    r = a.iq('get', "<query xmlns='%s'/>" % NS_INFO, to='alice@localhost')
    assert r.get('type') == 'result', show(r)
    feats = {f.get('var') for f in r.iter(q(NS_INFO, 'feature'))}
    assert NS_CONVERSION in feats, show(r)


def test_pep_to_vcard_with_presence_hash(server):
    mutual(server)
    bob = login(server, 'bob', 'phone')
    alice = login(server, 'alice', 'pc')
    # no avatar yet: an empty photo, so contacts know there is none
    p = presence_from(bob, 'alice@localhost/pc')
    assert photo_of(p) == '', show(p)
    img = png(64, 48)
    h = publish_avatar(alice, img)
    # the server sends alice's presence again with the new hash
    presence_from(bob, 'alice@localhost/pc', h)
    # and the vCard holds the image now, its other fields untouched
    t, data = vcard_photo(vcard(bob))
    assert t == 'image/png' and data == img
    # a new session of alice carries the hash from its first presence
    alice2 = login(server, 'alice', 'laptop')
    presence_from(bob, 'alice@localhost/laptop', h)
    presence_from(alice2, 'alice@localhost/pc', h)
    # a second avatar replaces the first everywhere
    img2 = png(32, 32)
    h2 = publish_avatar(alice2, img2)
    presence_from(bob, 'alice@localhost/pc', h2)
    presence_from(bob, 'alice@localhost/laptop', h2)
    assert vcard_photo(vcard(alice))[1] == img2
    # XEP-0084 §4.2: an empty <metadata/> disables the avatar
    publish(alice, NS_META, 'off', "<metadata xmlns='%s'/>" % NS_META)
    presence_from(bob, 'alice@localhost/pc', '')
    assert vcard_photo(vcard(bob)) == (None, None)


def test_vcard_keeps_other_fields(server):
    a = login(server, 'alice')
    r = a.iq('set', "<vCard xmlns='vcard-temp'><FN>Alice</FN>"
             "<NICKNAME>al</NICKNAME></vCard>")
    assert r.get('type') == 'result', show(r)
    img = png(10, 20)
    publish_avatar(a, img)
    v = vcard(a)
    assert v.findtext(q(NS_VCARD, 'FN')) == 'Alice'
    assert v.findtext(q(NS_VCARD, 'NICKNAME')) == 'al'
    assert vcard_photo(v) == ('image/png', img)


def test_vcard_to_pep_with_presence_hash(server):
    mutual(server)
    bob = login(server, 'bob', 'phone')
    alice = login(server, 'alice', 'pc')
    presence_from(bob, 'alice@localhost/pc', '')
    img = png(96, 80)
    h = sha1(img)
    b64 = base64.b64encode(img).decode()
    # wrapped the way vCard clients wrap BINVAL
    wrapped = '\n'.join(b64[i:i + 76] for i in range(0, len(b64), 76))
    r = alice.iq('set', "<vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO>"
                 "<TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO>"
                 "</vCard>" % wrapped)
    assert r.get('type') == 'result', show(r)
    presence_from(bob, 'alice@localhost/pc', h)
    # the PEP avatar: data under the SHA-1 id, metadata describing it;
    # readable by anyone, as the vCard it came from
    carol = login(server, 'carol', available=False)
    data = items(carol, 'alice@localhost', NS_DATA, h)
    assert len(data) == 1 and data[0].get('id') == h
    assert base64.b64decode(data[0].findtext(q(NS_DATA, 'data'))) == img
    meta = items(bob, 'alice@localhost', NS_META, last=True)
    info = meta[0].find('%s/%s' % (q(NS_META, 'metadata'),
                                    q(NS_META, 'info')))
    assert info is not None, show(meta[0])
    assert info.get('id') == h and info.get('bytes') == str(len(img))
    assert info.get('type') == 'image/png'
    assert (info.get('width'), info.get('height')) == ('96', '80')
    # the same photo again with other fields: no new presence
    r = alice.iq('set', "<vCard xmlns='vcard-temp'><FN>A.</FN><PHOTO>"
                 "<TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO>"
                 "</vCard>" % b64)
    assert r.get('type') == 'result', show(r)
    no_presence_from(bob, 'alice@localhost/pc')
    # no photo any more: the PEP avatar is disabled, the hash empty
    r = alice.iq('set', "<vCard xmlns='vcard-temp'><FN>A.</FN></vCard>")
    assert r.get('type') == 'result', show(r)
    presence_from(bob, 'alice@localhost/pc', '')
    meta = items(bob, 'alice@localhost', NS_META, last=True)
    assert meta[0].find('%s/%s' % (q(NS_META, 'metadata'),
                                    q(NS_META, 'info'))) is None, \
        show(meta[0])


def test_client_photo_kept_and_directed_presence(server):
    mutual(server)
    bob = login(server, 'bob', 'phone')
    carol = login(server, 'carol', 'x')
    alice = login(server, 'alice', 'pc')
    h = publish_avatar(alice, png(8, 8))
    presence_from(bob, 'alice@localhost/pc', h)
    drain(bob)
    # a photo the client put there itself stays as it is
    own = 'ab' * 20
    alice.presence(extra="<x xmlns='%s'><photo>%s</photo></x>"
                   % (NS_UPDATE, own))
    p = presence_from(bob, 'alice@localhost/pc')
    assert photo_of(p) == own
    assert len(p.findall(q(NS_UPDATE, 'x'))) == 1
    # XEP-0398 §4: an empty <x/> is filled in
    alice.presence(extra="<x xmlns='%s'/>" % NS_UPDATE)
    presence_from(bob, 'alice@localhost/pc', h)
    # directed presence (a MUC join, say) carries the hash too
    alice.send("<presence to='carol@localhost/x'/>")
    presence_from(carol, 'alice@localhost/pc', h)


def test_hash_survives_restart(make_server):
    srv = make_server()
    mutual(srv)
    alice = login(srv, 'alice', 'pc')
    h = publish_avatar(alice, png(16, 16))
    alice.alive()
    alice.close()
    assert not srv.stop()
    srv.start()
    bob = login(srv, 'bob', 'phone')
    login(srv, 'alice', 'pc')
    presence_from(bob, 'alice@localhost/pc', h)
    assert vcard_photo(vcard(bob))[1] is not None


def test_metadata_before_data(server):
    mutual(server)
    bob = login(server, 'bob', 'phone')
    alice = login(server, 'alice', 'pc')
    img = png(12, 12)
    h = sha1(img)
    publish(alice, NS_META, h, "<metadata xmlns='%s'><info bytes='%d' "
            "id='%s' type='image/png'/></metadata>" % (NS_META, len(img), h))
    assert vcard_photo(vcard(alice)) == (None, None)
    publish(alice, NS_DATA, h, "<data xmlns='%s'>%s</data>"
            % (NS_DATA, base64.b64encode(img).decode()))
    presence_from(bob, 'alice@localhost/pc', h)
    assert vcard_photo(vcard(bob)) == ('image/png', img)

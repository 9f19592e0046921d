"""Group chat (issue 14): XEP-0045 Multi-User Chat on conference.localhost,
with XEP-0421 occupant ids, XEP-0410 self-pings and persistent rooms.
Raw streams show the exact stanzas (status codes, items, errors); one
scenario runs slixmpp's own MUC plugin against the service."""
import asyncio
import time

from ternlib import (NS_CLIENT, NS_STANZAS, connect_tls, online, q, recv,
                     run, show, stanza_error)

MUC = 'conference.localhost'
NS_MUC = 'http://jabber.org/protocol/muc'
NS_USER = NS_MUC + '#user'
NS_ADMIN = NS_MUC + '#admin'
NS_OWNER = NS_MUC + '#owner'
NS_UNIQUE = NS_MUC + '#unique'
NS_OID = 'urn:xmpp:occupant-id:0'
NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_XDATA = 'jabber:x:data'
NS_DELAY = 'urn:xmpp:delay'
NS_PING = 'urn:xmpp:ping'
PRESENCE = q(NS_CLIENT, 'presence')
MESSAGE = q(NS_CLIENT, 'message')


def muc_server(make_server, settings='', **kw):
    srv = make_server(start=False, **kw)
    text = srv.config_text()
    at = text.index('\n', text.index('    modules: [')) + 1
    extra = '    services: [{ module: muc, domain: %s }]\n' % MUC
    if settings:
        extra += '    muc: { %s }\n' % settings
    srv.write_config(text[:at] + extra + text[at:])
    return srv.start()


def rj(room, nick=None):
    return '%s@%s' % (room, MUC) + ('/' + nick if nick else '')


def codes(el):
    return {s.get('code') for s in el.iter(q(NS_USER, 'status'))}


def item(el):
    return el.find('%s/%s' % (q(NS_USER, 'x'), q(NS_USER, 'item')))


def oid(el):
    o = el.find(q(NS_OID, 'occupant-id'))
    return o.get('id') if o is not None else None


def send_join(s, room, nick, inner='', x=True):
    s.send("<presence to='%s'>%s</presence>" % (
        rj(room, nick), "<x xmlns='%s'>%s</x>" % (NS_MUC, inner) if x else ''))


def pres_from(s, jid, pred=lambda e: True):
    return s.wait_for(lambda e: e.tag == PRESENCE and e.get('from') == jid
                      and pred(e))


def self_pres(s, room, nick):
    return pres_from(s, rj(room, nick), lambda e: '110' in codes(e))


def subject(s, room):
    return s.wait_for(lambda e: e.tag == MESSAGE and e.get('from', '')
                      .startswith(rj(room)) and
                      e.find(q(NS_CLIENT, 'subject')) is not None and
                      e.find(q(NS_CLIENT, 'body')) is None)


def join(s, room, nick, inner=''):
    """Enter an existing room; returns the self-presence (after which
    the subject has arrived)."""
    send_join(s, room, nick, inner)
    p = self_pres(s, room, nick)
    assert p.get('type') is None, show(p)
    subject(s, room)
    return p


def form(fields, type_='submit'):
    body = "<field var='FORM_TYPE'><value>%s#roomconfig</value></field>" \
        % NS_MUC
    for k, v in fields.items():
        vals = v if isinstance(v, list) else [v]
        body += "<field var='muc#roomconfig_%s'>%s</field>" % (
            k, ''.join('<value>%s</value>' % x for x in vals))
    return "<query xmlns='%s'><x xmlns='%s' type='%s'>%s</x></query>" % (
        NS_OWNER, NS_XDATA, type_, body)


def create(s, room, nick, **fields):
    """Create a room (locked until configured, §10.1.1), configure it
    with fields (none: an instant room, §10.1.2)."""
    send_join(s, room, nick)
    p = self_pres(s, room, nick)
    assert {'110', '201'} <= codes(p), show(p)
    subject(s, room)
    r = s.iq('set', form(fields), to=rj(room))
    assert r.get('type') == 'result', show(r)
    return p


def admin(s, room, items, type_='set'):
    return s.iq(type_, "<query xmlns='%s'>%s</query>" % (NS_ADMIN, items),
                to=rj(room))


def groupchat(s, room, body, id_='g', extra=''):
    s.send("<message to='%s' type='groupchat' id='%s'><body>%s</body>%s"
           "</message>" % (rj(room), id_, body, extra))


def gc_msg(s, pred=lambda e: True):
    return s.wait_for(lambda e: e.tag == MESSAGE and
                      e.get('type') == 'groupchat' and
                      e.find(q(NS_CLIENT, 'body')) is not None and pred(e))


def err_of(s, id_):
    e = s.wait_for(lambda el: el.get('id') == id_ and
                   el.get('type') == 'error')
    return stanza_error(e)


def info(s, jid):
    return s.iq('get', "<query xmlns='%s'/>" % NS_INFO, to=jid)


def features(r):
    return {f.get('var') for f in r.iter(q(NS_INFO, 'feature'))}


def test_service_disco_and_unique(make_server):
    """§6.1-6.3: the service is conference/text with the MUC feature and
    lists public rooms only; §10.1.4 unique room names; the host lists
    the service (XEP-0030 items)."""
    srv = muc_server(make_server)
    a = online(srv, 'alice')
    r = a.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, to='localhost')
    assert MUC in [i.get('jid') for i in r.iter(q(NS_ITEMS, 'item'))]
    r = info(a, MUC)
    ids = [(i.get('category'), i.get('type'))
           for i in r.iter(q(NS_INFO, 'identity'))]
    assert ids == [('conference', 'text')], show(r)
    assert {NS_MUC, NS_UNIQUE, NS_OID} <= features(r), show(r)
    create(a, 'open', 'al')
    create(a, 'secret', 'al', publicroom='0')
    r = a.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, to=MUC)
    jids = [i.get('jid') for i in r.iter(q(NS_ITEMS, 'item'))]
    assert jids == [rj('open')], show(r)
    r = a.iq('get', "<unique xmlns='%s'/>" % NS_UNIQUE, to=MUC)
    name = r.find(q(NS_UNIQUE, 'unique')).text
    assert name and name not in ('open', 'secret'), show(r)
    a.ping(to=MUC)


def test_instant_room_join_and_room_info(make_server):
    """§10.1.1-10.1.2: a new room is locked (item-not-found for others)
    until its owner submits the form; §7.2.2-7.2.4: the joiner gets the
    others' presence, then its own with 110, then the subject; the owner
    (a moderator) sees real JIDs, a participant of a semi-anonymous room
    does not; §6.4 disco#info with muc_* features and muc#roominfo."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    send_join(a, 'r1', 'al')
    p = self_pres(a, 'r1', 'al')
    assert {'110', '201'} <= codes(p), show(p)
    assert item(p).get('affiliation') == 'owner'
    assert item(p).get('role') == 'moderator'
    assert oid(p), show(p)
    send_join(b, 'r1', 'bo')
    e = pres_from(b, rj('r1', 'bo'))
    assert e.get('type') == 'error' and stanza_error(e) == 'item-not-found'
    assert e.find(q(NS_MUC, 'x')) is not None, show(e)  # original payload
    r = a.iq('set', form({}), to=rj('r1'))
    assert r.get('type') == 'result', show(r)
    send_join(b, 'r1', 'bo')
    other = pres_from(b, rj('r1', 'al'))
    assert item(other).get('jid') is None, show(other)
    mine = self_pres(b, 'r1', 'bo')
    assert item(mine).get('role') == 'participant', show(mine)
    assert item(mine).get('affiliation') == 'none', show(mine)
    subj = subject(b, 'r1')
    assert subj.findtext(q(NS_CLIENT, 'subject')) in (None, '')
    seen = pres_from(a, rj('r1', 'bo'))
    assert item(seen).get('jid') == 'bob@localhost/r', show(seen)
    r = info(b, rj('r1'))
    f = features(r)
    assert {NS_MUC, 'muc_public', 'muc_temporary', 'muc_open',
            'muc_unmoderated', 'muc_unsecured', 'muc_semianonymous',
            NS_OID} <= f, show(r)
    x = r.find('%s/%s' % (q(NS_INFO, 'query'), q(NS_XDATA, 'x')))
    vals = {fl.get('var'): fl.findtext(q(NS_XDATA, 'value'))
            for fl in x.iter(q(NS_XDATA, 'field'))}
    assert vals['FORM_TYPE'] == NS_MUC + '#roominfo', show(r)
    assert vals['muc#roominfo_occupants'] == '2', show(r)
    r = info(b, rj('nowhere'))
    assert stanza_error(r) == 'item-not-found', show(r)
    # §10.1.1: a join without the MUC <x/> (groupchat 1.0) makes an
    # instant room at once, unlocked
    send_join(a, 'legacy', 'al', x=False)
    p = self_pres(a, 'legacy', 'al')
    assert '201' in codes(p), show(p)
    join(b, 'legacy', 'bo')


def test_reserved_room_form_and_cancel(make_server):
    """§10.1.3: the owner gets the muc#roomconfig form, submits it (the
    room then has those settings, §10.2), or cancels, which destroys a
    new room; non-owners get forbidden; bad values not-acceptable."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    send_join(a, 'res', 'al')
    self_pres(a, 'res', 'al')
    r = a.iq('get', "<query xmlns='%s'/>" % NS_OWNER, to=rj('res'))
    assert r.get('type') == 'result', show(r)
    vars_ = {f.get('var') for f in r.iter(q(NS_XDATA, 'field'))}
    for v in ('roomname', 'roomdesc', 'persistentroom', 'publicroom',
              'membersonly', 'moderatedroom', 'passwordprotectedroom',
              'roomsecret', 'maxusers', 'whois', 'changesubject',
              'allowinvites', 'allowpm', 'roomowners', 'roomadmins'):
        assert 'muc#roomconfig_' + v in vars_, v
    r = a.iq('set', form({'maxusers': 'lots'}), to=rj('res'))
    assert stanza_error(r) == 'not-acceptable', show(r)
    r = a.iq('set', form({'roomname': 'Reserved', 'moderatedroom': '1',
                          'roomdesc': 'About things', 'whois': 'anyone'}),
             to=rj('res'))
    assert r.get('type') == 'result', show(r)
    r = info(b, rj('res'))
    assert {'muc_moderated', 'muc_nonanonymous'} <= features(r), show(r)
    ident = r.find('%s/%s' % (q(NS_INFO, 'query'), q(NS_INFO, 'identity')))
    assert ident.get('name') == 'Reserved', show(r)
    r = b.iq('get', "<query xmlns='%s'/>" % NS_OWNER, to=rj('res'))
    assert stanza_error(r) == 'forbidden', show(r)
    # a new room whose configuration is cancelled is gone
    send_join(a, 'gone', 'al')
    self_pres(a, 'gone', 'al')
    r = a.iq('set', form({}, type_='cancel'), to=rj('gone'))
    assert r.get('type') == 'result', show(r)
    u = pres_from(a, rj('gone', 'al'))
    assert u.get('type') == 'unavailable', show(u)
    assert stanza_error(info(a, rj('gone'))) == 'item-not-found'


def test_reflection_history_and_occupant_id(make_server):
    """§7.4: a groupchat message goes to every occupant, the sender
    included, from room/nick with its id; XEP-0421: a claimed
    occupant-id is replaced by the room's, the same for every copy;
    §7.2.14-15: history with delay, limited by maxstanzas, maxchars,
    seconds and since, then the subject."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'h', 'al')
    join(b, 'h', 'bo')
    for i in range(3):
        groupchat(a, 'h', 'msg %d' % i, id_='m%d' % i,
                  extra="<occupant-id xmlns='%s' id='forged'/>" % NS_OID)
        mine = gc_msg(a, lambda e, i=i: e.get('id') == 'm%d' % i)
        theirs = gc_msg(b, lambda e, i=i: e.get('id') == 'm%d' % i)
        for m in (mine, theirs):
            assert m.get('from') == rj('h', 'al'), show(m)
            ids = [o.get('id') for o in m.iter(q(NS_OID, 'occupant-id'))]
            assert len(ids) == 1 and ids[0] != 'forged', show(m)
        assert oid(mine) == oid(theirs)
        assert mine.get('to') == 'alice@localhost/r', show(mine)
        assert theirs.get('to') == 'bob@localhost/r', show(theirs)
    send_join(c, 'h', 'ca', "<history maxstanzas='2'/>")
    self_pres(c, 'h', 'ca')
    got = []
    while True:
        m = c.wait_for(lambda e: e.tag == MESSAGE)
        if m.find(q(NS_CLIENT, 'subject')) is not None:
            break
        got.append(m)
    assert [m.findtext(q(NS_CLIENT, 'body')) for m in got] == [
        'msg 1', 'msg 2'], [show(m) for m in got]
    d = got[0].find(q(NS_DELAY, 'delay'))
    assert d is not None and d.get('from') == rj('h'), show(got[0])
    assert oid(got[0]) == oid(mine)
    time.sleep(2.1)  # the history is now over 2 s old
    for hist in ("<history maxchars='0'/>", "<history maxstanzas='0'/>",
                 "<history seconds='1'/>",
                 "<history since='2999-01-01T00:00:00Z'/>"):
        c.send("<presence to='%s' type='unavailable'/>" % rj('h', 'ca'))
        pres_from(c, rj('h', 'ca'), lambda e: e.get('type') == 'unavailable')
        send_join(c, 'h', 'ca', hist)
        self_pres(c, 'h', 'ca')
        m = c.wait_for(lambda e: e.tag == MESSAGE)
        assert m.find(q(NS_CLIENT, 'subject')) is not None, show(m)
    c.send("<presence to='%s' type='unavailable'/>" % rj('h', 'ca'))
    pres_from(c, rj('h', 'ca'), lambda e: e.get('type') == 'unavailable')
    send_join(c, 'h', 'ca', "<history maxchars='100000' seconds='3600'/>")
    self_pres(c, 'h', 'ca')
    bodies = []
    while True:
        m = c.wait_for(lambda e: e.tag == MESSAGE)
        if m.find(q(NS_CLIENT, 'subject')) is not None:
            break
        bodies.append(m.findtext(q(NS_CLIENT, 'body')))
    assert bodies == ['msg 0', 'msg 1', 'msg 2'], bodies


def test_subject_rules(make_server):
    """§8.1: occupants change the subject when the room lets them, and
    everyone (later joiners too) gets it; with changesubject off only
    moderators may (forbidden otherwise)."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 's', 'al')
    join(b, 's', 'bo')
    b.send("<message to='%s' type='groupchat' id='s1'><subject>Hello"
           "</subject></message>" % rj('s'))
    for x in (a, b):
        m = subject(x, 's')
        assert m.findtext(q(NS_CLIENT, 'subject')) == 'Hello', show(m)
        assert m.get('from') == rj('s', 'bo'), show(m)
    r = a.iq('set', form({'changesubject': '0'}), to=rj('s'))
    assert r.get('type') == 'result', show(r)
    b.send("<message to='%s' type='groupchat' id='s2'><subject>No"
           "</subject></message>" % rj('s'))
    assert err_of(b, 's2') == 'forbidden'
    send_join(c, 's', 'ca')
    self_pres(c, 's', 'ca')
    m = subject(c, 's')
    assert m.findtext(q(NS_CLIENT, 'subject')) == 'Hello', show(m)


def test_nick_change_and_leave(make_server):
    """§7.6: a nick change is unavailable with 303 and the new nick,
    then presence from the new nick; a taken nick is a conflict (409);
    §7.14: leaving sends unavailable to all (110 to oneself); a
    temporary room vanishes with its last occupant (§10.1.x)."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'n', 'al')
    join(b, 'n', 'bo')
    b.send("<presence to='%s'/>" % rj('n', 'al'))
    e = pres_from(b, rj('n', 'al'), lambda e: e.get('type') == 'error')
    assert stanza_error(e) == 'conflict', show(e)
    assert e.find(q(NS_CLIENT, 'error')).get('code') == '409', show(e)
    b.send("<presence to='%s'/>" % rj('n', 'bobby'))
    for x, self_ in ((a, False), (b, True)):
        u = pres_from(x, rj('n', 'bo'),
                      lambda e: e.get('type') == 'unavailable')
        assert '303' in codes(u) and item(u).get('nick') == 'bobby'
        assert ('110' in codes(u)) == self_, show(u)
        p = pres_from(x, rj('n', 'bobby'))
        assert p.get('type') is None, show(p)
    groupchat(b, 'n', 'as bobby', id_='nb')
    assert gc_msg(a, lambda e: e.get('id') == 'nb').get('from') == \
        rj('n', 'bobby')
    b.send("<presence to='%s' type='unavailable'><status>bye</status>"
           "</presence>" % rj('n', 'bobby'))
    u = pres_from(a, rj('n', 'bobby'))
    assert u.get('type') == 'unavailable' and '110' not in codes(u)
    u = pres_from(b, rj('n', 'bobby'))
    assert u.get('type') == 'unavailable' and '110' in codes(u)
    a.send("<presence to='%s' type='unavailable'/>" % rj('n', 'al'))
    pres_from(a, rj('n', 'al'))
    assert stanza_error(info(a, rj('n'))) == 'item-not-found'


def test_private_messages(make_server):
    """§7.5: a message to room/nick reaches that occupant from the
    sender's occupant JID with a muc#user x, through the router (so the
    recipient's archive keeps it, XEP-0313 §4.1); to nobody: item-not-found;
    of type groupchat: bad-request; from a non-occupant:
    not-acceptable; allowpm none: not-allowed."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'pm', 'al')
    join(b, 'pm', 'bo')
    a.send("<message to='%s' type='chat' id='p1'><body>psst</body>"
           "</message>" % rj('pm', 'bo'))
    m = b.wait_for(lambda e: e.tag == MESSAGE and e.get('id') == 'p1')
    assert m.get('from') == rj('pm', 'al'), show(m)
    assert m.find(q(NS_USER, 'x')) is not None and oid(m), show(m)
    # through the router: the recipient's archive has it (XEP-0313)
    b.send("<iq type='set' id='mq'><query xmlns='urn:xmpp:mam:2' "
           "queryid='q1'/></iq>")
    res = b.wait_for(lambda e: e.tag == MESSAGE and e.find(
        q('urn:xmpp:mam:2', 'result')) is not None)
    assert 'psst' in ''.join(res.itertext()), show(res)
    b.wait_for(lambda e: e.get('id') == 'mq')
    a.send("<message to='%s' type='chat' id='p2'><body>?</body>"
           "</message>" % rj('pm', 'nobody'))
    assert err_of(a, 'p2') == 'item-not-found'
    a.send("<message to='%s' type='groupchat' id='p3'><body>?</body>"
           "</message>" % rj('pm', 'bo'))
    assert err_of(a, 'p3') == 'bad-request'
    c.send("<message to='%s' type='chat' id='p4'><body>?</body>"
           "</message>" % rj('pm', 'bo'))
    assert err_of(c, 'p4') == 'not-acceptable'
    r = a.iq('set', form({'allowpm': 'none'}), to=rj('pm'))
    assert r.get('type') == 'result', show(r)
    b.send("<message to='%s' type='chat' id='p5'><body>?</body>"
           "</message>" % rj('pm', 'al'))
    assert err_of(b, 'p5') == 'not-allowed'


def test_entry_errors(make_server):
    """§7.2: entering without a nick is jid-malformed (400); a banned
    user gets forbidden (403, §7.2.8); members-only rooms
    registration-required (407, §7.2.7); a wrong or missing password
    not-authorized (401, §7.2.6), the right one enters; a full room
    service-unavailable (503, §7.2.10); §7.4: a groupchat message from a
    non-occupant is not-acceptable (406)."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'e', 'al', passwordprotectedroom='1', roomsecret='pw',
           maxusers='2')
    b.send("<presence to='%s'><x xmlns='%s'/></presence>" % (rj('e'), NS_MUC))
    e = pres_from(b, rj('e'))
    assert stanza_error(e) == 'jid-malformed', show(e)
    send_join(b, 'e', 'bo')
    e = pres_from(b, rj('e', 'bo'))
    assert stanza_error(e) == 'not-authorized', show(e)
    send_join(b, 'e', 'bo', '<password>nope</password>')
    e = pres_from(b, rj('e', 'bo'))
    assert stanza_error(e) == 'not-authorized', show(e)
    join(b, 'e', 'bo', '<password>pw</password>')
    send_join(c, 'e', 'ca', '<password>pw</password>')
    e = pres_from(c, rj('e', 'ca'))
    assert stanza_error(e) == 'service-unavailable', show(e)
    groupchat(c, 'e', 'let me in', id_='x1')
    assert err_of(c, 'x1') == 'not-acceptable'
    create(a, 'mo', 'al', membersonly='1')
    send_join(c, 'mo', 'ca')
    e = pres_from(c, rj('mo', 'ca'))
    assert stanza_error(e) == 'registration-required', show(e)
    r = admin(a, 'mo', "<item affiliation='outcast' jid='carol@localhost'>"
              "<reason>spam</reason></item>")
    assert r.get('type') == 'result', show(r)
    send_join(c, 'mo', 'ca')
    e = pres_from(c, rj('mo', 'ca'))
    assert stanza_error(e) == 'forbidden', show(e)


def test_moderated_voice_kick_ban(make_server):
    """§8.3-8.4: in a moderated room a visitor may not speak (forbidden)
    until given voice; §8.2: kick is unavailable with 307 and the
    actor; §9.1: ban is unavailable with 301 and the outcast list has
    the JID; §9.5, §8.5: the lists; privileges: participants may not
    kick (forbidden), an admin may not kick an owner (not-allowed), the
    last owner stays (conflict)."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'mod', 'al', moderatedroom='1')
    p = join(b, 'mod', 'bo')
    assert item(p).get('role') == 'visitor', show(p)
    groupchat(b, 'mod', 'hello?', id_='v1')
    assert err_of(b, 'v1') == 'forbidden'
    r = admin(a, 'mod', "<item nick='bo' role='participant'/>")
    assert r.get('type') == 'result', show(r)
    p = pres_from(b, rj('mod', 'bo'),
                  lambda e: item(e).get('role') == 'participant')
    groupchat(b, 'mod', 'now I can', id_='v2')
    gc_msg(a, lambda e: e.get('id') == 'v2')
    r = admin(a, 'mod', "<item role='participant'/>", 'get')
    assert [i.get('nick') for i in r.iter(q(NS_ADMIN, 'item'))] == ['bo']
    join(c, 'mod', 'ca')
    r = admin(c, 'mod', "<item nick='bo' role='none'/>")
    assert stanza_error(r) == 'forbidden', show(r)
    r = admin(a, 'mod', "<item nick='bo' role='none'><reason>out</reason>"
              "</item>")
    assert r.get('type') == 'result', show(r)
    for x, self_ in ((b, True), (c, False)):
        u = pres_from(x, rj('mod', 'bo'),
                      lambda e: e.get('type') == 'unavailable')
        assert '307' in codes(u) and ('110' in codes(u)) == self_, show(u)
        it = item(u)
        assert it.find(q(NS_USER, 'actor')).get('nick') == 'al', show(u)
        assert it.findtext(q(NS_USER, 'reason')) == 'out', show(u)
    r = admin(a, 'mod', "<item affiliation='outcast' jid='carol@localhost'/>")
    assert r.get('type') == 'result', show(r)
    u = pres_from(c, rj('mod', 'ca'), lambda e: e.get('type') ==
                  'unavailable')
    assert {'301', '110'} <= codes(u), show(u)
    r = admin(a, 'mod', "<item affiliation='outcast'/>", 'get')
    assert [i.get('jid') for i in r.iter(q(NS_ADMIN, 'item'))] == [
        'carol@localhost'], show(r)
    r = admin(a, 'mod', "<item affiliation='admin' jid='bob@localhost'/>")
    assert r.get('type') == 'result', show(r)
    join(b, 'mod', 'bo')
    r = admin(b, 'mod', "<item nick='al' role='none'/>")
    assert stanza_error(r) == 'not-allowed', show(r)
    r = admin(b, 'mod', "<item affiliation='none' jid='alice@localhost'/>")
    assert stanza_error(r) == 'not-allowed', show(r)
    r = admin(a, 'mod', "<item affiliation='member' jid='alice@localhost'/>")
    assert stanza_error(r) == 'conflict', show(r)
    r = admin(a, 'mod', "<item affiliation='owner'/>", 'get')
    assert [i.get('jid') for i in r.iter(q(NS_ADMIN, 'item'))] == [
        'alice@localhost'], show(r)


def test_members_only_status_codes(make_server):
    """§9.4 / §10.2: a room turned members-only removes non-members with
    322; a member removed from a members-only room leaves with 321."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'm', 'al')
    join(b, 'm', 'bo')
    join(c, 'm', 'ca')
    r = admin(a, 'm', "<item affiliation='member' jid='bob@localhost'/>")
    assert r.get('type') == 'result', show(r)
    r = a.iq('set', form({'membersonly': '1'}), to=rj('m'))
    assert r.get('type') == 'result', show(r)
    u = pres_from(c, rj('m', 'ca'), lambda e: e.get('type') == 'unavailable')
    assert '322' in codes(u), show(u)
    m = b.wait_for(lambda e: e.tag == MESSAGE and '104' in codes(e))
    assert m.get('from') == rj('m'), show(m)
    r = admin(a, 'm', "<item affiliation='none' jid='bob@localhost'/>")
    assert r.get('type') == 'result', show(r)
    u = pres_from(b, rj('m', 'bo'), lambda e: e.get('type') == 'unavailable')
    assert '321' in codes(u), show(u)


def test_non_anonymous_members_only(make_server):
    """§7.2.3 and issue 14 item 5 (Conversations' OMEMO group chats): in
    a non-anonymous room everyone sees real JIDs and the self-presence
    carries 100; a change to non-anonymous is announced with 172; in a
    members-only non-anonymous room members may fetch the member, admin
    and owner lists (XEP-0384 clients encrypt to every member), which
    in a semi-anonymous room is for admins only."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'omemo', 'al', membersonly='1')
    for u in ('bob', 'carol'):
        r = admin(a, 'omemo', "<item affiliation='member' jid='%s@localhost'"
                  "/>" % u)
        assert r.get('type') == 'result', show(r)
    join(b, 'omemo', 'bo')
    r = admin(b, 'omemo', "<item affiliation='member'/>", 'get')
    assert stanza_error(r) == 'forbidden', show(r)
    r = a.iq('set', form({'whois': 'anyone'}), to=rj('omemo'))
    assert r.get('type') == 'result', show(r)
    m = b.wait_for(lambda e: e.tag == MESSAGE and '172' in codes(e))
    assert '104' in codes(m), show(m)
    p = join(c, 'omemo', 'ca')
    assert '100' in codes(p), show(p)
    seen = pres_from(b, rj('omemo', 'ca'))
    assert item(seen).get('jid') == 'carol@localhost/r', show(seen)
    r = admin(b, 'omemo', "<item affiliation='member'/>", 'get')
    assert sorted(i.get('jid') for i in r.iter(q(NS_ADMIN, 'item'))) == [
        'bob@localhost', 'carol@localhost'], show(r)
    r = admin(b, 'omemo', "<item affiliation='owner'/>", 'get')
    assert [i.get('jid') for i in r.iter(q(NS_ADMIN, 'item'))] == [
        'alice@localhost'], show(r)
    assert 'muc_nonanonymous' in features(info(b, rj('omemo')))


def test_destroy_with_alternate_venue(make_server):
    """§10.9: the owner destroys the room; every occupant gets
    unavailable with <destroy jid=alternate><reason/>; the room is
    gone; others may not destroy it (forbidden)."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'd', 'al')
    join(b, 'd', 'bo')
    r = b.iq('set', "<query xmlns='%s'><destroy/></query>" % NS_OWNER,
             to=rj('d'))
    assert stanza_error(r) == 'forbidden', show(r)
    r = a.iq('set', "<query xmlns='%s'><destroy jid='%s'><reason>moved"
             "</reason></destroy></query>" % (NS_OWNER, rj('new')),
             to=rj('d'))
    assert r.get('type') == 'result', show(r)
    u = pres_from(b, rj('d', 'bo'), lambda e: e.get('type') == 'unavailable')
    d = u.find('%s/%s' % (q(NS_USER, 'x'), q(NS_USER, 'destroy')))
    assert d is not None and d.get('jid') == rj('new'), show(u)
    assert d.findtext(q(NS_USER, 'reason')) == 'moved', show(u)
    assert stanza_error(info(a, rj('d'))) == 'item-not-found'


def test_invitations(make_server):
    """§7.8.2: a mediated invitation reaches the invitee from the room
    with the inviter and the password; in a members-only room the
    invitee becomes a member and may enter; §7.8.3: a decline goes back
    to the inviter; XEP-0249 direct invitations pass user to user
    untouched."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'inv', 'al', membersonly='1', passwordprotectedroom='1',
           roomsecret='pw')
    a.send("<message to='%s' id='i1'><x xmlns='%s'><invite to='bob@localhost'"
           "><reason>join us</reason></invite></x></message>"
           % (rj('inv'), NS_USER))
    m = b.wait_for(lambda e: e.tag == MESSAGE and e.get('from') == rj('inv'))
    inv = m.find('%s/%s' % (q(NS_USER, 'x'), q(NS_USER, 'invite')))
    assert inv.get('from') == 'alice@localhost', show(m)
    assert inv.findtext(q(NS_USER, 'reason')) == 'join us', show(m)
    assert m.findtext('%s/%s' % (q(NS_USER, 'x'), q(NS_USER, 'password'))
                      ) == 'pw', show(m)
    join(b, 'inv', 'bo', '<password>pw</password>')
    b.send("<message to='%s'><x xmlns='%s'><invite to='carol@localhost'/>"
           "</x></message>" % (rj('inv'), NS_USER))
    b.send("<message to='%s' id='i2'><x xmlns='%s'><invite to='carol@localhost'"
           "/></x></message>" % (rj('inv'), NS_USER))
    assert err_of(b, 'i2') == 'forbidden'
    c.send("<message to='%s' id='i3'><x xmlns='%s'><invite to='bob@localhost'"
           "/></x></message>" % (rj('inv'), NS_USER))
    assert err_of(c, 'i3') == 'not-acceptable'
    c.send("<message to='%s'><x xmlns='%s'><decline to='alice@localhost'>"
           "<reason>busy</reason></decline></x></message>"
           % (rj('inv'), NS_USER))
    m = a.wait_for(lambda e: e.tag == MESSAGE and e.find(
        '%s/%s' % (q(NS_USER, 'x'), q(NS_USER, 'decline'))) is not None)
    d = m.find('%s/%s' % (q(NS_USER, 'x'), q(NS_USER, 'decline')))
    assert d.get('from') == 'carol@localhost', show(m)
    assert d.findtext(q(NS_USER, 'reason')) == 'busy', show(m)
    a.send("<message to='carol@localhost' id='dx'><x xmlns='jabber:x:"
           "conference' jid='%s' password='pw'/></message>" % rj('inv'))
    m = c.wait_for(lambda e: e.tag == MESSAGE and e.get('id') == 'dx')
    x = m.find(q('jabber:x:conference', 'x'))
    assert x.get('jid') == rj('inv') and x.get('password') == 'pw', show(m)


def test_persistent_room_survives_restart(make_server):
    """Issue 14 item 2: a persistent room keeps its configuration,
    affiliations and subject in the store through a restart; a
    temporary room does not; the rooms count against no account's
    storage quota."""
    srv = muc_server(make_server, limits={'account_storage': '1k'})
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'keep', 'al', persistentroom='1', membersonly='1',
           roomname='Kept room', roomdesc='x' * 1500)
    create(a, 'temp', 'al')
    r = admin(a, 'keep', "<item affiliation='member' jid='bob@localhost'/>")
    assert r.get('type') == 'result', show(r)
    a.send("<message to='%s' type='groupchat' id='s'><subject>Persisted"
           "</subject></message>" % rj('keep'))
    subject(a, 'keep')
    a.alive()
    assert srv.stop() == []
    srv.start()
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    r = a.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, to=MUC)
    assert [(i.get('jid'), i.get('name')) for i in r.iter(
        q(NS_ITEMS, 'item'))] == [(rj('keep'), 'Kept room')], show(r)
    f = features(info(b, rj('keep')))
    assert {'muc_persistent', 'muc_membersonly'} <= f
    send_join(c, 'keep', 'ca')
    e = pres_from(c, rj('keep', 'ca'))
    assert stanza_error(e) == 'registration-required', show(e)
    send_join(b, 'keep', 'bo')
    p = self_pres(b, 'keep', 'bo')
    assert item(p).get('affiliation') == 'member', show(p)
    m = subject(b, 'keep')
    assert m.findtext(q(NS_CLIENT, 'subject')) == 'Persisted', show(m)
    send_join(a, 'keep', 'al')
    p = self_pres(a, 'keep', 'al')
    assert item(p).get('affiliation') == 'owner', show(p)
    assert '201' not in codes(p), show(p)
    # a persistent room stays when empty; the temporary one is gone
    assert stanza_error(info(a, rj('temp'))) == 'item-not-found'
    for s, nick in ((a, 'al'), (b, 'bo')):
        s.send("<presence to='%s' type='unavailable'/>" % rj('keep', nick))
        pres_from(s, rj('keep', nick), lambda e: e.get('type') ==
                  'unavailable')
    assert 'muc_persistent' in features(info(a, rj('keep')))
    # made temporary while empty, it ends there and then
    r = a.iq('set', form({'persistentroom': '0'}), to=rj('keep'))
    assert r.get('type') == 'result', show(r)
    assert stanza_error(info(a, rj('keep'))) == 'item-not-found'


def test_multi_session_nick(make_server):
    """Issue 14 item 7: two resources of one user enter with the same
    nick; each gets the room's traffic, the others see one occupant;
    one leaving takes the nick away only when it is the last; another
    user taking the nick is a conflict."""
    srv = muc_server(make_server)
    a1, a2 = online(srv, 'alice', 'one'), online(srv, 'alice', 'two')
    b = online(srv, 'bob')
    create(a1, 'ms', 'al')
    join(b, 'ms', 'bo')
    b.alive()
    b.pending.clear()
    p = join(a2, 'ms', 'al')
    assert item(p).get('role') == 'moderator', show(p)
    pres_from(a2, rj('ms', 'bo'))  # a2 got the occupant list
    groupchat(b, 'ms', 'to both', id_='b1')
    for s in (a1, a2):
        gc_msg(s, lambda e: e.get('id') == 'b1')
    groupchat(a2, 'ms', 'from two', id_='a2')
    for s in (a1, a2, b):
        assert gc_msg(s, lambda e: e.get('id') == 'a2').get('from') == \
            rj('ms', 'al')
    b.alive()
    assert not [e for e in b.pending if e.tag == PRESENCE and
                e.get('from') == rj('ms', 'al')], 'second session shown'
    a2.send("<presence to='%s' type='unavailable'/>" % rj('ms', 'al'))
    u = pres_from(a2, rj('ms', 'al'))
    assert u.get('type') == 'unavailable' and '110' in codes(u)
    groupchat(b, 'ms', 'still here?', id_='b2')
    gc_msg(a1, lambda e: e.get('id') == 'b2')
    b.alive()
    assert not [e for e in b.pending if e.tag == PRESENCE], \
        [show(e) for e in b.pending]
    c = online(srv, 'carol')
    send_join(c, 'ms', 'al')
    assert stanza_error(pres_from(c, rj('ms', 'al'))) == 'conflict'


def test_limits(make_server):
    """Issue 14 item 6: rooms per user (policy-violation), occupants per
    room (service-unavailable, §7.2.10), message rate
    (resource-constraint), history kept (history_max)."""
    srv = muc_server(make_server, 'max_rooms_per_user: 1, max_occupants: 2,'
                     ' message_rate: 1, message_burst: 3, history_max: 2')
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'l1', 'al')
    send_join(a, 'l2', 'al')
    e = pres_from(a, rj('l2', 'al'))
    assert stanza_error(e) == 'policy-violation', show(e)
    join(b, 'l1', 'bo')
    send_join(c, 'l1', 'ca')
    e = pres_from(c, rj('l1', 'ca'))
    assert stanza_error(e) == 'service-unavailable', show(e)
    for i in range(3):
        groupchat(b, 'l1', 'm%d' % i, id_='r%d' % i)
        gc_msg(b, lambda e, i=i: e.get('id') == 'r%d' % i)
    groupchat(b, 'l1', 'too fast', id_='r3')
    e = b.wait_for(lambda el: el.get('id') == 'r3')
    assert e.get('type') == 'error', show(e)
    assert stanza_error(e) == 'resource-constraint', show(e)
    b.send("<presence to='%s' type='unavailable'/>" % rj('l1', 'bo'))
    pres_from(b, rj('l1', 'bo'))
    send_join(c, 'l1', 'ca', "<history maxstanzas='10'/>")
    self_pres(c, 'l1', 'ca')
    bodies = []
    while True:
        m = c.wait_for(lambda e: e.tag == MESSAGE)
        if m.find(q(NS_CLIENT, 'subject')) is not None:
            break
        bodies.append(m.findtext(q(NS_CLIENT, 'body')))
    assert bodies == ['m1', 'm2'], bodies


def test_self_ping_and_occupant_id(make_server):
    """XEP-0410 §3: a ping to one's own occupant JID is answered while
    joined, not-acceptable otherwise; XEP-0421 §4: one user's occupant
    id is stable across visits to a room, differs between rooms and
    between users, and is on presence too."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    pa = create(a, 'p', 'al')
    p1 = join(b, 'p', 'bo')
    r = b.iq('get', "<ping xmlns='%s'/>" % NS_PING, to=rj('p', 'bo'))
    assert r.get('type') == 'result', show(r)
    b.send("<presence to='%s' type='unavailable'/>" % rj('p', 'bo'))
    pres_from(b, rj('p', 'bo'))
    r = b.iq('get', "<ping xmlns='%s'/>" % NS_PING, to=rj('p', 'bo'))
    assert stanza_error(r) == 'not-acceptable', show(r)
    p2 = join(b, 'p', 'other')
    assert oid(p1) and oid(p1) == oid(p2) and oid(p1) != oid(pa)
    create(a, 'p2', 'al')
    p3 = join(b, 'p2', 'bo')
    assert oid(p3) != oid(p1)


def test_session_end_leaves_room(make_server):
    """RFC 6121 §4.6.3 with XEP-0045 §7.14: a session that ends without
    leaving (its connection dropped) leaves its rooms; the others get
    its unavailable presence."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'drop', 'al')
    join(b, 'drop', 'bo')
    b.close()
    u = pres_from(a, rj('drop', 'bo'), lambda e: e.get('type') ==
                  'unavailable')
    assert u.get('type') == 'unavailable', show(u)


def test_slixmpp_clients(make_server):
    """slixmpp's XEP-0045 plugin: create, join, talk (each gets the
    other's message and its own), subject."""
    srv = muc_server(make_server)
    room = rj('sli')

    async def scenario(sess):
        plugins = ('xep_0030', 'xep_0199', 'xep_0045')
        a = await sess.login('alice', 'sa', plugins=plugins)
        b = await sess.login('bob', 'sb', plugins=plugins)
        await a['xep_0045'].join_muc_wait(room, 'al', maxchars=0)
        form = await a['xep_0045'].get_room_config(room)
        await a['xep_0045'].set_room_config(room, form)
        await b['xep_0045'].join_muc_wait(room, 'bo', maxchars=0)
        assert sorted(b['xep_0045'].get_roster(room)) == ['al', 'bo']
        a.send_message(mto=room, mbody='hi all', mtype='groupchat')
        for c in (a, b):
            while True:
                m = await recv(c.inbox)
                if m['body'] == 'hi all':
                    break
            assert m['from'] == room + '/al' and m['type'] == 'groupchat'
        return True

    assert run(srv, scenario)


def test_dev_config_declares_conference(tmp_path):
    """`make run`'s configuration (scripts/dev-setup.sh) has the group
    chat service on conference.localhost, and ternd --check accepts it."""
    import os
    import subprocess
    from ternlib import BIN, REPO
    env = dict(os.environ, VAR=str(tmp_path / 'var'))
    subprocess.run(['sh', str(REPO / 'scripts' / 'dev-setup.sh')], env=env,
                   check=True, capture_output=True, timeout=60)
    conf = tmp_path / 'var' / 'tern.yml'
    assert '{ module: muc, domain: conference.localhost }' in \
        conf.read_text()
    r = subprocess.run([str(BIN / 'ternd'), '-c', str(conf), '--check'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


NS_MAM = 'urn:xmpp:mam:2'
NS_RSM = 'http://jabber.org/protocol/rsm'
NS_SID = 'urn:xmpp:sid:0'
NS_FWD = 'urn:xmpp:forward:0'
NS_RETRACT = 'urn:xmpp:message-retract:1'
NS_MODERATE = 'urn:xmpp:message-moderate:1'


def room_mam(s, room, rsm=''):
    """A MAM query to the room; returns (forwarded messages, fin, iq)."""
    s.send("<iq type='set' id='mamq' to='%s'><query xmlns='%s' "
           "queryid='qq'>%s</query></iq>" % (rj(room), NS_MAM, rsm))
    out = []
    while True:
        e = s.wait_for(lambda el: el.get('id') == 'mamq' or (
            el.tag == MESSAGE and el.find(q(NS_MAM, 'result')) is not None))
        if e.tag != MESSAGE:
            return out, e.find(q(NS_MAM, 'fin')), e
        res = e.find(q(NS_MAM, 'result'))
        assert e.get('from') == rj(room) and res.get('queryid') == 'qq'
        fwd = res.find(q(NS_FWD, 'forwarded'))
        out.append((res.get('id'), fwd.find(q(NS_CLIENT, 'message'))))


def test_room_archive_and_stanza_ids(make_server):
    """Issue 14 item 3: a persistent room archives its groupchat messages
    (XEP-0313 on the room JID, on by default, muc#roomconfig_mam) with
    XEP-0359 stanza-ids by the room (a forged one is removed); queries
    page with RSM; members-only rooms answer members only; history
    comes back from the archive after a restart; a temporary room keeps
    none."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'arch', 'al', persistentroom='1', membersonly='1')
    assert {NS_MAM, NS_SID} <= features(info(a, rj('arch')))
    sids = []
    for i in range(5):
        groupchat(a, 'arch', 'a%d' % i, id_='a%d' % i,
                  extra="<stanza-id xmlns='%s' id='forged' by='%s'/>"
                  % (NS_SID, rj('arch')))
        m = gc_msg(a, lambda e, i=i: e.get('id') == 'a%d' % i)
        ids = [(x.get('id'), x.get('by')) for x in m.iter(
            q(NS_SID, 'stanza-id'))]
        assert len(ids) == 1 and ids[0][0] != 'forged' and \
            ids[0][1] == rj('arch'), show(m)
        sids.append(ids[0][0])
    got, fin, iq = room_mam(a, 'arch', "<set xmlns='%s'><max>3</max></set>"
                            % NS_RSM)
    assert iq.get('type') == 'result', show(iq)
    assert [i for i, _ in got] == sids[:3] and fin.get('complete') == \
        'false', show(iq)
    assert got[0][1].get('from') == rj('arch', 'al'), show(got[0][1])
    assert fin.findtext('%s/%s' % (q(NS_RSM, 'set'), q(NS_RSM, 'count'))
                        ) == '5'
    got, fin, _ = room_mam(a, 'arch', "<set xmlns='%s'><after>%s</after>"
                           "</set>" % (NS_RSM, sids[2]))
    assert [m.findtext(q(NS_CLIENT, 'body')) for _, m in got] == [
        'a3', 'a4'] and fin.get('complete') == 'true'
    _, _, iq = room_mam(c, 'arch')
    assert stanza_error(iq) == 'forbidden', show(iq)
    assert srv.stop() == []
    srv.start()
    a = online(srv, 'alice')
    send_join(a, 'arch', 'al', "<history maxstanzas='2'/>")
    self_pres(a, 'arch', 'al')
    bodies = []
    while True:
        m = a.wait_for(lambda e: e.tag == MESSAGE)
        if m.find(q(NS_CLIENT, 'subject')) is not None:
            break
        bodies.append(m.findtext(q(NS_CLIENT, 'body')))
    assert bodies == ['a3', 'a4'], bodies
    create(a, 'tmp', 'al')
    _, _, iq = room_mam(a, 'tmp')
    assert stanza_error(iq) == 'feature-not-implemented', show(iq)
    # §7.2.12, §10.2.1: a logged room says so (170), and when it stops
    # (171)
    b = online(srv, 'bob')
    r = admin(a, 'arch', "<item affiliation='member' jid='bob@localhost'/>")
    assert r.get('type') == 'result', show(r)
    p = join(b, 'arch', 'bo', "<history maxstanzas='0'/>")
    assert '170' in codes(p), show(p)
    r = a.iq('set', form({'mam': '0'}), to=rj('arch'))
    assert r.get('type') == 'result', show(r)
    m = b.wait_for(lambda e: e.tag == MESSAGE and '104' in codes(e))
    assert '171' in codes(m), show(m)
    assert NS_MAM not in features(info(b, rj('arch')))


def test_moderation_and_relayed_edits(make_server):
    """XEP-0425 §4: a moderator retracts a message: every occupant gets
    the retraction with <moderated by=...>, the archive and the history
    lose it; participants may not (forbidden), an unknown id is
    item-not-found. XEP-0424 retractions and XEP-0308 corrections from
    occupants are relayed as they are."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'mod', 'al', persistentroom='1')
    join(b, 'mod', 'bo')
    groupchat(b, 'mod', 'oops', id_='bad')
    m = gc_msg(a, lambda e: e.get('id') == 'bad')
    sid = m.find(q(NS_SID, 'stanza-id')).get('id')
    groupchat(b, 'mod', 'fine', id_='ok',
              extra="<replace xmlns='urn:xmpp:message-correct:0' id='x'/>")
    m = gc_msg(a, lambda e: e.get('id') == 'ok')
    assert m.find(q('urn:xmpp:message-correct:0', 'replace')).get('id') \
        == 'x', show(m)
    b.send("<message to='%s' type='groupchat' id='rt'><retract xmlns='%s' "
           "id='%s'/><body>/me retracted</body></message>"
           % (rj('mod'), NS_RETRACT, sid))
    m = gc_msg(a, lambda e: e.get('id') == 'rt')
    assert m.find(q(NS_RETRACT, 'retract')).get('id') == sid, show(m)
    mod = ("<moderate xmlns='%s' id='%%s'><retract xmlns='%s'/><reason>spam"
           "</reason></moderate>" % (NS_MODERATE, NS_RETRACT))
    r = b.iq('set', mod % sid, to=rj('mod'))
    assert stanza_error(r) == 'forbidden', show(r)
    r = a.iq('set', mod % 'nope', to=rj('mod'))
    assert stanza_error(r) == 'item-not-found', show(r)
    r = a.iq('set', mod % sid, to=rj('mod'))
    assert r.get('type') == 'result', show(r)
    for s in (a, b):
        m = s.wait_for(lambda e: e.tag == MESSAGE and e.find(
            q(NS_RETRACT, 'retract')) is not None and
            e.get('from') == rj('mod'))
        rt = m.find(q(NS_RETRACT, 'retract'))
        assert rt.get('id') == sid, show(m)
        assert rt.find(q(NS_MODERATE, 'moderated')).get('by') == \
            rj('mod', 'al'), show(m)
        assert rt.findtext(q(NS_RETRACT, 'reason')) == 'spam', show(m)
    got, _, _ = room_mam(a, 'mod')
    assert sid not in [i for i, _ in got], [i for i, _ in got]
    send_join(c, 'mod', 'ca')
    self_pres(c, 'mod', 'ca')
    bodies = []
    while True:
        m = c.wait_for(lambda e: e.tag == MESSAGE)
        if m.find(q(NS_CLIENT, 'subject')) is not None:
            break
        bodies.append(m.findtext(q(NS_CLIENT, 'body')))
    assert 'oops' not in bodies and 'fine' in bodies, bodies


def test_iq_relay_between_occupants(make_server):
    """An iq to an occupant's JID is relayed from the asker's occupant
    JID with an id of the room's, and the answer goes back to the asking
    session with its own id (the real JID never shows); vCard requests
    are answered by the occupant's server (XEP-0054 §3.2); pings to
    another occupant are relayed too (XEP-0410 §3); a non-occupant gets
    not-acceptable."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    r = a.iq('set', "<vCard xmlns='vcard-temp'><FN>Alice A.</FN></vCard>")
    assert r.get('type') == 'result', show(r)
    create(a, 'iq', 'al')
    join(b, 'iq', 'bo')
    b.send("<iq type='get' id='v1' to='%s'><query xmlns='jabber:iq:version'"
           "/></iq>" % rj('iq', 'al'))
    req = a.wait_for(lambda e: e.tag == q(NS_CLIENT, 'iq') and
                     e.get('from') == rj('iq', 'bo'))
    assert req.get('id') != 'v1' and 'bob' not in show(req), show(req)
    a.send("<iq type='result' id='%s' to='%s'><query xmlns='jabber:iq:"
           "version'><name>raw</name></query></iq>"
           % (req.get('id'), rj('iq', 'bo')))
    res = b.wait_for(lambda e: e.get('id') == 'v1')
    assert res.get('type') == 'result' and res.get('from') == \
        rj('iq', 'al'), show(res)
    assert 'raw' in ''.join(res.itertext()), show(res)
    r = b.iq('get', "<vCard xmlns='vcard-temp'/>", to=rj('iq', 'al'))
    assert r.get('type') == 'result' and r.get('from') == rj('iq', 'al')
    assert 'Alice A.' in ''.join(r.itertext()), show(r)
    b.send("<iq type='get' id='p1' to='%s'><ping xmlns='%s'/></iq>"
           % (rj('iq', 'al'), NS_PING))
    req = a.wait_for(lambda e: e.tag == q(NS_CLIENT, 'iq') and
                     e.find(q(NS_PING, 'ping')) is not None)
    a.send("<iq type='result' id='%s' to='%s'/>" % (req.get('id'),
                                                     rj('iq', 'bo')))
    assert b.wait_for(lambda e: e.get('id') == 'p1').get('type') == 'result'
    r = c.iq('get', "<query xmlns='jabber:iq:version'/>", to=rj('iq', 'al'))
    assert stanza_error(r) == 'not-acceptable', show(r)


def test_room_vcard(make_server):
    """The room's own vCard (XEP-0054 on the room JID, XEP-0486 avatars):
    owners set it, occupants learn of it by a 104 status message, anyone
    reads it, others may not set it (forbidden); disco says vcard-temp."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'av', 'al')
    join(b, 'av', 'bo')
    assert 'vcard-temp' in features(info(b, rj('av')))
    r = b.iq('get', "<vCard xmlns='vcard-temp'/>", to=rj('av'))
    assert r.get('type') == 'result' and r.find(
        q('vcard-temp', 'vCard')) is not None, show(r)
    card = ("<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE>"
            "<BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>")
    r = b.iq('set', card, to=rj('av'))
    assert stanza_error(r) == 'forbidden', show(r)
    r = a.iq('set', card, to=rj('av'))
    assert r.get('type') == 'result', show(r)
    b.wait_for(lambda e: e.tag == MESSAGE and '104' in codes(e))
    r = b.iq('get', "<vCard xmlns='vcard-temp'/>", to=rj('av'))
    assert 'iVBORw0KGgo=' in ''.join(r.itertext()), show(r)


def test_nick_registration(make_server):
    """§7.10: a user registers a nick with the room (the form has
    muc#register_roomnick) and becomes a member; it is reserved (others
    entering or registering with it get conflict, §7.2.9), listed with
    the member, found again by disco node x-roomuser-item (§7.12), kept
    through a restart, and given up by <remove/>."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'reg', 'al', persistentroom='1')
    r = b.iq('get', "<query xmlns='jabber:iq:register'/>", to=rj('reg'))
    assert 'muc#register_roomnick' in [f.get('var') for f in r.iter(
        q(NS_XDATA, 'field'))], show(r)
    sub = ("<query xmlns='jabber:iq:register'><x xmlns='%s' type='submit'>"
           "<field var='FORM_TYPE'><value>%s#register</value></field>"
           "<field var='muc#register_roomnick'><value>%%s</value></field>"
           "</x></query>" % (NS_XDATA, NS_MUC))
    r = b.iq('set', sub % 'Bobby', to=rj('reg'))
    assert r.get('type') == 'result', show(r)
    r = c.iq('set', sub % 'Bobby', to=rj('reg'))
    assert stanza_error(r) == 'conflict', show(r)
    send_join(c, 'reg', 'Bobby')
    assert stanza_error(pres_from(c, rj('reg', 'Bobby'))) == 'conflict'
    assert srv.stop() == []
    srv.start()
    a, b = online(srv, 'alice'), online(srv, 'bob')
    r = b.iq('get', "<query xmlns='jabber:iq:register'/>", to=rj('reg'))
    assert r.find(q('jabber:iq:register', 'query')).findtext(
        q('jabber:iq:register', 'username')) == 'Bobby', show(r)
    r = b.iq('get', "<query xmlns='%s' node='x-roomuser-item'/>" % NS_INFO,
             to=rj('reg'))
    ids = [i.get('name') for i in r.iter(q(NS_INFO, 'identity'))]
    assert ids == ['Bobby'], show(r)
    r = admin(a, 'reg', "<item affiliation='member'/>", 'get')
    assert [(i.get('jid'), i.get('nick')) for i in r.iter(
        q(NS_ADMIN, 'item'))] == [('bob@localhost', 'Bobby')], show(r)
    p = join(b, 'reg', 'Bobby')
    assert item(p).get('affiliation') == 'member', show(p)
    r = b.iq('set', "<query xmlns='jabber:iq:register'><remove/></query>",
             to=rj('reg'))
    assert r.get('type') == 'result', show(r)
    p = pres_from(b, rj('reg', 'Bobby'),
                  lambda e: item(e).get('affiliation') == 'none')
    r = admin(a, 'reg', "<item affiliation='member'/>", 'get')
    assert list(r.iter(q(NS_ADMIN, 'item'))) == [], show(r)


def test_gone_session_leaves_on_delivery(make_server):
    """XEP-0045 §7.14 without the presence module (nobody tells the room
    that a session ended): the room finds the session gone when it
    delivers to it, and it leaves; when that empties a temporary room
    in the middle of an owner's configuration change, the room ends
    after the change, not under it."""
    srv = muc_server(make_server, modules=('disco', 'ping', 'roster'))
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'ghost', 'al')
    join(b, 'ghost', 'bo')
    join(c, 'ghost', 'ca')
    c.close()
    # the server notices the closed socket in its own time: talk until
    # a delivery finds the session gone (bounded)
    gone = lambda e: e.tag == PRESENCE and e.get('from') == rj(
        'ghost', 'ca') and e.get('type') == 'unavailable'
    for i in range(50):
        groupchat(a, 'ghost', 'anyone?', id_='g%d' % i)
        gc_msg(a, lambda e, i=i: e.get('id') == 'g%d' % i)
        a.alive()
        if any(gone(e) for e in a.pending):
            break
    u = a.wait_for(gone)
    assert '110' not in codes(u), show(u)
    a.send("<presence to='%s' type='unavailable'/>" % rj('ghost', 'al'))
    pres_from(a, rj('ghost', 'al'), lambda e: e.get('type') ==
              'unavailable')
    b.close()
    # the owner, outside, changes the configuration until the room's
    # status message finds bob gone (bounded)
    for i in range(50):
        r = a.iq('set', form({'membersonly': str(i % 2), 'roomname': 'x'}),
                 to=rj('ghost'))
        if r.get('type') == 'error':
            break
        assert r.get('type') == 'result', show(r)
        a.alive()
        if info(a, rj('ghost')).get('type') == 'error':
            break
    assert stanza_error(info(a, rj('ghost'))) == 'item-not-found'


def test_blocking_applies_to_room_traffic(make_server):
    """XEP-0191 §3 with group chat: copies the room delivers straight to
    local sessions pass the recipient's policies like routed stanzas:
    an occupant who blocked another's occupant JID gets none of its
    messages; the others still do."""
    srv = muc_server(make_server)
    a, b, c = online(srv, 'alice'), online(srv, 'bob'), online(srv, 'carol')
    create(a, 'blk', 'al')
    join(b, 'blk', 'bo')
    join(c, 'blk', 'ca')
    r = b.iq('set', "<block xmlns='urn:xmpp:blocking'><item jid='%s'/>"
             "</block>" % rj('blk', 'al'))
    assert r.get('type') == 'result', show(r)
    groupchat(a, 'blk', 'blocked words', id_='x1')
    gc_msg(a, lambda e: e.get('id') == 'x1')
    gc_msg(c, lambda e: e.get('id') == 'x1')
    groupchat(c, 'blk', 'fine words', id_='x2')
    gc_msg(b, lambda e: e.get('id') == 'x2')
    b.alive()
    assert not [e for e in b.pending if e.get('id') == 'x1'], \
        [show(e) for e in b.pending]


def test_rooms_survive_reload(make_server):
    """A reload (SIGHUP) rebuilds the hook tables, not the rooms: the
    occupants stay and talk on, under the new settings (message_burst
    lowered to 1 refuses the second of two quick messages)."""
    import signal
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'rl', 'al')
    join(b, 'rl', 'bo')
    text = srv.config.read_text().replace(
        '    services:', '    muc: { message_burst: 1, message_rate: 1 }\n'
        '    services:')
    srv.write_config(text)
    start = len(srv.log)
    srv.signal(signal.SIGHUP)
    assert srv.wait_log('reloaded', start=start), srv.log[start:]
    groupchat(a, 'rl', 'after reload', id_='r1')
    assert gc_msg(b, lambda e: e.get('id') == 'r1').get('from') == \
        rj('rl', 'al')
    groupchat(a, 'rl', 'too soon', id_='r2')
    assert err_of(a, 'r2') == 'resource-constraint'


def test_odd_input_gets_errors_not_crashes(make_server):
    """RFC 6120 §8.3 / XEP-0045 §15: malformed MUC requests get stanza
    errors (or nothing, for presence noise) and the service goes on:
    admin items without attributes, unknown roles and affiliations,
    bad JIDs, forms of the wrong type, owner queries without a form,
    subjects and invitations without content, unknown history values,
    MAM forms with bad dates, moderation without an id."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'odd', 'al')
    join(b, 'odd', 'bo')
    iqs = [
        ('set', NS_ADMIN, "<item/>"),
        ('set', NS_ADMIN, "<item role='king' nick='bo'/>"),
        ('set', NS_ADMIN, "<item affiliation='god' jid='x@y'/>"),
        ('set', NS_ADMIN, "<item affiliation='member' jid='@@bad'/>"),
        ('set', NS_ADMIN, "<item affiliation='member'/>"),
        ('set', NS_ADMIN, "<item role='none' nick='nobody'/>"),
        ('set', NS_ADMIN, ''),
        ('get', NS_ADMIN, "<item affiliation='none'/>"),
        ('get', NS_ADMIN, "<item role='none'/>"),
        ('get', NS_ADMIN, ''),
        ('set', NS_OWNER, ''),
        ('set', NS_OWNER, "<x xmlns='jabber:x:data' type='result'/>"),
        ('set', NS_OWNER, "<x xmlns='jabber:x:data' type='submit'><field "
         "var='muc#roomconfig_whois'><value>everyone</value></field></x>"),
        ('set', NS_OWNER, "<x xmlns='jabber:x:data' type='submit'><field "
         "var='muc#roomconfig_persistentroom'><value>maybe</value></field>"
         "</x>"),
        ('set', NS_OWNER, "<x xmlns='jabber:x:data' type='submit'><field "
         "var='muc#roomconfig_roomowners'><value>@@</value></field></x>"),
        ('set', NS_OWNER, "<destroy jid='@@'/>"),
        ('set', NS_MAM, "<x xmlns='jabber:x:data' type='submit'><field "
         "var='start'><value>yesterday</value></field></x>"),
        ('set', NS_MAM, "<set xmlns='%s'><max>-1</max></set>" % NS_RSM),
        ('set', NS_MODERATE, "<retract xmlns='%s'/>" % NS_RETRACT),
    ]
    for i, (t, ns, body) in enumerate(iqs):
        name = {NS_MODERATE: 'moderate'}.get(ns, 'query')
        a.send("<iq type='%s' id='odd%d' to='%s'><%s xmlns='%s'>%s</%s>"
               "</iq>" % (t, i, rj('odd'), name, ns, body, name))
        e = a.wait_for(lambda el, i=i: el.get('id') == 'odd%d' % i)
        assert e.get('type') == 'error', show(e)
        stanza_error(e)
    for st in ("<message to='%s' type='groupchat' id='m1'><subject/>"
               "</message>" % rj('odd'),
               "<message to='%s' id='m2'><x xmlns='%s'><invite/></x>"
               "</message>" % (rj('odd'), NS_USER),
               "<message to='%s' id='m3'><x xmlns='%s'><invite to='@@'/>"
               "</x></message>" % (rj('odd'), NS_USER),
               "<presence to='%s'><x xmlns='%s'><history maxchars='x' "
               "maxstanzas='-5' seconds='' since='never'/></x></presence>"
               % (rj('odd', 'bo2'), NS_MUC),
               "<presence to='%s' type='probe'/>" % rj('odd', 'bo'),
               "<presence to='%s' type='subscribe'/>" % rj('odd'),
               "<iq type='result' id='stray' to='%s'/>" % rj('odd', 'al')):
        b.send(st)
    b.alive()
    groupchat(a, 'odd', 'still here', id_='ok')
    gc_msg(b, lambda e: e.get('id') == 'ok')
    assert srv.running()


def test_empty_persistent_room_unloaded(make_server):
    """An empty persistent room holds no memory (DESIGN: idle costs
    nothing): it leaves memory with its last occupant, or at once when
    only a disco query loaded it, and comes back from the store with its
    subject, affiliations and (from its archive, XEP-0313) history."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'idle', 'al', persistentroom='1')
    r = admin(a, 'idle', "<item affiliation='member' jid='bob@localhost'/>")
    assert r.get('type') == 'result', show(r)
    a.send("<message to='%s' type='groupchat' id='s'><subject>Kept</subject>"
           "</message>" % rj('idle'))
    subject(a, 'idle')
    groupchat(a, 'idle', 'remember me', id_='h1')
    gc_msg(a, lambda e: e.get('id') == 'h1')
    start = len(srv.log)
    a.send("<presence to='%s' type='unavailable'/>" % rj('idle', 'al'))
    pres_from(a, rj('idle', 'al'), lambda e: e.get('type') == 'unavailable')
    assert srv.wait_log('room idle unloaded', start=start)
    start = len(srv.log)
    assert 'muc_persistent' in features(info(b, rj('idle')))
    assert srv.wait_log('room idle unloaded', start=start)
    send_join(b, 'idle', 'bo')
    p = self_pres(b, 'idle', 'bo')
    assert item(p).get('affiliation') == 'member', show(p)
    m = b.wait_for(lambda e: e.tag == MESSAGE)
    assert m.findtext(q(NS_CLIENT, 'body')) == 'remember me', show(m)
    m = subject(b, 'idle')
    assert m.findtext(q(NS_CLIENT, 'subject')) == 'Kept', show(m)


def test_voice_request(make_server):
    """§8.6: a visitor of a moderated room asks for voice with a
    muc#request form; the moderators get the form (with the nick and
    the real JID); a moderator's submitted answer with request_allow
    makes the visitor a participant; a participant asking is a
    bad-request."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'vr', 'al', moderatedroom='1')
    join(b, 'vr', 'bo')
    req = ("<message to='%s' id='%%s'><x xmlns='%s' type='submit'><field "
           "var='FORM_TYPE'><value>%s#request</value></field><field "
           "var='muc#role'><value>participant</value></field></x></message>"
           % (rj('vr'), NS_XDATA, NS_MUC))
    b.send(req % 'vq')
    m = a.wait_for(lambda e: e.tag == MESSAGE and e.find(
        q(NS_XDATA, 'x')) is not None)
    vals = {f.get('var'): f.findtext(q(NS_XDATA, 'value'))
            for f in m.iter(q(NS_XDATA, 'field'))}
    assert vals['muc#roomnick'] == 'bo' and \
        vals['muc#jid'] == 'bob@localhost', show(m)
    a.send("<message to='%s'><x xmlns='%s' type='submit'><field var="
           "'FORM_TYPE'><value>%s#request</value></field><field var="
           "'muc#roomnick'><value>bo</value></field><field var="
           "'muc#request_allow'><value>true</value></field></x></message>"
           % (rj('vr'), NS_XDATA, NS_MUC))
    pres_from(b, rj('vr', 'bo'),
              lambda e: item(e).get('role') == 'participant')
    b.send(req % 'vq2')
    assert err_of(b, 'vq2') == 'bad-request'


def test_join_again_from_the_same_session(make_server):
    """§7.2: a session already in the room that sends a join presence
    again (a client that reconnected before the room learnt it had
    gone) gets the whole entry again: the others' presence, its own with
    110, the history and the subject; the others see no new occupant."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'again', 'al')
    join(b, 'again', 'bo')
    groupchat(a, 'again', 'before', id_='h')
    gc_msg(b, lambda e: e.get('id') == 'h')
    a.alive()
    a.pending.clear()
    send_join(b, 'again', 'bo')
    pres_from(b, rj('again', 'al'))
    p = self_pres(b, 'again', 'bo')
    assert p.get('type') is None, show(p)
    m = b.wait_for(lambda e: e.tag == MESSAGE)
    assert m.findtext(q(NS_CLIENT, 'body')) == 'before', show(m)
    subject(b, 'again')
    a.alive()
    assert not [e for e in a.pending if e.tag == PRESENCE], \
        [show(e) for e in a.pending]


def test_nick_modified_by_the_service_210(make_server):
    """XEP-0045 §7.2.11 / §15.2.2: a nick the service prepares into
    another form (resourceprep folds the fullwidth Ａ to A) is the one
    the occupant gets, and its self-presence says so with 210; a nick
    that stays as sent has no 210."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'r210', 'al')
    send_join(b, 'r210', '\uff21bby')
    p = self_pres(b, 'r210', 'Abby')
    assert {'110', '210'} <= codes(p), show(p)
    subject(b, 'r210')
    p = pres_from(a, rj('r210', 'Abby'))
    assert '210' not in codes(p), show(p)
    c = online(srv, 'carol')
    p = join(c, 'r210', 'carol')
    assert '210' not in codes(p), show(p)


def test_shutdown_tells_occupants_332(make_server):
    """XEP-0045 §15.2.2: when ternd stops, every occupant of a room gets
    its own unavailable presence with 332 (removed because the service
    is shutting down) before its stream ends; it does not get everyone
    else's leaving as well."""
    srv = muc_server(make_server)
    a, b = online(srv, 'alice'), online(srv, 'bob')
    create(a, 'r332', 'al')
    join(b, 'r332', 'bo')
    pres_from(a, rj('r332', 'bo'))
    a.alive()
    assert srv.stop() == []
    for s, nick, other in ((a, 'al', 'bo'), (b, 'bo', 'al')):
        got = []
        try:
            while True:
                e = s.next(timeout=10)
                if e.tag == PRESENCE:
                    got.append(e)
        except Exception:
            pass
        mine = [e for e in got if e.get('from') == rj('r332', nick)]
        assert len(mine) == 1, [show(e) for e in got]
        assert mine[0].get('type') == 'unavailable', show(mine[0])
        assert {'110', '332'} <= codes(mine[0]), show(mine[0])
        assert item(mine[0]).get('role') == 'none', show(mine[0])
        assert not [e for e in got if e.get('from') == rj('r332', other)
                    and e.get('type') == 'unavailable'], \
            [show(e) for e in got]

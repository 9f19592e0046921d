"""XEP-0313 Message Archive Management with XEP-0359 stanza ids and
XEP-0059 paging: archiving both directions, stanza-id on delivery and in
sent carbons, forged ids stripped, every query field, paging forwards and
backwards, flip-page, preferences, metadata, retention by the server and
archives surviving a restart."""
import secrets
import time
from xml.sax.saxutils import escape, quoteattr

from ternlib import DOMAIN, NS_CLIENT, online, q, show, stanza_error

NS_MAM = 'urn:xmpp:mam:2'
NS_SID = 'urn:xmpp:sid:0'
NS_RSM = 'http://jabber.org/protocol/rsm'
NS_FWD = 'urn:xmpp:forward:0'
NS_DELAY = 'urn:xmpp:delay'
NS_XDATA = 'jabber:x:data'
NS_CARBONS = 'urn:xmpp:carbons:2'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
ALICE = 'alice@' + DOMAIN
BOB = 'bob@' + DOMAIN
CAROL = 'carol@' + DOMAIN


def send(s, to, text, extra='', sync=True):
    s.send("<message to=%s type='chat'><body>%s</body>%s</message>"
           % (quoteattr(to), escape(text), extra))
    if sync:
        s.alive()  # processed before anything another stream sends


def received(s, n):
    """The next n chat messages s receives."""
    return [s.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message')
                       and e.find(q(NS_CLIENT, 'body')) is not None)
            for _ in range(n)]


def sids(m):
    return [(e.get('by'), e.get('id')) for e in m.findall(q(NS_SID,
                                                             'stanza-id'))]


def body(m):
    b = m.find(q(NS_CLIENT, 'body'))
    return b.text if b is not None else None


def form(fields):
    out = ["<x xmlns='%s' type='submit'><field var='FORM_TYPE' "
           "type='hidden'><value>%s</value></field>" % (NS_XDATA, NS_MAM)]
    for var, val in fields.items():
        vals = val if isinstance(val, list) else [val]
        out.append('<field var=%s>%s</field>' % (quoteattr(var), ''.join(
            '<value>%s</value>' % escape(v) for v in vals)))
    return ''.join(out) + '</x>'


def query(s, fields=None, max_=None, after=None, before=None, flip=False,
          to=None):
    """Run a query; returns (results, fin, iq). results are
    (archive id, forwarded message, delay stamp)."""
    qid = secrets.token_hex(4)
    rsm = ''
    if max_ is not None:
        rsm += '<max>%d</max>' % max_
    if after is not None:
        rsm += '<after>%s</after>' % after
    if before is not None:
        rsm += '<before>%s</before>' % before
    payload = "<query xmlns='%s' queryid='%s'>%s%s%s</query>" % (
        NS_MAM, qid, form(fields) if fields else '',
        "<set xmlns='%s'>%s</set>" % (NS_RSM, rsm) if rsm else '',
        '<flip-page/>' if flip else '')
    r = s.iq('set', payload, to=to)
    results = []
    for e in list(s.pending):
        res = e.find(q(NS_MAM, 'result'))
        if e.tag != q(NS_CLIENT, 'message') or res is None \
                or res.get('queryid') != qid:
            continue
        s.pending.remove(e)
        fwd = res.find(q(NS_FWD, 'forwarded'))
        results.append((res.get('id'), fwd.find(q(NS_CLIENT, 'message')),
                        fwd.find(q(NS_DELAY, 'delay')).get('stamp')))
    fin = r.find(q(NS_MAM, 'fin'))
    return results, fin, r


def rsm(fin):
    st = fin.find(q(NS_RSM, 'set'))
    first = st.find(q(NS_RSM, 'first'))
    last = st.find(q(NS_RSM, 'last'))
    return {'first': first.text if first is not None else None,
            'index': int(first.get('index')) if first is not None else None,
            'last': last.text if last is not None else None,
            'count': int(st.find(q(NS_RSM, 'count')).text),
            'complete': fin.get('complete') == 'true'}


def error_of(r):
    assert r.get('type') == 'error', show(r)
    return stanza_error(r)


def test_account_features(server):
    a = online(server, 'alice')
    r = a.iq('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=ALICE)
    feats = [f.get('var') for f in r.iter(q(NS_DISCO_INFO, 'feature'))]
    for f in (NS_MAM, NS_MAM + '#extended', NS_SID):
        assert f in feats, feats


def test_both_directions_and_stanza_id(server):
    a, b = online(server, 'alice'), online(server, 'bob')
    send(a, BOB, 'hi bob', "<origin-id xmlns='%s' id='o-1'/>" % NS_SID)
    got = received(b, 1)[0]
    assert body(got) == 'hi bob'
    [(by, sid)] = sids(got)
    assert by == BOB
    send(b, ALICE, 'hi alice')
    got_a = received(a, 1)[0]
    [(by_a, sid_a)] = sids(got_a)
    assert by_a == ALICE

    res, fin, _ = query(b)
    assert [body(m) for _, m, _ in res] == ['hi bob', 'hi alice']
    assert res[0][0] == sid
    assert res[0][1].get('from') == ALICE + '/r'
    origin = res[0][1].find(q(NS_SID, 'origin-id'))
    assert origin is not None and origin.get('id') == 'o-1'
    assert rsm(fin)['count'] == 2 and rsm(fin)['complete']
    res_a, _, _ = query(a)
    assert [body(m) for _, m, _ in res_a] == ['hi bob', 'hi alice']
    assert res_a[1][0] == sid_a
    # the contact never sees the sender's archive id
    assert all(by != ALICE for by, _ in sids(got))


def test_forged_stanza_id_stripped(server):
    a, b = online(server, 'alice'), online(server, 'bob')
    fake = "<stanza-id xmlns='%s' by='%s' id='forged'/>" % (NS_SID, BOB)
    other = "<stanza-id xmlns='%s' by='muc.example' id='keep'/>" % NS_SID
    send(a, BOB, 'spoof', fake + other)
    got = received(b, 1)[0]
    ids = sids(got)
    assert ('muc.example', 'keep') in ids
    mine = [i for by, i in ids if by == BOB]
    assert len(mine) == 1 and mine[0] != 'forged'
    # not archived (a chat state) still loses the forged id
    a.send("<message to='%s' type='chat'><active xmlns='http://jabber.org"
           "/protocol/chatstates'/>%s</message>" % (BOB, fake))
    cs = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message')
                    and body(e) is None)
    assert sids(cs) == []
    res, _, _ = query(b)
    assert [i for i, _, _ in res] == mine


def test_sent_carbon_carries_archive_id(server):
    a1, a2 = online(server, 'alice', 'one'), online(server, 'alice', 'two')
    b = online(server, 'bob')
    r = a2.iq('set', "<enable xmlns='%s'/>" % NS_CARBONS)
    assert r.get('type') == 'result'
    send(a1, BOB, 'copied')
    copy = a2.wait_for(lambda e: e.find(q(NS_CARBONS, 'sent')) is not None)
    inner = copy.find('%s/%s/%s' % (q(NS_CARBONS, 'sent'),
                                    q(NS_FWD, 'forwarded'),
                                    q(NS_CLIENT, 'message')))
    [(by, sid)] = sids(inner)
    assert by == ALICE
    assert sids(received(b, 1)[0])[0][0] == BOB
    res, _, _ = query(a1)
    assert [i for i, _, _ in res] == [sid]


def test_what_is_not_archived(server):
    a, b = online(server, 'alice'), online(server, 'bob')
    a.send("<message to='%s' type='chat'><body>x</body><no-store "
           "xmlns='urn:xmpp:hints'/></message>" % BOB)
    a.send("<message to='%s' type='chat'><body>y</body><no-permanent-store"
           " xmlns='urn:xmpp:hints'/></message>" % BOB)
    a.send("<message to='%s' type='headline'><body>z</body></message>"
           % BOB)
    a.send("<message to='%s' type='error'><body>e</body><error type="
           "'cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-"
           "stanzas'/></error></message>" % BOB)
    a.send("<message to='%s' type='chat'><composing xmlns='http://jabber."
           "org/protocol/chatstates'/></message>" % BOB)
    a.send("<message to='%s' type='chat'><store xmlns='urn:xmpp:hints'/>"
           "<displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/>"
           "</message>" % BOB)
    a.alive()
    b.alive()
    res, fin, _ = query(a)
    assert len(res) == 1, [show(m) for _, m, _ in res]
    assert res[0][1].find(q('urn:xmpp:chat-markers:0', 'displayed')) \
        is not None
    assert len(query(b)[0]) == 1


def fill(srv, n):
    """alice sends bob n messages 'm0'..; returns their ids in alice's
    archive, oldest first."""
    a, b = online(srv, 'alice'), online(srv, 'bob')
    for i in range(n):
        send(a, BOB, 'm%d' % i, sync=False)
    received(b, n)
    ids = []
    after = None
    while True:
        res, fin, _ = query(a, max_=250, after=after)
        ids += [i for i, _, _ in res]
        if rsm(fin)['complete']:
            break
        after = rsm(fin)['last']
    assert len(ids) == n
    return a, b, ids


def test_paging_1000(server):
    a, b, ids = fill(server, 1000)
    assert len(set(ids)) == 1000
    # forwards, 100 at a time
    seen, after = [], None
    for page in range(10):
        res, fin, _ = query(a, max_=100, after=after)
        info = rsm(fin)
        assert info['count'] == 1000
        assert info['index'] == page * 100
        assert info['complete'] == (page == 9)
        assert info['first'] == res[0][0] and info['last'] == res[-1][0]
        seen += [(i, body(m)) for i, m, _ in res]
        after = info['last']
    assert [i for i, _ in seen] == ids
    assert [t for _, t in seen] == ['m%d' % i for i in range(1000)]
    # backwards from the last page (<before/>), 150 at a time
    back, before = [], ''
    pages = 0
    while True:
        res, fin, _ = query(a, max_=150, before=before)
        info = rsm(fin)
        pages += 1
        back = [i for i, _, _ in res] + back
        assert info['index'] == 1000 - len(back)
        if info['complete']:
            break
        before = info['first']
    assert pages == 7
    assert back == ids
    # a page past the end is empty and complete
    res, fin, _ = query(a, after=ids[-1])
    assert res == [] and rsm(fin)['complete'] and rsm(fin)['count'] == 1000
    # flip-page: the same page, newest first
    res, fin, _ = query(a, max_=10, before='', flip=True)
    assert [i for i, _, _ in res] == list(reversed(ids[-10:]))
    # max 0: just the count
    res, fin, _ = query(a, max_=0)
    assert res == [] and rsm(fin)['count'] == 1000


def test_query_fields(server):
    a, b = online(server, 'alice'), online(server, 'bob')
    c = online(server, 'carol')
    send(a, BOB, 'to bob 1')
    send(a, CAROL, 'to carol')
    send(a, BOB, 'to bob 2')
    received(b, 2)
    received(c, 1)
    send(c, ALICE, 'from carol')
    received(a, 1)
    allres, _, _ = query(a)
    ids = [i for i, _, _ in allres]
    assert [body(m) for _, m, _ in allres] == ['to bob 1', 'to carol',
                                               'to bob 2', 'from carol']
    # with: bare JID, and a full JID matches by its bare part
    res, fin, _ = query(a, {'with': BOB})
    assert [body(m) for _, m, _ in res] == ['to bob 1', 'to bob 2']
    assert rsm(fin)['count'] == 2
    res, _, _ = query(a, {'with': CAROL})
    assert [i for i, _, _ in res] == [ids[1], ids[3]]
    # start / end
    stamp = allres[0][2]
    assert stamp.endswith('Z')
    assert len(query(a, {'start': stamp})[0]) == 4
    assert query(a, {'start': '2999-01-01T00:00:00Z'})[0] == []
    assert query(a, {'end': '2000-01-01T00:00:00.5+02:00'})[0] == []
    assert len(query(a, {'start': '2000-01-01T00:00:00Z',
                         'end': '2999-01-01T00:00:00Z'})[0]) == 4
    # after-id / before-id (exclusive), both: a range
    res, _, _ = query(a, {'after-id': ids[0]})
    assert [i for i, _, _ in res] == ids[1:]
    res, _, _ = query(a, {'before-id': ids[3]})
    assert [i for i, _, _ in res] == ids[:3]
    res, fin, _ = query(a, {'after-id': ids[0], 'before-id': ids[3]})
    assert [i for i, _, _ in res] == ids[1:3]
    assert rsm(fin)['count'] == 2 and rsm(fin)['index'] == 0
    # ids
    res, _, _ = query(a, {'ids': [ids[3], ids[1]]})
    assert [i for i, _, _ in res] == [ids[1], ids[3]]
    # with + RSM paging inside the filtered set
    res, fin, _ = query(a, {'with': BOB}, max_=1)
    assert [body(m) for _, m, _ in res] == ['to bob 1']
    assert not rsm(fin)['complete']
    res, fin, _ = query(a, {'with': BOB}, max_=1, after=rsm(fin)['last'])
    assert [body(m) for _, m, _ in res] == ['to bob 2']
    assert rsm(fin)['index'] == 1
    # unknown ids anywhere: item-not-found
    for f in ({'after-id': 'nope'}, {'before-id': 'nope'},
              {'ids': [ids[0], 'nope']}):
        assert error_of(query(a, f)[2]) == 'item-not-found', f
    assert error_of(query(a, after='nope')[2]) == 'item-not-found'
    assert error_of(query(a, before='nope')[2]) == 'item-not-found'
    # bad input
    assert error_of(query(a, {'start': 'yesterday'})[2]) == 'bad-request'
    assert error_of(query(a, {'colour': 'red'})[2]) == \
        'feature-not-implemented'
    # someone else's archive
    assert error_of(query(b, to=ALICE)[2]) == 'forbidden'


def test_form_discovery(server):
    a = online(server, 'alice')
    r = a.iq('get', "<query xmlns='%s'/>" % NS_MAM)
    assert r.get('type') == 'result', show(r)
    x = r.find('%s/%s' % (q(NS_MAM, 'query'), q(NS_XDATA, 'x')))
    fields = {f.get('var'): f.get('type')
              for f in x.findall(q(NS_XDATA, 'field'))}
    assert fields == {'FORM_TYPE': 'hidden', 'with': 'jid-single',
                      'start': 'text-single', 'end': 'text-single',
                      'before-id': 'text-single',
                      'after-id': 'text-single', 'ids': 'list-multi'}


def prefs(s, default=None, always=(), never=()):
    if default is None:
        r = s.iq('get', "<prefs xmlns='%s'/>" % NS_MAM)
    else:
        lst = ''.join('<%s>%s</%s>' % (name, ''.join(
            '<jid>%s</jid>' % j for j in jids), name)
            for name, jids in (('always', always), ('never', never)))
        r = s.iq('set', "<prefs xmlns='%s' default='%s'>%s</prefs>"
                 % (NS_MAM, default, lst))
    assert r.get('type') == 'result', show(r)
    p = r.find(q(NS_MAM, 'prefs'))
    return (p.get('default'),
            [j.text for j in p.iter(q(NS_MAM, 'jid'))
             if j in list(p.find(q(NS_MAM, 'always')))],
            [j.text for j in p.iter(q(NS_MAM, 'jid'))
             if j in list(p.find(q(NS_MAM, 'never')))])


def test_prefs(server):
    a, b = online(server, 'alice'), online(server, 'bob')
    c = online(server, 'carol')
    assert prefs(a) == ('always', [], [])
    assert prefs(a, 'never', always=[BOB + '/res']) == ('never', [BOB], [])
    assert prefs(a) == ('never', [BOB], [])
    send(a, BOB, 'kept')
    send(a, CAROL, 'not kept')
    send(c, ALICE, 'not kept either')
    received(a, 1)
    # carol's own archive follows carol's prefs (default always)
    assert [body(m) for _, m, _ in query(c)[0]] == ['not kept',
                                                    'not kept either']
    assert [body(m) for _, m, _ in query(a)[0]] == ['kept']

    prefs(a, 'always', never=[CAROL])
    send(c, ALICE, 'never carol')
    received(a, 1)
    send(b, ALICE, 'always bob')
    received(a, 1)
    assert [body(m) for _, m, _ in query(a)[0]] == ['kept', 'always bob']

    # roster: only contacts in alice's roster
    r = a.iq('set', "<query xmlns='jabber:iq:roster'><item jid='%s'/>"
             "</query>" % BOB)
    assert r.get('type') == 'result', show(r)
    prefs(a, 'roster')
    send(b, ALICE, 'rostered')
    send(c, ALICE, 'stranger')
    received(a, 2)
    assert [body(m) for _, m, _ in query(a)[0]] == ['kept', 'always bob',
                                                    'rostered']
    r = a.iq('set', "<prefs xmlns='%s' default='sometimes'/>" % NS_MAM)
    assert error_of(r) == 'bad-request'


def test_metadata(server):
    a, b = online(server, 'alice'), online(server, 'bob')
    r = a.iq('get', "<metadata xmlns='%s'/>" % NS_MAM)
    md = r.find(q(NS_MAM, 'metadata'))
    assert md is not None and len(md) == 0, show(r)
    for i in range(3):
        send(a, BOB, 'n%d' % i)
    received(b, 3)
    ids = [i for i, _, _ in query(a)[0]]
    r = a.iq('get', "<metadata xmlns='%s'/>" % NS_MAM)
    md = r.find(q(NS_MAM, 'metadata'))
    st, en = md.find(q(NS_MAM, 'start')), md.find(q(NS_MAM, 'end'))
    assert st.get('id') == ids[0] and en.get('id') == ids[-1]
    assert st.get('timestamp').endswith('Z')
    assert en.get('timestamp') >= st.get('timestamp')


def test_retention_by_the_server(make_server):
    """The archive follows the server's retention policy
    (retention.archive; see test_retention.py)."""
    srv = make_server(start=False)
    srv.write_config(srv.config_text(
        'retention: { archive: 2s, interval: 1s }\n'))
    srv.start()
    a, b = online(srv, 'alice'), online(srv, 'bob')
    send(a, BOB, 'short-lived')
    received(b, 1)
    assert len(query(a)[0]) == 1
    deadline = time.monotonic() + 10
    while query(a)[0] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert query(a)[0] == []
    assert query(b)[0] == []
    assert srv.wait_log('retention pass=')
    # what is new is kept
    send(a, BOB, 'fresh')
    received(b, 1)
    assert [body(m) for _, m, _ in query(a)[0]] == ['fresh']


def test_survives_restart(server):
    a, b = online(server, 'alice'), online(server, 'bob')
    for i in range(5):
        send(a, BOB, 'keep %d' % i)
    received(b, 5)
    before, _, _ = query(a)
    prefs(a, 'always', never=[CAROL])
    a.close()
    b.close()
    assert server.stop() == []
    server.start()
    a = online(server, 'alice')
    after, fin, _ = query(a)
    assert [(i, body(m)) for i, m, _ in after] == \
        [(i, body(m)) for i, m, _ in before]
    assert rsm(fin)['count'] == 5
    assert prefs(a) == ('always', [], [CAROL])


# The archive table of schema 1 (src/store/sqlite.c migration 1, as
# Tern released it): a fixture, never edited.
SCHEMA_V1_ARCHIVE = '''
CREATE TABLE archive(
 seq INTEGER PRIMARY KEY,
 host TEXT NOT NULL, user TEXT NOT NULL, store TEXT NOT NULL,
 id TEXT NOT NULL, "when" INTEGER NOT NULL,
 with_jid TEXT NOT NULL DEFAULT '', value BLOB NOT NULL,
 UNIQUE(host, user, store, id));
CREATE INDEX archive_when ON archive(host, user, store, "when");
CREATE INDEX archive_with ON archive(host, user, store, with_jid, "when");
CREATE INDEX archive_expiry ON archive(store, "when");
'''


def test_archive_from_schema_1(make_server):
    """Issue 18: an archive written by schema 1 (before the clustered
    archive) is converted when ternd opens it, and XEP-0313 queries find
    every message: all pages forwards and backwards with XEP-0059 RSM,
    the with, start/end and ids fields (XEP-0313 section 4.1), with the
    original ids and times; new messages archive after them."""
    import sqlite3
    srv = make_server(start=False)
    db = sqlite3.connect(str(srv.dir / 'tern.db'))
    # the same database as schema 1 made it: kv and map are unchanged,
    # the archive tables are those of schema 1
    names = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' "
        "AND name LIKE 'archive%'")]
    assert names, 'ternctl made no schema-2 archive tables'
    for n in names:
        db.execute('DROP TABLE %s' % n)
    db.executescript(SCHEMA_V1_ARCHIVE)
    db.execute('UPDATE schema_version SET version=1')
    base = int(time.time()) - 6 * 86400  # inside the 7-day retention
    old = []
    for i in range(300):
        peer = CAROL if i % 3 == 0 else BOB
        when = base + (i // 2) * 3000  # two per second, over 5 days
        xml = ("<message xmlns='jabber:client' from='%s/r' to='%s' "
               "type='chat'><body>old %d</body></message>" % (peer, ALICE, i))
        db.execute('INSERT INTO archive(host,user,store,id,"when",with_jid,'
                   'value) VALUES(?,?,?,?,?,?,?)',
                   (DOMAIN, 'alice', 'mam', 'old%03d' % i, when, peer,
                    xml.encode()))
        old.append(('old%03d' % i, peer, when))
    db.commit()
    db.close()
    srv.start()
    assert srv.wait_log('schema migrated to version 2')
    a = online(srv, 'alice')
    stamp = {i: time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(w))
             for i, _, w in old}

    seen, after = [], None
    while True:
        res, fin, _ = query(a, max_=50, after=after)
        info = rsm(fin)
        assert info['count'] == 300 and info['index'] == len(seen)
        seen += [(i, body(m), st) for i, m, st in res]
        if info['complete']:
            break
        after = info['last']
    assert seen == [(i, 'old %d' % n, stamp[i])
                    for n, (i, _, _) in enumerate(old)]
    back, before = [], ''
    while True:
        res, fin, _ = query(a, max_=70, before=before)
        back = [i for i, _, _ in res] + back
        if rsm(fin)['complete']:
            break
        before = rsm(fin)['first']
    assert back == [i for i, _, _ in old]

    carol = [i for i, p, _ in old if p == CAROL]
    res, fin, _ = query(a, {'with': CAROL}, max_=250)
    assert [i for i, _, _ in res] == carol and rsm(fin)['count'] == 100
    res, fin, _ = query(a, {'with': CAROL}, max_=10, before='')
    assert [i for i, _, _ in res] == carol[-10:]
    res, fin, _ = query(a, {'with': BOB}, max_=5, after=carol[50])
    assert [i for i, _, _ in res] == [i for i, p, _ in old
                                      if p == BOB][100:105]
    res, fin, _ = query(a, {'start': stamp['old100'],
                            'end': stamp['old199']}, max_=250)
    assert [i for i, _, _ in res] == [i for i, _, _ in old[100:200]]
    res, fin, _ = query(a, {'ids': ['old007', 'old250']})
    assert [i for i, _, _ in res] == ['old007', 'old250']

    b = online(srv, 'bob')
    send(a, BOB, 'new after migration')
    received(b, 1)
    res, fin, _ = query(a, after='old299')
    assert [body(m) for _, m, _ in res] == ['new after migration']
    assert rsm(query(a, max_=0)[1])['count'] == 301

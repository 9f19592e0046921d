"""The per-account storage quota (limits.account_storage) over every store
of an account: PEP items (XEP-0060 §7.1.3.6 leaves the condition to the
service: resource-constraint, type wait, as XEP-0363 §5 shows for a
reached quota), private XML (XEP-0049), vCard (XEP-0054), the message
archive (XEP-0313: delivered but not archived). A full account still logs
in, reads and deletes; deleting frees room; ternctl shows the figure."""
import re
import signal
from xml.sax.saxutils import escape

from ternlib import (NS_CLIENT, NS_STANZAS, online, q, show, stanza_error,
                     subscribe_mutually)

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_SID = 'urn:xmpp:sid:0'
NS_PRIVATE = 'jabber:iq:private'
NS_VCARD = 'vcard-temp'
ALICE = 'alice@localhost'
BOB = 'bob@localhost'
NODE = 'urn:test:blobs'
CHUNK = 20000


def publish(s, item_id, size=CHUNK):
    return s.iq('set', "<pubsub xmlns='%s'><publish node='%s'><item id='%s'>"
                "<blob xmlns='urn:test:b'>%s</blob></item></publish>"
                "<publish-options><x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE' type='hidden'><value>%s"
                "#publish-options</value></field>"
                "<field var='pubsub#max_items'><value>10</value></field>"
                "</x></publish-options></pubsub>"
                % (NS_PUBSUB, NODE, item_id, 'x' * size, NS_PUBSUB))


def retract(s, item_id):
    return s.iq('set', "<pubsub xmlns='%s'><retract node='%s'>"
                "<item id='%s'/></retract></pubsub>"
                % (NS_PUBSUB, NODE, item_id))


def ok(r):
    assert r.get('type') == 'result', show(r)
    return r


def quota_error(r):
    """resource-constraint of type wait, and nothing pubsub-specific."""
    assert r.get('type') == 'error', show(r)
    err = r.find(q(NS_CLIENT, 'error'))
    assert err.get('type') == 'wait', show(r)
    assert stanza_error(r) == 'resource-constraint', show(r)
    assert [c.tag for c in err if c.tag != q(NS_STANZAS, 'text')] == \
        [q(NS_STANZAS, 'resource-constraint')], show(r)


def usage(srv, jid=ALICE):
    out = srv.ternctl_ok('user', jid).stdout
    m = re.match(r'^(\S+) storage_used=(\d+) storage_quota=(\d+) ', out)
    assert m and m.group(1) == jid, out
    return int(m.group(2)), int(m.group(3))


def test_quota_pep_private_vcard_mam(make_server):
    srv = make_server(limits={'account_storage': '64k'})
    subscribe_mutually(srv, 'alice', 'bob')
    used0, quota = usage(srv)
    assert quota == 65536 and 0 < used0 < 4096
    a = online(srv, 'alice')
    for i in range(3):
        ok(publish(a, 'i%d' % i))
    used, _ = usage(srv)
    assert used0 + 3 * CHUNK < used < quota
    # the fourth does not fit
    quota_error(publish(a, 'i3'))
    r = a.iq('set', "<query xmlns='%s'><x xmlns='urn:test:p'>%s</x>"
             "</query>" % (NS_PRIVATE, 'y' * CHUNK))
    quota_error(r)
    r = a.iq('set', "<vCard xmlns='%s'><DESC>%s</DESC></vCard>"
             % (NS_VCARD, 'z' * CHUNK))
    quota_error(r)
    assert usage(srv)[0] == used  # nothing of the refused writes stays
    # a message to the full account: delivered, not archived in its
    # archive (XEP-0313 §5 stanza-id only for what was archived)
    b = online(srv, 'bob')
    b.send("<message to='%s' type='chat'><body>%s</body></message>"
           % (ALICE, escape('hello ' * 1000)))
    m = a.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message')
                   and e.find(q(NS_CLIENT, 'body')) is not None)
    assert [e.get('by') for e in m.findall(q(NS_SID, 'stanza-id'))] == []
    assert srv.wait_log('mam not archived: storage quota full '
                        'user=alice@localhost')
    a.close()
    # still logs in, reads, deletes
    a = online(srv, 'alice', 'again')
    r = ok(a.iq('get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>"
                % (NS_PUBSUB, NODE)))
    assert len(list(r.iter(q(NS_PUBSUB, 'item')))) == 3
    ok(retract(a, 'i0'))
    freed, _ = usage(srv)
    assert freed <= used - CHUNK
    ok(publish(a, 'i3'))
    # a smaller write fits where a big one did not
    ok(a.iq('set', "<query xmlns='%s'><x xmlns='urn:test:p'>small</x>"
            "</query>" % NS_PRIVATE))
    # other accounts are not affected
    ok(publish(b, 'b0'))
    assert usage(srv, BOB)[0] < usage(srv)[0]


def test_quota_none_and_reload(make_server):
    """account_storage 0 is no quota; a reload applies a new quota."""
    srv = make_server(limits={'account_storage': 0})
    assert srv.ternctl_ok('user', ALICE).stdout.endswith(
        'storage_quota=none\n')
    a = online(srv, 'alice')
    for i in range(4):
        ok(publish(a, 'i%d' % i))
    srv.limits['account_storage'] = '64k'
    srv.write_config()
    start = len(srv.log)
    srv.signal(signal.SIGHUP)
    assert srv.wait_log('reloaded', start=start)
    quota_error(publish(a, 'i9'))
    # what was stored stays readable and deletable
    ok(retract(a, 'i0'))
    ok(retract(a, 'i1'))
    ok(publish(a, 'i9'))


def test_quota_roster_blocking_offline(make_server):
    """The other stores answer the same way once the account is full:
    roster and blocklist sets get resource-constraint (wait), and a
    message to the full account while it is offline gets
    service-unavailable (XEP-0160 §2: the queue is full)."""
    srv = make_server(limits={'account_storage': '64k'})
    a = online(srv, 'alice')
    n = 0
    for size in (CHUNK, 4000, 800, 160, 40):   # fill to the last bytes
        while publish(a, 'f%d' % n, size).get('type') == 'result':
            n += 1     # bounded: each item takes size bytes of 64k
            assert n < 40
    name = 'n' * 400
    r = a.iq('set', "<query xmlns='jabber:iq:roster'><item jid='%s' "
             "name='%s'/></query>" % ('z@localhost', name))
    quota_error(r)
    r = a.iq('set', "<block xmlns='urn:xmpp:blocking'>%s</block>"
             % ''.join("<item jid='spam%d@example.org'/>" % i
                       for i in range(200)))
    quota_error(r)
    a.send('</stream:stream>')
    a.wait_closed()
    b = online(srv, 'bob')
    b.send("<message to='%s' type='chat' id='m1'><body>%s</body></message>"
           % (ALICE, 'w' * CHUNK))
    e = b.wait_for(lambda el: el.tag == q(NS_CLIENT, 'message')
                   and el.get('id') == 'm1')
    assert e.get('type') == 'error', show(e)
    assert stanza_error(e) == 'service-unavailable', show(e)

"""OMEMO readiness (XEP-0384 over PEP): the flows Conversations, Dino
and Gajim run — device lists and bundles published with access_model
open, read by contacts and strangers, notifications to contacts with
+notify — for the legacy axolotl namespace and for urn:xmpp:omemo:2."""
from ternlib import q, show, stanza_error
from test_pep import (NS_INFO, NS_OWNER, NS_PUBSUB, app_error,
                      event, event_item, form, item_ids, items, login,
                      mutual, no_event, ok, pep_server, publish)

AX = 'eu.siacs.conversations.axolotl'
AX_LIST = AX + '.devicelist'
AX_BUNDLE = AX + '.bundles:%d'
OM2 = 'urn:xmpp:omemo:2'
OM2_DEVICES = OM2 + ':devices'
OM2_BUNDLES = OM2 + ':bundles'
OPEN = {'pubsub#access_model': 'open'}


def ax_list(*ids):
    return "<list xmlns='%s'>%s</list>" % (
        AX, ''.join("<device id='%d'/>" % i for i in ids))


def ax_bundle(n):
    return ("<bundle xmlns='%s'><signedPreKeyPublic signedPreKeyId='1'>"
            "QUJD%d</signedPreKeyPublic><signedPreKeySignature>U0lH"
            "</signedPreKeySignature><identityKey>SUs%d</identityKey>"
            "<prekeys><preKeyPublic preKeyId='1'>UEsx</preKeyPublic>"
            "</prekeys></bundle>" % (AX, n, n))


def om2_devices(*ids):
    return "<devices xmlns='%s'>%s</devices>" % (
        OM2, ''.join("<device id='%d'/>" % i for i in ids))


def om2_bundle(n):
    return ("<bundle xmlns='%s'><spk id='1'>U1BL%d</spk><spks>U0lH</spks>"
            "<ik>SUs%d</ik><prekeys><pk id='1'>UEsx</pk></prekeys>"
            "</bundle>" % (OM2, n, n))


def device_ids(ev_or_items, ns, name):
    lst = ev_or_items.find('.//' + q(ns, name))
    assert lst is not None, show(ev_or_items)
    return sorted(int(d.get('id')) for d in lst.findall(q(ns, 'device')))


def test_conversations_disco_compliance(server):
    """Conversations checks the account for the pubsub/pep identity and
    publish-options before it publishes with options."""
    a = login(server, 'alice', caps=False)
    for to in (None, 'alice@localhost'):
        r = ok(a.iq('get', "<query xmlns='%s'/>" % NS_INFO, to=to))
        qy = r.find(q(NS_INFO, 'query'))
        assert any(i.get('category') == 'pubsub' and i.get('type') == 'pep'
                   for i in qy.findall(q(NS_INFO, 'identity')))
        assert NS_PUBSUB + '#publish-options' in {
            f.get('var') for f in qy.findall(q(NS_INFO, 'feature'))}


def test_axolotl_device_list_and_bundles(server):
    mutual(server)
    a = login(server, 'alice', 'conv', notify=[AX_LIST])
    b = login(server, 'bob', 'dino', notify=[AX_LIST])
    b_plain = login(server, 'bob', 'old', notify=[])
    ok(publish(a, AX_BUNDLE % 111, ax_bundle(111), 'current', options=OPEN))
    ok(publish(a, AX_LIST, ax_list(111), 'current', options=OPEN))
    # the contact with +notify learns the device list, the one without not
    ev = event(b, AX_LIST)
    assert device_ids(ev, AX, 'list') == [111]
    assert event_item(ev).get('id') == 'current'
    no_event(b_plain, within=0.4)
    # own resource with +notify too
    assert device_ids(event(a, AX_LIST), AX, 'list') == [111]
    # a stranger reads the list and the bundle
    c = login(server, 'carol', caps=False)
    r = items(c, 'alice@localhost', AX_LIST)
    assert item_ids(r) == ['current']
    assert device_ids(r, AX, 'list') == [111]
    r = items(c, 'alice@localhost', AX_BUNDLE % 111, attrs=" max_items='1'")
    assert item_ids(r) == ['current']
    assert r.find('.//' + q(AX, 'identityKey')).text == 'SUs111'
    # a second device: the list is replaced (max_items 1), bob notified
    ok(publish(a, AX_BUNDLE % 222, ax_bundle(222), 'current', options=OPEN))
    ok(publish(a, AX_LIST, ax_list(111, 222), 'current', options=OPEN))
    assert device_ids(event(b, AX_LIST), AX, 'list') == [111, 222]
    assert item_ids(items(c, 'alice@localhost', AX_LIST)) == ['current']
    assert device_ids(items(c, 'alice@localhost', AX_LIST), AX, 'list') == \
        [111, 222]
    # a stranger coming online with +notify gets the open list at once
    c2 = login(server, 'carol', 'omemo', notify=[AX_LIST])
    no_event(c2, within=0.3)  # no presence subscription: no presence sent
    r = c2.iq('get', "<pubsub xmlns='%s'><items node='%s'/></pubsub>"
              % (NS_PUBSUB, 'eu.siacs.conversations.axolotl.bundles:999'),
              to='alice@localhost')
    assert stanza_error(r) == 'item-not-found'


def test_axolotl_precondition_then_reconfigure(server):
    """An old node with the default access model: publish-options open
    fails the precondition; Conversations reconfigures and retries."""
    a = login(server, 'alice', caps=False)
    ok(publish(a, AX_LIST, ax_list(1), 'current'))
    r = publish(a, AX_LIST, ax_list(1, 2), 'current', options=OPEN)
    assert app_error(r) == ('conflict', 'precondition-not-met')
    c = login(server, 'carol', caps=False)
    assert app_error(items(c, 'alice@localhost', AX_LIST))[0] == \
        'not-authorized'
    ok(a.iq('set', "<pubsub xmlns='%s'><configure node='%s'>%s</configure>"
            "</pubsub>" % (NS_OWNER, AX_LIST, form(
                NS_PUBSUB + '#node_config', OPEN))))
    ok(publish(a, AX_LIST, ax_list(1, 2), 'current', options=OPEN))
    assert device_ids(items(c, 'alice@localhost', AX_LIST), AX, 'list') == \
        [1, 2]


def test_omemo2_devices_and_bundles(server):
    mutual(server)
    a = login(server, 'alice', 'gajim', notify=[OM2_DEVICES])
    b = login(server, 'bob', 'monal', notify=[OM2_DEVICES])
    bundle_opts = dict(OPEN, **{'pubsub#max_items': 'max'})
    for dev in (1001, 1002, 1003):
        ok(publish(a, OM2_BUNDLES, om2_bundle(dev), str(dev),
                   options=bundle_opts))
    no_event(a, within=0.3)  # no +notify for bundles
    ok(publish(a, OM2_DEVICES, om2_devices(1001, 1002, 1003), 'current',
               options=OPEN))
    assert event_item(event(a, OM2_DEVICES)).get('id') == 'current'
    ev = event(b, OM2_DEVICES)
    assert device_ids(ev, OM2, 'devices') == [1001, 1002, 1003]
    # bundles: no +notify for them, so bob gets no bundle events
    no_event(b, within=0.3)
    c = login(server, 'carol', caps=False)
    r = items(c, 'alice@localhost', OM2_BUNDLES, extra="<item id='1002'/>")
    assert item_ids(r) == ['1002']
    assert r.find('.//' + q(OM2, 'ik')).text == 'SUs1002'
    assert item_ids(items(c, 'alice@localhost', OM2_BUNDLES)) == \
        ['1001', '1002', '1003']
    assert device_ids(items(c, 'alice@localhost', OM2_DEVICES), OM2,
                      'devices') == [1001, 1002, 1003]
    # the same options again meet the precondition ('max' included)
    ok(publish(a, OM2_BUNDLES, om2_bundle(1001), '1001', options=bundle_opts))
    r = publish(a, OM2_BUNDLES, om2_bundle(1001), '1001',
                options={'pubsub#max_items': '1'})
    assert app_error(r) == ('conflict', 'precondition-not-met')
    # a device goes: its bundle is retracted, the list notified
    ok(a.iq('set', "<pubsub xmlns='%s'><retract node='%s' notify='true'>"
            "<item id='1003'/></retract></pubsub>" % (NS_PUBSUB, OM2_BUNDLES)))
    ok(publish(a, OM2_DEVICES, om2_devices(1001, 1002), 'current',
               options=OPEN))
    assert device_ids(event(b, OM2_DEVICES), OM2, 'devices') == [1001, 1002]
    assert item_ids(items(c, 'alice@localhost', OM2_BUNDLES)) == \
        ['1002', '1001']


def test_omemo_data_survives_restart(make_server):
    srv = pep_server(make_server)
    a = login(srv, 'alice', caps=False)
    ok(publish(a, OM2_DEVICES, om2_devices(7), 'current', options=OPEN))
    ok(publish(a, AX_LIST, ax_list(7), 'current', options=OPEN))
    a.close()
    assert srv.stop() == []
    srv.start()
    c = login(srv, 'carol', caps=False)
    assert device_ids(items(c, 'alice@localhost', OM2_DEVICES), OM2,
                      'devices') == [7]
    assert device_ids(items(c, 'alice@localhost', AX_LIST), AX, 'list') == [7]
    b = login(srv, 'bob', 'n', notify=[AX_LIST])
    no_event(b, within=0.3)  # not a contact: no presence, no last item

/* src/mod/pubsub/iq.c: the XEP-0060 protocol of a pubsub service: the
 * pubsub and pubsub#owner IQs and disco of nodes, answered for the
 * service the binding names (see pubsub.h). */
#include "mod/mod.h"
#include "mod/pubsub/pubsub.h"

#define NS_XDATA "jabber:x:data"
#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"

static int
allowed(
    const struct pubsub_service *s, const struct hook_ev *ev, enum pubsub_op op)
{
	if (s->ops->allowed)
		return s->ops->allowed(s, ev->from, op);
	return strcmp(ev->from->bare, s->jid) == 0;
}

static const char *
form_type(const struct xml_node *x)
{
	struct xml_node *f, *v;

	for (f = xml_node_first_el(x); f; f = xml_node_next_el(f)) {
		const char *var = xml_node_attr(f, "var");

		if (var && strcmp(var, "FORM_TYPE") == 0) {
			v = xml_node_find(f, NULL, "value");
			return v ? xml_node_text_get(v) : NULL;
		}
	}
	return NULL;
}

/* The data form in parent, unless its FORM_TYPE is another one. */
static struct xml_node *
options_form(const struct xml_node *parent, const char *form_type_want)
{
	struct xml_node *x = xml_node_find(parent, NS_XDATA, "x");
	const char *ft;

	if (x == NULL)
		return NULL;
	ft = form_type(x);
	if (ft && strcmp(ft, form_type_want) != 0)
		return NULL;
	return x;
}

/* ---- pubsub sets ---- */

static enum hook_ret
do_publish(
    const struct pubsub_service *s, struct hook_ev *ev, struct xml_node *pub)
{
	const char *node = xml_node_attr(pub, "node");
	struct xml_node *item = xml_node_find(pub, NS_PUBSUB, "item");
	struct xml_node *payload = item ? xml_node_first_el(item) : NULL;
	struct xml_node *po, *x, *r, *p;
	struct pubsub_conf want;
	unsigned set = 0;
	char id[PUBSUB_ID_MAX + 1];
	enum pubsub_err e;

	if (!allowed(s, ev, PUBSUB_OP_PUBLISH)) {
		pubsub_reply_error(ev, PUBSUB_E_FORBIDDEN, NULL);
		return HOOK_HANDLED;
	}
	if (node == NULL) {
		pubsub_reply_error(ev, PUBSUB_E_NODEID, NULL);
		return HOOK_HANDLED;
	}
	if (payload == NULL || xml_node_next_el(payload)) {
		pubsub_reply_error(ev, PUBSUB_E_PAYLOAD, NULL);
		return HOOK_HANDLED;
	}
	pubsub_conf_default(s, &want);
	po = xml_node_find(ev->payload, NS_PUBSUB, "publish-options");
	x = po ? options_form(po, PUBSUB_PUBLISH_OPTIONS) : NULL;
	if (x) {
		e = pubsub_form_apply(s, x, &want, &set);
		if (e != PUBSUB_OK)
			goto out_err;
	}
	e = pubsub_publish(
	    s, node, xml_node_attr(item, "id"), payload, &want, set, 0, id);
	if (e != PUBSUB_OK)
		goto out_err;
	pubsub_conf_cleanup(&want);
	r = stanza_reply(ev);
	p = xml_node_child(
	    xml_node_child(r, NS_PUBSUB, "pubsub"), NULL, "publish");
	xml_node_set_attr(p, "node", node);
	xml_node_set_attr(xml_node_child(p, NULL, "item"), "id", id);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
out_err:
	pubsub_conf_cleanup(&want);
	pubsub_reply_error(ev, e, NULL);
	return HOOK_HANDLED;
}

static enum hook_ret
do_retract(
    const struct pubsub_service *s, struct hook_ev *ev, struct xml_node *rt)
{
	const char *node = xml_node_attr(rt, "node");
	const char *notify_attr = xml_node_attr(rt, "notify");
	struct xml_node *item = xml_node_find(rt, NS_PUBSUB, "item");
	const char *id = item ? xml_node_attr(item, "id") : NULL;
	enum pubsub_err e;

	if (!allowed(s, ev, PUBSUB_OP_RETRACT))
		e = PUBSUB_E_FORBIDDEN;
	else if (node == NULL)
		e = PUBSUB_E_NODEID;
	else if (id == NULL)
		e = PUBSUB_E_BAD;
	else
		e = pubsub_retract(s, node, id,
		    notify_attr && (strcmp(notify_attr, "true") == 0 ||
				       strcmp(notify_attr, "1") == 0));
	if (e != PUBSUB_OK)
		pubsub_reply_error(ev, e, NULL);
	else
		stanza_reply_result(ev);
	return HOOK_HANDLED;
}

static enum hook_ret
do_create(
    const struct pubsub_service *s, struct hook_ev *ev, struct xml_node *cr)
{
	const char *node = xml_node_attr(cr, "node");
	struct xml_node *cf =
	    xml_node_find(ev->payload, NS_PUBSUB, "configure");
	struct xml_node *x = cf ? options_form(cf, PUBSUB_NODE_CONFIG) : NULL;
	struct pubsub_conf c, old;
	unsigned set;
	enum pubsub_err e = PUBSUB_OK;
	int rc;

	pubsub_conf_default(s, &c);
	if (!allowed(s, ev, PUBSUB_OP_CREATE)) {
		e = PUBSUB_E_FORBIDDEN;
		goto out;
	}
	if (node == NULL || *node == '\0' || strlen(node) > PUBSUB_NODE_MAX ||
	    strchr(node, '\n')) {
		e = PUBSUB_E_NODEID; /* no instant nodes */
		goto out;
	}
	rc = pubsub_conf_load(s, node, &old);
	pubsub_conf_cleanup(&old);
	if (rc == 0) {
		e = PUBSUB_E_CONFLICT;
		goto out;
	}
	if (x) {
		e = pubsub_form_apply(s, x, &c, &set);
		if (e != PUBSUB_OK)
			goto out;
	}
	e = pubsub_create(s, node, &c);
out:
	pubsub_conf_cleanup(&c);
	if (e != PUBSUB_OK)
		pubsub_reply_error(ev, e, NULL);
	else
		stanza_reply_result(ev);
	return HOOK_HANDLED;
}

/* Subscribe (on) or unsubscribe jid, which must be the requester's. */
static enum hook_ret
do_subscribe(const struct pubsub_service *s, struct hook_ev *ev,
    struct xml_node *sb, int on)
{
	const char *node = xml_node_attr(sb, "node");
	const char *jid = xml_node_attr(sb, "jid");
	struct pubsub_conf c;
	struct jid j = { 0 };
	struct xml_node *r, *sub;
	enum pubsub_err e = PUBSUB_OK;
	int rc;

	if (node == NULL) {
		pubsub_reply_error(ev, PUBSUB_E_NODEID, NULL);
		return HOOK_HANDLED;
	}
	if (jid == NULL || jid_parse_str(&j, jid) != 0 ||
	    !jid_bare_eq(&j, ev->from)) {
		jid_cleanup(&j);
		pubsub_reply_error(ev, PUBSUB_E_JID, NULL);
		return HOOK_HANDLED;
	}
	rc = pubsub_conf_load(s, node, &c);
	if (rc != 0)
		e = rc < 0 ? PUBSUB_E_INTERNAL : PUBSUB_E_NOT_FOUND;
	else if (on)
		e = s->ops->access(s, ev->from->bare, &c);
	if (e != PUBSUB_OK)
		goto out;
	rc = 1;
	if (on) {
		/* subscribing again is not one more subscription */
		rc = pubsub_sub_exists(s, node, j.full);
		if (rc == 1)
			e = pubsub_sub_room(s, node, j.full);
		else if (rc < 0)
			e = PUBSUB_E_INTERNAL;
		if (e != PUBSUB_OK)
			goto out;
	}
	if (rc == 1 || !on) {
		e = pubsub_store_err(pubsub_sub_write(s, node, j.full, on));
		if (e != PUBSUB_OK)
			goto out;
	}
	r = stanza_reply(ev);
	if (on) {
		sub = xml_node_child(xml_node_child(r, NS_PUBSUB, "pubsub"),
		    NULL, "subscription");
		xml_node_set_attr(sub, "node", node);
		xml_node_set_attr(sub, "jid", j.full);
		xml_node_set_attr(sub, "subscription", "subscribed");
	}
	stanza_reply_send(ev, r);
	if (on && c.send_last != PUBSUB_SEND_NEVER)
		pubsub_send_last(s, node, j.full);
out:
	pubsub_conf_cleanup(&c);
	jid_cleanup(&j);
	if (e != PUBSUB_OK)
		pubsub_reply_error(ev, e, NULL);
	return HOOK_HANDLED;
}

enum hook_ret
pubsub_iq_set(const struct pubsub_service *s, struct hook_ev *ev)
{
	struct xml_node *op = xml_node_first_el(ev->payload);

	if (op == NULL)
		return HOOK_CONTINUE;
	if (strcmp(op->ns, NS_PUBSUB) != 0) {
		pubsub_reply_error(ev, PUBSUB_E_BAD, NULL);
		return HOOK_HANDLED;
	}
	if (strcmp(op->name, "publish") == 0)
		return do_publish(s, ev, op);
	if (strcmp(op->name, "retract") == 0)
		return do_retract(s, ev, op);
	if (strcmp(op->name, "create") == 0)
		return do_create(s, ev, op);
	if (strcmp(op->name, "subscribe") == 0)
		return do_subscribe(s, ev, op, 1);
	if (strcmp(op->name, "unsubscribe") == 0)
		return do_subscribe(s, ev, op, 0);
	pubsub_reply_error(ev, PUBSUB_E_UNSUPPORTED, op->name);
	return HOOK_HANDLED;
}

/* ---- pubsub gets ---- */

/* Is it one of the <item id=…/> from want on (all when want is NULL)? */
static int
item_wanted(const struct xml_node *want, const struct pubsub_item *it)
{
	const struct xml_node *w;

	if (want == NULL)
		return 1;
	for (w = want; w; w = xml_node_next_el(w))
		if (xml_node_is(w, NS_PUBSUB, "item") &&
		    xml_node_attr(w, "id") &&
		    strcmp(xml_node_attr(w, "id"), it->id) == 0)
			return 1;
	return 0;
}

static enum hook_ret
get_items(
    const struct pubsub_service *s, struct hook_ev *ev, struct xml_node *req)
{
	const char *node = xml_node_attr(req, "node");
	const char *max = xml_node_attr(req, "max_items");
	struct pubsub_items it = { 0 };
	struct xml_node *r, *items, *want;
	size_t i, from = 0;
	enum pubsub_err e;

	if (node == NULL) {
		pubsub_reply_error(ev, PUBSUB_E_NODEID, NULL);
		return HOOK_HANDLED;
	}
	e = pubsub_node_access(s, node, ev->from->bare);
	if (e == PUBSUB_OK && pubsub_items_load(s, node, &it) != 0)
		e = PUBSUB_E_INTERNAL;
	if (e != PUBSUB_OK) {
		pubsub_reply_error(ev, e, NULL);
		return HOOK_HANDLED;
	}
	if (max && atoll(max) > 0 && (size_t)atoll(max) < it.n)
		from = it.n - (size_t)atoll(max); /* the newest */
	r = stanza_reply(ev);
	items = xml_node_child(
	    xml_node_child(r, NS_PUBSUB, "pubsub"), NULL, "items");
	xml_node_set_attr(items, "node", node);
	want = xml_node_find(req, NS_PUBSUB, "item");
	for (i = from; i < it.n; i++)
		if (item_wanted(want, &it.v[i]))
			pubsub_item_into(items, &it.v[i]);
	pubsub_items_free(&it);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* The requester's own subscriptions on this service. */
static enum hook_ret
get_subscriptions(
    const struct pubsub_service *s, struct hook_ev *ev, struct xml_node *req)
{
	const char *only = xml_node_attr(req, "node");
	struct strlist subs = { 0 };
	struct xml_node *r, *list;
	size_t i;

	pubsub_subs_of(s, ev->from->bare, &subs);
	r = stanza_reply(ev);
	list = xml_node_child(
	    xml_node_child(r, NS_PUBSUB, "pubsub"), NULL, "subscriptions");
	if (only)
		xml_node_set_attr(list, "node", only);
	for (i = 0; i < subs.n; i++) {
		/* "node\njid" */
		char *nl = strchr(subs.v[i], '\n');
		struct jid j;
		struct xml_node *sub;

		if (nl == NULL)
			continue;
		*nl = '\0';
		if (only && strcmp(only, subs.v[i]) != 0)
			continue;
		if (jid_parse_str(&j, nl + 1) != 0)
			continue;
		if (jid_bare_eq(&j, ev->from)) {
			sub = xml_node_child(list, NULL, "subscription");
			xml_node_set_attr(sub, "node", subs.v[i]);
			xml_node_set_attr(sub, "jid", j.full);
			xml_node_set_attr(sub, "subscription", "subscribed");
		}
		jid_cleanup(&j);
	}
	strlist_free(&subs);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

enum hook_ret
pubsub_iq_get(const struct pubsub_service *s, struct hook_ev *ev)
{
	struct xml_node *op = xml_node_first_el(ev->payload);

	if (op == NULL)
		return HOOK_CONTINUE;
	if (xml_node_is(op, NS_PUBSUB, "items"))
		return get_items(s, ev, op);
	if (xml_node_is(op, NS_PUBSUB, "subscriptions"))
		return get_subscriptions(s, ev, op);
	pubsub_reply_error(ev, PUBSUB_E_UNSUPPORTED, op->name);
	return HOOK_HANDLED;
}

/* ---- pubsub#owner ---- */

/* configure set: apply the form (none or a cancel: nothing changes),
 * store it, and drop items beyond a lowered max_items. */
static enum pubsub_err
configure(const struct pubsub_service *s, const char *node,
    const struct xml_node *op, struct pubsub_conf *c)
{
	struct xml_node *x = options_form(op, PUBSUB_NODE_CONFIG);
	const char *type = x ? xml_node_attr(x, "type") : NULL;
	enum pubsub_err e;
	unsigned bits;

	if (x == NULL || (type && strcmp(type, "cancel") == 0))
		return PUBSUB_OK;
	e = pubsub_form_apply(s, x, c, &bits);
	if (e == PUBSUB_OK)
		e = pubsub_store_err(pubsub_conf_save(s, node, c));
	if (e == PUBSUB_OK)
		pubsub_items_trim(s, node, c);
	return e;
}

enum hook_ret
pubsub_iq_owner(const struct pubsub_service *s, struct hook_ev *ev)
{
	struct xml_node *op = xml_node_first_el(ev->payload);
	const char *node = op ? xml_node_attr(op, "node") : NULL;
	int set = ev->stype == STANZA_TYPE_SET;
	struct pubsub_conf c;
	struct xml_node *r, *x;
	enum pubsub_err e = PUBSUB_OK;
	int rc;

	if (op == NULL)
		return HOOK_CONTINUE;
	if (!allowed(s, ev, PUBSUB_OP_CONFIGURE)) {
		pubsub_reply_error(ev, PUBSUB_E_FORBIDDEN, NULL);
		return HOOK_HANDLED;
	}
	if (!set && xml_node_is(op, NS_PUBSUB_OWNER, "default")) {
		pubsub_conf_default(s, &c);
		r = stanza_reply(ev);
		pubsub_conf_form(
		    xml_node_child(xml_node_child(r, NS_PUBSUB_OWNER, "pubsub"),
			NULL, "default"),
		    &c);
		stanza_reply_send(ev, r);
		pubsub_conf_cleanup(&c);
		return HOOK_HANDLED;
	}
	if (!xml_node_is(op, NS_PUBSUB_OWNER, "configure") &&
	    !(set && (xml_node_is(op, NS_PUBSUB_OWNER, "purge") ||
			 xml_node_is(op, NS_PUBSUB_OWNER, "delete")))) {
		pubsub_reply_error(ev, PUBSUB_E_UNSUPPORTED, op->name);
		return HOOK_HANDLED;
	}
	if (node == NULL) {
		pubsub_reply_error(ev, PUBSUB_E_NODEID, NULL);
		return HOOK_HANDLED;
	}
	rc = pubsub_conf_load(s, node, &c);
	if (rc != 0) {
		pubsub_conf_cleanup(&c);
		pubsub_reply_error(
		    ev, rc < 0 ? PUBSUB_E_INTERNAL : PUBSUB_E_NOT_FOUND, NULL);
		return HOOK_HANDLED;
	}
	if (!set) {
		r = stanza_reply(ev);
		x = xml_node_child(xml_node_child(r, NS_PUBSUB_OWNER, "pubsub"),
		    NULL, "configure");
		xml_node_set_attr(x, "node", node);
		pubsub_conf_form(x, &c);
		stanza_reply_send(ev, r);
		goto out;
	}
	if (strcmp(op->name, "configure") == 0)
		e = configure(s, node, op, &c);
	else if (strcmp(op->name, "purge") == 0)
		pubsub_purge(s, node, &c);
	else
		pubsub_delete(s, node, &c);
	if (e != PUBSUB_OK)
		pubsub_reply_error(ev, e, NULL);
	else
		stanza_reply_result(ev);
out:
	pubsub_conf_cleanup(&c);
	return HOOK_HANDLED;
}

/* ---- disco of nodes ---- */

enum hook_ret
pubsub_disco_node_info(
    const struct pubsub_service *s, struct hook_ev *ev, const char *node)
{
	struct xml_node *r, *q, *id;

	if (pubsub_node_access(s, node, ev->from->bare) != PUBSUB_OK) {
		/* no telling strangers which nodes exist */
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_INFO, "query");
	xml_node_set_attr(q, "node", node);
	id = xml_node_child(q, NULL, "identity");
	xml_node_set_attr(id, "category", "pubsub");
	xml_node_set_attr(id, "type", "leaf");
	xml_node_set_attr(xml_node_child(q, NULL, "feature"), "var", NS_PUBSUB);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

enum hook_ret
pubsub_disco_items(
    const struct pubsub_service *s, struct hook_ev *ev, const char *node)
{
	struct xml_node *r, *q, *it;
	struct strlist nodes = { 0 };
	struct pubsub_items items = { 0 };
	size_t i;

	if (node) {
		if (pubsub_node_access(s, node, ev->from->bare) != PUBSUB_OK ||
		    pubsub_items_load(s, node, &items) != 0) {
			stanza_reply_error(
			    ev, "cancel", "item-not-found", NULL);
			return HOOK_HANDLED;
		}
		r = stanza_reply(ev);
		q = xml_node_child(r, NS_ITEMS, "query");
		xml_node_set_attr(q, "node", node);
		for (i = 0; i < items.n; i++) {
			it = xml_node_child(q, NULL, "item");
			xml_node_set_attr(it, "jid", s->jid);
			xml_node_set_attr(it, "name", items.v[i].id);
		}
		pubsub_items_free(&items);
		stanza_reply_send(ev, r);
		return HOOK_HANDLED;
	}
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_ITEMS, "query");
	pubsub_node_names(s, &nodes);
	for (i = 0; i < nodes.n; i++) {
		if (pubsub_node_access(s, nodes.v[i], ev->from->bare) !=
		    PUBSUB_OK)
			continue;
		it = xml_node_child(q, NULL, "item");
		xml_node_set_attr(it, "jid", s->jid);
		xml_node_set_attr(it, "node", nodes.v[i]);
	}
	strlist_free(&nodes);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

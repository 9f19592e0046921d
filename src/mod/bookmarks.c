/* src/mod/bookmarks.c: XEP-0402 PEP native bookmarks kept in step with
 * XEP-0048 bookmarks in XEP-0049 private storage and in the legacy PEP
 * node (XEP-0411), whichever way a client writes them. */
#include "mod/mod.h"
#include "mod/pep.h"

#define NS_NATIVE "urn:xmpp:bookmarks:1"
#define NS_LEGACY "storage:bookmarks"
#define NS_PRIVATE "jabber:iq:private"
#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_XDATA "jabber:x:data"
#define NS_CONVERSION "urn:xmpp:bookmarks-conversion:0"
/* mod/private.c's map (key: namespace, value: a serialised <query/>);
 * written here directly so that no private/updated fires for it */
#define PRIVATE_STORE "private"
/* map: the item ids (room JIDs) of the native node, so that a legacy
 * document can be compared with it; values are empty */
#define INDEX_STORE "bookmarks"
/* XEP-0048 §3 (via XEP-0223): the legacy PEP node's single item */
#define LEGACY_ITEM "current"

struct strv {
	char **v;
	size_t n;
};

static void
strv_add(struct strv *sv, const char *s)
{
	sv->v = xrealloc(sv->v, (sv->n + 1) * sizeof(*sv->v));
	sv->v[sv->n++] = xstrdup(s);
}

static int
strv_has(const struct strv *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return 1;
	return 0;
}

static void
strv_free(struct strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
}

static int
is_true(const char *v)
{
	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static void
copy_text_child(struct xml_node *to, struct xml_node *from, const char *ns,
    const char *name)
{
	struct xml_node *c = xml_node_find(from, ns, name);
	const char *t;

	if (c == NULL)
		return;
	t = xml_node_text_get(c);
	xml_node_text(xml_node_child(to, NULL, name), t, strlen(t));
}

/* ---- the two forms of one bookmark ---- */

/* XEP-0402 §3 item payload → XEP-0048 <conference jid=.../> in storage. */
static void
to_legacy(struct xml_node *storage, const char *jid, struct xml_node *n)
{
	struct xml_node *c = xml_node_child(storage, NULL, "conference");
	const char *name = xml_node_attr(n, "name");

	xml_node_set_attr(c, "jid", jid);
	if (name != NULL)
		xml_node_set_attr(c, "name", name);
	xml_node_set_attr(c, "autojoin",
	    is_true(xml_node_attr(n, "autojoin")) ? "true" : "false");
	copy_text_child(c, n, NS_NATIVE, "nick");
	copy_text_child(c, n, NS_NATIVE, "password");
}

/* XEP-0048 conference → XEP-0402 payload; the extensions of the item it
 * replaces (old, may be NULL) stay, XEP-0048 has no place for them. */
static struct xml_node *
to_native(struct xml_node *c, const struct xml_node *old)
{
	struct xml_node *n = xml_node_new(NS_NATIVE, "conference"), *ext;
	const char *name = xml_node_attr(c, "name");

	if (name != NULL)
		xml_node_set_attr(n, "name", name);
	if (is_true(xml_node_attr(c, "autojoin")))
		xml_node_set_attr(n, "autojoin", "true");
	copy_text_child(n, c, NS_LEGACY, "nick");
	copy_text_child(n, c, NS_LEGACY, "password");
	ext = old ? xml_node_find(old, NS_NATIVE, "extensions") : NULL;
	if (ext != NULL)
		xml_node_copy_into(n, ext);
	return n;
}

static int
same_xml(const struct xml_node *a, const struct xml_node *b)
{
	struct sbuf x, y;
	int eq;

	sbuf_init(&x);
	sbuf_init(&y);
	xml_serialize(a, "", &x);
	xml_serialize(b, "", &y);
	eq = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
	sbuf_cleanup(&x);
	sbuf_cleanup(&y);
	return eq;
}

/* A room JID prepared, bare (NULL: not a JID). */
static char *
room_prep(const char *j)
{
	struct jid jid;
	char *out;

	if (j == NULL || jid_parse_str(&jid, j) != 0)
		return NULL;
	out = xstrdup(jid.bare);
	jid_cleanup(&jid);
	return out;
}

/* The room JID of a legacy conference (NULL: none valid). */
static char *
room_of(const struct xml_node *c)
{
	return room_prep(xml_node_attr(c, "jid"));
}

/* ---- the index of native items ---- */

static int
index_collect(void *ud, const char *key, const char *val, size_t len)
{
	UNUSED(val);
	UNUSED(len);
	strv_add(ud, key);
	return 0;
}

static int
index_list(const char *host, const char *user, struct strv *sv)
{
	sv->v = NULL;
	sv->n = 0;
	return store_map_list(host, user, INDEX_STORE, index_collect, sv);
}

/* ---- the legacy document (private storage) ---- */

/* The stored <query/> holding <storage xmlns='storage:bookmarks'/>:
 * 0 (*q set), 1 none stored, -1 error. */
static int
private_load(const char *host, const char *user, struct xml_node **q)
{
	char *doc = NULL;
	size_t len = 0;
	int rc;

	*q = NULL;
	rc = store_map_get(host, user, PRIVATE_STORE, NS_LEGACY, &doc, &len);
	if (rc != 0)
		return rc;
	*q = xml_parse_element(doc, len);
	free(doc);
	if (*q == NULL)
		return 1;
	return 0;
}

/* A <storage/> built from the native node's items. */
static struct xml_node *
storage_from_native(const char *host, const char *user)
{
	struct xml_node *st = xml_node_new(NS_LEGACY, "storage"), *it;
	struct strv ids;
	size_t i;

	if (index_list(host, user, &ids) == 0) {
		for (i = 0; i < ids.n; i++) {
			if (pep_get_item(
				host, user, NS_NATIVE, ids.v[i], &it) != 0)
				continue;
			to_legacy(st, ids.v[i], it);
			xml_node_free(it);
		}
	}
	strv_free(&ids);
	return st;
}

/* Publish the legacy document on the legacy PEP node too (XEP-0402
 * #compat-pep, XEP-0048 §3), private to the owner. */
static void
legacy_pep_publish(
    struct host *h, const char *user, const struct xml_node *storage)
{
	pep_publish(h, user, NS_LEGACY, LEGACY_ITEM, storage, "whitelist");
}

/* Store the legacy document: in private storage and on the legacy PEP
 * node. */
static void
legacy_store(struct host *h, const char *user, struct xml_node *storage)
{
	struct xml_node *q = xml_node_new(NS_PRIVATE, "query");
	struct sbuf s;

	xml_node_copy_into(q, storage);
	sbuf_init(&s);
	xml_serialize(q, "", &s);
	if (store_map_set(
		h->name, user, PRIVATE_STORE, NS_LEGACY, s.data, s.len) == 0)
		legacy_pep_publish(h, user, storage);
	sbuf_cleanup(&s);
	xml_node_free(q);
}

/* A native item changed (n NULL: retracted): the same change in the
 * legacy document, whose other entries (URLs, other rooms) stay. */
static void
legacy_update(
    struct host *h, const char *user, const char *item_id, struct xml_node *n)
{
	struct xml_node *q = NULL, *old, *st, *c;
	char *prepped = room_prep(item_id);
	const char *room = prepped ? prepped : item_id;
	int rc;

	rc = private_load(h->name, user, &q);
	if (rc < 0)
		goto out_room;
	old = q ? xml_node_find(q, NS_LEGACY, "storage") : NULL;
	if (old == NULL) {
		/* no legacy document yet: private storage answers from the
		 * native node (bm_private_get) until a client writes one;
		 * the legacy node gets the native node, which already holds
		 * this change */
		st = storage_from_native(h->name, user);
		legacy_pep_publish(h, user, st);
		goto out_free;
	}
	st = xml_node_new(NS_LEGACY, "storage");
	for (c = xml_node_first_el(old); c; c = xml_node_next_el(c)) {
		char *r = NULL;

		if (xml_node_is(c, NS_LEGACY, "conference"))
			r = room_of(c);
		if (r == NULL || strcmp(r, room) != 0)
			xml_node_copy_into(st, c);
		free(r);
	}
	if (n != NULL)
		to_legacy(st, room, n);
	legacy_store(h, user, st);
out_free:
	xml_node_free(st);
	xml_node_free(q);
out_room:
	free(prepped);
}

/* ---- legacy → native ---- */

/* Set while this module writes to PEP itself: its own publications and
 * retractions are not converted back. */
static int converting;

static void
option(struct xml_node *x, const char *var, const char *val)
{
	struct xml_node *f = xml_node_child(x, NULL, "field");

	xml_node_set_attr(f, "var", var);
	xml_node_text(xml_node_child(f, NULL, "value"), val, strlen(val));
}

/* Create the native node the way XEP-0402 §5 has clients create it
 * (whitelist, persistent, max_items "max", no last item sent): publish
 * as the owner with those publish-options. pep_publish() would make a
 * node keeping one item. The result goes to the account's bare JID,
 * where the router consumes it. */
static void
owner_publish(const char *user, struct host *h, const char *room,
    const struct xml_node *n)
{
	struct xml_node *iq = xml_node_new(XML_NS_CLIENT, "iq"), *ps, *x;
	struct jid owner;
	char id[17];

	if (jid_make(&owner, user, h->name, NULL) != 0) {
		xml_node_free(iq);
		return;
	}
	rand_id(id, sizeof(id));
	xml_node_set_attr(iq, "type", "set");
	xml_node_set_attr(iq, "id", id);
	xml_node_set_attr(iq, "from", owner.full);
	xml_node_set_attr(iq, "to", owner.full);
	ps = xml_node_child(iq, NS_PUBSUB, "pubsub");
	x = xml_node_child(ps, NULL, "publish");
	xml_node_set_attr(x, "node", NS_NATIVE);
	x = xml_node_child(x, NULL, "item");
	xml_node_set_attr(x, "id", room);
	xml_node_copy_into(x, n);
	x = xml_node_child(
	    xml_node_child(ps, NULL, "publish-options"), NS_XDATA, "x");
	xml_node_set_attr(x, "type", "submit");
	option(x, "FORM_TYPE", NS_PUBSUB "#publish-options");
	option(x, "pubsub#persist_items", "true");
	option(x, "pubsub#max_items", "max");
	option(x, "pubsub#send_last_published_item", "never");
	option(x, "pubsub#access_model", "whitelist");
	router_route(iq, &owner, NULL);
	xml_node_free(iq);
	jid_cleanup(&owner);
}

/* Publish a native item for room: on a node that exists, as it is
 * configured (its owner's choice); else creating it as XEP-0402 says. */
static void
native_publish(struct host *h, const char *user, const char *room,
    const struct xml_node *n)
{
	struct xml_node *any = NULL;
	int rc;

	converting++;
	rc = pep_get_item(h->name, user, NS_NATIVE, NULL, &any);
	xml_node_free(any);
	if (rc == 1) {
		owner_publish(user, h, room, n);
		any = NULL;
		rc = pep_get_item(h->name, user, NS_NATIVE, room, &any);
		xml_node_free(any);
		if (rc == 0)
			goto out;
	}
	/* an empty node configured otherwise refused the options */
	pep_publish(h, user, NS_NATIVE, room, n, "whitelist");
out:
	converting--;
}

/* Make the native node hold exactly the conferences of storage. */
static void
native_sync(struct host *h, const char *user, struct xml_node *storage)
{
	struct xml_node *c, *old, *n;
	struct strv seen = { 0 }, ids;
	size_t i;

	for (c = xml_node_first_el(storage); c; c = xml_node_next_el(c)) {
		char *room;
		int rc;

		if (!xml_node_is(c, NS_LEGACY, "conference"))
			continue;
		room = room_of(c);
		if (room == NULL || strv_has(&seen, room)) {
			free(room); /* the first entry of a room counts */
			continue;
		}
		strv_add(&seen, room);
		rc = pep_get_item(h->name, user, NS_NATIVE, room, &old);
		if (rc < 0) {
			free(room);
			continue;
		}
		n = to_native(c, rc == 0 ? old : NULL);
		/* unchanged items are not published again: every client
		 * would be notified for nothing */
		if (rc != 0 || !same_xml(n, old))
			native_publish(h, user, room, n);
		xml_node_free(n);
		if (rc == 0)
			xml_node_free(old);
		free(room);
	}
	if (index_list(h->name, user, &ids) == 0)
		for (i = 0; i < ids.n; i++)
			if (!strv_has(&seen, ids.v[i])) {
				converting++;
				pep_retract(h, user, NS_NATIVE, ids.v[i]);
				converting--;
			}
	strv_free(&ids);
	strv_free(&seen);
}

static enum hook_ret
bm_private_updated(struct hook_ev *ev)
{
	struct xml_node *st = xml_node_find(ev->data, NS_LEGACY, "storage");

	if (st == NULL)
		return HOOK_CONTINUE;
	native_sync(ev->host, ev->user, st);
	legacy_pep_publish(ev->host, ev->user, st);
	return HOOK_CONTINUE;
}

/* XEP-0411 §4: bookmarks a legacy client stored before this module ran
 * reach PEP when the user logs in, so that PEP-only clients see them. */
static enum hook_ret
bm_bound(struct hook_ev *ev)
{
	struct session *s = ev->session;
	struct xml_node *q = NULL, *st;
	long n = 0;

	if (s == NULL || s->jid.node == NULL ||
	    store_map_count(s->host->name, s->jid.node, INDEX_STORE, &n) != 0 ||
	    n > 0)
		return HOOK_CONTINUE;
	if (private_load(s->host->name, s->jid.node, &q) != 0)
		return HOOK_CONTINUE;
	st = xml_node_find(q, NS_LEGACY, "storage");
	if (st != NULL && xml_node_find(st, NS_LEGACY, "conference") != NULL)
		native_sync(s->host, s->jid.node, st);
	xml_node_free(q);
	return HOOK_CONTINUE;
}

/* ---- PEP events ---- */

static enum hook_ret
bm_published(struct hook_ev *ev)
{
	const struct pep_published *p = ev->data;
	struct xml_node *n;

	if (strcmp(p->node, NS_NATIVE) == 0) {
		if (store_map_set(ev->host->name, ev->user, INDEX_STORE,
			p->item_id, "", 0) != 0 ||
		    p->by_server || converting)
			return HOOK_CONTINUE;
		n = xml_node_dup(p->payload);
		legacy_update(ev->host, ev->user, p->item_id, n);
		xml_node_free(n);
	} else if (strcmp(p->node, NS_LEGACY) == 0 && !p->by_server &&
		   !converting &&
		   xml_node_is(p->payload, NS_LEGACY, "storage")) {
		/* XEP-0048 over PEP: the same as a private storage set */
		struct xml_node *q = xml_node_new(NS_PRIVATE, "query");
		struct sbuf s;

		n = xml_node_copy_into(q, p->payload);
		native_sync(ev->host, ev->user, n);
		sbuf_init(&s);
		xml_serialize(q, "", &s);
		store_map_set(ev->host->name, ev->user, PRIVATE_STORE,
		    NS_LEGACY, s.data, s.len);
		sbuf_cleanup(&s);
		xml_node_free(q);
	}
	return HOOK_CONTINUE;
}

static enum hook_ret
bm_retracted(struct hook_ev *ev)
{
	const struct pep_published *p = ev->data;

	if (strcmp(p->node, NS_NATIVE) != 0)
		return HOOK_CONTINUE;
	if (store_map_del(ev->host->name, ev->user, INDEX_STORE, p->item_id) <
		0 ||
	    p->by_server || converting)
		return HOOK_CONTINUE;
	legacy_update(ev->host, ev->user, p->item_id, NULL);
	return HOOK_CONTINUE;
}

/* ---- private storage get without a legacy document ---- */

/* XEP-0411 §3: a client asking private storage for bookmarks gets the
 * native ones when none were ever stored there. */
static enum hook_ret
bm_private_get(struct hook_ev *ev)
{
	struct xml_node *c = xml_node_first_el(ev->payload), *q, *r, *st;
	int rc;

	if (ev->from->node == NULL || !jid_bare_eq(ev->from, ev->to) ||
	    c == NULL || xml_node_next_el(c) != NULL ||
	    !xml_node_is(c, NS_LEGACY, "storage"))
		return HOOK_CONTINUE;
	rc = private_load(ev->host->name, ev->to->node, &q);
	xml_node_free(q);
	if (rc != 1)
		return HOOK_CONTINUE;
	st = storage_from_native(ev->host->name, ev->to->node);
	if (xml_node_first_el(st) == NULL) {
		xml_node_free(st);
		return HOOK_CONTINUE;
	}
	r = stanza_reply(ev);
	xml_node_copy_into(xml_node_child(r, NS_PRIVATE, "query"), st);
	xml_node_free(st);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static const struct hook_reg bookmarks_hooks[] = {
	/* before mod/private.c answers */
	{ "iq-get/bare/" NS_PRIVATE ":query", bm_private_get, 10 },
	{ "private/updated", bm_private_updated, 0 },
	{ "session/bound", bm_bound, 0 }, { "pep/published", bm_published, 0 },
	{ "pep/retracted", bm_retracted, 0 }, HOOK_REG_END
};

const struct module mod_bookmarks = {
	.name = "bookmarks",
	.spec = "XEP-0402, XEP-0411",
	.doc = "Bookmarks: PEP native bookmarks kept in step with XEP-0048 "
	       "bookmarks in private storage and the legacy PEP node.",
	.account_features = (const char *const[]){ NS_NATIVE "#compat",
	    NS_NATIVE "#compat-pep", NS_CONVERSION, NULL },
	.hooks = bookmarks_hooks,
	/* roster too: pep needs it */
	.depends = (const char *const[]){ "pep", "private", "roster", NULL },
};

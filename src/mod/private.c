/* src/mod/private.c: XEP-0049 Private XML Storage — per account, one
 * entry per namespace in map "private" (key: the namespace; value: a
 * serialised <query/> holding that namespace's elements). */
#include "mod/mod.h"
#include "xmpp/portable.h"

#define NS_PRIVATE "jabber:iq:private"
#define PRIVATE_STORE "private"

struct private_cfg {
	long long max_size;
};

extern const struct module mod_private;

/* XEP-0049 §2.3: "namespaces beginning with 'jabber:' or
 * 'http://jabber.org/', as well as 'vcard-temp'" are reserved. */
static int
reserved(const char *ns)
{
	return ns[0] == '\0' || strncmp(ns, "jabber:", 7) == 0 ||
	       strncmp(ns, "http://jabber.org/", 18) == 0 ||
	       strcmp(ns, "vcard-temp") == 0;
}

/* Is ev from the account it addresses (to_self, or its own bare JID)? */
static int
own_account(const struct hook_ev *ev)
{
	return ev->from->node != NULL && jid_bare_eq(ev->from, ev->to);
}

/* Every child namespace of q is acceptable; which one is not, else NULL. */
static const char *
check_children(const struct xml_node *q)
{
	const struct xml_node *c;

	for (c = xml_node_first_el(q); c; c = xml_node_next_el(c))
		if (reserved(c->ns))
			return c->ns;
	return NULL;
}

/* Has an earlier sibling of c the same namespace (handled already)? */
static int
ns_seen(const struct xml_node *q, const struct xml_node *c)
{
	const struct xml_node *p;

	for (p = xml_node_first_el(q); p && p != c; p = xml_node_next_el(p))
		if (strcmp(p->ns, c->ns) == 0)
			return 1;
	return 0;
}

static enum hook_ret
private_get(struct hook_ev *ev)
{
	struct xml_node *r, *rq, *c, *stored, *s;
	char *doc;
	size_t len;
	int rc;

	if (!own_account(ev)) {
		stanza_reply_error(ev, "cancel", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	if (xml_node_first_el(ev->payload) == NULL) {
		stanza_reply_error(ev, "modify", "bad-request",
		    "name the namespace to retrieve with a child element");
		return HOOK_HANDLED;
	}
	if (check_children(ev->payload)) {
		stanza_reply_error(
		    ev, "modify", "not-acceptable", "reserved namespace");
		return HOOK_HANDLED;
	}
	r = stanza_reply(ev);
	rq = xml_node_child(r, NS_PRIVATE, "query");
	for (c = xml_node_first_el(ev->payload); c; c = xml_node_next_el(c)) {
		if (ns_seen(ev->payload, c))
			continue;
		doc = NULL;
		rc = store_map_get(ev->host->name, ev->to->node, PRIVATE_STORE,
		    c->ns, &doc, &len);
		if (rc < 0) {
			xml_node_free(r);
			stanza_reply_error(
			    ev, "wait", "internal-server-error", NULL);
			return HOOK_HANDLED;
		}
		stored = rc == 0 ? xml_parse_element(doc, len) : NULL;
		free(doc);
		if (stored == NULL) {
			/* nothing stored: the element asked for, empty */
			xml_node_child(rq, c->ns, c->name);
			continue;
		}
		for (s = xml_node_first_el(stored); s; s = xml_node_next_el(s))
			xml_node_copy_into(rq, s);
		xml_node_free(stored);
	}
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

struct usage {
	const char *skip; /* the namespace being replaced */
	size_t bytes;
};

static int
add_usage(void *ud, const char *key, const char *val, size_t len)
{
	struct usage *u = ud;

	UNUSED(val);
	if (strcmp(key, u->skip) != 0)
		u->bytes += strlen(key) + len;
	return 0;
}

/* Store the elements of q in namespace ns as one value. 0 ok, 1 over the
 * limit, -1 store failure. */
static int
store_ns(const struct hook_ev *ev, const char *ns, long long max)
{
	struct xml_node *w = xml_node_new(NS_PRIVATE, "query"), *c;
	struct usage u = { .skip = ns, .bytes = 0 };
	struct sbuf s;
	int rc = -1;

	for (c = xml_node_first_el(ev->payload); c; c = xml_node_next_el(c))
		if (strcmp(c->ns, ns) == 0)
			xml_node_copy_into(w, c);
	sbuf_init(&s);
	xml_serialize(w, "", &s);
	if (store_map_list(
		ev->host->name, ev->to->node, PRIVATE_STORE, add_usage, &u) < 0)
		goto out_free;
	if ((long long)(u.bytes + strlen(ns) + s.len) > max) {
		rc = 1;
		goto out_free;
	}
	rc = store_map_set(
	    ev->host->name, ev->to->node, PRIVATE_STORE, ns, s.data, s.len);
	if (rc == 0) {
		/* conversions (XEP-0411 bookmarks) follow what is stored */
		struct hook_ev up = { .host = ev->host,
			.session = ev->session,
			.from = ev->from,
			.to = ev->to,
			.type = "",
			.user = ev->to->node,
			.data = w };

		hook_fire(ev->host->hooks, "private/updated", &up);
	}
out_free:
	sbuf_cleanup(&s);
	xml_node_free(w);
	return rc;
}

static enum hook_ret
private_set(struct hook_ev *ev)
{
	const struct private_cfg *pc = host_modcfg(ev->host, &mod_private);
	struct xml_node *c;
	char text[96];
	int rc = 0;

	if (!own_account(ev)) {
		stanza_reply_error(ev, "cancel", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	if (xml_node_first_el(ev->payload) == NULL) {
		stanza_reply_error(
		    ev, "modify", "not-acceptable", "nothing to store");
		return HOOK_HANDLED;
	}
	if (check_children(ev->payload)) {
		stanza_reply_error(
		    ev, "modify", "not-acceptable", "reserved namespace");
		return HOOK_HANDLED;
	}
	for (c = xml_node_first_el(ev->payload); c && rc == 0;
	     c = xml_node_next_el(c))
		if (!ns_seen(ev->payload, c))
			rc = store_ns(ev, c->ns, pc->max_size);
	if (rc == 1) {
		/* the namespaces stored before this one stay: each is a
		 * complete entry of its own */
		snprintf(text, sizeof(text),
		    "private storage is limited to %lld bytes per account",
		    pc->max_size);
		stanza_reply_error(ev, "modify", "not-acceptable", text);
	} else if (rc < 0) {
		stanza_reply_store_error(ev, rc);
	} else {
		stanza_reply_result(ev);
	}
	return HOOK_HANDLED;
}

/* ---- export and import (xmpp/portable.h, XEP-0227 §3.6) ---- */

static int
export_ns(void *ud, const char *key, const char *val, size_t len)
{
	struct xml_node *q = ud, *stored = xml_parse_element(val, len), *s;

	UNUSED(key);
	for (s = stored ? xml_node_first_el(stored) : NULL; s;
	     s = xml_node_next_el(s))
		xml_node_copy_into(q, s);
	xml_node_free(stored);
	return 0;
}

static enum hook_ret
private_export(struct hook_ev *ev)
{
	struct acct_export *x = ev->data;
	struct xml_node *q = xml_node_new(NS_PRIVATE, "query");

	store_map_list(ev->host->name, ev->user, PRIVATE_STORE, export_ns, q);
	if (xml_node_first_el(q) != NULL)
		xml_node_copy_into(x->user, q);
	xml_node_free(q);
	return HOOK_CONTINUE;
}

/* Each namespace of the exported <query/> is stored as the client's
 * set would store it, under the same cap. */
static enum hook_ret
private_import(struct hook_ev *ev)
{
	const struct private_cfg *pc = host_modcfg(ev->host, &mod_private);
	struct acct_import *imp = ev->data;
	struct xml_node *q = xml_node_find(imp->user, NS_PRIVATE, "query");
	struct jid me = { 0 };
	struct hook_ev sev = { 0 };
	struct xml_node *c;
	char bare[2 * JID_PART_MAX + 2];
	int rc = 0;

	if (q == NULL)
		return HOOK_CONTINUE;
	if (check_children(q)) {
		acct_import_fail(imp, q, "private XML: reserved namespace");
		return HOOK_HANDLED;
	}
	snprintf(bare, sizeof(bare), "%s@%s", ev->user, ev->host->name);
	if (jid_parse_str(&me, bare) < 0) {
		acct_import_fail(imp, q, "private XML: bad account JID");
		return HOOK_HANDLED;
	}
	sev.host = ev->host;
	sev.from = &me;
	sev.to = &me;
	sev.type = "";
	sev.payload = q;
	for (c = xml_node_first_el(q); c && rc == 0; c = xml_node_next_el(c))
		if (!ns_seen(q, c)) {
			rc = store_ns(&sev, c->ns, pc->max_size);
			if (rc == 1)
				acct_import_fail(imp, c,
				    "private XML over private.max_size "
				    "(%lld bytes)",
				    pc->max_size);
			else if (rc < 0)
				acct_import_store_fail(
				    imp, c, rc, "private XML");
		}
	jid_cleanup(&me);
	if (imp->failed)
		return HOOK_HANDLED;
	acct_import_take(imp, q);
	return HOOK_CONTINUE;
}

static const struct cfg_directive private_dirs[] = {
	{ .name = "max_size",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct private_cfg, max_size),
	    .def = "256k",
	    .min = 1024,
	    .max = 64 * 1024 * 1024,
	    .doc = "Bytes of private XML one account may store in all its "
		   "namespaces together; a set beyond it is refused with "
		   "<not-acceptable/> (type modify) and a text giving the "
		   "limit." },
	{ .name = NULL },
};

static const struct cfg_section private_section = {
	.name = "private",
	.dirs = private_dirs,
	.size = sizeof(struct private_cfg),
	.doc = "Settings of the private module.",
};

static const struct hook_reg private_hooks[] = {
	{ "iq-get/bare/" NS_PRIVATE ":query", private_get, 0 },
	{ "iq-set/bare/" NS_PRIVATE ":query", private_set, 0 },
	{ "user/export", private_export, 0 },
	{ "user/import", private_import, 0 }, HOOK_REG_END
};

const struct module mod_private = {
	.name = "private",
	.spec = "XEP-0049",
	.doc = "Private XML storage: clients keep data (bookmarks, "
	       "preferences) on the server, per namespace.",
	.features = (const char *const[]){ NS_PRIVATE, NULL },
	.hooks = private_hooks,
	.config = &private_section,
};

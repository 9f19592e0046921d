/* src/mod/blocking.c: XEP-0191 Blocking Command. */
#include "mod/mod.h"
#include "xmpp/portable.h"
#include "mod/roster.h"

#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define BL_STORE "blocklist"

struct blocking_cfg {
	long long max_items;
};

/* An account's blocked JIDs, sorted (strcmp), shared by all its online
 * resources so the filter asks no storage for online users. */
struct bl_list {
	unsigned refs;
	struct strset s;
};

/* Per session: its account's list, and whether it asked for the list
 * (only those get pushes, XEP-0191 §3.3). */
struct bl_sess {
	struct bl_list *bl;
	int requested;
};

extern const struct module mod_blocking;

static int
bl_idx(void)
{
	static int idx = -1;

	if (idx < 0)
		idx = module_index("blocking");
	return idx;
}

static void
bl_unref(struct bl_list *l)
{
	if (l == NULL || --l->refs > 0)
		return;
	strset_free(&l->s);
	free(l);
}

static int
bl_load_cb(void *ud, const char *key, const char *val, size_t len)
{
	UNUSED(val);
	UNUSED(len);
	strset_add(&((struct bl_list *)ud)->s, key);
	return 0;
}

static struct bl_list *
bl_load(const char *host, const char *user)
{
	struct bl_list *l = xcalloc(1, sizeof(*l));

	l->refs = 1;
	if (acct_cache_map_list(host, user, BL_STORE, bl_load_cb, l) < 0) {
		bl_unref(l);
		return NULL;
	}
	return l;
}

/* The cached list of an online account (loaded on first use and shared
 * by all its resources), or NULL when it has no session or on a storage
 * failure. */
static struct bl_list *
bl_account(const char *host, const char *user, const char *bare)
{
	struct session *first = session_find_bare(bare), *s;
	struct bl_list *l = NULL;
	struct bl_sess *d;

	/* a closing session (its session/closed handlers may still route
	 * stanzas) gets no cache: nothing would free it */
	while (first && first->closing)
		first = first->next_res;
	if (first == NULL)
		return NULL;
	for (s = first; s && l == NULL; s = s->next_res) {
		d = s->closing ? NULL : session_mod_get(s, bl_idx());
		if (d)
			l = d->bl;
	}
	if (l == NULL) {
		l = bl_load(host, user);
		if (l == NULL)
			return NULL;
		l->refs = 0;
	}
	for (s = first; s; s = s->next_res) {
		if (s->closing)
			continue;
		d = session_mod_get(s, bl_idx());
		if (d == NULL) {
			d = xcalloc(1, sizeof(*d));
			session_mod_set(s, bl_idx(), d);
		}
		if (d->bl == NULL) {
			d->bl = l;
			l->refs++;
		}
	}
	return l;
}

/* Forget an account's cached list (after a storage failure), so the next
 * use reads the store again. */
static void
bl_forget(const char *bare)
{
	struct session *s;

	for (s = session_find_bare(bare); s; s = s->next_res) {
		struct bl_sess *d = session_mod_get(s, bl_idx());

		if (d && d->bl) {
			bl_unref(d->bl);
			d->bl = NULL;
		}
	}
}

static int
bl_stored(const char *host, const char *user, const char *key)
{
	char *val = NULL;
	size_t len;
	int rc = acct_cache_map_get(host, user, BL_STORE, key, &val, &len);

	free(val);
	return rc == 0;
}

/* XEP-0191 §5 matching: user@domain/resource, user@domain,
 * domain/resource, domain. Did user (bare) block j? */
static int
bl_blocks(
    const char *host, const char *user, const char *bare, const struct jid *j)
{
	char dres[2 * JID_PART_MAX + 2];
	const char *cand[4];
	struct bl_list *l = bl_account(host, user, bare);
	size_t n = 0, i;

	cand[n++] = j->full;
	if (j->resource && j->node)
		cand[n++] = j->bare;
	if (j->resource) {
		if (j->node) {
			snprintf(dres, sizeof(dres), "%s/%s", j->domain,
			    j->resource);
			cand[n++] = dres;
		}
		cand[n++] = j->domain;
	} else if (j->node) {
		cand[n++] = j->domain;
	}
	for (i = 0; i < n; i++) {
		if (l ? strset_has(&l->s, cand[i])
		      : bl_stored(host, user, cand[i]))
			return 1;
	}
	return 0;
}

/* route/filter: neither side of a block hears from the other. */
static enum hook_ret
bl_filter(struct hook_ev *ev)
{
	const struct jid *from = ev->from, *to = ev->to;
	const char *hn = ev->host->name;
	const char *name = ev->stanza->name;
	int is_error = ev->stype == STANZA_TYPE_ERROR;
	int is_pres = strcmp(name, "presence") == 0;
	int req = strcmp(name, "iq") == 0 && (ev->stype == STANZA_TYPE_GET ||
						 ev->stype == STANZA_TYPE_SET);

	if (to == NULL)
		return HOOK_CONTINUE;
	/* one's own resources, and one's own server, are never blocked */
	if (from->node && to->node && jid_bare_eq(from, to))
		return HOOK_CONTINUE;
	if ((from->node == NULL || to->node == NULL) &&
	    strcmp(from->domain, to->domain) == 0)
		return HOOK_CONTINUE;
	if (from->node && strcmp(from->domain, hn) == 0 &&
	    bl_blocks(hn, from->node, from->bare, to)) {
		/* §3.3: what the user sends is refused, what the server sends
		 * on the user's behalf (presence broadcasts) just dropped */
		if (ev->session && !is_pres && !is_error &&
		    (strcmp(name, "message") == 0 || req))
			stanza_bounce_app(ev->stanza, "cancel",
			    "not-acceptable", NULL, NS_BLOCKING_ERRORS,
			    "blocked");
		log_debug("blocking outbound %s from=%s to=%s", name,
		    from->full, to->full);
		return HOOK_HANDLED;
	}
	if (to->node && strcmp(to->domain, hn) == 0 &&
	    bl_blocks(hn, to->node, to->bare, from)) {
		/* §3.3: presence silently, messages and requests with
		 * service-unavailable (the user looks offline), the rest
		 * silently */
		if (!is_pres && !is_error &&
		    (strcmp(name, "message") == 0 || req))
			stanza_bounce(
			    ev->stanza, "cancel", "service-unavailable", NULL);
		log_debug("blocking inbound %s from=%s to=%s", name, from->full,
		    to->full);
		return HOOK_HANDLED;
	}
	return HOOK_CONTINUE;
}

/* Only the account itself manages its list. */
static int
bl_is_self(const struct hook_ev *ev)
{
	return ev->session && ev->to->resource == NULL &&
	       jid_bare_eq(ev->from, ev->to);
}

static enum hook_ret
bl_get(struct hook_ev *ev)
{
	struct bl_list *l;
	struct bl_sess *d;
	struct xml_node *r, *q;
	size_t i;

	if (!bl_is_self(ev))
		return HOOK_CONTINUE;
	l = bl_account(ev->host->name, ev->to->node, ev->to->bare);
	if (l == NULL) {
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		return HOOK_HANDLED;
	}
	d = session_mod_get(ev->session, bl_idx());
	if (d)
		d->requested = 1;
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_BLOCKING, "blocklist");
	for (i = 0; i < l->s.n; i++)
		xml_node_set_attr(
		    xml_node_child(q, NULL, "item"), "jid", l->s.v[i]);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* The items of a block/unblock, prepared; -1 after answering an error. */
static int
bl_items(struct hook_ev *ev, struct jid **out, size_t *n)
{
	struct xml_node *it;
	struct jid *v = NULL;
	size_t k = 0, cap = 0, i;

	for (it = xml_node_first_el(ev->payload); it;
	     it = xml_node_next_el(it)) {
		const char *j = xml_node_attr(it, "jid");

		if (!xml_node_is(it, NS_BLOCKING, "item"))
			continue;
		if (k == cap) {
			cap = cap ? cap * 2 : 4;
			v = xrealloc(v, cap * sizeof(*v));
		}
		if (j == NULL || jid_parse_str(&v[k], j) != 0) {
			for (i = 0; i < k; i++)
				jid_cleanup(&v[i]);
			free(v);
			stanza_reply_error(ev, "modify",
			    j ? "jid-malformed" : "bad-request", NULL);
			return -1;
		}
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

static void
bl_items_free(struct jid *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		jid_cleanup(&v[i]);
	free(v);
}

/* §3.3 / §3.4: tell every resource that asked for the list. */
static void
bl_push(const char *bare, const char *op, const struct jid *v, size_t n)
{
	struct session *s;
	size_t i;

	for (s = session_find_bare(bare); s; s = s->next_res) {
		struct bl_sess *d = session_mod_get(s, bl_idx());
		struct xml_node *iq, *p;
		struct rbuf *r = NULL;
		char id[16];

		if (d == NULL || !d->requested)
			continue;
		rand_id(id, sizeof(id));
		iq = xml_node_new(XML_NS_CLIENT, "iq");
		xml_node_set_attr(iq, "type", "set");
		xml_node_set_attr(iq, "id", id);
		xml_node_set_attr(iq, "to", s->jid.full);
		p = xml_node_child(iq, NS_BLOCKING, op);
		for (i = 0; i < n; i++)
			xml_node_set_attr(
			    xml_node_child(p, NULL, "item"), "jid", v[i].full);
		session_send(s, iq, &r);
		rbuf_unref(r);
		xml_node_free(iq);
	}
}

/* §3.3: a newly blocked contact that could see the user's presence now
 * sees each available resource go unavailable. */
static void
bl_unavailable(struct hook_ev *ev, const struct jid *contact)
{
	struct session *s;
	int sub;

	if (contact->node == NULL)
		return;
	sub = roster_subscription(ev->host->name, ev->to->node, contact->bare);
	if (sub != ROSTER_SUB_FROM && sub != ROSTER_SUB_BOTH)
		return;
	for (s = session_find_bare(ev->to->bare); s; s = s->next_res) {
		struct xml_node *p;

		if (!s->available || s->closing)
			continue;
		p = xml_node_new(XML_NS_CLIENT, "presence");
		xml_node_set_attr(p, "type", "unavailable");
		xml_node_set_attr(p, "from", s->jid.full);
		xml_node_set_attr(p, "to", contact->full);
		router_route_unfiltered(p, &s->jid);
		xml_node_free(p);
	}
}

static enum hook_ret
bl_block(struct hook_ev *ev)
{
	const struct blocking_cfg *cfg = host_modcfg(ev->host, &mod_blocking);
	const char *host = ev->host->name, *user = ev->to->node;
	struct bl_list *l;
	struct jid *v;
	size_t n, i, added = 0;
	char *fresh;

	if (!bl_is_self(ev))
		return HOOK_CONTINUE;
	if (bl_items(ev, &v, &n) < 0)
		return HOOK_HANDLED;
	if (n == 0) {
		/* §3.3: a block needs at least one item */
		stanza_reply_error(ev, "modify", "bad-request", NULL);
		goto out_free;
	}
	l = bl_account(host, user, ev->to->bare);
	if (l == NULL) {
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		goto out_free;
	}
	fresh = xcalloc(n, 1);
	for (i = 0; i < n; i++) {
		size_t j;

		fresh[i] = !strset_has(&l->s, v[i].full);
		for (j = 0; j < i && fresh[i]; j++)
			if (strcmp(v[j].full, v[i].full) == 0)
				fresh[i] = 0;
		added += fresh[i];
	}
	if ((long long)(l->s.n + added) > cfg->max_items) {
		free(fresh);
		stanza_reply_error(
		    ev, "cancel", "policy-violation", "The blocklist is full");
		goto out_free;
	}
	for (i = 0; i < n; i++) {
		if (!fresh[i])
			continue;
		int rc = store_map_set(host, user, BL_STORE, v[i].full, "", 0);

		if (rc != 0) {
			free(fresh);
			bl_forget(ev->to->bare);
			stanza_reply_store_error(ev, rc);
			goto out_free;
		}
		strset_add(&l->s, v[i].full);
	}
	log_info("blocking jid=%s added=%zu", ev->to->bare, added);
	stanza_reply_result(ev);
	bl_push(ev->to->bare, "block", v, n);
	for (i = 0; i < n; i++)
		if (fresh[i])
			bl_unavailable(ev, &v[i]);
	free(fresh);
out_free:
	bl_items_free(v, n);
	return HOOK_HANDLED;
}

/* §3.4: an unblocked contact that may see the user's presence gets it
 * again. The presence module keeps each session's presence and answers
 * probes by the subscription rules, so a probe on the contact's behalf,
 * which never leaves this server, asks it to send exactly that. */
static void
bl_reprobe(struct hook_ev *ev, const char *contact)
{
	struct xml_node *p;
	struct jid j;

	if (jid_parse_str(&j, contact) != 0)
		return;
	if (j.node) {
		p = xml_node_new(XML_NS_CLIENT, "presence");
		xml_node_set_attr(p, "type", "probe");
		xml_node_set_attr(p, "from", j.full);
		xml_node_set_attr(p, "to", ev->to->bare);
		router_route(p, &j, NULL);
		xml_node_free(p);
	}
	jid_cleanup(&j);
}

static enum hook_ret
bl_unblock(struct hook_ev *ev)
{
	const char *host = ev->host->name, *user = ev->to->node;
	struct bl_list *l;
	struct jid *v;
	char **was = NULL;
	size_t n, i, nwas = 0;
	int rc = 0;

	if (!bl_is_self(ev))
		return HOOK_CONTINUE;
	if (bl_items(ev, &v, &n) < 0)
		return HOOK_HANDLED;
	l = bl_account(host, user, ev->to->bare);
	if (l == NULL) {
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		goto out_free;
	}
	if (n == 0) {
		/* §3.5: an empty unblock unblocks everyone */
		rc = store_map_del(host, user, BL_STORE, NULL);
		if (rc == 0) {
			was = l->s.v;
			nwas = l->s.n;
			l->s = (struct strset){ 0 };
		}
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (!strset_has(&l->s, v[i].full))
			continue;
		rc = store_map_del(host, user, BL_STORE, v[i].full);
		if (rc != 0)
			break;
		strset_del(&l->s, v[i].full);
		was = xrealloc(was, (nwas + 1) * sizeof(*was));
		was[nwas++] = xstrdup(v[i].full);
	}
	if (rc != 0) {
		bl_forget(ev->to->bare);
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		goto out_free;
	}
	log_info("blocking jid=%s unblocked=%zu%s", ev->to->bare, n,
	    n ? "" : " (all)");
	stanza_reply_result(ev);
	bl_push(ev->to->bare, "unblock", v, n);
	for (i = 0; i < nwas; i++)
		bl_reprobe(ev, was[i]);
out_free:
	for (i = 0; i < nwas; i++)
		free(was[i]);
	free(was);
	bl_items_free(v, n);
	return HOOK_HANDLED;
}

static enum hook_ret
bl_closed(struct hook_ev *ev)
{
	struct bl_sess *d = session_mod_get(ev->session, bl_idx());

	if (d == NULL)
		return HOOK_CONTINUE;
	bl_unref(d->bl);
	free(d);
	session_mod_set(ev->session, bl_idx(), NULL);
	return HOOK_CONTINUE;
}

static const struct cfg_directive blocking_dirs[] = {
	{ .name = "max_items",
	    .type = CFG_INT,
	    .offset = offsetof(struct blocking_cfg, max_items),
	    .def = "1000",
	    .min = 1,
	    .max = 100000,
	    .doc = "JIDs one user may block; more are refused with "
		   "policy-violation." },
	{ .name = NULL },
};

static const struct cfg_section blocking_section = {
	.name = "blocking",
	.dirs = blocking_dirs,
	.size = sizeof(struct blocking_cfg),
	.doc = "Settings of the blocking module.",
};

/* ---- export and import (xmpp/portable.h) ----
 * XEP-0227 has no blocklist: it goes as XEP-0191's <blocklist/>. On
 * import the deny-by-JID items of an exported default privacy list
 * (XEP-0016: ejabberd keeps blocks there) are taken as blocks too. */

static int
export_item(void *ud, const char *key, const char *val, size_t len)
{
	UNUSED(val);
	UNUSED(len);
	xml_node_set_attr(xml_node_child(ud, NULL, "item"), "jid", key);
	return 0;
}

static enum hook_ret
blocking_export(struct hook_ev *ev)
{
	struct acct_export *x = ev->data;
	struct xml_node *b = xml_node_new(NS_BLOCKING, "blocklist");

	store_map_list(ev->host->name, ev->user, BL_STORE, export_item, b);
	if (xml_node_first_el(b) != NULL)
		xml_node_copy_into(x->user, b);
	xml_node_free(b);
	return HOOK_CONTINUE;
}

static int
import_block(struct acct_import *imp, struct host *h, const char *user,
    const struct xml_node *el, const char *v)
{
	const struct blocking_cfg *cfg = host_modcfg(h, &mod_blocking);
	struct jid j;
	long n = 0;
	int rc;

	if (v == NULL || jid_parse_str(&j, v) < 0) {
		acct_import_fail(imp, el, "blocklist item: not a valid JID");
		return -1;
	}
	if (!bl_stored(h->name, user, j.full) &&
	    (store_map_count(h->name, user, BL_STORE, &n) < 0 ||
		n >= cfg->max_items)) {
		acct_import_fail(imp, el,
		    "more than %lld blocklist items (blocking.max_items)",
		    cfg->max_items);
		rc = -1;
	} else {
		rc = store_map_set(h->name, user, BL_STORE, j.full, "", 0);
		if (rc != 0)
			acct_import_store_fail(imp, el, rc, "blocklist item");
	}
	jid_cleanup(&j);
	return rc == 0 ? 0 : -1;
}

/* The default privacy list's items denying one JID everything. */
static void
import_privacy(struct acct_import *imp, struct host *h, const char *user,
    struct xml_node *q)
{
	struct xml_node *d = xml_node_find(q, "jabber:iq:privacy", "default");
	const char *def = d ? xml_node_attr(d, "name") : NULL, *t, *a;
	struct xml_node *l, *it;
	long dropped = 0;

	for (l = xml_node_first_el(q); l && !imp->failed;
	     l = xml_node_next_el(l)) {
		if (!xml_node_is(l, "jabber:iq:privacy", "list") ||
		    def == NULL ||
		    strcmp(def, xml_node_attr(l, "name")
				    ? xml_node_attr(l, "name")
				    : "") != 0)
			continue;
		for (it = xml_node_first_el(l); it && !imp->failed;
		     it = xml_node_next_el(it)) {
			t = xml_node_attr(it, "type");
			a = xml_node_attr(it, "action");
			if (t && a && strcmp(t, "jid") == 0 &&
			    strcmp(a, "deny") == 0 &&
			    xml_node_first_el(it) == NULL)
				import_block(imp, h, user, it,
				    xml_node_attr(it, "value"));
			else if (xml_node_is(it, "jabber:iq:privacy", "item"))
				dropped++;
		}
	}
	/* XEP-0016 is not served: say what is lost */
	if (dropped > 0 || (def == NULL && xml_node_first_el(q) != NULL))
		log_warn("import %s@%s: privacy lists: only the default "
			 "list's blocks of one JID are kept (%ld other "
			 "rules dropped)",
		    user, h->name, dropped);
}

static enum hook_ret
blocking_import(struct hook_ev *ev)
{
	struct acct_import *imp = ev->data;
	struct xml_node *c, *next, *it;

	for (c = xml_node_first_el(imp->user); c && !imp->failed; c = next) {
		next = xml_node_next_el(c);
		if (xml_node_is(c, "jabber:iq:privacy", "query")) {
			import_privacy(imp, ev->host, ev->user, c);
		} else if (xml_node_is(c, NS_BLOCKING, "blocklist")) {
			for (it = xml_node_first_el(c); it && !imp->failed;
			     it = xml_node_next_el(it))
				if (xml_node_is(it, NS_BLOCKING, "item"))
					import_block(imp, ev->host, ev->user,
					    it, xml_node_attr(it, "jid"));
		} else {
			continue;
		}
		if (!imp->failed)
			acct_import_take(imp, c);
	}
	return imp->failed ? HOOK_HANDLED : HOOK_CONTINUE;
}

static const struct hook_reg blocking_hooks[] = {
	{ "iq-get/bare/" NS_BLOCKING ":blocklist", bl_get, 0 },
	{ "iq-set/bare/" NS_BLOCKING ":block", bl_block, 0 },
	{ "iq-set/bare/" NS_BLOCKING ":unblock", bl_unblock, 0 },
	{ "route/filter", bl_filter, 0 },
	/* last, so presence broadcasts on the way out still use the cache */
	{ "session/closed", bl_closed, -100 },
	{ "user/export", blocking_export, 0 },
	{ "user/import", blocking_import, 0 }, HOOK_REG_END
};

static void
bl_session_free(void *data)
{
	struct bl_sess *d = data;

	bl_unref(d->bl);
	free(d);
}

/* Every stanza between two accounts asks both blocklists: kept with the
 * account's state (xmpp/acct_cache.h). */
static int
blocking_init(struct host *h)
{
	UNUSED(h);
	acct_cache_part(STORE_MAP, BL_STORE);
	return 0;
}

const struct module mod_blocking = {
	.name = "blocking",
	.spec = "XEP-0191",
	.doc = "Lets users block JIDs: nothing passes between them and the "
	       "user in either direction.",
	.features = (const char *const[]){ NS_BLOCKING, NULL },
	.hooks = blocking_hooks,
	.config = &blocking_section,
	.depends = (const char *const[]){ "roster", NULL },
	.session_free = bl_session_free,
	.init = blocking_init,
};

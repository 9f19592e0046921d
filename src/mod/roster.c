/* src/mod/roster.c: RFC 6121 §2 roster management, XEP-0237 versioning. */
#include "mod/mod.h"
#include "mod/roster.h"
#include "xmpp/portable.h"

#define NS_ROSTER "jabber:iq:roster"
#define NS_ROSTERVER "urn:xmpp:features:rosterver"
#define NS_PREAPPROVAL "urn:xmpp:features:pre-approval"
#define ROSTER_STORE "roster"
#define VER_STORE "roster_ver"
/* Policy caps on what a client makes us store per item. */
#define TEXT_MAX 1023
#define GROUPS_MAX 64

struct roster_cfg {
	long long max_items;
	long long max_pending;
};

extern const struct module mod_roster;

static const char *const sub_names[] = { "none", "to", "from", "both" };

/* ---- serialisation: "k=v" lines, '\' and newline escaped ---- */

static void
put_field(struct sbuf *b, char k, const char *v)
{
	const char *p;

	sbuf_putc(b, k);
	sbuf_putc(b, '=');
	for (p = v; *p; p++) {
		if (*p == '\\')
			sbuf_puts(b, "\\\\");
		else if (*p == '\n')
			sbuf_puts(b, "\\n");
		else
			sbuf_putc(b, *p);
	}
	sbuf_putc(b, '\n');
}

static char *
unescape(const char *p, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n) {
			i++;
			*o++ = p[i] == 'n' ? '\n' : p[i];
		} else {
			*o++ = p[i];
		}
	}
	*o = '\0';
	return out;
}

static void
encode(const struct roster_item *it, struct sbuf *b)
{
	char num[4];
	size_t i;

	snprintf(num, sizeof(num), "%d", (int)it->sub);
	put_field(b, 's', num);
	if (it->ask)
		put_field(b, 'a', "1");
	if (it->approved)
		put_field(b, 'r', "1");
	if (it->pending_in)
		put_field(b, 'p', "1");
	if (it->hidden)
		put_field(b, 'h', "1");
	if (it->name)
		put_field(b, 'n', it->name);
	if (it->status)
		put_field(b, 't', it->status);
	for (i = 0; i < it->ngroups; i++)
		put_field(b, 'g', it->groups[i]);
}

static void
decode(const char *key, const char *val, size_t len, struct roster_item *it)
{
	const char *p = val, *end = val + len, *nl;

	memset(it, 0, sizeof(*it));
	it->jid = xstrdup(key);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl - p >= 2 && p[1] == '=') {
			const char *v = p + 2;
			size_t n = (size_t)(nl - v);

			switch (p[0]) {
			case 's':
				if (n == 1 && v[0] >= '0' && v[0] <= '3')
					it->sub = (enum roster_sub)(v[0] - '0');
				break;
			case 'a':
				it->ask = 1;
				break;
			case 'r':
				it->approved = 1;
				break;
			case 'p':
				it->pending_in = 1;
				break;
			case 'h':
				it->hidden = 1;
				break;
			case 'n':
				free(it->name);
				it->name = unescape(v, n);
				break;
			case 't':
				free(it->status);
				it->status = unescape(v, n);
				break;
			case 'g':
				it->groups = xrealloc(it->groups,
				    (it->ngroups + 1) * sizeof(char *));
				it->groups[it->ngroups++] = unescape(v, n);
				break;
			default:
				break;
			}
		}
		p = nl + 1;
	}
}

void
roster_item_cleanup(struct roster_item *it)
{
	size_t i;

	free(it->jid);
	free(it->name);
	free(it->status);
	for (i = 0; i < it->ngroups; i++)
		free(it->groups[i]);
	free(it->groups);
	memset(it, 0, sizeof(*it));
}

int
roster_item_get(const char *host, const char *user, const char *contact,
    struct roster_item *it)
{
	char *val = NULL;
	size_t len = 0;
	int rc;

	memset(it, 0, sizeof(*it));
	rc = acct_cache_map_get(host, user, ROSTER_STORE, contact, &val, &len);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		it->jid = xstrdup(contact);
		it->hidden = 1;
		return 1;
	}
	decode(contact, val, len, it);
	free(val);
	return 0;
}

int
roster_subscription(
    const char *host, const char *user, const char *contact_bare)
{
	struct roster_item it;
	int rc = roster_item_get(host, user, contact_bare, &it);
	int sub = it.sub;

	roster_item_cleanup(&it);
	if (rc < 0)
		return -1;
	return rc == 0 ? sub : ROSTER_SUB_NONE;
}

int
roster_has_item(const char *host, const char *user, const char *contact_bare)
{
	struct roster_item it;
	int rc = roster_item_get(host, user, contact_bare, &it);
	int shown = rc == 0 && !it.hidden;

	roster_item_cleanup(&it);
	return shown;
}

struct foreach_ctx {
	int (*cb)(void *ud, const struct roster_item *it);
	void *ud;
};

static int
foreach_one(void *ud, const char *key, const char *val, size_t len)
{
	struct foreach_ctx *fc = ud;
	struct roster_item it;
	int rc;

	decode(key, val, len, &it);
	rc = fc->cb(fc->ud, &it);
	roster_item_cleanup(&it);
	return rc;
}

int
roster_foreach(const char *host, const char *user,
    int (*cb)(void *ud, const struct roster_item *it), void *ud)
{
	struct foreach_ctx fc = { cb, ud };

	return acct_cache_map_list(host, user, ROSTER_STORE, foreach_one, &fc);
}

static long long
max_items(const char *host)
{
	struct host *h = host_find(host);
	const struct roster_cfg *rc = h ? host_modcfg(h, &mod_roster) : NULL;

	return rc ? rc->max_items : 1000;
}

int
roster_room(const char *host, const char *user)
{
	long n = 0;

	/* pending requests count too, so strangers cannot grow a user's
	 * data without bound */
	if (acct_cache_map_count(host, user, ROSTER_STORE, &n) < 0)
		return -1;
	return n < max_items(host) ? 0 : -1;
}

static int
count_pending(void *ud, const struct roster_item *it)
{
	if (it->hidden && it->pending_in)
		(*(long long *)ud)++;
	return 0;
}

int
roster_pending_room(const char *host, const char *user)
{
	struct host *h = host_find(host);
	const struct roster_cfg *rc = h ? host_modcfg(h, &mod_roster) : NULL;
	long long n = 0;

	if (roster_foreach(host, user, count_pending, &n) < 0)
		return -1;
	return n < (rc ? rc->max_pending : 100) ? 0 : -1;
}

/* ---- versions (XEP-0237): a counter per user ---- */

static unsigned long long
ver_get(const char *host, const char *user)
{
	char *val = NULL;
	size_t len = 0;
	unsigned long long v = 0;

	if (store_kv_get(host, user, VER_STORE, &val, &len) == 0) {
		char buf[32];

		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, val, len);
		buf[len] = '\0';
		v = strtoull(buf, NULL, 10);
		free(val);
	}
	return v;
}

static unsigned long long
ver_bump(const char *host, const char *user)
{
	unsigned long long v = ver_get(host, user) + 1;
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", v);
	store_kv_set(host, user, VER_STORE, buf, strlen(buf));
	return v;
}

/* ---- pushes ---- */

static void
item_node(struct xml_node *q, const struct roster_item *it, int removed)
{
	struct xml_node *el = xml_node_child(q, NULL, "item");
	size_t i;

	xml_node_set_attr(el, "jid", it->jid);
	if (removed) {
		xml_node_set_attr(el, "subscription", "remove");
		return;
	}
	if (it->name)
		xml_node_set_attr(el, "name", it->name);
	xml_node_set_attr(el, "subscription", sub_names[it->sub]);
	if (it->ask)
		xml_node_set_attr(el, "ask", "subscribe");
	if (it->approved)
		xml_node_set_attr(el, "approved", "true");
	for (i = 0; i < it->ngroups; i++)
		xml_node_text(xml_node_child(el, NULL, "group"), it->groups[i],
		    strlen(it->groups[i]));
}

/* RFC 6121 §2.1.6: to every interested resource of the account. */
static void
push(const char *host, const char *user, const struct roster_item *it,
    int removed, unsigned long long ver)
{
	char bare[2 * JID_PART_MAX + 2], id[17], vbuf[32];
	struct session *s;

	snprintf(bare, sizeof(bare), "%s@%s", user, host);
	snprintf(vbuf, sizeof(vbuf), "%llu", ver);
	for (s = session_find_bare(bare); s; s = s->next_res) {
		struct xml_node *iq, *q;
		struct rbuf *r = NULL;

		if (!s->interested || s->closing)
			continue;
		iq = xml_node_new(XML_NS_CLIENT, "iq");
		rand_id(id, sizeof(id));
		xml_node_set_attr(iq, "type", "set");
		xml_node_set_attr(iq, "id", id);
		xml_node_set_attr(iq, "to", s->jid.full);
		q = xml_node_child(iq, NS_ROSTER, "query");
		xml_node_set_attr(q, "ver", vbuf);
		item_node(q, it, removed);
		session_send(s, iq, &r);
		rbuf_unref(r);
		xml_node_free(iq);
	}
}

int
roster_item_save(
    const char *host, const char *user, const struct roster_item *it)
{
	struct sbuf b;
	int rc;

	sbuf_init(&b);
	encode(it, &b);
	rc = store_map_set(host, user, ROSTER_STORE, it->jid, b.data, b.len);
	sbuf_cleanup(&b);
	return rc == STORE_QUOTA ? STORE_QUOTA : rc == 0 ? 0 : -1;
}

int
roster_item_put(
    const char *host, const char *user, const struct roster_item *it)
{
	int rc;

	if (it->hidden && !it->pending_in)
		return roster_item_delete(host, user, it->jid);
	rc = roster_item_save(host, user, it);
	if (rc != 0)
		return rc;
	if (!it->hidden)
		push(host, user, it, 0, ver_bump(host, user));
	return 0;
}

int
roster_item_delete(const char *host, const char *user, const char *contact)
{
	struct roster_item it;
	int rc = roster_item_get(host, user, contact, &it);

	if (rc == 0 && store_map_del(host, user, ROSTER_STORE, contact) != 0)
		rc = -1;
	if (rc == 0 && !it.hidden)
		push(host, user, &it, 1, ver_bump(host, user));
	roster_item_cleanup(&it);
	return rc < 0 ? -1 : 0;
}

/* ---- jabber:iq:roster ---- */

/* A client may only manage its own roster (RFC 6121 §2.1.5). */
static int
own_roster(const struct hook_ev *ev)
{
	return ev->session != NULL &&
	       (ev->to_self || strcmp(ev->to->bare, ev->from->bare) == 0);
}

struct get_ctx {
	struct xml_node *q;
};

static int
get_one(void *ud, const struct roster_item *it)
{
	struct get_ctx *gc = ud;

	if (!it->hidden)
		item_node(gc->q, it, 0);
	return 0;
}

static enum hook_ret
roster_get(struct hook_ev *ev)
{
	const char *host = ev->from->domain, *user = ev->from->node;
	const char *cver = xml_node_attr(ev->payload, "ver");
	struct xml_node *r, *q;
	struct get_ctx gc;
	char vbuf[32];

	if (!own_roster(ev)) {
		stanza_reply_error(ev, "auth", "forbidden",
		    "a roster can only be read by its owner");
		return HOOK_HANDLED;
	}
	ev->session->interested = 1;
	snprintf(vbuf, sizeof(vbuf), "%llu", ver_get(host, user));
	r = stanza_reply(ev);
	/* XEP-0237 §2.3: unchanged since the client's copy: an empty
	 * result, and the pushes that follow carry what changes */
	if (cver && strcmp(cver, vbuf) == 0) {
		stanza_reply_send(ev, r);
		return HOOK_HANDLED;
	}
	q = xml_node_child(r, NS_ROSTER, "query");
	xml_node_set_attr(q, "ver", vbuf);
	gc.q = q;
	if (roster_foreach(host, user, get_one, &gc) < 0) {
		xml_node_free(r);
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		return HOOK_HANDLED;
	}
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static void
send_presence(const char *from, const char *to, const char *type)
{
	struct xml_node *p = xml_node_new(XML_NS_CLIENT, "presence");

	xml_node_set_attr(p, "from", from);
	xml_node_set_attr(p, "to", to);
	xml_node_set_attr(p, "type", type);
	stanza_send(p);
}

/* RFC 6121 §2.5.2: removing an item cancels the subscriptions both ways
 * (and any pending request), telling the contact. */
static void
roster_remove(struct hook_ev *ev, const char *contact)
{
	const char *host = ev->from->domain, *user = ev->from->node;
	struct roster_item it;
	int rc = roster_item_get(host, user, contact, &it);

	if (rc < 0) {
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		goto out;
	}
	if (rc == 1 || it.hidden) {
		/* a hidden item is a request never answered: deny it */
		if (rc == 0 && it.pending_in) {
			send_presence(ev->from->bare, contact, "unsubscribed");
			roster_item_delete(host, user, contact);
		}
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		goto out;
	}
	if (it.sub == ROSTER_SUB_TO || it.sub == ROSTER_SUB_BOTH || it.ask)
		send_presence(ev->from->bare, contact, "unsubscribe");
	if (it.sub == ROSTER_SUB_FROM || it.sub == ROSTER_SUB_BOTH ||
	    it.pending_in) {
		struct session *s;

		send_presence(ev->from->bare, contact, "unsubscribed");
		/* the contact no longer sees us: it learns we are gone */
		if (it.sub == ROSTER_SUB_FROM || it.sub == ROSTER_SUB_BOTH)
			for (s = session_find_bare(ev->from->bare); s;
			     s = s->next_res)
				if (s->available && !s->closing)
					send_presence(s->jid.full, contact,
					    "unavailable");
	}
	if (roster_item_delete(host, user, contact) != 0) {
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		goto out;
	}
	stanza_reply_result(ev);
out:
	roster_item_cleanup(&it);
}

/* Check the one <item/> of a roster set (RFC 6121 §2.3.3); NULL when
 * good, else the condition, with *text set. */
static const char *
check_item(struct xml_node *item, const char **text)
{
	struct xml_node *g, *h;
	const char *name = xml_node_attr(item, "name");
	size_t n = 0;

	if (name && strlen(name) > TEXT_MAX) {
		*text = "the item's name is too long";
		return "not-acceptable";
	}
	for (g = xml_node_first_el(item); g; g = xml_node_next_el(g)) {
		const char *gt;

		if (!xml_node_is(g, NS_ROSTER, "group"))
			continue;
		gt = xml_node_text_get(g);
		if (*gt == '\0') {
			*text = "a group name must not be empty";
			return "not-acceptable";
		}
		if (strlen(gt) > TEXT_MAX) {
			*text = "a group name is too long";
			return "not-acceptable";
		}
		if (++n > GROUPS_MAX) {
			*text = "too many groups on one item";
			return "not-acceptable";
		}
		for (h = xml_node_first_el(item); h != g;
		     h = xml_node_next_el(h))
			if (xml_node_is(h, NS_ROSTER, "group") &&
			    strcmp(xml_node_text_get(h), gt) == 0) {
				*text = "the same group appears twice";
				return "bad-request";
			}
	}
	return NULL;
}

static void
roster_update(struct hook_ev *ev, struct xml_node *item, const char *contact)
{
	const char *host = ev->from->domain, *user = ev->from->node;
	const char *name = xml_node_attr(item, "name");
	struct roster_item it;
	struct xml_node *g;
	size_t i;
	int rc = roster_item_get(host, user, contact, &it);

	if (rc < 0) {
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		goto out;
	}
	if (it.hidden && roster_room(host, user) != 0) {
		char text[96];

		snprintf(text, sizeof(text),
		    "the roster is full (at most %lld items)", max_items(host));
		stanza_reply_error(ev, "cancel", "not-allowed", text);
		goto out;
	}
	it.hidden = 0;
	free(it.name);
	it.name = name && *name ? xstrdup(name) : NULL;
	for (i = 0; i < it.ngroups; i++)
		free(it.groups[i]);
	it.ngroups = 0;
	for (g = xml_node_first_el(item); g; g = xml_node_next_el(g)) {
		if (!xml_node_is(g, NS_ROSTER, "group"))
			continue;
		it.groups =
		    xrealloc(it.groups, (it.ngroups + 1) * sizeof(char *));
		it.groups[it.ngroups++] = xstrdup(xml_node_text_get(g));
	}
	/* 'subscription' (other than remove) and 'ask' from a client are
	 * ignored: only presence stanzas change them (RFC 6121 §2.1.2) */
	rc = roster_item_put(host, user, &it);
	if (rc != 0) {
		stanza_reply_store_error(ev, rc);
		goto out;
	}
	stanza_reply_result(ev);
out:
	roster_item_cleanup(&it);
}

static enum hook_ret
roster_set(struct hook_ev *ev)
{
	struct xml_node *c, *item = NULL;
	const char *jattr, *sub, *cond, *text = NULL;
	struct jid cj;
	int nitems = 0;

	if (!own_roster(ev)) {
		stanza_reply_error(ev, "auth", "forbidden",
		    "a roster can only be changed by its owner");
		return HOOK_HANDLED;
	}
	for (c = xml_node_first_el(ev->payload); c; c = xml_node_next_el(c))
		if (xml_node_is(c, NS_ROSTER, "item")) {
			item = c;
			nitems++;
		}
	if (nitems != 1) {
		stanza_reply_error(ev, "modify", "bad-request",
		    "a roster set carries exactly one item");
		return HOOK_HANDLED;
	}
	jattr = xml_node_attr(item, "jid");
	if (jattr == NULL) {
		stanza_reply_error(
		    ev, "modify", "bad-request", "the item has no jid");
		return HOOK_HANDLED;
	}
	if (jid_parse_str(&cj, jattr) != 0) {
		stanza_reply_error(ev, "modify", "jid-malformed", NULL);
		return HOOK_HANDLED;
	}
	sub = xml_node_attr(item, "subscription");
	if (sub && strcmp(sub, "remove") == 0) {
		roster_remove(ev, cj.full);
		goto out;
	}
	cond = check_item(item, &text);
	if (cond) {
		stanza_reply_error(ev, "modify", cond, text);
		goto out;
	}
	roster_update(ev, item, cj.full);
out:
	jid_cleanup(&cj);
	return HOOK_HANDLED;
}

static enum hook_ret
roster_features(struct hook_ev *ev)
{
	struct xml_node *f = ev->data;

	xml_node_child(f, NS_ROSTERVER, "ver");
	xml_node_child(f, NS_PREAPPROVAL, "sub");
	return HOOK_CONTINUE;
}

/* ---- account deletion: local contacts see the user unsubscribed ---- */

struct jid_list {
	char **v;
	size_t n;
	struct host *host;
};

/* Collected first: the handling below writes to the same store. */
static int
collect_jid(void *ud, const struct roster_item *it)
{
	struct jid_list *l = ud;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
	l->v[l->n++] = xstrdup(it->jid);
	return 0;
}

static int
collect_user(void *ud, const char *user)
{
	struct jid_list *l = ud;
	struct host *h = l->host;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof(char *));
	l->v[l->n++] = xasprintf("%s@%s", user, h->name);
	return 0;
}

static void
unlink_contact(const char *user_bare, const char *contact)
{
	struct roster_item theirs;
	struct jid cj;
	struct host *ch;

	if (jid_parse_str(&cj, contact) != 0)
		return;
	ch = cj.node && !cj.resource ? host_find(cj.domain) : NULL;
	if (ch == NULL)
		goto out;
	if (roster_item_get(ch->name, cj.node, user_bare, &theirs) == 0) {
		/* the contact's inbound handling updates its view and
		 * tells its resources; then the item goes */
		if (theirs.sub == ROSTER_SUB_TO ||
		    theirs.sub == ROSTER_SUB_BOTH || theirs.ask)
			send_presence(user_bare, cj.bare, "unsubscribed");
		if (theirs.sub == ROSTER_SUB_FROM ||
		    theirs.sub == ROSTER_SUB_BOTH || theirs.pending_in)
			send_presence(user_bare, cj.bare, "unsubscribe");
		roster_item_delete(ch->name, cj.node, user_bare);
	}
	roster_item_cleanup(&theirs);
out:
	jid_cleanup(&cj);
}

static enum hook_ret
roster_user_deleted(struct hook_ev *ev)
{
	char bare[2 * JID_PART_MAX + 2];
	struct jid_list l = { NULL, 0, ev->host };
	size_t i;

	snprintf(bare, sizeof(bare), "%s@%s", ev->user, ev->host->name);
	roster_foreach(ev->host->name, ev->user, collect_jid, &l);
	/* those who added the user without any subscription are not in
	 * the user's roster: every roster on the host is looked at */
	store_kv_users(ev->host->name, VER_STORE, collect_user, &l);
	for (i = 0; i < l.n; i++) {
		unlink_contact(bare, l.v[i]);
		free(l.v[i]);
	}
	free(l.v);
	return HOOK_CONTINUE;
}

/* ---- export and import (xmpp/portable.h, XEP-0227 §3.4 and §3.9) ---- */

struct export_ctx {
	struct xml_node *user, *q;
	const char *bare;
};

static int
export_one(void *ud, const struct roster_item *it)
{
	struct export_ctx *x = ud;
	struct xml_node *p;

	if (!it->hidden)
		item_node(x->q, it, 0);
	if (it->pending_in) {
		/* an inbound request waiting for the user's answer */
		p = xml_node_child(x->user, XML_NS_CLIENT, "presence");
		xml_node_set_attr(p, "type", "subscribe");
		xml_node_set_attr(p, "from", it->jid);
		xml_node_set_attr(p, "to", x->bare);
		if (it->status)
			xml_node_text(xml_node_child(p, NULL, "status"),
			    it->status, strlen(it->status));
	}
	return 0;
}

static enum hook_ret
roster_export(struct hook_ev *ev)
{
	struct acct_export *x = ev->data;
	char bare[2 * JID_PART_MAX + 2];
	struct export_ctx c = { x->user, NULL, bare };

	snprintf(bare, sizeof(bare), "%s@%s", ev->user, ev->host->name);
	c.q = xml_node_child(x->user, NS_ROSTER, "query");
	roster_foreach(ev->host->name, ev->user, export_one, &c);
	return HOOK_CONTINUE;
}

/* The bare JID of attribute name of el, prepared, into out; why not. */
static const char *
import_jid(const struct xml_node *el, const char *name, char *out, size_t len)
{
	const char *v = xml_node_attr(el, name);
	struct jid j;

	if (v == NULL || jid_parse_str(&j, v) < 0)
		return "not a valid JID";
	if (j.resource != NULL) {
		jid_cleanup(&j);
		return "a contact is a bare JID";
	}
	snprintf(out, len, "%s", j.bare);
	jid_cleanup(&j);
	return NULL;
}

/* One <item/> of the exported roster into it (loaded for its JID). */
static const char *
import_item(struct xml_node *el, struct roster_item *it)
{
	const char *sub = xml_node_attr(el, "subscription"), *ask, *text;
	const char *name = xml_node_attr(el, "name");
	struct xml_node *g;
	size_t i;

	if (check_item(el, &text) != NULL)
		return text;
	for (i = 0; sub != NULL && i < ARRAY_LEN(sub_names); i++)
		if (strcmp(sub, sub_names[i]) == 0)
			break;
	if (sub != NULL && i == ARRAY_LEN(sub_names))
		return "subscription is none, to, from or both";
	it->sub = sub ? (enum roster_sub)i : ROSTER_SUB_NONE;
	ask = xml_node_attr(el, "ask");
	it->ask = ask != NULL && strcmp(ask, "subscribe") == 0;
	it->hidden = 0;
	free(it->name);
	it->name = name && *name ? xstrdup(name) : NULL;
	for (i = 0; i < it->ngroups; i++)
		free(it->groups[i]);
	free(it->groups);
	it->groups = NULL;
	it->ngroups = 0;
	for (g = xml_node_first_el(el); g; g = xml_node_next_el(g)) {
		if (!xml_node_is(g, NS_ROSTER, "group"))
			continue;
		it->groups = xrealloc(
		    it->groups, (it->ngroups + 1) * sizeof(*it->groups));
		it->groups[it->ngroups++] = xstrdup(xml_node_text_get(g));
	}
	return NULL;
}

/* Store one item (roster item or inbound request) under the roster's
 * cap; 0 or -1 (failed, said). */
static int
import_put(struct acct_import *imp, struct host *h, const char *user,
    const struct xml_node *el, const struct roster_item *it, int existed)
{
	int rc;

	if (!existed && roster_room(h->name, user) < 0) {
		acct_import_fail(imp, el,
		    "more than %lld roster items "
		    "(roster.max_items)",
		    max_items(h->name));
		return -1;
	}
	rc = roster_item_save(h->name, user, it);
	if (rc != 0) {
		acct_import_store_fail(imp, el, rc, "roster item");
		return -1;
	}
	return 0;
}

static enum hook_ret
roster_import(struct hook_ev *ev)
{
	struct acct_import *imp = ev->data;
	struct xml_node *c, *next, *el;
	char jid[3 * JID_PART_MAX + 3];
	const char *why, *st;
	struct roster_item it;
	int any = 0, rc;

	for (c = xml_node_first_el(imp->user); c && !imp->failed; c = next) {
		next = xml_node_next_el(c);
		if (xml_node_is(c, XML_NS_CLIENT, "presence")) {
			st = xml_node_attr(c, "type");
			if (st == NULL || strcmp(st, "subscribe") != 0)
				continue;
			why = import_jid(c, "from", jid, sizeof(jid));
			if (why != NULL) {
				acct_import_fail(imp, c,
				    "subscription request: from: %s", why);
				break;
			}
			rc =
			    roster_item_get(ev->host->name, ev->user, jid, &it);
			if (rc >= 0) {
				it.pending_in = 1;
				el = xml_node_find(c, XML_NS_CLIENT, "status");
				if (el && it.status == NULL)
					it.status = xstrndup(
					    xml_node_text_get(el), TEXT_MAX);
				rc = import_put(
				    imp, ev->host, ev->user, c, &it, rc == 0);
			} else {
				acct_import_fail(
				    imp, c, "roster: storage failure");
			}
			roster_item_cleanup(&it);
			if (rc < 0)
				break;
			acct_import_take(imp, c);
			any = 1;
			continue;
		}
		if (!xml_node_is(c, NS_ROSTER, "query"))
			continue;
		for (el = xml_node_first_el(c); el && !imp->failed;
		     el = xml_node_next_el(el)) {
			if (!xml_node_is(el, NS_ROSTER, "item"))
				continue;
			why = import_jid(el, "jid", jid, sizeof(jid));
			if (why != NULL) {
				acct_import_fail(
				    imp, el, "roster item: %s", why);
				break;
			}
			st = xml_node_attr(el, "subscription");
			if (st != NULL && strcmp(st, "remove") == 0)
				continue;
			rc =
			    roster_item_get(ev->host->name, ev->user, jid, &it);
			if (rc < 0) {
				acct_import_fail(
				    imp, el, "roster: storage failure");
			} else if ((why = import_item(el, &it)) != NULL) {
				acct_import_fail(
				    imp, el, "roster item %s: %s", jid, why);
			} else {
				import_put(
				    imp, ev->host, ev->user, el, &it, rc == 0);
			}
			roster_item_cleanup(&it);
		}
		if (!imp->failed) {
			acct_import_take(imp, c);
			any = 1;
		}
	}
	if (imp->failed)
		return HOOK_HANDLED;
	/* a new version: clients holding an older roster fetch it again,
	 * and the account is one of the host's rosters (user/deleted) */
	if (any)
		ver_bump(ev->host->name, ev->user);
	return HOOK_CONTINUE;
}

static const struct cfg_directive roster_dirs[] = {
	{ .name = "max_items",
	    .type = CFG_INT,
	    .offset = offsetof(struct roster_cfg, max_items),
	    .def = "1000",
	    .min = 1,
	    .max = 100000,
	    .doc = "Most items one user's roster may hold." },
	{ .name = "max_pending",
	    .type = CFG_INT,
	    .offset = offsetof(struct roster_cfg, max_pending),
	    .def = "100",
	    .min = 1,
	    .max = 100000,
	    .doc = "Most subscription requests from people not in the roster "
		   "kept waiting for the user's answer; more are refused with "
		   "a resource-constraint presence error (they also count "
		   "toward max_items)." },
	{ .name = NULL },
};

static const struct cfg_section roster_section = {
	.name = "roster",
	.dirs = roster_dirs,
	.size = sizeof(struct roster_cfg),
	.doc = "Settings of the roster module.",
};

static const struct hook_reg roster_hooks[] = {
	{ "iq-get/bare/jabber:iq:roster:query", roster_get, 0 },
	{ "iq-set/bare/jabber:iq:roster:query", roster_set, 0 },
	{ "c2s/features/postauth", roster_features, 0 },
	{ "user/deleted", roster_user_deleted, 0 },
	{ "user/export", roster_export, 0 },
	{ "user/import", roster_import, 0 }, HOOK_REG_END
};

/* Presence, blocking and PEP ask for subscriptions on every stanza: the
 * roster is kept with the account's state (xmpp/acct_cache.h). */
static int
roster_init(struct host *h)
{
	UNUSED(h);
	acct_cache_part(STORE_MAP, ROSTER_STORE);
	return 0;
}

const struct module mod_roster = {
	.name = "roster",
	.spec = "RFC 6121 §2, XEP-0237",
	.doc = "Contact lists with groups, pushes and versioning.",
	.hooks = roster_hooks,
	.config = &roster_section,
	.init = roster_init,
};

/* src/mod/push.c: XEP-0357 Push Notifications (urn:xmpp:push:0). */
#include "mod/mod.h"

#define NS_PUSH "urn:xmpp:push:0"
#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_XDATA "jabber:x:data"
#define NS_OMEMO_LEGACY "eu.siacs.conversations.axolotl"
#define NS_OMEMO "urn:xmpp:omemo:2"
#define NS_JMI "urn:xmpp:jingle-message:0"
#define PUSH_STORE "push"
#define USER_BUCKETS 256
#define PENDING 512
#define PENDING_TTL 300 /* seconds an app server has to answer */

struct push_cfg {
	long long min_interval;
	long long max_registrations;
	int include_body;
};

/* When a registration last got a notification. */
struct push_rate {
	char *key;
	int64_t last;
};

/* An account that has messages waiting for it since it was last
 * connected: what the next notification summarises. */
struct push_user {
	char *bare;
	long count;
	struct rbuf *last; /* the stanza last counted: a message to several
			    * hibernating resources counts once */
	struct push_rate *rates;
	size_t nrates;
	struct push_user *next;
};

/* A publish sent, waiting for the app server's answer. */
struct push_pending {
	char *id;
	char *bare; /* the account it was sent for */
	char *key;  /* the registration */
	char *to;   /* the app server */
	int64_t sent;
};

/* One registration read from storage. */
struct push_reg {
	char *key;
	char *val;
	size_t len;
};

struct push_regs {
	struct push_reg *v;
	size_t n, cap;
};

extern const struct module mod_push;

static struct push_user *users[USER_BUCKETS];
static struct push_pending pending[PENDING];
static unsigned pending_next;

/* Per-session mark: a message to this (then hibernating) session was
 * counted; when it is live again the count starts over. */
static char push_counted;

static int
push_idx(void)
{
	static int idx = -1;

	if (idx < 0)
		idx = module_index("push");
	return idx;
}

static struct push_user **
push_user_slot(const char *bare)
{
	uint32_t h = hash_bytes(HASH_INIT, bare, strlen(bare));
	struct push_user **pp;

	for (pp = &users[h % USER_BUCKETS]; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->bare, bare) == 0)
			break;
	return pp;
}

static void
push_user_forget(const char *bare)
{
	struct push_user **pp = push_user_slot(bare), *u = *pp;
	size_t i;

	if (u == NULL)
		return;
	*pp = u->next;
	for (i = 0; i < u->nrates; i++)
		free(u->rates[i].key);
	free(u->rates);
	rbuf_unref(u->last);
	free(u->bare);
	free(u);
}

static struct push_rate *
push_rate_of(struct push_user *u, const char *key)
{
	size_t i;

	for (i = 0; i < u->nrates; i++)
		if (strcmp(u->rates[i].key, key) == 0)
			return &u->rates[i];
	u->rates = xrealloc(u->rates, (u->nrates + 1) * sizeof(*u->rates));
	u->rates[u->nrates].key = xstrdup(key);
	u->rates[u->nrates].last = 0;
	return &u->rates[u->nrates++];
}

static void
push_pending_clear(struct push_pending *p)
{
	free(p->id);
	free(p->bare);
	free(p->key);
	free(p->to);
	memset(p, 0, sizeof(*p));
}

/* "jid\nnode": stringprep forbids control characters in a JID, so the
 * first newline separates the two. */
static char *
push_key(const char *jid, const char *node)
{
	size_t a = strlen(jid), b = strlen(node);
	char *k = xmalloc(a + b + 2);

	memcpy(k, jid, a);
	k[a] = '\n';
	memcpy(k + a + 1, node, b + 1);
	return k;
}

static int
push_regs_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct push_regs *l = ud;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n].key = xstrdup(key);
	l->v[l->n].val = xstrndup(val, len);
	l->v[l->n].len = len;
	l->n++;
	return 0;
}

static void
push_regs_free(struct push_regs *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].val);
	}
	free(l->v);
}

/* ---- enable / disable ---- */

static int
push_own(const struct hook_ev *ev)
{
	return ev->session != NULL && ev->from->node != NULL &&
	       jid_bare_eq(ev->from, ev->to);
}

static enum hook_ret
push_enable(struct hook_ev *ev)
{
	const struct push_cfg *cfg = host_modcfg(ev->host, &mod_push);
	const char *ja = xml_node_attr(ev->payload, "jid");
	const char *node = xml_node_attr(ev->payload, "node");
	const char *host = ev->host->name, *user = ev->to->node;
	struct xml_node *en, *form;
	struct jid j;
	struct sbuf b;
	char *key, *old = NULL, since[24];
	size_t oldlen;
	long count = 0;
	int rc;

	if (!push_own(ev)) {
		stanza_reply_error(ev, "cancel", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	if (ja == NULL || jid_parse_str(&j, ja) != 0) {
		stanza_reply_error(ev, "modify", "bad-request",
		    "enable needs the push service's jid");
		return HOOK_HANDLED;
	}
	if (node == NULL || node[0] == '\0') {
		jid_cleanup(&j);
		stanza_reply_error(ev, "modify", "bad-request",
		    "enable needs the node the app server provisioned");
		return HOOK_HANDLED;
	}
	key = push_key(j.full, node);
	/* §5: enabling the same jid and node again replaces the options */
	rc = store_map_get(host, user, PUSH_STORE, key, &old, &oldlen);
	free(old);
	if (rc == 1 && (store_map_count(host, user, PUSH_STORE, &count) != 0 ||
			   count >= cfg->max_registrations)) {
		stanza_reply_error(ev, "wait", "resource-constraint",
		    "too many push registrations");
		goto out_free;
	}
	en = xml_node_new(NS_PUSH, "enable");
	xml_node_set_attr(en, "jid", j.full);
	xml_node_set_attr(en, "node", node);
	/* when it was last enabled: retention.push removes the stale */
	snprintf(since, sizeof(since), "%lld", (long long)now_unix());
	xml_node_set_attr(en, "registered", since);
	form = xml_node_find(ev->payload, NS_XDATA, "x");
	if (form)
		xml_node_copy_into(en, form);
	sbuf_init(&b);
	xml_serialize(en, XML_NS_CLIENT, &b);
	xml_node_free(en);
	if (rc >= 0) /* found (replaced) or not found (added) */
		rc = store_map_set(host, user, PUSH_STORE, key, b.data, b.len);
	if (rc != 0) {
		stanza_reply_store_error(ev, rc);
	} else {
		log_info(
		    "push enabled user=%s@%s service=%s", user, host, j.full);
		stanza_reply_result(ev);
	}
	sbuf_cleanup(&b);
out_free:
	free(key);
	jid_cleanup(&j);
	return HOOK_HANDLED;
}

struct push_disable_ctx {
	const char *jid;
	size_t jlen;
	struct push_regs hit;
};

static int
push_disable_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct push_disable_ctx *d = ud;

	if (strncmp(key, d->jid, d->jlen) == 0 && key[d->jlen] == '\n')
		return push_regs_cb(&d->hit, key, val, len);
	return 0;
}

static enum hook_ret
push_disable(struct hook_ev *ev)
{
	const char *ja = xml_node_attr(ev->payload, "jid");
	const char *node = xml_node_attr(ev->payload, "node");
	const char *host = ev->host->name, *user = ev->to->node;
	struct push_disable_ctx d = { 0 };
	struct jid j;
	size_t i;
	int rc = 0;

	if (!push_own(ev)) {
		stanza_reply_error(ev, "cancel", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	if (ja == NULL || jid_parse_str(&j, ja) != 0) {
		stanza_reply_error(ev, "modify", "bad-request",
		    "disable needs the push service's jid");
		return HOOK_HANDLED;
	}
	if (node) {
		char *key = push_key(j.full, node);

		rc = store_map_del(host, user, PUSH_STORE, key);
		free(key);
	} else {
		/* §6: without a node, every node of that service */
		d.jid = j.full;
		d.jlen = strlen(j.full);
		rc =
		    store_map_list(host, user, PUSH_STORE, push_disable_cb, &d);
		for (i = 0; rc == 0 && i < d.hit.n; i++)
			rc = store_map_del(
			    host, user, PUSH_STORE, d.hit.v[i].key);
		push_regs_free(&d.hit);
	}
	if (rc < 0) {
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
	} else {
		log_info(
		    "push disabled user=%s@%s service=%s", user, host, j.full);
		stanza_reply_result(ev);
	}
	jid_cleanup(&j);
	return HOOK_HANDLED;
}

/* ---- notifications ---- */

/* Would the user want to hear of st on a sleeping phone? */
static int
push_worthy(const struct xml_node *st)
{
	const char *type = xml_node_attr(st, "type");
	const struct xml_node *jmi;

	if (strcmp(st->name, "message") != 0)
		return 0;
	if (type &&
	    (strcmp(type, "error") == 0 || strcmp(type, "headline") == 0))
		return 0;
	if (xml_node_find(st, st->ns, "body") ||
	    xml_node_find(st, NS_OMEMO_LEGACY, "encrypted") ||
	    xml_node_find(st, NS_OMEMO, "encrypted"))
		return 1;
	/* XEP-0353: a call rings */
	jmi = xml_node_find(st, NS_JMI, "propose");
	return jmi != NULL;
}

static void
push_field(struct xml_node *x, const char *var, const char *value)
{
	struct xml_node *f = xml_node_child(x, NULL, "field");

	xml_node_set_attr(f, "var", var);
	xml_node_text(xml_node_child(f, NULL, "value"), value, strlen(value));
}

static void
push_track(const char *id, const char *bare, const char *key, const char *to)
{
	struct push_pending *p = &pending[pending_next++ % PENDING];

	/* the oldest answer we wait for is given up when the ring is full */
	push_pending_clear(p);
	p->id = xstrdup(id);
	p->bare = xstrdup(bare);
	p->key = xstrdup(key);
	p->to = xstrdup(to);
	p->sent = now_unix();
}

static void
push_publish(const struct push_reg *reg, const char *bare, long count,
    const struct xml_node *msg, int include_body)
{
	struct xml_node *en = xml_parse_element(reg->val, reg->len);
	struct xml_node *iq, *ps, *pub, *x, *form, *body;
	const char *to, *node, *sender = xml_node_attr(msg, "from");
	char id[24], num[24];

	if (en == NULL) {
		log_warn("push unreadable registration for %s", bare);
		return;
	}
	to = xml_node_attr(en, "jid");
	node = xml_node_attr(en, "node");
	if (to == NULL || node == NULL)
		goto out_free;
	memcpy(id, "push-", 5);
	rand_id(id + 5, sizeof(id) - 5);
	iq = xml_node_new(XML_NS_CLIENT, "iq");
	xml_node_set_attr(iq, "type", "set");
	xml_node_set_attr(iq, "id", id);
	xml_node_set_attr(iq, "to", to);
	xml_node_set_attr(iq, "from", bare);
	ps = xml_node_child(iq, NS_PUBSUB, "pubsub");
	pub = xml_node_child(ps, NULL, "publish");
	xml_node_set_attr(pub, "node", node);
	x = xml_node_child(xml_node_child(xml_node_child(pub, NULL, "item"),
			       NS_PUSH, "notification"),
	    NS_XDATA, "x");
	xml_node_set_attr(x, "type", "form");
	push_field(x, "FORM_TYPE", "urn:xmpp:push:summary");
	snprintf(num, sizeof(num), "%ld", count);
	push_field(x, "message-count", num);
	if (sender)
		push_field(x, "last-message-sender", sender);
	body = xml_node_find(msg, msg->ns, "body");
	/* the app server and the phone vendor's push service read this:
	 * only when the operator says so */
	if (include_body && body)
		push_field(x, "last-message-body", xml_node_text_get(body));
	form = xml_node_find(en, NS_XDATA, "x");
	if (form)
		xml_node_copy_into(
		    xml_node_child(ps, NULL, "publish-options"), form);
	push_track(id, bare, reg->key, to);
	log_debug("push notify user=%s service=%s count=%ld", bare, to, count);
	stanza_send(iq);
out_free:
	xml_node_free(en);
}

/* A message the account should hear of arrived while it has no live
 * connection. r: the serialised stanza when it was queued to a
 * hibernating session (counted once however many resources get it). */
static void
push_notify(struct host *h, const char *user, const char *bare,
    const struct xml_node *msg, struct rbuf *r)
{
	const struct push_cfg *cfg = host_modcfg(h, &mod_push);
	struct push_regs regs = { 0 };
	struct push_user **pp, *u;
	int64_t now = now_unix();
	size_t i;

	if (store_map_list(h->name, user, PUSH_STORE, push_regs_cb, &regs) !=
		0 ||
	    regs.n == 0)
		goto out_free;
	pp = push_user_slot(bare);
	u = *pp;
	if (u == NULL) {
		u = xcalloc(1, sizeof(*u));
		u->bare = xstrdup(bare);
		*pp = u;
	}
	if (r && u->last == r)
		goto out_free;
	rbuf_unref(u->last);
	u->last = r ? rbuf_ref(r) : NULL;
	u->count++;
	for (i = 0; i < regs.n; i++) {
		struct push_rate *rate = push_rate_of(u, regs.v[i].key);

		/* one notification per burst: the rest only count */
		if (rate->last && now - rate->last < cfg->min_interval)
			continue;
		rate->last = now;
		push_publish(
		    &regs.v[i], bare, u->count, msg, cfg->include_body);
	}
out_free:
	push_regs_free(&regs);
}

/* Does the account have a session with a live connection? */
static int
push_live(const char *bare)
{
	struct session *s;

	for (s = session_find_bare(bare); s; s = s->next_res)
		if (!s->detached && !s->closing)
			return 1;
	return 0;
}

/* Before stream management, which keeps what goes to a hibernating
 * session (and stops the chain). */
static enum hook_ret
push_out(struct hook_ev *ev)
{
	struct session *s = ev->session;

	if (!s->detached) {
		if (session_mod_get(s, push_idx())) {
			/* the client is back: a new count starts */
			session_mod_set(s, push_idx(), NULL);
			push_user_forget(s->jid.bare);
		}
		return HOOK_CONTINUE;
	}
	if (ev->stanza == NULL || s->jid.node == NULL ||
	    !push_worthy(ev->stanza) || push_live(s->jid.bare))
		return HOOK_CONTINUE;
	session_mod_set(s, push_idx(), &push_counted);
	push_notify(ev->host, s->jid.node, s->jid.bare, ev->stanza, ev->data);
	return HOOK_CONTINUE;
}

/* Before offline storage (priority 0), which ends the chain. */
static enum hook_ret
push_offline(struct hook_ev *ev)
{
	if (ev->to->node == NULL || !push_worthy(ev->stanza) ||
	    push_live(ev->to->bare))
		return HOOK_CONTINUE;
	push_notify(ev->host, ev->to->node, ev->to->bare, ev->stanza, NULL);
	return HOOK_CONTINUE;
}

static enum hook_ret
push_bound(struct hook_ev *ev)
{
	push_user_forget(ev->session->jid.bare);
	return HOOK_CONTINUE;
}

/* The app server's answer to a publish, addressed to the account. */
static enum hook_ret
push_answer(struct hook_ev *ev)
{
	const char *id = xml_node_attr(ev->stanza, "id");
	int64_t now = now_unix();
	struct push_pending *p = NULL;
	size_t i;

	if (id == NULL || strncmp(id, "push-", 5) != 0)
		return HOOK_CONTINUE;
	for (i = 0; i < PENDING; i++) {
		struct push_pending *x = &pending[i];

		if (x->id == NULL)
			continue;
		if (now - x->sent > PENDING_TTL) {
			push_pending_clear(x);
			continue;
		}
		if (strcmp(x->id, id) == 0 &&
		    strcmp(x->bare, ev->to->bare) == 0 &&
		    strcmp(x->to, ev->from->full) == 0) {
			p = x;
			break;
		}
	}
	if (p == NULL)
		return HOOK_CONTINUE;
	if (ev->stype == STANZA_TYPE_ERROR) {
		/* §7.1: a failed publish disables that jid and node */
		log_info("push service refused user=%s service=%s: disabled",
		    p->bare, p->to);
		store_map_del(ev->host->name, ev->to->node, PUSH_STORE, p->key);
	}
	push_pending_clear(p);
	return HOOK_HANDLED;
}

static enum hook_ret
push_user_deleted(struct hook_ev *ev)
{
	char bare[2 * JID_PART_MAX + 2];
	size_t i;

	snprintf(bare, sizeof(bare), "%s@%s", ev->user, ev->host->name);
	push_user_forget(bare);
	for (i = 0; i < PENDING; i++)
		if (pending[i].bare && strcmp(pending[i].bare, bare) == 0)
			push_pending_clear(&pending[i]);
	return HOOK_CONTINUE;
}

static void
push_cleanup(struct host *h)
{
	size_t i;
	char suffix[JID_PART_MAX + 2];

	/* state of this host's accounts only: other hosts keep theirs */
	snprintf(suffix, sizeof(suffix), "@%s", h->name);
	for (i = 0; i < USER_BUCKETS; i++) {
		struct push_user *u = users[i], *next;

		for (; u; u = next) {
			size_t bl = strlen(u->bare), sl = strlen(suffix);

			next = u->next;
			if (bl > sl && strcmp(u->bare + bl - sl, suffix) == 0)
				push_user_forget(u->bare);
		}
	}
	for (i = 0; i < PENDING; i++) {
		const char *b = pending[i].bare;

		if (b && strlen(b) > strlen(suffix) &&
		    strcmp(b + strlen(b) - strlen(suffix), suffix) == 0)
			push_pending_clear(&pending[i]);
	}
}

static const struct cfg_directive push_dirs[] = {
	{ .name = "min_interval",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct push_cfg, min_interval),
	    .def = "10s",
	    .min = 0,
	    .max = 3600,
	    .doc =
		"At most one notification per registration within this "
		"time; messages meanwhile only raise the count of the next." },
	{ .name = "include_body",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct push_cfg, include_body),
	    .def = "false",
	    .doc = "Put the last message's body into notifications (the app "
		   "server and the phone's push service then read it)." },
	{ .name = "max_registrations",
	    .type = CFG_INT,
	    .offset = offsetof(struct push_cfg, max_registrations),
	    .def = "10",
	    .min = 1,
	    .max = 1000,
	    .doc = "Push services (jid and node) one account may enable." },
	{ .name = NULL },
};

static const struct cfg_section push_section = {
	.name = "push",
	.dirs = push_dirs,
	.size = sizeof(struct push_cfg),
	.doc = "Settings of push notifications.",
};

static const struct hook_reg push_hooks[] = {
	{ "iq-set/bare/" NS_PUSH ":enable", push_enable, 0 },
	{ "iq-set/bare/" NS_PUSH ":disable", push_disable, 0 },
	/* before client state indication (150) and stream management */
	{ "session/out", push_out, 200 },
	{ "message/offline", push_offline, 10 },
	{ "session/bound", push_bound, 0 },
	/* answers to our publishes: the event is named by the first child,
	 * which is nothing, the pubsub echo or the error */
	{ "iq-result/bare", push_answer, 0 },
	{ "iq-result/bare/" NS_PUBSUB ":pubsub", push_answer, 0 },
	{ "iq-error/bare", push_answer, 0 },
	{ "iq-error/bare/" NS_PUBSUB ":pubsub", push_answer, 0 },
	{ "iq-error/bare/jabber:client:error", push_answer, 0 },
	{ "iq-error/bare/jabber:server:error", push_answer, 0 },
	{ "iq-error/bare/jabber:component:accept:error", push_answer, 0 },
	{ "user/deleted", push_user_deleted, 0 }, HOOK_REG_END
};

const struct module mod_push = {
	.name = "push",
	.spec = "XEP-0357",
	.doc = "Push notifications: an app server hears of messages for "
	       "accounts whose phones are asleep or offline.",
	.account_features = (const char *const[]){ NS_PUSH, NULL },
	.hooks = push_hooks,
	.config = &push_section,
	.cleanup = push_cleanup,
};

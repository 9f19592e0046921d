/* src/mod/csi.c: XEP-0352 Client State Indication (urn:xmpp:csi:0). */
#include "mod/mod.h"

#define NS_CSI "urn:xmpp:csi:0"
#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"

struct csi_cfg {
	long long max_held;
};

/* What an inactive client may wait for. */
enum csi_kind {
	CSI_URGENT,    /* goes out now, after everything held */
	CSI_PRESENCE,  /* held; a newer one from the same sender replaces it */
	CSI_EPHEMERAL, /* held; worthless once the session is gone */
	CSI_QUIET,     /* held; routed elsewhere if the session ends */
};

struct csi_item {
	struct rbuf *r;
	char *from; /* CSI_PRESENCE: the sender, else NULL */
	enum csi_kind kind;
};

struct csi {
	unsigned inactive : 1;
	unsigned flushing : 1;
	unsigned gone : 1; /* the session ended during a flush */
	struct csi_item *v;
	size_t n, cap;
	size_t next; /* while flushing: the first item not yet sent */
};

extern const struct module mod_csi;

static int
csi_idx(void)
{
	static int idx = -1;

	if (idx < 0)
		idx = module_index("csi");
	return idx;
}

static struct csi *
csi_of(struct session *s)
{
	return session_mod_get(s, csi_idx());
}

static void
csi_clear(struct csi *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		rbuf_unref(c->v[i].r);
		free(c->v[i].from);
	}
	free(c->v);
	c->v = NULL;
	c->n = c->cap = 0;
}

static void
csi_free(struct csi *c)
{
	csi_clear(c);
	free(c);
}

/* A message that only says something about the conversation (chat
 * states, markers, receipts, PEP events) can wait; one with a body, a
 * subject, an encrypted payload (OMEMO: eu.siacs.conversations.axolotl,
 * urn:xmpp:omemo:2), a call invitation (urn:xmpp:jingle-message:0), an
 * archive result the client asked for, or anything we do not know goes
 * out at once. */
static enum csi_kind
csi_classify_message(const struct xml_node *m, int depth)
{
	static const char *const neutral[] = { "urn:xmpp:hints",
		"urn:xmpp:sid:0", "urn:xmpp:delay", NULL };
	static const char *const quiet[] = { "urn:xmpp:chat-markers:0",
		"urn:xmpp:receipts", NS_PUBSUB_EVENT, NULL };
	const char *type = xml_node_attr(m, "type");
	const struct xml_node *c;
	enum csi_kind k = CSI_EPHEMERAL;
	size_t i;

	if (type && strcmp(type, "error") == 0)
		return CSI_URGENT;
	for (c = xml_node_first_el(m); c; c = xml_node_next_el(c)) {
		if (strcmp(c->ns, m->ns) == 0) {
			if (strcmp(c->name, "thread") == 0)
				continue;
			return CSI_URGENT; /* body, subject */
		}
		if (strcmp(c->ns, NS_CHATSTATES) == 0)
			continue;
		if (strcmp(c->ns, NS_CARBONS) == 0 && depth == 0 &&
		    (strcmp(c->name, "received") == 0 ||
			strcmp(c->name, "sent") == 0)) {
			/* a carbon copy waits as long as what it copies */
			const struct xml_node *f, *inner;

			f = xml_node_find(c, NS_FORWARD, "forwarded");
			inner = f ? xml_node_find(f, XML_NS_CLIENT, "message")
				  : NULL;
			if (inner == NULL)
				return CSI_URGENT;
			if (csi_classify_message(inner, 1) == CSI_URGENT)
				return CSI_URGENT;
			k = CSI_QUIET;
			continue;
		}
		for (i = 0; neutral[i]; i++)
			if (strcmp(c->ns, neutral[i]) == 0)
				break;
		if (neutral[i])
			continue;
		for (i = 0; quiet[i]; i++)
			if (strcmp(c->ns, quiet[i]) == 0)
				break;
		if (quiet[i] == NULL)
			return CSI_URGENT;
		k = CSI_QUIET;
	}
	return k;
}

static enum csi_kind
csi_classify(const struct xml_node *st)
{
	const char *type = xml_node_attr(st, "type");
	const struct xml_node *x, *c;

	if (strcmp(st->name, "message") == 0)
		return csi_classify_message(st, 0);
	if (strcmp(st->name, "presence") != 0)
		return CSI_URGENT; /* iqs: answers the client waits for */
	/* subscription requests and errors need the user */
	if (type && strcmp(type, "unavailable") != 0)
		return CSI_URGENT;
	/* a room's presence about ourselves: the join the client asked
	 * for (XEP-0045 status 110) */
	x = xml_node_find(st, NS_MUC_USER, "x");
	for (c = x ? xml_node_first_el(x) : NULL; c; c = xml_node_next_el(c))
		if (strcmp(c->name, "status") == 0 &&
		    xml_node_attr(c, "code") &&
		    strcmp(xml_node_attr(c, "code"), "110") == 0)
			return CSI_URGENT;
	return CSI_PRESENCE;
}

/* Send everything held, in order, through the session/out chain (so
 * stream management counts and queues what the client really gets).
 * Returns -1 when the session ended meanwhile: then c is gone with it
 * and the caller must not touch the session. */
static int
csi_flush(struct session *s, struct csi *c)
{
	size_t i;

	if (c->n == 0)
		return 0;
	log_debug("csi flush jid=%s held=%zu", s->jid.full, c->n);
	c->flushing = 1;
	for (i = 0; i < c->n && !c->gone; i++) {
		struct rbuf *r = c->v[i].r;
		struct xml_node *st = xml_parse_element(r->data, r->len);

		c->next = i + 1;
		if (st == NULL) {
			/* our own serialisation: cannot happen */
			log_warn(
			    "csi unparsable held stanza jid=%s", s->jid.full);
			continue;
		}
		/* r is already serialised: session_send uses it as is */
		session_send(s, st, &r);
		xml_node_free(st);
	}
	c->flushing = 0;
	c->next = 0;
	csi_clear(c);
	if (c->gone) {
		free(c);
		return -1;
	}
	return 0;
}

static void
csi_hold(struct csi *c, struct rbuf *r, const struct xml_node *st,
    enum csi_kind kind)
{
	const char *from = xml_node_attr(st, "from");
	size_t i;

	if (from == NULL)
		from = "";
	if (kind == CSI_PRESENCE) {
		for (i = 0; i < c->n; i++) {
			if (c->v[i].kind != CSI_PRESENCE ||
			    strcmp(c->v[i].from, from) != 0)
				continue;
			/* only the latest presence of a contact matters */
			rbuf_unref(c->v[i].r);
			free(c->v[i].from);
			memmove(&c->v[i], &c->v[i + 1],
			    (c->n - i - 1) * sizeof(c->v[0]));
			c->n--;
			break;
		}
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->v = xrealloc(c->v, c->cap * sizeof(c->v[0]));
	}
	c->v[c->n].r = rbuf_ref(r);
	c->v[c->n].from = kind == CSI_PRESENCE ? xstrdup(from) : NULL;
	c->v[c->n].kind = kind;
	c->n++;
}

/* Before stream management (priority 100): what is held here has not
 * reached the client, so it must not be counted as sent yet. */
static enum hook_ret
csi_out(struct hook_ev *ev)
{
	const struct csi_cfg *cfg;
	struct csi *c = csi_of(ev->session);
	enum csi_kind kind;

	if (c == NULL || c->flushing || ev->stanza == NULL)
		return HOOK_CONTINUE;
	kind = csi_classify(ev->stanza);
	if (!c->inactive || kind == CSI_URGENT) {
		/* what was held goes first, so nothing is reordered */
		if (csi_flush(ev->session, c) != 0)
			return HOOK_HANDLED; /* the session is gone */
		return HOOK_CONTINUE;
	}
	csi_hold(c, ev->data, ev->stanza, kind);
	cfg = host_modcfg(ev->host, &mod_csi);
	if (c->n > (size_t)cfg->max_held)
		csi_flush(ev->session, c);
	return HOOK_HANDLED;
}

static enum hook_ret
csi_element(struct hook_ev *ev)
{
	struct session *s = ev->session;
	struct csi *c;

	if (s == NULL)
		return HOOK_HANDLED; /* before bind there is nothing to hold */
	c = csi_of(s);
	if (strcmp(ev->stanza->name, "inactive") == 0) {
		if (c == NULL) {
			c = xcalloc(1, sizeof(*c));
			session_mod_set(s, csi_idx(), c);
		}
		c->inactive = 1;
		log_debug("csi inactive jid=%s", s->jid.full);
	} else if (strcmp(ev->stanza->name, "active") == 0) {
		if (c == NULL)
			return HOOK_HANDLED;
		c->inactive = 0;
		log_debug("csi active jid=%s", s->jid.full);
		csi_flush(s, c);
	}
	return HOOK_HANDLED;
}

/* The session ends for good: held messages that matter (markers,
 * receipts) go where the account's other messages go, like stream
 * management's unacknowledged ones; presence and chat states are stale
 * by now. Carbon copies and headlines (notifications) were this
 * session's own copies: the other resources have theirs (XEP-0280 §6);
 * stanza_for_account tells them apart. */
static enum hook_ret
csi_closed(struct hook_ev *ev)
{
	struct session *s = ev->session;
	struct csi *c = csi_of(s);
	struct jid bare;
	size_t i;

	if (c == NULL)
		return HOOK_CONTINUE;
	session_mod_set(s, csi_idx(), NULL);
	if (jid_parse_str(&bare, s->jid.bare) == 0) {
		for (i = c->flushing ? c->next : 0; i < c->n; i++) {
			struct rbuf *r = c->v[i].r;
			struct xml_node *st;

			if (c->v[i].kind != CSI_QUIET)
				continue;
			st = xml_parse_element(r->data, r->len);
			if (st == NULL)
				continue;
			if (stanza_for_account(st, s->jid.bare))
				router_deliver_bare(s->host, st, &bare);
			xml_node_free(st);
		}
		jid_cleanup(&bare);
	}
	if (c->flushing) {
		/* csi_flush is on the stack: it frees c */
		c->gone = 1;
		return HOOK_CONTINUE;
	}
	csi_free(c);
	return HOOK_CONTINUE;
}

static enum hook_ret
csi_features(struct hook_ev *ev)
{
	xml_node_child(ev->data, NS_CSI, "csi");
	return HOOK_CONTINUE;
}

static const struct cfg_directive csi_dirs[] = {
	{ .name = "max_held",
	    .type = CFG_INT,
	    .offset = offsetof(struct csi_cfg, max_held),
	    .def = "100",
	    .min = 1,
	    .max = 10000,
	    .doc = "Stanzas held for an inactive client; one more sends them "
		   "all." },
	{ .name = NULL },
};

static const struct cfg_section csi_section = {
	.name = "csi",
	.dirs = csi_dirs,
	.size = sizeof(struct csi_cfg),
	.doc = "Settings of client state indication.",
};

static const struct hook_reg csi_hooks[] = { { "c2s/features/postauth",
						 csi_features, 0 },
	/* XEP-0386: <active/> or <inactive/> inside <bind/> */
	{ "c2s/bind2/" NS_CSI, csi_element, 0 },
	{ "c2s/element/" NS_CSI, csi_element, 0 },
	/* before stream management's counting (100) */
	{ "session/out", csi_out, 150 },
	/* after stream management rerouted what it held (-100): older */
	{ "session/closed", csi_closed, -110 }, HOOK_REG_END };

static void
csi_session_free(void *data)
{
	struct csi *c = data;

	if (c->flushing)
		c->gone = 1; /* csi_flush is on the stack: it frees c */
	else
		csi_free(c);
}

const struct module mod_csi = {
	.name = "csi",
	.spec = "XEP-0352",
	.doc = "Client state indication: while a client says it is "
	       "inactive, presence updates and chat states wait until "
	       "something important arrives.",
	.hooks = csi_hooks,
	.config = &csi_section,
	.session_free = csi_session_free,
};

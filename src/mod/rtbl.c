/* src/mod/rtbl.c: a real-time block list — the host subscribes to a
 * pubsub node (as xmppbl.org publishes: item ids are the SHA-256 hex of
 * a bare JID or a domain), fetches its items at start and every
 * refresh, and follows its pushes. Inbound messages from a listed JID
 * or domain to accounts are dropped; subscription requests and directed
 * presence are refused with <forbidden/>, and so are joins of and
 * messages to the host's services (group chat rooms). */
#include <openssl/evp.h>

#include "mod/mod.h"

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_EVENT "http://jabber.org/protocol/pubsub#event"
#define HASH_HEX 64
/* Listed entries kept per host; past it, more are ignored (logged). */
#define RTBL_MAX 100000

struct rtbl_cfg {
	char *service;
	char *node;
	long long refresh;
};

struct rtbl_state {
	struct host *h;
	ev_timer timer;
	int subscribed;
	struct strset ids; /* item ids */
	struct rtbl_state *next;
};

extern const struct module mod_rtbl;

static struct rtbl_state *states;

static struct rtbl_state *
rtbl_of(const struct host *h)
{
	struct rtbl_state *s;

	for (s = states; s; s = s->next)
		if (s->h == h)
			return s;
	return NULL;
}

static void
rtbl_add(struct rtbl_state *s, const char *id)
{
	if (s->ids.n == RTBL_MAX && !strset_has(&s->ids, id)) {
		log_warn("rtbl %s: list full (%d), %s ignored", s->h->name,
		    RTBL_MAX, id);
		return;
	}
	strset_add(&s->ids, id);
}

/* An item id as we keep it: 64 hex digits, lowercase; else NULL. */
static const char *
item_id(const struct xml_node *it, char out[HASH_HEX + 1])
{
	const char *id = xml_node_attr(it, "id");
	size_t i;

	if (id == NULL || strlen(id) != HASH_HEX)
		return NULL;
	for (i = 0; i < HASH_HEX; i++) {
		char c = id[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return NULL;
		out[i] = c;
	}
	out[HASH_HEX] = '\0';
	return out;
}

static void
sha256_hex(const char *s, char out[HASH_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
	for (i = 0; i < len && i * 2 < HASH_HEX; i++)
		snprintf(out + i * 2, 3, "%02x", md[i]);
	out[HASH_HEX] = '\0';
}

static void
rtbl_request(struct host *h, const char *what)
{
	const struct rtbl_cfg *cfg = host_modcfg(h, &mod_rtbl);
	struct xml_node *iq = xml_node_new(XML_NS_CLIENT, "iq"), *ps, *op;
	char id[24];

	snprintf(id, sizeof(id), "rtbl-");
	rand_id(id + 5, sizeof(id) - 5);
	xml_node_set_attr(iq, "type", strcmp(what, "items") ? "set" : "get");
	xml_node_set_attr(iq, "id", id);
	xml_node_set_attr(iq, "from", h->name);
	xml_node_set_attr(iq, "to", cfg->service);
	ps = xml_node_child(iq, NS_PUBSUB, "pubsub");
	op = xml_node_child(ps, NULL, what);
	xml_node_set_attr(op, "node", cfg->node);
	if (strcmp(what, "subscribe") == 0)
		xml_node_set_attr(op, "jid", h->name);
	stanza_send(iq);
}

static void
rtbl_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct rtbl_state *s = t->data;

	UNUSED(loop);
	UNUSED(revents);
	if (!s->subscribed)
		rtbl_request(s->h, "subscribe");
	rtbl_request(s->h, "items");
}

static int
from_service(const struct hook_ev *ev, const struct rtbl_cfg *cfg)
{
	return cfg->service[0] && ev->from->node == NULL &&
	       ev->from->resource == NULL &&
	       strcmp(ev->from->domain, cfg->service) == 0;
}

/* iq-result from the service: the items (they replace the list) or the
 * subscription. */
static enum hook_ret
rtbl_result(struct hook_ev *ev)
{
	const struct rtbl_cfg *cfg = host_modcfg(ev->host, &mod_rtbl);
	struct rtbl_state *s = rtbl_of(ev->host);
	struct xml_node *items, *it;
	char id[HASH_HEX + 1];

	if (s == NULL || !from_service(ev, cfg) || ev->to->node != NULL)
		return HOOK_CONTINUE;
	if (xml_node_find(ev->payload, NULL, "subscription")) {
		s->subscribed = 1;
		log_info("rtbl %s: subscribed to %s node %s", ev->host->name,
		    cfg->service, cfg->node);
		return HOOK_HANDLED;
	}
	items = xml_node_find(ev->payload, NS_PUBSUB, "items");
	if (items == NULL || xml_node_attr(items, "node") == NULL ||
	    strcmp(xml_node_attr(items, "node"), cfg->node) != 0)
		return HOOK_HANDLED;
	strset_clear(&s->ids);
	for (it = xml_node_first_el(items); it; it = xml_node_next_el(it))
		if (xml_node_is(it, NS_PUBSUB, "item") && item_id(it, id))
			rtbl_add(s, id);
	log_info("rtbl %s: %zu entries from %s", ev->host->name, s->ids.n,
	    cfg->service);
	return HOOK_HANDLED;
}

/* message/host: a push of the node (new items, retractions). */
static enum hook_ret
rtbl_event(struct hook_ev *ev)
{
	const struct rtbl_cfg *cfg = host_modcfg(ev->host, &mod_rtbl);
	struct rtbl_state *s = rtbl_of(ev->host);
	struct xml_node *evn, *items, *it;
	const char *node;
	char id[HASH_HEX + 1];

	if (s == NULL || !from_service(ev, cfg))
		return HOOK_CONTINUE;
	evn = xml_node_find(ev->stanza, NS_EVENT, "event");
	items = evn ? xml_node_find(evn, NS_EVENT, "items") : NULL;
	node = items ? xml_node_attr(items, "node") : NULL;
	if (node == NULL || strcmp(node, cfg->node) != 0)
		return HOOK_CONTINUE;
	for (it = xml_node_first_el(items); it; it = xml_node_next_el(it)) {
		if (item_id(it, id) == NULL)
			continue;
		if (xml_node_is(it, NS_EVENT, "item"))
			rtbl_add(s, id);
		else if (xml_node_is(it, NS_EVENT, "retract"))
			strset_del(&s->ids, id);
	}
	return HOOK_HANDLED;
}

/* route/filter on the recipient's host: listed senders are kept out of
 * its accounts and of its services (group chat rooms: joins, messages,
 * private messages to occupants); leaving a room still works. */
static enum hook_ret
rtbl_filter(struct hook_ev *ev)
{
	struct rtbl_state *s = rtbl_of(ev->host);
	char h1[HASH_HEX + 1], h2[HASH_HEX + 1];
	int msg = ev->kind == STANZA_MESSAGE;
	int pres = ev->kind == STANZA_PRESENCE &&
		   (ev->stype == STANZA_TYPE_SUBSCRIBE ||
		       ev->stype == STANZA_TYPE_NONE);

	if (s == NULL || s->ids.n == 0 || ev->to == NULL || (!msg && !pres) ||
	    strcmp(ev->from->domain, ev->host->name) == 0 ||
	    from_service(ev, host_modcfg(ev->host, &mod_rtbl)))
		return HOOK_CONTINUE;
	sha256_hex(ev->from->domain, h1);
	if (ev->from->node)
		sha256_hex(ev->from->bare, h2);
	if (!strset_has(&s->ids, h1) &&
	    (ev->from->node == NULL || !strset_has(&s->ids, h2)))
		return HOOK_CONTINUE;
	log_info("rtbl %s: refused %s from %s to %s", ev->host->name,
	    ev->stanza->name, ev->from->full, ev->to->full);
	if (strcmp(ev->to->domain, ev->host->name) != 0)
		/* a service of the host (a room): joins and messages are
		 * refused as XEP-0045 refuses a banned user (§7.2.7) */
		stanza_bounce(ev->stanza, "auth", "forbidden",
		    "You are on a block list this service follows");
	else if (pres)
		/* an account: messages vanish, requests learn why */
		stanza_bounce(ev->stanza, "cancel", "forbidden",
		    "The sender is on a block list");
	return HOOK_HANDLED;
}

static int
rtbl_init(struct host *h)
{
	const struct rtbl_cfg *cfg = host_modcfg(h, &mod_rtbl);
	struct rtbl_state *s;

	if (cfg->service == NULL || cfg->service[0] == '\0')
		return 0;
	s = xcalloc(1, sizeof(*s));
	s->h = h;
	ev_timer_init(&s->timer, rtbl_timer, 0.05, (double)cfg->refresh);
	s->timer.data = s;
	ev_timer_start(loop_ev, &s->timer);
	s->next = states;
	states = s;
	return 0;
}

static void
rtbl_cleanup(struct host *h)
{
	struct rtbl_state **pp, *s;

	for (pp = &states; (s = *pp) != NULL; pp = &s->next) {
		if (s->h != h)
			continue;
		*pp = s->next;
		ev_timer_stop(loop_ev, &s->timer);
		strset_free(&s->ids);
		free(s);
		return;
	}
}

static const struct cfg_directive rtbl_dirs[] = {
	{ .name = "service",
	    .type = CFG_STRING,
	    .offset = offsetof(struct rtbl_cfg, service),
	    .def = "",
	    .doc = "The pubsub service of the block list (e.g. xmppbl.org), "
		   "reached over federation. Empty: no block list." },
	{ .name = "node",
	    .type = CFG_STRING,
	    .offset = offsetof(struct rtbl_cfg, node),
	    .def = "muc_bans_sha256",
	    .doc = "The node whose item ids are the SHA-256 (hex) of listed "
		   "bare JIDs and domains." },
	{ .name = "refresh",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct rtbl_cfg, refresh),
	    .def = "1h",
	    .min = 1,
	    .max = 86400 * 7,
	    .doc = "How often the node's items are fetched again (besides "
		   "the pushes of the subscription)." },
	{ .name = NULL },
};

static const struct cfg_section rtbl_section = {
	.name = "rtbl",
	.dirs = rtbl_dirs,
	.size = sizeof(struct rtbl_cfg),
	.doc = "Settings of the rtbl module (real-time block list).",
};

static const struct hook_reg rtbl_hooks[] = {
	{ "iq-result/host/" NS_PUBSUB ":pubsub", rtbl_result, 0 },
	{ "message/host", rtbl_event, 10 },
	{ "route/filter", rtbl_filter, 5 },
	HOOK_REG_END,
};

const struct module mod_rtbl = {
	.name = "rtbl",
	.doc = "A real-time block list followed over pubsub: listed JIDs and "
	       "domains cannot message, subscribe or join rooms.",
	.hooks = rtbl_hooks,
	.config = &rtbl_section,
	.init = rtbl_init,
	.cleanup = rtbl_cleanup,
};

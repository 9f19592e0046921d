/* src/mod/carbons.c: XEP-0280 Message Carbons (urn:xmpp:carbons:2), copies
 * wrapped per XEP-0297, XEP-0334 no-copy respected. */
#include "mod/mod.h"

#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_HINTS "urn:xmpp:hints"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"

/* Carbons enabled: the session's copies bit, which stream management
 * also reads (a resource with copies already had a chat message). */
static int
carbons_enabled(const struct session *s)
{
	return s->copies;
}

/* Does st carry one of the IM payloads of XEP-0280 §6.1 (receipts, chat
 * states, markers) or a direct invitation (XEP-0249)? */
static int
carbons_im_payload(const struct xml_node *st)
{
	static const char *const ns[] = { "urn:xmpp:receipts",
		"http://jabber.org/protocol/chatstates",
		"urn:xmpp:chat-markers:0", "jabber:x:conference", NULL };
	const struct xml_node *c;
	size_t i;

	for (c = xml_node_first_el(st); c; c = xml_node_next_el(c))
		for (i = 0; ns[i]; i++)
			if (strcmp(c->ns, ns[i]) == 0)
				return 1;
	return 0;
}

/* XEP-0280 §6.1. inbound: the message arrives for the account (received
 * copies) rather than leaves it (sent copies). */
static int
carbons_eligible(const struct xml_node *st, int inbound)
{
	const char *type = xml_node_attr(st, "type");
	const struct xml_node *muc;

	if (type == NULL || type[0] == '\0')
		type = "normal";
	if (xml_node_find(st, NS_CARBONS, "private") ||
	    xml_node_find(st, NS_HINTS, "no-copy"))
		return 0;
	/* a copy is never copied again; a client cannot forge one */
	if (xml_node_find(st, NS_CARBONS, "sent") ||
	    xml_node_find(st, NS_CARBONS, "received"))
		return 0;
	if (strcmp(type, "groupchat") == 0 || strcmp(type, "headline") == 0)
		return 0;
	muc = xml_node_find(st, NS_MUC_USER, "x");
	if (muc && xml_node_find(muc, NS_MUC_USER, "invite"))
		return 1; /* mediated invitation */
	/* a private message from a MUC occupant: the room already sends
	 * it to every joined client */
	if (inbound && muc)
		return 0;
	if (strcmp(type, "chat") == 0 || strcmp(type, "error") == 0)
		return 1;
	if (strcmp(type, "normal") == 0 &&
	    xml_node_find(st, XML_NS_CLIENT, "body"))
		return 1;
	return carbons_im_payload(st);
}

/* Wrap a copy of st in <message><dir><forwarded/></dir></message> from the
 * account's bare JID and send it to s. */
static void
carbons_send_copy(struct session *s, const struct xml_node *st, const char *dir)
{
	const char *type = xml_node_attr(st, "type");
	struct xml_node *m, *d, *f;

	m = xml_node_new(XML_NS_CLIENT, "message");
	xml_node_set_attr(m, "from", s->jid.bare);
	xml_node_set_attr(m, "to", s->jid.full);
	if (type)
		xml_node_set_attr(m, "type", type);
	d = xml_node_child(m, NS_CARBONS, dir);
	f = xml_node_child(d, NS_FORWARD, "forwarded");
	xml_node_copy_into(f, st);
	router_deliver_full(m, s->jid.full);
	xml_node_free(m);
}

/* The resources router_deliver_bare() gives a message to: available,
 * non-negative priority, the highest one. */
static int
carbons_best_priority(struct session *first)
{
	struct session *s;
	int best = -1;

	for (s = first; s; s = s->next_res)
		if (!s->closing && s->available && s->priority > best)
			best = s->priority;
	return best;
}

static enum hook_ret
carbons_sent(struct hook_ev *ev)
{
	struct session *origin = ev->session, *s;
	const char *to = xml_node_attr(ev->stanza, "to");
	struct jid j;
	int self;

	if (origin == NULL || origin->jid.node == NULL || to == NULL)
		return HOOK_CONTINUE;
	if (jid_parse_str(&j, to) != 0)
		return HOOK_CONTINUE; /* the router bounces it */
	/* to the own account: the received side copies it */
	self = strcmp(j.bare, origin->jid.bare) == 0;
	jid_cleanup(&j);
	if (self || !carbons_eligible(ev->stanza, 0))
		return HOOK_CONTINUE;
	for (s = session_find_bare(origin->jid.bare); s; s = s->next_res)
		if (s != origin && !s->closing && carbons_enabled(s))
			carbons_send_copy(s, ev->stanza, "sent");
	return HOOK_CONTINUE;
}

/* Runs before the core delivers (priority above 0): the sessions that
 * will get the message directly are those router_deliver_full() or
 * router_deliver_bare() pick, and they get no copy (XEP-0280 §7). */
static enum hook_ret
carbons_received(struct hook_ev *ev)
{
	struct session *first, *s, *direct = NULL;
	int best, bare, from_self;

	if (ev->to->node == NULL || !carbons_eligible(ev->stanza, 1))
		return HOOK_CONTINUE;
	first = session_find_bare(ev->to->bare);
	if (first == NULL)
		return HOOK_CONTINUE;
	if (ev->to->resource) {
		direct = session_find_full(ev->to->full);
		if (direct && direct->closing)
			direct = NULL;
	}
	bare = direct == NULL;
	best = carbons_best_priority(first);
	/* nobody online takes it: it goes to offline storage, and the
	 * resources get it from there */
	if (bare && best < 0)
		return HOOK_CONTINUE;
	from_self = ev->from && strcmp(ev->from->bare, ev->to->bare) == 0;
	for (s = first; s; s = s->next_res) {
		if (s->closing || !carbons_enabled(s) || s == direct)
			continue;
		if (bare && s->available && s->priority == best)
			continue;
		/* the sending resource of a message to its own account */
		if (from_self && s == ev->session)
			continue;
		carbons_send_copy(s, ev->stanza, "received");
	}
	return HOOK_CONTINUE;
}

/* XEP-0280 §11: only the user's own server makes carbon copies. A message
 * from anyone else (another user, a remote server) loses the <sent/> and
 * <received/> wrappers it claims, in every copy, before anything is
 * delivered, stored or copied, so no client can be fooled by a peer
 * forging one. */
static enum hook_ret
carbons_strip_forged(struct hook_ev *ev)
{
	struct xml_node *c, *next;

	if (ev->to->node == NULL ||
	    (ev->from && strcmp(ev->from->bare, ev->to->bare) == 0))
		return HOOK_CONTINUE;
	for (c = ev->stanza->children; c; c = next) {
		next = c->next;
		if (xml_node_is(c, NS_CARBONS, "sent") ||
		    xml_node_is(c, NS_CARBONS, "received")) {
			log_info("carbons: dropped a forged <%s/> from=%s "
				 "to=%s",
			    c->name, ev->from ? ev->from->full : "?",
			    ev->to->full);
			xml_node_unlink(c);
		}
	}
	return HOOK_CONTINUE;
}

static enum hook_ret
carbons_toggle(struct hook_ev *ev)
{
	struct session *s = ev->session;
	int own = 0;

	/* XEP-0280 §3/§4: only a local client, for itself (addressed to
	 * its account or to its server) */
	if (s != NULL)
		own = ev->to_self || strcmp(ev->to->full, s->jid.bare) == 0 ||
		      strcmp(ev->to->full, s->jid.domain) == 0;
	if (!own) {
		stanza_reply_error(ev, "cancel", "not-allowed", NULL);
		return HOOK_HANDLED;
	}
	s->copies = strcmp(ev->payload->name, "enable") == 0;
	log_debug("carbons %s jid=%s", ev->payload->name, s->jid.full);
	stanza_reply_result(ev);
	return HOOK_HANDLED;
}

/* XEP-0386: <enable/> inside Bind 2's <bind/> */
static enum hook_ret
carbons_bind2(struct hook_ev *ev)
{
	if (strcmp(ev->stanza->name, "enable") == 0)
		ev->session->copies = 1;
	return HOOK_HANDLED;
}

static const struct hook_reg carbons_hooks[] = { { "c2s/bind2/" NS_CARBONS,
						     carbons_bind2, 0 },
	{ "iq-set/bare/" NS_CARBONS ":enable", carbons_toggle, 0 },
	{ "iq-set/bare/" NS_CARBONS ":disable", carbons_toggle, 0 },
	{ "iq-set/host/" NS_CARBONS ":enable", carbons_toggle, 0 },
	{ "iq-set/host/" NS_CARBONS ":disable", carbons_toggle, 0 },
	{ "message/outgoing", carbons_sent, 0 },
	/* after mam (100), so the copies carry the archive's stanza-id */
	/* before archiving (mam, 100) and storage */
	{ "message/bare", carbons_strip_forged, 200 },
	{ "message/full", carbons_strip_forged, 200 },
	{ "message/bare", carbons_received, 50 },
	{ "message/full", carbons_received, 50 }, HOOK_REG_END };

const struct module mod_carbons = {
	.name = "carbons",
	.spec = "XEP-0280, XEP-0297",
	.doc = "Copies each instant message a user sends or receives to the "
	       "user's other clients that asked for it.",
	.features = (const char *const[]){ NS_CARBONS, NULL },
	.hooks = carbons_hooks,
};

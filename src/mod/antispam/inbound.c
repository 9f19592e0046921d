/* src/mod/antispam/inbound.c: what strangers send to this host's
 * accounts (route/filter on the recipient's host). A stranger is a
 * sender on another domain (a remote server, another host, a room)
 * that is not in the recipient's roster and that the recipient has not
 * written to or sent presence to lately (relation.c). Accounts of the
 * same host are never strangers here: the outbound limits and the
 * probation hold already apply to them, and the admins can act on them.
 *
 * strangers_inbound: bounce refuses a stranger's chat and normal
 * messages with <policy-violation/> (type cancel, a text saying how to
 * get through: a subscription request), drop drops them silently; both
 * drop headlines (no error answers a headline). Never touched: errors
 * (they answer what the account sent), groupchat messages (only a room
 * sends them, to the sessions of its occupants; a client ignores a room
 * it did not join), messages from domains without a local part (servers,
 * pubsub and other services: s2s.blocked and the block list are for
 * those), a room's mediated invitation on behalf of a roster contact or
 * of a user of the same host.
 *
 * Subscription requests from strangers always reach the account (they
 * are how strangers become contacts; the roster module caps how many
 * may wait, roster.max_pending), but each sender gets at most
 * inbound_stranger_requests_per_minute to this host's accounts; more
 * get <policy-violation/> (type wait). */
#include "mod/antispam/antispam.h"
#include "mod/roster.h"

#define NS_MUC_USER "http://jabber.org/protocol/muc#user"

/* A room's mediated invitation (XEP-0045 §7.8.2) on behalf of one of the
 * recipient's contacts, or of a user of its host? */
static int
invited_by_contact(const struct hook_ev *ev)
{
	struct xml_node *x = xml_node_find(ev->stanza, NS_MUC_USER, "x");
	struct xml_node *inv =
	    x ? xml_node_find(x, NS_MUC_USER, "invite") : NULL;
	const char *by = inv ? xml_node_attr(inv, "from") : NULL;
	struct jid j;
	int rc;

	if (by == NULL || jid_parse_str(&j, by) != 0)
		return 0;
	rc = (j.node && strcmp(j.domain, ev->host->name) == 0) ||
	     roster_has_item(ev->host->name, ev->to->node, j.bare) == 1;
	jid_cleanup(&j);
	return rc;
}

static enum hook_ret
request_in(struct hook_ev *ev, const struct antispam_cfg *cfg)
{
	const char *hn = ev->host->name;
	long long n;
	char text[160];

	if (cfg->requests_in == 0 ||
	    roster_has_item(hn, ev->to->node, ev->from->bare) == 1)
		return HOOK_CONTINUE;
	n = antispam_count(ev->host, WINDOW_REQUESTS_IN, ev->from->bare);
	if (n <= cfg->requests_in)
		return HOOK_CONTINUE;
	if (n == cfg->requests_in + 1)
		log_info("antispam %s: refusing subscription requests from %s "
			 "(over %lld a minute)",
		    hn, ev->from->bare, cfg->requests_in);
	snprintf(text, sizeof(text),
	    "Too many subscription requests to users of %s (at most %lld a "
	    "minute)",
	    hn, cfg->requests_in);
	stanza_bounce(ev->stanza, "wait", "policy-violation", text);
	return HOOK_HANDLED;
}

enum hook_ret
antispam_inbound(struct hook_ev *ev)
{
	const struct antispam_cfg *cfg = host_modcfg(ev->host, &mod_antispam);
	const struct jid *from = ev->from, *to = ev->to;
	const char *hn = ev->host->name;
	int local, known;

	/* to one of this host's accounts, from another user */
	if (to == NULL || to->node == NULL || strcmp(to->domain, hn) != 0 ||
	    from->node == NULL || jid_bare_eq(from, to))
		return HOOK_CONTINUE;
	local = strcmp(from->domain, hn) == 0;
	if (ev->kind == STANZA_PRESENCE) {
		/* an answer to a request: what the account holds for the
		 * sender may go now (hold.c) */
		if (ev->stype == STANZA_TYPE_SUBSCRIBED)
			hold_kick(ev->host);
		if (ev->stype != STANZA_TYPE_SUBSCRIBE || local)
			return HOOK_CONTINUE;
		return request_in(ev, cfg);
	}
	if (ev->kind != STANZA_MESSAGE || ev->stype == STANZA_TYPE_ERROR ||
	    ev->stype == STANZA_TYPE_GROUPCHAT)
		return HOOK_CONTINUE;
	/* who wrote first may be answered without counting as a stranger
	 * (antispam.c, hold.c): noted unless they are subscribed */
	if (roster_subscription(hn, to->node, from->bare) > 0)
		return HOOK_CONTINUE;
	known = local || cfg->strangers_inbound == INBOUND_ALLOW ||
		relation_has(
		    ev->host, to->node, from->bare, REL_SENT | REL_PRESENCE) ||
		roster_has_item(hn, to->node, from->bare) == 1 ||
		invited_by_contact(ev);
	if (known) {
		relation_note(ev->host, to->node, from->bare, REL_RECEIVED);
		return HOOK_CONTINUE;
	}
	log_debug("antispam %s: %s message from stranger %s to %s", hn,
	    cfg->strangers_inbound == INBOUND_BOUNCE ? "refused" : "dropped",
	    from->full, to->bare);
	if (cfg->strangers_inbound == INBOUND_BOUNCE &&
	    ev->stype != STANZA_TYPE_HEADLINE)
		stanza_bounce(ev->stanza, "cancel", "policy-violation",
		    "This user accepts messages only from contacts; send a "
		    "subscription request first");
	return HOOK_HANDLED;
}

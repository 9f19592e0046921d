/* src/mod/antispam/antispam.c: limits on what local accounts send to
 * strangers. Messages and subscription requests to a JID not in the
 * sender's roster (no subscription either way) that has not written to
 * the sender first are counted per sender in a one-minute window; past
 * the limit they get <policy-violation/> (type wait) and the refusal is
 * counted for the admins. Accounts younger than the probation have a
 * lower limit, and their messages to strangers may be held (hold.c).
 * What comes in from strangers is inbound.c's. */
#include "mod/antispam/antispam.h"
#include "mod/roster.h"
#include "xmpp/abuse_report.h"
#include "xmpp/account.h"

#define WINDOW 60
/* Senders remembered, all hosts together: past it the oldest window is
 * reused (a flood of fresh senders cannot make us allocate). */
#define SENDERS_MAX 4096
/* Reports kept when this module files them (mod/spam_report trims to its
 * own max_reports on its next report). */
#define REPORTS_MAX 1000
#define REASON_LIMIT "urn:tern:antispam:stranger-limit"

struct sender {
	const struct host *h;
	enum window_kind kind;
	int64_t start;
	long long n;
	char bare[2 * JID_PART_MAX + 2];
};

static struct sender senders[SENDERS_MAX];
static size_t nsenders;

/* The window of (h, kind, bare), started afresh when it is over. */
static struct sender *
sender_get(const struct host *h, enum window_kind kind, const char *bare)
{
	int64_t now = now_unix();
	struct sender *old = NULL, *s;
	size_t i;

	for (i = 0; i < nsenders; i++) {
		s = &senders[i];
		if (s->h == h && s->kind == kind && strcmp(s->bare, bare) == 0)
			goto found;
		if (old == NULL || s->start < old->start)
			old = s;
	}
	if (nsenders < SENDERS_MAX)
		old = &senders[nsenders++];
	s = old;
	s->h = h;
	s->kind = kind;
	s->start = now;
	s->n = 0;
	snprintf(s->bare, sizeof(s->bare), "%s", bare);
found:
	if (now - s->start >= WINDOW) {
		s->start = now;
		s->n = 0;
	}
	return s;
}

long long
antispam_count(const struct host *h, enum window_kind kind, const char *bare)
{
	return ++sender_get(h, kind, bare)->n;
}

int
antispam_on_probation(const struct host *h, const char *user)
{
	const struct antispam_cfg *cfg = host_modcfg(h, &mod_antispam);
	int64_t created = 0;

	if (cfg->probation == 0 ||
	    account_get_created(h->name, user, &created) != 0 || created == 0)
		return 0;
	return now_unix() - created < cfg->probation;
}

/* Is this stanza from a session one the limits count (a message or a
 * subscription request to another account)? */
static int
counted(const struct hook_ev *ev)
{
	if (ev->kind == STANZA_PRESENCE)
		return ev->stype == STANZA_TYPE_SUBSCRIBE;
	return ev->stype != STANZA_TYPE_ERROR &&
	       ev->stype != STANZA_TYPE_GROUPCHAT;
}

/* Over the stranger limit: refused, and once a window reported. */
static void
refuse(struct hook_ev *ev, const struct jid *to, long long n, long long limit)
{
	const struct antispam_cfg *cfg = host_modcfg(ev->host, &mod_antispam);
	char text[128];

	snprintf(text, sizeof(text),
	    "Too many messages or subscription requests to contacts not in "
	    "your roster (at most %lld a minute)",
	    limit);
	log_info("antispam: refused %s from %s to %s (%lld in a minute)",
	    ev->stanza->name, ev->from->bare, to->bare, n);
	stanza_bounce(ev->stanza, "wait", "policy-violation", text);
	if (cfg->report && n == limit + 1) {
		/* once a window: the admins see who hits the limit */
		char key[REPORT_KEY_LEN];

		if (report_add(ev->host->name, REPORTS_MAX, ev->host->name,
			ev->from->bare, REASON_LIMIT, "", text, key) != 0)
			log_warn("antispam: could not queue a report on %s",
			    ev->from->bare);
	}
}

/* message/outgoing, presence/outgoing (before routing, so ev->to is not
 * resolved yet: the 'to' attribute is read here). */
static enum hook_ret
antispam_out(struct hook_ev *ev)
{
	const struct antispam_cfg *cfg = host_modcfg(ev->host, &mod_antispam);
	const char *to_attr = xml_node_attr(ev->stanza, "to");
	const struct jid *from = ev->from;
	enum hook_ret ret = HOOK_CONTINUE;
	int msg = ev->kind == STANZA_MESSAGE;
	long long limit, n;
	struct jid to;

	if (to_attr == NULL || jid_parse_str(&to, to_attr) != 0)
		return HOOK_CONTINUE; /* the router answers a bad 'to' */
	if (ev->session == NULL || to.node == NULL || from->node == NULL ||
	    jid_bare_eq(from, &to))
		goto out;
	if (ev->kind == STANZA_PRESENCE) {
		if (ev->stype == STANZA_TYPE_NONE)
			/* directed presence: a room joined */
			relation_note(
			    ev->host, from->node, to.bare, REL_PRESENCE);
		else if (ev->stype == STANZA_TYPE_SUBSCRIBED)
			hold_kick(ev->host); /* a contact approved */
	}
	if (!counted(ev))
		goto out;
	/* a roster item alone is no relation: anyone can add strangers;
	 * one who wrote first is no stranger */
	if (roster_subscription(ev->host->name, from->node, to.bare) !=
	    ROSTER_SUB_NONE)
		goto out;
	if (host_is_admin(ev->host, from->bare) ||
	    relation_has(ev->host, from->node, to.bare, REL_RECEIVED))
		goto sent;
	limit = antispam_on_probation(ev->host, from->node)
		    ? cfg->probation_per_minute
		    : cfg->per_minute;
	if (limit > 0) {
		n = antispam_count(ev->host, WINDOW_OUT, from->bare);
		if (n > limit) {
			refuse(ev, &to, n, limit);
			ret = HOOK_HANDLED;
			goto out;
		}
	}
sent:
	/* its answers are no stranger's (inbound.c) */
	if (msg)
		relation_note(ev->host, from->node, to.bare, REL_SENT);
out:
	jid_cleanup(&to);
	return ret;
}

/* route/filter, on the sender's host (after blocking: a blocked contact
 * is refused, not held) and on the recipient's. */
static enum hook_ret
antispam_filter(struct hook_ev *ev)
{
	if (hold_filter(ev) == HOOK_HANDLED)
		return HOOK_HANDLED;
	return antispam_inbound(ev);
}

/* account/probation: answer for the other modules (muc, upload). */
static enum hook_ret
antispam_probation(struct hook_ev *ev)
{
	const struct antispam_cfg *cfg = host_modcfg(ev->host, &mod_antispam);
	char bare[2 * JID_PART_MAX + 2];

	if (ev->user == NULL)
		return HOOK_CONTINUE;
	/* the host's admins are trusted however new */
	snprintf(bare, sizeof(bare), "%s@%s", ev->user, ev->host->name);
	if (host_is_admin(ev->host, bare) ||
	    !antispam_on_probation(ev->host, ev->user))
		return HOOK_CONTINUE;
	if (ev->data)
		*(long long *)ev->data = cfg->probation_quota;
	return HOOK_HANDLED;
}

static const char *const inbound_choices[] = { "allow", "bounce", "drop",
	NULL };
static const char *const probation_choices[] = { "allow", "hold", "bounce",
	"drop", NULL };

static const struct cfg_directive antispam_dirs[] = {
	{ .name = "stranger_per_minute",
	    .type = CFG_INT,
	    .offset = offsetof(struct antispam_cfg, per_minute),
	    .def = "10",
	    .min = 0,
	    .max = 1000000,
	    .doc = "Messages and subscription requests one local account may "
		   "send in a minute to JIDs not in its roster; more get "
		   "<policy-violation/> (type wait). 0: no limit." },
	{ .name = "probation",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct antispam_cfg, probation),
	    .def = "24h",
	    .min = 0,
	    .max = 365 * 86400LL,
	    .doc = "Accounts younger than this are on probation: they have "
		   "the lower limit probation_stranger_per_minute, may not "
		   "create group chat rooms and have the upload quota "
		   "probation_upload_quota. 0: none." },
	{ .name = "probation_stranger_per_minute",
	    .type = CFG_INT,
	    .offset = offsetof(struct antispam_cfg, probation_per_minute),
	    .def = "3",
	    .min = 0,
	    .max = 1000000,
	    .doc = "The stranger limit of an account on probation. 0: no "
		   "limit." },
	{ .name = "probation_upload_quota",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct antispam_cfg, probation_quota),
	    .def = "10M",
	    .min = 0,
	    .max = 1LL << 40,
	    .doc = "Bytes of uploads (XEP-0363) an account on probation may "
		   "store, when lower than the upload quota. 0: the upload "
		   "quota." },
	{ .name = "report_violations",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct antispam_cfg, report),
	    .def = "true",
	    .doc = "Queue an abuse report (reason " REASON_LIMIT
		   ", from the host) the first time in a minute an account "
		   "goes over its stranger limit, for the admins "
		   "(spam_report commands, ternctl reports)." },
	{ .name = "strangers_inbound",
	    .type = CFG_ENUM,
	    .offset = offsetof(struct antispam_cfg, strangers_inbound),
	    .def = "allow",
	    .choices = inbound_choices,
	    .doc =
		"Messages to local accounts from strangers on other "
		"domains (not in the recipient's roster, not written to by "
		"it lately): allow; bounce (chat and normal messages get "
		"<policy-violation/>, type cancel); drop (silently). Errors, "
		"groupchat messages, messages from server and service "
		"domains and rooms the account joined always pass." },
	{ .name = "inbound_stranger_requests_per_minute",
	    .type = CFG_INT,
	    .offset = offsetof(struct antispam_cfg, requests_in),
	    .def = "5",
	    .min = 0,
	    .max = 1000000,
	    .doc = "Subscription requests one sender on another domain may "
		   "make in a minute to local accounts that do not have it in "
		   "their roster; more get <policy-violation/> (type wait). "
		   "The others reach the user. 0: no limit." },
	{ .name = "probation_strangers",
	    .type = CFG_ENUM,
	    .offset = offsetof(struct antispam_cfg, probation_strangers),
	    .def = "allow",
	    .choices = probation_choices,
	    .doc = "Messages with a body from accounts on probation to "
		   "strangers (within the limit): allow; hold (kept on the "
		   "host, delivered when the two share a subscription, the "
		   "stranger writes back or the probation ends, dropped if "
		   "the account is disabled or deleted first; bodiless ones "
		   "dropped); bounce (refused with <policy-violation/>, type "
		   "cancel, saying why); drop (silently, logged). "
		   "Subscription requests always pass (within their limit)." },
	{ .name = "probation_hold_max",
	    .type = CFG_INT,
	    .offset = offsetof(struct antispam_cfg, hold_max),
	    .def = "20",
	    .min = 1,
	    .max = 1000,
	    .doc = "Messages held for one account on probation (the host "
		   "holds at most 5000); more get <policy-violation/> (type "
		   "wait)." },
	{ .name = NULL },
};

static const struct cfg_section antispam_section = {
	.name = "antispam",
	.dirs = antispam_dirs,
	.size = sizeof(struct antispam_cfg),
	.doc = "Settings of the antispam module.",
};

static const struct hook_reg antispam_hooks[] = {
	{ "message/outgoing", antispam_out, 10 },
	{ "presence/outgoing", antispam_out, 10 },
	{ "account/probation", antispam_probation, 0 },
	/* after blocking and the block list */
	{ "route/filter", antispam_filter, -10 },
	HOOK_REG_END,
};

const struct module mod_antispam = {
	.name = "antispam",
	.doc = "Rate limits on messages and subscription requests between "
	       "local accounts and strangers, lower for new accounts, whose "
	       "messages to strangers may be held.",
	.hooks = antispam_hooks,
	.init = hold_init,
	.cleanup = hold_cleanup,
	.config = &antispam_section,
	.depends = (const char *const[]){ "roster", NULL },
};

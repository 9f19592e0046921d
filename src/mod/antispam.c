/* src/mod/antispam.c: limits on what local accounts send to strangers.
 * Messages and subscription requests to a JID not in the sender's roster
 * (no subscription either way) are counted per sender in a one-minute window;
 * past the limit they get <policy-violation/> (type wait) and the refusal is
 * counted for the admins. Accounts younger than the probation have a lower
 * limit. */
#include "mod/mod.h"
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

struct antispam_cfg {
	long long per_minute;
	long long probation;
	long long probation_per_minute;
	long long probation_quota;
	int report;
};

struct sender {
	const struct host *h;
	int64_t start;
	long long n;
	char bare[2 * JID_PART_MAX + 2];
};

extern const struct module mod_antispam;

static struct sender senders[SENDERS_MAX];
static size_t nsenders;

/* The window of (h, bare), started afresh when it is over. */
static struct sender *
sender_get(const struct host *h, const char *bare)
{
	int64_t now = now_unix();
	struct sender *old = NULL, *s;
	size_t i;

	for (i = 0; i < nsenders; i++) {
		s = &senders[i];
		if (s->h == h && strcmp(s->bare, bare) == 0)
			goto found;
		if (old == NULL || s->start < old->start)
			old = s;
	}
	if (nsenders < SENDERS_MAX)
		old = &senders[nsenders++];
	s = old;
	s->h = h;
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

/* Is the account on probation (younger than cfg->probation)? */
static int
on_probation(
    const struct host *h, const char *user, const struct antispam_cfg *cfg)
{
	int64_t created = 0;

	if (cfg->probation == 0 ||
	    account_get_created(h->name, user, &created) != 0 || created == 0)
		return 0;
	return now_unix() - created < cfg->probation;
}

/* Is this stanza from a session one the limits count (a message or a
 * subscription request to another account)? */
static int
counted(const struct hook_ev *ev, const struct jid *to)
{
	if (ev->session == NULL || to->node == NULL || ev->from->node == NULL ||
	    jid_bare_eq(ev->from, to))
		return 0;
	if (ev->kind == STANZA_PRESENCE)
		return ev->stype == STANZA_TYPE_SUBSCRIBE;
	return ev->stype != STANZA_TYPE_ERROR &&
	       ev->stype != STANZA_TYPE_GROUPCHAT;
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
	struct sender *s;
	long long limit;
	struct jid to;
	char text[128];

	if (to_attr == NULL || jid_parse_str(&to, to_attr) != 0)
		return HOOK_CONTINUE; /* the router answers a bad 'to' */
	/* a roster item alone is no relation: anyone can add strangers */
	if (!counted(ev, &to) || host_is_admin(ev->host, from->bare) ||
	    roster_subscription(ev->host->name, from->node, to.bare) !=
		ROSTER_SUB_NONE)
		goto out;
	limit = on_probation(ev->host, from->node, cfg)
		    ? cfg->probation_per_minute
		    : cfg->per_minute;
	if (limit == 0)
		goto out;
	s = sender_get(ev->host, from->bare);
	if (++s->n <= limit)
		goto out;
	snprintf(text, sizeof(text),
	    "Too many messages or subscription requests to contacts not in "
	    "your roster (at most %lld a minute)",
	    limit);
	log_info("antispam: refused %s from %s to %s (%lld in a minute)",
	    ev->stanza->name, from->bare, to.bare, s->n);
	stanza_bounce(ev->stanza, "wait", "policy-violation", text);
	ret = HOOK_HANDLED;
	if (cfg->report && s->n == limit + 1) {
		/* once a window: the admins see who hits the limit */
		char key[REPORT_KEY_LEN];

		if (report_add(ev->host->name, REPORTS_MAX, ev->host->name,
			from->bare, REASON_LIMIT, "", text, key) != 0)
			log_warn("antispam: could not queue a report on %s",
			    from->bare);
	}
out:
	jid_cleanup(&to);
	return ret;
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
	    !on_probation(ev->host, ev->user, cfg))
		return HOOK_CONTINUE;
	if (ev->data)
		*(long long *)ev->data = cfg->probation_quota;
	return HOOK_HANDLED;
}

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
	HOOK_REG_END,
};

const struct module mod_antispam = {
	.name = "antispam",
	.doc = "Rate limits on messages and subscription requests from local "
	       "accounts to strangers, lower for new accounts.",
	.hooks = antispam_hooks,
	.config = &antispam_section,
	.depends = (const char *const[]){ "roster", NULL },
};

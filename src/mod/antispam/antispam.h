/* src/mod/antispam/antispam.h: the antispam module's internal interface,
 * shared by the files of src/mod/antispam/ and nothing else.
 *
 *   antispam.c  the module: settings, hook table, probation, the limits
 *               on what local accounts send to strangers (outbound)
 *   relation.c  who started talking to whom (in memory, capped): a
 *               stranger one wrote to first is no stranger any more
 *   inbound.c   messages and subscription requests from strangers to
 *               local accounts (strangers_inbound, the request limit)
 *   hold.c      messages of accounts on probation to strangers, held
 *               until a subscription or the end of the probation
 *
 * A stranger of account A is a JID with neither a shown roster item of
 * A nor, for what A receives, a relation A started (relation.c). */
#ifndef TERN_MOD_ANTISPAM_H
#define TERN_MOD_ANTISPAM_H

#include "mod/mod.h"

enum strangers_inbound { INBOUND_ALLOW, INBOUND_BOUNCE, INBOUND_DROP };
enum probation_strangers {
	PROBATION_ALLOW,
	PROBATION_HOLD,
	PROBATION_BOUNCE,
	PROBATION_DROP
};

struct antispam_cfg {
	long long per_minute;
	long long probation;
	long long probation_per_minute;
	long long probation_quota;
	int report;
	int strangers_inbound;	 /* enum strangers_inbound */
	long long requests_in;	 /* inbound requests per sender a minute */
	int probation_strangers; /* enum probation_strangers */
	long long hold_max;	 /* held messages per account */
};

extern const struct module mod_antispam;

/* ---- antispam.c ---- */
/* Is the account on probation (younger than cfg->probation)? */
int antispam_on_probation(const struct host *h, const char *user);
/* One more event of kind k for (h, bare) in this minute's window: the
 * count so far, this one included. */
enum window_kind { WINDOW_OUT, WINDOW_REQUESTS_IN };
long long antispam_count(
    const struct host *h, enum window_kind k, const char *bare);

/* ---- relation.c ---- */
enum relation {
	REL_SENT = 1,	  /* the account wrote to the peer */
	REL_RECEIVED = 2, /* the peer wrote to the account (and got in) */
	REL_PRESENCE = 4, /* the account sent directed presence (a room) */
};
void relation_note(const struct host *h, const char *user,
    const char *peer_bare, enum relation r);
/* Did one of the relations in mask happen lately (see relation.c)? */
int relation_has(
    const struct host *h, const char *user, const char *peer_bare, int mask);

/* ---- inbound.c ---- */
enum hook_ret antispam_inbound(struct hook_ev *ev);

/* ---- hold.c ---- */
/* route/filter: hold what an account on probation writes to a
 * stranger (probation_strangers: hold), or refuse it (bounce, drop). */
enum hook_ret hold_filter(struct hook_ev *ev);
/* Look at the held messages soon (a subscription changed). */
void hold_kick(const struct host *h);
int hold_init(struct host *h);
void hold_cleanup(struct host *h);

#endif

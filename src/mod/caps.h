/* caps.h: XEP-0115 entity capabilities, shared by disco (the server's
 * own caps in stream features and its node#ver answers) and pep (which
 * resources asked for +notify). Not a module: a unit the modules that
 * need it call.
 *
 * - caps_ver(): the §5.1 SHA-1 verification string of a disco#info
 *   <query/>, whoever made it (the server's own answer, a peer's).
 * - caps_verify(): check a peer's answer against the ver it announced
 *   (§5.4) and keep its features.
 * - the cache: verified feature lists by ver, in memory (a bounded
 *   table that lives as long as ternd) and in storage (the host-wide
 *   map "pep_caps", bounded by the caller's limit), so a ver seen once
 *   needs no query again, even after a restart.
 * - the queries in flight: a disco#info to the resource that showed an
 *   unknown ver; the answer comes back as an iq the caller's hooks see
 *   and hand to caps_query_take(). */
#ifndef TERN_MOD_CAPS_H
#define TERN_MOD_CAPS_H

#include <stddef.h>

struct host;
struct xml_node;

#define NS_CAPS "http://jabber.org/protocol/caps"
#define CAPS_VER_MAX 65 /* bytes of a ver string we accept, with NUL */

/* What a verified ver stands for: its features, sorted. Refcounted: the
 * memory table holds one reference, each user (a pep watcher) one. */
struct caps {
	struct caps *next; /* the table's chain */
	char *ver;
	char **feat;
	size_t nfeat;
	unsigned refs;
};

/* The verification string (base64 of SHA-1, §5.1) of the disco#info
 * answer q into out (CAPS_VER_MAX bytes). Identities sort by category,
 * type, xml:lang and name; features; forms (XEP-0128, those with a
 * FORM_TYPE field) by FORM_TYPE, their fields by var, values sorted.
 * Returns 0, or -1 when q is ill-formed by §5.4 (two equal identities,
 * features or fields, two forms of one FORM_TYPE); out is filled anyway. */
int caps_ver(const struct xml_node *q, char *out);

/* Check that q (a peer's disco#info answer) hashes to ver (§5.4); the
 * new caps with no reference yet, or NULL when it does not. */
struct caps *caps_verify(const struct xml_node *q, const char *ver);

/* Does c name node "+notify" (XEP-0163 §4)? */
int caps_has_notify(const struct caps *c, const char *node);

struct caps *caps_ref(struct caps *c);
void caps_unref(struct caps *c); /* NULL is a no-op */

/* The verified caps of ver, from memory or else host's storage (then
 * kept in memory too), or NULL: the table's reference, borrowed. */
struct caps *caps_find(const char *host, const char *ver);

/* Keep freshly verified caps c: in host's storage (at most store_max
 * entries there: one old entry makes room) and in memory (which takes a
 * reference). */
void caps_keep(const char *host, struct caps *c, long long store_max);

/* Ask full (from `from`, a bare JID of h) for the disco#info of
 * node#ver (§6.2), unless a query for ver is in flight on h already:
 * one answer serves every resource that showed it. */
void caps_query(struct host *h, const char *from, const char *full,
    const char *node, const char *ver);

/* The ver asked by the query that iq (a result or an error) answers,
 * taken off the table (caller frees), or NULL when iq answers none. */
char *caps_query_take(const struct host *h, const struct xml_node *iq);

/* Forget h's queries in flight (module cleanup, reload). */
void caps_queries_drop(const struct host *h);

#endif

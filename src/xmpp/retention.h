/* retention.h: the server's one retention policy (the retention:
 * section): what users' stores keep, and the expiry that deletes what is
 * older, inside ternd, a bounded step at a time. */
#ifndef TERN_RETENTION_H
#define TERN_RETENTION_H

#include <stddef.h>

struct config;

/* (Re)start the expiry for configuration c (at start and after each
 * reload): a pass runs at once, then one every retention.interval. */
void retention_setup(const struct config *c);
void retention_stop(void);

/* A user's own, shorter archive limit: an element of this namespace in
 * the user's XEP-0313 <prefs/>, <keep xmlns=NS_RETENTION>30d</keep>. */
#define NS_RETENTION "urn:xmpp:tern:retention:0"

/* "90", "90s", "15m", "12h", "30d" in seconds (> 0), or -1. */
long long retention_parse_age(const char *s);
/* The limit a user's stored prefs document sets, in seconds, or 0. */
long long retention_user_archive(const char *prefs, size_t len);

/* What the policy covers, for `ternctl check retention`: the i-th kept
 * kind of data (its store, a description and its age limit in seconds,
 * 0 for ever), or -1 past the last. */
int retention_item(const struct config *c, size_t i, const char **store,
    const char **what, long long *keep);

#endif

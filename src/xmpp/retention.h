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

/* What the policy covers, for `ternctl check retention`: the i-th kept
 * kind of data (its store, a description and its age limit in seconds,
 * 0 for ever), or -1 past the last. */
int retention_item(const struct config *c, size_t i, const char **store,
    const char **what, long long *keep);

#endif

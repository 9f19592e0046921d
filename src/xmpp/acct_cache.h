/* acct_cache.h: per-account state loaded once (docs/design.md, "Storage
 * without blocking the loop", point 2). What routing asks about an
 * account on every stanza (does it exist, its roster subscriptions, its
 * blocklist, its archive preferences, its offline usage) is read with one
 * store_load_async call and kept in memory, an LRU under a byte cap
 * (storage.account_cache). A stanza for an account whose state is still
 * loading waits in a bounded queue of that account (storage.account_queue)
 * and is routed again, in order, when the load completes.
 *
 * What is kept are "parts": a keyval document, a whole map, or an
 * archive's usage, named by their store. The core keeps whether the
 * "accounts" document exists (not its keys); modules register theirs
 * (acct_cache_part) in their init.
 * Writes through store_* keep the kept state current (store.h's
 * observer), so reads stay correct whoever writes. */
#ifndef TERN_ACCT_CACHE_H
#define TERN_ACCT_CACHE_H

#include <stddef.h>

#include "store/store.h"

struct jid;
struct session;
struct xml_node;

/* Keep this part of every account loaded from now on (idempotent). */
void acct_cache_part(enum store_kind kind, const char *store);

/* Settings (at start and at each reload). */
void acct_cache_set_cap(long long bytes);
void acct_cache_set_queue(long long stanzas);

/* How a stanza that waited is routed again (router.c). origin is found
 * again by id: NULL when that session ended meanwhile. */
typedef void (*acct_cache_route_fn)(struct xml_node *st, const struct jid *from,
    struct session *origin, int filter);
void acct_cache_set_router(acct_cache_route_fn fn);

/* Before routing st, which reads user@host's state: 1 the state is loaded
 * (or loading failed: reads go to the store) and nothing waits before
 * st, so route it now; 0 a copy of st waits for the load and is routed
 * again by the router callback (the caller drops st); -1 that account's
 * queue is full (answer resource-constraint). Starts the load.
 * passed_host/passed_user (or NULLs): the account st passed already; it
 * is not evicted while st waits here. */
int acct_cache_hold(const char *host, const char *user,
    const struct xml_node *st, const struct jid *from,
    const struct session *origin, int filter, const char *passed_host,
    const char *passed_user);

/* Start loading user@host's state if it is not held (a stanza that
 * waits for another account's will need it next). */
void acct_cache_want(const char *host, const char *user);

/* Reads with the store_* contracts (store.h): from the loaded state
 * when user@host has it, else from the store. */
int acct_cache_exists(const char *host, const char *user); /* 0, 1, -1 */
int acct_cache_kv_get(const char *host, const char *user, const char *store,
    char **val, size_t *len);
int acct_cache_map_get(const char *host, const char *user, const char *store,
    const char *key, char **val, size_t *len);
int acct_cache_map_list(const char *host, const char *user, const char *store,
    int (*cb)(void *ud, const char *key, const char *val, size_t len),
    void *ud);
int acct_cache_map_count(
    const char *host, const char *user, const char *store, long *count);
/* The items of an archive store and the bytes of their values. */
int acct_cache_archive_usage(const char *host, const char *user,
    const char *store, long long *count, long long *bytes);

/* Forget user@host's state (an account created by another process:
 * ternctl adduser tells ternd over the control socket). */
void acct_cache_forget(const char *host, const char *user);
/* Drop entries past the byte cap, least recently used first, and those
 * of accounts that do not exist (run at the end of each iteration). */
void acct_cache_trim(void);
/* Free everything (shutdown). */
void acct_cache_free_all(void);

/* For tests and ternctl status: bytes held, accounts held, loads run. */
struct acct_cache_stats {
	long long bytes;
	size_t accounts;
	unsigned long loads, hits, misses, waits;
};
void acct_cache_stats(struct acct_cache_stats *out);
/* Is user@host's state held now (loaded or loading)? */
int acct_cache_held(const char *host, const char *user);

#endif

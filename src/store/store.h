/* store.h: the storage interface every module uses. Three kinds:
 *   keyval  (host, user, store) -> one document
 *   map     (host, user, store, key) -> value
 *   archive (host, user, store) append-only items with id, time, with-JID,
 *           queried by time range / with / before-after id, expired by age.
 * user "" stands for host-wide data. Values are opaque bytes (modules store
 * serialised XML or small text formats).
 *
 * Calls are synchronous against the backend. Writes open a transaction
 * lazily; store_commit() commits everything written since the last commit
 * (ternd calls it once per event-loop iteration, before acknowledging
 * anything to a peer: group commit). Return values: 0 ok / found,
 * 1 not found (get), -1 failure (already logged), STORE_QUOTA (a write
 * refused by the account's storage quota; see store_quota_set()). */
#ifndef TERN_STORE_H
#define TERN_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_archive_item;
struct store_archive_query;
struct store_load_part;
struct store_load_res;

/* The answer to store_load_async: rc 0 and one result per part asked,
 * or rc -1 (a storage failure, logged) and res NULL. cb may keep the
 * strings and arrays of res it wants by setting their fields to NULL;
 * the rest is freed when it returns. */
typedef void (*store_load_cb)(void *ud, int rc, struct store_load_res *res);

#define STORE_QUOTA (-2)

enum store_kind { STORE_KV, STORE_MAP, STORE_ARCHIVE };

struct store_backend {
	const char *name;
	struct store *(*open)(const char *location, char *err, size_t errlen);
	void (*close)(struct store *st);
	int (*commit)(struct store *st);
	/* Is a write transaction open? (SQLite may end one by itself.) */
	int (*in_tx)(struct store *st);
	void (*rollback)(struct store *st);
	/* Optional (NULL: not offered): a mark in the write transaction,
	 * then savepoint_end drops the mark, undoing the writes made since
	 * it when undo is set (one mark at a time). */
	int (*savepoint)(struct store *st);
	int (*savepoint_end)(struct store *st, int undo);

	int (*kv_get)(struct store *st, const char *host, const char *user,
	    const char *store, char **val, size_t *len);
	int (*kv_set)(struct store *st, const char *host, const char *user,
	    const char *store, const char *val, size_t len);
	int (*kv_del)(struct store *st, const char *host, const char *user,
	    const char *store);
	/* Calls cb for each user that has a document in store on host. */
	int (*kv_users)(struct store *st, const char *host, const char *store,
	    int (*cb)(void *ud, const char *user), void *ud);

	int (*map_get)(struct store *st, const char *host, const char *user,
	    const char *store, const char *key, char **val, size_t *len);
	int (*map_set)(struct store *st, const char *host, const char *user,
	    const char *store, const char *key, const char *val, size_t len);
	int (*map_del)(struct store *st, const char *host, const char *user,
	    const char *store, const char *key); /* key NULL: all keys */
	/* prefix NULL: every key; otherwise only keys that start with it
	 * (a range on the key, so other keys' values are never read) */
	int (*map_list)(struct store *st, const char *host, const char *user,
	    const char *store, const char *prefix,
	    int (*cb)(void *ud, const char *key, const char *val, size_t len),
	    void *ud);
	int (*map_count)(struct store *st, const char *host, const char *user,
	    const char *store, long *count);

	int (*archive_append)(struct store *st, const char *host,
	    const char *user, const char *store, const char *id, int64_t when,
	    const char *with, const char *val, size_t len);
	int (*archive_query)(struct store *st,
	    const struct store_archive_query *q,
	    int (*cb)(void *ud, const struct store_archive_item *it), void *ud);
	int (*archive_count)(
	    struct store *st, const struct store_archive_query *q, long *count);
	/* Delete items older than before (unix seconds) in store (all users
	 * and hosts); *deleted gets the count. */
	int (*archive_expire)(
	    struct store *st, const char *store, int64_t before, long *deleted);
	int (*archive_del)(struct store *st, const char *host, const char *user,
	    const char *store, const char *id); /* id NULL: all */

	/* Remove every row of any kind for that user on host. */
	int (*user_delete)(
	    struct store *st, const char *host, const char *user);
	/* Bytes held (keys and values, see store_usage()) in *bytes: with
	 * store NULL, every row of that user on host; else the rows of kind
	 * in store, only key's (the map key, the archive id; ignored for
	 * keyval) unless key is NULL. 0 when there are none. */
	int (*bytes)(struct store *st, enum store_kind kind, const char *host,
	    const char *user, const char *store, const char *key,
	    long long *bytes);
	/* Optional: store_load_async for a backend that answers later
	 * (cb runs exactly once, from the loop, when the rows arrive).
	 * NULL: store.c reads the parts inline with the calls above. */
	int (*load)(struct store *st, const char *host, const char *user,
	    const struct store_load_part *parts, size_t nparts,
	    store_load_cb cb, void *ud);
};

struct store_archive_item {
	const char *id;
	int64_t when;	  /* unix seconds */
	const char *with; /* bare JID, may be "" */
	const char *val;
	size_t len;
};

/* Archive items copied out of a query: pass store_items_collect as the
 * callback of store_archive_query with a zeroed struct store_items. */
struct store_item {
	char *id;
	int64_t when;
	char *val;
	size_t len;
};

struct store_items {
	struct store_item *v;
	size_t n, cap;
};

int store_items_collect(void *ud, const struct store_archive_item *it);
/* Newest first becomes oldest first, and back. */
void store_items_reverse(struct store_items *l);
void store_items_free(struct store_items *l);

struct store_archive_query {
	const char *host;
	const char *user;
	const char *store;
	const char *with;	/* NULL: any */
	int64_t start, end;	/* 0: unbounded; inclusive */
	const char *after_id;	/* NULL: none; items strictly after this id */
	const char *before_id;	/* NULL: none; items strictly before */
	const char *const *ids; /* NULL-terminated list, or NULL */
	long limit;		/* <= 0: no limit */
	int reverse;		/* newest first (for "last page" queries) */
};

/* Open a backend by name ("sqlite", or "memory" for tests) at location
 * (a file path for SQLite; ignored by memory). err gets a message on
 * failure. Creates or migrates the schema. */
struct store *store_open(
    const char *backend, const char *location, char *err, size_t errlen);
void store_close(struct store *st);

/* The process-wide store ternd uses (set by main). */
extern struct store *store_main;

/* Thin wrappers on store_main's backend. store_commit() returns -1 when
 * the commit failed; the writes are then kept (see store.c) and replayed
 * by the next store_commit(), and store_failing() is true until one
 * succeeds. */
int store_commit(void);
int store_failing(void);
/* Drop every write since the last commit (a tool that imports one
 * account at a time undoes a failed one). */
void store_rollback(void);
/* A mark in the current transaction: store_savepoint_end(1) drops the
 * writes since it, (0) keeps them; both leave earlier writes for the
 * next commit (a tool commits many accounts at once, undoing a failed
 * one alone). -1 when the backend has none, or on a failure: after a
 * failed end everything since the last commit is gone. */
int store_savepoint(void);
int store_savepoint_end(int undo);
int store_kv_get(const char *host, const char *user, const char *store,
    char **val, size_t *len);
int store_kv_set(const char *host, const char *user, const char *store,
    const char *val, size_t len);
int store_kv_del(const char *host, const char *user, const char *store);
int store_kv_users(const char *host, const char *store,
    int (*cb)(void *ud, const char *user), void *ud);
int store_map_get(const char *host, const char *user, const char *store,
    const char *key, char **val, size_t *len);
int store_map_set(const char *host, const char *user, const char *store,
    const char *key, const char *val, size_t len);
int store_map_del(
    const char *host, const char *user, const char *store, const char *key);
int store_map_list(const char *host, const char *user, const char *store,
    int (*cb)(void *ud, const char *key, const char *val, size_t len),
    void *ud);
/* The same for the keys that start with prefix, in key order. */
int store_map_list_prefix(const char *host, const char *user, const char *store,
    const char *prefix,
    int (*cb)(void *ud, const char *key, const char *val, size_t len),
    void *ud);
int store_map_count(
    const char *host, const char *user, const char *store, long *count);
int store_archive_append(const char *host, const char *user, const char *store,
    const char *id, int64_t when, const char *with, const char *val,
    size_t len);
int store_archive_query(const struct store_archive_query *q,
    int (*cb)(void *ud, const struct store_archive_item *it), void *ud);
int store_archive_count(const struct store_archive_query *q, long *count);
int store_archive_expire(const char *store, int64_t before, long *deleted);
int store_archive_del(
    const char *host, const char *user, const char *store, const char *id);
int store_user_delete(const char *host, const char *user);

/* ---- one account's state in one call (see xmpp/acct_cache.c) ---- */

/* What to read: a keyval document, a whole map (every key and value) or
 * an archive's usage (how many items and the bytes of their values). */
struct store_load_part {
	enum store_kind kind;
	const char *store;
};

struct store_load_row {
	char *key;
	char *val;
	size_t len;
};

/* One part's answer: found/val/len for STORE_KV; rows (key order) for
 * STORE_MAP; count/bytes for STORE_ARCHIVE. */
struct store_load_res {
	int found;
	char *val;
	size_t len;
	struct store_load_row *rows;
	size_t nrows;
	long long count, bytes;
};

/* Read the parts of user@host in one call and hand them to cb. SQLite
 * and the memory backend answer inline (cb has run when this returns); a
 * network backend answers from the loop later, so callers must work both
 * ways and find what they act for again by id in cb. 0: cb will run (or
 * ran) exactly once; -1: it will not (no store). */
int store_load_async(const char *host, const char *user,
    const struct store_load_part *parts, size_t nparts, store_load_cb cb,
    void *ud);

/* What a write changed, for a cache of reads (one observer; NULL none).
 * Called after each write that worked. applied is 0 while commits fail:
 * the backend then lags the journal (its reads miss the write) until
 * STORE_CHANGE_ALL says every cached read must be dropped. */
enum store_change_op {
	STORE_CHANGE_KV_SET,
	STORE_CHANGE_KV_DEL,
	STORE_CHANGE_MAP_SET,
	STORE_CHANGE_MAP_DEL, /* key NULL: every key */
	STORE_CHANGE_AR_APPEND,
	STORE_CHANGE_AR_DEL,	/* key: the id, or NULL for all */
	STORE_CHANGE_AR_EXPIRE, /* host and user NULL: every account */
	STORE_CHANGE_USER_DEL,
	STORE_CHANGE_ALL, /* anything may have changed */
};

struct store_change {
	enum store_change_op op;
	int applied;
	const char *host, *user, *store, *key;
	const char *val;
	size_t len;
};

void store_set_observer(void (*fn)(const struct store_change *c));

/* Per-account storage quota. An account (a non-empty user) uses the bytes
 * of the keys and values of all its rows of every kind: keyval documents,
 * map keys and values, archive ids, with-JIDs and items (not the
 * backend's overhead). A write that would take its account past bytes
 * (0: no quota) fails with STORE_QUOTA; writes that shrink or keep an
 * account's usage always work, so a full account can still log in, read
 * and delete. Usage is counted once per account from the backend, then
 * kept current by the wrappers (expiry and failed commits make it be
 * counted again). */
void store_quota_set(long long bytes);
long long store_quota(void);
/* The bytes user's rows on host take; 0 or -1. */
int store_usage(const char *host, const char *user, long long *bytes);

#endif

/* store_impl.h: what every backend shares, private to src/store/. A
 * backend's store struct embeds struct store as its first member, so the
 * wrappers in store.c find the vtable without knowing the backend. */
#ifndef TERN_STORE_IMPL_H
#define TERN_STORE_IMPL_H

#include "store/store.h"

#include "core/buf.h"

struct store {
	const struct store_backend *be;
	/* store.c's journal of the writes since the last good commit */
	struct sbuf journal;
	size_t jn;  /* records in it */
	int failed; /* a commit failed: only the journal holds them */
	/* store_savepoint's mark in the journal (sp_on: one is set) */
	size_t sp_len, sp_jn;
	int sp_on;
	/* store.c's per-account usage, by "host\0user" */
	struct store_usage **usage;
	size_t nusage;
};

/* store_load_async done with the backend's synchronous calls: what
 * store.c does for a backend with no load op, and what mem.c runs when a
 * deferred load completes. */
void store_load_inline(struct store *st, const char *host, const char *user,
    const struct store_load_part *parts, size_t nparts, store_load_cb cb,
    void *ud);

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_memory_backend; /* mem.c */

#endif

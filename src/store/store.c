/* store.c: the registry of storage backends by name and the store_*
 * wrappers that forward to store_main's backend.
 *
 * Callbacks given to the listing calls (kv_users, map_list, archive_query)
 * return 0 to go on; a positive value stops the iteration early (the call
 * then returns 0) and a negative one stops it and makes the call fail. */
#include "store/store_impl.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

struct store *store_main;

static const struct store_backend *const backends[] = {
	&store_sqlite_backend,
};

struct store *
store_open(const char *backend, const char *location, char *err,
    size_t errlen)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(backends); i++)
		if (strcmp(backends[i]->name, backend) == 0)
			return backends[i]->open(location, err, errlen);
	snprintf(err, errlen, "unknown storage backend \"%s\"", backend);
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	st->be->close(st);
}

/* Every wrapper fails cleanly rather than crashing when no store is open:
 * a module called before main set store_main is a bug worth a log line. */
static struct store *
main_store(void)
{
	if (store_main == NULL)
		log_err("store: no store open");
	return store_main;
}

int
store_commit(void)
{
	struct store *st = main_store();

	return st ? st->be->commit(st) : -1;
}

int
store_kv_get(const char *host, const char *user, const char *store,
    char **val, size_t *len)
{
	struct store *st = main_store();

	return st ? st->be->kv_get(st, host, user, store, val, len) : -1;
}

int
store_kv_set(const char *host, const char *user, const char *store,
    const char *val, size_t len)
{
	struct store *st = main_store();

	return st ? st->be->kv_set(st, host, user, store, val, len) : -1;
}

int
store_kv_del(const char *host, const char *user, const char *store)
{
	struct store *st = main_store();

	return st ? st->be->kv_del(st, host, user, store) : -1;
}

int
store_kv_users(const char *host, const char *store,
    int (*cb)(void *ud, const char *user), void *ud)
{
	struct store *st = main_store();

	return st ? st->be->kv_users(st, host, store, cb, ud) : -1;
}

int
store_map_get(const char *host, const char *user, const char *store,
    const char *key, char **val, size_t *len)
{
	struct store *st = main_store();

	return st ? st->be->map_get(st, host, user, store, key, val, len) : -1;
}

int
store_map_set(const char *host, const char *user, const char *store,
    const char *key, const char *val, size_t len)
{
	struct store *st = main_store();

	return st ? st->be->map_set(st, host, user, store, key, val, len) : -1;
}

int
store_map_del(const char *host, const char *user, const char *store,
    const char *key)
{
	struct store *st = main_store();

	return st ? st->be->map_del(st, host, user, store, key) : -1;
}

int
store_map_list(const char *host, const char *user, const char *store,
    int (*cb)(void *ud, const char *key, const char *val, size_t len),
    void *ud)
{
	struct store *st = main_store();

	return st ? st->be->map_list(st, host, user, store, cb, ud) : -1;
}

int
store_map_count(const char *host, const char *user, const char *store,
    long *count)
{
	struct store *st = main_store();

	return st ? st->be->map_count(st, host, user, store, count) : -1;
}

int
store_archive_append(const char *host, const char *user, const char *store,
    const char *id, int64_t when, const char *with, const char *val,
    size_t len)
{
	struct store *st = main_store();

	if (st == NULL)
		return -1;
	return st->be->archive_append(st, host, user, store, id, when, with,
	    val, len);
}

int
store_archive_query(const struct store_archive_query *q,
    int (*cb)(void *ud, const struct store_archive_item *it), void *ud)
{
	struct store *st = main_store();

	return st ? st->be->archive_query(st, q, cb, ud) : -1;
}

int
store_archive_count(const struct store_archive_query *q, long *count)
{
	struct store *st = main_store();

	return st ? st->be->archive_count(st, q, count) : -1;
}

int
store_archive_expire(const char *store, int64_t before, long *deleted)
{
	struct store *st = main_store();

	return st ? st->be->archive_expire(st, store, before, deleted) : -1;
}

int
store_archive_del(const char *host, const char *user, const char *store,
    const char *id)
{
	struct store *st = main_store();

	return st ? st->be->archive_del(st, host, user, store, id) : -1;
}

int
store_user_delete(const char *host, const char *user)
{
	struct store *st = main_store();

	return st ? st->be->user_delete(st, host, user) : -1;
}

/* store.c: the registry of storage backends by name and the store_*
 * wrappers that forward to store_main's backend.
 *
 * Every write made since the last good commit is also kept in a journal
 * (one flat buffer of records). When a commit fails (disk full, I/O
 * error) the backend rolls back; the journal is then the only copy of
 * that work: later writes are only journalled, and store_commit() replays
 * the whole journal into a fresh transaction until a commit succeeds.
 * Together with ternd holding all output while commits fail (loop.c),
 * nothing is acknowledged that is not durable and nothing is lost.
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
	struct store *st;
	size_t i;

	for (i = 0; i < ARRAY_LEN(backends); i++)
		if (strcmp(backends[i]->name, backend) == 0) {
			st = backends[i]->open(location, err, errlen);
			if (st) {
				sbuf_init(&st->journal);
				st->jn = 0;
				st->failed = 0;
			}
			return st;
		}
	snprintf(err, errlen, "unknown storage backend \"%s\"", backend);
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->jn > 0)
		log_err("store: closing with %zu uncommitted writes", st->jn);
	sbuf_cleanup(&st->journal);
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

/* ---- the journal of uncommitted writes ---- */

enum j_op {
	J_KV_SET = 1,
	J_KV_DEL,
	J_MAP_SET,
	J_MAP_DEL,
	J_AR_APPEND,
	J_AR_EXPIRE,
	J_AR_DEL,
	J_USER_DEL,
};

#define J_NULL UINT32_MAX

/* A field: 32-bit length (J_NULL for a NULL string), the bytes, a NUL so
 * a replayed string can be passed on in place. */
static void
j_put(struct sbuf *b, const char *p, size_t n)
{
	uint32_t len = p ? (uint32_t)n : J_NULL;

	sbuf_append(b, &len, sizeof(len));
	if (p)
		sbuf_append(b, p, n);
	sbuf_putc(b, '\0');
}

static void
j_str(struct sbuf *b, const char *s)
{
	j_put(b, s, s ? strlen(s) : 0);
}

static void
j_i64(struct sbuf *b, int64_t v)
{
	sbuf_append(b, &v, sizeof(v));
}

struct j_cur {
	const char *p, *end;
};

static const char *
j_get(struct j_cur *c, size_t *n)
{
	uint32_t len;
	const char *s;

	memcpy(&len, c->p, sizeof(len));
	c->p += sizeof(len);
	if (len == J_NULL) {
		c->p++;
		*n = 0;
		return NULL;
	}
	s = c->p;
	c->p += len + 1;
	*n = len;
	return s;
}

static const char *
j_getstr(struct j_cur *c)
{
	size_t n;

	return j_get(c, &n);
}

static int64_t
j_geti64(struct j_cur *c)
{
	int64_t v;

	memcpy(&v, c->p, sizeof(v));
	c->p += sizeof(v);
	return v;
}

/* Apply one journal record to the backend. */
static int
j_apply(struct store *st, struct j_cur *c, long *deleted)
{
	const struct store_backend *be = st->be;
	enum j_op op = (enum j_op)(unsigned char)*c->p++;
	const char *host = j_getstr(c), *user = j_getstr(c);
	const char *store = j_getstr(c);
	const char *key, *val, *with;
	size_t len;
	int64_t when;
	long ndel;

	if (deleted == NULL)
		deleted = &ndel;
	switch (op) {
	case J_KV_SET:
		val = j_get(c, &len);
		return be->kv_set(st, host, user, store, val, len);
	case J_KV_DEL:
		return be->kv_del(st, host, user, store);
	case J_MAP_SET:
		key = j_getstr(c);
		val = j_get(c, &len);
		return be->map_set(st, host, user, store, key, val, len);
	case J_MAP_DEL:
		key = j_getstr(c);
		return be->map_del(st, host, user, store, key);
	case J_AR_APPEND:
		key = j_getstr(c);
		when = j_geti64(c);
		with = j_getstr(c);
		val = j_get(c, &len);
		return be->archive_append(st, host, user, store, key, when,
		    with, val, len);
	case J_AR_EXPIRE:
		when = j_geti64(c);
		return be->archive_expire(st, store, when, deleted);
	case J_AR_DEL:
		key = j_getstr(c);
		return be->archive_del(st, host, user, store, key);
	case J_USER_DEL:
		return be->user_delete(st, host, user);
	}
	return -1;
}

static void
j_reset(struct store *st)
{
	st->jn = 0;
	/* a flood may have grown it: do not keep megabytes forever */
	if (st->journal.cap > 1024 * 1024)
		sbuf_cleanup(&st->journal);
	sbuf_reset(&st->journal);
}

/* A write the backend refused, or a transaction the backend no longer
 * has while the journal holds writes: SQLite rolls a transaction back by
 * itself after some I/O errors. Either way, replay at the next commit. */
static void
j_check(struct store *st, int rc)
{
	if (rc < 0 && st->jn > 0 && !st->failed && !st->be->in_tx(st)) {
		log_err("store: transaction lost after a failed write; "
		    "%zu writes kept for replay", st->jn);
		st->failed = 1;
	}
}

static int
j_replay(struct store *st)
{
	struct j_cur c = { st->journal.data,
		st->journal.data + st->journal.len };

	/* whatever the backend still holds of the lost attempt goes */
	st->be->rollback(st);
	while (c.p < c.end)
		if (j_apply(st, &c, NULL) < 0)
			return -1;
	return 0;
}

int
store_commit(void)
{
	struct store *st = main_store();
	size_t n;

	if (st == NULL)
		return -1;
	n = st->jn;
	if (!st->failed && n > 0 && !st->be->in_tx(st))
		st->failed = 1;
	if (st->failed && j_replay(st) < 0)
		goto out_fail;
	if (st->be->commit(st) < 0)
		goto out_fail;
	if (st->failed)
		log_info("store: commits work again; %zu held writes "
		    "committed", n);
	st->failed = 0;
	j_reset(st);
	return 0;
out_fail:
	/* the backend dropped its transaction: the journal is the copy */
	st->be->rollback(st);
	if (!st->failed)
		log_err("store: commit failed; holding %zu writes and "
		    "retrying", n);
	st->failed = 1;
	return -1;
}

int
store_failing(void)
{
	return store_main && store_main->failed;
}

/* Starts a record with the fields every write has. */
static struct sbuf *
j_head(struct store *st, enum j_op op, const char *host, const char *user,
    const char *store)
{
	st->jn++;
	sbuf_putc(&st->journal, (char)op);
	j_str(&st->journal, host);
	j_str(&st->journal, user);
	j_str(&st->journal, store);
	return &st->journal;
}

/* The end of every write wrapper: the record just journalled at mark is
 * applied by the same code the replay uses, unless commits are failing
 * (the replay will apply it then). A write the backend refused is not
 * kept (its caller saw the failure). */
static int
j_write(struct store *st, size_t mark, long *deleted)
{
	struct j_cur c = { st->journal.data + mark,
		st->journal.data + st->journal.len };
	int rc;

	if (st->failed)
		return 0;
	rc = j_apply(st, &c, deleted);
	if (rc < 0) {
		st->journal.len = mark;
		st->jn--;
		j_check(st, rc);
	}
	return rc;
}

int
store_kv_set(const char *host, const char *user, const char *store,
    const char *val, size_t len)
{
	struct store *st = main_store();
	size_t mark;

	if (st == NULL)
		return -1;
	mark = st->journal.len;
	j_put(j_head(st, J_KV_SET, host, user, store), val, len);
	return j_write(st, mark, NULL);
}

int
store_kv_del(const char *host, const char *user, const char *store)
{
	struct store *st = main_store();
	size_t mark;

	if (st == NULL)
		return -1;
	mark = st->journal.len;
	j_head(st, J_KV_DEL, host, user, store);
	return j_write(st, mark, NULL);
}

int
store_map_set(const char *host, const char *user, const char *store,
    const char *key, const char *val, size_t len)
{
	struct store *st = main_store();
	size_t mark;

	if (st == NULL)
		return -1;
	mark = st->journal.len;
	j_str(j_head(st, J_MAP_SET, host, user, store), key);
	j_put(&st->journal, val, len);
	return j_write(st, mark, NULL);
}

int
store_map_del(const char *host, const char *user, const char *store,
    const char *key)
{
	struct store *st = main_store();
	size_t mark;

	if (st == NULL)
		return -1;
	mark = st->journal.len;
	j_str(j_head(st, J_MAP_DEL, host, user, store), key);
	return j_write(st, mark, NULL);
}

int
store_archive_append(const char *host, const char *user, const char *store,
    const char *id, int64_t when, const char *with, const char *val,
    size_t len)
{
	struct store *st = main_store();
	size_t mark;

	if (st == NULL)
		return -1;
	mark = st->journal.len;
	j_str(j_head(st, J_AR_APPEND, host, user, store), id);
	j_i64(&st->journal, when);
	j_str(&st->journal, with);
	j_put(&st->journal, val, len);
	return j_write(st, mark, NULL);
}

int
store_archive_expire(const char *store, int64_t before, long *deleted)
{
	struct store *st = main_store();
	size_t mark;

	*deleted = 0;
	if (st == NULL)
		return -1;
	mark = st->journal.len;
	j_i64(j_head(st, J_AR_EXPIRE, NULL, NULL, store), before);
	return j_write(st, mark, deleted);
}

int
store_archive_del(const char *host, const char *user, const char *store,
    const char *id)
{
	struct store *st = main_store();
	size_t mark;

	if (st == NULL)
		return -1;
	mark = st->journal.len;
	j_str(j_head(st, J_AR_DEL, host, user, store), id);
	return j_write(st, mark, NULL);
}

int
store_user_delete(const char *host, const char *user)
{
	struct store *st = main_store();
	size_t mark;

	if (st == NULL)
		return -1;
	mark = st->journal.len;
	j_head(st, J_USER_DEL, host, user, NULL);
	return j_write(st, mark, NULL);
}

int
store_kv_get(const char *host, const char *user, const char *store,
    char **val, size_t *len)
{
	struct store *st = main_store();

	return st ? st->be->kv_get(st, host, user, store, val, len) : -1;
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


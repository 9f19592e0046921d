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
 * The write wrappers also keep each account's storage usage (the bytes of
 * its keys and values) and refuse writes past the quota: one place for
 * every store of every module. An account's usage is counted once from
 * the backend (an index scan of its rows' lengths) when a write first
 * needs it, then every write adds or subtracts what it changed (the size
 * of the row it replaces or deletes is one indexed lookup). Expiry and
 * commits that failed and came back forget all counts.
 *
 * Callbacks given to the listing calls (kv_users, map_list, archive_query)
 * return 0 to go on; a positive value stops the iteration early (the call
 * then returns 0) and a negative one stops it and makes the call fail. */
#include "store/store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

struct store *store_main;

static long long quota; /* bytes per account; 0: none */

static void (*observer)(const struct store_change *c);

void
store_set_observer(void (*fn)(const struct store_change *c))
{
	observer = fn;
}

/* Tell the observer what a write that worked (rc 0) changed. */
static int
changed(struct store *st, int rc, enum store_change_op op, const char *host,
    const char *user, const char *store, const char *key, const char *val,
    size_t len)
{
	struct store_change c = { op, !st->failed, host, user, store, key, val,
		len };

	if (rc == 0 && observer != NULL)
		observer(&c);
	return rc;
}

static void
changed_all(void)
{
	struct store_change c = { .op = STORE_CHANGE_ALL };

	if (observer != NULL)
		observer(&c);
}

#define USAGE_BUCKETS 4096
#define USAGE_MAX 100000 /* accounts counted; past that all are forgotten */

struct store_usage {
	struct store_usage *next;
	long long bytes;
	size_t klen;
	char key[]; /* host "\0" user */
};

static const struct store_backend *const backends[] = {
	&store_sqlite_backend,
	&store_memory_backend,
};

struct store *
store_open(const char *backend, const char *location, char *err, size_t errlen)
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
				st->usage = NULL;
				st->nusage = 0;
			}
			return st;
		}
	snprintf(err, errlen, "unknown storage backend \"%s\"", backend);
	return NULL;
}

static void usage_forget_all(struct store *st);

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->jn > 0)
		log_err("store: closing with %zu uncommitted writes", st->jn);
	usage_forget_all(st);
	free(st->usage);
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

/* ---- per-account usage ---- */

static size_t
usage_key(char *buf, size_t len, const char *host, const char *user)
{
	size_t hl = strlen(host), ul = strlen(user);

	if (hl + ul + 2 > len)
		return 0;
	memcpy(buf, host, hl + 1);
	memcpy(buf + hl + 1, user, ul + 1);
	return hl + ul + 2;
}

static struct store_usage **
usage_bucket(struct store *st, const char *key, size_t klen)
{
	if (st->usage == NULL)
		st->usage = xcalloc(USAGE_BUCKETS, sizeof(*st->usage));
	return &st->usage[hash_bytes(HASH_INIT, key, klen) % USAGE_BUCKETS];
}

static struct store_usage *
usage_find(struct store *st, const char *host, const char *user)
{
	char key[1024];
	size_t klen = usage_key(key, sizeof(key), host, user);
	struct store_usage *u;

	if (klen == 0 || st->usage == NULL)
		return NULL;
	for (u = *usage_bucket(st, key, klen); u; u = u->next)
		if (u->klen == klen && memcmp(u->key, key, klen) == 0)
			return u;
	return NULL;
}

static void
usage_unlink(struct store *st, struct store_usage **pp)
{
	struct store_usage *u = *pp;

	*pp = u->next;
	free(u);
	st->nusage--;
}

/* Forget every count. */
static void
usage_forget_all(struct store *st)
{
	size_t i;

	if (st->usage == NULL)
		return;
	for (i = 0; i < USAGE_BUCKETS; i++)
		while (st->usage[i] != NULL)
			usage_unlink(st, &st->usage[i]);
}

/* Forget user's count. */
static void
usage_forget(struct store *st, const char *host, const char *user)
{
	struct store_usage **pp;
	char key[1024];
	size_t klen = usage_key(key, sizeof(key), host, user);

	if (st->usage == NULL || klen == 0)
		return;
	for (pp = usage_bucket(st, key, klen); *pp; pp = &(*pp)->next)
		if ((*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0) {
			usage_unlink(st, pp);
			return;
		}
}

/* The account's count, counted from the backend if not known; NULL on a
 * failure. */
static struct store_usage *
usage_get(struct store *st, const char *host, const char *user)
{
	struct store_usage *u = usage_find(st, host, user), **b;
	char key[1024];
	size_t klen;
	long long bytes;

	if (u != NULL)
		return u;
	klen = usage_key(key, sizeof(key), host, user);
	if (klen == 0 ||
	    st->be->bytes(st, STORE_KV, host, user, NULL, NULL, &bytes) < 0)
		return NULL;
	if (st->nusage >= USAGE_MAX)
		usage_forget_all(st);
	u = xmalloc(sizeof(*u) + klen);
	memcpy(u->key, key, klen);
	u->klen = klen;
	u->bytes = bytes;
	b = usage_bucket(st, key, klen);
	u->next = *b;
	*b = u;
	st->nusage++;
	return u;
}

void
store_quota_set(long long bytes)
{
	quota = bytes > 0 ? bytes : 0;
}

long long
store_quota(void)
{
	return quota;
}

int
store_usage(const char *host, const char *user, long long *bytes)
{
	struct store *st = main_store();
	struct store_usage *u;

	if (st == NULL)
		return -1;
	if (st->failed)
		return st->be->bytes(
		    st, STORE_KV, host, user, NULL, NULL, bytes);
	u = usage_get(st, host, user);
	if (u == NULL)
		return -1;
	*bytes = u->bytes;
	return 0;
}

/* What a write does to its account's usage. */
struct acct {
	struct store_usage *u; /* NULL: not counted */
	long long delta;
};

/* Before a write to (host, user) of add bytes that replaces (or, for a
 * delete, removes) key's row in store (all its rows when key is NULL),
 * or nothing when !replaces: a->delta gets the change in usage. Returns
 * STORE_QUOTA when the write would take the account past the quota, -1
 * on a failure, else 0. While commits fail the backend lags the journal:
 * nothing is counted then, and all counts are forgotten once commits
 * work again. */
static int
acct_begin(struct store *st, struct acct *a, enum store_kind kind,
    const char *host, const char *user, const char *store, const char *key,
    int replaces, long long add)
{
	long long old = 0;

	a->u = NULL;
	a->delta = 0;
	if (host == NULL || user == NULL || *user == '\0' || st->failed)
		return 0;
	a->u = usage_find(st, host, user);
	if (a->u == NULL) {
		/* an account not counted yet: only a write that may grow it
		 * past a quota needs its count */
		if (quota == 0 || add == 0)
			return 0;
		a->u = usage_get(st, host, user);
		if (a->u == NULL)
			return -1;
	}
	if (replaces &&
	    st->be->bytes(st, kind, host, user, store, key, &old) < 0) {
		a->u = NULL;
		return -1;
	}
	a->delta = add - old;
	if (a->delta > 0 && quota > 0 && a->u->bytes + a->delta > quota) {
		log_debug("store: quota refused user=%s@%s store=%s "
			  "used=%lld quota=%lld write=%lld",
		    user, host, store, a->u->bytes, quota, a->delta);
		a->u = NULL;
		return STORE_QUOTA;
	}
	return 0;
}

static int
acct_end(struct acct *a, int rc)
{
	if (rc == 0 && a->u != NULL) {
		a->u->bytes += a->delta;
		if (a->u->bytes < 0)
			a->u->bytes = 0;
	}
	return rc;
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
		return be->archive_append(
		    st, host, user, store, key, when, with, val, len);
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
	st->sp_on = 0;
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
			"%zu writes kept for replay",
		    st->jn);
		st->failed = 1;
		changed_all();
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
	if (st->failed) {
		log_info("store: commits work again; %zu held writes "
			 "committed",
		    n);
		usage_forget_all(st);
		changed_all();
	}
	st->failed = 0;
	j_reset(st);
	return 0;
out_fail:
	/* the backend dropped its transaction: the journal is the copy */
	st->be->rollback(st);
	if (!st->failed) {
		log_err("store: commit failed; holding %zu writes and "
			"retrying",
		    n);
		changed_all();
	}
	st->failed = 1;
	return -1;
}

void
store_rollback(void)
{
	struct store *st = main_store();

	if (st == NULL)
		return;
	st->be->rollback(st);
	j_reset(st);
	st->failed = 0;
	/* usage counted from writes that are gone, reads cached of them */
	usage_forget_all(st);
	changed_all();
}

int
store_savepoint(void)
{
	struct store *st = main_store();

	if (st == NULL || st->be->savepoint == NULL || st->failed || st->sp_on)
		return -1;
	if (st->be->savepoint(st) < 0)
		return -1;
	st->sp_len = st->journal.len;
	st->sp_jn = st->jn;
	st->sp_on = 1;
	return 0;
}

int
store_savepoint_end(int undo)
{
	struct store *st = main_store();

	if (st == NULL || !st->sp_on)
		return -1;
	st->sp_on = 0;
	/* a commit failure meanwhile: the backend has no mark any more */
	if (st->failed || st->be->savepoint_end(st, undo) < 0) {
		store_rollback();
		return -1;
	}
	if (undo) {
		st->journal.len = st->sp_len;
		st->jn = st->sp_jn;
		usage_forget_all(st);
		changed_all();
	}
	return 0;
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
	struct acct a;
	size_t mark;
	int rc;

	if (st == NULL)
		return -1;
	rc = acct_begin(
	    st, &a, STORE_KV, host, user, store, NULL, 1, (long long)len);
	if (rc != 0)
		return rc;
	mark = st->journal.len;
	j_put(j_head(st, J_KV_SET, host, user, store), val, len);
	return changed(st, acct_end(&a, j_write(st, mark, NULL)),
	    STORE_CHANGE_KV_SET, host, user, store, NULL, val, len);
}

int
store_kv_del(const char *host, const char *user, const char *store)
{
	struct store *st = main_store();
	struct acct a;
	size_t mark;
	int rc;

	if (st == NULL)
		return -1;
	rc = acct_begin(st, &a, STORE_KV, host, user, store, NULL, 1, 0);
	if (rc != 0)
		return rc;
	mark = st->journal.len;
	j_head(st, J_KV_DEL, host, user, store);
	return changed(st, acct_end(&a, j_write(st, mark, NULL)),
	    STORE_CHANGE_KV_DEL, host, user, store, NULL, NULL, 0);
}

int
store_map_set(const char *host, const char *user, const char *store,
    const char *key, const char *val, size_t len)
{
	struct store *st = main_store();
	struct acct a;
	size_t mark;
	int rc;

	if (st == NULL)
		return -1;
	rc = acct_begin(st, &a, STORE_MAP, host, user, store, key, 1,
	    (long long)(strlen(key) + len));
	if (rc != 0)
		return rc;
	mark = st->journal.len;
	j_str(j_head(st, J_MAP_SET, host, user, store), key);
	j_put(&st->journal, val, len);
	return changed(st, acct_end(&a, j_write(st, mark, NULL)),
	    STORE_CHANGE_MAP_SET, host, user, store, key, val, len);
}

int
store_map_del(
    const char *host, const char *user, const char *store, const char *key)
{
	struct store *st = main_store();
	struct acct a;
	size_t mark;
	int rc;

	if (st == NULL)
		return -1;
	rc = acct_begin(st, &a, STORE_MAP, host, user, store, key, 1, 0);
	if (rc != 0)
		return rc;
	mark = st->journal.len;
	j_str(j_head(st, J_MAP_DEL, host, user, store), key);
	return changed(st, acct_end(&a, j_write(st, mark, NULL)),
	    STORE_CHANGE_MAP_DEL, host, user, store, key, NULL, 0);
}

int
store_archive_append(const char *host, const char *user, const char *store,
    const char *id, int64_t when, const char *with, const char *val, size_t len)
{
	struct store *st = main_store();
	struct acct a;
	size_t mark;
	int rc;

	if (st == NULL)
		return -1;
	rc = acct_begin(st, &a, STORE_ARCHIVE, host, user, store, id, 0,
	    (long long)(strlen(id) + (with ? strlen(with) : 0) + len));
	if (rc != 0)
		return rc;
	mark = st->journal.len;
	j_str(j_head(st, J_AR_APPEND, host, user, store), id);
	j_i64(&st->journal, when);
	j_str(&st->journal, with);
	j_put(&st->journal, val, len);
	return changed(st, acct_end(&a, j_write(st, mark, NULL)),
	    STORE_CHANGE_AR_APPEND, host, user, store, id, val, len);
}

int
store_archive_expire(const char *store, int64_t before, long *deleted)
{
	struct store *st = main_store();
	size_t mark;
	int rc;

	*deleted = 0;
	if (st == NULL)
		return -1;
	mark = st->journal.len;
	j_i64(j_head(st, J_AR_EXPIRE, NULL, NULL, store), before);
	rc = j_write(st, mark, deleted);
	/* rows of any account went: count them all again when needed */
	if (rc == 0 && *deleted > 0) {
		usage_forget_all(st);
		changed(st, rc, STORE_CHANGE_AR_EXPIRE, NULL, NULL, store, NULL,
		    NULL, 0);
	}
	return rc;
}

int
store_archive_del(
    const char *host, const char *user, const char *store, const char *id)
{
	struct store *st = main_store();
	struct acct a;
	size_t mark;
	int rc;

	if (st == NULL)
		return -1;
	rc = acct_begin(st, &a, STORE_ARCHIVE, host, user, store, id, 1, 0);
	if (rc != 0)
		return rc;
	mark = st->journal.len;
	j_str(j_head(st, J_AR_DEL, host, user, store), id);
	return changed(st, acct_end(&a, j_write(st, mark, NULL)),
	    STORE_CHANGE_AR_DEL, host, user, store, id, NULL, 0);
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
	usage_forget(st, host, user);
	return changed(st, j_write(st, mark, NULL), STORE_CHANGE_USER_DEL, host,
	    user, NULL, NULL, NULL, 0);
}

int
store_kv_get(const char *host, const char *user, const char *store, char **val,
    size_t *len)
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
    int (*cb)(void *ud, const char *key, const char *val, size_t len), void *ud)
{
	struct store *st = main_store();

	return st ? st->be->map_list(st, host, user, store, NULL, cb, ud) : -1;
}

int
store_map_list_prefix(const char *host, const char *user, const char *store,
    const char *prefix,
    int (*cb)(void *ud, const char *key, const char *val, size_t len), void *ud)
{
	struct store *st = main_store();

	return st ? st->be->map_list(st, host, user, store, prefix, cb, ud)
		  : -1;
}

int
store_map_count(
    const char *host, const char *user, const char *store, long *count)
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

/* ---- one account's state in one call ---- */

struct load_acc {
	struct store_load_res *r;
	size_t cap;
};

static int
load_row(void *ud, const char *key, const char *val, size_t len)
{
	struct load_acc *a = ud;
	struct store_load_row *row;

	if (a->r->nrows == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->r->rows = xrealloc(a->r->rows, a->cap * sizeof(*a->r->rows));
	}
	row = &a->r->rows[a->r->nrows++];
	row->key = xstrdup(key);
	row->val = xstrndup(val, len);
	row->len = len;
	return 0;
}

static int
load_item(void *ud, const struct store_archive_item *it)
{
	struct store_load_res *r = ud;

	r->count++;
	r->bytes += (long long)it->len;
	return 0;
}

static void
load_free(struct store_load_res *res, size_t n)
{
	size_t i, j;

	for (i = 0; res && i < n; i++) {
		free(res[i].val);
		for (j = 0; res[i].rows && j < res[i].nrows; j++) {
			free(res[i].rows[j].key);
			free(res[i].rows[j].val);
		}
		free(res[i].rows);
	}
	free(res);
}

void
store_load_inline(struct store *st, const char *host, const char *user,
    const struct store_load_part *parts, size_t nparts, store_load_cb cb,
    void *ud)
{
	struct store_load_res *res = xcalloc(nparts ? nparts : 1, sizeof(*res));
	size_t i;
	int rc = 0;

	for (i = 0; i < nparts && rc == 0; i++) {
		struct store_load_res *r = &res[i];
		struct store_archive_query q = { 0 };
		struct load_acc a = { r, 0 };

		switch (parts[i].kind) {
		case STORE_KV:
			rc = st->be->kv_get(
			    st, host, user, parts[i].store, &r->val, &r->len);
			r->found = rc == 0;
			if (rc == 1)
				rc = 0;
			break;
		case STORE_MAP:
			rc = st->be->map_list(
			    st, host, user, parts[i].store, NULL, load_row, &a);
			break;
		case STORE_ARCHIVE:
			q.host = host;
			q.user = user;
			q.store = parts[i].store;
			rc = st->be->archive_query(st, &q, load_item, r);
			break;
		}
	}
	if (rc < 0) {
		load_free(res, nparts);
		cb(ud, -1, NULL);
		return;
	}
	cb(ud, 0, res);
	load_free(res, nparts);
}

int
store_load_async(const char *host, const char *user,
    const struct store_load_part *parts, size_t nparts, store_load_cb cb,
    void *ud)
{
	struct store *st = main_store();

	if (st == NULL)
		return -1;
	if (st->be->load != NULL)
		return st->be->load(st, host, user, parts, nparts, cb, ud);
	store_load_inline(st, host, user, parts, nparts, cb, ud);
	return 0;
}

int
store_items_collect(void *ud, const struct store_archive_item *it)
{
	struct store_items *l = ud;
	struct store_item *x;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	x = &l->v[l->n++];
	x->id = xstrdup(it->id);
	x->when = it->when;
	x->val = xstrndup(it->val, it->len);
	x->len = it->len;
	return 0;
}

void
store_items_reverse(struct store_items *l)
{
	size_t i;

	for (i = 0; i < l->n / 2; i++) {
		struct store_item t = l->v[i];

		l->v[i] = l->v[l->n - 1 - i];
		l->v[l->n - 1 - i] = t;
	}
}

void
store_items_free(struct store_items *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].id);
		free(l->v[i].val);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

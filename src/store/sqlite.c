/* sqlite.c: the SQLite storage backend (the default).
 *
 * Durability: WAL with synchronous=FULL, so a COMMIT returns only after
 * the WAL is fsync'd; ternd acknowledges nothing before store_commit(),
 * and that commit is one fsync for everything written during one loop
 * iteration (group commit). synchronous=NORMAL would be faster but can
 * lose the last transactions on power loss, which breaks "nothing
 * acknowledged is lost".
 *
 * Every statement is prepared once and reused. A statement that is still
 * stepping (a listing whose callback calls back into the store with the
 * same statement) gets a temporary copy instead of being reset under it.
 *
 * Archives (schema 2): each (host, user, store) is an integer owner
 * (archive_owner); its items live in one table clustered on
 * (owner, "when", seq) WITHOUT ROWID, so a page of one user's archive is
 * one range of adjacent leaves, in the interface's order, with no lookup
 * from an index into a table. seq orders items of the same second by
 * insertion: it grows within a process and starts from the clock's
 * microseconds, so it also grows across restarts. One narrow index,
 * (id, owner), finds an RSM before/after id (it carries the key's
 * "when", seq). The `with` filter: in an account's archive it walks
 * archive_with_day, the days on which the owner has items with a JID,
 * and those days' ranges of the key; a host-wide archive (user "", such
 * as a MUC service's, whose rooms are its with-JIDs) has a negative
 * owner number and a partial index on (owner, with_jid). Expiry walks
 * the owners of a store and deletes one range of the key per owner.
 * Each index costs the commit of a busy loop iteration a page per
 * archive written: this is why there are so few. */
#include "store/store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"

enum sq_stmt {
	SQ_BEGIN,
	SQ_DATA_VERSION,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_SAVEPOINT,
	SQ_SAVEPOINT_UNDO,
	SQ_SAVEPOINT_RELEASE,
	SQ_KV_GET,
	SQ_KV_SET,
	SQ_KV_DEL,
	SQ_KV_USERS,
	SQ_MAP_GET,
	SQ_MAP_SET,
	SQ_MAP_DEL,
	SQ_MAP_DEL_ALL,
	SQ_MAP_LIST,
	SQ_MAP_LIST_RANGE,
	SQ_MAP_COUNT,
	SQ_AR_OWNER,
	SQ_AR_OWNER_ADD,
	SQ_AR_APPEND,
	SQ_AR_WITH_DAY,
	SQ_AR_POS,
	SQ_AR_DEL,
	SQ_AR_DEL_ALL,
	SQ_AR_EXPIRE,
	SQ_USER_DEL_KV,
	SQ_USER_DEL_MAP,
	SQ_USER_DEL_AR,
	SQ_USER_DEL_OWNER,
	SQ_USER_DEL_WITH,
	SQ_AR_DEL_ALL_WITH,
	SQ_AR_EXPIRE_WITH,
	SQ_SZ_KV,
	SQ_SZ_MAP,
	SQ_SZ_MAP_ALL,
	SQ_SZ_AR,
	SQ_SZ_AR_ALL,
	SQ_SZ_USER,
	SQ_NSTMT
};

/* the owner of (host, user, store), as a scalar subquery: run once */
#define OWNER_Q                                                                \
	"(SELECT owner FROM archive_owner WHERE host=?1 AND user=?2 "          \
	"AND store=?3)"
/* the day of unix time t, rounded down (SQLite's / truncates) */
#define DAY_OF(t) "((" t "-((" t "%86400)+86400)%86400)/86400)"

static const char *const sq_sql[SQ_NSTMT] = {
	[SQ_BEGIN] = "BEGIN IMMEDIATE",
	/* changes when another connection (ternctl) commits */
	[SQ_DATA_VERSION] = "PRAGMA data_version",
	[SQ_COMMIT] = "COMMIT",
	[SQ_ROLLBACK] = "ROLLBACK",
	[SQ_SAVEPOINT] = "SAVEPOINT tern_mark",
	[SQ_SAVEPOINT_UNDO] = "ROLLBACK TO tern_mark",
	[SQ_SAVEPOINT_RELEASE] = "RELEASE tern_mark",
	[SQ_KV_GET] = "SELECT value FROM kv WHERE host=?1 AND user=?2 "
		      "AND store=?3",
	[SQ_KV_SET] = "INSERT INTO kv(host,user,store,value) "
		      "VALUES(?1,?2,?3,?4) ON CONFLICT(host,user,store) "
		      "DO UPDATE SET value=excluded.value",
	[SQ_KV_DEL] = "DELETE FROM kv WHERE host=?1 AND user=?2 AND store=?3",
	[SQ_KV_USERS] = "SELECT user FROM kv WHERE host=?1 AND store=?2 "
			"ORDER BY user",
	[SQ_MAP_GET] = "SELECT value FROM map WHERE host=?1 AND user=?2 "
		       "AND store=?3 AND key=?4",
	[SQ_MAP_SET] = "INSERT INTO map(host,user,store,key,value) "
		       "VALUES(?1,?2,?3,?4,?5) "
		       "ON CONFLICT(host,user,store,key) "
		       "DO UPDATE SET value=excluded.value",
	[SQ_MAP_DEL] = "DELETE FROM map WHERE host=?1 AND user=?2 "
		       "AND store=?3 AND key=?4",
	[SQ_MAP_DEL_ALL] = "DELETE FROM map WHERE host=?1 AND user=?2 "
			   "AND store=?3",
	[SQ_MAP_LIST] = "SELECT key, value FROM map WHERE host=?1 "
			"AND user=?2 AND store=?3 ORDER BY key",
	/* keys from ?4 up to, not including, ?5: one range of the primary
	 * key index (text compares bytewise) */
	[SQ_MAP_LIST_RANGE] = "SELECT key, value FROM map WHERE host=?1 "
			      "AND user=?2 AND store=?3 AND key>=?4 "
			      "AND (?5 IS NULL OR key<?5) ORDER BY key",
	[SQ_MAP_COUNT] = "SELECT count(*) FROM map WHERE host=?1 "
			 "AND user=?2 AND store=?3",
	[SQ_AR_OWNER] = "SELECT owner FROM archive_owner WHERE host=?1 "
			"AND user=?2 AND store=?3",
	/* host-wide archives (user "") count down from -1, accounts' up
	 * from 1: see archive_item_with */
	[SQ_AR_OWNER_ADD] = "INSERT INTO archive_owner(owner,host,user,store) "
			    "SELECT CASE WHEN ?2='' THEN "
			    "min(coalesce(min(owner),0),0)-1 ELSE "
			    "max(coalesce(max(owner),0),0)+1 END,?1,?2,?3 "
			    "FROM archive_owner",
	[SQ_AR_APPEND] = "INSERT INTO archive_item(owner,\"when\",seq,id,"
			 "with_jid,value) VALUES(?1,?2,?3,?4,?5,?6)",
	/* nothing written when the day is known already */
	[SQ_AR_WITH_DAY] =
	    "INSERT OR IGNORE INTO archive_with_day"
	    "(owner,with_jid,day) VALUES(?1,?2," DAY_OF("?3") ")",
	[SQ_AR_POS] =
	    "SELECT \"when\", seq FROM archive_item WHERE owner=" OWNER_Q
	    " AND id=?4",
	[SQ_AR_DEL] =
	    "DELETE FROM archive_item WHERE owner=" OWNER_Q " AND id=?4",
	[SQ_AR_DEL_ALL] = "DELETE FROM archive_item WHERE owner=" OWNER_Q,
	/* one range of the key per owner of the store */
	[SQ_AR_EXPIRE] = "DELETE FROM archive_item WHERE owner IN "
			 "(SELECT owner FROM archive_owner WHERE store=?1) "
			 "AND \"when\"<?2",
	[SQ_USER_DEL_KV] = "DELETE FROM kv WHERE host=?1 AND user=?2",
	[SQ_USER_DEL_MAP] = "DELETE FROM map WHERE host=?1 AND user=?2",
	[SQ_USER_DEL_AR] = "DELETE FROM archive_item WHERE owner IN "
			   "(SELECT owner FROM archive_owner WHERE host=?1 "
			   "AND user=?2)",
	[SQ_USER_DEL_WITH] = "DELETE FROM archive_with_day WHERE owner IN "
			     "(SELECT owner FROM archive_owner WHERE host=?1 "
			     "AND user=?2)",
	[SQ_AR_DEL_ALL_WITH] =
	    "DELETE FROM archive_with_day WHERE owner=" OWNER_Q,
	/* days wholly before the time (a day partly kept stays) */
	[SQ_AR_EXPIRE_WITH] = "DELETE FROM archive_with_day WHERE owner IN "
			      "(SELECT owner FROM archive_owner WHERE store=?1)"
			      " AND day<" DAY_OF("?2"),
	[SQ_USER_DEL_OWNER] = "DELETE FROM archive_owner WHERE host=?1 "
			      "AND user=?2",
/* Sizes for the account quota (store.c): bytes of keys and values.
 * length() of a BLOB reads no overflow page; TEXT is cast to count
 * bytes, not characters. */
#define SZ_MAP "length(CAST(key AS BLOB))+length(value)"
#define SZ_AR                                                                  \
	"length(CAST(id AS BLOB))+length(CAST(with_jid AS BLOB))"              \
	"+length(value)"
	[SQ_SZ_KV] = "SELECT length(value) FROM kv WHERE host=?1 AND user=?2 "
		     "AND store=?3",
	[SQ_SZ_MAP] = "SELECT " SZ_MAP " FROM map WHERE host=?1 AND user=?2 "
		      "AND store=?3 AND key=?4",
	[SQ_SZ_MAP_ALL] = "SELECT coalesce(sum(" SZ_MAP "),0) FROM map "
			  "WHERE host=?1 AND user=?2 AND store=?3",
	[SQ_SZ_AR] = "SELECT " SZ_AR " FROM archive_item WHERE owner=" OWNER_Q
		     " AND id=?4",
	[SQ_SZ_AR_ALL] = "SELECT coalesce(sum(" SZ_AR "),0) FROM archive_item "
			 "WHERE owner=" OWNER_Q,
	[SQ_SZ_USER] = "SELECT (SELECT coalesce(sum(length(value)),0) FROM kv "
		       "WHERE host=?1 AND user=?2)"
		       "+(SELECT coalesce(sum(" SZ_MAP "),0) FROM map "
		       "WHERE host=?1 AND user=?2)"
		       "+(SELECT coalesce(sum(" SZ_AR "),0) FROM archive_item "
		       "WHERE owner IN (SELECT owner FROM archive_owner "
		       "WHERE host=?1 AND user=?2))",
#undef SZ_MAP
#undef SZ_AR
};

/* Schema migrations, applied in order inside one transaction at open;
 * schema_version holds the number of the last one applied. Never edit a
 * released entry: append a new one. */
static const char *const sq_migrations[] = {
	/* 1: the three store kinds */
	"CREATE TABLE kv("
	" host TEXT NOT NULL, user TEXT NOT NULL, store TEXT NOT NULL,"
	" value BLOB NOT NULL,"
	" PRIMARY KEY(host, user, store));"
	"CREATE TABLE map("
	" host TEXT NOT NULL, user TEXT NOT NULL, store TEXT NOT NULL,"
	" key TEXT NOT NULL, value BLOB NOT NULL,"
	" PRIMARY KEY(host, user, store, key));"
	"CREATE TABLE archive("
	" seq INTEGER PRIMARY KEY," /* the rowid: insertion order */
	" host TEXT NOT NULL, user TEXT NOT NULL, store TEXT NOT NULL,"
	" id TEXT NOT NULL, \"when\" INTEGER NOT NULL,"
	" with_jid TEXT NOT NULL DEFAULT '', value BLOB NOT NULL,"
	" UNIQUE(host, user, store, id));"
	"CREATE INDEX archive_when ON archive(host, user, store, \"when\");"
	"CREATE INDEX archive_with ON archive(host, user, store, with_jid,"
	" \"when\");"
	/* expiry runs over all users of one store */
	"CREATE INDEX archive_expiry ON archive(store, \"when\");",
	/* 2: archives keyed by an integer owner, items clustered by
	 * (owner, "when", seq); every item keeps its id, time and seq (the
	 * old rowid, so the order is kept). The indexes are made after the
	 * copy: one sort instead of a random insert per row. */
	"CREATE TABLE archive_owner("
	" owner INTEGER PRIMARY KEY,"
	" host TEXT NOT NULL, user TEXT NOT NULL, store TEXT NOT NULL,"
	" UNIQUE(host, user, store));"
	"CREATE TABLE archive_item("
	" owner INTEGER NOT NULL, \"when\" INTEGER NOT NULL,"
	" seq INTEGER NOT NULL, id TEXT NOT NULL,"
	" with_jid TEXT NOT NULL, value BLOB NOT NULL,"
	" PRIMARY KEY(owner, \"when\", seq)) WITHOUT ROWID;"
	"INSERT INTO archive_owner(host, user, store)"
	" SELECT DISTINCT host, user, store FROM archive WHERE user<>''"
	" ORDER BY host, user, store;"
	"INSERT INTO archive_owner(owner, host, user, store)"
	" SELECT -row_number() OVER (ORDER BY host, store), host, user, store"
	" FROM (SELECT DISTINCT host, user, store FROM archive WHERE user='');"
	"INSERT INTO archive_item(owner, \"when\", seq, id, with_jid, value)"
	" SELECT o.owner, a.\"when\", a.seq, a.id, a.with_jid, a.value"
	" FROM archive a JOIN archive_owner o"
	" ON o.host = a.host AND o.user = a.user AND o.store = a.store"
	" ORDER BY o.owner, a.\"when\", a.seq;"
	/* id first: ids that sort by time (mam's, offline's) all land at
	 * the right end of this one index, a page or two per commit for
	 * every archive, where (owner, id) dirtied a page per owner */
	"CREATE UNIQUE INDEX archive_item_id ON archive_item(id, owner);"
	/* A host-wide archive (user "", owner < 0: MUC rooms told apart by
	 * with_jid) is queried by with_jid: it has an index. An account's
	 * archive is queried mostly by time: for with, the days on which
	 * it has items with a JID are walked (archive_with_day), a row
	 * written once per day and JID where an index would dirty a page
	 * per archive in every commit (2.8 against 2.3 CPU s per 100k
	 * archived messages). */
	"CREATE INDEX archive_item_with ON archive_item(owner, with_jid)"
	" WHERE owner<0;"
	"CREATE TABLE archive_with_day("
	" owner INTEGER NOT NULL, with_jid TEXT NOT NULL, day INTEGER NOT NULL,"
	" PRIMARY KEY(owner, with_jid, day)) WITHOUT ROWID;"
	"INSERT INTO archive_with_day(owner, with_jid, day)"
	" SELECT DISTINCT owner, with_jid, " DAY_OF("\"when\"")
	/* clang-format off */
	" FROM archive_item WHERE owner>=0;"
	"DROP TABLE archive;",
	/* clang-format on */
};

/* Archive queries: one statement per combination of the fields present,
 * prepared on first use and kept. */
enum {
	AQ_WITH = 1 << 0,
	AQ_START = 1 << 1,
	AQ_END = 1 << 2,
	AQ_AFTER = 1 << 3,
	AQ_BEFORE = 1 << 4,
	AQ_IDS = 1 << 5,
	AQ_REVERSE = 1 << 6,
	AQ_COUNT = 1 << 7,
	AQ_SHARED = 1 << 8, /* with, in a host-wide archive */
	AQ_NMASK = 1 << 9,
};

/* Archive sizes (whole archive, or all items with one JID) remembered
 * after a count: counting 100,000 rows of an index costs milliseconds
 * and a MAM page asks for it every time. Appends keep a remembered size
 * current; deletes forget the sizes of that archive, expiry and
 * rollbacks forget all. Keys are "host\0user\0store\0with". */
#define CNT_SLOTS 1024
#define CNT_KEY_MAX 1200

struct sq_count {
	char *key;
	size_t klen;
	long n;
};

/* Owners of archives written to, remembered so that an append is one
 * INSERT: a direct-mapped cache by "host\0user\0store". An owner added
 * in a transaction that is rolled back is gone: rollbacks (and user
 * deletion) forget them all. */
#define OWN_SLOTS 4096

struct sq_owner {
	char *key;
	size_t klen;
	int64_t owner;
	/* the last (with, day) written to archive_with_day for it */
	char *wd;
	size_t wdlen;
};

struct sq_store;
static void cnt_forget(
    struct sq_store *s, const char *host, const char *user, const char *store);
static void own_forget(struct sq_store *s);

struct sq_store {
	struct store base; /* first: the wrappers cast to it */
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmt[SQ_NSTMT];
	sqlite3_stmt *aq[AQ_NMASK];
	struct sq_count cnt[CNT_SLOTS];
	struct sq_owner own[OWN_SLOTS];
	int64_t seq; /* the last seq given to an archive item */
	int64_t data_version;
};

/* A statement checked out for one call. */
struct sq_use {
	sqlite3_stmt *s;
	int temp; /* finalize after use instead of reset */
};

static struct sq_store *
sq(struct store *st)
{
	return (struct sq_store *)st;
}

static void
sq_log_err(struct sq_store *s, const char *what)
{
	log_err(
	    "store: sqlite %s: %s (%s)", what, sqlite3_errmsg(s->db), s->path);
}

static int
sq_prepare(
    struct sq_store *s, const char *sql, int persistent, sqlite3_stmt **out)
{
	unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0;

	if (sqlite3_prepare_v3(s->db, sql, -1, flags, out, NULL) != SQLITE_OK) {
		sq_log_err(s, "prepare");
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Take *slot for one call, or a fresh copy if it is in use by a caller
 * further up the stack (re-entrant listing callbacks). */
static int
sq_take(
    struct sq_store *s, sqlite3_stmt **slot, const char *sql, struct sq_use *u)
{
	u->temp = 0;
	if (*slot == NULL && sq_prepare(s, sql, 1, slot) < 0)
		return -1;
	if (!sqlite3_stmt_busy(*slot)) {
		u->s = *slot;
		return 0;
	}
	u->temp = 1;
	return sq_prepare(s, sql, 0, &u->s);
}

static int
sq_take_id(struct sq_store *s, enum sq_stmt id, struct sq_use *u)
{
	return sq_take(s, &s->stmt[id], sq_sql[id], u);
}

static void
sq_release(struct sq_use *u)
{
	if (u->s == NULL)
		return;
	if (u->temp) {
		sqlite3_finalize(u->s);
	} else {
		sqlite3_reset(u->s);
		sqlite3_clear_bindings(u->s);
	}
	u->s = NULL;
}

/* Bindings keep pointers to the caller's memory (SQLITE_STATIC): every
 * statement is reset before the call returns. */
static int
sq_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

static int
sq_bind_blob(sqlite3_stmt *s, int i, const char *v, size_t len)
{
	/* a NULL pointer would bind SQL NULL, not an empty value */
	return sqlite3_bind_blob64(s, i, v ? v : "", len, SQLITE_STATIC);
}

static int
sq_bind_huss(
    sqlite3_stmt *s, const char *host, const char *user, const char *store)
{
	if (sq_bind_text(s, 1, host) != SQLITE_OK ||
	    sq_bind_text(s, 2, user) != SQLITE_OK)
		return -1;
	if (store != NULL && sq_bind_text(s, 3, store) != SQLITE_OK)
		return -1;
	return 0;
}

/* Writes open the transaction on first use; store_commit() ends it. The
 * autocommit flag is the truth: SQLite may have rolled back by itself
 * after an I/O error. */
static int
sq_begin(struct sq_store *s)
{
	struct sq_use u;
	int rc;

	if (!sqlite3_get_autocommit(s->db))
		return 0;
	if (sq_take_id(s, SQ_BEGIN, &u) < 0)
		return -1;
	rc = sqlite3_step(u.s);
	if (rc != SQLITE_DONE)
		sq_log_err(s, "begin");
	sq_release(&u);
	if (rc != SQLITE_DONE)
		return -1;
	/* ternctl may have written meanwhile (deleted an account): what
	 * the caches say of archives may be wrong now */
	if (sq_take_id(s, SQ_DATA_VERSION, &u) < 0)
		return -1;
	if (sqlite3_step(u.s) == SQLITE_ROW &&
	    sqlite3_column_int64(u.s, 0) != s->data_version) {
		s->data_version = sqlite3_column_int64(u.s, 0);
		cnt_forget(s, NULL, NULL, NULL);
		own_forget(s);
	}
	sq_release(&u);
	return 0;
}

/* Step a write statement whose parameters are bound, in the write
 * transaction. */
static int
sq_exec_write(struct sq_store *s, struct sq_use *u, const char *what)
{
	int rc = sqlite3_step(u->s);

	if (rc != SQLITE_DONE) {
		sq_log_err(s, what);
		return -1;
	}
	return 0;
}

static int
sq_run(struct sq_store *s, enum sq_stmt id)
{
	struct sq_use u;
	int ret;

	if (sq_take_id(s, id, &u) < 0)
		return -1;
	ret = sq_exec_write(s, &u, sq_sql[id]);
	sq_release(&u);
	return ret;
}

static int
sq_commit(struct store *st)
{
	struct sq_store *s = sq(st);

	if (sqlite3_get_autocommit(s->db))
		return 0;
	if (sq_run(s, SQ_COMMIT) == 0)
		return 0;
	/* a failed COMMIT may leave the transaction open: drop it so the
	 * next write starts clean rather than piling onto a broken one */
	if (!sqlite3_get_autocommit(s->db))
		sq_run(s, SQ_ROLLBACK);
	cnt_forget(s, NULL, NULL, NULL);
	own_forget(s);
	return -1;
}

static int
sq_in_tx(struct store *st)
{
	return !sqlite3_get_autocommit(sq(st)->db);
}

static void
sq_rollback(struct store *st)
{
	struct sq_store *s = sq(st);

	if (!sqlite3_get_autocommit(s->db))
		sq_run(s, SQ_ROLLBACK);
	cnt_forget(s, NULL, NULL, NULL);
	own_forget(s);
}

/* A mark inside the write transaction (opened as any write opens it),
 * which the writes after it can be rolled back to. */
static int
sq_savepoint(struct store *st)
{
	struct sq_store *s = sq(st);

	if (sq_begin(s) < 0)
		return -1;
	return sq_run(s, SQ_SAVEPOINT);
}

static int
sq_savepoint_end(struct store *st, int undo)
{
	struct sq_store *s = sq(st);
	int rc = 0;

	if (undo) {
		rc = sq_run(s, SQ_SAVEPOINT_UNDO);
		/* owners and counts read since may be of undone rows */
		cnt_forget(s, NULL, NULL, NULL);
		own_forget(s);
	}
	if (rc == 0)
		rc = sq_run(s, SQ_SAVEPOINT_RELEASE);
	return rc;
}

static char *
sq_copy_blob(sqlite3_stmt *s, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(s, col);
	size_t n = (size_t)sqlite3_column_bytes(s, col);
	char *v = xmalloc(n + 1);

	if (n > 0)
		memcpy(v, p, n);
	v[n] = '\0';
	if (len != NULL)
		*len = n;
	return v;
}

/* ---- keyval ---- */

static int
sq_kv_get(struct store *st, const char *host, const char *user,
    const char *store, char **val, size_t *len)
{
	struct sq_store *s = sq(st);
	struct sq_use u;
	int rc, ret = -1;

	if (sq_take_id(s, SQ_KV_GET, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, host, user, store) < 0)
		goto out_release;
	rc = sqlite3_step(u.s);
	if (rc == SQLITE_ROW) {
		*val = sq_copy_blob(u.s, 0, len);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = 1;
	} else {
		sq_log_err(s, "kv_get");
	}
out_release:
	sq_release(&u);
	return ret;
}

static int
sq_kv_set(struct store *st, const char *host, const char *user,
    const char *store, const char *val, size_t len)
{
	struct sq_store *s = sq(st);
	struct sq_use u;
	int ret = -1;

	if (sq_begin(s) < 0 || sq_take_id(s, SQ_KV_SET, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, host, user, store) == 0 &&
	    sq_bind_blob(u.s, 4, val, len) == SQLITE_OK)
		ret = sq_exec_write(s, &u, "kv_set");
	sq_release(&u);
	return ret;
}

static int
sq_kv_del(
    struct store *st, const char *host, const char *user, const char *store)
{
	struct sq_store *s = sq(st);
	struct sq_use u;
	int ret = -1;

	if (sq_begin(s) < 0 || sq_take_id(s, SQ_KV_DEL, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, host, user, store) == 0)
		ret = sq_exec_write(s, &u, "kv_del");
	sq_release(&u);
	return ret;
}

/* Step a listing statement, calling one of the callbacks per row. */
static int
sq_steps(struct sq_store *s, sqlite3_stmt *stmt, const char *what,
    int (*row)(sqlite3_stmt *stmt, void *ctx), void *ctx)
{
	int rc, cbret;

	for (;;) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			return 0;
		if (rc != SQLITE_ROW) {
			sq_log_err(s, what);
			return -1;
		}
		cbret = row(stmt, ctx);
		if (cbret < 0)
			return -1;
		if (cbret > 0)
			return 0;
	}
}

struct sq_users_ctx {
	int (*cb)(void *ud, const char *user);
	void *ud;
};

static int
sq_users_row(sqlite3_stmt *stmt, void *ctx)
{
	struct sq_users_ctx *c = ctx;
	const char *user = (const char *)sqlite3_column_text(stmt, 0);

	return c->cb(c->ud, user ? user : "");
}

static int
sq_kv_users(struct store *st, const char *host, const char *store,
    int (*cb)(void *ud, const char *user), void *ud)
{
	struct sq_store *s = sq(st);
	struct sq_users_ctx c = { cb, ud };
	struct sq_use u;
	int ret = -1;

	if (sq_take_id(s, SQ_KV_USERS, &u) < 0)
		return -1;
	if (sq_bind_text(u.s, 1, host) == SQLITE_OK &&
	    sq_bind_text(u.s, 2, store) == SQLITE_OK)
		ret = sq_steps(s, u.s, "kv_users", sq_users_row, &c);
	sq_release(&u);
	return ret;
}

/* ---- map ---- */

static int
sq_map_get(struct store *st, const char *host, const char *user,
    const char *store, const char *key, char **val, size_t *len)
{
	struct sq_store *s = sq(st);
	struct sq_use u;
	int rc, ret = -1;

	if (sq_take_id(s, SQ_MAP_GET, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, host, user, store) < 0 ||
	    sq_bind_text(u.s, 4, key) != SQLITE_OK)
		goto out_release;
	rc = sqlite3_step(u.s);
	if (rc == SQLITE_ROW) {
		*val = sq_copy_blob(u.s, 0, len);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = 1;
	} else {
		sq_log_err(s, "map_get");
	}
out_release:
	sq_release(&u);
	return ret;
}

static int
sq_map_set(struct store *st, const char *host, const char *user,
    const char *store, const char *key, const char *val, size_t len)
{
	struct sq_store *s = sq(st);
	struct sq_use u;
	int ret = -1;

	if (sq_begin(s) < 0 || sq_take_id(s, SQ_MAP_SET, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, host, user, store) == 0 &&
	    sq_bind_text(u.s, 4, key) == SQLITE_OK &&
	    sq_bind_blob(u.s, 5, val, len) == SQLITE_OK)
		ret = sq_exec_write(s, &u, "map_set");
	sq_release(&u);
	return ret;
}

static int
sq_map_del(struct store *st, const char *host, const char *user,
    const char *store, const char *key)
{
	struct sq_store *s = sq(st);
	struct sq_use u;
	int ret = -1;

	if (sq_begin(s) < 0 ||
	    sq_take_id(s, key ? SQ_MAP_DEL : SQ_MAP_DEL_ALL, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, host, user, store) == 0 &&
	    (key == NULL || sq_bind_text(u.s, 4, key) == SQLITE_OK))
		ret = sq_exec_write(s, &u, "map_del");
	sq_release(&u);
	return ret;
}

struct sq_map_ctx {
	int (*cb)(void *ud, const char *key, const char *val, size_t len);
	void *ud;
};

static int
sq_map_row(sqlite3_stmt *stmt, void *ctx)
{
	struct sq_map_ctx *c = ctx;
	const char *key = (const char *)sqlite3_column_text(stmt, 0);
	const char *val = sqlite3_column_blob(stmt, 1);
	size_t len = (size_t)sqlite3_column_bytes(stmt, 1);

	return c->cb(c->ud, key ? key : "", val ? val : "", len);
}

static int
sq_map_list(struct store *st, const char *host, const char *user,
    const char *store, const char *prefix,
    int (*cb)(void *ud, const char *key, const char *val, size_t len), void *ud)
{
	struct sq_store *s = sq(st);
	struct sq_map_ctx c = { cb, ud };
	struct sq_use u;
	char *end = NULL;
	size_t n;
	int ret = -1;

	if (sq_take_id(s, prefix ? SQ_MAP_LIST_RANGE : SQ_MAP_LIST, &u) < 0)
		return -1;
	if (prefix != NULL) {
		/* the first key after every key with this prefix: the
		 * prefix with its last byte that is not 0xff raised by one
		 * (none: no upper bound) */
		n = strlen(prefix);
		end = xstrdup(prefix);
		while (n > 0 && (unsigned char)end[n - 1] == 0xff)
			n--;
		if (n > 0) {
			end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
			end[n] = '\0';
		} else {
			free(end);
			end = NULL;
		}
	}
	if (sq_bind_huss(u.s, host, user, store) == 0 &&
	    (prefix == NULL ||
		(sq_bind_text(u.s, 4, prefix) == SQLITE_OK &&
		    (end != NULL ? sq_bind_text(u.s, 5, end)
				 : sqlite3_bind_null(u.s, 5)) == SQLITE_OK)))
		ret = sq_steps(s, u.s, "map_list", sq_map_row, &c);
	free(end);
	sq_release(&u);
	return ret;
}

static int
sq_step_count(
    struct sq_store *s, sqlite3_stmt *stmt, const char *what, long *count)
{
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		sq_log_err(s, what);
		return -1;
	}
	*count = (long)sqlite3_column_int64(stmt, 0);
	return 0;
}

static int
sq_map_count(struct store *st, const char *host, const char *user,
    const char *store, long *count)
{
	struct sq_store *s = sq(st);
	struct sq_use u;
	int ret = -1;

	if (sq_take_id(s, SQ_MAP_COUNT, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, host, user, store) == 0)
		ret = sq_step_count(s, u.s, "map_count", count);
	sq_release(&u);
	return ret;
}

/* ---- archive ---- */

/* "host\0user\0store\0" for a whole archive (with NULL), with
 * "with\0" after it for one JID's part ("" included); 0 if too long. */
static size_t
cnt_key(char *buf, const char *host, const char *user, const char *store,
    const char *with)
{
	const char *parts[4] = { host, user, store, with };
	size_t off = 0, n, i;

	for (i = 0; i < (with ? 4u : 3u); i++) {
		n = strlen(parts[i]) + 1;
		if (off + n > CNT_KEY_MAX)
			return 0;
		memcpy(buf + off, parts[i], n);
		off += n;
	}
	return off;
}

static struct sq_count *
cnt_slot(struct sq_store *s, const char *key, size_t klen)
{
	return &s->cnt[hash_bytes(HASH_INIT, key, klen) % CNT_SLOTS];
}

static struct sq_count *
cnt_find(struct sq_store *s, const char *key, size_t klen)
{
	struct sq_count *c = cnt_slot(s, key, klen);

	return c->key && c->klen == klen && memcmp(c->key, key, klen) == 0
		   ? c
		   : NULL;
}

static void
cnt_put(struct sq_store *s, const char *key, size_t klen, long n)
{
	struct sq_count *c = cnt_slot(s, key, klen);

	free(c->key);
	c->key = xmalloc(klen);
	memcpy(c->key, key, klen);
	c->klen = klen;
	c->n = n;
}

/* Forget the sizes of one archive (prefix "host\0user\0store\0"), or
 * all when host is NULL. */
static void
cnt_forget(
    struct sq_store *s, const char *host, const char *user, const char *store)
{
	char pre[CNT_KEY_MAX];
	size_t plen = 0, i;

	if (host) {
		plen = cnt_key(pre, host, user, store, NULL);
		if (plen == 0)
			host = NULL;
	}
	for (i = 0; i < CNT_SLOTS; i++) {
		struct sq_count *c = &s->cnt[i];

		if (c->key == NULL ||
		    (host &&
			(c->klen < plen || memcmp(c->key, pre, plen) != 0)))
			continue;
		free(c->key);
		c->key = NULL;
	}
}

/* An item was appended: remembered sizes it belongs to grow. */
static void
cnt_bump(struct sq_store *s, const char *host, const char *user,
    const char *store, const char *with)
{
	char key[CNT_KEY_MAX];
	struct sq_count *c;
	size_t klen;

	klen = cnt_key(key, host, user, store, NULL);
	if (klen && (c = cnt_find(s, key, klen)) != NULL)
		c->n++;
	klen = cnt_key(key, host, user, store, with ? with : "");
	if (klen && (c = cnt_find(s, key, klen)) != NULL)
		c->n++;
}

static void
own_forget(struct sq_store *s)
{
	size_t i;

	for (i = 0; i < OWN_SLOTS; i++) {
		free(s->own[i].key);
		free(s->own[i].wd);
		s->own[i].key = s->own[i].wd = NULL;
	}
}

/* The owner number of (host, user, store), added in the write
 * transaction when it has none: 0 and *owner (and *slot, its cache
 * entry, or NULL), or -1. */
static int
sq_owner(struct sq_store *s, const char *host, const char *user,
    const char *store, int64_t *owner, struct sq_owner **slot)
{
	char key[CNT_KEY_MAX];
	size_t klen = cnt_key(key, host, user, store, NULL);
	struct sq_owner *o = NULL;
	struct sq_use u;
	int rc, ret = -1;

	if (klen) {
		o = &s->own[hash_bytes(HASH_INIT, key, klen) % OWN_SLOTS];
		if (o->key && o->klen == klen &&
		    memcmp(o->key, key, klen) == 0) {
			*owner = o->owner;
			*slot = o;
			return 0;
		}
	}
	*slot = NULL;
	if (sq_take_id(s, SQ_AR_OWNER, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, host, user, store) < 0)
		goto out_release;
	rc = sqlite3_step(u.s);
	if (rc == SQLITE_ROW) {
		*owner = sqlite3_column_int64(u.s, 0);
		ret = 0;
	} else if (rc != SQLITE_DONE) {
		sq_log_err(s, "archive owner");
	}
	sq_release(&u);
	if (rc == SQLITE_DONE) {
		if (sq_take_id(s, SQ_AR_OWNER_ADD, &u) < 0)
			return -1;
		if (sq_bind_huss(u.s, host, user, store) == 0 &&
		    sq_exec_write(s, &u, "archive owner add") == 0) {
			*owner = sqlite3_last_insert_rowid(s->db);
			ret = 0;
		}
	}
	if (ret == 0 && o != NULL) {
		free(o->key);
		free(o->wd);
		o->wd = NULL;
		o->key = xmalloc(klen);
		memcpy(o->key, key, klen);
		o->klen = klen;
		o->owner = *owner;
		*slot = o;
	}
out_release:
	sq_release(&u);
	return ret;
}

/* The next seq: above the last one given and at least the clock in
 * microseconds, so a restarted ternd goes on above what it gave before
 * (unless it appended more than a million items a second). */
static int64_t
sq_next_seq(struct sq_store *s)
{
	struct timespec ts;
	int64_t us;

	clock_gettime(CLOCK_REALTIME, &ts);
	us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	s->seq = us > s->seq ? us : s->seq + 1;
	return s->seq;
}

/* Note that owner has items with `with` on the day of when: one
 * INSERT OR IGNORE, skipped when it is the last (with, day) noted for
 * that owner. */
static int
sq_with_day(struct sq_store *s, struct sq_owner *o, int64_t owner,
    const char *with, int64_t when)
{
	int64_t day = when >= 0 ? when / 86400 : -((-when + 86399) / 86400);
	size_t wl = strlen(with), n = wl + 1 + sizeof(day);
	struct sq_use u;
	char *wd;
	int ret = -1;

	if (owner < 0)
		return 0; /* host-wide: archive_item_with serves it */
	if (o && o->wd && o->wdlen == n && memcmp(o->wd, with, wl + 1) == 0 &&
	    memcmp(o->wd + wl + 1, &day, sizeof(day)) == 0)
		return 0;
	if (sq_take_id(s, SQ_AR_WITH_DAY, &u) < 0)
		return -1;
	if (sqlite3_bind_int64(u.s, 1, owner) == SQLITE_OK &&
	    sq_bind_text(u.s, 2, with) == SQLITE_OK &&
	    sqlite3_bind_int64(u.s, 3, when) == SQLITE_OK)
		ret = sq_exec_write(s, &u, "archive_append with");
	sq_release(&u);
	if (ret == 0 && o) {
		wd = xmalloc(n);
		memcpy(wd, with, wl + 1);
		memcpy(wd + wl + 1, &day, sizeof(day));
		free(o->wd);
		o->wd = wd;
		o->wdlen = n;
	}
	return ret;
}

static int
sq_archive_append(struct store *st, const char *host, const char *user,
    const char *store, const char *id, int64_t when, const char *with,
    const char *val, size_t len)
{
	struct sq_store *s = sq(st);
	struct sq_owner *o;
	struct sq_use u;
	int64_t owner;
	int ret = -1;

	if (with == NULL)
		with = "";
	if (sq_begin(s) < 0 || sq_owner(s, host, user, store, &owner, &o) < 0 ||
	    sq_take_id(s, SQ_AR_APPEND, &u) < 0)
		return -1;
	if (sqlite3_bind_int64(u.s, 1, owner) == SQLITE_OK &&
	    sqlite3_bind_int64(u.s, 2, when) == SQLITE_OK &&
	    sqlite3_bind_int64(u.s, 3, sq_next_seq(s)) == SQLITE_OK &&
	    sq_bind_text(u.s, 4, id) == SQLITE_OK &&
	    sq_bind_text(u.s, 5, with) == SQLITE_OK &&
	    sq_bind_blob(u.s, 6, val, len) == SQLITE_OK)
		ret = sq_exec_write(s, &u, "archive_append");
	sq_release(&u);
	if (ret == 0)
		ret = sq_with_day(s, o, owner, with, when);
	if (ret == 0)
		cnt_bump(s, host, user, store, with);
	else
		cnt_forget(s, NULL, NULL, NULL);
	return ret;
}

/* A `with` query walks the days on which the owner's archive has items
 * with that JID (archive_with_day, in day order) and, for each, that
 * day's range of the owner's items: ORDER BY d.day, a."when", a.seq is
 * the archive's order (day grows with "when"), so no sort. There the
 * time and position filters are written +a."when" so that SQLite keeps
 * the day as the range it scans (a bound of ?5..?10 instead would scan
 * from it through every later day once per day), and they prune days. */
static void
sq_aq_sql(unsigned mask, struct sbuf *b)
{
	const char *dir = (mask & AQ_REVERSE) ? " DESC" : "";
	unsigned days = (mask & AQ_WITH) && !(mask & AQ_SHARED);
	const char *w = days ? "+a.\"when\"" : "a.\"when\"";

	if (mask & AQ_COUNT)
		sbuf_puts(b, "SELECT count(*)");
	else
		sbuf_puts(b, "SELECT a.id, a.\"when\", a.with_jid, a.value");
	if (mask & AQ_SHARED)
		sbuf_puts(b, " FROM archive_item a WHERE a.owner=" OWNER_Q
			     " AND a.owner<0 AND a.with_jid=?4");
	else if (mask & AQ_WITH)
		sbuf_puts(b,
		    " FROM archive_with_day d CROSS JOIN archive_item a"
		    " ON a.owner=d.owner AND a.\"when\">=d.day*86400"
		    " AND a.\"when\"<d.day*86400+86400"
		    " WHERE d.owner=" OWNER_Q " AND d.with_jid=?4"
		    " AND a.with_jid=?4");
	else
		sbuf_puts(b, " FROM archive_item a WHERE a.owner=" OWNER_Q);
	if (mask & AQ_START)
		sbuf_printf(b, " AND %s>=?5", w);
	if (mask & AQ_END)
		sbuf_printf(b, " AND %s<=?6", w);
	if (mask & AQ_AFTER)
		sbuf_printf(b, " AND (%s, a.seq)>(?7, ?8)", w);
	if (mask & AQ_BEFORE)
		sbuf_printf(b, " AND (%s, a.seq)<(?9, ?10)", w);
	if (days && (mask & AQ_START))
		sbuf_puts(b, " AND d.day>=" DAY_OF("?5"));
	if (days && (mask & AQ_END))
		sbuf_puts(b, " AND d.day<=" DAY_OF("?6"));
	if (days && (mask & AQ_AFTER))
		sbuf_puts(b, " AND d.day>=" DAY_OF("?7"));
	if (days && (mask & AQ_BEFORE))
		sbuf_puts(b, " AND d.day<=" DAY_OF("?9"));
	if (mask & AQ_IDS)
		sbuf_puts(b, " AND a.id IN (SELECT value FROM json_each(?11))");
	if (mask & AQ_COUNT)
		return;
	sbuf_puts(b, " ORDER BY ");
	if (days)
		sbuf_printf(b, "d.day%s, ", dir);
	sbuf_printf(b, "a.\"when\"%s, a.seq%s LIMIT ?12", dir, dir);
}

/* The ids list travels as one JSON array bound to one parameter, so a
 * query with ids is one cached statement whatever the number of ids. */
static void
sq_json_ids(const char *const *ids, struct sbuf *b)
{
	const char *p;
	size_t i;

	sbuf_putc(b, '[');
	for (i = 0; ids[i] != NULL; i++) {
		if (i > 0)
			sbuf_putc(b, ',');
		sbuf_putc(b, '"');
		for (p = ids[i]; *p != '\0'; p++) {
			unsigned char c = (unsigned char)*p;

			if (c == '"' || c == '\\') {
				sbuf_putc(b, '\\');
				sbuf_putc(b, (char)c);
			} else if (c < 0x20) {
				sbuf_printf(b, "\\u%04x", c);
			} else {
				sbuf_putc(b, (char)c);
			}
		}
		sbuf_putc(b, '"');
	}
	sbuf_putc(b, ']');
}

/* Position ("when", seq) of item id in the queried user's store: 0 found,
 * 1 unknown id, -1 error. */
static int
sq_ar_pos(struct sq_store *s, const struct store_archive_query *q,
    const char *id, int64_t *when, int64_t *seq)
{
	struct sq_use u;
	int rc, ret = -1;

	if (sq_take_id(s, SQ_AR_POS, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, q->host, q->user, q->store) < 0 ||
	    sq_bind_text(u.s, 4, id) != SQLITE_OK)
		goto out_release;
	rc = sqlite3_step(u.s);
	if (rc == SQLITE_ROW) {
		*when = sqlite3_column_int64(u.s, 0);
		*seq = sqlite3_column_int64(u.s, 1);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = 1;
	} else {
		sq_log_err(s, "archive position");
	}
out_release:
	sq_release(&u);
	return ret;
}

/* Check out and bind the statement for q. Returns 0, 1 when after_id or
 * before_id is unknown, -1 on error. ids_json must outlive the use. */
static int
sq_aq_prepare(struct sq_store *s, const struct store_archive_query *q,
    int count, struct sbuf *ids_json, struct sq_use *u)
{
	unsigned mask = 0;
	int64_t aw = 0, as = 0, bw = 0, bs = 0;
	struct sbuf sql;
	int rc, ok;

	if (q->host == NULL || q->user == NULL || q->store == NULL) {
		log_err("store: sqlite archive query without host/user/store");
		return -1;
	}
	if (q->with != NULL)
		mask |= q->user[0] == '\0' ? AQ_WITH | AQ_SHARED : AQ_WITH;
	if (q->start != 0)
		mask |= AQ_START;
	if (q->end != 0)
		mask |= AQ_END;
	if (q->after_id != NULL) {
		mask |= AQ_AFTER;
		rc = sq_ar_pos(s, q, q->after_id, &aw, &as);
		if (rc != 0)
			return rc;
	}
	if (q->before_id != NULL) {
		mask |= AQ_BEFORE;
		rc = sq_ar_pos(s, q, q->before_id, &bw, &bs);
		if (rc != 0)
			return rc;
	}
	if (q->ids != NULL) {
		mask |= AQ_IDS;
		sq_json_ids(q->ids, ids_json);
	}
	if (count)
		mask |= AQ_COUNT;
	else if (q->reverse)
		mask |= AQ_REVERSE;

	sbuf_init(&sql);
	sq_aq_sql(mask, &sql);
	rc = sq_take(s, &s->aq[mask], sql.data, u);
	sbuf_cleanup(&sql);
	if (rc < 0)
		return -1;

	ok = sq_bind_huss(u->s, q->host, q->user, q->store) == 0;
	if (ok && (mask & AQ_WITH))
		ok = sq_bind_text(u->s, 4, q->with) == SQLITE_OK;
	if (ok && (mask & AQ_START))
		ok = sqlite3_bind_int64(u->s, 5, q->start) == SQLITE_OK;
	if (ok && (mask & AQ_END))
		ok = sqlite3_bind_int64(u->s, 6, q->end) == SQLITE_OK;
	if (ok && (mask & AQ_AFTER))
		ok = sqlite3_bind_int64(u->s, 7, aw) == SQLITE_OK &&
		     sqlite3_bind_int64(u->s, 8, as) == SQLITE_OK;
	if (ok && (mask & AQ_BEFORE))
		ok = sqlite3_bind_int64(u->s, 9, bw) == SQLITE_OK &&
		     sqlite3_bind_int64(u->s, 10, bs) == SQLITE_OK;
	if (ok && (mask & AQ_IDS))
		ok = sqlite3_bind_text(u->s, 11, ids_json->data,
			 (int)ids_json->len, SQLITE_STATIC) == SQLITE_OK;
	/* LIMIT -1 is SQLite's "no limit" */
	if (ok && !count)
		ok = sqlite3_bind_int64(
			 u->s, 12, q->limit > 0 ? q->limit : -1) == SQLITE_OK;
	if (!ok) {
		sq_log_err(s, "archive query bind");
		sq_release(u);
		return -1;
	}
	return 0;
}

struct sq_ar_ctx {
	int (*cb)(void *ud, const struct store_archive_item *it);
	void *ud;
};

static int
sq_ar_row(sqlite3_stmt *stmt, void *ctx)
{
	struct sq_ar_ctx *c = ctx;
	struct store_archive_item it;
	const char *id = (const char *)sqlite3_column_text(stmt, 0);
	const char *with = (const char *)sqlite3_column_text(stmt, 2);
	const char *val = sqlite3_column_blob(stmt, 3);

	it.id = id ? id : "";
	it.when = sqlite3_column_int64(stmt, 1);
	it.with = with ? with : "";
	it.val = val ? val : "";
	it.len = (size_t)sqlite3_column_bytes(stmt, 3);
	return c->cb(c->ud, &it);
}

static int
sq_archive_query(struct store *st, const struct store_archive_query *q,
    int (*cb)(void *ud, const struct store_archive_item *it), void *ud)
{
	struct sq_store *s = sq(st);
	struct sq_ar_ctx c = { cb, ud };
	struct sbuf ids;
	struct sq_use u;
	int ret;

	sbuf_init(&ids);
	ret = sq_aq_prepare(s, q, 0, &ids, &u);
	if (ret == 0) {
		ret = sq_steps(s, u.s, "archive_query", sq_ar_row, &c);
		sq_release(&u);
	}
	sbuf_cleanup(&ids);
	return ret;
}

static int
sq_archive_count(
    struct store *st, const struct store_archive_query *q, long *count)
{
	struct sq_store *s = sq(st);
	struct sbuf ids;
	struct sq_use u;
	int ret;

	char key[CNT_KEY_MAX];
	struct sq_count *c;
	size_t klen = 0;

	/* the size of a whole archive, or of one JID's part of it */
	if (q->start == 0 && q->end == 0 && q->after_id == NULL &&
	    q->before_id == NULL && q->ids == NULL) {
		klen = cnt_key(key, q->host, q->user, q->store, q->with);
		if (klen && (c = cnt_find(s, key, klen)) != NULL) {
			*count = c->n;
			return 0;
		}
	}
	sbuf_init(&ids);
	ret = sq_aq_prepare(s, q, 1, &ids, &u);
	if (ret == 0) {
		ret = sq_step_count(s, u.s, "archive_count", count);
		sq_release(&u);
	}
	sbuf_cleanup(&ids);
	if (ret == 0 && klen)
		cnt_put(s, key, klen, *count);
	return ret;
}

static int
sq_archive_expire(
    struct store *st, const char *store, int64_t before, long *deleted)
{
	struct sq_store *s = sq(st);
	struct sq_use u;
	int ret = -1;

	if (sq_begin(s) < 0 || sq_take_id(s, SQ_AR_EXPIRE, &u) < 0)
		return -1;
	if (sq_bind_text(u.s, 1, store) == SQLITE_OK &&
	    sqlite3_bind_int64(u.s, 2, before) == SQLITE_OK)
		ret = sq_exec_write(s, &u, "archive_expire");
	if (ret == 0 && deleted != NULL)
		*deleted = (long)sqlite3_changes64(s->db);
	sq_release(&u);
	own_forget(s); /* the days it remembers may be gone */
	if (ret == 0 && sq_take_id(s, SQ_AR_EXPIRE_WITH, &u) == 0) {
		if (sq_bind_text(u.s, 1, store) != SQLITE_OK ||
		    sqlite3_bind_int64(u.s, 2, before) != SQLITE_OK ||
		    sq_exec_write(s, &u, "archive_expire with") < 0)
			ret = -1;
		sq_release(&u);
	}
	cnt_forget(s, NULL, NULL, NULL);
	return ret;
}

static int
sq_archive_del(struct store *st, const char *host, const char *user,
    const char *store, const char *id)
{
	struct sq_store *s = sq(st);
	struct sq_use u;
	int ret = -1;

	if (sq_begin(s) < 0 ||
	    sq_take_id(s, id ? SQ_AR_DEL : SQ_AR_DEL_ALL, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, host, user, store) == 0 &&
	    (id == NULL || sq_bind_text(u.s, 4, id) == SQLITE_OK))
		ret = sq_exec_write(s, &u, "archive_del");
	sq_release(&u);
	/* one item deleted: its day may stay (a query finds no item there) */
	if (id == NULL)
		own_forget(s);
	if (ret == 0 && id == NULL &&
	    sq_take_id(s, SQ_AR_DEL_ALL_WITH, &u) == 0) {
		if (sq_bind_huss(u.s, host, user, store) < 0 ||
		    sq_exec_write(s, &u, "archive_del with") < 0)
			ret = -1;
		sq_release(&u);
	}
	cnt_forget(s, host, user, store);
	return ret;
}

static int
sq_user_delete(struct store *st, const char *host, const char *user)
{
	static const enum sq_stmt dels[] = { SQ_USER_DEL_KV, SQ_USER_DEL_MAP,
		SQ_USER_DEL_AR, SQ_USER_DEL_WITH, SQ_USER_DEL_OWNER };
	struct sq_store *s = sq(st);
	struct sq_use u;
	size_t i;
	int ret;

	if (sq_begin(s) < 0)
		return -1;
	cnt_forget(s, NULL, NULL, NULL);
	own_forget(s);
	for (i = 0; i < ARRAY_LEN(dels); i++) {
		if (sq_take_id(s, dels[i], &u) < 0)
			return -1;
		ret = -1;
		if (sq_bind_huss(u.s, host, user, NULL) == 0)
			ret = sq_exec_write(s, &u, "user_delete");
		sq_release(&u);
		if (ret < 0)
			return -1;
	}
	return 0;
}

static int
sq_bytes(struct store *st, enum store_kind kind, const char *host,
    const char *user, const char *store, const char *key, long long *bytes)
{
	struct sq_store *s = sq(st);
	enum sq_stmt id;
	struct sq_use u;
	int rc, ret = -1;

	if (store == NULL)
		id = SQ_SZ_USER;
	else if (kind == STORE_KV)
		id = SQ_SZ_KV;
	else if (kind == STORE_MAP)
		id = key ? SQ_SZ_MAP : SQ_SZ_MAP_ALL;
	else
		id = key ? SQ_SZ_AR : SQ_SZ_AR_ALL;
	if (sq_take_id(s, id, &u) < 0)
		return -1;
	if (sq_bind_huss(u.s, host, user, store) < 0 ||
	    (store && key && id != SQ_SZ_KV &&
		sq_bind_text(u.s, 4, key) != SQLITE_OK))
		goto out_release;
	rc = sqlite3_step(u.s);
	*bytes = 0;
	if (rc == SQLITE_ROW) {
		*bytes = (long long)sqlite3_column_int64(u.s, 0);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	} else {
		sq_log_err(s, "bytes");
	}
out_release:
	sq_release(&u);
	return ret;
}

/* ---- open, schema, close ---- */

static int
sq_exec(struct sq_store *s, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", s->path,
		    msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* One-row, one-column query into *out (text of at most outlen-1). */
static int
sq_query_text(struct sq_store *s, const char *sql, char *out, size_t outlen,
    char *err, size_t errlen)
{
	sqlite3_stmt *stmt;
	const char *v;
	int ret = -1;

	if (sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
		return -1;
	}
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		v = (const char *)sqlite3_column_text(stmt, 0);
		snprintf(out, outlen, "%s", v ? v : "");
		ret = 0;
	} else {
		snprintf(err, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
	}
	sqlite3_finalize(stmt);
	return ret;
}

static int
sq_migrate(struct sq_store *s, char *err, size_t errlen)
{
	const long latest = (long)ARRAY_LEN(sq_migrations);
	char buf[64], sql[96];
	size_t i;
	long cur;

	/* IMMEDIATE: two processes opening a new file at once must not both
	 * run migration 1 */
	if (sq_exec(s, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	if (sq_exec(s,
		"CREATE TABLE IF NOT EXISTS schema_version("
		"version INTEGER NOT NULL)",
		err, errlen) < 0)
		goto out_rollback;
	if (sq_query_text(s,
		"SELECT coalesce(max(version), 0) FROM schema_version", buf,
		sizeof(buf), err, errlen) < 0)
		goto out_rollback;
	cur = strtol(buf, NULL, 10);
	if (cur < 0 || cur > latest) {
		snprintf(err, errlen,
		    "%s: database schema version %ld is unknown to this "
		    "program (it knows 1..%ld: a newer Tern made it?)",
		    s->path, cur, latest);
		goto out_rollback;
	}
	/* migration i brings the schema to version i + 1 */
	for (i = (size_t)cur; i < ARRAY_LEN(sq_migrations); i++) {
		if (sq_exec(s, sq_migrations[i], err, errlen) < 0)
			goto out_rollback;
		log_info("store: sqlite schema migrated to version %zu (%s)",
		    i + 1, s->path);
	}
	if (cur != latest) {
		snprintf(sql, sizeof(sql),
		    "DELETE FROM schema_version;"
		    "INSERT INTO schema_version VALUES(%ld)",
		    latest);
		if (sq_exec(s, sql, err, errlen) < 0)
			goto out_rollback;
	}
	if (sq_exec(s, "COMMIT", err, errlen) < 0)
		goto out_rollback;
	return 0;

out_rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* SQLite would only say "unable to open database file" for a path in a
 * missing directory; say which directory, and never create it. */
static int
sq_check_dir(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	struct stat sb;
	char *dir;
	int ret = 0;

	if (strcmp(path, ":memory:") == 0 || slash == NULL || slash == path)
		return 0;
	dir = xstrndup(path, (size_t)(slash - path));
	if (stat(dir, &sb) < 0) {
		snprintf(err, errlen, "%s: directory %s: %s", path, dir,
		    strerror(errno));
		ret = -1;
	} else if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: %s is not a directory", path, dir);
		ret = -1;
	}
	free(dir);
	return ret;
}

/* The database holds SCRAM keys, archives and private XML: only the
 * server's user may read it. New files get 0600 from ternd's umask
 * (SQLite gives -wal and -shm the mode of the database); files made by
 * an older version or by hand are tightened here. */
static void
sq_private_files(const char *path)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	struct stat sb;
	char name[4096];
	size_t i;

	if (strcmp(path, ":memory:") == 0)
		return;
	for (i = 0; i < ARRAY_LEN(suffix); i++) {
		if ((size_t)snprintf(name, sizeof(name), "%s%s", path,
			suffix[i]) >= sizeof(name))
			return;
		if (stat(name, &sb) != 0 || (sb.st_mode & 077) == 0)
			continue;
		if (chmod(name, sb.st_mode & 0700) == 0)
			log_warn(
			    "sqlite: %s was readable by others (mode %03o); "
			    "now %03o",
			    name, (unsigned)(sb.st_mode & 0777),
			    (unsigned)(sb.st_mode & 0700));
		else
			log_warn("sqlite: %s is readable by others (mode %03o) "
				 "and chmod failed: %s",
			    name, (unsigned)(sb.st_mode & 0777),
			    strerror(errno));
	}
}

static void
sq_close(struct store *st)
{
	struct sq_store *s = sq(st);
	size_t i;

	if (s->db != NULL) {
		/* uncommitted writes are dropped: a caller that wants them
		 * kept calls store_commit() first, one that failed half way
		 * through a command must not leave half of it behind */
		if (!sqlite3_get_autocommit(s->db)) {
			log_debug("store: sqlite closing with uncommitted "
				  "writes, rolled back (%s)",
			    s->path);
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		}
		for (i = 0; i < SQ_NSTMT; i++)
			sqlite3_finalize(s->stmt[i]);
		for (i = 0; i < AQ_NMASK; i++)
			sqlite3_finalize(s->aq[i]);
		sqlite3_close_v2(s->db);
	}
	cnt_forget(s, NULL, NULL, NULL);
	own_forget(s);
	free(s->path);
	free(s);
}

static struct store *
sq_open(const char *location, char *err, size_t errlen)
{
	struct sq_store *s;
	char mode[32];
	size_t i;

	if (location == NULL || *location == '\0') {
		snprintf(err, errlen, "sqlite: no database path");
		return NULL;
	}
	if (sq_check_dir(location, err, errlen) < 0)
		return NULL;
	sq_private_files(location);
	s = xcalloc(1, sizeof(*s));
	s->base.be = &store_sqlite_backend;
	s->path = xstrdup(location);
	if (sqlite3_open_v2(location, &s->db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
		NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s", location,
		    s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto out_close;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* ternd and ternctl share the file; a writer waits for the other
	 * rather than failing at once */
	sqlite3_busy_timeout(s->db, 5000);
	if (sq_query_text(s, "PRAGMA journal_mode=WAL", mode, sizeof(mode), err,
		errlen) < 0)
		goto out_close;
	if (strcmp(mode, "wal") != 0 && strcmp(location, ":memory:") != 0) {
		snprintf(err, errlen, "%s: cannot use WAL mode (got %s)",
		    location, mode);
		goto out_close;
	}
	/* 16 MiB of page cache at most (the default is 2 MiB): archive
	 * writes touch a leaf of every index for every active user. No
	 * mmap: a failing disk must give errors, not SIGBUS. */
	if (sq_exec(s, "PRAGMA cache_size=-16384", err, errlen) < 0 ||
	    sq_exec(s, "PRAGMA wal_autocheckpoint=8192", err, errlen) < 0 ||
	    sq_exec(s, "PRAGMA synchronous=FULL", err, errlen) < 0)
		goto out_close;
	if (sq_migrate(s, err, errlen) < 0)
		goto out_close;
	for (i = 0; i < SQ_NSTMT; i++) {
		if (sq_prepare(s, sq_sql[i], 1, &s->stmt[i]) < 0) {
			snprintf(err, errlen, "%s: %s", location,
			    sqlite3_errmsg(s->db));
			goto out_close;
		}
	}
	return &s->base;

out_close:
	sq_close(&s->base);
	return NULL;
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.commit = sq_commit,
	.in_tx = sq_in_tx,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.savepoint_end = sq_savepoint_end,
	.kv_get = sq_kv_get,
	.kv_set = sq_kv_set,
	.kv_del = sq_kv_del,
	.kv_users = sq_kv_users,
	.map_get = sq_map_get,
	.map_set = sq_map_set,
	.map_del = sq_map_del,
	.map_list = sq_map_list,
	.map_count = sq_map_count,
	.archive_append = sq_archive_append,
	.archive_query = sq_archive_query,
	.archive_count = sq_archive_count,
	.archive_expire = sq_archive_expire,
	.archive_del = sq_archive_del,
	.user_delete = sq_user_delete,
	.bytes = sq_bytes,
};

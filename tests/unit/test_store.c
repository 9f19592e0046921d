/* test_store.c: the storage conformance suite. Every backend-neutral
 * test runs once per backend through the store_* wrappers (SQLite on a
 * database file in a fresh temporary directory per test, and the
 * in-memory backend); a new backend (PostgreSQL) adds one entry to
 * backends[] and must pass them all. SQLite-only tests (migration, file
 * paths, a second connection, RLIMIT_FSIZE) and memory-only tests
 * (injected failures, see store/mem.h) follow them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/buf.h"
#include "core/util.h"
#include "store/mem.h"
#include "store/store.h"
#include "store/store_impl.h"

/* One backend under test. */
struct backend {
	const char *name; /* for store_open */
	int durable;	  /* what is committed survives store_close */
	/* make commits fail for real, and work again */
	void (*fail_commits)(void);
	void (*heal_commits)(void);
};

struct fx {
	const struct backend *be;
	char dir[64];
	char path[96];
};

/* SQLite: RLIMIT_FSIZE makes every write to the database files fail
 * with EFBIG. */
static struct rlimit fsize_old;

static void
sqlite_fail_commits(void)
{
	struct rlimit low;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &fsize_old), 0);
	low = fsize_old;
	low.rlim_cur = 1;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
}

static void
sqlite_heal_commits(void)
{
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &fsize_old), 0);
}

static void
memory_fail_commits(void)
{
	assert_int_equal(
	    store_mem_fail(store_main, STORE_MEM_FAIL_COMMIT, 0, 1000000), 0);
}

static void
memory_heal_commits(void)
{
	assert_int_equal(
	    store_mem_fail(store_main, STORE_MEM_FAIL_COMMIT, 0, 0), 0);
}

static struct backend be_sqlite = { "sqlite", 1, sqlite_fail_commits,
	sqlite_heal_commits };
static struct backend be_memory = { "memory", 0, memory_fail_commits,
	memory_heal_commits };

/* *state is the struct backend to test (cmocka's prestate). */
static int
setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	char err[256];

	fx->be = *state;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/tern-test-store-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/tern.db", fx->dir);
	store_main = store_open(fx->be->name, fx->path, err, sizeof(err));
	if (store_main == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		return -1;
	}
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[128];
	size_t i;

	store_close(store_main);
	store_main = NULL;
	for (i = 0; i < ARRAY_LEN(sfx); i++) {
		snprintf(p, sizeof(p), "%s%s", fx->path, sfx[i]);
		unlink(p);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void
reopen(struct fx *fx)
{
	char err[256];

	store_close(store_main);
	store_main = store_open(fx->be->name, fx->path, err, sizeof(err));
	assert_non_null(store_main);
}

/* Reopen where that keeps the data (not the memory backend). */
static void
reopen_if_durable(struct fx *fx)
{
	if (fx->be->durable)
		reopen(fx);
}

/* ---- keyval ---- */

static int
collect_users(void *ud, const char *user)
{
	struct sbuf *b = ud;

	sbuf_printf(b, "%s;", user);
	return 0;
}

static int
stop_after_first_user(void *ud, const char *user)
{
	struct sbuf *b = ud;

	sbuf_printf(b, "%s;", user);
	return 1;
}

static int
fail_user(void *ud, const char *user)
{
	(void)ud;
	(void)user;
	return -1;
}

static void
test_kv(void **state)
{
	static const char bin[] = { 'a', '\0', 'b', '\xff' };
	struct sbuf b;
	char *v = NULL;
	size_t len = 99;

	(void)state;
	assert_int_equal(store_kv_get("h", "romeo", "vcard", &v, &len), 1);
	assert_int_equal(store_kv_set("h", "romeo", "vcard", "one", 3), 0);
	assert_int_equal(store_kv_get("h", "romeo", "vcard", &v, &len), 0);
	assert_int_equal(len, 3);
	assert_string_equal(v, "one");
	free(v);

	/* overwrite, binary with NUL bytes */
	assert_int_equal(
	    store_kv_set("h", "romeo", "vcard", bin, sizeof(bin)), 0);
	assert_int_equal(store_kv_get("h", "romeo", "vcard", &v, &len), 0);
	assert_int_equal(len, sizeof(bin));
	assert_memory_equal(v, bin, sizeof(bin));
	free(v);

	/* empty value is a value, not absence */
	assert_int_equal(store_kv_set("h", "", "settings", "", 0), 0);
	assert_int_equal(store_kv_get("h", "", "settings", &v, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(v, "");
	free(v);

	/* keys are (host, user, store): others untouched */
	assert_int_equal(store_kv_get("h2", "romeo", "vcard", &v, &len), 1);
	assert_int_equal(store_kv_get("h", "juliet", "vcard", &v, &len), 1);
	assert_int_equal(store_kv_get("h", "romeo", "other", &v, &len), 1);

	assert_int_equal(store_kv_set("h", "juliet", "vcard", "j", 1), 0);
	assert_int_equal(store_kv_set("h", "benvolio", "vcard", "b", 1), 0);
	assert_int_equal(store_kv_set("h2", "tybalt", "vcard", "t", 1), 0);
	sbuf_init(&b);
	assert_int_equal(store_kv_users("h", "vcard", collect_users, &b), 0);
	assert_string_equal(b.data, "benvolio;juliet;romeo;");
	sbuf_reset(&b);
	assert_int_equal(
	    store_kv_users("h", "vcard", stop_after_first_user, &b), 0);
	assert_string_equal(b.data, "benvolio;");
	assert_int_equal(store_kv_users("h", "vcard", fail_user, NULL), -1);
	sbuf_cleanup(&b);

	assert_int_equal(store_kv_del("h", "romeo", "vcard"), 0);
	assert_int_equal(store_kv_get("h", "romeo", "vcard", &v, &len), 1);
	/* deleting what is not there is fine */
	assert_int_equal(store_kv_del("h", "romeo", "vcard"), 0);
	assert_int_equal(store_commit(), 0);
}

/* ---- map ---- */

static int
collect_map(void *ud, const char *key, const char *val, size_t len)
{
	struct sbuf *b = ud;

	sbuf_printf(b, "%s=%.*s;", key, (int)len, val);
	return 0;
}

struct nested {
	struct sbuf out;
};

/* A callback that lists another user's map with the same statement while
 * the outer listing is still stepping. */
static int
nested_map(void *ud, const char *key, const char *val, size_t len)
{
	struct nested *n = ud;

	(void)val;
	(void)len;
	sbuf_printf(&n->out, "[%s:", key);
	assert_int_equal(
	    store_map_list("h", "juliet", "roster", collect_map, &n->out), 0);
	sbuf_puts(&n->out, "]");
	return 0;
}

/* A prefix listing is a key range: only keys that start with the
 * prefix, in key order, whatever bytes follow or end the prefix. */
static void
test_map_prefix(void **state)
{
	static const char *const keys[] = { "a\n1", "a\n2", "a\x0b", "ab\n1",
		"a", "b\n1", "\xff\xff", "\xff\xffz", "\xfe" };
	struct sbuf b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(
		    store_map_set("h", "romeo", "pep_items", keys[i], "v", 1),
		    0);
	assert_int_equal(
	    store_map_set("h", "juliet", "pep_items", "a\n3", "w", 1), 0);
	sbuf_init(&b);
	assert_int_equal(store_map_list_prefix(
			     "h", "romeo", "pep_items", "a\n", collect_map, &b),
	    0);
	assert_string_equal(b.data, "a\n1=v;a\n2=v;");
	sbuf_reset(&b);
	assert_int_equal(store_map_list_prefix("h", "romeo", "pep_items",
			     "\xff\xff", collect_map, &b),
	    0);
	assert_string_equal(b.data, "\xff\xff=v;\xff\xffz=v;");
	sbuf_reset(&b);
	assert_int_equal(store_map_list_prefix(
			     "h", "romeo", "pep_items", "zz", collect_map, &b),
	    0);
	assert_true(b.len == 0);
	sbuf_reset(&b);
	/* the empty prefix is every key */
	assert_int_equal(store_map_list_prefix(
			     "h", "romeo", "pep_items", "", collect_map, &b),
	    0);
	{
		size_t semis = 0;

		for (i = 0; i < b.len; i++)
			semis += b.data[i] == ';';
		assert_int_equal(semis, sizeof(keys) / sizeof(keys[0]));
	}
	sbuf_cleanup(&b);
}

static void
test_map(void **state)
{
	struct nested n;
	struct sbuf b;
	char *v = NULL;
	size_t len;
	long count = -1;

	(void)state;
	assert_int_equal(
	    store_map_get("h", "romeo", "roster", "juliet@h", &v, &len), 1);
	assert_int_equal(store_map_count("h", "romeo", "roster", &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(
	    store_map_set("h", "romeo", "roster", "juliet@h", "both", 4), 0);
	assert_int_equal(
	    store_map_set("h", "romeo", "roster", "benvolio@h", "to", 2), 0);
	assert_int_equal(
	    store_map_set("h", "romeo", "roster", "mercutio@h", "none", 4), 0);
	assert_int_equal(
	    store_map_set("h", "romeo", "roster", "juliet@h", "from", 4), 0);
	assert_int_equal(
	    store_map_set("h", "juliet", "roster", "romeo@h", "both", 4), 0);
	assert_int_equal(
	    store_map_get("h", "romeo", "roster", "juliet@h", &v, &len), 0);
	assert_int_equal(len, 4);
	assert_string_equal(v, "from");
	free(v);
	assert_int_equal(store_map_count("h", "romeo", "roster", &count), 0);
	assert_int_equal(count, 3);

	sbuf_init(&b);
	assert_int_equal(
	    store_map_list("h", "romeo", "roster", collect_map, &b), 0);
	assert_string_equal(
	    b.data, "benvolio@h=to;juliet@h=from;mercutio@h=none;");
	sbuf_cleanup(&b);

	sbuf_init(&n.out);
	assert_int_equal(
	    store_map_list("h", "romeo", "roster", nested_map, &n), 0);
	assert_string_equal(n.out.data,
	    "[benvolio@h:romeo@h=both;][juliet@h:romeo@h=both;]"
	    "[mercutio@h:romeo@h=both;]");
	sbuf_cleanup(&n.out);

	assert_int_equal(
	    store_map_del("h", "romeo", "roster", "benvolio@h"), 0);
	assert_int_equal(
	    store_map_get("h", "romeo", "roster", "benvolio@h", &v, &len), 1);
	assert_int_equal(store_map_count("h", "romeo", "roster", &count), 0);
	assert_int_equal(count, 2);
	/* key NULL: all of that user's store, nobody else's */
	assert_int_equal(store_map_del("h", "romeo", "roster", NULL), 0);
	assert_int_equal(store_map_count("h", "romeo", "roster", &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(store_map_count("h", "juliet", "roster", &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(store_commit(), 0);
}

/* ---- archive ---- */

static int
collect_ids(void *ud, const struct store_archive_item *it)
{
	struct sbuf *b = ud;

	sbuf_printf(b, "%s,", it->id);
	return 0;
}

/* Ten items a0..a9 for romeo at t = 1000, 1010, ... alternating between
 * juliet and nurse, plus items of other users and stores that no query
 * on romeo's "mam" may return. */
static void
fill_archive(void)
{
	char id[16], val[32];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "a%d", i);
		snprintf(val, sizeof(val), "<m>%d</m>", i);
		assert_int_equal(
		    store_archive_append("h", "romeo", "mam", id, 1000 + i * 10,
			i % 2 ? "nurse@h" : "juliet@h", val, strlen(val)),
		    0);
	}
	assert_int_equal(store_archive_append("h", "juliet", "mam", "j0", 1005,
			     "romeo@h", "x", 1),
	    0);
	assert_int_equal(store_archive_append("h", "romeo", "offline", "o0",
			     1005, "juliet@h", "y", 1),
	    0);
	assert_int_equal(store_archive_append("h2", "romeo", "mam", "a0", 1005,
			     "juliet@h", "z", 1),
	    0);
}

static char *
query(const struct store_archive_query *q, int expect_rc)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_puts(&b, "");
	assert_int_equal(store_archive_query(q, collect_ids, &b), expect_rc);
	return sbuf_steal(&b, NULL);
}

#define ASSERT_QUERY(q, expected)                                              \
	do {                                                                   \
		char *got_ = query((q), 0);                                    \
		assert_string_equal(got_, (expected));                         \
		free(got_);                                                    \
	} while (0)

static long
count(const struct store_archive_query *q)
{
	long n = -1;

	assert_int_equal(store_archive_count(q, &n), 0);
	return n;
}

static struct store_archive_query
romeo_mam(void)
{
	struct store_archive_query q;

	memset(&q, 0, sizeof(q));
	q.host = "h";
	q.user = "romeo";
	q.store = "mam";
	return q;
}

static int
check_item(void *ud, const struct store_archive_item *it)
{
	int *seen = ud;

	assert_string_equal(it->id, "a3");
	assert_int_equal(it->when, 1030);
	assert_string_equal(it->with, "nurse@h");
	assert_int_equal(it->len, 8);
	assert_memory_equal(it->val, "<m>3</m>", 8);
	(*seen)++;
	return 0;
}

static void
test_archive_fields(void **state)
{
	static const char *const ids[] = { "a7", "a2", "nope", "j0", NULL };
	struct store_archive_query q;
	int seen = 0;

	(void)state;
	fill_archive();

	q = romeo_mam();
	ASSERT_QUERY(&q, "a0,a1,a2,a3,a4,a5,a6,a7,a8,a9,");
	assert_int_equal(count(&q), 10);

	/* item fields */
	q.start = q.end = 1030;
	assert_int_equal(store_archive_query(&q, check_item, &seen), 0);
	assert_int_equal(seen, 1);

	/* with */
	q = romeo_mam();
	q.with = "juliet@h";
	ASSERT_QUERY(&q, "a0,a2,a4,a6,a8,");
	assert_int_equal(count(&q), 5);
	q.with = "tybalt@h";
	ASSERT_QUERY(&q, "");
	assert_int_equal(count(&q), 0);

	/* start / end, inclusive */
	q = romeo_mam();
	q.start = 1020;
	ASSERT_QUERY(&q, "a2,a3,a4,a5,a6,a7,a8,a9,");
	q.end = 1050;
	ASSERT_QUERY(&q, "a2,a3,a4,a5,");
	assert_int_equal(count(&q), 4);
	q.start = 0;
	ASSERT_QUERY(&q, "a0,a1,a2,a3,a4,a5,");
	q.with = "nurse@h";
	ASSERT_QUERY(&q, "a1,a3,a5,");

	/* after_id / before_id: strictly after / before */
	q = romeo_mam();
	q.after_id = "a6";
	ASSERT_QUERY(&q, "a7,a8,a9,");
	assert_int_equal(count(&q), 3);
	q.after_id = NULL;
	q.before_id = "a3";
	ASSERT_QUERY(&q, "a0,a1,a2,");
	q.after_id = "a0";
	ASSERT_QUERY(&q, "a1,a2,");
	assert_int_equal(count(&q), 2);
	q.with = "nurse@h";
	ASSERT_QUERY(&q, "a1,");
	/* after_id past before_id: nothing, either way */
	q = romeo_mam();
	q.after_id = "a5";
	q.before_id = "a3";
	ASSERT_QUERY(&q, "");
	assert_int_equal(count(&q), 0);
	q.reverse = 1;
	ASSERT_QUERY(&q, "");

	/* ids */
	q = romeo_mam();
	q.ids = ids;
	ASSERT_QUERY(&q, "a2,a7,");
	assert_int_equal(count(&q), 2);

	/* limit, and reverse for the last page */
	q = romeo_mam();
	q.limit = 3;
	ASSERT_QUERY(&q, "a0,a1,a2,");
	assert_int_equal(count(&q), 10);
	q.reverse = 1;
	ASSERT_QUERY(&q, "a9,a8,a7,");
	q.before_id = "a5";
	ASSERT_QUERY(&q, "a4,a3,a2,");
	assert_int_equal(count(&q), 5);
	q.limit = 0;
	q.with = "juliet@h";
	ASSERT_QUERY(&q, "a4,a2,a0,");

	/* after a page: the next one */
	q = romeo_mam();
	q.limit = 4;
	q.after_id = "a3";
	ASSERT_QUERY(&q, "a4,a5,a6,a7,");

	/* isolation: other users, stores and hosts */
	q.after_id = NULL;
	q.limit = 0;
	q.user = "juliet";
	ASSERT_QUERY(&q, "j0,");
	q.user = "romeo";
	q.store = "offline";
	ASSERT_QUERY(&q, "o0,");
	q.host = "h2";
	q.store = "mam";
	ASSERT_QUERY(&q, "a0,");
	assert_int_equal(store_commit(), 0);
}

static void
test_archive_unknown_id(void **state)
{
	struct store_archive_query q;
	long n = 42;
	char *got;

	(void)state;
	fill_archive();
	q = romeo_mam();
	q.after_id = "missing";
	got = query(&q, 1);
	assert_string_equal(got, "");
	free(got);
	assert_int_equal(store_archive_count(&q, &n), 1);
	/* an id of another user's archive is unknown in this one */
	q = romeo_mam();
	q.before_id = "j0";
	got = query(&q, 1);
	free(got);
	q.before_id = "o0";
	got = query(&q, 1);
	free(got);
}

static void
test_archive_ordering_and_ids_escaping(void **state)
{
	static const char *const ids[] = { "q\"uote", "back\\slash", "tab\t",
		NULL };
	struct store_archive_query q;

	(void)state;
	/* equal times keep insertion order; the ids list survives JSON
	 * special characters */
	assert_int_equal(
	    store_archive_append("h", "u", "s", "back\\slash", 500, "", "1", 1),
	    0);
	assert_int_equal(
	    store_archive_append("h", "u", "s", "q\"uote", 500, NULL, "2", 1),
	    0);
	assert_int_equal(
	    store_archive_append("h", "u", "s", "plain", 500, "", "3", 1), 0);
	assert_int_equal(
	    store_archive_append("h", "u", "s", "tab\t", 500, "", "4", 1), 0);
	memset(&q, 0, sizeof(q));
	q.host = "h";
	q.user = "u";
	q.store = "s";
	ASSERT_QUERY(&q, "back\\slash,q\"uote,plain,tab\t,");
	q.after_id = "q\"uote";
	ASSERT_QUERY(&q, "plain,tab\t,");
	q.after_id = NULL;
	q.ids = ids;
	ASSERT_QUERY(&q, "back\\slash,q\"uote,tab\t,");
	/* an id is unique within one user's store */
	assert_int_equal(
	    store_archive_append("h", "u", "s", "plain", 501, "", "5", 1), -1);
	assert_int_equal(
	    store_archive_append("h", "u2", "s", "plain", 501, "", "5", 1), 0);
	assert_int_equal(store_commit(), 0);
}

/* ---- archive items over many days ---- */

/* 60 items x0..x59 for romeo, three per 10-hour step (so over a week,
 * several items in one second), with juliet, nurse and "" in turn. */
#define DAYS_N 60
#define DAYS_T(i) (1700000000 + ((i) / 3) * 36000 - 7)

static const char *
days_with(int i)
{
	static const char *const w[] = { "juliet@h", "nurse@h", "" };

	return w[i % 3 == 2 ? 2 : (i / 3) % 2];
}

static void
fill_days(const char *user)
{
	char id[16], val[32];
	int i;

	for (i = 0; i < DAYS_N; i++) {
		snprintf(id, sizeof(id), "x%d", i);
		snprintf(val, sizeof(val), "<m>%d</m>", i);
		assert_int_equal(store_archive_append("h", user, "mam", id,
				     DAYS_T(i), days_with(i), val, strlen(val)),
		    0);
	}
}

/* What a query over fill_days' items must answer: the items i with
 * with (NULL: any) in [lo, hi), in order or reversed, at most limit. */
static char *
days_expect(const char *with, int lo, int hi, int reverse, long limit)
{
	struct sbuf b;
	long n = 0;
	int k, i;

	sbuf_init(&b);
	sbuf_puts(&b, "");
	for (k = 0; k < hi - lo && (limit <= 0 || n < limit); k++) {
		i = reverse ? hi - 1 - k : lo + k;
		if (with != NULL && strcmp(days_with(i), with) != 0)
			continue;
		sbuf_printf(&b, "x%d,", i);
		n++;
	}
	return sbuf_steal(&b, NULL);
}

/* Pages of 4 forward (after) and backward (before) through the whole
 * set q selects, as XEP-0313 clients page with RSM: the pages join up
 * into the whole set, in order. */
static char *
page_through(struct store_archive_query q, int backward)
{
	struct sbuf all;
	char last[16] = "";
	char *p, *c;

	sbuf_init(&all);
	sbuf_puts(&all, "");
	for (;;) {
		q.limit = 4;
		q.reverse = backward;
		if (backward)
			q.before_id = last[0] ? last : NULL;
		else
			q.after_id = last[0] ? last : NULL;
		p = query(&q, 0);
		if (p[0] == '\0') {
			free(p);
			break;
		}
		/* the last id of the page is where the next one starts */
		c = p + strlen(p) - 1;
		*c = '\0';
		c = strrchr(p, ',');
		snprintf(last, sizeof(last), "%s", c ? c + 1 : p);
		sbuf_printf(&all, "%s,", p);
		free(p);
	}
	return sbuf_steal(&all, NULL);
}

static long
commas(const char *s)
{
	long n = 0;

	for (; *s; s++)
		n += *s == ',';
	return n;
}

static void
assert_days(struct store_archive_query q, const char *with, int lo, int hi)
{
	char *e, *g;

	q.with = with;
	e = days_expect(with, lo, hi, 0, 0);
	ASSERT_QUERY(&q, e);
	assert_int_equal(count(&q), commas(e));
	g = page_through(q, 0);
	assert_string_equal(g, e);
	free(g);
	free(e);
	/* backward: the same items, newest first */
	e = days_expect(with, lo, hi, 1, 0);
	g = page_through(q, 1);
	assert_string_equal(g, e);
	free(g);
	free(e);
	e = days_expect(with, lo, hi, 1, 5);
	q.reverse = 1;
	q.limit = 5;
	ASSERT_QUERY(&q, e);
	free(e);
}

/* Every filter of a MAM query over a week of items: whole set, with,
 * time range, RSM pages both ways, alone and together. */
static void
check_days(const char *user)
{
	struct store_archive_query q;
	static const char *const withs[] = { NULL, "juliet@h", "nurse@h", "" };
	size_t w;

	memset(&q, 0, sizeof(q));
	q.host = "h";
	q.user = user;
	q.store = "mam";
	for (w = 0; w < ARRAY_LEN(withs); w++) {
		q.start = q.end = 0;
		assert_days(q, withs[w], 0, DAYS_N);
		/* start and end inclusive, over day boundaries */
		q.start = DAYS_T(10);
		q.end = DAYS_T(44);
		assert_days(q, withs[w], 9, 45);
	}
	q.start = q.end = 0;
	q.with = "juliet@h";
	assert_int_equal(count(&q), 20);
	q.with = "nobody@h";
	assert_int_equal(count(&q), 0);
	q.with = NULL;
	assert_int_equal(count(&q), DAYS_N);
}

static int
check_last_item(void *ud, const struct store_archive_item *it)
{
	int *seen = ud;

	assert_string_equal(it->id, "x59");
	assert_int_equal(it->when, DAYS_T(59));
	assert_string_equal(it->with, "");
	assert_int_equal(it->len, 9);
	assert_memory_equal(it->val, "<m>59</m>", 9);
	(*seen)++;
	return 0;
}

static void
test_archive_with_across_days(void **state)
{
	(void)state;
	fill_days("romeo");
	check_days("romeo");
	/* a host-wide archive (user "": a MUC service's rooms) too */
	fill_days("");
	check_days("");
	assert_int_equal(store_commit(), 0);
	check_days("romeo");
	check_days("");
}

static void
test_archive_del_and_expire(void **state)
{
	struct store_archive_query q;
	long deleted = -1;

	(void)state;
	fill_archive();
	assert_int_equal(store_archive_del("h", "romeo", "mam", "a4"), 0);
	q = romeo_mam();
	ASSERT_QUERY(&q, "a0,a1,a2,a3,a5,a6,a7,a8,a9,");

	/* expire: one store, every user and host, strictly older */
	assert_int_equal(store_archive_expire("mam", 1030, &deleted), 0);
	assert_int_equal(deleted, 5); /* a0 a1 a2 j0 h2's a0 */
	ASSERT_QUERY(&q, "a3,a5,a6,a7,a8,a9,");
	q.user = "juliet";
	ASSERT_QUERY(&q, "");
	q.user = "romeo";
	q.store = "offline";
	ASSERT_QUERY(&q, "o0,");

	/* id NULL: the whole store of that user */
	assert_int_equal(store_archive_del("h", "romeo", "mam", NULL), 0);
	q = romeo_mam();
	assert_int_equal(count(&q), 0);
	q.store = "offline";
	assert_int_equal(count(&q), 1);
	assert_int_equal(store_commit(), 0);
}

static void
test_user_delete(void **state)
{
	struct store_archive_query q;
	char *v = NULL;
	size_t len;
	long n;

	(void)state;
	fill_archive();
	assert_int_equal(store_kv_set("h", "romeo", "accounts", "a", 1), 0);
	assert_int_equal(store_kv_set("h", "romeo", "vcard", "v", 1), 0);
	assert_int_equal(store_kv_set("h", "juliet", "vcard", "v", 1), 0);
	assert_int_equal(store_kv_set("h2", "romeo", "vcard", "v", 1), 0);
	assert_int_equal(store_map_set("h", "romeo", "roster", "k", "v", 1), 0);
	assert_int_equal(
	    store_map_set("h", "juliet", "roster", "k", "v", 1), 0);
	assert_int_equal(store_commit(), 0);

	assert_int_equal(store_user_delete("h", "romeo"), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_kv_get("h", "romeo", "accounts", &v, &len), 1);
	assert_int_equal(store_kv_get("h", "romeo", "vcard", &v, &len), 1);
	assert_int_equal(store_map_count("h", "romeo", "roster", &n), 0);
	assert_int_equal(n, 0);
	q = romeo_mam();
	assert_int_equal(count(&q), 0);
	q.store = "offline";
	assert_int_equal(count(&q), 0);

	/* other users and the same user on another host keep theirs */
	assert_int_equal(store_kv_get("h", "juliet", "vcard", &v, &len), 0);
	free(v);
	assert_int_equal(store_kv_get("h2", "romeo", "vcard", &v, &len), 0);
	free(v);
	assert_int_equal(store_map_count("h", "juliet", "roster", &n), 0);
	assert_int_equal(n, 1);
	q.user = "juliet";
	q.store = "mam";
	assert_int_equal(count(&q), 1);
	q.host = "h2";
	q.user = "romeo";
	assert_int_equal(count(&q), 1);
}

/* ---- transactions ---- */

static void
test_commit_semantics(void **state)
{
	struct fx *fx = *state;
	char *v = NULL;
	size_t len;

	/* nothing to commit is fine */
	assert_int_equal(store_commit(), 0);

	/* a write is visible at once, before the commit */
	assert_int_equal(store_kv_set("h", "u", "s", "v1", 2), 0);
	assert_int_equal(store_kv_get("h", "u", "s", &v, &len), 0);
	assert_string_equal(v, "v1");
	free(v);
	assert_int_equal(store_commit(), 0);

	/* several writes, one commit */
	assert_int_equal(store_kv_set("h", "a", "s", "1", 1), 0);
	assert_int_equal(store_map_set("h", "a", "m", "k", "2", 1), 0);
	assert_int_equal(
	    store_archive_append("h", "a", "ar", "i", 5, "", "3", 1), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_commit(), 0);
	reopen_if_durable(fx);
	assert_int_equal(store_map_get("h", "a", "m", "k", &v, &len), 0);
	assert_string_equal(v, "2");
	free(v);
	assert_int_equal(store_kv_get("h", "a", "s", &v, &len), 0);
	assert_string_equal(v, "1");
	free(v);
}

/* A second connection sees only committed writes; committed data
 * survives closing, uncommitted is dropped. */
static void
test_sqlite_commit_semantics(void **state)
{
	struct fx *fx = *state;
	struct store *main_st, *other;
	char err[256], *v = NULL;
	size_t len;

	/* nothing to commit is fine */
	assert_int_equal(store_commit(), 0);

	/* a write is visible to this connection at once, to another one
	 * only after the commit */
	other = store_open("sqlite", fx->path, err, sizeof(err));
	assert_non_null(other);
	assert_int_equal(store_kv_set("h", "u", "s", "v1", 2), 0);
	assert_int_equal(store_kv_get("h", "u", "s", &v, &len), 0);
	free(v);
	main_st = store_main;
	store_main = other;
	assert_int_equal(store_kv_get("h", "u", "s", &v, &len), 1);
	store_main = main_st;
	assert_int_equal(store_commit(), 0);
	store_main = other;
	assert_int_equal(store_kv_get("h", "u", "s", &v, &len), 0);
	assert_string_equal(v, "v1");
	free(v);
	store_main = main_st;
	store_close(other);

	/* committed data survives closing; uncommitted is dropped */
	assert_int_equal(store_kv_set("h", "u", "s", "v2", 2), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_map_set("h", "u", "m", "k", "lost", 4), 0);
	reopen(fx);
	assert_int_equal(store_kv_get("h", "u", "s", &v, &len), 0);
	assert_string_equal(v, "v2");
	free(v);
	assert_int_equal(store_map_get("h", "u", "m", "k", &v, &len), 1);

	/* several writes, one commit */
	assert_int_equal(store_kv_set("h", "a", "s", "1", 1), 0);
	assert_int_equal(store_map_set("h", "a", "m", "k", "2", 1), 0);
	assert_int_equal(
	    store_archive_append("h", "a", "ar", "i", 5, "", "3", 1), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_commit(), 0);
	reopen(fx);
	assert_int_equal(store_map_get("h", "a", "m", "k", &v, &len), 0);
	assert_string_equal(v, "2");
	free(v);
}

static void
test_sqlite_migration_idempotent(void **state)
{
	struct fx *fx = *state;
	sqlite3 *db;
	sqlite3_stmt *st;
	char *v = NULL;
	size_t len;

	assert_int_equal(store_kv_set("h", "u", "s", "kept", 4), 0);
	assert_int_equal(store_commit(), 0);
	reopen(fx);
	reopen(fx);
	assert_int_equal(store_kv_get("h", "u", "s", &v, &len), 0);
	assert_string_equal(v, "kept");
	free(v);

	assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
			     "SELECT count(*), max(version) FROM "
			     "schema_version",
			     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	assert_int_equal(sqlite3_column_int(st, 1), 2);
	sqlite3_finalize(st);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);

	/* a database from a newer Tern is refused, not downgraded */
	assert_int_equal(
	    sqlite3_exec(
		db, "UPDATE schema_version SET version=99", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	store_close(store_main);
	{
		char err[256] = "";

		store_main = store_open("sqlite", fx->path, err, sizeof(err));
		assert_null(store_main);
		assert_non_null(strstr(err, "version 99"));
	}
}

/* ---- migration from schema 1 ---- */

/* The schema Tern made before archive schema 2 (migration 1 of
 * src/store/sqlite.c as released), as a fixture: never edit it. */
static const char schema_v1[] =
    "CREATE TABLE schema_version(version INTEGER NOT NULL);"
    "INSERT INTO schema_version VALUES(1);"
    "CREATE TABLE kv("
    " host TEXT NOT NULL, user TEXT NOT NULL, store TEXT NOT NULL,"
    " value BLOB NOT NULL,"
    " PRIMARY KEY(host, user, store));"
    "CREATE TABLE map("
    " host TEXT NOT NULL, user TEXT NOT NULL, store TEXT NOT NULL,"
    " key TEXT NOT NULL, value BLOB NOT NULL,"
    " PRIMARY KEY(host, user, store, key));"
    "CREATE TABLE archive("
    " seq INTEGER PRIMARY KEY,"
    " host TEXT NOT NULL, user TEXT NOT NULL, store TEXT NOT NULL,"
    " id TEXT NOT NULL, \"when\" INTEGER NOT NULL,"
    " with_jid TEXT NOT NULL DEFAULT '', value BLOB NOT NULL,"
    " UNIQUE(host, user, store, id));"
    "CREATE INDEX archive_when ON archive(host, user, store, \"when\");"
    "CREATE INDEX archive_with ON archive(host, user, store, with_jid,"
    " \"when\");"
    "CREATE INDEX archive_expiry ON archive(store, \"when\");";

/* A schema-1 database at path with fill_days' items for romeo, juliet and
 * the host-wide user "" (interleaved, as archives grow), other stores'
 * items and a keyval document; extra_sql runs last. */
static void
make_v1(const char *path, const char *extra_sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char id[16], val[32];
	int i, u;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode=WAL; BEGIN",
			     NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
			     "INSERT INTO archive(host,user,store,id,\"when\","
			     "with_jid,value) VALUES('h',?1,?2,?3,?4,?5,?6)",
			     -1, &st, NULL),
	    SQLITE_OK);
	for (i = 0; i < DAYS_N; i++)
		for (u = 0; u < 4; u++) {
			snprintf(id, sizeof(id), "x%d", i);
			snprintf(val, sizeof(val), "<m>%d</m>", i);
			sqlite3_bind_text(st, 1,
			    u == 1   ? "juliet"
			    : u == 3 ? ""
				     : "romeo",
			    -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, u == 2 ? "offline" : "mam", -1,
			    SQLITE_STATIC);
			sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, DAYS_T(i));
			sqlite3_bind_text(
			    st, 5, days_with(i), -1, SQLITE_STATIC);
			sqlite3_bind_blob(
			    st, 6, val, (int)strlen(val), SQLITE_STATIC);
			assert_int_equal(sqlite3_step(st), SQLITE_DONE);
			sqlite3_reset(st);
		}
	sqlite3_finalize(st);
	assert_int_equal(
	    sqlite3_exec(db, "INSERT INTO kv VALUES('h','romeo','vcard','v');",
		NULL, NULL, NULL),
	    SQLITE_OK);
	if (extra_sql != NULL)
		assert_int_equal(
		    sqlite3_exec(db, extra_sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static long
sql_count(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long n = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = (long)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

/* Issue 18: a database made by schema 1 opens with the new code, which
 * converts it in place; every item keeps its id, time, with-JID, value
 * and order, and is found by every kind of query XEP-0313 and XEP-0059
 * make (with, start/end, RSM after/before, ids); new items archive
 * after it, also in the same second as the newest migrated one. */
static void
test_sqlite_migrate_v1_archive(void **state)
{
	static const char *const ids[] = { "x3", "x59", "x0", NULL };
	struct fx *fx = *state;
	struct store_archive_query q;
	char err[256] = "", *v;
	size_t len;
	int seen = 0;

	store_close(store_main);
	unlink(fx->path);
	make_v1(fx->path, NULL);
	store_main = store_open("sqlite", fx->path, err, sizeof(err));
	assert_non_null(store_main);
	assert_int_equal(
	    sql_count(fx->path, "SELECT max(version) FROM schema_version"), 2);
	assert_int_equal(
	    sql_count(fx->path, "SELECT count(*) FROM sqlite_master "
				"WHERE name='archive'"),
	    0);

	check_days("romeo");
	check_days("juliet");
	check_days("");
	memset(&q, 0, sizeof(q));
	q.host = "h";
	q.user = "romeo";
	q.store = "offline";
	assert_int_equal(count(&q), DAYS_N);
	q.store = "mam";
	q.ids = ids;
	ASSERT_QUERY(&q, "x0,x3,x59,");
	q.ids = NULL;
	q.after_id = "x58";
	q.store = "mam";
	assert_int_equal(store_archive_query(&q, check_last_item, &seen), 0);
	assert_int_equal(seen, 1);
	assert_int_equal(store_kv_get("h", "romeo", "vcard", &v, &len), 0);
	assert_string_equal(v, "v");
	free(v);

	/* host-wide archives have owners below 0 (their with index), new
	 * ones too */
	assert_int_equal(
	    store_archive_append("h", "", "muc", "m1", 5, "room", "c", 1), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(
	    sql_count(fx->path, "SELECT count(*) FROM archive_owner WHERE "
				"(user='') = (owner<0)"),
	    5);
	/* new items go after every migrated one, same second or not */
	assert_int_equal(store_archive_append("h", "romeo", "mam", "n1",
			     DAYS_T(DAYS_N - 1), "juliet@h", "a", 1),
	    0);
	assert_int_equal(store_archive_append("h", "romeo", "mam", "n2",
			     DAYS_T(DAYS_N - 1) + 1, "nurse@h", "b", 1),
	    0);
	assert_int_equal(store_commit(), 0);
	reopen(fx);
	q.after_id = "x57";
	ASSERT_QUERY(&q, "x58,x59,n1,n2,");
	q.after_id = NULL;
	q.with = "juliet@h";
	q.reverse = 1;
	q.limit = 2;
	ASSERT_QUERY(&q, "n1,x55,");
	q.with = NULL;
	q.limit = 0;
	q.reverse = 0;
	assert_int_equal(count(&q), DAYS_N + 2);
	/* and expiry, deletion still find them */
	assert_int_equal(store_archive_del("h", "romeo", "mam", "x0"), 0);
	{
		long deleted = 0;

		assert_int_equal(
		    store_archive_expire("mam", DAYS_T(3), &deleted), 0);
		assert_int_equal(deleted, 3 * 3 - 1);
	}
	assert_int_equal(store_commit(), 0);
	assert_int_equal(count(&q), DAYS_N + 2 - 3);
	q.user = "juliet";
	assert_int_equal(count(&q), DAYS_N - 3);
}

/* The migration is one transaction: one that fails half-way (here at its
 * index, after the items were copied) leaves the schema-1 database as it
 * was, every item in place, and opening refuses with the reason; once
 * the cause is gone it migrates. */
static void
test_sqlite_migrate_failure_keeps_v1(void **state)
{
	struct fx *fx = *state;
	char err[256] = "";

	store_close(store_main);
	store_main = NULL;
	unlink(fx->path);
	make_v1(fx->path, "CREATE TABLE junk(x);"
			  "CREATE INDEX archive_item_id ON junk(x);");
	assert_null(store_open("sqlite", fx->path, err, sizeof(err)));
	assert_non_null(strstr(err, "archive_item_id"));
	assert_int_equal(
	    sql_count(fx->path, "SELECT max(version) FROM schema_version"), 1);
	assert_int_equal(
	    sql_count(fx->path, "SELECT count(*) FROM archive"), 4 * DAYS_N);
	assert_int_equal(sql_count(fx->path,
			     "SELECT count(*) FROM sqlite_master WHERE name IN "
			     "('archive_item','archive_owner',"
			     "'archive_with_day')"),
	    0);
	assert_int_equal(
	    sql_count(fx->path,
		"SELECT count(*) FROM sqlite_master WHERE name IN "
		"('archive_when','archive_with','archive_expiry')"),
	    3);

	assert_int_equal(
	    sql_count(fx->path, "SELECT count(*) FROM sqlite_master WHERE "
				"name='junk'"),
	    1);
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
		assert_int_equal(
		    sqlite3_exec(db, "DROP TABLE junk", NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_close(db);
	}
	store_main = store_open("sqlite", fx->path, err, sizeof(err));
	assert_non_null(store_main);
	check_days("romeo");
	check_days("juliet");
	check_days("");
}

/* ternctl deletes an account on its own connection while ternd, which
 * remembers archive owners, their sizes and the days noted for with, goes
 * on archiving for it (re-created): what ternd writes after that is found
 * by every query, with included. */
static void
test_sqlite_other_connection_deletes(void **state)
{
	struct fx *fx = *state;
	struct store *main_st = store_main, *other;
	struct store_archive_query q;
	char err[256];

	memset(&q, 0, sizeof(q));
	q.host = "h";
	q.user = "u";
	q.store = "mam";
	assert_int_equal(
	    store_archive_append("h", "u", "mam", "a1", 100, "c@h", "1", 1), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(count(&q), 1);
	q.with = "c@h";
	assert_int_equal(count(&q), 1);

	other = store_open("sqlite", fx->path, err, sizeof(err));
	assert_non_null(other);
	store_main = other;
	assert_int_equal(store_user_delete("h", "u"), 0);
	assert_int_equal(store_commit(), 0);
	store_close(other);
	store_main = main_st;

	assert_int_equal(
	    store_archive_append("h", "u", "mam", "a2", 101, "c@h", "2", 1), 0);
	assert_int_equal(store_commit(), 0);
	ASSERT_QUERY(&q, "a2,");
	assert_int_equal(count(&q), 1);
	q.with = NULL;
	ASSERT_QUERY(&q, "a2,");
	assert_int_equal(count(&q), 1);
}

static void
test_sqlite_bad_path(void **state)
{
	char err[256] = "", dir[128];
	struct fx *fx = *state;
	struct store *st;

	st = store_open(
	    "sqlite", "/nonexistent-tern-dir/sub/tern.db", err, sizeof(err));
	assert_null(st);
	assert_non_null(strstr(err, "/nonexistent-tern-dir/sub"));

	/* the directory is not created on the way */
	assert_int_equal(access("/nonexistent-tern-dir", F_OK), -1);

	/* a regular file standing where the directory should be */
	snprintf(dir, sizeof(dir), "%s/tern.db/x.db", fx->dir);
	err[0] = '\0';
	st = store_open("sqlite", dir, err, sizeof(err));
	assert_null(st);
	assert_non_null(strstr(err, "not a directory"));

	err[0] = '\0';
	st = store_open("nosuch", fx->path, err, sizeof(err));
	assert_null(st);
	assert_non_null(strstr(err, "nosuch"));
}

static long
count_of(const char *with)
{
	struct store_archive_query q = {
		.host = "h", .user = "u", .store = "arc", .with = with
	};
	long n = -1;

	assert_int_equal(store_archive_count(&q, &n), 0);
	return n;
}

/* Archive sizes are remembered after a count: appends, deletes and
 * expiry must keep them true, with and without a with-JID. */
static void
test_archive_count_cache(void **state)
{
	long deleted;

	(void)state;
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a1", 10, "x@h", "1", 1), 0);
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a2", 20, "y@h", "2", 1), 0);
	assert_int_equal(count_of(NULL), 2);
	assert_int_equal(count_of("x@h"), 1);
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a3", 30, "x@h", "3", 1), 0);
	assert_int_equal(count_of(NULL), 3);
	assert_int_equal(count_of("x@h"), 2);
	assert_int_equal(count_of("y@h"), 1);
	/* another user's archive is another size */
	assert_int_equal(
	    store_archive_append("h", "v", "arc", "b1", 30, "x@h", "3", 1), 0);
	assert_int_equal(count_of(NULL), 3);
	assert_int_equal(store_archive_del("h", "u", "arc", "a1"), 0);
	assert_int_equal(count_of(NULL), 2);
	assert_int_equal(count_of("x@h"), 1);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_archive_expire("arc", 25, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(count_of(NULL), 1);
	assert_int_equal(count_of("y@h"), 0);
	assert_int_equal(store_user_delete("h", "u"), 0);
	assert_int_equal(count_of(NULL), 0);
	assert_int_equal(store_commit(), 0);
}

/* A commit that fails for real (SQLite: RLIMIT_FSIZE, every write to
 * the database files fails with EFBIG; memory: an injected failure)
 * keeps every write; writes made while failing are kept too; the retry
 * once writes work commits them all, in order, once. */
static void
test_failed_commit_is_replayed(void **state)
{
	struct fx *fx = *state;
	char *v = NULL;
	size_t len;
	long n = -1;
	struct store_archive_query q = {
		.host = "h", .user = "u", .store = "arc"
	};

	assert_int_equal(store_kv_set("h", "u", "doc", "v0", 2), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_failing(), 0);

	fx->be->fail_commits();

	assert_int_equal(store_kv_set("h", "u", "doc", "v1", 2), 0);
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a1", 1, "w", "one", 3), 0);
	assert_int_equal(store_commit(), -1);
	assert_int_equal(store_failing(), 1);
	/* written while failing: journalled only */
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a2", 2, "w", "two", 3), 0);
	assert_int_equal(store_map_set("h", "u", "m", "k", "x", 1), 0);
	assert_int_equal(store_map_del("h", "u", "m", "k"), 0);
	assert_int_equal(store_commit(), -1);

	fx->be->heal_commits();
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_failing(), 0);
	assert_int_equal(store_kv_get("h", "u", "doc", &v, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(v, "v1", 2);
	free(v);
	assert_int_equal(store_archive_count(&q, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_map_get("h", "u", "m", "k", &v, &len), 1);
	/* nothing left to replay: a second commit is a no-op */
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_archive_count(&q, &n), 0);
	assert_int_equal(n, 2);
}

/* A fresh count from the backend, past store.c's kept figure. */
static long long
backend_usage(const char *user)
{
	long long n = -1;

	assert_int_equal(store_main->be->bytes(
			     store_main, STORE_KV, "h", user, NULL, NULL, &n),
	    0);
	return n;
}

static long long
usage_of(const char *user)
{
	long long n = -1;

	assert_int_equal(store_usage("h", user, &n), 0);
	return n;
}

/* The account quota: usage is the bytes of keys and values, kept by
 * every write wrapper; a write past the quota fails with STORE_QUOTA and
 * changes nothing, shrinking writes and deletes always work, host-wide
 * data and other accounts are apart, and the kept figure equals a fresh
 * count from the backend. */
static void
test_account_quota(void **state)
{
	struct fx *fx = *state;
	char big[1000], err[256], *v = NULL;
	long long n;
	size_t len;

	memset(big, 'x', sizeof(big));
	store_quota_set(4000);
	assert_int_equal(usage_of("alice"), 0);
	assert_int_equal(store_kv_set("h", "alice", "vcard", big, 1000), 0);
	assert_int_equal(
	    store_map_set("h", "alice", "private", "ns1", big, 1000), 0);
	assert_int_equal(store_archive_append(
			     "h", "alice", "mam", "id1", 1, "bob@h", big, 1000),
	    0);
	assert_int_equal(usage_of("alice"), 1000 + 1003 + 1008);
	/* 4014 > 4000 */
	assert_int_equal(
	    store_map_set("h", "alice", "private", "ns2", big, 1000),
	    STORE_QUOTA);
	assert_int_equal(store_archive_append(
			     "h", "alice", "mam", "id2", 2, "bob@h", big, 1000),
	    STORE_QUOTA);
	assert_int_equal(
	    store_map_get("h", "alice", "private", "ns2", &v, &len), 1);
	/* replacing with less, then room again */
	assert_int_equal(
	    store_map_set("h", "alice", "private", "ns1", big, 500), 0);
	assert_int_equal(
	    store_map_set("h", "alice", "private", "ns2", big, 500), 0);
	assert_int_equal(usage_of("alice"), 1000 + 503 + 503 + 1008);
	/* host-wide rows and other accounts count apart */
	assert_int_equal(store_map_set("h", "", "x", "k", big, 1000), 0);
	assert_int_equal(store_kv_set("h", "bob", "vcard", big, 1000), 0);
	assert_int_equal(store_kv_set("h", "bob", "vcard2", big, 1000), 0);
	assert_int_equal(usage_of("bob"), 2000);
	assert_int_equal(usage_of("alice"), 3014);
	/* deletes free */
	assert_int_equal(store_archive_del("h", "alice", "mam", NULL), 0);
	assert_int_equal(store_kv_del("h", "alice", "vcard"), 0);
	assert_int_equal(store_map_del("h", "alice", "private", "ns2"), 0);
	assert_int_equal(usage_of("alice"), 503);
	/* the kept figure is what a fresh count finds */
	assert_int_equal(store_commit(), 0);
	assert_int_equal(backend_usage("alice"), 503);
	assert_int_equal(backend_usage("bob"), 2000);
	if (fx->be->durable) {
		store_close(store_main);
		store_main =
		    store_open(fx->be->name, fx->path, err, sizeof(err));
		assert_non_null(store_main);
	}
	assert_int_equal(usage_of("alice"), 503);
	assert_int_equal(usage_of("bob"), 2000);
	assert_int_equal(store_map_del("h", "alice", "private", NULL), 0);
	assert_int_equal(store_usage("h", "alice", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_user_delete("h", "bob"), 0);
	assert_int_equal(usage_of("bob"), 0);
	store_quota_set(0);
	assert_int_equal(store_kv_set("h", "bob", "vcard", big, 1000), 0);
}

/* ---- the backend's transaction, past the journal ---- */

/* What a transaction wrote is undone by the backend's rollback exactly:
 * replaced, deleted and expired rows come back with their values and
 * their place in the order, added ones go. store.c's journal replay
 * relies on it (it rolls back, then applies the journal again). Calls
 * the backend directly, so nothing is journalled. */
static void
test_backend_rollback(void **state)
{
	struct store *st = store_main;
	const struct store_backend *be = st->be;
	struct store_archive_query q;
	long long romeo_bytes, juliet_bytes;
	long deleted = -1, n = -1;
	struct sbuf b;
	char *v = NULL;
	size_t len;

	(void)state;
	fill_archive();
	assert_int_equal(store_kv_set("h", "romeo", "vcard", "one", 3), 0);
	assert_int_equal(store_map_set("h", "romeo", "roster", "a", "1", 1), 0);
	assert_int_equal(store_map_set("h", "romeo", "roster", "b", "2", 1), 0);
	assert_int_equal(store_map_set("h", "romeo", "roster", "c", "3", 1), 0);
	assert_int_equal(store_commit(), 0);
	assert_false(be->in_tx(st));
	romeo_bytes = backend_usage("romeo");
	juliet_bytes = backend_usage("juliet");

	/* one transaction that touches every kind of row */
	assert_int_equal(be->kv_set(st, "h", "romeo", "vcard", "two", 3), 0);
	assert_true(be->in_tx(st));
	assert_int_equal(be->kv_set(st, "h", "juliet", "vcard", "new", 3), 0);
	assert_int_equal(
	    be->map_set(st, "h", "romeo", "roster", "b", "22", 2), 0);
	assert_int_equal(be->map_del(st, "h", "romeo", "roster", "a"), 0);
	assert_int_equal(
	    be->map_set(st, "h", "romeo", "roster", "0", "0", 1), 0);
	assert_int_equal(be->archive_append(st, "h", "romeo", "mam", "b0", 1015,
			     "juliet@h", "x", 1),
	    0);
	assert_int_equal(be->archive_del(st, "h", "romeo", "mam", "a5"), 0);
	assert_int_equal(be->archive_expire(st, "mam", 1030, &deleted), 0);
	assert_int_equal(deleted, 6); /* a0 b0 a1 a2 j0 h2's a0 */
	/* an expired id may be used again */
	assert_int_equal(be->archive_append(st, "h", "romeo", "mam", "a0", 2000,
			     "nurse@h", "y", 1),
	    0);
	assert_int_equal(be->user_delete(st, "h", "juliet"), 0);
	assert_int_equal(be->map_del(st, "h", "romeo", "roster", NULL), 0);
	q = romeo_mam();
	ASSERT_QUERY(&q, "a3,a4,a6,a7,a8,a9,a0,");
	assert_int_equal(store_map_count("h", "romeo", "roster", &n), 0);
	assert_int_equal(n, 0);

	be->rollback(st);
	assert_false(be->in_tx(st));
	assert_int_equal(store_kv_get("h", "romeo", "vcard", &v, &len), 0);
	assert_string_equal(v, "one");
	free(v);
	assert_int_equal(store_kv_get("h", "juliet", "vcard", &v, &len), 1);
	sbuf_init(&b);
	assert_int_equal(
	    store_map_list("h", "romeo", "roster", collect_map, &b), 0);
	assert_string_equal(b.data, "a=1;b=2;c=3;");
	sbuf_cleanup(&b);
	ASSERT_QUERY(&q, "a0,a1,a2,a3,a4,a5,a6,a7,a8,a9,");
	assert_int_equal(count(&q), 10);
	q.with = "juliet@h";
	ASSERT_QUERY(&q, "a0,a2,a4,a6,a8,");
	assert_int_equal(count(&q), 5);
	q = romeo_mam();
	q.after_id = "a0";
	q.before_id = "a3";
	ASSERT_QUERY(&q, "a1,a2,");
	q = romeo_mam();
	q.user = "juliet";
	ASSERT_QUERY(&q, "j0,");
	q.user = "romeo";
	q.host = "h2";
	ASSERT_QUERY(&q, "a0,");
	assert_int_equal(backend_usage("romeo"), romeo_bytes);
	assert_int_equal(backend_usage("juliet"), juliet_bytes);

	/* and the next transaction is a normal one */
	assert_int_equal(store_kv_set("h", "romeo", "vcard", "three", 5), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_kv_get("h", "romeo", "vcard", &v, &len), 0);
	assert_string_equal(v, "three");
	free(v);
}

/* An archive of 100,000 items: pages from the middle and both ends,
 * counts, ranges, one-by-one deletes and expiry stay right at that size
 * (and quick: a backend quadratic in the archive size would take
 * minutes here). */
static void
test_archive_large(void **state)
{
	enum { N = 100000, T0 = 1000000 };
	struct store_archive_query q = {
		.host = "h", .user = "u", .store = "big"
	};
	long deleted = -1;
	char id[16];
	int i;

	(void)state;
	/* two items a second: equal times keep insertion order */
	for (i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "i%06d", i);
		assert_int_equal(
		    store_archive_append("h", "u", "big", id, T0 + i / 2,
			i % 2 ? "a@h" : "b@h", id, strlen(id)),
		    0);
	}
	assert_int_equal(store_commit(), 0);
	assert_int_equal(count(&q), N);
	q.with = "a@h";
	assert_int_equal(count(&q), N / 2);
	q.with = NULL;
	q.limit = 3;
	q.after_id = "i049999";
	ASSERT_QUERY(&q, "i050000,i050001,i050002,");
	q.after_id = NULL;
	q.reverse = 1;
	q.limit = 2;
	ASSERT_QUERY(&q, "i099999,i099998,");
	q.before_id = "i000003";
	ASSERT_QUERY(&q, "i000002,i000001,");
	q.before_id = NULL;
	q.reverse = 0;
	q.with = "b@h";
	q.after_id = "i050000";
	ASSERT_QUERY(&q, "i050002,i050004,");
	q = (struct store_archive_query){ .host = "h",
		.user = "u",
		.store = "big",
		.start = T0 + 25000,
		.end = T0 + 25000 };
	ASSERT_QUERY(&q, "i050000,i050001,");
	assert_int_equal(count(&q), 2);

	/* every other item, one call each */
	for (i = 0; i < N; i += 2) {
		snprintf(id, sizeof(id), "i%06d", i);
		assert_int_equal(store_archive_del("h", "u", "big", id), 0);
	}
	assert_int_equal(store_commit(), 0);
	q = (struct store_archive_query){
		.host = "h", .user = "u", .store = "big"
	};
	assert_int_equal(count(&q), N / 2);
	q.with = "a@h";
	assert_int_equal(count(&q), N / 2);
	q.with = "b@h";
	assert_int_equal(count(&q), 0);
	assert_int_equal(store_archive_expire("big", T0 + 25000, &deleted), 0);
	assert_int_equal(deleted, N / 4);
	q.with = NULL;
	assert_int_equal(count(&q), N / 4);
	q.limit = 1;
	ASSERT_QUERY(&q, "i050001,");
	assert_int_equal(store_commit(), 0);
}

/* ---- injected failures (memory backend) ---- */

/* A write the backend refuses (a statement error) fails alone: the
 * transaction goes on with the writes before it and nothing is held for
 * a replay. */
static void
test_mem_failed_write(void **state)
{
	char *v = NULL;
	size_t len;

	(void)state;
	assert_int_equal(store_kv_set("h", "u", "a", "1", 1), 0);
	assert_int_equal(
	    store_mem_fail(store_main, STORE_MEM_FAIL_WRITE, 0, 1), 0);
	assert_int_equal(store_kv_set("h", "u", "b", "2", 1), -1);
	assert_int_equal(store_failing(), 0);
	assert_int_equal(store_map_set("h", "u", "m", "k", "3", 1), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_failing(), 0);
	assert_int_equal(store_kv_get("h", "u", "a", &v, &len), 0);
	assert_string_equal(v, "1");
	free(v);
	assert_int_equal(store_kv_get("h", "u", "b", &v, &len), 1);
	assert_int_equal(store_map_get("h", "u", "m", "k", &v, &len), 0);
	assert_string_equal(v, "3");
	free(v);
	/* the backend's count of the account matches what is there */
	assert_int_equal(backend_usage("u"), 1 + 2); /* a=1, m's k=3 */
}

/* A write failure that loses the whole transaction (SQLite rolls back
 * by itself after some I/O errors) loses no acknowledged write: the
 * journal replays them at the next commit, with the writes made
 * meanwhile. */
static void
test_mem_lost_transaction_is_replayed(void **state)
{
	struct store_archive_query q = {
		.host = "h", .user = "u", .store = "arc"
	};
	char *v = NULL;
	size_t len;

	(void)state;
	assert_int_equal(store_kv_set("h", "u", "doc", "v0", 2), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_kv_set("h", "u", "doc", "v1", 2), 0);
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a1", 1, "w", "one", 3), 0);
	assert_int_equal(store_map_set("h", "u", "m", "k", "x", 1), 0);
	assert_int_equal(
	    store_mem_fail(store_main, STORE_MEM_FAIL_WRITE_ABORT, 0, 1), 0);
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a2", 2, "w", "two", 3), -1);
	assert_false(store_main->be->in_tx(store_main));
	assert_int_equal(store_failing(), 1);
	/* written while failing: journalled only */
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a3", 3, "w", "three", 5), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_failing(), 0);
	assert_int_equal(store_kv_get("h", "u", "doc", &v, &len), 0);
	assert_string_equal(v, "v1");
	free(v);
	ASSERT_QUERY(&q, "a1,a3,");
	assert_int_equal(store_map_get("h", "u", "m", "k", &v, &len), 0);
	assert_string_equal(v, "x");
	free(v);
	/* nothing left to replay */
	assert_int_equal(store_commit(), 0);
	assert_int_equal(count(&q), 2);
}

/* A replay that fails half way keeps the whole journal for the next
 * one, which applies every write once, in order. */
static void
test_mem_failed_replay(void **state)
{
	struct store_archive_query q = {
		.host = "h", .user = "u", .store = "arc"
	};
	char *v = NULL;
	size_t len;

	(void)state;
	assert_int_equal(store_kv_set("h", "u", "doc", "v1", 2), 0);
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a1", 1, "w", "one", 3), 0);
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a2", 1, "w", "two", 3), 0);
	assert_int_equal(
	    store_mem_fail(store_main, STORE_MEM_FAIL_COMMIT, 0, 1), 0);
	assert_int_equal(store_commit(), -1);
	assert_int_equal(store_failing(), 1);
	/* the replay's second write fails */
	assert_int_equal(
	    store_mem_fail(store_main, STORE_MEM_FAIL_WRITE, 1, 1), 0);
	assert_int_equal(store_commit(), -1);
	assert_int_equal(store_failing(), 1);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_failing(), 0);
	assert_int_equal(store_kv_get("h", "u", "doc", &v, &len), 0);
	assert_string_equal(v, "v1");
	free(v);
	ASSERT_QUERY(&q, "a1,a2,");
	assert_int_equal(count(&q), 2);
}

/* A read that fails is an error to its caller, never "not found"; a
 * quota check that cannot count the account refuses the write. */
static void
test_mem_failed_read(void **state)
{
	struct store_archive_query q = {
		.host = "h", .user = "u", .store = "arc"
	};
	char *v = NULL;
	struct sbuf b;
	size_t len;
	long n;

	(void)state;
	assert_int_equal(store_kv_set("h", "u", "doc", "v", 1), 0);
	assert_int_equal(store_map_set("h", "u", "m", "k", "x", 1), 0);
	assert_int_equal(
	    store_archive_append("h", "u", "arc", "a1", 1, "w", "one", 3), 0);
	assert_int_equal(store_commit(), 0);
#define FAIL_READ()                                                            \
	assert_int_equal(                                                      \
	    store_mem_fail(store_main, STORE_MEM_FAIL_READ, 0, 1), 0)
	FAIL_READ();
	assert_int_equal(store_kv_get("h", "u", "doc", &v, &len), -1);
	assert_int_equal(store_kv_get("h", "u", "doc", &v, &len), 0);
	free(v);
	FAIL_READ();
	assert_int_equal(store_map_get("h", "u", "m", "k", &v, &len), -1);
	sbuf_init(&b);
	FAIL_READ();
	assert_int_equal(store_map_list("h", "u", "m", collect_map, &b), -1);
	FAIL_READ();
	assert_int_equal(store_map_count("h", "u", "m", &n), -1);
	FAIL_READ();
	assert_int_equal(store_kv_users("h", "doc", collect_users, &b), -1);
	FAIL_READ();
	assert_int_equal(store_archive_query(&q, collect_ids, &b), -1);
	assert_true(b.len == 0);
	sbuf_cleanup(&b);
	FAIL_READ();
	assert_int_equal(store_archive_count(&q, &n), -1);

	store_quota_set(1000);
	FAIL_READ();
	assert_int_equal(store_kv_set("h", "u", "doc2", "y", 1), -1);
	assert_int_equal(store_kv_get("h", "u", "doc2", &v, &len), 1);
	assert_int_equal(store_kv_set("h", "u", "doc2", "y", 1), 0);
	assert_int_equal(usage_of("u"), 1 + 2 + 6 + 1);
	store_quota_set(0);
#undef FAIL_READ
	assert_int_equal(store_commit(), 0);
}

/* Listings hand out what they found when called: a callback may delete,
 * write and commit under them. */
static int
wipe_map(void *ud, const char *key, const char *val, size_t len)
{
	assert_int_equal(store_map_del("h", "u", "m", NULL), 0);
	assert_int_equal(store_map_set("h", "u", "m", "zz", "new", 3), 0);
	assert_int_equal(store_commit(), 0);
	return collect_map(ud, key, val, len);
}

static int
wipe_archive(void *ud, const struct store_archive_item *it)
{
	assert_int_equal(store_archive_del("h", "romeo", "mam", NULL), 0);
	assert_int_equal(store_commit(), 0);
	return collect_ids(ud, it);
}

static void
test_mem_listing_callbacks_write(void **state)
{
	struct store_archive_query q = romeo_mam();
	struct sbuf b;

	(void)state;
	assert_int_equal(store_map_set("h", "u", "m", "a", "1", 1), 0);
	assert_int_equal(store_map_set("h", "u", "m", "b", "2", 1), 0);
	assert_int_equal(store_map_set("h", "u", "m", "c", "3", 1), 0);
	assert_int_equal(store_commit(), 0);
	sbuf_init(&b);
	assert_int_equal(store_map_list("h", "u", "m", wipe_map, &b), 0);
	assert_string_equal(b.data, "a=1;b=2;c=3;");
	sbuf_reset(&b);
	assert_int_equal(store_map_list("h", "u", "m", collect_map, &b), 0);
	assert_string_equal(b.data, "zz=new;");
	sbuf_cleanup(&b);

	fill_archive();
	assert_int_equal(store_commit(), 0);
	sbuf_init(&b);
	assert_int_equal(store_archive_query(&q, wipe_archive, &b), 0);
	assert_string_equal(b.data, "a0,a1,a2,a3,a4,a5,a6,a7,a8,a9,");
	sbuf_cleanup(&b);
	assert_int_equal(count(&q), 0);
}

/* The memory backend is chosen by name and keeps nothing past close. */
static void
test_mem_open_close(void **state)
{
	struct fx *fx = *state;
	char *v = NULL, err[256];
	struct store *sq;
	size_t len;

	assert_int_equal(store_kv_set("h", "u", "s", "v", 1), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_map_set("h", "u", "m", "k", "v", 1), 0);
	reopen(fx); /* closing with an open transaction is fine too */
	assert_int_equal(store_kv_get("h", "u", "s", &v, &len), 1);
	assert_int_equal(store_map_get("h", "u", "m", "k", &v, &len), 1);
	/* injection is for memory stores only */
	assert_int_equal(
	    store_mem_fail(store_main, STORE_MEM_FAIL_READ, 0, 0), 0);
	assert_int_equal(store_mem_fail(NULL, STORE_MEM_FAIL_READ, 0, 1), -1);
	sq = store_open("sqlite", fx->path, err, sizeof(err));
	assert_non_null(sq);
	assert_int_equal(store_mem_fail(sq, STORE_MEM_FAIL_READ, 0, 1), -1);
	store_close(sq);
}

/* ---- one account's state in one call (store_load_async) ---- */

struct load_got {
	int calls, rc;
	struct sbuf b; /* what came, as text */
};

static void
load_cb(void *ud, int rc, struct store_load_res *res)
{
	struct load_got *g = ud;
	size_t i;

	g->calls++;
	g->rc = rc;
	if (rc != 0)
		return;
	/* parts: kv "doc", kv "none", map "m", archive "ar" */
	sbuf_printf(&g->b, "doc=%d:%.*s;none=%d;", res[0].found,
	    (int)res[0].len, res[0].val ? res[0].val : "", res[1].found);
	for (i = 0; i < res[2].nrows; i++)
		sbuf_printf(&g->b, "%s=%.*s,", res[2].rows[i].key,
		    (int)res[2].rows[i].len, res[2].rows[i].val);
	sbuf_printf(&g->b, ";ar=%lld/%lld", res[3].count, res[3].bytes);
	/* the callback may keep a part: store.c frees the rest */
	free(res[0].val);
	res[0].val = NULL;
}

static const struct store_load_part load_parts[] = {
	{ STORE_KV, "doc" },
	{ STORE_KV, "none" },
	{ STORE_MAP, "m" },
	{ STORE_ARCHIVE, "ar" },
};

static void
fill_account(const char *user)
{
	assert_int_equal(store_kv_set("h", user, "doc", "hello", 5), 0);
	assert_int_equal(store_map_set("h", user, "m", "b", "2", 1), 0);
	assert_int_equal(store_map_set("h", user, "m", "a", "1", 1), 0);
	assert_int_equal(store_map_set("h", user, "m", "c", "", 0), 0);
	assert_int_equal(
	    store_archive_append("h", user, "ar", "i1", 1, "x", "abc", 3), 0);
	assert_int_equal(
	    store_archive_append("h", user, "ar", "i2", 2, "x", "de", 2), 0);
	/* another account's rows are not part of it */
	assert_int_equal(store_map_set("h", "other", "m", "z", "9", 1), 0);
}

/* Load user's parts (answered inline): the calls so far and the text. */
static void
load_expect(struct load_got *g, const char *user, int calls, const char *want)
{
	sbuf_reset(&g->b);
	assert_int_equal(store_load_async("h", user, load_parts,
			     ARRAY_LEN(load_parts), load_cb, g),
	    0);
	assert_int_equal(g->calls, calls);
	assert_int_equal(g->rc, 0);
	assert_string_equal(g->b.data, want);
}

/* Every backend: the parts come in one call, cb runs exactly once (here
 * inline: no backend of ours defers unless told), maps in key order, an
 * archive as its count and value bytes; a missing document is found=0
 * and an unknown account is all empty. */
static void
test_load_async(void **state)
{
	struct fx *fx = *state;
	struct load_got g = { 0 };

	sbuf_init(&g.b);
	fill_account("u");
	assert_int_equal(store_commit(), 0);
	reopen_if_durable(fx);
	load_expect(&g, "u", 1, "doc=1:hello;none=0;a=1,b=2,c=,;ar=2/5");
	/* uncommitted writes are read too, as by every other read */
	assert_int_equal(store_map_del("h", "u", "m", "b"), 0);
	load_expect(&g, "u", 2, "doc=1:hello;none=0;a=1,c=,;ar=2/5");
	load_expect(&g, "nobody", 3, "doc=0:;none=0;;ar=0/0");
	sbuf_cleanup(&g.b);
}

/* A failed read makes the whole load fail: cb gets -1, once. */
static void
test_mem_load_failed_read(void **state)
{
	struct load_got g = { 0 };

	(void)state;
	sbuf_init(&g.b);
	fill_account("u");
	assert_int_equal(store_commit(), 0);
	assert_int_equal(
	    store_mem_fail(store_main, STORE_MEM_FAIL_READ, 1, 1), 0);
	assert_int_equal(store_load_async("h", "u", load_parts,
			     ARRAY_LEN(load_parts), load_cb, &g),
	    0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.rc, -1);
	sbuf_cleanup(&g.b);
}

static void
chained_cb(void *ud, int rc, struct store_load_res *res)
{
	struct load_got *g = ud;

	load_cb(ud, rc, res);
	/* a load asked from a callback waits for the next round */
	if (g->calls == 1)
		assert_int_equal(store_load_async("h", "u", load_parts,
				     ARRAY_LEN(load_parts), load_cb, g),
		    0);
}

/* Deferred answers (what a network backend does): nothing inline; the
 * answer holds the rows as they are when it is given; each load is
 * answered once, in the order asked. */
static void
test_mem_deferred_load(void **state)
{
	struct load_got g = { 0 };

	(void)state;
	sbuf_init(&g.b);
	assert_int_equal(store_mem_defer(store_main, 1), 0);
	fill_account("u");
	assert_int_equal(store_load_async("h", "u", load_parts,
			     ARRAY_LEN(load_parts), chained_cb, &g),
	    0);
	assert_int_equal(g.calls, 0);
	assert_int_equal(store_map_set("h", "u", "m", "d", "4", 1), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(store_mem_complete(store_main), 1);
	assert_int_equal(g.calls, 1);
	assert_string_equal(
	    g.b.data, "doc=1:hello;none=0;a=1,b=2,c=,d=4,;ar=2/5");
	assert_int_equal(store_mem_complete(store_main), 1);
	assert_int_equal(g.calls, 2);
	assert_int_equal(store_mem_complete(store_main), 0);
	/* off again: answers inline */
	assert_int_equal(store_mem_defer(store_main, 0), 0);
	assert_int_equal(store_load_async("h", "u", load_parts,
			     ARRAY_LEN(load_parts), load_cb, &g),
	    0);
	assert_int_equal(g.calls, 3);
	/* loads still waiting at close are dropped, not answered */
	assert_int_equal(store_mem_defer(store_main, 1), 0);
	assert_int_equal(store_load_async("h", "u", load_parts,
			     ARRAY_LEN(load_parts), load_cb, &g),
	    0);
	assert_int_equal(store_mem_defer(NULL, 1), -1);
	sbuf_cleanup(&g.b);
}

/* One test on one backend: "sqlite/test_kv". */
#define ON(be, f)                                                              \
	{                                                                      \
#be "/" #f, f, setup, teardown, &be_##be                       \
	}

/* Every backend passes these. */
#define CONFORMANCE(be)                                                        \
	ON(be, test_kv), ON(be, test_map), ON(be, test_map_prefix),            \
	    ON(be, test_archive_fields), ON(be, test_archive_unknown_id),      \
	    ON(be, test_archive_ordering_and_ids_escaping),                    \
	    ON(be, test_archive_del_and_expire), ON(be, test_user_delete),     \
	    ON(be, test_commit_semantics), ON(be, test_archive_count_cache),   \
	    ON(be, test_failed_commit_is_replayed),                            \
	    ON(be, test_account_quota), ON(be, test_backend_rollback),         \
	    ON(be, test_archive_large), ON(be, test_load_async),               \
	    ON(be, test_archive_with_across_days)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		CONFORMANCE(sqlite),
		CONFORMANCE(memory),
		ON(sqlite, test_sqlite_commit_semantics),
		ON(sqlite, test_sqlite_migration_idempotent),
		ON(sqlite, test_sqlite_migrate_v1_archive),
		ON(sqlite, test_sqlite_migrate_failure_keeps_v1),
		ON(sqlite, test_sqlite_other_connection_deletes),
		ON(sqlite, test_sqlite_bad_path),
		ON(memory, test_mem_failed_write),
		ON(memory, test_mem_lost_transaction_is_replayed),
		ON(memory, test_mem_failed_replay),
		ON(memory, test_mem_failed_read),
		ON(memory, test_mem_listing_callbacks_write),
		ON(memory, test_mem_open_close),
		ON(memory, test_mem_load_failed_read),
		ON(memory, test_mem_deferred_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

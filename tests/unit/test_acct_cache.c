/* test_acct_cache.c: per-account state (xmpp/acct_cache.c) on the memory
 * backend: reads served from the loaded state and kept current by writes,
 * eviction under the byte cap, and stanzas waiting for a deferred load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/util.h"
#include "jid/jid.h"
#include "store/mem.h"
#include "store/store.h"
#include "store/store_impl.h"
#include "xml/xml.h"
#include "xmpp/acct_cache.h"

static struct sbuf routed; /* what the router callback got, in order */

static void
route_rec(struct xml_node *st, const struct jid *from, struct session *origin,
    int filter)
{
	(void)origin;
	(void)filter;
	sbuf_printf(&routed, "%s>%s;", from->full, xml_node_attr(st, "id"));
}

static int
setup(void **state)
{
	char err[256];

	(void)state;
	store_main = store_open("memory", "", err, sizeof(err));
	if (store_main == NULL)
		return -1;
	acct_cache_part(STORE_MAP, "roster");
	acct_cache_part(STORE_KV, "prefs");
	acct_cache_part(STORE_ARCHIVE, "offline");
	acct_cache_set_cap(32LL * 1024 * 1024);
	acct_cache_set_queue(256);
	acct_cache_set_router(route_rec);
	sbuf_init(&routed);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	acct_cache_free_all();
	store_close(store_main);
	store_main = NULL;
	sbuf_cleanup(&routed);
	return 0;
}

static void
make_account(const char *user)
{
	assert_int_equal(store_kv_set("h", user, "accounts", "doc", 3), 0);
}

/* Hold a message from user@h (id) for its own account: 1, 0 or -1. */
static int
hold(const char *user, const char *id)
{
	char buf[128];
	struct xml_node *st;
	struct jid from;
	int rc;

	snprintf(
	    buf, sizeof(buf), "<message xmlns='jabber:client' id='%s'/>", id);
	st = xml_parse_element(buf, strlen(buf));
	assert_non_null(st);
	snprintf(buf, sizeof(buf), "%s@h/r", user);
	assert_int_equal(jid_parse_str(&from, buf), 0);
	rc = acct_cache_hold("h", user, st, &from, NULL, 0, NULL, NULL);
	jid_cleanup(&from);
	xml_node_free(st);
	return rc;
}

static unsigned long
hits(void)
{
	struct acct_cache_stats s;

	acct_cache_stats(&s);
	return s.hits;
}

/* Reads come from the loaded state, not the backend (a row written to
 * the backend behind store.c's back is not seen), and every write
 * through store_* keeps that state current. */
static void
test_reads_and_writes(void **state)
{
	const struct store_backend *be = store_main->be;
	char *v = NULL;
	size_t len;
	long n;
	long long count, bytes;
	unsigned long h0;

	(void)state;
	make_account("alice");
	assert_int_equal(
	    store_map_set("h", "alice", "roster", "bob", "B", 1), 0);
	assert_int_equal(hold("alice", "1"), 1);
	assert_true(acct_cache_held("h", "alice"));
	assert_int_equal(
	    be->map_set(store_main, "h", "alice", "roster", "sneaky", "S", 1),
	    0);
	h0 = hits();
	assert_int_equal(acct_cache_exists("h", "alice"), 0);
	assert_int_equal(
	    acct_cache_map_get("h", "alice", "roster", "sneaky", &v, &len), 1);
	assert_int_equal(
	    acct_cache_map_get("h", "alice", "roster", "bob", &v, &len), 0);
	assert_memory_equal(v, "B", 1);
	free(v);
	assert_int_equal(acct_cache_map_count("h", "alice", "roster", &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(acct_cache_kv_get("h", "alice", "prefs", &v, &len), 1);
	assert_true(hits() >= h0 + 5);
	/* the account's document itself is not kept, only its existence */
	assert_int_equal(
	    acct_cache_kv_get("h", "alice", "accounts", &v, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(v, "doc", 3);
	free(v);

	/* writes: map set/replace/delete, kv set, archive append/clear */
	assert_int_equal(
	    store_map_set("h", "alice", "roster", "carol", "C", 1), 0);
	assert_int_equal(
	    store_map_set("h", "alice", "roster", "bob", "BB", 2), 0);
	assert_int_equal(
	    acct_cache_map_get("h", "alice", "roster", "bob", &v, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(v, "BB", 2);
	free(v);
	assert_int_equal(store_map_del("h", "alice", "roster", "carol"), 0);
	assert_int_equal(
	    acct_cache_map_get("h", "alice", "roster", "carol", &v, &len), 1);
	assert_int_equal(store_kv_set("h", "alice", "prefs", "p", 1), 0);
	assert_int_equal(acct_cache_kv_get("h", "alice", "prefs", &v, &len), 0);
	free(v);
	assert_int_equal(store_archive_append("h", "alice", "offline", "i1", 1,
			     "bob@h", "12345", 5),
	    0);
	assert_int_equal(
	    acct_cache_archive_usage("h", "alice", "offline", &count, &bytes),
	    0);
	assert_int_equal(count, 1);
	assert_int_equal(bytes, 5);
	assert_int_equal(store_map_del("h", "alice", "roster", NULL), 0);
	assert_int_equal(acct_cache_map_count("h", "alice", "roster", &n), 0);
	assert_int_equal(n, 0);

	/* an archive item deleted: its size is not known, so the account's
	 * state goes and is loaded afresh */
	assert_int_equal(store_archive_del("h", "alice", "offline", "i1"), 0);
	assert_false(acct_cache_held("h", "alice"));
	assert_int_equal(hold("alice", "2"), 1);
	assert_int_equal(
	    acct_cache_archive_usage("h", "alice", "offline", &count, &bytes),
	    0);
	assert_int_equal(count, 0);
	assert_int_equal(bytes, 0);

	/* the account deleted: gone, with all its rows */
	assert_int_equal(store_user_delete("h", "alice"), 0);
	assert_int_equal(acct_cache_exists("h", "alice"), 1);
	assert_int_equal(acct_cache_kv_get("h", "alice", "prefs", &v, &len), 1);
	/* and not kept past the iteration, since it does not exist */
	acct_cache_trim();
	assert_false(acct_cache_held("h", "alice"));
}

/* A failed commit (the backend lags the journal) drops every state, so
 * reads see what the backend has, as they did without the cache. */
static void
test_failed_commit_forgets(void **state)
{
	(void)state;
	make_account("alice");
	assert_int_equal(store_commit(), 0);
	assert_int_equal(hold("alice", "1"), 1);
	assert_true(acct_cache_held("h", "alice"));
	assert_int_equal(
	    store_mem_fail(store_main, STORE_MEM_FAIL_COMMIT, 0, 1), 0);
	assert_int_equal(store_map_set("h", "alice", "roster", "x", "", 0), 0);
	assert_int_equal(store_commit(), -1);
	assert_false(acct_cache_held("h", "alice"));
	assert_int_equal(store_commit(), 0);
}

/* The byte cap: at the end of an iteration the least recently used
 * accounts go until the rest fit; what was used last stays. */
static void
test_lru_eviction_under_cap(void **state)
{
	struct acct_cache_stats s;
	char user[16], key[24];
	long long one;
	int i, k;

	(void)state;
	for (i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		make_account(user);
		for (k = 0; k < 20; k++) {
			snprintf(key, sizeof(key), "contact%02d", k);
			assert_int_equal(store_map_set("h", user, "roster", key,
					     "0123456789", 10),
			    0);
		}
	}
	assert_int_equal(hold("u0", "x"), 1);
	acct_cache_stats(&s);
	one = s.bytes;
	assert_true(one > 20 * 20);
	for (i = 1; i < 10; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		assert_int_equal(hold(user, "x"), 1);
	}
	/* u0 used again: the most recent now */
	assert_int_equal(hold("u0", "y"), 1);
	acct_cache_stats(&s);
	assert_int_equal(s.accounts, 10);
	acct_cache_set_cap(one * 3 + one / 2); /* room for three */
	acct_cache_trim();
	acct_cache_stats(&s);
	assert_int_equal(s.accounts, 3);
	assert_true(s.bytes <= one * 3 + one / 2);
	assert_true(acct_cache_held("h", "u0"));
	assert_true(acct_cache_held("h", "u9"));
	assert_true(acct_cache_held("h", "u8"));
	assert_false(acct_cache_held("h", "u7"));
	assert_false(acct_cache_held("h", "u1"));
	/* an evicted account reads from the store, then loads again */
	assert_int_equal(acct_cache_exists("h", "u1"), 0);
	assert_int_equal(hold("u1", "z"), 1);
	assert_true(acct_cache_held("h", "u1"));
}

/* Deferred loads: stanzas wait in order and are routed once when the
 * load completes; a full queue refuses; a state written while its load
 * is on the way is loaded again, so it is never older than the write. */
static void
test_deferred_queue(void **state)
{
	char *v = NULL;
	size_t len;

	(void)state;
	make_account("bob");
	assert_int_equal(store_commit(), 0);
	acct_cache_set_queue(3);
	assert_int_equal(store_mem_defer(store_main, 1), 0);
	assert_int_equal(hold("bob", "1"), 0);
	assert_int_equal(hold("bob", "2"), 0);
	assert_int_equal(hold("bob", "3"), 0);
	assert_int_equal(hold("bob", "4"), -1);
	assert_true(acct_cache_held("h", "bob"));
	acct_cache_trim(); /* a loading account is never evicted */
	assert_true(acct_cache_held("h", "bob"));
	/* written while loading: the answer is thrown away, asked again */
	assert_int_equal(store_map_set("h", "bob", "roster", "a", "A", 1), 0);
	assert_int_equal(store_mem_complete(store_main), 1);
	assert_string_equal(routed.data ? routed.data : "", "");
	assert_int_equal(store_mem_complete(store_main), 1);
	assert_string_equal(routed.data, "bob@h/r>1;bob@h/r>2;bob@h/r>3;");
	assert_int_equal(
	    acct_cache_map_get("h", "bob", "roster", "a", &v, &len), 0);
	free(v);
	/* loaded, nothing waiting: the next one goes at once */
	assert_int_equal(hold("bob", "5"), 1);
	assert_int_equal(store_mem_complete(store_main), 0);
	assert_string_equal(routed.data, "bob@h/r>1;bob@h/r>2;bob@h/r>3;");
	/* forgotten (ternctl made it): gone; forgotten while loading: the
	 * answer is thrown away and the load asked again */
	acct_cache_forget("h", "bob");
	assert_false(acct_cache_held("h", "bob"));
	assert_int_equal(hold("bob", "6"), 0);
	acct_cache_forget("h", "bob");
	assert_true(acct_cache_held("h", "bob"));
	assert_int_equal(store_mem_complete(store_main), 1);
	assert_int_equal(store_mem_complete(store_main), 1);
	assert_string_equal(
	    routed.data, "bob@h/r>1;bob@h/r>2;bob@h/r>3;bob@h/r>6;");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_reads_and_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failed_commit_forgets, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_lru_eviction_under_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_deferred_queue, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_account.c: accounts on a real SQLite store in a temp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "xmpp/account.h"

struct fx {
	char dir[64];
	char path[96];
};

static void
open_main(struct fx *fx)
{
	char err[256];

	store_main = store_open("sqlite", fx->path, err, sizeof(err));
	if (store_main == NULL)
		fail_msg("store_open: %s", err);
}

static int
setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/tern-test-account-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/tern.db", fx->dir);
	open_main(fx);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	static const char *const sfx[] = { "", "-wal", "-shm" };
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
test_create_exists_check(void **state)
{
	(void)state;
	assert_int_equal(account_exists("h", "romeo"), 1);
	assert_int_equal(account_create("h", "romeo", "s3cret"), 0);
	assert_int_equal(account_exists("h", "romeo"), 0);
	assert_int_equal(account_exists("h", "juliet"), 1);
	assert_int_equal(account_exists("h2", "romeo"), 1);
	/* no second account of that name, and the first keeps its password */
	assert_int_equal(account_create("h", "romeo", "other"), 1);
	assert_int_equal(account_check_password("h", "romeo", "s3cret"), 0);
	assert_int_equal(account_check_password("h", "romeo", "other"), 1);
	assert_int_equal(account_check_password("h", "romeo", "s3cre"), 1);
	assert_int_equal(account_check_password("h", "romeo", ""), 1);
	assert_int_equal(account_check_password("h", "juliet", "s3cret"), 1);
	assert_int_equal(account_check_password("h2", "romeo", "s3cret"), 1);
	assert_int_equal(store_commit(), 0);
}

static void
test_keys_and_document(void **state)
{
	struct scram_keys k1, k256, d;
	char *doc = NULL;
	size_t len;
	int64_t created;

	(void)state;
	assert_int_equal(account_create("h", "romeo", "pencil"), 0);
	assert_int_equal(account_get_keys("h", "romeo", SCRAM_SHA1, &k1), 0);
	assert_int_equal(account_get_keys("h", "romeo", SCRAM_SHA256, &k256),
	    0);
	assert_int_equal(account_get_keys("h", "nobody", SCRAM_SHA1, &k1), 1);
	assert_int_equal(k1.hash, SCRAM_SHA1);
	assert_int_equal(k256.hash, SCRAM_SHA256);
	assert_int_equal(k1.iter, SCRAM_DEFAULT_ITER);
	assert_int_equal(k256.iter, SCRAM_DEFAULT_ITER);
	assert_int_equal(k1.salt_len, SCRAM_SALT_LEN);
	assert_int_equal(k256.salt_len, SCRAM_SALT_LEN);
	/* a fresh salt per hash */
	assert_memory_not_equal(k1.salt, k256.salt, SCRAM_SALT_LEN);

	/* the stored keys are those of the password with the stored salt */
	assert_int_equal(scram_derive(SCRAM_SHA1, "pencil", k1.salt,
			     k1.salt_len, k1.iter, &d),
	    0);
	assert_memory_equal(d.stored_key, k1.stored_key, 20);
	assert_memory_equal(d.server_key, k1.server_key, 20);
	assert_int_equal(scram_derive(SCRAM_SHA256, "pencil", k256.salt,
			     k256.salt_len, k256.iter, &d),
	    0);
	assert_memory_equal(d.stored_key, k256.stored_key, 32);
	assert_memory_equal(d.server_key, k256.server_key, 32);

	/* the document format of account.h; the password is not in it */
	assert_int_equal(store_kv_get("h", "romeo", "accounts", &doc, &len),
	    0);
	assert_int_equal(strncmp(doc, "created ", 8), 0);
	created = strtoll(doc + 8, NULL, 10);
	assert_true(created > now_unix() - 60 && created <= now_unix());
	assert_non_null(strstr(doc, "\nSHA-1 4096 "));
	assert_non_null(strstr(doc, "\nSHA-256 4096 "));
	assert_null(strstr(doc, "pencil"));
	free(doc);
}

static void
test_saslprep(void **state)
{
	(void)state;
	/* RFC 4013: soft hyphen maps to nothing, no-break space to space */
	assert_int_equal(account_create("h", "a", "I\xC2\xADX"), 0);
	assert_int_equal(account_check_password("h", "a", "IX"), 0);
	assert_int_equal(account_create("h", "b", "pass\xC2\xA0word"), 0);
	assert_int_equal(account_check_password("h", "b", "pass word"), 0);
	assert_int_equal(account_check_password("h", "b", "password"), 1);
	/* prohibited (a control character) or empty: no account */
	assert_int_equal(account_create("h", "c", "bad\x07"), -1);
	assert_int_equal(account_exists("h", "c"), 1);
	assert_int_equal(account_create("h", "c", ""), -1);
	assert_int_equal(account_create("h", "c", "\xC2\xAD"), -1);
	assert_int_equal(account_exists("h", "c"), 1);
	/* and a prohibited password never matches */
	assert_int_equal(account_check_password("h", "a", "I\x07X"), 1);
}

static void
test_set_password(void **state)
{
	struct fx *fx = *state;
	char *doc = NULL, *doc2 = NULL;
	size_t len;

	assert_int_equal(account_set_password("h", "romeo", "x"), 1);
	assert_int_equal(account_create("h", "romeo", "old"), 0);
	assert_int_equal(store_kv_set("h", "romeo", "accounts",
			     "created 12345\nSHA-1 1 AAAA AAAA AAAA\n", 37),
	    0);
	/* a document with broken keys fails cleanly */
	assert_int_equal(account_check_password("h", "romeo", "old"), -1);
	assert_int_equal(account_set_password("h", "romeo", "new"), 0);
	assert_int_equal(account_check_password("h", "romeo", "old"), 1);
	assert_int_equal(account_check_password("h", "romeo", "new"), 0);
	/* the creation time is kept */
	assert_int_equal(store_kv_get("h", "romeo", "accounts", &doc, &len),
	    0);
	assert_int_equal(strncmp(doc, "created 12345\n", 14), 0);
	/* a new salt each time, even for the same password */
	assert_int_equal(account_set_password("h", "romeo", "new"), 0);
	assert_int_equal(store_kv_get("h", "romeo", "accounts", &doc2, &len),
	    0);
	assert_string_not_equal(doc, doc2);
	free(doc);
	free(doc2);

	/* committed: survives reopening */
	assert_int_equal(store_commit(), 0);
	store_close(store_main);
	open_main(fx);
	assert_int_equal(account_check_password("h", "romeo", "new"), 0);
}

static int
collect(void *ud, const char *user)
{
	sbuf_printf(ud, "%s;", user);
	return 0;
}

static void
test_delete_and_list(void **state)
{
	struct sbuf b;
	char *v = NULL;
	size_t len;
	long n;

	(void)state;
	assert_int_equal(account_create("h", "romeo", "r"), 0);
	assert_int_equal(account_create("h", "juliet", "j"), 0);
	assert_int_equal(account_create("h", "benvolio", "b"), 0);
	assert_int_equal(account_create("h2", "tybalt", "t"), 0);
	assert_int_equal(account_set_last_login("h", "romeo", 77), 0);
	assert_int_equal(store_map_set("h", "romeo", "roster", "juliet@h",
			     "both", 4),
	    0);
	assert_int_equal(store_map_set("h", "juliet", "roster", "romeo@h",
			     "both", 4),
	    0);

	sbuf_init(&b);
	assert_int_equal(account_list("h", collect, &b), 0);
	assert_string_equal(b.data, "benvolio;juliet;romeo;");
	sbuf_reset(&b);
	/* last-login documents are not accounts */
	assert_int_equal(account_list("h2", collect, &b), 0);
	assert_string_equal(b.data, "tybalt;");

	assert_int_equal(account_delete("h", "romeo"), 0);
	assert_int_equal(account_exists("h", "romeo"), 1);
	assert_int_equal(account_check_password("h", "romeo", "r"), 1);
	assert_int_equal(store_map_count("h", "romeo", "roster", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_kv_get("h", "romeo", "lastlogin", &v, &len),
	    1);
	assert_int_equal(account_delete("h", "romeo"), 1);
	/* the others keep everything */
	assert_int_equal(store_map_count("h", "juliet", "roster", &n), 0);
	assert_int_equal(n, 1);
	sbuf_reset(&b);
	assert_int_equal(account_list("h", collect, &b), 0);
	assert_string_equal(b.data, "benvolio;juliet;");
	sbuf_cleanup(&b);
	assert_int_equal(store_commit(), 0);
}

static void
test_last_login(void **state)
{
	int64_t t = -5;

	(void)state;
	assert_int_equal(account_create("h", "romeo", "r"), 0);
	assert_int_equal(account_get_last_login("h", "romeo", &t), 1);
	assert_int_equal(account_set_last_login("h", "romeo", 1763892000), 0);
	assert_int_equal(account_get_last_login("h", "romeo", &t), 0);
	assert_int_equal(t, 1763892000);
	assert_int_equal(account_set_last_login("h", "romeo", 1763892999), 0);
	assert_int_equal(account_get_last_login("h", "romeo", &t), 0);
	assert_int_equal(t, 1763892999);
	assert_int_equal(account_get_last_login("h", "juliet", &t), 1);
}

static void
test_make_and_create_keys(void **state)
{
	struct scram_keys keys[SCRAM_NHASH], got;

	(void)state;
	assert_int_equal(account_make_keys("bulk", 64, keys), 0);
	assert_int_equal(keys[SCRAM_SHA1].hash, SCRAM_SHA1);
	assert_int_equal(keys[SCRAM_SHA256].hash, SCRAM_SHA256);
	assert_int_equal(account_create_keys("h", "bulk1", keys), 0);
	assert_int_equal(account_create_keys("h", "bulk1", keys), 1);
	assert_int_equal(account_get_keys("h", "bulk1", SCRAM_SHA256, &got),
	    0);
	assert_int_equal(got.iter, 64);
	assert_memory_equal(got.stored_key, keys[SCRAM_SHA256].stored_key, 32);
	assert_int_equal(account_check_password("h", "bulk1", "bulk"), 0);
	assert_int_equal(account_check_password("h", "bulk1", "bulK"), 1);
	assert_int_equal(account_make_keys("\x07", 64, keys), -1);
}

/* A disabled account keeps its data and password; the state survives a
 * password change and goes with the account. */
static void
test_disabled(void **state)
{
	struct sbuf b;

	(void)state;
	assert_int_equal(account_create("h", "romeo", "r"), 0);
	assert_int_equal(account_create("h", "juliet", "j"), 0);
	assert_int_equal(account_is_disabled("h", "romeo"), 0);
	assert_int_equal(account_set_disabled("h", "nobody", 1), 1);
	assert_int_equal(account_set_disabled("h", "romeo", 1), 0);
	assert_int_equal(account_set_disabled("h", "romeo", 1), 0);
	assert_int_equal(account_is_disabled("h", "romeo"), 1);
	assert_int_equal(account_is_disabled("h", "juliet"), 0);
	assert_int_equal(account_check_password("h", "romeo", "r"), 0);
	assert_int_equal(account_set_password("h", "romeo", "r2"), 0);
	assert_int_equal(account_is_disabled("h", "romeo"), 1);
	sbuf_init(&b);
	assert_int_equal(account_list_disabled("h", collect, &b), 0);
	assert_string_equal(b.data, "romeo;");
	/* not an account of its own in the list of accounts */
	sbuf_reset(&b);
	assert_int_equal(account_list("h", collect, &b), 0);
	assert_string_equal(b.data, "juliet;romeo;");
	assert_int_equal(account_set_disabled("h", "romeo", 0), 0);
	assert_int_equal(account_is_disabled("h", "romeo"), 0);
	assert_int_equal(account_set_disabled("h", "juliet", 1), 0);
	assert_int_equal(account_delete("h", "juliet"), 0);
	assert_int_equal(account_is_disabled("h", "juliet"), 0);
	sbuf_reset(&b);
	assert_int_equal(account_list_disabled("h", collect, &b), 0);
	assert_null(b.data && *b.data ? b.data : NULL);
	sbuf_cleanup(&b);
	assert_int_equal(store_commit(), 0);
}

/* Deletion with a grace period: disabled meanwhile, restored as it was
 * (a disabled account stays disabled), enabling refused. */
static void
test_grace(void **state)
{
	int64_t purge = 0;

	(void)state;
	assert_int_equal(account_create("h", "romeo", "r"), 0);
	assert_int_equal(account_create("h", "juliet", "j"), 0);
	assert_int_equal(account_mark_deleted("h", "nobody", 100), 1);
	assert_int_equal(account_get_deleting("h", "romeo", NULL), 1);
	assert_int_equal(account_mark_deleted("h", "romeo", 100), 0);
	assert_int_equal(account_mark_deleted("h", "romeo", 999), 0);
	assert_int_equal(account_get_deleting("h", "romeo", &purge), 0);
	assert_int_equal(purge, 100); /* the first mark holds */
	assert_int_equal(account_is_disabled("h", "romeo"), 1);
	assert_int_equal(account_set_disabled("h", "romeo", 0), 2);
	assert_int_equal(account_restore("h", "romeo"), 0);
	assert_int_equal(account_is_disabled("h", "romeo"), 0);
	assert_int_equal(account_restore("h", "romeo"), 1);
	assert_int_equal(account_set_disabled("h", "juliet", 1), 0);
	assert_int_equal(account_mark_deleted("h", "juliet", 100), 0);
	assert_int_equal(account_restore("h", "juliet"), 0);
	assert_int_equal(account_is_disabled("h", "juliet"), 1);
	assert_int_equal(store_commit(), 0);
}

/* Export and import keep the keys; a document with one hash's keys
 * answers "no keys" (1) for the other, and PLAIN checks the one. */
static void
test_export_import_keys(void **state)
{
	struct scram_keys keys[SCRAM_NHASH], k;
	int have[SCRAM_NHASH];
	int64_t created = 0;

	(void)state;
	assert_int_equal(account_create("h", "romeo", "r-pw"), 0);
	assert_int_equal(account_export("h", "nobody", keys, have, &created), 1);
	assert_int_equal(account_export("h", "romeo", keys, have, &created), 0);
	assert_true(have[SCRAM_SHA1] && have[SCRAM_SHA256]);
	assert_true(created > 0);
	have[SCRAM_SHA256] = 0;
	assert_int_equal(account_import("h", "juliet", 12345, keys, have), 0);
	assert_int_equal(account_get_created("h", "juliet", &created), 0);
	assert_int_equal(created, 12345);
	assert_int_equal(account_get_keys("h", "juliet", SCRAM_SHA1, &k), 0);
	assert_memory_equal(k.stored_key, keys[SCRAM_SHA1].stored_key, 20);
	assert_int_equal(account_get_keys("h", "juliet", SCRAM_SHA256, &k), 1);
	assert_int_equal(account_check_password("h", "juliet", "r-pw"), 0);
	assert_int_equal(account_check_password("h", "juliet", "nope"), 1);
	assert_int_equal(store_commit(), 0);
}

/* store_rollback drops what was written since the last commit. */
static void
test_rollback(void **state)
{
	(void)state;
	assert_int_equal(account_create("h", "romeo", "r"), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(account_create("h", "juliet", "j"), 0);
	assert_int_equal(account_set_disabled("h", "romeo", 1), 0);
	assert_int_equal(account_exists("h", "juliet"), 0);
	store_rollback();
	assert_int_equal(account_exists("h", "juliet"), 1);
	assert_int_equal(account_is_disabled("h", "romeo"), 0);
	assert_int_equal(account_exists("h", "romeo"), 0);
	assert_int_equal(account_create("h", "juliet", "j"), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(account_exists("h", "juliet"), 0);
}

/* store_savepoint: one account's writes undone, the others' kept for
 * the one commit. */
static void
test_savepoint(void **state)
{
	(void)state;
	assert_int_equal(store_savepoint_end(0), -1); /* no mark */
	assert_int_equal(store_savepoint(), 0);
	assert_int_equal(store_savepoint(), -1); /* one at a time */
	assert_int_equal(account_create("h", "gone", "g"), 0);
	assert_int_equal(store_savepoint_end(1), 0);
	assert_int_equal(account_exists("h", "gone"), 1);
	assert_int_equal(account_create("h", "romeo", "r"), 0);
	assert_int_equal(store_savepoint(), 0);
	assert_int_equal(account_create("h", "juliet", "j"), 0);
	assert_int_equal(account_set_disabled("h", "romeo", 1), 0);
	assert_int_equal(store_savepoint_end(1), 0);
	assert_int_equal(account_exists("h", "juliet"), 1);
	assert_int_equal(account_is_disabled("h", "romeo"), 0);
	assert_int_equal(store_savepoint(), 0);
	assert_int_equal(account_create("h", "tybalt", "t"), 0);
	assert_int_equal(store_savepoint_end(0), 0);
	assert_int_equal(store_commit(), 0);
	assert_int_equal(account_exists("h", "romeo"), 0);
	assert_int_equal(account_exists("h", "tybalt"), 0);
	assert_int_equal(account_exists("h", "juliet"), 1);
	assert_int_equal(account_exists("h", "gone"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_exists_check,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_and_document, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_saslprep, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_set_password, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete_and_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_disabled, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_last_login, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_make_and_create_keys,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_import_keys,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_savepoint, setup,
		    teardown),
	};

	log_threshold = LOG_LVL_ERR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

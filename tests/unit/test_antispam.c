/* test_antispam.c: src/mod/antispam/relation.c — who wrote to whom, and
 * its caps (peers per account, accounts in all). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mod/antispam/antispam.h"

/* relation.c's caps, as documented in docs/operations.md */
#define ACCOUNTS_MAX 16384
#define PEERS_MAX 32

static char name_a[] = "a.example", name_b[] = "b.example";
static struct host host_a = { .name = name_a };
static struct host host_b = { .name = name_b };

static void
test_flags_per_account_and_host(void **state)
{
	(void)state;
	relation_note(&host_a, "alice", "bob@remote.example", REL_SENT);
	assert_true(relation_has(&host_a, "alice", "bob@remote.example",
	    REL_SENT | REL_PRESENCE));
	assert_false(relation_has(
	    &host_a, "alice", "bob@remote.example", REL_RECEIVED));
	/* another account, another host, another peer: nothing */
	assert_false(relation_has(
	    &host_a, "carol", "bob@remote.example", REL_SENT));
	assert_false(relation_has(
	    &host_b, "alice", "bob@remote.example", REL_SENT));
	assert_false(relation_has(
	    &host_a, "alice", "bob@remote.example.evil", REL_SENT));
	/* relations add up */
	relation_note(&host_a, "alice", "bob@remote.example", REL_RECEIVED);
	assert_true(relation_has(
	    &host_a, "alice", "bob@remote.example", REL_RECEIVED));
	assert_true(
	    relation_has(&host_a, "alice", "bob@remote.example", REL_SENT));
}

static void
test_peers_capped(void **state)
{
	char peer[64];
	int i, kept = 0;

	(void)state;
	for (i = 0; i <= PEERS_MAX; i++) {
		snprintf(peer, sizeof(peer), "p%d@remote.example", i);
		relation_note(&host_a, "dave", peer, REL_PRESENCE);
	}
	for (i = 0; i <= PEERS_MAX; i++) {
		snprintf(peer, sizeof(peer), "p%d@remote.example", i);
		kept += relation_has(&host_a, "dave", peer, REL_PRESENCE);
	}
	assert_int_equal(kept, PEERS_MAX);
	/* the newest is always kept */
	snprintf(peer, sizeof(peer), "p%d@remote.example", PEERS_MAX);
	assert_true(relation_has(&host_a, "dave", peer, REL_PRESENCE));
}

static void
test_accounts_capped(void **state)
{
	char user[32];
	int i, kept = 0;

	(void)state;
	for (i = 0; i <= ACCOUNTS_MAX; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		relation_note(&host_b, user, "x@remote.example", REL_SENT);
	}
	for (i = 0; i <= ACCOUNTS_MAX; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		kept += relation_has(&host_b, user, "x@remote.example", REL_SENT);
	}
	/* the earlier tests' accounts are among those forgotten or kept */
	assert_true(kept >= ACCOUNTS_MAX - 2 && kept <= ACCOUNTS_MAX);
	snprintf(user, sizeof(user), "u%d", ACCOUNTS_MAX);
	assert_true(relation_has(&host_b, user, "x@remote.example", REL_SENT));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags_per_account_and_host),
		cmocka_unit_test(test_peers_capped),
		cmocka_unit_test(test_accounts_capped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

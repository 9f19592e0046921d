/* test_s2s.c: dialback keys (XEP-0185) against XEP-0220's example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xmpp/s2s_int.h"

/* XEP-0220 §2.1.1: capulet.example (originating) sends a key to
 * montague.example (receiving) on stream D60000229F. */
static void
test_xep0220_example_key(void **state)
{
	char key[65];

	(void)state;
	s2s_db_set_secret("s3cr3tf0rd14lb4ck");
	s2s_db_key("montague.example", "capulet.example", "D60000229F", key);
	assert_string_equal(key, "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3");
	/* any part changed: another key */
	s2s_db_key("montague.example", "capulet.example", "D60000229G", key);
	assert_string_not_equal(key, "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3");
}

/* A fresh secret per process: keys cannot be predicted from outside. */
static void
test_fresh_secret(void **state)
{
	char a[65], b[65];

	(void)state;
	s2s_db_init();
	s2s_db_key("r.example", "o.example", "id", a);
	s2s_db_init();
	s2s_db_key("r.example", "o.example", "id", b);
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(a), 64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xep0220_example_key),
		cmocka_unit_test(test_fresh_secret),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

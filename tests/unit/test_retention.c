/* test_retention.c: src/xmpp/retention.c, the parts without a loop: ages
 * as users write them and a user's own archive limit in its stored
 * XEP-0313 preferences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xmpp/retention.h"

static void
test_parse_age(void **state)
{
	(void)state;
	assert_int_equal(retention_parse_age("90"), 90);
	assert_int_equal(retention_parse_age("90s"), 90);
	assert_int_equal(retention_parse_age("15m"), 900);
	assert_int_equal(retention_parse_age("12h"), 43200);
	assert_int_equal(retention_parse_age("30d"), 30 * 86400);
	/* no age at all, or not one */
	assert_int_equal(retention_parse_age("0"), -1);
	assert_int_equal(retention_parse_age("0d"), -1);
	assert_int_equal(retention_parse_age(""), -1);
	assert_int_equal(retention_parse_age("d"), -1);
	assert_int_equal(retention_parse_age("-5"), -1);
	assert_int_equal(retention_parse_age("5w"), -1);
	assert_int_equal(retention_parse_age("5dd"), -1);
	assert_int_equal(retention_parse_age("5 d"), -1);
	assert_int_equal(retention_parse_age("99999999999999999999"), -1);
}

static void
test_user_archive(void **state)
{
	static const char with[] =
	    "<prefs xmlns='urn:xmpp:mam:2' default='always'><always/><never/>"
	    "<keep xmlns='urn:xmpp:tern:retention:0'>7d</keep></prefs>";
	static const char without[] =
	    "<prefs xmlns='urn:xmpp:mam:2' default='roster'/>";
	static const char other_ns[] =
	    "<prefs xmlns='urn:xmpp:mam:2'><keep>7d</keep></prefs>";
	static const char bad[] =
	    "<prefs xmlns='urn:xmpp:mam:2'><keep "
	    "xmlns='urn:xmpp:tern:retention:0'>soon</keep></prefs>";

	(void)state;
	assert_int_equal(retention_user_archive(with, strlen(with)), 7 * 86400);
	assert_int_equal(retention_user_archive(without, strlen(without)), 0);
	assert_int_equal(retention_user_archive(other_ns, strlen(other_ns)), 0);
	assert_int_equal(retention_user_archive(bad, strlen(bad)), 0);
	assert_int_equal(retention_user_archive("<prefs", 6), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_age),
		cmocka_unit_test(test_user_archive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_domain.c: the domain table (xmpp/domain.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "xmpp/domain.h"

static int routed;

static void
route_a(const struct domain *d, struct xml_node *st, struct hook_ev *ev,
    const char *kind)
{
	(void)d;
	(void)st;
	(void)ev;
	(void)kind;
	routed = 1;
}

static void
route_b(const struct domain *d, struct xml_node *st, struct hook_ev *ev,
    const char *kind)
{
	(void)d;
	(void)st;
	(void)ev;
	(void)kind;
	routed = 2;
}

static void
test_add_find_replace(void **state)
{
	const struct domain *d;
	int x;

	(void)state;
	assert_null(domain_find("example.org"));
	assert_null(domain_find(NULL));
	d = domain_add("example.org", DOMAIN_ACCOUNTS, NULL, route_a, NULL);
	assert_ptr_equal(domain_find("example.org"), d);
	assert_string_equal(d->name, "example.org");
	assert_int_equal(d->kind, DOMAIN_ACCOUNTS);
	/* the same name again replaces kind and handler in place */
	assert_ptr_equal(domain_add("example.org", DOMAIN_SERVICE, NULL,
	    route_b, &x), d);
	assert_int_equal(d->kind, DOMAIN_SERVICE);
	assert_ptr_equal(d->ud, &x);
	d->route(d, NULL, NULL, "message");
	assert_int_equal(routed, 2);
	assert_null(domain_find("example.or"));
	assert_null(domain_find("example.org."));
	domain_free_all();
	assert_null(domain_find("example.org"));
}

static void
test_many_and_clear_by_kind(void **state)
{
	char name[64];
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		domain_add(name, i % 2 ? DOMAIN_COMPONENT : DOMAIN_ACCOUNTS,
		    NULL, route_a, NULL);
	}
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		assert_non_null(domain_find(name));
	}
	domain_clear(DOMAIN_COMPONENT);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		if (i % 2)
			assert_null(domain_find(name));
		else
			assert_int_equal(domain_find(name)->kind,
			    DOMAIN_ACCOUNTS);
	}
	domain_free_all();
}

static void
test_remote_fallback(void **state)
{
	(void)state;
	assert_null(domain_remote());
	domain_set_remote(route_b, NULL);
	assert_non_null(domain_remote());
	assert_int_equal(domain_remote()->kind, DOMAIN_REMOTE);
	assert_string_equal(domain_kind_name(DOMAIN_SERVICE), "service");
	domain_free_all();
	assert_null(domain_remote());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_replace),
		cmocka_unit_test(test_many_and_clear_by_kind),
		cmocka_unit_test(test_remote_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_caps.c: XEP-0115 entity capabilities (src/mod/caps.c): the
 * verification string against the specification's own examples (§5.2,
 * §5.3), the §5.4 checks, and the cache over the in-memory store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "mod/caps.h"
#include "store/store.h"
#include "xml/xml.h"

#define Q "<query xmlns='http://jabber.org/protocol/disco#info'>"
#define FEAT(v) "<feature var='" v "'/>"
#define STD_FEATS                                                              \
	FEAT("http://jabber.org/protocol/caps")                                \
	FEAT("http://jabber.org/protocol/disco#info")                          \
	FEAT("http://jabber.org/protocol/disco#items")                         \
	FEAT("http://jabber.org/protocol/muc")

/* §5.2, with the features in another order than sorted */
static const char simple[] =
    "<query xmlns='http://jabber.org/protocol/disco#info'>"
    "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
    "<feature var='http://jabber.org/protocol/muc'/>"
    "<feature var='http://jabber.org/protocol/disco#info'/>"
    "<feature var='http://jabber.org/protocol/caps'/>"
    "<feature var='http://jabber.org/protocol/disco#items'/>"
    "</query>";

/* §5.3: two identities by xml:lang, an XEP-0128 form with a
 * multi-valued field */
static const char complex_q[] =
    Q "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
      "<identity xml:lang='el' category='client' name='\xce\xa8 0.11' "
      "type='pc'/>" STD_FEATS "<x xmlns='jabber:x:data' type='result'>"
      "<field var='FORM_TYPE' type='hidden'>"
      "<value>urn:xmpp:dataforms:softwareinfo</value></field>"
      "<field var='ip_version' type='text-multi'>"
      "<value>ipv6</value><value>ipv4</value></field>"
      "<field var='os'><value>Mac</value></field>"
      "<field var='os_version'><value>10.5.1</value></field>"
      "<field var='software'><value>Psi</value></field>"
      "<field var='software_version'><value>0.11</value></field>"
      "</x></query>";

static struct xml_node *
parse(const char *s)
{
	struct xml_node *q = xml_parse_element(s, strlen(s));

	assert_non_null(q);
	return q;
}

/* The ver of the query s, and caps_ver's return value in *rc. */
static void
ver_of(const char *s, char *out, int *rc)
{
	struct xml_node *q = parse(s);

	*rc = caps_ver(q, out);
	xml_node_free(q);
}

/* XEP-0115 §5.2: the simple generation example. */
static void
test_simple_example(void **state)
{
	char ver[CAPS_VER_MAX];
	int rc;

	(void)state;
	ver_of(simple, ver, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
}

/* XEP-0115 §5.3: the complex generation example (xml:lang identities,
 * an extended form whose values are sorted). */
static void
test_complex_example(void **state)
{
	char ver[CAPS_VER_MAX];
	int rc;

	(void)state;
	ver_of(complex_q, ver, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(ver, "q07IKJEyjvHSyhy//CH0CxmKi8w=");
}

/* §5.1 step 2: identities sort by category, then type: "a" before
 * "a-b" although "a/" sorts after "a-" as strings. */
static void
test_identities_sort_by_part(void **state)
{
	char ver[CAPS_VER_MAX];
	int rc;

	(void)state;
	ver_of(Q "<identity category='a-b' type='x'/>"
		 "<identity category='a' type='x'/>" FEAT("urn:f") "</query>",
	    ver, &rc);
	assert_int_equal(rc, 0);
	/* sha-1 of "a/x//<a-b/x//<urn:f<" */
	assert_string_equal(ver, "A8WBA9cvYOPDEghdSJC+TPHIs6A=");
}

/* §5.4 3.3-3.5: duplicates make the answer ill-formed; §5.4 3.6: a form
 * without FORM_TYPE is left out of the hash. */
static void
test_ill_formed(void **state)
{
	char ver[CAPS_VER_MAX], ver2[CAPS_VER_MAX];
	int rc;

	(void)state;
	ver_of(Q FEAT("urn:a") FEAT("urn:a") "</query>", ver, &rc);
	assert_int_equal(rc, -1);
	ver_of(Q "<identity category='c' type='t'/>"
		 "<identity category='c' type='t'/></query>",
	    ver, &rc);
	assert_int_equal(rc, -1);
	ver_of(Q "<x xmlns='jabber:x:data'><field var='FORM_TYPE'>"
		 "<value>urn:f</value></field></x>"
		 "<x xmlns='jabber:x:data'><field var='FORM_TYPE'>"
		 "<value>urn:f</value></field><field var='a'/></x></query>",
	    ver, &rc);
	assert_int_equal(rc, -1);
	ver_of(simple, ver, &rc);
	ver_of(Q "<identity category='client' name='Exodus 0.9.1' "
		 "type='pc'/>" STD_FEATS
		 "<x xmlns='jabber:x:data'><field var='a'>"
		 "<value>b</value></field></x></query>",
	    ver2, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(ver, ver2);
}

/* §5.4: a peer's answer verifies against the ver it announced, and no
 * other; the caps keep its features for +notify (XEP-0163 §4). */
static void
test_verify(void **state)
{
	struct xml_node *q =
	    parse(Q "<identity category='client' type='pc'/>" FEAT(
		"urn:xmpp:avatar:metadata+notify") FEAT("urn:b") "</query>");
	char ver[CAPS_VER_MAX];
	struct caps *c;

	(void)state;
	assert_int_equal(caps_ver(q, ver), 0);
	assert_null(caps_verify(q, "QgayPKawpkPSDYmwT/WM94uAlu0="));
	c = caps_verify(q, ver);
	assert_non_null(c);
	assert_int_equal(c->nfeat, 2);
	assert_int_equal(caps_has_notify(c, "urn:xmpp:avatar:metadata"), 1);
	assert_int_equal(caps_has_notify(c, "urn:xmpp:avatar"), 0);
	assert_int_equal(caps_has_notify(c, "urn:b"), 0);
	caps_unref(caps_ref(c)); /* one reference, dropped: freed */
	xml_node_free(q);
}

/* The cache: what is kept is found again from storage once the memory
 * table no longer has it; storage holds at most store_max entries. */
static void
test_cache(void **state)
{
	struct xml_node *q1 = parse(simple), *q2 = parse(complex_q);
	struct caps *c1, *c2, *f;
	char err[128];
	long n = -1;

	(void)state;
	store_main = store_open("memory", "unused", err, sizeof(err));
	assert_non_null(store_main);
	assert_null(caps_find("h", "QgayPKawpkPSDYmwT/WM94uAlu0="));
	c1 = caps_verify(q1, "QgayPKawpkPSDYmwT/WM94uAlu0=");
	c2 = caps_verify(q2, "q07IKJEyjvHSyhy//CH0CxmKi8w=");
	assert_non_null(c1);
	assert_non_null(c2);
	caps_keep("h", c1, 1);
	assert_ptr_equal(caps_find("h", "QgayPKawpkPSDYmwT/WM94uAlu0="), c1);
	caps_keep("h", c2, 1);
	assert_int_equal(store_map_count("h", "", "pep_caps", &n), 0);
	assert_int_equal(n, 1);
	f = caps_find("h", "q07IKJEyjvHSyhy//CH0CxmKi8w=");
	assert_ptr_equal(f, c2);
	assert_int_equal(f->nfeat, 4);
	/* another host's storage does not have it, but memory does */
	assert_ptr_equal(
	    caps_find("other", "q07IKJEyjvHSyhy//CH0CxmKi8w="), c2);
	assert_int_equal(store_commit(), 0);
	store_close(store_main);
	store_main = NULL;
	xml_node_free(q1);
	xml_node_free(q2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_example),
		cmocka_unit_test(test_complex_example),
		cmocka_unit_test(test_identities_sort_by_part),
		cmocka_unit_test(test_ill_formed),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

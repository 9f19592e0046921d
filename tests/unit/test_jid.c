/* test_jid.c: JID parsing and preparation (src/jid/jid.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <idna.h>
#include <stringprep.h>

#include "core/util.h"
#include "jid/jid.h"

struct valid_case {
	const char *in;
	const char *full;
	const char *node; /* NULL: no node */
	const char *domain;
	const char *resource; /* NULL: bare */
};

/* Every field must agree with full; checks what the header promises. */
static void
assert_consistent(const struct jid *j)
{
	size_t full_len;

	assert_non_null(j->full);
	assert_non_null(j->bare);
	assert_non_null(j->domain);
	full_len = strlen(j->full);
	if (j->node) {
		assert_int_equal(strlen(j->node), j->node_len);
		assert_memory_equal(j->full, j->node, j->node_len);
		assert_int_equal(j->full[j->node_len], '@');
		assert_int_equal(j->domain_off, j->node_len + 1);
	} else {
		assert_int_equal(j->node_len, 0);
		assert_int_equal(j->domain_off, 0);
	}
	assert_int_equal(strlen(j->domain), j->domain_len);
	assert_memory_equal(j->full + j->domain_off, j->domain, j->domain_len);
	assert_int_equal(j->bare_len, j->domain_off + j->domain_len);
	assert_int_equal(strlen(j->bare), j->bare_len);
	assert_memory_equal(j->full, j->bare, j->bare_len);
	if (j->resource) {
		assert_false(jid_is_bare(j));
		assert_int_equal(j->full[j->bare_len], '/');
		assert_int_equal(j->res_off, j->bare_len + 1);
		assert_int_equal(strlen(j->resource), j->res_len);
		assert_memory_equal(j->full + j->res_off, j->resource,
		    j->res_len);
		assert_int_equal(full_len, j->res_off + j->res_len);
	} else {
		assert_true(jid_is_bare(j));
		assert_int_equal(j->res_off, 0);
		assert_int_equal(j->res_len, 0);
		assert_int_equal(full_len, j->bare_len);
	}
}

static void
assert_zeroed(const struct jid *j)
{
	struct jid zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(j, &zero, sizeof(zero));
}

static void
check_valid(const struct valid_case *c)
{
	struct jid j, again;

	if (jid_parse_str(&j, c->in) != 0)
		fail_msg("expected valid: \"%s\"", c->in);
	assert_consistent(&j);
	assert_string_equal(j.full, c->full);
	if (c->node)
		assert_string_equal(j.node, c->node);
	else
		assert_null(j.node);
	assert_string_equal(j.domain, c->domain);
	if (c->resource)
		assert_string_equal(j.resource, c->resource);
	else
		assert_null(j.resource);

	/* Preparation is idempotent. */
	assert_int_equal(jid_parse_str(&again, j.full), 0);
	assert_string_equal(again.full, j.full);
	assert_true(jid_eq(&j, &again));
	jid_cleanup(&again);
	jid_cleanup(&j);
	assert_zeroed(&j);
}

static void
check_invalid_n(const char *in, size_t n)
{
	struct jid j;

	memset(&j, 0xa5, sizeof(j));
	if (jid_parse(&j, in, n) != -1)
		fail_msg("expected invalid: \"%.*s\"", (int)n, in);
	assert_zeroed(&j);
	jid_cleanup(&j); /* safe on the zeroed result */
}

static void
check_invalid(const char *in)
{
	check_invalid_n(in, strlen(in));
}

/* RFC 7622 section 3.5, and the cases the brief lists around it. */
static void
test_rfc7622_valid(void **state)
{
	static const struct valid_case cases[] = {
		{ "juliet@example.com", "juliet@example.com", "juliet",
		    "example.com", NULL },
		{ "juliet@example.com/foo", "juliet@example.com/foo",
		    "juliet", "example.com", "foo" },
		{ "juliet@example.com/foo bar", "juliet@example.com/foo bar",
		    "juliet", "example.com", "foo bar" },
		{ "juliet@example.com/foo@bar", "juliet@example.com/foo@bar",
		    "juliet", "example.com", "foo@bar" },
		{ "foo\\20bar@example.com", "foo\\20bar@example.com",
		    "foo\\20bar", "example.com", NULL },
		{ "fussball@example.com", "fussball@example.com", "fussball",
		    "example.com", NULL },
		/* nodeprep case-folds sharp s to "ss" */
		{ "fu\xc3\x9f" "ball@example.com", "fussball@example.com",
		    "fussball", "example.com", NULL },
		{ "\xcf\x80@example.com", "\xcf\x80@example.com", "\xcf\x80",
		    "example.com", NULL },
		/* U+2118 SCRIPT CAPITAL P: a symbol, which PRECIS would
		 * refuse, but nodeprep (what the network uses) keeps it. */
		{ "\xe2\x84\x98@example.com", "\xe2\x84\x98@example.com",
		    "\xe2\x84\x98", "example.com", NULL },
		/* U+265A BLACK CHESS KING */
		{ "\xe2\x99\x9a@example.com", "\xe2\x99\x9a@example.com",
		    "\xe2\x99\x9a", "example.com", NULL },
		{ "example.com", "example.com", NULL, "example.com", NULL },
		{ "example.com/foobar", "example.com/foobar", NULL,
		    "example.com", "foobar" },
		{ "a.example.com/b@example.net", "a.example.com/b@example.net",
		    NULL, "a.example.com", "b@example.net" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++)
		check_valid(&cases[i]);
}

static void
test_rfc7622_invalid(void **state)
{
	static const char *const cases[] = {
		"\"juliet\"@example.com",
		"foo bar@example.com",
		"juliet@example.com/",
		"@example.com",
		"user@@example.com", /* the second '@' lands in the domain */
		"juliet@",
		"juliet@/foo",
		"/foo",
		"@",
		"/",
		"@/",
		"jul&iet@example.com",
		"jul'iet@example.com",
		"jul:iet@example.com",
		"jul<iet@example.com",
		"jul>iet@example.com",
		"juliet@exa mple.com",
		"juliet@example,com",
		"juliet@exa_mple.com",
		"juliet@example.com:5222",
		"juliet@example.com\t",
		"juliet\x7f@example.com",
		"juliet@example.com/\x01",
		"juliet@example.com/\x7f",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++)
		check_invalid(cases[i]);
	check_invalid_n("", 0);
	check_invalid_n(NULL, 5);
}

static void
test_split(void **state)
{
	static const struct valid_case cases[] = {
		{ "a@b/c/d@e", "a@b/c/d@e", "a", "b", "c/d@e" },
		{ "b/c@d", "b/c@d", NULL, "b", "c@d" },
		{ "a@b//", "a@b//", "a", "b", "/" },
		{ "a@b/@", "a@b/@", "a", "b", "@" },
		{ "a@b/ ", "a@b/ ", "a", "b", " " },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++)
		check_valid(&cases[i]);
}

static void
test_case_folding(void **state)
{
	static const struct valid_case cases[] = {
		{ "JULIET@EXAMPLE.COM/Balcony", "juliet@example.com/Balcony",
		    "juliet", "example.com", "Balcony" },
		{ "Example.Com", "example.com", NULL, "example.com", NULL },
		{ "a@b/FOO bar", "a@b/FOO bar", "a", "b", "FOO bar" },
		/* non-ASCII: node and domain fold, the resource keeps case
		 * (but is NFKC-normalised: U+2168 ROMAN NUMERAL NINE) */
		{ "\xc3\x9c" "BER@B\xc3\x9c" "CHER.DE/\xc3\x9c\xe2\x85\xa8",
		    "\xc3\xbc" "ber@b\xc3\xbc" "cher.de/\xc3\x9cIX",
		    "\xc3\xbc" "ber", "b\xc3\xbc" "cher.de",
		    "\xc3\x9cIX" },
		/* fullwidth forms are folded by NFKC, in node and domain */
		{ "\xef\xbc\xa1\xef\xbc\xa2@\xef\xbd\x85\xef\xbc\x8e\xef\xbd"
		  "\x83",
		    "ab@e.c", "ab", "e.c", NULL },
		/* U+00AD SOFT HYPHEN is mapped to nothing */
		{ "a\xc2\xad" "b@example.com/c\xc2\xad",
		    "ab@example.com/c", "ab", "example.com", "c" },
	};
	struct jid a, b;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++)
		check_valid(&cases[i]);

	assert_int_equal(jid_parse_str(&a, "Romeo@Example.NET/Res"), 0);
	assert_int_equal(jid_parse_str(&b, "romeo@example.net/res"), 0);
	assert_true(jid_bare_eq(&a, &b));
	assert_false(jid_eq(&a, &b));
	jid_cleanup(&a);
	jid_cleanup(&b);
}

static void
test_domain(void **state)
{
	static const struct valid_case cases[] = {
		{ "example.com.", "example.com", NULL, "example.com", NULL },
		{ "a@EXAMPLE.COM./r", "a@example.com/r", "a", "example.com",
		    "r" },
		{ "localhost", "localhost", NULL, "localhost", NULL },
		{ "x@123.example", "x@123.example", "x", "123.example", NULL },
		{ "x@a-b.c-d", "x@a-b.c-d", "x", "a-b.c-d", NULL },
		{ "x@xn--bcher-kva.de", "x@xn--bcher-kva.de", "x",
		    "xn--bcher-kva.de", NULL },
		/* U+3002 IDEOGRAPHIC FULL STOP separates labels too, and
		 * U+FF61 HALFWIDTH IDEOGRAPHIC FULL STOP becomes it */
		{ "x@a\xe3\x80\x82" "b", "x@a.b", "x", "a.b", NULL },
		{ "x@a\xef\xbd\xa1" "b\xe3\x80\x82", "x@a.b", "x", "a.b",
		    NULL },
		/* U+2603 SNOWMAN: IDNA2003 allows symbols */
		{ "x@\xe2\x98\x83.net", "x@\xe2\x98\x83.net", "x",
		    "\xe2\x98\x83.net", NULL },
	};
	static const char *const bad[] = {
		"example.com..", ".", "..", "a@.", ".example.com",
		"a..b", "x@-a.com", "x@a-.com", "x@a.-b", "x@a.b-",
		"x@a@b", "x@a,b", "x@a b", "x@a;b", "x@a*b", "x@a!b",
		"x@a\\b", "x@a\"b", "x@a\x01" "b",
		/* U+FF0F FULLWIDTH SOLIDUS becomes '/' under nameprep */
		"x@a\xef\xbc\x8f" "b",
		/* U+FF20 FULLWIDTH COMMERCIAL AT becomes '@' */
		"x@a\xef\xbc\xa0" "b",
		/* U+00A0 NO-BREAK SPACE becomes a space */
		"x@a\xc2\xa0" "b",
		/* U+200B ZERO WIDTH SPACE alone maps to nothing */
		"x@\xe2\x80\x8b",
		/* U+202E RIGHT-TO-LEFT OVERRIDE is prohibited */
		"x@a\xe2\x80\xae" "b",
		/* the STD3 rules hold in labels with non-ASCII too */
		"x@\xc3\xbc_a.de", "x@\xc3\xbc a.de", "x@-\xc3\xbc.de",
		"x@\xc3\xbc-.de", "x@\xc3\xbc,.de", "x@\xc3\xbc.a_b.de",
	};
	char label[80], dom[200];
	struct jid j;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++)
		check_valid(&cases[i]);
	for (i = 0; i < ARRAY_LEN(bad); i++)
		check_invalid(bad[i]);

	/* 63 octets per label, not one more */
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(dom, sizeof(dom), "%s.com", label);
	assert_int_equal(jid_parse_str(&j, dom), 0);
	jid_cleanup(&j);
	snprintf(dom, sizeof(dom), "a%s.com", label);
	check_invalid(dom);
}

/* A non-ASCII label is limited by the length of its ACE form: compare
 * with libidn's own ToASCII for growing labels of U+00FC. */
static void
test_domain_ace_length(void **state)
{
	char dom[400], *ace;
	size_t k, off;
	int seen_ok = 0, seen_bad = 0;

	(void)state;
	for (k = 1; k <= 70; k++) {
		struct jid j;
		int rc, want;

		off = 0;
		for (size_t i = 0; i < k; i++) {
			dom[off++] = '\xc3';
			dom[off++] = '\xbc';
		}
		memcpy(dom + off, ".de", 4);
		want = idna_to_ascii_8z(dom, &ace, IDNA_USE_STD3_ASCII_RULES);
		if (want == IDNA_SUCCESS)
			free(ace);
		rc = jid_parse_str(&j, dom);
		assert_int_equal(rc == 0, want == IDNA_SUCCESS);
		if (rc == 0) {
			seen_ok = 1;
			jid_cleanup(&j);
		} else {
			seen_bad = 1;
		}
	}
	assert_true(seen_ok && seen_bad);
}

static void
test_ip_literals(void **state)
{
	static const struct valid_case cases[] = {
		{ "1.2.3.4", "1.2.3.4", NULL, "1.2.3.4", NULL },
		{ "a@192.168.0.1/r", "a@192.168.0.1/r", "a", "192.168.0.1",
		    "r" },
		{ "1.2.3.4.", "1.2.3.4", NULL, "1.2.3.4", NULL },
		{ "[::1]", "[::1]", NULL, "[::1]", NULL },
		{ "a@[2001:DB8::1]/R", "a@[2001:db8::1]/R", "a",
		    "[2001:db8::1]", "R" },
		{ "[::ffff:1.2.3.4]", "[::ffff:1.2.3.4]", NULL,
		    "[::ffff:1.2.3.4]", NULL },
	};
	static const char *const bad[] = {
		"1.2.3.256", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1..2.3",
		"[::1", "::1", "[]", "[::g]", "[1.2.3.4]", "[::1]x",
		"[::1]." , "[::1%eth0]", "[ ::1]", "x[::1]",
		"[1:2:3:4:5:6:7:8:9]",
		"[0000:0000:0000:0000:0000:0000:0000:0000:0]",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++)
		check_valid(&cases[i]);
	for (i = 0; i < ARRAY_LEN(bad); i++)
		check_invalid(bad[i]);
	/* inet_pton must not see a shortened address */
	check_invalid_n("[::1\0]", 6);
	check_invalid_n("1.2.3.4\0", 8);
}

static char *
repeat(const char *unit, size_t times, const char *suffix)
{
	size_t ul = strlen(unit), sl = strlen(suffix), i;
	char *s = xmalloc(ul * times + sl + 1);

	for (i = 0; i < times; i++)
		memcpy(s + i * ul, unit, ul);
	memcpy(s + ul * times, suffix, sl + 1);
	return s;
}

/* A domain of exactly n octets made of valid 62-octet labels, so that
 * only its total length can make it invalid. */
static char *
long_domain(size_t n)
{
	char *s = xmalloc(n + 1);
	size_t i;

	for (i = 0; i < n; i++)
		s[i] = (i % 63 == 62) ? '.' : 'd';
	assert_true(s[n - 1] != '.');
	s[n] = '\0';
	return s;
}

static void
test_lengths(void **state)
{
	char *node, *dom, *res, *in;
	struct jid j;
	size_t len;

	(void)state;
	node = repeat("n", JID_PART_MAX, "");
	dom = long_domain(JID_PART_MAX);
	res = repeat("r", JID_PART_MAX, "");
	len = 3 * JID_PART_MAX + 2;
	in = xmalloc(len + 2);
	snprintf(in, len + 2, "%s@%s/%s", node, dom, res);
	assert_int_equal(jid_parse_str(&j, in), 0);
	assert_consistent(&j);
	assert_int_equal(strlen(j.full), len);
	assert_int_equal(j.node_len, JID_PART_MAX);
	assert_int_equal(j.domain_len, JID_PART_MAX);
	assert_int_equal(j.res_len, JID_PART_MAX);
	jid_cleanup(&j);

	/* the same with the domain's trailing dot still fits */
	free(in);
	in = xmalloc(len + 3);
	snprintf(in, len + 3, "%s@%s./%s", node, dom, res);
	assert_int_equal(jid_parse_str(&j, in), 0);
	assert_int_equal(j.domain_len, JID_PART_MAX);
	jid_cleanup(&j);
	free(in);
	free(node);
	free(dom);
	free(res);

	/* one octet too many in each part */
	node = repeat("n", JID_PART_MAX + 1, "@example.com");
	check_invalid(node);
	free(node);
	dom = long_domain(JID_PART_MAX + 1);
	check_invalid(dom);
	free(dom);
	res = repeat("r", JID_PART_MAX + 1, "");
	in = xmalloc(JID_PART_MAX + 20);
	snprintf(in, JID_PART_MAX + 20, "a@b/%s", res);
	check_invalid(in);
	free(in);
	free(res);

	/* refused before any work, whatever preparation would give */
	in = repeat("\xc2\xad", 2000, "a@example.com");
	check_invalid(in);
	free(in);

	/* longer than a part before preparation, short after: U+00AD SOFT
	 * HYPHEN is mapped to nothing */
	in = repeat("\xc2\xad", 600, "a@example.com");
	assert_int_equal(jid_parse_str(&j, in), 0);
	assert_string_equal(j.full, "a@example.com");
	jid_cleanup(&j);
	free(in);

	/* short before, too long after: U+FDFA is 18 characters in NFKC */
	res = repeat("\xef\xb7\xba", 40, "");
	in = xmalloc(200);
	snprintf(in, 200, "a@b/%s", res);
	check_invalid(in);
	free(in);
	free(res);
	res = repeat("\xef\xb7\xba", 10, "");
	in = xmalloc(200);
	snprintf(in, 200, "a@b/%s", res);
	assert_int_equal(jid_parse_str(&j, in), 0);
	assert_true(j.res_len > 30 * 5);
	jid_cleanup(&j);
	free(in);
	free(res);

	/* jid_parse_str stops looking at a huge string */
	in = repeat("a", 100000, "");
	check_invalid(in);
	assert_int_equal(jid_parse_str(&j, in), -1);
	free(in);
}

static void
test_bad_utf8(void **state)
{
	static const char *const seqs[] = {
		"\xc3\x28",		/* bad continuation */
		"\xc0\xaf",		/* overlong '/' */
		"\xc1\x81",		/* overlong 'A' */
		"\xe0\x80\xaf",		/* overlong */
		"\xf0\x80\x80\xaf",	/* overlong */
		"\xed\xa0\x80",		/* surrogate D800 */
		"\xed\xbf\xbf",		/* surrogate DFFF */
		"\xf4\x90\x80\x80",	/* above U+10FFFF */
		"\xf5\x80\x80\x80",
		"\xff",
		"\xfe",
		"\x80",			/* lone continuation */
		"\xe2\x82",		/* truncated */
		"\xf0\x9f\x98",		/* truncated */
	};
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(seqs); i++) {
		snprintf(buf, sizeof(buf), "a%s@example.com", seqs[i]);
		check_invalid(buf);
		snprintf(buf, sizeof(buf), "a@ex%sample.com", seqs[i]);
		check_invalid(buf);
		snprintf(buf, sizeof(buf), "a@example.com/r%s", seqs[i]);
		check_invalid(buf);
		snprintf(buf, sizeof(buf), "a@example.com/r%sx", seqs[i]);
		check_invalid(buf);
	}
	/* embedded NUL in each part */
	check_invalid_n("a\0b@example.com", 15);
	check_invalid_n("a@exa\0mple.com", 14);
	check_invalid_n("a@example.com/r\0s", 17);
	check_invalid_n("a@example.com/\xc3\xa9\0", 17);
}

static void
test_nodeprep_rules(void **state)
{
	static const struct valid_case cases[] = {
		{ "\xd8\xb9\xd8\xb9@example.com",
		    "\xd8\xb9\xd8\xb9@example.com",
		    "\xd8\xb9\xd8\xb9", "example.com", NULL },
		/* U+2168 ROMAN NUMERAL NINE: NFKC then case folding */
		{ "\xe2\x85\xa8@example.com", "ix@example.com", "ix",
		    "example.com", NULL },
	};
	static const char *const bad[] = {
		/* bidi: RAL must start and end the string, no L mixed in */
		"\xd8\xb9" "1@example.com",
		"\xd8\xb9" "a@example.com",
		/* U+00A0 NO-BREAK SPACE is C.1.2 */
		"a\xc2\xa0" "b@example.com",
		/* U+FF20 FULLWIDTH COMMERCIAL AT becomes a prohibited '@' */
		"a\xef\xbc\xa0" "b@example.com",
		/* U+200B alone maps to an empty node */
		"\xe2\x80\x8b@example.com",
		/* U+E000 private use, C.3 */
		"\xee\x80\x80@example.com",
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++)
		check_valid(&cases[i]);
	for (i = 0; i < ARRAY_LEN(bad); i++)
		check_invalid(bad[i]);
}

static void
test_resourceprep_rules(void **state)
{
	static const struct valid_case cases[] = {
		/* unassigned in Unicode 3.2, allowed as in a query */
		{ "a@b/\xf0\x9f\x93\xb1", "a@b/\xf0\x9f\x93\xb1", "a", "b",
		    "\xf0\x9f\x93\xb1" },
		/* nothing in the resource is folded */
		{ "a@b/\xc3\x9f\xc3\x84", "a@b/\xc3\x9f\xc3\x84", "a", "b",
		    "\xc3\x9f\xc3\x84" },
	};
	static const char *const bad[] = {
		"a@b/\xe2\x80\xae" "x",		/* U+202E, C.8 */
		"a@b/\xee\x80\x80",		/* private use */
		"a@b/\xe2\x80\x8b",		/* maps to empty */
		"a@b/\xd8\xb9" "a",		/* bidi */
		"a@b/\xef\xbf\xbf",		/* non-character, C.4 */
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++)
		check_valid(&cases[i]);
	for (i = 0; i < ARRAY_LEN(bad); i++)
		check_invalid(bad[i]);
}

/* The hand-written ASCII paths must match libidn for every character. */
static void
test_ascii_matches_libidn(void **state)
{
	int c;

	(void)state;
	for (c = 1; c < 128; c++) {
		char in[8], ref[64], out[64], dom[16], *ace;
		int ref_ok, rc;

		snprintf(in, sizeof(in), "a%cB", c);

		memcpy(ref, in, sizeof(in));
		ref_ok = stringprep(ref, sizeof(ref), 0,
		    stringprep_xmpp_nodeprep) == STRINGPREP_OK;
		rc = jid_nodeprep(in, out, sizeof(out));
		if ((rc == 0) != ref_ok)
			fail_msg("nodeprep disagrees on 0x%02x", c);
		if (ref_ok)
			assert_string_equal(out, ref);

		memcpy(ref, in, sizeof(in));
		ref_ok = stringprep(ref, sizeof(ref), 0,
		    stringprep_xmpp_resourceprep) == STRINGPREP_OK;
		rc = jid_resourceprep(in, out, sizeof(out));
		if ((rc == 0) != ref_ok)
			fail_msg("resourceprep disagrees on 0x%02x", c);
		if (ref_ok)
			assert_string_equal(out, ref);

		/* Domains: ToASCII with the STD3 rules decides, and the
		 * prepared form is nameprep's; '.', '[' are special. */
		if (c == '.' || c == '[')
			continue;
		snprintf(dom, sizeof(dom), "a%cB.com", c);
		ref_ok = idna_to_ascii_8z(dom, &ace,
		    IDNA_USE_STD3_ASCII_RULES) == IDNA_SUCCESS;
		if (ref_ok)
			free(ace);
		rc = jid_nameprep(dom, out, sizeof(out));
		if ((rc == 0) != ref_ok)
			fail_msg("nameprep disagrees on 0x%02x", c);
		if (ref_ok) {
			memcpy(ref, dom, strlen(dom) + 1);
			assert_int_equal(stringprep(ref, sizeof(ref), 0,
			    stringprep_nameprep), STRINGPREP_OK);
			assert_string_equal(out, ref);
		}
	}
}

static void
test_single_part_prep(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(jid_nodeprep("Fu\xc3\x9f" "Ball", out, sizeof(out)),
	    0);
	assert_string_equal(out, "fussball");
	/* exactly fits, then one byte short */
	assert_int_equal(jid_nodeprep("Fu\xc3\x9f" "Ball", out, 9), 0);
	assert_string_equal(out, "fussball");
	assert_int_equal(jid_nodeprep("Fu\xc3\x9f" "Ball", out, 8), -1);
	assert_int_equal(jid_nodeprep("a@b", out, sizeof(out)), -1);
	assert_int_equal(jid_nodeprep("a/b", out, sizeof(out)), -1);
	assert_int_equal(jid_nodeprep("", out, sizeof(out)), -1);
	assert_int_equal(jid_nodeprep(NULL, out, sizeof(out)), -1);

	assert_int_equal(jid_nameprep("Example.COM.", out, sizeof(out)), 0);
	assert_string_equal(out, "example.com");
	assert_int_equal(jid_nameprep("B\xc3\x9c" "CHER.de", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "b\xc3\xbc" "cher.de");
	assert_int_equal(jid_nameprep("[::A]", out, sizeof(out)), 0);
	assert_string_equal(out, "[::a]");
	assert_int_equal(jid_nameprep("a b", out, sizeof(out)), -1);
	assert_int_equal(jid_nameprep("a/b", out, sizeof(out)), -1);
	assert_int_equal(jid_nameprep("", out, sizeof(out)), -1);

	assert_int_equal(jid_resourceprep("Foo Bar", out, sizeof(out)), 0);
	assert_string_equal(out, "Foo Bar");
	assert_int_equal(jid_resourceprep("a/b@c", out, sizeof(out)), 0);
	assert_string_equal(out, "a/b@c");
	assert_int_equal(jid_resourceprep("a\x01", out, sizeof(out)), -1);
	assert_int_equal(jid_resourceprep("abc", out, 3), -1);
	assert_int_equal(jid_resourceprep("abc", out, 4), 0);
}

static void
test_eq(void **state)
{
	struct jid a, b, c, d, zero;

	(void)state;
	assert_int_equal(jid_parse_str(&a, "Juliet@Example.com/balcony"), 0);
	assert_int_equal(jid_parse_str(&b, "juliet@EXAMPLE.COM./balcony"), 0);
	assert_int_equal(jid_parse_str(&c, "juliet@example.com/Balcony"), 0);
	assert_int_equal(jid_parse_str(&d, "juliet@example.com"), 0);
	assert_true(jid_eq(&a, &b));
	assert_true(jid_bare_eq(&a, &b));
	assert_false(jid_eq(&a, &c));
	assert_true(jid_bare_eq(&a, &c));
	assert_false(jid_eq(&a, &d));
	assert_true(jid_bare_eq(&a, &d));
	assert_true(jid_eq(&d, &d));
	jid_cleanup(&b);

	/* a domain JID is not the same as a node@domain JID */
	assert_int_equal(jid_parse_str(&b, "example.com/balcony"), 0);
	assert_false(jid_eq(&a, &b));
	assert_false(jid_bare_eq(&a, &b));
	jid_cleanup(&b);
	/* nor a prefix of it */
	assert_int_equal(jid_parse_str(&b, "juliet@example.co"), 0);
	assert_false(jid_bare_eq(&b, &d));
	assert_false(jid_eq(&b, &d));
	jid_cleanup(&b);

	memset(&zero, 0, sizeof(zero));
	assert_false(jid_eq(&zero, &a));
	assert_false(jid_bare_eq(&a, &zero));
	jid_cleanup(&a);
	jid_cleanup(&c);
	jid_cleanup(&d);
}

static void
test_copy(void **state)
{
	struct jid a, b, zero;

	(void)state;
	assert_int_equal(jid_parse_str(&a, "Romeo@Example.net/Orchard"), 0);
	jid_copy(&b, &a);
	assert_consistent(&b);
	assert_true(b.full != a.full && b.node != a.node &&
	    b.domain != a.domain && b.resource != a.resource &&
	    b.bare != a.bare);
	assert_true(jid_eq(&a, &b));
	jid_cleanup(&a);
	assert_zeroed(&a);
	/* the copy outlives the original */
	assert_string_equal(b.full, "romeo@example.net/Orchard");
	assert_string_equal(b.bare, "romeo@example.net");
	assert_string_equal(b.node, "romeo");
	assert_string_equal(b.domain, "example.net");
	assert_string_equal(b.resource, "Orchard");
	jid_cleanup(&b);

	assert_int_equal(jid_parse_str(&a, "example.net"), 0);
	jid_copy(&b, &a);
	assert_consistent(&b);
	assert_null(b.node);
	assert_null(b.resource);
	assert_true(jid_eq(&a, &b));
	jid_cleanup(&a);
	jid_cleanup(&b);

	memset(&zero, 0, sizeof(zero));
	memset(&b, 0x5a, sizeof(b));
	jid_copy(&b, &zero);
	assert_zeroed(&b);
	jid_cleanup(&b);
}

static void
test_make(void **state)
{
	struct jid m, p;

	(void)state;
	assert_int_equal(jid_make(&m, "Fu\xc3\x9f" "ball", "EXAMPLE.com.",
	    "Res/x@y"), 0);
	assert_consistent(&m);
	assert_string_equal(m.full, "fussball@example.com/Res/x@y");
	assert_int_equal(jid_parse_str(&p, m.full), 0);
	assert_true(jid_eq(&m, &p));
	jid_cleanup(&p);
	jid_cleanup(&m);

	assert_int_equal(jid_make(&m, NULL, "example.com", NULL), 0);
	assert_consistent(&m);
	assert_string_equal(m.full, "example.com");
	assert_null(m.node);
	assert_null(m.resource);
	jid_cleanup(&m);

	assert_int_equal(jid_make(&m, "a", "example.com", NULL), 0);
	assert_string_equal(m.full, "a@example.com");
	assert_true(jid_is_bare(&m));
	jid_cleanup(&m);

	assert_int_equal(jid_make(&m, NULL, "example.com", "r"), 0);
	assert_string_equal(m.full, "example.com/r");
	jid_cleanup(&m);

	/* each part must be valid on its own, and not change the split */
	assert_int_equal(jid_make(&m, "a@b", "example.com", NULL), -1);
	assert_zeroed(&m);
	assert_int_equal(jid_make(&m, "a/b", "example.com", NULL), -1);
	assert_int_equal(jid_make(&m, "", "example.com", NULL), -1);
	assert_int_equal(jid_make(&m, "a", "example.com", ""), -1);
	assert_int_equal(jid_make(&m, "a", "", "r"), -1);
	assert_int_equal(jid_make(&m, "a", NULL, "r"), -1);
	assert_int_equal(jid_make(&m, "a", "exa/mple.com", NULL), -1);
	assert_int_equal(jid_make(&m, "a", "b@example.com", NULL), -1);
	assert_int_equal(jid_make(&m, "a", "example.com", "\x01"), -1);
	assert_int_equal(jid_make(&m, "a\xc3", "example.com", NULL), -1);
	assert_zeroed(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7622_valid),
		cmocka_unit_test(test_rfc7622_invalid),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_case_folding),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_domain_ace_length),
		cmocka_unit_test(test_ip_literals),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_nodeprep_rules),
		cmocka_unit_test(test_resourceprep_rules),
		cmocka_unit_test(test_ascii_matches_libidn),
		cmocka_unit_test(test_single_part_prep),
		cmocka_unit_test(test_eq),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_make),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

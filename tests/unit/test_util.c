/* test_util.c: src/core/util.c and src/core/buf.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/util.h"

/* RFC 4648 section 10 test vectors. */
static const struct {
	const char *raw;
	const char *enc;
} b64_vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_b64_vectors(void **state)
{
	char enc[32];
	unsigned char dec[32];
	size_t i, n, outlen;

	(void)state;
	for (i = 0; i < ARRAY_LEN(b64_vectors); i++) {
		const char *raw = b64_vectors[i].raw;
		const char *want = b64_vectors[i].enc;

		n = b64_encode((const unsigned char *)raw, strlen(raw), enc);
		assert_int_equal(n, strlen(want));
		assert_string_equal(enc, want);

		outlen = 999;
		assert_int_equal(b64_decode(want, strlen(want), dec, &outlen),
		    0);
		assert_int_equal(outlen, strlen(raw));
		assert_memory_equal(dec, raw, outlen);
	}
}

static void
test_b64_round_trip(void **state)
{
	unsigned char raw[300], dec[300 * 3 / 4 + 300];
	char enc[4 * ((300 + 2) / 3) + 1];
	size_t n, elen, dlen, i;

	(void)state;
	for (n = 0; n <= sizeof(raw); n++) {
		rand_bytes(raw, n);
		/* every byte value shows up somewhere */
		for (i = 0; i < n; i++)
			if (i % 7 == 0)
				raw[i] = (unsigned char)(i * 37);
		memset(enc, 0x7f, sizeof(enc));
		elen = b64_encode(raw, n, enc);
		assert_int_equal(elen, 4 * ((n + 2) / 3));
		assert_int_equal(enc[elen], '\0');
		assert_int_equal(b64_decode(enc, elen, dec, &dlen), 0);
		assert_int_equal(dlen, n);
		assert_memory_equal(dec, raw, n);
	}
}

static void
test_b64_rejects(void **state)
{
	static const char *const bad[] = {
		"Z",		/* not a multiple of 4 */
		"Zg=",
		"Zm9vY",
		"Zg===",
		"====",
		"Z===",
		"=Zg=",
		"Z=g=",
		"Zm=v",
		"Zm9v====",	/* padding then more padding */
		"Zm8=Zm8=",	/* padding in the middle */
		"Zm9v\nYmFy",	/* whitespace is not skipped */
		"Zm9 ",
		"Zm9-",		/* url-safe alphabet is not accepted */
		"Zm9_",
		"Zm9\x80",
		"Zh==",		/* non-zero leftover bits: not canonical */
		"Zm9=",
		"Zm8\0",
	};
	unsigned char dec[16];
	size_t i, outlen;

	(void)state;
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		size_t n = strlen(bad[i]);

		if (i == ARRAY_LEN(bad) - 1)
			n = 4; /* embedded NUL */
		if (b64_decode(bad[i], n, dec, &outlen) != -1)
			fail_msg("accepted bad base64 \"%s\"", bad[i]);
	}
	/* the same inputs made canonical are fine */
	assert_int_equal(b64_decode("Zg==", 4, dec, &outlen), 0);
	assert_int_equal(b64_decode("Zm8=", 4, dec, &outlen), 0);
	assert_int_equal(b64_decode("", 0, dec, &outlen), 0);
	assert_int_equal(outlen, 0);
}

static void
test_ct_memeq(void **state)
{
	unsigned char a[64], b[64];
	size_t i;
	int bit;

	(void)state;
	rand_bytes(a, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_true(ct_memeq(a, b, sizeof(a)));
	assert_true(ct_memeq(a, b, 0));
	assert_true(ct_memeq("x", "y", 0));
	for (i = 0; i < sizeof(a); i++) {
		for (bit = 0; bit < 8; bit++) {
			b[i] ^= (unsigned char)(1u << bit);
			assert_false(ct_memeq(a, b, sizeof(a)));
			/* only the first n bytes count */
			assert_true(ct_memeq(a, b, i));
			b[i] ^= (unsigned char)(1u << bit);
		}
	}
	assert_true(ct_memeq(a, b, sizeof(a)));
}

/* time_id: ids made later sort after earlier ones (byte order, as
 * SQLite compares them), are all distinct and keep their random part. */
static void
test_time_id_sorts_by_time(void **state)
{
	char prev[24], cur[24], other[24];
	struct timespec pause = { 0, 2 * 1000 * 1000 };
	int i;

	(void)state;
	time_id(prev, sizeof(prev));
	assert_int_equal(strlen(prev), 23);
	for (i = 0; i < 20; i++) {
		nanosleep(&pause, NULL);
		time_id(cur, sizeof(cur));
		assert_int_equal(strlen(cur), 23);
		assert_true(strcmp(prev, cur) < 0);
		memcpy(prev, cur, sizeof(cur));
	}
	/* same millisecond: same prefix, different ids */
	time_id(cur, sizeof(cur));
	time_id(other, sizeof(other));
	assert_string_not_equal(cur, other);
	/* too short for a time prefix: still a random id */
	time_id(cur, 6);
	assert_int_equal(strlen(cur), 5);
}

static void
test_rand_id(void **state)
{
	static const char charset[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
	char a[300], b[300];
	int seen[256] = { 0 };
	size_t n, i, distinct = 0;

	(void)state;
	/* n == 0 writes nothing */
	a[0] = 'Q';
	rand_id(a, 0);
	assert_int_equal(a[0], 'Q');

	for (n = 1; n <= 257; n++) {
		memset(a, 0x7f, sizeof(a));
		rand_id(a, n);
		assert_int_equal(strlen(a), n - 1);
		assert_int_equal(strspn(a, charset), n - 1);
		/* nothing written past the terminator */
		assert_int_equal((unsigned char)a[n], 0x7f);
		for (i = 0; i + 1 < n; i++)
			seen[(unsigned char)a[i]]++;
	}
	for (i = 0; i < 256; i++)
		if (seen[i])
			distinct++;
	/* ~33000 draws from 64 symbols: every symbol appears */
	assert_int_equal(distinct, 64);

	rand_id(a, 33);
	rand_id(b, 33);
	assert_string_not_equal(a, b);
}

/* A forked child must not hand out the ids its parent will: both hold a
 * copy of the pool, and the child's must be emptied (atfork). */
static void
test_rand_id_fork(void **state)
{
	char a[33], b[33] = { 0 };
	int fd[2];
	pid_t pid;
	int st;

	(void)state;
	rand_id(a, sizeof(a)); /* the pool is filled now */
	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rand_id(a, sizeof(a));
		_exit(write(fd[1], a, sizeof(a)) == (ssize_t)sizeof(a) ? 0 : 1);
	}
	close(fd[1]);
	rand_id(a, sizeof(a));
	assert_int_equal(read(fd[0], b, sizeof(b)), (ssize_t)sizeof(b));
	close(fd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_string_not_equal(a, b);
}

static void
test_misc_util(void **state)
{
	char out[32];
	char *s;
	unsigned char *z;
	size_t i;

	(void)state;
	/* FNV-1a 32-bit reference values */
	assert_int_equal(hash_bytes(HASH_INIT, "", 0), 0x811c9dc5u);
	assert_int_equal(hash_bytes(HASH_INIT, "a", 1), 0xe40c292cu);
	assert_int_equal(hash_bytes(HASH_INIT, "foobar", 6), 0xbf9cf968u);
	/* continuing a hash equals hashing the concatenation */
	assert_int_equal(hash_bytes(hash_bytes(HASH_INIT, "foo", 3), "bar", 3),
	    0xbf9cf968u);

	time_xep82(0, out, sizeof(out));
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	time_xep82(1700000000, out, sizeof(out));
	assert_string_equal(out, "2023-11-14T22:13:20Z");
	assert_true(now_unix() > 1700000000);
	assert_true(now_ms() >= 0);

	s = xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	s = xstrdup("");
	assert_string_equal(s, "");
	free(s);
	z = xcalloc(100, 3);
	for (i = 0; i < 300; i++)
		assert_int_equal(z[i], 0);
	memset(z, 'k', 300);
	z = xrealloc(z, 5000);
	for (i = 0; i < 300; i++)
		assert_int_equal(z[i], 'k');
	free(z);
	free(xmalloc(0));
}

static void
test_sbuf_growth(void **state)
{
	struct sbuf b;
	char chunk[37];
	size_t i, j, cap;

	(void)state;
	sbuf_init(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('a' + i % 26);
	for (i = 0; i < 1000; i++) {
		sbuf_append(&b, chunk, sizeof(chunk));
		assert_int_equal(b.len, (i + 1) * sizeof(chunk));
		assert_true(b.cap >= b.len + 1);
		assert_int_equal(b.data[b.len], '\0');
	}
	for (i = 0; i < 1000; i++)
		for (j = 0; j < sizeof(chunk); j++)
			assert_int_equal(b.data[i * sizeof(chunk) + j],
			    chunk[j]);

	cap = b.cap;
	sbuf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, cap);
	assert_string_equal(b.data, "");
	sbuf_puts(&b, "ab");
	sbuf_putc(&b, 'c');
	sbuf_append(&b, "", 0);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");

	sbuf_reserve(&b, 100000);
	assert_true(b.cap >= 100000 + 3 + 1);
	assert_string_equal(b.data, "abc");
	sbuf_cleanup(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);

	/* appending nothing to an empty buffer still gives a C string */
	sbuf_append(&b, NULL, 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	sbuf_cleanup(&b);
	sbuf_reset(&b); /* safe on an empty buffer */
	sbuf_cleanup(&b);
}

static void
test_sbuf_printf(void **state)
{
	struct sbuf b;
	char big[500];
	char *got;
	size_t len;

	(void)state;
	sbuf_init(&b);
	sbuf_printf(&b, "%s", "");
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	sbuf_printf(&b, "%d-%s-%c", 42, "x", 'y');
	assert_string_equal(b.data, "42-x-y");
	memset(big, 'B', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* larger than the first allocation: grows inside printf */
	sbuf_printf(&b, "[%s]%zu", big, sizeof(big));
	assert_int_equal(b.len, 6 + 1 + 499 + 1 + 3);
	assert_int_equal(strlen(b.data), b.len);
	assert_memory_equal(b.data, "42-x-y[BBB", 10);
	assert_string_equal(b.data + b.len - 4, "]500");
	sbuf_printf(&b, "%05u|%-3s|%x", 7u, "a", 255u);
	assert_string_equal(b.data + b.len - 16, "]50000007|a  |ff");

	got = sbuf_steal(&b, &len);
	assert_int_equal(len, strlen(got));
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(got);

	/* stealing an empty buffer gives an empty string to free */
	got = sbuf_steal(&b, &len);
	assert_string_equal(got, "");
	assert_int_equal(len, 0);
	free(got);
	got = sbuf_steal(&b, NULL);
	free(got);
}

static void
test_sbuf_xml_escape(void **state)
{
	static const char in[] = "a&b<c>d\"e'f";
	struct sbuf b;
	size_t i;

	(void)state;
	sbuf_init(&b);
	sbuf_put_xml_escaped(&b, in, strlen(in));
	assert_string_equal(b.data, "a&amp;b&lt;c&gt;d&quot;e&apos;f");
	sbuf_reset(&b);

	sbuf_put_xml_escaped(&b, "plain text, \xc3\xa9", 15);
	assert_string_equal(b.data, "plain text, \xc3\xa9");
	sbuf_reset(&b);

	/* only n bytes are read, and only the five characters change */
	sbuf_put_xml_escaped(&b, "<<>>", 2);
	assert_string_equal(b.data, "&lt;&lt;");
	sbuf_reset(&b);
	sbuf_put_xml_escaped(&b, "", 0);
	assert_string_equal(b.data, "");

	/* escaping grows the buffer well past the input size */
	sbuf_reset(&b);
	for (i = 0; i < 200; i++)
		sbuf_put_xml_escaped(&b, "&&&&&", 5);
	assert_int_equal(b.len, 200 * 5 * 5);
	for (i = 0; i < 1000; i++)
		assert_memory_equal(b.data + i * 5, "&amp;", 5);
	assert_int_equal(b.data[b.len], '\0');

	/* appends after existing content */
	sbuf_reset(&b);
	sbuf_puts(&b, "<a v='");
	sbuf_put_xml_escaped(&b, "x'y", 3);
	sbuf_puts(&b, "'/>");
	assert_string_equal(b.data, "<a v='x&apos;y'/>");
	sbuf_cleanup(&b);
}

static void
test_rbuf(void **state)
{
	struct rbuf *r, *r2;
	struct sbuf b;

	(void)state;
	r = rbuf_new("stanza", 6);
	assert_int_equal(r->refs, 1);
	assert_int_equal(r->len, 6);
	assert_string_equal(r->data, "stanza");
	r2 = rbuf_ref(r);
	assert_ptr_equal(r, r2);
	assert_int_equal(r->refs, 2);
	rbuf_ref(r);
	assert_int_equal(r->refs, 3);
	rbuf_unref(r);
	rbuf_unref(r);
	assert_int_equal(r->refs, 1);
	assert_string_equal(r->data, "stanza");
	rbuf_unref(r); /* freed: ASan / valgrind would see a leak or reuse */
	rbuf_unref(NULL);

	r = rbuf_new("a\0b", 3);
	assert_int_equal(r->len, 3);
	assert_memory_equal(r->data, "a\0b", 4);
	rbuf_unref(r);

	sbuf_init(&b);
	r = rbuf_from_sbuf(&b);
	assert_int_equal(r->len, 0);
	assert_string_equal(r->data, "");
	rbuf_unref(r);

	sbuf_puts(&b, "<message/>");
	r = rbuf_from_sbuf(&b);
	assert_int_equal(r->refs, 1);
	assert_int_equal(r->len, 10);
	assert_string_equal(r->data, "<message/>");
	assert_ptr_not_equal(r->data, b.data);
	/* the sbuf is untouched and independent */
	assert_string_equal(b.data, "<message/>");
	b.data[0] = 'X';
	assert_string_equal(r->data, "<message/>");
	sbuf_cleanup(&b);
	rbuf_unref(r);
}

static void
test_strset(void **state)
{
	struct strset set = { 0 };
	const char *in[] = { "m", "a", "z", "m", "b" };
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(strset_add(&set, in[i]), i == 3 ? 0 : 1);
	assert_int_equal(set.n, 4);
	assert_string_equal(set.v[0], "a");
	assert_string_equal(set.v[1], "b");
	assert_string_equal(set.v[3], "z");
	assert_true(strset_has(&set, "m"));
	assert_false(strset_has(&set, "c"));
	assert_int_equal(strset_del(&set, "m"), 1);
	assert_int_equal(strset_del(&set, "m"), 0);
	assert_false(strset_has(&set, "m"));
	assert_string_equal(set.v[2], "z");
	strset_clear(&set);
	assert_int_equal(set.n, 0);
	assert_false(strset_has(&set, "a"));
	assert_int_equal(strset_add(&set, "a"), 1);
	strset_free(&set);
	assert_null(set.v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_rejects),
		cmocka_unit_test(test_ct_memeq),
		cmocka_unit_test(test_rand_id),
		cmocka_unit_test(test_rand_id_fork),
		cmocka_unit_test(test_time_id_sorts_by_time),
		cmocka_unit_test(test_misc_util),
		cmocka_unit_test(test_sbuf_growth),
		cmocka_unit_test(test_sbuf_printf),
		cmocka_unit_test(test_sbuf_xml_escape),
		cmocka_unit_test(test_rbuf),
		cmocka_unit_test(test_strset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

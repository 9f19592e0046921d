/* test_sasl.c: the SCRAM and PLAIN servers against a real SQLite store,
 * driven by a SCRAM client written here from RFC 5802. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/util.h"
#include "store/store.h"
#include "xmpp/account.h"
#include "xmpp/sasl.h"

static char dbpath[64];

#define N16 "0123456789abcdef"
#define LONG_NONCE N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16 N16

static int
setup(void **state)
{
	char err[256];
	int fd;

	(void)state;
	snprintf(dbpath, sizeof(dbpath), "/tmp/tern-sasl-XXXXXX");
	fd = mkstemp(dbpath);
	if (fd < 0)
		return -1;
	close(fd);
	unlink(dbpath);
	store_main = store_open("sqlite", dbpath, err, sizeof(err));
	if (store_main == NULL)
		return -1;
	if (account_create("localhost", "juliet", "r0meo,=pw") != 0)
		return -1;
	store_commit();
	return 0;
}

static int
teardown(void **state)
{
	char p[80];

	(void)state;
	store_close(store_main);
	store_main = NULL;
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	return 0;
}

/* Finds "k=value" in a comma-separated SCRAM message. */
static int
attr(const char *msg, char k, char *out, size_t outlen)
{
	const char *p = msg;

	while (p && *p) {
		if (p[0] == k && p[1] == '=') {
			const char *e = strchr(p, ',');
			size_t n = e ? (size_t)(e - p - 2) : strlen(p + 2);

			if (n >= outlen)
				return -1;
			memcpy(out, p + 2, n);
			out[n] = '\0';
			return 0;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return -1;
}

struct run {
	const char *cond;
	enum sasl_res res;
	int server_sig_ok;
};

/* One full SCRAM exchange; final_tamper rewrites the client-final
 * message's nonce when set. */
static struct run
scram_run(const char *mech, const char *gs2, const char *user,
    const char *pw, int tamper_nonce)
{
	const EVP_MD *md = strstr(mech, "256") ? EVP_sha256() : EVP_sha1();
	size_t dl = (size_t)EVP_MD_get_size(md), i, sl, vl;
	unsigned char salt[64], sp[64], ck[64], sk[64], svk[64], cs[64];
	unsigned char proof[64], ss[64], v[64];
	char first[256], bare[256], r[256], s64[128], it[16], final[512];
	char c64[128], p64[128], vb64[128];
	unsigned int n;
	struct sbuf out, am;
	struct run ret = { 0 };
	struct sasl *s = sasl_new(mech, "localhost", NULL);

	assert_non_null(s);
	snprintf(bare, sizeof(bare), "n=%s,r=clientnonce123FA4B885383316DAD6572", user);
	snprintf(first, sizeof(first), "%s%s", gs2, bare);
	sbuf_init(&out);
	ret.res = sasl_step(s, (const unsigned char *)first, strlen(first),
	    &out, &ret.cond);
	if (ret.res != SASL_CHALLENGE)
		goto done;
	assert_int_equal(attr(out.data, 'r', r, sizeof(r)), 0);
	assert_int_equal(attr(out.data, 's', s64, sizeof(s64)), 0);
	assert_int_equal(attr(out.data, 'i', it, sizeof(it)), 0);
	assert_memory_equal(r, "clientnonce123", 14);
	assert_int_equal(b64_decode(s64, strlen(s64), salt, &sl), 0);
	PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, (int)sl, atoi(it), md,
	    (int)dl, sp);
	HMAC(md, sp, (int)dl, (const unsigned char *)"Client Key", 10, ck, &n);
	EVP_Digest(ck, dl, sk, &n, md, NULL);
	HMAC(md, sp, (int)dl, (const unsigned char *)"Server Key", 10, svk, &n);
	b64_encode((const unsigned char *)gs2, strlen(gs2), c64);
	if (tamper_nonce)
		r[strlen(r) - 1] ^= 1;
	snprintf(final, sizeof(final), "c=%s,r=%s", c64, r);
	sbuf_init(&am);
	sbuf_printf(&am, "%s,%s,%s", bare, out.data, final);
	HMAC(md, sk, (int)dl, (const unsigned char *)am.data, am.len, cs, &n);
	for (i = 0; i < dl; i++)
		proof[i] = ck[i] ^ cs[i];
	HMAC(md, svk, (int)dl, (const unsigned char *)am.data, am.len, ss, &n);
	sbuf_cleanup(&am);
	b64_encode(proof, dl, p64);
	strcat(final, ",p=");
	strcat(final, p64);
	sbuf_reset(&out);
	ret.res = sasl_step(s, (const unsigned char *)final, strlen(final),
	    &out, &ret.cond);
	if (ret.res == SASL_SUCCESS) {
		assert_int_equal(attr(out.data, 'v', vb64, sizeof(vb64)), 0);
		assert_int_equal(b64_decode(vb64, strlen(vb64), v, &vl), 0);
		ret.server_sig_ok = vl == dl && memcmp(v, ss, dl) == 0;
		assert_string_equal(sasl_user(s), "juliet");
	}
done:
	sbuf_cleanup(&out);
	sasl_free(s);
	return ret;
}

static void
test_scram_sha1_ok(void **state)
{
	struct run r = scram_run("SCRAM-SHA-1", "n,,", "juliet", "r0meo,=pw", 0);

	(void)state;
	assert_int_equal(r.res, SASL_SUCCESS);
	assert_true(r.server_sig_ok);
}

static void
test_scram_sha256_ok(void **state)
{
	struct run r = scram_run("SCRAM-SHA-256", "n,,", "juliet",
	    "r0meo,=pw", 0);

	(void)state;
	assert_int_equal(r.res, SASL_SUCCESS);
	assert_true(r.server_sig_ok);
}

static void
test_scram_wrong_password_and_unknown_user_look_alike(void **state)
{
	struct run a = scram_run("SCRAM-SHA-256", "n,,", "juliet", "nope", 0);
	struct run b = scram_run("SCRAM-SHA-256", "n,,", "nobody", "nope", 0);

	(void)state;
	assert_int_equal(a.res, SASL_FAILURE);
	assert_int_equal(b.res, SASL_FAILURE);
	assert_string_equal(a.cond, "not-authorized");
	assert_string_equal(b.cond, "not-authorized");
}

static void
test_scram_unknown_user_salt_is_stable(void **state)
{
	const char *m = "n,,n=ghost,r=abcdef";
	char s1[128], s2[128];
	struct sbuf o1, o2;
	const char *cond;
	struct sasl *x = sasl_new("SCRAM-SHA-1", "localhost", NULL);
	struct sasl *y = sasl_new("SCRAM-SHA-1", "localhost", NULL);

	(void)state;
	sbuf_init(&o1);
	sbuf_init(&o2);
	assert_int_equal(sasl_step(x, (const unsigned char *)m, strlen(m), &o1,
	    &cond), SASL_CHALLENGE);
	assert_int_equal(sasl_step(y, (const unsigned char *)m, strlen(m), &o2,
	    &cond), SASL_CHALLENGE);
	assert_int_equal(attr(o1.data, 's', s1, sizeof(s1)), 0);
	assert_int_equal(attr(o2.data, 's', s2, sizeof(s2)), 0);
	assert_string_equal(s1, s2);
	sbuf_cleanup(&o1);
	sbuf_cleanup(&o2);
	sasl_free(x);
	sasl_free(y);
}

static void
test_scram_nonce_tamper(void **state)
{
	struct run r = scram_run("SCRAM-SHA-1", "n,,", "juliet", "r0meo,=pw", 1);

	(void)state;
	assert_int_equal(r.res, SASL_FAILURE);
}

static void
test_scram_authzid(void **state)
{
	struct run ok = scram_run("SCRAM-SHA-1", "n,a=juliet@localhost,",
	    "juliet", "r0meo,=pw", 0);
	struct run bad = scram_run("SCRAM-SHA-1", "n,a=romeo@localhost,",
	    "juliet", "r0meo,=pw", 0);

	(void)state;
	assert_int_equal(ok.res, SASL_SUCCESS);
	assert_int_equal(bad.res, SASL_FAILURE);
	assert_string_equal(bad.cond, "invalid-authzid");
}

static void
one_step_fails(const char *mech, const char *msg, size_t len,
    const char *cond)
{
	struct sasl *s = sasl_new(mech, "localhost", NULL);
	const char *got = NULL;
	struct sbuf o;

	assert_non_null(s);
	sbuf_init(&o);
	assert_int_equal(sasl_step(s, (const unsigned char *)msg, len, &o,
	    &got), SASL_FAILURE);
	if (cond)
		assert_string_equal(got, cond);
	sbuf_cleanup(&o);
	sasl_free(s);
}

static void
test_scram_malformed(void **state)
{
	(void)state;
	one_step_fails("SCRAM-SHA-1", "garbage", 7, "malformed-request");
	one_step_fails("SCRAM-SHA-1", "n,,r=x", 6, "malformed-request");
	one_step_fails("SCRAM-SHA-1", "n,,n=juliet", 11, "malformed-request");
	one_step_fails("SCRAM-SHA-1", "n,,n=juliet,r=abc,m=ext", 23,
	    "malformed-request");
	one_step_fails("SCRAM-SHA-1", "p=tls-exporter,,n=juliet,r=abc", 30,
	    "malformed-request");
	one_step_fails("SCRAM-SHA-1", "n,,n=jul=2Xiet,r=abc", 20,
	    "malformed-request");
	one_step_fails("SCRAM-SHA-1", "n,,n=juliet,r=a\001c", 17,
	    "malformed-request");
	one_step_fails("SCRAM-SHA-1", "", 0, "malformed-request");
	one_step_fails("SCRAM-SHA-1", "n,,n=juliet,r=" LONG_NONCE "x", 14 + 257,
	    "malformed-request");
}

static void
test_plus_needs_tls(void **state)
{
	(void)state;
	assert_null(sasl_new("SCRAM-SHA-1-PLUS", "localhost", NULL));
	assert_null(sasl_new("PLAIN", "localhost", NULL));
	assert_null(sasl_new("DIGEST-MD5", "localhost", NULL));
	assert_false(sasl_mech_available("PLAIN", NULL));
	assert_true(sasl_mech_available("SCRAM-SHA-256", NULL));
}

static void
test_account_password_check(void **state)
{
	(void)state;
	assert_int_equal(account_check_password("localhost", "juliet",
	    "r0meo,=pw"), 0);
	assert_int_equal(account_check_password("localhost", "juliet", "x"), 1);
	assert_int_equal(account_check_password("localhost", "ghost", "x"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scram_sha1_ok),
		cmocka_unit_test(test_scram_sha256_ok),
		cmocka_unit_test(test_scram_wrong_password_and_unknown_user_look_alike),
		cmocka_unit_test(test_scram_unknown_user_salt_is_stable),
		cmocka_unit_test(test_scram_nonce_tamper),
		cmocka_unit_test(test_scram_authzid),
		cmocka_unit_test(test_scram_malformed),
		cmocka_unit_test(test_plus_needs_tls),
		cmocka_unit_test(test_account_password_check),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

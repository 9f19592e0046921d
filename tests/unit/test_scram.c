/* test_scram.c: SCRAM key derivation against the RFC 5802 (SHA-1) and
 * RFC 7677 (SHA-256) example exchanges. The test plays the client: it
 * takes StoredKey/ServerKey from scram_derive() and the ClientKey from
 * scram_salted_password(), and computes ClientProof and ServerSignature
 * as RFC 5802 section 3 does, which must equal the RFCs' values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/util.h"
#include "xmpp/scram.h"

struct vector {
	enum scram_hash hash;
	const char *password;
	const char *salt_b64;
	unsigned iter;
	const char *client_first_bare;
	const char *server_first;
	const char *client_final_wo_proof;
	const char *proof_b64;
	const char *server_sig_b64;
};

static const struct vector rfc5802 = {
	.hash = SCRAM_SHA1,
	.password = "pencil",
	.salt_b64 = "QSXCR+Q6sek8bf92",
	.iter = 4096,
	.client_first_bare = "n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	.server_first = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
			"s=QSXCR+Q6sek8bf92,i=4096",
	.client_final_wo_proof =
	    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
	.proof_b64 = "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	.server_sig_b64 = "rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

static const struct vector rfc7677 = {
	.hash = SCRAM_SHA256,
	.password = "pencil",
	.salt_b64 = "W22ZaJ0SNY7soEsUEjb6gQ==",
	.iter = 4096,
	.client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO",
	.server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
			"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	.client_final_wo_proof =
	    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	.proof_b64 = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	.server_sig_b64 = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

static const EVP_MD *
md_of(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

static void
hmac(enum scram_hash h, const unsigned char *key, size_t keylen,
    const char *msg, unsigned char *out)
{
	unsigned int outlen = 0;

	assert_non_null(HMAC(md_of(h), key, (int)keylen,
	    (const unsigned char *)msg, strlen(msg), out, &outlen));
	assert_int_equal(outlen, scram_digest_len(h));
}

static void
check_vector(const struct vector *v)
{
	unsigned char salt[64], salted[SCRAM_MAX_DIGEST];
	unsigned char client_key[SCRAM_MAX_DIGEST], h_ck[SCRAM_MAX_DIGEST];
	unsigned char client_sig[SCRAM_MAX_DIGEST], proof[SCRAM_MAX_DIGEST];
	unsigned char server_sig[SCRAM_MAX_DIGEST];
	char auth_msg[512], b64[64];
	struct scram_keys keys;
	size_t salt_len, dlen = scram_digest_len(v->hash), i;

	assert_int_equal(b64_decode(v->salt_b64, strlen(v->salt_b64), salt,
			     &salt_len),
	    0);
	memset(&keys, 0xAA, sizeof(keys));
	assert_int_equal(scram_derive(v->hash, v->password, salt, salt_len,
			     v->iter, &keys),
	    0);
	assert_int_equal(keys.hash, v->hash);
	assert_int_equal(keys.iter, v->iter);
	assert_int_equal(keys.salt_len, salt_len);
	assert_memory_equal(keys.salt, salt, salt_len);

	/* the client side: ClientKey from SaltedPassword, and StoredKey
	 * must be H(ClientKey) */
	assert_int_equal(scram_salted_password(v->hash, v->password, salt,
			     salt_len, v->iter, salted),
	    0);
	hmac(v->hash, salted, dlen, "Client Key", client_key);
	assert_int_equal(EVP_Digest(client_key, dlen, h_ck, NULL,
			     md_of(v->hash), NULL),
	    1);
	assert_memory_equal(h_ck, keys.stored_key, dlen);

	snprintf(auth_msg, sizeof(auth_msg), "%s,%s,%s", v->client_first_bare,
	    v->server_first, v->client_final_wo_proof);
	/* ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage) */
	hmac(v->hash, keys.stored_key, dlen, auth_msg, client_sig);
	for (i = 0; i < dlen; i++)
		proof[i] = client_key[i] ^ client_sig[i];
	b64_encode(proof, dlen, b64);
	assert_string_equal(b64, v->proof_b64);

	/* ServerSignature = HMAC(ServerKey, AuthMessage) */
	hmac(v->hash, keys.server_key, dlen, auth_msg, server_sig);
	b64_encode(server_sig, dlen, b64);
	assert_string_equal(b64, v->server_sig_b64);
}

static void
test_rfc5802_sha1(void **state)
{
	(void)state;
	check_vector(&rfc5802);
}

static void
test_rfc7677_sha256(void **state)
{
	(void)state;
	check_vector(&rfc7677);
}

static void
test_wrong_password_differs(void **state)
{
	struct vector v = rfc7677;
	unsigned char salt[64];
	struct scram_keys good, bad;
	size_t salt_len;

	(void)state;
	assert_int_equal(b64_decode(v.salt_b64, strlen(v.salt_b64), salt,
			     &salt_len),
	    0);
	assert_int_equal(scram_derive(SCRAM_SHA256, "pencil", salt, salt_len,
			     4096, &good),
	    0);
	assert_int_equal(scram_derive(SCRAM_SHA256, "pencil2", salt,
			     salt_len, 4096, &bad),
	    0);
	assert_memory_not_equal(good.stored_key, bad.stored_key, 32);
	/* another iteration count changes the keys too */
	assert_int_equal(scram_derive(SCRAM_SHA256, "pencil", salt, salt_len,
			     4095, &bad),
	    0);
	assert_memory_not_equal(good.stored_key, bad.stored_key, 32);
}

static void
test_make_fresh_salt(void **state)
{
	struct scram_keys a, b, c;

	(void)state;
	assert_int_equal(scram_make(SCRAM_SHA1, "secret", 16, &a), 0);
	assert_int_equal(scram_make(SCRAM_SHA1, "secret", 16, &b), 0);
	assert_int_equal(a.salt_len, SCRAM_SALT_LEN);
	assert_int_equal(a.iter, 16);
	assert_memory_not_equal(a.salt, b.salt, SCRAM_SALT_LEN);
	assert_memory_not_equal(a.stored_key, b.stored_key, 20);
	/* and the keys are those of scram_derive with that salt */
	assert_int_equal(scram_derive(SCRAM_SHA1, "secret", a.salt,
			     a.salt_len, 16, &c),
	    0);
	assert_memory_equal(a.stored_key, c.stored_key, 20);
	assert_memory_equal(a.server_key, c.server_key, 20);
}

static void
test_names_and_bad_input(void **state)
{
	unsigned char salt[65] = { 0 };
	struct scram_keys k;

	(void)state;
	assert_int_equal(scram_digest_len(SCRAM_SHA1), 20);
	assert_int_equal(scram_digest_len(SCRAM_SHA256), 32);
	assert_string_equal(scram_hash_name(SCRAM_SHA1), "SHA-1");
	assert_string_equal(scram_hash_name(SCRAM_SHA256), "SHA-256");
	assert_int_equal(scram_derive(SCRAM_SHA1, "x", salt, 16, 0, &k), -1);
	assert_int_equal(scram_derive(SCRAM_SHA1, "x", salt, 65, 1, &k), -1);
	assert_int_equal(scram_derive(SCRAM_NHASH, "x", salt, 16, 1, &k), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5802_sha1),
		cmocka_unit_test(test_rfc7677_sha256),
		cmocka_unit_test(test_wrong_password_differs),
		cmocka_unit_test(test_make_fresh_salt),
		cmocka_unit_test(test_names_and_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

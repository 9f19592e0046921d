/* scram.c: SCRAM key derivation (RFC 5802 section 3, RFC 7677) with
 * OpenSSL. Only the derived keys leave this file; the salted password and
 * ClientKey are wiped once used. */
#include "xmpp/scram.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/log.h"
#include "core/util.h"

static const EVP_MD *
scram_md(enum scram_hash h)
{
	switch (h) {
	case SCRAM_SHA1:
		return EVP_sha1();
	case SCRAM_SHA256:
		return EVP_sha256();
	default:
		return NULL;
	}
}

size_t
scram_digest_len(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? 20 : 32;
}

const char *
scram_hash_name(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? "SHA-1" : "SHA-256";
}

int
scram_salted_password(enum scram_hash h, const char *password,
    const unsigned char *salt, size_t salt_len, unsigned iter,
    unsigned char *out)
{
	const EVP_MD *md = scram_md(h);

	if (md == NULL || iter == 0 || iter > (unsigned)INT_MAX ||
	    salt_len > 64)
		return -1;
	/* Hi() of RFC 5802 is PBKDF2 with HMAC-H and dkLen = the digest
	 * length */
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt,
		(int)salt_len, (int)iter, md, (int)scram_digest_len(h),
		out) != 1) {
		log_err("scram: PBKDF2 failed");
		return -1;
	}
	return 0;
}

static int
scram_hmac(const EVP_MD *md, const unsigned char *key, size_t keylen,
    const char *msg, unsigned char *out)
{
	unsigned int outlen = 0;

	if (HMAC(md, key, (int)keylen, (const unsigned char *)msg, strlen(msg),
		out, &outlen) == NULL)
		return -1;
	return 0;
}

int
scram_derive(enum scram_hash h, const char *password, const unsigned char *salt,
    size_t salt_len, unsigned iter, struct scram_keys *out)
{
	const EVP_MD *md = scram_md(h);
	unsigned char salted[SCRAM_MAX_DIGEST], client_key[SCRAM_MAX_DIGEST];
	size_t dlen = scram_digest_len(h);
	int ret = -1;

	if (md == NULL || salt_len > sizeof(out->salt))
		return -1;
	if (scram_salted_password(h, password, salt, salt_len, iter, salted) <
	    0)
		return -1;
	if (scram_hmac(md, salted, dlen, "Client Key", client_key) < 0 ||
	    scram_hmac(md, salted, dlen, "Server Key", out->server_key) < 0)
		goto out_wipe;
	if (EVP_Digest(client_key, dlen, out->stored_key, NULL, md, NULL) != 1)
		goto out_wipe;
	out->hash = h;
	out->iter = iter;
	memcpy(out->salt, salt, salt_len);
	out->salt_len = salt_len;
	ret = 0;
out_wipe:
	if (ret < 0)
		log_err("scram: key derivation failed");
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return ret;
}

int
scram_make(enum scram_hash h, const char *password, unsigned iter,
    struct scram_keys *out)
{
	unsigned char salt[SCRAM_SALT_LEN];

	rand_bytes(salt, sizeof(salt));
	return scram_derive(h, password, salt, sizeof(salt), iter, out);
}

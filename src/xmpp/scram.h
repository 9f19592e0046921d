/* scram.h: SCRAM salted-password keys (RFC 5802, RFC 7677). We store only
 * salt, iteration count, StoredKey and ServerKey per hash: never the
 * password, nothing reversible. */
#ifndef TERN_SCRAM_H
#define TERN_SCRAM_H

#include <stddef.h>

enum scram_hash { SCRAM_SHA1, SCRAM_SHA256, SCRAM_NHASH };

#define SCRAM_MAX_DIGEST 32
#define SCRAM_SALT_LEN 16
#define SCRAM_DEFAULT_ITER 4096

struct scram_keys {
	enum scram_hash hash;
	unsigned iter;
	unsigned char salt[64];
	size_t salt_len;
	unsigned char stored_key[SCRAM_MAX_DIGEST];
	unsigned char server_key[SCRAM_MAX_DIGEST];
};

size_t scram_digest_len(enum scram_hash h);	/* 20 or 32 */
const char *scram_hash_name(enum scram_hash h); /* "SHA-1", "SHA-256" */

/* Derive keys from a password (already SASLprep'd by the caller, or raw
 * UTF-8) with the given salt and iteration count:
 *   SaltedPassword = Hi(password, salt, i)
 *   ClientKey = HMAC(SaltedPassword, "Client Key")
 *   StoredKey = H(ClientKey); ServerKey = HMAC(SaltedPassword, "Server Key")
 * Returns 0, -1 on failure. */
int scram_derive(enum scram_hash h, const char *password,
    const unsigned char *salt, size_t salt_len, unsigned iter,
    struct scram_keys *out);
/* Same with a fresh random salt of SCRAM_SALT_LEN bytes. */
int scram_make(enum scram_hash h, const char *password, unsigned iter,
    struct scram_keys *out);
/* SaltedPassword only (for tests against RFC vectors). */
int scram_salted_password(enum scram_hash h, const char *password,
    const unsigned char *salt, size_t salt_len, unsigned iter,
    unsigned char *out);

#endif

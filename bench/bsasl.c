/* bsasl.c: SASL client side for tern-bench: SCRAM-SHA-1, SCRAM-SHA-256
 * (RFC 5802/7677, no channel binding) and PLAIN, on OpenSSL.
 *
 * PBKDF2 is the one expensive step of a SCRAM login and it depends only
 * on (password, salt, iterations): the keys derived from it are cached so
 * that a benchmark logging the same users in again measures the server,
 * not our own hashing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "bench.h"

const char *const bs_mech_names[] = {
	"SCRAM-SHA-1",
	"SCRAM-SHA-256",
	"PLAIN",
};

unsigned long bs_pbkdf2_runs;

struct keys {
	struct keys *next;
	char *id; /* mech|iterations|salt64|password */
	unsigned char client_key[64], stored_key[64], server_key[64];
};

#define CACHE_BUCKETS 4096
static struct keys *cache[CACHE_BUCKETS];

static const EVP_MD *
mech_md(enum bs_mech m)
{
	return m == MECH_SCRAM_SHA256 ? EVP_sha256() : EVP_sha1();
}

static void
b64_enc(const unsigned char *in, size_t n, struct bbuf *out)
{
	size_t need = 4 * ((n + 2) / 3) + 1;
	char *tmp = bx_malloc(need);
	int k = EVP_EncodeBlock((unsigned char *)tmp, in, (int)n);

	bb_append(out, tmp, (size_t)k);
	free(tmp);
}

/* Returns the decoded length or -1. out needs n*3/4+1 bytes. */
static int
b64_dec(const char *in, size_t n, unsigned char *out)
{
	int k, pad = 0;

	while (n > 0 && (in[n - 1] == '\n' || in[n - 1] == ' '))
		n--;
	if (n % 4 != 0)
		return -1;
	if (n == 0)
		return 0;
	if (in[n - 1] == '=')
		pad++;
	if (n > 1 && in[n - 2] == '=')
		pad++;
	k = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (k < 0)
		return -1;
	return k - pad;
}

static void
saslname(struct bbuf *b, const char *u)
{
	for (; *u != '\0'; u++) {
		if (*u == ',')
			bb_append(b, "=2C", 3);
		else if (*u == '=')
			bb_append(b, "=3D", 3);
		else
			bb_append(b, u, 1);
	}
}

int
bs_sasl_start(struct scram *s, enum bs_mech mech, const char *user,
    const char *password, struct bbuf *out)
{
	struct bbuf raw = { 0 };
	unsigned char rnd[12]; /* 24 hex digits: some servers cap nonces */
	static const char hex[] = "0123456789abcdef";

	memset(s, 0, sizeof(*s));
	s->mech = mech;
	if (mech == MECH_PLAIN) {
		bb_append(&raw, "", 1);
		bb_append(&raw, user, strlen(user));
		bb_append(&raw, "", 1);
		bb_append(&raw, password, strlen(password));
		b64_enc((unsigned char *)raw.p, raw.len, out);
		bb_free(&raw);
		return 0;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	for (size_t i = 0; i < sizeof(rnd); i++) {
		s->cnonce[2 * i] = hex[rnd[i] >> 4];
		s->cnonce[2 * i + 1] = hex[rnd[i] & 15];
	}
	s->cnonce[2 * sizeof(rnd)] = '\0';
	bb_append(&raw, "n=", 2);
	saslname(&raw, user);
	bb_printf(&raw, ",r=%s", s->cnonce);
	s->first_bare = bx_strdup(raw.p);
	bb_free(&raw);
	bb_printf(&raw, "n,,%s", s->first_bare);
	b64_enc((unsigned char *)raw.p, raw.len, out);
	bb_free(&raw);
	return 0;
}

static struct keys *
derive(enum bs_mech mech, const char *password, const char *salt64,
    unsigned long iter)
{
	const EVP_MD *md = mech_md(mech);
	unsigned mdlen = (unsigned)EVP_MD_get_size(md);
	unsigned char salted[64], salt[512];
	struct bbuf id = { 0 };
	struct keys *k;
	uint32_t h = 2166136261u;
	unsigned outl;
	int saltlen;

	bb_printf(&id, "%d|%lu|%s|%s", (int)mech, iter, salt64, password);
	for (size_t i = 0; i < id.len; i++)
		h = (h ^ (unsigned char)id.p[i]) * 16777619u;
	h %= CACHE_BUCKETS;
	for (k = cache[h]; k != NULL; k = k->next) {
		if (strcmp(k->id, id.p) == 0) {
			bb_free(&id);
			return k;
		}
	}
	if (strlen(salt64) > 600)
		goto out_bad;
	saltlen = b64_dec(salt64, strlen(salt64), salt);
	if (saltlen < 0)
		goto out_bad;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, saltlen,
	    (int)iter, md, (int)mdlen, salted) != 1)
		goto out_bad;
	bs_pbkdf2_runs++;
	k = bx_calloc(1, sizeof(*k));
	k->id = id.p;
	HMAC(md, salted, (int)mdlen, (const unsigned char *)"Client Key", 10,
	    k->client_key, &outl);
	EVP_Digest(k->client_key, mdlen, k->stored_key, &outl, md, NULL);
	HMAC(md, salted, (int)mdlen, (const unsigned char *)"Server Key", 10,
	    k->server_key, &outl);
	k->next = cache[h];
	cache[h] = k;
	return k;
out_bad:
	bb_free(&id);
	return NULL;
}

/* Value of attribute c= in a SCRAM message "a=..,b=..": copied to out. */
static int
scram_attr(const char *msg, char c, char *out, size_t outsz)
{
	const char *p = msg;

	while (p != NULL && *p != '\0') {
		if (p[0] == c && p[1] == '=') {
			const char *end = strchr(p, ',');
			size_t n = end ? (size_t)(end - p - 2) : strlen(p + 2);

			if (n + 1 > outsz)
				return -1;
			memcpy(out, p + 2, n);
			out[n] = '\0';
			return 0;
		}
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	return -1;
}

int
bs_sasl_step(struct scram *s, const char *password, const char *chal64,
    struct bbuf *out, const char **err)
{
	const EVP_MD *md = mech_md(s->mech);
	unsigned mdlen = (unsigned)EVP_MD_get_size(md);
	size_t clen = strlen(chal64);
	unsigned char *chal, sig[64], proof[64];
	char nonce[256], salt[700], iter[16];
	struct bbuf fin = { 0 }, am = { 0 };
	struct keys *k;
	unsigned outl;
	unsigned long it;
	int n, rc = -1;

	*err = "bad challenge";
	if (s->mech == MECH_PLAIN || s->first_bare == NULL || clen > 4000)
		return -1;
	chal = bx_malloc(clen * 3 / 4 + 2);
	n = b64_dec(chal64, clen, chal);
	if (n < 0)
		goto out_chal;
	chal[n] = '\0';
	if (scram_attr((char *)chal, 'r', nonce, sizeof(nonce)) < 0 ||
	    scram_attr((char *)chal, 's', salt, sizeof(salt)) < 0 ||
	    scram_attr((char *)chal, 'i', iter, sizeof(iter)) < 0)
		goto out_chal;
	if (strncmp(nonce, s->cnonce, strlen(s->cnonce)) != 0) {
		*err = "server nonce does not extend ours";
		goto out_chal;
	}
	it = strtoul(iter, NULL, 10);
	if (it == 0 || it > 10000000) {
		*err = "bad iteration count";
		goto out_chal;
	}
	k = derive(s->mech, password, salt, it);
	if (k == NULL)
		goto out_chal;
	bb_printf(&fin, "c=biws,r=%s", nonce);
	bb_printf(&am, "%s,%s,%s", s->first_bare, (char *)chal, fin.p);
	HMAC(md, k->stored_key, (int)mdlen, (unsigned char *)am.p, am.len,
	    sig, &outl);
	for (unsigned i = 0; i < mdlen; i++)
		proof[i] = k->client_key[i] ^ sig[i];
	HMAC(md, k->server_key, (int)mdlen, (unsigned char *)am.p, am.len,
	    s->server_sig, &s->server_sig_len);
	bb_append(&fin, ",p=", 3);
	b64_enc(proof, mdlen, &fin);
	b64_enc((unsigned char *)fin.p, fin.len, out);
	rc = 0;
	*err = NULL;
	bb_free(&fin);
	bb_free(&am);
out_chal:
	free(chal);
	return rc;
}

int
bs_sasl_verify(struct scram *s, const char *data64)
{
	size_t n = strlen(data64);
	unsigned char *raw, sig[128];
	char v[128];
	int k, rc = -1;

	if (s->mech == MECH_PLAIN)
		return 0;
	if (n == 0 || n > 1000 || s->server_sig_len == 0)
		return -1;
	raw = bx_malloc(n * 3 / 4 + 2);
	k = b64_dec(data64, n, raw);
	if (k < 0)
		goto out_raw;
	raw[k] = '\0';
	if (scram_attr((char *)raw, 'v', v, sizeof(v)) < 0)
		goto out_raw;
	k = b64_dec(v, strlen(v), sig);
	if (k == (int)s->server_sig_len &&
	    memcmp(sig, s->server_sig, (size_t)k) == 0)
		rc = 0;
out_raw:
	free(raw);
	return rc;
}

void
bs_sasl_cleanup(struct scram *s)
{
	free(s->first_bare);
	s->first_bare = NULL;
}

/* ---- XEP-0484 FAST tokens, one per user ---- */
static char **fast_tokens;
static unsigned fast_ntokens;

const char *
bs_fast_token(unsigned user)
{
	return user < fast_ntokens ? fast_tokens[user] : NULL;
}

void
bs_fast_set_token(unsigned user, const char *token)
{
	if (user >= fast_ntokens) {
		unsigned n = user + 64;

		fast_tokens = bx_realloc(fast_tokens, n * sizeof(*fast_tokens));
		memset(fast_tokens + fast_ntokens, 0,
		    (n - fast_ntokens) * sizeof(*fast_tokens));
		fast_ntokens = n;
	}
	free(fast_tokens[user]);
	fast_tokens[user] = bx_strdup(token);
}

/* HT-SHA-256-NONE: authcid NUL HMAC-SHA-256(token, "Initiator") */
void
bs_fast_initial(const char *user, const char *token, struct bbuf *out)
{
	unsigned char raw[256 + 32];
	unsigned int mlen = 32;
	size_t ul = strlen(user);

	if (ul > 256)
		ul = 256;
	memcpy(raw, user, ul);
	raw[ul] = '\0';
	HMAC(EVP_sha256(), token, (int)strlen(token),
	    (const unsigned char *)"Initiator", 9, raw + ul + 1, &mlen);
	b64_enc(raw, ul + 1 + mlen, out);
}

/* sasl.c: SCRAM (RFC 5802, RFC 7677) and PLAIN (RFC 4616) servers. */
#include "xmpp/sasl.h"

#include <gsasl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "jid/jid.h"
#include "net/tls.h"
#include "xmpp/account.h"
#include "xmpp/scram.h"

#define NONCE_LEN 24   /* ours */
#define CNONCE_MAX 256 /* the client's */
#define MSG_MAX 4096

enum mech { M_PLAIN, M_SCRAM };

struct sasl {
	enum mech mech;
	const char *name;
	enum scram_hash hash;
	int plus;
	int step;
	SSL *ssl;
	char *host;
	char user[JID_PART_MAX + 1];
	int known; /* the account exists */
	struct scram_keys keys;
	char *gs2_header; /* as sent, e.g. "p=tls-exporter,," */
	char *cb_name;
	int cb_refused; /* failed on the binding choice, before any proof */
	char *client_first_bare;
	char *server_first;
	char nonce[CNONCE_MAX + NONCE_LEN + 1]; /* client + server */
};

static const char *const mechs[] = { "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
	"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", NULL };

/* A secret for deriving the salt shown for unknown users, so a probe
 * cannot tell them from real ones by a changing salt. */
static unsigned char fake_secret[32];
static int fake_ready;

const char *const *
sasl_mechs(void)
{
	return mechs;
}

int
sasl_mech_available(const char *mech, SSL *ssl)
{
	return sasl_mech_offered(mech, ssl, ssl != NULL);
}

int
sasl_mech_offered(const char *mech, SSL *ssl, int secure)
{
	size_t i;

	for (i = 0; mechs[i]; i++)
		if (strcmp(mechs[i], mech) == 0)
			break;
	if (mechs[i] == NULL)
		return 0;
	/* PLAIN needs an encrypted stream, -PLUS a TLS session to bind */
	if (strcmp(mech, "PLAIN") == 0)
		return secure;
	if (strstr(mech, "-PLUS"))
		return ssl != NULL;
	return 1;
}

struct sasl *
sasl_new(const char *mech, const char *host, SSL *ssl)
{
	return sasl_new_secure(mech, host, ssl, ssl != NULL);
}

struct sasl *
sasl_new_secure(const char *mech, const char *host, SSL *ssl, int secure)
{
	struct sasl *s;

	if (!sasl_mech_offered(mech, ssl, secure))
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->ssl = ssl;
	s->host = xstrdup(host);
	if (strcmp(mech, "PLAIN") == 0) {
		s->mech = M_PLAIN;
		s->name = "PLAIN";
	} else {
		s->mech = M_SCRAM;
		s->hash = strncmp(mech, "SCRAM-SHA-256", 13) == 0 ? SCRAM_SHA256
								  : SCRAM_SHA1;
		s->plus = strstr(mech, "-PLUS") != NULL;
		s->name = s->hash == SCRAM_SHA256
			      ? (s->plus ? mechs[0] : mechs[2])
			      : (s->plus ? mechs[1] : mechs[3]);
	}
	return s;
}

void
sasl_free(struct sasl *s)
{
	if (s == NULL)
		return;
	free(s->host);
	free(s->gs2_header);
	free(s->cb_name);
	free(s->client_first_bare);
	free(s->server_first);
	OPENSSL_cleanse(&s->keys, sizeof(s->keys));
	free(s);
}

const char *
sasl_user(const struct sasl *s)
{
	return s->user;
}

int
sasl_cb_refused(const struct sasl *s)
{
	return s->cb_refused;
}

const char *
sasl_mech(const struct sasl *s)
{
	return s->name;
}

/* The local part from a SASL authcid: SASLprep, then nodeprep (so it
 * names exactly one account). */
int
sasl_prep_user(const char *in, char *out, size_t outlen)
{
	char *prepped = NULL;
	int rc;

	if (gsasl_saslprep(in, GSASL_ALLOW_UNASSIGNED, &prepped, &rc) !=
	    GSASL_OK)
		return -1;
	rc = jid_nodeprep(prepped, out, outlen);
	free(prepped);
	return rc;
}

/* RFC 6120 §6.5.1: a disabled account fails with <account-disabled/>,
 * told only to whoever proved the password (a guesser learns nothing).
 * 0 enabled, 2 refused (*cond set), -1 error (*cond set). */
static int
refuse_disabled(const struct sasl *s, const char **cond)
{
	int rc = account_is_disabled(s->host, s->user);

	if (rc == 0)
		return 0;
	*cond = rc > 0 ? "account-disabled" : "temporary-auth-failure";
	return rc > 0 ? 2 : -1;
}

/* PLAIN: [authzid] NUL authcid NUL passwd */
static enum sasl_res
plain_step(
    struct sasl *s, const unsigned char *in, size_t inlen, const char **cond)
{
	const char *p = (const char *)in, *authzid, *authcid, *pass;
	const char *nul1, *nul2;
	char zbuf[2 * JID_PART_MAX + 2];
	enum sasl_res res = SASL_FAILURE;
	int rc;

	*cond = "malformed-request";
	if (inlen == 0 || inlen > MSG_MAX || memchr(in, '\0', inlen) == NULL)
		return SASL_FAILURE;
	nul1 = memchr(p, '\0', inlen);
	nul2 = memchr(nul1 + 1, '\0', inlen - (size_t)(nul1 + 1 - p));
	if (nul2 == NULL ||
	    memchr(nul2 + 1, '\0', inlen - (size_t)(nul2 + 1 - p)) != NULL)
		return SASL_FAILURE;
	authzid = p;
	authcid = nul1 + 1;
	{
		/* the password is not NUL-terminated in the message */
		size_t plen = inlen - (size_t)(nul2 + 1 - p);
		char *pw = xstrndup(nul2 + 1, plen);

		pass = pw;
		if (*authcid == '\0' || plen == 0 ||
		    sasl_prep_user(authcid, s->user, sizeof(s->user)) != 0) {
			*cond = "not-authorized";
			goto out;
		}
		if (*authzid) {
			snprintf(zbuf, sizeof(zbuf), "%s@%s", s->user, s->host);
			if (strcmp(authzid, zbuf) != 0) {
				*cond = "invalid-authzid";
				goto out;
			}
		}
		rc = account_check_password(s->host, s->user, pass);
		if (rc == 0)
			rc = refuse_disabled(s, cond);
		if (rc == 0) {
			res = SASL_SUCCESS;
		} else if (rc != 2) {
			*cond = rc < 0 ? "temporary-auth-failure"
				       : "not-authorized";
		}
	out:
		OPENSSL_cleanse(pw, plen);
		free(pw);
	}
	return res;
}

/* The digests fetched once: OpenSSL 3 looks a digest up by name at
 * every use of EVP_sha1()/EVP_sha256() and HMAC(), which perf showed as
 * ~5% of a login's CPU. Kept for the process's life. */
static const EVP_MD *
md_of(enum scram_hash h)
{
	static EVP_MD *fetched[2];
	int i = h == SCRAM_SHA256;

	if (fetched[i] == NULL)
		fetched[i] = EVP_MD_fetch(NULL, i ? "SHA256" : "SHA1", NULL);
	if (fetched[i] == NULL)
		return i ? EVP_sha256() : EVP_sha1();
	return fetched[i];
}

#define HMAC_BLOCK_MAX 128

/* HMAC (RFC 2104) over a fetched digest: H(K^opad || H(K^ipad || m)). */
static void
hmac(enum scram_hash h, const unsigned char *key, size_t klen, const char *msg,
    size_t mlen, unsigned char *out)
{
	const EVP_MD *md = md_of(h);
	unsigned char k[HMAC_BLOCK_MAX], pad[HMAC_BLOCK_MAX];
	unsigned char inner[EVP_MAX_MD_SIZE];
	int bsize = EVP_MD_get_block_size(md), dlen = EVP_MD_get_size(md);
	size_t bs = bsize > 0 ? (size_t)bsize : 0, i;
	unsigned int n = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;

	if (c == NULL || bs == 0 || bs > sizeof(k) || dlen <= 0) {
		EVP_MD_CTX_free(c);
		HMAC(md, key, (int)klen, (const unsigned char *)msg, mlen, out,
		    &n);
		return;
	}
	memset(k, 0, sizeof(k));
	if (klen > bs)
		ok = EVP_Digest(key, klen, k, &n, md, NULL);
	else
		ok = (memcpy(k, key, klen), 1);
	for (i = 0; i < bs; i++)
		pad[i] = k[i] ^ 0x36;
	ok = ok && EVP_DigestInit_ex(c, md, NULL) &&
	     EVP_DigestUpdate(c, pad, bs) && EVP_DigestUpdate(c, msg, mlen) &&
	     EVP_DigestFinal_ex(c, inner, &n);
	for (i = 0; i < bs; i++)
		pad[i] = k[i] ^ 0x5c;
	ok = ok && EVP_DigestInit_ex(c, md, NULL) &&
	     EVP_DigestUpdate(c, pad, bs) &&
	     EVP_DigestUpdate(c, inner, (size_t)dlen) &&
	     EVP_DigestFinal_ex(c, out, &n);
	if (!ok) {
		/* never expected: the one-shot does the same */
		HMAC(md, key, (int)klen, (const unsigned char *)msg, mlen, out,
		    &n);
	}
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	EVP_MD_CTX_free(c);
}

/* Decode a SCRAM saslname (=2C -> ',', =3D -> '='); -1 if malformed. */
static int
saslname_decode(const char *in, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char c = in[i];

		if (o + 1 >= outlen || c == ',')
			return -1;
		if (c == '=') {
			if (n - i < 3)
				return -1;
			if (in[i + 1] == '2' && in[i + 2] == 'C')
				c = ',';
			else if (in[i + 1] == '3' && in[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

static int
printable_nonce(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return 0;
	return 1;
}

static enum sasl_res
scram_first(struct sasl *s, const char *msg, size_t len, struct sbuf *out,
    const char **cond)
{
	const char *p = msg, *end = msg + len, *comma, *bare, *r;
	char authzid[2 * JID_PART_MAX + 2] = "";
	char name[JID_PART_MAX * 3 + 1], snonce[NONCE_LEN + 1];
	char salt64[128];
	int rc;

	*cond = "malformed-request";
	/* gs2-cbind-flag */
	if (len < 3)
		return SASL_FAILURE;
	if (p[0] == 'p' && p[1] == '=') {
		comma = memchr(p, ',', len);
		if (comma == NULL)
			return SASL_FAILURE;
		s->cb_name = xstrndup(p + 2, (size_t)(comma - p - 2));
		if (!s->plus)
			return SASL_FAILURE; /* binding with a non-PLUS mech */
		if (strcmp(s->cb_name, "tls-exporter") != 0 &&
		    strcmp(s->cb_name, "tls-server-end-point") != 0 &&
		    strcmp(s->cb_name, "tls-unique") != 0) {
			*cond = "malformed-request";
			return SASL_FAILURE;
		}
		if (strcmp(s->cb_name, "tls-exporter") == 0 &&
		    !tls_is_13(s->ssl)) {
			/* RFC 9266: tls-exporter only on TLS 1.3 */
			s->cb_refused = 1;
			return SASL_FAILURE;
		}
		if (strcmp(s->cb_name, "tls-unique") == 0 &&
		    tls_is_13(s->ssl)) {
			/* RFC 9266 §3: tls-unique is undefined on TLS 1.3
			 * (its Finished message does not identify the
			 * connection once resumption is possible); a
			 * binding that proves nothing must not pass */
			s->cb_refused = 1;
			return SASL_FAILURE;
		}
		p = comma + 1;
	} else if ((p[0] == 'n' || p[0] == 'y') && p[1] == ',') {
		if (s->plus)
			return SASL_FAILURE; /* -PLUS without binding */
		/* 'y': the client thinks we lack channel binding, but we
		 * offer -PLUS on TLS: a downgrade (RFC 5802 §6) */
		if (p[0] == 'y' && s->ssl) {
			*cond = "not-authorized";
			s->cb_refused = 1;
			return SASL_FAILURE;
		}
		p += 2;
	} else {
		return SASL_FAILURE;
	}
	/* [a=authzid], */
	comma = memchr(p, ',', (size_t)(end - p));
	if (comma == NULL)
		return SASL_FAILURE;
	if (comma > p) {
		if (p[0] != 'a' || p[1] != '=' ||
		    saslname_decode(p + 2, (size_t)(comma - p - 2), authzid,
			sizeof(authzid)) != 0)
			return SASL_FAILURE;
	}
	p = comma + 1;
	s->gs2_header = xstrndup(msg, (size_t)(p - msg));
	bare = p;
	s->client_first_bare = xstrndup(bare, (size_t)(end - bare));
	/* n=user,r=nonce[,extensions] ("m=" extensions are mandatory ones
	 * we do not know: RFC 5802 says fail) */
	if (end - p < 2 || p[0] != 'n' || p[1] != '=')
		return SASL_FAILURE;
	comma = memchr(p, ',', (size_t)(end - p));
	if (comma == NULL || saslname_decode(p + 2, (size_t)(comma - p - 2),
				 name, sizeof(name)) != 0)
		return SASL_FAILURE;
	r = comma + 1;
	if (end - r < 2 || r[0] != 'r' || r[1] != '=')
		return SASL_FAILURE;
	r += 2;
	comma = memchr(r, ',', (size_t)(end - r));
	if (comma && comma + 1 < end && comma[1] == 'm')
		return SASL_FAILURE;
	if (!printable_nonce(r, (size_t)((comma ? comma : end) - r)) ||
	    (size_t)((comma ? comma : end) - r) > CNONCE_MAX)
		return SASL_FAILURE;
	if (name[0] == '\0' ||
	    sasl_prep_user(name, s->user, sizeof(s->user)) != 0) {
		/* cannot name an account: fail like an unknown user would,
		 * at the end */
		snprintf(s->user, sizeof(s->user), "%s", "");
	}
	if (authzid[0]) {
		char self[2 * JID_PART_MAX + 2];

		snprintf(self, sizeof(self), "%s@%s", s->user, s->host);
		if (strcmp(authzid, self) != 0) {
			*cond = "invalid-authzid";
			return SASL_FAILURE;
		}
	}
	rc = s->user[0] ? account_get_keys(s->host, s->user, s->hash, &s->keys)
			: 1;
	if (rc < 0) {
		*cond = "temporary-auth-failure";
		return SASL_FAILURE;
	}
	s->known = rc == 0;
	if (!s->known) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		char key[JID_PART_MAX * 4 + 8];

		if (!fake_ready) {
			rand_bytes(fake_secret, sizeof(fake_secret));
			fake_ready = 1;
		}
		snprintf(key, sizeof(key), "%s@%s", name, s->host);
		hmac(SCRAM_SHA256, fake_secret, sizeof(fake_secret), key,
		    strlen(key), mac);
		memset(&s->keys, 0, sizeof(s->keys));
		memcpy(s->keys.salt, mac, SCRAM_SALT_LEN);
		s->keys.salt_len = SCRAM_SALT_LEN;
		s->keys.iter = SCRAM_DEFAULT_ITER;
		s->keys.hash = s->hash;
	}
	rand_id(snonce, sizeof(snonce));
	snprintf(s->nonce, sizeof(s->nonce), "%.*s%s",
	    (int)((comma ? comma : end) - r), r, snonce);
	b64_encode(s->keys.salt, s->keys.salt_len, salt64);
	sbuf_printf(out, "r=%s,s=%s,i=%u", s->nonce, salt64, s->keys.iter);
	s->server_first = xstrndup(out->data, out->len);
	return SASL_CHALLENGE;
}

static enum sasl_res
scram_final(struct sasl *s, const char *msg, size_t len, struct sbuf *out,
    const char **cond)
{
	const char *end = msg + len, *p, *proof64;
	unsigned char cbdata[EVP_MAX_MD_SIZE + 64], expect_c[512];
	unsigned char proof[SCRAM_MAX_DIGEST], sig[SCRAM_MAX_DIGEST];
	unsigned char ckey[SCRAM_MAX_DIGEST], skey[SCRAM_MAX_DIGEST];
	unsigned char ssig[SCRAM_MAX_DIGEST];
	char c64[700], v64[64];
	size_t dlen = scram_digest_len(s->hash), gl, cblen = 0, plen, i;
	struct sbuf am;
	unsigned int n;
	int ok;

	*cond = "malformed-request";
	/* c=...,r=...[,ext],p=... ; p must come last */
	if (len < 4 || strncmp(msg, "c=", 2) != 0)
		return SASL_FAILURE;
	p = NULL;
	for (proof64 = end - 1; proof64 > msg; proof64--)
		if (*proof64 == ',') {
			p = proof64;
			break;
		}
	if (p == NULL || end - p < 3 || p[1] != 'p' || p[2] != '=')
		return SASL_FAILURE;
	proof64 = p + 3;
	/* expected channel binding: gs2 header + binding data */
	gl = strlen(s->gs2_header);
	if (gl > 256)
		return SASL_FAILURE;
	memcpy(expect_c, s->gs2_header, gl);
	if (s->cb_name) {
		int r;

		if (strcmp(s->cb_name, "tls-exporter") == 0)
			r = tls_cb_exporter(s->ssl, cbdata, sizeof(cbdata));
		else if (strcmp(s->cb_name, "tls-unique") == 0)
			r = tls_cb_unique(s->ssl, cbdata, sizeof(cbdata));
		else
			r = tls_cb_server_end_point(
			    s->ssl, cbdata, sizeof(cbdata));

		if (r < 0) {
			*cond = "temporary-auth-failure";
			return SASL_FAILURE;
		}
		cblen = (size_t)r;
		memcpy(expect_c + gl, cbdata, cblen);
	}
	b64_encode(expect_c, gl + cblen, c64);
	{
		const char *comma = memchr(msg, ',', (size_t)(end - msg));

		if (comma == NULL || (size_t)(comma - msg - 2) != strlen(c64) ||
		    memcmp(msg + 2, c64, strlen(c64)) != 0) {
			/* wrong binding: an attacker in the middle, or a
			 * client bug; either way no access */
			*cond = "not-authorized";
			return SASL_FAILURE;
		}
		if (end - comma < 3 || comma[1] != 'r' || comma[2] != '=' ||
		    (size_t)(p - (comma + 3)) < strlen(s->nonce) ||
		    strncmp(comma + 3, s->nonce, strlen(s->nonce)) != 0 ||
		    comma[3 + strlen(s->nonce)] != ',')
			return SASL_FAILURE;
	}
	plen = (size_t)(end - proof64);
	if (plen != 4 * ((dlen + 2) / 3) ||
	    b64_decode(proof64, plen, proof, &i) != 0 || i != dlen)
		return SASL_FAILURE;
	/* AuthMessage = client-first-bare "," server-first ","
	 *               client-final-without-proof */
	sbuf_init(&am);
	sbuf_puts(&am, s->client_first_bare);
	sbuf_putc(&am, ',');
	sbuf_puts(&am, s->server_first);
	sbuf_putc(&am, ',');
	sbuf_append(&am, msg, (size_t)(p - msg));
	hmac(s->hash, s->keys.stored_key, dlen, am.data, am.len, sig);
	for (i = 0; i < dlen; i++)
		ckey[i] = proof[i] ^ sig[i];
	EVP_Digest(ckey, dlen, skey, &n, md_of(s->hash), NULL);
	ok = ct_memeq(skey, s->keys.stored_key, dlen) && s->known;
	if (!ok) {
		sbuf_cleanup(&am);
		*cond = "not-authorized";
		return SASL_FAILURE;
	}
	if (refuse_disabled(s, cond) != 0) {
		sbuf_cleanup(&am);
		return SASL_FAILURE;
	}
	hmac(s->hash, s->keys.server_key, dlen, am.data, am.len, ssig);
	sbuf_cleanup(&am);
	b64_encode(ssig, dlen, v64);
	sbuf_printf(out, "v=%s", v64);
	return SASL_SUCCESS;
}

enum sasl_res
sasl_step(struct sasl *s, const unsigned char *in, size_t inlen,
    struct sbuf *out, const char **condition)
{
	enum sasl_res r;

	*condition = "malformed-request";
	if (inlen > MSG_MAX || memchr(in, '\0', inlen) != NULL) {
		if (s->mech != M_PLAIN)
			return SASL_FAILURE;
	}
	if (s->mech == M_PLAIN) {
		if (s->step++ > 0)
			return SASL_FAILURE;
		return plain_step(s, in, inlen, condition);
	}
	switch (s->step++) {
	case 0:
		return scram_first(s, (const char *)in, inlen, out, condition);
	case 1:
		r = scram_final(s, (const char *)in, inlen, out, condition);
		return r;
	default:
		return SASL_FAILURE;
	}
}

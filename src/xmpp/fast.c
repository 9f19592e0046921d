/* fast.c: XEP-0484 tokens and the HT-SHA-256 mechanisms. A document per
 * account in keyval store "fast", one line per user agent:
 *   <uaid> <expiry> <count> <keyfp> <token> <previous token or ->
 * keyfp is a digest of the account's SCRAM-SHA-256 StoredKey when the
 * token was issued: a password change makes every token stale without
 * the account code knowing about tokens. */
#include "xmpp/fast.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/host.h"
#include "core/util.h"
#include "jid/jid.h"
#include "net/tls.h"
#include "store/store.h"
#include "xmpp/account.h"
#include "xmpp/sasl.h"

#define FAST_STORE "fast"
#define KEYFP_B64 24 /* 16 bytes */

struct fast_tok {
	char uaid[FAST_UAID_MAX + 1];
	long long expiry;
	long long count;
	char keyfp[KEYFP_B64 + 1];
	char token[FAST_TOKEN_B64 + 1];
	char prev[FAST_TOKEN_B64 + 1];
};

struct fast_doc {
	struct fast_tok *v;
	size_t n;
};

size_t
fast_mechs(SSL *ssl, const char *out[4])
{
	size_t n = 0;

	if (ssl) {
		out[n++] = "HT-SHA-256-ENDP";
		out[n++] =
		    tls_is_13(ssl) ? "HT-SHA-256-EXPR" : "HT-SHA-256-UNIQ";
	}
	out[n++] = "HT-SHA-256-NONE";
	out[n] = NULL;
	return n;
}

int
fast_mech_offered(const char *mech, SSL *ssl)
{
	const char *m[4];
	size_t i, n = fast_mechs(ssl, m);

	for (i = 0; i < n; i++)
		if (strcmp(m[i], mech) == 0)
			return 1;
	return 0;
}

int
fast_uaid_ok(const char *uaid)
{
	size_t i, n = strlen(uaid);

	if (n == 0 || n > FAST_UAID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (uaid[i] <= ' ' || uaid[i] == 0x7f)
			return 0;
	return 1;
}

static void
doc_free(struct fast_doc *d)
{
	if (d->v)
		OPENSSL_cleanse(d->v, d->n * sizeof(*d->v));
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

/* 0 loaded (maybe empty), -1 store error. Bad lines are skipped. */
static int
doc_load(const char *host, const char *user, struct fast_doc *d)
{
	char *val = NULL, *line, *save = NULL;
	size_t len;
	int rc;

	d->v = NULL;
	d->n = 0;
	rc = store_kv_get(host, user, FAST_STORE, &val, &len);
	if (rc < 0)
		return -1;
	if (rc > 0 || val == NULL)
		return 0;
	for (line = strtok_r(val, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct fast_tok t = { 0 };

		if (sscanf(line, "%128s %lld %lld %24s %44s %44s", t.uaid,
			&t.expiry, &t.count, t.keyfp, t.token, t.prev) != 6)
			continue;
		d->v = xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
		d->v[d->n++] = t;
	}
	OPENSSL_cleanse(val, len);
	free(val);
	return 0;
}

static int
doc_save(const char *host, const char *user, const struct fast_doc *d)
{
	struct sbuf b;
	size_t i;
	int rc;

	if (d->n == 0)
		return store_kv_del(host, user, FAST_STORE) < 0 ? -1 : 0;
	sbuf_init(&b);
	for (i = 0; i < d->n; i++)
		sbuf_printf(&b, "%s %lld %lld %s %s %s\n", d->v[i].uaid,
		    d->v[i].expiry, d->v[i].count, d->v[i].keyfp, d->v[i].token,
		    d->v[i].prev);
	rc = store_kv_set(host, user, FAST_STORE, b.data, b.len);
	OPENSSL_cleanse(b.data, b.len);
	sbuf_cleanup(&b);
	return rc < 0 ? -1 : 0;
}

/* The fingerprint of the account's current password. 0, 1 no such
 * account, -1 error. */
static int
key_fp(const char *host, const char *user, char out[KEYFP_B64 + 1])
{
	struct scram_keys k;
	unsigned char d[32];
	int rc = account_get_keys(host, user, SCRAM_SHA256, &k);

	if (rc != 0)
		return rc;
	SHA256(k.stored_key, scram_digest_len(SCRAM_SHA256), d);
	OPENSSL_cleanse(&k, sizeof(k));
	b64_encode(d, 16, out);
	return 0;
}

static void
doc_remove(struct fast_doc *d, size_t i)
{
	memmove(&d->v[i], &d->v[i + 1], (d->n - i - 1) * sizeof(*d->v));
	d->n--;
}

int
fast_issue(const char *host, const char *user, const char *uaid, char *token,
    int64_t *expiry)
{
	const struct cfg_limits *cl = &config_running->limits;
	struct fast_doc d;
	struct fast_tok *t = NULL;
	unsigned char raw[32];
	char fp[KEYFP_B64 + 1];
	int64_t now = now_unix();
	size_t i, oldest = 0;
	int rc;

	if (!fast_uaid_ok(uaid) || key_fp(host, user, fp) != 0 ||
	    doc_load(host, user, &d) != 0)
		return -1;
	/* expired tokens go first; then this agent's entry is reused */
	for (i = d.n; i-- > 0;)
		if (d.v[i].expiry <= now)
			doc_remove(&d, i);
	for (i = 0; i < d.n; i++) {
		if (strcmp(d.v[i].uaid, uaid) == 0)
			t = &d.v[i];
		if (d.v[i].expiry < d.v[oldest].expiry)
			oldest = i;
	}
	if (t == NULL) {
		/* the cap: the agent whose token ends soonest gives way */
		if (d.n >= (size_t)cl->fast_tokens_per_account)
			doc_remove(&d, oldest);
		d.v = xrealloc(d.v, (d.n + 1) * sizeof(*d.v));
		t = &d.v[d.n++];
		memset(t, 0, sizeof(*t));
		snprintf(t->uaid, sizeof(t->uaid), "%s", uaid);
		snprintf(t->prev, sizeof(t->prev), "-");
	} else if (strcmp(t->keyfp, fp) == 0) {
		/* rotation: the client may not have seen the new token yet;
		 * the one it holds stays good until the new one is used */
		memcpy(t->prev, t->token, sizeof(t->prev));
	} else {
		snprintf(t->prev, sizeof(t->prev), "-");
	}
	rand_bytes(raw, sizeof(raw));
	b64_encode(raw, sizeof(raw), t->token);
	OPENSSL_cleanse(raw, sizeof(raw));
	memcpy(t->keyfp, fp, sizeof(t->keyfp));
	t->expiry = now + cl->fast_token_lifetime;
	t->count = -1;
	memcpy(token, t->token, FAST_TOKEN_B64 + 1);
	*expiry = t->expiry;
	rc = doc_save(host, user, &d);
	doc_free(&d);
	return rc;
}

/* HMAC-SHA-256(token, label || cb) */
static void
ht_hmac(const char *token, const char *label, const unsigned char *cb,
    size_t cblen, unsigned char out[32])
{
	unsigned char msg[9 + 64];
	size_t ll = strlen(label);
	unsigned int olen = 32;

	memcpy(msg, label, ll);
	memcpy(msg + ll, cb, cblen);
	HMAC(EVP_sha256(), token, (int)strlen(token), msg, ll + cblen, out,
	    &olen);
}

/* The channel binding the mechanism names: its length or -1. */
static int
cb_data(const char *mech, SSL *ssl, unsigned char *out, size_t outlen)
{
	if (strcmp(mech, "HT-SHA-256-NONE") == 0)
		return 0;
	if (ssl == NULL)
		return -1;
	if (strcmp(mech, "HT-SHA-256-ENDP") == 0)
		return tls_cb_server_end_point(ssl, out, outlen);
	if (strcmp(mech, "HT-SHA-256-EXPR") == 0)
		return tls_cb_exporter(ssl, out, outlen);
	if (strcmp(mech, "HT-SHA-256-UNIQ") == 0)
		return tls_cb_unique(ssl, out, outlen);
	return -1;
}

int
fast_login(const struct fast_login *l, const unsigned char *in, size_t len,
    char *user, unsigned char final[32], const char **cond)
{
	const unsigned char *nul = memchr(in, '\0', len);
	char authcid[3 * JID_PART_MAX + 1], fp[KEYFP_B64 + 1];
	unsigned char cb[64], want[32];
	struct fast_doc d;
	struct fast_tok *t = NULL;
	const char *used = NULL;
	size_t i;
	int cbl, dirty = 0, rc = -1;

	*cond = "not-authorized";
	if (nul == NULL || (size_t)(nul - in) >= sizeof(authcid) ||
	    len - (size_t)(nul - in) - 1 != 32) {
		*cond = "malformed-request";
		return -1;
	}
	memcpy(authcid, in, (size_t)(nul - in));
	authcid[nul - in] = '\0';
	if (sasl_prep_user(authcid, user, JID_PART_MAX + 1) != 0 ||
	    l->uaid == NULL)
		return -1;
	cbl = cb_data(l->mech, l->ssl, cb, sizeof(cb));
	if (cbl < 0) {
		*cond = "temporary-auth-failure";
		return -1;
	}
	rc = key_fp(l->host, user, fp);
	if (rc != 0) {
		if (rc < 0)
			*cond = "temporary-auth-failure";
		return -1;
	}
	if (doc_load(l->host, user, &d) != 0) {
		*cond = "temporary-auth-failure";
		return -1;
	}
	rc = -1;
	for (i = 0; i < d.n; i++)
		if (strcmp(d.v[i].uaid, l->uaid) == 0)
			t = &d.v[i];
	if (t == NULL || t->expiry <= now_unix() || strcmp(t->keyfp, fp) != 0)
		goto out_free_doc;
	ht_hmac(t->token, "Initiator", cb, (size_t)cbl, want);
	if (CRYPTO_memcmp(want, nul + 1, 32) == 0) {
		used = t->token;
		/* the new token is in use: the old one is done */
		if (strcmp(t->prev, "-") != 0) {
			snprintf(t->prev, sizeof(t->prev), "-");
			dirty = 1;
		}
	} else if (strcmp(t->prev, "-") != 0) {
		ht_hmac(t->prev, "Initiator", cb, (size_t)cbl, want);
		if (CRYPTO_memcmp(want, nul + 1, 32) == 0)
			used = t->prev;
	}
	if (used == NULL)
		goto out_free_doc;
	/* XEP-0484 §3.3: a count that does not grow is a replay */
	if (l->count >= 0) {
		if (l->count <= t->count)
			goto out_free_doc;
		t->count = l->count;
		dirty = 1;
	}
	if (account_is_disabled(l->host, user) > 0) {
		*cond = "account-disabled";
		goto out_free_doc;
	}
	ht_hmac(used, "Responder", cb, (size_t)cbl, final);
	if (l->invalidate) {
		doc_remove(&d, (size_t)(t - d.v));
		dirty = 1;
	}
	/* a login that changed nothing writes nothing */
	if (dirty && doc_save(l->host, user, &d) != 0) {
		*cond = "temporary-auth-failure";
		goto out_free_doc;
	}
	rc = 0;
out_free_doc:
	doc_free(&d);
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}

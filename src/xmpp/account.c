/* account.c: accounts as SCRAM keys in the keyval store (format in
 * account.h). The password itself is never stored; a PLAIN login is
 * checked by deriving StoredKey again with the stored salt. Writes go
 * through store_main and are committed by the caller. */
#include "xmpp/account.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsasl.h>
#include <openssl/crypto.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "jid/jid.h"
#include "store/store.h"

#define ACCOUNT_STORE "accounts"
#define LASTLOGIN_STORE "lastlogin"
#define DISABLED_STORE "disabled"
#define DELETING_STORE "deleting"
#define WARNED_STORE "inactive_warned"

/* base64 of the 64-byte salt maximum: 88 characters */
#define B64_MAX 96

/* SASLprep (RFC 4013) as a query string: unassigned code points are
 * allowed so that a password set today still matches after a Unicode
 * update, as clients prepare it the same way. Returns a malloc'd string or
 * NULL when the password is prohibited or empty after preparation. */
static char *
account_saslprep(const char *password)
{
	char *out = NULL;
	int rc;

	rc = gsasl_saslprep(password, GSASL_ALLOW_UNASSIGNED, &out, NULL);
	if (rc != GSASL_OK || out == NULL) {
		log_debug("account: password rejected by SASLprep: %s",
		    gsasl_strerror(rc));
		return NULL;
	}
	if (*out == '\0') {
		gsasl_free(out);
		return NULL;
	}
	return out;
}

const char *
account_jid_parse(const char *s, int full_ok, struct jid *j)
{
	const char *why = NULL;

	if (jid_parse_str(j, s) < 0)
		return "not a valid JID";
	if (j->node == NULL)
		why = "a user name is required (user@host)";
	else if (j->resource != NULL && !full_ok)
		why = "an account JID has no resource";
	if (why != NULL)
		jid_cleanup(j);
	return why;
}

const char *
account_password_problem(const char *password)
{
	char *out = NULL;
	int rc;

	if (*password == '\0')
		return "empty password";
	rc = gsasl_saslprep(password, GSASL_ALLOW_UNASSIGNED, &out, NULL);
	if (rc != GSASL_OK || out == NULL || *out == '\0') {
		gsasl_free(out);
		return rc != GSASL_OK ? "password not allowed: SASLprep (RFC "
					"4013) prohibits one of its characters"
				      : "password not allowed: empty after "
					"SASLprep";
	}
	OPENSSL_cleanse(out, strlen(out));
	gsasl_free(out);
	return NULL;
}

static void
account_free_prepped(char *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, strlen(p));
	gsasl_free(p);
}

int
account_make_keys(
    const char *password, unsigned iter, struct scram_keys keys[SCRAM_NHASH])
{
	char *prepped = account_saslprep(password);
	int h, ret = 0;

	if (prepped == NULL)
		return -1;
	for (h = 0; h < SCRAM_NHASH && ret == 0; h++)
		ret = scram_make((enum scram_hash)h, prepped, iter, &keys[h]);
	account_free_prepped(prepped);
	return ret;
}

static void
account_put_keys(struct sbuf *b, const struct scram_keys *k)
{
	char salt[B64_MAX], stored[B64_MAX], server[B64_MAX];
	size_t dlen = scram_digest_len(k->hash);

	b64_encode(k->salt, k->salt_len, salt);
	b64_encode(k->stored_key, dlen, stored);
	b64_encode(k->server_key, dlen, server);
	sbuf_printf(b, "%s %u %s %s %s\n", scram_hash_name(k->hash), k->iter,
	    salt, stored, server);
}

/* have NULL: every hash's keys; else only those with have[h] set. */
static int
account_write_some(const char *host, const char *user, int64_t created,
    const struct scram_keys keys[SCRAM_NHASH], const int *have)
{
	struct sbuf b;
	int h, ret;

	sbuf_init(&b);
	sbuf_printf(&b, "created %" PRId64 "\n", created);
	for (h = 0; h < SCRAM_NHASH; h++)
		if (have == NULL || have[h])
			account_put_keys(&b, &keys[h]);
	ret = store_kv_set(host, user, ACCOUNT_STORE, b.data, b.len);
	OPENSSL_cleanse(b.data, b.len);
	sbuf_cleanup(&b);
	return ret;
}

static int
account_write(const char *host, const char *user, int64_t created,
    const struct scram_keys keys[SCRAM_NHASH])
{
	return account_write_some(host, user, created, keys, NULL);
}

/* Decode base64 field f into out (cap bytes); exact length want unless
 * want is 0. */
static int
account_b64(
    const char *f, unsigned char *out, size_t cap, size_t want, size_t *got)
{
	unsigned char tmp[B64_MAX];
	size_t n = strlen(f), len;

	if (n == 0 || n >= B64_MAX || b64_decode(f, n, tmp, &len) < 0 ||
	    len > cap || (want != 0 && len != want))
		return -1;
	memcpy(out, tmp, len);
	if (got != NULL)
		*got = len;
	return 0;
}

/* Parse one "<hash> <iter> <salt> <stored> <server>" line into k. */
static int
account_parse_keys(char *line, enum scram_hash h, struct scram_keys *k)
{
	char *f[5], *save = NULL, *end;
	size_t dlen = scram_digest_len(h);
	unsigned long iter;
	int i;

	for (i = 0; i < 5; i++) {
		f[i] = strtok_r(i == 0 ? line : NULL, " ", &save);
		if (f[i] == NULL)
			return -1;
	}
	iter = strtoul(f[1], &end, 10);
	if (*end != '\0' || iter == 0 || iter > 100000000ul)
		return -1;
	k->hash = h;
	k->iter = (unsigned)iter;
	if (account_b64(f[2], k->salt, sizeof(k->salt), 0, &k->salt_len) < 0 ||
	    account_b64(
		f[3], k->stored_key, sizeof(k->stored_key), dlen, NULL) < 0 ||
	    account_b64(
		f[4], k->server_key, sizeof(k->server_key), dlen, NULL) < 0)
		return -1;
	return 0;
}

/* Find the line of document doc (modified in place) for hash h and
 * parse it. */
static int
account_doc_keys(char *doc, enum scram_hash h, struct scram_keys *out)
{
	const char *name = scram_hash_name(h);
	size_t nlen = strlen(name);
	char *line, *save = NULL;

	for (line = strtok_r(doc, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, name, nlen) == 0 && line[nlen] == ' ')
			return account_parse_keys(line, h, out);
	}
	return -1;
}

/* What follows "field " on a line of doc, or NULL. */
static const char *
account_doc_field(const char *doc, const char *field)
{
	size_t n = strlen(field);
	const char *p = doc;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, field, n) == 0 && p[n] == ' ')
			return p + n + 1;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/* Has document doc a line for hash h? */
static int
account_doc_has(const char *doc, enum scram_hash h)
{
	return account_doc_field(doc, scram_hash_name(h)) != NULL;
}

/* The number after "field " on a line of doc: 0, -1 if none. */
static int
account_kv_num(const char *doc, const char *field, int64_t *v)
{
	const char *f = account_doc_field(doc, field);

	if (f == NULL)
		return -1;
	*v = strtoll(f, NULL, 10);
	return 0;
}

static int64_t
account_doc_created(const char *doc)
{
	int64_t t = 0;

	account_kv_num(doc, "created", &t);
	return t;
}

int
account_get_created(const char *host, const char *user, int64_t *t)
{
	char *doc = NULL;
	int rc = store_kv_get(host, user, ACCOUNT_STORE, &doc, NULL);

	if (rc != 0)
		return rc;
	*t = account_doc_created(doc);
	free(doc);
	return 0;
}

/* Has user@host a document in store? 0 yes, 1 no, -1 error. */
static int
account_kv_has(const char *host, const char *user, const char *store)
{
	char *doc = NULL;
	int rc;

	rc = store_kv_get(host, user, store, &doc, NULL);
	free(doc);
	return rc;
}

int
account_exists(const char *host, const char *user)
{
	return account_kv_has(host, user, ACCOUNT_STORE);
}

int
account_create_keys(const char *host, const char *user,
    const struct scram_keys keys[SCRAM_NHASH])
{
	int rc = account_exists(host, user);

	if (rc != 1)
		return rc == 0 ? 1 : -1;
	return account_write(host, user, now_unix(), keys);
}

int
account_create(const char *host, const char *user, const char *password)
{
	struct scram_keys keys[SCRAM_NHASH];
	int rc = account_exists(host, user);

	if (rc != 1)
		return rc == 0 ? 1 : -1;
	if (account_make_keys(password, SCRAM_DEFAULT_ITER, keys) < 0) {
		log_warn("account: %s@%s: password not usable (SASLprep)", user,
		    host);
		return -1;
	}
	rc = account_write(host, user, now_unix(), keys);
	OPENSSL_cleanse(keys, sizeof(keys));
	return rc;
}

int
account_set_password(const char *host, const char *user, const char *password)
{
	struct scram_keys keys[SCRAM_NHASH];
	char *doc = NULL;
	int64_t created;
	int rc;

	rc = store_kv_get(host, user, ACCOUNT_STORE, &doc, NULL);
	if (rc != 0)
		return rc;
	created = account_doc_created(doc);
	free(doc);
	if (account_make_keys(password, SCRAM_DEFAULT_ITER, keys) < 0) {
		log_warn("account: %s@%s: password not usable (SASLprep)", user,
		    host);
		return -1;
	}
	rc = account_write(host, user, created ? created : now_unix(), keys);
	OPENSSL_cleanse(keys, sizeof(keys));
	return rc;
}

int
account_get_keys(const char *host, const char *user, enum scram_hash h,
    struct scram_keys *out)
{
	char *doc = NULL;
	int rc;

	if ((int)h < 0 || h >= SCRAM_NHASH)
		return -1;
	rc = store_kv_get(host, user, ACCOUNT_STORE, &doc, NULL);
	if (rc != 0)
		return rc;
	if (!account_doc_has(doc, h)) {
		/* imported with another hash's keys only (XEP-0227) */
		log_info("account: %s@%s has no %s keys", user, host,
		    scram_hash_name(h));
		rc = 1;
	} else if (account_doc_keys(doc, h, out) < 0) {
		log_err("account: %s@%s: no valid %s keys in the account "
			"document",
		    user, host, scram_hash_name(h));
		rc = -1;
	}
	free(doc);
	return rc;
}

int
account_check_password(const char *host, const char *user, const char *password)
{
	struct scram_keys stored, derived;
	char *prepped;
	int rc;

	/* SHA-256 first: one derivation is all a check costs */
	rc = account_get_keys(host, user, SCRAM_SHA256, &stored);
	if (rc != 0)
		rc = account_get_keys(host, user, SCRAM_SHA1, &stored);
	if (rc != 0)
		return rc;
	prepped = account_saslprep(password);
	if (prepped == NULL)
		return 1;
	rc = scram_derive(stored.hash, prepped, stored.salt, stored.salt_len,
	    stored.iter, &derived);
	account_free_prepped(prepped);
	if (rc < 0)
		return -1;
	rc = ct_memeq(stored.stored_key, derived.stored_key,
		 scram_digest_len(stored.hash))
		 ? 0
		 : 1;
	OPENSSL_cleanse(&derived, sizeof(derived));
	return rc;
}

int
account_delete(const char *host, const char *user)
{
	int rc = account_exists(host, user);

	if (rc != 0)
		return rc;
	if (store_kv_del(host, user, ACCOUNT_STORE) < 0)
		return -1;
	return store_user_delete(host, user);
}

int
account_list(const char *host, int (*cb)(void *ud, const char *user), void *ud)
{
	return store_kv_users(host, ACCOUNT_STORE, cb, ud);
}

int
account_is_disabled(const char *host, const char *user)
{
	int rc = account_kv_has(host, user, DISABLED_STORE);

	return rc < 0 ? -1 : rc == 0;
}

int
account_set_disabled(const char *host, const char *user, int disabled)
{
	char v[32];
	int n, rc = account_exists(host, user);

	if (rc != 0)
		return rc;
	/* a deleted account comes back through account_restore only */
	if (!disabled && account_get_deleting(host, user, NULL) == 0)
		return 2;
	if (!disabled)
		return store_kv_del(host, user, DISABLED_STORE) < 0 ? -1 : 0;
	if (account_is_disabled(host, user) == 1)
		return 0; /* keep the first date */
	n = snprintf(v, sizeof(v), "since %" PRId64 "\n", now_unix());
	return store_kv_set(host, user, DISABLED_STORE, v, (size_t)n) < 0 ? -1
									  : 0;
}

int
account_list_disabled(
    const char *host, int (*cb)(void *ud, const char *user), void *ud)
{
	return store_kv_users(host, DISABLED_STORE, cb, ud);
}

/* A keyval document holding one unix time (last login, warning). */
static int
account_time_set(
    const char *host, const char *user, const char *store, int64_t t)
{
	char v[32];
	int n = snprintf(v, sizeof(v), "%" PRId64, t);

	return store_kv_set(host, user, store, v, (size_t)n);
}

static int
account_time_get(
    const char *host, const char *user, const char *store, int64_t *t)
{
	char *v = NULL, *end;
	int rc;

	rc = store_kv_get(host, user, store, &v, NULL);
	if (rc != 0)
		return rc;
	*t = strtoll(v, &end, 10);
	if (end == v) {
		log_err("account: %s@%s: bad time in %s", user, host, store);
		rc = -1;
	}
	free(v);
	return rc;
}

int
account_set_last_login(const char *host, const char *user, int64_t t)
{
	return account_time_set(host, user, LASTLOGIN_STORE, t);
}

int
account_get_last_login(const char *host, const char *user, int64_t *t)
{
	return account_time_get(host, user, LASTLOGIN_STORE, t);
}

/* ---- export and import (ternctl) ---- */

int
account_export(const char *host, const char *user,
    struct scram_keys keys[SCRAM_NHASH], int have[SCRAM_NHASH],
    int64_t *created)
{
	char *doc = NULL, *copy;
	int h, rc;

	rc = store_kv_get(host, user, ACCOUNT_STORE, &doc, NULL);
	if (rc != 0)
		return rc;
	*created = account_doc_created(doc);
	for (h = 0; h < SCRAM_NHASH; h++) {
		copy = xstrdup(doc);
		have[h] =
		    account_doc_has(doc, (enum scram_hash)h) &&
		    account_doc_keys(copy, (enum scram_hash)h, &keys[h]) == 0;
		free(copy);
	}
	OPENSSL_cleanse(doc, strlen(doc));
	free(doc);
	return 0;
}

int
account_import(const char *host, const char *user, int64_t created,
    const struct scram_keys keys[SCRAM_NHASH], const int have[SCRAM_NHASH])
{
	return account_write_some(
	    host, user, created > 0 ? created : now_unix(), keys, have);
}

/* ---- deletion with a grace period ---- */

int
account_mark_deleted(const char *host, const char *user, int64_t purge_at)
{
	char v[96];
	int n, was, rc = account_exists(host, user);

	if (rc != 0)
		return rc;
	rc = account_get_deleting(host, user, NULL);
	if (rc <= 0)
		return rc; /* already deleted: the first date holds */
	was = account_is_disabled(host, user);
	if (was < 0)
		return -1;
	n = snprintf(v, sizeof(v),
	    "since %" PRId64 "\npurge %" PRId64 "\nwas_disabled %d\n",
	    now_unix(), purge_at, was);
	if (store_kv_set(host, user, DELETING_STORE, v, (size_t)n) < 0)
		return -1;
	return account_set_disabled(host, user, 1) < 0 ? -1 : 0;
}

int
account_get_deleting(const char *host, const char *user, int64_t *purge_at)
{
	char *doc = NULL;
	int64_t t = 0;
	int rc = store_kv_get(host, user, DELETING_STORE, &doc, NULL);

	if (rc != 0)
		return rc;
	account_kv_num(doc, "purge", &t);
	free(doc);
	if (purge_at != NULL)
		*purge_at = t;
	return 0;
}

int
account_restore(const char *host, const char *user)
{
	char *doc = NULL;
	int64_t was = 0;
	int rc = store_kv_get(host, user, DELETING_STORE, &doc, NULL);

	if (rc != 0)
		return rc;
	account_kv_num(doc, "was_disabled", &was);
	free(doc);
	if (store_kv_del(host, user, DELETING_STORE) < 0)
		return -1;
	if (!was && store_kv_del(host, user, DISABLED_STORE) < 0)
		return -1;
	return 0;
}

int
account_list_deleting(
    const char *host, int (*cb)(void *ud, const char *user), void *ud)
{
	return store_kv_users(host, DELETING_STORE, cb, ud);
}

int
account_set_warned(const char *host, const char *user, int64_t t)
{
	if (t == 0)
		return store_kv_del(host, user, WARNED_STORE) < 0 ? -1 : 0;
	return account_time_set(host, user, WARNED_STORE, t) < 0 ? -1 : 0;
}

int
account_get_warned(const char *host, const char *user, int64_t *t)
{
	return account_time_get(host, user, WARNED_STORE, t);
}

int64_t
account_last_use(const char *host, const char *user)
{
	int64_t t = 0;
	int rc = account_get_last_login(host, user, &t);

	if (rc == 0)
		return t;
	if (rc < 0)
		return -1;
	rc = account_get_created(host, user, &t);
	return rc == 0 ? t : rc < 0 ? -1 : 0;
}

/* Below this many characters a password needs two character classes. */
#define WEAK_STRONG_LENGTH 12
#define WEAK_PASSWORD_MAX 1023

static int
char_class(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return 1;
	if (c >= 'A' && c <= 'Z')
		return 2;
	if (c >= '0' && c <= '9')
		return 4;
	return 8;
}

const char *
account_password_weak(long long min_length, const char *user, const char *pw)
{
	static char why[128];
	const unsigned char *p;
	long long chars = 0;
	int classes = 0, nclasses = 0;

	if (strlen(pw) > WEAK_PASSWORD_MAX)
		return "the password is too long";
	for (p = (const unsigned char *)pw; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return "the password contains control characters";
		if ((*p & 0xc0) != 0x80) /* count UTF-8 characters */
			chars++;
		classes |= char_class(*p);
	}
	for (; classes; classes >>= 1)
		nclasses += classes & 1;
	if (chars < min_length) {
		snprintf(why, sizeof(why),
		    "the password needs at least %lld characters", min_length);
		return why;
	}
	if (chars < WEAK_STRONG_LENGTH && nclasses < 2) {
		snprintf(why, sizeof(why),
		    "a password shorter than %d characters needs letters "
		    "mixed with digits, capitals or symbols",
		    WEAK_STRONG_LENGTH);
		return why;
	}
	if (strcasecmp(pw, user) == 0)
		return "the password must not be the username";
	return NULL;
}

/* tls_rec.c: TLS 1.3 records after the handshake, without an SSL object
 * (RFC 8446 §5, §7.1, §7.2, §4.6.3). See tls_rec.h. */
#include "net/tls_rec.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "net/conn.h"

struct tls_rec_suite {
	uint16_t id; /* the low 16 bits of OpenSSL's cipher id */
	const char *cipher, *md;
	size_t keylen, hashlen;
	EVP_CIPHER *c; /* fetched once */
};

static struct tls_rec_suite suites[] = {
	{ 0x1301, "AES-128-GCM", "SHA256", 16, 32, NULL },
	{ 0x1302, "AES-256-GCM", "SHA384", 32, 48, NULL },
	{ 0x1303, "ChaCha20-Poly1305", "SHA256", 32, 32, NULL },
};
static EVP_KDF *hkdf;

#define TAG_LEN 16
#define CT_APP 23
#define CT_HANDSHAKE 22
#define CT_ALERT 21
#define HS_FINISHED 20
#define HS_KEY_UPDATE 24

static const struct tls_rec_suite *
suite_of(const SSL *ssl)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
	uint16_t id;
	size_t i;

	if (ci == NULL)
		return NULL;
	id = (uint16_t)(SSL_CIPHER_get_id(ci) & 0xffff);
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		if (suites[i].id != id)
			continue;
		if (suites[i].c == NULL)
			suites[i].c =
			    EVP_CIPHER_fetch(NULL, suites[i].cipher, NULL);
		return suites[i].c ? &suites[i] : NULL;
	}
	return NULL;
}

/* HKDF-Expand-Label(secret, label, "", outlen) (RFC 8446 §7.1) */
static int
expand_label(const struct tls_rec_suite *s, const unsigned char *secret,
    const char *label, unsigned char *out, size_t outlen)
{
	unsigned char info[2 + 1 + 6 + 16 + 1];
	size_t ll = strlen(label), n = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM p[5];
	EVP_KDF_CTX *k;
	int rc;

	if (hkdf == NULL)
		hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (hkdf == NULL || ll > 16)
		return -1;
	info[n++] = (unsigned char)(outlen >> 8);
	info[n++] = (unsigned char)outlen;
	info[n++] = (unsigned char)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0; /* empty context */
	p[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	p[1] = OSSL_PARAM_construct_utf8_string(
	    OSSL_KDF_PARAM_DIGEST, (char *)(uintptr_t)s->md, 0);
	p[2] = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)secret, s->hashlen);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	p[4] = OSSL_PARAM_construct_end();
	k = EVP_KDF_CTX_new(hkdf);
	if (k == NULL)
		return -1;
	rc = EVP_KDF_derive(k, out, outlen, p) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(k);
	return rc;
}

static void
dir_drop_ctx(struct tls_rec_dir *d)
{
	EVP_CIPHER_CTX_free(d->ctx);
	d->ctx = NULL;
}

static int
dir_keys(const struct tls_rec_suite *s, struct tls_rec_dir *d)
{
	dir_drop_ctx(d);
	if (expand_label(s, d->secret, "key", d->key, s->keylen) < 0 ||
	    expand_label(s, d->secret, "iv", d->iv, sizeof(d->iv)) < 0)
		return -1;
	return 0;
}

/* The next application traffic secret (§7.2), sequence from 0. */
static int
dir_update(const struct tls_rec_suite *s, struct tls_rec_dir *d)
{
	unsigned char next[48];

	if (expand_label(s, d->secret, "traffic upd", next, s->hashlen) < 0)
		return -1;
	memcpy(d->secret, next, s->hashlen);
	OPENSSL_cleanse(next, sizeof(next));
	d->seq = 0;
	return 0;
}

static struct tls_rec *
rec_of(const SSL *ssl, int create)
{
	struct conn *c = SSL_get_app_data(ssl);

	if (c == NULL)
		return NULL;
	if (c->rec == NULL && create)
		c->rec = xcalloc(1, sizeof(*c->rec));
	return c->rec;
}

static int
unhex(const char *h, unsigned char *out, size_t max)
{
	size_t n = 0;

	while (h[0] && h[1] && n < max) {
		int hi = OPENSSL_hexchar2int((unsigned char)h[0]);
		int lo = OPENSSL_hexchar2int((unsigned char)h[1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | lo);
		h += 2;
	}
	return h[0] ? -1 : (int)n;
}

/* "CLIENT_TRAFFIC_SECRET_0 <client random> <secret>": the first
 * application traffic secrets (the server's side: client = read). */
static void
keylog_cb(const SSL *ssl, const char *line)
{
	struct tls_rec_dir *d = NULL;
	struct tls_rec *r;
	const char *sp;
	int n;

	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0 ||
	    strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0) {
		r = rec_of(ssl, 1);
		if (r == NULL)
			return;
		d = line[0] == 'C' ? &r->rd : &r->wr;
		sp = strchr(line + 24, ' ');
		n = sp ? unhex(sp + 1, d->secret, sizeof(d->secret)) : -1;
		if (n != 32 && n != 48)
			r->no_light = 1;
		else
			d->have = 1;
	}
}

/* Called by OpenSSL for every record header it reads or writes and for
 * every handshake message: the sequence numbers the records after the
 * handshake carry. */
static void
msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
    SSL *ssl, void *arg)
{
	struct tls_rec *r = rec_of(ssl, 0);
	struct tls_rec_dir *d;
	const unsigned char *b = buf;

	UNUSED(version);
	UNUSED(arg);
	if (r == NULL || r->no_light)
		return;
	d = write_p ? &r->wr : &r->rd;
	switch (content_type) {
	case SSL3_RT_HEADER:
		d->seq++;
		break;
	case CT_HANDSHAKE:
		if (len < 1)
			break;
		/* after a Finished: the application traffic secret, from 0 */
		if (b[0] == HS_FINISHED) {
			d->seq = 0;
		} else if (b[0] == HS_KEY_UPDATE) {
			if (r->suite == NULL)
				r->suite = suite_of(ssl);
			if (r->suite == NULL || !d->have ||
			    dir_update(r->suite, d) < 0)
				r->no_light = 1;
		}
		break;
	case CT_ALERT:
		r->no_light = 1;
		break;
	default:
		break;
	}
}

void
tls_rec_ctx_setup(SSL_CTX *ctx)
{
	SSL_CTX_set_keylog_callback(ctx, keylog_cb);
	SSL_CTX_set_msg_callback(ctx, msg_cb);
}

int
tls_rec_take(struct conn *c)
{
	struct tls_rec *r = c->rec;
	SSL *s = c->ssl;

	if (r == NULL || s == NULL || r->no_light || !r->rd.have ||
	    !r->wr.have || SSL_version(s) != TLS1_3_VERSION)
		return -2;
	/* nothing read and not yet processed, nothing made and not yet
	 * written (SSL_READING only says the last read found no more) */
	if (!SSL_is_init_finished(s) || SSL_has_pending(s) ||
	    (SSL_want(s) != SSL_NOTHING && SSL_want(s) != SSL_READING) ||
	    SSL_get_shutdown(s) != 0 ||
	    SSL_get_key_update_type(s) != SSL_KEY_UPDATE_NONE)
		return -1;
	if (r->suite == NULL)
		r->suite = suite_of(s);
	if (r->suite == NULL || dir_keys(r->suite, &r->rd) < 0 ||
	    dir_keys(r->suite, &r->wr) < 0) {
		r->no_light = 1;
		return -2;
	}
	return 0;
}

static EVP_CIPHER_CTX *
dir_ctx(struct tls_rec *r, struct tls_rec_dir *d, int enc)
{
	r->busy = 1;
	if (d->ctx)
		return d->ctx;
	d->ctx = EVP_CIPHER_CTX_new();
	if (d->ctx == NULL || EVP_CipherInit_ex2(d->ctx, r->suite->c, d->key,
				  NULL, enc, NULL) != 1) {
		dir_drop_ctx(d);
		return NULL;
	}
	return d->ctx;
}

static void
nonce(const struct tls_rec_dir *d, unsigned char out[12])
{
	int i;

	memcpy(out, d->iv, 12);
	for (i = 0; i < 8; i++)
		out[11 - i] ^= (unsigned char)(d->seq >> (8 * i));
}

long
tls_rec_need(const unsigned char *p, size_t n)
{
	size_t len;

	if (n < 5)
		return 0;
	len = (size_t)p[3] << 8 | p[4];
	/* after the handshake every record is application_data on the
	 * wire (§5.2); legacy_record_version 0x0303 */
	if (p[0] != CT_APP || p[1] != 3 || p[2] != 3 ||
	    len > TLS_REC_MAX_PLAIN + 256 || len < TAG_LEN + 1)
		return -1;
	return (long)(5 + len);
}

int
tls_rec_open(struct tls_rec *r, unsigned char *p, size_t n, unsigned char **out,
    size_t *outlen)
{
	EVP_CIPHER_CTX *x = dir_ctx(r, &r->rd, 0);
	unsigned char iv[12];
	size_t clen = n - 5 - TAG_LEN;
	unsigned char *ct = p + 5;
	int l = 0, l2 = 0;

	if (x == NULL || n < 5 + TAG_LEN + 1 || r->rd.seq == UINT64_MAX)
		return -1;
	nonce(&r->rd, iv);
	if (EVP_CipherInit_ex2(x, NULL, NULL, iv, 0, NULL) != 1 ||
	    EVP_CipherUpdate(x, NULL, &l, p, 5) != 1 ||
	    EVP_CipherUpdate(x, ct, &l, ct, (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, ct + clen) !=
		1 ||
	    EVP_CipherFinal_ex(x, ct + l, &l2) != 1)
		return -1; /* bad_record_mac */
	r->rd.seq++;
	/* TLSInnerPlaintext: content, the type, zeros (§5.4) */
	while (clen > 0 && ct[clen - 1] == 0)
		clen--;
	if (clen == 0 || clen - 1 > TLS_REC_MAX_PLAIN)
		return -1; /* unexpected_message, record_overflow */
	*out = ct;
	*outlen = clen - 1;
	return ct[clen - 1];
}

long
tls_rec_seal(struct tls_rec *r, int type, unsigned char *out, size_t n)
{
	EVP_CIPHER_CTX *x = dir_ctx(r, &r->wr, 1);
	unsigned char iv[12];
	size_t len = n + 1 + TAG_LEN;
	int l = 0, l2 = 0;

	if (x == NULL || n > TLS_REC_MAX_PLAIN || r->wr.seq == UINT64_MAX)
		return -1;
	out[0] = CT_APP;
	out[1] = 3;
	out[2] = 3;
	out[3] = (unsigned char)(len >> 8);
	out[4] = (unsigned char)len;
	out[5 + n] = (unsigned char)type;
	nonce(&r->wr, iv);
	if (EVP_CipherInit_ex2(x, NULL, NULL, iv, 1, NULL) != 1 ||
	    EVP_CipherUpdate(x, NULL, &l, out, 5) != 1 ||
	    EVP_CipherUpdate(x, out + 5, &l, out + 5, (int)n + 1) != 1 ||
	    EVP_CipherFinal_ex(x, out + 5 + l, &l2) != 1 ||
	    EVP_CIPHER_CTX_ctrl(
		x, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + 5 + n + 1) != 1)
		return -1;
	r->wr.seq++;
	return (long)(5 + len);
}

int
tls_rec_handshake(
    struct tls_rec *r, const unsigned char *p, size_t n, int *reply)
{
	/* a client may send nothing after its Finished but KeyUpdate (no
	 * post-handshake authentication is asked for); a KeyUpdate ends
	 * its record (§5.1) */
	if (n != 5 || p[0] != HS_KEY_UPDATE || p[1] != 0 || p[2] != 0 ||
	    p[3] != 1 || p[4] > 1)
		return -1;
	if (dir_update(r->suite, &r->rd) < 0 || dir_keys(r->suite, &r->rd) < 0)
		return -1;
	*reply = p[4] == 1;
	return 0;
}

int
tls_rec_write_update(struct tls_rec *r)
{
	if (dir_update(r->suite, &r->wr) < 0 || dir_keys(r->suite, &r->wr) < 0)
		return -1;
	return 0;
}

int
tls_rec_sweep(struct tls_rec *r)
{
	if (!r->busy) {
		dir_drop_ctx(&r->rd);
		dir_drop_ctx(&r->wr);
	}
	r->busy = 0;
	return r->rd.ctx != NULL || r->wr.ctx != NULL;
}

void
tls_rec_free(struct tls_rec *r)
{
	if (r == NULL)
		return;
	dir_drop_ctx(&r->rd);
	dir_drop_ctx(&r->wr);
	free(r->in);
	free(r->out);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

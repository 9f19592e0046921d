/* tls.c: certificate directory, SNI, ALPN and channel bindings. */
#include "net/tls.h"

#include "net/conn.h"
#include "net/tls_rec.h"

#include <dirent.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

struct tls_cert {
	SSL_CTX *ctx;
	SSL_CTX *client_ctx; /* outgoing s2s, made when first needed */
	char **names;	     /* DNS SANs (or CN when no SAN), lowercase */
	size_t nnames;
	char *file;
	char *key;
};

struct tls_set {
	struct tls_cert *v;
	size_t n;
};

static struct tls_set cur;
static int min_version; /* of the running config, for client contexts */

static void
set_free(struct tls_set *s)
{
	size_t i, j;

	for (i = 0; i < s->n; i++) {
		SSL_CTX_free(s->v[i].ctx);
		SSL_CTX_free(s->v[i].client_ctx);
		for (j = 0; j < s->v[i].nnames; j++)
			free(s->v[i].names[j]);
		free(s->v[i].names);
		free(s->v[i].file);
		free(s->v[i].key);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int
name_match(const char *pattern, const char *name)
{
	const char *dot;

	if (strcasecmp(pattern, name) == 0)
		return 1;
	if (pattern[0] != '*' || pattern[1] != '.')
		return 0;
	dot = strchr(name, '.');
	return dot && dot != name && strcasecmp(pattern + 1, dot) == 0;
}

static struct tls_cert *
find_cert(const char *name)
{
	size_t i, j;

	if (name == NULL)
		return NULL;
	/* exact names win over wildcards */
	for (i = 0; i < cur.n; i++)
		for (j = 0; j < cur.v[i].nnames; j++)
			if (strcasecmp(cur.v[i].names[j], name) == 0)
				return &cur.v[i];
	for (i = 0; i < cur.n; i++)
		for (j = 0; j < cur.v[i].nnames; j++)
			if (name_match(cur.v[i].names[j], name))
				return &cur.v[i];
	return NULL;
}

SSL_CTX *
tls_ctx_for(const char *name)
{
	struct tls_cert *c = find_cert(name);

	if (c)
		return c->ctx;
	return cur.n ? cur.v[0].ctx : NULL;
}

/* The client side of a server-to-server connection from local: our
 * certificate for local goes with it (the peer may authenticate us with
 * it, SASL EXTERNAL); the peer's is checked after the handshake
 * (tls_peer_check), so that an untrusted one can still fall back to
 * dialback where the policy allows. */
SSL_CTX *
tls_client_ctx(const char *local)
{
	struct tls_cert *c = find_cert(local);
	SSL_CTX *ctx;

	if (c == NULL && cur.n)
		c = &cur.v[0];
	if (c == NULL)
		return NULL;
	if (c->client_ctx)
		return c->client_ctx;
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, min_version);
	SSL_CTX_set_options(
	    ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
				  SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1) {
		log_warn("tls client context for %s: %s", local,
		    ERR_reason_error_string(ERR_get_error()));
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	c->client_ctx = ctx;
	return ctx;
}

int
tls_covers(const char *name)
{
	return find_cert(name) != NULL;
}

static int
sni_cb(SSL *ssl, int *al, void *arg)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct tls_cert *c;

	UNUSED(al);
	UNUSED(arg);
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	c = find_cert(name);
	if (c && c->ctx != SSL_get_SSL_CTX(ssl))
		SSL_set_SSL_CTX(ssl, c->ctx);
	return SSL_TLSEXT_ERR_OK;
}

/* Protocols other than XMPP a Direct TLS port may speak (HTTP), in the
 * order we prefer them. */
#define ALPN_OFFER_MAX 4
static const char *alpn_offer[ALPN_OFFER_MAX];

void
tls_alpn_offer(const char *proto)
{
	size_t i;

	for (i = 0; i < ALPN_OFFER_MAX; i++) {
		if (alpn_offer[i] && strcmp(alpn_offer[i], proto) == 0)
			return;
		if (alpn_offer[i] == NULL) {
			alpn_offer[i] = proto;
			return;
		}
	}
}

/* Offset of the protocol want in the client's ALPN list, or -1. */
static int
alpn_find(const unsigned char *in, unsigned int inlen, const char *want)
{
	size_t wl = strlen(want);
	unsigned int i = 0;

	while (i < inlen) {
		unsigned int l = in[i];

		if (i + 1 + l > inlen)
			break;
		if (l == wl && memcmp(in + i + 1, want, l) == 0)
			return (int)i;
		i += 1 + l;
	}
	return -1;
}

/* xmpp-client or xmpp-server when offered; another registered protocol
 * only on Direct TLS (a STARTTLS stream is XMPP already). */
static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct conn *c = SSL_get_app_data(ssl);
	int at = alpn_find(in, inlen, "xmpp-client");

	if (at < 0)
		at = alpn_find(in, inlen, "xmpp-server");
	size_t i;

	UNUSED(arg);
	for (i = 0; at < 0 && c && c->tls_direct && i < ALPN_OFFER_MAX &&
		    alpn_offer[i];
	     i++)
		at = alpn_find(in, inlen, alpn_offer[i]);
	if (at < 0) /* nothing we speak offered: carry on without ALPN */
		return SSL_TLSEXT_ERR_NOACK;
	*out = in + at + 1;
	*outlen = in[at];
	return SSL_TLSEXT_ERR_OK;
}

static void
add_name(struct tls_cert *c, const char *n, size_t len)
{
	char *s = xstrndup(n, len);
	char *p;

	for (p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	c->names = xrealloc(c->names, (c->nnames + 1) * sizeof(char *));
	c->names[c->nnames++] = s;
}

static void
collect_names(struct tls_cert *c, X509 *x)
{
	GENERAL_NAMES *sans =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int i;

	if (sans) {
		for (i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

			if (g->type == GEN_DNS)
				add_name(c,
				    (const char *)ASN1_STRING_get0_data(
					g->d.dNSName),
				    (size_t)ASN1_STRING_length(g->d.dNSName));
		}
		GENERAL_NAMES_free(sans);
	}
	if (c->nnames == 0) {
		char cn[256];
		int n = X509_NAME_get_text_by_NID(
		    X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));

		if (n > 0)
			add_name(c, cn, (size_t)n);
	}
}

static SSL_CTX *
make_ctx(const struct config *cfg, const char *cert, const char *key, char *err,
    size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	unsigned long e;

	if (ctx == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(
	    ctx, cfg->tls.min_version == 1 ? TLS1_3_VERSION : TLS1_2_VERSION);
	if (cfg->tls.ciphers &&
	    SSL_CTX_set_cipher_list(ctx, cfg->tls.ciphers) != 1)
		goto fail;
	/* the DHE suites of the default list use OpenSSL's built-in
	 * groups sized to the certificate's key */
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE |
				     SSL_OP_NO_RENEGOTIATION);
	/* idle connections give their read/write buffers back */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
				  SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* one read() per burst instead of two per record (header, body) */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* TLS 1.3 resumes from stateless tickets: no per-session server
	 * cache to grow with the number of clients; one ticket is enough
	 * for the next reconnect */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"tern", 4);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		goto fail;
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		goto fail;
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	/* follow the record state a bound client stream may take over */
	tls_rec_ctx_setup(ctx);
	return ctx;
fail:
	e = ERR_get_error();
	snprintf(err, errlen, "%s: %s", cert,
	    e ? ERR_reason_error_string(e) : "cannot create TLS context");
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

static int
has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a > b && strcmp(s + a - b, suf) == 0;
}

/* Does the PEM file hold a private key? */
static int
pem_has_key(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, "-----BEGIN", 10) == 0 &&
		    strstr(line, "PRIVATE KEY"))
			found = 1;
	fclose(f);
	return found;
}

int
tls_load(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_set next = { 0 };
	struct dirent **ents = NULL;
	int n, i, rc = -1;

	n = scandir(cfg->tls.cert_dir, &ents, NULL, alphasort);
	if (n < 0) {
		snprintf(err, errlen, "tls.cert_dir %s: cannot read directory",
		    cfg->tls.cert_dir);
		return -1;
	}
	for (i = 0; i < n; i++) {
		const char *fn = ents[i]->d_name;
		char cert[4096], key[4096];
		struct tls_cert c = { 0 };
		X509 *x;

		if (fn[0] == '.' ||
		    !(has_suffix(fn, ".pem") || has_suffix(fn, ".crt")))
			continue;
		snprintf(cert, sizeof(cert), "%s/%s", cfg->tls.cert_dir, fn);
		if (pem_has_key(cert)) {
			snprintf(key, sizeof(key), "%s", cert);
		} else {
			struct stat st;

			snprintf(key, sizeof(key), "%s/%.*s.key",
			    cfg->tls.cert_dir, (int)(strlen(fn) - 4), fn);
			if (stat(key, &st) != 0)
				continue; /* a CA file or chain part */
		}
		c.ctx = make_ctx(cfg, cert, key, err, errlen);
		if (c.ctx == NULL)
			goto out;
		x = SSL_CTX_get0_certificate(c.ctx);
		collect_names(&c, x);
		c.file = xstrdup(cert);
		c.key = xstrdup(key);
		next.v = xrealloc(next.v, (next.n + 1) * sizeof(*next.v));
		next.v[next.n++] = c;
		log_debug("tls loaded cert=%s names=%zu", cert, c.nnames);
	}
	if (next.n == 0) {
		snprintf(err, errlen,
		    "tls.cert_dir %s: no certificate found "
		    "(*.pem with key, or *.crt/*.pem with a .key beside)",
		    cfg->tls.cert_dir);
		goto out;
	}
	/* connections keep references to the contexts they use */
	set_free(&cur);
	min_version =
	    cfg->tls.min_version == 1 ? TLS1_3_VERSION : TLS1_2_VERSION;
	cur = next;
	next.v = NULL;
	next.n = 0;
	rc = 0;
out:
	set_free(&next);
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return rc;
}

void
tls_shutdown(void)
{
	set_free(&cur);
}

int
tls_is_13(SSL *ssl)
{
	return SSL_version(ssl) >= TLS1_3_VERSION;
}

int
tls_cb_exporter(SSL *ssl, unsigned char *out, size_t outlen)
{
	static const char label[] = "EXPORTER-Channel-Binding";

	/* RFC 9266: only defined for TLS 1.3 */
	if (!tls_is_13(ssl) || outlen < 32)
		return -1;
	if (SSL_export_keying_material(
		ssl, out, 32, label, sizeof(label) - 1, NULL, 0, 0) != 1)
		return -1;
	return 32;
}

int
tls_cb_server_end_point(SSL *ssl, unsigned char *out, size_t outlen)
{
	X509 *x = SSL_get_certificate(ssl);
	const EVP_MD *md;
	int mdnid, pknid;
	unsigned int n = 0;

	if (x == NULL || outlen < EVP_MAX_MD_SIZE)
		return -1;
	/* RFC 5929 §4.1: the certificate's signature hash, MD5 and SHA-1
	 * upgraded to SHA-256 */
	if (!OBJ_find_sigid_algs(X509_get_signature_nid(x), &mdnid, &pknid))
		return -1;
	if (mdnid == NID_md5 || mdnid == NID_sha1 || mdnid == NID_undef)
		md = EVP_sha256();
	else
		md = EVP_get_digestbynid(mdnid);
	if (md == NULL || X509_digest(x, md, out, &n) != 1)
		return -1;
	return (int)n;
}

int
tls_cb_unique(SSL *ssl, unsigned char *out, size_t outlen)
{
	size_t n;

	/* full handshake: the client's Finished comes first; resumed:
	 * the server's */
	if (SSL_session_reused(ssl))
		n = SSL_get_finished(ssl, out, outlen);
	else
		n = SSL_get_peer_finished(ssl, out, outlen);
	return n > 0 && n <= outlen ? (int)n : -1;
}

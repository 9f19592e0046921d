/* check_certs.c: `ternctl check certs`: every host, service domain and
 * component has a certificate in tls.cert_dir that ternd would pick for
 * it (a subjectAltName dNSName, a wildcard covering one label, the
 * subject CN only without any dNSName: the rules of net/tls.c), with
 * its private key, valid for CHECK_CERT_WARN_DAYS more days, whose
 * chain verifies against s2s.ca_file or the system's trust store. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "core/config.h"
#include "core/util.h"
#include "check.h"

#define CHECK_CERT_WARN_DAYS 14
#define XMPP_ADDR_OID "1.3.6.1.5.5.7.8.5" /* id-on-xmppAddr, RFC 6120 */

struct cert {
	char *file;
	X509 *x509;
	STACK_OF(X509) * chain; /* the certificates after the first */
	int has_key;
	int days_left; /* negative: expired */
	char expiry[32];
	char subject[256];
};

static int
has_suffix(const char *s, const char *sfx)
{
	size_t n = strlen(s), m = strlen(sfx);

	return n > m && strcmp(s + n - m, sfx) == 0;
}

static EVP_PKEY *
read_key(const char *path)
{
	EVP_PKEY *k;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/* The private key goes with the certificate in the same file, or in the
 * file of the same name ending in .key. */
static int
cert_has_key(const char *dir, const char *file, X509 *x)
{
	char path[4096];
	EVP_PKEY *k;
	size_t base = strlen(file) - 4; /* ".pem" / ".crt" */
	int ok = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	k = read_key(path);
	if (k == NULL) {
		snprintf(
		    path, sizeof(path), "%s/%.*s.key", dir, (int)base, file);
		k = read_key(path);
	}
	if (k != NULL) {
		ok = X509_check_private_key(x, k) == 1;
		EVP_PKEY_free(k);
	}
	ERR_clear_error();
	return ok;
}

static void
cert_describe(struct cert *c)
{
	const ASN1_TIME *na = X509_get0_notAfter(c->x509);
	int days = 0, secs = 0;
	struct tm tm;
	BIO *b;
	int n;

	c->days_left = 0;
	if (ASN1_TIME_diff(&days, &secs, NULL, na) == 1)
		c->days_left = days - (secs < 0 ? 1 : 0);
	if (ASN1_TIME_to_tm(na, &tm) == 1)
		strftime(
		    c->expiry, sizeof(c->expiry), "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(c->expiry, sizeof(c->expiry), "?");
	b = BIO_new(BIO_s_mem());
	if (b == NULL)
		return;
	X509_NAME_print_ex(
	    b, X509_get_subject_name(c->x509), 0, XN_FLAG_RFC2253);
	n = BIO_read(b, c->subject, sizeof(c->subject) - 1);
	c->subject[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

static int
cert_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const struct cert *)a)->file, ((const struct cert *)b)->file);
}

/* Every certificate file of dir: its first certificate is the
 * domain's, the others the chain sent with it. */
static int
load_certs(struct check *c, struct cert **out, size_t *outn)
{
	const char *dir = c->cfg->tls.cert_dir;
	struct cert *certs = NULL;
	STACK_OF(X509) * chain;
	size_t n = 0;
	struct dirent *de;
	char path[4096];
	X509 *x, *more;
	DIR *d;
	FILE *f;

	d = opendir(dir);
	if (d == NULL) {
		check_error(c, "tls.cert_dir",
		    "create the directory, or set tls.cert_dir to the one "
		    "holding the certificates",
		    "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!has_suffix(de->d_name, ".pem") &&
		    !has_suffix(de->d_name, ".crt"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "r");
		if (f == NULL) {
			check_error(c, path,
			    "let ternd's user read it (or remove it)",
			    "cannot be read: %s", strerror(errno));
			continue;
		}
		ERR_clear_error();
		x = PEM_read_X509(f, NULL, NULL, NULL);
		if (x == NULL && ERR_GET_REASON(ERR_peek_last_error()) !=
				     PEM_R_NO_START_LINE)
			check_error(c, path,
			    "put the certificate in it again (PEM, as the CA "
			    "sent it), or remove the file",
			    "holds a certificate that cannot be loaded: %s",
			    ERR_reason_error_string(ERR_peek_last_error()));
		chain = sk_X509_new_null();
		while (x != NULL && chain != NULL &&
		       (more = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
			sk_X509_push(chain, more);
		fclose(f);
		ERR_clear_error();
		if (x == NULL) {
			sk_X509_free(chain);
			continue; /* a key file or not PEM */
		}
		certs = xrealloc(certs, (n + 1) * sizeof(*certs));
		memset(&certs[n], 0, sizeof(certs[n]));
		certs[n].file = xstrdup(de->d_name);
		certs[n].x509 = x;
		certs[n].chain = chain;
		certs[n].has_key = cert_has_key(dir, de->d_name, x);
		cert_describe(&certs[n]);
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(certs, n, sizeof(*certs), cert_cmp);
	*out = certs;
	*outn = n;
	return 0;
}

/* Does an id-on-xmppAddr otherName of x say domain? */
static int
xmpp_addr_names(X509 *x, const char *domain)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, 0, 0);
	ASN1_OBJECT *oid = OBJ_txt2obj(XMPP_ADDR_OID, 1);
	int i, found = 0;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_TYPE *v;

		if (g->type != GEN_OTHERNAME ||
		    OBJ_cmp(g->d.otherName->type_id, oid) != 0)
			continue;
		v = g->d.otherName->value;
		if (v->type == V_ASN1_UTF8STRING &&
		    (size_t)v->value.utf8string->length == strlen(domain) &&
		    strncasecmp((const char *)v->value.utf8string->data, domain,
			strlen(domain)) == 0)
			found = 1;
	}
	ASN1_OBJECT_free(oid);
	GENERAL_NAMES_free(gens);
	return found;
}

static int
dns_names(X509 *x, const char *domain)
{
	/* a wildcard stands for one whole label; the subject CN counts
	 * only without any dNSName, as ternd picks certificates */
	return X509_check_host(x, domain, 0,
		   X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

/* The certificate ternd would serve for domain: it names it and comes
 * with its key; among those, the one that expires last. */
static const struct cert *
cert_for(const struct cert *certs, size_t n, const char *domain,
    const struct cert **keyless)
{
	const struct cert *best = NULL;
	size_t i;

	*keyless = NULL;
	for (i = 0; i < n; i++) {
		if (!dns_names(certs[i].x509, domain))
			continue;
		if (!certs[i].has_key) {
			if (*keyless == NULL)
				*keyless = &certs[i];
			continue;
		}
		if (best == NULL || certs[i].days_left > best->days_left)
			best = &certs[i];
	}
	return best;
}

static X509_STORE *
trust_store(struct check *c)
{
	const char *ca = c->cfg->s2s.ca_file;
	X509_STORE *st = X509_STORE_new();
	int rc;

	if (st == NULL)
		return NULL;
	if (ca != NULL && *ca != '\0')
		rc = X509_STORE_load_file(st, ca);
	else
		rc = X509_STORE_set_default_paths(st);
	if (rc != 1) {
		check_error(c, ca ? "s2s.ca_file" : "trust store",
		    ca ? "point s2s.ca_file at a PEM file of CA certificates"
		       : "install ca-certificates, or set s2s.ca_file",
		    "cannot load %s", ca ? ca : "the system's CA certificates");
		X509_STORE_free(st);
		ERR_clear_error();
		return NULL;
	}
	return st;
}

/* Peers verify the chain the file sends against their trust store: ours
 * is the one we know (s2s.ca_file, else the system's). Expiry is
 * reported on its own, so time is left out here. */
static const char *
chain_problem(X509_STORE *st, const struct cert *ce)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	const char *why = NULL;

	if (ctx == NULL ||
	    X509_STORE_CTX_init(ctx, st, ce->x509, ce->chain) != 1) {
		why = "cannot set up the verification";
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	if (X509_verify_cert(ctx) != 1)
		why = X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx));
out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return why;
}

static void
check_domain_cert(struct check *c, X509_STORE *st, const struct cert *certs,
    size_t n, const struct check_domain *d)
{
	const char *dir = c->cfg->tls.cert_dir, *domain = d->name, *why;
	const struct cert *ce, *keyless;
	char fix[512];
	size_t i;

	ce = cert_for(certs, n, domain, &keyless);
	if (ce == NULL && keyless != NULL) {
		snprintf(fix, sizeof(fix),
		    "put the private key of %s in it or in a .key file of "
		    "the same name beside it",
		    keyless->file);
		check_error(c, domain, fix,
		    "%s names it but its private key is missing or does "
		    "not match",
		    keyless->file);
		return;
	}
	if (ce == NULL) {
		/* a wildcard of the parent host's covers a service */
		if (d->kind == CHECK_HOST || strchr(domain, '.') == NULL)
			snprintf(fix, sizeof(fix),
			    "put a certificate whose subjectAltName has the "
			    "dNSName %s, with its key, in %s; then ternctl "
			    "reload",
			    domain, dir);
		else
			snprintf(fix, sizeof(fix),
			    "put a certificate whose subjectAltName has the "
			    "dNSName %s (or *.%s), with its key, in %s; then "
			    "ternctl reload",
			    domain, strchr(domain, '.') + 1, dir);
		for (i = 0; i < n; i++)
			if (xmpp_addr_names(certs[i].x509, domain))
				break;
		if (i < n)
			check_error(c, domain, fix,
			    "%s names it only as an xmppAddr: ternd picks "
			    "certificates by dNSName",
			    certs[i].file);
		else
			check_error(c, domain, fix,
			    "no certificate in %s names it (%zu certificate%s "
			    "there)",
			    dir, n, n == 1 ? "" : "s");
		return;
	}
	check_ok(domain, "%s (subject %s, expires %s)%s", ce->file, ce->subject,
	    ce->expiry,
	    xmpp_addr_names(ce->x509, domain) ? ", xmppAddr too" : "");
	if (ce->days_left < 0)
		check_error(c, domain,
		    "renew the certificate, put it in tls.cert_dir, then "
		    "ternctl reload",
		    "%s expired on %s", ce->file, ce->expiry);
	else if (ce->days_left < CHECK_CERT_WARN_DAYS)
		check_warn(c, domain,
		    "renew the certificate, put it in tls.cert_dir, then "
		    "ternctl reload",
		    "%s expires in %d day%s (%s)", ce->file, ce->days_left,
		    ce->days_left == 1 ? "" : "s", ce->expiry);
	if (st != NULL && (why = chain_problem(st, ce)) != NULL) {
		snprintf(fix, sizeof(fix),
		    "append the intermediate certificates to %s after the "
		    "domain's own, or use a certificate from a CA %s trusts",
		    ce->file,
		    c->cfg->s2s.ca_file ? "s2s.ca_file" : "the system");
		check_error(c, domain, fix, "%s does not verify against %s: %s",
		    ce->file,
		    c->cfg->s2s.ca_file ? c->cfg->s2s.ca_file
					: "the system's trust store",
		    why);
	}
}

void
check_certs(struct check *c)
{
	struct cert *certs = NULL;
	X509_STORE *st;
	size_t n = 0, i;

	if (c->cfg->tls.cert_dir == NULL || *c->cfg->tls.cert_dir == '\0') {
		check_error(c, "tls.cert_dir",
		    "set tls.cert_dir to the directory of the certificates",
		    "not set in %s", c->cfg->file);
		return;
	}
	if (load_certs(c, &certs, &n) < 0)
		return;
	st = trust_store(c);
	for (i = 0; i < c->ndomains; i++)
		check_domain_cert(c, st, certs, n, &c->domains[i]);
	X509_STORE_free(st);
	for (i = 0; i < n; i++) {
		free(certs[i].file);
		X509_free(certs[i].x509);
		sk_X509_pop_free(certs[i].chain, X509_free);
	}
	free(certs);
}

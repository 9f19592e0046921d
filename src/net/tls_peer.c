/* tls_peer.c: who is at the other end of a server-to-server connection.
 * The peer's chain is checked against the trust store (the system's, or
 * a CA file from the config), and its names against the domain it
 * claims: DNS-ID (RFC 6125 §6.4, wildcards one label deep), and the
 * XMPP identifiers of RFC 6120 §13.7.1.4 and RFC 7590: id-on-xmppAddr
 * and SRV-ID (_xmpp-server.<domain>). */
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "net/tls.h"

static X509_STORE *trust;

int
tls_trust_load(const char *ca_file, char *err, size_t errlen)
{
	X509_STORE *st = X509_STORE_new();
	int ok;

	if (st == NULL) {
		snprintf(err, errlen, "cannot create the trust store");
		return -1;
	}
	if (ca_file && ca_file[0])
		ok = X509_STORE_load_file(st, ca_file) == 1;
	else
		ok = X509_STORE_set_default_paths(st) == 1;
	if (!ok) {
		unsigned long e = ERR_get_error();

		snprintf(err, errlen, "s2s.ca_file %s: %s",
		    ca_file ? ca_file : "(system)",
		    e ? ERR_reason_error_string(e) : "cannot load");
		ERR_clear_error();
		X509_STORE_free(st);
		return -1;
	}
	X509_STORE_free(trust);
	trust = st;
	return 0;
}

void
tls_trust_free(void)
{
	X509_STORE_free(trust);
	trust = NULL;
}

/* An otherName of type nid holding want (xmppAddr: UTF8String of the
 * domain; SRV-ID: IA5String _xmpp-server.domain). */
static int
other_name_is(const GENERAL_NAME *g, int nid, const char *want)
{
	const OTHERNAME *o;
	const ASN1_STRING *v;

	if (g->type != GEN_OTHERNAME)
		return 0;
	o = g->d.otherName;
	if (OBJ_obj2nid(o->type_id) != nid || o->value == NULL)
		return 0;
	if (o->value->type != V_ASN1_UTF8STRING &&
	    o->value->type != V_ASN1_IA5STRING)
		return 0;
	v = o->value->value.asn1_string;
	return (size_t)ASN1_STRING_length(v) == strlen(want) &&
	       strncasecmp((const char *)ASN1_STRING_get0_data(v), want,
		   strlen(want)) == 0;
}

static int
names_domain(X509 *cert, const char *domain)
{
	GENERAL_NAMES *gens;
	char srv[300];
	int i, found = 0;

	if (X509_check_host(cert, domain, strlen(domain),
		X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1)
		return 1;
	snprintf(srv, sizeof(srv), "_xmpp-server.%s", domain);
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens && !found && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		found = other_name_is(g, NID_XmppAddr, domain) ||
			other_name_is(g, NID_SRVName, srv);
	}
	GENERAL_NAMES_free(gens);
	return found;
}

int
tls_peer_check(SSL *ssl, const char *domain, const char **why)
{
	X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	X509_STORE_CTX *sc;
	int ok;

	*why = NULL;
	if (cert == NULL) {
		*why = "no certificate";
		return 0;
	}
	if (trust == NULL) {
		*why = "no trust store";
		return 0;
	}
	sc = X509_STORE_CTX_new();
	if (sc == NULL || X509_STORE_CTX_init(sc, trust, cert,
			      SSL_get_peer_cert_chain(ssl)) != 1) {
		X509_STORE_CTX_free(sc);
		*why = "out of memory";
		return 0;
	}
	ok = X509_verify_cert(sc) == 1;
	if (!ok)
		*why =
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(sc));
	X509_STORE_CTX_free(sc);
	ERR_clear_error();
	if (ok && !names_domain(cert, domain)) {
		*why = "the certificate does not name the domain";
		ok = 0;
	}
	return ok;
}

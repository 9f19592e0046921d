/* s2s_auth.c: whom the server federates with, and dialback keys.
 *
 * Policy: s2s.blocked domains never; when s2s.allowed is not empty, only
 * those. A peer proves its domain with a certificate (PKIX and RFC 6125
 * names, checked by net/tls_peer.c) or, where s2s.secure_auth and
 * s2s.secure_domains / insecure_domains allow, by dialback.
 *
 * Keys (XEP-0185): HEX(HMAC-SHA256(SHA256(secret), receiving ' '
 * originating ' ' stream-id)), with a secret made at start. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/host.h"
#include "core/metrics.h"
#include "core/util.h"
#include "xml/xml.h"
#include "xmpp/domain.h"
#include "xmpp/router.h"
#include "xmpp/stream.h"
#include "xmpp/s2s_int.h"

/* HEX(SHA256(secret)): XEP-0185 keys the HMAC with the hex digest */
static char secret_hash[65];

static void
set_secret(const void *secret, size_t len)
{
	unsigned char md[32];
	unsigned int n = 0, i;

	EVP_Digest(secret, len, md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(secret_hash + 2 * i, 3, "%02x", md[i]);
	OPENSSL_cleanse(md, sizeof(md));
}

static int
in_list(const struct cfg_strlist *l, const char *domain)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], domain) == 0)
			return 1;
	return 0;
}

int
s2s_domain_allowed(const char *domain)
{
	const struct cfg_s2s *s = &config_running->s2s;

	if (domain == NULL || domain[0] == '\0' || in_list(&s->blocked, domain))
		return 0;
	return s->allowed.n == 0 || in_list(&s->allowed, domain);
}

int
s2s_needs_cert(const char *domain)
{
	const struct cfg_s2s *s = &config_running->s2s;

	if (in_list(&s->secure_domains, domain))
		return 1;
	if (in_list(&s->insecure_domains, domain))
		return 0;
	return s->secure_auth;
}

int
s2s_is_local(const char *name)
{
	const struct domain *d = name ? domain_find(name) : NULL;

	return d != NULL && d->kind != DOMAIN_REMOTE;
}

void
s2s_db_init(void)
{
	unsigned char secret[32];

	rand_bytes(secret, sizeof(secret));
	set_secret(secret, sizeof(secret));
	OPENSSL_cleanse(secret, sizeof(secret));
}

void
s2s_db_set_secret(const char *secret)
{
	set_secret(secret, strlen(secret));
}

void
s2s_db_key(const char *receiving, const char *originating, const char *id,
    char out[65])
{
	unsigned char md[32];
	unsigned int n = 0, i;
	char *msg = xasprintf("%s %s %s", receiving, originating, id);

	HMAC(EVP_sha256(), secret_hash, 64, (const unsigned char *)msg,
	    strlen(msg), md, &n);
	free(msg);
	for (i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

int
s2s_route_peer_stanza(struct stream *st, struct xml_node *el,
    const char *(*check)(void *ud, const char *from, const char *to), void *ud)
{
	const char *from = xml_node_attr(el, "from");
	const char *to = xml_node_attr(el, "to");
	const char *cond;
	struct jid f, t;

	if (from == NULL || to == NULL) {
		stream_fail(st, "improper-addressing", NULL);
		return -1;
	}
	if (jid_parse_str(&f, from) != 0) {
		stream_fail(st, "invalid-from", NULL);
		return -1;
	}
	if (jid_parse_str(&t, to) != 0) {
		jid_cleanup(&f);
		/* the stanza is answered; the stream goes on */
		stanza_bounce(el, "modify", "jid-malformed", NULL);
		return 0;
	}
	cond = check(ud, f.domain, t.domain);
	jid_cleanup(&t);
	if (cond) {
		jid_cleanup(&f);
		stream_fail(st, cond, NULL);
		return -1;
	}
	xml_node_set_attr(el, "from", f.full);
	metrics.s2s_in[metrics_kind(el->name)]++;
	router_route(el, &f, NULL);
	jid_cleanup(&f);
	return 0;
}

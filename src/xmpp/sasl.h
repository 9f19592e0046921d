/* sasl.h: SASL for c2s (RFC 6120 §6): SCRAM-SHA-1, SCRAM-SHA-256 and their
 * -PLUS variants with tls-exporter (RFC 9266, TLS 1.3) and
 * tls-server-end-point (RFC 5929), and PLAIN (only over TLS).
 *
 * SCRAM is written here rather than taken from GNU SASL: libgsasl 2.2 has
 * no tls-server-end-point binding and no way to make an unknown user fail
 * exactly like a wrong password (same step, same error). */
#ifndef TERN_SASL_H
#define TERN_SASL_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "core/buf.h"

struct sasl;

enum sasl_res {
	SASL_CHALLENGE, /* send out as <challenge> */
	SASL_SUCCESS,	/* send out (may be empty) as <success> */
	SASL_FAILURE,	/* send <failure><condition/></failure> */
};

/* Is mech offered on this stream (ssl NULL: no TLS)? */
int sasl_mech_available(const char *mech, SSL *ssl);
/* The same for a stream that is encrypted (secure) with or without a TLS
 * session of its own to bind to (BOSH over https has none). */
int sasl_mech_offered(const char *mech, SSL *ssl, int secure);
/* The mechanisms to advertise, in order of preference. */
const char *const *sasl_mechs(void);

/* A new exchange for the named mechanism on host, or NULL if unknown. */
struct sasl *sasl_new(const char *mech, const char *host, SSL *ssl);
struct sasl *sasl_new_secure(
    const char *mech, const char *host, SSL *ssl, int secure);
void sasl_free(struct sasl *s);
/* One step with the decoded client data. out gets the data to send
 * (raw; the caller base64-encodes). On failure *condition names the
 * RFC 6120 §6.5 condition. */
enum sasl_res sasl_step(struct sasl *s, const unsigned char *in, size_t inlen,
    struct sbuf *out, const char **condition);
/* The authenticated local part, valid after SASL_SUCCESS. */
const char *sasl_user(const struct sasl *s);
const char *sasl_mech(const struct sasl *s);
/* The last failure refused the client's channel-binding choice (a type
 * not defined on this TLS version, or the 'y' downgrade flag) before
 * any password proof was checked. slixmpp, for one, binds with
 * tls-unique on TLS 1.3 and then walks down its mechanism list. */
int sasl_cb_refused(const struct sasl *s);
/* The local part from a SASL authcid: SASLprep, then nodeprep. 0 ok. */
int sasl_prep_user(const char *in, char *out, size_t outlen);
/* How many such refusals one connection gets: one per mechanism. */
#define SASL_CB_REFUSALS_MAX 4

#endif

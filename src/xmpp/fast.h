/* fast.h: XEP-0484 Fast Authentication Streamlining Tokens. A client
 * that logged in with a password through SASL2 may ask for a token; it
 * logs in later with HT-SHA-256-* (draft-schmaus-kitten-sasl-ht): one
 * message, an HMAC of the token over the channel binding, no key
 * derivation. Tokens live per account and user agent in keyval store
 * "fast", each tied to the account's password (a new password
 * invalidates them). */
#ifndef TERN_FAST_H
#define TERN_FAST_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#define FAST_NS "urn:xmpp:fast:0"
#define FAST_UAID_MAX 128
#define FAST_TOKEN_B64 44 /* 32 random bytes in base64, without NUL */

/* The mechanisms to advertise on this TLS session (NULL-terminated;
 * out has room for 4). */
size_t fast_mechs(SSL *ssl, const char *out[4]);
/* Is mech one of them? */
int fast_mech_offered(const char *mech, SSL *ssl);
/* A user agent id fit to key a token: printable, no spaces, capped. */
int fast_uaid_ok(const char *uaid);

struct fast_login {
	const char *host;
	SSL *ssl;
	const char *mech;
	const char *uaid; /* <user-agent id=...> */
	long long count;  /* <fast count=...>, -1 when absent */
	int invalidate;	  /* <fast invalidate='true'/> */
};
/* Check the initial response (authcid NUL HMAC). 0: user (buffer of
 * JID_PART_MAX+1) logged in and final (32 bytes) holds the server's
 * HMAC for <additional-data>; -1: *cond says why not. */
int fast_login(const struct fast_login *l, const unsigned char *in, size_t len,
    char *user, unsigned char final[32], const char **cond);
/* A new token for user on this user agent; the previous one stays valid
 * until the new one is used (rotation). token: FAST_TOKEN_B64 + 1. */
int fast_issue(const char *host, const char *user, const char *uaid,
    char *token, int64_t *expiry);

#endif

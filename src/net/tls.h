/* tls.h: TLS server contexts (OpenSSL 3). Certificates are scanned from a
 * directory at start and on reload and matched to names by subjectAltName
 * (wildcards one label deep); SNI selects among them. */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

struct config;

/* (Re)load every certificate in config's cert_dir. On failure the
 * previous set stays in use and -1 is returned with err filled. */
int tls_load(const struct config *c, char *err, size_t errlen);
void tls_shutdown(void);

/* The context for a connection expected to serve name (NULL: default). */
SSL_CTX *tls_ctx_for(const char *name);
/* Offer proto by ALPN (RFC 7301) on Direct TLS connections, after
 * xmpp-client. */
void tls_alpn_offer(const char *proto);
/* The client context for outgoing server-to-server connections from
 * local (our certificate for local goes with it). */
SSL_CTX *tls_client_ctx(const char *local);
/* The store peers' certificates are checked against: ca_file, or the
 * system's when NULL or empty. -1 with err on failure (the old one stays). */
int tls_trust_load(const char *ca_file, char *err, size_t errlen);
void tls_trust_free(void);
/* Does the peer's certificate chain to the trust store and name domain
 * (RFC 6125 DNS-ID, xmppAddr, SRV-ID)? 1 yes; 0 no, with why. */
int tls_peer_check(SSL *ssl, const char *domain, const char **why);
/* Does some certificate cover name? */
int tls_covers(const char *name);

/* Channel bindings (RFC 5929, RFC 9266). Return the length written to out
 * (at most outlen), or -1 when unavailable. */
int tls_cb_exporter(SSL *ssl, unsigned char *out, size_t outlen);
int tls_cb_server_end_point(SSL *ssl, unsigned char *out, size_t outlen);
int tls_is_13(SSL *ssl);
/* tls-unique (RFC 5929 §3): the first Finished message of the handshake,
 * as clients compute it (CPython, libstrophe) on any TLS version. */
int tls_cb_unique(SSL *ssl, unsigned char *out, size_t outlen);

#endif

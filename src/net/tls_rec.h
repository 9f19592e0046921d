/* tls_rec.h: the TLS 1.3 record layer of an established connection,
 * without OpenSSL's SSL object.
 *
 * An SSL object costs about 13 KiB for as long as the connection lives
 * (the object itself, its session, handshake digest, key share, cipher
 * contexts), most of it needed only for the handshake. Once a client
 * stream is bound and idle, conn.c can let OpenSSL go and carry on with
 * what TLS 1.3 needs after the handshake (RFC 8446 §5): AEAD records
 * under the application traffic secrets, KeyUpdate, close_notify. The
 * secrets come from OpenSSL's key log callback and the record sequence
 * numbers from its message callback (one call per record header), so
 * the state handed over is exactly OpenSSL's; the AEAD itself is
 * OpenSSL's (EVP). A connection whose state cannot be followed (TLS 1.2,
 * another cipher suite, an alert, data still buffered) keeps its SSL
 * object.
 *
 * Idle, a light connection holds its secrets and sequence numbers
 * (about 250 bytes); cipher contexts exist while it is busy and a
 * partial record or unsent bytes only while there are some. */
#ifndef TERN_TLS_REC_H
#define TERN_TLS_REC_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

struct conn;

#define TLS_REC_MAX_PLAIN 16384
/* a record's header, inner type, tag and the padding we accept */
#define TLS_REC_MAX_WIRE (5 + TLS_REC_MAX_PLAIN + 256)

struct tls_rec_dir {
	unsigned char secret[48];
	unsigned char key[32];
	unsigned char iv[12];
	uint64_t seq;	     /* records under the current secret */
	EVP_CIPHER_CTX *ctx; /* while busy (tls_rec_sweep frees it) */
	unsigned have : 1;   /* secret known */
};

struct tls_rec {
	const struct tls_rec_suite *suite;
	struct tls_rec_dir rd, wr;
	unsigned no_light : 1; /* something we do not follow happened */
	unsigned busy : 1;     /* used since the last sweep */
	unsigned ku_reply : 1; /* our KeyUpdate is owed (§4.6.3) */
	/* received bytes short of a whole record (or left by a pause) */
	unsigned char *in;
	size_t in_len;
	/* records made but not yet written */
	unsigned char *out;
	size_t out_len, out_off;
};

/* Install the key log and message callbacks on a server context. */
void tls_rec_ctx_setup(SSL_CTX *ctx);
/* Can c's TLS state go over now (TLS 1.3, known suite, nothing buffered
 * in OpenSSL)? Then derive the keys and return 0; the caller frees the
 * SSL object. -1: not now (data buffered, an update under way); -2:
 * never (TLS 1.2, another suite, an alert). */
int tls_rec_take(struct conn *c);
/* Decrypt the record at p (whole: n >= tls_rec_need(p)). Returns the
 * inner content type (23 data, 22 handshake, 21 alert) with the
 * plaintext at *out (in place) and its length at *outlen, or -1 (bad
 * record: the connection must close). */
int tls_rec_open(struct tls_rec *r, unsigned char *p, size_t n,
    unsigned char **out, size_t *outlen);
/* Bytes of the record starting at p (5 of header at least), 0 when
 * fewer than 5 are there, -1 when the header is not an application
 * data record of an acceptable size. */
long tls_rec_need(const unsigned char *p, size_t n);
/* Seal the n plaintext bytes at out + 5 (n <= TLS_REC_MAX_PLAIN) of
 * inner type into one record at out (room for n + 22): returns its
 * length or -1. */
long tls_rec_seal(struct tls_rec *r, int type, unsigned char *out, size_t n);
/* The peer's handshake record after the handshake: a KeyUpdate moves
 * the read secret on; *reply is set when ours must follow (the caller
 * seals a KeyUpdate and then calls tls_rec_write_update). -1:
 * anything else (unexpected_message). */
int tls_rec_handshake(
    struct tls_rec *r, const unsigned char *p, size_t n, int *reply);
/* Move the write secret on, after our KeyUpdate record was sealed. */
int tls_rec_write_update(struct tls_rec *r);
/* Free the cipher contexts of a connection idle since the last call;
 * 1 when it still has some. */
int tls_rec_sweep(struct tls_rec *r);
void tls_rec_free(struct tls_rec *r);

#endif

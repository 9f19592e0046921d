/* test_tls_rec.c: net/tls_rec.c against OpenSSL as the peer. A server
 * SSL with tern's callbacks and an OpenSSL client shake hands over
 * memory BIOs and exchange records; then the server's SSL object is
 * freed and tls_rec carries on: the client (real OpenSSL, with its own
 * keys and sequence numbers) must read what tls_rec seals and the other
 * way round, through KeyUpdates in both directions (RFC 8446 §4.6.3).
 * A changed byte or a record out of place is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/conn.h"
#include "net/tls_rec.h"

struct pair {
	SSL_CTX *sctx, *cctx;
	SSL *s, *c;
	BIO *s_in, *s_out, *c_in, *c_out; /* each side's read/write BIO */
	struct conn conn;		  /* what tls_rec hangs on */
};

static SSL_CTX *
server_ctx(const char *suites)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();

	assert_non_null(ctx);
	assert_non_null(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, k), 1);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_num_tickets(ctx, 1);
	if (suites)
		SSL_CTX_set_ciphersuites(ctx, suites);
	tls_rec_ctx_setup(ctx);
	X509_free(x);
	EVP_PKEY_free(k);
	return ctx;
}

/* Move what one side wrote to the other; 1 if anything moved. */
static int
shuttle(BIO *from, BIO *to)
{
	char b[65536];
	int n, moved = 0;

	while ((n = BIO_read(from, b, sizeof(b))) > 0) {
		assert_int_equal(BIO_write(to, b, n), n);
		moved = 1;
	}
	return moved;
}

static void
pair_new(struct pair *p, const char *suites)
{
	int i, sd = 0, cd = 0;

	memset(p, 0, sizeof(*p));
	p->sctx = server_ctx(suites);
	p->cctx = SSL_CTX_new(TLS_client_method());
	p->s = SSL_new(p->sctx);
	p->c = SSL_new(p->cctx);
	p->s_in = BIO_new(BIO_s_mem());
	p->s_out = BIO_new(BIO_s_mem());
	p->c_in = BIO_new(BIO_s_mem());
	p->c_out = BIO_new(BIO_s_mem());
	SSL_set_bio(p->s, p->s_in, p->s_out);
	SSL_set_bio(p->c, p->c_in, p->c_out);
	SSL_set_accept_state(p->s);
	SSL_set_connect_state(p->c);
	p->conn.ssl = p->s;
	SSL_set_app_data(p->s, &p->conn);
	for (i = 0; i < 20 && !(sd && cd); i++) {
		cd = SSL_do_handshake(p->c) == 1;
		shuttle(p->c_out, p->s_in);
		sd = SSL_do_handshake(p->s) == 1;
		shuttle(p->s_out, p->c_in);
	}
	assert_true(sd && cd);
}

/* The client sends text through OpenSSL; the server reads it through
 * OpenSSL (before the hand-over). */
static void
c_to_s_openssl(struct pair *p, const char *text)
{
	char b[256];
	int n;

	assert_int_equal(SSL_write(p->c, text, (int)strlen(text)),
	    (int)strlen(text));
	shuttle(p->c_out, p->s_in);
	n = SSL_read(p->s, b, sizeof(b));
	assert_int_equal(n, (int)strlen(text));
	assert_memory_equal(b, text, (size_t)n);
	SSL_write(p->s, "ok", 2);
	shuttle(p->s_out, p->c_in);
	assert_int_equal(SSL_read(p->c, b, sizeof(b)), 2);
}

/* What the client's OpenSSL wrote, opened by tls_rec: the records'
 * plaintexts in order, handshake records handled (*reply set when a
 * KeyUpdate asks for ours). */
static size_t
s_open_all(struct pair *p, unsigned char *out, size_t max, int *reply)
{
	static unsigned char wire[2 * TLS_REC_MAX_WIRE];
	size_t have = 0, got = 0;
	int n;

	while ((n = BIO_read(p->c_out, wire + have,
		    (int)(sizeof(wire) - have))) > 0) {
		size_t pos = 0;

		have += (size_t)n;
		for (;;) {
			long need = tls_rec_need(wire + pos, have - pos);
			unsigned char *pt;
			size_t len;
			int type;

			assert_true(need >= 0);
			if (need == 0 || (size_t)need > have - pos)
				break;
			type = tls_rec_open(p->conn.rec, wire + pos,
			    (size_t)need, &pt, &len);
			pos += (size_t)need;
			if (type == 22) {
				assert_int_equal(tls_rec_handshake(p->conn.rec,
						     pt, len, reply),
				    0);
				continue;
			}
			assert_int_equal(type, 23);
			assert_true(got + len <= max);
			memcpy(out + got, pt, len);
			got += len;
		}
		memmove(wire, wire + pos, have - pos);
		have -= pos;
	}
	assert_int_equal(have, 0);
	return got;
}

static void
s_seal(struct pair *p, int type, const void *data, size_t n)
{
	static unsigned char rec[5 + TLS_REC_MAX_PLAIN + 1 + 16];
	long len;

	memcpy(rec + 5, data, n);
	len = tls_rec_seal(p->conn.rec, type, rec, n);
	assert_true(len > 0);
	assert_int_equal(BIO_write(p->c_in, rec, (int)len), (int)len);
}

static void
pair_free(struct pair *p)
{
	if (p->conn.ssl)
		SSL_free(p->conn.ssl);
	SSL_free(p->c);
	SSL_CTX_free(p->sctx);
	SSL_CTX_free(p->cctx);
	tls_rec_free(p->conn.rec);
}

static void
hand_over(struct pair *p)
{
	assert_int_equal(tls_rec_take(&p->conn), 0);
	SSL_free(p->conn.ssl);
	p->conn.ssl = NULL;
}

static void
both_ways(struct pair *p, size_t size)
{
	unsigned char *buf = malloc(size), *got = malloc(size + 16);
	size_t i, n, off;
	int reply = 0;

	for (i = 0; i < size; i++)
		buf[i] = (unsigned char)(i * 7 + size);
	/* client (OpenSSL) -> tls_rec, in records of up to 16 KiB */
	for (off = 0; off < size; off += (size_t)n) {
		n = size - off > 16384 ? 16384 : size - off;
		assert_int_equal(
		    SSL_write(p->c, buf + off, (int)n), (int)n);
	}
	assert_int_equal(s_open_all(p, got, size + 16, &reply), size);
	assert_memory_equal(got, buf, size);
	assert_int_equal(reply, 0);
	/* tls_rec -> client (OpenSSL) */
	for (off = 0; off < size; off += n) {
		n = size - off > TLS_REC_MAX_PLAIN ? TLS_REC_MAX_PLAIN
						   : size - off;
		s_seal(p, 23, buf + off, n);
	}
	for (off = 0; off < size;) {
		int r = SSL_read(p->c, got + off, (int)(size - off));

		assert_true(r > 0);
		off += (size_t)r;
	}
	assert_memory_equal(got, buf, size);
	free(buf);
	free(got);
}

static void
run_suite(const char *suites, int update_first)
{
	struct pair p;
	unsigned char got[64];
	char b[16];
	int reply = 0;

	pair_new(&p, suites);
	/* OpenSSL carries a few records (and a KeyUpdate) first: the
	 * counts (and the updated secrets) must follow */
	c_to_s_openssl(&p, "hello");
	if (update_first)
		assert_int_equal(
		    SSL_key_update(p.c, SSL_KEY_UPDATE_REQUESTED), 1);
	c_to_s_openssl(&p, "after an update");
	c_to_s_openssl(&p, "and more");
	hand_over(&p);
	both_ways(&p, 1);
	both_ways(&p, 100000);
	/* the client updates its keys and asks for ours */
	assert_int_equal(SSL_key_update(p.c, SSL_KEY_UPDATE_REQUESTED), 1);
	assert_int_equal(SSL_write(p.c, "x", 1), 1);
	assert_int_equal(s_open_all(&p, got, sizeof(got), &reply), 1);
	assert_int_equal(reply, 1);
	{
		static const unsigned char ku[5] = { 24, 0, 0, 1, 0 };

		s_seal(&p, 22, ku, sizeof(ku));
		assert_int_equal(tls_rec_write_update(p.conn.rec), 0);
	}
	s_seal(&p, 23, "y", 1);
	assert_int_equal(SSL_read(p.c, b, sizeof(b)), 1);
	assert_int_equal(b[0], 'y');
	both_ways(&p, 20000);
	/* idle: the contexts go, and come back when used */
	assert_int_equal(tls_rec_sweep(p.conn.rec), 1);
	assert_int_equal(tls_rec_sweep(p.conn.rec), 0);
	both_ways(&p, 10);
	pair_free(&p);
}

static void
test_aes128gcm(void **state)
{
	(void)state;
	run_suite("TLS_AES_128_GCM_SHA256", 0);
	run_suite("TLS_AES_128_GCM_SHA256", 1);
}

static void
test_aes256gcm(void **state)
{
	(void)state;
	run_suite("TLS_AES_256_GCM_SHA384", 1);
}

static void
test_chacha20(void **state)
{
	(void)state;
	run_suite("TLS_CHACHA20_POLY1305_SHA256", 0);
}

static void
test_refused(void **state)
{
	static unsigned char wire[1024];
	struct pair p;
	unsigned char *pt;
	size_t len;
	int n, reply = 0;

	(void)state;
	pair_new(&p, NULL);
	c_to_s_openssl(&p, "x");
	hand_over(&p);
	/* one byte changed: bad_record_mac */
	assert_int_equal(SSL_write(p.c, "secret", 6), 6);
	n = BIO_read(p.c_out, wire, sizeof(wire));
	assert_true(n > 5);
	wire[n - 1] ^= 1;
	assert_int_equal(tls_rec_open(p.conn.rec, wire, (size_t)n, &pt, &len),
	    -1);
	/* headers: not application_data, too long, too short, incomplete */
	assert_int_equal(tls_rec_need((const unsigned char *)"\x16\x03\x03"
							     "\x00\x20",
			     5),
	    -1);
	assert_int_equal(tls_rec_need((const unsigned char *)"\x17\x03\x03"
							     "\x41\x01",
			     5),
	    -1);
	assert_int_equal(tls_rec_need((const unsigned char *)"\x17\x03\x03"
							     "\x00\x10",
			     5),
	    -1);
	assert_int_equal(tls_rec_need((const unsigned char *)"\x17\x03", 2), 0);
	assert_int_equal(tls_rec_need((const unsigned char *)"\x17\x03\x03"
							     "\x00\x20",
			     5),
	    37);
	/* a handshake message other than KeyUpdate after the handshake */
	{
		static const unsigned char nst[5] = { 4, 0, 0, 1, 0 };

		assert_int_equal(
		    tls_rec_handshake(p.conn.rec, nst, sizeof(nst), &reply),
		    -1);
	}
	pair_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aes128gcm),
		cmocka_unit_test(test_aes256gcm),
		cmocka_unit_test(test_chacha20),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

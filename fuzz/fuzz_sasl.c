/* fuzz_sasl.c: libFuzzer target for the SASL servers. The first byte picks
 * the mechanism; the rest is up to three client messages separated by the
 * two bytes 0xff 0xfe. Runs against a real SQLite store holding one
 * account, so the account lookups are exercised too. */
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "store/store.h"
#include "xmpp/account.h"
#include "xmpp/sasl.h"

static SSL *ssl;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/tern-fuzz-sasl-XXXXXX", err[256];
	SSL_CTX *ctx;
	int fd;

	(void)argc;
	(void)argv;
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	unlink(path);
	store_main = store_open("sqlite", path, err, sizeof(err));
	if (store_main == NULL || account_create("localhost", "user",
	    "pencil") != 0)
		abort();
	store_commit();
	ctx = SSL_CTX_new(TLS_server_method());
	ssl = SSL_new(ctx);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const mechs[] = { "SCRAM-SHA-1", "SCRAM-SHA-256",
		"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "PLAIN" };
	struct sasl *s;
	size_t i, start;
	int steps = 0;

	if (size < 1)
		return 0;
	s = sasl_new(mechs[data[0] % 5], "localhost", data[0] & 0x80 ?
	    ssl : NULL);
	if (s == NULL)
		return 0;
	start = 1;
	for (i = 1; i <= size && steps < 3; i++) {
		if (i == size || (i + 1 < size && data[i] == 0xff &&
		    data[i + 1] == 0xfe)) {
			struct sbuf out;
			const char *cond = NULL;
			enum sasl_res r;

			sbuf_init(&out);
			r = sasl_step(s, data + start, i - start, &out, &cond);
			sbuf_cleanup(&out);
			steps++;
			if (r != SASL_CHALLENGE)
				break;
			start = i + 2;
			i++;
		}
	}
	sasl_free(s);
	return 0;
}

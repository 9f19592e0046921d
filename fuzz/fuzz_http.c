/* fuzz_http.c: libFuzzer target for the HTTP/1.1 request path (net/http.c
 * over libhttp-parser): parsing, limits, routing, chunked bodies and the
 * answers, on a connection with no socket.
 *
 * Input: byte 0 is the chunk size the rest is fed in (0: at once); the
 * rest is what a client sends. It is run twice, at once and in chunks,
 * and both runs must write the same bytes (Date lines aside) and agree
 * on closing: the parser resumes anywhere in a buffer. Every answer
 * starts with a status line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "net/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sbuf body;

static int
take(struct http_req *r, const char *p, size_t n)
{
	(void)r;
	/* the same bytes however the body was split */
	if (body.len < 4096)
		sbuf_append(
		    &body, p, n < 4096 - body.len ? n : 4096 - body.len);
	return 0;
}

static void
done(struct http_req *r)
{
	http_respond(
	    r, 201, "text/plain", body.data ? body.data : "", body.len);
	sbuf_reset(&body);
}

static void
handler(struct http_req *r)
{
	if (strncmp(r->path, "/up", 3) == 0) {
		http_add_header(r, "X-Path: %zu", strlen(r->path));
		http_req_take_body(r, take, done, 1000);
		return;
	}
	if (r->query && strcmp(r->query, "err") == 0) {
		http_error(r, 503);
		return;
	}
	http_respond(r, 200, "text/plain", r->path, strlen(r->path));
}

static void
blank_dates(struct sbuf *b)
{
	char *d;

	if (b->data == NULL)
		return;
	for (d = strstr(b->data, "Date: "); d; d = strstr(d + 1, "Date: "))
		if ((size_t)(d - b->data) + 35 <= b->len)
			memset(d + 6, 'x', 29);
}

static int
feed(const uint8_t *p, size_t n, size_t step, struct sbuf *out)
{
	struct http_conn *hc = http_test_conn_new(0, out);
	size_t i;
	int closed;

	if (step == 0)
		step = n ? n : 1;
	for (i = 0; i < n; i += step)
		http_test_conn_feed(
		    hc, (const char *)p + i, i + step > n ? n - i : step);
	closed = http_test_conn_closed(hc);
	http_test_conn_free(hc);
	sbuf_reset(&body);
	blank_dates(out);
	return closed;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct sbuf a, b;
	int ca, cb;

	if (!init) {
		sbuf_init(&body);
		http_route_add(NULL, "/", handler, NULL);
		init = 1;
	}
	if (size < 1)
		return 0;
	sbuf_init(&a);
	sbuf_init(&b);
	ca = feed(data + 1, size - 1, 0, &a);
	cb = feed(data + 1, size - 1, data[0], &b);
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0) ||
	    ca != cb)
		abort();
	if (a.len && strncmp(a.data, "HTTP/1.1 ", 9) != 0)
		abort();
	sbuf_cleanup(&a);
	sbuf_cleanup(&b);
	return 0;
}

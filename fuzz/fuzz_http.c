/* fuzz_http.c: libFuzzer target for the HTTP/1.1 request path (net/http.c
 * over libhttp-parser): parsing, limits, routing, chunked bodies,
 * protocol switches and the answers, on a connection with no socket.
 *
 * Input: byte 0 is the chunk size the rest is fed in (0: at once); the
 * rest is what a client sends. It is run twice, at once and in chunks,
 * and both runs must write the same bytes (Date lines aside) and agree
 * on closing: the parser resumes anywhere in a buffer. One difference
 * is allowed: the last answer of two closed connections may be another
 * 4xx. A limit is checked as the parser hands over a token's bytes, and
 * it hands over a token cut by the end of a read at once, but a whole
 * token only when it ends: in chunks a limit can be crossed before the
 * bad byte after it is seen (431), at once the bad byte comes first
 * (400). Both runs hand the same bytes over after a switch (101). Every
 * answer starts with a status line. */
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

static size_t switched;

static void
on_switch(void *arg, struct conn *c, const char *rest, size_t n)
{
	(void)arg;
	(void)c;
	(void)rest;
	switched += n;
}

static void
handler(struct http_req *r)
{
	if (r->upgrade && strcmp(r->path, "/ws") == 0) {
		http_add_header(r, "Upgrade: x");
		http_respond(r, 101, NULL, NULL, 0);
		http_req_upgrade(r, on_switch, NULL);
		return;
	}
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

/* Every Date value blanked: the clock may tick between the two runs.
 * The output holds echoed bodies, NUL bytes included: memmem, not
 * strstr, or a Date after a NUL is missed. */
static void
blank_dates(struct sbuf *b)
{
	char *d, *end;

	if (b->data == NULL)
		return;
	end = b->data + b->len;
	for (d = memmem(b->data, b->len, "Date: ", 6); d;
	     d = memmem(d + 1, (size_t)(end - d - 1), "Date: ", 6))
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
	closed = http_test_conn_closed(hc) + 2 * (int)(switched % 1000);
	switched = 0;
	http_test_conn_free(hc);
	sbuf_reset(&body);
	blank_dates(out);
	return closed;
}

static const char *
last_answer(const struct sbuf *b)
{
	const char *p = b->data, *last = NULL;

	while (p && (p = strstr(p, "HTTP/1.1 ")) != NULL)
		last = p++;
	return last;
}

/* Same bytes, or the same up to a last 4xx of closed connections. */
static int
agree(const struct sbuf *a, int ca, const struct sbuf *b, int cb)
{
	const char *la, *lb;

	if (ca != cb)
		return 0;
	if (a->len == b->len &&
	    (a->len == 0 || memcmp(a->data, b->data, a->len) == 0))
		return 1;
	if (!ca || a->data == NULL || b->data == NULL)
		return 0;
	la = last_answer(a);
	lb = last_answer(b);
	return la && lb && la - a->data == lb - b->data &&
	       memcmp(a->data, b->data, (size_t)(la - a->data)) == 0 &&
	       la[9] == '4' && lb[9] == '4';
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
	if (!agree(&a, ca, &b, cb))
		abort();
	if (a.len && strncmp(a.data, "HTTP/1.1 ", 9) != 0)
		abort();
	sbuf_cleanup(&a);
	sbuf_cleanup(&b);
	return 0;
}

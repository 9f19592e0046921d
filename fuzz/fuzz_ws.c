/* fuzz_ws.c: libFuzzer target for XMPP over WebSocket (xmpp/websocket.c
 * over wslay): client frames (masking, fragments, control frames, close
 * codes, the message size limit) and the RFC 7395 framing (<open/> into
 * a stream header, <close/> into its end tag), on a WebSocket with no
 * socket and no stream (ws_test_new).
 *
 * Input: byte 0 is the chunk size the rest is fed in (0: at once); byte
 * 1 bit 0 picks the outgoing path instead: the rest is one serialised
 * element that ws_write frames (made standalone). Otherwise the rest is
 * what a client sends after the handshake. It is run twice, at once and
 * in chunks, and both runs must write the same frames, hand the same
 * bytes to the stream and agree on closing. A stream header made from
 * an <open/> must be one the stream parser accepts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "xml/xml.h"
#include "xmpp/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STANZA 4096

static int
feed(const uint8_t *p, size_t n, size_t step, struct sbuf *out, struct sbuf *in)
{
	struct ws *w = ws_test_new(MAX_STANZA, out, in);
	size_t i;
	int closed;

	if (step == 0)
		step = n ? n : 1;
	for (i = 0; i < n; i += step)
		ws_test_feed(
		    w, (const char *)p + i, i + step > n ? n - i : step);
	closed = ws_test_closed(w);
	ws_test_free(w);
	return closed;
}

static int opened;

static void
on_open(void *ud, struct xml_node *root, const char *content_ns)
{
	(void)ud;
	(void)root;
	(void)content_ns;
	opened = 1;
}

static void
on_stanza(void *ud, struct xml_node *el)
{
	(void)ud;
	xml_node_free(el);
}

static void
on_close(void *ud)
{
	(void)ud;
}

static const struct xml_stream_cb cbs = { on_open, on_stanza, on_close };

/* Does the input start with a whole text frame holding an <open? */
static int
opens(const uint8_t *p, size_t n)
{
	static const char o[] = "<open";
	size_t len, i;

	if (n < 6 || p[0] != 0x81 || (p[1] & 0x80) == 0)
		return 0;
	len = p[1] & 0x7f;
	if (len >= 126 || len < sizeof(o) - 1 || n < 6 + len)
		return 0;
	for (i = 0; i < sizeof(o) - 1; i++)
		if ((p[6 + i] ^ p[2 + i % 4]) != (uint8_t)o[i])
			return 0;
	return 1;
}

/* What open_frame makes of an <open/>: that header alone must parse as
 * one (the stream parser reports no error and opens the stream). */
static void
check_header(const struct sbuf *in)
{
	static const char head[] = "<stream:stream xmlns='jabber:client'";
	struct xml_limits lim = { MAX_STANZA, 16, 16, MAX_STANZA, 0 };
	struct xml_stream *s;
	const char *end;
	size_t used;

	if (in->len < sizeof(head) ||
	    memcmp(in->data, head, sizeof(head) - 1) != 0)
		return;
	end = memchr(in->data, '>', in->len);
	if (end == NULL)
		abort();
	s = xml_stream_new(&cbs, NULL, &lim);
	opened = 0;
	if (xml_stream_feed(s, in->data, (size_t)(end + 1 - in->data), &used) !=
		XML_OK ||
	    !opened)
		abort();
	xml_stream_free(s);
}

/* One unmasked text frame holding the element, with its declaration. */
static void
outgoing(const uint8_t *p, size_t n)
{
	struct sbuf out, in;
	struct ws *w;
	size_t len, at;
	const uint8_t *o;

	sbuf_init(&out);
	sbuf_init(&in);
	w = ws_test_new(MAX_STANZA, &out, &in);
	if (ws_test_write(w, (const char *)p, n) != 0)
		abort();
	ws_test_free(w);
	o = (const uint8_t *)out.data;
	if (out.len < 2 || o[0] != 0x81 || (o[1] & 0x80))
		abort();
	len = o[1] & 0x7f;
	at = 2;
	if (len == 126) {
		len = (size_t)o[2] << 8 | o[3];
		at = 4;
	} else if (len == 127) {
		abort(); /* the input is far smaller */
	}
	if (at + len != out.len || len < n || in.len != 0)
		abort();
	sbuf_cleanup(&out);
	sbuf_cleanup(&in);
}

/* Drop the pong frames from a server's output (frames are whole). */
static void
drop_pongs(struct sbuf *b)
{
	size_t i = 0, o = 0, len, at;
	const uint8_t *p = (const uint8_t *)b->data;

	while (i + 2 <= b->len) {
		len = p[i + 1] & 0x7f;
		at = 2;
		if (len == 126) {
			len = (size_t)p[i + 2] << 8 | p[i + 3];
			at = 4;
		} else if (len == 127) {
			abort(); /* never from MAX_STANZA messages */
		}
		if ((p[i] & 0x0f) != 0x0a) {
			memmove(b->data + o, b->data + i, at + len);
			o += at + len;
		}
		i += at + len;
	}
	if (i != b->len)
		abort(); /* a cut frame */
	b->len = o;
}

static int
same(const struct sbuf *a, const struct sbuf *b)
{
	return a->len == b->len &&
	       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* Cut the output at its first close frame: 1 if there was one. */
static int
cut_at_close(struct sbuf *b)
{
	const uint8_t *p = (const uint8_t *)b->data;
	size_t i = 0, len, at;

	while (i + 2 <= b->len) {
		if ((p[i] & 0x0f) == 0x08) {
			b->len = i;
			return 1;
		}
		len = p[i + 1] & 0x7f;
		at = len == 126 ? 4 : 2;
		if (len == 126)
			len = (size_t)p[i + 2] << 8 | p[i + 3];
		i += at + len;
	}
	return 0;
}

/* What a run did, for the report of a disagreement. */
static void
dump(
    const char *what, int closed, const struct sbuf *out, const struct sbuf *in)
{
	size_t i;

	fprintf(stderr, "%s: closed %d, out", what, closed);
	for (i = 0; i < out->len; i++)
		fprintf(stderr, " %02x", (unsigned char)out->data[i]);
	fprintf(stderr, ", in %zu bytes: %.*s\n", in->len, (int)in->len,
	    in->data ? in->data : "");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbuf oa, ia, ob, ib;
	int ca, cb;

	if (size < 2)
		return 0;
	if (data[1] & 1) {
		if (size - 2 < 60000)
			outgoing(data + 2, size - 2);
		return 0;
	}
	sbuf_init(&oa);
	sbuf_init(&ia);
	sbuf_init(&ob);
	sbuf_init(&ib);
	ca = feed(data + 2, size - 2, 0, &oa, &ia);
	cb = feed(data + 2, size - 2, data[0], &ob, &ib);
	/* How wslay 1.1.1 ends a connection can depend on how the bytes
	 * were split (not on Tern's code): it checks the UTF-8 of a close
	 * frame's reason from byte 2 of each piece it reads rather than of
	 * the payload (1007, 1002, or the close echoed), and it drops the
	 * pongs it has queued when a later frame of the same read fails
	 * the connection. So when either run sent a close frame, the runs
	 * must agree up to it, pongs aside; the stream must always get the
	 * same bytes. */
	if (!same(&oa, &ob) || ca != cb) {
		int xa = cut_at_close(&oa), xb = cut_at_close(&ob);

		if (xa || xb) {
			drop_pongs(&oa);
			drop_pongs(&ob);
			ca = cb;
		}
	}
	if (!same(&ia, &ib) || !same(&oa, &ob) || ca != cb) {
		dump("at once", ca, &oa, &ia);
		dump("in chunks", cb, &ob, &ib);
		abort();
	}
	if (opens(data + 2, size - 2))
		check_header(&ia);
	sbuf_cleanup(&oa);
	sbuf_cleanup(&ia);
	sbuf_cleanup(&ob);
	sbuf_cleanup(&ib);
	return 0;
}

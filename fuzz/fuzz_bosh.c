/* fuzz_bosh.c: libFuzzer target for XMPP over BOSH (xmpp/bosh.c): what
 * the /http-bind handler does with a POST body apart from its sessions.
 * The input is the body. bosh_parse_body takes the <body/> wrapper
 * (XEP-0124 §4) or refuses it; bosh_attrs reads sid, rid, wait, type,
 * to, xml:lang, xmpp:version and xmpp:restart from it. Then:
 *  - wait is within 1..60 and a rid below 2^53 (§14.1) has its
 *    successor in the window (§14.2) and is not in its own;
 *  - the stream header made from to and xml:lang (as at creation and
 *    restart) opens a stream in the stream parser, and every payload
 *    element bosh_next_stanza serialises parses on that stream as one
 *    stanza, never in the httpbind namespace (XEP-0206 §6);
 *  - those elements made standalone (stream_standalone, as bosh_write
 *    does) inside an answer from bosh_wrap (with the creation
 *    attributes and terminate when type='terminate') parse back as a
 *    <body/> with as many children. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "xml/xml.h"
#include "xmpp/bosh.h"
#include "xmpp/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NS_BOSH "http://jabber.org/protocol/httpbind"
#define MAX_BODY 65536

static int opened, stanzas, bad_ns;

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
	stanzas++;
	if (el->ns && strcmp(el->ns, NS_BOSH) == 0)
		bad_ns = 1;
	xml_node_free(el);
}

static void
on_close(void *ud)
{
	(void)ud;
}

static const struct xml_stream_cb cbs = { on_open, on_stanza, on_close };

static void
fail(const char *what, const struct sbuf *s)
{
	fprintf(stderr, "fuzz_bosh: %s: %.*s\n", what, s ? (int)s->len : 0,
	    s && s->data ? s->data : "");
	abort();
}

static void
check_attrs(const struct bosh_attrs *a)
{
	if (a->wait < 1 || a->wait > 60)
		fail("wait out of range", NULL);
	if (a->rid && a->rid_n < (UINT64_C(1) << 53) &&
	    (!bosh_rid_in_window(a->rid_n, a->rid_n + 1) ||
		bosh_rid_in_window(a->rid_n, a->rid_n)))
		fail("rid window", NULL);
	if (a->terminate && a->type == NULL)
		fail("terminate without type", NULL);
	if (a->hold < -1 || a->hold > 1000 || (a->ack == NULL && a->ack_n))
		fail("hold or ack", NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xml_limits lim = { 4 * MAX_BODY, 300, 300, 4 * MAX_BODY, 0 };
	struct xml_node *body, *c = NULL;
	struct bosh_attrs a;
	struct sbuf h, s, out, first, answer;
	struct xml_stream *xs;
	size_t used;
	int n = 0, back = 0;

	if (size > MAX_BODY)
		return 0;
	body = bosh_parse_body((const char *)data, size);
	if (body == NULL)
		return 0;
	if (strcmp(body->name, "body") != 0 || strcmp(body->ns, NS_BOSH) != 0)
		fail("not a <body/>", NULL);
	bosh_attrs(body, &a);
	check_attrs(&a);

	sbuf_init(&h);
	sbuf_init(&s);
	sbuf_init(&out);
	sbuf_init(&first);
	sbuf_init(&answer);
	bosh_stream_header(&h, a.to ? a.to : "", a.lang);
	xs = xml_stream_new(&cbs, NULL, &lim);
	opened = stanzas = bad_ns = 0;
	if (xml_stream_feed(xs, h.data, h.len, &used) != XML_OK || !opened)
		fail("header refused", &h);
	for (;;) {
		sbuf_reset(&s);
		c = bosh_next_stanza(body, c, &s);
		if (c == NULL)
			break;
		n++;
		if (xml_stream_feed(xs, s.data, s.len, &used) != XML_OK)
			fail("stanza refused by the stream", &s);
		if (stanzas != n || bad_ns)
			fail("not one client stanza", &s);
		stream_standalone(s.data, s.len, &out);
	}
	xml_stream_free(xs);

	/* the answer, as answer_one frames it */
	if (a.sid == NULL)
		sbuf_printf(&first, " sid='x' wait='%u'", a.wait);
	bosh_wrap(&answer, &first, a.terminate,
	    a.terminate ? "remote-stream-error" : NULL, &out);
	xml_node_free(body);
	body = bosh_parse_body(answer.data, answer.len);
	if (body == NULL)
		fail("answer does not parse", &answer);
	for (c = xml_node_first_el(body); c; c = xml_node_next_el(c))
		back++;
	if (back != n)
		fail("answer lost elements", &answer);
	xml_node_free(body);
	sbuf_cleanup(&h);
	sbuf_cleanup(&s);
	sbuf_cleanup(&out);
	sbuf_cleanup(&first);
	sbuf_cleanup(&answer);
	return 0;
}

/* test_stream.c: the stream base (xmpp/stream.c) over a transport that
 * is not a socket: what a WebSocket or BOSH framing will plug in. The
 * protocol above sees headers, elements, restarts and the end of the
 * stream the same whatever carries the bytes (RFC 6120 §4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/loop.h"
#include "xmpp/stream.h"

/* ---- a framing that renders into a string, like a test double of
 * RFC 7395's <open/>/<close/> ---- */

struct mem {
	struct stream st; /* first */
	struct sbuf out;
	int closed, flushed, lost, opens, elements, peer_closed;
	char last_el[64];
};

static int
mem_write(struct stream *st, struct rbuf *r, int force)
{
	struct mem *m = (struct mem *)st;

	(void)force;
	sbuf_append(&m->out, r->data, r->len);
	return 0;
}

static void
mem_header(struct stream *st, const char *from, const char *to, const char *id)
{
	struct mem *m = (struct mem *)st;

	(void)to;
	sbuf_puts(&m->out, "<open from='");
	sbuf_puts(&m->out, from ? from : "");
	sbuf_puts(&m->out, "' id='");
	sbuf_puts(&m->out, id ? id : "");
	sbuf_puts(&m->out, "'/>");
}

static void
mem_footer(struct stream *st)
{
	sbuf_puts(&((struct mem *)st)->out, "<close/>");
}

static void
mem_close(struct stream *st, int flush, const char *why)
{
	struct mem *m = (struct mem *)st;

	(void)why;
	m->closed = 1;
	m->flushed = flush;
}

static SSL *
mem_ssl(const struct stream *st)
{
	(void)st;
	return NULL;
}

static void
mem_pause(struct stream *st, int paused)
{
	(void)st;
	(void)paused;
}

static size_t
mem_queued(const struct stream *st)
{
	return ((const struct mem *)st)->out.len;
}

static const struct stream_transport mem_tp = {
	.name = "memory",
	.write = mem_write,
	.header = mem_header,
	.footer = mem_footer,
	.close = mem_close,
	.ssl = mem_ssl,
	.pause = mem_pause,
	.queued = mem_queued,
};

/* ---- a protocol that answers a header and counts elements; <restart/>
 * asks for a new stream, <bye/> fails the stream ---- */

static void
p_open(struct stream *st, struct xml_node *root, const char *cns)
{
	struct mem *m = (struct mem *)st;

	(void)root;
	assert_string_equal(cns, "jabber:client");
	m->opens++;
	stream_set_local(st, "example.org");
	stream_open_reply(st, "example.org");
}

static void
p_element(struct stream *st, struct xml_node *el)
{
	struct mem *m = (struct mem *)st;

	m->elements++;
	snprintf(m->last_el, sizeof(m->last_el), "%s", el->name);
	if (strcmp(el->name, "restart") == 0)
		stream_restart(st, NULL);
	else if (strcmp(el->name, "bye") == 0)
		stream_fail(st, "policy-violation", "bye");
	else
		stream_send(st, xml_node_new("jabber:client", "ok"));
}

static void
p_close(struct stream *st)
{
	((struct mem *)st)->peer_closed = 1;
	stream_close(st, "done");
}

static void
p_lost(struct stream *st, const char *why)
{
	(void)why;
	((struct mem *)st)->lost = 1;
}

static const struct stream_proto proto = {
	.name = "test",
	.open = p_open,
	.element = p_element,
	.close = p_close,
	.lost = p_lost,
};

static void
mem_setup(struct mem *m)
{
	struct xml_limits lim = { .max_stanza = 4096, .max_depth = 16,
		.max_attrs = 16 };

	memset(m, 0, sizeof(*m));
	sbuf_init(&m->out);
	stream_init(&m->st, &proto, "jabber:client", &lim);
	m->st.tp = &mem_tp;
}

static void
mem_teardown(struct mem *m)
{
	stream_cleanup(&m->st);
	loop_drain(); /* the parser is freed when the loop is idle */
	sbuf_cleanup(&m->out);
}

#define HDR                                                                    \
	"<stream:stream xmlns='jabber:client' "                                \
	"xmlns:stream='http://etherx.jabber.org/streams' to='example.org' "   \
	"version='1.0'>"

static void
feed(struct mem *m, const char *s)
{
	stream_feed(&m->st, s, strlen(s));
}

static void
test_header_elements_close(void **state)
{
	struct mem m;

	(void)state;
	mem_setup(&m);
	feed(&m, HDR "<a/><b/>");
	assert_int_equal(m.opens, 1);
	assert_int_equal(m.elements, 2);
	assert_non_null(strstr(m.out.data, "<open from='example.org' id='"));
	assert_non_null(strstr(m.out.data, "<ok/><ok/>"));
	/* the stream id is new and 16 characters */
	assert_int_equal(strlen(m.st.sid), 16);
	feed(&m, "</stream:stream>");
	assert_true(m.peer_closed);
	assert_true(m.closed);
	assert_non_null(strstr(m.out.data, "<close/>"));
	/* input after the close is not read */
	feed(&m, "<c/>");
	assert_int_equal(m.elements, 2);
	mem_teardown(&m);
}

/* RFC 6120 §4.3.3: after a restart the next header starts a new stream;
 * what followed the element that asked for it in the same read is read
 * as the new stream. */
static void
test_restart_in_one_read(void **state)
{
	struct mem m;
	char first[17];

	(void)state;
	mem_setup(&m);
	feed(&m, HDR "<restart/>");
	snprintf(first, sizeof(first), "%s", m.st.sid);
	feed(&m, HDR "<x/>");
	assert_int_equal(m.opens, 2);
	assert_string_equal(m.last_el, "x");
	assert_string_not_equal(first, m.st.sid);
	/* both in one read */
	feed(&m, "<restart/>" HDR "<y/>");
	assert_int_equal(m.opens, 3);
	assert_string_equal(m.last_el, "y");
	mem_teardown(&m);
}

/* RFC 6120 §4.9.1.2: an error before any header sends our header first;
 * the error goes out in the framing, then the closing tag, and the
 * connection closes after flushing. */
static void
test_fail_before_header(void **state)
{
	struct mem m;

	(void)state;
	mem_setup(&m);
	stream_set_local(&m.st, "example.org");
	feed(&m, "<notastream/>");
	assert_true(m.closed);
	assert_true(m.flushed);
	assert_int_equal(m.opens, 0);
	assert_non_null(strstr(m.out.data,
	    "<open from='example.org' id=''/><stream:error>"));
	assert_non_null(strstr(m.out.data, "</stream:error><close/>"));
	mem_teardown(&m);
}

/* A protocol error mid-stream: one error, input ignored after it. */
static void
test_fail_once(void **state)
{
	struct mem m;
	const char *e;

	(void)state;
	mem_setup(&m);
	feed(&m, HDR "<bye/><a/>");
	assert_int_equal(m.elements, 1);
	e = strstr(m.out.data, "<policy-violation xmlns='"
			       "urn:ietf:params:xml:ns:xmpp-streams'/>");
	assert_non_null(e);
	assert_null(strstr(e + 1, "<policy-violation"));
	stream_fail(&m.st, "conflict", NULL);
	assert_null(strstr(m.out.data, "conflict"));
	mem_teardown(&m);
}

/* Parser errors map to RFC 6120 §4.9.3 conditions. */
static void
test_not_well_formed(void **state)
{
	struct mem m;

	(void)state;
	mem_setup(&m);
	feed(&m, HDR "<a></b>");
	assert_non_null(strstr(m.out.data, "<not-well-formed "));
	assert_true(m.closed);
	mem_teardown(&m);
	assert_string_equal(
	    stream_xml_condition(XML_ERR_RESTRICTED), "restricted-xml");
	assert_string_equal(
	    stream_xml_condition(XML_ERR_INVALID_NS), "invalid-namespace");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_elements_close),
		cmocka_unit_test(test_restart_in_one_read),
		cmocka_unit_test(test_fail_before_header),
		cmocka_unit_test(test_fail_once),
		cmocka_unit_test(test_not_well_formed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

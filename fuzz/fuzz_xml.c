/* fuzz_xml.c: libFuzzer target for the XML stream parser and serializer.
 *
 * Input: byte 0 picks limits (bit 0) and which stanza name asks for a
 * stream restart (bit 1), bytes 1-4 are chunk sizes (0: the rest at
 * once), the remainder is the stream. It is parsed twice, in one piece
 * and in those chunks, and both runs must agree: same callbacks and
 * stanzas, and either both succeed or both fail. The error code may
 * differ only where one run says not-well-formed: expat treats a run of
 * text ending in a bad token as one bad token when it has all of it, but
 * reports the text first when it arrived in an earlier read, so the
 * other run may first trip over the text (outside stanzas, too long).
 * Every stanza must survive
 * parse -> serialise -> parse -> serialise with identical bytes, and its
 * deep copy must serialise the same.
 *
 * clang -g -fsanitize=fuzzer,address -Isrc fuzz/fuzz_xml.c src/xml/xml.c \
 *     src/xml/stream.c src/core/buf.c src/core/util.c -lexpat -lcrypto */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "xml/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCHUNK 4

struct run {
	struct xml_stream *s;
	struct sbuf log;
	char *content_ns;
	const char *restart_name;
	int restarting;
};

/* Serialise a stanza inside a fresh stream with the same content
 * namespace and return the reparsed stanza's serialisation. */
struct reparse {
	char *content_ns;
	struct sbuf out;
	int stanzas;
};

static void
re_open(void *ud, struct xml_node *root, const char *content_ns)
{
	struct reparse *r = ud;

	(void)root;
	r->content_ns = xstrdup(content_ns);
}

static void
re_stanza(void *ud, struct xml_node *st)
{
	struct reparse *r = ud;

	r->stanzas++;
	xml_serialize(st, r->content_ns, &r->out);
	xml_node_free(st);
}

static const struct xml_stream_cb re_cb = { re_open, re_stanza, NULL };

static void
put_attr_escaped(struct sbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': sbuf_puts(b, "&amp;"); break;
		case '<': sbuf_puts(b, "&lt;"); break;
		case '\'': sbuf_puts(b, "&apos;"); break;
		case '\t': sbuf_puts(b, "&#9;"); break;
		case '\n': sbuf_puts(b, "&#10;"); break;
		case '\r': sbuf_puts(b, "&#13;"); break;
		default: sbuf_putc(b, *s); break;
		}
	}
}

static void
check_roundtrip(const struct xml_node *st, const char *content_ns)
{
	struct sbuf first, doc, copy;
	struct reparse r;
	struct xml_stream *s;
	struct xml_node *dup;

	sbuf_init(&first);
	xml_serialize(st, content_ns, &first);

	sbuf_init(&copy);
	dup = xml_node_dup(st);
	xml_serialize(dup, content_ns, &copy);
	xml_node_free(dup);
	if (copy.len != first.len || memcmp(copy.data, first.data,
	    first.len) != 0)
		abort();
	sbuf_cleanup(&copy);

	sbuf_init(&doc);
	sbuf_puts(&doc, "<stream:stream xmlns:stream='" XML_NS_STREAM
	    "' xmlns='");
	put_attr_escaped(&doc, content_ns);
	sbuf_puts(&doc, "'>");
	sbuf_append(&doc, first.data, first.len);

	memset(&r, 0, sizeof(r));
	sbuf_init(&r.out);
	s = xml_stream_new(&re_cb, &r, NULL);
	if (xml_stream_feed(s, doc.data, doc.len, NULL) != XML_OK)
		abort();
	if (r.stanzas != 1 || r.out.len != first.len ||
	    memcmp(r.out.data, first.data, first.len) != 0)
		abort();
	xml_stream_free(s);
	free(r.content_ns);
	sbuf_cleanup(&r.out);
	sbuf_cleanup(&doc);
	sbuf_cleanup(&first);
}

static void
on_open(void *ud, struct xml_node *root, const char *content_ns)
{
	struct run *r = ud;
	const struct xml_attr *a;

	free(r->content_ns);
	r->content_ns = xstrdup(content_ns);
	sbuf_printf(&r->log, "open[%s]", content_ns);
	for (a = root->attrs; a != NULL; a = a->next)
		sbuf_printf(&r->log, "{%s}%s=%s;", a->ns ? a->ns : "",
		    a->name, a->value);
	if (xml_node_attr_ns(root, XML_NS_XML, "lang") != NULL)
		sbuf_puts(&r->log, "lang");
}

static void
on_stanza(void *ud, struct xml_node *st)
{
	struct run *r = ud;

	if (st->parent != NULL || st->type != XML_ELEMENT)
		abort();
	check_roundtrip(st, r->content_ns);
	xml_serialize(st, r->content_ns, &r->log);
	sbuf_putc(&r->log, '\n');
	if (r->restart_name != NULL && strcmp(st->name, r->restart_name) == 0) {
		xml_stream_request_restart(r->s);
		r->restarting = 1;
	}
	xml_node_free(st);
}

static void
on_close(void *ud)
{
	struct run *r = ud;

	sbuf_puts(&r->log, "close");
}

static const struct xml_stream_cb run_cb = { on_open, on_stanza, on_close };

/* Parse doc in the given chunks; returns the log of callbacks. */
static char *
run_once(const char *doc, size_t len, const size_t *chunks,
    const struct xml_limits *lim, const char *restart_name, size_t *log_len,
    enum xml_err *err)
{
	struct run r;
	size_t off = 0, k = 0, used;
	enum xml_err e = XML_OK;

	memset(&r, 0, sizeof(r));
	sbuf_init(&r.log);
	r.restart_name = restart_name;
	r.s = xml_stream_new(&run_cb, &r, lim);
	while (off < len && e == XML_OK) {
		size_t end = len;

		if (chunks != NULL && chunks[k % NCHUNK] != 0 &&
		    chunks[k % NCHUNK] < len - off)
			end = off + chunks[k % NCHUNK];
		k++;
		while (off < end && e == XML_OK) {
			e = xml_stream_feed(r.s, doc + off, end - off, &used);
			if (e != XML_OK)
				break;
			if (used > end - off ||
			    (used < end - off && !r.restarting))
				abort();
			off += used;
			if (r.restarting) {
				xml_stream_restart(r.s);
				r.restarting = 0;
			}
		}
		/* quiet between chunks: the parser sleeps and must wake
		 * into the same state (xml_stream_sweep) */
		if (chunks != NULL) {
			xml_stream_sweep();
			xml_stream_sweep();
		}
	}
	*err = e;
	if (e != XML_OK && xml_stream_errmsg(r.s)[0] == '\0')
		abort();
	xml_stream_free(r.s);
	free(r.content_ns);
	return sbuf_steal(&r.log, log_len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xml_limits lim = { 0 };
	size_t chunks[NCHUNK], i, l1, l2;
	const char *restart_name;
	char *a, *b;
	enum xml_err ea, eb;

	if (size < 1 + NCHUNK)
		return 0;
	if (data[0] & 1) {
		lim.max_stanza = 512;
		lim.max_depth = 6;
		lim.max_attrs = 6;
		lim.max_text = 128;
	}
	restart_name = (data[0] & 2) ? "auth" : "r";
	for (i = 0; i < NCHUNK; i++)
		chunks[i] = data[1 + i] % 32;
	data += 1 + NCHUNK;
	size -= 1 + NCHUNK;

	a = run_once((const char *)data, size, NULL, &lim, restart_name, &l1,
	    &ea);
	b = run_once((const char *)data, size, chunks, &lim, restart_name,
	    &l2, &eb);
	if (l1 != l2 || memcmp(a, b, l1) != 0)
		abort();
	if ((ea == XML_OK) != (eb == XML_OK))
		abort();
	if (ea != eb && ea != XML_ERR_NOT_WELL_FORMED &&
	    eb != XML_ERR_NOT_WELL_FORMED)
		abort();
	free(a);
	free(b);
	return 0;
}

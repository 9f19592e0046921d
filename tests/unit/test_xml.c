/* test_xml.c: element trees, serializer and the stream parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/util.h"
#include "xml/xml.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define HDR                                                                \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "       \
	"xmlns:stream='" NS_STREAMS "' to='example.com' from='a.example' " \
	"id='s1' version='1.0' xml:lang='en'>"
#define HDR_SMALL                                                          \
	"<stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS "'>"

/* ----- helpers ----- */

static char *
ser(const struct xml_node *n, const char *parent_ns)
{
	struct sbuf b;

	sbuf_init(&b);
	xml_serialize(n, parent_ns, &b);
	return sbuf_steal(&b, NULL);
}

static void
assert_ser(const struct xml_node *n, const char *parent_ns, const char *want)
{
	char *got = ser(n, parent_ns);

	assert_string_equal(got, want);
	free(got);
}

/* What a parse produced, as one string: "O(...)" for the header, each
 * stanza serialised, "C" for the close. */
struct coll {
	struct xml_stream *s;
	struct sbuf log;
	char content_ns[128];
	const char *restart_after; /* stanza name that triggers a restart */
	int opens, stanzas, closes;
	int restarting; /* a callback asked for a restart */
	struct xml_node *kept; /* last stanza, when keep is set */
	int keep;
};

static void
c_open(void *ud, struct xml_node *root, const char *content_ns)
{
	struct coll *c = ud;
	const char *to = xml_node_attr(root, "to");
	const char *lang = xml_node_attr_ns(root, XML_NS_XML, "lang");

	c->opens++;
	snprintf(c->content_ns, sizeof(c->content_ns), "%s", content_ns);
	sbuf_printf(&c->log, "O(%s,%s,%s)", content_ns, to ? to : "-",
	    lang ? lang : "-");
	if (c->restart_after != NULL &&
	    strcmp(c->restart_after, "#open") == 0) {
		xml_stream_request_restart(c->s);
		c->restarting = 1;
	}
}

static void
c_stanza(void *ud, struct xml_node *st)
{
	struct coll *c = ud;

	c->stanzas++;
	assert_null(st->parent);
	xml_serialize(st, c->content_ns, &c->log);
	if (c->restart_after != NULL &&
	    strcmp(st->name, c->restart_after) == 0) {
		xml_stream_request_restart(c->s);
		c->restarting = 1;
	}
	if (c->keep) {
		xml_node_free(c->kept);
		c->kept = st;
	} else {
		xml_node_free(st);
	}
}

static void
c_close(void *ud)
{
	struct coll *c = ud;

	c->closes++;
	sbuf_puts(&c->log, "C");
}

static const struct xml_stream_cb coll_cb = { c_open, c_stanza, c_close };

static void
coll_init(struct coll *c, const struct xml_limits *lim)
{
	memset(c, 0, sizeof(*c));
	sbuf_init(&c->log);
	c->s = xml_stream_new(&coll_cb, c, lim);
}

static void
coll_cleanup(struct coll *c)
{
	xml_stream_free(c->s);
	xml_node_free(c->kept);
	sbuf_cleanup(&c->log);
}

/* Feed doc in pieces of the given sizes (cycled; none or 0 = all at
 * once), restarting the parser whenever a callback asked for it; returns
 * the first error. */
static enum xml_err
feed_chunks(struct coll *c, const char *doc, size_t len, const size_t *sizes,
    size_t nsizes)
{
	size_t off = 0, k = 0;

	while (off < len) {
		size_t end = len, used;
		enum xml_err e;

		if (nsizes > 0 && sizes[k % nsizes] > 0 &&
		    sizes[k % nsizes] < len - off)
			end = off + sizes[k % nsizes];
		k++;
		while (off < end) {
			e = xml_stream_feed(c->s, doc + off, end - off, &used);
			if (e != XML_OK)
				return e;
			assert_true(used <= end - off);
			/* bytes are left over only after a restart request */
			if (used < end - off)
				assert_true(c->restarting);
			off += used;
			if (c->restarting) {
				xml_stream_restart(c->s);
				c->restarting = 0;
			}
		}
		/* a quiet second between reads: the parser may go */
		xml_stream_sweep();
		xml_stream_sweep();
	}
	return XML_OK;
}

/* Feed HDR without limits, then the rest under lim. */
static enum xml_err
feed_limited(struct coll *c, const char *rest, const struct xml_limits *lim,
    const size_t *sizes, size_t nsizes)
{
	assert_int_equal(xml_stream_feed(c->s, HDR_SMALL, strlen(HDR_SMALL),
	    NULL), XML_OK);
	xml_stream_set_limits(c->s, lim);
	return feed_chunks(c, rest, strlen(rest), sizes, nsizes);
}

static void
assert_limited(const char *rest, const struct xml_limits *lim,
    enum xml_err want)
{
	struct coll c;

	coll_init(&c, NULL);
	assert_int_equal(feed_limited(&c, rest, lim, NULL, 0), want);
	coll_cleanup(&c);
}

static enum xml_err
parse_str(const char *doc, const struct xml_limits *lim, char **log)
{
	struct coll c;
	enum xml_err e;

	coll_init(&c, lim);
	e = feed_chunks(&c, doc, strlen(doc), NULL, 0);
	if (log != NULL)
		*log = sbuf_steal(&c.log, NULL);
	coll_cleanup(&c);
	return e;
}

static void
assert_parse_err(const char *doc, const struct xml_limits *lim,
    enum xml_err want)
{
	assert_int_equal(parse_str(doc, lim, NULL), want);
}

/* Parse one stanza given as text in a jabber:client stream. */
static struct xml_node *
parse_one(const char *stanza)
{
	struct coll c;
	struct sbuf doc;
	struct xml_node *n;

	sbuf_init(&doc);
	sbuf_puts(&doc, HDR);
	sbuf_puts(&doc, stanza);
	coll_init(&c, NULL);
	c.keep = 1;
	assert_int_equal(feed_chunks(&c, doc.data, doc.len, NULL, 0), XML_OK);
	assert_int_equal(c.stanzas, 1);
	n = c.kept;
	c.kept = NULL;
	coll_cleanup(&c);
	sbuf_cleanup(&doc);
	return n;
}

static int
tree_equal(const struct xml_node *a, const struct xml_node *b)
{
	const struct xml_attr *x, *y;
	const struct xml_node *ca, *cb;

	if (a->type != b->type)
		return 0;
	if (a->type == XML_TEXT)
		return a->text_len == b->text_len &&
		    memcmp(a->text, b->text, a->text_len) == 0;
	if (strcmp(a->name, b->name) != 0 || strcmp(a->ns, b->ns) != 0)
		return 0;
	for (x = a->attrs, y = b->attrs; x && y; x = x->next, y = y->next) {
		if ((x->ns == NULL) != (y->ns == NULL))
			return 0;
		if (x->ns && strcmp(x->ns, y->ns) != 0)
			return 0;
		if (strcmp(x->name, y->name) || strcmp(x->value, y->value))
			return 0;
	}
	if (x || y)
		return 0;
	for (ca = a->children, cb = b->children; ca && cb;
	    ca = ca->next, cb = cb->next)
		if (!tree_equal(ca, cb))
			return 0;
	return ca == NULL && cb == NULL;
}

/* ----- trees ----- */

static void
test_build(void **state)
{
	struct xml_node *m, *b, *x;

	UNUSED(state);
	m = xml_node_new("jabber:client", "message");
	xml_node_set_attr(m, "to", "juliet@example.com");
	xml_node_set_attr(m, "type", "chat");
	b = xml_node_child(m, NULL, "body");
	assert_ptr_equal(b->arena, m->arena);
	assert_ptr_equal(b->parent, m);
	assert_string_equal(b->ns, "jabber:client");
	xml_node_text(b, "hi", 2);
	xml_node_text(b, "", 0);
	x = xml_node_child(m, "urn:xmpp:receipts", "request");
	assert_ptr_equal(x->arena, m->arena);
	assert_ser(m, "jabber:client",
	    "<message to='juliet@example.com' type='chat'><body>hi</body>"
	    "<request xmlns='urn:xmpp:receipts'/></message>");
	assert_ser(m, "",
	    "<message xmlns='jabber:client' to='juliet@example.com' "
	    "type='chat'><body>hi</body>"
	    "<request xmlns='urn:xmpp:receipts'/></message>");
	assert_ptr_equal(m->last_child, x);
	xml_node_free(m);
	xml_node_free(NULL);

	m = xml_node_new(NULL, "x");
	assert_string_equal(m->ns, "");
	assert_ser(m, NULL, "<x/>");
	assert_ser(m, "urn:a", "<x xmlns=''/>");
	xml_node_free(m);
}

/* Stream-level elements written into a stream carry the header's
 * stream: prefix (XML::Stream and loudmouth look for <stream:features>);
 * their children keep the stream's content namespace as default. */
static void
test_stream_prefix(void **state)
{
	struct xml_node *f, *m, *e;

	UNUSED(state);
	f = xml_node_new(NS_STREAMS, "features");
	xml_node_child(f, "urn:ietf:params:xml:ns:xmpp-tls", "starttls");
	m = xml_node_child(f, "urn:ietf:params:xml:ns:xmpp-sasl",
	    "mechanisms");
	e = xml_node_child(m, NULL, "mechanism");
	xml_node_text(e, "PLAIN", 5);
	assert_ser(f, "jabber:client",
	    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:"
	    "xmpp-tls'/><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
	    "<mechanism>PLAIN</mechanism></mechanisms></stream:features>");
	assert_ser(f, "jabber:component:accept",
	    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:"
	    "xmpp-tls'/><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
	    "<mechanism>PLAIN</mechanism></mechanisms></stream:features>");
	/* outside a stream no prefix is declared: keep the default form */
	assert_ser(f, "",
	    "<features xmlns='" NS_STREAMS "'><starttls xmlns='urn:ietf:"
	    "params:xml:ns:xmpp-tls'/><mechanisms xmlns='urn:ietf:params:xml:"
	    "ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
	    "</features>");
	xml_node_free(f);

	/* a child in the content namespace needs no declaration, and an
	 * empty element closes itself */
	f = xml_node_new(NS_STREAMS, "features");
	assert_ser(f, "jabber:client", "<stream:features/>");
	xml_node_child(f, "jabber:client", "x");
	assert_ser(f, "jabber:client", "<stream:features><x/></stream:features>");
	xml_node_free(f);
}

/* Dialback elements in a server stream carry the header's db: prefix
 * (XEP-0220; ejabberd's parser knows them only by that name); the
 * error inside a db:result type='error' stays in the stream's
 * namespace. Outside a server stream they keep the default form. */
static void
test_dialback_prefix(void **state)
{
	struct xml_node *r, *e;

	UNUSED(state);
	r = xml_node_new(XML_NS_DIALBACK, "verify");
	xml_node_set_attr(r, "from", "a.test");
	xml_node_text(r, "k", 1);
	assert_ser(r, "jabber:server", "<db:verify from='a.test'>k</db:verify>");
	assert_ser(r, "jabber:client",
	    "<verify xmlns='" XML_NS_DIALBACK "' from='a.test'>k</verify>");
	xml_node_free(r);
	r = xml_node_new(XML_NS_DIALBACK, "result");
	xml_node_set_attr(r, "type", "error");
	e = xml_node_child(r, "jabber:server", "error");
	xml_node_child(e, "urn:ietf:params:xml:ns:xmpp-stanzas",
	    "item-not-found");
	assert_ser(r, "jabber:server",
	    "<db:result type='error'><error><item-not-found xmlns='urn:ietf:"
	    "params:xml:ns:xmpp-stanzas'/></error></db:result>");
	xml_node_free(r);
	r = xml_node_new(XML_NS_DIALBACK, "result");
	assert_ser(r, "jabber:server", "<db:result/>");
	xml_node_free(r);
}

static void
test_attrs(void **state)
{
	struct xml_node *e;

	UNUSED(state);
	e = xml_node_new("urn:a", "e");
	xml_node_set_attr(e, "a", "1");
	xml_node_set_attr(e, "b", "2");
	xml_node_set_attr(e, "c", "3");
	xml_node_set_attr(e, "b", "two");
	assert_string_equal(xml_node_attr(e, "b"), "two");
	assert_ser(e, "urn:a", "<e a='1' b='two' c='3'/>");
	xml_node_set_attr(e, "a", NULL);
	assert_null(xml_node_attr(e, "a"));
	assert_ser(e, "urn:a", "<e b='two' c='3'/>");
	xml_node_set_attr(e, "c", NULL);
	xml_node_set_attr(e, "zz", NULL); /* absent: no-op */
	assert_ser(e, "urn:a", "<e b='two'/>");
	xml_node_set_attr_ns(e, XML_NS_XML, "lang", "en");
	xml_node_set_attr_ns(e, "urn:x", "b", "qualified");
	/* unqualified lookups never see qualified attributes */
	assert_string_equal(xml_node_attr(e, "b"), "two");
	assert_null(xml_node_attr(e, "lang"));
	assert_string_equal(xml_node_attr_ns(e, XML_NS_XML, "lang"), "en");
	assert_string_equal(xml_node_attr_ns(e, "urn:x", "b"), "qualified");
	assert_string_equal(xml_node_attr_ns(e, "", "b"), "two");
	assert_null(xml_node_attr_ns(e, "urn:y", "b"));
	/* NULL namespace matches any */
	assert_non_null(xml_node_attr_ns(e, NULL, "lang"));
	xml_node_set_attr_ns(e, XML_NS_XML, "lang", "de");
	assert_string_equal(xml_node_attr_ns(e, XML_NS_XML, "lang"), "de");
	xml_node_set_attr_ns(e, "urn:x", "b", NULL);
	assert_null(xml_node_attr_ns(e, "urn:x", "b"));
	assert_string_equal(xml_node_attr(e, "b"), "two");
	xml_node_free(e);
}

static void
test_find(void **state)
{
	struct xml_node *iq, *q, *a, *b, *c;

	UNUSED(state);
	iq = xml_node_new("jabber:client", "iq");
	xml_node_text(iq, " ", 1);
	q = xml_node_child(iq, "jabber:iq:roster", "query");
	xml_node_text(iq, " ", 1);
	a = xml_node_child(q, NULL, "item");
	b = xml_node_child(q, "urn:other", "item");
	c = xml_node_child(iq, "jabber:client", "error");
	assert_ptr_equal(xml_node_find(iq, "jabber:iq:roster", "query"), q);
	assert_ptr_equal(xml_node_find(iq, NULL, "query"), q);
	assert_null(xml_node_find(iq, "urn:nope", "query"));
	assert_null(xml_node_find(iq, NULL, "item"));
	assert_ptr_equal(xml_node_find(q, "urn:other", "item"), b);
	assert_ptr_equal(xml_node_find(q, NULL, "item"), a);
	assert_ptr_equal(xml_node_first_el(iq), q);
	assert_ptr_equal(xml_node_next_el(q), c);
	assert_null(xml_node_next_el(c));
	assert_null(xml_node_first_el(a));
	assert_true(xml_node_is(q, "jabber:iq:roster", "query"));
	assert_true(xml_node_is(q, NULL, "query"));
	assert_false(xml_node_is(q, "jabber:client", "query"));
	assert_false(xml_node_is(q, NULL, "iq"));
	assert_false(xml_node_is(iq->children, NULL, NULL)); /* text */
	assert_false(xml_node_is(NULL, NULL, "iq"));

	xml_node_unlink(q);
	assert_null(q->parent);
	assert_null(xml_node_find(iq, NULL, "query"));
	assert_ser(iq, "jabber:client", "<iq>  <error/></iq>");
	xml_node_unlink(c);
	assert_ptr_equal(iq->last_child, iq->children->next);
	assert_ser(iq, "jabber:client", "<iq>  </iq>");
	xml_node_free(iq);
}

static void
test_text_get(void **state)
{
	struct xml_node *e, *c;
	const char *t;

	UNUSED(state);
	e = xml_node_new("urn:a", "e");
	assert_string_equal(xml_node_text_get(e), "");
	xml_node_text(e, "abc", 3);
	t = xml_node_text_get(e);
	assert_string_equal(t, "abc");
	c = xml_node_child(e, NULL, "c");
	xml_node_text(c, "inner", 5);
	xml_node_text(e, "defg", 3);
	assert_string_equal(xml_node_text_get(e), "abcdef");
	assert_string_equal(xml_node_text_get(c), "inner");
	assert_string_equal(xml_node_strdup(e, "xyz", 2), "xy");
	xml_node_free(e);
}

static void
test_dup_copy(void **state)
{
	struct xml_node *src, *d, *dst, *cp, *sub;
	char *a, *b;

	UNUSED(state);
	src = parse_one("<message to='a@b' xml:lang='fr' xmlns:p='urn:p' "
	    "p:x='1'><body>hi &amp; bye</body><x xmlns='urn:x'><y/>t</x>"
	    "</message>");
	d = xml_node_dup(src);
	assert_ptr_not_equal(d->arena, src->arena);
	assert_null(d->parent);
	assert_true(tree_equal(src, d));
	a = ser(src, "jabber:client");
	xml_node_free(src);
	b = ser(d, "jabber:client"); /* still valid after src is gone */
	assert_string_equal(a, b);
	free(a);
	free(b);

	dst = xml_node_new("jabber:client", "message");
	sub = xml_node_find(d, "urn:x", "x");
	cp = xml_node_copy_into(dst, sub);
	assert_ptr_equal(cp->arena, dst->arena);
	assert_ptr_equal(cp->parent, dst);
	assert_true(tree_equal(cp, sub));
	/* copying a subtree does not follow its siblings */
	cp = xml_node_copy_into(dst, d->children);
	assert_null(cp->next);
	xml_node_free(d);
	assert_ser(dst, "jabber:client",
	    "<message><x xmlns='urn:x'><y/>t</x><body>hi &amp; bye</body>"
	    "</message>");
	xml_node_free(dst);
}

static void
test_escaping(void **state)
{
	struct xml_node *e;
	static const char ctl[] = "a\x01" "b\0c\x1f";

	UNUSED(state);
	e = xml_node_new("urn:a", "e");
	xml_node_set_attr(e, "v", "<&>\"'\t\n\r ok");
	xml_node_text(e, "<&>\"'\t\n\r]]>", 11);
	assert_ser(e, "urn:a",
	    "<e v='&lt;&amp;&gt;&quot;&apos;&#9;&#10;&#13; ok'>"
	    "&lt;&amp;&gt;\"'\t\n&#13;]]&gt;</e>");
	xml_node_free(e);

	/* characters XML cannot carry at all are dropped */
	e = xml_node_new("urn:a", "e");
	xml_node_text(e, ctl, sizeof(ctl) - 1);
	assert_ser(e, "urn:a", "<e>abc</e>");
	xml_node_free(e);

	e = xml_node_new("urn:a'&", "e");
	assert_ser(e, "", "<e xmlns='urn:a&apos;&amp;'/>");
	xml_node_free(e);
}

static void
test_namespaces(void **state)
{
	struct xml_node *m, *c, *d;

	UNUSED(state);
	m = xml_node_new("jabber:server", "message");
	/* a stanza in any of the stanza namespaces, in any of them */
	assert_ser(m, "jabber:client", "<message/>");
	assert_ser(m, "jabber:component:accept", "<message/>");
	assert_ser(m, "jabber:server", "<message/>");
	assert_ser(m, "", "<message xmlns='jabber:server'/>");
	assert_ser(m, "urn:other", "<message xmlns='jabber:server'/>");
	c = xml_node_child(m, "urn:a", "a");
	d = xml_node_child(c, "urn:a", "b");
	assert_ptr_equal(d->ns, c->ns);
	xml_node_child(d, "", "empty");
	xml_node_child(c, "jabber:server", "body");
	assert_ser(m, "jabber:client",
	    "<message><a xmlns='urn:a'><b><empty xmlns=''/></b>"
	    "<body xmlns='jabber:server'/></a></message>");
	xml_node_free(m);

	/* only the top element gets the stanza treatment */
	m = xml_node_new("urn:fwd", "forwarded");
	xml_node_child(m, "jabber:client", "message");
	assert_ser(m, "jabber:client",
	    "<forwarded xmlns='urn:fwd'>"
	    "<message xmlns='jabber:client'/></forwarded>");
	xml_node_free(m);

	/* namespaced attributes get a prefix declared on their element */
	m = xml_node_new("urn:a", "e");
	xml_node_set_attr(m, "plain", "0");
	xml_node_set_attr_ns(m, "urn:x", "one", "1");
	xml_node_set_attr_ns(m, XML_NS_XML, "lang", "en");
	xml_node_set_attr_ns(m, "urn:y", "two", "2");
	xml_node_set_attr_ns(m, "urn:x", "three", "3");
	c = xml_node_child(m, NULL, "c");
	xml_node_set_attr_ns(c, "urn:x", "four", "4");
	assert_ser(m, "urn:a",
	    "<e plain='0' xmlns:ns1='urn:x' ns1:one='1' xml:lang='en' "
	    "xmlns:ns3='urn:y' ns3:two='2' ns1:three='3'>"
	    "<c xmlns:ns0='urn:x' ns0:four='4'/></e>");
	xml_node_free(m);

	/* an element in the XML namespace keeps the xml: prefix */
	m = xml_node_new("urn:a", "e");
	c = xml_node_child(m, XML_NS_XML, "odd");
	xml_node_child(c, "urn:b", "kid");
	xml_node_child(c, "urn:a", "kid2");
	assert_ser(m, "urn:a",
	    "<e><xml:odd><kid xmlns='urn:b'/><kid2/></xml:odd></e>");
	xml_node_free(m);
}

static void
roundtrip_check(struct xml_node *t)
{
	char *a, *b;
	struct xml_node *back;

	a = ser(t, "jabber:client");
	back = parse_one(a);
	assert_true(tree_equal(t, back));
	b = ser(back, "jabber:client");
	assert_string_equal(a, b);
	free(a);
	free(b);
	xml_node_free(back);
}

static void
test_roundtrip(void **state)
{
	static const char body[] =
	    "line1\r\nline2\r<tag>&amp;]]>\xc3\xa9\xe2\x82\xac";
	struct xml_node *m, *c;

	UNUSED(state);
	m = xml_node_new("jabber:client", "message");
	xml_node_set_attr(m, "to", "a@b/c'\"<>&");
	xml_node_set_attr(m, "ws", " \t\n\r x");
	xml_node_set_attr_ns(m, XML_NS_XML, "lang", "en");
	xml_node_set_attr_ns(m, "urn:q", "q", "v");
	c = xml_node_child(m, NULL, "body");
	xml_node_text(c, body, sizeof(body) - 1);
	c = xml_node_child(m, "urn:x", "x");
	xml_node_text(c, "  ", 2);
	c = xml_node_child(c, "", "none");
	xml_node_child(c, "urn:x", "back");
	xml_node_child(m, XML_NS_XML, "weird");
	roundtrip_check(m);
	xml_node_free(m);

	m = parse_one("<iq type='get' id='1' xmlns:a='urn:a' xmlns:b='urn:b'>"
	    "<query xmlns='jabber:iq:version' a:x='1' b:y='2' a:z='3'/>"
	    "<![CDATA[<raw & stuff>]]>&#x10000;&#13;</iq>");
	roundtrip_check(m);
	assert_string_equal(xml_node_text_get(m),
	    "<raw & stuff>\xf0\x90\x80\x80\r");
	xml_node_free(m);
}

static void
test_lang_roundtrip(void **state)
{
	struct xml_node *m, *b;
	char *log;

	UNUSED(state);
	m = parse_one("<message xml:lang='de'><body xml:lang='en'>hi</body>"
	    "</message>");
	assert_string_equal(xml_node_attr_ns(m, XML_NS_XML, "lang"), "de");
	assert_null(xml_node_attr(m, "lang"));
	b = xml_node_find(m, NULL, "body");
	assert_string_equal(xml_node_attr_ns(b, XML_NS_XML, "lang"), "en");
	assert_ser(m, "jabber:client",
	    "<message xml:lang='de'><body xml:lang='en'>hi</body></message>");
	roundtrip_check(m);
	xml_node_free(m);

	/* header attributes and the content namespace reach open() */
	assert_int_equal(parse_str(HDR "</stream:stream>", NULL, &log),
	    XML_OK);
	assert_string_equal(log, "O(jabber:client,example.com,en)C");
	free(log);
}

static void
test_arena_growth(void **state)
{
	struct xml_node *r, *c;
	char *big;
	int i;

	UNUSED(state);
	big = xmalloc(300000);
	memset(big, 'x', 300000);
	r = xml_node_new("urn:a", "r");
	for (i = 0; i < 5000; i++) {
		c = xml_node_child(r, NULL, "c");
		xml_node_set_attr(c, "n", "value");
		if (i % 1000 == 0)
			xml_node_text(c, big, 300000 - (size_t)i);
	}
	assert_int_equal(strlen(xml_node_text_get(r->children)), 300000);
	xml_node_free(r);
	free(big);
}

/* ----- stream parser ----- */

static void
test_stream_basic(void **state)
{
	char *log;

	UNUSED(state);
	assert_int_equal(parse_str(HDR
	    "<message to='x@y'><body>hi</body></message> \n\t "
	    "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>\n"
	    "<presence/></stream:stream>", NULL, &log), XML_OK);
	assert_string_equal(log, "O(jabber:client,example.com,en)"
	    "<message to='x@y'><body>hi</body></message>"
	    "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"
	    "<presence/>C");
	free(log);

	/* no default namespace: content ns "", stanzas in "" */
	assert_int_equal(parse_str("<stream:stream xmlns:stream='" NS_STREAMS
	    "'><a/><b xmlns='jabber:server'/>", NULL, &log), XML_OK);
	assert_string_equal(log, "O(,-,-)<a/><b xmlns='jabber:server'/>");
	free(log);
}

static void
test_stream_open_attrs(void **state)
{
	struct coll c;
	struct xml_node *kept;

	UNUSED(state);
	/* keep the stanza; check its ns equals content_ns and header
	 * attributes are what the callback saw */
	coll_init(&c, NULL);
	c.keep = 1;
	assert_int_equal(xml_stream_feed(c.s, HDR "<message/>",
	    strlen(HDR "<message/>"), NULL), XML_OK);
	assert_int_equal(c.opens, 1);
	kept = c.kept;
	assert_string_equal(kept->ns, "jabber:client");
	assert_string_equal(c.content_ns, "jabber:client");
	assert_string_equal(xml_stream_errmsg(c.s), "no error");
	coll_cleanup(&c);
}

static void
test_restricted(void **state)
{
	UNUSED(state);
	assert_parse_err("<?xml version='1.0' encoding='UTF-8'?>"
	    "<stream:stream xmlns:stream='" NS_STREAMS "'>", NULL, XML_OK);
	assert_parse_err("<!-- hi --><stream:stream xmlns:stream='"
	    NS_STREAMS "'>", NULL, XML_ERR_RESTRICTED);
	assert_parse_err(HDR "<message><!-- c --></message>", NULL,
	    XML_ERR_RESTRICTED);
	assert_parse_err(HDR "<!-- c -->", NULL, XML_ERR_RESTRICTED);
	assert_parse_err(HDR "<message><?pi data?></message>", NULL,
	    XML_ERR_RESTRICTED);
	assert_parse_err("<?xml-stylesheet href='a'?><stream:stream "
	    "xmlns:stream='" NS_STREAMS "'>", NULL, XML_ERR_RESTRICTED);
	assert_parse_err("<!DOCTYPE stream:stream><stream:stream "
	    "xmlns:stream='" NS_STREAMS "'>", NULL, XML_ERR_RESTRICTED);
	assert_parse_err("<?xml version='1.0'?><!DOCTYPE s [<!ENTITY e "
	    "'boom'>]><stream:stream xmlns:stream='" NS_STREAMS "'>&e;",
	    NULL, XML_ERR_RESTRICTED);
	assert_parse_err(HDR "<message>&foo;</message>", NULL,
	    XML_ERR_RESTRICTED);
	assert_parse_err(HDR "<message a='&foo;'/>", NULL,
	    XML_ERR_RESTRICTED);
	/* the five predefined entities and character references are fine */
	assert_parse_err(HDR "<m a='&lt;&gt;&amp;&apos;&quot;&#65;'>"
	    "&lt;&gt;&amp;&apos;&quot;&#x41;</m>", NULL, XML_OK);
	/* a second XML declaration is a syntax error */
	assert_parse_err(HDR "<?xml version='1.0'?>", NULL,
	    XML_ERR_NOT_WELL_FORMED);
	/* references to characters XML does not allow */
	assert_parse_err(HDR "<m>&#0;</m>", NULL, XML_ERR_NOT_WELL_FORMED);
	assert_parse_err(HDR "<m>&#1;</m>", NULL, XML_ERR_NOT_WELL_FORMED);
	assert_parse_err(HDR "<m a='&#x1;'/>", NULL, XML_ERR_NOT_WELL_FORMED);
}

static void
test_errmsg(void **state)
{
	struct coll c;
	struct xml_limits lim = { .max_stanza = 262144 };
	static const char doc[] = HDR "<m><!-- x --></m>";

	UNUSED(state);
	coll_init(&c, NULL);
	assert_int_equal(xml_stream_feed(c.s, doc, strlen(doc), NULL),
	    XML_ERR_RESTRICTED);
	assert_string_equal(xml_stream_errmsg(c.s), "comment not allowed");
	/* the parser is dead: it stays failed */
	assert_int_equal(xml_stream_feed(c.s, "<a/>", 4, NULL),
	    XML_ERR_RESTRICTED);
	coll_cleanup(&c);

	coll_init(&c, &lim);
	assert_int_equal(xml_stream_feed(c.s, HDR, strlen(HDR), NULL),
	    XML_OK);
	{
		char *big = xmalloc(300000);

		memset(big, 'a', 300000);
		memcpy(big, "<m>", 3);
		assert_int_equal(xml_stream_feed(c.s, big, 300000, NULL),
		    XML_ERR_POLICY);
		free(big);
	}
	assert_string_equal(xml_stream_errmsg(c.s),
	    "stanza exceeds 262144 bytes");
	coll_cleanup(&c);

	coll_init(&c, NULL);
	assert_int_equal(xml_stream_feed(c.s, HDR "<m></n>",
	    strlen(HDR "<m></n>"), NULL), XML_ERR_NOT_WELL_FORMED);
	assert_string_equal(xml_stream_errmsg(c.s), "mismatched tag");
	coll_cleanup(&c);
}

static void
test_bad_utf8(void **state)
{
	UNUSED(state);
	assert_parse_err(HDR "<m>\xff</m>", NULL, XML_ERR_NOT_WELL_FORMED);
	assert_parse_err(HDR "<m>\xc0\xaf</m>", NULL,
	    XML_ERR_NOT_WELL_FORMED);
	assert_parse_err(HDR "<m>\xe2\x82</m>", NULL, XML_ERR_NOT_WELL_FORMED);
	assert_parse_err(HDR "<m>\xed\xa0\x80</m>", NULL,
	    XML_ERR_NOT_WELL_FORMED); /* surrogate */
	assert_parse_err(HDR "<m a='\xfe'/>", NULL, XML_ERR_NOT_WELL_FORMED);
	/* a declared Latin-1 encoding does not make Latin-1 acceptable */
	assert_parse_err("<?xml version='1.0' encoding='ISO-8859-1'?>"
	    "<stream:stream xmlns:stream='" NS_STREAMS "'><m>\xe9</m>", NULL,
	    XML_ERR_NOT_WELL_FORMED);
	assert_parse_err(HDR "<m>\xc3\xa9\xf0\x9f\x98\x80</m>", NULL, XML_OK);
	assert_parse_err(HDR "<m>\x01</m>", NULL, XML_ERR_NOT_WELL_FORMED);
	assert_parse_err(HDR "<p:m/>", NULL, XML_ERR_NOT_WELL_FORMED);
}

static void
test_wrong_root(void **state)
{
	UNUSED(state);
	assert_parse_err("<foo xmlns='" NS_STREAMS "'/>", NULL,
	    XML_ERR_BAD_FORMAT);
	assert_parse_err("<message xmlns='jabber:client'>", NULL,
	    XML_ERR_BAD_FORMAT);
	assert_parse_err("<stream:features xmlns:stream='" NS_STREAMS "'>",
	    NULL, XML_ERR_BAD_FORMAT);
	assert_parse_err("<stream xmlns='jabber:client'>", NULL,
	    XML_ERR_INVALID_NS);
	assert_parse_err("<stream:stream xmlns:stream='urn:wrong'>", NULL,
	    XML_ERR_INVALID_NS);
	assert_parse_err("<stream>", NULL, XML_ERR_INVALID_NS);
	/* any prefix bound to the right namespace is fine */
	assert_parse_err("<s:stream xmlns:s='" NS_STREAMS "'>", NULL, XML_OK);
	assert_parse_err("<stream xmlns='" NS_STREAMS "'>", NULL, XML_OK);
}

static void
test_after_close(void **state)
{
	struct coll c;
	static const char doc[] = HDR "<m/></stream:stream>";

	UNUSED(state);
	assert_parse_err(HDR "</stream:stream><iq/>", NULL, XML_ERR_CLOSED);
	assert_parse_err(HDR "</stream:stream>x", NULL, XML_ERR_CLOSED);
	assert_parse_err(HDR "</stream:stream> \r\n", NULL, XML_OK);

	coll_init(&c, NULL);
	assert_int_equal(xml_stream_feed(c.s, doc, strlen(doc), NULL),
	    XML_OK);
	assert_int_equal(c.closes, 1);
	assert_int_equal(xml_stream_feed(c.s, "  ", 2, NULL), XML_OK);
	assert_int_equal(xml_stream_feed(c.s, "<iq/>", 5, NULL),
	    XML_ERR_CLOSED);
	assert_int_equal(c.stanzas, 1);
	assert_int_equal(xml_stream_feed(c.s, " ", 1, NULL), XML_ERR_CLOSED);
	coll_cleanup(&c);
}

static void
test_keepalive(void **state)
{
	char *log;

	UNUSED(state);
	assert_int_equal(parse_str(HDR " \n \n<m/>\n\n \t<n/>  \r\n", NULL,
	    &log), XML_OK);
	assert_string_equal(log, "O(jabber:client,example.com,en)<m/><n/>");
	free(log);
	assert_parse_err(HDR "<m/>junk<n/>", NULL, XML_ERR_BAD_FORMAT);
	assert_parse_err(HDR "&amp;", NULL, XML_ERR_BAD_FORMAT);
}

static void
test_limits(void **state)
{
	struct xml_limits lim;
	struct coll c;
	char *doc;
	size_t i, hl = strlen(HDR);

	UNUSED(state);
	/* max_stanza: exactly the limit passes, one more byte fails */
	memset(&lim, 0, sizeof(lim));
	lim.max_stanza = 20;
	assert_limited("<m>0123456789abc</m>", &lim, XML_OK);
	assert_limited("<m>0123456789abcd</m>", &lim, XML_ERR_POLICY);
	/* whitespace between stanzas does not count */
	assert_limited("<m>0123456789abc</m>                      "
	    "<m>0123456789abc</m> <m/>", &lim, XML_OK);
	/* the header is limited too */
	lim.max_stanza = hl - 1;
	assert_parse_err(HDR, &lim, XML_ERR_POLICY);
	lim.max_stanza = hl;
	assert_parse_err(HDR, &lim, XML_OK);

	/* a start tag that never ends is refused once it is too big, long
	 * before it completes */
	memset(&lim, 0, sizeof(lim));
	lim.max_stanza = 1000;
	coll_init(&c, NULL);
	assert_int_equal(feed_limited(&c, "<m a='", &lim, NULL, 0), XML_OK);
	doc = xmalloc(100);
	memset(doc, 'v', 100);
	for (i = 0; i < 9; i++)
		assert_int_equal(xml_stream_feed(c.s, doc, 100, NULL),
		    XML_OK);
	assert_int_equal(xml_stream_feed(c.s, doc, 100, NULL),
	    XML_ERR_POLICY);
	free(doc);
	coll_cleanup(&c);

	/* same for an endless run of text split over many reads */
	coll_init(&c, NULL);
	assert_int_equal(feed_limited(&c, "<m>", &lim, NULL, 0), XML_OK);
	for (i = 0; i < 997; i++)
		assert_int_equal(xml_stream_feed(c.s, "t", 1, NULL), XML_OK);
	assert_int_equal(xml_stream_feed(c.s, "t", 1, NULL), XML_ERR_POLICY);
	assert_int_equal(c.stanzas, 0);
	coll_cleanup(&c);

	/* max_depth: the stanza is depth 1 */
	memset(&lim, 0, sizeof(lim));
	lim.max_depth = 3;
	assert_limited("<a><b><c/></b></a>", &lim, XML_OK);
	assert_limited("<a><b><c><d/></c></b></a>", &lim, XML_ERR_POLICY);

	/* max_attrs counts namespace declarations too */
	memset(&lim, 0, sizeof(lim));
	lim.max_attrs = 3;
	assert_limited("<a x='1' y='2' z='3'/>", &lim, XML_OK);
	assert_limited("<a x='1' y='2' z='3' w='4'/>", &lim, XML_ERR_POLICY);
	assert_limited("<a xmlns='urn:a' y='2' z='3'/>", &lim, XML_OK);
	assert_limited("<a xmlns='urn:a' xmlns:p='urn:p' y='2' p:z='3'/>",
	    &lim, XML_ERR_POLICY);
	assert_limited("<a xmlns:p='urn:p' xmlns:q='urn:q' xmlns:r='urn:r' "
	    "xmlns:s='urn:s'/>", &lim, XML_ERR_POLICY);
	lim.max_attrs = 6; /* HDR has 7 */
	assert_parse_err(HDR, &lim, XML_ERR_POLICY);
	lim.max_attrs = 7;
	assert_parse_err(HDR, &lim, XML_OK);

	/* max_text: decoded text bytes per stanza */
	memset(&lim, 0, sizeof(lim));
	lim.max_text = 5;
	assert_limited("<a>12<b>3</b>45</a><a>&amp;&amp;345</a>", &lim,
	    XML_OK);
	assert_limited("<a>12<b>3</b>456</a>", &lim, XML_ERR_POLICY);

	/* 0 means unlimited */
	memset(&lim, 0, sizeof(lim));
	assert_limited("<a x='1' y='2' z='3' w='4'><b><c><d><e>"
	    "0123456789</e></d></c></b></a>", &lim, XML_OK);

	/* limits can change on a live stream */
	lim.max_text = 5;
	coll_init(&c, NULL);
	assert_int_equal(xml_stream_feed(c.s, HDR "<a>123456</a>",
	    hl + 13, NULL), XML_OK);
	xml_stream_set_limits(c.s, &lim);
	assert_int_equal(xml_stream_feed(c.s, "<a>123456</a>", 13, NULL),
	    XML_ERR_POLICY);
	assert_int_equal(c.stanzas, 1);
	coll_cleanup(&c);
}

static void
test_restart(void **state)
{
	struct coll c;
	static const char doc[] = "<stream:stream xmlns='jabber:client' "
	    "xmlns:stream='" NS_STREAMS "'><auth mechanism='PLAIN'/>"
	    "<stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS
	    "' to='second'><iq/>";
	const char *second = strstr(doc, "/>") + 2;
	size_t used, len = strlen(doc);

	UNUSED(state);
	coll_init(&c, NULL);
	c.restart_after = "auth";
	assert_int_equal(xml_stream_feed(c.s, doc, len, &used), XML_OK);
	assert_int_equal(used, (size_t)(second - doc));
	assert_int_equal(c.stanzas, 1);
	assert_int_equal(c.opens, 1);
	xml_stream_restart(c.s);
	assert_int_equal(xml_stream_feed(c.s, doc + used, len - used, &used),
	    XML_OK);
	assert_int_equal(used, strlen(second));
	assert_int_equal(c.opens, 2);
	assert_int_equal(c.stanzas, 2);
	assert_string_equal(c.log.data, "O(jabber:client,-,-)<auth "
	    "mechanism='PLAIN'/>O(jabber:client,second,-)<iq/>");
	coll_cleanup(&c);

	/* the remainder split differently: restart at the very end */
	coll_init(&c, NULL);
	c.restart_after = "auth";
	assert_int_equal(xml_stream_feed(c.s, doc, (size_t)(second - doc),
	    &used), XML_OK);
	assert_int_equal(used, (size_t)(second - doc));
	xml_stream_restart(c.s);
	assert_int_equal(xml_stream_feed(c.s, second, strlen(second), &used),
	    XML_OK);
	assert_int_equal(used, strlen(second));
	assert_int_equal(c.opens, 2);
	coll_cleanup(&c);

	/* a restart from open() stops right after the header */
	coll_init(&c, NULL);
	c.restart_after = "#open";
	assert_int_equal(xml_stream_feed(c.s, doc, len, &used), XML_OK);
	assert_int_equal(used, (size_t)(strstr(doc, "<auth") - doc));
	assert_int_equal(c.stanzas, 0);
	coll_cleanup(&c);

	/* after a restart the remainder must begin a new header */
	coll_init(&c, NULL);
	c.restart_after = "auth";
	assert_int_equal(xml_stream_feed(c.s, doc, (size_t)(second - doc),
	    &used), XML_OK);
	xml_stream_restart(c.s);
	assert_int_equal(xml_stream_feed(c.s, "<iq/>", 5, &used),
	    XML_ERR_BAD_FORMAT);
	coll_cleanup(&c);
}

/* mattn/go-xmpp writes "</auth>\n" and then the new header with an XML
 * declaration: the newline reaches the restarted parser first. Expat
 * alone says "XML or text declaration not at start of entity"; every
 * server accepts it (whitespace before the first header too). */
static void
test_restart_leading_ws(void **state)
{
	static const char doc[] = "\r\n <?xml version='1.0'?>"
	    "<stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS
	    "'><auth mechanism='PLAIN'>x</auth>\n \t"
	    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
	    "xmlns:stream='" NS_STREAMS "' to='second'>\n<iq/>";
	static const char want[] = "O(jabber:client,-,-)<auth "
	    "mechanism='PLAIN'>x</auth>O(jabber:client,second,-)<iq/>";
	const size_t one = 1, seven = 7;
	struct coll c;

	UNUSED(state);
	coll_init(&c, NULL);
	c.restart_after = "auth";
	assert_int_equal(feed_chunks(&c, doc, strlen(doc), NULL, 0), XML_OK);
	assert_string_equal(c.log.data, want);
	coll_cleanup(&c);

	/* the same, one byte per read and in pieces of 7 */
	coll_init(&c, NULL);
	c.restart_after = "auth";
	assert_int_equal(feed_chunks(&c, doc, strlen(doc), &one, 1), XML_OK);
	assert_string_equal(c.log.data, want);
	coll_cleanup(&c);
	coll_init(&c, NULL);
	c.restart_after = "auth";
	assert_int_equal(feed_chunks(&c, doc, strlen(doc), &seven, 1), XML_OK);
	assert_string_equal(c.log.data, want);
	coll_cleanup(&c);

	/* text that is not whitespace is still refused there */
	coll_init(&c, NULL);
	assert_int_equal(feed_chunks(&c, "\n x<stream:stream/>", 19, NULL, 0),
	    XML_ERR_NOT_WELL_FORMED);
	coll_cleanup(&c);
}

static const char split_doc[] =
    "<?xml version='1.0'?>\n"
    "<stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS "' "
    "to='example.com' version='1.0' xml:lang='en'>\n"
    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
    "AGp1bGlldAByMG0zMG15cjBtMzA=</auth>"
    "<stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS "' "
    "to='example.com' version='1.0'>  \n"
    "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>balcony \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80</resource>"
    "</bind></iq>\r\n"
    "<message to='romeo@example.net' xml:lang='fr' xmlns:x='urn:x' x:a='1'>"
    "<body>line one\r\nline two &amp; &lt;three&gt; &#x263A; &#9731;</body>"
    "<![CDATA[cdata <here> ]] ]]]]><thread>t1</thread>"
    "<x xmlns='jabber:x:data' type='submit'><field var='a\tb'/></x>"
    "</message>  \t  "
    "<presence><show>away</show><status>  spaces  </status></presence>"
    "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"
    "</stream:stream>  \n";

static char *
parse_split(const size_t *sizes, size_t nsizes, enum xml_err *err)
{
	struct coll c;
	char *log;

	coll_init(&c, NULL);
	c.restart_after = "auth";
	*err = feed_chunks(&c, split_doc, sizeof(split_doc) - 1, sizes,
	    nsizes);
	sbuf_printf(&c.log, "|%d|%d", c.opens, c.closes);
	log = sbuf_steal(&c.log, NULL);
	coll_cleanup(&c);
	return log;
}

static void
test_split_equivalence(void **state)
{
	enum xml_err e0, e;
	char *whole, *other;
	size_t one = 1, sizes[8], i, k, cut;
	unsigned seed = 12345;

	UNUSED(state);
	whole = parse_split(NULL, 0, &e0);
	assert_int_equal(e0, XML_OK);
	assert_non_null(strstr(whole, "|2|1"));
	assert_non_null(strstr(whole, "<resource>balcony"));

	other = parse_split(&one, 1, &e);
	assert_int_equal(e, XML_OK);
	assert_string_equal(whole, other);
	free(other);

	/* every single cut point */
	for (cut = 1; cut < sizeof(split_doc) - 1; cut++) {
		size_t two[2] = { cut, sizeof(split_doc) };

		other = parse_split(two, 2, &e);
		assert_int_equal(e, XML_OK);
		assert_string_equal(whole, other);
		free(other);
	}

	for (i = 0; i < 200; i++) {
		for (k = 0; k < ARRAY_LEN(sizes); k++) {
			seed = seed * 1103515245u + 12345u;
			sizes[k] = 1 + (seed >> 16) % 40;
		}
		other = parse_split(sizes, ARRAY_LEN(sizes), &e);
		assert_int_equal(e, XML_OK);
		assert_string_equal(whole, other);
		free(other);
	}
	free(whole);
}

/* Errors do not depend on the split either, limits included. */
static void
test_split_errors(void **state)
{
	static const char *docs[] = {
		"<m a='0123456789012345678901234567890123456789'/>",
		"<m>0123456789abcdef</m>",
		"<m><a><b><c/></b></a></m>",
		"<m a='1' b='2' c='3' d='4'/>",
		"<m>\xe2\x82</m>",
		"<m><!-- x --></m>",
		"<m/>text",
		"<m/></stream:stream><m/>",
	};
	struct xml_limits lim = { .max_stanza = 40, .max_depth = 3,
		.max_attrs = 3, .max_text = 12 };
	size_t d, one = 1;

	UNUSED(state);
	for (d = 0; d < ARRAY_LEN(docs); d++) {
		struct coll c1, c2;
		enum xml_err e1, e2;

		coll_init(&c1, NULL);
		coll_init(&c2, NULL);
		e1 = feed_limited(&c1, docs[d], &lim, NULL, 0);
		e2 = feed_limited(&c2, docs[d], &lim, &one, 1);
		assert_int_not_equal(e1, XML_OK);
		assert_int_equal(e1, e2);
		assert_string_equal(xml_stream_errmsg(c1.s),
		    xml_stream_errmsg(c2.s));
		assert_string_equal(c1.log.data, c2.log.data);
		coll_cleanup(&c1);
		coll_cleanup(&c2);
	}
}

/* Regressions found by fuzz_xml: a NUL byte near the start of a stream
 * made expat's encoding sniffing wait for more input when whole but fail
 * when split; the outcome must not depend on the split. */
static void
test_split_nul(void **state)
{
	static const char *docs[] = { "t\0", "<stream\0", "\0" };
	static const size_t lens[] = { 2, 8, 1 };
	size_t d, one = 1;

	UNUSED(state);
	for (d = 0; d < ARRAY_LEN(docs); d++) {
		struct coll c1, c2;

		coll_init(&c1, NULL);
		coll_init(&c2, NULL);
		assert_int_equal(feed_chunks(&c1, docs[d], lens[d], NULL, 0),
		    XML_ERR_NOT_WELL_FORMED);
		assert_int_equal(feed_chunks(&c2, docs[d], lens[d], &one, 1),
		    XML_ERR_NOT_WELL_FORMED);
		assert_string_equal(xml_stream_errmsg(c1.s),
		    xml_stream_errmsg(c2.s));
		coll_cleanup(&c1);
		coll_cleanup(&c2);
	}
	assert_parse_err(HDR "<m>\xe2\x82</m>", NULL,
	    XML_ERR_NOT_WELL_FORMED);
	{
		struct coll c;
		static const char nul[] = HDR "<m>ab\0</m>";

		coll_init(&c, NULL);
		assert_int_equal(feed_chunks(&c, nul, sizeof(nul) - 1, NULL, 0),
		    XML_ERR_NOT_WELL_FORMED);
		assert_string_equal(xml_stream_errmsg(c.s), "NUL character");
		coll_cleanup(&c);
	}
}

static void
test_deep_tree(void **state)
{
	struct sbuf doc;
	char *log;
	size_t i, n = 20000;
	struct xml_node *r, *t;

	UNUSED(state);
	sbuf_init(&doc);
	sbuf_puts(&doc, HDR);
	for (i = 0; i < n; i++)
		sbuf_puts(&doc, "<d>");
	for (i = 0; i < n; i++)
		sbuf_puts(&doc, "</d>");
	assert_int_equal(parse_str(doc.data, NULL, &log), XML_OK);
	assert_int_equal(strlen(log),
	    strlen("O(jabber:client,example.com,en)") + n * 7 - 3);
	free(log);
	sbuf_cleanup(&doc);

	/* dup and serialise walk iteratively */
	r = xml_node_new("urn:a", "d");
	for (t = r, i = 0; i < 100000; i++)
		t = xml_node_child(t, NULL, "d");
	t = xml_node_dup(r);
	log = ser(t, "urn:a");
	assert_int_equal(strlen(log), 100000 * 7 + 4);
	free(log);
	xml_node_free(t);
	xml_node_free(r);
}

/* An idle stream gives its parser back and rebuilds it from the header:
 * prefixes the peer declared, the content namespace, its own prefix for
 * the closing tag, and limits all behave as before. Idle means a whole
 * sweep without bytes: the first sweep after a feed keeps the parser. */
static void
test_sleep_between_stanzas(void **state)
{
	static const char *const parts[] = {
		"<?xml version='1.0'?><s:stream xmlns='jabber:client' "
		"xmlns:s='http://etherx.jabber.org/streams' "
		"xmlns:x='urn:example:x' to='example.com' version='1.0'>",
		"<message to='a@b'><body>one</body></message>",
		"  <x:note id='1'>two</x:note>",
		"<message><body>thr",
		"ee</body></message>\n",
		"</s:stream>",
	};
	struct xml_limits lim = { .max_stanza = 4096, .max_depth = 8,
		.max_attrs = 8 };
	struct coll c;
	size_t i, used;

	(void)state;
	coll_init(&c, &lim);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		assert_int_equal(xml_stream_feed(c.s, parts[i],
		    strlen(parts[i]), &used), XML_OK);
		xml_stream_sweep();
		assert_false(xml_stream_is_asleep(c.s));
		xml_stream_sweep();
		if (i == 1 || i == 2 || i == 4)
			assert_true(xml_stream_is_asleep(c.s));
		if (i == 3)
			assert_false(xml_stream_is_asleep(c.s));
	}
	assert_int_equal(c.opens, 1);
	assert_int_equal(c.stanzas, 3);
	assert_int_equal(c.closes, 1);
	assert_string_equal(c.log.data,
	    "O(jabber:client,example.com,-)"
	    "<message to='a@b'><body>one</body></message>"
	    "<note xmlns='urn:example:x' id='1'>two</note>"
	    "<message><body>three</body></message>C");
	coll_cleanup(&c);

	/* limits still hold after a wake-up */
	coll_init(&c, &lim);
	assert_int_equal(xml_stream_feed(c.s, parts[0], strlen(parts[0]),
	    &used), XML_OK);
	assert_int_equal(xml_stream_feed(c.s, parts[1], strlen(parts[1]),
	    &used), XML_OK);
	xml_stream_sweep();
	xml_stream_sweep();
	assert_true(xml_stream_is_asleep(c.s));
	assert_int_equal(xml_stream_feed(c.s,
	    "<a><b><c><d><e><f><g><h><i>", 27, &used), XML_ERR_POLICY);
	coll_cleanup(&c);
}

/* Regression (fuzz_xml, 3-byte splits): a CDATA section at stream level
 * holding only whitespace so far must keep the parser awake; a fresh one
 * would read the section's text as markup. Whole and split agree. */
static void
test_no_sleep_inside_cdata(void **state)
{
	static const char doc[] =
	    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
	    "xmlns:stream='http://etherx.jabber.org/streams' to='ta'>"
	    "\n\n\n<![CDATA[\n\n\n\n</stream:stream>\n\nx";
	static const size_t three[] = { 3 };
	struct coll a, b;
	enum xml_err ea, eb;

	(void)state;
	coll_init(&a, NULL);
	ea = feed_chunks(&a, doc, sizeof(doc) - 1, NULL, 0);
	coll_init(&b, NULL);
	eb = feed_chunks(&b, doc, sizeof(doc) - 1, three, 1);
	assert_int_not_equal(ea, XML_OK); /* text at stream level */
	assert_int_equal(ea, eb);
	assert_int_equal(b.closes, 0); /* </stream:stream> was CDATA text */
	assert_string_equal(a.log.data, b.log.data);
	coll_cleanup(&a);
	coll_cleanup(&b);
}

/* The parser's own memory is budgeted: a stanza within the size limit
 * but beyond the budget is a policy violation, not an allocation. */
static void
test_memory_budget(void **state)
{
	static const char hdr[] = "<stream:stream xmlns='jabber:client' "
	    "xmlns:stream='http://etherx.jabber.org/streams' to='x'>";
	struct xml_limits lim = { .max_stanza = 1 << 20, .max_depth = 64,
		.max_attrs = 64, .max_memory = 24 * 1024 };
	struct sbuf big;
	struct coll c;
	size_t used;
	int i;

	(void)state;
	sbuf_init(&big);
	sbuf_puts(&big, "<message><body>");
	for (i = 0; i < 4000; i++)
		sbuf_puts(&big, "0123456789abcdef");
	sbuf_puts(&big, "</body></message>");
	coll_init(&c, &lim);
	assert_int_equal(xml_stream_feed(c.s, hdr, sizeof(hdr) - 1, &used),
	    XML_OK);
	assert_int_equal(xml_stream_feed(c.s, big.data, big.len, &used),
	    XML_ERR_POLICY);
	assert_non_null(strstr(xml_stream_errmsg(c.s), "memory budget"));
	coll_cleanup(&c);
	/* the same stanza with the default budget goes through */
	lim.max_memory = 0;
	coll_init(&c, &lim);
	assert_int_equal(xml_stream_feed(c.s, hdr, sizeof(hdr) - 1, &used),
	    XML_OK);
	assert_int_equal(xml_stream_feed(c.s, big.data, big.len, &used),
	    XML_OK);
	assert_int_equal(c.stanzas, 1);
	coll_cleanup(&c);
	sbuf_cleanup(&big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_stream_prefix),
		cmocka_unit_test(test_dialback_prefix),
		cmocka_unit_test(test_attrs),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_text_get),
		cmocka_unit_test(test_dup_copy),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_namespaces),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_lang_roundtrip),
		cmocka_unit_test(test_arena_growth),
		cmocka_unit_test(test_stream_basic),
		cmocka_unit_test(test_stream_open_attrs),
		cmocka_unit_test(test_restricted),
		cmocka_unit_test(test_errmsg),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_wrong_root),
		cmocka_unit_test(test_after_close),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_restart_leading_ws),
		cmocka_unit_test(test_split_equivalence),
		cmocka_unit_test(test_split_errors),
		cmocka_unit_test(test_split_nul),
		cmocka_unit_test(test_deep_tree),
		cmocka_unit_test(test_sleep_between_stanzas),
		cmocka_unit_test(test_no_sleep_inside_cdata),
		cmocka_unit_test(test_memory_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

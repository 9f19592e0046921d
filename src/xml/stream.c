/* stream.c: the incremental XMPP stream parser on expat.
 *
 * Expat tokenises; we check the RFC 6120 §11 restrictions and the limits
 * in its callbacks and build one arena tree per top-level element.
 *
 * The stanza size limit is enforced by how much we hand to expat, not
 * after the fact: "mark" is where the unit currently being received
 * started (the stanza's start tag, or the end of the last complete event
 * between stanzas, or byte 0 for the stream header) and expat is never
 * given more than max_stanza bytes past the mark. A stanza that is still
 * incomplete when that much has been fed is too big, whether expat has
 * produced an event for it yet or is still buffering one giant start tag
 * or attribute value. Because the mark after a given prefix of the input
 * does not depend on how the input was split, neither does the outcome. */
#include "xml/xml.h"

#include <expat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "xml/xml_int.h"

/* Expat joins namespace URI and local name with this; it cannot occur in
 * XML text (not even as a character reference). */
#define NS_SEP '\x01'
/* Largest piece handed to XML_Parse at once (it takes an int). */
#define FEED_MAX (1u << 30)
/* Keep a larger text buffer only while stanzas need it: idle streams
 * should hold little memory. */
#define TEXT_KEEP 16384

enum stream_state {
	ST_HEADER,    /* waiting for <stream:stream> */
	ST_OPEN,      /* header seen, stanzas flowing */
	ST_SUSPENDED, /* stopped for a restart */
	ST_CLOSED,    /* </stream:stream> seen */
};

struct xml_stream {
	XML_Parser p;
	struct xml_stream_cb cb;
	void *ud;
	struct xml_limits lim;
	enum stream_state state;
	enum xml_err err;
	int halted; /* parser stopped from a handler: ignore late events */
	int restart_req;
	unsigned depth;	  /* open elements, the stream root included */
	unsigned nsdecls; /* declarations seen for the coming start tag */
	int has_default;  /* the header declared a default namespace */
	struct xml_node *root;
	const char *content_ns;	 /* in root's arena */
	struct xml_node *stanza; /* being built */
	struct xml_node *cur;	 /* innermost open element of stanza */
	size_t fed;		 /* bytes given to this expat parser */
	size_t mark;	   /* start of the unit not yet complete (see above) */
	size_t stop_at;	   /* where the parser was suspended */
	size_t text_total; /* text bytes in the current stanza */
	struct sbuf text;  /* pending character data of cur */
	/* Idle streams give the expat parser back (about 10 KiB each):
	 * the header's start tag is kept and replayed into a fresh parser
	 * when bytes arrive again, so prefixes and the content namespace
	 * are bound exactly as the peer declared them. */
	char *header_raw;
	size_t header_len;
	int replaying;
	int asleep;
	unsigned awake_ix; /* 1 + index in awake_v while it holds a parser */
	int fed_recent;	   /* fed since the last xml_stream_sweep */
	int in_cdata;	   /* inside <![CDATA[ ... ]]>: expat state to keep */
	size_t mem_used;   /* bytes expat holds for this stream */
	char errmsg[160];
};

/* Expat's allocations are charged to the stream whose parser makes them
 * (one loop, so one parser runs at a time): within the stanza limits a
 * peer still cannot make a parser hold more than its budget. A refused
 * allocation makes expat fail with XML_ERROR_NO_MEMORY: policy-violation.
 * Each block carries its owner and size in a 16-byte header. */
static struct xml_stream *mem_owner;

/* Streams holding a parser, for xml_stream_sweep. */
static struct xml_stream **awake_v;
static size_t awake_n, awake_cap;

static void
awake_add(struct xml_stream *s)
{
	if (s->awake_ix)
		return;
	if (awake_n == awake_cap) {
		awake_cap = awake_cap ? awake_cap * 2 : 64;
		awake_v = xrealloc(awake_v, awake_cap * sizeof(*awake_v));
	}
	awake_v[awake_n++] = s;
	s->awake_ix = (unsigned)awake_n;
}

static void
awake_del(struct xml_stream *s)
{
	struct xml_stream *last;

	if (s->awake_ix == 0)
		return;
	last = awake_v[--awake_n];
	awake_v[s->awake_ix - 1] = last;
	last->awake_ix = s->awake_ix;
	s->awake_ix = 0;
}

struct mem_hdr {
	struct xml_stream *owner;
	size_t size;
};

static size_t
mem_budget(const struct xml_stream *s)
{
	if (s->lim.max_memory)
		return s->lim.max_memory;
	if (s->lim.max_stanza == 0)
		return 0;
	return 4 * s->lim.max_stanza + 256 * 1024;
}

static int
mem_allowed(const struct xml_stream *s, size_t more)
{
	size_t b;

	if (s == NULL)
		return 1;
	b = mem_budget(s);
	return b == 0 || s->mem_used + more <= b;
}

static void *
mem_malloc(size_t n)
{
	struct mem_hdr *h;

	if (n > SIZE_MAX - sizeof(*h) || !mem_allowed(mem_owner, n))
		return NULL;
	h = xmalloc(sizeof(*h) + n);
	h->owner = mem_owner;
	h->size = n;
	if (mem_owner)
		mem_owner->mem_used += n;
	return h + 1;
}

static void
mem_free(void *p)
{
	struct mem_hdr *h;

	if (p == NULL)
		return;
	h = (struct mem_hdr *)p - 1;
	if (h->owner)
		h->owner->mem_used -= h->size;
	free(h);
}

static void *
mem_realloc(void *p, size_t n)
{
	struct mem_hdr *h;

	if (p == NULL)
		return mem_malloc(n);
	h = (struct mem_hdr *)p - 1;
	if (n > SIZE_MAX - sizeof(*h) ||
	    (n > h->size && !mem_allowed(h->owner, n - h->size)))
		return NULL;
	if (h->owner)
		h->owner->mem_used = h->owner->mem_used - h->size + n;
	h = xrealloc(h, sizeof(*h) + n);
	h->size = n;
	return h + 1;
}

static const XML_Memory_Handling_Suite stream_mem = {
	mem_malloc,
	mem_realloc,
	mem_free,
};

static void set_err(struct xml_stream *s, enum xml_err err, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
set_err(struct xml_stream *s, enum xml_err err, const char *fmt, ...)
{
	va_list ap;

	if (s->err != XML_OK)
		return;
	s->err = err;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
}

/* From a handler: record the error and make XML_Parse return. */
#define fail(s, ...)                                                           \
	do {                                                                   \
		set_err((s), __VA_ARGS__);                                     \
		(s)->halted = 1;                                               \
		XML_StopParser((s)->p, XML_FALSE);                             \
	} while (0)

/* Absolute offset just past the current event. */
static size_t
event_end(const struct xml_stream *s)
{
	return (size_t)XML_GetCurrentByteIndex(s->p) +
	       (size_t)XML_GetCurrentByteCount(s->p);
}

/* From a handler: stop right after the current event, keeping what
 * follows for the caller. */
static void
suspend_here(struct xml_stream *s, enum stream_state state)
{
	s->stop_at = event_end(s);
	s->state = state;
	s->halted = 1;
	XML_StopParser(s->p, XML_TRUE);
}

static int
is_ws(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return 0;
	return 1;
}

struct qname {
	const char *ns; /* NULL when none */
	size_t ns_len;
	const char *local;
	size_t local_len;
};

static void
split_name(const char *name, struct qname *q)
{
	const char *sep = strchr(name, NS_SEP);

	if (sep == NULL) {
		q->ns = NULL;
		q->ns_len = 0;
		q->local = name;
	} else {
		q->ns = name;
		q->ns_len = (size_t)(sep - name);
		q->local = sep + 1;
	}
	q->local_len = strlen(q->local);
}

static int
str_is(const char *s, const char *p, size_t n)
{
	return strncmp(s, p, n) == 0 && s[n] == '\0';
}

/* An element's namespace string in el's arena: the parent's when equal,
 * so a stanza's children share one copy. */
static const char *
el_ns(struct xml_arena *a, const struct xml_node *parent, const struct qname *q)
{
	if (q->ns == NULL)
		return "";
	if (parent != NULL && str_is(parent->ns, q->ns, q->ns_len))
		return parent->ns;
	return xml_arena_strndup(a, q->ns, q->ns_len);
}

static void
add_attrs(struct xml_node *el, const XML_Char **atts)
{
	struct xml_attr **tail = &el->attrs, *prev = NULL;
	struct qname q;
	size_t i;

	for (i = 0; atts[i] != NULL; i += 2) {
		const char *ns = NULL;

		split_name(atts[i], &q);
		if (q.ns == NULL)
			ns = NULL;
		else if (q.ns_len == sizeof(XML_NS_XML) - 1 &&
			 memcmp(q.ns, XML_NS_XML, q.ns_len) == 0)
			ns = XML_NS_XML;
		else if (prev != NULL && prev->ns != NULL &&
			 str_is(prev->ns, q.ns, q.ns_len))
			ns = prev->ns;
		else if (str_is(el->ns, q.ns, q.ns_len))
			ns = el->ns;
		else
			ns = xml_arena_strndup(el->arena, q.ns, q.ns_len);
		*tail = xml_attr_make(el, ns, q.local, q.local_len, atts[i + 1],
		    strlen(atts[i + 1]));
		prev = *tail;
		tail = &prev->next;
	}
}

static void
flush_text(struct xml_stream *s)
{
	if (s->text.len == 0)
		return;
	xml_text_append(s->cur, s->text.data, s->text.len);
	sbuf_reset(&s->text);
}

static void
open_root(struct xml_stream *s, const struct qname *q, const XML_Char **atts)
{
	struct xml_node *root;

	if (q->ns == NULL || !str_is(XML_NS_STREAM, q->ns, q->ns_len)) {
		if (str_is("stream", q->local, q->local_len))
			fail(s, XML_ERR_INVALID_NS,
			    "stream element not in namespace %s",
			    XML_NS_STREAM);
		else
			fail(s, XML_ERR_BAD_FORMAT,
			    "first element is not <stream:stream>");
		return;
	}
	if (!str_is("stream", q->local, q->local_len)) {
		fail(s, XML_ERR_BAD_FORMAT,
		    "first element is not <stream:stream>");
		return;
	}
	if (!s->replaying) {
		int off = 0, size = 0;
		const char *ctx = XML_GetInputContext(s->p, &off, &size);
		int n = XML_GetCurrentByteCount(s->p);

		free(s->header_raw);
		s->header_raw = NULL;
		s->header_len = 0;
		if (ctx != NULL && n > 0 && off >= 0 && off + n <= size) {
			s->header_raw = xstrndup(ctx + off, (size_t)n);
			s->header_len = (size_t)n;
		}
	}
	root = xml_el_make(NULL, XML_NS_STREAM, q->local, q->local_len);
	add_attrs(root, atts);
	s->root = root;
	s->content_ns =
	    s->has_default
		? xml_arena_strndup(root->arena,
		      s->text.data != NULL ? s->text.data : "", s->text.len)
		: "";
	sbuf_reset(&s->text);
	s->depth = 1;
	s->state = ST_OPEN;
	s->mark = event_end(s);
	if (s->replaying)
		return;
	if (s->cb.open != NULL)
		s->cb.open(s->ud, root, s->content_ns);
	if (s->restart_req && !s->halted)
		suspend_here(s, ST_SUSPENDED);
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct xml_stream *s = ud;
	struct xml_node *el;
	struct qname q;
	size_t nattrs = 0;

	if (s->halted)
		return;
	while (atts[2 * nattrs] != NULL)
		nattrs++;
	if (s->lim.max_attrs && nattrs + s->nsdecls > s->lim.max_attrs) {
		fail(s, XML_ERR_POLICY, "element has more than %u attributes",
		    s->lim.max_attrs);
		return;
	}
	s->nsdecls = 0;
	split_name(name, &q);
	if (s->depth == 0) {
		open_root(s, &q, atts);
		return;
	}
	/* s->depth is now the new element's depth within its stanza. */
	if (s->lim.max_depth && s->depth > s->lim.max_depth) {
		fail(s, XML_ERR_POLICY, "stanza nested deeper than %u levels",
		    s->lim.max_depth);
		return;
	}
	if (s->depth == 1) {
		el = xml_el_make(NULL, "", q.local, q.local_len);
		el->ns = el_ns(el->arena, NULL, &q);
		s->stanza = el;
		s->mark = (size_t)XML_GetCurrentByteIndex(s->p);
		s->text_total = 0;
	} else {
		flush_text(s);
		el = xml_el_make(s->cur, "", q.local, q.local_len);
		el->ns = el_ns(el->arena, s->cur, &q);
	}
	add_attrs(el, atts);
	s->cur = el;
	s->depth++;
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
	struct xml_stream *s = ud;
	struct xml_node *el;

	UNUSED(name);
	if (s->halted)
		return;
	s->depth--;
	if (s->depth == 0) {
		if (s->cb.close != NULL)
			s->cb.close(s->ud);
		if (!s->halted)
			suspend_here(s, ST_CLOSED);
		return;
	}
	flush_text(s);
	el = s->cur;
	s->cur = el->parent;
	if (s->depth > 1)
		return;
	s->stanza = NULL;
	s->mark = event_end(s);
	if (s->text.cap > TEXT_KEEP)
		sbuf_cleanup(&s->text);
	if (s->cb.stanza != NULL)
		s->cb.stanza(s->ud, el);
	else
		xml_node_free(el);
	if (s->restart_req && !s->halted)
		suspend_here(s, ST_SUSPENDED);
}

static void XMLCALL
on_text(void *ud, const XML_Char *data, int len)
{
	struct xml_stream *s = ud;
	size_t n = (size_t)len;

	if (s->halted)
		return;
	if (s->depth <= 1) {
		/* Between stanzas only whitespace (keepalives) may appear. */
		if (!is_ws(data, n)) {
			fail(s, XML_ERR_BAD_FORMAT, "text outside stanzas");
			return;
		}
		s->mark = event_end(s);
		return;
	}
	if (s->lim.max_text && s->text_total + n > s->lim.max_text) {
		fail(s, XML_ERR_POLICY, "stanza text exceeds %zu bytes",
		    s->lim.max_text);
		return;
	}
	s->text_total += n;
	sbuf_append(&s->text, data, n);
}

static void XMLCALL
on_nsdecl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
	struct xml_stream *s = ud;

	if (s->halted)
		return;
	s->nsdecls++;
	if (s->lim.max_attrs && s->nsdecls > s->lim.max_attrs) {
		fail(s, XML_ERR_POLICY, "element has more than %u attributes",
		    s->lim.max_attrs);
		return;
	}
	/* The header's default namespace is the stream's content namespace;
	 * hold it in the (still unused) text buffer until the root exists. */
	if (s->depth == 0 && prefix == NULL) {
		s->has_default = 1;
		sbuf_reset(&s->text);
		if (uri != NULL)
			sbuf_puts(&s->text, uri);
	}
}

static void XMLCALL
on_comment(void *ud, const XML_Char *data)
{
	struct xml_stream *s = ud;

	UNUSED(data);
	if (!s->halted)
		fail(s, XML_ERR_RESTRICTED, "comment not allowed");
}

static void XMLCALL
on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	struct xml_stream *s = ud;

	UNUSED(target);
	UNUSED(data);
	if (!s->halted)
		fail(s, XML_ERR_RESTRICTED,
		    "processing instruction not allowed");
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
	struct xml_stream *s = ud;

	UNUSED(name);
	UNUSED(sysid);
	UNUSED(pubid);
	UNUSED(has_internal_subset);
	if (!s->halted)
		fail(s, XML_ERR_RESTRICTED, "DTD not allowed");
}

static void XMLCALL
on_entity_decl(void *ud, const XML_Char *name, int is_param,
    const XML_Char *value, int value_len, const XML_Char *base,
    const XML_Char *sysid, const XML_Char *pubid, const XML_Char *notation)
{
	struct xml_stream *s = ud;

	UNUSED(name);
	UNUSED(is_param);
	UNUSED(value);
	UNUSED(value_len);
	UNUSED(base);
	UNUSED(sysid);
	UNUSED(pubid);
	UNUSED(notation);
	if (!s->halted)
		fail(s, XML_ERR_RESTRICTED, "entity declaration not allowed");
}

static void XMLCALL
on_cdata_start(void *ud)
{
	((struct xml_stream *)ud)->in_cdata = 1;
}

static void XMLCALL
on_cdata_end(void *ud)
{
	((struct xml_stream *)ud)->in_cdata = 0;
}

static unsigned long
salt_next(void)
{
	static unsigned long pool[256];
	static size_t left;
	unsigned long v;

	do {
		if (left == 0) {
			rand_bytes(pool, sizeof(pool));
			left = ARRAY_LEN(pool);
		}
		v = pool[--left];
	} while (v == 0); /* 0 asks expat to make its own */
	return v;
}

static void
parser_init(struct xml_stream *s)
{
	static const XML_Char sep = NS_SEP;
	struct xml_stream *prev_owner;
	XML_Parser p;

	/* The encoding given here overrides any the document declares:
	 * XMPP is UTF-8 only. */
	/* the parser's own creation is not charged: failing it would be
	 * an out-of-memory abort, not a peer's error */
	prev_owner = mem_owner;
	mem_owner = NULL;
	/* a stream restart reuses the parser (its buffers and pools):
	 * reset, it has no handlers and reads a new document */
	p = s->p;
	if (p != NULL && XML_ParserReset(p, "UTF-8") != XML_TRUE) {
		XML_ParserFree(p);
		p = NULL;
	}
	if (p == NULL)
		p = XML_ParserCreate_MM("UTF-8", &stream_mem, &sep);
	mem_owner = prev_owner;
	if (p == NULL) {
		fprintf(stderr, "ternd: cannot create XML parser\n");
		abort();
	}
	/* expat salts its hash tables against collision floods with a
	 * getrandom() syscall per parser; a parser is made at each stream
	 * restart and each wake-up from idle, so the salt comes from our
	 * buffered generator instead (same protection) */
	XML_SetHashSalt(p, salt_next());
	s->in_cdata = 0;
	XML_SetUserData(p, s);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetCdataSectionHandler(p, on_cdata_start, on_cdata_end);
	XML_SetStartNamespaceDeclHandler(p, on_nsdecl);
	XML_SetCommentHandler(p, on_comment);
	XML_SetProcessingInstructionHandler(p, on_pi);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity_decl);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
	/* Deferral would hold back a stanza whose last bytes arrive in a
	 * small read until more data comes, which on a chat stream may be
	 * never. Trickled giant tokens are bounded by max_stanza instead. */
	XML_SetReparseDeferralEnabled(p, XML_FALSE);
#endif
	s->p = p;
	s->state = ST_HEADER;
	s->err = XML_OK;
	s->halted = 0;
	s->restart_req = 0;
	s->depth = 0;
	s->nsdecls = 0;
	s->has_default = 0;
	s->root = NULL;
	s->content_ns = NULL;
	s->stanza = NULL;
	s->cur = NULL;
	s->fed = 0;
	s->mark = 0;
	s->stop_at = 0;
	s->text_total = 0;
	s->errmsg[0] = '\0';
}

/* What a stream holds besides its parser. */
static void
state_cleanup(struct xml_stream *s)
{
	s->asleep = 0;
	xml_node_free(s->root);
	s->root = NULL;
	xml_node_free(s->stanza);
	s->stanza = NULL;
	sbuf_cleanup(&s->text);
}

static void
parser_cleanup(struct xml_stream *s)
{
	if (s->p != NULL)
		XML_ParserFree(s->p);
	s->p = NULL;
	state_cleanup(s);
}

struct xml_stream *
xml_stream_new(
    const struct xml_stream_cb *cb, void *ud, const struct xml_limits *lim)
{
	struct xml_stream *s = xcalloc(1, sizeof(*s));

	s->cb = *cb;
	s->ud = ud;
	xml_stream_set_limits(s, lim);
	sbuf_init(&s->text);
	parser_init(s);
	awake_add(s);
	return s;
}

void
xml_stream_free(struct xml_stream *s)
{
	if (s == NULL)
		return;
	awake_del(s);
	parser_cleanup(s);
	free(s->header_raw);
	free(s);
}

void
xml_stream_set_limits(struct xml_stream *s, const struct xml_limits *lim)
{
	if (lim != NULL)
		s->lim = *lim;
	else
		memset(&s->lim, 0, sizeof(s->lim));
}

void
xml_stream_request_restart(struct xml_stream *s)
{
	s->restart_req = 1;
}

void
xml_stream_restart(struct xml_stream *s)
{
	state_cleanup(s); /* parser_init resets the parser itself */
	free(s->header_raw);
	s->header_raw = NULL;
	s->header_len = 0;
	parser_init(s);
	awake_add(s);
}

/* Between stanzas, with every byte fed turned into complete events, the
 * parser holds nothing the header replay cannot rebuild. Only after a
 * quiet sweep (xml_stream_sweep): a stream that is talking would pay a
 * new parser and a header replay for every read. */
static void
maybe_sleep(struct xml_stream *s)
{
	/* not inside a CDATA section at stream level either: its text may
	 * only be whitespace so far, but a fresh parser would read what
	 * follows as markup (found by fuzz_xml with 3-byte splits) */
	if (s->state != ST_OPEN || s->depth != 1 || s->stanza != NULL ||
	    s->mark != s->fed || s->header_raw == NULL || s->restart_req ||
	    s->text.len != 0 || s->in_cdata)
		return;
	XML_ParserFree(s->p);
	s->p = NULL;
	xml_node_free(s->root);
	s->root = NULL;
	s->content_ns = NULL;
	sbuf_cleanup(&s->text);
	s->asleep = 1;
}

/* A fresh parser that has read the stream header again, silently. */
static int
wake(struct xml_stream *s)
{
	char *hdr = s->header_raw;
	size_t len = s->header_len;
	struct xml_stream *prev_owner;
	struct xml_limits lim = s->lim;

	s->header_raw = NULL; /* parser_init must not see it as ours */
	parser_init(s);
	s->header_raw = hdr;
	s->header_len = len;
	s->asleep = 0;
	s->replaying = 1;
	s->lim.max_stanza = 0; /* the header was checked when it came */
	prev_owner = mem_owner;
	mem_owner = s;
	if (XML_Parse(s->p, hdr, (int)len, XML_FALSE) != XML_STATUS_OK ||
	    s->state != ST_OPEN) {
		mem_owner = prev_owner;
		s->replaying = 0;
		s->lim = lim;
		set_err(
		    s, XML_ERR_NOT_WELL_FORMED, "stream header replay failed");
		return -1;
	}
	mem_owner = prev_owner;
	s->replaying = 0;
	s->lim = lim;
	s->fed = len;
	s->mark = len;
	return 0;
}

int
xml_stream_is_asleep(const struct xml_stream *s)
{
	return s->asleep;
}

const char *
xml_stream_errmsg(const struct xml_stream *s)
{
	return s->err == XML_OK ? "no error" : s->errmsg;
}

/* Expat's own error, after XML_Parse failed without a handler saying
 * why. Entity trouble is a §11 restriction; the rest is plain syntax. */
static enum xml_err
expat_error(struct xml_stream *s)
{
	enum XML_Error code = XML_GetErrorCode(s->p);
	const char *msg = XML_ErrorString(code);

	if (msg == NULL)
		msg = "XML error";
	switch (code) {
	case XML_ERROR_UNDEFINED_ENTITY:
	case XML_ERROR_RECURSIVE_ENTITY_REF:
	case XML_ERROR_BINARY_ENTITY_REF:
	case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
	case XML_ERROR_PARAM_ENTITY_REF:
	case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
	case XML_ERROR_ENTITY_DECLARED_IN_PE:
	case XML_ERROR_NOT_STANDALONE:
	case XML_ERROR_FEATURE_REQUIRES_XML_DTD:
	case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
		set_err(s, XML_ERR_RESTRICTED, "%s", msg);
		break;
	case XML_ERROR_NO_MEMORY:
		set_err(s, XML_ERR_POLICY,
		    "parser memory budget of %zu bytes "
		    "exceeded",
		    mem_budget(s));
		break;
	default:
		set_err(s, XML_ERR_NOT_WELL_FORMED, "%s", msg);
		break;
	}
	return s->err;
}

/* After </stream:stream> only whitespace may follow. */
static enum xml_err
after_close(struct xml_stream *s, const char *data, size_t len)
{
	if (!is_ws(data, len))
		set_err(s, XML_ERR_CLOSED, "data after end of stream");
	return s->err;
}

enum xml_err
xml_stream_feed(
    struct xml_stream *s, const char *data, size_t len, size_t *consumed)
{
	size_t base, off = 0, used, skipped;
	struct xml_stream *prev_owner;
	const char *nul;
	enum XML_Status st;

	if (consumed != NULL)
		*consumed = len;
	if (s->err != XML_OK)
		return s->err;
	if (s->state == ST_SUSPENDED)
		xml_stream_restart(s);
	if (s->state == ST_CLOSED)
		return after_close(s, data, len);
	s->fed_recent = 1;
	awake_add(s);
	if (s->asleep && wake(s) != 0)
		return s->err;
	/* Whitespace before a stream header is not XML (a declaration must
	 * start the entity), but clients leave a newline after </auth> or
	 * <starttls/> that reaches the restarted parser (mattn/go-xmpp
	 * sends "</auth>\n"), and every other server ignores it. The
	 * skipped bytes count as consumed; expat never sees them. */
	if (s->state == ST_HEADER && s->fed == 0) {
		while (off < len && is_ws(data + off, 1))
			off++;
	}
	skipped = off;
	base = s->fed;
	while (off < len) {
		size_t piece = len - off;

		if (s->lim.max_stanza) {
			used = s->fed - s->mark;
			if (used >= s->lim.max_stanza) {
				set_err(s, XML_ERR_POLICY,
				    "%s exceeds %zu bytes",
				    s->state == ST_HEADER ? "stream header"
							  : "stanza",
				    s->lim.max_stanza);
				return s->err;
			}
			if (piece > s->lim.max_stanza - used)
				piece = s->lim.max_stanza - used;
		}
		if (piece > FEED_MAX)
			piece = FEED_MAX;
		/* NUL is never XML. Expat's encoding sniffing at the start of
		 * a document takes a NUL for half of a UTF-16 character and
		 * may wait for more input or fail depending on where the
		 * reads were split; refusing it ourselves, after expat has
		 * seen everything before it, keeps the outcome independent
		 * of the split. */
		nul = memchr(data + off, '\0', piece);
		if (nul != NULL) {
			piece = (size_t)(nul - (data + off));
			if (piece == 0) {
				set_err(s, XML_ERR_NOT_WELL_FORMED,
				    "NUL character");
				return s->err;
			}
		}
		prev_owner = mem_owner;
		mem_owner = s;
		st = XML_Parse(s->p, data + off, (int)piece, XML_FALSE);
		mem_owner = prev_owner;
		if (st == XML_STATUS_ERROR)
			return s->err != XML_OK ? s->err : expat_error(s);
		if (st == XML_STATUS_SUSPENDED) {
			used = skipped + (s->stop_at - base);
			if (s->state == ST_CLOSED)
				return after_close(s, data + used, len - used);
			if (consumed != NULL)
				*consumed = used;
			return XML_OK;
		}
		off += piece;
		s->fed += piece;
	}
	return XML_OK;
}

void
xml_stream_sweep(void)
{
	size_t i;

	/* downwards: awake_del moves the last (already seen) into i */
	for (i = awake_n; i-- > 0;) {
		struct xml_stream *s = awake_v[i];

		if (s->fed_recent) {
			s->fed_recent = 0;
			continue;
		}
		if (s->err == XML_OK)
			maybe_sleep(s);
		if (s->asleep || s->err != XML_OK)
			awake_del(s);
	}
}

static void
first_el(void *ud, struct xml_node *el)
{
	struct xml_node **out = ud;

	if (*out == NULL)
		*out = el;
	else
		xml_node_free(el);
}

struct xml_node *
xml_parse_element(const char *data, size_t len)
{
	static const char head[] =
	    "<stream:stream xmlns='jabber:client' "
	    "xmlns:stream='http://etherx.jabber.org/streams'>";
	const struct xml_stream_cb cb = { .stanza = first_el };
	/* the header counts against max_stanza too */
	struct xml_limits lim = { .max_stanza = len + sizeof(head),
		.max_depth = 256,
		.max_attrs = 256 };
	struct xml_node *el = NULL;
	struct xml_stream *xs = xml_stream_new(&cb, &el, &lim);
	size_t used;

	if (xml_stream_feed(xs, head, sizeof(head) - 1, &used) != XML_OK ||
	    xml_stream_feed(xs, data, len, &used) != XML_OK) {
		xml_node_free(el);
		el = NULL;
	}
	xml_stream_free(xs);
	return el;
}

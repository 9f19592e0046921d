/* xml.c: element trees in per-tree arenas, queries and the serializer.
 *
 * A tree's nodes, attributes and strings all come from one arena: a chain
 * of chunks filled by bumping a pointer, each new chunk twice the size of
 * the last (up to ARENA_CHUNK_MAX). Nothing is freed individually; the
 * whole tree goes at once, which is what a stanza's life looks like
 * (parsed, routed, serialised, dropped).
 *
 * Walks over subtrees (serialise, copy) are iterative, following parent
 * and sibling links, so a deeply nested tree cannot exhaust the C stack. */
#include "xml/xml.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "xml/xml_int.h"

#define ARENA_FIRST 1024 /* usable bytes of the first chunk */
#define ARENA_CHUNK_MAX 65536
#define ARENA_ALIGN (alignof(void *))

struct arena_chunk {
	struct arena_chunk *next;
	max_align_t data[];
};

struct xml_arena {
	struct arena_chunk *chunks; /* newest first; we live in the last */
	char *cur;
	char *end;
	size_t next_size;
};

_Static_assert(alignof(struct xml_node) <= ARENA_ALIGN, "node alignment");
_Static_assert(alignof(struct xml_attr) <= ARENA_ALIGN, "attr alignment");
_Static_assert(alignof(struct xml_arena) <= ARENA_ALIGN, "arena alignment");

static struct arena_chunk *
chunk_new(size_t n)
{
	struct arena_chunk *c;

	if (n > SIZE_MAX - sizeof(*c))
		abort();
	c = xmalloc(sizeof(*c) + n);
	c->next = NULL;
	return c;
}

#define ARENA_HEAD                                                             \
	((sizeof(struct xml_arena) + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1))

/* An arena whose first chunk has room for first bytes after its header. */
static struct xml_arena *
arena_new_sized(size_t first)
{
	struct arena_chunk *c = chunk_new(ARENA_HEAD + first);
	struct xml_arena *a = (struct xml_arena *)(void *)c->data;

	a->chunks = c;
	a->cur = (char *)c->data + ARENA_HEAD;
	a->end = (char *)c->data + ARENA_HEAD + first;
	a->next_size = ARENA_FIRST * 2;
	return a;
}

static struct xml_arena *
arena_new(void)
{
	return arena_new_sized(ARENA_FIRST - ARENA_HEAD);
}

static void
arena_free(struct xml_arena *a)
{
	struct arena_chunk *c = a->chunks, *next;

	/* The arena header lives in the last chunk: read nothing from a
	 * once the walk has started. */
	while (c != NULL) {
		next = c->next;
		free(c);
		c = next;
	}
}

/* The current chunk cannot hold n bytes: big requests get a chunk of
 * their own (so the rest of the current chunk is not wasted), small ones
 * a fresh chunk that becomes the current one. Chunk data is max-aligned. */
static void *
arena_slow(struct xml_arena *a, size_t n)
{
	struct arena_chunk *c;
	size_t size = a->next_size;

	if (n > size / 4) {
		c = chunk_new(n);
		c->next = a->chunks;
		a->chunks = c;
		return c->data;
	}
	c = chunk_new(size);
	c->next = a->chunks;
	a->chunks = c;
	a->cur = (char *)c->data + n;
	a->end = (char *)c->data + size;
	if (size < ARENA_CHUNK_MAX)
		a->next_size = size * 2;
	return c->data;
}

void *
xml_arena_alloc(struct xml_arena *a, size_t n)
{
	uintptr_t p = ((uintptr_t)a->cur + ARENA_ALIGN - 1) &
		      ~(uintptr_t)(ARENA_ALIGN - 1);

	if (p <= (uintptr_t)a->end && n <= (uintptr_t)a->end - p) {
		a->cur = (char *)p + n;
		return (void *)p;
	}
	return arena_slow(a, n);
}

char *
xml_arena_strndup(struct xml_arena *a, const char *s, size_t n)
{
	char *d;

	if (n < (size_t)(a->end - a->cur)) {
		d = a->cur;
		a->cur += n + 1;
	} else {
		if (n == SIZE_MAX)
			abort();
		d = arena_slow(a, n + 1);
	}
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* ----- building ----- */

static struct xml_node *
node_alloc(
    struct xml_arena *a, struct xml_node *parent, enum xml_node_type type)
{
	struct xml_node *n = xml_arena_alloc(a, sizeof(*n));

	memset(n, 0, sizeof(*n));
	n->type = type;
	n->arena = a;
	if (parent != NULL) {
		n->parent = parent;
		if (parent->last_child != NULL)
			parent->last_child->next = n;
		else
			parent->children = n;
		parent->last_child = n;
	}
	return n;
}

struct xml_node *
xml_el_make(
    struct xml_node *parent, const char *ns, const char *name, size_t name_len)
{
	struct xml_arena *a = parent != NULL ? parent->arena : arena_new();
	struct xml_node *n = node_alloc(a, parent, XML_ELEMENT);

	n->ns = ns;
	n->name = xml_arena_strndup(a, name, name_len);
	return n;
}

void
xml_text_append(struct xml_node *parent, const char *text, size_t len)
{
	struct xml_node *n = node_alloc(parent->arena, parent, XML_TEXT);

	n->text = xml_arena_strndup(parent->arena, text, len);
	n->text_len = len;
}

struct xml_attr *
xml_attr_make(struct xml_node *el, const char *ns, const char *name,
    size_t name_len, const char *value, size_t value_len)
{
	struct xml_attr *at = xml_arena_alloc(el->arena, sizeof(*at));

	at->ns = ns;
	at->name = xml_arena_strndup(el->arena, name, name_len);
	at->value = xml_arena_strndup(el->arena, value, value_len);
	at->next = NULL;
	return at;
}

/* An element namespace for a node in arena a whose parent has namespace
 * pns: share the parent's string when equal (the common case), so a
 * stanza's children cost no extra copies. */
static const char *
ns_in_arena(struct xml_arena *a, const char *pns, const char *ns)
{
	if (pns != NULL && (pns == ns || strcmp(pns, ns) == 0))
		return pns;
	if (ns[0] == '\0')
		return "";
	return xml_arena_strndup(a, ns, strlen(ns));
}

/* Attribute namespaces: NULL for unqualified; the XML namespace points at
 * a static string (xml:lang is on nearly every stanza). */
static const char *
attr_ns_in_arena(struct xml_arena *a, const char *ns)
{
	if (ns == NULL || ns[0] == '\0')
		return NULL;
	if (strcmp(ns, XML_NS_XML) == 0)
		return XML_NS_XML;
	return xml_arena_strndup(a, ns, strlen(ns));
}

struct xml_node *
xml_node_new(const char *ns, const char *name)
{
	struct xml_node *n = xml_el_make(NULL, "", name, strlen(name));

	if (ns != NULL && ns[0] != '\0')
		n->ns = xml_arena_strndup(n->arena, ns, strlen(ns));
	return n;
}

struct xml_node *
xml_node_child(struct xml_node *parent, const char *ns, const char *name)
{
	const char *cns;

	cns = ns == NULL ? parent->ns
			 : ns_in_arena(parent->arena, parent->ns, ns);
	return xml_el_make(parent, cns, name, strlen(name));
}

void
xml_node_text(struct xml_node *parent, const char *text, size_t len)
{
	/* An empty text node would serialise to nothing and not come back
	 * from a parse; keep trees and their serialisation in step. */
	if (len == 0)
		return;
	xml_text_append(parent, text, len);
}

static int
attr_ns_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a == b || strcmp(a, b) == 0;
}

void
xml_node_set_attr_ns(
    struct xml_node *el, const char *ns, const char *name, const char *value)
{
	struct xml_attr **pp, *at;

	if (ns != NULL && ns[0] == '\0')
		ns = NULL;
	for (pp = &el->attrs; *pp != NULL; pp = &(*pp)->next) {
		at = *pp;
		if (!attr_ns_eq(at->ns, ns) || strcmp(at->name, name) != 0)
			continue;
		if (value == NULL)
			*pp = at->next;
		else
			at->value =
			    xml_arena_strndup(el->arena, value, strlen(value));
		return;
	}
	if (value == NULL)
		return;
	*pp = xml_attr_make(el, attr_ns_in_arena(el->arena, ns), name,
	    strlen(name), value, strlen(value));
}

void
xml_node_set_attr(struct xml_node *el, const char *name, const char *value)
{
	xml_node_set_attr_ns(el, NULL, name, value);
}

/* Copy one node (not its children) into arena a under dparent (NULL: a
 * new root of a). */
static struct xml_node *
copy_one(
    struct xml_arena *a, struct xml_node *dparent, const struct xml_node *src)
{
	struct xml_node *d;
	const struct xml_attr *sa;
	struct xml_attr **tail;

	d = node_alloc(a, dparent, src->type);
	if (src->type == XML_TEXT) {
		d->text = xml_arena_strndup(a, src->text, src->text_len);
		d->text_len = src->text_len;
		return d;
	}
	d->ns = ns_in_arena(a, dparent != NULL ? dparent->ns : NULL, src->ns);
	d->name = xml_arena_strndup(a, src->name, strlen(src->name));
	tail = &d->attrs;
	for (sa = src->attrs; sa != NULL; sa = sa->next) {
		*tail = xml_attr_make(d, attr_ns_in_arena(a, sa->ns), sa->name,
		    strlen(sa->name), sa->value, strlen(sa->value));
		tail = &(*tail)->next;
	}
	return d;
}

static struct xml_node *
copy_tree(
    struct xml_arena *a, struct xml_node *dparent, const struct xml_node *src)
{
	struct xml_node *top = copy_one(a, dparent, src);
	struct xml_node *dp = top; /* copy of s->parent */
	const struct xml_node *s = src->children;

	while (s != NULL) {
		struct xml_node *d = copy_one(a, dp, s);

		if (s->children != NULL) {
			dp = d;
			s = s->children;
			continue;
		}
		while (s->next == NULL) {
			s = s->parent;
			if (s == src)
				return top;
			dp = dp->parent;
		}
		s = s->next;
	}
	return top;
}

struct xml_node *
xml_node_copy_into(struct xml_node *parent, const struct xml_node *src)
{
	return copy_tree(parent->arena, parent, src);
}

#define ALIGNED(n) (((n) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

/* Bytes a copy of the subtree takes in an arena, at most (strings are
 * counted whole even when a namespace would be shared). */
static size_t
tree_size(const struct xml_node *n)
{
	const struct xml_attr *at;
	const struct xml_node *c;
	size_t sz = ALIGNED(sizeof(*n));

	if (n->type == XML_TEXT)
		return sz + n->text_len + 1 + ARENA_ALIGN;
	sz += strlen(n->name) + 1 + strlen(n->ns) + 1 + ARENA_ALIGN;
	for (at = n->attrs; at != NULL; at = at->next)
		sz += ALIGNED(sizeof(*at)) + strlen(at->name) + 1 +
		      strlen(at->value) + 1 +
		      (at->ns ? strlen(at->ns) + 1 : 0) + ARENA_ALIGN;
	for (c = n->children; c != NULL; c = c->next)
		sz += tree_size(c);
	return sz;
}

/* A copy in an arena of its size: copies are often kept long (the last
 * presence of every session), so they should not carry a mostly empty
 * first chunk. */
struct xml_node *
xml_node_dup(const struct xml_node *src)
{
	struct xml_arena *a = arena_new_sized(tree_size(src));

	return copy_tree(a, NULL, src);
}

void
xml_node_unlink(struct xml_node *el)
{
	struct xml_node *p = el->parent, *prev = NULL, *c;

	if (p == NULL)
		return;
	for (c = p->children; c != NULL && c != el; c = c->next)
		prev = c;
	if (c == NULL)
		return;
	if (prev != NULL)
		prev->next = el->next;
	else
		p->children = el->next;
	if (p->last_child == el)
		p->last_child = prev;
	el->parent = NULL;
	el->next = NULL;
}

void
xml_node_free(struct xml_node *root)
{
	if (root != NULL)
		arena_free(root->arena);
}

const char *
xml_node_strdup(struct xml_node *el, const char *s, size_t n)
{
	return xml_arena_strndup(el->arena, s, n);
}

/* ----- queries ----- */

const char *
xml_node_attr(const struct xml_node *el, const char *name)
{
	const struct xml_attr *at;

	/* Unqualified attributes only: a peer's {urn:x}to must never be
	 * mistaken for the stanza's to. */
	for (at = el->attrs; at != NULL; at = at->next)
		if (at->ns == NULL && strcmp(at->name, name) == 0)
			return at->value;
	return NULL;
}

const char *
xml_node_attr_ns(const struct xml_node *el, const char *ns, const char *name)
{
	const struct xml_attr *at;

	if (ns != NULL && ns[0] == '\0')
		return xml_node_attr(el, name);
	for (at = el->attrs; at != NULL; at = at->next) {
		if (strcmp(at->name, name) != 0)
			continue;
		if (ns == NULL ||
		    (at->ns != NULL &&
			(at->ns == ns || strcmp(at->ns, ns) == 0)))
			return at->value;
	}
	return NULL;
}

int
xml_node_is(const struct xml_node *el, const char *ns, const char *name)
{
	if (el == NULL || el->type != XML_ELEMENT)
		return 0;
	if (name != NULL && strcmp(el->name, name) != 0)
		return 0;
	if (ns != NULL && el->ns != ns && strcmp(el->ns, ns) != 0)
		return 0;
	return 1;
}

struct xml_node *
xml_node_find(const struct xml_node *el, const char *ns, const char *name)
{
	struct xml_node *c;

	for (c = el->children; c != NULL; c = c->next)
		if (xml_node_is(c, ns, name))
			return c;
	return NULL;
}

struct xml_node *
xml_node_first_el(const struct xml_node *el)
{
	struct xml_node *c;

	for (c = el->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT)
			return c;
	return NULL;
}

struct xml_node *
xml_node_next_el(const struct xml_node *el)
{
	struct xml_node *c;

	for (c = el->next; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT)
			return c;
	return NULL;
}

const char *
xml_node_text_get(struct xml_node *el)
{
	const struct xml_node *c, *only = NULL;
	size_t total = 0, count = 0;
	char *d, *p;

	for (c = el->children; c != NULL; c = c->next) {
		if (c->type != XML_TEXT)
			continue;
		only = c;
		total += c->text_len;
		count++;
	}
	if (count == 0)
		return "";
	if (count == 1)
		return only->text; /* already NUL-terminated */
	d = xml_arena_alloc(el->arena, total + 1);
	p = d;
	for (c = el->children; c != NULL; c = c->next) {
		if (c->type != XML_TEXT)
			continue;
		memcpy(p, c->text, c->text_len);
		p += c->text_len;
	}
	*p = '\0';
	return d;
}

/* ----- serializer ----- */

#define ESC_TEXT 1
#define ESC_ATTR 2
#define ESC_DROP 4

/* What to do with each byte. Text needs & < > (> so "]]>" never appears)
 * and CR (a raw CR would come back as LF). Attribute values also need the
 * quotes and TAB/LF/CR, which attribute normalisation would turn into
 * spaces. Other C0 controls cannot appear in XML 1.0 at all, not even as
 * references; they can only come from a module's careless string, and
 * dropping them keeps the stream well-formed for the recipient. */
static const unsigned char esc_class[256] = {
	[0x00] = ESC_DROP,
	[0x01] = ESC_DROP,
	[0x02] = ESC_DROP,
	[0x03] = ESC_DROP,
	[0x04] = ESC_DROP,
	[0x05] = ESC_DROP,
	[0x06] = ESC_DROP,
	[0x07] = ESC_DROP,
	[0x08] = ESC_DROP,
	['\t'] = ESC_ATTR,
	['\n'] = ESC_ATTR,
	[0x0b] = ESC_DROP,
	[0x0c] = ESC_DROP,
	['\r'] = ESC_TEXT | ESC_ATTR,
	[0x0e] = ESC_DROP,
	[0x0f] = ESC_DROP,
	[0x10] = ESC_DROP,
	[0x11] = ESC_DROP,
	[0x12] = ESC_DROP,
	[0x13] = ESC_DROP,
	[0x14] = ESC_DROP,
	[0x15] = ESC_DROP,
	[0x16] = ESC_DROP,
	[0x17] = ESC_DROP,
	[0x18] = ESC_DROP,
	[0x19] = ESC_DROP,
	[0x1a] = ESC_DROP,
	[0x1b] = ESC_DROP,
	[0x1c] = ESC_DROP,
	[0x1d] = ESC_DROP,
	[0x1e] = ESC_DROP,
	[0x1f] = ESC_DROP,
	['&'] = ESC_TEXT | ESC_ATTR,
	['<'] = ESC_TEXT | ESC_ATTR,
	['>'] = ESC_TEXT | ESC_ATTR,
	['"'] = ESC_ATTR,
	['\''] = ESC_ATTR,
};

static void
put_escaped(struct sbuf *out, const char *s, size_t n, unsigned mask)
{
	size_t i, start = 0;

	mask |= ESC_DROP;
	sbuf_reserve(out, n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *rep;
		size_t rlen;

		if (!(esc_class[c] & mask))
			continue;
		sbuf_append(out, s + start, i - start);
		start = i + 1;
		switch (c) {
		case '&':
			rep = "&amp;";
			rlen = 5;
			break;
		case '<':
			rep = "&lt;";
			rlen = 4;
			break;
		case '>':
			rep = "&gt;";
			rlen = 4;
			break;
		case '"':
			rep = "&quot;";
			rlen = 6;
			break;
		case '\'':
			rep = "&apos;";
			rlen = 6;
			break;
		case '\t':
			rep = "&#9;";
			rlen = 4;
			break;
		case '\n':
			rep = "&#10;";
			rlen = 5;
			break;
		case '\r':
			rep = "&#13;";
			rlen = 5;
			break;
		default:
			continue; /* dropped control character */
		}
		sbuf_append(out, rep, rlen);
	}
	sbuf_append(out, s + start, n - start);
}

static void
put_str(struct sbuf *out, const char *s)
{
	sbuf_append(out, s, strlen(s));
}

static void
put_attr_value(struct sbuf *out, const char *v)
{
	sbuf_append(out, "='", 2);
	put_escaped(out, v, strlen(v), ESC_ATTR);
	sbuf_putc(out, '\'');
}

static int
ns_eq(const char *a, const char *b)
{
	if (a == NULL)
		a = "";
	if (b == NULL)
		b = "";
	return a == b || strcmp(a, b) == 0;
}

static int
is_stanza_ns(const char *ns)
{
	return ns != NULL && (strcmp(ns, "jabber:client") == 0 ||
				 strcmp(ns, "jabber:server") == 0 ||
				 strcmp(ns, "jabber:component:accept") == 0);
}

static int
is_xml_ns(const char *ns)
{
	return strcmp(ns, XML_NS_XML) == 0;
}

/* The default namespace in scope for n's start tag. It is the parent's
 * namespace, except that an element in the XML namespace is written with
 * the predeclared xml: prefix (the XML namespace may not be made the
 * default), so it does not change the default for its children. */
static const char *
scope_of(const struct xml_node *n, const struct xml_node *top,
    const char *top_scope, const char *top_prefix)
{
	const struct xml_node *p;

	/* n is a proper descendant of top, so the walk ends at top. */
	for (p = n->parent;; p = p->parent) {
		if (p == top && top_prefix != NULL)
			return top_scope;
		if (!is_xml_ns(p->ns))
			return p->ns;
		if (p == top)
			return top_scope;
	}
}

static void
put_name(struct sbuf *out, const struct xml_node *el, const char *prefix)
{
	if (prefix != NULL) {
		put_str(out, prefix);
		sbuf_putc(out, ':');
	}
	put_str(out, el->name);
}

/* Namespaced attributes (other than xml:) get the prefix "ns<i>", i the
 * position of the first attribute of this element in the same namespace,
 * declared on this element where that namespace first appears. */
static void
put_attrs(struct sbuf *out, const struct xml_node *el)
{
	const struct xml_attr *at, *o;
	unsigned i, j;

	for (at = el->attrs, i = 0; at != NULL; at = at->next, i++) {
		sbuf_putc(out, ' ');
		if (at->ns == NULL) {
			put_str(out, at->name);
		} else if (is_xml_ns(at->ns)) {
			sbuf_append(out, "xml:", 4);
			put_str(out, at->name);
		} else {
			for (o = el->attrs, j = 0; o != at; o = o->next, j++)
				if (o->ns != NULL && strcmp(o->ns, at->ns) == 0)
					break;
			if (o == at) {
				sbuf_printf(out, "xmlns:ns%u", j);
				put_attr_value(out, at->ns);
				sbuf_putc(out, ' ');
			}
			sbuf_printf(out, "ns%u:", j);
			put_str(out, at->name);
		}
		put_attr_value(out, at->value);
	}
}

/* prefix: written with this predeclared prefix, no declaration */
static void
put_open(struct sbuf *out, const struct xml_node *el, const char *scope,
    int omit_ns, const char *prefix)
{
	int declare = 0;

	if (prefix == NULL && !omit_ns && !ns_eq(el->ns, scope)) {
		if (is_xml_ns(el->ns))
			prefix = "xml";
		else
			declare = 1;
	}
	sbuf_putc(out, '<');
	put_name(out, el, prefix);
	if (declare) {
		sbuf_append(out, " xmlns", 6);
		put_attr_value(out, el->ns);
	}
	put_attrs(out, el);
	if (el->children == NULL)
		sbuf_append(out, "/>", 2);
	else
		sbuf_putc(out, '>');
}

static void
put_close(struct sbuf *out, const struct xml_node *el, const char *prefix)
{
	sbuf_append(out, "</", 2);
	put_name(out, el, prefix);
	sbuf_putc(out, '>');
}

void
xml_serialize(
    const struct xml_node *el, const char *parent_ns, struct sbuf *out)
{
	const struct xml_node *n = el;
	const char *top_prefix = NULL;
	int omit_top;

	if (parent_ns == NULL)
		parent_ns = "";
	if (el->type == XML_TEXT) {
		put_escaped(out, el->text, el->text_len, ESC_TEXT);
		return;
	}
	/* A stanza moves between client, server and component streams
	 * unchanged: written into any of those streams, it takes the
	 * stream's content namespace. */
	omit_top = is_stanza_ns(parent_ns) && is_stanza_ns(el->ns);
	/* Written into a stream, <features/> and <error/> of the stream
	 * namespace use the header's stream: prefix: XML::Stream (Perl)
	 * and loudmouth recognise only that form, and every server
	 * sends it. */
	if (is_stanza_ns(parent_ns) && el->ns != NULL &&
	    strcmp(el->ns, XML_NS_STREAM) == 0)
		top_prefix = "stream";
	/* Likewise dialback elements in a server stream, whose header
	 * declares db: (XEP-0220 writes them so): ejabberd's parser is not
	 * namespace-aware and knows them only as db:result and db:verify,
	 * so an unprefixed <verify xmlns=.../> went unanswered. */
	else if (strcmp(parent_ns, "jabber:server") == 0 && el->ns != NULL &&
		 strcmp(el->ns, XML_NS_DIALBACK) == 0)
		top_prefix = "db";
	for (;;) {
		if (n->type == XML_TEXT) {
			put_escaped(out, n->text, n->text_len, ESC_TEXT);
		} else if (n == el) {
			put_open(out, n, parent_ns, omit_top, top_prefix);
			if (n->children != NULL) {
				n = n->children;
				continue;
			}
		} else {
			put_open(out, n, scope_of(n, el, parent_ns, top_prefix),
			    0, NULL);
			if (n->children != NULL) {
				n = n->children;
				continue;
			}
		}
		while (n != el && n->next == NULL) {
			const char *prefix = NULL;

			n = n->parent;
			if (n == el && top_prefix != NULL)
				prefix = top_prefix;
			else if (is_xml_ns(n->ns) &&
				 !ns_eq(n->ns, n == el
						   ? parent_ns
						   : scope_of(n, el, parent_ns,
							 top_prefix)))
				prefix = "xml";
			put_close(out, n, prefix);
		}
		if (n == el)
			break;
		n = n->next;
	}
}

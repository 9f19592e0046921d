/* xml.h: element trees, the serializer and the incremental XML stream
 * parser (expat) with RFC 6120 §11 restricted-XML rules and limits
 * enforced while parsing.
 *
 * Every node of a tree lives in one arena owned by the tree's root; the
 * whole tree is freed at once with xml_node_free(root). Names are local
 * names; each element carries its namespace URI. The serializer emits
 * default-namespace declarations only where an element's namespace differs
 * from its parent's, so no prefixes ever appear on elements. */
#ifndef TERN_XML_H
#define TERN_XML_H

#include <stddef.h>

#include "core/buf.h"

#define XML_NS_XML "http://www.w3.org/XML/1998/namespace"
#define XML_NS_STREAM "http://etherx.jabber.org/streams"
#define XML_NS_DIALBACK "jabber:server:dialback"
#define XML_NS_CLIENT "jabber:client"

struct xml_arena;

struct xml_attr {
	const char
	    *ns; /* NULL for unqualified attributes; XML_NS_XML for xml:lang */
	const char *name; /* local name */
	const char *value;
	struct xml_attr *next;
};

enum xml_node_type { XML_ELEMENT, XML_TEXT };

struct xml_node {
	enum xml_node_type type;
	struct xml_arena *arena; /* shared by all nodes of the tree */
	struct xml_node *parent;
	struct xml_node *next; /* next sibling */
	/* XML_ELEMENT */
	const char *name;
	const char
	    *ns; /* namespace URI, never NULL for elements ("" if none) */
	struct xml_attr *attrs;
	struct xml_node *children;
	struct xml_node *last_child;
	/* XML_TEXT: unescaped character data */
	const char *text;
	size_t text_len;
};

/* Building trees. xml_node_new makes a root element with its own arena;
 * xml_node_child makes an element inside parent's arena and appends it.
 * ns NULL means "same as parent" for children and "" for roots. All
 * strings are copied into the arena. */
struct xml_node *xml_node_new(const char *ns, const char *name);
struct xml_node *xml_node_child(
    struct xml_node *parent, const char *ns, const char *name);
void xml_node_text(struct xml_node *parent, const char *text, size_t len);
/* Set (replace) or, with value NULL, remove an unqualified attribute. */
void xml_node_set_attr(
    struct xml_node *el, const char *name, const char *value);
void xml_node_set_attr_ns(
    struct xml_node *el, const char *ns, const char *name, const char *value);
/* Deep copy of src (and its subtree) appended as a child of parent. */
struct xml_node *xml_node_copy_into(
    struct xml_node *parent, const struct xml_node *src);
/* Deep copy into a new tree with its own arena. */
struct xml_node *xml_node_dup(const struct xml_node *src);
/* Unlink el from its parent (memory stays in the arena). */
void xml_node_unlink(struct xml_node *el);
/* Frees the arena of a root node (and so the whole tree). NULL: no-op. */
void xml_node_free(struct xml_node *root);
/* Allocate a string copy in el's arena. */
const char *xml_node_strdup(struct xml_node *el, const char *s, size_t n);

/* Queries. ns NULL matches any namespace. */
const char *xml_node_attr(const struct xml_node *el, const char *name);
const char *xml_node_attr_ns(
    const struct xml_node *el, const char *ns, const char *name);
struct xml_node *xml_node_find(
    const struct xml_node *el, const char *ns, const char *name);
/* First child element (any name), or NULL. */
struct xml_node *xml_node_first_el(const struct xml_node *el);
/* Next sibling element after el, or NULL. */
struct xml_node *xml_node_next_el(const struct xml_node *el);
/* Concatenated direct text children into a NUL-terminated string in the
 * arena ("" when none). */
const char *xml_node_text_get(struct xml_node *el);
int xml_node_is(const struct xml_node *el, const char *ns, const char *name);

/* Serialise el and its subtree. parent_ns is the namespace in scope (the
 * stream's content namespace for a stanza); an element whose ns equals
 * it gets no xmlns attribute. Stanzas in jabber:client / jabber:server /
 * jabber:component:accept are treated as in scope of any of those. */
void xml_serialize(
    const struct xml_node *el, const char *parent_ns, struct sbuf *out);

/* Parse one element serialised earlier with xml_serialize(el,
 * "jabber:client", ...) — stored data such as vCards or offline
 * messages — through the same hardened stream parser (depth and attribute
 * limits of 256). The first complete element, or NULL if it does not
 * parse. */
struct xml_node *xml_parse_element(const char *data, size_t len);

/* ----- Stream parser ----- */

struct xml_limits {
	size_t
	    max_stanza; /* bytes of one top-level stanza (start to end tag) */
	unsigned max_depth; /* element depth inside a stanza */
	unsigned max_attrs; /* attributes (and ns declarations) per element */
	size_t max_text;    /* text bytes per stanza (<= max_stanza) */
	/* bytes the expat parser itself may hold; 0: derived from
	 * max_stanza (4 x max_stanza + 256 KiB; none when that is 0) */
	size_t max_memory;
};

enum xml_err {
	XML_OK = 0,
	XML_ERR_NOT_WELL_FORMED, /* syntax, bad UTF-8, unbound prefix... */
	XML_ERR_RESTRICTED,	 /* DTD, comment, PI, entity decl/ref */
	XML_ERR_POLICY,		 /* a limit was exceeded */
	XML_ERR_INVALID_NS,	 /* stream root not in the streams namespace */
	XML_ERR_BAD_FORMAT,	 /* first element not <stream:stream> */
	XML_ERR_CLOSED,		 /* data after </stream:stream> */
};

struct xml_stream_cb {
	/* The opening <stream:stream> arrived. root is an element (no
	 * children) owned by the parser, valid until the next restart or
	 * free; root->ns is the stream namespace, content_ns is the default
	 * namespace the header declared (e.g. "jabber:client", may be ""). */
	void (*open)(void *ud, struct xml_node *root, const char *content_ns);
	/* One complete top-level element. The callee owns it (xml_node_free).
	 * Its ns is as declared (a stanza in the content ns has ns ==
	 * content_ns). */
	void (*stanza)(void *ud, struct xml_node *stanza);
	/* </stream:stream> arrived. */
	void (*close)(void *ud);
};

struct xml_stream;

struct xml_stream *xml_stream_new(
    const struct xml_stream_cb *cb, void *ud, const struct xml_limits *lim);
void xml_stream_free(struct xml_stream *s); /* NULL: no-op */
/* Change limits (e.g. after authentication). */
void xml_stream_set_limits(struct xml_stream *s, const struct xml_limits *lim);
/* Feed bytes. Callbacks run from inside this call. If a callback called
 * xml_stream_request_restart(), parsing stops right after that element;
 * *consumed tells how many of the bytes were used (otherwise len). The
 * caller then restarts and feeds the rest (stream restart after SASL). On
 * an error, the parser is dead; *consumed is unspecified. */
enum xml_err xml_stream_feed(
    struct xml_stream *s, const char *data, size_t len, size_t *consumed);
/* From a callback: stop after the current element; a fresh parser is
 * needed for what follows (a new stream header). */
void xml_stream_request_restart(struct xml_stream *s);
/* Discard all parser state and expect a new stream header. */
void xml_stream_restart(struct xml_stream *s);
/* Is the stream between stanzas with its parser given back (an idle
 * stream costs no parser memory; the next bytes rebuild it)? */
int xml_stream_is_asleep(const struct xml_stream *s);
/* Streams fed nothing since the previous call and resting between
 * stanzas give their parser back (the owner calls this a few times a
 * second; a stream that talks keeps its parser). */
void xml_stream_sweep(void);
/* Human-readable detail for the last error (for logs, <text/>). */
const char *xml_stream_errmsg(const struct xml_stream *s);

#endif

/* xml_int.h: arena and tree-building internals shared by xml.c and
 * stream.c. Not part of the public API: the stream parser needs to append
 * nodes and attributes without the lookups the public setters do (an
 * element with thousands of attributes must not cost quadratic time). */
#ifndef TERN_XML_INT_H
#define TERN_XML_INT_H

#include <stddef.h>

#include "xml/xml.h"

/* Pointer-aligned memory from the arena. */
void *xml_arena_alloc(struct xml_arena *a, size_t n);
/* NUL-terminated copy of s[0..n) in the arena. */
char *xml_arena_strndup(struct xml_arena *a, const char *s, size_t n);

/* New element. With parent NULL it becomes the root of a fresh arena,
 * otherwise it is appended to parent's children in parent's arena. ns
 * must already live in the right arena (or be static). */
struct xml_node *xml_el_make(
    struct xml_node *parent, const char *ns, const char *name, size_t name_len);
/* Append a text node holding a copy of text[0..len). */
void xml_text_append(struct xml_node *parent, const char *text, size_t len);
/* A new attribute in el's arena, not linked into el->attrs: the caller
 * links it (keeping its own tail pointer, so building n attributes costs
 * O(n), and relying on expat's duplicate detection). ns is stored as
 * given: NULL, static, or already in el's arena. name and value are
 * copied. */
struct xml_attr *xml_attr_make(struct xml_node *el, const char *ns,
    const char *name, size_t name_len, const char *value, size_t value_len);

#endif

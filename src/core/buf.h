/* buf.h: a growable byte string (sbuf) and an immutable refcounted buffer
 * (rbuf) that one serialised stanza becomes, so the same bytes can be
 * queued on many connections. */
#ifndef TERN_BUF_H
#define TERN_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct sbuf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
};

void sbuf_init(struct sbuf *b);
void sbuf_cleanup(struct sbuf *b);
void sbuf_reset(struct sbuf *b); /* len = 0, keeps memory */
void sbuf_reserve(struct sbuf *b, size_t extra);
void sbuf_append(struct sbuf *b, const void *p, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_putc(struct sbuf *b, char c);
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Append s with XML escaping of & < > " ' (for text and attributes). */
void sbuf_put_xml_escaped(struct sbuf *b, const char *s, size_t n);
/* Hand the buffer to the caller (free() it); b is left empty. */
char *sbuf_steal(struct sbuf *b, size_t *len);

struct rbuf {
	unsigned refs;
	size_t len;
	char data[];
};

struct rbuf *rbuf_new(const void *p, size_t n);
struct rbuf *rbuf_from_sbuf(struct sbuf *b); /* copies; b untouched */
struct rbuf *rbuf_ref(struct rbuf *r);
void rbuf_unref(struct rbuf *r); /* NULL is a no-op */

#endif

/* buf.c: growable and refcounted byte buffers. */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void
sbuf_init(struct sbuf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
sbuf_cleanup(struct sbuf *b)
{
	free(b->data);
	sbuf_init(b);
}

void
sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
sbuf_reserve(struct sbuf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	size_t cap;

	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
sbuf_append(struct sbuf *b, const void *p, size_t n)
{
	sbuf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_append(b, s, strlen(s));
}

void
sbuf_putc(struct sbuf *b, char c)
{
	sbuf_append(b, &c, 1);
}

void
sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	size_t room;
	int n;

	sbuf_reserve(b, 64);
	room = b->cap - b->len;
	va_copy(ap2, ap);
	n = vsnprintf(b->data + b->len, room, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		b->data[b->len] = '\0';
		return;
	}
	if ((size_t)n >= room) {
		sbuf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	}
	b->len += (size_t)n;
}

void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
sbuf_put_xml_escaped(struct sbuf *b, const char *s, size_t n)
{
	size_t i, start = 0;

	sbuf_reserve(b, n);
	for (i = 0; i < n; i++) {
		const char *rep;

		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		default:
			continue;
		}
		sbuf_append(b, s + start, i - start);
		sbuf_puts(b, rep);
		start = i + 1;
	}
	sbuf_append(b, s + start, n - start);
}

char *
sbuf_steal(struct sbuf *b, size_t *len)
{
	char *d = b->data;

	if (len)
		*len = b->len;
	if (d == NULL)
		d = xstrdup("");
	sbuf_init(b);
	return d;
}

struct rbuf *
rbuf_new(const void *p, size_t n)
{
	struct rbuf *r = xmalloc(sizeof(*r) + n + 1);

	r->refs = 1;
	r->len = n;
	memcpy(r->data, p, n);
	r->data[n] = '\0';
	return r;
}

struct rbuf *
rbuf_from_sbuf(struct sbuf *b)
{
	return rbuf_new(b->data ? b->data : "", b->len);
}

struct rbuf *
rbuf_ref(struct rbuf *r)
{
	r->refs++;
	return r;
}

void
rbuf_unref(struct rbuf *r)
{
	if (r && --r->refs == 0)
		free(r);
}

/* bxml.c: buffers and a small XML tag scanner for tern-bench.
 *
 * A load generator must spend its CPU on the server, not on itself, and
 * only needs to pick a few names, attributes and texts out of what
 * servers send; so instead of a full parser this lexes tags (quotes,
 * comments, PIs and CDATA handled) and the caller tracks depth. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

void *
bx_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		fprintf(stderr, "tern-bench: out of memory\n");
		abort();
	}
	return p;
}

void *
bx_calloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL) {
		fprintf(stderr, "tern-bench: out of memory\n");
		abort();
	}
	return p;
}

void *
bx_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL) {
		fprintf(stderr, "tern-bench: out of memory\n");
		abort();
	}
	return q;
}

char *
bx_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = bx_malloc(n);

	memcpy(d, s, n);
	return d;
}

void
bb_reserve(struct bbuf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	if (b->off > 0 && b->off >= b->len / 2) {
		bb_compact(b);
		need = b->len + extra + 1;
		if (need <= b->cap)
			return;
	}
	if (b->cap == 0)
		b->cap = 512;
	while (b->cap < need)
		b->cap *= 2;
	b->p = bx_realloc(b->p, b->cap);
}

void
bb_append(struct bbuf *b, const void *p, size_t n)
{
	bb_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
bb_printf(struct bbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* measure into a one-byte buffer: gcc's -O1 sanitizer builds take
	 * vsnprintf(NULL, 0, ...) for a null format (-Wformat-truncation) */
	char one[1];

	va_start(ap, fmt);
	n = vsnprintf(one, sizeof(one), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	bb_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
bb_compact(struct bbuf *b)
{
	if (b->off == 0)
		return;
	memmove(b->p, b->p + b->off, b->len - b->off);
	b->len -= b->off;
	b->off = 0;
	b->p[b->len] = '\0';
}

void
bb_free(struct bbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *
find2(const char *p, size_t n, size_t from, const char *pat)
{
	size_t k = strlen(pat);

	if (n < k)
		return NULL;
	for (size_t i = from; i + k <= n; i++)
		if (p[i] == pat[0] && memcmp(p + i, pat, k) == 0)
			return p + i;
	return NULL;
}

int
bx_lex(const char *p, size_t n, size_t pos, struct bx_tok *t)
{
	const char *q;
	size_t i;
	char quote = 0;

	if (pos >= n)
		return 0;
	t->start = pos;
	t->name = t->namelen = 0;
	if (p[pos] != '<') {
		q = memchr(p + pos, '<', n - pos);
		t->kind = BX_TEXT;
		t->end = q ? (size_t)(q - p) : n;
		return 1;
	}
	if (pos + 1 >= n)
		return 0;
	if (p[pos + 1] == '?' || p[pos + 1] == '!') {
		const char *close = "?>";

		if (p[pos + 1] == '!') {
			if (n - pos < 4)
				return 0;
			if (memcmp(p + pos, "<!--", 4) == 0) {
				close = "-->";
			} else if (n - pos < 9) {
				return 0;
			} else if (memcmp(p + pos, "<![CDATA[", 9) == 0) {
				close = "]]>";
			} else {
				close = ">";
			}
		}
		q = find2(p, n, pos + 2, close);
		if (q == NULL)
			return 0;
		t->kind = BX_OTHER;
		t->end = (size_t)(q - p) + strlen(close);
		return 1;
	}
	i = pos + 1;
	t->kind = BX_START;
	if (p[i] == '/') {
		t->kind = BX_END;
		i++;
	}
	t->name = i;
	while (i < n && !is_space(p[i]) && p[i] != '>' && p[i] != '/')
		i++;
	if (i >= n)
		return 0;
	t->namelen = i - t->name;
	if (t->namelen == 0)
		return -1;
	for (; i < n; i++) {
		if (quote) {
			if (p[i] == quote)
				quote = 0;
			continue;
		}
		if (p[i] == '"' || p[i] == '\'') {
			quote = p[i];
		} else if (p[i] == '>') {
			if (t->kind == BX_START && p[i - 1] == '/')
				t->kind = BX_EMPTY;
			t->end = i + 1;
			return 1;
		} else if (p[i] == '<') {
			return -1;
		}
	}
	return 0;
}

int
bx_local_is(const char *p, size_t len, const char *ln)
{
	const char *colon = memchr(p, ':', len);
	size_t k = strlen(ln);

	if (colon != NULL) {
		len -= (size_t)(colon + 1 - p);
		p = colon + 1;
	}
	return len == k && memcmp(p, ln, k) == 0;
}

int
bx_is(const char *e, size_t n, const char *ln)
{
	struct bx_tok t;

	if (bx_lex(e, n, 0, &t) != 1 || (t.kind != BX_START &&
	    t.kind != BX_EMPTY))
		return 0;
	return bx_local_is(e + t.name, t.namelen, ln);
}

/* Decode the five predefined entities and numeric references (ASCII). */
static void
unescape(const char *s, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < outsz; i++) {
		const char *semi;
		size_t k;

		if (s[i] != '&') {
			out[o++] = s[i];
			continue;
		}
		semi = memchr(s + i, ';', n - i);
		if (semi == NULL) {
			out[o++] = s[i];
			continue;
		}
		k = (size_t)(semi - (s + i));
		if (k == 3 && memcmp(s + i, "&lt", 3) == 0)
			out[o++] = '<';
		else if (k == 3 && memcmp(s + i, "&gt", 3) == 0)
			out[o++] = '>';
		else if (k == 4 && memcmp(s + i, "&amp", 4) == 0)
			out[o++] = '&';
		else if (k == 5 && memcmp(s + i, "&apos", 5) == 0)
			out[o++] = '\'';
		else if (k == 5 && memcmp(s + i, "&quot", 5) == 0)
			out[o++] = '"';
		else if (k > 2 && s[i + 1] == '#') {
			long v = s[i + 2] == 'x' ?
			    strtol(s + i + 3, NULL, 16) :
			    strtol(s + i + 2, NULL, 10);

			out[o++] = v > 0 && v < 128 ? (char)v : '?';
		} else {
			out[o++] = '?';
		}
		i += k;
	}
	out[o] = '\0';
}

int
bx_attr(const char *e, size_t n, const char *a, char *out, size_t outsz)
{
	struct bx_tok t;
	size_t i, k = strlen(a);

	if (bx_lex(e, n, 0, &t) != 1 || (t.kind != BX_START &&
	    t.kind != BX_EMPTY))
		return -1;
	i = t.name + t.namelen;
	while (i < t.end) {
		size_t ns, nl, vs;
		char q;

		while (i < t.end && is_space(e[i]))
			i++;
		ns = i;
		while (i < t.end && e[i] != '=' && !is_space(e[i]) &&
		    e[i] != '>' && e[i] != '/')
			i++;
		nl = i - ns;
		while (i < t.end && is_space(e[i]))
			i++;
		if (i >= t.end || e[i] != '=')
			return -1;
		i++;
		while (i < t.end && is_space(e[i]))
			i++;
		if (i >= t.end || (e[i] != '"' && e[i] != '\''))
			return -1;
		q = e[i++];
		vs = i;
		while (i < t.end && e[i] != q)
			i++;
		if (i >= t.end)
			return -1;
		if (nl == k && memcmp(e + ns, a, k) == 0) {
			unescape(e + vs, i - vs, out, outsz);
			return 0;
		}
		i++;
	}
	return -1;
}

int
bx_find(const char *e, size_t n, const char *ln, const char **sub,
    size_t *subn)
{
	struct bx_tok t;
	size_t pos = 0;
	int first = 1;

	while (bx_lex(e, n, pos, &t) == 1) {
		pos = t.end;
		if (t.kind != BX_START && t.kind != BX_EMPTY)
			continue;
		if (!first && bx_local_is(e + t.name, t.namelen, ln)) {
			size_t s = t.start;
			int d = 0;

			if (t.kind == BX_EMPTY) {
				*sub = e + s;
				*subn = t.end - s;
				return 0;
			}
			/* Find the matching end tag. */
			do {
				if (t.kind == BX_START)
					d++;
				else if (t.kind == BX_END)
					d--;
				if (d == 0) {
					*sub = e + s;
					*subn = t.end - s;
					return 0;
				}
			} while (bx_lex(e, n, t.end, &t) == 1);
			return -1;
		}
		first = 0;
	}
	return -1;
}

int
bx_text(const char *e, size_t n, char *out, size_t outsz)
{
	struct bx_tok t;
	const char *lt;

	if (bx_lex(e, n, 0, &t) != 1 || t.kind != BX_START) {
		if (outsz > 0)
			out[0] = '\0';
		return t.kind == BX_EMPTY ? 0 : -1;
	}
	lt = memchr(e + t.end, '<', n - t.end);
	if (lt == NULL)
		return -1;
	unescape(e + t.end, (size_t)(lt - (e + t.end)), out, outsz);
	return 0;
}

void
bx_escape(struct bbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			bb_append(b, "&amp;", 5);
			break;
		case '<':
			bb_append(b, "&lt;", 4);
			break;
		case '>':
			bb_append(b, "&gt;", 4);
			break;
		case '\'':
			bb_append(b, "&apos;", 6);
			break;
		case '"':
			bb_append(b, "&quot;", 6);
			break;
		default:
			bb_append(b, s, 1);
		}
	}
}

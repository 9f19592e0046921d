/* util.c: allocation, random, time, hashing and base64 helpers. */
#include "core/util.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
oom(size_t n)
{
	fprintf(stderr, "ternd: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(0);
	return s;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

int
ct_memeq(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= x[i] ^ y[i];
	return acc == 0;
}

void
rand_bytes(void *buf, size_t n)
{
	if (RAND_bytes(buf, (int)n) != 1) {
		fprintf(stderr, "ternd: RAND_bytes failed\n");
		abort();
	}
}

/* Ids (stream, resource, stanza, session ids) come from a pool filled
 * by RAND_bytes a kilobyte at a time: OpenSSL 3's RAND_bytes costs a
 * provider lookup per call, which showed in login profiles. A used byte
 * is wiped. A forked child empties its copy (an atfork handler, not a
 * getpid() per id: that was three system calls per login). */
static unsigned char id_pool[1024];
static size_t id_left;

static void
id_pool_forget(void)
{
	memset(id_pool, 0, sizeof(id_pool));
	id_left = 0;
}

void
rand_id(char *out, size_t n)
{
	static const char alpha[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
	static int atfork_set;
	size_t i;

	if (n == 0)
		return;
	if (!atfork_set) {
		atfork_set = 1;
		pthread_atfork(NULL, NULL, id_pool_forget);
	}
	for (i = 0; i + 1 < n; i++) {
		if (id_left == 0) {
			rand_bytes(id_pool, sizeof(id_pool));
			id_left = sizeof(id_pool);
		}
		id_left--;
		out[i] = alpha[id_pool[id_left] & 63];
		id_pool[id_left] = 0;
	}
	out[n - 1] = '\0';
}

/* The time in milliseconds as 8 characters of an alphabet in ASCII
 * order, so ids that start with it sort by creation time (storage
 * indexes then grow at their end instead of being written all over). */
static void
time_prefix(char *out)
{
	static const char alpha[] =
	    "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
	struct timespec ts;
	uint64_t ms;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	for (i = 0; i < 8; i++)
		out[i] = alpha[(ms >> (6 * (7 - i))) & 63];
}

/* Like rand_id, but the first 8 characters are the time (time_prefix);
 * the rest stays random (90 bits for the usual 24-byte buffer). */
void
time_id(char *out, size_t n)
{
	if (n <= 9) {
		rand_id(out, n);
		return;
	}
	time_prefix(out);
	rand_id(out + 8, n - 8);
}

void
time_id_rnd(char *out, size_t n, const unsigned char *rnd)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
				    "OPQRSTUVWXYZ0123456789-_";
	size_t i;

	time_prefix(out);
	for (i = 8; i + 1 < n; i++)
		out[i] = alpha[rnd[i - 8] & 63];
	out[n - 1] = '\0';
}

int64_t
now_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
time_xep82(int64_t unix_secs, char *out, size_t outlen)
{
	time_t t = (time_t)unix_secs;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
time_parse_xep82(const char *s, int64_t *out)
{
	int y, mo, d, hh, mi, ss, oh = 0, om = 0, n = 0, sign = 0;
	const char *p;
	struct tm tm = { 0 };

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &hh, &mi, &ss,
		&n) != 6 ||
	    n != 19 || !(s[0] >= '0' && s[0] <= '9'))
		return -1;
	p = s + n;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return -1;
		while ((*p >= '0' && *p <= '9'))
			p++;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5)
			return -1;
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 ||
	    mi > 59 || ss > 60 || oh > 23 || om > 59 || hh < 0 || mi < 0 ||
	    ss < 0 || oh < 0 || om < 0)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = hh;
	tm.tm_min = mi;
	tm.tm_sec = ss;
	*out = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
	return 0;
}

uint32_t
hash_bytes(uint32_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	return h;
}

size_t
b64_encode(const unsigned char *in, size_t n, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

int
b64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
	static signed char map[256];
	static int ready;
	size_t i, o = 0;
	unsigned acc = 0;
	int bits = 0, pad = 0;

	if (!ready) {
		const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst"
				"uvwxyz0123456789+/";
		memset(map, -1, sizeof(map));
		for (i = 0; i < 64; i++)
			map[(unsigned char)a[i]] = (signed char)i;
		ready = 1;
	}
	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '=') {
			if (i < n - 2)
				return -1;
			pad++;
			continue;
		}
		if (pad || map[c] < 0)
			return -1;
		acc = (acc << 6) | (unsigned)map[c];
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* leftover bits must be zero (canonical encoding) */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	*outlen = o;
	return 0;
}

void
strlist_add(struct strlist *l, char *s)
{
	/* grows geometrically: a node's subscriber list can have thousands */
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(char *));
	}
	l->v[l->n++] = s;
}

void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
	l->cap = 0;
}

static int
strlist_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
strlist_sort_unique(struct strlist *l)
{
	size_t i;

	if (l->n > 1)
		qsort(l->v, l->n, sizeof(char *), strlist_cmp);
	for (i = 1; i < l->n; i++)
		if (strcmp(l->v[i - 1], l->v[i]) == 0)
			return -1;
	return 0;
}

size_t
str_search(const void *base, size_t n, size_t size, const char *key, int *found)
{
	size_t lo = 0, hi = n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k =
		    *(const char *const *)(const void *)((const char *)base +
							 mid * size);
		int c = strcmp(k, key);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
strset_has(const struct strset *set, const char *s)
{
	int found;

	str_search(set->v, set->n, sizeof(*set->v), s, &found);
	return found;
}

int
strset_add(struct strset *set, const char *s)
{
	int found;
	size_t at = str_search(set->v, set->n, sizeof(*set->v), s, &found);

	if (found)
		return 0;
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 8;
		set->v = xrealloc(set->v, set->cap * sizeof(*set->v));
	}
	memmove(&set->v[at + 1], &set->v[at], (set->n - at) * sizeof(*set->v));
	set->v[at] = xstrdup(s);
	set->n++;
	return 1;
}

int
strset_del(struct strset *set, const char *s)
{
	int found;
	size_t at = str_search(set->v, set->n, sizeof(*set->v), s, &found);

	if (!found)
		return 0;
	free(set->v[at]);
	memmove(
	    &set->v[at], &set->v[at + 1], (set->n - at - 1) * sizeof(*set->v));
	set->n--;
	return 1;
}

void
strset_clear(struct strset *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		free(set->v[i]);
	set->n = 0;
}

void
strset_free(struct strset *set)
{
	strset_clear(set);
	free(set->v);
	set->v = NULL;
	set->cap = 0;
}

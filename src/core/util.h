/* util.h: allocation that aborts on failure, small string helpers, time. */
#ifndef TERN_UTIL_H
#define TERN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED(x) ((void)(x))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A new string formatted like printf (aborts when out of memory). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Constant-time comparison of two byte strings of equal length. */
int ct_memeq(const void *a, const void *b, size_t n);

/* Fill buf with n cryptographically random bytes; aborts on failure. */
void rand_bytes(void *buf, size_t n);
/* A random id of n-1 url-safe characters, NUL-terminated. */
void rand_id(char *out, size_t n);
/* rand_id whose ids sort by creation time (8 characters of time first). */
void time_id(char *out, size_t n);
/* time_id (n > 9) whose random characters come from rnd's first n - 9
 * bytes: for a caller that draws random bytes in bulk. */
void time_id_rnd(char *out, size_t n, const unsigned char *rnd);

/* Wall clock in seconds / monotonic milliseconds. */
int64_t now_unix(void);
int64_t now_ms(void);
/* XEP-0082 DateTime (UTC, "2026-11-23T10:00:00Z"); out needs 32 bytes. */
void time_xep82(int64_t unix_secs, char *out, size_t outlen);
/* XEP-0082 DateTime (fractions dropped, Z or an offset) to unix
 * seconds in *out: 0, or -1 if s is not one. */
int time_parse_xep82(const char *s, int64_t *out);

/* Binary search of key in n sorted elements of size bytes at base, each
 * starting with its key (a char *): its index, or where it would go, and
 * *found says which. */
size_t str_search(
    const void *base, size_t n, size_t size, const char *key, int *found);

/* A sorted set of strings (copies), searched with str_search. */
struct strset {
	char **v;
	size_t n, cap;
};
int strset_has(const struct strset *set, const char *s);
/* 1 when added, 0 when it was there. */
int strset_add(struct strset *set, const char *s);
/* 1 when removed, 0 when it was not there. */
int strset_del(struct strset *set, const char *s);
/* Empty it (keeps the array); strset_free also frees the array. */
void strset_clear(struct strset *set);
void strset_free(struct strset *set);

/* FNV-1a over a byte string, continuing from h (start with HASH_INIT). */
#define HASH_INIT 2166136261u
uint32_t hash_bytes(uint32_t h, const void *p, size_t n);

/* Base64 (standard alphabet, padded). decode returns -1 on bad input.
 * enc needs 4*((n+2)/3)+1 bytes; dec needs n*3/4+1 bytes. */
size_t b64_encode(const unsigned char *in, size_t n, char *out);
int b64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen);

/* A growable array of strings it owns (a node's subscribers, a disco
 * answer's features); zero-initialised is empty. */
struct strlist {
	char **v;
	size_t n, cap;
};

void strlist_add(struct strlist *l, char *s); /* takes s (xmalloc'd) */
void strlist_free(struct strlist *l);	      /* empty again */
/* Sort (strcmp); 0 when no two are equal, else -1. */
int strlist_sort_unique(struct strlist *l);

#endif

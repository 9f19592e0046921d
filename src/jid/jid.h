/* jid.h: JID parsing, preparation (RFC 7622 via libidn stringprep
 * profiles: nodeprep, nameprep, resourceprep) and comparison.
 *
 * A prepared JID is one allocation: full, bare, node, domain and resource
 * all point into one block, freed only by jid_cleanup (never free a part
 * on its own). */
#ifndef TERN_JID_H
#define TERN_JID_H

#include <stddef.h>

#define JID_PART_MAX 1023

struct jid {
	char *full;	 /* "node@domain/resource", prepared */
	size_t node_len; /* 0 when no node */
	size_t domain_off, domain_len;
	size_t res_off, res_len; /* res_len 0 when bare */
	size_t bare_len;	 /* length of "node@domain" */
	char *bare;		 /* "node@domain", NUL-terminated */
	char *node;		 /* NUL-terminated, NULL when absent */
	char *domain;
	char *resource;
};

/* Parse and prepare s (n bytes, need not be NUL-terminated). Returns 0,
 * or -1 if s is not a valid JID (empty part, part > 1023 bytes, prep
 * failure, bad UTF-8, IP literal errors...). On failure out is zeroed. */
int jid_parse(struct jid *out, const char *s, size_t n);
int jid_parse_str(struct jid *out, const char *s); /* NUL-terminated */
/* Build from parts (node and resource may be NULL); prepares them. */
int jid_make(struct jid *out, const char *node, const char *domain,
    const char *resource);
void jid_copy(struct jid *dst, const struct jid *src);
void jid_cleanup(struct jid *j); /* safe on a zeroed struct */

static inline int
jid_is_bare(const struct jid *j)
{
	return j->resource == NULL;
}

/* Comparisons on prepared JIDs (byte equality after preparation). */
int jid_eq(const struct jid *a, const struct jid *b); /* full */
int jid_bare_eq(const struct jid *a, const struct jid *b);

/* Single part preparation into out (size outlen); -1 on failure. */
int jid_nodeprep(const char *in, char *out, size_t outlen);
int jid_nameprep(const char *in, char *out, size_t outlen);
int jid_resourceprep(const char *in, char *out, size_t outlen);

#endif

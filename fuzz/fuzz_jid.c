/* fuzz_jid.c: libFuzzer target for jid_parse.
 *
 * Any input must parse or be refused without crashing or leaking. When it
 * parses, the result must be self-consistent (every offset and copy agrees
 * with full), preparation must be idempotent (parsing full again gives an
 * equal JID), and building the same JID from its parts or copying it must
 * give the same bytes.
 *
 * clang -g -fsanitize=fuzzer,address -Isrc fuzz/fuzz_jid.c src/jid/jid.c \
 *     src/core/util.c src/core/buf.c -lidn -lcrypto */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "jid/jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_part(const char *full, size_t off, size_t len, const char *copy)
{
	if (copy == NULL) {
		if (len != 0)
			abort();
		return;
	}
	if (len == 0 || len > JID_PART_MAX || strlen(copy) != len ||
	    memcmp(full + off, copy, len) != 0)
		abort();
}

static void
check_consistent(const struct jid *j)
{
	size_t full_len = strlen(j->full);
	size_t expect_bare;

	if ((j->node == NULL) != (j->node_len == 0))
		abort();
	if (j->node && (j->domain_off != j->node_len + 1 ||
	    j->full[j->node_len] != '@'))
		abort();
	if (j->node == NULL && j->domain_off != 0)
		abort();
	check_part(j->full, 0, j->node_len, j->node);
	check_part(j->full, j->domain_off, j->domain_len, j->domain);
	if (j->domain == NULL)
		abort();
	expect_bare = j->domain_off + j->domain_len;
	if (j->bare_len != expect_bare || strlen(j->bare) != j->bare_len ||
	    memcmp(j->full, j->bare, j->bare_len) != 0)
		abort();
	if (j->resource) {
		if (j->res_off != j->bare_len + 1 ||
		    j->full[j->bare_len] != '/' ||
		    full_len != j->res_off + j->res_len)
			abort();
		check_part(j->full, j->res_off, j->res_len, j->resource);
	} else {
		if (j->res_off != 0 || j->res_len != 0 ||
		    full_len != j->bare_len)
			abort();
	}
	if (jid_is_bare(j) != (j->resource == NULL))
		abort();
	/* The split must be the one a parser would find again. */
	if (memchr(j->full, '/', j->bare_len) != NULL)
		abort();
	if (j->node && memchr(j->node, '@', j->node_len) != NULL)
		abort();
	if (memchr(j->domain, '@', j->domain_len) != NULL)
		abort();
}

static void
check_same(const struct jid *a, const struct jid *b)
{
	if (!jid_eq(a, b) || !jid_bare_eq(a, b))
		abort();
	if (strcmp(a->full, b->full) != 0 || strcmp(a->bare, b->bare) != 0)
		abort();
	if (a->node_len != b->node_len || a->domain_off != b->domain_off ||
	    a->domain_len != b->domain_len || a->res_off != b->res_off ||
	    a->res_len != b->res_len || a->bare_len != b->bare_len)
		abort();
	if ((a->node == NULL) != (b->node == NULL) ||
	    (a->resource == NULL) != (b->resource == NULL))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jid j, again, made, copy, str;
	char *z;
	char buf[JID_PART_MAX + 1];

	/* The single-part preparations see NUL-terminated input. */
	z = xstrndup((const char *)data, size);
	(void)jid_nodeprep(z, buf, sizeof(buf));
	(void)jid_nameprep(z, buf, sizeof(buf));
	(void)jid_resourceprep(z, buf, sizeof(buf));

	if (jid_parse(&j, (const char *)data, size) < 0) {
		/* Refused input leaves the struct zeroed. */
		if (j.full || j.bare || j.node || j.domain || j.resource ||
		    j.node_len || j.domain_len || j.res_len || j.bare_len)
			abort();
		goto out_free_z;
	}
	check_consistent(&j);

	/* Without embedded NULs, the C string entry point agrees. */
	if (strlen(z) == size) {
		if (jid_parse_str(&str, z) < 0)
			abort();
		check_same(&j, &str);
		jid_cleanup(&str);
	}

	if (jid_parse(&again, j.full, strlen(j.full)) < 0)
		abort();
	check_consistent(&again);
	check_same(&j, &again);
	jid_cleanup(&again);

	if (jid_make(&made, j.node, j.domain, j.resource) < 0)
		abort();
	check_consistent(&made);
	check_same(&j, &made);
	jid_cleanup(&made);

	jid_copy(&copy, &j);
	check_consistent(&copy);
	check_same(&j, &copy);
	if (copy.full == j.full)
		abort();
	jid_cleanup(&copy);
	if (copy.full != NULL)
		abort();

	jid_cleanup(&j);
out_free_z:
	free(z);
	return 0;
}

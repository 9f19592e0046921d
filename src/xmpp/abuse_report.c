/* abuse_report.c: the queue of abuse reports of a host (XEP-0377, filled
 * by mod/spam_report.c, read by it and by ternctl). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "store/store.h"
#include "xmpp/abuse_report.h"

int
report_parse(struct report *r, const char *key, const char *val, size_t len)
{
	char **f[] = { &r->reporter, &r->reported, &r->reason, &r->time,
		&r->ids };
	char *p;
	size_t i;

	memset(r, 0, sizeof(*r));
	r->buf = xmalloc(len + 1);
	memcpy(r->buf, val, len);
	r->buf[len] = '\0';
	p = r->buf;
	for (i = 0; i < ARRAY_LEN(f); i++) {
		char *nl = strchr(p, '\n');

		if (nl == NULL) {
			free(r->buf);
			return -1;
		}
		*nl = '\0';
		*f[i] = p;
		p = nl + 1;
	}
	r->text = p;
	r->key = xstrdup(key);
	return 0;
}

void
report_free(struct report *r)
{
	free(r->buf);
	free(r->key);
}

static int
reports_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct reports *l = ud;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	if (report_parse(&l->v[l->n], key, val, len) == 0)
		l->n++;
	return 0;
}

void
reports_free(struct reports *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		report_free(&l->v[i]);
	free(l->v);
}

/* The host's queue, oldest first (keys are the time, zero-padded). */
int
reports_load(const char *host, struct reports *l)
{
	memset(l, 0, sizeof(*l));
	return store_map_list_prefix(host, "", REPORT_STORE, "", reports_cb, l);
}

int
report_get(const char *host, const char *id, struct report *r)
{
	char *val = NULL;
	size_t len;
	int rc = store_map_get(host, "", REPORT_STORE, id, &val, &len);

	if (rc == 0 && report_parse(r, id, val, len) != 0)
		rc = -1;
	free(val);
	return rc;
}

int
report_delete(const char *host, const char *id)
{
	return store_map_del(host, "", REPORT_STORE, id);
}

int
report_add(const char *host, long long max, const char *reporter,
    const char *reported, const char *reason, const char *ids, const char *text,
    char key[REPORT_KEY_LEN])
{
	static unsigned seq;
	struct reports l;
	struct sbuf v;
	size_t i;
	int rc;

	snprintf(
	    key, REPORT_KEY_LEN, "%020lld-%08x", (long long)now_unix(), seq++);
	sbuf_init(&v);
	sbuf_printf(&v, "%s\n%s\n%s\n%lld\n%s\n%.*s", reporter, reported,
	    reason, (long long)now_unix(), ids, REPORT_TEXT_MAX, text);
	rc = store_map_set(host, "", REPORT_STORE, key, v.data, v.len);
	sbuf_cleanup(&v);
	if (rc != 0)
		return -1;
	if (reports_load(host, &l) == 0) {
		for (i = 0; (long long)(l.n - i) > max; i++)
			report_delete(host, l.v[i].key);
		reports_free(&l);
	}
	return 0;
}

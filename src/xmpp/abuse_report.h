/* abuse_report.h: the queue of abuse reports of a host, in map store
 * "spamreports" of the host (user ""), keyed by zero-padded time and a
 * sequence number so the keys sort oldest first. A value holds lines:
 * reporter, reported JID, reason, unix time, stanza-ids (space
 * separated), then the reporter's text (which may hold newlines). */
#ifndef TERN_ABUSE_REPORT_H
#define TERN_ABUSE_REPORT_H

#include <stddef.h>

#define REPORT_STORE "spamreports"

struct report {
	char *key;
	char *reporter, *reported, *reason, *time, *ids, *text;
	char *buf;
};

struct reports {
	struct report *v;
	size_t n, cap;
};

/* 0, or -1 when val is not a report. */
int report_parse(
    struct report *r, const char *key, const char *val, size_t len);
void report_free(struct report *r);
/* The host's queue, oldest first: 0, -1 on a storage error. */
int reports_load(const char *host, struct reports *l);
void reports_free(struct reports *l);
/* One report: 0, 1 none with that id, -1 error. */
int report_get(const char *host, const char *id, struct report *r);
int report_delete(const char *host, const char *id);
#define REPORT_KEY_LEN 48
#define REPORT_TEXT_MAX 1024
/* Queue a report (ids: space-separated stanza-ids, text cut at
 * REPORT_TEXT_MAX), dropping the oldest past max; its id in key. 0, -1
 * on a storage error. */
int report_add(const char *host, long long max, const char *reporter,
    const char *reported, const char *reason, const char *ids, const char *text,
    char key[REPORT_KEY_LEN]);

#endif

/* metrics.h: counters the server keeps for monitoring, and gauges that
 * parts of it register, written out as OpenMetrics text (the /metrics
 * page of an HTTP listener marked for it). Counting is one increment:
 * no lock (one loop), no allocation. */
#ifndef TERN_METRICS_H
#define TERN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum metrics_stanza {
	METRICS_MESSAGE,
	METRICS_PRESENCE,
	METRICS_IQ,
	METRICS_OTHER,
	METRICS_KINDS
};

/* Upper bounds (seconds) of the storage commit histogram's buckets;
 * the last bucket, +Inf, is the count. */
#define METRICS_COMMIT_BUCKETS 8

struct metrics {
	uint64_t stanzas_in[METRICS_KINDS];  /* from clients */
	uint64_t stanzas_out[METRICS_KINDS]; /* queued to clients */
	uint64_t s2s_in[METRICS_KINDS];	     /* routed from peer servers */
	uint64_t s2s_out[METRICS_KINDS];     /* sent or queued to peers */
	uint64_t auth_ok, auth_failed;
	uint64_t commits; /* storage group commits */
	uint64_t commit_failed;
	uint64_t commit_us; /* time spent committing, microseconds */
	uint64_t commit_le[METRICS_COMMIT_BUCKETS]; /* commits per bucket */
	uint64_t http_requests;
};

extern struct metrics metrics;

/* The kind of a stanza from its element name (message, presence, iq;
 * anything else is other). */
enum metrics_stanza metrics_kind(const char *name);
/* The same from a serialized stanza ("<message ..."). */
enum metrics_stanza metrics_kind_xml(const char *p, size_t n);
/* One storage commit that took us microseconds, into the histogram. */
void metrics_commit(uint64_t us);

/* A gauge read when the page is made: family name (tern_...), labels
 * ("kind=\"c2s\"", or NULL), help, value. Gauges of one family are
 * added one after the other. */
void metrics_gauge_add(
    const char *name, const char *labels, const char *help, double (*fn)(void));
/* The whole page, OpenMetrics text, ending with "# EOF". */
void metrics_write(struct sbuf *out);

#endif

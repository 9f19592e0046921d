/* metrics.h: counters the server keeps for monitoring, and gauges that
 * parts of it register, written out as OpenMetrics text (the /metrics
 * page of an HTTP listener marked for it). Counting is one increment:
 * no lock (one loop), no allocation. */
#ifndef TERN_METRICS_H
#define TERN_METRICS_H

#include <stdint.h>

#include "core/buf.h"

enum metrics_stanza {
	METRICS_MESSAGE,
	METRICS_PRESENCE,
	METRICS_IQ,
	METRICS_OTHER,
	METRICS_KINDS
};

struct metrics {
	uint64_t stanzas_in[METRICS_KINDS]; /* from clients */
	uint64_t stanzas_out;		    /* queued to clients */
	uint64_t auth_ok, auth_failed;
	uint64_t commits; /* storage group commits */
	uint64_t commit_failed;
	uint64_t commit_us; /* time spent committing, microseconds */
	uint64_t http_requests;
};

extern struct metrics metrics;

/* A gauge read when the page is made: family name (tern_...), labels
 * ("kind=\"c2s\"", or NULL), help, value. Gauges of one family are
 * added one after the other. */
void metrics_gauge_add(
    const char *name, const char *labels, const char *help, double (*fn)(void));
/* The whole page, OpenMetrics text, ending with "# EOF". */
void metrics_write(struct sbuf *out);

#endif

/* metrics.c: the counters and gauges of metrics.h as OpenMetrics text. */
#include "core/metrics.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

#define GAUGES_MAX 32

struct metrics metrics;

static struct {
	const char *name, *labels, *help;
	double (*fn)(void);
} gauges[GAUGES_MAX];
static size_t ngauges;

void
metrics_gauge_add(
    const char *name, const char *labels, const char *help, double (*fn)(void))
{
	size_t i;

	for (i = 0; i < ngauges; i++)
		if (gauges[i].fn == fn)
			return;
	if (ngauges < GAUGES_MAX) {
		gauges[ngauges].name = name;
		gauges[ngauges].labels = labels;
		gauges[ngauges].help = help;
		gauges[ngauges].fn = fn;
		ngauges++;
	}
}

static void
counter(struct sbuf *o, const char *name, const char *help, uint64_t v)
{
	sbuf_printf(o, "# TYPE %s counter\n# HELP %s %s\n%s_total %llu\n", name,
	    name, help, name, (unsigned long long)v);
}

/* Resident memory from /proc/self/statm (pages), or -1. */
static long long
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long long size, res;
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "%lld %lld", &size, &res);
	fclose(f);
	if (n != 2)
		return -1;
	return res * sysconf(_SC_PAGESIZE);
}

void
metrics_write(struct sbuf *o)
{
	static const char *const kinds[] = { "message", "presence", "iq",
		"other" };
	long long rss = rss_bytes();
	size_t i;

	sbuf_puts(o, "# TYPE tern_stanzas_in counter\n"
		     "# HELP tern_stanzas_in Stanzas received from clients.\n");
	for (i = 0; i < METRICS_KINDS; i++)
		sbuf_printf(o, "tern_stanzas_in_total{kind=\"%s\"} %llu\n",
		    kinds[i], (unsigned long long)metrics.stanzas_in[i]);
	counter(o, "tern_stanzas_out", "Stanzas queued to clients.",
	    metrics.stanzas_out);
	sbuf_puts(o, "# TYPE tern_auth counter\n"
		     "# HELP tern_auth Client authentications by result.\n");
	sbuf_printf(o, "tern_auth_total{result=\"success\"} %llu\n",
	    (unsigned long long)metrics.auth_ok);
	sbuf_printf(o, "tern_auth_total{result=\"failure\"} %llu\n",
	    (unsigned long long)metrics.auth_failed);
	counter(o, "tern_storage_commits", "Storage group commits.",
	    metrics.commits);
	counter(o, "tern_storage_commit_failures", "Failed storage commits.",
	    metrics.commit_failed);
	sbuf_printf(o,
	    "# TYPE tern_storage_commit_seconds counter\n"
	    "# UNIT tern_storage_commit_seconds seconds\n"
	    "# HELP tern_storage_commit_seconds Time spent in storage "
	    "commits.\ntern_storage_commit_seconds_total %.6f\n",
	    (double)metrics.commit_us / 1e6);
	counter(o, "tern_http_requests", "HTTP requests answered.",
	    metrics.http_requests);
	for (i = 0; i < ngauges; i++) {
		if (i == 0 || strcmp(gauges[i].name, gauges[i - 1].name) != 0)
			sbuf_printf(o, "# TYPE %s gauge\n# HELP %s %s\n",
			    gauges[i].name, gauges[i].name, gauges[i].help);
		sbuf_printf(o, "%s%s%s%s %.17g\n", gauges[i].name,
		    gauges[i].labels ? "{" : "",
		    gauges[i].labels ? gauges[i].labels : "",
		    gauges[i].labels ? "}" : "", gauges[i].fn());
	}
	if (rss >= 0)
		sbuf_printf(o,
		    "# TYPE tern_memory_resident_bytes gauge\n"
		    "# UNIT tern_memory_resident_bytes bytes\n"
		    "# HELP tern_memory_resident_bytes Resident memory.\n"
		    "tern_memory_resident_bytes %lld\n",
		    rss);
	sbuf_puts(o, "# EOF\n");
}

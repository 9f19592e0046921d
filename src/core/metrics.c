/* metrics.c: the counters and gauges of metrics.h as OpenMetrics text. */
#include "core/metrics.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

#define GAUGES_MAX 32

struct metrics metrics;

static const double commit_bounds[METRICS_COMMIT_BUCKETS] = { 0.0005, 0.001,
	0.0025, 0.005, 0.01, 0.05, 0.25, 1.0 };
static const char *const kinds[METRICS_KINDS] = { "message", "presence", "iq",
	"other" };

enum metrics_stanza
metrics_kind(const char *name)
{
	if (strcmp(name, "message") == 0)
		return METRICS_MESSAGE;
	if (strcmp(name, "presence") == 0)
		return METRICS_PRESENCE;
	if (strcmp(name, "iq") == 0)
		return METRICS_IQ;
	return METRICS_OTHER;
}

enum metrics_stanza
metrics_kind_xml(const char *p, size_t n)
{
	if (n > 8 && memcmp(p, "<message", 8) == 0 &&
	    (p[8] == ' ' || p[8] == '>' || p[8] == '/'))
		return METRICS_MESSAGE;
	if (n > 9 && memcmp(p, "<presence", 9) == 0 &&
	    (p[9] == ' ' || p[9] == '>' || p[9] == '/'))
		return METRICS_PRESENCE;
	if (n > 3 && memcmp(p, "<iq", 3) == 0 &&
	    (p[3] == ' ' || p[3] == '>' || p[3] == '/'))
		return METRICS_IQ;
	return METRICS_OTHER;
}

void
metrics_commit(uint64_t us)
{
	size_t i;

	metrics.commits++;
	metrics.commit_us += us;
	for (i = 0; i < METRICS_COMMIT_BUCKETS; i++)
		if ((double)us <= commit_bounds[i] * 1e6)
			metrics.commit_le[i]++;
}

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

/* A counter family with one sample per stanza kind. */
static void
by_kind(struct sbuf *o, const char *name, const char *help, const uint64_t *v)
{
	size_t i;

	sbuf_printf(o, "# TYPE %s counter\n# HELP %s %s\n", name, name, help);
	for (i = 0; i < METRICS_KINDS; i++)
		sbuf_printf(o, "%s_total{kind=\"%s\"} %llu\n", name, kinds[i],
		    (unsigned long long)v[i]);
}

/* OpenMetrics histogram of storage commit times; it replaces a plain
 * time counter, whose figure is its _sum. */
static void
commit_histogram(struct sbuf *o)
{
	size_t i;

	sbuf_puts(o, "# TYPE tern_storage_commit_seconds histogram\n"
		     "# UNIT tern_storage_commit_seconds seconds\n"
		     "# HELP tern_storage_commit_seconds Time each storage "
		     "group commit took.\n");
	for (i = 0; i < METRICS_COMMIT_BUCKETS; i++)
		sbuf_printf(o,
		    "tern_storage_commit_seconds_bucket{le=\"%g\"} %llu\n",
		    commit_bounds[i], (unsigned long long)metrics.commit_le[i]);
	sbuf_printf(o,
	    "tern_storage_commit_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "tern_storage_commit_seconds_sum %.6f\n"
	    "tern_storage_commit_seconds_count %llu\n",
	    (unsigned long long)metrics.commits,
	    (double)metrics.commit_us / 1e6,
	    (unsigned long long)metrics.commits);
}

void
metrics_write(struct sbuf *o)
{
	long long rss = rss_bytes();
	size_t i;

	by_kind(o, "tern_stanzas_in", "Stanzas received from clients.",
	    metrics.stanzas_in);
	by_kind(o, "tern_stanzas_out", "Stanzas queued to clients.",
	    metrics.stanzas_out);
	by_kind(o, "tern_s2s_stanzas_in",
	    "Stanzas received from other servers and routed.", metrics.s2s_in);
	by_kind(o, "tern_s2s_stanzas_out",
	    "Stanzas sent or queued to other servers.", metrics.s2s_out);
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
	commit_histogram(o);
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

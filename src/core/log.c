/* log.c: log lines go to stderr (with a timestamp) and/or syslog. Lines
 * are capped so a peer's input cannot make one huge line. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

enum log_level log_threshold = LOG_LVL_INFO;
static int to_stderr = 1;
static int to_syslog;

static const char *const lvl_names[] = { "error", "warn", "info", "debug" };

void
log_open(enum log_level lvl, int use_stderr, int use_syslog)
{
	log_threshold = lvl;
	to_stderr = use_stderr;
	if (use_syslog && !to_syslog)
		openlog("ternd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	to_syslog = use_syslog;
}

void
log_close(void)
{
	if (to_syslog)
		closelog();
	to_syslog = 0;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	unsigned i;

	for (i = 0; i < sizeof(lvl_names) / sizeof(lvl_names[0]); i++) {
		if (strcmp(s, lvl_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* A flood of bad input must not become a flood of log lines: at most
 * LOG_BURST lines a second below error level; the rest are counted and
 * the count is logged when lines flow again. */
#define LOG_BURST 200

static int
log_admit(enum log_level lvl, unsigned long *dropped)
{
	static time_t window;
	static unsigned used;
	static unsigned long suppressed;
	time_t now;

	*dropped = 0;
	if (lvl == LOG_LVL_ERR || log_threshold == LOG_LVL_DEBUG)
		return 1;
	now = time(NULL);
	if (now != window) {
		window = now;
		used = 0;
		*dropped = suppressed;
		suppressed = 0;
	}
	if (used >= LOG_BURST) {
		suppressed++;
		return 0;
	}
	used++;
	return 1;
}

void
log_write(enum log_level lvl, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	unsigned long dropped;
	char line[1024];
	va_list ap;
	int n;

	if (!log_admit(lvl, &dropped))
		return;
	if (dropped)
		log_write(LOG_LVL_WARN,
		    "log: %lu lines suppressed (more than "
		    "%d a second)",
		    dropped, LOG_BURST);
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		memcpy(line + sizeof(line) - 4, "...", 4);
	/* control characters from peers must not forge log lines */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = '?';
	if (to_stderr) {
		char ts[32];
		time_t t = time(NULL);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(stderr, "%s %-5s %s\n", ts, lvl_names[lvl], line);
	}
	if (to_syslog)
		syslog(prio[lvl], "%s", line);
}

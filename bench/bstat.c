/* bstat.c: tern-bench's measurements and output: latency samples,
 * server CPU and RSS from /proc, our own CPU, the result table and JSON
 * line, and user provisioning before a run. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

void
bs_add(struct bsamples *s, double v)
{
	/* 50M samples (400 MB) is far beyond any scenario's needs; past
	 * it the percentiles come from the first 50M. */
	if (s->n >= 50000000)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->v = bx_realloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = v;
}

void
bs_reset(struct bsamples *s)
{
	s->n = 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
bs_pct(struct bsamples *s, double p)
{
	size_t k;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	k = (size_t)ceil(p / 100.0 * (double)s->n);
	if (k == 0)
		k = 1;
	if (k > s->n)
		k = s->n;
	return s->v[k - 1];
}

static int
read_file(const char *path, char *buf, size_t sz)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, sz - 1, f);
	buf[n] = '\0';
	fclose(f);
	return 0;
}

void
bs_proc_read(struct bproc *p)
{
	long tick = sysconf(_SC_CLK_TCK);
	char path[64], buf[4096];

	memset(p, 0, sizeof(*p));
	p->ok = bo.npids > 0;
	for (int i = 0; i < bo.npids; i++) {
		unsigned long long ut, st;
		const char *q;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)bo.pids[i]);
		if (read_file(path, buf, sizeof(buf)) < 0) {
			p->ok = 0;
			continue;
		}
		/* The command name may hold spaces: fields follow the ')'. */
		q = strrchr(buf, ')');
		if (q == NULL || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u "
		    "%*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
			p->ok = 0;
			continue;
		}
		p->cpu_s += (double)(ut + st) / (double)tick;
		snprintf(path, sizeof(path), "/proc/%d/status",
		    (int)bo.pids[i]);
		if (read_file(path, buf, sizeof(buf)) == 0) {
			q = strstr(buf, "VmRSS:");
			if (q != NULL)
				p->rss_kb += strtol(q + 6, NULL, 10);
		}
	}
}

double
bs_self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
jappend(struct bresult *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
jappend(struct bresult *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->jlen >= sizeof(r->json) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->json + r->jlen, sizeof(r->json) - r->jlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->jlen += (size_t)n;
	if (r->jlen >= sizeof(r->json))
		r->jlen = sizeof(r->json) - 1;
}

void
br_begin(struct bresult *r, const char *scenario)
{
	r->jlen = 0;
	jappend(r, "{\"scenario\":\"%s\"", scenario);
	printf("\n== tern-bench %s: %s:%s domain %s ==\n", scenario, bo.host,
	    bo.port, bo.domain);
}

void
br_num(struct bresult *r, const char *key, const char *label, double v,
    int prec)
{
	if (!isfinite(v))
		v = 0;
	jappend(r, ",\"%s\":%.*f", key, prec, v);
	printf("  %-44s %14.*f\n", label, prec, v);
}

void
br_str(struct bresult *r, const char *key, const char *label, const char *v)
{
	jappend(r, ",\"%s\":\"", key);
	for (const char *q = v; *q != '\0'; q++) {
		if (*q == '"' || *q == '\\')
			jappend(r, "\\%c", *q);
		else if ((unsigned char)*q >= 0x20)
			jappend(r, "%c", *q);
	}
	jappend(r, "\"");
	printf("  %-44s %14s\n", label, v);
}

void
br_end(struct bresult *r)
{
	jappend(r, "}");
	printf("%s\n", r->json);
	fflush(stdout);
}

/* Substitute {user} {domain} {password} in the --provision-cmd template. */
static void
subst(struct bbuf *b, const char *tmpl, const char *user)
{
	while (*tmpl != '\0') {
		if (strncmp(tmpl, "{user}", 6) == 0) {
			bb_append(b, user, strlen(user));
			tmpl += 6;
		} else if (strncmp(tmpl, "{domain}", 8) == 0) {
			bb_append(b, bo.domain, strlen(bo.domain));
			tmpl += 8;
		} else if (strncmp(tmpl, "{password}", 10) == 0) {
			bb_append(b, bo.password, strlen(bo.password));
			tmpl += 10;
		} else {
			bb_append(b, tmpl++, 1);
		}
	}
}

int
bs_provision(unsigned from, unsigned to)
{
	struct bbuf cmd = { 0 };
	double t0 = bc_now();
	unsigned char *have;
	unsigned long missing = to - from + 1;
	size_t base;
	FILE *p;
	int st;

	if (!bo.provision)
		return 0;
	fprintf(stderr, "tern-bench: provisioning users %s%u..%s%u\n",
	    bo.prefix, from, bo.prefix, to);
	if (bo.provision_cmd != NULL) {
		for (unsigned u = from; u <= to; u++) {
			char user[128];

			snprintf(user, sizeof(user), "%s%u", bo.prefix, u);
			cmd.len = cmd.off = 0;
			subst(&cmd, bo.provision_cmd, user);
			st = system(cmd.p);
			if (st != 0) {
				fprintf(stderr, "tern-bench: provisioning "
				    "command failed (status %d): %s\n", st,
				    cmd.p);
				bb_free(&cmd);
				return -1;
			}
		}
		bb_free(&cmd);
		fprintf(stderr, "tern-bench: provisioned %u users in %.1f s\n",
		    to - from + 1, bc_now() - t0);
		return 0;
	}
	/* ternctl import refuses the whole batch when one account exists:
	 * ask which exist, so that runs can be repeated. */
	have = bx_calloc(to - from + 1, 1);
	bb_printf(&cmd, "'%s'", bo.ternctl);
	if (bo.config != NULL)
		bb_printf(&cmd, " -c '%s'", bo.config);
	base = cmd.len;
	bb_printf(&cmd, " users '%s'", bo.domain);
	p = popen(cmd.p, "r");
	if (p != NULL) {
		char line[512];

		while (fgets(line, sizeof(line), p) != NULL) {
			unsigned u = bc_user_of(line);

			if (u >= from && u <= to && !have[u - from]) {
				have[u - from] = 1;
				missing--;
			}
		}
		pclose(p);
	}
	if (missing == 0) {
		fprintf(stderr, "tern-bench: all %u users exist\n",
		    to - from + 1);
		goto out_ok;
	}
	cmd.len = base;
	bb_printf(&cmd, " import -");
	p = popen(cmd.p, "w");
	if (p == NULL) {
		fprintf(stderr, "tern-bench: cannot run %s: %s\n", cmd.p,
		    strerror(errno));
		goto out_fail;
	}
	for (unsigned u = from; u <= to; u++)
		if (!have[u - from])
			fprintf(p, "%s%u@%s %s\n", bo.prefix, u, bo.domain,
			    bo.password);
	st = pclose(p);
	if (st != 0) {
		fprintf(stderr, "tern-bench: '%s' failed (status %d)\n", cmd.p,
		    WIFEXITED(st) ? WEXITSTATUS(st) : st);
		goto out_fail;
	}
	fprintf(stderr, "tern-bench: provisioned %lu users in %.1f s\n",
	    missing, bc_now() - t0);
out_ok:
	free(have);
	bb_free(&cmd);
	return 0;
out_fail:
	free(have);
	bb_free(&cmd);
	return -1;
}

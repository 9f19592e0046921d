/* check.c: `ternctl check`: the report every part writes to, the list
 * of served domains, and which parts run. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/util.h"
#include "xmpp/retention.h"
#include "check.h"

#define EXIT_PROBLEM 1
#define EXIT_USAGE 2

void
check_problem(struct check *c, enum check_level level, const char *subject,
    const char *fix, const char *fmt, ...)
{
	va_list ap;

	printf("%s: %s: ", subject, level == CHECK_ERROR ? "error" : "warning");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n    fix: %s\n", fix);
	if (level == CHECK_ERROR)
		c->errors++;
	else
		c->warnings++;
}

void
check_ok(const char *subject, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ok: ", subject);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void
add_domain(struct check *c, const char *name, const char *host,
    enum check_domain_kind kind)
{
	c->domains =
	    xrealloc(c->domains, (c->ndomains + 1) * sizeof(*c->domains));
	c->domains[c->ndomains++] = (struct check_domain){
		.name = name,
		.host = host,
		.kind = kind,
	};
}

static void
collect_domains(struct check *c)
{
	const struct cfg_host *h = c->cfg->hosts.items;
	const struct cfg_component *comp = c->cfg->components.items;
	const struct cfg_service *svc;
	size_t i, j;

	for (i = 0; i < c->cfg->hosts.n; i++) {
		add_domain(c, h[i].name, NULL, CHECK_HOST);
		svc = h[i].services.items;
		for (j = 0; j < h[i].services.n; j++)
			add_domain(c, svc[j].domain, h[i].name, CHECK_SERVICE);
	}
	for (i = 0; i < c->cfg->components.n; i++)
		add_domain(c, comp[i].name, NULL, CHECK_COMPONENT);
}

/* ---- check retention: what is kept, for how long ---- */

static void
fmt_age(char *out, size_t n, long long s)
{
	static const struct {
		long long mult;
		char unit;
	} u[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' } };
	size_t i;

	if (s == 0) {
		snprintf(out, n, "forever");
		return;
	}
	for (i = 0; i < ARRAY_LEN(u); i++) {
		if (s % u[i].mult == 0) {
			snprintf(out, n, "%lld%c", s / u[i].mult, u[i].unit);
			return;
		}
	}
	snprintf(out, n, "%llds", s);
}

static void
check_retention(const struct config *cfg)
{
	const char *store, *what;
	long long keep;
	char age[32];
	size_t i;

	for (i = 0; retention_item(cfg, i, &store, &what, &keep) == 0; i++) {
		fmt_age(age, sizeof(age), keep);
		printf("%s: kept %s\n", what, age);
	}
	fmt_age(age, sizeof(age), cfg->retention.muc_archive);
	printf("group chat archives (muc): kept %s, unless a host's "
	       "muc.archive_retention says otherwise\n",
	    age);
	fmt_age(age, sizeof(age), cfg->retention.uploads);
	printf("uploaded files (upload): kept %s, unless a host's "
	       "upload.expire says otherwise\n",
	    age);
	printf("account data (roster, vCard, private XML, PEP...): kept "
	       "until the account is deleted\n");
	printf("logs: ternd keeps none itself (stderr, and syslog with "
	       "log_syslog): the journal's or syslog's rotation decides\n");
	fmt_age(age, sizeof(age), cfg->retention.interval);
	printf("expiry: a pass over every account every %s, at most %lld "
	       "items deleted per step\n",
	    age, cfg->retention.batch);
}

/* ---- which parts ---- */

static const char *const parts[] = { "config", "certs", "dns", "ports",
	"retention" };

static int
is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	       inet_pton(AF_INET6, s, buf) == 1;
}

static int
usage_error(const char *what)
{
	fprintf(stderr,
	    "ternctl: %s\nusage: ternctl check [--strict] [--public ADDRESS] "
	    "[config|certs|dns|ports|retention]\n",
	    what);
	return EXIT_USAGE;
}

int
check_main(const char *path, int argc, char **argv)
{
	struct check c = { 0 };
	const char *part = NULL;
	struct config *cfg;
	char err[1024];
	int strict = 0, i;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--strict") == 0) {
			strict = 1;
		} else if (strcmp(argv[i], "--public") == 0) {
			if (i + 1 >= argc)
				return usage_error("--public needs an address");
			c.public_addr = argv[++i];
			if (!is_ip(c.public_addr))
				return usage_error(
				    "--public needs an IP address");
		} else if (argv[i][0] == '-' || part != NULL) {
			return usage_error("unexpected argument");
		} else {
			part = argv[i];
		}
	}
	if (part != NULL) {
		for (k = 0; k < ARRAY_LEN(parts); k++)
			if (strcmp(part, parts[k]) == 0)
				break;
		if (k == ARRAY_LEN(parts))
			return usage_error("unknown check");
	}
	cfg = config_load(path, err, sizeof(err));
	if (cfg == NULL) {
		printf("%s\n    fix: correct the file at that line "
		       "(docs/configuration.md lists every setting)\n",
		    err);
		return EXIT_PROBLEM;
	}
	if (part == NULL || strcmp(part, "config") == 0)
		check_ok(cfg->file ? cfg->file : path, "configuration valid");
	if (part != NULL && strcmp(part, "retention") == 0) {
		check_retention(cfg);
		config_free(cfg);
		return 0;
	}
	c.cfg = cfg;
	collect_domains(&c);
	if (part == NULL || strcmp(part, "certs") == 0)
		check_certs(&c);
	if (part == NULL || strcmp(part, "dns") == 0)
		check_dns(&c);
	if (part == NULL || strcmp(part, "ports") == 0)
		check_ports(&c);
	printf("%d error%s, %d warning%s\n", c.errors, c.errors == 1 ? "" : "s",
	    c.warnings, c.warnings == 1 ? "" : "s");
	free(c.domains);
	config_free(cfg);
	if (c.errors > 0 || (strict && c.warnings > 0))
		return EXIT_PROBLEM;
	return 0;
}

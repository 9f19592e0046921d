/* check.h: `ternctl check`, as `prosodyctl check` does it: every problem
 * on one line naming the domain or listener, and under it the fix.
 * Each part (certs, dns, ports) is a file of its own under tools/. */
#ifndef TERN_CHECK_H
#define TERN_CHECK_H

#include <stddef.h>

struct config;

/* What a served domain is: the configured host, a service under a host
 * (conference.<host>), or an external component. */
enum check_domain_kind {
	CHECK_HOST,
	CHECK_SERVICE,
	CHECK_COMPONENT,
};

struct check_domain {
	const char *name;
	const char *host; /* the parent host of a service, else NULL */
	enum check_domain_kind kind;
};

struct check {
	const struct config *cfg;
	struct check_domain *domains; /* hosts, services, components */
	size_t ndomains;
	const char *public_addr; /* --public: also connect there */
	int errors, warnings;
};

enum check_level {
	CHECK_ERROR,   /* the exit status says so */
	CHECK_WARNING, /* ... only with --strict */
};

/* "subject: error: what" and on the next line "    fix: fix" */
void check_problem(struct check *c, enum check_level level, const char *subject,
    const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define check_error(c, subject, fix, ...)                                      \
	check_problem(c, CHECK_ERROR, subject, fix, __VA_ARGS__)
#define check_warn(c, subject, fix, ...)                                       \
	check_problem(c, CHECK_WARNING, subject, fix, __VA_ARGS__)
void check_ok(const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void check_certs(struct check *c);
void check_dns(struct check *c);
void check_ports(struct check *c);

/* ternctl check [--strict] [--public ADDR] [config|certs|dns|ports|
 * retention]: the exit status */
int check_main(const char *path, int argc, char **argv);

#endif

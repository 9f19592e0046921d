/* check_dns.c: `ternctl check dns`: the records clients and servers
 * look up to find each host (RFC 6120 3.2.1 SRV, XEP-0368 Direct TLS
 * SRV) point at names with addresses and at the ports the listeners
 * use; every host, service and component domain has A/AAAA or an SRV
 * record of its own for servers. Asks through s2s.dns_server when set,
 * as ternd does, else /etc/resolv.conf. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "core/config.h"
#include "core/util.h"
#include "check.h"

#define TYPE_A 1
#define TYPE_AAAA 28
#define TYPE_SRV 33
#define CLASS_IN 1
#define RCODE_NXDOMAIN 3
#define MAX_SRV 16
#define LOOKUP_TIMEOUT_MS 5000

struct srv {
	unsigned prio, weight, port;
	char target[256]; /* without the final dot; "." : not offered */
};

/* The SRV name, the listener kind it leads to and the port a client
 * or server tries without it (0: none, XEP-0368 has no fallback). */
static const struct service {
	const char *prefix;
	int kind;
	unsigned fallback;
	const char *who;
} services[] = {
	{ "_xmpp-client._tcp", LISTEN_C2S, 5222, "clients" },
	{ "_xmpps-client._tcp", LISTEN_C2S_TLS, 0, "clients" },
	{ "_xmpp-server._tcp", LISTEN_S2S, 5269, "servers" },
	{ "_xmpps-server._tcp", LISTEN_S2S_TLS, 0, "servers" },
};

struct answer {
	int done, err;
	struct ub_result *r;
};

static void
answered(void *arg, int err, struct ub_result *r)
{
	struct answer *a = arg;

	a->done = 1;
	a->err = err;
	a->r = r;
}

/* 1 found, 0 no such records, -1 the lookup failed (why in err). A
 * server that does not answer within LOOKUP_TIMEOUT_MS makes every
 * later lookup fail at once with -2, to be left unsaid: one report, not
 * a wait and a report per name. */
static int
lookup(struct ub_ctx *ub, const char *name, int type, struct ub_result **r,
    char *err, size_t errlen)
{
	static int dead;
	struct answer a = { 0 };
	int64_t deadline = now_ms() + LOOKUP_TIMEOUT_MS;
	struct pollfd p = { .fd = ub_fd(ub), .events = POLLIN };
	int rc, id, left;

	*r = NULL;
	if (dead)
		return -2;
	rc = ub_resolve_async(ub, name, type, CLASS_IN, &a, answered, &id);
	while (rc == 0 && !a.done) {
		left = (int)(deadline - now_ms());
		if (left <= 0) {
			ub_cancel(ub, id);
			dead = 1;
			snprintf(err, errlen, "no answer within %d s",
			    LOOKUP_TIMEOUT_MS / 1000);
			return -1;
		}
		if (poll(&p, 1, left) > 0)
			rc = ub_process(ub);
	}
	if (rc == 0)
		rc = a.err;
	*r = a.r;
	if (rc != 0) {
		snprintf(err, errlen, "%s", ub_strerror(rc));
		return -1;
	}
	if ((*r)->havedata)
		return 1;
	if ((*r)->rcode != 0 && (*r)->rcode != RCODE_NXDOMAIN) {
		snprintf(err, errlen, "%s server failure (rcode %d)",
		    (*r)->bogus ? "DNSSEC validation failed:" : "DNS",
		    (*r)->rcode);
		return -1;
	}
	return 0;
}

/* A wire-format name (RFC 1035 3.1, uncompressed in SRV rdata) into
 * text without the final dot; -1 if malformed. */
static int
wire_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	while (i < len && p[i] != 0) {
		size_t l = p[i++];

		if (l > 63 || i + l > len || o + l + 2 > outlen)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	if (i >= len)
		return -1;
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return 0;
}

static size_t
parse_srv(const struct ub_result *r, struct srv *v, size_t max)
{
	size_t n = 0;
	int i;

	for (i = 0; r->data[i] != NULL && n < max; i++) {
		const unsigned char *p = (const unsigned char *)r->data[i];
		size_t len = (size_t)r->len[i];

		if (len < 7)
			continue;
		v[n].prio = (unsigned)(p[0] << 8 | p[1]);
		v[n].weight = (unsigned)(p[2] << 8 | p[3]);
		v[n].port = (unsigned)(p[4] << 8 | p[5]);
		if (wire_name(
			p + 6, len - 6, v[n].target, sizeof(v[n].target)) == 0)
			n++;
	}
	return n;
}

/* 1: name has A or AAAA records; 0: none; < 0: as lookup */
static int
has_address(struct ub_ctx *ub, const char *name, char *err, size_t errlen)
{
	struct ub_result *r;
	int a, aaaa;

	a = lookup(ub, name, TYPE_A, &r, err, errlen);
	ub_resolve_free(r);
	if (a == 1)
		return 1;
	if (a < 0)
		return a;
	aaaa = lookup(ub, name, TYPE_AAAA, &r, err, errlen);
	ub_resolve_free(r);
	return aaaa;
}

/* The ports of the listeners of a kind, as "5222, 5223" */
static size_t
listener_ports(const struct config *cfg, int kind, char *out, size_t len)
{
	const struct cfg_listener *l = cfg->listeners.items;
	size_t i, n = 0, o = 0;

	out[0] = '\0';
	for (i = 0; i < cfg->listeners.n; i++) {
		if (l[i].kind != kind)
			continue;
		o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%lld",
		    n ? ", " : "", l[i].port);
		if (o >= len)
			o = len - 1;
		n++;
	}
	return n;
}

static int
listens_on(const struct config *cfg, int kind, unsigned port)
{
	const struct cfg_listener *l = cfg->listeners.items;
	size_t i;

	for (i = 0; i < cfg->listeners.n; i++)
		if (l[i].kind == kind && l[i].port == (long long)port)
			return 1;
	return 0;
}

/* One SRV name of a domain against the listeners. Returns how many
 * usable records it has. */
static size_t
check_srv(struct check *c, struct ub_ctx *ub, const char *domain,
    const struct service *s)
{
	struct srv v[MAX_SRV];
	struct ub_result *r;
	char name[300], ports[128], fix[600], err[128];
	size_t n, i, good = 0;
	size_t nl = listener_ports(c->cfg, s->kind, ports, sizeof(ports));
	const char *kind = cfg_listener_kinds[s->kind];
	int rc;

	snprintf(name, sizeof(name), "%s.%s", s->prefix, domain);
	rc = lookup(ub, name, TYPE_SRV, &r, err, sizeof(err));
	if (rc == -2)
		return 0;
	if (rc < 0) {
		check_error(c, name,
		    "check the DNS server (s2s.dns_server or "
		    "/etc/resolv.conf) answers",
		    "lookup failed: %s", err);
		ub_resolve_free(r);
		return 0;
	}
	n = rc == 1 ? parse_srv(r, v, MAX_SRV) : 0;
	ub_resolve_free(r);
	if (n == 0) {
		if (nl == 0)
			return 0; /* nothing offered, nothing advertised */
		snprintf(fix, sizeof(fix),
		    "add \"%s. 3600 IN SRV 0 5 %.*s %s.\" to the zone", name,
		    (int)strcspn(ports, ","), ports, domain);
		if (s->fallback == 0)
			check_warn(c, name, fix,
			    "no record: %s cannot find the %s listener "
			    "(Direct TLS, XEP-0368)",
			    s->who, kind);
		else if (!listens_on(c->cfg, s->kind, s->fallback))
			check_error(c, name, fix,
			    "no record: %s try port %u, but the %s "
			    "listener%s on %s",
			    s->who, s->fallback, kind, nl > 1 ? "s are" : " is",
			    ports);
		else
			check_ok(name,
			    "no record; %s use %s's A/AAAA and "
			    "port %u",
			    s->who, domain, s->fallback);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].target, ".") == 0) {
			if (nl > 0)
				check_warn(c, name,
				    "remove the \".\" record to offer the "
				    "service",
				    "target \".\" says the service is not "
				    "offered, but a %s listener is configured",
				    kind);
			continue;
		}
		if (nl == 0) {
			snprintf(fix, sizeof(fix),
			    "add a %s listener on port %u, or remove the "
			    "record",
			    kind, v[i].port);
			check_error(c, name, fix,
			    "points %s to %s port %u, but no %s listener is "
			    "configured",
			    s->who, v[i].target, v[i].port, kind);
			continue;
		}
		if (!listens_on(c->cfg, s->kind, v[i].port)) {
			snprintf(fix, sizeof(fix),
			    "make the record's port one of %s, or add a %s "
			    "listener on %u",
			    ports, kind, v[i].port);
			check_error(c, name, fix,
			    "port %u, but the %s listener%s on %s", v[i].port,
			    kind, nl > 1 ? "s are" : " is", ports);
			continue;
		}
		rc = has_address(ub, v[i].target, err, sizeof(err));
		if (rc == -2)
			continue;
		if (rc <= 0) {
			snprintf(fix, sizeof(fix),
			    "add A and/or AAAA records for %s, or point the "
			    "record at a name that has them",
			    v[i].target);
			check_error(c, name, fix, "target %s: %s", v[i].target,
			    rc < 0 ? err : "no A or AAAA record");
			continue;
		}
		check_ok(name, "%u %u %u %s", v[i].prio, v[i].weight, v[i].port,
		    v[i].target);
		good++;
	}
	return good;
}

static int
kind_configured(const struct config *cfg, int kind)
{
	char ports[128];

	return listener_ports(cfg, kind, ports, sizeof(ports)) > 0;
}

static void
check_domain_dns(
    struct check *c, struct ub_ctx *ub, const struct check_domain *d)
{
	const int s2s = kind_configured(c->cfg, LISTEN_S2S) ||
			kind_configured(c->cfg, LISTEN_S2S_TLS);
	size_t i, srv = 0, srv_server = 0, from;
	char err[128], fix[512];
	int rc;

	/* clients log in to hosts only; servers reach every domain */
	from = d->kind == CHECK_HOST ? 0 : 2;
	for (i = from; i < ARRAY_LEN(services); i++) {
		size_t n = check_srv(c, ub, d->name, &services[i]);

		srv += n;
		if (services[i].kind == LISTEN_S2S ||
		    services[i].kind == LISTEN_S2S_TLS)
			srv_server += n;
	}
	rc = has_address(ub, d->name, err, sizeof(err));
	if (rc > 0) {
		check_ok(d->name, "has A/AAAA records");
		return;
	}
	if (rc == -2)
		return;
	if (rc < 0) {
		check_error(c, d->name,
		    "check the DNS server (s2s.dns_server or "
		    "/etc/resolv.conf) answers",
		    "A/AAAA lookup failed: %s", err);
		return;
	}
	if (d->kind == CHECK_HOST) {
		if (srv > 0)
			check_ok(d->name, "no A/AAAA record; its SRV records "
					  "lead to the server");
		else
			check_error(c, d->name,
			    "add A/AAAA records for it, or SRV records",
			    "no A/AAAA record and no SRV record: nobody "
			    "can find the server");
		return;
	}
	if (srv_server > 0) {
		check_ok(d->name, "no A/AAAA record; remote servers reach it "
				  "through its _xmpp-server SRV records");
		return;
	}
	if (!s2s) {
		check_ok(d->name, "no A/AAAA record; federation has no "
				  "listener, so only local users use it");
		return;
	}
	snprintf(fix, sizeof(fix),
	    "add \"_xmpp-server._tcp.%s. 3600 IN SRV 0 5 <port> <the "
	    "target of %s's>\", or A/AAAA records for it",
	    d->name, d->host ? d->host : "the host");
	check_warn(c, d->name, fix,
	    "no A/AAAA and no _xmpp-server SRV record: remote servers "
	    "cannot reach it");
}

static struct ub_ctx *
resolver(struct check *c)
{
	const char *fwd = c->cfg->s2s.dns_server;
	struct ub_ctx *ub = ub_ctx_create();
	int rc;

	if (ub == NULL) {
		check_error(c, "dns", "see libunbound's messages above",
		    "cannot create the resolver");
		return NULL;
	}
	rc = ub_ctx_async(ub, 1); /* a thread: lookups with a deadline */
	if (rc == 0 && fwd != NULL) {
		rc = ub_ctx_set_fwd(ub, fwd);
		/* names under test. (RFC 6761) come from the server named,
		 * as in ternd (net/resolve.c) */
		if (rc == 0)
			rc = ub_ctx_set_option(
			    ub, "local-zone:", "test. transparent");
	} else if (rc == 0) {
		ub_ctx_resolvconf(ub, NULL);
		ub_ctx_hosts(ub, NULL);
	}
	if (rc != 0) {
		check_error(c, "s2s.dns_server", "give it as ip or ip@port",
		    "%s: %s", fwd, ub_strerror(rc));
		ub_ctx_delete(ub);
		return NULL;
	}
	return ub;
}

void
check_dns(struct check *c)
{
	struct ub_ctx *ub = resolver(c);
	size_t i;

	if (ub == NULL)
		return;
	for (i = 0; i < c->ndomains; i++)
		check_domain_dns(c, ub, &c->domains[i]);
	ub_ctx_delete(ub);
}

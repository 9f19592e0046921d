/* resolve.c: SRV and address lookups for server-to-server connections
 * (see resolve.h). One libunbound context, resolving in its own thread;
 * its answers are read on the loop when its descriptor is readable, so
 * callbacks run in the loop's thread like everything else. */
#include "net/resolve.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>

#include "core/config.h"
#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#define RR_A 1
#define RR_AAAA 28
#define RR_SRV 33
#define CLASS_IN 1
#define MAX_TARGETS 8 /* SRV targets tried per domain */
#define XMPP_SERVER_PORT 5269

static struct ub_ctx *ub;
static ev_io ub_w;	/* started at the first query: ub has no fd before */
static char *ub_server; /* the dns_server ub was made with */

struct target {
	char host[256];
	unsigned prio, weight, port;
	int direct_tls;
	struct resolve_addr a6[4], a4[4];
	size_t n6, n4;
};

struct job;

struct query {
	struct job *job;
	size_t target;	/* addr stage: which target */
	int direct_tls; /* SRV stage: which service */
};

struct job {
	struct job *prev, *next; /* in flight, for shutdown */
	uint64_t token;
	resolve_fn fn;
	char *domain;
	int pending;	 /* queries in flight */
	int srv_refused; /* an SRV record said "no service" (target ".") */
	struct target t[MAX_TARGETS];
	size_t nt;
	/* every query the job asks: two SRV, then two per target */
	struct query qs[2 + 2 * MAX_TARGETS];
	size_t nqs;
};

static struct job *jobs;

static void
job_unlink(struct job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
}

static void
job_finish(struct job *j)
{
	struct resolve_addr *v = NULL;
	size_t n = 0, i, k;
	const char *err = NULL;

	for (i = 0; i < j->nt; i++) {
		struct target *t = &j->t[i];

		v = xrealloc(v, (n + t->n6 + t->n4 + 1) * sizeof(*v));
		/* IPv6 first, then IPv4, per target (RFC 8305 §4) */
		for (k = 0; k < t->n6; k++)
			v[n++] = t->a6[k];
		for (k = 0; k < t->n4; k++)
			v[n++] = t->a4[k];
	}
	if (n == 0)
		err = j->srv_refused && j->nt == 0
			  ? "the domain offers no XMPP service (SRV '.')"
			  : "no address found";
	log_debug("resolve %s: %zu address(es)%s%s", j->domain, n,
	    err ? ": " : "", err ? err : "");
	job_unlink(j);
	j->fn(j->token, v, n, err);
	free(v);
	free(j->domain);
	free(j);
}

/* A DNS name in wire format (labels) to text; -1 when malformed. */
static int
wire_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t l = p[i++];

		if (l == 0) {
			if (o == 0)
				snprintf(out, outlen, ".");
			else
				out[o - 1] = '\0';
			return 0;
		}
		if (l > 63 || i + l > len || o + l + 2 > outlen)
			return -1;
		memcpy(out + o, p + i, l);
		o += l;
		out[o++] = '.';
		i += l;
	}
	return -1;
}

static void addr_stage(struct job *j);
static void ub_cb(struct ev_loop *l, ev_io *w, int revents);

static int
target_cmp(const void *a, const void *b)
{
	const struct target *x = a, *y = b;

	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	/* at equal rank Direct TLS saves a round trip */
	return y->direct_tls - x->direct_tls;
}

static void
srv_answer(void *arg, int err, struct ub_result *r)
{
	struct query *q = arg;
	struct job *j = q->job;
	int i;

	if (err == 0 && r && r->havedata) {
		for (i = 0; r->data[i] && j->nt < MAX_TARGETS; i++) {
			const unsigned char *p = (unsigned char *)r->data[i];
			struct target *t = &j->t[j->nt];

			if (r->len[i] < 7)
				continue;
			memset(t, 0, sizeof(*t));
			t->prio = (unsigned)(p[0] << 8 | p[1]);
			t->weight = (unsigned)(p[2] << 8 | p[3]);
			t->port = (unsigned)(p[4] << 8 | p[5]);
			t->direct_tls = q->direct_tls;
			if (wire_name(p + 6, (size_t)r->len[i] - 6, t->host,
				sizeof(t->host)) != 0)
				continue;
			if (strcmp(t->host, ".") == 0) {
				/* RFC 2782: the service is decidedly not
				 * available at this domain */
				j->srv_refused = 1;
				continue;
			}
			j->nt++;
		}
	}
	if (r)
		ub_resolve_free(r);
	if (--j->pending > 0)
		return;
	if (j->nt == 0 && !j->srv_refused) {
		/* RFC 6120 §3.2.2: no SRV, the domain itself on 5269 */
		snprintf(j->t[0].host, sizeof(j->t[0].host), "%s", j->domain);
		j->t[0].port = XMPP_SERVER_PORT;
		j->nt = 1;
	}
	qsort(j->t, j->nt, sizeof(j->t[0]), target_cmp);
	addr_stage(j);
}

static void
addr_answer(void *arg, int err, struct ub_result *r)
{
	struct query *q = arg;
	struct job *j = q->job;
	struct target *t = &j->t[q->target];
	int i;

	if (err == 0 && r && r->havedata) {
		for (i = 0; r->data[i]; i++) {
			struct resolve_addr a = { 0 };

			if (r->qtype == RR_AAAA && r->len[i] == 16) {
				struct sockaddr_in6 *s6 = (void *)&a.sa;

				if (t->n6 >= sizeof(t->a6) / sizeof(t->a6[0]))
					break;
				s6->sin6_family = AF_INET6;
				s6->sin6_port = htons((uint16_t)t->port);
				memcpy(&s6->sin6_addr, r->data[i], 16);
				a.len = sizeof(*s6);
				a.direct_tls = t->direct_tls;
				t->a6[t->n6++] = a;
			} else if (r->qtype == RR_A && r->len[i] == 4) {
				struct sockaddr_in *s4 = (void *)&a.sa;

				if (t->n4 >= sizeof(t->a4) / sizeof(t->a4[0]))
					break;
				s4->sin_family = AF_INET;
				s4->sin_port = htons((uint16_t)t->port);
				memcpy(&s4->sin_addr, r->data[i], 4);
				a.len = sizeof(*s4);
				a.direct_tls = t->direct_tls;
				t->a4[t->n4++] = a;
			}
		}
	}
	if (r)
		ub_resolve_free(r);
	if (--j->pending == 0)
		job_finish(j);
}

static int
ask(struct job *j, const char *name, int type, ub_callback_type cb,
    size_t target, int direct_tls)
{
	struct query *q;
	int rc;

	if (j->nqs == sizeof(j->qs) / sizeof(j->qs[0]))
		return -1;
	q = &j->qs[j->nqs++];

	q->job = j;
	q->target = target;
	q->direct_tls = direct_tls;
	j->pending++;
	rc = ub_resolve_async(ub, name, type, CLASS_IN, q, cb, NULL);
	if (rc != 0) {
		log_info("resolve %s: %s", name, ub_strerror(rc));
		j->pending--;
		return -1;
	}
	if (!ev_is_active(&ub_w) && ub_fd(ub) >= 0) {
		ev_io_init(&ub_w, ub_cb, ub_fd(ub), EV_READ);
		ev_io_start(loop_ev, &ub_w);
	}
	return 0;
}

static void
addr_stage(struct job *j)
{
	size_t i;

	/* held until every query is asked: an answer cannot finish the
	 * job while it is still being filled */
	j->pending++;
	for (i = 0; i < j->nt; i++) {
		ask(j, j->t[i].host, RR_AAAA, addr_answer, i, 0);
		ask(j, j->t[i].host, RR_A, addr_answer, i, 0);
	}
	if (--j->pending == 0)
		job_finish(j);
}

/* ---- configured routes ---- */

struct fixed {
	uint64_t token;
	resolve_fn fn;
	struct resolve_addr a;
	int ok;
};

static void
fixed_run(void *arg)
{
	struct fixed *f = arg;

	f->fn(f->token, &f->a, f->ok ? 1 : 0,
	    f->ok ? NULL : "the configured route has no valid address");
	free(f);
}

const struct cfg_s2s_route *
resolve_route(const char *domain)
{
	const struct cfg_s2s_route *v = config_running->s2s.routes.items;
	size_t i;

	for (i = 0; i < config_running->s2s.routes.n; i++)
		if (strcasecmp(v[i].domain, domain) == 0)
			return &v[i];
	return NULL;
}

int
resolve_parse_ip(const char *ip, unsigned port, struct resolve_addr *a)
{
	struct sockaddr_in *s4 = (void *)&a->sa;
	struct sockaddr_in6 *s6 = (void *)&a->sa;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*s6);
		return 0;
	}
	return -1;
}

void
resolve_server(const char *domain, resolve_fn fn, uint64_t token)
{
	const struct cfg_s2s_route *rt = resolve_route(domain);
	struct job *j;
	char name[300];

	if (rt || ub == NULL) {
		struct fixed *f = xcalloc(1, sizeof(*f));

		f->token = token;
		f->fn = fn;
		f->ok = rt && resolve_parse_ip(
				  rt->address, (unsigned)rt->port, &f->a) == 0;
		if (rt)
			f->a.direct_tls = rt->direct_tls;
		loop_defer(fixed_run, f);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->next = jobs;
	if (jobs)
		jobs->prev = j;
	jobs = j;
	j->token = token;
	j->fn = fn;
	j->domain = xstrdup(domain);
	j->pending++;
	snprintf(name, sizeof(name), "_xmpps-server._tcp.%s", domain);
	ask(j, name, RR_SRV, srv_answer, 0, 1);
	snprintf(name, sizeof(name), "_xmpp-server._tcp.%s", domain);
	ask(j, name, RR_SRV, srv_answer, 0, 0);
	/* both asked: now an answer may complete the stage. If neither
	 * could be asked, go straight to the address stage. */
	if (--j->pending == 0) {
		snprintf(j->t[0].host, sizeof(j->t[0].host), "%s", domain);
		j->t[0].port = XMPP_SERVER_PORT;
		j->nt = 1;
		addr_stage(j);
	}
}

/* ---- the context on the loop ---- */

static void
ub_cb(struct ev_loop *l, ev_io *w, int revents)
{
	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	if (ub)
		ub_process(ub);
}

int
resolve_setup(const struct config *cfg, char *err, size_t errlen)
{
	struct ub_ctx *n;
	int rc;

	if (!cfg->s2s.enabled) {
		resolve_shutdown();
		return 0;
	}
	/* an unchanged context keeps its cache and the queries in flight */
	if (ub && (ub_server == NULL) == (cfg->s2s.dns_server == NULL) &&
	    (ub_server == NULL || strcmp(ub_server, cfg->s2s.dns_server) == 0))
		return 0;
	n = ub_ctx_create();
	if (n == NULL) {
		snprintf(err, errlen, "cannot create the DNS resolver");
		return -1;
	}
	rc = ub_ctx_async(n, 1);
	if (rc == 0 && cfg->s2s.dns_server) {
		rc = ub_ctx_set_fwd(n, cfg->s2s.dns_server);
		/* libunbound answers names under test. (RFC 6761) itself,
		 * NXDOMAIN: a server the operator named may serve them
		 * (test federations, the test suite's) */
		if (rc == 0)
			rc = ub_ctx_set_option(
			    n, "local-zone:", "test. transparent");
	} else if (rc == 0) {
		/* a missing resolv.conf leaves unbound resolving from the
		 * root servers itself */
		if (ub_ctx_resolvconf(n, NULL) != 0)
			log_info("resolve: no /etc/resolv.conf, asking the "
				 "root servers");
		ub_ctx_hosts(n, NULL);
	}
	if (rc != 0) {
		snprintf(err, errlen, "s2s.dns_server %s: %s",
		    cfg->s2s.dns_server ? cfg->s2s.dns_server : "",
		    ub_strerror(rc));
		ub_ctx_delete(n);
		return -1;
	}
	resolve_shutdown();
	ub = n;
	ub_server = cfg->s2s.dns_server ? xstrdup(cfg->s2s.dns_server) : NULL;
	return 0;
}

void
resolve_shutdown(void)
{
	if (ub == NULL)
		return;
	ev_io_stop(loop_ev, &ub_w);
	/* queries in flight are dropped with the context (their
	 * requesters time out: shutdown, or a new dns_server) */
	ub_ctx_delete(ub);
	ub = NULL;
	/* their queries went with the context: the requesters time out */
	while (jobs) {
		struct job *j = jobs;

		job_unlink(j);
		free(j->domain);
		free(j);
	}
	free(ub_server);
	ub_server = NULL;
}

int
resolve_parse_hostport(const char *s, struct resolve_addr *a)
{
	char ip[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;
	size_t n;

	if (colon == NULL || colon == s)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return -1;
	n = (size_t)(colon - s);
	if (s[0] == '[' && n > 2 && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n >= sizeof(ip))
		return -1;
	memcpy(ip, s, n);
	ip[n] = '\0';
	return resolve_parse_ip(ip, (unsigned)port, a);
}

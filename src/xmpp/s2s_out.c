/* s2s_out.c: outgoing server-to-server streams (RFC 6120), one per
 * (local domain, remote domain). The first stanza for a remote domain
 * creates one: DNS (net/resolve.c), connect (net/connect.c), our header,
 * STARTTLS (or TLS from the first byte, XEP-0368), then authentication:
 * SASL EXTERNAL when the peer offers it (our certificate names our
 * domain, RFC 6120 §6.4), dialback otherwise (XEP-0220) where the policy
 * allows. Stanzas wait in a bounded queue meanwhile and bounce with
 * remote-server-not-found / remote-server-timeout if it fails. The same
 * stream carries dialback verifications (<db:verify/>) for incoming
 * streams, whose answers go back to them by id.
 *
 * Every callback finds its stream again by id (DNS, connect); timers
 * are stopped before a stream is freed. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/util.h"
#include "net/connect.h"
#include "net/resolve.h"
#include "net/tls.h"
#include "xml/xml.h"
#include "xmpp/domain.h"
#include "xmpp/router.h"
#include "xmpp/s2s.h"
#include "xmpp/s2s_int.h"
#include "xmpp/stream.h"

enum out_state {
	OUT_RESOLVING,
	OUT_CONNECTING,
	OUT_NEGOTIATING, /* header sent, waiting for features */
	OUT_STARTTLS,	 /* <starttls/> sent */
	OUT_SASL,	 /* <auth mechanism='EXTERNAL'/> sent */
	OUT_DIALBACK,	 /* <db:result/> sent */
	OUT_READY,	 /* authenticated: stanzas flow */
	OUT_DONE,	 /* failed or closing */
};

static const char *const state_names[] = { "resolving", "connecting",
	"negotiating", "starttls", "sasl", "dialback", "ready", "done" };

struct queued {
	struct xml_node *st;
	const char *kind; /* an iq kind (a literal); NULL: st->name */
	size_t size;
};

struct verify {
	char *id, *key;
	uint64_t in_id;
	int sent;
};

struct out {
	struct stream st; /* first; attached once connected */
	uint64_t id;
	char *local, *remote;
	enum out_state state;
	unsigned attached : 1;	      /* st has a transport */
	unsigned tls : 1;	      /* TLS is up */
	unsigned remote_verified : 1; /* its certificate names remote */
	unsigned sasl_done : 1;	      /* EXTERNAL succeeded */
	unsigned sasl_tried : 1;
	unsigned bidi : 1; /* XEP-0288: the peer may send us stanzas here */
	unsigned db_errors : 1; /* the peer offered dialback with errors */
	/* multiplexed (XEP-0220 §4.2): this pair rides on stream `via`
	 * (another local domain's to the same remote); 0: its own */
	uint64_t via;
	unsigned freed : 1;
	char peer_id[65]; /* the id of the peer's current header */
	struct queued *q;
	size_t nq, capq, qbytes;
	struct verify *v;
	size_t nv;
	ev_timer timer; /* setup deadline, then idle */
	int64_t last_ms;
	struct out *next;
};

static struct out *outs;
static unsigned n_outs;
static uint64_t next_id = 1;

#define XMPP_SERVER_PORT 5269 /* what SRV would say, over Tor */

static void out_open(struct stream *st, struct xml_node *root, const char *cns);
static void out_element(struct stream *st, struct xml_node *el);
static void out_lost(struct stream *st, const char *why);
static void out_tls_ready(struct stream *st);
static void out_closed(struct stream *st);
static const struct stream_proto out_proto = {
	.name = "s2s-out",
	.open = out_open,
	.element = out_element,
	.close = out_closed,
	.lost = out_lost,
	.tls_ready = out_tls_ready,
};

static void
set_state(struct out *o, enum out_state s)
{
	log_debug("s2s-out %s->%s %s -> %s", o->local, o->remote,
	    state_names[o->state], state_names[s]);
	o->state = s;
}

static struct out *
find_pair(const char *local, const char *remote)
{
	struct out *o;

	for (o = outs; o; o = o->next)
		if (o->state != OUT_DONE && strcasecmp(o->local, local) == 0 &&
		    strcasecmp(o->remote, remote) == 0)
			return o;
	return NULL;
}

static struct out *
find_id(uint64_t id)
{
	struct out *o;

	for (o = outs; o; o = o->next)
		if (o->id == id && o->state != OUT_DONE)
			return o;
	return NULL;
}

static void
unlink_out(struct out *o)
{
	struct out **pp;

	for (pp = &outs; *pp; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			n_outs--;
			return;
		}
	}
}

/* Deferred by pointer, safely: only reached once o is unlinked, its
 * timer stopped and its stream (if any) lost. */
static void
out_free(void *arg)
{
	struct out *o = arg;
	size_t i;

	for (i = 0; i < o->nq; i++)
		xml_node_free(o->q[i].st);
	for (i = 0; i < o->nv; i++) {
		free(o->v[i].id);
		free(o->v[i].key);
	}
	free(o->q);
	free(o->v);
	free(o->local);
	free(o->remote);
	free(o);
}

/* The end of an outgoing stream: what waits bounces with cond (NULL:
 * nothing waits, a clean close), verifications in flight are answered
 * "could not ask", and the stream closes, with the stream error
 * stream_cond when cond is set (NULL: the peer's own stream error ended
 * it, and is not answered with another, RFC 6120 §4.4). */
static void
out_end_as(
    struct out *o, const char *cond, const char *stream_cond, const char *why)
{
	size_t i;
	struct queued *q;
	size_t nq;
	struct verify *v;
	size_t nv;

	if (o->state == OUT_DONE)
		return;
	if (cond || o->nq)
		log_info("s2s-out %s->%s failed: %s", o->local, o->remote, why);
	set_state(o, OUT_DONE);
	ev_timer_stop(loop_ev, &o->timer);
	/* one with a connection stays listed (as done: no stanza finds
	 * it) until out_lost, so that shutdown can end it while it waits
	 * for the peer's closing tag */
	if (!o->attached)
		unlink_out(o);
	/* take the queue first: bouncing routes, and a new stanza to the
	 * same domain must make a new stream, not join this one */
	q = o->q;
	nq = o->nq;
	v = o->v;
	nv = o->nv;
	o->q = NULL;
	o->nq = o->capq = 0;
	o->v = NULL;
	o->nv = 0;
	for (i = 0; i < nv; i++) {
		s2s_in_verified(v[i].in_id, o->local, o->remote, -1);
		free(v[i].id);
		free(v[i].key);
	}
	free(v);
	for (i = 0; i < nq; i++) {
		stanza_bounce_unless_quiet(q[i].st,
		    q[i].kind ? q[i].kind : q[i].st->name,
		    cond ? cond : "remote-server-not-found");
		xml_node_free(q[i].st);
	}
	free(q);
	if (o->via == 0) {
		struct out *r, *next;

		/* the pairs riding on this stream end with it (clean: a new
		 * stanza for them makes a new stream) */
		for (r = outs; r; r = next) {
			next = r->next;
			if (r->via == o->id)
				out_end_as(r,
				    r->state == OUT_READY ? NULL : cond,
				    stream_cond, "its stream ended");
		}
	}
	if (o->attached) {
		/* out_lost frees it when the connection is gone (or, when
		 * it is out_lost calling, right after) */
		if (!o->st.lost_called) {
			if (cond && stream_cond)
				stream_fail(&o->st, stream_cond, why);
			else if (cond)
				stream_close(&o->st, why);
			else
				/* a bidirectional peer may be sending on it
				 * right now (out_element) */
				stream_close_linger(&o->st, why, S2S_LINGER);
		}
		return;
	}
	stream_cleanup(&o->st);
	loop_defer(out_free, o);
}

static void
out_end(struct out *o, const char *cond, const char *why)
{
	out_end_as(o, cond, "undefined-condition", why);
}

static struct out *find_id(uint64_t id);

/* The stream a pair's bytes go on: its own, or its carrier's. */
static struct out *
carrier_of(struct out *o)
{
	return o->via ? find_id(o->via) : o;
}

/* 0, or -1 when n could not go (the stream ended for it): a stanza is
 * then the caller's to bounce. */
static int
send_node(struct out *o, const struct xml_node *n)
{
	struct out *c = carrier_of(o);

	o->last_ms = now_ms();
	if (c == NULL) {
		out_end(o, "remote-server-timeout", "its stream is gone");
		return -1;
	}
	c->last_ms = o->last_ms;
	if (stream_send_node(&c->st, n) != 0) {
		out_end(c, "remote-server-timeout", "send queue full");
		return -1;
	}
	return 0;
}

static void
send_verifies(struct out *o)
{
	size_t i;

	for (i = 0; i < o->nv && o->state != OUT_DONE; i++) {
		struct xml_node *x;

		if (o->v[i].sent)
			continue;
		o->v[i].sent = 1;
		x = xml_node_new(NS_DB, "verify");
		xml_node_set_attr(x, "from", o->local);
		xml_node_set_attr(x, "to", o->remote);
		xml_node_set_attr(x, "id", o->v[i].id);
		xml_node_text(x, o->v[i].key, strlen(o->v[i].key));
		send_node(o, x);
		xml_node_free(x);
	}
}

static void
arm_idle(struct out *o)
{
	ev_timer_stop(loop_ev, &o->timer);
	ev_timer_set(&o->timer, (double)config_running->s2s.idle_timeout, 0.0);
	ev_timer_start(loop_ev, &o->timer);
}

static void
ready(struct out *o)
{
	size_t i, nq = o->nq;
	struct queued *q = o->q;

	set_state(o, OUT_READY);
	log_info("s2s-out %s->%s ready (%s%s)", o->local, o->remote,
	    o->sasl_done ? "certificate" : "dialback",
	    o->remote_verified ? ", peer certificate valid" : "");
	arm_idle(o);
	o->q = NULL;
	o->nq = o->capq = 0;
	o->qbytes = 0;
	for (i = 0; i < nq; i++) {
		if (o->state != OUT_READY || send_node(o, q[i].st) != 0)
			stanza_bounce_unless_quiet(q[i].st,
			    q[i].kind ? q[i].kind : q[i].st->name,
			    "remote-server-timeout");
		xml_node_free(q[i].st);
	}
	free(q);
	/* last: a failed send ends the stream, and with it the queue */
	send_verifies(o);
}

/* ---- timers ---- */

/* Safe by pointer: out_end stops it before o can be freed. */
static void
timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct out *o = w->data;
	double idle;

	UNUSED(l);
	UNUSED(revents);
	if (o->state != OUT_READY) {
		out_end(o, "remote-server-timeout",
		    "connecting and authenticating took too long");
		return;
	}
	idle = (double)(now_ms() - o->last_ms) / 1000.0;
	if (idle >= (double)config_running->s2s.idle_timeout) {
		out_end(o, NULL, "idle");
		return;
	}
	ev_timer_set(
	    &o->timer, (double)config_running->s2s.idle_timeout - idle, 0.0);
	ev_timer_start(loop_ev, &o->timer);
}

/* ---- setting up ---- */

static void
connected(uint64_t token, int fd, const struct resolve_addr *a, const char *err)
{
	struct out *o = find_id(token);
	char ip[INET6_ADDRSTRLEN] = "?";
	SSL_CTX *ctx = NULL;

	if (o == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (fd < 0) {
		out_end(o, "remote-server-not-found", err);
		return;
	}
	if (a->sa.ss_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, ip,
		    sizeof(ip));
	else
		inet_ntop(AF_INET,
		    &((const struct sockaddr_in *)&a->sa)->sin_addr, ip,
		    sizeof(ip));
	if (a->direct_tls) {
		ctx = tls_client_ctx(o->local);
		if (ctx == NULL) {
			close(fd);
			out_end(o, "remote-server-not-found",
			    "no certificate for our domain");
			return;
		}
	}
	log_debug("s2s-out %s->%s connected to %s%s", o->local, o->remote, ip,
	    a->direct_tls ? " (direct TLS)" : "");
	o->attached = 1;
	o->tls = 0;
	set_state(o, OUT_NEGOTIATING);
	/* with Direct TLS our header goes in out_tls_ready, which may run
	 * from inside this call */
	stream_attach_tcp_out(&o->st, fd, ip, ctx, o->remote,
	    a->direct_tls ? "\x0bxmpp-server" : NULL,
	    (size_t)config_running->limits.send_queue * 4);
	/* a bidirectional peer sends its stanzas on this stream: the
	 * same rate as on the streams it opens (s2s_accept) */
	stream_set_rate(&o->st, (double)config_running->s2s.rate,
	    2.0 * (double)config_running->s2s.rate);
	if (!a->direct_tls)
		stream_open_initiate(&o->st, o->local, o->remote);
}

static void
resolved(
    uint64_t token, const struct resolve_addr *v, size_t n, const char *err)
{
	struct out *o = find_id(token);

	if (o == NULL)
		return;
	if (n == 0) {
		out_end(o, "remote-server-not-found", err);
		return;
	}
	set_state(o, OUT_CONNECTING);
	connect_start(v, n, (double)config_running->s2s.connect_timeout,
	    connected, o->id);
}

/* A route whose address is an onion service: the peer's hidden
 * service, reached through Tor under its usual domain. */
static const struct cfg_s2s_route *
onion_route(const char *remote)
{
	const struct cfg_s2s_route *rt = resolve_route(remote);

	return rt && s2s_is_onion(rt->address) ? rt : NULL;
}

/* Streams that must go through Tor: to a .onion domain or an onion
 * route, from one of our .onion hosts (a hidden service never connects
 * in the open), or every one with s2s.tor_all. */
static int
needs_tor(const char *local, const char *remote)
{
	return config_running->s2s.tor_all || s2s_is_onion(remote) ||
	       s2s_is_onion(local) || onion_route(remote) != NULL;
}

static void start_dialback(struct out *o);

/* XEP-0220 §4.2 sender multiplexing: another of our domains already has
 * an authenticated stream to remote whose peer takes dialback (with
 * errors, §2.6): this pair proves itself on that stream instead of a new
 * connection. */
static int
piggyback(struct out *o)
{
	struct out *c;

	for (c = outs; c; c = c->next)
		if (c != o && c->via == 0 && c->state == OUT_READY &&
		    c->attached && c->tls && c->db_errors &&
		    strcasecmp(c->remote, o->remote) == 0)
			break;
	if (c == NULL || s2s_needs_cert(o->remote))
		return 0;
	o->via = c->id;
	o->tls = 1;
	log_info("s2s-out %s->%s multiplexed on %s->%s", o->local, o->remote,
	    c->local, c->remote);
	memcpy(o->peer_id, c->peer_id, sizeof(o->peer_id));
	start_dialback(o);
	return 1;
}

static struct out *
out_new(const char *local, const char *remote)
{
	struct out *o = xcalloc(1, sizeof(*o));
	struct xml_limits lim = {
		.max_stanza = (size_t)config_running->s2s.stanza_size,
		.max_depth = (unsigned)config_running->limits.xml_depth,
		.max_attrs = (unsigned)config_running->limits.xml_attrs,
	};

	o->id = next_id++;
	o->local = xstrdup(local);
	o->remote = xstrdup(remote);
	stream_init(&o->st, &out_proto, NS_SERVER, &lim);
	o->st.header_ns = HEADER_DB;
	stream_set_local(&o->st, local);
	ev_timer_init(&o->timer, timer_cb,
	    (double)config_running->s2s.connect_timeout, 0.0);
	o->timer.data = o;
	ev_timer_start(loop_ev, &o->timer);
	o->next = outs;
	outs = o;
	n_outs++;
	log_debug("s2s-out %s->%s new", local, remote);
	if (piggyback(o))
		return o;
	if (needs_tor(local, remote)) {
		const struct cfg_s2s_route *rt = onion_route(remote);
		struct resolve_addr proxy;

		/* checked at start: the proxy parses; s2s_out_route bounced
		 * what needs Tor when there is no proxy */
		resolve_parse_hostport(config_running->s2s.tor_proxy, &proxy);
		set_state(o, OUT_CONNECTING);
		connect_socks5(&proxy, rt ? rt->address : remote,
		    rt ? (unsigned)rt->port : XMPP_SERVER_PORT,
		    (double)config_running->s2s.connect_timeout, connected,
		    o->id);
		return o;
	}
	resolve_server(remote, resolved, o->id);
	return o;
}

/* ---- the peer's side of the stream ---- */

static void
out_open(struct stream *st, struct xml_node *root, const char *cns)
{
	struct out *o = (struct out *)st;
	const char *id = xml_node_attr(root, "id");
	const char *version = xml_node_attr(root, "version");

	if (strcmp(cns, NS_SERVER) != 0) {
		out_end(o, "remote-server-not-found",
		    "the peer's stream is not jabber:server");
		return;
	}
	if (version == NULL || strncmp(version, "1.", 2) != 0) {
		out_end(o, "remote-server-not-found",
		    "the peer speaks no XMPP 1.0 (no features, no TLS)");
		return;
	}
	snprintf(o->peer_id, sizeof(o->peer_id), "%s", id ? id : "");
}

static void
out_tls_ready(struct stream *st)
{
	struct out *o = (struct out *)st;
	const char *why = NULL;

	o->tls = 1;
	o->remote_verified =
	    tls_peer_check(stream_ssl(st), o->remote, &why) == 1;
	if (!o->remote_verified)
		log_info("s2s-out %s->%s: peer certificate not valid: %s",
		    o->local, o->remote, why);
	if (!o->remote_verified && s2s_needs_cert(o->remote)) {
		out_end(o, "remote-server-not-found",
		    "the peer's certificate is not valid and secure "
		    "authentication is required");
		return;
	}
	/* after STARTTLS a new stream; with Direct TLS the first one */
	set_state(o, OUT_NEGOTIATING);
	stream_open_initiate(st, o->local, o->remote);
}

static int
offers_mech(const struct xml_node *features, const char *mech)
{
	struct xml_node *m = xml_node_find(features, NS_SASL, "mechanisms");
	struct xml_node *c;

	for (c = m ? m->children : NULL; c; c = c->next)
		if (xml_node_is(c, NS_SASL, "mechanism") &&
		    strcmp(xml_node_text_get(c), mech) == 0)
			return 1;
	return 0;
}

static void
start_dialback(struct out *o)
{
	struct xml_node *r;
	char key[65];

	if (!s2s_domain_allowed(o->remote) || s2s_needs_cert(o->remote)) {
		out_end(o, "remote-server-not-found",
		    "the peer cannot authenticate us by certificate and "
		    "dialback is not allowed");
		return;
	}
	s2s_db_key(o->remote, o->local, o->peer_id, key);
	r = xml_node_new(NS_DB, "result");
	xml_node_set_attr(r, "from", o->local);
	xml_node_set_attr(r, "to", o->remote);
	xml_node_text(r, key, 64);
	set_state(o, OUT_DIALBACK);
	send_node(o, r);
	xml_node_free(r);
	/* no SASL on this stream: verifications may go now (what
	 * ejabberd does with a peer that cannot authenticate it) */
	send_verifies(o);
}

static void
features(struct out *o, struct xml_node *f)
{
	if (!o->tls) {
		struct xml_node *t;

		if (xml_node_find(f, NS_TLS, "starttls") == NULL) {
			out_end(o, "remote-server-not-found",
			    "the peer offers no TLS");
			return;
		}
		t = xml_node_new(NS_TLS, "starttls");

		set_state(o, OUT_STARTTLS);
		send_node(o, t);
		xml_node_free(t);
		return;
	}
	{
		struct xml_node *db =
		    xml_node_find(f, NS_DB_FEATURE, "dialback");

		/* remembered: the features after authentication need not
		 * repeat it */
		if (db && xml_node_find(db, NULL, "errors"))
			o->db_errors = 1;
	}
	if (!o->bidi && !o->sasl_done && xml_node_find(f, NS_BIDI, "bidi")) {
		/* XEP-0288 §2: asked for before authenticating */
		struct xml_node *b = xml_node_new(NS_BIDI_REQ, "bidi");

		o->bidi = 1;
		send_node(o, b);
		xml_node_free(b);
	}
	if (o->sasl_done) {
		ready(o);
		return;
	}
	if (o->state == OUT_READY || o->state == OUT_DIALBACK)
		return;
	if (!o->sasl_tried && offers_mech(f, "EXTERNAL")) {
		struct xml_node *a = xml_node_new(NS_SASL, "auth");
		char b64[600];

		o->sasl_tried = 1;
		/* RFC 6120 §6.4.1 / RFC 4422 §A: the authzid is the domain
		 * we authenticate as */
		b64_encode(
		    (const unsigned char *)o->local, strlen(o->local), b64);
		xml_node_set_attr(a, "mechanism", "EXTERNAL");
		xml_node_text(a, b64, strlen(b64));
		set_state(o, OUT_SASL);
		send_node(o, a);
		xml_node_free(a);
		return;
	}
	start_dialback(o);
}

static void
db_answer(struct out *o, struct xml_node *el)
{
	const char *type = xml_node_attr(el, "type");
	const char *id = xml_node_attr(el, "id");
	size_t i;

	if (strcmp(el->name, "result") == 0) {
		const char *to = xml_node_attr(el, "to");
		struct out *p = o;

		/* an answer for a pair multiplexed on this stream */
		if (to && strcasecmp(to, o->local) != 0) {
			p = find_pair(to, o->remote);
			if (p == NULL || p->via != o->id)
				return;
		}
		if (p->state != OUT_DIALBACK)
			return;
		if (type && strcmp(type, "valid") == 0)
			ready(p);
		else if (p != o)
			/* a dialback error or invalid for a rider leaves the
			 * stream to its other pairs (XEP-0220 §2.4) */
			out_end(p,
			    type && strcmp(type, "error") == 0
				? "remote-server-timeout"
				: "internal-server-error",
			    "the peer refused the multiplexed pair");
		else
			out_end(o, "remote-server-not-found",
			    "the peer refused our dialback key");
		return;
	}
	if (strcmp(el->name, "verify") != 0 || id == NULL)
		return;
	for (i = 0; i < o->nv; i++) {
		if (strcmp(o->v[i].id, id) != 0)
			continue;
		s2s_in_verified(o->v[i].in_id, o->local, o->remote,
		    type && strcmp(type, "valid") == 0);
		free(o->v[i].id);
		free(o->v[i].key);
		o->v[i] = o->v[--o->nv];
		return;
	}
}

/* XEP-0288: a stanza from the peer on our stream: from its domain (the
 * one this stream reached and authenticated) to ours (this stream's, or
 * a pair multiplexed on it). */
static const char *
bidi_check(void *ud, const char *from, const char *to)
{
	struct out *o = ud, *r;

	if (strcasecmp(to, o->local) != 0) {
		r = find_pair(to, o->remote);
		if (r == NULL || r->via != o->id || r->state != OUT_READY)
			return "host-unknown";
	}
	return strcasecmp(from, o->remote) == 0 ? NULL : "invalid-from";
}

static void
bidi_stanza(struct out *o, struct xml_node *st)
{
	if (s2s_route_peer_stanza(&o->st, st, bidi_check, o) == 0)
		o->last_ms = now_ms();
}

static int
is_stanza(const struct xml_node *el)
{
	return xml_node_is(el, XML_NS_CLIENT, "message") ||
	       xml_node_is(el, XML_NS_CLIENT, "presence") ||
	       xml_node_is(el, XML_NS_CLIENT, "iq");
}

static void
out_element(struct stream *st, struct xml_node *el)
{
	struct out *o = (struct out *)st;

	if (o->state == OUT_DONE) {
		/* we closed it (idle): what a bidirectional peer sent
		 * before it saw our closing tag still counts */
		if (o->bidi && o->st.closing && is_stanza(el))
			bidi_stanza(o, el);
		return;
	}
	if (xml_node_is(el, XML_NS_STREAM, "features")) {
		features(o, el);
	} else if (xml_node_is(el, NS_TLS, "proceed") &&
		   o->state == OUT_STARTTLS) {
		SSL_CTX *ctx = tls_client_ctx(o->local);

		if (ctx == NULL) {
			out_end(o, "remote-server-not-found",
			    "no certificate for our domain");
			return;
		}
		stream_restart(st, ctx);
	} else if (xml_node_is(el, NS_SASL, "success") &&
		   o->state == OUT_SASL) {
		o->sasl_done = 1;
		set_state(o, OUT_NEGOTIATING);
		stream_restart(st, NULL);
		stream_open_initiate(st, o->local, o->remote);
	} else if (xml_node_is(el, NS_SASL, "failure") &&
		   o->state == OUT_SASL) {
		log_info("s2s-out %s->%s: SASL EXTERNAL refused", o->local,
		    o->remote);
		start_dialback(o);
	} else if (strcmp(el->ns, NS_DB) == 0) {
		db_answer(o, el);
	} else if (xml_node_is(el, XML_NS_STREAM, "error")) {
		struct xml_node *c = xml_node_first_el(el);

		out_end_as(o, "remote-server-not-found", NULL,
		    c ? c->name : "stream error");
	} else if (o->bidi && o->state == OUT_READY && is_stanza(el)) {
		bidi_stanza(o, el);
	} else {
		out_end(o, "remote-server-not-found",
		    "unexpected element from the peer");
	}
}

/* The peer closed its stream (idle, or shutting down): ours closes
 * too, at once, and the pair is done, so that the next stanza for the
 * peer opens a new stream instead of going into this closing one. What
 * waits (the peer closed during set-up) bounces. */
static void
out_closed(struct stream *st)
{
	struct out *o = (struct out *)st;

	stream_close(st, "the peer closed the stream");
	out_end(o, NULL, "the peer closed the stream");
}

/* Freed from here when the stream had a connection. */
static void
out_lost(struct stream *st, const char *why)
{
	struct out *o = (struct out *)st;

	if (o->state != OUT_DONE)
		out_end(o, "remote-server-not-found", why);
	unlink_out(o);
	stream_cleanup(st);
	loop_defer(out_free, o);
}

/* ---- the remote route ---- */

static void
enqueue(struct out *o, struct xml_node *st, const char *kind)
{
	struct sbuf b;

	sbuf_init(&b);
	xml_serialize(st, NS_SERVER, &b);
	if (o->qbytes + b.len > (size_t)config_running->s2s.queue_size) {
		sbuf_cleanup(&b);
		/* nothing answers an iq result (RFC 6120 §8.2.3), and an
		 * error never gets one (stanza_bounce) */
		if (strcmp(kind, "iq-result") == 0) {
			log_debug(
			    "s2s-out %s->%s queue full: iq result dropped",
			    o->local, o->remote);
			return;
		}
		stanza_bounce(st, "wait", "resource-constraint",
		    "too much is waiting for the remote server");
		return;
	}
	if (o->nq == o->capq) {
		o->capq = o->capq ? 2 * o->capq : 8;
		o->q = xrealloc(o->q, o->capq * sizeof(*o->q));
	}
	o->q[o->nq].st = xml_node_dup(st);
	/* the router's kind of a message or presence is the stanza's own
	 * name, which goes with the stanza it points into */
	o->q[o->nq].kind = strncmp(kind, "iq-", 3) == 0 ? kind : NULL;
	o->q[o->nq].size = b.len;
	o->qbytes += b.len;
	o->nq++;
	sbuf_cleanup(&b);
}

void
s2s_out_route(const struct domain *d, struct xml_node *st, struct hook_ev *ev,
    const char *kind)
{
	const char *remote = ev->to->domain;
	const char *local = ev->from ? ev->from->domain : NULL;
	struct out *o;

	UNUSED(d);
	if (local == NULL || !s2s_is_local(local) ||
	    !s2s_domain_allowed(remote) ||
	    (config_running->s2s.tor_proxy == NULL &&
		needs_tor(local, remote))) {
		stanza_bounce_unless_quiet(st, kind, "remote-server-not-found");
		return;
	}
	metrics.s2s_out[metrics_kind(st->name)]++;
	o = find_pair(local, remote);
	if ((o == NULL || o->state != OUT_READY) &&
	    s2s_in_bidi_send(local, remote, st) == 0)
		return;
	if (o == NULL)
		o = out_new(local, remote);
	if (o->state == OUT_READY) {
		/* a peer too slow for its queue ends the stream: this
		 * stanza did not go, and says so */
		if (send_node(o, st) != 0)
			stanza_bounce_unless_quiet(
			    st, kind, "remote-server-timeout");
		return;
	}
	enqueue(o, st, kind);
}

void
s2s_out_verify(const char *from, const char *to, const char *id,
    const char *key, uint64_t in_id)
{
	struct out *o = find_pair(from, to);

	if (o == NULL)
		o = out_new(from, to);
	o->v = xrealloc(o->v, (o->nv + 1) * sizeof(*o->v));
	o->v[o->nv].id = xstrdup(id);
	o->v[o->nv].key = xstrdup(key);
	o->v[o->nv].in_id = in_id;
	o->v[o->nv].sent = 0;
	o->nv++;
	/* once the stream is authenticated (or will only do dialback) the
	 * verification goes at once; never between our SASL <auth/> and
	 * its answer, nor before it: ejabberd drops a <db:verify/> that
	 * comes before the SASL exchange it offered */
	if (o->tls && (o->state == OUT_READY || o->state == OUT_DIALBACK))
		send_verifies(o);
}

void
s2s_out_close_all(const char *condition, const char *text)
{
	struct out *o, *next;

	/* the peer hears why (system-shutdown), as incoming streams do;
	 * one already done may still wait for the peer's closing tag */
	for (o = outs; o; o = next) {
		next = o->next;
		if (o->state == OUT_DONE)
			stream_fail(&o->st, condition, text);
		else
			out_end_as(o, "remote-server-timeout", condition,
			    text ? text : "shutdown");
	}
}

unsigned
s2s_out_count(void)
{
	return n_outs;
}

size_t
s2s_out_waiting(void)
{
	const struct out *o;
	size_t n = 0;

	for (o = outs; o; o = o->next)
		n += o->nq;
	return n;
}

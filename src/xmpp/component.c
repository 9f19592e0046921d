/* component.c: XEP-0114 external components. A component authenticates
 * with sha1(stream id + secret) and then owns its domain: stanzas to it
 * are queued on its stream, stanzas from it must come from it. The
 * per-address limits are c2s's: limits.conns_per_ip, and failed
 * handshakes count against limits.sasl_failures_per_ip. */
#include "xmpp/component.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/conn.h"
#include "xml/xml.h"
#include "xmpp/domain.h"
#include "xmpp/router.h"
#include "xmpp/stream.h"

#define NS_COMPONENT "jabber:component:accept"
#define TOO_MANY_CONNS "too many connections from your address"
#define TOO_MANY_FAILURES "too many failed attempts from your address"

struct comp {
	struct conn *conn;
	struct xml_stream *xs;
	char *domain; /* set once the header named a configured one */
	char id[17];
	unsigned header_sent : 1;
	unsigned authed : 1;
	unsigned closed : 1;
	ev_timer timer;
	struct comp *next;
};

static struct comp *all;

static void comp_data(struct conn *c, const char *p, size_t n);
static void comp_closed(struct conn *c, const char *why);
static const struct conn_ops comp_ops = {
	.data = comp_data,
	.closed = comp_closed,
};

static void xs_open(void *ud, struct xml_node *root, const char *cns);
static void xs_stanza(void *ud, struct xml_node *st);
static void xs_close(void *ud);
static const struct xml_stream_cb xs_cb = {
	.open = xs_open,
	.stanza = xs_stanza,
	.close = xs_close,
};

static const struct cfg_component *
comp_config(const char *domain)
{
	const struct cfg_component *v = config_running->components.items;
	size_t i;

	for (i = 0; i < config_running->components.n; i++)
		if (strcmp(v[i].name, domain) == 0)
			return &v[i];
	return NULL;
}

static struct comp *
find_authed(const char *domain)
{
	struct comp *c;

	for (c = all; c; c = c->next)
		if (c->authed && !c->closed && strcmp(c->domain, domain) == 0)
			return c;
	return NULL;
}

int
component_connected(const char *domain)
{
	return find_authed(domain) != NULL;
}

static void
fail(struct comp *c, const char *condition, const char *text)
{
	if (c->closed)
		return;
	c->closed = 1;
	stream_fail(
	    c->conn, c->header_sent, NS_COMPONENT, c->domain, condition, text);
}

static void
xs_open(void *ud, struct xml_node *root, const char *cns)
{
	struct comp *c = ud;
	const char *to = xml_node_attr(root, "to");

	if (strcmp(cns, NS_COMPONENT) != 0) {
		fail(c, "invalid-namespace", NULL);
		return;
	}
	if (to == NULL || comp_config(to) == NULL) {
		fail(c, "host-unknown", NULL);
		return;
	}
	c->domain = xstrdup(to);
	rand_id(c->id, sizeof(c->id));
	stream_write_header(c->conn, NS_COMPONENT, c->domain, NULL, c->id);
	c->header_sent = 1;
}

static void
handshake(struct comp *c, struct xml_node *el)
{
	const struct cfg_component *cc = comp_config(c->domain);
	const char *got = xml_node_text_get(el);
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1], *cat, low[41];
	unsigned int n = 0, i;
	size_t gl = strlen(got);

	if (cc == NULL) {
		fail(c, "host-unknown", NULL);
		return;
	}
	/* a handshake is a login: the same per-address throttle as SASL */
	if (stream_ip_auth_throttled(c->conn->peer)) {
		log_info("component %s handshake refused peer=%s: %s",
		    c->domain, c->conn->peer, "too many failures");
		fail(c, "policy-violation", TOO_MANY_FAILURES);
		return;
	}
	cat = xasprintf("%s%s", c->id, cc->secret);
	EVP_Digest(cat, strlen(cat), md, &n, EVP_sha1(), NULL);
	OPENSSL_cleanse(cat, strlen(cat));
	free(cat);
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	for (i = 0; i < 40 && i < gl; i++)
		low[i] =
		    (char)(got[i] >= 'A' && got[i] <= 'F' ? got[i] - 'A' + 'a'
							  : got[i]);
	low[i] = '\0';
	if (gl != 40 || !ct_memeq(low, hex, 40)) {
		log_info("component %s handshake failed peer=%s", c->domain,
		    c->conn->peer);
		stream_ip_auth_failed(c->conn->peer);
		fail(c, "not-authorized", NULL);
		return;
	}
	if (find_authed(c->domain)) {
		fail(c, "conflict", "this component is already connected");
		return;
	}
	c->authed = 1;
	ev_timer_stop(loop_ev, &c->timer);
	{
		struct xml_limits l = {
			.max_stanza =
			    (size_t)config_running->limits.c2s_stanza_size * 2,
			.max_depth = (unsigned)config_running->limits.xml_depth,
			.max_attrs = (unsigned)config_running->limits.xml_attrs,
		};

		xml_stream_set_limits(c->xs, &l);
	}
	conn_write_str(c->conn, "<handshake/>", 12);
	log_info("component %s connected peer=%s", c->domain, c->conn->peer);
}

/* The component may send as its domain or any JID at it. */
static int
from_ok(const struct comp *c, const struct jid *f)
{
	return strcmp(f->domain, c->domain) == 0;
}

static void
xs_stanza(void *ud, struct xml_node *st)
{
	struct comp *c = ud;
	const char *from, *to;
	struct jid f;

	if (c->closed)
		goto out;
	if (!c->authed) {
		if (strcmp(st->name, "handshake") == 0 &&
		    strcmp(st->ns, NS_COMPONENT) == 0)
			handshake(c, st);
		else
			fail(c, "not-authorized", NULL);
		goto out;
	}
	if (strcmp(st->ns, NS_COMPONENT) != 0 ||
	    (strcmp(st->name, "message") != 0 &&
		strcmp(st->name, "presence") != 0 &&
		strcmp(st->name, "iq") != 0)) {
		fail(c, "unsupported-stanza-type", NULL);
		goto out;
	}
	from = xml_node_attr(st, "from");
	to = xml_node_attr(st, "to");
	if (from == NULL || to == NULL) {
		fail(c, "improper-addressing", NULL);
		goto out;
	}
	if (jid_parse_str(&f, from) != 0 || !from_ok(c, &f)) {
		jid_cleanup(&f);
		fail(c, "invalid-from", NULL);
		goto out;
	}
	/* re-stamp the prepared form */
	xml_node_set_attr(st, "from", f.full);
	router_route(st, &f, NULL);
	jid_cleanup(&f);
out:
	xml_node_free(st);
}

static void
xs_close(void *ud)
{
	struct comp *c = ud;

	if (c->closed)
		return;
	c->closed = 1;
	conn_write_str(c->conn, "</stream:stream>", 16);
	conn_close(c->conn, 1, "stream closed");
}

static void
comp_route(const struct domain *d, struct xml_node *st, struct hook_ev *ev,
    const char *kind)
{
	struct comp *c;
	struct sbuf b;

	UNUSED(ev);
	c = find_authed(d->name);
	if (c == NULL) {
		/* configured, not connected */
		stanza_bounce_unless_quiet(st, kind, "service-unavailable");
		return;
	}
	sbuf_init(&b);
	xml_serialize(st, NS_COMPONENT, &b);
	if (conn_write_str(c->conn, b.data, b.len) != 0)
		fail(c, "policy-violation", "send queue full");
	sbuf_cleanup(&b);
}

static void
comp_data(struct conn *cn, const char *p, size_t n)
{
	struct comp *c = cn->owner;
	size_t used = n;
	enum xml_err e;

	if (c->closed)
		return;
	e = xml_stream_feed(c->xs, p, n, &used);
	if (e != XML_OK)
		fail(c, stream_xml_condition(e), xml_stream_errmsg(c->xs));
}

/* Deferred by pointer, safely: only comp_closed defers it, once, after
 * unlinking c (routing finds it no more) and stopping its timer. */
static void
comp_free(void *arg)
{
	struct comp *c = arg;

	xml_stream_free(c->xs);
	free(c->domain);
	free(c);
}

static void
comp_closed(struct conn *cn, const char *why)
{
	struct comp *c = cn->owner, **pp;

	if (c->authed)
		log_info("component %s disconnected: %s", c->domain, why);
	c->closed = 1;
	ev_timer_stop(loop_ev, &c->timer);
	for (pp = &all; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	loop_defer(comp_free, c);
}

/* Safe by pointer: comp_closed stops it before comp_free is deferred. */
static void
timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(revents);
	fail(w->data, "connection-timeout", NULL);
}

void
component_accept(int fd, const char *peer, const struct cfg_listener *l)
{
	struct comp *c = xcalloc(1, sizeof(*c));
	struct xml_limits lim = {
		.max_stanza = (size_t)config_running->limits.unauth_stanza_size,
		.max_depth = (unsigned)config_running->limits.xml_depth,
		.max_attrs = (unsigned)config_running->limits.xml_attrs,
	};

	UNUSED(l);
	c->conn = conn_new(fd, peer, NULL, &comp_ops, c);
	c->conn->max_queue = (size_t)config_running->limits.send_queue * 4;
	c->xs = xml_stream_new(&xs_cb, c, &lim);
	ev_timer_init(&c->timer, timer_cb,
	    (double)config_running->limits.unauth_timeout, 0.0);
	c->timer.data = c;
	ev_timer_start(loop_ev, &c->timer);
	c->next = all;
	all = c;
	if (stream_ip_crowded(peer))
		fail(c, "policy-violation", TOO_MANY_CONNS);
}

void
component_close_all(const char *condition, const char *text)
{
	struct comp *c;

	for (c = all; c; c = c->next)
		fail(c, condition, text);
}

void
component_setup_domains(const struct config *cfg)
{
	const struct cfg_component *v = cfg->components.items;
	size_t i;

	domain_clear(DOMAIN_COMPONENT);
	for (i = 0; i < cfg->components.n; i++)
		domain_add(v[i].name, DOMAIN_COMPONENT, NULL, comp_route, NULL);
}

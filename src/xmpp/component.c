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
	struct stream st; /* first: the base hands it back to us */
	char *domain;	  /* set once the header named a configured one */
	unsigned authed : 1;
	ev_timer timer;
	struct comp *next;
};

static struct comp *all;

static void comp_open(
    struct stream *st, struct xml_node *root, const char *cns);
static void comp_element(struct stream *sp, struct xml_node *st);
static void comp_lost(struct stream *st, const char *why);
static const struct stream_proto comp_proto = {
	.name = "component",
	.open = comp_open,
	.element = comp_element,
	.lost = comp_lost,
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

unsigned
component_count(void)
{
	const struct comp *c;
	unsigned n = 0;

	for (c = all; c; c = c->next)
		n++;
	return n;
}

static struct comp *
find_authed(const char *domain)
{
	struct comp *c;

	for (c = all; c; c = c->next)
		if (c->authed && !c->st.closed &&
		    strcmp(c->domain, domain) == 0)
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
	stream_fail(&c->st, condition, text);
}

static void
comp_open(struct stream *st, struct xml_node *root, const char *cns)
{
	struct comp *c = (struct comp *)st;
	const char *to = xml_node_attr(root, "to");

	if (strcmp(cns, NS_COMPONENT) != 0) {
		fail(c, "invalid-namespace", NULL);
		return;
	}
	if (to == NULL || comp_config(to) == NULL) {
		fail(c, "host-unknown", NULL);
		return;
	}
	free(c->domain);
	c->domain = xstrdup(to);
	stream_set_local(st, to);
	stream_open_reply(st, c->domain);
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
	if (stream_ip_auth_throttled(c->st.peer)) {
		log_info("component %s handshake refused peer=%s: %s",
		    c->domain, c->st.peer, "too many failures");
		fail(c, "policy-violation", TOO_MANY_FAILURES);
		return;
	}
	cat = xasprintf("%s%s", c->st.sid, cc->secret);
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
		    c->st.peer);
		stream_ip_auth_failed(c->st.peer);
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

		stream_set_limits(&c->st, &l);
	}
	stream_send_str(&c->st, "<handshake/>");
	log_info("component %s connected peer=%s", c->domain, c->st.peer);
}

/* The component may send as its domain or any JID at it. */
static int
from_ok(const struct comp *c, const struct jid *f)
{
	return strcmp(f->domain, c->domain) == 0;
}

static void
comp_element(struct stream *sp, struct xml_node *st)
{
	struct comp *c = (struct comp *)sp;
	const char *from, *to;
	struct jid f;

	if (!c->authed) {
		if (c->domain && strcmp(st->name, "handshake") == 0 &&
		    strcmp(st->ns, XML_NS_CLIENT) == 0)
			handshake(c, st);
		else
			fail(c, "not-authorized", NULL);
		return;
	}
	if (strcmp(st->ns, XML_NS_CLIENT) != 0 ||
	    (strcmp(st->name, "message") != 0 &&
		strcmp(st->name, "presence") != 0 &&
		strcmp(st->name, "iq") != 0)) {
		fail(c, "unsupported-stanza-type", NULL);
		return;
	}
	from = xml_node_attr(st, "from");
	to = xml_node_attr(st, "to");
	if (from == NULL || to == NULL) {
		fail(c, "improper-addressing", NULL);
		return;
	}
	if (jid_parse_str(&f, from) != 0 || !from_ok(c, &f)) {
		jid_cleanup(&f);
		fail(c, "invalid-from", NULL);
		return;
	}
	/* re-stamp the prepared form */
	xml_node_set_attr(st, "from", f.full);
	router_route(st, &f, NULL);
	jid_cleanup(&f);
}

static void
comp_route(const struct domain *d, struct xml_node *st, struct hook_ev *ev,
    const char *kind)
{
	struct comp *c;

	UNUSED(ev);
	c = find_authed(d->name);
	if (c == NULL) {
		/* configured, not connected */
		stanza_bounce_unless_quiet(st, kind, "service-unavailable");
		return;
	}
	if (stream_send_node(&c->st, st) != 0)
		fail(c, "policy-violation", "send queue full");
}

/* Deferred by pointer, safely: only comp_lost defers it, once, after
 * unlinking c (routing finds it no more) and stopping its timer. */
static void
comp_free(void *arg)
{
	struct comp *c = arg;

	free(c->domain);
	free(c);
}

static void
comp_lost(struct stream *st, const char *why)
{
	struct comp *c = (struct comp *)st, **pp;

	if (c->authed)
		log_info("component %s disconnected: %s", c->domain, why);
	ev_timer_stop(loop_ev, &c->timer);
	for (pp = &all; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	stream_cleanup(st);
	loop_defer(comp_free, c);
}

/* Safe by pointer: comp_lost stops it before comp_free is deferred. */
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
	stream_init(&c->st, &comp_proto, NS_COMPONENT, &lim);
	stream_attach_tcp(&c->st, fd, peer, NULL,
	    (size_t)config_running->limits.send_queue * 4);
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

/* s2s_in.c: incoming server-to-server streams (RFC 6120). A remote
 * server connects, must start TLS (RFC 6120 §5; Direct TLS on s2s_tls
 * listeners), then proves its domain: SASL EXTERNAL with a certificate
 * that names it (§6.4, checked by net/tls_peer.c), or dialback (XEP-0220):
 * with a valid certificate at once (XEP-0344 §2.4), else by asking its
 * authoritative server through an outgoing stream (s2s_out_verify),
 * whose answer comes back by this stream's id. Stanzas are accepted only
 * for the domains proven on the stream ('from') and addressed to ours
 * ('to'), RFC 6120 §4.9.3.9 and §13.7.
 *
 * The same listener answers <db:verify/> from servers checking a key we
 * sent: we are the authoritative server then. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/tls.h"
#include "xml/xml.h"
#include "xmpp/router.h"
#include "xmpp/s2s.h"
#include "xmpp/s2s_int.h"
#include "xmpp/stream.h"

#define MAX_PAIRS 16 /* domain pairs one stream may carry */

struct pair {
	char *remote, *local;
};

struct in {
	struct stream st; /* first: the base hands it back to us */
	uint64_t id;
	char *local;  /* the header's 'to' */
	char *remote; /* the header's 'from', if any */
	unsigned tls : 1;
	unsigned authed : 1; /* some pair is proven */
	unsigned bidi : 1;   /* XEP-0288: our stanzas may go back on it */
	struct pair ok[MAX_PAIRS];
	size_t nok;
	struct pair wait[MAX_PAIRS]; /* dialback keys being verified */
	size_t nwait;
	ev_timer timer;
	int64_t last_ms;
	struct in *next;
};

static struct in *ins;
static unsigned n_ins;
static uint64_t next_id = 1;

static void in_open(struct stream *st, struct xml_node *root, const char *cns);
static void in_element(struct stream *sp, struct xml_node *st);
static void in_lost(struct stream *st, const char *why);
static void in_tls_ready(struct stream *st);
static const struct stream_proto in_proto = {
	.name = "s2s-in",
	.open = in_open,
	.element = in_element,
	.lost = in_lost,
	.tls_ready = in_tls_ready,
};

static struct in *
find_id(uint64_t id)
{
	struct in *i;

	for (i = ins; i; i = i->next)
		if (i->id == id && !i->st.closed)
			return i;
	return NULL;
}

static void
fail(struct in *i, const char *condition, const char *text)
{
	stream_fail(&i->st, condition, text);
}

static int
has_pair(const struct pair *v, size_t n, const char *remote, const char *local)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (strcasecmp(v[k].remote, remote) == 0 &&
		    strcasecmp(v[k].local, local) == 0)
			return 1;
	return 0;
}

static void
pair_add(struct pair *v, size_t *n, const char *remote, const char *local)
{
	if (*n >= MAX_PAIRS || has_pair(v, *n, remote, local))
		return;
	v[*n].remote = xstrdup(remote);
	v[*n].local = xstrdup(local);
	(*n)++;
}

static void
pair_del(struct pair *v, size_t *n, const char *remote, const char *local)
{
	size_t k;

	for (k = 0; k < *n; k++) {
		if (strcasecmp(v[k].remote, remote) != 0 ||
		    strcasecmp(v[k].local, local) != 0)
			continue;
		free(v[k].remote);
		free(v[k].local);
		v[k] = v[--(*n)];
		return;
	}
}

/* Streams already authenticated for remote (streams_per_domain). */
static unsigned
streams_of(const char *remote)
{
	struct in *i;
	unsigned n = 0;
	size_t k;

	for (i = ins; i; i = i->next)
		for (k = 0; k < i->nok; k++)
			if (!i->st.closed && !i->st.closing &&
			    strcasecmp(i->ok[k].remote, remote) == 0) {
				n++;
				break;
			}
	return n;
}

static void
arm_idle(struct in *i)
{
	ev_timer_stop(loop_ev, &i->timer);
	ev_timer_set(&i->timer, (double)config_running->s2s.idle_timeout, 0.0);
	ev_timer_start(loop_ev, &i->timer);
}

/* remote proved itself for local on this stream. 0, or -1 when the
 * stream was closed for it. */
static int
proven(struct in *i, const char *remote, const char *local, const char *how)
{
	size_t k;
	int counted = 0;

	for (k = 0; k < i->nok; k++)
		counted |= strcasecmp(i->ok[k].remote, remote) == 0;
	if (!counted && streams_of(remote) >=
			    (unsigned)config_running->s2s.streams_per_domain) {
		fail(
		    i, "policy-violation", "too many streams from your domain");
		return -1;
	}
	if (i->nok >= MAX_PAIRS) {
		fail(i, "resource-constraint",
		    "too many domain pairs on one stream");
		return -1;
	}
	pair_add(i->ok, &i->nok, remote, local);
	if (!i->authed) {
		struct xml_limits l = {
			.max_stanza = (size_t)config_running->s2s.stanza_size,
			.max_depth = (unsigned)config_running->limits.xml_depth,
			.max_attrs = (unsigned)config_running->limits.xml_attrs,
		};

		i->authed = 1;
		stream_set_limits(&i->st, &l);
		arm_idle(i);
	}
	log_info("s2s-in %llx %s->%s authenticated by %s peer=%s",
	    (unsigned long long)i->st.connid, remote, local, how, i->st.peer);
	return 0;
}

/* ---- timers ---- */

/* Safe by pointer: in_lost stops it before i is freed. */
static void
timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct in *i = w->data;
	double idle;

	UNUSED(l);
	UNUSED(revents);
	if (!i->authed) {
		fail(i, "connection-timeout", "authentication took too long");
		return;
	}
	idle = (double)(now_ms() - i->last_ms) / 1000.0;
	if (idle >= (double)config_running->s2s.idle_timeout) {
		/* the peer may be sending right now: what it sent before it
		 * sees our closing tag is still delivered */
		stream_close_linger(&i->st, "idle", S2S_LINGER);
		return;
	}
	ev_timer_set(
	    &i->timer, (double)config_running->s2s.idle_timeout - idle, 0.0);
	ev_timer_start(loop_ev, &i->timer);
}

/* ---- negotiation ---- */

static void
send_features(struct in *i)
{
	struct xml_node *f = xml_node_new(XML_NS_STREAM, "features");
	const char *why;

	if (!i->tls) {
		struct xml_node *t = xml_node_child(f, NS_TLS, "starttls");

		xml_node_child(t, NULL, "required");
	} else if (!i->authed) {
		if (i->remote &&
		    tls_peer_check(stream_ssl(&i->st), i->remote, &why) == 1) {
			struct xml_node *m =
			    xml_node_child(f, NS_SASL, "mechanisms");
			struct xml_node *e =
			    xml_node_child(m, NULL, "mechanism");

			xml_node_text(e, "EXTERNAL", 8);
		}
		xml_node_child(xml_node_child(f, NS_DB_FEATURE, "dialback"),
		    NULL, "errors");
		/* XEP-0288: stanzas to the peer may come back this way */
		xml_node_child(f, NS_BIDI, "bidi");
	}
	stream_send(&i->st, f);
}

static void
in_open(struct stream *st, struct xml_node *root, const char *cns)
{
	struct in *i = (struct in *)st;
	const char *to = xml_node_attr(root, "to");
	const char *from = xml_node_attr(root, "from");
	const char *version = xml_node_attr(root, "version");
	struct jid tj;

	if (strcmp(cns, NS_SERVER) != 0) {
		fail(i, "invalid-namespace",
		    "the content namespace must be "
		    "jabber:server");
		return;
	}
	if (to == NULL || jid_parse_str(&tj, to) != 0) {
		fail(i, "host-unknown", NULL);
		return;
	}
	if (tj.node || tj.resource || !s2s_is_local(tj.domain)) {
		jid_cleanup(&tj);
		fail(i, "host-unknown", NULL);
		return;
	}
	free(i->local);
	i->local = xstrdup(tj.domain);
	jid_cleanup(&tj);
	stream_set_local(st, i->local);
	free(i->remote);
	i->remote = NULL;
	if (from) {
		struct jid fj;

		if (jid_parse_str(&fj, from) != 0 || fj.node || fj.resource) {
			if (fj.domain)
				jid_cleanup(&fj);
			fail(i, "invalid-from", NULL);
			return;
		}
		i->remote = xstrdup(fj.domain);
		jid_cleanup(&fj);
		if (!s2s_domain_allowed(i->remote)) {
			fail(i, "policy-violation",
			    "this server does not federate with your domain");
			return;
		}
	}
	if (version == NULL || strncmp(version, "1.", 2) != 0) {
		fail(i, "unsupported-version", NULL);
		return;
	}
	stream_open_reply(st, i->local);
	send_features(i);
}

static void
in_tls_ready(struct stream *st)
{
	((struct in *)st)->tls = 1;
}

static void
sasl_reply(struct in *i, const char *name, const char *condition)
{
	struct xml_node *n = xml_node_new(NS_SASL, name);

	if (condition)
		xml_node_child(n, NULL, condition);
	stream_send(&i->st, n);
}

static void
do_external(struct in *i, struct xml_node *el)
{
	const char *mech = xml_node_attr(el, "mechanism");
	const char *t = xml_node_text_get(el);
	unsigned char authz[1024];
	size_t len = 0;
	char who[1024];
	const char *why = NULL;

	if (i->authed) {
		fail(i, "policy-violation", "already authenticated");
		return;
	}
	if (mech == NULL || strcmp(mech, "EXTERNAL") != 0) {
		sasl_reply(i, "failure", "invalid-mechanism");
		return;
	}
	if (t[0] == '\0' || strcmp(t, "=") == 0) {
		snprintf(who, sizeof(who), "%s", i->remote ? i->remote : "");
	} else if (strlen(t) > 1300 ||
		   b64_decode(t, strlen(t), authz, &len) != 0 ||
		   len >= sizeof(who)) {
		sasl_reply(i, "failure", "incorrect-encoding");
		return;
	} else {
		memcpy(who, authz, len);
		who[len] = '\0';
	}
	/* RFC 6120 §6.4.6: the authzid is the domain in the header */
	if (who[0] == '\0' || (i->remote && strcasecmp(who, i->remote) != 0) ||
	    !s2s_domain_allowed(who) ||
	    tls_peer_check(stream_ssl(&i->st), who, &why) != 1) {
		log_info("s2s-in %llx EXTERNAL refused for %s: %s",
		    (unsigned long long)i->st.connid, who,
		    why ? why : "not the stream's domain");
		sasl_reply(i, "failure", "not-authorized");
		return;
	}
	if (proven(i, who, i->local, "certificate") != 0)
		return;
	sasl_reply(i, "success", NULL);
	stream_restart(&i->st, NULL);
}

static void
db_error(
    struct in *i, const char *remote, const char *local, const char *condition)
{
	struct xml_node *r = xml_node_new(NS_DB, "result");
	struct xml_node *e;

	xml_node_set_attr(r, "from", local);
	xml_node_set_attr(r, "to", remote);
	xml_node_set_attr(r, "type", "error");
	e = xml_node_child(r, NS_SERVER, "error");
	xml_node_set_attr(e, "type", "cancel");
	xml_node_child(e, NS_STANZAS, condition);
	stream_send(&i->st, r);
}

static void
db_result(struct in *i, const char *remote, const char *local, int valid)
{
	struct xml_node *r = xml_node_new(NS_DB, "result");

	xml_node_set_attr(r, "from", local);
	xml_node_set_attr(r, "to", remote);
	xml_node_set_attr(r, "type", valid ? "valid" : "invalid");
	stream_send(&i->st, r);
}

/* XEP-0220 §2.2: a dialback key for (from, to) on this stream. */
static void
do_db_result(struct in *i, struct xml_node *el)
{
	const char *from = xml_node_attr(el, "from");
	const char *to = xml_node_attr(el, "to");
	const char *key = xml_node_text_get(el);
	const char *why = NULL;

	if (from == NULL || to == NULL || key[0] == '\0') {
		fail(i, "improper-addressing",
		    "a dialback key needs from, to "
		    "and the key");
		return;
	}
	if (!s2s_is_local(to)) {
		db_error(i, from, to, "item-not-found");
		return;
	}
	if (!s2s_domain_allowed(from)) {
		db_error(i, from, to, "forbidden");
		return;
	}
	if (has_pair(i->ok, i->nok, from, to)) {
		db_result(i, from, to, 1);
		return;
	}
	/* a certificate naming the domain proves it outright (XEP-0344
	 * §2.4); without one, the policy decides whether DNS may */
	if (tls_peer_check(stream_ssl(&i->st), from, &why) == 1) {
		if (proven(i, from, to, "dialback with certificate") == 0)
			db_result(i, from, to, 1);
		return;
	}
	if (s2s_needs_cert(from)) {
		log_info("s2s-in %llx dialback refused for %s: certificate "
			 "required: %s",
		    (unsigned long long)i->st.connid, from, why);
		db_error(i, from, to, "not-authorized");
		return;
	}
	if (i->nwait >= MAX_PAIRS) {
		db_error(i, from, to, "resource-constraint");
		return;
	}
	pair_add(i->wait, &i->nwait, from, to);
	s2s_out_verify(to, from, i->st.sid, key, i->id);
}

void
s2s_in_verified(
    uint64_t in_id, const char *local, const char *remote, int valid)
{
	struct in *i = find_id(in_id);

	if (i == NULL || !has_pair(i->wait, i->nwait, remote, local))
		return;
	pair_del(i->wait, &i->nwait, remote, local);
	if (valid < 0) {
		db_error(i, remote, local, "remote-connection-failed");
		return;
	}
	if (!valid) {
		/* XEP-0220 §2.4: first pair invalid: say so and close */
		log_info("s2s-in %llx dialback key of %s invalid peer=%s",
		    (unsigned long long)i->st.connid, remote, i->st.peer);
		db_result(i, remote, local, 0);
		if (i->nok == 0)
			fail(i, "not-authorized", "dialback key not valid");
		return;
	}
	if (proven(i, remote, local, "dialback") == 0)
		db_result(i, remote, local, 1);
}

/* XEP-0220 §2.3: we are the authoritative server for a key we sent. */
static void
do_db_verify(struct in *i, struct xml_node *el)
{
	const char *from = xml_node_attr(el, "from");
	const char *to = xml_node_attr(el, "to");
	const char *id = xml_node_attr(el, "id");
	const char *key = xml_node_text_get(el);
	struct xml_node *r;
	char want[65];
	int ok;

	if (from == NULL || to == NULL || id == NULL) {
		fail(i, "improper-addressing", NULL);
		return;
	}
	r = xml_node_new(NS_DB, "verify");
	xml_node_set_attr(r, "from", to);
	xml_node_set_attr(r, "to", from);
	xml_node_set_attr(r, "id", id);
	if (!s2s_is_local(to)) {
		struct xml_node *e;

		xml_node_set_attr(r, "type", "error");
		e = xml_node_child(r, NS_SERVER, "error");
		xml_node_set_attr(e, "type", "cancel");
		xml_node_child(e, NS_STANZAS, "item-not-found");
		stream_send(&i->st, r);
		return;
	}
	s2s_db_key(from, to, id, want);
	ok = strlen(key) == 64 && ct_memeq(key, want, 64);
	xml_node_set_attr(r, "type", ok ? "valid" : "invalid");
	log_debug("s2s-in %llx verify %s->%s id=%s: %s",
	    (unsigned long long)i->st.connid, to, from, id,
	    ok ? "valid" : "invalid");
	stream_send(&i->st, r);
}

/* A proven sender may reach any of our domains, as with Prosody: its
 * certificate or key vouches for the sender, not for the recipient. */
static const char *
in_check(void *ud, const char *from, const char *to)
{
	struct in *i = ud;
	size_t k;

	for (k = 0; k < i->nok; k++)
		if (strcasecmp(i->ok[k].remote, from) == 0)
			return s2s_is_local(to) ? NULL : "host-unknown";
	return "invalid-from";
}

static void
do_stanza(struct in *i, struct xml_node *st)
{
	if (!i->authed) {
		fail(i, "not-authorized", "authenticate first");
		return;
	}
	if (s2s_route_peer_stanza(&i->st, st, in_check, i) == 0)
		i->last_ms = now_ms();
}

static void
in_element(struct stream *sp, struct xml_node *st)
{
	struct in *i = (struct in *)sp;

	if (xml_node_is(st, NS_TLS, "starttls")) {
		SSL_CTX *ctx = tls_ctx_for(i->local);

		if (i->tls || ctx == NULL) {
			stream_send(sp, xml_node_new(NS_TLS, "failure"));
			fail(i, "policy-violation", "STARTTLS not available");
			return;
		}
		stream_send(sp, xml_node_new(NS_TLS, "proceed"));
		stream_restart(sp, ctx);
		return;
	}
	if (!i->tls) {
		/* XEP-0220 §2.6 policy: TLS before anything else */
		fail(i, "policy-violation", "start TLS first");
		return;
	}
	if (xml_node_is(st, NS_BIDI_REQ, "bidi") && !i->authed) {
		i->bidi = 1;
		log_debug("s2s-in %llx bidirectional",
		    (unsigned long long)i->st.connid);
	} else if (xml_node_is(st, NS_SASL, "auth"))
		do_external(i, st);
	else if (xml_node_is(st, NS_DB, "result"))
		do_db_result(i, st);
	else if (xml_node_is(st, NS_DB, "verify"))
		do_db_verify(i, st);
	else if (xml_node_is(st, XML_NS_CLIENT, "message") ||
		 xml_node_is(st, XML_NS_CLIENT, "presence") ||
		 xml_node_is(st, XML_NS_CLIENT, "iq"))
		do_stanza(i, st);
	else if (xml_node_is(st, XML_NS_STREAM, "error"))
		stream_close(sp, "peer stream error");
	else
		fail(i, "unsupported-stanza-type", NULL);
}

/* Deferred by pointer, safely: only in_lost defers it, once, after
 * unlinking i and stopping its timer. */
static void
in_free(void *arg)
{
	struct in *i = arg;
	size_t k;

	for (k = 0; k < i->nok; k++) {
		free(i->ok[k].remote);
		free(i->ok[k].local);
	}
	for (k = 0; k < i->nwait; k++) {
		free(i->wait[k].remote);
		free(i->wait[k].local);
	}
	free(i->local);
	free(i->remote);
	free(i);
}

static void
in_lost(struct stream *st, const char *why)
{
	struct in *i = (struct in *)st, **pp;

	log_debug("s2s-in %llx closed peer=%s: %s",
	    (unsigned long long)st->connid, st->peer, why);
	ev_timer_stop(loop_ev, &i->timer);
	for (pp = &ins; *pp; pp = &(*pp)->next) {
		if (*pp == i) {
			*pp = i->next;
			n_ins--;
			break;
		}
	}
	stream_cleanup(st);
	loop_defer(in_free, i);
}

void
s2s_accept(int fd, const char *peer, const struct cfg_listener *l)
{
	struct in *i = xcalloc(1, sizeof(*i));
	struct xml_limits lim = {
		.max_stanza = (size_t)config_running->limits.unauth_stanza_size,
		.max_depth = (unsigned)config_running->limits.xml_depth,
		.max_attrs = (unsigned)config_running->limits.xml_attrs,
	};
	SSL_CTX *ctx = NULL;

	if (l->kind == LISTEN_S2S_TLS) {
		ctx = tls_ctx_for(NULL);
		if (ctx == NULL) {
			close(fd);
			free(i);
			return;
		}
	}
	i->id = next_id++;
	stream_init(&i->st, &in_proto, NS_SERVER, &lim);
	i->st.header_ns = HEADER_DB;
	stream_attach_tcp(&i->st, fd, peer, ctx,
	    (size_t)config_running->limits.send_queue * 4);
	stream_want_peer_cert(&i->st);
	stream_set_rate(&i->st, (double)config_running->s2s.rate,
	    2.0 * (double)config_running->s2s.rate);
	i->last_ms = now_ms();
	ev_timer_init(&i->timer, timer_cb,
	    (double)config_running->limits.unauth_timeout, 0.0);
	i->timer.data = i;
	ev_timer_start(loop_ev, &i->timer);
	i->next = ins;
	ins = i;
	n_ins++;
	log_debug("s2s-in %llx accepted peer=%s%s",
	    (unsigned long long)i->st.connid, peer, ctx ? " tls" : "");
	/* every unauthenticated stream may make us connect out (dialback
	 * verification): the per-address limit of clients applies */
	if (stream_ip_crowded(peer))
		fail(i, "policy-violation",
		    "too many connections from your address");
}

int
s2s_in_bidi_send(
    const char *local, const char *remote, const struct xml_node *st)
{
	struct in *i;

	for (i = ins; i; i = i->next) {
		if (!i->bidi || i->st.closed || i->st.closing ||
		    !has_pair(i->ok, i->nok, remote, local))
			continue;
		i->last_ms = now_ms();
		if (stream_send_node(&i->st, st) != 0) {
			/* st did not go: another stream may take it */
			fail(i, "policy-violation", "send queue full");
			continue;
		}
		return 0;
	}
	return -1;
}

void
s2s_in_close_all(const char *condition, const char *text)
{
	struct in *i;

	for (i = ins; i; i = i->next)
		fail(i, condition, text);
}

unsigned
s2s_in_count(void)
{
	return n_ins;
}

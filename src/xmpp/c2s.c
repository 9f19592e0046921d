/* c2s.c: the client stream state machine. One struct per connection;
 * every transition goes through c2s_set_state, which logs it. */
#include "xmpp/c2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/util.h"
#include "net/conn.h"
#include "net/tls.h"
#include "xml/xml.h"
#include "xmpp/account.h"
#include "xmpp/router.h"
#include "xmpp/sasl.h"
#include "xmpp/session.h"
#include "xmpp/stream.h"
#include "xmpp/c2s_int.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_SASL_CB "urn:xmpp:sasl-cb:0"

static const char *const state_names[] = { "wait-header", "negotiate", "authed",
	"bound", "closed" };

static struct c2s *all;
static unsigned count;

static void c2s_open(struct stream *st, struct xml_node *root, const char *cns);
static void c2s_element(struct stream *sp, struct xml_node *st);
static void c2s_close(struct stream *st);
static void c2s_lost(struct stream *st, const char *why);
static const struct stream_proto c2s_proto = {
	.name = "c2s",
	.open = c2s_open,
	.element = c2s_element,
	.close = c2s_close,
	.lost = c2s_lost,
};

static const struct cfg_limits *
limits(void)
{
	return &config_running->limits;
}

void
c2s_set_state(struct c2s *c, enum c2s_state st)
{
	log_debug("c2s %llx %s -> %s", (unsigned long long)c->st.connid,
	    state_names[c->state], state_names[st]);
	c->state = st;
	if (st == C2S_BOUND)
		stream_tls_settle(&c->st);
}

static void
parser_limits(struct xml_limits *l, int authed)
{
	const struct cfg_limits *cl = limits();

	l->max_stanza =
	    (size_t)(authed ? cl->c2s_stanza_size : cl->unauth_stanza_size);
	l->max_depth = (unsigned)cl->xml_depth;
	l->max_attrs = (unsigned)cl->xml_attrs;
	l->max_text = 0;
	l->max_memory = 0; /* derived from max_stanza */
}

/* End the stream with an error; the session (if any) ends now, so no
 * stanza is routed to a stream that is going away. */
void
c2s_fail(struct c2s *c, const char *condition, const char *text)
{
	if (c->state == C2S_CLOSED)
		return;
	if (c->sess) {
		struct session *s = c->sess;

		c->sess = NULL;
		session_end(s);
	}
	c2s_set_state(c, C2S_CLOSED);
	stream_fail(&c->st, condition, text);
}

/* ---- session transport ---- */

static void
end_later(struct session *s)
{
	session_end(s);
}

static int
tp_send(struct session *s, struct rbuf *r)
{
	struct c2s *c = s->tp_data;

	if (c->state != C2S_BOUND)
		return -1;
	metrics.stanzas_out[metrics_kind_xml(r->data, r->len)]++;
	if (stream_send_rbuf(&c->st, r) != 0) {
		log_info("c2s %llx slow consumer jid=%s queued=%zu",
		    (unsigned long long)c->st.connid, s->jid.full,
		    stream_queued(&c->st));
		/* callers may be walking the session list: the session
		 * stops taking stanzas now and ends when the loop is idle */
		c->sess = NULL;
		s->closing = 1;
		session_defer(s, end_later);
		c2s_fail(c, "policy-violation", "send queue full");
		return -1;
	}
	return 0;
}

static void
tp_close(struct session *s, const char *condition, const char *text)
{
	c2s_fail(s->tp_data, condition, text);
}

/* The session moves to another stream: this one ends, the session
 * lives on. */
static void
tp_detach(struct session *s)
{
	struct c2s *c = s->tp_data;

	c->sess = NULL;
	c2s_fail(c, "conflict", "the session was resumed on another stream");
}

static const char *
tp_peer(struct session *s)
{
	return ((struct c2s *)s->tp_data)->st.peer;
}

static const struct session_transport c2s_tp = {
	.send = tp_send,
	.close = tp_close,
	.detach = tp_detach,
	.peer = tp_peer,
};

/* ---- timers ---- */

/* Safe by pointer: c2s_closed stops it before c2s_free is deferred. */
static void
timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct c2s *c = w->data;
	double idle;

	UNUSED(l);
	UNUSED(revents);
	if (c->state == C2S_CLOSED)
		return;
	if (!c->authed) {
		/* measured from connect: a slow sender cannot keep an
		 * unauthenticated stream alive (slowloris) */
		c2s_fail(
		    c, "connection-timeout", "authentication took too long");
		return;
	}
	idle = (double)(now_ms() - c->last_input_ms) / 1000.0;
	if (limits()->idle_timeout > 0 &&
	    idle >= (double)limits()->idle_timeout) {
		c2s_fail(c, "connection-timeout", NULL);
		return;
	}
	w->repeat = limits()->idle_timeout > 0
			? (double)limits()->idle_timeout - idle
			: 0.0;
	if (w->repeat > 0)
		ev_timer_again(loop_ev, w);
	else
		ev_timer_stop(loop_ev, w);
}

/* ---- output helpers ---- */

void
c2s_send_node(struct c2s *c, struct xml_node *n)
{
	stream_send(&c->st, n);
}

static void
send_str(struct c2s *c, const char *s)
{
	stream_send_str(&c->st, s);
}

/* <failure> of SASL (ns NS_SASL) or SASL2: the condition is always in
 * the SASL namespace (XEP-0388 §2.6). */
void
c2s_sasl_failure(
    struct c2s *c, const char *ns, const char *condition, const char *text)
{
	struct xml_node *f = xml_node_new(ns, "failure");

	xml_node_child(f, NS_SASL, condition);
	if (text) {
		struct xml_node *t = xml_node_child(f, ns, "text");

		xml_node_set_attr_ns(t, XML_NS_XML, "lang", "en");
		xml_node_text(t, text, strlen(text));
	}
	c2s_send_node(c, f);
}

static void
sasl_failure(struct c2s *c, const char *condition, const char *text)
{
	c2s_sasl_failure(c, NS_SASL, condition, text);
}

static void
send_features(struct c2s *c)
{
	struct xml_node *f = xml_node_new(XML_NS_STREAM, "features");
	const struct cfg_tls *tc = &config_running->tls;
	SSL *ssl = stream_ssl(&c->st);
	struct hook_ev ev = { 0 };
	size_t i;

	ev.host = c->host;
	ev.data = f;
	if (c->authed) {
		struct xml_node *s;

		xml_node_child(f, NS_BIND, "bind");
		s = xml_node_child(f, NS_SESSION, "session");
		xml_node_child(s, NULL, "optional");
		hook_fire(c->host->hooks, "c2s/features/postauth", &ev);
		c2s_send_node(c, f);
		return;
	}
	if (ssl == NULL && c->st.tp->starttls && tls_ctx_for(c->host->name)) {
		struct xml_node *st = xml_node_child(f, NS_TLS, "starttls");

		if (tc->c2s_require_tls)
			xml_node_child(st, NULL, "required");
		c->starttls_offered = 1;
	}
	if (stream_secure(&c->st) || !tc->c2s_require_tls) {
		struct xml_node *m = xml_node_child(f, NS_SASL, "mechanisms");
		const char *const *mv = sasl_mechs();
		struct xml_node *cb;

		for (i = 0; mv[i]; i++) {
			struct xml_node *e;

			if (!sasl_mech_offered(
				mv[i], ssl, stream_secure(&c->st)))
				continue;
			e = xml_node_child(m, NULL, "mechanism");
			xml_node_text(e, mv[i], strlen(mv[i]));
		}
		if (ssl) {
			/* XEP-0440: which bindings -PLUS can use here */
			cb = xml_node_child(
			    f, NS_SASL_CB, "sasl-channel-binding");
			xml_node_set_attr(
			    xml_node_child(cb, NULL, "channel-binding"), "type",
			    "tls-server-end-point");
			if (tls_is_13(ssl))
				xml_node_set_attr(
				    xml_node_child(cb, NULL, "channel-binding"),
				    "type", "tls-exporter");
			else
				xml_node_set_attr(
				    xml_node_child(cb, NULL, "channel-binding"),
				    "type", "tls-unique");
		}
		sasl2_features(c, f);
	}
	hook_fire(c->host->hooks, "c2s/features/preauth", &ev);
	c2s_send_node(c, f);
}

/* ---- stream header ---- */

static void
c2s_open(struct stream *st, struct xml_node *root, const char *cns)
{
	struct c2s *c = (struct c2s *)st;
	const char *to = xml_node_attr(root, "to");
	const char *version = xml_node_attr(root, "version");
	struct host *h;
	struct jid tj;

	if (c->state != C2S_WAIT_HEADER) {
		c2s_fail(c, "bad-format", "unexpected stream header");
		return;
	}
	if (strcmp(cns, XML_NS_CLIENT) != 0) {
		c2s_fail(c, "invalid-namespace",
		    "content namespace must be "
		    "jabber:client");
		return;
	}
	if (to == NULL || jid_parse_str(&tj, to) != 0) {
		c2s_fail(c, "host-unknown",
		    to ? "invalid 'to'" : "the stream header has no 'to'");
		return;
	}
	h = tj.node || tj.resource ? NULL : host_find(tj.domain);
	jid_cleanup(&tj);
	if (h == NULL || (c->host && c->host != h)) {
		c2s_fail(c, "host-unknown", NULL);
		return;
	}
	c->host = h;
	stream_set_local(st, h->name);
	/* RFC 6120 §4.7.5: no version means 0.9; we speak 1.x */
	if (version == NULL || strncmp(version, "1.", 2) != 0) {
		c2s_fail(c, "unsupported-version", NULL);
		return;
	}
	stream_open_reply(st, h->name);
	if (c->authed)
		c2s_set_state(c, C2S_AUTHED);
	else
		c2s_set_state(c, C2S_NEGOTIATE);
	send_features(c);
}

static void
c2s_close(struct stream *st)
{
	struct c2s *c = (struct c2s *)st;

	if (c->state == C2S_CLOSED)
		return;
	if (c->sess) {
		struct session *s = c->sess;

		c->sess = NULL;
		session_end(s);
	}
	c2s_set_state(c, C2S_CLOSED);
	stream_close(st, "stream closed");
}

/* ---- STARTTLS ---- */

static void
do_starttls(struct c2s *c)
{
	SSL_CTX *ctx = tls_ctx_for(c->host->name);

	if (stream_ssl(&c->st) || !c->starttls_offered || ctx == NULL) {
		send_str(c, "<failure xmlns='" NS_TLS "'/>");
		c2s_fail(
		    c, "policy-violation", "STARTTLS is not available here");
		return;
	}
	send_str(c, "<proceed xmlns='" NS_TLS "'/>");
	c2s_set_state(c, C2S_WAIT_HEADER);
	stream_restart(&c->st, ctx);
}

/* ---- SASL ---- */

/* Authentication succeeded (SASL or SASL2): the stream now belongs to
 * user; the idle timeout and the larger stanza limit apply. */
void
c2s_auth_ok(struct c2s *c, const char *user, const char *mech)
{
	struct xml_limits l;

	free(c->user);
	c->user = xstrdup(user);
	metrics.auth_ok++;
	log_info("c2s %llx auth ok jid=%s@%s mech=%s",
	    (unsigned long long)c->st.connid, c->user, c->host->name, mech);
	c->authed = 1;
	c->last_input_ms = now_ms();
	ev_timer_stop(loop_ev, &c->timer);
	if (limits()->idle_timeout > 0) {
		c->timer.repeat = (double)limits()->idle_timeout;
		ev_timer_again(loop_ev, &c->timer);
	}
	parser_limits(&l, 1);
	stream_set_limits(&c->st, &l);
}

/* A failed attempt in SASL (ns NS_SASL) or SASL2: answer, count it
 * against the connection's retries and the address's budget. */
void
c2s_auth_failed(struct c2s *c, const char *ns, const char *cond, int refused)
{
	if (strcmp(cond, "account-disabled") == 0) {
		/* the password was right: no guess to count against the IP */
		c2s_sasl_failure(c, ns, cond,
		    "this account is disabled; ask the "
		    "server's administrators");
		log_info("c2s %llx auth refused peer=%s cond=%s",
		    (unsigned long long)c->st.connid, c->st.peer, cond);
		if (++c->sasl_failures >= limits()->sasl_retries)
			c2s_fail(c, "policy-violation",
			    "too many failed authentication attempts");
		return;
	}
	c2s_sasl_failure(c, ns, cond, NULL);
	metrics.auth_failed++;
	log_info("c2s %llx auth failed peer=%s cond=%s%s",
	    (unsigned long long)c->st.connid, c->st.peer, cond,
	    refused ? " channel-binding" : "");
	/* No password was tried: not a guess, so it does not count
	 * against the IP or the retries, but a client gets only so many
	 * (it moves on to a mechanism it can complete). */
	if (refused) {
		if (++c->sasl_cb_refusals > SASL_CB_REFUSALS_MAX)
			c2s_fail(c, "policy-violation",
			    "too many refused channel bindings");
		return;
	}
	stream_ip_auth_failed(c->st.peer);
	if (++c->sasl_failures >= limits()->sasl_retries)
		c2s_fail(c, "policy-violation",
		    "too many failed authentication attempts");
}

static void
sasl_result(struct c2s *c, enum sasl_res r, struct sbuf *out, const char *cond)
{
	char *b64, *el;
	int refused;

	switch (r) {
	case SASL_CHALLENGE:
	case SASL_SUCCESS:
		b64 = xmalloc(4 * ((out->len + 2) / 3) + 1);
		b64_encode((const unsigned char *)(out->data ? out->data : ""),
		    out->len, b64);
		if (r == SASL_CHALLENGE) {
			/* one write: a framing (WebSocket) sends each write
			 * as one element */
			el = xasprintf("<challenge xmlns='" NS_SASL
				       "'>%s</challenge>",
			    b64);
			send_str(c, el);
			free(el);
			free(b64);
			return;
		}
		el =
		    xasprintf("<success xmlns='" NS_SASL "'>%s</success>", b64);
		send_str(c, el);
		free(el);
		free(b64);
		c2s_auth_ok(c, sasl_user(c->sasl), sasl_mech(c->sasl));
		sasl_free(c->sasl);
		c->sasl = NULL;
		c2s_set_state(c, C2S_WAIT_HEADER);
		stream_restart(&c->st, NULL);
		return;
	case SASL_FAILURE:
		break;
	}
	refused = sasl_cb_refused(c->sasl);
	sasl_free(c->sasl);
	c->sasl = NULL;
	c2s_auth_failed(c, NS_SASL, cond, refused);
}

/* Decode element text as base64 ("=" is an empty response). -1 bad. */
static int
decode_payload(
    struct xml_node *el, unsigned char **out, size_t *len, int *absent)
{
	const char *t = xml_node_text_get(el);
	size_t n = strlen(t);

	*absent = n == 0;
	*out = xmalloc(n / 4 * 3 + 4);
	*len = 0;
	if (n == 0 || (n == 1 && t[0] == '='))
		return 0;
	return b64_decode(t, n, *out, len);
}

static void
do_sasl(struct c2s *c, struct xml_node *el)
{
	struct sbuf out;
	unsigned char *data = NULL;
	size_t len;
	const char *cond = NULL;
	int absent;
	enum sasl_res r;

	if (c->authed) {
		c2s_fail(c, "policy-violation", "already authenticated");
		return;
	}
	if (strcmp(el->name, "abort") == 0) {
		sasl_free(c->sasl);
		c->sasl = NULL;
		sasl_failure(c, "aborted", NULL);
		return;
	}
	if (strcmp(el->name, "auth") == 0) {
		const char *mech = xml_node_attr(el, "mechanism");

		if (c->sasl) {
			sasl_free(c->sasl);
			c->sasl = NULL;
		}
		if (!stream_secure(&c->st) &&
		    config_running->tls.c2s_require_tls) {
			sasl_failure(c, "encryption-required", NULL);
			return;
		}
		if (stream_ip_auth_throttled(c->st.peer)) {
			sasl_failure(c, "temporary-auth-failure",
			    "too many failed attempts from your address; "
			    "try again in a minute");
			return;
		}
		if (mech == NULL) {
			sasl_failure(c, "invalid-mechanism", NULL);
			return;
		}
		c->sasl = sasl_new_secure(mech, c->host->name,
		    stream_ssl(&c->st), stream_secure(&c->st));
		if (c->sasl == NULL) {
			sasl_failure(c,
			    sasl_mech_available(mech, (SSL *)1)
				? "encryption-required"
				: "invalid-mechanism",
			    NULL);
			return;
		}
	} else if (strcmp(el->name, "response") == 0) {
		if (c->sasl == NULL) {
			sasl_failure(c, "malformed-request",
			    "no authentication in progress");
			return;
		}
	} else {
		c2s_fail(c, "unsupported-stanza-type", NULL);
		return;
	}
	if (decode_payload(el, &data, &len, &absent) != 0) {
		free(data);
		sasl_free(c->sasl);
		c->sasl = NULL;
		sasl_failure(c, "incorrect-encoding", NULL);
		return;
	}
	if (absent && strcmp(el->name, "auth") == 0) {
		/* no initial response: ask for it with an empty challenge */
		free(data);
		send_str(c, "<challenge xmlns='" NS_SASL "'/>");
		return;
	}
	sbuf_init(&out);
	r = sasl_step(c->sasl, data, len, &out, &cond);
	OPENSSL_cleanse(data, len);
	free(data);
	sasl_result(c, r, &out, cond);
	sbuf_cleanup(&out);
}

/* ---- resource binding ---- */

static void
iq_error(struct c2s *c, struct xml_node *iq, const char *type, const char *cond)
{
	struct xml_node *r = xml_node_new(XML_NS_CLIENT, "iq");
	const char *id = xml_node_attr(iq, "id");

	if (id)
		xml_node_set_attr(r, "id", id);
	xml_node_set_attr(r, "type", "error");
	stanza_error_add(r, type, cond, NULL);
	c2s_send_node(c, r);
}

/* Open the session of resource rs (generated when NULL or empty) on
 * this stream: 0, or -1 with *type and *cond of the stanza error. The
 * caller answers, then calls c2s_bound. */
int
c2s_bind_session(
    struct c2s *c, const char *rs, const char **type, const char **cond)
{
	char gen[17], bare[2 * JID_PART_MAX + 2];
	struct session *old;
	struct jid j;

	if (rs == NULL || rs[0] == '\0') {
		rand_id(gen, sizeof(gen));
		rs = gen;
	}
	if (jid_make(&j, c->user, c->host->name, rs) != 0) {
		*type = "modify";
		*cond = "bad-request";
		return -1;
	}
	old = session_find_full(j.full);
	if (old) {
		/* RFC 6120 §7.7.2.2: the new session wins; the old one
		 * gets <conflict/> */
		session_close(old, "conflict", "replaced by a new session");
	}
	snprintf(bare, sizeof(bare), "%s", j.bare);
	if (session_count_bare(bare) >=
	    (unsigned)limits()->sessions_per_account) {
		jid_cleanup(&j);
		*type = "wait";
		*cond = "resource-constraint";
		return -1;
	}
	c->sess = session_new(c->host, &j, &c2s_tp, c);
	jid_cleanup(&j);
	c2s_set_state(c, C2S_BOUND);
	return 0;
}

/* The client knows its JID now: modules greet the new session. */
void
c2s_bound(struct c2s *c)
{
	struct hook_ev ev = { 0 };

	account_set_last_login(c->host->name, c->user, now_unix());
	log_info("c2s %llx bound jid=%s", (unsigned long long)c->st.connid,
	    c->sess->jid.full);
	ev.host = c->host;
	ev.session = c->sess;
	ev.from = &c->sess->jid;
	hook_fire(c->host->hooks, "session/bound", &ev);
}

static void
do_bind(struct c2s *c, struct xml_node *iq)
{
	struct xml_node *b = xml_node_find(iq, NS_BIND, "bind");
	struct xml_node *res = b ? xml_node_find(b, NULL, "resource") : NULL;
	const char *type = xml_node_attr(iq, "type");
	const char *etype, *cond;
	struct xml_node *r;

	if (b == NULL || type == NULL || strcmp(type, "set") != 0 ||
	    xml_node_attr(iq, "id") == NULL) {
		c2s_fail(c, "not-authorized", "bind a resource first");
		return;
	}
	if (c2s_bind_session(
		c, res ? xml_node_text_get(res) : NULL, &etype, &cond) != 0) {
		iq_error(c, iq, etype, cond);
		return;
	}
	r = xml_node_new(XML_NS_CLIENT, "iq");
	xml_node_set_attr(r, "id", xml_node_attr(iq, "id"));
	xml_node_set_attr(r, "type", "result");
	b = xml_node_child(r, NS_BIND, "bind");
	b = xml_node_child(b, NULL, "jid");
	xml_node_text(b, c->sess->jid.full, strlen(c->sess->jid.full));
	c2s_send_node(c, r);
	c2s_bound(c);
}

/* ---- stanzas ---- */

/* RFC 6120 §8.1.2.1: the server stamps 'from' with the full JID; a
 * client may only claim its own full or bare JID. */
static int
stamp_from(struct c2s *c, struct xml_node *st)
{
	const char *from = xml_node_attr(st, "from");

	if (from && strcmp(from, c->sess->jid.full) != 0) {
		struct jid f;
		int ok;

		if (jid_parse_str(&f, from) != 0)
			return -1;
		ok = jid_eq(&f, &c->sess->jid) ||
		     (f.resource == NULL &&
			 strcmp(f.bare, c->sess->jid.bare) == 0);
		jid_cleanup(&f);
		if (!ok)
			return -1;
	}
	xml_node_set_attr(st, "from", c->sess->jid.full);
	return 0;
}

static void
track_presence(struct c2s *c, struct xml_node *st)
{
	const char *type = xml_node_attr(st, "type");
	struct xml_node *p;

	if (xml_node_attr(st, "to"))
		return;
	if (type == NULL) {
		c->sess->available = 1;
		c->sess->priority = 0;
		p = xml_node_find(st, XML_NS_CLIENT, "priority");
		if (p) {
			long v = strtol(xml_node_text_get(p), NULL, 10);

			/* RFC 6121 §4.7.2.3: -128..127 */
			if (v < -128)
				v = -128;
			if (v > 127)
				v = 127;
			c->sess->priority = (int)v;
		}
	} else if (strcmp(type, "unavailable") == 0) {
		c->sess->available = 0;
	}
}

static int
iq_request(const struct xml_node *iq)
{
	const char *t = xml_node_attr(iq, "type");

	return t && (strcmp(t, "get") == 0 || strcmp(t, "set") == 0);
}

static void
handle_bound(struct c2s *c, struct xml_node *st)
{
	int stanza = strcmp(st->ns, XML_NS_CLIENT) == 0 &&
		     (strcmp(st->name, "message") == 0 ||
			 strcmp(st->name, "presence") == 0 ||
			 strcmp(st->name, "iq") == 0);
	struct hook_ev ev = { 0 };

	if (!stanza) {
		/* nonzas: stream management, CSI... are modules' */
		ev.host = c->host;
		ev.session = c->sess;
		ev.stanza = st;
		ev.from = &c->sess->jid;
		if (hook_fire_id(c->host->hooks,
			hook_lookup3("c2s/element", st->ns, NULL),
			&ev) == HOOK_HANDLED)
			return;
		c2s_fail(c, "unsupported-stanza-type", NULL);
		return;
	}
	ev.host = c->host;
	ev.session = c->sess;
	ev.stanza = st;
	ev.from = &c->sess->jid;
	metrics.stanzas_in[metrics_kind(st->name)]++;
	hook_fire(c->host->hooks, "c2s/stanza-in", &ev);
	if (c->state != C2S_BOUND)
		return;
	if (stamp_from(c, st) != 0) {
		c2s_fail(c, "invalid-from", NULL);
		return;
	}
	if (strcmp(st->name, "iq") == 0 && xml_node_attr(st, "to") == NULL &&
	    xml_node_find(st, NS_SESSION, "session")) {
		/* RFC 3921 session establishment: a no-op kept for old
		 * clients (RFC 6121 Appendix E) */
		struct xml_node *r = xml_node_new(XML_NS_CLIENT, "iq");

		xml_node_set_attr(r, "type", "result");
		if (xml_node_attr(st, "id"))
			xml_node_set_attr(r, "id", xml_node_attr(st, "id"));
		c2s_send_node(c, r);
		return;
	}
	if (strcmp(st->name, "presence") == 0)
		track_presence(c, st);
	if (strcmp(st->name, "iq") == 0 && iq_request(st) &&
	    session_iq_sent(c->sess, xml_node_attr(st, "id"),
		limits()->iq_in_flight) != 0) {
		log_info("c2s %llx too many iq requests in flight jid=%s",
		    (unsigned long long)c->st.connid, c->sess->jid.full);
		stanza_bounce(st, "wait", "resource-constraint",
		    "too many requests are waiting for an answer");
		return;
	}
	router_route(st, &c->sess->jid, c->sess);
}

/* Stream resumption: the stream takes over a session that lives on. */
static int
adopt_session(struct hook_ev *ev, struct session *s)
{
	struct c2s *c = ev->stream->ctx;

	/* a closing session (slow consumer) ends when the loop is idle:
	 * this stream would be left holding it */
	if (c->state != C2S_AUTHED || s->closing || s->host != c->host ||
	    strcmp(s->jid.node, c->user) != 0)
		return -1;
	if (s->tp && s->tp->detach)
		s->tp->detach(s);
	session_set_transport(s, &c2s_tp, c);
	c->sess = s;
	c2s_set_state(c, C2S_BOUND);
	log_info("c2s %llx resumed jid=%s", (unsigned long long)c->st.connid,
	    s->jid.full);
	return 0;
}

static void unauthed_reply(struct hook_ev *ev, struct xml_node *n);

void
c2s_hook_stream(struct c2s *c, struct hook_stream *hs)
{
	hs->peer = c->st.peer;
	hs->reply = unauthed_reply;
	hs->ctx = c;
	hs->adopt = adopt_session;
}

/* A non-stanza element after authentication, before bind (stream
 * management's <resume/>, <enable/> misplaced...). */
static enum hook_ret
authed_element(struct c2s *c, struct xml_node *st)
{
	struct hook_stream hs = { 0 };
	struct hook_ev ev = { 0 };

	ev.host = c->host;
	ev.stanza = st;
	ev.user = c->user;
	c2s_hook_stream(c, &hs);
	ev.stream = &hs;
	return hook_fire_id(
	    c->host->hooks, hook_lookup3("c2s/element", st->ns, NULL), &ev);
}

static void
unauthed_reply(struct hook_ev *ev, struct xml_node *n)
{
	struct c2s *c = ev->stream->ctx;

	if (c->state != C2S_CLOSED)
		stream_send_node(&c->st, n);
	xml_node_free(n);
}

/* An iq before authentication (in-band registration): offered to modules
 * only once TLS protects the stream, when TLS is required. */
static enum hook_ret
unauthed_iq(struct c2s *c, struct xml_node *st)
{
	struct hook_stream hs = { 0 };
	struct hook_ev ev = { 0 };
	struct xml_node *p = xml_node_first_el(st);

	if (strcmp(st->name, "iq") != 0 || strcmp(st->ns, XML_NS_CLIENT) != 0 ||
	    p == NULL || xml_node_attr(st, "id") == NULL)
		return HOOK_CONTINUE;
	if (!stream_secure(&c->st) && config_running->tls.c2s_require_tls)
		return HOOK_CONTINUE;
	ev.host = c->host;
	ev.stanza = st;
	ev.payload = p;
	ev.type = xml_node_attr(st, "type") ? xml_node_attr(st, "type") : "";
	stanza_classify(st, &ev.kind, &ev.stype);
	hs.peer = c->st.peer;
	hs.connid = c->st.connid;
	hs.reply = unauthed_reply;
	hs.ctx = c;
	ev.stream = &hs;
	return hook_fire_id(c->host->hooks,
	    hook_lookup4("c2s", "unauthed", p->ns, p->name), &ev);
}

static void
c2s_element(struct stream *sp, struct xml_node *st)
{
	struct c2s *c = (struct c2s *)sp;

	if (c->state == C2S_CLOSED)
		return;
	c->last_input_ms = now_ms();
	switch (c->state) {
	case C2S_NEGOTIATE:
		if (strcmp(st->ns, NS_TLS) == 0 &&
		    strcmp(st->name, "starttls") == 0)
			do_starttls(c);
		else if (strcmp(st->ns, NS_SASL) == 0)
			do_sasl(c, st);
		else if (strcmp(st->ns, NS_SASL2) == 0)
			sasl2_element(c, st);
		else if (unauthed_iq(c, st) != HOOK_HANDLED)
			c2s_fail(c, "not-authorized", NULL);
		break;
	case C2S_AUTHED:
		if (strcmp(st->name, "iq") == 0 &&
		    strcmp(st->ns, XML_NS_CLIENT) == 0)
			do_bind(c, st);
		else if (strcmp(st->ns, XML_NS_CLIENT) == 0 ||
			 authed_element(c, st) != HOOK_HANDLED)
			c2s_fail(c, "not-authorized", "bind a resource first");
		break;
	case C2S_BOUND:
		handle_bound(c, st);
		break;
	case C2S_WAIT_HEADER:
	case C2S_CLOSED:
		c2s_fail(c, "bad-format", NULL);
		break;
	}
}

/* ---- connection callbacks ---- */

/* Deferred by pointer, safely: only c2s_closed defers it, once (the
 * conn calls closed once), after unlinking c and stopping its timers;
 * the session it had is ended or handed over by then. */
static void
c2s_free(void *arg)
{
	struct c2s *c = arg;

	sasl_free(c->sasl);
	sasl2_free(c->sasl2);
	free(c->user);
	free(c);
}

static void
c2s_lost(struct stream *st, const char *why)
{
	struct c2s *c = (struct c2s *)st;

	log_debug("c2s %llx closed peer=%s: %s", (unsigned long long)st->connid,
	    st->peer, why);
	if (c->sess) {
		struct session *s = c->sess;
		struct hook_ev ev = { 0 };

		/* the link died under a live session: a module (stream
		 * management) may keep it for the client to resume */
		c->sess = NULL;
		c->state = C2S_CLOSED;
		ev.host = s->host;
		ev.session = s;
		ev.from = &s->jid;
		if (hook_fire(s->host->hooks, "session/lost", &ev) !=
		    HOOK_HANDLED)
			session_end(s);
	}
	c->state = C2S_CLOSED;
	ev_timer_stop(loop_ev, &c->timer);
	stream_cleanup(st);
	if (c->prev)
		c->prev->next = c->next;
	else
		all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	count--;
	/* we may be inside our own parser callback: free later */
	loop_defer(c2s_free, c);
}

/* A client stream, its transport attached by the caller. */
static struct c2s *
c2s_new(void)
{
	struct c2s *c = xcalloc(1, sizeof(*c));
	struct xml_limits lim;

	parser_limits(&lim, 0);
	stream_init(&c->st, &c2s_proto, XML_NS_CLIENT, &lim);
	return c;
}

static void
c2s_start(struct c2s *c)
{
	stream_set_rate(
	    &c->st, (double)limits()->c2s_rate, (double)limits()->c2s_burst);
	ev_timer_init(
	    &c->timer, timer_cb, (double)limits()->unauth_timeout, 0.0);
	c->timer.data = c;
	ev_timer_start(loop_ev, &c->timer);
	c->next = all;
	if (all)
		all->prev = c;
	all = c;
	count++;
	log_debug("c2s %llx accepted peer=%s%s over %s",
	    (unsigned long long)c->st.connid, c->st.peer,
	    c->st.direct_tls ? " tls" : "", c->st.tp->name);
	if (stream_ip_crowded(c->st.peer))
		c2s_fail(c, "policy-violation",
		    "too many connections from your "
		    "address");
}

void
c2s_accept(int fd, const char *peer, const struct cfg_listener *l)
{
	struct c2s *c;
	SSL_CTX *ctx = NULL;

	if (l->kind == LISTEN_C2S_TLS) {
		ctx = tls_ctx_for(NULL);
		if (ctx == NULL) {
			close(fd);
			return;
		}
	}
	c = c2s_new();
	stream_attach_tcp(&c->st, fd, peer, ctx, (size_t)limits()->send_queue);
	c2s_start(c);
}

struct stream *
c2s_attach(const struct stream_transport *tp, void *tp_data, const char *peer,
    uint64_t connid)
{
	struct c2s *c = c2s_new();

	c->st.tp = tp;
	c->st.tp_data = tp_data;
	c->st.connid = connid;
	snprintf(c->st.peer, sizeof(c->st.peer), "%s", peer);
	c2s_start(c);
	return &c->st;
}

void
c2s_close_all(const char *condition, const char *text)
{
	struct c2s *c, *next;

	for (c = all; c; c = next) {
		next = c->next;
		c2s_fail(c, condition, text);
	}
}

unsigned
c2s_count(void)
{
	return count;
}

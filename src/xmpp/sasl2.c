/* sasl2.c: XEP-0388 Extensible SASL Profile with XEP-0386 Bind 2 and
 * XEP-0484 FAST tokens. One <authenticate> carries the SASL initial
 * response, the device's id, a resource request and what the session
 * should start with; one <success> answers it all, with no stream
 * restart. The mechanisms are those of SASL (sasl.c) plus FAST's
 * HT-SHA-256-* (fast.c); modules join through the events
 * c2s/features/sasl2 (ev->data: the <inline/> to fill), c2s/sasl2/<ns>
 * (an inline element of <authenticate> after success, ev->stream
 * answers into <success>) and c2s/bind2/<ns> (an element of <bind> once
 * the session exists; ev->data: the <bound/> to fill; registering it
 * is what advertises <ns> as a Bind 2 inline feature). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/hook.h"
#include "core/host.h"
#include "core/log.h"
#include "core/module.h"
#include "core/util.h"
#include "jid/jid.h"
#include "xml/xml.h"
#include "xmpp/c2s_int.h"
#include "xmpp/fast.h"
#include "xmpp/sasl.h"
#include "xmpp/session.h"
#include "xmpp/stream.h"

#define TAG_MAX 64
#define BIND2_EV "c2s/bind2/"

struct sasl2 {
	struct xml_node *auth; /* the <authenticate/> (a copy) */
	char mech[32];
	struct xml_node *success; /* being built */
	int committed;		  /* success went out */
};

void
sasl2_free(struct sasl2 *x)
{
	if (x == NULL)
		return;
	xml_node_free(x->auth);
	xml_node_free(x->success);
	free(x);
}

static void
reset(struct c2s *c)
{
	sasl_free(c->sasl);
	c->sasl = NULL;
	sasl2_free(c->sasl2);
	c->sasl2 = NULL;
}

static void
add_mech(struct xml_node *parent, const char *m)
{
	struct xml_node *e = xml_node_child(parent, NULL, "mechanism");

	xml_node_text(e, m, strlen(m));
}

void
sasl2_features(struct c2s *c, struct xml_node *f)
{
	struct xml_node *a = xml_node_child(f, NS_SASL2, "authentication");
	struct xml_node *in, *b, *bin, *fast;
	const char *const *mv = sasl_mechs();
	const char *fm[4];
	SSL *ssl = stream_ssl(&c->st);
	struct hook_ev ev = { 0 };
	size_t i, n;

	for (i = 0; mv[i]; i++)
		if (sasl_mech_offered(mv[i], ssl, stream_secure(&c->st)))
			add_mech(a, mv[i]);
	in = xml_node_child(a, NULL, "inline");
	b = xml_node_child(in, NS_BIND2, "bind");
	bin = xml_node_child(b, NULL, "inline");
	fast = xml_node_child(in, FAST_NS, "fast");
	n = fast_mechs(ssl, fm);
	for (i = 0; i < n; i++)
		add_mech(fast, fm[i]);
	/* Bind 2's inline features: whatever modules take inside <bind/> */
	for (i = 0; i < c->host->nmods; i++) {
		const struct hook_reg *r = c->host->mods[i]->hooks;

		for (; r && r->name; r++)
			if (strncmp(r->name, BIND2_EV, sizeof(BIND2_EV) - 1) ==
			    0)
				xml_node_set_attr(
				    xml_node_child(bin, NULL, "feature"), "var",
				    r->name + sizeof(BIND2_EV) - 1);
	}
	ev.host = c->host;
	ev.data = in;
	hook_fire(c->host->hooks, "c2s/features/sasl2", &ev);
}

/* ---- answers ---- */

static void
set_text(struct xml_node *el, const char *t)
{
	xml_node_text(el, t, strlen(t));
}

/* <authorization-identifier/>: the full JID once a session is bound or
 * resumed, else the bare JID. */
static void
identify(struct c2s *c, struct xml_node *success)
{
	struct xml_node *az =
	    xml_node_child(success, NULL, "authorization-identifier");
	char jid[3 * JID_PART_MAX + 3];

	if (c->sess)
		snprintf(jid, sizeof(jid), "%s", c->sess->jid.full);
	else
		snprintf(jid, sizeof(jid), "%s@%s", c->user, c->host->name);
	set_text(az, jid);
}

static void
commit(struct hook_ev *ev)
{
	struct c2s *c = ev->stream->ctx;
	struct sasl2 *x = c->sasl2;

	if (x == NULL || x->committed)
		return;
	x->committed = 1;
	identify(c, x->success);
	c2s_send_node(c, x->success);
	x->success = NULL;
}

/* Inline elements of <authenticate> for modules (stream resumption). */
static void
inline_auth(struct c2s *c)
{
	struct xml_node *e;

	for (e = xml_node_first_el(c->sasl2->auth); e;
	     e = xml_node_next_el(e)) {
		struct hook_stream hs = { 0 };
		struct hook_ev ev = { 0 };

		if (strcmp(e->ns, NS_SASL2) == 0 ||
		    strcmp(e->ns, NS_BIND2) == 0 || strcmp(e->ns, FAST_NS) == 0)
			continue;
		ev.host = c->host;
		ev.stanza = e;
		ev.user = c->user;
		ev.data = c->sasl2->success;
		c2s_hook_stream(c, &hs);
		hs.answer = c->sasl2->success;
		hs.commit = commit;
		ev.stream = &hs;
		hook_fire_id(c->host->hooks,
		    hook_lookup3("c2s/sasl2", e->ns, NULL), &ev);
		if (c->state != C2S_AUTHED)
			return; /* resumed (or closed) */
	}
}

/* XEP-0386: resource <tag>.<random>, then what <bind> asks for. */
static int
bind2(struct c2s *c, struct xml_node *b, struct xml_node *success)
{
	struct xml_node *tag = xml_node_find(b, NULL, "tag");
	const char *t = tag ? xml_node_text_get(tag) : "";
	char rs[TAG_MAX + 1 + 17], rnd[17];
	const char *type, *cond;
	struct xml_node *bound, *e;

	rand_id(rnd, sizeof(rnd));
	if (t[0] == '\0' || strlen(t) > TAG_MAX)
		snprintf(rs, sizeof(rs), "%s", rnd);
	else
		snprintf(rs, sizeof(rs), "%s.%s", t, rnd);
	if (c2s_bind_session(c, rs, &type, &cond) != 0) {
		log_info("c2s %llx bind2 refused cond=%s",
		    (unsigned long long)c->st.connid, cond);
		return -1;
	}
	bound = xml_node_child(success, NS_BIND2, "bound");
	for (e = xml_node_first_el(b); e; e = xml_node_next_el(e)) {
		struct hook_ev ev = { 0 };

		if (strcmp(e->ns, NS_BIND2) == 0)
			continue;
		ev.host = c->host;
		ev.session = c->sess;
		ev.from = &c->sess->jid;
		ev.stanza = e;
		ev.data = bound;
		hook_fire_id(c->host->hooks,
		    hook_lookup3("c2s/bind2", e->ns, NULL), &ev);
	}
	return 0;
}

static void
success(struct c2s *c, const char *user, const char *mech,
    const unsigned char *add, size_t addlen)
{
	struct sasl2 *x = c->sasl2;
	struct xml_node *s, *b, *rt, *ua, *tok;
	char *b64;

	c2s_auth_ok(c, user, mech);
	c2s_set_state(c, C2S_AUTHED);
	s = x->success = xml_node_new(NS_SASL2, "success");
	if (addlen) {
		b64 = xmalloc(4 * ((addlen + 2) / 3) + 1);
		b64_encode(add, addlen, b64);
		set_text(xml_node_child(s, NULL, "additional-data"), b64);
		free(b64);
	}
	ua = xml_node_find(x->auth, NS_SASL2, "user-agent");
	rt = xml_node_find(x->auth, FAST_NS, "request-token");
	if (rt && ua && xml_node_attr(ua, "id") &&
	    fast_mech_offered(xml_node_attr(rt, "mechanism")
				  ? xml_node_attr(rt, "mechanism")
				  : "",
		stream_ssl(&c->st))) {
		char token[FAST_TOKEN_B64 + 1], when[32];
		int64_t exp;

		if (fast_issue(c->host->name, c->user, xml_node_attr(ua, "id"),
			token, &exp) == 0) {
			time_xep82(exp, when, sizeof(when));
			tok = xml_node_child(s, FAST_NS, "token");
			xml_node_set_attr(tok, "expiry", when);
			xml_node_set_attr(tok, "token", token);
			OPENSSL_cleanse(token, sizeof(token));
		}
	}
	inline_auth(c);
	if (c->state == C2S_CLOSED)
		return;
	if (c->state == C2S_BOUND) {
		/* resumed: <success/> has gone out with <resumed/> */
		sasl2_free(c->sasl2);
		c->sasl2 = NULL;
		return;
	}
	b = xml_node_find(x->auth, NS_BIND2, "bind");
	if (b)
		bind2(c, b, s);
	identify(c, s);
	x->committed = 1;
	x->success = NULL;
	c2s_send_node(c, s);
	if (c->state == C2S_BOUND)
		c2s_bound(c);
	sasl2_free(c->sasl2);
	c->sasl2 = NULL;
}

static void
failure(struct c2s *c, const char *cond, int refused)
{
	reset(c);
	c2s_auth_failed(c, NS_SASL2, cond, refused);
}

static void
challenge(struct c2s *c, struct sbuf *out)
{
	struct xml_node *ch = xml_node_new(NS_SASL2, "challenge");
	char *b64 = xmalloc(4 * ((out->len + 2) / 3) + 1);

	b64_encode(
	    (const unsigned char *)(out->data ? out->data : ""), out->len, b64);
	set_text(ch, b64);
	free(b64);
	c2s_send_node(c, ch);
}

/* Base64 text of el (NULL: none, an empty message). -1 bad. */
static int
decode(struct xml_node *el, unsigned char **out, size_t *len)
{
	const char *t = el ? xml_node_text_get(el) : "";
	size_t n = strlen(t);

	*out = xmalloc(n / 4 * 3 + 4);
	*len = 0;
	if (n == 0)
		return 0;
	return b64_decode(t, n, *out, len);
}

static void
step(struct c2s *c, struct xml_node *payload)
{
	struct sbuf out;
	unsigned char *data;
	size_t len;
	const char *cond = NULL;
	enum sasl_res r;

	if (decode(payload, &data, &len) != 0) {
		free(data);
		failure(c, "incorrect-encoding", 0);
		return;
	}
	sbuf_init(&out);
	r = sasl_step(c->sasl, data, len, &out, &cond);
	OPENSSL_cleanse(data, len);
	free(data);
	if (r == SASL_CHALLENGE) {
		challenge(c, &out);
	} else if (r == SASL_SUCCESS) {
		char user[JID_PART_MAX + 1];
		char mech[32];

		snprintf(user, sizeof(user), "%s", sasl_user(c->sasl));
		snprintf(mech, sizeof(mech), "%s", sasl_mech(c->sasl));
		sasl_free(c->sasl);
		c->sasl = NULL;
		success(
		    c, user, mech, (const unsigned char *)out.data, out.len);
	} else {
		failure(c, cond, sasl_cb_refused(c->sasl));
	}
	sbuf_cleanup(&out);
}

static void
fast_auth(struct c2s *c, const char *mech)
{
	struct xml_node *a = c->sasl2->auth;
	struct xml_node *ua = xml_node_find(a, NS_SASL2, "user-agent");
	struct xml_node *f = xml_node_find(a, FAST_NS, "fast");
	const char *cnt = f ? xml_node_attr(f, "count") : NULL;
	const char *inv = f ? xml_node_attr(f, "invalidate") : NULL;
	struct fast_login l = { 0 };
	char user[JID_PART_MAX + 1];
	unsigned char *data, final[32];
	const char *cond;
	size_t len;
	char *end;

	l.host = c->host->name;
	l.ssl = stream_ssl(&c->st);
	l.mech = mech;
	l.uaid = ua ? xml_node_attr(ua, "id") : NULL;
	l.count = -1;
	if (cnt) {
		l.count = strtoll(cnt, &end, 10);
		if (*cnt == '\0' || *end != '\0' || l.count < 0) {
			failure(c, "malformed-request", 0);
			return;
		}
	}
	l.invalidate =
	    inv && (strcmp(inv, "true") == 0 || strcmp(inv, "1") == 0);
	if (decode(xml_node_find(a, NS_SASL2, "initial-response"), &data,
		&len) != 0) {
		free(data);
		failure(c, "incorrect-encoding", 0);
		return;
	}
	if (fast_login(&l, data, len, user, final, &cond) != 0) {
		OPENSSL_cleanse(data, len);
		free(data);
		failure(c, cond, 0);
		return;
	}
	OPENSSL_cleanse(data, len);
	free(data);
	success(c, user, mech, final, sizeof(final));
	OPENSSL_cleanse(final, sizeof(final));
}

static void
authenticate(struct c2s *c, struct xml_node *el)
{
	const char *mech = xml_node_attr(el, "mechanism");
	struct xml_node *ua = xml_node_find(el, NS_SASL2, "user-agent");
	SSL *ssl = stream_ssl(&c->st);

	reset(c);
	if (!stream_secure(&c->st) && config_running->tls.c2s_require_tls) {
		c2s_sasl_failure(c, NS_SASL2, "encryption-required", NULL);
		return;
	}
	if (stream_ip_auth_throttled(c->st.peer)) {
		c2s_sasl_failure(c, NS_SASL2, "temporary-auth-failure",
		    "too many failed attempts from your address; try again "
		    "in a minute");
		return;
	}
	if (ua && xml_node_attr(ua, "id") &&
	    !fast_uaid_ok(xml_node_attr(ua, "id"))) {
		c2s_sasl_failure(c, NS_SASL2, "malformed-request",
		    "the user-agent id is not usable");
		return;
	}
	if (mech == NULL || strlen(mech) >= 32) {
		c2s_sasl_failure(c, NS_SASL2, "invalid-mechanism", NULL);
		return;
	}
	c->sasl2 = xcalloc(1, sizeof(*c->sasl2));
	c->sasl2->auth = xml_node_dup(el);
	snprintf(c->sasl2->mech, sizeof(c->sasl2->mech), "%s", mech);
	if (strncmp(mech, "HT-", 3) == 0) {
		if (!fast_mech_offered(mech, ssl)) {
			reset(c);
			c2s_sasl_failure(
			    c, NS_SASL2, "invalid-mechanism", NULL);
			return;
		}
		fast_auth(c, mech);
		return;
	}
	c->sasl =
	    sasl_new_secure(mech, c->host->name, ssl, stream_secure(&c->st));
	if (c->sasl == NULL) {
		reset(c);
		c2s_sasl_failure(c, NS_SASL2,
		    sasl_mech_available(mech, (SSL *)1) ? "encryption-required"
							: "invalid-mechanism",
		    NULL);
		return;
	}
	if (xml_node_find(el, NS_SASL2, "initial-response") == NULL) {
		challenge(c, &(struct sbuf){ 0 });
		return;
	}
	step(c, xml_node_find(el, NS_SASL2, "initial-response"));
}

void
sasl2_element(struct c2s *c, struct xml_node *el)
{
	if (c->authed) {
		c2s_fail(c, "policy-violation", "already authenticated");
		return;
	}
	if (strcmp(el->name, "authenticate") == 0) {
		authenticate(c, el);
	} else if (strcmp(el->name, "response") == 0) {
		if (c->sasl == NULL) {
			c2s_sasl_failure(c, NS_SASL2, "malformed-request",
			    "no authentication in progress");
			return;
		}
		step(c, el);
	} else if (strcmp(el->name, "abort") == 0) {
		reset(c);
		c2s_sasl_failure(c, NS_SASL2, "aborted", NULL);
	} else {
		c2s_fail(c, "unsupported-stanza-type", NULL);
	}
}

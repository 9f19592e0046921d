/* bosh.c: XMPP over BOSH (XEP-0124, XEP-0206) at /http-bind, a framing
 * of the stream base: a session is a client stream whose bytes travel in
 * <body/> wrappers of HTTP POSTs. The client keeps up to `requests`
 * POSTs open; the server holds them (up to `hold`) until it has stanzas
 * to send or `wait` seconds pass. Requests carry sequential rids; the
 * last answer is kept so a retransmitted request gets it again
 * (XEP-0124 §14.3). A session with no request for `inactivity` seconds
 * ends (§10). Sessions are found by sid; a held request is dropped from
 * its session when its connection dies (on_free), never used after. */
#include "xmpp/bosh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/conn.h"
#include "net/http.h"
#include "xml/xml.h"
#include "xmpp/c2s.h"
#include "xmpp/stream.h"

#define BOSH_PATH "/http-bind"
#define NS_BOSH "http://jabber.org/protocol/httpbind"
#define NS_XBOSH "urn:xmpp:xbosh"
#define MAX_WAIT 60
#define HOLD 1
#define REQUESTS (HOLD + 1)
#define INACTIVITY 60
#define POLLING 2
#define MAX_SESSIONS_PER_IP 32

struct bosh {
	char sid[33];
	struct stream *st; /* the client stream; NULL once it ended */
	struct http_req *held[REQUESTS];
	size_t nheld;
	uint64_t rid;	   /* the highest rid processed */
	struct sbuf out;   /* elements waiting for a request */
	struct sbuf first; /* the session creation answer's attributes */
	char *last;	   /* the last answer's body, for retransmission */
	uint64_t last_rid;
	unsigned wait;
	int secure;
	int terminated;	  /* the stream ended: answer terminate */
	char *error_cond; /* terminate condition (XEP-0124 §17.2) */
	int64_t last_req; /* ms of the last request (inactivity) */
	int64_t held_since[REQUESTS];
	ev_timer timer;
	char peer[48];
	uint64_t id;
	struct bosh *next;
};

static struct bosh *sessions;
static uint64_t next_id = 1;

static struct bosh *
find_sid(const char *sid)
{
	struct bosh *b;

	for (b = sessions; sid && b; b = b->next)
		if (strcmp(b->sid, sid) == 0)
			return b;
	return NULL;
}

static unsigned
sessions_of(const char *ip)
{
	struct bosh *b;
	unsigned n = 0;

	for (b = sessions; b; b = b->next)
		n += strcmp(b->peer, ip) == 0;
	return n;
}

/* ---- answers ---- */

static void
respond_body(struct http_req *r, const char *body, size_t len)
{
	http_add_header(r, "Access-Control-Allow-Origin: *");
	http_add_header(r, "Cache-Control: no-store");
	http_respond(r, 200, "text/xml; charset=utf-8", body, len);
}

void
bosh_wrap(struct sbuf *body, const struct sbuf *first, int terminated,
    const char *condition, const struct sbuf *out)
{
	sbuf_puts(
	    body, "<body xmlns='" NS_BOSH "' xmlns:stream='" XML_NS_STREAM "'");
	if (first->len)
		sbuf_append(body, first->data, first->len);
	if (terminated) {
		sbuf_puts(body, " type='terminate'");
		if (condition)
			sbuf_printf(body, " condition='%s'", condition);
	}
	if (out->len == 0) {
		sbuf_puts(body, "/>");
	} else {
		sbuf_putc(body, '>');
		sbuf_append(body, out->data, out->len);
		sbuf_puts(body, "</body>");
	}
}

/* Answer the oldest held request with what waits (or an empty body). */
static void
answer_one(struct bosh *b)
{
	struct http_req *r;
	struct sbuf body;
	size_t i;

	if (b->nheld == 0)
		return;
	r = b->held[0];
	for (i = 1; i < b->nheld; i++) {
		b->held[i - 1] = b->held[i];
		b->held_since[i - 1] = b->held_since[i];
	}
	b->nheld--;
	r->on_free = NULL;
	sbuf_init(&body);
	bosh_wrap(&body, &b->first, b->terminated, b->error_cond, &b->out);
	sbuf_reset(&b->first);
	sbuf_reset(&b->out);
	free(b->last);
	b->last = xstrndup(body.data, body.len);
	respond_body(r, body.data, body.len);
	sbuf_cleanup(&body);
}

static void bosh_free(struct bosh *b);

/* The session is over (stream ended or lost): answer what is held and
 * forget it. */
static void
bosh_end(struct bosh *b)
{
	b->terminated = 1;
	while (b->nheld)
		answer_one(b);
	bosh_free(b);
}

/* Deliver what waits if a request is held; keep one held otherwise. */
static void
flush(struct bosh *b)
{
	if (b->out.len || b->terminated)
		answer_one(b);
	/* more held than the client may keep open: answer the oldest */
	while (b->nheld > HOLD)
		answer_one(b);
}

/* ---- the framing under the stream ---- */

static struct bosh *
bosh_of(const struct stream *st)
{
	return st->tp_data;
}

/* Each element must stand alone inside <body/>, whose default namespace
 * is httpbind (XEP-0206 §6). */
static int
bosh_write(struct stream *st, struct rbuf *r, int force)
{
	struct bosh *b = bosh_of(st);

	if (b == NULL)
		return -1;
	if (!force && b->out.len > (size_t)config_running->limits.send_queue)
		return -1;
	stream_standalone(r->data, r->len, &b->out);
	flush(b);
	return 0;
}

/* XEP-0206 §4: the session creation answer carries the stream's id and
 * host as BOSH attributes. */
static void
bosh_header(struct stream *st, const char *from, const char *to, const char *id)
{
	struct bosh *b = bosh_of(st);

	UNUSED(to);
	if (b == NULL || !b->first.len)
		return;
	if (from) {
		sbuf_puts(&b->first, " from='");
		sbuf_put_xml_escaped(&b->first, from, strlen(from));
		sbuf_putc(&b->first, '\'');
	}
	if (id) {
		sbuf_puts(&b->first, " authid='");
		sbuf_put_xml_escaped(&b->first, id, strlen(id));
		sbuf_putc(&b->first, '\'');
	}
}

static void
bosh_footer(struct stream *st)
{
	struct bosh *b = bosh_of(st);

	if (b)
		b->terminated = 1;
}

static void
bosh_close(struct stream *st, int flush_first, const char *why)
{
	struct bosh *b = bosh_of(st);

	UNUSED(flush_first);
	if (b == NULL)
		return;
	log_debug("bosh %s ends: %s", b->sid, why);
	b->terminated = 1;
	if (why && strcmp(why, "stream closed") != 0 && b->error_cond == NULL)
		b->error_cond = xstrdup("remote-stream-error");
	/* the stream is done with us */
	b->st = NULL;
	st->tp_data = NULL;
	stream_lost(st, why);
	if (b->nheld)
		bosh_end(b);
	/* else the next request (or the timer) gets the terminate */
}

/* Requests come over several HTTP connections: no one TLS session to
 * bind to (st->secure says whether they are https). */
static SSL *
bosh_ssl(const struct stream *st)
{
	UNUSED(st);
	return NULL;
}

static void
bosh_pause(struct stream *st, int paused)
{
	UNUSED(st);
	UNUSED(paused);
}

static size_t
bosh_queued(const struct stream *st)
{
	struct bosh *b = bosh_of(st);

	return b ? b->out.len : 0;
}

static const struct stream_transport bosh_transport = {
	.name = "bosh",
	.write = bosh_write,
	.header = bosh_header,
	.footer = bosh_footer,
	.close = bosh_close,
	.starttls = NULL,
	.ssl = bosh_ssl,
	.pause = bosh_pause,
	.queued = bosh_queued,
};

/* ---- sessions ---- */

static void
bosh_free(struct bosh *b)
{
	struct bosh **pp;
	size_t i;

	for (pp = &sessions; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	for (i = 0; i < b->nheld; i++)
		b->held[i]->on_free = NULL;
	ev_timer_stop(loop_ev, &b->timer);
	if (b->st) {
		struct stream *st = b->st;

		b->st = NULL;
		st->tp_data = NULL;
		stream_lost(st, "bosh session ended");
	}
	sbuf_cleanup(&b->out);
	sbuf_cleanup(&b->first);
	free(b->last);
	free(b->error_cond);
	free(b);
}

/* Safe by pointer: bosh_free stops it. Held requests past `wait` get an
 * empty answer; a session without requests for INACTIVITY ends. */
static void
timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct bosh *b = w->data;
	int64_t now = now_ms();

	UNUSED(l);
	UNUSED(revents);
	while (b->nheld && now - b->held_since[0] >= (int64_t)b->wait * 1000)
		answer_one(b);
	if (b->nheld == 0 && now - b->last_req >= INACTIVITY * 1000) {
		log_info("bosh %s inactive: ended", b->sid);
		bosh_free(b);
		return;
	}
	ev_timer_set(w, 1.0, 0.0);
	ev_timer_start(loop_ev, w);
}

static void
held_gone(struct http_req *r)
{
	struct bosh *b = find_sid(r->ctx ? (const char *)r->ctx : NULL);
	size_t i, j;

	r->ctx = NULL;
	for (i = 0; b && i < b->nheld; i++) {
		if (b->held[i] != r)
			continue;
		for (j = i + 1; j < b->nheld; j++) {
			b->held[j - 1] = b->held[j];
			b->held_since[j - 1] = b->held_since[j];
		}
		b->nheld--;
		return;
	}
}

/* ---- requests ---- */

static void
terminate_error(struct http_req *r, const char *condition)
{
	struct sbuf body;

	sbuf_init(&body);
	sbuf_printf(&body,
	    "<body xmlns='" NS_BOSH "' type='terminate' condition='%s'/>",
	    condition);
	respond_body(r, body.data, body.len);
	sbuf_cleanup(&body);
}

/* Children of <body/> in the httpbind namespace are stanzas a lax client
 * did not qualify: they are jabber:client's (XEP-0206 §6). */
static void
to_client(struct xml_node *n)
{
	struct xml_node *c;

	if (n->type != XML_ELEMENT || strcmp(n->ns, NS_BOSH) != 0)
		return;
	n->ns = XML_NS_CLIENT;
	for (c = n->children; c; c = c->next)
		to_client(c);
}

struct xml_node *
bosh_next_stanza(struct xml_node *body, struct xml_node *prev, struct sbuf *s)
{
	struct xml_node *c;

	for (c = prev ? prev->next : body->children; c; c = c->next) {
		if (c->type != XML_ELEMENT)
			continue;
		to_client(c);
		xml_serialize(c, XML_NS_CLIENT, s);
		return c;
	}
	return NULL;
}

/* Each element may end the session (and free it): it is found again by
 * sid before every one. */
static void
feed_children(const char *sid, struct xml_node *body)
{
	struct xml_node *c = NULL;
	struct bosh *b;
	struct sbuf s;

	sbuf_init(&s);
	for (;;) {
		b = find_sid(sid);
		if (b == NULL || b->st == NULL)
			break;
		sbuf_reset(&s);
		c = bosh_next_stanza(body, c, &s);
		if (c == NULL)
			break;
		stream_feed(b->st, s.data, s.len);
	}
	sbuf_cleanup(&s);
}

void
bosh_stream_header(struct sbuf *h, const char *to, const char *lang)
{
	sbuf_puts(h, "<stream:stream xmlns='" XML_NS_CLIENT
		     "' xmlns:stream='" XML_NS_STREAM "' version='1.0' to='");
	sbuf_put_xml_escaped(h, to, strlen(to));
	sbuf_putc(h, '\'');
	if (lang) {
		sbuf_puts(h, " xml:lang='");
		sbuf_put_xml_escaped(h, lang, strlen(lang));
		sbuf_putc(h, '\'');
	}
	sbuf_putc(h, '>');
}

static void
feed_header(struct bosh *b, const char *to, const char *lang)
{
	struct sbuf h;

	sbuf_init(&h);
	bosh_stream_header(&h, to, lang);
	if (b->st)
		stream_feed(b->st, h.data, h.len);
	sbuf_cleanup(&h);
}

static void
hold(struct bosh *b, struct http_req *r)
{
	http_req_hold(r);
	r->ctx = b->sid;
	r->on_free = held_gone;
	b->held[b->nheld] = r;
	b->held_since[b->nheld] = now_ms();
	b->nheld++;
}

void
bosh_attrs(const struct xml_node *body, struct bosh_attrs *a)
{
	const char *restart = xml_node_attr_ns(body, NS_XBOSH, "restart");
	const char *wait = xml_node_attr(body, "wait");
	long w;

	memset(a, 0, sizeof(*a));
	a->sid = xml_node_attr(body, "sid");
	a->to = xml_node_attr(body, "to");
	a->lang = xml_node_attr_ns(body, XML_NS_XML, "lang");
	a->ver = xml_node_attr_ns(body, NS_XBOSH, "version");
	a->type = xml_node_attr(body, "type");
	a->rid = xml_node_attr(body, "rid");
	a->rid_n = a->rid ? strtoull(a->rid, NULL, 10) : 0;
	w = wait ? strtol(wait, NULL, 10) : MAX_WAIT;
	a->wait = (unsigned)(w < 1 ? 1 : w > MAX_WAIT ? MAX_WAIT : w);
	a->restart = restart && strcmp(restart, "true") == 0;
	a->terminate = a->type && strcmp(a->type, "terminate") == 0;
}

int
bosh_rid_in_window(uint64_t last, uint64_t rid)
{
	return !(rid <= last || rid > last + REQUESTS);
}

static void
create(struct http_req *r, struct xml_node *body)
{
	struct bosh_attrs a;
	struct bosh *b;

	bosh_attrs(body, &a);
	if (a.to == NULL || a.rid == NULL || host_find(a.to) == NULL) {
		terminate_error(
		    r, a.to && a.rid ? "host-unknown" : "improper-addressing");
		return;
	}
	if (sessions_of(r->peer) >= MAX_SESSIONS_PER_IP) {
		terminate_error(r, "policy-violation");
		return;
	}
	if (a.ver == NULL || strncmp(a.ver, "1.", 2) != 0) {
		/* XEP-0206 §5: only XMPP 1.0 over BOSH here */
		terminate_error(r, "undefined-condition");
		return;
	}
	b = xcalloc(1, sizeof(*b));
	b->id = next_id++;
	rand_id(b->sid, sizeof(b->sid));
	b->rid = a.rid_n;
	b->wait = a.wait;
	b->secure = (r->lflags & HTTP_L_TLS) != 0;
	b->last_req = now_ms();
	snprintf(b->peer, sizeof(b->peer), "%s", r->peer);
	sbuf_init(&b->out);
	sbuf_init(&b->first);
	sbuf_printf(&b->first,
	    " sid='%s' wait='%u' requests='%d' hold='%d' inactivity='%d'"
	    " polling='%d' ver='1.11' secure='%s' xmlns:xmpp='" NS_XBOSH
	    "' xmpp:version='1.0' xmpp:restartlogic='true'",
	    b->sid, b->wait, REQUESTS, HOLD, INACTIVITY, POLLING,
	    b->secure ? "true" : "false");
	b->next = sessions;
	sessions = b;
	ev_timer_init(&b->timer, timer_cb, 1.0, 0.0);
	b->timer.data = b;
	ev_timer_start(loop_ev, &b->timer);
	log_info("bosh %s created peer=%s to=%s", b->sid, r->peer, a.to);
	hold(b, r);
	b->st = c2s_attach(&bosh_transport, b, r->peer, r->conn_id);
	b->st->secure = b->secure;
	{
		char sid[sizeof(b->sid)];

		memcpy(sid, b->sid, sizeof(sid));
		feed_header(b, a.to, a.lang);
		b = find_sid(sid);
	}
	if (b && b->nheld)
		flush(b);
}

static void
request(struct http_req *r, struct xml_node *body)
{
	struct bosh_attrs a;
	struct bosh *b;
	char sid[sizeof(b->sid)];
	uint64_t rid;

	bosh_attrs(body, &a);
	b = find_sid(a.sid);
	if (b == NULL) {
		/* XEP-0124 §17.2: an unknown session */
		http_error(r, 404);
		return;
	}
	if (a.rid == NULL) {
		terminate_error(r, "bad-request");
		return;
	}
	rid = a.rid_n;
	b->last_req = now_ms();
	if (rid == b->last_rid && b->last) {
		/* §14.3: a retransmission gets the same answer */
		respond_body(r, b->last, strlen(b->last));
		return;
	}
	if (!bosh_rid_in_window(b->rid, rid)) {
		/* §14.2: outside the window */
		log_info("bosh %s rid %llu outside the window", b->sid,
		    (unsigned long long)rid);
		http_error(r, 404);
		bosh_free(b);
		return;
	}
	b->rid = rid;
	b->last_rid = rid;
	if (b->nheld >= REQUESTS) {
		terminate_error(r, "policy-violation");
		bosh_free(b);
		return;
	}
	hold(b, r);
	if (b->terminated) {
		bosh_end(b);
		return;
	}
	/* feeding the stream may end the session: b is found again */
	memcpy(sid, b->sid, sizeof(sid));
	if (a.restart) {
		/* XEP-0206 §5: a restart after SASL: a new stream header */
		feed_header(b, a.to ? a.to : "", NULL);
	}
	feed_children(sid, body);
	b = find_sid(sid);
	if (b && b->st && a.terminate) {
		/* §13: the client ends the session */
		stream_feed(b->st, "</stream:stream>", 16);
		b = find_sid(sid);
	}
	if (b)
		flush(b);
}

struct xml_node *
bosh_parse_body(const char *p, size_t n)
{
	struct xml_node *body = n ? xml_parse_element(p, n) : NULL;

	if (body == NULL || strcmp(body->name, "body") != 0 ||
	    strcmp(body->ns, NS_BOSH) != 0) {
		xml_node_free(body);
		return NULL;
	}
	return body;
}

static void
on_end(struct http_req *r)
{
	struct sbuf *buf = r->ctx;
	struct xml_node *body;

	r->ctx = NULL;
	r->on_free = NULL;
	body = bosh_parse_body(buf->data, buf->len);
	sbuf_cleanup(buf);
	free(buf);
	if (body == NULL) {
		terminate_error(r, "bad-request");
		return;
	}
	if (xml_node_attr(body, "sid") == NULL)
		create(r, body);
	else
		request(r, body);
	xml_node_free(body);
}

static int
on_body(struct http_req *r, const char *p, size_t n)
{
	sbuf_append(r->ctx, p, n);
	return 0;
}

static void
body_free(struct http_req *r)
{
	struct sbuf *buf = r->ctx;

	if (buf) {
		sbuf_cleanup(buf);
		free(buf);
	}
	r->ctx = NULL;
}

static void
bosh_handler(struct http_req *r)
{
	struct sbuf *buf;

	if (r->meth == HTTP_M_OPTIONS) {
		/* CORS preflight for web clients on other origins */
		http_add_header(r, "Access-Control-Allow-Origin: *");
		http_add_header(
		    r, "Access-Control-Allow-Methods: POST, OPTIONS");
		http_add_header(
		    r, "Access-Control-Allow-Headers: Content-Type");
		http_add_header(r, "Access-Control-Max-Age: 86400");
		http_respond(r, 204, NULL, NULL, 0);
		return;
	}
	if (r->meth != HTTP_M_POST) {
		http_add_header(r, "Allow: POST, OPTIONS");
		http_error(r, 405);
		return;
	}
	buf = xcalloc(1, sizeof(*buf));
	sbuf_init(buf);
	r->ctx = buf;
	r->on_free = body_free;
	http_req_take_body(r, on_body, on_end,
	    (uint64_t)config_running->limits.c2s_stanza_size + 4096);
}

void
bosh_init(void)
{
	http_route_add(NULL, BOSH_PATH, bosh_handler, NULL);
}

void
bosh_close_all(void)
{
	while (sessions)
		bosh_end(sessions);
}

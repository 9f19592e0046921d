/* bosh.c: XMPP over BOSH (XEP-0124, XEP-0206) at /http-bind, a framing
 * of the stream base: a session is a client stream whose bytes travel in
 * <body/> wrappers of HTTP POSTs. The client keeps up to `requests`
 * POSTs open; the server holds them (up to `hold`, 0 for a polling
 * session) until it has stanzas to send or `wait` seconds pass.
 * Requests carry sequential rids and are processed in rid order: one
 * that arrives before a lower one waits for it (§14.2). The last answers
 * are kept so a retransmitted request gets its own again (§14.3); with
 * acknowledgements (§9: the client asked with ack='1') answers carry the
 * highest rid received in order, the client's acks free the kept
 * answers, and an answer the client has not acknowledged long after it
 * was sent is reported (report, time). A session with no request for
 * `inactivity` seconds ends (§10). Sessions are found by sid; a held
 * request is dropped from its session when its connection dies
 * (on_free), never used after. */
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
#define HOLD_MAX 1
#define REQUESTS_MAX (HOLD_MAX + 1)
#define INACTIVITY 60
#define POLLING 2
#define MAX_SESSIONS_PER_IP 32
/* Answers kept for retransmission: `requests` of them, or with acks
 * those not acknowledged yet, up to this many. */
#define KEEP_MAX 8
/* An answer unacknowledged this long after it left is reported. */
#define REPORT_AFTER_MS 2000

struct held {
	struct http_req *r;
	uint64_t rid;
	int64_t since;
	int empty; /* the request carried no element */
};

/* A request that came before a lower rid, with its <body/>. */
struct early {
	struct http_req *r;
	uint64_t rid;
	struct xml_node *body;
};

struct kept {
	uint64_t rid;
	int64_t when;
	char *body;
};

struct bosh {
	char sid[33];
	struct stream *st; /* the client stream; NULL once it ended */
	struct held held[REQUESTS_MAX + 1]; /* + a terminate (§11) */
	size_t nheld;
	struct early early[REQUESTS_MAX];
	size_t nearly;
	struct kept kept[KEEP_MAX];
	size_t nkept;
	uint64_t rid;	 /* the highest rid processed; all lower were */
	unsigned hold;	 /* requests held at most; 0: polling */
	int acks;	 /* the client acknowledges (§9) */
	uint64_t report; /* rid of an answer the client seems to lack */
	int64_t report_age;
	int64_t empty_poll; /* polling: ms of the last empty exchange */
	int feeding;	    /* a request's elements are being fed */
	struct sbuf out;    /* elements waiting for a request */
	struct sbuf first;  /* the session creation answer's attributes */
	unsigned wait;
	int secure;
	int terminated;	  /* the stream ended: answer terminate */
	char *error_cond; /* terminate condition (XEP-0124 §17.2) */
	int64_t last_req; /* ms of the last request (inactivity) */
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

/* Keep an answer for retransmission; the oldest goes when full. */
static void
keep_answer(struct bosh *b, uint64_t rid, const struct sbuf *body)
{
	size_t cap = b->acks ? KEEP_MAX : b->hold + 1;

	if (b->nkept == cap) {
		free(b->kept[0].body);
		memmove(
		    b->kept, b->kept + 1, (b->nkept - 1) * sizeof(b->kept[0]));
		b->nkept--;
	}
	b->kept[b->nkept].rid = rid;
	b->kept[b->nkept].when = now_ms();
	b->kept[b->nkept].body = xstrndup(body->data, body->len);
	b->nkept++;
}

/* Answer the oldest held request with what waits (or an empty body). */
static void
answer_one(struct bosh *b)
{
	struct held h;
	struct sbuf attrs, body;
	int empty;

	if (b->nheld == 0)
		return;
	h = b->held[0];
	memmove(b->held, b->held + 1, (b->nheld - 1) * sizeof(b->held[0]));
	b->nheld--;
	h.r->on_free = NULL;
	h.r->ctx = NULL;
	sbuf_init(&attrs);
	sbuf_init(&body);
	sbuf_append(&attrs, b->first.data, b->first.len);
	/* §9.1: on the creation answer, then whenever it says more than
	 * the rid answered */
	if (b->acks && (b->first.len || h.rid != b->rid))
		sbuf_printf(&attrs, " ack='%llu'", (unsigned long long)b->rid);
	if (b->report) {
		sbuf_printf(&attrs, " report='%llu' time='%lld'",
		    (unsigned long long)b->report, (long long)b->report_age);
		b->report = 0;
	}
	empty = b->out.len == 0 && b->first.len == 0;
	bosh_wrap(&body, &attrs, b->terminated, b->error_cond, &b->out);
	sbuf_reset(&b->first);
	sbuf_reset(&b->out);
	if (b->hold == 0)
		b->empty_poll = h.empty && empty ? now_ms() : 0;
	keep_answer(b, h.rid, &body);
	respond_body(h.r, body.data, body.len);
	sbuf_cleanup(&attrs);
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

/* Deliver what waits if a request is held; keep `hold` held otherwise.
 * While a request's elements are fed, their answers gather first. */
static void
flush(struct bosh *b)
{
	if (b->feeding)
		return;
	if (b->out.len || b->terminated || b->report)
		answer_one(b);
	/* more held than the client may keep open: answer the oldest */
	while (b->nheld > b->hold)
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
terminate_body(struct http_req *r, const char *condition)
{
	struct sbuf body;

	sbuf_init(&body);
	sbuf_puts(&body, "<body xmlns='" NS_BOSH "' type='terminate'");
	if (condition)
		sbuf_printf(&body, " condition='%s'", condition);
	sbuf_puts(&body, "/>");
	respond_body(r, body.data, body.len);
	sbuf_cleanup(&body);
}

#define EMPTY_BODY "<body xmlns='" NS_BOSH "'/>"

static void
answer_empty(struct http_req *r)
{
	r->on_free = NULL;
	r->ctx = NULL;
	respond_body(r, EMPTY_BODY, sizeof(EMPTY_BODY) - 1);
}

/* Forget the session; requests still open get a terminate. */
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
	for (i = 0; i < b->nheld; i++) {
		b->held[i].r->on_free = NULL;
		b->held[i].r->ctx = NULL;
		terminate_body(b->held[i].r, b->error_cond);
	}
	for (i = 0; i < b->nearly; i++) {
		b->early[i].r->on_free = NULL;
		b->early[i].r->ctx = NULL;
		terminate_body(b->early[i].r, b->error_cond);
		xml_node_free(b->early[i].body);
	}
	for (i = 0; i < b->nkept; i++)
		free(b->kept[i].body);
	ev_timer_stop(loop_ev, &b->timer);
	if (b->st) {
		struct stream *st = b->st;

		b->st = NULL;
		st->tp_data = NULL;
		stream_lost(st, "bosh session ended");
	}
	sbuf_cleanup(&b->out);
	sbuf_cleanup(&b->first);
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
	while (b->nheld && now - b->held[0].since >= (int64_t)b->wait * 1000)
		answer_one(b);
	if (b->nheld == 0 && b->nearly == 0 &&
	    now - b->last_req >= INACTIVITY * 1000) {
		log_info("bosh %s inactive: ended", b->sid);
		bosh_free(b);
		return;
	}
	ev_timer_set(w, 1.0, 0.0);
	ev_timer_start(loop_ev, w);
}

/* A held or early request's connection died. */
static void
held_gone(struct http_req *r)
{
	struct bosh *b = find_sid(r->ctx ? (const char *)r->ctx : NULL);
	size_t i;

	r->ctx = NULL;
	for (i = 0; b && i < b->nheld; i++) {
		if (b->held[i].r != r)
			continue;
		memmove(b->held + i, b->held + i + 1,
		    (b->nheld - i - 1) * sizeof(b->held[0]));
		b->nheld--;
		return;
	}
	for (i = 0; b && i < b->nearly; i++) {
		if (b->early[i].r != r)
			continue;
		xml_node_free(b->early[i].body);
		memmove(b->early + i, b->early + i + 1,
		    (b->nearly - i - 1) * sizeof(b->early[0]));
		b->nearly--;
		return;
	}
}

/* ---- requests ---- */

static void
terminate_error(struct http_req *r, const char *condition)
{
	terminate_body(r, condition);
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

static struct xml_node *
bosh_next_element(struct xml_node *body)
{
	struct xml_node *c;

	for (c = body->children; c; c = c->next)
		if (c->type == XML_ELEMENT)
			return c;
	return NULL;
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

/* Keep r open (answered later), found by sid when its conn dies. */
static void
hold_req(struct bosh *b, struct http_req *r)
{
	http_req_hold(r);
	r->ctx = b->sid;
	r->on_free = held_gone;
}

static void
hold(struct bosh *b, struct http_req *r, uint64_t rid, int empty)
{
	hold_req(b, r);
	b->held[b->nheld].r = r;
	b->held[b->nheld].rid = rid;
	b->held[b->nheld].since = now_ms();
	b->held[b->nheld].empty = empty;
	b->nheld++;
}

void
bosh_attrs(const struct xml_node *body, struct bosh_attrs *a)
{
	const char *restart = xml_node_attr_ns(body, NS_XBOSH, "restart");
	const char *wait = xml_node_attr(body, "wait");
	const char *hold_s;
	long w, h;

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
	hold_s = xml_node_attr(body, "hold");
	a->hold = -1;
	if (hold_s && *hold_s >= '0' && *hold_s <= '9') {
		h = strtol(hold_s, NULL, 10);
		a->hold = h > 1000 ? 1000 : (int)h;
	}
	a->ack = xml_node_attr(body, "ack");
	a->ack_n = a->ack ? strtoull(a->ack, NULL, 10) : 0;
}

int
bosh_rid_in_window(uint64_t last, uint64_t rid)
{
	return !(rid <= last || rid > last + REQUESTS_MAX);
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
	/* §7.1: never more than the client asked for; 0 is polling */
	b->hold = a.hold < 0 || a.hold > HOLD_MAX ? HOLD_MAX : (unsigned)a.hold;
	b->acks = a.ack && strcmp(a.ack, "1") == 0;
	b->secure = (r->lflags & HTTP_L_TLS) != 0;
	b->last_req = now_ms();
	snprintf(b->peer, sizeof(b->peer), "%s", r->peer);
	sbuf_init(&b->out);
	sbuf_init(&b->first);
	sbuf_printf(&b->first,
	    " sid='%s' wait='%u' requests='%u' hold='%u' inactivity='%d'"
	    " polling='%d' ver='1.11' secure='%s' xmlns:xmpp='" NS_XBOSH
	    "' xmpp:version='1.0' xmpp:restartlogic='true'",
	    b->sid, b->wait, b->hold + 1, b->hold, INACTIVITY, POLLING,
	    b->secure ? "true" : "false");
	b->next = sessions;
	sessions = b;
	ev_timer_init(&b->timer, timer_cb, 1.0, 0.0);
	b->timer.data = b;
	ev_timer_start(loop_ev, &b->timer);
	log_info("bosh %s created peer=%s to=%s", b->sid, r->peer, a.to);
	hold(b, r, a.rid_n, 1);
	b->st = c2s_attach(&bosh_transport, b, r->peer, r->conn_id);
	b->st->secure = b->secure;
	{
		char sid[sizeof(b->sid)];

		memcpy(sid, b->sid, sizeof(sid));
		b->feeding = 1;
		feed_header(b, a.to, a.lang);
		b = find_sid(sid);
	}
	if (b) {
		b->feeding = 0;
		flush(b);
	}
}

/* The client acknowledges answers up to ack (§9.2): those kept go; an
 * answer after them that left long ago is reported with the next one. */
static void
acked(struct bosh *b, uint64_t ack)
{
	int64_t now = now_ms();
	size_t i, j = 0;

	for (i = 0; i < b->nkept; i++) {
		if (b->kept[i].rid <= ack) {
			free(b->kept[i].body);
			continue;
		}
		if (b->kept[i].rid == ack + 1 && b->report == 0 &&
		    now - b->kept[i].when >= REPORT_AFTER_MS) {
			b->report = ack + 1;
			b->report_age = now - b->kept[i].when;
		}
		b->kept[j++] = b->kept[i];
	}
	b->nkept = j;
}

/* A rid at or below the last processed: a retransmission (§14.3). */
static void
repeat(struct bosh *b, struct http_req *r, uint64_t rid)
{
	struct http_req *old;
	size_t i;

	for (i = 0; i < b->nkept; i++)
		if (b->kept[i].rid == rid) {
			respond_body(
			    r, b->kept[i].body, strlen(b->kept[i].body));
			return;
		}
	/* not answered yet (its first connection may be dead): this one
	 * takes its place, the other gets an empty answer */
	for (i = 0; i < b->nheld; i++)
		if (b->held[i].rid == rid) {
			old = b->held[i].r;
			hold_req(b, r);
			b->held[i].r = r;
			answer_empty(old);
			return;
		}
	log_info("bosh %s rid %llu answered and forgotten", b->sid,
	    (unsigned long long)rid);
	http_error(r, 404);
	bosh_free(b);
}

/* Take request rid (the next in order): hold it, then feed the stream
 * what it carries. The session may end meanwhile: found by sid. */
static void
process(const char *sid, struct http_req *r, struct xml_node *body)
{
	struct bosh_attrs a;
	struct bosh *b = find_sid(sid);
	int empty;

	bosh_attrs(body, &a);
	b->rid = a.rid_n;
	empty = bosh_next_element(body) == NULL;
	if (b->hold == 0 && empty && b->empty_poll &&
	    now_ms() - b->empty_poll < POLLING * 1000) {
		/* §12: polling faster than `polling` allows */
		log_info("bosh %s polls too often", b->sid);
		terminate_error(r, "policy-violation");
		bosh_free(b);
		return;
	}
	hold(b, r, a.rid_n, empty);
	if (b->terminated) {
		bosh_end(b);
		return;
	}
	b->feeding = 1;
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
	if (b) {
		b->feeding = 0;
		flush(b);
	}
}

/* A request for a session; returns 1 when it keeps body (a request
 * early, waiting for a lower rid), 0 when the caller frees it. */
static int
request(struct http_req *r, struct xml_node *body)
{
	struct bosh_attrs a;
	struct bosh *b;
	struct early e;
	char sid[sizeof(b->sid)];
	size_t i;

	bosh_attrs(body, &a);
	b = find_sid(a.sid);
	if (b == NULL) {
		/* XEP-0124 §17.2: an unknown session */
		http_error(r, 404);
		return 0;
	}
	if (a.rid == NULL) {
		terminate_error(r, "bad-request");
		return 0;
	}
	b->last_req = now_ms();
	if (b->acks && a.ack)
		acked(b, a.ack_n);
	if (a.rid_n <= b->rid) {
		repeat(b, r, a.rid_n);
		return 0;
	}
	for (i = 0; i < b->nearly; i++)
		if (b->early[i].rid == a.rid_n) {
			/* an early one again: this one waits instead */
			answer_empty(b->early[i].r);
			b->early[i].r = r;
			hold_req(b, r);
			xml_node_free(b->early[i].body);
			b->early[i].body = body;
			return 1;
		}
	if (!bosh_rid_in_window(b->rid, a.rid_n) ||
	    a.rid_n > b->rid + b->hold + 1) {
		/* §14.2: outside the window */
		log_info("bosh %s rid %llu outside the window", b->sid,
		    (unsigned long long)a.rid_n);
		http_error(r, 404);
		bosh_free(b);
		return 0;
	}
	if (b->nheld + b->nearly >= b->hold + 1 && !a.terminate) {
		/* §11: more requests at once than `requests` */
		terminate_error(r, "policy-violation");
		bosh_free(b);
		return 0;
	}
	memcpy(sid, b->sid, sizeof(sid));
	if (a.rid_n > b->rid + 1) {
		/* §14.2: processed once the lower ones are here */
		hold_req(b, r);
		b->early[b->nearly].r = r;
		b->early[b->nearly].rid = a.rid_n;
		b->early[b->nearly].body = body;
		b->nearly++;
		return 1;
	}
	process(sid, r, body);
	/* the requests that waited for this one, in order */
	while ((b = find_sid(sid)) != NULL) {
		for (i = 0; i < b->nearly && b->early[i].rid != b->rid + 1; i++)
			;
		if (i == b->nearly)
			break;
		e = b->early[i];
		memmove(b->early + i, b->early + i + 1,
		    (b->nearly - i - 1) * sizeof(b->early[0]));
		b->nearly--;
		process(sid, e.r, e.body);
		xml_node_free(e.body);
	}
	return 0;
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
	else if (request(r, body))
		return; /* kept until the lower rids come */
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

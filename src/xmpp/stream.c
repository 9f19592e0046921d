/* stream.c: the stream base (see stream.h) and its TCP/TLS transport. */
#include "xmpp/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/conn.h"
#include "net/tls.h"
#include "xmpp/router.h"

static void xs_open(void *ud, struct xml_node *root, const char *cns);
static void xs_element(void *ud, struct xml_node *el);
static void xs_close(void *ud);
static const struct xml_stream_cb xs_cb = {
	.open = xs_open,
	.stanza = xs_element,
	.close = xs_close,
};

/* ---- the base ---- */

/* Every 0.1 s, parsers of streams quiet since the last sweep go back
 * (about 10 KiB each; xml_stream_sweep): a stream in the middle of a
 * login or a conversation keeps its parser instead of freeing and
 * rebuilding it at every read, and a burst of logins does not leave
 * parsers scattered between the sessions' small objects. */
static ev_timer sweep_w;

static void
sweep_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	xml_stream_sweep();
}

void
stream_init(struct stream *st, const struct stream_proto *proto,
    const char *content_ns, const struct xml_limits *lim)
{
	st->proto = proto;
	st->content_ns = content_ns;
	st->parser = xml_stream_new(&xs_cb, st, lim);
	if (loop_ev != NULL && !ev_is_active(&sweep_w)) {
		ev_timer_init(&sweep_w, sweep_cb, 0.1, 0.1);
		ev_timer_start(loop_ev, &sweep_w);
	}
}

static void
parser_free(void *p)
{
	xml_stream_free(p);
}

/* The one-shot timers a stream holds only while it needs them
 * (throttle, linger): started by timer_new, stopped and freed (the
 * pointer cleared) by timer_drop, from their callback or cleanup. */
static ev_timer *
timer_new(struct stream *st, void (*cb)(struct ev_loop *, ev_timer *, int),
    double after)
{
	ev_timer *t = xmalloc(sizeof(*t));

	ev_timer_init(t, cb, after, 0.0);
	t->data = st;
	ev_timer_start(loop_ev, t);
	return t;
}

static void
timer_drop(ev_timer **t)
{
	if (*t == NULL)
		return;
	ev_timer_stop(loop_ev, *t);
	free(*t);
	*t = NULL;
}

void
stream_cleanup(struct stream *st)
{
	timer_drop(&st->throttle);
	timer_drop(&st->linger);
	/* we may be inside the parser (a failed TLS handshake ends the
	 * connection from within the element that started it) */
	if (st->parser)
		loop_defer(parser_free, st->parser);
	st->parser = NULL;
	free(st->local);
	st->local = NULL;
}

/* The transport is gone: tell the protocol, once. */
void
stream_lost(struct stream *st, const char *why)
{
	if (st->lost_called)
		return;
	st->lost_called = 1;
	st->closed = 1;
	st->proto->lost(st, why);
}

void
stream_set_limits(struct stream *st, const struct xml_limits *lim)
{
	xml_stream_set_limits(st->parser, lim);
}

void
stream_set_local(struct stream *st, const char *domain)
{
	free(st->local);
	st->local = domain ? xstrdup(domain) : NULL;
}

void
stream_set_rate(struct stream *st, double rate, double burst)
{
	st->rate = rate;
	st->burst = burst;
	st->tokens = burst;
	st->tokens_ms = now_ms();
}

/* Safe by pointer: stream_cleanup stops and frees it, from lost(). */
static void
throttle_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct stream *st = w->data;

	UNUSED(l);
	UNUSED(revents);
	timer_drop(&st->throttle);
	if (!st->closed)
		st->tp->pause(st, 0);
}

/* Spend n bytes from the bucket; pause reading until it has refilled
 * when it runs dry (the bytes already read are processed). */
static void
meter(struct stream *st, size_t n)
{
	int64_t now;

	if (st->rate <= 0)
		return;
	now = now_ms();
	st->tokens += st->rate * (double)(now - st->tokens_ms) / 1000.0;
	if (st->tokens > st->burst)
		st->tokens = st->burst;
	st->tokens_ms = now;
	st->tokens -= (double)n;
	if (st->tokens >= 0 || st->throttle)
		return;
	st->throttle = timer_new(st, throttle_cb, -st->tokens / st->rate);
	st->tp->pause(st, 1);
	log_debug("%s %llx throttled for %.2fs", st->proto->name,
	    (unsigned long long)st->connid, -st->tokens / st->rate);
}

void
stream_feed(struct stream *st, const char *p, size_t n)
{
	meter(st, n);
	while (n > 0 && !st->closed) {
		size_t used = n;
		enum xml_err e = xml_stream_feed(st->parser, p, n, &used);

		if (st->closed)
			return;
		if (e != XML_OK) {
			stream_fail(st,
			    e == XML_ERR_CLOSED ? "not-well-formed"
						: stream_xml_condition(e),
			    xml_stream_errmsg(st->parser));
			return;
		}
		if (st->restart) {
			st->restart = 0;
			xml_stream_restart(st->parser);
			/* RFC 6120 §5.4.3.3: plaintext pipelined behind
			 * <starttls/> is dropped, never read as XML of the
			 * new stream (TLS may already be running: the
			 * <proceed/> flush starts it at once) */
			if (st->tls_switch) {
				st->tls_switch = 0;
				if (n > used)
					log_info("%s %llx dropped %zu bytes "
						 "sent after <starttls/>",
					    st->proto->name,
					    (unsigned long long)st->connid,
					    n - used);
				return;
			}
		}
		if (used > n)
			used = n;
		p += used;
		n -= used;
	}
}

static void
xs_open(void *ud, struct xml_node *root, const char *cns)
{
	struct stream *st = ud;

	if (st->closing)
		stream_close(st, "a new header after our closing tag");
	else if (!st->closed)
		st->proto->open(st, root, cns);
}

/* Stanzas of jabber:server and jabber:component:accept streams are the
 * same stanzas as jabber:client's (RFC 6120 §4.8.3): inside the server
 * they all carry jabber:client, so modules look for one namespace. */
static void
to_client_ns(struct xml_node *n, const char *content_ns)
{
	struct xml_node *c;

	if (n->type != XML_ELEMENT || strcmp(n->ns, content_ns) != 0)
		return;
	n->ns = XML_NS_CLIENT;
	for (c = n->children; c; c = c->next)
		to_client_ns(c, content_ns);
}

static void
xs_element(void *ud, struct xml_node *el)
{
	struct stream *st = ud;

	/* after a restart was asked for, nothing more of the old stream
	 * is read (the parser stops there) */
	if (!st->closed && !st->restart) {
		if (strcmp(st->content_ns, XML_NS_CLIENT) != 0)
			to_client_ns(el, st->content_ns);
		st->proto->element(st, el);
	}
	xml_node_free(el);
}

static void
xs_close(void *ud)
{
	struct stream *st = ud;

	if (st->closed)
		return;
	if (st->closing)
		/* the answer to our closing tag: done */
		stream_close(st, "stream closed");
	else if (st->proto->close)
		st->proto->close(st);
	else
		stream_close(st, "stream closed");
}

void
stream_open_reply(struct stream *st, const char *from)
{
	rand_id(st->sid, sizeof(st->sid));
	st->tp->header(st, from, NULL, st->sid);
	st->header_sent = 1;
}

void
stream_open_initiate(struct stream *st, const char *from, const char *to)
{
	st->sid[0] = '\0';
	st->tp->header(st, from, to, NULL);
	st->header_sent = 1;
}

/* Where the start tag's name ends and whether it declares xmlns (a
 * default namespace). p is one serialised element. */
static size_t
start_tag(const char *p, size_t n, int *has_xmlns)
{
	size_t i = 1, name_end;
	char q;

	*has_xmlns = 0;
	while (i < n && p[i] != ' ' && p[i] != '/' && p[i] != '>')
		i++;
	name_end = i;
	while (i < n && p[i] != '>' && p[i] != '/') {
		if (p[i] == ' ' && i + 7 <= n &&
		    memcmp(p + i, " xmlns=", 7) == 0)
			*has_xmlns = 1;
		if (p[i] == '\'' || p[i] == '"') {
			q = p[i++];
			while (i < n && p[i] != q)
				i++;
		}
		i++;
	}
	return name_end;
}

void
stream_standalone(const char *p, size_t n, struct sbuf *out)
{
	size_t at;
	int has_xmlns;
	const char *decl;

	if (n < 2 || p[0] != '<') {
		sbuf_append(out, p, n);
		return;
	}
	at = start_tag(p, n, &has_xmlns);
	if (at > 8 && strncmp(p + 1, "stream:", 7) == 0)
		decl = " xmlns:stream='" XML_NS_STREAM "'";
	else if (!has_xmlns)
		decl = " xmlns='" XML_NS_CLIENT "'";
	else
		decl = "";
	sbuf_append(out, p, at);
	sbuf_puts(out, decl);
	sbuf_append(out, p + at, n - at);
}

int
stream_send(struct stream *st, struct xml_node *n)
{
	int rc = stream_send_node(st, n);

	xml_node_free(n);
	return rc;
}

int
stream_send_node(struct stream *st, const struct xml_node *n)
{
	struct sbuf b;
	struct rbuf *r;
	int rc;

	if (st->closing)
		return -1;
	sbuf_init(&b);
	xml_serialize(n, st->content_ns, &b);
	r = rbuf_from_sbuf(&b);
	sbuf_cleanup(&b);
	rc = st->tp->write(st, r, 0);
	rbuf_unref(r);
	return rc;
}

int
stream_send_rbuf(struct stream *st, struct rbuf *r)
{
	return st->closing ? -1 : st->tp->write(st, r, 0);
}

int
stream_send_str(struct stream *st, const char *s)
{
	struct rbuf *r;
	int rc;

	if (st->closing)
		return -1;
	r = rbuf_new(s, strlen(s));
	rc = st->tp->write(st, r, 0);

	rbuf_unref(r);
	return rc;
}

void
stream_fail(struct stream *st, const char *condition, const char *text)
{
	struct sbuf b;
	struct rbuf *r;

	if (st->closed)
		return;
	st->closed = 1;
	if (st->closing) {
		/* our closing tag is out: nothing may follow it */
		log_debug("%s %llx closed while closing: %s", st->proto->name,
		    (unsigned long long)st->connid, condition);
		st->tp->close(st, 1, condition);
		return;
	}
	if (!st->header_sent) {
		st->tp->header(st, st->local, NULL, NULL);
		st->header_sent = 1;
	}
	sbuf_init(&b);
	sbuf_puts(&b, "<stream:error><");
	sbuf_puts(&b, condition);
	sbuf_puts(&b, " xmlns='" NS_STREAMS "'/>");
	if (text) {
		sbuf_puts(&b, "<text xmlns='" NS_STREAMS "' xml:lang='en'>");
		sbuf_put_xml_escaped(&b, text, strlen(text));
		sbuf_puts(&b, "</text>");
	}
	sbuf_puts(&b, "</stream:error>");
	r = rbuf_from_sbuf(&b);
	sbuf_cleanup(&b);
	/* the error must get out even past the queue limit */
	st->tp->write(st, r, 1);
	rbuf_unref(r);
	st->tp->footer(st);
	log_debug("%s %llx stream error %s%s%s peer=%s", st->proto->name,
	    (unsigned long long)st->connid, condition, text ? ": " : "",
	    text ? text : "", st->peer);
	st->tp->close(st, 1, condition);
}

void
stream_close(struct stream *st, const char *why)
{
	if (st->closed)
		return;
	st->closed = 1;
	if (!st->closing)
		st->tp->footer(st);
	st->tp->close(st, 1, why);
}

/* Safe by pointer: stream_cleanup stops and frees it, from lost(). */
static void
linger_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct stream *st = w->data;

	UNUSED(l);
	UNUSED(revents);
	timer_drop(&st->linger);
	stream_close(st, "the peer did not close its stream");
}

void
stream_close_linger(struct stream *st, const char *why, double linger)
{
	if (st->closed || st->closing)
		return;
	if (!st->header_sent) {
		stream_close(st, why);
		return;
	}
	st->tp->footer(st);
	st->closing = 1;
	st->linger = timer_new(st, linger_cb, linger);
	log_debug("%s %llx closing (%s): reading until the peer closes",
	    st->proto->name, (unsigned long long)st->connid, why);
}

void
stream_restart(struct stream *st, SSL_CTX *tls)
{
	xml_stream_request_restart(st->parser);
	st->restart = 1;
	if (tls) {
		st->tls_switch = 1;
		st->tp->starttls(st, tls);
	}
}

SSL *
stream_ssl(const struct stream *st)
{
	return st->tp->ssl(st);
}

int
stream_secure(const struct stream *st)
{
	return st->secure || st->tp->ssl(st) != NULL;
}

void
stream_tls_settle(struct stream *st)
{
	if (st->tp->ssl(st) == NULL)
		return;
	st->secure = 1;
	if (st->tp->tls_settle)
		st->tp->tls_settle(st);
}

size_t
stream_queued(const struct stream *st)
{
	return st->tp->queued(st);
}

const char *
stream_xml_condition(enum xml_err e)
{
	switch (e) {
	case XML_ERR_RESTRICTED:
		return "restricted-xml";
	case XML_ERR_POLICY:
		return "policy-violation";
	case XML_ERR_INVALID_NS:
		return "invalid-namespace";
	case XML_ERR_BAD_FORMAT:
		return "bad-format";
	case XML_OK:
	case XML_ERR_CLOSED:
	case XML_ERR_NOT_WELL_FORMED:
	default:
		return "not-well-formed";
	}
}

/* ---- ALPN hand-off ---- */

#define ALPN_MAX 4

static struct {
	const char *proto;
	void (*adopt)(struct conn *c, const char *proto);
} alpn_tab[ALPN_MAX];

void
stream_alpn_register(
    const char *proto, void (*adopt)(struct conn *c, const char *proto))
{
	size_t i;

	for (i = 0; i < ALPN_MAX && alpn_tab[i].proto; i++)
		if (strcmp(alpn_tab[i].proto, proto) == 0)
			break;
	if (i == ALPN_MAX) {
		log_err("ALPN: no room for %s", proto);
		return;
	}
	alpn_tab[i].proto = proto;
	alpn_tab[i].adopt = adopt;
	tls_alpn_offer(proto);
}

/* ---- TCP and TLS on a struct conn ---- */

static struct conn *
conn_of(const struct stream *st)
{
	return st->tp_data;
}

static int
tcp_write(struct stream *st, struct rbuf *r, int force)
{
	struct conn *c = conn_of(st);

	if (c == NULL)
		return -1;
	if (force)
		c->max_queue = 0;
	return conn_write(c, r);
}

static void
tcp_header(struct stream *st, const char *from, const char *to, const char *id)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns='");
	sbuf_puts(&b, st->content_ns);
	sbuf_puts(&b, "' xmlns:stream='" XML_NS_STREAM "'");
	if (st->header_ns)
		sbuf_puts(&b, st->header_ns);
	if (id) {
		sbuf_puts(&b, " id='");
		sbuf_put_xml_escaped(&b, id, strlen(id));
		sbuf_putc(&b, '\'');
	}
	if (from) {
		sbuf_puts(&b, " from='");
		sbuf_put_xml_escaped(&b, from, strlen(from));
		sbuf_putc(&b, '\'');
	}
	if (to) {
		sbuf_puts(&b, " to='");
		sbuf_put_xml_escaped(&b, to, strlen(to));
		sbuf_putc(&b, '\'');
	}
	sbuf_puts(&b, " version='1.0' xml:lang='en'>");
	if (conn_of(st))
		conn_write_str(conn_of(st), b.data, b.len);
	sbuf_cleanup(&b);
}

static void
tcp_footer(struct stream *st)
{
	if (conn_of(st))
		conn_write_str(conn_of(st), "</stream:stream>", 16);
}

static void
tcp_close(struct stream *st, int flush, const char *why)
{
	if (conn_of(st))
		conn_close(conn_of(st), flush, why);
}

static void
tcp_starttls(struct stream *st, SSL_CTX *ctx)
{
	if (conn_of(st))
		conn_starttls(conn_of(st), ctx);
}

static SSL *
tcp_ssl(const struct stream *st)
{
	return conn_of(st) ? conn_of(st)->ssl : NULL;
}

static void
tcp_pause(struct stream *st, int paused)
{
	if (conn_of(st))
		conn_pause(conn_of(st), paused);
}

static size_t
tcp_queued(const struct stream *st)
{
	return conn_of(st) ? conn_of(st)->queued : 0;
}

static void
tcp_tls_settle(struct stream *st)
{
	if (conn_of(st))
		conn_tls_settle(conn_of(st));
}

static const struct stream_transport tcp_transport = {
	.name = "tcp",
	.write = tcp_write,
	.header = tcp_header,
	.footer = tcp_footer,
	.close = tcp_close,
	.starttls = tcp_starttls,
	.ssl = tcp_ssl,
	.pause = tcp_pause,
	.queued = tcp_queued,
	.tls_settle = tcp_tls_settle,
};

static void
tcp_data(struct conn *c, const char *p, size_t n)
{
	stream_feed(c->owner, p, n);
}

static void
tcp_closed(struct conn *c, const char *why)
{
	struct stream *st = c->owner;

	st->tp_data = NULL;
	stream_lost(st, why);
}

/* A Direct TLS handshake that chose another protocol by ALPN: the
 * connection goes to it before any XML was read or written. */
static void
tcp_tls_ready(struct conn *c)
{
	struct stream *st = c->owner;
	const unsigned char *sel = NULL;
	unsigned int len = 0;
	size_t i;

	if (!st->direct_tls || st->header_sent) {
		if (st->proto->tls_ready)
			st->proto->tls_ready(st);
		return;
	}
	SSL_get0_alpn_selected(c->ssl, &sel, &len);
	for (i = 0; sel && i < ALPN_MAX && alpn_tab[i].proto; i++) {
		if (strlen(alpn_tab[i].proto) != len ||
		    memcmp(alpn_tab[i].proto, sel, len) != 0)
			continue;
		log_debug("%s %llx handed to %s by ALPN", st->proto->name,
		    (unsigned long long)c->id, alpn_tab[i].proto);
		st->tp_data = NULL;
		stream_lost(st, "handed over by ALPN");
		alpn_tab[i].adopt(c, alpn_tab[i].proto);
		return;
	}
	if (st->proto->tls_ready)
		st->proto->tls_ready(st);
}

static const struct conn_ops tcp_conn_ops = {
	.data = tcp_data,
	.closed = tcp_closed,
	.tls_ready = tcp_tls_ready,
};

void
stream_attach_tcp(
    struct stream *st, int fd, const char *peer, SSL_CTX *ctx, size_t max_queue)
{
	struct conn *c = conn_new(fd, peer, ctx, &tcp_conn_ops, st);

	c->max_queue = max_queue;
	st->tp = &tcp_transport;
	st->tp_data = c;
	st->connid = c->id;
	st->direct_tls = ctx != NULL;
	snprintf(st->peer, sizeof(st->peer), "%s", peer);
}
/* ---- per-address limits ---- */

int
stream_ip_crowded(const char *ip)
{
	long long max = config_running->limits.conns_per_ip;

	return (long long)conn_ip_count(ip) > max;
}

#define THROTTLE_SLOTS 4096

/* A fixed table: an address whose slot another takes loses its count,
 * which bounds memory whatever the number of addresses. */
struct throttle {
	char ip[48];
	int64_t window; /* minute the count belongs to */
	unsigned failures;
};

static struct throttle *throttle_tab;

static struct throttle *
throttle_slot(const char *ip)
{
	uint32_t h = hash_bytes(HASH_INIT, ip, strlen(ip));
	struct throttle *t;
	int64_t minute = now_unix() / 60;

	if (throttle_tab == NULL)
		throttle_tab = xcalloc(THROTTLE_SLOTS, sizeof(*throttle_tab));
	t = &throttle_tab[h % THROTTLE_SLOTS];
	if (strcmp(t->ip, ip) != 0 || t->window != minute) {
		snprintf(t->ip, sizeof(t->ip), "%s", ip);
		t->window = minute;
		t->failures = 0;
	}
	return t;
}

void
stream_ip_auth_failed(const char *ip)
{
	throttle_slot(ip)->failures++;
}

int
stream_ip_auth_throttled(const char *ip)
{
	long long max = config_running->limits.sasl_failures_per_ip;

	return (long long)throttle_slot(ip)->failures >= max;
}

void
stream_attach_tcp_out(struct stream *st, int fd, const char *peer,
    SSL_CTX *direct_tls, const char *sni, const char *alpn, size_t max_queue)
{
	struct conn *c = conn_new(fd, peer, NULL, &tcp_conn_ops, st);

	c->max_queue = max_queue;
	conn_tls_client(c, sni, alpn);
	st->tp = &tcp_transport;
	st->tp_data = c;
	st->connid = c->id;
	snprintf(st->peer, sizeof(st->peer), "%s", peer);
	if (direct_tls) {
		st->direct_tls = 1;
		conn_starttls(c, direct_tls);
	}
}

void
stream_want_peer_cert(struct stream *st)
{
	if (conn_of(st))
		conn_want_peer_cert(conn_of(st));
}

/* websocket.c: XMPP over WebSocket (RFC 7395) as a framing of the stream
 * base: the same c2s state machine (SASL, bind, stream management) runs
 * over it as over TCP.
 *
 * An HTTP GET to /xmpp-websocket with an Upgrade to websocket and the
 * "xmpp" subprotocol (RFC 6455 §4.2, RFC 7395 §3.1) is answered 101 and
 * the connection becomes a WebSocket (frames by wslay: masking, ping and
 * pong, close codes, fragments, a message size limit). Each text message
 * is one element: <open/> becomes the stream header the parser expects,
 * <close/> its end tag, anything else is fed as it is. Out, each element
 * is one message, made standalone (the stream's namespaces declared on
 * it), the header an <open/> and the end a <close/>. */
#include "xmpp/websocket.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

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

#define WS_PATH "/xmpp-websocket"
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"

struct ws {
	struct conn *conn;
	wslay_event_context_ptr ctx;
	struct stream *st; /* the client stream over us; NULL once lost */
	const char *in;	   /* bytes from the socket not yet given to wslay */
	size_t in_len;
	unsigned closing : 1; /* our close frame is sent */
	ev_timer linger;      /* then the peer's is awaited, this long */
	/* test only (ws_test_*): no conn and no stream; what would go to
	 * the socket and to the stream parser is kept here */
	struct sbuf *test_out, *test_in;
	unsigned test_closed : 1;
};

#define LINGER 2.0 /* seconds for the peer's close frame */

static void linger_cb(struct ev_loop *l, ev_timer *t, int revents);

/* ---- the framing under the stream ---- */

static struct ws *
ws_of(const struct stream *st)
{
	return st->tp_data;
}

/* Is there still a connection (or a test one) under us? */
static int
ws_up(const struct ws *w)
{
	return w->conn != NULL || (w->test_out != NULL && !w->test_closed);
}

/* Close the connection (a test one is marked closed). */
static void
ws_drop(struct ws *w, const char *why)
{
	if (w->conn)
		conn_close(w->conn, 1, why);
	else if (w->test_out)
		w->test_closed = 1;
}

/* After our close frame, wait LINGER for the peer's (not in tests). */
static void
ws_linger(struct ws *w)
{
	w->closing = 1;
	if (w->conn == NULL)
		return;
	ev_timer_init(&w->linger, linger_cb, LINGER, 0.0);
	w->linger.data = w;
	ev_timer_start(loop_ev, &w->linger);
}

static void
ws_flush(struct ws *w)
{
	if (ws_up(w) && wslay_event_want_write(w->ctx))
		wslay_event_send(w->ctx);
}

static int
ws_text(struct ws *w, const char *p, size_t n)
{
	struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)p, n };

	if (!ws_up(w) || wslay_event_queue_msg(w->ctx, &m) != 0)
		return -1;
	ws_flush(w);
	return 0;
}

/* RFC 7395 §3.3: every message is a standalone element. What the stream
 * base serialises for a TCP stream relies on the header's declarations:
 * add them to the element itself. */
static int
ws_write_el(struct ws *w, const char *p, size_t n, int force)
{
	struct sbuf b;
	int rc;

	if (w == NULL || !ws_up(w))
		return -1;
	if (!force && w->conn && w->conn->max_queue &&
	    w->conn->queued > w->conn->max_queue)
		return -1;
	sbuf_init(&b);
	stream_standalone(p, n, &b);
	rc = ws_text(w, b.data, b.len);
	sbuf_cleanup(&b);
	return rc;
}

static int
ws_write(struct stream *st, struct rbuf *r, int force)
{
	return ws_write_el(ws_of(st), r->data, r->len, force);
}

static void
put_attr(struct sbuf *b, const char *name, const char *v)
{
	if (v == NULL)
		return;
	sbuf_putc(b, ' ');
	sbuf_puts(b, name);
	sbuf_puts(b, "='");
	sbuf_put_xml_escaped(b, v, strlen(v));
	sbuf_putc(b, '\'');
}

static void
ws_header(struct stream *st, const char *from, const char *to, const char *id)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_puts(&b, "<open xmlns='" NS_FRAMING "'");
	put_attr(&b, "from", from);
	put_attr(&b, "to", to);
	put_attr(&b, "id", id);
	sbuf_puts(&b, " version='1.0' xml:lang='en'/>");
	if (ws_of(st))
		ws_text(ws_of(st), b.data, b.len);
	sbuf_cleanup(&b);
}

static void
ws_footer(struct stream *st)
{
	static const char c[] = "<close xmlns='" NS_FRAMING "'/>";

	if (ws_of(st))
		ws_text(ws_of(st), c, sizeof(c) - 1);
}

/* Safe by pointer: ws_closed stops it before w is freed. */
static void
linger_cb(struct ev_loop *l, ev_timer *t, int revents)
{
	struct ws *w = t->data;

	UNUSED(l);
	UNUSED(revents);
	if (w->conn)
		conn_close(w->conn, 1, "websocket closed");
}

/* RFC 6455 §7.1.1: send our close frame, then read until the peer's
 * (its data is dropped) or LINGER: closing the socket with the peer's
 * bytes unread would reset it and lose our close frame. */
static void
ws_shutdown(struct ws *w, uint16_t code, const char *reason)
{
	if (!ws_up(w) || w->closing)
		return;
	wslay_event_queue_close(
	    w->ctx, code, (const uint8_t *)reason, reason ? strlen(reason) : 0);
	ws_flush(w);
	ws_linger(w);
}

/* RFC 7395 §3.6: after <close/> the server closes the WebSocket. */
static void
ws_close(struct stream *st, int flush, const char *why)
{
	struct ws *w = ws_of(st);

	UNUSED(flush);
	UNUSED(why);
	if (w)
		ws_shutdown(w, WSLAY_CODE_NORMAL_CLOSURE, NULL);
}

static SSL *
ws_ssl(const struct stream *st)
{
	struct ws *w = ws_of(st);

	return w && w->conn ? w->conn->ssl : NULL;
}

static void
ws_pause(struct stream *st, int paused)
{
	struct ws *w = ws_of(st);

	if (w && w->conn)
		conn_pause(w->conn, paused);
}

static size_t
ws_queued(const struct stream *st)
{
	struct ws *w = ws_of(st);

	return w && w->conn ? w->conn->queued : 0;
}

/* A bound session over wss needs OpenSSL's state no more than one over
 * STARTTLS (the HTTP side is done with it after the upgrade). */
static void
ws_tls_settle(struct stream *st)
{
	struct ws *w = ws_of(st);

	if (w && w->conn)
		conn_tls_settle(w->conn);
}

static const struct stream_transport ws_transport = {
	.name = "websocket",
	.write = ws_write,
	.header = ws_header,
	.footer = ws_footer,
	.close = ws_close,
	.starttls = NULL, /* TLS is the HTTPS under it */
	.ssl = ws_ssl,
	.pause = ws_pause,
	.queued = ws_queued,
	.tls_settle = ws_tls_settle,
};

/* ---- frames (wslay) ---- */

static ssize_t
recv_cb(
    wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
	struct ws *w = ud;
	size_t n = len < w->in_len ? len : w->in_len;

	UNUSED(flags);
	if (n == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	memcpy(buf, w->in, n);
	w->in += n;
	w->in_len -= n;
	return (ssize_t)n;
}

static ssize_t
send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
    void *ud)
{
	struct ws *w = ud;

	UNUSED(flags);
	if (!ws_up(w)) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	if (w->conn == NULL) {
		sbuf_append(w->test_out, (const char *)data, len);
		return (ssize_t)len;
	}
	/* the conn queues it all (its limit is checked by ws_write) */
	w->conn->max_queue = 0;
	conn_write_str(w->conn, (const char *)data, len);
	w->conn->max_queue = (size_t)config_running->limits.send_queue;
	return (ssize_t)len;
}

static void
feed(struct ws *w, const char *p, size_t n)
{
	if (w->test_in)
		sbuf_append(w->test_in, p, n);
	else if (w->st)
		stream_feed(w->st, p, n);
}

/* <open/>: the header the stream parser expects, with the client's to,
 * version and language (RFC 7395 §3.3.2). */
static void
open_frame(struct ws *w, const char *p, size_t n)
{
	struct xml_node *o = xml_parse_element(p, n);
	struct sbuf b;

	if (o == NULL || strcmp(o->ns, NS_FRAMING) != 0) {
		xml_node_free(o);
		feed(w, p, n); /* the parser reports what is wrong */
		return;
	}
	sbuf_init(&b);
	sbuf_puts(&b, "<stream:stream xmlns='" XML_NS_CLIENT
		      "' xmlns:stream='" XML_NS_STREAM "'");
	put_attr(&b, "to", xml_node_attr(o, "to"));
	put_attr(&b, "from", xml_node_attr(o, "from"));
	put_attr(&b, "version", xml_node_attr(o, "version"));
	put_attr(&b, "xml:lang", xml_node_attr_ns(o, XML_NS_XML, "lang"));
	sbuf_putc(&b, '>');
	xml_node_free(o);
	feed(w, b.data, b.len);
	sbuf_cleanup(&b);
}

static int
starts_with_el(const char *p, size_t n, const char *name)
{
	size_t l = strlen(name);

	return n > l + 1 && p[0] == '<' && memcmp(p + 1, name, l) == 0 &&
	       (p[l + 1] == ' ' || p[l + 1] == '/' || p[l + 1] == '>');
}

static void
on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
    void *ud)
{
	struct ws *w = ud;
	const char *p = (const char *)a->msg;
	size_t n = a->msg_length;

	UNUSED(ctx);
	if (a->opcode == WSLAY_CONNECTION_CLOSE) {
		/* the client ended the WebSocket (after its <close/>, or
		 * instead of it; wslay answered it): the stream ends too */
		w->closing = 1;
		ws_flush(w);
		ws_drop(w, "websocket closed");
		return;
	}
	if (w->closing || a->opcode != WSLAY_TEXT_FRAME) {
		/* RFC 7395 §3.2: text frames only */
		if (a->opcode == WSLAY_BINARY_FRAME)
			ws_shutdown(
			    w, WSLAY_CODE_UNSUPPORTED_DATA, "text frames only");
		return;
	}
	while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
		p++;
		n--;
	}
	if (n == 0)
		return; /* whitespace keepalive */
	if (starts_with_el(p, n, "open"))
		open_frame(w, p, n);
	else if (starts_with_el(p, n, "close"))
		feed(w, "</stream:stream>", 16);
	else
		feed(w, p, n);
}

static const struct wslay_event_callbacks ws_cbs = {
	.recv_callback = recv_cb,
	.send_callback = send_cb,
	.on_msg_recv_callback = on_msg,
};

/* ---- the connection ---- */

static void
ws_recv(struct ws *w, const char *p, size_t n)
{
	w->in = p;
	w->in_len = n;
	if (wslay_event_recv(w->ctx) != 0) {
		/* wslay failed the connection (it queued the close frame for
		 * a protocol error or a message too big) */
		w->in = NULL;
		w->in_len = 0;
		ws_flush(w);
		ws_drop(w, "websocket protocol error");
		return;
	}
	w->in = NULL;
	w->in_len = 0;
	ws_flush(w);
	/* wslay stops reading after a close frame (sent or received) */
	if (ws_up(w) && !wslay_event_want_read(w->ctx) && !w->closing)
		ws_linger(w);
}

static void
ws_data(struct conn *c, const char *p, size_t n)
{
	ws_recv(c->owner, p, n);
}

/* Deferred by pointer, safely: only ws_closed defers it, once. */
static void
ws_free(void *arg)
{
	struct ws *w = arg;

	wslay_event_context_free(w->ctx);
	free(w);
}

static void
ws_closed(struct conn *c, const char *why)
{
	struct ws *w = c->owner;

	w->conn = NULL;
	ev_timer_stop(loop_ev, &w->linger);
	if (w->st) {
		struct stream *st = w->st;

		w->st = NULL;
		st->tp_data = NULL;
		stream_lost(st, why);
	}
	loop_defer(ws_free, w);
}

static const struct conn_ops ws_conn_ops = {
	.data = ws_data,
	.closed = ws_closed,
};

/* a message is at most a stanza (the parser's limit applies too) */
static uint64_t
ws_max_msg(long long stanza_size)
{
	return (uint64_t)stanza_size + 1024;
}

static void
upgraded(void *arg, struct conn *c, const char *rest, size_t n)
{
	struct ws *w = xcalloc(1, sizeof(*w));

	UNUSED(arg);
	if (c == NULL) { /* a test conn of the HTTP server */
		free(w);
		return;
	}
	if (wslay_event_context_server_init(&w->ctx, &ws_cbs, w) != 0) {
		free(w);
		conn_close(c, 0, "out of memory");
		return;
	}
	wslay_event_config_set_max_recv_msg_length(
	    w->ctx, ws_max_msg(config_running->limits.c2s_stanza_size));
	w->conn = c;
	conn_set_owner(c, &ws_conn_ops, w);
	c->max_queue = (size_t)config_running->limits.send_queue;
	w->st = c2s_attach(&ws_transport, w, c->peer, c->id);
	if (n > 0)
		ws_data(c, rest, n);
}

/* RFC 6455 §4.2.2: Sec-WebSocket-Accept. */
static void
accept_key(const char *key, char out[64])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *cat = xasprintf("%s%s", key, WS_GUID);

	EVP_Digest(cat, strlen(cat), md, &n, EVP_sha1(), NULL);
	free(cat);
	b64_encode(md, n, out);
}

/* Does the comma-separated header value hold token (case-insensitive)? */
static int
has_token(const char *v, const char *token)
{
	size_t tl = strlen(token);

	while (v && *v) {
		while (*v == ' ' || *v == ',' || *v == '\t')
			v++;
		if (strncasecmp(v, token, tl) == 0 &&
		    (v[tl] == '\0' || v[tl] == ',' || v[tl] == ' ' ||
			v[tl] == '\t'))
			return 1;
		v = strchr(v, ',');
	}
	return 0;
}

static void
ws_handler(struct http_req *r)
{
	const char *key = http_req_header(r, "Sec-WebSocket-Key");
	const char *ver = http_req_header(r, "Sec-WebSocket-Version");
	const char *proto = http_req_header(r, "Sec-WebSocket-Protocol");
	char acc[64];

	if (r->meth != HTTP_M_GET) {
		http_add_header(r, "Allow: GET");
		http_error(r, 405);
		return;
	}
	if (!r->upgrade ||
	    !has_token(http_req_header(r, "Upgrade"), "websocket") ||
	    key == NULL || strlen(key) != 24) {
		/* RFC 6455 §4.2.1: not a WebSocket handshake */
		http_add_header(r, "Content-Type: text/plain");
		http_error(r, 400);
		return;
	}
	if (ver == NULL || strcmp(ver, "13") != 0) {
		http_add_header(r, "Sec-WebSocket-Version: 13");
		http_error(r, 426);
		return;
	}
	if (!has_token(proto, "xmpp")) {
		/* RFC 7395 §3.1: the xmpp subprotocol or nothing */
		http_error(r, 400);
		return;
	}
	accept_key(key, acc);
	http_add_header(r, "Upgrade: websocket");
	http_add_header(r, "Connection: Upgrade");
	http_add_header(r, "Sec-WebSocket-Accept: %s", acc);
	http_add_header(r, "Sec-WebSocket-Protocol: xmpp");
	http_respond(r, 101, NULL, NULL, 0);
	http_req_upgrade(r, upgraded, NULL);
}

void
websocket_init(void)
{
	http_route_add(NULL, WS_PATH, ws_handler, NULL);
}

/* ---- without a socket (the fuzz target only) ---- */

struct ws *
ws_test_new(size_t max_stanza, struct sbuf *out, struct sbuf *in)
{
	struct ws *w = xcalloc(1, sizeof(*w));

	if (wslay_event_context_server_init(&w->ctx, &ws_cbs, w) != 0)
		abort();
	wslay_event_config_set_max_recv_msg_length(
	    w->ctx, ws_max_msg((long long)max_stanza));
	w->test_out = out;
	w->test_in = in;
	return w;
}

void
ws_test_feed(struct ws *w, const char *p, size_t n)
{
	if (ws_up(w))
		ws_recv(w, p, n);
}

int
ws_test_write(struct ws *w, const char *p, size_t n)
{
	return ws_write_el(w, p, n, 1);
}

int
ws_test_closed(const struct ws *w)
{
	return w->test_closed;
}

void
ws_test_free(struct ws *w)
{
	ws_free(w);
}

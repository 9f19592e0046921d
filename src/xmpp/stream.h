/* stream.h: the stream base every XML stream runs on (c2s and components
 * today; s2s, WebSocket and BOSH next). One place for what RFC 6120 §4
 * says of every stream: the header and its reply, restarts (after
 * STARTTLS and SASL), stream errors (§4.9) and the closing tag, the
 * parser and its limits, and the byte rate a peer may send.
 *
 * Two interfaces meet here:
 *   - above, a protocol (struct stream_proto: c2s.c, component.c) gets
 *     the stream header, each top-level element and the end of the
 *     stream, and answers through stream_* calls; it never touches the
 *     socket, so the same SASL/bind/stream-management state machine runs
 *     over any framing;
 *   - below, a transport (struct stream_transport) carries the bytes and
 *     knows the framing: TCP and TLS on a struct conn (here), and later a
 *     WebSocket message per element (RFC 7395 <open/>/<close/>) or BOSH
 *     bodies, which translate their framing into stream_feed() input and
 *     render stream_* output in theirs.
 *
 * A protocol embeds struct stream in its own state and calls stream_init;
 * it frees that state itself from its lost() callback (deferred: lost may
 * run inside the parser). */
#ifndef TERN_STREAM_H
#define TERN_STREAM_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "xml/xml.h"

struct conn;
struct rbuf;
struct stream;

struct stream_proto {
	const char *name; /* "c2s", "component": for logs */
	/* A stream header arrived: the first, or the one after a restart.
	 * Answer with stream_open_reply (or stream_fail). */
	void (*open)(
	    struct stream *st, struct xml_node *root, const char *content_ns);
	/* One top-level element of the stream; the base frees it after. */
	void (*element)(struct stream *st, struct xml_node *el);
	/* The peer closed its stream (</stream:stream>). Optional: by
	 * default the base answers with its closing tag and closes. */
	void (*close)(struct stream *st);
	/* The transport is gone (peer closed, error, stream_close finished,
	 * or the connection was handed to another protocol). Called once;
	 * the protocol releases st here (stream_cleanup) and frees its
	 * state later (loop_defer): we may be inside the parser. */
	void (*lost)(struct stream *st, const char *why);
	/* TLS is up (Direct TLS, or after STARTTLS). Optional. */
	void (*tls_ready)(struct stream *st);
};

struct stream_transport {
	const char *name; /* "tcp", "websocket"... */
	/* Queue one rendered top-level element (or the closing tag). With
	 * force the queue limit is ignored (the stream error must get
	 * out); -1 when over the limit or gone. */
	int (*write)(struct stream *st, struct rbuf *r, int force);
	/* Render the stream header and the closing tag in this framing. */
	void (*header)(struct stream *st, const char *from, const char *to,
	    const char *id);
	void (*footer)(struct stream *st);
	/* End the connection, after writing what is queued if flush. */
	void (*close)(struct stream *st, int flush, const char *why);
	/* Switch to TLS once what is queued is written. NULL: the framing
	 * has no STARTTLS (WebSocket, BOSH run over HTTPS). */
	void (*starttls)(struct stream *st, SSL_CTX *ctx);
	/* The TLS session under the stream, or NULL. */
	SSL *(*ssl)(const struct stream *st);
	/* Stop or resume reading (rate limits). */
	void (*pause)(struct stream *st, int paused);
	/* Bytes queued and not yet written (for logs). */
	size_t (*queued)(const struct stream *st);
	/* The protocol will not need the SSL object again. Optional. */
	void (*tls_settle)(struct stream *st);
};

struct stream {
	const struct stream_proto *proto;
	const struct stream_transport *tp;
	void *tp_data; /* the transport's (the struct conn for TCP) */
	struct xml_stream *parser;
	const char *content_ns;
	/* more namespace declarations for our header, e.g. " xmlns:db='"
	 * "jabber:server:dialback'" (static), or NULL */
	const char *header_ns;
	char *local;	 /* the domain we speak as, once known */
	char sid[17];	 /* our stream id, new at every header we send */
	char peer[48];	 /* printable peer address */
	uint64_t connid; /* for logs: the connection's id */
	unsigned header_sent : 1;
	unsigned closed : 1; /* error sent or closing: ignore input */
	/* our closing tag is sent and input is still read until the
	 * peer's (stream_close_linger): nothing more may be sent */
	unsigned closing : 1;
	unsigned restart : 1;	  /* restart the parser after this element */
	unsigned tls_switch : 1;  /* the restart is the one after STARTTLS */
	unsigned lost_called : 1; /* proto->lost ran */
	unsigned direct_tls : 1;  /* TLS from the first byte (XEP-0368) */
	/* encrypted below a framing that has no TLS session of its own
	 * (BOSH requests over https): secure, but no channel binding */
	unsigned secure : 1;
	/* inbound byte rate (0: none): a token bucket; reading pauses
	 * while it is empty */
	double rate, burst, tokens;
	int64_t tokens_ms;
	ev_timer *throttle; /* only while paused */
	ev_timer *linger;   /* only while closing */
};

/* Set up st (zeroed by the caller) for proto with parser limits lim. */
void stream_init(struct stream *st, const struct stream_proto *proto,
    const char *content_ns, const struct xml_limits *lim);
/* Release what the base holds (parser, timers); from proto->lost. */
void stream_cleanup(struct stream *st);
/* TCP, or TLS from the first byte when ctx is set (Direct TLS): the
 * stream owns the socket from now on. max_queue bounds what may wait to
 * be written (slow consumers); 0 = no limit. */
void stream_attach_tcp(struct stream *st, int fd, const char *peer,
    SSL_CTX *ctx, size_t max_queue);
/* An outgoing connection (fd connected): we are the TLS client, sni and
 * alpn (wire format, or NULL) go in our hello; with direct_tls TLS
 * starts at once (XEP-0368), else at stream_restart(st, ctx). */
void stream_attach_tcp_out(struct stream *st, int fd, const char *peer,
    SSL_CTX *direct_tls, const char *sni, const char *alpn, size_t max_queue);
/* The connection's TLS peer certificate is asked for (s2s listeners). */
void stream_want_peer_cert(struct stream *st);

/* From a transport: the connection is gone (proto->lost, once). */
void stream_lost(struct stream *st, const char *why);

/* Input: bytes in the stream's XML, from the transport. */
void stream_feed(struct stream *st, const char *p, size_t n);
/* Limit inbound bytes per second (burst: the bucket's size). */
void stream_set_rate(struct stream *st, double rate, double burst);
void stream_set_limits(struct stream *st, const struct xml_limits *lim);
/* The domain we speak as (stream errors' headers name it). */
void stream_set_local(struct stream *st, const char *domain);

/* Output. The reply header (a new stream id in st->sid). */
void stream_open_reply(struct stream *st, const char *from);
/* The initiating entity's header (we connected): from and to, no id. */
void stream_open_initiate(struct stream *st, const char *from, const char *to);
/* Serialise n with the stream's namespace and queue it; frees n. -1 as
 * the transport's write. */
int stream_send(struct stream *st, struct xml_node *n);
/* The same, leaving n to the caller. */
int stream_send_node(struct stream *st, const struct xml_node *n);
/* Queue serialised bytes as they are (a reference is taken). */
int stream_send_rbuf(struct stream *st, struct rbuf *r);
int stream_send_str(struct stream *st, const char *s);
/* For framings that carry each element alone (WebSocket, BOSH): append
 * the element p (serialised for a TCP stream, relying on its header's
 * declarations) to out with the stream prefix or jabber:client declared
 * on it. */
struct sbuf;
void stream_standalone(const char *p, size_t n, struct sbuf *out);
/* <stream:error><condition/><text/></stream:error> and the closing tag,
 * then close after flushing. A header is sent first if none was (RFC
 * 6120 §4.9.1.2). Further input is ignored. */
void stream_fail(struct stream *st, const char *condition, const char *text);
/* Our closing tag, then close after flushing (RFC 6120 §4.4). */
void stream_close(struct stream *st, const char *why);
/* Our closing tag, but the connection stays until the peer closes its
 * stream too, or for at most linger seconds: what it sent before it
 * saw our tag is still read and handed to the protocol (RFC 6120 §4.4,
 * for closes the peer did not ask for: idle streams). Sends fail
 * meanwhile. */
void stream_close_linger(struct stream *st, const char *why, double linger);
/* The next header starts a new stream (RFC 6120 §4.3.3): after
 * SASL success, or after <proceed/> with tls set (STARTTLS begins once
 * the proceed is written; bytes pipelined behind it are dropped, §5.4.3.3). */
void stream_restart(struct stream *st, SSL_CTX *tls);
SSL *stream_ssl(const struct stream *st);
/* Is the stream encrypted (TLS under it, or a secure framing)? */
int stream_secure(const struct stream *st);
/* No more STARTTLS, SASL or channel binding on this stream: the
 * transport may give up what only they need (net/tls_rec.h);
 * stream_ssl may then return NULL while the stream stays secure. */
void stream_tls_settle(struct stream *st);
size_t stream_queued(const struct stream *st);

/* RFC 6120 §4.9.3 condition for a parser error. */
const char *stream_xml_condition(enum xml_err e);

/* A protocol chosen by ALPN (RFC 7301) on a Direct TLS port other than
 * XMPP's: when the handshake selects it, the connection is handed to
 * adopt (which takes it over with conn_set_owner) and the stream ends
 * without writing anything. Registering also makes the TLS contexts
 * offer it. */
void stream_alpn_register(
    const char *proto, void (*adopt)(struct conn *c, const char *proto));

/* Limits on one peer address, the same for every stream kind (c2s,
 * components). Is limits.conns_per_ip exceeded (the new connection is
 * counted already)? */
int stream_ip_crowded(const char *ip);
/* A failed authentication (SASL, component handshake) from ip; they are
 * counted per minute. */
void stream_ip_auth_failed(const char *ip);
/* Has ip failed limits.sasl_failures_per_ip times this minute? Then
 * no authentication is tried for it before the next minute. */
int stream_ip_auth_throttled(const char *ip);

#endif

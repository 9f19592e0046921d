/* http.h: an HTTP/1.1 server on the core's connections (plain, TLS, or a
 * Direct TLS conn handed over after ALPN chose http/1.1). Requests are
 * parsed with libhttp-parser; keep-alive and pipelining are supported
 * (one request is answered at a time, in order); request bodies, plain
 * or chunked, are streamed to the handler in pieces.
 *
 * A handler is found by the request's Host (without port) and the longest
 * matching path prefix; a route registered for host NULL serves any Host.
 * It is called once the headers are complete and either answers at once
 * (http_respond*, http_error) or takes the body (http_req_take_body) and
 * answers when the body has ended. Every limit a peer could abuse is
 * enforced while parsing, with the specified status (RFC 9110 §15, RFC
 * 6585 §5 for 431) and a close. */
#ifndef TERN_HTTP_H
#define TERN_HTTP_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/config.h"

struct conn;
struct http_conn;
struct http_req;

/* Listener flags a request carries (what the port it came by allows). */
enum {
	HTTP_L_TLS = 1,	    /* the connection is TLS */
	HTTP_L_METRICS = 2, /* the listener serves /metrics */
};

struct http_header {
	char *name; /* as sent */
	char *value;
};

enum http_method_kind {
	HTTP_M_OTHER,
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_PUT,
	HTTP_M_POST,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
};

struct http_req {
	const char *method; /* "GET", "HEAD", "PUT"... */
	enum http_method_kind meth;
	int head;    /* a HEAD request: the answer carries no body */
	char *path;  /* percent-decoded, without the query; starts with '/' */
	char *query; /* raw, without '?', or NULL */
	char *host;  /* the Host header, lower-case, without the port; "" */
	struct http_header *headers;
	size_t nheaders;
	/* the declared body: length (Content-Length), or chunked */
	int has_length, chunked;
	uint64_t length;
	/* Connection: upgrade with an Upgrade header (or CONNECT): a handler
	 * that answers 101 and calls http_req_upgrade switches protocols;
	 * otherwise the connection closes after the answer */
	int upgrade;
	int lflags;	  /* HTTP_L_* */
	const char *peer; /* the client's address */
	uint64_t conn_id; /* for logs */
	/* what the route's handler keeps with the request */
	void *route_ctx; /* given to http_route_add */
	void *ctx;	 /* the handler's own, freed by on_free */
	void (*on_free)(struct http_req *r);
	/* the server's */
	struct http_conn *hc;
	/* body streaming: set by http_req_take_body */
	int (*on_body)(struct http_req *r, const char *p, size_t n);
	void (*on_end)(struct http_req *r);
	uint64_t max_body;
	uint64_t body_seen;
	int answered; /* the status sent, or 0 */
	int hold;     /* http_req_hold: answered after on_end returns */
	struct sbuf resp_hdrs;
};

/* Called with the headers complete. Must either answer (then any body
 * that follows is refused and the connection closes after the answer),
 * or call http_req_take_body. */
typedef void (*http_handler_fn)(struct http_req *r);

/* Route path prefixes under host (NULL: any Host) to fn. A prefix ending
 * in '/' matches what is under it; otherwise the exact path and what is
 * under prefix + "/". Returns -1 when the same host and prefix is already
 * routed. */
int http_route_add(
    const char *host, const char *prefix, http_handler_fn fn, void *ctx);
void http_route_del(const char *host, const char *prefix);

/* The value of the first header called name (case-insensitive), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);
/* Take the body: on_body gets it in pieces as they arrive (returns 0, or
 * -1 after answering with an error: the connection then closes); on_end
 * runs when it is complete and must answer. A body longer than max
 * (0: http.max_body), declared or as it arrives, is answered 413 by the
 * server. */
void http_req_take_body(struct http_req *r,
    int (*on_body)(struct http_req *r, const char *p, size_t n),
    void (*on_end)(struct http_req *r), uint64_t max);

/* Answers. Headers first (each "Name: value", without CRLF), then the
 * answer: from memory, or len bytes of fd from off (the fd is the
 * server's from then on: it is closed when sent or on failure). The
 * server adds Date, Content-Length and Connection. */
void http_add_header(struct http_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void http_respond(struct http_req *r, int status, const char *type,
    const void *body, size_t len);
void http_respond_fd(struct http_req *r, int status, const char *type, int fd,
    off_t off, off_t len);
/* A short text/plain answer for an error status. */
void http_error(struct http_req *r, int status);
/* Switch protocols (RFC 9110 §7.8; WebSocket): call it with the 101
 * answer (its headers added, http_respond(r, 101, NULL, NULL, 0)). Once
 * the request is read the HTTP server lets go of the connection and
 * calls fn with it (NULL on a test conn) and the bytes that followed the
 * request; fn must set the conn's ops and owner. A test conn hands what
 * it is fed later to fn too. */
struct conn;
void http_req_upgrade(struct http_req *r,
    void (*fn)(void *arg, struct conn *c, const char *rest, size_t n),
    void *arg);
/* The answer comes later (long polling, BOSH): call it from on_end
 * (or the handler) without answering; http_respond may then be called
 * from any later iteration. Meanwhile the connection reads nothing more
 * and no timeout runs. If the connection dies first, r's on_free runs:
 * drop every pointer to r there. */
void http_req_hold(struct http_req *r);
/* Close the connection after this answer. */
void http_req_close_after(struct http_req *r);
const char *http_status_text(int status);

/* Accept on an http/https listener. */
void http_accept(int fd, const char *peer, const struct cfg_listener *l);
/* Take over an accepted conn (e.g. Direct TLS after ALPN chose http/1.1;
 * its handshake may be done): the conn's ops and owner become the HTTP
 * server's. data/n are bytes already read from it, or NULL/0. */
void http_conn_adopt(struct conn *c, int lflags, const char *data, size_t n);
/* Number of open HTTP connections. */
unsigned http_conn_count(void);
void http_close_all(void);
/* Register the loop hooks; once at start. */
void http_init(void);

/* A connection with no socket, for the fuzz target and unit tests: what
 * it would write is appended to out. */
struct http_conn *http_test_conn_new(int lflags, struct sbuf *out);
void http_test_conn_feed(struct http_conn *hc, const char *p, size_t n);
int http_test_conn_closed(const struct http_conn *hc);
void http_test_conn_free(struct http_conn *hc);

#endif

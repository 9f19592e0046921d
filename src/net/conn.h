/* conn.h: one socket (plain or TLS) on the event loop. Reads hand the
 * decrypted bytes to the owner; writes queue refcounted buffers that are
 * flushed (writev, or coalesced TLS records) when the loop is about to
 * sleep. A conn is never freed inside its own callbacks: conn_close marks
 * it, and it is freed at the end of the loop iteration. Idle conns own no
 * read buffer (one shared buffer serves all reads). */
#ifndef TERN_CONN_H
#define TERN_CONN_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct conn;

struct conn_ops {
	/* Bytes arrived (already decrypted). */
	void (*data)(struct conn *c, const char *p, size_t n);
	/* The conn is going away (peer closed, I/O error, or conn_close
	 * was called). Called once; the owner must drop its pointer. */
	void (*closed)(struct conn *c, const char *why);
	/* TLS handshake finished (STARTTLS or Direct TLS). Optional. */
	void (*tls_ready)(struct conn *c);
};

enum conn_state {
	CONN_OPEN,
	CONN_CLOSING, /* flushing the queue, then close */
	CONN_DEAD,    /* closed, waiting to be freed */
};

struct conn_wq {
	struct rbuf *buf;
	size_t off;
};

struct conn {
	int fd;
	enum conn_state state;
	ev_io rio, wio;
	SSL *ssl;
	unsigned tls_handshaking : 1;
	unsigned starttls_pending : 1; /* start TLS once the queue is empty */
	unsigned on_dirty_list : 1;
	unsigned read_paused : 1;
	unsigned io_held : 1; /* reading stopped by loop_io_held() */
	unsigned tls_direct : 1;
	unsigned close_timer_armed : 1;
	unsigned closed_called : 1;
	unsigned tls_client : 1;     /* we connected: TLS client side */
	unsigned want_peer_cert : 1; /* ask the peer for a certificate */
	unsigned tls_settled : 1;    /* the owner needs no more of SSL */
	unsigned tls_light : 1;	     /* TLS 1.3 records by tls_rec.c */
	char *tls_sni;		     /* client side: the name we expect */
	char *tls_alpn;		     /* client side: wire-format ALPN list */
	ev_timer close_timer;	     /* bounds the flush of a closing conn */
	const char *close_why;
	SSL_CTX *starttls_ctx;
	struct tls_rec *rec; /* TLS 1.3 state followed for tls_light */
	unsigned keyed;	     /* 1 + index among conns with cipher contexts */
	unsigned warm;	     /* 1 + index among conns waiting to go light */
	unsigned warm_recent : 1; /* active since the last sweep */
	size_t tls_retry_len; /* SSL_write must be retried with this length */
	struct conn_wq *wq;   /* ring of queued buffers */
	unsigned wq_head, wq_len, wq_cap;
	size_t queued;	  /* bytes not yet written */
	size_t max_queue; /* slow consumer limit; 0 = none */
	struct conn *dirty_next;
	struct conn *all_prev, *all_next;
	const struct conn_ops *ops;
	void *owner;
	uint64_t id;
	char peer[48];	    /* printable peer address */
	char local_ip_kind; /* '4' or '6' */
};

/* Take over an accepted socket. If tls_ctx is non-NULL the TLS handshake
 * starts at once (Direct TLS). */
struct conn *conn_new(int fd, const char *peer, SSL_CTX *tls_ctx,
    const struct conn_ops *ops, void *owner);
/* Queue bytes (takes a reference on r). Returns -1 when the queue limit
 * would be exceeded (the caller decides: stream error, close). */
int conn_write(struct conn *c, struct rbuf *r);
int conn_write_str(struct conn *c, const char *s, size_t n);
/* After the queue is flushed, switch to TLS with ctx (STARTTLS). */
void conn_starttls(struct conn *c, SSL_CTX *ctx);
/* Close: with flush, the queue is written first (bounded by a short
 * timer); ops->closed is called once. */
void conn_close(struct conn *c, int flush, const char *why);
int conn_is_tls(const struct conn *c);
/* Our side of TLS is the client's (an outgoing connection): sni names
 * the server, alpn is an ALPN list in wire format (length-prefixed
 * names) or NULL. Call before conn_starttls. */
void conn_tls_client(struct conn *c, const char *sni, const char *alpn);
/* Ask the peer for its certificate (server-to-server); checked by the
 * owner after the handshake. */
void conn_want_peer_cert(struct conn *c);
/* The owner will not ask for the SSL object again (no more STARTTLS,
 * SASL or channel binding): once idle, a TLS 1.3 connection may give
 * it up and keep only its record state (net/tls_rec.h). Whether it
 * does is the tls.light_sessions setting. */
void conn_tls_settle(struct conn *c);
/* Hand the conn to another owner (a protocol chosen by ALPN). */
void conn_set_owner(struct conn *c, const struct conn_ops *ops, void *owner);
/* Pause/resume reading (bandwidth limits, backpressure). */
void conn_pause(struct conn *c, int paused);
/* Number of conns alive; write everything now (shutdown). */
size_t conn_count(void);
/* Connections whose TLS records tls_rec.c carries. */
size_t conn_light_count(void);
/* Bytes queued and not yet written on every connection. */
size_t conn_queued_total(void);
void conn_flush_all(void);
/* Close every conn now, without flushing (last step of shutdown). */
void conn_close_all_now(void);
/* Called once at start: registers the idle-phase flush and reaper. */
void conn_init(void);
/* Number of open conns from a peer IP (for conns_per_ip). */
unsigned conn_ip_count(const char *ip);

#endif

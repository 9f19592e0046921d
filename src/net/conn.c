/* conn.c: sockets and TLS on the loop, with batched writes. */
#include "net/conn.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/config.h"
#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/tls_rec.h"

#define READ_CHUNK 16384
#define TLS_COALESCE 16384
#define IOV_BATCH 64

static char read_buf[READ_CHUNK];
static char tls_out[TLS_COALESCE];
/* light TLS (tls_rec.h): whole records in, one record out */
static unsigned char rec_in[2 * TLS_REC_MAX_WIRE];
static unsigned char rec_out[5 + TLS_REC_MAX_PLAIN + 1 + 16];
/* Every SWEEP s: TLS conns that were settled and quiet for a whole
 * sweep go light (so a login's presence and first pings, a few round
 * trips, still ride the handshake's cipher state, a login that ends at
 * once never changes hands, and a burst of logins does not hold many
 * SSL objects at a time: they would fragment the heap between the
 * sessions' small objects); every REC_SWEEP_EVERY sweeps (2 s) light
 * conns holding cipher contexts that were idle since the last such
 * sweep give them back (~1 KiB each). */
#define SWEEP 0.1
#define REC_SWEEP_EVERY 20
static ev_timer sweep_w;
static unsigned sweep_tick;
static struct conn **keyed_v;
static size_t keyed_n, keyed_cap;
static struct conn **warm_v; /* settled TLS conns waiting to go light */
static size_t warm_n, warm_cap;
static struct conn *dirty;
static struct conn *all_conns;
static struct conn **dead_v;
static size_t dead_n, dead_cap;
static size_t live;
static size_t live_light; /* of them tls_light */
static int any_held;	  /* some reads stopped by loop_io_held() */
static size_t live_peak;  /* most connections open since the last trim */
#define TRIM_DROP 1000	  /* a fall from the peak worth a malloc_trim */
static ev_timer trim_w;
static size_t trim_live; /* connections when trim_w was last armed */
/* SSL objects freed by light hand-overs since the last trim: each left
 * ~13 KiB of heap between the sessions' small objects */
static size_t light_since_trim;
static uint64_t next_id = 1;

/* per-IP connection counts: small open-addressing table */
struct ipcount {
	char ip[48];
	unsigned n;
};
static struct ipcount *ipt;
static size_t ipt_cap, ipt_used;

static struct ipcount *
ip_slot(const char *ip, int create)
{
	uint32_t h;
	size_t i;

	if (ipt_cap == 0) {
		if (!create)
			return NULL;
		ipt_cap = 256;
		ipt = xcalloc(ipt_cap, sizeof(*ipt));
	}
	if (create && (ipt_used + 1) * 2 > ipt_cap) {
		struct ipcount *old = ipt;
		size_t oldcap = ipt_cap, j;

		ipt_cap *= 2;
		ipt = xcalloc(ipt_cap, sizeof(*ipt));
		ipt_used = 0;
		for (j = 0; j < oldcap; j++) {
			if (old[j].n) {
				struct ipcount *s = ip_slot(old[j].ip, 1);

				s->n = old[j].n;
			}
		}
		free(old);
	}
	h = hash_bytes(HASH_INIT, ip, strlen(ip));
	for (i = h & (ipt_cap - 1);; i = (i + 1) & (ipt_cap - 1)) {
		if (ipt[i].ip[0] == '\0') {
			if (!create)
				return NULL;
			snprintf(ipt[i].ip, sizeof(ipt[i].ip), "%s", ip);
			ipt_used++;
			return &ipt[i];
		}
		if (strcmp(ipt[i].ip, ip) == 0)
			return &ipt[i];
	}
}

unsigned
conn_ip_count(const char *ip)
{
	struct ipcount *s = ip_slot(ip, 0);

	return s ? s->n : 0;
}

/* Slots are never emptied (tombstones would complicate probing); a count
 * of zero keeps the slot for reuse by the same address. */
static void
ip_adjust(const char *ip, int delta)
{
	struct ipcount *s = ip_slot(ip, 1);

	if (delta < 0 && s->n == 0)
		return;
	s->n = (unsigned)((int)s->n + delta);
}

static void rio_cb(struct ev_loop *l, ev_io *w, int revents);
static void wio_cb(struct ev_loop *l, ev_io *w, int revents);
static void do_flush(struct conn *c);

static void
mark_dirty(struct conn *c)
{
	if (c->on_dirty_list)
		return;
	c->on_dirty_list = 1;
	c->dirty_next = dirty;
	dirty = c;
}

/* The chain is checked after the handshake against the domain the peer
 * claims (tls_peer_check); the handshake itself takes any. */
static int
accept_any_cert(int ok, X509_STORE_CTX *x)
{
	UNUSED(ok);
	UNUSED(x);
	return 1;
}

static void
start_tls(struct conn *c, SSL_CTX *ctx)
{
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL) {
		conn_close(c, 0, "tls setup failed");
		return;
	}
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_app_data(c->ssl, c); /* ALPN asks whether it is Direct TLS */
	if (c->tls_client) {
		SSL_set_connect_state(c->ssl);
		if (c->tls_sni)
			SSL_set_tlsext_host_name(c->ssl, c->tls_sni);
		if (c->tls_alpn)
			SSL_set_alpn_protos(c->ssl,
			    (const unsigned char *)c->tls_alpn,
			    (unsigned)strlen(c->tls_alpn));
	} else {
		SSL_set_accept_state(c->ssl);
	}
	if (c->want_peer_cert)
		SSL_set_verify(c->ssl, SSL_VERIFY_PEER, accept_any_cert);
	c->tls_handshaking = 1;
}

struct conn *
conn_new(int fd, const char *peer, SSL_CTX *tls_ctx, const struct conn_ops *ops,
    void *owner)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->ops = ops;
	c->owner = owner;
	c->id = next_id++;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	ev_io_init(&c->rio, rio_cb, fd, EV_READ);
	ev_io_init(&c->wio, wio_cb, fd, EV_WRITE);
	c->rio.data = c;
	c->wio.data = c;
	ev_io_start(loop_ev, &c->rio);
	c->all_next = all_conns;
	if (all_conns)
		all_conns->all_prev = c;
	all_conns = c;
	live++;
	ip_adjust(c->peer, 1);
	if (tls_ctx) {
		c->tls_direct = 1;
		start_tls(c, tls_ctx);
	}
	return c;
}

void
conn_tls_client(struct conn *c, const char *sni, const char *alpn)
{
	c->tls_client = 1;
	free(c->tls_sni);
	c->tls_sni = sni ? xstrdup(sni) : NULL;
	free(c->tls_alpn);
	c->tls_alpn = alpn ? xstrdup(alpn) : NULL;
}

void
conn_want_peer_cert(struct conn *c)
{
	c->want_peer_cert = 1;
	if (c->ssl && c->tls_handshaking)
		SSL_set_verify(c->ssl, SSL_VERIFY_PEER, accept_any_cert);
}

void
conn_set_owner(struct conn *c, const struct conn_ops *ops, void *owner)
{
	c->ops = ops;
	c->owner = owner;
}

int
conn_is_tls(const struct conn *c)
{
	return (c->ssl != NULL && !c->tls_handshaking) || c->tls_light;
}

size_t
conn_count(void)
{
	return live;
}

size_t
conn_queued_total(void)
{
	const struct conn *c;
	size_t n = 0;

	for (c = all_conns; c; c = c->all_next)
		n += c->queued;
	return n;
}

int
conn_write(struct conn *c, struct rbuf *r)
{
	if (c->state != CONN_OPEN || r->len == 0)
		return 0;
	/* an empty queue takes one buffer of any size: a stanza bigger
	 * than the queue (limits.send_queue may be set below the stanza
	 * limits) is not a slow reader */
	if (c->max_queue && c->queued && c->queued + r->len > c->max_queue)
		return -1;
	if (c->wq_len == c->wq_cap) {
		unsigned ncap = c->wq_cap ? c->wq_cap * 2 : 4, i;
		struct conn_wq *n = xmalloc(ncap * sizeof(*n));

		for (i = 0; i < c->wq_len; i++)
			n[i] = c->wq[(c->wq_head + i) % c->wq_cap];
		free(c->wq);
		c->wq = n;
		c->wq_cap = ncap;
		c->wq_head = 0;
	}
	c->wq[(c->wq_head + c->wq_len) % c->wq_cap].buf = rbuf_ref(r);
	c->wq[(c->wq_head + c->wq_len) % c->wq_cap].off = 0;
	c->wq_len++;
	c->queued += r->len;
	mark_dirty(c);
	return 0;
}

int
conn_write_str(struct conn *c, const char *s, size_t n)
{
	struct rbuf *r = rbuf_new(s, n);
	int rc = conn_write(c, r);

	rbuf_unref(r);
	return rc;
}

/* Drop n written bytes from the head of the queue. */
static void
wq_consume(struct conn *c, size_t n)
{
	c->queued -= n;
	while (n > 0 && c->wq_len > 0) {
		struct conn_wq *q = &c->wq[c->wq_head];
		size_t left = q->buf->len - q->off;

		if (n < left) {
			q->off += n;
			return;
		}
		n -= left;
		rbuf_unref(q->buf);
		c->wq_head = (c->wq_head + 1) % c->wq_cap;
		c->wq_len--;
	}
	if (c->wq_len == 0) {
		/* give the ring back while idle */
		free(c->wq);
		c->wq = NULL;
		c->wq_cap = 0;
		c->wq_head = 0;
	}
}

/* Copy up to want bytes from the head of the queue to out (one TLS
 * record's worth: records are made from coalesced stanzas). */
static size_t
wq_gather(const struct conn *c, char *out, size_t want)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; i < c->wq_len && n < want; i++) {
		const struct conn_wq *q = &c->wq[(c->wq_head + i) % c->wq_cap];
		size_t l = q->buf->len - q->off;

		if (l > want - n)
			l = want - n;
		memcpy(out + n, q->buf->data + q->off, l);
		n += l;
	}
	return n;
}

static void
wq_clear(struct conn *c)
{
	while (c->wq_len > 0) {
		rbuf_unref(c->wq[c->wq_head].buf);
		c->wq_head = (c->wq_head + 1) % c->wq_cap;
		c->wq_len--;
	}
	free(c->wq);
	c->wq = NULL;
	c->wq_cap = c->wq_head = 0;
	c->queued = 0;
}

/* ---- light TLS: records by tls_rec.c once OpenSSL's state is gone ---- */

static void final_close(struct conn *c, const char *why);

static int
light_pending(const struct conn *c)
{
	return c->tls_light && c->rec->out_len > c->rec->out_off;
}

/* Write a sealed record (after what waits): 1 all written, 0 the rest
 * waits for the socket, -1 closed. */
static int
light_send(struct conn *c, const unsigned char *p, size_t n)
{
	struct tls_rec *r = c->rec;
	ssize_t w = 0;

	if (!light_pending(c)) {
		w = write(c->fd, p, n);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				final_close(c, "write error");
				return -1;
			}
			w = 0;
		}
		if ((size_t)w == n)
			return 1;
		free(r->out);
		r->out = NULL;
		r->out_len = r->out_off = 0;
	}
	/* keep what the socket did not take */
	if (r->out_off > 0) {
		memmove(r->out, r->out + r->out_off, r->out_len - r->out_off);
		r->out_len -= r->out_off;
		r->out_off = 0;
	}
	r->out = xrealloc(r->out, r->out_len + n - (size_t)w);
	memcpy(r->out + r->out_len, p + w, n - (size_t)w);
	r->out_len += n - (size_t)w;
	ev_io_start(loop_ev, &c->wio);
	return 0;
}

/* Write what waits from earlier records: 1 done, 0 blocked, -1 closed. */
static int
light_send_pending(struct conn *c)
{
	struct tls_rec *r = c->rec;

	while (light_pending(c)) {
		ssize_t w =
		    write(c->fd, r->out + r->out_off, r->out_len - r->out_off);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				ev_io_start(loop_ev, &c->wio);
				return 0;
			}
			final_close(c, "write error");
			return -1;
		}
		r->out_off += (size_t)w;
	}
	free(r->out);
	r->out = NULL;
	r->out_len = r->out_off = 0;
	return 1;
}

/* A control record (alert, KeyUpdate) of n bytes. */
static int
light_control(struct conn *c, int type, const unsigned char *p, size_t n)
{
	unsigned char rec[5 + 8 + 1 + 16];
	long len;

	memcpy(rec + 5, p, n);
	len = tls_rec_seal(c->rec, type, rec, n);
	if (len < 0) {
		final_close(c, "tls write error");
		return -1;
	}
	return light_send(c, rec, (size_t)len);
}

static void
light_close_notify(struct conn *c)
{
	static const unsigned char alert[2] = { 1, 0 }; /* close_notify */
	unsigned char rec[5 + 2 + 1 + 16];
	long len;

	if (light_pending(c))
		return; /* best effort, as SSL_shutdown on a full socket */
	memcpy(rec + 5, alert, 2);
	len = tls_rec_seal(c->rec, 21, rec, 2);
	if (len > 0 && write(c->fd, rec, (size_t)len) < 0)
		errno = 0;
}

/* The peer asked for our KeyUpdate too (RFC 8446 §4.6.3): one, before
 * our next data record, however many requests came meanwhile. */
static int
light_key_update(struct conn *c)
{
	static const unsigned char ku[5] = { 24, 0, 0, 1, 0 };

	c->rec->ku_reply = 0;
	if (light_control(c, 22, ku, sizeof(ku)) < 0)
		return -1;
	if (tls_rec_write_update(c->rec) < 0) {
		final_close(c, "tls key update failed");
		return -1;
	}
	return 0;
}

/* One record's plaintext: 0 go on, -1 the conn is closing. */
static int
light_record(struct conn *c, int type, unsigned char *p, size_t n)
{
	int reply = 0;

	switch (type) {
	case 23:
		if (n > 0)
			c->ops->data(c, (const char *)p, n);
		return 0;
	case 22:
		if (tls_rec_handshake(c->rec, p, n, &reply) < 0) {
			final_close(c, "tls unexpected message");
			return -1;
		}
		if (reply) {
			c->rec->ku_reply = 1;
			mark_dirty(c); /* do_flush sends it */
		}
		return 0;
	case 21:
		final_close(c,
		    n == 2 && p[1] == 0 ? "peer closed" : "tls alert received");
		return -1;
	default:
		final_close(c, "tls unexpected record");
		return -1;
	}
}

static void
light_read(struct conn *c)
{
	struct tls_rec *r = c->rec;
	int rounds;

	for (rounds = 0; rounds < 8; rounds++) {
		size_t have = 0, pos = 0, room;
		ssize_t n;
		int eof = 0;

		if (r->in_len > 0) {
			memcpy(rec_in, r->in, r->in_len);
			have = r->in_len;
			free(r->in);
			r->in = NULL;
			r->in_len = 0;
		}
		room = sizeof(rec_in) - have;
		n = room ? read(c->fd, rec_in + have, room) : 0;
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				final_close(c, "read error");
				return;
			}
			n = 0;
		} else if (n == 0 && room > 0) {
			eof = 1;
		}
		have += (size_t)n;
		while (c->state == CONN_OPEN && !c->read_paused) {
			long need = tls_rec_need(rec_in + pos, have - pos);
			unsigned char *pt;
			size_t ptlen;
			int type;

			if (need < 0) {
				final_close(c, "tls record error");
				return;
			}
			if (need == 0 || (size_t)need > have - pos)
				break;
			type = tls_rec_open(
			    r, rec_in + pos, (size_t)need, &pt, &ptlen);
			pos += (size_t)need;
			if (type < 0) {
				final_close(c, "tls bad record");
				return;
			}
			if (light_record(c, type, pt, ptlen) < 0)
				return;
		}
		if (c->state != CONN_OPEN)
			return;
		if (pos < have) {
			r->in_len = have - pos;
			r->in = xmalloc(r->in_len);
			memcpy(r->in, rec_in + pos, r->in_len);
		}
		if (eof) {
			final_close(c, "peer closed");
			return;
		}
		/* the socket is empty, or the owner paused us */
		if ((size_t)n < room || c->read_paused || eof)
			return;
	}
	ev_feed_event(loop_ev, &c->rio, EV_READ);
}

static void
flush_light(struct conn *c)
{
	if (light_send_pending(c) <= 0)
		return;
	if (c->rec->ku_reply && (light_key_update(c) < 0 || light_pending(c)))
		return;
	while (c->wq_len > 0) {
		size_t n = wq_gather(c, (char *)rec_out + 5, TLS_REC_MAX_PLAIN);
		long len = tls_rec_seal(c->rec, 23, rec_out, n);

		if (len < 0) {
			final_close(c, "tls write error");
			return;
		}
		wq_consume(c, n);
		if (light_send(c, rec_out, (size_t)len) <= 0)
			return;
	}
}

/* Idle and settled: let OpenSSL's state go (tls_rec.h). */
static void
try_light(struct conn *c)
{
	int rc;

	if (!c->tls_settled || c->ssl == NULL || c->tls_handshaking ||
	    c->state != CONN_OPEN || c->wq_len > 0 || c->tls_retry_len ||
	    c->starttls_pending || config_running == NULL ||
	    !config_running->tls.light_sessions)
		return;
	rc = tls_rec_take(c);
	if (rc == -1)
		return; /* not now: later */
	if (rc < 0) {
		c->tls_settled = 0; /* it stays with OpenSSL */
		tls_rec_free(c->rec);
		c->rec = NULL;
		return;
	}
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->tls_light = 1;
	live_light++;
	/* a thousand hand-overs (a login burst): give the freed handshake
	 * state back a second after the last, as after mass disconnects */
	if (++light_since_trim >= TRIM_DROP) {
		ev_timer_stop(loop_ev, &trim_w);
		ev_timer_set(&trim_w, 1.0, 0.0);
		ev_timer_start(loop_ev, &trim_w);
	}
	log_debug(
	    "conn %llx tls light peer=%s", (unsigned long long)c->id, c->peer);
}

static void
warm_del(struct conn *c)
{
	struct conn *last;

	if (c->warm == 0)
		return;
	last = warm_v[--warm_n];
	warm_v[c->warm - 1] = last;
	last->warm = c->warm;
	c->warm = 0;
}

/* Activity on a TLS conn: if it may go light, it does once a whole
 * sweep passes without any (sweep_cb). */
static void
light_later(struct conn *c)
{
	if (!c->tls_settled || c->ssl == NULL || config_running == NULL ||
	    !config_running->tls.light_sessions)
		return;
	c->warm_recent = 1;
	if (c->warm)
		return;
	if (warm_n == warm_cap) {
		warm_cap = warm_cap ? warm_cap * 2 : 64;
		warm_v = xrealloc(warm_v, warm_cap * sizeof(*warm_v));
	}
	warm_v[warm_n++] = c;
	c->warm = (unsigned)warm_n;
}

size_t
conn_light_count(void)
{
	return live_light;
}

void
conn_tls_settle(struct conn *c)
{
	c->tls_settled = 1;
	light_later(c);
}

static void
keyed_del(struct conn *c)
{
	struct conn *last;

	if (c->keyed == 0)
		return;
	last = keyed_v[--keyed_n];
	keyed_v[c->keyed - 1] = last;
	last->keyed = c->keyed;
	c->keyed = 0;
}

/* After reading or writing: a conn that made cipher contexts is swept. */
static void
keyed_note(struct conn *c)
{
	if (c->keyed || !c->tls_light || c->state == CONN_DEAD ||
	    (c->rec->rd.ctx == NULL && c->rec->wr.ctx == NULL))
		return;
	if (keyed_n == keyed_cap) {
		keyed_cap = keyed_cap ? keyed_cap * 2 : 64;
		keyed_v = xrealloc(keyed_v, keyed_cap * sizeof(*keyed_v));
	}
	keyed_v[keyed_n++] = c;
	c->keyed = (unsigned)keyed_n;
}

static void
sweep_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	size_t i;

	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	/* downwards: *_del moves the last (already seen) into i */
	for (i = warm_n; i-- > 0;) {
		struct conn *c = warm_v[i];

		if (c->warm_recent) {
			c->warm_recent = 0;
			continue;
		}
		try_light(c); /* may say "not now": then it stays */
		if (c->ssl == NULL || !c->tls_settled || c->state != CONN_OPEN)
			warm_del(c);
	}
	if (++sweep_tick % REC_SWEEP_EVERY)
		return;
	for (i = keyed_n; i-- > 0;)
		if (!tls_rec_sweep(keyed_v[i]->rec))
			keyed_del(keyed_v[i]);
}

static void
reap(struct conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	ev_io_stop(loop_ev, &c->rio);
	ev_io_stop(loop_ev, &c->wio);
	if (c->close_timer_armed)
		ev_timer_stop(loop_ev, &c->close_timer);
	c->close_timer_armed = 0;
	if (dead_n == dead_cap) {
		dead_cap = dead_cap ? dead_cap * 2 : 64;
		dead_v = xrealloc(dead_v, dead_cap * sizeof(*dead_v));
	}
	dead_v[dead_n++] = c;
}

static void
final_close(struct conn *c, const char *why)
{
	if (c->state == CONN_DEAD)
		return;
	if (c->ssl && !c->tls_handshaking)
		SSL_shutdown(c->ssl); /* best effort close_notify */
	else if (c->tls_light)
		light_close_notify(c);
	reap(c);
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		all_conns = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	live--;
	if (c->tls_light)
		live_light--;
	keyed_del(c);
	warm_del(c);
	ip_adjust(c->peer, -1);
	if (!c->closed_called) {
		c->closed_called = 1;
		if (c->ops->closed)
			c->ops->closed(c, why);
	}
}

/* Safe by pointer: reap() stops it (and both io watchers) before
 * reap_all frees the conn. */
static void
close_timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	UNUSED(l);
	UNUSED(revents);
	c->close_timer_armed = 0;
	final_close(c, c->close_why ? c->close_why : "closed");
}

void
conn_close(struct conn *c, int flush, const char *why)
{
	if (c->state != CONN_OPEN)
		return;
	if (flush && (c->queued > 0 || light_pending(c)) &&
	    !c->tls_handshaking) {
		c->state = CONN_CLOSING;
		c->close_why = why;
		ev_io_stop(loop_ev, &c->rio);
		ev_timer_init(&c->close_timer, close_timer_cb, 5.0, 0.0);
		c->close_timer.data = c;
		ev_timer_start(loop_ev, &c->close_timer);
		c->close_timer_armed = 1;
		mark_dirty(c);
		return;
	}
	final_close(c, why);
}

void
conn_starttls(struct conn *c, SSL_CTX *ctx)
{
	if (c->state != CONN_OPEN || c->ssl || c->tls_light)
		return;
	c->starttls_pending = 1;
	c->starttls_ctx = ctx;
	mark_dirty(c);
	/* Flush <proceed/> now: the client starts its handshake as soon
	 * as it sees it, and the next read must already be TLS. */
	do_flush(c);
}

void
conn_pause(struct conn *c, int paused)
{
	if (c->state != CONN_OPEN || c->read_paused == (unsigned)!!paused)
		return;
	c->read_paused = !!paused;
	if (paused) {
		ev_io_stop(loop_ev, &c->rio);
		return;
	}
	ev_io_start(loop_ev, &c->rio);
	/* bytes TLS read ahead before the pause raise no socket event */
	if ((c->ssl && SSL_has_pending(c->ssl)) ||
	    (c->tls_light && c->rec->in_len > 0)) {
		ev_feed_event(loop_ev, &c->rio, EV_READ);
		loop_kick();
	}
}

static const char *
ssl_errstr(void)
{
	unsigned long e = ERR_get_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return s ? s : "tls error";
}

/* 1 done, 0 in progress, -1 failed (conn closed) */
static int
handshake(struct conn *c)
{
	int r = SSL_do_handshake(c->ssl);

	if (r == 1) {
		c->tls_handshaking = 0;
		ev_io_stop(loop_ev, &c->wio);
		if (c->ops->tls_ready)
			c->ops->tls_ready(c);
		if (c->queued)
			mark_dirty(c);
		return 1;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		ev_io_stop(loop_ev, &c->wio);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		ev_io_start(loop_ev, &c->wio);
		return 0;
	default:
		log_debug("conn %llx tls handshake failed peer=%s: %s",
		    (unsigned long long)c->id, c->peer, ssl_errstr());
		final_close(c, "tls handshake failed");
		return -1;
	}
}

static void
rio_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct conn *c = w->data;
	int rounds;

	UNUSED(l);
	UNUSED(revents);
	if (c->state != CONN_OPEN)
		return;
	if (loop_io_held()) {
		ev_io_stop(loop_ev, &c->rio);
		c->io_held = 1;
		any_held = 1;
		return;
	}
	if (c->tls_handshaking && handshake(c) <= 0)
		return;
	if (c->tls_light) {
		light_read(c);
		keyed_note(c);
		return;
	}
	/* bounded work per wake-up keeps one busy peer from starving
	 * the others */
	for (rounds = 0; rounds < 8 && c->state == CONN_OPEN && !c->read_paused;
	     rounds++) {
		ssize_t n;

		if (c->ssl) {
			int r = SSL_read(c->ssl, read_buf, sizeof(read_buf));

			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				if (e == SSL_ERROR_WANT_READ) {
					light_later(c);
					return;
				}
				if (e == SSL_ERROR_WANT_WRITE) {
					ev_io_start(loop_ev, &c->wio);
					return;
				}
				final_close(c, e == SSL_ERROR_ZERO_RETURN
						   ? "peer closed"
						   : "tls read error");
				ERR_clear_error();
				return;
			}
			n = r;
		} else {
			n = read(c->fd, read_buf, sizeof(read_buf));
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return;
				final_close(c, "read error");
				return;
			}
			if (n == 0) {
				final_close(c, "peer closed");
				return;
			}
		}
		c->ops->data(c, read_buf, (size_t)n);
		if (c->ssl == NULL && c->starttls_pending)
			return; /* the rest of the bytes belong to TLS */
		if (c->tls_handshaking)
			return;
		/* a short read emptied the socket: the next read() would
		 * only say EAGAIN (epoll calls again when more comes) */
		if ((size_t)n < sizeof(read_buf) &&
		    (c->ssl == NULL || !SSL_has_pending(c->ssl))) {
			if (c->ssl)
				light_later(c);
			return;
		}
	}
	/* Data may remain buffered in the SSL object without a socket
	 * event: come back on the next iteration. */
	if (c->state == CONN_OPEN && !c->read_paused && c->ssl &&
	    SSL_has_pending(c->ssl))
		ev_feed_event(loop_ev, &c->rio, EV_READ);
}

static void
flush_plain(struct conn *c)
{
	while (c->wq_len > 0) {
		struct iovec iov[IOV_BATCH];
		int n = 0;
		unsigned i;
		ssize_t w;

		for (i = 0; i < c->wq_len && n < IOV_BATCH; i++) {
			struct conn_wq *q =
			    &c->wq[(c->wq_head + i) % c->wq_cap];

			iov[n].iov_base = q->buf->data + q->off;
			iov[n].iov_len = q->buf->len - q->off;
			n++;
		}
		w = writev(c->fd, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				ev_io_start(loop_ev, &c->wio);
				return;
			}
			final_close(c, "write error");
			return;
		}
		wq_consume(c, (size_t)w);
	}
}

static void
flush_tls(struct conn *c)
{
	while (c->wq_len > 0) {
		size_t n = wq_gather(c, tls_out,
		    c->tls_retry_len ? c->tls_retry_len : sizeof(tls_out));
		int r = SSL_write(c->ssl, tls_out, (int)n);

		if (r <= 0) {
			int e = SSL_get_error(c->ssl, r);

			c->tls_retry_len = n;
			if (e == SSL_ERROR_WANT_WRITE) {
				ev_io_start(loop_ev, &c->wio);
				return;
			}
			if (e == SSL_ERROR_WANT_READ)
				return;
			ERR_clear_error();
			final_close(c, "tls write error");
			return;
		}
		c->tls_retry_len = 0;
		wq_consume(c, (size_t)r);
	}
}

static void
do_flush(struct conn *c)
{
	if (c->state == CONN_DEAD || c->tls_handshaking)
		return;
	if (c->ssl)
		flush_tls(c);
	else if (c->tls_light) {
		flush_light(c);
		keyed_note(c);
	} else {
		flush_plain(c);
	}
	if (c->state == CONN_DEAD || c->wq_len > 0 || light_pending(c))
		return;
	ev_io_stop(loop_ev, &c->wio);
	if (c->starttls_pending && c->ssl == NULL) {
		c->starttls_pending = 0;
		start_tls(c, c->starttls_ctx);
		if (c->ssl)
			handshake(c);
		return;
	}
	if (c->state == CONN_CLOSING) {
		final_close(c, c->close_why ? c->close_why : "closed");
		return;
	}
	if (c->ssl)
		light_later(c);
}

static void
wio_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct conn *c = w->data;

	UNUSED(l);
	UNUSED(revents);
	if (c->state == CONN_DEAD)
		return;
	if (loop_io_held()) {
		ev_io_stop(loop_ev, &c->wio);
		mark_dirty(c); /* conn_flush_all takes it up again */
		return;
	}
	if (c->tls_handshaking) {
		handshake(c);
		return;
	}
	do_flush(c);
}

/* Storage works again: restart the reads loop_io_held() stopped. */
static void
release_reads(void)
{
	struct conn *c;

	any_held = 0;
	for (c = all_conns; c; c = c->all_next) {
		if (!c->io_held)
			continue;
		c->io_held = 0;
		if (c->state != CONN_OPEN || c->read_paused)
			continue;
		ev_io_start(loop_ev, &c->rio);
		ev_feed_event(loop_ev, &c->rio, EV_READ);
	}
	/* those reads run after this iteration's flush */
	loop_kick();
}

void
conn_flush_all(void)
{
	if (loop_io_held())
		return;
	if (any_held)
		release_reads();
	while (dirty) {
		struct conn *c = dirty;

		dirty = c->dirty_next;
		c->dirty_next = NULL;
		c->on_dirty_list = 0;
		do_flush(c);
	}
}

static void
trim_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	live_peak = live;
	light_since_trim = 0;
	malloc_trim(0);
}

static void
reap_all(void)
{
	size_t i;

	/* the dirty list may still name a dead conn: flush first */
	conn_flush_all();
	for (i = 0; i < dead_n; i++) {
		struct conn *c = dead_v[i];

		if (c->ssl)
			SSL_free(c->ssl);
		tls_rec_free(c->rec);
		close(c->fd);
		wq_clear(c);
		free(c->tls_sni);
		free(c->tls_alpn);
		free(c);
	}
	dead_n = 0;
	/* after a mass disconnect (a network outage, a restarted proxy)
	 * hand the freed heap back to the kernel: the allocator would keep
	 * it for good otherwise. Steady churn (logins and logouts) never
	 * falls that far below its peak, so it pays nothing. */
	if (live > live_peak)
		live_peak = live;
	if (live_peak - live >= TRIM_DROP &&
	    (!ev_is_active(&trim_w) || live < trim_live)) {
		/* a second after the disconnects (and what they free
		 * later: sessions, deferred work) have stopped */
		trim_live = live;
		ev_timer_stop(loop_ev, &trim_w);
		ev_timer_set(&trim_w, 1.0, 0.0);
		ev_timer_start(loop_ev, &trim_w);
	}
}

void
conn_close_all_now(void)
{
	while (all_conns)
		final_close(all_conns, "shutdown");
}

void
conn_init(void)
{
	ev_timer_init(&trim_w, trim_cb, 1.0, 0.0);
	ev_timer_init(&sweep_w, sweep_cb, SWEEP, SWEEP);
	ev_timer_start(loop_ev, &sweep_w);
	loop_at_idle(LOOP_AFTER_COMMIT, conn_flush_all);
	loop_at_idle(LOOP_LAST, reap_all);
}

/* bconn.c: one XMPP client connection of tern-bench and its login.
 *
 * The login is the one a real client does, step by step: stream header,
 * STARTTLS (or direct TLS), SASL, stream restart, resource binding,
 * optional session, XEP-0198 <enable/>, carbons, MAM preferences, then
 * initial presence and a ping whose answer marks the session ready.
 * Writes are queued and flushed once per loop iteration (ev_prepare),
 * and connections are freed there too, never inside their own callback. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "bench.h"

#define READ_CHUNK 16384
#define MAX_STANZA (16u << 20)

unsigned long bc_live, bc_opened;

static SSL_CTX *ssl_ctx;
static struct sockaddr_storage srv_addr;
static socklen_t srv_addrlen;
static uint32_t src_next;
static unsigned conn_ids;
static struct bconn *dirty_list, *dead_list;
static ev_prepare flush_watcher;

static void conn_io(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer(struct ev_loop *loop, ev_timer *w, int revents);

double
bc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t
bc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
bc_bare(unsigned u, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s%u@%s", bo.prefix, u, bo.domain);
}

unsigned
bc_user_of(const char *jid)
{
	size_t k = strlen(bo.prefix);
	unsigned long v;
	char *end;

	if (strncmp(jid, bo.prefix, k) != 0 || jid[k] < '0' || jid[k] > '9')
		return 0;
	v = strtoul(jid + k, &end, 10);
	if (*end != '@' || v > 0xffffffffu)
		return 0;
	return (unsigned)v;
}

static void
set_events(struct bconn *c, int ev)
{
	if (c->io_events == ev)
		return;
	ev_io_stop(bloop, &c->io);
	ev_io_set(&c->io, c->fd, ev);
	ev_io_start(bloop, &c->io);
	c->io_events = ev;
}

static void
flush_all(struct ev_loop *loop, ev_prepare *w, int revents);

static void
set_state(struct bconn *c, enum bc_state st)
{
	c->state = st;
	if (bo.verbose > 1 && c->nsteps < (int)ARRAYLEN(c->t_step)) {
		c->t_step[c->nsteps] = bc_now();
		c->st_step[c->nsteps++] = (unsigned char)st;
	}
}

static void
trace_steps(const struct bconn *c)
{
	static const char *const names[] = {
		"connect", "features", "starttls", "auth", "bind", "session",
		"sm", "carbons", "prefs", "ping",
	};
	fprintf(stderr, "conn %u login steps (ms):", c->id);
	for (int i = 0; i < c->nsteps && c->st_step[i] <= BC_PING; i++) {
		double end = i + 1 < c->nsteps ? c->t_step[i + 1] : c->t_ready;

		fprintf(stderr, " %s %.2f", names[c->st_step[i]],
		    (end - c->t_step[i]) * 1000.0);
	}
	fprintf(stderr, "\n");
}

void
bc_global_init(void)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	int rc;

	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ssl_ctx == NULL) {
		fprintf(stderr, "tern-bench: SSL_CTX_new failed\n");
		exit(2);
	}
	SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
	/* A benchmark against loopback servers with self-signed certs. */
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	/* Read whole TLS records at once rather than 5-byte headers. */
	SSL_CTX_set_read_ahead(ssl_ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ssl_ctx, READ_CHUNK);

	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(bo.host, bo.port, &hints, &res);
	if (rc != 0 || res == NULL) {
		fprintf(stderr, "tern-bench: %s:%s: %s\n", bo.host, bo.port,
		    gai_strerror(rc));
		exit(2);
	}
	memcpy(&srv_addr, res->ai_addr, res->ai_addrlen);
	srv_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (!bo.allow_remote) {
		int local = 0;

		if (srv_addr.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&srv_addr;

			local = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
		} else if (srv_addr.ss_family == AF_INET6) {
			struct sockaddr_in6 *a =
			    (struct sockaddr_in6 *)&srv_addr;

			local = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
		}
		if (!local) {
			fprintf(stderr, "tern-bench: %s is not a loopback "
			    "address (127.0.0.0/8, ::1); pass --allow-remote "
			    "to load a remote server\n", bo.host);
			exit(2);
		}
	}
	if (bo.src_lo != 0 && srv_addr.ss_family != AF_INET) {
		fprintf(stderr, "tern-bench: --src needs an IPv4 --host\n");
		exit(2);
	}
	src_next = bo.src_lo;
	ev_prepare_init(&flush_watcher, flush_all);
	ev_prepare_start(bloop, &flush_watcher);
	ev_unref(bloop);
}

#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"

static void mark_dirty(struct bconn *c);

/* One masked client frame (RFC 6455 §5.2) of opcode op, into out. */
static void
ws_frame(struct bconn *c, int op, const char *p, size_t n)
{
	unsigned char h[14], *m;
	size_t hl = 2, at;
	uint32_t key = (uint32_t)rand();

	h[0] = (unsigned char)(0x80 | op);
	if (n < 126) {
		h[1] = (unsigned char)(0x80 | n);
	} else if (n < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	memcpy(h + hl, &key, 4);
	m = h + hl;
	bb_append(&c->out, h, hl + 4);
	at = c->out.len;
	bb_append(&c->out, p, n);
	for (size_t i = 0; i < n; i++)
		c->out.p[at + i] ^= (char)m[i % 4];
}

static void
ws_upgrade(struct bconn *c)
{
	char key[25];

	for (int i = 0; i < 22; i++)
		key[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"[rand() % 32];
	memcpy(key + 22, "==", 3);
	bb_printf(&c->out, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: xmpp\r\n\r\n", bo.ws_path, bo.domain,
	    key);
	c->ws = 1;
	mark_dirty(c);
}

static void
header(struct bconn *c)
{
	if (bo.ws_path != NULL) {
		bc_sendf(c, "<open xmlns='" NS_FRAMING "' to='%s' "
		    "version='1.0' xml:lang='en'/>", bo.domain);
		return;
	}
	bc_sendf(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
	    " xmlns:stream='http://etherx.jabber.org/streams' to='%s'"
	    " version='1.0' xml:lang='en'>", bo.domain);
}

static void
fail_later(struct bconn *c, const char *err)
{
	c->pending_err = err;
	ev_timer_stop(bloop, &c->timer);
	ev_timer_set(&c->timer, 0., 0.);
	ev_timer_start(bloop, &c->timer);
}

struct bconn *
bc_login(unsigned user, const char *resource, const struct bc_ops *ops,
    void *ctx, int role)
{
	struct bconn *c = bx_calloc(1, sizeof(*c));
	int one = 1;

	c->id = ++conn_ids;
	c->user = user;
	c->ops = ops;
	c->ctx = ctx;
	c->role = role;
	snprintf(c->resource, sizeof(c->resource), "%s", resource);
	c->t_start = bc_now();
	set_state(c, BC_CONNECTING);
	bc_opened++;
	bc_live++;
	ev_init(&c->timer, conn_timer);
	c->timer.data = c;
	ev_init(&c->io, conn_io);
	c->io.data = c;
	c->fd = socket(srv_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail_later(c, errno == EMFILE || errno == ENFILE ?
		    "socket: out of file descriptors" : "socket failed");
		return c;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bo.src_lo != 0) {
		struct sockaddr_in sa = { 0 };

		/* Let connect() pick the port per 4-tuple, so each source
		 * address gives a full ephemeral range. */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof(one));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(src_next);
		src_next = src_next >= bo.src_hi ? bo.src_lo : src_next + 1;
		if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fail_later(c, "bind to --src address failed");
			return c;
		}
	}
	if (connect(c->fd, (struct sockaddr *)&srv_addr, srv_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		fail_later(c, errno == ECONNREFUSED ? "connection refused" :
		    errno == EADDRNOTAVAIL ? "connect: no free local port" :
		    "connect failed");
		return c;
	}
	ev_io_set(&c->io, c->fd, EV_WRITE);
	c->io_events = EV_WRITE;
	ev_io_start(bloop, &c->io);
	ev_timer_set(&c->timer, bo.op_timeout, 0.);
	ev_timer_start(bloop, &c->timer);
	return c;
}

static void
mark_dirty(struct bconn *c)
{
	if (c->dirty || c->state == BC_DEAD)
		return;
	c->dirty = 1;
	c->next_dirty = dirty_list;
	dirty_list = c;
}

/* Does the start tag t of s declare a default namespace? */
static int
declares_ns(const char *s, const struct bx_tok *t)
{
	const char *p = s + t->name + t->namelen, *end = s + t->end;

	for (; p + 7 <= end; p++)
		if (memcmp(p, " xmlns=", 7) == 0)
			return 1;
	return 0;
}

/* RFC 7395 §3.3.3: one element per WebSocket message, each parsable
 * alone: a top-level element without a namespace of its own (a stanza
 * written for a TCP stream) gets xmlns='jabber:client'. Prosody and
 * ejabberd hold clients to that; Tern also takes several per message. */
static void
ws_send(struct bconn *c, const char *s, size_t n)
{
	static const char ns[] = " xmlns='jabber:client'";
	struct bx_tok t;
	size_t pos = 0, el = 0, ins = 0;
	int depth = 0, add = 0;
	char small[2048];

	while (pos < n && bx_lex(s, n, pos, &t) == 1) {
		pos = t.end;
		if (depth == 0 && (t.kind == BX_START || t.kind == BX_EMPTY)) {
			el = t.start;
			add = !declares_ns(s, &t);
			ins = t.name + t.namelen;
		}
		if (t.kind == BX_START)
			depth++;
		else if (t.kind == BX_END)
			depth--;
		else if (t.kind != BX_EMPTY || depth != 0)
			continue;
		if (depth != 0)
			continue;
		/* an element ends at pos */
		if (!add) {
			ws_frame(c, 1, s + el, pos - el);
		} else {
			size_t len = pos - el + sizeof(ns) - 1;
			char *m = len <= sizeof(small) ? small : bx_malloc(len);

			memcpy(m, s + el, ins - el);
			memcpy(m + (ins - el), ns, sizeof(ns) - 1);
			memcpy(m + (ins - el) + sizeof(ns) - 1, s + ins, pos - ins);
			ws_frame(c, 1, m, len);
			if (m != small)
				free(m);
		}
	}
	if (pos < n) /* not whole elements: as it is */
		ws_frame(c, 1, s + pos, n - pos);
}

/* Over WebSocket, each element is a message of its own (ws_send). */
void
bc_send(struct bconn *c, const char *s, size_t n)
{
	if (c->state == BC_DEAD)
		return;
	if (bo.ws_path != NULL)
		ws_send(c, s, n);
	else
		bb_append(&c->out, s, n);
	mark_dirty(c);
}

void
bc_sendf(struct bconn *c, const char *fmt, ...)
{
	va_list ap;
	char small[1024];
	int n;

	if (c->state == BC_DEAD)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		bc_send(c, small, (size_t)n);
		return;
	}
	if (bo.ws_path != NULL) {
		char *big = bx_malloc((size_t)n + 1);

		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		bc_send(c, big, (size_t)n);
		free(big);
		return;
	}
	bb_reserve(&c->out, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(c->out.p + c->out.len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	c->out.len += (size_t)n;
	mark_dirty(c);
}

void
bc_send_stanza(struct bconn *c, const char *s, size_t n)
{
	bc_send(c, s, n);
	if (!c->sm)
		return;
	c->sm_out++;
	if (c->sm_out % 10 == 0)
		bc_send(c, LIT("<r xmlns='urn:xmpp:sm:3'/>"));
}

void
bc_close(struct bconn *c, const char *err)
{
	if (c->state == BC_DEAD)
		return;
	c->state = BC_DEAD;
	ev_io_stop(bloop, &c->io);
	ev_timer_stop(bloop, &c->timer);
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	bb_free(&c->in);
	bb_free(&c->out);
	bb_free(&c->ws_in);
	bs_sasl_cleanup(&c->scram);
	bc_live--;
	if (bo.verbose && err != NULL)
		fprintf(stderr, "conn %u user %u: %s\n", c->id, c->user, err);
	c->next_dead = dead_list;
	dead_list = c;
	if (c->ops->closed != NULL)
		c->ops->closed(c, err);
}

void
bc_end(struct bconn *c, double timeout)
{
	if (c->state == BC_DEAD || c->state == BC_CLOSING)
		return;
	if (bo.ws_path != NULL)
		bc_send(c, LIT("<close xmlns='" NS_FRAMING "'/>"));
	else
		bc_send(c, LIT("</stream:stream>"));
	set_state(c, BC_CLOSING);
	ev_timer_stop(bloop, &c->timer);
	ev_timer_set(&c->timer, timeout, 0.);
	ev_timer_start(bloop, &c->timer);
}

static void
conn_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bconn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->pending_err != NULL)
		bc_close(c, c->pending_err);
	else if (c->state == BC_CLOSING)
		bc_close(c, NULL); /* the server kept it open: ours is done */
	else
		bc_close(c, "timeout");
}

/* Write what is queued. -1 when the connection died. */
static int
flush(struct bconn *c)
{
	while (c->out.off < c->out.len) {
		size_t n = c->out.len - c->out.off;
		ssize_t k;

		if (c->ssl != NULL) {
			int e;

			k = SSL_write(c->ssl, c->out.p + c->out.off,
			    n > 65536 ? 65536 : (int)n);
			if (k > 0) {
				c->out.off += (size_t)k;
				continue;
			}
			e = SSL_get_error(c->ssl, (int)k);
			if (e == SSL_ERROR_WANT_WRITE) {
				c->want_write = 1;
				break;
			}
			if (e == SSL_ERROR_WANT_READ) {
				c->want_write = 0;
				break;
			}
			ERR_clear_error();
			bc_close(c, c->tls_done && c->state == BC_FEATURES &&
			    !c->got_header ? "TLS handshake failed" :
			    "TLS write failed");
			return -1;
		}
		k = write(c->fd, c->out.p + c->out.off, n);
		if (k > 0) {
			c->out.off += (size_t)k;
			continue;
		}
		if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			c->want_write = 1;
			break;
		}
		bc_close(c, "write failed");
		return -1;
	}
	if (c->out.off == c->out.len) {
		c->out.off = c->out.len = 0;
		c->want_write = 0;
		/* An idle session keeps no output buffer. */
		if (c->out.cap > 65536)
			bb_free(&c->out);
	}
	set_events(c, EV_READ | (c->want_write ? EV_WRITE : 0));
	return 0;
}

static void
flush_all(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	while (dirty_list != NULL) {
		struct bconn *c = dirty_list;

		dirty_list = c->next_dirty;
		c->dirty = 0;
		if (c->state != BC_DEAD && c->state != BC_CONNECTING)
			flush(c);
	}
	while (dead_list != NULL) {
		struct bconn *c = dead_list;

		dead_list = c->next_dead;
		free(c);
	}
}

static void
stream_error(struct bconn *c, const char *e, size_t n)
{
	static char msg[160];
	struct bx_tok t;
	size_t pos;

	static const char *const step[] = {
		"connect", "features", "starttls", "auth", "bind", "session",
		"sm", "carbons", "mam prefs", "ping", "session", "close",
		"close",
	};

	snprintf(msg, sizeof(msg), "stream error during %s", step[c->state]);
	if (bx_lex(e, n, 0, &t) == 1 && t.kind == BX_START) {
		pos = t.end;
		while (bx_lex(e, n, pos, &t) == 1) {
			pos = t.end;
			if (t.kind == BX_START || t.kind == BX_EMPTY) {
				snprintf(msg, sizeof(msg), "stream error "
				    "during %s: %.*s", step[c->state],
				    (int)t.namelen, e + t.name);
				break;
			}
		}
	}
	bc_close(c, msg);
}

/* Name of the first child of e (a condition), for error messages. */
const char *
bc_condition(const char *prefix, const char *e, size_t n)
{
	static char msg[160];
	struct bx_tok t;
	size_t pos = 0;
	int first = 1;

	const char *err;
	size_t errn;

	snprintf(msg, sizeof(msg), "%s", prefix);
	/* A stanza error's condition is the first child of <error/>. */
	if (bx_find(e, n, "error", &err, &errn) == 0) {
		e = err;
		n = errn;
	}
	while (bx_lex(e, n, pos, &t) == 1) {
		pos = t.end;
		if (t.kind != BX_START && t.kind != BX_EMPTY)
			continue;
		if (first) {
			first = 0;
			continue;
		}
		snprintf(msg, sizeof(msg), "%s: %.*s", prefix,
		    (int)t.namelen, e + t.name);
		break;
	}
	return msg;
}

static void
start_tls(struct bconn *c)
{
	c->ssl = SSL_new(ssl_ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		bc_close(c, "SSL_new failed");
		return;
	}
	SSL_ctrl(c->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME,
	    TLSEXT_NAMETYPE_host_name, (void *)(uintptr_t)bo.domain);
	SSL_set_connect_state(c->ssl);
	c->tls_done = 1;
	c->got_header = 0;
}

static void
after_setup(struct bconn *c);

#define NS_SASL2 "urn:xmpp:sasl:2"

/* XEP-0388 with Bind 2: with the user's FAST token when there is one
 * (XEP-0484, HT-SHA-256-NONE), else SCRAM asking for a token. */
static void
send_auth2(struct bconn *c, const char *e, size_t n)
{
	const char *name = bs_mech_names[bo.mech];
	const char *tok = bs_fast_token(c->user);
	char user[128];
	struct bbuf init = { 0 };
	const char *sub;
	size_t sn;

	if (bx_find(e, n, "authentication", &sub, &sn) < 0) {
		bc_close(c, "server offers no SASL2 (urn:xmpp:sasl:2)");
		return;
	}
	c->feat_sm = memmem(sub, sn, "urn:xmpp:sm:3", 13) != NULL;
	snprintf(user, sizeof(user), "%s%u", bo.prefix, c->user);
	if (tok != NULL) {
		bs_fast_initial(user, tok, &init);
		name = "HT-SHA-256-NONE";
	} else if (bs_sasl_start(&c->scram, bo.mech, user, bo.password,
	    &init) < 0) {
		bc_close(c, "SASL start failed");
		return;
	}
	bc_sendf(c, "<authenticate xmlns='" NS_SASL2 "' mechanism='%s'>"
	    "<initial-response>%s</initial-response>"
	    "<user-agent id='tern-bench-%u'/>"
	    "<bind xmlns='urn:xmpp:bind:0'><tag>%s</tag></bind>%s"
	    "</authenticate>", name, init.p ? init.p : "", c->user,
	    c->resource, tok ? "" : "<request-token xmlns='urn:xmpp:fast:0' "
	    "mechanism='HT-SHA-256-NONE'/>");
	bb_free(&init);
	c->sasl2 = 1;
	set_state(c, BC_AUTH);
}

/* The SASL2 answer: no stream restart, the session is bound. */
static void
on_auth2(struct bconn *c, const char *e, size_t n, const char *data)
{
	struct bbuf resp = { 0 };
	const char *err, *sub;
	size_t sn;
	char v[512];

	if (bx_is(e, n, "challenge")) {
		if (bs_sasl_step(&c->scram, bo.password, data, &resp,
		    &err) < 0) {
			bc_close(c, err);
			goto out;
		}
		bc_sendf(c, "<response xmlns='" NS_SASL2 "'>%s</response>",
		    resp.p);
	} else if (bx_is(e, n, "success")) {
		if (c->scram.server_sig_len > 0 &&
		    (bx_find(e, n, "additional-data", &sub, &sn) < 0 ||
		    bx_text(sub, sn, v, sizeof(v)) < 0 ||
		    bs_sasl_verify(&c->scram, v) < 0)) {
			bc_close(c, "bad SCRAM server signature");
			goto out;
		}
		if (bx_find(e, n, "token", &sub, &sn) == 0 &&
		    bx_attr(sub, sn, "token", v, sizeof(v)) == 0)
			bs_fast_set_token(c->user, v);
		if (bx_find(e, n, "authorization-identifier", &sub, &sn) < 0 ||
		    bx_find(e, n, "bound", &sub, &sn) < 0) {
			bc_close(c, "SASL2 success without a bound resource");
			goto out;
		}
		bx_find(e, n, "authorization-identifier", &sub, &sn);
		bx_text(sub, sn, c->jid, sizeof(c->jid));
		c->auth_done = 1;
		after_setup(c);
	} else if (bx_is(e, n, "failure")) {
		bc_close(c, bc_condition("authentication failed", e, n));
	}
out:
	bb_free(&resp);
}

static void
send_auth(struct bconn *c, const char *e, size_t n)
{
	const char *mechs;
	size_t mn;
	const char *name = bs_mech_names[bo.mech];
	char pat[64], user[128];
	struct bbuf init = { 0 };

	if (bo.fast) {
		send_auth2(c, e, n);
		return;
	}
	if (bx_find(e, n, "mechanisms", &mechs, &mn) < 0) {
		bc_close(c, bo.no_tls ? "no SASL mechanisms offered without "
		    "TLS" : "no SASL mechanisms offered");
		return;
	}
	snprintf(pat, sizeof(pat), ">%s<", name);
	if (memmem(mechs, mn, pat, strlen(pat)) == NULL) {
		bc_close(c, "server does not offer the SASL mechanism");
		return;
	}
	snprintf(user, sizeof(user), "%s%u", bo.prefix, c->user);
	if (bs_sasl_start(&c->scram, bo.mech, user, bo.password, &init) < 0) {
		bc_close(c, "SASL start failed");
		return;
	}
	bc_sendf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
	    "mechanism='%s'>%s</auth>", name, init.p ? init.p : "=");
	bb_free(&init);
	set_state(c, BC_AUTH);
}

static void
on_features(struct bconn *c, const char *e, size_t n)
{
	const char *sub;
	size_t sn;

	if (!c->tls_done && !bo.direct_tls && !bo.no_tls) {
		if (bx_find(e, n, "starttls", &sub, &sn) < 0) {
			bc_close(c, "server offers no STARTTLS");
			return;
		}
		bc_send(c, LIT("<starttls "
		    "xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
		set_state(c, BC_STARTTLS);
		return;
	}
	if (!c->auth_done) {
		send_auth(c, e, n);
		return;
	}
	if (bx_find(e, n, "bind", &sub, &sn) < 0) {
		bc_close(c, "server offers no resource binding");
		return;
	}
	c->feat_sm = memmem(e, n, "urn:xmpp:sm:3", 13) != NULL;
	if (bx_find(e, n, "session", &sub, &sn) == 0 &&
	    bx_find(sub, sn, "optional", &sub, &sn) < 0)
		c->need_session = 1;
	bc_sendf(c, "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:"
	    "xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>",
	    c->resource);
	set_state(c, BC_BIND);
}

static void
on_auth(struct bconn *c, const char *e, size_t n)
{
	char *data = bx_malloc(n + 1);
	struct bbuf resp = { 0 };
	const char *err;

	bx_text(e, n, data, n + 1);
	if (c->sasl2) {
		on_auth2(c, e, n, data);
		goto out;
	}
	if (bx_is(e, n, "challenge")) {
		if (c->scram.server_sig_len > 0) {
			/* Some servers send v= as a last challenge. */
			if (bs_sasl_verify(&c->scram, data) < 0) {
				bc_close(c, "bad SCRAM server signature");
				goto out;
			}
			bc_send(c, LIT("<response xmlns='urn:ietf:params:"
			    "xml:ns:xmpp-sasl'/>"));
			c->scram.server_sig_len = 0;
			goto out;
		}
		if (bs_sasl_step(&c->scram, bo.password, data, &resp,
		    &err) < 0) {
			bc_close(c, err);
			goto out;
		}
		bc_sendf(c, "<response xmlns='urn:ietf:params:xml:ns:"
		    "xmpp-sasl'>%s</response>", resp.p);
	} else if (bx_is(e, n, "success")) {
		if (data[0] != '\0' && bs_sasl_verify(&c->scram, data) < 0) {
			bc_close(c, "bad SCRAM server signature");
			goto out;
		}
		c->auth_done = 1;
		c->got_header = 0;
		set_state(c, BC_FEATURES);
		header(c);
	} else if (bx_is(e, n, "failure")) {
		bc_close(c, bc_condition("authentication failed", e, n));
	}
out:
	bb_free(&resp);
	free(data);
}

static int
iq_is(const char *e, size_t n, const char *id, char *type, size_t tsz)
{
	char v[64];

	if (!bx_is(e, n, "iq") || bx_attr(e, n, "id", v, sizeof(v)) < 0 ||
	    strcmp(v, id) != 0)
		return 0;
	if (bx_attr(e, n, "type", type, tsz) < 0)
		type[0] = '\0';
	return 1;
}

/* The steps after binding, in order; each skipped when not asked for. */
static void
after_setup(struct bconn *c)
{
	if (c->state < BC_SM && bo.sm) {
		if (!c->feat_sm) {
			bc_close(c, "server does not offer XEP-0198 stream "
			    "management (urn:xmpp:sm:3)");
			return;
		}
		bc_send(c, LIT("<enable xmlns='urn:xmpp:sm:3'/>"));
		set_state(c, BC_SM);
		return;
	}
	if (c->state < BC_CARBONS && bo.carbons) {
		bc_send(c, LIT("<iq type='set' id='carb1'><enable "
		    "xmlns='urn:xmpp:carbons:2'/></iq>"));
		set_state(c, BC_CARBONS);
		return;
	}
	if (c->state < BC_PREFS && bo.mam) {
		bc_sendf(c, "<iq type='set' id='prefs1'><prefs "
		    "xmlns='urn:xmpp:mam:2' default='%s'/></iq>",
		    bo.mam_default ? bo.mam_default : "always");
		set_state(c, BC_PREFS);
		return;
	}
	bc_send_stanza(c, LIT("<presence/>"));
	bc_sendf(c, "<iq type='get' id='ping1' to='%s'><ping xmlns="
	    "'urn:xmpp:ping'/></iq>", bo.domain);
	if (c->sm) {
		c->sm_out++;
	}
	set_state(c, BC_PING);
}

void
bc_reply_iq(struct bconn *c, const char *e, size_t n)
{
	char id[256], from[512];
	struct bbuf b = { 0 };
	const char *sub;
	size_t sn;
	int ok;

	if (bx_attr(e, n, "id", id, sizeof(id)) < 0)
		id[0] = '\0';
	if (bx_attr(e, n, "from", from, sizeof(from)) < 0)
		from[0] = '\0';
	ok = bx_find(e, n, "ping", &sub, &sn) == 0 ||
	    bx_find(e, n, "query", &sub, &sn) == 0;
	bb_append(&b, "<iq type='", 10);
	bb_append(&b, ok ? "result" : "error", ok ? 6 : 5);
	bb_append(&b, "' id='", 6);
	bx_escape(&b, id);
	if (from[0] != '\0') {
		bb_append(&b, "' to='", 6);
		bx_escape(&b, from);
	}
	if (ok)
		bb_append(&b, "'/>", 3);
	else
		bb_printf(&b, "'><error type='cancel'><service-unavailable "
		    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
		    "</iq>");
	bc_send_stanza(c, b.p, b.len);
	bb_free(&b);
}

static void
sm_element(struct bconn *c, const char *e, size_t n)
{
	char h[32];

	if (bx_is(e, n, "r")) {
		bc_sendf(c, "<a xmlns='urn:xmpp:sm:3' h='%u'/>", c->sm_in);
	} else if (bx_is(e, n, "a") && bx_attr(e, n, "h", h,
	    sizeof(h)) == 0) {
		uint32_t v = (uint32_t)strtoul(h, NULL, 10);

		if (v > c->sm_out)
			bc_close(c, "server acked more stanzas than sent");
		else
			c->sm_acked = v;
	}
}

static void
dispatch(struct bconn *c, const char *e, size_t n)
{
	char type[32];
	int is_stanza;

	if (bo.verbose > 2)
		fprintf(stderr, "conn %u recv: %.*s\n", c->id, (int)n, e);
	if (bx_is(e, n, "error") && e[1] == 's') {
		stream_error(c, e, n);
		return;
	}
	is_stanza = bx_is(e, n, "message") || bx_is(e, n, "presence") ||
	    bx_is(e, n, "iq");
	if (c->sm && is_stanza)
		c->sm_in++;
	switch (c->state) {
	case BC_FEATURES:
		if (bx_is(e, n, "features"))
			on_features(c, e, n);
		return;
	case BC_STARTTLS:
		if (bx_is(e, n, "proceed")) {
			/* Nothing may follow <proceed/> in plaintext. */
			c->in.len = c->scan;
			start_tls(c);
			if (c->state != BC_DEAD) {
				set_state(c, BC_FEATURES);
				header(c);
			}
		} else if (bx_is(e, n, "failure")) {
			bc_close(c, "STARTTLS refused");
		}
		return;
	case BC_AUTH:
		on_auth(c, e, n);
		return;
	case BC_BIND:
		if (iq_is(e, n, "bind1", type, sizeof(type))) {
			const char *j;
			size_t jn;

			if (strcmp(type, "result") != 0 ||
			    bx_find(e, n, "jid", &j, &jn) < 0) {
				bc_close(c, bc_condition("bind failed", e, n));
				return;
			}
			bx_text(j, jn, c->jid, sizeof(c->jid));
			if (c->need_session) {
				bc_send(c, LIT("<iq type='set' id='sess1'>"
				    "<session xmlns='urn:ietf:params:xml:ns:"
				    "xmpp-session'/></iq>"));
				set_state(c, BC_SESSION);
			} else {
				after_setup(c);
			}
			return;
		}
		break;
	case BC_SESSION:
		if (iq_is(e, n, "sess1", type, sizeof(type))) {
			if (strcmp(type, "result") != 0)
				bc_close(c, bc_condition("session failed", e, n));
			else
				after_setup(c);
			return;
		}
		break;
	case BC_SM:
		if (bx_is(e, n, "enabled")) {
			c->sm = 1;
			after_setup(c);
			return;
		}
		if (bx_is(e, n, "failed")) {
			bc_close(c, bc_condition("stream management refused", e,
			    n));
			return;
		}
		break;
	case BC_CARBONS:
		if (iq_is(e, n, "carb1", type, sizeof(type))) {
			if (strcmp(type, "result") != 0)
				bc_close(c, bc_condition("carbons refused", e, n));
			else
				after_setup(c);
			return;
		}
		break;
	case BC_PREFS:
		if (iq_is(e, n, "prefs1", type, sizeof(type))) {
			if (strcmp(type, "result") != 0)
				bc_close(c, bc_condition("MAM preferences refused",
				    e, n));
			else
				after_setup(c);
			return;
		}
		break;
	case BC_PING:
		/* An error reply is a round trip too; the ping is there to
		 * know the server has processed the whole login. */
		if (iq_is(e, n, "ping1", type, sizeof(type))) {
			set_state(c, BC_READY);
			c->t_ready = bc_now();
			ev_timer_stop(bloop, &c->timer);
			if (bo.verbose > 1)
				trace_steps(c);
			if (c->ops->ready != NULL)
				c->ops->ready(c);
			return;
		}
		break;
	case BC_READY:
		break;
	case BC_CLOSING:
	case BC_CONNECTING:
	case BC_DEAD:
		return;
	}
	if (!is_stanza) {
		if (c->sm)
			sm_element(c, e, n);
		return;
	}
	if (bx_is(e, n, "iq") && bx_attr(e, n, "type", type,
	    sizeof(type)) == 0 && (strcmp(type, "get") == 0 ||
	    strcmp(type, "set") == 0)) {
		bc_reply_iq(c, e, n);
		return;
	}
	if (c->ops->stanza != NULL)
		c->ops->stanza(c, e, n);
}

static void
process(struct bconn *c)
{
	struct bx_tok t;
	size_t base;
	int r;

	for (;;) {
		r = bx_lex(c->in.p, c->in.len, c->scan, &t);
		if (r == 0)
			break;
		if (r < 0) {
			bc_close(c, "malformed XML from server");
			return;
		}
		c->scan = t.end;
		if (c->depth == 0) {
			if (t.kind == BX_TEXT || t.kind == BX_OTHER)
				continue;
			if (bx_local_is(c->in.p + t.name, t.namelen,
			    "stream")) {
				if (t.kind == BX_END) {
					bc_close(c, c->state == BC_CLOSING ?
					    NULL : "server closed the stream");
					return;
				}
				c->got_header = 1;
				continue;
			}
			if (t.kind == BX_END) {
				bc_close(c, "unbalanced XML from server");
				return;
			}
			if (t.kind == BX_START) {
				c->elem = t.start;
				c->depth = 1;
				continue;
			}
			dispatch(c, c->in.p + t.start, t.end - t.start);
		} else {
			if (t.kind == BX_START)
				c->depth++;
			else if (t.kind == BX_END)
				c->depth--;
			if (c->depth > 0) {
				if (c->scan - c->elem > MAX_STANZA) {
					bc_close(c, "stanza too large");
					return;
				}
				continue;
			}
			dispatch(c, c->in.p + c->elem, t.end - c->elem);
		}
		if (c->state == BC_DEAD)
			return;
	}
	base = c->depth > 0 ? c->elem : c->scan;
	if (base >= c->in.len) {
		c->in.len = c->scan = c->elem = 0;
		/* An idle session keeps no input buffer either. */
		if (c->in.cap > 65536)
			bb_free(&c->in);
	} else if (base > 32768) {
		memmove(c->in.p, c->in.p + base, c->in.len - base);
		c->in.len -= base;
		c->scan -= base;
		c->elem = c->depth > 0 ? c->elem - base : 0;
	}
}

/* The upgrade's answer, then whole server frames from ws_in into in:
 * an <open/> becomes a stream header, a <close/> its end tag (the
 * stream code below stays the same); pings are answered. */
static void
ws_input(struct bconn *c)
{
	struct bbuf *b = &c->ws_in;
	size_t at = 0;

	if (c->ws == 1) {
		const char *end = memmem(b->p, b->len, "\r\n\r\n", 4);

		if (end == NULL)
			return;
		if (b->len < 12 || memcmp(b->p, "HTTP/1.1 101", 12) != 0) {
			bc_close(c, "WebSocket upgrade refused");
			return;
		}
		at = (size_t)(end + 4 - b->p);
		c->ws = 2;
		header(c);
	}
	while (b->len - at >= 2) {
		const unsigned char *h = (const unsigned char *)b->p + at;
		size_t hl = 2, n = h[1] & 0x7f;
		int op = h[0] & 0x0f;
		const char *p;

		if (h[1] & 0x80) {
			bc_close(c, "masked frame from the server");
			return;
		}
		if (n == 126) {
			if (b->len - at < 4)
				break;
			n = (size_t)h[2] << 8 | h[3];
			hl = 4;
		} else if (n == 127) {
			if (b->len - at < 10)
				break;
			n = 0;
			for (int i = 0; i < 8; i++)
				n = n << 8 | h[2 + i];
			hl = 10;
		}
		if (b->len - at < hl + n)
			break;
		p = b->p + at + hl;
		at += hl + n;
		if (op == 8) {
			bc_close(c, c->state == BC_CLOSING ? NULL :
			    "server closed the WebSocket");
			return;
		}
		if (op == 9) {
			ws_frame(c, 10, p, n);
			mark_dirty(c);
			continue;
		}
		if (op != 0 && op != 1)
			continue;
		if (op == 1 && n > 5 && memcmp(p, "<open", 5) == 0)
			bb_printf(&c->in, "<stream:stream xmlns='jabber:client'"
			    " xmlns:stream='http://etherx.jabber.org/streams'>");
		else if (op == 1 && n > 6 && memcmp(p, "<close", 6) == 0)
			bb_append(&c->in, LIT("</stream:stream>"));
		else
			bb_append(&c->in, p, n);
	}
	memmove(b->p, b->p + at, b->len - at);
	b->len -= at;
	process(c);
}

static void
read_some(struct bconn *c)
{
	/*
	 * 16 reads, then back to the loop for fairness; but not while
	 * OpenSSL holds records it already read (read-ahead): the socket
	 * would not wake us for them. A server that writes one small
	 * record per stanza (ejabberd) stalled here until its next byte.
	 */
	for (int i = 0; c->state != BC_DEAD && (i < 16 ||
	    (c->ssl != NULL && SSL_has_pending(c->ssl))); i++) {
		struct bbuf *dst = bo.ws_path != NULL ? &c->ws_in : &c->in;
		ssize_t k;

		bb_reserve(dst, READ_CHUNK);
		if (c->ssl != NULL) {
			int e;

			k = SSL_read(c->ssl, dst->p + dst->len, READ_CHUNK);
			if (k <= 0) {
				e = SSL_get_error(c->ssl, (int)k);
				if (e == SSL_ERROR_WANT_READ)
					return;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->want_write = 1;
					set_events(c, EV_READ | EV_WRITE);
					return;
				}
				ERR_clear_error();
				if (e == SSL_ERROR_ZERO_RETURN ||
				    (e == SSL_ERROR_SYSCALL && k == 0)) {
					bc_close(c, c->state == BC_CLOSING ?
					    NULL :
					    "server closed the connection");
				} else {
					bc_close(c, c->got_header ?
					    "TLS read failed" :
					    "TLS handshake failed");
				}
				return;
			}
		} else {
			k = read(c->fd, dst->p + dst->len, READ_CHUNK);
			if (k < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (k <= 0) {
				bc_close(c, c->state == BC_CLOSING ? NULL :
				    k == 0 ? "server closed the connection" :
				    "read failed");
				return;
			}
		}
		dst->len += (size_t)k;
		if (bo.ws_path != NULL)
			ws_input(c);
		else
			process(c);
		if (c->ssl == NULL && k < READ_CHUNK)
			return;
	}
}

static void
conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bconn *c = w->data;

	(void)loop;
	if (c->state == BC_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			bc_close(c, err == ECONNREFUSED ? "connection refused" :
			    "connect failed");
			return;
		}
		set_state(c, BC_FEATURES);
		if (bo.direct_tls)
			start_tls(c);
		if (c->state == BC_DEAD)
			return;
		if (bo.ws_path != NULL)
			ws_upgrade(c);
		else
			header(c);
		if (flush(c) < 0)
			return;
		return;
	}
	if ((revents & EV_WRITE) || c->ssl != NULL) {
		if (c->out.off < c->out.len && flush(c) < 0)
			return;
	}
	if (revents & EV_READ)
		read_some(c);
	/* A TLS read may have completed a handshake a write waited on. */
	if (c->state != BC_DEAD && c->ssl != NULL &&
	    c->out.off < c->out.len)
		mark_dirty(c);
}

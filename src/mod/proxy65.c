/* src/mod/proxy65.c: XEP-0065 SOCKS5 Bytestreams proxy on a service
 * domain (e.g. proxy.example.org): file transfers between users who
 * cannot reach each other directly go through here. Both parties open
 * a SOCKS5 connection naming the same DST.ADDR, SHA1(SID + requester
 * JID + target JID); the requester then activates the pair with an IQ
 * and the bytes are relayed, one fixed buffer per direction: while a
 * buffer waits for the slow side, the fast side is not read (the
 * backpressure reaches the sender through TCP).
 *
 * The listener is the module's own socket on the loop: SOCKS5 is no
 * XMPP stream, and the relay needs nothing of net/conn's TLS or write
 * queue. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "mod/service.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_BS "http://jabber.org/protocol/bytestreams"
#define P65_BUF 65536
#define P65_HEAD 64 /* the SOCKS5 greeting and request fit in this */

struct proxy65_cfg {
	char *address;	       /* where to listen */
	long long port;	       /* and on which port */
	char *host;	       /* announced; NULL: address */
	long long max_pending; /* connections not yet activated */
	long long max_streams; /* active streams per requester account */
	long long idle_timeout;
	long long pending_timeout;
	long long max_bandwidth; /* bytes/s per direction; 0: none */
};

enum p65_state {
	P65_GREETING, /* waiting for the method list */
	P65_REQUEST,  /* waiting for CONNECT with DST.ADDR */
	P65_WAITING,  /* connected, waiting for activation */
	P65_RELAY,
};

struct p65_svc;

struct p65_conn {
	struct p65_svc *svc;
	int fd;
	enum p65_state state;
	ev_io rio, wio;
	ev_timer timer;
	ev_timer bw;	     /* ends a pause for max_bandwidth */
	ev_tstamp window;    /* start of the current second */
	size_t window_bytes; /* read in it */
	int throttled;
	unsigned char head[P65_HEAD];
	size_t headlen;
	char hash[41];
	struct p65_conn *peer;
	char *owner;	    /* requester's bare JID, once activated */
	unsigned char *buf; /* read from this conn, to write to peer */
	size_t len, off;
	int eof; /* this side sent EOF */
	struct p65_conn *next;
};

struct p65_svc {
	struct host *h;
	char *domain;
	int fd;
	ev_io lio;
	struct p65_conn *conns;
	size_t pending;
};

extern const struct module mod_proxy65;

/* looked up each time: a reload replaces the settings */
static const struct proxy65_cfg *
p65_cfg(const struct p65_svc *s)
{
	return host_modcfg(s->h, &mod_proxy65);
}

static void
p65_free(struct p65_conn *c)
{
	struct p65_conn **pp;

	for (pp = &c->svc->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->state != P65_RELAY)
		c->svc->pending--;
	ev_io_stop(loop_ev, &c->rio);
	ev_io_stop(loop_ev, &c->wio);
	ev_timer_stop(loop_ev, &c->timer);
	ev_timer_stop(loop_ev, &c->bw);
	close(c->fd);
	free(c->owner);
	free(c->buf);
	free(c);
}

/* One side is done: the pair goes with it. */
static void
p65_drop(struct p65_conn *c, const char *why)
{
	struct p65_conn *p = c->peer;

	log_debug("proxy65 %s close fd=%d why=%s", c->svc->domain, c->fd, why);
	if (p != NULL) {
		p->peer = NULL;
		p65_free(p);
	}
	p65_free(c);
}

static void
p65_timeout(struct ev_loop *l, ev_timer *w, int revents)
{
	struct p65_conn *c = w->data;

	UNUSED(l);
	UNUSED(revents);
	p65_drop(c, c->state == P65_RELAY ? "idle" : "not activated");
}

static int
p65_send(struct p65_conn *c, const void *p, size_t n)
{
	/* the handshake replies are a few bytes on a fresh socket */
	return send(c->fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* Parse what arrived of the handshake; returns -1 to drop. */
static int
p65_handshake(struct p65_conn *c)
{
	static const unsigned char noauth[2] = { 5, 0 };
	unsigned char *h = c->head;
	size_t need;

	if (c->state == P65_GREETING) {
		if (c->headlen < 2)
			return 0;
		need = 2 + (size_t)h[1];
		if (h[0] != 5 || need > sizeof(c->head))
			return -1;
		if (c->headlen < need)
			return 0;
		if (memchr(h + 2, 0, h[1]) == NULL) {
			static const unsigned char none[2] = { 5, 0xff };

			p65_send(c, none, 2);
			return -1;
		}
		memmove(h, h + need, c->headlen - need);
		c->headlen -= need;
		if (p65_send(c, noauth, 2) != 0)
			return -1;
		c->state = P65_REQUEST;
	}
	if (c->state != P65_REQUEST || c->headlen < 5)
		return 0;
	/* VER CMD=CONNECT RSV ATYP=domain LEN=40 hash PORT */
	if (h[0] != 5 || h[1] != 1 || h[3] != 3 || h[4] != 40) {
		unsigned char bad[10] = { 5, 7, 0, 1 };

		p65_send(c, bad, sizeof(bad));
		return -1;
	}
	if (c->headlen < 5 + 40 + 2)
		return 0;
	if (c->headlen > 47)
		return -1; /* data before activation */
	memcpy(c->hash, h + 5, 40);
	c->hash[40] = '\0';
	for (struct p65_conn *o = c->svc->conns; o != NULL; o = o->next) {
		if (o == c || o->state != P65_WAITING ||
		    strcmp(o->hash, c->hash) != 0)
			continue;
		if (o->peer != NULL)
			return -1; /* a third party with the same address */
		o->peer = c;
		c->peer = o;
	}
	h[1] = 0; /* succeeded; the rest echoes the request */
	if (p65_send(c, h, 47) != 0)
		return -1;
	c->headlen = 0;
	c->state = P65_WAITING;
	/* nothing more is read until activation */
	ev_io_stop(loop_ev, &c->rio);
	log_debug("proxy65 %s connected fd=%d paired=%d", c->svc->domain, c->fd,
	    c->peer != NULL);
	return 0;
}

/* Move what c has read to its peer; stop reading c while the peer
 * cannot take it. Returns -1 when the pair is gone. */
static int
p65_flush(struct p65_conn *c)
{
	struct p65_conn *p = c->peer;
	ssize_t n;

	while (c->off < c->len) {
		n = send(p->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_stop(loop_ev, &c->rio);
			ev_io_start(loop_ev, &p->wio);
			return 0;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			p65_drop(c, "write failed");
			return -1;
		}
		c->off += (size_t)n;
	}
	c->off = c->len = 0;
	ev_io_stop(loop_ev, &p->wio);
	if (c->eof) {
		shutdown(p->fd, SHUT_WR);
		if (p->eof && p->len == 0) {
			p65_drop(c, "done");
			return -1;
		}
		return 0;
	}
	if (!c->throttled)
		ev_io_start(loop_ev, &c->rio);
	return 0;
}

/* max_bandwidth: how much c may read now (0: pause until the next
 * second, the bw timer resumes it). */
static size_t
p65_allowance(struct p65_conn *c)
{
	long long rate = p65_cfg(c->svc)->max_bandwidth;
	ev_tstamp now = ev_now(loop_ev);

	if (rate <= 0)
		return P65_BUF;
	if (now - c->window >= 1.0) {
		c->window = now;
		c->window_bytes = 0;
	}
	if (c->window_bytes >= (size_t)rate) {
		c->throttled = 1;
		ev_io_stop(loop_ev, &c->rio);
		if (ev_is_active(&c->bw))
			return 0;
		ev_timer_set(&c->bw, c->window + 1.0 - now, 0.);
		ev_timer_start(loop_ev, &c->bw);
		return 0;
	}
	return (size_t)rate - c->window_bytes < P65_BUF
		   ? (size_t)rate - c->window_bytes
		   : P65_BUF;
}

static void
p65_resume(struct ev_loop *l, ev_timer *w, int revents)
{
	struct p65_conn *c = w->data;

	UNUSED(l);
	UNUSED(revents);
	c->throttled = 0;
	if (c->len == 0 && !c->eof)
		ev_io_start(loop_ev, &c->rio);
}

static void
p65_read_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct p65_conn *c = w->data;
	size_t want;
	ssize_t n;

	UNUSED(l);
	UNUSED(revents);
	if (c->state != P65_RELAY) {
		n = read(
		    c->fd, c->head + c->headlen, sizeof(c->head) - c->headlen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			p65_drop(c, n == 0 ? "eof" : "read failed");
			return;
		}
		c->headlen += (size_t)n;
		if (p65_handshake(c) != 0)
			p65_drop(c, "bad socks5");
		return;
	}
	want = p65_allowance(c);
	if (want == 0)
		return;
	n = read(c->fd, c->buf, want);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		p65_drop(c, "read failed");
		return;
	}
	ev_timer_again(loop_ev, &c->timer);
	ev_timer_again(loop_ev, &c->peer->timer);
	if (n == 0) {
		c->eof = 1;
		ev_io_stop(loop_ev, &c->rio);
	}
	c->len = (size_t)n;
	c->off = 0;
	c->window_bytes += (size_t)n;
	p65_flush(c);
}

/* w is p's write watcher: p can take more of its peer's bytes. */
static void
p65_write_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct p65_conn *p = w->data;

	UNUSED(l);
	UNUSED(revents);
	if (p->peer != NULL)
		p65_flush(p->peer);
}

static void
p65_accept(struct ev_loop *l, ev_io *w, int revents)
{
	struct p65_svc *s = w->data;
	struct p65_conn *c;
	int fd;

	UNUSED(l);
	UNUSED(revents);
	fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (s->pending >= (size_t)p65_cfg(s)->max_pending) {
		log_info("proxy65 %s refused: max_pending=%lld", s->domain,
		    p65_cfg(s)->max_pending);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->svc = s;
	c->fd = fd;
	ev_io_init(&c->rio, p65_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, p65_write_cb, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	ev_timer_init(&c->timer, p65_timeout,
	    (double)p65_cfg(s)->pending_timeout,
	    (double)p65_cfg(s)->idle_timeout);
	c->timer.data = c;
	ev_init(&c->bw, p65_resume);
	c->bw.data = c;
	ev_io_start(loop_ev, &c->rio);
	ev_timer_start(loop_ev, &c->timer);
	c->next = s->conns;
	s->conns = c;
	s->pending++;
}

static struct p65_svc *
p65_svc_of(const struct hook_ev *ev)
{
	size_t i;

	for (i = 0; i < ev->host->nservices; i++)
		if (strcmp(ev->host->services[i].domain, ev->to->domain) == 0)
			return ev->host->services[i].data;
	return NULL;
}

/* The proxy serves the host's users only. */
static int
p65_refused(struct hook_ev *ev)
{
	if (ev->from->node != NULL &&
	    strcmp(ev->from->domain, ev->host->name) == 0)
		return 0;
	stanza_reply_error(ev, "auth", "forbidden", NULL);
	return 1;
}

static enum hook_ret
p65_info(struct hook_ev *ev)
{
	static const struct disco_identity id = { "proxy", "bytestreams",
		"SOCKS5 Bytestreams" };
	static const char *const feats[] = { NS_BS, NULL };
	struct xml_node *q, *r = service_disco_info(ev, &id, feats, &q);

	if (r != NULL)
		stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
p65_streamhost(struct hook_ev *ev)
{
	const struct proxy65_cfg *c = host_modcfg(ev->host, &mod_proxy65);
	struct xml_node *r, *sh;
	char port[16];

	if (p65_refused(ev))
		return HOOK_HANDLED;
	r = stanza_reply(ev);
	sh = xml_node_child(
	    xml_node_child(r, NS_BS, "query"), NULL, "streamhost");
	snprintf(port, sizeof(port), "%lld", c->port);
	xml_node_set_attr(sh, "jid", ev->to->domain);
	xml_node_set_attr(sh, "host", c->host ? c->host : c->address);
	xml_node_set_attr(sh, "port", port);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static size_t
p65_active_of(const struct p65_svc *s, const char *bare)
{
	const struct p65_conn *c;
	size_t n = 0;

	for (c = s->conns; c != NULL; c = c->next)
		n += c->owner != NULL && strcmp(c->owner, bare) == 0;
	return n;
}

static enum hook_ret
p65_activate(struct hook_ev *ev)
{
	struct p65_svc *s = p65_svc_of(ev);
	const char *sid = xml_node_attr(ev->payload, "sid");
	struct xml_node *act = xml_node_find(ev->payload, NS_BS, "activate");
	struct p65_conn *c, *found = NULL;
	unsigned char md[SHA_DIGEST_LENGTH];
	char hash[41], *in;
	struct jid target = { 0 };
	size_t i;

	if (p65_refused(ev))
		return HOOK_HANDLED;
	if (s == NULL || sid == NULL || act == NULL ||
	    jid_parse_str(&target, xml_node_text_get(act)) != 0) {
		stanza_reply_error(ev, "modify", "bad-request",
		    "sid and <activate/> with the target's JID are needed");
		return HOOK_HANDLED;
	}
	/* the JIDs as both parties know them: prepared */
	in = xasprintf("%s%s%s", sid, ev->from->full, target.full);
	jid_cleanup(&target);
	SHA1((const unsigned char *)in, strlen(in), md);
	free(in);
	for (i = 0; i < sizeof(md); i++)
		snprintf(hash + 2 * i, 3, "%02x", md[i]);
	for (c = s->conns; c != NULL; c = c->next)
		if (c->state == P65_WAITING && strcmp(c->hash, hash) == 0)
			found = c;
	if (found == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found",
		    "no connection for this stream from this requester");
		return HOOK_HANDLED;
	}
	if (found->peer == NULL) {
		stanza_reply_error(
		    ev, "cancel", "not-allowed", "only one party is connected");
		return HOOK_HANDLED;
	}
	if (p65_active_of(s, ev->from->bare) >=
	    2 * (size_t)p65_cfg(s)->max_streams) {
		stanza_reply_error(ev, "wait", "resource-constraint",
		    "too many streams at once");
		return HOOK_HANDLED;
	}
	for (c = found, i = 0; i < 2; c = c->peer, i++) {
		c->state = P65_RELAY;
		s->pending--;
		c->owner = xstrdup(ev->from->bare);
		c->buf = xmalloc(P65_BUF);
		ev_timer_stop(loop_ev, &c->timer);
		ev_timer_set(&c->timer, (double)p65_cfg(s)->idle_timeout,
		    (double)p65_cfg(s)->idle_timeout);
		ev_timer_start(loop_ev, &c->timer);
		ev_io_start(loop_ev, &c->rio);
	}
	log_info(
	    "proxy65 %s activated requester=%s", s->domain, ev->from->full);
	stanza_reply_result(ev);
	return HOOK_HANDLED;
}

static int
p65_service_init(struct host *h, struct host_service *hs)
{
	const struct proxy65_cfg *c = host_modcfg(h, &mod_proxy65);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct p65_svc *s;
	int fd, one = 1, v6 = strchr(c->address, ':') != NULL;

	if (v6 ? inet_pton(AF_INET6, c->address, &a6.sin6_addr) != 1
	       : inet_pton(AF_INET, c->address, &a4.sin_addr) != 1) {
		log_err("proxy65 %s: address %s is not an IP address",
		    hs->domain, c->address);
		return -1;
	}
	a4.sin_port = a6.sin6_port = htons((uint16_t)c->port);
	fd = socket(v6 ? AF_INET6 : AF_INET,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if ((v6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6))
		: bind(fd, (struct sockaddr *)&a4, sizeof(a4))) != 0 ||
	    listen(fd, 64) != 0) {
		log_err("proxy65 %s: listen on %s port %lld: %s", hs->domain,
		    c->address, c->port, strerror(errno));
		close(fd);
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->h = h;
	s->domain = xstrdup(hs->domain);
	s->fd = fd;
	ev_io_init(&s->lio, p65_accept, fd, EV_READ);
	s->lio.data = s;
	ev_io_start(loop_ev, &s->lio);
	hs->data = s;
	log_info("proxy65 %s listening on %s port %lld", s->domain, c->address,
	    c->port);
	return 0;
}

static void
p65_service_cleanup(struct host *h, struct host_service *hs)
{
	struct p65_svc *s = hs->data;

	UNUSED(h);
	if (s == NULL)
		return;
	while (s->conns != NULL)
		p65_drop(s->conns, "service stopped");
	ev_io_stop(loop_ev, &s->lio);
	close(s->fd);
	free(s->domain);
	free(s);
	hs->data = NULL;
}

static const struct cfg_directive proxy65_dirs[] = {
	{ .name = "address",
	    .type = CFG_STRING,
	    .offset = offsetof(struct proxy65_cfg, address),
	    .def = "127.0.0.1",
	    .doc = "IP address the SOCKS5 listener binds." },
	{ .name = "port",
	    .type = CFG_INT,
	    .offset = offsetof(struct proxy65_cfg, port),
	    .def = "7777",
	    .min = 1,
	    .max = 65535,
	    .doc = "Port of the SOCKS5 listener." },
	{ .name = "host",
	    .type = CFG_STRING,
	    .offset = offsetof(struct proxy65_cfg, host),
	    .doc = "Host name or address announced to clients (unset: "
		   "address); set it to the public name when address is "
		   "a wildcard or behind NAT." },
	{ .name = "max_pending",
	    .type = CFG_INT,
	    .offset = offsetof(struct proxy65_cfg, max_pending),
	    .def = "100",
	    .min = 1,
	    .max = 100000,
	    .doc = "Connections that wait for activation at once; more are "
		   "closed on accept." },
	{ .name = "max_streams_per_user",
	    .type = CFG_INT,
	    .offset = offsetof(struct proxy65_cfg, max_streams),
	    .def = "5",
	    .min = 1,
	    .max = 10000,
	    .doc = "Active streams one account may have requested at once "
		   "(more: resource-constraint)." },
	{ .name = "pending_timeout",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct proxy65_cfg, pending_timeout),
	    .def = "1m",
	    .min = 1,
	    .max = 3600,
	    .doc = "A connection not activated within this time is closed." },
	{ .name = "idle_timeout",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct proxy65_cfg, idle_timeout),
	    .def = "5m",
	    .min = 1,
	    .max = 86400,
	    .doc = "An active stream that carries no byte for this long is "
		   "closed." },
	{ .name = "max_bandwidth",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct proxy65_cfg, max_bandwidth),
	    .def = "0",
	    .min = 0,
	    .max = 1LL << 40,
	    .doc = "Bytes per second one stream may carry each way (0: no "
		   "limit)." },
	{ .name = NULL },
};

static const struct cfg_section proxy65_section = {
	.name = "proxy65",
	.dirs = proxy65_dirs,
	.size = sizeof(struct proxy65_cfg),
	.doc = "Settings of the SOCKS5 bytestreams proxy.",
};

static const struct hook_reg proxy65_hooks[] = {
	{ "iq-get/host/" NS_INFO ":query", p65_info, 0 },
	{ "iq-get/host/" NS_ITEMS ":query", service_disco_items, 0 },
	{ "iq-get/host/" NS_BS ":query", p65_streamhost, 0 },
	{ "iq-set/host/" NS_BS ":query", p65_activate, 0 },
	HOOK_REG_END,
};

const struct module mod_proxy65 = {
	.name = "proxy65",
	.spec = "XEP-0065",
	.doc = "A SOCKS5 bytestreams proxy for file transfer on a service "
	       "domain (services: list), with its own listener.",
	.kinds = MODULE_ON_SERVICE,
	.service_hooks = proxy65_hooks,
	.config = &proxy65_section,
	.service_init = p65_service_init,
	.service_cleanup = p65_service_cleanup,
};

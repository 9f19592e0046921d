/* connect.c: staggered non-blocking connects (see connect.h). */
#include "net/connect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#define STAGGER 0.25 /* seconds between attempts (RFC 8305 §5) */

struct attempt {
	ev_io w;
	int fd;
	struct job *job;
};

struct job {
	uint64_t token;
	connect_fn fn;
	struct resolve_addr *v;
	size_t n, next;
	struct attempt *at; /* one per address, fd -1 when not running */
	size_t running;
	ev_timer stagger, deadline;
	int done;
	int last_errno;
};

static void try_next(struct job *j);

/* Every watcher of j is stopped here, and j freed: nothing else points
 * at it. */
static void
finish(struct job *j, int fd, const struct resolve_addr *a, const char *err)
{
	size_t i;

	j->done = 1;
	ev_timer_stop(loop_ev, &j->stagger);
	ev_timer_stop(loop_ev, &j->deadline);
	for (i = 0; i < j->n; i++) {
		if (j->at[i].fd < 0)
			continue;
		ev_io_stop(loop_ev, &j->at[i].w);
		if (j->at[i].fd != fd)
			close(j->at[i].fd);
	}
	j->fn(j->token, fd, a, err);
	free(j->at);
	free(j->v);
	free(j);
}

static void
all_failed(struct job *j)
{
	finish(j, -1, NULL,
	    j->last_errno ? strerror(j->last_errno) : "no address to try");
}

static void
attempt_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct attempt *a = w->data;
	struct job *j = a->job;
	int err = 0;
	socklen_t len = sizeof(err);
	size_t idx = (size_t)(a - j->at);

	UNUSED(l);
	UNUSED(revents);
	if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == 0) {
		int fd = a->fd;

		ev_io_stop(loop_ev, w);
		a->fd = -1;
		finish(j, fd, &j->v[idx], NULL);
		return;
	}
	ev_io_stop(loop_ev, w);
	close(a->fd);
	a->fd = -1;
	j->running--;
	j->last_errno = err;
	/* a failure starts the next attempt at once */
	try_next(j);
}

static void
try_next(struct job *j)
{
	while (j->next < j->n) {
		struct attempt *a = &j->at[j->next];
		const struct resolve_addr *ra = &j->v[j->next];
		int fd;

		j->next++;
		fd = socket(ra->sa.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			j->last_errno = errno;
			continue;
		}
		if (connect(fd, (const struct sockaddr *)&ra->sa, ra->len) !=
			0 &&
		    errno != EINPROGRESS) {
			j->last_errno = errno;
			close(fd);
			continue;
		}
		a->fd = fd;
		a->job = j;
		ev_io_init(&a->w, attempt_cb, fd, EV_WRITE);
		a->w.data = a;
		ev_io_start(loop_ev, &a->w);
		j->running++;
		if (j->next < j->n) {
			ev_timer_stop(loop_ev, &j->stagger);
			ev_timer_set(&j->stagger, STAGGER, 0.0);
			ev_timer_start(loop_ev, &j->stagger);
		}
		return;
	}
	if (j->running == 0)
		all_failed(j);
}

static void
stagger_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(revents);
	try_next(w->data);
}

static void
deadline_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(revents);
	finish(w->data, -1, NULL, "connection timed out");
}

static void
start_cb(void *arg)
{
	try_next(arg);
}

void
connect_start(const struct resolve_addr *v, size_t n, double timeout,
    connect_fn fn, uint64_t token)
{
	struct job *j = xcalloc(1, sizeof(*j));
	size_t i;

	j->token = token;
	j->fn = fn;
	j->n = n;
	j->v = xmalloc((n ? n : 1) * sizeof(*v));
	if (n)
		memcpy(j->v, v, n * sizeof(*v));
	j->at = xcalloc(n ? n : 1, sizeof(*j->at));
	for (i = 0; i < n; i++)
		j->at[i].fd = -1;
	ev_timer_init(&j->stagger, stagger_cb, STAGGER, 0.0);
	j->stagger.data = j;
	ev_timer_init(&j->deadline, deadline_cb, timeout, 0.0);
	j->deadline.data = j;
	ev_timer_start(loop_ev, &j->deadline);
	/* the first attempt starts from the loop: the callback must never
	 * run inside connect_start */
	loop_defer(start_cb, j);
}

/* ---- SOCKS5 (RFC 1928) through a proxy, for Tor ---- */

struct socks {
	struct socks *next;
	uint64_t id, token;
	connect_fn fn;
	char host[256];
	unsigned port;
	struct resolve_addr proxy;
	int fd;
	ev_io w;
	ev_timer deadline;
	unsigned char buf[300];
	size_t len, want; /* bytes in buf; bytes the current step reads */
	int step;	  /* 0 greeting sent, 1 connect sent */
};

static struct socks *socks_all;
static uint64_t socks_next = 1;

static void
socks_done(struct socks *s, int ok, const char *err)
{
	struct socks **pp;

	for (pp = &socks_all; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	ev_timer_stop(loop_ev, &s->deadline);
	if (s->fd >= 0)
		ev_io_stop(loop_ev, &s->w);
	if (!ok && s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	s->fn(s->token, ok ? s->fd : -1, ok ? &s->proxy : NULL, err);
	free(s);
}

static int
socks_send(struct socks *s, const unsigned char *p, size_t n)
{
	/* a few bytes on a fresh connection: the socket buffer takes them */
	return write(s->fd, p, n) == (ssize_t)n ? 0 : -1;
}

static void
socks_read_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct socks *s = w->data;
	ssize_t n;

	UNUSED(l);
	UNUSED(revents);
	n = read(s->fd, s->buf + s->len, s->want - s->len);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		socks_done(s, 0, "the SOCKS5 proxy closed the connection");
		return;
	}
	s->len += (size_t)n;
	if (s->len < s->want)
		return;
	if (s->step == 0) {
		unsigned char req[300];
		size_t hl = strlen(s->host), k = 0;

		if (s->buf[0] != 5 || s->buf[1] != 0) {
			socks_done(
			    s, 0, "the SOCKS5 proxy wants authentication");
			return;
		}
		/* CONNECT by name: the proxy resolves it (.onion) */
		req[k++] = 5;
		req[k++] = 1;
		req[k++] = 0;
		req[k++] = 3;
		req[k++] = (unsigned char)hl;
		memcpy(req + k, s->host, hl);
		k += hl;
		req[k++] = (unsigned char)(s->port >> 8);
		req[k++] = (unsigned char)(s->port & 0xff);
		if (socks_send(s, req, k) != 0) {
			socks_done(s, 0, "cannot write to the SOCKS5 proxy");
			return;
		}
		s->step = 1;
		s->len = 0;
		s->want = 5; /* up to the first byte of the bound address */
		return;
	}
	if (s->want == 5) {
		size_t rest;

		if (s->buf[0] != 5 || s->buf[1] != 0) {
			socks_done(s, 0, "the SOCKS5 proxy could not connect");
			return;
		}
		switch (s->buf[3]) {
		case 1:
			rest = 4 - 1 + 2;
			break;
		case 4:
			rest = 16 - 1 + 2;
			break;
		case 3:
			rest = (size_t)s->buf[4] + 2;
			break;
		default:
			socks_done(s, 0, "bad SOCKS5 reply");
			return;
		}
		s->want = 5 + rest;
		if (s->len < s->want)
			return;
	}
	socks_done(s, 1, NULL);
}

static void
socks_deadline_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(revents);
	socks_done(w->data, 0, "the SOCKS5 proxy timed out");
}

static void
socks_connected(
    uint64_t token, int fd, const struct resolve_addr *a, const char *err)
{
	static const unsigned char hello[] = { 5, 1, 0 }; /* no auth */
	struct socks *s;

	UNUSED(a);
	for (s = socks_all; s && s->id != token; s = s->next)
		;
	if (s == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (fd < 0) {
		s->fd = -1;
		socks_done(s, 0, err);
		return;
	}
	s->fd = fd;
	ev_io_init(&s->w, socks_read_cb, fd, EV_READ);
	s->w.data = s;
	ev_io_start(loop_ev, &s->w);
	s->want = 2;
	if (socks_send(s, hello, sizeof(hello)) != 0)
		socks_done(s, 0, "cannot write to the SOCKS5 proxy");
}

void
connect_socks5(const struct resolve_addr *proxy, const char *host,
    unsigned port, double timeout, connect_fn fn, uint64_t token)
{
	struct socks *s = xcalloc(1, sizeof(*s));

	s->id = socks_next++;
	s->token = token;
	s->fn = fn;
	s->fd = -1;
	s->proxy = *proxy;
	s->port = port;
	snprintf(s->host, sizeof(s->host), "%.255s", host);
	ev_timer_init(&s->deadline, socks_deadline_cb, timeout, 0.0);
	s->deadline.data = s;
	ev_timer_start(loop_ev, &s->deadline);
	s->next = socks_all;
	socks_all = s;
	connect_start(proxy, 1, timeout, socks_connected, s->id);
}

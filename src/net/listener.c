/* listener.c: bind, listen and accept on the loop. */
#include "net/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#define MAX_KINDS 8

struct listener {
	int fd;
	ev_io io;
	struct cfg_listener cfg; /* copy; address owned */
	struct listener *next;
	int keep; /* reconcile mark */
};

static listener_accept_fn handlers[MAX_KINDS];
static struct listener *all;

void
listener_set_handler(int kind, listener_accept_fn fn)
{
	if (kind >= 0 && kind < MAX_KINDS)
		handlers[kind] = fn;
}

static void
peer_str(const struct sockaddr_storage *ss, char *out, size_t n)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out,
			    (socklen_t)n);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)n);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, out, (socklen_t)n);
	}
}

static void
accept_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct listener *ls = w->data;
	int i;

	UNUSED(l);
	UNUSED(revents);
	/* bounded: other events get their turn */
	for (i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char peer[INET6_ADDRSTRLEN];
		int one = 1;
		int fd = accept4(ls->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("listener accept failed port=%lld: %s",
				    ls->cfg.port, strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		peer_str(&ss, peer, sizeof(peer));
		if (handlers[ls->cfg.kind] == NULL) {
			close(fd);
			continue;
		}
		handlers[ls->cfg.kind](fd, peer, &ls->cfg);
	}
}

static int
open_one(const struct cfg_listener *cl, char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	char port[16];
	const char *addr = cl->address;
	int rc, opened = 0;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if (strcmp(addr, "*") == 0)
		addr = NULL;
	snprintf(port, sizeof(port), "%lld", cl->port);
	rc = getaddrinfo(addr, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listener %s:%s: %s", cl->address, port,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct listener *ls;
		int one = 1;
		int fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		char shown[INET6_ADDRSTRLEN];

		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(
			    fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
		    listen(fd, 1024) != 0) {
			snprintf(err, errlen, "listener %s:%s: %s", cl->address,
			    port, strerror(errno));
			close(fd);
			freeaddrinfo(res);
			return -1;
		}
		ls = xcalloc(1, sizeof(*ls));
		ls->fd = fd;
		ls->cfg = *cl;
		ls->cfg.address = xstrdup(cl->address);
		ls->keep = 1;
		ev_io_init(&ls->io, accept_cb, fd, EV_READ);
		ls->io.data = ls;
		ev_io_start(loop_ev, &ls->io);
		ls->next = all;
		all = ls;
		peer_str((const struct sockaddr_storage *)(void *)ai->ai_addr,
		    shown, sizeof(shown));
		log_info("ternd: listening %s on %s%s%s:%s",
		    cfg_listener_kinds[cl->kind],
		    ai->ai_family == AF_INET6 ? "[" : "", shown,
		    ai->ai_family == AF_INET6 ? "]" : "", port);
		opened++;
	}
	freeaddrinfo(res);
	if (!opened) {
		snprintf(err, errlen, "listener %s:%s: no usable address",
		    cl->address, port);
		return -1;
	}
	return 0;
}

int
listener_open_all(const struct config *c, char *err, size_t errlen)
{
	const struct cfg_listener *v = c->listeners.items;
	size_t i;

	for (i = 0; i < c->listeners.n; i++)
		if (open_one(&v[i], err, errlen) != 0)
			return -1;
	return 0;
}

static void
free_listener(struct listener *ls)
{
	ev_io_stop(loop_ev, &ls->io);
	close(ls->fd);
	free(ls->cfg.address);
	free(ls);
}

int
listener_reconcile(const struct config *c, char *err, size_t errlen)
{
	const struct cfg_listener *v = c->listeners.items;
	struct listener *ls, **pp;
	size_t i;
	int rc = 0;

	for (ls = all; ls; ls = ls->next)
		ls->keep = 0;
	for (i = 0; i < c->listeners.n; i++) {
		int found = 0;

		for (ls = all; ls; ls = ls->next) {
			if (ls->cfg.kind == v[i].kind &&
			    ls->cfg.port == v[i].port &&
			    strcmp(ls->cfg.address, v[i].address) == 0) {
				ls->keep = 1;
				ls->cfg.metrics = v[i].metrics;
				found = 1;
			}
		}
		if (!found && open_one(&v[i], err, errlen) != 0)
			rc = -1;
	}
	for (pp = &all; *pp;) {
		ls = *pp;
		if (!ls->keep) {
			*pp = ls->next;
			free_listener(ls);
		} else {
			pp = &ls->next;
		}
	}
	return rc;
}

void
listener_close_all(void)
{
	while (all) {
		struct listener *ls = all;

		all = ls->next;
		free_listener(ls);
	}
}

/* check_ports.c: `ternctl check ports`: the running ternd accepts
 * connections on every configured listener (from this machine, and with
 * --public ADDRESS also on that address, as the world would connect). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config.h"
#include "core/util.h"
#include "check.h"

#define CONNECT_TIMEOUT_MS 3000

/* 0 connected; else an errno */
static int
try_connect(const char *host, unsigned port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	struct pollfd p;
	char serv[8];
	socklen_t len = sizeof(int);
	int fd, err = 0;

	snprintf(serv, sizeof(serv), "%u", port);
	if (getaddrinfo(host, serv, &hints, &ai) != 0)
		return EINVAL;
	fd = socket(
	    ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		goto out_free;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto out_close;
	if (errno != EINPROGRESS) {
		err = errno;
		goto out_close;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1) {
		err = ETIMEDOUT;
		goto out_close;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
out_close:
	close(fd);
out_free:
	freeaddrinfo(ai);
	return err;
}

/* Is a ternd behind the control socket? */
static int
ternd_running(const struct config *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = cfg->control_socket;
	int fd, ok;

	if (path == NULL || *path == '\0' ||
	    strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Where to reach a listener from here: its address, or the loopback
 * for one bound to every address. */
static const char *
local_address(const char *address)
{
	if (strcmp(address, "*") == 0 || strcmp(address, "0.0.0.0") == 0)
		return "127.0.0.1";
	if (strcmp(address, "::") == 0)
		return "::1";
	return address;
}

static void
check_one(struct check *c, const struct cfg_listener *l, const char *host)
{
	const char *kind = cfg_listener_kinds[l->kind];
	char subject[128], fix[300];
	int err;

	snprintf(subject, sizeof(subject), "%s %s%s%s:%lld", kind,
	    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
	    l->port);
	err = try_connect(host, (unsigned)l->port);
	if (err == 0) {
		check_ok(subject, "accepts connections");
		return;
	}
	if (host == c->public_addr)
		snprintf(fix, sizeof(fix),
		    "open port %lld in the firewall and forward it to the "
		    "server",
		    l->port);
	else
		snprintf(fix, sizeof(fix),
		    "see ternd's log for why it could not bind port %lld, "
		    "or ternctl reload after changing listeners",
		    l->port);
	check_error(c, subject, fix, "cannot connect: %s", strerror(err));
}

void
check_ports(struct check *c)
{
	const struct cfg_listener *l = c->cfg->listeners.items;
	char fix[300];
	size_t i;
	int rc;

	rc = ternd_running(c->cfg);
	if (rc != 1) {
		snprintf(fix, sizeof(fix),
		    "start ternd (ternd -c %s), then check again",
		    c->cfg->file);
		check_error(c, "ternd", fix,
		    "not running (no answer on control socket %s): its "
		    "listeners cannot be checked",
		    c->cfg->control_socket ? c->cfg->control_socket : "(none)");
		return;
	}
	for (i = 0; i < c->cfg->listeners.n; i++) {
		check_one(c, &l[i], local_address(l[i].address));
		/* components connect from this machine, not the world */
		if (c->public_addr != NULL && l[i].kind != LISTEN_COMPONENT)
			check_one(c, &l[i], c->public_addr);
	}
}

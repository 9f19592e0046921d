/* ctl.c: the control socket. Requests are tiny and local; each client
 * gets one line and one answer, with a short deadline. */
#include "core/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#define CTL_LINE 1024
#define CTL_MAX_CMDS 16

struct ctl_client {
	int fd;
	ev_io io;
	ev_timer timer;
	char line[CTL_LINE];
	size_t len;
};

static struct {
	const char *name;
	ctl_fn fn;
} cmds[CTL_MAX_CMDS];
static size_t ncmds;
static int lfd = -1;
static ev_io lio;
static char *lpath;

void
ctl_register(const char *name, ctl_fn fn)
{
	if (ncmds < CTL_MAX_CMDS) {
		cmds[ncmds].name = name;
		cmds[ncmds].fn = fn;
		ncmds++;
	}
}

static void
client_free(struct ctl_client *cl)
{
	ev_io_stop(loop_ev, &cl->io);
	ev_timer_stop(loop_ev, &cl->timer);
	close(cl->fd);
	free(cl);
}

static void
run_line(struct ctl_client *cl)
{
	char *argv[8], reply[512], *save = NULL, *tok;
	int argc = 0;
	size_t i;

	for (tok = strtok_r(cl->line, " \t\r", &save); tok && argc < 8;
	     tok = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = tok;
	snprintf(reply, sizeof(reply), "error unknown command");
	if (argc > 0) {
		for (i = 0; i < ncmds; i++) {
			if (strcmp(cmds[i].name, argv[0]) == 0) {
				cmds[i].fn(argc, argv, reply, sizeof(reply));
				break;
			}
		}
	}
	strncat(reply, "\n", sizeof(reply) - strlen(reply) - 1);
	if (write(cl->fd, reply, strlen(reply)) < 0)
		log_debug("ctl reply not written: %s", strerror(errno));
}

static void
client_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct ctl_client *cl = w->data;
	char *nl;
	ssize_t n;

	UNUSED(l);
	UNUSED(revents);
	n = read(cl->fd, cl->line + cl->len, sizeof(cl->line) - 1 - cl->len);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		client_free(cl);
		return;
	}
	cl->len += (size_t)n;
	cl->line[cl->len] = '\0';
	nl = strchr(cl->line, '\n');
	if (nl == NULL && cl->len < sizeof(cl->line) - 1)
		return;
	if (nl)
		*nl = '\0';
	run_line(cl);
	client_free(cl);
}

/* Safe by pointer: client_free stops the io watcher and this timer
 * (which also drops a pending event) before freeing. */
static void
client_timeout(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(revents);
	client_free(w->data);
}

static void
accept_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct ctl_client *cl;
	int fd;

	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	cl = xcalloc(1, sizeof(*cl));
	cl->fd = fd;
	ev_io_init(&cl->io, client_cb, fd, EV_READ);
	cl->io.data = cl;
	ev_io_start(loop_ev, &cl->io);
	ev_timer_init(&cl->timer, client_timeout, 5.0, 0.0);
	cl->timer.data = cl;
	ev_timer_start(loop_ev, &cl->timer);
}

int
ctl_open(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control_socket %s: path too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		goto fail;
	unlink(path);
	/* only the server's own user may administer it */
	old = umask(0177);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		goto fail;
	}
	umask(old);
	if (listen(lfd, 16) != 0)
		goto fail;
	ev_io_init(&lio, accept_cb, lfd, EV_READ);
	ev_io_start(loop_ev, &lio);
	lpath = xstrdup(path);
	return 0;
fail:
	snprintf(err, errlen, "control_socket %s: %s", path, strerror(errno));
	if (lfd >= 0)
		close(lfd);
	lfd = -1;
	return -1;
}

void
ctl_close(void)
{
	if (lfd < 0)
		return;
	ev_io_stop(loop_ev, &lio);
	close(lfd);
	lfd = -1;
	unlink(lpath);
	free(lpath);
	lpath = NULL;
}

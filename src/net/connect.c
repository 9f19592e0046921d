/* connect.c: staggered non-blocking connects (see connect.h). */
#include "net/connect.h"

#include <errno.h>
#include <fcntl.h>
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

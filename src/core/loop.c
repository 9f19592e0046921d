/* loop.c: the event loop glue. Anything acknowledged to a peer is written
 * in phase 1, after the storage commit of phase 0 (group commit), so no
 * acknowledgement can get ahead of durable storage. When that commit
 * fails (disk full, I/O error), phases 1 and 2 do not run and all I/O is
 * held (loop_io_held) while the commit is retried every second; store.c
 * keeps the writes for the retry. */
#include "core/loop.h"

#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

struct ev_loop *loop_ev;
static ev_prepare prepare_w;
static ev_timer retry_w;
static ev_idle kick_w;
static int io_held, retry_due;
static int (*commit_fn)(void);
static int64_t started;

#define RETRY_SECONDS 1.0

struct deferred {
	void (*fn)(void *);
	void *arg;
};

static struct deferred *defer_v;
static size_t defer_n, defer_cap;

#define PHASES (LOOP_LAST + 1)
#define PHASE_MAX 8
static void (*phase_fns[PHASES][PHASE_MAX])(void);
static size_t phase_n[PHASES];

void
loop_defer(void (*fn)(void *), void *arg)
{
	if (defer_n == defer_cap) {
		defer_cap = defer_cap ? defer_cap * 2 : 64;
		defer_v = xrealloc(defer_v, defer_cap * sizeof(*defer_v));
	}
	defer_v[defer_n].fn = fn;
	defer_v[defer_n].arg = arg;
	defer_n++;
}

void
loop_at_idle(enum loop_phase phase, void (*fn)(void))
{
	if ((int)phase < 0 || phase >= PHASES || phase_n[phase] >= PHASE_MAX)
		abort();
	phase_fns[phase][phase_n[phase]++] = fn;
}

void
loop_set_commit(int (*commit)(void))
{
	commit_fn = commit;
}

static void
run_phase(int p)
{
	size_t i;

	for (i = 0; i < phase_n[p]; i++)
		phase_fns[p][i]();
}

static void
kick_cb(struct ev_loop *l, ev_idle *w, int revents)
{
	UNUSED(revents);
	ev_idle_stop(l, w);
}

void
loop_kick(void)
{
	if (!ev_is_active(&kick_w))
		ev_idle_start(loop_ev, &kick_w);
}

int
loop_io_held(void)
{
	return io_held;
}

static void
retry_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	retry_due = 1; /* the commit runs in loop_drain, after this */
}

/* The group commit; 0 when what is queued may be written. */
static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
commit(void)
{
	int64_t t0;
	int rc;

	if (commit_fn == NULL)
		return 0;
	if (io_held && !retry_due)
		return -1;
	retry_due = 0;
	t0 = now_us();
	rc = commit_fn();
	metrics_commit((uint64_t)(now_us() - t0));
	if (rc == 0) {
		if (io_held) {
			io_held = 0;
			ev_timer_stop(loop_ev, &retry_w);
			log_info("storage works again: network I/O resumed");
		}
		return 0;
	}
	metrics.commit_failed++;
	if (!io_held) {
		io_held = 1;
		log_err("storage commit failed: holding all network I/O, "
			"retrying every %.0f s",
		    RETRY_SECONDS);
		ev_timer_init(&retry_w, retry_cb, RETRY_SECONDS, RETRY_SECONDS);
		ev_timer_start(loop_ev, &retry_w);
	}
	return -1;
}

void
loop_drain(void)
{
	size_t i;

	run_phase(LOOP_BEFORE_COMMIT);
	/* deferred work may add more deferred work: run until empty */
	for (i = 0; i < defer_n; i++)
		defer_v[i].fn(defer_v[i].arg);
	defer_n = 0;
	if (commit() < 0)
		return;
	run_phase(LOOP_AFTER_COMMIT);
	run_phase(LOOP_LAST);
}

static void
prepare_cb(struct ev_loop *l, ev_prepare *w, int revents)
{
	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	loop_drain();
}

void
loop_init(void)
{
	loop_ev = ev_default_loop(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (loop_ev == NULL) {
		log_err("cannot initialise libev");
		abort();
	}
	started = now_unix();
	ev_idle_init(&kick_w, kick_cb);
	ev_prepare_init(&prepare_w, prepare_cb);
	ev_prepare_start(loop_ev, &prepare_w);
}

int64_t
loop_started(void)
{
	return started;
}

void
loop_run(void)
{
	ev_run(loop_ev, 0);
}

void
loop_stop(void)
{
	ev_break(loop_ev, EVBREAK_ALL);
}

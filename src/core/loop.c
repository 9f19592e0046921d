/* loop.c: the event loop glue. Anything acknowledged to a peer is written
 * in phase 1, after the storage commit of phase 0 (group commit), so no
 * acknowledgement can get ahead of durable storage. */
#include "core/loop.h"

#include <stdlib.h>

#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

struct ev_loop *loop_ev;
static ev_prepare prepare_w;

struct deferred {
	void (*fn)(void *);
	void *arg;
};

static struct deferred *defer_v;
static size_t defer_n, defer_cap;

#define PHASES 3
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
loop_at_idle(int phase, void (*fn)(void))
{
	if (phase < 0 || phase >= PHASES || phase_n[phase] >= PHASE_MAX)
		abort();
	phase_fns[phase][phase_n[phase]++] = fn;
}

static void
run_phase(int p)
{
	size_t i;

	for (i = 0; i < phase_n[p]; i++)
		phase_fns[p][i]();
}

void
loop_drain(void)
{
	size_t i;

	run_phase(0);
	/* deferred work may add more deferred work: run until empty */
	for (i = 0; i < defer_n; i++)
		defer_v[i].fn(defer_v[i].arg);
	defer_n = 0;
	if (store_main)
		store_commit();
	run_phase(1);
	run_phase(2);
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
	ev_prepare_init(&prepare_w, prepare_cb);
	ev_prepare_start(loop_ev, &prepare_w);
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

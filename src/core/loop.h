/* loop.h: the one libev loop and what runs when it is about to sleep:
 * group commit of storage, then flushing of every connection's queued
 * writes, then freeing of connections closed during the iteration. */
#ifndef TERN_LOOP_H
#define TERN_LOOP_H

#include <ev.h>
#include <stdint.h>

extern struct ev_loop *loop_ev;

void loop_init(void);
/* When loop_init ran: the server's start, for uptime (unix seconds). */
int64_t loop_started(void);
void loop_run(void);
void loop_stop(void);
/* Run the pre-sleep work now (deferred frees, commit, flush, reap). */
void loop_drain(void);

/* Run fn(arg) once, when the loop is next about to sleep, before the
 * commit. Used to free objects outside their own callbacks. */
void loop_defer(void (*fn)(void *), void *arg);

/* What runs at every pre-sleep point, in this order. */
enum loop_phase {
	LOOP_BEFORE_COMMIT, /* work whose writes join this commit */
	LOOP_AFTER_COMMIT,  /* writing to peers what the commit made safe */
	LOOP_LAST,	    /* freeing what closed during the iteration */
};
void loop_at_idle(enum loop_phase phase, void (*fn)(void));

/* The group commit between the phases, registered by whoever owns
 * storage: it returns 0 when what was queued may be written, -1 when it
 * failed (I/O is then held and the commit retried every second). None
 * registered: nothing to commit. */
void loop_set_commit(int (*commit)(void));

/* True while storage commits fail: the network layer then reads nothing
 * and writes nothing (every queued byte may acknowledge uncommitted
 * work) until a retried commit succeeds. */
int loop_io_held(void);

/* Work was queued from the end-of-iteration phases (events fed there run
 * after this iteration's flush): make the next poll return at once so
 * another iteration flushes it. */
void loop_kick(void);

#endif

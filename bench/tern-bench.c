/* tern-bench.c: options and scenarios of the XMPP load generator.
 *
 * Each scenario is written as a sequence of phases (log in, set up, warm
 * up, measure, drain, tear down); a phase runs the event loop until its
 * condition holds or its time is up, so every run is bounded. Users are
 * provisioned before any phase and never while measuring. */
#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "bench.h"

struct bopts bo;
struct ev_loop *bloop;

/* ---- errors ---- */
struct errcount {
	char msg[96];
	unsigned long n;
};

static struct errcount errs[16];
static unsigned long n_errors, n_ops;

static void
record_errors(const char *msg, unsigned long n)
{
	size_t i;

	n_errors += n;
	for (i = 0; i < ARRAYLEN(errs) && errs[i].n > 0; i++) {
		if (strcmp(errs[i].msg, msg) == 0) {
			errs[i].n += n;
			return;
		}
	}
	if (i == ARRAYLEN(errs))
		i--; /* the last slot collects the rest */
	if (errs[i].n == 0)
		snprintf(errs[i].msg, sizeof(errs[i].msg), "%s", msg);
	errs[i].n += n;
}

static void
record_error(const char *msg)
{
	record_errors(msg, 1);
}

/* The errors by kind: with the results on stdout, after a failed set-up
 * on stderr (where run-compare.sh takes the reason of a failed run). */
static void
print_errors(FILE *f)
{
	for (size_t i = 0; i < ARRAYLEN(errs) && errs[i].n > 0; i++)
		fprintf(f, "  error: %-50s %10lu\n", errs[i].msg, errs[i].n);
}

/* ---- phases ---- */
static double deadline;
static int (*phase_cond)(void);
static int phase_timed_out;
static ev_timer phase_timer;

static void
check(void)
{
	if (phase_cond != NULL && phase_cond())
		ev_break(bloop, EVBREAK_ALL);
}

static void
phase_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	phase_timed_out = 1;
	ev_break(loop, EVBREAK_ALL);
}

static int
never(void)
{
	return 0;
}

/* Run the loop until cond() or `timeout` seconds (capped by --timeout).
 * 0: cond held; -1: timed out. */
static int
run_phase(const char *name, double timeout, int (*cond)(void))
{
	double left = deadline - bc_now();

	if (timeout > left)
		timeout = left;
	if (cond())
		return 0;
	if (timeout <= 0) {
		fprintf(stderr, "tern-bench: --timeout reached before %s\n",
		    name);
		return -1;
	}
	phase_cond = cond;
	phase_timed_out = 0;
	ev_timer_set(&phase_timer, timeout, 0.);
	ev_timer_start(bloop, &phase_timer);
	while (!phase_timed_out && !cond())
		ev_run(bloop, 0);
	ev_timer_stop(bloop, &phase_timer);
	phase_cond = NULL;
	if (cond())
		return 0;
	if (cond != never)
		fprintf(stderr, "tern-bench: %s timed out after %.1f s\n", name,
		    timeout);
	return -1;
}

/* Run the loop for a fixed time; 0 unless --timeout cut it short. */
static int
run_for(double secs)
{
	double left = deadline - bc_now();

	run_phase("wait", secs, never);
	return secs > left ? -1 : 0;
}

static const char *
tls_mode(void)
{
	return bo.ws_path ? "websocket (direct TLS)" : bo.no_tls ? "none" :
	    bo.direct_tls ? "direct" : "starttls";
}

/* ---- CPU and RSS around a measurement ---- */
struct window {
	double t0, t1, self0, self1;
	struct bproc p0, p1;
};

static void
window_start(struct window *w)
{
	bs_proc_read(&w->p0);
	w->self0 = bs_self_cpu();
	w->t0 = bc_now();
}

static void
window_stop(struct window *w)
{
	w->t1 = bc_now();
	w->self1 = bs_self_cpu();
	bs_proc_read(&w->p1);
}

static double
window_cpu(const struct window *w)
{
	return w->p1.cpu_s - w->p0.cpu_s;
}

static void
window_report(struct bresult *r, const struct window *w)
{
	double wall = w->t1 - w->t0;
	double self = w->self1 - w->self0;
	double pct = wall > 0 ? 100.0 * self / wall : 0;

	br_num(r, "wall_s", "measured wall time (s)", wall, 3);
	if (w->p0.ok && w->p1.ok) {
		br_num(r, "server_cpu_s", "server CPU (s)", window_cpu(w), 3);
		br_num(r, "server_cpu_pct", "server CPU (% of one core)",
		    wall > 0 ? 100.0 * window_cpu(w) / wall : 0, 1);
		br_num(r, "server_rss_kib", "server RSS at end (KiB)",
		    (double)w->p1.rss_kb, 0);
	}
	br_num(r, "bench_cpu_pct", "tern-bench CPU (% of one core)", pct, 1);
	if (pct > 50.0)
		fprintf(stderr, "WARNING: tern-bench used %.0f%% of a core "
		    "while measuring: the generator may be the bottleneck\n",
		    pct);
}

static void
report_errors(struct bresult *r)
{
	br_num(r, "operations", "operations", (double)n_ops, 0);
	br_num(r, "errors", "errors", (double)n_errors, 0);
	print_errors(stdout);
}

/* ---- the login scenario: a pool of short-lived connections ---- */
struct lpool {
	unsigned target, started, done, ok, inflight, nusers;
	int measure;
};

static struct lpool lp;
static struct bsamples lp_lat;

static void lp_spawn(void);

static void
lp_ready(struct bconn *c)
{
	lp.ok++;
	if (lp.measure)
		bs_add(&lp_lat, (c->t_ready - c->t_start) * 1000.0);
	bc_end(c, 5.0);
}

static void
lp_closed(struct bconn *c, const char *err)
{
	if (c->t_ready == 0) {
		if (lp.measure)
			n_ops++;
		if (lp.measure || err != NULL)
			record_error(err ? err : "closed during login");
	} else if (lp.measure) {
		n_ops++;
	}
	lp.done++;
	lp.inflight--;
	lp_spawn();
	check();
}

static const struct bc_ops lp_ops = {
	.ready = lp_ready,
	.closed = lp_closed,
};

static void
lp_spawn(void)
{
	while (lp.inflight < (unsigned)bo.conc && lp.started < lp.target) {
		char res[32];
		unsigned u = lp.started % lp.nusers + 1;

		snprintf(res, sizeof(res), "tb%u", lp.started);
		lp.started++;
		lp.inflight++;
		bc_login(u, res, &lp_ops, NULL, 0);
	}
}

static int
lp_finished(void)
{
	return lp.done >= lp.target;
}

static int
scen_login(void)
{
	struct window w;
	struct bresult r;
	unsigned total = bo.total > 0 ? (unsigned)bo.total : 1000;

	lp.nusers = bo.users > 0 ? (unsigned)bo.users :
	    (unsigned)bo.conc < total ? (unsigned)bo.conc : total;
	if (bs_provision(1, lp.nusers) < 0)
		return -1;
	if (!bo.no_prime || bo.fast) {
		/* One unmeasured login per user: it warms the server and
		 * fills our salted-password cache (fast: it gets each user
		 * its token). */
		lp.target = lp.nusers;
		lp_spawn();
		if (run_phase("priming logins", bo.op_timeout * 4,
		    lp_finished) < 0)
			return -1;
		if (lp.ok == 0) {
			fprintf(stderr, "tern-bench: no priming login "
			    "succeeded\n");
			print_errors(stderr);
			return -1;
		}
		memset(errs, 0, sizeof(errs));
		n_errors = 0;
	}
	memset(&lp, 0, sizeof(lp));
	lp.nusers = bo.users > 0 ? (unsigned)bo.users :
	    (unsigned)bo.conc < total ? (unsigned)bo.conc : total;
	lp.target = total;
	lp.measure = 1;
	window_start(&w);
	lp_spawn();
	run_phase("logins", bo.timeout, lp_finished);
	window_stop(&w);
	br_begin(&r, bo.fast ? "fast" : "login");
	br_str(&r, "tls", "TLS", tls_mode());
	br_str(&r, "mech", "SASL mechanism", bs_mech_names[bo.mech]);
	br_num(&r, "concurrency", "connections in flight", bo.conc, 0);
	br_num(&r, "users", "distinct users", lp.nusers, 0);
	br_num(&r, "logins", "successful logins", lp.ok, 0);
	br_num(&r, "logins_per_s", "logins/s", lp.ok / (w.t1 - w.t0), 1);
	br_num(&r, "latency_ms_p50", "login latency p50 (ms)",
	    bs_pct(&lp_lat, 50), 3);
	br_num(&r, "latency_ms_p90", "login latency p90 (ms)",
	    bs_pct(&lp_lat, 90), 3);
	br_num(&r, "latency_ms_p99", "login latency p99 (ms)",
	    bs_pct(&lp_lat, 99), 3);
	if (w.p0.ok && w.p1.ok && lp.ok > 0)
		br_num(&r, "server_cpu_ms_per_login",
		    "server CPU per login (ms)",
		    window_cpu(&w) * 1000.0 / lp.ok, 3);
	window_report(&r, &w);
	br_num(&r, "client_pbkdf2_runs", "client PBKDF2 runs",
	    (double)bs_pbkdf2_runs, 0);
	if (lp.done < lp.target) {
		n_ops += lp.target - lp.done;
		record_errors("login not finished before --timeout",
		    lp.target - lp.done);
	}
	report_errors(&r);
	br_end(&r);
	return 0;
}

/* ---- a set of long-lived sessions (idle, msg, presence, mam) ---- */
struct sset {
	unsigned n, started, ready, failed, inflight, dropped;
	struct bconn **c;
	unsigned *user; /* session index -> user number */
	char (*res)[16];
	int teardown;
	void (*stanza)(struct bconn *c, const char *e, size_t n);
};

static struct sset ss;

static void ss_spawn(void);

static void
ss_ready(struct bconn *c)
{
	(void)c;
	ss.ready++;
	ss.inflight--;
	ss_spawn();
	check();
}

static void
ss_closed(struct bconn *c, const char *err)
{
	ss.c[c->role] = NULL;
	if (c->t_ready == 0) {
		ss.failed++;
		ss.inflight--;
		n_ops++;
		record_error(err ? err : "closed during login");
		ss_spawn();
	} else if (!ss.teardown) {
		ss.dropped++;
		record_error(err ? err : "session closed by the server");
	}
	check();
}

static void
ss_stanza(struct bconn *c, const char *e, size_t n)
{
	if (ss.stanza != NULL)
		ss.stanza(c, e, n);
}

static const struct bc_ops ss_ops = {
	.ready = ss_ready,
	.stanza = ss_stanza,
	.closed = ss_closed,
};

static void
ss_spawn(void)
{
	while (ss.inflight < (unsigned)bo.conc && ss.started < ss.n) {
		unsigned i = ss.started++;

		ss.inflight++;
		ss.c[i] = bc_login(ss.user[i], ss.res[i], &ss_ops, NULL,
		    (int)i);
		if (ss.c[i] != NULL)
			ss.c[i]->role = (int)i;
	}
}

static int
ss_all_done(void)
{
	return ss.ready + ss.failed >= ss.n;
}

static void
ss_init(unsigned n)
{
	ss.n = n;
	ss.c = bx_calloc(n, sizeof(*ss.c));
	ss.user = bx_calloc(n, sizeof(*ss.user));
	ss.res = bx_calloc(n, sizeof(*ss.res));
}

/* Log every session of the set in; -1 when any failed. */
static int
ss_login(void)
{
	double t0 = bc_now();

	ss_spawn();
	if (run_phase("session logins", bo.timeout, ss_all_done) < 0)
		return -1;
	fprintf(stderr, "tern-bench: %u sessions logged in in %.2f s "
	    "(%u failed)\n", ss.ready, bc_now() - t0, ss.failed);
	return ss.failed > 0 ? -1 : 0;
}

static int
ss_none_live(void)
{
	return bc_live == 0;
}

static void
ss_teardown(void)
{
	ss.teardown = 1;
	for (unsigned i = 0; i < ss.n; i++)
		if (ss.c[i] != NULL)
			bc_end(ss.c[i], 3.0);
	/* Closing is not measured; a stubborn server is cut off. */
	deadline = bc_now() + 10.0;
	run_phase("closing", 10.0, ss_none_live);
}

/* ---- idle ---- */
static int
scen_idle(void)
{
	unsigned k = bo.keep > 0 ? (unsigned)bo.keep : 10000;
	unsigned nusers = bo.users > 0 ? (unsigned)bo.users : k;
	/* Warm-up sessions (users after the measured ones), logged in and
	 * kept before the baseline: the code, library state and caches
	 * the first logins bring in, and the heap their handshakes in
	 * flight need, are not counted as the measured sessions' cost. */
	unsigned w = bo.warmup >= 0 ? (unsigned)bo.warmup : (unsigned)bo.conc;
	struct bproc start, before, after_login, after_hold;
	struct bresult r;
	double t0, t1, self0;
	unsigned alive, dropped_warm;

	if (bs_provision(1, nusers + w) < 0)
		return -1;
	ss_init(w + k);
	for (unsigned i = 0; i < w + k; i++) {
		ss.user[i] = i < w ? nusers + 1 + i : (i - w) % nusers + 1;
		snprintf(ss.res[i], sizeof(ss.res[i]), "idle%u", i);
	}
	bs_proc_read(&start);
	if (w > 0) {
		ss.n = w;
		if (ss_login() < 0) {
			fprintf(stderr, "tern-bench: warm-up logins failed\n");
			return -1;
		}
		run_for(1.0);
		ss.n = w + k;
	}
	dropped_warm = ss.dropped;
	bs_proc_read(&before);
	self0 = bs_self_cpu();
	t0 = bc_now();
	ss_login();
	t1 = bc_now();
	bs_proc_read(&after_login);
	fprintf(stderr, "tern-bench: holding %u sessions for %.0f s\n",
	    ss.ready, bo.hold);
	run_for(bo.hold);
	bs_proc_read(&after_hold);
	alive = ss.ready - w - (ss.dropped - dropped_warm);
	br_begin(&r, "idle");
	br_str(&r, "tls", "TLS", tls_mode());
	br_num(&r, "sessions", "sessions requested", k, 0);
	br_num(&r, "sessions_alive", "sessions alive after hold", alive, 0);
	br_num(&r, "login_s", "time to log all in (s)", t1 - t0, 2);
	br_num(&r, "hold_s", "hold (s)", bo.hold, 0);
	br_num(&r, "warmup", "warm-up sessions (not measured)", w, 0);
	if (before.ok && after_hold.ok) {
		br_num(&r, "rss_start_kib", "server RSS at start (KiB)",
		    (double)start.rss_kb, 0);
		br_num(&r, "rss_before_kib", "server RSS before (KiB)",
		    (double)before.rss_kb, 0);
		br_num(&r, "rss_after_login_kib",
		    "server RSS after logins (KiB)",
		    (double)after_login.rss_kb, 0);
		br_num(&r, "rss_after_kib", "server RSS after hold (KiB)",
		    (double)after_hold.rss_kb, 0);
		br_num(&r, "kib_per_session", "server KiB per session",
		    alive ? (double)(after_hold.rss_kb - before.rss_kb) /
		    alive : 0, 2);
		br_num(&r, "server_cpu_ms_per_login",
		    "server CPU per login (ms, incl. hold)", ss.ready > w ?
		    (after_hold.cpu_s - before.cpu_s) * 1000.0 /
			(ss.ready - w) :
		    0, 3);
	} else {
		fprintf(stderr, "tern-bench: no --pid given (or unreadable):"
		    " no RSS figures\n");
	}
	br_num(&r, "bench_cpu_s", "tern-bench CPU (s)", bs_self_cpu() - self0,
	    2);
	n_ops += ss.ready - w;
	report_errors(&r);
	br_end(&r);
	ss_teardown();
	return 0;
}

/* ---- msg ---- */
#define RING 32768

struct sender {
	uint32_t seq, inflight;
	uint32_t *ring; /* seq of the last first-delivery in each slot */
};

static struct {
	unsigned users;
	struct sender *s; /* by user number */
	int running, measuring;
	unsigned long delivered, copies, sent, lost;
	struct bsamples lat;
	double t0, rate;
	uint64_t born; /* when this run started (CLOCK_MONOTONIC ns) */
	unsigned long scheduled;
	unsigned rr;
	/* open loop: a timerfd, not an ev_timer, so sends start on time
	 * (epoll's timeout has millisecond steps, which would show up as
	 * a millisecond of made-up latency) */
	int tfd;
	ev_io tick;
} mg;

static unsigned
partner(unsigned u)
{
	return u % 2 ? u + 1 : u - 1;
}

static struct bconn *
primary(unsigned u)
{
	return ss.c[u - 1];
}

static void
msg_send(unsigned u, uint64_t t_ns)
{
	struct bconn *c = primary(u);
	struct sender *s = &mg.s[u];
	char to[300], buf[600];
	int n;

	if (c == NULL || c->state != BC_READY)
		return;
	if (s->inflight >= RING - 1) {
		record_error("sender backlog full (server too slow)");
		return;
	}
	bc_bare(partner(u), to, sizeof(to));
	n = snprintf(buf, sizeof(buf), "<message to='%s' type='chat' "
	    "id='%u-%u'><body>tb %u %u %llu</body></message>", to, u, s->seq,
	    u, s->seq, (unsigned long long)t_ns);
	s->seq++;
	s->inflight++;
	if (mg.measuring) {
		mg.sent++;
		n_ops++;
	}
	bc_send_stanza(c, buf, (size_t)n);
}

static void
msg_stanza(struct bconn *c, const char *e, size_t n)
{
	char type[16], text[128];
	const char *b;
	size_t bn;
	unsigned u, seq;
	unsigned long long t;
	struct sender *s;

	if (!bx_is(e, n, "message"))
		return;
	if (bx_attr(e, n, "type", type, sizeof(type)) == 0 &&
	    strcmp(type, "error") == 0) {
		record_error("message bounced with an error");
		return;
	}
	if (bx_find(e, n, "body", &b, &bn) < 0 ||
	    bx_text(b, bn, text, sizeof(text)) < 0 ||
	    sscanf(text, "tb %u %u %llu", &u, &seq, &t) != 3 ||
	    u == 0 || u > mg.users)
		return;
	/*
	 * Sent by an earlier run: a message still in flight when that run
	 * closed its sessions is stored offline and delivered at our login.
	 */
	if (t < mg.born)
		return;
	if (mg.measuring)
		mg.copies++;
	/* A sent-carbon reaching the sender's other resource is a copy. */
	if (c->user != partner(u))
		return;
	s = &mg.s[u];
	if (s->ring[seq % RING] == seq)
		return;
	s->ring[seq % RING] = seq;
	s->inflight--;
	if (mg.measuring) {
		mg.delivered++;
		bs_add(&mg.lat, (double)(bc_now_ns() - t) / 1e6);
	}
	if (mg.running && mg.rate <= 0)
		msg_send(u, bc_now_ns());
	check();
}

/* Open loop: keep the total sent on the schedule rate * elapsed, with
 * each message stamped with its scheduled time (no coordinated
 * omission). */
static void
msg_tick(struct ev_loop *loop, ev_io *w, int revents)
{
	double now = bc_now();
	unsigned long due;
	uint64_t t0ns = bc_now_ns() - (uint64_t)((now - mg.t0) * 1e9);
	uint64_t expirations;

	(void)loop;
	(void)revents;
	if (read(w->fd, &expirations, sizeof(expirations)) < 0)
		return;
	if (!mg.running)
		return;
	due = (unsigned long)((now - mg.t0) * mg.rate);
	while (mg.scheduled < due) {
		unsigned u = mg.rr % mg.users + 1;

		mg.rr++;
		msg_send(u, t0ns + (uint64_t)((double)mg.scheduled / mg.rate *
		    1e9));
		mg.scheduled++;
	}
}

static int
msg_drained(void)
{
	for (unsigned u = 1; u <= mg.users; u++)
		if (mg.s[u].inflight > 0 && primary(u) != NULL)
			return 0;
	return 1;
}

static int
scen_msg(void)
{
	unsigned pairs = bo.pairs > 0 ? (unsigned)bo.pairs : 50;
	unsigned per = bo.second_resource ? 2 : 1;
	struct window w;
	struct bresult r;
	unsigned long acked = 0;

	mg.users = 2 * pairs;
	mg.rate = bo.rate;
	mg.born = bc_now_ns();
	if (bs_provision(1, mg.users) < 0)
		return -1;
	ss_init(mg.users * per);
	for (unsigned i = 0; i < mg.users * per; i++) {
		ss.user[i] = i % mg.users + 1;
		snprintf(ss.res[i], sizeof(ss.res[i]), "r%u",
		    i / mg.users + 1);
	}
	ss.stanza = msg_stanza;
	mg.s = bx_calloc(mg.users + 1, sizeof(*mg.s));
	for (unsigned u = 1; u <= mg.users; u++) {
		mg.s[u].ring = bx_malloc(RING * sizeof(uint32_t));
		memset(mg.s[u].ring, 0xff, RING * sizeof(uint32_t));
	}
	if (ss_login() < 0) {
		fprintf(stderr, "tern-bench: msg: set-up failed\n");
		print_errors(stderr);
		ss_teardown();
		return -1;
	}
	mg.running = 1;
	mg.t0 = bc_now();
	if (mg.rate > 0) {
		/* one wake-up per message, but at most every 50 us */
		double iv = fmax(1.0 / mg.rate, 50e-6);
		struct itimerspec its = { 0 };

		mg.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
		    TFD_CLOEXEC);
		if (mg.tfd < 0) {
			perror("tern-bench: timerfd_create");
			ss_teardown();
			return -1;
		}
		its.it_interval.tv_sec = (time_t)iv;
		its.it_interval.tv_nsec = (long)((iv - (double)(time_t)iv) *
		    1e9);
		its.it_value = its.it_interval;
		timerfd_settime(mg.tfd, 0, &its, NULL);
		ev_io_init(&mg.tick, msg_tick, mg.tfd, EV_READ);
		ev_io_start(bloop, &mg.tick);
	} else {
		for (unsigned u = 1; u <= mg.users; u++)
			for (int k = 0; k < bo.window; k++)
				msg_send(u, bc_now_ns());
	}
	run_for(1.0); /* warm-up */
	mg.measuring = 1;
	window_start(&w);
	run_for(bo.duration);
	mg.measuring = 0;
	window_stop(&w);
	mg.running = 0;
	if (mg.rate > 0) {
		ev_io_stop(bloop, &mg.tick);
		close(mg.tfd);
	}
	deadline = bc_now() + 10.0;
	if (run_phase("draining messages", 5.0, msg_drained) < 0) {
		for (unsigned u = 1; u <= mg.users; u++)
			mg.lost += mg.s[u].inflight;
		if (mg.lost > 0)
			record_errors("messages not delivered within 5 s",
			    mg.lost);
	}
	for (unsigned i = 0; i < ss.n; i++)
		if (ss.c[i] != NULL)
			acked += ss.c[i]->sm_acked;
	br_begin(&r, "msg");
	br_str(&r, "mode", "mode", mg.rate > 0 ? "open loop" :
	    "closed loop");
	br_num(&r, "pairs", "pairs", pairs, 0);
	if (mg.rate > 0)
		br_num(&r, "offered_per_s", "offered msgs/s", mg.rate, 0);
	else
		br_num(&r, "window", "in flight per sender", bo.window, 0);
	br_str(&r, "options", "options", bo.sm && bo.carbons ? "sm+carbons" :
	    bo.sm ? "sm" : bo.carbons ? "carbons" : "none");
	br_num(&r, "second_resource", "second resource", bo.second_resource,
	    0);
	br_num(&r, "mam", "MAM prefs set", bo.mam, 0);
	if (bo.mam)
		br_str(&r, "mam_default", "MAM prefs default",
		    bo.mam_default ? bo.mam_default : "always");
	br_num(&r, "sent", "sent in window", (double)mg.sent, 0);
	br_num(&r, "delivered", "delivered in window", (double)mg.delivered,
	    0);
	br_num(&r, "delivered_per_s", "delivered msgs/s",
	    (double)mg.delivered / (w.t1 - w.t0), 1);
	br_num(&r, "copies_per_s", "stanza copies received/s (incl carbons)",
	    (double)mg.copies / (w.t1 - w.t0), 1);
	br_num(&r, "latency_ms_p50", "latency p50 (ms)", bs_pct(&mg.lat, 50),
	    3);
	br_num(&r, "latency_ms_p90", "latency p90 (ms)", bs_pct(&mg.lat, 90),
	    3);
	br_num(&r, "latency_ms_p99", "latency p99 (ms)", bs_pct(&mg.lat, 99),
	    3);
	br_num(&r, "latency_ms_p999", "latency p99.9 (ms)",
	    bs_pct(&mg.lat, 99.9), 3);
	if (w.p0.ok && w.p1.ok && mg.delivered > 0)
		br_num(&r, "server_cpu_s_per_100k",
		    "server CPU s per 100k delivered",
		    window_cpu(&w) * 100000.0 / (double)mg.delivered, 3);
	if (bo.sm)
		br_num(&r, "sm_acked", "stanzas acked by the server (SM)",
		    (double)acked, 0);
	window_report(&r, &w);
	report_errors(&r);
	br_end(&r);
	ss_teardown();
	return 0;
}

/* ---- presence ---- */
struct puser {
	unsigned *contact; /* user numbers */
	uint32_t *seen; /* last cycle seen from each contact */
	unsigned char *subscribed;
	unsigned nsub;
	unsigned both; /* contacts with subscription='both' in the roster */
	uint32_t cycle;
	unsigned recv;
	double t_cycle;
};

static struct {
	unsigned users, r;
	struct puser *u;
	unsigned long subs, cycles, presences, rosters, both;
	char roster_err[96];
	int running, measuring;
	struct bsamples lat;
} pr;

static int
contact_index(struct puser *p, unsigned who)
{
	for (unsigned j = 0; j < pr.r; j++)
		if (p->contact[j] == who)
			return (int)j;
	return -1;
}

static void
pr_cycle(unsigned u)
{
	struct bconn *c = ss.c[u - 1];
	struct puser *p = &pr.u[u];

	if (c == NULL || c->state != BC_READY)
		return;
	p->cycle++;
	p->recv = 0;
	p->t_cycle = bc_now();
	bc_sendf(c, "<presence type='unavailable'><status>c %u</status>"
	    "</presence>", p->cycle);
	if (c->sm)
		c->sm_out++;
	bc_sendf(c, "<presence><status>c %u</status></presence>", p->cycle);
	if (c->sm)
		c->sm_out++;
	if (pr.measuring)
		n_ops++;
}

/* The roster result that proves the subscriptions exist. */
static void
pr_roster(struct bconn *c, const char *e, size_t n)
{
	struct puser *me = &pr.u[c->user];
	char v[300];
	struct bx_tok t;
	size_t pos = 0;

	int verify, j;

	if (bx_attr(e, n, "id", v, sizeof(v)) < 0 ||
	    (strcmp(v, "roster0") != 0 && strcmp(v, "roster1") != 0))
		return;
	verify = v[6] == '1';
	pr.rosters++;
	check();
	if (bx_attr(e, n, "type", v, sizeof(v)) < 0 ||
	    strcmp(v, "result") != 0) {
		snprintf(pr.roster_err, sizeof(pr.roster_err), "roster query "
		    "refused");
		return;
	}

	while (bx_lex(e, n, pos, &t) == 1) {
		const char *tag = e + t.start;
		size_t tn = t.end - t.start;
		unsigned who;

		pos = t.end;
		if ((t.kind != BX_START && t.kind != BX_EMPTY) ||
		    !bx_local_is(e + t.name, t.namelen, "item"))
			continue;
		if (bx_attr(tag, tn, "jid", v, sizeof(v)) < 0)
			continue;
		who = bc_user_of(v);
		j = who ? contact_index(me, who) : -1;
		if (j < 0)
			continue;
		if (bx_attr(tag, tn, "subscription", v, sizeof(v)) < 0 ||
		    strcmp(v, "both") != 0)
			continue;
		if (verify) {
			me->both++;
			pr.both++;
		} else if (!me->subscribed[j]) {
			/* Mutual already (an earlier run): nothing to ask. */
			me->subscribed[j] = 1;
			pr.subs++;
		}
	}
}

static int
pr_rosters_in(void)
{
	return pr.rosters >= pr.users;
}

static void
pr_get_rosters(int verify)
{
	pr.rosters = 0;
	for (unsigned u = 1; u <= pr.users; u++)
		if (ss.c[u - 1] != NULL)
			bc_sendf(ss.c[u - 1], "<iq type='get' id='roster%d'>"
			    "<query xmlns='jabber:iq:roster'/></iq>", verify);
}

static void
pr_stanza(struct bconn *c, const char *e, size_t n)
{
	char from[300], type[32], status[64];
	const char *st;
	size_t stn;
	unsigned who;
	struct puser *me = &pr.u[c->user], *them;
	int j;
	unsigned cyc;

	if (bx_is(e, n, "iq")) {
		pr_roster(c, e, n);
		return;
	}
	if (!bx_is(e, n, "presence") || bx_attr(e, n, "from", from,
	    sizeof(from)) < 0)
		return;
	who = bc_user_of(from);
	if (who == 0 || who == c->user || who > pr.users)
		return;
	if (bx_attr(e, n, "type", type, sizeof(type)) < 0)
		type[0] = '\0';
	if (strcmp(type, "subscribe") == 0) {
		char bare[300];

		bc_bare(who, bare, sizeof(bare));
		bc_sendf(c, "<presence to='%s' type='subscribed'/>", bare);
		if (c->sm)
			c->sm_out++;
		return;
	}
	j = contact_index(me, who);
	if (strcmp(type, "subscribed") == 0) {
		if (j >= 0 && !me->subscribed[j]) {
			me->subscribed[j] = 1;
			pr.subs++;
			check();
		}
		return;
	}
	if (strcmp(type, "error") == 0) {
		record_error("presence error");
		return;
	}
	if (type[0] != '\0' && strcmp(type, "unavailable") != 0)
		return;
	if (pr.measuring)
		pr.presences++;
	if (type[0] != '\0' || j < 0 || bx_find(e, n, "status", &st,
	    &stn) < 0 || bx_text(st, stn, status, sizeof(status)) < 0 ||
	    sscanf(status, "c %u", &cyc) != 1)
		return;
	/* The same presence may come as a broadcast and as a probe answer:
	 * count each (contact, cycle) once. */
	if (me->seen[j] >= cyc)
		return;
	me->seen[j] = cyc;
	them = &pr.u[who];
	if (cyc != them->cycle)
		return;
	if (++them->recv < pr.r)
		return;
	if (pr.measuring) {
		pr.cycles++;
		bs_add(&pr.lat, (bc_now() - them->t_cycle) * 1000.0);
	}
	if (pr.running)
		pr_cycle(who);
}

static int
pr_subscribed(void)
{
	return pr.subs >= (unsigned long)pr.users * pr.r;
}

static int
scen_presence(void)
{
	unsigned half;
	struct window w;
	struct bresult r;

	pr.users = bo.users > 0 ? (unsigned)bo.users : 100;
	pr.r = bo.contacts > 0 ? (unsigned)bo.contacts : 10;
	if (pr.r % 2)
		pr.r++; /* contacts come in pairs u-k, u+k */
	if (pr.r >= pr.users) {
		fprintf(stderr, "tern-bench: presence needs -u > -r\n");
		return -1;
	}
	half = pr.r / 2;
	if (bs_provision(1, pr.users) < 0)
		return -1;
	pr.u = bx_calloc(pr.users + 1, sizeof(*pr.u));
	for (unsigned u = 1; u <= pr.users; u++) {
		struct puser *p = &pr.u[u];

		p->contact = bx_calloc(pr.r, sizeof(unsigned));
		p->seen = bx_calloc(pr.r, sizeof(uint32_t));
		p->subscribed = bx_calloc(pr.r, 1);
		for (unsigned k = 1; k <= half; k++) {
			p->contact[2 * (k - 1)] = (u - 1 + k) % pr.users + 1;
			p->contact[2 * (k - 1) + 1] =
			    (u - 1 + pr.users - k) % pr.users + 1;
		}
	}
	ss_init(pr.users);
	for (unsigned i = 0; i < pr.users; i++) {
		ss.user[i] = i + 1;
		snprintf(ss.res[i], sizeof(ss.res[i]), "p");
	}
	ss.stanza = pr_stanza;
	if (ss_login() < 0) {
		fprintf(stderr, "tern-bench: presence: login failed\n");
		print_errors(stderr);
		ss_teardown();
		return -1;
	}
	/* Servers send subscription requests only to resources that have
	 * asked for the roster (RFC 6121 2.1.6). */
	pr_get_rosters(0);
	if (run_phase("roster queries", 30.0, pr_rosters_in) < 0 ||
	    pr.roster_err[0] != '\0') {
		fprintf(stderr, "tern-bench: presence: %s: the server lacks "
		    "rosters (RFC 6121)\n", pr.roster_err[0] ?
		    pr.roster_err : "roster queries unanswered");
		ss_teardown();
		return -1;
	}
	for (unsigned u = 1; u <= pr.users; u++) {
		struct bconn *c = ss.c[u - 1];

		for (unsigned j = 0; c != NULL && j < pr.r; j++) {
			char bare[300];

			if (pr.u[u].subscribed[j])
				continue;
			bc_bare(pr.u[u].contact[j], bare, sizeof(bare));
			bc_sendf(c, "<presence to='%s' type='subscribe'/>",
			    bare);
			if (c->sm)
				c->sm_out++;
		}
	}
	if (run_phase("presence subscriptions", 60.0, pr_subscribed) < 0) {
		fprintf(stderr, "tern-bench: presence: only %lu of %lu "
		    "subscriptions were confirmed: does the server support "
		    "presence subscriptions (RFC 6121)?\n", pr.subs,
		    (unsigned long)pr.users * pr.r);
		print_errors(stderr);
		ss_teardown();
		return -1;
	}
	/* Let the presence storm of the subscriptions settle. */
	run_for(0.5);
	pr_get_rosters(1);
	if (run_phase("roster queries", 30.0, pr_rosters_in) < 0 ||
	    pr.both < (unsigned long)pr.users * pr.r) {
		fprintf(stderr, "tern-bench: presence: the rosters hold %lu "
		    "of %lu mutual subscriptions%s%s: the server lacks "
		    "rosters or presence subscriptions (RFC 6121)\n",
		    pr.both, (unsigned long)pr.users * pr.r,
		    pr.roster_err[0] ? "; " : "", pr.roster_err);
		ss_teardown();
		return -1;
	}
	pr.running = 1;
	for (unsigned u = 1; u <= pr.users; u++)
		pr_cycle(u);
	run_for(1.0);
	pr.measuring = 1;
	window_start(&w);
	run_for(bo.duration);
	window_stop(&w);
	pr.measuring = 0;
	pr.running = 0;
	br_begin(&r, "presence");
	br_num(&r, "users", "users", pr.users, 0);
	br_num(&r, "contacts", "contacts per user", pr.r, 0);
	br_num(&r, "cycles", "offline/online cycles completed",
	    (double)pr.cycles, 0);
	br_num(&r, "cycles_per_s", "cycles/s", (double)pr.cycles /
	    (w.t1 - w.t0), 1);
	br_num(&r, "presence_per_s", "presence stanzas delivered/s",
	    (double)pr.presences / (w.t1 - w.t0), 1);
	br_num(&r, "cycle_ms_p50", "cycle latency p50 (ms)",
	    bs_pct(&pr.lat, 50), 3);
	br_num(&r, "cycle_ms_p99", "cycle latency p99 (ms)",
	    bs_pct(&pr.lat, 99), 3);
	if (w.p0.ok && w.p1.ok && pr.cycles > 0)
		br_num(&r, "server_cpu_ms_per_cycle",
		    "server CPU per cycle (ms)",
		    window_cpu(&w) * 1000.0 / (double)pr.cycles, 3);
	window_report(&r, &w);
	/* A cycle still open at the end is not a failure, only cut off. */
	if (n_ops > pr.cycles + pr.users)
		record_error("cycles not completed");
	report_errors(&r);
	br_end(&r);
	ss_teardown();
	return 0;
}

/* ---- mam ---- */
static struct {
	unsigned long target, sent, received, inflight;
	int filling;
	char qid[32];
	int qdone;
	unsigned results;
	char qerr[96];
} mm;

static void
mam_send(void)
{
	struct bconn *c = ss.c[1];
	char to[300], buf[600];
	int n;

	if (c == NULL || mm.sent >= mm.target)
		return;
	bc_bare(1, to, sizeof(to));
	n = snprintf(buf, sizeof(buf), "<message to='%s' type='chat' "
	    "id='f%lu'><body>archive %lu</body></message>", to, mm.sent,
	    mm.sent);
	mm.sent++;
	mm.inflight++;
	n_ops++;
	bc_send_stanza(c, buf, (size_t)n);
}

static void
mam_stanza(struct bconn *c, const char *e, size_t n)
{
	char v[64];
	const char *sub;
	size_t sn;

	if (c->user != 1)
		return;
	if (bx_is(e, n, "message")) {
		if (bx_find(e, n, "result", &sub, &sn) == 0) {
			if (bx_attr(sub, sn, "queryid", v, sizeof(v)) == 0 &&
			    strcmp(v, mm.qid) == 0)
				mm.results++;
			return;
		}
		if (!mm.filling)
			return;
		if (bx_attr(e, n, "type", v, sizeof(v)) == 0 &&
		    strcmp(v, "error") == 0) {
			record_error("message bounced with an error");
			return;
		}
		mm.received++;
		mm.inflight--;
		mam_send();
		check();
		return;
	}
	if (bx_is(e, n, "iq") && bx_attr(e, n, "id", v, sizeof(v)) == 0 &&
	    strcmp(v, mm.qid) == 0) {
		if (bx_attr(e, n, "type", v, sizeof(v)) == 0 &&
		    strcmp(v, "result") != 0) {
			const char *x;
			size_t xn;

			snprintf(mm.qerr, sizeof(mm.qerr), "MAM query error");
			if (bx_find(e, n, "error", &x, &xn) == 0 &&
			    bx_find(x, xn, "text", &sub, &sn) < 0) {
				struct bx_tok t;

				if (bx_lex(x, xn, 0, &t) == 1 &&
				    bx_lex(x, xn, t.end, &t) == 1 &&
				    (t.kind == BX_START || t.kind == BX_EMPTY))
					snprintf(mm.qerr, sizeof(mm.qerr),
					    "MAM query error: %.*s",
					    (int)t.namelen, x + t.name);
			}
		}
		mm.qdone = 1;
		check();
	}
}

static int
mam_filled(void)
{
	return mm.received >= mm.target;
}

static int
mam_answered(void)
{
	return mm.qdone;
}

enum mam_q { MQ_FIRST, MQ_LAST, MQ_WITH };

static int
mam_query(enum mam_q kind, unsigned idx, struct bsamples *lat,
    unsigned *pages_short)
{
	struct bconn *c = ss.c[0];
	char with[300];
	double t0;

	if (c == NULL)
		return -1;
	snprintf(mm.qid, sizeof(mm.qid), "mq%d-%u", (int)kind, idx);
	mm.qdone = 0;
	mm.results = 0;
	mm.qerr[0] = '\0';
	bc_bare(2, with, sizeof(with));
	t0 = bc_now();
	bc_sendf(c, "<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2' "
	    "queryid='%s'>%s%s%s<set xmlns='http://jabber.org/protocol/rsm'>"
	    "<max>50</max>%s</set></query></iq>", mm.qid, mm.qid,
	    kind == MQ_WITH ? "<x xmlns='jabber:x:data' type='submit'>"
	    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2"
	    "</value></field><field var='with'><value>" : "",
	    kind == MQ_WITH ? with : "",
	    kind == MQ_WITH ? "</value></field></x>" : "",
	    kind == MQ_LAST ? "<before/>" : "");
	if (c->sm)
		c->sm_out++;
	n_ops++;
	if (run_phase("MAM query", bo.op_timeout, mam_answered) < 0) {
		record_error("MAM query timed out");
		return -1;
	}
	if (mm.qerr[0] != '\0') {
		record_error(mm.qerr);
		return -1;
	}
	bs_add(lat, (bc_now() - t0) * 1000.0);
	if (mm.results < 50)
		(*pages_short)++;
	return 0;
}

static int
scen_mam(void)
{
	struct bsamples lat[3] = { { 0 } };
	static const char *const names[] = { "first", "last", "with" };
	unsigned shorts[3] = { 0 };
	struct window w;
	struct bresult r;
	int window = bo.window > 50 ? bo.window : 50;
	unsigned q = bo.queries > 0 ? (unsigned)bo.queries : 50;

	mm.target = bo.total > 0 ? (unsigned long)bo.total : 100000;
	if (bs_provision(1, 2) < 0)
		return -1;
	bo.mam = 1; /* the archive owner asks for everything archived */
	bo.mam_default = "always";
	ss_init(2);
	ss.user[0] = 1;
	ss.user[1] = 2;
	snprintf(ss.res[0], sizeof(ss.res[0]), "mam");
	snprintf(ss.res[1], sizeof(ss.res[1]), "fill");
	ss.stanza = mam_stanza;
	if (ss_login() < 0) {
		fprintf(stderr, "tern-bench: mam: set-up failed (a server "
		    "without XEP-0313 urn:xmpp:mam:2 refuses the MAM "
		    "preferences)\n");
		print_errors(stderr);
		ss_teardown();
		return -1;
	}
	fprintf(stderr, "tern-bench: filling the archive of %s1 with %lu "
	    "messages\n", bo.prefix, mm.target);
	mm.filling = 1;
	window_start(&w);
	for (int k = 0; k < window; k++)
		mam_send();
	if (run_phase("filling the archive", bo.timeout, mam_filled) < 0) {
		ss_teardown();
		return -1;
	}
	window_stop(&w);
	mm.filling = 0;
	/* Let the archive writes land before timing queries. */
	run_for(1.0);
	for (unsigned i = 0; i < q; i++)
		for (int k = 0; k < 3; k++)
			if (mam_query((enum mam_q)k, i, &lat[k],
			    &shorts[k]) < 0 && mm.qerr[0] != '\0' && i == 0) {
				fprintf(stderr, "tern-bench: mam: %s (does "
				    "the server support urn:xmpp:mam:2?)\n",
				    mm.qerr);
				print_errors(stderr);
				ss_teardown();
				return -1;
			}
	br_begin(&r, "mam");
	br_num(&r, "archived", "messages sent to the archive",
	    (double)mm.received, 0);
	br_num(&r, "fill_msgs_per_s", "fill rate (msgs/s)",
	    (double)mm.received / (w.t1 - w.t0), 1);
	if (w.p0.ok && w.p1.ok && mm.received > 0)
		br_num(&r, "fill_server_cpu_s_per_100k",
		    "fill: server CPU s per 100k",
		    window_cpu(&w) * 100000.0 / (double)mm.received, 3);
	br_num(&r, "queries", "queries of each kind", q, 0);
	for (int k = 0; k < 3; k++) {
		char key[48], label[64];

		snprintf(key, sizeof(key), "%s_ms_p50", names[k]);
		snprintf(label, sizeof(label), "%s page of 50: p50 (ms)",
		    names[k]);
		br_num(&r, key, label, bs_pct(&lat[k], 50), 3);
		snprintf(key, sizeof(key), "%s_ms_p99", names[k]);
		snprintf(label, sizeof(label), "%s page of 50: p99 (ms)",
		    names[k]);
		br_num(&r, key, label, bs_pct(&lat[k], 99), 3);
		snprintf(key, sizeof(key), "%s_short_pages", names[k]);
		snprintf(label, sizeof(label), "%s pages with < 50 results",
		    names[k]);
		br_num(&r, key, label, shorts[k], 0);
		if (shorts[k] > 0)
			record_error("MAM page shorter than 50 results");
	}
	window_report(&r, &w);
	report_errors(&r);
	br_end(&r);
	ss_teardown();
	return 0;
}

/* ---- upload (XEP-0363 slots, then HTTP PUT and GET) ---- */
static struct {
	unsigned want, got;
	char **put, **get;
	char **hdrs; /* the slot's headers for the PUT (XEP-0363 §5) */
} up;

/* The <header/>s of a slot's <put/> a client must send with the PUT
 * (XEP-0363 §5: Authorization, Cookie, Expires; newlines stripped), as
 * header lines, or NULL when there are none. Prosody's slots carry an
 * Authorization header. */
static char *
up_headers(const char *put, size_t n)
{
	static const char *const allowed[] = { "authorization", "cookie",
		"expires" };
	struct bbuf b = { 0 };
	const char *sub, *p = put;
	size_t sn, pn = n;
	char name[64], val[1024];

	while (bx_find(p, pn, "header", &sub, &sn) == 0) {
		pn -= (size_t)(sub - p);
		p = sub;
		if (bx_attr(sub, sn, "name", name, sizeof(name)) < 0 ||
		    bx_text(sub, sn, val, sizeof(val)) < 0)
			continue;
		for (size_t k = 0; k < sizeof(allowed) / sizeof(*allowed); k++) {
			if (strcasecmp(name, allowed[k]) != 0)
				continue;
			for (char *q = val; *q; q++)
				if (*q == '\r' || *q == '\n')
					*q = ' ';
			bb_printf(&b, "%s: %s\r\n", name, val);
		}
	}
	if (b.len == 0)
		return NULL;
	bb_append(&b, "", 1);
	return b.p;
}

static void
up_stanza(struct bconn *c, const char *e, size_t n)
{
	char id[32], v[16];
	const char *sub;
	size_t sn;
	unsigned i;

	(void)c;
	if (!bx_is(e, n, "iq") || bx_attr(e, n, "id", id, sizeof(id)) < 0 ||
	    strncmp(id, "up", 2) != 0)
		return;
	i = (unsigned)strtoul(id + 2, NULL, 10);
	if (i >= up.want || up.put[i] != NULL)
		return;
	up.got++;
	check();
	if (bx_attr(e, n, "type", v, sizeof(v)) < 0 ||
	    strcmp(v, "result") != 0 || bx_find(e, n, "put", &sub, &sn) < 0) {
		record_error("upload slot refused");
		return;
	}
	up.put[i] = bx_malloc(2048);
	up.get[i] = bx_malloc(2048);
	up.hdrs[i] = up_headers(sub, sn);
	if (bx_attr(sub, sn, "url", up.put[i], 2048) < 0 ||
	    bx_find(e, n, "get", &sub, &sn) < 0 ||
	    bx_attr(sub, sn, "url", up.get[i], 2048) < 0) {
		record_error("upload slot without URLs");
		free(up.put[i]);
		up.put[i] = NULL;
	}
}

static int
up_all_slots(void)
{
	return up.got >= up.want;
}

/* PUT (body) or GET (NULL) each file once; -1 when HTTP broke. */
static int
up_transfer(struct bhttp **h, const char *body, size_t size, int want)
{
	const char *err;

	for (unsigned i = 0; i < up.want; i++) {
		size_t got = 0;
		int st;

		if (up.put[i] == NULL)
			continue;
		if (*h == NULL && (*h = bh_open(up.put[i], &err)) == NULL) {
			record_error(err);
			return -1;
		}
		n_ops++;
		st = bh_request(*h, body ? up.put[i] : up.get[i],
		    body ? up.hdrs[i] : NULL, body, size, &got, &err);
		if (st < 0) {
			record_error(err);
			bh_close(*h);
			*h = NULL;
			continue;
		}
		if (st != want)
			record_error(body ? "PUT not answered 201" :
			    "GET not answered 200");
		else if (body == NULL && got != size)
			record_error("GET body of the wrong length");
	}
	return 0;
}

static void
up_report(struct bresult *r, const char *what, const struct window *w,
    double mib)
{
	char key[48], label[80];
	double wall = w->t1 - w->t0;

	snprintf(key, sizeof(key), "%s_mib_per_s", what);
	snprintf(label, sizeof(label), "%s throughput (MiB/s)", what);
	br_num(r, key, label, wall > 0 ? mib / wall : 0, 1);
	if (w->p0.ok && w->p1.ok) {
		snprintf(key, sizeof(key), "%s_server_cpu_ms_per_mib", what);
		snprintf(label, sizeof(label), "%s server CPU per MiB (ms)",
		    what);
		br_num(r, key, label, window_cpu(w) * 1000.0 / mib, 2);
	}
	snprintf(key, sizeof(key), "%s_bench_cpu_pct", what);
	snprintf(label, sizeof(label), "%s tern-bench CPU (%% of a core)",
	    what);
	br_num(r, key, label,
	    wall > 0 ? 100.0 * (w->self1 - w->self0) / wall : 0, 1);
}

static int
scen_upload(void)
{
	size_t size = bo.size > 0 ? (size_t)bo.size : (size_t)10 << 20;
	struct bhttp *h = NULL;
	struct window wp, wg;
	struct bresult r;
	char to[300], *body;
	double mib;

	up.want = bo.total > 0 ? (unsigned)bo.total : 20;
	up.put = bx_calloc(up.want, sizeof(*up.put));
	up.get = bx_calloc(up.want, sizeof(*up.get));
	up.hdrs = bx_calloc(up.want, sizeof(*up.hdrs));
	if (bo.upload_domain == NULL) {
		snprintf(to, sizeof(to), "upload.%s", bo.domain);
		bo.upload_domain = bx_strdup(to);
	}
	if (bs_provision(1, 1) < 0)
		return -1;
	ss_init(1);
	ss.user[0] = 1;
	snprintf(ss.res[0], sizeof(ss.res[0]), "upload");
	ss.stanza = up_stanza;
	if (ss_login() < 0) {
		print_errors(stderr);
		ss_teardown();
		return -1;
	}
	for (unsigned i = 0; i < up.want; i++) {
		n_ops++;
		bc_sendf(ss.c[0], "<iq type='get' id='up%u' to='%s'>"
		    "<request xmlns='urn:xmpp:http:upload:0' filename='b%u.bin'"
		    " size='%zu' content-type='application/octet-stream'/></iq>",
		    i, bo.upload_domain, i, size);
	}
	if (run_phase("upload slots", bo.op_timeout, up_all_slots) < 0 ||
	    up.put[0] == NULL) {
		fprintf(stderr, "tern-bench: upload: no slots from %s (is "
		    "the upload service on, with quota for %u x %zu bytes?)\n",
		    bo.upload_domain, up.want, size);
		print_errors(stderr);
		ss_teardown();
		return -1;
	}
	body = bx_malloc(size);
	for (size_t i = 0; i < size; i++)
		body[i] = (char)(i * 131 + (i >> 12));
	window_start(&wp);
	up_transfer(&h, body, size, 201);
	window_stop(&wp);
	window_start(&wg);
	up_transfer(&h, NULL, size, 200);
	window_stop(&wg);
	bh_close(h);
	free(body);
	mib = (double)size * up.want / (1024.0 * 1024.0);
	br_begin(&r, "upload");
	br_num(&r, "files", "files (each PUT then GET once)", up.want, 0);
	br_num(&r, "file_mib", "file size (MiB)",
	    (double)size / (1024.0 * 1024.0), 3);
	up_report(&r, "put", &wp, mib);
	up_report(&r, "get", &wg, mib);
	report_errors(&r);
	br_end(&r);
	ss_teardown();
	return 0;
}

/* ---- options ---- */
/* ---- muc ---- */
/*
 * R rooms of O occupants (user i+1 is occupant i % O of room i / O). The
 * first occupant of each room creates it (an instant room: the empty
 * muc#owner form) and speaks: W groupchat messages in flight (closed
 * loop, its own reflected copy completes one, XEP-0045 §7.4) or --rate
 * in total (open loop). Every copy an occupant receives is a delivery;
 * the server's CPU is divided by them.
 */
static struct {
	unsigned rooms, occ;
	char muc[256];
	unsigned ready; /* sessions in their room */
	int running, measuring;
	unsigned long delivered, sent, lost;
	uint32_t *seq, *inflight; /* per room: its speaker's */
	unsigned char *configured;
	struct bsamples lat;
	uint64_t born;
	double t0, rate;
	unsigned long scheduled;
	unsigned rr;
	int tfd;
	ev_io tick;
} mu;

/* A <status code='N'/> anywhere in the element (either quote). */
static int
muc_has_code(const char *e, size_t n, const char *code)
{
	char a[24], b[24];

	snprintf(a, sizeof(a), "code='%s'", code);
	snprintf(b, sizeof(b), "code=\"%s\"", code);
	return memmem(e, n, a, strlen(a)) != NULL ||
	    memmem(e, n, b, strlen(b)) != NULL;
}

static void
muc_room_jid(unsigned room, char *out, size_t n)
{
	snprintf(out, n, "%sroom%u@%s", bo.prefix, room, mu.muc);
}

static void
muc_join(unsigned i)
{
	struct bconn *c = ss.c[i];
	char room[300];

	if (c == NULL)
		return;
	muc_room_jid(i / mu.occ, room, sizeof(room));
	bc_sendf(c, "<presence to='%s/n%u'><x xmlns='http://jabber.org/"
	    "protocol/muc'><history maxstanzas='0'/></x></presence>", room, i);
}

static void
muc_send(unsigned room, uint64_t t_ns)
{
	struct bconn *c = ss.c[room * mu.occ];
	char to[300], buf[600];
	int n;

	if (c == NULL || c->state != BC_READY)
		return;
	muc_room_jid(room, to, sizeof(to));
	n = snprintf(buf, sizeof(buf), "<message to='%s' type='groupchat' "
	    "id='g%u-%u'><body>tb %u %u %llu</body></message>", to, room,
	    mu.seq[room], room, mu.seq[room], (unsigned long long)t_ns);
	mu.seq[room]++;
	mu.inflight[room]++;
	if (mu.measuring) {
		mu.sent++;
		n_ops++;
	}
	bc_send_stanza(c, buf, (size_t)n);
}

static void
muc_stanza(struct bconn *c, const char *e, size_t n)
{
	unsigned i = (unsigned)c->role, room = i / mu.occ, r, seq;
	char type[16], text[128];
	unsigned long long t;
	const char *b;
	size_t bn;

	if (bx_attr(e, n, "type", type, sizeof(type)) == 0 &&
	    strcmp(type, "error") == 0) {
		record_error(bc_condition(bx_is(e, n, "presence") ?
		    "room entry refused" : "groupchat message refused", e, n));
		return;
	}
	if (bx_is(e, n, "presence")) {
		/* the self-presence (110) ends the entry (§7.2.2) */
		if (!muc_has_code(e, n, "110"))
			return;
		if (i % mu.occ == 0 && !mu.configured[room] &&
		    muc_has_code(e, n, "201")) {
			char to[300];

			muc_room_jid(room, to, sizeof(to));
			bc_sendf(c, "<iq type='set' id='cfg%u' to='%s'><query "
			    "xmlns='http://jabber.org/protocol/muc#owner'><x "
			    "xmlns='jabber:x:data' type='submit'/></query>"
			    "</iq>", room, to);
			return;
		}
		mu.configured[room] = 1;
		mu.ready++;
		check();
		return;
	}
	if (bx_is(e, n, "iq")) {
		char id[32];

		if (bx_attr(e, n, "id", id, sizeof(id)) == 0 &&
		    strncmp(id, "cfg", 3) == 0) {
			mu.configured[room] = 1;
			mu.ready++;
			check();
		}
		return;
	}
	if (!bx_is(e, n, "message") || bx_find(e, n, "body", &b, &bn) < 0 ||
	    bx_text(b, bn, text, sizeof(text)) < 0 ||
	    sscanf(text, "tb %u %u %llu", &r, &seq, &t) != 3 ||
	    r != room || t < mu.born)
		return;
	if (mu.measuring) {
		mu.delivered++;
		bs_add(&mu.lat, (double)(bc_now_ns() - t) / 1e6);
	}
	if (i % mu.occ != 0)
		return;
	/* the speaker's own copy: that message went round */
	if (mu.inflight[room] > 0)
		mu.inflight[room]--;
	if (mu.running && mu.rate <= 0)
		muc_send(room, bc_now_ns());
	check();
}

static void
muc_tick(struct ev_loop *loop, ev_io *w, int revents)
{
	double now = bc_now();
	uint64_t t0ns = bc_now_ns() - (uint64_t)((now - mu.t0) * 1e9);
	uint64_t expirations;
	unsigned long due;

	(void)loop;
	(void)revents;
	if (read(w->fd, &expirations, sizeof(expirations)) < 0 || !mu.running)
		return;
	due = (unsigned long)((now - mu.t0) * mu.rate);
	while (mu.scheduled < due) {
		muc_send(mu.rr++ % mu.rooms, t0ns + (uint64_t)(
		    (double)mu.scheduled / mu.rate * 1e9));
		mu.scheduled++;
	}
}

static int
muc_creators_in(void)
{
	return mu.ready >= mu.rooms;
}

static int
muc_all_in(void)
{
	return mu.ready >= mu.rooms * mu.occ;
}

static int
muc_drained(void)
{
	for (unsigned r = 0; r < mu.rooms; r++)
		if (mu.inflight[r] > 0 && ss.c[r * mu.occ] != NULL)
			return 0;
	return 1;
}

static int
scen_muc(void)
{
	unsigned total;
	struct window w;
	struct bresult r;

	mu.rooms = bo.rooms > 0 ? (unsigned)bo.rooms : 10;
	mu.occ = bo.occupants > 0 ? (unsigned)bo.occupants : 10;
	snprintf(mu.muc, sizeof(mu.muc), "%s", bo.muc ? bo.muc : "");
	if (mu.muc[0] == '\0')
		snprintf(mu.muc, sizeof(mu.muc), "conference.%s", bo.domain);
	mu.rate = bo.rate;
	mu.born = bc_now_ns();
	total = mu.rooms * mu.occ;
	if (bs_provision(1, total) < 0)
		return -1;
	ss_init(total);
	for (unsigned i = 0; i < total; i++) {
		ss.user[i] = i + 1;
		snprintf(ss.res[i], sizeof(ss.res[i]), "muc");
	}
	ss.stanza = muc_stanza;
	mu.seq = bx_calloc(mu.rooms, sizeof(*mu.seq));
	mu.inflight = bx_calloc(mu.rooms, sizeof(*mu.inflight));
	mu.configured = bx_calloc(mu.rooms, 1);
	if (ss_login() < 0)
		goto out_fail;
	for (unsigned room = 0; room < mu.rooms; room++)
		muc_join(room * mu.occ);
	if (run_phase("creating rooms", bo.timeout, muc_creators_in) < 0)
		goto out_fail;
	for (unsigned i = 0; i < total; i++)
		if (i % mu.occ != 0)
			muc_join(i);
	if (run_phase("entering rooms", bo.timeout, muc_all_in) < 0)
		goto out_fail;
	fprintf(stderr, "tern-bench: %u rooms of %u occupants\n", mu.rooms,
	    mu.occ);
	mu.running = 1;
	mu.t0 = bc_now();
	if (mu.rate > 0) {
		double iv = fmax(1.0 / mu.rate, 50e-6);
		struct itimerspec its = { 0 };

		mu.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
		    TFD_CLOEXEC);
		if (mu.tfd < 0) {
			perror("tern-bench: timerfd_create");
			goto out_fail;
		}
		its.it_interval.tv_sec = (time_t)iv;
		its.it_interval.tv_nsec = (long)((iv - (double)(time_t)iv) *
		    1e9);
		its.it_value = its.it_interval;
		timerfd_settime(mu.tfd, 0, &its, NULL);
		ev_io_init(&mu.tick, muc_tick, mu.tfd, EV_READ);
		ev_io_start(bloop, &mu.tick);
	} else {
		for (unsigned room = 0; room < mu.rooms; room++)
			for (int k = 0; k < bo.window; k++)
				muc_send(room, bc_now_ns());
	}
	run_for(1.0); /* warm-up */
	mu.measuring = 1;
	window_start(&w);
	run_for(bo.duration);
	mu.measuring = 0;
	window_stop(&w);
	mu.running = 0;
	if (mu.rate > 0) {
		ev_io_stop(bloop, &mu.tick);
		close(mu.tfd);
	}
	deadline = bc_now() + 10.0;
	if (run_phase("draining messages", 5.0, muc_drained) < 0) {
		for (unsigned room = 0; room < mu.rooms; room++)
			mu.lost += mu.inflight[room];
		if (mu.lost > 0)
			record_errors("messages not reflected within 5 s",
			    mu.lost);
	}
	br_begin(&r, "muc");
	br_str(&r, "mode", "mode", mu.rate > 0 ? "open loop" : "closed loop");
	br_num(&r, "rooms", "rooms", mu.rooms, 0);
	br_num(&r, "occupants", "occupants per room", mu.occ, 0);
	if (mu.rate > 0)
		br_num(&r, "offered_per_s", "offered msgs/s", mu.rate, 0);
	else
		br_num(&r, "window", "in flight per room", bo.window, 0);
	br_num(&r, "sent", "groupchat messages sent in window",
	    (double)mu.sent, 0);
	br_num(&r, "msgs_per_s", "groupchat messages/s",
	    (double)mu.sent / (w.t1 - w.t0), 1);
	br_num(&r, "delivered_per_s", "copies delivered/s",
	    (double)mu.delivered / (w.t1 - w.t0), 1);
	br_num(&r, "latency_ms_p50", "latency p50 (ms)", bs_pct(&mu.lat, 50),
	    3);
	br_num(&r, "latency_ms_p99", "latency p99 (ms)", bs_pct(&mu.lat, 99),
	    3);
	if (w.p0.ok && w.p1.ok && mu.delivered > 0)
		br_num(&r, "server_cpu_us_per_delivery",
		    "server CPU per delivered copy (us)",
		    window_cpu(&w) * 1e6 / (double)mu.delivered, 3);
	window_report(&r, &w);
	report_errors(&r);
	br_end(&r);
	ss_teardown();
	return 0;
out_fail:
	fprintf(stderr, "tern-bench: muc: set-up failed\n");
	print_errors(stderr);
	ss_teardown();
	return -1;
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: tern-bench SCENARIO [options]\n"
"scenarios:\n"
"  login     C connections in flight do N full logins, each then closes\n"
"  fast      the same with SASL2 + Bind 2 logins with XEP-0484 tokens\n"
"            (one SCRAM login per user first fetches its token)\n"
"  idle      log in K sessions and hold them; server RSS per session\n"
"  msg       P pairs exchange 1:1 chat messages to the bare JID\n"
"  presence  U users with R contacts cycle offline/online\n"
"  mam       fill an archive with N messages, time XEP-0313 pages\n"
"  muc       R rooms of O occupants, one speaker each; groupchat copies\n"
"  upload    N XEP-0363 slots, then N HTTP PUTs and N GETs of --size\n"
"            bytes: MiB/s and server CPU per MiB (--port is c2s)\n"
"connection:\n"
"  --host ADDR         server address (127.0.0.1)\n"
"  --port PORT         c2s port (5222)\n"
"  --domain NAME       XMPP domain (localhost)\n"
"  --direct-tls        TLS from the first byte instead of STARTTLS\n"
"  --no-tls            no TLS at all (the server must allow it)\n"
"  --ws PATH           XMPP over WebSocket (RFC 7395) at PATH, e.g.\n"
"                      /xmpp-websocket; --port is then the https port\n"
"  --mech MECH         SCRAM-SHA-1 (default), SCRAM-SHA-256 or PLAIN\n"
"  --src A-B           bind outgoing sockets round-robin over IPv4\n"
"                      addresses A..B (e.g. 127.0.0.1-127.0.0.50)\n"
"  --allow-remote      allow a --host outside 127.0.0.0/8 and ::1\n"
"users:\n"
"  --users PREFIX      user names PREFIX1..PREFIXN (bench)\n"
"  --password PW       their password (bench)\n"
"  --provision         create the users before measuring\n"
"  --ternctl PATH      ternctl used by --provision (build/ternctl)\n"
"  --config PATH       ternd config passed to ternctl -c\n"
"  --provision-cmd CMD command run per user instead of ternctl, with\n"
"                      {user} {domain} {password} substituted\n"
"load:\n"
"  -c N                connections in flight while logging in (50)\n"
"  -n N                login: logins (1000); mam: messages (100000)\n"
"  -k N                idle: sessions (10000)\n"
"  -p N                msg: pairs (50)\n"
"  -w N                msg: messages in flight per sender, muc: per\n"
"                      room (10)\n"
"  -u N                users (login: min(C,N); presence: 100)\n"
"  -r N                presence: contacts per user (10)\n"
"  --rate R            msg, muc: open loop at R msgs/s in total\n"
"  --duration S        msg, presence: measured seconds (10)\n"
"  --hold S            idle: seconds to hold the sessions (10)\n"
"  --warmup N          idle: sessions logged in and kept before the RSS\n"
"                      baseline, not measured (C)\n"
"  --queries N         mam: queries of each kind (50)\n"
"  --rooms R           muc: rooms (10)\n"
"  --occupants O       muc: occupants per room (10)\n"
"  --muc DOMAIN        muc: the group chat service (conference.DOMAIN)\n"
"  --size N[KMG]       upload: bytes per file (10M)\n"
"  --upload-domain D   upload: the XEP-0363 service (upload.DOMAIN)\n"
"  --sm                XEP-0198 stream management with acks\n"
"  --carbons           XEP-0280 message carbons\n"
"  --second-resource   msg: a second resource per user\n"
"  --mam               ask the server to archive all (MAM prefs)\n"
"  --mam-prefs D       set the MAM prefs default to D: always (= --mam),\n"
"                      never (nothing archived) or roster\n"
"  --no-prime          login: no unmeasured first login per user\n"
"measurement:\n"
"  --pid PID           server process for CPU and RSS (repeatable)\n"
"  --timeout S         bound on the whole run (120)\n"
"  --op-timeout S      bound on one login or query (30)\n"
"  -v                  print each connection error; -vv the time\n"
"                      each login step took; -vvv every element\n"
"                      received\n"
"Prints a table and one JSON line per result; exits 1 when more than\n"
"1%% of operations failed, 2 on bad usage.\n");
}

static int
parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

static int
parse_src(const char *arg)
{
	char lo[64], *dash;

	snprintf(lo, sizeof(lo), "%s", arg);
	dash = strchr(lo, '-');
	if (dash != NULL)
		*dash++ = '\0';
	if (parse_ipv4(lo, &bo.src_lo) < 0 ||
	    parse_ipv4(dash ? dash : lo, &bo.src_hi) < 0 ||
	    bo.src_hi < bo.src_lo || bo.src_lo == 0)
		return -1;
	if (!bo.allow_remote && ((bo.src_lo >> 24) != 127 ||
	    (bo.src_hi >> 24) != 127))
		return -1;
	return 0;
}

static double
num_arg(const char *opt, const char *v, double min, double max)
{
	char *end;
	double d = strtod(v, &end);

	if (*v == '\0' || *end != '\0' || !(d >= min && d <= max)) {
		fprintf(stderr, "tern-bench: %s: '%s' is not a number in "
		    "%g..%g\n", opt, v, min, max);
		exit(2);
	}
	return d;
}

enum {
	O_HOST = 256, O_PORT, O_DOMAIN, O_DIRECT, O_NOTLS, O_REMOTE, O_MECH, O_USERS,
	O_PASSWORD, O_PROVISION, O_TERNCTL, O_CONFIG, O_PROVCMD, O_SRC,
	O_PID, O_RATE, O_DURATION, O_HOLD, O_WARMUP, O_QUERIES, O_SM, O_CARBONS,
	O_SECOND, O_MAM, O_MAMPREFS, O_NOPRIME, O_TIMEOUT, O_OPTIMEOUT, O_ROOMS,
	O_OCCUPANTS, O_MUC, O_WS, O_SIZE, O_UPDOMAIN,
};

static const struct option longopts[] = {
	{ "host", required_argument, NULL, O_HOST },
	{ "port", required_argument, NULL, O_PORT },
	{ "domain", required_argument, NULL, O_DOMAIN },
	{ "direct-tls", no_argument, NULL, O_DIRECT },
	{ "no-tls", no_argument, NULL, O_NOTLS },
	{ "allow-remote", no_argument, NULL, O_REMOTE },
	{ "mech", required_argument, NULL, O_MECH },
	{ "users", required_argument, NULL, O_USERS },
	{ "password", required_argument, NULL, O_PASSWORD },
	{ "provision", no_argument, NULL, O_PROVISION },
	{ "ternctl", required_argument, NULL, O_TERNCTL },
	{ "config", required_argument, NULL, O_CONFIG },
	{ "provision-cmd", required_argument, NULL, O_PROVCMD },
	{ "src", required_argument, NULL, O_SRC },
	{ "pid", required_argument, NULL, O_PID },
	{ "rate", required_argument, NULL, O_RATE },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "hold", required_argument, NULL, O_HOLD },
	{ "warmup", required_argument, NULL, O_WARMUP },
	{ "queries", required_argument, NULL, O_QUERIES },
	{ "rooms", required_argument, NULL, O_ROOMS },
	{ "occupants", required_argument, NULL, O_OCCUPANTS },
	{ "muc", required_argument, NULL, O_MUC },
	{ "sm", no_argument, NULL, O_SM },
	{ "carbons", no_argument, NULL, O_CARBONS },
	{ "second-resource", no_argument, NULL, O_SECOND },
	{ "mam", no_argument, NULL, O_MAM },
	{ "mam-prefs", required_argument, NULL, O_MAMPREFS },
	{ "no-prime", no_argument, NULL, O_NOPRIME },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "op-timeout", required_argument, NULL, O_OPTIMEOUT },
	{ "ws", required_argument, NULL, O_WS },
	{ "size", required_argument, NULL, O_SIZE },
	{ "upload-domain", required_argument, NULL, O_UPDOMAIN },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
parse_args(int argc, char **argv, const char **scenario)
{
	const char *src = NULL;
	int ch;

	bo.host = "127.0.0.1";
	bo.port = "5222";
	bo.domain = "localhost";
	bo.mech = MECH_SCRAM_SHA1;
	bo.prefix = "bench";
	bo.password = "bench";
	bo.ternctl = "build/ternctl";
	bo.conc = 50;
	bo.warmup = -1;
	bo.window = 10;
	bo.hold = 10;
	bo.duration = 10;
	bo.timeout = 120;
	bo.op_timeout = 30;
	while ((ch = getopt_long(argc, argv, "c:n:k:p:w:u:r:vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case O_HOST:
			bo.host = optarg;
			break;
		case O_PORT:
			bo.port = optarg;
			break;
		case O_DOMAIN:
			bo.domain = optarg;
			break;
		case O_DIRECT:
			bo.direct_tls = 1;
			break;
		case O_NOTLS:
			bo.no_tls = 1;
			break;
		case O_REMOTE:
			bo.allow_remote = 1;
			break;
		case O_MECH:
			if (strcmp(optarg, "SCRAM-SHA-1") == 0) {
				bo.mech = MECH_SCRAM_SHA1;
			} else if (strcmp(optarg, "SCRAM-SHA-256") == 0) {
				bo.mech = MECH_SCRAM_SHA256;
			} else if (strcmp(optarg, "PLAIN") == 0) {
				bo.mech = MECH_PLAIN;
			} else {
				fprintf(stderr, "tern-bench: --mech: "
				    "SCRAM-SHA-1, SCRAM-SHA-256 or PLAIN\n");
				exit(2);
			}
			break;
		case O_USERS:
			bo.prefix = optarg;
			break;
		case O_PASSWORD:
			bo.password = optarg;
			break;
		case O_PROVISION:
			bo.provision = 1;
			break;
		case O_TERNCTL:
			bo.ternctl = optarg;
			break;
		case O_CONFIG:
			bo.config = optarg;
			break;
		case O_PROVCMD:
			bo.provision_cmd = optarg;
			break;
		case O_SRC:
			src = optarg;
			break;
		case O_PID:
			if (bo.npids == (int)ARRAYLEN(bo.pids)) {
				fprintf(stderr, "tern-bench: too many --pid\n");
				exit(2);
			}
			bo.pids[bo.npids++] = (pid_t)num_arg("--pid", optarg,
			    1, 4194304);
			break;
		case O_RATE:
			bo.rate = num_arg("--rate", optarg, 1, 1e7);
			break;
		case O_DURATION:
			bo.duration = num_arg("--duration", optarg, 0.1, 86400);
			break;
		case O_HOLD:
			bo.hold = num_arg("--hold", optarg, 0, 86400);
			break;
		case O_WARMUP:
			bo.warmup = (int)num_arg("--warmup", optarg, 0, 1e6);
			break;
		case O_ROOMS:
			bo.rooms = (int)num_arg("--rooms", optarg, 1, 1e5);
			break;
		case O_OCCUPANTS:
			bo.occupants = (int)num_arg("--occupants", optarg, 1,
			    1e5);
			break;
		case O_MUC:
			bo.muc = optarg;
			break;
		case O_QUERIES:
			bo.queries = (int)num_arg("--queries", optarg, 1, 1e6);
			break;
		case O_SM:
			bo.sm = 1;
			break;
		case O_CARBONS:
			bo.carbons = 1;
			break;
		case O_SECOND:
			bo.second_resource = 1;
			break;
		case O_MAM:
			bo.mam = 1;
			bo.mam_default = "always";
			break;
		case O_MAMPREFS:
			if (strcmp(optarg, "always") != 0 &&
			    strcmp(optarg, "never") != 0 &&
			    strcmp(optarg, "roster") != 0)
			{
				fprintf(stderr, "tern-bench: --mam-prefs: "
				    "always, never or roster\n");
				exit(2);
			}
			bo.mam = 1;
			bo.mam_default = optarg;
			break;
		case O_NOPRIME:
			bo.no_prime = 1;
			break;
		case O_TIMEOUT:
			bo.timeout = num_arg("--timeout", optarg, 1, 86400);
			break;
		case O_OPTIMEOUT:
			bo.op_timeout = num_arg("--op-timeout", optarg, 0.1,
			    3600);
			break;
		case O_WS:
			bo.ws_path = optarg;
			bo.direct_tls = 1;
			break;
		case O_SIZE: {
			char num[32];
			size_t l = strlen(optarg);
			double mul = 1;

			snprintf(num, sizeof(num), "%s", optarg);
			if (l > 0 && strchr("KkMmGg", num[l - 1]) != NULL) {
				mul = strchr("Kk", num[l - 1]) ? 1024.0 :
				    strchr("Mm", num[l - 1]) ? 1048576.0 :
				    1073741824.0;
				num[l - 1] = '\0';
			}
			bo.size = (long long)(num_arg("--size", num, 1,
			    1e12) * mul);
			break;
		}
		case O_UPDOMAIN:
			bo.upload_domain = optarg;
			break;
		case 'c':
			bo.conc = (int)num_arg("-c", optarg, 1, 1e6);
			break;
		case 'n':
			bo.total = (int)num_arg("-n", optarg, 1, 1e9);
			break;
		case 'k':
			bo.keep = (int)num_arg("-k", optarg, 1, 1e7);
			break;
		case 'p':
			bo.pairs = (int)num_arg("-p", optarg, 1, 1e6);
			break;
		case 'w':
			bo.window = (int)num_arg("-w", optarg, 1, 10000);
			break;
		case 'u':
			bo.users = (int)num_arg("-u", optarg, 1, 1e7);
			break;
		case 'r':
			bo.contacts = (int)num_arg("-r", optarg, 1, 10000);
			break;
		case 'v':
			bo.verbose++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		exit(2);
	}
	*scenario = argv[optind];
	if (bo.no_tls && bo.direct_tls) {
		fprintf(stderr, "tern-bench: --no-tls or --direct-tls\n");
		exit(2);
	}
	if (src != NULL && parse_src(src) < 0) {
		fprintf(stderr, "tern-bench: --src: want A-B, two IPv4 "
		    "addresses in 127.0.0.0/8, A <= B\n");
		exit(2);
	}
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

int
main(int argc, char **argv)
{
	const char *scenario;
	int rc;

	parse_args(argc, argv, &scenario);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	bloop = ev_default_loop(EVFLAG_AUTO);
	ev_init(&phase_timer, phase_timeout);
	bc_global_init();
	deadline = bc_now() + bo.timeout;
	if (strcmp(scenario, "login") == 0) {
		rc = scen_login();
	} else if (strcmp(scenario, "fast") == 0) {
		bo.fast = 1;
		rc = scen_login();
	} else if (strcmp(scenario, "idle") == 0) {
		rc = scen_idle();
	} else if (strcmp(scenario, "msg") == 0) {
		rc = scen_msg();
	} else if (strcmp(scenario, "presence") == 0) {
		rc = scen_presence();
	} else if (strcmp(scenario, "mam") == 0) {
		rc = scen_mam();
	} else if (strcmp(scenario, "muc") == 0) {
		rc = scen_muc();
	} else if (strcmp(scenario, "upload") == 0) {
		rc = scen_upload();
	} else {
		fprintf(stderr, "tern-bench: unknown scenario '%s'\n",
		    scenario);
		usage(stderr);
		return 2;
	}
	if (rc < 0)
		return 1;
	if (n_ops == 0 || (double)n_errors > 0.01 * (double)n_ops) {
		fprintf(stderr, "tern-bench: %lu errors in %lu operations: "
		    "failed\n", n_errors, n_ops);
		return 1;
	}
	return 0;
}

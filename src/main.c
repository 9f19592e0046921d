/* main.c: start, signals, reload and shutdown of ternd. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ctl.h"
#include "core/host.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/conn.h"
#include "net/http.h"
#include "net/listener.h"
#include "net/tls.h"
#include "store/mem.h"
#include "store/store.h"
#include "xmpp/account.h"
#include "xmpp/acct_cache.h"
#include "xmpp/c2s.h"
#include "xmpp/component.h"
#include "xmpp/domain.h"
#include "xmpp/router.h"
#include "xmpp/s2s.h"
#include "xmpp/session.h"
#include "xmpp/stream.h"
#include "xmpp/websocket.h"
#include "xmpp/bosh.h"
#include "xmpp/retention.h"
#include "xmpp/users.h"

#define TERN_VERSION "0.1.0"

static struct config *cfg;
static ev_signal sig_term, sig_int, sig_hup;
static ev_timer shutdown_timer, shutdown_poll;
static int shutting_down;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ternd [-c CONFIG] [--check] [--config-doc] "
	    "[--version]\n"
	    "  -c CONFIG     configuration file (default: $TERN_CONFIG or "
	    "/etc/tern/tern.yml)\n"
	    "  --check       validate the configuration and certificates, "
	    "then exit\n"
	    "  --config-doc  print the configuration reference (Markdown)\n");
}

/* The domains the router knows: hosts, then components (services come
 * with their hosts' configuration). */
static void
setup_domains(const struct config *c)
{
	router_setup_domains();
	component_setup_domains(c);
	s2s_setup_domains(c);
}

static void
alpn_http(struct conn *c, const char *proto)
{
	UNUSED(proto);
	http_conn_adopt(c, HTTP_L_TLS, NULL, 0);
}

/* 0, or -1 with why in err (the running configuration is kept). */
static int
reload(char *err, size_t errlen)
{
	char tmp[1024];
	struct config *n = config_load(cfg->file, err, errlen);
	enum log_level lvl;

	if (n == NULL) {
		log_err("reload failed, keeping the running configuration: %s",
		    err);
		return -1;
	}
	if (tls_load(n, err, errlen) != 0 || s2s_setup(n, err, errlen) != 0) {
		log_err("reload failed, keeping the running configuration: %s",
		    err);
		tls_load(cfg, tmp, sizeof(tmp));
		config_free(n);
		return -1;
	}
	if (host_setup(n, err, errlen) != 0) {
		/* modules refused the new config: go back to the old one */
		log_err("reload failed: %s", err);
		host_setup(cfg, tmp, sizeof(tmp));
		setup_domains(cfg);
		tls_load(cfg, tmp, sizeof(tmp));
		s2s_setup(cfg, tmp, sizeof(tmp));
		config_free(n);
		return -1;
	}
	setup_domains(n);
	if (listener_reconcile(n, err, errlen) != 0)
		log_err("reload: %s", err);
	config_free(cfg);
	cfg = n;
	retention_setup(cfg);
	lvl = (enum log_level)cfg->log_level;
	log_open(lvl, 1, cfg->log_syslog);
	log_info("ternd: configuration and certificates reloaded");
	return 0;
}

static void
ctl_reload(int argc, char **argv, char *reply, size_t len)
{
	char err[1024];

	UNUSED(argc);
	UNUSED(argv);
	if (reload(err, sizeof(err)) == 0)
		snprintf(reply, len, "ok");
	else
		snprintf(reply, len, "error %s", err);
}

/* One descriptor per connection: take the whole hard limit (the operator
 * raises that; see docs/operations.md). */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn(
		    "cannot raise the open files limit: %s", strerror(errno));
}

/* The host of a "COMMAND HOST USER" control line, or NULL (the reply
 * says how to use it). */
static struct host *
ctl_user_host(int argc, char **argv, char *reply, size_t len)
{
	struct host *h = argc == 3 ? host_find(argv[1]) : NULL;

	if (h == NULL)
		snprintf(reply, len, "error usage: %s HOST USER", argv[0]);
	return h;
}

/* The reply to an account change that returned rc (0, 1 no such
 * account, -1): "ok" promises the change is durable. */
static void
ctl_user_done(int rc, char *reply, size_t len)
{
	if (rc == 0 && store_commit() != 0)
		rc = -1;
	snprintf(reply, len,
	    rc == 0   ? "ok"
	    : rc == 1 ? "error no such account"
	    : rc == 2 ? "error deleted (in its grace period): restore it"
		      : "error storage failure");
}

static void
ctl_delete_user(int argc, char **argv, char *reply, size_t len)
{
	struct host *h = ctl_user_host(argc, argv, reply, len);

	/* delete-user: with the configured grace; purge-user: at once */
	if (h != NULL)
		ctl_user_done(
		    strcmp(argv[0], "purge-user") == 0
			? users_delete(h, argv[2])
			: users_delete_request(h, argv[2],
			      config_running->accounts.deletion_grace),
		    reply, len);
}

/* restore-user HOST USER (ternctl restore): undo a deletion in its
 * grace period */
static void
ctl_restore_user(int argc, char **argv, char *reply, size_t len)
{
	struct host *h = ctl_user_host(argc, argv, reply, len);
	int rc;

	if (h == NULL)
		return;
	rc = account_restore(h->name, argv[2]);
	if (rc == 0) {
		acct_cache_forget(h->name, argv[2]);
		log_info("account restored jid=%s@%s", argv[2], h->name);
	}
	if (rc == 0 && store_commit() != 0)
		rc = -1;
	snprintf(reply, len,
	    rc == 0   ? "ok"
	    : rc == 1 ? "error not deleted (or past its grace period)"
		      : "error storage failure");
}

/* disable-user / enable-user HOST USER (ternctl disable, enable) */
static void
ctl_set_disabled(int argc, char **argv, char *reply, size_t len)
{
	struct host *h = ctl_user_host(argc, argv, reply, len);

	if (h != NULL)
		ctl_user_done(users_set_disabled(h, argv[2],
				  strcmp(argv[0], "disable-user") == 0),
		    reply, len);
}

/* user-imported HOST USER REPLACED (ternctl import): forget what is
 * held of the account; a replaced account's sessions end. */
static void
ctl_user_imported(int argc, char **argv, char *reply, size_t len)
{
	struct host *h = argc == 4 ? host_find(argv[1]) : NULL;

	if (h == NULL) {
		snprintf(reply, len,
		    "error usage: user-imported HOST USER REPLACED");
		return;
	}
	if (strcmp(argv[3], "1") == 0)
		session_close_user(
		    h->name, argv[2], "not-authorized", "account replaced");
	acct_cache_forget(h->name, argv[2]);
	snprintf(reply, len, "ok");
}

static void
ctl_user_created(int argc, char **argv, char *reply, size_t len)
{
	struct host *h;

	if (argc != 3 || (h = host_find(argv[1])) == NULL) {
		snprintf(reply, len, "error usage: user-created HOST USER");
		return;
	}
	users_created(h, argv[2]);
	snprintf(reply, len, "ok");
}

/* The database file and its write-ahead log on disk; 0 in memory. */
static long long
storage_bytes(void)
{
	char wal[4096];
	struct stat st;
	long long n = 0;

	if (strcmp(cfg_storage_backends[cfg->storage.backend], "sqlite") != 0)
		return 0;
	if (stat(cfg->storage.path, &st) == 0)
		n += (long long)st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", cfg->storage.path);
	if (stat(wal, &st) == 0)
		n += (long long)st.st_size;
	return n;
}

static void
ctl_status(int argc, char **argv, char *reply, size_t len)
{
	UNUSED(argc);
	UNUSED(argv);
	struct mallinfo2 mi = mallinfo2();
	char used[32] = "n/a", held[32] = "n/a";

	/* heap_used: bytes malloc handed out; heap_held: what it holds
	 * from the kernel (the difference is free space it keeps). An
	 * allocator without mallinfo (a sanitizer's) reports nothing. */
	if (mi.arena + mi.hblkhd > 0) {
		snprintf(used, sizeof(used), "%zu", mi.uordblks + mi.hblkhd);
		snprintf(held, sizeof(held), "%zu", mi.arena + mi.hblkhd);
	}
	unsigned c2s = c2s_count(), in = s2s_count_in(), out = s2s_count_out();
	size_t conns = conn_count();

	snprintf(reply, len,
	    "ok sessions=%u connections=%zu c2s=%u s2s_in=%u s2s_out=%u "
	    "other=%zu queued=%zu heap_used=%s heap_held=%s "
	    "storage_bytes=%lld storage=%s",
	    session_count(), conns, c2s, in, out,
	    conns > c2s + in + out ? conns - c2s - in - out : 0,
	    conn_queued_total(), used, held, storage_bytes(),
	    store_failing() ? "failing" : "ok");
}

static void
shutdown_done(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	loop_stop();
}

static void
shutdown_check(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	if (conn_count() == 0)
		loop_stop();
}

static double
gauge_c2s(void)
{
	return (double)c2s_count();
}

static double
gauge_http(void)
{
	return (double)http_conn_count();
}

static double
gauge_sockets(void)
{
	return (double)conn_count();
}

static double
gauge_tls_light(void)
{
	return (double)conn_light_count();
}

static double
gauge_s2s_in(void)
{
	return (double)s2s_count_in();
}

static double
gauge_s2s_out(void)
{
	return (double)s2s_count_out();
}

static double
gauge_component(void)
{
	return (double)component_count();
}

static double
gauge_queued_bytes(void)
{
	return (double)conn_queued_total();
}

static double
gauge_s2s_waiting(void)
{
	return (double)s2s_queued_stanzas();
}

static double
gauge_sessions(void)
{
	return (double)session_count();
}

static void
metrics_setup(void)
{
	metrics_gauge_add("tern_connections", "kind=\"c2s\"",
	    "Open connections by kind.", gauge_c2s);
	metrics_gauge_add("tern_connections", "kind=\"http\"",
	    "Open connections by kind.", gauge_http);
	metrics_gauge_add("tern_connections", "kind=\"s2s_in\"",
	    "Open connections by kind.", gauge_s2s_in);
	metrics_gauge_add("tern_connections", "kind=\"s2s_out\"",
	    "Open connections by kind.", gauge_s2s_out);
	metrics_gauge_add("tern_connections", "kind=\"component\"",
	    "Open connections by kind.", gauge_component);
	metrics_gauge_add("tern_send_queue_bytes", NULL,
	    "Bytes queued for sending and not yet written, all connections.",
	    gauge_queued_bytes);
	metrics_gauge_add("tern_s2s_waiting_stanzas", NULL,
	    "Stanzas waiting for an outgoing server stream being set up.",
	    gauge_s2s_waiting);
	metrics_gauge_add("tern_sockets", NULL,
	    "Open connections of every kind (components too).", gauge_sockets);
	metrics_gauge_add("tern_tls_light_connections", NULL,
	    "TLS 1.3 connections carried without OpenSSL's state "
	    "(tls.light_sessions).",
	    gauge_tls_light);
	metrics_gauge_add("tern_sessions", NULL,
	    "Client sessions (bound resources, hibernating ones too).",
	    gauge_sessions);
}

static void
begin_shutdown(const char *why)
{
	if (shutting_down)
		return;
	shutting_down = 1;
	log_info("ternd: shutting down (%s)", why);
	listener_close_all();
	ctl_close();
	retention_stop();
	/* modules say goodbye while every stream is still open (group
	 * chat rooms tell their occupants, status 332) */
	host_fire_everywhere("server/shutdown");
	c2s_close_all("system-shutdown", NULL);
	/* sessions without a stream (hibernating) end too: what they hold
	 * is routed to storage */
	session_close_all("system-shutdown", NULL);
	component_close_all("system-shutdown", NULL);
	s2s_close_all("system-shutdown", NULL);
	bosh_close_all();
	http_close_all();
	/* give the stream errors a moment to reach the peers */
	ev_timer_init(&shutdown_poll, shutdown_check, 0.05, 0.05);
	ev_timer_start(loop_ev, &shutdown_poll);
	ev_timer_init(&shutdown_timer, shutdown_done, 3.0, 0.0);
	ev_timer_start(loop_ev, &shutdown_timer);
}

static void
signal_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	UNUSED(l);
	UNUSED(revents);
	char err[1024];

	if (w->signum == SIGHUP)
		reload(err, sizeof(err));
	else
		begin_shutdown(w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static int
write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f);
}

int
main(int argc, char **argv)
{
	const char *file = getenv("TERN_CONFIG");
	char err[1024];
	int check = 0, i, rc = 1;

	if (file == NULL)
		file = "/etc/tern/tern.yml";
	/* every file we create (database, journal, control socket) is
	 * private to the server's user: it holds keys and messages */
	umask(077);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			file = argv[++i];
		} else if (strcmp(argv[i], "--check") == 0) {
			check = 1;
		} else if (strcmp(argv[i], "--config-doc") == 0) {
			config_write_docs(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("ternd %s\n", TERN_VERSION);
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	cfg = config_load(file, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "ternd: %s\n", err);
		return 1;
	}
	log_open((enum log_level)cfg->log_level, 1, cfg->log_syslog);
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit makes writes fail with EFBIG, which storage
	 * handles (commits are held and retried), instead of killing us */
	signal(SIGXFSZ, SIG_IGN);
	raise_nofile();
	loop_init();
	conn_init();
	http_init();
	websocket_init();
	bosh_init();
	/* one port for XMPP and HTTPS: Direct TLS clients choosing
	 * http/1.1 by ALPN get the HTTP server */
	stream_alpn_register("http/1.1", alpn_http);
	metrics_setup();
	if (tls_load(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "ternd: %s\n", err);
		goto out_cfg;
	}
	if (s2s_setup(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "ternd: %s\n", err);
		goto out_tls;
	}
	if (check) {
		printf("ternd: configuration OK: %s\n", cfg->file);
		rc = 0;
		goto out_tls;
	}
	store_main = store_open(cfg_storage_backends[cfg->storage.backend],
	    cfg->storage.path, err, sizeof(err));
	if (store_main == NULL) {
		fprintf(stderr, "ternd: storage: %s\n", err);
		goto out_tls;
	}
	/* the group commit at the end of each loop iteration */
	loop_set_commit(store_commit);
	if (cfg->storage.deferred_loads)
		store_mem_defer(store_main, 1); /* memory only: tests */
	if (host_setup(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "ternd: %s\n", err);
		goto out_store;
	}
	setup_domains(cfg);
	retention_setup(cfg);
	listener_set_handler(LISTEN_C2S, c2s_accept);
	listener_set_handler(LISTEN_C2S_TLS, c2s_accept);
	listener_set_handler(LISTEN_COMPONENT, component_accept);
	listener_set_handler(LISTEN_S2S, s2s_accept);
	listener_set_handler(LISTEN_S2S_TLS, s2s_accept);
	listener_set_handler(LISTEN_HTTP, http_accept);
	listener_set_handler(LISTEN_HTTPS, http_accept);
	if (listener_open_all(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "ternd: %s\n", err);
		goto out_listeners;
	}
	ctl_register("reload", ctl_reload);
	ctl_register("delete-user", ctl_delete_user);
	ctl_register("purge-user", ctl_delete_user);
	ctl_register("restore-user", ctl_restore_user);
	ctl_register("user-imported", ctl_user_imported);
	ctl_register("user-created", ctl_user_created);
	ctl_register("status", ctl_status);
	ctl_register("disable-user", ctl_set_disabled);
	ctl_register("enable-user", ctl_set_disabled);
	if (cfg->control_socket &&
	    ctl_open(cfg->control_socket, err, sizeof(err)) != 0) {
		fprintf(stderr, "ternd: %s\n", err);
		goto out_listeners;
	}
	if (cfg->pidfile && write_pidfile(cfg->pidfile) != 0)
		log_warn("pidfile %s: %s", cfg->pidfile, strerror(errno));
	ev_signal_init(&sig_term, signal_cb, SIGTERM);
	ev_signal_init(&sig_int, signal_cb, SIGINT);
	ev_signal_init(&sig_hup, signal_cb, SIGHUP);
	ev_signal_start(loop_ev, &sig_term);
	ev_signal_start(loop_ev, &sig_int);
	ev_signal_start(loop_ev, &sig_hup);
	log_info("ternd %s: ready; add a user with: ternctl -c %s adduser "
		 "USER@%s",
	    TERN_VERSION, cfg->file,
	    cfg->hosts.n ? ((struct cfg_host *)cfg->hosts.items)[0].name
			 : "HOST");
	loop_run();
	rc = 0;
	if (cfg->pidfile)
		unlink(cfg->pidfile);
out_listeners:
	listener_close_all();
	ctl_close();
	retention_stop();
	/* whatever did not finish closing in time is closed now */
	conn_close_all_now();
	loop_drain();
out_store:
	acct_cache_free_all();
	domain_free_all();
	host_free_all();
	store_commit();
	store_close(store_main);
	store_main = NULL;
out_tls:
	s2s_shutdown();
	tls_shutdown();
out_cfg:
	config_free(cfg);
	if (!check)
		log_info("ternd: stopped");
	log_close();
	return rc;
}

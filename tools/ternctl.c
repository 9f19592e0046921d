/* ternctl: Tern's administration command line. It opens the same SQLite
 * file as a running ternd (WAL lets both work; writers wait up to the
 * busy timeout), commits once at the end of each command, and tells
 * ternd over its control socket when an account it may be serving is
 * deleted. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "jid/jid.h"
#include "store/store.h"
#include "xmpp/abuse_report.h"
#include "xmpp/account.h"
#include "xmpp/invite.h"
#include "xmpp/retention.h"
#include "xmpp/users.h"
#include "core/host.h"
#include "core/loop.h"
#include "check.h"
#include "pie.h"

#define EXIT_USER 1  /* the command failed; one line on stderr says why */
#define EXIT_USAGE 2 /* wrong command line */

#define PASSWORD_MAX 1024
#define CONTROL_TIMEOUT_MS 2000
#define IMPORT_MAX_ERRORS 20
#define IMPORT_MAX_THREADS 64

static const char usage_text[] =
    "usage: ternctl [-c CONFIG] COMMAND [ARGS]\n"
    "\n"
    "CONFIG defaults to $TERN_CONFIG, else /etc/tern/tern.yml.\n"
    "\n"
    "commands:\n"
    "  adduser JID [PASSWORD]  create an account; the password is\n"
    "                          prompted for on a terminal, else read\n"
    "                          as one line from standard input\n"
    "  passwd JID [PASSWORD]   change an account's password\n"
    "  deluser [--now] JID     delete an account and all its data, and\n"
    "                          end its sessions on the running ternd;\n"
    "                          with accounts.deletion_grace it is only\n"
    "                          disabled until the grace ends (--now:\n"
    "                          purge at once)\n"
    "  restore JID             take back a deletion within its grace\n"
    "                          period\n"
    "  disable JID             refuse the account's logins (SASL\n"
    "                          account-disabled) and end its sessions;\n"
    "                          its data is kept\n"
    "  enable JID              let a disabled account log in again\n"
    "  users [--inactive DURATION] [HOST]\n"
    "                          list accounts as user@host; with\n"
    "                          --inactive (30d, 12h, 90m, 3600s) only\n"
    "                          those not logged in for that long\n"
    "                          (never: counted from their creation)\n"
    "  inactive [--days N] [HOST]\n"
    "                          accounts unused for N days (default\n"
    "                          accounts.inactive_delete, else 90) with\n"
    "                          their last login, warning and deletion\n"
    "  import [--iterations N] [FILE|-]\n"
    "                          create accounts from lines \"JID PASSWORD\"\n"
    "                          (standard input without FILE or with -)\n"
    "  import [--force | --merge] FILE|DIR...\n"
    "                          import accounts and their data from\n"
    "                          XEP-0227 files (Prosody's, ejabberd's\n"
    "                          export_piefxis, Tern's export); a DIR's\n"
    "                          *.xml files; existing accounts are an\n"
    "                          error unless --force (replace them) or\n"
    "                          --merge (add to them); checked whole\n"
    "                          first, then each account all or nothing\n"
    "  export [--user JID | HOST | --all] FILE\n"
    "                          write accounts with their credentials\n"
    "                          (SCRAM keys), roster, vCard, private XML,\n"
    "                          offline messages, archive, PEP and\n"
    "                          blocklist to FILE (XEP-0227)\n"
    "  reports [list] HOST     the abuse reports (XEP-0377) queued for\n"
    "                          the admins, oldest first\n"
    "  reports show HOST ID    one report in full\n"
    "  reports dismiss HOST ID remove a report\n"
    "  reports block HOST ID   disable the reported account (of HOST)\n"
    "                          and remove the report\n"
    "  user JID                an account's storage usage and quota\n"
    "                          (limits.account_storage), in bytes\n"
    "  invite create [--contact JID] [--expires DURATION] [--uses N]\n"
    "         [--group GROUP] HOST\n"
    "                          make an invitation (XEP-0401) and print\n"
    "                          its token, xmpp: URI and landing page\n"
    "                          (with an HTTP listener); --contact: JID\n"
    "                          (an account of HOST) invites a contact,\n"
    "                          else it is for a new account. Default\n"
    "                          expiry 7d, uses 1\n"
    "  invite list HOST        the host's live invitations\n"
    "  invite revoke HOST TOKEN\n"
    "                          delete an invitation\n"
    "  status                  sessions, connections by kind, bytes\n"
    "                          queued, heap and storage of the running\n"
    "                          ternd\n"
    "  reload                  the running ternd reads its configuration\n"
    "                          and certificates again (as SIGHUP does);\n"
    "                          a bad file is reported and not applied\n"
    "  check [--strict] [--public ADDRESS] [PART]\n"
    "                          find what keeps the server from working,\n"
    "                          each problem with its fix; PART is one of\n"
    "                          config (the file), certs (a valid, trusted\n"
    "                          certificate with its key for every host,\n"
    "                          service and component), dns (SRV and\n"
    "                          A/AAAA records against the listeners),\n"
    "                          ports (the running ternd accepts on every\n"
    "                          listener, and on ADDRESS with --public),\n"
    "                          retention (what is kept, how long); all\n"
    "                          but retention without PART; exit 1 on an\n"
    "                          error, or a warning with --strict\n"
    "  help                    this text\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 bad command line\n";

static void
usage(FILE *out)
{
	fputs(usage_text, out);
}

/* One line on stderr naming the problem (pie.h). */
void
ternctl_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("ternctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- configuration and store ---- */

static struct config *
load_config(const char *path)
{
	struct config *cfg;
	char err[1024];

	cfg = config_load(path, err, sizeof(err));
	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	return cfg;
}

static int
open_store(const struct config *cfg)
{
	char err[512];

	/* the memory backend lives inside one ternd process: a store
	 * opened here would be another, empty one, and its writes lost */
	if (strcmp(cfg_storage_backends[cfg->storage.backend], "memory") == 0) {
		ternctl_fail(
		    "storage.backend is memory: its data lives only inside "
		    "the running ternd, which ternctl cannot reach");
		return -1;
	}
	store_main = store_open(cfg_storage_backends[cfg->storage.backend],
	    cfg->storage.path, err, sizeof(err));
	if (store_main == NULL) {
		ternctl_fail("storage: %s", err);
		return -1;
	}
	/* modules run in process (delete) commit at loop_drain, as in ternd */
	loop_set_commit(store_commit);
	return 0;
}

/* Parse s as an account JID (node@host, no resource) on a configured
 * host. Prints why not, after loc ("" or "file:line: "), and returns -1. */
static int
parse_account_jid(
    const struct config *cfg, const char *s, const char *loc, struct jid *j)
{
	const char *why = account_jid_parse(s, 0, j);

	if (why != NULL) {
		ternctl_fail("%s%s: %s", loc, s, why);
		return -1;
	}
	if (config_host(cfg, j->domain) == NULL) {
		ternctl_fail("%s%s: %s is not a host of %s", loc, s, j->domain,
		    cfg->file);
		jid_cleanup(j);
		return -1;
	}
	return 0;
}

/* ---- passwords ---- */

/* Name a bad password rather than fail with a storage-sounding error. */
static int
password_ok(const char *pw, const char *loc)
{
	const char *why = account_password_problem(pw);

	if (why != NULL)
		ternctl_fail("%s%s", loc, why);
	return why == NULL;
}

static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

/* Ctrl-C at the prompt must not leave the terminal without echo. */
static void
tty_restore_and_exit(int sig)
{
	if (tty_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	_exit(128 + sig);
}

static int
read_line(FILE *in, char *buf, size_t len)
{
	size_t n;

	if (fgets(buf, (int)len, in) == NULL)
		return -1;
	n = strlen(buf);
	if (n == len - 1 && buf[n - 1] != '\n') {
		ternctl_fail(
		    "password too long (%d bytes at most)", PASSWORD_MAX - 2);
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

static int
prompt_noecho(const char *prompt, char *buf, size_t len)
{
	struct termios t;
	int rc;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &saved_tty) < 0) {
		ternctl_fail("terminal: %s", strerror(errno));
		return -1;
	}
	tty_saved = 1;
	signal(SIGINT, tty_restore_and_exit);
	signal(SIGTERM, tty_restore_and_exit);
	t = saved_tty;
	t.c_lflag &= ~(tcflag_t)ECHO;
	t.c_lflag |= ECHONL;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
	rc = read_line(stdin, buf, len);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	tty_saved = 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (rc < 0 && !ferror(stdin) && feof(stdin))
		ternctl_fail("no password given");
	return rc;
}

/* The password from the command line, a terminal (twice, no echo) or one
 * line of standard input. */
static int
get_password(int argc, char **argv, int idx, char *buf, size_t len)
{
	char again[PASSWORD_MAX];

	if (idx < argc) {
		if (strlen(argv[idx]) >= len) {
			ternctl_fail("password too long");
			return -1;
		}
		snprintf(buf, len, "%s", argv[idx]);
		return 0;
	}
	if (isatty(STDIN_FILENO)) {
		if (prompt_noecho("Password: ", buf, len) < 0 ||
		    prompt_noecho("Password again: ", again, sizeof(again)) < 0)
			return -1;
		if (strcmp(buf, again) != 0) {
			explicit_bzero(again, sizeof(again));
			ternctl_fail("the passwords do not match");
			return -1;
		}
		explicit_bzero(again, sizeof(again));
		return 0;
	}
	if (read_line(stdin, buf, len) < 0) {
		if (!ferror(stdin))
			ternctl_fail("no password on standard input");
		return -1;
	}
	return 0;
}

/* ---- adduser, passwd ---- */

static void notify_created(
    const struct config *cfg, const char *host, const char *user);

/* adduser (create) and passwd (!create): the same steps, the opposite
 * expectation about whether the account exists. */
static int
set_account(const struct config *cfg, int argc, char **argv, int create)
{
	char pw[PASSWORD_MAX];
	struct jid j;
	int rc, ret = EXIT_USER;

	if (argc < 2 || argc > 3) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (parse_account_jid(cfg, argv[1], "", &j) < 0)
		return EXIT_USER;
	rc = account_exists(j.domain, j.node);
	if (rc < 0)
		goto out_cleanup;
	if (rc == (create ? 0 : 1)) {
		ternctl_fail(
		    create ? "%s already exists" : "%s: no such account",
		    j.bare);
		goto out_cleanup;
	}
	if (get_password(argc, argv, 2, pw, sizeof(pw)) < 0 ||
	    !password_ok(pw, ""))
		goto out_wipe;
	rc = create ? account_create(j.domain, j.node, pw)
		    : account_set_password(j.domain, j.node, pw);
	if (rc == 1) {
		ternctl_fail(
		    create ? "%s already exists" : "%s: no such account",
		    j.bare);
	} else if (rc == 0 && store_commit() == 0) {
		if (create)
			notify_created(cfg, j.domain, j.node);
		ret = 0;
	}
out_wipe:
	explicit_bzero(pw, sizeof(pw));
out_cleanup:
	jid_cleanup(&j);
	return ret;
}

static int
cmd_adduser(const struct config *cfg, int argc, char **argv)
{
	return set_account(cfg, argc, argv, 1);
}

static int
cmd_passwd(const struct config *cfg, int argc, char **argv)
{
	return set_account(cfg, argc, argv, 0);
}

/* ---- deluser and the control socket ---- */

static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int rc;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return -1;
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

/* Send one command line to the running ternd and read its one-line
 * answer into reply. 0 answered, 1 not running (normal: nothing said),
 * -1 no answer in time or a socket error (warned). */
static int
ctl_request(
    const struct config *cfg, const char *line, char *reply, size_t rlen)
{
	int64_t deadline = now_ms() + CONTROL_TIMEOUT_MS;
	struct sockaddr_un sa;
	size_t len = strlen(line), off = 0, got = 0;
	ssize_t n;
	int fd, rc = -1;

	reply[0] = '\0';
	if (cfg->control_socket == NULL || *cfg->control_socket == '\0')
		return 1;
	if (strlen(cfg->control_socket) >= sizeof(sa.sun_path)) {
		ternctl_fail("warning: control socket path too long: %s",
		    cfg->control_socket);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, cfg->control_socket, strlen(cfg->control_socket));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN) {
			rc = 1; /* not running */
			goto out_close;
		}
		if (wait_fd(fd, POLLOUT, deadline) < 0)
			goto out_timeout;
	}
	while (off < len) {
		n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				goto out_timeout;
			continue;
		}
		if (n < 0) {
			if (errno == ENOTCONN || errno == ECONNREFUSED) {
				rc = 1;
				goto out_close;
			}
			ternctl_fail(
			    "warning: control socket: %s", strerror(errno));
			goto out_close;
		}
		off += (size_t)n;
	}
	while (got < rlen - 1 && memchr(reply, '\n', got) == NULL) {
		if (wait_fd(fd, POLLIN, deadline) < 0)
			goto out_timeout;
		n = recv(fd, reply + got, rlen - 1 - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		reply[got] = '\0';
	}
	reply[got] = '\0';
	reply[strcspn(reply, "\r\n")] = '\0';
	rc = 0;
	goto out_close;

out_timeout:
	ternctl_fail("warning: ternd did not answer on %s within %d s",
	    cfg->control_socket, CONTROL_TIMEOUT_MS / 1000);
out_close:
	close(fd);
	return rc;
}

/* Tell a running ternd that an account now exists (welcome message and
 * other user/created work). */
static void
notify_created(const struct config *cfg, const char *host, const char *user)
{
	char line[600], reply[512];

	snprintf(line, sizeof(line), "user-created %s %s\n", host, user);
	if (ctl_request(cfg, line, reply, sizeof(reply)) == 0 &&
	    strcmp(reply, "ok") != 0)
		ternctl_fail("warning: ternd answered: %s", reply);
}

/* ternd is not running: run the modules' user/deleted hooks here, the
 * same code ternd runs, so other accounts' data is cleaned up too
 * (grace > 0: only marked for deletion, as ternd would). */
static int
delete_in_process(const struct config *cfg, const char *host, const char *user,
    long long grace)
{
	char err[512];
	struct host *h;
	int rc;

	loop_init();
	if (host_setup(cfg, err, sizeof(err)) != 0) {
		ternctl_fail("%s", err);
		return -1;
	}
	h = host_find(host);
	rc = h ? users_delete_request(h, user, grace) : -1;
	loop_drain();
	host_free_all();
	return rc;
}

/* Send the command without arguments (argv[0]) to the running ternd;
 * 0 with its answer in reply, else the exit status (said why). */
static int
ctl_simple(
    const struct config *cfg, int argc, char **argv, char *reply, size_t len)
{
	char line[64];

	if (argc != 1) {
		ternctl_fail("usage: ternctl %s", argv[0]);
		return EXIT_USAGE;
	}
	snprintf(line, sizeof(line), "%s\n", argv[0]);
	if (ctl_request(cfg, line, reply, len) != 0 || reply[0] == '\0') {
		ternctl_fail("ternd is not running or not answering on %s",
		    cfg->control_socket ? cfg->control_socket : "(none)");
		return EXIT_USER;
	}
	return 0;
}

/* One line about the running ternd, as its control socket says it. */
static int
cmd_status(const struct config *cfg, int argc, char **argv)
{
	char reply[512];
	int rc = ctl_simple(cfg, argc, argv, reply, sizeof(reply));

	if (rc != 0)
		return rc;
	if (strncmp(reply, "ok ", 3) != 0) {
		ternctl_fail("ternd answered: %s", reply);
		return EXIT_USER;
	}
	printf("%s\n", reply + 3);
	return 0;
}

static int
cmd_reload(const struct config *cfg, int argc, char **argv)
{
	char reply[512];
	int rc = ctl_simple(cfg, argc, argv, reply, sizeof(reply));

	if (rc != 0)
		return rc;
	if (strcmp(reply, "ok") != 0) {
		ternctl_fail(
		    "reload refused, ternd keeps its configuration: %s",
		    strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
		return EXIT_USER;
	}
	printf("ok: configuration reloaded\n");
	return 0;
}

/* The bytes an account's data takes in storage (what ternd commits; a
 * running ternd counts the same way) against the quota. */
static int
cmd_user(const struct config *cfg, int argc, char **argv)
{
	long long used, quota = cfg->limits.account_storage;
	struct jid j;
	int rc, ret = EXIT_USER;

	if (argc != 2) {
		ternctl_fail("usage: ternctl user JID");
		return EXIT_USAGE;
	}
	if (parse_account_jid(cfg, argv[1], "", &j) < 0)
		return EXIT_USER;
	rc = account_exists(j.domain, j.node);
	if (rc != 0) {
		ternctl_fail(
		    rc > 0 ? "%s: no such account" : "%s: storage failure",
		    j.bare);
		goto out_cleanup;
	}
	if (store_usage(j.domain, j.node, &used) < 0) {
		ternctl_fail("%s: storage failure", j.bare);
		goto out_cleanup;
	}
	if (quota > 0)
		printf("%s storage_used=%lld storage_quota=%lld (%.1f%%)\n",
		    j.bare, used, quota, 100.0 * (double)used / (double)quota);
	else
		printf(
		    "%s storage_used=%lld storage_quota=none\n", j.bare, used);
	ret = 0;
out_cleanup:
	jid_cleanup(&j);
	return ret;
}

/* ---- invitations ---- */

static int
invite_host(const struct config *cfg, const char *arg, char *name, size_t len)
{
	if (jid_nameprep(arg, name, len) < 0 ||
	    config_host(cfg, name) == NULL) {
		ternctl_fail("%s is not a host of %s", arg, cfg->file);
		return -1;
	}
	return 0;
}

/* Where the invitation's landing page is, if host (checked by
 * invite_host) serves it: the invites module and an HTTP listener, HTTPS
 * preferred; the host's name, which its certificate covers, and the
 * listener's port. */
static void
print_invite_page(const struct config *cfg, const char *host, const char *token)
{
	const struct cfg_listener *l = cfg->listeners.items, *best = NULL;
	size_t i;
	int tls;

	if (!config_host_has_module(config_host(cfg, host), "invites"))
		return;
	for (i = 0; i < cfg->listeners.n; i++) {
		if (l[i].kind == LISTEN_HTTPS) {
			best = &l[i];
			break;
		}
		if (l[i].kind == LISTEN_HTTP && best == NULL)
			best = &l[i];
	}
	if (best == NULL)
		return;
	tls = best->kind == LISTEN_HTTPS;
	printf("page %s://%s", tls ? "https" : "http", host);
	if (best->port != (tls ? 443 : 80))
		printf(":%lld", best->port);
	printf("/invite/%s\n", token);
}

static int
invite_create_cmd(const struct config *cfg, int argc, char **argv)
{
	struct invite inv = { .kind = INVITE_ACCOUNT, .uses = 1 };
	long long age = 7 * 86400;
	char host[JID_PART_MAX + 1], uri[3200], *end;
	const char *contact = NULL;
	struct jid j;
	int i, rc;

	for (i = 0; i < argc - 1 && argv[i][0] == '-'; i += 2) {
		const char *v = argv[i + 1];

		if (strcmp(argv[i], "--contact") == 0) {
			contact = v;
		} else if (strcmp(argv[i], "--expires") == 0) {
			age = retention_parse_age(v);
			if (age <= 0) {
				ternctl_fail(
				    "--expires %s: not a duration (a number "
				    "with s, m, h or d, e.g. 7d)",
				    v);
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--uses") == 0) {
			inv.uses = strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || inv.uses < 1 ||
			    inv.uses > 1000000) {
				ternctl_fail(
				    "--uses %s: not a number from 1 to "
				    "1000000",
				    v);
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--group") == 0) {
			if (v[0] == '\0' || strlen(v) > INVITE_GROUP_MAX ||
			    strpbrk(v, "\r\n") != NULL) {
				ternctl_fail(
				    "--group: 1 to %d characters on one line",
				    INVITE_GROUP_MAX);
				return EXIT_USAGE;
			}
			snprintf(inv.group, sizeof(inv.group), "%s", v);
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i != argc - 1 || argv[i][0] == '-') {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (invite_host(cfg, argv[i], host, sizeof(host)) < 0)
		return EXIT_USER;
	if (contact) {
		if (parse_account_jid(cfg, contact, "", &j) < 0)
			return EXIT_USER;
		rc = strcmp(j.domain, host) == 0 ? account_exists(host, j.node)
						 : 1;
		if (rc != 0) {
			ternctl_fail("%s: no such account on %s", j.bare, host);
			jid_cleanup(&j);
			return EXIT_USER;
		}
		inv.kind = INVITE_CONTACT;
		snprintf(inv.inviter, sizeof(inv.inviter), "%s", j.node);
		jid_cleanup(&j);
	}
	inv.created = now_unix();
	inv.expires = inv.created + age;
	rc = invite_create(host, &inv);
	if (rc == 1) {
		ternctl_fail("%s already holds %d invitations; revoke some",
		    host, INVITE_MAX);
		return EXIT_USER;
	}
	if (rc < 0 || store_commit() < 0) {
		ternctl_fail("%s: storage failure", host);
		return EXIT_USER;
	}
	printf("token %s\n", inv.token);
	invite_uri(host, &inv, uri, sizeof(uri));
	printf("%s\n", uri);
	print_invite_page(cfg, host, inv.token);
	return 0;
}

static int
print_invite(void *ud, const struct invite *inv)
{
	const char *host = ud;

	printf("%s %s inviter=%s%s%s expires=%lld uses=%ld group=%s\n",
	    inv->token, invite_kind_name(inv->kind),
	    inv->inviter[0] ? inv->inviter : "-", inv->inviter[0] ? "@" : "",
	    inv->inviter[0] ? host : "", (long long)inv->expires, inv->uses,
	    inv->group[0] ? inv->group : "-");
	return 0;
}

static int
cmd_invite(const struct config *cfg, int argc, char **argv)
{
	char host[JID_PART_MAX + 1];
	int rc;

	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return invite_create_cmd(cfg, argc - 2, argv + 2);
	if (argc == 3 && strcmp(argv[1], "list") == 0) {
		if (invite_host(cfg, argv[2], host, sizeof(host)) < 0)
			return EXIT_USER;
		if (invite_list(host, print_invite, host) < 0 ||
		    store_commit() < 0) {
			ternctl_fail("%s: storage failure", host);
			return EXIT_USER;
		}
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "revoke") == 0) {
		if (invite_host(cfg, argv[2], host, sizeof(host)) < 0)
			return EXIT_USER;
		rc = invite_revoke(host, argv[3]);
		if (rc == 1) {
			ternctl_fail(
			    "%s: no such invitation on %s", argv[3], host);
			return EXIT_USER;
		}
		if (rc < 0 || store_commit() < 0) {
			ternctl_fail("%s: storage failure", host);
			return EXIT_USER;
		}
		return 0;
	}
	usage(stderr);
	return EXIT_USAGE;
}

/* Ask a running ternd to run "cmd HOST USER" for account j: 0 when it
 * answered (*ret 0 if it said ok, else the answer is shown), 1 when it
 * is not running, -1 when it did not answer (warned). */
static int
ask_ternd(
    const struct config *cfg, const char *cmd, const struct jid *j, int *ret)
{
	char line[600], reply[512];
	int rc;

	snprintf(line, sizeof(line), "%s %s %s\n", cmd, j->domain, j->node);
	rc = ctl_request(cfg, line, reply, sizeof(reply));
	if (rc == 0 && strcmp(reply, "ok") == 0)
		*ret = 0;
	else if (rc == 0)
		ternctl_fail("%s: ternd answered: %s", j->bare, reply);
	return rc;
}

/* disable and enable: a running ternd does it (and ends the sessions);
 * otherwise the state is written here. */
static int
cmd_disable(const struct config *cfg, int argc, char **argv)
{
	int disable = strcmp(argv[0], "disable") == 0, rc, ret = EXIT_USER;
	char cmd[32];
	struct jid j;

	if (argc != 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (parse_account_jid(cfg, argv[1], "", &j) < 0)
		return EXIT_USER;
	snprintf(cmd, sizeof(cmd), "%s-user", argv[0]);
	rc = ask_ternd(cfg, cmd, &j, &ret);
	if (rc > 0) {
		rc = account_set_disabled(j.domain, j.node, disable);
		if (rc == 1)
			ternctl_fail("%s: no such account", j.bare);
		else if (rc == 2)
			ternctl_fail(
			    "%s: deleted (in its grace period): ternctl "
			    "restore brings it back",
			    j.bare);
		else if (rc == 0 && store_commit() == 0)
			ret = 0;
	}
	jid_cleanup(&j);
	return ret;
}

static void
report_print(const struct report *r, int full)
{
	const char *nl = strchr(r->text, '\n');

	printf("%s %s reported %s reason=%s time=%s stanza-ids=%s\n", r->key,
	    r->reporter, r->reported, r->reason, r->time,
	    r->ids[0] ? r->ids : "-");
	if (full)
		printf("%s\n", r->text);
	else if (r->text[0])
		printf("  %.*s%s\n", nl ? (int)(nl - r->text) : 200, r->text,
		    nl ? " ..." : "");
}

/* reports [list|show|dismiss|block] HOST [ID]: the abuse report queue
 * (mod/spam_report.c) read and changed in storage; block disables the
 * reported account through a running ternd when there is one. */
static int
cmd_reports(const struct config *cfg, int argc, char **argv)
{
	const char *op = argc == 2 ? "list" : argc > 2 ? argv[1] : "";
	const char *host = argc == 2 ? argv[1] : argc > 2 ? argv[2] : NULL;
	const char *id = argc > 3 ? argv[3] : NULL;
	int need_id = strcmp(op, "list") != 0, rc, ret = EXIT_USER;
	struct reports l;
	struct report r;
	struct jid j;
	size_t i;

	if ((strcmp(op, "list") != 0 && strcmp(op, "show") != 0 &&
		strcmp(op, "dismiss") != 0 && strcmp(op, "block") != 0) ||
	    argc != (need_id	    ? 4
			: argc == 2 ? 2
				    : 3)) {
		ternctl_fail(
		    "usage: ternctl reports [list|show|dismiss|block] HOST "
		    "[ID]");
		return EXIT_USAGE;
	}
	if (config_host(cfg, host) == NULL) {
		ternctl_fail("%s is not a host of %s", host, cfg->file);
		return EXIT_USER;
	}
	if (!need_id) {
		if (reports_load(host, &l) != 0) {
			ternctl_fail("%s: storage failure", host);
			return EXIT_USER;
		}
		for (i = 0; i < l.n; i++)
			report_print(&l.v[i], 0);
		reports_free(&l);
		return 0;
	}
	rc = report_get(host, id, &r);
	if (rc != 0) {
		ternctl_fail(
		    rc > 0 ? "%s: no report %s" : "%s: storage failure (%s)",
		    host, id);
		return EXIT_USER;
	}
	if (strcmp(op, "show") == 0) {
		report_print(&r, 1);
		report_free(&r);
		return 0;
	}
	if (strcmp(op, "block") == 0) {
		if (account_jid_parse(r.reported, 1, &j) != NULL) {
			ternctl_fail(
			    "%s: %s is not an account", id, r.reported);
			goto out;
		}
		if (strcmp(j.domain, host) != 0) {
			ternctl_fail("%s: %s is not an account of %s (see "
				     "s2s.blocked for remote domains)",
			    id, r.reported, host);
			jid_cleanup(&j);
			goto out;
		}
		rc = ask_ternd(cfg, "disable-user", &j, &ret);
		if (rc > 0) {
			rc = account_set_disabled(j.domain, j.node, 1);
			if (rc == 1)
				ternctl_fail("%s: no such account", j.bare);
			else if (rc == 0)
				ret = 0;
		}
		jid_cleanup(&j);
		if (ret != 0)
			goto out;
		ret = EXIT_USER;
	}
	if (report_delete(host, id) == 0 && store_commit() == 0)
		ret = 0;
	else
		ternctl_fail("%s: storage failure", host);
out:
	report_free(&r);
	return ret;
}

static int
cmd_deluser(const struct config *cfg, int argc, char **argv)
{
	long long grace = cfg->accounts.deletion_grace;
	const char *arg = argc == 3 ? argv[2] : argv[1];
	struct jid j;
	int rc, ret = EXIT_USER;

	if (argc == 3 && strcmp(argv[1], "--now") == 0)
		grace = 0;
	else if (argc != 2 || argv[1][0] == '-') {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (parse_account_jid(cfg, arg, "", &j) < 0)
		return EXIT_USER;
	rc = account_exists(j.domain, j.node);
	if (rc == 1) {
		ternctl_fail("%s: no such account", j.bare);
		goto out;
	}
	if (rc < 0)
		goto out;
	/* a running ternd deletes it: it ends the sessions and its modules
	 * clean up what other accounts hold (roster entries...) */
	rc = ask_ternd(cfg, grace > 0 ? "delete-user" : "purge-user", &j, &ret);
	if (rc <= 0)
		goto out_said;
	rc = delete_in_process(cfg, j.domain, j.node, grace);
	if (rc == 0 && store_commit() == 0)
		ret = 0;
	else if (rc == 1)
		ternctl_fail("%s: no such account", j.bare);
out_said:
	if (ret == 0 && grace > 0)
		printf("%s deleted; restorable with 'ternctl restore %s' for "
		       "%lld s\n",
		    j.bare, j.bare, grace);
out:
	jid_cleanup(&j);
	return ret;
}

/* restore: take back a deletion within its grace period; a running
 * ternd does it (and forgets what it knew of the account). */
static int
cmd_restore(const struct config *cfg, int argc, char **argv)
{
	struct jid j;
	int rc, ret = EXIT_USER;

	if (argc != 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (parse_account_jid(cfg, argv[1], "", &j) < 0)
		return EXIT_USER;
	rc = ask_ternd(cfg, "restore-user", &j, &ret);
	if (rc > 0) {
		rc = account_restore(j.domain, j.node);
		if (rc == 1)
			ternctl_fail(
			    "%s: not deleted, or past its grace period (see "
			    "accounts.deletion_grace)",
			    j.bare);
		else if (rc == 0 && store_commit() == 0)
			ret = 0;
	}
	if (ret == 0)
		printf("%s restored\n", j.bare);
	jid_cleanup(&j);
	return ret;
}

/* ---- users ---- */

struct users_filter {
	const char *host;
	int64_t before; /* 0: every account; else last use before this */
	int failed;
};

static int
print_user(void *ud, const char *user)
{
	struct users_filter *f = ud;
	int64_t t;

	if (f->before != 0) {
		t = account_last_use(f->host, user);
		if (t < 0) {
			f->failed = 1;
			return -1;
		}
		if (t >= f->before)
			return 0;
	}
	printf("%s@%s\n", user, f->host);
	return 0;
}

static int
list_users(const char *host, int64_t before)
{
	struct users_filter f = { .host = host, .before = before };

	if (account_list(host, print_user, &f) < 0 || f.failed)
		return -1;
	return 0;
}

static int
cmd_users(const struct config *cfg, int argc, char **argv)
{
	const struct cfg_host *hosts = cfg->hosts.items, *h;
	char name[JID_PART_MAX + 1];
	int64_t before = 0;
	long long age;
	size_t i;

	argc--;
	argv++;
	if (argc >= 1 && strcmp(argv[0], "--inactive") == 0) {
		if (argc < 2) {
			usage(stderr);
			return EXIT_USAGE;
		}
		age = retention_parse_age(argv[1]);
		if (age <= 0) {
			ternctl_fail(
			    "--inactive %s: not a duration (a number with "
			    "s, m, h or d, e.g. 90d)",
			    argv[1]);
			return EXIT_USAGE;
		}
		before = now_unix() - age;
		argc -= 2;
		argv += 2;
	}
	if (argc > 1 || (argc == 1 && argv[0][0] == '-')) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (argc == 1) {
		if (jid_nameprep(argv[0], name, sizeof(name)) < 0 ||
		    (h = config_host(cfg, name)) == NULL) {
			ternctl_fail(
			    "%s is not a host of %s", argv[0], cfg->file);
			return EXIT_USER;
		}
		return list_users(h->name, before) < 0 ? EXIT_USER : 0;
	}
	for (i = 0; i < cfg->hosts.n; i++)
		if (list_users(hosts[i].name, before) < 0)
			return EXIT_USER;
	return 0;
}

/* ---- inactive ---- */

struct inactive_ctx {
	const char *host;
	int64_t before;
	int failed;
};

static void
fmt_day(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(buf, len, "never");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
print_inactive(void *ud, const char *user)
{
	struct inactive_ctx *x = ud;
	int64_t last = account_last_use(x->host, user), login = 0, warned = 0;
	int64_t purge = 0, now = now_unix();
	char lbuf[32], wbuf[32];
	int rc;

	if (last < 0)
		goto out_fail;
	if (last > x->before)
		return 0;
	rc = account_get_last_login(x->host, user, &login);
	if (rc < 0)
		goto out_fail;
	fmt_day(rc == 0 ? login : 0, lbuf, sizeof(lbuf));
	printf("%s@%s last_login=%s idle_days=%lld", user, x->host, lbuf,
	    last > 0 ? (long long)(now - last) / 86400 : -1LL);
	rc = account_get_warned(x->host, user, &warned);
	if (rc < 0)
		goto out_fail;
	if (rc == 0 && warned > last) {
		fmt_day(warned, wbuf, sizeof(wbuf));
		printf(" warned=%s", wbuf);
	}
	if (account_is_disabled(x->host, user) == 1)
		printf(" disabled");
	if (account_get_deleting(x->host, user, &purge) == 0) {
		fmt_day(purge, wbuf, sizeof(wbuf));
		printf(" deleted purge=%s", wbuf);
	}
	putchar('\n');
	return 0;
out_fail:
	x->failed = 1;
	return -1;
}

/* inactive [--days N] [HOST]: accounts unused for N days (default:
 * accounts.inactive_delete, else 90), with their last login and where
 * they stand in the housekeeping (warned, disabled, deleted). */
static int
cmd_inactive(const struct config *cfg, int argc, char **argv)
{
	long long days = cfg->accounts.inactive_delete > 0
			     ? cfg->accounts.inactive_delete / 86400
			     : 90;
	const struct cfg_host *h;
	struct inactive_ctx x = { 0 };
	const char *only = NULL;
	char *end;
	size_t i;
	int a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--days") == 0 && a + 1 < argc) {
			errno = 0;
			days = strtoll(argv[++a], &end, 10);
			if (errno || *argv[a] == '\0' || *end || days < 0 ||
			    days > 36600) {
				ternctl_fail("--days %s: not a number of days "
					     "(0..36600)",
				    argv[a]);
				return EXIT_USAGE;
			}
		} else if (only == NULL && argv[a][0] != '-') {
			only = argv[a];
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	x.before = now_unix() - days * 86400;
	for (i = 0; i < cfg->hosts.n; i++) {
		h = &((const struct cfg_host *)cfg->hosts.items)[i];
		if (only != NULL && strcmp(only, h->name) != 0)
			continue;
		x.host = h->name;
		if (account_list(h->name, print_inactive, &x) < 0 || x.failed) {
			ternctl_fail("%s: storage failure", h->name);
			return EXIT_USER;
		}
	}
	if (only != NULL && config_host(cfg, only) == NULL) {
		ternctl_fail("%s is not a host of %s", only, cfg->file);
		return EXIT_USER;
	}
	return 0;
}

/* ---- import ---- */

struct import_entry {
	struct jid jid;
	char *password;
	unsigned line;
	struct scram_keys keys[SCRAM_NHASH];
	int rc;
};

struct import_job {
	struct import_entry *e;
	size_t n;
	unsigned iter;
	atomic_size_t next;
};

/* Key derivation is the whole cost of an import (2 PBKDF2 runs per
 * account), and needs no store: every thread takes the next entry. */
static void *
import_worker(void *arg)
{
	struct import_job *job = arg;
	size_t i;

	for (;;) {
		i = atomic_fetch_add(&job->next, 1);
		if (i >= job->n)
			break;
		job->e[i].rc = account_make_keys(
		    job->e[i].password, job->iter, job->e[i].keys);
	}
	return NULL;
}

static void
import_derive(struct import_job *job)
{
	pthread_t tids[IMPORT_MAX_THREADS];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nthr, started = 0, i;

	nthr = ncpu > 0 ? (size_t)ncpu : 1;
	if (nthr > IMPORT_MAX_THREADS)
		nthr = IMPORT_MAX_THREADS;
	if (nthr > job->n)
		nthr = job->n;
	atomic_init(&job->next, 0);
	for (i = 0; i < nthr; i++) {
		if (pthread_create(&tids[i], NULL, import_worker, job) != 0)
			break;
		started++;
	}
	/* with no thread at all, this one does the work */
	if (started == 0)
		import_worker(job);
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
}

/* Split "JID PASSWORD" (password: the rest of the line after the blanks
 * that follow the JID). Returns the password or NULL. */
static char *
import_split(char *line)
{
	char *p = line + strcspn(line, " \t");

	if (*p == '\0')
		return NULL;
	*p++ = '\0';
	p += strspn(p, " \t");
	return *p ? p : NULL;
}

static void
import_free(struct import_entry *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		jid_cleanup(&e[i].jid);
		if (e[i].password != NULL) {
			explicit_bzero(e[i].password, strlen(e[i].password));
			free(e[i].password);
		}
	}
	explicit_bzero(e, n * sizeof(*e));
	free(e);
}

/* Read and check every line; nothing is written unless all are good. */
static int
import_read(const struct config *cfg, FILE *in, const char *name,
    struct import_entry **out, size_t *outn)
{
	struct import_entry *e = NULL, *cur;
	size_t n = 0, cap = 0, llen = 0;
	char *line = NULL, *pw, loc[300];
	unsigned lineno = 0, errors = 0;
	ssize_t r;
	int rc;

	while ((r = getline(&line, &llen, in)) >= 0) {
		lineno++;
		while (r > 0 && (line[r - 1] == '\n' || line[r - 1] == '\r'))
			line[--r] = '\0';
		if (line[strspn(line, " \t")] == '\0' || line[0] == '#')
			continue;
		if (errors >= IMPORT_MAX_ERRORS)
			continue; /* count lines, report the first errors */
		pw = import_split(line);
		if (pw == NULL) {
			ternctl_fail(
			    "%s:%u: expected \"JID PASSWORD\"", name, lineno);
			errors++;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			e = xrealloc(e, cap * sizeof(*e));
		}
		cur = &e[n];
		memset(cur, 0, sizeof(*cur));
		cur->line = lineno;
		snprintf(loc, sizeof(loc), "%s:%u: ", name, lineno);
		if (parse_account_jid(cfg, line, loc, &cur->jid) < 0) {
			errors++;
			continue;
		}
		rc = account_exists(cur->jid.domain, cur->jid.node);
		if (rc != 1) {
			if (rc == 0)
				ternctl_fail(
				    "%s%s already exists", loc, cur->jid.bare);
			jid_cleanup(&cur->jid);
			errors++;
			if (rc < 0)
				break;
			continue;
		}
		if (!password_ok(pw, loc)) {
			jid_cleanup(&cur->jid);
			errors++;
			continue;
		}
		cur->password = xstrdup(pw);
		n++;
	}
	if (line != NULL) {
		explicit_bzero(line, llen);
		free(line);
	}
	if (ferror(in)) {
		ternctl_fail("%s: read error: %s", name, strerror(errno));
		errors++;
	}
	if (errors > 0) {
		ternctl_fail("%s: %u error%s, nothing imported", name, errors,
		    errors > 1 ? "s" : "");
		import_free(e, n);
		return -1;
	}
	*out = e;
	*outn = n;
	return 0;
}

/* ---- export, and import of XEP-0227 files ---- */

/* export [--user JID | HOST | --all] FILE */
static int
cmd_export(const struct config *cfg, int argc, char **argv)
{
	char host[JID_PART_MAX + 1];
	struct jid j;
	int ret;

	if (argc == 4 && strcmp(argv[1], "--user") == 0) {
		if (parse_account_jid(cfg, argv[2], "", &j) < 0)
			return EXIT_USER;
		ret = pie_export(cfg, j.domain, j.node, argv[3]);
		jid_cleanup(&j);
		return ret;
	}
	if (argc == 3 && strcmp(argv[1], "--all") == 0)
		return pie_export(cfg, NULL, NULL, argv[2]);
	if (argc == 3 && argv[1][0] != '-') {
		if (invite_host(cfg, argv[1], host, sizeof(host)) < 0)
			return EXIT_USER;
		return pie_export(cfg, host, NULL, argv[2]);
	}
	ternctl_fail("usage: ternctl export [--user JID | HOST | --all] FILE");
	return EXIT_USAGE;
}

static void
pie_changed(const void *ud, const char *host, const char *user, int existed)
{
	const struct config *cfg = ud;
	char line[600], reply[512];

	snprintf(line, sizeof(line), "user-imported %s %s %d\n", host, user,
	    existed);
	if (ctl_request(cfg, line, reply, sizeof(reply)) == 0 &&
	    strcmp(reply, "ok") != 0)
		ternctl_fail("warning: ternd answered: %s", reply);
}

/* import [--force|--merge] FILE|DIR...: XEP-0227 files (pie.c) */
static int
import_pie(const struct config *cfg, int argc, char **argv)
{
	struct pie_ctl ctl = { pie_changed, NULL };
	enum pie_mode mode = PIE_NEW;
	int i = 1;

	ctl.ud = cfg;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (strcmp(argv[i], "--force") == 0 && mode == PIE_NEW)
			mode = PIE_FORCE;
		else if (strcmp(argv[i], "--merge") == 0 && mode == PIE_NEW)
			mode = PIE_MERGE;
		else {
			ternctl_fail(
			    "usage: ternctl import [--force | --merge] "
			    "FILE|DIR...");
			return EXIT_USAGE;
		}
	}
	if (i == argc) {
		ternctl_fail(
		    "usage: ternctl import [--force | --merge] FILE|DIR...");
		return EXIT_USAGE;
	}
	return pie_import(cfg, argv + i, (size_t)(argc - i), mode, &ctl);
}

static int
cmd_import(const struct config *cfg, int argc, char **argv)
{
	struct import_job job;
	struct import_entry *e = NULL;
	const char *file = NULL, *name;
	unsigned iter = SCRAM_DEFAULT_ITER;
	size_t n = 0, i;
	char *end;
	FILE *in;
	int rc, ret = EXIT_USER, i_arg;

	/* XEP-0227 when asked for, or when the file is XML */
	for (i_arg = 1; i_arg < argc; i_arg++)
		if (strcmp(argv[i_arg], "--force") == 0 ||
		    strcmp(argv[i_arg], "--merge") == 0 ||
		    (argv[i_arg][0] != '-' && pie_is_xml(argv[i_arg]) == 1))
			return import_pie(cfg, argc, argv);
	for (i_arg = 1; i_arg < argc; i_arg++) {
		const char *a = argv[i_arg], *val = NULL;
		unsigned long v;

		if (strcmp(a, "--iterations") == 0 && i_arg + 1 < argc)
			val = argv[++i_arg];
		else if (strncmp(a, "--iterations=", 13) == 0)
			val = a + 13;
		if (val != NULL) {
			errno = 0;
			v = strtoul(val, &end, 10);
			if (errno || end == val || *end || v == 0 ||
			    v > 10000000ul) {
				ternctl_fail("--iterations: %s is not a count "
					     "(1..10000000)",
				    val);
				return EXIT_USAGE;
			}
			iter = (unsigned)v;
		} else if (file == NULL && (a[0] != '-' || a[1] == '\0')) {
			file = a;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (iter < SCRAM_DEFAULT_ITER)
		ternctl_fail(
		    "warning: %u iterations is below the default %u: only "
		    "for benchmarks",
		    iter, SCRAM_DEFAULT_ITER);

	if (file == NULL || strcmp(file, "-") == 0) {
		in = stdin;
		name = "<stdin>";
	} else {
		in = fopen(file, "r");
		if (in == NULL) {
			ternctl_fail("%s: %s", file, strerror(errno));
			return EXIT_USER;
		}
		name = file;
	}
	rc = import_read(cfg, in, name, &e, &n);
	if (in != stdin)
		fclose(in);
	if (rc < 0)
		return EXIT_USER;

	memset(&job, 0, sizeof(job));
	job.e = e;
	job.n = n;
	job.iter = iter;
	import_derive(&job);

	/* one write transaction for all: a failure leaves nothing behind,
	 * as store_close() drops what is not committed */
	for (i = 0; i < n; i++) {
		if (e[i].rc < 0) {
			ternctl_fail(
			    "%s:%u: key derivation failed", name, e[i].line);
			goto out_free;
		}
		rc = account_create_keys(
		    e[i].jid.domain, e[i].jid.node, e[i].keys);
		if (rc == 1)
			ternctl_fail(
			    "%s:%u: %s appears twice; nothing imported", name,
			    e[i].line, e[i].jid.bare);
		if (rc != 0)
			goto out_free;
	}
	if (store_commit() < 0)
		goto out_free;
	printf("imported %zu account%s\n", n, n == 1 ? "" : "s");
	ret = 0;
out_free:
	import_free(e, n);
	return ret;
}

/* ---- main ---- */

static const char *
config_path(const char *opt)
{
	const char *env;

	if (opt != NULL)
		return opt;
	env = getenv("TERN_CONFIG");
	if (env != NULL && *env != '\0')
		return env;
	return "/etc/tern/tern.yml";
}

struct command {
	const char *name;
	int (*run)(const struct config *cfg, int argc, char **argv);
};

static const struct command commands[] = {
	{ "adduser", cmd_adduser },
	{ "passwd", cmd_passwd },
	{ "deluser", cmd_deluser },
	{ "disable", cmd_disable },
	{ "enable", cmd_disable },
	{ "users", cmd_users },
	{ "inactive", cmd_inactive },
	{ "restore", cmd_restore },
	{ "import", cmd_import },
	{ "export", cmd_export },
	{ "status", cmd_status },
	{ "reload", cmd_reload },
	{ "user", cmd_user },
	{ "invite", cmd_invite },
	{ "reports", cmd_reports },
};

int
main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	const char *copt = NULL, *path;
	struct config *cfg;
	size_t i;
	int argi = 1, ret;

	/* every file we create (database, journal, control socket) is
	 * private to the server's user: it holds keys and messages */
	umask(077);
	while (argi < argc && argv[argi][0] == '-') {
		if (strcmp(argv[argi], "-c") == 0 && argi + 1 < argc) {
			copt = argv[argi + 1];
			argi += 2;
		} else if (strcmp(argv[argi], "-h") == 0 ||
			   strcmp(argv[argi], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			ternctl_fail("unknown option %s", argv[argi]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argi >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	argc -= argi;
	argv += argi;
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return 0;
	}
	log_open(LOG_LVL_WARN, 1, 0);
	path = config_path(copt);
	if (strcmp(argv[0], "check") == 0)
		return check_main(path, argc, argv);
	for (i = 0; i < ARRAY_LEN(commands); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL) {
		ternctl_fail("unknown command %s", argv[0]);
		usage(stderr);
		return EXIT_USAGE;
	}

	cfg = load_config(path);
	if (cfg == NULL)
		return EXIT_USER;
	if (open_store(cfg) < 0) {
		config_free(cfg);
		return EXIT_USER;
	}
	ret = cmd->run(cfg, argc, argv);
	/* commands commit what they did; a failed one leaves nothing (the
	 * close drops uncommitted writes) */
	store_close(store_main);
	store_main = NULL;
	config_free(cfg);
	log_close();
	return ret;
}

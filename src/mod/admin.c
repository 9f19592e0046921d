/* src/mod/admin.c: XEP-0133 Service Administration, as ad-hoc commands
 * (adhoc.h) that only the host's admins (its `admins:` list) see and
 * run: add, delete, disable and re-enable accounts, change a password,
 * end sessions, user statistics, online and registered counts, the
 * online list, announcements and the message of the day.
 *
 * The message of the day is one document of the host (keyval "motd":
 * "<version>\n<text>"); each account gets each version once, at its
 * first available presence after it was set, and those online when it is
 * set get it at once (XEP-0133 §4.24, note: a "standing announcement").
 * An account records the version it got (keyval "motd" of the user). */
#include "mod/adhoc.h"
#include "mod/mod.h"
#include "xmpp/account.h"
#include "xmpp/users.h"

#define NS_ADMIN "http://jabber.org/protocol/admin"
#define NODE(x) NS_ADMIN "#" x
#define MOTD_STORE "motd"
#define MOTD_MAX 4096
#define JIDS_MAX 100   /* accounts named in one request */
#define LIST_MAX 10000 /* online users listed without max_items */
#define VERSION_LEN 17

extern const struct module mod_admin;

static int admin_idx = -1; /* registry index: the per-session mark */
static char motd_checked;  /* the mark: this session had its chance */

/* XEP-0133 §6: only service-level admins; only accounts this server
 * authenticated (a session), never a claim from another server. */
static int
is_admin(const struct hook_ev *ev)
{
	return ev->session != NULL && ev->from->node != NULL &&
	       host_is_admin(ev->host, ev->from->bare);
}

/* ---- reading the submitted form ---- */

/* Parse s as an account of this host: bare unless full is allowed. */
static int
parse_account(struct adhoc_req *rq, const char *s, int full, struct jid *j)
{
	const char *host = rq->ev->host->name;
	const char *why = account_jid_parse(s, full, j);

	if (why != NULL) {
		adhoc_fail(rq, "modify", "bad-request", "%s: %s", s, why);
		return -1;
	}
	if (strcmp(j->domain, host) != 0) {
		adhoc_fail(rq, "modify", "bad-request",
		    "%s is not an account of %s (user@%s)", s, host, host);
		jid_cleanup(j);
		return -1;
	}
	return 0;
}

/* The account in field var: it must exist when exist is set. */
static int
get_account(struct adhoc_req *rq, const char *var, int exist, struct jid *j)
{
	const char *s = adhoc_get(rq, var);
	int rc;

	if (s == NULL) {
		adhoc_fail(rq, "modify", "bad-request",
		    "the field '%s' (an account JID) is required", var);
		return -1;
	}
	if (parse_account(rq, s, 0, j) < 0)
		return -1;
	if (!exist)
		return 0;
	rc = account_exists(j->domain, j->node);
	if (rc == 0)
		return 0;
	if (rc > 0)
		adhoc_fail(rq, "modify", "bad-request", "%s: no such account",
		    j->bare);
	else
		adhoc_fail(
		    rq, "wait", "internal-server-error", "storage failure");
	jid_cleanup(j);
	return -1;
}

struct jids {
	struct jid v[JIDS_MAX];
	size_t n;
};

static void
jids_cleanup(struct jids *js)
{
	while (js->n > 0)
		jid_cleanup(&js->v[--js->n]);
}

/* Every JID of the jid-multi field accountjids, all checked before any
 * is acted on: one bad JID and nothing is done. */
static int
get_accounts(struct adhoc_req *rq, int full, struct jids *js)
{
	struct xml_node *f = adhoc_submitted(rq, "accountjids"), *v;
	const char *t;
	int rc;

	js->n = 0;
	for (v = f ? xml_node_first_el(f) : NULL; v; v = xml_node_next_el(v)) {
		if (!xml_node_is(v, NS_XDATA, "value"))
			continue;
		t = xml_node_text_get(v);
		if (*t == '\0')
			continue;
		if (js->n == JIDS_MAX) {
			adhoc_fail(rq, "modify", "bad-request",
			    "at most %d accounts at once", JIDS_MAX);
			goto out_cleanup;
		}
		if (parse_account(rq, t, full, &js->v[js->n]) < 0)
			goto out_cleanup;
		js->n++;
		rc = account_exists(
		    js->v[js->n - 1].domain, js->v[js->n - 1].node);
		if (rc != 0) {
			if (rc > 0)
				adhoc_fail(rq, "modify", "bad-request",
				    "%s: no such account", t);
			else
				adhoc_fail(rq, "wait", "internal-server-error",
				    "storage failure");
			goto out_cleanup;
		}
	}
	if (js->n == 0) {
		adhoc_fail(rq, "modify", "bad-request",
		    "the field 'accountjids' needs at least one account JID");
		return -1;
	}
	return 0;
out_cleanup:
	jids_cleanup(js);
	return -1;
}

/* The lines of a text-multi field joined by newlines (NULL when empty). */
static char *
get_text(struct adhoc_req *rq, const char *var)
{
	struct xml_node *f = adhoc_submitted(rq, var), *v;
	struct sbuf b;
	const char *t;

	sbuf_init(&b);
	for (v = f ? xml_node_first_el(f) : NULL; v; v = xml_node_next_el(v)) {
		if (!xml_node_is(v, NS_XDATA, "value"))
			continue;
		t = xml_node_text_get(v);
		if (b.len > 0)
			sbuf_putc(&b, '\n');
		sbuf_puts(&b, t);
	}
	if (b.len == 0 || b.data[strspn(b.data, " \t\r\n")] == '\0') {
		sbuf_cleanup(&b);
		return NULL;
	}
	return sbuf_steal(&b, NULL);
}

static int
password_ok(struct adhoc_req *rq, const char *pw)
{
	const char *why;

	if (pw == NULL) {
		adhoc_fail(rq, "modify", "bad-request",
		    "the field 'password' is required");
		return 0;
	}
	why = account_password_problem(pw);
	if (why != NULL)
		adhoc_fail(rq, "modify", "bad-request", "%s", why);
	return why == NULL;
}

/* The one-field form of the commands that take accounts. */
static enum adhoc_status
accounts_form(struct adhoc_req *rq, const char *title, const char *label)
{
	struct xml_node *x = adhoc_form(rq, "form", title,
	    "Fill out this form, one JID per line.", NS_ADMIN);

	adhoc_field(x, "accountjids", "jid-multi", label, 1);
	return ADHOC_EXECUTING;
}

static void done_note(struct adhoc_req *rq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
done_note(struct adhoc_req *rq, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	adhoc_note(rq, "info", buf);
}

/* ---- accounts ---- */

static enum adhoc_status
run_add_user(struct adhoc_req *rq)
{
	struct hook_ev *ev = rq->ev;
	const char *pw, *pw2;
	enum adhoc_status st = ADHOC_ERROR;
	struct xml_node *x;
	struct jid j;
	int rc;

	if (rq->form == NULL) {
		x = adhoc_form(rq, "form", "Adding a User",
		    "Fill out this form to add a user.", NS_ADMIN);
		adhoc_field(x, "accountjid", "jid-single",
		    "The Jabber ID for the account to be added", 1);
		adhoc_field(x, "password", "text-private",
		    "The password for this account", 1);
		adhoc_field(
		    x, "password-verify", "text-private", "Retype password", 0);
		return ADHOC_EXECUTING;
	}
	if (get_account(rq, "accountjid", 0, &j) < 0)
		return ADHOC_ERROR;
	pw = adhoc_get(rq, "password");
	pw2 = adhoc_get(rq, "password-verify");
	if (!password_ok(rq, pw))
		goto out_cleanup;
	if (adhoc_submitted(rq, "password-verify") != NULL &&
	    (pw2 == NULL || strcmp(pw, pw2) != 0)) {
		adhoc_fail(
		    rq, "modify", "bad-request", "the passwords do not match");
		goto out_cleanup;
	}
	rc = account_create(j.domain, j.node, pw);
	if (rc == 1) {
		adhoc_fail(
		    rq, "cancel", "conflict", "%s already exists", j.bare);
		goto out_cleanup;
	}
	if (rc < 0) {
		adhoc_fail(
		    rq, "wait", "internal-server-error", "storage failure");
		goto out_cleanup;
	}
	log_info("admin add-user jid=%s by=%s", j.bare, ev->from->bare);
	users_created(ev->host, j.node);
	done_note(rq, "%s was created", j.bare);
	st = ADHOC_COMPLETED;
out_cleanup:
	jid_cleanup(&j);
	return st;
}

static enum adhoc_status
run_change_password(struct adhoc_req *rq)
{
	struct hook_ev *ev = rq->ev;
	enum adhoc_status st = ADHOC_ERROR;
	struct xml_node *x;
	struct jid j;
	const char *pw;

	if (rq->form == NULL) {
		x = adhoc_form(rq, "form", "Changing a User Password",
		    "Fill out this form to change a user's password.",
		    NS_ADMIN);
		adhoc_field(x, "accountjid", "jid-single",
		    "The Jabber ID for this account", 1);
		adhoc_field(x, "password", "text-private",
		    "The password for this account", 1);
		return ADHOC_EXECUTING;
	}
	if (get_account(rq, "accountjid", 1, &j) < 0)
		return ADHOC_ERROR;
	pw = adhoc_get(rq, "password");
	if (!password_ok(rq, pw))
		goto out_cleanup;
	if (account_set_password(j.domain, j.node, pw) != 0) {
		adhoc_fail(
		    rq, "wait", "internal-server-error", "storage failure");
		goto out_cleanup;
	}
	log_info(
	    "admin change-user-password jid=%s by=%s", j.bare, ev->from->bare);
	done_note(rq, "The password of %s was changed", j.bare);
	st = ADHOC_COMPLETED;
out_cleanup:
	jid_cleanup(&j);
	return st;
}

static enum adhoc_status
run_delete_user(struct adhoc_req *rq)
{
	struct hook_ev *ev = rq->ev;
	struct jids js;
	size_t i;

	if (rq->form == NULL)
		return accounts_form(
		    rq, "Deleting a User", "The Jabber ID(s) to delete");
	if (get_accounts(rq, 0, &js) < 0)
		return ADHOC_ERROR;
	for (i = 0; i < js.n; i++) {
		if (users_delete_request(ev->host, js.v[i].node,
			config_running->accounts.deletion_grace) < 0) {
			jids_cleanup(&js);
			return adhoc_fail(rq, "wait", "internal-server-error",
			    "storage failure");
		}
		log_info("admin delete-user jid=%s by=%s", js.v[i].bare,
		    ev->from->bare);
	}
	done_note(rq, "%zu account%s deleted", js.n, js.n == 1 ? "" : "s");
	jids_cleanup(&js);
	return ADHOC_COMPLETED;
}

/* disable-user and reenable-user: the same steps. */
static enum adhoc_status
set_disabled(struct adhoc_req *rq, int disabled)
{
	struct hook_ev *ev = rq->ev;
	struct jids js;
	size_t i;

	if (rq->form == NULL)
		return disabled ? accounts_form(rq, "Disabling a User",
				      "The Jabber ID(s) to disable")
				: accounts_form(rq, "Re-Enable a User",
				      "The Jabber ID(s) to re-enable");
	if (get_accounts(rq, 0, &js) < 0)
		return ADHOC_ERROR;
	for (i = 0; i < js.n; i++) {
		int rc = users_set_disabled(ev->host, js.v[i].node, disabled);

		if (rc == 2) {
			jids_cleanup(&js);
			return adhoc_fail(rq, "cancel", "not-allowed",
			    "the account is deleted (in its grace period): "
			    "the operator can restore it");
		}
		if (rc != 0) {
			jids_cleanup(&js);
			return adhoc_fail(rq, "wait", "internal-server-error",
			    "storage failure");
		}
		log_info("admin %s jid=%s by=%s",
		    disabled ? "disable-user" : "reenable-user", js.v[i].bare,
		    ev->from->bare);
	}
	done_note(rq, "%zu account%s %s", js.n, js.n == 1 ? "" : "s",
	    disabled ? "disabled" : "enabled");
	jids_cleanup(&js);
	return ADHOC_COMPLETED;
}

static enum adhoc_status
run_disable_user(struct adhoc_req *rq)
{
	return set_disabled(rq, 1);
}

static enum adhoc_status
run_reenable_user(struct adhoc_req *rq)
{
	return set_disabled(rq, 0);
}

/* §4.5: a bare JID ends every session of the account, a full JID that
 * session only. */
static enum adhoc_status
run_end_session(struct adhoc_req *rq)
{
	struct hook_ev *ev = rq->ev;
	struct session *s, *next;
	unsigned ended = 0;
	struct jids js;
	size_t i;

	if (rq->form == NULL)
		return accounts_form(rq, "Ending a User Session",
		    "The Jabber ID(s) for which to end sessions");
	if (get_accounts(rq, 1, &js) < 0)
		return ADHOC_ERROR;
	for (i = 0; i < js.n; i++) {
		if (js.v[i].resource != NULL) {
			s = session_find_full(js.v[i].full);
			if (s != NULL && !s->closing) {
				session_close(s, "policy-violation",
				    "session ended by an administrator");
				ended++;
			}
			continue;
		}
		for (s = session_find_bare(js.v[i].bare); s; s = next) {
			next = s->next_res;
			if (s->closing)
				continue;
			session_close(s, "policy-violation",
			    "session ended by an administrator");
			ended++;
		}
	}
	log_info(
	    "admin end-user-session sessions=%u by=%s", ended, ev->from->bare);
	done_note(rq, "%u session%s ended", ended, ended == 1 ? "" : "s");
	jids_cleanup(&js);
	return ADHOC_COMPLETED;
}

/* ---- statistics ---- */

static enum adhoc_status
run_user_stats(struct adhoc_req *rq)
{
	const char *host = rq->ev->host->name;
	struct xml_node *x, *ips, *res;
	struct session *s;
	long long used = 0;
	long roster = 0;
	int64_t last = 0;
	char num[32];
	struct jid j;

	if (rq->form == NULL) {
		x = adhoc_form(rq, "form", "Get User Statistics",
		    "Fill out this form to gather user statistics.", NS_ADMIN);
		adhoc_field(x, "accountjid", "jid-single",
		    "The Jabber ID for statistics", 1);
		return ADHOC_EXECUTING;
	}
	if (get_account(rq, "accountjid", 1, &j) < 0)
		return ADHOC_ERROR;
	x = adhoc_form(rq, "result", "User Statistics", NULL, NS_ADMIN);
	ips = adhoc_field(x, "ipaddresses", "text-multi", "IP addresses", 0);
	res = adhoc_field(
	    x, "onlineresources", "text-multi", "Online resources", 0);
	for (s = session_find_bare(j.bare); s; s = s->next_res) {
		const char *ip = session_peer(s);

		adhoc_value(res, s->jid.resource);
		if (ip != NULL)
			adhoc_value(ips, ip);
	}
	if (store_map_count(host, j.node, "roster", &roster) < 0)
		roster = 0;
	snprintf(num, sizeof(num), "%ld", roster);
	adhoc_value(adhoc_field(x, "rostersize", NULL, "Roster size", 0), num);
	if (account_get_last_login(host, j.node, &last) == 0) {
		snprintf(num, sizeof(num), "%lld", (long long)last);
		adhoc_value(adhoc_field(x, "lastlogin", NULL,
				"Last login (unix time)", 0),
		    num);
	}
	if (store_usage(host, j.node, &used) == 0) {
		snprintf(num, sizeof(num), "%lld", used);
		adhoc_value(adhoc_field(x, "storagebytes", NULL,
				"Bytes stored for the account", 0),
		    num);
	}
	adhoc_value(adhoc_field(x, "disabled", "boolean", "Disabled", 0),
	    account_is_disabled(host, j.node) == 1 ? "1" : "0");
	jid_cleanup(&j);
	return ADHOC_COMPLETED;
}

static int
count_cb(void *ud, const char *user)
{
	UNUSED(user);
	(*(long *)ud)++;
	return 0;
}

/* A completed command with one result field holding a number. */
static enum adhoc_status
number_result(struct adhoc_req *rq, const char *var, const char *label, long n)
{
	struct xml_node *x = adhoc_form(rq, "result", NULL, NULL, NS_ADMIN);
	char num[32];

	snprintf(num, sizeof(num), "%ld", n);
	adhoc_value(adhoc_field(x, var, NULL, label, 0), num);
	return ADHOC_COMPLETED;
}

static enum adhoc_status
run_registered_num(struct adhoc_req *rq)
{
	long n = 0;

	if (account_list(rq->ev->host->name, count_cb, &n) < 0)
		return adhoc_fail(
		    rq, "wait", "internal-server-error", "storage failure");
	return number_result(
	    rq, "registeredusersnum", "The number of registered users", n);
}

static enum adhoc_status
run_disabled_num(struct adhoc_req *rq)
{
	long n = 0;

	if (account_list_disabled(rq->ev->host->name, count_cb, &n) < 0)
		return adhoc_fail(
		    rq, "wait", "internal-server-error", "storage failure");
	return number_result(
	    rq, "disabledusersnum", "The number of disabled users", n);
}

struct online {
	const struct host *host;
	struct strlist bare;
};

static void
online_cb(struct session *s, void *ud)
{
	struct online *o = ud;

	if (s->host == o->host && !s->closing && s->jid.node != NULL)
		strlist_add(&o->bare, xstrdup(s->jid.bare));
}

/* The accounts of the host with a session, sorted, each once. */
static void
online_users(const struct host *h, struct strlist *out)
{
	struct online o = { .host = h };
	size_t i, k = 0;

	session_foreach(online_cb, &o);
	strlist_sort_unique(&o.bare);
	for (i = 0; i < o.bare.n; i++) {
		if (k > 0 && strcmp(o.bare.v[k - 1], o.bare.v[i]) == 0) {
			free(o.bare.v[i]);
			continue;
		}
		o.bare.v[k++] = o.bare.v[i];
	}
	o.bare.n = k;
	*out = o.bare;
}

static enum adhoc_status
run_online_num(struct adhoc_req *rq)
{
	struct strlist l;
	long n;

	online_users(rq->ev->host, &l);
	n = (long)l.n;
	strlist_free(&l);
	return number_result(
	    rq, "onlineusersnum", "The number of online users", n);
}

static enum adhoc_status
run_online_list(struct adhoc_req *rq)
{
	static const char *const max[] = { "25", "50", "75", "100", "150",
		"200", "none" };
	struct xml_node *x, *f, *opt;
	const char *m;
	struct strlist l;
	unsigned long limit = LIST_MAX;
	char *end;
	size_t i;

	if (rq->form == NULL) {
		x = adhoc_form(rq, "form", "Requesting List of Online Users",
		    "Fill out this form to request the online users of this "
		    "service.",
		    NS_ADMIN);
		f = adhoc_field(x, "max_items", "list-single",
		    "Maximum number of items to show", 0);
		for (i = 0; i < ARRAY_LEN(max); i++) {
			opt = xml_node_child(f, NULL, "option");
			xml_node_set_attr(opt, "label", max[i]);
			adhoc_value(opt, max[i]);
		}
		return ADHOC_EXECUTING;
	}
	m = adhoc_get(rq, "max_items");
	if (m != NULL && strcmp(m, "none") != 0) {
		limit = strtoul(m, &end, 10);
		if (*end != '\0' || limit == 0 || limit > LIST_MAX)
			return adhoc_fail(rq, "modify", "bad-request",
			    "max_items must be a number from 1 to %d, or "
			    "none",
			    LIST_MAX);
	}
	online_users(rq->ev->host, &l);
	x = adhoc_form(rq, "result", NULL, NULL, NS_ADMIN);
	f = adhoc_field(x, "onlineuserjids", "jid-multi",
	    "The list of all online users", 0);
	for (i = 0; i < l.n && i < limit; i++)
		adhoc_value(f, l.v[i]);
	if (l.n > limit)
		done_note(
		    rq, "%zu of %zu online users shown", (size_t)limit, l.n);
	strlist_free(&l);
	return ADHOC_COMPLETED;
}

/* ---- announcements and the message of the day ---- */

static void
send_text(const struct session *s, const char *type, const char *text)
{
	struct xml_node *m = xml_node_new(XML_NS_CLIENT, "message");
	char id[VERSION_LEN];

	xml_node_set_attr(m, "from", s->host->name);
	xml_node_set_attr(m, "to", s->jid.full);
	xml_node_set_attr(m, "type", type);
	rand_id(id, sizeof(id));
	xml_node_set_attr(m, "id", id);
	xml_node_text(xml_node_child(m, NULL, "body"), text, strlen(text));
	stanza_send(m);
}

struct announce {
	const struct host *host;
	const char *text;
	unsigned sent;
};

static void
announce_cb(struct session *s, void *ud)
{
	struct announce *a = ud;

	if (s->host != a->host || s->closing || s->jid.node == NULL)
		return;
	send_text(s, "headline", a->text);
	a->sent++;
}

static enum adhoc_status
run_announce(struct adhoc_req *rq)
{
	struct announce a = { .host = rq->ev->host };
	struct xml_node *x;
	char *text;

	if (rq->form == NULL) {
		x = adhoc_form(rq, "form", "Making an Announcement",
		    "Fill out this form to make an announcement to all "
		    "active users of this service.",
		    NS_ADMIN);
		adhoc_field(x, "announcement", "text-multi", "Announcement", 1);
		return ADHOC_EXECUTING;
	}
	text = get_text(rq, "announcement");
	if (text == NULL)
		return adhoc_fail(rq, "modify", "bad-request",
		    "the field 'announcement' is empty");
	if (strlen(text) > MOTD_MAX) {
		free(text);
		return adhoc_fail(rq, "modify", "bad-request",
		    "the announcement is longer than %d bytes", MOTD_MAX);
	}
	a.text = text;
	session_foreach(announce_cb, &a);
	log_info(
	    "admin announce sessions=%u by=%s", a.sent, rq->ev->from->bare);
	done_note(rq, "Sent to %u session%s", a.sent, a.sent == 1 ? "" : "s");
	free(text);
	return ADHOC_COMPLETED;
}

/* The current message of the day: 0 (version and text malloc'd into
 * *doc, text pointing into it), 1 none, -1 error. */
static int
motd_get(const char *host, char **doc, const char **text)
{
	char *nl;
	int rc = store_kv_get(host, "", MOTD_STORE, doc, NULL);

	if (rc != 0)
		return rc;
	nl = strchr(*doc, '\n');
	if (nl == NULL) {
		free(*doc);
		return 1;
	}
	*nl = '\0';
	*text = nl + 1;
	return 0;
}

/* Give s the message of the day if its account has not had this one. */
static void
motd_offer(struct session *s, const char *version, const char *text)
{
	char *seen = NULL;
	int rc;

	rc = store_kv_get(s->host->name, s->jid.node, MOTD_STORE, &seen, NULL);
	if (rc < 0)
		return;
	if (rc == 0 && strcmp(seen, version) == 0) {
		free(seen);
		return;
	}
	free(seen);
	if (store_kv_set(s->host->name, s->jid.node, MOTD_STORE, version,
		strlen(version)) < 0)
		return;
	send_text(s, "normal", text);
}

static enum hook_ret
motd_presence(struct hook_ev *ev)
{
	struct session *s = ev->session;
	const char *text;
	char *doc;

	if (s == NULL || s->jid.node == NULL || !s->available ||
	    ev->stype != STANZA_TYPE_NONE ||
	    session_mod_get(s, admin_idx) != NULL)
		return HOOK_CONTINUE;
	session_mod_set(s, admin_idx, &motd_checked);
	if (motd_get(s->host->name, &doc, &text) != 0)
		return HOOK_CONTINUE;
	motd_offer(s, doc, text);
	free(doc);
	return HOOK_CONTINUE;
}

struct motd_now {
	const struct host *host;
	const char *version, *text;
};

static void
motd_now_cb(struct session *s, void *ud)
{
	struct motd_now *m = ud;

	if (s->host != m->host || s->closing || s->jid.node == NULL ||
	    !s->available)
		return;
	session_mod_set(s, admin_idx, &motd_checked);
	motd_offer(s, m->version, m->text);
}

/* set-motd and edit-motd: the same but for the form's initial value. */
static enum adhoc_status
set_motd(struct adhoc_req *rq, int edit)
{
	const char *host = rq->ev->host->name, *cur;
	struct motd_now m = { .host = rq->ev->host };
	char version[VERSION_LEN], *text, *doc;
	struct xml_node *x, *f;
	struct sbuf b;
	int rc;

	if (rq->form == NULL) {
		x = adhoc_form(rq, "form",
		    edit ? "Editing the Message of the Day"
			 : "Setting the Message of the Day",
		    "Fill out this form to set the message of the day.",
		    NS_ADMIN);
		f = adhoc_field(
		    x, "motd", "text-multi", "Message of the Day", 1);
		if (edit && motd_get(host, &doc, &cur) == 0) {
			char *line, *save = NULL;

			for (line = strtok_r(doc + (cur - doc), "\n", &save);
			     line; line = strtok_r(NULL, "\n", &save))
				adhoc_value(f, line);
			free(doc);
		}
		return ADHOC_EXECUTING;
	}
	text = get_text(rq, "motd");
	if (text == NULL)
		return adhoc_fail(rq, "modify", "bad-request",
		    "the field 'motd' is empty (delete-motd removes the "
		    "message of the day)");
	if (strlen(text) > MOTD_MAX) {
		free(text);
		return adhoc_fail(rq, "modify", "bad-request",
		    "the message of the day is longer than %d bytes", MOTD_MAX);
	}
	/* a new version: every account gets the new text once */
	time_id(version, sizeof(version));
	sbuf_init(&b);
	sbuf_printf(&b, "%s\n%s", version, text);
	rc = store_kv_set(host, "", MOTD_STORE, b.data, b.len);
	sbuf_cleanup(&b);
	if (rc < 0) {
		free(text);
		return adhoc_fail(
		    rq, "wait", "internal-server-error", "storage failure");
	}
	m.version = version;
	m.text = text;
	session_foreach(motd_now_cb, &m);
	log_info("admin %s by=%s", edit ? "edit-motd" : "set-motd",
	    rq->ev->from->bare);
	free(text);
	done_note(rq, "The message of the day is set");
	return ADHOC_COMPLETED;
}

static enum adhoc_status
run_set_motd(struct adhoc_req *rq)
{
	return set_motd(rq, 0);
}

static enum adhoc_status
run_edit_motd(struct adhoc_req *rq)
{
	return set_motd(rq, 1);
}

static enum adhoc_status
run_delete_motd(struct adhoc_req *rq)
{
	if (store_kv_del(rq->ev->host->name, "", MOTD_STORE) < 0)
		return adhoc_fail(
		    rq, "wait", "internal-server-error", "storage failure");
	log_info("admin delete-motd by=%s", rq->ev->from->bare);
	done_note(rq, "The message of the day is deleted");
	return ADHOC_COMPLETED;
}

/* ---- the module ---- */

static const struct adhoc_cmd admin_cmds[] = {
	{ NODE("add-user"), "Add a User", is_admin, run_add_user },
	{ NODE("delete-user"), "Delete a User", is_admin, run_delete_user },
	{ NODE("disable-user"), "Disable a User", is_admin, run_disable_user },
	{ NODE("reenable-user"), "Re-Enable a User", is_admin,
	    run_reenable_user },
	{ NODE("end-user-session"), "End User Session", is_admin,
	    run_end_session },
	{ NODE("change-user-password"), "Change User Password", is_admin,
	    run_change_password },
	{ NODE("user-stats"), "Get User Statistics", is_admin, run_user_stats },
	{ NODE("get-registered-users-num"), "Get Number of Registered Users",
	    is_admin, run_registered_num },
	{ NODE("get-disabled-users-num"), "Get Number of Disabled Users",
	    is_admin, run_disabled_num },
	{ NODE("get-online-users-num"), "Get Number of Online Users", is_admin,
	    run_online_num },
	{ NODE("get-online-users-list"), "Get List of Online Users", is_admin,
	    run_online_list },
	{ NODE("announce"), "Send Announcement to Online Users", is_admin,
	    run_announce },
	{ NODE("set-motd"), "Set Message of the Day", is_admin, run_set_motd },
	{ NODE("edit-motd"), "Edit Message of the Day", is_admin,
	    run_edit_motd },
	{ NODE("delete-motd"), "Delete Message of the Day", is_admin,
	    run_delete_motd },
};

static enum hook_ret
admin_commands(struct hook_ev *ev)
{
	adhoc_offer(ev->data, admin_cmds, ARRAY_LEN(admin_cmds));
	return HOOK_CONTINUE;
}

static int
admin_init(struct host *h)
{
	UNUSED(h);
	admin_idx = module_index(mod_admin.name);
	return 0;
}

static const struct hook_reg admin_hooks[] = { { "adhoc/commands",
						   admin_commands, 0 },
	/* with the other first-presence work (offline delivery) */
	{ "presence/self", motd_presence, 5 }, HOOK_REG_END };

const struct module mod_admin = {
	.name = "admin",
	.spec = "XEP-0133",
	.doc = "Service administration commands for the host's admins "
	       "(`admins:`): add, delete, disable and re-enable accounts, "
	       "passwords, sessions, statistics, announcements and the "
	       "message of the day.",
	.hooks = admin_hooks,
	.depends = (const char *const[]){ "adhoc", NULL },
	.init = admin_init,
};

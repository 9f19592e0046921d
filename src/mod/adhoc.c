/* src/mod/adhoc.c: XEP-0050 Ad-Hoc Commands on the server, with the
 * commands any local user may run (ping, uptime, storage use) and those
 * other modules offer (adhoc.h: the admin module's XEP-0133 commands).
 * Clients (profanity's /command, Gajim's "Execute command") list them
 * through disco#items on the commands node, which shows each requester
 * only the commands it may run. A command that returns a form keeps a
 * session (its id, node, host and requester) until the form comes back,
 * the requester cancels, or it expires; every other request that names
 * a session is answered <bad-sessionid/>. */
#include <inttypes.h>

#include "mod/adhoc.h"
#include "mod/mod.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"

#define ADHOC_LIST_MAX 64
/* Sessions waiting for a form: few, short-lived, per requester capped
 * so that one client cannot push the others' out. */
#define SESS_MAX 256
#define SESS_PER_OWNER 8
#define SESS_TTL 600 /* seconds */
#define SID_LEN 16

struct adhoc_list {
	const struct adhoc_cmd *v[ADHOC_LIST_MAX];
	size_t n;
};

struct adhoc_sess {
	char sid[SID_LEN + 1];
	const struct host *host;
	char *node, *owner; /* owner: the requester's full JID */
	int64_t expires;
};

static struct adhoc_sess sessions[SESS_MAX];

/* ---- the built-in commands ---- */

static enum adhoc_status
run_ping(struct adhoc_req *rq)
{
	adhoc_note(rq, "info", "Pong");
	return ADHOC_COMPLETED;
}

static enum adhoc_status
run_uptime(struct adhoc_req *rq)
{
	int64_t t = now_unix() - loop_started();
	char buf[160];

	if (t < 0)
		t = 0;
	snprintf(buf, sizeof(buf),
	    "Server uptime: %" PRId64 " days, %" PRId64 " hours, %" PRId64
	    " minutes, %" PRId64 " seconds",
	    t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
	adhoc_note(rq, "info", buf);
	return ADHOC_COMPLETED;
}

static enum adhoc_status
run_storage(struct adhoc_req *rq)
{
	const struct hook_ev *ev = rq->ev;
	long long used, quota = store_quota();
	char buf[160];

	if (store_usage(ev->host->name, ev->from->node, &used) < 0)
		snprintf(
		    buf, sizeof(buf), "Storage use is not available right now");
	else if (quota > 0)
		snprintf(buf, sizeof(buf),
		    "Your account stores %lld bytes of %lld (%.1f%%)", used,
		    quota, 100.0 * (double)used / (double)quota);
	else
		snprintf(buf, sizeof(buf),
		    "Your account stores %lld bytes (no quota)", used);
	adhoc_note(rq, "info", buf);
	return ADHOC_COMPLETED;
}

static const struct adhoc_cmd builtin[] = {
	{ "ping", "Ping", NULL, run_ping },
	{ "uptime", "Get uptime", NULL, run_uptime },
	{ "storage", "Show my storage use", NULL, run_storage },
};

/* ---- the API for commands ---- */

void
adhoc_offer(struct adhoc_list *l, const struct adhoc_cmd *cmds, size_t n)
{
	size_t i;

	for (i = 0; i < n && l->n < ADHOC_LIST_MAX; i++)
		l->v[l->n++] = &cmds[i];
}

enum adhoc_status
adhoc_fail(struct adhoc_req *rq, const char *type, const char *cond,
    const char *fmt, ...)
{
	va_list ap;

	rq->err_type = type;
	rq->err_cond = cond;
	va_start(ap, fmt);
	vsnprintf(rq->err_text, sizeof(rq->err_text), fmt, ap);
	va_end(ap);
	return ADHOC_ERROR;
}

void
adhoc_note(struct adhoc_req *rq, const char *type, const char *text)
{
	struct xml_node *n = xml_node_child(rq->cmd, NULL, "note");

	xml_node_set_attr(n, "type", type);
	xml_node_text(n, text, strlen(text));
}

void
adhoc_value(struct xml_node *field, const char *v)
{
	xml_node_text(xml_node_child(field, NULL, "value"), v, strlen(v));
}

struct xml_node *
adhoc_field(struct xml_node *x, const char *var, const char *type,
    const char *label, int required)
{
	struct xml_node *f = xml_node_child(x, NULL, "field");

	xml_node_set_attr(f, "var", var);
	if (type)
		xml_node_set_attr(f, "type", type);
	if (label)
		xml_node_set_attr(f, "label", label);
	if (required)
		xml_node_child(f, NULL, "required");
	return f;
}

struct xml_node *
adhoc_form(struct adhoc_req *rq, const char *type, const char *title,
    const char *instructions, const char *form_type)
{
	struct xml_node *x = xml_node_child(rq->cmd, NS_XDATA, "x");

	xml_node_set_attr(x, "type", type);
	if (title)
		xml_node_text(
		    xml_node_child(x, NULL, "title"), title, strlen(title));
	if (instructions)
		xml_node_text(xml_node_child(x, NULL, "instructions"),
		    instructions, strlen(instructions));
	if (form_type)
		adhoc_value(
		    adhoc_field(x, "FORM_TYPE", "hidden", NULL, 0), form_type);
	return x;
}

struct xml_node *
adhoc_submitted(const struct adhoc_req *rq, const char *var)
{
	struct xml_node *f;
	const char *v;

	if (rq->form == NULL)
		return NULL;
	for (f = xml_node_first_el(rq->form); f; f = xml_node_next_el(f)) {
		if (!xml_node_is(f, NS_XDATA, "field"))
			continue;
		v = xml_node_attr(f, "var");
		if (v != NULL && strcmp(v, var) == 0)
			return f;
	}
	return NULL;
}

const char *
adhoc_get(const struct adhoc_req *rq, const char *var)
{
	struct xml_node *f = adhoc_submitted(rq, var);
	struct xml_node *v = f ? xml_node_find(f, NS_XDATA, "value") : NULL;
	const char *t = v ? xml_node_text_get(v) : NULL;

	return t && *t ? t : NULL;
}

/* ---- finding commands ---- */

/* The built-in commands are for this host's own users (XEP-0050 §4.1:
 * the responder decides who may see and run them). */
static int
is_local_user(const struct hook_ev *ev)
{
	return ev->from->node != NULL &&
	       strcmp(ev->from->domain, ev->host->name) == 0;
}

static int
may_run(const struct adhoc_cmd *c, const struct hook_ev *ev)
{
	return c->allowed ? c->allowed(ev) : is_local_user(ev);
}

static void
collect(struct hook_ev *ev, struct adhoc_list *l)
{
	struct hook_ev lev = *ev;

	l->n = 0;
	adhoc_offer(l, builtin, ARRAY_LEN(builtin));
	lev.data = l;
	hook_fire(ev->host->hooks, "adhoc/commands", &lev);
}

static const struct adhoc_cmd *
find_cmd(const struct adhoc_list *l, const char *node)
{
	size_t i;

	for (i = 0; node && i < l->n; i++)
		if (strcmp(l->v[i]->node, node) == 0)
			return l->v[i];
	return NULL;
}

/* ---- sessions ---- */

static void
sess_drop(struct adhoc_sess *s)
{
	free(s->node);
	free(s->owner);
	memset(s, 0, sizeof(*s));
}

static struct adhoc_sess *
sess_find(const struct hook_ev *ev, const char *sid, const char *node)
{
	int64_t now = now_unix();
	size_t i;

	for (i = 0; i < SESS_MAX; i++) {
		struct adhoc_sess *s = &sessions[i];

		if (s->node == NULL || strcmp(s->sid, sid) != 0)
			continue;
		if (s->expires < now) {
			sess_drop(s);
			return NULL;
		}
		/* only its requester may go on with it, on the same node */
		if (s->host != ev->host || strcmp(s->node, node) != 0 ||
		    strcmp(s->owner, ev->from->full) != 0)
			return NULL;
		return s;
	}
	return NULL;
}

/* A free slot: expired ones are free; a requester at its cap, or a full
 * table, gives up its oldest. */
static struct adhoc_sess *
sess_slot(const char *owner)
{
	struct adhoc_sess *free_s = NULL, *oldest = NULL, *own_oldest = NULL;
	int64_t now = now_unix();
	unsigned own = 0;
	size_t i;

	for (i = 0; i < SESS_MAX; i++) {
		struct adhoc_sess *s = &sessions[i];

		if (s->node != NULL && s->expires < now)
			sess_drop(s);
		if (s->node == NULL) {
			if (free_s == NULL)
				free_s = s;
			continue;
		}
		if (oldest == NULL || s->expires < oldest->expires)
			oldest = s;
		if (strcmp(s->owner, owner) == 0) {
			own++;
			if (own_oldest == NULL ||
			    s->expires < own_oldest->expires)
				own_oldest = s;
		}
	}
	if (own >= SESS_PER_OWNER) {
		sess_drop(own_oldest);
		return own_oldest;
	}
	if (free_s == NULL) {
		sess_drop(oldest);
		free_s = oldest;
	}
	return free_s;
}

/* ---- disco ---- */

static enum hook_ret
adhoc_items(struct hook_ev *ev)
{
	const char *node = xml_node_attr(ev->payload, "node");
	struct xml_node *r, *q, *it;
	struct adhoc_list l;
	size_t i;

	if (node == NULL || strcmp(node, NS_COMMANDS) != 0)
		return HOOK_CONTINUE;
	collect(ev, &l);
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_ITEMS, "query");
	xml_node_set_attr(q, "node", NS_COMMANDS);
	for (i = 0; i < l.n; i++) {
		if (!may_run(l.v[i], ev))
			continue;
		it = xml_node_child(q, NULL, "item");
		xml_node_set_attr(it, "jid", ev->host->name);
		xml_node_set_attr(it, "node", l.v[i]->node);
		xml_node_set_attr(it, "name", l.v[i]->name);
	}
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* §2.2 and §2.3: the command list and each command are disco nodes. */
static enum hook_ret
adhoc_info(struct hook_ev *ev)
{
	const char *node = xml_node_attr(ev->payload, "node");
	const struct adhoc_cmd *c;
	struct xml_node *r, *q, *id;
	struct adhoc_list l;

	if (node == NULL)
		return HOOK_CONTINUE;
	collect(ev, &l);
	c = find_cmd(&l, node);
	if (c == NULL && strcmp(node, NS_COMMANDS) != 0)
		return HOOK_CONTINUE;
	if (c != NULL && !may_run(c, ev)) {
		stanza_reply_error(ev, "auth", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_INFO, "query");
	xml_node_set_attr(q, "node", node);
	id = xml_node_child(q, NULL, "identity");
	xml_node_set_attr(id, "category", "automation");
	xml_node_set_attr(id, "type", c ? "command-node" : "command-list");
	xml_node_set_attr(id, "name", c ? c->name : "Commands");
	if (c) {
		xml_node_set_attr(
		    xml_node_child(q, NULL, "feature"), "var", NS_COMMANDS);
		xml_node_set_attr(
		    xml_node_child(q, NULL, "feature"), "var", NS_XDATA);
	}
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* ---- execution ---- */

static void
bad_request(struct hook_ev *ev, const char *app)
{
	stanza_bounce_app(
	    ev->stanza, "modify", "bad-request", NULL, NS_COMMANDS, app);
}

/* The submitted form of the request, if any (§4.3: the requester sends
 * the form it filled as <x type='submit'/>). */
static struct xml_node *
submitted_form(struct xml_node *cmd)
{
	struct xml_node *x = xml_node_find(cmd, NS_XDATA, "x");
	const char *type = x ? xml_node_attr(x, "type") : NULL;

	return type && strcmp(type, "submit") == 0 ? x : NULL;
}

/* §4.4: the reply to a cancel. */
static void
reply_canceled(struct hook_ev *ev, const char *node, const char *sid)
{
	struct xml_node *r = stanza_reply(ev);
	struct xml_node *cmd = xml_node_child(r, NS_COMMANDS, "command");

	xml_node_set_attr(cmd, "node", node);
	xml_node_set_attr(cmd, "sessionid", sid);
	xml_node_set_attr(cmd, "status", "canceled");
	stanza_reply_send(ev, r);
}

static void
run_cmd(struct hook_ev *ev, const struct adhoc_cmd *c, struct adhoc_sess *s,
    const char *sid)
{
	struct adhoc_req rq = { 0 };
	struct xml_node *r, *act;
	enum adhoc_status st;
	char sidbuf[SID_LEN + 1];

	r = stanza_reply(ev);
	rq.ev = ev;
	rq.form = submitted_form(ev->payload);
	rq.cmd = xml_node_child(r, NS_COMMANDS, "command");
	st = c->run(&rq);
	if (st == ADHOC_ERROR) {
		xml_node_free(r);
		if (s != NULL)
			sess_drop(s);
		stanza_reply_error(ev, rq.err_type, rq.err_cond,
		    rq.err_text[0] ? rq.err_text : NULL);
		log_info("adhoc %s jid=%s error=%s", c->node, ev->from->full,
		    rq.err_cond);
		return;
	}
	if (sid == NULL) {
		rand_id(sidbuf, sizeof(sidbuf));
		sid = sidbuf;
	}
	xml_node_set_attr(rq.cmd, "node", c->node);
	xml_node_set_attr(rq.cmd, "sessionid", sid);
	if (st == ADHOC_EXECUTING) {
		if (s == NULL) {
			s = sess_slot(ev->from->full);
			snprintf(s->sid, sizeof(s->sid), "%s", sid);
			s->host = ev->host;
			s->node = xstrdup(c->node);
			s->owner = xstrdup(ev->from->full);
		}
		s->expires = now_unix() + SESS_TTL;
		xml_node_set_attr(rq.cmd, "status", "executing");
		/* one form, then done: the only way on is to complete */
		act = xml_node_child(rq.cmd, NULL, "actions");
		xml_node_set_attr(act, "execute", "complete");
		xml_node_child(act, NULL, "complete");
	} else {
		if (s != NULL)
			sess_drop(s);
		xml_node_set_attr(rq.cmd, "status", "completed");
		log_info("adhoc %s jid=%s", c->node, ev->from->full);
	}
	stanza_reply_send(ev, r);
}

static enum hook_ret
adhoc_execute(struct hook_ev *ev)
{
	const char *node = xml_node_attr(ev->payload, "node");
	const char *action = xml_node_attr(ev->payload, "action");
	const char *sid = xml_node_attr(ev->payload, "sessionid");
	const struct adhoc_cmd *c;
	struct adhoc_sess *s = NULL;
	struct adhoc_list l;

	collect(ev, &l);
	c = find_cmd(&l, node);
	if (c == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (!may_run(c, ev)) {
		/* XEP-0133 §3 (errors): not an admin */
		stanza_reply_error(ev, "auth", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	if (sid != NULL) {
		s = sess_find(ev, sid, c->node);
		if (s == NULL) {
			bad_request(ev, "bad-sessionid");
			return HOOK_HANDLED;
		}
		if (action != NULL && strcmp(action, "cancel") == 0) {
			sess_drop(s);
			reply_canceled(ev, c->node, sid);
			return HOOK_HANDLED;
		}
	}
	/* a new command starts with execute; a session goes on with the
	 * form by execute or complete (our forms are one stage) */
	if (action != NULL && strcmp(action, "execute") != 0 &&
	    (s == NULL || strcmp(action, "complete") != 0)) {
		bad_request(ev, "bad-action");
		return HOOK_HANDLED;
	}
	run_cmd(ev, c, s, sid);
	return HOOK_HANDLED;
}

/* Sessions end with their host's module (reload, shutdown). */
static void
adhoc_cleanup(struct host *h)
{
	size_t i;

	for (i = 0; i < SESS_MAX; i++)
		if (sessions[i].node != NULL && sessions[i].host == h)
			sess_drop(&sessions[i]);
}

static const struct hook_reg adhoc_hooks[] = {
	/* before disco's own answers, which know no nodes */
	{ "iq-get/host/" NS_INFO ":query", adhoc_info, 10 },
	{ "iq-get/host/" NS_ITEMS ":query", adhoc_items, 10 },
	{ "iq-set/host/" NS_COMMANDS ":command", adhoc_execute, 0 },
	HOOK_REG_END
};

const struct module mod_adhoc = {
	.name = "adhoc",
	.spec = "XEP-0050",
	.doc = "Ad-hoc commands on the server: ping, uptime and their own "
	       "storage use for its users, and the commands of other "
	       "modules (admin).",
	.features = (const char *const[]){ NS_COMMANDS, NULL },
	.hooks = adhoc_hooks,
	.cleanup = adhoc_cleanup,
};

/* src/mod/spam_report.c: XEP-0377 Spam Reporting — a <report/> inside a
 * XEP-0191 block item is queued on the host for its admins (capped,
 * oldest dropped), who may be told by message, list the queue and act on
 * a report (dismiss it, or disable the reported local account) with
 * ad-hoc commands. The block itself is left to the blocking module. */
#include "mod/mod.h"
#include "mod/adhoc.h"
#include "xmpp/abuse_report.h"
#include "xmpp/users.h"

#define NS_REPORTING "urn:xmpp:reporting:1"
#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_SID "urn:xmpp:sid:0"
#define REASON_SPAM "urn:xmpp:reporting:spam"
#define REASON_ABUSE "urn:xmpp:reporting:abuse"
#define IDS_MAX 16
#define NODE_LIST "urn:tern:reports#list"
#define NODE_ACT "urn:tern:reports#act"

struct report_cfg {
	long long max;
	int notify;
};

extern const struct module mod_spam_report;

/* Tell each admin of the host. */
static void
report_notify(struct host *h, const char *reporter, const char *reported,
    const char *reason, const char *key)
{
	struct jid from;
	char body[512];
	size_t i;

	if (jid_parse_str(&from, h->name) != 0)
		return;
	snprintf(body, sizeof(body),
	    "New abuse report %s: %s reported %s (%s). Ad-hoc command %s "
	    "lists the queue.",
	    key, reporter, reported, reason, NODE_LIST);
	for (i = 0; i < h->cfg->admins.n; i++) {
		struct xml_node *m = xml_node_new(XML_NS_CLIENT, "message");
		struct xml_node *b;

		xml_node_set_attr(m, "from", h->name);
		xml_node_set_attr(m, "to", h->cfg->admins.v[i]);
		xml_node_set_attr(m, "type", "normal");
		b = xml_node_child(m, NULL, "body");
		xml_node_text(b, body, strlen(body));
		router_route(m, &from, NULL);
		xml_node_free(m);
	}
	jid_cleanup(&from);
}

/* Store one report; drops the oldest past the cap. */
static int
report_store(struct host *h, const struct report_cfg *cfg, const char *reporter,
    const char *reported, struct xml_node *rep)
{
	const char *reason = xml_node_attr(rep, "reason");
	struct xml_node *c;
	struct sbuf ids;
	char key[REPORT_KEY_LEN];
	int nids = 0, rc;
	const char *text = "";

	sbuf_init(&ids);
	for (c = xml_node_first_el(rep); c; c = xml_node_next_el(c)) {
		const char *id = xml_node_attr(c, "id");

		if (xml_node_is(c, NS_SID, "stanza-id") && id &&
		    nids < IDS_MAX && strpbrk(id, " \n") == NULL) {
			sbuf_printf(&ids, "%s%s", nids ? " " : "", id);
			nids++;
		} else if (xml_node_is(c, NS_REPORTING, "text")) {
			text = xml_node_text_get(c);
		}
	}
	rc = report_add(h->name, cfg->max, reporter, reported, reason,
	    ids.data ? ids.data : "", text, key);
	sbuf_cleanup(&ids);
	if (rc != 0)
		return -1;
	log_info("spam_report: %s reported %s (%s) as %s", reporter, reported,
	    reason, key);
	if (cfg->notify)
		report_notify(h, reporter, reported, reason, key);
	return 0;
}

/* iq-set block (before the blocking module): queue the reports in it.
 * A report with an unknown reason refuses the whole block. */
static enum hook_ret
report_block(struct hook_ev *ev)
{
	const struct report_cfg *cfg = host_modcfg(ev->host, &mod_spam_report);
	struct xml_node *it, *rep;

	if (ev->session == NULL || ev->to->resource != NULL ||
	    !jid_bare_eq(ev->from, ev->to))
		return HOOK_CONTINUE;
	for (it = xml_node_first_el(ev->payload); it;
	     it = xml_node_next_el(it)) {
		const char *reason;

		rep = xml_node_find(it, NS_REPORTING, "report");
		if (!xml_node_is(it, NS_BLOCKING, "item") || rep == NULL)
			continue;
		reason = xml_node_attr(rep, "reason");
		if (reason == NULL || (strcmp(reason, REASON_SPAM) != 0 &&
					  strcmp(reason, REASON_ABUSE) != 0)) {
			stanza_reply_error(ev, "modify", "bad-request",
			    "unknown report reason");
			return HOOK_HANDLED;
		}
	}
	for (it = xml_node_first_el(ev->payload); it;
	     it = xml_node_next_el(it)) {
		struct jid j;
		const char *js = xml_node_attr(it, "jid");

		rep = xml_node_find(it, NS_REPORTING, "report");
		if (!xml_node_is(it, NS_BLOCKING, "item") || rep == NULL ||
		    js == NULL || jid_parse_str(&j, js) != 0)
			continue; /* the blocking module answers bad items */
		if (report_store(ev->host, cfg, ev->from->bare, j.full, rep) <
		    0) {
			jid_cleanup(&j);
			stanza_reply_error(
			    ev, "wait", "internal-server-error", NULL);
			return HOOK_HANDLED;
		}
		jid_cleanup(&j);
	}
	return HOOK_CONTINUE;
}

static int
is_admin(const struct hook_ev *ev)
{
	return ev->session != NULL && ev->from->node != NULL &&
	       host_is_admin(ev->host, ev->from->bare);
}

static enum adhoc_status
run_list(struct adhoc_req *rq)
{
	static const char *const cols[] = { "id", "reporter", "jid", "reason",
		"time", "stanza-ids", "text" };
	struct xml_node *x, *rp, *item;
	struct reports l;
	size_t i, k;

	if (reports_load(rq->ev->host->name, &l) != 0)
		return adhoc_fail(
		    rq, "wait", "internal-server-error", "storage failure");
	x = adhoc_form(rq, "result", "Abuse Reports", NULL, NULL);
	rp = xml_node_child(x, NS_XDATA, "reported");
	for (k = 0; k < ARRAY_LEN(cols); k++)
		adhoc_field(rp, cols[k], "text-single", NULL, 0);
	for (i = 0; i < l.n; i++) {
		const struct report *r = &l.v[i];
		const char *vals[] = { r->key, r->reporter, r->reported,
			r->reason, r->time, r->ids, r->text };

		item = xml_node_child(x, NS_XDATA, "item");
		for (k = 0; k < ARRAY_LEN(cols); k++)
			adhoc_value(
			    adhoc_field(item, cols[k], NULL, NULL, 0), vals[k]);
	}
	reports_free(&l);
	return ADHOC_COMPLETED;
}

/* Dismiss a report, or disable the reported local account (which also
 * removes the report). */
static enum adhoc_status
run_act(struct adhoc_req *rq)
{
	struct host *h = rq->ev->host;
	const char *id, *action;
	struct report r;
	struct jid j;
	int rc;

	if (rq->form == NULL) {
		struct xml_node *x =
		    adhoc_form(rq, "form", "Act on an Abuse Report",
			"The report and what to do", NULL);
		struct xml_node *f;

		adhoc_field(x, "id", "text-single", "Report", 1);
		f = adhoc_field(x, "action", "list-single", "Action", 1);
		xml_node_set_attr(
		    xml_node_child(f, NULL, "option"), "label", "Dismiss");
		adhoc_value(xml_node_find(f, NULL, "option"), "dismiss");
		adhoc_value(xml_node_child(f, NULL, "option"), "disable");
		return ADHOC_EXECUTING;
	}
	id = adhoc_get(rq, "id");
	action = adhoc_get(rq, "action");
	if (id == NULL || action == NULL)
		return adhoc_fail(
		    rq, "modify", "bad-request", "id and action are required");
	if (strcmp(action, "dismiss") != 0 && strcmp(action, "disable") != 0)
		return adhoc_fail(rq, "modify", "bad-request",
		    "unknown action '%s' (dismiss or disable)", action);
	rc = report_get(h->name, id, &r);
	if (rc == 1)
		return adhoc_fail(
		    rq, "cancel", "item-not-found", "no report %s", id);
	if (rc != 0)
		return adhoc_fail(
		    rq, "wait", "internal-server-error", "storage failure");
	if (strcmp(action, "disable") == 0) {
		if (jid_parse_str(&j, r.reported) != 0 || j.node == NULL ||
		    strcmp(j.domain, h->name) != 0) {
			if (j.domain)
				jid_cleanup(&j);
			report_free(&r);
			return adhoc_fail(rq, "modify", "not-acceptable",
			    "the reported JID is not an account of this host");
		}
		rc = users_set_disabled(h, j.node, 1);
		jid_cleanup(&j);
		if (rc != 0) {
			report_free(&r);
			return adhoc_fail(rq, "wait", "internal-server-error",
			    "could not disable the account");
		}
		log_info("spam_report: %s disabled %s (report %s)",
		    rq->ev->from->bare, r.reported, id);
	}
	report_delete(h->name, id);
	adhoc_note(rq, "info",
	    strcmp(action, "disable") == 0 ? "account disabled"
					   : "report dismissed");
	report_free(&r);
	return ADHOC_COMPLETED;
}

static const struct adhoc_cmd report_cmds[] = {
	{ NODE_LIST, "List Abuse Reports", is_admin, run_list },
	{ NODE_ACT, "Act on an Abuse Report", is_admin, run_act },
};

static enum hook_ret
report_commands(struct hook_ev *ev)
{
	adhoc_offer(ev->data, report_cmds, ARRAY_LEN(report_cmds));
	return HOOK_CONTINUE;
}

static const struct cfg_directive report_dirs[] = {
	{ .name = "max_reports",
	    .type = CFG_INT,
	    .offset = offsetof(struct report_cfg, max),
	    .def = "1000",
	    .min = 1,
	    .max = 1000000,
	    .doc = "Abuse reports (XEP-0377) kept for the admins of the host; "
		   "past it the oldest are dropped." },
	{ .name = "notify_admins",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct report_cfg, notify),
	    .def = "true",
	    .doc = "Send each admin of the host a message on a new report." },
	{ .name = NULL },
};

static const struct cfg_section report_section = {
	.name = "spam_report",
	.dirs = report_dirs,
	.size = sizeof(struct report_cfg),
	.doc = "Settings of the spam_report module.",
};

static const struct hook_reg report_hooks[] = {
	{ "iq-set/bare/" NS_BLOCKING ":block", report_block, 10 },
	{ "adhoc/commands", report_commands, 0 },
	HOOK_REG_END,
};

const struct module mod_spam_report = {
	.name = "spam_report",
	.spec = "XEP-0377",
	.doc = "Abuse reports with a block, queued for the host's admins.",
	.features = (const char *const[]){ NS_REPORTING, NULL },
	.hooks = report_hooks,
	.config = &report_section,
	.depends = (const char *const[]){ "blocking", "adhoc", NULL },
};

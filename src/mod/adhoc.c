/* src/mod/adhoc.c: XEP-0050 Ad-Hoc Commands on the server, with the
 * commands any local user may run (ping, uptime, storage use). Clients
 * (profanity's /command, Gajim's "Execute command") list them through
 * disco#items on the commands node. Every command here completes in one
 * stage, so no session outlives its request: a later request that names
 * a session is answered <bad-sessionid/>. */
#include <inttypes.h>

#include "mod/mod.h"

#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_XDATA "jabber:x:data"

struct adhoc_cmd {
	const char *node, *name;
	/* the text of the note that completes the command */
	void (*run)(const struct hook_ev *ev, struct sbuf *note);
};

static void
run_ping(const struct hook_ev *ev, struct sbuf *note)
{
	UNUSED(ev);
	sbuf_puts(note, "Pong");
}

static void
run_uptime(const struct hook_ev *ev, struct sbuf *note)
{
	int64_t t = now_unix() - loop_started();

	UNUSED(ev);
	if (t < 0)
		t = 0;
	sbuf_printf(note,
	    "Server uptime: %" PRId64 " days, %" PRId64 " hours, %" PRId64
	    " minutes, %" PRId64 " seconds",
	    t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
}

static void
run_storage(const struct hook_ev *ev, struct sbuf *note)
{
	long long used, quota = store_quota();

	if (store_usage(ev->host->name, ev->from->node, &used) < 0) {
		sbuf_puts(note, "Storage use is not available right now");
		return;
	}
	if (quota > 0)
		sbuf_printf(note,
		    "Your account stores %lld bytes of %lld "
		    "(%.1f%%)",
		    used, quota, 100.0 * (double)used / (double)quota);
	else
		sbuf_printf(
		    note, "Your account stores %lld bytes (no quota)", used);
}

static const struct adhoc_cmd cmds[] = {
	{ "ping", "Ping", run_ping },
	{ "uptime", "Get uptime", run_uptime },
	{ "storage", "Show my storage use", run_storage },
};

static const struct adhoc_cmd *
find_cmd(const char *node)
{
	size_t i;

	for (i = 0; node && i < ARRAY_LEN(cmds); i++)
		if (strcmp(cmds[i].node, node) == 0)
			return &cmds[i];
	return NULL;
}

/* Commands are for this host's own users (XEP-0050 §4.1: the responder
 * decides who may see and run them). */
static int
is_local_user(const struct hook_ev *ev)
{
	return ev->from->node != NULL &&
	       strcmp(ev->from->domain, ev->host->name) == 0;
}

static enum hook_ret
adhoc_items(struct hook_ev *ev)
{
	const char *node = xml_node_attr(ev->payload, "node");
	struct xml_node *r, *q, *it;
	size_t i;

	if (node == NULL || strcmp(node, NS_COMMANDS) != 0)
		return HOOK_CONTINUE;
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_ITEMS, "query");
	xml_node_set_attr(q, "node", NS_COMMANDS);
	for (i = 0; is_local_user(ev) && i < ARRAY_LEN(cmds); i++) {
		it = xml_node_child(q, NULL, "item");
		xml_node_set_attr(it, "jid", ev->host->name);
		xml_node_set_attr(it, "node", cmds[i].node);
		xml_node_set_attr(it, "name", cmds[i].name);
	}
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* §2.2 and §2.3: the command list and each command are disco nodes. */
static enum hook_ret
adhoc_info(struct hook_ev *ev)
{
	const char *node = xml_node_attr(ev->payload, "node");
	const struct adhoc_cmd *c = find_cmd(node);
	struct xml_node *r, *q, *id;

	if (node == NULL || (c == NULL && strcmp(node, NS_COMMANDS) != 0))
		return HOOK_CONTINUE;
	if (c != NULL && !is_local_user(ev)) {
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

static enum hook_ret
adhoc_execute(struct hook_ev *ev)
{
	const char *node = xml_node_attr(ev->payload, "node");
	const char *action = xml_node_attr(ev->payload, "action");
	const char *sid = xml_node_attr(ev->payload, "sessionid");
	const struct adhoc_cmd *c = find_cmd(node);
	struct xml_node *r, *cmd, *n;
	unsigned char raw[9];
	char sidbuf[16];
	struct sbuf note;

	if (c == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (!is_local_user(ev)) {
		stanza_reply_error(ev, "auth", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	/* every command completes at once: no session to go on with */
	if (sid != NULL) {
		stanza_bounce_app(ev->stanza, "modify", "bad-request", NULL,
		    NS_COMMANDS, "bad-sessionid");
		return HOOK_HANDLED;
	}
	if (action != NULL && strcmp(action, "execute") != 0) {
		stanza_bounce_app(ev->stanza, "modify", "bad-request", NULL,
		    NS_COMMANDS, "bad-action");
		return HOOK_HANDLED;
	}
	sbuf_init(&note);
	c->run(ev, &note);
	rand_bytes(raw, sizeof(raw));
	b64_encode(raw, sizeof(raw), sidbuf);
	r = stanza_reply(ev);
	cmd = xml_node_child(r, NS_COMMANDS, "command");
	xml_node_set_attr(cmd, "node", c->node);
	xml_node_set_attr(cmd, "sessionid", sidbuf);
	xml_node_set_attr(cmd, "status", "completed");
	n = xml_node_child(cmd, NULL, "note");
	xml_node_set_attr(n, "type", "info");
	xml_node_text(n, note.data ? note.data : "", note.len);
	sbuf_cleanup(&note);
	log_info("adhoc %s jid=%s", c->node, ev->from->full);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
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
	.doc = "Ad-hoc commands on the server for its users: ping, uptime "
	       "and their own storage use.",
	.features = (const char *const[]){ NS_COMMANDS, NULL },
	.hooks = adhoc_hooks,
};

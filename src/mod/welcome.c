/* src/mod/welcome.c: a message from the server to every new account (no
 * XEP; operators use it to recommend end-to-end encryption). */
#include "mod/mod.h"

struct welcome_cfg {
	char *message;
};

extern const struct module mod_welcome;

static enum hook_ret
welcome_created(struct hook_ev *ev)
{
	const struct welcome_cfg *wc = host_modcfg(ev->host, &mod_welcome);
	struct xml_node *m;
	char to[2 * JID_PART_MAX + 2];

	if (wc->message == NULL || wc->message[0] == '\0')
		return HOOK_CONTINUE;
	snprintf(to, sizeof(to), "%s@%s", ev->user, ev->host->name);
	m = xml_node_new(XML_NS_CLIENT, "message");
	xml_node_set_attr(m, "from", ev->host->name);
	xml_node_set_attr(m, "to", to);
	xml_node_set_attr(m, "type", "normal");
	rand_id(to, 17);
	xml_node_set_attr(m, "id", to);
	xml_node_text(
	    xml_node_child(m, NULL, "body"), wc->message, strlen(wc->message));
	/* to the bare JID: the new account is rarely online yet, so the
	 * offline module (when enabled) keeps it for the first login */
	stanza_send(m);
	return HOOK_CONTINUE;
}

static const struct cfg_directive welcome_dirs[] = {
	{ .name = "message",
	    .type = CFG_STRING,
	    .offset = offsetof(struct welcome_cfg, message),
	    .def = NULL,
	    .doc = "Text of the message the server sends to each new account "
		   "(from the host's domain, type normal); none: no message. "
		   "Reaches accounts that are not online only when the "
		   "offline module is enabled." },
	{ .name = NULL },
};

static const struct cfg_section welcome_section = {
	.name = "welcome",
	.dirs = welcome_dirs,
	.size = sizeof(struct welcome_cfg),
	.doc = "Settings of the welcome module.",
};

static const struct hook_reg welcome_hooks[] = {
	{ "user/created", welcome_created, 0 }, HOOK_REG_END
};

const struct module mod_welcome = {
	.name = "welcome",
	.doc = "Sends a configured message to each new account.",
	.hooks = welcome_hooks,
	.config = &welcome_section,
};

/* src/mod/version.c: XEP-0092 Software Version of the server. */
#include <sys/utsname.h>

#include "mod/mod.h"

struct version_cfg {
	int hide_os;
};

extern const struct module mod_version;

static enum hook_ret
version_iq(struct hook_ev *ev)
{
	const struct version_cfg *vc = host_modcfg(ev->host, &mod_version);
	struct xml_node *r = stanza_reply(ev);
	struct xml_node *q = xml_node_child(r, "jabber:iq:version", "query");

	xml_node_text(xml_node_child(q, NULL, "name"), "Tern", 4);
	xml_node_text(xml_node_child(q, NULL, "version"), "0.1.0", 5);
	if (vc == NULL || !vc->hide_os) {
		struct utsname u;

		if (uname(&u) == 0)
			xml_node_text(xml_node_child(q, NULL, "os"), u.sysname,
			    strlen(u.sysname));
	}
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static const struct cfg_directive version_dirs[] = {
	{ .name = "hide_os",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct version_cfg, hide_os),
	    .def = "false",
	    .doc = "Leave the operating system out of the answer." },
	{ .name = NULL },
};

static const struct cfg_section version_section = {
	.name = "version",
	.dirs = version_dirs,
	.size = sizeof(struct version_cfg),
	.doc = "Settings of the version module.",
};

static const struct hook_reg version_hooks[] = {
	{ "iq-get/host/jabber:iq:version:query", version_iq, 0 }, HOOK_REG_END
};

const struct module mod_version = {
	.name = "version",
	.spec = "XEP-0092",
	.doc = "Tells the server's software name and version.",
	.features = (const char *const[]){ "jabber:iq:version", NULL },
	.hooks = version_hooks,
	.config = &version_section,
};

/* src/mod/time.c: XEP-0202 Entity Time — the server's clock in UTC. */
#include "mod/mod.h"

static enum hook_ret
time_iq(struct hook_ev *ev)
{
	struct xml_node *r = stanza_reply(ev);
	struct xml_node *t = xml_node_child(r, "urn:xmpp:time", "time");
	char utc[32];

	time_xep82(now_unix(), utc, sizeof(utc));
	/* the server runs on UTC for everyone it serves */
	xml_node_text(xml_node_child(t, NULL, "tzo"), "+00:00", 6);
	xml_node_text(xml_node_child(t, NULL, "utc"), utc, strlen(utc));
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static const struct hook_reg time_hooks[] = {
	{ "iq-get/host/urn:xmpp:time:time", time_iq, 0 }, HOOK_REG_END
};

const struct module mod_time = {
	.name = "time",
	.spec = "XEP-0202",
	.doc = "Tells the server's time (UTC) to those who ask.",
	.features = (const char *const[]){ "urn:xmpp:time", NULL },
	.hooks = time_hooks,
};

/* src/mod/ping.c: XEP-0199 XMPP Ping — the server answers pings to itself. */
#include "mod/mod.h"

static enum hook_ret
ping_iq(struct hook_ev *ev)
{
	stanza_reply_result(ev);
	return HOOK_HANDLED;
}

static const struct hook_reg ping_hooks[] = {
	{ "iq-get/host/urn:xmpp:ping:ping", ping_iq, 0 }, HOOK_REG_END
};

const struct module mod_ping = {
	.name = "ping",
	.spec = "XEP-0199",
	.doc = "Answers pings addressed to the server.",
	.features = (const char *const[]){ "urn:xmpp:ping", NULL },
	.hooks = ping_hooks,
};

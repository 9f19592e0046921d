/* src/mod/echo.c: an echo service on its own domain (e.g.
 * echo.example.org), for operators and client developers to test
 * routing: it answers service discovery and pings, and sends every
 * message back to its sender, as ejabberd's mod_echo does. It is also
 * the smallest example of a service module: it runs on a service domain
 * (a host's services: list), not on the host itself. */
#include "mod/service.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"

static enum hook_ret
echo_info(struct hook_ev *ev)
{
	static const struct disco_identity id = { "component", "generic",
		"Echo" };
	static const char *const feats[] = { NS_ITEMS, NS_PING, NULL };
	struct xml_node *q, *r = service_disco_info(ev, &id, feats, &q);

	if (r != NULL)
		stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
echo_ping(struct hook_ev *ev)
{
	stanza_reply_result(ev);
	return HOOK_HANDLED;
}

/* The message goes back with 'from' and 'to' swapped, to anyone but
 * another service or component (two echoes would talk forever). */
static enum hook_ret
echo_message(struct hook_ev *ev)
{
	struct xml_node *m;
	const char *type = ev->type;

	if (strcmp(type, "error") == 0 || ev->from->node == NULL ||
	    host_find(ev->from->domain) == NULL)
		return HOOK_HANDLED;
	m = xml_node_dup(ev->stanza);
	xml_node_set_attr(m, "from", ev->to->full);
	xml_node_set_attr(m, "to", ev->from->full);
	stanza_send(m);
	return HOOK_HANDLED;
}

static const struct hook_reg echo_hooks[] = { { "iq-get/host/" NS_INFO ":query",
						  echo_info, 0 },
	{ "iq-get/host/" NS_ITEMS ":query", service_disco_items, 0 },
	{ "iq-get/host/" NS_PING ":ping", echo_ping, 0 },
	{ "message/host", echo_message, 0 },
	{ "message/bare", echo_message, 0 },
	{ "message/full", echo_message, 0 }, HOOK_REG_END };

const struct module mod_echo = {
	.name = "echo",
	.spec = "XEP-0030, XEP-0199",
	.doc = "An echo service on a service domain (services: list): sends "
	       "every message back, answers disco and ping; for testing.",
	.kinds = MODULE_ON_SERVICE,
	.service_hooks = echo_hooks,
};

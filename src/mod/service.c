/* service.c: the service discovery answers of service domains. */
#include "mod/service.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"

struct xml_node *
service_disco_info(struct hook_ev *ev, const struct disco_identity *id,
    const char *const *features, struct xml_node **query)
{
	struct xml_node *r, *q, *e;

	if (xml_node_attr(ev->payload, "node")) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return NULL;
	}
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_INFO, "query");
	e = xml_node_child(q, NULL, "identity");
	xml_node_set_attr(e, "category", id->category);
	xml_node_set_attr(e, "type", id->type);
	if (id->name != NULL)
		xml_node_set_attr(e, "name", id->name);
	xml_node_set_attr(xml_node_child(q, NULL, "feature"), "var", NS_INFO);
	for (; features != NULL && *features != NULL; features++)
		xml_node_set_attr(
		    xml_node_child(q, NULL, "feature"), "var", *features);
	*query = q;
	return r;
}

enum hook_ret
service_disco_items(struct hook_ev *ev)
{
	struct xml_node *r = stanza_reply(ev);

	xml_node_child(r, NS_ITEMS, "query");
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* src/mod/contact_info.c: XEP-0157 Contact Addresses for XMPP Services,
 * from the host's settings, as an XEP-0128 form in the server's
 * disco#info. */
#include "mod/mod.h"

#define NS_DATA "jabber:x:data"
#define FORM_TYPE "http://jabber.org/network/serverinfo"

struct contact_cfg {
	struct cfg_strlist abuse, admin, feedback, sales, security, status,
	    support;
};

extern const struct module mod_contact_info;

static const struct {
	const char *var;
	size_t offset;
} kinds[] = {
	{ "abuse-addresses", offsetof(struct contact_cfg, abuse) },
	{ "admin-addresses", offsetof(struct contact_cfg, admin) },
	{ "feedback-addresses", offsetof(struct contact_cfg, feedback) },
	{ "sales-addresses", offsetof(struct contact_cfg, sales) },
	{ "security-addresses", offsetof(struct contact_cfg, security) },
	{ "status-addresses", offsetof(struct contact_cfg, status) },
	{ "support-addresses", offsetof(struct contact_cfg, support) },
};

static const struct cfg_strlist *
list_of(const struct contact_cfg *cc, size_t k)
{
	return (const struct cfg_strlist *)(const void *)((const char *)cc +
							  kinds[k].offset);
}

static enum hook_ret
contact_form(struct hook_ev *ev)
{
	const struct contact_cfg *cc = host_modcfg(ev->host, &mod_contact_info);
	struct xml_node *x, *f;
	size_t k, i, total = 0;

	for (k = 0; k < ARRAY_LEN(kinds); k++)
		total += list_of(cc, k)->n;
	if (total == 0)
		return HOOK_CONTINUE;
	x = xml_node_child(ev->data, NS_DATA, "x");
	xml_node_set_attr(x, "type", "result");
	f = xml_node_child(x, NULL, "field");
	xml_node_set_attr(f, "var", "FORM_TYPE");
	xml_node_set_attr(f, "type", "hidden");
	xml_node_text(
	    xml_node_child(f, NULL, "value"), FORM_TYPE, strlen(FORM_TYPE));
	for (k = 0; k < ARRAY_LEN(kinds); k++) {
		const struct cfg_strlist *l = list_of(cc, k);

		if (l->n == 0)
			continue;
		f = xml_node_child(x, NULL, "field");
		xml_node_set_attr(f, "var", kinds[k].var);
		for (i = 0; i < l->n; i++)
			xml_node_text(xml_node_child(f, NULL, "value"), l->v[i],
			    strlen(l->v[i]));
	}
	return HOOK_CONTINUE;
}

/* Addresses are URIs: refuse a value without a scheme, which clients
 * could not open. */
static int
contact_init(struct host *h)
{
	const struct contact_cfg *cc = host_modcfg(h, &mod_contact_info);
	size_t k, i;
	int rc = 0;

	for (k = 0; k < ARRAY_LEN(kinds); k++) {
		const struct cfg_strlist *l = list_of(cc, k);

		for (i = 0; i < l->n; i++) {
			const char *p = l->v[i];
			size_t n = strspn(p,
			    "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");

			if (n == 0 || p[n] != ':' || p[n + 1] == '\0') {
				log_err("host %s: contact_info: '%s' is not "
					"a URI (mailto:, xmpp:, https:...)",
				    h->name, p);
				rc = -1;
			}
		}
	}
	return rc;
}

#define CONTACT_DIR(n, what)                                                   \
	{                                                                      \
		.name = #n, .type = CFG_STRLIST,                               \
		.offset = offsetof(struct contact_cfg, n),                     \
		.doc = "URIs (mailto:, xmpp:, https:) for " what "."           \
	}

static const struct cfg_directive contact_dirs[] = {
	CONTACT_DIR(abuse, "reports of abusive traffic"),
	CONTACT_DIR(admin, "the service's administrators"),
	CONTACT_DIR(feedback, "feedback from users"),
	CONTACT_DIR(sales, "sales and marketing"),
	CONTACT_DIR(security, "security concerns"),
	CONTACT_DIR(status, "the service's status"),
	CONTACT_DIR(support, "user support"),
	{ .name = NULL },
};

static const struct cfg_section contact_section = {
	.name = "contact_info",
	.dirs = contact_dirs,
	.size = sizeof(struct contact_cfg),
	.doc = "Contact addresses published in the server's disco#info "
	       "(XEP-0157); a kind with no address is left out.",
};

static const struct hook_reg contact_hooks[] = {
	{ "disco/info/host", contact_form, 0 }, HOOK_REG_END
};

const struct module mod_contact_info = {
	.name = "contact_info",
	.spec = "XEP-0157",
	.doc = "Publishes the service's contact addresses in disco#info.",
	.hooks = contact_hooks,
	.config = &contact_section,
	.depends = (const char *const[]){ "disco", NULL },
	.init = contact_init,
};

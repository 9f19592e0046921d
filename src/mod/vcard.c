/* src/mod/vcard.c: XEP-0054 vcard-temp — each account's vCard, readable by
 * anyone, writable by its owner, kept as serialised XML in keyval "vcard". */
#include "mod/mod.h"
#include "xmpp/portable.h"

#define NS_VCARD "vcard-temp"
#define VCARD_STORE "vcard"

struct vcard_cfg {
	long long max_size;
};

extern const struct module mod_vcard;

static enum hook_ret
vcard_get(struct hook_ev *ev)
{
	struct xml_node *r = stanza_reply(ev), *v = NULL;
	char *doc = NULL;
	size_t len = 0;
	int rc;

	rc =
	    store_kv_get(ev->host->name, ev->to->node, VCARD_STORE, &doc, &len);
	if (rc < 0) {
		xml_node_free(r);
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		return HOOK_HANDLED;
	}
	if (rc == 0) {
		v = xml_parse_element(doc, len);
		if (v == NULL)
			log_warn("vcard: %s: stored vCard does not parse",
			    ev->to->bare);
		free(doc);
	}
	if (v != NULL && xml_node_is(v, NS_VCARD, "vCard")) {
		xml_node_copy_into(r, v);
	} else {
		xml_node_child(r, NS_VCARD, "vCard");
	}
	xml_node_free(v);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
vcard_set(struct hook_ev *ev)
{
	const struct vcard_cfg *vc = host_modcfg(ev->host, &mod_vcard);
	struct sbuf s;
	char text[96];
	int rc;

	/* only the account itself, from one of its own sessions */
	if (!ev->from->node || !jid_bare_eq(ev->from, ev->to)) {
		stanza_reply_error(ev, "cancel", "forbidden",
		    "only the owner of an account can change its vCard");
		return HOOK_HANDLED;
	}
	sbuf_init(&s);
	xml_serialize(ev->payload, "", &s);
	if ((long long)s.len > vc->max_size) {
		snprintf(text, sizeof(text),
		    "the vCard is larger than the %lld bytes allowed",
		    vc->max_size);
		stanza_reply_error(ev, "modify", "not-acceptable", text);
		goto out_free;
	}
	/* a vCard with no content clears it, as clients expect */
	if (xml_node_first_el(ev->payload) == NULL)
		rc = store_kv_del(ev->host->name, ev->to->node, VCARD_STORE);
	else
		rc = store_kv_set(
		    ev->host->name, ev->to->node, VCARD_STORE, s.data, s.len);
	if (rc < 0) {
		stanza_reply_store_error(ev, rc);
		goto out_free;
	}
	stanza_reply_result(ev);
	/* conversions (XEP-0398 avatars) follow the stored vCard */
	{
		struct hook_ev u = { .host = ev->host,
			.session = ev->session,
			.from = ev->from,
			.to = ev->to,
			.type = "",
			.user = ev->to->node,
			.data = ev->payload };

		hook_fire(ev->host->hooks, "vcard/updated", &u);
	}
out_free:
	sbuf_cleanup(&s);
	return HOOK_HANDLED;
}

/* ---- export and import (xmpp/portable.h, XEP-0227 §3.7) ---- */

static enum hook_ret
vcard_export(struct hook_ev *ev)
{
	struct acct_export *x = ev->data;
	struct xml_node *v;
	char *doc = NULL;
	size_t len = 0;

	if (store_kv_get(ev->host->name, ev->user, VCARD_STORE, &doc, &len) !=
	    0)
		return HOOK_CONTINUE;
	v = xml_parse_element(doc, len);
	free(doc);
	if (v != NULL && xml_node_is(v, NS_VCARD, "vCard"))
		xml_node_copy_into(x->user, v);
	xml_node_free(v);
	return HOOK_CONTINUE;
}

static enum hook_ret
vcard_import(struct hook_ev *ev)
{
	const struct vcard_cfg *vc = host_modcfg(ev->host, &mod_vcard);
	struct acct_import *imp = ev->data;
	struct xml_node *v = xml_node_find(imp->user, NS_VCARD, "vCard");
	struct sbuf s;
	int rc = 0;

	if (v == NULL)
		return HOOK_CONTINUE;
	sbuf_init(&s);
	xml_serialize(v, "", &s);
	if ((long long)s.len > vc->max_size)
		acct_import_fail(imp, v,
		    "vCard of %zu bytes, more than vcard.max_size (%lld)",
		    s.len, vc->max_size);
	else if (xml_node_first_el(v) != NULL)
		rc = store_kv_set(
		    ev->host->name, ev->user, VCARD_STORE, s.data, s.len);
	sbuf_cleanup(&s);
	if (rc < 0)
		acct_import_store_fail(imp, v, rc, "vCard");
	if (imp->failed)
		return HOOK_HANDLED;
	acct_import_take(imp, v);
	return HOOK_CONTINUE;
}

static const struct cfg_directive vcard_dirs[] = {
	{ .name = "max_size",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct vcard_cfg, max_size),
	    .def = "128k",
	    .min = 256,
	    .max = 16 * 1024 * 1024,
	    .doc = "Largest vCard (serialised XML, photo included) an account "
		   "may store; a larger one is refused with <not-acceptable/> "
		   "(type modify) and a text giving the limit." },
	{ .name = NULL },
};

static const struct cfg_section vcard_section = {
	.name = "vcard",
	.dirs = vcard_dirs,
	.size = sizeof(struct vcard_cfg),
	.doc = "Settings of the vcard module.",
};

static const struct hook_reg vcard_hooks[] = {
	{ "iq-get/bare/" NS_VCARD ":vCard", vcard_get, 0 },
	{ "iq-set/bare/" NS_VCARD ":vCard", vcard_set, 0 },
	{ "user/export", vcard_export, 0 }, { "user/import", vcard_import, 0 },
	HOOK_REG_END
};

const struct module mod_vcard = {
	.name = "vcard",
	.spec = "XEP-0054",
	.doc = "vcard-temp: each account's vCard, public to read, set by its "
	       "owner.",
	.features = (const char *const[]){ NS_VCARD, NULL },
	.hooks = vcard_hooks,
	.config = &vcard_section,
};

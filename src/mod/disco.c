/* src/mod/disco.c: XEP-0030 Service Discovery for the server and for
 * accounts, and the XEP-0115 caps element in stream features. What is
 * advertised comes from the modules enabled on the host. */
#include <openssl/evp.h>

#include "mod/mod.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define CAPS_NODE "https://tern.im"

struct strv {
	const char **v;
	size_t n;
};

static void
strv_add(struct strv *s, const char *x)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], x) == 0)
			return;
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = x;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Server (account == 0) or account features, sorted. */
static void
collect(const struct host *h, int account, struct strv *feat,
    struct disco_identity *ids, size_t *nids, size_t maxids)
{
	size_t i, j;

	strv_add(feat, NS_INFO);
	strv_add(feat, NS_ITEMS);
	*nids = 0;
	if (account) {
		ids[(*nids)++] = (struct disco_identity){ "account",
		    "registered", NULL };
	} else {
		ids[(*nids)++] = (struct disco_identity){ "server", "im",
		    "Tern" };
	}
	for (i = 0; i < h->nmods; i++) {
		const struct module *m = h->mods[i];
		const char *const *f = account ? m->account_features :
		    m->features;

		for (j = 0; f && f[j]; j++)
			strv_add(feat, f[j]);
		for (j = 0; !account && m->identities &&
		    m->identities[j].category && *nids < maxids; j++)
			ids[(*nids)++] = m->identities[j];
	}
	qsort(feat->v, feat->n, sizeof(*feat->v), cmp_str);
}

static void
fill_info(struct xml_node *q, const struct host *h, int account)
{
	struct disco_identity ids[16];
	struct strv feat = { 0 };
	size_t nids, i;

	collect(h, account, &feat, ids, &nids, 16);
	for (i = 0; i < nids; i++) {
		struct xml_node *id = xml_node_child(q, NULL, "identity");

		xml_node_set_attr(id, "category", ids[i].category);
		xml_node_set_attr(id, "type", ids[i].type);
		if (ids[i].name)
			xml_node_set_attr(id, "name", ids[i].name);
	}
	for (i = 0; i < feat.n; i++)
		xml_node_set_attr(xml_node_child(q, NULL, "feature"), "var",
		    feat.v[i]);
	free(feat.v);
}

static int
cmp_ident(const void *a, const void *b)
{
	const struct disco_identity *x = a, *y = b;
	int c = strcmp(x->category, y->category);

	return c ? c : strcmp(x->type, y->type);
}

/* XEP-0115 §5.1 verification string of the server's disco#info. */
static void
caps_ver(const struct host *h, char *out)
{
	struct disco_identity ids[16];
	struct strv feat = { 0 };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	struct sbuf s;
	size_t nids, i;

	collect(h, 0, &feat, ids, &nids, 16);
	qsort(ids, nids, sizeof(*ids), cmp_ident);
	sbuf_init(&s);
	for (i = 0; i < nids; i++)
		sbuf_printf(&s, "%s/%s//%s<", ids[i].category, ids[i].type,
		    ids[i].name ? ids[i].name : "");
	for (i = 0; i < feat.n; i++)
		sbuf_printf(&s, "%s<", feat.v[i]);
	EVP_Digest(s.data, s.len, md, &n, EVP_sha1(), NULL);
	b64_encode(md, n, out);
	sbuf_cleanup(&s);
	free(feat.v);
}

/* Let modules add to an answer (XEP-0128 forms such as XEP-0157). */
static void
extend(const struct hook_ev *ev, const char *event, struct xml_node *q)
{
	struct hook_ev x = *ev;

	x.data = q;
	hook_fire(ev->host->hooks, event, &x);
}

static enum hook_ret
info_host(struct hook_ev *ev)
{
	const char *node = xml_node_attr(ev->payload, "node");
	struct xml_node *r, *q;
	char ver[64], expect[128];

	if (node) {
		caps_ver(ev->host, ver);
		snprintf(expect, sizeof(expect), "%s#%s", CAPS_NODE, ver);
		if (strcmp(node, expect) != 0) {
			stanza_reply_error(ev, "cancel", "item-not-found",
			    NULL);
			return HOOK_HANDLED;
		}
	}
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_INFO, "query");
	if (node)
		xml_node_set_attr(q, "node", node);
	fill_info(q, ev->host, 0);
	extend(ev, "disco/info/host", q);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
items_host(struct hook_ev *ev)
{
	const struct cfg_component *v = config_running->components.items;
	struct xml_node *r, *q;
	size_t i;

	if (xml_node_attr(ev->payload, "node")) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_ITEMS, "query");
	for (i = 0; i < config_running->components.n; i++)
		xml_node_set_attr(xml_node_child(q, NULL, "item"), "jid",
		    v[i].name);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
info_account(struct hook_ev *ev)
{
	struct xml_node *r, *q;

	if (xml_node_attr(ev->payload, "node"))
		return HOOK_CONTINUE; /* nodes belong to others (PEP) */
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_INFO, "query");
	fill_info(q, ev->host, 1);
	extend(ev, "disco/info/account", q);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
items_account(struct hook_ev *ev)
{
	struct xml_node *r;

	if (xml_node_attr(ev->payload, "node"))
		return HOOK_CONTINUE;
	r = stanza_reply(ev);
	xml_node_child(r, NS_ITEMS, "query");
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
caps_feature(struct hook_ev *ev)
{
	struct xml_node *c = xml_node_child(ev->data, NS_CAPS, "c");
	char ver[64];

	caps_ver(ev->host, ver);
	xml_node_set_attr(c, "hash", "sha-1");
	xml_node_set_attr(c, "node", CAPS_NODE);
	xml_node_set_attr(c, "ver", ver);
	return HOOK_CONTINUE;
}

static const struct hook_reg disco_hooks[] = {
	{ "iq-get/host/" NS_INFO ":query", info_host, 0 },
	{ "iq-get/host/" NS_ITEMS ":query", items_host, 0 },
	/* account answers come last: PEP and others answer nodes first */
	{ "iq-get/bare/" NS_INFO ":query", info_account, -100 },
	{ "iq-get/bare/" NS_ITEMS ":query", items_account, -100 },
	{ "c2s/features/preauth", caps_feature, 0 },
	{ "c2s/features/postauth", caps_feature, 0 },
	HOOK_REG_END
};

const struct module mod_disco = {
	.name = "disco",
	.spec = "XEP-0030, XEP-0115",
	.doc = "Service discovery of the server and of accounts; "
	       "entity capabilities in stream features.",
	.hooks = disco_hooks,
};

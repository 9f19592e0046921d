/* src/mod/disco.c: XEP-0030 Service Discovery for the server and for
 * accounts, and the XEP-0115 caps element in stream features. What is
 * advertised comes from the modules enabled on the host. */
#include "mod/caps.h"
#include "mod/mod.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"
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
		ids[(*nids)++] =
		    (struct disco_identity){ "account", "registered", NULL };
	} else {
		ids[(*nids)++] =
		    (struct disco_identity){ "server", "im", "Tern" };
	}
	for (i = 0; i < h->nmods; i++) {
		const struct module *m = h->mods[i];
		const char *const *f =
		    account ? m->account_features : m->features;

		for (j = 0; f && f[j]; j++)
			strv_add(feat, f[j]);
		for (j = 0; !account && m->identities &&
			    m->identities[j].category && *nids < maxids;
		     j++)
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
		xml_node_set_attr(
		    xml_node_child(q, NULL, "feature"), "var", feat.v[i]);
	free(feat.v);
}

/* The verification strings computed, one per host: what they hash
 * changes only when the host's modules or settings do, and its init and
 * cleanup (at start, reload and unload) forget it. Every stream header
 * sends it in the features, so it is not recomputed per login. */
struct ver_cache {
	const struct host *h;
	char ver[CAPS_VER_MAX];
};

static struct ver_cache *vers;
static size_t nvers;

static void
ver_forget(const struct host *h)
{
	size_t i;

	for (i = 0; i < nvers; i++)
		if (vers[i].h == h) {
			vers[i] = vers[--nvers];
			break;
		}
	if (nvers == 0) {
		free(vers);
		vers = NULL;
	}
}

static int
disco_init(struct host *h)
{
	ver_forget(h);
	return 0;
}

static void
disco_cleanup(struct host *h)
{
	ver_forget(h);
}

static void server_ver_compute(struct host *h, char *out);

/* XEP-0115 §5.1: the verification string of the server's disco#info
 * into out (CAPS_VER_MAX bytes). */
static void
server_ver(struct host *h, char *out)
{
	size_t i;

	for (i = 0; i < nvers; i++)
		if (vers[i].h == h) {
			memcpy(out, vers[i].ver, CAPS_VER_MAX);
			return;
		}
	server_ver_compute(h, out);
	vers = xrealloc(vers, (nvers + 1) * sizeof(*vers));
	vers[nvers].h = h;
	memcpy(vers[nvers].ver, out, CAPS_VER_MAX);
	nvers++;
}

/* Hashing what info_host answers: the modules' identities and
 * features, and the forms they add (XEP-0128) to a query of the
 * server's own. */
static void
server_ver_compute(struct host *h, char *out)
{
	struct xml_node *iq = xml_node_new(XML_NS_CLIENT, "iq");
	struct xml_node *q = xml_node_child(iq, NS_INFO, "query");
	struct xml_node *res = xml_node_new(NS_INFO, "query");
	struct hook_ev ev = { 0 };
	struct jid hj;

	fill_info(res, h, 0);
	if (jid_parse_str(&hj, h->name) == 0) {
		xml_node_set_attr(iq, "type", "get");
		xml_node_set_attr(iq, "from", h->name);
		xml_node_set_attr(iq, "to", h->name);
		ev.host = h;
		ev.stanza = iq;
		ev.payload = q;
		ev.from = &hj;
		ev.to = &hj;
		ev.type = "get";
		ev.kind = STANZA_IQ;
		ev.stype = STANZA_TYPE_GET;
		ev.data = res;
		hook_fire(h->hooks, "disco/info/host", &ev);
		jid_cleanup(&hj);
	}
	caps_ver(res, out); /* ill-formed or not: it is what we answer */
	xml_node_free(res);
	xml_node_free(iq);
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
	char ver[CAPS_VER_MAX], expect[CAPS_VER_MAX + 64];

	if (node) {
		server_ver(ev->host, ver);
		snprintf(expect, sizeof(expect), "%s#%s", CAPS_NODE, ver);
		if (strcmp(node, expect) != 0) {
			stanza_reply_error(
			    ev, "cancel", "item-not-found", NULL);
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
	/* XEP-0030 §4: the host's services (group chat, upload...), then
	 * the components */
	for (i = 0; i < ev->host->nservices; i++)
		xml_node_set_attr(xml_node_child(q, NULL, "item"), "jid",
		    ev->host->services[i].domain);
	for (i = 0; i < config_running->components.n; i++)
		xml_node_set_attr(
		    xml_node_child(q, NULL, "item"), "jid", v[i].name);
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
	char ver[CAPS_VER_MAX];

	server_ver(ev->host, ver);
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
	{ "c2s/features/postauth", caps_feature, 0 }, HOOK_REG_END
};

const struct module mod_disco = {
	.name = "disco",
	.spec = "XEP-0030, XEP-0115",
	.doc = "Service discovery of the server and of accounts; "
	       "entity capabilities in stream features.",
	.hooks = disco_hooks,
	.init = disco_init,
	.cleanup = disco_cleanup,
};

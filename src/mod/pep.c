/* src/mod/pep.c: XEP-0163 Personal Eventing Protocol (the XEP-0060 subset
 * PEP needs, publish-options, XEP-0115 +notify filtering, XEP-0222/0223).
 *
 * Storage: map "pep_nodes" (user, key node) holds a node's configuration
 * as "key=value" lines; map "pep_items" (user, key node "\n" item id)
 * holds "SEQ\n" + the serialised payload, SEQ a publish sequence that
 * orders items; map "pep_subs:" NODE (user, key JID) holds the explicit
 * subscriptions to one node, so a publish reads only its own node's
 * subscribers; host-wide map "pep_subscriber:" BARE (key owner "\n" node
 * "\n" JID) indexes them by subscriber, for the per-subscriber cap,
 * <subscriptions/> and user/deleted; host-wide map "pep_caps" (key ver)
 * caches verified entity caps. Older versions kept all subscriptions in
 * one host-wide map "pep_subs" (key owner "\n" node "\n" JID): init moves
 * them. */
#include <openssl/evp.h>

#include "mod/mod.h"
#include "mod/pep.h"
#include "mod/roster.h"

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_OWNER NS_PUBSUB "#owner"
#define NS_EVENT NS_PUBSUB "#event"
#define NS_ERRORS NS_PUBSUB "#errors"
#define NS_XDATA "jabber:x:data"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NODE_CONFIG NS_PUBSUB "#node_config"
#define PUBLISH_OPTIONS NS_PUBSUB "#publish-options"
#define CAPS_MEM_MAX 1024 /* verified caps kept in memory */
#define PENDING_MAX 256	  /* disco#info queries awaiting an answer */
#define NODE_MAX 1024	  /* bytes of a node name */
#define ID_MAX 256	  /* bytes of an item id */

struct pep_cfg {
	long long max_items;
	long long max_payload;
	long long max_nodes;
	long long caps_store;
	long long max_subs;	 /* per subscriber bare JID, all resources */
	long long max_node_subs; /* per node */
};

extern const struct module mod_pep;

enum { ACC_PRESENCE, ACC_OPEN, ACC_ROSTER, ACC_WHITELIST };
static const char *const access_names[] = { "presence", "open", "roster",
	"whitelist", NULL };
enum { SL_NEVER, SL_ON_SUB, SL_ON_SUB_AND_PRESENCE };
static const char *const sendlast_names[] = { "never", "on_sub",
	"on_sub_and_presence", NULL };

struct node_conf {
	int access;
	int persist;
	long long max_items;
	int send_last;
	int notify_retract;
	char **groups;
	size_t ngroups, gcap;
};

/* Options a form set, for publish-options preconditions. */
enum {
	OPT_ACCESS = 1,
	OPT_PERSIST = 2,
	OPT_MAX = 4,
	OPT_SENDLAST = 8,
	OPT_RETRACT = 16,
	OPT_GROUPS = 32
};

enum perr {
	PE_OK,
	PE_NODEID,
	PE_PAYLOAD,
	PE_NOT_FOUND,
	PE_PRECOND,
	PE_TOO_BIG,
	PE_MAX_NODES,
	PE_OPTIONS,
	PE_MAX_ITEMS,
	PE_FORBIDDEN,
	PE_INTERNAL,
	PE_PRESENCE,
	PE_ROSTER,
	PE_CLOSED,
	PE_BAD,
	PE_JID,
	PE_CONFLICT,
	PE_UNSUPPORTED,
	PE_TOO_MANY,
	PE_QUOTA
};

static const struct {
	const char *type, *cond, *app;
} perr_tab[] = {
	[PE_OK] = { NULL, NULL, NULL },
	[PE_NODEID] = { "modify", "bad-request", "nodeid-required" },
	[PE_PAYLOAD] = { "modify", "bad-request", "payload-required" },
	[PE_NOT_FOUND] = { "cancel", "item-not-found", NULL },
	[PE_PRECOND] = { "cancel", "conflict", "precondition-not-met" },
	[PE_TOO_BIG] = { "modify", "not-acceptable", "payload-too-big" },
	[PE_MAX_NODES] = { "cancel", "policy-violation", "max-nodes-exceeded" },
	[PE_OPTIONS] = { "modify", "bad-request", "invalid-options" },
	[PE_MAX_ITEMS] = { "modify", "not-acceptable", "max-items-exceeded" },
	[PE_FORBIDDEN] = { "auth", "forbidden", NULL },
	[PE_INTERNAL] = { "wait", "internal-server-error", NULL },
	[PE_PRESENCE] = { "auth", "not-authorized",
	    "presence-subscription-required" },
	[PE_ROSTER] = { "auth", "not-authorized", "not-in-roster-group" },
	[PE_CLOSED] = { "cancel", "not-allowed", "closed-node" },
	[PE_BAD] = { "modify", "bad-request", NULL },
	[PE_JID] = { "modify", "bad-request", "invalid-jid" },
	[PE_CONFLICT] = { "cancel", "conflict", NULL },
	[PE_UNSUPPORTED] = { "cancel", "feature-not-implemented",
	    "unsupported" },
	/* XEP-0060 §6.1.3.9 */
	[PE_TOO_MANY] = { "wait", "policy-violation",
	    "too-many-subscriptions" },
	/* the account's storage quota (limits.account_storage) */
	[PE_QUOTA] = { "wait", "resource-constraint", NULL },
};

/* ---- in-memory state: caps, watchers, pending queries ---- */

struct caps {
	struct caps *next;
	char *ver;
	char **feat;
	size_t nfeat, fcap;
	unsigned refs; /* the table's and the watchers' */
};

/* A resource whose presence reached owner (a contact, or the owner's
 * own resource), with its caps ver: it gets notifications for the nodes
 * its caps say +notify for. */
struct watcher {
	struct watcher *next;
	struct host *host;
	char *owner; /* bare JID of the PEP account */
	char *full;
	char *ver;	 /* NULL: no (usable) caps */
	struct caps *cp; /* NULL while ver is not known yet */
	int fresh;	 /* last items still owed once the caps are known */
};

struct pending {
	struct pending *next;
	char id[32];
	struct host *host;
	char *ver;
};

#define CAPS_BUCKETS 256
#define WATCH_BUCKETS 1024
/* Both live as long as ternd: a reload keeps who watches what. */
static struct caps *caps_tab[CAPS_BUCKETS];
static size_t caps_n;
static struct watcher *wtab[WATCH_BUCKETS]; /* by owner */
static struct pending *pendings;
static size_t pending_n;
static long long last_seq;

/* The error for a storage write that failed with rc. */
static enum perr
store_perr(int rc)
{
	return rc == 0 ? PE_OK : rc == STORE_QUOTA ? PE_QUOTA : PE_INTERNAL;
}

static const struct pep_cfg *
cfg(const struct host *h)
{
	static const struct pep_cfg def = { 256, 192 * 1024, 100, 10000, 1000,
		2000 };
	const struct pep_cfg *c = host_modcfg(h, &mod_pep);

	return c ? c : &def;
}

/* ---- node configuration ---- */

static void
conf_default(const struct host *h, struct node_conf *c)
{
	UNUSED(h);
	memset(c, 0, sizeof(*c));
	c->access = ACC_PRESENCE;
	c->persist = 1;
	c->max_items = 1;
	c->send_last = SL_ON_SUB_AND_PRESENCE;
	c->notify_retract = 1;
}

static void
conf_cleanup(struct node_conf *c)
{
	size_t i;

	for (i = 0; i < c->ngroups; i++)
		free(c->groups[i]);
	free(c->groups);
	c->groups = NULL;
	c->ngroups = 0;
	c->gcap = 0;
}

static void
conf_add_group(struct node_conf *c, const char *g, size_t n)
{
	if (c->ngroups == c->gcap) {
		c->gcap = c->gcap ? c->gcap * 2 : 4;
		c->groups = xrealloc(c->groups, c->gcap * sizeof(char *));
	}
	c->groups[c->ngroups++] = xstrndup(g, n);
}

static int
name_index(const char *const *names, const char *v)
{
	int i;

	for (i = 0; names[i]; i++)
		if (strcmp(names[i], v) == 0)
			return i;
	return -1;
}

static char *
conf_serialize(const struct node_conf *c, size_t *len)
{
	struct sbuf b;
	size_t i;

	sbuf_init(&b);
	sbuf_printf(&b,
	    "access=%s\npersist=%d\nmax_items=%lld\n"
	    "send_last=%s\nnotify_retract=%d\n",
	    access_names[c->access], c->persist, c->max_items,
	    sendlast_names[c->send_last], c->notify_retract);
	for (i = 0; i < c->ngroups; i++)
		sbuf_printf(&b, "group=%s\n", c->groups[i]);
	return sbuf_steal(&b, len);
}

static void
conf_parse(const struct host *h, const char *s, size_t len, struct node_conf *c)
{
	const char *end = s + len;

	conf_default(h, c);
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eq;
		char val[256];
		size_t vl;

		if (nl == NULL)
			nl = end;
		eq = memchr(s, '=', (size_t)(nl - s));
		if (eq == NULL)
			goto next;
		vl = (size_t)(nl - eq - 1);
		if (strncmp(s, "group=", 6) == 0) {
			conf_add_group(c, eq + 1, vl);
			goto next;
		}
		if (vl >= sizeof(val))
			goto next;
		memcpy(val, eq + 1, vl);
		val[vl] = '\0';
		if (strncmp(s, "access=", 7) == 0 &&
		    name_index(access_names, val) >= 0)
			c->access = name_index(access_names, val);
		else if (strncmp(s, "persist=", 8) == 0)
			c->persist = atoi(val) != 0;
		else if (strncmp(s, "max_items=", 10) == 0)
			c->max_items = atoll(val);
		else if (strncmp(s, "send_last=", 10) == 0 &&
			 name_index(sendlast_names, val) >= 0)
			c->send_last = name_index(sendlast_names, val);
		else if (strncmp(s, "notify_retract=", 15) == 0)
			c->notify_retract = atoi(val) != 0;
	next:
		s = nl + 1;
	}
}

/* 0 found, 1 no such node, -1 error. */
static int
conf_load(const struct host *h, const char *user, const char *node,
    struct node_conf *c)
{
	char *v = NULL;
	size_t len = 0;
	int rc = store_map_get(h->name, user, "pep_nodes", node, &v, &len);

	if (rc != 0) {
		conf_default(h, c);
		return rc;
	}
	conf_parse(h, v, len, c);
	free(v);
	return 0;
}

static int
conf_save(const struct host *h, const char *user, const char *node,
    const struct node_conf *c)
{
	size_t len;
	char *v = conf_serialize(c, &len);
	int rc = store_map_set(h->name, user, "pep_nodes", node, v, len);

	free(v);
	return rc;
}

static int
parse_bool(const char *v, int *out)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) {
		*out = 1;
		return 0;
	}
	if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

/* Apply a data form (node_config or publish-options) to c; *set gets the
 * OPT_ bits of what it named. Fields we do not know are ignored. */
static enum perr
form_apply(const struct host *h, struct xml_node *x, struct node_conf *c,
    unsigned *set)
{
	struct xml_node *f;

	*set = 0;
	for (f = xml_node_first_el(x); f; f = xml_node_next_el(f)) {
		const char *var = xml_node_attr(f, "var");
		struct xml_node *vn = xml_node_find(f, NULL, "value");
		const char *v = vn ? xml_node_text_get(vn) : "";
		int b;

		if (!xml_node_is(f, NS_XDATA, "field") || var == NULL)
			continue;
		if (strcmp(var, "pubsub#access_model") == 0) {
			if (name_index(access_names, v) < 0)
				return PE_OPTIONS;
			c->access = name_index(access_names, v);
			*set |= OPT_ACCESS;
		} else if (strcmp(var, "pubsub#persist_items") == 0) {
			if (parse_bool(v, &b) != 0)
				return PE_OPTIONS;
			c->persist = b;
			*set |= OPT_PERSIST;
		} else if (strcmp(var, "pubsub#notify_retract") == 0) {
			if (parse_bool(v, &b) != 0)
				return PE_OPTIONS;
			c->notify_retract = b;
			*set |= OPT_RETRACT;
		} else if (strcmp(var, "pubsub#max_items") == 0) {
			char *end;
			long long n;

			if (strcmp(v, "max") == 0) {
				c->max_items = cfg(h)->max_items;
			} else {
				n = strtoll(v, &end, 10);
				if (*v == '\0' || *end != '\0' || n < 1)
					return PE_OPTIONS;
				if (n > cfg(h)->max_items)
					return PE_MAX_ITEMS;
				c->max_items = n;
			}
			*set |= OPT_MAX;
		} else if (strcmp(var, "pubsub#send_last_published_item") ==
			   0) {
			if (name_index(sendlast_names, v) < 0)
				return PE_OPTIONS;
			c->send_last = name_index(sendlast_names, v);
			*set |= OPT_SENDLAST;
		} else if (strcmp(var, "pubsub#roster_groups_allowed") == 0) {
			conf_cleanup(c);
			for (vn = xml_node_first_el(f); vn;
			     vn = xml_node_next_el(vn)) {
				const char *g = xml_node_text_get(vn);

				if (xml_node_is(vn, NS_XDATA, "value") && *g)
					conf_add_group(c, g, strlen(g));
			}
			*set |= OPT_GROUPS;
		}
	}
	return PE_OK;
}

/* The publish-options precondition (XEP-0060 §7.1.5): every option the
 * publisher named must hold for the existing node. */
static int
conf_matches(
    const struct node_conf *cur, const struct node_conf *want, unsigned set)
{
	size_t i, j;

	if ((set & OPT_ACCESS) && cur->access != want->access)
		return 0;
	if ((set & OPT_PERSIST) && cur->persist != want->persist)
		return 0;
	if ((set & OPT_MAX) && cur->max_items != want->max_items)
		return 0;
	if ((set & OPT_SENDLAST) && cur->send_last != want->send_last)
		return 0;
	if ((set & OPT_RETRACT) && cur->notify_retract != want->notify_retract)
		return 0;
	if (set & OPT_GROUPS) {
		if (cur->ngroups != want->ngroups)
			return 0;
		for (i = 0; i < want->ngroups; i++) {
			for (j = 0; j < cur->ngroups; j++)
				if (strcmp(cur->groups[j], want->groups[i]) ==
				    0)
					break;
			if (j == cur->ngroups)
				return 0;
		}
	}
	return 1;
}

static void
form_field(
    struct xml_node *x, const char *var, const char *type, const char *value)
{
	struct xml_node *f = xml_node_child(x, NULL, "field");

	xml_node_set_attr(f, "var", var);
	if (type)
		xml_node_set_attr(f, "type", type);
	if (value)
		xml_node_text(
		    xml_node_child(f, NULL, "value"), value, strlen(value));
}

static void
form_options(struct xml_node *f, const char *const *names)
{
	size_t i;

	for (i = 0; names[i]; i++) {
		struct xml_node *o = xml_node_child(f, NULL, "option");

		xml_node_text(xml_node_child(o, NULL, "value"), names[i],
		    strlen(names[i]));
	}
}

/* The node_config form for c (configure get, default get). */
static void
conf_form(struct xml_node *parent, const struct node_conf *c)
{
	struct xml_node *x = xml_node_child(parent, NS_XDATA, "x");
	struct xml_node *f;
	char num[32];
	size_t i;

	xml_node_set_attr(x, "type", "form");
	form_field(x, "FORM_TYPE", "hidden", NODE_CONFIG);
	form_field(
	    x, "pubsub#access_model", "list-single", access_names[c->access]);
	form_options(x->last_child, access_names);
	form_field(
	    x, "pubsub#persist_items", "boolean", c->persist ? "1" : "0");
	snprintf(num, sizeof(num), "%lld", c->max_items);
	form_field(x, "pubsub#max_items", "text-single", num);
	form_field(x, "pubsub#send_last_published_item", "list-single",
	    sendlast_names[c->send_last]);
	form_options(x->last_child, sendlast_names);
	form_field(x, "pubsub#notify_retract", "boolean",
	    c->notify_retract ? "1" : "0");
	form_field(x, "pubsub#roster_groups_allowed", "list-multi", NULL);
	f = x->last_child;
	for (i = 0; i < c->ngroups; i++)
		xml_node_text(xml_node_child(f, NULL, "value"), c->groups[i],
		    strlen(c->groups[i]));
}

/* ---- items ---- */

struct item {
	char *id;
	long long seq;
	char *xml;
	size_t len;
};

struct items {
	const char *node;
	size_t nodelen;
	struct item *v;
	size_t n, cap;
};

static int
items_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct items *it = ud;
	const char *nl = memchr(val, '\n', len);
	struct item *i;

	if (strncmp(key, it->node, it->nodelen) != 0 ||
	    key[it->nodelen] != '\n' || nl == NULL)
		return 0;
	if (it->n == it->cap) {
		it->cap = it->cap ? it->cap * 2 : 8;
		it->v = xrealloc(it->v, it->cap * sizeof(*it->v));
	}
	i = &it->v[it->n++];
	i->id = xstrdup(key + it->nodelen + 1);
	i->seq = atoll(val);
	i->len = len - (size_t)(nl + 1 - val);
	i->xml = xstrndup(nl + 1, i->len);
	return 0;
}

static int
item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
items_free(struct items *it)
{
	size_t i;

	for (i = 0; i < it->n; i++) {
		free(it->v[i].id);
		free(it->v[i].xml);
	}
	free(it->v);
	it->v = NULL;
	it->n = 0;
	it->cap = 0;
}

/* The node's items, oldest first. */
static char *item_key(const char *node, const char *id);

static int
items_load(
    const char *host, const char *user, const char *node, struct items *it)
{
	char *key;
	int rc;

	memset(it, 0, sizeof(*it));
	it->node = node;
	it->nodelen = strlen(node);
	/* only this node's rows: "node\n..." keys (an account may hold a
	 * quota's worth of other nodes' items) */
	key = item_key(node, "");
	rc = store_map_list_prefix(host, user, "pep_items", key, items_cb, it);
	free(key);
	if (rc < 0) {
		items_free(it);
		return -1;
	}
	if (it->n > 1)
		qsort(it->v, it->n, sizeof(*it->v), item_cmp);
	return 0;
}

static char *
item_key(const char *node, const char *id)
{
	size_t n = strlen(node), m = strlen(id);
	char *k = xmalloc(n + m + 2);

	memcpy(k, node, n);
	k[n] = '\n';
	memcpy(k + n + 1, id, m + 1);
	return k;
}

static void
items_del_node(const char *host, const char *user, const char *node)
{
	struct items it;
	size_t i;

	if (items_load(host, user, node, &it) != 0)
		return;
	for (i = 0; i < it.n; i++) {
		char *k = item_key(node, it.v[i].id);

		store_map_del(host, user, "pep_items", k);
		free(k);
	}
	items_free(&it);
}

/* ---- access ---- */

static int
in_groups(const char *host, const char *owner, const char *who,
    const struct node_conf *c)
{
	struct roster_item ri;
	size_t i, j;
	int ok = 0;

	if (roster_item_get(host, owner, who, &ri) == 0 && !ri.hidden)
		for (i = 0; i < ri.ngroups && !ok; i++)
			for (j = 0; j < c->ngroups; j++)
				if (strcmp(ri.groups[i], c->groups[j]) == 0)
					ok = 1;
	roster_item_cleanup(&ri);
	return ok;
}

/* May `who` (a bare JID) see owner's node with configuration c? */
static enum perr
access_check(const struct host *h, const char *owner, const char *who,
    const struct node_conf *c)
{
	int sub;
	char bare[JID_PART_MAX * 2 + 2];

	snprintf(bare, sizeof(bare), "%s@%s", owner, h->name);
	if (strcmp(bare, who) == 0)
		return PE_OK;
	switch (c->access) {
	case ACC_OPEN:
		return PE_OK;
	case ACC_PRESENCE:
		sub = roster_subscription(h->name, owner, who);
		return sub == ROSTER_SUB_FROM || sub == ROSTER_SUB_BOTH
			   ? PE_OK
			   : PE_PRESENCE;
	case ACC_ROSTER:
		return in_groups(h->name, owner, who, c) ? PE_OK : PE_ROSTER;
	default:
		return PE_CLOSED;
	}
}

/* ---- caps ---- */

static void
caps_free(struct caps *c)
{
	size_t i;

	for (i = 0; i < c->nfeat; i++)
		free(c->feat[i]);
	free(c->feat);
	free(c->ver);
	free(c);
}

static void
caps_unref(struct caps *c)
{
	if (c && --c->refs == 0)
		caps_free(c);
}

static unsigned
bucket(const char *s, unsigned n)
{
	return hash_bytes(HASH_INIT, s, strlen(s)) % n;
}

/* Into the table (which takes a reference); past CAPS_MEM_MAX another
 * entry goes (the tail of the first chain that has one besides c). */
static void
caps_remember(struct caps *c)
{
	unsigned b = bucket(c->ver, CAPS_BUCKETS), i;
	struct caps **pp;

	c->refs++;
	c->next = caps_tab[b];
	caps_tab[b] = c;
	if (++caps_n <= CAPS_MEM_MAX)
		return;
	for (i = 0; i < CAPS_BUCKETS; i++) {
		unsigned k = (b + i) % CAPS_BUCKETS;

		if (caps_tab[k] == NULL ||
		    (caps_tab[k] == c && c->next == NULL))
			continue;
		for (pp = &caps_tab[k]; (*pp)->next; pp = &(*pp)->next)
			;
		caps_unref(*pp);
		*pp = NULL;
		caps_n--;
		return;
	}
}

static struct caps *
caps_from_text(const char *ver, const char *v, size_t len)
{
	struct caps *c = xcalloc(1, sizeof(*c));
	const char *end = v + len;

	c->ver = xstrdup(ver);
	while (v < end) {
		const char *nl = memchr(v, '\n', (size_t)(end - v));

		if (nl == NULL)
			nl = end;
		if (nl > v) {
			if (c->nfeat == c->fcap) {
				c->fcap = c->fcap ? c->fcap * 2 : 16;
				c->feat =
				    xrealloc(c->feat, c->fcap * sizeof(char *));
			}
			c->feat[c->nfeat++] = xstrndup(v, (size_t)(nl - v));
		}
		v = nl + 1;
	}
	return c;
}

static struct caps *
caps_find(const struct host *h, const char *ver)
{
	struct caps *c;
	char *v = NULL;
	size_t len = 0;

	for (c = caps_tab[bucket(ver, CAPS_BUCKETS)]; c; c = c->next)
		if (strcmp(c->ver, ver) == 0)
			return c;
	if (store_map_get(h->name, "", "pep_caps", ver, &v, &len) != 0)
		return NULL;
	c = caps_from_text(ver, v, len);
	free(v);
	caps_remember(c);
	return c;
}

static int
caps_has(const struct caps *c, const char *node)
{
	size_t i, n = strlen(node);

	for (i = 0; i < c->nfeat; i++)
		if (strncmp(c->feat[i], node, n) == 0 &&
		    strcmp(c->feat[i] + n, "+notify") == 0)
			return 1;
	return 0;
}

static int
first_key_cb(void *ud, const char *key, const char *val, size_t len)
{
	UNUSED(val);
	UNUSED(len);
	*(char **)ud = xstrdup(key);
	return 1;
}

static void
caps_store(const struct host *h, const struct caps *c)
{
	struct sbuf b;
	long count = 0;
	size_t i;

	/* bounded: when full, one old entry makes room */
	if (store_map_count(h->name, "", "pep_caps", &count) == 0 &&
	    count >= cfg(h)->caps_store) {
		char *k = NULL;

		store_map_list(h->name, "", "pep_caps", first_key_cb, &k);
		if (k)
			store_map_del(h->name, "", "pep_caps", k);
		free(k);
	}
	sbuf_init(&b);
	for (i = 0; i < c->nfeat; i++)
		sbuf_printf(&b, "%s\n", c->feat[i]);
	store_map_set(
	    h->name, "", "pep_caps", c->ver, b.data ? b.data : "", b.len);
	sbuf_cleanup(&b);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct strv {
	char **v;
	size_t n, cap;
};

/* Grows geometrically: a node's subscriber list can have thousands. */
static void
strv_add(struct strv *s, char *x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = xrealloc(s->v, s->cap * sizeof(char *));
	}
	s->v[s->n++] = x;
}

static void
strv_free(struct strv *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
	s->cap = 0;
}

/* Sort; 0 when no two are equal (XEP-0115 §5.4 rejects duplicates). */
static int
strv_sort_unique(struct strv *s)
{
	size_t i;

	if (s->n > 1)
		qsort(s->v, s->n, sizeof(char *), cmp_str);
	for (i = 1; i < s->n; i++)
		if (strcmp(s->v[i - 1], s->v[i]) == 0)
			return -1;
	return 0;
}

static const char *
form_type(struct xml_node *x)
{
	struct xml_node *f, *v;

	for (f = xml_node_first_el(x); f; f = xml_node_next_el(f)) {
		const char *var = xml_node_attr(f, "var");

		if (var && strcmp(var, "FORM_TYPE") == 0) {
			v = xml_node_find(f, NULL, "value");
			return v ? xml_node_text_get(v) : NULL;
		}
	}
	return NULL;
}

/* One extended form's part of the verification string (§5.1 step 8). */
static int
form_string(struct xml_node *x, struct sbuf *out)
{
	struct strv fields = { 0 };
	struct xml_node *f, *v;
	size_t i;
	int rc = 0;

	for (f = xml_node_first_el(x); f; f = xml_node_next_el(f)) {
		const char *var = xml_node_attr(f, "var");
		struct strv vals = { 0 };
		struct sbuf b;

		if (!xml_node_is(f, NS_XDATA, "field") || var == NULL ||
		    strcmp(var, "FORM_TYPE") == 0)
			continue;
		for (v = xml_node_first_el(f); v; v = xml_node_next_el(v))
			if (xml_node_is(v, NS_XDATA, "value"))
				strv_add(&vals, xstrdup(xml_node_text_get(v)));
		if (vals.n > 1)
			qsort(vals.v, vals.n, sizeof(char *), cmp_str);
		sbuf_init(&b);
		sbuf_printf(&b, "%s<", var);
		for (i = 0; i < vals.n; i++)
			sbuf_printf(&b, "%s<", vals.v[i]);
		strv_free(&vals);
		strv_add(&fields, sbuf_steal(&b, NULL));
	}
	/* fields sort by var: the var comes first and ends with '<' */
	if (strv_sort_unique(&fields) != 0)
		rc = -1;
	for (i = 0; i < fields.n; i++)
		sbuf_puts(out, fields.v[i]);
	strv_free(&fields);
	return rc;
}

/* Check ver against the disco#info answer q (SHA-1, XEP-0115 §5.1 and
 * §5.4); on success return the features. */
static struct caps *
caps_verify(struct xml_node *q, const char *ver)
{
	struct strv ids = { 0 }, feats = { 0 }, forms = { 0 };
	struct xml_node *e;
	struct sbuf s;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char b64[64];
	struct caps *c = NULL;
	size_t i;
	int bad = 0;

	sbuf_init(&s);
	for (e = xml_node_first_el(q); e; e = xml_node_next_el(e)) {
		struct sbuf b;
		const char *lang, *nm;

		if (xml_node_is(e, NS_INFO, "identity")) {
			lang = xml_node_attr_ns(e, XML_NS_XML, "lang");
			nm = xml_node_attr(e, "name");
			sbuf_init(&b);
			sbuf_printf(&b, "%s/%s/%s/%s<",
			    xml_node_attr(e, "category")
				? xml_node_attr(e, "category")
				: "",
			    xml_node_attr(e, "type") ? xml_node_attr(e, "type")
						     : "",
			    lang ? lang : "", nm ? nm : "");
			strv_add(&ids, sbuf_steal(&b, NULL));
		} else if (xml_node_is(e, NS_INFO, "feature") &&
			   xml_node_attr(e, "var")) {
			strv_add(&feats, xstrdup(xml_node_attr(e, "var")));
		} else if (xml_node_is(e, NS_XDATA, "x")) {
			const char *ft = form_type(e);

			if (ft == NULL)
				continue; /* §5.4: forms without it ignored */
			sbuf_init(&b);
			sbuf_printf(&b, "%s<", ft);
			if (form_string(e, &b) != 0)
				bad = 1;
			strv_add(&forms, sbuf_steal(&b, NULL));
		}
	}
	if (bad || strv_sort_unique(&ids) != 0 ||
	    strv_sort_unique(&feats) != 0 || strv_sort_unique(&forms) != 0)
		goto out;
	for (i = 0; i < forms.n; i++) {
		/* two forms with one FORM_TYPE are invalid (§5.4 3.5) */
		const char *a = forms.v[i], *lt = strchr(a, '<');

		if (i + 1 < forms.n && lt &&
		    strncmp(a, forms.v[i + 1], (size_t)(lt - a + 1)) == 0)
			goto out;
	}
	for (i = 0; i < ids.n; i++)
		sbuf_puts(&s, ids.v[i]);
	for (i = 0; i < feats.n; i++)
		sbuf_printf(&s, "%s<", feats.v[i]);
	for (i = 0; i < forms.n; i++)
		sbuf_puts(&s, forms.v[i]);
	if (EVP_Digest(
		s.data ? s.data : "", s.len, md, &mdlen, EVP_sha1(), NULL) != 1)
		goto out;
	b64_encode(md, mdlen, b64);
	if (strcmp(b64, ver) != 0)
		goto out;
	c = xcalloc(1, sizeof(*c));
	c->ver = xstrdup(ver);
	c->feat = feats.v;
	c->nfeat = feats.n;
	c->fcap = feats.cap;
	feats.v = NULL;
	feats.n = 0;
	feats.cap = 0;
out:
	sbuf_cleanup(&s);
	strv_free(&ids);
	strv_free(&feats);
	strv_free(&forms);
	return c;
}

/* ---- notifications ---- */

static struct xml_node *
event_msg(const char *owner_bare, struct xml_node **items, const char *node)
{
	struct xml_node *m = xml_node_new(XML_NS_CLIENT, "message");
	struct xml_node *ev;

	xml_node_set_attr(m, "type", "headline");
	xml_node_set_attr(m, "from", owner_bare);
	ev = xml_node_child(m, NS_EVENT, "event");
	if (items) {
		*items = xml_node_child(ev, NULL, "items");
		xml_node_set_attr(*items, "node", node);
	}
	return m;
}

static void
send_to(struct xml_node *m, const char *to, const char *owner_bare)
{
	const char *slash = strchr(to, '/'), *at = strchr(to, '@');
	struct jid from;

	/* a local resource that just left: a headline to it would go to
	 * the other resources, which did not ask (RFC 6121 §8.5.3.2.1) */
	if (slash && at && at < slash &&
	    host_find_n(at + 1, (size_t)(slash - at - 1)) &&
	    session_find_full(to) == NULL)
		return;
	if (jid_parse_str(&from, owner_bare) != 0)
		return;
	xml_node_set_attr(m, "to", to);
	router_route(m, &from, NULL);
	jid_cleanup(&from);
}

static const char *
bare_of(const char *full, size_t *n)
{
	const char *slash = strchr(full, '/');

	*n = slash ? (size_t)(slash - full) : strlen(full);
	return full;
}

struct subs_ctx {
	const char *prefix;
	size_t plen;
	struct strv jids;
};

static int
subs_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct subs_ctx *sc = ud;

	UNUSED(val);
	UNUSED(len);
	if (strncmp(key, sc->prefix, sc->plen) == 0)
		strv_add(&sc->jids, xstrdup(key + sc->plen));
	return 0;
}

/* "pep_subs:" node: the map of one node's explicit subscribers. */
static char *
subs_store(const char *node)
{
	size_t n = strlen(node) + sizeof("pep_subs:");
	char *p = xmalloc(n);

	snprintf(p, n, "pep_subs:%s", node);
	return p;
}

/* "pep_subscriber:" bare: the host-wide index of one subscriber's
 * subscriptions, keyed owner "\n" node "\n" JID. */
static char *
subr_store(const char *jid)
{
	size_t bl, n;
	char *p;

	bare_of(jid, &bl);
	n = bl + sizeof("pep_subscriber:");
	p = xmalloc(n);
	snprintf(p, n, "pep_subscriber:%.*s", (int)bl, jid);
	return p;
}

static char *
sub_key(const char *user, const char *node, const char *jid)
{
	size_t n = strlen(user) + strlen(node) + strlen(jid) + 3;
	char *k = xmalloc(n);

	snprintf(k, n, "%s\n%s\n%s", user, node, jid);
	return k;
}

/* The explicit subscribers of owner's node: one node's map, however
 * many subscriptions other nodes have. */
static void
subs_load(
    const struct host *h, const char *user, const char *node, struct strv *out)
{
	struct subs_ctx sc = { "", 0, { 0 } };
	char *st = subs_store(node);

	store_map_list(h->name, user, st, subs_cb, &sc);
	free(st);
	*out = sc.jids;
}

/* Add (on) or remove one subscription on both sides. Returns 0, or the
 * store's error. */
static int
sub_write(const struct host *h, const char *user, const char *node,
    const char *jid, int on)
{
	char *st = subs_store(node), *rst = subr_store(jid);
	char *key = sub_key(user, node, jid);
	int rc;

	if (on) {
		rc = store_map_set(h->name, user, st, jid, "", 0);
		if (rc == 0)
			rc = store_map_set(h->name, "", rst, key, "", 0);
	} else {
		rc = store_map_del(h->name, user, st, jid);
		if (rc == 0)
			rc = store_map_del(h->name, "", rst, key);
	}
	free(key);
	free(rst);
	free(st);
	return rc;
}

/* Send m (an event about node) to everyone entitled: resources whose
 * caps say node+notify, and explicit subscribers. */
static void
notify(struct host *h, const char *user, const char *node,
    const struct node_conf *c, struct xml_node *m)
{
	char owner[JID_PART_MAX * 2 + 2];
	struct strv sent = { 0 }, subs = { 0 };
	struct watcher *w;
	size_t i, j;

	snprintf(owner, sizeof(owner), "%s@%s", user, h->name);
	for (w = wtab[bucket(owner, WATCH_BUCKETS)]; w; w = w->next) {
		char bare[JID_PART_MAX * 2 + 2];
		size_t bl;

		if (w->host != h || strcmp(w->owner, owner) != 0 ||
		    w->cp == NULL || !caps_has(w->cp, node))
			continue;
		bare_of(w->full, &bl);
		snprintf(bare, sizeof(bare), "%.*s", (int)bl, w->full);
		if (access_check(h, user, bare, c) != PE_OK)
			continue;
		send_to(m, w->full, owner);
		strv_add(&sent, xstrdup(w->full));
	}
	subs_load(h, user, node, &subs);
	for (i = 0; i < subs.n; i++) {
		size_t bl;
		char bare[JID_PART_MAX * 2 + 2];

		for (j = 0; j < sent.n; j++) {
			size_t sl;

			bare_of(sent.v[j], &sl);
			if (strcmp(sent.v[j], subs.v[i]) == 0 ||
			    (strchr(subs.v[i], '/') == NULL &&
				strlen(subs.v[i]) == sl &&
				strncmp(sent.v[j], subs.v[i], sl) == 0))
				break;
		}
		if (j < sent.n)
			continue;
		bare_of(subs.v[i], &bl);
		snprintf(bare, sizeof(bare), "%.*s", (int)bl, subs.v[i]);
		if (access_check(h, user, bare, c) == PE_OK)
			send_to(m, subs.v[i], owner);
	}
	strv_free(&subs);
	strv_free(&sent);
}

static void
item_into(struct xml_node *items, const struct item *it)
{
	struct xml_node *i = xml_node_child(items, NULL, "item");
	struct xml_node *p = xml_parse_element(it->xml, it->len);

	xml_node_set_attr(i, "id", it->id);
	if (p) {
		xml_node_copy_into(i, p);
		xml_node_free(p);
	}
}

/* The last item of owner's node to `to`, if there is one. */
static void
send_last_one(
    struct host *h, const char *user, const char *node, const char *to)
{
	char owner[JID_PART_MAX * 2 + 2];
	struct items it;
	struct xml_node *m, *items;

	if (items_load(h->name, user, node, &it) != 0)
		return;
	if (it.n > 0) {
		snprintf(owner, sizeof(owner), "%s@%s", user, h->name);
		m = event_msg(owner, &items, node);
		item_into(items, &it.v[it.n - 1]);
		send_to(m, to, owner);
		xml_node_free(m);
	}
	items_free(&it);
}

static void
node_names(const struct host *h, const char *user, struct strv *out)
{
	struct subs_ctx sc = { "", 0, { 0 } };

	store_map_list(h->name, user, "pep_nodes", subs_cb, &sc);
	if (sc.jids.n > 1)
		qsort(sc.jids.v, sc.jids.n, sizeof(char *), cmp_str);
	*out = sc.jids;
}

/* The last item of each node whose +notify the caps cp have, to a
 * resource that became available (or whose caps just arrived). */
static void
send_last_items(
    struct host *h, const char *user, const char *full, const struct caps *cp)
{
	struct strv nodes;
	char bare[JID_PART_MAX * 2 + 2];
	size_t i, bl;

	bare_of(full, &bl);
	snprintf(bare, sizeof(bare), "%.*s", (int)bl, full);
	node_names(h, user, &nodes);
	for (i = 0; i < nodes.n; i++) {
		struct node_conf c;
		int ok;

		if (!caps_has(cp, nodes.v[i]))
			continue;
		if (conf_load(h, user, nodes.v[i], &c) != 0)
			continue;
		ok = c.send_last == SL_ON_SUB_AND_PRESENCE &&
		     access_check(h, user, bare, &c) == PE_OK;
		conf_cleanup(&c);
		if (ok)
			send_last_one(h, user, nodes.v[i], full);
	}
	strv_free(&nodes);
}

/* ---- publish, retract ---- */

static long long
next_seq(void)
{
	long long s = (long long)now_unix() * 1000000LL;

	if (s <= last_seq)
		s = last_seq + 1;
	last_seq = s;
	return s;
}

static void
fire(struct host *h, const char *name, const char *user, const char *node,
    const char *id, const struct xml_node *payload, int by_server)
{
	struct pep_published p = { node, id, payload, by_server };
	struct hook_ev ev = { 0 };

	ev.host = h;
	ev.user = user;
	ev.data = &p;
	hook_fire(h->hooks, name, &ev);
}

/* Publish payload as item id (NULL: generated) on node; want/set are
 * the publish-options (set 0: none); new_id (ID_MAX + 1 bytes) gets
 * the id. */
static enum perr
publish(struct host *h, const char *user, const char *node, const char *id,
    const struct xml_node *payload, struct node_conf *want, unsigned set,
    int by_server, char *new_id)
{
	struct node_conf c;
	struct sbuf b, v;
	struct items it;
	struct xml_node *m, *items, *i;
	char owner[JID_PART_MAX * 2 + 2];
	char *key;
	size_t k;
	long count = 0;
	int rc;
	enum perr e = PE_OK;

	if (*node == '\0' || strlen(node) > NODE_MAX || strchr(node, '\n'))
		return PE_NODEID;
	if (id && (strlen(id) > ID_MAX || strchr(id, '\n')))
		return PE_BAD;
	sbuf_init(&b);
	xml_serialize(payload, XML_NS_CLIENT, &b);
	if ((long long)b.len > cfg(h)->max_payload) {
		e = PE_TOO_BIG;
		goto out_buf;
	}
	rc = conf_load(h, user, node, &c);
	if (rc < 0) {
		e = PE_INTERNAL;
		goto out_buf;
	}
	if (rc == 1) {
		if (store_map_count(h->name, user, "pep_nodes", &count) != 0 ||
		    count >= cfg(h)->max_nodes) {
			e = PE_MAX_NODES;
			goto out_conf;
		}
		if (set) {
			conf_cleanup(&c);
			c = *want;
			memset(want, 0, sizeof(*want));
		}
		rc = conf_save(h, user, node, &c);
		if (rc != 0) {
			e = store_perr(rc);
			goto out_conf;
		}
	} else if (set && !conf_matches(&c, want, set)) {
		e = PE_PRECOND;
		goto out_conf;
	}
	if (id && *id)
		snprintf(new_id, ID_MAX + 1, "%s", id);
	else
		rand_id(new_id, 17);
	key = item_key(node, id && *id ? id : new_id);
	sbuf_init(&v);
	sbuf_printf(&v, "%lld\n", next_seq());
	sbuf_append(&v, b.data, b.len);
	rc = store_map_set(h->name, user, "pep_items", key, v.data, v.len);
	sbuf_cleanup(&v);
	free(key);
	if (rc != 0) {
		e = store_perr(rc);
		goto out_conf;
	}
	/* keep max_items (only the last one when not persistent) */
	if (items_load(h->name, user, node, &it) == 0) {
		size_t keep = c.persist ? (size_t)c.max_items : 1;

		for (k = 0; it.n > keep && k < it.n - keep; k++) {
			key = item_key(node, it.v[k].id);
			store_map_del(h->name, user, "pep_items", key);
			free(key);
		}
		items_free(&it);
	}
	snprintf(owner, sizeof(owner), "%s@%s", user, h->name);
	m = event_msg(owner, &items, node);
	i = xml_node_child(items, NULL, "item");
	xml_node_set_attr(i, "id", id && *id ? id : new_id);
	xml_node_copy_into(i, payload);
	notify(h, user, node, &c, m);
	xml_node_free(m);
	fire(h, "pep/published", user, node, id && *id ? id : new_id, payload,
	    by_server);
out_conf:
	conf_cleanup(&c);
out_buf:
	sbuf_cleanup(&b);
	return e;
}

static enum perr
retract(struct host *h, const char *user, const char *node, const char *id,
    int force_notify)
{
	struct node_conf c;
	char owner[JID_PART_MAX * 2 + 2];
	char *key, *v = NULL;
	size_t len;
	int rc;

	rc = conf_load(h, user, node, &c);
	if (rc != 0)
		return rc < 0 ? PE_INTERNAL : PE_NOT_FOUND;
	key = item_key(node, id);
	rc = store_map_get(h->name, user, "pep_items", key, &v, &len);
	free(v);
	if (rc == 0)
		rc = store_map_del(h->name, user, "pep_items", key);
	free(key);
	if (rc != 0) {
		conf_cleanup(&c);
		return rc < 0 ? PE_INTERNAL : PE_NOT_FOUND;
	}
	if (force_notify || c.notify_retract) {
		struct xml_node *m, *items;

		snprintf(owner, sizeof(owner), "%s@%s", user, h->name);
		m = event_msg(owner, &items, node);
		xml_node_set_attr(
		    xml_node_child(items, NULL, "retract"), "id", id);
		notify(h, user, node, &c, m);
		xml_node_free(m);
	}
	conf_cleanup(&c);
	fire(h, "pep/retracted", user, node, id, NULL, 0);
	return PE_OK;
}

/* ---- the API of pep.h ---- */

int
pep_publish(struct host *h, const char *user, const char *node,
    const char *item_id, const struct xml_node *payload,
    const char *access_model)
{
	struct node_conf want;
	char id[ID_MAX + 1];
	enum perr e;
	unsigned set = 0;

	conf_default(h, &want);
	if (access_model) {
		if (name_index(access_names, access_model) < 0) {
			log_warn("pep publish node=%s: bad access model %s",
			    node, access_model);
			return -1;
		}
		want.access = name_index(access_names, access_model);
		set = OPT_ACCESS;
	}
	/* the access model only applies to a new node: an existing one
	 * keeps what its owner chose */
	if (set) {
		struct node_conf cur;

		if (conf_load(h, user, node, &cur) == 0)
			set = 0;
		conf_cleanup(&cur);
	}
	e = publish(h, user, node, item_id, payload, &want, set, 1, id);
	conf_cleanup(&want);
	if (e != PE_OK) {
		log_warn("pep publish user=%s node=%s failed: %s", user, node,
		    perr_tab[e].app ? perr_tab[e].app : perr_tab[e].cond);
		return -1;
	}
	return 0;
}

int
pep_get_item(const char *host, const char *user, const char *node,
    const char *item_id, struct xml_node **payload)
{
	struct items it;
	size_t i;
	int rc = 1;

	*payload = NULL;
	if (items_load(host, user, node, &it) != 0)
		return -1;
	for (i = it.n; i > 0; i--) {
		if (item_id && strcmp(it.v[i - 1].id, item_id) != 0)
			continue;
		*payload = xml_parse_element(it.v[i - 1].xml, it.v[i - 1].len);
		rc = *payload ? 0 : -1;
		break;
	}
	items_free(&it);
	return rc;
}

int
pep_retract(
    struct host *h, const char *user, const char *node, const char *item_id)
{
	enum perr e = retract(h, user, node, item_id, 0);

	return e == PE_OK ? 0 : e == PE_NOT_FOUND ? 1 : -1;
}

/* ---- iq handlers ---- */

static void
reply_error(struct hook_ev *ev, enum perr e, const char *feature)
{
	struct xml_node *r = stanza_reply(ev);
	struct xml_node *err, *app;

	xml_node_set_attr(r, "type", "error");
	err = stanza_error_add(r, perr_tab[e].type, perr_tab[e].cond, NULL);
	if (perr_tab[e].app) {
		app = xml_node_child(err, NS_ERRORS, perr_tab[e].app);
		if (feature)
			xml_node_set_attr(app, "feature", feature);
	}
	stanza_reply_send(ev, r);
}

static int
is_owner(const struct hook_ev *ev)
{
	return jid_bare_eq(ev->from, ev->to);
}

static struct xml_node *
options_form(struct xml_node *parent, const char *form_type_want)
{
	struct xml_node *x = xml_node_find(parent, NS_XDATA, "x");
	const char *ft;

	if (x == NULL)
		return NULL;
	ft = form_type(x);
	if (ft && strcmp(ft, form_type_want) != 0)
		return NULL;
	return x;
}

static enum hook_ret
do_publish(struct hook_ev *ev, struct xml_node *pub)
{
	const char *node = xml_node_attr(pub, "node");
	struct xml_node *item = xml_node_find(pub, NS_PUBSUB, "item");
	struct xml_node *payload = item ? xml_node_first_el(item) : NULL;
	struct xml_node *po, *x, *r, *p;
	struct node_conf want;
	unsigned set = 0;
	char id[ID_MAX + 1];
	enum perr e;

	if (!is_owner(ev)) {
		reply_error(ev, PE_FORBIDDEN, NULL);
		return HOOK_HANDLED;
	}
	if (node == NULL) {
		reply_error(ev, PE_NODEID, NULL);
		return HOOK_HANDLED;
	}
	if (payload == NULL || xml_node_next_el(payload)) {
		reply_error(ev, PE_PAYLOAD, NULL);
		return HOOK_HANDLED;
	}
	conf_default(ev->host, &want);
	po = xml_node_find(ev->payload, NS_PUBSUB, "publish-options");
	x = po ? options_form(po, PUBLISH_OPTIONS) : NULL;
	if (x) {
		e = form_apply(ev->host, x, &want, &set);
		if (e != PE_OK)
			goto out_err;
	}
	e = publish(ev->host, ev->to->node, node, xml_node_attr(item, "id"),
	    payload, &want, set, 0, id);
	if (e != PE_OK)
		goto out_err;
	conf_cleanup(&want);
	r = stanza_reply(ev);
	p = xml_node_child(
	    xml_node_child(r, NS_PUBSUB, "pubsub"), NULL, "publish");
	xml_node_set_attr(p, "node", node);
	xml_node_set_attr(xml_node_child(p, NULL, "item"), "id", id);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
out_err:
	conf_cleanup(&want);
	reply_error(ev, e, NULL);
	return HOOK_HANDLED;
}

static enum hook_ret
do_retract(struct hook_ev *ev, struct xml_node *rt)
{
	const char *node = xml_node_attr(rt, "node");
	const char *notify_attr = xml_node_attr(rt, "notify");
	struct xml_node *item = xml_node_find(rt, NS_PUBSUB, "item");
	const char *id = item ? xml_node_attr(item, "id") : NULL;
	enum perr e;

	if (!is_owner(ev))
		e = PE_FORBIDDEN;
	else if (node == NULL)
		e = PE_NODEID;
	else if (id == NULL)
		e = PE_BAD;
	else
		e = retract(ev->host, ev->to->node, node, id,
		    notify_attr && (strcmp(notify_attr, "true") == 0 ||
				       strcmp(notify_attr, "1") == 0));
	if (e != PE_OK)
		reply_error(ev, e, NULL);
	else
		stanza_reply_result(ev);
	return HOOK_HANDLED;
}

static enum hook_ret
do_create(struct hook_ev *ev, struct xml_node *cr)
{
	const char *node = xml_node_attr(cr, "node");
	struct xml_node *cf =
	    xml_node_find(ev->payload, NS_PUBSUB, "configure");
	struct xml_node *x = cf ? options_form(cf, NODE_CONFIG) : NULL;
	struct node_conf c, old;
	unsigned set;
	long count = 0;
	enum perr e = PE_OK;
	int rc;

	conf_default(ev->host, &c);
	if (!is_owner(ev)) {
		e = PE_FORBIDDEN;
		goto out;
	}
	if (node == NULL || *node == '\0' || strlen(node) > NODE_MAX ||
	    strchr(node, '\n')) {
		e = PE_NODEID; /* no instant nodes in PEP */
		goto out;
	}
	rc = conf_load(ev->host, ev->to->node, node, &old);
	conf_cleanup(&old);
	if (rc == 0) {
		e = PE_CONFLICT;
		goto out;
	}
	if (x) {
		e = form_apply(ev->host, x, &c, &set);
		if (e != PE_OK)
			goto out;
	}
	if (store_map_count(
		ev->host->name, ev->to->node, "pep_nodes", &count) != 0 ||
	    count >= cfg(ev->host)->max_nodes)
		e = PE_MAX_NODES;
	else
		e = store_perr(conf_save(ev->host, ev->to->node, node, &c));
out:
	conf_cleanup(&c);
	if (e != PE_OK)
		reply_error(ev, e, NULL);
	else
		stanza_reply_result(ev);
	return HOOK_HANDLED;
}

/* Room for one more subscription of jid to owner's node? XEP-0060
 * §6.1.3.9 leaves "too many" to local policy: per subscriber bare JID
 * (all its resources, all nodes of this host) and per node. */
static enum perr
sub_room(
    const struct host *h, const char *owner, const char *node, const char *jid)
{
	char *st = subs_store(node), *rst = subr_store(jid);
	long nnode = 0, nsub = 0;
	enum perr e = PE_OK;

	if (store_map_count(h->name, owner, st, &nnode) != 0 ||
	    store_map_count(h->name, "", rst, &nsub) != 0)
		e = PE_INTERNAL;
	else if (nnode >= cfg(h)->max_node_subs || nsub >= cfg(h)->max_subs)
		e = PE_TOO_MANY;
	if (e == PE_TOO_MANY)
		log_info("pep subscription refused jid=%s node=%s owner=%s@%s "
			 "node_subs=%ld jid_subs=%ld",
		    jid, node, owner, h->name, nnode, nsub);
	free(rst);
	free(st);
	return e;
}

static enum hook_ret
do_subscribe(struct hook_ev *ev, struct xml_node *sb, int on)
{
	const char *node = xml_node_attr(sb, "node");
	const char *jid = xml_node_attr(sb, "jid");
	struct node_conf c;
	struct jid j = { 0 };
	struct xml_node *r, *s;
	char *st, *v = NULL;
	enum perr e = PE_OK;
	int rc;

	if (node == NULL) {
		reply_error(ev, PE_NODEID, NULL);
		return HOOK_HANDLED;
	}
	if (jid == NULL || jid_parse_str(&j, jid) != 0 ||
	    !jid_bare_eq(&j, ev->from)) {
		jid_cleanup(&j);
		reply_error(ev, PE_JID, NULL);
		return HOOK_HANDLED;
	}
	rc = conf_load(ev->host, ev->to->node, node, &c);
	if (rc != 0)
		e = rc < 0 ? PE_INTERNAL : PE_NOT_FOUND;
	else if (on)
		e = access_check(ev->host, ev->to->node, ev->from->bare, &c);
	if (e != PE_OK)
		goto out;
	rc = 1;
	if (on) {
		/* subscribing again is not one more subscription */
		st = subs_store(node);
		rc = store_map_get(
		    ev->host->name, ev->to->node, st, j.full, &v, NULL);
		free(v);
		free(st);
		if (rc == 1)
			e = sub_room(ev->host, ev->to->node, node, j.full);
		else if (rc < 0)
			e = PE_INTERNAL;
		if (e != PE_OK)
			goto out;
	}
	if (rc == 1 || !on) {
		rc = sub_write(ev->host, ev->to->node, node, j.full, on);
		if (rc != 0) {
			e = store_perr(rc);
			goto out;
		}
	}
	r = stanza_reply(ev);
	if (on) {
		s = xml_node_child(xml_node_child(r, NS_PUBSUB, "pubsub"), NULL,
		    "subscription");
		xml_node_set_attr(s, "node", node);
		xml_node_set_attr(s, "jid", j.full);
		xml_node_set_attr(s, "subscription", "subscribed");
	}
	stanza_reply_send(ev, r);
	if (on && c.send_last != SL_NEVER)
		send_last_one(ev->host, ev->to->node, node, j.full);
out:
	conf_cleanup(&c);
	jid_cleanup(&j);
	if (e != PE_OK)
		reply_error(ev, e, NULL);
	return HOOK_HANDLED;
}

static enum hook_ret
get_items(struct hook_ev *ev, struct xml_node *req)
{
	const char *node = xml_node_attr(req, "node");
	const char *max = xml_node_attr(req, "max_items");
	struct node_conf c;
	struct items it;
	struct xml_node *r, *items, *want;
	size_t i, from = 0;
	enum perr e = PE_OK;
	int rc;

	if (node == NULL) {
		reply_error(ev, PE_NODEID, NULL);
		return HOOK_HANDLED;
	}
	rc = conf_load(ev->host, ev->to->node, node, &c);
	if (rc != 0)
		e = rc < 0 ? PE_INTERNAL : PE_NOT_FOUND;
	else
		e = access_check(ev->host, ev->to->node, ev->from->bare, &c);
	conf_cleanup(&c);
	if (e == PE_OK &&
	    items_load(ev->host->name, ev->to->node, node, &it) != 0)
		e = PE_INTERNAL;
	if (e != PE_OK) {
		reply_error(ev, e, NULL);
		return HOOK_HANDLED;
	}
	if (max && atoll(max) > 0 && (size_t)atoll(max) < it.n)
		from = it.n - (size_t)atoll(max); /* the newest */
	r = stanza_reply(ev);
	items = xml_node_child(
	    xml_node_child(r, NS_PUBSUB, "pubsub"), NULL, "items");
	xml_node_set_attr(items, "node", node);
	want = xml_node_find(req, NS_PUBSUB, "item");
	for (i = from; i < it.n; i++) {
		struct xml_node *w;

		if (want) {
			for (w = want; w; w = xml_node_next_el(w))
				if (xml_node_is(w, NS_PUBSUB, "item") &&
				    xml_node_attr(w, "id") &&
				    strcmp(xml_node_attr(w, "id"),
					it.v[i].id) == 0)
					break;
			if (w == NULL)
				continue;
		}
		item_into(items, &it.v[i]);
	}
	items_free(&it);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
get_subscriptions(struct hook_ev *ev, struct xml_node *req)
{
	const char *only = xml_node_attr(req, "node");
	struct subs_ctx sc = { 0 };
	struct xml_node *r, *subs;
	size_t i, n = strlen(ev->to->node) + 2;
	char *p = xmalloc(n), *rst = subr_store(ev->from->bare);

	/* the requester's own subscriptions (at most max_subscriptions),
	 * those on this owner's nodes */
	snprintf(p, n, "%s\n", ev->to->node);
	sc.prefix = p;
	sc.plen = strlen(p);
	store_map_list(ev->host->name, "", rst, subs_cb, &sc);
	free(rst);
	free(p);
	r = stanza_reply(ev);
	subs = xml_node_child(
	    xml_node_child(r, NS_PUBSUB, "pubsub"), NULL, "subscriptions");
	if (only)
		xml_node_set_attr(subs, "node", only);
	for (i = 0; i < sc.jids.n; i++) {
		/* "node\njid" */
		char *nl = strchr(sc.jids.v[i], '\n');
		struct jid j;
		struct xml_node *s;

		if (nl == NULL)
			continue;
		*nl = '\0';
		if (only && strcmp(only, sc.jids.v[i]) != 0)
			continue;
		if (jid_parse_str(&j, nl + 1) != 0)
			continue;
		if (jid_bare_eq(&j, ev->from)) {
			s = xml_node_child(subs, NULL, "subscription");
			xml_node_set_attr(s, "node", sc.jids.v[i]);
			xml_node_set_attr(s, "jid", j.full);
			xml_node_set_attr(s, "subscription", "subscribed");
		}
		jid_cleanup(&j);
	}
	strv_free(&sc.jids);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
ps_set(struct hook_ev *ev)
{
	struct xml_node *op = xml_node_first_el(ev->payload);

	if (ev->to->node == NULL || op == NULL)
		return HOOK_CONTINUE;
	if (strcmp(op->ns, NS_PUBSUB) != 0) {
		reply_error(ev, PE_BAD, NULL);
		return HOOK_HANDLED;
	}
	if (strcmp(op->name, "publish") == 0)
		return do_publish(ev, op);
	if (strcmp(op->name, "retract") == 0)
		return do_retract(ev, op);
	if (strcmp(op->name, "create") == 0)
		return do_create(ev, op);
	if (strcmp(op->name, "subscribe") == 0)
		return do_subscribe(ev, op, 1);
	if (strcmp(op->name, "unsubscribe") == 0)
		return do_subscribe(ev, op, 0);
	reply_error(ev, PE_UNSUPPORTED, op->name);
	return HOOK_HANDLED;
}

static enum hook_ret
ps_get(struct hook_ev *ev)
{
	struct xml_node *op = xml_node_first_el(ev->payload);

	if (ev->to->node == NULL || op == NULL)
		return HOOK_CONTINUE;
	if (xml_node_is(op, NS_PUBSUB, "items"))
		return get_items(ev, op);
	if (xml_node_is(op, NS_PUBSUB, "subscriptions"))
		return get_subscriptions(ev, op);
	reply_error(ev, PE_UNSUPPORTED, op->name);
	return HOOK_HANDLED;
}

/* Remove a node with its items and subscriptions. */
static void
node_remove(struct host *h, const char *user, const char *node)
{
	struct strv subs;
	size_t i;

	subs_load(h, user, node, &subs);
	for (i = 0; i < subs.n; i++)
		sub_write(h, user, node, subs.v[i], 0);
	strv_free(&subs);
	items_del_node(h->name, user, node);
	store_map_del(h->name, user, "pep_nodes", node);
}

static enum hook_ret
owner_iq(struct hook_ev *ev)
{
	struct xml_node *op = xml_node_first_el(ev->payload);
	const char *node = op ? xml_node_attr(op, "node") : NULL;
	const char *user = ev->to->node;
	int set = ev->stype == STANZA_TYPE_SET;
	struct node_conf c;
	struct xml_node *r, *x, *m;
	char owner[JID_PART_MAX * 2 + 2];
	enum perr e = PE_OK;
	unsigned bits;
	int rc;

	if (user == NULL || op == NULL)
		return HOOK_CONTINUE;
	if (!is_owner(ev)) {
		reply_error(ev, PE_FORBIDDEN, NULL);
		return HOOK_HANDLED;
	}
	if (!set && xml_node_is(op, NS_OWNER, "default")) {
		conf_default(ev->host, &c);
		r = stanza_reply(ev);
		conf_form(xml_node_child(xml_node_child(r, NS_OWNER, "pubsub"),
			      NULL, "default"),
		    &c);
		stanza_reply_send(ev, r);
		return HOOK_HANDLED;
	}
	if (!xml_node_is(op, NS_OWNER, "configure") &&
	    !(set && (xml_node_is(op, NS_OWNER, "purge") ||
			 xml_node_is(op, NS_OWNER, "delete")))) {
		reply_error(ev, PE_UNSUPPORTED, op->name);
		return HOOK_HANDLED;
	}
	if (node == NULL) {
		reply_error(ev, PE_NODEID, NULL);
		return HOOK_HANDLED;
	}
	rc = conf_load(ev->host, user, node, &c);
	if (rc != 0) {
		conf_cleanup(&c);
		reply_error(ev, rc < 0 ? PE_INTERNAL : PE_NOT_FOUND, NULL);
		return HOOK_HANDLED;
	}
	snprintf(owner, sizeof(owner), "%s@%s", user, ev->host->name);
	if (!set) {
		r = stanza_reply(ev);
		x = xml_node_child(
		    xml_node_child(r, NS_OWNER, "pubsub"), NULL, "configure");
		xml_node_set_attr(x, "node", node);
		conf_form(x, &c);
		stanza_reply_send(ev, r);
		goto out;
	}
	if (strcmp(op->name, "configure") == 0) {
		x = options_form(op, NODE_CONFIG);
		if (x && xml_node_attr(x, "type") &&
		    strcmp(xml_node_attr(x, "type"), "cancel") == 0)
			x = NULL;
		if (x)
			e = form_apply(ev->host, x, &c, &bits);
		if (e == PE_OK && x)
			e = store_perr(conf_save(ev->host, user, node, &c));
		if (e == PE_OK && x) {
			/* items beyond a lowered max_items go */
			struct items it;
			size_t k, keep = c.persist ? (size_t)c.max_items : 1;

			if (items_load(ev->host->name, user, node, &it) == 0) {
				for (k = 0; it.n > keep && k < it.n - keep;
				     k++) {
					char *key = item_key(node, it.v[k].id);

					store_map_del(ev->host->name, user,
					    "pep_items", key);
					free(key);
				}
				items_free(&it);
			}
		}
	} else if (strcmp(op->name, "purge") == 0) {
		items_del_node(ev->host->name, user, node);
		m = event_msg(owner, NULL, node);
		xml_node_set_attr(
		    xml_node_child(xml_node_first_el(m), NULL, "purge"), "node",
		    node);
		notify(ev->host, user, node, &c, m);
		xml_node_free(m);
	} else {
		m = event_msg(owner, NULL, node);
		xml_node_set_attr(
		    xml_node_child(xml_node_first_el(m), NULL, "delete"),
		    "node", node);
		notify(ev->host, user, node, &c, m);
		xml_node_free(m);
		node_remove(ev->host, user, node);
	}
	if (e != PE_OK)
		reply_error(ev, e, NULL);
	else
		stanza_reply_result(ev);
out:
	conf_cleanup(&c);
	return HOOK_HANDLED;
}

/* ---- disco on the account ---- */

static const char *const pep_features[] = { NS_PUBSUB, NS_PUBSUB "#access-open",
	NS_PUBSUB "#access-presence", NS_PUBSUB "#access-roster",
	NS_PUBSUB "#access-whitelist", NS_PUBSUB "#auto-create",
	NS_PUBSUB "#auto-subscribe", NS_PUBSUB "#config-node",
	NS_PUBSUB "#config-node-max", NS_PUBSUB "#create-and-configure",
	NS_PUBSUB "#create-nodes", NS_PUBSUB "#delete-items",
	NS_PUBSUB "#delete-nodes", NS_PUBSUB "#filtered-notifications",
	NS_PUBSUB "#item-ids", NS_PUBSUB "#last-published",
	NS_PUBSUB "#multi-items", NS_PUBSUB "#persistent-items",
	NS_PUBSUB "#presence-notifications", NS_PUBSUB "#publish",
	NS_PUBSUB "#publish-options", NS_PUBSUB "#purge-nodes",
	NS_PUBSUB "#retract-items", NS_PUBSUB "#retrieve-default",
	NS_PUBSUB "#retrieve-items", NS_PUBSUB "#retrieve-subscriptions",
	NS_PUBSUB "#subscribe", NULL };

static enum hook_ret
disco_account(struct hook_ev *ev)
{
	struct xml_node *q = ev->data;
	struct xml_node *id = xml_node_child(q, NS_INFO, "identity");

	xml_node_set_attr(id, "category", "pubsub");
	xml_node_set_attr(id, "type", "pep");
	return HOOK_CONTINUE;
}

/* disco#info to a node of the account (disco.c leaves those to us). */
static enum hook_ret
disco_node_info(struct hook_ev *ev)
{
	const char *node = xml_node_attr(ev->payload, "node");
	struct node_conf c;
	struct xml_node *r, *q, *id;
	enum perr e;
	int rc;

	if (node == NULL || ev->to->node == NULL)
		return HOOK_CONTINUE;
	rc = conf_load(ev->host, ev->to->node, node, &c);
	e = rc != 0 ? PE_NOT_FOUND
		    : access_check(ev->host, ev->to->node, ev->from->bare, &c);
	conf_cleanup(&c);
	if (e != PE_OK) {
		/* no telling strangers which nodes exist */
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_INFO, "query");
	xml_node_set_attr(q, "node", node);
	id = xml_node_child(q, NULL, "identity");
	xml_node_set_attr(id, "category", "pubsub");
	xml_node_set_attr(id, "type", "leaf");
	xml_node_set_attr(xml_node_child(q, NULL, "feature"), "var", NS_PUBSUB);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
disco_items(struct hook_ev *ev)
{
	const char *node = xml_node_attr(ev->payload, "node");
	const char *user = ev->to->node;
	struct xml_node *r, *q, *it;
	struct strv nodes = { 0 };
	struct node_conf c;
	size_t i;

	if (user == NULL)
		return HOOK_CONTINUE;
	if (node) {
		struct items items;
		enum perr e;
		int rc = conf_load(ev->host, user, node, &c);

		e = rc != 0 ? PE_NOT_FOUND
			    : access_check(ev->host, user, ev->from->bare, &c);
		conf_cleanup(&c);
		if (e == PE_OK &&
		    items_load(ev->host->name, user, node, &items) != 0)
			e = PE_INTERNAL;
		if (e != PE_OK) {
			stanza_reply_error(
			    ev, "cancel", "item-not-found", NULL);
			return HOOK_HANDLED;
		}
		r = stanza_reply(ev);
		q = xml_node_child(r, NS_ITEMS, "query");
		xml_node_set_attr(q, "node", node);
		for (i = 0; i < items.n; i++) {
			it = xml_node_child(q, NULL, "item");
			xml_node_set_attr(it, "jid", ev->to->bare);
			xml_node_set_attr(it, "name", items.v[i].id);
		}
		items_free(&items);
		stanza_reply_send(ev, r);
		return HOOK_HANDLED;
	}
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_ITEMS, "query");
	node_names(ev->host, user, &nodes);
	for (i = 0; i < nodes.n; i++) {
		int ok =
		    conf_load(ev->host, user, nodes.v[i], &c) == 0 &&
		    access_check(ev->host, user, ev->from->bare, &c) == PE_OK;

		conf_cleanup(&c);
		if (!ok)
			continue;
		it = xml_node_child(q, NULL, "item");
		xml_node_set_attr(it, "jid", ev->to->bare);
		xml_node_set_attr(it, "node", nodes.v[i]);
	}
	strv_free(&nodes);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* ---- presence and caps: who gets notifications ---- */

static struct watcher *
watcher_find(const struct host *h, const char *owner, const char *full)
{
	struct watcher *w;

	for (w = wtab[bucket(owner, WATCH_BUCKETS)]; w; w = w->next)
		if (w->host == h && strcmp(w->owner, owner) == 0 &&
		    strcmp(w->full, full) == 0)
			return w;
	return NULL;
}

static void
watcher_free(struct watcher *w)
{
	free(w->owner);
	free(w->full);
	free(w->ver);
	caps_unref(w->cp);
	free(w);
}

/* Remove the watchers matching (owner NULL: any owner; full NULL: any
 * resource; bare: any resource of that bare JID). */
static void
watchers_drop(
    const struct host *h, const char *owner, const char *full, const char *bare)
{
	unsigned b = owner ? bucket(owner, WATCH_BUCKETS) : 0;
	unsigned end = owner ? b + 1 : WATCH_BUCKETS;
	struct watcher **pp, *w;

	for (; b < end; b++) {
		pp = &wtab[b];
		while (*pp) {
			size_t bl;

			w = *pp;
			bare_of(w->full, &bl);
			if (w->host == h &&
			    (owner == NULL || strcmp(w->owner, owner) == 0) &&
			    (full == NULL || strcmp(w->full, full) == 0) &&
			    (bare == NULL ||
				(strlen(bare) == bl &&
				    strncmp(w->full, bare, bl) == 0))) {
				*pp = w->next;
				watcher_free(w);
				continue;
			}
			pp = &w->next;
		}
	}
}

static void
caps_query(struct host *h, const char *owner, const char *full,
    const char *node, const char *ver)
{
	struct pending *p, **pp;
	struct xml_node *iq, *q;
	struct jid from;
	char n[1100];

	for (p = pendings; p; p = p->next)
		if (p->host == h && strcmp(p->ver, ver) == 0)
			return; /* asked already: the answer serves all */
	if (pending_n >= PENDING_MAX) {
		/* the oldest query is lost (its peer may never answer) */
		for (pp = &pendings; (*pp)->next; pp = &(*pp)->next)
			;
		free((*pp)->ver);
		free(*pp);
		*pp = NULL;
		pending_n--;
	}
	if (jid_parse_str(&from, owner) != 0)
		return;
	p = xcalloc(1, sizeof(*p));
	memcpy(p->id, "pepcaps-", 8);
	rand_id(p->id + 8, 17);
	p->host = h;
	p->ver = xstrdup(ver);
	p->next = pendings;
	pendings = p;
	pending_n++;
	iq = xml_node_new(XML_NS_CLIENT, "iq");
	xml_node_set_attr(iq, "type", "get");
	xml_node_set_attr(iq, "id", p->id);
	xml_node_set_attr(iq, "from", owner);
	xml_node_set_attr(iq, "to", full);
	q = xml_node_child(iq, NS_INFO, "query");
	snprintf(n, sizeof(n), "%s#%s", node, ver);
	xml_node_set_attr(q, "node", n);
	router_route(iq, &from, NULL);
	xml_node_free(iq);
	jid_cleanup(&from);
}

/* A resource (full) of someone is available to owner with presence st:
 * note its caps; owe it the last items if it is new or changed caps. */
static void
watch(struct host *h, const char *owner, const char *full, struct xml_node *st)
{
	struct xml_node *c = xml_node_find(st, NS_CAPS, "c");
	const char *hash = c ? xml_node_attr(c, "hash") : NULL;
	const char *ver = c ? xml_node_attr(c, "ver") : NULL;
	const char *cnode = c ? xml_node_attr(c, "node") : NULL;
	struct watcher *w = watcher_find(h, owner, full);
	struct caps *cp;
	char user[JID_PART_MAX + 1];
	size_t ul = strcspn(owner, "@");

	/* only SHA-1 caps can be verified and cached (XEP-0115 §5.4) */
	if (hash == NULL || strcmp(hash, "sha-1") != 0 || ver == NULL ||
	    *ver == '\0' || strlen(ver) > 64 || cnode == NULL)
		ver = NULL;
	if (w && w->ver == NULL && ver == NULL)
		return; /* nothing new */
	if (w && w->ver && ver && strcmp(w->ver, ver) == 0) {
		/* same caps: only ask again if an earlier query failed */
		if (w->cp == NULL)
			caps_query(h, owner, full, cnode, ver);
		return;
	}
	if (w == NULL) {
		unsigned b = bucket(owner, WATCH_BUCKETS);

		w = xcalloc(1, sizeof(*w));
		w->host = h;
		w->owner = xstrdup(owner);
		w->full = xstrdup(full);
		w->next = wtab[b];
		wtab[b] = w;
	}
	free(w->ver);
	w->ver = ver ? xstrdup(ver) : NULL;
	caps_unref(w->cp);
	w->cp = NULL;
	w->fresh = 0;
	if (ver == NULL || ul > JID_PART_MAX)
		return;
	snprintf(user, sizeof(user), "%.*s", (int)ul, owner);
	cp = caps_find(h, ver);
	if (cp) {
		w->cp = cp;
		cp->refs++;
		send_last_items(h, user, full, cp);
		return;
	}
	w->fresh = 1;
	caps_query(h, owner, full, cnode, ver);
}

static void
presence_seen(
    struct host *h, const char *owner, const char *full, struct hook_ev *ev)
{
	if (ev->stype == STANZA_TYPE_NONE)
		watch(h, owner, full, ev->stanza);
	else if (ev->stype == STANZA_TYPE_UNAVAILABLE)
		watchers_drop(h, owner, full, NULL);
}

static enum hook_ret
pres_in(struct hook_ev *ev)
{
	if (ev->to->node && ev->from->resource)
		presence_seen(ev->host, ev->to->bare, ev->from->full, ev);
	return HOOK_CONTINUE;
}

static enum hook_ret
pres_self(struct hook_ev *ev)
{
	if (ev->session)
		presence_seen(
		    ev->host, ev->session->jid.bare, ev->session->jid.full, ev);
	return HOOK_CONTINUE;
}

static enum hook_ret
sess_closed(struct hook_ev *ev)
{
	/* contacts learn of it by the unavailable presence */
	if (ev->session)
		watchers_drop(ev->host, ev->session->jid.bare,
		    ev->session->jid.full, NULL);
	return HOOK_CONTINUE;
}

static struct pending *
pending_take(const struct hook_ev *ev)
{
	const char *id = xml_node_attr(ev->stanza, "id");
	struct pending **pp, *p;

	if (id == NULL || strncmp(id, "pepcaps-", 8) != 0)
		return NULL;
	for (pp = &pendings; *pp; pp = &(*pp)->next) {
		p = *pp;
		if (p->host == ev->host && strcmp(p->id, id) == 0) {
			*pp = p->next;
			pending_n--;
			return p;
		}
	}
	return NULL;
}

static enum hook_ret
caps_result(struct hook_ev *ev)
{
	struct pending *p = pending_take(ev);
	struct caps *cp;
	struct watcher *w;
	unsigned b;

	if (p == NULL)
		return HOOK_CONTINUE;
	cp = caps_verify(ev->payload, p->ver);
	if (cp == NULL) {
		log_info("pep caps from=%s ver=%s: hash mismatch, ignored",
		    ev->from->full, p->ver);
		goto out;
	}
	caps_store(ev->host, cp);
	caps_remember(cp);
	/* every resource that showed this ver meanwhile, for any owner */
	for (b = 0; b < WATCH_BUCKETS; b++) {
		for (w = wtab[b]; w; w = w->next) {
			char user[JID_PART_MAX + 1];
			size_t ul = strcspn(w->owner, "@");

			if (w->host != ev->host || w->cp || w->ver == NULL ||
			    strcmp(w->ver, p->ver) != 0 || ul > JID_PART_MAX)
				continue;
			w->cp = cp;
			cp->refs++;
			if (!w->fresh)
				continue;
			w->fresh = 0;
			snprintf(user, sizeof(user), "%.*s", (int)ul, w->owner);
			send_last_items(ev->host, user, w->full, cp);
		}
	}
out:
	free(p->ver);
	free(p);
	return HOOK_HANDLED;
}

static enum hook_ret
caps_error(struct hook_ev *ev)
{
	struct pending *p = pending_take(ev);

	if (p == NULL)
		return HOOK_CONTINUE;
	free(p->ver);
	free(p);
	return HOOK_HANDLED;
}

/* ---- account deletion ---- */

/* The JID's subscriptions (from its index) to user's nodes, or to all
 * owners' nodes when user is NULL, as "owner\nnode\nJID" keys. */
static void
subs_of(
    const struct host *h, const char *jid, const char *user, struct strv *out)
{
	size_t n = user ? strlen(user) + 2 : 1;
	char *p = xmalloc(n), *rst = subr_store(jid);
	struct subs_ctx sc = { 0 };

	snprintf(p, n, "%s%s", user ? user : "", user ? "\n" : "");
	sc.prefix = p;
	sc.plen = strlen(p);
	store_map_list(h->name, "", rst, subs_cb, &sc);
	free(rst);
	free(p);
	*out = sc.jids;
}

/* Remove one "owner\nnode\nJID" subscription on both sides. */
static void
sub_drop_key(const struct host *h, char *key)
{
	char *node = strchr(key, '\n'), *jid;

	if (node == NULL || (jid = strchr(node + 1, '\n')) == NULL)
		return;
	*node++ = '\0';
	*jid++ = '\0';
	sub_write(h, key, node, jid, 0);
}

static enum hook_ret
user_deleted(struct hook_ev *ev)
{
	char bare[JID_PART_MAX * 2 + 2];
	struct strv nodes, subs;
	size_t i, k;

	snprintf(bare, sizeof(bare), "%s@%s", ev->user, ev->host->name);
	/* subscriptions to the user's nodes: the subscribers' index
	 * entries go (the nodes' maps go with the account's rows) */
	node_names(ev->host, ev->user, &nodes);
	for (i = 0; i < nodes.n; i++) {
		subs_load(ev->host, ev->user, nodes.v[i], &subs);
		for (k = 0; k < subs.n; k++)
			sub_write(ev->host, ev->user, nodes.v[i], subs.v[k], 0);
		strv_free(&subs);
	}
	strv_free(&nodes);
	/* the user's subscriptions to other accounts' nodes */
	subs_of(ev->host, bare, NULL, &subs);
	for (i = 0; i < subs.n; i++)
		sub_drop_key(ev->host, subs.v[i]);
	strv_free(&subs);
	watchers_drop(ev->host, bare, NULL, NULL);
	watchers_drop(ev->host, NULL, NULL, bare);
	return HOOK_CONTINUE;
}

static int
pep_init(struct host *h)
{
	struct subs_ctx lc = { "", 0, { 0 } };
	size_t i, moved = 0;

	if (store_map_list(h->name, "", "pep_subs", subs_cb, &lc) < 0)
		return 0;
	for (i = 0; i < lc.jids.n; i++) {
		char *key = lc.jids.v[i];
		char *node = strchr(key, '\n'), *jid;

		if (node && (jid = strchr(node + 1, '\n')) != NULL) {
			*node++ = '\0';
			*jid++ = '\0';
			if (sub_write(h, key, node, jid, 1) == 0)
				moved++;
			node[-1] = '\n';
			jid[-1] = '\n';
		}
		store_map_del(h->name, "", "pep_subs", key);
	}
	if (lc.jids.n > 0)
		log_info("pep: moved %zu subscriptions of %s to per-node "
			 "storage",
		    moved, h->name);
	strv_free(&lc.jids);
	return 0;
}

/* Reload or shutdown: queries in flight are forgotten. Watchers and
 * caps stay (reachable from the tables): a reload must not lose who
 * watches what, and the process ends soon after a shutdown. */
static void
pep_cleanup(struct host *h)
{
	struct pending **pp = &pendings, *p;

	while (*pp) {
		p = *pp;
		if (p->host == h) {
			*pp = p->next;
			pending_n--;
			free(p->ver);
			free(p);
			continue;
		}
		pp = &p->next;
	}
}

static const struct cfg_directive pep_dirs[] = {
	{ .name = "max_items",
	    .type = CFG_INT,
	    .offset = offsetof(struct pep_cfg, max_items),
	    .def = "256",
	    .min = 1,
	    .max = 100000,
	    .doc = "Most items a node keeps (pubsub#max_items 'max')." },
	{ .name = "max_payload",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct pep_cfg, max_payload),
	    .def = "192k",
	    .min = 1024,
	    .max = 16 * 1024 * 1024,
	    .doc = "Largest item payload (avatar data needs ~100k; the "
		   "c2s stanza limit applies first)." },
	{ .name = "max_nodes",
	    .type = CFG_INT,
	    .offset = offsetof(struct pep_cfg, max_nodes),
	    .def = "100",
	    .min = 1,
	    .max = 100000,
	    .doc = "Most nodes one account may have." },
	{ .name = "caps_cache",
	    .type = CFG_INT,
	    .offset = offsetof(struct pep_cfg, caps_store),
	    .def = "10000",
	    .min = 10,
	    .max = 10000000,
	    .doc = "Entity capabilities (XEP-0115) remembered in storage." },
	{ .name = "max_subscriptions",
	    .type = CFG_INT,
	    .offset = offsetof(struct pep_cfg, max_subs),
	    .def = "1000",
	    .min = 1,
	    .max = 1000000,
	    .doc = "Most explicit subscriptions one bare JID (all its "
		   "resources) may hold on this host's PEP nodes; more get "
		   "policy-violation (XEP-0060 §6.1.3.9)." },
	{ .name = "max_node_subscriptions",
	    .type = CFG_INT,
	    .offset = offsetof(struct pep_cfg, max_node_subs),
	    .def = "2000",
	    .min = 1,
	    .max = 1000000,
	    .doc = "Most explicit subscriptions one node may have (a full "
		   "roster with two subscribed resources each)." },
	{ .name = NULL },
};

static const struct cfg_section pep_section = {
	.name = "pep",
	.dirs = pep_dirs,
	.size = sizeof(struct pep_cfg),
	.doc = "Settings of the pep module (XEP-0163).",
};

static const struct hook_reg pep_hooks[] = {
	{ "iq-set/bare/" NS_PUBSUB ":pubsub", ps_set, 0 },
	{ "iq-get/bare/" NS_PUBSUB ":pubsub", ps_get, 0 },
	{ "iq-set/bare/" NS_OWNER ":pubsub", owner_iq, 0 },
	{ "iq-get/bare/" NS_OWNER ":pubsub", owner_iq, 0 },
	{ "iq-get/bare/" NS_INFO ":query", disco_node_info, 10 },
	{ "iq-get/bare/" NS_ITEMS ":query", disco_items, 10 },
	{ "iq-result/bare/" NS_INFO ":query", caps_result, 10 },
	{ "iq-error/bare/" NS_INFO ":query", caps_error, 10 },
	{ "iq-error/bare/jabber:client:error", caps_error, 10 },
	{ "disco/info/account", disco_account, 0 },
	{ "presence/bare", pres_in, 10 }, { "presence/full", pres_in, 10 },
	{ "presence/self", pres_self, 10 },
	{ "session/closed", sess_closed, 0 },
	{ "user/deleted", user_deleted, 0 }, HOOK_REG_END
};

const struct module mod_pep = {
	.name = "pep",
	.spec = "XEP-0163",
	.doc = "Personal eventing (PEP): pubsub nodes on every account, "
	       "for OMEMO, avatars and bookmarks.",
	.account_features = pep_features,
	/* also on the domain, with the pep identity (as ejabberd and
	 * Prosody do): profanity looks there for publish-options and
	 * without it creates OMEMO bundles with presence access, which
	 * strangers cannot read */
	.features = pep_features,
	.identities =
	    (const struct disco_identity[]){
		{ "pubsub", "pep", NULL }, { NULL, NULL, NULL } },
	.hooks = pep_hooks,
	.config = &pep_section,
	.depends = (const char *const[]){ "roster", NULL },
	.init = pep_init,
	.cleanup = pep_cleanup,
};

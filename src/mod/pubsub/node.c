/* src/mod/pubsub/node.c: a pubsub node's configuration (XEP-0060 §16.4
 * pubsub#node_config): defaults, its storage form, the node_config and
 * publish-options data forms, the publish-options precondition, and the
 * error table of the engine. See pubsub.h. */
#include "mod/mod.h"
#include "mod/pubsub/pubsub.h"

#define NS_XDATA "jabber:x:data"

static const char *const access_names[] = { "presence", "open", "roster",
	"whitelist", NULL };
static const char *const sendlast_names[] = { "never", "on_sub",
	"on_sub_and_presence", NULL };

static const struct {
	const char *type, *cond, *app;
} err_tab[] = {
	[PUBSUB_OK] = { NULL, NULL, NULL },
	[PUBSUB_E_NODEID] = { "modify", "bad-request", "nodeid-required" },
	[PUBSUB_E_PAYLOAD] = { "modify", "bad-request", "payload-required" },
	[PUBSUB_E_NOT_FOUND] = { "cancel", "item-not-found", NULL },
	[PUBSUB_E_PRECOND] = { "cancel", "conflict", "precondition-not-met" },
	[PUBSUB_E_TOO_BIG] = { "modify", "not-acceptable", "payload-too-big" },
	[PUBSUB_E_MAX_NODES] = { "cancel", "policy-violation",
	    "max-nodes-exceeded" },
	[PUBSUB_E_OPTIONS] = { "modify", "bad-request", "invalid-options" },
	[PUBSUB_E_MAX_ITEMS] = { "modify", "not-acceptable",
	    "max-items-exceeded" },
	[PUBSUB_E_FORBIDDEN] = { "auth", "forbidden", NULL },
	[PUBSUB_E_INTERNAL] = { "wait", "internal-server-error", NULL },
	[PUBSUB_E_PRESENCE] = { "auth", "not-authorized",
	    "presence-subscription-required" },
	[PUBSUB_E_ROSTER] = { "auth", "not-authorized", "not-in-roster-group" },
	[PUBSUB_E_CLOSED] = { "cancel", "not-allowed", "closed-node" },
	[PUBSUB_E_BAD] = { "modify", "bad-request", NULL },
	[PUBSUB_E_JID] = { "modify", "bad-request", "invalid-jid" },
	[PUBSUB_E_CONFLICT] = { "cancel", "conflict", NULL },
	[PUBSUB_E_UNSUPPORTED] = { "cancel", "feature-not-implemented",
	    "unsupported" },
	/* XEP-0060 §6.1.3.9 */
	[PUBSUB_E_TOO_MANY] = { "wait", "policy-violation",
	    "too-many-subscriptions" },
	/* the account's storage quota (limits.account_storage) */
	[PUBSUB_E_QUOTA] = { "wait", "resource-constraint", NULL },
};

/* ---- errors ---- */

const char *
pubsub_err_name(enum pubsub_err e)
{
	return err_tab[e].app ? err_tab[e].app : err_tab[e].cond;
}

enum pubsub_err
pubsub_store_err(int rc)
{
	return rc == 0		   ? PUBSUB_OK
	       : rc == STORE_QUOTA ? PUBSUB_E_QUOTA
				   : PUBSUB_E_INTERNAL;
}

void
pubsub_reply_error(
    const struct hook_ev *ev, enum pubsub_err e, const char *feature)
{
	struct xml_node *r = stanza_reply(ev);
	struct xml_node *err, *app;

	xml_node_set_attr(r, "type", "error");
	err = stanza_error_add(r, err_tab[e].type, err_tab[e].cond, NULL);
	if (err_tab[e].app) {
		app = xml_node_child(err, NS_PUBSUB_ERRORS, err_tab[e].app);
		if (feature)
			xml_node_set_attr(app, "feature", feature);
	}
	stanza_reply_send(ev, r);
}

/* ---- the configuration ---- */

static int
name_index(const char *const *names, const char *v)
{
	int i;

	for (i = 0; names[i]; i++)
		if (strcmp(names[i], v) == 0)
			return i;
	return -1;
}

int
pubsub_access_parse(const char *name)
{
	return name_index(access_names, name);
}

char *
pubsub_map(const struct pubsub_service *s, const char *suffix)
{
	return xasprintf("%s%s", s->ops->ns, suffix);
}

void
pubsub_conf_default(const struct pubsub_service *s, struct pubsub_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->access = PUBSUB_ACCESS_PRESENCE;
	c->persist = 1;
	c->max_items = 1;
	c->send_last = PUBSUB_SEND_ON_SUB_AND_PRESENCE;
	c->notify_retract = 1;
	if (s->ops->conf_default)
		s->ops->conf_default(s, c);
}

void
pubsub_conf_cleanup(struct pubsub_conf *c)
{
	strlist_free(&c->groups);
}

static void
conf_add_group(struct pubsub_conf *c, const char *g, size_t n)
{
	strlist_add(&c->groups, xstrndup(g, n));
}

static char *
conf_serialize(const struct pubsub_conf *c, size_t *len)
{
	struct sbuf b;
	size_t i;

	sbuf_init(&b);
	sbuf_printf(&b,
	    "access=%s\npersist=%d\nmax_items=%lld\n"
	    "send_last=%s\nnotify_retract=%d\n",
	    access_names[c->access], c->persist, c->max_items,
	    sendlast_names[c->send_last], c->notify_retract);
	for (i = 0; i < c->groups.n; i++)
		sbuf_printf(&b, "group=%s\n", c->groups.v[i]);
	return sbuf_steal(&b, len);
}

static void
conf_parse(const char *s, size_t len, struct pubsub_conf *c)
{
	const char *end = s + len;
	int k;

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
		if (strncmp(s, "access=", 7) == 0) {
			k = name_index(access_names, val);
			if (k >= 0)
				c->access = (enum pubsub_access)k;
		} else if (strncmp(s, "persist=", 8) == 0) {
			c->persist = atoi(val) != 0;
		} else if (strncmp(s, "max_items=", 10) == 0) {
			c->max_items = atoll(val);
		} else if (strncmp(s, "send_last=", 10) == 0) {
			k = name_index(sendlast_names, val);
			if (k >= 0)
				c->send_last = (enum pubsub_send_last)k;
		} else if (strncmp(s, "notify_retract=", 15) == 0) {
			c->notify_retract = atoi(val) != 0;
		}
	next:
		s = nl + 1;
	}
}

int
pubsub_conf_load(
    const struct pubsub_service *s, const char *node, struct pubsub_conf *c)
{
	char *map = pubsub_map(s, "_nodes"), *v = NULL;
	size_t len = 0;
	int rc =
	    store_map_get(s->store_host, s->store_user, map, node, &v, &len);

	free(map);
	pubsub_conf_default(s, c);
	if (rc != 0)
		return rc;
	conf_parse(v, len, c);
	free(v);
	return 0;
}

int
pubsub_conf_save(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c)
{
	size_t len;
	char *v = conf_serialize(c, &len), *map = pubsub_map(s, "_nodes");
	int rc = store_map_set(s->store_host, s->store_user, map, node, v, len);

	free(map);
	free(v);
	return rc;
}

int
pubsub_key_cb(void *ud, const char *key, const char *val, size_t len)
{
	UNUSED(val);
	UNUSED(len);
	strlist_add(ud, xstrdup(key));
	return 0;
}

void
pubsub_node_names(const struct pubsub_service *s, struct strlist *out)
{
	char *map = pubsub_map(s, "_nodes");

	memset(out, 0, sizeof(*out));
	store_map_list(s->store_host, s->store_user, map, pubsub_key_cb, out);
	free(map);
	strlist_sort_unique(out);
}

enum pubsub_err
pubsub_node_access(
    const struct pubsub_service *s, const char *node, const char *who)
{
	struct pubsub_conf c;
	int rc = pubsub_conf_load(s, node, &c);
	enum pubsub_err e;

	if (rc != 0)
		e = rc < 0 ? PUBSUB_E_INTERNAL : PUBSUB_E_NOT_FOUND;
	else
		e = s->ops->access(s, who, &c);
	pubsub_conf_cleanup(&c);
	return e;
}

/* ---- data forms ---- */

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

static enum pubsub_err
max_items_apply(
    const struct pubsub_service *s, const char *v, struct pubsub_conf *c)
{
	char *end;
	long long n;

	if (strcmp(v, "max") == 0) {
		c->max_items = s->lim->max_items;
		return PUBSUB_OK;
	}
	n = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0' || n < 1)
		return PUBSUB_E_OPTIONS;
	if (n > s->lim->max_items)
		return PUBSUB_E_MAX_ITEMS;
	c->max_items = n;
	return PUBSUB_OK;
}

enum pubsub_err
pubsub_form_apply(const struct pubsub_service *s, const struct xml_node *x,
    struct pubsub_conf *c, unsigned *set)
{
	struct xml_node *f;
	enum pubsub_err e;

	*set = 0;
	for (f = xml_node_first_el(x); f; f = xml_node_next_el(f)) {
		const char *var = xml_node_attr(f, "var");
		struct xml_node *vn = xml_node_find(f, NULL, "value");
		const char *v = vn ? xml_node_text_get(vn) : "";
		int b;

		if (!xml_node_is(f, NS_XDATA, "field") || var == NULL)
			continue;
		if (strcmp(var, "pubsub#access_model") == 0) {
			b = name_index(access_names, v);
			if (b < 0)
				return PUBSUB_E_OPTIONS;
			c->access = (enum pubsub_access)b;
			*set |= PUBSUB_OPT_ACCESS;
		} else if (strcmp(var, "pubsub#persist_items") == 0) {
			if (parse_bool(v, &b) != 0)
				return PUBSUB_E_OPTIONS;
			c->persist = b;
			*set |= PUBSUB_OPT_PERSIST;
		} else if (strcmp(var, "pubsub#notify_retract") == 0) {
			if (parse_bool(v, &b) != 0)
				return PUBSUB_E_OPTIONS;
			c->notify_retract = b;
			*set |= PUBSUB_OPT_RETRACT;
		} else if (strcmp(var, "pubsub#max_items") == 0) {
			e = max_items_apply(s, v, c);
			if (e != PUBSUB_OK)
				return e;
			*set |= PUBSUB_OPT_MAX;
		} else if (strcmp(var, "pubsub#send_last_published_item") ==
			   0) {
			b = name_index(sendlast_names, v);
			if (b < 0)
				return PUBSUB_E_OPTIONS;
			c->send_last = (enum pubsub_send_last)b;
			*set |= PUBSUB_OPT_SENDLAST;
		} else if (strcmp(var, "pubsub#roster_groups_allowed") == 0) {
			pubsub_conf_cleanup(c);
			for (vn = xml_node_first_el(f); vn;
			     vn = xml_node_next_el(vn)) {
				const char *g = xml_node_text_get(vn);

				if (xml_node_is(vn, NS_XDATA, "value") && *g)
					conf_add_group(c, g, strlen(g));
			}
			*set |= PUBSUB_OPT_GROUPS;
		}
	}
	return PUBSUB_OK;
}

static int
groups_equal(const struct pubsub_conf *cur, const struct pubsub_conf *want)
{
	size_t i, j;

	if (cur->groups.n != want->groups.n)
		return 0;
	for (i = 0; i < want->groups.n; i++) {
		for (j = 0; j < cur->groups.n; j++)
			if (strcmp(cur->groups.v[j], want->groups.v[i]) == 0)
				break;
		if (j == cur->groups.n)
			return 0;
	}
	return 1;
}

int
pubsub_conf_matches(
    const struct pubsub_conf *cur, const struct pubsub_conf *want, unsigned set)
{
	if ((set & PUBSUB_OPT_ACCESS) && cur->access != want->access)
		return 0;
	if ((set & PUBSUB_OPT_PERSIST) && cur->persist != want->persist)
		return 0;
	if ((set & PUBSUB_OPT_MAX) && cur->max_items != want->max_items)
		return 0;
	if ((set & PUBSUB_OPT_SENDLAST) && cur->send_last != want->send_last)
		return 0;
	if ((set & PUBSUB_OPT_RETRACT) &&
	    cur->notify_retract != want->notify_retract)
		return 0;
	if ((set & PUBSUB_OPT_GROUPS) && !groups_equal(cur, want))
		return 0;
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

void
pubsub_conf_form(struct xml_node *parent, const struct pubsub_conf *c)
{
	struct xml_node *x = xml_node_child(parent, NS_XDATA, "x");
	struct xml_node *f;
	char num[32];
	size_t i;

	xml_node_set_attr(x, "type", "form");
	form_field(x, "FORM_TYPE", "hidden", PUBSUB_NODE_CONFIG);
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
	for (i = 0; i < c->groups.n; i++)
		xml_node_text(xml_node_child(f, NULL, "value"), c->groups.v[i],
		    strlen(c->groups.v[i]));
}

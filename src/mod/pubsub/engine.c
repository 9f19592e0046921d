/* src/mod/pubsub/engine.c: a pubsub service's items and subscriptions
 * in storage, the operations that change them (XEP-0060 §7, §8) and the
 * notifications they send. See pubsub.h for the service and the maps. */
#include "mod/mod.h"
#include "mod/pubsub/pubsub.h"

static long long last_seq;

/* ---- items ---- */

struct items_ctx {
	const char *node;
	size_t nodelen;
	struct pubsub_items *it;
};

static int
items_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct items_ctx *ic = ud;
	struct pubsub_items *it = ic->it;
	const char *nl = memchr(val, '\n', len);
	struct pubsub_item *i;

	if (strncmp(key, ic->node, ic->nodelen) != 0 ||
	    key[ic->nodelen] != '\n' || nl == NULL)
		return 0;
	if (it->n == it->cap) {
		it->cap = it->cap ? it->cap * 2 : 8;
		it->v = xrealloc(it->v, it->cap * sizeof(*it->v));
	}
	i = &it->v[it->n++];
	i->id = xstrdup(key + ic->nodelen + 1);
	i->seq = atoll(val);
	i->len = len - (size_t)(nl + 1 - val);
	i->xml = xstrndup(nl + 1, i->len);
	return 0;
}

static int
item_cmp(const void *a, const void *b)
{
	const struct pubsub_item *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
pubsub_items_free(struct pubsub_items *it)
{
	size_t i;

	for (i = 0; i < it->n; i++) {
		free(it->v[i].id);
		free(it->v[i].xml);
	}
	free(it->v);
	memset(it, 0, sizeof(*it));
}

static char *
item_key(const char *node, const char *id)
{
	return xasprintf("%s\n%s", node, id);
}

int
pubsub_items_load(
    const struct pubsub_service *s, const char *node, struct pubsub_items *it)
{
	struct items_ctx ic = { node, strlen(node), it };
	char *key, *map = pubsub_map(s, "_items");
	int rc;

	memset(it, 0, sizeof(*it));
	/* only this node's rows: "node\n..." keys (an account may hold a
	 * quota's worth of other nodes' items) */
	key = item_key(node, "");
	rc = store_map_list_prefix(
	    s->store_host, s->store_user, map, key, items_cb, &ic);
	free(key);
	free(map);
	if (rc < 0) {
		pubsub_items_free(it);
		return -1;
	}
	if (it->n > 1)
		qsort(it->v, it->n, sizeof(*it->v), item_cmp);
	return 0;
}

/* Delete the oldest n of it's items. */
static void
items_del(const struct pubsub_service *s, const char *node,
    const struct pubsub_items *it, size_t n)
{
	char *map = pubsub_map(s, "_items");
	size_t k;

	for (k = 0; k < n; k++) {
		char *key = item_key(node, it->v[k].id);

		store_map_del(s->store_host, s->store_user, map, key);
		free(key);
	}
	free(map);
}

void
pubsub_items_trim(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c)
{
	struct pubsub_items it = { 0 };
	size_t keep = c->persist ? (size_t)c->max_items : 1;

	if (pubsub_items_load(s, node, &it) != 0)
		return;
	if (it.n > keep)
		items_del(s, node, &it, it.n - keep);
	pubsub_items_free(&it);
}

void
pubsub_item_into(struct xml_node *items, const struct pubsub_item *it)
{
	struct xml_node *i = xml_node_child(items, NULL, "item");
	struct xml_node *p = xml_parse_element(it->xml, it->len);

	xml_node_set_attr(i, "id", it->id);
	if (p) {
		xml_node_copy_into(i, p);
		xml_node_free(p);
	}
}

/* ---- subscriptions ---- */

static const char *
bare_of(const char *full, size_t *n)
{
	const char *slash = strchr(full, '/');

	*n = slash ? (size_t)(slash - full) : strlen(full);
	return full;
}

/* The map of node's explicit subscribers. */
static char *
subs_map(const struct pubsub_service *s, const char *node)
{
	return xasprintf("%s_subs:%s", s->ops->ns, node);
}

/* The host-wide index of one subscriber's subscriptions (by bare JID),
 * keyed owner "\n" node "\n" JID. */
static char *
subr_map(const char *ns, const char *jid)
{
	size_t bl;

	bare_of(jid, &bl);
	return xasprintf("%s_subscriber:%.*s", ns, (int)bl, jid);
}

struct keys_ctx {
	const char *prefix;
	size_t plen;
	struct strlist *out;
};

/* The keys that start with prefix, without it. */
static int
keys_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct keys_ctx *kc = ud;

	UNUSED(val);
	UNUSED(len);
	if (strncmp(key, kc->prefix, kc->plen) == 0)
		strlist_add(kc->out, xstrdup(key + kc->plen));
	return 0;
}

static void
keys_load(const char *host, const char *user, const char *map,
    const char *prefix, struct strlist *out)
{
	struct keys_ctx kc = { prefix, strlen(prefix), out };

	memset(out, 0, sizeof(*out));
	store_map_list(host, user, map, keys_cb, &kc);
}

void
pubsub_subs_load(
    const struct pubsub_service *s, const char *node, struct strlist *out)
{
	char *map = subs_map(s, node);

	keys_load(s->store_host, s->store_user, map, "", out);
	free(map);
}

int
pubsub_sub_exists(
    const struct pubsub_service *s, const char *node, const char *jid)
{
	char *map = subs_map(s, node), *v = NULL;
	int rc =
	    store_map_get(s->store_host, s->store_user, map, jid, &v, NULL);

	free(v);
	free(map);
	return rc;
}

int
pubsub_sub_write(
    const struct pubsub_service *s, const char *node, const char *jid, int on)
{
	char *map = subs_map(s, node), *rmap = subr_map(s->ops->ns, jid);
	char *key = xasprintf("%s\n%s\n%s", s->store_user, node, jid);
	int rc;

	if (on) {
		rc = store_map_set(
		    s->store_host, s->store_user, map, jid, "", 0);
		if (rc == 0)
			rc = store_map_set(s->store_host, "", rmap, key, "", 0);
	} else {
		rc = store_map_del(s->store_host, s->store_user, map, jid);
		if (rc == 0)
			rc = store_map_del(s->store_host, "", rmap, key);
	}
	free(key);
	free(rmap);
	free(map);
	return rc;
}

enum pubsub_err
pubsub_sub_room(
    const struct pubsub_service *s, const char *node, const char *jid)
{
	char *map = subs_map(s, node), *rmap = subr_map(s->ops->ns, jid);
	long nnode = 0, nsub = 0;
	enum pubsub_err e = PUBSUB_OK;

	/* XEP-0060 §6.1.3.9 leaves "too many" to local policy: per
	 * subscriber bare JID (all its resources, all nodes here) and per
	 * node */
	if (store_map_count(s->store_host, s->store_user, map, &nnode) != 0 ||
	    store_map_count(s->store_host, "", rmap, &nsub) != 0)
		e = PUBSUB_E_INTERNAL;
	else if (nnode >= s->lim->max_node_subs || nsub >= s->lim->max_subs)
		e = PUBSUB_E_TOO_MANY;
	if (e == PUBSUB_E_TOO_MANY)
		log_info("%s subscription refused jid=%s node=%s owner=%s "
			 "node_subs=%ld jid_subs=%ld",
		    s->ops->ns, jid, node, s->jid, nnode, nsub);
	free(rmap);
	free(map);
	return e;
}

void
pubsub_subs_of(
    const struct pubsub_service *s, const char *jid, struct strlist *out)
{
	char *rmap = subr_map(s->ops->ns, jid);
	char *prefix = xasprintf("%s\n", s->store_user);

	keys_load(s->store_host, "", rmap, prefix, out);
	free(prefix);
	free(rmap);
}

void
pubsub_forget_owner(const struct pubsub_service *s)
{
	struct strlist nodes = { 0 }, subs = { 0 };
	size_t i, k;

	/* the subscribers' index entries go (the nodes' maps go with the
	 * owner's rows) */
	pubsub_node_names(s, &nodes);
	for (i = 0; i < nodes.n; i++) {
		pubsub_subs_load(s, nodes.v[i], &subs);
		for (k = 0; k < subs.n; k++)
			pubsub_sub_write(s, nodes.v[i], subs.v[k], 0);
		strlist_free(&subs);
	}
	strlist_free(&nodes);
}

void
pubsub_forget_subscriber(const struct pubsub_service *s, const char *bare)
{
	char *rmap = subr_map(s->ops->ns, bare);
	struct pubsub_service o = *s;
	struct strlist keys = { 0 };
	size_t i;

	keys_load(s->store_host, "", rmap, "", &keys);
	free(rmap);
	for (i = 0; i < keys.n; i++) {
		/* "owner\nnode\nJID" */
		char *owner = keys.v[i], *node = strchr(owner, '\n');
		char *jid = node ? strchr(node + 1, '\n') : NULL;

		if (jid == NULL)
			continue;
		*node++ = '\0';
		*jid++ = '\0';
		o.store_user = owner;
		pubsub_sub_write(&o, node, jid, 0);
	}
	strlist_free(&keys);
}

/* ---- notifications ---- */

struct xml_node *
pubsub_event_msg(
    const struct pubsub_service *s, const char *node, struct xml_node **items)
{
	struct xml_node *m = xml_node_new(XML_NS_CLIENT, "message");
	struct xml_node *ev;

	xml_node_set_attr(m, "type", "headline");
	xml_node_set_attr(m, "from", s->jid);
	ev = xml_node_child(m, NS_PUBSUB_EVENT, "event");
	if (items) {
		*items = xml_node_child(ev, NULL, "items");
		xml_node_set_attr(*items, "node", node);
	}
	return m;
}

void
pubsub_route(const struct pubsub_service *s, struct xml_node *m, const char *to)
{
	const char *slash = strchr(to, '/'), *at = strchr(to, '@');
	struct jid from;

	/* a local resource that just left: a headline to it would go to
	 * the other resources, which did not ask (RFC 6121 §8.5.3.2.1) */
	if (slash && at && at < slash &&
	    host_find_n(at + 1, (size_t)(slash - at - 1)) &&
	    session_find_full(to) == NULL)
		return;
	if (jid_parse_str(&from, s->jid) != 0)
		return;
	xml_node_set_attr(m, "to", to);
	router_route(m, &from, NULL);
	jid_cleanup(&from);
}

void
pubsub_send(const struct pubsub_service *s, struct xml_node *m, const char *to)
{
	if (s->ops->send) {
		xml_node_set_attr(m, "to", to);
		s->ops->send(s, m, to);
	} else {
		pubsub_route(s, m, to);
	}
}

/* Has a notification gone to jid already (to it, or to a resource of
 * it when jid is bare)? */
static int
sent_to(const struct strlist *sent, const char *jid)
{
	size_t j, sl;

	for (j = 0; j < sent->n; j++) {
		bare_of(sent->v[j], &sl);
		if (strcmp(sent->v[j], jid) == 0 ||
		    (strchr(jid, '/') == NULL && strlen(jid) == sl &&
			strncmp(sent->v[j], jid, sl) == 0))
			return 1;
	}
	return 0;
}

void
pubsub_notify(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c, struct xml_node *m)
{
	struct strlist sent = { 0 }, subs = { 0 };
	size_t i, bl;

	if (s->ops->notify_more)
		s->ops->notify_more(s, node, c, m, &sent);
	pubsub_subs_load(s, node, &subs);
	for (i = 0; i < subs.n; i++) {
		char *bare;

		if (sent_to(&sent, subs.v[i]))
			continue;
		bare_of(subs.v[i], &bl);
		bare = xstrndup(subs.v[i], bl);
		if (s->ops->access(s, bare, c) == PUBSUB_OK)
			pubsub_send(s, m, subs.v[i]);
		free(bare);
	}
	strlist_free(&subs);
	strlist_free(&sent);
}

void
pubsub_send_last(
    const struct pubsub_service *s, const char *node, const char *to)
{
	struct pubsub_items it = { 0 };
	struct xml_node *m, *items;

	if (pubsub_items_load(s, node, &it) != 0)
		return;
	if (it.n > 0) {
		m = pubsub_event_msg(s, node, &items);
		pubsub_item_into(items, &it.v[it.n - 1]);
		pubsub_send(s, m, to);
		xml_node_free(m);
	}
	pubsub_items_free(&it);
}

/* ---- publish, retract, create, purge, delete ---- */

static long long
next_seq(void)
{
	long long s = (long long)now_unix() * 1000000LL;

	if (s <= last_seq)
		s = last_seq + 1;
	last_seq = s;
	return s;
}

static int
node_name_ok(const char *node)
{
	return *node && strlen(node) <= PUBSUB_NODE_MAX &&
	       strchr(node, '\n') == NULL;
}

enum pubsub_err
pubsub_create(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c)
{
	char *map;
	long count = 0;
	int rc;

	if (!node_name_ok(node))
		return PUBSUB_E_NODEID;
	map = pubsub_map(s, "_nodes");
	rc = store_map_count(s->store_host, s->store_user, map, &count);
	free(map);
	if (rc != 0 || count >= s->lim->max_nodes)
		return PUBSUB_E_MAX_NODES;
	return pubsub_store_err(pubsub_conf_save(s, node, c));
}

/* Store payload (serialised in b) as item id of node. */
static enum pubsub_err
item_store(const struct pubsub_service *s, const char *node, const char *id,
    const struct sbuf *b)
{
	char *key = item_key(node, id), *map = pubsub_map(s, "_items");
	struct sbuf v;
	int rc;

	sbuf_init(&v);
	sbuf_printf(&v, "%lld\n", next_seq());
	sbuf_append(&v, b->data, b->len);
	rc = store_map_set(
	    s->store_host, s->store_user, map, key, v.data, v.len);
	sbuf_cleanup(&v);
	free(map);
	free(key);
	return pubsub_store_err(rc);
}

enum pubsub_err
pubsub_item_put(const struct pubsub_service *s, const char *node,
    const char *id, const struct xml_node *payload)
{
	enum pubsub_err e;
	struct sbuf b;

	if (!node_name_ok(node))
		return PUBSUB_E_NODEID;
	if (id == NULL || *id == '\0' || strlen(id) > PUBSUB_ID_MAX ||
	    strchr(id, '\n'))
		return PUBSUB_E_BAD;
	sbuf_init(&b);
	xml_serialize(payload, XML_NS_CLIENT, &b);
	e = (long long)b.len > s->lim->max_payload
		? PUBSUB_E_TOO_BIG
		: item_store(s, node, id, &b);
	sbuf_cleanup(&b);
	return e;
}

enum pubsub_err
pubsub_publish(const struct pubsub_service *s, const char *node, const char *id,
    const struct xml_node *payload, struct pubsub_conf *want, unsigned set,
    int by_server, char *new_id)
{
	struct pubsub_conf c;
	struct sbuf b;
	struct xml_node *m, *items, *i;
	int rc;
	enum pubsub_err e = PUBSUB_OK;

	if (!node_name_ok(node))
		return PUBSUB_E_NODEID;
	if (id && (strlen(id) > PUBSUB_ID_MAX || strchr(id, '\n')))
		return PUBSUB_E_BAD;
	sbuf_init(&b);
	xml_serialize(payload, XML_NS_CLIENT, &b);
	if ((long long)b.len > s->lim->max_payload) {
		e = PUBSUB_E_TOO_BIG;
		goto out_buf;
	}
	rc = pubsub_conf_load(s, node, &c);
	if (rc < 0) {
		e = PUBSUB_E_INTERNAL;
		goto out_conf;
	}
	if (rc == 1) {
		if (set) {
			/* a new node takes the publish-options */
			pubsub_conf_cleanup(&c);
			c = *want;
			memset(want, 0, sizeof(*want));
		}
		e = pubsub_create(s, node, &c);
	} else if (set && !pubsub_conf_matches(&c, want, set)) {
		e = PUBSUB_E_PRECOND;
	}
	if (e != PUBSUB_OK)
		goto out_conf;
	if (id && *id)
		snprintf(new_id, PUBSUB_ID_MAX + 1, "%s", id);
	else
		rand_id(new_id, 17);
	e = item_store(s, node, new_id, &b);
	if (e != PUBSUB_OK)
		goto out_conf;
	pubsub_items_trim(s, node, &c);
	m = pubsub_event_msg(s, node, &items);
	i = xml_node_child(items, NULL, "item");
	xml_node_set_attr(i, "id", new_id);
	xml_node_copy_into(i, payload);
	pubsub_notify(s, node, &c, m);
	xml_node_free(m);
	if (s->ops->changed)
		s->ops->changed(s, node, new_id, payload, by_server);
out_conf:
	pubsub_conf_cleanup(&c);
out_buf:
	sbuf_cleanup(&b);
	return e;
}

enum pubsub_err
pubsub_retract(const struct pubsub_service *s, const char *node, const char *id,
    int force_notify)
{
	struct pubsub_conf c;
	char *key, *map, *v = NULL;
	size_t len;
	int rc;

	rc = pubsub_conf_load(s, node, &c);
	if (rc != 0) {
		pubsub_conf_cleanup(&c);
		return rc < 0 ? PUBSUB_E_INTERNAL : PUBSUB_E_NOT_FOUND;
	}
	key = item_key(node, id);
	map = pubsub_map(s, "_items");
	rc = store_map_get(s->store_host, s->store_user, map, key, &v, &len);
	free(v);
	if (rc == 0)
		rc = store_map_del(s->store_host, s->store_user, map, key);
	free(map);
	free(key);
	if (rc != 0) {
		pubsub_conf_cleanup(&c);
		return rc < 0 ? PUBSUB_E_INTERNAL : PUBSUB_E_NOT_FOUND;
	}
	if (force_notify || c.notify_retract) {
		struct xml_node *m, *items;

		m = pubsub_event_msg(s, node, &items);
		xml_node_set_attr(
		    xml_node_child(items, NULL, "retract"), "id", id);
		pubsub_notify(s, node, &c, m);
		xml_node_free(m);
	}
	pubsub_conf_cleanup(&c);
	if (s->ops->changed)
		s->ops->changed(s, node, id, NULL, 0);
	return PUBSUB_OK;
}

/* <purge node=…/> or <delete node=…/> to whoever c allows. */
static void
notify_node(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c, const char *what)
{
	struct xml_node *m = pubsub_event_msg(s, node, NULL);

	xml_node_set_attr(
	    xml_node_child(xml_node_first_el(m), NULL, what), "node", node);
	pubsub_notify(s, node, c, m);
	xml_node_free(m);
}

static void
items_del_node(const struct pubsub_service *s, const char *node)
{
	struct pubsub_items it = { 0 };

	if (pubsub_items_load(s, node, &it) != 0)
		return;
	items_del(s, node, &it, it.n);
	pubsub_items_free(&it);
}

void
pubsub_purge(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c)
{
	items_del_node(s, node);
	notify_node(s, node, c, "purge");
}

void
pubsub_delete(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c)
{
	struct strlist subs = { 0 };
	char *map = pubsub_map(s, "_nodes");
	size_t i;

	notify_node(s, node, c, "delete");
	pubsub_subs_load(s, node, &subs);
	for (i = 0; i < subs.n; i++)
		pubsub_sub_write(s, node, subs.v[i], 0);
	strlist_free(&subs);
	items_del_node(s, node);
	store_map_del(s->store_host, s->store_user, map, node);
	free(map);
}

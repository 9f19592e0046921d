/* src/mod/pep.c: XEP-0163 Personal Eventing Protocol: the binding of the
 * pubsub engine (src/mod/pubsub/) to accounts. Every account is a
 * pubsub service whose nodes its owner alone publishes to; who may read
 * follows the node's access model against the owner's roster
 * (presence, roster groups, open, whitelist); who hears of a change is
 * every explicit subscriber plus each available resource whose entity
 * capabilities (XEP-0115, src/mod/caps.c) say node+notify, and such a
 * resource gets the last items when it comes online. pep.h is the API
 * other modules (avatar and bookmark conversion) call.
 *
 * Storage: the engine's maps under the prefix "pep" (pep_nodes,
 * pep_items, pep_subs:NODE, pep_subscriber:BARE; see pubsub.h) with the
 * account as the user; the verified caps in the host-wide map
 * "pep_caps". Older versions kept all subscriptions in one host-wide
 * map "pep_subs" (key owner "\n" node "\n" JID): init moves them. */
#include "mod/caps.h"
#include "mod/mod.h"
#include "mod/pep.h"
#include "mod/pubsub/pubsub.h"
#include "mod/roster.h"
#include "xmpp/portable.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define WATCH_BUCKETS 1024
#define BARE_MAX (JID_PART_MAX * 2 + 2)

struct pep_cfg {
	struct pubsub_limits lim;
	long long caps_store;
};

extern const struct module mod_pep;

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

/* Lives as long as ternd: a reload keeps who watches what. */
static struct watcher *wtab[WATCH_BUCKETS]; /* by owner */

static const struct pep_cfg *
cfg(const struct host *h)
{
	static const struct pep_cfg def = {
		{ 256, 192 * 1024, 100, 1000, 2000 }, 10000
	};
	const struct pep_cfg *c = h ? host_modcfg(h, &mod_pep) : NULL;

	return c ? c : &def;
}

static unsigned
bucket(const char *owner)
{
	return hash_bytes(HASH_INIT, owner, strlen(owner)) % WATCH_BUCKETS;
}

/* The bare JID of full into out (BARE_MAX bytes). */
static void
bare_of(const char *full, char *out)
{
	size_t bl = strcspn(full, "/");

	snprintf(out, BARE_MAX, "%.*s", (int)bl, full);
}

/* ---- the service: one account ---- */

struct pep_svc {
	struct pubsub_service s;
	char jid[BARE_MAX];
};

static const struct pubsub_ops pep_ops;

/* The pubsub service of account user on host (h: its struct, NULL when
 * the caller has only the name). */
static const struct pubsub_service *
pep_service(
    struct pep_svc *p, struct host *h, const char *host, const char *user)
{
	snprintf(p->jid, sizeof(p->jid), "%s@%s", user, host);
	p->s = (struct pubsub_service){
		.host = h,
		.store_host = host,
		.store_user = user,
		.jid = p->jid,
		.lim = &cfg(h)->lim,
		.ops = &pep_ops,
	};
	return &p->s;
}

static int
in_groups(const struct pubsub_service *s, const char *who,
    const struct pubsub_conf *c)
{
	struct roster_item ri;
	size_t i, j;
	int ok = 0;

	if (roster_item_get(s->store_host, s->store_user, who, &ri) == 0 &&
	    !ri.hidden)
		for (i = 0; i < ri.ngroups && !ok; i++)
			for (j = 0; j < c->groups.n; j++)
				if (strcmp(ri.groups[i], c->groups.v[j]) == 0)
					ok = 1;
	roster_item_cleanup(&ri);
	return ok;
}

/* May `who` (a bare JID) see the owner's node with configuration c? */
static enum pubsub_err
pep_access(const struct pubsub_service *s, const char *who,
    const struct pubsub_conf *c)
{
	int sub;

	if (strcmp(s->jid, who) == 0)
		return PUBSUB_OK;
	switch (c->access) {
	case PUBSUB_ACCESS_OPEN:
		return PUBSUB_OK;
	case PUBSUB_ACCESS_PRESENCE:
		sub = roster_subscription(s->store_host, s->store_user, who);
		return sub == ROSTER_SUB_FROM || sub == ROSTER_SUB_BOTH
			   ? PUBSUB_OK
			   : PUBSUB_E_PRESENCE;
	case PUBSUB_ACCESS_ROSTER:
		return in_groups(s, who, c) ? PUBSUB_OK : PUBSUB_E_ROSTER;
	default:
		return PUBSUB_E_CLOSED;
	}
}

/* Besides the subscribers: the owner's watchers whose caps say
 * node+notify. */
static void
pep_notify_more(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c, struct xml_node *m, struct strlist *sent)
{
	struct watcher *w;

	for (w = wtab[bucket(s->jid)]; w; w = w->next) {
		char bare[BARE_MAX];

		if (w->host != s->host || strcmp(w->owner, s->jid) != 0 ||
		    w->cp == NULL || !caps_has_notify(w->cp, node))
			continue;
		bare_of(w->full, bare);
		if (pep_access(s, bare, c) != PUBSUB_OK)
			continue;
		pubsub_send(s, m, w->full);
		strlist_add(sent, xstrdup(w->full));
	}
}

/* "pep/published" or "pep/retracted" (pep.h) on the owner's host. */
static void
pep_changed(const struct pubsub_service *s, const char *node, const char *id,
    const struct xml_node *payload, int by_server)
{
	struct pep_published p = { node, id, payload, by_server };
	struct hook_ev ev = { 0 };

	if (s->host == NULL)
		return;
	ev.host = s->host;
	ev.user = s->store_user;
	ev.data = &p;
	hook_fire(
	    s->host->hooks, payload ? "pep/published" : "pep/retracted", &ev);
}

static const struct pubsub_ops pep_ops = {
	.ns = "pep",
	.access = pep_access,
	.notify_more = pep_notify_more,
	.changed = pep_changed,
};

/* The last item of each node whose +notify the caps cp have, to a
 * resource that became available (or whose caps just arrived). */
static void
send_last_items(
    struct host *h, const char *user, const char *full, const struct caps *cp)
{
	struct pep_svc p = { 0 };
	const struct pubsub_service *s = pep_service(&p, h, h->name, user);
	struct strlist nodes = { 0 };
	char bare[BARE_MAX];
	size_t i;

	bare_of(full, bare);
	pubsub_node_names(s, &nodes);
	for (i = 0; i < nodes.n; i++) {
		struct pubsub_conf c;
		int ok;

		if (!caps_has_notify(cp, nodes.v[i]))
			continue;
		ok = pubsub_conf_load(s, nodes.v[i], &c) == 0 &&
		     c.send_last == PUBSUB_SEND_ON_SUB_AND_PRESENCE &&
		     pep_access(s, bare, &c) == PUBSUB_OK;
		pubsub_conf_cleanup(&c);
		if (ok)
			pubsub_send_last(s, nodes.v[i], full);
	}
	strlist_free(&nodes);
}

/* ---- the API of pep.h ---- */

int
pep_publish(struct host *h, const char *user, const char *node,
    const char *item_id, const struct xml_node *payload,
    const char *access_model)
{
	struct pep_svc p = { 0 };
	const struct pubsub_service *s = pep_service(&p, h, h->name, user);
	struct pubsub_conf want;
	char id[PUBSUB_ID_MAX + 1];
	enum pubsub_err e;
	unsigned set = 0;
	int access;

	pubsub_conf_default(s, &want);
	if (access_model) {
		access = pubsub_access_parse(access_model);
		if (access < 0) {
			log_warn("pep publish node=%s: bad access model %s",
			    node, access_model);
			return -1;
		}
		want.access = (enum pubsub_access)access;
		set = PUBSUB_OPT_ACCESS;
	}
	/* the access model only applies to a new node: an existing one
	 * keeps what its owner chose */
	if (set) {
		struct pubsub_conf cur;

		if (pubsub_conf_load(s, node, &cur) == 0)
			set = 0;
		pubsub_conf_cleanup(&cur);
	}
	e = pubsub_publish(s, node, item_id, payload, &want, set, 1, id);
	pubsub_conf_cleanup(&want);
	if (e != PUBSUB_OK) {
		log_warn("pep publish user=%s node=%s failed: %s", user, node,
		    pubsub_err_name(e));
		return -1;
	}
	return 0;
}

int
pep_get_item(const char *host, const char *user, const char *node,
    const char *item_id, struct xml_node **payload)
{
	struct pep_svc p = { 0 };
	struct pubsub_items it = { 0 };
	size_t i;
	int rc = 1;

	*payload = NULL;
	if (pubsub_items_load(pep_service(&p, NULL, host, user), node, &it) !=
	    0)
		return -1;
	for (i = it.n; i > 0; i--) {
		if (item_id && strcmp(it.v[i - 1].id, item_id) != 0)
			continue;
		*payload = xml_parse_element(it.v[i - 1].xml, it.v[i - 1].len);
		rc = *payload ? 0 : -1;
		break;
	}
	pubsub_items_free(&it);
	return rc;
}

int
pep_retract(
    struct host *h, const char *user, const char *node, const char *item_id)
{
	struct pep_svc p = { 0 };
	enum pubsub_err e =
	    pubsub_retract(pep_service(&p, h, h->name, user), node, item_id, 0);

	return e == PUBSUB_OK ? 0 : e == PUBSUB_E_NOT_FOUND ? 1 : -1;
}

/* ---- iq handlers: the account addressed is the service ---- */

static enum hook_ret
ps_set(struct hook_ev *ev)
{
	struct pep_svc p = { 0 };

	if (ev->to->node == NULL)
		return HOOK_CONTINUE;
	return pubsub_iq_set(
	    pep_service(&p, ev->host, ev->host->name, ev->to->node), ev);
}

static enum hook_ret
ps_get(struct hook_ev *ev)
{
	struct pep_svc p = { 0 };

	if (ev->to->node == NULL)
		return HOOK_CONTINUE;
	return pubsub_iq_get(
	    pep_service(&p, ev->host, ev->host->name, ev->to->node), ev);
}

static enum hook_ret
owner_iq(struct hook_ev *ev)
{
	struct pep_svc p = { 0 };

	if (ev->to->node == NULL)
		return HOOK_CONTINUE;
	return pubsub_iq_owner(
	    pep_service(&p, ev->host, ev->host->name, ev->to->node), ev);
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
	struct pep_svc p = { 0 };

	if (node == NULL || ev->to->node == NULL)
		return HOOK_CONTINUE;
	return pubsub_disco_node_info(
	    pep_service(&p, ev->host, ev->host->name, ev->to->node), ev, node);
}

static enum hook_ret
disco_items(struct hook_ev *ev)
{
	struct pep_svc p = { 0 };

	if (ev->to->node == NULL)
		return HOOK_CONTINUE;
	return pubsub_disco_items(
	    pep_service(&p, ev->host, ev->host->name, ev->to->node), ev,
	    xml_node_attr(ev->payload, "node"));
}

/* ---- presence and caps: who gets notifications ---- */

static struct watcher *
watcher_find(const struct host *h, const char *owner, const char *full)
{
	struct watcher *w;

	for (w = wtab[bucket(owner)]; w; w = w->next)
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

/* Does w match (owner NULL: any owner; full NULL: any resource; bare:
 * any resource of that bare JID)? */
static int
watcher_is(const struct watcher *w, const struct host *h, const char *owner,
    const char *full, const char *bare)
{
	size_t bl = strcspn(w->full, "/");

	return w->host == h &&
	       (owner == NULL || strcmp(w->owner, owner) == 0) &&
	       (full == NULL || strcmp(w->full, full) == 0) &&
	       (bare == NULL ||
		   (strlen(bare) == bl && strncmp(w->full, bare, bl) == 0));
}

/* Remove the watchers matching (see watcher_is). */
static void
watchers_drop(
    const struct host *h, const char *owner, const char *full, const char *bare)
{
	unsigned b = owner ? bucket(owner) : 0;
	unsigned end = owner ? b + 1 : WATCH_BUCKETS;
	struct watcher **pp, *w;

	for (; b < end; b++) {
		pp = &wtab[b];
		while (*pp) {
			w = *pp;
			if (watcher_is(w, h, owner, full, bare)) {
				*pp = w->next;
				watcher_free(w);
				continue;
			}
			pp = &w->next;
		}
	}
}

/* The local part of the bare JID owner into user (JID_PART_MAX + 1
 * bytes); -1 when it is too long. */
static int
owner_user(const char *owner, char *user)
{
	size_t ul = strcspn(owner, "@");

	if (ul > JID_PART_MAX)
		return -1;
	snprintf(user, JID_PART_MAX + 1, "%.*s", (int)ul, owner);
	return 0;
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

	/* only SHA-1 caps can be verified and cached (XEP-0115 §5.4) */
	if (hash == NULL || strcmp(hash, "sha-1") != 0 || ver == NULL ||
	    *ver == '\0' || strlen(ver) >= CAPS_VER_MAX || cnode == NULL)
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
		unsigned b = bucket(owner);

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
	if (ver == NULL || owner_user(owner, user) != 0)
		return;
	cp = caps_find(h->name, ver);
	if (cp) {
		w->cp = caps_ref(cp);
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

/* The answer to a caps query: every resource that showed this ver
 * meanwhile, for any owner, gets its caps (and the last items owed). */
static enum hook_ret
caps_result(struct hook_ev *ev)
{
	char *ver = caps_query_take(ev->host, ev->stanza);
	struct caps *cp;
	struct watcher *w;
	unsigned b;

	if (ver == NULL)
		return HOOK_CONTINUE;
	cp = caps_verify(ev->payload, ver);
	if (cp == NULL) {
		log_info("pep caps from=%s ver=%s: hash mismatch, ignored",
		    ev->from->full, ver);
		goto out;
	}
	caps_keep(ev->host->name, cp, cfg(ev->host)->caps_store);
	for (b = 0; b < WATCH_BUCKETS; b++) {
		for (w = wtab[b]; w; w = w->next) {
			char user[JID_PART_MAX + 1];

			if (w->host != ev->host || w->cp || w->ver == NULL ||
			    strcmp(w->ver, ver) != 0 ||
			    owner_user(w->owner, user) != 0)
				continue;
			w->cp = caps_ref(cp);
			if (!w->fresh)
				continue;
			w->fresh = 0;
			send_last_items(ev->host, user, w->full, cp);
		}
	}
out:
	free(ver);
	return HOOK_HANDLED;
}

static enum hook_ret
caps_error(struct hook_ev *ev)
{
	char *ver = caps_query_take(ev->host, ev->stanza);

	if (ver == NULL)
		return HOOK_CONTINUE;
	free(ver);
	return HOOK_HANDLED;
}

/* ---- account deletion, start, reload ---- */

static enum hook_ret
user_deleted(struct hook_ev *ev)
{
	struct pep_svc p = { 0 };
	const struct pubsub_service *s =
	    pep_service(&p, ev->host, ev->host->name, ev->user);

	/* subscriptions to the user's nodes, and the user's to others' */
	pubsub_forget_owner(s);
	pubsub_forget_subscriber(s, s->jid);
	watchers_drop(ev->host, s->jid, NULL, NULL);
	watchers_drop(ev->host, NULL, NULL, s->jid);
	return HOOK_CONTINUE;
}

/* Move the subscriptions of the old host-wide map "pep_subs" (key owner
 * "\n" node "\n" JID) to the engine's maps. */
static int
pep_init(struct host *h)
{
	struct strlist keys = { 0 };
	size_t i, moved = 0;

	if (store_map_list(h->name, "", "pep_subs", pubsub_key_cb, &keys) < 0)
		return 0;
	for (i = 0; i < keys.n; i++) {
		char *key = keys.v[i], *node = strchr(key, '\n');
		char *jid = node ? strchr(node + 1, '\n') : NULL;
		struct pep_svc p = { 0 };

		if (jid) {
			*node = '\0';
			*jid = '\0';
			if (pubsub_sub_write(pep_service(&p, h, h->name, key),
				node + 1, jid + 1, 1) == 0)
				moved++;
			*node = '\n';
			*jid = '\n';
		}
		store_map_del(h->name, "", "pep_subs", key);
	}
	if (keys.n > 0)
		log_info("pep: moved %zu subscriptions of %s to per-node "
			 "storage",
		    moved, h->name);
	strlist_free(&keys);
	return 0;
}

/* Reload or shutdown: caps queries in flight are forgotten. Watchers
 * and caps stay (reachable from the tables): a reload must not lose who
 * watches what, and the process ends soon after a shutdown. */
static void
pep_cleanup(struct host *h)
{
	caps_queries_drop(h);
}

/* ---- export and import (xmpp/portable.h, XEP-0227 §3.10) ----
 * Nodes as <configure/> forms (the access model of OMEMO nodes goes
 * with them) and explicit <subscriptions/> under pubsub#owner, items
 * under pubsub. */

static void
export_node(const struct pubsub_service *s, const char *node,
    struct xml_node *owner, struct xml_node *ps)
{
	struct pubsub_items it = { 0 };
	struct strlist subs = { 0 };
	struct pubsub_conf c;
	struct xml_node *el, *items;
	size_t i;

	if (pubsub_conf_load(s, node, &c) != 0) {
		pubsub_conf_cleanup(&c);
		return;
	}
	el = xml_node_child(owner, NULL, "configure");
	xml_node_set_attr(el, "node", node);
	pubsub_conf_form(el, &c);
	pubsub_conf_cleanup(&c);
	pubsub_subs_load(s, node, &subs);
	if (subs.n > 0) {
		el = xml_node_child(owner, NULL, "subscriptions");
		xml_node_set_attr(el, "node", node);
		for (i = 0; i < subs.n; i++) {
			struct xml_node *sub =
			    xml_node_child(el, NULL, "subscription");

			xml_node_set_attr(sub, "jid", subs.v[i]);
			xml_node_set_attr(sub, "subscription", "subscribed");
		}
	}
	strlist_free(&subs);
	if (pubsub_items_load(s, node, &it) == 0 && it.n > 0) {
		items = xml_node_child(ps, NULL, "items");
		xml_node_set_attr(items, "node", node);
		for (i = 0; i < it.n; i++)
			pubsub_item_into(items, &it.v[i]);
	}
	pubsub_items_free(&it);
}

static enum hook_ret
pep_export(struct hook_ev *ev)
{
	struct acct_export *x = ev->data;
	struct pep_svc p = { 0 };
	const struct pubsub_service *s =
	    pep_service(&p, ev->host, ev->host->name, ev->user);
	struct xml_node *owner = xml_node_new(NS_PUBSUB_OWNER, "pubsub");
	struct xml_node *ps = xml_node_new(NS_PUBSUB, "pubsub");
	struct strlist nodes = { 0 };
	size_t i;

	pubsub_node_names(s, &nodes);
	for (i = 0; i < nodes.n; i++)
		export_node(s, nodes.v[i], owner, ps);
	strlist_free(&nodes);
	if (xml_node_first_el(owner) != NULL)
		xml_node_copy_into(x->user, owner);
	if (xml_node_first_el(ps) != NULL)
		xml_node_copy_into(x->user, ps);
	xml_node_free(owner);
	xml_node_free(ps);
	return HOOK_CONTINUE;
}

/* Create or (merging) reconfigure node from form x (NULL: defaults). */
static int
import_conf(const struct pubsub_service *s, struct acct_import *imp,
    const struct xml_node *at, const char *node, const struct xml_node *x)
{
	struct pubsub_conf c;
	enum pubsub_err e = PUBSUB_OK;
	unsigned set = 0;
	int rc;

	rc = pubsub_conf_load(s, node, &c);
	if (rc < 0) {
		e = PUBSUB_E_INTERNAL;
		goto out_conf;
	}
	if (x != NULL)
		e = pubsub_form_apply(s, x, &c, &set);
	if (e == PUBSUB_OK)
		e = rc == 1 ? pubsub_create(s, node, &c)
			    : pubsub_store_err(pubsub_conf_save(s, node, &c));
out_conf:
	pubsub_conf_cleanup(&c);
	if (e == PUBSUB_E_MAX_NODES)
		acct_import_fail(imp, at,
		    "PEP node %s: more than %lld nodes "
		    "(pep.max_nodes)",
		    node, s->lim->max_nodes);
	else if (e == PUBSUB_E_QUOTA)
		acct_import_store_fail(imp, at, STORE_QUOTA, "PEP node");
	else if (e != PUBSUB_OK)
		acct_import_fail(
		    imp, at, "PEP node %s: %s", node, pubsub_err_name(e));
	return e == PUBSUB_OK ? 0 : -1;
}

static void
import_subs(const struct pubsub_service *s, struct acct_import *imp,
    const struct xml_node *el, const char *node)
{
	const struct xml_node *sub;
	const char *j, *state;
	struct jid jid;

	for (sub = xml_node_first_el(el); sub && !imp->failed;
	     sub = xml_node_next_el(sub)) {
		j = xml_node_attr(sub, "jid");
		state = xml_node_attr(sub, "subscription");
		if (!xml_node_is(sub, NS_PUBSUB_OWNER, "subscription") ||
		    state == NULL || strcmp(state, "subscribed") != 0)
			continue;
		if (j == NULL || jid_parse_str(&jid, j) < 0) {
			acct_import_fail(imp, sub,
			    "PEP subscription: not a "
			    "valid JID");
			return;
		}
		if (pubsub_sub_exists(s, node, jid.full) != 0 &&
		    (pubsub_sub_room(s, node, jid.full) != PUBSUB_OK ||
			pubsub_sub_write(s, node, jid.full, 1) != 0))
			acct_import_fail(imp, sub,
			    "PEP subscription of %s to "
			    "%s: over the limits or storage failure",
			    jid.full, node);
		jid_cleanup(&jid);
	}
}

static void
import_items(const struct pubsub_service *s, struct acct_import *imp,
    const struct xml_node *items, const char *node)
{
	const struct xml_node *it, *payload;
	struct pubsub_conf c = { 0 };
	enum pubsub_err e;

	for (it = xml_node_first_el(items); it && !imp->failed;
	     it = xml_node_next_el(it)) {
		if (!xml_node_is(it, NS_PUBSUB, "item"))
			continue;
		payload = xml_node_first_el(it);
		if (payload == NULL)
			continue;
		e = pubsub_item_put(s, node, xml_node_attr(it, "id"), payload);
		if (e == PUBSUB_E_QUOTA)
			acct_import_store_fail(
			    imp, it, STORE_QUOTA, "PEP item");
		else if (e == PUBSUB_E_TOO_BIG)
			acct_import_fail(imp, it,
			    "PEP item larger than "
			    "pep.max_payload (%lld bytes)",
			    s->lim->max_payload);
		else if (e != PUBSUB_OK)
			acct_import_fail(imp, it,
			    "PEP item of %s: %s (an item "
			    "needs an id)",
			    node, pubsub_err_name(e));
	}
	/* max_items holds as for a publish */
	if (!imp->failed && pubsub_conf_load(s, node, &c) == 0)
		pubsub_items_trim(s, node, &c);
	pubsub_conf_cleanup(&c);
}

static enum hook_ret
pep_import(struct hook_ev *ev)
{
	struct acct_import *imp = ev->data;
	struct xml_node *owner =
	    xml_node_find(imp->user, NS_PUBSUB_OWNER, "pubsub");
	struct xml_node *ps = xml_node_find(imp->user, NS_PUBSUB, "pubsub");
	struct pep_svc p = { 0 };
	const struct pubsub_service *s =
	    pep_service(&p, ev->host, ev->host->name, ev->user);
	struct xml_node *el;
	const char *node;

	for (el = owner ? xml_node_first_el(owner) : NULL; el && !imp->failed;
	     el = xml_node_next_el(el)) {
		node = xml_node_attr(el, "node");
		if (node == NULL)
			continue;
		if (xml_node_is(el, NS_PUBSUB_OWNER, "configure"))
			import_conf(s, imp, el, node,
			    xml_node_find(el, "jabber:x:data", "x"));
	}
	/* items of a node with no configuration: a default one */
	for (el = ps ? xml_node_first_el(ps) : NULL; el && !imp->failed;
	     el = xml_node_next_el(el)) {
		struct pubsub_conf c;
		int rc;

		node = xml_node_attr(el, "node");
		if (node == NULL || !xml_node_is(el, NS_PUBSUB, "items"))
			continue;
		rc = pubsub_conf_load(s, node, &c);
		pubsub_conf_cleanup(&c);
		if (rc == 1)
			rc = import_conf(s, imp, el, node, NULL);
		else if (rc < 0)
			acct_import_fail(imp, el, "PEP: storage failure");
		if (!imp->failed)
			import_items(s, imp, el, node);
	}
	for (el = owner ? xml_node_first_el(owner) : NULL; el && !imp->failed;
	     el = xml_node_next_el(el)) {
		node = xml_node_attr(el, "node");
		if (node != NULL &&
		    xml_node_is(el, NS_PUBSUB_OWNER, "subscriptions"))
			import_subs(s, imp, el, node);
	}
	if (imp->failed)
		return HOOK_HANDLED;
	if (owner != NULL)
		acct_import_take(imp, owner);
	if (ps != NULL)
		acct_import_take(imp, ps);
	return HOOK_CONTINUE;
}

static const struct cfg_directive pep_dirs[] = {
	{ .name = "max_items",
	    .type = CFG_INT,
	    .offset = offsetof(struct pep_cfg, lim.max_items),
	    .def = "256",
	    .min = 1,
	    .max = 100000,
	    .doc = "Most items a node keeps (pubsub#max_items 'max')." },
	{ .name = "max_payload",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct pep_cfg, lim.max_payload),
	    .def = "192k",
	    .min = 1024,
	    .max = 16 * 1024 * 1024,
	    .doc = "Largest item payload (avatar data needs ~100k; the "
		   "c2s stanza limit applies first)." },
	{ .name = "max_nodes",
	    .type = CFG_INT,
	    .offset = offsetof(struct pep_cfg, lim.max_nodes),
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
	    .offset = offsetof(struct pep_cfg, lim.max_subs),
	    .def = "1000",
	    .min = 1,
	    .max = 1000000,
	    .doc = "Most explicit subscriptions one bare JID (all its "
		   "resources) may hold on this host's PEP nodes; more get "
		   "policy-violation (XEP-0060 §6.1.3.9)." },
	{ .name = "max_node_subscriptions",
	    .type = CFG_INT,
	    .offset = offsetof(struct pep_cfg, lim.max_node_subs),
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
	{ "iq-set/bare/" NS_PUBSUB_OWNER ":pubsub", owner_iq, 0 },
	{ "iq-get/bare/" NS_PUBSUB_OWNER ":pubsub", owner_iq, 0 },
	{ "iq-get/bare/" NS_INFO ":query", disco_node_info, 10 },
	{ "iq-get/bare/" NS_ITEMS ":query", disco_items, 10 },
	{ "iq-result/bare/" NS_INFO ":query", caps_result, 10 },
	{ "iq-error/bare/" NS_INFO ":query", caps_error, 10 },
	{ "iq-error/bare/jabber:client:error", caps_error, 10 },
	{ "disco/info/account", disco_account, 0 },
	{ "presence/bare", pres_in, 10 }, { "presence/full", pres_in, 10 },
	{ "presence/self", pres_self, 10 },
	{ "session/closed", sess_closed, 0 },
	{ "user/deleted", user_deleted, 0 }, { "user/export", pep_export, 0 },
	{ "user/import", pep_import, 0 }, HOOK_REG_END
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

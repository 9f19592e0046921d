/* pubsub.h: the XEP-0060 publish-subscribe engine, for any service
 * that holds nodes: PEP (XEP-0163, every account's nodes, src/mod/pep.c),
 * and later a group chat room's nodes (XEP-0045 avatars) or a generic
 * pubsub service on pubsub.<host>. Not a module: the module that binds
 * it owns the hooks, the config and the policy.
 *
 * A service is what one address holds: a struct pubsub_service names
 * its storage (store_host, store_user and the map prefix ops->ns), its
 * address (jid, the 'from' of its notifications), its limits and its
 * callbacks (struct pubsub_ops): who may read a node (access), who may
 * publish or administer (allowed), who hears of a change besides the
 * explicit subscribers (notify_more: PEP's +notify resources), and what
 * follows a change (changed: PEP fires pep/published). The engine keeps
 * no state of its own between calls: a binding fills a service on the
 * stack per stanza (pep.c: pep_service()).
 *
 * Storage, for prefix NS (PEP's is "pep", as it always was):
 *   map NS "_nodes"  (store_user, key node): the node's configuration as
 *                    "key=value" lines;
 *   map NS "_items"  (store_user, key node "\n" id): "SEQ\n" + the
 *                    serialised payload, SEQ a publish sequence that
 *                    orders items;
 *   map NS "_subs:" NODE (store_user, key JID): one node's explicit
 *                    subscribers, so a publish reads only its own;
 *   map NS "_subscriber:" BARE (user "", key store_user "\n" node "\n"
 *                    JID): the same by subscriber, for the per-
 *                    subscriber cap, <subscriptions/> and clean-up.
 *
 * Layers (each file uses the ones above it):
 *   node.c    node configuration: defaults, storage form, node_config
 *             and publish-options data forms, the precondition check,
 *             and the XEP-0060 error table;
 *   engine.c  items and subscriptions in storage; publish (with item
 *             ids, max_items trimming, publish-options), retract, purge,
 *             delete; notifications;
 *   iq.c      the protocol: pubsub and pubsub#owner IQs and disco of
 *             nodes, answered for a service the binding names. */
#ifndef TERN_MOD_PUBSUB_H
#define TERN_MOD_PUBSUB_H

#include <stddef.h>

#include "core/hook.h"
#include "core/util.h"

struct host;
struct hook_ev;
struct jid;
struct xml_node;

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_OWNER NS_PUBSUB "#owner"
#define NS_PUBSUB_EVENT NS_PUBSUB "#event"
#define NS_PUBSUB_ERRORS NS_PUBSUB "#errors"
#define PUBSUB_NODE_CONFIG NS_PUBSUB "#node_config"
#define PUBSUB_PUBLISH_OPTIONS NS_PUBSUB "#publish-options"
#define PUBSUB_NODE_MAX 1024 /* bytes of a node name */
#define PUBSUB_ID_MAX 256    /* bytes of an item id */

/* ---- node configuration (node.c) ---- */

enum pubsub_access {
	PUBSUB_ACCESS_PRESENCE,
	PUBSUB_ACCESS_OPEN,
	PUBSUB_ACCESS_ROSTER,
	PUBSUB_ACCESS_WHITELIST
};

enum pubsub_send_last {
	PUBSUB_SEND_NEVER,
	PUBSUB_SEND_ON_SUB,
	PUBSUB_SEND_ON_SUB_AND_PRESENCE
};

struct pubsub_conf {
	enum pubsub_access access;
	int persist;
	long long max_items;
	enum pubsub_send_last send_last;
	int notify_retract;
	struct strlist groups; /* roster groups allowed (access roster) */
};

/* The options a form set (struct pubsub_want.set). */
enum {
	PUBSUB_OPT_ACCESS = 1,
	PUBSUB_OPT_PERSIST = 2,
	PUBSUB_OPT_MAX = 4,
	PUBSUB_OPT_SENDLAST = 8,
	PUBSUB_OPT_RETRACT = 16,
	PUBSUB_OPT_GROUPS = 32
};

/* Every answer the engine can give; pubsub_reply_error() maps it to
 * the stanza error and XEP-0060 §7/§8 application condition. */
enum pubsub_err {
	PUBSUB_OK,
	PUBSUB_E_NODEID,
	PUBSUB_E_PAYLOAD,
	PUBSUB_E_NOT_FOUND,
	PUBSUB_E_PRECOND,
	PUBSUB_E_TOO_BIG,
	PUBSUB_E_MAX_NODES,
	PUBSUB_E_OPTIONS,
	PUBSUB_E_MAX_ITEMS,
	PUBSUB_E_FORBIDDEN,
	PUBSUB_E_INTERNAL,
	PUBSUB_E_PRESENCE,
	PUBSUB_E_ROSTER,
	PUBSUB_E_CLOSED,
	PUBSUB_E_BAD,
	PUBSUB_E_JID,
	PUBSUB_E_CONFLICT,
	PUBSUB_E_UNSUPPORTED,
	PUBSUB_E_TOO_MANY,
	PUBSUB_E_QUOTA
};

/* The condition's name for logs (the application one if any). */
const char *pubsub_err_name(enum pubsub_err e);
/* The error for a storage write that returned rc (quota, failure). */
enum pubsub_err pubsub_store_err(int rc);
/* Answer ev's iq with e; feature: the 'feature' of <unsupported/>. */
void pubsub_reply_error(
    const struct hook_ev *ev, enum pubsub_err e, const char *feature);

/* The names of the access models (the index is enum pubsub_access). */
int pubsub_access_parse(const char *name); /* -1 when unknown */

void pubsub_conf_cleanup(struct pubsub_conf *c);
/* The form for c (configure and default get) under parent. */
void pubsub_conf_form(struct xml_node *parent, const struct pubsub_conf *c);

/* ---- services ---- */

/* What a service caps; pep's config section fills one. */
struct pubsub_limits {
	long long max_items;	 /* a node's max_items "max" and ceiling */
	long long max_payload;	 /* bytes of a serialised payload */
	long long max_nodes;	 /* nodes of one service */
	long long max_subs;	 /* per subscriber bare JID, all resources */
	long long max_node_subs; /* per node */
};

/* What a node's owner or publisher may do (pubsub_ops.allowed). */
enum pubsub_op {
	PUBSUB_OP_PUBLISH,
	PUBSUB_OP_RETRACT,
	PUBSUB_OP_CREATE,
	PUBSUB_OP_CONFIGURE, /* configure, default, purge, delete */
};

struct pubsub_service;

struct pubsub_ops {
	const char *ns; /* storage prefix (see above) */
	/* A new node's configuration before any form; NULL: presence
	 * access, persistent, max_items 1, last item sent on subscription
	 * and presence, retractions notified. */
	void (*conf_default)(
	    const struct pubsub_service *s, struct pubsub_conf *c);
	/* May who (a bare JID) see node c: its items, disco, a
	 * subscription, notifications? PUBSUB_OK or the error to answer. */
	enum pubsub_err (*access)(const struct pubsub_service *s,
	    const char *who, const struct pubsub_conf *c);
	/* May from do op? NULL: only the service's own bare JID may. */
	int (*allowed)(const struct pubsub_service *s, const struct jid *from,
	    enum pubsub_op op);
	/* Optional: send m (an event about node) to those entitled besides
	 * the explicit subscribers (PEP: resources whose caps say
	 * +notify), each with pubsub_send(), adding each full JID to sent
	 * so that subscribers do not get it twice. */
	void (*notify_more)(const struct pubsub_service *s, const char *node,
	    const struct pubsub_conf *c, struct xml_node *m,
	    struct strlist *sent);
	/* Optional: deliver one notification (m's 'to' is set; m stays
	 * the caller's). NULL: routed from jid (pubsub_route). Tests
	 * capture notifications here. */
	void (*send)(
	    const struct pubsub_service *s, struct xml_node *m, const char *to);
	/* Optional: after an item was stored and notified (payload NULL:
	 * retracted); by_server for pubsub_publish(by_server = 1). */
	void (*changed)(const struct pubsub_service *s, const char *node,
	    const char *id, const struct xml_node *payload, int by_server);
};

struct pubsub_service {
	struct host *host; /* the binding's (hooks, config); may be NULL */
	const char *store_host, *store_user; /* whose rows the nodes are */
	const char *jid; /* the service's bare JID: 'from' of events */
	const struct pubsub_limits *lim;
	const struct pubsub_ops *ops;
	void *ud; /* the binding's */
};

/* The name of one of s's maps: ops->ns followed by suffix. */
char *pubsub_map(const struct pubsub_service *s, const char *suffix);

/* A new node's configuration for s (ops->conf_default or the default). */
void pubsub_conf_default(const struct pubsub_service *s, struct pubsub_conf *c);
/* Apply a node_config or publish-options form x to c; *set gets the
 * PUBSUB_OPT_ bits of what it named. Unknown fields are ignored. */
enum pubsub_err pubsub_form_apply(const struct pubsub_service *s,
    const struct xml_node *x, struct pubsub_conf *c, unsigned *set);
/* The publish-options precondition (XEP-0060 §7.1.5): does cur hold
 * every option set in want? */
int pubsub_conf_matches(const struct pubsub_conf *cur,
    const struct pubsub_conf *want, unsigned set);

/* Node's configuration: 0 found, 1 no such node (c holds the default),
 * -1 error. Clean c up in every case. */
int pubsub_conf_load(
    const struct pubsub_service *s, const char *node, struct pubsub_conf *c);
int pubsub_conf_save(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c);
/* A store_map_list callback that adds every key to the struct strlist
 * ud points to. */
int pubsub_key_cb(void *ud, const char *key, const char *val, size_t len);
/* The service's node names, sorted (strlist_free them). */
void pubsub_node_names(const struct pubsub_service *s, struct strlist *out);
/* Does who (bare JID) pass ops->access for node? PUBSUB_E_NOT_FOUND
 * when there is no such node. */
enum pubsub_err pubsub_node_access(
    const struct pubsub_service *s, const char *node, const char *who);

/* One stored item. */
struct pubsub_item {
	char *id;
	long long seq;
	char *xml; /* the serialised payload */
	size_t len;
};

struct pubsub_items {
	struct pubsub_item *v;
	size_t n, cap;
};

/* Node's items, oldest first: 0, or -1 on a storage error. */
int pubsub_items_load(
    const struct pubsub_service *s, const char *node, struct pubsub_items *it);
void pubsub_items_free(struct pubsub_items *it);
/* An <item id=…> with its payload, appended to items. */
void pubsub_item_into(struct xml_node *items, const struct pubsub_item *it);
/* Drop the oldest items beyond what c keeps (max_items; one when not
 * persistent). */
void pubsub_items_trim(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c);

/* Publish payload (serialised, so copied) as item id (NULL or "": a
 * generated one) on node, creating the node if needed: with *want when
 * set != 0 (publish-options; taken over by a new node), else the
 * default. When the node exists, set's options must match
 * (PUBSUB_E_PRECOND). new_id (PUBSUB_ID_MAX + 1 bytes) gets the id. */
enum pubsub_err pubsub_publish(const struct pubsub_service *s, const char *node,
    const char *id, const struct xml_node *payload, struct pubsub_conf *want,
    unsigned set, int by_server, char *new_id);
/* Store payload as item id of node (which exists) as the newest,
 * notifying nobody (an import); the caller trims. */
enum pubsub_err pubsub_item_put(const struct pubsub_service *s,
    const char *node, const char *id, const struct xml_node *payload);
/* Retract item id; notify when the node says so or force_notify. */
enum pubsub_err pubsub_retract(const struct pubsub_service *s, const char *node,
    const char *id, int force_notify);
/* Create node, which does not exist yet, with configuration c:
 * PUBSUB_E_NODEID for a bad name, PUBSUB_E_MAX_NODES past the limit. */
enum pubsub_err pubsub_create(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c);
/* Remove every item (notifying <purge/>), or the node with its items and
 * subscriptions (notifying <delete/> first). c: its configuration. */
void pubsub_purge(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c);
void pubsub_delete(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c);

/* Subscriptions: node's subscribers (full or bare JIDs); room for one
 * more (limits, PUBSUB_E_TOO_MANY); subscribe (on) or unsubscribe jid. */
void pubsub_subs_load(
    const struct pubsub_service *s, const char *node, struct strlist *out);
int pubsub_sub_exists(
    const struct pubsub_service *s, const char *node, const char *jid);
enum pubsub_err pubsub_sub_room(
    const struct pubsub_service *s, const char *node, const char *jid);
int pubsub_sub_write(
    const struct pubsub_service *s, const char *node, const char *jid, int on);
/* jid's subscriptions on s as "node\nJID" strings (bare jid: any of
 * its resources). */
void pubsub_subs_of(
    const struct pubsub_service *s, const char *jid, struct strlist *out);
/* Drop every subscription to s's nodes (the owner goes); every
 * subscription bare holds on any owner's nodes that share s's
 * store_host and ns (the subscriber goes: s->store_user is ignored). */
void pubsub_forget_owner(const struct pubsub_service *s);
void pubsub_forget_subscriber(const struct pubsub_service *s, const char *bare);

/* Notifications: a <message type=headline> from s with an <event/>,
 * and, if items is not NULL, <items node=…> in it (*items). */
struct xml_node *pubsub_event_msg(
    const struct pubsub_service *s, const char *node, struct xml_node **items);
/* Send m to one JID (ops->send, or pubsub_route). */
void pubsub_send(
    const struct pubsub_service *s, struct xml_node *m, const char *to);
/* Route m to `to` from s's jid; not to a local full JID that is gone
 * (its other resources did not ask, RFC 6121 §8.5.3.2.1). */
void pubsub_route(
    const struct pubsub_service *s, struct xml_node *m, const char *to);
/* m to ops->notify_more's recipients and the subscribers c allows. */
void pubsub_notify(const struct pubsub_service *s, const char *node,
    const struct pubsub_conf *c, struct xml_node *m);
/* The last item of node to `to`, if it has one. */
void pubsub_send_last(
    const struct pubsub_service *s, const char *node, const char *to);

/* ---- the protocol (iq.c) ---- */

/* Handlers a binding calls from its hooks with the service ev is for;
 * they answer ev (HOOK_HANDLED), or leave an iq with no payload
 * element to others (HOOK_CONTINUE). */

/* pubsub IQs: set (publish, retract, create, subscribe, unsubscribe),
 * get (items, subscriptions). */
enum hook_ret pubsub_iq_set(const struct pubsub_service *s, struct hook_ev *ev);
enum hook_ret pubsub_iq_get(const struct pubsub_service *s, struct hook_ev *ev);
/* pubsub#owner IQs: default, configure, purge, delete. */
enum hook_ret pubsub_iq_owner(
    const struct pubsub_service *s, struct hook_ev *ev);
/* disco#info to node (the query's node=): the node's identity to who
 * may see it, item-not-found to others. */
enum hook_ret pubsub_disco_node_info(
    const struct pubsub_service *s, struct hook_ev *ev, const char *node);
/* disco#items: the nodes who may see (node NULL), or node's items. */
enum hook_ret pubsub_disco_items(
    const struct pubsub_service *s, struct hook_ev *ev, const char *node);

#endif

/* src/mod/muc/muc.c: XEP-0045 Multi-User Chat on a service domain
 * (conference.<host>): the module's tables, its settings, the service's
 * own disco (§6.1-6.3) and unique room names (§10.1.4), the table of
 * rooms, and the one way the rooms send a stanza to many occupants:
 * serialised once, with each recipient's 'to' spliced into the bytes. */
#include "mod/muc/muc.h"
#include "mod/service.h"

static struct muc_service *services;

const struct muc_cfg *
muc_cfg(const struct hook_ev *ev)
{
	return host_modcfg(ev->host, &mod_muc);
}

/* The per-service secret that keys occupant ids (XEP-0421 §4: stable
 * and unlinkable across rooms): made once, kept in the store. */
static void
service_secret(struct muc_service *svc)
{
	char *val = NULL;
	size_t len = 0;

	if (store_kv_get(svc->domain, "", MUC_SECRET_STORE, &val, &len) == 0 &&
	    len == sizeof(svc->secret)) {
		memcpy(svc->secret, val, len);
		free(val);
		return;
	}
	free(val);
	rand_bytes(svc->secret, sizeof(svc->secret));
	if (store_kv_set(svc->domain, "", MUC_SECRET_STORE,
		(const char *)svc->secret, sizeof(svc->secret)) != 0)
		log_warn(
		    "muc %s: cannot keep the occupant-id secret", svc->domain);
}

struct muc_service *
muc_service(const struct hook_ev *ev)
{
	const char *domain = ev->to->domain;
	struct muc_service *svc;

	for (svc = services; svc; svc = svc->next) {
		if (strcmp(svc->domain, domain) == 0) {
			svc->history_max = muc_cfg(ev)->history_max;
			return svc;
		}
	}
	svc = xcalloc(1, sizeof(*svc));
	svc->history_max = muc_cfg(ev)->history_max;
	svc->domain = xstrdup(domain);
	service_secret(svc);
	svc->next = services;
	services = svc;
	return svc;
}

static unsigned
bucket(const char *name)
{
	return hash_bytes(HASH_INIT, name, strlen(name)) % MUC_BUCKETS;
}

struct muc_room *
muc_room_loaded(struct muc_service *svc, const char *name)
{
	struct muc_room *r;

	for (r = svc->rooms[bucket(name)]; r; r = r->next)
		if (strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

struct muc_room *
muc_room_find(struct muc_service *svc, const char *name)
{
	struct muc_room *r = muc_room_loaded(svc, name);

	if (r == NULL) {
		r = muc_room_load(svc, name);
		/* loaded for one stanza (disco, a join...): unloaded again
		 * when the loop is idle unless someone entered */
		if (r)
			muc_room_gc_later(r);
	}
	return r;
}

static void
gc_later(void *arg)
{
	char *jid = arg, *at = strchr(jid, '@');
	struct muc_service *svc;
	struct muc_room *r;

	*at = '\0';
	for (svc = services; svc; svc = svc->next)
		if (strcmp(svc->domain, at + 1) == 0)
			break;
	r = svc ? muc_room_loaded(svc, jid) : NULL;
	if (r)
		muc_room_gc(r);
	free(jid);
}

void
muc_room_gc_later(struct muc_room *r)
{
	loop_defer(gc_later, xstrdup(r->jid));
}

void
muc_room_link(struct muc_service *svc, struct muc_room *r)
{
	unsigned b = bucket(r->name);

	r->svc = svc;
	r->next = svc->rooms[b];
	svc->rooms[b] = r;
	svc->nrooms++;
}

void
muc_room_unlink(struct muc_room *r)
{
	struct muc_room **p = &r->svc->rooms[bucket(r->name)];

	for (; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			r->svc->nrooms--;
			return;
		}
	}
}

/* ---- sending ---- */

void
muc_out_init(struct muc_out *o, struct xml_node *st)
{
	memset(o, 0, sizeof(*o));
	o->st = st;
	sbuf_init(&o->ser);
}

void
muc_out_cleanup(struct muc_out *o)
{
	sbuf_cleanup(&o->ser);
	jid_cleanup(&o->from);
}

/* The recipient's policies (route/filter: blocking) see each copy
 * delivered straight to a local session, as the router would show
 * them; the session's prepared JID spares parsing the 'to'. */
static int
filtered(struct muc_out *o, struct session *s)
{
	static int id = -1;
	struct hook_ev ev = { 0 };
	const char *type;

	if (id < 0)
		id = hook_intern("route/filter");
	if (s->host->hooks == NULL || !hook_has(s->host->hooks, id))
		return 0;
	type = xml_node_attr(o->st, "type");
	ev.host = s->host;
	ev.stanza = o->st;
	ev.from = &o->from;
	ev.to = &s->jid;
	ev.type = type ? type : "";
	ev.kind = o->kind;
	ev.stype = o->stype;
	return hook_fire_id(s->host->hooks, id, &ev) == HOOK_HANDLED;
}

/* A local session takes the bytes serialised once, with its 'to'
 * spliced in after the element name: one memcpy per recipient instead
 * of one serialisation (DESIGN: serialised once). The node carries the
 * same 'to' for the session/out hooks (stream management, CSI). Others
 * (remote, or the occupant's server is elsewhere) go through the
 * router. */
int
muc_out_send(struct muc_out *o, const char *to)
{
	static struct sbuf scratch;
	struct session *s;
	struct rbuf *r;
	size_t nl;

	if (!o->ready) {
		const char *from = xml_node_attr(o->st, "from");

		xml_node_set_attr(o->st, "to", NULL);
		sbuf_reset(&o->ser);
		xml_serialize(o->st, XML_NS_CLIENT, &o->ser);
		if (from == NULL || jid_parse_str(&o->from, from) != 0)
			return 0;
		stanza_classify(o->st, &o->kind, &o->stype);
		o->ready = 1;
	}
	s = o->routed ? NULL : session_find_full(to);
	xml_node_set_attr(o->st, "to", to);
	if (s == NULL) {
		const char *slash = strchr(to, '/');
		const char *at = strchr(to, '@');
		const char *dom = at && (!slash || at < slash) ? at + 1 : to;
		size_t dl = slash ? (size_t)(slash - dom) : strlen(dom);

		if (slash && !o->routed && host_find_n(dom, dl) != NULL)
			return -1; /* a local session that has ended */
		router_route(o->st, &o->from, NULL);
		return 0;
	}
	if (filtered(o, s))
		return 0;
	/* spliced in a scratch buffer kept across calls: one allocation
	 * per recipient (its rbuf), not two */
	nl = 1 + strlen(o->st->name);
	sbuf_reset(&scratch);
	sbuf_reserve(&scratch, o->ser.len + strlen(to) + 16);
	sbuf_append(&scratch, o->ser.data, nl);
	sbuf_puts(&scratch, " to='");
	sbuf_put_xml_escaped(&scratch, to, strlen(to));
	sbuf_putc(&scratch, '\'');
	sbuf_append(&scratch, o->ser.data + nl, o->ser.len - nl);
	r = rbuf_new(scratch.data, scratch.len);
	if (scratch.cap > 65536)
		sbuf_cleanup(&scratch); /* no big buffer kept for good */
	session_send(s, o->st, &r);
	rbuf_unref(r);
	return 0;
}

void
muc_send(struct xml_node *st, const char *to)
{
	struct muc_out o;

	muc_out_init(&o, st);
	muc_out_send(&o, to);
	muc_out_cleanup(&o);
	xml_node_free(st);
}

void
muc_error(const struct hook_ev *ev, const char *type, const char *cond,
    const char *text)
{
	stanza_bounce(ev->stanza, type, cond, text);
}

const char *
muc_nick_jid(struct xml_node *st, const struct muc_room *r, const char *nick)
{
	char *s = xasprintf("%s/%s", r->jid, nick);
	const char *v = xml_node_strdup(st, s, strlen(s));

	free(s);
	return v;
}

/* ---- the service itself ---- */

static enum hook_ret
service_info(struct hook_ev *ev)
{
	static const struct disco_identity id = { "conference", "text",
		"Chatrooms" };
	static const char *const feats[] = { NS_MUC, NS_MUC_UNIQUE,
		NS_DISCO_ITEMS, NS_PING, NS_OCCUPANT_ID, NULL };
	struct xml_node *q, *r = service_disco_info(ev, &id, feats, &q);

	if (r != NULL)
		stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

struct items_ctx {
	struct xml_node *q;
	long n;
};

static void
item_of(void *ud, struct muc_room *r)
{
	struct items_ctx *c = ud;
	struct xml_node *it;

	if (!r->cfg.public || r->locked || c->n >= 1000)
		return;
	it = xml_node_child(c->q, NULL, "item");
	xml_node_set_attr(it, "jid", r->jid);
	xml_node_set_attr(
	    it, "name", r->cfg.name && *r->cfg.name ? r->cfg.name : r->name);
	c->n++;
}

/* §6.3: the public rooms (hidden ones are not listed). */
static enum hook_ret
service_items(struct hook_ev *ev)
{
	struct muc_service *svc = muc_service(ev);
	struct items_ctx c = { 0 };
	struct xml_node *r = stanza_reply(ev);

	c.q = xml_node_child(r, NS_DISCO_ITEMS, "query");
	if (xml_node_attr(ev->payload, "node") == NULL)
		muc_rooms_each(svc, item_of, &c);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* §10.1.4: a room name nobody has. */
static enum hook_ret
service_unique(struct hook_ev *ev)
{
	struct muc_service *svc = muc_service(ev);
	struct xml_node *r, *u;
	char id[24];
	int tries;

	for (tries = 0; tries < 8; tries++) {
		size_t i;

		rand_id(id, sizeof(id));
		for (i = 0; id[i]; i++)
			if (id[i] >= 'A' && id[i] <= 'Z')
				id[i] = (char)(id[i] - 'A' + 'a');
			else if (id[i] == '_')
				id[i] = '-';
		if (muc_room_find(svc, id) == NULL)
			break;
	}
	r = stanza_reply(ev);
	u = xml_node_child(r, NS_MUC_UNIQUE, "unique");
	xml_node_text(u, id, strlen(id));
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static enum hook_ret
service_ping(struct hook_ev *ev)
{
	stanza_reply_result(ev);
	return HOOK_HANDLED;
}

/* ---- settings ---- */

static const struct cfg_directive muc_dirs[] = {
	{ .name = "max_rooms_per_user",
	    .type = CFG_INT,
	    .offset = offsetof(struct muc_cfg, max_rooms_per_user),
	    .def = "100",
	    .min = 1,
	    .max = 1000000,
	    .doc = "Rooms one user may have created (that still exist); "
		   "more gets policy-violation." },
	{ .name = "max_occupants",
	    .type = CFG_INT,
	    .offset = offsetof(struct muc_cfg, max_occupants),
	    .def = "1000",
	    .min = 1,
	    .max = 1000000,
	    .doc = "Most occupants a room may have, whatever its owner "
		   "sets as maximum users." },
	{ .name = "default_max_users",
	    .type = CFG_INT,
	    .offset = offsetof(struct muc_cfg, default_max_users),
	    .def = "200",
	    .min = 1,
	    .max = 1000000,
	    .doc = "Maximum users of a new room (muc#roomconfig_maxusers), "
		   "capped by max_occupants." },
	{ .name = "history_max",
	    .type = CFG_INT,
	    .offset = offsetof(struct muc_cfg, history_max),
	    .def = "20",
	    .min = 0,
	    .max = 1000,
	    .doc = "Messages a room keeps to send to those who join." },
	{ .name = "message_rate",
	    .type = CFG_INT,
	    .offset = offsetof(struct muc_cfg, msg_rate),
	    .def = "5",
	    .min = 1,
	    .max = 100000,
	    .doc = "Groupchat messages per second one occupant may send "
		   "(sustained); more gets resource-constraint." },
	{ .name = "message_burst",
	    .type = CFG_INT,
	    .offset = offsetof(struct muc_cfg, msg_burst),
	    .def = "20",
	    .min = 1,
	    .max = 100000,
	    .doc = "Groupchat messages one occupant may send at once "
		   "before message_rate applies." },
	{ .name = "max_subject",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct muc_cfg, max_subject),
	    .def = "1k",
	    .min = 1,
	    .max = 65536,
	    .doc = "Bytes of a room subject; longer gets policy-violation." },
	{ .name = "create_restricted",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct muc_cfg, create_restricted),
	    .def = "false",
	    .doc = "Only users of the host itself may create rooms "
		   "(others get not-allowed)." },
	{ .name = "archive_retention",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct muc_cfg, archive_retention),
	    .def = "policy",
	    .min = -1,
	    .max = 100LL * 366 * 86400,
	    .doc = "Age after which rooms' archived messages are deleted "
		   "(0: kept forever; policy: retention.muc_archive); one "
		   "expiry serves every service." },
	{ .name = "archive_page",
	    .type = CFG_INT,
	    .offset = offsetof(struct muc_cfg, archive_page),
	    .def = "100",
	    .min = 1,
	    .max = 1000,
	    .doc = "Most results one room archive query returns." },
	{ .name = NULL },
};

static const struct cfg_section muc_section = {
	.name = "muc",
	.dirs = muc_dirs,
	.size = sizeof(struct muc_cfg),
	.doc = "Settings of the muc (group chat) service.",
};

/* server/shutdown on this service's domain: its rooms' occupants are
 * told (332) while their streams are still open. */
static enum hook_ret
muc_on_shutdown(struct hook_ev *ev)
{
	struct muc_service *svc;
	struct muc_room *r;
	size_t i;

	for (svc = services; svc; svc = svc->next)
		if (strcmp(svc->domain, ev->to->domain) == 0)
			break;
	if (svc == NULL)
		return HOOK_CONTINUE;
	for (i = 0; i < MUC_BUCKETS; i++)
		for (r = svc->rooms[i]; r; r = r->next)
			muc_occ_shutdown(r);
	return HOOK_CONTINUE;
}

static const struct hook_reg muc_hooks[] = {
	{ "server/shutdown", muc_on_shutdown, 0 },
	{ "iq-get/host/" NS_DISCO_INFO ":query", service_info, 0 },
	{ "iq-get/host/" NS_DISCO_ITEMS ":query", service_items, 0 },
	{ "iq-get/host/" NS_MUC_UNIQUE ":unique", service_unique, 0 },
	{ "iq-get/host/" NS_PING ":ping", service_ping, 0 },
	{ "iq-get/bare/" NS_DISCO_INFO ":query", muc_room_info, 0 },
	{ "iq-get/bare/" NS_DISCO_ITEMS ":query", muc_room_items, 0 },
	{ "iq-get/bare/" NS_MUC_OWNER ":query", muc_owner_get, 0 },
	{ "iq-set/bare/" NS_MUC_OWNER ":query", muc_owner_set, 0 },
	{ "iq-get/bare/" NS_MUC_ADMIN ":query", muc_admin_get, 0 },
	{ "iq-set/bare/" NS_MUC_ADMIN ":query", muc_admin_set, 0 },
	{ "iq-get/full/" NS_PING ":ping", muc_self_ping, 0 },
	{ "iq-get/full/*", muc_iq_full, 0 },
	{ "iq-set/full/*", muc_iq_full, 0 },
	{ "iq-result/full", muc_iq_full, 0 },
	{ "iq-result/full/*", muc_iq_full, 0 },
	{ "iq-error/full", muc_iq_full, 0 },
	{ "iq-error/full/*", muc_iq_full, 0 },
	{ "iq-get/bare/jabber:iq:register:query", muc_register_get, 0 },
	{ "iq-set/bare/jabber:iq:register:query", muc_register_set, 0 },
	{ "iq-get/bare/vcard-temp:vCard", muc_vcard_get, 0 },
	{ "iq-set/bare/vcard-temp:vCard", muc_vcard_set, 0 },
	{ "iq-set/bare/urn:xmpp:mam:2:query", muc_mam_query, 0 },
	{ "iq-get/bare/urn:xmpp:mam:2:query", muc_mam_form, 0 },
	{ "iq-set/bare/urn:xmpp:message-moderate:1:moderate", muc_moderate, 0 },
	{ "presence/bare", muc_presence_bare, 0 },
	{ "presence/full", muc_presence, 0 },
	{ "message/bare", muc_message, 0 },
	{ "message/full", muc_message_full, 0 },
	HOOK_REG_END,
};

const struct module mod_muc = {
	.name = "muc",
	.spec = "XEP-0045, XEP-0421, XEP-0410, XEP-0128, XEP-0313, XEP-0359, "
		"XEP-0425",
	.doc = "Group chat rooms on a service domain (services: list, e.g. "
	       "conference.<host>).",
	.kinds = MODULE_ON_SERVICE,
	.service_hooks = muc_hooks,
	.config = &muc_section,
};

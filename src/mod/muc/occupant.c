/* src/mod/muc/occupant.c: occupants (XEP-0045 §7): entering a room
 * (§7.2, with the errors of §7.2.5-7.2.10), leaving (§7.14), changing
 * nick (§7.6) or availability (§7.7), the presence every occupant gets
 * with its status codes (§15.2.2: 100, 110, 170, 201, 210, 303, 307, 321,
 * 322, 332 when ternd stops...), several sessions of one user under one nick,
 * XEP-0421 occupant ids and XEP-0410 self-pings. The sessions of an occupant
 * are real full JIDs; the unavailable presence the presence module sends for a
 * session that ends (RFC 6121 §4.6.3, directed presence) is what takes it out
 * of its rooms. */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mod/muc/muc.h"

struct muc_occupant *
muc_occ_by_nick(const struct muc_room *r, const char *nick)
{
	size_t i;

	for (i = 0; i < r->nocc; i++)
		if (strcmp(r->occ[i]->nick, nick) == 0)
			return r->occ[i];
	return NULL;
}

struct muc_occupant *
muc_occ_by_jid(const struct muc_room *r, const char *full)
{
	size_t i, j;

	for (i = 0; i < r->nocc; i++)
		for (j = 0; j < r->occ[i]->nsess; j++)
			if (strcmp(r->occ[i]->sess[j].jid, full) == 0)
				return r->occ[i];
	return NULL;
}

int
muc_default_role(const struct muc_room *r, int aff)
{
	if (aff >= AFF_ADMIN)
		return ROLE_MODERATOR;
	if (aff == AFF_OUTCAST)
		return ROLE_NONE;
	if (r->cfg.moderated && aff < AFF_MEMBER)
		return ROLE_VISITOR;
	return ROLE_PARTICIPANT;
}

int
muc_sees_jids(const struct muc_room *r, const struct muc_occupant *o)
{
	return r->cfg.whois == WHOIS_ANYONE || o->role == ROLE_MODERATOR;
}

/* XEP-0421 §4: the same for one user in one room, unlinkable across
 * rooms and services: HMAC-SHA-256 of the room and the bare JID under
 * the service's secret. */
void
muc_occupant_id(const struct muc_room *r, const char *bare, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t rl = strlen(r->jid), bl = strlen(bare);
	unsigned char *msg = xmalloc(rl + 1 + bl);

	memcpy(msg, r->jid, rl);
	msg[rl] = '\0';
	memcpy(msg + rl + 1, bare, bl);
	HMAC(EVP_sha256(), r->svc->secret, sizeof(r->svc->secret), msg,
	    rl + 1 + bl, mac, &maclen);
	free(msg);
	b64_encode(mac, 18, out); /* 24 characters */
}

void
muc_occ_free(struct muc_occupant *o)
{
	size_t i;

	if (o == NULL)
		return;
	for (i = 0; i < o->nsess; i++)
		free(o->sess[i].jid);
	free(o->sess);
	xml_node_free(o->pres);
	free(o->nick);
	free(o->bare);
	free(o);
}

/* The presence payload an occupant sent, kept without what the room
 * sets itself (its MUC elements, an occupant id it claimed). */
static void
keep_presence(struct muc_occupant *o, const struct xml_node *st)
{
	struct xml_node *c;

	xml_node_free(o->pres);
	o->pres = xml_node_new(XML_NS_CLIENT, "presence");
	for (c = xml_node_first_el(st); c; c = xml_node_next_el(c)) {
		if (strcmp(c->ns, NS_MUC) == 0 ||
		    strcmp(c->ns, NS_MUC_USER) == 0 ||
		    strcmp(c->ns, NS_OCCUPANT_ID) == 0 ||
		    strcmp(c->name, "error") == 0)
			continue;
		xml_node_copy_into(o->pres, c);
	}
}

struct pres_opts {
	int unavailable;
	const int *codes;      /* for everyone */
	const int *self_codes; /* for the occupant's own sessions */
	const char *new_nick;  /* 303 */
	const char *actor;     /* nick of who did it (307, 301) */
	const char *reason;
	const char *destroy_alt; /* §10.9 */
	int destroy;
};

static void
add_codes(struct xml_node *x, const int *codes)
{
	char num[8];

	for (; codes && *codes; codes++) {
		snprintf(num, sizeof(num), "%d", *codes);
		xml_node_set_attr(
		    xml_node_child(x, NULL, "status"), "code", num);
	}
}

/* o's presence as one viewer sees it: with the real JID or not, and as
 * its own (110) or another's. */
static struct xml_node *
occ_presence(struct muc_room *r, const struct muc_occupant *o,
    const struct pres_opts *po, int with_jid, int self)
{
	struct xml_node *p = xml_node_new(XML_NS_CLIENT, "presence");
	struct xml_node *x, *item, *c;

	xml_node_set_attr(p, "from", muc_nick_jid(p, r, o->nick));
	if (po->unavailable) {
		xml_node_set_attr(p, "type", "unavailable");
	} else if (o->pres) {
		for (c = xml_node_first_el(o->pres); c; c = xml_node_next_el(c))
			xml_node_copy_into(p, c);
	}
	x = xml_node_child(p, NS_MUC_USER, "x");
	if (po->destroy) {
		struct xml_node *d = xml_node_child(x, NULL, "destroy");

		if (po->destroy_alt)
			xml_node_set_attr(d, "jid", po->destroy_alt);
		if (po->reason)
			xml_node_text(xml_node_child(d, NULL, "reason"),
			    po->reason, strlen(po->reason));
	}
	item = xml_node_child(x, NULL, "item");
	xml_node_set_attr(
	    item, "affiliation", muc_aff_name(muc_aff_of(r, o->bare)));
	xml_node_set_attr(
	    item, "role", po->unavailable ? "none" : muc_role_name(o->role));
	if (with_jid && o->nsess > 0)
		xml_node_set_attr(item, "jid", o->sess[0].jid);
	if (po->new_nick)
		xml_node_set_attr(item, "nick", po->new_nick);
	if (po->actor)
		xml_node_set_attr(
		    xml_node_child(item, NULL, "actor"), "nick", po->actor);
	if (po->reason && !po->destroy)
		xml_node_text(xml_node_child(item, NULL, "reason"), po->reason,
		    strlen(po->reason));
	if (self)
		add_codes(x, po->self_codes);
	add_codes(x, po->codes);
	if (self) {
		static const int c110[] = { 110, 0 };

		add_codes(x, c110);
	}
	xml_node_set_attr(xml_node_child(p, NS_OCCUPANT_ID, "occupant-id"),
	    "id", o->occupant_id);
	return p;
}

/* The three shapes of o's presence (another's without JID, another's
 * with JID, its own), each serialised once, sent to every session in
 * the room; only_to limits it to one session (a second session's
 * entry, a session leaving a multi-session nick). */
static void
broadcast(struct muc_room *r, struct muc_occupant *o,
    const struct pres_opts *po, const char *only_to)
{
	struct xml_node *n[3] = { NULL, NULL, NULL };
	struct muc_out out[3];
	size_t i, j;

	for (i = 0; i < r->nocc; i++) {
		struct muc_occupant *v = r->occ[i];
		int shape = v == o ? 2 : muc_sees_jids(r, v) ? 1 : 0;

		for (j = 0; j < v->nsess; j++) {
			if (only_to && strcmp(only_to, v->sess[j].jid) != 0)
				continue;
			if (n[shape] == NULL) {
				n[shape] = occ_presence(
				    r, o, po, shape != 0, shape == 2);
				muc_out_init(&out[shape], n[shape]);
			}
			muc_out_send(&out[shape], v->sess[j].jid);
		}
	}
	/* a leaving occupant is no longer in the list: it gets its own */
	if (n[2] == NULL && (only_to || muc_occ_by_nick(r, o->nick) != o)) {
		n[2] = occ_presence(r, o, po, 1, 1);
		muc_out_init(&out[2], n[2]);
		for (j = 0; j < o->nsess; j++)
			if (!only_to || strcmp(only_to, o->sess[j].jid) == 0)
				muc_out_send(&out[2], o->sess[j].jid);
	}
	for (i = 0; i < 3; i++) {
		if (n[i] == NULL)
			continue;
		muc_out_cleanup(&out[i]);
		xml_node_free(n[i]);
	}
}

void
muc_broadcast_presence(
    struct muc_room *r, struct muc_occupant *o, const int *codes)
{
	struct pres_opts po = { 0 };

	po.codes = codes;
	broadcast(r, o, &po, NULL);
}

static void
occ_unlink(struct muc_room *r, struct muc_occupant *o)
{
	size_t i;

	for (i = 0; i < r->nocc; i++) {
		if (r->occ[i] == o) {
			memmove(&r->occ[i], &r->occ[i + 1],
			    (r->nocc - i - 1) * sizeof(*r->occ));
			r->nocc--;
			return;
		}
	}
}

static void
occ_remove_full(
    struct muc_room *r, struct muc_occupant *o, struct pres_opts *po)
{
	po->unavailable = 1;
	occ_unlink(r, o);
	broadcast(r, o, po, NULL);
	log_debug("muc %s: %s left", r->jid, o->nick);
	muc_occ_free(o);
}

void
muc_occ_remove(struct muc_room *r, struct muc_occupant *o, const int *codes,
    const char *actor, const char *reason)
{
	struct pres_opts po = { 0 };

	po.codes = codes;
	po.actor = actor;
	po.reason = reason;
	occ_remove_full(r, o, &po);
}

void
muc_occ_shutdown(struct muc_room *r)
{
	static const int c332[] = { 332, 0 };
	struct pres_opts po = { 0 };
	size_t i, j;

	po.unavailable = 1;
	po.codes = c332;
	po.reason = "The service is shutting down";
	for (i = 0; i < r->nocc; i++)
		for (j = 0; j < r->occ[i]->nsess; j++)
			broadcast(r, r->occ[i], &po, r->occ[i]->sess[j].jid);
	while (r->nocc > 0) {
		struct muc_occupant *o = r->occ[r->nocc - 1];

		occ_unlink(r, o);
		muc_occ_free(o);
	}
}

/* §10.9: everyone leaves a room being destroyed. */
void
muc_destroy(struct muc_room *r, const char *alt, const char *reason,
    const char *password)
{
	struct pres_opts po = { 0 };

	UNUSED(password);
	po.destroy = 1;
	po.destroy_alt = alt;
	po.reason = reason;
	while (r->nocc > 0)
		occ_remove_full(r, r->occ[r->nocc - 1], &po);
	log_info("muc %s: room destroyed", r->jid);
	muc_room_destroy(r);
}

static void
send_others_to(
    struct muc_room *r, const struct muc_occupant *self, const char *to)
{
	int sees = muc_sees_jids(r, self);
	struct pres_opts po = { 0 };
	size_t i;

	for (i = 0; i < r->nocc; i++) {
		if (r->occ[i] == self)
			continue;
		muc_send(occ_presence(r, r->occ[i], &po, sees, 0), to);
	}
}

/* A session that is in the room already (another of a multi-session
 * nick, or one entering again after a reconnection its room never
 * heard of) gets the room as on a first entry: the others' presence,
 * its own (110), the history and the subject; the others see nothing
 * new. */
static void
enter_again(struct hook_ev *ev, struct muc_room *r, struct muc_occupant *o)
{
	struct xml_node *x = xml_node_find(ev->stanza, NS_MUC, "x");
	struct pres_opts po = { 0 };
	int sc[3] = { 0, 0, 0 }, k = 0;

	send_others_to(r, o, ev->from->full);
	if (r->cfg.whois == WHOIS_ANYONE)
		sc[k++] = 100;
	if (muc_archive_on(r))
		sc[k++] = 170;
	po.self_codes = sc;
	broadcast(r, o, &po, ev->from->full);
	muc_send_history(
	    r, ev->from->full, x ? xml_node_find(x, NS_MUC, "history") : NULL);
	muc_send_subject(r, ev->from->full);
}

/* Did preparing the nick (resourceprep: case kept, but width, ligatures
 * and the like folded) change what the client asked for? Then the
 * service says so (status 210) and the client takes the nick it
 * gets. */
static int
nick_prepared(const struct hook_ev *ev)
{
	const char *to = xml_node_attr(ev->stanza, "to");
	const char *slash = to ? strchr(to, '/') : NULL;

	return slash && ev->to->resource &&
	       strcmp(slash + 1, ev->to->resource) != 0;
}

/* Is the sender a local account on probation (antispam)? */
static int
on_probation(const struct hook_ev *ev)
{
	struct host *h = host_find(ev->from->domain);
	struct hook_ev pev = { 0 };

	if (h == NULL || ev->from->node == NULL)
		return 0;
	pev.host = h;
	pev.user = ev->from->node;
	return hook_fire(h->hooks, "account/probation", &pev) == HOOK_HANDLED;
}

/* §7.2: enter room r (NULL: create it) as nick. */
static void
join(struct hook_ev *ev, struct muc_service *svc, struct muc_room *r)
{
	const struct muc_cfg *mc = muc_cfg(ev);
	const char *nick = ev->to->resource, *bare = ev->from->bare;
	struct xml_node *x = xml_node_find(ev->stanza, NS_MUC, "x");
	struct muc_occupant *o;
	int created = 0, aff, self_codes[5], nsc = 0;

	if (r == NULL) {
		/* §10.1.1: a new room; its creator owns it */
		if (mc->create_restricted &&
		    host_find(ev->from->domain) == NULL) {
			muc_error(ev, "cancel", "not-allowed",
			    "Only local users may create rooms");
			return;
		}
		if (on_probation(ev)) {
			muc_error(ev, "cancel", "policy-violation",
			    "New accounts may not create rooms yet");
			return;
		}
		if (muc_rooms_of(svc, bare) >= mc->max_rooms_per_user) {
			muc_error(ev, "cancel", "policy-violation",
			    "You have created too many rooms");
			return;
		}
		r = muc_room_new(svc, ev->to->node, bare);
		r->cfg.max_users = mc->default_max_users < mc->max_occupants
				       ? mc->default_max_users
				       : mc->max_occupants;
		/* a client that speaks MUC configures the room first;
		 * one that does not gets an instant room (§10.1.1) */
		r->locked = x != NULL;
		muc_aff_set(r, bare, AFF_OWNER, NULL);
		created = 1;
		log_info("muc %s: created by %s", r->jid, bare);
	}
	aff = muc_aff_of(r, bare);
	if (r->locked && aff != AFF_OWNER) {
		/* §10.1.1: nobody enters before the owner configured it */
		muc_error(ev, "cancel", "item-not-found",
		    "The room is being created");
		return;
	}
	if (aff == AFF_OUTCAST) {
		muc_error(ev, "auth", "forbidden", "You are banned");
		return;
	}
	if (r->cfg.members_only && aff < AFF_MEMBER) {
		muc_error(ev, "auth", "registration-required",
		    "The room is members-only");
		return;
	}
	o = muc_occ_by_nick(r, nick);
	if ((o && strcmp(o->bare, bare) != 0) ||
	    (muc_nick_owner(r, nick) &&
		strcmp(muc_nick_owner(r, nick), bare) != 0)) {
		/* §7.2.9: in use, or registered by someone else */
		muc_error(ev, "cancel", "conflict", "That nickname is taken");
		return;
	}
	if (r->cfg.password_protected && !created && aff != AFF_OWNER) {
		struct xml_node *pw =
		    x ? xml_node_find(x, NS_MUC, "password") : NULL;

		if (pw == NULL || r->cfg.password == NULL ||
		    strcmp(xml_node_text_get(pw), r->cfg.password) != 0) {
			muc_error(ev, "auth", "not-authorized",
			    "A password is required");
			return;
		}
	}
	if (o == NULL && aff < AFF_ADMIN &&
	    ((long long)r->nocc >= r->cfg.max_users ||
		(long long)r->nocc >= mc->max_occupants)) {
		muc_error(
		    ev, "wait", "service-unavailable", "The room is full");
		return;
	}
	if (o) {
		/* another session of the same user under the same nick:
		 * it gets the room as the first did; the others see
		 * nothing new */
		if (o->nsess >= 64) {
			muc_error(ev, "wait", "resource-constraint",
			    "Too many sessions under this nickname");
			return;
		}
		o->sess = xrealloc(o->sess, (o->nsess + 1) * sizeof(*o->sess));
		o->sess[o->nsess++].jid = xstrdup(ev->from->full);
		enter_again(ev, r, o);
		return;
	}
	o = xcalloc(1, sizeof(*o));
	o->nick = xstrdup(nick);
	o->bare = xstrdup(bare);
	o->sess = xcalloc(1, sizeof(*o->sess));
	o->sess[0].jid = xstrdup(ev->from->full);
	o->nsess = 1;
	o->role = muc_default_role(r, aff);
	o->tokens = (double)mc->msg_burst;
	o->tokens_at = now_ms();
	muc_occupant_id(r, bare, o->occupant_id);
	keep_presence(o, ev->stanza);
	send_others_to(r, o, ev->from->full);
	r->occ = xrealloc(r->occ, (r->nocc + 1) * sizeof(*r->occ));
	r->occ[r->nocc++] = o;
	if (r->cfg.whois == WHOIS_ANYONE)
		self_codes[nsc++] = 100; /* §7.2.3 */
	if (muc_archive_on(r))
		self_codes[nsc++] = 170; /* §7.2.12: the room is logged */
	if (created)
		self_codes[nsc++] = 201; /* §10.1.1 */
	if (nick_prepared(ev))
		self_codes[nsc++] = 210; /* §7.2.11 */
	self_codes[nsc] = 0;
	{
		struct pres_opts po = { 0 };

		po.self_codes = self_codes;
		broadcast(r, o, &po, NULL);
	}
	log_debug("muc %s: %s joined as %s", r->jid, ev->from->full, nick);
	/* §7.2.16: the subject ends the entry, in a new locked room too
	 * (clients wait for it: slixmpp's join_muc_wait) */
	muc_send_history(
	    r, ev->from->full, x ? xml_node_find(x, NS_MUC, "history") : NULL);
	muc_send_subject(r, ev->from->full);
}

/* full leaves o; the room ends with its last occupant at once, or with
 * later set when the caller still holds r (a broadcast that found the
 * session gone). */
static void
leave_session(
    struct muc_room *r, struct muc_occupant *o, const char *full, int later)
{
	struct pres_opts po = { 0 };
	size_t j;

	if (o->nsess > 1) {
		/* one session of a multi-session nick goes; the nick stays */
		po.unavailable = 1;
		broadcast(r, o, &po, full);
		for (j = 0; j < o->nsess; j++) {
			if (strcmp(o->sess[j].jid, full) == 0) {
				free(o->sess[j].jid);
				o->sess[j] = o->sess[--o->nsess];
				break;
			}
		}
		return;
	}
	po.unavailable = 1;
	occ_remove_full(r, o, &po);
	if (later)
		muc_room_gc_later(r);
	else
		muc_room_gc(r);
}

void
muc_occ_gone(struct muc_room *r, const char *full)
{
	struct muc_occupant *o = muc_occ_by_jid(r, full);

	if (o)
		leave_session(r, o, full, 1);
}

/* §7.6: o becomes nick. */
static void
change_nick(struct hook_ev *ev, struct muc_room *r, struct muc_occupant *o)
{
	const char *nick = ev->to->resource;
	static const int c303[] = { 303, 0 };
	struct pres_opts po = { 0 };

	if (muc_occ_by_nick(r, nick) ||
	    (muc_nick_owner(r, nick) &&
		strcmp(muc_nick_owner(r, nick), o->bare) != 0)) {
		muc_error(ev, "cancel", "conflict", "That nickname is taken");
		return;
	}
	po.unavailable = 1;
	po.codes = c303;
	po.new_nick = nick;
	broadcast(r, o, &po, NULL);
	free(o->nick);
	o->nick = xstrdup(nick);
	keep_presence(o, ev->stanza);
	muc_broadcast_presence(r, o, NULL);
}

/* Presence to room@service/nick (§7.2, §7.6, §7.7, §7.14). */
enum hook_ret
muc_presence(struct hook_ev *ev)
{
	struct muc_service *svc = muc_service(ev);
	struct muc_room *r = muc_room_find(svc, ev->to->node);
	struct muc_occupant *o = r ? muc_occ_by_jid(r, ev->from->full) : NULL;

	if (ev->stype == STANZA_TYPE_UNAVAILABLE) {
		if (o)
			leave_session(r, o, ev->from->full, 0);
		return HOOK_HANDLED;
	}
	if (ev->stype == STANZA_TYPE_ERROR && o) {
		/* the occupant's server says it is gone (§7.14 ghosts) */
		leave_session(r, o, ev->from->full, 0);
		return HOOK_HANDLED;
	}
	if (ev->stype != STANZA_TYPE_NONE)
		return HOOK_HANDLED; /* subscriptions and probes: nothing */
	if (o == NULL) {
		join(ev, svc, r);
		return HOOK_HANDLED;
	}
	if (strcmp(o->nick, ev->to->resource) != 0) {
		change_nick(ev, r, o);
		return HOOK_HANDLED;
	}
	keep_presence(o, ev->stanza); /* §7.7 */
	if (xml_node_find(ev->stanza, NS_MUC, "x")) {
		/* a join from a session already in: it enters again */
		enter_again(ev, r, o);
		return HOOK_HANDLED;
	}
	muc_broadcast_presence(r, o, NULL);
	return HOOK_HANDLED;
}

/* §7.2.1: entering needs a nick. */
enum hook_ret
muc_presence_bare(struct hook_ev *ev)
{
	if (ev->stype == STANZA_TYPE_NONE)
		muc_error(ev, "modify", "jid-malformed",
		    "A nickname is required to enter a room");
	return HOOK_HANDLED;
}

/* XEP-0410 §3: a ping to one's own occupant JID says whether one is
 * still in the room. */
enum hook_ret
muc_self_ping(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct muc_occupant *o = r ? muc_occ_by_jid(r, ev->from->full) : NULL;

	if (o == NULL) {
		stanza_reply_error(
		    ev, "cancel", "not-acceptable", "You are not in the room");
		return HOOK_HANDLED;
	}
	if (strcmp(o->nick, ev->to->resource) == 0) {
		stanza_reply_result(ev);
		return HOOK_HANDLED;
	}
	return muc_iq_full(ev); /* another occupant's: relayed */
}

/* src/mod/muc/admin.c: the muc#admin protocol (XEP-0045 §8, §9,
 * §10.3-10.8): moderators kick (§8.2) and give or take voice (§8.3,
 * §8.4); admins ban (§9.1), manage members (§9.3-9.5) and moderators
 * (§9.6-9.8); owners manage owners and admins (§10.3-10.8). A request
 * is checked whole before any item of it applies. */
#include "mod/muc/muc.h"

struct change {
	struct xml_node *item;
	struct muc_occupant *target; /* role changes; NULL for affs */
	char *bare;		     /* affiliation changes */
	int role, aff;		     /* -1: not this kind */
	const char *reason;
};

/* Who may see which list (§8.5, §9.5, §9.8, §10.5, §10.8): roles to
 * moderators; affiliations to admins, and in a non-anonymous room the
 * member, admin and owner lists to its members too (XEP-0384 clients
 * fetch them to encrypt to every member). */
static int
may_list(const struct muc_room *r, const struct muc_occupant *o, int aff,
    int list_aff, int list_role)
{
	if (list_role >= 0)
		return o && o->role == ROLE_MODERATOR;
	if (aff >= AFF_ADMIN)
		return 1;
	return list_aff >= AFF_MEMBER && r->cfg.whois == WHOIS_ANYONE &&
	       aff >= AFF_MEMBER;
}

enum hook_ret
muc_admin_get(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct muc_occupant *o;
	struct xml_node *item, *rep, *q;
	int la = -1, lr = -1;
	size_t i;

	if (r == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	item = xml_node_find(ev->payload, NULL, "item");
	if (item && xml_node_attr(item, "affiliation"))
		la = muc_aff_parse(xml_node_attr(item, "affiliation"));
	else if (item && xml_node_attr(item, "role"))
		lr = muc_role_parse(xml_node_attr(item, "role"));
	if ((la < 0 && lr < 0) || la == AFF_NONE || lr == ROLE_NONE) {
		stanza_reply_error(ev, "modify", "bad-request", NULL);
		return HOOK_HANDLED;
	}
	o = muc_occ_by_jid(r, ev->from->full);
	if (!may_list(r, o, muc_aff_of(r, ev->from->bare), la, lr)) {
		stanza_reply_error(ev, "auth", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	rep = stanza_reply(ev);
	q = xml_node_child(rep, NS_MUC_ADMIN, "query");
	if (la >= 0) {
		for (i = 0; i < r->naffs; i++) {
			struct xml_node *it;

			if (r->affs[i].aff != la)
				continue;
			it = xml_node_child(q, NULL, "item");
			xml_node_set_attr(it, "affiliation", muc_aff_name(la));
			xml_node_set_attr(it, "jid", r->affs[i].jid);
			if (r->affs[i].nick)
				xml_node_set_attr(it, "nick", r->affs[i].nick);
			if (r->affs[i].reason)
				xml_node_text(
				    xml_node_child(it, NULL, "reason"),
				    r->affs[i].reason,
				    strlen(r->affs[i].reason));
		}
	} else {
		for (i = 0; i < r->nocc; i++) {
			struct muc_occupant *t = r->occ[i];
			struct xml_node *it;

			if (t->role != lr)
				continue;
			it = xml_node_child(q, NULL, "item");
			xml_node_set_attr(it, "role", muc_role_name(lr));
			xml_node_set_attr(it, "nick", t->nick);
			xml_node_set_attr(it, "affiliation",
			    muc_aff_name(muc_aff_of(r, t->bare)));
			if (t->nsess)
				xml_node_set_attr(it, "jid", t->sess[0].jid);
		}
	}
	stanza_reply_send(ev, rep);
	return HOOK_HANDLED;
}

/* May an actor of affiliation aff and role role make this change?
 * Returns NULL, or the condition of the refusal. */
static const char *
check_role(const struct muc_room *r, int aff, int role, const struct change *c)
{
	int taff = muc_aff_of(r, c->target->bare);

	if (role != ROLE_MODERATOR)
		return "forbidden";
	if (c->role == ROLE_MODERATOR || c->target->role == ROLE_MODERATOR) {
		/* §9.6, §9.7: moderators are made and unmade by admins */
		if (aff < AFF_ADMIN)
			return "forbidden";
	}
	/* §8.2, §8.4: nobody touches the role of an admin or owner except
	 * one of higher affiliation */
	if (taff >= AFF_ADMIN && taff >= aff)
		return "not-allowed";
	return NULL;
}

static const char *
check_aff(const struct muc_room *r, int aff, const struct change *c)
{
	int taff = muc_aff_of(r, c->bare);

	if (aff < AFF_ADMIN)
		return "forbidden";
	if (aff == AFF_OWNER)
		return NULL;
	/* §9: an admin manages members and outcasts below it */
	if (c->aff >= AFF_ADMIN || taff >= AFF_ADMIN)
		return "not-allowed";
	return NULL;
}

static int
parse_change(const struct muc_room *r, struct xml_node *item, struct change *c)
{
	const char *a = xml_node_attr(item, "affiliation");
	const char *ro = xml_node_attr(item, "role");
	const char *nick = xml_node_attr(item, "nick");
	const char *jid = xml_node_attr(item, "jid");
	struct xml_node *reason = xml_node_find(item, NULL, "reason");

	memset(c, 0, sizeof(*c));
	c->item = item;
	c->role = c->aff = -1;
	c->reason = reason ? xml_node_text_get(reason) : NULL;
	if (a) {
		struct jid j;

		c->aff = muc_aff_parse(a);
		if (c->aff < 0)
			return -1;
		if (jid) {
			if (jid_parse_str(&j, jid) != 0)
				return -2;
			c->bare = xstrdup(j.bare);
			jid_cleanup(&j);
		} else if (nick && muc_occ_by_nick(r, nick)) {
			c->bare = xstrdup(muc_occ_by_nick(r, nick)->bare);
		} else {
			return -1;
		}
		return 0;
	}
	if (ro) {
		c->role = muc_role_parse(ro);
		if (c->role < 0 || nick == NULL)
			return -1;
		c->target = muc_occ_by_nick(r, nick);
		return c->target ? 0 : -3;
	}
	return -1;
}

static void
apply_role(struct muc_room *r, struct change *c, const char *actor)
{
	if (c->role == ROLE_NONE) {
		static const int c307[] = { 307, 0 };

		muc_occ_remove(r, c->target, c307, actor, c->reason);
		return;
	}
	if (c->target->role == c->role)
		return;
	c->target->role = c->role;
	muc_broadcast_presence(r, c->target, NULL);
}

/* After a's affiliation changed: occupants with that bare JID leave
 * (banned 301, no longer members 321) or see their role follow. */
static void
apply_aff(struct muc_room *r, struct change *c, const char *actor)
{
	size_t i;

	muc_aff_set(r, c->bare, c->aff, c->reason);
	for (i = r->nocc; i-- > 0;) {
		struct muc_occupant *t = r->occ[i];

		if (i >= r->nocc || strcmp(t->bare, c->bare) != 0)
			continue;
		if (c->aff == AFF_OUTCAST) {
			static const int c301[] = { 301, 0 };

			muc_occ_remove(r, t, c301, actor, c->reason);
		} else if (r->cfg.members_only && c->aff < AFF_MEMBER) {
			static const int c321[] = { 321, 0 };

			muc_occ_remove(r, t, c321, actor, c->reason);
		} else {
			int role = muc_default_role(r, c->aff);

			if (t->role == ROLE_MODERATOR && c->aff < AFF_ADMIN &&
			    role < ROLE_MODERATOR)
				t->role = role;
			else if (role > t->role)
				t->role = role;
			else if (c->aff >= AFF_ADMIN)
				t->role = ROLE_MODERATOR;
			muc_broadcast_presence(r, t, NULL);
		}
	}
}

enum hook_ret
muc_admin_set(struct hook_ev *ev)
{
	struct muc_service *svc = muc_service(ev);
	struct muc_room *r = muc_room_find(svc, ev->to->node);
	struct muc_occupant *o;
	struct change cs[32];
	struct xml_node *item;
	char *actor = NULL, *name;
	const char *why = NULL;
	int aff, role, owners;
	size_t n = 0, i;

	if (r == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	o = muc_occ_by_jid(r, ev->from->full);
	aff = muc_aff_of(r, ev->from->bare);
	role = o ? o->role : ROLE_NONE;
	owners = (int)muc_aff_count(r, AFF_OWNER);
	for (item = xml_node_first_el(ev->payload); item;
	     item = xml_node_next_el(item)) {
		int rc;

		if (strcmp(item->name, "item") != 0)
			continue;
		if (n == ARRAY_LEN(cs)) {
			why = "resource-constraint";
			break;
		}
		rc = parse_change(r, item, &cs[n]);
		n++;
		if (rc == -2) {
			why = "jid-malformed";
			break;
		}
		if (rc == -3) {
			why = "item-not-found";
			break;
		}
		if (rc < 0) {
			why = "bad-request";
			break;
		}
		if (cs[n - 1].target)
			why = check_role(r, aff, role, &cs[n - 1]);
		else
			why = check_aff(r, aff, &cs[n - 1]);
		if (why)
			break;
		if (cs[n - 1].aff >= 0 &&
		    muc_aff_of(r, cs[n - 1].bare) == AFF_OWNER &&
		    cs[n - 1].aff != AFF_OWNER && --owners < 1) {
			/* §10.6: a room keeps an owner */
			why = "conflict";
			break;
		}
	}
	if (why == NULL && n == 0)
		why = "bad-request";
	if (why) {
		const char *type = strcmp(why, "forbidden") == 0 ? "auth"
				   : strcmp(why, "not-allowed") == 0 ||
					   strcmp(why, "item-not-found") == 0 ||
					   strcmp(why, "conflict") == 0
				       ? "cancel"
				   : strcmp(why, "resource-constraint") == 0
				       ? "wait"
				       : "modify";

		stanza_reply_error(ev, type, why, NULL);
		goto out;
	}
	stanza_reply_result(ev);
	actor = o ? xstrdup(o->nick) : NULL;
	name = xstrdup(r->name);
	for (i = 0; i < n; i++) {
		/* a kick may end the room: find it and the target again */
		r = muc_room_find(svc, name);
		if (r == NULL)
			break;
		if (cs[i].target) {
			cs[i].target = muc_occ_by_nick(
			    r, xml_node_attr(cs[i].item, "nick"));
			if (cs[i].target)
				apply_role(r, &cs[i], actor);
		} else {
			apply_aff(r, &cs[i], actor);
		}
	}
	free(name);
	r = muc_room_find(svc, ev->to->node);
	if (r)
		muc_room_gc(r);
out:
	free(actor);
	for (i = 0; i < n; i++)
		free(cs[i].bare);
	return HOOK_HANDLED;
}

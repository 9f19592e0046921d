/* src/mod/muc/register.c: registering with a room (XEP-0045 §7.10): a
 * user reserves a nick and becomes a member, so the nick stays theirs
 * (others entering with it get conflict, §7.2.9); §7.12: a client asks
 * for its reserved nick with disco#info node x-roomuser-item. The nick
 * is kept with the affiliation. */
#include "mod/muc/muc.h"

#define NS_REGISTER "jabber:iq:register"
#define FORM_REGISTER "http://jabber.org/protocol/muc#register"

enum hook_ret
muc_register_get(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	const char *nick;
	struct xml_node *rep, *qy, *x, *f;

	if (r == NULL || r->locked) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	rep = stanza_reply(ev);
	qy = xml_node_child(rep, NS_REGISTER, "query");
	nick = muc_reserved_nick(r, ev->from->bare);
	if (nick) {
		/* §7.10.1: already registered */
		xml_node_child(qy, NULL, "registered");
		xml_node_text(
		    xml_node_child(qy, NULL, "username"), nick, strlen(nick));
		stanza_reply_send(ev, rep);
		return HOOK_HANDLED;
	}
	xml_node_text(xml_node_child(qy, NULL, "instructions"),
	    "Choose your nickname in this room", 33);
	x = xml_node_child(qy, NS_XDATA, "x");
	xml_node_set_attr(x, "type", "form");
	f = xml_node_child(x, NULL, "field");
	xml_node_set_attr(f, "var", "FORM_TYPE");
	xml_node_set_attr(f, "type", "hidden");
	xml_node_text(xml_node_child(f, NULL, "value"), FORM_REGISTER,
	    strlen(FORM_REGISTER));
	f = xml_node_child(x, NULL, "field");
	xml_node_set_attr(f, "var", "muc#register_roomnick");
	xml_node_set_attr(f, "type", "text-single");
	xml_node_set_attr(f, "label", "Nickname");
	xml_node_child(f, NULL, "required");
	stanza_reply_send(ev, rep);
	return HOOK_HANDLED;
}

/* The occupants of bare see their new affiliation (§9.3-9.4); in a
 * members-only room one who is no member leaves (321). */
static void
announce(struct muc_room *r, const char *bare)
{
	static const int c321[] = { 321, 0 };
	size_t i;

	for (i = r->nocc; i-- > 0;) {
		struct muc_occupant *o = r->occ[i];

		if (strcmp(o->bare, bare) != 0)
			continue;
		if (r->cfg.members_only && muc_aff_of(r, bare) < AFF_MEMBER)
			muc_occ_remove(r, o, c321, NULL, NULL);
		else
			muc_broadcast_presence(r, o, NULL);
	}
}

static const char *
submitted_nick(const struct xml_node *q)
{
	struct xml_node *x = xml_node_find(q, NS_XDATA, "x"), *f;

	for (f = x ? xml_node_first_el(x) : NULL; f; f = xml_node_next_el(f)) {
		const char *var = xml_node_attr(f, "var");
		struct xml_node *v;

		if (var == NULL || strcmp(var, "muc#register_roomnick") != 0)
			continue;
		v = xml_node_find(f, NULL, "value");
		return v ? xml_node_text_get(v) : NULL;
	}
	return NULL;
}

enum hook_ret
muc_register_set(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	const char *bare = ev->from->bare, *nick, *owner;
	char prepped[JID_PART_MAX + 1];
	int aff;

	if (r == NULL || r->locked) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	aff = muc_aff_of(r, bare);
	if (aff == AFF_OUTCAST) {
		stanza_reply_error(ev, "auth", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	if (xml_node_find(ev->payload, NULL, "remove")) {
		/* §7.10.2 (XEP-0077 §3.2): cancel the registration */
		muc_aff_set_nick(r, bare, NULL);
		stanza_reply_result(ev);
		if (aff == AFF_MEMBER) {
			muc_aff_set(r, bare, AFF_NONE, NULL);
			announce(r, bare);
			muc_room_gc(r);
		}
		return HOOK_HANDLED;
	}
	nick = submitted_nick(ev->payload);
	if (nick == NULL || *nick == '\0' ||
	    jid_resourceprep(nick, prepped, sizeof(prepped)) != 0) {
		stanza_reply_error(ev, "modify", "bad-request",
		    "muc#register_roomnick must be a valid nickname");
		return HOOK_HANDLED;
	}
	owner = muc_nick_owner(r, prepped);
	if (owner && strcmp(owner, bare) != 0) {
		stanza_reply_error(ev, "cancel", "conflict",
		    "Someone else registered that nickname");
		return HOOK_HANDLED;
	}
	if (r->cfg.members_only && aff < AFF_MEMBER) {
		/* §7.10: a members-only room registers its members only */
		stanza_reply_error(
		    ev, "cancel", "not-allowed", "Only members register here");
		return HOOK_HANDLED;
	}
	if (aff < AFF_MEMBER && muc_aff_set(r, bare, AFF_MEMBER, NULL) != 0) {
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		return HOOK_HANDLED;
	}
	muc_aff_set_nick(r, bare, prepped);
	stanza_reply_result(ev);
	if (aff < AFF_MEMBER)
		announce(r, bare);
	return HOOK_HANDLED;
}

void
muc_reserved_info(struct hook_ev *ev, struct muc_room *r)
{
	const char *nick = muc_reserved_nick(r, ev->from->bare);
	struct xml_node *rep = stanza_reply(ev), *qy, *id;

	qy = xml_node_child(rep, NS_DISCO_INFO, "query");
	xml_node_set_attr(qy, "node", "x-roomuser-item");
	if (nick) {
		id = xml_node_child(qy, NULL, "identity");
		xml_node_set_attr(id, "category", "conference");
		xml_node_set_attr(id, "type", "text");
		xml_node_set_attr(id, "name", nick);
	}
	stanza_reply_send(ev, rep);
}

/* src/mod/muc/iq.c: iq requests through a room and on it. An occupant's
 * request to another occupant's JID (XEP-0045 §7.5's relaying, done for
 * iq as Prosody and ejabberd do) goes on from the sender's occupant JID,
 * with an id of the room's, so that the answer finds its way back to the
 * very session that asked without telling the target the real JID;
 * vCard requests go to the occupant's account (its server answers for
 * it, XEP-0054 §3.2). The room's own vCard (XEP-0054 on the room JID:
 * its avatar, XEP-0486) is read by anyone and set by owners. */
#include "mod/muc/muc.h"

#define NS_VCARD "vcard-temp"
#define MUC_VCARD_STORE "muc_vcard"
#define PENDING_MAX 64 /* relayed requests awaiting answers per room */
#define PENDING_TTL 120

struct muc_pending {
	char id[24];   /* the room's id on the relayed request */
	char *orig_id; /* the asker's */
	char *asker;   /* real full JID that asked */
	char *asker_nick;
	char *target; /* where it went (real JID) */
	char *target_nick;
	int64_t at;
};

void
muc_pending_free(struct muc_room *r)
{
	size_t i;

	for (i = 0; i < r->npending; i++) {
		free(r->pending[i].orig_id);
		free(r->pending[i].asker);
		free(r->pending[i].asker_nick);
		free(r->pending[i].target);
		free(r->pending[i].target_nick);
	}
	free(r->pending);
	r->pending = NULL;
	r->npending = 0;
}

static void
pending_drop(struct muc_room *r, size_t i)
{
	struct muc_pending *p = &r->pending[i];

	free(p->orig_id);
	free(p->asker);
	free(p->asker_nick);
	free(p->target);
	free(p->target_nick);
	memmove(p, p + 1, (r->npending - i - 1) * sizeof(*p));
	r->npending--;
}

static struct muc_pending *
pending_add(struct muc_room *r)
{
	int64_t now = now_unix();
	struct muc_pending *p;

	while (r->npending > 0 && (r->npending >= PENDING_MAX ||
				      r->pending[0].at < now - PENDING_TTL))
		pending_drop(r, 0);
	r->pending =
	    xrealloc(r->pending, (r->npending + 1) * sizeof(*r->pending));
	p = &r->pending[r->npending++];
	memset(p, 0, sizeof(*p));
	rand_id(p->id, sizeof(p->id));
	p->at = now;
	return p;
}

/* Relay a get or set from occupant o to t; vCards go to t's account. */
static void
relay_request(struct hook_ev *ev, struct muc_room *r, struct muc_occupant *o,
    struct muc_occupant *t)
{
	int vcard = xml_node_is(ev->payload, NS_VCARD, "vCard") &&
		    ev->stype == STANZA_TYPE_GET;
	const char *to = vcard ? t->bare : t->sess[0].jid;
	const char *id = xml_node_attr(ev->stanza, "id");
	struct muc_pending *p;
	struct xml_node *iq;

	p = pending_add(r);
	p->orig_id = xstrdup(id ? id : "");
	p->asker = xstrdup(ev->from->full);
	p->asker_nick = xstrdup(o->nick);
	p->target = xstrdup(to);
	p->target_nick = xstrdup(t->nick);
	iq = xml_node_dup(ev->stanza);
	xml_node_set_attr(iq, "id", p->id);
	xml_node_set_attr(iq, "from", muc_nick_jid(iq, r, o->nick));
	muc_send(iq, to);
}

/* An iq to room@service/nick. */
enum hook_ret
muc_iq_full(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct muc_occupant *o, *t;
	const char *id = xml_node_attr(ev->stanza, "id");
	size_t i;

	if (ev->stype == STANZA_TYPE_RESULT || ev->stype == STANZA_TYPE_ERROR) {
		/* an answer to a relayed request: back to who asked, from
		 * the answerer's occupant JID, with the asker's id */
		if (r == NULL || id == NULL)
			return HOOK_HANDLED;
		for (i = 0; i < r->npending; i++) {
			struct muc_pending *p = &r->pending[i];
			struct xml_node *iq;

			if (strcmp(p->id, id) != 0 ||
			    strcmp(p->asker_nick, ev->to->resource) != 0)
				continue;
			iq = xml_node_dup(ev->stanza);
			xml_node_set_attr(iq, "id", p->orig_id);
			xml_node_set_attr(
			    iq, "from", muc_nick_jid(iq, r, p->target_nick));
			muc_send(iq, p->asker);
			pending_drop(r, i);
			break;
		}
		return HOOK_HANDLED;
	}
	if (r == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	o = muc_occ_by_jid(r, ev->from->full);
	if (o == NULL) {
		stanza_reply_error(
		    ev, "cancel", "not-acceptable", "You are not in the room");
		return HOOK_HANDLED;
	}
	t = muc_occ_by_nick(r, ev->to->resource);
	if (t == NULL || t->nsess == 0) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	relay_request(ev, r, o, t);
	return HOOK_HANDLED;
}

/* ---- the room's vCard ---- */

enum hook_ret
muc_vcard_get(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct xml_node *rep, *v = NULL;
	char *val = NULL;
	size_t len = 0;

	if (r == NULL || r->locked) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	rep = stanza_reply(ev);
	if (store_map_get(
		r->svc->domain, "", MUC_VCARD_STORE, r->name, &val, &len) == 0)
		v = xml_parse_element(val, len);
	free(val);
	if (v) {
		xml_node_copy_into(rep, v);
		xml_node_free(v);
	} else {
		xml_node_child(rep, NS_VCARD, "vCard");
	}
	stanza_reply_send(ev, rep);
	return HOOK_HANDLED;
}

enum hook_ret
muc_vcard_set(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	static const int c104[] = { 104, 0 };
	struct sbuf b;
	int rc;

	if (r == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (muc_aff_of(r, ev->from->bare) != AFF_OWNER) {
		stanza_reply_error(ev, "auth", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	sbuf_init(&b);
	xml_serialize(ev->payload, XML_NS_CLIENT, &b);
	rc = ev->payload->children
		 ? store_map_set(r->svc->domain, "", MUC_VCARD_STORE, r->name,
		       b.data, b.len)
		 : store_map_del(r->svc->domain, "", MUC_VCARD_STORE, r->name);
	sbuf_cleanup(&b);
	if (rc < 0) {
		stanza_reply_store_error(ev, rc);
		return HOOK_HANDLED;
	}
	stanza_reply_result(ev);
	muc_status_message(r, c104); /* clients fetch the avatar again */
	return HOOK_HANDLED;
}

void
muc_vcard_forget(struct muc_room *r)
{
	store_map_del(r->svc->domain, "", MUC_VCARD_STORE, r->name);
}

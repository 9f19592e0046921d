/* src/mod/muc/message.c: messages in a room (XEP-0045): groupchat
 * reflection to every occupant, the sender included (§7.4), the
 * discussion history sent on entering (§7.2.14, with maxchars,
 * maxstanzas, seconds and since of §7.2.15), the subject (§8.1),
 * private messages through the room (§7.5), mediated invitations and
 * their declines (§7.8.2, §7.8.3) and the room's own status messages
 * (§10.2.1). A reflected message is serialised once for the whole room
 * (muc_out in muc.c). */
#include <time.h>

#include "mod/muc/muc.h"

#define NS_HINTS "urn:xmpp:hints"

void
muc_hist_free(struct muc_room *r)
{
	size_t i;

	for (i = 0; i < r->nhist; i++)
		xml_node_free(r->hist[i].msg);
	free(r->hist);
	r->hist = NULL;
	r->nhist = 0;
}

void
muc_hist_drop(struct muc_room *r, size_t i)
{
	xml_node_free(r->hist[i].msg);
	memmove(&r->hist[i], &r->hist[i + 1],
	    (r->nhist - i - 1) * sizeof(*r->hist));
	r->nhist--;
}

static void
hist_add(struct muc_room *r, const struct xml_node *msg, long long max)
{
	if (xml_node_find(msg, NULL, "body") == NULL ||
	    xml_node_find(msg, NS_HINTS, "no-store") ||
	    xml_node_find(msg, NS_HINTS, "no-permanent-store"))
		return;
	muc_hist_push(r, msg, now_unix(), max);
}

void
muc_hist_push(
    struct muc_room *r, const struct xml_node *msg, int64_t now, long long max)
{
	struct xml_node *d;
	struct sbuf b;
	char stamp[32];

	if (max <= 0)
		return;
	while ((long long)r->nhist >= max)
		muc_hist_drop(r, 0);
	r->hist = xrealloc(r->hist, (r->nhist + 1) * sizeof(*r->hist));
	r->hist[r->nhist].msg = xml_node_dup(msg);
	r->hist[r->nhist].when = now;
	/* §7.2.15: XEP-0203 delay from the room */
	d = xml_node_child(r->hist[r->nhist].msg, NS_DELAY, "delay");
	xml_node_set_attr(d, "from", r->jid);
	time_xep82(now, stamp, sizeof(stamp));
	xml_node_set_attr(d, "stamp", stamp);
	sbuf_init(&b);
	xml_serialize(r->hist[r->nhist].msg, XML_NS_CLIENT, &b);
	r->hist[r->nhist].chars = b.len;
	sbuf_cleanup(&b);
	r->nhist++;
}

/* XEP-0082 DateTime (fractions dropped, Z or an offset); -1 if bad. */
int64_t
muc_parse_stamp(const char *s)
{
	int64_t t;

	return time_parse_xep82(s, &t) == 0 ? t : -1;
}

static long long
attr_num(const struct xml_node *h, const char *name)
{
	const char *v = h ? xml_node_attr(h, name) : NULL;
	char *end;
	long long n;

	if (v == NULL)
		return -1;
	n = strtoll(v, &end, 10);
	return *end || n < 0 ? -1 : n;
}

void
muc_send_history(struct muc_room *r, const char *to, const struct xml_node *req)
{
	long long maxchars = attr_num(req, "maxchars");
	long long maxstanzas = attr_num(req, "maxstanzas");
	long long seconds = attr_num(req, "seconds");
	const char *since = req ? xml_node_attr(req, "since") : NULL;
	int64_t since_t = since ? muc_parse_stamp(since) : -1;
	int64_t now = now_unix();
	long long chars = 0;
	size_t first = r->nhist, i;

	/* the newest messages that fit every limit asked for */
	while (first > 0) {
		const struct muc_hist *h = &r->hist[first - 1];

		if (maxstanzas >= 0 &&
		    (long long)(r->nhist - first) >= maxstanzas)
			break;
		if (maxchars >= 0 && chars + (long long)h->chars > maxchars)
			break;
		if (seconds >= 0 && h->when < now - seconds)
			break;
		if (since_t >= 0 && h->when < since_t)
			break;
		chars += (long long)h->chars;
		first--;
	}
	for (i = first; i < r->nhist; i++)
		muc_send(xml_node_dup(r->hist[i].msg), to);
}

void
muc_send_subject(struct muc_room *r, const char *to)
{
	struct xml_node *m = xml_node_new(XML_NS_CLIENT, "message");
	struct xml_node *s;

	xml_node_set_attr(m, "type", "groupchat");
	xml_node_set_attr(m, "from",
	    r->subject_nick ? muc_nick_jid(m, r, r->subject_nick) : r->jid);
	s = xml_node_child(m, NULL, "subject");
	if (r->subject)
		xml_node_text(s, r->subject, strlen(r->subject));
	muc_send(m, to);
}

/* Send m (from set) to every session in the room, serialised once;
 * local sessions found gone leave the room afterwards. */
void
muc_to_everyone(struct muc_room *r, struct xml_node *m)
{
	struct muc_out out;
	char **gone = NULL;
	size_t i, j, ngone = 0;

	muc_out_init(&out, m);
	for (i = 0; i < r->nocc; i++)
		for (j = 0; j < r->occ[i]->nsess; j++)
			if (muc_out_send(&out, r->occ[i]->sess[j].jid) < 0) {
				gone =
				    xrealloc(gone, (ngone + 1) * sizeof(*gone));
				gone[ngone++] = xstrdup(r->occ[i]->sess[j].jid);
			}
	muc_out_cleanup(&out);
	/* they leave; r stays valid (an empty room ends later) */
	for (i = 0; i < ngone; i++) {
		muc_occ_gone(r, gone[i]);
		free(gone[i]);
	}
	free(gone);
}

void
muc_status_message(struct muc_room *r, const int *codes)
{
	struct xml_node *m = xml_node_new(XML_NS_CLIENT, "message");
	struct xml_node *x;
	char num[8];

	xml_node_set_attr(m, "type", "groupchat");
	xml_node_set_attr(m, "from", r->jid);
	x = xml_node_child(m, NS_MUC_USER, "x");
	for (; *codes; codes++) {
		snprintf(num, sizeof(num), "%d", *codes);
		xml_node_set_attr(
		    xml_node_child(x, NULL, "status"), "code", num);
	}
	muc_to_everyone(r, m);
	xml_node_free(m);
}

/* A copy of st from the room for its occupants: from room/nick, its
 * occupant id the room's (XEP-0421 §4: any the sender put is
 * removed). */
static struct xml_node *
relay_copy(
    struct muc_room *r, const struct muc_occupant *o, const struct xml_node *st)
{
	struct xml_node *m = xml_node_dup(st), *c, *next;

	xml_node_set_attr(m, "from", muc_nick_jid(m, r, o->nick));
	xml_node_set_attr(m, "to", NULL);
	muc_strip_sid(m, r->jid);
	for (c = m->children; c; c = next) {
		next = c->next;
		if (c->type == XML_ELEMENT &&
		    strcmp(c->ns, NS_OCCUPANT_ID) == 0)
			xml_node_unlink(c);
	}
	xml_node_set_attr(xml_node_child(m, NS_OCCUPANT_ID, "occupant-id"),
	    "id", o->occupant_id);
	return m;
}

/* The occupant's token bucket (message_rate, message_burst). */
static int
rate_ok(const struct muc_cfg *mc, struct muc_occupant *o)
{
	int64_t now = now_ms();

	o->tokens +=
	    (double)(now - o->tokens_at) * (double)mc->msg_rate / 1000.0;
	o->tokens_at = now;
	if (o->tokens > (double)mc->msg_burst)
		o->tokens = (double)mc->msg_burst;
	if (o->tokens < 1.0)
		return 0;
	o->tokens -= 1.0;
	return 1;
}

/* §8.1: a message with a subject and no body changes the subject. */
static void
set_subject(struct hook_ev *ev, struct muc_room *r, struct muc_occupant *o,
    struct xml_node *subj)
{
	const struct muc_cfg *mc = muc_cfg(ev);
	const char *text = xml_node_text_get(subj);
	struct xml_node *m;

	if (o->role != ROLE_MODERATOR &&
	    !(r->cfg.change_subject && o->role >= ROLE_PARTICIPANT)) {
		muc_error(
		    ev, "auth", "forbidden", "You may not change the subject");
		return;
	}
	if ((long long)strlen(text) > mc->max_subject) {
		muc_error(ev, "modify", "policy-violation",
		    "The subject is too long");
		return;
	}
	free(r->subject);
	free(r->subject_nick);
	r->subject = *text ? xstrdup(text) : NULL;
	r->subject_nick = xstrdup(o->nick);
	if (r->cfg.persistent && muc_room_save(r) != 0)
		log_warn("muc %s: subject not stored", r->jid);
	m = relay_copy(r, o, ev->stanza);
	muc_to_everyone(r, m);
	xml_node_free(m);
}

/* §7.8.2: an occupant invites someone through the room. */
static void
invite(struct hook_ev *ev, struct muc_room *r, struct xml_node *x)
{
	struct muc_occupant *o = muc_occ_by_jid(r, ev->from->full);
	int aff = muc_aff_of(r, ev->from->bare);
	struct xml_node *inv;
	int n = 0;

	if (o == NULL) {
		muc_error(ev, "modify", "not-acceptable",
		    "Only occupants may invite");
		return;
	}
	if (r->cfg.members_only && !r->cfg.allow_invites && aff < AFF_ADMIN) {
		muc_error(ev, "auth", "forbidden",
		    "Only admins may invite to this room");
		return;
	}
	for (inv = xml_node_first_el(x); inv && n < 20;
	     inv = xml_node_next_el(inv)) {
		const char *to = xml_node_attr(inv, "to");
		struct xml_node *m, *mx, *i2, *reason;
		struct jid j;

		if (strcmp(inv->name, "invite") != 0)
			continue;
		if (to == NULL || jid_parse_str(&j, to) != 0) {
			muc_error(ev, "modify", "jid-malformed", NULL);
			return;
		}
		n++;
		if (r->cfg.members_only && muc_aff_of(r, j.bare) < AFF_MEMBER &&
		    muc_aff_of(r, j.bare) != AFF_OUTCAST)
			muc_aff_set(r, j.bare, AFF_MEMBER, NULL);
		m = xml_node_new(XML_NS_CLIENT, "message");
		xml_node_set_attr(m, "from", r->jid);
		if (xml_node_attr(ev->stanza, "id"))
			xml_node_set_attr(
			    m, "id", xml_node_attr(ev->stanza, "id"));
		mx = xml_node_child(m, NS_MUC_USER, "x");
		i2 = xml_node_child(mx, NULL, "invite");
		xml_node_set_attr(i2, "from", ev->from->bare);
		reason = xml_node_find(inv, NULL, "reason");
		if (reason)
			xml_node_copy_into(i2, reason);
		if (r->cfg.password_protected && r->cfg.password)
			xml_node_text(xml_node_child(mx, NULL, "password"),
			    r->cfg.password, strlen(r->cfg.password));
		{
			char *body = xasprintf("%s invites you to the room %s",
			    ev->from->bare, r->jid);

			xml_node_text(xml_node_child(m, NULL, "body"), body,
			    strlen(body));
			free(body);
		}
		muc_send(m, j.full);
		jid_cleanup(&j);
	}
	if (n == 0)
		muc_error(ev, "modify", "bad-request", NULL);
}

/* §7.8.3: the invitee declines; the room tells the inviter. */
static void
decline(struct hook_ev *ev, struct muc_room *r, struct xml_node *d)
{
	const char *to = xml_node_attr(d, "to");
	struct xml_node *m, *d2, *reason;
	struct jid j;

	if (to == NULL || jid_parse_str(&j, to) != 0) {
		muc_error(ev, "modify", "jid-malformed", NULL);
		return;
	}
	m = xml_node_new(XML_NS_CLIENT, "message");
	xml_node_set_attr(m, "from", r->jid);
	d2 = xml_node_child(
	    xml_node_child(m, NS_MUC_USER, "x"), NULL, "decline");
	xml_node_set_attr(d2, "from", ev->from->bare);
	reason = xml_node_find(d, NULL, "reason");
	if (reason)
		xml_node_copy_into(d2, reason);
	muc_send(m, j.full);
	jid_cleanup(&j);
}

#define FORM_REQUEST "http://jabber.org/protocol/muc#request"

static const char *
form_get(const struct xml_node *x, const char *var)
{
	struct xml_node *f;

	for (f = xml_node_first_el(x); f; f = xml_node_next_el(f)) {
		const char *v = xml_node_attr(f, "var");
		struct xml_node *val;

		if (v == NULL || strcmp(v, var) != 0)
			continue;
		val = xml_node_find(f, NULL, "value");
		return val ? xml_node_text_get(val) : "";
	}
	return NULL;
}

static int
form_is(const struct xml_node *x, const char *type)
{
	const char *t = form_get(x, "FORM_TYPE");

	return t && strcmp(t, type) == 0;
}

static void
req_field(struct xml_node *x, const char *var, const char *type,
    const char *label, const char *val)
{
	struct xml_node *f = xml_node_child(x, NULL, "field");

	xml_node_set_attr(f, "var", var);
	xml_node_set_attr(f, "type", type);
	if (label)
		xml_node_set_attr(f, "label", label);
	xml_node_text(xml_node_child(f, NULL, "value"), val, strlen(val));
}

/* §8.6: a visitor asks for voice (the room sends the moderators a form);
 * a moderator's submitted form with muc#request_allow grants it. */
static void
voice_request(struct hook_ev *ev, struct muc_room *r, struct xml_node *x)
{
	struct muc_occupant *o = muc_occ_by_jid(r, ev->from->full), *t;
	const char *type = xml_node_attr(x, "type");
	const char *allow = form_get(x, "muc#request_allow");
	const char *nick = form_get(x, "muc#roomnick");
	struct muc_out out;
	struct xml_node *m, *f;
	size_t i, j;

	if (o == NULL) {
		muc_error(
		    ev, "modify", "not-acceptable", "You are not in the room");
		return;
	}
	if (o->role == ROLE_MODERATOR && nick && allow) {
		/* the approval */
		t = muc_occ_by_nick(r, nick);
		if ((strcmp(allow, "1") == 0 || strcmp(allow, "true") == 0) &&
		    t && t->role == ROLE_VISITOR) {
			t->role = ROLE_PARTICIPANT;
			muc_broadcast_presence(r, t, NULL);
		}
		return;
	}
	if (o->role != ROLE_VISITOR || (type && strcmp(type, "submit") != 0)) {
		muc_error(
		    ev, "modify", "bad-request", "Only visitors ask for voice");
		return;
	}
	m = xml_node_new(XML_NS_CLIENT, "message");
	xml_node_set_attr(m, "from", r->jid);
	f = xml_node_child(m, NS_XDATA, "x");
	xml_node_set_attr(f, "type", "form");
	xml_node_text(xml_node_child(f, NULL, "title"), "Voice request", 13);
	req_field(f, "FORM_TYPE", "hidden", NULL, FORM_REQUEST);
	req_field(
	    f, "muc#role", "list-single", "Requested role", "participant");
	req_field(f, "muc#jid", "jid-single", "User ID", ev->from->bare);
	req_field(f, "muc#roomnick", "text-single", "Room nickname", o->nick);
	req_field(f, "muc#request_allow", "boolean", "Grant voice?", "false");
	muc_out_init(&out, m);
	for (i = 0; i < r->nocc; i++)
		if (r->occ[i]->role == ROLE_MODERATOR)
			for (j = 0; j < r->occ[i]->nsess; j++)
				muc_out_send(&out, r->occ[i]->sess[j].jid);
	muc_out_cleanup(&out);
	xml_node_free(m);
}

/* A message to room@service (§7.4, §7.8, §8.1, §8.6). */
enum hook_ret
muc_message(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct muc_occupant *o;
	struct xml_node *x, *subj, *m;

	if (ev->stype == STANZA_TYPE_ERROR) {
		if (r && muc_occ_by_jid(r, ev->from->full))
			muc_occ_gone(r, ev->from->full);
		return HOOK_HANDLED;
	}
	if (r == NULL || r->locked) {
		muc_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (ev->stype != STANZA_TYPE_GROUPCHAT) {
		x = xml_node_find(ev->stanza, NS_MUC_USER, "x");
		if (x && xml_node_find(x, NULL, "invite")) {
			invite(ev, r, x);
			return HOOK_HANDLED;
		}
		if (x && xml_node_find(x, NULL, "decline")) {
			decline(ev, r, xml_node_find(x, NULL, "decline"));
			return HOOK_HANDLED;
		}
		x = xml_node_find(ev->stanza, NS_XDATA, "x");
		if (x && form_is(x, FORM_REQUEST)) {
			voice_request(ev, r, x);
			return HOOK_HANDLED;
		}
		muc_error(ev, "modify", "bad-request",
		    "Messages to the room are of type groupchat");
		return HOOK_HANDLED;
	}
	o = muc_occ_by_jid(r, ev->from->full);
	if (o == NULL) {
		muc_error(
		    ev, "modify", "not-acceptable", "You are not in the room");
		return HOOK_HANDLED;
	}
	subj = xml_node_find(ev->stanza, NULL, "subject");
	if (subj && xml_node_find(ev->stanza, NULL, "body") == NULL) {
		set_subject(ev, r, o, subj);
		return HOOK_HANDLED;
	}
	if (o->role < ROLE_PARTICIPANT) {
		/* §7.4 / §8.4: visitors of a moderated room have no voice */
		muc_error(
		    ev, "auth", "forbidden", "You have no voice in this room");
		return HOOK_HANDLED;
	}
	if (!rate_ok(muc_cfg(ev), o)) {
		muc_error(ev, "wait", "resource-constraint",
		    "You are sending messages too fast");
		return HOOK_HANDLED;
	}
	m = relay_copy(r, o, ev->stanza);
	muc_archive_add(ev, r, m); /* stamps the stanza-id first */
	hist_add(r, m, muc_cfg(ev)->history_max);
	muc_to_everyone(r, m);
	xml_node_free(m);
	return HOOK_HANDLED;
}

/* §7.5: a private message to room@service/nick. */
enum hook_ret
muc_message_full(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct muc_occupant *o, *t;
	struct muc_out out;
	struct xml_node *m;
	size_t j;
	int ok;

	if (ev->stype == STANZA_TYPE_ERROR)
		return HOOK_HANDLED;
	if (r == NULL || r->locked) {
		muc_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (ev->stype == STANZA_TYPE_GROUPCHAT) {
		muc_error(ev, "modify", "bad-request",
		    "Private messages are not of type groupchat");
		return HOOK_HANDLED;
	}
	o = muc_occ_by_jid(r, ev->from->full);
	if (o == NULL) {
		muc_error(
		    ev, "modify", "not-acceptable", "You are not in the room");
		return HOOK_HANDLED;
	}
	t = muc_occ_by_nick(r, ev->to->resource);
	if (t == NULL) {
		muc_error(
		    ev, "cancel", "item-not-found", "Nobody has that nickname");
		return HOOK_HANDLED;
	}
	switch (r->cfg.allow_pm) {
	case PM_ANYONE:
		ok = 1;
		break;
	case PM_PARTICIPANTS:
		ok = o->role >= ROLE_PARTICIPANT;
		break;
	case PM_MODERATORS:
		ok = o->role == ROLE_MODERATOR;
		break;
	default:
		ok = 0;
		break;
	}
	if (!ok) {
		muc_error(ev, "cancel", "not-allowed",
		    "Private messages are not allowed here");
		return HOOK_HANDLED;
	}
	m = relay_copy(r, o, ev->stanza);
	if (xml_node_find(m, NS_MUC_USER, "x") == NULL)
		xml_node_child(m, NS_MUC_USER, "x"); /* §7.5 */
	muc_out_init(&out, m);
	out.routed = 1; /* the recipient's archive and carbons see it */
	for (j = 0; j < t->nsess; j++)
		muc_out_send(&out, t->sess[j].jid);
	muc_out_cleanup(&out);
	xml_node_free(m);
	return HOOK_HANDLED;
}

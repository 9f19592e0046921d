/* src/mod/muc/archive.c: a room's archive (XEP-0313 on the room JID,
 * urn:xmpp:mam:2, §5 of XEP-0313 for MUC) with XEP-0359 stanza ids
 * stamped by the room, and XEP-0425 moderation, which retracts a
 * message from the room, its history and its archive.
 *
 * Persistent rooms with muc#roomconfig_mam keep their groupchat messages
 * in the archive store "muc_mam" of the service domain with user "" (no
 * account's quota) and the room's name as the with-JID, so one store
 * holds every room and expires by age in one statement
 * (retention.muc_archive, or a host's muc.archive_retention). A room loaded
 * from the store takes its discussion history from the archive, so history
 * survives restarts. */
#include "mod/mam.h"
#include "mod/muc/muc.h"

#define NS_MAM "urn:xmpp:mam:2"
#define NS_SID "urn:xmpp:sid:0"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_HINTS "urn:xmpp:hints"
#define NS_RETRACT "urn:xmpp:message-retract:1"
#define NS_MODERATE "urn:xmpp:message-moderate:1"

int
muc_archive_on(const struct muc_room *r)
{
	return r->cfg.persistent && r->cfg.mam;
}

/* XEP-0359 §5: only the room's own stanza-id counts; one an occupant
 * claims with the room's name is removed. */
void
muc_strip_sid(struct xml_node *m, const char *by)
{
	struct xml_node *c, *next;

	for (c = m->children; c; c = next) {
		const char *b;

		next = c->next;
		if (c->type != XML_ELEMENT || strcmp(c->ns, NS_SID) != 0 ||
		    strcmp(c->name, "stanza-id") != 0)
			continue;
		b = xml_node_attr(c, "by");
		if (b == NULL || strcmp(b, by) == 0)
			xml_node_unlink(c);
	}
}

static int
archivable(const struct xml_node *m)
{
	if (xml_node_find(m, NS_HINTS, "no-store") ||
	    xml_node_find(m, NS_HINTS, "no-permanent-store"))
		return 0;
	return xml_node_find(m, NULL, "body") != NULL ||
	       xml_node_find(m, NS_RETRACT, "retract") != NULL ||
	       xml_node_find(m, "urn:xmpp:omemo:2", "encrypted") != NULL ||
	       xml_node_find(
		   m, "eu.siacs.conversations.axolotl", "encrypted") != NULL;
}

static void
expire(const struct muc_cfg *mc)
{
	static int64_t last;
	int64_t now = now_unix();
	long long keep = cfg_keep(
	    mc->archive_retention, config_running->retention.muc_archive);
	long n = 0;

	if (keep <= 0 || now - last < 3600)
		return;
	last = now;
	if (store_archive_expire(MUC_MAM_STORE, now - keep, &n) == 0 && n > 0)
		log_info("muc archive expired %ld messages", n);
}

void
muc_archive_add(
    const struct hook_ev *ev, struct muc_room *r, struct xml_node *m)
{
	struct xml_node *sid;
	struct sbuf b;
	char id[24];
	int rc;

	if (!muc_archive_on(r) || !archivable(m))
		return;
	time_id(id, sizeof(id));
	sid = xml_node_child(m, NS_SID, "stanza-id");
	xml_node_set_attr(sid, "id", id);
	xml_node_set_attr(sid, "by", r->jid);
	sbuf_init(&b);
	xml_serialize(m, XML_NS_CLIENT, &b);
	rc = store_archive_append(r->svc->domain, "", MUC_MAM_STORE, id,
	    now_unix(), r->name, b.data, b.len);
	sbuf_cleanup(&b);
	if (rc != 0)
		log_warn("muc %s: message not archived", r->jid);
	expire(muc_cfg(ev));
}

/* ---- reading ---- */

void
muc_archive_history(struct muc_room *r)
{
	struct store_archive_query q = { 0 };
	struct store_items l = { 0 };
	size_t i;

	if (!muc_archive_on(r) || r->svc->history_max <= 0)
		return;
	q.host = r->svc->domain;
	q.user = "";
	q.store = MUC_MAM_STORE;
	q.with = r->name;
	q.reverse = 1;
	q.limit = (long)r->svc->history_max;
	if (store_archive_query(&q, store_items_collect, &l) != 0)
		goto out;
	store_items_reverse(&l);
	for (i = 0; i < l.n; i++) {
		struct xml_node *m = xml_parse_element(l.v[i].val, l.v[i].len);

		if (m == NULL)
			continue;
		if (xml_node_find(m, NULL, "body"))
			muc_hist_push(r, m, l.v[i].when, r->svc->history_max);
		xml_node_free(m);
	}
out:
	store_items_free(&l);
}

void
muc_archive_forget(struct muc_room *r)
{
	struct store_archive_query q = { 0 };
	struct store_items l = { 0 };
	size_t i;

	q.host = r->svc->domain;
	q.user = "";
	q.store = MUC_MAM_STORE;
	q.with = r->name;
	if (store_archive_query(&q, store_items_collect, &l) == 0)
		for (i = 0; i < l.n; i++)
			store_archive_del(
			    r->svc->domain, "", MUC_MAM_STORE, l.v[i].id);
	store_items_free(&l);
}

/* XEP-0082 DateTime (Z or offset, fractions dropped); -1 when bad. */
static int
parse_time(const char *s, int64_t *out)
{
	int64_t t = muc_parse_stamp(s);

	if (t < 0)
		return -1;
	*out = t;
	return 0;
}

struct req {
	int64_t start, end;
	const char *before_id, *after_id;
	long max;
	const char *rsm_after, *rsm_before;
	int rsm_last;
};

static const char *
parse_req(struct xml_node *payload, struct req *rq, const char **text)
{
	struct xml_node *x = xml_node_find(payload, NS_XDATA, "x");
	struct xml_node *set = xml_node_find(payload, NS_RSM, "set");
	struct xml_node *f, *c;

	rq->max = -1;
	for (f = x ? x->children : NULL; f; f = f->next) {
		const char *var, *val;
		struct xml_node *v;

		if (!xml_node_is(f, NS_XDATA, "field"))
			continue;
		var = xml_node_attr(f, "var");
		v = xml_node_find(f, NS_XDATA, "value");
		val = v ? xml_node_text_get(v) : "";
		if (var == NULL || *val == '\0')
			continue;
		if (strcmp(var, "FORM_TYPE") == 0)
			continue;
		if (strcmp(var, "start") == 0 || strcmp(var, "end") == 0) {
			int64_t t;

			if (parse_time(val, &t) != 0) {
				*text = "start and end are XEP-0082 DateTimes";
				return "bad-request";
			}
			if (var[0] == 's')
				rq->start = t;
			else
				rq->end = t > 0 ? t : -1;
		} else if (strcmp(var, "before-id") == 0) {
			rq->before_id = val;
		} else if (strcmp(var, "after-id") == 0) {
			rq->after_id = val;
		} else {
			/* XEP-0313 §4.1.5 (with: by occupant, not kept) */
			*text = "unknown form field";
			return "feature-not-implemented";
		}
	}
	for (c = set ? set->children : NULL; c; c = c->next) {
		const char *v;
		char *end;

		if (c->type != XML_ELEMENT)
			continue;
		v = xml_node_text_get(c);
		if (xml_node_is(c, NS_RSM, "max")) {
			rq->max = strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || rq->max < 0) {
				*text = "max is a non-negative integer";
				return "bad-request";
			}
		} else if (xml_node_is(c, NS_RSM, "after") && *v) {
			rq->rsm_after = v;
		} else if (xml_node_is(c, NS_RSM, "before")) {
			if (*v)
				rq->rsm_before = v;
			else
				rq->rsm_last = 1;
		}
	}
	return NULL;
}

static void
send_result(const struct hook_ev *ev, struct muc_room *r, const char *qid,
    const struct store_item *it)
{
	struct xml_node *m = mam_result_message(r->jid, qid, it);

	if (m != NULL)
		muc_send(m, ev->from->full);
}

/* XEP-0313 §5: occupants and, in members-only rooms, members only. */
static int
may_read(const struct hook_ev *ev, const struct muc_room *r)
{
	int aff = muc_aff_of(r, ev->from->bare);

	if (aff == AFF_OUTCAST)
		return 0;
	if (r->cfg.members_only && aff < AFF_MEMBER &&
	    muc_occ_by_jid(r, ev->from->full) == NULL)
		return 0;
	return 1;
}

enum hook_ret
muc_mam_query(struct hook_ev *ev)
{
	const struct muc_cfg *mc = muc_cfg(ev);
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct store_archive_query q = { 0 };
	struct req rq = { 0 };
	struct store_items l = { 0 };
	struct xml_node *rep, *fin, *set;
	const char *cond, *text = NULL;
	long limit, count = 0;
	char num[24];
	int more;
	size_t i;

	if (r == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (!muc_archive_on(r)) {
		stanza_reply_error(ev, "cancel", "feature-not-implemented",
		    "The room keeps no archive");
		return HOOK_HANDLED;
	}
	if (!may_read(ev, r)) {
		stanza_reply_error(ev, "auth", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	cond = parse_req(ev->payload, &rq, &text);
	if (cond) {
		stanza_reply_error(ev,
		    strcmp(cond, "bad-request") == 0 ? "modify" : "cancel",
		    cond, text);
		return HOOK_HANDLED;
	}
	limit = rq.max < 0 ? (long)mc->archive_page : rq.max;
	if (limit > mc->archive_page)
		limit = (long)mc->archive_page;
	q.host = r->svc->domain;
	q.user = "";
	q.store = MUC_MAM_STORE;
	q.with = r->name;
	q.start = rq.start;
	q.end = rq.end;
	q.after_id = rq.after_id;
	q.before_id = rq.before_id;
	if (store_archive_count(&q, &count) != 0) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (rq.rsm_after)
		q.after_id = rq.rsm_after;
	if (rq.rsm_before)
		q.before_id = rq.rsm_before;
	q.reverse = rq.rsm_last || rq.rsm_before;
	q.limit = limit + 1;
	if (limit > 0 &&
	    store_archive_query(&q, store_items_collect, &l) != 0) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		goto out;
	}
	more = (long)l.n > limit;
	if (more) {
		free(l.v[l.n - 1].id);
		free(l.v[l.n - 1].val);
		l.n--;
	}
	if (q.reverse)
		store_items_reverse(&l);
	for (i = 0; i < l.n; i++)
		send_result(
		    ev, r, xml_node_attr(ev->payload, "queryid"), &l.v[i]);
	rep = stanza_reply(ev);
	fin = xml_node_child(rep, NS_MAM, "fin");
	xml_node_set_attr(fin, "complete", more ? "false" : "true");
	set = xml_node_child(fin, NS_RSM, "set");
	if (l.n > 0) {
		xml_node_text(xml_node_child(set, NULL, "first"), l.v[0].id,
		    strlen(l.v[0].id));
		xml_node_text(xml_node_child(set, NULL, "last"),
		    l.v[l.n - 1].id, strlen(l.v[l.n - 1].id));
	}
	snprintf(num, sizeof(num), "%ld", count);
	xml_node_text(xml_node_child(set, NULL, "count"), num, strlen(num));
	stanza_reply_send(ev, rep);
out:
	store_items_free(&l);
	return HOOK_HANDLED;
}

/* XEP-0313 §4.1.1: the fields a query may use. */
enum hook_ret
muc_mam_form(struct hook_ev *ev)
{
	static const char *const vars[] = { "start", "end", "before-id",
		"after-id", NULL };
	struct xml_node *rep = stanza_reply(ev), *x, *f;
	size_t i;

	x = xml_node_child(xml_node_child(rep, NS_MAM, "query"), NS_XDATA, "x");
	xml_node_set_attr(x, "type", "form");
	f = xml_node_child(x, NULL, "field");
	xml_node_set_attr(f, "var", "FORM_TYPE");
	xml_node_set_attr(f, "type", "hidden");
	xml_node_text(xml_node_child(f, NULL, "value"), NS_MAM, strlen(NS_MAM));
	for (i = 0; vars[i]; i++) {
		f = xml_node_child(x, NULL, "field");
		xml_node_set_attr(f, "var", vars[i]);
		xml_node_set_attr(f, "type", "text-single");
	}
	stanza_reply_send(ev, rep);
	return HOOK_HANDLED;
}

/* ---- XEP-0425 moderation ---- */

static int
has_sid(const struct xml_node *m, const char *id)
{
	struct xml_node *s = xml_node_find(m, NS_SID, "stanza-id");

	return s && xml_node_attr(s, "id") &&
	       strcmp(xml_node_attr(s, "id"), id) == 0;
}

/* XEP-0425 §4: a moderator retracts a message: it leaves the archive
 * and the history, and every occupant is told. */
enum hook_ret
muc_moderate(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct muc_occupant *o = r ? muc_occ_by_jid(r, ev->from->full) : NULL;
	const char *id = xml_node_attr(ev->payload, "id");
	const char *ids[2] = { id, NULL };
	struct store_archive_query q = { 0 };
	struct xml_node *m, *rt, *md, *reason;
	long n = 0;
	size_t i;

	if (r == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (o == NULL || o->role != ROLE_MODERATOR) {
		stanza_reply_error(ev, "auth", "forbidden",
		    "Only moderators retract messages");
		return HOOK_HANDLED;
	}
	if (id == NULL ||
	    xml_node_find(ev->payload, NS_RETRACT, "retract") == NULL) {
		stanza_reply_error(ev, "modify", "bad-request", NULL);
		return HOOK_HANDLED;
	}
	q.host = r->svc->domain;
	q.user = "";
	q.store = MUC_MAM_STORE;
	q.with = r->name;
	q.ids = ids;
	if (!muc_archive_on(r) || store_archive_count(&q, &n) != 0 || n == 0) {
		stanza_reply_error(ev, "cancel", "item-not-found",
		    "No such message in the archive");
		return HOOK_HANDLED;
	}
	if (store_archive_del(r->svc->domain, "", MUC_MAM_STORE, id) != 0) {
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		return HOOK_HANDLED;
	}
	for (i = 0; i < r->nhist; i++)
		if (has_sid(r->hist[i].msg, id))
			muc_hist_drop(r, i--);
	stanza_reply_result(ev);
	m = xml_node_new(XML_NS_CLIENT, "message");
	xml_node_set_attr(m, "type", "groupchat");
	xml_node_set_attr(m, "from", r->jid);
	rt = xml_node_child(m, NS_RETRACT, "retract");
	xml_node_set_attr(rt, "id", id);
	md = xml_node_child(rt, NS_MODERATE, "moderated");
	xml_node_set_attr(md, "by", muc_nick_jid(m, r, o->nick));
	xml_node_set_attr(xml_node_child(md, NS_OCCUPANT_ID, "occupant-id"),
	    "id", o->occupant_id);
	reason = xml_node_find(ev->payload, NULL, "reason");
	if (reason) {
		const char *t = xml_node_text_get(reason);

		xml_node_text(xml_node_child(rt, NULL, "reason"), t, strlen(t));
	}
	/* a fallback for clients without XEP-0424 (XEP-0428) */
	xml_node_set_attr(xml_node_child(m, "urn:xmpp:fallback:0", "fallback"),
	    "for", NS_RETRACT);
	xml_node_text(xml_node_child(m, NULL, "body"),
	    "This message was retracted by a moderator", 41);
	muc_archive_add(ev, r, m);
	muc_to_everyone(r, m);
	xml_node_free(m);
	log_info("muc %s: message %s retracted by %s", r->jid, id, o->nick);
	return HOOK_HANDLED;
}

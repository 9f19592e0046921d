/* src/mod/mam.c: XEP-0313 Message Archive Management (urn:xmpp:mam:2 and
 * #extended) for user archives, with XEP-0359 stanza ids and XEP-0059
 * result set paging. */
#include <ctype.h>
#include <time.h>

#include "mod/mod.h"
#include "mod/mam.h"
#include "xmpp/portable.h"
#include "xmpp/retention.h"
#include "mod/roster.h"

#define NS_MAM "urn:xmpp:mam:2"
#define NS_MAM_EXT "urn:xmpp:mam:2#extended"
#define NS_SID "urn:xmpp:sid:0"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_XDATA "jabber:x:data"
#define NS_XDATA_VALIDATE "http://jabber.org/protocol/xdata-validate"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_DELAY "urn:xmpp:delay"
#define NS_HINTS "urn:xmpp:hints"
#define NS_CARBONS "urn:xmpp:carbons:2"
#define MAM_STORE "mam"
#define MAM_PREFS_STORE "mam_prefs"
#define MAM_MAX_IDS 1000

enum mam_default { MAM_ALWAYS, MAM_NEVER, MAM_ROSTER };
static const char *const mam_defaults[] = { "always", "never", "roster", NULL };

struct mam_cfg {
	long long page_size;
	long long max_page;
	int default_prefs;
};

extern const struct module mod_mam;

/* ---- what is archived ---- */

/* XEP-0313 §5.1.1: chat and normal messages with a body, and the payloads
 * clients keep conversations with (encrypted bodies, markers, reactions,
 * retractions, call invitations, files). Never errors, headlines,
 * groupchat, carbon copies or archive results; the XEP-0334 hints decide
 * first. */
static int
mam_archivable(const struct xml_node *st)
{
	static const char *const keep[] = { "eu.siacs.conversations.axolotl",
		"urn:xmpp:omemo:2", "urn:xmpp:openpgp:0", "jabber:x:encrypted",
		"urn:xmpp:chat-markers:0", "urn:xmpp:reactions:0",
		"urn:xmpp:message-retract:0", "urn:xmpp:message-retract:1",
		"urn:xmpp:fasten:0", "urn:xmpp:jingle-message:0",
		"jabber:x:oob", NULL };
	const char *type = xml_node_attr(st, "type");
	const struct xml_node *c;
	size_t i;

	if (type != NULL && type[0] != '\0' && strcmp(type, "chat") != 0 &&
	    strcmp(type, "normal") != 0)
		return 0;
	if (xml_node_find(st, NS_HINTS, "no-store") ||
	    xml_node_find(st, NS_HINTS, "no-permanent-store"))
		return 0;
	if (xml_node_find(st, NS_CARBONS, "sent") ||
	    xml_node_find(st, NS_CARBONS, "received") ||
	    xml_node_find(st, NS_MAM, "result"))
		return 0;
	if (xml_node_find(st, NS_HINTS, "store") ||
	    xml_node_find(st, XML_NS_CLIENT, "body"))
		return 1;
	for (c = xml_node_first_el(st); c; c = xml_node_next_el(c))
		for (i = 0; keep[i]; i++)
			if (strcmp(c->ns, keep[i]) == 0)
				return 1;
	return 0;
}

/* ---- preferences ---- */

/* The user's stored <prefs/>, or NULL when none (or unreadable). */
static struct xml_node *
mam_prefs_load(const char *host, const char *user)
{
	struct xml_node *p;
	char *val;
	size_t len;

	if (acct_cache_kv_get(host, user, MAM_PREFS_STORE, &val, &len) != 0)
		return NULL;
	p = xml_parse_element(val, len);
	free(val);
	return p;
}

static int
mam_list_has(const struct xml_node *prefs, const char *list, const char *bare)
{
	struct xml_node *l = xml_node_find(prefs, NS_MAM, list), *j;

	for (j = l ? l->children : NULL; j; j = j->next)
		if (xml_node_is(j, NS_MAM, "jid") &&
		    strcmp(xml_node_text_get(j), bare) == 0)
			return 1;
	return 0;
}

static int
mam_default_index(const char *name)
{
	size_t i;

	for (i = 0; name && mam_defaults[i]; i++)
		if (strcmp(name, mam_defaults[i]) == 0)
			return (int)i;
	return -1;
}

/* Does user@host archive its messages with contact (bare JID)?
 * XEP-0313 §6: <never/> wins, then <always/>, then the default. */
/* Parsed preferences, remembered by (host, user) with the stored text
 * they came from: the message path asked for them twice per message and
 * parsing them each time made a stored <prefs/> cost 3.7 times the CPU
 * per message of none (bench msg-nomam). An entry is used only while
 * the stored text is byte for byte the one it was parsed from, so a
 * change of preferences (or an account deleted and made again) is seen
 * at once. Direct-mapped, a fixed number of entries. */
#define PREFS_MEMO 256

struct prefs_memo {
	char *host, *user, *text;
	size_t len;
	struct xml_node *p;
};

static struct prefs_memo prefs_memo[PREFS_MEMO];

static void
prefs_memo_clear(struct prefs_memo *m)
{
	free(m->host);
	free(m->user);
	free(m->text);
	xml_node_free(m->p);
	memset(m, 0, sizeof(*m));
}

/* The user's parsed preferences (owned by the memo: do not free), or
 * NULL when none are stored. */
static const struct xml_node *
mam_prefs_memo(const char *host, const char *user)
{
	struct prefs_memo *m;
	uint32_t hash = 2166136261u;
	const char *c;
	char *val;
	size_t len;

	for (c = user; *c; c++)
		hash = (hash ^ (unsigned char)*c) * 16777619u;
	for (c = host; *c; c++)
		hash = (hash ^ (unsigned char)*c) * 16777619u;
	m = &prefs_memo[hash % PREFS_MEMO];
	if (acct_cache_kv_get(host, user, MAM_PREFS_STORE, &val, &len) != 0)
		return NULL;
	if (m->p && m->len == len && strcmp(m->user, user) == 0 &&
	    strcmp(m->host, host) == 0 && memcmp(m->text, val, len) == 0) {
		free(val);
		return m->p;
	}
	prefs_memo_clear(m);
	m->p = xml_parse_element(val, len);
	if (m->p == NULL) {
		free(val);
		return NULL;
	}
	m->host = xstrdup(host);
	m->user = xstrdup(user);
	m->text = val;
	m->len = len;
	return m->p;
}

static void
mam_cleanup(struct host *h)
{
	size_t i;

	for (i = 0; i < PREFS_MEMO; i++)
		if (prefs_memo[i].host &&
		    strcmp(prefs_memo[i].host, h->name) == 0)
			prefs_memo_clear(&prefs_memo[i]);
}

static int
mam_wants(struct host *h, const char *user, const char *contact)
{
	const struct mam_cfg *cfg = host_modcfg(h, &mod_mam);
	const struct xml_node *p = mam_prefs_memo(h->name, user);
	int def = cfg->default_prefs, ret;

	if (p) {
		int d = mam_default_index(xml_node_attr(p, "default"));

		if (mam_list_has(p, "never", contact)) {
			ret = 0;
			goto out_free;
		}
		if (mam_list_has(p, "always", contact)) {
			ret = 1;
			goto out_free;
		}
		if (d >= 0)
			def = d;
	}
	if (def == MAM_ALWAYS)
		ret = 1;
	else if (def == MAM_NEVER)
		ret = 0;
	else
		ret = roster_has_item(h->name, user, contact) == 1;
out_free:
	return ret;
}

/* ---- archiving ---- */

/* A new archive id in id (24 bytes): time_id's form, but the random
 * bytes come from a pool filled 1 KiB at a time: one RAND_bytes call
 * per id was 7% of ternd's CPU when every message is archived twice.
 * Only the loop thread archives. */
static void
mam_new_id(char *id, size_t idlen)
{
	static unsigned char pool[1024];
	static size_t used = sizeof(pool);
	size_t n = idlen - 9;

	if (idlen <= 9 || n > sizeof(pool)) {
		time_id(id, idlen);
		return;
	}
	if (used + n > sizeof(pool)) {
		rand_bytes(pool, sizeof(pool));
		used = 0;
	}
	time_id_rnd(id, idlen, pool + used);
	/* what is handed out is not kept */
	memset(pool + used, 0, n);
	used += n;
}

/* Store st in user's archive under a new id (written into id, 24 bytes);
 * 0 stored, -1 failure. */
static int
mam_store(struct host *h, const char *user, const char *with,
    const struct xml_node *st, char *id, size_t idlen)
{
	struct sbuf b;
	int rc;

	mam_new_id(id, idlen);
	sbuf_init(&b);
	xml_serialize(st, XML_NS_CLIENT, &b);
	rc = store_archive_append(
	    h->name, user, MAM_STORE, id, now_unix(), with, b.data, b.len);
	sbuf_cleanup(&b);
	/* the message is delivered all the same, without a stanza-id */
	if (rc == STORE_QUOTA)
		log_info("mam not archived: storage quota full user=%s@%s",
		    user, h->name);
	else if (rc != 0)
		log_warn("mam archiving failed user=%s@%s", user, h->name);
	return rc == 0 ? 0 : -1;
}

/* Remove the <stanza-id/> elements claiming to come from archive `by`
 * (XEP-0359 §5: only the archive itself may add them). */
static void
mam_strip_sid(struct xml_node *st, const char *by)
{
	struct xml_node *c, *next;

	for (c = st->children; c; c = next) {
		const char *b;
		struct jid j;
		int ours;

		next = c->next;
		if (!xml_node_is(c, NS_SID, "stanza-id"))
			continue;
		b = xml_node_attr(c, "by");
		if (b == NULL || jid_parse_str(&j, b) != 0) {
			/* unattributable: nobody can rely on it anyway */
			ours = b == NULL;
		} else {
			ours = strcmp(j.full, by) == 0;
			jid_cleanup(&j);
		}
		if (ours)
			xml_node_unlink(c);
	}
}

/* A peer's message claiming to be an archive result loses the claim. */
static void
mam_strip_results(struct xml_node *st)
{
	struct xml_node *c, *next;

	for (c = st->children; c; c = next) {
		next = c->next;
		if (xml_node_is(c, NS_MAM, "result"))
			xml_node_unlink(c);
	}
}

static void
mam_add_sid(struct xml_node *st, const char *by, const char *id)
{
	struct xml_node *s = xml_node_child(st, NS_SID, "stanza-id");

	xml_node_set_attr(s, "by", by);
	xml_node_set_attr(s, "id", id);
}

/* Incoming, before delivery: every copy loses stanza-ids forged in the
 * recipient's name; an archived one gets the archive's id, which the
 * delivered copy, its carbons and its offline copy all carry. */
static enum hook_ret
mam_inbound(struct hook_ev *ev)
{
	char id[24];

	if (ev->to->node == NULL || ev->from == NULL)
		return HOOK_CONTINUE;
	mam_strip_sid(ev->stanza, ev->to->bare);
	/* XEP-0313 §7: results come only from the user's own archive */
	if (strcmp(ev->from->bare, ev->to->bare) != 0)
		mam_strip_results(ev->stanza);
	if (!mam_archivable(ev->stanza) ||
	    !mam_wants(ev->host, ev->to->node, ev->from->bare))
		return HOOK_CONTINUE;
	if (mam_store(ev->host, ev->to->node, ev->from->bare, ev->stanza, id,
		sizeof(id)) == 0)
		mam_add_sid(ev->stanza, ev->to->bare, id);
	return HOOK_CONTINUE;
}

/* Outgoing, before routing: archive in the sender's archive. The
 * stanza-id goes on the stanza only while the other outgoing handlers
 * run (the sent carbons carry it, XEP-0313 §3.4); mam_outgoing_done
 * takes it off before the contact could see it. */
static enum hook_ret
mam_outgoing(struct hook_ev *ev)
{
	struct session *s = ev->session;
	const char *to = xml_node_attr(ev->stanza, "to");
	struct jid j;
	char id[24];

	if (s == NULL || s->jid.node == NULL)
		return HOOK_CONTINUE;
	mam_strip_sid(ev->stanza, s->jid.bare);
	if (to == NULL || jid_parse_str(&j, to) != 0)
		return HOOK_CONTINUE;
	/* to the own account: archived once, as received */
	if (strcmp(j.bare, s->jid.bare) != 0 && mam_archivable(ev->stanza) &&
	    mam_wants(ev->host, s->jid.node, j.bare) &&
	    mam_store(
		ev->host, s->jid.node, j.bare, ev->stanza, id, sizeof(id)) == 0)
		mam_add_sid(ev->stanza, s->jid.bare, id);
	jid_cleanup(&j);
	return HOOK_CONTINUE;
}

static enum hook_ret
mam_outgoing_done(struct hook_ev *ev)
{
	if (ev->session && ev->session->jid.node)
		mam_strip_sid(ev->stanza, ev->session->jid.bare);
	return HOOK_CONTINUE;
}

/* ---- queries ---- */

/* A parsed query: the form's filters and the RSM request. */
struct mam_req {
	struct jid with;
	int has_with;
	int64_t start, end;
	const char *before_id, *after_id; /* form fields */
	const char **ids;		  /* NULL-terminated, or NULL */
	size_t nids;
	long max; /* -1: not given */
	const char *rsm_after, *rsm_before;
	int rsm_last; /* <before/> empty */
	int flip;
};

static void
mam_req_cleanup(struct mam_req *r)
{
	jid_cleanup(&r->with);
	free(r->ids);
}

/* The single <value/> of a field, or NULL. */
static const char *
mam_field_value(struct xml_node *f)
{
	struct xml_node *v = xml_node_find(f, NS_XDATA, "value");

	return v ? xml_node_text_get(v) : NULL;
}

/* Fill r from the form; on error returns the condition and sets *text. */
static const char *
mam_parse_form(struct xml_node *x, struct mam_req *r, const char **text)
{
	struct xml_node *f, *v;

	for (f = x->children; f; f = f->next) {
		const char *var, *val;

		if (!xml_node_is(f, NS_XDATA, "field"))
			continue;
		var = xml_node_attr(f, "var");
		val = mam_field_value(f);
		if (var == NULL) {
			*text = "form field without var";
			return "bad-request";
		}
		if (strcmp(var, "ids") == 0) {
			for (v = f->children; v; v = v->next) {
				if (!xml_node_is(v, NS_XDATA, "value"))
					continue;
				if (r->nids == MAM_MAX_IDS) {
					*text = "too many ids";
					return "policy-violation";
				}
				r->ids = xrealloc(
				    r->ids, (r->nids + 2) * sizeof(*r->ids));
				r->ids[r->nids++] = xml_node_text_get(v);
				r->ids[r->nids] = NULL;
			}
			continue;
		}
		if (val == NULL || val[0] == '\0')
			continue;
		if (strcmp(var, "FORM_TYPE") == 0) {
			if (strcmp(val, NS_MAM) != 0) {
				*text = "FORM_TYPE is not urn:xmpp:mam:2";
				return "bad-request";
			}
		} else if (strcmp(var, "with") == 0) {
			jid_cleanup(&r->with);
			if (jid_parse_str(&r->with, val) != 0) {
				*text = "with is not a JID";
				return "jid-malformed";
			}
			r->has_with = 1;
		} else if (strcmp(var, "start") == 0 ||
			   strcmp(var, "end") == 0) {
			int64_t t;

			if (time_parse_xep82(val, &t) != 0) {
				*text = "start and end are XEP-0082 DateTimes";
				return "bad-request";
			}
			if (var[0] == 's')
				r->start = t > 0 ? t : 0;
			else
				r->end = t > 0 ? t : -1; /* 0 is unbounded */
		} else if (strcmp(var, "before-id") == 0) {
			r->before_id = val;
		} else if (strcmp(var, "after-id") == 0) {
			r->after_id = val;
		} else {
			/* XEP-0313 §4.1.5 */
			*text = "unknown form field";
			return "feature-not-implemented";
		}
	}
	return NULL;
}

static const char *
mam_parse_rsm(struct xml_node *set, struct mam_req *r, const char **text)
{
	struct xml_node *c;

	for (c = set->children; c; c = c->next) {
		const char *v;
		char *end;

		if (c->type != XML_ELEMENT)
			continue;
		v = xml_node_text_get(c);
		if (xml_node_is(c, NS_RSM, "max")) {
			long m = strtol(v, &end, 10);

			if (v[0] == '\0' || *end != '\0' || m < 0) {
				*text = "max is a non-negative integer";
				return "bad-request";
			}
			r->max = m;
		} else if (xml_node_is(c, NS_RSM, "after")) {
			if (v[0] == '\0') {
				*text = "after needs an id";
				return "bad-request";
			}
			r->rsm_after = v;
		} else if (xml_node_is(c, NS_RSM, "before")) {
			if (v[0] == '\0')
				r->rsm_last = 1;
			else
				r->rsm_before = v;
		} else if (xml_node_is(c, NS_RSM, "index")) {
			*text = "paging by index is not supported";
			return "feature-not-implemented";
		}
	}
	if (r->rsm_after && (r->rsm_before || r->rsm_last)) {
		/* XEP-0313 §4.3.3: undefined; before-id/after-id do ranges */
		*text = "use before-id and after-id for a range";
		return "bad-request";
	}
	return NULL;
}

/* Is every one of the ids in the user's archive? 1 yes, 0 no, -1 error. */
static int
mam_ids_exist(
    const char *host, const char *user, const char *const *ids, size_t n)
{
	struct store_archive_query q = { 0 };
	long count = 0;
	size_t i, j, distinct = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(ids[i], ids[j]) == 0)
				break;
		distinct += j == i;
	}
	q.host = host;
	q.user = user;
	q.store = MAM_STORE;
	q.ids = ids;
	if (store_archive_count(&q, &count) != 0)
		return -1;
	return (size_t)count == distinct;
}

struct xml_node *
mam_result_message(
    const char *from, const char *qid, const struct store_item *it)
{
	struct xml_node *m, *r, *f, *d, *orig;
	char stamp[32];

	orig = xml_parse_element(it->val, it->len);
	if (orig == NULL)
		return NULL;
	m = xml_node_new(XML_NS_CLIENT, "message");
	xml_node_set_attr(m, "from", from);
	r = xml_node_child(m, NS_MAM, "result");
	if (qid)
		xml_node_set_attr(r, "queryid", qid);
	xml_node_set_attr(r, "id", it->id);
	f = xml_node_child(r, NS_FORWARD, "forwarded");
	d = xml_node_child(f, NS_DELAY, "delay");
	time_xep82(it->when, stamp, sizeof(stamp));
	xml_node_set_attr(d, "stamp", stamp);
	xml_node_copy_into(f, orig);
	xml_node_free(orig);
	return m;
}

/* The <message><result><forwarded> for one item, to the querier. */
static void
mam_send_result(
    const struct hook_ev *ev, const char *qid, const struct store_item *it)
{
	struct xml_node *m = mam_result_message(ev->to->bare, qid, it);

	if (m == NULL) {
		log_warn(
		    "mam unreadable item user=%s id=%s", ev->to->bare, it->id);
		return;
	}
	xml_node_set_attr(m, "to", ev->from->full);
	router_deliver_full(m, ev->from->full);
	xml_node_free(m);
}

static void
mam_text_child(struct xml_node *p, const char *name, const char *text)
{
	xml_node_text(xml_node_child(p, NULL, name), text, strlen(text));
}

/* Run the query; *cond gets an error condition on failure. */
static int
mam_run(
    struct hook_ev *ev, struct mam_req *r, const char *qid, const char **cond)
{
	const struct mam_cfg *cfg = host_modcfg(ev->host, &mod_mam);
	const char *host = ev->host->name, *user = ev->to->node;
	struct store_archive_query q = { 0 };
	struct store_items l = { 0 };
	struct xml_node *res, *fin, *set, *first;
	long limit, count = 0, index = 0;
	int rc, more, backward;
	char num[32];
	size_t i;

	limit = r->max < 0 ? (long)cfg->page_size : r->max;
	if (limit > cfg->max_page)
		limit = (long)cfg->max_page;
	*cond = "internal-server-error";
	/* XEP-0313 §4.1.4: every id named must exist */
	if (r->ids) {
		rc = mam_ids_exist(host, user, r->ids, r->nids);
		if (rc <= 0) {
			*cond = rc == 0 ? "item-not-found" : *cond;
			return -1;
		}
	}
	q.host = host;
	q.user = user;
	q.store = MAM_STORE;
	q.with = r->has_with ? r->with.bare : NULL;
	q.start = r->start;
	q.end = r->end;
	q.ids = r->ids;
	q.after_id = r->after_id;
	q.before_id = r->before_id;
	/* the whole result set, for <count/> (and the form's ids checked) */
	rc = store_archive_count(&q, &count);
	if (rc != 0) {
		*cond = rc == 1 ? "item-not-found" : *cond;
		return -1;
	}
	/* the RSM ids page inside the set the form chose */
	backward = r->rsm_last || r->rsm_before;
	if (r->rsm_after)
		q.after_id = r->rsm_after;
	if (r->rsm_before)
		q.before_id = r->rsm_before;
	q.reverse = backward;
	q.limit = limit + 1; /* one more tells whether the page is the end */
	rc = limit > 0 || r->rsm_after || r->rsm_before
		 ? store_archive_query(&q, store_items_collect, &l)
		 : 0;
	if (rc != 0) {
		*cond = rc == 1 ? "item-not-found" : *cond;
		goto out_fail;
	}
	more = (long)l.n > limit;
	if (more) {
		free(l.v[l.n - 1].id);
		free(l.v[l.n - 1].val);
		l.n--;
	}
	if (backward)
		store_items_reverse(&l);
	/* RSM index: how many items of the set precede the page; the
	 * first and the last page know it without counting again */
	if (r->rsm_last) {
		index = count - (long)l.n;
	} else if (l.n > 0 && (r->rsm_after || r->rsm_before)) {
		q.after_id = r->after_id;
		q.before_id = l.v[0].id;
		q.reverse = 0;
		q.limit = 0;
		if (store_archive_count(&q, &index) != 0)
			goto out_fail;
	}
	for (i = 0; i < l.n; i++)
		mam_send_result(ev, qid, &l.v[r->flip ? l.n - 1 - i : i]);

	res = stanza_reply(ev);
	fin = xml_node_child(res, NS_MAM, "fin");
	/* XEP-0313 §4.3.2: complete when the page reaches the end of the
	 * set in the direction of paging */
	xml_node_set_attr(fin, "complete", more ? "false" : "true");
	set = xml_node_child(fin, NS_RSM, "set");
	if (l.n > 0) {
		first = xml_node_child(set, NULL, "first");
		snprintf(num, sizeof(num), "%ld", index);
		xml_node_set_attr(first, "index", num);
		xml_node_text(first, l.v[0].id, strlen(l.v[0].id));
		mam_text_child(set, "last", l.v[l.n - 1].id);
	}
	snprintf(num, sizeof(num), "%ld", count);
	mam_text_child(set, "count", num);
	stanza_reply_send(ev, res);
	log_debug("mam query user=%s@%s results=%zu count=%ld", user, host, l.n,
	    count);
	store_items_free(&l);
	return 0;
out_fail:
	store_items_free(&l);
	return -1;
}

/* The archive is the account's own: only its resources may use it. */
static int
mam_owner(struct hook_ev *ev)
{
	if (ev->to->node != NULL && ev->from != NULL &&
	    strcmp(ev->from->bare, ev->to->bare) == 0)
		return 1;
	stanza_reply_error(ev, "cancel", "forbidden", NULL);
	return 0;
}

static enum hook_ret
mam_query(struct hook_ev *ev)
{
	struct mam_req r = { 0 };
	struct xml_node *x, *set;
	const char *cond = NULL, *text = NULL;

	if (!mam_owner(ev))
		return HOOK_HANDLED;
	r.max = -1;
	x = xml_node_find(ev->payload, NS_XDATA, "x");
	set = xml_node_find(ev->payload, NS_RSM, "set");
	r.flip = xml_node_find(ev->payload, NS_MAM, "flip-page") != NULL;
	if (x)
		cond = mam_parse_form(x, &r, &text);
	if (cond == NULL && set)
		cond = mam_parse_rsm(set, &r, &text);
	if (cond == NULL &&
	    mam_run(ev, &r, xml_node_attr(ev->payload, "queryid"), &cond) == 0)
		cond = NULL;
	else if (cond == NULL)
		cond = "internal-server-error";
	if (cond) {
		const char *type = strcmp(cond, "bad-request") == 0 ||
					   strcmp(cond, "jid-malformed") == 0
				       ? "modify"
				       : "cancel";

		if (strcmp(cond, "internal-server-error") == 0)
			type = "wait";
		stanza_reply_error(ev, type, cond, text);
	}
	mam_req_cleanup(&r);
	return HOOK_HANDLED;
}

/* XEP-0313 §4.1.5: the form's fields. */
static enum hook_ret
mam_form(struct hook_ev *ev)
{
	static const char *const fields[][2] = { { "with", "jid-single" },
		{ "start", "text-single" }, { "end", "text-single" },
		{ "before-id", "text-single" }, { "after-id", "text-single" },
		{ "ids", "list-multi" } };
	struct xml_node *res, *x, *f, *v;
	size_t i;

	if (!mam_owner(ev))
		return HOOK_HANDLED;
	res = stanza_reply(ev);
	x = xml_node_child(xml_node_child(res, NS_MAM, "query"), NS_XDATA, "x");
	xml_node_set_attr(x, "type", "form");
	f = xml_node_child(x, NULL, "field");
	xml_node_set_attr(f, "type", "hidden");
	xml_node_set_attr(f, "var", "FORM_TYPE");
	mam_text_child(f, "value", NS_MAM);
	for (i = 0; i < ARRAY_LEN(fields); i++) {
		f = xml_node_child(x, NULL, "field");
		xml_node_set_attr(f, "type", fields[i][1]);
		xml_node_set_attr(f, "var", fields[i][0]);
	}
	/* XEP-0122: ids is an open list */
	v = xml_node_child(f, NS_XDATA_VALIDATE, "validate");
	xml_node_set_attr(v, "datatype", "xs:string");
	xml_node_child(v, NULL, "open");
	stanza_reply_send(ev, res);
	return HOOK_HANDLED;
}

/* ---- preferences (XEP-0313 §6) ---- */

static void
mam_prefs_reply(struct hook_ev *ev, const struct xml_node *p)
{
	const struct mam_cfg *cfg = host_modcfg(ev->host, &mod_mam);
	struct xml_node *res = stanza_reply(ev), *out;

	if (p) {
		xml_node_copy_into(res, p);
	} else {
		out = xml_node_child(res, NS_MAM, "prefs");
		xml_node_set_attr(
		    out, "default", mam_defaults[cfg->default_prefs]);
		xml_node_child(out, NULL, "always");
		xml_node_child(out, NULL, "never");
	}
	stanza_reply_send(ev, res);
}

static enum hook_ret
mam_prefs_get(struct hook_ev *ev)
{
	struct xml_node *p;

	if (!mam_owner(ev))
		return HOOK_HANDLED;
	p = mam_prefs_load(ev->host->name, ev->to->node);
	mam_prefs_reply(ev, p);
	xml_node_free(p);
	return HOOK_HANDLED;
}

/* Copy the <jid/>s of list `name` from in to out as prepared bare JIDs;
 * -1 on a bad JID. */
static int
mam_prefs_list(
    const struct xml_node *in, struct xml_node *out, const char *name)
{
	struct xml_node *l = xml_node_find(in, NS_MAM, name), *j;
	struct xml_node *ol = xml_node_child(out, NULL, name);

	for (j = l ? l->children : NULL; j; j = j->next) {
		struct jid p;

		if (!xml_node_is(j, NS_MAM, "jid"))
			continue;
		if (jid_parse_str(&p, xml_node_text_get(j)) != 0)
			return -1;
		mam_text_child(ol, "jid", p.bare);
		jid_cleanup(&p);
	}
	return 0;
}

/* The user's own archive limit (an extension of the preferences, see
 * xmpp/retention.h): kept when it is shorter than the server's. */
static int
mam_prefs_keep(struct hook_ev *ev, struct xml_node *p)
{
	struct xml_node *k = xml_node_find(ev->payload, NS_RETENTION, "keep");
	long long keep = config_running->retention.archive, mine;
	const char *t;

	if (k == NULL)
		return 0;
	t = xml_node_text_get(k);
	mine = retention_parse_age(t);
	if (mine <= 0) {
		stanza_reply_error(ev, "modify", "bad-request",
		    "keep is an age: a number of seconds, or with an s, m, h "
		    "or d suffix (30d)");
		return -1;
	}
	if (keep == 0 || mine < keep)
		xml_node_text(
		    xml_node_child(p, NS_RETENTION, "keep"), t, strlen(t));
	return 0;
}

static enum hook_ret
mam_prefs_set(struct hook_ev *ev)
{
	const char *def = xml_node_attr(ev->payload, "default");
	struct xml_node *p;
	struct sbuf b;
	int rc;

	if (!mam_owner(ev))
		return HOOK_HANDLED;
	if (mam_default_index(def) < 0) {
		stanza_reply_error(ev, "modify", "bad-request",
		    "default is always, never or roster");
		return HOOK_HANDLED;
	}
	p = xml_node_new(NS_MAM, "prefs");
	xml_node_set_attr(p, "default", def);
	if (mam_prefs_list(ev->payload, p, "always") != 0 ||
	    mam_prefs_list(ev->payload, p, "never") != 0) {
		stanza_reply_error(ev, "modify", "jid-malformed", NULL);
		goto out_free;
	}
	if (mam_prefs_keep(ev, p) != 0)
		goto out_free;
	sbuf_init(&b);
	xml_serialize(p, XML_NS_CLIENT, &b);
	rc = store_kv_set(
	    ev->host->name, ev->to->node, MAM_PREFS_STORE, b.data, b.len);
	if (rc != 0)
		stanza_reply_store_error(ev, rc);
	else
		mam_prefs_reply(ev, p);
	sbuf_cleanup(&b);
out_free:
	xml_node_free(p);
	return HOOK_HANDLED;
}

/* ---- metadata (XEP-0313 §7) ---- */

static int
mam_metadata_end(
    struct xml_node *md, const char *host, const char *user, int last)
{
	struct store_archive_query q = { 0 };
	struct store_items l = { 0 };
	struct xml_node *e;
	char stamp[32];

	q.host = host;
	q.user = user;
	q.store = MAM_STORE;
	q.limit = 1;
	q.reverse = last;
	if (store_archive_query(&q, store_items_collect, &l) != 0)
		return -1;
	if (l.n == 1) {
		e = xml_node_child(md, NULL, last ? "end" : "start");
		xml_node_set_attr(e, "id", l.v[0].id);
		time_xep82(l.v[0].when, stamp, sizeof(stamp));
		xml_node_set_attr(e, "timestamp", stamp);
	}
	store_items_free(&l);
	return 0;
}

static enum hook_ret
mam_metadata(struct hook_ev *ev)
{
	struct xml_node *res, *md;

	if (!mam_owner(ev))
		return HOOK_HANDLED;
	res = stanza_reply(ev);
	md = xml_node_child(res, NS_MAM, "metadata");
	if (mam_metadata_end(md, ev->host->name, ev->to->node, 0) != 0 ||
	    mam_metadata_end(md, ev->host->name, ev->to->node, 1) != 0) {
		xml_node_free(res);
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
		return HOOK_HANDLED;
	}
	stanza_reply_send(ev, res);
	return HOOK_HANDLED;
}

/* Expiry by age is the server's retention policy (retention.archive,
 * xmpp/retention.c), not this module's. */

static int
mam_init(struct host *h)
{
	UNUSED(h);
	/* every archived message reads them: kept with the account */
	acct_cache_part(STORE_KV, MAM_PREFS_STORE);
	return 0;
}

static const struct cfg_directive mam_dirs[] = {
	{ .name = "page_size",
	    .type = CFG_INT,
	    .offset = offsetof(struct mam_cfg, page_size),
	    .def = "50",
	    .min = 1,
	    .max = 10000,
	    .doc = "Results per page when a query asks for no RSM max." },
	{ .name = "max_page",
	    .type = CFG_INT,
	    .offset = offsetof(struct mam_cfg, max_page),
	    .def = "250",
	    .min = 1,
	    .max = 10000,
	    .doc = "Most results one query returns, whatever RSM max asks." },
	{ .name = "default_prefs",
	    .type = CFG_ENUM,
	    .offset = offsetof(struct mam_cfg, default_prefs),
	    .def = "always",
	    .choices = mam_defaults,
	    .doc = "Archiving default for users who set no preferences "
		   "(always, never, roster)." },
	{ .name = NULL },
};

static const struct cfg_section mam_section = {
	.name = "mam",
	.dirs = mam_dirs,
	.size = sizeof(struct mam_cfg),
	.doc = "Settings of the mam module.",
};

/* ---- export and import (xmpp/portable.h, XEP-0227 §3.11) ----
 * The archive as <archive xmlns='urn:xmpp:pie:0#mam'> of <result/>s,
 * oldest first; the preferences (no place in XEP-0227) as the <prefs/>
 * a client would read. */
#define NS_PIE_MAM NS_PIE "#mam"
#define IMPORT_ID_MAX 64

static enum hook_ret
mam_export(struct hook_ev *ev)
{
	struct acct_export *x = ev->data;
	struct store_archive_query q = { 0 };
	struct store_items l = { 0 };
	struct xml_node *ar = NULL, *m, *r, *p;
	size_t i;

	p = mam_prefs_load(ev->host->name, ev->user);
	if (p != NULL)
		xml_node_copy_into(x->user, p);
	xml_node_free(p);
	q.host = ev->host->name;
	q.user = ev->user;
	q.store = MAM_STORE;
	if (store_archive_query(&q, store_items_collect, &l) < 0)
		goto out_free;
	for (i = 0; i < l.n; i++) {
		m = mam_result_message(ev->host->name, NULL, &l.v[i]);
		r = m ? xml_node_find(m, NS_MAM, "result") : NULL;
		if (r != NULL) {
			if (ar == NULL)
				ar = xml_node_child(
				    x->user, NS_PIE_MAM, "archive");
			xml_node_copy_into(ar, r);
		}
		xml_node_free(m);
	}
out_free:
	store_items_free(&l);
	return HOOK_CONTINUE;
}

/* An id as the file has it if it is a fine RSM id not in the archive
 * yet (a merge may meet it again: then 1, skip), else a new one. */
static int
import_id(
    const char *host, const char *user, const char *id, char *out, size_t len)
{
	const char *ids[2] = { id, NULL };
	const char *p;

	for (p = id; p && *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			break;
	if (id == NULL || *id == '\0' || *p != '\0' ||
	    strlen(id) > IMPORT_ID_MAX) {
		mam_new_id(out, len);
		return 0;
	}
	snprintf(out, len, "%s", id);
	return mam_ids_exist(host, user, ids, 1);
}

static int
import_result(struct hook_ev *ev, struct acct_import *imp, struct xml_node *r)
{
	struct xml_node *f = xml_node_find(r, NS_FORWARD, "forwarded");
	struct xml_node *d = f ? xml_node_find(f, NS_DELAY, "delay") : NULL;
	struct xml_node *m =
	    f ? xml_node_find(f, XML_NS_CLIENT, "message") : NULL;
	const char *from = m ? xml_node_attr(m, "from") : NULL;
	const char *to = m ? xml_node_attr(m, "to") : NULL;
	char bare[2 * JID_PART_MAX + 2], id[IMPORT_ID_MAX + 1];
	struct jid jf = { 0 }, jt = { 0 };
	const char *with;
	int64_t when;
	struct sbuf b;
	int rc;

	if (m == NULL || d == NULL || xml_node_attr(d, "stamp") == NULL ||
	    time_parse_xep82(xml_node_attr(d, "stamp"), &when) < 0) {
		acct_import_fail(imp, r,
		    "archive: a result needs <forwarded/> with a <delay/> "
		    "stamp and a <message/>");
		return -1;
	}
	snprintf(bare, sizeof(bare), "%s@%s", ev->user, ev->host->name);
	if (from == NULL || to == NULL || jid_parse_str(&jf, from) < 0 ||
	    jid_parse_str(&jt, to) < 0) {
		jid_cleanup(&jf);
		acct_import_fail(imp, m,
		    "archive: a message needs a valid "
		    "from and to");
		return -1;
	}
	/* the other party: the one that is not the account */
	with = strcmp(jf.bare, bare) == 0 ? jt.bare : jf.bare;
	rc = import_id(
	    ev->host->name, ev->user, xml_node_attr(r, "id"), id, sizeof(id));
	if (rc == 0) {
		sbuf_init(&b);
		xml_serialize(m, XML_NS_CLIENT, &b);
		rc = store_archive_append(ev->host->name, ev->user, MAM_STORE,
		    id, when, with, b.data, b.len);
		sbuf_cleanup(&b);
		if (rc != 0)
			acct_import_store_fail(imp, r, rc, "archive");
	} else if (rc < 0) {
		acct_import_fail(imp, r, "archive: storage failure");
	}
	jid_cleanup(&jf);
	jid_cleanup(&jt);
	return rc < 0 ? -1 : 0;
}

static enum hook_ret
mam_import(struct hook_ev *ev)
{
	struct acct_import *imp = ev->data;
	struct xml_node *ar = xml_node_find(imp->user, NS_PIE_MAM, "archive");
	struct xml_node *p = xml_node_find(imp->user, NS_MAM, "prefs"), *r;
	struct sbuf b;
	int rc;

	if (p != NULL) {
		sbuf_init(&b);
		xml_serialize(p, "", &b);
		rc = store_kv_set(
		    ev->host->name, ev->user, MAM_PREFS_STORE, b.data, b.len);
		sbuf_cleanup(&b);
		if (rc != 0) {
			acct_import_store_fail(imp, p, rc, "archive prefs");
			return HOOK_HANDLED;
		}
		acct_import_take(imp, p);
	}
	if (ar == NULL)
		return HOOK_CONTINUE;
	for (r = xml_node_first_el(ar); r && !imp->failed;
	     r = xml_node_next_el(r))
		if (xml_node_is(r, NS_MAM, "result"))
			import_result(ev, imp, r);
	if (imp->failed)
		return HOOK_HANDLED;
	acct_import_take(imp, ar);
	return HOOK_CONTINUE;
}

static const struct hook_reg mam_hooks[] = { { "iq-set/bare/" NS_MAM ":query",
						 mam_query, 0 },
	{ "iq-get/bare/" NS_MAM ":query", mam_form, 0 },
	{ "iq-get/bare/" NS_MAM ":prefs", mam_prefs_get, 0 },
	{ "iq-set/bare/" NS_MAM ":prefs", mam_prefs_set, 0 },
	{ "iq-get/bare/" NS_MAM ":metadata", mam_metadata, 0 },
	/* before carbons (50) and the core's delivery */
	{ "message/bare", mam_inbound, 100 },
	{ "message/full", mam_inbound, 100 },
	{ "message/outgoing", mam_outgoing, 100 },
	{ "message/outgoing", mam_outgoing_done, -1000 },
	{ "user/export", mam_export, 0 }, { "user/import", mam_import, 0 },
	HOOK_REG_END };

static const char *const mam_features[] = { NS_MAM, NS_MAM_EXT, NS_SID, NULL };
/* on the account: its archive also takes a limit of its own */
static const char *const mam_account_features[] = { NS_MAM, NS_MAM_EXT, NS_SID,
	NS_RETENTION, NULL };

const struct module mod_mam = {
	.name = "mam",
	.spec = "XEP-0313, XEP-0359, XEP-0059",
	.doc = "Keeps an archive of each user's one-to-one messages that the "
	       "user's clients query and page through; a user may keep them "
	       "for less than retention.archive with <keep "
	       "xmlns='urn:xmpp:tern:retention:0'>30d</keep> in its "
	       "preferences.",
	.account_features = mam_account_features,
	/* also on the domain: profanity and others probe only the server
	 * for MAM before they page a user's own archive, as ejabberd and
	 * Prosody announce it there */
	.features = mam_features,
	.hooks = mam_hooks,
	.config = &mam_section,
	.depends = (const char *const[]){ "roster", NULL },
	.init = mam_init,
	.cleanup = mam_cleanup,
};

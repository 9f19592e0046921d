/* src/mod/offline.c: XEP-0160 offline messages, stamped with XEP-0203. */
#include "mod/mod.h"
#include "xmpp/portable.h"

#define NS_DELAY "urn:xmpp:delay"
#define NS_HINTS "urn:xmpp:hints"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define OFFLINE_STORE "offline"

struct offline_cfg {
	long long max_messages;
	long long max_bytes;
};

/* One stored message read back for delivery. */
struct offline_item {
	char *id;
	char *val;
	size_t len;
};

struct offline_list {
	struct offline_item *v;
	size_t n, cap;
};

extern const struct module mod_offline;

/* Per session: eligible is set once the session was eligible for
 * delivery (available, priority >= 0), so a presence update is not a new
 * start. Messages delivered to a session with receipts (stream
 * management) stay stored until the client confirms them: pend holds
 * their ids with the position each had in the session's output. */
struct offline_sess {
	unsigned eligible : 1;
	struct offline_pend {
		uint64_t seq;
		char *id;
	} * pend;
	size_t npend, cap;
};

/* XEP-0160 §3 and XEP-0085 §5.4: store normal and chat messages that
 * carry something a person would miss; chat states, threads and hints
 * alone are not worth keeping. <store/> asks to keep it anyway. */
static int
offline_worth_storing(const struct xml_node *st)
{
	const struct xml_node *c;

	if (xml_node_find(st, NS_HINTS, "store"))
		return 1;
	for (c = xml_node_first_el(st); c; c = xml_node_next_el(c)) {
		if (strcmp(c->ns, NS_CHATSTATES) == 0 ||
		    strcmp(c->ns, NS_HINTS) == 0)
			continue;
		if (strcmp(c->ns, XML_NS_CLIENT) == 0 &&
		    strcmp(c->name, "thread") == 0)
			continue;
		return 1;
	}
	return 0;
}

/* Each user's stored count and bytes, remembered after one scan so a
 * flood to an offline user costs a lookup per message, not a scan of all
 * that is stored. Appends keep an entry current; any delete forgets it
 * (the next message scans again). A direct-mapped table: a collision only
 * costs a rescan. */
#define USAGE_SLOTS 1024

static struct offline_slot {
	char *key; /* user@host */
	long long count, bytes;
} usage[USAGE_SLOTS];

static struct offline_slot *
usage_slot(const char *host, const char *user, char *key, size_t keylen)
{
	snprintf(key, keylen, "%s@%s", user, host);
	return &usage[hash_bytes(HASH_INIT, key, strlen(key)) % USAGE_SLOTS];
}

static void
usage_forget(const char *host, const char *user)
{
	char key[2 * JID_PART_MAX + 2];
	struct offline_slot *sl = usage_slot(host, user, key, sizeof(key));

	if (sl->key && strcmp(sl->key, key) == 0) {
		free(sl->key);
		sl->key = NULL;
	}
}

/* A message of len bytes was stored. */
static void
usage_add(const char *host, const char *user, size_t len)
{
	char key[2 * JID_PART_MAX + 2];
	struct offline_slot *sl = usage_slot(host, user, key, sizeof(key));

	if (sl->key && strcmp(sl->key, key) == 0) {
		sl->count++;
		sl->bytes += (long long)len;
	}
}

/* Would one more message of len bytes fit the user's quota? 1 yes, 0 no,
 * -1 storage failure. */
static int
offline_fits(const char *host, const char *user, const struct offline_cfg *cfg,
    size_t len)
{
	char key[2 * JID_PART_MAX + 2];
	struct offline_slot *sl = usage_slot(host, user, key, sizeof(key));
	long long count, bytes;

	if ((long long)len > cfg->max_bytes)
		return 0;
	if (sl->key == NULL || strcmp(sl->key, key) != 0) {
		/* from the account's state, or one scan of the store */
		if (acct_cache_archive_usage(
			host, user, OFFLINE_STORE, &count, &bytes) < 0)
			return -1;
		free(sl->key);
		sl->key = xstrdup(key);
		sl->count = count;
		sl->bytes = bytes;
	}
	return sl->count < cfg->max_messages &&
	       sl->bytes + (long long)len <= cfg->max_bytes;
}

/* The sender's bare JID for the archive's with-JID column (message/offline
 * may come without ev->from; the stanza's from is stamped). */
static char *
offline_sender(const struct hook_ev *ev)
{
	const char *f = xml_node_attr(ev->stanza, "from");
	struct jid j;
	char *bare;

	if (ev->from)
		return xstrdup(ev->from->bare);
	if (f == NULL || jid_parse_str(&j, f) != 0)
		return xstrdup("");
	bare = xstrdup(j.bare);
	jid_cleanup(&j);
	return bare;
}

static enum hook_ret
offline_store(struct hook_ev *ev)
{
	const struct offline_cfg *cfg = host_modcfg(ev->host, &mod_offline);
	const char *host = ev->host->name, *user = ev->to->node;
	struct xml_node *copy, *d;
	char stamp[32], id[24];
	struct sbuf b;
	char *with;
	int64_t now;
	int fits, rc;

	if (ev->stype == STANZA_TYPE_HEADLINE ||
	    ev->stype == STANZA_TYPE_GROUPCHAT ||
	    ev->stype == STANZA_TYPE_ERROR || user == NULL)
		return HOOK_CONTINUE;
	/* XEP-0334 no-store: not kept, so the router answers
	 * service-unavailable */
	if (xml_node_find(ev->stanza, NS_HINTS, "no-store"))
		return HOOK_CONTINUE;
	if (!offline_worth_storing(ev->stanza)) {
		log_debug(
		    "offline dropping contentless message to=%s", ev->to->bare);
		return HOOK_HANDLED;
	}
	with = offline_sender(ev);
	now = now_unix();
	time_xep82(now, stamp, sizeof(stamp));
	copy = xml_node_dup(ev->stanza);
	/* XEP-0203: one delay, saying when the message first waited; a
	 * message coming back (a session ended without confirming it)
	 * keeps the one it has */
	if (xml_node_find(copy, NS_DELAY, "delay") == NULL) {
		d = xml_node_child(copy, NS_DELAY, "delay");
		xml_node_set_attr(d, "from", host);
		xml_node_set_attr(d, "stamp", stamp);
		xml_node_text(d, "Offline Storage", 15);
	}
	sbuf_init(&b);
	xml_serialize(copy, XML_NS_CLIENT, &b);
	xml_node_free(copy);
	fits = offline_fits(host, user, cfg, b.len);
	if (fits == 0) {
		/* XEP-0160 §2: a full queue is service-unavailable */
		log_info(
		    "offline quota full user=%s@%s from=%s", user, host, with);
		stanza_bounce(ev->stanza, "cancel", "service-unavailable",
		    "The recipient's offline message storage is full");
		goto out_free;
	}
	time_id(id, sizeof(id));
	rc = fits < 0 ? -1
		      : store_archive_append(host, user, OFFLINE_STORE, id, now,
			    with, b.data, b.len);
	if (rc == STORE_QUOTA) {
		/* XEP-0160 §2: the account's storage is full, so is its
		 * offline queue */
		log_info("offline not stored: storage quota full "
			 "user=%s@%s from=%s",
		    user, host, with);
		stanza_bounce(ev->stanza, "cancel", "service-unavailable",
		    "The recipient's storage is full");
		goto out_free;
	}
	if (rc != 0) {
		stanza_bounce(
		    ev->stanza, "wait", "internal-server-error", NULL);
		goto out_free;
	}
	usage_add(host, user, b.len);
	log_debug(
	    "offline stored user=%s@%s from=%s id=%s", user, host, with, id);
out_free:
	free(with);
	sbuf_cleanup(&b);
	return HOOK_HANDLED;
}

static int
offline_collect_cb(void *ud, const struct store_archive_item *it)
{
	struct offline_list *l = ud;
	struct offline_item *x;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	x = &l->v[l->n++];
	x->id = xstrdup(it->id);
	x->val = xstrndup(it->val, it->len);
	x->len = it->len;
	return 0;
}

static int
offline_idx(void)
{
	static int idx = -1;

	if (idx < 0)
		idx = module_index("offline");
	return idx;
}

static struct offline_sess *
offline_sess(struct session *s, int create)
{
	struct offline_sess *o = session_mod_get(s, offline_idx());

	if (o == NULL && create) {
		o = xcalloc(1, sizeof(*o));
		session_mod_set(s, offline_idx(), o);
	}
	return o;
}

/* Delete the stored messages the client confirmed (all when to is
 * UINT64_MAX). */
static void
offline_forget(struct session *s, struct offline_sess *o, uint64_t to)
{
	size_t i, k = 0;

	usage_forget(s->host->name, s->jid.node);
	for (i = 0; i < o->npend; i++) {
		if (o->pend[i].seq <= to) {
			store_archive_del(s->host->name, s->jid.node,
			    OFFLINE_STORE, o->pend[i].id);
			free(o->pend[i].id);
		} else {
			o->pend[k++] = o->pend[i];
		}
	}
	o->npend = k;
	if (k == 0) {
		free(o->pend);
		o->pend = NULL;
		o->cap = 0;
	}
}

static enum hook_ret
offline_confirmed(struct hook_ev *ev)
{
	struct offline_sess *o = offline_sess(ev->session, 0);

	if (o && o->npend)
		offline_forget(ev->session, o, ev->session->out_confirmed);
	return HOOK_CONTINUE;
}

/* The session ends: stream management sends what was never confirmed
 * to other resources or back into storage (its session/closed handler
 * runs after this one), so the stored copies go now, in the same
 * commit. */
static enum hook_ret
offline_closed(struct hook_ev *ev)
{
	struct offline_sess *o = offline_sess(ev->session, 0);

	if (o == NULL)
		return HOOK_CONTINUE;
	offline_forget(ev->session, o, UINT64_MAX);
	free(o);
	session_mod_set(ev->session, offline_idx(), NULL);
	return HOOK_CONTINUE;
}

static void
offline_pend(struct offline_sess *o, uint64_t seq, const char *id)
{
	if (o->npend == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 16;
		o->pend = xrealloc(o->pend, o->cap * sizeof(*o->pend));
	}
	o->pend[o->npend].seq = seq;
	o->pend[o->npend].id = xstrdup(id);
	o->npend++;
}

/* Is the stored message id on its way to another session of the same
 * account (sent, not yet confirmed)? It is that session's until it
 * confirms it (deleted) or ends (stream management routes it on). */
static int
offline_in_flight(struct session *s, const char *id)
{
	struct session *o;
	size_t i;

	for (o = session_find_bare(s->jid.bare); o; o = o->next_res) {
		struct offline_sess *os;

		if (o == s)
			continue;
		os = offline_sess(o, 0);
		for (i = 0; os && i < os->npend; i++)
			if (strcmp(os->pend[i].id, id) == 0)
				return 1;
	}
	return 0;
}

/* Send every stored message to s in order, but those another session
 * holds unconfirmed (XEP-0160: one resource gets each, once). Without
 * receipts, delete what was queued: the deletes and the queued bytes
 * belong to the same loop iteration, whose group commit runs before the
 * bytes are written. With receipts, each is deleted once the client
 * confirms it (a crash before that delivers it again). */
static void
offline_deliver(struct session *s)
{
	struct store_archive_query q = { 0 };
	struct offline_list l = { 0 };
	const char *host = s->host->name;
	char *user = xstrdup(s->jid.node);
	char *full = xstrdup(s->jid.full);
	uint64_t sid = s->id, seq;
	size_t i, sent = 0;
	int gone = 0;

	q.host = host;
	q.user = user;
	q.store = OFFLINE_STORE;
	if (store_archive_query(&q, offline_collect_cb, &l) < 0)
		goto out_free;
	for (i = 0; i < l.n && !gone; i++) {
		struct xml_node *st;
		struct session *now;
		struct rbuf *r = NULL;

		if (offline_in_flight(s, l.v[i].id)) {
			/* not this one's to send, nor to delete */
			free(l.v[i].id);
			l.v[i].id = NULL;
			continue;
		}
		st = xml_parse_element(l.v[i].val, l.v[i].len);
		if (st == NULL) {
			log_warn("offline dropping unreadable item user=%s@%s "
				 "id=%s",
			    user, host, l.v[i].id);
			continue;
		}
		seq = s->out_sent + 1;
		session_send(s, st, &r);
		rbuf_unref(r);
		xml_node_free(st);
		/* a send over the queue limit ends the session (at the end
		 * of the iteration): what is still stored waits for the next
		 * login; what stream management queued it routes on when the
		 * session ends, so that one is no longer stored */
		now = session_find_full(full);
		gone = now == NULL || now->id != sid || now->closing;
		if (now == s && now->id == sid && s->confirms)
			offline_pend(offline_sess(s, 1), seq, l.v[i].id);
	}
	if (gone) {
		log_info(
		    "offline delivery interrupted jid=%s kept=%zu", full, l.n);
		goto out_free;
	}
	if (s->confirms) {
		log_debug("offline delivered jid=%s count=%zu (kept until "
			  "confirmed)",
		    full, l.n);
		goto out_free;
	}
	usage_forget(host, user);
	for (i = 0; i < l.n; i++) {
		if (l.v[i].id == NULL)
			continue;
		if (store_archive_del(host, user, OFFLINE_STORE, l.v[i].id) !=
		    0)
			break;
		sent++;
	}
	if (l.n)
		log_debug("offline delivered jid=%s count=%zu", full, sent);
out_free:
	for (i = 0; i < l.n; i++) {
		free(l.v[i].id);
		free(l.v[i].val);
	}
	free(l.v);
	free(full);
	free(user);
}

/* A delivery waiting for the end of the loop iteration. */
struct offline_pending {
	uint64_t sid;
	char full[];
};

static void
offline_deferred(void *arg)
{
	struct offline_pending *p = arg;
	struct session *s = session_find_full(p->full);

	/* the session may have gone or changed its mind meanwhile */
	if (s && s->id == p->sid && !s->closing && s->available &&
	    s->priority >= 0)
		offline_deliver(s);
	free(p);
}

/* XEP-0160 §2: deliver when the user next sends available presence with
 * a non-negative priority (an initial presence, or a priority raised
 * from negative). The delivery runs once every presence handler is done,
 * so the presence broadcast (and the contacts' presence) come first,
 * whatever the presence module answers; it still runs before the group
 * commit, so the deletes are committed before the bytes are written. */
static enum hook_ret
offline_presence(struct hook_ev *ev)
{
	struct session *s = ev->session;
	struct offline_sess *o;
	struct offline_pending *p;
	size_t n;
	int eligible, was;

	if (s == NULL || s->jid.node == NULL)
		return HOOK_CONTINUE;
	eligible =
	    s->available && s->priority >= 0 && ev->stype == STANZA_TYPE_NONE;
	o = offline_sess(s, eligible);
	was = o && o->eligible;
	if (o)
		o->eligible = eligible;
	if (eligible && !was) {
		n = strlen(s->jid.full) + 1;
		p = xmalloc(sizeof(*p) + n);
		p->sid = s->id;
		memcpy(p->full, s->jid.full, n);
		loop_defer(offline_deferred, p);
	}
	return HOOK_CONTINUE;
}

static enum hook_ret
offline_user_deleted(struct hook_ev *ev)
{
	usage_forget(ev->host->name, ev->user);
	return HOOK_CONTINUE;
}

static const struct cfg_directive offline_dirs[] = {
	{ .name = "max_messages",
	    .type = CFG_INT,
	    .offset = offsetof(struct offline_cfg, max_messages),
	    .def = "1000",
	    .min = 1,
	    .max = 1000000,
	    .doc = "Messages kept for one user while offline; more are "
		   "refused with service-unavailable." },
	{ .name = "max_bytes",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct offline_cfg, max_bytes),
	    .def = "1M",
	    .min = 1024,
	    .max = 1024LL * 1024 * 1024,
	    .doc = "Bytes of messages kept for one user while offline (keep it "
		   "under limits.send_queue: all are sent at once)." },
	{ .name = NULL },
};

static const struct cfg_section offline_section = {
	.name = "offline",
	.dirs = offline_dirs,
	.size = sizeof(struct offline_cfg),
	.doc = "Settings of the offline module.",
};

/* ---- export and import (xmpp/portable.h, XEP-0227 §3.5) ---- */

static enum hook_ret
offline_export(struct hook_ev *ev)
{
	struct acct_export *x = ev->data;
	struct store_archive_query q = { 0 };
	struct store_items l = { 0 };
	struct xml_node *om = NULL, *m;
	size_t i;

	q.host = ev->host->name;
	q.user = ev->user;
	q.store = OFFLINE_STORE;
	if (store_archive_query(&q, store_items_collect, &l) < 0)
		goto out_free;
	for (i = 0; i < l.n; i++) {
		m = xml_parse_element(l.v[i].val, l.v[i].len);
		if (m == NULL)
			continue;
		if (om == NULL)
			om =
			    xml_node_child(x->user, NS_PIE, "offline-messages");
		xml_node_copy_into(om, m);
		xml_node_free(m);
	}
out_free:
	store_items_free(&l);
	return HOOK_CONTINUE;
}

/* One exported message, under the same caps as one arriving; it keeps
 * (or gets) the delay saying since when it waits. */
static int
import_msg(struct hook_ev *ev, struct acct_import *imp, struct xml_node *m)
{
	const struct offline_cfg *cfg = host_modcfg(ev->host, &mod_offline);
	const char *host = ev->host->name, *user = ev->user;
	struct xml_node *d = xml_node_find(m, NS_DELAY, "delay");
	const char *f = xml_node_attr(m, "from");
	int64_t when = 0;
	char stamp[32], id[24];
	struct sbuf b;
	struct jid j;
	int rc, fits;

	if (d == NULL || xml_node_attr(d, "stamp") == NULL ||
	    time_parse_xep82(xml_node_attr(d, "stamp"), &when) < 0) {
		when = now_unix();
		if (d == NULL) {
			time_xep82(when, stamp, sizeof(stamp));
			d = xml_node_child(m, NS_DELAY, "delay");
			xml_node_set_attr(d, "from", host);
			xml_node_set_attr(d, "stamp", stamp);
		}
	}
	if (f == NULL || jid_parse_str(&j, f) < 0) {
		acct_import_fail(imp, m, "offline message: no valid from");
		return -1;
	}
	sbuf_init(&b);
	xml_serialize(m, XML_NS_CLIENT, &b);
	fits = offline_fits(host, user, cfg, b.len);
	if (fits <= 0) {
		if (fits == 0)
			acct_import_fail(imp, m,
			    "offline messages over offline.max_messages "
			    "(%lld) or offline.max_bytes (%lld)",
			    cfg->max_messages, cfg->max_bytes);
		else
			acct_import_fail(
			    imp, m, "offline messages: storage failure");
		rc = -1;
		goto out_free;
	}
	time_id(id, sizeof(id));
	rc = store_archive_append(
	    host, user, OFFLINE_STORE, id, when, j.bare, b.data, b.len);
	if (rc != 0)
		acct_import_store_fail(imp, m, rc, "offline message");
	else
		usage_add(host, user, b.len);
out_free:
	jid_cleanup(&j);
	sbuf_cleanup(&b);
	return rc == 0 ? 0 : -1;
}

static enum hook_ret
offline_import(struct hook_ev *ev)
{
	struct acct_import *imp = ev->data;
	struct xml_node *om = xml_node_find(
			    imp->user, NS_PIE, "offline-messages"),
			*m;

	if (om == NULL)
		return HOOK_CONTINUE;
	for (m = xml_node_first_el(om); m && !imp->failed;
	     m = xml_node_next_el(m))
		if (strcmp(m->name, "message") == 0 &&
		    (strcmp(m->ns, XML_NS_CLIENT) == 0 ||
			strcmp(m->ns, "jabber:server") == 0))
			import_msg(ev, imp, m);
	if (imp->failed)
		return HOOK_HANDLED;
	acct_import_take(imp, om);
	return HOOK_CONTINUE;
}

static const struct hook_reg offline_hooks[] = { { "message/offline",
						     offline_store, 0 },
	/* before the presence module, which may end the chain; the
	 * delivery itself is deferred (see offline_presence) */
	{ "presence/self", offline_presence, 10 },
	{ "session/confirmed", offline_confirmed, 0 },
	{ "user/deleted", offline_user_deleted, 0 },
	{ "user/export", offline_export, 0 },
	{ "user/import", offline_import, 0 },
	/* before stream management reroutes what was unconfirmed (-100) */
	{ "session/closed", offline_closed, 0 }, HOOK_REG_END };

static void
offline_session_free(void *data)
{
	struct offline_sess *o = data;
	size_t i;

	for (i = 0; i < o->npend; i++)
		free(o->pend[i].id);
	free(o->pend);
	free(o);
}

/* Each message to an offline user asks its usage: kept with the
 * account's state (xmpp/acct_cache.h). */
static int
offline_init(struct host *h)
{
	UNUSED(h);
	acct_cache_part(STORE_ARCHIVE, OFFLINE_STORE);
	return 0;
}

const struct module mod_offline = {
	.name = "offline",
	.spec = "XEP-0160, XEP-0203",
	.doc = "Keeps messages for users who are offline and delivers them "
	       "at their next available presence.",
	.features = (const char *const[]){ "msgoffline", NULL },
	.hooks = offline_hooks,
	.config = &offline_section,
	.session_free = offline_session_free,
	.init = offline_init,
};

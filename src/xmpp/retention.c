/* retention.c: expiry by age of the archive stores users' data lives in
 * (retention: section). A pass walks every account of every active host
 * and deletes, per store, the items older than the policy allows; it runs
 * as steps on an idle watcher, each step deleting at most retention.batch
 * items and looking at a bounded number of accounts, so the loop serves
 * connections between steps however much there is to delete; a busy
 * loop (never idle) still gets a step every NUDGE seconds. Going
 * account by account (not one DELETE over the whole store) keeps each
 * step small and lets caches of per-account usage follow every delete. */
#include "xmpp/retention.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "store/store.h"
#include "xml/xml.h"
#include "xmpp/account.h"
#include "xmpp/housekeeping.h"

#define USERS_PER_STEP 64
#define NUDGE 0.05

struct kept {
	enum store_kind kind; /* STORE_ARCHIVE: by item time; STORE_MAP:
			       * by the registered attribute of a value */
	const char *store, *what;
	size_t off; /* of the age limit in struct cfg_retention */
	/* the account's own limit (seconds, 0: none), or NULL */
	long long (*user_keep)(const char *host, const char *user);
};

static long long mam_user_keep(const char *host, const char *user);

static const struct kept kept[] = {
	{ STORE_ARCHIVE, "mam", "archive: archived messages (XEP-0313)",
	    offsetof(struct cfg_retention, archive), mam_user_keep },
	{ STORE_ARCHIVE, "offline",
	    "offline: messages waiting for offline users "
	    "(XEP-0160)",
	    offsetof(struct cfg_retention, offline), NULL },
	{ STORE_MAP, "push",
	    "push: push registrations not enabled again (XEP-0357)",
	    offsetof(struct cfg_retention, push), NULL },
};

long long
retention_parse_age(const char *s)
{
	static const struct {
		char c;
		long long mul;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	long long v = 0, mul = 0;
	const char *p = s;
	size_t i;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX / 86400 - 9) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (*p == '\0')
		mul = 1;
	for (i = 0; *p != '\0' && p[1] == '\0' && i < ARRAY_LEN(units); i++)
		if (*p == units[i].c)
			mul = units[i].mul;
	return mul == 0 || v == 0 ? -1 : v * mul;
}

long long
retention_user_archive(const char *prefs, size_t len)
{
	struct xml_node *p = xml_parse_element(prefs, len);
	struct xml_node *k = p ? xml_node_find(p, NS_RETENTION, "keep") : NULL;
	long long v = k ? retention_parse_age(xml_node_text_get(k)) : 0;

	xml_node_free(p);
	return v > 0 ? v : 0;
}

/* XEP-0313 preferences are the archive's settings: the user's limit is
 * kept with them (mod/mam.c checks it when the user sets it). */
static long long
mam_user_keep(const char *host, const char *user)
{
	char *doc = NULL;
	size_t len = 0;
	long long v;

	if (store_kv_get(host, user, "mam_prefs", &doc, &len) != 0)
		return 0;
	v = retention_user_archive(doc, len);
	free(doc);
	return v;
}

static long long
keep_of(const struct config *c, size_t k)
{
	long long v;

	memcpy(&v, (const char *)&c->retention + kept[k].off, sizeof(v));
	return v;
}

static struct {
	int running;
	unsigned passno;
	struct strlist hosts; /* active host names at the pass's start */
	size_t hi;	      /* the host being walked */
	struct strlist users; /* its accounts (snapshot) */
	size_t ui;	      /* the next account */
	size_t ui_done;	      /* ui + 1 once housekept (0: not yet) */
	long deleted;
	long accounts;			 /* walked */
	int64_t started_ms, max_step_ms; /* for the log */
} pass;

static ev_timer next_pass;
static ev_idle step_w;
static ev_timer nudge_w;
static int started;

int
retention_item(const struct config *c, size_t i, const char **store,
    const char **what, long long *keep)
{
	if (i >= ARRAY_LEN(kept))
		return -1;
	*store = kept[i].store;
	*what = kept[i].what;
	*keep = keep_of(c, i);
	return 0;
}

static int
add_user(void *ud, const char *user)
{
	strlist_add(ud, xstrdup(user));
	return 0;
}

static int
add_id(void *ud, const struct store_archive_item *it)
{
	strlist_add(ud, xstrdup(it->id));
	return 0;
}

/* Delete at most *budget items of user's store older than keep. */
static int
expire_user(const char *host, const char *user, const char *store,
    long long keep, long *budget)
{
	struct store_archive_query q = { 0 };
	struct strlist ids = { 0 };
	size_t i;
	int rc = 0;

	q.host = host;
	q.user = user;
	q.store = store;
	q.end = now_unix() - keep - 1; /* inclusive: strictly older */
	q.limit = *budget;
	if (store_archive_query(&q, add_id, &ids) < 0) {
		strlist_free(&ids);
		return -1;
	}
	for (i = 0; i < ids.n && rc == 0; i++)
		rc =
		    store_archive_del(host, user, store, ids.v[i]) < 0 ? -1 : 0;
	*budget -= (long)ids.n;
	pass.deleted += (long)ids.n;
	strlist_free(&ids);
	return rc;
}

struct stale {
	int64_t before;
	struct strlist keys;
};

static int
stale_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct stale *st = ud;
	struct xml_node *el = xml_parse_element(val, len);
	const char *t = el ? xml_node_attr(el, "registered") : NULL;

	/* undated (stored before dates were) is not known to be stale */
	if (t != NULL && strtoll(t, NULL, 10) < st->before)
		strlist_add(&st->keys, xstrdup(key));
	xml_node_free(el);
	return 0;
}

/* Delete at most *budget values of user's map store registered before
 * keep ago (the registered attribute of the stored element). */
static int
expire_map(const char *host, const char *user, const char *store,
    long long keep, long *budget)
{
	struct stale st = { .before = now_unix() - keep };
	size_t i;
	int rc = 0;

	if (store_map_list(host, user, store, stale_cb, &st) < 0) {
		strlist_free(&st.keys);
		return -1;
	}
	for (i = 0; i < st.keys.n && (long)i < *budget && rc == 0; i++)
		rc =
		    store_map_del(host, user, store, st.keys.v[i]) < 0 ? -1 : 0;
	*budget -= (long)i;
	pass.deleted += (long)i;
	strlist_free(&st.keys);
	return rc;
}

static void
pass_end(void)
{
	const struct config *c = config_running;

	ev_idle_stop(loop_ev, &step_w);
	ev_timer_stop(loop_ev, &nudge_w);
	strlist_free(&pass.hosts);
	strlist_free(&pass.users);
	log_info("retention pass=%u done deleted=%ld accounts=%ld ms=%lld "
		 "max_step_ms=%lld",
	    pass.passno, pass.deleted, pass.accounts,
	    (long long)(now_ms() - pass.started_ms),
	    (long long)pass.max_step_ms);
	pass.running = 0;
	if (c != NULL) {
		ev_timer_set(&next_pass, (double)c->retention.interval, 0.);
		ev_timer_start(loop_ev, &next_pass);
	}
}

/* The next host's accounts; 0 when there are none left. */
static int
next_host(void)
{
	struct host *h;

	strlist_free(&pass.users);
	pass.ui = 0;
	pass.ui_done = 0;
	while (pass.hi < pass.hosts.n) {
		h = host_find(pass.hosts.v[pass.hi++]);
		if (h == NULL)
			continue; /* dropped by a reload meanwhile */
		if (account_list(h->name, add_user, &pass.users) < 0)
			return 0;
		if (pass.users.n > 0)
			return 1;
	}
	return 0;
}

static void
step_run(void)
{
	const struct config *c = config_running;
	long budget, before;
	int users = USERS_PER_STEP;
	size_t k;

	if (c == NULL || store_failing()) {
		pass_end();
		return;
	}
	budget = (long)c->retention.batch;
	before = pass.deleted;
	while (budget > 0 && users-- > 0) {
		const char *host, *user;
		long long keep;

		if (pass.ui >= pass.users.n && !next_host()) {
			pass_end();
			return;
		}
		host = pass.hosts.v[pass.hi - 1];
		user = pass.users.v[pass.ui];
		/* deleted and inactive accounts first: a purged one has
		 * nothing left to expire */
		if (pass.ui_done != pass.ui + 1) {
			struct host *h = host_find(host);
			int gone = h ? housekeeping_account(h, user) : 0;

			pass.ui_done = pass.ui + 1;
			if (gone < 0) {
				pass_end();
				return;
			}
			if (gone > 0) {
				pass.ui++;
				pass.accounts++;
				continue;
			}
		}
		for (k = 0; k < ARRAY_LEN(kept) && budget > 0; k++) {
			keep = keep_of(c, k);
			if (kept[k].user_keep) {
				long long mine = kept[k].user_keep(host, user);

				/* shorter only */
				if (mine > 0 && (keep == 0 || mine < keep))
					keep = mine;
			}
			if (keep > 0 &&
			    (kept[k].kind == STORE_MAP
				    ? expire_map(host, user, kept[k].store,
					  keep, &budget)
				    : expire_user(host, user, kept[k].store,
					  keep, &budget)) < 0) {
				pass_end();
				return;
			}
		}
		/* a spent budget may have left some: this account again */
		if (budget > 0) {
			pass.ui++;
			pass.accounts++;
		}
	}
	if (pass.deleted > before)
		log_debug("retention pass=%u step deleted=%ld", pass.passno,
		    pass.deleted - before);
}

static void
step_timed(void)
{
	int64_t t0 = now_ms(), t;

	if (!pass.running)
		return;
	step_run();
	t = now_ms() - t0;
	if (t > pass.max_step_ms)
		pass.max_step_ms = t;
}

static void
step(struct ev_loop *l, ev_idle *w, int revents)
{
	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	step_timed();
}

static void
nudge(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	step_timed();
}

static void
pass_start(struct ev_loop *l, ev_timer *w, int revents)
{
	struct host *h;

	UNUSED(l);
	UNUSED(w);
	UNUSED(revents);
	if (pass.running || config_running == NULL)
		return;
	memset(&pass.hosts, 0, sizeof(pass.hosts));
	for (h = host_list; h; h = h->next)
		if (h->active)
			strlist_add(&pass.hosts, xstrdup(h->name));
	pass.hi = 0;
	pass.ui = 0;
	pass.ui_done = 0;
	pass.deleted = 0;
	pass.accounts = 0;
	pass.max_step_ms = 0;
	pass.started_ms = now_ms();
	pass.passno++;
	pass.running = 1;
	ev_idle_start(loop_ev, &step_w);
	ev_timer_start(loop_ev, &nudge_w);
}

void
retention_setup(const struct config *c)
{
	if (!started) {
		ev_timer_init(&next_pass, pass_start, 0., 0.);
		ev_idle_init(&step_w, step);
		ev_timer_init(&nudge_w, nudge, NUDGE, NUDGE);
		started = 1;
	}
	/* a pass under way goes on with the new policy; otherwise the
	 * next one starts now (and then follows the new interval) */
	if (pass.running)
		return;
	UNUSED(c);
	ev_timer_stop(loop_ev, &next_pass);
	ev_timer_set(&next_pass, 0., 0.);
	ev_timer_start(loop_ev, &next_pass);
}

void
retention_stop(void)
{
	if (!started)
		return;
	ev_timer_stop(loop_ev, &next_pass);
	ev_idle_stop(loop_ev, &step_w);
	ev_timer_stop(loop_ev, &nudge_w);
	strlist_free(&pass.hosts);
	strlist_free(&pass.users);
	pass.running = 0;
}

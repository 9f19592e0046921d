/* acct_cache.c: per-account state loaded once, see acct_cache.h.
 *
 * Entries are found by "user@host" in a hash and kept on an LRU list. An
 * entry is LOADING from the store_load_async call to its callback (which
 * finds it again by key and id: an entry may be forgotten meanwhile),
 * then LOADED. Stanzas that wait are copies, with their sender and the
 * origin session's full JID and id, never a pointer. The callback routes
 * them in order; stanzas for the account that come while they are being
 * routed join the end of the queue, so the order holds.
 *
 * Eviction runs at the end of each loop iteration only, so what a stanza
 * found loaded stays loaded while it is routed (sender and recipient may
 * both need theirs; a small cap must not evict one to load the other).
 * An entry that is loading, has stanzas waiting or is routing them is
 * never evicted. */
#include "xmpp/acct_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "jid/jid.h"
#include "xml/xml.h"
#include "xmpp/session.h"

#define ACCOUNTS_STORE "accounts" /* xmpp/account.c's documents */
#define PARTS_MAX 16

static struct store_load_part parts[PARTS_MAX];
static char *part_names[PARTS_MAX];
static size_t nparts;

static long long cap = 32LL * 1024 * 1024;
static long long queue_max = 256;
static acct_cache_route_fn route_fn;

struct held {
	struct held *next;
	struct xml_node *st;
	struct jid from;
	char *origin_full; /* NULL: none */
	uint64_t origin_id;
	int filter;
	/* the account st passed before it waited here: kept until st is
	 * routed, so a small cap cannot evict one account while st waits
	 * for the other, again and again */
	char *pin_key;
	uint64_t pin_uid;
};

struct apart {
	int loaded;
	/* STORE_KV */
	int found;
	char *val;
	size_t len;
	/* STORE_MAP, sorted by key */
	struct store_load_row *rows;
	size_t nrows, cap;
	/* STORE_ARCHIVE */
	long long count, bytes;
};

enum astate { ACCT_LOADING, ACCT_LOADED };

struct acct {
	struct acct *hnext;
	struct acct *prev, *next; /* LRU: head most recent */
	char *key;		  /* "user@host" */
	char *host, *user;
	uint64_t uid;  /* this entry, for pins */
	uint64_t id;   /* its current load */
	unsigned pins; /* stanzas waiting elsewhere that passed it */
	enum astate state;
	int stale;     /* written while loading: load again */
	int replaying; /* routing its queue now */
	int pass;      /* routing one of them: it (and what it sends) goes */
	int dropme;    /* forgotten while replaying */
	long long bytes;
	struct apart *p;
	size_t np;
	struct held *qhead, **qtail;
	size_t qn;
};

static struct acct **tab;
static size_t tab_nb, tab_n;
static struct acct *lru_head, *lru_tail;
static long long total_bytes;
/* Something may have become droppable (see acct_cache_trim): trim scans
 * the LRU only then or when over the cap, not at every iteration. */
static int trim_due;
static uint64_t next_id = 1;
static struct acct_cache_stats stats;
static int trim_registered;

/* ---- registry of parts and settings ---- */

void
acct_cache_part(enum store_kind kind, const char *store)
{
	size_t i;

	/* part 0 is always the account's own document */
	if (nparts == 0 &&
	    (kind != STORE_KV || strcmp(store, ACCOUNTS_STORE) != 0))
		acct_cache_part(STORE_KV, ACCOUNTS_STORE);
	for (i = 0; i < nparts; i++)
		if (parts[i].kind == kind && strcmp(parts[i].store, store) == 0)
			return;
	if (nparts == PARTS_MAX) {
		log_err("acct_cache: more than %d parts; %s is read from "
			"the store",
		    PARTS_MAX, store);
		return;
	}
	part_names[nparts] = xstrdup(store);
	parts[nparts].kind = kind;
	parts[nparts].store = part_names[nparts];
	nparts++;
}

static void observe(const struct store_change *c);

static void
parts_init(void)
{
	if (nparts == 0)
		acct_cache_part(STORE_KV, ACCOUNTS_STORE);
	/* on first use: no entry exists before, so no write is missed */
	if (!trim_registered) {
		loop_at_idle(LOOP_LAST, acct_cache_trim);
		store_set_observer(observe);
		trim_registered = 1;
	}
}

static int
part_find(enum store_kind kind, const char *store)
{
	size_t i;

	for (i = 0; i < nparts; i++)
		if (parts[i].kind == kind && strcmp(parts[i].store, store) == 0)
			return (int)i;
	return -1;
}

void
acct_cache_set_cap(long long bytes)
{
	cap = bytes;
}

void
acct_cache_set_queue(long long stanzas)
{
	queue_max = stanzas;
}

void
acct_cache_set_router(acct_cache_route_fn fn)
{
	route_fn = fn;
}

/* ---- entries ---- */

static size_t
make_key(char *buf, size_t len, const char *host, const char *user)
{
	size_t ul = strlen(user), hl = strlen(host);

	if (ul + hl + 2 > len)
		return 0;
	memcpy(buf, user, ul);
	buf[ul] = '@';
	memcpy(buf + ul + 1, host, hl + 1);
	return ul + hl + 1;
}

static size_t
bucket(const char *key, size_t klen)
{
	return hash_bytes(HASH_INIT, key, klen) & (tab_nb - 1);
}

static struct acct *
find_key(const char *key)
{
	struct acct *a;

	if (tab_nb == 0)
		return NULL;
	for (a = tab[bucket(key, strlen(key))]; a; a = a->hnext)
		if (strcmp(a->key, key) == 0)
			return a;
	return NULL;
}

static struct acct *
find(const char *host, const char *user)
{
	char key[2 * JID_PART_MAX + 2];

	if (host == NULL || user == NULL || *user == '\0' ||
	    make_key(key, sizeof(key), host, user) == 0)
		return NULL;
	return find_key(key);
}

static void
lru_unlink(struct acct *a)
{
	if (a->prev)
		a->prev->next = a->next;
	else
		lru_head = a->next;
	if (a->next)
		a->next->prev = a->prev;
	else
		lru_tail = a->prev;
	a->prev = a->next = NULL;
}

static void
lru_front(struct acct *a)
{
	if (lru_head == a)
		return;
	if (a->prev || a->next || lru_tail == a)
		lru_unlink(a);
	a->next = lru_head;
	if (lru_head)
		lru_head->prev = a;
	lru_head = a;
	if (lru_tail == NULL)
		lru_tail = a;
}

static void
grow_tab(void)
{
	size_t nb = tab_nb ? tab_nb * 2 : 256, i;
	struct acct **n = xcalloc(nb, sizeof(*n)), *a, *next;

	for (i = 0; i < tab_nb; i++)
		for (a = tab[i]; a; a = next) {
			size_t b;

			next = a->hnext;
			b = hash_bytes(HASH_INIT, a->key, strlen(a->key)) &
			    (nb - 1);
			a->hnext = n[b];
			n[b] = a;
		}
	free(tab);
	tab = n;
	tab_nb = nb;
}

/* What an entry holds, for the cap. */
static long long
part_bytes(const struct apart *p)
{
	long long b = (long long)p->len;
	size_t i;

	for (i = 0; i < p->nrows; i++)
		b += (long long)(sizeof(p->rows[i]) + strlen(p->rows[i].key) +
				 p->rows[i].len + 2);
	return b;
}

static void
account_bytes(struct acct *a)
{
	long long b = (long long)(sizeof(*a) + 2 * strlen(a->key) + 4 +
				  a->np * sizeof(*a->p));
	size_t i;

	for (i = 0; i < a->np; i++)
		b += part_bytes(&a->p[i]);
	total_bytes += b - a->bytes;
	a->bytes = b;
}

static void
part_clear(struct apart *p)
{
	size_t i;

	free(p->val);
	for (i = 0; i < p->nrows; i++) {
		free(p->rows[i].key);
		free(p->rows[i].val);
	}
	free(p->rows);
	memset(p, 0, sizeof(*p));
}

static struct acct *find_key(const char *key);

static void
held_free(struct held *h)
{
	struct acct *p = h->pin_key ? find_key(h->pin_key) : NULL;

	if (p && p->uid == h->pin_uid && p->pins > 0)
		p->pins--;
	free(h->pin_key);
	xml_node_free(h->st);
	jid_cleanup(&h->from);
	free(h->origin_full);
	free(h);
}

static void
acct_free(struct acct *a)
{
	struct acct **pp;
	struct held *h;
	size_t i;

	for (pp = &tab[bucket(a->key, strlen(a->key))]; *pp; pp = &(*pp)->hnext)
		if (*pp == a) {
			*pp = a->hnext;
			break;
		}
	tab_n--;
	lru_unlink(a);
	total_bytes -= a->bytes;
	for (i = 0; i < a->np; i++)
		part_clear(&a->p[i]);
	free(a->p);
	while ((h = a->qhead) != NULL) {
		a->qhead = h->next;
		held_free(h);
	}
	free(a->key);
	free(a->user); /* host is in the same block */
	free(a);
}

/* What nobody may use any more: free it, or make every read go to the
 * store until it can be (it is loading or routing its queue). */
static void
acct_forget(struct acct *a)
{
	size_t i;

	if (a->state == ACCT_LOADING) {
		a->stale = 1;
		return;
	}
	if (a->replaying || a->qn > 0 || a->pins > 0) {
		for (i = 0; i < a->np; i++)
			part_clear(&a->p[i]);
		account_bytes(a);
		a->dropme = 1;
		trim_due = 1;
		return;
	}
	acct_free(a);
}

static void load_start(struct acct *a);

static struct acct *
acct_new(const char *host, const char *user)
{
	struct acct *a = xcalloc(1, sizeof(*a));
	size_t hl = strlen(host), ul = strlen(user), b;

	if (tab_n + 1 > tab_nb)
		grow_tab();
	a->key = xmalloc(ul + hl + 2);
	make_key(a->key, ul + hl + 2, host, user);
	/* host and user point into a copy after the key: "user\0host" */
	a->user = xmalloc(ul + hl + 2);
	memcpy(a->user, user, ul + 1);
	a->host = a->user + ul + 1;
	memcpy(a->host, host, hl + 1);
	a->uid = a->id = next_id++;
	a->qtail = &a->qhead;
	b = bucket(a->key, strlen(a->key));
	a->hnext = tab[b];
	tab[b] = a;
	tab_n++;
	lru_front(a);
	account_bytes(a);
	return a;
}

/* ---- loading ---- */

struct load_ud {
	char *host, *user;
	uint64_t id;
};

static int
row_cmp(const void *x, const void *y)
{
	const struct store_load_row *a = x, *b = y;

	return strcmp(a->key, b->key);
}

static void replay(struct acct *a);

static void
load_done(void *ud, int rc, struct store_load_res *res)
{
	struct load_ud *l = ud;
	struct acct *a = find(l->host, l->user);
	size_t i, n = 0;

	if (a == NULL || a->id != l->id || a->state != ACCT_LOADING)
		goto out_free; /* gone meanwhile: nobody waits for it */
	if (a->stale) {
		/* written while the rows were on their way: ask again */
		a->stale = 0;
		load_start(a);
		goto out_free;
	}
	/* the parts asked: those registered when the load started */
	if (rc == 0)
		n = a->np;
	for (i = 0; i < n; i++) {
		struct apart *p = &a->p[i];
		struct store_load_res *r = &res[i];

		p->loaded = 1;
		p->found = r->found;
		/* of the account's document only its existence is kept
		 * (not its keys: SASL reads those from the store) */
		if (i > 0) {
			p->val = r->val;
			p->len = r->len;
			r->val = NULL;
		}
		p->rows = r->rows;
		p->nrows = p->cap = r->nrows;
		r->rows = NULL;
		r->nrows = 0;
		if (p->nrows > 1)
			qsort(p->rows, p->nrows, sizeof(*p->rows), row_cmp);
		p->count = r->count;
		p->bytes = r->bytes;
	}
	a->state = ACCT_LOADED;
	trim_due = 1; /* it may not exist, or be kept past the cap */
	if (rc < 0)
		a->dropme = 1; /* reads go to the store; trim drops it */
	account_bytes(a);
	replay(a);
out_free:
	free(l->host);
	free(l);
}

static void
load_start(struct acct *a)
{
	struct load_ud *l = xmalloc(sizeof(*l));
	size_t i;

	for (i = 0; i < a->np; i++)
		part_clear(&a->p[i]);
	free(a->p);
	a->np = nparts;
	a->p = xcalloc(nparts ? nparts : 1, sizeof(*a->p));
	a->state = ACCT_LOADING;
	a->id = next_id++;
	account_bytes(a);
	/* one allocation: "host\0user" */
	l->host = xmalloc(strlen(a->host) + strlen(a->user) + 2);
	memcpy(l->host, a->host, strlen(a->host) + 1);
	l->user = l->host + strlen(a->host) + 1;
	memcpy(l->user, a->user, strlen(a->user) + 1);
	l->id = a->id;
	stats.loads++;
	if (store_load_async(a->host, a->user, parts, a->np, load_done, l) < 0)
		load_done(l, -1, NULL);
}

/* Route what waited, oldest first; what comes meanwhile queues behind. */
static void
replay(struct acct *a)
{
	struct held *h;

	if (a->replaying)
		return;
	a->replaying = 1;
	while ((h = a->qhead) != NULL) {
		struct session *origin = NULL;

		a->qhead = h->next;
		if (a->qhead == NULL)
			a->qtail = &a->qhead;
		a->qn--;
		if (h->origin_full)
			origin = session_find_id(h->origin_full, h->origin_id);
		/* the stanza passes this account now, and so does what
		 * routing it sends at once, as with an inline load */
		a->pass = 1;
		if (route_fn)
			route_fn(h->st, &h->from, origin, h->filter);
		a->pass = 0;
		held_free(h);
	}
	a->replaying = 0;
	/* a dropme entry goes at the next trim: our caller may hold a */
}

void
acct_cache_want(const char *host, const char *user)
{
	struct acct *a;

	parts_init();
	a = find(host, user);
	if (a == NULL) {
		a = acct_new(host, user);
		load_start(a);
	}
	lru_front(a);
}

int
acct_cache_hold(const char *host, const char *user, const struct xml_node *st,
    const struct jid *from, const struct session *origin, int filter,
    const char *passed_host, const char *passed_user)
{
	struct acct *a, *p;
	struct held *h;

	parts_init();
	a = find(host, user);
	if (a == NULL) {
		a = acct_new(host, user);
		load_start(a); /* inline backends: loaded when it returns */
	}
	lru_front(a);
	if (a->pass || (a->state == ACCT_LOADED && a->qn == 0))
		return 1;
	if (a->qn >= (size_t)queue_max) {
		log_info("acct_cache: queue of %s full (%zu stanzas) while "
			 "its state loads",
		    a->key, a->qn);
		return -1;
	}
	h = xcalloc(1, sizeof(*h));
	h->st = xml_node_dup(st);
	jid_copy(&h->from, from);
	if (origin) {
		h->origin_full = xstrdup(origin->jid.full);
		h->origin_id = origin->id;
	}
	h->filter = filter;
	p = find(passed_host, passed_user);
	if (p != NULL) {
		h->pin_key = xstrdup(p->key);
		h->pin_uid = p->uid;
		p->pins++;
	}
	log_debug(
	    "acct_cache: <%s/> waits for the state of %s", st->name, a->key);
	*a->qtail = h;
	a->qtail = &h->next;
	a->qn++;
	stats.waits++;
	return 0;
}

/* ---- reads ---- */

/* The loaded part of user@host, or NULL (read the store). */
static struct apart *
part_of(
    const char *host, const char *user, enum store_kind kind, const char *store)
{
	struct acct *a = find(host, user);
	int i;

	if (a == NULL || a->state != ACCT_LOADED) {
		stats.misses++;
		return NULL;
	}
	i = part_find(kind, store);
	if (i < 0 || (size_t)i >= a->np || !a->p[i].loaded) {
		stats.misses++;
		return NULL;
	}
	stats.hits++;
	return &a->p[i];
}

/* Index of key in p's rows, or where it goes (*found 0). */
static size_t
row_find(const struct apart *p, const char *key, int *found)
{
	return str_search(p->rows, p->nrows, sizeof(*p->rows), key, found);
}

int
acct_cache_exists(const char *host, const char *user)
{
	struct apart *p = part_of(host, user, STORE_KV, ACCOUNTS_STORE);
	char *doc = NULL;
	int rc;

	if (p)
		return p->found ? 0 : 1;
	rc = store_kv_get(host, user, ACCOUNTS_STORE, &doc, NULL);
	free(doc);
	return rc;
}

int
acct_cache_kv_get(const char *host, const char *user, const char *store,
    char **val, size_t *len)
{
	struct apart *p = strcmp(store, ACCOUNTS_STORE) == 0
			      ? NULL /* its value is not kept */
			      : part_of(host, user, STORE_KV, store);

	if (p == NULL)
		return store_kv_get(host, user, store, val, len);
	if (!p->found)
		return 1;
	if (val)
		*val = xstrndup(p->val ? p->val : "", p->len);
	if (len)
		*len = p->len;
	return 0;
}

int
acct_cache_map_get(const char *host, const char *user, const char *store,
    const char *key, char **val, size_t *len)
{
	struct apart *p = part_of(host, user, STORE_MAP, store);
	size_t i;
	int found;

	if (p == NULL)
		return store_map_get(host, user, store, key, val, len);
	i = row_find(p, key, &found);
	if (!found)
		return 1;
	if (val)
		*val = xstrndup(p->rows[i].val, p->rows[i].len);
	if (len)
		*len = p->rows[i].len;
	return 0;
}

int
acct_cache_map_list(const char *host, const char *user, const char *store,
    int (*cb)(void *ud, const char *key, const char *val, size_t len), void *ud)
{
	struct apart *p = part_of(host, user, STORE_MAP, store);
	struct store_load_row *v;
	size_t i, n;
	int rc = 0;

	if (p == NULL)
		return store_map_list(host, user, store, cb, ud);
	/* a copy: the callback may write (and so change or drop p), as
	 * store_map_list allows */
	n = p->nrows;
	v = xcalloc(n ? n : 1, sizeof(*v));
	for (i = 0; i < n; i++) {
		v[i].key = xstrdup(p->rows[i].key);
		v[i].val = xstrndup(p->rows[i].val, p->rows[i].len);
		v[i].len = p->rows[i].len;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = cb(ud, v[i].key, v[i].val, v[i].len);
	for (i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].val);
	}
	free(v);
	return rc < 0 ? -1 : 0;
}

int
acct_cache_map_count(
    const char *host, const char *user, const char *store, long *count)
{
	struct apart *p = part_of(host, user, STORE_MAP, store);

	if (p == NULL)
		return store_map_count(host, user, store, count);
	*count = (long)p->nrows;
	return 0;
}

static int
usage_cb(void *ud, const struct store_archive_item *it)
{
	long long *cb = ud;

	cb[0]++;
	cb[1] += (long long)it->len;
	return 0;
}

int
acct_cache_archive_usage(const char *host, const char *user, const char *store,
    long long *count, long long *bytes)
{
	struct apart *p = part_of(host, user, STORE_ARCHIVE, store);
	struct store_archive_query q = { 0 };
	long long cb[2] = { 0, 0 };

	if (p) {
		*count = p->count;
		*bytes = p->bytes;
		return 0;
	}
	q.host = host;
	q.user = user;
	q.store = store;
	if (store_archive_query(&q, usage_cb, cb) < 0)
		return -1;
	*count = cb[0];
	*bytes = cb[1];
	return 0;
}

/* ---- writes (store.h's observer) ---- */

static void
map_set(struct apart *p, const char *key, const char *val, size_t len)
{
	int found;
	size_t i = row_find(p, key, &found);

	if (found) {
		free(p->rows[i].val);
	} else {
		if (p->nrows == p->cap) {
			p->cap = p->cap ? p->cap * 2 : 8;
			p->rows = xrealloc(p->rows, p->cap * sizeof(*p->rows));
		}
		memmove(&p->rows[i + 1], &p->rows[i],
		    (p->nrows - i) * sizeof(*p->rows));
		p->nrows++;
		p->rows[i].key = xstrdup(key);
	}
	p->rows[i].val = xstrndup(val ? val : "", len);
	p->rows[i].len = len;
}

static void
map_del(struct apart *p, const char *key)
{
	int found;
	size_t i;

	if (key == NULL) {
		part_clear(p);
		p->loaded = 1;
		return;
	}
	i = row_find(p, key, &found);
	if (!found)
		return;
	free(p->rows[i].key);
	free(p->rows[i].val);
	memmove(&p->rows[i], &p->rows[i + 1],
	    (p->nrows - i - 1) * sizeof(*p->rows));
	p->nrows--;
}

static void
forget_all(void)
{
	struct acct *a, *next;

	for (a = lru_head; a; a = next) {
		next = a->next;
		acct_forget(a);
	}
}

/* Items of an archive part went from every account: what they took is
 * unknown here, so those accounts load afresh. */
static void
expire_all(const char *store)
{
	int i = part_find(STORE_ARCHIVE, store);
	struct acct *a, *next;

	if (i < 0)
		return;
	for (a = lru_head; a; a = next) {
		next = a->next;
		if (a->state == ACCT_LOADING || (size_t)i < a->np)
			acct_forget(a);
	}
}

static void
observe(const struct store_change *c)
{
	static const enum store_kind kinds[] = {
		[STORE_CHANGE_KV_SET] = STORE_KV,
		[STORE_CHANGE_KV_DEL] = STORE_KV,
		[STORE_CHANGE_MAP_SET] = STORE_MAP,
		[STORE_CHANGE_MAP_DEL] = STORE_MAP,
		[STORE_CHANGE_AR_APPEND] = STORE_ARCHIVE,
		[STORE_CHANGE_AR_DEL] = STORE_ARCHIVE,
	};
	struct acct *a;
	struct apart *p;
	size_t i;
	int k;

	if (c->op == STORE_CHANGE_ALL) {
		forget_all();
		return;
	}
	if (c->op == STORE_CHANGE_AR_EXPIRE) {
		expire_all(c->store);
		return;
	}
	a = find(c->host, c->user);
	if (a == NULL)
		return;
	k = c->op == STORE_CHANGE_USER_DEL ? 0
					   : part_find(kinds[c->op], c->store);
	if (k < 0)
		return; /* not a store kept here */
	if (a->state == ACCT_LOADING) {
		a->stale = 1;
		return;
	}
	if (!c->applied) {
		/* the backend does not have it yet: read what it has */
		acct_forget(a);
		return;
	}
	if (c->op == STORE_CHANGE_USER_DEL) {
		for (i = 0; i < a->np; i++) {
			int loaded = a->p[i].loaded;

			part_clear(&a->p[i]);
			a->p[i].loaded = loaded;
		}
		account_bytes(a);
		return;
	}
	if ((size_t)k >= a->np || !a->p[k].loaded)
		return;
	p = &a->p[k];
	switch (c->op) {
	case STORE_CHANGE_KV_SET:
		p->found = 1;
		if (k == 0)
			break; /* the account's document: existence only */
		free(p->val);
		p->val = xstrndup(c->val ? c->val : "", c->len);
		p->len = c->len;
		break;
	case STORE_CHANGE_KV_DEL:
		free(p->val);
		p->val = NULL;
		p->len = 0;
		p->found = 0;
		trim_due = 1;
		break;
	case STORE_CHANGE_MAP_SET:
		map_set(p, c->key, c->val, c->len);
		break;
	case STORE_CHANGE_MAP_DEL:
		map_del(p, c->key);
		break;
	case STORE_CHANGE_AR_APPEND:
		p->count++;
		p->bytes += (long long)c->len;
		break;
	case STORE_CHANGE_AR_DEL:
		if (c->key != NULL) {
			/* the size of the item is unknown here: load afresh */
			acct_forget(a);
			return;
		}
		p->count = p->bytes = 0;
		break;
	default:
		break;
	}
	account_bytes(a);
}

void
acct_cache_forget(const char *host, const char *user)
{
	struct acct *a = find(host, user);

	if (a)
		acct_forget(a);
}

/* ---- eviction ---- */

static int
busy(const struct acct *a)
{
	return a->state == ACCT_LOADING || a->qn > 0 || a->replaying ||
	       a->pins > 0;
}

void
acct_cache_trim(void)
{
	struct acct *a, *prev;

	/* walking every held account at every iteration cost a busy
	 * server ~8% of its CPU at 1,000 accounts */
	if (!trim_due && total_bytes <= cap)
		return;
	trim_due = 0;
	for (a = lru_tail; a; a = prev) {
		prev = a->prev;
		/* an account that does not exist is not kept: another
		 * process (ternctl import) may create it unseen */
		if (!a->dropme && total_bytes <= cap &&
		    !(a->np > 0 && a->p[0].loaded && !a->p[0].found))
			continue;
		if (busy(a)) {
			trim_due = 1; /* again once it is not */
			continue;
		}
		acct_free(a);
	}
}

void
acct_cache_free_all(void)
{
	struct acct *a;
	struct held *h;

	/* queues first: their pins name entries freed below */
	for (a = lru_head; a; a = a->next)
		while ((h = a->qhead) != NULL) {
			a->qhead = h->next;
			held_free(h);
		}
	while (lru_head)
		acct_free(lru_head);
	free(tab);
	tab = NULL;
	tab_nb = tab_n = 0;
	total_bytes = 0;
}

void
acct_cache_stats(struct acct_cache_stats *out)
{
	*out = stats;
	out->bytes = total_bytes;
	out->accounts = tab_n;
}

int
acct_cache_held(const char *host, const char *user)
{
	return find(host, user) != NULL;
}

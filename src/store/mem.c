/* mem.c: the in-memory storage backend, for tests: nothing survives a
 * restart. It answers every call as sqlite.c does, so one conformance
 * suite (tests/unit/test_store.c) runs on both, and mem.h lets tests make
 * reads, writes and commits fail.
 *
 * Data: rows are immutable, reference-counted blocks (key, with-JID and
 * value in one allocation) held by groups, one per (kind, host, user,
 * store), which hang off their account (host, user) in a hash. One more
 * hash finds the live rows by (group, key). A map group's rows are put in
 * key order when listed (and stay in order while keys come in order); an
 * archive group's rows are kept in ("when", seq) order, the order SQLite
 * returns them in, seq counting appends.
 *
 * Transactions: a write never changes a row; it marks the row it replaces
 * or deletes dead and adds new ones, and notes that in the undo log. A
 * rollback (or a failed commit) undoes the log backwards: dead rows come
 * back where they were, so the archive order is untouched. A commit
 * forgets the log. Dead rows leave their group only at the end of a
 * transaction, once more than half of the group is dead: O(1) amortised
 * per write.
 *
 * Listings first collect the rows they will return (taking a reference
 * on each), then call back: a callback may write, list or commit without
 * the listing going wrong under it.
 *
 * Deferred loads (store_mem_defer): store_load_async answers on a later
 * loop iteration, as a network database would, so tests run the code
 * that waits for an account's state. The rows are read when the answer
 * is given, not when it was asked. */
#include "store/mem.h"
#include "store/store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

/* A node of an intrusive hash table: the first member of what it chains. */
struct mnode {
	struct mnode *next;
	uint32_t hash;
};

struct mtab {
	struct mnode **b;
	size_t nb, n; /* nb: a power of two, or 0 */
};

struct mgroup;

struct mrow {
	struct mnode node; /* in the index while live */
	struct mgroup *g;
	long refs; /* the group's, and every listing's that holds it */
	int live;
	int64_t when;	  /* archive */
	uint64_t seq;	  /* archive: order of appends */
	long long bytes;  /* what it counts for the quota */
	const char *key;  /* map key, archive id; "" for keyval */
	const char *with; /* archive; "" for none */
	const char *val;
	size_t len;
	/* key, with and value follow, each NUL-terminated */
};

struct muser {
	struct mnode node; /* in users */
	char *host, *user;
	struct mgroup **groups;
	size_t ng, cap;
};

struct mgroup {
	struct muser *u;
	enum store_kind kind;
	char *store;
	struct mrow **rows; /* live and dead */
	size_t n, cap;
	size_t nlive;
	long long bytes; /* of the live rows */
	int sorted;	 /* map: rows are in key order */
	int touched;	 /* in the transaction's touched list */
};

struct mundo {
	struct mrow *row;
	int added; /* else killed */
};

struct mfault {
	int skip, count;
};

struct mem_store {
	struct store base; /* first: the wrappers cast to it */
	struct mtab users; /* struct muser by (host, user) */
	struct mtab index; /* live struct mrow by (group, key) */
	uint64_t seq;
	int tx; /* a write transaction is open */
	struct mundo *undo;
	size_t nundo, capundo;
	struct mgroup **touched; /* groups written in this transaction */
	size_t ntouched, captouched;
	struct mfault fault[STORE_MEM_NFAULTS];
	int deferred;		   /* store_mem_defer */
	struct mload *loads;	   /* asked, not answered, oldest first */
	struct mload **loads_tail; /* where the next one goes */
	ev_timer load_w;	   /* answers them on the next iteration */
};

/* A store_load_async asked in deferred mode. */
struct mload {
	struct mload *next;
	char *host, *user;
	struct store_load_part *parts;
	char **stores; /* the parts' store names, owned */
	size_t nparts;
	store_load_cb cb;
	void *ud;
};

/* Shrink the transaction's logs past this many entries. */
#define MEM_KEEP 65536

static struct mem_store *
ms(struct store *st)
{
	return (struct mem_store *)st;
}

/* SQLite binds a NULL string as "" (sq_bind_text): so does this. */
static const char *
nz(const char *s)
{
	return s ? s : "";
}

/* p, an array of *cap elements of size bytes, grown to hold need. */
static void *
grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 8;

	if (need <= *cap)
		return p;
	while (c < need)
		c *= 2;
	*cap = c;
	return xrealloc(p, c * size);
}

/* ---- hash tables ---- */

static void
tab_grow(struct mtab *t)
{
	size_t nb = t->nb ? t->nb * 2 : 64, i;
	struct mnode **b = xcalloc(nb, sizeof(*b)), *e, *next;

	for (i = 0; i < t->nb; i++)
		for (e = t->b[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static void
tab_add(struct mtab *t, struct mnode *e, uint32_t hash)
{
	if (t->n >= t->nb)
		tab_grow(t);
	e->hash = hash;
	e->next = t->b[hash & (t->nb - 1)];
	t->b[hash & (t->nb - 1)] = e;
	t->n++;
}

static void
tab_del(struct mtab *t, struct mnode *e)
{
	struct mnode **pp = &t->b[e->hash & (t->nb - 1)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	t->n--;
}

static struct mnode *
tab_chain(const struct mtab *t, uint32_t hash)
{
	return t->nb ? t->b[hash & (t->nb - 1)] : NULL;
}

/* ---- accounts, groups, rows ---- */

static uint32_t
user_hash(const char *host, const char *user)
{
	return hash_bytes(
	    hash_bytes(HASH_INIT, host, strlen(host) + 1), user, strlen(user));
}

static struct muser *
user_find(struct mem_store *s, const char *host, const char *user, int create)
{
	uint32_t h = user_hash(host, user);
	size_t hl, ul;
	struct muser *u;
	struct mnode *e;

	for (e = tab_chain(&s->users, h); e != NULL; e = e->next) {
		u = (struct muser *)e;
		if (e->hash == h && strcmp(u->host, host) == 0 &&
		    strcmp(u->user, user) == 0)
			return u;
	}
	if (!create)
		return NULL;
	hl = strlen(host);
	ul = strlen(user);
	u = xcalloc(1, sizeof(*u) + hl + ul + 2);
	u->host = (char *)(u + 1);
	memcpy(u->host, host, hl + 1);
	u->user = u->host + hl + 1;
	memcpy(u->user, user, ul + 1);
	tab_add(&s->users, &u->node, h);
	return u;
}

static void
touch(struct mem_store *s, struct mgroup *g)
{
	if (g->touched)
		return;
	g->touched = 1;
	s->touched = grow(
	    s->touched, &s->captouched, s->ntouched + 1, sizeof(*s->touched));
	s->touched[s->ntouched++] = g;
}

static struct mgroup *
group_find(struct mem_store *s, enum store_kind kind, const char *host,
    const char *user, const char *store, int create)
{
	struct muser *u = user_find(s, nz(host), nz(user), create);
	struct mgroup *g;
	size_t i;

	if (u == NULL)
		return NULL;
	store = nz(store);
	for (i = 0; i < u->ng; i++)
		if (u->groups[i]->kind == kind &&
		    strcmp(u->groups[i]->store, store) == 0)
			return u->groups[i];
	if (!create)
		return NULL;
	g = xcalloc(1, sizeof(*g));
	g->u = u;
	g->kind = kind;
	g->store = xstrdup(store);
	g->sorted = 1;
	u->groups = grow(u->groups, &u->cap, u->ng + 1, sizeof(*u->groups));
	u->groups[u->ng++] = g;
	/* an empty group goes at the end of the transaction */
	touch(s, g);
	return g;
}

static uint32_t
row_hash(const struct mgroup *g, const char *key)
{
	return hash_bytes(
	    hash_bytes(HASH_INIT, &g, sizeof(g)), key, strlen(key));
}

/* The live row of key in g (NULL: none, or no group). */
static struct mrow *
row_find(struct mem_store *s, const struct mgroup *g, const char *key)
{
	struct mnode *e;
	struct mrow *r;
	uint32_t h;

	if (g == NULL)
		return NULL;
	key = nz(key);
	h = row_hash(g, key);
	for (e = tab_chain(&s->index, h); e != NULL; e = e->next) {
		r = (struct mrow *)e;
		if (e->hash == h && r->g == g && strcmp(r->key, key) == 0)
			return r;
	}
	return NULL;
}

static struct mrow *
row_new(enum store_kind kind, const char *key, int64_t when, const char *with,
    const char *val, size_t len)
{
	size_t kl = strlen(key), wl = strlen(with);
	struct mrow *r = xcalloc(1, sizeof(*r) + kl + wl + len + 3);
	char *p = (char *)(r + 1);

	memcpy(p, key, kl + 1);
	r->key = p;
	p += kl + 1;
	memcpy(p, with, wl + 1);
	r->with = p;
	p += wl + 1;
	if (len > 0)
		memcpy(p, val, len);
	p[len] = '\0';
	r->val = p;
	r->len = len;
	r->when = when;
	r->refs = 1;
	/* as sqlite.c counts: keyval values; map keys and values; archive
	 * ids, with-JIDs and values */
	if (kind == STORE_KV)
		r->bytes = (long long)len;
	else if (kind == STORE_MAP)
		r->bytes = (long long)(kl + len);
	else
		r->bytes = (long long)(kl + wl + len);
	return r;
}

static void
row_unref(struct mrow *r)
{
	if (--r->refs == 0)
		free(r);
}

/* Does r sort before (when, seq) in an archive? */
static int
row_before(const struct mrow *r, int64_t when, uint64_t seq)
{
	return r->when < when || (r->when == when && r->seq < seq);
}

/* The first index of g's archive rows not before (when, seq). */
static size_t
ar_lower(const struct mgroup *g, int64_t when, uint64_t seq)
{
	size_t lo = 0, hi = g->n, mid;

	if (hi > 0 && row_before(g->rows[hi - 1], when, seq))
		return hi; /* appends in time order: the usual case */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (row_before(g->rows[mid], when, seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
undo_note(struct mem_store *s, struct mrow *r, int added)
{
	s->undo = grow(s->undo, &s->capundo, s->nundo + 1, sizeof(*s->undo));
	s->undo[s->nundo].row = r;
	s->undo[s->nundo].added = added;
	s->nundo++;
}

static void
row_set_live(struct mem_store *s, struct mrow *r, int live)
{
	struct mgroup *g = r->g;

	if (live) {
		tab_add(&s->index, &r->node, row_hash(g, r->key));
		g->nlive++;
		g->bytes += r->bytes;
	} else {
		tab_del(&s->index, &r->node);
		g->nlive--;
		g->bytes -= r->bytes;
	}
	r->live = live;
	touch(s, g);
}

static void
row_kill(struct mem_store *s, struct mrow *r)
{
	row_set_live(s, r, 0);
	undo_note(s, r, 0);
}

static void
group_kill_all(struct mem_store *s, struct mgroup *g)
{
	size_t i;

	for (i = 0; g != NULL && i < g->n; i++)
		if (g->rows[i]->live)
			row_kill(s, g->rows[i]);
}

/* Add the new row r to g: a map's or keyval's at the end, an archive's
 * in ("when", seq) order. */
static void
row_add(struct mem_store *s, struct mgroup *g, struct mrow *r)
{
	size_t i = g->n;

	r->g = g;
	g->rows = grow(g->rows, &g->cap, g->n + 1, sizeof(*g->rows));
	if (g->kind == STORE_ARCHIVE) {
		r->seq = ++s->seq;
		i = ar_lower(g, r->when, r->seq);
		memmove(&g->rows[i + 1], &g->rows[i],
		    (g->n - i) * sizeof(*g->rows));
	} else if (g->n > 0 && strcmp(g->rows[g->n - 1]->key, r->key) > 0) {
		g->sorted = 0;
	}
	if (g->n == 0)
		g->sorted = 1;
	g->rows[i] = r;
	g->n++;
	row_set_live(s, r, 1);
	undo_note(s, r, 1);
}

static void
group_compact(struct mgroup *g)
{
	size_t i, j = 0;

	for (i = 0; i < g->n; i++) {
		if (g->rows[i]->live)
			g->rows[j++] = g->rows[i];
		else
			row_unref(g->rows[i]);
	}
	g->n = j;
}

static void
group_free(struct mem_store *s, struct mgroup *g)
{
	struct muser *u = g->u;
	size_t i;

	for (i = 0; i < g->n; i++)
		row_unref(g->rows[i]);
	for (i = 0; i < u->ng; i++)
		if (u->groups[i] == g) {
			u->groups[i] = u->groups[--u->ng];
			break;
		}
	free(g->rows);
	free(g->store);
	free(g);
	if (u->ng == 0) {
		tab_del(&s->users, &u->node);
		free(u->groups);
		free(u);
	}
}

/* ---- transactions ---- */

/* Undo the open transaction's writes, newest first. */
static void
mem_undo(struct mem_store *s)
{
	struct mundo *un;

	while (s->nundo > 0) {
		un = &s->undo[--s->nundo];
		row_set_live(s, un->row, !un->added);
	}
}

/* End the transaction: nothing can be undone any more, so dead rows may
 * go. */
static void
mem_tidy(struct mem_store *s)
{
	struct mgroup *g;
	size_t i;

	s->nundo = 0;
	for (i = 0; i < s->ntouched; i++) {
		g = s->touched[i];
		g->touched = 0;
		if ((g->n - g->nlive) * 2 > g->n)
			group_compact(g);
		if (g->n == 0)
			group_free(s, g);
	}
	s->ntouched = 0;
	s->tx = 0;
	/* a flood may have grown them: do not keep megabytes forever */
	if (s->capundo > MEM_KEEP) {
		free(s->undo);
		s->undo = NULL;
		s->capundo = 0;
	}
	if (s->captouched > MEM_KEEP) {
		free(s->touched);
		s->touched = NULL;
		s->captouched = 0;
	}
}

static const char *const fault_names[STORE_MEM_NFAULTS] = {
	[STORE_MEM_FAIL_READ] = "read",
	[STORE_MEM_FAIL_WRITE] = "write",
	[STORE_MEM_FAIL_WRITE_ABORT] = "write (transaction lost)",
	[STORE_MEM_FAIL_COMMIT] = "commit",
};

static int
mem_fault(struct mem_store *s, enum store_mem_fault f)
{
	struct mfault *ft = &s->fault[f];

	if (ft->count <= 0)
		return 0;
	if (ft->skip > 0) {
		ft->skip--;
		return 0;
	}
	ft->count--;
	log_err("store: memory: injected %s failure", fault_names[f]);
	return 1;
}

/* Every write starts here: it opens the transaction (as sq_begin does,
 * even for a write that then fails). */
static int
mem_write(struct mem_store *s)
{
	s->tx = 1;
	if (mem_fault(s, STORE_MEM_FAIL_WRITE_ABORT)) {
		mem_undo(s);
		mem_tidy(s);
		return -1;
	}
	return mem_fault(s, STORE_MEM_FAIL_WRITE) ? -1 : 0;
}

static int
mem_read(struct mem_store *s)
{
	return mem_fault(s, STORE_MEM_FAIL_READ) ? -1 : 0;
}

int
store_mem_fail(struct store *st, enum store_mem_fault f, int skip, int count)
{
	if (st == NULL || st->be != &store_memory_backend ||
	    (unsigned)f >= STORE_MEM_NFAULTS)
		return -1;
	ms(st)->fault[f].skip = skip > 0 ? skip : 0;
	ms(st)->fault[f].count = count > 0 ? count : 0;
	return 0;
}

static int
mem_commit(struct store *st)
{
	struct mem_store *s = ms(st);

	if (!s->tx)
		return 0;
	if (mem_fault(s, STORE_MEM_FAIL_COMMIT)) {
		mem_undo(s);
		mem_tidy(s);
		return -1;
	}
	mem_tidy(s);
	return 0;
}

static int
mem_in_tx(struct store *st)
{
	return ms(st)->tx;
}

static void
mem_rollback(struct store *st)
{
	struct mem_store *s = ms(st);

	mem_undo(s);
	mem_tidy(s);
}

/* ---- listings ---- */

/* The rows a listing returns, each with a reference taken. */
struct msnap {
	struct mrow **r;
	size_t n, cap;
};

static void
snap_add(struct msnap *sn, struct mrow *r)
{
	sn->r = grow(sn->r, &sn->cap, sn->n + 1, sizeof(*sn->r));
	r->refs++;
	sn->r[sn->n++] = r;
}

static void
snap_free(struct msnap *sn)
{
	size_t i;

	for (i = 0; i < sn->n; i++)
		row_unref(sn->r[i]);
	free(sn->r);
}

static char *
copy_val(const struct mrow *r, size_t *len)
{
	char *v = xmalloc(r->len + 1);

	memcpy(v, r->val, r->len + 1);
	if (len != NULL)
		*len = r->len;
	return v;
}

/* ---- one row by key: what keyval (key "") and map share ---- */

static int
row_get(struct mem_store *s, enum store_kind kind, const char *host,
    const char *user, const char *store, const char *key, char **val,
    size_t *len)
{
	struct mrow *r;

	if (mem_read(s) < 0)
		return -1;
	r = row_find(s, group_find(s, kind, host, user, store, 0), key);
	if (r == NULL)
		return 1;
	*val = copy_val(r, len);
	return 0;
}

static int
row_put(struct mem_store *s, enum store_kind kind, const char *host,
    const char *user, const char *store, const char *key, const char *val,
    size_t len)
{
	struct mgroup *g;
	struct mrow *old;

	if (mem_write(s) < 0)
		return -1;
	g = group_find(s, kind, host, user, store, 1);
	old = row_find(s, g, key);
	if (old != NULL)
		row_kill(s, old);
	row_add(s, g, row_new(kind, key, 0, "", val, len));
	return 0;
}

/* One row, or with key NULL every row of the group (map, archive). */
static int
row_del(struct mem_store *s, enum store_kind kind, const char *host,
    const char *user, const char *store, const char *key)
{
	struct mgroup *g;
	struct mrow *r;

	if (mem_write(s) < 0)
		return -1;
	g = group_find(s, kind, host, user, store, 0);
	if (key == NULL) {
		group_kill_all(s, g);
		return 0;
	}
	r = row_find(s, g, key);
	if (r != NULL)
		row_kill(s, r);
	return 0;
}

/* ---- keyval ---- */

static int
mem_kv_get(struct store *st, const char *host, const char *user,
    const char *store, char **val, size_t *len)
{
	return row_get(ms(st), STORE_KV, host, user, store, "", val, len);
}

static int
mem_kv_set(struct store *st, const char *host, const char *user,
    const char *store, const char *val, size_t len)
{
	return row_put(ms(st), STORE_KV, host, user, store, "", val, len);
}

static int
mem_kv_del(
    struct store *st, const char *host, const char *user, const char *store)
{
	return row_del(ms(st), STORE_KV, host, user, store, "");
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
mem_kv_users(struct store *st, const char *host, const char *store,
    int (*cb)(void *ud, const char *user), void *ud)
{
	struct mem_store *s = ms(st);
	char **names = NULL;
	size_t n = 0, cap = 0, i, j;
	struct muser *u;
	struct mnode *e;
	int rc, ret = 0;

	if (mem_read(s) < 0)
		return -1;
	host = nz(host);
	store = nz(store);
	for (i = 0; i < s->users.nb; i++)
		for (e = s->users.b[i]; e != NULL; e = e->next) {
			u = (struct muser *)e;
			if (strcmp(u->host, host) != 0)
				continue;
			for (j = 0; j < u->ng; j++)
				if (u->groups[j]->kind == STORE_KV &&
				    u->groups[j]->nlive > 0 &&
				    strcmp(u->groups[j]->store, store) == 0)
					break;
			if (j == u->ng)
				continue;
			names = grow(names, &cap, n + 1, sizeof(*names));
			names[n++] = xstrdup(u->user);
		}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	/* copies: a callback may delete the users it is told about */
	for (i = 0; i < n; i++) {
		rc = cb(ud, names[i]);
		if (rc != 0) {
			ret = rc < 0 ? -1 : 0;
			break;
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

/* ---- map ---- */

static int
mem_map_get(struct store *st, const char *host, const char *user,
    const char *store, const char *key, char **val, size_t *len)
{
	return row_get(ms(st), STORE_MAP, host, user, store, key, val, len);
}

static int
mem_map_set(struct store *st, const char *host, const char *user,
    const char *store, const char *key, const char *val, size_t len)
{
	return row_put(ms(st), STORE_MAP, host, user, store, nz(key), val, len);
}

static int
mem_map_del(struct store *st, const char *host, const char *user,
    const char *store, const char *key)
{
	return row_del(ms(st), STORE_MAP, host, user, store, key);
}

static int
cmp_key(const void *a, const void *b)
{
	const struct mrow *x = *(const struct mrow *const *)a;
	const struct mrow *y = *(const struct mrow *const *)b;

	return strcmp(x->key, y->key);
}

/* strcmp compares bytes as unsigned char: SQLite's BINARY order of
 * TEXT, so keys list in the same order. */
static int
mem_map_list(struct store *st, const char *host, const char *user,
    const char *store, const char *prefix,
    int (*cb)(void *ud, const char *key, const char *val, size_t len), void *ud)
{
	struct mem_store *s = ms(st);
	struct msnap sn = { NULL, 0, 0 };
	size_t lo = 0, hi, mid, plen, i;
	struct mgroup *g;
	int rc, ret = 0;

	if (mem_read(s) < 0)
		return -1;
	g = group_find(s, STORE_MAP, host, user, store, 0);
	if (g == NULL)
		return 0;
	if (!g->sorted) {
		qsort(g->rows, g->n, sizeof(*g->rows), cmp_key);
		g->sorted = 1;
	}
	hi = g->n;
	if (prefix != NULL && *prefix != '\0') {
		/* the keys that start with prefix are one range */
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (strcmp(g->rows[mid]->key, prefix) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		plen = strlen(prefix);
		for (hi = lo; hi < g->n; hi++)
			if (strncmp(g->rows[hi]->key, prefix, plen) != 0)
				break;
	}
	for (i = lo; i < hi; i++)
		if (g->rows[i]->live)
			snap_add(&sn, g->rows[i]);
	for (i = 0; i < sn.n; i++) {
		rc = cb(ud, sn.r[i]->key, sn.r[i]->val, sn.r[i]->len);
		if (rc != 0) {
			ret = rc < 0 ? -1 : 0;
			break;
		}
	}
	snap_free(&sn);
	return ret;
}

static int
mem_map_count(struct store *st, const char *host, const char *user,
    const char *store, long *count)
{
	struct mem_store *s = ms(st);
	struct mgroup *g;

	if (mem_read(s) < 0)
		return -1;
	g = group_find(s, STORE_MAP, host, user, store, 0);
	*count = g ? (long)g->nlive : 0;
	return 0;
}

/* ---- archive ---- */

static int
mem_archive_append(struct store *st, const char *host, const char *user,
    const char *store, const char *id, int64_t when, const char *with,
    const char *val, size_t len)
{
	struct mem_store *s = ms(st);
	struct mgroup *g;

	if (mem_write(s) < 0)
		return -1;
	g = group_find(s, STORE_ARCHIVE, host, user, store, 1);
	if (row_find(s, g, id) != NULL) {
		/* SQLite's UNIQUE(host, user, store, id) */
		log_err("store: memory archive_append: id already used in "
			"that archive (%s@%s, %s)",
		    nz(user), nz(host), nz(store));
		return -1;
	}
	row_add(s, g, row_new(STORE_ARCHIVE, nz(id), when, nz(with), val, len));
	return 0;
}

/* One archive query, resolved against the rows. */
struct maq {
	const struct store_archive_query *q;
	struct mgroup *g; /* NULL: an empty archive */
	const struct mrow *after, *before;
	size_t lo, hi; /* the rows between the bounds */
};

static int
aq_match(const struct maq *a, const struct mrow *r)
{
	const struct store_archive_query *q = a->q;

	if (!r->live || (q->with != NULL && strcmp(r->with, q->with) != 0))
		return 0;
	if ((q->start != 0 && r->when < q->start) ||
	    (q->end != 0 && r->when > q->end))
		return 0;
	if (a->after != NULL && !row_before(a->after, r->when, r->seq))
		return 0;
	if (a->before != NULL &&
	    !row_before(r, a->before->when, a->before->seq))
		return 0;
	return 1;
}

/* 0, 1 when after_id or before_id is unknown in that archive (as
 * sqlite.c), -1 on an error. */
static int
aq_prepare(
    struct mem_store *s, const struct store_archive_query *q, struct maq *a)
{
	struct mgroup *g;
	size_t i;

	if (q->host == NULL || q->user == NULL || q->store == NULL) {
		log_err("store: memory archive query without host/user/store");
		return -1;
	}
	memset(a, 0, sizeof(*a));
	a->q = q;
	g = a->g = group_find(s, STORE_ARCHIVE, q->host, q->user, q->store, 0);
	if (q->after_id != NULL &&
	    (a->after = row_find(s, g, q->after_id)) == NULL)
		return 1;
	if (q->before_id != NULL &&
	    (a->before = row_find(s, g, q->before_id)) == NULL)
		return 1;
	if (g == NULL)
		return 0;
	a->hi = g->n;
	if (q->start != 0 && (i = ar_lower(g, q->start, 0)) > a->lo)
		a->lo = i;
	if (q->end != 0 && (i = ar_lower(g, q->end, UINT64_MAX)) < a->hi)
		a->hi = i;
	if (a->after != NULL &&
	    (i = ar_lower(g, a->after->when, a->after->seq) + 1) > a->lo)
		a->lo = i;
	if (a->before != NULL &&
	    (i = ar_lower(g, a->before->when, a->before->seq)) < a->hi)
		a->hi = i;
	if (a->lo > a->hi) /* after_id past before_id: nothing */
		a->lo = a->hi;
	return 0;
}

static int
cmp_pos(const void *a, const void *b)
{
	const struct mrow *x = *(const struct mrow *const *)a;
	const struct mrow *y = *(const struct mrow *const *)b;

	if (row_before(x, y->when, y->seq))
		return -1;
	return x == y ? 0 : 1;
}

/* The rows of a (the first limit of them, limit > 0) into sn, in order
 * or newest first. */
static void
aq_collect(struct mem_store *s, const struct maq *a, long limit, int reverse,
    struct msnap *sn)
{
	const struct store_archive_query *q = a->q;
	struct mrow *r, *t;
	size_t i, j;

	if (a->g == NULL)
		return;
	if (q->ids != NULL) {
		/* each id is one lookup; an id listed twice is one row */
		for (i = 0; q->ids[i] != NULL; i++) {
			r = row_find(s, a->g, q->ids[i]);
			if (r != NULL && aq_match(a, r))
				snap_add(sn, r);
		}
		if (sn->n > 1)
			qsort(sn->r, sn->n, sizeof(*sn->r), cmp_pos);
		for (i = j = 0; i < sn->n; i++) {
			if (j > 0 && sn->r[j - 1] == sn->r[i])
				row_unref(sn->r[i]);
			else
				sn->r[j++] = sn->r[i];
		}
		sn->n = j;
		for (i = 0; reverse && i < sn->n / 2; i++) {
			t = sn->r[i];
			sn->r[i] = sn->r[sn->n - 1 - i];
			sn->r[sn->n - 1 - i] = t;
		}
		while (limit > 0 && sn->n > (size_t)limit)
			row_unref(sn->r[--sn->n]);
		return;
	}
	for (i = 0; i < a->hi - a->lo; i++) {
		if (limit > 0 && sn->n >= (size_t)limit)
			break;
		r = a->g->rows[reverse ? a->hi - 1 - i : a->lo + i];
		if (aq_match(a, r))
			snap_add(sn, r);
	}
}

static int
mem_archive_query(struct store *st, const struct store_archive_query *q,
    int (*cb)(void *ud, const struct store_archive_item *it), void *ud)
{
	struct mem_store *s = ms(st);
	struct msnap sn = { NULL, 0, 0 };
	struct store_archive_item it;
	struct maq a;
	size_t i;
	int rc, ret;

	if (mem_read(s) < 0)
		return -1;
	ret = aq_prepare(s, q, &a);
	if (ret != 0)
		return ret;
	aq_collect(s, &a, q->limit, q->reverse, &sn);
	for (i = 0; i < sn.n; i++) {
		it.id = sn.r[i]->key;
		it.when = sn.r[i]->when;
		it.with = sn.r[i]->with;
		it.val = sn.r[i]->val;
		it.len = sn.r[i]->len;
		rc = cb(ud, &it);
		if (rc != 0) {
			ret = rc < 0 ? -1 : 0;
			break;
		}
	}
	snap_free(&sn);
	return ret;
}

static int
mem_archive_count(
    struct store *st, const struct store_archive_query *q, long *count)
{
	struct mem_store *s = ms(st);
	struct msnap sn = { NULL, 0, 0 };
	struct maq a;
	size_t i;
	long n = 0;
	int ret;

	if (mem_read(s) < 0)
		return -1;
	ret = aq_prepare(s, q, &a);
	if (ret != 0)
		return ret;
	if (a.g == NULL) {
		n = 0;
	} else if (q->ids != NULL) {
		aq_collect(s, &a, 0, 0, &sn);
		n = (long)sn.n;
		snap_free(&sn);
	} else if (q->with == NULL && a.lo == 0 && a.hi == a.g->n) {
		n = (long)a.g->nlive; /* the whole archive */
	} else {
		for (i = a.lo; i < a.hi; i++)
			n += aq_match(&a, a.g->rows[i]);
	}
	*count = n;
	return 0;
}

static int
mem_archive_expire(
    struct store *st, const char *store, int64_t before, long *deleted)
{
	struct mem_store *s = ms(st);
	struct mgroup *g;
	struct muser *u;
	struct mnode *e;
	size_t i, j, k;
	long n = 0;

	if (mem_write(s) < 0)
		return -1;
	store = nz(store);
	for (i = 0; i < s->users.nb; i++)
		for (e = s->users.b[i]; e != NULL; e = e->next) {
			u = (struct muser *)e;
			for (j = 0; j < u->ng; j++) {
				g = u->groups[j];
				if (g->kind != STORE_ARCHIVE ||
				    strcmp(g->store, store) != 0)
					continue;
				/* oldest first: stop at the first one kept */
				for (k = 0;
				     k < g->n && g->rows[k]->when < before; k++)
					if (g->rows[k]->live) {
						row_kill(s, g->rows[k]);
						n++;
					}
			}
		}
	if (deleted != NULL)
		*deleted = n;
	return 0;
}

static int
mem_archive_del(struct store *st, const char *host, const char *user,
    const char *store, const char *id)
{
	return row_del(ms(st), STORE_ARCHIVE, host, user, store, id);
}

static int
mem_user_delete(struct store *st, const char *host, const char *user)
{
	struct mem_store *s = ms(st);
	struct muser *u;
	size_t i;

	if (mem_write(s) < 0)
		return -1;
	u = user_find(s, nz(host), nz(user), 0);
	for (i = 0; u != NULL && i < u->ng; i++)
		group_kill_all(s, u->groups[i]);
	return 0;
}

static int
mem_bytes(struct store *st, enum store_kind kind, const char *host,
    const char *user, const char *store, const char *key, long long *bytes)
{
	struct mem_store *s = ms(st);
	struct mgroup *g;
	struct muser *u;
	struct mrow *r;
	size_t i;

	if (mem_read(s) < 0)
		return -1;
	*bytes = 0;
	if (store == NULL) {
		u = user_find(s, nz(host), nz(user), 0);
		for (i = 0; u != NULL && i < u->ng; i++)
			*bytes += u->groups[i]->bytes;
		return 0;
	}
	g = group_find(s, kind, host, user, store, 0);
	if (g == NULL)
		return 0;
	if (kind != STORE_KV && key == NULL) {
		*bytes = g->bytes;
		return 0;
	}
	r = row_find(s, g, kind == STORE_KV ? "" : key);
	if (r != NULL)
		*bytes = r->bytes;
	return 0;
}

/* ---- open, close ---- */

/* ---- deferred loads ---- */

static void
mload_free(struct mload *l)
{
	size_t i;

	for (i = 0; i < l->nparts; i++)
		free(l->stores[i]);
	free(l->stores);
	free(l->parts);
	free(l->host);
	free(l->user);
	free(l);
}

int
store_mem_complete(struct store *st)
{
	struct mem_store *s;
	struct mload *l, *batch;
	int n = 0;

	if (st == NULL || st->be != &store_memory_backend)
		return -1;
	s = ms(st);
	/* the loads asked so far; those their callbacks ask wait for the
	 * next round, as they would on a network */
	batch = s->loads;
	s->loads = NULL;
	s->loads_tail = &s->loads;
	while ((l = batch) != NULL) {
		batch = l->next;
		store_load_inline(
		    st, l->host, l->user, l->parts, l->nparts, l->cb, l->ud);
		mload_free(l);
		n++;
	}
	return n;
}

static void
mem_load_timer(struct ev_loop *lp, ev_timer *w, int revents)
{
	(void)lp;
	(void)revents;
	store_mem_complete(w->data);
}

static int
mem_load(struct store *st, const char *host, const char *user,
    const struct store_load_part *parts, size_t nparts, store_load_cb cb,
    void *ud)
{
	struct mem_store *s = ms(st);
	struct mload *l;
	size_t i;

	if (!s->deferred) {
		store_load_inline(st, host, user, parts, nparts, cb, ud);
		return 0;
	}
	l = xcalloc(1, sizeof(*l));
	l->host = xstrdup(host);
	l->user = xstrdup(user);
	l->parts = xcalloc(nparts ? nparts : 1, sizeof(*l->parts));
	l->stores = xcalloc(nparts ? nparts : 1, sizeof(*l->stores));
	for (i = 0; i < nparts; i++) {
		l->stores[i] = xstrdup(parts[i].store);
		l->parts[i].kind = parts[i].kind;
		l->parts[i].store = l->stores[i];
	}
	l->nparts = nparts;
	l->cb = cb;
	l->ud = ud;
	*s->loads_tail = l;
	s->loads_tail = &l->next;
	/* a timer of 0 fires on the loop's next iteration, after this
	 * one's commit and flush */
	if (loop_ev != NULL && !ev_is_active(&s->load_w)) {
		ev_timer_set(&s->load_w, 0., 0.);
		ev_timer_start(loop_ev, &s->load_w);
	}
	return 0;
}

int
store_mem_defer(struct store *st, int on)
{
	struct mem_store *s;

	if (st == NULL || st->be != &store_memory_backend)
		return -1;
	s = ms(st);
	s->deferred = on != 0;
	if (!s->deferred && s->loads != NULL)
		store_mem_complete(st);
	return 0;
}

static struct store *
mem_open(const char *location, char *err, size_t errlen)
{
	struct mem_store *s = xcalloc(1, sizeof(*s));

	(void)location;
	(void)err;
	(void)errlen;
	s->base.be = &store_memory_backend;
	s->loads_tail = &s->loads;
	ev_timer_init(&s->load_w, mem_load_timer, 0., 0.);
	s->load_w.data = &s->base;
	log_info("store: memory backend: nothing written is kept after "
		 "this process ends");
	return &s->base;
}

static void
mem_close(struct store *st)
{
	struct mem_store *s = ms(st);
	struct mnode *e, *next;
	struct muser *u;
	struct mload *l;
	size_t i, j;

	/* loads never answered are dropped: whoever asked is gone too */
	if (loop_ev != NULL && ev_is_active(&s->load_w))
		ev_timer_stop(loop_ev, &s->load_w);
	while ((l = s->loads) != NULL) {
		s->loads = l->next;
		mload_free(l);
	}

	if (s->tx)
		log_debug("store: memory closing with uncommitted writes, "
			  "rolled back");
	mem_rollback(st);
	for (i = 0; i < s->users.nb; i++)
		for (e = s->users.b[i]; e != NULL; e = next) {
			next = e->next;
			u = (struct muser *)e;
			/* the last group frees u: count down without it */
			j = u->ng;
			while (j > 0)
				group_free(s, u->groups[--j]);
		}
	free(s->users.b);
	free(s->index.b);
	free(s->undo);
	free(s->touched);
	free(s);
}

const struct store_backend store_memory_backend = {
	.name = "memory",
	.open = mem_open,
	.close = mem_close,
	.commit = mem_commit,
	.in_tx = mem_in_tx,
	.rollback = mem_rollback,
	.kv_get = mem_kv_get,
	.kv_set = mem_kv_set,
	.kv_del = mem_kv_del,
	.kv_users = mem_kv_users,
	.map_get = mem_map_get,
	.map_set = mem_map_set,
	.map_del = mem_map_del,
	.map_list = mem_map_list,
	.map_count = mem_map_count,
	.archive_append = mem_archive_append,
	.archive_query = mem_archive_query,
	.archive_count = mem_archive_count,
	.archive_expire = mem_archive_expire,
	.archive_del = mem_archive_del,
	.user_delete = mem_user_delete,
	.bytes = mem_bytes,
	.load = mem_load,
};

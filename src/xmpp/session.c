/* session.c: the session table. Full JIDs hash to sessions; resources of
 * one account are chained from the first, so a bare-JID lookup is one
 * hash probe of the first resource's bare JID table. */
#include "xmpp/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hook.h"
#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/module.h"
#include "core/util.h"
#include "xml/xml.h"

#define IQ_TTL 60.0 /* seconds an unanswered request keeps counting */

struct session_iqs {
	struct iq_flight {
		uint32_t h; /* hash_bytes of the id */
		double deadline;
	} * v;
	size_t n, cap;
};

struct bare_entry {
	char *bare;
	struct session *first;
	struct bare_entry *next;
};

static struct session **full_tab;
static struct bare_entry **bare_tab;
static size_t tab_cap; /* power of two, shared size */
static unsigned nsessions;
static uint64_t next_id = 1;
static int hook_closed = -1, hook_out = -1;

static void
tab_grow(void)
{
	size_t ncap = tab_cap ? tab_cap * 2 : 1024, i;
	struct session **nf = xcalloc(ncap, sizeof(*nf));
	struct bare_entry **nb = xcalloc(ncap, sizeof(*nb));

	for (i = 0; i < tab_cap; i++) {
		while (full_tab[i]) {
			struct session *s = full_tab[i];
			uint32_t h = hash_bytes(
			    HASH_INIT, s->jid.full, strlen(s->jid.full));

			full_tab[i] = s->hnext;
			s->hnext = nf[h & (ncap - 1)];
			nf[h & (ncap - 1)] = s;
		}
		while (bare_tab[i]) {
			struct bare_entry *b = bare_tab[i];
			uint32_t h =
			    hash_bytes(HASH_INIT, b->bare, strlen(b->bare));

			bare_tab[i] = b->next;
			b->next = nb[h & (ncap - 1)];
			nb[h & (ncap - 1)] = b;
		}
	}
	free(full_tab);
	free(bare_tab);
	full_tab = nf;
	bare_tab = nb;
	tab_cap = ncap;
}

static struct bare_entry **
bare_slot(const char *bare)
{
	uint32_t h;
	struct bare_entry **pp;

	if (tab_cap == 0)
		return NULL;
	h = hash_bytes(HASH_INIT, bare, strlen(bare));
	for (pp = &bare_tab[h & (tab_cap - 1)]; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->bare, bare) == 0)
			return pp;
	return pp;
}

/* The first session with this full JID and, unless any_id, this id. */
static struct session *
find_full(const char *full, uint64_t id, int any_id)
{
	uint32_t h;
	struct session *s;

	if (tab_cap == 0)
		return NULL;
	h = hash_bytes(HASH_INIT, full, strlen(full));
	for (s = full_tab[h & (tab_cap - 1)]; s; s = s->hnext)
		if ((any_id || s->id == id) && strcmp(s->jid.full, full) == 0)
			return s;
	return NULL;
}

struct session *
session_find_full(const char *full)
{
	return find_full(full, 0, 1);
}

struct session *
session_find_id(const char *full, uint64_t id)
{
	return find_full(full, id, 0);
}

struct session_later {
	void (*fn)(struct session *s);
	uint64_t id;
	char full[];
};

static void
later_run(void *arg)
{
	struct session_later *p = arg;
	struct session *s = session_find_id(p->full, p->id);

	if (s)
		p->fn(s);
	free(p);
}

void
session_defer(struct session *s, void (*fn)(struct session *s))
{
	size_t n = strlen(s->jid.full) + 1;
	struct session_later *p = xmalloc(sizeof(*p) + n);

	p->fn = fn;
	p->id = s->id;
	memcpy(p->full, s->jid.full, n);
	loop_defer(later_run, p);
}

struct session *
session_find_bare(const char *bare)
{
	struct bare_entry **pp = bare_slot(bare);

	return pp && *pp ? (*pp)->first : NULL;
}

unsigned
session_count_bare(const char *bare)
{
	struct session *s;
	unsigned n = 0;

	for (s = session_find_bare(bare); s; s = s->next_res)
		n++;
	return n;
}

unsigned
session_count(void)
{
	return nsessions;
}

struct session *
session_new(struct host *h, const struct jid *jid,
    const struct session_transport *tp, void *tp_data)
{
	struct session *s = xcalloc(1, sizeof(*s));
	struct bare_entry **bp;
	uint32_t hv;

	if ((nsessions + 1) * 2 > tab_cap)
		tab_grow();
	s->id = next_id++;
	s->host = h;
	jid_copy(&s->jid, jid);
	s->tp = tp;
	s->tp_data = tp_data;
	s->started = now_unix();
	hv = hash_bytes(HASH_INIT, s->jid.full, strlen(s->jid.full));
	s->hnext = full_tab[hv & (tab_cap - 1)];
	full_tab[hv & (tab_cap - 1)] = s;
	bp = bare_slot(s->jid.bare);
	if (*bp == NULL) {
		*bp = xcalloc(1, sizeof(**bp));
		(*bp)->bare = xstrdup(s->jid.bare);
	}
	s->next_res = (*bp)->first;
	(*bp)->first = s;
	nsessions++;
	return s;
}

void
session_end(struct session *s)
{
	struct hook_ev ev = { 0 };
	struct bare_entry **bp, *b;
	struct session **pp;
	uint32_t hv;
	size_t i;

	if (hook_closed < 0)
		hook_closed = hook_intern("session/closed");
	/* nothing may be routed to it any more, even by the handlers */
	s->closing = 1;
	ev.host = s->host;
	ev.session = s;
	ev.from = &s->jid;
	if (s->host->hooks)
		hook_fire_id(s->host->hooks, hook_closed, &ev);
	hv = hash_bytes(HASH_INIT, s->jid.full, strlen(s->jid.full));
	for (pp = &full_tab[hv & (tab_cap - 1)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	}
	bp = bare_slot(s->jid.bare);
	b = *bp;
	if (b) {
		for (pp = &b->first; *pp; pp = &(*pp)->next_res) {
			if (*pp == s) {
				*pp = s->next_res;
				break;
			}
		}
		if (b->first == NULL) {
			*bp = b->next;
			free(b->bare);
			free(b);
		}
	}
	nsessions--;
	/* what no session/closed handler took back (its module was dropped
	 * by a reload) is freed by the module's destructor */
	for (i = 0; s->mod_data && i < module_registry_len; i++) {
		if (s->mod_data[i] == NULL)
			continue;
		if (module_registry[i]->session_free)
			module_registry[i]->session_free(s->mod_data[i]);
		s->mod_data[i] = NULL;
	}
	jid_cleanup(&s->jid);
	free(s->mod_data);
	if (s->iqs)
		free(s->iqs->v);
	free(s->iqs);
	free(s);
}

int
session_send_raw(struct session *s, struct rbuf *r)
{
	if (s->closing)
		return -1;
	return s->tp->send(s, r);
}

/* ---- iq requests in flight (limits.iq_in_flight) ---- */

int
session_iq_sent(struct session *s, const char *id, long long limit)
{
	struct session_iqs *q = s->iqs;
	double now = ev_now(loop_ev);
	size_t i, k;

	if (id == NULL)
		return 0;
	if (q == NULL)
		q = s->iqs = xcalloc(1, sizeof(*q));
	if ((long long)q->n >= limit) {
		for (i = k = 0; i < q->n; i++)
			if (q->v[i].deadline > now)
				q->v[k++] = q->v[i];
		q->n = k;
		if ((long long)k >= limit)
			return -1;
	}
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 8;
		q->v = xrealloc(q->v, q->cap * sizeof(*q->v));
	}
	q->v[q->n].h = hash_bytes(HASH_INIT, id, strlen(id));
	q->v[q->n].deadline = now + IQ_TTL;
	q->n++;
	return 0;
}

/* An answer reaches the client: that request is no longer in flight. */
static void
iq_answered(struct session *s, const struct xml_node *st)
{
	struct session_iqs *q = s->iqs;
	const char *type = xml_node_attr(st, "type");
	const char *id = xml_node_attr(st, "id");
	uint32_t h;
	size_t i;

	if (q->n == 0 || id == NULL || type == NULL ||
	    (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
		return;
	h = hash_bytes(HASH_INIT, id, strlen(id));
	for (i = 0; i < q->n; i++)
		if (q->v[i].h == h) {
			q->v[i] = q->v[--q->n];
			break;
		}
	if (q->n == 0) {
		/* idle sessions keep nothing */
		free(q->v);
		free(q);
		s->iqs = NULL;
	}
}

void
session_send(struct session *s, struct xml_node *st, struct rbuf **cache)
{
	struct hook_ev ev = { 0 };

	if (s->closing)
		return;
	if (s->iqs && strcmp(st->name, "iq") == 0)
		iq_answered(s, st);
	if (*cache == NULL) {
		struct sbuf b;

		sbuf_init(&b);
		xml_serialize(st, XML_NS_CLIENT, &b);
		*cache = rbuf_new(b.data, b.len);
		sbuf_cleanup(&b);
	}
	if (hook_out < 0)
		hook_out = hook_intern("session/out");
	if (s->host->hooks && hook_has(s->host->hooks, hook_out)) {
		ev.host = s->host;
		ev.session = s;
		ev.stanza = st;
		ev.data = *cache;
		if (hook_fire_id(s->host->hooks, hook_out, &ev) == HOOK_HANDLED)
			return;
	}
	if (s->tp->send(s, *cache) != 0)
		log_debug("session %s send failed", s->jid.full);
}

void
session_close(struct session *s, const char *condition, const char *text)
{
	if (s->closing)
		return;
	s->tp->close(s, condition, text);
}

void
session_close_user(
    const char *host, const char *user, const char *condition, const char *text)
{
	char bare[2 * JID_PART_MAX + 2];
	struct session *s, *next;

	snprintf(bare, sizeof(bare), "%s@%s", user, host);
	for (s = session_find_bare(bare); s; s = next) {
		next = s->next_res;
		session_close(s, condition, text);
	}
}

void
session_close_all(const char *condition, const char *text)
{
	size_t i;

	for (i = 0; i < tab_cap; i++) {
		struct session *s, *next;

		for (s = full_tab[i]; s; s = next) {
			next = s->hnext;
			session_close(s, condition, text);
		}
	}
}

void
session_foreach(void (*fn)(struct session *s, void *ud), void *ud)
{
	struct session *s, *next;
	size_t i;

	for (i = 0; i < tab_cap; i++) {
		for (s = full_tab[i]; s; s = next) {
			next = s->hnext;
			fn(s, ud);
		}
	}
}

const char *
session_peer(struct session *s)
{
	return s->tp->peer ? s->tp->peer(s) : NULL;
}

void
session_set_transport(
    struct session *s, const struct session_transport *tp, void *tp_data)
{
	s->tp = tp;
	s->tp_data = tp_data;
}

void *
session_mod_get(struct session *s, int modidx)
{
	if (s->mod_data == NULL || modidx < 0)
		return NULL;
	return s->mod_data[modidx];
}

void
session_mod_set(struct session *s, int modidx, void *data)
{
	if (modidx < 0)
		return;
	if (s->mod_data == NULL)
		s->mod_data = xcalloc(module_registry_len, sizeof(void *));
	s->mod_data[modidx] = data;
}

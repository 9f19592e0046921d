/* hook.c: interned event names and per-host handler lists. */
#include "core/hook.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "xml/xml.h"

#define NAMES_BUCKETS 1024

struct hook_name {
	char *name;
	size_t len;
	uint32_t hash;
	int id;
	struct hook_name *next;
};

static struct hook_name *names[NAMES_BUCKETS];
static int names_count;

struct hook_handler {
	hook_fn fn;
	int prio;
};

struct hook_list {
	struct hook_handler *v;
	size_t n;
};

struct hook_table {
	struct hook_list *lists; /* indexed by id */
	size_t nlists;
};

/* A name is up to four parts: a, then "/" b, "/" c and ":" d for those
 * that are not NULL ("iq-get" "/" "host" "/" "urn:xmpp:ping" ":" "ping"). */
struct parts {
	const char *p[4];
	size_t l[4];
};

static const char seps[4] = { 0, '/', '/', ':' };

static uint32_t
parts_hash(struct parts *pt, size_t *len)
{
	uint32_t h = HASH_INIT;
	int i;

	*len = 0;
	for (i = 0; i < 4 && pt->p[i]; i++) {
		pt->l[i] = strlen(pt->p[i]);
		if (i > 0) {
			h = hash_bytes(h, &seps[i], 1);
			(*len)++;
		}
		h = hash_bytes(h, pt->p[i], pt->l[i]);
		*len += pt->l[i];
	}
	return h;
}

static int
parts_match(const struct hook_name *n, const struct parts *pt, size_t len)
{
	const char *q = n->name;
	int i;

	if (n->len != len)
		return 0;
	for (i = 0; i < 4 && pt->p[i]; i++) {
		if (i > 0 && *q++ != seps[i])
			return 0;
		if (memcmp(q, pt->p[i], pt->l[i]) != 0)
			return 0;
		q += pt->l[i];
	}
	return 1;
}

static int
lookup_parts(struct parts *pt)
{
	size_t len;
	uint32_t h = parts_hash(pt, &len);
	struct hook_name *n;

	for (n = names[h % NAMES_BUCKETS]; n; n = n->next)
		if (n->hash == h && parts_match(n, pt, len))
			return n->id;
	return -1;
}

int
hook_lookup4(const char *a, const char *b, const char *c, const char *d)
{
	struct parts pt = { { a, b, c, c ? d : NULL }, { 0 } };

	if (b == NULL)
		pt.p[2] = pt.p[3] = NULL;
	return lookup_parts(&pt);
}

int
hook_lookup3(const char *a, const char *b, const char *c)
{
	return hook_lookup4(a, b, c, NULL);
}

int
hook_lookup(const char *name)
{
	return hook_lookup4(name, NULL, NULL, NULL);
}

int
hook_intern(const char *name)
{
	int id = hook_lookup(name);
	struct hook_name *n;
	size_t len;

	if (id >= 0)
		return id;
	n = xcalloc(1, sizeof(*n));
	n->name = xstrdup(name);
	{
		struct parts pt = { { name, NULL, NULL, NULL }, { 0 } };

		n->hash = parts_hash(&pt, &len);
	}
	n->len = len;
	n->id = names_count++;
	n->next = names[n->hash % NAMES_BUCKETS];
	names[n->hash % NAMES_BUCKETS] = n;
	return n->id;
}

struct hook_table *
hook_table_new(void)
{
	return xcalloc(1, sizeof(struct hook_table));
}

void
hook_table_free(struct hook_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nlists; i++)
		free(t->lists[i].v);
	free(t->lists);
	free(t);
}

void
hook_add(struct hook_table *t, const char *name, hook_fn fn, int prio)
{
	int id = hook_intern(name);
	struct hook_list *l;
	size_t i;

	if ((size_t)id >= t->nlists) {
		size_t n = (size_t)id + 16;

		t->lists = xrealloc(t->lists, n * sizeof(*t->lists));
		memset(t->lists + t->nlists, 0,
		    (n - t->nlists) * sizeof(*t->lists));
		t->nlists = n;
	}
	l = &t->lists[id];
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	/* keep sorted by descending priority; equal priorities keep
	 * registration order */
	for (i = l->n; i > 0 && l->v[i - 1].prio < prio; i--)
		l->v[i] = l->v[i - 1];
	l->v[i].fn = fn;
	l->v[i].prio = prio;
	l->n++;
}

int
hook_has(const struct hook_table *t, int id)
{
	return id >= 0 && (size_t)id < t->nlists && t->lists[id].n > 0;
}

enum hook_ret
hook_fire_id(struct hook_table *t, int id, struct hook_ev *ev)
{
	struct hook_list *l;
	size_t i;

	if (!hook_has(t, id))
		return HOOK_CONTINUE;
	l = &t->lists[id];
	for (i = 0; i < l->n; i++)
		if (l->v[i].fn(ev) == HOOK_HANDLED)
			return HOOK_HANDLED;
	return HOOK_CONTINUE;
}

enum hook_ret
hook_fire(struct hook_table *t, const char *name, struct hook_ev *ev)
{
	return hook_fire_id(t, hook_lookup(name), ev);
}

void
stanza_classify(
    const struct xml_node *st, enum stanza_kind *kind, enum stanza_type *type)
{
	static const struct {
		enum stanza_kind kind;
		const char *name;
		enum stanza_type type;
	} types[] = {
		{ STANZA_MESSAGE, "normal", STANZA_TYPE_NORMAL },
		{ STANZA_MESSAGE, "chat", STANZA_TYPE_CHAT },
		{ STANZA_MESSAGE, "groupchat", STANZA_TYPE_GROUPCHAT },
		{ STANZA_MESSAGE, "headline", STANZA_TYPE_HEADLINE },
		{ STANZA_IQ, "get", STANZA_TYPE_GET },
		{ STANZA_IQ, "set", STANZA_TYPE_SET },
		{ STANZA_IQ, "result", STANZA_TYPE_RESULT },
		{ STANZA_PRESENCE, "unavailable", STANZA_TYPE_UNAVAILABLE },
		{ STANZA_PRESENCE, "probe", STANZA_TYPE_PROBE },
		{ STANZA_PRESENCE, "subscribe", STANZA_TYPE_SUBSCRIBE },
		{ STANZA_PRESENCE, "subscribed", STANZA_TYPE_SUBSCRIBED },
		{ STANZA_PRESENCE, "unsubscribe", STANZA_TYPE_UNSUBSCRIBE },
		{ STANZA_PRESENCE, "unsubscribed", STANZA_TYPE_UNSUBSCRIBED },
	};
	const char *t = xml_node_attr(st, "type");
	size_t i;

	if (strcmp(st->name, "message") == 0)
		*kind = STANZA_MESSAGE;
	else if (strcmp(st->name, "presence") == 0)
		*kind = STANZA_PRESENCE;
	else if (strcmp(st->name, "iq") == 0)
		*kind = STANZA_IQ;
	else
		*kind = STANZA_OTHER;
	if (t == NULL || *t == '\0') {
		/* an empty attribute reads as none, as it always did */
		*type = STANZA_TYPE_NONE;
		return;
	}
	if (strcmp(t, "error") == 0) {
		*type = STANZA_TYPE_ERROR;
		return;
	}
	*type = STANZA_TYPE_UNKNOWN;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (types[i].kind == *kind && strcmp(types[i].name, t) == 0) {
			*type = types[i].type;
			return;
		}
	}
}

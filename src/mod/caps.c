/* src/mod/caps.c: XEP-0115 entity capabilities: the verification
 * string, verification of a peer's, the cache of verified ones and the
 * disco#info queries in flight. See caps.h. */
#include <openssl/evp.h>

#include "mod/caps.h"
#include "mod/mod.h"

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_XDATA "jabber:x:data"
#define CAPS_STORE "pep_caps" /* host-wide map, key ver (named by pep) */
#define CAPS_MEM_MAX 1024     /* verified caps kept in memory */
#define CAPS_BUCKETS 256
#define PENDING_MAX 256 /* disco#info queries awaiting an answer */
#define QUERY_PREFIX "pepcaps-"

/* Separates the parts of a sort key: it sorts before every character
 * XML allows, so keys sort part by part (category, then type...), and
 * it becomes '/' or '<' in the string that is hashed. */
#define SEP '\1'

/* ---- the verification string (§5.1) ---- */

static void
put_key(struct sbuf *out, const char *key, char sep)
{
	for (; *key; key++)
		sbuf_putc(out, *key == SEP ? sep : *key);
}

static const char *
attr(const struct xml_node *e, const char *name)
{
	const char *v = xml_node_attr(e, name);

	return v ? v : "";
}

static const char *
form_type(const struct xml_node *x)
{
	struct xml_node *f, *v;

	for (f = xml_node_first_el(x); f; f = xml_node_next_el(f)) {
		if (strcmp(attr(f, "var"), "FORM_TYPE") == 0) {
			v = xml_node_find(f, NULL, "value");
			return v ? xml_node_text_get(v) : NULL;
		}
	}
	return NULL;
}

/* One extended form (§5.1 step 6) as a sort key: FORM_TYPE, then its
 * fields sorted by var, each var followed by its values sorted. */
static int
form_key(const struct xml_node *x, const char *ft, struct strlist *forms)
{
	struct strlist fields = { 0 };
	struct xml_node *f, *v;
	struct sbuf b;
	size_t i;
	int rc;

	for (f = xml_node_first_el(x); f; f = xml_node_next_el(f)) {
		const char *var = xml_node_attr(f, "var");
		struct strlist vals = { 0 };

		if (!xml_node_is(f, NS_XDATA, "field") || var == NULL ||
		    strcmp(var, "FORM_TYPE") == 0)
			continue;
		for (v = xml_node_first_el(f); v; v = xml_node_next_el(v))
			if (xml_node_is(v, NS_XDATA, "value"))
				strlist_add(
				    &vals, xstrdup(xml_node_text_get(v)));
		strlist_sort_unique(&vals); /* equal values may repeat */
		sbuf_init(&b);
		sbuf_printf(&b, "%s%c", var, SEP);
		for (i = 0; i < vals.n; i++)
			sbuf_printf(&b, "%s%c", vals.v[i], SEP);
		strlist_free(&vals);
		strlist_add(&fields, sbuf_steal(&b, NULL));
	}
	rc = strlist_sort_unique(&fields);
	sbuf_init(&b);
	sbuf_printf(&b, "%s%c", ft, SEP);
	for (i = 0; i < fields.n; i++)
		sbuf_puts(&b, fields.v[i]);
	strlist_free(&fields);
	strlist_add(forms, sbuf_steal(&b, NULL));
	return rc;
}

/* The verification string of q into out; q's features, sorted, into
 * feats. */
static int
ver_compute(const struct xml_node *q, char *out, struct strlist *feats)
{
	struct strlist ids = { 0 }, forms = { 0 };
	struct xml_node *e;
	struct sbuf s;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t i;
	int bad = 0;

	for (e = xml_node_first_el(q); e; e = xml_node_next_el(e)) {
		if (xml_node_is(e, NS_INFO, "identity")) {
			const char *lang =
			    xml_node_attr_ns(e, XML_NS_XML, "lang");

			strlist_add(&ids,
			    xasprintf("%s%c%s%c%s%c%s", attr(e, "category"),
				SEP, attr(e, "type"), SEP, lang ? lang : "",
				SEP, attr(e, "name")));
		} else if (xml_node_is(e, NS_INFO, "feature") &&
			   xml_node_attr(e, "var")) {
			strlist_add(feats, xstrdup(xml_node_attr(e, "var")));
		} else if (xml_node_is(e, NS_XDATA, "x")) {
			const char *ft = form_type(e);

			/* §5.4: a form without FORM_TYPE is ignored */
			if (ft && form_key(e, ft, &forms) != 0)
				bad = 1;
		}
	}
	if (strlist_sort_unique(&ids) != 0 || strlist_sort_unique(feats) != 0 ||
	    strlist_sort_unique(&forms) != 0)
		bad = 1;
	for (i = 0; i + 1 < forms.n; i++) {
		/* two forms of one FORM_TYPE are ill-formed (§5.4 3.5) */
		const char *a = forms.v[i], *end = strchr(a, SEP);

		if (strncmp(a, forms.v[i + 1], (size_t)(end - a + 1)) == 0)
			bad = 1;
	}
	sbuf_init(&s);
	for (i = 0; i < ids.n; i++) {
		put_key(&s, ids.v[i], '/');
		sbuf_putc(&s, '<');
	}
	for (i = 0; i < feats->n; i++)
		sbuf_printf(&s, "%s<", feats->v[i]);
	for (i = 0; i < forms.n; i++)
		put_key(&s, forms.v[i], '<');
	if (EVP_Digest(s.data ? s.data : "", s.len, md, &mdlen, EVP_sha1(),
		NULL) != 1) {
		mdlen = 0;
		bad = 1;
	}
	b64_encode(md, mdlen, out);
	sbuf_cleanup(&s);
	strlist_free(&ids);
	strlist_free(&forms);
	return bad ? -1 : 0;
}

int
caps_ver(const struct xml_node *q, char *out)
{
	struct strlist feats = { 0 };
	int rc = ver_compute(q, out, &feats);

	strlist_free(&feats);
	return rc;
}

static struct caps *
caps_new(const char *ver, struct strlist *feats)
{
	struct caps *c = xcalloc(1, sizeof(*c));

	c->ver = xstrdup(ver);
	c->feat = feats->v;
	c->nfeat = feats->n;
	memset(feats, 0, sizeof(*feats));
	return c;
}

struct caps *
caps_verify(const struct xml_node *q, const char *ver)
{
	struct strlist feats = { 0 };
	char got[CAPS_VER_MAX];
	struct caps *c = NULL;

	if (ver_compute(q, got, &feats) == 0 && strcmp(got, ver) == 0)
		c = caps_new(ver, &feats);
	strlist_free(&feats);
	return c;
}

int
caps_has_notify(const struct caps *c, const char *node)
{
	size_t i, n = strlen(node);

	for (i = 0; i < c->nfeat; i++)
		if (strncmp(c->feat[i], node, n) == 0 &&
		    strcmp(c->feat[i] + n, "+notify") == 0)
			return 1;
	return 0;
}

/* ---- the cache ---- */

/* Lives as long as ternd: a reload keeps what was verified. */
static struct caps *caps_tab[CAPS_BUCKETS];
static size_t caps_n;

struct caps *
caps_ref(struct caps *c)
{
	c->refs++;
	return c;
}

void
caps_unref(struct caps *c)
{
	size_t i;

	if (c == NULL || --c->refs > 0)
		return;
	for (i = 0; i < c->nfeat; i++)
		free(c->feat[i]);
	free(c->feat);
	free(c->ver);
	free(c);
}

static unsigned
bucket(const char *ver)
{
	return hash_bytes(HASH_INIT, ver, strlen(ver)) % CAPS_BUCKETS;
}

/* Into the table (which takes a reference); past CAPS_MEM_MAX another
 * entry goes (the tail of the first chain that has one besides c). */
static void
caps_remember(struct caps *c)
{
	unsigned b = bucket(c->ver), i;
	struct caps **pp;

	c->next = caps_tab[b];
	caps_tab[b] = caps_ref(c);
	if (++caps_n <= CAPS_MEM_MAX)
		return;
	for (i = 0; i < CAPS_BUCKETS; i++) {
		unsigned k = (b + i) % CAPS_BUCKETS;

		if (caps_tab[k] == NULL ||
		    (caps_tab[k] == c && c->next == NULL))
			continue;
		for (pp = &caps_tab[k]; (*pp)->next; pp = &(*pp)->next)
			;
		caps_unref(*pp);
		*pp = NULL;
		caps_n--;
		return;
	}
}

/* Stored as the features, one a line. */
static struct caps *
caps_from_text(const char *ver, const char *v, size_t len)
{
	struct strlist feats = { 0 };
	const char *end = v + len;
	struct caps *c;

	while (v < end) {
		const char *nl = memchr(v, '\n', (size_t)(end - v));

		if (nl == NULL)
			nl = end;
		if (nl > v)
			strlist_add(&feats, xstrndup(v, (size_t)(nl - v)));
		v = nl + 1;
	}
	c = caps_new(ver, &feats);
	return c;
}

struct caps *
caps_find(const char *host, const char *ver)
{
	struct caps *c;
	char *v = NULL;
	size_t len = 0;

	for (c = caps_tab[bucket(ver)]; c; c = c->next)
		if (strcmp(c->ver, ver) == 0)
			return c;
	if (store_map_get(host, "", CAPS_STORE, ver, &v, &len) != 0)
		return NULL;
	c = caps_from_text(ver, v, len);
	free(v);
	caps_remember(c);
	return c;
}

static int
first_key_cb(void *ud, const char *key, const char *val, size_t len)
{
	UNUSED(val);
	UNUSED(len);
	*(char **)ud = xstrdup(key);
	return 1;
}

void
caps_keep(const char *host, struct caps *c, long long store_max)
{
	struct sbuf b;
	long count = 0;
	size_t i;

	/* bounded: when full, one old entry makes room */
	if (store_map_count(host, "", CAPS_STORE, &count) == 0 &&
	    count >= store_max) {
		char *k = NULL;

		store_map_list(host, "", CAPS_STORE, first_key_cb, &k);
		if (k)
			store_map_del(host, "", CAPS_STORE, k);
		free(k);
	}
	sbuf_init(&b);
	for (i = 0; i < c->nfeat; i++)
		sbuf_printf(&b, "%s\n", c->feat[i]);
	store_map_set(
	    host, "", CAPS_STORE, c->ver, b.data ? b.data : "", b.len);
	sbuf_cleanup(&b);
	caps_remember(c);
}

/* ---- queries in flight ---- */

struct pending {
	struct pending *next;
	char id[32];
	const struct host *host;
	char *ver;
};

static struct pending *pendings;
static size_t pending_n;

static void
pending_free(struct pending *p)
{
	free(p->ver);
	free(p);
}

void
caps_query(struct host *h, const char *from, const char *full, const char *node,
    const char *ver)
{
	struct pending *p, **pp;
	struct xml_node *iq, *q;
	struct jid fj;
	char n[1100];

	for (p = pendings; p; p = p->next)
		if (p->host == h && strcmp(p->ver, ver) == 0)
			return; /* asked already: the answer serves all */
	if (pending_n >= PENDING_MAX) {
		/* the oldest query is lost (its peer may never answer) */
		for (pp = &pendings; (*pp)->next; pp = &(*pp)->next)
			;
		pending_free(*pp);
		*pp = NULL;
		pending_n--;
	}
	if (jid_parse_str(&fj, from) != 0)
		return;
	p = xcalloc(1, sizeof(*p));
	memcpy(p->id, QUERY_PREFIX, strlen(QUERY_PREFIX));
	rand_id(p->id + strlen(QUERY_PREFIX), 17);
	p->host = h;
	p->ver = xstrdup(ver);
	p->next = pendings;
	pendings = p;
	pending_n++;
	iq = xml_node_new(XML_NS_CLIENT, "iq");
	xml_node_set_attr(iq, "type", "get");
	xml_node_set_attr(iq, "id", p->id);
	xml_node_set_attr(iq, "from", from);
	xml_node_set_attr(iq, "to", full);
	q = xml_node_child(iq, NS_INFO, "query");
	snprintf(n, sizeof(n), "%s#%s", node, ver);
	xml_node_set_attr(q, "node", n);
	router_route(iq, &fj, NULL);
	xml_node_free(iq);
	jid_cleanup(&fj);
}

char *
caps_query_take(const struct host *h, const struct xml_node *iq)
{
	const char *id = xml_node_attr(iq, "id");
	struct pending **pp, *p;
	char *ver;

	if (id == NULL || strncmp(id, QUERY_PREFIX, strlen(QUERY_PREFIX)) != 0)
		return NULL;
	for (pp = &pendings; *pp; pp = &(*pp)->next) {
		p = *pp;
		if (p->host == h && strcmp(p->id, id) == 0) {
			*pp = p->next;
			pending_n--;
			ver = p->ver;
			free(p);
			return ver;
		}
	}
	return NULL;
}

void
caps_queries_drop(const struct host *h)
{
	struct pending **pp = &pendings, *p;

	while (*pp) {
		p = *pp;
		if (p->host == h) {
			*pp = p->next;
			pending_n--;
			pending_free(p);
			continue;
		}
		pp = &p->next;
	}
}

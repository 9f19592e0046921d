/* config_check.c: the checks after a list item or the whole file is
 * read: listener addresses and conflicts, host and component names, the
 * modules a host enables, their dependencies and settings. */
#include "core/config.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_int.h"
#include "core/module.h"
#include "core/util.h"
#include "jid/jid.h"

/* ---- checks of one list item ---- */

static int
prep_domain(struct cfg_ctx *x, struct pos at, char **name)
{
	struct jid j;
	char txt[CFG_SHOWN_MAX + 8];

	if (jid_parse_str(&j, *name) < 0)
		return cfg_fail(x, at, "'%s' is not a valid domain name",
		    cfg_shown(txt, sizeof(txt), *name));
	if (j.node != NULL || j.resource != NULL) {
		jid_cleanup(&j);
		return cfg_fail(x, at,
		    "'%s' is not a domain name (no @ or / allowed)",
		    cfg_shown(txt, sizeof(txt), *name));
	}
	free(*name);
	*name = xstrdup(j.domain);
	jid_cleanup(&j);
	return 0;
}

int
cfg_check_listener(
    struct cfg_ctx *x, struct cfg_listener *l, const struct mapinfo *mi)
{
	const struct ynode *k =
	    mi->key[cfg_dir_index(&cfg_listener_section, "address")];
	unsigned char bin[16];
	char txt[CFG_SHOWN_MAX + 8];
	size_t old;
	int rc = 0;

	if (strcmp(l->address, "*") == 0 ||
	    inet_pton(AF_INET, l->address, bin) == 1 ||
	    inet_pton(AF_INET6, l->address, bin) == 1)
		return 0;
	old = cfg_path_push(x, "address");
	rc = cfg_fail(x, k->pos, "'%s' is not an IP address or '*'",
	    cfg_shown(txt, sizeof(txt), l->address));
	cfg_path_pop(x, old);
	return rc;
}

int
cfg_check_component(
    struct cfg_ctx *x, struct cfg_component *cm, const struct mapinfo *mi)
{
	size_t old;
	int rc;

	old = cfg_path_push(x, "name");
	rc = prep_domain(x,
	    mi->key[cfg_dir_index(&cfg_component_section, "name")]->pos,
	    &cm->name);
	cfg_path_pop(x, old);
	if (rc < 0)
		return -1;
	if (cm->secret[0] == '\0') {
		old = cfg_path_push(x, "secret");
		cfg_fail(x,
		    mi->key[cfg_dir_index(&cfg_component_section, "secret")]
			->pos,
		    "must not be empty");
		cfg_path_pop(x, old);
		return -1;
	}
	return 0;
}

/* A service: a domain name, and a module that serves domains. */
int
cfg_check_service(
    struct cfg_ctx *x, struct cfg_service *sv, const struct mapinfo *mi)
{
	const struct ynode *dk =
	    mi->key[cfg_dir_index(&cfg_service_section, "domain")];
	const struct ynode *mk =
	    mi->key[cfg_dir_index(&cfg_service_section, "module")];
	char txt[CFG_SHOWN_MAX + 8];
	size_t old;
	int r, rc;

	old = cfg_path_push(x, "domain");
	rc = prep_domain(x, dk->pos, &sv->domain);
	cfg_path_pop(x, old);
	if (rc < 0)
		return -1;
	sv->line = dk->pos.line;
	sv->col = dk->pos.col;
	r = module_index(sv->module);
	old = cfg_path_push(x, "module");
	if (r < 0)
		rc = cfg_fail(x, mk->pos, "unknown module '%s'",
		    cfg_shown(txt, sizeof(txt), sv->module));
	else if (!(module_kinds(module_registry[r]) & MODULE_ON_SERVICE))
		rc = cfg_fail(x, mk->pos,
		    "module '%s' cannot serve a domain of its own (list it "
		    "under modules)",
		    sv->module);
	cfg_path_pop(x, old);
	return rc;
}

static void
known_modules(char *out, size_t n)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < module_registry_len; i++) {
		int w = snprintf(out + o, n - o, "%s%s", i > 0 ? ", " : "",
		    module_registry[i]->name);

		if (w < 0 || (size_t)w >= n - o)
			return;
		o += (size_t)w;
	}
}

/* The modules a host lists must exist, once each, with their
 * dependencies. Returns -1 on error; enabled[r] is 1 + the list position
 * of registry module r, or 0. */
static int
check_host_modules(struct cfg_ctx *x, struct cfg_host *h,
    const struct ynode *modlist, size_t *enabled)
{
	char txt[CFG_SHOWN_MAX + 8], list[CFG_MSG_MAX / 2];
	const struct module *m;
	size_t i, j, old;
	int r, dep;

	old = cfg_path_push(x, "modules");
	for (i = 0; i < h->modules.n; i++) {
		struct pos at = modlist->kids[i]->pos;
		size_t oldi = cfg_path_push_index(x, i);

		r = module_index(h->modules.v[i]);
		if (r < 0) {
			known_modules(list, sizeof(list));
			return cfg_fail(x, at,
			    "unknown module '%s' (known: %s)",
			    cfg_shown(txt, sizeof(txt), h->modules.v[i]), list);
		}
		if (enabled[r])
			return cfg_fail(x, at,
			    "module '%s' is listed twice (first as "
			    "modules[%zu])",
			    h->modules.v[i], enabled[r] - 1);
		if (!(module_kinds(module_registry[r]) & MODULE_ON_ACCOUNTS))
			return cfg_fail(x, at,
			    "module '%s' serves a domain of its own: list it "
			    "under services, e.g. services: [{ module: %s, "
			    "domain: %s.%s }]",
			    h->modules.v[i], h->modules.v[i], h->modules.v[i],
			    h->name);
		enabled[r] = i + 1;
		cfg_path_pop(x, oldi);
	}
	for (i = 0; i < h->modules.n; i++) {
		m = module_registry[module_index(h->modules.v[i])];
		for (j = 0; m->depends != NULL && m->depends[j] != NULL; j++) {
			dep = module_index(m->depends[j]);
			if (dep >= 0 && enabled[dep])
				continue;
			cfg_path_push_index(x, i);
			return cfg_fail(x, modlist->kids[i]->pos,
			    "module '%s' needs '%s', which is not enabled on "
			    "this host",
			    m->name, m->depends[j]);
		}
	}
	cfg_path_pop(x, old);
	return 0;
}

/* One module's settings on a host: its mapping, or its defaults. */
static int
host_modcfg(struct cfg_ctx *x, struct cfg_host *h, size_t r, int enabled,
    const struct ynode *item, const struct mapinfo *mi)
{
	const struct module *m = module_registry[r];
	const struct ynode *mk = mi->modkey[r], *mv = mi->modval[r];

	if (mk != NULL && !enabled)
		return cfg_fail(x, mk->pos,
		    "module '%s' is not enabled on this host (add it to "
		    "modules)",
		    m->name);
	if (mk != NULL && m->config == NULL)
		return cfg_fail(
		    x, mk->pos, "module '%s' has no settings", m->name);
	if (!enabled || m->config == NULL)
		return 0;
	h->modcfg[r] = xcalloc(1, m->config->size);
	if (mk == NULL)
		return cfg_walk_map(
		    x, m->config, NULL, item->pos, h->modcfg[r], NULL);
	if (mv->kind == YN_SCALAR && mv->is_null)
		return cfg_walk_map(
		    x, m->config, NULL, mk->pos, h->modcfg[r], NULL);
	if (mv->kind != YN_MAP)
		return cfg_fail(x, mk->pos, "expected a mapping, not %s",
		    cfg_kind_name(mv));
	return cfg_walk_map(x, m->config, mv, mv->pos, h->modcfg[r], NULL);
}

/* After a host's own keys: its name, its modules and every enabled
 * module's settings (defaults when the host has no mapping for it). */
/* Each admin is a bare JID, kept prepared so that a comparison with a
 * session's bare JID is a strcmp. */
static int
prep_admins(struct cfg_ctx *x, struct cfg_host *h, const struct mapinfo *mi)
{
	const struct ynode *k =
	    mi->key[cfg_dir_index(&cfg_host_section, "admins")];
	char txt[CFG_SHOWN_MAX + 8];
	struct jid j;
	size_t i, old;
	int rc = 0;

	for (i = 0; i < h->admins.n && rc == 0; i++) {
		old = cfg_path_push(x, "admins");
		if (jid_parse_str(&j, h->admins.v[i]) < 0) {
			rc = cfg_fail(x, k->pos, "'%s' is not a valid JID",
			    cfg_shown(txt, sizeof(txt), h->admins.v[i]));
		} else if (j.node == NULL || j.resource != NULL) {
			rc = cfg_fail(x, k->pos,
			    "'%s' is not a bare JID (user@domain)",
			    cfg_shown(txt, sizeof(txt), h->admins.v[i]));
			jid_cleanup(&j);
		} else {
			free(h->admins.v[i]);
			h->admins.v[i] = xstrdup(j.bare);
			jid_cleanup(&j);
		}
		cfg_path_pop(x, old);
	}
	return rc;
}

int
cfg_finish_host(struct cfg_ctx *x, struct cfg_host *h, const struct ynode *item,
    const struct mapinfo *mi)
{
	size_t *enabled, r, old;
	int rc;

	old = cfg_path_push(x, "name");
	rc = prep_domain(x,
	    mi->key[cfg_dir_index(&cfg_host_section, "name")]->pos, &h->name);
	cfg_path_pop(x, old);
	if (rc < 0)
		return -1;
	if (prep_admins(x, h, mi) < 0)
		return -1;
	rc = -1;
	enabled = xcalloc(module_registry_len, sizeof(*enabled));
	if (check_host_modules(x, h,
		mi->val[cfg_dir_index(&cfg_host_section, "modules")],
		enabled) < 0)
		goto out_free_enabled;
	/* a service's module may have settings under the host too */
	for (r = 0; r < h->services.n; r++) {
		int k = module_index(
		    ((struct cfg_service *)h->services.items + r)->module);

		if (k >= 0 && !enabled[k])
			enabled[k] = SIZE_MAX;
	}
	h->modcfg = xcalloc(module_registry_len, sizeof(*h->modcfg));
	for (r = 0; r < module_registry_len; r++) {
		old = cfg_path_push(x, module_registry[r]->name);
		if (host_modcfg(x, h, r, enabled[r] != 0, item, mi) < 0)
			goto out_free_enabled;
		cfg_path_pop(x, old);
	}
	rc = 0;
out_free_enabled:
	free(enabled);
	return rc;
}

/* ---- checks across list items ---- */

/* The key or item node of the root's list name[i], for positions. */
static const struct ynode *
root_item(const struct cfg_ctx *x, const char *name, size_t i)
{
	const struct ynode *r = x->root;
	size_t k;

	if (r == NULL || r->kind != YN_MAP)
		return NULL;
	for (k = 0; k + 1 < r->nkids; k += 2) {
		if (strcmp(r->kids[k]->str, name) == 0 &&
		    r->kids[k + 1]->kind == YN_SEQ && i < r->kids[k + 1]->nkids)
			return r->kids[k + 1]->kids[i];
	}
	return NULL;
}

static struct pos
item_key_pos(
    const struct cfg_ctx *x, const char *list, size_t i, const char *key)
{
	const struct ynode *it = root_item(x, list, i);
	struct pos none = { 1, 1 };
	size_t k;

	if (it == NULL)
		return none;
	for (k = 0; k + 1 < it->nkids; k += 2) {
		if (strcmp(it->kids[k]->str, key) == 0)
			return it->kids[k]->pos;
	}
	return it->pos;
}

struct lkey {
	long long port;
	int fam; /* 0 for "*", else AF_INET / AF_INET6 */
	unsigned char addr[16];
	size_t idx;
};

static int
lkey_cmp(const void *a, const void *b)
{
	const struct lkey *p = a, *q = b;
	int c;

	if (p->port != q->port)
		return p->port < q->port ? -1 : 1;
	if (p->fam != q->fam)
		return p->fam < q->fam ? -1 : 1;
	c = memcmp(p->addr, q->addr, sizeof(p->addr));
	if (c != 0)
		return c;
	return p->idx < q->idx ? -1 : p->idx > q->idx;
}

static int
is_any(const struct lkey *k)
{
	static const unsigned char zero[16];

	return memcmp(k->addr, zero, sizeof(zero)) == 0;
}

/* A conflict candidate: keep the pair whose later item comes first in
 * the file, so the error names the first listener that cannot bind. */
static void
note_conflict(size_t a, size_t b, size_t *later, size_t *earlier)
{
	size_t lo = a < b ? a : b, hi = a < b ? b : a;

	if (hi < *later || (hi == *later && lo < *earlier)) {
		*later = hi;
		*earlier = lo;
	}
}

/* Two listeners on one port conflict when their addresses are equal or
 * one is a wildcard covering the other ("*" covers everything, 0.0.0.0
 * all of IPv4, :: all of IPv6 since IPv6 sockets are v6-only). Sorted by
 * (port, family, address), each such group starts with its wildcard. */
int
cfg_check_listener_conflicts(struct cfg_ctx *x)
{
	const struct cfg_listener *v = x->cfg->listeners.items;
	size_t n = x->cfg->listeners.n, i, j, f, later = SIZE_MAX,
	       earlier = SIZE_MAX, old;
	struct lkey *k;

	if (n < 2)
		return 0;
	k = xcalloc(n, sizeof(*k));
	for (i = 0; i < n; i++) {
		k[i].port = v[i].port;
		k[i].idx = i;
		if (strcmp(v[i].address, "*") == 0)
			k[i].fam = 0;
		else if (inet_pton(AF_INET, v[i].address, k[i].addr) == 1)
			k[i].fam = AF_INET;
		else if (inet_pton(AF_INET6, v[i].address, k[i].addr) == 1)
			k[i].fam = AF_INET6;
	}
	qsort(k, n, sizeof(*k), lkey_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && k[j].port == k[i].port; j++)
			;
		for (f = i; f < j; f++) {
			if (f + 1 < j && k[f].fam == k[f + 1].fam &&
			    memcmp(k[f].addr, k[f + 1].addr, 16) == 0)
				note_conflict(
				    k[f].idx, k[f + 1].idx, &later, &earlier);
			if (f > i && k[i].fam == 0)
				note_conflict(
				    k[i].idx, k[f].idx, &later, &earlier);
		}
		for (f = i; f < j; f++) {
			size_t g;

			/* Only the first of each family can be its
			 * wildcard. */
			if (k[f].fam == 0 || !is_any(&k[f]) ||
			    (f > i && k[f - 1].fam == k[f].fam))
				continue;
			for (g = f + 1; g < j && k[g].fam == k[f].fam; g++)
				note_conflict(
				    k[f].idx, k[g].idx, &later, &earlier);
		}
	}
	free(k);
	if (later == SIZE_MAX)
		return 0;
	old = cfg_path_push(x, "listeners");
	cfg_path_push_index(x, later);
	cfg_fail(x, root_item(x, "listeners", later)->pos,
	    "%s port %lld conflicts with listeners[%zu] (%s port %lld)",
	    v[later].address, v[later].port, earlier, v[earlier].address,
	    v[earlier].port);
	cfg_path_pop(x, old);
	return -1;
}

struct nkey {
	const char *name;
	size_t idx;
};

static int
nkey_cmp(const void *a, const void *b)
{
	const struct nkey *p = a, *q = b;
	int c = strcmp(p->name, q->name);

	if (c != 0)
		return c;
	return p->idx < q->idx ? -1 : p->idx > q->idx;
}

/* Sorted names of a list of hosts or components (name is the first
 * member of both). */
static struct nkey *
sorted_names(const struct cfg_list *l, size_t size, size_t name_off)
{
	struct nkey *k = xcalloc(l->n, sizeof(*k));
	size_t i;

	for (i = 0; i < l->n; i++) {
		k[i].name = *(char *const *)(void *)((char *)l->items +
						     i * size + name_off);
		k[i].idx = i;
	}
	qsort(k, l->n, sizeof(*k), nkey_cmp);
	return k;
}

static int
check_unique(
    struct cfg_ctx *x, const char *list, const struct nkey *k, size_t n)
{
	size_t i, later = SIZE_MAX, earlier = 0, old;
	const char *name = NULL;
	char txt[CFG_SHOWN_MAX + 8];

	for (i = 0; i + 1 < n; i++) {
		if (strcmp(k[i].name, k[i + 1].name) == 0 &&
		    k[i + 1].idx < later) {
			later = k[i + 1].idx;
			earlier = k[i].idx;
			name = k[i].name;
		}
	}
	if (name == NULL)
		return 0;
	old = cfg_path_push(x, list);
	cfg_path_push_index(x, later);
	cfg_path_push(x, "name");
	cfg_fail(x, item_key_pos(x, list, later, "name"),
	    "'%s' is already %s[%zu]", cfg_shown(txt, sizeof(txt), name), list,
	    earlier);
	cfg_path_pop(x, old);
	return -1;
}

/* The first entry of sorted names k (n of them) equal to name, or NULL. */
static const struct nkey *
find_name(const struct nkey *k, size_t n, const char *name)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(k[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strcmp(k[lo].name, name) == 0 ? &k[lo] : NULL;
}

/* Every service domain is a domain of its own: no host's, component's
 * or other service's. */
static int
check_service_names(
    struct cfg_ctx *x, const struct nkey *hk, const struct nkey *ck)
{
	const struct config *c = x->cfg;
	const struct cfg_host *hv = c->hosts.items;
	const struct nkey *hit;
	size_t i, j, i2, j2, old;
	char what[64];

	for (i = 0; i < c->hosts.n; i++) {
		const struct cfg_service *sv = hv[i].services.items;

		for (j = 0; j < hv[i].services.n; j++) {
			const char *d = sv[j].domain;

			what[0] = '\0';
			if ((hit = find_name(hk, c->hosts.n, d)) != NULL)
				snprintf(
				    what, sizeof(what), "hosts[%zu]", hit->idx);
			else if ((hit = find_name(ck, c->components.n, d)))
				snprintf(what, sizeof(what), "components[%zu]",
				    hit->idx);
			for (i2 = 0; !what[0] && i2 <= i; i2++) {
				const struct cfg_service *s2 =
				    hv[i2].services.items;
				/* the services before this one */
				size_t n2 = i2 < i ? hv[i2].services.n : j;

				for (j2 = 0; j2 < n2; j2++)
					if (strcmp(s2[j2].domain, d) == 0)
						snprintf(what, sizeof(what),
						    "hosts[%zu].services[%zu]",
						    i2, j2);
			}
			if (!what[0])
				continue;
			old = cfg_path_push(x, "hosts");
			cfg_path_push_index(x, i);
			cfg_path_push(x, "services");
			cfg_path_push_index(x, j);
			cfg_path_push(x, "domain");
			cfg_fail(x, (struct pos){ sv[j].line, sv[j].col },
			    "'%s' is already %s; a service needs a domain of "
			    "its own",
			    d, what);
			cfg_path_pop(x, old);
			return -1;
		}
	}
	return 0;
}

int
cfg_check_names(struct cfg_ctx *x)
{
	const struct config *c = x->cfg;
	const struct cfg_component *cm = c->components.items;
	struct nkey *hk, *ck, *hit;
	size_t i, old, lo, hi, mid;
	int rc = -1;

	hk = sorted_names(&c->hosts, sizeof(struct cfg_host),
	    offsetof(struct cfg_host, name));
	ck = sorted_names(&c->components, sizeof(struct cfg_component),
	    offsetof(struct cfg_component, name));
	if (check_unique(x, "hosts", hk, c->hosts.n) < 0 ||
	    check_unique(x, "components", ck, c->components.n) < 0)
		goto out_free;
	for (i = 0; i < c->components.n; i++) {
		/* The first host of that name, for the message. */
		lo = 0;
		hi = c->hosts.n;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (strcmp(hk[mid].name, cm[i].name) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		hit = lo < c->hosts.n && strcmp(hk[lo].name, cm[i].name) == 0
			  ? &hk[lo]
			  : NULL;
		if (hit != NULL) {
			old = cfg_path_push(x, "components");
			cfg_path_push_index(x, i);
			cfg_path_push(x, "name");
			cfg_fail(x, item_key_pos(x, "components", i, "name"),
			    "'%s' is already hosts[%zu]; a component needs a "
			    "domain of its own",
			    cm[i].name, hit->idx);
			cfg_path_pop(x, old);
			goto out_free;
		}
	}
	rc = check_service_names(x, hk, ck);
out_free:
	free(hk);
	free(ck);
	return rc;
}

/* The position of key in the root's mapping section, for messages. */
static struct pos
section_key_pos(const struct cfg_ctx *x, const char *section, const char *key)
{
	const struct ynode *r = x->root, *m = NULL;
	struct pos none = { 1, 1 };
	size_t k;

	for (k = 0; r != NULL && r->kind == YN_MAP && k + 1 < r->nkids; k += 2)
		if (strcmp(r->kids[k]->str, section) == 0)
			m = r->kids[k + 1];
	for (k = 0; m != NULL && m->kind == YN_MAP && k + 1 < m->nkids; k += 2)
		if (strcmp(m->kids[k]->str, key) == 0)
			return m->kids[k]->pos;
	return m != NULL ? m->pos : none;
}

int
cfg_check_accounts(struct cfg_ctx *x)
{
	const struct cfg_accounts *a = &x->cfg->accounts;
	size_t old;

	if (a->inactive_delete == 0 || a->inactive_warning < a->inactive_delete)
		return 0;
	old = cfg_path_push(x, "accounts");
	cfg_path_push(x, "inactive_warning");
	cfg_fail(x, section_key_pos(x, "accounts", "inactive_warning"),
	    "must be shorter than accounts.inactive_delete (the warning "
	    "comes that long before the deletion)");
	cfg_path_pop(x, old);
	return -1;
}

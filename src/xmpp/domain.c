/* domain.c: the table of domains by name (see domain.h). A few hundred
 * entries at most (hosts, their services, components): one hash table
 * that doubles as it fills. */
#include "xmpp/domain.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static struct domain **tab;
static size_t tab_cap, tab_n;
static struct domain remote;

static size_t
slot(const char *name, size_t cap)
{
	return hash_bytes(HASH_INIT, name, strlen(name)) & (cap - 1);
}

static void
grow(void)
{
	size_t ncap = tab_cap ? tab_cap * 2 : 16, i;
	struct domain **n = xcalloc(ncap, sizeof(*n)), *d, *next;

	for (i = 0; i < tab_cap; i++) {
		for (d = tab[i]; d; d = next) {
			size_t k = slot(d->name, ncap);

			next = d->next;
			d->next = n[k];
			n[k] = d;
		}
	}
	free(tab);
	tab = n;
	tab_cap = ncap;
}

static struct domain *
lookup(const char *name)
{
	struct domain *d;

	if (tab_cap == 0 || name == NULL)
		return NULL;
	for (d = tab[slot(name, tab_cap)]; d; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

const struct domain *
domain_find(const char *name)
{
	return lookup(name);
}

const struct domain *
domain_add(const char *name, enum domain_kind kind, struct host *host,
    domain_route_fn route, void *ud)
{
	struct domain *d = lookup(name);
	size_t k;

	if (d == NULL) {
		if (tab_n + 1 > tab_cap * 3 / 4)
			grow();
		d = xcalloc(1, sizeof(*d));
		d->name = xstrdup(name);
		k = slot(name, tab_cap);
		d->next = tab[k];
		tab[k] = d;
		tab_n++;
	}
	d->kind = kind;
	d->host = host;
	d->route = route;
	d->ud = ud;
	return d;
}

void
domain_clear(enum domain_kind kind)
{
	struct domain **pp, *d;
	size_t i;

	for (i = 0; i < tab_cap; i++) {
		pp = &tab[i];
		while ((d = *pp) != NULL) {
			if (d->kind != kind) {
				pp = &d->next;
				continue;
			}
			*pp = d->next;
			free(d->name);
			free(d);
			tab_n--;
		}
	}
}

void
domain_set_remote(domain_route_fn route, void *ud)
{
	remote.name = NULL;
	remote.kind = DOMAIN_REMOTE;
	remote.route = route;
	remote.ud = ud;
}

const struct domain *
domain_remote(void)
{
	return remote.route ? &remote : NULL;
}

const char *
domain_kind_name(enum domain_kind kind)
{
	switch (kind) {
	case DOMAIN_ACCOUNTS:
		return "accounts";
	case DOMAIN_SERVICE:
		return "service";
	case DOMAIN_COMPONENT:
		return "component";
	case DOMAIN_REMOTE:
	default:
		return "remote";
	}
}

void
domain_free_all(void)
{
	domain_clear(DOMAIN_ACCOUNTS);
	domain_clear(DOMAIN_SERVICE);
	domain_clear(DOMAIN_COMPONENT);
	free(tab);
	tab = NULL;
	tab_cap = tab_n = 0;
	memset(&remote, 0, sizeof(remote));
}

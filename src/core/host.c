/* host.c: virtual hosts and the modules enabled on them. */
#include "core/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "jid/jid.h"
#include "core/util.h"
#include "store/store.h"

struct host *host_list;
const struct config *config_running;

int
module_index(const char *name)
{
	size_t i;

	for (i = 0; i < module_registry_len; i++)
		if (strcmp(module_registry[i]->name, name) == 0)
			return (int)i;
	return -1;
}

static void
host_unload(struct host *h)
{
	size_t i;

	for (i = 0; i < h->nservices; i++) {
		struct host_service *s = &h->services[i];

		if (s->started && s->mod->service_cleanup)
			s->mod->service_cleanup(h, s);
		s->started = 0;
	}
	for (i = 0; i < h->nmods; i++)
		if (h->mods[i]->cleanup)
			h->mods[i]->cleanup(h);
	hook_table_free(h->hooks);
	h->hooks = NULL;
	for (i = 0; i < h->nservices; i++) {
		hook_table_free(h->services[i].hooks);
		free(h->services[i].domain);
	}
	free(h->services);
	h->services = NULL;
	h->nservices = 0;
	free(h->mods);
	h->mods = NULL;
	h->nmods = 0;
}

static int
host_load(struct host *h, const struct cfg_host *ch, char *err, size_t errlen)
{
	size_t i;

	h->cfg = ch;
	h->hooks = hook_table_new();
	h->mods = xcalloc(module_registry_len, sizeof(*h->mods));
	/* registry order, so priorities tie-break the same way everywhere */
	for (i = 0; i < module_registry_len; i++) {
		const struct module *m = module_registry[i];
		size_t j;

		if (!config_host_has_module(ch, m->name))
			continue;
		h->mods[h->nmods++] = m;
		for (j = 0; m->hooks && m->hooks[j].name; j++)
			hook_add(h->hooks, m->hooks[j].name, m->hooks[j].fn,
			    m->hooks[j].prio);
	}
	/* each service domain gets a table of its module's service hooks */
	if (ch->services.n)
		h->services = xcalloc(ch->services.n, sizeof(*h->services));
	for (i = 0; i < ch->services.n; i++) {
		const struct cfg_service *cs =
		    (const struct cfg_service *)ch->services.items + i;
		int k = module_index(cs->module);
		struct host_service *hs;
		size_t j;

		if (k < 0) {
			snprintf(err, errlen, "host %s: no module %s", h->name,
			    cs->module);
			return -1;
		}
		hs = &h->services[h->nservices++];
		hs->domain = xstrdup(cs->domain);
		hs->mod = module_registry[k];
		hs->hooks = hook_table_new();
		for (j = 0;
		     hs->mod->service_hooks && hs->mod->service_hooks[j].name;
		     j++)
			hook_add(hs->hooks, hs->mod->service_hooks[j].name,
			    hs->mod->service_hooks[j].fn,
			    hs->mod->service_hooks[j].prio);
	}
	for (i = 0; i < h->nmods; i++) {
		if (h->mods[i]->init && h->mods[i]->init(h) != 0) {
			snprintf(err, errlen,
			    "host %s: module %s failed to "
			    "start",
			    h->name, h->mods[i]->name);
			return -1;
		}
	}
	for (i = 0; i < h->nservices; i++) {
		struct host_service *s = &h->services[i];

		if (s->mod->service_init == NULL)
			continue;
		if (s->mod->service_init(h, s) != 0) {
			snprintf(err, errlen,
			    "service %s: module %s failed to "
			    "start",
			    s->domain, s->mod->name);
			return -1;
		}
		s->started = 1;
	}
	return 0;
}

int
host_setup(const struct config *c, char *err, size_t errlen)
{
	const struct cfg_host *v = c->hosts.items;
	struct host *h;
	size_t i;

	config_running = c;
	store_quota_set(c->limits.account_storage);
	for (h = host_list; h; h = h->next) {
		host_unload(h);
		h->active = 0;
		h->cfg = NULL;
	}
	for (i = 0; i < c->hosts.n; i++) {
		for (h = host_list; h; h = h->next)
			if (strcmp(h->name, v[i].name) == 0)
				break;
		if (h == NULL) {
			h = xcalloc(1, sizeof(*h));
			h->name = xstrdup(v[i].name);
			h->next = host_list;
			host_list = h;
		}
		h->active = 1;
		if (host_load(h, &v[i], err, errlen) != 0)
			return -1;
	}
	return 0;
}

static void
fire_on(
    struct host *h, struct hook_table *t, const char *domain, const char *name)
{
	struct hook_ev ev = { 0 };
	struct jid to;

	if (t == NULL || jid_parse_str(&to, domain) != 0)
		return;
	ev.host = h;
	ev.to = &to;
	ev.from = &to;
	hook_fire(t, name, &ev);
	jid_cleanup(&to);
}

void
host_fire_everywhere(const char *name)
{
	struct host *h;
	size_t i;

	for (h = host_list; h; h = h->next) {
		if (!h->active)
			continue;
		fire_on(h, h->hooks, h->name, name);
		for (i = 0; i < h->nservices; i++)
			fire_on(h, h->services[i].hooks, h->services[i].domain,
			    name);
	}
}

void
host_free_all(void)
{
	while (host_list) {
		struct host *h = host_list;

		host_list = h->next;
		host_unload(h);
		free(h->name);
		free(h);
	}
}

struct host *
host_find_n(const char *domain, size_t len)
{
	struct host *h;

	for (h = host_list; h; h = h->next)
		if (h->active && strlen(h->name) == len &&
		    memcmp(h->name, domain, len) == 0)
			return h;
	return NULL;
}

struct host *
host_find(const char *domain)
{
	return domain ? host_find_n(domain, strlen(domain)) : NULL;
}

int
host_has_module(const struct host *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->nmods; i++)
		if (strcmp(h->mods[i]->name, name) == 0)
			return 1;
	return 0;
}

int
host_is_admin(const struct host *h, const char *bare)
{
	size_t i;

	for (i = 0; h->cfg != NULL && i < h->cfg->admins.n; i++)
		if (strcmp(h->cfg->admins.v[i], bare) == 0)
			return 1;
	return 0;
}

void *
host_modcfg(const struct host *h, const struct module *m)
{
	size_t i;

	/* modules ask for their settings per stanza: find them by
	 * pointer, no name comparisons */
	if (h->cfg == NULL || h->cfg->modcfg == NULL)
		return NULL;
	for (i = 0; i < module_registry_len; i++)
		if (module_registry[i] == m)
			return h->cfg->modcfg[i];
	return NULL;
}

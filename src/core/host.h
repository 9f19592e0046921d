/* host.h: virtual hosts: each has its config, its enabled modules and the
 * hook table those modules filled. Host objects live as long as ternd;
 * a reload rebuilds their hook tables in place. */
#ifndef TERN_HOST_H
#define TERN_HOST_H

#include <stddef.h>

#include "core/config.h"
#include "core/hook.h"
#include "core/module.h"

/* A service domain of the host and the hooks of the module serving it. */
struct host_service {
	char *domain;
	const struct module *mod;
	struct hook_table *hooks;
	void *data;  /* the module's (service_init) */
	int started; /* service_init succeeded */
};

struct host {
	char *name;
	const struct cfg_host *cfg; /* points into the current config */
	struct hook_table *hooks;
	const struct module **mods; /* enabled modules */
	size_t nmods;
	struct host_service *services;
	size_t nservices;
	int active; /* 0 when removed from the config by a reload */
	struct host *next;
};

extern struct host *host_list;
/* The configuration in force (set by host_setup). */
extern const struct config *config_running;

/* Build or rebuild every host from c (start and reload); modules' init
 * run for each host. */
int host_setup(const struct config *c, char *err, size_t errlen);
void host_free_all(void);
/* Fire a non-stanza event (e.g. server/shutdown) on every active host
 * and every service of theirs, ev->to set to the domain. */
void host_fire_everywhere(const char *name);
struct host *host_find(const char *domain); /* active hosts only */
struct host *host_find_n(const char *domain, size_t len);
int host_has_module(const struct host *h, const char *name);
/* Is bare (a prepared bare JID) one of the host's admins? */
int host_is_admin(const struct host *h, const char *bare);
/* The host's settings struct for module m (NULL if m has no config). */
void *host_modcfg(const struct host *h, const struct module *m);

#endif

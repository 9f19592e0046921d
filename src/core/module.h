/* module.h: what a module is. The registry is a static array in
 * src/mod/modules.c; modules are enabled per virtual host. */
#ifndef TERN_MODULE_H
#define TERN_MODULE_H

#include "core/config.h"
#include "core/hook.h"

struct host;
struct host_service;

struct disco_identity {
	const char *category, *type, *name;
};

/* Where a module can run (struct module.kinds). */
enum {
	MODULE_ON_ACCOUNTS = 1, /* a host's modules: list */
	MODULE_ON_SERVICE = 2,	/* a host's services: list */
};

struct module {
	const char *name;
	const char *spec; /* "XEP-0199", "RFC 6121 §2" */
	const char *doc;  /* one line for the module reference */
	/* disco#info features the server advertises for this module */
	const char *const *features;
	/* features advertised on a user's bare JID (disco#info to account) */
	const char *const *account_features;
	const struct disco_identity *identities; /* ends with { NULL } */
	const struct hook_reg *hooks;
	/* MODULE_ON_* bits; 0 means MODULE_ON_ACCOUNTS */
	int kinds;
	/* hooks registered on each service domain the module serves: the
	 * domain's own table, where "host", "bare" and "full" follow the
	 * shape of the 'to' JID alone (ev->host is the parent host,
	 * ev->to->domain the service's domain) */
	const struct hook_reg *service_hooks;
	const struct cfg_section *config; /* per-host settings, or NULL */
	const char *const *depends; /* module names that must be enabled too */
	/* frees what the module keeps on a session (session_mod_set) if it
	 * is still there when the session ends: a reload that drops the
	 * module from the host also drops its session/closed handler, and
	 * the data (and any timer in it) must not outlive the session */
	void (*session_free)(void *data);
	int (*init)(struct host *h); /* optional, after hooks are registered */
	void (*cleanup)(struct host *h); /* optional */
	/* a service module's, for each service domain it serves (optional):
	 * at start and reload after the host's modules started, and before
	 * the host is unloaded; it may add hooks to h->hooks (user/deleted)
	 * and keep what it needs in s->data */
	int (*service_init)(struct host *h, struct host_service *s);
	void (*service_cleanup)(struct host *h, struct host_service *s);
};

extern const struct module *const module_registry[];
extern const size_t module_registry_len;

/* Index of the named module in the registry, or -1. */
int module_index(const char *name);

/* Where module m can run (MODULE_ON_* bits). */
static inline int
module_kinds(const struct module *m)
{
	return m->kinds ? m->kinds : MODULE_ON_ACCOUNTS;
}

#endif

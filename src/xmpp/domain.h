/* domain.h: every address the server answers for is a domain of one
 * kind. The router finds the domain of a stanza's 'to' once and hands
 * the stanza to that domain's handler; names no domain has go to the
 * remote fallback (server-to-server registers it), or bounce.
 *
 *   accounts   a virtual host: its users, their sessions and modules
 *   service    a module-hosted domain (group chat, upload) under a host
 *   component  an external component (XEP-0114)
 *   remote     the fallback for every other domain (s2s) */
#ifndef TERN_DOMAIN_H
#define TERN_DOMAIN_H

#include "core/hook.h"

struct host;
struct xml_node;
struct domain;

enum domain_kind {
	DOMAIN_ACCOUNTS,
	DOMAIN_SERVICE,
	DOMAIN_COMPONENT,
	DOMAIN_REMOTE,
};

/* Deliver st (its 'from' stamped and checked, ev filled by the router:
 * from, to, type, payload, session) to domain d. kind is the event kind:
 * "message", "presence", "iq-get", "iq-set", "iq-result", "iq-error". */
typedef void (*domain_route_fn)(const struct domain *d, struct xml_node *st,
    struct hook_ev *ev, const char *kind);

struct domain {
	char *name;
	enum domain_kind kind;
	/* accounts: the host itself; service: its parent host */
	struct host *host;
	domain_route_fn route;
	void *ud;	     /* the handler's */
	struct domain *next; /* hash chain */
};

/* The domain with this name, or NULL (then the remote fallback). */
const struct domain *domain_find(const char *name);
/* Add a domain, or replace the one with the same name. */
const struct domain *domain_add(const char *name, enum domain_kind kind,
    struct host *host, domain_route_fn route, void *ud);
/* Remove every domain of a kind (a reload registers them again). */
void domain_clear(enum domain_kind kind);
/* The fallback for names no domain has; NULL: none (bounce). */
void domain_set_remote(domain_route_fn route, void *ud);
const struct domain *domain_remote(void);
const char *domain_kind_name(enum domain_kind kind);
void domain_free_all(void);

#endif

/* src/mod/extdisco.c: XEP-0215 External Service Discovery — tells the
 * host's users which STUN and TURN servers to use for calls, with
 * short-lived TURN credentials in the form coturn checks with its
 * use-auth-secret / static-auth-secret (the "TURN REST API"):
 * username "<expiry unix time>:<bare JID>", password
 * base64(HMAC-SHA1(secret, username)). The TURN server needs only the
 * shared secret; nothing is stored here. */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mod/mod.h"

#define NS_EXTDISCO "urn:xmpp:extdisco:2"

static const char *const extdisco_types[] = { "stun", "turn", "turns", NULL };
static const char *const extdisco_transports[] = { "udp", "tcp", NULL };
/* the standard port of each type (RFC 8489, RFC 8656) */
static const long long extdisco_ports[] = { 3478, 3478, 5349 };

struct extdisco_service {
	int type;	/* index into extdisco_types */
	char *host;	/* name or address the client connects to */
	long long port; /* 0: the type's standard port */
	int transport;	/* index into extdisco_transports */
	char *secret;	/* coturn static-auth-secret; NULL: no credentials */
	char *name;	/* shown to users; optional */
};

struct extdisco_cfg {
	struct cfg_list services; /* struct extdisco_service */
	long long ttl;
};

extern const struct module mod_extdisco;

/* Only the host's own users learn the services (and get credentials):
 * a TURN relay is a cost the host pays for its users. */
static int
extdisco_local(const struct hook_ev *ev)
{
	return ev->from->node != NULL &&
	       strcmp(ev->from->domain, ev->host->name) == 0;
}

/* The coturn REST API credentials of user for a service, valid until
 * expiry. */
static void
extdisco_credentials(const char *secret, int64_t expiry, const char *user,
    char **username, char **password)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *u = xasprintf("%lld:%s", (long long)expiry, user);

	HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)u,
	    strlen(u), mac, &maclen);
	*password = xmalloc(4 * ((maclen + 2) / 3) + 1);
	b64_encode(mac, maclen, *password);
	*username = u;
}

static void
extdisco_add(struct xml_node *parent, const struct extdisco_service *s,
    const struct hook_ev *ev, int64_t ttl)
{
	struct xml_node *e = xml_node_child(parent, NULL, "service");
	char port[24], expires[32];
	char *user, *pass;
	int64_t expiry = now_unix() + ttl;

	snprintf(port, sizeof(port), "%lld",
	    s->port ? s->port : extdisco_ports[s->type]);
	xml_node_set_attr(e, "type", extdisco_types[s->type]);
	xml_node_set_attr(e, "host", s->host);
	xml_node_set_attr(e, "port", port);
	xml_node_set_attr(e, "transport", extdisco_transports[s->transport]);
	if (s->name != NULL)
		xml_node_set_attr(e, "name", s->name);
	if (s->secret == NULL)
		return;
	extdisco_credentials(s->secret, expiry, ev->from->bare, &user, &pass);
	time_xep82(expiry, expires, sizeof(expires));
	xml_node_set_attr(e, "restricted", "1");
	xml_node_set_attr(e, "expires", expires);
	xml_node_set_attr(e, "username", user);
	xml_node_set_attr(e, "password", pass);
	free(user);
	free(pass);
}

static const struct extdisco_service *
extdisco_at(const struct extdisco_cfg *c, size_t i)
{
	return (const struct extdisco_service *)c->services.items + i;
}

/* <services/>, all of them or those of one type */
static enum hook_ret
extdisco_services(struct hook_ev *ev)
{
	const struct extdisco_cfg *c = host_modcfg(ev->host, &mod_extdisco);
	const char *type = xml_node_attr(ev->payload, "type");
	struct xml_node *r, *q;
	size_t i;

	if (!extdisco_local(ev)) {
		stanza_reply_error(ev, "auth", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_EXTDISCO, "services");
	if (type != NULL)
		xml_node_set_attr(q, "type", type);
	for (i = 0; c != NULL && i < c->services.n; i++) {
		const struct extdisco_service *s = extdisco_at(c, i);

		if (type == NULL || strcmp(type, extdisco_types[s->type]) == 0)
			extdisco_add(q, s, ev, c->ttl);
	}
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* <credentials><service host type [port]/></credentials>: credentials
 * for a service the client knows of (say from DNS). */
static enum hook_ret
extdisco_creds(struct hook_ev *ev)
{
	const struct extdisco_cfg *c = host_modcfg(ev->host, &mod_extdisco);
	struct xml_node *want, *r = NULL, *q = NULL;
	const char *host, *type, *port;
	size_t i;

	if (!extdisco_local(ev)) {
		stanza_reply_error(ev, "auth", "not-authorized", NULL);
		return HOOK_HANDLED;
	}
	want = xml_node_find(ev->payload, NS_EXTDISCO, "service");
	host = want ? xml_node_attr(want, "host") : NULL;
	type = want ? xml_node_attr(want, "type") : NULL;
	port = want ? xml_node_attr(want, "port") : NULL;
	if (host == NULL || type == NULL) {
		stanza_reply_error(ev, "modify", "bad-request",
		    "a <service/> with host and type is required");
		return HOOK_HANDLED;
	}
	for (i = 0; c != NULL && i < c->services.n; i++) {
		const struct extdisco_service *s = extdisco_at(c, i);
		long long p = s->port ? s->port : extdisco_ports[s->type];
		char ps[24];

		snprintf(ps, sizeof(ps), "%lld", p);
		if (s->secret == NULL || strcmp(s->host, host) != 0 ||
		    strcmp(extdisco_types[s->type], type) != 0 ||
		    (port != NULL && strcmp(port, ps) != 0))
			continue;
		if (r == NULL) {
			r = stanza_reply(ev);
			q = xml_node_child(r, NS_EXTDISCO, "credentials");
		}
		extdisco_add(q, s, ev, c->ttl);
	}
	if (r == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found",
		    "no service with credentials at that host and type");
		return HOOK_HANDLED;
	}
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static const struct cfg_directive extdisco_service_dirs[] = {
	{ .name = "type",
	    .type = CFG_ENUM,
	    .offset = offsetof(struct extdisco_service, type),
	    .choices = extdisco_types,
	    .required = 1,
	    .doc = "stun, turn or turns (TURN over TLS)." },
	{ .name = "host",
	    .type = CFG_STRING,
	    .offset = offsetof(struct extdisco_service, host),
	    .required = 1,
	    .doc = "Host name or IP address clients connect to." },
	{ .name = "port",
	    .type = CFG_INT,
	    .offset = offsetof(struct extdisco_service, port),
	    .def = "0",
	    .min = 0,
	    .max = 65535,
	    .doc = "Port (0: 3478 for stun and turn, 5349 for turns)." },
	{ .name = "transport",
	    .type = CFG_ENUM,
	    .offset = offsetof(struct extdisco_service, transport),
	    .choices = extdisco_transports,
	    .def = "udp",
	    .doc = "udp or tcp." },
	{ .name = "secret",
	    .type = CFG_STRING,
	    .offset = offsetof(struct extdisco_service, secret),
	    .doc = "The TURN server's shared secret (coturn use-auth-secret "
		   "with static-auth-secret): users get credentials made with "
		   "it, and the service is marked restricted. Unset: no "
		   "credentials." },
	{ .name = "name",
	    .type = CFG_STRING,
	    .offset = offsetof(struct extdisco_service, name),
	    .doc = "A name for the service shown to users (optional)." },
	{ .name = NULL },
};

static const struct cfg_section extdisco_service_section = {
	.name = "extdisco.services",
	.dirs = extdisco_service_dirs,
	.size = sizeof(struct extdisco_service),
	.doc = "Each item is one STUN or TURN server.",
};

static const struct cfg_directive extdisco_dirs[] = {
	{ .name = "services",
	    .type = CFG_LIST,
	    .offset = offsetof(struct extdisco_cfg, services),
	    .sub = &extdisco_service_section,
	    .doc = "The STUN and TURN servers the host's users are told of." },
	{ .name = "ttl",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct extdisco_cfg, ttl),
	    .def = "1d",
	    .min = 60,
	    .max = 30LL * 86400,
	    .doc = "How long TURN credentials stay valid after they are "
		   "given out (the 'expires' attribute)." },
	{ .name = NULL },
};

static const struct cfg_section extdisco_section = {
	.name = "extdisco",
	.dirs = extdisco_dirs,
	.size = sizeof(struct extdisco_cfg),
	.doc = "Settings of the external service discovery module.",
};

static const struct hook_reg extdisco_hooks[] = {
	{ "iq-get/host/" NS_EXTDISCO ":services", extdisco_services, 0 },
	{ "iq-get/host/" NS_EXTDISCO ":credentials", extdisco_creds, 0 },
	HOOK_REG_END
};

const struct module mod_extdisco = {
	.name = "extdisco",
	.spec = "XEP-0215",
	.doc = "Tells users the STUN and TURN servers for audio and video "
	       "calls, with TURN credentials (coturn's shared secret).",
	.features = (const char *const[]){ NS_EXTDISCO, NULL },
	.hooks = extdisco_hooks,
	.config = &extdisco_section,
};

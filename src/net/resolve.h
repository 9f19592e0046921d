/* resolve.h: where does a domain's XMPP server listen? Asynchronous DNS
 * (libunbound on the loop, never blocking it) for outgoing
 * server-to-server connections: the configured routes first, then SRV
 * records for Direct TLS (_xmpps-server._tcp, XEP-0368) and STARTTLS
 * (_xmpp-server._tcp, RFC 6120 §3.2.1), then the domain's own A/AAAA
 * records on port 5269 (§3.2.2). Addresses come out in the order to try
 * them: by SRV priority and weight, IPv6 before IPv4 for each target
 * (the connector staggers its attempts, happy eyeballs). */
#ifndef TERN_RESOLVE_H
#define TERN_RESOLVE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct config;

struct resolve_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	int direct_tls; /* TLS from the first byte */
};

/* Called once per resolve_server, never from inside it. token is the
 * caller's (look the requester up again by it: it may be gone). n == 0:
 * nothing found, err says why. */
typedef void (*resolve_fn)(
    uint64_t token, const struct resolve_addr *v, size_t n, const char *err);

void resolve_server(const char *domain, resolve_fn fn, uint64_t token);
/* The configured route (s2s.routes) for domain, or NULL. */
const struct cfg_s2s_route *resolve_route(const char *domain);

/* An IP address (v4 or v6) and port into a; -1 if not an address. */
int resolve_parse_ip(const char *ip, unsigned port, struct resolve_addr *a);
/* "ip:port" or "[v6]:port"; -1 if malformed. */
int resolve_parse_hostport(const char *s, struct resolve_addr *a);

/* Apply s2s.dns_server and s2s.routes (at start and at each reload). */
int resolve_setup(const struct config *cfg, char *err, size_t errlen);
void resolve_shutdown(void);

#endif

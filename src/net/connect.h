/* connect.h: outgoing TCP connections over a list of addresses, happy
 * eyeballs style (RFC 8305): the next address is tried when the previous
 * fails or after a short delay, while the earlier attempts go on; the
 * first to connect wins and the others are dropped. */
#ifndef TERN_CONNECT_H
#define TERN_CONNECT_H

#include <stddef.h>
#include <stdint.h>

#include "net/resolve.h"

/* fd >= 0: connected (non-blocking; the callee owns it), a is the
 * address it reached. fd < 0: every address failed or timeout seconds
 * passed; err says why. Called once, never from inside connect_start;
 * look the requester up again by token. */
typedef void (*connect_fn)(
    uint64_t token, int fd, const struct resolve_addr *a, const char *err);

void connect_start(const struct resolve_addr *v, size_t n, double timeout,
    connect_fn fn, uint64_t token);

/* The same through a SOCKS5 proxy (RFC 1928, no authentication: Tor's):
 * the proxy connects to host:port itself (it resolves the name, so
 * .onion works and no DNS query leaves this server). a in fn is the
 * proxy's address. */
void connect_socks5(const struct resolve_addr *proxy, const char *host,
    unsigned port, double timeout, connect_fn fn, uint64_t token);

#endif

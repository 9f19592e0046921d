/* s2s.h: server-to-server streams (RFC 6120), the remote fallback of the
 * domain table. Outgoing streams are found by (local domain, remote
 * domain), set up on demand (DNS, connect, TLS, authentication by
 * certificate with SASL EXTERNAL or by dialback, XEP-0220) with the
 * stanzas waiting in a bounded queue; incoming streams accept stanzas
 * only from the domains they authenticated. */
#ifndef TERN_S2S_H
#define TERN_S2S_H

#include <stddef.h>

#include "core/config.h"

/* Trust store and resolver from cfg (start and reload); -1 with err. */
int s2s_setup(const struct config *cfg, char *err, size_t errlen);
/* Register (or, when federation is off, remove) the remote route. */
void s2s_setup_domains(const struct config *cfg);
void s2s_accept(int fd, const char *peer, const struct cfg_listener *l);
void s2s_close_all(const char *condition, const char *text);
void s2s_shutdown(void);
/* Streams open: incoming, outgoing (for status and tests). */
unsigned s2s_count_in(void);
unsigned s2s_count_out(void);
/* Stanzas waiting for outgoing streams that are being set up. */
size_t s2s_queued_stanzas(void);

#endif

/* c2s.h: client-to-server streams (RFC 6120): STARTTLS or Direct TLS,
 * SASL, resource binding, then stanzas to the router. */
#ifndef TERN_C2S_H
#define TERN_C2S_H

#include <stdint.h>

#include "core/config.h"

void c2s_accept(int fd, const char *peer, const struct cfg_listener *l);
/* Close every c2s stream with a stream error (shutdown). */
void c2s_close_all(const char *condition, const char *text);
unsigned c2s_count(void);
/* A client stream over another framing (WebSocket): tp carries it,
 * tp_data is the transport's; it calls stream_lost when the connection
 * ends. */
struct stream_transport;
struct stream *c2s_attach(const struct stream_transport *tp, void *tp_data,
    const char *peer, uint64_t connid);

#endif

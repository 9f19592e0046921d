/* websocket.h: XMPP over WebSocket (RFC 7395) at /xmpp-websocket on the
 * HTTP listeners, a framing of the stream base for client streams. */
#ifndef TERN_WEBSOCKET_H
#define TERN_WEBSOCKET_H

#include <stddef.h>

struct sbuf;

/* Route /xmpp-websocket (once, after http_init). */
void websocket_init(void);

/* A WebSocket with no socket and no stream, for the fuzz target only:
 * frames fed in are handled as from a client; what would be written to
 * the socket is appended to out, what would be fed to the stream parser
 * (the <open/> header translated, <close/> as the end tag) to in. */
struct ws;
struct ws *ws_test_new(size_t max_stanza, struct sbuf *out, struct sbuf *in);
void ws_test_feed(struct ws *w, const char *p, size_t n);
/* The outgoing path: one serialised element made standalone, framed. */
int ws_test_write(struct ws *w, const char *p, size_t n);
int ws_test_closed(const struct ws *w);
void ws_test_free(struct ws *w);

#endif

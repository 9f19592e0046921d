/* websocket.h: XMPP over WebSocket (RFC 7395) at /xmpp-websocket on the
 * HTTP listeners, a framing of the stream base for client streams. */
#ifndef TERN_WEBSOCKET_H
#define TERN_WEBSOCKET_H

/* Route /xmpp-websocket (once, after http_init). */
void websocket_init(void);

#endif

/* bosh.h: XMPP over BOSH (XEP-0124, XEP-0206) at /http-bind on the HTTP
 * listeners, a framing of the stream base for client streams. */
#ifndef TERN_BOSH_H
#define TERN_BOSH_H

/* Route /http-bind (once, after http_init). */
void bosh_init(void);
/* End every session (shutdown). */
void bosh_close_all(void);

#endif

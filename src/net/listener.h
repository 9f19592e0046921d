/* listener.h: listening sockets from the config; each accepted socket is
 * handed to the accept function registered for the listener's kind. */
#ifndef TERN_LISTENER_H
#define TERN_LISTENER_H

#include "core/config.h"

/* Called with a non-blocking accepted fd and its printable address. */
typedef void (*listener_accept_fn)(
    int fd, const char *peer, const struct cfg_listener *l);

void listener_set_handler(int kind, listener_accept_fn fn);
/* Open every listener of c; -1 (with err) if one cannot be opened. */
int listener_open_all(const struct config *c, char *err, size_t errlen);
/* Re-open listeners after a reload: keeps sockets whose address, port and
 * kind did not change, opens new ones, closes removed ones. */
int listener_reconcile(const struct config *c, char *err, size_t errlen);
void listener_close_all(void);

#endif

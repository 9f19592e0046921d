/* component.h: external components (XEP-0114, jabber:component:accept). */
#ifndef TERN_COMPONENT_H
#define TERN_COMPONENT_H

#include "core/config.h"

void component_accept(int fd, const char *peer, const struct cfg_listener *l);
/* Register the configured components as domains (start, reload). */
void component_setup_domains(const struct config *cfg);
void component_close_all(const char *condition, const char *text);
/* Is the component for domain connected? */
int component_connected(const char *domain);
/* Component connections open (authenticated or not). */
unsigned component_count(void);

#endif

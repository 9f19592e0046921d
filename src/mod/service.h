/* service.h: what the modules on service domains (echo, muc, upload,
 * proxy65) share: the service discovery answers of their domain. */
#ifndef TERN_MOD_SERVICE_H
#define TERN_MOD_SERVICE_H
#include "mod/mod.h"

/* The disco#info result of a service domain, with identity id, the
 * disco#info feature and features (NULL-terminated); *query is its
 * <query/> for the caller to add to before stanza_reply_send. NULL when
 * a node was asked for: item-not-found has been sent. */
struct xml_node *service_disco_info(struct hook_ev *ev,
    const struct disco_identity *id, const char *const *features,
    struct xml_node **query);
/* An empty disco#items result (a service domain has no items). */
enum hook_ret service_disco_items(struct hook_ev *ev);

#endif

/* pep.h: what other modules (avatar and bookmark conversion) may use of
 * the PEP service (XEP-0163) in src/mod/pep.c. */
#ifndef TERN_MOD_PEP_H
#define TERN_MOD_PEP_H

struct host;
struct xml_node;

/* Event "pep/published", fired after an item was stored and notified:
 * ev->host, ev->user (the owner's local part), ev->data points to this. */
struct pep_published {
	const char *node;
	const char *item_id;
	const struct xml_node *payload; /* the item's child element */
	int by_server; /* published through pep_publish() (a conversion) */
};

/* Event "pep/retracted" likewise, with payload NULL. */

/* Publish payload (copied) as item item_id (NULL: generated) on the
 * account's node, creating the node with access_model (NULL: the
 * default, "presence") when it does not exist; notifications go out as
 * for a client's publish. Returns 0, or -1 (logged) on failure.
 * "pep/published" fires with by_server = 1 (so a conversion module does
 * not convert its own output back). */
int pep_publish(struct host *h, const char *user, const char *node,
    const char *item_id, const struct xml_node *payload,
    const char *access_model);
/* A copy of the item's payload (caller frees with xml_node_free):
 * 0 found, 1 no such node or item, -1 error. item_id NULL: the latest. */
int pep_get_item(const char *host, const char *user, const char *node,
    const char *item_id, struct xml_node **payload);
/* Retract an item (notifying subscribers if the node asks for it). */
int pep_retract(
    struct host *h, const char *user, const char *node, const char *item_id);

#endif

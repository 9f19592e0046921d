/* roster.h: the roster module's API for the modules that depend on it
 * (presence, blocking, last activity): subscription state and items.
 * host is a virtual host's name, user a local part, contact a prepared
 * JID (normally bare). */
#ifndef TERN_MOD_ROSTER_H
#define TERN_MOD_ROSTER_H

#include <stddef.h>

enum roster_sub {
	ROSTER_SUB_NONE,
	ROSTER_SUB_TO,
	ROSTER_SUB_FROM,
	ROSTER_SUB_BOTH
};

/* The subscription user@host has with contact (bare JID); NONE when no
 * item. -1 on error. */
int roster_subscription(
    const char *host, const char *user, const char *contact_bare);
/* Does user@host have an item for contact_bare at all? 1/0 */
int roster_has_item(
    const char *host, const char *user, const char *contact_bare);

/* One item with the state RFC 6121 §3 needs besides what the roster
 * shows. An item that only holds a pending inbound request is hidden:
 * not in the roster until the user answers or adds the contact. */
struct roster_item {
	char *jid;
	char *name; /* NULL: none */
	char **groups;
	size_t ngroups;
	enum roster_sub sub;
	int ask;	/* the user sent subscribe, no answer yet */
	int approved;	/* the user pre-approved the contact's request */
	int pending_in; /* the contact asked; the user has not answered */
	int hidden;
	char *status; /* the pending request's <status/>, or NULL */
};

/* 0 found, 1 not found (it is then an empty hidden item for contact),
 * -1 error. Clean it up with roster_item_cleanup either way. */
int roster_item_get(const char *host, const char *user, const char *contact,
    struct roster_item *it);
void roster_item_cleanup(struct roster_item *it);
/* Store it, bump the roster version and push it to the user's
 * interested resources (no push while it is hidden). An item with no
 * state left at all is deleted. */
int roster_item_put(
    const char *host, const char *user, const struct roster_item *it);
/* Store it without a push or new version (state the roster does not
 * show: a pending inbound request). */
int roster_item_save(
    const char *host, const char *user, const struct roster_item *it);
/* Delete the item and push subscription='remove' if it was shown. */
int roster_item_delete(const char *host, const char *user, const char *contact);
/* 0 when one more item (shown or a pending request) fits under
 * max_items, -1 when full. */
int roster_room(const char *host, const char *user);
/* 0 when one more pending request from a stranger (a hidden item) fits
 * under max_pending, -1 when there are too many. */
int roster_pending_room(const char *host, const char *user);
/* Calls cb for each item (hidden ones too); cb returns 0 to go on. */
int roster_foreach(const char *host, const char *user,
    int (*cb)(void *ud, const struct roster_item *it), void *ud);

#endif

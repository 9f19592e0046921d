/* portable.h: an account's data taken out of and put into the server
 * whole (ternctl export and import, in the portable format of
 * XEP-0227). The core knows no module's data: each module writes and
 * reads its own part, on two events fired for one account (ev->host,
 * ev->user):
 *   user/export   ev->data: struct acct_export; append your elements
 *                 to x->user (the account's <user/>);
 *   user/import   ev->data: struct acct_import; find your elements
 *                 among imp->user's children, check them against your
 *                 limits, store them, and take them (acct_import_take);
 *                 on a problem call acct_import_fail and return
 *                 HOOK_HANDLED: the tool then drops every write made
 *                 for the account (all or nothing per account).
 * What nobody took is reported to the operator as not imported. */
#ifndef TERN_PORTABLE_H
#define TERN_PORTABLE_H

#include <stddef.h>

struct xml_node;

#define NS_PIE "urn:xmpp:pie:0"

struct acct_export {
	struct xml_node *user;
};

struct acct_import {
	struct xml_node *user;
	int merge; /* the account existed: add to what it holds (items
		    * with the same key are replaced) */
	int failed;
	const struct xml_node *err_at; /* the element at fault, or NULL */
	char err[512];
};

void acct_import_fail(struct acct_import *imp, const struct xml_node *at,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same for a storage write that returned rc (< 0): names the
 * account's quota when that is what refused it. */
void acct_import_store_fail(struct acct_import *imp, const struct xml_node *at,
    int rc, const char *what);
/* el (a child of imp->user) was imported. */
void acct_import_take(struct acct_import *imp, struct xml_node *el);

#endif

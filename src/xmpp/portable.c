/* portable.c: the helpers modules use on the user/import event (see
 * portable.h); the file format itself is ternctl's (tools/pie.c). */
#include "xmpp/portable.h"

#include <stdarg.h>
#include <stdio.h>

#include "store/store.h"
#include "xml/xml.h"

void
acct_import_fail(
    struct acct_import *imp, const struct xml_node *at, const char *fmt, ...)
{
	va_list ap;

	if (imp->failed)
		return; /* the first problem is the one to fix */
	imp->failed = 1;
	imp->err_at = at;
	va_start(ap, fmt);
	vsnprintf(imp->err, sizeof(imp->err), fmt, ap);
	va_end(ap);
}

void
acct_import_store_fail(struct acct_import *imp, const struct xml_node *at,
    int rc, const char *what)
{
	if (rc == STORE_QUOTA)
		acct_import_fail(imp, at,
		    "%s: the account's storage quota "
		    "(limits.account_storage) is full",
		    what);
	else
		acct_import_fail(imp, at, "%s: storage failure", what);
}

void
acct_import_take(struct acct_import *imp, struct xml_node *el)
{
	(void)imp;
	xml_node_unlink(el);
}

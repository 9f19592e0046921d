/* pie.h: `ternctl export` and `ternctl import` of accounts in the
 * portable import/export format (XEP-0227, urn:xmpp:pie:0): what
 * Prosody (mod_storage_xep0227, prosody-migrator) and ejabberd
 * (export_piefxis) write, XInclude'd multi-file layouts included. The
 * modules write and read each account's data (xmpp/portable.h); this
 * is the file around them. */
#ifndef TERN_TOOLS_PIE_H
#define TERN_TOOLS_PIE_H

#include <stddef.h>

struct config;

/* One line on stderr, "ternctl: " and the problem (ternctl.c). */
void ternctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* What ternctl tells a running ternd once an account was imported
 * (committed): it forgets what it held of it and, when the account
 * replaced another (existed: 1 with --force), ends its sessions. */
struct pie_ctl {
	void (*changed)(
	    const void *ud, const char *host, const char *user, int existed);
	const void *ud;
};

/* Export the accounts of host (NULL: every host), or the one account
 * user@host, to path (written whole, then renamed into place). Returns
 * the exit status (0 ok; problems are said on stderr). */
int pie_export(const struct config *cfg, const char *host, const char *user,
    const char *path);

enum pie_mode {
	PIE_NEW,   /* an existing account is an error */
	PIE_FORCE, /* an existing account is replaced */
	PIE_MERGE  /* an existing account gets the file's data added */
};

/* Import files (a file, or a directory: its *.xml files whose root is
 * <server-data/>, one level of subdirectories too). The whole input is
 * read and checked first (XML, hosts, names, credentials, accounts that
 * exist): any problem there and nothing is imported. Then each account
 * is imported whole or not at all. Returns the exit status. */
int pie_import(const struct config *cfg, char **files, size_t nfiles,
    enum pie_mode mode, const struct pie_ctl *ctl);

/* Does the file at path look like XML (its first non-blank byte is
 * '<')? 1 yes, 0 no, -1 cannot be read. */
int pie_is_xml(const char *path);

#endif

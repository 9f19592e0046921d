/* account.h: accounts in the keyval store "accounts" of their host.
 * The document holds, per SCRAM hash, the iteration count, salt, StoredKey
 * and ServerKey (base64), plus creation time; one line per field:
 *   created 1763892000
 *   SHA-1 4096 <salt b64> <storedkey b64> <serverkey b64>
 *   SHA-256 4096 <salt b64> <storedkey b64> <serverkey b64>
 * The last-login time lives in keyval store "lastlogin". A disabled
 * account has a document in keyval store "disabled" ("since <unix>\n"):
 * it keeps all its data but cannot log in. */
#ifndef TERN_ACCOUNT_H
#define TERN_ACCOUNT_H

#include <stdint.h>

#include "xmpp/scram.h"

/* 0 exists, 1 not found, -1 error */
int account_exists(const char *host, const char *user);
/* Create (fails with 1 if it exists) or set the password of an account.
 * user must be nodeprep'd. SASLprep is applied to the password. */
int account_create(const char *host, const char *user, const char *password);
int account_set_password(const char *host, const char *user,
    const char *password); /* 1 when no such account */
struct jid;

/* Parse s into *j as an account's JID (user@domain, and no resource
 * unless full_ok): NULL, or why not (then *j needs no cleanup). */
const char *account_jid_parse(const char *s, int full_ok, struct jid *j);
/* NULL when password can be an account's, else why not (empty, or
 * refused by SASLprep, RFC 4013), for the one who typed it. */
const char *account_password_problem(const char *password);
/* NULL when pw is strong enough for user's new password (at least
 * min_length characters, two kinds of character under 12, not the
 * username, no control characters), else why not, for the user to
 * read (a static buffer). */
const char *account_password_weak(
    long long min_length, const char *user, const char *pw);
/* Load keys for hash h: 0 ok, 1 no such account, -1 error. */
int account_get_keys(const char *host, const char *user, enum scram_hash h,
    struct scram_keys *out);
/* Check a plaintext password (SASL PLAIN) in constant time against the
 * stored keys: 0 match, 1 mismatch or no such account, -1 error. */
int account_check_password(
    const char *host, const char *user, const char *password);
/* Remove the account document and every row of that user in the store
 * (store_user_delete). Modules' user/deleted hooks are fired by ternd. */
int account_delete(const char *host, const char *user);
int account_list(
    const char *host, int (*cb)(void *ud, const char *user), void *ud);
/* Disabled accounts (XEP-0133 disable-user): 1 disabled, 0 not (or no
 * such account), -1 error. account_set_disabled: 0 ok, 1 no such
 * account, 2 (enabling) deleted in its grace period, -1 error; enabling
 * an enabled account is no error. */
int account_is_disabled(const char *host, const char *user);
int account_set_disabled(const char *host, const char *user, int disabled);
/* Calls cb for each disabled account of host. */
int account_list_disabled(
    const char *host, int (*cb)(void *ud, const char *user), void *ud);
int account_set_last_login(const char *host, const char *user, int64_t t);
int account_get_last_login(const char *host, const char *user, int64_t *t);
/* The account's creation time (0 when unknown): 0 ok, 1 no such account,
 * -1 error. */
int account_get_created(const char *host, const char *user, int64_t *t);

/* Bulk creation (ternctl import) in two steps, so the costly derivation
 * can run on many threads with no store access: account_make_keys
 * SASLpreps the password and derives the keys of every hash with fresh
 * salts and iter iterations (thread-safe; -1 when SASLprep rejects the
 * password); account_create_keys stores them (0, 1 if it exists, -1). */
int account_make_keys(
    const char *password, unsigned iter, struct scram_keys keys[SCRAM_NHASH]);
int account_create_keys(const char *host, const char *user,
    const struct scram_keys keys[SCRAM_NHASH]);

/* Export and import (ternctl, XEP-0227): the keys of each hash the
 * account has (have[h]) and its creation time; 0, 1 no such account,
 * -1. account_import writes (or replaces) the document with the hashes
 * have[] names; created 0: now. */
int account_export(const char *host, const char *user,
    struct scram_keys keys[SCRAM_NHASH], int have[SCRAM_NHASH],
    int64_t *created);
int account_import(const char *host, const char *user, int64_t created,
    const struct scram_keys keys[SCRAM_NHASH], const int have[SCRAM_NHASH]);

/* Deletion with a grace period (accounts.deletion_grace): a deleted
 * account is disabled and has a document in keyval store "deleting"
 * ("since T", "purge T", "was_disabled 0|1") until the expiry pass
 * purges it or account_restore takes it back (re-enabled unless it was
 * disabled before). mark: 0, 1 no such account (a second mark keeps the
 * first dates); get: 0 in grace (*purge_at, may be NULL), 1 not, -1;
 * restore: 0, 1 not in grace, -1. */
int account_mark_deleted(const char *host, const char *user, int64_t purge_at);
int account_get_deleting(const char *host, const char *user, int64_t *purge_at);
int account_restore(const char *host, const char *user);
int account_list_deleting(
    const char *host, int (*cb)(void *ud, const char *user), void *ud);

/* Inactivity: when the account was last used (its last login, else its
 * creation; 0 unknown, -1 error), and when its owner was warned of its
 * deletion (keyval "inactive_warned"; t 0 clears; get: 0, 1 never, -1). */
int64_t account_last_use(const char *host, const char *user);
int account_set_warned(const char *host, const char *user, int64_t t);
int account_get_warned(const char *host, const char *user, int64_t *t);

#endif

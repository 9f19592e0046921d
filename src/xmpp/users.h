/* users.h: the life of an account as modules see it. */
#ifndef TERN_USERS_H
#define TERN_USERS_H

struct host;

/* Delete an account and everything of it: its sessions end (stream error
 * not-authorized), modules' user/deleted hooks run while the data is still
 * there (so they can clean up what other accounts hold, like roster
 * entries), then every stored row of the account goes. 0 ok, 1 no such
 * account, -1 error. */
int users_delete(struct host *h, const char *user);
/* A deletion asked for (in-band, admin command, ternctl, inactivity):
 * with grace > 0 seconds the account is only disabled and marked for
 * purging then (account_mark_deleted; its sessions end), else
 * users_delete at once. Same returns. */
int users_delete_request(struct host *h, const char *user, long long grace);
/* Disable (XEP-0133 §4.3: its sessions end, its logins are refused
 * with account-disabled, its data stays) or re-enable an account. 0 ok,
 * 1 no such account, -1 error. */
int users_set_disabled(struct host *h, const char *user, int disabled);
/* Run the user/created hooks (welcome message...). */
void users_created(struct host *h, const char *user);

#endif

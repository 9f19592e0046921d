/* housekeeping.h: what happens to accounts with time (accounts:
 * section): deleted accounts purged when their grace period ends,
 * inactive ones warned and then deleted. The expiry pass (retention.c)
 * calls it for every account it walks. */
#ifndef TERN_HOUSEKEEPING_H
#define TERN_HOUSEKEEPING_H

struct host;

/* Act on user of h as the accounts: section says; 1 when the account
 * is gone (purged), 0 when it stays, -1 on a storage failure. */
int housekeeping_account(struct host *h, const char *user);

#endif

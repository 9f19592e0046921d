/* invite.h: invitations (XEP-0401 easy onboarding, XEP-0379 pre-approved
 * subscription, XEP-0445 pre-authenticated registration) kept in map
 * store "invites" of their host (user ""), keyed by token; one line:
 *   <kind> <inviter|-> <created> <expires> <uses left> <group|->
 * kind is "account" (the holder may register) or "contact" (the holder,
 * already a user anywhere, becomes the inviter's contact; it may also
 * register here). Shared by ternd and ternctl. */
#ifndef TERN_INVITE_H
#define TERN_INVITE_H

#include <stddef.h>
#include <stdint.h>

#include "jid/jid.h"

#define INVITE_STORE "invites"
#define INVITE_TOKEN_LEN 24
/* Invites one host keeps at most (expired ones are swept first). */
#define INVITE_MAX 1000
#define INVITE_GROUP_MAX 64

enum invite_kind { INVITE_ACCOUNT, INVITE_CONTACT };

struct invite {
	char token[INVITE_TOKEN_LEN + 1];
	enum invite_kind kind;
	char inviter[JID_PART_MAX + 1]; /* local part; "" for none */
	int64_t created;
	int64_t expires;
	long uses;			  /* registrations it still allows */
	char group[INVITE_GROUP_MAX + 1]; /* "" for none */
};

/* Store inv under a new random token (filled in): 0, 1 when the host
 * holds INVITE_MAX live invites, -1 error. */
int invite_create(const char *host, struct invite *inv);
/* 0 found and usable (not expired, uses left), 1 unknown, expired or
 * used up, -1 error. */
int invite_get(const char *host, const char *token, struct invite *inv);
/* Count one use: the invite is deleted with its last. 0 or -1. */
int invite_use(const char *host, const struct invite *inv);
/* 0 deleted, 1 no such invite, -1 error. */
int invite_revoke(const char *host, const char *token);
/* Every live invite of host (expired ones are deleted): 0 or -1. */
int invite_list(
    const char *host, int (*cb)(void *ud, const struct invite *inv), void *ud);
const char *invite_kind_name(enum invite_kind k);
/* The XEP-0401 URI of inv: xmpp:HOST?register;preauth=TOKEN for an
 * account invitation, xmpp:INVITER@HOST?roster;preauth=TOKEN;ibr=y for
 * a contact invitation. */
void invite_uri(
    const char *host, const struct invite *inv, char *out, size_t len);

#endif

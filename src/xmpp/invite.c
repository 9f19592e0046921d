/* invite.c: the invites store (see invite.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "xmpp/invite.h"

const char *
invite_kind_name(enum invite_kind k)
{
	return k == INVITE_CONTACT ? "contact" : "account";
}

void
invite_uri(const char *host, const struct invite *inv, char *out, size_t len)
{
	if (inv->kind == INVITE_CONTACT)
		snprintf(out, len, "xmpp:%s@%s?roster;preauth=%s;ibr=y",
		    inv->inviter, host, inv->token);
	else
		snprintf(
		    out, len, "xmpp:%s?register;preauth=%s", host, inv->token);
}

static int
parse(const char *token, const char *val, size_t len, struct invite *inv)
{
	char kind[16], inviter[JID_PART_MAX + 2], group[INVITE_GROUP_MAX + 2];
	char line[512];
	long long created, expires;
	long uses;

	if (len >= sizeof(line) || strlen(token) > INVITE_TOKEN_LEN)
		return -1;
	memcpy(line, val, len);
	line[len] = '\0';
	if (sscanf(line, "%15s %1024s %lld %lld %ld %65[^\n]", kind, inviter,
		&created, &expires, &uses, group) != 6 ||
	    strlen(inviter) > JID_PART_MAX || strlen(group) > INVITE_GROUP_MAX)
		return -1;
	memset(inv, 0, sizeof(*inv));
	snprintf(inv->token, sizeof(inv->token), "%s", token);
	inv->kind =
	    strcmp(kind, "contact") == 0 ? INVITE_CONTACT : INVITE_ACCOUNT;
	/* lengths checked above */
	if (strcmp(inviter, "-") != 0)
		memcpy(inv->inviter, inviter, strlen(inviter) + 1);
	if (strcmp(group, "-") != 0)
		memcpy(inv->group, group, strlen(group) + 1);
	inv->created = created;
	inv->expires = expires;
	inv->uses = uses;
	return 0;
}

static int
save(const char *host, const struct invite *inv)
{
	char line[512];
	int n;

	n = snprintf(line, sizeof(line), "%s %s %lld %lld %ld %s",
	    invite_kind_name(inv->kind), inv->inviter[0] ? inv->inviter : "-",
	    (long long)inv->created, (long long)inv->expires, inv->uses,
	    inv->group[0] ? inv->group : "-");
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return store_map_set(
	    host, "", INVITE_STORE, inv->token, line, (size_t)n);
}

static int
live(const struct invite *inv)
{
	return inv->uses > 0 &&
	       (inv->expires == 0 || inv->expires > now_unix());
}

struct sweep {
	char (*dead)[INVITE_TOKEN_LEN + 1];
	size_t ndead, cap;
	int (*cb)(void *ud, const struct invite *inv);
	void *ud;
	long live;
	int failed;
};

static int
sweep_one(void *ud, const char *key, const char *val, size_t len)
{
	struct sweep *s = ud;
	struct invite inv;

	if (parse(key, val, len, &inv) != 0 || !live(&inv)) {
		if (s->ndead < s->cap && strlen(key) <= INVITE_TOKEN_LEN)
			snprintf(s->dead[s->ndead++], INVITE_TOKEN_LEN + 1,
			    "%s", key);
		return 0;
	}
	s->live++;
	if (s->cb && s->cb(s->ud, &inv) != 0)
		s->failed = 1;
	return 0;
}

/* Walk host's invites, deleting the dead ones; cb for the live. */
static int
sweep(const char *host, struct sweep *s)
{
	size_t i;
	int rc;

	s->cap = 256;
	s->dead = xmalloc(s->cap * sizeof(*s->dead));
	rc = store_map_list(host, "", INVITE_STORE, sweep_one, s);
	for (i = 0; rc == 0 && i < s->ndead; i++)
		if (store_map_del(host, "", INVITE_STORE, s->dead[i]) < 0)
			rc = -1;
	free(s->dead);
	return rc < 0 || s->failed ? -1 : 0;
}

int
invite_create(const char *host, struct invite *inv)
{
	static const char alpha[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnop"
				    "qrstuvwxyz23456789";
	unsigned char rnd[INVITE_TOKEN_LEN];
	struct sweep s = { 0 };
	size_t i;

	if (sweep(host, &s) != 0)
		return -1;
	if (s.live >= INVITE_MAX)
		return 1;
	rand_bytes(rnd, sizeof(rnd));
	/* 57 symbols, 24 of them: about 140 bits */
	for (i = 0; i < INVITE_TOKEN_LEN; i++)
		inv->token[i] = alpha[rnd[i] % (sizeof(alpha) - 1)];
	inv->token[INVITE_TOKEN_LEN] = '\0';
	if (inv->created == 0)
		inv->created = now_unix();
	return save(host, inv) == 0 ? 0 : -1;
}

int
invite_get(const char *host, const char *token, struct invite *inv)
{
	char *val = NULL;
	size_t len = 0, i;
	int rc;

	if (strlen(token) != INVITE_TOKEN_LEN)
		return 1;
	for (i = 0; token[i]; i++)
		if (!((token[i] >= 'a' && token[i] <= 'z') ||
			(token[i] >= 'A' && token[i] <= 'Z') ||
			(token[i] >= '0' && token[i] <= '9')))
			return 1;
	rc = store_map_get(host, "", INVITE_STORE, token, &val, &len);
	if (rc != 0)
		return rc < 0 ? -1 : 1;
	rc = parse(token, val, len, inv) == 0 && live(inv) ? 0 : 1;
	free(val);
	return rc;
}

int
invite_use(const char *host, const struct invite *inv)
{
	struct invite left = *inv;

	if (--left.uses <= 0)
		return store_map_del(host, "", INVITE_STORE, inv->token) < 0
			   ? -1
			   : 0;
	return save(host, &left);
}

int
invite_revoke(const char *host, const char *token)
{
	char *val = NULL;
	size_t len;
	int rc;

	rc = store_map_get(host, "", INVITE_STORE, token, &val, &len);
	if (rc != 0)
		return rc < 0 ? -1 : 1;
	free(val);
	return store_map_del(host, "", INVITE_STORE, token) < 0 ? -1 : 0;
}

int
invite_list(
    const char *host, int (*cb)(void *ud, const struct invite *inv), void *ud)
{
	struct sweep s = { .cb = cb, .ud = ud };

	return sweep(host, &s);
}

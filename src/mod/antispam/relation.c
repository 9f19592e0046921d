/* src/mod/antispam/relation.c: who started talking to whom. A local
 * account that wrote to a JID, or sent it directed presence (joined a
 * room), expects its answers; one that was written to may answer. The
 * roster cannot say so (anyone can write to anyone), so the last
 * RELATION_TTL of it is kept here, in memory only: after a restart a
 * stranger's answer counts as a stranger's message again until the
 * account writes first again (clients rejoin their rooms at once).
 *
 * Bounded: at most ACCOUNTS_MAX accounts (all hosts together; the least
 * recently active is forgotten) and PEERS_MAX peers each (the oldest is
 * forgotten). A peer is kept as a 64-bit keyed hash of its bare JID, so
 * a long JID costs no more than a short one; the key is random per
 * process, so nobody can make up a JID that passes for another. */
#include "mod/antispam/antispam.h"

#define ACCOUNTS_MAX 16384
#define PEERS_MAX 32
#define BUCKETS 1024
#define RELATION_TTL (7 * 86400)

struct peer {
	uint64_t id;
	int64_t when;
	int flags;
};

struct acct {
	char *host, *user;
	uint32_t hash;
	int64_t touched;
	size_t npeers;
	struct peer peers[PEERS_MAX];
	struct acct *next;
};

static struct acct *buckets[BUCKETS];
static size_t naccts;
static uint32_t seed[3];

static void
seed_once(void)
{
	while (seed[0] == 0)
		rand_bytes(seed, sizeof(seed));
}

static uint32_t
acct_hash(const char *host, const char *user)
{
	uint32_t x = hash_bytes(seed[0], host, strlen(host) + 1);

	return hash_bytes(x, user, strlen(user));
}

static uint64_t
peer_id(const char *bare)
{
	size_t n = strlen(bare);

	return (uint64_t)hash_bytes(seed[1], bare, n) << 32 |
	       hash_bytes(seed[2], bare, n);
}

static void
acct_free(struct acct *a)
{
	free(a->host);
	free(a->user);
	free(a);
}

/* Forget the account touched least recently (full table). */
static void
evict_one(void)
{
	struct acct **oldest = NULL, **pp, *a;
	size_t b;

	for (b = 0; b < BUCKETS; b++)
		for (pp = &buckets[b]; *pp; pp = &(*pp)->next)
			if (oldest == NULL ||
			    (*pp)->touched < (*oldest)->touched)
				oldest = pp;
	if (oldest == NULL)
		return;
	a = *oldest;
	*oldest = a->next;
	acct_free(a);
	naccts--;
}

static struct acct *
acct_find(const struct host *h, const char *user, int create)
{
	uint32_t hash;
	struct acct *a;

	seed_once();
	hash = acct_hash(h->name, user);
	for (a = buckets[hash % BUCKETS]; a; a = a->next)
		if (a->hash == hash && strcmp(a->user, user) == 0 &&
		    strcmp(a->host, h->name) == 0)
			return a;
	if (!create)
		return NULL;
	if (naccts >= ACCOUNTS_MAX)
		evict_one();
	a = xcalloc(1, sizeof(*a));
	a->host = xstrdup(h->name);
	a->user = xstrdup(user);
	a->hash = hash;
	a->next = buckets[hash % BUCKETS];
	buckets[hash % BUCKETS] = a;
	naccts++;
	return a;
}

void
relation_note(const struct host *h, const char *user, const char *peer_bare,
    enum relation r)
{
	struct acct *a = acct_find(h, user, 1);
	int64_t now = now_unix();
	uint64_t id = peer_id(peer_bare);
	struct peer *p = NULL;
	size_t i;

	a->touched = now;
	for (i = 0; i < a->npeers; i++) {
		if (a->peers[i].id == id) {
			p = &a->peers[i];
			if (now - p->when > RELATION_TTL)
				p->flags = 0;
			goto found;
		}
		if (p == NULL || a->peers[i].when < p->when)
			p = &a->peers[i];
	}
	if (a->npeers < PEERS_MAX)
		p = &a->peers[a->npeers++];
	p->id = id;
	p->flags = 0;
found:
	p->when = now;
	p->flags |= (int)r;
}

int
relation_has(
    const struct host *h, const char *user, const char *peer_bare, int mask)
{
	struct acct *a = acct_find(h, user, 0);
	uint64_t id;
	size_t i;

	if (a == NULL)
		return 0;
	id = peer_id(peer_bare);
	for (i = 0; i < a->npeers; i++)
		if (a->peers[i].id == id)
			return (a->peers[i].flags & mask) &&
			       now_unix() - a->peers[i].when <= RELATION_TTL;
	return 0;
}

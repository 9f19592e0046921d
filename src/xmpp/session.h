/* session.h: bound client sessions, found by full JID or by bare JID.
 * A session is the routing identity of a c2s stream once a resource is
 * bound; the stream (transport) writes for it. */
#ifndef TERN_SESSION_H
#define TERN_SESSION_H

#include <stdint.h>

#include "core/buf.h"
#include "jid/jid.h"

struct host;
struct xml_node;
struct session;

/* How bytes reach the client: the stream that owns the session. */
struct session_transport {
	/* Queue r; -1 when the stream is gone or over its queue limit. */
	int (*send)(struct session *s, struct rbuf *r);
	/* End the stream with a stream error (condition, optional text). */
	void (*close)(
	    struct session *s, const char *condition, const char *text);
	/* Let go of the session without ending it (it moves to another
	 * stream): close the stream, leave the session alone. Optional. */
	void (*detach)(struct session *s);
	/* The client's IP address, or NULL (no live connection).
	 * Optional. */
	const char *(*peer)(struct session *s);
};

struct session {
	uint64_t id;
	struct host *host;
	struct jid jid; /* full JID */
	int priority;
	unsigned available : 1;	 /* sent initial presence, not unavailable */
	unsigned interested : 1; /* requested the roster (RFC 6121 §1.4) */
	unsigned closing : 1;
	unsigned detached : 1; /* no live connection (stream management
				* keeps it for resumption) */
	/* gets a copy of the chat messages its account's other resources
	 * receive (set by the module that sends those copies: carbons) */
	unsigned copies : 1;
	/* Receipts from a transport that has them (XEP-0198): while
	 * confirms is set it counts in out_sent the stanzas it queued for
	 * the client and in out_confirmed those the client confirmed, and
	 * fires session/confirmed when out_confirmed grows. */
	unsigned confirms : 1;
	uint64_t out_sent, out_confirmed;
	int64_t started; /* unix seconds */
	const struct session_transport *tp;
	void *tp_data;
	struct session *next_res; /* other resources of the same account */
	struct session *hnext;	  /* hash chain by full JID */
	void **mod_data;	 /* per-module data by registry index, lazily */
	struct session_iqs *iqs; /* requests awaiting answers, lazily */
};

/* Create and index a session for jid (takes a copy). The caller handles
 * any conflict first (session_find_full). */
struct session *session_new(struct host *h, const struct jid *jid,
    const struct session_transport *tp, void *tp_data);
/* Unindex and free; fires session/closed before. */
void session_end(struct session *s);
struct session *session_find_full(const char *full);
/* The session with this full JID and this id, closing or not, or NULL
 * when it has ended (a new session may have the same full JID). */
struct session *session_find_id(const char *full, uint64_t id);
/* Run fn(s) when the loop is next idle, if s still exists then: it is
 * found again by full JID and id, never kept as a pointer (DESIGN:
 * async work holds ids). */
void session_defer(struct session *s, void (*fn)(struct session *s));
/* First resource of an account (walk next_res), or NULL. */
struct session *session_find_bare(const char *bare);
unsigned session_count_bare(const char *bare);
unsigned session_count(void);
/* Call fn for every session (closing ones too); fn must not end
 * sessions (session_close defers that, so it may). */
void session_foreach(void (*fn)(struct session *s, void *ud), void *ud);
/* The client's IP address of s, or NULL when it has no connection. */
const char *session_peer(struct session *s);
/* Serialise st once into *cache (if NULL) and queue it to s, via the
 * session/out hook (modules may hold or queue it). */
void session_send(struct session *s, struct xml_node *st, struct rbuf **cache);
/* Queue already serialised bytes (no hooks). */
int session_send_raw(struct session *s, struct rbuf *r);
void session_close(struct session *s, const char *condition, const char *text);
/* Close every session of user@host (account deleted). */
void session_close_user(const char *host, const char *user,
    const char *condition, const char *text);
void session_close_all(const char *condition, const char *text);

/* Move s to another transport (stream resumption, hibernation). */
void session_set_transport(
    struct session *s, const struct session_transport *tp, void *tp_data);

/* The client sends an iq request with this id: -1 when it already has
 * limit requests unanswered (answers are noticed by session_send). */
int session_iq_sent(struct session *s, const char *id, long long limit);

void *session_mod_get(struct session *s, int modidx);
void session_mod_set(struct session *s, int modidx, void *data);

#endif

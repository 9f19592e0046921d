/* hook.h: named events with prioritised handlers, per virtual host.
 *
 * Names are interned once, at registration, into small integer ids. The
 * router looks a stanza's event up from its parts (kind, target, payload
 * namespace and name) by hashing the parts in place: no string is built per
 * stanza. Handlers run from the highest priority down until one returns
 * HOOK_HANDLED. */
#ifndef TERN_HOOK_H
#define TERN_HOOK_H

#include <stdint.h>
#include <stddef.h>

struct host;
struct session;
struct xml_node;
struct jid;

enum hook_ret { HOOK_CONTINUE = 0, HOOK_HANDLED = 1 };

struct hook_ev;
struct session;

/* A stream not yet bound to a session: where the client stands and how
 * to answer it (it has no JID to route to). */
struct hook_stream {
	const char *peer; /* the client's IP address */
	uint64_t connid;  /* the connection's id (unique while ternd runs) */
	void (*reply)(struct hook_ev *ev, struct xml_node *n); /* frees n */
	void *ctx; /* reply's and adopt's */
	/* stream resumption: take over an existing session; 0 on success,
	 * the stream is then bound to it */
	int (*adopt)(struct hook_ev *ev, struct session *s);
	/* an element inline in a login (XEP-0388): answers go into this
	 * element, and commit sends it (before anything the session
	 * sends); NULL otherwise */
	struct xml_node *answer;
	void (*commit)(struct hook_ev *ev);
};

/* What a stanza is (RFC 6120 §8), and its type attribute as one enum for
 * all kinds (RFC 6120 §8.2.3 iq, RFC 6121 §5.2.2 message, §4.7.1 and
 * §3 presence). STANZA_TYPE_NONE: no type attribute (a normal message,
 * an available presence). */
enum stanza_kind {
	STANZA_OTHER,
	STANZA_MESSAGE,
	STANZA_PRESENCE,
	STANZA_IQ,
};

enum stanza_type {
	STANZA_TYPE_NONE,
	STANZA_TYPE_UNKNOWN, /* a value no RFC defines for the kind */
	STANZA_TYPE_ERROR,
	STANZA_TYPE_NORMAL,
	STANZA_TYPE_CHAT,
	STANZA_TYPE_GROUPCHAT,
	STANZA_TYPE_HEADLINE,
	STANZA_TYPE_GET,
	STANZA_TYPE_SET,
	STANZA_TYPE_RESULT,
	STANZA_TYPE_UNAVAILABLE,
	STANZA_TYPE_PROBE,
	STANZA_TYPE_SUBSCRIBE,
	STANZA_TYPE_SUBSCRIBED,
	STANZA_TYPE_UNSUBSCRIBE,
	STANZA_TYPE_UNSUBSCRIBED,
};

/* Classify a stanza by its element name and type attribute. */
void stanza_classify(
    const struct xml_node *st, enum stanza_kind *kind, enum stanza_type *type);

struct hook_ev {
	struct host *host;	 /* the virtual host the event belongs to */
	struct session *session; /* sending local session, or NULL */
	struct xml_node *stanza; /* the stanza (NULL for non-stanza events) */
	const struct jid *from;	 /* always set for stanzas */
	const struct jid *to;  /* resolved target (bare JID when 'to' absent) */
	const char *type;      /* the stanza's type attribute, or "" */
	enum stanza_kind kind; /* for stanza events */
	enum stanza_type stype;	  /* the type attribute, parsed once */
	struct xml_node *payload; /* iq: the child element; else NULL */
	int to_self; /* the stanza had no 'to' (addressed to the account) */
	void *data;  /* event-specific (documented at the event) */
	const char *user; /* user/created, user/deleted: the local part */
	/* events from a stream with no session yet (c2s/unauthed/...,
	 * c2s/element/... before bind); NULL for routed stanzas */
	const struct hook_stream *stream;
};

/* The events the core fires (modules may fire their own too):
 *   iq-get|iq-set|iq-result|iq-error / host|bare|full / ns:name
 *   iq-get|iq-set|iq-result|iq-error / host|bare|full / "*"   on a
 *       service domain, an iq with a payload no handler took (the
 *       router's catch-all, e.g. a room relaying iqs to occupants)
 *   message|presence / host|bare|full   stanzas to a local address; "bare"
 *       also for a full JID whose resource is not connected
 *   message/offline       a message no resource could take (ev->to)
 *   message|presence|iq/outgoing   every stanza from a local session,
 *       before it is routed (HOOK_HANDLED stops it)
 *   route/filter          every stanza about to be routed, fired on the
 *       sender's host and on the recipient's (when local: an account,
 *       or a service, then on its parent host with ev->to on the
 *       service's domain); HOOK_HANDLED drops it (the handler answers
 *       the sender if it should)
 *   presence/self         presence without 'to' from a session (after
 *       the core noted availability and priority)
 *   session/bound, session/closed, session/out (ev->data: struct rbuf *
 *       about to be queued to ev->session; HOOK_HANDLED: it was kept)
 *   c2s/features/preauth|postauth   ev->data: the <stream:features> node
 *   c2s/features/sasl2    ev->data: the <inline/> of XEP-0388's
 *       <authentication/> to add features to
 *   c2s/sasl2/ns          an element of that namespace inline in a SASL2
 *       <authenticate/>, after success, before bind (ev->user,
 *       ev->stream with answer and commit set)
 *   c2s/bind2/ns          an element inside a Bind 2 <bind/>, once
 *       ev->session exists; ev->data: the <bound/> for the answers (a
 *       module registering it is advertised as a Bind 2 feature)
 *   c2s/element/ns        a top-level non-stanza element after
 *       authentication (ev->session NULL before bind: then ev->user
 *       and ev->stream are set)
 *   c2s/stanza-in         a stanza arrived from ev->session (counted
 *       before it is processed)
 *   session/lost          the connection of ev->session died without a
 *       clean close; HOOK_HANDLED: a module keeps the session alive (it
 *       has set another transport with session_set_transport)
 *   c2s/unauthed/ns:name  an iq before authentication (ev->stream answers)
 *   user/created, user/deleted      ev->user on ev->host
 *   user/export, user/import        ev->user on ev->host; ev->data: a
 *       struct acct_export or acct_import (xmpp/portable.h): each
 *       module writes or reads its part of the account (ternctl)
 *   server/shutdown       ternd is stopping, before any stream closes:
 *       fired on every host's table (ev->to its domain) and every
 *       service's (ev->to the service's domain)
 *   disco/info/host, disco/info/account   ev->data: the <query/> being
 *       answered (add forms, XEP-0128), ev->to the entity asked
 * Fired by modules:
 *   vcard/updated         after ev->user set a vCard (mod/vcard.c);
 *       ev->data: the new <vCard/> (no children: cleared)
 *   private/updated       after ev->user stored private XML of one
 *       namespace (mod/private.c); ev->data: the stored
 *       <query xmlns='jabber:iq:private'/> with that namespace's elements
 *   pep/published, pep/retracted    see mod/pep.h
 *   adhoc/commands        the ad-hoc commands asked for (mod/adhoc.h);
 *       ev->data: the struct adhoc_list handlers add theirs to
 *   account/probation     is account ev->user of ev->host new enough to
 *       be on probation (mod/antispam/)? HOOK_HANDLED: yes; ev->data
 *       (long long *, may be NULL) then receives its upload quota in
 *       bytes (0: unchanged). Asked by muc (no room creation) and upload
 *   session/confirmed     ev->session's out_confirmed grew (a transport
 *       with receipts, mod/smacks.c; see session.h) */
typedef enum hook_ret (*hook_fn)(struct hook_ev *ev);

struct hook_reg {
	/* "iq-get/host/urn:xmpp:ping:ping" (kind/target/payload-ns:name),
	 * "message/bare", "session/bound" */
	const char *name;
	hook_fn fn;
	int prio; /* higher runs first; 0 is the usual */
};
#define HOOK_REG_END                                                           \
	{                                                                      \
		NULL, NULL, 0                                                  \
	}

struct hook_table; /* one per host */

/* Intern a name; returns its id (>= 0). */
int hook_intern(const char *name);
/* The id of the name made of parts joined by '/', without building it;
 * -1 when no handler was ever registered under that name. */
int hook_lookup3(const char *a, const char *b, const char *c);
/* a/b/c:d, e.g. "iq-get" "host" "urn:xmpp:ping" "ping" for the event
 * "iq-get/host/urn:xmpp:ping:ping" (payload namespace and name). */
int hook_lookup4(const char *a, const char *b, const char *c, const char *d);
int hook_lookup(const char *name);

struct hook_table *hook_table_new(void);
void hook_table_free(struct hook_table *t);
void hook_add(struct hook_table *t, const char *name, hook_fn fn, int prio);
/* Run the handlers of id; HOOK_CONTINUE when none handled it (or id < 0). */
enum hook_ret hook_fire_id(struct hook_table *t, int id, struct hook_ev *ev);
enum hook_ret hook_fire(
    struct hook_table *t, const char *name, struct hook_ev *ev);
/* Does any handler exist for id in t? */
int hook_has(const struct hook_table *t, int id);

#endif

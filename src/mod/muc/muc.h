/* src/mod/muc/muc.h: the group chat service's internal interface
 * (XEP-0045), shared by the files of src/mod/muc/ and nothing else.
 *
 *   muc.c       the module: hook table, settings, service disco, the
 *               service table (rooms by name), shared send helpers
 *   room.c      rooms: life cycle, muc#roomconfig, disco of a room,
 *               persistence in the store
 *   occupant.c  join, leave, nick change, presence and status codes,
 *               XEP-0410 self-ping, destruction (§10.9)
 *   admin.c     affiliations and roles (muc#admin), kick, ban
 *   message.c   groupchat reflection, history, subject, private
 *               messages, mediated invitations
 *   register.c  registering a nick with a room (§7.10, §7.12)
 *   iq.c        iqs relayed between occupants, the room's vCard
 *   archive.c   the room's archive (XEP-0313), XEP-0359 stanza ids,
 *               XEP-0425 moderation
 *
 * Rooms live on the loop and nowhere else: nothing here keeps a room or
 * an occupant across a loop iteration except through the service's
 * table, found again by name. Occupants' sessions are kept as full JID
 * strings, never as session pointers. */
#ifndef TERN_MOD_MUC_H
#define TERN_MOD_MUC_H

#include "mod/mod.h"

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN "http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_MUC_UNIQUE "http://jabber.org/protocol/muc#unique"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_XDATA "jabber:x:data"
#define NS_DELAY "urn:xmpp:delay"
#define NS_PING "urn:xmpp:ping"
#define NS_OCCUPANT_ID "urn:xmpp:occupant-id:0"
#define NS_SELF_PING "http://jabber.org/protocol/muc#self-ping-optimization"
#define NS_CONFERENCE "jabber:x:conference"

extern const struct module mod_muc;

/* The module's settings (muc: under the host). */
struct muc_cfg {
	long long max_rooms_per_user; /* rooms one user may have created */
	long long max_occupants; /* upper bound of muc#roomconfig_maxusers */
	long long default_max_users;
	long long history_max; /* messages kept per room for joiners */
	long long msg_rate;    /* groupchat messages per second per occupant */
	long long msg_burst;
	long long max_subject; /* bytes of a subject */
	int create_restricted; /* only the host's own users create rooms */
	long long archive_retention; /* seconds; 0: kept forever */
	long long archive_page;	     /* results per archive query page */
};

/* Affiliations, ordered by privilege (XEP-0045 §5.2). */
enum muc_aff {
	AFF_OUTCAST,
	AFF_NONE,
	AFF_MEMBER,
	AFF_ADMIN,
	AFF_OWNER,
};

/* Roles (XEP-0045 §5.1). */
enum muc_role {
	ROLE_NONE,
	ROLE_VISITOR,
	ROLE_PARTICIPANT,
	ROLE_MODERATOR,
};

enum muc_whois { WHOIS_MODERATORS, WHOIS_ANYONE };
enum muc_allowpm { PM_ANYONE, PM_PARTICIPANTS, PM_MODERATORS, PM_NONE };

struct muc_config {
	char *name, *desc, *lang, *password;
	int persistent, public, members_only, moderated, password_protected;
	int change_subject, allow_invites, whois, allow_pm;
	int mam; /* a persistent room keeps an archive (XEP-0313) */
	long long max_users;
};

struct muc_affitem {
	char *jid; /* bare, prepared */
	int aff;
	char *reason; /* outcasts: why (may be NULL) */
	char *nick;   /* registered nick (§7.10), or NULL */
};

/* One session of an occupant: the real full JID joined from. */
struct muc_sess {
	char *jid;
};

/* An occupant: a nick in the room and the sessions of one bare JID that
 * joined with it (XEP-0045 §7.2, multi-session nicks). */
struct muc_occupant {
	char *nick;
	char *bare; /* the real bare JID */
	struct muc_sess *sess;
	size_t nsess;
	int role;
	struct xml_node *pres; /* last presence, without to/from/MUC x */
	char occupant_id[32];  /* XEP-0421 */
	double tokens;	       /* message rate (token bucket) */
	int64_t tokens_at;     /* ms */
};

struct muc_hist {
	struct xml_node *msg; /* as reflected, with a delay, without 'to' */
	int64_t when;	      /* unix seconds */
	size_t chars;	      /* serialised size (maxchars) */
};

struct muc_room {
	char *name; /* node */
	char *jid;  /* name@service */
	struct muc_service *svc;
	struct muc_config cfg;
	char *creator; /* bare JID */
	int locked;    /* created, awaiting its configuration (§10.1) */
	char *subject, *subject_nick;
	struct muc_affitem *affs;
	size_t naffs;
	struct muc_occupant **occ;
	size_t nocc;
	struct muc_hist *hist;
	size_t nhist;
	struct muc_pending *pending; /* iqs relayed to occupants (iq.c) */
	size_t npending;
	struct muc_room *next; /* service table chain */
};

/* A service domain's rooms (one per domain the module serves). */
#define MUC_BUCKETS 64
struct muc_service {
	char *domain;
	unsigned char secret[32]; /* keys occupant ids, kept in the store */
	long long history_max;	  /* the setting, for rooms loaded */
	struct muc_room *rooms[MUC_BUCKETS];
	size_t nrooms;
	struct muc_service *next;
};

/* Stores, on (service domain, user "") so they count against no
 * account: rooms by name, affiliations by "room/bare JID". */
#define MUC_ROOMS_STORE "muc_rooms"
#define MUC_AFF_STORE "muc_affs"
#define MUC_SECRET_STORE "muc_secret"
#define MUC_MAM_STORE "muc_mam"

/* ---- muc.c ---- */
const struct muc_cfg *muc_cfg(const struct hook_ev *ev);
/* The service of ev->to's domain (made on first use). */
struct muc_service *muc_service(const struct hook_ev *ev);
/* The room called name (loaded from the store if persistent), or NULL;
 * muc_room_loaded only looks in memory. */
struct muc_room *muc_room_find(struct muc_service *svc, const char *name);
struct muc_room *muc_room_loaded(struct muc_service *svc, const char *name);
void muc_room_link(struct muc_service *svc, struct muc_room *r);
/* muc_room_gc when the loop is next idle, the room found again by its
 * JID then (for callers that still use r). */
void muc_room_gc_later(struct muc_room *r);
void muc_room_unlink(struct muc_room *r);

/* A stanza to several recipients, serialised once (without 'to') and
 * spliced with each recipient's 'to': see muc.c. */
struct muc_out {
	struct xml_node *st;
	struct sbuf ser;
	int ready;
	/* through the router even to local sessions: for what the user's
	 * own modules must see (private messages: archive, carbons) */
	int routed;
	struct jid from;
	enum stanza_kind kind;
	enum stanza_type stype;
};
void muc_out_init(struct muc_out *o, struct xml_node *st);
/* Send to one real full JID; -1 when it is a local session that is gone. */
int muc_out_send(struct muc_out *o, const char *to);
void muc_out_cleanup(struct muc_out *o); /* does not free st */
/* Route a stanza the room made (from set) to one JID, then free it. */
void muc_send(struct xml_node *st, const char *to);
/* An error stanza answering st from the room (or room/nick) to its
 * sender; app is an optional child of <error/> in NS_STANZAS. */
void muc_error(const struct hook_ev *ev, const char *type, const char *cond,
    const char *text);
/* "room@service/nick" in the stanza's arena. */
const char *muc_nick_jid(
    struct xml_node *st, const struct muc_room *r, const char *nick);

/* ---- room.c ---- */
struct muc_room *muc_room_new(
    struct muc_service *svc, const char *name, const char *creator);
void muc_room_free(struct muc_room *r);
/* Forget a room everywhere (memory, and the store if it was kept). */
void muc_room_destroy(struct muc_room *r);
/* A temporary room with no occupant left vanishes (§10.1.x). */
void muc_room_gc(struct muc_room *r);
int muc_room_save(struct muc_room *r);
int muc_room_save_aff(struct muc_room *r, const struct muc_affitem *a);
struct muc_room *muc_room_load(struct muc_service *svc, const char *name);
int muc_aff_of(const struct muc_room *r, const char *bare);
/* §7.10: the nick bare registered / who registered nick (or NULL). */
const char *muc_reserved_nick(const struct muc_room *r, const char *bare);
const char *muc_nick_owner(const struct muc_room *r, const char *nick);
int muc_aff_set_nick(struct muc_room *r, const char *bare, const char *nick);
const char *muc_aff_reason(const struct muc_room *r, const char *bare);
int muc_aff_set(
    struct muc_room *r, const char *bare, int aff, const char *reason);
long muc_aff_count(const struct muc_room *r, int aff);
const char *muc_aff_name(int aff);
int muc_aff_parse(const char *s);
const char *muc_role_name(int role);
int muc_role_parse(const char *s);
enum hook_ret muc_owner_get(struct hook_ev *ev);
enum hook_ret muc_owner_set(struct hook_ev *ev);
enum hook_ret muc_room_info(struct hook_ev *ev);
enum hook_ret muc_room_items(struct hook_ev *ev);
/* Rooms the user created that exist (memory or store). */
long muc_rooms_of(struct muc_service *svc, const char *bare);
/* Call cb for every room of the service, loaded or stored. */
void muc_rooms_each(struct muc_service *svc,
    void (*cb)(void *ud, struct muc_room *r), void *ud);

/* ---- occupant.c ---- */
enum hook_ret muc_presence(struct hook_ev *ev);
enum hook_ret muc_presence_bare(struct hook_ev *ev);
enum hook_ret muc_self_ping(struct hook_ev *ev);
struct muc_occupant *muc_occ_by_nick(
    const struct muc_room *r, const char *nick);
/* The occupant one of whose sessions is the real full JID, or NULL. */
struct muc_occupant *muc_occ_by_jid(const struct muc_room *r, const char *full);
/* Role an occupant of that affiliation gets on entering. */
int muc_default_role(const struct muc_room *r, int aff);
/* Does the viewer see real JIDs (§7.2.3 / whois)? */
int muc_sees_jids(const struct muc_room *r, const struct muc_occupant *o);
/* Broadcast o's presence to everyone (after a role or affiliation
 * change), with the status codes given (0-terminated). */
void muc_broadcast_presence(
    struct muc_room *r, struct muc_occupant *o, const int *codes);
/* o leaves the room: unavailable (with codes, actor, reason) to all, then
 * it is freed. */
/* ternd stops: every occupant's sessions get their own unavailable
 * presence with 332 (XEP-0045 §15.2.2) and the occupants are let go
 * without more broadcasts. */
void muc_occ_shutdown(struct muc_room *r);
void muc_occ_remove(struct muc_room *r, struct muc_occupant *o,
    const int *codes, const char *actor, const char *reason);
void muc_occ_free(struct muc_occupant *o);
/* A session of the room is gone (its server said so, or it ended
 * without a word): it leaves; r stays valid (an empty temporary room
 * ends when the loop is idle). */
void muc_occ_gone(struct muc_room *r, const char *full);
/* The XEP-0421 id of bare in room r (out needs 32 bytes). */
void muc_occupant_id(const struct muc_room *r, const char *bare, char *out);

/* ---- message.c ---- */
enum hook_ret muc_message(struct hook_ev *ev);
enum hook_ret muc_message_full(struct hook_ev *ev);
/* History and subject for a newly joined session (§7.2.13-15). */
void muc_send_history(
    struct muc_room *r, const char *to, const struct xml_node *hist_req);
void muc_send_subject(struct muc_room *r, const char *to);
/* A message from the room itself with status codes (§10.2.1, 104...). */
void muc_status_message(struct muc_room *r, const int *codes);
void muc_hist_free(struct muc_room *r);
/* Keep m (copied, with a delay stamped when) in the history. */
void muc_hist_push(
    struct muc_room *r, const struct xml_node *m, int64_t when, long long max);
void muc_hist_drop(struct muc_room *r, size_t i);
/* Send m (from set) to every session in the room, serialised once. */
void muc_to_everyone(struct muc_room *r, struct xml_node *m);
/* XEP-0082 DateTime to unix seconds; -1 when it does not parse. */
int64_t muc_parse_stamp(const char *s);

/* ---- register.c ---- */
enum hook_ret muc_register_get(struct hook_ev *ev);
enum hook_ret muc_register_set(struct hook_ev *ev);
/* disco#info node x-roomuser-item (§7.12): the nick one registered. */
void muc_reserved_info(struct hook_ev *ev, struct muc_room *r);

/* ---- iq.c ---- */
enum hook_ret muc_iq_full(struct hook_ev *ev);
enum hook_ret muc_vcard_get(struct hook_ev *ev);
enum hook_ret muc_vcard_set(struct hook_ev *ev);
void muc_vcard_forget(struct muc_room *r);
void muc_pending_free(struct muc_room *r);

/* ---- archive.c ---- */
int muc_archive_on(const struct muc_room *r);
void muc_strip_sid(struct xml_node *m, const char *by);
/* Archive a reflected message (adding the room's stanza-id to it). */
void muc_archive_add(
    const struct hook_ev *ev, struct muc_room *r, struct xml_node *m);
/* Fill a loaded room's history from its archive. */
void muc_archive_history(struct muc_room *r);
void muc_archive_forget(struct muc_room *r);
enum hook_ret muc_mam_query(struct hook_ev *ev);
enum hook_ret muc_mam_form(struct hook_ev *ev);
enum hook_ret muc_moderate(struct hook_ev *ev);

/* ---- admin.c ---- */
enum hook_ret muc_admin_get(struct hook_ev *ev);
enum hook_ret muc_admin_set(struct hook_ev *ev);
/* (occupant.c) Destroy r, telling occupants the alternate venue and
 * reason (§10.9). */
void muc_destroy(struct muc_room *r, const char *alt, const char *reason,
    const char *password);

#endif

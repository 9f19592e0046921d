/* router.h: where a stanza goes (RFC 6120 §10, RFC 6121 §8), and the
 * stanza helpers modules use to answer. The router never keeps a stanza:
 * the caller frees it after router_route returns; whoever needs it later
 * keeps a copy or the serialised bytes. */
#ifndef TERN_ROUTER_H
#define TERN_ROUTER_H

#include "core/hook.h"
#include "jid/jid.h"

struct xml_node;
struct session;
struct host;

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"

/* Route st, whose 'from' is already stamped and validated as from.
 * origin is the sending local session (NULL for components, the server
 * itself, or remote). */
void router_route(
    struct xml_node *st, const struct jid *from, struct session *origin);
/* Route a stanza the server itself decided to send past the policies
 * of route/filter (a block's goodbye presence); errors go through
 * stanza_bounce, which does this. */
void router_route_unfiltered(struct xml_node *st, const struct jid *from);

/* Deliver to a local account by RFC 6121 §8.5.2 rules, bypassing the
 * bare-JID hooks (used by modules after they decided to deliver). */
void router_deliver_bare(
    struct host *h, struct xml_node *st, const struct jid *to);
/* The resources that a message to a bare JID reaches (highest
 * non-negative priority); returns how many were sent to. */
int router_deliver_full(struct xml_node *st, const char *full);

/* Bounce st back to its sender with an error of type (cancel, modify,
 * auth, wait) and condition (NS_STANZAS element), unless st is itself an
 * error. */
void stanza_bounce(struct xml_node *st, const char *type, const char *condition,
    const char *text);
/* The same with an application-specific condition (app_ns, app_name)
 * inside the <error/>, e.g. XEP-0191's <blocked/>. Bounces are routed
 * past route/filter: the stanza they answer passed it or was refused
 * by it. */
void stanza_bounce_app(struct xml_node *st, const char *type,
    const char *condition, const char *text, const char *app_ns,
    const char *app_name);
/* Append <error type=...><condition/>[<text/>]</error> to the stanza r
 * (in r's namespace), with the legacy code attribute of XEP-0086 that
 * older clients still read (profanity 0.13 checks code='404'); returns
 * the error element for application conditions. */
struct xml_node *stanza_error_add(struct xml_node *r, const char *type,
    const char *condition, const char *text);
/* Build a reply to ev->stanza (to/from swapped, same id, type result),
 * returned for the handler to add a payload to; stanza_send routes it. */
struct xml_node *stanza_reply(const struct hook_ev *ev);
void stanza_reply_result(const struct hook_ev *ev);
/* Route a reply made by stanza_reply (as from ev->to) and free it. */
void stanza_reply_send(const struct hook_ev *ev, struct xml_node *r);
void stanza_reply_error(const struct hook_ev *ev, const char *type,
    const char *condition, const char *text);
/* The error for a storage write that failed with rc: resource-constraint
 * (wait) when the account's storage quota refused it (STORE_QUOTA),
 * internal-server-error (wait) otherwise. */
void stanza_reply_store_error(const struct hook_ev *ev, int rc);
/* A message that one session of the account bare never got (it ended
 * unacknowledged, or held): may it go to another resource or to offline
 * storage? Not headlines and errors (RFC 6121 §8.5.3.2.1), nor copies
 * the server made for that session from the account's own address
 * (carbon copies, archive query results): the other resources have the
 * original or ask for their own. */
int stanza_for_account(const struct xml_node *st, const char *bare);
/* Route a stanza the server made (from must be set); frees it. */
void stanza_send(struct xml_node *st);

/* Register every active host as an accounts domain (start, reload). */
void router_setup_domains(void);
/* A domain that cannot take st: requests and messages get the error,
 * presence and iq results/errors are dropped. kind as in domain.h. */
void stanza_bounce_unless_quiet(
    struct xml_node *st, const char *kind, const char *condition);

#endif

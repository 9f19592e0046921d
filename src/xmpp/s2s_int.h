/* s2s_int.h: what the s2s files share: policy, dialback keys, and the
 * calls between incoming and outgoing streams (a dialback verification
 * travels out on one and its answer goes back on the other, each found
 * again by its id). */
#ifndef TERN_S2S_INT_H
#define TERN_S2S_INT_H

#include <stddef.h>
#include <stdint.h>

#include "xmpp/domain.h"

struct xml_node;

#define NS_SERVER "jabber:server"
#define NS_DB "jabber:server:dialback"
#define NS_DB_FEATURE "urn:xmpp:features:dialback"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIDI "urn:xmpp:features:bidi"
#define NS_BIDI_REQ "urn:xmpp:bidi"
#define HEADER_DB " xmlns:db='" NS_DB "'"
/* Seconds an idle stream we close waits for the peer's closing tag,
 * reading what it sent meanwhile (RFC 6120 §4.4). */
#define S2S_LINGER 5.0

/* ---- policy (s2s_auth.c) ---- */

/* May we talk to domain at all (blocked / allowed lists)? */
int s2s_domain_allowed(const char *domain);
/* Must domain prove itself with a certificate (no dialback)? */
int s2s_needs_cert(const char *domain);
/* Is name one of ours (a host, service or component domain)? */
int s2s_is_local(const char *name);
/* A Tor onion service name (ends in .onion)? */
int s2s_is_onion(const char *domain);

/* A stanza a peer sent (on an incoming stream, or back on an outgoing
 * bidi one), RFC 6120 §8.1.1.1 and §4.9.3.9: 'from' and 'to' must be
 * there and parse ('to' that does not: jid-malformed, the stream goes
 * on), and check(ud, from domain, to domain) must answer NULL, else its
 * condition ends the stream; then it is routed. 0, or -1 when the
 * stream was failed. */
struct stream;
int s2s_route_peer_stanza(struct stream *st, struct xml_node *el,
    const char *(*check)(void *ud, const char *from, const char *to), void *ud);

/* XEP-0185 dialback key for (receiving, originating, stream id), hex
 * into out (65 bytes). */
void s2s_db_key(const char *receiving, const char *originating, const char *id,
    char out[65]);
/* A fresh secret at start (keys do not outlive the process). */
void s2s_db_init(void);
/* A given secret (tests: XEP-0220's example). */
void s2s_db_set_secret(const char *secret);

/* ---- outgoing (s2s_out.c) ---- */

/* Ask the authoritative server of `to` (through an outgoing stream from
 * `from`) whether key is valid for stream id; the answer goes to the
 * incoming stream in_id with s2s_in_verified. */
void s2s_out_verify(const char *from, const char *to, const char *id,
    const char *key, uint64_t in_id);
void s2s_out_close_all(const char *condition, const char *text);
unsigned s2s_out_count(void);
size_t s2s_out_waiting(void);
/* The remote fallback of the domain table. */
void s2s_out_route(const struct domain *d, struct xml_node *st,
    struct hook_ev *ev, const char *kind);

/* ---- incoming (s2s_in.c) ---- */

/* The answer to a verification asked for incoming stream in_id:
 * valid (1), invalid (0) or could not be asked (-1). */
void s2s_in_verified(
    uint64_t in_id, const char *local, const char *remote, int valid);
void s2s_in_close_all(const char *condition, const char *text);
/* XEP-0288: send st (from local to remote) back over an incoming stream
 * that remote made bidirectional and proved (remote, local) on; -1 when
 * there is none. */
int s2s_in_bidi_send(
    const char *local, const char *remote, const struct xml_node *st);
unsigned s2s_in_count(void);

#endif

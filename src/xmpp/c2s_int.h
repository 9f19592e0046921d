/* c2s_int.h: the client stream's state, shared by the files of the c2s
 * unit (c2s.c the state machine, sasl2.c XEP-0388 with Bind 2). */
#ifndef TERN_C2S_INT_H
#define TERN_C2S_INT_H

#include <ev.h>
#include <stdint.h>

#include "xmpp/stream.h"

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_BIND2 "urn:xmpp:bind:0"

struct host;
struct sasl;
struct sasl2;
struct session;
struct hook_stream;
struct xml_node;

enum c2s_state {
	C2S_WAIT_HEADER, /* before a (new) stream header */
	C2S_NEGOTIATE,	 /* header seen, features sent, not authenticated */
	C2S_AUTHED,	 /* authenticated, resource not bound yet */
	C2S_BOUND,	 /* a session: stanzas flow */
	C2S_CLOSED,
};

struct c2s {
	struct stream st; /* first: the base hands it back to us */
	enum c2s_state state;
	unsigned authed : 1;
	unsigned starttls_offered : 1;
	struct host *host;
	struct sasl *sasl;
	struct sasl2 *sasl2; /* a SASL2 exchange in progress */
	int sasl_failures;
	int sasl_cb_refusals;
	char *user; /* authenticated local part */
	struct session *sess;
	ev_timer timer;
	int64_t last_input_ms;
	struct c2s *prev, *next; /* all streams, for shutdown */
};

void c2s_set_state(struct c2s *c, enum c2s_state st);
void c2s_fail(struct c2s *c, const char *condition, const char *text);
/* Sends and frees n. */
void c2s_send_node(struct c2s *c, struct xml_node *n);
void c2s_sasl_failure(
    struct c2s *c, const char *ns, const char *condition, const char *text);
void c2s_auth_ok(struct c2s *c, const char *user, const char *mech);
void c2s_auth_failed(
    struct c2s *c, const char *ns, const char *cond, int refused);
int c2s_bind_session(
    struct c2s *c, const char *resource, const char **type, const char **cond);
void c2s_bound(struct c2s *c);
/* The hook_stream of a stream authenticated but not bound. */
void c2s_hook_stream(struct c2s *c, struct hook_stream *hs);

/* sasl2.c */
void sasl2_features(struct c2s *c, struct xml_node *features);
void sasl2_element(struct c2s *c, struct xml_node *el);
void sasl2_free(struct sasl2 *x);

#endif

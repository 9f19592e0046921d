/* bosh.h: XMPP over BOSH (XEP-0124, XEP-0206) at /http-bind on the HTTP
 * listeners, a framing of the stream base for client streams. */
#ifndef TERN_BOSH_H
#define TERN_BOSH_H

/* Route /http-bind (once, after http_init). */
void bosh_init(void);
/* End every session (shutdown). */
void bosh_close_all(void);

/* The request parsing and answer framing, apart from the sessions (for
 * fuzz/fuzz_bosh.c; the handler uses nothing else to read a request). */
#include <stddef.h>
#include <stdint.h>

struct sbuf;
struct xml_node;

/* A POST body: its <body/> in the httpbind namespace (the caller frees
 * it), or NULL when it is not one (answered with bad-request). */
struct xml_node *bosh_parse_body(const char *p, size_t n);

/* What the handler reads of a <body/>'s attributes (strings are the
 * body's). */
struct bosh_attrs {
	const char *sid, *to, *lang, *ver, *type;
	const char *rid; /* as sent, or NULL */
	uint64_t rid_n;	 /* rid as a number (strtoull) */
	unsigned wait;	 /* the wait asked for, within 1..60 */
	int restart;	 /* xmpp:restart='true' */
	int terminate;	 /* type='terminate' */
	int hold;	 /* hold as sent, -1 when absent or not a number */
	const char *ack; /* ack as sent, or NULL (XEP-0124 §9) */
	uint64_t ack_n;	 /* ack as a number */
};
void bosh_attrs(const struct xml_node *body, struct bosh_attrs *a);

/* Does rid follow the last one processed within the window of open
 * requests (XEP-0124 §14.2)? */
int bosh_rid_in_window(uint64_t last, uint64_t rid);

/* The stream header a session creation (or a restart, lang NULL) feeds
 * the client stream. */
void bosh_stream_header(struct sbuf *h, const char *to, const char *lang);

/* After prev (NULL: from the first), the next element child of body:
 * made jabber:client when in httpbind (a lax client's) and appended to s
 * serialised for the stream; NULL when none is left. */
struct xml_node *bosh_next_stanza(
    struct xml_node *body, struct xml_node *prev, struct sbuf *s);

/* An answer's <body/>: the creation attributes (first), terminate with
 * the condition, around the elements waiting (out, each standalone). */
void bosh_wrap(struct sbuf *body, const struct sbuf *first, int terminated,
    const char *condition, const struct sbuf *out);

#endif

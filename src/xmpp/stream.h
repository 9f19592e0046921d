/* stream.h: what c2s and component streams share: headers, stream
 * errors, and the mapping from parser errors to RFC 6120 §4.9.3
 * conditions. */
#ifndef TERN_STREAM_H
#define TERN_STREAM_H

#include "xml/xml.h"

struct conn;

/* Our response header. to may be NULL; id is the stream id. */
void stream_write_header(struct conn *c, const char *content_ns,
    const char *from, const char *to, const char *id);
/* <stream:error><condition/><text/></stream:error></stream:stream>, then
 * close after flushing. If header_sent is 0, a header is sent first
 * (RFC 6120 §4.9.1.2). */
void stream_fail(struct conn *c, int header_sent, const char *content_ns,
    const char *from, const char *condition, const char *text);
const char *stream_xml_condition(enum xml_err e);
/* Serialise a node with the stream's content namespace and queue it. */
int stream_send_node(
    struct conn *c, const struct xml_node *n, const char *content_ns);

/* Limits on one peer address, the same for every stream kind (c2s,
 * components). Is limits.conns_per_ip exceeded (the new connection is
 * counted already)? */
int stream_ip_crowded(const char *ip);
/* A failed authentication (SASL, component handshake) from ip; they are
 * counted per minute. */
void stream_ip_auth_failed(const char *ip);
/* Has ip failed limits.sasl_failures_per_ip times this minute? Then
 * no authentication is tried for it before the next minute. */
int stream_ip_auth_throttled(const char *ip);

#endif

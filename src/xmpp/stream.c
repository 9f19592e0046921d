/* stream.c: stream headers and stream errors. */
#include "xmpp/stream.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/host.h"
#include "core/log.h"
#include "core/util.h"
#include "net/conn.h"
#include "xmpp/router.h"

void
stream_write_header(struct conn *c, const char *content_ns, const char *from,
    const char *to, const char *id)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_puts(&b, "<?xml version='1.0'?><stream:stream xmlns='");
	sbuf_puts(&b, content_ns);
	sbuf_puts(&b, "' xmlns:stream='" XML_NS_STREAM "'");
	if (id) {
		sbuf_puts(&b, " id='");
		sbuf_put_xml_escaped(&b, id, strlen(id));
		sbuf_putc(&b, '\'');
	}
	if (from) {
		sbuf_puts(&b, " from='");
		sbuf_put_xml_escaped(&b, from, strlen(from));
		sbuf_putc(&b, '\'');
	}
	if (to) {
		sbuf_puts(&b, " to='");
		sbuf_put_xml_escaped(&b, to, strlen(to));
		sbuf_putc(&b, '\'');
	}
	sbuf_puts(&b, " version='1.0' xml:lang='en'>");
	conn_write_str(c, b.data, b.len);
	sbuf_cleanup(&b);
}

void
stream_fail(struct conn *c, int header_sent, const char *content_ns,
    const char *from, const char *condition, const char *text)
{
	struct sbuf b;

	if (!header_sent)
		stream_write_header(c, content_ns, from, NULL, NULL);
	sbuf_init(&b);
	sbuf_puts(&b, "<stream:error><");
	sbuf_puts(&b, condition);
	sbuf_puts(&b, " xmlns='" NS_STREAMS "'/>");
	if (text) {
		sbuf_puts(&b, "<text xmlns='" NS_STREAMS "' xml:lang='en'>");
		sbuf_put_xml_escaped(&b, text, strlen(text));
		sbuf_puts(&b, "</text>");
	}
	sbuf_puts(&b, "</stream:error></stream:stream>");
	/* the error must get out even past the queue limit */
	c->max_queue = 0;
	conn_write_str(c, b.data, b.len);
	sbuf_cleanup(&b);
	log_debug("conn %llx stream error %s%s%s peer=%s",
	    (unsigned long long)c->id, condition, text ? ": " : "",
	    text ? text : "", c->peer);
	conn_close(c, 1, condition);
}

const char *
stream_xml_condition(enum xml_err e)
{
	switch (e) {
	case XML_ERR_RESTRICTED:
		return "restricted-xml";
	case XML_ERR_POLICY:
		return "policy-violation";
	case XML_ERR_INVALID_NS:
		return "invalid-namespace";
	case XML_ERR_BAD_FORMAT:
		return "bad-format";
	case XML_OK:
	case XML_ERR_CLOSED:
	case XML_ERR_NOT_WELL_FORMED:
	default:
		return "not-well-formed";
	}
}

int
stream_send_node(
    struct conn *c, const struct xml_node *n, const char *content_ns)
{
	struct sbuf b;
	int rc;

	sbuf_init(&b);
	xml_serialize(n, content_ns, &b);
	rc = conn_write_str(c, b.data, b.len);
	sbuf_cleanup(&b);
	return rc;
}

/* ---- per-address limits ---- */

int
stream_ip_crowded(const char *ip)
{
	long long max = config_running->limits.conns_per_ip;

	return (long long)conn_ip_count(ip) > max;
}

#define THROTTLE_SLOTS 4096

/* A fixed table: an address whose slot another takes loses its count,
 * which bounds memory whatever the number of addresses. */
struct throttle {
	char ip[48];
	int64_t window; /* minute the count belongs to */
	unsigned failures;
};

static struct throttle *throttle_tab;

static struct throttle *
throttle_slot(const char *ip)
{
	uint32_t h = hash_bytes(HASH_INIT, ip, strlen(ip));
	struct throttle *t;
	int64_t minute = now_unix() / 60;

	if (throttle_tab == NULL)
		throttle_tab = xcalloc(THROTTLE_SLOTS, sizeof(*throttle_tab));
	t = &throttle_tab[h % THROTTLE_SLOTS];
	if (strcmp(t->ip, ip) != 0 || t->window != minute) {
		snprintf(t->ip, sizeof(t->ip), "%s", ip);
		t->window = minute;
		t->failures = 0;
	}
	return t;
}

void
stream_ip_auth_failed(const char *ip)
{
	throttle_slot(ip)->failures++;
}

int
stream_ip_auth_throttled(const char *ip)
{
	long long max = config_running->limits.sasl_failures_per_ip;

	return (long long)throttle_slot(ip)->failures >= max;
}

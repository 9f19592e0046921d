/* http.c: the HTTP/1.1 server (see http.h). One struct http_conn per
 * connection; libhttp-parser calls back as bytes arrive. One request is
 * handled at a time: when its answer cannot be queued at once (a file
 * being streamed, or a client that pipelines faster than it reads), the
 * parser is paused and the bytes after the request wait in a bounded
 * buffer with reading stopped. */
#include "net/http.h"

#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/host.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/util.h"
#include "net/conn.h"
#include "net/tls.h"

#define STREAM_CHUNK 65536
#define QUEUE_HIGH (256 * 1024) /* stop producing above this */
#define QUEUE_LOW (64 * 1024)	/* produce again below this */
#define PENDING_MAX 65536	/* pipelined bytes kept while busy */

enum http_timer {
	T_NONE,
	T_HEADER, /* the request's headers must be complete */
	T_BODY,	  /* the body must progress */
	T_IDLE,	  /* keep-alive: no request yet */
};

struct route {
	char *host; /* NULL: any */
	char *prefix;
	size_t plen;
	http_handler_fn fn;
	void *ctx;
	struct route *next;
};

struct http_conn {
	struct conn *c;	  /* NULL for a test conn */
	struct sbuf *out; /* a test conn's output */
	int test_closed;
	http_parser p;
	int lflags;
	ev_timer timer;
	enum http_timer tstate;
	struct http_req *req; /* the request being read or answered */
	struct sbuf url, hname, hval;
	int in_value;
	size_t hbytes;
	int closing;	     /* close once the answer is written */
	int msg_done;	     /* the current request was read whole */
	int sfd;	     /* a file being sent, or -1 */
	off_t soff, sleft;   /* where in it, and what is left */
	int waiting;	     /* the parser is paused until the queue drains */
	struct sbuf pending; /* bytes after a paused request */
	int resume_queued;
	size_t progress; /* of a leaving answer, at the last timer */
	/* switching protocols once the request is read */
	void (*upgrade_fn)(
	    void *arg, struct conn *c, const char *rest, size_t n);
	void *upgrade_arg;
	int upgraded;
	struct http_req *held; /* read whole, to be answered later */
	int dead;
	struct http_conn *prev, *next; /* all */
};

static void hc_free(void *arg);
static void resume(void *arg);

static struct route *routes;
static struct http_conn *all;
static unsigned count;
static http_parser_settings settings;
static char stream_buf[STREAM_CHUNK];

static const struct cfg_http *
cfg(void)
{
	static const struct cfg_http defaults = {
		.max_request_line = 4096,
		.max_header_size = 16384,
		.max_headers = 64,
		.max_body = 65536,
		.header_timeout = 10,
		.idle_timeout = 60,
	};

	return config_running ? &config_running->http : &defaults;
}

/* ---- routes ---- */

int
http_route_add(
    const char *host, const char *prefix, http_handler_fn fn, void *ctx)
{
	struct route *r;

	for (r = routes; r; r = r->next)
		if (strcmp(r->prefix, prefix) == 0 &&
		    ((r->host == NULL && host == NULL) ||
			(r->host && host && strcasecmp(r->host, host) == 0)))
			return -1;
	r = xcalloc(1, sizeof(*r));
	r->host = host ? xstrdup(host) : NULL;
	r->prefix = xstrdup(prefix);
	r->plen = strlen(prefix);
	r->fn = fn;
	r->ctx = ctx;
	r->next = routes;
	routes = r;
	return 0;
}

void
http_route_del(const char *host, const char *prefix)
{
	struct route **pp, *r;

	for (pp = &routes; (r = *pp) != NULL; pp = &r->next) {
		if (strcmp(r->prefix, prefix) != 0)
			continue;
		if (!((r->host == NULL && host == NULL) ||
			(r->host && host && strcasecmp(r->host, host) == 0)))
			continue;
		*pp = r->next;
		free(r->host);
		free(r->prefix);
		free(r);
		return;
	}
}

static int
prefix_matches(const struct route *r, const char *path)
{
	if (strncmp(path, r->prefix, r->plen) != 0)
		return 0;
	if (r->plen > 0 && r->prefix[r->plen - 1] == '/')
		return 1;
	return path[r->plen] == '\0' || path[r->plen] == '/';
}

/* The longest prefix among the routes of the request's host, else among
 * the routes for any host. */
static const struct route *
route_find(const char *host, const char *path)
{
	const struct route *r, *best = NULL;
	int pass;

	for (pass = 0; pass < 2 && best == NULL; pass++) {
		for (r = routes; r; r = r->next) {
			if (pass == 0 &&
			    (r->host == NULL || strcasecmp(r->host, host) != 0))
				continue;
			if (pass == 1 && r->host != NULL)
				continue;
			if (prefix_matches(r, path) &&
			    (best == NULL || r->plen > best->plen))
				best = r;
		}
	}
	return best;
}

/* ---- status and dates ---- */

const char *
http_status_text(int status)
{
	switch (status) {
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 416:
		return "Range Not Satisfiable";
	case 426:
		return "Upgrade Required";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 507:
		return "Insufficient Storage";
	default:
		return "Unknown";
	}
}

/* IMF-fixdate (RFC 9110 §5.6.7), made once per second. */
static const char *
http_date(void)
{
	static char buf[40];
	static time_t made = -1;
	time_t now = time(NULL);
	struct tm tm;

	if (now != made) {
		gmtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		made = now;
	}
	return buf;
}

/* ---- writing ---- */

static size_t
hc_queued(const struct http_conn *hc)
{
	return hc->c ? hc->c->queued : 0;
}

static void
hc_write(struct http_conn *hc, const char *p, size_t n)
{
	if (hc->dead)
		return;
	if (hc->c == NULL) {
		sbuf_append(hc->out, p, n);
		return;
	}
	conn_write_str(hc->c, p, n);
}

static void
hc_close(struct http_conn *hc, int flush, const char *why)
{
	if (hc->dead)
		return;
	if (hc->c == NULL) {
		hc->test_closed = 1;
		return;
	}
	conn_close(hc->c, flush, why);
}

static void
timer_set(struct http_conn *hc, enum http_timer t, long long secs)
{
	if (hc->c == NULL)
		return;
	ev_timer_stop(loop_ev, &hc->timer);
	hc->tstate = t;
	if (t == T_NONE)
		return;
	ev_timer_set(&hc->timer, (double)secs, 0.0);
	ev_timer_start(loop_ev, &hc->timer);
}

static void
req_free(struct http_req *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->on_free)
		r->on_free(r);
	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->path);
	free(r->query);
	free(r->host);
	free(r->resp_hdrs.data);
	free(r);
}

/* Whether the connection stays open after answering r. */
static int
keep_alive(struct http_conn *hc, struct http_req *r)
{
	if (hc->closing)
		return 0;
	/* an upgrade nobody switched to: the parser stops after it */
	if (r->upgrade && hc->upgrade_fn == NULL)
		return 0;
	if (!http_should_keep_alive(&hc->p))
		return 0;
	/* a body nobody reads cannot be skipped safely: close */
	if (!hc->msg_done && r->on_body == NULL &&
	    (r->chunked || (r->has_length && r->length > 0)))
		return 0;
	return 1;
}

static void
send_head(struct http_req *r, int status, const char *type, uint64_t len)
{
	struct http_conn *hc = r->hc;
	struct sbuf b;
	int ka = keep_alive(hc, r);

	sbuf_init(&b);
	sbuf_printf(&b, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: Tern\r\n",
	    status, http_status_text(status), http_date());
	if (type)
		sbuf_printf(&b, "Content-Type: %s\r\n", type);
	if (status != 204 && status != 304 && status >= 200)
		sbuf_printf(
		    &b, "Content-Length: %llu\r\n", (unsigned long long)len);
	if (status == 101) {
		/* the handler names the new protocol in its headers */
	} else if (!ka) {
		sbuf_puts(&b, "Connection: close\r\n");
		hc->closing = 1;
	} else if (hc->p.http_major == 1 && hc->p.http_minor == 0) {
		sbuf_puts(&b, "Connection: keep-alive\r\n");
	}
	if (r->resp_hdrs.len)
		sbuf_append(&b, r->resp_hdrs.data, r->resp_hdrs.len);
	sbuf_puts(&b, "\r\n");
	hc_write(hc, b.data, b.len);
	sbuf_cleanup(&b);
	r->answered = status;
	metrics.http_requests++;
}

void
http_add_header(struct http_req *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(&r->resp_hdrs, fmt, ap);
	va_end(ap);
	sbuf_puts(&r->resp_hdrs, "\r\n");
}

void
http_req_close_after(struct http_req *r)
{
	r->hc->closing = 1;
}

/* A held request got its answer: the connection goes on with what
 * followed it. */
static void
held_done(struct http_conn *hc)
{
	struct http_req *r = hc->held;

	hc->held = NULL;
	hc->req = NULL;
	req_free(r);
	if (hc->dead)
		return;
	if (hc->closing) {
		hc_close(hc, 1, "done");
		return;
	}
	timer_set(hc, T_IDLE, cfg()->idle_timeout);
	if (!hc->resume_queued) {
		hc->resume_queued = 1;
		loop_defer(resume, hc);
		loop_kick();
	}
}

void
http_respond(struct http_req *r, int status, const char *type, const void *body,
    size_t len)
{
	if (r->answered)
		return;
	send_head(r, status, type, len);
	if (!r->head && len > 0 && status != 204 && status != 304)
		hc_write(r->hc, body, len);
	log_debug("http %llx %s %s -> %d", (unsigned long long)r->conn_id,
	    r->method, r->path ? r->path : "-", status);
	if (r->hc->held == r)
		held_done(r->hc);
}

void
http_req_hold(struct http_req *r)
{
	r->hold = 1;
}

static void stream_pump(struct http_conn *hc);

void
http_respond_fd(struct http_req *r, int status, const char *type, int fd,
    off_t off, off_t len)
{
	struct http_conn *hc = r->hc;

	if (r->answered) {
		close(fd);
		return;
	}
	send_head(r, status, type, (uint64_t)len);
	log_debug("http %llx %s %s -> %d", (unsigned long long)r->conn_id,
	    r->method, r->path ? r->path : "-", status);
	if (r->head || len == 0) {
		close(fd);
		return;
	}
	hc->sfd = fd;
	hc->soff = off;
	hc->sleft = len;
	stream_pump(hc);
}

void
http_error(struct http_req *r, int status)
{
	char body[96];
	int n = snprintf(
	    body, sizeof(body), "%d %s\n", status, http_status_text(status));

	http_respond(r, status, "text/plain; charset=utf-8", body, (size_t)n);
}

/* An error before a request struct exists (or with the request's): the
 * answer closes the connection. */
static void
fail(struct http_conn *hc, int status)
{
	if (hc->req == NULL)
		hc->req = xcalloc(1, sizeof(*hc->req));
	hc->req->hc = hc;
	hc->req->conn_id = hc->c ? hc->c->id : 0;
	hc->req->method = hc->req->method ? hc->req->method : "-";
	hc->closing = 1;
	if (!hc->req->answered)
		http_error(hc->req, status);
}

/* Queue file bytes until the queue is high or the file is sent. */
static void
stream_pump(struct http_conn *hc)
{
	while (hc->sfd >= 0 && !hc->dead && hc_queued(hc) < QUEUE_HIGH) {
		size_t want =
		    hc->sleft < STREAM_CHUNK ? (size_t)hc->sleft : STREAM_CHUNK;
		ssize_t n = pread(hc->sfd, stream_buf, want, hc->soff);

		if (n <= 0) {
			/* the file shrank or failed: the length promised
			 * cannot be kept, so the connection ends */
			log_warn("http %llx file read failed: %s",
			    hc->c ? (unsigned long long)hc->c->id : 0ULL,
			    n < 0 ? strerror(errno) : "short file");
			close(hc->sfd);
			hc->sfd = -1;
			hc_close(hc, 1, "file read failed");
			return;
		}
		hc_write(hc, stream_buf, (size_t)n);
		hc->soff += n;
		hc->sleft -= n;
		if (hc->sleft == 0) {
			close(hc->sfd);
			hc->sfd = -1;
		}
	}
}

/* ---- parsing ---- */

static void
header_commit(struct http_conn *hc)
{
	struct http_req *r = hc->req;

	if (!hc->in_value)
		return;
	r->headers =
	    xrealloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
	r->headers[r->nheaders].name =
	    xstrndup(hc->hname.data ? hc->hname.data : "", hc->hname.len);
	r->headers[r->nheaders].value =
	    xstrndup(hc->hval.data ? hc->hval.data : "", hc->hval.len);
	r->nheaders++;
	sbuf_reset(&hc->hname);
	sbuf_reset(&hc->hval);
	hc->in_value = 0;
}

const char *
http_req_header(const struct http_req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static int
on_message_begin(http_parser *p)
{
	struct http_conn *hc = p->data;

	req_free(hc->req);
	hc->req = xcalloc(1, sizeof(*hc->req));
	hc->req->hc = hc;
	hc->req->peer = hc->c ? hc->c->peer : "test";
	hc->req->conn_id = hc->c ? hc->c->id : 0;
	hc->req->lflags = hc->lflags;
	hc->msg_done = 0;
	sbuf_reset(&hc->url);
	sbuf_reset(&hc->hname);
	sbuf_reset(&hc->hval);
	hc->in_value = 0;
	hc->hbytes = 0;
	timer_set(hc, T_HEADER, cfg()->header_timeout);
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t n)
{
	struct http_conn *hc = p->data;

	if (hc->url.len + n > (size_t)cfg()->max_request_line) {
		fail(hc, 414);
		return -1;
	}
	sbuf_append(&hc->url, at, n);
	return 0;
}

static int
header_bytes(struct http_conn *hc, size_t n)
{
	hc->hbytes += n;
	if (hc->hbytes > (size_t)cfg()->max_header_size ||
	    hc->req->nheaders >= (size_t)cfg()->max_headers) {
		fail(hc, 431);
		return -1;
	}
	return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_conn *hc = p->data;

	header_commit(hc);
	if (header_bytes(hc, n) != 0)
		return -1;
	sbuf_append(&hc->hname, at, n);
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_conn *hc = p->data;

	hc->in_value = 1;
	if (header_bytes(hc, n) != 0)
		return -1;
	sbuf_append(&hc->hval, at, n);
	return 0;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Percent-decode the path; refuse NUL, bad escapes, and any "." or ".."
 * segment (after decoding, so %2e%2e and ..%2f are caught too): no
 * handler ever sees a path that climbs. */
static char *
path_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *seg;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int a, b;

			if (i + 2 >= n)
				goto bad;
			a = hexval((unsigned char)s[i + 1]);
			b = hexval((unsigned char)s[i + 2]);
			if (a < 0 || b < 0 || (a == 0 && b == 0))
				goto bad;
			out[o++] = (char)(a * 16 + b);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	if (out[0] != '/' || strchr(out, '\\') != NULL)
		goto bad;
	for (seg = out; seg; seg = strchr(seg + 1, '/')) {
		const char *t = seg + 1;
		size_t l = strcspn(t, "/");

		if ((l == 1 && t[0] == '.') ||
		    (l == 2 && t[0] == '.' && t[1] == '.'))
			goto bad;
	}
	return out;
bad:
	free(out);
	return NULL;
}

/* Split the target into path and query (origin-form, or absolute-form
 * whose authority is dropped: RFC 9112 §3.2). 0, or -1 when bad. */
static int
split_target(struct http_req *r, const char *u, size_t n)
{
	const char *q, *end = u + n;

	if (n == 1 && u[0] == '*') {
		r->path = xstrdup("*");
		return 0;
	}
	if (n > 7 && (strncasecmp(u, "http://", 7) == 0 ||
			 strncasecmp(u, "https://", 8) == 0)) {
		const char *s = memchr(u + 7, '/', n - 7);

		if (s == NULL)
			s = "/", end = s + 1;
		n = (size_t)(end - s);
		u = s;
	}
	q = memchr(u, '?', n);
	if (q) {
		r->query = xstrndup(q + 1, (size_t)(end - q - 1));
		n = (size_t)(q - u);
	}
	r->path = path_decode(u, n);
	return r->path ? 0 : -1;
}

static char *
host_of(const char *v)
{
	size_t n;
	char *h;
	size_t i;

	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '[') {
		const char *e = strchr(v, ']');

		n = e ? (size_t)(e - v + 1) : strlen(v);
	} else {
		n = strcspn(v, ": \t");
	}
	h = xstrndup(v, n);
	for (i = 0; h[i]; i++)
		h[i] = (char)tolower((unsigned char)h[i]);
	return h;
}

static int
on_headers_complete(http_parser *p)
{
	struct http_conn *hc = p->data;
	struct http_req *r = hc->req;
	const struct route *rt;
	const char *host;

	header_commit(hc);
	switch (p->method) {
	case HTTP_GET:
		r->meth = HTTP_M_GET;
		break;
	case HTTP_HEAD:
		r->meth = HTTP_M_HEAD;
		break;
	case HTTP_PUT:
		r->meth = HTTP_M_PUT;
		break;
	case HTTP_POST:
		r->meth = HTTP_M_POST;
		break;
	case HTTP_DELETE:
		r->meth = HTTP_M_DELETE;
		break;
	case HTTP_OPTIONS:
		r->meth = HTTP_M_OPTIONS;
		break;
	default:
		r->meth = HTTP_M_OTHER;
		break;
	}
	r->method = http_method_str((enum http_method)p->method);
	r->head = p->method == HTTP_HEAD;
	r->chunked = !!(p->flags & F_CHUNKED);
	r->has_length = !!(p->flags & F_CONTENTLENGTH);
	r->length = r->has_length ? p->content_length : 0;
	r->max_body = (uint64_t)cfg()->max_body;
	timer_set(hc, T_BODY, cfg()->idle_timeout);
	if (split_target(r, hc->url.data ? hc->url.data : "", hc->url.len) !=
	    0) {
		fail(hc, 400);
		return -1;
	}
	host = http_req_header(r, "Host");
	if (host == NULL && p->http_major == 1 && p->http_minor >= 1) {
		/* RFC 9112 §3.2: a 1.1 request without Host is a 400 */
		fail(hc, 400);
		return -1;
	}
	r->host = host_of(host ? host : "");
	r->upgrade = p->upgrade;
	if ((p->method == HTTP_PUT || p->method == HTTP_POST) &&
	    !r->has_length && !r->chunked) {
		fail(hc, 411);
		return -1;
	}
	rt = route_find(r->host, r->path);
	if (rt == NULL)
		http_error(r, 404);
	else {
		r->route_ctx = rt->ctx;
		rt->fn(r);
	}
	if (hc->dead)
		return -1;
	if (r->answered) {
		/* a body that nobody takes ends the connection */
		if (r->chunked || (r->has_length && r->length > 0))
			return -1;
		return 0;
	}
	if (r->on_body == NULL && r->on_end == NULL) {
		/* a handler that neither answered nor took the body */
		if (r->chunked || (r->has_length && r->length > 0)) {
			fail(hc, 413);
			return -1;
		}
		fail(hc, 500);
		return -1;
	}
	if (r->has_length && r->length > r->max_body) {
		fail(hc, 413);
		return -1;
	}
	/* RFC 9110 §10.1.1: the client waits for this before the body */
	if (p->http_major == 1 && p->http_minor >= 1 &&
	    (host = http_req_header(r, "Expect")) != NULL &&
	    strcasecmp(host, "100-continue") == 0)
		hc_write(hc, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	return 0;
}

void
http_req_upgrade(struct http_req *r,
    void (*fn)(void *arg, struct conn *c, const char *rest, size_t n),
    void *arg)
{
	struct http_conn *hc = r->hc;

	if (!r->upgrade || r->answered != 101)
		return;
	hc->upgrade_fn = fn;
	hc->upgrade_arg = arg;
}

/* The request that switched protocols is read: the conn is fn's now. */
static void
handoff(struct http_conn *hc, const char *rest, size_t n)
{
	struct conn *c = hc->c;

	hc->upgraded = 1;
	timer_set(hc, T_NONE, 0);
	if (c != NULL) {
		log_debug(
		    "http %llx switched protocols", (unsigned long long)c->id);
		hc->dead = 1;
		hc->c = NULL;
		if (hc->prev)
			hc->prev->next = hc->next;
		else
			all = hc->next;
		if (hc->next)
			hc->next->prev = hc->prev;
		count--;
		c->owner = NULL;
		loop_defer(hc_free, hc);
	} else {
		hc->test_closed = 1;
	}
	hc->upgrade_fn(hc->upgrade_arg, c, rest, n);
}

void
http_req_take_body(struct http_req *r,
    int (*on_body)(struct http_req *r, const char *p, size_t n),
    void (*on_end)(struct http_req *r), uint64_t max)
{
	r->on_body = on_body;
	r->on_end = on_end;
	r->max_body = max ? max : (uint64_t)cfg()->max_body;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
	struct http_conn *hc = p->data;
	struct http_req *r = hc->req;

	r->body_seen += n;
	if (r->body_seen > r->max_body) {
		fail(hc, 413);
		return -1;
	}
	timer_set(hc, T_BODY, cfg()->idle_timeout);
	if (r->on_body && r->on_body(r, at, n) != 0) {
		if (!r->answered)
			fail(hc, 500);
		hc->closing = 1;
		return -1;
	}
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct http_conn *hc = p->data;
	struct http_req *r = hc->req;

	hc->msg_done = 1;
	timer_set(hc, T_NONE, 0);
	if (!r->answered && r->on_end)
		r->on_end(r);
	if (hc->dead)
		return -1;
	if (!r->answered && r->hold) {
		/* answered later (BOSH): what follows waits, unparsed; no
		 * timer runs (the handler bounds the wait) */
		hc->held = r;
		hc->waiting = 1;
		http_parser_pause(p, 1);
		return 0;
	}
	if (!r->answered)
		fail(hc, 500);
	req_free(r);
	hc->req = NULL;
	if (hc->upgrade_fn)
		return 0; /* the parser stops here: parse() hands over */
	if (hc->closing) {
		if (hc->sfd < 0)
			hc_close(hc, 1, "done");
		return -1;
	}
	timer_set(hc, T_IDLE, cfg()->idle_timeout);
	if (hc->sfd >= 0 || hc_queued(hc) >= QUEUE_HIGH) {
		/* the next request waits for this answer to leave */
		hc->waiting = 1;
		http_parser_pause(p, 1);
	}
	return 0;
}

static int
map_parse_error(enum http_errno e)
{
	switch (e) {
	case HPE_HEADER_OVERFLOW:
		return 431;
	case HPE_INVALID_METHOD:
		return 501;
	default:
		return 400;
	}
}

static void
parse(struct http_conn *hc, const char *p, size_t n)
{
	size_t done;
	enum http_errno e;

	if (hc->dead || hc->closing)
		return;
	done = http_parser_execute(&hc->p, &settings, p, n);
	if (hc->dead)
		return;
	e = HTTP_PARSER_ERRNO(&hc->p);
	if (e == HPE_PAUSED) {
		sbuf_append(&hc->pending, p + done, n - done);
		if (hc->c)
			conn_pause(hc->c, 1);
		return;
	}
	if (e != HPE_OK) {
		/* a callback's error was answered by the callback */
		if (e >= HPE_INVALID_EOF_STATE &&
		    (hc->req == NULL || !hc->req->answered)) {
			log_debug("http %llx bad request: %s",
			    hc->c ? (unsigned long long)hc->c->id : 0ULL,
			    http_errno_name(e));
			fail(hc, map_parse_error(e));
		}
		hc->closing = 1;
		if (hc->sfd < 0)
			hc_close(hc, 1, "bad request");
		return;
	}
	if (hc->p.upgrade && hc->upgrade_fn && hc->msg_done) {
		handoff(hc, p + done, n - done);
		return;
	}
	/* upgrade is set from the headers on, but the parser stops only
	 * after the request's body */
	if ((hc->p.upgrade && hc->msg_done) || done < n) {
		hc->closing = 1;
		if (hc->sfd < 0)
			hc_close(hc, 1, "upgrade");
	}
}

static void
resume(void *arg)
{
	struct http_conn *hc = arg;
	struct sbuf b = hc->pending;

	hc->resume_queued = 0;
	if (hc->dead)
		return; /* hc_free was deferred after this */
	hc->waiting = 0;
	sbuf_init(&hc->pending);
	http_parser_pause(&hc->p, 0);
	if (b.len)
		parse(hc, b.data, b.len);
	sbuf_cleanup(&b);
	if (!hc->dead && !hc->waiting && hc->c)
		conn_pause(hc->c, 0);
	loop_kick();
}

/* After each flush: feed streams and let paused parsers go on. */
static void
http_idle(void)
{
	struct http_conn *hc;

	for (hc = all; hc; hc = hc->next) {
		if (hc->dead || hc_queued(hc) >= QUEUE_LOW)
			continue;
		if (hc->sfd >= 0) {
			stream_pump(hc);
			loop_kick();
			if (hc->sfd < 0 && hc->closing)
				hc_close(hc, 1, "done");
			continue;
		}
		if (hc->waiting && !hc->resume_queued) {
			hc->resume_queued = 1;
			loop_defer(resume, hc);
			loop_kick();
		}
	}
}

/* ---- connections ---- */

static void
hc_free(void *arg)
{
	struct http_conn *hc = arg;

	req_free(hc->req);
	sbuf_cleanup(&hc->url);
	sbuf_cleanup(&hc->hname);
	sbuf_cleanup(&hc->hval);
	sbuf_cleanup(&hc->pending);
	free(hc);
}

static void
hc_data(struct conn *c, const char *p, size_t n)
{
	struct http_conn *hc = c->owner;

	if (hc->waiting) {
		sbuf_append(&hc->pending, p, n);
		conn_pause(c, 1);
		if (hc->pending.len > PENDING_MAX)
			hc_close(hc, 0, "pipeline overflow");
		return;
	}
	if (hc->tstate == T_IDLE)
		timer_set(hc, T_HEADER, cfg()->header_timeout);
	parse(hc, p, n);
}

static void
hc_closed(struct conn *c, const char *why)
{
	struct http_conn *hc = c->owner;

	log_debug("http %llx closed: %s", (unsigned long long)c->id, why);
	hc->dead = 1;
	hc->c = NULL;
	ev_timer_stop(loop_ev, &hc->timer);
	if (hc->sfd >= 0)
		close(hc->sfd);
	hc->sfd = -1;
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		all = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	count--;
	/* req's on_free may do real work (remove a partial upload) */
	req_free(hc->req);
	hc->req = NULL;
	/* after a queued resume(), which sees it dead (defers run in
	 * order) */
	loop_defer(hc_free, hc);
}

static void
timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct http_conn *hc = w->data;

	UNUSED(l);
	UNUSED(revents);
	if (hc->dead)
		return;
	if (hc->sfd >= 0 || hc_queued(hc) > 0) {
		/* an answer is leaving: wait while it makes progress */
		size_t mark = (size_t)hc->soff + hc_queued(hc);

		if (mark != hc->progress) {
			hc->progress = mark;
			timer_set(hc, hc->tstate, cfg()->idle_timeout);
			return;
		}
		hc_close(hc, 0, "send stalled");
		return;
	}
	if (hc->tstate == T_IDLE && (hc->req == NULL || hc->msg_done)) {
		hc_close(hc, 1, "idle");
		return;
	}
	log_debug("http %llx timeout", (unsigned long long)hc->c->id);
	if (hc->req == NULL || !hc->req->answered)
		fail(hc, 408);
	hc->closing = 1;
	hc_close(hc, 1, "timeout");
}

static const struct conn_ops http_conn_ops = {
	.data = hc_data,
	.closed = hc_closed,
};

static struct http_conn *
hc_new(int lflags)
{
	struct http_conn *hc = xcalloc(1, sizeof(*hc));

	hc->lflags = lflags;
	hc->sfd = -1;
	http_parser_init(&hc->p, HTTP_REQUEST);
	hc->p.data = hc;
	sbuf_init(&hc->url);
	sbuf_init(&hc->hname);
	sbuf_init(&hc->hval);
	sbuf_init(&hc->pending);
	ev_timer_init(&hc->timer, timer_cb, 1.0, 0.0);
	hc->timer.data = hc;
	return hc;
}

void
http_conn_adopt(struct conn *c, int lflags, const char *data, size_t n)
{
	struct http_conn *hc = hc_new(lflags | (c->ssl ? HTTP_L_TLS : 0));

	hc->c = c;
	c->ops = &http_conn_ops;
	c->owner = hc;
	c->max_queue = 0; /* the server bounds its own queue */
	hc->next = all;
	if (all)
		all->prev = hc;
	all = hc;
	count++;
	/* the first request must come in time, like any other */
	timer_set(hc, T_HEADER, cfg()->header_timeout);
	if (config_running && (long long)conn_ip_count(c->peer) >
				  config_running->limits.conns_per_ip) {
		fail(hc, 503);
		hc_close(hc, 1, "too many connections");
		return;
	}
	if (n > 0)
		hc_data(c, data, n);
}

void
http_accept(int fd, const char *peer, const struct cfg_listener *l)
{
	SSL_CTX *ctx = NULL;
	struct conn *c;
	int lflags = l->metrics ? HTTP_L_METRICS : 0;

	if (l->kind == LISTEN_HTTPS) {
		ctx = tls_ctx_for(NULL);
		if (ctx == NULL) {
			close(fd);
			return;
		}
		lflags |= HTTP_L_TLS;
	}
	c = conn_new(fd, peer, ctx, &http_conn_ops, NULL);
	log_debug("http %llx accepted peer=%s%s", (unsigned long long)c->id,
	    peer, ctx ? " tls" : "");
	http_conn_adopt(c, lflags, NULL, 0);
}

unsigned
http_conn_count(void)
{
	return count;
}

void
http_close_all(void)
{
	struct http_conn *hc, *next;

	for (hc = all; hc; hc = next) {
		next = hc->next;
		hc_close(hc, 1, "shutdown");
	}
}

/* /metrics, on the listeners marked for it (elsewhere it does not
 * exist). */
static void
metrics_page(struct http_req *r)
{
	struct sbuf b;

	if (!(r->lflags & HTTP_L_METRICS) || strcmp(r->path, "/metrics") != 0) {
		http_error(r, 404);
		return;
	}
	if (r->meth != HTTP_M_GET && r->meth != HTTP_M_HEAD) {
		http_add_header(r, "Allow: GET, HEAD");
		http_error(r, 405);
		return;
	}
	sbuf_init(&b);
	metrics_write(&b);
	http_respond(r, 200,
	    "application/openmetrics-text; version=1.0.0; charset=utf-8",
	    b.data, b.len);
	sbuf_cleanup(&b);
}

void
http_init(void)
{
	http_route_add(NULL, "/metrics", metrics_page, NULL);

	http_parser_settings_init(&settings);
	settings.on_message_begin = on_message_begin;
	settings.on_url = on_url;
	settings.on_header_field = on_header_field;
	settings.on_header_value = on_header_value;
	settings.on_headers_complete = on_headers_complete;
	settings.on_body = on_body;
	settings.on_message_complete = on_message_complete;
	loop_at_idle(LOOP_AFTER_COMMIT, http_idle);
}

/* ---- without a socket (unit tests, fuzzing) ---- */

struct http_conn *
http_test_conn_new(int lflags, struct sbuf *out)
{
	struct http_conn *hc = hc_new(lflags);

	if (settings.on_message_begin == NULL) {
		http_parser_settings_init(&settings);
		settings.on_message_begin = on_message_begin;
		settings.on_url = on_url;
		settings.on_header_field = on_header_field;
		settings.on_header_value = on_header_value;
		settings.on_headers_complete = on_headers_complete;
		settings.on_body = on_body;
		settings.on_message_complete = on_message_complete;
	}
	hc->out = out;
	return hc;
}

void
http_test_conn_feed(struct http_conn *hc, const char *p, size_t n)
{
	if (hc->upgraded) {
		hc->upgrade_fn(hc->upgrade_arg, NULL, p, n);
		return;
	}
	if (hc->test_closed)
		return;
	parse(hc, p, n);
	/* no loop: send what is streamed and go on at once */
	while (!hc->test_closed && (hc->sfd >= 0 || hc->waiting)) {
		struct sbuf b = hc->pending;

		stream_pump(hc);
		if (hc->sfd >= 0)
			continue;
		if (hc->closing) {
			hc->test_closed = 1;
			break;
		}
		hc->waiting = 0;
		sbuf_init(&hc->pending);
		http_parser_pause(&hc->p, 0);
		if (b.len)
			parse(hc, b.data, b.len);
		sbuf_cleanup(&b);
	}
}

int
http_test_conn_closed(const struct http_conn *hc)
{
	return hc->test_closed;
}

void
http_test_conn_free(struct http_conn *hc)
{
	if (hc->sfd >= 0)
		close(hc->sfd);
	req_free(hc->req);
	hc->req = NULL;
	sbuf_cleanup(&hc->url);
	sbuf_cleanup(&hc->hname);
	sbuf_cleanup(&hc->hval);
	sbuf_cleanup(&hc->pending);
	free(hc);
}

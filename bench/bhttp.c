/* bhttp.c: a small blocking HTTP/1.1 client for the upload scenario: one
 * keep-alive connection (TLS for https URLs, no certificate check: it is
 * a benchmark against loopback), PUT from memory, GET counted and
 * dropped. The bytes go to bo.host whatever host the URL names (the
 * upload service's name need not resolve here). */
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "bench.h"

struct bhttp {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char buf[65536];
	size_t len; /* bytes read ahead in buf */
};

/* scheme, host:port and path of url; 0 or -1. */
static int
split_url(const char *url, int *tls, char *port, size_t psz, const char **path)
{
	const char *h, *slash, *colon;

	if (strncmp(url, "https://", 8) == 0) {
		*tls = 1;
		h = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		*tls = 0;
		h = url + 7;
	} else {
		return -1;
	}
	slash = strchr(h, '/');
	if (slash == NULL)
		return -1;
	colon = memchr(h, ':', (size_t)(slash - h));
	if (colon != NULL)
		snprintf(port, psz, "%.*s", (int)(slash - colon - 1), colon + 1);
	else
		snprintf(port, psz, "%s", *tls ? "443" : "80");
	*path = slash;
	return 0;
}

struct bhttp *
bh_open(const char *url, const char **err)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	struct bhttp *h;
	char port[16];
	const char *path;
	int tls, one = 1;

	if (split_url(url, &tls, port, sizeof(port), &path) < 0) {
		*err = "bad URL in the upload slot";
		return NULL;
	}
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(bo.host, port, &hints, &res) != 0 || res == NULL) {
		*err = "cannot resolve --host for HTTP";
		return NULL;
	}
	h = bx_calloc(1, sizeof(*h));
	h->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->fd < 0 || connect(h->fd, res->ai_addr, res->ai_addrlen) < 0) {
		freeaddrinfo(res);
		*err = "HTTP connect failed";
		bh_close(h);
		return NULL;
	}
	freeaddrinfo(res);
	setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tls) {
		h->ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_min_proto_version(h->ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(h->ctx, SSL_VERIFY_NONE, NULL);
		h->ssl = SSL_new(h->ctx);
		SSL_set_fd(h->ssl, h->fd);
		SSL_set_tlsext_host_name(h->ssl, bo.domain);
		if (SSL_connect(h->ssl) != 1) {
			ERR_clear_error();
			*err = "HTTPS handshake failed";
			bh_close(h);
			return NULL;
		}
	}
	return h;
}

static int
put_all(struct bhttp *h, const char *p, size_t n)
{
	while (n > 0) {
		size_t chunk = n > 65536 ? 65536 : n;
		ssize_t k = h->ssl ? SSL_write(h->ssl, p, (int)chunk) :
				     write(h->fd, p, chunk);

		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* More bytes into buf[len..]; -1 when the server closed. */
static int
fill(struct bhttp *h)
{
	ssize_t k;

	if (h->len == sizeof(h->buf))
		return -1;
	k = h->ssl ? SSL_read(h->ssl, h->buf + h->len,
			 (int)(sizeof(h->buf) - h->len)) :
		     read(h->fd, h->buf + h->len, sizeof(h->buf) - h->len);
	if (k <= 0)
		return -1;
	h->len += (size_t)k;
	return 0;
}

int
bh_request(struct bhttp *h, const char *url, const char *hdrs,
    const char *body, size_t n, size_t *got, const char **err)
{
	char head[2048], *end, *cl;
	const char *path;
	char port[16];
	int tls, status, hl;
	size_t left, hlen;

	if (split_url(url, &tls, port, sizeof(port), &path) < 0) {
		*err = "bad URL in the upload slot";
		return -1;
	}
	if (body != NULL)
		hl = snprintf(head, sizeof(head), "PUT %s HTTP/1.1\r\nHost: "
		    "%s\r\nContent-Type: application/octet-stream\r\n"
		    "Content-Length: %zu\r\n%s\r\n", path, bo.upload_domain, n,
		    hdrs ? hdrs : "");
	else
		hl = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: "
		    "%s\r\n\r\n", path, bo.upload_domain);
	if (hl < 0 || (size_t)hl >= sizeof(head)) {
		*err = "URL too long";
		return -1;
	}
	if (put_all(h, head, (size_t)hl) < 0 ||
	    (body != NULL && put_all(h, body, n) < 0)) {
		*err = "HTTP write failed";
		return -1;
	}
	while ((end = memmem(h->buf, h->len, "\r\n\r\n", 4)) == NULL)
		if (fill(h) < 0) {
			*err = "HTTP connection closed before an answer";
			return -1;
		}
	hlen = (size_t)(end + 4 - h->buf);
	end[2] = '\0';
	if (sscanf(h->buf, "HTTP/1.1 %d", &status) != 1) {
		*err = "not an HTTP answer";
		return -1;
	}
	cl = strcasestr(h->buf, "\r\nContent-Length:");
	left = cl ? (size_t)strtoull(cl + 17, NULL, 10) : 0;
	memmove(h->buf, h->buf + hlen, h->len - hlen);
	h->len -= hlen;
	if (got != NULL)
		*got = left;
	/* the body: counted and dropped */
	while (left > 0) {
		size_t take;

		if (h->len == 0 && fill(h) < 0) {
			*err = "HTTP connection closed in a body";
			return -1;
		}
		take = h->len < left ? h->len : left;
		memmove(h->buf, h->buf + take, h->len - take);
		h->len -= take;
		left -= take;
	}
	return status;
}

void
bh_close(struct bhttp *h)
{
	if (h == NULL)
		return;
	if (h->ssl != NULL)
		SSL_free(h->ssl);
	if (h->ctx != NULL)
		SSL_CTX_free(h->ctx);
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

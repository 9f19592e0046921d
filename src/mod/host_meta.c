/* src/mod/host_meta.c: XEP-0156 discovery of the alternative connection
 * methods: /.well-known/host-meta (XRD, RFC 6415) and host-meta.json on
 * the HTTP listeners, for requests whose Host is this host, listing the
 * WebSocket and BOSH endpoints the host's settings name. Browsers fetch
 * them from other origins, so every answer allows any origin. */
#include "mod/mod.h"

#define NS_XRD "http://docs.oasis-open.org/ns/xri/xrd-1.0"
#define REL_WS "urn:xmpp:alt-connections:websocket"
#define REL_BOSH "urn:xmpp:alt-connections:xbosh"
#define PATH_XRD "/.well-known/host-meta"
#define PATH_JSON "/.well-known/host-meta.json"

struct host_meta_cfg {
	char *websocket_url;
	char *bosh_url;
};

extern const struct module mod_host_meta;

static void
json_str(struct sbuf *b, const char *s)
{
	sbuf_putc(b, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			sbuf_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			sbuf_printf(b, "\\u%04x", ch);
		else
			sbuf_putc(b, (char)ch);
	}
	sbuf_putc(b, '"');
}

static void
link_xrd(struct sbuf *b, const char *rel, const char *href)
{
	if (href == NULL || href[0] == '\0')
		return;
	sbuf_printf(b, "  <Link rel='%s' href='", rel);
	sbuf_put_xml_escaped(b, href, strlen(href));
	sbuf_puts(b, "'/>\n");
}

static void
link_json(struct sbuf *b, const char *rel, const char *href, int *n)
{
	if (href == NULL || href[0] == '\0')
		return;
	sbuf_printf(b, "%s{\"rel\":\"%s\",\"href\":", (*n)++ ? "," : "", rel);
	json_str(b, href);
	sbuf_putc(b, '}');
}

static void
host_meta_page(struct http_req *r)
{
	struct host *h = r->route_ctx;
	const struct host_meta_cfg *hc = host_modcfg(h, &mod_host_meta);
	int json = strcmp(r->path, PATH_JSON) == 0, n = 0;
	struct sbuf b;

	http_add_header(r, "Access-Control-Allow-Origin: *");
	if (r->meth == HTTP_M_OPTIONS) {
		http_add_header(r, "Access-Control-Allow-Methods: GET, HEAD, "
				   "OPTIONS");
		http_add_header(r, "Access-Control-Allow-Headers: *");
		http_respond(r, 204, NULL, NULL, 0);
		return;
	}
	if (r->meth != HTTP_M_GET && r->meth != HTTP_M_HEAD) {
		http_add_header(r, "Allow: GET, HEAD, OPTIONS");
		http_error(r, 405);
		return;
	}
	if (!json && strcmp(r->path, PATH_XRD) != 0) {
		http_error(r, 404);
		return;
	}
	sbuf_init(&b);
	if (json) {
		sbuf_puts(&b, "{\"links\":[");
		link_json(&b, REL_WS, hc->websocket_url, &n);
		link_json(&b, REL_BOSH, hc->bosh_url, &n);
		sbuf_puts(&b, "]}\n");
	} else {
		sbuf_puts(&b, "<?xml version='1.0' encoding='utf-8'?>\n"
			      "<XRD xmlns='" NS_XRD "'>\n");
		link_xrd(&b, REL_WS, hc->websocket_url);
		link_xrd(&b, REL_BOSH, hc->bosh_url);
		sbuf_puts(&b, "</XRD>\n");
	}
	http_respond(r, 200,
	    json ? "application/json" : "application/xrd+xml; charset=utf-8",
	    b.data, b.len);
	sbuf_cleanup(&b);
}

static int
host_meta_init(struct host *h)
{
	http_route_add(h->name, PATH_XRD, host_meta_page, h);
	http_route_add(h->name, PATH_JSON, host_meta_page, h);
	return 0;
}

static void
host_meta_cleanup(struct host *h)
{
	http_route_del(h->name, PATH_XRD);
	http_route_del(h->name, PATH_JSON);
}

static const struct cfg_directive host_meta_dirs[] = {
	{ .name = "websocket_url",
	    .type = CFG_STRING,
	    .offset = offsetof(struct host_meta_cfg, websocket_url),
	    .doc = "The WebSocket endpoint clients are told about, e.g. "
		   "wss://example.org:5281/xmpp-websocket; none: not "
		   "listed." },
	{ .name = "bosh_url",
	    .type = CFG_STRING,
	    .offset = offsetof(struct host_meta_cfg, bosh_url),
	    .doc = "The BOSH endpoint clients are told about, e.g. "
		   "https://example.org:5281/http-bind; none: not listed." },
	{ .name = NULL },
};

static const struct cfg_section host_meta_section = {
	.name = "host_meta",
	.dirs = host_meta_dirs,
	.size = sizeof(struct host_meta_cfg),
	.doc = "Settings of the host_meta module.",
};

const struct module mod_host_meta = {
	.name = "host_meta",
	.spec = "XEP-0156",
	.doc = "Serves /.well-known/host-meta and host-meta.json on the HTTP "
	       "listeners for the host, naming its WebSocket and BOSH "
	       "endpoints.",
	.config = &host_meta_section,
	.init = host_meta_init,
	.cleanup = host_meta_cleanup,
};

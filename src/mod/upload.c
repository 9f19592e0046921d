/* src/mod/upload.c: XEP-0363 HTTP File Upload on a service domain
 * (upload.<host>). A local user asks for a slot (name, size, type); the
 * answer holds a PUT URL signed with the service's secret and valid for
 * slot_lifetime, and the GET URL the file will have. The file is streamed
 * to disk as it arrives, counted against the user's quota, served with
 * Range and ETag, and deleted after `expire` or with the account.
 *
 * On disk: <dir>/<service>/<slot>/data and .../meta (owner, type, size,
 * time, name). A slot is 20 random characters and a MAC of them, so a GET
 * path is checked before any file is opened; the file name in a URL is
 * compared with the meta and never touches the file system. */
#include "mod/service.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS_UPLOAD "urn:xmpp:http:upload:0"
#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_DATA "jabber:x:data"
#define STORE_UPLOAD "upload"
#define RAND_LEN 20
#define MAC_LEN 16
#define SLOT_LEN (RAND_LEN + MAC_LEN)
#define NAME_MAX_BYTES 200

struct upload_cfg {
	char *url;
	char *dir;
	char *secret;
	long long max_file_size;
	long long quota;
	long long expire;
	long long slot_lifetime;
	struct cfg_strlist types;
};

struct upload_svc {
	struct host *h;
	char *domain;
	char *base;   /* the URL up to the service's part, no '/' at the end */
	char *prefix; /* the route: "<path of url>/<domain>/" */
	char *dir;    /* <dir>/<domain> */
	unsigned char key[32];
	ev_timer expire_w;
	struct upload_svc *next;
};

extern const struct module mod_upload;
static struct upload_svc *svcs;

static const struct upload_cfg *
ucfg(const struct upload_svc *s)
{
	return host_modcfg(s->h, &mod_upload);
}

/* Seconds a file is kept (0: until the account goes): the service's
 * own expire, or the retention: section's uploads. */
static long long
keep_files(const struct upload_cfg *c)
{
	return cfg_keep(c->expire, config_running->retention.uploads);
}

/* ---- names, MACs, paths ---- */

static void
mac_b64(const struct upload_svc *s, const char *msg, char *out, size_t len)
{
	unsigned char md[32], enc[48];
	unsigned int mdlen = sizeof(md);
	size_t i;

	HMAC(EVP_sha256(), s->key, sizeof(s->key), (const unsigned char *)msg,
	    strlen(msg), md, &mdlen);
	EVP_EncodeBlock(enc, md, 30);
	/* url-safe, no padding (30 bytes: 40 characters, none) */
	for (i = 0; i + 1 < len && enc[i]; i++)
		out[i] = enc[i] == '+'	 ? '-'
			 : enc[i] == '/' ? '_'
					 : (char)enc[i];
	out[i] = '\0';
}

static void
slot_mac(const struct upload_svc *s, const char *rnd, char *out)
{
	char msg[RAND_LEN + 300];

	snprintf(msg, sizeof(msg), "get\n%s\n%.*s", s->domain, RAND_LEN, rnd);
	mac_b64(s, msg, out, MAC_LEN + 1);
}

static int
slot_valid(const struct upload_svc *s, const char *slot, size_t len)
{
	char mac[MAC_LEN + 1];
	size_t i;

	if (len != SLOT_LEN)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = slot[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			(ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return 0;
	}
	slot_mac(s, slot, mac);
	return ct_memeq(mac, slot + RAND_LEN, MAC_LEN);
}

static void
put_mac(const struct upload_svc *s, const char *slot, const char *name,
    long long size, const char *type, long long exp, const char *user,
    char *out)
{
	char *msg = xasprintf("put\n%s\n%s\n%s\n%lld\n%s\n%lld\n%s", s->domain,
	    slot, name, size, type, exp, user);

	mac_b64(s, msg, out, 41);
	free(msg);
}

/* A file name that is safe in a URL path segment and a header value. */
static char *
clean_name(const char *in)
{
	size_t n = strlen(in), i;
	char *out;

	if (n > NAME_MAX_BYTES)
		n = NAME_MAX_BYTES;
	out = xstrndup(in, n);
	for (i = 0; out[i]; i++) {
		unsigned char ch = (unsigned char)out[i];

		if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\' ||
		    ch == '"')
			out[i] = '_';
	}
	if (out[0] == '\0' || strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
		free(out);
		out = xstrdup("file");
	}
	return out;
}

static void
pct_encode(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~')
			sbuf_putc(b, (char)ch);
		else
			sbuf_printf(b, "%%%02X", ch);
	}
}

static int
rm_slot_dir(const char *dir)
{
	char *p;
	int rc = 0;

	p = xasprintf("%s/data", dir);
	unlink(p);
	free(p);
	p = xasprintf("%s/data.part", dir);
	unlink(p);
	free(p);
	p = xasprintf("%s/meta", dir);
	unlink(p);
	free(p);
	if (rmdir(dir) != 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

struct meta {
	char owner[JID_PART_MAX + 1];
	char type[256];
	long long size, created;
	char name[NAME_MAX_BYTES + 1];
};

static int
meta_read(const char *dir, struct meta *m)
{
	char *p = xasprintf("%s/meta", dir), line[1024];
	FILE *f = fopen(p, "r");
	int n = 0;

	free(p);
	if (f == NULL)
		return -1;
	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, ' ');

		line[strcspn(line, "\n")] = '\0';
		if (v == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "owner") == 0 && ++n)
			snprintf(m->owner, sizeof(m->owner), "%s", v);
		else if (strcmp(line, "type") == 0 && ++n)
			snprintf(m->type, sizeof(m->type), "%s", v);
		else if (strcmp(line, "size") == 0 && ++n)
			m->size = strtoll(v, NULL, 10);
		else if (strcmp(line, "created") == 0 && ++n)
			m->created = strtoll(v, NULL, 10);
		else if (strcmp(line, "name") == 0 && ++n)
			snprintf(m->name, sizeof(m->name), "%s", v);
	}
	fclose(f);
	return n == 5 ? 0 : -1;
}

static int
mkdirs(const char *path)
{
	char *p = xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			rc = -1;
		*s = '/';
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}

/* ---- quota ---- */

static int
usage_cb(void *ud, const char *key, const char *val, size_t len)
{
	long long *sum = ud;

	UNUSED(key);
	UNUSED(len);
	*sum += strtoll(val, NULL, 10);
	return 0;
}

static long long
user_usage(const struct upload_svc *s, const char *user)
{
	long long sum = 0;

	store_map_list(s->h->name, user, STORE_UPLOAD, usage_cb, &sum);
	return sum;
}

/* ---- the slot request (XEP-0363 §4, §5) ---- */

static int
type_allowed(const struct upload_cfg *c, const char *type)
{
	size_t i;

	if (c->types.n == 0)
		return 1;
	for (i = 0; i < c->types.n; i++) {
		const char *t = c->types.v[i];
		size_t l = strlen(t);

		/* "image/" and a star allow every image type */
		if (l > 2 && strcmp(t + l - 2, "/*") == 0 &&
		    strncasecmp(type, t, l - 1) == 0)
			return 1;
		if (strcasecmp(type, t) == 0)
			return 1;
	}
	return 0;
}

static struct upload_svc *
svc_find(const char *domain)
{
	struct upload_svc *s;

	for (s = svcs; s; s = s->next)
		if (strcmp(s->domain, domain) == 0)
			return s;
	return NULL;
}

static void
too_large(struct hook_ev *ev, long long max)
{
	struct xml_node *r = stanza_reply(ev), *e, *f;
	char num[32];

	xml_node_set_attr(r, "type", "error");
	e = stanza_error_add(r, "modify", "not-acceptable", "File too large");
	f = xml_node_child(e, NS_UPLOAD, "file-too-large");
	snprintf(num, sizeof(num), "%lld", max);
	xml_node_text(
	    xml_node_child(f, NULL, "max-file-size"), num, strlen(num));
	stanza_reply_send(ev, r);
}

static enum hook_ret
upload_request(struct hook_ev *ev)
{
	struct upload_svc *s = svc_find(ev->to->domain);
	const struct upload_cfg *c;
	const char *fname = xml_node_attr(ev->payload, "filename");
	const char *size_s = xml_node_attr(ev->payload, "size");
	const char *type = xml_node_attr(ev->payload, "content-type");
	char rnd[RAND_LEN + 1], slot[SLOT_LEN + 1], mac[41], *name, *end;
	struct xml_node *r, *sl, *put;
	long long size, exp, quota, pq = 0;
	struct hook_ev pev = { 0 };
	struct sbuf url;

	if (s == NULL) {
		stanza_reply_error(ev, "cancel", "service-unavailable", NULL);
		return HOOK_HANDLED;
	}
	c = ucfg(s);
	/* the host's own accounts only */
	if (ev->from->node == NULL || strcmp(ev->from->domain, s->h->name)) {
		stanza_reply_error(ev, "cancel", "not-allowed",
		    "Only accounts of this server may upload");
		return HOOK_HANDLED;
	}
	if (fname == NULL || size_s == NULL || fname[0] == '\0') {
		stanza_reply_error(ev, "modify", "bad-request",
		    "filename and size are required");
		return HOOK_HANDLED;
	}
	errno = 0;
	size = strtoll(size_s, &end, 10);
	if (errno || *end || end == size_s || size < 0) {
		stanza_reply_error(ev, "modify", "bad-request", "Bad size");
		return HOOK_HANDLED;
	}
	if (size > c->max_file_size) {
		too_large(ev, c->max_file_size);
		return HOOK_HANDLED;
	}
	if (type == NULL)
		type = "";
	if (strlen(type) > 200 || strpbrk(type, "\r\n") ||
	    !type_allowed(c, type[0] ? type : "application/octet-stream")) {
		stanza_reply_error(ev, "modify", "not-acceptable",
		    "This content type is not accepted");
		return HOOK_HANDLED;
	}
	quota = c->quota;
	pev.host = s->h;
	pev.user = ev->from->node;
	pev.data = &pq;
	if (hook_fire(s->h->hooks, "account/probation", &pev) == HOOK_HANDLED &&
	    pq > 0 && (quota == 0 || pq < quota))
		quota = pq; /* a new account (antispam) */
	if (quota > 0 && user_usage(s, ev->from->node) + size > quota) {
		stanza_reply_error(ev, "wait", "resource-constraint",
		    "Quota reached: delete older uploads or wait for them to "
		    "expire");
		return HOOK_HANDLED;
	}
	rand_id(rnd, sizeof(rnd));
	memcpy(slot, rnd, RAND_LEN);
	slot_mac(s, rnd, slot + RAND_LEN);
	slot[SLOT_LEN] = '\0';
	name = clean_name(fname);
	exp = now_unix() + c->slot_lifetime;
	put_mac(s, slot, name, size, type, exp, ev->from->node, mac);

	sbuf_init(&url);
	sbuf_printf(&url, "%s/%s/", s->base, slot);
	pct_encode(&url, name);
	r = stanza_reply(ev);
	sl = xml_node_child(r, NS_UPLOAD, "slot");
	put = xml_node_child(sl, NULL, "put");
	xml_node_set_attr(xml_node_child(sl, NULL, "get"), "url", url.data);
	sbuf_printf(&url, "?e=%lld&n=%lld&u=", exp, size);
	pct_encode(&url, ev->from->node);
	sbuf_printf(&url, "&s=%s", mac);
	xml_node_set_attr(put, "url", url.data);
	sbuf_cleanup(&url);
	free(name);
	log_debug("upload slot %s for %s@%s size=%lld", slot, ev->from->node,
	    s->h->name, size);
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* disco#info with the limit as an XEP-0128 form (XEP-0363 §3). */
static enum hook_ret
upload_info(struct hook_ev *ev)
{
	static const struct disco_identity id = { "store", "file",
		"HTTP File Upload" };
	static const char *const feats[] = { NS_UPLOAD, NULL };
	struct upload_svc *s = svc_find(ev->to->domain);
	struct xml_node *r, *q, *x, *f;
	char num[32];

	if (s == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	r = service_disco_info(ev, &id, feats, &q);
	if (r == NULL)
		return HOOK_HANDLED;
	x = xml_node_child(q, NS_DATA, "x");
	xml_node_set_attr(x, "type", "result");
	f = xml_node_child(x, NULL, "field");
	xml_node_set_attr(f, "var", "FORM_TYPE");
	xml_node_set_attr(f, "type", "hidden");
	xml_node_text(
	    xml_node_child(f, NULL, "value"), NS_UPLOAD, strlen(NS_UPLOAD));
	f = xml_node_child(x, NULL, "field");
	xml_node_set_attr(f, "var", "max-file-size");
	snprintf(num, sizeof(num), "%lld", ucfg(s)->max_file_size);
	xml_node_text(xml_node_child(f, NULL, "value"), num, strlen(num));
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

/* ---- HTTP ---- */

struct put_state {
	struct upload_svc *s;
	char *slotdir, *part;
	char *user, *name, *type;
	long long size;
	int fd;
	int done;
};

static void
cors(struct http_req *r)
{
	http_add_header(r, "Access-Control-Allow-Origin: *");
}

static const char *
query_param(const char *q, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);

	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t l = amp ? (size_t)(amp - q) : strlen(q);

		if (l > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
			size_t i, o = 0;

			for (i = kl + 1; i < l && o + 1 < outlen; i++) {
				if (q[i] == '%' && i + 2 < l) {
					unsigned v;

					if (sscanf(q + i + 1, "%2x", &v) != 1)
						return NULL;
					out[o++] = (char)v;
					i += 2;
				} else {
					out[o++] = q[i];
				}
			}
			out[o] = '\0';
			return out;
		}
		q = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static void
put_free(struct http_req *r)
{
	struct put_state *p = r->ctx;

	if (p == NULL)
		return;
	if (p->fd >= 0)
		close(p->fd);
	if (!p->done && p->part) {
		/* an upload that did not finish leaves nothing behind */
		unlink(p->part);
		rmdir(p->slotdir);
	}
	free(p->slotdir);
	free(p->part);
	free(p->user);
	free(p->name);
	free(p->type);
	free(p);
	r->ctx = NULL;
}

static int
put_body(struct http_req *r, const char *b, size_t n)
{
	struct put_state *p = r->ctx;

	while (n > 0) {
		ssize_t w = write(p->fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_warn("upload write %s failed: %s", p->part,
			    strerror(errno));
			cors(r);
			http_error(r, errno == ENOSPC ? 507 : 500);
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
put_end(struct http_req *r)
{
	struct put_state *p = r->ctx;
	char *data = xasprintf("%s/data", p->slotdir);
	char *meta = xasprintf("%s/meta", p->slotdir);
	char *tmp = xasprintf("%s/meta.part", p->slotdir);
	char val[64];
	FILE *f;
	long long now = now_unix();
	int rc;

	cors(r);
	if ((long long)r->body_seen != p->size) {
		http_error(r, 400);
		goto out;
	}
	/* 201 promises the file: it is on disk before the answer */
	if (fsync(p->fd) != 0 || close(p->fd) != 0) {
		p->fd = -1;
		http_error(r, 500);
		goto out;
	}
	p->fd = -1;
	f = fopen(tmp, "w");
	if (f == NULL) {
		http_error(r, 500);
		goto out;
	}
	fprintf(f, "owner %s\ntype %s\nsize %lld\ncreated %lld\nname %s\n",
	    p->user, p->type, p->size, now, p->name);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		http_error(r, 500);
		goto out;
	}
	fclose(f);
	if (rename(p->part, data) != 0 || rename(tmp, meta) != 0) {
		unlink(tmp);
		unlink(data);
		http_error(r, 500);
		goto out;
	}
	snprintf(val, sizeof(val), "%lld %lld", p->size, now);
	rc = store_map_set(p->s->h->name, p->user, STORE_UPLOAD,
	    p->slotdir + strlen(p->slotdir) - SLOT_LEN, val, strlen(val));
	if (rc != 0)
		log_warn("upload: cannot record %s for %s: %d", p->slotdir,
		    p->user, rc);
	p->done = 1;
	log_info("upload stored %s by %s@%s size=%lld", p->slotdir, p->user,
	    p->s->h->name, p->size);
	http_respond(r, 201, NULL, NULL, 0);
out:
	free(data);
	free(meta);
	free(tmp);
}

static void
handle_put(struct http_req *r, struct upload_svc *s, const char *slot,
    const char *name)
{
	const struct upload_cfg *c = ucfg(s);
	char e[32], n[32], u[JID_PART_MAX + 1], sig[64], mac[41];
	const char *type = http_req_header(r, "Content-Type");
	struct put_state *p;
	long long exp, size;

	cors(r);
	if ((r->has_length && r->length > (uint64_t)c->max_file_size)) {
		http_error(r, 413);
		return;
	}
	if (!query_param(r->query, "e", e, sizeof(e)) ||
	    !query_param(r->query, "n", n, sizeof(n)) ||
	    !query_param(r->query, "u", u, sizeof(u)) ||
	    !query_param(r->query, "s", sig, sizeof(sig)) ||
	    strlen(sig) != 40) {
		http_error(r, 403);
		return;
	}
	exp = strtoll(e, NULL, 10);
	size = strtoll(n, NULL, 10);
	if (type == NULL || type[0] == '\0')
		type = "application/octet-stream";
	/* the type the slot named, or any (allowed) when it named none */
	put_mac(s, slot, name, size, type, exp, u, mac);
	if (!ct_memeq(mac, sig, 40)) {
		put_mac(s, slot, name, size, "", exp, u, mac);
		if (!type_allowed(c, type))
			mac[0] ^= 1;
	}
	if (!ct_memeq(mac, sig, 40)) {
		/* wrong type, name, user or a forged URL */
		http_error(r, 403);
		return;
	}
	/* the body is the size the slot was given for (chunked: checked
	 * as it arrives and at its end) */
	if (r->has_length && r->length != (uint64_t)size) {
		http_error(r, 400);
		return;
	}
	if (exp < now_unix()) {
		http_error(r, 403); /* the slot expired */
		return;
	}
	if (c->quota > 0 &&
	    user_usage(s, u) + (long long)r->length > c->quota) {
		http_error(r, 413);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	p->s = s;
	p->slotdir = xasprintf("%s/%s", s->dir, slot);
	if (mkdirs(p->slotdir) != 0) {
		log_warn(
		    "upload: cannot make %s: %s", p->slotdir, strerror(errno));
		free(p->slotdir);
		free(p);
		http_error(r, 500);
		return;
	}
	p->part = xasprintf("%s/data.part", p->slotdir);
	r->ctx = p;
	r->on_free = put_free;
	{
		char *data = xasprintf("%s/data", p->slotdir);
		int exists = access(data, F_OK) == 0;

		free(data);
		if (exists) {
			free(p->part);
			p->part = NULL; /* not ours to remove */
			http_error(r, 409);
			return;
		}
	}
	p->fd = open(p->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (p->fd < 0) {
		int busy = errno == EEXIST;

		free(p->part);
		p->part = NULL;
		http_error(r, busy ? 409 : 500);
		return;
	}
	p->user = xstrdup(u);
	p->name = xstrdup(name);
	p->type = xstrdup(type);
	p->size = size;
	http_req_take_body(r, put_body, put_end, (uint64_t)size);
}

/* "bytes=a-b", "bytes=a-", "bytes=-n": 1 with [*from, *to], 0 to ignore
 * (not one byte range), -1 unsatisfiable. */
static int
parse_range(const char *h, long long size, long long *from, long long *to)
{
	long long a, b;
	char *end;

	if (strncasecmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	h += 6;
	if (*h == '-') {
		b = strtoll(h + 1, &end, 10);
		if (*end || end == h + 1)
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*from = b >= size ? 0 : size - b;
		*to = size - 1;
		return 1;
	}
	a = strtoll(h, &end, 10);
	if (end == h || *end != '-' || a < 0)
		return 0;
	h = end + 1;
	if (*h == '\0') {
		b = size - 1;
	} else {
		b = strtoll(h, &end, 10);
		if (*end || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	if (b >= size)
		b = size - 1;
	*from = a;
	*to = b;
	return 1;
}

static void
handle_get(struct http_req *r, struct upload_svc *s, const char *slot,
    const char *name)
{
	char *dir = xasprintf("%s/%s", s->dir, slot), *data;
	const char *inm = http_req_header(r, "If-None-Match");
	const char *range = http_req_header(r, "Range");
	long long from = 0, to = 0;
	struct meta m;
	struct sbuf disp;
	struct stat st;
	int fd, rr = 0;

	cors(r);
	if (meta_read(dir, &m) != 0 || strcmp(m.name, name) != 0 ||
	    (keep_files(ucfg(s)) > 0 &&
		m.created + keep_files(ucfg(s)) < now_unix())) {
		free(dir);
		http_error(r, 404);
		return;
	}
	data = xasprintf("%s/data", dir);
	free(dir);
	fd = open(data, O_RDONLY | O_CLOEXEC);
	free(data);
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		http_error(r, 404);
		return;
	}
	http_add_header(r, "ETag: \"%s\"", slot);
	http_add_header(r, "Cache-Control: public, max-age=%lld, immutable",
	    keep_files(ucfg(s)) > 0 ? keep_files(ucfg(s)) : 31536000LL);
	http_add_header(r, "X-Content-Type-Options: nosniff");
	http_add_header(r, "Content-Security-Policy: default-src 'none'");
	http_add_header(r, "Accept-Ranges: bytes");
	if (strncasecmp(m.type, "image/", 6) != 0) {
		sbuf_init(&disp);
		sbuf_puts(&disp, "attachment; filename*=UTF-8''");
		pct_encode(&disp, m.name);
		http_add_header(r, "Content-Disposition: %s", disp.data);
		sbuf_cleanup(&disp);
	}
	if (inm && (strcmp(inm, "*") == 0 || strstr(inm, slot) != NULL)) {
		close(fd);
		http_respond(r, 304, NULL, NULL, 0);
		return;
	}
	if (range)
		rr = parse_range(range, (long long)st.st_size, &from, &to);
	if (rr < 0) {
		close(fd);
		http_add_header(
		    r, "Content-Range: bytes */%lld", (long long)st.st_size);
		http_error(r, 416);
		return;
	}
	if (rr > 0) {
		http_add_header(r, "Content-Range: bytes %lld-%lld/%lld", from,
		    to, (long long)st.st_size);
		http_respond_fd(r, 206, m.type, fd, from, to - from + 1);
		return;
	}
	http_respond_fd(r, 200, m.type, fd, 0, st.st_size);
}

static void
upload_http(struct http_req *r)
{
	struct upload_svc *s = r->route_ctx;
	const char *rest = r->path + strlen(s->prefix), *slash;
	char slot[SLOT_LEN + 1];

	if (r->meth == HTTP_M_OPTIONS) {
		/* CORS preflight (Fetch standard) */
		cors(r);
		http_add_header(r, "Access-Control-Allow-Methods: GET, HEAD, "
				   "PUT, OPTIONS");
		http_add_header(r, "Access-Control-Allow-Headers: "
				   "Content-Type, Content-Length");
		http_add_header(r, "Access-Control-Max-Age: 86400");
		http_respond(r, 204, NULL, NULL, 0);
		return;
	}
	slash = strchr(rest, '/');
	if (slash == NULL || !slot_valid(s, rest, (size_t)(slash - rest)) ||
	    slash[1] == '\0' || strchr(slash + 1, '/') != NULL) {
		cors(r);
		http_error(r, 404);
		return;
	}
	memcpy(slot, rest, SLOT_LEN);
	slot[SLOT_LEN] = '\0';
	switch (r->meth) {
	case HTTP_M_GET:
	case HTTP_M_HEAD:
		handle_get(r, s, slot, slash + 1);
		break;
	case HTTP_M_PUT:
		handle_put(r, s, slot, slash + 1);
		break;
	default:
		http_add_header(r, "Allow: GET, HEAD, PUT, OPTIONS");
		http_error(r, 405);
		break;
	}
}

/* ---- expiry and deletion ---- */

static void
expire_scan(struct upload_svc *s)
{
	long long keep = keep_files(ucfg(s)), now = now_unix();
	DIR *d;
	struct dirent *de;
	long n = 0;

	if (keep <= 0 || (d = opendir(s->dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct meta m;
		struct stat st;
		char *dir;

		if (!slot_valid(s, de->d_name, strlen(de->d_name)))
			continue;
		dir = xasprintf("%s/%s", s->dir, de->d_name);
		if (meta_read(dir, &m) == 0) {
			if (m.created + keep < now) {
				rm_slot_dir(dir);
				store_map_del(s->h->name, m.owner, STORE_UPLOAD,
				    de->d_name);
				n++;
			}
		} else if (stat(dir, &st) == 0 && st.st_mtime + keep < now) {
			/* left by an upload cut short by a crash */
			rm_slot_dir(dir);
		}
		free(dir);
	}
	closedir(d);
	if (n)
		log_info("upload expired count=%ld service=%s", n, s->domain);
}

static void
expire_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	UNUSED(l);
	UNUSED(revents);
	expire_scan(w->data);
}

struct del_ctx {
	const char *host;
	int n;
};

static int
del_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct del_ctx *dc = ud;
	struct upload_svc *s;

	UNUSED(val);
	UNUSED(len);
	for (s = svcs; s; s = s->next) {
		char *dir;

		if (strcmp(s->h->name, dc->host) != 0 ||
		    !slot_valid(s, key, strlen(key)))
			continue;
		dir = xasprintf("%s/%s", s->dir, key);
		rm_slot_dir(dir);
		free(dir);
		dc->n++;
	}
	return 0;
}

static enum hook_ret
upload_user_deleted(struct hook_ev *ev)
{
	struct del_ctx dc = { ev->host->name, 0 };

	store_map_list(ev->host->name, ev->user, STORE_UPLOAD, del_cb, &dc);
	if (dc.n)
		log_info("upload deleted %d files of %s@%s", dc.n, ev->user,
		    ev->host->name);
	return HOOK_CONTINUE;
}

/* ---- setup ---- */

static int
host_has_upload(const struct host *h)
{
	const struct upload_svc *o;

	for (o = svcs; o; o = o->next)
		if (o->h == h)
			return 1;
	return 0;
}

static int
load_key(struct upload_svc *s, const struct upload_cfg *c)
{
	char *val = NULL;
	size_t len = 0;

	if (c->secret && c->secret[0]) {
		char *msg = xasprintf("tern upload %s", s->domain);
		unsigned int l = sizeof(s->key);

		HMAC(EVP_sha256(), c->secret, (int)strlen(c->secret),
		    (const unsigned char *)msg, strlen(msg), s->key, &l);
		free(msg);
		return 0;
	}
	/* a random secret, kept in the store so URLs survive restarts */
	if (store_kv_get(s->domain, "", "upload-secret", &val, &len) == 0 &&
	    val && len == sizeof(s->key) * 2) {
		size_t i;

		for (i = 0; i < sizeof(s->key); i++) {
			unsigned v;

			if (sscanf(val + 2 * i, "%2x", &v) != 1)
				break;
			s->key[i] = (unsigned char)v;
		}
		free(val);
		if (i == sizeof(s->key))
			return 0;
	} else {
		free(val);
	}
	{
		char hex[sizeof(s->key) * 2 + 1];
		size_t i;

		rand_bytes(s->key, sizeof(s->key));
		for (i = 0; i < sizeof(s->key); i++)
			snprintf(hex + 2 * i, 3, "%02x", s->key[i]);
		if (store_kv_set(s->domain, "", "upload-secret", hex,
			sizeof(s->key) * 2) != 0)
			return -1;
	}
	return 0;
}

static int
upload_service_init(struct host *h, struct host_service *hs)
{
	const struct upload_cfg *c = host_modcfg(h, &mod_upload);
	struct upload_svc *s = xcalloc(1, sizeof(*s));
	const char *path;
	char *dir;
	double every;

	s->h = h;
	s->domain = xstrdup(hs->domain);
	if (c->url && c->url[0]) {
		size_t l = strlen(c->url);

		while (l > 0 && c->url[l - 1] == '/')
			l--;
		s->base = xasprintf("%.*s/%s", (int)l, c->url, s->domain);
	} else {
		s->base = xasprintf(
		    "https://%s:5281/upload/%s", s->domain, s->domain);
	}
	/* the route: the URL's path */
	path = strstr(s->base, "://");
	path = path ? strchr(path + 3, '/') : NULL;
	s->prefix = xasprintf("%s/", path ? path : "/");
	if (c->dir[0] == '/' || config_running == NULL ||
	    strrchr(config_running->file, '/') == NULL) {
		dir = xstrdup(c->dir);
	} else {
		const char *f = config_running->file;

		dir =
		    xasprintf("%.*s/%s", (int)(strrchr(f, '/') - f), f, c->dir);
	}
	s->dir = xasprintf("%s/%s", dir, s->domain);
	free(dir);
	if (mkdirs(s->dir) != 0) {
		log_err("upload: cannot make %s: %s", s->dir, strerror(errno));
		goto fail;
	}
	if (load_key(s, c) != 0)
		goto fail;
	if (http_route_add(NULL, s->prefix, upload_http, s) != 0) {
		log_err("upload: %s is served twice", s->prefix);
		goto fail;
	}
	/* one deletion handler per host, whatever its upload services */
	if (!host_has_upload(h))
		hook_add(h->hooks, "user/deleted", upload_user_deleted, 0);
	every = keep_files(c) > 0 ? (double)keep_files(c) / 10 : 3600;
	if (every < 1)
		every = 1;
	if (every > 3600)
		every = 3600;
	ev_timer_init(&s->expire_w, expire_cb, 1.0, every);
	s->expire_w.data = s;
	ev_timer_start(loop_ev, &s->expire_w);
	s->next = svcs;
	svcs = s;
	hs->data = s;
	log_debug("upload %s: url %s dir %s", s->domain, s->base, s->dir);
	return 0;
fail:
	free(s->domain);
	free(s->base);
	free(s->prefix);
	free(s->dir);
	free(s);
	return -1;
}

static void
upload_service_cleanup(struct host *h, struct host_service *hs)
{
	struct upload_svc *s = hs->data, **pp;

	UNUSED(h);
	if (s == NULL)
		return;
	for (pp = &svcs; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	ev_timer_stop(loop_ev, &s->expire_w);
	http_route_del(NULL, s->prefix);
	free(s->domain);
	free(s->base);
	free(s->prefix);
	free(s->dir);
	free(s);
	hs->data = NULL;
}

static const struct cfg_directive upload_dirs[] = {
	{ .name = "url",
	    .type = CFG_STRING,
	    .offset = offsetof(struct upload_cfg, url),
	    .doc = "Base URL of the upload service as clients reach it (an "
		   "http or https listener), e.g. "
		   "https://upload.example.org:5281/upload; the service's "
		   "domain and the file's slot follow it. Unset: "
		   "https://<service domain>:5281/upload." },
	{ .name = "dir",
	    .type = CFG_STRING,
	    .offset = offsetof(struct upload_cfg, dir),
	    .def = "uploads",
	    .doc = "Directory the files are stored under (one folder per "
		   "service domain); relative to the config file's "
		   "directory." },
	{ .name = "secret",
	    .type = CFG_STRING,
	    .offset = offsetof(struct upload_cfg, secret),
	    .doc = "Secret the upload URLs are signed with (HMAC-SHA-256). "
		   "Unset: a random one kept in the store." },
	{ .name = "max_file_size",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct upload_cfg, max_file_size),
	    .def = "100M",
	    .min = 1,
	    .max = 1LL << 40,
	    .doc = "Largest file a user may upload (announced in service "
		   "discovery)." },
	{ .name = "quota",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct upload_cfg, quota),
	    .def = "1G",
	    .min = 0,
	    .max = 1LL << 50,
	    .doc = "Bytes of stored files per user (0: no quota)." },
	{ .name = "expire",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct upload_cfg, expire),
	    .def = "policy",
	    .min = -1,
	    .max = 100LL * 366 * 86400,
	    .doc = "Age after which files are deleted (0: kept until the "
		   "account is deleted; policy: retention.uploads)." },
	{ .name = "slot_lifetime",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct upload_cfg, slot_lifetime),
	    .def = "5m",
	    .min = 1,
	    .max = 86400,
	    .doc = "How long an upload URL may be used after it was given "
		   "out." },
	{ .name = "content_types",
	    .type = CFG_STRLIST,
	    .offset = offsetof(struct upload_cfg, types),
	    .doc = "Content types accepted (`image/*` for a whole kind); "
		   "empty: any." },
	{ .name = NULL },
};

static const struct cfg_section upload_section = {
	.name = "upload",
	.dirs = upload_dirs,
	.size = sizeof(struct upload_cfg),
	.doc = "Settings of the upload service.",
};

static const struct hook_reg upload_hooks[] = {
	{ "iq-get/host/" NS_UPLOAD ":request", upload_request, 0 },
	{ "iq-get/host/" NS_INFO ":query", upload_info, 0 },
	{ "iq-get/host/" NS_ITEMS ":query", service_disco_items, 0 },
	HOOK_REG_END,
};

const struct module mod_upload = {
	.name = "upload",
	.spec = "XEP-0363",
	.doc = "HTTP file upload on a service domain (services: list), "
	       "served by the http and https listeners.",
	.kinds = MODULE_ON_SERVICE,
	.service_hooks = upload_hooks,
	.config = &upload_section,
	.service_init = upload_service_init,
	.service_cleanup = upload_service_cleanup,
};

/* src/mod/invites.c: XEP-0401 easy onboarding — invitations made by
 * ad-hoc command (urn:xmpp:invite#invite for a user's contacts,
 * urn:xmpp:invite#create-account for admins) and, on "invite/used"
 * (fired by the register module when an account is created with one),
 * XEP-0379 pre-approval: the new account and the inviter become mutual
 * contacts. A landing page per invitation on the HTTP listeners,
 * /invite/<token>: the xmpp: URI as a link and a QR code, clients to
 * install, and a form that registers the account on the web. The store
 * is xmpp/invite.c, shared with ternctl. */
#include <qrencode.h>

#include "mod/mod.h"
#include "mod/adhoc.h"
#include "mod/roster.h"
#include "xmpp/account.h"
#include "xmpp/invite.h"
#include "xmpp/users.h"

#define PATH_PAGE "/invite/"
#define NS_PARS "urn:xmpp:pars:0"
/* The web form's body: two short fields and the token. */
#define FORM_MAX 4096
/* Web registrations need this many characters in a password at least
 * (the register module has its own setting for in-band ones). */
#define WEB_MIN_PASSWORD 8

#define NODE_INVITE "urn:xmpp:invite#invite"
#define NODE_ACCOUNT "urn:xmpp:invite#create-account"

struct invites_cfg {
	int users_create_accounts;
	long long ttl;
};

extern const struct module mod_invites;

/* user@host gets contact (bare) as a mutual contact, in group if any. */
static int
befriend(
    const char *host, const char *user, const char *contact, const char *group)
{
	struct roster_item it;
	char *groups[1];
	int rc;

	if (roster_item_get(host, user, contact, &it) < 0) {
		roster_item_cleanup(&it);
		return -1;
	}
	it.sub = ROSTER_SUB_BOTH;
	it.ask = it.pending_in = it.hidden = 0;
	if (group && group[0] && it.ngroups == 0) {
		groups[0] = (char *)(uintptr_t)group;
		it.groups = groups;
		it.ngroups = 1;
		rc = roster_item_put(host, user, &it);
		it.groups = NULL;
		it.ngroups = 0;
	} else {
		rc = roster_item_put(host, user, &it);
	}
	roster_item_cleanup(&it);
	return rc;
}

static void invite_befriend(
    struct host *h, const char *user, const struct invite *inv);

static enum hook_ret
invite_used(struct hook_ev *ev)
{
	invite_befriend(ev->host, ev->user, ev->data);
	return HOOK_CONTINUE;
}

static void
invite_befriend(struct host *h, const char *user, const struct invite *inv)
{
	const char *host = h->name;
	char a[2 * JID_PART_MAX + 2], b[2 * JID_PART_MAX + 2];

	if (inv->inviter[0] == '\0' || strcmp(inv->inviter, user) == 0)
		return;
	snprintf(a, sizeof(a), "%s@%s", inv->inviter, host);
	snprintf(b, sizeof(b), "%s@%s", user, host);
	if (befriend(host, user, a, inv->group) < 0 ||
	    befriend(host, inv->inviter, b, NULL) < 0)
		log_err("invites: could not make %s and %s contacts", a, b);
	else
		log_info("invite used jid=%s inviter=%s", b, a);
}

/* ---- XEP-0379: a subscription request that carries the token ---- */

/* Someone with an account anywhere sends the inviter a subscription
 * request with <preauth token/> of the inviter's contact invitation:
 * the request is pre-approved (the presence module then answers
 * subscribed, RFC 6121 §3.4) and the inviter asks back, so both see
 * each other. Runs before the presence module. */
static enum hook_ret
subscribe_in(struct hook_ev *ev)
{
	struct xml_node *pa, *m;
	const char *token, *contact = ev->from->bare;
	struct roster_item it;
	struct invite inv;
	char id[18];

	if (strcmp(ev->type, "subscribe") != 0 || ev->to->node == NULL ||
	    ev->from->node == NULL)
		return HOOK_CONTINUE;
	pa = xml_node_find(ev->stanza, NS_PARS, "preauth");
	token = pa ? xml_node_attr(pa, "token") : NULL;
	if (token == NULL || invite_get(ev->host->name, token, &inv) != 0 ||
	    inv.kind != INVITE_CONTACT ||
	    strcmp(inv.inviter, ev->to->node) != 0)
		return HOOK_CONTINUE; /* an ordinary request */
	if (roster_item_get(ev->host->name, ev->to->node, contact, &it) < 0) {
		roster_item_cleanup(&it);
		return HOOK_CONTINUE;
	}
	it.approved = 1;
	it.hidden = 0;
	if (it.sub != ROSTER_SUB_TO && it.sub != ROSTER_SUB_BOTH)
		it.ask = 1;
	if (roster_item_put(ev->host->name, ev->to->node, &it) != 0) {
		roster_item_cleanup(&it);
		return HOOK_CONTINUE;
	}
	if (invite_use(ev->host->name, &inv) < 0)
		log_err("invites: could not count the use of an invitation "
			"host=%s",
		    ev->host->name);
	log_info("invite used contact=%s inviter=%s", contact, ev->to->bare);
	if (it.ask) {
		m = xml_node_new(XML_NS_CLIENT, "presence");
		xml_node_set_attr(m, "from", ev->to->bare);
		xml_node_set_attr(m, "to", contact);
		xml_node_set_attr(m, "type", "subscribe");
		rand_id(id, sizeof(id));
		xml_node_set_attr(m, "id", id);
		stanza_send(m);
	}
	roster_item_cleanup(&it);
	return HOOK_CONTINUE;
}

/* ---- the landing page ---- */

static void
uri_of(const char *host, const struct invite *inv, char *out, size_t len)
{
	if (inv->kind == INVITE_CONTACT)
		snprintf(out, len, "xmpp:%s@%s?roster;preauth=%s;ibr=y",
		    inv->inviter, host, inv->token);
	else
		snprintf(
		    out, len, "xmpp:%s?register;preauth=%s", host, inv->token);
}

static void
esc(struct sbuf *b, const char *s)
{
	sbuf_put_xml_escaped(b, s, strlen(s));
}

/* The QR code of text as an inline SVG, one path of dark modules. */
static void
qr_svg(struct sbuf *b, const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	int x, y, w;

	if (qr == NULL)
		return;
	w = qr->width;
	sbuf_printf(b,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qr\" "
	    "viewBox=\"-4 -4 %d %d\" width=\"240\" height=\"240\" "
	    "shape-rendering=\"crispEdges\"><rect x=\"-4\" y=\"-4\" "
	    "width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" "
	    "d=\"",
	    w + 8, w + 8, w + 8, w + 8);
	for (y = 0; y < w; y++)
		for (x = 0; x < w; x++)
			if (qr->data[y * w + x] & 1)
				sbuf_printf(b, "M%d %dh1v1h-1z", x, y);
	sbuf_puts(b, "\"/></svg>\n");
	QRcode_free(qr);
}

static void
page_start(struct sbuf *b, const char *title)
{
	sbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		     "<meta charset=\"utf-8\"><meta name=\"viewport\" "
		     "content=\"width=device-width, initial-scale=1\"><title>");
	esc(b, title);
	sbuf_puts(b, "</title><style>body{font-family:sans-serif;max-width:"
		     "40em;margin:2em auto;padding:0 1em;line-height:1.4}"
		     ".qr{display:block;margin:1em 0}a.button{display:inline-"
		     "block;padding:.6em 1.2em;background:#1565c0;color:#fff;"
		     "border-radius:4px;text-decoration:none}label{display:"
		     "block;margin:.5em 0}</style></head><body>\n<h1>");
	esc(b, title);
	sbuf_puts(b, "</h1>\n");
}

static void
page_send(struct http_req *r, int status, struct sbuf *b)
{
	sbuf_puts(b, "</body></html>\n");
	http_add_header(r, "Cache-Control: no-store");
	http_add_header(r, "Referrer-Policy: no-referrer");
	http_add_header(r, "X-Content-Type-Options: nosniff");
	http_add_header(r, "Content-Security-Policy: default-src 'none'; "
			   "style-src 'unsafe-inline'; form-action 'self'");
	http_respond(r, status, "text/html; charset=utf-8", b->data, b->len);
	sbuf_cleanup(b);
}

static void
page_gone(struct http_req *r)
{
	struct sbuf b;

	sbuf_init(&b);
	page_start(&b, "Invitation not found");
	sbuf_puts(&b, "<p>This invitation does not exist, has expired or "
		      "has already been used. Ask the person who invited you "
		      "for a new one.</p>\n");
	page_send(r, 404, &b);
}

static const char *const clients[][3] = {
	{ "Android", "Conversations", "https://conversations.im/" },
	{ "Android", "Monocles Chat", "https://monocles.eu/" },
	{ "iOS", "Monal", "https://monal-im.org/" },
	{ "iOS", "Siskin IM", "https://siskin.im/" },
	{ "Desktop", "Gajim", "https://gajim.org/" },
	{ "Desktop", "Dino", "https://dino.im/" },
};

static void
page_invite(struct http_req *r, struct host *h, const struct invite *inv,
    const char *problem)
{
	char uri[3200];
	struct sbuf b;
	size_t i;

	uri_of(h->name, inv, uri, sizeof(uri));
	sbuf_init(&b);
	page_start(&b, inv->kind == INVITE_CONTACT ? "You are invited to chat"
						   : "You are invited");
	sbuf_puts(&b, "<p>");
	if (inv->kind == INVITE_CONTACT) {
		esc(&b, inv->inviter);
		sbuf_putc(&b, '@');
		esc(&b, h->name);
		sbuf_puts(&b, " invites you to chat on XMPP, and to ");
	} else {
		sbuf_puts(&b, "You are invited to ");
	}
	sbuf_puts(&b, "create an account on <strong>");
	esc(&b, h->name);
	sbuf_puts(&b, "</strong>.</p>\n<h2>1. Install a client</h2>\n<ul>\n");
	for (i = 0; i < ARRAY_LEN(clients); i++) {
		sbuf_puts(&b, "<li>");
		esc(&b, clients[i][0]);
		sbuf_puts(&b, ": <a href=\"");
		esc(&b, clients[i][2]);
		sbuf_puts(&b, "\">");
		esc(&b, clients[i][1]);
		sbuf_puts(&b, "</a></li>\n");
	}
	sbuf_puts(&b, "</ul>\n<h2>2. Open the invitation in it</h2>\n"
		      "<p><a class=\"button\" id=\"uri\" href=\"");
	esc(&b, uri);
	sbuf_puts(&b, "\">Open the invitation</a></p>\n<p>or scan this code "
		      "with the app:</p>\n");
	qr_svg(&b, uri);
	sbuf_puts(&b, "<p><small>");
	esc(&b, uri);
	sbuf_puts(&b, "</small></p>\n<h2>Or register here</h2>\n");
	if (problem) {
		sbuf_puts(&b, "<p class=\"error\" id=\"problem\"><strong>");
		esc(&b, problem);
		sbuf_puts(&b, "</strong></p>\n");
	}
	sbuf_puts(&b, "<form method=\"post\"><input type=\"hidden\" "
		      "name=\"token\" value=\"");
	esc(&b, inv->token);
	sbuf_puts(&b, "\"><label>Username <input name=\"username\" "
		      "required maxlength=\"64\" autocomplete=\"username\">@");
	esc(&b, h->name);
	sbuf_puts(&b,
	    "</label><label>Password <input name=\"password\" "
	    "type=\"password\" required autocomplete=\"new-password\">"
	    "</label><button type=\"submit\">Create the account"
	    "</button></form>\n");
	page_send(r, problem ? 400 : 200, &b);
}

struct form {
	struct sbuf body;
};

static void
form_free(struct http_req *r)
{
	struct form *f = r->ctx;

	sbuf_cleanup(&f->body);
	free(f);
	r->ctx = NULL;
}

static int
form_body(struct http_req *r, const char *p, size_t n)
{
	struct form *f = r->ctx;

	sbuf_append(&f->body, p, n);
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The urlencoded field name of body into out (decoded): 0, or -1 when
 * absent, too long or badly encoded. */
static int
form_field(const char *body, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name), o = 0;
	const char *p = body;
	int hi, lo;

	while (*p) {
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			for (p += nl + 1; *p && *p != '&'; p++) {
				char c = *p;

				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					hi = hexval(p[1]);
					lo = hi < 0 ? -1 : hexval(p[2]);
					if (lo < 0)
						return -1;
					c = (char)(hi * 16 + lo);
					p += 2;
				}
				if (c == '\0' || o + 1 >= len)
					return -1;
				out[o++] = c;
			}
			out[o] = '\0';
			return 0;
		}
		p = strchr(p, '&');
		if (p == NULL)
			break;
		p++;
	}
	return -1;
}

static void
form_end(struct http_req *r)
{
	struct host *h = r->route_ctx;
	struct form *f = r->ctx;
	const char *token = r->path + strlen(PATH_PAGE), *why;
	char user[JID_PART_MAX + 1], pw[1024], posted[64];
	struct invite inv;
	struct jid j;
	struct sbuf b;
	int rc;

	sbuf_putc(&f->body, '\0');
	if (invite_get(h->name, token, &inv) != 0) {
		page_gone(r);
		return;
	}
	/* the form names the token it was served for: a post to another
	 * invitation's address is refused */
	if (form_field(f->body.data, "token", posted, sizeof(posted)) < 0 ||
	    strcmp(posted, token) != 0) {
		page_invite(r, h, &inv,
		    "The form does not match this invitation; reload the "
		    "page.");
		return;
	}
	if (form_field(f->body.data, "username", user, sizeof(user)) < 0 ||
	    form_field(f->body.data, "password", pw, sizeof(pw)) < 0 ||
	    user[0] == '\0' || pw[0] == '\0') {
		page_invite(
		    r, h, &inv, "A username and a password are needed.");
		return;
	}
	if (jid_make(&j, user, h->name, NULL) != 0) {
		page_invite(r, h, &inv, "That username is not valid.");
		return;
	}
	why = account_password_weak(WEB_MIN_PASSWORD, j.node, pw);
	if (why == NULL)
		why = account_password_problem(pw);
	if (why) {
		page_invite(r, h, &inv, why);
		goto out_jid;
	}
	rc = account_create(h->name, j.node, pw);
	if (rc != 0) {
		page_invite(r, h, &inv,
		    rc == 1 ? "That username is taken; choose another."
			    : "The server could not create the account; try "
			      "again later.");
		goto out_jid;
	}
	if (invite_use(h->name, &inv) < 0)
		log_err("invites: could not count the use of an invitation "
			"host=%s",
		    h->name);
	log_info("account registered jid=%s ip=%s invite=%s web", j.bare,
	    r->peer, invite_kind_name(inv.kind));
	users_created(h, j.node);
	invite_befriend(h, j.node, &inv);
	sbuf_init(&b);
	page_start(&b, "Your account is ready");
	sbuf_puts(&b, "<p>Your address is <strong id=\"jid\">");
	esc(&b, j.bare);
	sbuf_puts(&b, "</strong>. Log in with it and your password in any "
		      "XMPP client.</p>\n");
	page_send(r, 200, &b);
out_jid:
	jid_cleanup(&j);
}

static void
invite_page(struct http_req *r)
{
	struct host *h = r->route_ctx;
	const char *token = r->path + strlen(PATH_PAGE);
	struct invite inv;
	struct form *f;
	int rc;

	if (r->meth != HTTP_M_GET && r->meth != HTTP_M_HEAD &&
	    r->meth != HTTP_M_POST) {
		http_add_header(r, "Allow: GET, HEAD, POST");
		http_error(r, 405);
		return;
	}
	if (strncmp(r->path, PATH_PAGE, strlen(PATH_PAGE)) != 0) {
		page_gone(r);
		return;
	}
	rc = invite_get(h->name, token, &inv);
	if (rc != 0) {
		if (rc < 0)
			http_error(r, 500);
		else
			page_gone(r);
		return;
	}
	if (r->meth != HTTP_M_POST) {
		page_invite(r, h, &inv, NULL);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	sbuf_init(&f->body);
	r->ctx = f;
	r->on_free = form_free;
	http_req_take_body(r, form_body, form_end, FORM_MAX);
}

static int
invites_init(struct host *h)
{
	http_route_add(h->name, PATH_PAGE, invite_page, h);
	return 0;
}

static void
invites_cleanup(struct host *h)
{
	http_route_del(h->name, PATH_PAGE);
}

/* ---- ad-hoc commands ---- */

static int
is_admin(const struct hook_ev *ev)
{
	return ev->session != NULL && ev->from->node != NULL &&
	       host_is_admin(ev->host, ev->from->bare);
}

static int
is_local_user(const struct hook_ev *ev)
{
	return ev->session != NULL && ev->from->node != NULL &&
	       strcmp(ev->from->domain, ev->host->name) == 0;
}

static int
may_create_account(const struct hook_ev *ev)
{
	const struct invites_cfg *ic = host_modcfg(ev->host, &mod_invites);

	return is_admin(ev) || (ic->users_create_accounts && is_local_user(ev));
}

static enum adhoc_status
make_invite(struct adhoc_req *rq, enum invite_kind kind)
{
	const struct invites_cfg *ic = host_modcfg(rq->ev->host, &mod_invites);
	const char *host = rq->ev->host->name;
	struct invite inv = { .kind = kind, .uses = 1 };
	struct xml_node *x, *f;
	char uri[3200];
	int rc;

	snprintf(inv.inviter, sizeof(inv.inviter), "%s", rq->ev->from->node);
	inv.created = now_unix();
	inv.expires = inv.created + ic->ttl;
	rc = invite_create(host, &inv);
	if (rc == 1)
		return adhoc_fail(rq, "wait", "resource-constraint",
		    "this server holds too many invitations");
	if (rc < 0)
		return adhoc_fail(rq, "wait", "internal-server-error", NULL);
	uri_of(host, &inv, uri, sizeof(uri));
	log_info("invite created kind=%s inviter=%s", invite_kind_name(kind),
	    rq->ev->from->bare);
	x = adhoc_form(rq, "result", "Invitation created", NULL, NULL);
	f = adhoc_field(x, "uri", "text-single", "Invitation URI", 0);
	adhoc_value(f, uri);
	f = adhoc_field(x, "token", "text-single", "Token", 0);
	adhoc_value(f, inv.token);
	snprintf(uri, sizeof(uri), "%lld", (long long)inv.expires);
	f = adhoc_field(x, "expire", "text-single", "Expires (Unix time)", 0);
	adhoc_value(f, uri);
	return ADHOC_COMPLETED;
}

static enum adhoc_status
run_invite(struct adhoc_req *rq)
{
	return make_invite(rq, INVITE_CONTACT);
}

static enum adhoc_status
run_create_account(struct adhoc_req *rq)
{
	return make_invite(rq, INVITE_ACCOUNT);
}

static const struct adhoc_cmd invite_cmds[] = {
	{ NODE_INVITE, "Invite a contact", is_local_user, run_invite },
	{ NODE_ACCOUNT, "Create an account invitation", may_create_account,
	    run_create_account },
};

static enum hook_ret
invites_commands(struct hook_ev *ev)
{
	adhoc_offer(ev->data, invite_cmds, ARRAY_LEN(invite_cmds));
	return HOOK_CONTINUE;
}

static const struct cfg_directive invites_dirs[] = {
	{ .name = "users_create_accounts",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct invites_cfg, users_create_accounts),
	    .def = "false",
	    .doc = "Let every user of the host run the ad-hoc command "
		   "urn:xmpp:invite#create-account (else only admins)." },
	{ .name = "expiry",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct invites_cfg, ttl),
	    .def = "7d",
	    .min = 60,
	    .max = 31536000,
	    .doc = "How long an invitation made by ad-hoc command stays "
		   "valid (single use)." },
	{ .name = NULL },
};

static const struct cfg_section invites_section = {
	.name = "invites",
	.dirs = invites_dirs,
	.size = sizeof(struct invites_cfg),
	.doc = "Settings of the invites module.",
};

static const struct hook_reg invites_hooks[] = {
	{ "invite/used", invite_used, 0 },
	/* before the presence module's (0) */
	{ "presence/bare", subscribe_in, 5 },
	{ "adhoc/commands", invites_commands, 0 },
	HOOK_REG_END,
};

const struct module mod_invites = {
	.name = "invites",
	.spec = "XEP-0401, XEP-0379",
	.doc = "Invitations: ad-hoc commands that make them, a landing page "
	       "per invitation (/invite/TOKEN on the HTTP listeners: URI, QR "
	       "code, clients, web sign-up); an account registered with one "
	       "becomes the inviter's mutual contact.",
	.hooks = invites_hooks,
	.config = &invites_section,
	.init = invites_init,
	.cleanup = invites_cleanup,
	.depends = (const char *const[]){ "adhoc", "roster", "register", NULL },
};

/* src/mod/register.c: XEP-0077 In-Band Registration — account creation
 * before authentication (off unless allow_registration or invite_only),
 * and password change, account removal and registration info once
 * logged in. XEP-0445: an invitation token (<preauth/> before the form,
 * or inside the query) lets its holder register; the invites module
 * hears "invite/used" and makes the inviter a contact. */
#include <arpa/inet.h>

#include "mod/mod.h"
#include "xmpp/account.h"
#include "xmpp/invite.h"
#include "xmpp/users.h"

#define NS_REGISTER "jabber:iq:register"
#define NS_FEATURE "http://jabber.org/features/iq-register"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_PARS "urn:xmpp:pars:0"
#define NS_IBR_TOKEN "urn:xmpp:ibr-token:0"
/* Streams that sent an accepted <preauth/>, all hosts together, and how
 * long one is remembered (XEP-0445: expiry is checked only then). */
#define PREAUTH_MAX 1024
#define PREAUTH_TTL 3600

#define THROTTLE_WINDOW 3600
/* Registrations remembered for throttling, all hosts together: past it,
 * everyone waits (a peer cannot make us allocate). */
#define THROTTLE_MAX 4096

struct register_cfg {
	int allow;
	int invite_only;
	long long per_ip;
	long long per_net;
	long long min_length;
};

extern const struct module mod_register;

struct reg_mark {
	const struct host *h;
	int64_t when;
	char ip[48];
	char net[56];
};

static struct reg_mark marks[THROTTLE_MAX];
static size_t nmarks;

struct preauth {
	uint64_t connid;
	const struct host *h;
	int64_t when;
	struct invite inv;
};

static struct preauth preauths[PREAUTH_MAX];
static size_t npreauths;

/* The invite this stream showed, or NULL; forgets old ones. */
static struct preauth *
preauth_find(const struct host *h, uint64_t connid)
{
	int64_t since = now_unix() - PREAUTH_TTL;
	struct preauth *found = NULL;
	size_t i, j = 0;

	for (i = 0; i < npreauths; i++) {
		if (preauths[i].when <= since)
			continue;
		preauths[j++] = preauths[i];
		if (preauths[j - 1].connid == connid && preauths[j - 1].h == h)
			found = &preauths[j - 1];
	}
	npreauths = j;
	return found;
}

/* The network of a printable address: its /24 (IPv4, also mapped in
 * IPv6) or /64 (IPv6), or the address itself when it does not parse. */
static void
network_of(const char *ip, char *out, size_t len)
{
	unsigned char a[16];
	char txt[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, ip, a) == 1) {
		snprintf(out, len, "%u.%u.%u.0/24", a[0], a[1], a[2]);
		return;
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char mapped[12] = {
			[10] = 0xff, [11] = 0xff
		};

		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			snprintf(
			    out, len, "%u.%u.%u.0/24", a[12], a[13], a[14]);
			return;
		}
		memset(a + 8, 0, 8);
		if (inet_ntop(AF_INET6, a, txt, sizeof(txt)) != NULL) {
			snprintf(out, len, "%s/64", txt);
			return;
		}
	}
	snprintf(out, len, "%s", ip);
}

/* Forget registrations older than the window; how many (h, ip) and
 * (h, its network) made in it. */
static void
throttle_count(
    const struct host *h, const char *ip, long long *n_ip, long long *n_net)
{
	int64_t since = now_unix() - THROTTLE_WINDOW;
	char net[sizeof(marks[0].net)];
	size_t i, j = 0;

	network_of(ip, net, sizeof(net));
	*n_ip = *n_net = 0;
	for (i = 0; i < nmarks; i++) {
		if (marks[i].when <= since)
			continue;
		marks[j++] = marks[i];
		if (marks[i].h != h)
			continue;
		if (strcmp(marks[i].ip, ip) == 0)
			(*n_ip)++;
		if (strcmp(marks[i].net, net) == 0)
			(*n_net)++;
	}
	nmarks = j;
}

static void
throttle_note(const struct host *h, const char *ip)
{
	if (nmarks == THROTTLE_MAX)
		return;
	marks[nmarks].h = h;
	marks[nmarks].when = now_unix();
	snprintf(marks[nmarks].ip, sizeof(marks[nmarks].ip), "%s", ip);
	network_of(ip, marks[nmarks].net, sizeof(marks[nmarks].net));
	nmarks++;
}

/* An error answer. Built here rather than with stanza_reply_error, which
 * echoes the request: XEP-0077 §3.3 says not to send passwords back. */
static void
reply_error(
    struct hook_ev *ev, const char *type, const char *cond, const char *text)
{
	struct xml_node *r;

	if (ev->stream) {
		r = xml_node_new(XML_NS_CLIENT, "iq");
		xml_node_set_attr(r, "id", xml_node_attr(ev->stanza, "id"));
	} else {
		r = stanza_reply(ev);
	}
	xml_node_set_attr(r, "type", "error");
	stanza_error_add(r, type, cond, text);
	if (ev->stream)
		ev->stream->reply(ev, r);
	else
		stanza_reply_send(ev, r);
}

static void
reply_result(struct hook_ev *ev, struct xml_node *payload_parent)
{
	if (!ev->stream) {
		stanza_reply_send(ev, payload_parent);
		return;
	}
	ev->stream->reply(ev, payload_parent);
}

static struct xml_node *
new_result(struct hook_ev *ev)
{
	struct xml_node *r;

	if (!ev->stream)
		return stanza_reply(ev);
	r = xml_node_new(XML_NS_CLIENT, "iq");
	xml_node_set_attr(r, "id", xml_node_attr(ev->stanza, "id"));
	xml_node_set_attr(r, "type", "result");
	return r;
}

/* The text of child name of q, or NULL when absent. */
static const char *
field(struct xml_node *q, const char *name)
{
	struct xml_node *f = xml_node_find(q, NS_REGISTER, name);

	return f ? xml_node_text_get(f) : NULL;
}

/* ---- before authentication ---- */

static enum hook_ret
preauth_feature(struct hook_ev *ev)
{
	const struct register_cfg *rc = host_modcfg(ev->host, &mod_register);
	struct xml_node *tls = xml_node_find(ev->data, NS_TLS, "starttls");

	/* the core offers no iq before TLS when TLS is required: say so
	 * only where registration can actually happen */
	if ((!rc->allow && !rc->invite_only) ||
	    (tls && xml_node_find(tls, NULL, "required")))
		return HOOK_CONTINUE;
	xml_node_child(ev->data, NS_IBR_TOKEN, "register");
	xml_node_child(ev->data, NS_FEATURE, "register");
	return HOOK_CONTINUE;
}

static void
preauth_form(struct hook_ev *ev)
{
	static const char instr[] = "Choose a username and password to "
				    "register with this server.";
	struct xml_node *r = new_result(ev);
	struct xml_node *q = xml_node_child(r, NS_REGISTER, "query");

	xml_node_text(
	    xml_node_child(q, NULL, "instructions"), instr, sizeof(instr) - 1);
	xml_node_child(q, NULL, "username");
	xml_node_child(q, NULL, "password");
	reply_result(ev, r);
}

/* The invite for this registration: *inv filled and 0, 1 none shown,
 * -1 shown but not valid (answered). */
static int
find_invite(struct hook_ev *ev, struct invite *inv)
{
	struct xml_node *pa = xml_node_find(ev->payload, NS_PARS, "preauth");
	const char *token = pa ? xml_node_attr(pa, "token") : NULL;
	struct preauth *p;
	int r;

	if (token == NULL) {
		p = preauth_find(ev->host, ev->stream->connid);
		if (p == NULL)
			return 1;
		inv->uses = 0;
		/* used up meanwhile (another stream): no longer valid;
		 * expired since: still valid (XEP-0445 §3) */
		r = invite_get(ev->host->name, p->inv.token, inv);
		if (r == 0 || (r == 1 && inv->uses > 0))
			return 0;
	} else if (invite_get(ev->host->name, token, inv) == 0) {
		return 0;
	}
	reply_error(ev, "cancel", "item-not-found",
	    "the invitation is invalid, expired or used up");
	return -1;
}

static void
preauth_token(struct hook_ev *ev)
{
	const char *token = xml_node_attr(ev->payload, "token");
	struct preauth *p;
	struct invite inv;

	if (ev->stype != STANZA_TYPE_SET || token == NULL) {
		reply_error(ev, "modify", "bad-request",
		    "<preauth/> goes in an iq of type set with a token");
		return;
	}
	if (invite_get(ev->host->name, token, &inv) != 0) {
		reply_error(ev, "cancel", "item-not-found",
		    "the provided token is invalid or expired");
		return;
	}
	p = preauth_find(ev->host, ev->stream->connid);
	if (p == NULL) {
		if (npreauths == PREAUTH_MAX) {
			reply_error(ev, "wait", "resource-constraint",
			    "too many registrations under way; try later");
			return;
		}
		p = &preauths[npreauths++];
	}
	p->connid = ev->stream->connid;
	p->h = ev->host;
	p->when = now_unix();
	p->inv = inv;
	reply_result(ev, new_result(ev));
}

static void
preauth_create(struct hook_ev *ev, const struct register_cfg *rc)
{
	const char *user = field(ev->payload, "username");
	const char *pw = field(ev->payload, "password");
	struct hook_ev used = { 0 };
	struct invite inv;
	const char *why;
	struct jid j;
	long long n_ip = 0, n_net = 0;
	int r, invited;

	invited = find_invite(ev, &inv);
	if (invited < 0)
		return;
	if (invited == 1 && rc->invite_only) {
		reply_error(ev, "auth", "forbidden",
		    "registration on this server needs an invitation");
		return;
	}
	if (user == NULL || pw == NULL || *user == '\0' || *pw == '\0') {
		reply_error(ev, "modify", "not-acceptable",
		    "a username and a password are required");
		return;
	}
	if (jid_make(&j, user, ev->host->name, NULL) != 0) {
		reply_error(ev, "modify", "not-acceptable",
		    "the username is not valid in a JID");
		return;
	}
	why = account_password_weak(rc->min_length, j.node, pw);
	if (why) {
		reply_error(ev, "modify", "not-acceptable", why);
		goto out_jid;
	}
	/* an invitation is its own limit */
	if (invited != 0)
		throttle_count(ev->host, ev->stream->peer, &n_ip, &n_net);
	if (invited != 0 && (rc->per_ip > 0 || rc->per_net > 0) &&
	    nmarks == THROTTLE_MAX) {
		log_info("register refused (throttle table full) ip=%s host=%s",
		    ev->stream->peer, ev->host->name);
		reply_error(ev, "wait", "policy-violation",
		    "too many registrations; try again later");
		goto out_jid;
	}
	if (rc->per_ip > 0 && n_ip >= rc->per_ip) {
		log_info("register refused (throttled) ip=%s host=%s",
		    ev->stream->peer, ev->host->name);
		reply_error(ev, "wait", "policy-violation",
		    "too many registrations from your address; try again "
		    "later");
		goto out_jid;
	}
	if (rc->per_net > 0 && n_net >= rc->per_net) {
		log_info("register refused (network throttled) ip=%s host=%s",
		    ev->stream->peer, ev->host->name);
		reply_error(ev, "wait", "policy-violation",
		    "too many registrations from your network; try again "
		    "later");
		goto out_jid;
	}
	r = account_create(ev->host->name, j.node, pw);
	if (r == 1) {
		reply_error(ev, "cancel", "conflict", "that username is taken");
		goto out_jid;
	}
	if (r < 0) {
		reply_error(ev, "wait", "internal-server-error", NULL);
		goto out_jid;
	}
	throttle_note(ev->host, ev->stream->peer);
	log_info("account registered jid=%s ip=%s%s%s", j.bare,
	    ev->stream->peer, invited == 0 ? " invite=" : "",
	    invited == 0 ? invite_kind_name(inv.kind) : "");
	if (invited == 0 && invite_use(ev->host->name, &inv) < 0)
		log_err("register: could not count the use of an invitation "
			"host=%s",
		    ev->host->name);
	reply_result(ev, new_result(ev));
	users_created(ev->host, j.node);
	if (invited == 0) {
		used.host = ev->host;
		used.user = j.node;
		used.data = &inv;
		hook_fire(ev->host->hooks, "invite/used", &used);
	}
out_jid:
	jid_cleanup(&j);
}

static enum hook_ret
preauth_iq(struct hook_ev *ev)
{
	const struct register_cfg *rc = host_modcfg(ev->host, &mod_register);

	if (ev->stype != STANZA_TYPE_GET && ev->stype != STANZA_TYPE_SET)
		return HOOK_HANDLED; /* results and errors: nothing asked */
	if (!rc->allow && !rc->invite_only) {
		reply_error(ev, "cancel", "service-unavailable",
		    "registration is closed on this server");
		return HOOK_HANDLED;
	}
	if (strcmp(ev->payload->name, "preauth") == 0)
		preauth_token(ev);
	else if (ev->stype == STANZA_TYPE_GET)
		preauth_form(ev);
	else if (xml_node_find(ev->payload, NS_REGISTER, "remove"))
		reply_error(ev, "auth", "not-authorized",
		    "log in to remove an account");
	else
		preauth_create(ev, rc);
	return HOOK_HANDLED;
}

/* ---- once logged in ---- */

struct doomed {
	struct host *h;
	char user[];
};

/* After the current stanza: the result is already queued, so the client
 * reads it before the not-authorized stream error users_delete sends,
 * and no caller up the stack is left holding the freed session. */
/* Deferred safely: it holds a copy of the name and a host (hosts live
 * until exit), no session. */
static void
remove_now(void *arg)
{
	struct doomed *d = arg;

	/* with accounts.deletion_grace, restorable by the operator */
	if (users_delete_request(d->h, d->user,
		config_running ? config_running->accounts.deletion_grace : 0) <
	    0)
		log_err(
		    "register: could not delete %s@%s", d->user, d->h->name);
	free(d);
}

/* Is the sender a logged-in account of this host (the one acted on)? */
static int
own_account(const struct hook_ev *ev)
{
	if (ev->session == NULL || ev->from->node == NULL ||
	    strcmp(ev->from->domain, ev->host->name) != 0)
		return 0;
	return ev->to->node == NULL || jid_bare_eq(ev->from, ev->to);
}

static enum hook_ret
authed_get(struct hook_ev *ev)
{
	struct xml_node *r, *q;
	const char *user = ev->from->node;

	if (!own_account(ev)) {
		reply_error(ev, "cancel",
		    ev->to->node ? "forbidden" : "service-unavailable", NULL);
		return HOOK_HANDLED;
	}
	r = stanza_reply(ev);
	q = xml_node_child(r, NS_REGISTER, "query");
	xml_node_child(q, NULL, "registered");
	xml_node_text(xml_node_child(q, NULL, "username"), user, strlen(user));
	stanza_reply_send(ev, r);
	return HOOK_HANDLED;
}

static void
authed_remove(struct hook_ev *ev)
{
	size_t n = strlen(ev->from->node) + 1;
	struct doomed *d;

	if (xml_node_next_el(xml_node_first_el(ev->payload)) != NULL) {
		reply_error(ev, "modify", "bad-request",
		    "<remove/> must be the only child");
		return;
	}
	d = xmalloc(sizeof(*d) + n);
	d->h = ev->host;
	memcpy(d->user, ev->from->node, n);
	stanza_reply_result(ev);
	log_info("account removal requested jid=%s", ev->from->bare);
	loop_defer(remove_now, d);
}

static void
authed_password(struct hook_ev *ev)
{
	const struct register_cfg *rc = host_modcfg(ev->host, &mod_register);
	const char *user = field(ev->payload, "username");
	const char *pw = field(ev->payload, "password");
	char prepped[JID_PART_MAX + 1];
	const char *why;
	int r;

	/* XEP-0077 §3.3: an empty password leaves the old one */
	if (pw == NULL || *pw == '\0') {
		reply_error(
		    ev, "modify", "bad-request", "a new password is required");
		return;
	}
	if (user && (jid_nodeprep(user, prepped, sizeof(prepped)) != 0 ||
			strcmp(prepped, ev->from->node) != 0)) {
		reply_error(ev, "cancel", "forbidden",
		    "only the logged-in account's password can be changed");
		return;
	}
	why = account_password_weak(rc->min_length, ev->from->node, pw);
	if (why) {
		reply_error(ev, "modify", "not-acceptable", why);
		return;
	}
	r = account_set_password(ev->host->name, ev->from->node, pw);
	if (r != 0) {
		reply_error(ev, "wait", "internal-server-error", NULL);
		return;
	}
	log_info("password changed jid=%s", ev->from->bare);
	stanza_reply_result(ev);
}

static enum hook_ret
authed_set(struct hook_ev *ev)
{
	if (!own_account(ev)) {
		reply_error(ev, "cancel",
		    ev->to->node ? "forbidden" : "service-unavailable", NULL);
		return HOOK_HANDLED;
	}
	if (xml_node_find(ev->payload, NS_REGISTER, "remove"))
		authed_remove(ev);
	else
		authed_password(ev);
	return HOOK_HANDLED;
}

static const struct cfg_directive register_dirs[] = {
	{ .name = "allow_registration",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct register_cfg, allow),
	    .def = "false",
	    .doc = "Let anyone create an account before logging in (the "
		   "stream feature and the form). Password change and "
		   "account removal by logged-in users work either way." },
	{ .name = "invite_only",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct register_cfg, invite_only),
	    .def = "false",
	    .doc = "Registration is open only to holders of a valid "
		   "invitation (XEP-0401/XEP-0445 token, from ternctl "
		   "invite create or the invites module's ad-hoc commands), "
		   "whether or not allow_registration is on; without one it "
		   "gets <forbidden/>. Invited registrations are not "
		   "throttled per IP." },
	{ .name = "registrations_per_ip_per_hour",
	    .type = CFG_INT,
	    .offset = offsetof(struct register_cfg, per_ip),
	    .def = "3",
	    .min = 0,
	    .max = 1000000,
	    .doc = "Accounts one IP address may register in an hour; more "
		   "get <policy-violation/> (type wait). 0: no limit." },
	{ .name = "registrations_per_network_per_hour",
	    .type = CFG_INT,
	    .offset = offsetof(struct register_cfg, per_net),
	    .def = "10",
	    .min = 0,
	    .max = 1000000,
	    .doc = "Accounts one network (an IPv4 /24, an IPv6 /64) may "
		   "register in an hour, all its addresses together; more "
		   "get <policy-violation/> (type wait). 0: no limit." },
	{ .name = "min_password_length",
	    .type = CFG_INT,
	    .offset = offsetof(struct register_cfg, min_length),
	    .def = "8",
	    .min = 1,
	    .max = 1023,
	    .doc = "Fewest characters of a new password (registration and "
		   "change). A password under 12 characters must also mix "
		   "two kinds of lowercase, uppercase, digits and other "
		   "characters, and none may equal the username; weak ones "
		   "get <not-acceptable/> with the reason." },
	{ .name = NULL },
};

static const struct cfg_section register_section = {
	.name = "register",
	.dirs = register_dirs,
	.size = sizeof(struct register_cfg),
	.doc = "Settings of the register module.",
};

static const struct hook_reg register_hooks[] = { { "c2s/features/preauth",
						      preauth_feature, 0 },
	{ "c2s/unauthed/" NS_REGISTER ":query", preauth_iq, 0 },
	{ "c2s/unauthed/" NS_PARS ":preauth", preauth_iq, 0 },
	{ "iq-get/bare/" NS_REGISTER ":query", authed_get, 0 },
	{ "iq-set/bare/" NS_REGISTER ":query", authed_set, 0 },
	{ "iq-get/host/" NS_REGISTER ":query", authed_get, 0 },
	{ "iq-set/host/" NS_REGISTER ":query", authed_set, 0 }, HOOK_REG_END };

const struct module mod_register = {
	.name = "register",
	.spec = "XEP-0077",
	.doc = "In-band registration, password change and account removal.",
	.features = (const char *const[]){ NS_REGISTER, NULL },
	.hooks = register_hooks,
	.config = &register_section,
};

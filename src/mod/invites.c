/* src/mod/invites.c: XEP-0401 easy onboarding — invitations made by
 * ad-hoc command (urn:xmpp:invite#invite for a user's contacts,
 * urn:xmpp:invite#create-account for admins) and, on "invite/used"
 * (fired by the register module when an account is created with one),
 * XEP-0379 pre-approval: the new account and the inviter become mutual
 * contacts. The store is xmpp/invite.c, shared with ternctl. */
#include "mod/mod.h"
#include "mod/adhoc.h"
#include "mod/roster.h"
#include "xmpp/account.h"
#include "xmpp/invite.h"

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

static enum hook_ret
invite_used(struct hook_ev *ev)
{
	const struct invite *inv = ev->data;
	const char *host = ev->host->name;
	char a[2 * JID_PART_MAX + 2], b[2 * JID_PART_MAX + 2];

	if (inv->inviter[0] == '\0' || strcmp(inv->inviter, ev->user) == 0)
		return HOOK_CONTINUE;
	snprintf(a, sizeof(a), "%s@%s", inv->inviter, host);
	snprintf(b, sizeof(b), "%s@%s", ev->user, host);
	if (befriend(host, ev->user, a, inv->group) < 0 ||
	    befriend(host, inv->inviter, b, NULL) < 0)
		log_err("invites: could not make %s and %s contacts", a, b);
	else
		log_info("invite used jid=%s inviter=%s", b, a);
	return HOOK_CONTINUE;
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
	if (kind == INVITE_CONTACT)
		snprintf(uri, sizeof(uri), "xmpp:%s@%s?roster;preauth=%s;ibr=y",
		    inv.inviter, host, inv.token);
	else
		snprintf(uri, sizeof(uri), "xmpp:%s?register;preauth=%s", host,
		    inv.token);
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
	{ "adhoc/commands", invites_commands, 0 },
	HOOK_REG_END,
};

const struct module mod_invites = {
	.name = "invites",
	.spec = "XEP-0401, XEP-0379",
	.doc = "Invitations: ad-hoc commands that make them; an account "
	       "registered with one (register module) becomes the inviter's "
	       "mutual contact.",
	.hooks = invites_hooks,
	.config = &invites_section,
	.depends = (const char *const[]){ "adhoc", "roster", "register", NULL },
};

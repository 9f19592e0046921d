/* users.c: account creation and deletion events. */
#include "xmpp/users.h"

#include "core/hook.h"
#include "core/host.h"
#include "core/log.h"
#include "core/util.h"
#include "xmpp/account.h"
#include "xmpp/acct_cache.h"
#include "xmpp/session.h"

int
users_delete(struct host *h, const char *user)
{
	struct hook_ev ev = { 0 };
	int rc = account_exists(h->name, user);

	if (rc != 0)
		return rc;
	session_close_user(h->name, user, "not-authorized", "account deleted");
	ev.host = h;
	ev.user = user;
	hook_fire(h->hooks, "user/deleted", &ev);
	rc = account_delete(h->name, user);
	if (rc == 0)
		log_info("account deleted jid=%s@%s", user, h->name);
	return rc;
}

int
users_delete_request(struct host *h, const char *user, long long grace)
{
	int rc;

	if (grace <= 0)
		return users_delete(h, user);
	rc = account_mark_deleted(h->name, user, now_unix() + grace);
	if (rc != 0)
		return rc;
	session_close_user(h->name, user, "not-authorized", "account deleted");
	log_info("account deleted jid=%s@%s grace=%llds (restorable)", user,
	    h->name, grace);
	return 0;
}

int
users_set_disabled(struct host *h, const char *user, int disabled)
{
	int rc = account_set_disabled(h->name, user, disabled);

	if (rc != 0)
		return rc;
	if (disabled)
		session_close_user(
		    h->name, user, "not-authorized", "account disabled");
	log_info("account %s jid=%s@%s", disabled ? "disabled" : "enabled",
	    user, h->name);
	return 0;
}

void
users_created(struct host *h, const char *user)
{
	struct hook_ev ev = { 0 };

	/* created by another process (ternctl): what we knew is old */
	acct_cache_forget(h->name, user);
	ev.host = h;
	ev.user = user;
	hook_fire(h->hooks, "user/created", &ev);
}

/* housekeeping.c: the account side of the expiry pass. An account in
 * its deletion grace period (account.h) is purged once the period ends;
 * an account unused for accounts.inactive_delete gets a warning message
 * accounts.inactive_warning before, and is deleted (through the grace
 * period, if any) no sooner than that long after the warning. A login
 * after the warning makes it stale (the warning is older than the last
 * use), so the whole cycle starts again. Disabled accounts are left
 * alone: their owners cannot log in to keep them. */
#include "xmpp/housekeeping.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/host.h"
#include "core/log.h"
#include "core/util.h"
#include "jid/jid.h"
#include "xml/xml.h"
#include "xmpp/account.h"
#include "xmpp/router.h"
#include "xmpp/users.h"

static void
warn_user(struct host *h, const char *user, int64_t when)
{
	const struct cfg_accounts *c = &config_running->accounts;
	char to[2 * JID_PART_MAX + 2], text[512], date[32], id[20];
	struct xml_node *m;
	time_t t = (time_t)when;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
	if (c->inactive_message != NULL && c->inactive_message[0] != '\0')
		snprintf(text, sizeof(text), "%s", c->inactive_message);
	else
		snprintf(text, sizeof(text),
		    "This account has not been used for a long time and "
		    "will be deleted on %s unless you log in before.",
		    date);
	snprintf(to, sizeof(to), "%s@%s", user, h->name);
	m = xml_node_new(XML_NS_CLIENT, "message");
	xml_node_set_attr(m, "from", h->name);
	xml_node_set_attr(m, "to", to);
	/* normal, not headline: kept offline for the next login */
	xml_node_set_attr(m, "type", "normal");
	rand_id(id, sizeof(id));
	xml_node_set_attr(m, "id", id);
	xml_node_text(
	    xml_node_child(m, NULL, "subject"), "Account inactive", 16);
	xml_node_text(xml_node_child(m, NULL, "body"), text, strlen(text));
	stanza_send(m);
}

int
housekeeping_account(struct host *h, const char *user)
{
	const struct cfg_accounts *c;
	int64_t now = now_unix(), purge = 0, last, warned = 0, when;
	int rc;

	if (config_running == NULL)
		return 0;
	c = &config_running->accounts;
	rc = account_get_deleting(h->name, user, &purge);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (purge > now)
			return 0;
		rc = users_delete(h, user);
		if (rc == 0)
			log_info("account purged after its grace period "
				 "jid=%s@%s",
			    user, h->name);
		return rc < 0 ? -1 : 1;
	}
	if (c->inactive_delete <= 0)
		return 0;
	rc = account_is_disabled(h->name, user);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	last = account_last_use(h->name, user);
	if (last <= 0)
		return last < 0 ? -1 : 0;
	if (now - last < c->inactive_delete - c->inactive_warning)
		return 0;
	rc = account_get_warned(h->name, user, &warned);
	if (rc < 0)
		return -1;
	if (rc == 1 || warned <= last) {
		when = last + c->inactive_delete;
		if (when < now + c->inactive_warning)
			when = now + c->inactive_warning;
		if (account_set_warned(h->name, user, now) < 0)
			return -1;
		warn_user(h, user, when);
		log_info("account inactive, warned jid=%s@%s last_use=%" PRId64
			 " deletion=%" PRId64,
		    user, h->name, last, when);
		return 0;
	}
	if (now - last < c->inactive_delete ||
	    now - warned < c->inactive_warning)
		return 0;
	log_info("account inactive, deleting jid=%s@%s last_use=%" PRId64, user,
	    h->name, last);
	rc = users_delete_request(h, user, c->deletion_grace);
	if (rc < 0)
		return -1;
	return c->deletion_grace > 0 ? 0 : 1;
}

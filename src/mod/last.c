/* src/mod/last.c: XEP-0012 Last Activity of users and server uptime. */
#include <inttypes.h>

#include "mod/mod.h"
#include "mod/roster.h"

#define NS_LAST "jabber:iq:last"
#define LAST_STORE "lastlogout"
/* the status kept of a last unavailable presence, in bytes */
#define LAST_STATUS_MAX 1024

/* Set at the first init: the process start, to a second. */

static int
last_idx(void)
{
	static int idx = -1;

	if (idx < 0)
		idx = module_index("last");
	return idx;
}

static void
last_answer(struct hook_ev *ev, int64_t seconds, const char *text)
{
	struct xml_node *r = stanza_reply(ev);
	struct xml_node *q = xml_node_child(r, NS_LAST, "query");
	char num[24];

	if (seconds < 0)
		seconds = 0; /* the clock went back */
	snprintf(num, sizeof(num), "%" PRId64, seconds);
	xml_node_set_attr(q, "seconds", num);
	if (text && *text)
		xml_node_text(q, text, strlen(text));
	stanza_reply_send(ev, r);
}

static enum hook_ret
last_host(struct hook_ev *ev)
{
	/* §4: uptime, without character data */
	last_answer(ev, now_unix() - loop_started(), NULL);
	return HOOK_HANDLED;
}

/* XEP-0012 §8: only who may see the user's presence learns anything.
 * 1 allowed, 0 not, -1 error. */
static int
last_allowed(const struct hook_ev *ev)
{
	int sub;

	if (ev->from->node && jid_bare_eq(ev->from, ev->to))
		return 1;
	sub = roster_subscription(ev->host->name, ev->to->node, ev->from->bare);
	if (sub < 0)
		return -1;
	return sub == ROSTER_SUB_FROM || sub == ROSTER_SUB_BOTH;
}

/* Answers an unauthorised request; 1 when it did. */
static int
last_refuse(struct hook_ev *ev)
{
	int ok = last_allowed(ev);

	if (ok < 0)
		stanza_reply_error(ev, "wait", "internal-server-error", NULL);
	else if (ok == 0)
		stanza_reply_error(ev, "auth", "forbidden", NULL);
	return ok != 1;
}

static int
last_online(const char *bare)
{
	struct session *s;

	for (s = session_find_bare(bare); s; s = s->next_res)
		if (!s->closing)
			return 1;
	return 0;
}

/* §3: to the bare JID, answered by the server for the user. */
static enum hook_ret
last_user(struct hook_ev *ev)
{
	char *val = NULL, *nl;
	size_t len;
	long long when;
	int rc;

	/* an absent resource: the router answers (RFC 6121 §8.5.3.2.1) */
	if (ev->to->resource)
		return HOOK_CONTINUE;
	if (last_refuse(ev))
		return HOOK_HANDLED;
	if (last_online(ev->to->bare)) {
		last_answer(ev, 0, NULL);
		return HOOK_HANDLED;
	}
	rc = store_kv_get(ev->host->name, ev->to->node, LAST_STORE, &val, &len);
	if (rc != 0) {
		if (rc < 0)
			stanza_reply_error(
			    ev, "wait", "internal-server-error", NULL);
		else
			stanza_reply_error(
			    ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	/* "<unix seconds>\n<status>" */
	when = strtoll(val, &nl, 10);
	last_answer(ev, now_unix() - when, *nl == '\n' ? nl + 1 : NULL);
	free(val);
	return HOOK_HANDLED;
}

/* §5: to a full JID, the request reaches the client only if the
 * requester may see the user's presence. */
static enum hook_ret
last_full(struct hook_ev *ev)
{
	return last_refuse(ev) ? HOOK_HANDLED : HOOK_CONTINUE;
}

/* Keep the status of an unavailable presence for the logout record. */
static enum hook_ret
last_presence(struct hook_ev *ev)
{
	struct session *s = ev->session;
	struct xml_node *st;
	char *status = NULL;

	if (s == NULL)
		return HOOK_CONTINUE;
	if (ev->stype == STANZA_TYPE_UNAVAILABLE) {
		st = xml_node_find(ev->stanza, XML_NS_CLIENT, "status");
		if (st) {
			const char *t = xml_node_text_get(st);
			size_t n = strlen(t);

			if (n > LAST_STATUS_MAX) {
				/* cut on a UTF-8 character boundary */
				n = LAST_STATUS_MAX;
				while (n > 0 &&
				       ((unsigned char)t[n] & 0xc0) == 0x80)
					n--;
			}
			status = xstrndup(t, n);
		}
	} else if (ev->stype != STANZA_TYPE_NONE) {
		return HOOK_CONTINUE;
	}
	free(session_mod_get(s, last_idx()));
	session_mod_set(s, last_idx(), status);
	return HOOK_CONTINUE;
}

/* The last resource going away is the user's logout. */
static enum hook_ret
last_closed(struct hook_ev *ev)
{
	struct session *s = ev->session, *o;
	char *status = session_mod_get(s, last_idx());
	struct sbuf b;
	int others = 0;

	for (o = session_find_bare(s->jid.bare); o; o = o->next_res)
		if (o != s && !o->closing)
			others = 1;
	if (!others && s->jid.node) {
		sbuf_init(&b);
		sbuf_printf(
		    &b, "%" PRId64 "\n%s", now_unix(), status ? status : "");
		store_kv_set(
		    s->host->name, s->jid.node, LAST_STORE, b.data, b.len);
		sbuf_cleanup(&b);
	}
	free(status);
	session_mod_set(s, last_idx(), NULL);
	return HOOK_CONTINUE;
}

static const struct hook_reg last_hooks[] = { { "iq-get/host/" NS_LAST ":query",
						  last_host, 0 },
	{ "iq-get/bare/" NS_LAST ":query", last_user, 0 },
	{ "iq-get/full/" NS_LAST ":query", last_full, 0 },
	/* before the presence module, which may end the chain */
	{ "presence/self", last_presence, 10 },
	{ "session/closed", last_closed, 0 }, HOOK_REG_END };

static void
last_session_free(void *data)
{
	free(data);
}

const struct module mod_last = {
	.name = "last",
	.spec = "XEP-0012",
	.doc = "Tells the server's uptime, and how long ago a user logged "
	       "out to those who may see the user's presence.",
	.features = (const char *const[]){ NS_LAST, NULL },
	.account_features = (const char *const[]){ NS_LAST, NULL },
	.hooks = last_hooks,
	.depends = (const char *const[]){ "roster", NULL },
	.session_free = last_session_free,
};

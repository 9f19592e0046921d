/* router.c: the one place that decides where a stanza goes. Modules hook
 * in by event name; what no module handles gets the RFC's default. */
#include "xmpp/router.h"

#include <stdlib.h>
#include <string.h>

#include "core/host.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"
#include "xml/xml.h"
#include "xmpp/acct_cache.h"
#include "xmpp/domain.h"
#include "xmpp/session.h"

static void route_stanza(struct xml_node *st, const struct jid *from,
    struct session *origin, int filter);

static int
is_error(const struct xml_node *st)
{
	const char *t = xml_node_attr(st, "type");

	return t && strcmp(t, "error") == 0;
}

/* XEP-0086 §3: the legacy code of each RFC 6120 condition. Conditions
 * newer than the table (policy-violation) have none. */
static const struct {
	const char *cond;
	const char *code;
} legacy_codes[] = {
	{ "bad-request", "400" },
	{ "conflict", "409" },
	{ "feature-not-implemented", "501" },
	{ "forbidden", "403" },
	{ "gone", "302" },
	{ "internal-server-error", "500" },
	{ "item-not-found", "404" },
	{ "jid-malformed", "400" },
	{ "not-acceptable", "406" },
	{ "not-allowed", "405" },
	{ "not-authorized", "401" },
	{ "payment-required", "402" },
	{ "recipient-unavailable", "404" },
	{ "redirect", "302" },
	{ "registration-required", "407" },
	{ "remote-server-not-found", "404" },
	{ "remote-server-timeout", "504" },
	{ "resource-constraint", "500" },
	{ "service-unavailable", "503" },
	{ "subscription-required", "407" },
	{ "undefined-condition", "500" },
	{ "unexpected-request", "400" },
};

struct xml_node *
stanza_error_add(struct xml_node *r, const char *type, const char *condition,
    const char *text)
{
	struct xml_node *err = xml_node_child(r, NULL, "error");
	size_t i;

	xml_node_set_attr(err, "type", type);
	for (i = 0; i < ARRAY_LEN(legacy_codes); i++) {
		if (strcmp(legacy_codes[i].cond, condition) == 0) {
			xml_node_set_attr(err, "code", legacy_codes[i].code);
			break;
		}
	}
	xml_node_child(err, NS_STANZAS, condition);
	if (text) {
		struct xml_node *t = xml_node_child(err, NS_STANZAS, "text");

		xml_node_set_attr_ns(t, XML_NS_XML, "lang", "en");
		xml_node_text(t, text, strlen(text));
	}
	return err;
}

void
stanza_bounce(struct xml_node *st, const char *type, const char *condition,
    const char *text)
{
	stanza_bounce_app(st, type, condition, text, NULL, NULL);
}

void
stanza_bounce_app(struct xml_node *st, const char *type, const char *condition,
    const char *text, const char *app_ns, const char *app_name)
{
	struct xml_node *r, *c, *err;
	const char *from = xml_node_attr(st, "from");
	const char *to = xml_node_attr(st, "to");
	const char *id = xml_node_attr(st, "id");
	struct jid rfrom;

	if (is_error(st) || from == NULL)
		return;
	r = xml_node_new(XML_NS_CLIENT, st->name);
	if (id)
		xml_node_set_attr(r, "id", id);
	xml_node_set_attr(r, "type", "error");
	xml_node_set_attr(r, "to", from);
	/* RFC 6120 §8.3.1: the error comes from the entity addressed */
	if (to == NULL || jid_parse_str(&rfrom, to) != 0) {
		struct jid f;

		if (jid_parse_str(&f, from) != 0) {
			xml_node_free(r);
			return;
		}
		jid_parse_str(&rfrom, f.domain);
		jid_cleanup(&f);
		if (to)
			xml_node_set_attr(r, "from", to);
	} else {
		xml_node_set_attr(r, "from", to);
	}
	/* include the original payload so the sender can tell which
	 * stanza failed (RFC 6120 §8.3.1) */
	for (c = st->children; c; c = c->next)
		if (c->type == XML_ELEMENT && strcmp(c->name, "error") != 0)
			xml_node_copy_into(r, c);
	err = stanza_error_add(r, type, condition, text);
	if (app_ns != NULL)
		xml_node_child(err, app_ns, app_name);
	/* the stanza it answers passed the policies, or was refused by
	 * one (a block): its error goes back past them */
	router_route_unfiltered(r, &rfrom);
	jid_cleanup(&rfrom);
	xml_node_free(r);
}

struct xml_node *
stanza_reply(const struct hook_ev *ev)
{
	struct xml_node *r = xml_node_new(XML_NS_CLIENT, ev->stanza->name);
	const char *id = xml_node_attr(ev->stanza, "id");
	const char *from = xml_node_attr(ev->stanza, "from");
	const char *to = xml_node_attr(ev->stanza, "to");

	if (id)
		xml_node_set_attr(r, "id", id);
	xml_node_set_attr(r, "type", "result");
	if (from)
		xml_node_set_attr(r, "to", from);
	if (to)
		xml_node_set_attr(r, "from", to);
	return r;
}

/* The JID a reply to ev comes from, for routing. */
static const struct jid *
reply_from(const struct hook_ev *ev)
{
	return ev->to;
}

void
stanza_reply_send(const struct hook_ev *ev, struct xml_node *r)
{
	router_route(r, reply_from(ev), NULL);
	xml_node_free(r);
}

void
stanza_reply_result(const struct hook_ev *ev)
{
	stanza_reply_send(ev, stanza_reply(ev));
}

void
stanza_reply_error(const struct hook_ev *ev, const char *type,
    const char *condition, const char *text)
{
	stanza_bounce(ev->stanza, type, condition, text);
}

void
stanza_reply_store_error(const struct hook_ev *ev, int rc)
{
	if (rc == STORE_QUOTA)
		stanza_bounce(ev->stanza, "wait", "resource-constraint",
		    "Quota reached: the account's storage is full");
	else
		stanza_bounce(
		    ev->stanza, "wait", "internal-server-error", NULL);
}

int
stanza_for_account(const struct xml_node *st, const char *bare)
{
	const char *type = xml_node_attr(st, "type");
	const char *from = xml_node_attr(st, "from");

	if (strcmp(st->name, "message") != 0)
		return 0;
	if (type &&
	    (strcmp(type, "headline") == 0 || strcmp(type, "error") == 0))
		return 0;
	return from == NULL || strcmp(from, bare) != 0;
}

void
stanza_send(struct xml_node *st)
{
	const char *from = xml_node_attr(st, "from");
	struct jid f;

	if (from && jid_parse_str(&f, from) == 0) {
		router_route(st, &f, NULL);
		jid_cleanup(&f);
	} else {
		log_warn("router dropping server stanza without valid from");
	}
	xml_node_free(st);
}

static int
session_usable(const struct session *s)
{
	return !s->closing;
}

int
router_deliver_full(struct xml_node *st, const char *full)
{
	struct session *s = session_find_full(full);
	struct rbuf *r = NULL;

	if (s == NULL || !session_usable(s))
		return 0;
	session_send(s, st, &r);
	rbuf_unref(r);
	return 1;
}

/* RFC 6121 §8.5.2.1.1 for messages, §8.5.2.1.2-like broadcast for
 * presence: to the available resources. */
void
router_deliver_bare(struct host *h, struct xml_node *st, const struct jid *to)
{
	const char *type = xml_node_attr(st, "type");
	int is_msg = strcmp(st->name, "message") == 0;
	int headline = type && strcmp(type, "headline") == 0;
	struct session *s, *first = session_find_bare(to->bare);
	struct rbuf *r = NULL;
	int best = -1, sent = 0;

	if (is_msg && type && strcmp(type, "error") == 0)
		return;
	if (is_msg && type && strcmp(type, "groupchat") == 0) {
		stanza_bounce(st, "cancel", "service-unavailable", NULL);
		return;
	}
	for (s = first; s; s = s->next_res)
		if (session_usable(s) && s->available && s->priority > best)
			best = s->priority;
	for (s = first; s; s = s->next_res) {
		if (!session_usable(s) || !s->available || s->priority < 0)
			continue;
		/* messages of type chat/normal go to the most available
		 * resources; headlines and presence to every one */
		if (is_msg && !headline && s->priority != best)
			continue;
		session_send(s, st, &r);
		sent++;
	}
	rbuf_unref(r);
	if (sent || !is_msg || headline)
		return;
	{
		struct hook_ev ev = { 0 };
		const char *fa = xml_node_attr(st, "from");
		struct jid from = { 0 };
		enum hook_ret hr;

		if (fa == NULL || jid_parse_str(&from, fa) != 0)
			return; /* every routed stanza has a valid from */
		ev.host = h;
		ev.stanza = st;
		ev.from = &from;
		ev.to = to;
		ev.type = type ? type : "";
		stanza_classify(st, &ev.kind, &ev.stype);
		hr = hook_fire(h->hooks, "message/offline", &ev);
		jid_cleanup(&from);
		if (hr == HOOK_HANDLED)
			return;
	}
	stanza_bounce(st, "cancel", "service-unavailable", NULL);
}

static int
user_exists(struct host *h, const struct jid *to)
{
	if (session_find_bare(to->bare))
		return 1;
	return acct_cache_exists(h->name, to->node) == 0;
}

static const char *
iq_kind(const char *type)
{
	if (type == NULL)
		return NULL;
	if (strcmp(type, "get") == 0)
		return "iq-get";
	if (strcmp(type, "set") == 0)
		return "iq-set";
	if (strcmp(type, "result") == 0)
		return "iq-result";
	if (strcmp(type, "error") == 0)
		return "iq-error";
	return NULL;
}

static void
route_local(
    struct host *h, struct xml_node *st, struct hook_ev *ev, const char *kind)
{
	const char *name = st->name;
	int is_iq = kind[0] == 'i';
	int req;
	const struct jid *to = ev->to;
	const char *ns = ev->payload ? ev->payload->ns : NULL;
	const char *pname = ev->payload ? ev->payload->name : NULL;
	const char *target;
	struct session *full = NULL;

	req = is_iq &&
	      (strcmp(kind, "iq-get") == 0 || strcmp(kind, "iq-set") == 0);
	if (to->node == NULL) {
		target = "host";
	} else {
		if (!user_exists(h, to)) {
			if (is_iq ? req : strcmp(name, "message") == 0)
				stanza_bounce(
				    st, "cancel", "service-unavailable", NULL);
			return;
		}
		if (to->resource) {
			full = session_find_full(to->full);
			target = full ? "full" : "bare";
		} else {
			target = "bare";
		}
	}
	if (hook_fire_id(h->hooks, hook_lookup4(kind, target, ns, pname), ev) ==
	    HOOK_HANDLED)
		return;
	if (ev->to_self && is_iq &&
	    hook_fire_id(h->hooks, hook_lookup4(kind, "host", ns, pname), ev) ==
		HOOK_HANDLED)
		return;
	if (is_iq && !req && full == NULL)
		return; /* results and errors to us or to nobody: consumed */
	if (full) {
		router_deliver_full(st, to->full);
		return;
	}
	if (is_iq) {
		/* RFC 6120 §8.4 / RFC 6121 §8.5.3.2.1: an iq request nobody
		 * handles, or to a resource that is not there */
		stanza_bounce(st, "cancel", "service-unavailable", NULL);
		return;
	}
	if (strcmp(target, "host") == 0) {
		if (strcmp(name, "message") == 0)
			stanza_bounce(
			    st, "cancel", "service-unavailable", NULL);
		return;
	}
	if (strcmp(name, "presence") == 0 && to->resource) {
		/* presence to an absent resource is dropped (RFC 6121
		 * §8.5.3.2.2); subscriptions were offered to modules as
		 * bare events above */
		return;
	}
	if (strcmp(name, "message") == 0 && to->resource) {
		const char *t = xml_node_attr(st, "type");

		if (t && strcmp(t, "groupchat") == 0) {
			stanza_bounce(
			    st, "cancel", "service-unavailable", NULL);
			return;
		}
	}
	router_deliver_bare(h, st, to);
}

/* An accounts domain: the host's users (RFC 6121 §8.5). */
static void
route_accounts(const struct domain *d, struct xml_node *st, struct hook_ev *ev,
    const char *kind)
{
	ev->host = d->host;
	route_local(d->host, st, ev, kind);
}

/* A service domain: its module's hooks decide. The JID's shape alone
 * says host, bare or full: a service has no accounts, and a groupchat
 * message to a full JID is its business. What no hook handles gets the
 * RFC 6120 §8.4 default. */
static void
route_service(const struct domain *d, struct xml_node *st, struct hook_ev *ev,
    const char *kind)
{
	const struct host_service *svc = d->ud;
	const struct jid *to = ev->to;
	const char *target = to->node == NULL ? "host"
			     : to->resource   ? "full"
					      : "bare";
	const char *ns = ev->payload ? ev->payload->ns : NULL;
	const char *pname = ev->payload ? ev->payload->name : NULL;
	const char *type = xml_node_attr(st, "type");

	ev->host = d->host;
	if (hook_fire_id(svc->hooks, hook_lookup4(kind, target, ns, pname),
		ev) == HOOK_HANDLED)
		return;
	/* then the catch-all "*" of kind and target, for any payload (a
	 * room relays iqs to occupants) */
	if (ns && hook_fire_id(svc->hooks, hook_lookup3(kind, target, "*"),
		      ev) == HOOK_HANDLED)
		return;
	if (strcmp(st->name, "message") == 0 && type &&
	    strcmp(type, "error") == 0)
		return;
	stanza_bounce_unless_quiet(st, kind, "service-unavailable");
}

void
router_setup_domains(void)
{
	struct host *h;
	size_t i;

	/* the per-account state routing reads (its settings follow the
	 * configuration; stanzas that waited for a load come back here) */
	if (config_running) {
		acct_cache_set_cap(config_running->storage.account_cache);
		acct_cache_set_queue(config_running->storage.account_queue);
	}
	acct_cache_set_router(route_stanza);

	domain_clear(DOMAIN_ACCOUNTS);
	domain_clear(DOMAIN_SERVICE);
	for (h = host_list; h; h = h->next) {
		if (!h->active)
			continue;
		domain_add(h->name, DOMAIN_ACCOUNTS, h, route_accounts, NULL);
		for (i = 0; i < h->nservices; i++)
			domain_add(h->services[i].domain, DOMAIN_SERVICE, h,
			    route_service, &h->services[i]);
	}
}

/* route/filter: every stanza, once on the sender's host and once on the
 * recipient's (when local: an account or a service of the host), so a
 * policy (blocking) sees both sides. */
static int
filtered(struct hook_ev *ev, struct host *hto)
{
	static int id = -1;
	struct host *hfrom = host_find(ev->from->domain);

	if (id < 0)
		id = hook_intern("route/filter");
	if (hfrom) {
		ev->host = hfrom;
		if (hook_fire_id(hfrom->hooks, id, ev) == HOOK_HANDLED)
			return 1;
	}
	if (hto && hto != hfrom) {
		ev->host = hto;
		if (hook_fire_id(hto->hooks, id, ev) == HOOK_HANDLED)
			return 1;
	}
	ev->host = NULL;
	return 0;
}

void
router_route(
    struct xml_node *st, const struct jid *from, struct session *origin)
{
	route_stanza(st, from, origin, 1);
}

void
router_route_unfiltered(struct xml_node *st, const struct jid *from)
{
	route_stanza(st, from, NULL, 0);
}

/* The local accounts st involves, its sender and its recipient, must
 * have their state loaded (xmpp/acct_cache.h) before routing reads it:
 * 1 when st waits for a load (it is routed again when the load
 * completes) or was refused, 0 when it can be routed now. */
static int no_wait; /* routing an overflow's error: it does not queue */

static int
wait_for_state(struct xml_node *st, const struct jid *from,
    const struct jid *to, struct session *origin, int filter)
{
	const struct jid *who[2] = { from, to };
	const struct domain *d[2] = { NULL, NULL };
	size_t i;
	int rc;

	for (i = 0; i < 2; i++) {
		if (who[i] == NULL || who[i]->node == NULL ||
		    (i == 1 && d[0] && jid_bare_eq(from, to)))
			continue;
		d[i] = domain_find(who[i]->domain);
		if (d[i] && d[i]->kind != DOMAIN_ACCOUNTS)
			d[i] = NULL;
	}
	for (i = 0; i < 2; i++) {
		if (d[i] == NULL)
			continue;
		rc = acct_cache_hold(d[i]->host->name, who[i]->node, st, from,
		    origin, filter, i == 1 && d[0] ? d[0]->host->name : NULL,
		    i == 1 && d[0] ? who[0]->node : NULL);
		if (rc == 1)
			continue;
		if (rc < 0) {
			/* the error cannot wait in a full queue itself:
			 * it goes now, its reads served by the store */
			no_wait++;
			stanza_bounce(st, "wait", "resource-constraint",
			    "Too many stanzas wait for this account's data");
			no_wait--;
		} else if (i == 0 && d[1])
			/* both load at once: one wait, not two in a row */
			acct_cache_want(d[1]->host->name, who[1]->node);
		return 1;
	}
	return 0;
}

static void
route_stanza(struct xml_node *st, const struct jid *from,
    struct session *origin, int filter)
{
	struct hook_ev ev = { 0 };
	const char *type = xml_node_attr(st, "type");
	const char *to_attr = xml_node_attr(st, "to");
	const char *kind = st->name;
	struct jid to = { 0 };
	const struct domain *d;
	struct host *h;
	int is_iq = strcmp(st->name, "iq") == 0;
	int is_presence = strcmp(st->name, "presence") == 0;
	int to_rc = -1;

	/* 'to' is parsed once, here; a bad one is answered below, after
	 * the sender's outgoing hooks, as before */
	if (to_attr)
		to_rc = jid_parse_str(&to, to_attr);
	else if (origin && !is_presence)
		to_rc = jid_parse_str(&to, origin->jid.bare);
	if (!no_wait &&
	    wait_for_state(st, from, to_rc == 0 ? &to : NULL, origin, filter))
		goto out;
	ev.stanza = st;
	ev.from = from;
	ev.session = origin;
	ev.type = type ? type : "";
	stanza_classify(st, &ev.kind, &ev.stype);
	if (is_iq) {
		kind = iq_kind(type);
		ev.payload = xml_node_first_el(st);
		if (kind == NULL || xml_node_attr(st, "id") == NULL) {
			stanza_bounce(st, "modify", "bad-request",
			    "iq needs an id and a valid type");
			goto out;
		}
		if ((strcmp(kind, "iq-get") == 0 ||
			strcmp(kind, "iq-set") == 0) &&
		    (ev.payload == NULL || xml_node_next_el(ev.payload))) {
			/* RFC 6120 §8.2.3: get/set carry exactly one child */
			stanza_bounce(st, "modify", "bad-request",
			    "iq get/set needs exactly one child element");
			goto out;
		}
	}
	if (origin) {
		static const char *const outgoing[] = { "message/outgoing",
			"presence/outgoing", "iq/outgoing" };
		int k = is_iq ? 2 : is_presence;

		ev.host = origin->host;
		if (hook_fire(origin->host->hooks, outgoing[k], &ev) ==
		    HOOK_HANDLED)
			goto out;
		ev.host = NULL;
	}
	if (to_attr) {
		if (to_rc != 0) {
			stanza_bounce(st, "modify", "jid-malformed", NULL);
			goto out;
		}
	} else {
		if (origin == NULL)
			goto out; /* nowhere to go */
		if (is_presence) {
			ev.host = origin->host;
			ev.to = &origin->jid;
			ev.to_self = 1;
			hook_fire(origin->host->hooks, "presence/self", &ev);
			goto out;
		}
		ev.to_self = 1;
	}
	ev.to = &to;
	/* the domain is found once; policies see the recipient's host
	 * when it is one of our accounts domains or the parent host of
	 * one of its services (a block list keeps listed senders out of
	 * group chats too); not for components, which have policies of
	 * their own */
	d = domain_find(to.domain);
	h = d && (d->kind == DOMAIN_ACCOUNTS || d->kind == DOMAIN_SERVICE)
		? d->host
		: NULL;
	if (filter && filtered(&ev, h))
		goto out;
	if (d == NULL)
		d = domain_remote();
	if (d) {
		d->route(d, st, &ev, kind);
		goto out;
	}
	/* no federation route: requests and messages learn why */
	stanza_bounce_unless_quiet(st, kind, "remote-server-not-found");
out:
	jid_cleanup(&to);
}

void
stanza_bounce_unless_quiet(
    struct xml_node *st, const char *kind, const char *condition)
{
	/* presence is dropped (RFC 6121 §4.3 lets servers stay silent),
	 * and so are iq results and errors (RFC 6120 §8.3.1) */
	if (strcmp(st->name, "presence") == 0 ||
	    strcmp(kind, "iq-result") == 0 || strcmp(kind, "iq-error") == 0)
		return;
	stanza_bounce(st, "cancel", condition, NULL);
}

/* src/mod/presence.c: RFC 6121 §3 subscriptions and §4 presence. */
#include "mod/mod.h"
#include "mod/roster.h"

#define DIRECTED_MAX 256
#define STATUS_MAX 1023

/* Per session: the last available presence it broadcast (NULL while
 * unavailable) and where it sent directed presence (RFC 6121 §4.6). */
struct pres_sess {
	struct xml_node *last;
	char **directed;
	size_t ndirected;
};

static int
pidx(void)
{
	static int idx = -2;

	if (idx == -2)
		idx = module_index("presence");
	return idx;
}

static struct pres_sess *
ps_get(struct session *s, int create)
{
	struct pres_sess *ps = session_mod_get(s, pidx());

	if (ps == NULL && create) {
		ps = xcalloc(1, sizeof(*ps));
		session_mod_set(s, pidx(), ps);
	}
	return ps;
}

static int
has_from(int sub)
{
	return sub == ROSTER_SUB_FROM || sub == ROSTER_SUB_BOTH;
}

static int
has_to(int sub)
{
	return sub == ROSTER_SUB_TO || sub == ROSTER_SUB_BOTH;
}

static int
usable(const struct session *s)
{
	return s->available && !s->closing;
}

/* ---- the roster, collected before acting (acting writes to it) ---- */

struct contact {
	char *jid;
	int sub, pending_in;
	char *status;
};

struct contacts {
	struct contact *v;
	size_t n;
};

static int
collect(void *ud, const struct roster_item *it)
{
	struct contacts *cs = ud;
	struct contact *c;

	cs->v = xrealloc(cs->v, (cs->n + 1) * sizeof(*cs->v));
	c = &cs->v[cs->n++];
	c->jid = xstrdup(it->jid);
	c->sub = it->sub;
	c->pending_in = it->pending_in;
	c->status = it->status ? xstrdup(it->status) : NULL;
	return 0;
}

static void
contacts_load(const struct jid *user, struct contacts *cs)
{
	cs->v = NULL;
	cs->n = 0;
	roster_foreach(user->domain, user->node, collect, cs);
}

static void
contacts_free(struct contacts *cs)
{
	size_t i;

	for (i = 0; i < cs->n; i++) {
		free(cs->v[i].jid);
		free(cs->v[i].status);
	}
	free(cs->v);
}

/* ---- sending ---- */

/* A copy of st addressed to `to`, routed as from `from`. */
static void
route_copy(const struct xml_node *st, const struct jid *from, const char *to)
{
	struct xml_node *c = xml_node_dup(st);

	xml_node_set_attr(c, "from", from->full);
	xml_node_set_attr(c, "to", to);
	router_route(c, from, NULL);
	xml_node_free(c);
}

static void
send_simple(const struct jid *from, const char *to, const char *type)
{
	struct xml_node *p = xml_node_new(XML_NS_CLIENT, "presence");

	if (type)
		xml_node_set_attr(p, "type", type);
	xml_node_set_attr(p, "from", from->full);
	xml_node_set_attr(p, "to", to);
	router_route(p, from, NULL);
	xml_node_free(p);
}

/* Inbound presence for an account: every available resource gets it
 * (RFC 6121 §8.5.2.1.2; negative priority does not matter here). */
static int
deliver_all(const char *bare, struct xml_node *st)
{
	struct session *s;
	struct rbuf *r = NULL;
	int n = 0;

	for (s = session_find_bare(bare); s; s = s->next_res) {
		if (!usable(s))
			continue;
		session_send(s, st, &r);
		n++;
	}
	rbuf_unref(r);
	return n;
}

/* The current presence of each available resource of user, to `to`
 * (after an approval, or answering a probe). only: one resource. */
static void
send_current(const char *user_bare, const char *only, const char *to)
{
	struct session *s;

	for (s = session_find_bare(user_bare); s; s = s->next_res) {
		struct pres_sess *ps = ps_get(s, 0);

		if (!usable(s) || ps == NULL || ps->last == NULL)
			continue;
		if (only && strcmp(only, s->jid.full) != 0)
			continue;
		route_copy(ps->last, &s->jid, to);
	}
}

static void
send_unavailable_all(const char *user_bare, const char *to)
{
	struct session *s;

	for (s = session_find_bare(user_bare); s; s = s->next_res)
		if (usable(s))
			send_simple(&s->jid, to, "unavailable");
}

/* st (from s) to the contacts with a 'from' subscription and to the
 * account's other available resources (RFC 6121 §4.2.2, §4.4.2, §4.5.2). */
static void
broadcast(
    struct session *s, const struct xml_node *st, const struct contacts *cs)
{
	struct session *o;
	size_t i;

	for (i = 0; i < cs->n; i++)
		if (has_from(cs->v[i].sub))
			route_copy(st, &s->jid, cs->v[i].jid);
	for (o = session_find_bare(s->jid.bare); o; o = o->next_res) {
		struct xml_node *c;
		struct rbuf *r = NULL;

		if (o == s || !usable(o))
			continue;
		c = xml_node_dup(st);
		xml_node_set_attr(c, "from", s->jid.full);
		xml_node_set_attr(c, "to", o->jid.full);
		session_send(o, c, &r);
		rbuf_unref(r);
		xml_node_free(c);
	}
}

static void
directed_clear(struct session *s, struct pres_sess *ps)
{
	size_t i;

	for (i = 0; i < ps->ndirected; i++) {
		send_simple(&s->jid, ps->directed[i], "unavailable");
		free(ps->directed[i]);
	}
	free(ps->directed);
	ps->directed = NULL;
	ps->ndirected = 0;
}

/* The session goes unavailable: the contacts, the other resources and
 * whoever got directed presence learn it (RFC 6121 §4.5.2, §4.6.3). */
static void
go_unavailable(
    struct session *s, struct pres_sess *ps, const struct xml_node *st)
{
	if (ps->last) {
		struct contacts cs;

		contacts_load(&s->jid, &cs);
		broadcast(s, st, &cs);
		contacts_free(&cs);
		xml_node_free(ps->last);
		ps->last = NULL;
	}
	directed_clear(s, ps);
}

/* ---- presence from the account's own sessions ---- */

static void
initial(struct hook_ev *ev, const struct contacts *cs)
{
	struct session *s = ev->session, *o;
	struct rbuf *r;
	size_t i;

	/* RFC 6121 §4.2.2: probe the contacts we are subscribed to */
	for (i = 0; i < cs->n; i++)
		if (has_to(cs->v[i].sub))
			send_simple(&s->jid, cs->v[i].jid, "probe");
	/* the other resources' presence, to the new one */
	for (o = session_find_bare(s->jid.bare); o; o = o->next_res) {
		struct pres_sess *ops = ps_get(o, 0);
		struct xml_node *c;

		if (o == s || !usable(o) || ops == NULL || ops->last == NULL)
			continue;
		c = xml_node_dup(ops->last);
		xml_node_set_attr(c, "from", o->jid.full);
		xml_node_set_attr(c, "to", s->jid.full);
		r = NULL;
		session_send(s, c, &r);
		rbuf_unref(r);
		xml_node_free(c);
	}
	/* RFC 6121 §3.1.3: requests that waited for the user */
	for (i = 0; i < cs->n; i++) {
		struct xml_node *p;

		if (!cs->v[i].pending_in)
			continue;
		p = xml_node_new(XML_NS_CLIENT, "presence");
		xml_node_set_attr(p, "type", "subscribe");
		xml_node_set_attr(p, "from", cs->v[i].jid);
		xml_node_set_attr(p, "to", s->jid.bare);
		if (cs->v[i].status)
			xml_node_text(xml_node_child(p, NULL, "status"),
			    cs->v[i].status, strlen(cs->v[i].status));
		r = NULL;
		session_send(s, p, &r);
		rbuf_unref(r);
		xml_node_free(p);
	}
	hook_fire(ev->host->hooks, "presence/initial", ev);
}

static enum hook_ret
pres_self(struct hook_ev *ev)
{
	struct session *s = ev->session;
	struct pres_sess *ps;
	struct contacts cs;
	int first;

	if (s == NULL)
		return HOOK_CONTINUE;
	if (ev->stype == STANZA_TYPE_NONE) {
		ps = ps_get(s, 1);
		first = ps->last == NULL;
		xml_node_free(ps->last);
		ps->last = xml_node_dup(ev->stanza);
		xml_node_set_attr(ps->last, "to", NULL);
		contacts_load(&s->jid, &cs);
		broadcast(s, ev->stanza, &cs);
		if (first)
			initial(ev, &cs);
		contacts_free(&cs);
		return HOOK_CONTINUE;
	}
	if (ev->stype == STANZA_TYPE_UNAVAILABLE) {
		ps = ps_get(s, 0);
		if (ps)
			go_unavailable(s, ps, ev->stanza);
		return HOOK_CONTINUE;
	}
	/* subscription stanzas or probes to oneself mean nothing here;
	 * other modules (offline delivery) still see the presence */
	return HOOK_CONTINUE;
}

static enum hook_ret
pres_closed(struct hook_ev *ev)
{
	struct session *s = ev->session;
	struct pres_sess *ps = ps_get(s, 0);

	if (ps == NULL)
		return HOOK_CONTINUE;
	if (ps->last || ps->ndirected) {
		struct xml_node *u = xml_node_new(XML_NS_CLIENT, "presence");

		xml_node_set_attr(u, "type", "unavailable");
		xml_node_set_attr(u, "from", s->jid.full);
		go_unavailable(s, ps, u);
		xml_node_free(u);
	}
	xml_node_free(ps->last);
	free(ps->directed);
	free(ps);
	session_mod_set(s, pidx(), NULL);
	return HOOK_CONTINUE;
}

/* ---- subscriptions (RFC 6121 §3) ---- */

static int
sub_type(const char *t)
{
	return strcmp(t, "subscribe") == 0 || strcmp(t, "subscribed") == 0 ||
	       strcmp(t, "unsubscribe") == 0 || strcmp(t, "unsubscribed") == 0;
}

static void
set_status(struct roster_item *it, struct xml_node *st)
{
	struct xml_node *s = xml_node_find(st, XML_NS_CLIENT, "status");

	free(it->status);
	it->status = NULL;
	if (s) {
		const char *t = xml_node_text_get(s);
		size_t n = strlen(t);

		/* cut at a UTF-8 character boundary */
		if (n > STATUS_MAX) {
			n = STATUS_MAX;
			while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
				n--;
		}
		it->status = xstrndup(t, n);
	}
}

/* The user (a local session) sends a subscription stanza to contact. */
static void
out_subscription(struct hook_ev *ev, const struct jid *contact)
{
	const struct jid *u = ev->from;
	const char *t = ev->type;
	struct roster_item it;
	struct jid ubare;
	int rc, route = 1, had_from, changed = 0;

	rc = roster_item_get(u->domain, u->node, contact->bare, &it);
	if (rc < 0 || jid_parse_str(&ubare, u->bare) != 0) {
		stanza_bounce(
		    ev->stanza, "wait", "internal-server-error", NULL);
		roster_item_cleanup(&it);
		return;
	}
	had_from = has_from(it.sub);
	if (rc == 1 &&
	    (strcmp(t, "subscribe") == 0 || strcmp(t, "subscribed") == 0)) {
		/* a new item */
		if (roster_room(u->domain, u->node) != 0) {
			stanza_bounce(ev->stanza, "cancel", "not-allowed",
			    "the roster is full");
			goto out;
		}
	}
	if (strcmp(t, "subscribe") == 0) {
		/* §3.1.2: push the item with ask, then route */
		if (!has_to(it.sub) && (!it.ask || it.hidden)) {
			it.ask = 1;
			it.hidden = 0;
			changed = 1;
		} else if (it.hidden) {
			it.hidden = 0;
			changed = 1;
		}
	} else if (strcmp(t, "subscribed") == 0) {
		if (it.pending_in) {
			/* §3.1.5: approval */
			it.pending_in = 0;
			free(it.status);
			it.status = NULL;
			it.sub |= ROSTER_SUB_FROM;
			it.hidden = 0;
			changed = 1;
		} else if (!had_from) {
			/* §3.4: pre-approval, kept here, not routed */
			route = 0;
			if (!it.approved || it.hidden) {
				it.approved = 1;
				it.hidden = 0;
				changed = 1;
			}
		} else {
			route = 0; /* already approved: nothing to say */
		}
	} else if (strcmp(t, "unsubscribe") == 0) {
		/* §3.3.2 */
		if (it.ask || has_to(it.sub)) {
			it.ask = 0;
			it.sub &= ~ROSTER_SUB_TO;
			changed = 1;
		}
	} else {
		/* unsubscribed: §3.2.2 cancel, §3.1.5 deny, §3.4 revoke */
		if (it.pending_in || it.approved || had_from) {
			it.pending_in = 0;
			it.approved = 0;
			free(it.status);
			it.status = NULL;
			it.sub &= ~ROSTER_SUB_FROM;
			changed = 1;
		}
	}
	if (changed && roster_item_put(u->domain, u->node, &it) != 0) {
		stanza_bounce(
		    ev->stanza, "wait", "internal-server-error", NULL);
		goto out_jid;
	}
	if (route) {
		/* §3.1.2: the server stamps the bare JID as 'from' */
		struct xml_node *c = xml_node_dup(ev->stanza);

		xml_node_set_attr(c, "from", ubare.full);
		xml_node_set_attr(c, "to", contact->bare);
		router_route(c, &ubare, NULL);
		xml_node_free(c);
	}
	if (strcmp(t, "subscribed") == 0 && route && !had_from)
		send_current(u->bare, NULL, contact->bare);
	if (strcmp(t, "unsubscribed") == 0 && had_from)
		send_unavailable_all(u->bare, contact->bare);
out_jid:
	jid_cleanup(&ubare);
out:
	roster_item_cleanup(&it);
}

/* Answer a subscribe on the user's behalf with 'subscribed'. */
static void
auto_subscribed(const struct jid *user, const char *contact)
{
	struct jid ub;

	if (jid_parse_str(&ub, user->bare) != 0)
		return;
	send_simple(&ub, contact, "subscribed");
	jid_cleanup(&ub);
}

/* deliver st from the contact's bare JID to the user's resources */
static void
deliver_sub(const struct jid *user, const char *contact, struct xml_node *st)
{
	struct xml_node *c = xml_node_dup(st);

	xml_node_set_attr(c, "from", contact);
	xml_node_set_attr(c, "to", user->bare);
	deliver_all(user->bare, c);
	xml_node_free(c);
}

/* A contact's subscription stanza reaches local user ev->to (§3). */
static void
in_subscription(struct hook_ev *ev)
{
	const struct jid *u = ev->to;
	const char *contact = ev->from->bare, *t = ev->type;
	struct roster_item it;
	int rc, changed = 0, deliver = 0;

	rc = roster_item_get(u->domain, u->node, contact, &it);
	if (rc < 0)
		goto out;
	if (strcmp(t, "subscribe") == 0) {
		if (has_from(it.sub)) {
			/* §3.1.3: already approved */
			auto_subscribed(u, contact);
			goto out;
		}
		if (it.approved) {
			/* §3.4: pre-approved: approve now */
			it.approved = 0;
			it.sub |= ROSTER_SUB_FROM;
			it.hidden = 0;
			if (roster_item_put(u->domain, u->node, &it) != 0)
				goto out;
			auto_subscribed(u, contact);
			send_current(u->bare, NULL, contact);
			goto out;
		}
		if (it.pending_in) {
			/* RFC 6121 §3.1.3, Appendix A.3.1: a request
			 * already pending is not delivered again (nor its
			 * <status/> changed); the user sees it once, and
			 * again only at its next login (initial()) */
			goto out;
		}
		if (it.hidden &&
		    (roster_room(u->domain, u->node) != 0 ||
			roster_pending_room(u->domain, u->node) != 0)) {
			/* strangers cannot grow a user's data without bound;
			 * the sender learns why its request went nowhere */
			log_info("presence subscribe refused, too many "
				 "pending user=%s from=%s",
			    u->bare, contact);
			stanza_bounce(ev->stanza, "wait", "resource-constraint",
			    "too many subscription requests are waiting");
			goto out;
		}
		/* §3.1.3: kept until the user answers, and shown now
		 * to the available resources */
		it.pending_in = 1;
		set_status(&it, ev->stanza);
		if (roster_item_save(u->domain, u->node, &it) != 0)
			goto out;
		deliver = 1;
	} else if (strcmp(t, "subscribed") == 0) {
		/* §3.1.6: only an answer to our request counts */
		if (it.ask && !it.hidden) {
			it.ask = 0;
			it.sub |= ROSTER_SUB_TO;
			changed = deliver = 1;
		}
	} else if (strcmp(t, "unsubscribe") == 0) {
		/* §3.3.3: the contact no longer wants our presence */
		int had_from = has_from(it.sub);

		if (had_from || it.pending_in) {
			it.pending_in = 0;
			free(it.status);
			it.status = NULL;
			it.sub &= ~ROSTER_SUB_FROM;
			changed = deliver = 1;
		}
		if (changed && roster_item_put(u->domain, u->node, &it) != 0)
			goto out;
		changed = 0;
		if (had_from)
			send_unavailable_all(u->bare, contact);
	} else {
		/* unsubscribed: §3.2.3 cancelled, or our request denied */
		if (it.ask || has_to(it.sub)) {
			it.ask = 0;
			it.sub &= ~ROSTER_SUB_TO;
			changed = deliver = 1;
		}
	}
	if (changed && roster_item_put(u->domain, u->node, &it) != 0)
		goto out;
	if (deliver)
		deliver_sub(u, contact, ev->stanza);
out:
	roster_item_cleanup(&it);
}

/* §4.3.2: a probe is answered only for a subscribed contact. */
static void
answer_probe(struct hook_ev *ev)
{
	const struct jid *u = ev->to;
	int sub;

	if (strcmp(ev->from->bare, u->bare) != 0) {
		sub = roster_subscription(u->domain, u->node, ev->from->bare);
		if (sub < 0 || !has_from(sub))
			return;
	}
	{
		struct session *s;
		int any = 0;

		for (s = session_find_bare(u->bare); s; s = s->next_res)
			if (usable(s) && (u->resource == NULL ||
					     strcmp(s->jid.full, u->full) == 0))
				any = 1;
		if (!any) {
			struct jid ub;

			if (jid_parse_str(&ub, u->bare) == 0) {
				send_simple(&ub, ev->from->full, "unavailable");
				jid_cleanup(&ub);
			}
			return;
		}
	}
	send_current(u->bare, u->resource ? u->full : NULL, ev->from->full);
}

/* ---- routing events ---- */

static enum hook_ret
pres_outgoing(struct hook_ev *ev)
{
	const char *to_attr = xml_node_attr(ev->stanza, "to");
	struct session *s = ev->session;
	struct pres_sess *ps;
	struct jid to;
	size_t i;

	if (to_attr == NULL || jid_parse_str(&to, to_attr) != 0)
		return HOOK_CONTINUE; /* self presence, or the router bounces */
	if (sub_type(ev->type)) {
		out_subscription(ev, &to);
		jid_cleanup(&to);
		return HOOK_HANDLED;
	}
	if (ev->stype != STANZA_TYPE_NONE &&
	    ev->stype != STANZA_TYPE_UNAVAILABLE)
		goto out;
	/* §4.6: directed presence; contacts who get broadcasts anyway
	 * are not tracked */
	ps = ps_get(s, 1);
	for (i = 0; i < ps->ndirected; i++)
		if (strcmp(ps->directed[i], to.full) == 0)
			break;
	if (ev->stype == STANZA_TYPE_NONE) {
		int sub =
		    roster_subscription(s->jid.domain, s->jid.node, to.bare);

		if (i == ps->ndirected && ps->ndirected < DIRECTED_MAX &&
		    (!has_from(sub) || !ps->last)) {
			ps->directed = xrealloc(
			    ps->directed, (ps->ndirected + 1) * sizeof(char *));
			ps->directed[ps->ndirected++] = xstrdup(to.full);
		}
	} else if (i < ps->ndirected) {
		free(ps->directed[i]);
		ps->directed[i] = ps->directed[--ps->ndirected];
	}
out:
	jid_cleanup(&to);
	return HOOK_CONTINUE;
}

static enum hook_ret
pres_bare(struct hook_ev *ev)
{
	if (ev->to->node == NULL)
		return HOOK_CONTINUE;
	if (sub_type(ev->type)) {
		in_subscription(ev);
		return HOOK_HANDLED;
	}
	if (ev->stype == STANZA_TYPE_PROBE) {
		answer_probe(ev);
		return HOOK_HANDLED;
	}
	if (ev->to->resource)
		return HOOK_CONTINUE; /* §8.5.3.2.2: resource gone: dropped */
	if (ev->stype == STANZA_TYPE_NONE ||
	    ev->stype == STANZA_TYPE_UNAVAILABLE) {
		deliver_all(ev->to->bare, ev->stanza);
		return HOOK_HANDLED;
	}
	return HOOK_CONTINUE;
}

/* To a connected resource: subscription stanzas and probes are the
 * account's business all the same (§3.1.3, §4.3.2). */
static enum hook_ret
pres_full(struct hook_ev *ev)
{
	if (sub_type(ev->type)) {
		in_subscription(ev);
		return HOOK_HANDLED;
	}
	if (ev->stype == STANZA_TYPE_PROBE) {
		answer_probe(ev);
		return HOOK_HANDLED;
	}
	return HOOK_CONTINUE;
}

static const struct hook_reg presence_hooks[] = { { "presence/outgoing",
						      pres_outgoing, 0 },
	{ "presence/self", pres_self, 0 }, { "presence/bare", pres_bare, 0 },
	{ "presence/full", pres_full, 0 }, { "session/closed", pres_closed, 0 },
	HOOK_REG_END };

static void
pres_session_free(void *data)
{
	struct pres_sess *ps = data;
	size_t i;

	for (i = 0; i < ps->ndirected; i++)
		free(ps->directed[i]);
	xml_node_free(ps->last);
	free(ps->directed);
	free(ps);
}

const struct module mod_presence = {
	.name = "presence",
	.spec = "RFC 6121 §3, §4",
	.doc = "Subscriptions, presence broadcast, probes and directed "
	       "presence.",
	.hooks = presence_hooks,
	.depends = (const char *const[]){ "roster", NULL },
	.session_free = pres_session_free,
};

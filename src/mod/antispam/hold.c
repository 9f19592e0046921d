/* src/mod/antispam/hold.c: messages an account on probation sends to
 * strangers (probation_strangers: hold) wait in the host's queue instead
 * of reaching them. One is delivered, with a XEP-0203 delay stamped by
 * the host, as soon as the sender and the recipient share a
 * subscription (the recipient approved the sender's request, or the
 * sender approved the recipient's), the recipient wrote to the sender,
 * or the sender's probation is over; it is dropped when the sender's
 * account is disabled (an admin acting on a report) or deleted. So a
 * spammer's burst from fresh accounts reaches nobody if the admins act
 * within the probation.
 *
 * The queue is the map store "antispam_held" of the host (user ""), keys
 * sorting by time, values "user\nrecipient\n<message/>"; it survives
 * restarts (the sender had the message acknowledged). Caps: hold_max
 * per account, HOLD_HOST_MAX per host; past them the message is refused.
 * Its index (key, sender, recipient) is kept in memory and looked over
 * every HOLD_CHECK seconds, and soon after a subscription changes. */
#include "mod/antispam/antispam.h"
#include "mod/roster.h"
#include "xmpp/account.h"

#define HOLD_STORE "antispam_held"
#define HOLD_HOST_MAX 5000
#define HOLD_CHECK 5.0
#define KEY_LEN 40

struct held {
	char key[KEY_LEN];
	char *user, *to;
};

struct hold_state {
	struct host *h;
	ev_timer timer;
	struct held *v;
	size_t n, cap;
	struct hold_state *next;
};

static struct hold_state *states;

static struct hold_state *
hold_of(const struct host *h)
{
	struct hold_state *s;

	for (s = states; s; s = s->next)
		if (s->h == h)
			return s;
	return NULL;
}

static void
held_push(struct hold_state *s, const char *key, const char *user, size_t ulen,
    const char *to, size_t tlen)
{
	struct held *e;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	e = &s->v[s->n++];
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->user = xstrndup(user, ulen);
	e->to = xstrndup(to, tlen);
}

static void
held_remove(struct hold_state *s, size_t i)
{
	free(s->v[i].user);
	free(s->v[i].to);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

/* "user\nto\n<xml>": the lengths of user and to, the xml's offset; -1
 * when val is not that. */
static int
split(const char *val, size_t len, size_t *ulen, size_t *tlen, size_t *xml)
{
	const char *nl1 = memchr(val, '\n', len), *nl2;

	if (nl1 == NULL)
		return -1;
	nl2 = memchr(nl1 + 1, '\n', len - (size_t)(nl1 + 1 - val));
	if (nl2 == NULL)
		return -1;
	*ulen = (size_t)(nl1 - val);
	*tlen = (size_t)(nl2 - nl1 - 1);
	*xml = (size_t)(nl2 + 1 - val);
	return 0;
}

static int
load_one(void *ud, const char *key, const char *val, size_t len)
{
	struct hold_state *s = ud;
	size_t ulen, tlen, xml;

	if (strlen(key) >= KEY_LEN || split(val, len, &ulen, &tlen, &xml) != 0)
		return 0;
	if (s->n < HOLD_HOST_MAX)
		held_push(s, key, val, ulen, val + ulen + 1, tlen);
	return 0;
}

static int
held_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const struct held *)a)->key, ((const struct held *)b)->key);
}

/* Deliver held message i (stamped with a delay) and forget it. */
static void
release(struct hold_state *s, size_t i)
{
	const char *hn = s->h->name;
	struct xml_node *st = NULL, *d;
	char key[KEY_LEN];
	size_t len = 0, ulen, tlen, xml;
	const char *from_attr;
	struct jid from;
	char *val = NULL, stamp[32];

	/* by its key, not the entry: routing may change the queue */
	snprintf(key, sizeof(key), "%s", s->v[i].key);
	if (store_map_get(hn, "", HOLD_STORE, key, &val, &len) != 0 ||
	    split(val, len, &ulen, &tlen, &xml) != 0 ||
	    (st = xml_parse_element(val + xml, len - xml)) == NULL) {
		log_warn("antispam %s: held message %s unreadable, dropped", hn,
		    key);
		goto out_del;
	}
	from_attr = xml_node_attr(st, "from");
	if (from_attr == NULL || jid_parse_str(&from, from_attr) != 0) {
		log_warn("antispam %s: held message %s has no sender, dropped",
		    hn, key);
		goto out_del;
	}
	time_xep82(strtoll(key, NULL, 10), stamp, sizeof(stamp));
	d = xml_node_child(st, "urn:xmpp:delay", "delay");
	xml_node_set_attr(d, "from", hn);
	xml_node_set_attr(d, "stamp", stamp);
	log_info("antispam %s: released held message from %s to %s", hn,
	    from.bare, s->v[i].to);
	router_route(st, &from, NULL);
	jid_cleanup(&from);
out_del:
	xml_node_free(st);
	free(val);
	store_map_del(hn, "", HOLD_STORE, key);
	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].key, key) == 0) {
			held_remove(s, i);
			break;
		}
}

static void
hold_check(struct hold_state *s)
{
	const char *hn = s->h->name;
	size_t i = 0;

	while (i < s->n) {
		const struct held *e = &s->v[i];

		if (account_exists(hn, e->user) == 1 ||
		    account_is_disabled(hn, e->user) == 1) {
			log_info("antispam %s: dropped held message from %s@%s "
				 "to %s (account disabled or deleted)",
			    hn, e->user, hn, e->to);
			store_map_del(hn, "", HOLD_STORE, e->key);
			held_remove(s, i);
		} else if (!antispam_on_probation(s->h, e->user) ||
			   roster_subscription(hn, e->user, e->to) > 0 ||
			   relation_has(s->h, e->user, e->to, REL_RECEIVED)) {
			release(s, i);
		} else {
			i++;
		}
	}
}

static void
hold_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct hold_state *s = t->data;

	UNUSED(loop);
	UNUSED(revents);
	hold_check(s);
	if (s->n == 0)
		ev_timer_stop(loop_ev, &s->timer); /* idle: no wake-ups */
}

/* Look at the queue in after seconds, then every HOLD_CHECK. */
static void
hold_arm(struct hold_state *s, double after)
{
	ev_timer_stop(loop_ev, &s->timer);
	ev_timer_set(&s->timer, after, HOLD_CHECK);
	ev_timer_start(loop_ev, &s->timer);
}

static int
hold_message(struct host *h, const char *user, const char *to_bare,
    const struct xml_node *st)
{
	const struct antispam_cfg *cfg = host_modcfg(h, &mod_antispam);
	struct hold_state *s = hold_of(h);
	static unsigned seq;
	struct sbuf v;
	char key[KEY_LEN], rnd[9];
	long long mine = 0;
	size_t i;
	int rc;

	if (s == NULL || s->n >= HOLD_HOST_MAX)
		return -1;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].user, user) == 0)
			mine++;
	if (mine >= cfg->hold_max)
		return -1;
	rand_id(rnd, sizeof(rnd));
	snprintf(key, sizeof(key), "%012lld-%08x-%s", (long long)now_unix(),
	    seq++, rnd);
	sbuf_init(&v);
	sbuf_printf(&v, "%s\n%s\n", user, to_bare);
	xml_serialize(st, XML_NS_CLIENT, &v);
	rc = store_map_set(h->name, "", HOLD_STORE, key, v.data, v.len);
	sbuf_cleanup(&v);
	if (rc != 0)
		return -1;
	held_push(s, key, user, strlen(user), to_bare, strlen(to_bare));
	if (!ev_is_active(&s->timer))
		hold_arm(s, HOLD_CHECK);
	log_info("antispam %s: held a message from %s@%s to %s (%lld held)",
	    h->name, user, h->name, to_bare, mine + 1);
	return 0;
}

/* route/filter on the sender's host: a message with a body from an
 * account on probation (a client's, within its limit: antispam.c ran on
 * message/outgoing) to a stranger is held, or refused when the queue is
 * full; one without a body (a chat state, a receipt) is not worth
 * keeping and is dropped. Not to a room it joined (invitations, private
 * messages): nothing can approve those, the limit is enough. */
enum hook_ret
hold_filter(struct hook_ev *ev)
{
	const struct antispam_cfg *cfg = host_modcfg(ev->host, &mod_antispam);
	const struct jid *from = ev->from, *to = ev->to;
	const char *hn = ev->host->name;

	if (cfg->probation_strangers == PROBATION_ALLOW ||
	    ev->session == NULL || ev->kind != STANZA_MESSAGE ||
	    ev->stype == STANZA_TYPE_ERROR ||
	    ev->stype == STANZA_TYPE_GROUPCHAT || to == NULL ||
	    to->node == NULL || from->node == NULL ||
	    strcmp(from->domain, hn) != 0 || jid_bare_eq(from, to) ||
	    host_is_admin(ev->host, from->bare) ||
	    roster_subscription(hn, from->node, to->bare) > 0 ||
	    relation_has(
		ev->host, from->node, to->bare, REL_RECEIVED | REL_PRESENCE) ||
	    !antispam_on_probation(ev->host, from->node))
		return HOOK_CONTINUE;
	if (xml_node_find(ev->stanza, NULL, "body") == NULL)
		return HOOK_HANDLED;
	if (cfg->probation_strangers == PROBATION_DROP) {
		log_info("antispam %s: dropped a message from %s to %s "
			 "(probation)",
		    hn, from->bare, to->bare);
		return HOOK_HANDLED;
	}
	if (cfg->probation_strangers == PROBATION_BOUNCE) {
		stanza_bounce(ev->stanza, "cancel", "policy-violation",
		    "New accounts may write only to their contacts until "
		    "their probation ends");
		return HOOK_HANDLED;
	}
	if (hold_message(ev->host, from->node, to->bare, ev->stanza) == 0)
		return HOOK_HANDLED;
	log_info("antispam %s: refused a message from %s to %s (held queue "
		 "full)",
	    hn, from->bare, to->bare);
	stanza_bounce(ev->stanza, "wait", "policy-violation",
	    "Too many of your messages to contacts not in your roster wait "
	    "for your new account's probation to end");
	return HOOK_HANDLED;
}

void
hold_kick(const struct host *h)
{
	struct hold_state *s = hold_of(h);

	if (s != NULL && s->n > 0)
		hold_arm(s, 0.2);
}

int
hold_init(struct host *h)
{
	struct hold_state *s = xcalloc(1, sizeof(*s));

	s->h = h;
	if (store_map_list(h->name, "", HOLD_STORE, load_one, s) != 0)
		log_warn(
		    "antispam %s: could not read the held messages", h->name);
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), held_cmp);
	/* even with probation_strangers back at allow, what was held is
	 * still delivered or dropped */
	ev_timer_init(&s->timer, hold_timer, HOLD_CHECK, HOLD_CHECK);
	s->timer.data = s;
	if (s->n > 0)
		ev_timer_start(loop_ev, &s->timer);
	s->next = states;
	states = s;
	return 0;
}

void
hold_cleanup(struct host *h)
{
	struct hold_state **pp, *s;

	for (pp = &states; (s = *pp) != NULL; pp = &s->next) {
		if (s->h != h)
			continue;
		*pp = s->next;
		ev_timer_stop(loop_ev, &s->timer);
		while (s->n)
			held_remove(s, s->n - 1);
		free(s->v);
		free(s);
		return;
	}
}

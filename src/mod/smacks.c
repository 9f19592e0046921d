/* src/mod/smacks.c: XEP-0198 Stream Management (urn:xmpp:sm:3): acks,
 * and sessions that outlive their TCP connection for a while so a phone
 * can resume where it was. What a client never acknowledged is never
 * dropped: on resumption it is sent again, when the session ends a
 * message meant for the account is routed elsewhere (other resources,
 * offline storage), iqs are bounced, and copies meant for that session
 * alone (carbons, archive results) are dropped. */
#include "mod/mod.h"

#define NS_SM "urn:xmpp:sm:3"
#define NS_DELAY "urn:xmpp:delay"
#define TOMBSTONES 256

struct smacks_cfg {
	long long hibernation;	 /* seconds a lost session waits */
	long long max_queue;	 /* unacknowledged stanzas kept */
	long long request_every; /* stanzas between our <r/> */
	long long request_after; /* quiet seconds before an <r/> */
};

/* One unacknowledged stanza and when it was queued (for XEP-0203). */
struct smq {
	struct rbuf *r;
	double t;
};

struct sm {
	struct session *s;
	char id[17];
	unsigned resume : 1;
	unsigned hibernating : 1;
	unsigned r_pending : 1; /* on r_list: <r/> at the end of this turn */
	unsigned r_waiting : 1; /* an <r/> went out, its <a/> has not come */
	uint16_t since_r;	/* below request_every (at most 1000) */
	uint32_t in_h;		/* stanzas received from the client */
	uint32_t acked;		/* the client's last h */
	uint32_t r_h;		/* stanzas sent in all when we last sent <r/> */
	struct smq *q;		/* ring of unacknowledged stanzas */
	size_t qhead, qlen, qcap;
	/* while hibernating: the end of hibernation; otherwise, armed
	 * only while something is unacknowledged: the quiet-time <r/> */
	ev_timer timer;
	struct sm *rnext; /* list of streams owing an <r/> */
};

/* Sessions that ended: a late <resume/> learns the last h we saw. */
static struct {
	char id[17];
	char bare[128];
	uint32_t h;
} tombs[TOMBSTONES];
static unsigned tomb_next;

static struct sm *r_list;
static int r_hooked;

extern const struct module mod_smacks;

static int
modidx(void)
{
	static int idx = -1;

	if (idx < 0)
		idx = module_index("smacks");
	return idx;
}

static const struct smacks_cfg *
cfg_of(const struct host *h)
{
	return host_modcfg(h, &mod_smacks);
}

static struct sm *
sm_of(struct session *s)
{
	return s ? session_mod_get(s, modidx()) : NULL;
}

static void send_raw(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
send_raw(struct session *s, const char *fmt, ...)
{
	struct sbuf b;
	struct rbuf *r;
	va_list ap;

	sbuf_init(&b);
	va_start(ap, fmt);
	sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	r = rbuf_from_sbuf(&b);
	session_send_raw(s, r);
	rbuf_unref(r);
	sbuf_cleanup(&b);
}

static void
failed(struct hook_ev *ev, const char *cond, const uint32_t *h)
{
	struct xml_node *f = xml_node_new(NS_SM, "failed");

	if (h) {
		char v[16];

		snprintf(v, sizeof(v), "%u", *h);
		xml_node_set_attr(f, "h", v);
	}
	xml_node_child(f, NS_STANZAS, cond);
	if (ev->stream && ev->stream->answer) {
		xml_node_copy_into(ev->stream->answer, f);
		xml_node_free(f);
		return;
	}
	if (ev->stream) {
		ev->stream->reply(ev, f);
		return;
	}
	{
		struct sbuf b;
		struct rbuf *r;

		sbuf_init(&b);
		xml_serialize(f, XML_NS_CLIENT, &b);
		r = rbuf_from_sbuf(&b);
		session_send_raw(ev->session, r);
		rbuf_unref(r);
		sbuf_cleanup(&b);
		xml_node_free(f);
	}
}

static struct smq *
q_at(struct sm *m, size_t i)
{
	return &m->q[(m->qhead + i) % m->qcap];
}

static void
q_push(struct sm *m, struct rbuf *r)
{
	struct smq *e;

	if (m->qlen == m->qcap) {
		size_t ncap = m->qcap ? m->qcap * 2 : 8, i;
		struct smq *n = xmalloc(ncap * sizeof(*n));

		for (i = 0; i < m->qlen; i++)
			n[i] = *q_at(m, i);
		free(m->q);
		m->q = n;
		m->qcap = ncap;
		m->qhead = 0;
	}
	m->qlen++;
	e = q_at(m, m->qlen - 1);
	e->r = rbuf_ref(r);
	e->t = ev_now(loop_ev);
}

static void
q_drop(struct sm *m, size_t n)
{
	while (n-- > 0 && m->qlen > 0) {
		rbuf_unref(m->q[m->qhead].r);
		m->qhead = (m->qhead + 1) % m->qcap;
		m->qlen--;
	}
	if (m->qlen == 0) {
		free(m->q);
		m->q = NULL;
		m->qcap = m->qhead = 0;
	}
}

/* The client says it has handled h stanzas in all. */
static int
ack(struct sm *m, uint32_t h)
{
	static int hook_confirmed = -1;
	uint32_t n = h - m->acked; /* 32-bit wrap is intended */
	struct session *s = m->s;
	struct hook_ev ev = { 0 };

	if (n > m->qlen)
		return -1;
	q_drop(m, n);
	m->acked = h;
	if (n == 0)
		return 0;
	s->out_confirmed += n;
	if (hook_confirmed < 0)
		hook_confirmed = hook_intern("session/confirmed");
	if (s->host->hooks && hook_has(s->host->hooks, hook_confirmed)) {
		ev.host = s->host;
		ev.session = s;
		hook_fire_id(s->host->hooks, hook_confirmed, &ev);
	}
	return 0;
}

static int
parse_h(const char *s, uint32_t *h)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v > 0xffffffffUL)
		return -1;
	*h = (uint32_t)v;
	return 0;
}

static void
r_unlink(struct sm *m)
{
	struct sm **pp;

	if (!m->r_pending)
		return;
	for (pp = &r_list; *pp; pp = &(*pp)->rnext)
		if (*pp == m) {
			*pp = m->rnext;
			break;
		}
	m->r_pending = 0;
}

/* Ask for an acknowledgement of everything sent so far, unless we
 * already asked about all of it (a client whose <a/> leaves some
 * unacknowledged is not asked again and again). */
static void
request_ack(struct sm *m)
{
	uint32_t total = m->acked + (uint32_t)m->qlen;

	if (m->hibernating || m->qlen == 0 || total == m->r_h)
		return;
	m->r_h = total;
	m->since_r = 0;
	m->r_waiting = 1;
	send_raw(m->s, "<r xmlns='" NS_SM "'/>");
}

static void send_requests(void);

/* Ask at the end of this loop turn, after the stanzas just sent. */
static void
r_schedule(struct sm *m)
{
	if (m->r_pending)
		return;
	m->r_pending = 1;
	m->rnext = r_list;
	r_list = m;
	if (!r_hooked) {
		loop_at_idle(LOOP_BEFORE_COMMIT, send_requests);
		r_hooked = 1;
	}
	/* stanzas sent from deferred work (offline delivery) come after
	 * this turn's phase 0: another turn must send the <r/> */
	loop_kick();
}

/* Before the loop sleeps: one <r/> per stream that sent something, after
 * the stanzas it follows. */
static void
send_requests(void)
{
	while (r_list) {
		struct sm *m = r_list;

		r_list = m->rnext;
		m->r_pending = 0;
		request_ack(m);
	}
}

/* XEP-0198 §4: the server may ask at any time. Clients such as
 * libstrophe acknowledge only when asked, so a short session that got
 * fewer than request_every stanzas would never confirm them: ask once
 * the stream has been quiet for request_after seconds. */
static void
quiet_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct sm *m = w->data;
	double left;

	UNUSED(revents);
	if (m->hibernating || m->qlen == 0)
		return;
	left = q_at(m, m->qlen - 1)->t +
	       (double)cfg_of(m->s->host)->request_after - ev_now(l);
	if (left > 0.01) {
		/* more went out meanwhile: wait for the quiet */
		ev_timer_set(w, left, 0.0);
		ev_timer_start(l, w);
		return;
	}
	request_ack(m);
}

static void
quiet_arm(struct sm *m, const struct smacks_cfg *c)
{
	if (c->request_after <= 0 || ev_is_active(&m->timer))
		return;
	ev_timer_init(&m->timer, quiet_cb, (double)c->request_after, 0.0);
	m->timer.data = m;
	ev_timer_start(loop_ev, &m->timer);
}

static void
sm_free(struct sm *m)
{
	r_unlink(m);
	ev_timer_stop(loop_ev, &m->timer);
	q_drop(m, m->qlen);
	free(m);
}

/* XEP-0203: a message or presence sent later than it was queued says
 * when that was, once: one that has a <delay/> (from offline storage,
 * or from an earlier pass through here) keeps it. Returns whether st
 * changed. */
static int
add_delay(const struct host *h, struct xml_node *st, double t)
{
	struct xml_node *d;
	char stamp[32];

	if ((strcmp(st->name, "message") != 0 &&
		strcmp(st->name, "presence") != 0) ||
	    xml_node_find(st, NS_DELAY, "delay"))
		return 0;
	time_xep82((int64_t)t, stamp, sizeof(stamp));
	d = xml_node_child(st, NS_DELAY, "delay");
	xml_node_set_attr(d, "from", h->name);
	xml_node_set_attr(d, "stamp", stamp);
	return 1;
}

/* The queued stanza e, stamped with its delay for sending again. */
static void
delay_queued(const struct host *h, struct smq *e)
{
	struct xml_node *st = xml_parse_element(e->r->data, e->r->len);
	struct sbuf b;

	if (st == NULL)
		return;
	if (add_delay(h, st, e->t)) {
		sbuf_init(&b);
		xml_serialize(st, XML_NS_CLIENT, &b);
		rbuf_unref(e->r);
		e->r = rbuf_from_sbuf(&b);
		sbuf_cleanup(&b);
	}
	xml_node_free(st);
}

/* ---- the session ends for good: nothing unacknowledged is lost ---- */

/* Did another resource of the account already get st, queued here at t?
 * One that was online before (a second earlier, to be sure) got a
 * message to the bare JID when its priority was as high, and a chat
 * message as a copy when it takes copies (carbons). Sending it there
 * again would show it twice (XEP-0198 §5 leaves redelivery to the
 * server's judgement; XEP-0280 §6). */
static const struct session *
seen_elsewhere(const struct session *s, const struct xml_node *st, double t)
{
	const char *to = xml_node_attr(st, "to");
	const char *type = xml_node_attr(st, "type");
	int to_bare = to && strchr(to, '/') == NULL;
	int chat = type && strcmp(type, "chat") == 0;
	const struct session *o;

	for (o = session_find_bare(s->jid.bare); o; o = o->next_res) {
		if (o == s || o->closing || !o->available ||
		    o->started >= (int64_t)t)
			continue;
		if ((chat && o->copies) ||
		    (to_bare && o->priority >= 0 && o->priority >= s->priority))
			return o;
	}
	return NULL;
}

static void
reroute(struct session *s, struct sm *m)
{
	struct jid bare;
	size_t i;

	if (m->qlen == 0 || jid_parse_str(&bare, s->jid.bare) != 0)
		return;
	for (i = 0; i < m->qlen; i++) {
		struct smq *e = q_at(m, i);
		struct xml_node *st = xml_parse_element(e->r->data, e->r->len);
		const struct session *o;
		const char *type;

		if (st == NULL)
			continue;
		type = xml_node_attr(st, "type");
		if (strcmp(st->name, "message") == 0) {
			if (!stanza_for_account(st, s->jid.bare)) {
				log_debug("smacks dropping unacked copy "
					  "jid=%s",
				    s->jid.full);
			} else if ((o = seen_elsewhere(s, st, e->t)) != NULL) {
				log_debug("smacks unacked message not sent "
					  "again jid=%s: %s had it",
				    s->jid.full, o->jid.full);
			} else {
				/* other resources, or offline storage */
				add_delay(s->host, st, e->t);
				router_deliver_bare(s->host, st, &bare);
			}
		} else if (strcmp(st->name, "iq") == 0 && type &&
			   (strcmp(type, "get") == 0 ||
			       strcmp(type, "set") == 0)) {
			stanza_bounce(
			    st, "wait", "recipient-unavailable", NULL);
		}
		xml_node_free(st);
	}
	jid_cleanup(&bare);
}

static enum hook_ret
on_closed(struct hook_ev *ev)
{
	struct sm *m = sm_of(ev->session);

	if (m == NULL)
		return HOOK_CONTINUE;
	reroute(ev->session, m);
	if (m->resume) {
		unsigned t = tomb_next++ % TOMBSTONES;

		snprintf(tombs[t].id, sizeof(tombs[t].id), "%s", m->id);
		snprintf(tombs[t].bare, sizeof(tombs[t].bare), "%s",
		    ev->session->jid.bare);
		tombs[t].h = m->in_h;
	}
	session_mod_set(ev->session, modidx(), NULL);
	sm_free(m);
	return HOOK_CONTINUE;
}

/* ---- hibernation ---- */

static int
park_send(struct session *s, struct rbuf *r)
{
	UNUSED(s);
	UNUSED(r);
	return 0; /* the queue holds it until resumption or the end */
}

static void
park_close(struct session *s, const char *condition, const char *text)
{
	UNUSED(condition);
	UNUSED(text);
	session_end(s);
}

static void
park_detach(struct session *s)
{
	struct sm *m = sm_of(s);

	if (m) {
		ev_timer_stop(loop_ev, &m->timer);
		m->hibernating = 0;
	}
	s->detached = 0;
}

static const struct session_transport park_tp = {
	.send = park_send,
	.close = park_close,
	.detach = park_detach,
};

static void
expire_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct sm *m = w->data;

	UNUSED(l);
	UNUSED(revents);
	log_info("smacks hibernation over jid=%s unacked=%zu", m->s->jid.full,
	    m->qlen);
	session_end(m->s);
}

static enum hook_ret
on_lost(struct hook_ev *ev)
{
	struct sm *m = sm_of(ev->session);
	const struct smacks_cfg *c = cfg_of(ev->host);

	if (m == NULL || !m->resume)
		return HOOK_CONTINUE;
	m->hibernating = 1;
	ev->session->detached = 1;
	r_unlink(m);
	session_set_transport(ev->session, &park_tp, m);
	ev_timer_stop(loop_ev, &m->timer); /* the quiet-time <r/> */
	ev_timer_init(&m->timer, expire_cb, (double)c->hibernation, 0.0);
	m->timer.data = m;
	ev_timer_start(loop_ev, &m->timer);
	log_info("smacks hibernating jid=%s for %llds", ev->session->jid.full,
	    c->hibernation);
	return HOOK_HANDLED;
}

/* ---- counting ---- */

static enum hook_ret
on_stanza_in(struct hook_ev *ev)
{
	struct sm *m = sm_of(ev->session);

	if (m)
		m->in_h++;
	return HOOK_CONTINUE;
}

/* Runs when the loop is idle, found again by id: the client may have
 * ended the session meanwhile (closed its stream in the same read). */
static void
overflow(struct session *s)
{
	session_close(s, "policy-violation", "too many unacknowledged stanzas");
}

static enum hook_ret
on_out(struct hook_ev *ev)
{
	struct sm *m = sm_of(ev->session);
	const struct smacks_cfg *c;

	if (m == NULL)
		return HOOK_CONTINUE;
	c = cfg_of(ev->host);
	q_push(m, ev->data);
	ev->session->out_sent++;
	if (m->qlen == (size_t)c->max_queue + 1)
		session_defer(ev->session, overflow);
	if (m->hibernating)
		return HOOK_HANDLED;
	quiet_arm(m, c);
	/* As Prosody does: ask right after each burst, so that a client
	 * that acknowledges only when asked (libstrophe: profanity) and
	 * closes its stream a moment after its offline messages came has
	 * confirmed them; while a request is unanswered, ask again only
	 * every request_every stanzas. */
	if (m->since_r < UINT16_MAX)
		m->since_r++;
	if (!m->r_waiting || m->since_r >= (uint32_t)c->request_every)
		r_schedule(m);
	return HOOK_CONTINUE;
}

/* ---- the protocol ---- */

static void
do_enable(struct hook_ev *ev)
{
	const struct smacks_cfg *c = cfg_of(ev->host);
	const char *res = xml_node_attr(ev->stanza, "resume");
	struct sm *m;

	if (sm_of(ev->session)) {
		failed(ev, "unexpected-request", NULL);
		return;
	}
	m = xcalloc(1, sizeof(*m));
	m->s = ev->session;
	rand_id(m->id, sizeof(m->id));
	m->resume = res && (strcmp(res, "true") == 0 || strcmp(res, "1") == 0);
	session_mod_set(ev->session, modidx(), m);
	/* what went out before <enable/> has no receipt coming */
	ev->session->confirms = 1;
	ev->session->out_confirmed = ev->session->out_sent;
	if (ev->data) {
		/* XEP-0386: inside <bound/> */
		struct xml_node *e = xml_node_child(ev->data, NS_SM, "enabled");

		if (m->resume) {
			char max[24];

			snprintf(max, sizeof(max), "%lld", c->hibernation);
			xml_node_set_attr(e, "id", m->id);
			xml_node_set_attr(e, "resume", "true");
			xml_node_set_attr(e, "max", max);
		}
		return;
	}
	if (m->resume)
		send_raw(ev->session,
		    "<enabled xmlns='" NS_SM "' id='%s' "
		    "resume='true' max='%lld'/>",
		    m->id, c->hibernation);
	else
		send_raw(ev->session, "<enabled xmlns='" NS_SM "'/>");
}

static void
do_resume(struct hook_ev *ev)
{
	const char *previd = xml_node_attr(ev->stanza, "previd");
	uint32_t h;
	char bare[2 * JID_PART_MAX + 2];
	struct session *s;
	struct sm *m = NULL;
	size_t i;
	unsigned t;

	if (previd == NULL ||
	    parse_h(xml_node_attr(ev->stanza, "h"), &h) != 0) {
		failed(ev, "bad-request", NULL);
		return;
	}
	snprintf(bare, sizeof(bare), "%s@%s", ev->user, ev->host->name);
	for (s = session_find_bare(bare); s; s = s->next_res) {
		struct sm *x = sm_of(s);

		if (x && x->resume && strcmp(x->id, previd) == 0) {
			m = x;
			break;
		}
	}
	if (m == NULL) {
		for (t = 0; t < TOMBSTONES; t++)
			if (strcmp(tombs[t].id, previd) == 0 &&
			    strcmp(tombs[t].bare, bare) == 0) {
				failed(ev, "item-not-found", &tombs[t].h);
				return;
			}
		failed(ev, "item-not-found", NULL);
		return;
	}
	if (ack(m, h) != 0) {
		failed(ev, "unexpected-request", &m->in_h);
		return;
	}
	if (ev->stream->adopt(ev, s) != 0) {
		failed(ev, "item-not-found", NULL);
		return;
	}
	ev_timer_stop(loop_ev, &m->timer);
	m->hibernating = 0;
	s->detached = 0;
	m->since_r = 0;
	m->r_waiting = 0;
	if (ev->stream->answer) {
		/* XEP-0388 inline: <resumed/> inside <success/>, which goes
		 * out before the stanzas sent again */
		struct xml_node *r =
		    xml_node_child(ev->stream->answer, NS_SM, "resumed");
		char hv[16];

		snprintf(hv, sizeof(hv), "%u", m->in_h);
		xml_node_set_attr(r, "previd", m->id);
		xml_node_set_attr(r, "h", hv);
		ev->stream->commit(ev);
	} else {
		send_raw(s, "<resumed xmlns='" NS_SM "' previd='%s' h='%u'/>",
		    m->id, m->in_h);
	}
	/* what the client never acknowledged, again, in order, saying
	 * when it was meant to arrive */
	for (i = 0; i < m->qlen; i++) {
		struct smq *e = q_at(m, i);

		delay_queued(s->host, e);
		s->tp->send(s, e->r);
	}
	if (m->qlen) {
		/* the last <r/> may have been lost with the link */
		m->r_h = m->acked + (uint32_t)m->qlen;
		m->r_waiting = 1;
		send_raw(s, "<r xmlns='" NS_SM "'/>");
	}
}

static enum hook_ret
on_element(struct hook_ev *ev)
{
	const char *name = ev->stanza->name;
	struct sm *m = sm_of(ev->session);
	uint32_t h;

	if (ev->session == NULL) {
		/* before bind only resumption is possible */
		if (strcmp(name, "resume") == 0)
			do_resume(ev);
		else
			failed(ev, "unexpected-request", NULL);
		return HOOK_HANDLED;
	}
	if (strcmp(name, "enable") == 0) {
		do_enable(ev);
	} else if (strcmp(name, "r") == 0) {
		if (m)
			send_raw(ev->session, "<a xmlns='" NS_SM "' h='%u'/>",
			    m->in_h);
	} else if (strcmp(name, "a") == 0) {
		if (m == NULL)
			return HOOK_HANDLED;
		if (parse_h(xml_node_attr(ev->stanza, "h"), &h) != 0 ||
		    ack(m, h) != 0) {
			/* XEP-0198 §4: a count we never sent */
			session_close(ev->session, "undefined-condition",
			    "acknowledged more stanzas than were sent");
			return HOOK_HANDLED;
		}
		m->r_waiting = 0;
		/* what went out after our <r/> is asked about now */
		if (m->qlen > 0 && !m->hibernating)
			r_schedule(m);
	} else if (strcmp(name, "resume") == 0) {
		failed(ev, "unexpected-request", NULL);
	} else {
		return HOOK_CONTINUE;
	}
	return HOOK_HANDLED;
}

static enum hook_ret
on_features(struct hook_ev *ev)
{
	xml_node_child(ev->data, NS_SM, "sm");
	return HOOK_CONTINUE;
}

static const struct cfg_directive smacks_dirs[] = {
	{ .name = "hibernation_timeout",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct smacks_cfg, hibernation),
	    .def = "5m",
	    .min = 10,
	    .max = 86400,
	    .doc = "How long a session whose connection died waits for its "
		   "client to resume it; then what it holds goes to other "
		   "resources or offline storage." },
	{ .name = "max_queue",
	    .type = CFG_INT,
	    .offset = offsetof(struct smacks_cfg, max_queue),
	    .def = "1000",
	    .min = 10,
	    .max = 100000,
	    .doc = "Unacknowledged stanzas kept per session; a client that "
		   "acknowledges nothing beyond that is disconnected (what it "
		   "holds is routed elsewhere)." },
	{ .name = "request_every",
	    .type = CFG_INT,
	    .offset = offsetof(struct smacks_cfg, request_every),
	    .def = "5",
	    .min = 1,
	    .max = 1000,
	    .doc = "The server asks for an acknowledgement right after each "
		   "burst of stanzas it sends; while that request is "
		   "unanswered, again after this many stanzas." },
	{ .name = "request_after",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct smacks_cfg, request_after),
	    .def = "1s",
	    .min = 0,
	    .max = 3600,
	    .doc = "The server asks again once the stream has been quiet "
		   "this long with stanzas still unacknowledged (a request or "
		   "its answer may have been lost); 0: never." },
	{ .name = NULL },
};

static const struct cfg_section smacks_section = {
	.name = "smacks",
	.dirs = smacks_dirs,
	.size = sizeof(struct smacks_cfg),
	.doc = "Settings of stream management.",
};

static enum hook_ret
on_sasl2(struct hook_ev *ev)
{
	if (strcmp(ev->stanza->name, "resume") == 0)
		do_resume(ev);
	return HOOK_HANDLED;
}

static enum hook_ret
on_bind2(struct hook_ev *ev)
{
	if (strcmp(ev->stanza->name, "enable") == 0)
		do_enable(ev);
	return HOOK_HANDLED;
}

static const struct hook_reg smacks_hooks[] = { { "c2s/features/postauth",
						    on_features, 0 },
	{ "c2s/features/sasl2", on_features, 0 },
	{ "c2s/sasl2/" NS_SM, on_sasl2, 0 },
	{ "c2s/bind2/" NS_SM, on_bind2, 0 },
	{ "c2s/element/" NS_SM, on_element, 0 },
	{ "c2s/stanza-in", on_stanza_in, 0 }, { "session/out", on_out, 100 },
	{ "session/lost", on_lost, 0 },
	/* after the others have said goodbye (presence) */
	{ "session/closed", on_closed, -100 }, HOOK_REG_END };

static void
sm_session_free(void *data)
{
	sm_free(data);
}

const struct module mod_smacks = {
	.name = "smacks",
	.spec = "XEP-0198",
	.doc = "Stream management: acknowledgements and resumption of "
	       "sessions after a lost connection.",
	.hooks = smacks_hooks,
	.config = &smacks_section,
	.session_free = sm_session_free,
};

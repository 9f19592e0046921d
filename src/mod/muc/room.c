/* src/mod/muc/room.c: rooms (XEP-0045 §10): their life cycle, the
 * muc#roomconfig form (§10.1.3, §10.2), disco of a room with the
 * muc#roominfo form (§6.4, XEP-0128), affiliations, and persistence: a
 * persistent room keeps its configuration and subject in the map
 * "muc_rooms" and its affiliations in "muc_affs" of the service domain
 * with user "", so no account's quota pays for them. A persistent room
 * is loaded from the store when first addressed. */
#include "mod/muc/muc.h"

static const char *const aff_names[] = { "outcast", "none", "member", "admin",
	"owner", NULL };
static const char *const role_names[] = { "none", "visitor", "participant",
	"moderator", NULL };
static const char *const whois_names[] = { "moderators", "anyone", NULL };
static const char *const pm_names[] = { "anyone", "participants", "moderators",
	"none", NULL };

static int
name_index(const char *const *names, const char *s)
{
	int i;

	for (i = 0; s && names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

const char *
muc_aff_name(int aff)
{
	return aff_names[aff];
}

int
muc_aff_parse(const char *s)
{
	return name_index(aff_names, s);
}

const char *
muc_role_name(int role)
{
	return role_names[role];
}

int
muc_role_parse(const char *s)
{
	return name_index(role_names, s);
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? xstrdup(v) : NULL;
}

/* A room not in the service's table yet. */
static struct muc_room *
room_alloc(struct muc_service *svc, const char *name, const char *creator)
{
	struct muc_room *r = xcalloc(1, sizeof(*r));

	r->svc = svc;
	r->name = xstrdup(name);
	r->jid = xasprintf("%s@%s", name, svc->domain);
	r->creator = xstrdup(creator ? creator : "");
	r->cfg.public = 1;
	r->cfg.change_subject = 1;
	r->cfg.allow_pm = PM_ANYONE;
	r->cfg.whois = WHOIS_MODERATORS;
	r->cfg.max_users = 200;
	r->cfg.mam = 1;
	return r;
}

struct muc_room *
muc_room_new(struct muc_service *svc, const char *name, const char *creator)
{
	struct muc_room *r = room_alloc(svc, name, creator);

	muc_room_link(svc, r);
	return r;
}

void
muc_room_free(struct muc_room *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nocc; i++)
		muc_occ_free(r->occ[i]);
	free(r->occ);
	for (i = 0; i < r->naffs; i++) {
		free(r->affs[i].jid);
		free(r->affs[i].reason);
		free(r->affs[i].nick);
	}
	free(r->affs);
	muc_hist_free(r);
	muc_pending_free(r);
	free(r->cfg.name);
	free(r->cfg.desc);
	free(r->cfg.lang);
	free(r->cfg.password);
	free(r->subject);
	free(r->subject_nick);
	free(r->creator);
	free(r->name);
	free(r->jid);
	free(r);
}

/* ---- affiliations ---- */

static struct muc_affitem *
aff_find(const struct muc_room *r, const char *bare)
{
	size_t i;

	for (i = 0; i < r->naffs; i++)
		if (strcmp(r->affs[i].jid, bare) == 0)
			return &r->affs[i];
	return NULL;
}

int
muc_aff_of(const struct muc_room *r, const char *bare)
{
	const struct muc_affitem *a = aff_find(r, bare);

	return a ? a->aff : AFF_NONE;
}

const char *
muc_reserved_nick(const struct muc_room *r, const char *bare)
{
	const struct muc_affitem *a = aff_find(r, bare);

	return a ? a->nick : NULL;
}

const char *
muc_nick_owner(const struct muc_room *r, const char *nick)
{
	size_t i;

	for (i = 0; i < r->naffs; i++)
		if (r->affs[i].nick && strcmp(r->affs[i].nick, nick) == 0)
			return r->affs[i].jid;
	return NULL;
}

int
muc_aff_set_nick(struct muc_room *r, const char *bare, const char *nick)
{
	struct muc_affitem *a = aff_find(r, bare);

	if (a == NULL)
		return -1;
	set_str(&a->nick, nick);
	return r->cfg.persistent ? muc_room_save_aff(r, a) : 0;
}

const char *
muc_aff_reason(const struct muc_room *r, const char *bare)
{
	const struct muc_affitem *a = aff_find(r, bare);

	return a ? a->reason : NULL;
}

long
muc_aff_count(const struct muc_room *r, int aff)
{
	long n = 0;
	size_t i;

	for (i = 0; i < r->naffs; i++)
		n += r->affs[i].aff == aff;
	return n;
}

int
muc_aff_set(struct muc_room *r, const char *bare, int aff, const char *reason)
{
	struct muc_affitem *a = aff_find(r, bare);
	struct muc_affitem gone = { 0 };

	if (aff == AFF_NONE) {
		if (a == NULL)
			return 0;
		gone.jid = a->jid;
		gone.aff = AFF_NONE;
		free(a->reason);
		free(a->nick);
		*a = r->affs[--r->naffs];
		if (r->cfg.persistent)
			muc_room_save_aff(r, &gone);
		free(gone.jid);
		return 0;
	}
	if (a == NULL) {
		r->affs = xrealloc(r->affs, (r->naffs + 1) * sizeof(*r->affs));
		a = &r->affs[r->naffs++];
		a->jid = xstrdup(bare);
		a->reason = NULL;
		a->nick = NULL;
	}
	a->aff = aff;
	set_str(&a->reason, reason && *reason ? reason : NULL);
	if (r->cfg.persistent)
		return muc_room_save_aff(r, a);
	return 0;
}

/* ---- persistence ---- */

static void
put_bool(struct xml_node *n, const char *name, int v)
{
	xml_node_set_attr(n, name, v ? "1" : "0");
}

static int
get_bool(const struct xml_node *n, const char *name)
{
	const char *v = xml_node_attr(n, name);

	return v && strcmp(v, "1") == 0;
}

int
muc_room_save(struct muc_room *r)
{
	struct xml_node *n = xml_node_new("urn:tern:muc", "room");
	char num[24];
	struct sbuf b;
	int rc;

	xml_node_set_attr(n, "creator", r->creator);
	if (r->cfg.name)
		xml_node_set_attr(n, "name", r->cfg.name);
	if (r->cfg.desc)
		xml_node_set_attr(n, "desc", r->cfg.desc);
	if (r->cfg.lang)
		xml_node_set_attr(n, "lang", r->cfg.lang);
	if (r->cfg.password)
		xml_node_set_attr(n, "password", r->cfg.password);
	put_bool(n, "public", r->cfg.public);
	put_bool(n, "members-only", r->cfg.members_only);
	put_bool(n, "moderated", r->cfg.moderated);
	put_bool(n, "password-protected", r->cfg.password_protected);
	put_bool(n, "change-subject", r->cfg.change_subject);
	put_bool(n, "allow-invites", r->cfg.allow_invites);
	put_bool(n, "mam", r->cfg.mam);
	xml_node_set_attr(n, "whois", whois_names[r->cfg.whois]);
	xml_node_set_attr(n, "allow-pm", pm_names[r->cfg.allow_pm]);
	snprintf(num, sizeof(num), "%lld", r->cfg.max_users);
	xml_node_set_attr(n, "max-users", num);
	if (r->subject) {
		struct xml_node *s = xml_node_child(n, NULL, "subject");

		if (r->subject_nick)
			xml_node_set_attr(s, "nick", r->subject_nick);
		xml_node_text(s, r->subject, strlen(r->subject));
	}
	sbuf_init(&b);
	xml_serialize(n, XML_NS_CLIENT, &b);
	rc = store_map_set(
	    r->svc->domain, "", MUC_ROOMS_STORE, r->name, b.data, b.len);
	sbuf_cleanup(&b);
	xml_node_free(n);
	return rc;
}

int
muc_room_save_aff(struct muc_room *r, const struct muc_affitem *a)
{
	char *key = xasprintf("%s/%s", r->name, a->jid);
	int rc;

	if (a->aff == AFF_NONE) {
		rc = store_map_del(r->svc->domain, "", MUC_AFF_STORE, key);
	} else {
		/* "aff\nnick\nreason" (a nick has no newline) */
		char *v = xasprintf("%s\n%s\n%s", aff_names[a->aff],
		    a->nick ? a->nick : "", a->reason ? a->reason : "");

		rc = store_map_set(
		    r->svc->domain, "", MUC_AFF_STORE, key, v, strlen(v));
		free(v);
	}
	free(key);
	return rc;
}

/* Everything of a room that became persistent, at once. */
static int
room_save_all(struct muc_room *r)
{
	size_t i;

	if (muc_room_save(r) != 0)
		return -1;
	for (i = 0; i < r->naffs; i++)
		if (muc_room_save_aff(r, &r->affs[i]) != 0)
			return -1;
	return 0;
}

struct keys {
	char **v;
	size_t n;
	size_t skip; /* prefix length */
};

static int
key_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct keys *k = ud;

	UNUSED(val);
	UNUSED(len);
	if (k->n >= 100000)
		return 1;
	k->v = xrealloc(k->v, (k->n + 1) * sizeof(*k->v));
	k->v[k->n++] = xstrdup(key + k->skip);
	return 0;
}

static void
keys_free(struct keys *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
}

static void
room_forget_stored(struct muc_room *r)
{
	char *prefix = xasprintf("%s/", r->name);
	struct keys k = { 0 };
	size_t i;

	store_map_del(r->svc->domain, "", MUC_ROOMS_STORE, r->name);
	store_map_list_prefix(
	    r->svc->domain, "", MUC_AFF_STORE, prefix, key_cb, &k);
	for (i = 0; i < k.n; i++)
		store_map_del(r->svc->domain, "", MUC_AFF_STORE, k.v[i]);
	keys_free(&k);
	free(prefix);
}

struct aff_load {
	struct muc_room *r;
	size_t skip;
};

static int
aff_cb(void *ud, const char *key, const char *val, size_t len)
{
	struct aff_load *l = ud;
	struct muc_room *r = l->r;
	char *v = xstrndup(val, len), *nick = strchr(v, '\n'), *nl = NULL;
	int aff;

	if (nick) {
		*nick++ = '\0';
		nl = strchr(nick, '\n');
		if (nl)
			*nl++ = '\0';
	}
	aff = muc_aff_parse(v);
	if (aff >= 0 && aff != AFF_NONE) {
		r->affs = xrealloc(r->affs, (r->naffs + 1) * sizeof(*r->affs));
		r->affs[r->naffs].jid = xstrdup(key + l->skip);
		r->affs[r->naffs].aff = aff;
		r->affs[r->naffs].reason = nl && *nl ? xstrdup(nl) : NULL;
		r->affs[r->naffs].nick = nick && *nick ? xstrdup(nick) : NULL;
		r->naffs++;
	}
	free(v);
	return 0;
}

/* A stored room's document (configuration, subject) as an unlinked
 * room, or NULL. */
static struct muc_room *
room_parse(
    struct muc_service *svc, const char *name, const char *val, size_t len)
{
	struct muc_room *r;
	struct xml_node *n, *s;
	const char *v;
	int i;

	n = xml_parse_element(val, len);
	if (n == NULL) {
		log_warn(
		    "muc %s: stored room %s does not parse", svc->domain, name);
		return NULL;
	}
	r = room_alloc(svc, name, xml_node_attr(n, "creator"));
	r->cfg.persistent = 1;
	set_str(&r->cfg.name, xml_node_attr(n, "name"));
	set_str(&r->cfg.desc, xml_node_attr(n, "desc"));
	set_str(&r->cfg.lang, xml_node_attr(n, "lang"));
	set_str(&r->cfg.password, xml_node_attr(n, "password"));
	r->cfg.public = get_bool(n, "public");
	r->cfg.members_only = get_bool(n, "members-only");
	r->cfg.moderated = get_bool(n, "moderated");
	r->cfg.password_protected = get_bool(n, "password-protected");
	r->cfg.change_subject = get_bool(n, "change-subject");
	r->cfg.allow_invites = get_bool(n, "allow-invites");
	r->cfg.mam = xml_node_attr(n, "mam") == NULL || get_bool(n, "mam");
	i = name_index(whois_names, xml_node_attr(n, "whois"));
	r->cfg.whois = i < 0 ? WHOIS_MODERATORS : i;
	i = name_index(pm_names, xml_node_attr(n, "allow-pm"));
	r->cfg.allow_pm = i < 0 ? PM_ANYONE : i;
	v = xml_node_attr(n, "max-users");
	r->cfg.max_users = v ? strtoll(v, NULL, 10) : 200;
	if (r->cfg.max_users < 1)
		r->cfg.max_users = 1;
	s = xml_node_find(n, NULL, "subject");
	if (s) {
		set_str(&r->subject, xml_node_text_get(s));
		set_str(&r->subject_nick, xml_node_attr(s, "nick"));
	}
	xml_node_free(n);
	return r;
}

struct muc_room *
muc_room_load(struct muc_service *svc, const char *name)
{
	struct muc_room *r;
	struct aff_load al;
	char *val = NULL, *prefix;
	size_t len = 0;

	if (store_map_get(svc->domain, "", MUC_ROOMS_STORE, name, &val, &len) !=
	    0) {
		free(val);
		return NULL;
	}
	r = room_parse(svc, name, val, len);
	free(val);
	if (r == NULL)
		return NULL;
	muc_room_link(svc, r);
	prefix = xasprintf("%s/", name);
	al.r = r;
	al.skip = strlen(prefix);
	store_map_list_prefix(
	    svc->domain, "", MUC_AFF_STORE, prefix, aff_cb, &al);
	free(prefix);
	muc_archive_history(r);
	log_debug("muc %s: loaded room %s (%zu affiliations)", svc->domain,
	    name, r->naffs);
	return r;
}

void
muc_room_destroy(struct muc_room *r)
{
	if (r->cfg.persistent) {
		room_forget_stored(r);
		muc_archive_forget(r);
	}
	muc_vcard_forget(r);
	muc_room_unlink(r);
	muc_room_free(r);
}

void
muc_room_gc(struct muc_room *r)
{
	if (r->nocc > 0)
		return;
	if (r->cfg.persistent && !r->locked) {
		/* kept in the store (its history in its archive): an empty
		 * room holds no memory, it is loaded again when addressed */
		log_debug("muc %s: room %s unloaded", r->svc->domain, r->name);
		muc_room_unlink(r);
		muc_room_free(r);
		return;
	}
	log_debug("muc %s: room %s ends with its last occupant", r->svc->domain,
	    r->name);
	muc_room_destroy(r);
}

struct each_ctx {
	struct muc_service *svc;
	void (*cb)(void *ud, struct muc_room *r);
	void *ud;
};

static int
each_stored(void *ud, const char *key, const char *val, size_t len)
{
	struct each_ctx *c = ud;
	struct muc_room *r;

	if (muc_room_loaded(c->svc, key))
		return 0; /* listed already */
	r = room_parse(c->svc, key, val, len);
	if (r) {
		c->cb(c->ud, r);
		muc_room_free(r);
	}
	return 0;
}

void
muc_rooms_each(
    struct muc_service *svc, void (*cb)(void *ud, struct muc_room *r), void *ud)
{
	struct each_ctx c = { svc, cb, ud };
	struct muc_room *r, *next;
	size_t i;

	for (i = 0; i < MUC_BUCKETS; i++)
		for (r = svc->rooms[i]; r; r = next) {
			next = r->next;
			cb(ud, r);
		}
	/* the stored rooms that are not loaded: their documents only, for
	 * the time of the call */
	store_map_list(svc->domain, "", MUC_ROOMS_STORE, each_stored, &c);
}

struct count_ctx {
	const char *bare;
	long n;
};

static void
count_cb(void *ud, struct muc_room *r)
{
	struct count_ctx *c = ud;

	c->n += strcmp(r->creator, c->bare) == 0;
}

long
muc_rooms_of(struct muc_service *svc, const char *bare)
{
	struct count_ctx c = { bare, 0 };

	muc_rooms_each(svc, count_cb, &c);
	return c.n;
}

/* ---- the configuration form (§10.1.3, §10.2) ---- */

static struct xml_node *
field(struct xml_node *x, const char *type, const char *var, const char *label)
{
	struct xml_node *f = xml_node_child(x, NULL, "field");

	xml_node_set_attr(f, "type", type);
	xml_node_set_attr(f, "var", var);
	if (label)
		xml_node_set_attr(f, "label", label);
	return f;
}

static void
value(struct xml_node *f, const char *v)
{
	xml_node_text(xml_node_child(f, NULL, "value"), v, strlen(v));
}

static void
option(struct xml_node *f, const char *label, const char *v)
{
	struct xml_node *o = xml_node_child(f, NULL, "option");

	xml_node_set_attr(o, "label", label);
	value(o, v);
}

static void
bool_field(struct xml_node *x, const char *var, const char *label, int v)
{
	value(field(x, "boolean", var, label), v ? "1" : "0");
}

static void
text_field(
    struct xml_node *x, const char *var, const char *label, const char *v)
{
	value(field(x, "text-single", var, label), v ? v : "");
}

static void
jids_field(struct xml_node *x, const struct muc_room *r, const char *var,
    const char *label, int aff)
{
	struct xml_node *f = field(x, "jid-multi", var, label);
	size_t i;

	for (i = 0; i < r->naffs; i++)
		if (r->affs[i].aff == aff)
			value(f, r->affs[i].jid);
}

static void
config_form(struct xml_node *q, const struct muc_room *r)
{
	struct xml_node *x = xml_node_child(q, NS_XDATA, "x"), *f;
	char num[24];

	xml_node_set_attr(x, "type", "form");
	xml_node_text(
	    xml_node_child(x, NULL, "title"), "Room configuration", 18);
	f = field(x, "hidden", "FORM_TYPE", NULL);
	value(f, "http://jabber.org/protocol/muc#roomconfig");
	text_field(x, "muc#roomconfig_roomname", "Name", r->cfg.name);
	text_field(x, "muc#roomconfig_roomdesc", "Description", r->cfg.desc);
	text_field(x, "muc#roomconfig_lang", "Language", r->cfg.lang);
	bool_field(x, "muc#roomconfig_persistentroom", "Persistent",
	    r->cfg.persistent);
	bool_field(x, "muc#roomconfig_publicroom", "Listed in the directory",
	    r->cfg.public);
	bool_field(x, "muc#roomconfig_membersonly", "Members only",
	    r->cfg.members_only);
	bool_field(
	    x, "muc#roomconfig_moderatedroom", "Moderated", r->cfg.moderated);
	bool_field(x, "muc#roomconfig_passwordprotectedroom",
	    "Password protected", r->cfg.password_protected);
	value(field(x, "text-private", "muc#roomconfig_roomsecret", "Password"),
	    r->cfg.password ? r->cfg.password : "");
	f = field(x, "list-single", "muc#roomconfig_maxusers", "Maximum users");
	snprintf(num, sizeof(num), "%lld", r->cfg.max_users);
	value(f, num);
	option(f, "10", "10");
	option(f, "20", "20");
	option(f, "50", "50");
	option(f, "100", "100");
	option(f, "200", "200");
	f = field(x, "list-single", "muc#roomconfig_whois",
	    "Who may discover real JIDs");
	value(f, whois_names[r->cfg.whois]);
	option(f, "Moderators only", "moderators");
	option(f, "Anyone", "anyone");
	bool_field(x, "muc#roomconfig_changesubject",
	    "Occupants may change the subject", r->cfg.change_subject);
	bool_field(x, "muc#roomconfig_allowinvites",
	    "Occupants may invite others", r->cfg.allow_invites);
	bool_field(x, "muc#roomconfig_mam",
	    "Keep an archive (persistent rooms)", r->cfg.mam);
	f = field(x, "list-single", "muc#roomconfig_allowpm",
	    "Who may send private messages");
	value(f, pm_names[r->cfg.allow_pm]);
	option(f, "Anyone", "anyone");
	option(f, "Participants", "participants");
	option(f, "Moderators", "moderators");
	option(f, "Nobody", "none");
	jids_field(x, r, "muc#roomconfig_roomowners", "Owners", AFF_OWNER);
	jids_field(x, r, "muc#roomconfig_roomadmins", "Admins", AFF_ADMIN);
}

enum hook_ret
muc_owner_get(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct xml_node *rep;

	if (r == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (muc_aff_of(r, ev->from->bare) != AFF_OWNER) {
		stanza_reply_error(ev, "auth", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	rep = stanza_reply(ev);
	config_form(xml_node_child(rep, NS_MUC_OWNER, "query"), r);
	stanza_reply_send(ev, rep);
	return HOOK_HANDLED;
}

static struct xml_node *
form_field(const struct xml_node *x, const char *var)
{
	struct xml_node *f;

	for (f = xml_node_first_el(x); f; f = xml_node_next_el(f)) {
		const char *v = xml_node_attr(f, "var");

		if (strcmp(f->name, "field") == 0 && v && strcmp(v, var) == 0)
			return f;
	}
	return NULL;
}

/* The first value of a field, or NULL when the form lacks the field. */
static const char *
form_value(const struct xml_node *x, const char *var)
{
	struct xml_node *f = form_field(x, var), *v;

	if (f == NULL)
		return NULL;
	v = xml_node_find(f, NULL, "value");
	return v ? xml_node_text_get(v) : "";
}

static int
form_bool(const struct xml_node *x, const char *var, int *out)
{
	const char *v = form_value(x, var);

	if (v == NULL)
		return 0;
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		*out = 1;
	else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static void
form_str(const struct xml_node *x, const char *var, char **out)
{
	const char *v = form_value(x, var);

	if (v != NULL)
		set_str(out, *v ? v : NULL);
}

/* Owners or admins from a jid-multi: the listed JIDs get aff, the
 * others who had it lose it (never the last owner). -1: a bad JID. */
static int
form_jids(const struct xml_node *x, const char *var, struct muc_room *r,
    int aff, const char *self)
{
	struct xml_node *f = form_field(x, var), *v;
	struct jid j;
	size_t i;

	if (f == NULL)
		return 0;
	for (v = xml_node_first_el(f); v; v = xml_node_next_el(v)) {
		if (strcmp(v->name, "value") != 0)
			continue;
		if (jid_parse_str(&j, xml_node_text_get(v)) != 0)
			return -1;
		jid_cleanup(&j);
	}
	for (i = 0; i < r->naffs;) {
		int listed = 0;

		if (r->affs[i].aff != aff) {
			i++;
			continue;
		}
		for (v = xml_node_first_el(f); v && !listed;
		     v = xml_node_next_el(v))
			listed =
			    strcmp(v->name, "value") == 0 &&
			    strcmp(xml_node_text_get(v), r->affs[i].jid) == 0;
		if (listed ||
		    (aff == AFF_OWNER && strcmp(r->affs[i].jid, self) == 0)) {
			i++;
			continue;
		}
		muc_aff_set(r, r->affs[i].jid, AFF_NONE, NULL);
	}
	for (v = xml_node_first_el(f); v; v = xml_node_next_el(v)) {
		if (strcmp(v->name, "value") != 0 ||
		    jid_parse_str(&j, xml_node_text_get(v)) != 0)
			continue;
		if (muc_aff_of(r, j.bare) != aff)
			muc_aff_set(r, j.bare, aff, NULL);
		jid_cleanup(&j);
	}
	return 0;
}

/* §10.2: apply a submitted form; the caller answers. */
static int
config_apply(struct hook_ev *ev, struct muc_room *r, const struct xml_node *x,
    const char **err)
{
	const struct muc_cfg *mc = muc_cfg(ev);
	struct muc_config c = r->cfg;
	const char *v;
	int i, was_persistent = r->cfg.persistent;
	int was_whois = r->cfg.whois, was_mo = r->cfg.members_only;
	int was_logged = muc_archive_on(r);

	*err = NULL;
	if (form_bool(x, "muc#roomconfig_persistentroom", &c.persistent) ||
	    form_bool(x, "muc#roomconfig_publicroom", &c.public) ||
	    form_bool(x, "muc#roomconfig_membersonly", &c.members_only) ||
	    form_bool(x, "muc#roomconfig_moderatedroom", &c.moderated) ||
	    form_bool(x, "muc#roomconfig_passwordprotectedroom",
		&c.password_protected) ||
	    form_bool(x, "muc#roomconfig_changesubject", &c.change_subject) ||
	    form_bool(x, "muc#roomconfig_allowinvites", &c.allow_invites) ||
	    form_bool(x, "muc#roomconfig_mam", &c.mam) ||
	    form_bool(x, "muc#roomconfig_enablearchiving", &c.mam)) {
		*err = "A boolean field has a value that is not one";
		return -1;
	}
	v = form_value(x, "muc#roomconfig_maxusers");
	if (v != NULL) {
		char *end;
		long long n = strtoll(v, &end, 10);

		if (strcmp(v, "none") == 0 || *v == '\0')
			n = mc->max_occupants;
		else if (*end != '\0' || n < 1) {
			*err = "maxusers must be a positive number";
			return -1;
		}
		if (n > mc->max_occupants)
			n = mc->max_occupants;
		c.max_users = n;
	}
	v = form_value(x, "muc#roomconfig_whois");
	if (v != NULL) {
		i = name_index(whois_names, v);
		if (i < 0) {
			*err = "whois is moderators or anyone";
			return -1;
		}
		c.whois = i;
	}
	v = form_value(x, "muc#roomconfig_allowpm");
	if (v != NULL) {
		i = name_index(pm_names, v);
		if (i < 0) {
			*err = "allowpm is anyone, participants, moderators "
			       "or none";
			return -1;
		}
		c.allow_pm = i;
	}
	/* the strings are r's own until replaced */
	c.name = c.desc = c.lang = c.password = NULL;
	r->cfg.persistent = c.persistent;
	r->cfg.public = c.public;
	r->cfg.members_only = c.members_only;
	r->cfg.moderated = c.moderated;
	r->cfg.password_protected = c.password_protected;
	r->cfg.change_subject = c.change_subject;
	r->cfg.allow_invites = c.allow_invites;
	r->cfg.mam = c.mam;
	r->cfg.max_users = c.max_users;
	r->cfg.whois = c.whois;
	r->cfg.allow_pm = c.allow_pm;
	form_str(x, "muc#roomconfig_roomname", &r->cfg.name);
	form_str(x, "muc#roomconfig_roomdesc", &r->cfg.desc);
	form_str(x, "muc#roomconfig_lang", &r->cfg.lang);
	form_str(x, "muc#roomconfig_roomsecret", &r->cfg.password);
	if (r->cfg.password_protected && r->cfg.password == NULL) {
		/* §10.1.3: a password-protected room needs a password */
		r->cfg.password_protected = 0;
	}
	if (form_jids(x, "muc#roomconfig_roomowners", r, AFF_OWNER,
		ev->from->bare) < 0 ||
	    form_jids(x, "muc#roomconfig_roomadmins", r, AFF_ADMIN,
		ev->from->bare) < 0) {
		*err = "Not a JID in the owners or admins";
		return -1;
	}
	if (r->cfg.persistent && room_save_all(r) != 0) {
		*err = "The room cannot be stored";
		return -1;
	}
	if (was_persistent && !r->cfg.persistent)
		room_forget_stored(r);
	{
		/* §10.2.1: occupants learn of the change */
		int codes[4], n = 0;

		codes[n++] = 104;
		if (r->cfg.whois != was_whois)
			codes[n++] = r->cfg.whois == WHOIS_ANYONE ? 172 : 173;
		if (muc_archive_on(r) != was_logged)
			codes[n++] = muc_archive_on(r) ? 170 : 171;
		codes[n] = 0;
		if (!r->locked)
			muc_status_message(r, codes);
	}
	if (r->cfg.members_only && !was_mo) {
		/* §9.3 / §10.2: non-members leave a room turning members-only
		 * (status 322) */
		static const int c322[] = { 322, 0 };
		size_t k;

		for (k = r->nocc; k-- > 0;)
			if (muc_aff_of(r, r->occ[k]->bare) < AFF_MEMBER)
				muc_occ_remove(r, r->occ[k], c322, NULL, NULL);
	}
	return 0;
}

enum hook_ret
muc_owner_set(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct xml_node *x, *d;
	const char *type, *err;

	if (r == NULL) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (muc_aff_of(r, ev->from->bare) != AFF_OWNER) {
		stanza_reply_error(ev, "auth", "forbidden", NULL);
		return HOOK_HANDLED;
	}
	d = xml_node_find(ev->payload, NS_MUC_OWNER, "destroy");
	if (d) {
		const char *alt = xml_node_attr(d, "jid");
		struct xml_node *reason = xml_node_find(d, NULL, "reason");
		struct xml_node *pw = xml_node_find(d, NULL, "password");
		struct jid j;

		if (alt && jid_parse_str(&j, alt) != 0) {
			stanza_reply_error(ev, "modify", "jid-malformed", NULL);
			return HOOK_HANDLED;
		}
		if (alt)
			jid_cleanup(&j);
		stanza_reply_result(ev);
		muc_destroy(r, alt, reason ? xml_node_text_get(reason) : NULL,
		    pw ? xml_node_text_get(pw) : NULL);
		return HOOK_HANDLED;
	}
	x = xml_node_find(ev->payload, NS_XDATA, "x");
	if (x == NULL) {
		stanza_reply_error(ev, "modify", "bad-request", NULL);
		return HOOK_HANDLED;
	}
	type = xml_node_attr(x, "type");
	if (type && strcmp(type, "cancel") == 0) {
		/* §10.1.3: cancelling a new room's configuration destroys
		 * it */
		stanza_reply_result(ev);
		if (r->locked)
			muc_destroy(r, NULL, NULL, NULL);
		return HOOK_HANDLED;
	}
	if (type == NULL || strcmp(type, "submit") != 0) {
		stanza_reply_error(ev, "modify", "bad-request", NULL);
		return HOOK_HANDLED;
	}
	if (config_apply(ev, r, x, &err) != 0) {
		stanza_reply_error(ev, "modify", "not-acceptable", err);
		return HOOK_HANDLED;
	}
	if (r->locked) {
		r->locked = 0; /* §10.1.2 instant / §10.1.3 reserved */
		log_debug("muc %s: room %s unlocked", r->svc->domain, r->name);
	}
	stanza_reply_result(ev);
	muc_room_gc(r); /* an empty room made temporary ends */
	return HOOK_HANDLED;
}

/* ---- disco of a room (§6.4, §6.5) ---- */

static void
info_field(struct xml_node *x, const char *var, const char *v)
{
	struct xml_node *f = xml_node_child(x, NULL, "field");

	xml_node_set_attr(f, "var", var);
	value(f, v ? v : "");
}

enum hook_ret
muc_room_info(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct xml_node *rep, *q, *id, *x;
	const char *feats[20];
	char num[24];
	size_t n = 0, i;

	if (r == NULL ||
	    (r->locked && muc_aff_of(r, ev->from->bare) != AFF_OWNER)) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	if (xml_node_attr(ev->payload, "node")) {
		if (strcmp(xml_node_attr(ev->payload, "node"),
			"x-roomuser-item") == 0)
			muc_reserved_info(ev, r); /* §7.12 */
		else
			stanza_reply_error(
			    ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	rep = stanza_reply(ev);
	q = xml_node_child(rep, NS_DISCO_INFO, "query");
	id = xml_node_child(q, NULL, "identity");
	xml_node_set_attr(id, "category", "conference");
	xml_node_set_attr(id, "type", "text");
	xml_node_set_attr(
	    id, "name", r->cfg.name && *r->cfg.name ? r->cfg.name : r->name);
	feats[n++] = NS_MUC;
	feats[n++] = NS_DISCO_INFO;
	feats[n++] = NS_DISCO_ITEMS;
	feats[n++] = NS_OCCUPANT_ID;
	feats[n++] = NS_SELF_PING;
	feats[n++] = "vcard-temp";
	feats[n++] = "jabber:iq:register";
	feats[n++] = r->cfg.public ? "muc_public" : "muc_hidden";
	feats[n++] = r->cfg.persistent ? "muc_persistent" : "muc_temporary";
	feats[n++] = r->cfg.members_only ? "muc_membersonly" : "muc_open";
	feats[n++] = r->cfg.moderated ? "muc_moderated" : "muc_unmoderated";
	feats[n++] = r->cfg.password_protected ? "muc_passwordprotected"
					       : "muc_unsecured";
	feats[n++] = r->cfg.whois == WHOIS_ANYONE ? "muc_nonanonymous"
						  : "muc_semianonymous";
	if (muc_archive_on(r)) {
		feats[n++] = "urn:xmpp:mam:2";
		feats[n++] = "urn:xmpp:sid:0";
		feats[n++] = "urn:xmpp:message-moderate:1";
	}
	for (i = 0; i < n; i++)
		xml_node_set_attr(
		    xml_node_child(q, NULL, "feature"), "var", feats[i]);
	/* XEP-0045 §15.5.4 / XEP-0128: muc#roominfo */
	x = xml_node_child(q, NS_XDATA, "x");
	xml_node_set_attr(x, "type", "result");
	xml_node_set_attr(
	    field(x, "hidden", "FORM_TYPE", NULL), "type", "hidden");
	value(form_field(x, "FORM_TYPE"),
	    "http://jabber.org/protocol/muc#roominfo");
	info_field(x, "muc#roominfo_description", r->cfg.desc);
	snprintf(num, sizeof(num), "%zu", r->nocc);
	info_field(x, "muc#roominfo_occupants", num);
	info_field(x, "muc#roominfo_subject", r->subject);
	info_field(x, "muc#roominfo_lang", r->cfg.lang);
	info_field(x, "muc#roomconfig_roomname", r->cfg.name);
	snprintf(num, sizeof(num), "%lld", muc_cfg(ev)->history_max);
	info_field(x, "muc#maxhistoryfetch", num);
	info_field(x, "muc#roomconfig_changesubject",
	    r->cfg.change_subject ? "1" : "0");
	stanza_reply_send(ev, rep);
	return HOOK_HANDLED;
}

enum hook_ret
muc_room_items(struct hook_ev *ev)
{
	struct muc_room *r = muc_room_find(muc_service(ev), ev->to->node);
	struct xml_node *rep;

	if (r == NULL || r->locked) {
		stanza_reply_error(ev, "cancel", "item-not-found", NULL);
		return HOOK_HANDLED;
	}
	/* §6.5: the service may keep the occupant list to itself */
	rep = stanza_reply(ev);
	xml_node_child(rep, NS_DISCO_ITEMS, "query");
	stanza_reply_send(ev, rep);
	return HOOK_HANDLED;
}

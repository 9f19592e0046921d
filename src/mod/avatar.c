/* src/mod/avatar.c: XEP-0084 avatars via PEP, XEP-0398 conversion to and
 * from vcard-temp, and the XEP-0153 photo hash in the user's presence. */
#include <openssl/evp.h>

#include "mod/mod.h"
#include "mod/pep.h"

#define NS_DATA "urn:xmpp:avatar:data"
#define NS_META "urn:xmpp:avatar:metadata"
#define NS_VCARD "vcard-temp"
#define NS_UPDATE "vcard-temp:x:update"
#define NS_CONVERSION "urn:xmpp:pep-vcard-conversion:0"
/* mod/vcard.c's keyval: the conversion writes the document itself, so
 * no vcard/updated fires for it and nothing converts back */
#define VCARD_STORE "vcard"
/* keyval: SHA-1 hex of the account's avatar, "" when it has none */
#define HASH_STORE "avatar"
#define HASH_LEN 40

/* Per session: its last available broadcast presence (as sent on, with
 * the hash), to send again when the avatar changes (XEP-0398 §4), and
 * the account's hash as last looked up (no store read per presence). */
struct av_sess {
	struct xml_node *last;
	char hash[HASH_LEN + 1];
	int known;
};

static int
aidx(void)
{
	static int idx = -2;

	if (idx == -2)
		idx = module_index("avatar");
	return idx;
}

static void
sha1_hex(const unsigned char *p, size_t n, char out[HASH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (EVP_Digest(p, n, md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != HASH_LEN / 2) {
		/* OpenSSL without SHA-1 cannot run the rest of ternd */
		log_err("avatar: SHA-1 unavailable");
		abort();
	}
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[HASH_LEN] = '\0';
}

/* Base64 as found in vCards (BINVAL is often wrapped in lines). */
static unsigned char *
b64_decode_ws(const char *text, size_t *len)
{
	size_t n = strlen(text), i, k = 0;
	char *clean = xmalloc(n + 1);
	unsigned char *out;

	for (i = 0; i < n; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
		    text[i] != '\n')
			clean[k++] = text[i];
	out = xmalloc(k * 3 / 4 + 1);
	if (k == 0 || b64_decode(clean, k, out, len) != 0) {
		free(out);
		out = NULL;
	}
	free(clean);
	return out;
}

static char *
b64_encode_new(const unsigned char *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	b64_encode(p, n, out);
	return out;
}

/* The image type by its first bytes, for a vCard PHOTO without TYPE. */
static const char *
sniff_type(const unsigned char *p, size_t n)
{
	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0)
		return "image/jpeg";
	if (n >= 6 && memcmp(p, "GIF8", 4) == 0)
		return "image/gif";
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 &&
	    memcmp(p + 8, "WEBP", 4) == 0)
		return "image/webp";
	return "image/png"; /* XEP-0084 §4.2: the type every client reads */
}

/* Width and height where the header says them plainly (PNG, GIF). */
static int
image_size(const unsigned char *p, size_t n, unsigned *w, unsigned *h)
{
	if (n >= 24 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0 &&
	    memcmp(p + 12, "IHDR", 4) == 0) {
		*w = (unsigned)p[16] << 24 | (unsigned)p[17] << 16 |
		     (unsigned)p[18] << 8 | p[19];
		*h = (unsigned)p[20] << 24 | (unsigned)p[21] << 16 |
		     (unsigned)p[22] << 8 | p[23];
		return 0;
	}
	if (n >= 10 && memcmp(p, "GIF8", 4) == 0) {
		*w = p[6] | (unsigned)p[7] << 8;
		*h = p[8] | (unsigned)p[9] << 8;
		return 0;
	}
	return -1;
}

/* ---- the stored state ---- */

static int
hash_store(const char *host, const char *user, const char *hash)
{
	return store_kv_set(host, user, HASH_STORE, hash, strlen(hash));
}

/* The vCard stored for user: 0 (*v set), 1 none, -1 error. */
static int
vcard_load(const char *host, const char *user, struct xml_node **v)
{
	char *doc = NULL;
	size_t len = 0;
	int rc;

	*v = NULL;
	rc = store_kv_get(host, user, VCARD_STORE, &doc, &len);
	if (rc != 0)
		return rc;
	*v = xml_parse_element(doc, len);
	free(doc);
	if (*v != NULL && !xml_node_is(*v, NS_VCARD, "vCard")) {
		xml_node_free(*v);
		*v = NULL;
	}
	return *v ? 0 : 1;
}

/* The photo of a vCard: decoded bytes (caller frees) and TYPE, or NULL
 * when it has none we can read (an EXTVAL photo is no avatar here). */
static unsigned char *
vcard_photo(struct xml_node *v, size_t *len, const char **type)
{
	struct xml_node *ph = xml_node_find(v, NS_VCARD, "PHOTO");
	struct xml_node *bin, *t;

	*type = NULL;
	if (ph == NULL)
		return NULL;
	bin = xml_node_find(ph, NS_VCARD, "BINVAL");
	if (bin == NULL)
		return NULL;
	t = xml_node_find(ph, NS_VCARD, "TYPE");
	if (t != NULL && xml_node_text_get(t)[0] != '\0')
		*type = xml_node_text_get(t);
	return b64_decode_ws(xml_node_text_get(bin), len);
}

/* The account's avatar hash: 0 (out set, "" for none), -1 unknown. A
 * vCard stored before this module ran is hashed once, here. */
static int
hash_get(const char *host, const char *user, char out[HASH_LEN + 1])
{
	struct xml_node *v;
	unsigned char *img = NULL;
	const char *type;
	char *doc = NULL;
	size_t len = 0;
	int rc;

	rc = store_kv_get(host, user, HASH_STORE, &doc, &len);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (len > HASH_LEN) {
			free(doc);
			return -1;
		}
		memcpy(out, doc, len);
		out[len] = '\0';
		free(doc);
		return 0;
	}
	rc = vcard_load(host, user, &v);
	if (rc < 0)
		return -1;
	out[0] = '\0';
	if (rc == 0)
		img = vcard_photo(v, &len, &type);
	if (img != NULL)
		sha1_hex(img, len, out);
	free(img);
	xml_node_free(v);
	hash_store(host, user, out);
	return 0;
}

/* ---- presence (XEP-0153 §3.2, XEP-0398 §4) ---- */

static struct av_sess *
as_get(struct session *s, int create)
{
	struct av_sess *as = session_mod_get(s, aidx());

	if (as == NULL && create) {
		as = xcalloc(1, sizeof(*as));
		session_mod_set(s, aidx(), as);
	}
	return as;
}

/* Put hash into st's <x xmlns='vcard-temp:x:update'/>; a photo the
 * client gave is kept unless force (the avatar changed since). */
static void
stamp(struct xml_node *st, const char *hash, int force)
{
	struct xml_node *x = xml_node_find(st, NS_UPDATE, "x"), *ph, *c;

	if (x == NULL)
		x = xml_node_child(st, NS_UPDATE, "x");
	ph = xml_node_find(x, NS_UPDATE, "photo");
	if (ph != NULL && !force)
		return;
	if (ph != NULL) {
		/* the text goes; the element, its place and attributes stay */
		for (c = ph->children; c != NULL; c = ph->children)
			xml_node_unlink(c);
	} else {
		ph = xml_node_child(x, NS_UPDATE, "photo");
	}
	if (hash[0] != '\0')
		xml_node_text(ph, hash, strlen(hash));
}

static enum hook_ret
av_presence(struct hook_ev *ev)
{
	struct session *s = ev->session;
	struct av_sess *as;
	int self = xml_node_attr(ev->stanza, "to") == NULL;

	if (s == NULL || s->jid.node == NULL)
		return HOOK_CONTINUE;
	if (ev->stype != STANZA_TYPE_NONE) {
		if (self && ev->stype == STANZA_TYPE_UNAVAILABLE) {
			as = as_get(s, 0);
			if (as != NULL) {
				xml_node_free(as->last);
				as->last = NULL;
			}
		}
		return HOOK_CONTINUE;
	}
	as = as_get(s, 1);
	if (!as->known && hash_get(s->host->name, s->jid.node, as->hash) == 0)
		as->known = 1;
	if (!as->known)
		return HOOK_CONTINUE; /* XEP-0153: say nothing when unsure */
	stamp(ev->stanza, as->hash, 0);
	if (self) {
		xml_node_free(as->last);
		as->last = xml_node_dup(ev->stanza);
	}
	return HOOK_CONTINUE;
}

static enum hook_ret
av_closed(struct hook_ev *ev)
{
	struct av_sess *as = as_get(ev->session, 0);

	if (as != NULL) {
		xml_node_free(as->last);
		free(as);
		session_mod_set(ev->session, aidx(), NULL);
	}
	return HOOK_CONTINUE;
}

/* The avatar of user became hash: remember it and let every available
 * resource broadcast its presence again with it (XEP-0398 §4). */
static void
avatar_changed(struct host *h, const char *user, const char *hash)
{
	struct session *s;
	char bare[JID_PART_MAX * 2 + 2], old[HASH_LEN + 1];

	if (hash_get(h->name, user, old) == 0 && strcmp(old, hash) == 0)
		return;
	if (hash_store(h->name, user, hash) != 0)
		return;
	snprintf(bare, sizeof(bare), "%s@%s", user, h->name);
	for (s = session_find_bare(bare); s; s = s->next_res) {
		struct av_sess *as = as_get(s, 1);
		struct xml_node *p;

		snprintf(as->hash, sizeof(as->hash), "%s", hash);
		as->known = 1;
		if (!s->available || s->closing || as->last == NULL)
			continue;
		p = xml_node_dup(as->last);
		stamp(p, hash, 1);
		xml_node_set_attr(p, "from", s->jid.full);
		router_route(p, &s->jid, s);
		xml_node_free(p);
	}
}

/* ---- vCard to PEP (XEP-0398 §3.2) ---- */

static void
publish_avatar(struct host *h, const char *user, const unsigned char *img,
    size_t len, const char *type, const char *hash)
{
	struct xml_node *d, *m, *info;
	char *b64 = b64_encode_new(img, len);
	char num[32];
	unsigned w, ht;

	d = xml_node_new(NS_DATA, "data");
	xml_node_text(d, b64, strlen(b64));
	free(b64);
	m = xml_node_new(NS_META, "metadata");
	info = xml_node_child(m, NULL, "info");
	snprintf(num, sizeof(num), "%zu", len);
	xml_node_set_attr(info, "bytes", num);
	xml_node_set_attr(info, "id", hash);
	xml_node_set_attr(info, "type", type ? type : sniff_type(img, len));
	if (image_size(img, len, &w, &ht) == 0) {
		snprintf(num, sizeof(num), "%u", w);
		xml_node_set_attr(info, "width", num);
		snprintf(num, sizeof(num), "%u", ht);
		xml_node_set_attr(info, "height", num);
	}
	/* XEP-0084 §4.1: the data first, so that a client notified of the
	 * metadata finds it; both as public as the vCard they come from */
	if (pep_publish(h, user, NS_DATA, hash, d, "open") == 0)
		pep_publish(h, user, NS_META, hash, m, "open");
	xml_node_free(d);
	xml_node_free(m);
}

static enum hook_ret
av_vcard_updated(struct hook_ev *ev)
{
	struct xml_node *v = ev->data;
	unsigned char *img;
	const char *type;
	char old[HASH_LEN + 1], *doc = NULL, hash[HASH_LEN + 1] = "";
	size_t len = 0, doclen = 0;
	int rc;

	img = vcard_photo(v, &len, &type);
	if (img != NULL)
		sha1_hex(img, len, hash);
	/* the hash the account had before this vCard (not recomputed: the
	 * vCard in the store is already the new one) */
	rc = store_kv_get(ev->host->name, ev->user, HASH_STORE, &doc, &doclen);
	if (rc == 0 && doclen <= HASH_LEN) {
		memcpy(old, doc, doclen);
		old[doclen] = '\0';
	} else {
		snprintf(old, sizeof(old), "?");
	}
	free(doc);
	if (strcmp(old, hash) == 0)
		goto out;
	if (img != NULL) {
		publish_avatar(ev->host, ev->user, img, len, type, hash);
	} else if (old[0] != '\0') {
		/* XEP-0084 §4.2: an empty <metadata/> disables the avatar */
		struct xml_node *m = xml_node_new(NS_META, "metadata");

		pep_publish(ev->host, ev->user, NS_META, NULL, m, "open");
		xml_node_free(m);
	}
	avatar_changed(ev->host, ev->user, hash);
out:
	free(img);
	return HOOK_CONTINUE;
}

/* ---- PEP to vCard (XEP-0398 §3.1) ---- */

/* Store user's vCard with its PHOTO replaced by (type, b64), or removed
 * when b64 is NULL; the other fields stay. */
static int
vcard_set_photo(
    const char *host, const char *user, const char *type, const char *b64)
{
	struct xml_node *old = NULL, *v, *c, *ph;
	struct sbuf s;
	int rc;

	if (vcard_load(host, user, &old) < 0)
		return -1;
	v = xml_node_new(NS_VCARD, "vCard");
	for (c = old ? xml_node_first_el(old) : NULL; c;
	     c = xml_node_next_el(c))
		if (!xml_node_is(c, NS_VCARD, "PHOTO"))
			xml_node_copy_into(v, c);
	xml_node_free(old);
	if (b64 != NULL) {
		ph = xml_node_child(v, NULL, "PHOTO");
		xml_node_text(
		    xml_node_child(ph, NULL, "TYPE"), type, strlen(type));
		xml_node_text(
		    xml_node_child(ph, NULL, "BINVAL"), b64, strlen(b64));
	}
	if (xml_node_first_el(v) == NULL) {
		rc = store_kv_del(host, user, VCARD_STORE);
		xml_node_free(v);
		return rc;
	}
	sbuf_init(&s);
	xml_serialize(v, "", &s);
	rc = store_kv_set(host, user, VCARD_STORE, s.data, s.len);
	sbuf_cleanup(&s);
	xml_node_free(v);
	return rc;
}

/* The <info/> of metadata whose image is in the data node (no url). */
static struct xml_node *
pep_info(const struct xml_node *meta)
{
	struct xml_node *i;

	for (i = xml_node_first_el(meta); i; i = xml_node_next_el(i))
		if (xml_node_is(i, NS_META, "info") &&
		    xml_node_attr(i, "url") == NULL &&
		    xml_node_attr(i, "id") != NULL)
			return i;
	return NULL;
}

static void
from_metadata(struct host *h, const char *user, const struct xml_node *meta)
{
	struct xml_node *info = meta ? pep_info(meta) : NULL, *data = NULL;
	const char *type;
	unsigned char *img;
	char hash[HASH_LEN + 1], *b64;
	size_t len;
	int rc;

	if (info == NULL) {
		if (meta != NULL && xml_node_first_el(meta) != NULL)
			return; /* only URLs: nothing a vCard can hold */
		if (vcard_set_photo(h->name, user, NULL, NULL) == 0)
			avatar_changed(h, user, "");
		return;
	}
	rc = pep_get_item(
	    h->name, user, NS_DATA, xml_node_attr(info, "id"), &data);
	if (rc != 0) {
		log_info("avatar: %s@%s: metadata names id=%s, not in %s", user,
		    h->name, xml_node_attr(info, "id"), NS_DATA);
		return;
	}
	img = b64_decode_ws(xml_node_text_get(data), &len);
	if (img == NULL) {
		log_info(
		    "avatar: %s@%s: avatar data is no base64", user, h->name);
		goto out_data;
	}
	type = xml_node_attr(info, "type");
	if (type == NULL || type[0] == '\0')
		type = sniff_type(img, len);
	sha1_hex(img, len, hash);
	b64 = b64_encode_new(img, len);
	if (vcard_set_photo(h->name, user, type, b64) == 0)
		avatar_changed(h, user, hash);
	free(b64);
	free(img);
out_data:
	xml_node_free(data);
}

static enum hook_ret
av_published(struct hook_ev *ev)
{
	const struct pep_published *p = ev->data;
	struct xml_node *meta = NULL, *info;

	if (p->by_server || p->payload == NULL)
		return HOOK_CONTINUE;
	if (strcmp(p->node, NS_META) == 0) {
		if (xml_node_is(p->payload, NS_META, "metadata"))
			from_metadata(ev->host, ev->user, p->payload);
		return HOOK_CONTINUE;
	}
	if (strcmp(p->node, NS_DATA) != 0)
		return HOOK_CONTINUE;
	/* the data after its metadata (XEP-0084 §4.1 asks the other order,
	 * some clients do this one) */
	if (pep_get_item(ev->host->name, ev->user, NS_META, NULL, &meta) != 0)
		return HOOK_CONTINUE;
	info = pep_info(meta);
	if (info != NULL && strcmp(xml_node_attr(info, "id"), p->item_id) == 0)
		from_metadata(ev->host, ev->user, meta);
	xml_node_free(meta);
	return HOOK_CONTINUE;
}

/* A retracted metadata item leaves the one published before it, or no
 * avatar at all. */
static enum hook_ret
av_retracted(struct hook_ev *ev)
{
	const struct pep_published *p = ev->data;
	struct xml_node *meta = NULL;
	int rc;

	if (p->by_server || strcmp(p->node, NS_META) != 0)
		return HOOK_CONTINUE;
	rc = pep_get_item(ev->host->name, ev->user, NS_META, NULL, &meta);
	if (rc < 0)
		return HOOK_CONTINUE;
	from_metadata(ev->host, ev->user, rc == 0 ? meta : NULL);
	xml_node_free(meta);
	return HOOK_CONTINUE;
}

static const struct hook_reg avatar_hooks[] = {
	/* before presence.c keeps and broadcasts the stanza */
	{ "presence/outgoing", av_presence, 10 },
	{ "session/closed", av_closed, 0 },
	{ "vcard/updated", av_vcard_updated, 0 },
	{ "pep/published", av_published, 0 },
	{ "pep/retracted", av_retracted, 0 }, HOOK_REG_END
};

static void
av_session_free(void *data)
{
	struct av_sess *as = data;

	xml_node_free(as->last);
	free(as);
}

const struct module mod_avatar = {
	.name = "avatar",
	.spec = "XEP-0084, XEP-0398, XEP-0153",
	.doc = "Avatars: PEP avatars and vCard photos kept as one, and the "
	       "photo hash added to the user's presence.",
	.account_features = (const char *const[]){ NS_CONVERSION, NULL },
	.hooks = avatar_hooks,
	/* roster too: pep and presence need it */
	.depends =
	    (const char *const[]){ "pep", "vcard", "presence", "roster", NULL },
	.session_free = av_session_free,
};

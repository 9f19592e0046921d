/* jid.c: JID parsing and preparation (RFC 7622 addresses, prepared with
 * the RFC 6122 stringprep profiles the XMPP network still uses).
 *
 * Every stanza's to and from come through jid_parse, so the common case
 * (pure ASCII parts) is prepared by hand in one pass, which gives exactly
 * what libidn would give for ASCII (tests/unit/test_jid.c checks that for
 * every ASCII character); only parts with non-ASCII bytes go to libidn.
 *
 * A parsed JID owns one allocation laid out as
 *   full "\0" bare "\0" [node "\0"] domain "\0" [resource "\0"]
 * and full, bare, node, domain and resource all point into it, so a parse
 * costs a single malloc and jid_cleanup a single free. Nobody may free the
 * part pointers on their own. Offsets index into full: the node is at 0,
 * domain_off is 0 or node_len + 1, res_off is bare_len + 1 when there is a
 * resource and 0 (with res_len 0) when there is none.
 *
 * Unassigned code points (of Unicode 3.2, libidn's tables) are allowed, as
 * for stringprep "queries": clients do send newer characters (emoji in
 * resources), and rejecting them would only break interoperability. */
#include "jid/jid.h"

#include <arpa/inet.h>
#include <idna.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "core/util.h"

/* The longest input looked at: three full parts and two separators, plus
 * slack for a trailing dot on the domain. Anything longer is refused
 * before any work, whatever preparation would have made of it. */
#define JID_INPUT_MAX (3 * JID_PART_MAX + 2 + 2)
/* Room to prepare one part in place: the longest part we accept as input
 * and anything up to that length that preparation turns it into. */
#define PREP_BUF (JID_INPUT_MAX + 1)
#define LABEL_MAX 63

enum part_kind {
	PART_NODE,
	PART_DOMAIN,
	PART_RESOURCE,
};

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. NUL is refused as well because every part becomes a C
 * string (and it is a prohibited control in every profile anyway). */
static int
utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		uint32_t cp, min;
		size_t len, k;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* Decode valid UTF-8 (already checked) into at most max code points. */
static size_t
utf8_to_ucs4(const unsigned char *p, size_t n, uint32_t *out, size_t max)
{
	size_t i = 0, o = 0;

	while (i < n && o < max) {
		unsigned char c = p[i];
		uint32_t cp;
		size_t len, k;

		if (c < 0x80) {
			len = 1;
			cp = c;
		} else if (c < 0xe0) {
			len = 2;
			cp = c & 0x1f;
		} else if (c < 0xf0) {
			len = 3;
			cp = c & 0x0f;
		} else {
			len = 4;
			cp = c & 0x07;
		}
		for (k = 1; k < len && i + k < n; k++)
			cp = (cp << 6) | (p[i + k] & 0x3f);
		out[o++] = cp;
		i += len;
	}
	return o;
}

static int
is_ascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

static char
ascii_lower(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (char)(c - 'A' + 'a');
	return c;
}

static int
is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Nodeprep restricted to ASCII: case folding is the only mapping, and
 * the prohibited characters are the controls, space (C.1.1, C.2.1) and
 * the eight that RFC 6122 appendix A adds. */
static int
node_ascii(const char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = in[i];

		if ((unsigned char)c <= 0x20 || c == 0x7f)
			return -1;
		if (strchr("\"&'/:<>@", c) != NULL)
			return -1;
		out[i] = ascii_lower(c);
	}
	return 0;
}

/* Resourceprep restricted to ASCII: no mapping, only the controls
 * (C.2.1) are prohibited; space is allowed in resources. */
static int
resource_ascii(const char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f)
			return -1;
		out[i] = in[i];
	}
	return 0;
}

/* Run a libidn profile over in[0..n) into out (PREP_BUF bytes), in place.
 * Returns the prepared length or -1. */
static int
prep_libidn(const char *in, size_t n, char *out,
    const Stringprep_profile *profile, size_t *len)
{
	if (!utf8_valid((const unsigned char *)in, n))
		return -1;
	memcpy(out, in, n);
	out[n] = '\0';
	if (stringprep(out, PREP_BUF, 0, profile) != STRINGPREP_OK)
		return -1;
	*len = strlen(out);
	return 0;
}

/* "[v6address]": ASCII only, hex digits lowercased so that comparison
 * stays a byte comparison, otherwise kept as given. */
static int
domain_ipv6(const char *in, size_t n, char *out, size_t *len)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	size_t i;

	if (n < 3 || in[n - 1] != ']' || n - 2 >= sizeof(addr))
		return -1;
	out[0] = '[';
	out[n - 1] = ']';
	/* Only what an address can hold: inet_pton would stop at a NUL. */
	for (i = 1; i + 1 < n; i++) {
		char c = ascii_lower(in[i]);

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			c == ':' || c == '.'))
			return -1;
		out[i] = c;
	}
	memcpy(addr, out + 1, n - 2);
	addr[n - 2] = '\0';
	if (inet_pton(AF_INET6, addr, bin) != 1)
		return -1;
	out[n] = '\0';
	*len = n;
	return 0;
}

/* One label of a prepared domain: LDH for ASCII labels; a label with
 * non-ASCII characters goes through IDNA ToASCII with the STD3 rules,
 * which also checks the 63 octet limit of its ACE form. */
static int
domain_label_ok(const char *s, size_t n)
{
	uint32_t ucs[JID_PART_MAX];
	/* ToASCII promises at most 63 octets plus NUL; the larger buffer
	 * costs nothing and protects us from older libidn versions that
	 * copied before checking the length. */
	char ace[JID_PART_MAX + 64];
	size_t i, cnt;

	if (n == 0)
		return 0;
	if (is_ascii(s, n)) {
		if (n > LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
			return 0;
		for (i = 0; i < n; i++)
			if (!is_ldh(s[i]))
				return 0;
		return 1;
	}
	cnt = utf8_to_ucs4((const unsigned char *)s, n, ucs, ARRAY_LEN(ucs));
	if (idna_to_ascii_4i(ucs, cnt, ace,
		IDNA_ALLOW_UNASSIGNED | IDNA_USE_STD3_ASCII_RULES) !=
	    IDNA_SUCCESS)
		return 0;
	return 1;
}

/* After nameprep, U+3002 IDEOGRAPHIC FULL STOP is still a label
 * separator (RFC 3490 3.1; nameprep already folds the fullwidth and
 * halfwidth forms into '.' and U+3002): make it a plain dot so that the
 * stored form is the one a second parse would produce. */
static size_t
domain_map_dots(char *s, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (i + 2 < n && (unsigned char)s[i] == 0xe3 &&
		    (unsigned char)s[i + 1] == 0x80 &&
		    (unsigned char)s[i + 2] == 0x82) {
			s[o++] = '.';
			i += 2;
			continue;
		}
		s[o++] = s[i];
	}
	s[o] = '\0';
	return o;
}

static int
domain_prep(const char *in, size_t n, char *out, size_t *len)
{
	size_t i, m, start;
	int numeric = 1;

	if (n == 0)
		return -1;
	if (in[0] == '[')
		return domain_ipv6(in, n, out, len);
	if (is_ascii(in, n)) {
		/* Nameprep of ASCII is lowercasing; whatever else it would
		 * let through, the STD3 label rules below refuse. */
		for (i = 0; i < n; i++)
			out[i] = ascii_lower(in[i]);
		out[n] = '\0';
		m = n;
	} else {
		if (prep_libidn(in, n, out, stringprep_nameprep, &m) < 0)
			return -1;
		m = domain_map_dots(out, m);
	}
	if (m > 0 && out[m - 1] == '.')
		out[--m] = '\0';
	if (m == 0 || m > JID_PART_MAX)
		return -1;

	for (i = 0; i < m; i++) {
		if (out[i] != '.' && (out[i] < '0' || out[i] > '9')) {
			numeric = 0;
			break;
		}
	}
	if (numeric) {
		unsigned char bin[4];

		/* Digits and dots only: an IPv4 literal or nothing. */
		if (inet_pton(AF_INET, out, bin) != 1)
			return -1;
		*len = m;
		return 0;
	}

	start = 0;
	for (i = 0; i <= m; i++) {
		if (i < m && out[i] != '.')
			continue;
		if (!domain_label_ok(out + start, i - start))
			return -1;
		start = i + 1;
	}
	*len = m;
	return 0;
}

/* Prepare one part in[0..n) (n <= JID_INPUT_MAX) into out (PREP_BUF
 * bytes), NUL-terminated. Returns 0 and the length, or -1. */
static int
prep_part(enum part_kind kind, const char *in, size_t n, char *out, size_t *len)
{
	if (n == 0 || n > JID_INPUT_MAX)
		return -1;
	if (kind == PART_DOMAIN)
		return domain_prep(in, n, out, len);

	if (!is_ascii(in, n)) {
		if (prep_libidn(in, n, out,
			kind == PART_NODE ? stringprep_xmpp_nodeprep
					  : stringprep_xmpp_resourceprep,
			len) < 0)
			return -1;
		/* Mapping to nothing can empty a part; NFKC can grow it. */
		if (*len == 0 || *len > JID_PART_MAX)
			return -1;
		return 0;
	}
	if (n > JID_PART_MAX)
		return -1; /* ASCII never shrinks under these profiles */
	if (kind == PART_NODE) {
		if (node_ascii(in, n, out) < 0)
			return -1;
	} else {
		if (resource_ascii(in, n, out) < 0)
			return -1;
	}
	out[n] = '\0';
	*len = n;
	return 0;
}

/* Lay out the single allocation described at the top of this file. */
static void
jid_build(struct jid *j, const char *node, size_t nl, const char *dom,
    size_t dl, const char *res, size_t rl)
{
	size_t bare_len = (node ? nl + 1 : 0) + dl;
	size_t full_len = bare_len + (res ? rl + 1 : 0);
	size_t size = (full_len + 1) + (bare_len + 1) + (node ? nl + 1 : 0) +
		      (dl + 1) + (res ? rl + 1 : 0);
	char *p = xmalloc(size);
	char *q;

	memset(j, 0, sizeof(*j));
	j->full = p;
	j->bare_len = bare_len;
	if (node) {
		memcpy(p, node, nl);
		p[nl] = '@';
		j->node_len = nl;
		j->domain_off = nl + 1;
	}
	j->domain_len = dl;
	memcpy(p + j->domain_off, dom, dl);
	if (res) {
		p[bare_len] = '/';
		j->res_off = bare_len + 1;
		j->res_len = rl;
		memcpy(p + j->res_off, res, rl);
	}
	p[full_len] = '\0';

	q = p + full_len + 1;
	j->bare = q;
	memcpy(q, p, bare_len);
	q[bare_len] = '\0';
	q += bare_len + 1;
	if (node) {
		j->node = q;
		memcpy(q, node, nl);
		q[nl] = '\0';
		q += nl + 1;
	}
	j->domain = q;
	memcpy(q, dom, dl);
	q[dl] = '\0';
	q += dl + 1;
	if (res) {
		j->resource = q;
		memcpy(q, res, rl);
		q[rl] = '\0';
	}
}

int
jid_parse(struct jid *out, const char *s, size_t n)
{
	char node[PREP_BUF], dom[PREP_BUF], res[PREP_BUF];
	const char *slash, *at, *dstart;
	size_t bare_in, nl = 0, dl, rl = 0;

	memset(out, 0, sizeof(*out));
	if (s == NULL || n == 0 || n > JID_INPUT_MAX)
		return -1;

	/* The resource starts at the first '/', and the node ends at the
	 * first '@' before it: "a@b/c/d@e" is a, b, "c/d@e". */
	slash = memchr(s, '/', n);
	bare_in = slash ? (size_t)(slash - s) : n;
	at = memchr(s, '@', bare_in);
	dstart = at ? at + 1 : s;

	if (at && prep_part(PART_NODE, s, (size_t)(at - s), node, &nl) < 0)
		return -1;
	if (prep_part(PART_DOMAIN, dstart, bare_in - (size_t)(dstart - s), dom,
		&dl) < 0)
		return -1;
	if (slash &&
	    prep_part(PART_RESOURCE, slash + 1, n - bare_in - 1, res, &rl) < 0)
		return -1;

	jid_build(out, at ? node : NULL, nl, dom, dl, slash ? res : NULL, rl);
	return 0;
}

int
jid_parse_str(struct jid *out, const char *s)
{
	size_t n;

	if (s == NULL) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	/* strnlen: never walk a huge string we would refuse anyway. */
	n = strnlen(s, JID_INPUT_MAX + 1);
	return jid_parse(out, s, n);
}

/* Length of a caller's part, or JID_INPUT_MAX + 1 when too long. */
static size_t
part_len(const char *s)
{
	return strnlen(s, JID_INPUT_MAX + 1);
}

int
jid_make(
    struct jid *out, const char *node, const char *domain, const char *resource)
{
	char nbuf[PREP_BUF], dbuf[PREP_BUF], rsbuf[PREP_BUF];
	size_t nl = 0, dl, rl = 0;

	memset(out, 0, sizeof(*out));
	if (domain == NULL)
		return -1;
	/* Parts go through the same preparation as in jid_parse, and an
	 * empty node or resource is as invalid here as there. Nodeprep
	 * forbids '@' and '/', the domain rules forbid them too, so the
	 * result always reparses to the same JID. */
	if (node && prep_part(PART_NODE, node, part_len(node), nbuf, &nl) < 0)
		return -1;
	if (prep_part(PART_DOMAIN, domain, part_len(domain), dbuf, &dl) < 0)
		return -1;
	if (resource && prep_part(PART_RESOURCE, resource, part_len(resource),
			    rsbuf, &rl) < 0)
		return -1;
	jid_build(
	    out, node ? nbuf : NULL, nl, dbuf, dl, resource ? rsbuf : NULL, rl);
	return 0;
}

void
jid_copy(struct jid *dst, const struct jid *src)
{
	if (src->full == NULL) {
		memset(dst, 0, sizeof(*dst));
		return;
	}
	jid_build(dst, src->node, src->node_len, src->domain, src->domain_len,
	    src->resource, src->res_len);
}

void
jid_cleanup(struct jid *j)
{
	free(j->full);
	memset(j, 0, sizeof(*j));
}

int
jid_eq(const struct jid *a, const struct jid *b)
{
	size_t la, lb;

	if (a->full == NULL || b->full == NULL)
		return 0;
	la = a->resource ? a->res_off + a->res_len : a->bare_len;
	lb = b->resource ? b->res_off + b->res_len : b->bare_len;
	return la == lb && memcmp(a->full, b->full, la) == 0;
}

int
jid_bare_eq(const struct jid *a, const struct jid *b)
{
	if (a->full == NULL || b->full == NULL)
		return 0;
	return a->bare_len == b->bare_len &&
	       memcmp(a->full, b->full, a->bare_len) == 0;
}

static int
prep_public(enum part_kind kind, const char *in, char *out, size_t outlen)
{
	char buf[PREP_BUF];
	size_t len;

	if (in == NULL || out == NULL)
		return -1;
	if (prep_part(kind, in, part_len(in), buf, &len) < 0)
		return -1;
	if (len >= outlen)
		return -1;
	memcpy(out, buf, len + 1);
	return 0;
}

int
jid_nodeprep(const char *in, char *out, size_t outlen)
{
	return prep_public(PART_NODE, in, out, outlen);
}

int
jid_nameprep(const char *in, char *out, size_t outlen)
{
	return prep_public(PART_DOMAIN, in, out, outlen);
}

int
jid_resourceprep(const char *in, char *out, size_t outlen)
{
	return prep_public(PART_RESOURCE, in, out, outlen);
}

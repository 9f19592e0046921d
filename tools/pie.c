/* pie.c: the XEP-0227 file around the accounts ternctl exports and
 * imports (see pie.h). The reader streams the input with expat, keeping
 * only one <user/> as a tree at a time, with the line each of its
 * elements starts on (errors name file:line); <xi:include href/>
 * children of <server-data/> and <host/> are followed (relative paths,
 * a bounded depth), as the XEP requires. Import runs over the input
 * twice: a check that writes nothing, then the import, one transaction
 * per account (a failed account is rolled back alone). */
#include "pie.h"

#include <dirent.h>
#include <errno.h>
#include <expat.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/config.h"
#include "core/hook.h"
#include "core/host.h"
#include "core/loop.h"
#include "core/util.h"
#include "jid/jid.h"
#include "store/store.h"
#include "xml/xml.h"
#include "xmpp/account.h"
#include "xmpp/portable.h"
#include "xmpp/users.h"

#define NS_PIE_SCRAM NS_PIE "#scram"
#define NS_XINCLUDE "http://www.w3.org/2001/XInclude"
/* Tern's own account facts (XEP-0227 lets an export add namespaces) */
#define NS_TERN_PIE "urn:xmpp:tern:pie:0"
#define SEP '\n' /* expat's namespace separator: in no URI or name */
#define INCLUDE_DEPTH 4
#define USER_DEPTH 64
#define MAX_ERRORS 20
#define READ_CHUNK 65536
/* a <user/> held in memory at most (without a storage quota) */
#define USER_BYTES_MAX (256LL * 1024 * 1024)
/* accounts, and bytes of their XML, committed at once: each commit
 * waits for the disk (synchronous=FULL), a savepoint per account keeps
 * a failed one from taking the others with it */
#define BATCH_ACCOUNTS 256
#define BATCH_BYTES (32LL * 1024 * 1024)

/* ---- export ---- */

static void
put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '\'')
			fputs("&apos;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

static void
text_child(struct xml_node *p, const char *name, const char *text)
{
	xml_node_text(xml_node_child(p, NULL, name), text, strlen(text));
}

/* <scram-credentials/> per hash (XEP-0227 §3.3): Tern keeps no
 * passwords, so this is how an account's login travels. */
static int
export_account(const char *host, const char *user, struct xml_node *u)
{
	struct scram_keys keys[SCRAM_NHASH];
	int have[SCRAM_NHASH], h, rc;
	char b64[128], num[32], mech[32];
	struct xml_node *sc, *a;
	int64_t created = 0, t;

	rc = account_export(host, user, keys, have, &created);
	if (rc != 0)
		return rc;
	for (h = 0; h < SCRAM_NHASH; h++) {
		size_t dlen = scram_digest_len((enum scram_hash)h);

		if (!have[h])
			continue;
		sc = xml_node_child(u, NS_PIE_SCRAM, "scram-credentials");
		snprintf(mech, sizeof(mech), "SCRAM-%s",
		    scram_hash_name((enum scram_hash)h));
		xml_node_set_attr(sc, "mechanism", mech);
		snprintf(num, sizeof(num), "%u", keys[h].iter);
		text_child(sc, "iter-count", num);
		b64_encode(keys[h].salt, keys[h].salt_len, b64);
		text_child(sc, "salt", b64);
		b64_encode(keys[h].server_key, dlen, b64);
		text_child(sc, "server-key", b64);
		b64_encode(keys[h].stored_key, dlen, b64);
		text_child(sc, "stored-key", b64);
	}
	OPENSSL_cleanse(keys, sizeof(keys));
	a = xml_node_child(u, NS_TERN_PIE, "account");
	snprintf(num, sizeof(num), "%" PRId64, created);
	xml_node_set_attr(a, "created", num);
	if (account_get_last_login(host, user, &t) == 0) {
		snprintf(num, sizeof(num), "%" PRId64, t);
		xml_node_set_attr(a, "last-login", num);
	}
	/* a disabled account stays so where it goes */
	if (account_is_disabled(host, user) == 1)
		xml_node_set_attr(a, "disabled", "true");
	return 0;
}

struct export_ctx {
	FILE *f;
	struct host *h;
	long n;
	int failed;
};

static int
export_user(void *ud, const char *user)
{
	struct export_ctx *x = ud;
	struct acct_export ex;
	struct hook_ev ev = { 0 };
	struct sbuf b;

	ex.user = xml_node_new(NS_PIE, "user");
	xml_node_set_attr(ex.user, "name", user);
	if (export_account(x->h->name, user, ex.user) != 0) {
		xml_node_free(ex.user);
		ternctl_fail("%s@%s: storage failure", user, x->h->name);
		x->failed = 1;
		return -1;
	}
	ev.host = x->h;
	ev.user = user;
	ev.data = &ex;
	hook_fire(x->h->hooks, "user/export", &ev);
	sbuf_init(&b);
	xml_serialize(ex.user, NS_PIE, &b);
	fputs("    ", x->f);
	fwrite(b.data, 1, b.len, x->f);
	fputc('\n', x->f);
	OPENSSL_cleanse(b.data, b.len);
	sbuf_cleanup(&b);
	xml_node_free(ex.user);
	x->n++;
	return 0;
}

static int
export_host(FILE *f, struct host *h, const char *user, long *n)
{
	struct export_ctx x = { f, h, 0, 0 };
	int rc;

	fputs("  <host jid='", f);
	put_escaped(f, h->name);
	fputs("'>\n", f);
	if (user != NULL) {
		rc = account_exists(h->name, user);
		if (rc != 0) {
			ternctl_fail(rc > 0 ? "%s@%s: no such account"
					    : "%s@%s: storage failure",
			    user, h->name);
			return -1;
		}
		export_user(&x, user);
	} else if (account_list(h->name, export_user, &x) < 0) {
		x.failed = 1;
	}
	fputs("  </host>\n", f);
	*n += x.n;
	return x.failed ? -1 : 0;
}

int
pie_export(const struct config *cfg, const char *host, const char *user,
    const char *path)
{
	char tmp[PATH_MAX], err[512];
	struct host *h;
	long n = 0;
	FILE *f;
	int ret = 1, bad = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		ternctl_fail("%s: path too long", path);
		return 1;
	}
	loop_init();
	if (host_setup(cfg, err, sizeof(err)) != 0) {
		ternctl_fail("%s", err);
		return 1;
	}
	f = fopen(tmp, "w");
	if (f == NULL) {
		ternctl_fail("%s: %s", tmp, strerror(errno));
		goto out_hosts;
	}
	fputs("<?xml version='1.0' encoding='UTF-8'?>\n"
	      "<server-data xmlns='" NS_PIE "'>\n",
	    f);
	for (h = host_list; h != NULL && !bad; h = h->next)
		if (host == NULL || strcmp(h->name, host) == 0)
			bad = export_host(f, h, user, &n) < 0;
	fputs("</server-data>\n", f);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
		ternctl_fail("%s: %s", tmp, strerror(errno));
		bad = 1;
	}
	fclose(f);
	if (bad) {
		unlink(tmp);
		goto out_hosts;
	}
	if (rename(tmp, path) != 0) {
		ternctl_fail("%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out_hosts;
	}
	printf("exported %ld account%s to %s\n", n, n == 1 ? "" : "s", path);
	ret = 0;
out_hosts:
	loop_drain();
	host_free_all();
	return ret;
}

/* ---- reading ---- */

enum ctx { CTX_SERVER, CTX_HOST, CTX_SKIP };
enum want { WANT_SERVER, WANT_HOST, WANT_USER };

struct line_of {
	const struct xml_node *n;
	unsigned line;
};

struct pie;

struct pie_file {
	struct pie *p;
	const char *path;
	XML_Parser xp;
	enum want want;
	int top;	 /* a file named on the command line */
	int incl;	 /* include depth */
	enum ctx ctx[8]; /* open levels above a user */
	int nctx;
	int skip;	  /* depth inside an ignored element */
	int udepth;	  /* depth inside the <user/> being read */
	long long ustart; /* its first byte */
	int stopped;
};

struct pie {
	const struct config *cfg;
	enum pie_mode mode;
	int check; /* the first pass: nothing written */
	const struct pie_ctl *ctl;
	char host[JID_PART_MAX + 1];
	struct host *h;
	struct xml_node *user, *cur;
	struct line_of *lines;
	size_t nlines, caplines;
	unsigned uline;
	const char *ufile;
	long long user_max;
	struct strset seen; /* user@host met (twice is an error) */
	unsigned errors, ignored;
	long imported, failed;
	/* imported since the last commit: "host\nuser\nreplaced" */
	struct strlist batch;
	long long batch_bytes;
};

static void pie_err(struct pie *p, const char *file, unsigned line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
pie_err(struct pie *p, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (p->errors++ >= MAX_ERRORS)
		return;
	fprintf(stderr, "ternctl: %s:%u: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static unsigned
line_of(const struct pie *p, const struct xml_node *n)
{
	size_t i;

	for (i = 0; n != NULL && i < p->nlines; i++)
		if (p->lines[i].n == n)
			return p->lines[i].line;
	return p->uline;
}

static unsigned
cur_line(const struct pie_file *f)
{
	return (unsigned)XML_GetCurrentLineNumber(f->xp);
}

/* "ns\nname" from expat into ns and local name (ns "" when none). */
static const char *
split_name(const char *qn, char *ns, size_t len)
{
	const char *sep = strchr(qn, SEP);

	if (sep == NULL) {
		ns[0] = '\0';
		return qn;
	}
	snprintf(ns, len, "%.*s", (int)(sep - qn), qn);
	return sep + 1;
}

static const char *
attr(const char **atts, const char *name)
{
	for (; atts[0] != NULL; atts += 2)
		if (strcmp(atts[0], name) == 0)
			return atts[1];
	return NULL;
}

static int parse_file(
    struct pie *p, const char *path, enum want want, int top, int incl);
static void do_user(struct pie_file *f);

static void
stop(struct pie_file *f)
{
	f->stopped = 1;
	XML_StopParser(f->xp, XML_FALSE);
}

/* <xi:include href/>: a relative path from the including file's
 * directory; parse="xml" (the default) and no xpointer. */
static void
include(struct pie_file *f, const char **atts, enum want want)
{
	const char *href = attr(atts, "href"), *parse = attr(atts, "parse");
	char dir[PATH_MAX], path[PATH_MAX];

	if (href == NULL || *href == '\0' || href[0] == '/' ||
	    strstr(href, "://") != NULL || attr(atts, "xpointer") != NULL ||
	    (parse != NULL && strcmp(parse, "xml") != 0)) {
		pie_err(f->p, f->path, cur_line(f),
		    "xi:include: only a relative href to an XML file is "
		    "supported");
		stop(f);
		return;
	}
	if (f->incl >= INCLUDE_DEPTH) {
		pie_err(f->p, f->path, cur_line(f),
		    "xi:include nested more than %d deep", INCLUDE_DEPTH);
		stop(f);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", f->path);
	snprintf(path, sizeof(path), "%s/%s", dirname(dir), href);
	if (parse_file(f->p, path, want, 0, f->incl + 1) < 0)
		stop(f);
}

static void
host_open(struct pie_file *f, const char **atts)
{
	struct pie *p = f->p;
	const char *jid = attr(atts, "jid");

	p->h = NULL;
	if (jid == NULL || jid_nameprep(jid, p->host, sizeof(p->host)) < 0) {
		pie_err(p, f->path, cur_line(f),
		    "<host/> needs a jid attribute naming a domain");
		stop(f);
		return;
	}
	if (config_host(p->cfg, p->host) == NULL) {
		pie_err(p, f->path, cur_line(f),
		    "%s is not a host of %s (add it there first)", p->host,
		    p->cfg->file);
		stop(f);
		return;
	}
	p->h = host_find(p->host);
	if (p->h == NULL) {
		pie_err(
		    p, f->path, cur_line(f), "%s: host not set up", p->host);
		stop(f);
	}
}

static void
user_open(struct pie_file *f, const char **atts)
{
	struct pie *p = f->p;

	if (p->host[0] == '\0') {
		pie_err(p, f->path, cur_line(f), "<user/> outside a <host/>");
		stop(f);
		return;
	}
	p->user = xml_node_new(NS_PIE, "user");
	p->cur = p->user;
	p->uline = cur_line(f);
	p->ufile = f->path;
	p->nlines = 0;
	f->udepth = 1;
	f->ustart = XML_GetCurrentByteIndex(f->xp);
	for (; atts[0] != NULL; atts += 2)
		if (strchr(atts[0], SEP) == NULL)
			xml_node_set_attr(p->user, atts[0], atts[1]);
}

static void
user_child(struct pie_file *f, const char *qn, const char **atts)
{
	struct pie *p = f->p;
	char ns[1024], ans[1024];
	const char *name = split_name(qn, ns, sizeof(ns)), *an;
	struct xml_node *n;

	if (XML_GetCurrentByteIndex(f->xp) - f->ustart > p->user_max) {
		pie_err(p, f->path, p->uline,
		    "<user/> larger than %lld bytes (see "
		    "limits.account_storage)",
		    p->user_max);
		stop(f);
		return;
	}
	if (++f->udepth > USER_DEPTH) {
		pie_err(p, f->path, cur_line(f),
		    "elements nested more than %d deep", USER_DEPTH);
		stop(f);
		return;
	}
	n = xml_node_child(p->cur, ns, name);
	for (; atts[0] != NULL; atts += 2) {
		an = split_name(atts[0], ans, sizeof(ans));
		if (ans[0] == '\0')
			xml_node_set_attr(n, an, atts[1]);
		else
			xml_node_set_attr_ns(n, ans, an, atts[1]);
	}
	if (p->nlines == p->caplines) {
		p->caplines = p->caplines ? p->caplines * 2 : 256;
		p->lines = xrealloc(p->lines, p->caplines * sizeof(*p->lines));
	}
	p->lines[p->nlines].n = n;
	p->lines[p->nlines++].line = cur_line(f);
	p->cur = n;
}

static void XMLCALL
on_start(void *ud, const char *qn, const char **atts)
{
	struct pie_file *f = ud;
	char ns[1024];
	const char *name = split_name(qn, ns, sizeof(ns));
	int pie = strcmp(ns, NS_PIE) == 0;
	int xi = strcmp(ns, NS_XINCLUDE) == 0 && strcmp(name, "include") == 0;

	if (f->stopped)
		return;
	if (f->udepth > 0) {
		user_child(f, qn, atts);
		return;
	}
	if (f->skip > 0) {
		f->skip++;
		return;
	}
	if (f->nctx == 0) {
		/* the root: what the includer expects, or server-data */
		static const char *const roots[] = { "server-data", "host",
			"user" };

		if (!pie || strcmp(name, roots[f->want]) != 0) {
			if (f->top && pie &&
			    (strcmp(name, "host") == 0 ||
				strcmp(name, "user") == 0)) {
				/* a part of a multi-file export, read from
				 * the file that includes it */
				stop(f);
				f->stopped = 2;
				return;
			}
			pie_err(f->p, f->path, cur_line(f),
			    "expected <%s xmlns='" NS_PIE "'>, not <%s%s%s>",
			    roots[f->want], name, ns[0] ? " xmlns=" : "", ns);
			stop(f);
			return;
		}
		if (f->want == WANT_USER) {
			user_open(f, atts);
			return;
		}
		if (f->want == WANT_HOST)
			host_open(f, atts);
		f->ctx[f->nctx++] =
		    f->want == WANT_SERVER ? CTX_SERVER : CTX_HOST;
		return;
	}
	if (f->ctx[f->nctx - 1] == CTX_SERVER && pie &&
	    strcmp(name, "host") == 0) {
		host_open(f, atts);
		f->ctx[f->nctx++] = CTX_HOST;
		return;
	}
	if (f->ctx[f->nctx - 1] == CTX_HOST && pie &&
	    strcmp(name, "user") == 0) {
		user_open(f, atts);
		return;
	}
	if (xi) {
		include(f, atts,
		    f->ctx[f->nctx - 1] == CTX_SERVER ? WANT_HOST : WANT_USER);
		f->skip = 1; /* its fallback, if any */
		return;
	}
	if (f->p->check)
		fprintf(stderr,
		    "ternctl: %s:%u: warning: <%s xmlns='%s'> ignored\n",
		    f->path, cur_line(f), name, ns);
	f->p->ignored++;
	f->skip = 1;
}

static void XMLCALL
on_end(void *ud, const char *qn)
{
	struct pie_file *f = ud;

	UNUSED(qn);
	if (f->stopped)
		return;
	if (f->udepth > 0) {
		if (--f->udepth == 0) {
			do_user(f);
			xml_node_free(f->p->user);
			f->p->user = f->p->cur = NULL;
		} else {
			f->p->cur = f->p->cur->parent;
		}
		return;
	}
	if (f->skip > 0) {
		f->skip--;
		return;
	}
	if (f->nctx > 0 && f->ctx[--f->nctx] == CTX_HOST &&
	    f->want != WANT_USER) {
		f->p->host[0] = '\0';
		f->p->h = NULL;
	}
}

static void XMLCALL
on_text(void *ud, const char *s, int len)
{
	struct pie_file *f = ud;

	if (f->stopped || f->udepth == 0 || f->skip > 0)
		return;
	if (XML_GetCurrentByteIndex(f->xp) - f->ustart > f->p->user_max) {
		pie_err(f->p, f->path, f->p->uline,
		    "<user/> larger than %lld bytes (see "
		    "limits.account_storage)",
		    f->p->user_max);
		stop(f);
		return;
	}
	xml_node_text(f->p->cur, s, (size_t)len);
}

static void XMLCALL
on_doctype(
    void *ud, const char *name, const char *sys, const char *pub, int internal)
{
	struct pie_file *f = ud;

	UNUSED(name);
	UNUSED(sys);
	UNUSED(pub);
	UNUSED(internal);
	pie_err(f->p, f->path, cur_line(f),
	    "a document type declaration is not allowed");
	stop(f);
}

static void XMLCALL
on_entity(void *ud, const char *name, int pe, const char *v, int vlen,
    const char *base, const char *sys, const char *pub, const char *notation)
{
	struct pie_file *f = ud;

	UNUSED(name);
	UNUSED(pe);
	UNUSED(v);
	UNUSED(vlen);
	UNUSED(base);
	UNUSED(sys);
	UNUSED(pub);
	UNUSED(notation);
	pie_err(f->p, f->path, cur_line(f),
	    "entity declarations are not "
	    "allowed");
	stop(f);
}

/* 0 read (or skipped: a part read through its includer), -1 an error
 * (said). */
static int
parse_file(struct pie *p, const char *path, enum want want, int top, int incl)
{
	struct pie_file f = { 0 };
	char buf[READ_CHUNK];
	FILE *in;
	size_t n;
	int ret = 0, done = 0;

	in = fopen(path, "r");
	if (in == NULL) {
		ternctl_fail("%s: %s", path, strerror(errno));
		p->errors++;
		return -1;
	}
	f.p = p;
	f.path = path;
	f.want = want;
	f.top = top;
	f.incl = incl;
	f.xp = XML_ParserCreateNS("UTF-8", SEP);
	XML_SetUserData(f.xp, &f);
	XML_SetElementHandler(f.xp, on_start, on_end);
	XML_SetCharacterDataHandler(f.xp, on_text);
	XML_SetStartDoctypeDeclHandler(f.xp, on_doctype);
	XML_SetEntityDeclHandler(f.xp, on_entity);
	while (!done && !f.stopped) {
		n = fread(buf, 1, sizeof(buf), in);
		if (ferror(in)) {
			ternctl_fail("%s: %s", path, strerror(errno));
			p->errors++;
			ret = -1;
			break;
		}
		done = n < sizeof(buf);
		if (XML_Parse(f.xp, buf, (int)n, done) == XML_STATUS_ERROR &&
		    !f.stopped) {
			pie_err(p, path,
			    (unsigned)XML_GetCurrentLineNumber(f.xp),
			    "not well-formed XML: %s",
			    XML_ErrorString(XML_GetErrorCode(f.xp)));
			ret = -1;
			break;
		}
	}
	if (f.stopped == 1)
		ret = -1;
	if (p->user != NULL && f.udepth > 0) {
		xml_node_free(p->user);
		p->user = p->cur = NULL;
	}
	XML_ParserFree(f.xp);
	fclose(in);
	return ret;
}

/* ---- one account ---- */

struct creds {
	struct scram_keys keys[SCRAM_NHASH];
	int have[SCRAM_NHASH];
	int any;
	int64_t created, last_login;
	int disabled;
};

static int
b64_field(const struct xml_node *sc, const char *name, unsigned char *out,
    size_t cap, size_t want, size_t *got)
{
	struct xml_node *el = xml_node_find(sc, NS_PIE_SCRAM, name);
	const char *t = el ? xml_node_text_get(el) : NULL;
	unsigned char tmp[256];
	size_t n, len;

	if (t == NULL)
		return -1;
	n = strlen(t);
	if (n == 0 || n > 340 || b64_decode(t, n, tmp, &len) < 0 || len > cap ||
	    (want != 0 && len != want))
		return -1;
	memcpy(out, tmp, len);
	if (got != NULL)
		*got = len;
	return 0;
}

/* One <scram-credentials/> into c; NULL or why not. An unknown
 * mechanism (SCRAM-SHA-512) is skipped (1 in *skipped). */
static const char *
scram_read(const struct xml_node *sc, struct creds *c, int *skipped)
{
	const char *mech = xml_node_attr(sc, "mechanism"), *it;
	struct xml_node *el;
	struct scram_keys *k;
	unsigned long iter;
	char *end;
	int h;

	if (mech == NULL)
		return "scram-credentials: no mechanism";
	for (h = 0; h < SCRAM_NHASH; h++)
		if (strncmp(mech, "SCRAM-", 6) == 0 &&
		    strcmp(mech + 6, scram_hash_name((enum scram_hash)h)) == 0)
			break;
	if (h == SCRAM_NHASH) {
		*skipped = 1;
		return NULL;
	}
	k = &c->keys[h];
	k->hash = (enum scram_hash)h;
	el = xml_node_find(sc, NS_PIE_SCRAM, "iter-count");
	it = el ? xml_node_text_get(el) : "";
	errno = 0;
	iter = strtoul(it, &end, 10);
	if (*it < '1' || *it > '9' || *end || errno || iter > 100000000ul)
		return "scram-credentials: iter-count is not a positive "
		       "number";
	k->iter = (unsigned)iter;
	if (b64_field(sc, "salt", k->salt, sizeof(k->salt), 0, &k->salt_len) <
	    0)
		return "scram-credentials: salt is not base64 (64 bytes at "
		       "most)";
	if (b64_field(sc, "stored-key", k->stored_key, sizeof(k->stored_key),
		scram_digest_len(k->hash), NULL) < 0 ||
	    b64_field(sc, "server-key", k->server_key, sizeof(k->server_key),
		scram_digest_len(k->hash), NULL) < 0)
		return "scram-credentials: stored-key and server-key must be "
		       "base64 of the hash's length";
	c->have[h] = 1;
	c->any = 1;
	return NULL;
}

/* ejabberd's older form: password='scram:StoredKey,ServerKey,Salt,Iter'
 * (SHA-1) with an optional "sha256," first. */
static const char *
scram_old(const char *v, struct creds *c)
{
	char *dup = xstrdup(v + 6), *f[6], *save = NULL, *end, *t;
	int n = 0, h = SCRAM_SHA1, off = 0;
	struct scram_keys *k;
	const char *why = "password: a scram: value ejabberd did not write";
	unsigned long iter;
	size_t len, dl;
	unsigned char tmp[256];

	for (t = strtok_r(dup, ",", &save); t != NULL && n < 6;
	     t = strtok_r(NULL, ",", &save))
		f[n++] = t;
	if (n == 5 && strcmp(f[0], "sha256") == 0) {
		h = SCRAM_SHA256;
		off = 1;
	} else if (n == 5 && strcmp(f[0], "sha512") == 0) {
		why = "only SCRAM-SHA-512 keys, a hash Tern does not use";
		goto out_free;
	} else if (n != 4) {
		goto out_free;
	}
	k = &c->keys[h];
	k->hash = (enum scram_hash)h;
	dl = scram_digest_len(k->hash);
	iter = strtoul(f[off + 3], &end, 10);
	if (*end || iter == 0 || iter > 100000000ul)
		goto out_free;
	k->iter = (unsigned)iter;
	if (strlen(f[off]) > 340 ||
	    b64_decode(f[off], strlen(f[off]), tmp, &len) || len != dl)
		goto out_free;
	memcpy(k->stored_key, tmp, dl);
	if (strlen(f[off + 1]) > 340 ||
	    b64_decode(f[off + 1], strlen(f[off + 1]), tmp, &len) || len != dl)
		goto out_free;
	memcpy(k->server_key, tmp, dl);
	if (strlen(f[off + 2]) > 340 ||
	    b64_decode(f[off + 2], strlen(f[off + 2]), tmp, &len) ||
	    len > sizeof(k->salt) || len == 0)
		goto out_free;
	memcpy(k->salt, tmp, len);
	k->salt_len = len;
	c->have[h] = 1;
	c->any = 1;
	why = NULL;
out_free:
	OPENSSL_cleanse(dup, strlen(v + 6));
	free(dup);
	return why;
}

/* The account's credentials from <user password/> or its
 * <scram-credentials/> (taken); NULL or why not, *at the element. */
static const char *
creds_read(struct pie *p, struct creds *c, const struct xml_node **at)
{
	const char *pw = xml_node_attr(p->user, "password"), *why;
	struct xml_node *el, *next;
	int skipped = 0;

	memset(c, 0, sizeof(*c));
	*at = NULL;
	for (el = xml_node_first_el(p->user); el; el = next) {
		next = xml_node_next_el(el);
		if (xml_node_is(el, NS_TERN_PIE, "account")) {
			const char *cr = xml_node_attr(el, "created");
			const char *ll = xml_node_attr(el, "last-login");

			c->created = cr ? strtoll(cr, NULL, 10) : 0;
			c->last_login = ll ? strtoll(ll, NULL, 10) : 0;
			c->disabled =
			    xml_node_attr(el, "disabled") != NULL &&
			    strcmp(xml_node_attr(el, "disabled"), "true") == 0;
			xml_node_unlink(el);
			continue;
		}
		if (!xml_node_is(el, NS_PIE_SCRAM, "scram-credentials"))
			continue;
		*at = el;
		why = scram_read(el, c, &skipped);
		if (why != NULL)
			return why;
		xml_node_unlink(el);
	}
	*at = NULL;
	if (pw != NULL && strncmp(pw, "scram:", 6) == 0)
		return scram_old(pw, c);
	if (pw != NULL && *pw != '\0') {
		/* the password is known: every hash's keys from it */
		why = account_password_problem(pw);
		if (why != NULL)
			return why;
		if (!p->check &&
		    account_make_keys(pw, SCRAM_DEFAULT_ITER, c->keys) < 0)
			return "password: key derivation failed";
		for (int h = 0; h < SCRAM_NHASH; h++)
			c->have[h] = 1;
		c->any = 1;
	}
	if (!c->any && skipped)
		return "only SCRAM credentials of a hash Tern does not use "
		       "(SCRAM-SHA-1 and SCRAM-SHA-256 are)";
	return NULL;
}

/* Everything left of the account that no module took. */
static void
report_left(struct pie *p, const char *bare)
{
	struct xml_node *el;

	for (el = xml_node_first_el(p->user); el; el = xml_node_next_el(el))
		fprintf(stderr,
		    "ternctl: %s:%u: warning: %s: <%s xmlns='%s'> not "
		    "imported (no module of this host takes it)\n",
		    p->ufile, line_of(p, el), bare, el->name, el->ns);
}

/* Tell a running ternd of what was just committed. */
static void
batch_notify(struct pie *p)
{
	char *host, *user, *rep;
	size_t i;

	for (i = 0; i < p->batch.n; i++) {
		host = p->batch.v[i];
		user = strchr(host, '\n');
		rep = user ? strchr(user + 1, '\n') : NULL;
		if (rep == NULL)
			continue;
		*user++ = '\0';
		*rep++ = '\0';
		p->ctl->changed(p->ctl->ud, host, user, strcmp(rep, "1") == 0);
	}
	strlist_free(&p->batch);
	p->batch_bytes = 0;
}

/* The storage lost the accounts imported since the last commit. */
static void
batch_lost(struct pie *p)
{
	store_rollback();
	if (p->batch.n > 0)
		ternctl_fail("storage failure: the %zu accounts imported since "
			     "the last commit are not imported (the first: "
			     "%.*s)",
		    p->batch.n, (int)strcspn(p->batch.v[0], "\n"),
		    p->batch.v[0]);
	p->imported -= (long)p->batch.n;
	p->failed += (long)p->batch.n;
	strlist_free(&p->batch);
	p->batch_bytes = 0;
}

static void
batch_commit(struct pie *p)
{
	if (p->batch.n == 0)
		return;
	if (store_commit() < 0) {
		batch_lost(p);
		return;
	}
	batch_notify(p);
}

static int
import_user(struct pie *p, const char *user, const char *bare, int exists,
    struct creds *c, long long bytes)
{
	struct acct_import imp = { 0 };
	struct hook_ev ev = { 0 };
	char line[3 * JID_PART_MAX + 8];
	int rc, sp = store_savepoint() == 0;

	if (exists && p->mode == PIE_FORCE)
		printf("%s exists: replaced\n", bare);
	else if (exists)
		printf("%s exists: merged\n", bare);
	/* the old account goes in the same transaction as the new one
	 * comes: a failure leaves it as it was */
	if (exists && p->mode == PIE_FORCE) {
		rc = users_delete(p->h, user);
		if (rc != 0) {
			imp.failed = 1;
			snprintf(imp.err, sizeof(imp.err),
			    "could not delete the account it replaces");
			goto out_failed;
		}
	}
	if (c->any &&
	    account_import(p->host, user, c->created, c->keys, c->have) != 0) {
		imp.failed = 1;
		snprintf(imp.err, sizeof(imp.err), "account: storage failure");
		goto out_failed;
	}
	if ((c->last_login > 0 &&
		account_set_last_login(p->host, user, c->last_login) != 0) ||
	    (c->disabled && account_set_disabled(p->host, user, 1) != 0)) {
		imp.failed = 1;
		snprintf(imp.err, sizeof(imp.err), "account: storage failure");
		goto out_failed;
	}
	imp.user = p->user;
	imp.merge = exists && p->mode == PIE_MERGE;
	ev.host = p->h;
	ev.user = user;
	ev.data = &imp;
	hook_fire(p->h->hooks, "user/import", &ev);
	if (imp.failed)
		goto out_failed;
	if (sp && store_savepoint_end(0) < 0) {
		batch_lost(p);
		return -1;
	}
	if (!sp && store_commit() < 0) {
		snprintf(imp.err, sizeof(imp.err), "storage failure at commit");
		goto out_failed;
	}
	report_left(p, bare);
	snprintf(line, sizeof(line), "%s\n%s\n%d", p->host, user,
	    exists && p->mode == PIE_FORCE);
	strlist_add(&p->batch, xstrdup(line));
	p->batch_bytes += bytes;
	p->imported++;
	if (!sp || p->batch.n >= BATCH_ACCOUNTS ||
	    p->batch_bytes >= BATCH_BYTES)
		batch_commit(p);
	return 0;
out_failed:
	if (!sp)
		store_rollback();
	else if (store_savepoint_end(1) < 0)
		batch_lost(p);
	fprintf(stderr,
	    "ternctl: %s:%u: %s: %s; nothing of this account "
	    "imported\n",
	    p->ufile, line_of(p, imp.err_at), bare, imp.err);
	p->failed++;
	return -1;
}

static void
do_user(struct pie_file *f)
{
	struct pie *p = f->p;
	const char *name = xml_node_attr(p->user, "name"), *why;
	char user[JID_PART_MAX + 1], bare[2 * JID_PART_MAX + 2];
	const struct xml_node *at;
	struct creds c;
	int rc;

	if (name == NULL || jid_nodeprep(name, user, sizeof(user)) < 0 ||
	    user[0] == '\0') {
		pie_err(p, f->path, p->uline,
		    "<user/> needs a name attribute that is a valid user "
		    "name");
		return;
	}
	snprintf(bare, sizeof(bare), "%s@%s", user, p->host);
	why = creds_read(p, &c, &at);
	if (why != NULL) {
		pie_err(p, f->path, at ? line_of(p, at) : p->uline, "%s: %s",
		    bare, why);
		goto out_wipe;
	}
	rc = account_exists(p->host, user);
	if (rc < 0) {
		pie_err(p, f->path, p->uline, "%s: storage failure", bare);
		goto out_wipe;
	}
	if (p->check) {
		if (!strset_add(&p->seen, bare))
			pie_err(p, f->path, p->uline,
			    "%s appears twice in the input", bare);
		else if (rc == 0 && p->mode == PIE_NEW)
			pie_err(p, f->path, p->uline,
			    "%s already exists: --force replaces it, "
			    "--merge adds the file's data to it",
			    bare);
		else if ((rc == 1 || p->mode == PIE_FORCE) && !c.any)
			pie_err(p, f->path, p->uline,
			    "%s: no password and no SCRAM credentials for a "
			    "new (or replaced) account",
			    bare);
		goto out_wipe;
	}
	import_user(p, user, bare, rc == 0, &c,
	    XML_GetCurrentByteIndex(f->xp) - f->ustart);
out_wipe:
	OPENSSL_cleanse(&c, sizeof(c));
}

/* ---- the inputs ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* path's *.xml files (and those of its subdirectories, one level). */
static void
dir_files(const char *path, int depth, struct strlist *out)
{
	struct dirent *e;
	struct stat st;
	char full[PATH_MAX];
	size_t n;
	DIR *d = opendir(path);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
		if (stat(full, &st) != 0)
			continue;
		n = strlen(e->d_name);
		if (S_ISDIR(st.st_mode) && depth == 0)
			dir_files(full, 1, out);
		else if (S_ISREG(st.st_mode) && n > 4 &&
			 strcmp(e->d_name + n - 4, ".xml") == 0)
			strlist_add(out, xstrdup(full));
	}
	closedir(d);
}

static int
run_pass(struct pie *p, const struct strlist *files)
{
	size_t i;

	for (i = 0; i < files->n; i++) {
		p->host[0] = '\0';
		p->h = NULL;
		if (parse_file(p, files->v[i], WANT_SERVER, 1, 0) < 0 &&
		    p->check)
			return -1;
	}
	return p->errors > 0 ? -1 : 0;
}

int
pie_import(const struct config *cfg, char **files, size_t nfiles,
    enum pie_mode mode, const struct pie_ctl *ctl)
{
	struct strlist in = { 0 };
	struct pie p = { 0 };
	struct stat st;
	char err[512];
	size_t i, first;
	int ret = 1;

	for (i = 0; i < nfiles; i++) {
		if (stat(files[i], &st) != 0) {
			ternctl_fail("%s: %s", files[i], strerror(errno));
			goto out_list;
		}
		if (!S_ISDIR(st.st_mode)) {
			strlist_add(&in, xstrdup(files[i]));
			continue;
		}
		first = in.n;
		dir_files(files[i], 0, &in);
		if (in.n == first) {
			ternctl_fail("%s: no *.xml files", files[i]);
			goto out_list;
		}
		qsort(in.v + first, in.n - first, sizeof(*in.v), cmp_str);
	}
	loop_init();
	if (host_setup(cfg, err, sizeof(err)) != 0) {
		ternctl_fail("%s", err);
		goto out_list;
	}
	p.cfg = cfg;
	p.mode = mode;
	p.ctl = ctl;
	p.user_max = cfg->limits.account_storage > 0
			 ? 4 * cfg->limits.account_storage + 1024 * 1024
			 : USER_BYTES_MAX;
	if (p.user_max > USER_BYTES_MAX)
		p.user_max = USER_BYTES_MAX;
	p.check = 1;
	if (run_pass(&p, &in) < 0) {
		ternctl_fail("%u error%s, nothing imported", p.errors,
		    p.errors == 1 ? "" : "s");
		goto out_hosts;
	}
	p.check = 0;
	run_pass(&p, &in);
	batch_commit(&p);
	printf(
	    "imported %ld account%s", p.imported, p.imported == 1 ? "" : "s");
	if (p.failed > 0)
		printf(", %ld failed (see above)", p.failed);
	putchar('\n');
	ret = p.failed > 0 || p.errors > 0 ? 1 : 0;
out_hosts:
	loop_drain();
	host_free_all();
out_list:
	strset_free(&p.seen);
	strlist_free(&p.batch);
	free(p.lines);
	strlist_free(&in);
	return ret;
}

int
pie_is_xml(const char *path)
{
	struct stat st;
	FILE *f;
	int c;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 1;
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	do
		c = fgetc(f);
	while (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0xef ||
	       c == 0xbb || c == 0xbf);
	fclose(f);
	return c == '<';
}

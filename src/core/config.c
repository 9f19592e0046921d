/* config.c: the YAML configuration.
 *
 * libyaml's event parser builds a small node tree (anchors, aliases and
 * tags refused; file size and nesting capped), then the directive tables
 * drive parsing, validation and defaults, and generate the reference in
 * docs/configuration.md. Defaults go through the same scalar parser as the
 * file does, so a bad default in a table fails the unit test that loads an
 * empty config instead of surprising an operator.
 *
 * Errors read "FILE:LINE:COL: key.path: message". A value's errors point
 * at its key (that is where an operator looks); a missing key points at
 * the mapping that lacks it. The first error stops the load. */
#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "core/module.h"
#include "core/util.h"
#include "jid/jid.h"

/* A config is written by hand: anything bigger or deeper is a mistake or
 * an attack on the parser, not a configuration. */
#define CFG_MAX_FILE (1024 * 1024)
#define CFG_MAX_DEPTH 32
#define CFG_PATH_MAX 256
#define CFG_MSG_MAX 1024
#define CFG_SHOWN_MAX 64

#define KIB 1024LL
#define MIB (1024LL * 1024)
#define GIB (1024LL * 1024 * 1024)
#define MINUTE 60LL
#define HOUR (60LL * 60)
#define DAY (24LL * 60 * 60)

/* ---- the tables ---- */

const char *const cfg_listener_kinds[] = { "c2s", "c2s_tls", "component",
	NULL };
const char *const cfg_tls_versions[] = { "1.2", "1.3", NULL };
const char *const cfg_storage_backends[] = { "sqlite", "memory", NULL };
/* Same order as enum log_level. */
const char *const cfg_log_levels[] = { "error", "warn", "info", "debug",
	NULL };

static const struct cfg_directive storage_dirs[] = {
	{ .name = "backend",
	    .type = CFG_ENUM,
	    .offset = offsetof(struct cfg_storage, backend),
	    .def = "sqlite",
	    .choices = cfg_storage_backends,
	    .doc = "Where data is kept; sqlite is an embedded database "
		   "file; memory is for tests: nothing survives a restart "
		   "(and ternctl sees none of it)." },
	{ .name = "path",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_storage, path),
	    .def = "tern.db",
	    .doc = "The SQLite database file (created if missing); relative "
		   "to the config file's directory." },
	{ .name = NULL },
};

static const struct cfg_section storage_section = {
	.name = "storage",
	.dirs = storage_dirs,
	.size = sizeof(struct cfg_storage),
	.doc = "Where accounts, rosters, archives and all other data are "
	       "stored.",
};

static const struct cfg_directive tls_dirs[] = {
	{ .name = "cert_dir",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_tls, cert_dir),
	    .def = "certs",
	    .doc = "Directory scanned for certificates (`*.pem` holding the "
		   "chain and key, or the key in a `.key` file beside it), "
		   "matched to hosts by name; relative to the config file's "
		   "directory." },
	{ .name = "min_version",
	    .type = CFG_ENUM,
	    .offset = offsetof(struct cfg_tls, min_version),
	    .def = "1.2",
	    .choices = cfg_tls_versions,
	    .doc = "Oldest TLS version a peer may use." },
	{ .name = "ciphers",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_tls, ciphers),
	    /* Mozilla's "intermediate" list: AEAD with forward secrecy
	     * only; OpenSSL's default still has CBC and SHA-1 suites */
	    .def = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
		   "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
		   "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
		   "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
		   "DHE-RSA-CHACHA20-POLY1305",
	    .doc = "TLS 1.2 cipher list in OpenSSL syntax; the default is "
		   "Mozilla's intermediate list (AEAD suites with forward "
		   "secrecy only). TLS 1.3 suites are not affected." },
	{ .name = "c2s_require_tls",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct cfg_tls, c2s_require_tls),
	    .def = "true",
	    .doc = "Clients must encrypt the connection (STARTTLS or direct "
		   "TLS) before they may authenticate." },
	{ .name = NULL },
};

static const struct cfg_section tls_section = {
	.name = "tls",
	.dirs = tls_dirs,
	.size = sizeof(struct cfg_tls),
	.doc = "Certificates and TLS protocol settings.",
};

static const struct cfg_directive limits_dirs[] = {
	{ .name = "c2s_stanza_size",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_limits, c2s_stanza_size),
	    .def = "256k",
	    .min = 4 * KIB,
	    .max = 16 * MIB,
	    .doc = "Largest stanza an authenticated client may send; a "
		   "bigger one closes its stream." },
	{ .name = "unauth_stanza_size",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_limits, unauth_stanza_size),
	    .def = "16k",
	    .min = 1 * KIB,
	    .max = 1 * MIB,
	    .doc = "Largest element a connection may send before it has "
		   "authenticated." },
	{ .name = "xml_depth",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_limits, xml_depth),
	    .def = "64",
	    .min = 4,
	    .max = 1024,
	    .doc = "Deepest nesting of XML elements accepted in a "
		   "stanza." },
	{ .name = "xml_attrs",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_limits, xml_attrs),
	    .def = "64",
	    .min = 4,
	    .max = 1024,
	    .doc = "Most attributes accepted on one XML element." },
	{ .name = "unauth_timeout",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_limits, unauth_timeout),
	    .def = "30s",
	    .min = 1,
	    .max = HOUR,
	    .doc = "Time a connection gets from connecting to being "
		   "authenticated; then it is closed." },
	{ .name = "idle_timeout",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_limits, idle_timeout),
	    .def = "0",
	    .min = 0,
	    .max = 7 * DAY,
	    .doc = "Close a connection that sent nothing for this long; 0 "
		   "never closes idle connections." },
	{ .name = "sasl_failures_per_ip",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_limits, sasl_failures_per_ip),
	    .def = "10",
	    .min = 1,
	    .max = 10000,
	    .doc = "Failed logins (SASL, component handshakes) allowed "
		   "from one IP address per minute; further attempts from "
		   "it are refused until the next minute." },
	{ .name = "sasl_retries",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_limits, sasl_retries),
	    .def = "3",
	    .min = 2,
	    .max = 5,
	    .doc = "Failed login attempts allowed on one connection before "
		   "it is closed (RFC 6120 §6.4.5 asks for 2 to 5)." },
	{ .name = "sessions_per_account",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_limits, sessions_per_account),
	    .def = "20",
	    .min = 1,
	    .max = 1000,
	    .doc = "Devices (resources) one account may have online at the "
		   "same time." },
	{ .name = "send_queue",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_limits, send_queue),
	    .def = "2M",
	    .min = 64 * KIB,
	    .max = 1 * GIB,
	    .doc = "Data that may wait to be sent on one connection; a peer "
		   "reading slower than that is disconnected." },
	{ .name = "conns_per_ip",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_limits, conns_per_ip),
	    .def = "100",
	    .min = 1,
	    .max = 1000000,
	    .doc = "Connections accepted at the same time from one IP "
		   "address." },
	{ .name = "c2s_rate",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_limits, c2s_rate),
	    .def = "1M",
	    .min = 1 * KIB,
	    .max = 1 * GIB,
	    .doc = "Bytes per second one client connection may send on "
		   "average; above it the server stops reading from that "
		   "connection for a while (nothing is lost, nothing is "
		   "closed)." },
	{ .name = "c2s_burst",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_limits, c2s_burst),
	    .def = "4M",
	    .min = 1 * KIB,
	    .max = 1 * GIB,
	    .doc = "Bytes a client may send at once beyond the rate before "
		   "reading is paused (token bucket size)." },
	{ .name = "iq_in_flight",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_limits, iq_in_flight),
	    .def = "256",
	    .min = 1,
	    .max = 100000,
	    .doc = "IQ requests (get/set) one session may have waiting for "
		   "an answer; more get a resource-constraint error (type "
		   "wait). A request nobody answers stops counting after 60 "
		   "seconds." },
	{ .name = "account_storage",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_limits, account_storage),
	    .def = "256M",
	    .min = 0,
	    .max = 1024 * GIB,
	    .doc = "Storage one account may use over all its data (PEP "
		   "items, message archive, offline messages, private XML, "
		   "vCard, roster...: the bytes of keys and values); a write "
		   "past it is refused with resource-constraint (type wait), "
		   "a message is then delivered but not archived. 0: no "
		   "quota. `ternctl user JID` shows an account's usage." },
	{ .name = NULL },
};

static const struct cfg_section limits_section = {
	.name = "limits",
	.dirs = limits_dirs,
	.size = sizeof(struct cfg_limits),
	.doc = "Limits on what a peer can make the server hold or do.",
};

static const struct cfg_directive listener_dirs[] = {
	{ .name = "type",
	    .type = CFG_ENUM,
	    .offset = offsetof(struct cfg_listener, kind),
	    .choices = cfg_listener_kinds,
	    .required = 1,
	    .doc = "What the port speaks: c2s (clients, STARTTLS), c2s_tls "
		   "(clients, direct TLS) or component (XEP-0114)." },
	{ .name = "address",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_listener, address),
	    .required = 1,
	    .doc = "IP address to listen on, e.g. 127.0.0.1 or ::1; `*` "
		   "listens on every IPv4 and IPv6 address." },
	{ .name = "port",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_listener, port),
	    .min = 1,
	    .max = 65535,
	    .required = 1,
	    .doc = "TCP port to listen on." },
	{ .name = NULL },
};

static const struct cfg_section listener_section = {
	.name = "listeners",
	.dirs = listener_dirs,
	.size = sizeof(struct cfg_listener),
	.doc = "Each item opens one listening socket.",
};

static const struct cfg_directive host_dirs[] = {
	{ .name = "name",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_host, name),
	    .required = 1,
	    .doc = "The host's domain, e.g. example.org: the part after the "
		   "@ in its users' addresses." },
	{ .name = "modules",
	    .type = CFG_STRLIST,
	    .offset = offsetof(struct cfg_host, modules),
	    .doc = "Modules (features) enabled on this host; see Modules "
		   "below." },
	{ .name = NULL },
};

static const struct cfg_section host_section = {
	.name = "hosts",
	.dirs = host_dirs,
	.size = sizeof(struct cfg_host),
	.doc = "Each item is one virtual host. Besides the keys below, a "
	       "host may hold a mapping named after an enabled module with "
	       "that module's settings (see Modules).",
};

static const struct cfg_directive component_dirs[] = {
	{ .name = "name",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_component, name),
	    .required = 1,
	    .doc = "The component's domain, e.g. gateway.example.org; it "
		   "must not be one of the hosts." },
	{ .name = "secret",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_component, secret),
	    .required = 1,
	    .doc = "Shared secret the component authenticates with." },
	{ .name = NULL },
};

static const struct cfg_section component_section = {
	.name = "components",
	.dirs = component_dirs,
	.size = sizeof(struct cfg_component),
	.doc = "Each item allows one external component (XEP-0114) to "
	       "connect to a component listener.",
};

static const struct cfg_directive root_dirs[] = {
	{ .name = "log_level",
	    .type = CFG_ENUM,
	    .offset = offsetof(struct config, log_level),
	    .def = "info",
	    .choices = cfg_log_levels,
	    .doc = "Least important kind of message that is logged." },
	{ .name = "log_syslog",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct config, log_syslog),
	    .def = "false",
	    .doc = "Send log messages to syslog too." },
	{ .name = "pidfile",
	    .type = CFG_STRING,
	    .offset = offsetof(struct config, pidfile),
	    .doc = "File the daemon writes its process id to; relative to "
		   "the config file's directory. None when unset." },
	{ .name = "control_socket",
	    .type = CFG_STRING,
	    .offset = offsetof(struct config, control_socket),
	    .doc = "Unix socket on which ternctl talks to the daemon; "
		   "relative to the config file's directory. None when "
		   "unset." },
	{ .name = "storage",
	    .type = CFG_SECTION,
	    .offset = offsetof(struct config, storage),
	    .sub = &storage_section,
	    .doc = "Storage backend settings." },
	{ .name = "tls",
	    .type = CFG_SECTION,
	    .offset = offsetof(struct config, tls),
	    .sub = &tls_section,
	    .doc = "TLS settings." },
	{ .name = "limits",
	    .type = CFG_SECTION,
	    .offset = offsetof(struct config, limits),
	    .sub = &limits_section,
	    .doc = "Resource limits." },
	{ .name = "listeners",
	    .type = CFG_LIST,
	    .offset = offsetof(struct config, listeners),
	    .sub = &listener_section,
	    .doc = "Addresses and ports the server accepts connections "
		   "on." },
	{ .name = "hosts",
	    .type = CFG_LIST,
	    .offset = offsetof(struct config, hosts),
	    .sub = &host_section,
	    .doc = "Virtual hosts (domains) the server serves." },
	{ .name = "components",
	    .type = CFG_LIST,
	    .offset = offsetof(struct config, components),
	    .sub = &component_section,
	    .doc = "External components allowed to connect." },
	{ .name = NULL },
};

const struct cfg_section config_root = {
	.name = "",
	.dirs = root_dirs,
	.size = sizeof(struct config),
	.doc = "Settings for the whole server.",
};

/* ---- the YAML node tree ---- */

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

struct pos {
	unsigned line, col; /* 1-based */
};

struct ynode {
	enum ynode_kind kind;
	struct pos pos;
	int is_null; /* plain "", "~" or "null": no value */
	char *str; /* scalar text, NUL-terminated */
	size_t len; /* bytes of str; more than strlen() if it holds a NUL */
	/* sequence: the items; mapping: key, value, key, value, ... */
	struct ynode **kids;
	size_t nkids, cap;
};

struct cfg_ctx {
	const char *file; /* as given, for messages */
	const char *buf; /* the YAML text, for reader error offsets */
	size_t len;
	char *err;
	size_t errlen;
	int failed;
	int defaults_only; /* config_defaults(): required keys are no error */
	struct config *cfg; /* NULL outside config_load */
	const struct ynode *root;
	char *dir; /* absolute directory of the file */
	char path[CFG_PATH_MAX]; /* dotted key path of what is parsed */
	size_t pathlen;
};

/* What walk_map saw, per directive of the section (and per registry
 * module for a host), so checks after the walk can point at keys. */
struct mapinfo {
	const struct ynode **key;
	const struct ynode **val;
	const struct ynode **modkey;
	const struct ynode **modval;
};

static int cfg_fail(struct cfg_ctx *x, struct pos at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int walk_map(struct cfg_ctx *x, const struct cfg_section *sec,
    const struct ynode *map, struct pos where, void *base,
    struct mapinfo *mi);
static void free_section(const struct cfg_section *sec, void *base);

static int
cfg_fail(struct cfg_ctx *x, struct pos at, const char *fmt, ...)
{
	char msg[CFG_MSG_MAX];
	va_list ap;

	/* The first error is the one the operator needs; later ones are
	 * usually its consequences. */
	if (x->failed)
		return -1;
	x->failed = 1;
	if (x->err == NULL || x->errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (x->pathlen > 0)
		snprintf(x->err, x->errlen, "%s:%u:%u: %s: %s", x->file,
		    at.line, at.col, x->path, msg);
	else
		snprintf(x->err, x->errlen, "%s:%u:%u: %s", x->file, at.line,
		    at.col, msg);
	return -1;
}

/* Errors about the file as a whole carry no position. */
static void
file_fail(char *err, size_t errlen, const char *file, const char *what,
    const char *detail)
{
	if (err == NULL || errlen == 0)
		return;
	if (detail != NULL)
		snprintf(err, errlen, "%s: %s: %s", file, what, detail);
	else
		snprintf(err, errlen, "%s: %s", file, what);
}

/* User text quoted in a message: control characters would garble a log
 * line, and a megabyte scalar helps nobody. */
static const char *
shown(char *out, size_t outlen, const char *s)
{
	size_t i, o = 0;

	for (i = 0; s[i] != '\0' && o + 4 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i == CFG_SHOWN_MAX) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		out[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	out[o] = '\0';
	return out;
}

static size_t
path_push(struct cfg_ctx *x, const char *key)
{
	size_t old = x->pathlen;
	int n = snprintf(x->path + old, sizeof(x->path) - old, "%s%s",
	    old > 0 ? "." : "", key);

	if (n < 0 || (size_t)n >= sizeof(x->path) - old)
		x->pathlen = sizeof(x->path) - 1;
	else
		x->pathlen = old + (size_t)n;
	return old;
}

static size_t
path_push_index(struct cfg_ctx *x, size_t i)
{
	size_t old = x->pathlen;
	int n = snprintf(x->path + old, sizeof(x->path) - old, "[%zu]", i);

	if (n < 0 || (size_t)n >= sizeof(x->path) - old)
		x->pathlen = sizeof(x->path) - 1;
	else
		x->pathlen = old + (size_t)n;
	return old;
}

static void
path_pop(struct cfg_ctx *x, size_t old)
{
	x->pathlen = old;
	x->path[old] = '\0';
}

static struct pos
mark_pos(const yaml_mark_t *m)
{
	struct pos p;

	p.line = m->line >= UINT_MAX ? UINT_MAX : (unsigned)m->line + 1;
	p.col = m->column >= UINT_MAX ? UINT_MAX : (unsigned)m->column + 1;
	return p;
}

/* libyaml's reader reports a byte offset, not a mark. */
static struct pos
offset_pos(const struct cfg_ctx *x, size_t off)
{
	struct pos p = { 1, 1 };
	size_t i;

	for (i = 0; i < off && i < x->len; i++) {
		if (x->buf[i] == '\n') {
			p.line++;
			p.col = 1;
		} else {
			p.col++;
		}
	}
	return p;
}

static const char *
kind_name(const struct ynode *n)
{
	if (n->kind == YN_MAP)
		return "a mapping";
	if (n->kind == YN_SEQ)
		return "a sequence";
	if (n->is_null)
		return "an empty value";
	return "a scalar";
}

static struct ynode *
ynode_new(enum ynode_kind kind, struct pos at)
{
	struct ynode *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->pos = at;
	return n;
}

static void
ynode_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		ynode_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static int
is_null_text(const char *s)
{
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static void
yaml_fail(struct cfg_ctx *x, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown error";
	struct pos at, ctx_at;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		cfg_fail(x, (struct pos){ 1, 1 }, "out of memory parsing YAML");
		break;
	case YAML_READER_ERROR:
		at = offset_pos(x, p->problem_offset);
		if (p->problem_value != -1)
			cfg_fail(x, at, "syntax error: %s (#%X)", problem,
			    (unsigned)p->problem_value);
		else
			cfg_fail(x, at, "syntax error: %s", problem);
		break;
	default:
		at = mark_pos(&p->problem_mark);
		if (p->context != NULL) {
			ctx_at = mark_pos(&p->context_mark);
			cfg_fail(x, at,
			    "syntax error: %s (%s that started at line %u, "
			    "column %u)",
			    problem, p->context, ctx_at.line, ctx_at.col);
		} else {
			cfg_fail(x, at, "syntax error: %s", problem);
		}
		break;
	}
}

/* Anchors and aliases would let a short file expand into a huge tree
 * (and hide where a value comes from); tags have no meaning here. */
static int
check_props(struct cfg_ctx *x, struct pos at, const yaml_char_t *anchor,
    const yaml_char_t *tag)
{
	char s[CFG_SHOWN_MAX + 8];

	if (anchor != NULL)
		return cfg_fail(x, at,
		    "anchors (&%s) are not supported; write the value out",
		    shown(s, sizeof(s), (const char *)anchor));
	if (tag != NULL)
		return cfg_fail(x, at, "tags (%s) are not supported",
		    shown(s, sizeof(s), (const char *)tag));
	return 0;
}

static int
attach(struct cfg_ctx *x, struct ynode **stack, size_t depth,
    struct ynode **root, struct ynode *n)
{
	struct ynode *parent;

	if (depth == 0) {
		*root = n;
		return 0;
	}
	parent = stack[depth - 1];
	if (parent->kind == YN_MAP && parent->nkids % 2 == 0 &&
	    n->kind != YN_SCALAR) {
		struct pos at = n->pos;

		ynode_free(n);
		return cfg_fail(x, at, "mapping keys must be plain strings");
	}
	if (parent->nkids == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->kids = xrealloc(parent->kids,
		    parent->cap * sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = n;
	return 0;
}

static int
yaml_to_tree(struct cfg_ctx *x, struct ynode **rootp)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *stack[CFG_MAX_DEPTH];
	struct ynode *root = NULL, *n;
	size_t depth = 0;
	int docs = 0, done = 0, rc = -1;
	struct pos at;

	if (!yaml_parser_initialize(&p))
		return cfg_fail(x, (struct pos){ 1, 1 },
		    "out of memory parsing YAML");
	yaml_parser_set_input_string(&p, (const unsigned char *)x->buf,
	    x->len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			yaml_fail(x, &p);
			goto out_parser;
		}
		at = mark_pos(&ev.start_mark);
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				cfg_fail(x, at,
				    "only one YAML document is allowed");
				goto out_event;
			}
			break;
		case YAML_ALIAS_EVENT:
			cfg_fail(x, at,
			    "aliases are not supported; write the value out");
			goto out_event;
		case YAML_SCALAR_EVENT:
			if (check_props(x, at, ev.data.scalar.anchor,
				ev.data.scalar.tag) < 0)
				goto out_event;
			n = ynode_new(YN_SCALAR, at);
			n->str = xstrndup((const char *)ev.data.scalar.value,
			    ev.data.scalar.length);
			n->len = ev.data.scalar.length;
			n->is_null = ev.data.scalar.style ==
				YAML_PLAIN_SCALAR_STYLE &&
			    is_null_text(n->str);
			if (attach(x, stack, depth, &root, n) < 0)
				goto out_event;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (ev.type == YAML_SEQUENCE_START_EVENT &&
			    check_props(x, at, ev.data.sequence_start.anchor,
				ev.data.sequence_start.tag) < 0)
				goto out_event;
			if (ev.type == YAML_MAPPING_START_EVENT &&
			    check_props(x, at, ev.data.mapping_start.anchor,
				ev.data.mapping_start.tag) < 0)
				goto out_event;
			if (depth == CFG_MAX_DEPTH) {
				cfg_fail(x, at,
				    "nesting is deeper than %d levels",
				    CFG_MAX_DEPTH);
				goto out_event;
			}
			n = ynode_new(ev.type == YAML_MAPPING_START_EVENT ?
				      YN_MAP :
				      YN_SEQ,
			    at);
			if (attach(x, stack, depth, &root, n) < 0)
				goto out_event;
			stack[depth++] = n;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	*rootp = root;
	root = NULL;
	rc = 0;
	goto out_parser;
out_event:
	yaml_event_delete(&ev);
out_parser:
	yaml_parser_delete(&p);
	ynode_free(root);
	return rc;
}

/* ---- scalars ---- */

/* Decimal digits with an optional sign; *rest points after them.
 * Returns 0, -1 (no digits) or -2 (does not fit a long long). */
static int
scan_number(const char *s, int allow_sign, long long *v, const char **rest)
{
	const char *p = s;
	long long acc = 0;
	int neg = 0, overflow = 0;

	if (allow_sign && (*p == '-' || *p == '+')) {
		neg = *p == '-';
		p++;
	}
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		int d = *p - '0';

		if (acc > (LLONG_MAX - d) / 10)
			overflow = 1;
		else
			acc = acc * 10 + d;
	}
	*rest = p;
	if (overflow)
		return -2;
	*v = neg ? -acc : acc;
	return 0;
}

/* A bound in the unit an operator would write it in. */
static void
fmt_value(char *out, size_t n, enum cfg_type type, long long v)
{
	static const struct {
		long long mult;
		char suffix;
	} sizes[] = { { GIB, 'G' }, { MIB, 'M' }, { KIB, 'k' } },
	  durs[] = { { DAY, 'd' }, { HOUR, 'h' }, { MINUTE, 'm' } };
	size_t i;

	if (v != 0 && type == CFG_SIZE) {
		for (i = 0; i < ARRAY_LEN(sizes); i++) {
			if (v % sizes[i].mult == 0) {
				snprintf(out, n, "%lld%c", v / sizes[i].mult,
				    sizes[i].suffix);
				return;
			}
		}
	}
	if (v != 0 && type == CFG_DURATION) {
		for (i = 0; i < ARRAY_LEN(durs); i++) {
			if (v % durs[i].mult == 0) {
				snprintf(out, n, "%lld%c", v / durs[i].mult,
				    durs[i].suffix);
				return;
			}
		}
		snprintf(out, n, "%llds", v);
		return;
	}
	snprintf(out, n, "%lld", v);
}

static int
is_bounded(const struct cfg_directive *d)
{
	return !(d->min == 0 && d->max == 0);
}

static int
range_fail(struct cfg_ctx *x, const struct cfg_directive *d, const char *s,
    struct pos at, const char *pre)
{
	char lo[32], hi[32], txt[CFG_SHOWN_MAX + 8];

	if (!is_bounded(d))
		return cfg_fail(x, at, "%s%s is too large", pre,
		    shown(txt, sizeof(txt), s));
	fmt_value(lo, sizeof(lo), d->type, d->min);
	fmt_value(hi, sizeof(hi), d->type, d->max);
	return cfg_fail(x, at, "%s%s is out of range (%s..%s)", pre,
	    shown(txt, sizeof(txt), s), lo, hi);
}

static int
parse_number(struct cfg_ctx *x, const struct cfg_directive *d, const char *s,
    struct pos at, const char *pre, long long *out)
{
	char txt[CFG_SHOWN_MAX + 8];
	const char *rest = s;
	long long v = 0, mult = 1;
	int rc;

	rc = scan_number(s, d->type == CFG_INT, &v, &rest);
	if (rc == 0 && d->type == CFG_SIZE && rest[0] != '\0' &&
	    rest[1] == '\0') {
		switch (rest[0]) {
		case 'k':
		case 'K':
			mult = KIB;
			break;
		case 'm':
		case 'M':
			mult = MIB;
			break;
		case 'g':
		case 'G':
			mult = GIB;
			break;
		default:
			rc = -1;
			break;
		}
		rest++;
	} else if (rc == 0 && d->type == CFG_DURATION && rest[0] != '\0' &&
	    rest[1] == '\0') {
		switch (rest[0]) {
		case 's':
			mult = 1;
			break;
		case 'm':
			mult = MINUTE;
			break;
		case 'h':
			mult = HOUR;
			break;
		case 'd':
			mult = DAY;
			break;
		default:
			rc = -1;
			break;
		}
		rest++;
	}
	if (rc == -1 || (rc == 0 && rest[0] != '\0')) {
		shown(txt, sizeof(txt), s);
		if (d->type == CFG_SIZE)
			return cfg_fail(x, at,
			    "%s'%s' is not a size (bytes, or a number with a "
			    "k, M or G suffix: 512, 64k, 2M, 1G)",
			    pre, txt);
		if (d->type == CFG_DURATION)
			return cfg_fail(x, at,
			    "%s'%s' is not a duration (seconds, or a number "
			    "with an s, m, h or d suffix: 30, 30s, 5m, 2h, "
			    "7d)",
			    pre, txt);
		return cfg_fail(x, at, "%s'%s' is not a whole number", pre,
		    txt);
	}
	if (rc == -2 || v > LLONG_MAX / mult)
		return range_fail(x, d, s, at, pre);
	v *= mult;
	if (is_bounded(d) && (v < d->min || v > d->max))
		return range_fail(x, d, s, at, pre);
	*out = v;
	return 0;
}

static int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	size_t i;

	for (i = 0; i < ARRAY_LEN(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static void
join_choices(char *out, size_t n, const char *const *choices)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; choices != NULL && choices[i] != NULL; i++) {
		int w = snprintf(out + o, n - o, "%s%s", i > 0 ? ", " : "",
		    choices[i]);

		if (w < 0 || (size_t)w >= n - o)
			return;
		o += (size_t)w;
	}
}

/* Remove "." and empty components; ".." is left alone because only the
 * file system knows what it means under symbolic links. abs starts with
 * a '/'. */
static char *
path_clean(const char *abs)
{
	size_t n = strlen(abs), o = 0;
	char *out = xmalloc(n + 2);
	const char *p = abs, *e;

	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		e = strchr(p, '/');
		if (e == NULL)
			e = p + strlen(p);
		if (!(e - p == 1 && p[0] == '.')) {
			out[o++] = '/';
			memcpy(out + o, p, (size_t)(e - p));
			o += (size_t)(e - p);
		}
		p = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

static char *
path_join(const char *dir, const char *rel)
{
	size_t dl = strlen(dir), rl = strlen(rel);
	char *tmp = xmalloc(dl + rl + 2), *out;

	memcpy(tmp, dir, dl);
	tmp[dl] = '/';
	memcpy(tmp + dl + 1, rel, rl + 1);
	out = path_clean(tmp);
	free(tmp);
	return out;
}

/* The config's file-system paths are resolved against the directory of
 * the config file, so a config works whatever ternd's current directory
 * is (it chdirs away when it daemonizes). */
static int
is_path_field(const struct cfg_ctx *x, const void *field)
{
	const struct config *c = x->cfg;

	return c != NULL &&
	    (field == &c->pidfile || field == &c->control_socket ||
		field == &c->storage.path || field == &c->tls.cert_dir);
}

static int
parse_scalar(struct cfg_ctx *x, const struct cfg_directive *d, const char *s,
    struct pos at, int is_default, void *field)
{
	const char *pre = is_default ? "default " : "";
	char txt[CFG_SHOWN_MAX + 8], list[CFG_MSG_MAX / 2];
	size_t i;

	switch (d->type) {
	case CFG_BOOL:
		if (parse_bool(s, field) < 0)
			return cfg_fail(x, at,
			    "%s'%s' is not a boolean (true/false, yes/no, "
			    "on/off)",
			    pre, shown(txt, sizeof(txt), s));
		return 0;
	case CFG_INT:
	case CFG_SIZE:
	case CFG_DURATION:
		return parse_number(x, d, s, at, pre, field);
	case CFG_STRING:
		if (is_path_field(x, field)) {
			if (s[0] == '\0')
				return cfg_fail(x, at,
				    "%sthe path must not be empty", pre);
			*(char **)field =
			    s[0] == '/' ? path_clean(s) : path_join(x->dir, s);
			return 0;
		}
		*(char **)field = xstrdup(s);
		return 0;
	case CFG_ENUM:
		for (i = 0; d->choices != NULL && d->choices[i] != NULL; i++) {
			if (strcmp(s, d->choices[i]) == 0) {
				*(int *)field = (int)i;
				return 0;
			}
		}
		join_choices(list, sizeof(list), d->choices);
		return cfg_fail(x, at, "%s'%s' is not one of: %s", pre,
		    shown(txt, sizeof(txt), s), list);
	default:
		return cfg_fail(x, at, "%s'%s': this key takes no scalar", pre,
		    shown(txt, sizeof(txt), s));
	}
}

/* ---- walking the tree along the tables ---- */

static size_t
count_dirs(const struct cfg_section *sec)
{
	size_t n = 0;

	while (sec->dirs[n].name != NULL)
		n++;
	return n;
}

static size_t
edit_distance(const char *a, const char *b)
{
	size_t row[CFG_SHOWN_MAX + 1], la = strlen(a), lb = strlen(b), i, j;

	if (la > CFG_SHOWN_MAX || lb > CFG_SHOWN_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static int
unknown_key(struct cfg_ctx *x, const struct cfg_section *sec,
    const struct ynode *k, int with_modules)
{
	char txt[CFG_SHOWN_MAX + 8];
	const char *best = NULL;
	size_t i, dist, bestd = 3;

	for (i = 0; sec->dirs[i].name != NULL; i++) {
		dist = edit_distance(k->str, sec->dirs[i].name);
		if (dist < bestd) {
			bestd = dist;
			best = sec->dirs[i].name;
		}
	}
	for (i = 0; with_modules && i < module_registry_len; i++) {
		dist = edit_distance(k->str, module_registry[i]->name);
		if (dist < bestd) {
			bestd = dist;
			best = module_registry[i]->name;
		}
	}
	shown(txt, sizeof(txt), k->str);
	if (best != NULL && bestd < strlen(k->str))
		return cfg_fail(x, k->pos,
		    "unknown key '%s' (did you mean '%s'?)", txt, best);
	return cfg_fail(x, k->pos, "unknown key '%s'", txt);
}

static int
walk_strlist(struct cfg_ctx *x, const struct ynode *key,
    const struct ynode *val, struct cfg_strlist *sl)
{
	size_t i, old;
	const struct ynode *it;

	if (val->kind == YN_SCALAR && val->is_null)
		return 0;
	if (val->kind != YN_SEQ)
		return cfg_fail(x, key->pos, "expected a sequence, not %s",
		    kind_name(val));
	sl->n = val->nkids;
	sl->v = xcalloc(sl->n, sizeof(*sl->v));
	for (i = 0; i < val->nkids; i++) {
		it = val->kids[i];
		old = path_push_index(x, i);
		if (it->kind != YN_SCALAR || it->is_null)
			return cfg_fail(x, it->pos, "expected a string, not %s",
			    kind_name(it));
		if (strlen(it->str) != it->len)
			return cfg_fail(x, it->pos, "contains a NUL byte");
		sl->v[i] = xstrdup(it->str);
		path_pop(x, old);
	}
	return 0;
}

static int
prep_domain(struct cfg_ctx *x, struct pos at, char **name)
{
	struct jid j;
	char txt[CFG_SHOWN_MAX + 8];

	if (jid_parse_str(&j, *name) < 0)
		return cfg_fail(x, at, "'%s' is not a valid domain name",
		    shown(txt, sizeof(txt), *name));
	if (j.node != NULL || j.resource != NULL) {
		jid_cleanup(&j);
		return cfg_fail(x, at,
		    "'%s' is not a domain name (no @ or / allowed)",
		    shown(txt, sizeof(txt), *name));
	}
	free(*name);
	*name = xstrdup(j.domain);
	jid_cleanup(&j);
	return 0;
}

static size_t
dir_index(const struct cfg_section *sec, const char *name)
{
	size_t i;

	for (i = 0; sec->dirs[i].name != NULL; i++) {
		if (strcmp(sec->dirs[i].name, name) == 0)
			break;
	}
	return i;
}

static void
mapinfo_free(struct mapinfo *mi)
{
	free(mi->key);
	free(mi->val);
	free(mi->modkey);
	free(mi->modval);
}

static int
check_listener(struct cfg_ctx *x, struct cfg_listener *l,
    const struct mapinfo *mi)
{
	const struct ynode *k = mi->key[dir_index(&listener_section,
	    "address")];
	unsigned char bin[16];
	char txt[CFG_SHOWN_MAX + 8];
	size_t old;
	int rc = 0;

	if (strcmp(l->address, "*") == 0 ||
	    inet_pton(AF_INET, l->address, bin) == 1 ||
	    inet_pton(AF_INET6, l->address, bin) == 1)
		return 0;
	old = path_push(x, "address");
	rc = cfg_fail(x, k->pos, "'%s' is not an IP address or '*'",
	    shown(txt, sizeof(txt), l->address));
	path_pop(x, old);
	return rc;
}

static int
check_component(struct cfg_ctx *x, struct cfg_component *cm,
    const struct mapinfo *mi)
{
	size_t old;
	int rc;

	old = path_push(x, "name");
	rc = prep_domain(x,
	    mi->key[dir_index(&component_section, "name")]->pos, &cm->name);
	path_pop(x, old);
	if (rc < 0)
		return -1;
	if (cm->secret[0] == '\0') {
		old = path_push(x, "secret");
		cfg_fail(x,
		    mi->key[dir_index(&component_section, "secret")]->pos,
		    "must not be empty");
		path_pop(x, old);
		return -1;
	}
	return 0;
}

static void
known_modules(char *out, size_t n)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < module_registry_len; i++) {
		int w = snprintf(out + o, n - o, "%s%s", i > 0 ? ", " : "",
		    module_registry[i]->name);

		if (w < 0 || (size_t)w >= n - o)
			return;
		o += (size_t)w;
	}
}

/* The modules a host lists must exist, once each, with their
 * dependencies. Returns -1 on error; enabled[r] is 1 + the list position
 * of registry module r, or 0. */
static int
check_host_modules(struct cfg_ctx *x, struct cfg_host *h,
    const struct ynode *modlist, size_t *enabled)
{
	char txt[CFG_SHOWN_MAX + 8], list[CFG_MSG_MAX / 2];
	const struct module *m;
	size_t i, j, old;
	int r, dep;

	old = path_push(x, "modules");
	for (i = 0; i < h->modules.n; i++) {
		struct pos at = modlist->kids[i]->pos;
		size_t oldi = path_push_index(x, i);

		r = module_index(h->modules.v[i]);
		if (r < 0) {
			known_modules(list, sizeof(list));
			return cfg_fail(x, at,
			    "unknown module '%s' (known: %s)",
			    shown(txt, sizeof(txt), h->modules.v[i]), list);
		}
		if (enabled[r])
			return cfg_fail(x, at,
			    "module '%s' is listed twice (first as "
			    "modules[%zu])",
			    h->modules.v[i], enabled[r] - 1);
		enabled[r] = i + 1;
		path_pop(x, oldi);
	}
	for (i = 0; i < h->modules.n; i++) {
		m = module_registry[module_index(h->modules.v[i])];
		for (j = 0; m->depends != NULL && m->depends[j] != NULL; j++) {
			dep = module_index(m->depends[j]);
			if (dep >= 0 && enabled[dep])
				continue;
			path_push_index(x, i);
			return cfg_fail(x, modlist->kids[i]->pos,
			    "module '%s' needs '%s', which is not enabled on "
			    "this host",
			    m->name, m->depends[j]);
		}
	}
	path_pop(x, old);
	return 0;
}

/* One module's settings on a host: its mapping, or its defaults. */
static int
host_modcfg(struct cfg_ctx *x, struct cfg_host *h, size_t r, int enabled,
    const struct ynode *item, const struct mapinfo *mi)
{
	const struct module *m = module_registry[r];
	const struct ynode *mk = mi->modkey[r], *mv = mi->modval[r];

	if (mk != NULL && !enabled)
		return cfg_fail(x, mk->pos,
		    "module '%s' is not enabled on this host (add it to "
		    "modules)",
		    m->name);
	if (mk != NULL && m->config == NULL)
		return cfg_fail(x, mk->pos, "module '%s' has no settings",
		    m->name);
	if (!enabled || m->config == NULL)
		return 0;
	h->modcfg[r] = xcalloc(1, m->config->size);
	if (mk == NULL)
		return walk_map(x, m->config, NULL, item->pos, h->modcfg[r],
		    NULL);
	if (mv->kind == YN_SCALAR && mv->is_null)
		return walk_map(x, m->config, NULL, mk->pos, h->modcfg[r],
		    NULL);
	if (mv->kind != YN_MAP)
		return cfg_fail(x, mk->pos, "expected a mapping, not %s",
		    kind_name(mv));
	return walk_map(x, m->config, mv, mv->pos, h->modcfg[r], NULL);
}

/* After a host's own keys: its name, its modules and every enabled
 * module's settings (defaults when the host has no mapping for it). */
static int
finish_host(struct cfg_ctx *x, struct cfg_host *h, const struct ynode *item,
    const struct mapinfo *mi)
{
	size_t *enabled, r, old;
	int rc;

	old = path_push(x, "name");
	rc = prep_domain(x, mi->key[dir_index(&host_section, "name")]->pos,
	    &h->name);
	path_pop(x, old);
	if (rc < 0)
		return -1;
	rc = -1;
	enabled = xcalloc(module_registry_len, sizeof(*enabled));
	if (check_host_modules(x, h,
		mi->val[dir_index(&host_section, "modules")], enabled) < 0)
		goto out_free_enabled;
	h->modcfg = xcalloc(module_registry_len, sizeof(*h->modcfg));
	for (r = 0; r < module_registry_len; r++) {
		old = path_push(x, module_registry[r]->name);
		if (host_modcfg(x, h, r, enabled[r] != 0, item, mi) < 0)
			goto out_free_enabled;
		path_pop(x, old);
	}
	rc = 0;
out_free_enabled:
	free(enabled);
	return rc;
}

static int
walk_list(struct cfg_ctx *x, const struct cfg_directive *d,
    const struct ynode *key, const struct ynode *val, struct cfg_list *l)
{
	const struct cfg_section *sub = d->sub;
	const struct ynode *it;
	struct mapinfo mi;
	size_t i, old;
	char *item;
	int rc;

	if (val->kind == YN_SCALAR && val->is_null)
		return 0;
	if (val->kind != YN_SEQ)
		return cfg_fail(x, key->pos, "expected a sequence, not %s",
		    kind_name(val));
	l->n = val->nkids;
	l->items = xcalloc(l->n, sub->size);
	for (i = 0; i < val->nkids; i++) {
		it = val->kids[i];
		item = (char *)l->items + i * sub->size;
		old = path_push_index(x, i);
		if (it->kind != YN_MAP)
			return cfg_fail(x, it->pos,
			    "expected a mapping, not %s", kind_name(it));
		memset(&mi, 0, sizeof(mi));
		if (sub == &host_section) {
			mi.modkey = xcalloc(module_registry_len,
			    sizeof(*mi.modkey));
			mi.modval = xcalloc(module_registry_len,
			    sizeof(*mi.modval));
		}
		rc = walk_map(x, sub, it, it->pos, item, &mi);
		if (rc == 0 && sub == &host_section)
			rc = finish_host(x, (struct cfg_host *)(void *)item, it,
			    &mi);
		else if (rc == 0 && sub == &listener_section)
			rc = check_listener(x,
			    (struct cfg_listener *)(void *)item, &mi);
		else if (rc == 0 && sub == &component_section)
			rc = check_component(x,
			    (struct cfg_component *)(void *)item, &mi);
		mapinfo_free(&mi);
		if (rc < 0)
			return -1;
		path_pop(x, old);
	}
	return 0;
}

static int
walk_value(struct cfg_ctx *x, const struct cfg_directive *d,
    const struct ynode *key, const struct ynode *val, void *field)
{
	switch (d->type) {
	case CFG_SECTION:
		if (val->kind == YN_SCALAR && val->is_null)
			return walk_map(x, d->sub, NULL, key->pos, field, NULL);
		if (val->kind != YN_MAP)
			return cfg_fail(x, key->pos,
			    "expected a mapping, not %s", kind_name(val));
		return walk_map(x, d->sub, val, val->pos, field, NULL);
	case CFG_LIST:
		return walk_list(x, d, key, val, field);
	case CFG_STRLIST:
		return walk_strlist(x, key, val, field);
	default:
		break;
	}
	if (val->kind != YN_SCALAR)
		return cfg_fail(x, key->pos, "expected a scalar, not %s",
		    kind_name(val));
	if (val->is_null) {
		/* An optional string without a default may be written out
		 * empty ("pidfile: ~") to say "none". */
		if (d->type == CFG_STRING && d->def == NULL && !d->required)
			return 0;
		return cfg_fail(x, key->pos, "missing value");
	}
	if (strlen(val->str) != val->len)
		return cfg_fail(x, key->pos, "contains a NUL byte");
	return parse_scalar(x, d, val->str, key->pos, 0, field);
}

static int
apply_default(struct cfg_ctx *x, const struct cfg_directive *d,
    struct pos where, void *field)
{
	struct cfg_strlist *sl;
	const char *p, *e, *s, *t;
	size_t n;

	switch (d->type) {
	case CFG_SECTION:
		return walk_map(x, d->sub, NULL, where, field, NULL);
	case CFG_LIST:
		if (d->def != NULL)
			return cfg_fail(x, where,
			    "lists of mappings take no default");
		return 0;
	case CFG_STRLIST:
		if (d->def == NULL)
			return 0;
		/* A list default is written "a, b, c". */
		sl = field;
		for (n = 1, p = d->def; *p != '\0'; p++)
			n += *p == ',';
		sl->v = xcalloc(n, sizeof(*sl->v));
		for (p = d->def; sl->n < n; p = e + 1) {
			e = strchr(p, ',');
			if (e == NULL)
				e = p + strlen(p);
			for (s = p; s < e && *s == ' '; s++)
				;
			for (t = e; t > s && t[-1] == ' '; t--)
				;
			if (t == s)
				return cfg_fail(x, where,
				    "default has an empty list item");
			sl->v[sl->n++] = xstrndup(s, (size_t)(t - s));
			if (*e == '\0')
				break;
		}
		return 0;
	default:
		if (d->def == NULL)
			return 0;
		return parse_scalar(x, d, d->def, where, 1, field);
	}
}

/* Fill base from map (NULL: absent) along sec. where is the position
 * reported for missing keys and bad defaults. */
static int
walk_map(struct cfg_ctx *x, const struct cfg_section *sec,
    const struct ynode *map, struct pos where, void *base,
    struct mapinfo *mi)
{
	size_t nd = count_dirs(sec), i, di, old;
	const struct ynode **keys = xcalloc(nd, sizeof(*keys));
	const struct ynode **vals = xcalloc(nd, sizeof(*vals));
	const struct ynode *k, *v;
	const struct cfg_directive *d;
	int mod, rc = -1;
	int with_modules = mi != NULL && mi->modkey != NULL;

	for (i = 0; map != NULL && i + 1 < map->nkids; i += 2) {
		k = map->kids[i];
		v = map->kids[i + 1];
		di = strlen(k->str) == k->len ? dir_index(sec, k->str) : nd;
		if (di == nd) {
			mod = with_modules && strlen(k->str) == k->len ?
			    module_index(k->str) :
			    -1;
			if (mod < 0) {
				unknown_key(x, sec, k, with_modules);
				goto out_free;
			}
			if (mi->modkey[mod] != NULL) {
				cfg_fail(x, k->pos,
				    "duplicate key '%s' (first at line %u)",
				    module_registry[mod]->name,
				    mi->modkey[mod]->pos.line);
				goto out_free;
			}
			mi->modkey[mod] = k;
			mi->modval[mod] = v;
			continue;
		}
		if (keys[di] != NULL) {
			cfg_fail(x, k->pos,
			    "duplicate key '%s' (first at line %u)",
			    sec->dirs[di].name, keys[di]->pos.line);
			goto out_free;
		}
		keys[di] = k;
		vals[di] = v;
		old = path_push(x, k->str);
		if (walk_value(x, &sec->dirs[di], k, v,
			(char *)base + sec->dirs[di].offset) < 0)
			goto out_free;
		path_pop(x, old);
	}
	for (di = 0; di < nd; di++) {
		d = &sec->dirs[di];
		if (keys[di] != NULL)
			continue;
		if (d->required && !x->defaults_only) {
			cfg_fail(x, where, "missing required key '%s'",
			    d->name);
			goto out_free;
		}
		old = path_push(x, d->name);
		if (apply_default(x, d, where, (char *)base + d->offset) < 0)
			goto out_free;
		path_pop(x, old);
	}
	rc = 0;
	if (mi != NULL) {
		mi->key = keys;
		mi->val = vals;
		return rc;
	}
out_free:
	free(keys);
	free(vals);
	return rc;
}

/* ---- checks across list items ---- */

/* The key or item node of the root's list name[i], for positions. */
static const struct ynode *
root_item(const struct cfg_ctx *x, const char *name, size_t i)
{
	const struct ynode *r = x->root;
	size_t k;

	if (r == NULL || r->kind != YN_MAP)
		return NULL;
	for (k = 0; k + 1 < r->nkids; k += 2) {
		if (strcmp(r->kids[k]->str, name) == 0 &&
		    r->kids[k + 1]->kind == YN_SEQ &&
		    i < r->kids[k + 1]->nkids)
			return r->kids[k + 1]->kids[i];
	}
	return NULL;
}

static struct pos
item_key_pos(const struct cfg_ctx *x, const char *list, size_t i,
    const char *key)
{
	const struct ynode *it = root_item(x, list, i);
	struct pos none = { 1, 1 };
	size_t k;

	if (it == NULL)
		return none;
	for (k = 0; k + 1 < it->nkids; k += 2) {
		if (strcmp(it->kids[k]->str, key) == 0)
			return it->kids[k]->pos;
	}
	return it->pos;
}

struct lkey {
	long long port;
	int fam; /* 0 for "*", else AF_INET / AF_INET6 */
	unsigned char addr[16];
	size_t idx;
};

static int
lkey_cmp(const void *a, const void *b)
{
	const struct lkey *p = a, *q = b;
	int c;

	if (p->port != q->port)
		return p->port < q->port ? -1 : 1;
	if (p->fam != q->fam)
		return p->fam < q->fam ? -1 : 1;
	c = memcmp(p->addr, q->addr, sizeof(p->addr));
	if (c != 0)
		return c;
	return p->idx < q->idx ? -1 : p->idx > q->idx;
}

static int
is_any(const struct lkey *k)
{
	static const unsigned char zero[16];

	return memcmp(k->addr, zero, sizeof(zero)) == 0;
}

/* A conflict candidate: keep the pair whose later item comes first in
 * the file, so the error names the first listener that cannot bind. */
static void
note_conflict(size_t a, size_t b, size_t *later, size_t *earlier)
{
	size_t lo = a < b ? a : b, hi = a < b ? b : a;

	if (hi < *later || (hi == *later && lo < *earlier)) {
		*later = hi;
		*earlier = lo;
	}
}

/* Two listeners on one port conflict when their addresses are equal or
 * one is a wildcard covering the other ("*" covers everything, 0.0.0.0
 * all of IPv4, :: all of IPv6 since IPv6 sockets are v6-only). Sorted by
 * (port, family, address), each such group starts with its wildcard. */
static int
check_listener_conflicts(struct cfg_ctx *x)
{
	const struct cfg_listener *v = x->cfg->listeners.items;
	size_t n = x->cfg->listeners.n, i, j, f, later = SIZE_MAX,
	       earlier = SIZE_MAX, old;
	struct lkey *k;

	if (n < 2)
		return 0;
	k = xcalloc(n, sizeof(*k));
	for (i = 0; i < n; i++) {
		k[i].port = v[i].port;
		k[i].idx = i;
		if (strcmp(v[i].address, "*") == 0)
			k[i].fam = 0;
		else if (inet_pton(AF_INET, v[i].address, k[i].addr) == 1)
			k[i].fam = AF_INET;
		else if (inet_pton(AF_INET6, v[i].address, k[i].addr) == 1)
			k[i].fam = AF_INET6;
	}
	qsort(k, n, sizeof(*k), lkey_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && k[j].port == k[i].port; j++)
			;
		for (f = i; f < j; f++) {
			if (f + 1 < j && k[f].fam == k[f + 1].fam &&
			    memcmp(k[f].addr, k[f + 1].addr, 16) == 0)
				note_conflict(k[f].idx, k[f + 1].idx, &later,
				    &earlier);
			if (f > i && k[i].fam == 0)
				note_conflict(k[i].idx, k[f].idx, &later,
				    &earlier);
		}
		for (f = i; f < j; f++) {
			size_t g;

			/* Only the first of each family can be its
			 * wildcard. */
			if (k[f].fam == 0 || !is_any(&k[f]) ||
			    (f > i && k[f - 1].fam == k[f].fam))
				continue;
			for (g = f + 1; g < j && k[g].fam == k[f].fam; g++)
				note_conflict(k[f].idx, k[g].idx, &later,
				    &earlier);
		}
	}
	free(k);
	if (later == SIZE_MAX)
		return 0;
	old = path_push(x, "listeners");
	path_push_index(x, later);
	cfg_fail(x, root_item(x, "listeners", later)->pos,
	    "%s port %lld conflicts with listeners[%zu] (%s port %lld)",
	    v[later].address, v[later].port, earlier, v[earlier].address,
	    v[earlier].port);
	path_pop(x, old);
	return -1;
}

struct nkey {
	const char *name;
	size_t idx;
};

static int
nkey_cmp(const void *a, const void *b)
{
	const struct nkey *p = a, *q = b;
	int c = strcmp(p->name, q->name);

	if (c != 0)
		return c;
	return p->idx < q->idx ? -1 : p->idx > q->idx;
}

/* Sorted names of a list of hosts or components (name is the first
 * member of both). */
static struct nkey *
sorted_names(const struct cfg_list *l, size_t size, size_t name_off)
{
	struct nkey *k = xcalloc(l->n, sizeof(*k));
	size_t i;

	for (i = 0; i < l->n; i++) {
		k[i].name = *(char *const *)(void *)((char *)l->items +
		    i * size + name_off);
		k[i].idx = i;
	}
	qsort(k, l->n, sizeof(*k), nkey_cmp);
	return k;
}

static int
check_unique(struct cfg_ctx *x, const char *list, const struct nkey *k,
    size_t n)
{
	size_t i, later = SIZE_MAX, earlier = 0, old;
	const char *name = NULL;
	char txt[CFG_SHOWN_MAX + 8];

	for (i = 0; i + 1 < n; i++) {
		if (strcmp(k[i].name, k[i + 1].name) == 0 &&
		    k[i + 1].idx < later) {
			later = k[i + 1].idx;
			earlier = k[i].idx;
			name = k[i].name;
		}
	}
	if (name == NULL)
		return 0;
	old = path_push(x, list);
	path_push_index(x, later);
	path_push(x, "name");
	cfg_fail(x, item_key_pos(x, list, later, "name"),
	    "'%s' is already %s[%zu]", shown(txt, sizeof(txt), name), list,
	    earlier);
	path_pop(x, old);
	return -1;
}

static int
check_names(struct cfg_ctx *x)
{
	const struct config *c = x->cfg;
	const struct cfg_component *cm = c->components.items;
	struct nkey *hk, *ck, *hit;
	size_t i, old, lo, hi, mid;
	int rc = -1;

	hk = sorted_names(&c->hosts, sizeof(struct cfg_host),
	    offsetof(struct cfg_host, name));
	ck = sorted_names(&c->components, sizeof(struct cfg_component),
	    offsetof(struct cfg_component, name));
	if (check_unique(x, "hosts", hk, c->hosts.n) < 0 ||
	    check_unique(x, "components", ck, c->components.n) < 0)
		goto out_free;
	for (i = 0; i < c->components.n; i++) {
		/* The first host of that name, for the message. */
		lo = 0;
		hi = c->hosts.n;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (strcmp(hk[mid].name, cm[i].name) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		hit = lo < c->hosts.n && strcmp(hk[lo].name, cm[i].name) == 0 ?
		    &hk[lo] :
		    NULL;
		if (hit != NULL) {
			old = path_push(x, "components");
			path_push_index(x, i);
			path_push(x, "name");
			cfg_fail(x, item_key_pos(x, "components", i, "name"),
			    "'%s' is already hosts[%zu]; a component needs a "
			    "domain of its own",
			    cm[i].name, hit->idx);
			path_pop(x, old);
			goto out_free;
		}
	}
	rc = 0;
out_free:
	free(hk);
	free(ck);
	return rc;
}

/* ---- loading ---- */

static int
set_file(struct cfg_ctx *x, struct config *c, const char *name)
{
	char *cwd, *slash;

	if (name[0] == '/') {
		c->file = path_clean(name);
	} else {
		cwd = getcwd(NULL, 0);
		if (cwd == NULL) {
			file_fail(x->err, x->errlen, name,
			    "cannot resolve the path", strerror(errno));
			return -1;
		}
		c->file = path_join(cwd, name);
		free(cwd);
	}
	x->dir = xstrdup(c->file);
	slash = strrchr(x->dir, '/');
	if (slash == x->dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

struct config *
config_load_mem(const char *buf, size_t len, const char *name, char *err,
    size_t errlen)
{
	struct cfg_ctx x;
	struct ynode *root = NULL;
	struct config *c;
	struct pos top = { 1, 1 };
	const struct ynode *map = NULL;

	memset(&x, 0, sizeof(x));
	x.file = name;
	x.buf = buf;
	x.len = len;
	x.err = err;
	x.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > CFG_MAX_FILE) {
		file_fail(err, errlen, name, "the file is larger than 1 MiB",
		    NULL);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	if (set_file(&x, c, name) < 0)
		goto out_free_config;
	if (yaml_to_tree(&x, &root) < 0)
		goto out_free_config;
	x.cfg = c;
	x.root = root;
	if (root != NULL) {
		top = root->pos;
		if (root->kind == YN_MAP) {
			map = root;
		} else if (!(root->kind == YN_SCALAR && root->is_null)) {
			cfg_fail(&x, root->pos,
			    "expected a mapping at the top level, not %s",
			    kind_name(root));
			goto out_free_tree;
		}
	}
	if (walk_map(&x, &config_root, map, top, c, NULL) < 0)
		goto out_free_tree;
	if (check_listener_conflicts(&x) < 0 || check_names(&x) < 0)
		goto out_free_tree;
	ynode_free(root);
	free(x.dir);
	return c;
out_free_tree:
	ynode_free(root);
out_free_config:
	free(x.dir);
	config_free(c);
	return NULL;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config *c;
	char *buf;
	size_t n;
	FILE *f;
	int e;

	f = fopen(path, "rb");
	if (f == NULL) {
		file_fail(err, errlen, path, "cannot open", strerror(errno));
		return NULL;
	}
	/* One byte more than allowed tells a file at the cap from a
	 * larger one. */
	buf = xmalloc(CFG_MAX_FILE + 1);
	n = fread(buf, 1, CFG_MAX_FILE + 1, f);
	if (ferror(f)) {
		e = errno;
		fclose(f);
		free(buf);
		file_fail(err, errlen, path, "cannot read", strerror(e));
		return NULL;
	}
	fclose(f);
	c = config_load_mem(buf, n, path, err, errlen);
	free(buf);
	return c;
}

/* ---- freeing ---- */

static void
free_modcfg(struct cfg_host *h)
{
	size_t r;

	if (h->modcfg == NULL)
		return;
	for (r = 0; r < module_registry_len; r++) {
		if (h->modcfg[r] == NULL)
			continue;
		if (module_registry[r]->config != NULL)
			free_section(module_registry[r]->config, h->modcfg[r]);
		free(h->modcfg[r]);
	}
	free(h->modcfg);
	h->modcfg = NULL;
}

static void
free_section(const struct cfg_section *sec, void *base)
{
	const struct cfg_directive *d;
	struct cfg_strlist *sl;
	struct cfg_list *l;
	char *field, *item;
	size_t i;

	for (d = sec->dirs; d->name != NULL; d++) {
		field = (char *)base + d->offset;
		switch (d->type) {
		case CFG_STRING:
			free(*(char **)(void *)field);
			*(char **)(void *)field = NULL;
			break;
		case CFG_STRLIST:
			sl = (struct cfg_strlist *)(void *)field;
			for (i = 0; i < sl->n; i++)
				free(sl->v[i]);
			free(sl->v);
			sl->v = NULL;
			sl->n = 0;
			break;
		case CFG_SECTION:
			free_section(d->sub, field);
			break;
		case CFG_LIST:
			l = (struct cfg_list *)(void *)field;
			for (i = 0; i < l->n; i++) {
				item = (char *)l->items + i * d->sub->size;
				if (d->sub == &host_section)
					free_modcfg(
					    (struct cfg_host *)(void *)item);
				free_section(d->sub, item);
			}
			free(l->items);
			l->items = NULL;
			l->n = 0;
			break;
		default:
			break;
		}
	}
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free_section(&config_root, c);
	free(c->file);
	free(c);
}

void
config_defaults(const struct cfg_section *sec, void *base)
{
	struct cfg_ctx x;
	char err[CFG_MSG_MAX];

	memset(&x, 0, sizeof(x));
	x.file = "(built-in defaults)";
	x.err = err;
	x.errlen = sizeof(err);
	x.defaults_only = 1;
	path_push(&x, sec->name != NULL && sec->name[0] != '\0' ? sec->name :
								   "settings");
	if (walk_map(&x, sec, NULL, (struct pos){ 0, 0 }, base, NULL) < 0) {
		/* Only a broken table gets here, and the unit tests load
		 * every table's defaults: a programming error. */
		fprintf(stderr, "ternd: %s\n", err);
		abort();
	}
}

struct cfg_host *
config_host(const struct config *c, const char *name)
{
	struct cfg_host *h;
	size_t i;

	if (c == NULL || name == NULL)
		return NULL;
	h = c->hosts.items;
	for (i = 0; i < c->hosts.n; i++) {
		if (strcmp(h[i].name, name) == 0)
			return &h[i];
	}
	return NULL;
}

/* ---- the reference ---- */

/* A table cell: pipes would end the cell, newlines the row. */
static void
md_cell(FILE *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

static void
doc_type(FILE *out, const struct cfg_directive *d)
{
	static const char *const names[] = {
		[CFG_BOOL] = "bool",
		[CFG_INT] = "integer",
		[CFG_SIZE] = "size",
		[CFG_DURATION] = "duration",
		[CFG_STRING] = "string",
		[CFG_ENUM] = "one of",
		[CFG_STRLIST] = "list of strings",
		[CFG_SECTION] = "mapping",
		[CFG_LIST] = "list of mappings",
	};
	char lo[32], hi[32];
	size_t i;

	fputs(names[d->type], out);
	if (d->type == CFG_ENUM) {
		for (i = 0; d->choices[i] != NULL; i++) {
			fprintf(out, "%s`", i > 0 ? ", " : " ");
			md_cell(out, d->choices[i]);
			fputc('`', out);
		}
	}
	if ((d->type == CFG_INT || d->type == CFG_SIZE ||
		d->type == CFG_DURATION) &&
	    is_bounded(d)) {
		fmt_value(lo, sizeof(lo), d->type, d->min);
		fmt_value(hi, sizeof(hi), d->type, d->max);
		fprintf(out, " (%s..%s)", lo, hi);
	}
}

static void
doc_table(FILE *out, const struct cfg_section *sec, const char *prefix)
{
	const struct cfg_directive *d;

	fputs("| key | type | default | meaning |\n", out);
	fputs("|---|---|---|---|\n", out);
	for (d = sec->dirs; d->name != NULL; d++) {
		fputs("| `", out);
		md_cell(out, prefix);
		md_cell(out, d->name);
		fputs("` | ", out);
		doc_type(out, d);
		fputs(" | ", out);
		if (d->required) {
			fputs("required", out);
		} else if (d->def != NULL) {
			fputc('`', out);
			md_cell(out, d->def);
			fputc('`', out);
		} else if (d->type == CFG_STRLIST || d->type == CFG_LIST) {
			fputs("empty", out);
		} else if (d->type == CFG_SECTION) {
			fputs("see below", out);
		} else {
			fputs("none", out);
		}
		fputs(" | ", out);
		md_cell(out, d->doc);
		fputs(" |\n", out);
	}
	fputc('\n', out);
}

static void
doc_subsections(FILE *out, const struct cfg_section *sec, const char *prefix)
{
	const struct cfg_directive *d;
	char key[CFG_PATH_MAX], sub[CFG_PATH_MAX + 4];

	for (d = sec->dirs; d->name != NULL; d++) {
		if (d->type != CFG_SECTION && d->type != CFG_LIST)
			continue;
		snprintf(key, sizeof(key), "%s%s", prefix, d->name);
		snprintf(sub, sizeof(sub), "%s%s.", key,
		    d->type == CFG_LIST ? "[]" : "");
		fprintf(out, "## `%s`\n\n", key);
		if (d->sub->doc != NULL)
			fprintf(out, "%s\n\n", d->sub->doc);
		doc_table(out, d->sub, sub);
		doc_subsections(out, d->sub, sub);
	}
}

static void
doc_strings(FILE *out, const char *label, const char *const *v)
{
	size_t i;

	if (v == NULL || v[0] == NULL)
		return;
	fprintf(out, "- %s: ", label);
	for (i = 0; v[i] != NULL; i++)
		fprintf(out, "%s`%s`", i > 0 ? ", " : "", v[i]);
	fputc('\n', out);
}

static void
doc_module(FILE *out, const struct module *m)
{
	const struct disco_identity *id;
	char prefix[CFG_PATH_MAX];
	int any = 0;

	fprintf(out, "### `%s`\n\n", m->name);
	if (m->spec != NULL)
		fprintf(out, "Implements %s.%s", m->spec,
		    m->doc != NULL ? " " : "");
	if (m->doc != NULL)
		fputs(m->doc, out);
	if (m->spec != NULL || m->doc != NULL)
		fputs("\n\n", out);
	if (m->features != NULL && m->features[0] != NULL)
		any = 1;
	if (m->account_features != NULL && m->account_features[0] != NULL)
		any = 1;
	if (m->identities != NULL && m->identities[0].category != NULL)
		any = 1;
	if (m->depends != NULL && m->depends[0] != NULL)
		any = 1;
	doc_strings(out, "Features", m->features);
	doc_strings(out, "Account features", m->account_features);
	for (id = m->identities; id != NULL && id->category != NULL; id++)
		fprintf(out, "- Identity: `%s/%s`%s%s\n", id->category,
		    id->type != NULL ? id->type : "",
		    id->name != NULL ? " " : "",
		    id->name != NULL ? id->name : "");
	doc_strings(out, "Needs", m->depends);
	if (any)
		fputc('\n', out);
	if (m->config == NULL || m->config->dirs[0].name == NULL) {
		fputs("No settings.\n\n", out);
		return;
	}
	if (m->config->doc != NULL)
		fprintf(out, "%s\n\n", m->config->doc);
	snprintf(prefix, sizeof(prefix), "hosts[].%s.", m->name);
	doc_table(out, m->config, prefix);
}

void
config_write_docs(FILE *out)
{
	size_t i;

	fputs("# Tern configuration reference\n\n"
	      "<!-- Generated by `ternd --config-doc` from the tables in "
	      "src/core/config.c and src/mod/; run `make docs` after "
	      "changing them. -->\n\n",
	    out);
	fputs("ternd reads one YAML file (`ternd -c tern.yml`). The file "
	      "is a mapping of the keys below; unknown keys, duplicate "
	      "keys, anchors, aliases and tags are errors, and every error "
	      "names the file, line, column and key, e.g. "
	      "`tern.yml:12:5: listeners[1].port: 70000 is out of range "
	      "(1..65535)`. The file may be at most 1 MiB and nest at most "
	      "32 levels deep.\n\n",
	    out);
	fputs("Values:\n\n"
	      "- **size**: bytes, or a number with a suffix `k`, `M` or `G` "
	      "(1024-based, either case): `512`, `64k`, `2M`, `1G`.\n"
	      "- **duration**: seconds, or a number with a suffix `s`, `m`, "
	      "`h` or `d`: `30`, `30s`, `5m`, `2h`, `7d`.\n"
	      "- **bool**: `true`/`false`, `yes`/`no` or `on`/`off`.\n"
	      "- **string**: any scalar; quote it if YAML would read it "
	      "otherwise (`\"1.2\"`, `\"*\"`, `\"::1\"`). An optional "
	      "string without a default may be left empty (`~`) for none.\n"
	      "- Ranges are written `min..max`, inclusive.\n"
	      "- Relative paths (`pidfile`, `control_socket`, "
	      "`storage.path`, `tls.cert_dir`) are resolved against the "
	      "directory of the configuration file, not the current "
	      "directory.\n\n",
	    out);
	fputs("## Global settings\n\n", out);
	if (config_root.doc != NULL)
		fprintf(out, "%s\n\n", config_root.doc);
	doc_table(out, &config_root, "");
	doc_subsections(out, &config_root, "");
	fputs("## Modules\n\n"
	      "Modules are enabled per host in `hosts[].modules`. A module's "
	      "settings go in a mapping named after the module inside the "
	      "host's item; a module enabled without one gets its "
	      "defaults:\n\n"
	      "```yaml\n"
	      "hosts:\n"
	      "  - name: example.org\n"
	      "    modules: [<module>, ...]\n"
	      "    <module>:\n"
	      "      <setting>: <value>\n"
	      "```\n\n",
	    out);
	for (i = 0; i < module_registry_len; i++)
		doc_module(out, module_registry[i]);
}

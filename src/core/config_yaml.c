/* config_yaml.c: reading the YAML file into a struct config along the
 * directive tables: the node tree, typed scalars with their bounds, and
 * errors with file:line:column and the key's path. */
#include "core/config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/config_int.h"
#include "core/module.h"
#include "core/util.h"

int
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
void
cfg_file_fail(char *err, size_t errlen, const char *file, const char *what,
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
const char *
cfg_shown(char *out, size_t outlen, const char *s)
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

size_t
cfg_path_push(struct cfg_ctx *x, const char *key)
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

size_t
cfg_path_push_index(struct cfg_ctx *x, size_t i)
{
	size_t old = x->pathlen;
	int n = snprintf(x->path + old, sizeof(x->path) - old, "[%zu]", i);

	if (n < 0 || (size_t)n >= sizeof(x->path) - old)
		x->pathlen = sizeof(x->path) - 1;
	else
		x->pathlen = old + (size_t)n;
	return old;
}

void
cfg_path_pop(struct cfg_ctx *x, size_t old)
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

const char *
cfg_kind_name(const struct ynode *n)
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

void
cfg_ynode_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		cfg_ynode_free(n->kids[i]);
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
		    cfg_shown(s, sizeof(s), (const char *)anchor));
	if (tag != NULL)
		return cfg_fail(x, at, "tags (%s) are not supported",
		    cfg_shown(s, sizeof(s), (const char *)tag));
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

		cfg_ynode_free(n);
		return cfg_fail(x, at, "mapping keys must be plain strings");
	}
	if (parent->nkids == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->kids =
		    xrealloc(parent->kids, parent->cap * sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = n;
	return 0;
}

int
cfg_yaml_to_tree(struct cfg_ctx *x, struct ynode **rootp)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *stack[CFG_MAX_DEPTH];
	struct ynode *root = NULL, *n;
	size_t depth = 0;
	int docs = 0, done = 0, rc = -1;
	struct pos at;

	if (!yaml_parser_initialize(&p))
		return cfg_fail(
		    x, (struct pos){ 1, 1 }, "out of memory parsing YAML");
	yaml_parser_set_input_string(&p, (const unsigned char *)x->buf, x->len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			yaml_fail(x, &p);
			goto out_parser;
		}
		at = mark_pos(&ev.start_mark);
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				cfg_fail(
				    x, at, "only one YAML document is allowed");
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
			n->is_null =
			    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
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
			n = ynode_new(ev.type == YAML_MAPPING_START_EVENT
					  ? YN_MAP
					  : YN_SEQ,
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
	cfg_ynode_free(root);
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
void
cfg_fmt_value(char *out, size_t n, enum cfg_type type, long long v)
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

int
cfg_is_bounded(const struct cfg_directive *d)
{
	return !(d->min == 0 && d->max == 0);
}

static int
range_fail(struct cfg_ctx *x, const struct cfg_directive *d, const char *s,
    struct pos at, const char *pre)
{
	char lo[32], hi[32], txt[CFG_SHOWN_MAX + 8];

	if (!cfg_is_bounded(d))
		return cfg_fail(x, at, "%s%s is too large", pre,
		    cfg_shown(txt, sizeof(txt), s));
	cfg_fmt_value(lo, sizeof(lo), d->type,
	    d->type == CFG_DURATION && d->min < 0 ? 0 : d->min);
	cfg_fmt_value(hi, sizeof(hi), d->type, d->max);
	return cfg_fail(x, at, "%s%s is out of range (%s%s..%s)", pre,
	    cfg_shown(txt, sizeof(txt), s),
	    d->type == CFG_DURATION && d->min < 0 ? "policy, " : "", lo, hi);
}

static int
parse_number(struct cfg_ctx *x, const struct cfg_directive *d, const char *s,
    struct pos at, const char *pre, long long *out)
{
	char txt[CFG_SHOWN_MAX + 8];
	const char *rest = s;
	long long v = 0, mult = 1;
	int rc;

	/* a duration that may be 0 (kept for ever) may say so in words */
	if (d->type == CFG_DURATION && d->min <= 0 && d->max > 0 &&
	    strcmp(s, "forever") == 0) {
		*out = 0;
		return 0;
	}
	/* one that may be -1 follows the retention: section (cfg_keep) */
	if (d->type == CFG_DURATION && d->min < 0 && strcmp(s, "policy") == 0) {
		*out = -1;
		return 0;
	}
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
		cfg_shown(txt, sizeof(txt), s);
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
		return cfg_fail(
		    x, at, "%s'%s' is not a whole number", pre, txt);
	}
	if (rc == -2 || v > LLONG_MAX / mult)
		return range_fail(x, d, s, at, pre);
	v *= mult;
	if (cfg_is_bounded(d) && (v < d->min || v > d->max))
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
		int w = snprintf(
		    out + o, n - o, "%s%s", i > 0 ? ", " : "", choices[i]);

		if (w < 0 || (size_t)w >= n - o)
			return;
		o += (size_t)w;
	}
}

/* Remove "." and empty components; ".." is left alone because only the
 * file system knows what it means under symbolic links. abs starts with
 * a '/'. */
char *
cfg_path_clean(const char *abs)
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

char *
cfg_path_join(const char *dir, const char *rel)
{
	size_t dl = strlen(dir), rl = strlen(rel);
	char *tmp = xmalloc(dl + rl + 2), *out;

	memcpy(tmp, dir, dl);
	tmp[dl] = '/';
	memcpy(tmp + dl + 1, rel, rl + 1);
	out = cfg_path_clean(tmp);
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
		   field == &c->storage.path || field == &c->tls.cert_dir ||
		   field == &c->s2s.ca_file);
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
			    pre, cfg_shown(txt, sizeof(txt), s));
		return 0;
	case CFG_INT:
	case CFG_SIZE:
	case CFG_DURATION:
		return parse_number(x, d, s, at, pre, field);
	case CFG_STRING:
		if (is_path_field(x, field)) {
			if (s[0] == '\0')
				return cfg_fail(
				    x, at, "%sthe path must not be empty", pre);
			*(char **)field = s[0] == '/'
					      ? cfg_path_clean(s)
					      : cfg_path_join(x->dir, s);
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
		    cfg_shown(txt, sizeof(txt), s), list);
	default:
		return cfg_fail(x, at, "%s'%s': this key takes no scalar", pre,
		    cfg_shown(txt, sizeof(txt), s));
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
	cfg_shown(txt, sizeof(txt), k->str);
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
		    cfg_kind_name(val));
	sl->n = val->nkids;
	sl->v = xcalloc(sl->n, sizeof(*sl->v));
	for (i = 0; i < val->nkids; i++) {
		it = val->kids[i];
		old = cfg_path_push_index(x, i);
		if (it->kind != YN_SCALAR || it->is_null)
			return cfg_fail(x, it->pos, "expected a string, not %s",
			    cfg_kind_name(it));
		if (strlen(it->str) != it->len)
			return cfg_fail(x, it->pos, "contains a NUL byte");
		sl->v[i] = xstrdup(it->str);
		cfg_path_pop(x, old);
	}
	return 0;
}

size_t
cfg_dir_index(const struct cfg_section *sec, const char *name)
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
		    cfg_kind_name(val));
	l->n = val->nkids;
	l->items = xcalloc(l->n, sub->size);
	for (i = 0; i < val->nkids; i++) {
		it = val->kids[i];
		item = (char *)l->items + i * sub->size;
		old = cfg_path_push_index(x, i);
		if (it->kind != YN_MAP)
			return cfg_fail(x, it->pos,
			    "expected a mapping, not %s", cfg_kind_name(it));
		memset(&mi, 0, sizeof(mi));
		if (sub == &cfg_host_section) {
			mi.modkey =
			    xcalloc(module_registry_len, sizeof(*mi.modkey));
			mi.modval =
			    xcalloc(module_registry_len, sizeof(*mi.modval));
		}
		rc = cfg_walk_map(x, sub, it, it->pos, item, &mi);
		if (rc == 0 && sub == &cfg_host_section)
			rc = cfg_finish_host(
			    x, (struct cfg_host *)(void *)item, it, &mi);
		else if (rc == 0 && sub == &cfg_listener_section)
			rc = cfg_check_listener(
			    x, (struct cfg_listener *)(void *)item, &mi);
		else if (rc == 0 && sub == &cfg_service_section)
			rc = cfg_check_service(
			    x, (struct cfg_service *)(void *)item, &mi);
		else if (rc == 0 && sub == &cfg_component_section)
			rc = cfg_check_component(
			    x, (struct cfg_component *)(void *)item, &mi);
		mapinfo_free(&mi);
		if (rc < 0)
			return -1;
		cfg_path_pop(x, old);
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
			return cfg_walk_map(
			    x, d->sub, NULL, key->pos, field, NULL);
		if (val->kind != YN_MAP)
			return cfg_fail(x, key->pos,
			    "expected a mapping, not %s", cfg_kind_name(val));
		return cfg_walk_map(x, d->sub, val, val->pos, field, NULL);
	case CFG_LIST:
		return walk_list(x, d, key, val, field);
	case CFG_STRLIST:
		return walk_strlist(x, key, val, field);
	default:
		break;
	}
	if (val->kind != YN_SCALAR)
		return cfg_fail(x, key->pos, "expected a scalar, not %s",
		    cfg_kind_name(val));
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
		return cfg_walk_map(x, d->sub, NULL, where, field, NULL);
	case CFG_LIST:
		if (d->def != NULL)
			return cfg_fail(
			    x, where, "lists of mappings take no default");
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
				return cfg_fail(
				    x, where, "default has an empty list item");
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
int
cfg_walk_map(struct cfg_ctx *x, const struct cfg_section *sec,
    const struct ynode *map, struct pos where, void *base, struct mapinfo *mi)
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
		di = strlen(k->str) == k->len ? cfg_dir_index(sec, k->str) : nd;
		if (di == nd) {
			mod = with_modules && strlen(k->str) == k->len
				  ? module_index(k->str)
				  : -1;
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
		old = cfg_path_push(x, k->str);
		if (walk_value(x, &sec->dirs[di], k, v,
			(char *)base + sec->dirs[di].offset) < 0)
			goto out_free;
		cfg_path_pop(x, old);
	}
	for (di = 0; di < nd; di++) {
		d = &sec->dirs[di];
		if (keys[di] != NULL)
			continue;
		if (d->required && !x->defaults_only) {
			cfg_fail(
			    x, where, "missing required key '%s'", d->name);
			goto out_free;
		}
		old = cfg_path_push(x, d->name);
		if (apply_default(x, d, where, (char *)base + d->offset) < 0)
			goto out_free;
		cfg_path_pop(x, old);
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

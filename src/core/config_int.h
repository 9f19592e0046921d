/* config_int.h: what the pieces of the configuration share (config.c,
 * config_tables.c, config_yaml.c, config_check.c, config_doc.c). Not
 * part of the public API: include it only from src/core/config*.c. */
#ifndef TERN_CONFIG_INT_H
#define TERN_CONFIG_INT_H

#include <stddef.h>

#include "core/config.h"

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

/* ---- the YAML node tree ---- */

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };

struct pos {
	unsigned line, col; /* 1-based */
};

struct ynode {
	enum ynode_kind kind;
	struct pos pos;
	int is_null; /* plain "", "~" or "null": no value */
	char *str;   /* scalar text, NUL-terminated */
	size_t len;  /* bytes of str; more than strlen() if it holds a NUL */
	/* sequence: the items; mapping: key, value, key, value, ... */
	struct ynode **kids;
	size_t nkids, cap;
};

struct cfg_ctx {
	const char *file; /* as given, for messages */
	const char *buf;  /* the YAML text, for reader error offsets */
	size_t len;
	char *err;
	size_t errlen;
	int failed;
	int defaults_only;  /* config_defaults(): required keys are no error */
	struct config *cfg; /* NULL outside config_load */
	const struct ynode *root;
	char *dir;		 /* absolute directory of the file */
	char path[CFG_PATH_MAX]; /* dotted key path of what is parsed */
	size_t pathlen;
};

/* What cfg_walk_map saw, per directive of the section (and per registry
 * module for a host), so checks after the walk can point at keys. */
struct mapinfo {
	const struct ynode **key;
	const struct ynode **val;
	const struct ynode **modkey;
	const struct ynode **modval;
};

/* ---- config_tables.c ---- */

/* The list items the loader checks beyond their tables. */
extern const struct cfg_section cfg_listener_section;
extern const struct cfg_section cfg_host_section;
extern const struct cfg_section cfg_component_section;
extern const struct cfg_section cfg_s2s_section;
extern const struct cfg_section cfg_service_section;

/* ---- config_yaml.c ---- */

int cfg_fail(struct cfg_ctx *x, struct pos at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cfg_file_fail(char *err, size_t errlen, const char *file, const char *what,
    const char *detail);
const char *cfg_shown(char *out, size_t outlen, const char *s);
/* Append ".key" or "[i]" to x->path; cfg_path_pop(x, returned) undoes it. */
size_t cfg_path_push(struct cfg_ctx *x, const char *key);
size_t cfg_path_push_index(struct cfg_ctx *x, size_t i);
void cfg_path_pop(struct cfg_ctx *x, size_t old);
const char *cfg_kind_name(const struct ynode *n);
void cfg_ynode_free(struct ynode *n);
/* Parse x->buf into *rootp (NULL for an empty file); -1 on error. */
int cfg_yaml_to_tree(struct cfg_ctx *x, struct ynode **rootp);
void cfg_fmt_value(char *out, size_t n, enum cfg_type type, long long v);
int cfg_is_bounded(const struct cfg_directive *d);
char *cfg_path_clean(const char *abs);
char *cfg_path_join(const char *dir, const char *rel);
/* The directive named name in sec, or the index of its terminator. */
size_t cfg_dir_index(const struct cfg_section *sec, const char *name);
int cfg_walk_map(struct cfg_ctx *x, const struct cfg_section *sec,
    const struct ynode *map, struct pos where, void *base, struct mapinfo *mi);

/* ---- config_check.c ---- */

/* Checks of one list item after cfg_walk_map filled it. */
int cfg_check_listener(
    struct cfg_ctx *x, struct cfg_listener *l, const struct mapinfo *mi);
int cfg_check_component(
    struct cfg_ctx *x, struct cfg_component *cm, const struct mapinfo *mi);
int cfg_finish_host(struct cfg_ctx *x, struct cfg_host *h,
    const struct ynode *item, const struct mapinfo *mi);
int cfg_check_service(
    struct cfg_ctx *x, struct cfg_service *sv, const struct mapinfo *mi);
/* Checks across the items of the lists, after the whole file is read. */
int cfg_check_listener_conflicts(struct cfg_ctx *x);
int cfg_check_names(struct cfg_ctx *x);
/* accounts: the inactivity warning comes before the deletion. */
int cfg_check_accounts(struct cfg_ctx *x);

#endif

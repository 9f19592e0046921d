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
 * the mapping that lacks it. The first error stops the load.
 *
 * The pieces: config_tables.c (the core's directive tables),
 * config_yaml.c (reading the file along them), config_check.c (checks
 * after reading), config_doc.c (the reference); this file loads and
 * frees. */
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config_int.h"
#include "core/module.h"
#include "core/util.h"

static void free_section(const struct cfg_section *sec, void *base);

/* ---- loading ---- */

static int
set_file(struct cfg_ctx *x, struct config *c, const char *name)
{
	char *cwd, *slash;

	if (name[0] == '/') {
		c->file = cfg_path_clean(name);
	} else {
		cwd = getcwd(NULL, 0);
		if (cwd == NULL) {
			cfg_file_fail(x->err, x->errlen, name,
			    "cannot resolve the path", strerror(errno));
			return -1;
		}
		c->file = cfg_path_join(cwd, name);
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
config_load_mem(
    const char *buf, size_t len, const char *name, char *err, size_t errlen)
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
		cfg_file_fail(
		    err, errlen, name, "the file is larger than 1 MiB", NULL);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	if (set_file(&x, c, name) < 0)
		goto out_free_config;
	if (cfg_yaml_to_tree(&x, &root) < 0)
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
			    cfg_kind_name(root));
			goto out_free_tree;
		}
	}
	if (cfg_walk_map(&x, &config_root, map, top, c, NULL) < 0)
		goto out_free_tree;
	if (cfg_check_listener_conflicts(&x) < 0 || cfg_check_names(&x) < 0 ||
	    cfg_check_accounts(&x) < 0)
		goto out_free_tree;
	cfg_ynode_free(root);
	free(x.dir);
	return c;
out_free_tree:
	cfg_ynode_free(root);
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
		cfg_file_fail(
		    err, errlen, path, "cannot open", strerror(errno));
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
		cfg_file_fail(err, errlen, path, "cannot read", strerror(e));
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
				if (d->sub == &cfg_host_section)
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
	cfg_path_push(&x,
	    sec->name != NULL && sec->name[0] != '\0' ? sec->name : "settings");
	if (cfg_walk_map(&x, sec, NULL, (struct pos){ 0, 0 }, base, NULL) < 0) {
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

int
config_host_has_module(const struct cfg_host *h, const char *module)
{
	size_t i;

	for (i = 0; i < h->modules.n; i++)
		if (strcmp(h->modules.v[i], module) == 0)
			return 1;
	return 0;
}

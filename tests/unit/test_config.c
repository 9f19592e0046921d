/* test_config.c: the YAML configuration loader, its errors and the
 * generated reference. Uses the real module registry; the modules named
 * here (ping, version with its hide_os setting, disco) exist there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/module.h"
#include "core/util.h"

#define ERRLEN 1024

static struct config *
load(const char *yaml, char *err)
{
	return config_load_mem(yaml, strlen(yaml), "tern.yml", err, ERRLEN);
}

static void
expect_error(const char *yaml, const char *want)
{
	char err[ERRLEN];
	struct config *c = load(yaml, err);

	if (c != NULL) {
		config_free(c);
		fail_msg("loaded without error:\n%s", yaml);
	}
	assert_string_equal(err, want);
}

static char *
cwd_path(const char *rel)
{
	char *cwd = getcwd(NULL, 0), *p;

	assert_non_null(cwd);
	p = xmalloc(strlen(cwd) + strlen(rel) + 2);
	sprintf(p, "%s/%s", cwd, rel);
	free(cwd);
	return p;
}

static const struct cfg_directive *
find_dir(const struct cfg_section *sec, const char *name)
{
	const struct cfg_directive *d;

	for (d = sec->dirs; d->name != NULL; d++) {
		if (strcmp(d->name, name) == 0)
			return d;
	}
	return NULL;
}

/* ---- a full valid config ---- */

static const char full_yaml[] =
    "# Tern test config\n"
    "log_level: debug\n"
    "log_syslog: yes\n"
    "pidfile: run/./tern.pid\n"
    "control_socket: /run/tern/ctl.sock\n"
    "storage:\n"
    "  backend: sqlite\n"
    "  path: data/tern.db\n"
    "tls:\n"
    "  cert_dir: /etc/tern/certs/\n"
    "  min_version: \"1.3\"\n"
    "  ciphers: HIGH:!aNULL\n"
    "  c2s_require_tls: off\n"
    "limits:\n"
    "  c2s_stanza_size: 512k\n"
    "  unauth_stanza_size: 8K\n"
    "  xml_depth: 100\n"
    "  xml_attrs: 32\n"
    "  unauth_timeout: 1m\n"
    "  idle_timeout: 2h\n"
    "  sasl_failures_per_ip: 5\n"
    "  sasl_retries: 2\n"
    "  sessions_per_account: 50\n"
    "  send_queue: 1M\n"
    "  conns_per_ip: 7\n"
    "listeners:\n"
    "  - type: c2s\n"
    "    address: \"::1\"\n"
    "    port: 5222\n"
    "  - { type: c2s_tls, address: \"*\", port: 5223 }\n"
    "  - type: component\n"
    "    address: 127.0.0.1\n"
    "    port: 5347\n"
    "hosts:\n"
    "  - name: Example.ORG\n"
    "    modules: [ping, version, disco]\n"
    "    version:\n"
    "      hide_os: true\n"
    "  - name: example.net\n"
    "components:\n"
    "  - name: gateway.example.org\n"
    "    secret: 12345\n";

static void
test_full(void **state)
{
	char err[ERRLEN];
	struct config *c = load(full_yaml, err);
	const struct cfg_listener *l;
	const struct cfg_host *h;
	const struct cfg_component *cm;
	char *file = cwd_path("tern.yml"), *pid = cwd_path("run/tern.pid");
	char *db = cwd_path("data/tern.db");
	int vi = module_index("version"), pi = module_index("ping");
	const struct cfg_directive *hide;

	UNUSED(state);
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->file, file);
	assert_int_equal(c->log_level, 3);
	assert_int_equal(c->log_syslog, 1);
	assert_string_equal(c->pidfile, pid);
	assert_string_equal(c->control_socket, "/run/tern/ctl.sock");
	assert_int_equal(c->storage.backend, 0);
	assert_string_equal(c->storage.path, db);
	assert_string_equal(c->tls.cert_dir, "/etc/tern/certs");
	assert_int_equal(c->tls.min_version, 1);
	assert_string_equal(c->tls.ciphers, "HIGH:!aNULL");
	assert_int_equal(c->tls.c2s_require_tls, 0);
	assert_int_equal(c->limits.c2s_stanza_size, 512 * 1024);
	assert_int_equal(c->limits.unauth_stanza_size, 8 * 1024);
	assert_int_equal(c->limits.xml_depth, 100);
	assert_int_equal(c->limits.xml_attrs, 32);
	assert_int_equal(c->limits.unauth_timeout, 60);
	assert_int_equal(c->limits.idle_timeout, 7200);
	assert_int_equal(c->limits.sasl_failures_per_ip, 5);
	assert_int_equal(c->limits.sasl_retries, 2);
	assert_int_equal(c->limits.sessions_per_account, 50);
	assert_int_equal(c->limits.send_queue, 1024 * 1024);
	assert_int_equal(c->limits.conns_per_ip, 7);

	assert_int_equal(c->listeners.n, 3);
	l = c->listeners.items;
	assert_int_equal(l[0].kind, LISTEN_C2S);
	assert_string_equal(l[0].address, "::1");
	assert_int_equal(l[0].port, 5222);
	assert_int_equal(l[1].kind, LISTEN_C2S_TLS);
	assert_string_equal(l[1].address, "*");
	assert_int_equal(l[1].port, 5223);
	assert_int_equal(l[2].kind, LISTEN_COMPONENT);
	assert_string_equal(l[2].address, "127.0.0.1");

	assert_int_equal(c->hosts.n, 2);
	h = c->hosts.items;
	assert_string_equal(h[0].name, "example.org");
	assert_int_equal(h[0].modules.n, 3);
	assert_string_equal(h[0].modules.v[0], "ping");
	assert_string_equal(h[0].modules.v[1], "version");
	assert_string_equal(h[0].modules.v[2], "disco");
	assert_true(vi >= 0 && pi >= 0);
	assert_non_null(module_registry[vi]->config);
	hide = find_dir(module_registry[vi]->config, "hide_os");
	assert_non_null(hide);
	assert_non_null(h[0].modcfg[vi]);
	assert_int_equal(*(int *)((char *)h[0].modcfg[vi] + hide->offset), 1);
	assert_null(h[0].modcfg[pi]);
	assert_string_equal(h[1].name, "example.net");
	assert_int_equal(h[1].modules.n, 0);
	assert_non_null(h[1].modcfg);
	assert_null(h[1].modcfg[vi]);

	assert_int_equal(c->components.n, 1);
	cm = c->components.items;
	assert_string_equal(cm[0].name, "gateway.example.org");
	assert_string_equal(cm[0].secret, "12345");

	assert_ptr_equal(config_host(c, "example.org"), &h[0]);
	assert_ptr_equal(config_host(c, "example.net"), &h[1]);
	assert_null(config_host(c, "Example.ORG"));
	assert_null(config_host(c, "example.com"));
	assert_null(config_host(NULL, "example.org"));
	config_free(c);
	config_free(NULL);
	free(file);
	free(pid);
	free(db);
}

/* ---- defaults ---- */

static void
check_defaults(const struct config *c)
{
	char *db = cwd_path("tern.db"), *certs = cwd_path("certs");

	assert_int_equal(c->log_level, 2);
	assert_string_equal(cfg_log_levels[c->log_level], "info");
	assert_int_equal(c->log_syslog, 0);
	assert_null(c->pidfile);
	assert_null(c->control_socket);
	assert_string_equal(cfg_storage_backends[c->storage.backend],
	    "sqlite");
	assert_string_equal(c->storage.path, db);
	assert_string_equal(c->tls.cert_dir, certs);
	assert_string_equal(cfg_tls_versions[c->tls.min_version], "1.2");
	/* Mozilla intermediate: AEAD with forward secrecy, no CBC/SHA-1 */
	assert_non_null(c->tls.ciphers);
	assert_non_null(strstr(c->tls.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256"));
	assert_null(strstr(c->tls.ciphers, "-SHA:"));
	assert_null(strstr(c->tls.ciphers, "CBC"));
	assert_int_equal(c->tls.c2s_require_tls, 1);
	assert_int_equal(c->limits.c2s_stanza_size, 256 * 1024);
	assert_int_equal(c->limits.unauth_stanza_size, 16 * 1024);
	assert_int_equal(c->limits.xml_depth, 64);
	assert_int_equal(c->limits.xml_attrs, 64);
	assert_int_equal(c->limits.unauth_timeout, 30);
	assert_int_equal(c->limits.idle_timeout, 0);
	assert_int_equal(c->limits.sasl_failures_per_ip, 10);
	assert_int_equal(c->limits.sasl_retries, 3);
	assert_int_equal(c->limits.sessions_per_account, 20);
	assert_int_equal(c->limits.send_queue, 2 * 1024 * 1024);
	assert_int_equal(c->limits.conns_per_ip, 100);
	assert_int_equal(c->listeners.n, 0);
	assert_int_equal(c->hosts.n, 0);
	assert_int_equal(c->components.n, 0);
	free(db);
	free(certs);
}

static void
test_defaults(void **state)
{
	static const char *const empties[] = {
		"",
		"# only a comment\n",
		"~\n",
		"---\n...\n",
		"{}\n",
		"limits:\nstorage: ~\ntls: {}\nlisteners:\nhosts: []\n",
	};
	char err[ERRLEN];
	struct config *c;
	size_t i;

	UNUSED(state);
	for (i = 0; i < ARRAY_LEN(empties); i++) {
		c = load(empties[i], err);
		if (c == NULL)
			fail_msg("'%s': %s", empties[i], err);
		check_defaults(c);
		config_free(c);
	}
}

/* Every module's defaults load (and so parse) when all are enabled;
 * config_defaults fills a module's struct the same way. */
static void
test_module_defaults(void **state)
{
	char err[ERRLEN], *yaml;
	struct config *c;
	const struct cfg_host *h;
	size_t i, len = 64;
	int vi = module_index("version");
	const struct cfg_directive *hide;
	void *mc;

	UNUSED(state);
	for (i = 0; i < module_registry_len; i++)
		len += 2 * strlen(module_registry[i]->name) + 64;
	yaml = xmalloc(len);
	strcpy(yaml, "hosts:\n  - name: example.org\n    modules: [");
	for (i = 0; i < module_registry_len; i++) {
		if (!(module_kinds(module_registry[i]) & MODULE_ON_ACCOUNTS))
			continue;
		if (yaml[strlen(yaml) - 1] != '[')
			strcat(yaml, ", ");
		strcat(yaml, module_registry[i]->name);
	}
	strcat(yaml, "]\n    services:\n");
	/* modules that serve domains of their own are services */
	for (i = 0; i < module_registry_len; i++) {
		if (module_kinds(module_registry[i]) & MODULE_ON_ACCOUNTS)
			continue;
		sprintf(yaml + strlen(yaml),
		    "      - { module: %s, domain: %s.example.org }\n",
		    module_registry[i]->name, module_registry[i]->name);
	}
	c = load(yaml, err);
	if (c == NULL)
		fail_msg("%s", err);
	h = c->hosts.items;
	for (i = 0; i < module_registry_len; i++) {
		if (module_registry[i]->config != NULL)
			assert_non_null(h->modcfg[i]);
		else
			assert_null(h->modcfg[i]);
	}
	hide = find_dir(module_registry[vi]->config, "hide_os");
	assert_non_null(hide);
	assert_int_equal(*(int *)((char *)h->modcfg[vi] + hide->offset), 0);
	config_free(c);
	free(yaml);

	mc = xcalloc(1, module_registry[vi]->config->size);
	*(int *)((char *)mc + hide->offset) = 7;
	config_defaults(module_registry[vi]->config, mc);
	assert_int_equal(*(int *)((char *)mc + hide->offset), 0);
	free(mc);
}

/* ---- value syntax ---- */

struct value_case {
	const char *text;
	long long want; /* when err is NULL */
	const char *err;
};

static void
check_values(const char *section, const char *key,
    const struct value_case *cases, size_t n)
{
	const struct cfg_directive *sd = find_dir(&config_root, section);
	const struct cfg_directive *d = find_dir(sd->sub, key);
	char yaml[512], err[ERRLEN], *field;
	struct config *c;
	size_t i;
	long long got;

	for (i = 0; i < n; i++) {
		snprintf(yaml, sizeof(yaml), "%s:\n  %s: %s\n", section, key,
		    cases[i].text);
		c = load(yaml, err);
		if (cases[i].err != NULL) {
			if (c != NULL)
				fail_msg("'%s' loaded", cases[i].text);
			assert_string_equal(err, cases[i].err);
			continue;
		}
		if (c == NULL)
			fail_msg("'%s': %s", cases[i].text, err);
		field = (char *)c + sd->offset + d->offset;
		if (d->type == CFG_BOOL || d->type == CFG_ENUM)
			got = *(int *)(void *)field;
		else
			got = *(long long *)(void *)field;
		assert_int_equal(got, cases[i].want);
		config_free(c);
	}
}

static void
test_sizes(void **state)
{
	static const struct value_case cases[] = {
		{ "65536", 65536, NULL },
		{ "64k", 65536, NULL },
		{ "64K", 65536, NULL },
		{ "3m", 3 << 20, NULL },
		{ "3M", 3 << 20, NULL },
		{ "1g", 1 << 30, NULL },
		{ "1G", 1 << 30, NULL },
		{ "\"2M\"", 2 << 20, NULL },
		{ "2X", 0,
		    "tern.yml:2:3: limits.send_queue: '2X' is not a size "
		    "(bytes, or a number with a k, M or G suffix: 512, 64k, "
		    "2M, 1G)" },
		{ "2MB", 0,
		    "tern.yml:2:3: limits.send_queue: '2MB' is not a size "
		    "(bytes, or a number with a k, M or G suffix: 512, 64k, "
		    "2M, 1G)" },
		{ "k", 0,
		    "tern.yml:2:3: limits.send_queue: 'k' is not a size "
		    "(bytes, or a number with a k, M or G suffix: 512, 64k, "
		    "2M, 1G)" },
		{ "-1k", 0,
		    "tern.yml:2:3: limits.send_queue: '-1k' is not a size "
		    "(bytes, or a number with a k, M or G suffix: 512, 64k, "
		    "2M, 1G)" },
		{ "1.5M", 0,
		    "tern.yml:2:3: limits.send_queue: '1.5M' is not a size "
		    "(bytes, or a number with a k, M or G suffix: 512, 64k, "
		    "2M, 1G)" },
		{ "65535", 0,
		    "tern.yml:2:3: limits.send_queue: 65535 is out of range "
		    "(64k..1G)" },
		{ "2G", 0,
		    "tern.yml:2:3: limits.send_queue: 2G is out of range "
		    "(64k..1G)" },
		{ "99999999999G", 0,
		    "tern.yml:2:3: limits.send_queue: 99999999999G is out of "
		    "range (64k..1G)" },
		{ "99999999999999999999", 0,
		    "tern.yml:2:3: limits.send_queue: 99999999999999999999 "
		    "is out of range (64k..1G)" },
		{ "[1]", 0,
		    "tern.yml:2:3: limits.send_queue: expected a scalar, not "
		    "a sequence" },
		{ "", 0, "tern.yml:2:3: limits.send_queue: missing value" },
	};

	UNUSED(state);
	check_values("limits", "send_queue", cases,
	    ARRAY_LEN(cases));
}

static void
test_durations(void **state)
{
	static const struct value_case cases[] = {
		{ "0", 0, NULL },
		{ "45", 45, NULL },
		{ "45s", 45, NULL },
		{ "5m", 300, NULL },
		{ "2h", 7200, NULL },
		{ "7d", 7 * 86400, NULL },
		{ "604800", 604800, NULL },
		{ "8d", 0,
		    "tern.yml:2:3: limits.idle_timeout: 8d is out of range "
		    "(0..7d)" },
		{ "5M", 0,
		    "tern.yml:2:3: limits.idle_timeout: '5M' is not a "
		    "duration (seconds, or a number with an s, m, h or d "
		    "suffix: 30, 30s, 5m, 2h, 7d)" },
		{ "1h30m", 0,
		    "tern.yml:2:3: limits.idle_timeout: '1h30m' is not a "
		    "duration (seconds, or a number with an s, m, h or d "
		    "suffix: 30, 30s, 5m, 2h, 7d)" },
		{ "soon", 0,
		    "tern.yml:2:3: limits.idle_timeout: 'soon' is not a "
		    "duration (seconds, or a number with an s, m, h or d "
		    "suffix: 30, 30s, 5m, 2h, 7d)" },
	};
	static const struct value_case unauth[] = {
		{ "1s", 1, NULL },
		{ "1h", 3600, NULL },
		{ "0", 0,
		    "tern.yml:2:3: limits.unauth_timeout: 0 is out of range "
		    "(1s..1h)" },
		{ "61m", 0,
		    "tern.yml:2:3: limits.unauth_timeout: 61m is out of range "
		    "(1s..1h)" },
	};

	UNUSED(state);
	check_values("limits", "idle_timeout", cases,
	    ARRAY_LEN(cases));
	check_values("limits", "unauth_timeout", unauth,
	    ARRAY_LEN(unauth));
}

static void
test_ints_bools_enums(void **state)
{
	static const struct value_case ints[] = {
		{ "4", 4, NULL },
		{ "+1024", 1024, NULL },
		{ "3", 0,
		    "tern.yml:2:3: limits.xml_depth: 3 is out of range "
		    "(4..1024)" },
		{ "-5", 0,
		    "tern.yml:2:3: limits.xml_depth: -5 is out of range "
		    "(4..1024)" },
		{ "1k", 0,
		    "tern.yml:2:3: limits.xml_depth: '1k' is not a whole "
		    "number" },
		{ "0x10", 0,
		    "tern.yml:2:3: limits.xml_depth: '0x10' is not a whole "
		    "number" },
		{ "{a: 1}", 0,
		    "tern.yml:2:3: limits.xml_depth: expected a scalar, not "
		    "a mapping" },
	};
	static const struct value_case bools[] = {
		{ "true", 1, NULL },
		{ "True", 1, NULL },
		{ "yes", 1, NULL },
		{ "on", 1, NULL },
		{ "ON", 1, NULL },
		{ "false", 0, NULL },
		{ "no", 0, NULL },
		{ "off", 0, NULL },
		{ "\"no\"", 0, NULL },
		{ "1", 0,
		    "tern.yml:2:3: tls.c2s_require_tls: '1' is not a boolean "
		    "(true/false, yes/no, on/off)" },
		{ "maybe", 0,
		    "tern.yml:2:3: tls.c2s_require_tls: 'maybe' is not a "
		    "boolean (true/false, yes/no, on/off)" },
	};
	static const struct value_case enums[] = {
		{ "1.2", 0, NULL },
		{ "'1.3'", 1, NULL },
		{ "1.1", 0,
		    "tern.yml:2:3: tls.min_version: '1.1' is not one of: 1.2, "
		    "1.3" },
		{ "1.30", 0,
		    "tern.yml:2:3: tls.min_version: '1.30' is not one of: "
		    "1.2, 1.3" },
	};

	UNUSED(state);
	check_values("limits", "xml_depth", ints, ARRAY_LEN(ints));
	check_values("tls", "c2s_require_tls", bools,
	    ARRAY_LEN(bools));
	check_values("tls", "min_version", enums, ARRAY_LEN(enums));
}

/* The retention: section holds every kept-for duration (issue 17 item
 * 3); "forever" is 0; "policy" (follow the section) is only for a
 * module's own override, never for the section itself. */
static void
test_retention_section(void **state)
{
	char err[ERRLEN];
	struct config *c;

	UNUSED(state);
	c = load("retention: { uploads: forever, muc_archive: 2d }\n", err);
	assert_non_null(c);
	assert_int_equal(c->retention.uploads, 0);
	assert_int_equal(c->retention.muc_archive, 2 * 86400);
	assert_int_equal(c->retention.archive, 7 * 86400);
	config_free(c);
	c = load("log_level: info\n", err);
	assert_non_null(c);
	assert_int_equal(c->retention.uploads, 7 * 86400);
	assert_int_equal(c->retention.muc_archive, 365 * 86400);
	assert_int_equal(cfg_keep(-1, c->retention.uploads), 7 * 86400);
	assert_int_equal(cfg_keep(60, c->retention.uploads), 60);
	assert_int_equal(cfg_keep(0, c->retention.uploads), 0);
	config_free(c);
	expect_error("retention: { uploads: policy }\n",
	    "tern.yml:1:14: retention.uploads: 'policy' is not a duration "
	    "(seconds, or a number with an s, m, h or d suffix: 30, 30s, 5m, "
	    "2h, 7d)");
}

/* ---- errors ---- */

static void
test_errors_keys_and_types(void **state)
{
	UNUSED(state);
	expect_error("log_level: info\n\nlisenters: []\n",
	    "tern.yml:3:1: unknown key 'lisenters' (did you mean "
	    "'listeners'?)");
	expect_error("frobnicate: 1\n",
	    "tern.yml:1:1: unknown key 'frobnicate'");
	expect_error("limits:\n  xml_dept: 5\n",
	    "tern.yml:2:3: limits: unknown key 'xml_dept' (did you mean "
	    "'xml_depth'?)");
	expect_error("limits:\n  xml_deep: 5\n",
	    "tern.yml:2:3: limits: unknown key 'xml_deep'");
	expect_error("listeners:\n  - type: c2s\n    address: 127.0.0.1\n"
		     "    port: 5222\n  - type: c2s\n    address: 127.0.0.1\n"
		     "    port: 70000\n",
	    "tern.yml:7:5: listeners[1].port: 70000 is out of range "
	    "(1..65535)");
	expect_error("limits: 5\n",
	    "tern.yml:1:1: limits: expected a mapping, not a scalar");
	expect_error("storage: [sqlite]\n",
	    "tern.yml:1:1: storage: expected a mapping, not a sequence");
	expect_error("listeners:\n  type: c2s\n",
	    "tern.yml:1:1: listeners: expected a sequence, not a mapping");
	expect_error("listeners:\n  - c2s\n",
	    "tern.yml:2:5: listeners[0]: expected a mapping, not a scalar");
	expect_error("listeners:\n  -\n",
	    "tern.yml:2:4: listeners[0]: expected a mapping, not an empty "
	    "value");
	expect_error("hosts:\n  - name: a.example\n    modules: ping\n",
	    "tern.yml:3:5: hosts[0].modules: expected a sequence, not a "
	    "scalar");
	expect_error("hosts:\n  - name: a.example\n    modules: [[ping]]\n",
	    "tern.yml:3:15: hosts[0].modules[0]: expected a string, not a "
	    "sequence");
	expect_error("- a\n- b\n",
	    "tern.yml:1:1: expected a mapping at the top level, not a "
	    "sequence");
	expect_error("hello\n",
	    "tern.yml:1:1: expected a mapping at the top level, not a "
	    "scalar");
	expect_error("log_level: info\nlimits:\n  xml_depth: 8\n"
		     "log_level: warn\n",
	    "tern.yml:4:1: duplicate key 'log_level' (first at line 1)");
	expect_error("limits: {xml_depth: 8, xml_depth: 9}\n",
	    "tern.yml:1:24: limits: duplicate key 'xml_depth' (first at "
	    "line 1)");
	expect_error("listeners:\n  - type: c2s\n    port: 5222\n",
	    "tern.yml:2:5: listeners[0]: missing required key 'address'");
	expect_error("components:\n  - {name: a.example}\n",
	    "tern.yml:2:5: components[0]: missing required key 'secret'");
	expect_error("listeners:\n  - type: bosh\n    address: \"*\"\n"
		     "    port: 5280\n",
	    "tern.yml:2:5: listeners[0].type: 'bosh' is not one of: c2s, "
	    "c2s_tls, component, s2s, s2s_tls, http, https");
	expect_error("log_level: verbose\n",
	    "tern.yml:1:1: log_level: 'verbose' is not one of: error, warn, "
	    "info, debug");
	expect_error("listeners:\n  - type: c2s\n    address: ~\n"
		     "    port: 5222\n",
	    "tern.yml:3:5: listeners[0].address: missing value");
	expect_error("storage:\n  path: \"\"\n",
	    "tern.yml:2:3: storage.path: the path must not be empty");
	expect_error("storage:\n  path:\n",
	    "tern.yml:2:3: storage.path: missing value");
	expect_error("tls:\n  ciphers: \"a\\0b\"\n",
	    "tern.yml:2:3: tls.ciphers: contains a NUL byte");
	expect_error("{[a]: 1}\n",
	    "tern.yml:1:2: mapping keys must be plain strings");
}

static void
test_errors_yaml(void **state)
{
	char *big, *deep, err[ERRLEN];
	size_t i;
	struct config *c;

	UNUSED(state);
	expect_error("limits:\n  xml_depth: 5\n xml_attrs: 5\n",
	    "tern.yml:3:2: syntax error: did not find expected key (while "
	    "parsing a block mapping that started at line 1, column 1)");
	expect_error("a: b: c\n",
	    "tern.yml:1:5: syntax error: mapping values are not allowed in "
	    "this context");
	expect_error("listeners: [\n",
	    "tern.yml:2:1: syntax error: did not find expected node content "
	    "(while parsing a flow node that started at line 2, column 1)");
	expect_error("log_level: \"info\n",
	    "tern.yml:2:1: syntax error: found unexpected end of stream "
	    "(while scanning a quoted scalar that started at line 1, "
	    "column 12)");
	expect_error("log_level: \xff\n",
	    "tern.yml:1:12: syntax error: invalid leading UTF-8 octet "
	    "(#FF)");
	expect_error("log_level: &lvl info\n",
	    "tern.yml:1:12: anchors (&lvl) are not supported; write the "
	    "value out");
	expect_error("a: &x [1]\nb: *x\n",
	    "tern.yml:1:4: anchors (&x) are not supported; write the value "
	    "out");
	expect_error("log_level: *lvl\n",
	    "tern.yml:1:12: aliases are not supported; write the value "
	    "out");
	expect_error("log_level: !!str info\n",
	    "tern.yml:1:12: tags (tag:yaml.org,2002:str) are not "
	    "supported");
	expect_error("log_level: info\n---\nlog_level: warn\n",
	    "tern.yml:2:1: only one YAML document is allowed");

	/* 33 nested sequences: one too deep. */
	deep = xmalloc(128);
	for (i = 0; i < 33; i++)
		deep[i] = '[';
	deep[33] = '\0';
	c = load(deep, err);
	assert_null(c);
	assert_string_equal(err,
	    "tern.yml:1:33: nesting is deeper than 32 levels");
	/* 32 levels parse (and then fail on meaning, not depth). */
	memset(deep, 0, 128);
	strcpy(deep, "a: ");
	for (i = 0; i < 31; i++)
		strcat(deep, "[");
	for (i = 0; i < 31; i++)
		strcat(deep, "]");
	c = load(deep, err);
	assert_null(c);
	assert_string_equal(err, "tern.yml:1:1: unknown key 'a'");
	free(deep);

	big = xmalloc(1024 * 1024 + 2);
	memset(big, '#', 1024 * 1024 + 1);
	big[1024 * 1024 + 1] = '\0';
	c = config_load_mem(big, 1024 * 1024 + 1, "tern.yml", err, ERRLEN);
	assert_null(c);
	assert_string_equal(err, "tern.yml: the file is larger than 1 MiB");
	big[0] = '\n';
	c = config_load_mem(big, 1024 * 1024, "tern.yml", err, ERRLEN);
	if (c == NULL)
		fail_msg("%s", err);
	config_free(c);
	free(big);

	/* A short error buffer gets a truncated, terminated message. */
	c = config_load_mem("x: 1", 4, "tern.yml", err, 9);
	assert_null(c);
	assert_string_equal(err, "tern.yml");
	c = config_load_mem("x: 1", 4, "tern.yml", NULL, 0);
	assert_null(c);
}

static void
test_errors_cross_checks(void **state)
{
	UNUSED(state);
	expect_error("listeners:\n"
		     "  - {type: c2s, address: 127.0.0.1, port: 5222}\n"
		     "  - {type: c2s, address: \"::1\", port: 5222}\n"
		     "  - {type: c2s_tls, address: 127.0.0.1, port: 5222}\n",
	    "tern.yml:4:5: listeners[2]: 127.0.0.1 port 5222 conflicts "
	    "with listeners[0] (127.0.0.1 port 5222)");
	expect_error("listeners:\n"
		     "  - {type: c2s, address: \"::1\", port: 5222}\n"
		     "  - {type: c2s, address: \"0:0::1\", port: 5222}\n",
	    "tern.yml:3:5: listeners[1]: 0:0::1 port 5222 conflicts with "
	    "listeners[0] (::1 port 5222)");
	expect_error("listeners:\n"
		     "  - {type: c2s, address: 127.0.0.1, port: 5222}\n"
		     "  - {type: c2s, address: \"*\", port: 5223}\n"
		     "  - {type: c2s, address: \"*\", port: 5222}\n",
	    "tern.yml:4:5: listeners[2]: * port 5222 conflicts with "
	    "listeners[0] (127.0.0.1 port 5222)");
	expect_error("listeners:\n"
		     "  - {type: c2s, address: 127.0.0.1, port: 5222}\n"
		     "  - {type: c2s, address: \"::\", port: 5222}\n"
		     "  - {type: c2s, address: 0.0.0.0, port: 5222}\n",
	    "tern.yml:4:5: listeners[2]: 0.0.0.0 port 5222 conflicts with "
	    "listeners[0] (127.0.0.1 port 5222)");
	expect_error("listeners:\n"
		     "  - {type: c2s, address: localhost, port: 5222}\n",
	    "tern.yml:2:17: listeners[0].address: 'localhost' is not an IP "
	    "address or '*'");
	expect_error("hosts:\n  - name: example.org\n  - name: a.example\n"
		     "  - name: EXAMPLE.org\n",
	    "tern.yml:4:5: hosts[2].name: 'example.org' is already "
	    "hosts[0]");
	expect_error("hosts:\n  - name: user@example.org\n",
	    "tern.yml:2:5: hosts[0].name: 'user@example.org' is not a domain "
	    "name (no @ or / allowed)");
	expect_error("hosts:\n  - name: \"exa mple.org\"\n",
	    "tern.yml:2:5: hosts[0].name: 'exa mple.org' is not a valid "
	    "domain name");
	expect_error("hosts:\n  - modules: []\n",
	    "tern.yml:2:5: hosts[0]: missing required key 'name'");
	expect_error("hosts:\n  - name: example.org\n"
		     "components:\n  - name: Example.org\n    secret: s\n",
	    "tern.yml:4:5: components[0].name: 'example.org' is already "
	    "hosts[0]; a component needs a domain of its own");
	expect_error("components:\n  - {name: c.example, secret: s}\n"
		     "  - {name: c.example, secret: t}\n",
	    "tern.yml:3:6: components[1].name: 'c.example' is already "
	    "components[0]");
	expect_error("components:\n  - {name: c.example, secret: ''}\n",
	    "tern.yml:2:23: components[0].secret: must not be empty");
}

static void
test_errors_modules(void **state)
{
	char want[ERRLEN], list[ERRLEN / 2];
	size_t i, j;
	const struct module *m, *dep_mod = NULL, *noconf = NULL;
	char yaml[512];

	UNUSED(state);
	list[0] = '\0';
	for (i = 0; i < module_registry_len; i++) {
		if (i > 0)
			strcat(list, ", ");
		strcat(list, module_registry[i]->name);
	}
	snprintf(want, sizeof(want),
	    "tern.yml:3:31: hosts[0].modules[2]: unknown module 'pnig' "
	    "(known: %s)",
	    list);
	want[ERRLEN - 1] = '\0';
	expect_error("hosts:\n  - name: example.org\n"
		     "    modules: [disco, version, pnig]\n",
	    want);
	expect_error("hosts:\n  - name: example.org\n"
		     "    modules:\n      - ping\n      - disco\n"
		     "      - ping\n",
	    "tern.yml:6:9: hosts[0].modules[2]: module 'ping' is listed "
	    "twice (first as modules[0])");
	expect_error("hosts:\n  - name: example.org\n    modules: [ping]\n"
		     "    version:\n      hide_os: true\n",
	    "tern.yml:4:5: hosts[0].version: module 'version' is not "
	    "enabled on this host (add it to modules)");
	expect_error("hosts:\n  - name: example.org\n    modules: [version]\n"
		     "    version:\n      hide_os: sometimes\n",
	    "tern.yml:5:7: hosts[0].version.hide_os: 'sometimes' is not a "
	    "boolean (true/false, yes/no, on/off)");
	expect_error("hosts:\n  - name: example.org\n    modules: [version]\n"
		     "    version:\n      hide_kernel: true\n",
	    "tern.yml:5:7: hosts[0].version: unknown key 'hide_kernel'");
	expect_error("hosts:\n  - name: example.org\n    modules: [version]\n"
		     "    version: [hide_os]\n",
	    "tern.yml:4:5: hosts[0].version: expected a mapping, not a "
	    "sequence");
	expect_error("hosts:\n  - name: example.org\n    modules: [version]\n"
		     "    version: {}\n    version: {}\n",
	    "tern.yml:5:5: hosts[0]: duplicate key 'version' (first at line "
	    "4)");
	expect_error("hosts:\n  - name: example.org\n    modules: [version]\n"
		     "    verison: {}\n",
	    "tern.yml:4:5: hosts[0]: unknown key 'verison' (did you mean "
	    "'version'?)");

	for (i = 0; i < module_registry_len; i++) {
		m = module_registry[i];
		if (noconf == NULL && m->config == NULL)
			noconf = m;
		if (dep_mod == NULL && m->depends != NULL &&
		    m->depends[0] != NULL)
			dep_mod = m;
	}
	if (noconf != NULL) {
		snprintf(yaml, sizeof(yaml),
		    "hosts:\n  - name: example.org\n    modules: [%s]\n"
		    "    %s: {}\n",
		    noconf->name, noconf->name);
		snprintf(want, sizeof(want),
		    "tern.yml:4:5: hosts[0].%s: module '%s' has no settings",
		    noconf->name, noconf->name);
		expect_error(yaml, want);
	}
	if (dep_mod != NULL) {
		/* The module alone: its first dependency is missing. */
		snprintf(yaml, sizeof(yaml),
		    "hosts:\n  - name: example.org\n    modules: [%s]\n",
		    dep_mod->name);
		snprintf(want, sizeof(want),
		    "tern.yml:3:15: hosts[0].modules[0]: module '%s' needs "
		    "'%s', which is not enabled on this host",
		    dep_mod->name, dep_mod->depends[0]);
		expect_error(yaml, want);
		/* With its dependencies it loads. */
		snprintf(yaml, sizeof(yaml),
		    "hosts:\n  - name: example.org\n    modules: [%s",
		    dep_mod->name);
		for (j = 0; dep_mod->depends[j] != NULL; j++) {
			strcat(yaml, ", ");
			strcat(yaml, dep_mod->depends[j]);
		}
		strcat(yaml, "]\n");
		{
			char err[ERRLEN];
			struct config *c = load(yaml, err);

			if (c == NULL)
				fail_msg("%s", err);
			config_free(c);
		}
	}
}

/* ---- files and paths ---- */

static void
test_paths(void **state)
{
	char tmpl[] = "/tmp/tern-config-XXXXXX", *dir, file[256], sub[256];
	char err[ERRLEN], want[512], *cwd;
	struct config *c;
	FILE *f;

	UNUSED(state);
	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	snprintf(sub, sizeof(sub), "%s/etc", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(file, sizeof(file), "%s/etc/tern.yml", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("pidfile: ../run/tern.pid\ncontrol_socket: ctl.sock\n"
	      "storage:\n  path: ./db//tern.db\n"
	      "tls:\n  cert_dir: /srv/certs\n",
	    f);
	fclose(f);

	/* Loaded by a relative path from the parent directory. */
	cwd = getcwd(NULL, 0);
	assert_non_null(cwd);
	assert_int_equal(chdir(dir), 0);
	c = config_load("./etc//tern.yml", err, sizeof(err));
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
	if (c == NULL)
		fail_msg("%s", err);
	assert_string_equal(c->file, file);
	snprintf(want, sizeof(want), "%s/etc/../run/tern.pid", dir);
	assert_string_equal(c->pidfile, want);
	snprintf(want, sizeof(want), "%s/etc/ctl.sock", dir);
	assert_string_equal(c->control_socket, want);
	snprintf(want, sizeof(want), "%s/etc/db/tern.db", dir);
	assert_string_equal(c->storage.path, want);
	assert_string_equal(c->tls.cert_dir, "/srv/certs");
	config_free(c);

	/* Defaults resolve against the file's directory too. */
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("log_level: warn\n", f);
	fclose(f);
	c = config_load(file, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	snprintf(want, sizeof(want), "%s/etc/tern.db", dir);
	assert_string_equal(c->storage.path, want);
	snprintf(want, sizeof(want), "%s/etc/certs", dir);
	assert_string_equal(c->tls.cert_dir, want);
	config_free(c);

	/* Errors name the file as it was given. */
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("limits:\n  xml_depth: 2\n", f);
	fclose(f);
	c = config_load(file, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want),
	    "%s: limits.xml_depth: 2 is out of range (4..1024)", file);
	assert_true(strstr(err, want + strlen(file)) != NULL);
	assert_int_equal(strncmp(err, file, strlen(file)), 0);
	assert_string_equal(err + strlen(file), ":2:3: limits.xml_depth: 2 "
						"is out of range (4..1024)");

	assert_int_equal(unlink(file), 0);
	c = config_load(file, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s: cannot open: %s", file,
	    strerror(ENOENT));
	assert_string_equal(err, want);
	c = config_load(sub, err, sizeof(err));
	assert_null(c);
	snprintf(want, sizeof(want), "%s: cannot read: %s", sub,
	    strerror(EISDIR));
	assert_string_equal(err, want);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- the generated reference ---- */

static void
check_doc_keys(const char *doc, const struct cfg_section *sec,
    const char *prefix)
{
	const struct cfg_directive *d;
	char key[256], sub[256];

	for (d = sec->dirs; d->name != NULL; d++) {
		snprintf(key, sizeof(key), "| `%s%s` |", prefix, d->name);
		if (strstr(doc, key) == NULL)
			fail_msg("%s missing from the docs", key);
		assert_non_null(d->doc);
		assert_true(strstr(doc, d->doc) != NULL);
		if (d->type == CFG_SECTION || d->type == CFG_LIST) {
			snprintf(sub, sizeof(sub), "%s%s%s.", prefix, d->name,
			    d->type == CFG_LIST ? "[]" : "");
			check_doc_keys(doc, d->sub, sub);
		}
	}
}

static char *
write_docs(size_t *len)
{
	char *doc = NULL;
	FILE *f = open_memstream(&doc, len);

	assert_non_null(f);
	config_write_docs(f);
	assert_int_equal(fclose(f), 0);
	return doc;
}

static void
test_docs(void **state)
{
	char *doc, *again, needle[256];
	size_t len, len2, i;
	const struct module *m;

	UNUSED(state);
	doc = write_docs(&len);
	assert_true(strncmp(doc, "# Tern configuration reference\n", 31) ==
	    0);
	check_doc_keys(doc, &config_root, "");
	assert_non_null(strstr(doc,
	    "| `limits.c2s_stanza_size` | size (4k..16M) | `256k` | "));
	assert_non_null(strstr(doc,
	    "| `limits.idle_timeout` | duration (0..7d) | `0` | "));
	assert_non_null(strstr(doc,
	    "| `listeners[].type` | one of `c2s`, `c2s_tls`, `component`, "
	    "`s2s`, `s2s_tls`, `http`, `https` | required | "));
	assert_non_null(strstr(doc,
	    "| `listeners[].port` | integer (1..65535) | required | "));
	assert_non_null(strstr(doc, "| `pidfile` | string | none | "));
	assert_non_null(strstr(doc, "## `listeners`\n"));
	assert_non_null(strstr(doc, "## Modules\n"));
	for (i = 0; i < module_registry_len; i++) {
		m = module_registry[i];
		snprintf(needle, sizeof(needle), "### `%s`\n", m->name);
		assert_non_null(strstr(doc, needle));
		if (m->features != NULL && m->features[0] != NULL) {
			snprintf(needle, sizeof(needle), "`%s`",
			    m->features[0]);
			assert_non_null(strstr(doc, needle));
		}
		if (m->config != NULL) {
			snprintf(needle, sizeof(needle), "hosts[].%s.",
			    m->name);
			check_doc_keys(doc, m->config, needle);
		}
	}
	assert_non_null(strstr(doc, "| `hosts[].version.hide_os` | bool | "
				    "`false` | "));
	/* Deterministic: the same bytes every time. */
	again = write_docs(&len2);
	assert_int_equal(len, len2);
	assert_memory_equal(doc, again, len);
	free(doc);
	free(again);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_module_defaults),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_ints_bools_enums),
		cmocka_unit_test(test_errors_keys_and_types),
		cmocka_unit_test(test_errors_yaml),
		cmocka_unit_test(test_errors_cross_checks),
		cmocka_unit_test(test_errors_modules),
		cmocka_unit_test(test_retention_section),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_docs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

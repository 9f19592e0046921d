/* config.h: the YAML configuration, described by directive tables that are
 * the single source of truth for parsing, validation, defaults and the
 * generated reference in docs/configuration.md.
 *
 * A table (struct cfg_section) describes one YAML mapping and the C struct
 * it fills. Unknown keys are errors. Errors carry file:line:column and the
 * key's dotted path, e.g.
 *   tern.yml:12:5: listeners[1].port: 70000 is out of range (1..65535) */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum cfg_type {
	CFG_BOOL,     /* int: 0/1; YAML true/false/yes/no/on/off */
	CFG_INT,      /* long long, bounded by min..max */
	CFG_SIZE,     /* long long bytes; accepts 1024, "64k", "2M", "1G" */
	CFG_DURATION, /* long long seconds; accepts 30, "30s", "5m", "2h", "7d"
		       */
	CFG_STRING,   /* char *, xstrdup'd */
	CFG_ENUM,     /* int index into choices */
	CFG_STRLIST,  /* struct cfg_strlist: a sequence of scalars */
	CFG_SECTION,  /* a nested mapping filling the struct at offset */
	CFG_LIST,     /* struct cfg_list: a sequence of mappings of sub */
};

struct cfg_strlist {
	char **v;
	size_t n;
};

struct cfg_list {
	void *items; /* n elements of sub->size bytes each */
	size_t n;
};

struct cfg_section;

struct cfg_directive {
	const char *name;
	enum cfg_type type;
	size_t offset;	    /* offsetof() in the struct the section fills */
	const char *def;    /* default, as YAML scalar text; NULL: none */
	long long min, max; /* bounds for INT, SIZE, DURATION */
	const char *const *choices;    /* ENUM: NULL-terminated */
	const struct cfg_section *sub; /* SECTION and LIST */
	int required;
	const char *doc; /* one line for the reference */
};

struct cfg_section {
	const char *name;		  /* for docs */
	const struct cfg_directive *dirs; /* terminated by { .name = NULL } */
	size_t size; /* sizeof the struct (LIST elements) */
	const char *doc;
};

/* ---- ternd's configuration ---- */

enum listener_kind {
	LISTEN_C2S,
	LISTEN_C2S_TLS,
	LISTEN_COMPONENT,
	LISTEN_S2S,
	LISTEN_S2S_TLS,
	LISTEN_HTTP,
	LISTEN_HTTPS,
};
/* "c2s", "c2s_tls", "component", "s2s", "s2s_tls", "http", "https" */
extern const char *const cfg_listener_kinds[];

struct cfg_listener {
	int kind;      /* enum listener_kind */
	char *address; /* "127.0.0.1", "::1", "*" (all v4+v6) */
	long long port;
	int metrics; /* http/https: serve /metrics here */
};

/* The HTTP server's limits (net/http.c). */
struct cfg_http {
	long long max_request_line; /* bytes of the request target */
	long long max_header_size;  /* bytes of all header lines */
	long long max_headers;	    /* header lines */
	long long max_body;	    /* default body limit of a route */
	long long header_timeout;   /* seconds from a request's start */
	long long idle_timeout;	    /* keep-alive, and between body reads */
};

/* A service domain under a host: a module serves it (group chat on
 * conference.<host>, upload on upload.<host>). */
struct cfg_service {
	char *module;	    /* a module that runs on service domains */
	char *domain;	    /* the service's domain, prepared */
	unsigned line, col; /* where domain was given, for errors */
};

struct cfg_host {
	char *name;		    /* the virtual host's domain, prepared */
	struct cfg_strlist modules; /* enabled module names */
	struct cfg_list services;   /* struct cfg_service */
	struct cfg_strlist admins;  /* bare JIDs, prepared */
	/* Per-module settings, indexed like module_registry[]: a struct of
	 * module->config_size bytes filled from the host's "<module>:"
	 * mapping (defaults applied when absent), or NULL when the module
	 * declares no config. */
	void **modcfg;
};

struct cfg_component {
	char *name; /* the component's domain */
	char *secret;
};

struct cfg_limits {
	long long c2s_stanza_size;
	long long unauth_stanza_size;
	long long xml_depth;
	long long xml_attrs;
	long long unauth_timeout; /* seconds from connect to authenticated */
	long long idle_timeout;	  /* seconds without any input -> close */
	long long sasl_failures_per_ip; /* per minute; then throttled */
	long long sasl_retries;		/* failed SASL attempts per stream */
	long long sessions_per_account;
	long long send_queue; /* bytes queued for one connection */
	long long conns_per_ip;
	long long c2s_rate;	       /* bytes/s per client connection */
	long long c2s_burst;	       /* token bucket size */
	long long iq_in_flight;	       /* unanswered iq requests per session */
	long long account_storage;     /* bytes per account; 0: no quota */
	long long fast_token_lifetime; /* seconds (XEP-0484) */
	long long fast_tokens_per_account; /* user agents with a token */
};

struct cfg_tls {
	char *cert_dir;	 /* *.pem (cert chain + key, or key in *.key beside) */
	int min_version; /* index into cfg_tls_versions: "1.2", "1.3" */
	char *ciphers;	 /* TLS 1.2 cipher list (OpenSSL syntax) */
	int c2s_require_tls;
	int light_sessions; /* bound TLS 1.3 clients without an SSL object */
};
extern const char *const cfg_tls_versions[];

struct cfg_storage {
	int backend;		 /* index into cfg_storage_backends */
	char *path;		 /* SQLite database file */
	long long account_cache; /* bytes of per-account state kept */
	long long account_queue; /* stanzas waiting for one account's */
	int deferred_loads;	 /* memory backend: answer loads later */
};
extern const char *const cfg_storage_backends[];

/* A fixed route to a remote server (instead of DNS). */
struct cfg_s2s_route {
	char *domain;
	char *address; /* IP address */
	long long port;
	int direct_tls; /* TLS from the first byte (XEP-0368) */
};

struct cfg_s2s {
	int enabled;	 /* outgoing federation */
	int secure_auth; /* peers must present a valid certificate */
	struct cfg_strlist secure_domains;   /* ...these always */
	struct cfg_strlist insecure_domains; /* ...these never (dialback) */
	char *ca_file;		/* trust store; NULL: the system's */
	char *dns_server;	/* "ip" or "ip@port"; NULL: /etc/resolv.conf */
	struct cfg_list routes; /* struct cfg_s2s_route */
	struct cfg_strlist blocked; /* never talk to these */
	struct cfg_strlist allowed; /* non-empty: only these */
	long long connect_timeout;
	long long idle_timeout;
	long long stanza_size;
	long long queue_size; /* bytes waiting for a connection */
	long long streams_per_domain;
	long long rate;	 /* bytes/s one incoming stream may send */
	char *tor_proxy; /* SOCKS5 "ip:port" for .onion domains, or NULL */
	int tor_all;	 /* every outgoing stream through tor_proxy */
};

/* How long the server keeps what it stores for users (seconds; 0: for
 * ever), and how the expiry paces itself. */
struct cfg_retention {
	long long archive;     /* message archive (XEP-0313) */
	long long offline;     /* offline messages (XEP-0160) */
	long long push;	       /* push registrations not renewed (XEP-0357) */
	long long muc_archive; /* group chat archives (muc) */
	long long uploads;     /* uploaded files (upload) */
	long long interval;    /* from one expiry pass to the next */
	long long batch;       /* items deleted per loop iteration at most */
};

/* Account housekeeping (accounts: section; seconds, 0: off). */
struct cfg_accounts {
	long long deletion_grace;   /* deleted accounts restorable this long */
	long long inactive_delete;  /* delete accounts unused this long */
	long long inactive_warning; /* warn this long before */
	char *inactive_message;	    /* the warning's text; NULL: built in */
};

/* A module's own duration that may say "policy" (-1): the server-wide
 * retention value instead. */
static inline long long
cfg_keep(long long own, long long policy)
{
	return own < 0 ? policy : own;
}

struct config {
	char *file;    /* the path it was loaded from */
	int log_level; /* index into cfg_log_levels (= enum log_level) */
	int log_syslog;
	char *pidfile;	      /* may be NULL */
	char *control_socket; /* unix socket ternctl talks to */
	struct cfg_storage storage;
	struct cfg_tls tls;
	struct cfg_limits limits;
	struct cfg_http http;
	struct cfg_list listeners;  /* struct cfg_listener */
	struct cfg_list hosts;	    /* struct cfg_host */
	struct cfg_list components; /* struct cfg_component */
	struct cfg_s2s s2s;
	struct cfg_retention retention;
	struct cfg_accounts accounts;
};
extern const char *const cfg_log_levels[];

extern const struct cfg_section config_root;

/* Load and validate path. On error returns NULL and writes a message
 * ("file:line:col: key.path: what is wrong") into err. */
struct config *config_load(const char *path, char *err, size_t errlen);
/* The same from len bytes of YAML in memory; name is the file name used
 * in messages and to resolve relative paths (tests, the fuzz target). */
struct config *config_load_mem(
    const char *buf, size_t len, const char *name, char *err, size_t errlen);
void config_free(struct config *c); /* NULL: no-op */

/* Fill a struct from a section's defaults (for a module's settings when
 * the host has no mapping for it). */
void config_defaults(const struct cfg_section *sec, void *base);

/* Write the Markdown reference generated from config_root and every
 * module's table (docs/configuration.md). */
void config_write_docs(FILE *out);

struct cfg_host *config_host(const struct config *c, const char *name);
/* Does the host's modules: list name module? (host_has_module asks the
 * running host.) */
int config_host_has_module(const struct cfg_host *h, const char *module);

#endif

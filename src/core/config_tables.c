/* config_tables.c: the directive tables of the core sections (global
 * settings, storage, tls, limits, listeners, hosts, components) and the
 * names of their enumerations. */
#include "core/config.h"

#include <stddef.h>

#include "core/config_int.h"

/* ---- the tables ---- */

const char *const cfg_listener_kinds[] = { "c2s", "c2s_tls", "component", "s2s",
	"s2s_tls", "http", "https", NULL };
const char *const cfg_tls_versions[] = { "1.2", "1.3", NULL };
const char *const cfg_storage_backends[] = { "sqlite", "memory", NULL };
/* Same order as enum log_level. */
const char *const cfg_log_levels[] = { "error", "warn", "info", "debug", NULL };

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
	{ .name = "account_cache",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_storage, account_cache),
	    .def = "32M",
	    .min = 0,
	    .max = 64 * GIB,
	    .doc = "Memory for the per-account state routing reads on every "
		   "stanza (account existence, roster, blocklist, archive "
		   "preferences, offline usage), loaded once per account; "
		   "past it the least recently used accounts are dropped at "
		   "the end of each loop iteration." },
	{ .name = "account_queue",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_storage, account_queue),
	    .def = "256",
	    .min = 1,
	    .max = 1000000,
	    .doc = "Stanzas that may wait for one account's state to load; "
		   "more get a resource-constraint error (type wait)." },
	{ .name = "deferred_loads",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct cfg_storage, deferred_loads),
	    .def = "false",
	    .doc = "For tests, with the memory backend: per-account state "
		   "loads complete on the next loop iteration, as a network "
		   "database's would, instead of at once. Ignored by "
		   "sqlite." },
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
	{ .name = "light_sessions",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct cfg_tls, light_sessions),
	    .def = "true",
	    .doc = "Once a client's session is bound and idle, carry its "
		   "TLS 1.3 records (AES-GCM, ChaCha20-Poly1305) without "
		   "OpenSSL's per-connection state, which holds about 13 "
		   "KiB for the handshake: the traffic keys and sequence "
		   "numbers OpenSSL reached go over, and KeyUpdate and "
		   "close_notify keep working. TLS 1.2 connections keep "
		   "OpenSSL's state." },
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
	{ .name = "fast_token_lifetime",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_limits, fast_token_lifetime),
	    .def = "14d",
	    .min = 1,
	    .max = 31536000,
	    .doc = "How long a login token (XEP-0484 FAST) stays valid after "
		   "it is issued; a client renews it before then." },
	{ .name = "fast_tokens_per_account",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_limits, fast_tokens_per_account),
	    .def = "10",
	    .min = 1,
	    .max = 100,
	    .doc = "Devices of one account holding a login token (XEP-0484 "
		   "FAST); a new one replaces the token closest to expiry." },
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
		   "(clients, direct TLS), component (XEP-0114), s2s "
		   "(other servers, STARTTLS; usually 5269), s2s_tls "
		   "(other servers, direct TLS, XEP-0368; usually 5270), "
		   "http or https (HTTP/1.1: file upload, host-meta, "
		   "metrics; usually ports 5280 and 5281)." },
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
	{ .name = "metrics",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct cfg_listener, metrics),
	    .def = "false",
	    .doc = "On an http or https listener: serve `/metrics` "
		   "(OpenMetrics text) there. Keep it off public ports." },
	{ .name = NULL },
};

static const struct cfg_directive http_dirs[] = {
	{ .name = "max_request_line",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_http, max_request_line),
	    .def = "4k",
	    .min = 64,
	    .max = 1024 * 1024,
	    .doc = "Longest request target (path and query); longer is "
		   "answered 414." },
	{ .name = "max_header_size",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_http, max_header_size),
	    .def = "16k",
	    .min = 256,
	    .max = 1024 * 1024,
	    .doc = "Most bytes of header lines in one request; more is "
		   "answered 431." },
	{ .name = "max_headers",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_http, max_headers),
	    .def = "64",
	    .min = 4,
	    .max = 1000,
	    .doc = "Most header lines in one request; more is answered "
		   "431." },
	{ .name = "max_body",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_http, max_body),
	    .def = "64k",
	    .min = 0,
	    .max = 1LL << 40,
	    .doc = "Largest request body a route takes unless it sets its "
		   "own limit (file upload does); larger is answered "
		   "413." },
	{ .name = "header_timeout",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_http, header_timeout),
	    .def = "10s",
	    .min = 1,
	    .max = 3600,
	    .doc = "Time a client has to send a request's headers, from "
		   "its first byte (or from connecting); then 408 and "
		   "close (against slowloris)." },
	{ .name = "idle_timeout",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_http, idle_timeout),
	    .def = "60s",
	    .min = 1,
	    .max = 86400,
	    .doc = "A kept-alive connection with no request, or a request "
		   "body with no bytes, for this long is closed (408 for a "
		   "stalled body)." },
	{ .name = NULL },
};

static const struct cfg_section http_section = {
	.name = "http",
	.dirs = http_dirs,
	.size = sizeof(struct cfg_http),
	.doc = "The HTTP server behind the http and https listeners.",
};

const struct cfg_section cfg_listener_section = {
	.name = "listeners",
	.dirs = listener_dirs,
	.size = sizeof(struct cfg_listener),
	.doc = "Each item opens one listening socket.",
};

static const struct cfg_directive service_dirs[] = {
	{ .name = "module",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_service, module),
	    .required = 1,
	    .doc = "The module serving the domain: one that runs on service "
		   "domains (see Modules)." },
	{ .name = "domain",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_service, domain),
	    .required = 1,
	    .doc = "The service's domain, e.g. conference.example.org; not a "
		   "host's or a component's." },
	{ .name = NULL },
};

const struct cfg_section cfg_service_section = {
	.name = "services",
	.dirs = service_dirs,
	.size = sizeof(struct cfg_service),
	.doc = "Each item is one service domain of the host.",
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
	{ .name = "services",
	    .type = CFG_LIST,
	    .offset = offsetof(struct cfg_host, services),
	    .sub = &cfg_service_section,
	    .doc = "Domains of their own that modules serve for this host "
		   "(e.g. group chat on conference.<host>); listed in the "
		   "host's service discovery items." },
	{ .name = "admins",
	    .type = CFG_STRLIST,
	    .offset = offsetof(struct cfg_host, admins),
	    .doc = "Bare JIDs (user@domain) of the host's administrators: "
		   "with the admin module they run the service "
		   "administration commands (XEP-0133) on this host from "
		   "their client. Only accounts of this server count (a "
		   "remote JID listed here is ignored); each host lists "
		   "its own." },
	{ .name = NULL },
};

const struct cfg_section cfg_host_section = {
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

const struct cfg_section cfg_component_section = {
	.name = "components",
	.dirs = component_dirs,
	.size = sizeof(struct cfg_component),
	.doc = "Each item allows one external component (XEP-0114) to "
	       "connect to a component listener.",
};

static const struct cfg_directive retention_dirs[] = {
	{ .name = "archive",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_retention, archive),
	    .def = "7d",
	    .min = 0,
	    .max = 100 * 366 * DAY,
	    .doc = "Age after which archived messages (mam) are deleted; 0 "
		   "or forever: kept until the account goes." },
	{ .name = "offline",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_retention, offline),
	    .def = "30d",
	    .min = 0,
	    .max = 100 * 366 * DAY,
	    .doc = "Age after which messages waiting for an offline user "
		   "(offline) are deleted unread; 0 or forever: kept until "
		   "delivered." },
	{ .name = "push",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_retention, push),
	    .def = "90d",
	    .min = 0,
	    .max = 100 * 366 * DAY,
	    .doc = "Age after which a push registration (push) that its "
		   "client did not enable again is removed (clients enable "
		   "it at each connection; older registrations without a "
		   "date are kept); 0 or forever: kept until disabled." },
	{ .name = "muc_archive",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_retention, muc_archive),
	    .def = "365d",
	    .min = 0,
	    .max = 100 * 366 * DAY,
	    .doc = "Age after which group chat rooms' archived messages "
		   "(muc) are deleted; 0 or forever: kept until the room is "
		   "destroyed. A host's muc.archive_retention may say "
		   "otherwise." },
	{ .name = "uploads",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_retention, uploads),
	    .def = "7d",
	    .min = 0,
	    .max = 100 * 366 * DAY,
	    .doc = "Age after which uploaded files (upload) are deleted; 0 "
		   "or forever: kept until the account is deleted. A "
		   "host's upload.expire may say otherwise." },
	{ .name = "interval",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_retention, interval),
	    .def = "1h",
	    .min = 1,
	    .max = 7 * DAY,
	    .doc = "Time from the end of one expiry pass over every account "
		   "to the start of the next (the first runs at start)." },
	{ .name = "batch",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_retention, batch),
	    .def = "500",
	    .min = 1,
	    .max = 100000,
	    .doc = "Most items one step of a pass deletes; a pass takes as "
		   "many steps (one per loop iteration when idle) as it "
		   "needs, so expiry never holds the server up for long." },
	{ .name = NULL },
};

static const struct cfg_section retention_section = {
	.name = "retention",
	.dirs = retention_dirs,
	.size = sizeof(struct cfg_retention),
	.doc = "How long stored data is kept: one policy for the whole "
	       "server. `ternctl check retention` prints it.",
};

static const struct cfg_directive accounts_dirs[] = {
	{ .name = "deletion_grace",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_accounts, deletion_grace),
	    .def = "0",
	    .min = 0,
	    .max = 366 * DAY,
	    .doc = "How long a deleted account (in-band unregistration, "
		   "`ternctl deluser`, the admin command, inactivity) can "
		   "still be restored with `ternctl restore`: meanwhile it "
		   "cannot log in, its address cannot be registered again "
		   "and its data is kept; the expiry pass purges it after. "
		   "0: deleted at once." },
	{ .name = "inactive_delete",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_accounts, inactive_delete),
	    .def = "0",
	    .min = 0,
	    .max = 100 * 366 * DAY,
	    .doc = "Delete accounts nobody logged in to for this long (never "
		   "logged in: counted from their creation), after a warning "
		   "message; disabled accounts are left alone. 0: never." },
	{ .name = "inactive_warning",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_accounts, inactive_warning),
	    .def = "7d",
	    .min = 1,
	    .max = 366 * DAY,
	    .doc = "How long before an inactive account's deletion its owner "
		   "gets a warning message (from the host, type normal, "
		   "kept offline); the account goes no sooner than this long "
		   "after the warning, and a login in between keeps it." },
	{ .name = "inactive_message",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_accounts, inactive_message),
	    .def = NULL,
	    .doc = "Text of the inactivity warning; none: \"This account has "
		   "not been used for a long time and will be deleted on "
		   "DATE unless you log in before.\" (DATE is filled in)." },
	{ .name = NULL },
};

static const struct cfg_section accounts_section = {
	.name = "accounts",
	.dirs = accounts_dirs,
	.size = sizeof(struct cfg_accounts),
	.doc = "Account housekeeping: deletion grace period and the "
	       "deletion of inactive accounts (run by the expiry pass, see "
	       "retention.interval).",
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
	{ .name = "http",
	    .type = CFG_SECTION,
	    .offset = offsetof(struct config, http),
	    .sub = &http_section,
	    .doc = "HTTP server limits." },
	{ .name = "listeners",
	    .type = CFG_LIST,
	    .offset = offsetof(struct config, listeners),
	    .sub = &cfg_listener_section,
	    .doc = "Addresses and ports the server accepts connections "
		   "on." },
	{ .name = "hosts",
	    .type = CFG_LIST,
	    .offset = offsetof(struct config, hosts),
	    .sub = &cfg_host_section,
	    .doc = "Virtual hosts (domains) the server serves." },
	{ .name = "components",
	    .type = CFG_LIST,
	    .offset = offsetof(struct config, components),
	    .sub = &cfg_component_section,
	    .doc = "External components allowed to connect." },
	{ .name = "s2s",
	    .type = CFG_SECTION,
	    .offset = offsetof(struct config, s2s),
	    .sub = &cfg_s2s_section,
	    .doc = "Federation with other servers (server-to-server)." },
	{ .name = "retention",
	    .type = CFG_SECTION,
	    .offset = offsetof(struct config, retention),
	    .sub = &retention_section,
	    .doc = "How long messages and other stored data are kept." },
	{ .name = "accounts",
	    .type = CFG_SECTION,
	    .offset = offsetof(struct config, accounts),
	    .sub = &accounts_section,
	    .doc = "Deleted and inactive accounts." },
	{ .name = NULL },
};

const struct cfg_section config_root = {
	.name = "",
	.dirs = root_dirs,
	.size = sizeof(struct config),
	.doc = "Settings for the whole server.",
};

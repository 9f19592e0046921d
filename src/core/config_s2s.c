/* config_s2s.c: the directive table of the s2s section (federation). */
#include <stddef.h>

#include "core/config.h"
#include "core/config_int.h"

static const struct cfg_directive route_dirs[] = {
	{ .name = "domain",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_s2s_route, domain),
	    .required = 1,
	    .doc = "The remote domain this route is for." },
	{ .name = "address",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_s2s_route, address),
	    .required = 1,
	    .doc = "IP address to connect to instead of asking DNS, or "
		   "the peer's onion service (`<name>.onion`), reached "
		   "through tor_proxy." },
	{ .name = "port",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_s2s_route, port),
	    .def = "5269",
	    .min = 1,
	    .max = 65535,
	    .doc = "TCP port to connect to." },
	{ .name = "direct_tls",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct cfg_s2s_route, direct_tls),
	    .def = "false",
	    .doc = "TLS from the first byte (XEP-0368) instead of "
		   "STARTTLS." },
	{ .name = NULL },
};

static const struct cfg_section route_section = {
	.name = "routes",
	.dirs = route_dirs,
	.size = sizeof(struct cfg_s2s_route),
	.doc = "Each item sends one remote domain's traffic to a fixed "
	       "address.",
};

static const struct cfg_directive s2s_dirs[] = {
	{ .name = "enabled",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct cfg_s2s, enabled),
	    .def = "true",
	    .doc = "Send stanzas for other domains to their servers. When "
		   "false they bounce with remote-server-not-found (incoming "
		   "streams need an s2s listener either way)." },
	{ .name = "secure_auth",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct cfg_s2s, secure_auth),
	    .def = "false",
	    .doc = "Peers must prove their domain with a certificate that "
		   "chains to the trust store and names it; when false a peer "
		   "without one may prove it by dialback (XEP-0220) through "
		   "DNS instead, as most of the network does." },
	{ .name = "secure_domains",
	    .type = CFG_STRLIST,
	    .offset = offsetof(struct cfg_s2s, secure_domains),
	    .doc = "Domains that must present a valid certificate even "
		   "when secure_auth is false." },
	{ .name = "insecure_domains",
	    .type = CFG_STRLIST,
	    .offset = offsetof(struct cfg_s2s, insecure_domains),
	    .doc = "Domains allowed to use dialback even when secure_auth "
		   "is true." },
	{ .name = "ca_file",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_s2s, ca_file),
	    .doc = "PEM file of the certificate authorities peers' "
		   "certificates must chain to; relative to the config "
		   "file's directory. Default: the system's trust store." },
	{ .name = "dns_server",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_s2s, dns_server),
	    .doc = "DNS server to ask for SRV and address records, as `ip` "
		   "or `ip@port`. Default: the servers of /etc/resolv.conf "
		   "(and /etc/hosts)." },
	{ .name = "routes",
	    .type = CFG_LIST,
	    .offset = offsetof(struct cfg_s2s, routes),
	    .sub = &route_section,
	    .doc = "Fixed addresses for remote domains, asked before DNS." },
	{ .name = "blocked",
	    .type = CFG_STRLIST,
	    .offset = offsetof(struct cfg_s2s, blocked),
	    .doc = "Remote domains the server never talks to: their "
		   "connections are refused and stanzas to them bounce." },
	{ .name = "allowed",
	    .type = CFG_STRLIST,
	    .offset = offsetof(struct cfg_s2s, allowed),
	    .doc = "When not empty, the only remote domains the server talks "
		   "to (a closed federation)." },
	{ .name = "connect_timeout",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_s2s, connect_timeout),
	    .def = "30s",
	    .min = 1,
	    .max = 600,
	    .doc = "How long resolving, connecting and authenticating to a "
		   "remote server may take before its queued stanzas bounce "
		   "with remote-server-timeout." },
	{ .name = "idle_timeout",
	    .type = CFG_DURATION,
	    .offset = offsetof(struct cfg_s2s, idle_timeout),
	    .def = "10m",
	    .min = 10,
	    .max = 86400,
	    .doc = "A server-to-server connection with no traffic for this "
		   "long is closed (it is opened again when needed); what "
		   "the peer sends until it closes its side too (5 s at "
		   "most) is still delivered." },
	{ .name = "stanza_size",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_s2s, stanza_size),
	    .def = "512k",
	    .min = 16 * KIB,
	    .max = 16 * MIB,
	    .doc = "Largest stanza a remote server may send; a bigger one "
		   "closes its stream with policy-violation." },
	{ .name = "queue_size",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_s2s, queue_size),
	    .def = "1M",
	    .min = 16 * KIB,
	    .max = 256 * MIB,
	    .doc = "Bytes of stanzas that may wait for one remote domain "
		   "while its connection is set up; more bounce with "
		   "resource-constraint." },
	{ .name = "streams_per_domain",
	    .type = CFG_INT,
	    .offset = offsetof(struct cfg_s2s, streams_per_domain),
	    .def = "4",
	    .min = 1,
	    .max = 64,
	    .doc = "Incoming streams one remote domain may hold open at "
		   "once." },
	{ .name = "rate",
	    .type = CFG_SIZE,
	    .offset = offsetof(struct cfg_s2s, rate),
	    .def = "1M",
	    .min = 4 * KIB,
	    .max = 1024 * MIB,
	    .doc = "Bytes per second a remote server may send on one "
		   "stream, its own or ours when bidirectional (XEP-0288), "
		   "in bursts of twice that; reading pauses beyond it." },
	{ .name = "tor_proxy",
	    .type = CFG_STRING,
	    .offset = offsetof(struct cfg_s2s, tor_proxy),
	    .doc = "SOCKS5 proxy (Tor's, usually `127.0.0.1:9050`) through "
		   "which streams to `.onion` domains go; none: such domains "
		   "are unreachable." },
	{ .name = "tor_all",
	    .type = CFG_BOOL,
	    .offset = offsetof(struct cfg_s2s, tor_all),
	    .def = "false",
	    .doc = "Send every outgoing server-to-server stream through "
		   "tor_proxy (the proxy resolves the names; no DNS query "
		   "leaves this server)." },
	{ .name = NULL },
};

const struct cfg_section cfg_s2s_section = {
	.name = "s2s",
	.dirs = s2s_dirs,
	.size = sizeof(struct cfg_s2s),
	.doc = "Federation: streams to and from other XMPP servers (RFC "
	       "6120).",
};

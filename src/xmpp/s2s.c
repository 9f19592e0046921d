/* s2s.c: federation's setup and teardown (see s2s.h); the streams are in
 * s2s_in.c and s2s_out.c, policy and dialback keys in s2s_auth.c. */
#include "xmpp/s2s.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "net/resolve.h"
#include "net/tls.h"
#include "xmpp/domain.h"
#include "xmpp/s2s_int.h"

int
s2s_is_onion(const char *domain)
{
	size_t n = strlen(domain);

	return n > 6 && strcasecmp(domain + n - 6, ".onion") == 0;
}

/* Without tor_proxy: a route to an onion service is an error (it could
 * never be reached); one of our hosts being a hidden service is said,
 * since its stanzas to other servers will bounce. */
static int
onion_without_proxy(const struct config *cfg, char *err, size_t errlen)
{
	const struct cfg_s2s_route *rt = cfg->s2s.routes.items;
	const struct cfg_host *h = cfg->hosts.items;
	size_t i;

	for (i = 0; i < cfg->s2s.routes.n; i++)
		if (s2s_is_onion(rt[i].address)) {
			snprintf(err, errlen,
			    "s2s.routes: %s goes to the onion service %s, "
			    "which needs s2s.tor_proxy",
			    rt[i].domain, rt[i].address);
			return 1;
		}
	for (i = 0; i < cfg->hosts.n; i++)
		if (s2s_is_onion(h[i].name))
			log_warn("host %s is an onion service but "
				 "s2s.tor_proxy is not set: its stanzas to "
				 "other servers will bounce",
			    h[i].name);
	return 0;
}

int
s2s_setup(const struct config *cfg, char *err, size_t errlen)
{
	static int keyed;

	if (!keyed) {
		s2s_db_init();
		keyed = 1;
	}
	if (cfg->s2s.tor_proxy) {
		struct resolve_addr a;

		if (resolve_parse_hostport(cfg->s2s.tor_proxy, &a) != 0) {
			snprintf(err, errlen,
			    "s2s.tor_proxy: '%s' is not ip:port (e.g. "
			    "127.0.0.1:9050)",
			    cfg->s2s.tor_proxy);
			return -1;
		}
	} else if (cfg->s2s.tor_all) {
		snprintf(err, errlen, "s2s.tor_all needs s2s.tor_proxy");
		return -1;
	} else if (onion_without_proxy(cfg, err, errlen)) {
		return -1;
	}
	if (tls_trust_load(cfg->s2s.ca_file, err, errlen) != 0)
		return -1;
	return resolve_setup(cfg, err, errlen);
}

void
s2s_setup_domains(const struct config *cfg)
{
	domain_set_remote(cfg->s2s.enabled ? s2s_out_route : NULL, NULL);
}

void
s2s_close_all(const char *condition, const char *text)
{
	s2s_in_close_all(condition, text);
	s2s_out_close_all(condition, text);
}

void
s2s_shutdown(void)
{
	resolve_shutdown();
	tls_trust_free();
}

unsigned
s2s_count_in(void)
{
	return s2s_in_count();
}

unsigned
s2s_count_out(void)
{
	return s2s_out_count();
}

size_t
s2s_queued_stanzas(void)
{
	return s2s_out_waiting();
}

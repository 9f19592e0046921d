/* modules.c: the static registry of every module Tern has. A host
 * enables modules by name in its `modules:` list. */
#include "core/module.h"

extern const struct module mod_disco, mod_adhoc, mod_avatar, mod_blocking,
    mod_bookmarks, mod_carbons, mod_contact_info, mod_csi, mod_echo,
    mod_extdisco, mod_host_meta, mod_invites, mod_last, mod_mam, mod_muc,
    mod_offline, mod_pep, mod_ping, mod_presence, mod_proxy65, mod_private,
    mod_push, mod_register, mod_roster, mod_smacks, mod_time, mod_upload,
    mod_vcard, mod_version, mod_welcome;
extern const struct module mod_admin, mod_antispam, mod_rtbl, mod_spam_report;

const struct module *const module_registry[] = {
	&mod_disco,
	&mod_adhoc,
	&mod_admin,
	&mod_antispam,
	&mod_avatar,
	&mod_blocking,
	&mod_bookmarks,
	&mod_carbons,
	&mod_contact_info,
	&mod_csi,
	&mod_echo,
	&mod_extdisco,
	&mod_host_meta,
	&mod_invites,
	&mod_last,
	&mod_mam,
	&mod_muc,
	&mod_offline,
	&mod_pep,
	&mod_ping,
	&mod_presence,
	&mod_proxy65,
	&mod_private,
	&mod_push,
	&mod_register,
	&mod_roster,
	&mod_rtbl,
	&mod_smacks,
	&mod_spam_report,
	&mod_time,
	&mod_upload,
	&mod_vcard,
	&mod_version,
	&mod_welcome,
};

const size_t module_registry_len =
    sizeof(module_registry) / sizeof(module_registry[0]);

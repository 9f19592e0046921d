/* modules.c: the static registry of every module Tern has. A host
 * enables modules by name in its `modules:` list. */
#include "core/module.h"

extern const struct module mod_disco, mod_ping, mod_time, mod_version;

const struct module *const module_registry[] = {
	&mod_disco,
	&mod_ping,
	&mod_time,
	&mod_version,
};

const size_t module_registry_len =
    sizeof(module_registry) / sizeof(module_registry[0]);

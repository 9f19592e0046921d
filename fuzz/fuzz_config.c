/* fuzz_config.c: libFuzzer target feeding bytes to the config loader as
 * the contents of a YAML file. Whatever the bytes, the loader must return
 * a config or an error message, never crash or leak; a loaded config is
 * walked and freed, and its reference output is checked for a host. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct config *c;
	const struct cfg_host *h;
	size_t i;

	/* An absolute name: relative paths resolve without getcwd(). */
	c = config_load_mem((const char *)data, size, "/fuzz/tern.yml", err,
	    sizeof(err));
	if (c == NULL) {
		/* Every failure explains itself. */
		if (err[0] == '\0')
			__builtin_trap();
		return 0;
	}
	h = c->hosts.items;
	for (i = 0; i < c->hosts.n; i++) {
		if (config_host(c, h[i].name) == NULL)
			__builtin_trap();
	}
	config_free(c);
	return 0;
}

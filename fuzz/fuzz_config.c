/* fuzz_config.c - the INI config parser never crashes or leaks, and a
 * failure always comes with a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ct_cfg *cfg = NULL;
	char err[512] = "";
	char *text = malloc(size + 1); /* owned here */

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	if (ct_cfg_parse(text, "fuzz.conf", &cfg, err, sizeof(err)) == 0) {
		if (!cfg || !cfg->db_conninfo)
			abort();
		ct_cfg_free(cfg);
	} else if (cfg || strncmp(err, "fuzz.conf", 9) != 0) {
		abort(); /* a refusal names the file and leaves *out alone */
	}
	free(text);
	return 0;
}

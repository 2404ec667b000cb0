/* fuzz_text.c - UTF-8 validation and name checks agree with each other
 * and never read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1); /* owned here */
	long n;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	n = ct_utf8_count(s, size);
	if (n > (long)size)
		abort();
	if (n >= 0 && memchr(s, 0, size))
		abort();        /* NUL is never valid text */
	size_t len = strlen(s); /* the names are C strings: up to a NUL */
	if (ct_valid_channel(s)) {
		/* a valid name is valid UTF-8 and within the length limits */
		if (ct_utf8_count(s, len) < 0)
			abort();
		if (strncmp(s, "dm:", 3) != 0 && len > 64)
			abort();
		if (strncmp(s, "dm:", 3) == 0 &&
		    len > 3 + 4 * 128 + 1 + 4 * 128)
			abort();
	}
	if (ct_valid_app_id(s) && len > 32)
		abort();
	free(s);
	return 0;
}

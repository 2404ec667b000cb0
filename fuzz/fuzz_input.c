/* fuzz_input.c - the HTTP input normalizer (query string, form and JSON
 * bodies, BOM and "//" prefixes, loose numbers and booleans) never
 * crashes, leaks or returns an object on failure. The first byte picks the
 * content type; the text up to the first newline is the query string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi/input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ctypes[] = {
	"application/json",
	"application/x-www-form-urlencoded",
	"application/json; charset=utf-8",
	"text/plain",
	NULL,
	"multipart/form-data; boundary=x",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *ctype, *body;
	char *copy, *nl, err[256];
	json_t *in = NULL, *list = NULL;
	const char *s;
	long n;
	int b, rc;

	if (size < 1)
		return 0;
	ctype = ctypes[data[0] % (sizeof(ctypes) / sizeof(ctypes[0]))];
	if (!(copy = malloc(size))) /* owned here: query + body */
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = 0;
	nl = memchr(copy, '\n', size - 1);
	if (nl)
		*nl = 0;
	body = nl ? nl + 1 : copy + size - 1;
	rc = input_parse(ctype, nl ? copy : NULL, body,
			 (size_t)(copy + size - 1 - body), 4096, &in, err,
			 sizeof(err));
	if (rc == 0) {
		if (!json_is_object(in))
			abort();
		input_str(in, "channel", &s);
		input_str(in, "text", &s);
		input_long(in, "after", -1000000, 1000000, &n);
		input_bool(in, "excludesender", &b);
		if (input_list(in, "apps", &list) == 1)
			json_decref(list);
		json_decref(in);
	} else if (in || !err[0]) {
		abort(); /* refused: no object, and a reason */
	}
	free(copy);
	return 0;
}

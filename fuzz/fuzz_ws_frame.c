/* fuzz_ws_frame.c - the WebSocket frame handler's parser (creq_parse):
 * never crashes or leaks, refuses with a reason, and what it accepts is
 * what the handler relies on (a known type, a valid channel for channel
 * frames, non-empty UTF-8 text within the limit). The first byte picks
 * "before auth" or "live". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "wsd/creq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct creq r;
	char msg[128] = "";
	int first, rc;

	if (size < 1)
		return 0;
	first = data[0] & 1;
	rc = creq_parse((const char *)data + 1, size - 1, first, 4000, &r, msg,
			sizeof(msg));
	if (rc != 0 && !msg[0])
		abort(); /* every refusal has a reason */
	if (rc == 0) {
		const char *ch =
			json_string_value(json_object_get(r.m, "channel"));
		const char *text =
			json_string_value(json_object_get(r.m, "text"));

		if (!r.type)
			abort();
		if (first && strcmp(r.type, "auth") != 0)
			abort();
		if (!first && strcmp(r.type, "publish") == 0 &&
		    (!ch || !ct_valid_channel(ch) || !text ||
		     ct_utf8_count(text, strlen(text)) <= 0 ||
		     ct_utf8_count(text, strlen(text)) > 4000))
			abort();
		if (!first && strcmp(r.type, "history") == 0 &&
		    (r.limit < 1 || r.limit > 200))
			abort();
		if (r.ref && strlen(r.ref) > 200)
			abort();
	}
	creq_free(&r);
	return 0;
}

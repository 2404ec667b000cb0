/* fuzz_notice.c - the NOTIFY payload codec: never reads out of bounds, and
 * what it accepts holds together (fields inside the payload, no blank left
 * in a field that escaping would have hidden, escaping round-trips). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/notice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const char *f, const char *buf, size_t size)
{
	if (f && (f < buf || f > buf + size))
		abort();
}

static void
round_trip(const char *f)
{
	char esc[3 * 1024 + 1], again[sizeof(esc) + 2];
	struct ct_notice n;
	size_t len = f ? strlen(f) : 0;

	if (!f || len > 1000)
		return;
	ct_notice_escape(f, esc, sizeof(esc));
	if (strchr(esc, ' '))
		abort(); /* an escaped field never holds a blank */
	memcpy(again, "p ", 2);
	memcpy(again + 2, esc, strlen(esc) + 1);
	if (ct_notice_parse(again, &n) != CT_OK || strcmp(n.channel, f) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1); /* owned here */
	struct ct_notice n;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (ct_notice_parse(s, &n) == CT_OK) {
		inside(n.channel, s, size);
		inside(n.user, s, size);
		inside(n.app, s, size);
		inside(n.hash, s, size);
		inside(n.json, s, size);
		if (n.json &&
		    (n.json[0] != '{' || strlen(n.json) != n.json_len))
			abort();
		if (n.kind == 'm' && (n.id < 0 || n.seq < 0))
			abort();
		round_trip(n.channel);
		round_trip(n.user);
	}
	free(s);
	return 0;
}

/* fuzz_multipart.c - the streaming form-data reader never crashes or reads
 * out of bounds, whatever the body and however it is split. The first
 * byte sets the piece size; the text up to the first newline is the
 * boundary. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fcgi/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t total;

static int
on_begin(void *ud, const struct mp_part *p)
{
	(void)ud;
	total += strlen(p->name) + strlen(p->filename) + strlen(p->type);
	return CT_OK;
}

static int
on_data(void *ud, const char *buf, size_t len)
{
	(void)ud;
	if (len)
		total += (unsigned char)buf[len - 1];
	return CT_OK;
}

static int
on_end(void *ud)
{
	(void)ud;
	return CT_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mp_cb cb = { on_begin, on_data, on_end };
	static struct mp m;
	char ctype[200];
	const uint8_t *nl;
	size_t step, blen;

	if (size < 2)
		return 0;
	step = (size_t)data[0] + 1;
	data++;
	size--;
	nl = memchr(data, '\n', size < 80 ? size : 80);
	blen = nl ? (size_t)(nl - data) : 0;
	snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%.*s",
		 (int)blen, (const char *)data);
	if (nl) {
		size -= blen + 1;
		data = nl + 1;
	}
	if (mp_init(&m, ctype) != CT_OK)
		return 0;
	for (size_t o = 0; o < size; o += step)
		if (mp_feed(&m, (const char *)data + o,
			    size - o < step ? size - o : step, &cb,
			    NULL) != CT_OK)
			return 0;
	(void)mp_finish(&m);
	return 0;
}

/* test_multipart.c - the streaming form-data reader: fields and a file as
 * cfhttp and browsers send them, every split of the body into pieces (one
 * byte at a time included) giving the same parts, a boundary's look-alike
 * inside a file, and the refusals (wrong type, no boundary, a body cut
 * short, headers without end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "fcgi/multipart.h"

struct got {
	char log[8192]; /* "[name|filename|type]data..." per part */
	size_t len;
	int parts, stop_at; /* a callback fails at part stop_at (0: never) */
};

static void
put(struct got *g, const char *s, size_t n)
{
	if (g->len + n < sizeof(g->log)) {
		memcpy(g->log + g->len, s, n);
		g->len += n;
		g->log[g->len] = 0;
	}
}

static int
on_begin(void *ud, const struct mp_part *p)
{
	struct got *g = ud;
	char b[1600];
	int n = snprintf(b, sizeof(b), "[%s|%s%s|%s]", p->name,
			 p->is_file ? "file:" : "", p->filename, p->type);

	put(g, b, (size_t)n);
	if (++g->parts == g->stop_at)
		return CT_ETOOLARGE;
	return CT_OK;
}

static int
on_data(void *ud, const char *buf, size_t len)
{
	put(ud, buf, len);
	return CT_OK;
}

static int
on_end(void *ud)
{
	put(ud, "<end>", 5);
	return CT_OK;
}

static const struct mp_cb cb = { on_begin, on_data, on_end };

static const char CT[] =
	"multipart/form-data; boundary=----WebKitFormBoundaryx7";
static const char BODY[] =
	"preamble to ignore\r\n"
	"------WebKitFormBoundaryx7\r\n"
	"Content-Disposition: form-data; name=\"channel\"\r\n"
	"\r\n"
	"general\r\n"
	"------WebKitFormBoundaryx7\r\n"
	"Content-Disposition: form-data; name=\"file\"; "
	"filename=\"a \\\"b\\\".png\"\r\n"
	"Content-Type: image/png\r\n"
	"\r\n"
	"\x89PNG\r\n\r\n----WebKitFormBoundaryx\r\n--\r\n"
	"------WebKitFormBoundaryx7--\r\n"
	"epilogue";
static const char WANT[] = "[channel||]general<end>"
			   "[file|file:a \"b\".png|image/png]"
			   "\x89PNG\r\n\r\n----WebKitFormBoundaryx\r\n--<end>";

/* Feed BODY in pieces of size step; the log must be WANT each time. */
static void
every_split(void **state)
{
	(void)state;
	for (size_t step = 1; step <= sizeof(BODY); step++) {
		struct mp *m = malloc(sizeof(*m));
		struct got g = { 0 };

		assert_non_null(m);
		assert_int_equal(mp_init(m, CT), CT_OK);
		for (size_t o = 0; o < sizeof(BODY) - 1; o += step) {
			size_t n = sizeof(BODY) - 1 - o < step
					   ? sizeof(BODY) - 1 - o
					   : step;

			assert_int_equal(mp_feed(m, BODY + o, n, &cb, &g),
					 CT_OK);
		}
		assert_int_equal(mp_finish(m), CT_OK);
		assert_string_equal(g.log, WANT);
		free(m);
	}
}

static void
cut_short(void **state)
{
	struct mp *m = malloc(sizeof(*m));
	struct got g = { 0 };

	(void)state;
	assert_int_equal(mp_init(m, CT), CT_OK);
	assert_int_equal(mp_feed(m, BODY, 200, &cb, &g), CT_OK);
	assert_int_equal(mp_finish(m), CT_EBADREQ);
	assert_non_null(strstr(m->err, "ended"));
	free(m);
}

static void
refusals(void **state)
{
	struct mp *m = malloc(sizeof(*m));
	struct got g = { 0 };
	char *big;

	(void)state;
	assert_int_equal(mp_init(m, "application/json"), CT_EMEDIA);
	assert_int_equal(mp_init(m, "multipart/form-datax; boundary=a"),
			 CT_EMEDIA);
	assert_int_equal(mp_init(m, NULL), CT_EMEDIA);
	assert_int_equal(mp_init(m, "multipart/form-data"), CT_EBADREQ);
	assert_int_equal(mp_init(m, "multipart/form-data; boundary="),
			 CT_EBADREQ);
	/* boundaries are at most 70 characters */
	assert_int_equal(
		mp_init(m, "multipart/form-data; boundary="
			   "012345678901234567890123456789012345678901234567890"
			   "1234567890123456789012"),
		CT_EBADREQ);
	assert_int_equal(mp_init(m, "Multipart/Form-Data; Boundary=\"q q\""),
			 CT_OK);
	assert_string_equal(m->delim, "\r\n--q q");

	/* a part without a name */
	assert_int_equal(mp_init(m, "multipart/form-data; boundary=b"), CT_OK);
	{
		static const char nameless[] =
			"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--";

		assert_int_equal(
			mp_feed(m, nameless, sizeof(nameless) - 1, &cb, &g),
			CT_EBADREQ);
	}

	/* headers that never end */
	assert_int_equal(mp_init(m, "multipart/form-data; boundary=b"), CT_OK);
	big = malloc(MP_HEADERS_MAX * 2);
	memset(big, 'h', MP_HEADERS_MAX * 2);
	memcpy(big, "--b\r\nX: ", 8);
	assert_int_equal(mp_feed(m, big, MP_HEADERS_MAX * 2, &cb, &g),
			 CT_EBADREQ);
	free(big);

	/* a callback's refusal stops the reader with its code */
	memset(&g, 0, sizeof(g));
	g.stop_at = 2;
	assert_int_equal(mp_init(m, CT), CT_OK);
	assert_int_equal(mp_feed(m, BODY, sizeof(BODY) - 1, &cb, &g),
			 CT_ETOOLARGE);
	free(m);
}

/* A file larger than the window goes through in pieces, byte for byte. */
static void
large_file(void **state)
{
	size_t n = 3 * MP_WINDOW + 17, total = 0;
	struct mp *m = malloc(sizeof(*m));
	char *body = malloc(n + 200);
	struct got g = { 0 };
	int len;

	(void)state;
	len = sprintf(body, "--b\r\nContent-Disposition: form-data; "
			    "name=\"file\"; filename=\"x\"\r\n\r\n");
	for (size_t i = 0; i < n; i++)
		body[len + i] = (char)('a' + i % 23);
	memcpy(body + len + n, "\r\n--b--\r\n", 9);
	assert_int_equal(mp_init(m, "multipart/form-data; boundary=b"), CT_OK);
	g.stop_at = 0;
	/* count the bytes instead of logging them */
	for (size_t o = 0; o < (size_t)len + n + 9; o += 4096) {
		size_t k = (size_t)len + n + 9 - o < 4096
				   ? (size_t)len + n + 9 - o
				   : 4096;
		size_t before = g.len;

		assert_int_equal(mp_feed(m, body + o, k, &cb, &g), CT_OK);
		total += g.len - before;
		g.len = 0;
	}
	assert_int_equal(mp_finish(m), CT_OK);
	/* what the log took: the part's tag, the bytes, "<end>" */
	assert_int_equal(total, strlen("[file|file:x|]") + n + 5);
	free(body);
	free(m);
}

/* A Windows path's backslashes stay (old browsers send them raw); only
 * \" and \\ are escapes. */
static void
backslashes(void **state)
{
	static const char b[] =
		"--b\r\nContent-Disposition: form-data; name=\"file\"; "
		"filename=\"C:\\dir\\\\x \\\"y\\\".png\"\r\n\r\nz\r\n--b--";
	struct mp *m = malloc(sizeof(*m));
	struct got g = { 0 };

	(void)state;
	assert_int_equal(mp_init(m, "multipart/form-data; boundary=b"), CT_OK);
	assert_int_equal(mp_feed(m, b, sizeof(b) - 1, &cb, &g), CT_OK);
	assert_int_equal(mp_finish(m), CT_OK);
	assert_string_equal(g.log, "[file|file:C:\\dir\\x \"y\".png|]z<end>");
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_split), cmocka_unit_test(cut_short),
		cmocka_unit_test(refusals),    cmocka_unit_test(large_file),
		cmocka_unit_test(backslashes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

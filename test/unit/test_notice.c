/* test_notice.c - the NOTIFY payload codec: every form, escapes, and the
 * payloads a hostile user id would forge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/notice.h"

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int
parse(const char *s, struct ct_notice *n, char *buf, size_t len)
{
	snprintf(buf, len, "%s", s);
	return ct_notice_parse(buf, n);
}

static void
message(void **state)
{
	struct ct_notice n;
	char b[512];

	(void)state;
	assert_int_equal(parse("m 12 general 7", &n, b, sizeof(b)), CT_OK);
	assert_int_equal(n.kind, 'm');
	assert_int_equal(n.id, 12);
	assert_int_equal(n.seq, 7);
	assert_string_equal(n.channel, "general");
	assert_null(n.json);
	assert_null(n.hash);

	assert_int_equal(
		parse("m 12 general 7 - {\"a\": \"b c\"}", &n, b, sizeof(b)),
		CT_OK);
	assert_null(n.hash);
	assert_string_equal(n.json, "{\"a\": \"b c\"}");
	assert_int_equal(n.json_len, strlen("{\"a\": \"b c\"}"));

	assert_int_equal(parse("m 1 c 2 " HASH " {}", &n, b, sizeof(b)), CT_OK);
	assert_string_equal(n.hash, HASH);
}

/* A DM between "alice" and "bob 5 - {x": escaped, it is one field; the
 * forged seq 5 never appears. */
static void
blanks(void **state)
{
	struct ct_notice n;
	char b[512], esc[128], pay[256];

	(void)state;
	ct_notice_escape("dm:alice:bob 5 - {x", esc, sizeof(esc));
	assert_string_equal(esc, "dm:alice:bob%205%20-%20{x");
	snprintf(pay, sizeof(pay), "m 40 %s 9 - {\"t\":1}", esc);
	assert_int_equal(parse(pay, &n, b, sizeof(b)), CT_OK);
	assert_string_equal(n.channel, "dm:alice:bob 5 - {x");
	assert_int_equal(n.seq, 9);
	assert_string_equal(n.json, "{\"t\":1}");

	/* unescaped, the same id would have forged seq 5 in channel
	 * dm:alice:bob: the reason every field goes through wire() */
	assert_int_equal(
		parse("m 40 dm:alice:bob 5 - {x 9 - {}", &n, b, sizeof(b)),
		CT_OK);
	assert_int_equal(n.seq, 5);

	ct_notice_escape("100% sure", esc, sizeof(esc));
	assert_string_equal(esc, "100%25%20sure");
	snprintf(pay, sizeof(pay), "r dm:a:b %s", esc);
	assert_int_equal(parse(pay, &n, b, sizeof(b)), CT_OK);
	assert_string_equal(n.user, "100% sure");
	assert_string_equal(n.channel, "dm:a:b");
}

static void
others(void **state)
{
	struct ct_notice n;
	char b[512];

	(void)state;
	assert_int_equal(parse("e app1 " HASH, &n, b, sizeof(b)), CT_OK);
	assert_string_equal(n.app, "app1");
	assert_string_equal(n.hash, HASH);
	assert_int_equal(parse("p general", &n, b, sizeof(b)), CT_OK);
	assert_string_equal(n.channel, "general");
	assert_int_equal(
		parse("t dm:a%20b:c {\"id\":\"a b\"}", &n, b, sizeof(b)),
		CT_OK);
	assert_string_equal(n.channel, "dm:a b:c");
	assert_string_equal(n.json, "{\"id\":\"a b\"}");
	assert_int_equal(
		parse("r dm:J%C3%BCrgen:z J%C3%BCrgen", &n, b, sizeof(b)),
		CT_OK);
	assert_string_equal(n.user, "J\xc3\xbcrgen");
	assert_int_equal(parse("u g-1%20x Carol%20Chen 42", &n, b, sizeof(b)),
			 CT_OK);
	assert_string_equal(n.channel, "g-1 x");
	assert_string_equal(n.user, "Carol Chen");
	assert_int_equal(n.id, 42);
}

static void
refused(void **state)
{
	static const char *const bad[] = {
		"",
		"m",
		"m ",
		"x 1 2",
		"m 1 c",
		"m a c 2",
		"m 1 c -2",
		"m 1 c 2 ",
		"m 1 c 2 -",
		"m 1 c 2 - ",
		"m 1 c 2 - [1]",
		"m 1 c 2 nothex {}",
		"m 1  c 2",
		"m 1 c%2 2",
		"m 1 c%zz 2",
		"m 1 c%00 2",
		"m 1234567890123456789 c 2",
		"e app1",
		"e app1 " HASH " extra",
		"e app1 ABCDEF",
		"r c",
		"r c u extra",
		"u c bob",
		"u c bob x",
		"u c bob 1 extra",
		"p",
		"p c extra",
		"t c",
		"t c notjson",
		"mm 1 c 2",
	};
	struct ct_notice n;
	char b[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &n, b, sizeof(b)) != CT_EINVALID)
			fail_msg("accepted '%s'", bad[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(message),
		cmocka_unit_test(blanks),
		cmocka_unit_test(others),
		cmocka_unit_test(refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

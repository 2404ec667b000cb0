/* test_util.c - names, UTF-8 and number parsing, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"

static void
channels(void **state)
{
	static const struct {
		const char *name;
		int ok;
	} cases[] = {
		{ "general", 1 },
		{ "a", 1 },
		{ "team.support-2_x", 1 },
		{ "0abc", 1 },
		{ "", 0 },
		{ "General", 0 },
		{ "-x", 0 },
		{ ".x", 0 },
		{ "has space", 0 },
		{ "semi;colon", 0 },
		{ "a12345678901234567890123456789012345678901234567890123456789"
		  "0123",
		  1 }, /* 64 */
		{ "a12345678901234567890123456789012345678901234567890123456789"
		  "01234",
		  0 }, /* 65 */
		{ "dm:alice:bob", 1 },
		{ "dm:bob:alice", 0 }, /* not sorted */
		{ "dm:alice:alice", 0 },
		{ "dm:alice", 0 },
		{ "dm::bob", 0 },
		{ "dm:a:b:c", 0 },
		{ "dm:J\xc3\xbcrgen:z", 1 },
		{ "dm:\xc3\x28:z", 0 }, /* invalid UTF-8 */
		{ "dm:a\tb:z", 0 },
		/* ids with blanks, quotes, upper case, other scripts */
		{ "dm:Bob Smith:alice", 1 },
		{ "dm:O'Brien \"x\":b", 1 },
		{ "dm:Bob:alice", 1 }, /* 'B' < 'a' bytewise */
		{ "dm:alice:Bob", 0 },
		{ "dm:z:\xef\xbc\xa1", 1 }, /* U+FF21 < U+1F600: code points */
		{ "dm:\xef\xbc\xa1:\xf0\x9f\x98\x80", 1 },
		{ "dm:\xf0\x9f\x98\x80:\xef\xbc\xa1", 0 },
		{ "dm:a\xc2\x85"
		  "b:z",
		  0 }, /* U+0085: a C1 control */
		{ "dm:a\xc2\xa0"
		  "b:z",
		  1 }, /* U+00A0: a character */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (ct_valid_channel(cases[i].name) != cases[i].ok)
			fail_msg("channel '%s': want %d", cases[i].name,
				 cases[i].ok);
}

static void
user_ids(void **state)
{
	char long_ok[129 * 3], long_bad[130 * 3];

	(void)state;
	memset(long_ok, 'x', 128);
	long_ok[128] = 0;
	memset(long_bad, 'x', 129);
	long_bad[129] = 0;
	assert_true(ct_valid_user_id("bob", 3));
	assert_true(ct_valid_user_id("bob 5 - {x", 10));
	assert_true(ct_valid_user_id(long_ok, 128));
	assert_false(ct_valid_user_id(long_bad, 129));
	/* 128 characters of three bytes each: counted in characters */
	for (int i = 0; i < 128; i++)
		memcpy(long_ok + 3 * i, "\xe4\xb8\xad", 3);
	long_ok[3 * 128] = 0;
	assert_true(ct_valid_user_id(long_ok, 3 * 128));
	assert_false(ct_valid_user_id("", 0));
	assert_false(ct_valid_user_id("a:b", 3));
	assert_false(ct_valid_user_id("a\x7f", 2));
	assert_false(ct_valid_user_id("a\x1f", 2));
	assert_false(ct_valid_user_id("\xc2\x9f", 2));
	assert_false(ct_valid_user_id("\xc3\x28", 2)); /* not UTF-8 */
}

static void
app_ids(void **state)
{
	(void)state;
	assert_true(ct_valid_app_id("app1"));
	assert_true(ct_valid_app_id("my_app-2"));
	assert_false(ct_valid_app_id("App"));
	assert_false(ct_valid_app_id("_x"));
	assert_false(ct_valid_app_id("a.b"));
	assert_true(
		ct_valid_app_id("a1234567890123456789012345678901")); /* 32 */
	assert_false(ct_valid_app_id("a12345678901234567890123456789012"));
}

static void
dms(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(ct_dm_name("bob", "alice", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "dm:alice:bob");
	assert_int_equal(ct_dm_name("a:b", "c", buf, sizeof(buf)), -1);
	assert_int_equal(ct_dm_member("dm:alice:bob", "alice"), 1);
	assert_int_equal(ct_dm_member("dm:alice:bob", "bob"), 1);
	assert_int_equal(ct_dm_member("dm:alice:bob", "ali"), 0);
	assert_int_equal(ct_dm_member("dm:alice:bob", "carol"), 0);
	assert_int_equal(ct_dm_member("general", "bob"), -1);
}

static void
utf8(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		long want;
	} cases[] = {
		{ "hello", 5, 5 },
		{ "", 0, 0 },
		{ "\xc3\xa9t\xc3\xa9", 5, 3 },
		{ "\xe2\x82\xac", 3, 1 },
		{ "\xf0\x9f\x98\x80", 4, 1 },
		{ "a\0b", 3, -1 },             /* NUL */
		{ "\xc3", 1, -1 },             /* truncated */
		{ "\xc0\xaf", 2, -1 },         /* overlong '/' */
		{ "\xe0\x80\xaf", 3, -1 },     /* overlong */
		{ "\xed\xa0\x80", 3, -1 },     /* surrogate */
		{ "\xf4\x90\x80\x80", 4, -1 }, /* > U+10FFFF */
		{ "\xff", 1, -1 },
		{ "\x80", 1, -1 }, /* lone continuation */
		{ "\xe2\x28\xa1", 3, -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (ct_utf8_count(cases[i].s, cases[i].len) != cases[i].want)
			fail_msg("utf8 case %zu: got %ld want %ld", i,
				 ct_utf8_count(cases[i].s, cases[i].len),
				 cases[i].want);
}

static void
numbers(void **state)
{
	long v;

	(void)state;
	assert_int_equal(ct_parse_long(" 42 ", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(ct_parse_long("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(ct_parse_long("101", 0, 100, &v), -1);
	assert_int_equal(ct_parse_long("4x", 0, 100, &v), -1);
	assert_int_equal(ct_parse_long("", 0, 100, &v), -1);
	assert_int_equal(ct_parse_long(NULL, 0, 100, &v), -1);
	assert_int_equal(ct_parse_long("99999999999999999999", 0, 100, &v), -1);
}

/* FNV-1a's published 32-bit vectors; and a length, not a terminator */
static void
hashes(void **state)
{
	int64_t a, b;

	(void)state;
	assert_int_equal(ct_hash("", 0), 0x811c9dc5u);
	assert_int_equal(ct_hash("a", 1), 0xe40c292cu);
	assert_int_equal(ct_hash("foobar", 6), 0xbf9cf968u);
	assert_int_equal(ct_hash("foobar!", 6), 0xbf9cf968u);
	a = ct_mono_us();
	b = ct_mono_us();
	assert_true(b >= a && a / 1000 <= ct_mono_ms());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(channels), cmocka_unit_test(app_ids),
		cmocka_unit_test(user_ids), cmocka_unit_test(dms),
		cmocka_unit_test(utf8),     cmocka_unit_test(numbers),
		cmocka_unit_test(hashes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

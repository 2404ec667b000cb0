/* test_chook.c - channel hooks' pure rules: which hook answers for a
 * channel (the name itself, else the longest prefix, "*" last; only for
 * its events), what it is asked, and what each answer means. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/chook.h"

static struct ct_chook v[] = {
	{ 1, "*", "u1", "s", CT_CHOOK_PUBLISH, 100, 1 },
	{ 2, "support*", "u2", "s", CT_CHOOK_PUBLISH | CT_CHOOK_SUBSCRIBE, 100,
	  1 },
	{ 3, "support.eu*", "u3", "s", CT_CHOOK_PUBLISH, 100, 0 },
	{ 4, "support.eu", "u4", "s", CT_CHOOK_PUBLISH, 100, 1 },
	{ 5, "sales", "u5", "s", CT_CHOOK_SUBSCRIBE, 100, 1 },
};
static const struct ct_chooks list = { v, 5 };

static long long
who(const char *channel, unsigned ev)
{
	const struct ct_chook *h = ct_chook_match(&list, channel, ev);

	return h ? h->id : 0;
}

static void
matching(void **state)
{
	(void)state;
	assert_int_equal(who("support.eu", CT_CHOOK_PUBLISH), 4);
	assert_int_equal(who("support.eu.fr", CT_CHOOK_PUBLISH), 3);
	assert_int_equal(who("support", CT_CHOOK_PUBLISH), 2);
	assert_int_equal(who("supporters", CT_CHOOK_PUBLISH), 2);
	assert_int_equal(who("general", CT_CHOOK_PUBLISH), 1);
	assert_int_equal(who("dm:a:b", CT_CHOOK_PUBLISH), 1);
	/* only hooks for the event */
	assert_int_equal(who("support.eu", CT_CHOOK_SUBSCRIBE), 2);
	assert_int_equal(who("sales", CT_CHOOK_SUBSCRIBE), 5);
	assert_int_equal(who("sales", CT_CHOOK_PUBLISH), 1);
	assert_int_equal(who("general", CT_CHOOK_SUBSCRIBE), 0);
}

static int
verdict(long status, const char *body, char **text, char *msg)
{
	return ct_chook_verdict(CT_CHOOK_PUBLISH, status, body, 10, text, msg,
				256);
}

static void
answers(void **state)
{
	char msg[256], *text;

	(void)state;
	assert_int_equal(verdict(200, "{\"allow\":true}", &text, msg),
			 CT_CHOOK_ALLOW);
	assert_null(text);
	assert_int_equal(
		verdict(200, "{\"allow\":true,\"text\":\"new\"}", &text, msg),
		CT_CHOOK_ALLOW);
	assert_string_equal(text, "new");
	free(text);
	assert_int_equal(verdict(200, "{\"allow\":false,\"message\":\"no\"}",
				 &text, msg),
			 CT_CHOOK_DENY);
	assert_string_equal(msg, "no");
	assert_int_equal(verdict(200, "{\"allow\":false}", &text, msg),
			 CT_CHOOK_DENY);
	assert_string_equal(msg, "refused by the channel's hook");
	/* failures: the hook's policy decides */
	assert_int_equal(verdict(0, NULL, &text, msg), CT_CHOOK_FAILED);
	assert_int_equal(verdict(500, "{\"allow\":true}", &text, msg),
			 CT_CHOOK_FAILED);
	assert_non_null(strstr(msg, "500"));
	assert_int_equal(verdict(200, "allow", &text, msg), CT_CHOOK_FAILED);
	assert_int_equal(verdict(200, "{\"allow\":1}", &text, msg),
			 CT_CHOOK_FAILED);
	assert_int_equal(verdict(200, "{}", &text, msg), CT_CHOOK_FAILED);
	/* a new text must be a message: 1..text_max characters */
	assert_int_equal(
		verdict(200, "{\"allow\":true,\"text\":\"\"}", &text, msg),
		CT_CHOOK_FAILED);
	assert_int_equal(verdict(200,
				 "{\"allow\":true,\"text\":\"12345678901\"}",
				 &text, msg),
			 CT_CHOOK_FAILED);
	assert_null(text);
	/* a subscribe's answer has no text to take */
	assert_int_equal(ct_chook_verdict(CT_CHOOK_SUBSCRIBE, 200,
					  "{\"allow\":true,\"text\":\"x\"}", 10,
					  &text, msg, sizeof(msg)),
			 CT_CHOOK_ALLOW);
	assert_null(text);
}

static void
body(void **state)
{
	char *b = ct_chook_body(CT_CHOOK_PUBLISH, "support", "app1", "u\"1",
				"Ann", "hi", "c1");

	(void)state;
	assert_string_equal(b, "{\"type\":\"publish\",\"channel\":\"support\","
			       "\"app\":\"app1\",\"user\":{\"id\":\"u\\\"1\","
			       "\"name\":\"Ann\"},\"text\":\"hi\","
			       "\"client_id\":\"c1\"}");
	free(b);
	b = ct_chook_body(CT_CHOOK_SUBSCRIBE, "support", "app1", "u", "Ann",
			  NULL, NULL);
	assert_null(strstr(b, "text"));
	assert_non_null(strstr(b, "\"type\":\"subscribe\""));
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(matching),
		cmocka_unit_test(answers),
		cmocka_unit_test(body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

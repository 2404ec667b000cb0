/* test_input.c - fcgi/input.c alone: content types, prefixes, key
 * normalisation, loose numbers, booleans, strings and lists. Prints
 * "N passed, N failed" like the other tests. */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "fcgi/input.h"

static int passed, failed;

#define CHECK(cond, what)                                                      \
	do {                                                                   \
		if (cond) {                                                    \
			passed++;                                              \
		} else {                                                       \
			failed++;                                              \
			printf("FAIL: %s (line %d)\n", what, __LINE__);        \
		}                                                              \
	} while (0)

/* Parse and return rc; *out is set (caller decrefs) on CT_OK. */
static int
parse(const char *ctype, const char *query, const char *body, json_t **out)
{
	char err[256];

	*out = NULL;
	return input_parse(ctype, query, body, body ? strlen(body) : 0, 1024,
			   out, err, sizeof(err));
}

static void
test_keys_and_types(void)
{
	json_t *in;
	const char *s;
	long n;
	int b;

	CHECK(parse("application/x-www-form-urlencoded; charset=UTF-8", NULL,
		    "USER_ID=u%201&Display-Name=A+B&TTL=3600.0&x",
		    &in) == CT_OK,
	      "form parses");
	CHECK(input_str(in, "userid", &s) == 1 && strcmp(s, "u 1") == 0,
	      "USER_ID -> userid, %20 decoded");
	CHECK(input_str(in, "displayname", &s) == 1 && strcmp(s, "A B") == 0,
	      "Display-Name, + is a blank");
	CHECK(input_long(in, "ttl", 60, 100000, &n) == 1 && n == 3600,
	      "3600.0 is 3600");
	CHECK(input_str(in, "x", &s) == 0, "empty value is absent");
	CHECK(input_str(in, "missing", &s) == 0, "missing is absent");
	json_decref(in);

	CHECK(parse(NULL, NULL,
		    "\xef\xbb\xbf  // {\"userId\": 42, \"Wait\": 5.0, "
		    "\"EXCLUDE_SENDER\": \"YES\", \"n\": 5.5, \"b\": true, "
		    "\"apps\": \"app1, app2,,\"}",
		    &in) == CT_OK,
	      "JSON without a type, BOM and // skipped");
	CHECK(input_str(in, "userid", &s) == 1 && strcmp(s, "42") == 0,
	      "number as string");
	CHECK(input_str(in, "userid", &s) == 1 && strcmp(s, "42") == 0,
	      "converted in place, stable");
	CHECK(input_long(in, "wait", 0, 25, &n) == 1 && n == 5, "5.0 is 5");
	CHECK(input_long(in, "n", 0, 25, &n) == -1, "5.5 is no whole number");
	CHECK(input_long(in, "wait", 0, 4, &n) == -1, "out of range");
	CHECK(input_bool(in, "excludesender", &b) == 1 && b == 1, "YES");
	CHECK(input_bool(in, "b", &b) == 1 && b == 1, "true");
	CHECK(input_str(in, "b", &s) == 1 && strcmp(s, "true") == 0,
	      "boolean as string");
	{
		json_t *l = NULL;

		CHECK(input_list(in, "apps", &l) == 1 &&
			      json_array_size(l) == 2 &&
			      strcmp(json_string_value(json_array_get(l, 1)),
				     "app2") == 0,
		      "comma list trimmed, empties dropped");
		json_decref(l);
	}
	json_decref(in);

	CHECK(parse("text/plain", "channel=q&after=1", "after=7", &in) == CT_OK,
	      "query and form body");
	CHECK(input_long(in, "after", 0, 100, &n) == 1 && n == 7,
	      "body wins over query");
	CHECK(input_str(in, "channel", &s) == 1 && strcmp(s, "q") == 0,
	      "query field kept");
	json_decref(in);

	CHECK(parse("application/json", NULL,
		    "{\"b1\":\"no\",\"b2\":0,"
		    "\"b3\":\"maybe\",\"b4\":2,"
		    "\"l\":[\"a\",1],\"o\":{}}",
		    &in) == CT_OK,
	      "JSON");
	CHECK(input_bool(in, "b1", &b) == 1 && b == 0, "no");
	CHECK(input_bool(in, "b2", &b) == 1 && b == 0, "0");
	CHECK(input_bool(in, "b3", &b) == -1, "maybe is no boolean");
	CHECK(input_bool(in, "b4", &b) == -1, "2 is no boolean");
	{
		json_t *l = NULL;

		CHECK(input_list(in, "l", &l) == -1, "list with a number");
	}
	CHECK(input_str(in, "o", &s) == -1, "object is no string");
	CHECK(input_long(in, "o", 0, 1, &n) == -1, "object is no number");
	json_decref(in);
}

static void
test_errors(void)
{
	static const struct {
		const char *ctype, *query, *body;
		int rc;
	} cases[] = {
		{ "application/json", NULL, "{", CT_EBADREQ },
		{ "application/json", NULL, "[1]", CT_EBADREQ },
		{ "application/json", NULL, "{\"a\":\"\\u0000\"}", CT_EBADREQ },
		{ "application/json", NULL, "{\"a\":\"\xff\"}", CT_EBADREQ },
		{ NULL, NULL, "a=%zz", CT_EBADREQ },
		{ NULL, NULL, "a=%4", CT_EBADREQ },
		{ NULL, NULL, "a=%00", CT_EBADREQ },
		{ NULL, NULL, "a=%c3%28", CT_EBADREQ },
		{ NULL, "a=%", NULL, CT_EBADREQ },
		{ "multipart/form-data; boundary=x", NULL, "--x", CT_EMEDIA },
		{ "text/xml", NULL, "<a/>", CT_EMEDIA },
		{ "text/xml", NULL, NULL, CT_OK }, /* no body: type unused */
		{ "application/vnd.api+json", NULL, "{}", CT_OK },
		{ "APPLICATION/JSON", NULL, "//{}", CT_OK },
	};
	char big[2048];
	json_t *in;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[64];
		int rc = parse(cases[i].ctype, cases[i].query, cases[i].body,
			       &in);

		snprintf(what, sizeof(what), "error case %zu", i);
		CHECK(rc == cases[i].rc, what);
		CHECK((rc == CT_OK) == (in != NULL), "object only on success");
		json_decref(in);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK(parse(NULL, NULL, big, &in) == CT_ETOOLARGE && !in,
	      "body over the cap");
}

int
main(void)
{
	char k[32];

	input_key("User_Id-X", k, sizeof(k));
	CHECK(strcmp(k, "useridx") == 0, "input_key");
	test_keys_and_types();
	test_errors();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

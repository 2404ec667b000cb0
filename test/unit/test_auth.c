/* test_auth.c - tokens are random and well-formed; sealed refs open only
 * with their own ticket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/auth.h"

static void
tokens(void **state)
{
	char a[CT_TOKEN_MAX], b[CT_TOKEN_MAX];

	(void)state;
	assert_int_equal(ct_auth_token("ctt_", a), 0);
	assert_int_equal(ct_auth_token("ctt_", b), 0);
	assert_int_equal(strlen(a), 4 + 32); /* 192 bits as base64url */
	assert_memory_equal(a, "ctt_", 4);
	assert_string_not_equal(a, b);
	assert_int_equal(strspn(a + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
				       "klmnopqrstuvwxyz0123456789-_"),
			 32);
}

static void
hashes(void **state)
{
	char h[CT_HASH_HEX];

	(void)state;
	ct_auth_hash_hex("abc", h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9"
			       "cb410ff61f20015ad");
	assert_true(ct_auth_equal(h, h));
	assert_false(ct_auth_equal("abc", "abd"));
	assert_false(ct_auth_equal("abc", "abcd"));
}

static void
keys(void **state)
{
	char app[33];

	(void)state;
	assert_int_equal(ct_auth_key_app("app1.secret", app, sizeof(app)), 0);
	assert_string_equal(app, "app1");
	assert_int_equal(ct_auth_key_app("nodot", app, sizeof(app)), -1);
	assert_int_equal(ct_auth_key_app(".x", app, sizeof(app)), -1);
	assert_int_equal(ct_auth_key_app("a12345678901234567890123456789012"
					 "3.x",
					 app, sizeof(app)),
			 -1);
}

static void
sealed_refs(void **state)
{
	char *box = NULL, *ref;

	(void)state;
	assert_int_equal(ct_auth_seal_ref("ctt_ticket1", "cs_myref", &box), 0);
	assert_null(strstr(box, "cs_myref"));
	ref = ct_auth_open_ref("ctt_ticket1", box);
	assert_non_null(ref);
	assert_string_equal(ref, "cs_myref");
	free(ref);
	assert_null(ct_auth_open_ref("ctt_ticket2", box)); /* wrong ticket */
	box[3] = box[3] == 'a' ? 'b' : 'a';                /* tampered */
	assert_null(ct_auth_open_ref("ctt_ticket1", box));
	assert_null(ct_auth_open_ref("ctt_ticket1", "zz"));
	assert_null(ct_auth_open_ref("ctt_ticket1", ""));
	free(box);
}

/* RFC 4231, test case 2: the one HMAC every signature of the hub uses. */
static void
hmac_vector(void **state)
{
	char out[CT_HASH_HEX];
	const char *msg = "what do ya want for nothing?";

	(void)state;
	ct_auth_hmac_hex("Jefe", msg, strlen(msg), out);
	assert_string_equal(out, "5bdcc146bf60754e6a042426089575c7"
				 "5a003f089d2739839dec58b964ec3843");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hmac_vector), cmocka_unit_test(tokens),
		cmocka_unit_test(hashes),      cmocka_unit_test(keys),
		cmocka_unit_test(sealed_refs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

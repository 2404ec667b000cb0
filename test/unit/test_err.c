/* test_err.c - every error code maps to the contract's string and status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/err.h"

static void
table(void **state)
{
	static const struct {
		int rc;
		const char *code;
		int status;
	} cases[] = {
		{ CT_OK, "ok", 200 },
		{ CT_EBADREQ, "bad_request", 400 },
		{ CT_EUNAUTH, "unauthorized", 401 },
		{ CT_EFORBIDDEN, "forbidden", 403 },
		{ CT_ENOTFOUND, "not_found", 404 },
		{ CT_EMETHOD, "method_not_allowed", 405 },
		{ CT_ECONFLICT, "conflict", 409 },
		{ CT_ETOOLARGE, "too_large", 413 },
		{ CT_EMEDIA, "unsupported_media_type", 415 },
		{ CT_EINVALID, "invalid", 422 },
		{ CT_ERATE, "rate_limited", 429 },
		{ CT_EUNAVAIL, "unavailable", 503 },
		{ CT_ENOMEM, "unavailable", 503 },
		{ -99, "internal", 500 },
		{ 7, "internal", 500 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(ct_err_code(cases[i].rc), cases[i].code);
		assert_int_equal(ct_err_status(cases[i].rc), cases[i].status);
	}
	assert_int_equal(ct_err_from_code("forbidden"), CT_EFORBIDDEN);
	assert_int_equal(ct_err_from_code("nope"), CT_EINTERNAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(table) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* err.c - the table behind err.h. */
#include <string.h>

#include "core/err.h"

/* clang-format off */
static const struct {
	const char *code;
	int status;
} errs[CT_ERR_COUNT] = {
	{ "ok",                     200 },
	{ "bad_request",            400 },
	{ "unauthorized",           401 },
	{ "forbidden",              403 },
	{ "not_found",              404 },
	{ "method_not_allowed",     405 },
	{ "conflict",               409 },
	{ "too_large",              413 },
	{ "unsupported_media_type", 415 },
	{ "invalid",                422 },
	{ "rate_limited",           429 },
	{ "unavailable",            503 },
	{ "unavailable",            503 },
	{ "internal",               500 },
};
/* clang-format on */

static int
idx(int rc)
{
	return (rc > 0 || rc <= -CT_ERR_COUNT) ? -CT_EINTERNAL : -rc;
}

const char *
ct_err_code(int rc)
{
	return errs[idx(rc)].code;
}

int
ct_err_status(int rc)
{
	return errs[idx(rc)].status;
}

int
ct_err_from_code(const char *code)
{
	for (int i = 1; i < CT_ERR_COUNT; i++)
		if (strcmp(errs[i].code, code) == 0)
			return -i;
	return CT_EINTERNAL;
}

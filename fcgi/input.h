/* input.h - request input, normalised: query string, form or JSON body
 * become one JSON object whose keys are lower-case with '_' and '-'
 * removed ("USER_ID", "userId" and "user-id" all become "userid").
 * Pure functions over bytes: no FastCGI, no database (a fuzz target
 * calls input_parse alone). */
#ifndef CT_INPUT_H
#define CT_INPUT_H

#include <stddef.h>

#include <jansson.h>

/* Parse the query string (may be NULL) and the body (len bytes, may be
 * NULL when len is 0) of content type ctype (may be NULL) into a new
 * object *out (caller json_decref()s). Body fields win over query fields.
 * A body longer than max is CT_ETOOLARGE; an unknown content type
 * CT_EMEDIA; malformed input CT_EBADREQ. The reason goes into err. */
int input_parse(const char *ctype, const char *query, const char *body,
		size_t len, size_t max, json_t **out, char *err, size_t errlen);

/* Normalise one key into out (outlen >= strlen(key) + 1). */
void input_key(const char *key, char *out, size_t outlen);

/* Accessors take normalised keys ("userid"). Each returns 1 when found
 * and valid, 0 when absent (or an empty string / JSON null), -1 when
 * present but of the wrong shape. */

/* A string; numbers (5, 5.0 -> "5") and booleans ("true") are turned into
 * strings in place, so *out is borrowed from in and lives as long as it. */
int input_str(json_t *in, const char *key, const char **out);
/* A whole number: 5, 5.0, "5", " 5.0 "; within [min, max]. */
int input_long(json_t *in, const char *key, long min, long max, long *out);
/* true/false, 1/0, "YES"/"NO", "true"/"false", "on"/"off", "y"/"n". */
int input_bool(json_t *in, const char *key, int *out);
/* A list of strings: a JSON array, or a string split on ',' (blanks
 * trimmed). *out is a new array (caller decrefs) on 1. */
int input_list(json_t *in, const char *key, json_t **out);

#endif /* CT_INPUT_H */

/* input.c - query, form and JSON input turned into one normalised JSON
 * object, and the loose accessors cfhttp-made requests need. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/util.h"
#include "fcgi/input.h"

void
input_key(const char *key, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *key && n + 1 < outlen; key++) {
		if (*key == '_' || *key == '-')
			continue;
		out[n++] = (char)tolower((unsigned char)*key);
	}
	out[n] = 0;
}

/* Set in[normalised key] = v (takes v). */
static int
put(json_t *obj, const char *key, json_t *v)
{
	size_t n = strlen(key) + 1;
	char *k = malloc(n); /* owned here, freed below */
	int rc;

	if (!k) {
		json_decref(v);
		return -1;
	}
	input_key(key, k, n);
	rc = k[0] ? json_object_set_new(obj, k, v) : (json_decref(v), 0);
	free(k);
	return rc;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode s[0..n) into a new NUL-terminated string (caller frees);
 * NULL when malformed, not UTF-8, or holding a NUL. */
static char *
pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1); /* caller owns */
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= n)
				goto bad;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = 0;
	if (ct_utf8_count(out, o) < 0)
		goto bad;
	return out;
bad:
	free(out);
	return NULL;
}

static int
parse_form(json_t *obj, const char *s, size_t len, char *err, size_t errlen)
{
	size_t i = 0;

	while (i < len) {
		size_t end = i, eq;
		char *k, *v;

		while (end < len && s[end] != '&')
			end++;
		for (eq = i; eq < end && s[eq] != '='; eq++)
			;
		if (end > i) {
			k = pct_decode(s + i, eq - i);
			v = eq < end ? pct_decode(s + eq + 1, end - eq - 1)
				     : strdup("");
			if (!k || !v) {
				free(k);
				free(v);
				snprintf(err, errlen,
					 "malformed form field (bad %%-escape, "
					 "invalid UTF-8 or NUL)");
				return CT_EBADREQ;
			}
			if (put(obj, k, json_string(v)) != 0) {
				free(k);
				free(v);
				snprintf(err, errlen, "out of memory");
				return CT_ENOMEM;
			}
			free(k);
			free(v);
		}
		i = end + 1;
	}
	return CT_OK;
}

/* Skip a UTF-8 BOM, blanks and one leading "//" (ColdFusion's secure JSON
 * prefix) before a JSON text. */
static const char *
skip_prefix(const char *s, const char *end)
{
	if (end - s >= 3 && (unsigned char)s[0] == 0xEF &&
	    (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
		s += 3;
	while (s < end && isspace((unsigned char)*s))
		s++;
	if (end - s >= 2 && s[0] == '/' && s[1] == '/') {
		s += 2;
		while (s < end && isspace((unsigned char)*s))
			s++;
	}
	return s;
}

static int
parse_json(json_t *obj, const char *s, size_t len, char *err, size_t errlen)
{
	const char *p = skip_prefix(s, s + len);
	json_error_t je;
	json_t *doc;
	const char *k;
	json_t *v;

	doc = json_loadb(p, (size_t)(s + len - p), 0, &je); /* owned here */
	if (!doc) {
		snprintf(err, errlen, "malformed JSON: %s", je.text);
		return CT_EBADREQ;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		snprintf(err, errlen, "the JSON body must be an object");
		return CT_EBADREQ;
	}
	json_object_foreach(doc, k, v)
	{
		if (put(obj, k, json_incref(v)) != 0) {
			json_decref(doc);
			snprintf(err, errlen, "out of memory");
			return CT_ENOMEM;
		}
	}
	json_decref(doc);
	return CT_OK;
}

enum body_kind { B_FORM, B_JSON, B_SNIFF, B_OTHER };

static enum body_kind
body_kind(const char *ctype)
{
	char t[96];
	size_t n = 0;

	if (!ctype)
		return B_SNIFF;
	while (*ctype == ' ')
		ctype++;
	for (; ctype[n] && ctype[n] != ';' && ctype[n] != ' ' &&
	       n + 1 < sizeof(t);
	     n++)
		t[n] = (char)tolower((unsigned char)ctype[n]);
	t[n] = 0;
	if (!t[0] || strcmp(t, "text/plain") == 0)
		return B_SNIFF;
	if (strcmp(t, "application/x-www-form-urlencoded") == 0)
		return B_FORM;
	if (strcmp(t, "application/json") == 0 || strcmp(t, "text/json") == 0 ||
	    (n > 5 && strcmp(t + n - 5, "+json") == 0 &&
	     strncmp(t, "application/", 12) == 0))
		return B_JSON;
	return B_OTHER;
}

int
input_parse(const char *ctype, const char *query, const char *body, size_t len,
	    size_t max, json_t **out, char *err, size_t errlen)
{
	json_t *obj = json_object(); /* owned until handed to *out */
	enum body_kind kind = body_kind(ctype);
	int rc;

	if (!obj) {
		snprintf(err, errlen, "out of memory");
		return CT_ENOMEM;
	}
	if (len > max) {
		snprintf(err, errlen, "the body is larger than %zu bytes", max);
		rc = CT_ETOOLARGE;
		goto fail;
	}
	if (query && *query &&
	    (rc = parse_form(obj, query, strlen(query), err, errlen)) != CT_OK)
		goto fail;
	if (len > 0) {
		if (kind == B_OTHER) {
			snprintf(err, errlen,
				 "send application/x-www-form-urlencoded or "
				 "application/json");
			rc = CT_EMEDIA;
			goto fail;
		}
		if (kind == B_SNIFF) {
			const char *p = skip_prefix(body, body + len);

			kind = p < body + len && (*p == '{' || *p == '[')
				       ? B_JSON
				       : B_FORM;
		}
		rc = kind == B_JSON ? parse_json(obj, body, len, err, errlen)
				    : parse_form(obj, body, len, err, errlen);
		if (rc != CT_OK)
			goto fail;
	}
	*out = obj;
	return CT_OK;
fail:
	json_decref(obj);
	return rc;
}

/* Whole number from a double, or -1. */
static int
from_real(double d, long min, long max, long *out)
{
	if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
		return -1;
	*out = (long)d;
	return 1;
}

int
input_str(json_t *in, const char *key, const char **out)
{
	json_t *v = json_object_get(in, key);
	char buf[64];

	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		*out = json_string_value(v);
		return **out ? 1 : 0;
	}
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
	} else if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d == floor(d) && fabs(d) < 1e15)
			snprintf(buf, sizeof(buf), "%.0f", d);
		else
			snprintf(buf, sizeof(buf), "%.17g", d);
	} else if (json_is_boolean(v)) {
		snprintf(buf, sizeof(buf), "%s",
			 json_is_true(v) ? "true" : "false");
	} else {
		return -1;
	}
	/* replace in place so the returned pointer lives as long as in */
	if (json_object_set_new(in, key, json_string(buf)) != 0)
		return -1;
	*out = json_string_value(json_object_get(in, key));
	return 1;
}

int
input_long(json_t *in, const char *key, long min, long max, long *out)
{
	json_t *v = json_object_get(in, key);
	const char *s;
	char *end;
	double d;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		if (n < min || n > max)
			return -1;
		*out = (long)n;
		return 1;
	}
	if (json_is_real(v))
		return from_real(json_real_value(v), min, max, out);
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return 0;
	/* digits with an optional ".000" tail: what cfhttp serialises */
	for (const char *p = s + (*s == '-' || *s == '+'); *p; p++)
		if (!isdigit((unsigned char)*p) && *p != '.' &&
		    !isspace((unsigned char)*p))
			return -1;
	d = strtod(s, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (end == s || *end)
		return -1;
	return from_real(d, min, max, out);
}

int
input_bool(json_t *in, const char *key, int *out)
{
	static const char *const yes[] = { "true", "yes", "1", "on", "y" };
	static const char *const no[] = { "false", "no", "0", "off", "n" };
	json_t *v = json_object_get(in, key);
	char t[8];
	size_t n = 0;
	const char *s;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 1;
	}
	if (json_is_integer(v) || json_is_real(v)) {
		double d = json_number_value(v);

		if (d != 0 && d != 1)
			return -1;
		*out = d == 1;
		return 1;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return 0;
	while (s[n] && !isspace((unsigned char)s[n]) && n + 1 < sizeof(t)) {
		t[n] = s[n];
		n++;
	}
	t[n] = 0;
	for (const char *p = s + n; *p; p++)
		if (!isspace((unsigned char)*p))
			return -1;
	if (strcmp(t, "1.0") == 0 || strcmp(t, "0.0") == 0) {
		*out = t[0] == '1';
		return 1;
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(t, yes[i]) == 0) {
			*out = 1;
			return 1;
		}
		if (strcasecmp(t, no[i]) == 0) {
			*out = 0;
			return 1;
		}
	}
	return -1;
}

int
input_list(json_t *in, const char *key, json_t **out)
{
	json_t *v = json_object_get(in, key);
	json_t *arr;
	size_t i;
	json_t *e;

	if (!v || json_is_null(v))
		return 0;
	if (!(arr = json_array())) /* handed to *out on success */
		return -1;
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				goto bad;
			json_array_append(arr, e);
		}
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);

		while (*s) {
			const char *end = strchr(s, ',');
			size_t n = end ? (size_t)(end - s) : strlen(s);

			while (n && isspace((unsigned char)*s)) {
				s++;
				n--;
			}
			while (n && isspace((unsigned char)s[n - 1]))
				n--;
			if (n)
				json_array_append_new(arr, json_stringn(s, n));
			if (!end)
				break;
			s = end + 1;
		}
	} else {
		goto bad;
	}
	*out = arr;
	return 1;
bad:
	json_decref(arr);
	return -1;
}

/* frame.c - see frame.h. The checks and messages here are the ones a
 * client sees in "error" frames. */
#include <stdio.h>
#include <string.h>

#include "core/auth.h"
#include "core/err.h"
#include "core/util.h"
#include "wsd/frame.h"

/* A seq may come as a number or a string; absent or null: dflt. */
static int
get_seq(json_t *m, const char *key, int64_t dflt, int64_t *out)
{
	json_t *v = json_object_get(m, key);
	long x;

	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) &&
	    ct_parse_long(json_string_value(v), -1000000000000000000L,
			  1000000000000000000L, &x) == 0) {
		*out = x;
		return 0;
	}
	return -1;
}

static int
fail(char *msg, size_t msglen, int rc, const char *why)
{
	snprintf(msg, msglen, "%s", why);
	return rc;
}

static int
check_text(json_t *m, long text_max, char *msg, size_t msglen)
{
	const char *text = json_string_value(json_object_get(m, "text"));
	long n;

	if (!text)
		return fail(msg, msglen, CT_EINVALID, "text is required");
	/* jansson keeps an escaped \u0000 inside the string: the length it
	 * stored, not strlen, tells whether there is one */
	n = ct_utf8_count(text, json_string_length(json_object_get(m, "text")));
	if (n <= 0)
		return fail(msg, msglen, CT_EINVALID,
			    "text must be non-empty UTF-8 without NUL");
	if (n > text_max)
		return fail(msg, msglen, CT_ETOOLARGE, "text is too long");
	return CT_OK;
}

static int
named(const char *type)
{
	static const char *const t[] = { "subscribe", "unsubscribe", "publish",
					 "typing",    "read",        "presence",
					 "history",   NULL };

	for (int i = 0; t[i]; i++)
		if (strcmp(type, t[i]) == 0)
			return 1;
	return 0;
}

int
creq_parse(const char *s, size_t len, int first, long text_max, struct creq *r,
	   char *msg, size_t msglen)
{
	const char *channel, *cid, *ticket;

	memset(r, 0, sizeof(*r));
	r->m = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(r->m))
		return fail(msg, msglen, first ? CT_EUNAUTH : CT_EBADREQ,
			    "a frame is one JSON object");
	r->type = json_string_value(json_object_get(r->m, "type"));
	r->ref = json_string_value(json_object_get(r->m, "ref"));
	if (r->ref && strlen(r->ref) > 200)
		r->ref = NULL;
	if (first) {
		ticket = json_string_value(json_object_get(r->m, "ticket"));
		if (!r->type || strcmp(r->type, "auth") != 0)
			return fail(msg, msglen, CT_EUNAUTH,
				    "the first frame must be auth");
		if (!ticket || !*ticket || strlen(ticket) >= CT_TOKEN_MAX)
			return fail(msg, msglen, CT_EUNAUTH, "bad ticket");
		return CT_OK;
	}
	if (!r->type)
		return fail(msg, msglen, CT_EBADREQ, "a frame needs a type");
	if (strcmp(r->type, "ping") == 0 || strcmp(r->type, "channels") == 0)
		return CT_OK;
	if (strcmp(r->type, "edit") == 0 || strcmp(r->type, "delete") == 0) {
		if (get_seq(r->m, "id", 0, &r->seq) || r->seq <= 0)
			return fail(msg, msglen, CT_EINVALID, "id is required");
		return r->type[0] == 'e'
			       ? check_text(r->m, text_max, msg, msglen)
			       : CT_OK;
	}
	if (!named(r->type))
		return fail(msg, msglen, CT_EBADREQ, "unknown type");
	channel = json_string_value(json_object_get(r->m, "channel"));
	if (!channel || !ct_valid_channel(channel))
		return fail(msg, msglen, CT_EINVALID,
			    "channel is missing or malformed");
	if (strcmp(r->type, "subscribe") == 0 &&
	    get_seq(r->m, "after", 0, &r->seq))
		return fail(msg, msglen, CT_EINVALID, "after must be a seq");
	if (strcmp(r->type, "publish") == 0) {
		int rc = check_text(r->m, text_max, msg, msglen);

		if (rc != CT_OK)
			return rc;
		cid = json_string_value(json_object_get(r->m, "client_id"));
		if (cid && strlen(cid) > 128)
			return fail(msg, msglen, CT_EINVALID,
				    "client_id is too long");
	}
	if (strcmp(r->type, "read") == 0 &&
	    (get_seq(r->m, "seq", -1, &r->seq) || r->seq < 0))
		return fail(msg, msglen, CT_EINVALID, "seq is required");
	if (strcmp(r->type, "history") == 0 &&
	    (get_seq(r->m, "before", INT64_MAX, &r->seq) ||
	     get_seq(r->m, "limit", 50, &r->limit) || r->limit < 1 ||
	     r->limit > 200))
		return fail(msg, msglen, CT_EINVALID,
			    "before must be a seq, limit 1-200");
	return CT_OK;
}

void
creq_free(struct creq *r)
{
	json_decref(r->m);
	r->m = NULL;
}

/* creq.c - see creq.h. The checks and messages here are the ones a
 * client sees in "error" frames. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/auth.h"
#include "core/err.h"
#include "core/util.h"
#include "wsd/creq.h"

/* fields a type needs */
#define F_CHANNEL 0x01   /* channel, valid */
#define F_TEXT    0x02   /* text, non-empty UTF-8 within text_max */
#define F_ID      0x04   /* id > 0 (edit, delete) */
#define F_AFTER   0x08   /* after, a seq (absent: 0; negative: the last N) */
#define F_SEQ     0x10   /* seq >= 0 */
#define F_PAGE    0x20   /* before (a seq), limit 1-200 */
#define F_CID     0x40   /* client_id, optional, <= 128 bytes */
#define F_SEARCH  0x80   /* q, channel?, cursor?, limit (check_search) */
#define F_USERS   0x100  /* q?, cursor?, limit (check_users) */
#define F_IDS     0x200  /* users: 1-100 valid user ids; title? */
#define F_REPLY   0x400  /* reply_to, optional: a message id */
#define F_EMOJI   0x800  /* emoji: a string (the database checks it) */
#define F_FILES   0x1000 /* files, optional: 1-10 attachment ids */
#define F_FILEIDS 0x2000 /* ids: 1-50 attachment ids */

/* clang-format off */
static const struct {
	const char *name;
	enum creq_kind kind;
	unsigned fields;
	unsigned flags;
} types[] = {
	{ "ping",        CREQ_PING,        0,                   0 },
	{ "channels",    CREQ_CHANNELS,    0,                   CREQ_DB },
	{ "subscribe",   CREQ_SUBSCRIBE,   F_CHANNEL | F_AFTER, CREQ_DB },
	{ "unsubscribe", CREQ_UNSUBSCRIBE, F_CHANNEL,           0 },
	{ "publish",     CREQ_PUBLISH,     F_CHANNEL | F_TEXT | F_CID | F_REPLY | F_FILES,
						      CREQ_DB | CREQ_WRITE },
	{ "edit",        CREQ_EDIT,        F_ID | F_TEXT,       CREQ_DB | CREQ_WRITE },
	{ "delete",      CREQ_DELETE,      F_ID,                CREQ_DB | CREQ_WRITE },
	{ "typing",      CREQ_TYPING,      F_CHANNEL,           CREQ_DB },
	{ "read",        CREQ_READ,        F_CHANNEL | F_SEQ,   CREQ_DB },
	{ "presence",    CREQ_PRESENCE,    F_CHANNEL,           CREQ_DB },
	{ "history",     CREQ_HISTORY,     F_CHANNEL | F_PAGE,  CREQ_DB },
	{ "search",      CREQ_SEARCH,      F_SEARCH,            CREQ_DB },
	{ "users",       CREQ_USERS,       F_USERS,             CREQ_DB },
	{ "group",       CREQ_GROUP,       F_IDS,               CREQ_DB | CREQ_WRITE },
	{ "members",     CREQ_MEMBERS,     F_CHANNEL,           CREQ_DB },
	{ "add_members", CREQ_ADD_MEMBERS, F_CHANNEL | F_IDS,   CREQ_DB | CREQ_WRITE },
	{ "remove_members", CREQ_REMOVE_MEMBERS, F_CHANNEL | F_IDS,
						      CREQ_DB | CREQ_WRITE },
	{ "react",       CREQ_REACT,       F_ID | F_EMOJI,      CREQ_DB | CREQ_WRITE },
	{ "unreact",     CREQ_UNREACT,     F_ID | F_EMOJI,      CREQ_DB | CREQ_WRITE },
	{ "upload",      CREQ_UPLOAD,      F_CHANNEL,           0 },
	{ "files",       CREQ_FILES,       F_FILEIDS,           0 },
};
/* clang-format on */

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

/* An attachment id: a number or a string of digits, > 0. */
static int
file_id(json_t *v, int64_t *id)
{
	long x;

	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*id = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && ct_parse_long(json_string_value(v), 1,
					       1000000000000000000L, &x) == 0) {
		*id = x;
		return 0;
	}
	return -1;
}

/* key: an array of 1-max attachment ids into r->ids; with out, also
 * as "17,18". absent_ok: a missing key is fine. */
static int
check_file_ids(struct creq *r, const char *key, size_t max, int absent_ok,
	       char *out, size_t outlen, char *msg, size_t msglen)
{
	json_t *v, *a = json_object_get(r->m, key);
	size_t i, o = 0;
	int64_t id;

	if ((!a || json_is_null(a)) && absent_ok)
		return CT_OK;
	if (!json_is_array(a) || json_array_size(a) < 1 ||
	    json_array_size(a) > max) {
		snprintf(msg, msglen,
			 "%s must be an array of 1-%zu attachment ids", key,
			 max);
		return CT_EINVALID;
	}
	json_array_foreach(a, i, v)
	{
		int n;

		if (file_id(v, &id) != 0)
			return fail(msg, msglen, CT_EINVALID,
				    "an attachment id is a positive number");
		if (!out)
			continue;
		n = snprintf(out + o, outlen - o, "%s%" PRId64, i ? "," : "",
			     id);
		if (n < 0 || (size_t)n >= outlen - o)
			return fail(msg, msglen, CT_EINVALID,
				    "too many attachment ids");
		o += (size_t)n;
	}
	r->ids = a;
	return CT_OK;
}

static int
check_text(struct creq *r, long text_max, char *msg, size_t msglen)
{
	json_t *t = json_object_get(r->m, "text");
	long n;

	if (!(r->text = json_string_value(t)))
		return fail(msg, msglen, CT_EINVALID, "text is required");
	/* jansson keeps an escaped \u0000 inside the string: the length it
	 * stored, not strlen, tells whether there is one */
	n = ct_utf8_count(r->text, json_string_length(t));
	if (n == 0 && r->files[0])
		return CT_OK; /* a message of files alone */
	if (n <= 0)
		return fail(msg, msglen, CT_EINVALID,
			    "text must be non-empty UTF-8 without NUL");
	if (n > text_max)
		return fail(msg, msglen, CT_ETOOLARGE, "text is too long");
	return CT_OK;
}

/* A search: the words are checked where they are used (the database's
 * crosstalk.search_messages, for HTTP and WebSocket alike); here only
 * their type, the channel when given, and the page. An answer holds at
 * most 20 results, so that it fits an answer's budget (PROTOCOL.md). */
static int
check_search(struct creq *r, char *msg, size_t msglen)
{
	json_t *m = r->m, *ch = json_object_get(m, "channel");

	if (!(r->q = json_string_value(json_object_get(m, "q"))))
		return fail(msg, msglen, CT_EINVALID, "q is required");
	if (ch && !json_is_null(ch) &&
	    (!(r->channel = json_string_value(ch)) ||
	     !ct_valid_channel(r->channel)))
		return fail(msg, msglen, CT_EINVALID, "channel is malformed");
	r->cursor = json_string_value(json_object_get(m, "cursor"));
	if (r->cursor && strlen(r->cursor) > 64)
		return fail(msg, msglen, CT_EINVALID, "cursor is too long");
	if (get_seq(m, "limit", 20, &r->limit) || r->limit < 1 || r->limit > 20)
		return fail(msg, msglen, CT_EINVALID, "limit must be 1-20");
	return CT_OK;
}

/* A directory page: the prefix is checked by crosstalk.search_users (for
 * HTTP and WebSocket alike); here its type and the page. */
static int
check_users(struct creq *r, char *msg, size_t msglen)
{
	json_t *m = r->m, *q = json_object_get(m, "q");

	if (q && !json_is_null(q) && !(r->q = json_string_value(q)))
		return fail(msg, msglen, CT_EINVALID, "q must be a string");
	r->cursor = json_string_value(json_object_get(m, "cursor"));
	if (r->cursor && strlen(r->cursor) > 16)
		return fail(msg, msglen, CT_EINVALID, "cursor is too long");
	if (get_seq(m, "limit", 20, &r->limit) || r->limit < 1 || r->limit > 50)
		return fail(msg, msglen, CT_EINVALID, "limit must be 1-50");
	return CT_OK;
}

/* users: the ids a group or a member change names, each a valid user id
 * (the database checks who they are); title: a group's, optional. */
static int
check_ids(struct creq *r, char *msg, size_t msglen)
{
	json_t *v, *t = json_object_get(r->m, "title");
	size_t i;

	r->users = json_object_get(r->m, "users");
	if (!json_is_array(r->users) || json_array_size(r->users) < 1 ||
	    json_array_size(r->users) > 100)
		return fail(msg, msglen, CT_EINVALID,
			    "users must be an array of 1-100 user ids");
	json_array_foreach(r->users, i, v)
	{
		if (!json_is_string(v) ||
		    !ct_valid_user_id(json_string_value(v),
				      json_string_length(v)))
			return fail(msg, msglen, CT_EINVALID,
				    "users lists an invalid user id");
	}
	if (t && !json_is_null(t) && !(r->title = json_string_value(t)))
		return fail(msg, msglen, CT_EINVALID, "title must be a string");
	return CT_OK;
}

/* The fields the type needs, checked. */
static int
check_fields(struct creq *r, unsigned f, long text_max, char *msg,
	     size_t msglen)
{
	json_t *m = r->m;
	int rc;

	if (f & F_CHANNEL) {
		r->channel = json_string_value(json_object_get(m, "channel"));
		if (!r->channel || !ct_valid_channel(r->channel))
			return fail(msg, msglen, CT_EINVALID,
				    "channel is missing or malformed");
	}
	if ((f & F_ID) && (get_seq(m, "id", 0, &r->seq) || r->seq <= 0))
		return fail(msg, msglen, CT_EINVALID, "id is required");
	if ((f & F_FILES) &&
	    (rc = check_file_ids(r, "files", 10, 1, r->files, sizeof(r->files),
				 msg, msglen)))
		return rc;
	if ((f & F_FILEIDS) &&
	    (rc = check_file_ids(r, "ids", 50, 0, NULL, 0, msg, msglen)))
		return rc;
	if ((f & F_TEXT) && (rc = check_text(r, text_max, msg, msglen)))
		return rc;
	if (f & F_CID) {
		r->client_id =
			json_string_value(json_object_get(m, "client_id"));
		if (r->client_id && strlen(r->client_id) > 128)
			return fail(msg, msglen, CT_EINVALID,
				    "client_id is too long");
	}
	if ((f & F_REPLY) &&
	    (get_seq(m, "reply_to", 0, &r->reply_to) || r->reply_to < 0))
		return fail(msg, msglen, CT_EINVALID,
			    "reply_to must be a message id");
	if ((f & F_EMOJI) &&
	    !(r->emoji = json_string_value(json_object_get(m, "emoji"))))
		return fail(msg, msglen, CT_EINVALID, "emoji is required");
	if ((f & F_AFTER) && get_seq(m, "after", 0, &r->seq))
		return fail(msg, msglen, CT_EINVALID, "after must be a seq");
	if ((f & F_SEQ) && (get_seq(m, "seq", -1, &r->seq) || r->seq < 0))
		return fail(msg, msglen, CT_EINVALID, "seq is required");
	if ((f & F_PAGE) && (get_seq(m, "before", INT64_MAX, &r->seq) ||
			     get_seq(m, "limit", 50, &r->limit) ||
			     r->limit < 1 || r->limit > 200))
		return fail(msg, msglen, CT_EINVALID,
			    "before must be a seq, limit 1-200");
	if (f & F_SEARCH)
		return check_search(r, msg, msglen);
	if (f & F_USERS)
		return check_users(r, msg, msglen);
	if (f & F_IDS)
		return check_ids(r, msg, msglen);
	return CT_OK;
}

int
creq_parse(const char *s, size_t len, int first, long text_max, struct creq *r,
	   char *msg, size_t msglen)
{
	memset(r, 0, sizeof(*r));
	r->t0_ms = ct_mono_ms();
	r->m = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(r->m))
		return fail(msg, msglen, first ? CT_EUNAUTH : CT_EBADREQ,
			    "a frame is one JSON object");
	r->type = json_string_value(json_object_get(r->m, "type"));
	r->ref = json_string_value(json_object_get(r->m, "ref"));
	if (r->ref && strlen(r->ref) > CREQ_REF_MAX)
		r->ref = NULL;
	if (first) {
		r->kind = CREQ_AUTH;
		r->ticket = json_string_value(json_object_get(r->m, "ticket"));
		if (!r->type || strcmp(r->type, "auth") != 0)
			return fail(msg, msglen, CT_EUNAUTH,
				    "the first frame must be auth");
		if (!r->ticket || !*r->ticket ||
		    strlen(r->ticket) >= CT_TOKEN_MAX)
			return fail(msg, msglen, CT_EUNAUTH, "bad ticket");
		return CT_OK;
	}
	if (!r->type)
		return fail(msg, msglen, CT_EBADREQ, "a frame needs a type");
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(r->type, types[i].name) == 0) {
			r->kind = types[i].kind;
			r->flags = types[i].flags;
			return check_fields(r, types[i].fields, text_max, msg,
					    msglen);
		}
	return fail(msg, msglen, CT_EBADREQ, "unknown type");
}

void
creq_free(struct creq *r)
{
	json_decref(r->m);
	r->m = NULL;
}

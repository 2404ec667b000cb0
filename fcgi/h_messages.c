/* h_messages.c - POST messages (committed by batch.c through
 * crosstalk.api_post_batch: the checks, the rate limit and the post in lock
 * order), messages/poll with its NOTIFY-woken long-poll, messages/edit,
 * messages/delete, messages/read, messages/search and reactions. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/util.h"
#include "fcgi/fcgi.h"
#include "fcgi/input.h"
#include "fcgi/pool.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

/* files: attachment ids, a JSON array (of strings or numbers) or "17,18",
 * as the batch's "17,18" into out ("" when absent). 0, or 422 was
 * replied. */
static int
post_files(struct req *r, char *out, size_t outlen)
{
	json_t *list = NULL, *v, *raw = json_object_get(r->in, "files");
	size_t i, o = 0;

	out[0] = 0;
	if (!raw || json_is_null(raw) ||
	    (json_is_string(raw) && !json_string_length(raw)))
		return 0;
	if (json_is_array(raw))
		list = json_incref(raw);
	else if (input_list(r->in, "files", &list) != 1)
		goto bad;
	if (json_array_size(list) < 1 || json_array_size(list) > 10)
		goto bad;
	json_array_foreach(list, i, v)
	{
		long id = 0;
		int n;

		if (json_is_integer(v))
			id = (long)json_integer_value(v);
		else if (!json_is_string(v) ||
			 ct_parse_long(json_string_value(v), 1, LONG_MAX,
				       &id) != 0)
			goto bad;
		if (id < 1)
			goto bad;
		n = snprintf(out + o, outlen - o, "%s%ld", i ? "," : "", id);
		if (n < 0 || (size_t)n >= outlen - o)
			goto bad;
		o += (size_t)n;
	}
	json_decref(list);
	return 0;
bad:
	json_decref(list);
	req_error(r, CT_EINVALID,
		  "files must be a list of 1-10 attachment ids");
	return -1;
}

void
h_messages(struct req *r)
{
	const struct ct_cfg *cfg = r->w->cfg;
	const char *channel, *text = NULL, *client_id = NULL, *bot = NULL;
	struct post p;
	char retry[48];
	json_t *ev;
	char files[256], *rewritten = NULL; /* owned: the hook's text */
	int excl = 0, rc;
	long reply_to = 0;

	if (req_str(r, "channel", "channel", 1, &channel) < 0 ||
	    req_str(r, "text", "text", 0, &text) < 0 ||
	    req_str(r, "clientid", "client_id", 0, &client_id) < 0 ||
	    req_bool(r, "excludesender", "exclude_sender", &excl) < 0 ||
	    req_long(r, "replyto", "reply_to", 1, LONG_MAX, &reply_to) < 0 ||
	    req_str(r, "bot", "bot", 0, &bot) < 0)
		return;
	/* as a user (a session), or as the app's bot (the key alone) */
	if (bot && (req_param(r, "HTTP_X_CROSSTALK_SESSION") ||
		    json_object_get(r->in, "session"))) {
		req_error(r, CT_EINVALID,
			  "a post has a session or a bot, not both");
		return;
	}
	if (!bot && req_session_ref(r) != 0)
		return;
	if (post_files(r, files, sizeof(files)) != 0)
		return;
	/* a channel hook may refuse or rewrite a user's post (not a bot's) */
	if (!bot && text &&
	    gate_publish(r, channel, &text, client_id, &rewritten) != 0)
		return;
	memset(&p, 0, sizeof(p));
	p.app = r->app;
	p.session = r->session; /* resolved in the post's own transaction */
	p.channel = channel;
	p.text = text ? text : ""; /* "" gets the SQL's own 422 */
	p.client_id = client_id;
	p.exclude_ref = excl ? r->session : NULL;
	p.reply_to = reply_to;
	p.bot = bot;
	p.files = files[0] ? files : NULL;
	p.limit = cfg->lim_publish_count;
	p.window = cfg->lim_publish_window;
	rc = post_submit(r->w, &p);
	free(rewritten); /* the post is done with its text */
	if (rc != CT_OK) {
		req_error(r, p.rc, "%s", p.msg);
		return;
	}
	if (p.retry_after > 0) {
		snprintf(retry, sizeof(retry), "Retry-After: %ld",
			 p.retry_after);
		req_header(r, retry);
		req_error(r, CT_ERATE,
			  "more than %d messages in %d s; retry after %ld s",
			  cfg->lim_publish_count, cfg->lim_publish_window,
			  p.retry_after);
		return;
	}
	ev = json_loads(p.event, JSON_DECODE_ANY, NULL); /* owned */
	free(p.event);
	if (!ev) {
		req_error(r, CT_EINTERNAL, "unexpected database answer");
		return;
	}
	req_reply(r, p.created ? 201 : 200,
		  json_pack("{s:o, s:b}", "message", ev, "created", p.created));
}

void
h_messages_poll(struct req *r)
{
	const struct ct_cfg *cfg = r->w->cfg;
	const char *channel, *params[5];
	long after = 0, limit = 100, wait = 0;
	char afters[24], limits[16];
	struct park *p = NULL;
	PGresult *res;
	json_t *doc;

	if (req_str(r, "channel", "channel", 1, &channel) < 0 ||
	    req_long(r, "after", "after", 0, 1L << 53, &after) < 0 ||
	    req_long(r, "limit", "limit", 1, 1000000, &limit) < 0 ||
	    req_long(r, "wait", "wait", 0, 3600, &wait) < 0)
		return;
	/* documented: larger values are capped, not refused */
	if (limit > cfg->lim_poll_limit_max)
		limit = cfg->lim_poll_limit_max;
	if (wait > cfg->lim_poll_wait_max)
		wait = cfg->lim_poll_wait_max;
	snprintf(afters, sizeof(afters), "%ld", after);
	snprintf(limits, sizeof(limits), "%ld", limit);
	params[0] = r->app;
	params[1] = r->user_id;
	params[2] = channel;
	params[3] = afters;
	params[4] = limits;
	/* registered before the look: a NOTIFY after it wakes the poll.
	 * Past [http] max_waiters the poll answers at once (as wait=0). */
	if (wait > 0 && !(p = park_add(r->app, r->user_id, channel, after,
				       limit, ct_mono_ms() + wait * 1000)))
		metrics_poll_refused();
	res = req_sql(r, park_poll_sql, 5, params, 1);
	doc = res ? req_json_col(r, res, 0, 0) : NULL;
	PQclear(res);
	if (!doc) {
		park_cancel(p);
		return;
	}
	/* nothing yet: the request waits without this thread (park.c) */
	if (p && json_array_size(json_object_get(doc, "messages")) == 0 &&
	    park_hand_over(p, r) == 0) {
		json_decref(doc);
		return;
	}
	park_cancel(p);
	if (wait > 0)
		json_object_set_new(doc, "waited", json_boolean(p != NULL));
	req_reply(r, 200, doc);
}

static void
change(struct req *r, const char *kind)
{
	const char *text = NULL, *params[5];
	char ids[24];
	long id;
	json_t *ev;
	PGresult *res;
	int f;

	if ((f = req_long(r, "id", "id", 1, 1L << 53, &id)) < 0)
		return;
	if (f == 0) {
		req_error(r, CT_EINVALID, "id is required");
		return;
	}
	if (strcmp(kind, "edited") == 0 &&
	    req_str(r, "text", "text", 0, &text) < 0)
		return;
	snprintf(ids, sizeof(ids), "%ld", id);
	params[0] = kind;
	params[1] = r->app;
	params[2] = r->user_id; /* NULL: moderation by the app key */
	params[3] = ids;
	params[4] = text ? text : "";
	res = req_sql(r,
		      "SELECT crosstalk.api_change($1, $2, $3, $4::bigint, $5)",
		      5, params, 0);
	if (!res)
		return;
	ev = req_json_col(r, res, 0, 0);
	PQclear(res);
	if (!ev)
		return;
	req_reply(r, 200, json_pack("{s:o}", "event", ev));
}

void
h_messages_edit(struct req *r)
{
	change(r, "edited");
}

void
h_messages_delete(struct req *r)
{
	change(r, "deleted");
}

void
h_messages_read(struct req *r)
{
	const char *channel, *params[4];
	char seqs[24];
	long seq;
	PGresult *res;
	int f;

	if (req_str(r, "channel", "channel", 1, &channel) < 0 ||
	    (f = req_long(r, "seq", "seq", 0, 1L << 53, &seq)) < 0)
		return;
	if (f == 0) {
		req_error(r, CT_EINVALID, "seq is required");
		return;
	}
	snprintf(seqs, sizeof(seqs), "%ld", seq);
	params[0] = r->app;
	params[1] = r->user_id;
	params[2] = channel;
	params[3] = seqs;
	res = req_sql(r,
		      "SELECT crosstalk.mark_read($2, $3, $4::bigint) "
		      "FROM (SELECT crosstalk.check_read($1, $2, $3) e) x "
		      "WHERE x.e",
		      4, params, 0);
	if (!res)
		return;
	if (PQntuples(res) != 1) {
		PQclear(res);
		req_error(r, CT_ENOTFOUND, "no such channel");
		return;
	}
	req_reply(r, 200,
		  json_pack("{s:s, s:i}", "channel", channel, "unread",
			    atoi(PQgetvalue(res, 0, 0))));
	PQclear(res);
}

/* GET messages/search?q=&channel=&cursor=&limit= - full-text search over
 * the channels the user may read (crosstalk.search_messages says what is
 * valid: one place for HTTP and WebSocket). */
void
h_messages_search(struct req *r)
{
	const char *q, *channel = NULL, *cursor = NULL, *params[6];
	long limit = 20;
	char limits[16];

	if (req_str(r, "q", "q", 1, &q) < 0 ||
	    req_str(r, "channel", "channel", 0, &channel) < 0 ||
	    req_str(r, "cursor", "cursor", 0, &cursor) < 0 ||
	    req_long(r, "limit", "limit", 1, 50, &limit) < 0)
		return;
	snprintf(limits, sizeof(limits), "%ld", limit);
	params[0] = r->app;
	params[1] = r->user_id;
	params[2] = q;
	params[3] = channel;
	params[4] = cursor;
	params[5] = limits;
	req_reply_sql(r,
		      "SELECT crosstalk.search_messages($1, $2, $3, $4, $5, "
		      "$6::int)",
		      6, params, 1);
}

/* POST messages/react and messages/unreact {id, emoji}: as the user
 * (crosstalk.api_react): {"changed", "event"?}. */
static void
react(struct req *r, const char *on)
{
	const char *emoji, *params[6];
	long id = 0;
	char ids[24];

	if (req_long(r, "id", "id", 1, LONG_MAX, &id) < 0 ||
	    req_str(r, "emoji", "emoji", 1, &emoji) < 0)
		return;
	if (!id) {
		req_error(r, CT_EINVALID, "id is required");
		return;
	}
	snprintf(ids, sizeof(ids), "%ld", id);
	params[0] = r->app;
	params[1] = r->user_id;
	params[2] = r->user_name;
	params[3] = ids;
	params[4] = emoji;
	params[5] = on;
	req_reply_sql(r,
		      "SELECT crosstalk.api_react($1, $2, $3, $4::bigint, $5, "
		      "$6::boolean)",
		      6, params, 0);
}

void
h_messages_react(struct req *r)
{
	react(r, "t");
}

void
h_messages_unreact(struct req *r)
{
	react(r, "f");
}

/* h_channels.c - GET channels (with unread counts for a user), POST
 * channels/create, GET presence, GET unread, GET users (the directory). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/util.h"
#include "fcgi/fcgi.h"
#include "fcgi/input.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

/* Run sql (its one column is JSON) and reply {key: that JSON}. */
static void
reply_col(struct req *r, const char *key, const char *sql, int n,
	  const char *const *params, int idempotent)
{
	PGresult *res = req_sql(r, sql, n, params, idempotent);
	json_t *v;

	if (!res)
		return;
	v = req_json_col(r, res, 0, 0);
	PQclear(res);
	if (v)
		req_reply(r, 200, json_pack("{s:o}", key, v));
}

void
h_channels(struct req *r)
{
	const char *params[2] = { r->app, r->user_id };

	reply_col(r, "channels",
		  "SELECT coalesce(json_agg(json_strip_nulls(json_build_object("
		  "'name', c.name, 'title', c.title, 'apps', "
		  "coalesce(to_json(c.apps), '[]'::json), 'open', c.apps IS "
		  "NULL AND c.name NOT LIKE 'dm:%', 'direct', c.name LIKE "
		  "'dm:%', 'last_seq', "
		  "c.last_seq::text, 'unread', CASE WHEN $2::text IS NOT NULL "
		  "THEN c.unread END, 'archived', c.archived)) ORDER BY "
		  "c.name), '[]'::json) FROM crosstalk.channels_for($1, $2) c",
		  2, params, 1);
}

void
h_channels_create(struct req *r)
{
	const char *name, *title = NULL, *params[3];
	json_t *apps = NULL; /* owned here */
	char *lit = NULL;    /* owned here: '{a,b}' */
	size_t i, n = 2;
	json_t *e;
	int f;

	if (req_str(r, "name", "name", 1, &name) < 0 ||
	    req_str(r, "title", "title", 0, &title) < 0)
		return;
	if ((f = input_list(r->in, "apps", &apps)) < 0) {
		req_error(r, CT_EINVALID, "apps must be a list of app ids");
		return;
	}
	if (apps && json_array_size(apps) > 0) {
		json_array_foreach(apps, i, e)
		{
			if (!ct_valid_app_id(json_string_value(e))) {
				req_error(r, CT_EINVALID,
					  "apps lists an invalid app id");
				goto out;
			}
			n += strlen(json_string_value(e)) + 1;
		}
		if (!(lit = malloc(n + 1))) {
			req_error(r, CT_ENOMEM, "out of memory");
			goto out;
		}
		strcpy(lit, "{");
		json_array_foreach(apps, i, e)
		{
			if (i)
				strcat(lit, ",");
			strcat(lit, json_string_value(e));
		}
		strcat(lit, "}");
	}
	params[0] = name;
	params[1] = title ? title : "";
	params[2] = lit; /* NULL: open to every app */
	reply_col(r, "channel",
		  "SELECT json_build_object('name', c.name, 'title', c.title, "
		  "'apps', coalesce(to_json(c.apps), '[]'::json), 'open', "
		  "c.apps IS NULL, 'direct', false, 'last_seq', "
		  "c.last_seq::text) FROM crosstalk.create_channel($1, $2, "
		  "$3::text[]) c",
		  3, params, 0);
out:
	json_decref(apps);
	free(lit);
}

void
h_presence(struct req *r)
{
	const char *channel, *params[4];
	char ttl[16];
	PGresult *res;
	json_t *users;

	if (req_str(r, "channel", "channel", 1, &channel) < 0)
		return;
	snprintf(ttl, sizeof(ttl), "%d", r->w->cfg->lim_presence_ttl);
	params[0] = r->app;
	params[1] = r->user_id;
	params[2] = channel;
	params[3] = ttl;
	res = req_sql(
		r,
		"SELECT CASE WHEN crosstalk.check_read($1, $2, $3) IS "
		"NOT NULL THEN (SELECT coalesce(json_agg(json_build_object("
		"'app', p.app, 'id', p.user_id, 'name', p.display_name)), "
		"'[]'::json) FROM crosstalk.presence_of($3, $4::int) p) "
		"END",
		4, params, 1);
	if (!res)
		return;
	users = req_json_col(r, res, 0, 0);
	PQclear(res);
	if (!users)
		return;
	req_reply(r, 200,
		  json_pack("{s:s, s:I, s:o}", "channel", channel, "count",
			    (json_int_t)json_array_size(users), "users",
			    users));
}

void
h_unread(struct req *r)
{
	const char *params[2] = { r->app, r->user_id };
	PGresult *res;
	json_t *chans;

	res = req_sql(
		r,
		"SELECT coalesce(json_agg(json_build_object('channel', "
		"c.name, 'unread', c.unread) ORDER BY c.name) FILTER "
		"(WHERE c.unread > 0), '[]'::json), coalesce(sum(c.unread), "
		"0) FROM crosstalk.channels_for($1, $2) c",
		2, params, 1);
	if (!res)
		return;
	chans = req_json_col(r, res, 0, 0);
	if (chans)
		req_reply(r, 200,
			  json_pack("{s:I, s:o}", "total",
				    (json_int_t)strtoll(PQgetvalue(res, 0, 1),
							NULL, 10),
				    "channels", chans));
	PQclear(res);
}

/* GET users?q=&cursor=&limit=: the directory, as far as the caller's app
 * may see (crosstalk.search_users). */
void
h_users(struct req *r)
{
	const char *q = NULL, *cursor = NULL, *params[5];
	long limit = 20;
	char limits[16], ttl[16];
	PGresult *res;
	json_t *doc;

	if (req_str(r, "q", "q", 0, &q) < 0 ||
	    req_str(r, "cursor", "cursor", 0, &cursor) < 0 ||
	    req_long(r, "limit", "limit", 1, 50, &limit) < 0)
		return;
	snprintf(limits, sizeof(limits), "%ld", limit);
	snprintf(ttl, sizeof(ttl), "%d", r->w->cfg->lim_presence_ttl);
	params[0] = r->app;
	params[1] = q;
	params[2] = cursor;
	params[3] = limits;
	params[4] = ttl;
	res = req_sql(r,
		      "SELECT crosstalk.search_users($1, $2, $3, $4::int, "
		      "$5::int)",
		      5, params, 1);
	if (!res)
		return;
	if ((doc = req_json_col(r, res, 0, 0)))
		req_reply(r, 200, doc);
	PQclear(res);
}

/* h_channels.c - GET channels (with unread counts for a user), POST
 * channels/create, GET presence, GET unread, GET users (the directory),
 * channel members, GET mentions. */
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
		  "THEN c.unread END, 'mentions', CASE WHEN $2::text IS NOT "
		  "NULL THEN c.mentions END, 'read_seq', CASE WHEN $2::text IS "
		  "NOT NULL THEN c.read_seq::text END, 'archived', c.archived, "
		  "'private', c.private)) ORDER BY "
		  "c.name), '[]'::json) FROM crosstalk.channels_for($1, $2) c",
		  2, params, 1);
}

/* The list field key (a JSON array, or a,b,c in a form) as a JSON array
 * text (malloc'd into *out, NULL when absent and not required). 0, or -1
 * when the 422 was replied. */
static int
users_json(struct req *r, const char *key, int required, char **out)
{
	json_t *list = NULL;
	int f = input_list(r->in, key, &list);

	*out = NULL;
	if (f < 0 || (f == 0 && required)) {
		req_error(r, CT_EINVALID, "%s must be a list of user ids", key);
		json_decref(list);
		return -1;
	}
	if (list) {
		*out = json_dumps(list, JSON_COMPACT);
		json_decref(list);
		if (!*out) {
			req_error(r, CT_ENOMEM, "out of memory");
			return -1;
		}
	}
	return 0;
}

void
h_channels_create(struct req *r)
{
	const char *name, *title = NULL, *params[6];
	json_t *apps = NULL;  /* owned here */
	char *lit = NULL;     /* owned here: '{a,b}' */
	char *members = NULL; /* owned here: JSON array */
	int priv = 0;
	size_t i, n = 2;
	json_t *e;
	int f;

	if (req_str(r, "name", "name", 1, &name) < 0 ||
	    req_str(r, "title", "title", 0, &title) < 0 ||
	    req_bool(r, "private", "private", &priv) < 0 ||
	    users_json(r, "members", 0, &members) < 0)
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
	params[3] = priv ? "t" : "f";
	params[4] = members; /* NULL: none */
	params[5] = r->app;
	reply_col(r, "channel",
		  "SELECT json_build_object('name', c.name, 'title', c.title, "
		  "'apps', coalesce(to_json(c.apps), '[]'::json), 'open', "
		  "c.apps IS NULL AND NOT c.private, 'private', c.private, "
		  "'direct', false, 'last_seq', c.last_seq::text) FROM "
		  "crosstalk.create_channel($1, $2, $3::text[], $4::boolean, "
		  "nullif(ARRAY(SELECT json_array_elements_text($5::json)), "
		  "'{}'), NULL, $6) c",
		  6, params, 0);
out:
	json_decref(apps);
	free(lit);
	free(members);
}

/* POST channels/update {channel, title?, archived?} with the key: rename
 * (a new title) and archive or unarchive, as crosstalkctl does; each change
 * a 'channel' event. {"changed", "event"?}. */
void
h_channels_update(struct req *r)
{
	const char *channel, *title = NULL, *params[4];
	int archived = 0, has_arch;

	if (req_str(r, "channel", "channel", 1, &channel) < 0 ||
	    req_str(r, "title", "title", 0, &title) < 0 ||
	    (has_arch = req_bool(r, "archived", "archived", &archived)) < 0)
		return;
	params[0] = channel;
	params[1] = title;
	params[2] = has_arch ? (archived ? "t" : "f") : NULL;
	params[3] = r->app;
	req_reply_sql(
		r,
		"SELECT crosstalk.api_update_channel($1, $2, $3::boolean, $4)",
		4, params, 0);
}

/* POST channels/members/add and channels/members/remove: users (hub ids:
 * a JSON array, or comma-separated in a form) of a private channel. With
 * the app key alone, as the app; with a session, as that user (an owner,
 * or anyone leaving). */
static void
members_change(struct req *r, const char *add)
{
	const char *channel, *params[6];
	char *users = NULL; /* owned here */

	if (req_str(r, "channel", "channel", 1, &channel) < 0 ||
	    users_json(r, "users", 1, &users) < 0)
		return;
	params[0] = channel;
	params[1] = add;
	params[2] = users;
	params[3] = r->app;
	params[4] = r->user_id; /* NULL: the app itself */
	params[5] = r->user_name ? r->user_name : "";
	req_reply_sql(r,
		      "SELECT crosstalk.api_change_members($1, $2::boolean, "
		      "$3::json, $4, $5, $6)",
		      6, params, 0);
	free(users);
}

void
h_members_add(struct req *r)
{
	members_change(r, "t");
}

void
h_members_remove(struct req *r)
{
	members_change(r, "f");
}

/* GET channels/members?channel=: a private channel's members. */
void
h_members(struct req *r)
{
	const char *channel, *params[3];

	if (req_str(r, "channel", "channel", 1, &channel) < 0)
		return;
	params[0] = r->app;
	params[1] = r->user_id;
	params[2] = channel;
	reply_col(r, "members",
		  "SELECT crosstalk.channel_members_of($1, $2, $3)", 3, params,
		  1);
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
		"c.name, 'unread', c.unread, 'mentions', c.mentions) ORDER BY "
		"c.name) FILTER (WHERE c.unread > 0 OR c.mentions > 0), "
		"'[]'::json), coalesce(sum(c.unread), 0), "
		"coalesce(sum(c.mentions), 0) FROM crosstalk.channels_for($1, "
		"$2) c",
		2, params, 1);
	if (!res)
		return;
	chans = req_json_col(r, res, 0, 0);
	if (chans)
		req_reply(r, 200,
			  json_pack("{s:I, s:I, s:o}", "total",
				    (json_int_t)strtoll(PQgetvalue(res, 0, 1),
							NULL, 10),
				    "mentions",
				    (json_int_t)strtoll(PQgetvalue(res, 0, 2),
							NULL, 10),
				    "channels", chans));
	PQclear(res);
}

/* GET users?q=&cursor=&limit=: the directory, as far as the caller's app
 * may see (crosstalk.search_users). */
void
h_users(struct req *r)
{
	const char *q = NULL, *cursor = NULL, *params[4];
	long limit = 20;
	char limits[16];

	if (req_str(r, "q", "q", 0, &q) < 0 ||
	    req_str(r, "cursor", "cursor", 0, &cursor) < 0 ||
	    req_long(r, "limit", "limit", 1, 50, &limit) < 0)
		return;
	snprintf(limits, sizeof(limits), "%ld", limit);
	params[0] = r->app;
	params[1] = q;
	params[2] = cursor;
	params[3] = limits;
	req_reply_sql(r, "SELECT crosstalk.search_users($1, $2, $3, $4::int)",
		      4, params, 1);
}

/* GET mentions?cursor=&limit=: messages that mention the user, newest
 * first (crosstalk.mentions_of). */
void
h_mentions(struct req *r)
{
	const char *cursor = NULL, *params[4];
	long limit = 20;
	char limits[16];

	if (req_str(r, "cursor", "cursor", 0, &cursor) < 0 ||
	    req_long(r, "limit", "limit", 1, 50, &limit) < 0)
		return;
	snprintf(limits, sizeof(limits), "%ld", limit);
	params[0] = r->app;
	params[1] = r->user_id;
	params[2] = cursor;
	params[3] = limits;
	req_reply_sql(r, "SELECT crosstalk.mentions_of($1, $2, $3, $4::int)", 4,
		      params, 1);
}

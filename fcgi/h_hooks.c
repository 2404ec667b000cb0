/* h_hooks.c - an app's webhooks and channel hooks over the API, with its
 * key: GET hooks, POST hooks/add (the secret is in this answer only), POST
 * hooks/remove, and the same for channel_hooks. The same as crosstalkctl
 * hook and channel-hook; webhooks are delivered by hooks.c, channel hooks
 * called by the daemons' gates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "fcgi/fcgi.h"
#include "fcgi/input.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

void
h_hooks(struct req *r)
{
	const char *params[1] = { r->app };

	req_reply_sql(
		r,
		"SELECT json_build_object('hooks', coalesce(json_agg("
		"json_build_object('id', h.id::text, 'url', h.url, 'events', "
		"h.events, 'pending', (SELECT count(*) FROM crosstalk.outbox o "
		"WHERE o.hook_id = h.id AND o.state = 'pending'), 'parked', "
		"(SELECT count(*) FROM crosstalk.outbox o WHERE o.hook_id = "
		"h.id AND o.state = 'parked')) ORDER BY h.id), '[]'::json)) "
		"FROM crosstalk.hooks h WHERE h.app = $1",
		1, params, 1);
}

/* The "events" input as a JSON array (malloc'd into *ev; NULL when
 * absent: the default). 0, or -1 with the error replied. */
static int
events_json(struct req *r, char **ev)
{
	json_t *events = NULL; /* owned here */

	*ev = NULL;
	if (input_list(r->in, "events", &events) < 0) {
		req_error(r, CT_EINVALID, "events must be a list");
		return -1;
	}
	if (events && !(*ev = json_dumps(events, JSON_COMPACT))) {
		json_decref(events);
		req_error(r, CT_ENOMEM, "out of memory");
		return -1;
	}
	json_decref(events);
	return 0;
}

/* Remove one of the app's own hooks: sql deletes by app ($1) and id ($2)
 * and answers {"removed": bool}. */
static void
remove_own(struct req *r, const char *sql)
{
	const char *id, *params[2];

	if (req_str(r, "id", "id", 1, &id) < 0)
		return;
	params[0] = r->app;
	params[1] = id;
	req_reply_sql(r, sql, 2, params, 0);
}

void
h_hooks_add(struct req *r)
{
	const char *url, *params[3];
	char *ev; /* owned here: a JSON array */

	if (req_str(r, "url", "url", 1, &url) < 0 || events_json(r, &ev) != 0)
		return;
	params[0] = r->app;
	params[1] = url;
	params[2] = ev ? ev : "[\"message\"]";
	req_reply_sql(
		r,
		"SELECT json_build_object('hook', json_build_object('id', "
		"h.id::text, 'url', $2::text, 'events', (SELECT "
		"array_agg(DISTINCT e ORDER BY e) FROM "
		"json_array_elements_text($3::json) e)), 'secret', h.secret) "
		"FROM "
		"crosstalk.hook_add($1, $2, ARRAY(SELECT "
		"json_array_elements_text($3::json))) h",
		3, params, 0);
	free(ev);
}

void
h_hooks_remove(struct req *r)
{
	remove_own(r, "WITH d AS (DELETE FROM crosstalk.hooks WHERE app = $1 "
		      "AND id::text = $2 RETURNING id) SELECT "
		      "json_build_object('removed', EXISTS (SELECT 1 FROM d))");
}

void
h_channel_hooks(struct req *r)
{
	const char *params[1] = { r->app };

	req_reply_sql(r,
		      "SELECT json_build_object('hooks', coalesce(json_agg("
		      "json_build_object('id', h.id::text, 'pattern', "
		      "h.pattern, 'url', h.url, 'events', h.events, "
		      "'timeout_ms', h.timeout_ms, 'fail', CASE WHEN "
		      "h.fail_open THEN 'open' ELSE 'closed' END) ORDER BY "
		      "h.id), '[]'::json)) FROM crosstalk.channel_hooks h "
		      "WHERE h.app = $1",
		      1, params, 1);
}

void
h_channel_hooks_add(struct req *r)
{
	const char *pattern, *url, *fail = NULL, *params[6];
	char *ev; /* owned here: a JSON array */
	char tmo[16];
	long timeout = 2000;

	if (req_str(r, "pattern", "pattern", 1, &pattern) < 0 ||
	    req_str(r, "url", "url", 1, &url) < 0 ||
	    req_str(r, "fail", "fail", 0, &fail) < 0 ||
	    req_long(r, "timeoutms", "timeout_ms", 50, 30000, &timeout) < 0)
		return;
	if (fail && strcmp(fail, "open") != 0 && strcmp(fail, "closed") != 0) {
		req_error(r, CT_EINVALID, "fail is open or closed");
		return;
	}
	if (events_json(r, &ev) != 0)
		return;
	snprintf(tmo, sizeof(tmo), "%ld", timeout);
	params[0] = r->app;
	params[1] = pattern;
	params[2] = url;
	params[3] = ev ? ev : "[\"publish\", \"subscribe\"]";
	params[4] = tmo;
	params[5] = fail && strcmp(fail, "closed") == 0 ? "false" : "true";
	req_reply_sql(
		r,
		"SELECT json_build_object('hook', json_build_object('id', "
		"h.id::text, 'pattern', $2::text, 'url', $3::text, 'events', "
		"(SELECT array_agg(DISTINCT e ORDER BY e) FROM "
		"json_array_elements_text($4::json) e), 'timeout_ms', "
		"$5::int, 'fail', CASE WHEN $6::boolean THEN 'open' ELSE "
		"'closed' END), 'secret', h.secret) FROM "
		"crosstalk.channel_hook_add($1, $2, $3, ARRAY(SELECT "
		"json_array_elements_text($4::json)), $5::int, $6::boolean) h",
		6, params, 0);
	free(ev);
}

void
h_channel_hooks_remove(struct req *r)
{
	remove_own(r, "WITH d AS (DELETE FROM crosstalk.channel_hooks WHERE "
		      "app = $1 AND id::text = $2 RETURNING id) SELECT "
		      "json_build_object('removed', EXISTS (SELECT 1 FROM d))");
}

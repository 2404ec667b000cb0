/* h_sessions.c - POST sessions (register a login), POST sessions/touch
 * (slide a live login), POST sessions/end, POST tickets (a single-use
 * browser credential for a login; minting one slides the login too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/err.h"
#include "fcgi/fcgi.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

void
h_sessions(struct req *r)
{
	const char *user, *name = NULL, *avatar = NULL, *title = NULL;
	const char *params[6];
	long ttl = 86400;
	char ttls[24];
	PGresult *res;

	if (req_str(r, "userid", "user_id", 1, &user) < 0 ||
	    req_str(r, "displayname", "display_name", 0, &name) < 0 ||
	    req_long(r, "ttl", "ttl", 60, 31 * 86400, &ttl) < 0 ||
	    req_str(r, "avatarurl", "avatar_url", 0, &avatar) < 0 ||
	    req_str(r, "title", "title", 0, &title) < 0)
		return;
	if (!name)
		name = user;
	snprintf(ttls, sizeof(ttls), "%ld", ttl);
	params[0] = r->app;
	params[1] = user;
	params[2] = name;
	params[3] = ttls;
	params[4] = avatar;
	params[5] = title;
	res = req_sql(r,
		      "SELECT ref, crosstalk.iso(now() + make_interval(secs "
		      "=> $4::int)), crosstalk.ms(now() + make_interval(secs "
		      "=> $4::int)), (crosstalk.hub_user($1, $2)).user_id "
		      "FROM crosstalk.register_session($1, $2, $3, $4::int, "
		      "$5, $6) ref",
		      6, params, 0);
	if (!res)
		return;
	req_reply(
		r, 200,
		json_pack("{s:s, s:s, s:I, s:i, s:{s:s, s:s, s:s}}", "session",
			  PQgetvalue(res, 0, 0), "expires_at",
			  PQgetvalue(res, 0, 1), "expires_at_ms",
			  (json_int_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10),
			  "ttl", (int)ttl, "user", "app", r->app, "id",
			  PQgetvalue(res, 0, 3), "name", name));
	PQclear(res);
}

/* The ref from X-Crosstalk-Session, else the "session" field (required).
 * 1, or -1 when the 422 was replied. */
static int
session_ref(struct req *r, const char **ref)
{
	*ref = req_param(r, "HTTP_X_CROSSTALK_SESSION");
	if (*ref && **ref)
		return 1;
	return req_str(r, "session", "session", 1, ref) < 0 ? -1 : 1;
}

void
h_sessions_touch(struct req *r)
{
	const char *ref, *params[3] = { r->app, NULL, NULL };
	long ttl = 0;
	char ttls[24];
	PGresult *res;
	json_t *body;

	if (session_ref(r, &ref) < 0 ||
	    req_long(r, "ttl", "ttl", 60, 31 * 86400, &ttl) < 0)
		return;
	params[1] = ref;
	if (ttl > 0) {
		snprintf(ttls, sizeof(ttls), "%ld", ttl);
		params[2] = ttls;
	}
	/* NULL expiry: a ref only the deployer's resolver knows (the app's
	 * own session table keeps its expiry) */
	res = req_sql(
		r,
		"SELECT crosstalk.iso(t.expires), crosstalk.ms(t.expires), "
		"t.ttl FROM crosstalk.touch_session($1, $2, $3::int) t",
		3, params, 0);
	if (!res)
		return;
	if (PQgetisnull(res, 0, 0)) {
		body = json_pack("{s:s, s:b}", "session", ref, "slid", 0);
	} else {
		body = json_pack(
			"{s:s, s:b, s:s, s:I, s:i}", "session", ref, "slid", 1,
			"expires_at", PQgetvalue(res, 0, 0), "expires_at_ms",
			(json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10),
			"ttl", atoi(PQgetvalue(res, 0, 2)));
	}
	req_reply(r, 200, body);
	PQclear(res);
}

void
h_sessions_end(struct req *r)
{
	const char *ref, *params[2];
	PGresult *res;

	if (session_ref(r, &ref) < 0)
		return;
	params[0] = r->app;
	params[1] = ref;
	res = req_sql(r, "SELECT crosstalk.end_session($1, $2)", 2, params, 0);
	if (!res)
		return;
	req_reply(r, 200,
		  json_pack("{s:b}", "ended",
			    strcmp(PQgetvalue(res, 0, 0), "t") == 0));
	PQclear(res);
}

void
h_tickets(struct req *r)
{
	const struct ct_cfg *cfg = r->w->cfg;
	char ticket[CT_TOKEN_MAX], hash[CT_HASH_HEX], ttl[16];
	char *box = NULL; /* owned here */
	const char *params[7] = { NULL };
	PGresult *res;

	/* the directory's avatar and title, for apps whose own resolver
	 * means they never call POST sessions */
	if (req_str(r, "avatarurl", "avatar_url", 0, &params[5]) < 0 ||
	    req_str(r, "title", "title", 0, &params[6]) < 0)
		return;
	if (ct_auth_token("ctt_", ticket) != CT_OK ||
	    ct_auth_seal_ref(ticket, r->session, &box) != CT_OK) {
		req_error(r, CT_EUNAVAIL, "cannot make a ticket now");
		return;
	}
	ct_auth_hash_hex(ticket, hash);
	snprintf(ttl, sizeof(ttl), "%d", cfg->lim_ticket_ttl);
	params[0] = hash;
	params[1] = r->app;
	params[2] = r->session;
	params[3] = box;
	params[4] = ttl;
	res = req_sql(r,
		      "SELECT user_id, display_name FROM "
		      "crosstalk.mint_ticket($1, $2, $3, $4, $5::int, $6, $7)",
		      7, params, 0);
	free(box);
	if (!res)
		return;
	req_reply(r, 200,
		  json_pack("{s:s, s:i, s:s, s:s, s:{s:s, s:s, s:s}}", "ticket",
			    ticket, "expires_in", cfg->lim_ticket_ttl, "ws_url",
			    cfg->http_public_ws_url, "widget_url",
			    cfg->http_public_widget_url, "user", "app", r->app,
			    "id", PQgetvalue(res, 0, 0), "name",
			    PQgetvalue(res, 0, 1)));
	PQclear(res);
}

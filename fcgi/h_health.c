/* h_health.c - GET health: 200 when the database answers, else 503. */
#include <stdlib.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "fcgi/fcgi.h"
#include "fcgi/pool.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

void
h_health(struct req *r)
{
	PGresult *res;
	double usage;
	char msg[128];
	int rc, lost;

	/* NOTIFY queue usage: a listener that stopped reading fills it, and a
	 * full queue makes every post fail at commit. */
	if (!(res = pool_exec(r->w, "SELECT pg_notification_queue_usage()", 0,
			      NULL, &rc, msg, sizeof(msg), NULL, &lost))) {
		req_error(r, CT_EUNAVAIL, "database unavailable");
		return;
	}
	usage = atof(PQgetvalue(res, 0, 0));
	PQclear(res);
	req_reply(r, 200,
		  json_pack("{s:b, s:s, s:f, s:i}", "ok", 1, "database", "up",
			    "notify_queue_usage", usage, "waiting_polls",
			    park_count()));
}

/* h_health.c - GET health: 200 when the database answers, else 503. */
#include <stdlib.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "fcgi/fcgi.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

void
h_health(struct req *r)
{
	PGresult *res;
	double usage;

	if (worker_db(r->w) != CT_OK) {
		req_error(r, CT_EUNAVAIL, "database unavailable");
		return;
	}
	/* NOTIFY queue usage: a listener that stopped reading fills it, and a
	 * full queue makes every post fail at commit. */
	res = PQexec(r->w->db, "SELECT pg_notification_queue_usage()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		req_error(r, CT_EUNAVAIL, "database unavailable");
		return;
	}
	usage = atof(PQgetvalue(res, 0, 0));
	PQclear(res);
	req_reply(r, 200,
		  json_pack("{s:b, s:s, s:f, s:i}", "ok", 1, "database", "up",
			    "notify_queue_usage", usage, "waiting_polls",
			    waiter_count()));
}

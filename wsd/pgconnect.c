/* pgconnect.c - connect to PostgreSQL without blocking the loop. libpq's
 * PQconnectStart/PQconnectPoll step through the connection; we poll them
 * from an lws_sul every few milliseconds (the socket may change between
 * steps, so nothing is adopted until the connection is made), then hand
 * the connection to the caller. Host names are resolved by libpq inside
 * PQconnectStart: use hostaddr= or a socket path to keep that off the
 * loop too. */
#include <stdio.h>

#include "core/config.h"
#include "core/db.h"
#include "core/util.h"
#include "wsd/wsd.h"

#define STEP_US (2 * 1000)

static void
step(lws_sorted_usec_list_t *sul)
{
	struct pgconnect *pc = lws_container_of(sul, struct pgconnect, sul);
	PostgresPollingStatusType st;
	char err[256];
	PGconn *conn = pc->conn;

	if (wsd->stopping) {
		PQfinish(conn);
		pc->conn = NULL;
		return;
	}
	st = PQconnectPoll(conn);
	if (st == PGRES_POLLING_OK) {
		pc->conn = NULL; /* the caller's from here */
		if (ct_db_connected(conn, wsd->cfg, err, sizeof(err)) !=
		    CT_OK) {
			PQfinish(conn);
			pc->done(pc->arg, NULL, err);
			return;
		}
		pc->done(pc->arg, conn, NULL);
		return;
	}
	if (st == PGRES_POLLING_FAILED || ct_mono_ms() > pc->deadline_ms) {
		snprintf(err, sizeof(err), "%s",
			 st == PGRES_POLLING_FAILED ? PQerrorMessage(conn)
						    : "connect timed out");
		err[strcspn(err, "\n")] = 0;
		PQfinish(conn);
		pc->conn = NULL;
		pc->done(pc->arg, NULL, err);
		return;
	}
	lws_sul_schedule(wsd->context, 0, &pc->sul, step, STEP_US);
}

void
pgconnect_start(struct pgconnect *pc, const char *app_name,
		void (*done)(void *arg, PGconn *conn, const char *err),
		void *arg)
{
	char err[256];

	pc->done = done;
	pc->arg = arg;
	pc->deadline_ms =
		ct_mono_ms() + (int64_t)wsd->cfg->db_connect_timeout * 1000;
	pc->conn = ct_db_connect_start(wsd->cfg, app_name, err, sizeof(err));
	if (!pc->conn) {
		done(arg, NULL, err);
		return;
	}
	lws_sul_schedule(wsd->context, 0, &pc->sul, step, 0);
}

void
pgconnect_cancel(struct pgconnect *pc)
{
	lws_sul_cancel(&pc->sul);
	PQfinish(pc->conn);
	pc->conn = NULL;
}

/* pgconnect.c - connect to PostgreSQL without blocking the loop. libpq's
 * PQconnectStart/PQconnectPoll step through the connection, then the
 * session's setup (ct_db_setup_sql, plus the caller's extra statements such
 * as LISTEN) is sent with PQsendQuery and its results read without waiting;
 * we poll from an lws_sul every few milliseconds (the socket may change
 * between connect steps, so nothing is adopted until the connection is
 * ready), then hand the connection, nonblocking, to the caller. The
 * deadline covers all of it. Host names are resolved by libpq inside
 * PQconnectStart: use hostaddr= or a socket path to keep that off the loop
 * too. */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/db.h"
#include "core/util.h"
#include "wsd/wsd.h"

#define STEP_US (2 * 1000)

static void
give_up(struct pgconnect *pc, const char *why)
{
	char err[256];

	snprintf(err, sizeof(err), "%s", why);
	err[strcspn(err, "\n")] = 0;
	PQfinish(pc->conn);
	pc->conn = NULL;
	pc->done(pc->arg, NULL, err);
}

/* The setup statements' results: 1 when all are in and good, 0 to wait,
 * -1 on failure (the reason in err). */
static int
setup_done(PGconn *conn, char *err, size_t errlen)
{
	PGresult *res;
	int bad = 0;

	if (!PQconsumeInput(conn)) {
		snprintf(err, errlen, "%s", PQerrorMessage(conn));
		return -1;
	}
	while (!PQisBusy(conn)) {
		if (!(res = PQgetResult(conn)))
			return bad ? -1 : 1;
		if (PQresultStatus(res) != PGRES_TUPLES_OK &&
		    PQresultStatus(res) != PGRES_COMMAND_OK && !bad) {
			snprintf(err, errlen, "session setup failed: %s",
				 PQresultErrorMessage(res));
			bad = 1;
		}
		PQclear(res);
	}
	return 0;
}

static void
step(lws_sorted_usec_list_t *sul)
{
	struct pgconnect *pc = lws_container_of(sul, struct pgconnect, sul);
	PostgresPollingStatusType st;
	char err[256];
	int rc;

	if (wsd->stopping) {
		PQfinish(pc->conn);
		pc->conn = NULL;
		return;
	}
	if (ct_mono_ms() > pc->deadline_ms) {
		give_up(pc, "connect timed out");
		return;
	}
	if (!pc->setting_up) {
		st = PQconnectPoll(pc->conn);
		if (st == PGRES_POLLING_FAILED) {
			give_up(pc, PQerrorMessage(pc->conn));
			return;
		}
		if (st == PGRES_POLLING_OK) {
			char sql[512];
			size_t n;

			ct_db_setup_sql(wsd->cfg, sql, sizeof(sql));
			n = strlen(sql);
			if (pc->extra)
				snprintf(sql + n, sizeof(sql) - n, "; %s",
					 pc->extra);
			if (PQsetnonblocking(pc->conn, 1) != 0 ||
			    !PQsendQuery(pc->conn, sql)) {
				give_up(pc, PQerrorMessage(pc->conn));
				return;
			}
			pc->setting_up = 1;
		}
	}
	if (pc->setting_up) {
		PQflush(pc->conn);
		if ((rc = setup_done(pc->conn, err, sizeof(err))) < 0) {
			give_up(pc, err);
			return;
		}
		if (rc > 0) {
			PGconn *conn = pc->conn;

			pc->conn = NULL; /* the caller's from here */
			pc->setting_up = 0;
			pc->done(pc->arg, conn, NULL);
			return;
		}
	}
	lws_sul_schedule(wsd->context, 0, &pc->sul, step, STEP_US);
}

/* pgconnect_start could not even begin: told on a later turn, like every
 * other outcome. */
static void
pgconnect_failed(lws_sorted_usec_list_t *sul)
{
	struct pgconnect *pc = lws_container_of(sul, struct pgconnect, sul);

	if (!wsd->stopping)
		pc->done(pc->arg, NULL, pc->err);
}

void
pgconnect_start(struct pgconnect *pc, const char *app_name, const char *extra,
		void (*done)(void *arg, PGconn *conn, const char *err),
		void *arg)
{
	char err[256];

	pc->done = done;
	pc->arg = arg;
	pc->extra = extra;
	pc->setting_up = 0;
	pc->deadline_ms =
		ct_mono_ms() + (int64_t)wsd->cfg->db_connect_timeout * 1000;
	pc->conn = ct_db_connect_start(wsd->cfg, app_name, err, sizeof(err));
	if (!pc->conn) { /* a failure, answered on the next step */
		snprintf(pc->err, sizeof(pc->err), "%s", err);
		lws_sul_schedule(wsd->context, 0, &pc->sul, pgconnect_failed,
				 1);
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

/* db.h - blocking libpq helpers shared by crosstalk-fcgi, crosstalkctl and
 * the daemon's start-up. The daemon's event-loop queries live in wsd/. */
#ifndef CT_DB_H
#define CT_DB_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/err.h"

struct ct_cfg;

/* The daemons' group commits (crosstalk.api_post_batch: fcgi/batch.c,
 * wsd/pgq.c) start apart: beside one still in flight only once the newest
 * has run CT_GROUP_STAGGER_MS, after the newest is done only once it began
 * CT_GROUP_GAP_MS ago. Most of what a small group costs the database is
 * fixed (a one-post call about 0.6 ms of CPU, a 64-post one 5-6), so the
 * posts that arrive meanwhile wait and go together; a slow commit gets
 * company after the stagger, so it holds no one back longer; a post into
 * a quiet hub goes at once. The gap after a finished commit: at 1,000
 * WebSocket publishes/s over 1,000 channels the stack's CPU 3.9 -> 2.6-3.0 s
 * per 5-s step and p99 18-24 -> 13-18 ms; 5 ms there too saved more CPU
 * (2.1 s) but raised the median from 4 to 7.5 ms and the p99 to 26. */
#define CT_GROUP_STAGGER_MS 5
#define CT_GROUP_GAP_MS     2

/* Microseconds until the next group commit may start (<= 0: now), given
 * when the newest began and whether it is still in flight. */
static inline int64_t
ct_group_wait_us(int64_t newest_us, int in_flight, int64_t now_us)
{
	return newest_us - now_us +
	       (in_flight ? CT_GROUP_STAGGER_MS : CT_GROUP_GAP_MS) * 1000;
}

/* What a daemon runs on a new connection before any post waits for it:
 * one group commit, rolled back (sql/functions.sql crosstalk.warm_up). */
#define CT_WARM_UP_SQL "SELECT crosstalk.warm_up()"

/* Connect with cfg->db_conninfo (application_name = app_name) and set the
 * session's crosstalk.* limits from cfg. NULL on failure; the reason is
 * written to err (one line) when err is not NULL. Caller PQfinish()es. */
PGconn *ct_db_connect(const struct ct_cfg *cfg, const char *app_name, char *err,
		      size_t errlen);

/* The same without blocking: PQconnectStartParams() with the same
 * parameters; drive it with PQconnectPoll(), then call ct_db_connected().
 * NULL (reason in err) if it cannot even start. */
PGconn *ct_db_connect_start(const struct ct_cfg *cfg, const char *app_name,
			    char *err, size_t errlen);
/* The statement that gives a new connection its session settings: the
 * limits the SQL functions read, lock_timeout and statement_timeout (0:
 * none). */
void ct_db_setup_sql(const struct ct_cfg *cfg, char *out, size_t outlen);
/* Run it, blocking; 0 or CT_EUNAVAIL. */
int ct_db_connected(PGconn *conn, const struct ct_cfg *cfg, char *err,
		    size_t errlen);

/* For daemons at start: ct_db_connect, retried with back-off (0.25 s
 * doubling to 5 s) for up to cfg->db_startup_wait seconds, logging one line
 * per failed attempt. NULL (reason in err) when time runs out. */
PGconn *ct_db_connect_wait(const struct ct_cfg *cfg, const char *app_name,
			   char *err, size_t errlen);

/* Map a failed result (or a dead connection, res may be NULL) to CT_E*:
 * SQLSTATE CTnnn raised by crosstalk's SQL functions carries the HTTP
 * status nnn; connection failures are CT_EUNAVAIL; others CT_EINTERNAL.
 * Copies the server's primary message (or a generic one) into msg. */
int ct_db_error(PGconn *conn, const PGresult *res, char *msg, size_t msglen);
/* The same mapping from a SQLSTATE and message alone (errors reported
 * per row, as by crosstalk.api_post_batch); state may be NULL. */
int ct_db_state_error(const char *state, const char *primary, char *msg,
		      size_t msglen);

/* Append s, quoted, to a PostgreSQL array literal in *buf (realloc'd;
 * "{" before the first element), then close it with ct_db_array_end.
 * 0, or -1 when out of memory. */
int ct_db_array_add(char **buf, size_t *len, size_t *cap, const char *s);
int ct_db_array_end(char **buf, size_t *len, size_t *cap);

/* One statement without parameters; 0 on success, CT_E* (logged). */
int ct_db_exec(PGconn *conn, const char *sql) CT_MUSTCHECK;

#endif /* CT_DB_H */

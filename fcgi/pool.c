/* pool.c - see pool.h. A slot's connection is made at start by the warm-up
 * thread, or by the first request that needs it, and remade after an
 * outage; a connection left inside a transaction, or one whose statement
 * missed its deadline, is not reused. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/util.h"
#include "fcgi/fcgi.h"
#include "fcgi/pool.h"

#define MAX_PREPARED 48
/* past statement_timeout, how long a statement may still take before its
 * connection is given up (none set: this alone) */
#define DEADLINE_GRACE_MS 5000
#define DEADLINE_NONE_MS  120000

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	PGconn **conns; /* owned; NULL slots connect on first use */
	/* per slot: the statements prepared on its connection, by the address
	 * of their SQL text (string literals: stable for the process) */
	const char *(*prepared)[MAX_PREPARED];
	int *busy;
	int n;
	int warned;
	const struct ct_cfg *cfg;
	pthread_t warmer; /* pool_warm_start's thread, joined by pool_free */
	int warming, stop_warming;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

int
pool_init(const struct ct_cfg *cfg)
{
	pool.cfg = cfg;
	pool.n = cfg->http_workers;
	pool.conns = calloc((size_t)pool.n, sizeof(*pool.conns));
	pool.busy = calloc((size_t)pool.n, sizeof(*pool.busy));
	pool.prepared = calloc((size_t)pool.n, sizeof(*pool.prepared));
	return pool.conns && pool.busy && pool.prepared ? 0 : -1;
}

void
pool_free(void)
{
	if (pool.warming) {
		struct timespec until;

		/* it stops before its next slot; one stuck in a statement on
		 * a server that does not answer is left to the exit, and so
		 * is the pool it uses */
		__atomic_store_n(&pool.stop_warming, 1, __ATOMIC_RELAXED);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 3;
		if (pthread_timedjoin_np(pool.warmer, NULL, &until) != 0) {
			ct_warn("msg=\"warm-up still waiting for the database; "
				"not waiting for it\"");
			return;
		}
		pool.warming = 0;
	}
	for (int i = 0; i < pool.n && pool.conns; i++)
		PQfinish(pool.conns[i]);
	free(pool.conns);
	free(pool.busy);
	free(pool.prepared);
	pool.prepared = NULL;
	pool.conns = NULL;
	pool.busy = NULL;
}

int
pool_busy(void)
{
	int n = 0;

	pthread_mutex_lock(&pool.mu);
	for (int i = 0; i < pool.n; i++)
		n += pool.busy[i];
	pthread_mutex_unlock(&pool.mu);
	return n;
}

static int
take_slot(void)
{
	struct timespec ts;
	int slot = -1;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		for (int i = 0; i < pool.n; i++) {
			if (!pool.busy[i]) {
				slot = i;
				break;
			}
		}
		if (slot >= 0 ||
		    pthread_cond_timedwait(&pool.cv, &pool.mu, &ts) != 0)
			break;
	}
	if (slot >= 0)
		pool.busy[slot] = 1;
	pthread_mutex_unlock(&pool.mu);
	return slot;
}

/* Slot i for the warm-up, if no request holds it: 1 when taken. */
static int
take_slot_at(int i)
{
	int got = 0;

	pthread_mutex_lock(&pool.mu);
	if (!pool.busy[i] && !pool.conns[i])
		got = pool.busy[i] = 1;
	pthread_mutex_unlock(&pool.mu);
	return got;
}

/* The warm-up thread: each slot not yet connected is connected and runs
 * crosstalk.warm_up() (one group commit, rolled back: the batch function's
 * statements planned, the catalogs it reads loaded), one slot after the
 * other, so that the first posts after a start do not each pay that (37 ms
 * on an idle server, 90-160 ms under load). A slot a request holds
 * connects itself, as before; an outage ends the warm-up (the slots then
 * connect when first used). */
static void *
warm_main(void *arg)
{
	struct worker w = { .index = -1, .cfg = pool.cfg, .slot = -1 };
	int warmed = 0;

	(void)arg;
	for (int i = 0; i < pool.n; i++) {
		PGresult *res;
		int rc;

		if (__atomic_load_n(&pool.stop_warming, __ATOMIC_RELAXED))
			break;
		if (!take_slot_at(i))
			continue;
		w.slot = i;
		if ((rc = pool_hold(&w)) == CT_OK) {
			res = PQexec(w.db, CT_WARM_UP_SQL);
			if (PQresultStatus(res) == PGRES_TUPLES_OK)
				warmed++;
			else
				ct_debug("msg=\"warm-up failed\" slot=%d "
					 "err=\"%s\"",
					 i, PQerrorMessage(w.db));
			PQclear(res);
		}
		pool_release(&w);
		if (rc != CT_OK)
			break;
	}
	ct_info("msg=\"database connections warmed up\" connections=%d",
		warmed);
	return NULL;
}

int
pool_warm_start(void)
{
	if (pthread_create(&pool.warmer, NULL, warm_main, NULL) != 0)
		return -1;
	pool.warming = 1;
	return 0;
}

/* Close w's connection (lost, or past its deadline); the slot stays held
 * and reconnects at the next pool_hold. */
static void
drop(struct worker *w)
{
	PQfinish(pool.conns[w->slot]);
	pool.conns[w->slot] = w->db = NULL;
	memset(pool.prepared[w->slot], 0, sizeof(pool.prepared[w->slot]));
}

int
pool_hold(struct worker *w)
{
	char err[256];
	PGconn **c;

	if (w->slot < 0 && (w->slot = take_slot()) < 0) {
		ct_warn("msg=\"no free database connection in 10 s\" "
			"worker=%d",
			w->index);
		return CT_EUNAVAIL;
	}
	c = &pool.conns[w->slot];
	w->db = *c;
	if (*c && PQstatus(*c) == CONNECTION_OK)
		return CT_OK;
	drop(w);
	*c = w->db = ct_db_connect(w->cfg, "crosstalk-fcgi", err, sizeof(err));
	if (!*c) {
		if (!__atomic_exchange_n(&pool.warned, 1, __ATOMIC_RELAXED))
			ct_warn("msg=\"database unreachable\" worker=%d "
				"error=\"%s\"",
				w->index, err);
		return CT_EUNAVAIL;
	}
	if (__atomic_exchange_n(&pool.warned, 0, __ATOMIC_RELAXED))
		ct_info("msg=\"database reachable again\"");
	return CT_OK;
}

void
pool_release(struct worker *w)
{
	if (w->slot < 0)
		return;
	pthread_mutex_lock(&pool.mu);
	/* a connection left inside a transaction is not reused */
	if (pool.conns[w->slot] &&
	    PQtransactionStatus(pool.conns[w->slot]) != PQTRANS_IDLE)
		drop(w);
	pool.busy[w->slot] = 0;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	w->slot = -1;
	w->db = NULL;
}

/* Wait for the statement sent on conn: its first good result, or its first
 * error's (the caller clears); NULL past the deadline or when the
 * connection breaks. */
static PGresult *
wait_result(PGconn *conn, int64_t deadline, int *late)
{
	PGresult *keep = NULL, *res;

	*late = 0;
	for (;;) {
		while (PQisBusy(conn)) {
			struct pollfd pf = { PQsocket(conn), POLLIN, 0 };
			int64_t left = deadline - ct_mono_ms();
			int n;

			if (left <= 0) {
				*late = 1;
				PQclear(keep);
				return NULL;
			}
			n = poll(&pf, 1, left > 1000 ? 1000 : (int)left);
			if ((n < 0 && errno != EINTR) ||
			    !PQconsumeInput(conn)) {
				PQclear(keep);
				return NULL;
			}
		}
		if (!(res = PQgetResult(conn)))
			return keep;
		if (!keep)
			keep = res;
		else
			PQclear(res);
	}
}

/* Send sql, preparing it first on this connection if it is new here. */
static int
send_statement(struct worker *w, const char *sql, int n,
	       const char *const *params, const struct pool_bin *bin,
	       int64_t deadline, PGresult **err)
{
	const char **list = pool.prepared[w->slot];
	char name[16];
	int i, late;

	*err = NULL;
	for (i = 0; i < MAX_PREPARED && list[i] && list[i] != sql; i++)
		;
	if (i == MAX_PREPARED) /* more statements than slots: unprepared */
		return PQsendQueryParams(w->db, sql, n, NULL, params,
					 bin ? bin->lengths : NULL,
					 bin ? bin->formats : NULL,
					 bin ? bin->result_binary : 0);
	snprintf(name, sizeof(name), "ct%d", i);
	if (!list[i]) {
		PGresult *res;

		if (!PQsendPrepare(w->db, name, sql, n, NULL))
			return 0;
		res = wait_result(w->db, deadline, &late);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			*err = res; /* NULL: lost or late */
			return 0;
		}
		PQclear(res);
		list[i] = sql;
	}
	return PQsendQueryPrepared(
		w->db, name, n, params, bin ? bin->lengths : NULL,
		bin ? bin->formats : NULL, bin ? bin->result_binary : 0);
}

PGresult *
pool_exec(struct worker *w, const char *sql, int n, const char *const *params,
	  int *rc, char *msg, size_t msglen, char *state, int *lost)
{
	return pool_exec_bin(w, sql, n, params, NULL, rc, msg, msglen, state,
			     lost);
}

PGresult *
pool_exec_bin(struct worker *w, const char *sql, int n,
	      const char *const *params, const struct pool_bin *bin, int *rc,
	      char *msg, size_t msglen, char *state, int *lost)
{
	int64_t st = (int64_t)w->cfg->db_statement_timeout * 1000;
	int64_t deadline = ct_mono_ms() +
			   (st > 0 ? st + DEADLINE_GRACE_MS : DEADLINE_NONE_MS);
	PGresult *res = NULL;
	ExecStatusType s;
	int late = 0;

	*lost = 0;
	if (state)
		state[0] = 0;
	if ((*rc = pool_hold(w)) != CT_OK) {
		snprintf(msg, msglen, "database unavailable");
		return NULL;
	}
	if (send_statement(w, sql, n, params, bin, deadline, &res))
		res = wait_result(w->db, deadline, &late);
	s = PQresultStatus(res);
	if (res && (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK))
		return res; /* caller PQclear()s */
	if (late || !res || PQstatus(w->db) != CONNECTION_OK) {
		if (late)
			ct_warn("msg=\"statement past its deadline; dropping "
				"the connection\" worker=%d",
				w->index);
		PQclear(res);
		drop(w);
		*lost = 1;
		*rc = CT_EUNAVAIL;
		snprintf(msg, msglen, "%s",
			 late ? "the database did not answer in time"
			      : "database unavailable");
		return NULL;
	}
	if (state) {
		const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		snprintf(state, 6, "%s", ss ? ss : "");
	}
	*rc = ct_db_error(w->db, res, msg, msglen);
	if (*rc == CT_EINTERNAL)
		*rc = CT_EUNAVAIL; /* logged by ct_db_error; never a 500 */
	PQclear(res);
	return NULL;
}

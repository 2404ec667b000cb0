/* crosstalk-fcgi - the HTTP API for app servers, as a threaded FastCGI
 * responder: N workers, each with its own PostgreSQL connection. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "fcgi/fcgi.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

static const char usage[] =
	"usage: crosstalk-fcgi --config FILE\n"
	"  FastCGI responder for crosstalk's HTTP API. Listens on [http] "
	"socket\n"
	"  (unix path or host:port), or on fd 0 when socket is empty "
	"(spawn-fcgi).\n"
	"options: --config FILE, --help, --version\n";

static int listen_fd;

#define MAX_PREPARED    48
#define MAX_WAITERS_CAP 4096 /* threads are cheap, not free */

/* The connection pool: [http] workers connections shared by all threads.
 * A slot's connection is made lazily and remade after an outage. */
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
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

int
pool_init(const struct ct_cfg *cfg)
{
	pool.n = cfg->http_workers;
	pool.conns = calloc((size_t)pool.n, sizeof(*pool.conns));
	pool.busy = calloc((size_t)pool.n, sizeof(*pool.busy));
	pool.prepared = calloc((size_t)pool.n, sizeof(*pool.prepared));
	return pool.conns && pool.busy && pool.prepared ? 0 : -1;
}

void
pool_free(void)
{
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
pool_take(void)
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

int
worker_db(struct worker *w)
{
	char err[256];
	PGconn **c;

	if (w->slot < 0 && (w->slot = pool_take()) < 0) {
		ct_warn("msg=\"no free database connection in 10 s\" "
			"worker=%d",
			w->index);
		return CT_EUNAVAIL;
	}
	c = &pool.conns[w->slot];
	w->db = *c;
	if (*c && PQstatus(*c) == CONNECTION_OK)
		return CT_OK;
	PQfinish(*c);
	memset(pool.prepared[w->slot], 0, sizeof(pool.prepared[w->slot]));
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

PGresult *
worker_exec(struct worker *w, const char *sql, int n, const char *const *params)
{
	const char **list = pool.prepared[w->slot];
	char name[16];
	int i;

	for (i = 0; i < MAX_PREPARED && list[i] && list[i] != sql; i++)
		;
	if (i == MAX_PREPARED) /* more statements than slots: unprepared */
		return PQexecParams(w->db, sql, n, NULL, params, NULL, NULL, 0);
	snprintf(name, sizeof(name), "ct%d", i);
	if (!list[i]) {
		PGresult *res = PQprepare(w->db, name, sql, n, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return res; /* the caller reports it like any failure */
		PQclear(res);
		list[i] = sql;
	}
	return PQexecPrepared(w->db, name, n, params, NULL, NULL, 0);
}

void
worker_db_release(struct worker *w)
{
	if (w->slot < 0)
		return;
	pthread_mutex_lock(&pool.mu);
	/* a connection left inside a transaction is not reused */
	if (pool.conns[w->slot] &&
	    PQtransactionStatus(pool.conns[w->slot]) != PQTRANS_IDLE) {
		PQfinish(pool.conns[w->slot]);
		pool.conns[w->slot] = NULL;
		memset(pool.prepared[w->slot], 0,
		       sizeof(pool.prepared[w->slot]));
	}
	pool.busy[w->slot] = 0;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	w->slot = -1;
	w->db = NULL;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	FCGX_Request fr;
	struct req r;

	if (FCGX_InitRequest(&fr, listen_fd, 0) != 0) {
		ct_err("msg=\"FCGX_InitRequest failed\" worker=%d", w->index);
		return NULL;
	}
	/* no mutex around accept: with nginx keeping connections open, a
	 * thread asleep in accept() would hold up every other request */
	while (FCGX_Accept_r(&fr) >= 0) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		req_init(&r, &fr, w);
		route_dispatch(&r);
		if (!r.replied)
			req_error(&r, CT_EINTERNAL, "no reply");
		req_done(&r);
		FCGX_Finish_r(&fr);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		metrics_request(r.route, r.status,
				(int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 +
					(t1.tv_nsec - t0.tv_nsec) / 1000);
	}
	FCGX_Free(&fr, 1);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct worker *workers = NULL;
	pthread_t *tids = NULL;
	struct ct_cfg *cfg = NULL;
	const char *path = NULL;
	char err[512];
	sigset_t set;
	int c, sig = 0, started = 0, nthreads, rc = 1;
	pthread_attr_t attr;
	PGconn *probe;

	if ((c = ct_cli_options(argc, argv, "crosstalk-fcgi", usage, &path,
				NULL)) >= 0)
		return c;
	if (ct_cfg_load(path, &cfg, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "crosstalk-fcgi: bad config: %s\n", err);
		return 1;
	}
	ct_log_init("fcgi",
		    (enum ct_log_level)ct_log_parse_level(cfg->log_level));
	/* An unreachable database at start is a clear one-line failure. */
	if (!(probe = ct_db_connect_wait(cfg, "crosstalk-fcgi", err,
					 sizeof(err)))) {
		fprintf(stderr, "crosstalk-fcgi: database unreachable: %s\n",
			err);
		goto out;
	}
	PQfinish(probe);

	if (FCGX_Init() != 0) {
		fprintf(stderr, "crosstalk-fcgi: FCGX_Init failed\n");
		goto out;
	}
	if (cfg->http_socket[0]) {
		if (cfg->http_socket[0] == '/')
			unlink(cfg->http_socket);
		listen_fd =
			FCGX_OpenSocket(cfg->http_socket, cfg->http_backlog);
		if (listen_fd < 0) {
			fprintf(stderr, "crosstalk-fcgi: cannot listen on %s\n",
				cfg->http_socket);
			goto out;
		}
		if (cfg->http_socket[0] == '/')
			chmod(cfg->http_socket, 0660);
	} else {
		listen_fd = 0; /* handed over by spawn-fcgi / mod_fcgid */
	}

	/* Workers inherit this mask; only main takes signals, by sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	/* threads: one per database connection for ordinary requests, plus
	 * one per long-poll that may wait (each gives its connection back
	 * while it waits), so waiting polls never starve other requests */
	if (cfg->http_max_waiters > MAX_WAITERS_CAP) {
		ct_warn("msg=\"max_waiters capped\" configured=%d cap=%d "
			"reason=\"each waiting poll holds a thread\"",
			cfg->http_max_waiters, MAX_WAITERS_CAP);
		cfg->http_max_waiters = MAX_WAITERS_CAP;
	}
	nthreads = cfg->http_workers + cfg->http_max_waiters;
	workers = calloc((size_t)nthreads, sizeof(*workers)); /* freed at out */
	tids = calloc((size_t)nthreads, sizeof(*tids));       /* freed at out */
	if (!workers || !tids || pool_init(cfg) != 0)
		goto out;
	if (notify_start(cfg) != 0) {
		fprintf(stderr, "crosstalk-fcgi: cannot start the listener\n");
		goto out;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (int i = 0; i < nthreads; i++) {
		workers[i].index = i;
		workers[i].cfg = cfg;
		workers[i].slot = -1;
		if (pthread_create(&tids[i], &attr, worker_main, &workers[i]))
			break;
		started++;
	}
	pthread_attr_destroy(&attr);
	ct_info("msg=\"listening\" socket=\"%s\" threads=%d "
		"db_connections=%d max_waiters=%d",
		cfg->http_socket[0] ? cfg->http_socket : "fd:0", started,
		cfg->http_workers, cfg->http_max_waiters);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			ct_info("msg=\"SIGHUP: nothing to reload in fcgi; "
				"restart to apply config\"");
	}
	ct_info("msg=\"stopping\" signal=%d", sig);
	/* accept() does not return on a signal flag: shut the socket down so
	 * every worker's accept() fails and its loop ends */
	FCGX_ShutdownPending();
	shutdown(listen_fd, SHUT_RDWR);
	notify_stop(); /* wakes long-polls: they answer and finish */
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (cfg->http_socket[0] == '/')
		unlink(cfg->http_socket);
	ct_info("msg=\"stopped\"");
	rc = 0;
out:
	notify_stop();
	pool_free();
	pollshare_free();
	free(workers);
	free(tids);
	ct_cfg_free(cfg);
	return rc;
}

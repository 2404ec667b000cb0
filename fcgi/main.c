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
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/util.h"
#include "fcgi/fcgi.h"
#include "fcgi/pool.h"
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
static int curl_started;

#define MAX_WAITERS_CAP 4096 /* each holds a socket and its buffers */

/* A request to accept into; malloc'd, and freed by the worker, or by
 * park.c when a long-poll parks it (the worker then takes a new one). */
static FCGX_Request *
new_request(int index)
{
	FCGX_Request *fr = malloc(sizeof(*fr));

	if (!fr || FCGX_InitRequest(fr, listen_fd, 0) != 0) {
		ct_err("msg=\"cannot make a request\" worker=%d", index);
		free(fr);
		return NULL;
	}
	return fr;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	FCGX_Request *fr = new_request(w->index); /* owned */
	struct req r;

	/* no mutex around accept: with nginx keeping connections open, a
	 * thread asleep in accept() would hold up every other request */
	while (fr && FCGX_Accept_r(fr) >= 0) {
		req_init(&r, fr, w);
		route_dispatch(&r);
		if (!r.fr) { /* a long-poll parked it: park.c answers */
			req_done(&r);
			fr = new_request(w->index);
			continue;
		}
		if (!r.replied)
			req_error(&r, CT_EINTERNAL, "no reply");
		req_done(&r);
		FCGX_Finish_r(fr);
		metrics_request(r.route, r.status, ct_mono_us() - r.t0_us);
	}
	if (fr) {
		FCGX_Free(fr, 1);
		free(fr);
	}
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
	/* attachments' key (migration 018); without it they answer 503 */
	{
		PGresult *res = PQexec(probe, "SELECT value FROM "
					      "crosstalk.settings WHERE name "
					      "= 'file_secret'");
		int ok = PQresultStatus(res) == PGRES_TUPLES_OK &&
			 PQntuples(res) == 1;

		if (!ok)
			ct_warn("msg=\"no file secret: attachments are off "
				"until crosstalkctl migrate and a restart\"");
		if (files_init(ok ? PQgetvalue(res, 0, 0) : NULL) != 0) {
			PQclear(res);
			PQfinish(probe);
			goto out;
		}
		PQclear(res);
	}
	PQfinish(probe);

	/* libcurl (webhooks, channel hooks), once, before any thread */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "crosstalk-fcgi: libcurl init failed\n");
		goto out;
	}
	curl_started = 1;
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

	/* threads: one per database connection; waiting long-polls hold
	 * none (park.c) */
	if (cfg->http_max_waiters > MAX_WAITERS_CAP) {
		ct_warn("msg=\"max_waiters capped\" configured=%d cap=%d "
			"reason=\"each waiting poll holds a socket\"",
			cfg->http_max_waiters, MAX_WAITERS_CAP);
		cfg->http_max_waiters = MAX_WAITERS_CAP;
	}
	nthreads = cfg->http_workers;
	workers = calloc((size_t)nthreads, sizeof(*workers)); /* freed at out */
	tids = calloc((size_t)nthreads, sizeof(*tids));       /* freed at out */
	if (!workers || !tids || pool_init(cfg) != 0)
		goto out;
	post_batch_init(cfg);
	if (park_start(cfg) != 0 || notify_start(cfg) != 0) {
		fprintf(stderr, "crosstalk-fcgi: cannot start the listener\n");
		goto out;
	}
	if (hooks_start(cfg) != 0) {
		fprintf(stderr,
			"crosstalk-fcgi: cannot start webhook delivery\n");
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
	if (pool_warm_start() != 0)
		ct_warn("msg=\"no warm-up thread; connections are made "
			"when first used\"");
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
	notify_stop();
	park_stop(); /* answers every waiting long-poll */
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (cfg->http_socket[0] == '/')
		unlink(cfg->http_socket);
	ct_info("msg=\"stopped\"");
	rc = 0;
out:
	hooks_stop();
	notify_stop();
	park_stop();
	pool_free();
	files_free();
	gate_free();
	if (curl_started)
		curl_global_cleanup();
	free(workers);
	free(tids);
	ct_cfg_free(cfg);
	return rc;
}

/* crosstalk-fcgi - the HTTP API for app servers, as a threaded FastCGI
 * responder: N workers, each with its own PostgreSQL connection. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcgiapp.h>

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

int
worker_db(struct worker *w)
{
	char err[256];

	if (w->db && PQstatus(w->db) == CONNECTION_OK)
		return CT_OK;
	if (w->db) {
		PQfinish(w->db);
		w->db = NULL;
	}
	w->db = ct_db_connect(w->cfg, "crosstalk-fcgi", err, sizeof(err));
	if (!w->db) {
		ct_warn("msg=\"database unreachable\" worker=%d error=\"%s\"",
			w->index, err);
		return CT_EUNAVAIL;
	}
	return CT_OK;
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
		req_init(&r, &fr, w);
		route_dispatch(&r);
		if (!r.replied)
			req_error(&r, CT_EINTERNAL, "no reply");
		FCGX_Finish_r(&fr);
	}
	FCGX_Free(&fr, 1);
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct worker *workers = NULL;
	pthread_t *tids = NULL;
	struct ct_cfg *cfg = NULL;
	const char *path = NULL;
	char err[512];
	sigset_t set;
	int c, sig, started = 0, rc = 1;
	PGconn *probe;

	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("crosstalk-fcgi %s\n", CT_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "crosstalk-fcgi: --config FILE is required\n");
		return 2;
	}
	if (ct_cfg_load(path, &cfg, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "crosstalk-fcgi: bad config: %s\n", err);
		return 1;
	}
	ct_log_init("fcgi",
		    (enum ct_log_level)ct_log_parse_level(cfg->log_level));
	/* An unreachable database at start is a clear one-line failure. */
	if (!(probe = ct_db_connect(cfg, "crosstalk-fcgi", err, sizeof(err)))) {
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

	workers = calloc((size_t)cfg->http_workers, sizeof(*workers));
	tids = calloc((size_t)cfg->http_workers, sizeof(*tids));
	if (!workers || !tids)
		goto out;
	for (int i = 0; i < cfg->http_workers; i++) {
		workers[i].index = i;
		workers[i].cfg = cfg;
		if (pthread_create(&tids[i], NULL, worker_main, &workers[i]))
			break;
		started++;
	}
	ct_info("msg=\"listening\" socket=\"%s\" workers=%d",
		cfg->http_socket[0] ? cfg->http_socket : "fd:0", started);

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
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	for (int i = 0; i < started; i++)
		PQfinish(workers[i].db);
	if (cfg->http_socket[0] == '/')
		unlink(cfg->http_socket);
	ct_info("msg=\"stopped\"");
	rc = 0;
out:
	free(workers);
	free(tids);
	ct_cfg_free(cfg);
	return rc;
}

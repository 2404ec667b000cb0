/* crosstalk-wsd - the WebSocket daemon browsers connect to. One event loop
 * runs everything; signals arrive through a signalfd adopted into it, both
 * PostgreSQL connections are adopted sockets, timers are lws_sul.
 *
 * Event loop: a libev loop (epoll) we create, run and break ourselves,
 * handed to lws as its foreign loop through Debian's libev event-lib
 * plugin. lws 4.1's default poll() rescans every descriptor on each wakeup:
 * at 10,000 connections that scan was 90% of the daemon's time while
 * spreading messages over 1,000 channels (bench/RESULTS.md).
 *
 * Trap in lws 4.1.6 with libev: lws cannot move its loop timer earlier
 * once it is set, so a timer scheduled for sooner waited for a later one;
 * timers.c makes every lws_sul fire on time. */
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/notice.h"
#include "core/util.h"
#include "wsd/gate.h"
#include "wsd/timers.h"
#include "wsd/wsd.h"

static const char usage[] =
	"usage: crosstalk-wsd --config FILE\n"
	"  WebSocket daemon for crosstalk; also serves the widget.\n"
	"options: --config FILE, --help, --version\n";

static void
stop_now(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	wsd->stopped = 1;
	ev_break(wsd->loop, EVBREAK_ALL);
}

/* After SIGTERM: out once the last client has gone, or when the grace is
 * over, whichever comes first. */
static void
stop_when_empty(lws_sorted_usec_list_t *sul)
{
	if (!wsd->conns.count || ct_mono_ms() >= wsd->stop_by_ms) {
		stop_now(sul);
		return;
	}
	lws_sul_schedule(wsd->context, 0, sul, stop_when_empty, 50 * 1000);
}

/* --- what the database tells (pglisten.c, pgq.c) ----------------------- */

/* Every notification on "crosstalk" (core/notice.h), to the module whose
 * news it is. payload is parsed in place. */
static void
on_notice(char *payload)
{
	struct ct_notice n;

	ct_metric_add(&m_notifies, 1);
	if (ct_notice_parse(payload, &n) != CT_OK) {
		ct_warn("msg=\"malformed notification ignored\"");
		return;
	}
	switch (n.kind) {
	case 'm':
		fanout_event(&n);
		break;
	case 'e':
		login_ended(n.app, n.hash);
		break;
	case 'r':
		dispatch_read_moved(n.channel, n.user);
		break;
	case 'p':
		presence_changed(n.channel);
		break;
	case 't':
		dispatch_typing(n.channel, n.json);
		break;
	case 'u':
		dispatch_mentioned(n.channel, n.user, n.id);
		break;
	default:
		break;
	}
}

/* The database is back (a connection came up after none was): every
 * channel and every stalled replay catches up by seq. */
static void
on_database_up(void)
{
	fanout_catchup_all();
}

/* A connection's outbound queue emptied: replays and reading go on. */
static void
on_drained(struct pss *p)
{
	fanout_drained(p);
	dispatch_resume(p);
}

/* SIGHUP: parse, validate, then swap; a bad file keeps the running config.
 * listen, port and workers need a restart (the socket is bound). */
static void
reload(void)
{
	struct ct_cfg *next;
	char err[512];
	int lvl;

	if (ct_cfg_load(wsd->cfg_path, &next, err, sizeof(err)) != CT_OK) {
		ct_warn("msg=\"reload failed; keeping the old config\" "
			"err=\"%s\"",
			err);
		return;
	}
	if (strcmp(next->wsd_listen, wsd->cfg->wsd_listen) != 0 ||
	    next->wsd_port != wsd->cfg->wsd_port ||
	    next->wsd_workers != wsd->cfg->wsd_workers)
		ct_warn("msg=\"listen, port and workers change on restart "
			"only\"");
	ct_cfg_free(wsd->cfg);
	wsd->cfg = next;
	if ((lvl = ct_log_parse_level(wsd->cfg->log_level)) >= 0)
		ct_log_set_level((enum ct_log_level)lvl);
	origins_refresh();
	ct_info("msg=\"config reloaded\"");
}

/* Once a second: the periodic jobs, each at its own interval. */
static void
tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = ct_mono_ms();
	struct ct_cfg *c = wsd->cfg;
	int beat = c->lim_presence_ttl / 3 > 0 ? c->lim_presence_ttl / 3 : 1;

	if (wsd->stopping)
		return;
	pgq_tick();
	alive_tick();
	if (now - wsd->last_recheck_ms >=
	    (int64_t)c->lim_session_recheck * 1000) {
		wsd->last_recheck_ms = now;
		login_recheck();
	}
	if (now - wsd->last_heartbeat_ms >= (int64_t)beat * 1000) {
		wsd->last_heartbeat_ms = now;
		presence_tick();
	}
	if (now - wsd->last_origins_ms >= 30000) {
		wsd->last_origins_ms = now;
		origins_refresh();
	}
	if (now - wsd->last_health_ms >= 5000) {
		wsd->last_health_ms = now;
		health_refresh();
		gate_refresh(); /* a new channel hook counts within 5 s */
	}
	lws_sul_schedule(wsd->context, 0, sul, tick, 1000 * 1000);
}

static int
signal_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		void *in, size_t len)
{
	struct signalfd_siginfo si;

	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	if (read(lws_get_socket_fd(wsi), &si, sizeof(si)) != sizeof(si))
		return 0;
	if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
		if (wsd->stopping)
			return 0;
		ct_info("msg=\"stopping\" signal=%u connections=%u",
			si.ssi_signo, wsd->conns.count);
		wsd->stopping = 1;
		login_close_all(1001);
		/* a grace period for the close frames, then out */
		wsd->stop_by_ms = ct_mono_ms() + 1000;
		lws_sul_schedule(wsd->context, 0, &wsd->sul_stop,
				 stop_when_empty, 1);
	} else if (si.ssi_signo == SIGHUP) {
		reload();
	}
	return 0;
}

/* clang-format off */
static const struct lws_protocols protocols[] = {
	{ "http", http_callback, 0, 0, 0, NULL, 0 },
	{ "crosstalk.v1", chat_callback, sizeof(struct pss), WSD_RX_BUFFER, 0,
	  NULL, WSD_WRITE_MAX },
	{ "ct-signal", signal_callback, 0, 0, 0, NULL, 0 },
	{ "ct-pgq", pgq_callback, 0, 0, 0, NULL, 0 },
	{ "ct-pgl", pgl_callback, 0, 0, 0, NULL, 0 },
	{ "ct-listen", listen_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};
/* clang-format on */

static int
adopt_signals(void)
{
	lws_sock_file_fd_type u;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	u.filefd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (u.filefd < 0)
		return -1;
	/* lws owns the fd from here and closes it with the context */
	if (!lws_adopt_descriptor_vhost(wsd->vhost, LWS_ADOPT_RAW_FILE_DESC, u,
					"ct-signal", NULL)) {
		close(u.filefd);
		return -1;
	}
	return 0;
}

/* Start-up check: the database answers and the origins load, or we exit
 * with a one-line reason. */
static int
first_contact(void)
{
	char err[256];
	PGconn *conn =
		ct_db_connect_wait(wsd->cfg, "crosstalk-wsd", err, sizeof(err));
	PGresult *res;
	int rc = -1;

	if (!conn) {
		fprintf(stderr, "crosstalk-wsd: database unreachable: %s\n",
			err);
		return -1;
	}
	res = PQexec(conn,
		     "SELECT DISTINCT unnest(origins) FROM crosstalk.apps");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "crosstalk-wsd: database: %s",
			PQresultErrorMessage(res));
		goto out;
	}
	if (!(wsd->origins =
		      calloc((size_t)PQntuples(res) + 1, sizeof(char *))))
		goto out;
	for (int i = 0; i < PQntuples(res); i++)
		if ((wsd->origins[wsd->norigins] =
			     strdup(PQgetvalue(res, i, 0))))
			wsd->norigins++;
	PQclear(res);
	/* attachments' key (migration 018): without it they are off */
	res = PQexec(conn, "SELECT value FROM crosstalk.settings "
			   "WHERE name = 'file_secret'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		wsd->file_secret = strdup(PQgetvalue(res, 0, 0)); /* owned */
	else
		ct_warn("msg=\"no file secret: attachments are off until "
			"crosstalkctl migrate and a restart\"");
	rc = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static void
cancel_pres(struct channel *c, void *arg)
{
	(void)arg;
	lws_sul_cancel(&c->pres_sul);
	lws_sul_cancel(&c->fetch_sul);
}

/* [wsd] workers = N > 1: this process only supervises N worker processes
 * that share the port with SO_REUSEPORT (the kernel spreads connections),
 * each a full node with its own loop, database connections and node id.
 * Returns -1 in a worker (go on serving), else the parent's exit code. */
static int worker_index = -1;

static int
supervise(int n)
{
	pid_t kids[256] = { 0 };
	sigset_t set;
	int sig, live = 0, stopping = 0, rc = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			worker_index = i;
			return -1;
		}
		if (pid < 0) {
			ct_err("msg=\"fork failed\"");
			stopping = 1;
			rc = 1;
			break;
		}
		kids[i] = pid;
		live++;
	}
	ct_info("msg=\"workers started\" workers=%d", live);
	if (stopping)
		for (int i = 0; i < n; i++)
			if (kids[i])
				kill(kids[i], SIGTERM);
	while (live > 0) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGCHLD) {
			pid_t pid;
			int st;

			while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
				for (int i = 0; i < n; i++) {
					if (kids[i] != pid)
						continue;
					kids[i] = 0;
					live--;
					if (!WIFEXITED(st) || WEXITSTATUS(st))
						rc = stopping ? 1 : rc;
					if (stopping)
						break;
					ct_warn("msg=\"worker exited; "
						"restarting\" worker=%d",
						i);
					sleep(1);
					if ((pid = fork()) == 0) {
						worker_index = i;
						return -1;
					}
					if (pid > 0) {
						kids[i] = pid;
						live++;
					}
					break;
				}
			}
		} else {
			if (sig != SIGHUP)
				stopping = 1;
			for (int i = 0; i < n; i++)
				if (kids[i])
					kill(kids[i],
					     sig == SIGHUP ? SIGHUP : SIGTERM);
		}
	}
	ct_info("msg=\"workers stopped\"");
	return rc;
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	lws_retry_bo_t retry = { 0 };
	void *loops[1];
	const char *path = NULL;
	char err[512];
	int c, rc = 1;

	if ((c = ct_cli_options(argc, argv, "crosstalk-wsd", usage, &path,
				NULL)) >= 0)
		return c;
	if (ct_cfg_load(path, &wsd->cfg, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "crosstalk-wsd: bad config: %s\n", err);
		return 1;
	}
	ct_log_init("wsd",
		    (enum ct_log_level)ct_log_parse_level(wsd->cfg->log_level));
	lws_set_log_level(LLL_ERR, NULL);
	wsd->cfg_path = path;
	if (first_contact() != 0)
		goto out;
	if (wsd->cfg->wsd_workers > 1) {
		int prc = supervise(wsd->cfg->wsd_workers);

		if (prc >= 0) { /* the supervisor is done */
			origins_free();
			free(wsd->file_secret);
			ct_cfg_free(wsd->cfg);
			return prc;
		}
	}
	if (*wsd->cfg->wsd_node_id && worker_index >= 0) {
		snprintf(wsd->node_id, sizeof(wsd->node_id), "%s-%d",
			 wsd->cfg->wsd_node_id, worker_index);
	} else if (*wsd->cfg->wsd_node_id) {
		snprintf(wsd->node_id, sizeof(wsd->node_id), "%s",
			 wsd->cfg->wsd_node_id);
	} else {
		char host[64] = "localhost";

		gethostname(host, sizeof(host) - 1);
		snprintf(wsd->node_id, sizeof(wsd->node_id), "%s:%d", host,
			 (int)getpid());
	}

	/* ours: broken by stop_now, destroyed after the context */
	if (!(wsd->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK))) {
		fprintf(stderr,
			"crosstalk-wsd: cannot create the event loop\n");
		goto out;
	}
	loops[0] = wsd->loop;
	memset(&info, 0, sizeof(info));
	info.foreign_loops = loops;
	info.port = wsd->cfg->wsd_port;
	info.iface = wsd->cfg->wsd_listen;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_LIBEV;
	/* an IPv4 listen address must not end up bound to [::] */
	if (!strchr(wsd->cfg->wsd_listen, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (wsd->cfg->wsd_workers > 1) /* listen.c binds, with SO_REUSEPORT */
		info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.vhost_name = "crosstalk";
	info.pt_serv_buf_size = WSD_HTTP_HEADERS;
	/* keepalive is alive.c's: a zero hangup turns lws' own off */
	info.retry_and_idle_policy = &retry;
	if (!(wsd->context = lws_create_context(&info))) {
		fprintf(stderr, "crosstalk-wsd: cannot create context\n");
		goto out;
	}
	if (!(wsd->vhost = lws_create_vhost(wsd->context, &info))) {
		fprintf(stderr, "crosstalk-wsd: cannot listen on %s:%d\n",
			wsd->cfg->wsd_listen, wsd->cfg->wsd_port);
		goto out;
	}
	if (wsd->cfg->wsd_workers > 1 && listen_open() != 0) {
		fprintf(stderr, "crosstalk-wsd: cannot listen on %s:%d\n",
			wsd->cfg->wsd_listen, wsd->cfg->wsd_port);
		goto out;
	}
	if (adopt_signals() != 0) {
		fprintf(stderr, "crosstalk-wsd: cannot adopt signalfd\n");
		goto out;
	}
	if (timers_start(wsd->context, wsd->loop) != 0) {
		fprintf(stderr, "crosstalk-wsd: cannot start the timers\n");
		goto out;
	}
	dispatch_start();
	if (gate_start() != 0) {
		fprintf(stderr, "crosstalk-wsd: cannot start libcurl\n");
		goto out;
	}
	out_start(on_drained);
	if (pgl_start(on_notice, on_database_up) != CT_OK ||
	    pgq_start(on_database_up) != CT_OK) {
		fprintf(stderr,
			"crosstalk-wsd: cannot connect to the database\n");
		goto out;
	}
	presence_node_up();
	health_refresh();
	gate_refresh();
	tick(&wsd->sul_tick);
	ct_info("msg=\"listening\" addr=%s port=%d node=%s",
		wsd->cfg->wsd_listen, wsd->cfg->wsd_port, wsd->node_id);
	ev_run(wsd->loop, 0);
	ct_info("msg=\"stopped\"");
	rc = 0;
out:
	wsd->stopping = 1;
	wsd->stopped = 1; /* no timer may be scheduled from here */
	/* timers first: their lists die with the context */
	lws_sul_cancel(&wsd->sul_tick);
	lws_sul_cancel(&wsd->sul_stop);
	timers_stop();
	out_stop();
	channel_foreach(cancel_pres, NULL);
	presence_free();
	pgl_stop();
	pgq_stop(); /* before: its timer; after: what closing queued */
	if (wsd->context)
		lws_context_destroy(wsd->context); /* closes every connection */
	gate_stop(); /* after the connections, before the loop */
	if (wsd->loop)
		ev_loop_destroy(wsd->loop);
	if (rc == 0)
		presence_node_down();
	pgq_stop();
	presence_free(); /* what closing connections queued */
	channel_free_all();
	login_free();
	origins_free();
	free(wsd->file_secret);
	free(wsd->wbuf);
	ct_cfg_free(wsd->cfg);
	return rc;
}

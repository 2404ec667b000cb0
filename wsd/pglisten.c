/* pglisten.c - the LISTEN connection: connect and LISTEN without blocking
 * (pgconnect.c), adopt the socket into the lws loop, drain every
 * notification as soon as the socket is readable, reconnect with backoff.
 * It runs no statement of the daemon's, so reading notifications never
 * waits behind a query or a slow client.
 *
 * A connection that only receives cannot tell a quiet database from a dead
 * one (a half-open TCP connection, a server that stopped): every [database]
 * keepalive seconds it sends "SELECT 1", and when the answer has not come
 * by the next probe the connection is given up, made anew (LISTEN first),
 * and every channel catches up by seq. So live delivery resumes within
 * about two keepalive periods plus a connect. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "wsd/wsd.h"

static struct {
	PGconn *conn; /* owned */
	struct lws *wsi;
	int backoff_ms;
	lws_sorted_usec_list_t sul;   /* reconnect */
	lws_sorted_usec_list_t probe; /* liveness */
	int64_t probe_ms;             /* probe in flight since, or 0 */
	struct pgconnect pc;          /* a (re)connect in progress */
	void (*notice)(char *payload);
	void (*up)(void);
} l;

static void pgl_connect(lws_sorted_usec_list_t *sul);
static void pgl_connected(void *arg, PGconn *conn, const char *err);

static void
lost(const char *why)
{
	lws_sul_cancel(&l.probe);
	l.probe_ms = 0;
	if (l.wsi) { /* lws closes our dup of the socket */
		lws_set_opaque_user_data(l.wsi, NULL);
		lws_set_timeout(l.wsi, PENDING_TIMEOUT_USER_OK,
				LWS_TO_KILL_ASYNC);
		l.wsi = NULL;
	}
	PQfinish(l.conn);
	l.conn = NULL;
	wsd->listen_up = 0;
	if (wsd->stopping)
		return;
	ct_warn("msg=\"listen connection lost\" why=\"%s\" retry_ms=%d", why,
		l.backoff_ms);
	lws_sul_schedule(wsd->context, 0, &l.sul, pgl_connect,
			 (lws_usec_t)l.backoff_ms * 1000);
	l.backoff_ms = l.backoff_ms * 2 > 5000 ? 5000 : l.backoff_ms * 2;
}

static void
drain(void)
{
	PGnotify *n;
	PGresult *res;
	int idle = 0;

	/* results of LISTEN and of the probes */
	while (!PQisBusy(l.conn)) {
		if (!(res = PQgetResult(l.conn))) {
			idle = 1;
			break;
		}
		PQclear(res);
	}
	if (idle)
		l.probe_ms = 0; /* answered (or none was asked) */
	while ((n = PQnotifies(l.conn))) {
		if (strcmp(n->relname, "crosstalk") == 0 && n->extra)
			l.notice(n->extra);
		PQfreemem(n);
	}
}

static void
probe(lws_sorted_usec_list_t *sul)
{
	int64_t now = ct_mono_ms();

	(void)sul;
	if (!l.conn || wsd->stopping)
		return;
	if (l.probe_ms) {
		lost("no answer to the keepalive probe");
		return;
	}
	if (!PQsendQuery(l.conn, "SELECT 1")) {
		lost("probe could not be sent");
		return;
	}
	l.probe_ms = now;
	if (PQflush(l.conn) == 1 && l.wsi)
		lws_callback_on_writable(l.wsi);
	lws_sul_schedule(wsd->context, 0, &l.probe, probe,
			 (lws_usec_t)wsd->cfg->db_keepalive * 1000000);
}

static void
pgl_connect(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	if (wsd->stopping)
		return;
	/* LISTEN first, then catch up: the other order loses whatever
	 * commits in between */
	pgconnect_start(&l.pc, "crosstalk-wsd-listen", "LISTEN crosstalk",
			pgl_connected, NULL);
}

static void
pgl_connected(void *arg, PGconn *conn, const char *err)
{
	lws_sock_file_fd_type u;

	(void)arg;
	if (!conn) {
		ct_warn("msg=\"database connect failed\" conn=listen "
			"err=\"%s\"",
			err);
		lost("connect failed");
		return;
	}
	l.conn = conn;
	u.filefd = dup(PQsocket(l.conn));
	if (u.filefd < 0 || !(l.wsi = lws_adopt_descriptor_vhost(
				      wsd->vhost, LWS_ADOPT_RAW_FILE_DESC, u,
				      "ct-pgl", NULL))) {
		if (u.filefd >= 0)
			close(u.filefd);
		lost("cannot adopt the socket");
		return;
	}
	lws_set_opaque_user_data(l.wsi, &l);
	l.backoff_ms = 250;
	wsd->listen_up = 1;
	ct_metric_add(&m_db_reconnects, 1);
	ct_info("msg=\"listening for notifications\"");
	lws_sul_schedule(wsd->context, 0, &l.probe, probe,
			 (lws_usec_t)wsd->cfg->db_keepalive * 1000000);
	drain();
	l.up();
}

int
pgl_start(void (*notice)(char *payload), void (*up)(void))
{
	l.notice = notice;
	l.up = up;
	/* the connection comes up in the loop; the database answered at
	 * start-up already (main.c) */
	l.backoff_ms = 250;
	pgl_connect(NULL);
	return CT_OK;
}

void
pgl_stop(void)
{
	lws_sul_cancel(&l.sul);
	lws_sul_cancel(&l.probe);
	pgconnect_cancel(&l.pc);
	PQfinish(l.conn);
	l.conn = NULL;
}

int
pgl_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	     void *in, size_t len)
{
	(void)user;
	(void)in;
	(void)len;
	if (!lws_get_opaque_user_data(wsi))
		return 0; /* a connection given up: lws closes it */
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!l.conn || !PQconsumeInput(l.conn))
			return -1;
		drain();
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (l.conn && PQflush(l.conn) == 1)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (wsi == l.wsi) {
			l.wsi = NULL;
			if (l.conn)
				lost("connection closed");
		}
		break;
	default:
		break;
	}
	return 0;
}

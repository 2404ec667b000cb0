/* pglisten.c - the LISTEN connection: connect, LISTEN crosstalk, adopt the
 * socket into the lws loop, drain every notification as soon as the socket
 * is readable, reconnect with backoff. It runs no other statement, so
 * reading notifications never waits behind a query or a slow client. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "wsd/wsd.h"

static struct {
	PGconn *conn; /* owned */
	struct lws *wsi;
	int backoff_ms;
	lws_sorted_usec_list_t sul;
	struct pgconnect pc; /* a (re)connect in progress */
} l;

static void pgl_connect(lws_sorted_usec_list_t *sul);
static void pgl_connected(void *arg, PGconn *conn, const char *err);

static void
lost(void)
{
	PQfinish(l.conn);
	l.conn = NULL;
	wsd->listen_up = 0;
	if (wsd->stopping)
		return;
	ct_warn("msg=\"listen connection lost\" retry_ms=%d", l.backoff_ms);
	lws_sul_schedule(wsd->context, 0, &l.sul, pgl_connect,
			 (lws_usec_t)l.backoff_ms * 1000);
	l.backoff_ms = l.backoff_ms * 2 > 5000 ? 5000 : l.backoff_ms * 2;
}

static void
drain(void)
{
	PGnotify *n;
	PGresult *res;

	/* results of LISTEN itself, if any are left */
	while (!PQisBusy(l.conn) && (res = PQgetResult(l.conn)))
		PQclear(res);
	while ((n = PQnotifies(l.conn))) {
		if (strcmp(n->relname, "crosstalk") == 0 && n->extra)
			fanout_notify(n->extra);
		PQfreemem(n);
	}
}

static void
pgl_connect(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	if (wsd->stopping)
		return;
	pgconnect_start(&l.pc, "crosstalk-wsd-listen", pgl_connected, NULL);
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
		lost();
		return;
	}
	l.conn = conn;
	/* LISTEN first, then catch up: the other order loses whatever
	 * commits in between. */
	if (ct_db_exec(l.conn, "LISTEN crosstalk") != CT_OK) {
		lost();
		return;
	}
	PQsetnonblocking(l.conn, 1);
	u.filefd = dup(PQsocket(l.conn));
	if (u.filefd < 0 || !(l.wsi = lws_adopt_descriptor_vhost(
				      wsd->vhost, LWS_ADOPT_RAW_FILE_DESC, u,
				      "ct-pgl", NULL))) {
		if (u.filefd >= 0)
			close(u.filefd);
		lost();
		return;
	}
	l.backoff_ms = 250;
	wsd->listen_up = 1;
	ct_metric_add(&m_db_reconnects, 1);
	ct_info("msg=\"listening for notifications\"");
	drain();
	fanout_catchup_all();
}

int
pgl_start(void)
{
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
	pgconnect_cancel(&l.pc);
	PQfinish(l.conn);
	l.conn = NULL;
}

int
pgl_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	     void *in, size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!l.conn || !PQconsumeInput(l.conn))
			return -1;
		drain();
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (wsi == l.wsi) {
			l.wsi = NULL;
			if (l.conn)
				lost();
		}
		break;
	default:
		break;
	}
	return 0;
}

/* pgq.c - the daemon's query connection: async libpq, adopted into the lws
 * loop, one statement at a time from a FIFO.
 *
 * Why async libpq and not a worker pool: lws is single-threaded, and every
 * answer (an ack, a batch of events) must end up in that thread anyway. An
 * adopted socket hands results to the loop with no locks, no wakeups and
 * no copies; one connection keeps the order of requests, which the replay
 * and fetch logic relies on. Statements are short (a publish, a batch of
 * at most replay_batch events), so one in flight at a time is enough;
 * housekeeping (presence rows, heartbeats, origins, health) waits in a
 * background lane so that a burst of it never delays a fetch or an ack. The
 * LISTEN connection is separate (pglisten.c): a busy query here never
 * delays reading notifications. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "wsd/wsd.h"

#define PGQ_MAX_QUEUED 20000

struct req {
	struct req *next;
	const char *sql; /* static text */
	int n;
	char **params; /* owned, n strings */
	pgq_cb cb;     /* NULL: nobody wants the answer */
	int dead;      /* the owner is gone */
	void *arg;
	void *owner;
	char *tag; /* owned, may be NULL */
};

static struct {
	PGconn *conn; /* owned */
	struct lws *wsi;
	struct req *head, *tail;   /* waiting to be sent */
	struct req *bhead, *btail; /* background: sent when head is empty */
	struct req *inflight;
	PGresult *res; /* first result of the statement in flight */
	int err;       /* first error of it */
	char msg[256];
	unsigned queued;
	int backoff_ms;
	lws_sorted_usec_list_t sul;
} q;

static void pgq_connect(lws_sorted_usec_list_t *sul);

static void
req_free(struct req *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->n; i++)
		free(r->params[i]);
	free(r->params);
	free(r->tag);
	free(r);
}

static void
finish(struct req *r, PGresult *res, int rc, const char *msg)
{
	if (r->cb && !r->dead)
		r->cb(r->arg, rc == CT_OK ? res : NULL, rc, msg, r->tag);
	req_free(r);
}

static void
send_next(void)
{
	struct req *r;

	if (q.inflight || (!q.head && !q.bhead) || !q.conn || !q.wsi)
		return;
	if (q.head) {
		r = q.head;
		q.head = r->next;
		if (!q.head)
			q.tail = NULL;
	} else {
		r = q.bhead;
		q.bhead = r->next;
		if (!q.bhead)
			q.btail = NULL;
	}
	q.queued--;
	if (r->dead) { /* owner gone before it was sent */
		req_free(r);
		send_next();
		return;
	}
	q.inflight = r;
	q.res = NULL;
	q.err = CT_OK;
	q.msg[0] = 0;
	if (!PQsendQueryParams(q.conn, r->sql, r->n, NULL,
			       (const char *const *)r->params, NULL, NULL, 0)) {
		/* the connection is broken: RX will see it and close */
		ct_warn("msg=\"query send failed\" err=\"%s\"",
			PQerrorMessage(q.conn));
		lws_callback_on_writable(q.wsi);
		return;
	}
	if (PQflush(q.conn) == 1)
		lws_callback_on_writable(q.wsi);
}

static void
enqueue(const char *sql, int n, const char *const *params, pgq_cb cb, void *arg,
	void *owner, const char *tag, int bg)
{
	struct req *r = NULL;

	if (q.queued >= PGQ_MAX_QUEUED || !(r = calloc(1, sizeof(*r))) ||
	    !(r->params = calloc((size_t)n + 1, sizeof(char *)))) {
		free(r);
		if (cb)
			cb(arg, NULL, CT_EUNAVAIL, "database queue is full",
			   tag);
		return;
	}
	r->sql = sql;
	r->cb = cb;
	r->arg = arg;
	r->owner = owner;
	if (tag && !(r->tag = strdup(tag))) {
		req_free(r);
		if (cb)
			cb(arg, NULL, CT_ENOMEM, "out of memory", tag);
		return;
	}
	for (int i = 0; i < n; i++) {
		r->params[i] = params[i] ? strdup(params[i]) : NULL;
		r->n = i + 1;
	}
	if (bg) {
		if (q.btail)
			q.btail->next = r;
		else
			q.bhead = r;
		q.btail = r;
	} else {
		if (q.tail)
			q.tail->next = r;
		else
			q.head = r;
		q.tail = r;
	}
	q.queued++;
	send_next();
}

void
pgq_query(const char *sql, int n, const char *const *params, pgq_cb cb,
	  void *arg, void *owner, const char *tag)
{
	enqueue(sql, n, params, cb, arg, owner, tag, 0);
}

void
pgq_query_bg(const char *sql, int n, const char *const *params, pgq_cb cb,
	     void *arg, void *owner, const char *tag)
{
	enqueue(sql, n, params, cb, arg, owner, tag, 1);
}

void
pgq_forget(void *owner)
{
	if (!owner)
		return;
	for (struct req *r = q.head; r; r = r->next)
		if (r->owner == owner)
			r->dead = 1;
	for (struct req *r = q.bhead; r; r = r->next)
		if (r->owner == owner)
			r->dead = 1;
	if (q.inflight && q.inflight->owner == owner)
		q.inflight->dead = 1;
}

static void
drain_results(void)
{
	PGresult *res;

	while (q.inflight && !PQisBusy(q.conn)) {
		res = PQgetResult(q.conn);
		if (res) {
			ExecStatusType st = PQresultStatus(res);

			if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
				if (!q.res && q.err == CT_OK) {
					q.res = res; /* kept until the end */
					continue;
				}
			} else if (q.err == CT_OK) {
				q.err = ct_db_error(q.conn, res, q.msg,
						    sizeof(q.msg));
			}
			PQclear(res);
			continue;
		}
		/* NULL: the statement, and its implicit commit, are done.
		 * An error after the rows (a failed commit) wins. */
		{
			struct req *r = q.inflight;
			PGresult *keep = q.res;
			int rc = q.err;

			q.inflight = NULL;
			q.res = NULL;
			if (rc == CT_OK && !keep)
				rc = CT_EINTERNAL;
			finish(r, keep, rc, q.msg);
			PQclear(keep);
		}
		send_next();
	}
}

static void
lost(void)
{
	if (q.inflight) {
		struct req *r = q.inflight;

		q.inflight = NULL;
		PQclear(q.res);
		q.res = NULL;
		finish(r, NULL, CT_EUNAVAIL, "database connection lost");
	}
	PQfinish(q.conn);
	q.conn = NULL;
	wsd->query_up = 0;
	if (wsd->stopping)
		return;
	ct_warn("msg=\"query connection lost\" retry_ms=%d", q.backoff_ms);
	lws_sul_schedule(wsd->context, 0, &q.sul, pgq_connect,
			 (lws_usec_t)q.backoff_ms * 1000);
	q.backoff_ms = q.backoff_ms * 2 > 5000 ? 5000 : q.backoff_ms * 2;
}

/* Blocking connect: over a unix socket or to a down server it fails at
 * once; against an unreachable host it may take connect_timeout. */
static void
pgq_connect(lws_sorted_usec_list_t *sul)
{
	lws_sock_file_fd_type u;
	char err[256];

	(void)sul;
	if (wsd->stopping)
		return;
	q.conn = ct_db_connect(wsd->cfg, "crosstalk-wsd", err, sizeof(err));
	if (!q.conn) {
		ct_warn("msg=\"database connect failed\" conn=query err=\"%s\"",
			err);
		lost();
		return;
	}
	PQsetnonblocking(q.conn, 1);
	u.filefd = dup(PQsocket(q.conn));
	if (u.filefd < 0 || !(q.wsi = lws_adopt_descriptor_vhost(
				      wsd->vhost, LWS_ADOPT_RAW_FILE_DESC, u,
				      "ct-pgq", NULL))) {
		if (u.filefd >= 0)
			close(u.filefd);
		lost();
		return;
	}
	q.backoff_ms = 250;
	wsd->query_up = 1;
	ct_info("msg=\"query connection up\"");
	send_next();
	fanout_catchup_all();
}

int
pgq_start(void)
{
	q.backoff_ms = 250;
	pgq_connect(NULL);
	return wsd->query_up ? CT_OK : CT_EUNAVAIL;
}

void
pgq_stop(void)
{
	struct req *r;

	lws_sul_cancel(&q.sul);
	while ((r = q.head)) {
		q.head = r->next;
		req_free(r);
	}
	while ((r = q.bhead)) {
		q.bhead = r->next;
		req_free(r);
	}
	q.tail = q.btail = NULL;
	q.queued = 0;
	req_free(q.inflight);
	q.inflight = NULL;
	PQclear(q.res);
	q.res = NULL;
	PQfinish(q.conn);
	q.conn = NULL;
}

int
pgq_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	     void *in, size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!q.conn || !PQconsumeInput(q.conn))
			return -1; /* RAW_CLOSE_FILE cleans up */
		drain_results();
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (!q.conn)
			return -1;
		if (PQstatus(q.conn) != CONNECTION_OK)
			return -1;
		if (PQflush(q.conn) == 1)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (wsi == q.wsi) {
			q.wsi = NULL;
			if (q.conn)
				lost();
		}
		break;
	default:
		break;
	}
	return 0;
}

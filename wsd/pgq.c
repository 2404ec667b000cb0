/* pgq.c - the daemon's query connection: async libpq, adopted into the lws
 * loop, one statement at a time from a FIFO.
 *
 * Why async libpq and not a worker pool: lws is single-threaded, and every
 * answer (an ack, a batch of events) must end up in that thread anyway. An
 * adopted socket hands results to the loop with no locks, no wakeups and
 * no copies. A few connections (PGQ_CONNS) take requests from one FIFO,
 * one statement in flight each: a thousand clients logging in at once are
 * not served one round trip at a time. Callers that need order keep one
 * request of theirs in flight at a time (a channel's fetch, a
 * subscription's replay), and fanout.c never assumes that a fetch and a
 * replay come back in the order they were sent;
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
#include "core/metrics.h"
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

#define PGQ_CONNS 3

/* One query connection. */
struct pgc {
	lws_sorted_usec_list_t sul; /* first: reconnect timer */
	PGconn *conn;               /* owned */
	struct lws *wsi;
	struct req *inflight;
	PGresult *res; /* first result of the statement in flight */
	int err;       /* first error of it */
	char msg[256];
	int backoff_ms;
	struct pgconnect pc; /* a (re)connect in progress */
};

static struct {
	struct pgc c[PGQ_CONNS];
	struct req *head, *tail;   /* waiting to be sent */
	struct req *bhead, *btail; /* background: sent when head is empty */
	unsigned queued;
} q;

static void pgq_connect(lws_sorted_usec_list_t *sul);
static void pgq_connected(void *arg, PGconn *conn, const char *err);
static void send_next(void);

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

/* Give connection c the next request, if it is idle and one waits. */
static void
send_on(struct pgc *c)
{
	struct req *r;

again:
	if (c->inflight || (!q.head && !q.bhead) || !c->conn || !c->wsi)
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
		goto again;
	}
	c->inflight = r;
	c->res = NULL;
	c->err = CT_OK;
	c->msg[0] = 0;
	if (!PQsendQueryParams(c->conn, r->sql, r->n, NULL,
			       (const char *const *)r->params, NULL, NULL, 0)) {
		/* the connection is broken: RX will see it and close */
		ct_warn("msg=\"query send failed\" err=\"%s\"",
			PQerrorMessage(c->conn));
		lws_callback_on_writable(c->wsi);
		return;
	}
	if (PQflush(c->conn) == 1)
		lws_callback_on_writable(c->wsi);
}

static void
send_next(void)
{
	for (int i = 0; i < PGQ_CONNS && (q.head || q.bhead); i++)
		send_on(&q.c[i]);
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
	for (int i = 0; i < PGQ_CONNS; i++)
		if (q.c[i].inflight && q.c[i].inflight->owner == owner)
			q.c[i].inflight->dead = 1;
}

static void
drain_results(struct pgc *c)
{
	PGresult *res;

	while (c->inflight && !PQisBusy(c->conn)) {
		res = PQgetResult(c->conn);
		if (res) {
			ExecStatusType st = PQresultStatus(res);

			if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
				if (!c->res && c->err == CT_OK) {
					c->res = res; /* kept until the end */
					continue;
				}
			} else if (c->err == CT_OK) {
				c->err = ct_db_error(c->conn, res, c->msg,
						     sizeof(c->msg));
			}
			PQclear(res);
			continue;
		}
		/* NULL: the statement, and its implicit commit, are done.
		 * An error after the rows (a failed commit) wins. */
		{
			struct req *r = c->inflight;
			PGresult *keep = c->res;
			int rc = c->err;

			c->inflight = NULL;
			c->res = NULL;
			if (rc == CT_OK && !keep)
				rc = CT_EINTERNAL;
			finish(r, keep, rc, c->msg);
			PQclear(keep);
		}
		send_on(c);
	}
}

static void
lost(struct pgc *c)
{
	int up = 0;

	if (c->inflight) {
		struct req *r = c->inflight;

		c->inflight = NULL;
		PQclear(c->res);
		c->res = NULL;
		finish(r, NULL, CT_EUNAVAIL, "database connection lost");
	}
	PQfinish(c->conn);
	c->conn = NULL;
	for (int i = 0; i < PGQ_CONNS; i++)
		up += q.c[i].conn != NULL;
	wsd->query_up = up > 0;
	if (wsd->stopping)
		return;
	ct_warn("msg=\"query connection lost\" retry_ms=%d", c->backoff_ms);
	lws_sul_schedule(wsd->context, 0, &c->sul, pgq_connect,
			 (lws_usec_t)c->backoff_ms * 1000);
	c->backoff_ms = c->backoff_ms * 2 > 5000 ? 5000 : c->backoff_ms * 2;
}

/* (Re)connect in the background (pgconnect.c): the loop never waits on
 * an unreachable server. */
static void
pgq_connect(lws_sorted_usec_list_t *sul)
{
	struct pgc *c = (struct pgc *)sul; /* sul is the first member */

	if (wsd->stopping)
		return;
	pgconnect_start(&c->pc, "crosstalk-wsd", pgq_connected, c);
}

static void
pgq_connected(void *arg, PGconn *conn, const char *err)
{
	struct pgc *c = arg;
	lws_sock_file_fd_type u;
	int was_up = wsd->query_up;

	if (!conn) {
		ct_warn("msg=\"database connect failed\" conn=query err=\"%s\"",
			err);
		lost(c);
		return;
	}
	c->conn = conn;
	PQsetnonblocking(c->conn, 1);
	u.filefd = dup(PQsocket(c->conn));
	if (u.filefd < 0 || !(c->wsi = lws_adopt_descriptor_vhost(
				      wsd->vhost, LWS_ADOPT_RAW_FILE_DESC, u,
				      "ct-pgq", NULL))) {
		if (u.filefd >= 0)
			close(u.filefd);
		lost(c);
		return;
	}
	lws_set_opaque_user_data(c->wsi, c);
	c->backoff_ms = 250;
	wsd->query_up = 1;
	ct_metric_add(&m_db_reconnects, 1);
	if (!was_up)
		ct_info("msg=\"query connection up\"");
	send_on(c);
	if (!was_up)
		fanout_catchup_all();
}

int
pgq_start(void)
{
	/* the connections come up in the loop; requests queue meanwhile */
	for (int i = 0; i < PGQ_CONNS; i++) {
		q.c[i].backoff_ms = 250;
		pgq_connect(&q.c[i].sul);
	}
	return CT_OK;
}

void
pgq_stop(void)
{
	struct req *r;

	for (int i = 0; i < PGQ_CONNS; i++) {
		struct pgc *c = &q.c[i];

		lws_sul_cancel(&c->sul);
		pgconnect_cancel(&c->pc);
		req_free(c->inflight);
		c->inflight = NULL;
		PQclear(c->res);
		c->res = NULL;
		PQfinish(c->conn);
		c->conn = NULL;
	}
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
}

/* Once a second: push out any statement still partly unsent. A safety
 * net: WRITEABLE normally does it, but a connection must never sit with
 * a half-sent statement because one wakeup was missed. */
void
pgq_tick(void)
{
	for (int i = 0; i < PGQ_CONNS; i++) {
		struct pgc *c = &q.c[i];

		if (c->conn && c->wsi && c->inflight &&
		    PQstatus(c->conn) == CONNECTION_OK && PQflush(c->conn) == 1)
			lws_callback_on_writable(c->wsi);
	}
}

int
pgq_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	     void *in, size_t len)
{
	struct pgc *c = lws_get_opaque_user_data(wsi);

	if (!c)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!c->conn || !PQconsumeInput(c->conn))
			return -1; /* RAW_CLOSE_FILE cleans up */
		/* libpq: with output pending, read-ready is also the time to
		 * flush again (the server may wait on us to read) */
		if (PQisnonblocking(c->conn) && PQflush(c->conn) == 1)
			lws_callback_on_writable(wsi);
		drain_results(c);
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (!c->conn || PQstatus(c->conn) != CONNECTION_OK)
			return -1;
		if (PQflush(c->conn) == 1)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (wsi == c->wsi) {
			c->wsi = NULL;
			if (c->conn)
				lost(c);
		}
		break;
	default:
		break;
	}
	return 0;
}

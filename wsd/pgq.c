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

#include <jansson.h>

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
	int alone;     /* never grouped (a group that failed is re-sent so) */
	void *arg;
	void *owner;
	char *tag; /* owned, may be NULL */
	/* a group (pgq_batch): the requests it carries, owned */
	const struct pgq_batch *batch;
	struct req **members;
	int nmembers;
};

#define PGQ_BATCHES 4
static const struct pgq_batch *batches[PGQ_BATCHES];

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
	for (int i = 0; i < r->nmembers; i++)
		req_free(r->members[i]);
	free(r->members);
	for (int i = 0; i < r->n; i++)
		free(r->params[i]);
	free(r->params);
	free(r->tag);
	free(r);
}

/* Row `row` of a group's answer, columns from..from+ncols-1, as the
 * one-row result the single statement would have given (caller clears). */
static PGresult *
one_row(PGconn *conn, const PGresult *res, int row, int from,
	const struct pgq_batch *b)
{
	PGresAttDesc at[PGQ_BATCH_COLS];
	PGresult *r1 = PQmakeEmptyPGresult(conn, PGRES_TUPLES_OK);

	if (!r1)
		return NULL;
	memset(at, 0, sizeof(at));
	for (int j = 0; j < b->ncols; j++) {
		at[j].name = (char *)b->cols[j];
		at[j].typid = PQftype(res, from + j);
		at[j].typlen = -1;
		at[j].atttypmod = -1;
	}
	if (!PQsetResultAttrs(r1, b->ncols, at))
		goto fail;
	for (int j = 0; j < b->ncols; j++) {
		int null = PQgetisnull(res, row, from + j);

		if (!PQsetvalue(r1, 0, j,
				null ? NULL : PQgetvalue(res, row, from + j),
				null ? -1 : PQgetlength(res, row, from + j)))
			goto fail;
	}
	return r1;
fail:
	PQclear(r1);
	return NULL;
}

static void finish(struct req *r, PGresult *res, int rc, const char *msg);

/* A group answered: each member gets its own row, or its own error. */
static void
finish_group(struct req *g, PGconn *conn, PGresult *res)
{
	const struct pgq_batch *b = g->batch;
	int rows = PQntuples(res);
	char msg[256];

	for (int r = 0; r < rows; r++) {
		long i = strtol(PQgetvalue(res, r, 0), NULL, 10);
		struct req *m;
		PGresult *r1;

		if (i < 0 || i >= g->nmembers || !(m = g->members[i]))
			continue;
		g->members[i] = NULL;
		if (!PQgetisnull(res, r, 1 + b->ncols)) {
			int rc = ct_db_state_error(
				PQgetvalue(res, r, 1 + b->ncols),
				PQgetvalue(res, r, 2 + b->ncols), msg,
				sizeof(msg));

			finish(m, NULL, rc, msg);
			continue;
		}
		r1 = one_row(conn, res, r, 1, b);
		finish(m, r1, r1 ? CT_OK : CT_ENOMEM,
		       r1 ? "" : "out of memory");
		PQclear(r1);
	}
	for (int i = 0; i < g->nmembers; i++) /* no row: should not be */
		if (g->members[i]) {
			finish(g->members[i], NULL, CT_EINTERNAL,
			       "no answer in the group");
			g->members[i] = NULL;
		}
	req_free(g);
}

static void
finish(struct req *r, PGresult *res, int rc, const char *msg)
{
	if (r->members) { /* failed as a whole: each member is told */
		for (int i = 0; i < r->nmembers; i++) {
			if (r->members[i])
				finish(r->members[i], NULL, rc, msg);
			r->members[i] = NULL;
		}
		req_free(r);
		return;
	}
	if (r->cb && !r->dead)
		r->cb(r->arg, rc == CT_OK ? res : NULL, rc, msg, r->tag);
	req_free(r);
}

void
pgq_batch_register(const struct pgq_batch *b)
{
	for (int i = 0; i < PGQ_BATCHES; i++)
		if (!batches[i] || batches[i] == b) {
			batches[i] = b;
			return;
		}
}

/* Put requests back at the head of the queue, in their order. */
static void
requeue_front(struct req **m, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		if (!m[i])
			continue;
		m[i]->next = q.head;
		q.head = m[i];
		if (!q.tail)
			q.tail = m[i];
		q.queued++;
	}
}

/* r was just taken from the head of the queue. When it is a batchable
 * statement and more of the same wait, take them too (oldest first) and
 * return one group request carrying them; else r. */
static struct req *
group(struct req *r)
{
	const struct pgq_batch *b = NULL;
	struct req *g = NULL, **m = NULL, *prev = NULL, *x;
	json_t *arr = NULL;
	int n = 1, k = 1;

	for (int i = 0; i < PGQ_BATCHES && batches[i]; i++)
		if (batches[i]->single == r->sql)
			b = batches[i];
	if (!b || r->alone)
		return r;
	for (x = q.head; x && n < b->max; x = x->next)
		n += x->sql == r->sql && !x->dead && !x->alone;
	if (n == 1)
		return r;
	if (!(m = calloc((size_t)n, sizeof(*m))) || /* owned by g */
	    !(g = calloc(1, sizeof(*g))) ||
	    !(g->params = calloc(1, sizeof(char *))) || !(arr = json_array()))
		goto alone;
	m[0] = r;
	for (x = q.head; x && k < n;) {
		struct req *next = x->next;

		if (x->sql == r->sql && !x->dead && !x->alone) {
			if (prev)
				prev->next = next;
			else
				q.head = next;
			if (q.tail == x)
				q.tail = prev;
			q.queued--;
			x->next = NULL;
			m[k++] = x;
		} else {
			prev = x;
		}
		x = next;
	}
	for (int i = 0; i < k; i++) {
		json_t *o = json_object();

		if (!o || json_array_append_new(arr, o) != 0)
			goto back;
		for (int j = 0; j < b->nparams && j < m[i]->n; j++)
			if (json_object_set_new(
				    o, b->keys[j],
				    m[i]->params[j]
					    ? json_string(m[i]->params[j])
					    : json_null()) != 0)
				goto back;
	}
	if (!(g->params[0] = json_dumps(arr, JSON_COMPACT)))
		goto back;
	json_decref(arr);
	g->n = 1;
	g->sql = b->batch;
	g->batch = b;
	g->members = m;
	g->nmembers = k;
	ct_metric_add(&m_write_groups, 1);
	return g;
back: /* the others go back where they were; r goes alone */
	requeue_front(m + 1, k - 1);
alone:
	json_decref(arr);
	if (g)
		free(g->params);
	free(g);
	free(m);
	r->alone = 1;
	return r;
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
	r = group(r);
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
	for (int i = 0; i < PGQ_CONNS; i++) {
		struct req *r = q.c[i].inflight;

		if (r && r->owner == owner)
			r->dead = 1;
		for (int j = 0; r && j < r->nmembers; j++)
			if (r->members[j] && r->members[j]->owner == owner)
				r->members[j]->dead = 1;
	}
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
			if (r->members && rc == CT_OK) {
				finish_group(r, c->conn, keep);
			} else if (r->members &&
				   PQstatus(c->conn) == CONNECTION_OK) {
				/* rolled back as a whole (a deadlock with
				 * another node's group, say): each alone */
				ct_warn("msg=\"write group failed; sending one "
					"by one\" writes=%d err=\"%s\"",
					r->nmembers, c->msg);
				for (int i = 0; i < r->nmembers; i++)
					r->members[i]->alone = 1;
				requeue_front(r->members, r->nmembers);
				r->nmembers = 0;
				req_free(r);
			} else {
				finish(r, keep, rc, c->msg);
			}
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

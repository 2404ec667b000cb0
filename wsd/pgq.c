/* pgq.c - the daemon's query connections: async libpq, adopted into the
 * lws loop, one statement in flight per connection.
 *
 * Why async libpq and not a worker pool: lws is single-threaded, and every
 * answer (an ack, a batch of events) must end up in that thread anyway. An
 * adopted socket hands results to the loop with no locks, no wakeups and
 * no copies. [wsd] db_connections connections take requests from three
 * lanes (pgq.h): LIVE first, then USER, with BG guaranteed a share. Within
 * USER each client connection has its own flow and flows take turns, so a
 * client that asks a thousand things delays another by one request, not a
 * thousand. Callers that need order keep one request of theirs in flight at
 * a time (a channel's fetch, a subscription's replay, a connection's
 * writes), and fanout.c never assumes that a fetch and a replay come back in
 * the order they were sent.
 *
 * What bounds it: waiting requests are counted in bytes ([wsd]
 * query_queue_bytes; USER may fill three quarters, so clients can never
 * crowd out deliveries and housekeeping); past the bound a request fails
 * with "unavailable". Every failure reaches its callback on a later loop
 * turn (fail_sul), never from inside pgq_submit: a caller that retries from
 * its callback schedules, it does not recurse. Writes take a channel's row
 * lock: at most one per channel and db_connections - 1 in all are in
 * flight, so a channel held by someone else's long transaction occupies
 * one connection until lock_timeout, and reads always have one. A publish
 * (a write that may go in a group) goes out beside one in flight only once
 * that one has run CT_GROUP_STAGGER_MS, after it only CT_GROUP_GAP_MS after
 * it went out, so that publishes group while the node is busy; into a
 * quiet node it goes at once. Other writes
 * go whenever a writer is free. A statement that has not
 * answered by its deadline (statement_timeout plus a grace, for a server
 * that stopped answering at all) costs its connection, which is made anew.
 * A connection with nothing to send prepares the statements it has not
 * yet (pgprep.c), and sends those by name from then on.
 * The LISTEN connection is separate (pglisten.c). */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "wsd/pgprep.h"
#include "wsd/pgq.h"
#include "wsd/wsd.h"

#define PGQ_CONNS_MAX 16
#define PGQ_BATCHES   4
/* A write goes beside another after CT_GROUP_STAGGER_MS (core/db.h), or
 * at once when this many wait already: enough to fill a group, so waiting
 * longer would not make the next one any larger */
#define WRITE_BACKLOG 64
/* seconds a statement may take past statement_timeout before its
 * connection is given up (0 = no statement_timeout: this alone) */
#define DEADLINE_GRACE_MS 5000
#define DEADLINE_NONE_MS  120000

struct pgq_req {
	struct pgq_req *next; /* in a flow, or in the failed list */
	const char *sql;      /* static text */
	int n;
	char **params; /* owned, n strings (NULL stays NULL) */
	size_t bytes;  /* counted against the queue's bound while waiting */
	enum pgq_lane lane;
	struct pgq_flow *flow; /* borrowed; its owner outlives the request */
	void *owner;
	pgq_done_fn done;
	void (*free_ctx)(void *ctx);
	char *wchan;        /* owned: the channel a write locks, else NULL */
	unsigned write : 1; /* pgq_set_write: ordered in its flow */
	unsigned dead : 1;
	unsigned alone : 1; /* never grouped */
	int rc;             /* a failure decided before sending */
	const char *why;    /* static */
	/* a group (pgq_batch): the requests it carries, owned */
	const struct pgq_batch *batch;
	struct pgq_req **members;
	int nmembers;
	alignas(max_align_t) unsigned char ctx[];
};

/* One query connection. */
struct pgc {
	lws_sorted_usec_list_t sul; /* first: reconnect timer */
	PGconn *conn;               /* owned */
	struct lws *wsi;
	struct pgq_req *inflight;
	int64_t sent_ms;
	int64_t idle_ms; /* idle since (a probe goes out after keepalive) */
	int probing;     /* inflight is our probe */
	int preparing;   /* inflight prepares this statement (pgprep), or -1 */
	struct pgprep prep;
	PGresult *res; /* first result of the statement in flight */
	int err;       /* first error of it */
	char state[6]; /* its SQLSTATE */
	char msg[256];
	int backoff_ms;
	struct pgconnect pc; /* a (re)connect in progress */
};

struct lane {
	lws_dll2_owner_t flows; /* flows with waiting requests, in turn */
	struct pgq_flow anon;   /* requests submitted without a flow */
};

static struct {
	struct pgc c[PGQ_CONNS_MAX];
	int nconns;
	struct lane lanes[PGQ_LANES];
	size_t bytes, user_bytes; /* waiting, in all and in USER */
	unsigned since_bg;        /* sends since BG last had its turn */
	int writers;              /* connections running a write */
	int write_open;           /* a publish may go now (write_gate) */
	int64_t write_us;         /* when the newest write went out */
	int waiting_writes;       /* writes queued in flows */
	lws_sorted_usec_list_t stagger_sul;   /* write_gate again */
	struct pgq_req *failed, *failed_tail; /* answered on the next turn */
	struct pgq_req *failing;   /* the failures being answered now */
	struct pgq_req *finishing; /* the group being answered now */
	lws_sorted_usec_list_t fail_sul;
	const struct pgq_batch *batches[PGQ_BATCHES];
	void (*up)(void); /* the database is back */
} q;

static void pgq_connect(lws_sorted_usec_list_t *sul);
static void probe(struct pgc *c, const char *sql);
static void prepare_idle(struct pgc *c);
static const char q_probe[] = "SELECT 1";
static const char q_warm_up[] = CT_WARM_UP_SQL;
static const char q_prepare[] = "PREPARE"; /* marks a pgprep_next, never sent */
static void pgq_connected(void *arg, PGconn *conn, const char *err);
static void send_next(void);

/* --- requests ---------------------------------------------------------- */

struct pgq_req *
pgq_new(const char *sql, int n, const char *const *params, size_t ctx_size)
{
	struct pgq_req *r = calloc(1, sizeof(*r) + ctx_size); /* see pgq.h */

	if (!r || !(r->params = calloc((size_t)n + 1, sizeof(char *))))
		goto fail;
	r->sql = sql;
	r->bytes = sizeof(*r) + ctx_size + strlen(sql) / 8;
	for (int i = 0; i < n; i++) {
		r->n = i + 1;
		if (params[i] && !(r->params[i] = strdup(params[i])))
			goto fail;
		r->bytes += params[i] ? strlen(params[i]) + 1 : 0;
	}
	r->n = n;
	return r;
fail:
	if (r) {
		for (int i = 0; i < r->n; i++)
			free(r->params[i]);
		free(r->params);
	}
	free(r);
	return NULL;
}

void *
pgq_ctx(struct pgq_req *r)
{
	return r->ctx;
}

void
pgq_set_write(struct pgq_req *r, const char *channel)
{
	free(r->wchan);
	r->write = 1;
	/* NULL (unknown, or OOM): no channel of its own to wait for */
	r->wchan = channel ? strdup(channel) : NULL;
}

static void
req_free(struct pgq_req *r)
{
	struct pgq_flow *f;

	if (!r)
		return;
	if ((f = r->flow)) {
		r->flow = NULL;
		f->pending--;
		if (f->idle)
			f->idle(f);
	}
	for (int i = 0; i < r->nmembers; i++)
		req_free(r->members[i]);
	free(r->members);
	if (r->free_ctx)
		r->free_ctx(r->ctx);
	for (int i = 0; i < r->n; i++)
		free(r->params[i]);
	free(r->params);
	free(r->wchan);
	free(r);
}

void
pgq_discard(struct pgq_req *r, void (*free_ctx)(void *ctx))
{
	if (!r)
		return;
	r->free_ctx = free_ctx;
	req_free(r);
}

/* Run r's callback (unless its owner is gone) and free it. */
static void
finish(struct pgq_req *r, PGresult *res, int rc, const char *msg)
{
	if (r->members) { /* a group that failed as a whole */
		struct pgq_req *outer = q.finishing;

		q.finishing = r;
		for (int i = 0; i < r->nmembers; i++) {
			struct pgq_req *m = r->members[i];

			r->members[i] = NULL;
			if (m)
				finish(m, NULL, rc, msg);
		}
		q.finishing = outer;
	} else if (r->done && !r->dead) {
		r->done(r->owner, r->ctx, rc == CT_OK ? res : NULL, rc, msg);
	}
	req_free(r);
}

/* The failures decided before this turn; what their callbacks decide now
 * waits for the next turn, so a retry loop is paced by the loop. */
static void
fail_due(lws_sorted_usec_list_t *sul)
{
	struct pgq_req *r;

	(void)sul;
	q.failing = q.failed; /* pgq_forget sees them while we answer */
	q.failed = q.failed_tail = NULL;
	while ((r = q.failing)) {
		q.failing = r->next;
		r->next = NULL;
		finish(r, NULL, r->rc, r->why);
	}
}

/* Fail r on the next loop turn. */
static void
fail_later(struct pgq_req *r, int rc, const char *why)
{
	r->rc = rc;
	r->why = why;
	r->next = NULL;
	if (q.failed_tail)
		q.failed_tail->next = r;
	else
		q.failed = r;
	q.failed_tail = r;
	if (!q.fail_sul.list.owner && !wsd->stopped)
		lws_sul_schedule(wsd->context, 0, &q.fail_sul, fail_due, 1);
}

/* --- flows and lanes ----------------------------------------------------- */

static void
flow_push(struct lane *l, struct pgq_flow *f, struct pgq_req *r, int front)
{
	if (front) {
		r->next = f->head;
		f->head = r;
		if (!f->tail)
			f->tail = r;
	} else {
		r->next = NULL;
		if (f->tail)
			f->tail->next = r;
		else
			f->head = r;
		f->tail = r;
	}
	if (!f->in_lane.owner) {
		if (front)
			lws_dll2_add_head(&f->in_lane, &l->flows);
		else
			lws_dll2_add_tail(&f->in_lane, &l->flows);
	}
	q.bytes += r->bytes;
	if (r->lane == PGQ_USER)
		q.user_bytes += r->bytes;
	q.waiting_writes += r->write;
}

/* Take r (the head of f, or the one after prev) out of f. */
static void
flow_take(struct pgq_flow *f, struct pgq_req *prev, struct pgq_req *r)
{
	if (prev)
		prev->next = r->next;
	else
		f->head = r->next;
	if (f->tail == r)
		f->tail = prev;
	r->next = NULL;
	if (!f->head)
		lws_dll2_remove(&f->in_lane);
	q.bytes -= r->bytes;
	if (r->lane == PGQ_USER)
		q.user_bytes -= r->bytes;
	q.waiting_writes -= r->write;
}

static int
chan_writing(const char *channel)
{
	for (int i = 0; i < q.nconns; i++) {
		struct pgq_req *r = q.c[i].inflight;

		if (r && r->wchan && strcmp(r->wchan, channel) == 0)
			return 1;
		for (int j = 0; r && j < r->nmembers; j++)
			if (r->members[j] && r->members[j]->wchan &&
			    strcmp(r->members[j]->wchan, channel) == 0)
				return 1;
	}
	return 0;
}

static int
writers_max(void)
{
	return q.nconns > 1 ? q.nconns - 1 : 1;
}

/* The group statement of statement sql, if any (pgq_batch_register). */
static const struct pgq_batch *
batch_of(const char *sql)
{
	for (int i = 0; i < PGQ_BATCHES && q.batches[i]; i++)
		if (q.batches[i]->single == sql)
			return q.batches[i];
	return NULL;
}

/* May r go in a group (and so wait for the group commit's stagger)? */
static int
groupable(const struct pgq_req *r)
{
	return !r->alone && batch_of(r->sql) != NULL;
}

/* May r be sent now? Reads always; a write when its channel has no write
 * in flight and its flow none either, and then a publish when write_gate
 * says so, another write when a writer is free. */
static int
ready(const struct pgq_req *r)
{
	if (r->dead || !r->write)
		return 1;
	if ((r->wchan && chan_writing(r->wchan)) ||
	    (r->flow && r->flow->writing))
		return 0;
	/* one that cannot join a group gains nothing by waiting for one */
	return groupable(r) ? q.write_open : q.writers < writers_max();
}

/* r (a request or a group) goes out (on 1) or is done (on 0): its writes'
 * flows are writing meanwhile. */
static void
mark_writing(struct pgq_req *r, unsigned on)
{
	if (r->write && r->flow)
		r->flow->writing = on;
	for (int i = 0; i < r->nmembers; i++)
		if (r->members[i])
			mark_writing(r->members[i], on);
}

/* The next request of lane l that may go, taken out of its flow; flows
 * take turns (the one served moves to the back). */
static struct pgq_req *
lane_take(struct lane *l)
{
	dll_foreach(d, d1, l->flows.head)
	{
		struct pgq_flow *f =
			lws_container_of(d, struct pgq_flow, in_lane);
		struct pgq_req *r = f->head;

		if (r && ready(r)) {
			flow_take(f, NULL, r);
			if (f->head) { /* to the back of the line */
				lws_dll2_remove(&f->in_lane);
				lws_dll2_add_tail(&f->in_lane, &l->flows);
			}
			return r;
		}
	}
	return NULL;
}

static struct pgq_req *
take_next(void)
{
	struct pgq_req *r = NULL;

	if (q.since_bg + 1 >= PGQ_BG_EVERY &&
	    (r = lane_take(&q.lanes[PGQ_BG]))) {
		q.since_bg = 0;
		return r;
	}
	if ((r = lane_take(&q.lanes[PGQ_LIVE])) ||
	    (r = lane_take(&q.lanes[PGQ_USER]))) {
		q.since_bg++;
		return r;
	}
	if ((r = lane_take(&q.lanes[PGQ_BG])))
		q.since_bg = 0;
	return r;
}

void
pgq_submit(struct pgq_req *r, enum pgq_lane lane, struct pgq_flow *flow,
	   void *owner, pgq_done_fn done, void (*free_ctx)(void *ctx))
{
	size_t max = (size_t)wsd->cfg->wsd_query_queue_bytes;
	struct lane *l = &q.lanes[lane];

	r->lane = lane;
	r->flow = lane == PGQ_USER ? flow : NULL;
	if (r->flow)
		r->flow->pending++;
	r->owner = owner;
	r->done = done;
	r->free_ctx = free_ctx;
	if (wsd->stopping) {
		fail_later(r, CT_EUNAVAIL, "shutting down");
		return;
	}
	if (q.bytes + r->bytes > max ||
	    (lane == PGQ_USER && q.user_bytes + r->bytes > max / 4 * 3)) {
		ct_metric_add(&m_queue_full, 1);
		fail_later(r, CT_EUNAVAIL, "database queue is full; retry");
		return;
	}
	flow_push(l, r->flow ? r->flow : &l->anon, r, 0);
	send_next();
}

int
pgq_query(const char *sql, int n, const char *const *params, enum pgq_lane lane,
	  struct pgq_flow *flow, void *owner, pgq_done_fn done)
{
	struct pgq_req *r = pgq_new(sql, n, params, 0);

	if (!r)
		return CT_ENOMEM;
	pgq_submit(r, lane, flow, owner, done, NULL);
	return CT_OK;
}

static void
forget_in_flow(struct pgq_flow *f, void *owner)
{
	struct pgq_req *prev = NULL, *r = f->head;

	while (r) {
		struct pgq_req *next = r->next;

		if (r->owner == owner) {
			flow_take(f, prev, r);
			req_free(r);
		} else {
			prev = r;
		}
		r = next;
	}
}

void
pgq_forget(void *owner)
{
	if (!owner)
		return;
	for (int l = 0; l < PGQ_LANES; l++) {
		dll_foreach(d, d1, q.lanes[l].flows.head)
		{
			forget_in_flow(
				lws_container_of(d, struct pgq_flow, in_lane),
				owner);
		}
	}
	for (struct pgq_req *r = q.failed; r; r = r->next)
		if (r->owner == owner)
			r->dead = 1;
	for (struct pgq_req *r = q.failing; r; r = r->next)
		if (r->owner == owner)
			r->dead = 1;
	for (int i = 0; i <= q.nconns; i++) {
		struct pgq_req *r =
			i < q.nconns ? q.c[i].inflight : q.finishing;

		if (r && r->owner == owner)
			r->dead = 1;
		for (int j = 0; r && j < r->nmembers; j++)
			if (r->members[j] && r->members[j]->owner == owner)
				r->members[j]->dead = 1;
	}
}

static void
unflow(struct pgq_req *r, struct pgq_flow *f)
{
	if (!r)
		return;
	if (r->flow == f) {
		r->flow = NULL;
		f->pending--;
	}
	for (int i = 0; i < r->nmembers; i++)
		unflow(r->members[i], f);
}

void
pgq_flow_drop(struct pgq_flow *f)
{
	struct pgq_req *r;

	f->idle = NULL;
	while ((r = f->head)) {
		flow_take(f, NULL, r);
		req_free(r);
	}
	for (r = q.failed; r; r = r->next)
		unflow(r, f);
	for (r = q.failing; r; r = r->next)
		unflow(r, f);
	for (int i = 0; i < q.nconns; i++)
		unflow(q.c[i].inflight, f);
	unflow(q.finishing, f);
}

/* A write on channel failed on a held lock: the writes waiting for the
 * same channel would only wait as long again. They fail now. */
static void
fail_channel_writes(const char *channel, int rc, const char *msg)
{
	struct lane *l = &q.lanes[PGQ_USER];

	dll_foreach(d, d1, l->flows.head)
	{
		struct pgq_flow *f =
			lws_container_of(d, struct pgq_flow, in_lane);
		struct pgq_req *prev = NULL, *r = f->head;

		while (r) {
			struct pgq_req *next = r->next;

			if (r->wchan && strcmp(r->wchan, channel) == 0) {
				flow_take(f, prev, r);
				fail_later(r, rc, msg);
			} else {
				prev = r;
			}
			r = next;
		}
	}
}

/* --- groups -------------------------------------------------------------- */

void
pgq_batch_register(const struct pgq_batch *b)
{
	for (int i = 0; i < PGQ_BATCHES; i++)
		if (!q.batches[i] || q.batches[i] == b) {
			q.batches[i] = b;
			return;
		}
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

/* Send m again, alone, first in its flow. */
static void
again_alone(struct pgq_req *m)
{
	struct lane *l = &q.lanes[m->lane];

	if (m->dead) {
		req_free(m);
		return;
	}
	m->alone = 1;
	flow_push(l, m->flow ? m->flow : &l->anon, m, 1);
}

/* A group answered: each member gets its own row, or its own error; one
 * whose channel was held elsewhere goes again alone. */
static void
finish_group(struct pgq_req *g, PGconn *conn, PGresult *res)
{
	const struct pgq_batch *b = g->batch;
	int rows = PQntuples(res);
	char msg[256];

	q.finishing = g; /* a member's callback may forget another's owner */
	for (int r = 0; r < rows; r++) {
		long i = strtol(PQgetvalue(res, r, 0), NULL, 10);
		struct pgq_req *m;
		PGresult *r1;

		if (i < 0 || i >= g->nmembers || !(m = g->members[i]))
			continue;
		g->members[i] = NULL;
		if (!PQgetisnull(res, r, 1 + b->ncols)) {
			const char *st = PQgetvalue(res, r, 1 + b->ncols);
			int rc;

			if (strcmp(st, "55P03") == 0) {
				m->alone = 1; /* sent again below */
				g->members[i] = m;
				continue;
			}
			rc = ct_db_state_error(st,
					       PQgetvalue(res, r, 2 + b->ncols),
					       msg, sizeof(msg));
			finish(m, NULL, rc, msg);
			continue;
		}
		r1 = one_row(conn, res, r, 1, b);
		finish(m, r1, r1 ? CT_OK : CT_ENOMEM,
		       r1 ? "" : "out of memory");
		PQclear(r1);
	}
	/* the busy ones first in their flows, each flow's in order */
	for (int i = g->nmembers - 1; i >= 0; i--)
		if (g->members[i] && g->members[i]->alone) {
			struct pgq_req *m = g->members[i];

			g->members[i] = NULL;
			again_alone(m);
		}
	for (int i = 0; i < g->nmembers; i++) /* no row: should not be */
		if (g->members[i]) {
			struct pgq_req *m = g->members[i];

			g->members[i] = NULL;
			finish(m, NULL, CT_EINTERNAL, "no answer in the group");
		}
	q.finishing = NULL;
	req_free(g);
}

/* May x join a group of b's statement being made? */
static int
joins(const struct pgq_req *x, const struct pgq_req *r)
{
	return x && x->sql == r->sql && !x->dead && !x->alone &&
	       (!x->wchan || !chan_writing(x->wchan));
}

/* r was just taken. When it is a batchable statement and more of the same
 * wait at the heads of flows (r's own included), take them too, several
 * in a row of one flow in their order, and return one group carrying them
 * all; else r. */
static struct pgq_req *
group(struct pgq_req *r)
{
	const struct pgq_batch *b = batch_of(r->sql);
	struct lane *l = &q.lanes[r->lane];
	struct pgq_req *g = NULL, **m = NULL;
	json_t *arr = NULL;
	int k = 1;

	if (!b || r->alone || r->dead)
		return r;
	if (!(m = calloc((size_t)b->max, sizeof(*m)))) /* owned by g */
		return r;
	m[0] = r;
	if (r->flow)
		while (k < b->max && joins(r->flow->head, r)) {
			struct pgq_req *x = r->flow->head;

			flow_take(r->flow, NULL, x);
			m[k++] = x;
		}
	dll_foreach(d, d1, l->flows.head)
	{
		struct pgq_flow *f =
			lws_container_of(d, struct pgq_flow, in_lane);

		if (f == r->flow || f->writing)
			continue;
		while (k < b->max && joins(f->head, r)) {
			struct pgq_req *x = f->head;

			flow_take(f, NULL, x);
			m[k++] = x;
		}
	}
	if (k == 1) {
		free(m);
		return r;
	}
	if (!(g = calloc(1, sizeof(*g))) || /* owns m */
	    !(g->params = calloc(1, sizeof(char *))) || !(arr = json_array()))
		goto back;
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
	g->lane = r->lane;
	ct_metric_add(&m_write_groups, 1);
	return g;
back: /* the others go back first in their flows (in order); r alone */
	for (int i = k - 1; i >= 1; i--)
		flow_push(l, m[i]->flow ? m[i]->flow : &l->anon, m[i], 1);
	json_decref(arr);
	if (g)
		free(g->params);
	free(g);
	free(m);
	r->alone = 1;
	return r;
}

static int
is_write(const struct pgq_req *r)
{
	if (r->write)
		return 1;
	for (int i = 0; i < r->nmembers; i++)
		if (r->members[i] && r->members[i]->write)
			return 1;
	return 0;
}

/* --- sending ---------------------------------------------------------------
 */

/* r goes out on c now: its answer starts empty. */
static void
begin(struct pgc *c, struct pgq_req *r)
{
	c->inflight = r;
	c->sent_ms = ct_mono_ms();
	c->prep.sent = 0;
	c->res = NULL;
	c->err = CT_OK;
	c->msg[0] = c->state[0] = 0;
}

/* A request of the pool's own (a probe, a prepare) goes out on c: nobody
 * waits for its answer. 0: out of memory, nothing began. */
static int
begin_own(struct pgc *c, const char *sql)
{
	struct pgq_req *r = pgq_new(sql, 0, NULL, 0);

	if (!r)
		return 0;
	r->dead = 1;
	begin(c, r);
	return 1;
}

/* Give connection c the next request, if it is idle and one may go. */
static void
send_on(struct pgc *c)
{
	struct pgq_req *r;

again:
	if (c->inflight || !c->conn || !c->wsi)
		return;
	if (!(r = take_next())) {
		prepare_idle(c);
		return;
	}
	if (r->dead) { /* owner gone before it was sent */
		req_free(r);
		goto again;
	}
	r = group(r);
	begin(c, r);
	if (is_write(r)) {
		q.writers++;
		if (r->members || groupable(r)) {
			q.write_us = ct_mono_us();
			q.write_open = 0; /* the next one waits for this */
		}
	}
	mark_writing(r, 1);
	if (!pgprep_send(&c->prep, c->conn, r->sql, r->n,
			 (const char *const *)r->params)) {
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
stagger_due(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	send_next();
}

/* May a publish go now? When a writer slot is free and either the newest
 * went out CT_GROUP_STAGGER_MS ago (CT_GROUP_GAP_MS when none is in
 * flight) or WRITE_BACKLOG writes wait; else this is asked again when that
 * time comes. A publish into a quiet node goes at once. */
static int
write_gate(void)
{
	int64_t wait;

	if (q.writers >= writers_max())
		return 0;
	if (q.waiting_writes >= WRITE_BACKLOG)
		return 1;
	wait = ct_group_wait_us(q.write_us, q.writers > 0, ct_mono_us());
	if (wait <= 0)
		return 1;
	if (!q.stagger_sul.list.owner && !wsd->stopped)
		lws_sul_schedule(wsd->context, 0, &q.stagger_sul, stagger_due,
				 wait);
	return 0;
}

static void
send_next(void)
{
	q.write_open = write_gate();
	for (int i = 0; i < q.nconns; i++)
		send_on(&q.c[i]);
}

/* The statement in flight on c is done (rc, c->state, c->msg). */
static void
done_inflight(struct pgc *c, PGresult *keep, int rc)
{
	struct pgq_req *r = c->inflight;
	char chan[300] = "";
	int stale = 0, was_stale = 0;

	c->inflight = NULL;
	c->probing = 0;
	c->idle_ms = ct_mono_ms();
	if (c->preparing >= 0) {
		pgprep_done(&c->prep, c->preparing, rc == CT_OK);
		if (rc == CT_OK)
			ct_metric_add(&m_prepared, 1);
		else
			ct_warn("msg=\"statement not prepared; sent as text "
				"on this connection\" err=\"%s\"",
				c->msg);
		c->preparing = -1;
	} else if (rc != CT_OK && pgprep_failed(&c->prep, c->state)) {
		was_stale = 1;
		stale = !r->members; /* a group goes again one by one below */
	}
	q.writers -= is_write(r);
	mark_writing(r, 0);
	if (stale && PQstatus(c->conn) == CONNECTION_OK) {
		again_alone(r); /* nothing of it ran: again, as text */
		send_next();
		return;
	}
	if (r->wchan && rc != CT_OK && strcmp(c->state, "55P03") == 0)
		snprintf(chan, sizeof(chan), "%s", r->wchan);
	if (r->members && rc == CT_OK) {
		finish_group(r, c->conn, keep);
	} else if (r->members && PQstatus(c->conn) == CONNECTION_OK) {
		/* rolled back as a whole: its prepared form stale after a
		 * migration, or (should not be: the batch takes each post in
		 * a subtransaction) another failure; each alone */
		if (was_stale)
			ct_info("msg=\"write group's prepared statement is "
				"stale (schema changed); sending its writes "
				"one by one\" writes=%d",
				r->nmembers);
		else
			ct_warn("msg=\"write group failed; sending one by "
				"one\" writes=%d err=\"%s\"",
				r->nmembers, c->msg);
		for (int i = r->nmembers - 1; i >= 0; i--)
			if (r->members[i])
				again_alone(r->members[i]);
		r->nmembers = 0;
		req_free(r);
	} else {
		finish(r, keep, rc, c->msg);
	}
	if (*chan)
		fail_channel_writes(chan, rc, c->msg);
	send_next();
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
				const char *s = PQresultErrorField(
					res, PG_DIAG_SQLSTATE);

				snprintf(c->state, sizeof(c->state), "%s",
					 s ? s : "");
				c->err = ct_db_error(c->conn, res, c->msg,
						     sizeof(c->msg));
			}
			PQclear(res);
			continue;
		}
		/* NULL: the statement, and its implicit commit, are done.
		 * An error after the rows (a failed commit) wins. */
		{
			PGresult *keep = c->res;
			int rc = c->err;

			c->res = NULL;
			if (rc == CT_OK && !keep)
				rc = CT_EINTERNAL;
			done_inflight(c, keep, rc);
			PQclear(keep);
		}
	}
}

/* --- connections -----------------------------------------------------------
 */

/* c's connection is gone (or given up): it takes nothing more, then its
 * statement in flight fails (committed or not is unknown: a publish is
 * retried by its client with its client_id). */
static void
lost(struct pgc *c)
{
	struct pgq_req *r = c->inflight;
	int up = 0;

	c->inflight = NULL;
	c->preparing = -1;
	if (c->wsi) { /* lws closes our dup of the socket */
		lws_set_opaque_user_data(c->wsi, NULL);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
				LWS_TO_KILL_ASYNC);
		c->wsi = NULL;
	}
	PQclear(c->res);
	c->res = NULL;
	PQfinish(c->conn);
	c->conn = NULL;
	for (int i = 0; i < q.nconns; i++)
		up += q.c[i].conn != NULL;
	wsd->query_up = up > 0;
	if (r) {
		q.writers -= is_write(r);
		mark_writing(r, 0);
		finish(r, NULL, CT_EUNAVAIL, "database connection lost");
		send_next(); /* what waits goes to the other connections */
	}
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
	pgconnect_start(&c->pc, "crosstalk-wsd", NULL, pgq_connected, c);
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
	memset(&c->prep, 0, sizeof(c->prep)); /* none prepared on it yet */
	c->preparing = -1;
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
	c->idle_ms = ct_mono_ms();
	wsd->query_up = 1;
	ct_metric_add(&m_db_reconnects, 1);
	if (!was_up)
		ct_info("msg=\"query connection up\"");
	probe(c, q_warm_up);
	send_next();
	if (!was_up && q.up)
		q.up();
}

int
pgq_start(void (*up)(void))
{
	q.up = up;
	q.nconns = wsd->cfg->wsd_db_connections;
	if (q.nconns < 1)
		q.nconns = 1;
	if (q.nconns > PGQ_CONNS_MAX)
		q.nconns = PGQ_CONNS_MAX;
	/* the connections come up in the loop; requests queue meanwhile */
	for (int i = 0; i < q.nconns; i++) {
		q.c[i].backoff_ms = 250;
		pgq_connect(&q.c[i].sul);
	}
	return CT_OK;
}

void
pgq_stop(void)
{
	lws_sul_cancel(&q.fail_sul);
	lws_sul_cancel(&q.stagger_sul);
	for (int i = 0; i < q.nconns; i++) {
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
	q.writers = 0;
	for (int l = 0; l < PGQ_LANES; l++)
		while (q.lanes[l].flows.head)
			pgq_flow_drop(lws_container_of(q.lanes[l].flows.head,
						       struct pgq_flow,
						       in_lane));
	while (q.failed) {
		struct pgq_req *r = q.failed;

		q.failed = r->next;
		req_free(r);
	}
	q.failed_tail = NULL;
}

size_t
pgq_queued_bytes(void)
{
	return q.bytes;
}

/* An idle connection is asked "SELECT 1" every keepalive seconds, with
 * two keepalives to answer: a server or network that stopped answering is
 * found before a client's request is sent into it. A new one is first
 * asked crosstalk.warm_up() the same way (its answer, or its failure, is
 * nobody's): no post waits while it plans the group commit. */
static void
probe(struct pgc *c, const char *sql)
{
	if (!begin_own(c, sql))
		return;
	c->probing = sql == q_probe; /* the warm-up has a statement's time */
	if (!PQsendQueryParams(c->conn, sql, 0, NULL, NULL, NULL, NULL, 0) ||
	    PQflush(c->conn) == 1)
		lws_callback_on_writable(c->wsi);
}

/* c has nothing to send: it prepares one statement it lacks (pgprep.c),
 * if any. Like a probe, the answer is nobody's. */
static void
prepare_idle(struct pgc *c)
{
	if (wsd->stopping || !pgprep_wanted(&c->prep) ||
	    !begin_own(c, q_prepare))
		return;
	c->preparing = pgprep_next(&c->prep, c->conn);
	if (c->preparing < 0 || PQflush(c->conn) == 1)
		lws_callback_on_writable(c->wsi);
}

/* Once a second: a statement past its deadline costs its connection (the
 * server, or the network to it, stopped answering); an idle connection is
 * probed; any statement still partly unsent is pushed out (WRITEABLE
 * normally does it, but a connection must never sit with a half-sent
 * statement because one wakeup was missed). */
void
pgq_tick(void)
{
	int64_t now = ct_mono_ms();
	int64_t st = (int64_t)wsd->cfg->db_statement_timeout * 1000;
	int64_t deadline = st > 0 ? st + DEADLINE_GRACE_MS : DEADLINE_NONE_MS;
	int64_t keep = (int64_t)wsd->cfg->db_keepalive * 1000;

	for (int i = 0; i < q.nconns; i++) {
		struct pgc *c = &q.c[i];

		if (!c->conn || !c->wsi)
			continue;
		if (!c->inflight) {
			if (now - c->idle_ms >= keep)
				probe(c, q_probe);
			continue;
		}
		if (now - c->sent_ms > (c->probing ? 2 * keep : deadline)) {
			ct_warn("msg=\"query past its deadline; dropping the "
				"connection\" waited_ms=%lld",
				(long long)(now - c->sent_ms));
			lost(c);
			continue;
		}
		if (c->wsi && PQstatus(c->conn) == CONNECTION_OK &&
		    PQflush(c->conn) == 1)
			lws_callback_on_writable(c->wsi);
	}
}

int
pgq_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	     void *in, size_t len)
{
	struct pgc *c = lws_get_opaque_user_data(wsi);

	(void)user;
	(void)in;
	(void)len;
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

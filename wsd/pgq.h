/* pgq.h - crosstalk-wsd's asynchronous queries (pgq.c tells why and how).
 *
 * A request is made in two steps: pgq_new() copies the statement's
 * parameters and allocates the caller's context (zeroed, ctx_size bytes,
 * owned by the request); the caller fills the context, then pgq_submit()
 * queues it. From then on the request owns everything: its callback runs
 * exactly once, always on a later turn of the loop (never inside
 * pgq_submit, so a retry is never recursion), unless the owner was
 * forgotten first; free_ctx (may be NULL) runs exactly once in every case,
 * to free what the context points to. */
#ifndef CT_WSD_PGQ_H
#define CT_WSD_PGQ_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <libwebsockets.h>

struct pgq_req;

/* Lanes, in the order a free connection serves them: LIVE (fan-out
 * fetches, replays: everyone's delivery), USER (what clients ask: served
 * round-robin between connections, so one client's backlog never makes
 * another's request wait behind all of it), BG (presence rows, heartbeats,
 * origins, health: guaranteed one send in PGQ_BG_EVERY, so a busy node
 * still heartbeats). */
enum pgq_lane { PGQ_LIVE, PGQ_USER, PGQ_BG, PGQ_LANES };
#define PGQ_BG_EVERY 4

/* One client's requests waiting in the USER lane, FIFO; embedded in its
 * connection. Zeroed is empty. pending counts its requests queued or in
 * flight; idle (may be NULL) is called each time one of them is done.
 * Its writes (pgq_set_write) commit in the order submitted: one of them,
 * or one group holding several in order, is in flight at a time, and
 * nothing behind a waiting write overtakes it. */
struct pgq_flow {
	lws_dll2_t in_lane;
	struct pgq_req *head, *tail;
	unsigned pending;
	unsigned writing : 1; /* a write of it is in flight */
	void (*idle)(struct pgq_flow *f);
};

/* The answer: res is NULL unless rc == CT_OK; the callee keeps nothing of
 * it. owner is what the request was submitted with; ctx its context. */
typedef void (*pgq_done_fn)(void *owner, void *ctx, PGresult *res, int rc,
			    const char *msg);

/* A statement whose requests may be sent in groups: when requests of
 * `single` wait together (at the heads of flows, several in a row of one
 * flow too), up to `max` of them go as one `batch` statement,
 * whose $1 is a JSON array of objects (each request's params under keys[])
 * and which answers one row per request: (i, the single statement's ncols
 * columns named cols[], err_state, err_message). Each request still gets
 * its own callback, with a one-row result or its own error; a member
 * answered 55P03 (its channel is held elsewhere: crosstalk.api_post_batch)
 * is sent again alone, first in its flow (so it may commit after a later
 * write of its flow to another channel). Used for publishes: one commit
 * for many. */
#define PGQ_BATCH_COLS 8
struct pgq_batch {
	const char *single; /* static text, compared by address */
	const char *batch;
	const char *const *keys;
	int nparams;
	const char *const *cols;
	int ncols; /* <= PGQ_BATCH_COLS */
	int max;
};

/* NULL when out of memory (nothing was queued, nothing will be called). */
struct pgq_req *pgq_new(const char *sql, int n, const char *const *params,
			size_t ctx_size);
void *pgq_ctx(struct pgq_req *r);
/* Free a request that was never submitted (its free_ctx is not known yet:
 * pass it). */
void pgq_discard(struct pgq_req *r, void (*free_ctx)(void *ctx));
/* A write, which takes channel's row lock (copied; NULL: a channel not
 * known before it runs, as an edit's): writes to one channel go one at a
 * time per node, no more than db_connections - 1 at once (staggered: pgq.c),
 * and when one fails on a held lock the others waiting for that channel fail
 * with it. A flow's writes commit in the order submitted (struct pgq_flow). */
void pgq_set_write(struct pgq_req *r, const char *channel);
/* Queue r. flow: the client's flow (USER lane), or NULL. owner: whose
 * pgq_forget() cancels it (a pss, a sub, a channel), or NULL. */
void pgq_submit(struct pgq_req *r, enum pgq_lane lane, struct pgq_flow *flow,
		void *owner, pgq_done_fn done, void (*free_ctx)(void *ctx));
/* The one-call form for requests without a context. */
int pgq_query(const char *sql, int n, const char *const *params,
	      enum pgq_lane lane, struct pgq_flow *flow, void *owner,
	      pgq_done_fn done);
/* owner is going away: its requests are dropped (waiting ones freed now,
 * sent ones when they answer); their callbacks never run. */
void pgq_forget(void *owner);
/* The flow is going away (after pgq_forget of every owner that used it):
 * its waiting requests are freed, the others forget it. */
void pgq_flow_drop(struct pgq_flow *f);
void pgq_batch_register(const struct pgq_batch *b);

/* up() runs when a connection comes up after none was (the catch-up). */
int pgq_start(void (*up)(void));
void pgq_stop(void);
void pgq_tick(void); /* once a second: deadlines, half-sent statements */
int pgq_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		 void *in, size_t len);
size_t pgq_queued_bytes(void); /* for metrics */

#endif /* CT_WSD_PGQ_H */

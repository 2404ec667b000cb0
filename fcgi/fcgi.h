/* fcgi.h - what crosstalk-fcgi's modules share: worker threads, the
 * long-poll waiters woken by NOTIFY, group commit (the database
 * connections: pool.h). */
#ifndef CT_FCGI_H
#define CT_FCGI_H

#include <pthread.h>
#include <stdint.h>

#include <libpq-fe.h>

struct ct_cfg;

/* One per thread; owned by main.c. There are [http] workers + max_waiters
 * threads but only [http] workers database connections: a long-poll
 * gives its connection back while it waits. */
struct worker {
	int index;
	const struct ct_cfg *cfg; /* borrowed, lives for the process */
	PGconn *db;               /* pool.c's: checked out, else NULL */
	int slot;                 /* pool.c's: slot of db, or -1 */
};

/* notify.c: one thread per process LISTENs on "crosstalk" with its own
 * connection and wakes the long-polls waiting on a channel. */
struct waiter {
	const char *channel; /* borrowed from the request */
	int woken;           /* set under the notify lock */
	uint64_t gen;        /* the wake-up that last woke it, 0: none */
	struct waiter *next;
};
int notify_start(const struct ct_cfg *cfg);
void notify_stop(void);
/* Register w for channel; -1 when [http] max_waiters are waiting. */
int waiter_add(struct waiter *w, const char *channel);
/* Clear w's woken flag: call before each look at the database. Returns
 * the wake-up that last woke w (0: none yet), for pollshare. */
uint64_t waiter_arm(struct waiter *w);
/* Sleep until w is woken or the monotonic deadline (ms) passes; -1 when
 * the process is stopping (answer now), else 0. */
int waiter_wait(struct waiter *w, int64_t deadline_ms);
void waiter_remove(struct waiter *w);
/* Number of requests waiting now (health). */
int waiter_count(void);
/* 1 while the listener holds a LISTENing connection. */
int notify_listening(void);

/* batch.c: one HTTP post (strings borrowed from the request) and its
 * answer. post_submit() commits it in a group commit with the posts
 * waiting beside it (using w's connection when this thread leads), or
 * alone when its channel is held by another transaction. */
struct post {
	/* user_id and name, or session (a ref the batch resolves) */
	const char *app, *user_id, *name, *session, *channel, *text;
	const char *client_id, *exclude_ref; /* may be NULL */
	const char *bot;   /* the app's bot name, instead of a user; or NULL */
	long reply_to;     /* 0: none */
	const char *files; /* attachment ids "17,18", or NULL */
	int limit, window; /* [limits] publish_* */
	/* answer: rc CT_OK (retry_after > 0: rate-limited, else event is the
	 * event's JSON, malloc'd, the caller frees) or CT_E* and msg */
	int rc;
	char msg[256];
	long retry_after;
	char *event;
	int created;
	/* batch.c's, under its lock */
	int done;               /* answered */
	int alone;              /* its channel was held elsewhere: goes alone */
	int lead;               /* its thread holds a leader's turn */
	int batch;              /* the batch in flight it is in (1..), else 0 */
	unsigned hash;          /* of channel */
	pthread_cond_t cv;      /* its thread waits here */
	struct post *next;      /* in the queue */
	struct post *in_flight; /* in its bucket of posts in flight */
};
/* h_files.c: attachments sign and check links with the database's file
 * secret (NULL or "": attachments answer 503 until a restart). */
int files_init(const char *file_secret);
void files_free(void);

/* gate.c: a user's post to a channel with a channel hook waits for the
 * hook's answer (core/chook.h). 0: post it (*text may now point to the
 * hook's new text, *rewritten, which the caller frees); -1: refused, the
 * error was replied. */
struct req;
int gate_publish(struct req *r, const char *channel, const char **text,
		 const char *client_id, char **rewritten);
void gate_free(void);

/* hooks.c: the webhook delivery thread ([hooks] deliver). */
int hooks_start(const struct ct_cfg *cfg);
void hooks_stop(void);

void post_batch_init(const struct ct_cfg *cfg);
int post_submit(struct worker *w, struct post *p);
void post_batch_stats(unsigned long *batches, unsigned long *posts);

/* pollshare.c: the long-polls one wake-up (gen) woke, asking the same
 * question (key), share one database look. pollshare_get: 1 with a copy of
 * the answer (malloc'd, caller frees); else 0, and with *claim set this
 * caller asks and must pollshare_put() the answer (NULL: failed). */
int pollshare_get(uint64_t gen, const char *key, char **answer, void **claim);
void pollshare_put(void *claim, const char *answer);
unsigned long pollshare_count(void); /* answers shared so far */
void pollshare_free(void);

/* metrics.c: counters for GET metrics (Prometheus text). */
void metrics_request(int route, int status, int64_t usec);
void metrics_poll_refused(void); /* a long-poll past max_waiters */

#endif /* CT_FCGI_H */

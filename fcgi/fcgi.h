/* fcgi.h - what crosstalk-fcgi's modules share: worker threads, the
 * parked long-polls woken by NOTIFY, group commit (the database
 * connections: pool.h). */
#ifndef CT_FCGI_H
#define CT_FCGI_H

#include <pthread.h>
#include <stdint.h>

#include <libpq-fe.h>

struct ct_cfg;

/* One per thread; owned by main.c: [http] workers of them, each with a
 * database connection while it runs a request (pool.h). Long-polls wait
 * without one (park.c). */
struct worker {
	int index;
	const struct ct_cfg *cfg; /* borrowed, lives for the process */
	PGconn *db;               /* pool.c's: checked out, else NULL */
	int slot;                 /* pool.c's: slot of db, or -1 */
};

/* notify.c: one thread per process LISTENs on "crosstalk" with its own
 * connection and wakes the parked polls of the channel a NOTIFY names. */
int notify_start(const struct ct_cfg *cfg);
void notify_stop(void);
int notify_listening(void); /* 1 while it holds a LISTENing connection */

/* park.c: long-polls that wait without a thread. park_add registers a
 * poll before its first look (NULL: [http] max_waiters wait already, or
 * stopping); after a look that found nothing, park_hand_over takes the
 * request (r->fr becomes NULL: the worker takes a new one) and the
 * answerer thread answers it when a NOTIFY for its channel comes or its
 * deadline (monotonic ms) passes; -1 when stopping (answer it now). A
 * poll that answered itself is park_cancel()ed. */
struct req;
struct park;
struct park *park_add(const char *app, const char *user, const char *channel,
		      long after, long limit, int64_t deadline_ms);
int park_hand_over(struct park *p, struct req *r);
void park_cancel(struct park *p);
/* NULL: every channel. While notify_listening() is 0 parked polls look
 * each second. */
void park_wake(const char *channel);
extern const char park_poll_sql[]; /* the poll's look: $1 app .. $5 limit */
int park_start(const struct ct_cfg *cfg);
void park_stop(void);
int park_count(void);                  /* polls waiting now (health) */
unsigned long park_shared_count(void); /* answered with another's look */

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
int gate_publish(struct req *r, const char *channel, const char **text,
		 const char *client_id, char **rewritten);
void gate_free(void);

/* hooks.c: the webhook delivery thread ([hooks] deliver). */
int hooks_start(const struct ct_cfg *cfg);
void hooks_stop(void);

void post_batch_init(const struct ct_cfg *cfg);
int post_submit(struct worker *w, struct post *p);
void post_batch_stats(unsigned long *batches, unsigned long *posts);

/* metrics.c: counters for GET metrics (Prometheus text). */
void metrics_request(int route, int status, int64_t usec);
void metrics_poll_refused(void); /* a long-poll past max_waiters */

#endif /* CT_FCGI_H */

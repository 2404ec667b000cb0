/* batch.c - group commit for HTTP posts. A post commits at once when a
 * leader's turn is free and the newest commit began CT_GROUP_STAGGER_MS ago
 * (CT_GROUP_GAP_MS when none is in flight); posts that arrive sooner queue
 * up, and when a turn comes one of their threads leads: it sends up to
 * BATCH_MAX queued posts as one call of crosstalk.api_post_batch on its own
 * connection (one transaction, one WAL flush) and hands every poster its
 * own answer.
 *
 * Why: a durable commit waits for the disk, and the channel row lock makes
 * the posts of one channel commit one after the other, so one post per
 * transaction caps a channel at one post per flush. PostgreSQL's
 * commit_delay groups only commits that overlap by chance, and not the
 * channel lock's queue.
 *
 * What one post cannot do to the others: up to half the pool's connections
 * lead batches at once, over disjoint channels (a channel is in one batch
 * at a time), so one slow batch (a paused database backend, say) holds up
 * only its own posts. A batch never waits for a channel row another
 * transaction holds (an app's long transaction): api_post_batch skips it
 * and answers that post 55P03, and the post goes alone on its own thread,
 * waiting up to [database] lock_timeout. Posts of one channel go alone one
 * at a time; when one fails on the lock, those that waited behind it fail
 * with it, so each waits about lock_timeout at most, and other channels
 * never wait at all. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config.h"
#include "core/db.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "fcgi/fcgi.h"
#include "fcgi/pool.h"

/* posts per group commit: crosstalk.api_post_batch is set-based (no
 * subtransaction per post), so this bounds only the time one commit
 * takes and the size of its JSON */
#define BATCH_MAX 64
/* batches in flight at once: enough to keep the database busy while one
 * commits, few enough that posts wait together and batches grow (each
 * transaction costs its commit and its fixed work); and one starts only
 * apart from the one before (core/db.h). A batch never waits
 * for a lock (held channels go alone, outside these turns), so nothing
 * waits behind one for long. */
#define BATCHES_MAX 4
#define ALONE_MAX   64
#define OUTCOMES    16

static const char q_many[] =
	"SELECT i, retry_after, event, created, err_state, err_message "
	"FROM crosstalk.api_post_batch($1::json)";
/* one post alone, waiting for its channel up to lock_timeout */
static const char q_wait[] =
	"SELECT i, retry_after, event, created, err_state, err_message "
	"FROM crosstalk.api_post_batch($1::json, true)";

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER; /* alone turns */
static struct post *head, *tail; /* waiting posts (borrowed), FIFO */
static int max_leaders = 1, leaders;
static int64_t newest_us; /* when the newest leader's turn began */
static int next_batch;
static unsigned long n_batches, n_batched;

/* The posts in batches in flight, by channel (a chained hash of their
 * channels): a post waits while its channel is in another batch. Each
 * waiting thread sleeps on its own post's condition variable and is woken
 * only when its post is answered or it is handed a leader's turn, so a
 * finished batch wakes the threads it answered and at most one more. */
#define BUCKETS 1024
static struct post *flying[BUCKETS];

/* Posts running alone, one per channel, and how the last few ended, so
 * that those waiting behind a post that failed on a held lock fail too. */
static struct alone {
	const char *channel; /* borrowed from the post; NULL: free */
	uint64_t serial;
} alones[ALONE_MAX];
static struct outcome {
	uint64_t serial;
	int rc;
	char msg[256];
} outcomes[OUTCOMES];
static uint64_t next_serial;

void
post_batch_init(const struct ct_cfg *cfg)
{
	max_leaders = cfg->http_workers / 2 < BATCHES_MAX
			      ? cfg->http_workers / 2
			      : BATCHES_MAX;
	if (max_leaders < 1)
		max_leaders = 1;
}

/* An error answer; a database error never becomes a 500 (as req_sql). */
static void
fail(struct post *p, int rc, const char *msg)
{
	p->rc = rc == CT_EINTERNAL ? CT_EUNAVAIL : rc;
	snprintf(p->msg, sizeof(p->msg), "%s", msg);
}

/* Fill p's answer from columns (retry_after, event, created) at col. */
static void
answer(struct post *p, PGresult *res, int row, int col)
{
	p->retry_after = strtol(PQgetvalue(res, row, col), NULL, 10);
	p->created = strcmp(PQgetvalue(res, row, col + 2), "t") == 0;
	if (p->retry_after > 0) {
		p->rc = CT_OK;
		return;
	}
	if (PQgetisnull(res, row, col + 1) ||
	    !(p->event = strdup(PQgetvalue(res, row, col + 1)))) {
		fail(p, CT_EINTERNAL, "unexpected database answer");
		return;
	}
	p->rc = CT_OK;
}

static void run_many(struct worker *w, struct post **b, int n, int wait,
		     char *state);

static struct alone *
alone_of(const char *channel)
{
	for (int i = 0; i < ALONE_MAX; i++)
		if (alones[i].channel &&
		    strcmp(alones[i].channel, channel) == 0)
			return &alones[i];
	return NULL;
}

static const struct outcome *
outcome_of(uint64_t serial)
{
	for (int i = 0; i < OUTCOMES; i++)
		if (outcomes[i].serial == serial)
			return &outcomes[i];
	return NULL;
}

/* A post whose channel a batch found held by another transaction: on its
 * own thread and connection, one per channel at a time. Locked: mu. */
static void
run_alone(struct worker *w, struct post *p)
{
	struct alone *a;
	char state[6] = "";

	for (;;) {
		if (!(a = alone_of(p->channel))) {
			for (int i = 0; i < ALONE_MAX && !a; i++)
				if (!alones[i].channel)
					a = &alones[i];
			if (a)
				break; /* ours */
			pthread_cond_wait(&cv, &mu);
			continue;
		}
		uint64_t waited = a->serial;
		const struct outcome *o;

		while ((a = alone_of(p->channel)) && a->serial == waited)
			pthread_cond_wait(&cv, &mu);
		if ((o = outcome_of(waited)) && o->rc != CT_OK) {
			fail(p, o->rc, o->msg); /* the lock is still held */
			return;
		}
	}
	a->channel = p->channel;
	a->serial = ++next_serial;
	pthread_mutex_unlock(&mu);
	run_many(w, &p, 1, 1, state);
	pthread_mutex_lock(&mu);
	{
		struct outcome *o = &outcomes[a->serial % OUTCOMES];

		o->serial = a->serial;
		o->rc = strcmp(state, "55P03") == 0 ? p->rc : CT_OK;
		snprintf(o->msg, sizeof(o->msg), "%s", p->msg);
	}
	a->channel = NULL;
	pthread_cond_broadcast(&cv);
}

/* The batch as api_post_batch's JSON array (malloc'd), or NULL. */
static char *
batch_json(struct post **b, int n)
{
	json_t *arr = json_array();
	char *s = NULL;

	if (!arr)
		return NULL;
	for (int i = 0; i < n; i++) {
		json_t *o = json_pack(
			"{s:s, s:s?, s:s?, s:s?, s:s, s:s, s:s?, s:s?, s:i, "
			"s:i, s:o?, s:s?, s:s?}",
			"app", b[i]->app, "user_id", b[i]->user_id, "name",
			b[i]->name, "session", b[i]->session, "channel",
			b[i]->channel, "text", b[i]->text, "client_id",
			b[i]->client_id, "exclude_ref", b[i]->exclude_ref,
			"limit", b[i]->limit, "window", b[i]->window,
			"reply_to",
			b[i]->reply_to ? json_integer(b[i]->reply_to) : NULL,
			"bot", b[i]->bot, "files", b[i]->files);

		if (!o || json_array_append_new(arr, o) != 0)
			goto out;
	}
	s = json_dumps(arr, JSON_COMPACT); /* caller frees */
out:
	json_decref(arr);
	return s;
}

/* One transaction for the batch. Fails as a whole only when its commit
 * fails or its connection is lost (then committed or not is unknown, and a
 * post is retried only by its client: client_id makes that safe). wait: a
 * post alone (run_alone), waiting for its channel; state gets the SQLSTATE
 * of a failure. */
static void
run_many(struct worker *w, struct post **b, int n, int wait, char *state)
{
	char *doc = batch_json(b, n), msg[256];
	const char *params[1] = { doc };
	PGresult *res = NULL;
	int rows, rc, lost;

	if (!doc) { /* a string that is not valid UTF-8 */
		for (int i = 0; i < n; i++)
			fail(b[i], CT_EINVALID, "a field is not valid UTF-8");
		return;
	}
	res = pool_exec(w, wait ? q_wait : q_many, 1, params, &rc, msg,
			sizeof(msg), state, &lost);
	if (!res) {
		for (int i = 0; i < n; i++)
			fail(b[i], rc, msg);
		goto out;
	}
	for (int i = 0; i < n; i++)
		fail(b[i], CT_EINTERNAL, "unexpected database answer");
	rows = PQntuples(res);
	for (int r = 0; r < rows; r++) {
		long i = strtol(PQgetvalue(res, r, 0), NULL, 10);
		struct post *p;

		if (i < 0 || i >= n)
			continue;
		p = b[i];
		if (PQgetisnull(res, r, 4)) {
			answer(p, res, r, 1);
		} else if (strcmp(PQgetvalue(res, r, 4), "55P03") == 0) {
			p->alone = 1; /* its channel is held elsewhere */
		} else {
			rc = ct_db_state_error(PQgetvalue(res, r, 4),
					       PQgetvalue(res, r, 5), msg,
					       sizeof(msg));
			fail(p, rc, msg);
		}
	}
out:
	PQclear(res);
	free(doc);
}

/* Is p's channel in a batch in flight other than batch? Locked. */
static int
held(const struct post *p, int batch)
{
	for (struct post *f = flying[p->hash % BUCKETS]; f; f = f->in_flight)
		if (f->batch != batch && f->hash == p->hash &&
		    strcmp(f->channel, p->channel) == 0)
			return 1;
	return 0;
}

static void
fly(struct post *p, int batch)
{
	struct post **b = &flying[p->hash % BUCKETS];

	p->batch = batch;
	p->in_flight = *b;
	*b = p;
}

static void
land(struct post *p)
{
	struct post **pp = &flying[p->hash % BUCKETS];

	while (*pp && *pp != p)
		pp = &(*pp)->in_flight;
	if (*pp)
		*pp = p->in_flight;
	p->in_flight = NULL;
	p->batch = 0;
}

/* Take up to BATCH_MAX waiting posts whose channels no other batch in
 * flight has, oldest first (a channel's posts keep their order: once one
 * is skipped, so are those behind it), into b as batch id. Locked. */
static int
take(struct post **b, int id)
{
	struct post **pp = &head, *prev = NULL;
	int n = 0;

	while (*pp && n < BATCH_MAX) {
		struct post *p = *pp;

		if (held(p, id)) {
			prev = p;
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (tail == p)
			tail = prev;
		p->next = NULL;
		fly(p, id);
		b[n++] = p;
	}
	return n;
}

/* May a leader's turn begin now? When one is free and the newest began
 * CT_GROUP_STAGGER_MS ago, or CT_GROUP_GAP_MS when none is taken. Locked. */
static int
turn_free(void)
{
	return leaders < max_leaders &&
	       ct_group_wait_us(newest_us, leaders > 0, ct_mono_us()) <= 0;
}

static void
take_turn(struct post *p)
{
	p->lead = 1;
	leaders++;
	newest_us = ct_mono_us();
}

/* A waiting post could go: when a leader's turn is free, hand it to the
 * oldest such post's thread; when none is taken but the stagger is not
 * over, wake that thread to wait it out (post_submit). Locked. */
static void
wake_leader(void)
{
	for (struct post *p = head; p; p = p->next)
		if (!p->lead && !held(p, 0)) {
			if (turn_free())
				take_turn(p);
			else if (leaders > 0)
				return; /* the end of a turn asks again */
			pthread_cond_signal(&p->cv);
			return;
		}
}

/* This thread holds a leader's turn: lead one batch, if any post may go,
 * then give the turn back (and hand it on). Locked; unlocks meanwhile. */
static void
lead(struct worker *w)
{
	struct post *b[BATCH_MAX];
	int n, id;

	id = next_batch = next_batch % 1000000 + 1;
	n = take(b, id);
	if (n > 0) {
		wake_leader(); /* what is left, for another turn */
		pthread_mutex_unlock(&mu);
		run_many(w, b, n, 0, NULL);
		pthread_mutex_lock(&mu);
		if (n > 1) {
			n_batches++;
			n_batched += (unsigned long)n;
		}
		for (int i = 0; i < n; i++) {
			land(b[i]);
			b[i]->done = 1;
			pthread_cond_signal(&b[i]->cv);
		}
	}
	leaders--;
	wake_leader(); /* channels that were in flight are free again */
}

/* A post's condition variable times its waits on the monotonic clock,
 * as newest_us is. */
static void
cv_init(pthread_cond_t *c)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

int
post_submit(struct worker *w, struct post *p)
{
	p->rc = CT_EUNAVAIL;
	p->msg[0] = '\0';
	p->event = NULL;
	p->retry_after = 0;
	p->created = 0;
	p->done = 0;
	p->alone = 0;
	p->lead = 0;
	p->batch = 0;
	p->hash = ct_hash(p->channel, strlen(p->channel));
	p->next = p->in_flight = NULL;
	cv_init(&p->cv);
	pthread_mutex_lock(&mu);
	if (tail)
		tail->next = p;
	else
		head = p;
	tail = p;
	if (turn_free()) /* take it now */
		take_turn(p);
	while (!p->done) {
		if (p->lead) {
			p->lead = 0;
			lead(w);
			continue;
		}
		if (leaders == 0) { /* nobody else will wake us: when the
				     * gap is over, the first up leads */
			int64_t now = ct_mono_us();
			int64_t due = now + ct_group_wait_us(newest_us, 0, now);
			struct timespec ts = { (time_t)(due / 1000000),
					       (long)(due % 1000000) * 1000 };
			pthread_cond_timedwait(&p->cv, &mu, &ts);
			if (!p->lead && !p->done && turn_free())
				take_turn(p);
			continue;
		}
		pthread_cond_wait(&p->cv, &mu);
	}
	if (p->lead) { /* handed a turn, then answered by another's batch */
		p->lead = 0;
		leaders--;
		wake_leader();
	}
	if (p->alone)
		run_alone(w, p);
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&p->cv);
	return p->rc;
}

void
post_batch_stats(unsigned long *batches, unsigned long *posts)
{
	pthread_mutex_lock(&mu);
	*batches = n_batches;
	*posts = n_batched;
	pthread_mutex_unlock(&mu);
}

/* batch.c - group commit for HTTP posts. A post that finds a leader slot
 * free commits at once; posts that arrive while commits are under way
 * queue up, and when a commit ends one of their threads leads: it sends up
 * to BATCH_MAX queued posts as one call of crosstalk.api_post_batch on its
 * own connection (one transaction, one WAL flush) and hands every poster
 * its own answer.
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
#include "fcgi/fcgi.h"
#include "fcgi/pool.h"

/* posts per group commit: crosstalk.api_post_batch is set-based (no
 * subtransaction per post), so this bounds only the time one commit
 * takes and the size of its JSON */
#define BATCH_MAX   64
#define LEADERS_MAX 64
#define ALONE_MAX   64
#define OUTCOMES    16

static const char q_one[] =
	"SELECT retry_after, event, created FROM "
	"crosstalk.api_post($1, $2, $3, $4, $5, $6, $7, $8::int, $9::int)";
static const char q_many[] =
	"SELECT i, retry_after, event, created, err_state, err_message "
	"FROM crosstalk.api_post_batch($1::json)";

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct post *head, *tail; /* waiting posts (borrowed), FIFO */
static int max_leaders = 1;
static unsigned long n_batches, n_batched;

/* The channels of each batch in flight (borrowed from its posts). */
static struct lead {
	int used, n;
	const char *chans[BATCH_MAX];
} leads[LEADERS_MAX];

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
	max_leaders = cfg->http_workers / 2;
	if (max_leaders < 1)
		max_leaders = 1;
	if (max_leaders > LEADERS_MAX)
		max_leaders = LEADERS_MAX;
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

/* p alone, waiting for its channel's lock up to lock_timeout; state gets
 * the SQLSTATE of a failure. */
static void
run_one(struct worker *w, struct post *p, char *state)
{
	char limit[16], window[16], msg[256];
	const char *params[9] = { p->app,         p->user_id, p->name,
				  p->channel,     p->text,    p->client_id,
				  p->exclude_ref, limit,      window };
	PGresult *res;
	int rc, lost;

	snprintf(limit, sizeof(limit), "%d", p->limit);
	snprintf(window, sizeof(window), "%d", p->window);
	res = pool_exec(w, q_one, 9, params, &rc, msg, sizeof(msg), state,
			&lost);
	if (res && PQntuples(res) == 1)
		answer(p, res, 0, 0);
	else if (res)
		fail(p, CT_EINTERNAL, "unexpected database answer");
	else
		fail(p, rc, msg);
	PQclear(res);
}

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
	run_one(w, p, state);
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
			"{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:i, s:i}",
			"app", b[i]->app, "user_id", b[i]->user_id, "name",
			b[i]->name, "channel", b[i]->channel, "text",
			b[i]->text, "client_id", b[i]->client_id, "exclude_ref",
			b[i]->exclude_ref, "limit", b[i]->limit, "window",
			b[i]->window);

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
 * post is retried only by its client: client_id makes that safe). */
static void
run_many(struct worker *w, struct post **b, int n)
{
	char *doc = batch_json(b, n), msg[256];
	const char *params[1] = { doc };
	PGresult *res = NULL;
	int rows, rc, lost;

	if (!doc) { /* a string that is not valid UTF-8: its own answer */
		for (int i = 0; i < n; i++)
			b[i]->alone = 1;
		return;
	}
	res = pool_exec(w, q_many, 1, params, &rc, msg, sizeof(msg), NULL,
			&lost);
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

/* Is channel in a batch in flight? Locked. */
static int
channel_leading(const char *channel)
{
	for (int i = 0; i < max_leaders; i++)
		for (int j = 0; leads[i].used && j < leads[i].n; j++)
			if (strcmp(leads[i].chans[j], channel) == 0)
				return 1;
	return 0;
}

/* Take up to BATCH_MAX waiting posts whose channels no batch in flight
 * has, oldest first, into b, and their channels into l. Locked. */
static int
take(struct post **b, struct lead *l)
{
	struct post **pp = &head, *prev = NULL;
	int n = 0;

	while (*pp && n < BATCH_MAX) {
		struct post *p = *pp;

		if (channel_leading(p->channel)) {
			prev = p;
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (tail == p)
			tail = prev;
		p->next = NULL;
		b[n++] = p;
		l->chans[l->n++] = p->channel;
	}
	return n;
}

int
post_submit(struct worker *w, struct post *p)
{
	struct post *b[BATCH_MAX];
	struct lead *l = NULL;
	int n;

	p->rc = CT_EUNAVAIL;
	p->msg[0] = '\0';
	p->event = NULL;
	p->retry_after = 0;
	p->created = 0;
	p->done = 0;
	p->alone = 0;
	p->next = NULL;
	pthread_mutex_lock(&mu);
	if (tail)
		tail->next = p;
	else
		head = p;
	tail = p;
	while (!p->done) {
		for (int i = 0; i < max_leaders && !l; i++)
			if (!leads[i].used)
				l = &leads[i];
		if (!l) {
			pthread_cond_wait(&cv, &mu);
			continue;
		}
		l->n = 0;
		if (!(n = take(b, l))) {
			l = NULL; /* nothing this thread may lead now */
			pthread_cond_wait(&cv, &mu);
			continue;
		}
		l->used = 1;
		pthread_mutex_unlock(&mu);
		run_many(w, b, n);
		pthread_mutex_lock(&mu);
		if (n > 1) {
			n_batches++;
			n_batched += (unsigned long)n;
		}
		for (int i = 0; i < n; i++)
			b[i]->done = 1;
		l->used = 0;
		l->n = 0;
		l = NULL;
		pthread_cond_broadcast(&cv);
	}
	if (p->alone)
		run_alone(w, p);
	pthread_mutex_unlock(&mu);
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

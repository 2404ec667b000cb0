/* batch.c - group commit for HTTP posts. A post that finds nothing being
 * committed runs at once, alone (crosstalk.api_post), so an idle server
 * adds no wait. Posts that arrive while a commit is under way queue up; when
 * it ends, one of their threads leads: it sends up to BATCH_MAX queued
 * posts as one call of crosstalk.api_post_batch on its own connection (one
 * transaction, one WAL flush) and hands every poster its own answer.
 *
 * Why: a durable commit waits for the disk, and the channel row lock makes
 * the posts of one channel commit one after the other, so one post per
 * transaction caps a channel at one post per flush. PostgreSQL's
 * commit_delay groups only commits that overlap by chance, and not the
 * channel lock's queue. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/db.h"
#include "core/err.h"
#include "core/log.h"
#include "fcgi/fcgi.h"

/* crosstalk.api_post_batch runs each post in a subtransaction; PostgreSQL
 * caches 64 subtransaction ids per transaction before spilling. */
#define BATCH_MAX 32

static const char q_one[] =
	"SELECT retry_after, event, created FROM "
	"crosstalk.api_post($1, $2, $3, $4, $5, $6, $7, $8::int, $9::int)";
static const char q_many[] =
	"SELECT i, retry_after, event, created, err_state, err_message "
	"FROM crosstalk.api_post_batch($1::json)";

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct post *head, *tail; /* waiting posts (borrowed), FIFO */
static int leading;              /* a commit is under way */
static unsigned long n_batches, n_batched;

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

static void
run_one(struct worker *w, struct post *p)
{
	char limit[16], window[16], msg[256];
	const char *params[9] = { p->app,         p->user_id, p->name,
				  p->channel,     p->text,    p->client_id,
				  p->exclude_ref, limit,      window };
	PGresult *res;

	if (worker_db(w) != CT_OK) {
		fail(p, CT_EUNAVAIL, "database unavailable");
		return;
	}
	snprintf(limit, sizeof(limit), "%d", p->limit);
	snprintf(window, sizeof(window), "%d", p->window);
	res = worker_exec(w, q_one, 9, params);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		answer(p, res, 0, 0);
	else
		fail(p, ct_db_error(w->db, res, msg, sizeof(msg)), msg);
	PQclear(res);
}

/* The batch as api_post_batch's JSON array (malloc'd), or NULL when a
 * string is not valid UTF-8: then each post goes alone and gets the
 * database's own answer. */
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

static void
run_many(struct worker *w, struct post **b, int n)
{
	char *doc = batch_json(b, n), msg[256];
	const char *params[1] = { doc };
	PGresult *res = NULL;
	int rows, rc;

	if (!doc)
		goto alone;
	if (worker_db(w) != CT_OK) {
		for (int i = 0; i < n; i++)
			fail(b[i], CT_EUNAVAIL, "database unavailable");
		goto out;
	}
	res = worker_exec(w, q_many, 1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = ct_db_error(w->db, res, msg, sizeof(msg));
		if (PQstatus(w->db) == CONNECTION_OK) {
			/* rolled back as a whole (a deadlock with another
			 * node's batch, say): each alone, as before */
			ct_warn("msg=\"post batch failed; posting one by "
				"one\" posts=%d error=\"%s\"",
				n, msg);
			goto alone;
		}
		/* connection lost: committed or not is unknown, and a post
		 * is retried only by its client (client_id makes it safe) */
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
		if (!PQgetisnull(res, r, 4)) {
			rc = ct_db_state_error(PQgetvalue(res, r, 4),
					       PQgetvalue(res, r, 5), msg,
					       sizeof(msg));
			fail(p, rc, msg);
		} else
			answer(p, res, r, 1);
	}
	goto out;
alone:
	for (int i = 0; i < n; i++)
		run_one(w, b[i]);
out:
	PQclear(res);
	free(doc);
}

int
post_submit(struct worker *w, struct post *p)
{
	struct post *b[BATCH_MAX];
	int n;

	p->rc = CT_EUNAVAIL;
	p->msg[0] = '\0';
	p->event = NULL;
	p->retry_after = 0;
	p->created = 0;
	p->done = 0;
	p->next = NULL;
	pthread_mutex_lock(&mu);
	if (tail)
		tail->next = p;
	else
		head = p;
	tail = p;
	while (!p->done) {
		if (leading) {
			pthread_cond_wait(&cv, &mu);
			continue;
		}
		/* lead: take the oldest waiting posts (ours among them,
		 * unless more than BATCH_MAX were ahead of it) */
		leading = 1;
		for (n = 0; n < BATCH_MAX && head; n++) {
			b[n] = head;
			head = head->next;
		}
		if (!head)
			tail = NULL;
		pthread_mutex_unlock(&mu);
		if (n == 1)
			run_one(w, b[0]);
		else
			run_many(w, b, n);
		pthread_mutex_lock(&mu);
		if (n > 1) {
			n_batches++;
			n_batched += (unsigned long)n;
		}
		for (int i = 0; i < n; i++)
			b[i]->done = 1;
		leading = 0;
		pthread_cond_broadcast(&cv);
	}
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

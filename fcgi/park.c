/* park.c - long-polls that wait without a thread or a database connection.
 *
 * A messages/poll with wait registers here (park_add) before its first
 * look, so a NOTIFY after the look is not missed. When the look finds
 * nothing, its worker hands the FastCGI request (the socket to nginx)
 * over (park_hand_over) and goes back to accept(): a waiting poll costs a
 * socket and its buffers, not a thread. One answerer thread holds every
 * parked poll. notify.c's listener marks the polls of the channel a NOTIFY
 * names (park_wake); the answerer takes them in rounds, looks once for
 * each question (app, channel, after, limit; the user too for a direct
 * channel), checks in one statement which of the askers may still read
 * the channel (a private channel's members change while they wait), and
 * writes that one rendered answer to each. A poll whose look finds
 * nothing new (the NOTIFY was of something it cannot see) parks again;
 * one whose deadline passed gets its last look. While the listener is
 * down, or the database did not answer, parked polls look again every
 * second. The answerer sleeps in epoll on the parked sockets too: a poll
 * whose client left (nginx closes its connection) is dropped at once
 * instead of holding its place among [http] max_waiters. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "core/config.h"
#include "core/db.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "fcgi/fcgi.h"
#include "fcgi/pool.h"
#include "fcgi/req.h"

/* the one look of a poll, its worker's or the answerer's (one prepared
 * statement per connection, pool.c) */
const char park_poll_sql[] =
	"SELECT crosstalk.poll($1, $2, $3, $4::bigint, $5::int)";

#define BUCKETS   256  /* channel hash -> polls of that channel */
#define RELOOK_MS 1000 /* no NOTIFYs, or no database: look this often */

enum { HELD, PARKED, BUSY };

struct park {
	FCGX_Request *fr; /* owned once parked, else NULL */
	int route;
	int64_t t0_us;           /* the request's start, for metrics */
	char *app, *user, *chan; /* owned (one allocation with p) */
	long after, limit;
	int alone; /* asks its own question: a direct channel's member, or
		    * one the readers' check refused (its look says why) */
	int refused;
	int64_t deadline_ms, next_ms; /* next_ms: look again then (0: no) */
	int state, woken;
	unsigned bucket;
	struct park *prev, *next; /* in its bucket */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* the answerer sleeps in epoll_wait on the parked sockets and on evfd,
 * which nudge() makes readable */
static int epfd = -1, evfd = -1;
static struct park *buckets[BUCKETS];
static int count, max_polls, started;
static _Atomic int stopping;
static _Atomic unsigned long n_shared;
static pthread_t tid;
static struct worker aw; /* the answerer's: a pool connection when looking */

static void
nudge(void)
{
	uint64_t one = 1;

	if (write(evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		ct_warn("msg=\"cannot wake the long-poll answerer\"");
}

static void
unlink_locked(struct park *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		buckets[p->bucket] = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	count--;
}

static void
link_locked(struct park *p)
{
	p->prev = NULL;
	p->next = buckets[p->bucket];
	if (p->next)
		p->next->prev = p;
	buckets[p->bucket] = p;
	count++;
}

struct park *
park_add(const char *app, const char *user, const char *channel, long after,
	 long limit, int64_t deadline_ms)
{
	size_t la = strlen(app) + 1, lu = user ? strlen(user) + 1 : 0,
	       lc = strlen(channel) + 1;
	/* freed by park_cancel, or once answered */
	struct park *p = calloc(1, sizeof(*p) + la + lu + lc);

	if (!p)
		return NULL;
	p->app = (char *)(p + 1);
	memcpy(p->app, app, la);
	p->chan = p->app + la;
	memcpy(p->chan, channel, lc);
	if (user) {
		p->user = p->chan + lc;
		memcpy(p->user, user, lu);
	}
	p->after = after;
	p->limit = limit;
	p->alone = strncmp(channel, "dm:", 3) == 0;
	p->deadline_ms = deadline_ms;
	p->state = HELD;
	p->bucket = ct_hash(channel, lc - 1) % BUCKETS;
	pthread_mutex_lock(&mu);
	if (!started || stopping || count >= max_polls) {
		pthread_mutex_unlock(&mu);
		free(p);
		return NULL;
	}
	link_locked(p);
	pthread_mutex_unlock(&mu);
	return p;
}

void
park_cancel(struct park *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&mu);
	unlink_locked(p);
	pthread_mutex_unlock(&mu);
	free(p); /* not parked: its request is its worker's */
}

int
park_hand_over(struct park *p, struct req *r)
{
	struct epoll_event ev;
	char buf[256];

	/* the request's end (FastCGI's empty stdin record, sent with it):
	 * read now, so that closing the socket later needs no wait for nginx
	 * and nothing unread is left to reset the connection */
	while (FCGX_GetStr(buf, sizeof(buf), r->fr->in) > 0)
		;
	pthread_mutex_lock(&mu);
	if (stopping) {
		pthread_mutex_unlock(&mu);
		return -1; /* the caller answers now and cancels p */
	}
	/* watched for its client leaving (nginx closes the connection) */
	ev.events = EPOLLRDHUP;
	ev.data.ptr = p;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, r->fr->ipcFd, &ev) != 0) {
		pthread_mutex_unlock(&mu);
		return -1;
	}
	p->fr = r->fr;
	p->route = r->route;
	p->t0_us = r->t0_us;
	p->state = PARKED;
	nudge(); /* its deadline may be the soonest */
	pthread_mutex_unlock(&mu);
	r->fr = NULL; /* the worker takes a new request */
	return 0;
}

/* Mark the polls of channel (every poll when channel is NULL). Locked. */
static void
wake_locked(const char *channel, size_t len)
{
	int any = 0;

	for (unsigned b = channel ? ct_hash(channel, len) % BUCKETS : 0;
	     b < BUCKETS; b++) {
		for (struct park *p = buckets[b]; p; p = p->next) {
			if (channel && (strncmp(p->chan, channel, len) != 0 ||
					p->chan[len] != '\0'))
				continue;
			p->woken = 1;
			any |= p->state == PARKED;
		}
		if (channel)
			break;
	}
	if (any)
		nudge();
}

void
park_wake(const char *channel)
{
	pthread_mutex_lock(&mu);
	wake_locked(channel, channel ? strlen(channel) : 0);
	pthread_mutex_unlock(&mu);
}

int
park_count(void)
{
	int n;

	pthread_mutex_lock(&mu);
	n = count;
	pthread_mutex_unlock(&mu);
	return n;
}

unsigned long
park_shared_count(void)
{
	return n_shared;
}

/* --- the answerer -------------------------------------------------------- */

/* A parked poll is done: counted (before its place is given back, so
 * that whoever sees the place free sees it counted), taken out of the
 * table, its request closed (without a wait for nginx: it was read to its
 * end when parked, park_hand_over; and closed even when the web server
 * would keep the connection, as no worker reads it again), and freed.
 * answered: the reply was written (else its client left: 499, as nginx
 * counts it, and nothing is written). */
static void
finish_parked(struct park *p, int status, int answered)
{
	/* its fields under the lock: a poll whose client left comes out of
	 * epoll_wait as soon as park_hand_over has added it, and the worker
	 * sets them after that, holding the lock until they are all set */
	pthread_mutex_lock(&mu);
	metrics_request(p->route, status, ct_mono_us() - p->t0_us);
	unlink_locked(p);
	pthread_mutex_unlock(&mu);
	p->fr->keepConnection = 0;
	FCGX_Detach(p->fr);
	if (answered)
		FCGX_Finish_r(p->fr);
	else
		FCGX_Free(p->fr, 1);
	free(p->fr);
	free(p);
}

/* Write an answer to a parked poll (its JSON, or the error rc with msg)
 * and finish it. */
static void
answer(struct park *p, int status, const char *json, size_t n, int rc,
       const char *msg)
{
	struct req r;

	req_init(&r, p->fr, &aw);
	r.route = p->route;
	if (json)
		req_reply_json(&r, status, json, n);
	else
		req_error(&r, rc, "%s", msg);
	finish_parked(p, r.status, 1);
}

static int
question_cmp(const void *a, const void *b)
{
	const struct park *x = *(struct park *const *)a,
			  *y = *(struct park *const *)b;
	int c;

	if ((c = strcmp(x->app, y->app)) || (c = strcmp(x->chan, y->chan)))
		return c;
	if (x->after != y->after)
		return x->after < y->after ? -1 : 1;
	if (x->limit != y->limit)
		return x->limit < y->limit ? -1 : 1;
	if (x->alone != y->alone)
		return x->alone - y->alone;
	if (x->alone)
		return strcmp(x->user ? x->user : "", y->user ? y->user : "");
	return 0;
}

/* Mark (refused = 1) the askers in g[0..n) that may not read their
 * channel now. Asked only when they are different users: one look answers
 * for its own user, and for a named channel the rest is the app's, the
 * same for all of them. 0, or -1 when the check failed (rc, msg). */
static int
check_readers(struct park **g, int n, int *rc, char *msg, size_t msglen)
{
	static const char q[] =
		"SELECT u FROM unnest($3::text[]) u WHERE NOT coalesce(("
		"SELECT r.have FROM crosstalk.channel_refusal($1, u, $2) r), "
		"false)";
	char *arr = NULL; /* owned */
	size_t len = 0, cap = 0;
	const char *params[3];
	PGresult *res;
	int lost, others = 0, oom = 0;

	for (int i = 1; i < n; i++)
		others |= g[i]->user &&
			  (!g[0]->user || strcmp(g[i]->user, g[0]->user) != 0);
	if (!others)
		return 0;
	for (int i = 0; i < n && !oom; i++)
		if (g[i]->user)
			oom = ct_db_array_add(&arr, &len, &cap, g[i]->user);
	if (oom || ct_db_array_end(&arr, &len, &cap)) {
		free(arr);
		*rc = CT_ENOMEM;
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	params[0] = g[0]->app;
	params[1] = g[0]->chan;
	params[2] = arr;
	res = pool_exec(&aw, q, 3, params, rc, msg, msglen, NULL, &lost);
	free(arr);
	if (!res)
		return -1;
	for (int k = 0; k < PQntuples(res); k++)
		for (int i = 0; i < n; i++)
			if (g[i]->user &&
			    strcmp(g[i]->user, PQgetvalue(res, k, 0)) == 0)
				g[i]->refused = 1;
	PQclear(res);
	return 0;
}

/* Look once for the question g[0..n) share and answer those it is for
 * (their g[i] becomes NULL); the others stay parked, to look again when
 * their next_ms comes (0: when woken) or their deadline passes. */
static void
look(struct park **g, int n)
{
	const char *params[5];
	char afters[24], limits[16], msg[256];
	int64_t now = ct_mono_ms();
	struct park *lead = NULL;
	PGresult *res = NULL;
	json_t *doc = NULL;
	char *body = NULL; /* owned: the answer they share */
	int rc = CT_OK, lost, empty = 0, shared = 0;

	for (int i = 0; i < n; i++)
		g[i]->refused = 0;
	if (check_readers(g, n, &rc, msg, sizeof(msg)) == 0) {
		for (int i = 0; i < n && !lead; i++)
			if (!g[i]->refused)
				lead = g[i];
		if (lead) {
			snprintf(afters, sizeof(afters), "%ld", lead->after);
			snprintf(limits, sizeof(limits), "%ld", lead->limit);
			params[0] = lead->app;
			params[1] = lead->user;
			params[2] = lead->chan;
			params[3] = afters;
			params[4] = limits;
			res = pool_exec(&aw, park_poll_sql, 5, params, &rc, msg,
					sizeof(msg), NULL, &lost);
		}
	}
	pool_release(&aw);
	if (res) {
		doc = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
			      ? json_loads(PQgetvalue(res, 0, 0), 0, NULL)
			      : NULL; /* owned */
		PQclear(res);
		if (!doc) {
			rc = CT_EINTERNAL;
			snprintf(msg, sizeof(msg),
				 "unexpected database answer");
		}
	}
	if (doc) { /* rendered once for all of them */
		empty = json_array_size(json_object_get(doc, "messages")) == 0;
		json_object_set_new(doc, "waited", json_true());
		json_object_set_new(doc, "ok", json_true());
		body = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
	}
	for (int i = 0; i < n; i++) {
		struct park *p = g[i];

		if (p->refused) { /* may not read it now: looks alone, and
				   * that look answers why */
			p->alone = 1;
			p->next_ms = now;
		} else if (!doc && rc == CT_EUNAVAIL && p->deadline_ms > now &&
			   !stopping) {
			/* the database went away: keep waiting, looking again
			 * each second, until it is back or the wait is over */
			p->next_ms = now + RELOOK_MS;
		} else if (!doc && lead && p != lead && rc != CT_EUNAVAIL) {
			p->next_ms = now; /* the lead's own refusal: again */
		} else if (!doc) {
			answer(p, 0, NULL, 0, rc, msg);
			g[i] = NULL;
		} else if (empty && p->deadline_ms > now && !stopping) {
			p->next_ms = 0; /* nothing new for it: wait on */
		} else {
			if (body)
				answer(p, 200, body, strlen(body), 0, NULL);
			else
				answer(p, 0, NULL, 0, CT_ENOMEM,
				       "out of memory");
			n_shared += body && shared++ > 0;
			g[i] = NULL;
		}
	}
	json_decref(doc);
	free(body);
}

/* The polls due now, marked BUSY (they stay in the table, so that a NOTIFY
 * during their look marks them again); the soonest time another becomes
 * due into *next_ms. Locked. */
static int
collect_locked(struct park ***out, int *cap, int64_t *next_ms)
{
	int64_t now = ct_mono_ms();
	int n = 0, listening = notify_listening();

	*next_ms = now + 60000;
	for (unsigned b = 0; b < BUCKETS; b++) {
		for (struct park *p = buckets[b]; p; p = p->next) {
			int64_t at = p->deadline_ms;

			if (p->state != PARKED)
				continue;
			if (p->next_ms && p->next_ms < at)
				at = p->next_ms;
			if (!listening && now + RELOOK_MS < at)
				at = now + RELOOK_MS;
			if (!p->woken && at > now && !stopping) {
				if (at < *next_ms)
					*next_ms = at;
				continue;
			}
			if (n == *cap) {
				int ncap = *cap ? *cap * 2 : 64;
				struct park **nb = realloc(
					*out, (size_t)ncap * sizeof(**out));

				if (!nb) { /* the rest next round */
					*next_ms = now + 10;
					return n;
				}
				*out = nb;
				*cap = ncap;
			}
			p->state = BUSY;
			p->woken = 0;
			p->next_ms = 0;
			(*out)[n++] = p;
		}
	}
	return n;
}

static void *
answerer_main(void *arg)
{
	struct park **batch = NULL; /* owned */
	struct epoll_event evs[64];
	int cap = 0;

	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		int64_t next_ms, wait_ms;
		int n = collect_locked(&batch, &cap, &next_ms);

		if (n > 0) {
			pthread_mutex_unlock(&mu);
			qsort(batch, (size_t)n, sizeof(*batch), question_cmp);
			for (int i = 0, j; i < n; i = j) {
				for (j = i + 1;
				     j < n &&
				     question_cmp(&batch[i], &batch[j]) == 0;
				     j++)
					;
				look(batch + i, j - i);
			}
			pthread_mutex_lock(&mu);
			for (int i = 0; i < n; i++)
				if (batch[i])
					batch[i]->state = PARKED;
			continue;
		}
		if (stopping && count == 0)
			break;
		wait_ms = next_ms - ct_mono_ms();
		if (stopping && wait_ms > 50)
			wait_ms = 50; /* a worker still looks for one */
		if (wait_ms <= 0)
			continue;
		pthread_mutex_unlock(&mu);
		n = epoll_wait(epfd, evs, 64, (int)wait_ms);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr) {
				finish_parked(evs[i].data.ptr, 499, 0);
			} else {
				uint64_t v;

				if (read(evfd, &v, sizeof(v)) < 0 &&
				    errno != EAGAIN)
					ct_warn("msg=\"long-poll wake-up "
						"unreadable\"");
			}
		}
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	pool_release(&aw);
	free(batch);
	return NULL;
}

int
park_start(const struct ct_cfg *cfg)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	max_polls = cfg->http_max_waiters;
	aw.index = -1;
	aw.cfg = cfg;
	aw.slot = -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (epfd < 0 || evfd < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev) != 0) {
		ct_err("msg=\"long-poll answerer: no epoll\"");
		return -1;
	}
	pthread_mutex_lock(&mu);
	started = 1;
	pthread_mutex_unlock(&mu);
	if (pthread_create(&tid, NULL, answerer_main, NULL) != 0) {
		started = 0;
		return -1;
	}
	return 0;
}

/* Answer every parked poll (after one last look) and end the answerer;
 * polls registered after this answer themselves. */
void
park_stop(void)
{
	pthread_mutex_lock(&mu);
	if (!started || stopping) {
		pthread_mutex_unlock(&mu);
		return;
	}
	stopping = 1;
	nudge();
	pthread_mutex_unlock(&mu);
	pthread_join(tid, NULL);
	close(epfd);
	close(evfd);
	epfd = evfd = -1;
}

/* notify.c - the long-poll wake-up: one listener thread per process holds
 * its own PostgreSQL connection, LISTENs on "crosstalk", and wakes the
 * waiters of the channel an "m" notification names (core/notice.h).
 * While the listener is down (or reconnecting) waiters re-check the
 * database every second, so a missed NOTIFY costs at most a second. */
#include <errno.h>
#include <stdatomic.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/notice.h"
#include "core/util.h"
#include "fcgi/fcgi.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv; /* CLOCK_MONOTONIC, set up in notify_start */
static struct waiter *waiters;
static int nwaiters, max_waiters, listening;
static _Atomic int stopping; /* set by notify_stop, read by all threads */
static int wake_pipe[2] = { -1, -1 };
static pthread_t tid;
static int started;
static const struct ct_cfg *ncfg;
static uint64_t wake_gen; /* one per wake(): who was woken together */

/* Wake the waiters of channel (all when channel is NULL). Locked. */
static void
wake(const char *channel, size_t len)
{
	int any = 0;

	wake_gen++;
	for (struct waiter *w = waiters; w; w = w->next) {
		if (!channel || (strlen(w->channel) == len &&
				 memcmp(w->channel, channel, len) == 0)) {
			w->woken = 1;
			w->gen = wake_gen;
			any = 1;
		}
	}
	if (any)
		pthread_cond_broadcast(&cv);
}

static void
on_payload(char *p)
{
	struct ct_notice n;

	if (ct_notice_parse(p, &n) != CT_OK || n.kind != 'm')
		return;
	pthread_mutex_lock(&mu);
	wake(n.channel, strlen(n.channel));
	pthread_mutex_unlock(&mu);
}

static void
set_listening(int on)
{
	pthread_mutex_lock(&mu);
	listening = on;
	wake(NULL, 0); /* anything may have been missed: look again */
	pthread_mutex_unlock(&mu);
}

static void *
listener_main(void *arg)
{
	char err[256];
	int warned = 0;

	(void)arg;
	while (!stopping) {
		PGconn *c = ct_db_connect(ncfg, "crosstalk-fcgi-listen", err,
					  sizeof(err)); /* owned here */
		struct pollfd pf[2];

		if (!c || ct_db_exec(c, "LISTEN crosstalk") != CT_OK) {
			if (!warned++)
				ct_warn("msg=\"listener cannot connect; "
					"long-polls re-check every second\" "
					"error=\"%s\"",
					c ? "LISTEN failed" : err);
			PQfinish(c);
			pf[0].fd = wake_pipe[0];
			pf[0].events = POLLIN;
			poll(pf, 1, 1000);
			continue;
		}
		if (warned)
			ct_info("msg=\"listener connected\"");
		warned = 0;
		set_listening(1);
		while (!stopping) {
			PGnotify *n;

			pf[0].fd = PQsocket(c);
			pf[0].events = POLLIN;
			pf[1].fd = wake_pipe[0];
			pf[1].events = POLLIN;
			if (poll(pf, 2, 5000) < 0 && errno != EINTR)
				break;
			if (pf[1].revents)
				break;
			if (!PQconsumeInput(c))
				break;
			while ((n = PQnotifies(c)) != NULL) {
				on_payload(n->extra);
				PQfreemem(n);
			}
			if (PQstatus(c) != CONNECTION_OK)
				break;
		}
		set_listening(0);
		PQfinish(c);
		if (!stopping)
			ct_warn("msg=\"listener lost its connection\"");
	}
	return NULL;
}

int
notify_start(const struct ct_cfg *cfg)
{
	pthread_condattr_t ca;

	ncfg = cfg;
	max_waiters = cfg->http_max_waiters;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pipe(wake_pipe) != 0)
		return -1;
	if (pthread_create(&tid, NULL, listener_main, NULL) != 0)
		return -1;
	started = 1;
	return 0;
}

void
notify_stop(void)
{
	if (started) {
		stopping = 1;
		if (write(wake_pipe[1], "x", 1) < 0)
			ct_warn("msg=\"cannot wake the listener\"");
		pthread_join(tid, NULL);
		started = 0;
	}
	pthread_mutex_lock(&mu);
	wake(NULL, 0);
	pthread_mutex_unlock(&mu);
	if (wake_pipe[0] >= 0) {
		close(wake_pipe[0]);
		close(wake_pipe[1]);
		wake_pipe[0] = wake_pipe[1] = -1;
	}
}

int
waiter_add(struct waiter *w, const char *channel)
{
	int rc = -1;

	pthread_mutex_lock(&mu);
	if (nwaiters < max_waiters && !stopping) {
		w->channel = channel;
		w->woken = 0;
		w->gen = 0;
		w->next = waiters;
		waiters = w;
		nwaiters++;
		rc = 0;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

uint64_t
waiter_arm(struct waiter *w)
{
	uint64_t gen;

	pthread_mutex_lock(&mu);
	w->woken = 0;
	gen = w->gen;
	pthread_mutex_unlock(&mu);
	return gen;
}

int
waiter_wait(struct waiter *w, int64_t deadline_ms)
{
	int rc;

	pthread_mutex_lock(&mu);
	while (!w->woken && !stopping) {
		int64_t now = ct_mono_ms(), until = deadline_ms;
		struct timespec ts;

		if (now >= deadline_ms)
			break;
		if (!listening && until > now + 1000)
			until = now + 1000; /* no NOTIFYs: poll the database */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (until - now) / 1000;
		ts.tv_nsec += (long)((until - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT &&
		    !listening)
			break;
	}
	rc = stopping ? -1 : 0;
	pthread_mutex_unlock(&mu);
	return rc;
}

void
waiter_remove(struct waiter *w)
{
	pthread_mutex_lock(&mu);
	for (struct waiter **p = &waiters; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			nwaiters--;
			break;
		}
	}
	pthread_mutex_unlock(&mu);
}

int
waiter_count(void)
{
	int n;

	pthread_mutex_lock(&mu);
	n = nwaiters;
	pthread_mutex_unlock(&mu);
	return n;
}

int
notify_listening(void)
{
	int on;

	pthread_mutex_lock(&mu);
	on = listening;
	pthread_mutex_unlock(&mu);
	return on;
}

/* timers.c - see timers.h. Before the loop waits (an ev_prepare watcher),
 * a libev timer of ours is set for the earliest pending sul, if it is
 * not set that early already; when it fires it runs the ripe suls as
 * lws' own timer does (__lws_sul_service_ripe, exported and declared in
 * lws-timeout-timer.h). Running them twice is harmless: a sul leaves the
 * list when it runs. Cost: a look at the list's head per loop turn, and a
 * timer move only when the earliest sul changes. */
#include <string.h>

#include "wsd/timers.h"

static struct ev_loop *loop; /* borrowed */
static struct ev_prepare before_wait;
static struct ev_timer due;
/* the thread's sul lists (LWS_COUNT_PT_SUL_OWNERS of them, in a row),
 * borrowed from the context: found through a sul scheduled once */
static lws_dll2_owner_t *owners;
static lws_usec_t due_us; /* when due fires; 0: not set */

static void
on_due(struct ev_loop *l, struct ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	due_us = 0;
	__lws_sul_service_ripe(owners, LWS_COUNT_PT_SUL_OWNERS,
			       lws_now_usecs());
}

static void
on_before_wait(struct ev_loop *l, struct ev_prepare *w, int revents)
{
	lws_usec_t first = 0, now;

	(void)w;
	(void)revents;
	for (int i = 0; i < LWS_COUNT_PT_SUL_OWNERS; i++) {
		struct lws_dll2 *d = lws_dll2_get_head(&owners[i]);
		lws_usec_t us;

		if (!d)
			continue;
		us = lws_container_of(d, lws_sorted_usec_list_t, list)->us;
		if (!first || us < first)
			first = us;
	}
	if (!first || (due_us && due_us <= first))
		return;
	now = lws_now_usecs();
	ev_timer_stop(l, &due);
	ev_timer_set(&due, first > now ? (double)(first - now) / 1e6 : 0., 0.);
	ev_timer_start(l, &due);
	due_us = first;
}

static void
never(lws_sorted_usec_list_t *sul)
{
	(void)sul;
}

int
timers_start(struct lws_context *cx, struct ev_loop *l)
{
	lws_sorted_usec_list_t probe;

	memset(&probe, 0, sizeof(probe));
	lws_sul_schedule(cx, 0, &probe, never, (lws_usec_t)3600 * 1000000);
	owners = probe.list.owner;
	lws_sul_cancel(&probe);
	if (!owners)
		return -1;
	loop = l;
	ev_prepare_init(&before_wait, on_before_wait);
	ev_prepare_start(loop, &before_wait);
	ev_timer_init(&due, on_due, 0., 0.);
	/* after the descriptors of the same loop turn, as lws' idle work
	 * runs: a turn's deliveries still leave in one write per connection */
	ev_set_priority(&due, EV_MINPRI);
	due_us = 0;
	return 0;
}

void
timers_stop(void)
{
	if (!loop)
		return;
	ev_prepare_stop(loop, &before_wait);
	ev_timer_stop(loop, &due);
	loop = NULL;
	owners = NULL;
}

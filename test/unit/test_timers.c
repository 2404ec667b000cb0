/* test_timers.c - wsd/timers.c: an lws timer scheduled for sooner than
 * the one lws last set its loop timer for fires at its own time, whether
 * an lws callback scheduled it (as a received frame's handler does) or a
 * libev callback of ours did (as the channel hooks' do). A real lws
 * context on a libev loop, as crosstalk-wsd runs it; no network. The
 * check is against the other timer's time, not a duration: the 5-ms
 * timer must fire before the 3-s one is due (unfixed, lws runs both at
 * 3 s, the sooner first). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "wsd/timers.h"

#define LATE_US (3 * 1000000)
#define SOON_US 5000

static struct ev_loop *loop;
static struct lws_context *cx;
static lws_sorted_usec_list_t late, soon;
static struct ev_timer kick;
static int from_lws; /* soon is scheduled by an lws callback, else ours */
static int cancels;
static int soon_fired, before_late;

static void
late_fired(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	ev_break(loop, EVBREAK_ALL); /* soon did not come first: failed */
}

static void
soon_fired_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	soon_fired = 1;
	before_late = late.list.owner && lws_now_usecs() < late.us;
	ev_break(loop, EVBREAK_ALL);
}

static void
schedule_soon(void)
{
	lws_sul_schedule(cx, 0, &soon, soon_fired_cb, SOON_US);
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	 void *in, size_t len)
{
	(void)wsi;
	(void)user;
	(void)in;
	(void)len;
	/* the first wakeup lets lws set its loop timer for late; the second
	 * schedules soon from inside lws */
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED && ++cancels == 2 &&
	    from_lws)
		schedule_soon();
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "t", callback, 0, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
on_kick(struct ev_loop *l, struct ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	if (from_lws)
		lws_cancel_service(cx);
	else
		schedule_soon();
}

static void
run(int by_lws, int fixed)
{
	struct lws_context_creation_info info;
	void *loops[1];

	from_lws = by_lws;
	cancels = soon_fired = before_late = 0;
	memset(&late, 0, sizeof(late));
	memset(&soon, 0, sizeof(soon));
	lws_set_log_level(LLL_ERR, NULL);
	assert_non_null(loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK));
	loops[0] = loop;
	memset(&info, 0, sizeof(info));
	info.foreign_loops = loops;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBEV;
	assert_non_null(cx = lws_create_context(&info));
	if (fixed)
		assert_int_equal(timers_start(cx, loop), 0);
	lws_sul_schedule(cx, 0, &late, late_fired, LATE_US);
	lws_cancel_service(cx); /* lws sets its loop timer for late */
	ev_timer_init(&kick, on_kick, 0.05, 0.);
	ev_timer_start(loop, &kick);
	ev_run(loop, 0);
	ev_timer_stop(loop, &kick);
	lws_sul_cancel(&late);
	lws_sul_cancel(&soon);
	if (fixed)
		timers_stop();
	lws_context_destroy(cx);
	ev_loop_destroy(loop);
	assert_true(soon_fired);
	assert_true(before_late);
}

static void
from_an_lws_callback(void **state)
{
	(void)state;
	run(1, 1);
}

static void
from_a_libev_callback(void **state)
{
	(void)state;
	run(0, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(from_an_lws_callback),
		cmocka_unit_test(from_a_libev_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

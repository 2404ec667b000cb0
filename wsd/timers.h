/* timers.h - lws timers (lws_sul) that fire on time under our libev loop.
 *
 * lws 4.1.6's libev glue keeps one loop timer for its earliest lws_sul
 * and moves it with ev_timer_set + ev_timer_start, which do nothing to a
 * timer that is already running: a sul scheduled earlier than the time
 * that timer was set for waits for it, or for the next descriptor event.
 * A busy daemon has one every millisecond and never shows it; at the end
 * of a burst a group commit's few-ms stagger (pgq.c) waited for the
 * 1-s tick, and the burst's last publishes were acknowledged 400-700 ms
 * late. timers_start() adds what makes every sul fire at its time,
 * whatever scheduled it (an lws callback, a libev one of our own). */
#ifndef CT_WSD_TIMERS_H
#define CT_WSD_TIMERS_H

#include <ev.h>
#include <libwebsockets.h>

/* Once the context exists, before the loop runs; 0 or -1. */
int timers_start(struct lws_context *cx, struct ev_loop *loop);
/* Before the context is destroyed (its timer list goes with it). */
void timers_stop(void);

#endif /* CT_WSD_TIMERS_H */

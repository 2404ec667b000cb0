/* alive.c - keepalive for every WebSocket: ping a connection that has been
 * quiet for limits.ping_interval, close one silent for limits.idle_timeout.
 *
 * lws offers the same (its retry policy's secs_since_valid_*), but it keeps
 * each connection's deadline in the thread's one sorted timer list, and
 * every pong moves that deadline to the list's far end: a walk over all
 * connections per pong. 10,000 connections pinged each interval made that
 * O(n^2) burst the daemon's main cost (bench/ANALYSIS.md). Here a
 * connection costs a timestamp and a list link, and the once-a-second tick
 * walks the list once. */
#include "core/config.h"
#include "core/util.h"
#include "wsd/wsd.h"

static lws_dll2_owner_t all; /* every open WebSocket, authenticated or not */

void
alive_open(struct pss *p)
{
	p->rx_ms = p->ping_ms = ct_mono_ms();
	lws_dll2_add_tail(&p->in_alive, &all);
}

void
alive_rx(struct pss *p)
{
	p->rx_ms = ct_mono_ms();
}

void
alive_closed(struct pss *p)
{
	lws_dll2_remove(&p->in_alive);
}

int
alive_writeable(struct pss *p)
{
	/* lws 4.1 tells us of a pong only when it has a payload */
	unsigned char buf[LWS_PRE + 2] = { [LWS_PRE] = 'c', 't' };

	if (!p->ping_owed)
		return 0;
	p->ping_owed = 0;
	if (lws_write(p->wsi, buf + LWS_PRE, 2, LWS_WRITE_PING) < 0)
		return -1;
	if (p->q_count) /* one write per WRITEABLE: the queue goes next */
		lws_callback_on_writable(p->wsi);
	return 1;
}

void
alive_tick(void)
{
	int64_t now = ct_mono_ms();
	int64_t ping = (int64_t)wsd->cfg->lim_ping_interval * 1000;
	int64_t idle = (int64_t)wsd->cfg->lim_idle_timeout * 1000;

	dll_foreach(d, d_next, all.head)
	{
		struct pss *p = lws_container_of(d, struct pss, in_alive);

		if (now - p->rx_ms >= idle) {
			/* it hears nothing, so no close frame: just drop it */
			lws_dll2_remove(&p->in_alive);
			lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
		} else if (now - p->rx_ms >= ping && now - p->ping_ms >= ping &&
			   p->state != SESS_CLOSING) {
			p->ping_ms = now;
			p->ping_owed = 1;
			lws_callback_on_writable(p->wsi);
		}
	}
}

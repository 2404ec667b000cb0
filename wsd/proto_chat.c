/* proto_chat.c - the "crosstalk.v1" protocol callback: a thin switch; the
 * logic lives in login.c (connections), dispatch.c (client frames) and
 * out.c (what goes out). */
#include "core/util.h"
#include "wsd/wsd.h"

/* lws keeps every connection's timers in one sorted list, and confirming
 * liveness moves the connection's timer to the list's far end: a walk over
 * all connections. Once a second is as good for the ping interval (whole
 * seconds) and keeps a connection that sends a lot from costing every
 * frame that walk. */
#define ALIVE_EVERY_MS 1000

static void
alive(struct pss *p, struct lws *wsi)
{
	int64_t now = ct_mono_ms();

	if (now - p->valid_ms < ALIVE_EVERY_MS)
		return;
	p->valid_ms = now;
	lws_validity_confirmed(wsi);
}

int
chat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	struct pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		login_open(p, wsi); /* auth_timeout starts here */
		dispatch_open(p);
		break;
	case LWS_CALLBACK_RECEIVE:
		alive(p, wsi); /* any frame proves liveness */
		return dispatch_receive(p, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		lws_validity_confirmed(wsi);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return out_writeable(p); /* besides out.c's flush */
	case LWS_CALLBACK_TIMER:
		login_timer(p);
		break;
	case LWS_CALLBACK_CLOSED:
		dispatch_closed(p); /* first: nothing is resumed from here on */
		login_closed(p);
		break;
	default:
		break;
	}
	return 0;
}

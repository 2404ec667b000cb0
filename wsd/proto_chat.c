/* proto_chat.c - the "crosstalk.v1" protocol callback: a thin switch; the
 * logic lives in login.c (connections), dispatch.c (client frames) and
 * out.c (what goes out). */
#include "wsd/gate.h"
#include "wsd/wsd.h"

int
chat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	struct pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		login_open(p, wsi); /* auth_timeout starts here */
		alive_open(p);
		dispatch_open(p);
		break;
	case LWS_CALLBACK_RECEIVE:
		alive_rx(p); /* any frame proves liveness */
		return dispatch_receive(p, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		alive_rx(p);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return out_writeable(p); /* besides out.c's flush */
	case LWS_CALLBACK_TIMER:
		login_timer(p);
		break;
	case LWS_CALLBACK_CLOSED:
		dispatch_closed(p); /* first: nothing is resumed from here on */
		gate_closed(p);
		alive_closed(p);
		login_closed(p);
		break;
	default:
		break;
	}
	return 0;
}

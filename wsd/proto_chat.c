/* proto_chat.c - the "crosstalk.v1" protocol callback: a thin switch; the
 * logic lives in sess.c (connections) and fanout.c (channels). */
#include "wsd/wsd.h"

int
chat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	struct pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		sess_open(p, wsi); /* auth_timeout starts here */
		break;
	case LWS_CALLBACK_RECEIVE:
		lws_validity_confirmed(wsi); /* any frame proves liveness */
		return sess_receive(p, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		lws_validity_confirmed(wsi);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return sess_writeable(p); /* the only place we write */
	case LWS_CALLBACK_TIMER:
		sess_timer(p);
		break;
	case LWS_CALLBACK_CLOSED:
		sess_closed(p);
		break;
	default:
		break;
	}
	return 0;
}

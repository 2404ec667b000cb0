/* wsd.h - state shared inside crosstalk-wsd. One process, one lws loop. */
#ifndef CT_WSD_H
#define CT_WSD_H

#include <libwebsockets.h>

struct ct_cfg;

struct wsd {
	struct ct_cfg *cfg;          /* owned; swapped on SIGHUP */
	struct lws_context *context; /* owned */
	struct lws_vhost *vhost;     /* borrowed from context */
	int stopping;
};

extern struct wsd *wsd; /* the process's one instance (main.c) */

/* http.c: the "http" protocol: /health, /widget and static files. */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		  void *in, size_t len);

#endif /* CT_WSD_H */

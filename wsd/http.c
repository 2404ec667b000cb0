/* http.c - plain HTTP on the daemon's port: /health now; the widget and
 * static files from [wsd] web_root. */
#include <string.h>

#include "core/log.h"
#include "wsd/wsd.h"

static int
reply(struct lws *wsi, unsigned status, const char *type, const char *body)
{
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
					   *end = buf + sizeof(buf);
	size_t n = strlen(body);

	if (lws_add_http_common_headers(wsi, status, type, n, &p, end) ||
	    lws_add_http_header_by_name(
		    wsi, (const unsigned char *)"cache-control:",
		    (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (n && lws_write(wsi, (unsigned char *)body, n,
			   LWS_WRITE_HTTP_FINAL) != (int)n)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int
http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_HTTP: {
		const char *uri = in;

		if (strcmp(uri, "/health") == 0)
			return reply(wsi, 200, "application/json",
				     "{\"ok\":true}");
		return reply(wsi, 404, "application/json",
			     "{\"ok\":false,\"error\":{\"code\":\"not_found\","
			     "\"message\":\"no such path\"}}");
	}
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* req.c - request wrapper and the one place replies are written. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "fcgi/req.h"

static __thread const char *extra_header;

void
req_init(struct req *r, FCGX_Request *fr, struct worker *w)
{
	const char *uri;

	memset(r, 0, sizeof(*r));
	r->fr = fr;
	r->w = w;
	r->method = req_param(r, "REQUEST_METHOD");
	if (!r->method)
		r->method = "GET";
	uri = req_param(r, "DOCUMENT_URI");
	if (!uri)
		uri = req_param(r, "SCRIPT_NAME");
	if (!uri)
		uri = "";
	if (strncmp(uri, "/api/v1/", 8) == 0)
		uri += 8;
	else if (strcmp(uri, "/api/v1") == 0)
		uri = "";
	r->path = uri;
	extra_header = NULL;
}

const char *
req_param(const struct req *r, const char *name)
{
	return FCGX_GetParam(name, r->fr->envp);
}

void
req_header(struct req *r, const char *line)
{
	(void)r;
	extra_header = line;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

void
req_reply(struct req *r, int status, json_t *body)
{
	char *text;
	size_t n;

	if (r->replied) {
		json_decref(body);
		return;
	}
	r->replied = 1;
	if (!body)
		body = json_object();
	if (!json_object_get(body, "ok"))
		json_object_set_new(body, "ok", json_boolean(status < 400));
	text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(body);
	if (!text) {
		status = 503;
		text = strdup(
			"{\"ok\":false,\"error\":{\"code\":\"unavailable\","
			"\"message\":\"out of memory\"}}");
		if (!text)
			return;
	}
	n = strlen(text);
	/* libfcgi's own printf lacks %zu: format the head here */
	char head[512];
	int hn = snprintf(head, sizeof(head),
			  "Status: %d %s\r\n"
			  "Content-Type: application/json; charset=utf-8\r\n"
			  "Content-Length: %zu\r\n"
			  "Cache-Control: no-store\r\n"
			  "X-Content-Type-Options: nosniff\r\n"
			  "%s%s"
			  "\r\n",
			  status, reason(status), n,
			  extra_header ? extra_header : "",
			  extra_header ? "\r\n" : "");
	if (hn > 0 && (size_t)hn < sizeof(head))
		FCGX_PutStr(head, hn, r->fr->out);
	FCGX_PutStr(text, (int)n, r->fr->out);
	free(text);
}

void
req_error(struct req *r, int ct_err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	req_reply(r, ct_err_status(ct_err),
		  json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code",
			    ct_err_code(ct_err), "message", msg));
}

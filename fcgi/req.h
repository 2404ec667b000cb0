/* req.h - one FastCGI request: parameters, a capped body, JSON replies.
 * Every reply has Content-Length, "ok", and is never chunked or gzipped. */
#ifndef CT_REQ_H
#define CT_REQ_H

#include <stddef.h>

#include <fcgiapp.h>
#include <jansson.h>

struct worker;

struct req {
	FCGX_Request *fr;   /* borrowed */
	struct worker *w;   /* borrowed */
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* below /api/v1, e.g. "messages/poll" */
	int replied;
};

void req_init(struct req *r, FCGX_Request *fr, struct worker *w);
const char *req_param(const struct req *r, const char *name); /* CGI var */

/* Send status + body (takes body). Adds "ok" if absent. */
void req_reply(struct req *r, int status, json_t *body);
/* {"ok":false,"error":{"code","message"}} with the code's status. */
void req_error(struct req *r, int ct_err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Extra header lines for the next reply ("Retry-After: 3"); borrowed. */
void req_header(struct req *r, const char *line);

#endif /* CT_REQ_H */

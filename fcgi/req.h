/* req.h - one FastCGI request: parameters, normalised input, who is
 * asking (app, user), database calls that answer errors themselves, and
 * JSON replies. Every reply has Content-Length and "ok", and is never
 * chunked or gzipped. */
#ifndef CT_REQ_H
#define CT_REQ_H

#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <jansson.h>
#include <libpq-fe.h>

struct worker;

struct req {
	FCGX_Request *fr;   /* borrowed; NULL once a long-poll parked it */
	struct worker *w;   /* borrowed */
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* below /api/v1, e.g. "messages/poll" */
	int replied;
	int status;          /* of the reply sent */
	int route;           /* index in the route table, -1 for none */
	int64_t t0_us;       /* monotonic, when it began (metrics) */
	json_t *in;          /* normalised input (input.h); owned */
	char app[33];        /* authenticated app id, or "" */
	const char *session; /* session ref (header or field), borrowed */
	char *user_id;       /* resolved user, or NULL; owned */
	char *user_name;     /* owned */
};

void req_init(struct req *r, FCGX_Request *fr, struct worker *w);
/* Free what the request owns and give back its database connection. */
void req_done(struct req *r);
const char *req_param(const struct req *r, const char *name); /* CGI var */

/* Read the body (capped at [limits] body_max) and parse the input into
 * r->in. 0, or the error was replied. */
int req_read_input(struct req *r);
/* Only the query string into r->in: for a handler that reads the body
 * itself (an upload). 0, or the error was replied. */
int req_read_query(struct req *r);
/* Authorization: Bearer <api key> -> r->app. 0, or 401 was replied. */
int req_auth_app(struct req *r);
/* Session ref from X-Crosstalk-Session or the "session" field, resolved
 * with crosstalk.resolve_session(). required=0: a request without a ref is
 * fine (r->user_id stays NULL); a ref that does not resolve is always a
 * 401. 0, or the error was replied. */
int req_auth_user(struct req *r, int required);
/* The session ref, required, into r->session without resolving it (the
 * handler's own statement does: a post's batch). 0, or the error was
 * replied. */
int req_session_ref(struct req *r);

/* Run one statement with text parameters (NULL = SQL NULL). On failure
 * the error is replied (contract code and status) and NULL returned;
 * otherwise the caller PQclear()s the result. idempotent: retry once on
 * a connection lost before the answer (reads only). */
PGresult *req_sql(struct req *r, const char *sql, int n,
		  const char *const *params, int idempotent);

/* Parse a json column of res (a new reference; NULL after replying). */
json_t *req_json_col(struct req *r, PGresult *res, int row, int col);

/* req_sql for a statement whose one JSON column is the whole answer
 * (a crosstalk.* function that builds it), replied with 200. */
void req_reply_sql(struct req *r, const char *sql, int n,
		   const char *const *params, int idempotent);

/* req_sql without the reply: NULL with *rc = CT_E* and the reason in msg. */
PGresult *req_sql_try(struct req *r, const char *sql, int n,
		      const char *const *params, int idempotent, int *rc,
		      char *msg, size_t msglen);

/* Send status + body (takes body). Adds "ok" if absent. */
void req_reply(struct req *r, int status, json_t *body);
/* Send status + a JSON body already rendered (borrowed; with its "ok"). */
void req_reply_json(struct req *r, int status, const char *json, size_t n);
/* {"ok":false,"error":{"code","message"}} with the code's status. */
void req_error(struct req *r, int ct_err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Send a non-JSON body (metrics): status, content type, text (borrowed). */
void req_reply_text(struct req *r, int status, const char *ctype,
		    const char *text, size_t len);
/* Start a reply whose body the caller writes itself (FCGX_PutStr on
 * r->fr->out): the status line, then headers (lines ending "\r\n"). */
void req_reply_head(struct req *r, int status, const char *headers);
/* Extra header lines for the next reply ("Retry-After: 3"); copied. */
void req_header(struct req *r, const char *line);

/* Input accessors answering 422 themselves: 1 found, 0 absent (and not
 * required), -1 replied. */
int req_str(struct req *r, const char *key, const char *name, int required,
	    const char **out);
int req_long(struct req *r, const char *key, const char *name, long min,
	     long max, long *out);
int req_bool(struct req *r, const char *key, const char *name, int *out);

#endif /* CT_REQ_H */

/* req.c - request wrapper: input, authentication, database calls, and the
 * one place replies are written. */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/db.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "fcgi/fcgi.h"
#include "fcgi/input.h"
#include "fcgi/pool.h"
#include "fcgi/req.h"

static __thread char extra_header[128];

void
req_init(struct req *r, FCGX_Request *fr, struct worker *w)
{
	const char *uri;

	memset(r, 0, sizeof(*r));
	r->t0_us = ct_mono_us();
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
	r->route = -1;
	extra_header[0] = 0;
}

void
req_done(struct req *r)
{
	json_decref(r->in);
	r->in = NULL;
	free(r->user_id);
	free(r->user_name);
	r->user_id = r->user_name = NULL;
	pool_release(r->w);
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
	snprintf(extra_header, sizeof(extra_header), "%s", line);
}

int
req_read_input(struct req *r)
{
	size_t max = (size_t)r->w->cfg->lim_body_max;
	const char *cl = req_param(r, "CONTENT_LENGTH");
	char *body = NULL; /* owned here */
	size_t len = 0, want;
	char err[256];
	long n = 0;
	int rc;

	if (cl && *cl && ct_parse_long(cl, 0, 1L << 40, &n) != 0) {
		req_error(r, CT_EBADREQ, "bad Content-Length");
		return -1;
	}
	if ((size_t)n > max) {
		req_error(r, CT_ETOOLARGE, "the body is larger than %zu bytes",
			  max);
		return -1;
	}
	/* without a length, read up to one byte past the cap to detect it */
	want = cl && *cl ? (size_t)n : max + 1;
	if (want > 0) {
		if (!(body = malloc(want + 1))) {
			req_error(r, CT_ENOMEM, "out of memory");
			return -1;
		}
		while (len < want) {
			int got = FCGX_GetStr(body + len, (int)(want - len),
					      r->fr->in);
			if (got <= 0)
				break;
			len += (size_t)got;
		}
		body[len] = 0;
	}
	rc = input_parse(req_param(r, "CONTENT_TYPE"),
			 req_param(r, "QUERY_STRING"), body, len, max, &r->in,
			 err, sizeof(err));
	free(body);
	if (rc != CT_OK) {
		req_error(r, rc, "%s", err);
		return -1;
	}
	return 0;
}

int
req_read_query(struct req *r)
{
	char err[256];
	int rc = input_parse(NULL, req_param(r, "QUERY_STRING"), NULL, 0,
			     (size_t)r->w->cfg->lim_body_max, &r->in, err,
			     sizeof(err));

	if (rc != CT_OK) {
		req_error(r, rc, "%s", err);
		return -1;
	}
	return 0;
}

/* Per-process cache of app key hashes, refreshed every APP_TTL_MS, so a
 * new app works and a rotated key stops within seconds. Negative answers
 * are cached too: unknown app ids do not reach the database each time. */
#define APP_CACHE  64
#define APP_TTL_MS 5000
static struct app_entry {
	char id[33];
	char hash[CT_HASH_HEX]; /* "" = no such app */
	int64_t at;
} apps[APP_CACHE];
static pthread_mutex_t apps_mu = PTHREAD_MUTEX_INITIALIZER;

static int
app_hash(struct req *r, const char *app, char *hash)
{
	int64_t now = ct_mono_ms();
	struct app_entry *e = NULL, *old = &apps[0];
	const char *params[1] = { app };
	PGresult *res;

	pthread_mutex_lock(&apps_mu);
	for (int i = 0; i < APP_CACHE; i++) {
		if (strcmp(apps[i].id, app) == 0) {
			e = &apps[i];
			break;
		}
		if (apps[i].at < old->at)
			old = &apps[i];
	}
	if (e && now - e->at < APP_TTL_MS) {
		memcpy(hash, e->hash, CT_HASH_HEX);
		pthread_mutex_unlock(&apps_mu);
		return 0;
	}
	pthread_mutex_unlock(&apps_mu);

	res = req_sql(r, "SELECT key_hash FROM crosstalk.apps WHERE id = $1", 1,
		      params, 1);
	if (!res)
		return -1;
	snprintf(hash, CT_HASH_HEX, "%s",
		 PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);

	pthread_mutex_lock(&apps_mu);
	if (!e)
		e = old;
	snprintf(e->id, sizeof(e->id), "%s", app);
	memcpy(e->hash, hash, CT_HASH_HEX);
	e->at = now;
	pthread_mutex_unlock(&apps_mu);
	return 0;
}

int
req_auth_app(struct req *r)
{
	const char *h = req_param(r, "HTTP_AUTHORIZATION");
	char app[33], want[CT_HASH_HEX], got[CT_HASH_HEX];

	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		req_error(r, CT_EUNAUTH,
			  "send the API key as Authorization: Bearer <key>");
		return -1;
	}
	h += 7;
	while (*h == ' ')
		h++;
	if (ct_auth_key_app(h, app, sizeof(app)) != 0 ||
	    !ct_valid_app_id(app) || strlen(h) > 256) {
		req_error(r, CT_EUNAUTH, "bad API key");
		return -1;
	}
	if (app_hash(r, app, want) != 0)
		return -1;
	ct_auth_hash_hex(h, got);
	/* hash both sides always: the time taken does not tell whether the
	 * app exists */
	if (!want[0] || !ct_auth_equal(want, got)) {
		req_error(r, CT_EUNAUTH, "bad API key");
		return -1;
	}
	memcpy(r->app, app, sizeof(app));
	return 0;
}

/* The request's session ref (X-Crosstalk-Session, else the session field)
 * into *ref, or NULL; -1 after an error answer. */
static int
session_of(struct req *r, int required, const char **ref)
{
	*ref = req_param(r, "HTTP_X_CROSSTALK_SESSION");
	if (!*ref || !**ref) {
		int f = input_str(r->in, "session", ref);

		if (f < 0) {
			req_error(r, CT_EINVALID, "session must be a string");
			return -1;
		}
		if (f == 0)
			*ref = NULL;
	}
	if (!*ref) {
		if (required) {
			req_error(r, CT_EUNAUTH,
				  "this request needs the user's session "
				  "(session field or X-Crosstalk-Session)");
			return -1;
		}
		return 0;
	}
	if (strlen(*ref) > 512) {
		req_error(r, CT_EUNAUTH, "session is not logged in");
		return -1;
	}
	return 0;
}

int
req_session_ref(struct req *r)
{
	const char *ref;

	if (session_of(r, 1, &ref) != 0)
		return -1;
	r->session = ref;
	return 0;
}

int
req_auth_user(struct req *r, int required)
{
	const char *ref, *params[2];
	PGresult *res;

	if (session_of(r, required, &ref) != 0)
		return -1;
	if (!ref)
		return 0;
	params[0] = r->app;
	params[1] = ref;
	res = req_sql(r,
		      "SELECT user_id, display_name, refusal FROM "
		      "crosstalk.session_user($1, $2)",
		      2, params, 1);
	if (!res)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		req_error(r, CT_EUNAUTH, "session is not logged in");
		return -1;
	}
	if (!PQgetisnull(res, 0, 2)) { /* an id its app's namespace refuses */
		req_error(r, CT_EINVALID, "%s", PQgetvalue(res, 0, 2));
		PQclear(res);
		return -1;
	}
	r->user_id = strdup(PQgetvalue(res, 0, 0));   /* freed in req_done */
	r->user_name = strdup(PQgetvalue(res, 0, 1)); /* freed in req_done */
	PQclear(res);
	if (!r->user_id || !r->user_name) {
		req_error(r, CT_ENOMEM, "out of memory");
		return -1;
	}
	r->session = ref;
	return 0;
}

void
req_reply_sql(struct req *r, const char *sql, int n, const char *const *params,
	      int idempotent)
{
	PGresult *res = req_sql(r, sql, n, params, idempotent);
	json_t *doc;

	if (!res)
		return;
	if ((doc = req_json_col(r, res, 0, 0)))
		req_reply(r, 200, doc);
	PQclear(res);
}

PGresult *
req_sql_try(struct req *r, const char *sql, int n, const char *const *params,
	    int idempotent, int *rc, char *msg, size_t msglen)
{
	PGresult *res;
	int lost;

	res = pool_exec(r->w, sql, n, params, rc, msg, msglen, NULL, &lost);
	if (!res && lost && idempotent) /* a read: once more, reconnected */
		res = pool_exec(r->w, sql, n, params, rc, msg, msglen, NULL,
				&lost);
	return res; /* caller PQclear()s */
}

PGresult *
req_sql(struct req *r, const char *sql, int n, const char *const *params,
	int idempotent)
{
	char msg[256];
	PGresult *res;
	int rc;

	res = req_sql_try(r, sql, n, params, idempotent, &rc, msg, sizeof(msg));
	if (!res)
		req_error(r, rc, "%s", msg);
	return res;
}

json_t *
req_json_col(struct req *r, PGresult *res, int row, int col)
{
	json_t *v = NULL;

	if (row < PQntuples(res) && !PQgetisnull(res, row, col))
		v = json_loads(PQgetvalue(res, row, col), JSON_DECODE_ANY,
			       NULL); /* caller owns */
	if (!v)
		req_error(r, CT_EINTERNAL, "unexpected database answer");
	return v;
}

int
req_str(struct req *r, const char *key, const char *name, int required,
	const char **out)
{
	int f = input_str(r->in, key, out);

	if (f < 0) {
		req_error(r, CT_EINVALID, "%s must be a string", name);
		return -1;
	}
	if (f == 0 && required) {
		req_error(r, CT_EINVALID, "%s is required", name);
		return -1;
	}
	return f;
}

int
req_long(struct req *r, const char *key, const char *name, long min, long max,
	 long *out)
{
	int f = input_long(r->in, key, min, max, out);

	if (f < 0) {
		req_error(r, CT_EINVALID, "%s must be a whole number %ld..%ld",
			  name, min, max);
		return -1;
	}
	return f;
}

int
req_bool(struct req *r, const char *key, const char *name, int *out)
{
	int f = input_bool(r->in, key, out);

	if (f < 0) {
		req_error(r, CT_EINVALID, "%s must be a boolean", name);
		return -1;
	}
	return f;
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

	if (r->replied) {
		json_decref(body);
		return;
	}
	if (!body)
		body = json_object();
	if (!json_object_get(body, "ok"))
		json_object_set_new(body, "ok", json_boolean(status < 400));
	text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII); /* owned */
	json_decref(body);
	if (!text) {
		static const char oom[] =
			"{\"ok\":false,\"error\":{\"code\":\"unavailable\","
			"\"message\":\"out of memory\"}}";

		req_reply_json(r, 503, oom, sizeof(oom) - 1);
		return;
	}
	req_reply_json(r, status, text, strlen(text));
	free(text);
}

void
req_reply_json(struct req *r, int status, const char *json, size_t n)
{
	char head[512];

	if (r->replied)
		return;
	/* libfcgi's own printf lacks %zu: format the headers here */
	snprintf(head, sizeof(head),
		 "Content-Type: application/json; charset=utf-8\r\n"
		 "Content-Length: %zu\r\n"
		 "Cache-Control: no-store\r\n"
		 "X-Content-Type-Options: nosniff\r\n"
		 "%s%s",
		 n, extra_header, extra_header[0] ? "\r\n" : "");
	req_reply_head(r, status, head);
	FCGX_PutStr(json, (int)n, r->fr->out);
}

void
req_reply_head(struct req *r, int status, const char *headers)
{
	char line[64];
	int n;

	if (r->replied)
		return;
	r->replied = 1;
	r->status = status;
	n = snprintf(line, sizeof(line), "Status: %d %s\r\n", status,
		     reason(status));
	FCGX_PutStr(line, n, r->fr->out);
	FCGX_PutStr(headers, (int)strlen(headers), r->fr->out);
	FCGX_PutStr("\r\n", 2, r->fr->out);
}

void
req_reply_text(struct req *r, int status, const char *ctype, const char *text,
	       size_t len)
{
	char head[256];

	if (r->replied)
		return;
	snprintf(head, sizeof(head),
		 "Content-Type: %s\r\nContent-Length: %zu\r\n"
		 "Cache-Control: no-store\r\n",
		 ctype, len);
	req_reply_head(r, status, head);
	FCGX_PutStr(text, (int)len, r->fr->out);
}

void
req_error(struct req *r, int ct_err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* messages may quote input: keep the JSON encodable */
	if (ct_utf8_count(msg, strlen(msg)) < 0)
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
	if (ct_err == CT_EINTERNAL)
		ct_err("msg=\"internal error\" path=%s error=%s",
		       ct_log_q(r->path), ct_log_q(msg));
	/* unavailable (a database outage, a channel locked past
	 * lock_timeout, a full queue) is worth a retry soon */
	if ((ct_err == CT_EUNAVAIL || ct_err == CT_ENOMEM) && !extra_header[0])
		req_header(r, "Retry-After: 1");
	req_reply(r, ct_err_status(ct_err),
		  json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code",
			    ct_err_code(ct_err), "message", msg));
}

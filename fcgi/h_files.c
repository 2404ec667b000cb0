/* h_files.c - attachments: POST attachments (a multipart upload streamed
 * into PostgreSQL in 256-KiB chunks inside one transaction, its type found
 * from its bytes by libmagic), attachments/url (a signed link for the
 * session's user) and files (a signed link: the file, chunk by chunk).
 * Nothing here holds a whole file: the multipart window, one chunk, and
 * one chunk of the answer at a time. */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <magic.h>

#include "core/config.h"
#include "core/err.h"
#include "core/filesig.h"
#include "core/log.h"
#include "core/util.h"
#include "fcgi/fcgi.h"
#include "fcgi/input.h"
#include "fcgi/multipart.h"
#include "fcgi/pool.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

#define CHUNK          (256 * 1024)
#define FIELD_MAX      CT_UPLOAD_TOKEN_MAX
#define NAME_MAX_BYTES 600 /* 200 characters of up to 3 bytes */

static char *secret; /* crosstalk.settings 'file_secret'; owned; NULL: off */

/* libmagic's cookie is not safe across threads: one per worker thread,
 * closed when the thread ends. */
static pthread_key_t magic_key;
static pthread_once_t magic_once = PTHREAD_ONCE_INIT;

static void
magic_free(void *m)
{
	magic_close(m);
}

static void
magic_key_make(void)
{
	if (pthread_key_create(&magic_key, magic_free) != 0)
		ct_err("msg=\"pthread_key_create failed\"");
}

static magic_t
thread_magic(void)
{
	magic_t m;

	pthread_once(&magic_once, magic_key_make);
	if ((m = pthread_getspecific(magic_key)))
		return m;
	if (!(m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR))) /* per thread */
		return NULL;
	if (magic_load(m, NULL) != 0) {
		ct_err("msg=\"libmagic: no database\" error=%s",
		       ct_log_q(magic_error(m) ? magic_error(m) : "?"));
		magic_close(m);
		return NULL;
	}
	pthread_setspecific(magic_key, m);
	return m;
}

int
files_init(const char *file_secret)
{
	free(secret);
	secret = NULL;
	if (file_secret && *file_secret && !(secret = strdup(file_secret)))
		return -1;
	return 0;
}

void
files_free(void)
{
	free(secret);
	secret = NULL;
}

static int
enabled(struct req *r)
{
	if (secret)
		return 1;
	req_error(r, CT_EUNAVAIL,
		  "attachments need the schema of crosstalkctl migrate "
		  "(version 18) and a restart");
	return 0;
}

/* Is type one of the words of list? A word ending in '*' matches every
 * type it begins ("text/", "application/vnd.oasis.opendocument."). */
static int
type_allowed(const char *list, const char *type)
{
	size_t tl = strlen(type);

	for (const char *p = list; *p;) {
		size_t n;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		n = strcspn(p, " ,\t");
		if (n == 0)
			break;
		if (p[n - 1] == '*'
			    ? tl >= n - 1 && strncmp(p, type, n - 1) == 0
			    : tl == n && strncmp(p, type, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* PNG, JPEG, GIF and WebP show in the page; everything else downloads. */
static int
inline_image(const char *type)
{
	return strcmp(type, "image/png") == 0 ||
	       strcmp(type, "image/jpeg") == 0 ||
	       strcmp(type, "image/gif") == 0 ||
	       strcmp(type, "image/webp") == 0;
}

/* ---- POST attachments ---------------------------------------------------- */

enum { F_NONE, F_CHANNEL, F_TOKEN, F_SESSION, F_OTHER };

struct upload {
	struct req *r;
	const struct ct_cfg *cfg;
	/* the plain field being read */
	int field;
	char val[FIELD_MAX + 1];
	size_t vlen;
	char channel[300];
	char token[FIELD_MAX + 1];
	/* the file */
	int in_file, had_file, began; /* began: BEGIN sent */
	char app[33];
	char *user; /* owned */
	char name[NAME_MAX_BYTES + 1];
	char type[128];
	char id[24];
	int n;       /* chunks stored */
	char *chunk; /* owned, CHUNK bytes */
	size_t clen;
	int64_t size;
	/* the first failure: answered after the body is read */
	int rc;
	int replied;
	char msg[256];
};

static int
up_fail(struct upload *u, int rc, const char *fmt, const char *arg)
{
	if (u->rc == CT_OK && !u->replied) {
		u->rc = rc;
		snprintf(u->msg, sizeof(u->msg), fmt, arg);
	}
	return rc;
}

/* Statement on the upload's connection; NULL after recording the error. */
static PGresult *
up_sql(struct upload *u, const char *sql, int n, const char *const *pv,
       const struct pool_bin *bin)
{
	char msg[256];
	PGresult *res;
	int rc, lost;

	res = pool_exec_bin(u->r->w, sql, n, pv, bin, &rc, msg, sizeof(msg),
			    NULL, &lost);
	if (!res)
		up_fail(u, rc, "%s", msg);
	return res;
}

/* The filename as stored: its last path segment (old browsers send the
 * client's whole path), valid UTF-8, at most 200 characters. */
static void
clean_name(const char *in, char *out, size_t outlen)
{
	const char *b = in;
	size_t n;

	for (const char *p = in; *p; p++)
		if (*p == '/' || *p == '\\')
			b = p + 1;
	n = strlen(b);
	if (n >= outlen)
		n = outlen - 1;
	/* cut back to a character boundary, then to 200 characters */
	while (n > 0 && ct_utf8_count(b, n) < 0)
		n--;
	while (n > 0 && ct_utf8_count(b, n) > 200)
		n--;
	memcpy(out, b, n);
	out[n] = 0;
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '_';
	if (!out[0])
		snprintf(out, outlen, "file");
}

/* Who uploads: the token's user (a browser), or the key's app and the
 * session's user (an app server). 0, or the failure is recorded. */
static int
up_auth(struct upload *u)
{
	struct req *r = u->r;
	const char *qtok = NULL;
	char tch[300], user[600];
	int64_t exp;

	if (!u->token[0] && input_str(r->in, "token", &qtok) == 1)
		snprintf(u->token, sizeof(u->token), "%s", qtok);
	if (u->token[0]) {
		if (ct_upload_token_open(secret, u->token, u->app,
					 sizeof(u->app), user, sizeof(user),
					 tch, sizeof(tch), &exp) != 0)
			return up_fail(u, CT_EUNAUTH, "%s", "bad upload token");
		if (exp < ct_now_ms() / 1000)
			return up_fail(u, CT_EUNAUTH, "%s",
				       "the upload token expired: ask for a "
				       "new one");
		if (u->channel[0] && strcmp(u->channel, tch) != 0)
			return up_fail(u, CT_EFORBIDDEN, "%s",
				       "the upload token is for another "
				       "channel");
		snprintf(u->channel, sizeof(u->channel), "%s", tch);
		if (!(u->user = strdup(user)))
			return up_fail(u, CT_ENOMEM, "%s", "out of memory");
		return 0;
	}
	/* these answer errors themselves */
	if (req_auth_app(r) != 0 || req_auth_user(r, 1) != 0) {
		u->replied = 1;
		return -1;
	}
	memcpy(u->app, r->app, sizeof(u->app));
	if (!(u->user = strdup(r->user_id)))
		return up_fail(u, CT_ENOMEM, "%s", "out of memory");
	if (!u->channel[0]) {
		const char *c = NULL;

		if (input_str(r->in, "channel", &c) == 1)
			snprintf(u->channel, sizeof(u->channel), "%s", c);
	}
	if (!u->channel[0])
		return up_fail(u, CT_EINVALID, "%s",
			       "channel is required (before the file part, "
			       "or in the query string)");
	return 0;
}

/* Store the chunk buffered so far; the first one also sniffs the type and
 * starts the transaction. */
static int
up_flush(struct upload *u)
{
	static const char q_start[] =
		"SELECT crosstalk.attachment_start($1, $2, $3, $4, $5)";
	static const char q_chunk[] =
		"INSERT INTO crosstalk.attachment_chunks (attachment_id, n, "
		"data) VALUES ($1, $2, $3)";
	char n[16];
	PGresult *res;

	if (!u->began) {
		magic_t m = thread_magic();
		const char *t = m ? magic_buffer(m, u->chunk, u->clen) : NULL;
		const char *pv[5] = { u->app, u->user, u->channel, u->name,
				      u->type };

		if (!t)
			return up_fail(u, CT_EUNAVAIL, "%s",
				       "cannot tell the file's type now");
		snprintf(u->type, sizeof(u->type), "%s", t);
		if (!type_allowed(u->cfg->att_types, u->type))
			return up_fail(u, CT_EMEDIA,
				       "files of type %s are not accepted "
				       "here",
				       u->type);
		if (!(res = up_sql(u, "BEGIN", 0, NULL, NULL)))
			return u->rc;
		PQclear(res);
		u->began = 1;
		if (!(res = up_sql(u, q_start, 5, pv, NULL)))
			return u->rc;
		snprintf(u->id, sizeof(u->id), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	snprintf(n, sizeof(n), "%d", u->n);
	{
		const char *pv[3] = { u->id, n, u->chunk };
		const int lens[3] = { 0, 0, (int)u->clen };
		const int fmts[3] = { 0, 0, 1 };
		const struct pool_bin bin = { lens, fmts, 0 };

		if (!(res = up_sql(u, q_chunk, 3, pv, &bin)))
			return u->rc;
		PQclear(res);
	}
	u->n++;
	u->clen = 0;
	return CT_OK;
}

static int
on_begin(void *ud, const struct mp_part *p)
{
	struct upload *u = ud;
	char key[MP_NAME_MAX];

	if (u->rc != CT_OK || u->replied)
		return CT_EBADREQ;
	input_key(p->name, key, sizeof(key));
	if (p->is_file && strcmp(key, "file") == 0) {
		if (u->had_file)
			return up_fail(u, CT_EINVALID, "%s",
				       "one file per upload");
		if (up_auth(u) != 0)
			return u->replied ? CT_EBADREQ : u->rc;
		clean_name(p->filename, u->name, sizeof(u->name));
		u->in_file = 1;
		return CT_OK;
	}
	u->field = strcmp(key, "channel") == 0   ? F_CHANNEL
		   : strcmp(key, "token") == 0   ? F_TOKEN
		   : strcmp(key, "session") == 0 ? F_SESSION
						 : F_OTHER;
	u->vlen = 0;
	return CT_OK;
}

static int
on_data(void *ud, const char *buf, size_t len)
{
	struct upload *u = ud;

	if (u->in_file) {
		u->size += (int64_t)len;
		if (u->size > u->cfg->att_max_size) {
			char lim[32];

			snprintf(lim, sizeof(lim), "%d", u->cfg->att_max_size);
			return up_fail(u, CT_ETOOLARGE,
				       "a file is at most %s bytes", lim);
		}
		while (len > 0) {
			size_t n =
				CHUNK - u->clen < len ? CHUNK - u->clen : len;
			int rc;

			memcpy(u->chunk + u->clen, buf, n);
			u->clen += n;
			buf += n;
			len -= n;
			if (u->clen == CHUNK && (rc = up_flush(u)) != CT_OK)
				return rc;
		}
		return CT_OK;
	}
	if (u->field == F_OTHER)
		return CT_OK; /* fields the upload does not use: dropped */
	if (u->vlen + len > FIELD_MAX)
		return up_fail(u, CT_ETOOLARGE, "%s",
			       "a form field before the file is too long");
	memcpy(u->val + u->vlen, buf, len);
	u->vlen += len;
	return CT_OK;
}

static int
on_end(void *ud)
{
	struct upload *u = ud;

	if (u->in_file) {
		u->in_file = 0;
		u->had_file = 1;
		if (u->size == 0)
			return up_fail(u, CT_EINVALID, "%s",
				       "the file is empty");
		return u->clen ? up_flush(u) : CT_OK;
	}
	u->val[u->vlen] = 0;
	if (memchr(u->val, 0, u->vlen))
		return up_fail(u, CT_EINVALID, "%s", "a field holds a NUL");
	if (u->field == F_CHANNEL && u->vlen >= sizeof(u->channel))
		return up_fail(u, CT_EINVALID, "%s", "channel is too long");
	if (u->field == F_CHANNEL)
		memcpy(u->channel, u->val, u->vlen + 1);
	else if (u->field == F_TOKEN)
		snprintf(u->token, sizeof(u->token), "%s", u->val);
	else if (u->field == F_SESSION)
		json_object_set_new(u->r->in, "session", json_string(u->val));
	u->field = F_NONE;
	return CT_OK;
}

/* Read what is left of the body, so the web server sees it taken. */
static void
drain(struct req *r)
{
	char buf[16384];

	while (FCGX_GetStr(buf, sizeof(buf), r->fr->in) > 0)
		;
}

void
h_attachments(struct req *r)
{
	static const struct mp_cb cb = { on_begin, on_data, on_end };
	const struct ct_cfg *cfg = r->w->cfg;
	const char *cl = req_param(r, "CONTENT_LENGTH");
	struct upload *u = NULL; /* owned */
	struct mp *m = NULL;     /* owned */
	char *buf = NULL;        /* owned */
	json_t *att;
	PGresult *res;
	long clen = -1;
	int rc;

	/* browsers upload with a token and read the answer cross-origin */
	req_header(r, "Access-Control-Allow-Origin: *");
	if (req_read_query(r) != 0 || !enabled(r))
		goto out;
	if (cl && *cl && ct_parse_long(cl, 0, LONG_MAX, &clen) != 0) {
		req_error(r, CT_EBADREQ, "bad Content-Length");
		goto out;
	}
	/* the file plus what a form wraps around it */
	if (clen > (long)cfg->att_max_size + 65536) {
		req_error(r, CT_ETOOLARGE, "a file is at most %d bytes",
			  cfg->att_max_size);
		goto out;
	}
	u = calloc(1, sizeof(*u));
	m = malloc(sizeof(*m));
	buf = malloc(MP_WINDOW);
	if (!u || !m || !buf || !(u->chunk = malloc(CHUNK))) {
		req_error(r, CT_ENOMEM, "out of memory");
		goto out;
	}
	u->r = r;
	u->cfg = cfg;
	if ((rc = mp_init(m, req_param(r, "CONTENT_TYPE"))) != CT_OK) {
		req_error(r, rc, "%s", m->err);
		goto out;
	}
	for (;;) {
		int got = FCGX_GetStr(buf, MP_WINDOW, r->fr->in);

		if (got <= 0)
			break;
		if ((rc = mp_feed(m, buf, (size_t)got, &cb, u)) != CT_OK) {
			if (u->rc == CT_OK && !u->replied)
				up_fail(u, rc, "%s", m->err);
			break;
		}
	}
	if (u->rc == CT_OK && !u->replied && mp_finish(m) != CT_OK)
		up_fail(u, CT_EBADREQ, "%s", m->err);
	if (u->rc == CT_OK && !u->replied && !u->had_file)
		up_fail(u, CT_EINVALID, "%s",
			"no file: send it in a part named \"file\" with a "
			"filename");
	if (u->rc == CT_OK && !u->replied) {
		char size[24];
		const char *pv[2] = { u->id, size };

		snprintf(size, sizeof(size), "%" PRId64, u->size);
		if ((res = up_sql(u,
				  "SELECT crosstalk.attachment_finish($1, "
				  "$2)",
				  2, pv, NULL))) {
			att = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
			PQclear(res);
			if ((res = up_sql(u, "COMMIT", 0, NULL, NULL))) {
				PQclear(res);
				u->began = 0;
				ct_info("msg=\"upload\" app=%s channel=%s "
					"id=%s bytes=%" PRId64 " type=%s",
					u->app, ct_log_q(u->channel), u->id,
					u->size, u->type);
				req_reply(
					r, 201,
					json_pack("{s:o?}", "attachment", att));
			} else {
				json_decref(att);
			}
		}
	}
	if (u->began) { /* failed after BEGIN: nothing of it stays */
		res = up_sql(u, "ROLLBACK", 0, NULL, NULL);
		PQclear(res);
	}
	if (!r->replied)
		req_error(r, u->rc != CT_OK ? u->rc : CT_EINTERNAL, "%s",
			  u->msg);
out:
	drain(r);
	if (u) {
		free(u->chunk);
		free(u->user);
	}
	free(u);
	free(m);
	free(buf);
}

/* ---- signed links ------------------------------------------------------- */

/* A signed link to attachment id for user of app, into out. */
static int
make_link(const struct ct_cfg *cfg, long id, const char *app, const char *user,
	  int64_t *exp_ms, char *out, size_t outlen)
{
	char q[CT_FILE_LINK_MAX];
	int64_t exp = ct_now_ms() / 1000 + cfg->att_url_ttl;
	int n;

	if (ct_file_link(secret, id, app, user, exp, q, sizeof(q)) != 0)
		return -1;
	n = snprintf(out, outlen, "%s/files?%s", cfg->http_public_api_url, q);
	*exp_ms = exp * 1000;
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

void
h_attachments_url(struct req *r)
{
	char url[CT_FILE_LINK_MAX + 512];
	const char *pv[3];
	PGresult *res;
	int64_t exp_ms;
	long id;

	if (!enabled(r) || req_str(r, "id", "id", 1, &pv[0]) < 0)
		return;
	if (ct_parse_long(pv[0], 1, LONG_MAX, &id) != 0) {
		req_error(r, CT_EINVALID, "id must be an attachment id");
		return;
	}
	pv[1] = r->app;
	pv[2] = r->user_id;
	/* only for a reader of the file now (the link checks again) */
	if (!(res = req_sql(r,
			    "SELECT name FROM crosstalk.attachment_open("
			    "$1, $2, $3)",
			    3, pv, 1)))
		return;
	PQclear(res);
	if (make_link(r->w->cfg, id, r->app, r->user_id, &exp_ms, url,
		      sizeof(url)) != 0) {
		req_error(r, CT_EINVALID, "cannot sign a link for this user");
		return;
	}
	req_reply(r, 200,
		  json_pack("{s:s, s:I}", "url", url, "expires_at_ms",
			    (json_int_t)exp_ms));
}

/* Content-Disposition with the name as an RFC 6266 filename* (UTF-8) and
 * an ASCII fallback. */
static void
disposition(const char *how, const char *name, char *out, size_t outlen)
{
	char enc[NAME_MAX_BYTES * 3 + 1], ascii[NAME_MAX_BYTES + 1];
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)name;
	     *p && o < sizeof(ascii) - 1; p++)
		ascii[o++] =
			(*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
				? '_'
				: (char)*p;
	ascii[o] = 0;
	if (ct_url_encode(name, enc, sizeof(enc)) != 0)
		snprintf(enc, sizeof(enc), "file");
	snprintf(out, outlen,
		 "Content-Disposition: %s; filename=\"%s\"; "
		 "filename*=UTF-8''%s\r\n",
		 how, ascii, enc);
}

void
h_files(struct req *r)
{
	static const char q_open[] = "SELECT name, type, size, chunks FROM "
				     "crosstalk.attachment_open($1, $2, $3)";
	static const char q_chunk[] =
		"SELECT data FROM crosstalk.attachment_chunks "
		"WHERE attachment_id = $1 AND n = $2";
	const char *id = NULL, *app = NULL, *user = NULL, *sig = NULL;
	char head[4096], disp[NAME_MAX_BYTES * 4 + 128];
	long nid, exp = 0, chunks;
	int64_t now = ct_now_ms() / 1000;
	PGresult *res = NULL;
	int open = 0;

	if (!enabled(r))
		return;
	if (input_str(r->in, "id", &id) != 1 ||
	    ct_parse_long(id, 1, LONG_MAX, &nid) != 0 ||
	    input_str(r->in, "a", &app) != 1 ||
	    input_str(r->in, "u", &user) != 1 ||
	    input_long(r->in, "e", 0, LONG_MAX, &exp) != 1 ||
	    input_str(r->in, "s", &sig) != 1 ||
	    !ct_file_link_ok(secret, nid, app, user, exp, sig)) {
		req_error(r, CT_EFORBIDDEN, "not a valid link to a file");
		return;
	}
	if (exp < now) {
		req_error(r, CT_EFORBIDDEN,
			  "this link expired: ask for a new one");
		return;
	}
	/* one snapshot: a delete while the file goes out does not cut it */
	if (!(res = req_sql(r,
			    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
			    0, NULL, 0)))
		return;
	PQclear(res);
	open = 1;
	{
		const char *pv[3] = { id, app, user };

		if (!(res = req_sql(r, q_open, 3, pv, 0)))
			goto out;
	}
	if (PQntuples(res) != 1 ||
	    ct_parse_long(PQgetvalue(res, 0, 3), 0, INT_MAX, &chunks) != 0) {
		req_error(r, CT_EINTERNAL, "unexpected database answer");
		goto out;
	}
	disposition(inline_image(PQgetvalue(res, 0, 1)) ? "inline"
							: "attachment",
		    PQgetvalue(res, 0, 0), disp, sizeof(disp));
	snprintf(head, sizeof(head),
		 "Content-Type: %s\r\n"
		 "Content-Length: %s\r\n"
		 "%s"
		 "X-Content-Type-Options: nosniff\r\n"
		 "Content-Security-Policy: default-src 'none'; sandbox\r\n"
		 "Referrer-Policy: no-referrer\r\n"
		 "Cache-Control: private, max-age=%ld\r\n",
		 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), disp,
		 exp - (long)now);
	PQclear(res);
	res = NULL;
	req_reply_head(r, 200, head);
	if (strcmp(r->method, "HEAD") == 0)
		goto out;
	for (long n = 0; n < chunks; n++) {
		char nb[24], msg[256];
		const char *pv[2] = { id, nb };
		const struct pool_bin bin = { NULL, NULL, 1 };
		int rc, lost;

		snprintf(nb, sizeof(nb), "%ld", n);
		res = pool_exec_bin(r->w, q_chunk, 2, pv, &bin, &rc, msg,
				    sizeof(msg), NULL, &lost);
		if (!res || PQntuples(res) != 1) {
			/* the head is out: all we can do is end short */
			ct_warn("msg=\"file cut short\" id=%s chunk=%ld "
				"error=%s",
				id, n, ct_log_q(res ? "missing" : msg));
			break;
		}
		FCGX_PutStr(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0),
			    r->fr->out);
		PQclear(res);
		res = NULL;
	}
out:
	PQclear(res);
	if (open) {
		char msg[256];
		int rc, lost;

		res = pool_exec(r->w, "COMMIT", 0, NULL, &rc, msg, sizeof(msg),
				NULL, &lost);
		PQclear(res);
	}
}

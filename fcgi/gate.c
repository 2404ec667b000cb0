/* gate.c - channel hooks in crosstalk-fcgi: a user's post (key + session)
 * to a channel with a publish hook (core/chook.h) waits for the hook's
 * answer: allowed as is, with the hook's new text, or refused. The call
 * runs in the request's own thread (each request has one) with libcurl's
 * easy interface, holding no database connection while it waits. A bot's
 * post (the app's own voice) is not asked. The hook list is read at most
 * every 5 s per process. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/chook.h"
#include "core/config.h"
#include "core/err.h"
#include "core/hookcall.h"
#include "core/log.h"
#include "core/util.h"
#include "fcgi/fcgi.h"
#include "fcgi/pool.h"
#include "fcgi/req.h"

#define HOOKS_TTL_MS 5000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct ct_chooks hooks; /* under mu */
static int64_t loaded_ms;      /* under mu; 0: never */

/* The list, read again when it is older than HOOKS_TTL_MS; on a failure
 * the list we had stays. */
static void
refresh(struct req *r)
{
	int64_t now = ct_mono_ms();
	struct ct_chooks next;
	PGresult *res;
	char msg[256];
	int rc, stale;

	pthread_mutex_lock(&mu);
	stale = !loaded_ms || now - loaded_ms > HOOKS_TTL_MS;
	if (stale)
		loaded_ms = now; /* one thread reads; the others use the list */
	pthread_mutex_unlock(&mu);
	if (!stale)
		return;
	res = req_sql_try(r, CT_CHOOKS_SQL, 0, NULL, 1, &rc, msg, sizeof(msg));
	if (!res || ct_chooks_load(&next, res) != 0) {
		PQclear(res);
		return;
	}
	PQclear(res);
	pthread_mutex_lock(&mu);
	ct_chooks_free(&hooks);
	hooks = next;
	pthread_mutex_unlock(&mu);
}

/* A copy of the hook for channel (its strings malloc'd), or -1: none. */
static int
match(const char *channel, struct ct_chook *out)
{
	const struct ct_chook *h;
	int rc = -1;

	pthread_mutex_lock(&mu);
	if ((h = ct_chook_match(&hooks, channel, CT_CHOOK_PUBLISH))) {
		*out = *h;
		out->pattern = NULL;
		out->url = strdup(h->url);
		out->secret = strdup(h->secret);
		rc = out->url && out->secret ? 0 : -1;
		if (rc) {
			free(out->url);
			free(out->secret);
		}
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

int
gate_publish(struct req *r, const char *channel, const char **text,
	     const char *client_id, char **rewritten)
{
	struct ct_chook h;
	struct ct_hookcall c;
	char msg[256], err[CURL_ERROR_SIZE];
	long status;
	int v;

	*rewritten = NULL;
	refresh(r);
	if (match(channel, &h) != 0)
		return 0;
	/* the hook is told who posts: the session, resolved now */
	if (!r->user_id && req_auth_user(r, 1) != 0)
		goto refused;
	pool_release(r->w); /* no connection held while the hook thinks */
	if (ct_hookcall_init(
		    &c, h.url, h.secret, "publish", NULL,
		    ct_chook_body(CT_CHOOK_PUBLISH, channel, r->app, r->user_id,
				  r->user_name, *text, client_id),
		    h.timeout_ms, 1, "crosstalk-channel-hook/1") != 0) {
		ct_hookcall_free(&c);
		status = 0;
		snprintf(err, sizeof(err), "out of memory");
	} else {
		status = ct_hookcall_status(&c, curl_easy_perform(c.easy), err,
					    sizeof(err));
	}
	v = ct_chook_verdict(CT_CHOOK_PUBLISH, status, c.answer,
			     r->w->cfg->lim_text_max, rewritten, msg,
			     sizeof(msg));
	ct_hookcall_free(&c);
	if (v == CT_CHOOK_FAILED)
		ct_warn("msg=\"channel hook failed\" channel=%s reason=%s "
			"detail=%s policy=%s",
			ct_log_q(channel), ct_log_q(msg), ct_log_q(err),
			h.fail_open ? "open" : "closed");
	free(h.url);
	free(h.secret);
	if (v == CT_CHOOK_DENY) {
		req_error(r, CT_EFORBIDDEN, "%s", msg);
		return -1;
	}
	if (v == CT_CHOOK_FAILED && !h.fail_open) {
		req_error(r, CT_EUNAVAIL, "%s", msg);
		return -1;
	}
	if (*rewritten)
		*text = *rewritten;
	return 0;
refused:
	free(h.url);
	free(h.secret);
	return -1;
}

void
gate_free(void)
{
	pthread_mutex_lock(&mu);
	ct_chooks_free(&hooks);
	loaded_ms = 0;
	pthread_mutex_unlock(&mu);
}

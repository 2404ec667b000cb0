/* metrics.c - GET metrics: request counters by endpoint and status,
 * durations, long-poll and pool gauges, in Prometheus' text format, for
 * the addresses in [http] metrics_allow or the bearer of metrics_token
 * (core/metrics.h decides, renders the histogram). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/err.h"
#include "core/metrics.h"
#include "fcgi/fcgi.h"
#include "fcgi/pool.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

#define MAX_ROUTES 32 /* the last row counts unknown paths */

/* 499: a long-poll whose client left while it waited (park.c), as
 * nginx counts it; 500 stays second to last */
static const int statuses[] = { 200, 201, 400, 401, 403, 404, 405, 409,
				413, 415, 422, 429, 499, 500, 503 };
#define NSTATUS ((int)(sizeof(statuses) / sizeof(statuses[0])))

static unsigned long requests[MAX_ROUTES + 1][NSTATUS];
static unsigned long long usec_sum[MAX_ROUTES + 1];
static unsigned long polls_refused;
static struct ct_histogram answer_hist = {
	.name = "crosstalk_fcgi_request_seconds",
	.help = "Time to answer a request (messages/poll excluded: it may "
		"wait).",
};

void
metrics_request(int route, int status, int64_t usec)
{
	int s = NSTATUS - 2; /* anything unexpected counts as a 500 */

	if (route < 0 || route >= MAX_ROUTES)
		route = MAX_ROUTES;
	for (int i = 0; i < NSTATUS; i++)
		if (statuses[i] == status)
			s = i;
	__atomic_fetch_add(&requests[route][s], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&usec_sum[route],
			   (unsigned long long)(usec > 0 ? usec : 0),
			   __ATOMIC_RELAXED);
	if (route == MAX_ROUTES || !route_name(route) ||
	    strcmp(route_name(route), "messages/poll") != 0)
		ct_hist_observe(&answer_hist, (double)usec / 1000.0);
}

void
metrics_poll_refused(void)
{
	__atomic_fetch_add(&polls_refused, 1, __ATOMIC_RELAXED);
}

/* Append to a growing buffer; on failure *buf is freed and NULL. */
static void add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
add(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!*buf)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			free(*buf);
			*buf = NULL;
			return;
		}
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return;
		}
		char *grown = realloc(*buf, *cap * 2 + (size_t)n);

		if (!grown) {
			free(*buf);
			*buf = NULL;
			return;
		}
		*buf = grown;
		*cap = *cap * 2 + (size_t)n;
	}
}

void
h_metrics(struct req *r)
{
	const struct ct_cfg *cfg = r->w->cfg;
	const char *addr = req_param(r, "REMOTE_ADDR");
	const char *auth = req_param(r, "HTTP_AUTHORIZATION");
	struct ct_histogram *hists[] = { &answer_hist };
	size_t len = 0, cap = 8192;
	unsigned long batches, batched;
	char *buf, *hist;

	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		auth += 7;
	else
		auth = NULL;
	if (!ct_metrics_allowed(cfg->http_metrics_allow, addr,
				cfg->http_metrics_token, auth)) {
		req_error(r, CT_EFORBIDDEN,
			  "metrics are served to [http] metrics_allow or "
			  "with metrics_token only");
		return;
	}
	if (!(buf = malloc(cap))) { /* owned here */
		req_error(r, CT_ENOMEM, "out of memory");
		return;
	}
	add(&buf, &len, &cap,
	    "# HELP crosstalk_fcgi_requests_total Requests answered, by "
	    "endpoint and status.\n"
	    "# TYPE crosstalk_fcgi_requests_total counter\n");
	for (int i = 0; i <= MAX_ROUTES; i++) {
		const char *name = i < MAX_ROUTES ? route_name(i) : "other";

		if (!name)
			continue;
		for (int s = 0; s < NSTATUS; s++) {
			unsigned long v = __atomic_load_n(&requests[i][s],
							  __ATOMIC_RELAXED);
			if (v)
				add(&buf, &len, &cap,
				    "crosstalk_fcgi_requests_total{endpoint="
				    "\"%s\",status=\"%d\"} %lu\n",
				    name, statuses[s], v);
		}
	}
	add(&buf, &len, &cap,
	    "# HELP crosstalk_fcgi_request_seconds_total Time spent "
	    "answering, by endpoint (long-poll waits included).\n"
	    "# TYPE crosstalk_fcgi_request_seconds_total counter\n");
	for (int i = 0; i <= MAX_ROUTES; i++) {
		const char *name = i < MAX_ROUTES ? route_name(i) : "other";
		unsigned long long us;

		if (!name)
			continue;
		us = __atomic_load_n(&usec_sum[i], __ATOMIC_RELAXED);
		if (us)
			add(&buf, &len, &cap,
			    "crosstalk_fcgi_request_seconds_total{endpoint="
			    "\"%s\"} %.6f\n",
			    name, (double)us / 1e6);
	}
	add(&buf, &len, &cap,
	    "# TYPE crosstalk_fcgi_waiting_polls gauge\n"
	    "crosstalk_fcgi_waiting_polls %d\n"
	    "# TYPE crosstalk_fcgi_max_waiters gauge\n"
	    "crosstalk_fcgi_max_waiters %d\n"
	    "# HELP crosstalk_fcgi_polls_not_waited_total Long-polls answered "
	    "at once because max_waiters were waiting.\n"
	    "# TYPE crosstalk_fcgi_polls_not_waited_total counter\n"
	    "crosstalk_fcgi_polls_not_waited_total %lu\n"
	    "# TYPE crosstalk_fcgi_db_connections gauge\n"
	    "crosstalk_fcgi_db_connections %d\n"
	    "# TYPE crosstalk_fcgi_db_connections_busy gauge\n"
	    "crosstalk_fcgi_db_connections_busy %d\n"
	    "# TYPE crosstalk_fcgi_listener_up gauge\n"
	    "crosstalk_fcgi_listener_up %d\n",
	    park_count(), cfg->http_max_waiters,
	    __atomic_load_n(&polls_refused, __ATOMIC_RELAXED),
	    cfg->http_workers, pool_busy(), notify_listening());
	post_batch_stats(&batches, &batched);
	add(&buf, &len, &cap,
	    "# HELP crosstalk_fcgi_post_batches_total Transactions that "
	    "committed more than one post (group commit).\n"
	    "# TYPE crosstalk_fcgi_post_batches_total counter\n"
	    "crosstalk_fcgi_post_batches_total %lu\n"
	    "# HELP crosstalk_fcgi_posts_batched_total Posts committed in "
	    "those transactions.\n"
	    "# TYPE crosstalk_fcgi_posts_batched_total counter\n"
	    "crosstalk_fcgi_posts_batched_total %lu\n"
	    "# HELP crosstalk_fcgi_polls_shared_total Long-polls answered "
	    "with another poll's look after the same wake-up.\n"
	    "# TYPE crosstalk_fcgi_polls_shared_total counter\n"
	    "crosstalk_fcgi_polls_shared_total %lu\n",
	    batches, batched, park_shared_count());
	hist = ct_metrics_render(NULL, 0, hists, 1); /* owned here */
	if (hist)
		add(&buf, &len, &cap, "%s", hist);
	free(hist);
	if (!buf || !hist) {
		free(buf);
		req_error(r, CT_ENOMEM, "out of memory");
		return;
	}
	req_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf,
		       len);
	free(buf);
}

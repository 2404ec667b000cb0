/* hooks.c - webhook delivery: one thread per crosstalk-fcgi process claims
 * due rows of crosstalk.outbox (crosstalk.outbox_claim: FOR UPDATE SKIP
 * LOCKED, so any number of processes and nodes share the work without
 * sending a row twice at once), POSTs each to its hook's URL with libcurl's
 * multi interface ([hooks] concurrency at once, each within [hooks]
 * timeout), and records the outcome (crosstalk.outbox_done: delivered, or
 * retried after [hooks] retry_ms, doubled for each attempt, or parked).
 * libcurl because it is Debian's well-kept HTTP client with TLS, proxies
 * and timeouts done right; its multi interface keeps a hanging endpoint
 * from holding up the others.
 *
 * Each request carries the event's JSON and:
 *   X-Crosstalk-Event: message | mention | member | session
 *   X-Crosstalk-Id: the outbox id (the same on every retry: idempotency)
 *   X-Crosstalk-Timestamp: unix seconds of this attempt
 *   X-Crosstalk-Signature: v1=hex(HMAC-SHA256(secret, timestamp "." body))
 * At least once: a row whose delivery's outcome was not recorded (a crash)
 * is due again when its lease ends. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/config.h"
#include "core/db.h"
#include "core/hookcall.h"
#include "core/log.h"
#include "fcgi/fcgi.h"

#define CLAIM_EVERY_MS 500 /* when nothing was due */

static const struct ct_cfg *hcfg;
static pthread_t tid;
static int started;
static _Atomic int stopping;

/* One delivery in flight; owns its call (the first member: the easy
 * handle's private pointer is the delivery's). */
struct delivery {
	struct ct_hookcall call;
	long long id;
};

static void
delivery_free(struct delivery *d)
{
	if (!d)
		return;
	ct_hookcall_free(&d->call);
	free(d);
}

/* A curl easy handle for one claimed row, or NULL. */
static struct delivery *
start_one(PGresult *res, int row)
{
	struct delivery *d = calloc(1, sizeof(*d)); /* freed by delivery_free */

	if (!d)
		return NULL;
	if (ct_hookcall_init(&d->call, PQgetvalue(res, row, 1),
			     PQgetvalue(res, row, 2), PQgetvalue(res, row, 3),
			     PQgetvalue(res, row, 0),
			     strdup(PQgetvalue(res, row, 4)),
			     (long)hcfg->hooks_timeout * 1000, 0,
			     "crosstalk-webhook/1") != 0) {
		delivery_free(d);
		return NULL;
	}
	d->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	return d;
}

/* Record one outcome; a failure to record leaves the row to its lease. */
static void
done(PGconn *c, struct delivery *d, long status, const char *error)
{
	char id[24], st[16], max[16], retry[16];
	const char *p[5] = { id, st, error, max, retry };
	PGresult *r;

	snprintf(id, sizeof(id), "%lld", d->id);
	snprintf(st, sizeof(st), "%ld", status);
	snprintf(max, sizeof(max), "%d", hcfg->hooks_max_attempts);
	snprintf(retry, sizeof(retry), "%d", hcfg->hooks_retry_ms);
	r = PQexecParams(
		c,
		"SELECT crosstalk.outbox_done($1::bigint, $2::int, $3, "
		"$4::int, $5::int)",
		5, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		ct_warn("msg=\"cannot record a webhook delivery\" id=%lld",
			d->id);
	PQclear(r);
}

/* Claim a batch and deliver it; the number claimed, or -1 when the
 * connection failed. */
static int
round_trip(PGconn *c, CURLM *multi)
{
	char lim[16], lease[16];
	const char *p[2] = { lim, lease };
	PGresult *res;
	int n, running = 0;
	CURLMsg *m;

	snprintf(lim, sizeof(lim), "%d", hcfg->hooks_concurrency);
	snprintf(lease, sizeof(lease), "%d", hcfg->hooks_timeout + 30);
	res = PQexecParams(c,
			   "SELECT * FROM crosstalk.outbox_claim($1::int, "
			   "$2::int)",
			   2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return PQstatus(c) == CONNECTION_OK ? 0 : -1;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct delivery *d = start_one(res, i);

		if (d)
			curl_multi_add_handle(multi, d->call.easy);
	}
	PQclear(res);
	do {
		curl_multi_perform(multi, &running);
		while ((m = curl_multi_info_read(multi, &(int){ 0 }))) {
			struct delivery *d = NULL;
			char err[CURL_ERROR_SIZE];
			long status;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
					  (char **)&d);
			status = ct_hookcall_status(&d->call, m->data.result,
						    err, sizeof(err));
			done(c, d, status, err);
			curl_multi_remove_handle(multi, m->easy_handle);
			delivery_free(d);
		}
		if (running)
			curl_multi_poll(multi, NULL, 0, 200, NULL);
	} while (running);
	return n;
}

static void *
hooks_main(void *arg)
{
	CURLM *multi = curl_multi_init(); /* freed at the end */
	PGconn *c = NULL;                 /* owned here */
	char err[256];

	(void)arg;
	while (!stopping && multi) {
		int n;

		if (!c || PQstatus(c) != CONNECTION_OK) {
			PQfinish(c);
			c = ct_db_connect(hcfg, "crosstalk-fcgi-hooks", err,
					  sizeof(err));
			if (!c) {
				usleep(1000 * 1000);
				continue;
			}
		}
		n = round_trip(c, multi);
		if (n < 0) {
			PQfinish(c);
			c = NULL;
		}
		if (n <= 0)
			usleep(CLAIM_EVERY_MS * 1000);
	}
	PQfinish(c);
	if (multi)
		curl_multi_cleanup(multi);
	return NULL;
}

int
hooks_start(const struct ct_cfg *cfg)
{
	hcfg = cfg;
	if (!cfg->hooks_deliver)
		return 0;
	if (pthread_create(&tid, NULL, hooks_main, NULL) != 0)
		return -1;
	started = 1;
	return 0;
}

void
hooks_stop(void)
{
	if (!started)
		return;
	stopping = 1;
	pthread_join(tid, NULL);
	started = 0;
}

/* metrics.c - crosstalk-wsd's counters and the /metrics page (Prometheus
 * text), readable from [wsd] metrics_allow addresses or with the admin
 * token. Behind a trusted proxy the client is the X-Forwarded-For address
 * the proxy set, never one a client sent on its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "wsd/wsd.h"

/* clang-format off */
#define M(var, name, help, type, labels) \
	struct ct_metric var = { name, help, type, labels, 0 }
M(m_conns, "crosstalk_wsd_connections", "Authenticated WebSocket connections open.", CT_GAUGE, NULL);
M(m_subs, "crosstalk_wsd_subscriptions", "Channel subscriptions open.", CT_GAUGE, NULL);
M(m_notifies, "crosstalk_wsd_notifications_total", "NOTIFY payloads read from PostgreSQL.", CT_COUNTER, NULL);
M(m_events_in, "crosstalk_wsd_events_in_total", "Stream events taken in for fan-out (once per node).", CT_COUNTER, NULL);
M(m_events_inline, "crosstalk_wsd_events_inline_total", "Of those, events delivered from their NOTIFY payload, without a fetch.", CT_COUNTER, NULL);
M(m_deliveries, "crosstalk_wsd_deliveries_total", "Events queued to connections.", CT_COUNTER, NULL);
M(m_frames, "crosstalk_wsd_frames_written_total", "WebSocket frames written (one may carry many events).", CT_COUNTER, NULL);
M(m_slow, "crosstalk_wsd_slow_consumers_closed_total", "Connections closed with 4008 (outbound queue full).", CT_COUNTER, NULL);
M(m_auth_ok, "crosstalk_wsd_auth_total", "Successful ticket logins.", CT_COUNTER, NULL);
M(m_auth_fail_ticket, "crosstalk_wsd_auth_failures_total", "Refused logins and handshakes, by reason.", CT_COUNTER, "reason=\"ticket\"");
M(m_auth_fail_timeout, "crosstalk_wsd_auth_failures_total", "Refused logins and handshakes, by reason.", CT_COUNTER, "reason=\"timeout\"");
M(m_auth_fail_origin, "crosstalk_wsd_auth_failures_total", "Refused logins and handshakes, by reason.", CT_COUNTER, "reason=\"origin\"");
M(m_auth_fail_proto, "crosstalk_wsd_auth_failures_total", "Refused logins and handshakes, by reason.", CT_COUNTER, "reason=\"subprotocol\"");
M(m_auth_fail_addr, "crosstalk_wsd_auth_failures_total", "Refused logins and handshakes, by reason.", CT_COUNTER, "reason=\"address_limit\"");
M(m_auth_ended, "crosstalk_wsd_auth_failures_total", "Refused logins and handshakes, by reason.", CT_COUNTER, "reason=\"login_ended\"");
M(m_rate_publish, "crosstalk_wsd_rate_limited_total", "Frames refused by a rate limit.", CT_COUNTER, "kind=\"publish\"");
M(m_rate_typing, "crosstalk_wsd_rate_limited_total", "Frames refused by a rate limit.", CT_COUNTER, "kind=\"typing\"");
M(m_publishes, "crosstalk_wsd_publishes_total", "Publishes acknowledged (committed).", CT_COUNTER, NULL);
M(m_db_reconnects, "crosstalk_wsd_db_reconnects_total", "Database connections established (first connects included).", CT_COUNTER, NULL);
M(m_replay_batches, "crosstalk_wsd_replay_batches_total", "Stored-event batches sent to catching-up subscribers.", CT_COUNTER, NULL);
M(m_queue_full, "crosstalk_wsd_query_queue_full_total", "Requests refused because the query queue was full.", CT_COUNTER, NULL);
M(m_answers_cut, "crosstalk_wsd_answers_cut_total", "History pages and replay batches cut to fit one answer's bytes.", CT_COUNTER, NULL);
M(m_write_groups, "crosstalk_wsd_write_groups_total", "Groups of publishes sent to the database as one transaction (two or more each).", CT_COUNTER, NULL);
#undef M
/* clang-format on */

struct ct_histogram h_ack = { "crosstalk_wsd_publish_ack_seconds",
			      "Publish frame received to ack queued.",
			      { 0 },
			      0,
			      0 };
struct ct_histogram h_delivery = {
	"crosstalk_wsd_commit_delivery_seconds",
	"Event stored (clock_timestamp at insert) to queued for delivery.",
	{ 0 },
	0,
	0
};

static struct ct_metric *const all[] = {
	&m_conns,
	&m_subs,
	&m_notifies,
	&m_events_in,
	&m_events_inline,
	&m_deliveries,
	&m_frames,
	&m_slow,
	&m_auth_ok,
	&m_auth_fail_ticket,
	&m_auth_fail_timeout,
	&m_auth_fail_origin,
	&m_auth_fail_proto,
	&m_auth_fail_addr,
	&m_auth_ended,
	&m_rate_publish,
	&m_rate_typing,
	&m_publishes,
	&m_db_reconnects,
	&m_replay_batches,
	&m_write_groups,
	&m_queue_full,
	&m_answers_cut,
};
static struct ct_histogram *const hists[] = { &h_ack, &h_delivery };

void
metrics_event_stored(const char *json, size_t len, int64_t now_ms)
{
	static const char key[] = "\"created_at_ms\":";
	const char *p = memmem(json, len, key, sizeof(key) - 1);

	if (p)
		ct_hist_observe(&h_delivery,
				(double)(now_ms - strtoll(p + sizeof(key) - 1,
							  NULL, 10)));
}

/* The client's address: the peer, or, when the peer is a trusted proxy,
 * the last address in the X-Forwarded-For it set. */
void
http_client_addr(struct lws *wsi, char *out, size_t outlen)
{
	char xff[256];
	const char *last;
	int n;

	lws_get_peer_simple(wsi, out, outlen);
	if (!wsd->cfg->wsd_trusted_proxies[0] ||
	    !ct_metrics_allowed(wsd->cfg->wsd_trusted_proxies, out, "", NULL))
		return;
	n = lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR);
	if (n <= 0)
		return;
	last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ')
		last++;
	snprintf(out, outlen, "%.*s", (int)strcspn(last, " "), last);
}

int
http_untrusted_proxy(struct lws *wsi)
{
	char peer[128];

	if (lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) <= 0)
		return 0;
	lws_get_peer_simple(wsi, peer, sizeof(peer));
	return !wsd->cfg->wsd_trusted_proxies[0] ||
	       !ct_metrics_allowed(wsd->cfg->wsd_trusted_proxies, peer, "",
				   NULL);
}

/* Readable from metrics_allow addresses or with the token. A request a
 * proxy we do not trust forwarded (X-Forwarded-For from a peer not in
 * trusted_proxies) has no address we can believe: its peer is the proxy,
 * often 127.0.0.1, whoever the client is. Then only the token lets it in. */
int
metrics_page(struct lws *wsi)
{
	char addr[128], auth[256], extra[2048];
	size_t out_now, out_most;
	const char *bearer = NULL;
	char *text, *page;
	int rc;

	http_client_addr(wsi, addr, sizeof(addr));
	if (http_untrusted_proxy(wsi))
		addr[0] = 0;
	if (lws_hdr_copy(wsi, auth, sizeof(auth),
			 WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
	    strncmp(auth, "Bearer ", 7) == 0)
		bearer = auth + 7;
	if (!ct_metrics_allowed(wsd->cfg->wsd_metrics_allow, addr,
				wsd->cfg->wsd_metrics_token, bearer))
		return http_reply(wsi, 403, "application/json",
				  "{\"ok\":false,\"error\":{\"code\":"
				  "\"forbidden\",\"message\":\"metrics are "
				  "not open to this address\"}}");
	ct_metric_set(&m_conns, (long long)wsd->conns.count);
	out_bytes(&out_now, &out_most);
	if (!(text = ct_metrics_render(all, sizeof(all) / sizeof(all[0]), hists,
				       sizeof(hists) / sizeof(hists[0]))))
		return -1;
	snprintf(extra, sizeof(extra),
		 "# HELP crosstalk_notify_queue_usage PostgreSQL NOTIFY queue "
		 "in use (0..1), from pg_notification_queue_usage().\n"
		 "# TYPE crosstalk_notify_queue_usage gauge\n"
		 "crosstalk_notify_queue_usage %g\n"
		 "# HELP crosstalk_wsd_database_up Database connections up.\n"
		 "# TYPE crosstalk_wsd_database_up gauge\n"
		 "crosstalk_wsd_database_up %d\n"
		 "# HELP crosstalk_wsd_query_queue_bytes Bytes of requests "
		 "waiting for a database connection.\n"
		 "# TYPE crosstalk_wsd_query_queue_bytes gauge\n"
		 "crosstalk_wsd_query_queue_bytes %zu\n"
		 "# HELP crosstalk_wsd_outbound_bytes Bytes queued to "
		 "connections (a shared frame once per queue).\n"
		 "# TYPE crosstalk_wsd_outbound_bytes gauge\n"
		 "crosstalk_wsd_outbound_bytes %zu\n"
		 "# HELP crosstalk_wsd_outbound_bytes_max The most bytes ever "
		 "queued to connections at once.\n"
		 "# TYPE crosstalk_wsd_outbound_bytes_max gauge\n"
		 "crosstalk_wsd_outbound_bytes_max %zu\n",
		 wsd->notify_usage, wsd->listen_up && wsd->query_up,
		 pgq_queued_bytes(), out_now, out_most);
	page = malloc(strlen(text) + strlen(extra) + 1); /* freed below */
	if (!page) {
		free(text);
		return -1;
	}
	strcpy(page, text);
	strcat(page, extra);
	free(text);
	rc = http_reply(wsi, 200, "text/plain; version=0.0.4", page);
	free(page);
	return rc;
}

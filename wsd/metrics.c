/* metrics.c - crosstalk-wsd's counters and histograms, as Prometheus text
 * (http.c serves them at /metrics with the gauges it reads off the
 * modules). Every module counts here; this file calls none of them. */
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
M(m_prepared, "crosstalk_wsd_statements_prepared_total", "Statements prepared on query connections (once per statement and connection).", CT_COUNTER, NULL);
M(m_replay_batches, "crosstalk_wsd_replay_batches_total", "Stored-event batches sent to catching-up subscribers.", CT_COUNTER, NULL);
M(m_queue_full, "crosstalk_wsd_query_queue_full_total", "Requests refused because the query queue was full.", CT_COUNTER, NULL);
M(m_answers_cut, "crosstalk_wsd_answers_cut_total", "History pages and replay batches cut to fit one answer's bytes.", CT_COUNTER, NULL);
M(m_write_groups, "crosstalk_wsd_write_groups_total", "Groups of publishes sent to the database as one transaction (two or more each).", CT_COUNTER, NULL);
M(m_hook_allow, "crosstalk_wsd_channel_hook_calls_total", "Channel hook calls, by verdict.", CT_COUNTER, "verdict=\"allow\"");
M(m_hook_deny, "crosstalk_wsd_channel_hook_calls_total", "Channel hook calls, by verdict.", CT_COUNTER, "verdict=\"deny\"");
M(m_hook_failed, "crosstalk_wsd_channel_hook_calls_total", "Channel hook calls, by verdict.", CT_COUNTER, "verdict=\"failed\"");
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
	&m_prepared,
	&m_replay_batches,
	&m_write_groups,
	&m_queue_full,
	&m_answers_cut,
	&m_hook_allow,
	&m_hook_deny,
	&m_hook_failed,
};
struct ct_histogram h_hook = {
	"crosstalk_wsd_channel_hook_seconds",
	"Channel hook call: the frame's arrival to the hook's verdict.",
	{ 0 },
	0,
	0
};
static struct ct_histogram *const hists[] = { &h_ack, &h_delivery, &h_hook };

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

char *
metrics_text(void)
{
	ct_metric_set(&m_conns, (long long)wsd->conns.count);
	return ct_metrics_render(all, sizeof(all) / sizeof(all[0]), hists,
				 sizeof(hists) / sizeof(hists[0]));
}

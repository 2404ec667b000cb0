/* fanout.c - delivery. A notification "m <id> <channel> <seq>" for a
 * channel with local subscribers carries the event's JSON
 * (sql/functions.sql, notify_event) and is delivered from it when it is the
 * channel's next seq; otherwise (a gap, a fetch under way, a payload too
 * big for NOTIFY) it triggers one fetch of the events after the channel's
 * live cursor. Each event is serialized once (by event_json in the
 * database) into one shared frame and queued to every live subscriber:
 * O(subscribers) pointer pushes, no per-delivery allocation.
 *
 * A new subscriber (granted by sub.c) replays stored events in batches of
 * at most replay_batch events and wsd_answer_max() bytes; a connection has
 * one replay batch in flight at a time, and the next only once its queue
 * has drained, so catching up never holds more than one answer per
 * connection. Then it turns live; its own cursor (sub->sent) drops any
 * live event it already got from the replay, so nothing is lost or
 * doubled. A fetch or replay that fails for want of the database is tried
 * again after a growing pause (100 ms doubling to 5 s), never at once. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/notice.h"
#include "core/util.h"
#include "wsd/wsd.h"

static const char q_after[] =
	"SELECT seq, event FROM crosstalk.events_after($1, $2, $3)";
/* live fetch: also the sender's login when it asked not to get its own
 * message back (HTTP exclude_sender) */
static const char q_live[] =
	"SELECT m.seq, crosstalk.event_json(m)::text, "
	"coalesce(m.exclude_ref_hash, '') FROM crosstalk.messages m "
	"WHERE m.channel = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3";

#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS   5000

static void fetch(struct channel *c);
static void replay(struct sub *s);

static int
backoff(int *ms)
{
	int now = *ms ? *ms : RETRY_FIRST_MS;

	*ms = now * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : now * 2;
	return now;
}

/* --- live fan-out ------------------------------------------------------ */

/* After a 'member' event that removed people: their subscriptions and
 * watches of c on this node end at once (they got the event first). The
 * caller holds a reference to c, which sub_free may drop. */
static void
revoke_removed(struct channel *c, const char *json, size_t len)
{
	json_t *ev, *gone, *v;
	size_t i;

	/* event_json writes "type" first: only member events are parsed */
	if (!memmem(json, len < 40 ? len : 40, "\"member\"", 8) ||
	    !(ev = json_loadb(json, len, 0, NULL)))
		return;
	gone = json_object_get(ev, "removed");
	if (json_is_array(gone) &&
	    strcmp(json_string_value(json_object_get(ev, "type")) ?: "",
		   "member") == 0) {
		dll_foreach(d, d_next, c->subs.head)
		{
			struct sub *s =
				lws_container_of(d, struct sub, in_chan);

			json_array_foreach(gone, i, v)
			{
				if (json_is_string(v) &&
				    strcmp(json_string_value(v),
					   s->pss->user_id) == 0) {
					access_revoke(s);
					break;
				}
			}
		}
	}
	json_decref(ev);
}

/* Queue one event to every live subscriber of c; connections of the login
 * whose ref hash is exclude (may be "") skip it but move past its seq. */
static void
deliver(struct channel *c, int64_t seq, const char *json, size_t len,
	const char *exclude)
{
	struct frame *f;
	unsigned pushed = 0;

	if (!len) /* no event (never: event_json is never NULL) */
		return;
	if (!(f = frame_new(json, len))) {
		ct_err("msg=\"out of memory building a frame\"");
		return;
	}
	f->refs = 1; /* ours while we push */
	dll_foreach(d, d_next, c->subs.head)
	{
		struct sub *s = lws_container_of(d, struct sub, in_chan);

		if (s->state == SUB_LIVE && seq > s->sent) {
			s->sent = seq;
			if (!*exclude || !s->pss->ref_hash ||
			    strcmp(s->pss->ref_hash, exclude) != 0) {
				out_push(s->pss, f);
				pushed++;
			}
		}
	}
	frame_unref(f);
	ct_metric_add(&m_deliveries, pushed);
	revoke_removed(c, json, len);
}

static void
fetch_later(lws_sorted_usec_list_t *sul)
{
	fetch(lws_container_of(sul, struct channel, fetch_sul));
}

static void
on_fetch(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct channel *c = owner;
	int n, i;

	(void)ctx;
	c->fetching = 0;
	c->refs++; /* a member event may end the last subscription */
	if (rc == CT_EUNAVAIL) { /* no database now: again, later */
		c->fetch_again = 1;
		lws_sul_schedule(wsd->context, 0, &c->fetch_sul, fetch_later,
				 (lws_usec_t)backoff(&c->fetch_retry_ms) *
					 1000);
		goto out;
	}
	if (rc != CT_OK) {
		ct_err("msg=\"fetch failed\" channel=%s err=%s",
		       ct_log_q(c->name), ct_log_q(msg));
		goto out;
	}
	c->fetch_retry_ms = 0;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);

		if (seq <= c->live_seq)
			continue;
		c->live_seq = seq;
		ct_metric_add(&m_events_in, 1);
		metrics_event_stored(PQgetvalue(res, i, 1),
				     (size_t)PQgetlength(res, i, 1),
				     ct_now_ms());
		deliver(c, seq, PQgetvalue(res, i, 1),
			(size_t)PQgetlength(res, i, 1), PQgetvalue(res, i, 2));
	}
	if (n >= wsd->cfg->wsd_replay_batch || c->fetch_again)
		fetch(c);
out:
	channel_put(c);
}

static int
has_live(struct channel *c)
{
	dll_foreach(d, d_next, c->subs.head)
	{
		if (lws_container_of(d, struct sub, in_chan)->state >=
		    SUB_REPLAYING)
			return 1;
	}
	return 0;
}

static void
fetch(struct channel *c)
{
	char after[24], lim[16];
	const char *pv[3] = { c->name, after, lim };
	if (c->live_seq < 0 || !has_live(c)) {
		c->fetch_again = c->live_seq < 0 && c->subs.count;
		return;
	}
	if (c->fetching || c->fetch_sul.list.owner) {
		c->fetch_again = 1;
		return;
	}
	/* never held back for a subscriber that reads slowly: its own queue
	 * bounds it (out.c closes it with 4008), everyone else goes on */
	c->fetch_again = 0;
	snprintf(after, sizeof(after), "%" PRId64, c->live_seq);
	snprintf(lim, sizeof(lim), "%d", wsd->cfg->wsd_replay_batch);
	if (pgq_query(q_live, 3, pv, PGQ_LIVE, NULL, c, on_fetch) != CT_OK) {
		c->fetch_again = 1; /* out of memory: the next tick retries */
		lws_sul_schedule(wsd->context, 0, &c->fetch_sul, fetch_later,
				 (lws_usec_t)backoff(&c->fetch_retry_ms) *
					 1000);
		return;
	}
	c->fetching = 1;
}

/* An event notified with its JSON: delivered from the payload when it is
 * the channel's next seq and nothing else is under way; 0 means fetch
 * instead. */
static int
deliver_inline(struct channel *c, const struct ct_notice *n)
{
	if (!n->json || c->fetching || c->fetch_again ||
	    c->fetch_sul.list.owner || n->seq != c->live_seq + 1)
		return 0;
	c->live_seq = n->seq;
	ct_metric_add(&m_events_in, 1);
	ct_metric_add(&m_events_inline, 1);
	metrics_event_stored(n->json, n->json_len, ct_now_ms());
	deliver(c, n->seq, n->json, n->json_len, n->hash ? n->hash : "");
	return 1;
}

/* An event committed ('m', core/notice.h): cheap unless it names a
 * channel with local subscribers. */
void
fanout_event(const struct ct_notice *n)
{
	struct channel *c = channel_get(n->channel, 0);

	if (!c)
		return;
	if (c->live_seq < 0)
		c->fetch_again = 1;
	else if (n->seq > c->live_seq && !deliver_inline(c, n))
		fetch(c);
	channel_put(c);
}

static void
catchup_one(struct channel *c, void *arg)
{
	(void)arg;
	c->fetch_retry_ms = 0;
	if (!c->fetching) {
		lws_sul_cancel(&c->fetch_sul);
		fetch(c);
	}
}

static void
catchup_conn(struct pss *p)
{
	for (struct sub *s = p->subs; s; s = s->next)
		if (s->state == SUB_REPLAYING && !s->replay_busy &&
		    s->retry.list.owner) {
			lws_sul_cancel(&s->retry);
			s->retry_ms = 0;
			s->replay_wait = 1;
		}
	fanout_drained(p);
}

/* After (re)connecting: every channel from its live cursor, every stalled
 * replay from its own. */
void
fanout_catchup_all(void)
{
	channel_foreach(catchup_one, NULL);
	dll_foreach(d, d_next, wsd->conns.head)
	{
		catchup_conn(lws_container_of(d, struct pss, in_all));
	}
}

/* --- replay --------------------------------------------------------------- */

static void
go_live(struct sub *s)
{
	char seq[24];
	json_t *o;

	s->state = SUB_LIVE;
	snprintf(seq, sizeof(seq), "%" PRId64, s->sent);
	o = json_pack("{s:s, s:s, s:s}", "type", "subscribed", "channel",
		      s->chan->name, "last_seq", seq);
	if (o && s->ref)
		json_object_set_new(o, "ref", json_string(s->ref));
	if (o)
		out_json(s->pss, o);
	if (!s->present)
		presence_sub(s, 1);
}

static void
replay_later(lws_sorted_usec_list_t *sul)
{
	struct sub *s = lws_container_of(sul, struct sub, retry);

	s->replay_wait = 1;
	fanout_drained(s->pss);
}

static void
on_replay(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct sub *s = owner;
	struct pss *p = s->pss;
	size_t budget = wsd_answer_max(), total = 0, off = 0;
	int n, i, take;
	char *buf;

	(void)ctx;
	s->replay_busy = 0;
	if (rc == CT_EUNAVAIL) { /* no database now: again, later */
		lws_sul_schedule(wsd->context, 0, &s->retry, replay_later,
				 (lws_usec_t)backoff(&s->retry_ms) * 1000);
		return;
	}
	if (rc != CT_OK) {
		out_error(p, rc, msg, s->ref, 0);
		sub_free(s);
		return;
	}
	s->retry_ms = 0;
	n = PQntuples(res);
	/* as many as fit the answer budget (always at least one) */
	for (take = 0; take < n; take++) {
		size_t l = (size_t)PQgetlength(res, take, 1) + 1;

		if (take && total + l > budget)
			break;
		total += l;
	}
	if (take > 0) {
		/* one frame for the whole batch (a private, unshared one) */
		if (!(buf = malloc(total))) {
			out_close(p, 1011);
			return;
		}
		for (i = 0; i < take; i++) {
			size_t l = (size_t)PQgetlength(res, i, 1);

			memcpy(buf + off, PQgetvalue(res, i, 1), l);
			off += l;
			buf[off++] = '\n';
		}
		out_send(p, buf, off - 1);
		free(buf);
		s->sent = strtoll(PQgetvalue(res, take - 1, 0), NULL, 10);
	}
	if (take < n)
		ct_metric_add(&m_answers_cut, 1);
	if (take < n || n >= wsd->cfg->wsd_replay_batch)
		s->replay_wait = 1; /* the next batch once these are written */
	else if (s->chan->live_seq > s->sent)
		s->replay_wait = 1; /* fan-out passed us meanwhile */
	else
		go_live(s);
	fanout_drained(p);
}

static void
replay(struct sub *s)
{
	struct pss *p = s->pss;
	char after[24], lim[16];
	const char *pv[3] = { s->chan->name, after, lim };

	s->replay_wait = 0;
	snprintf(after, sizeof(after), "%" PRId64, s->sent);
	snprintf(lim, sizeof(lim), "%d", wsd->cfg->wsd_replay_batch);
	if (pgq_query(q_after, 3, pv, PGQ_USER, &p->flow, s, on_replay) !=
	    CT_OK) {
		lws_sul_schedule(wsd->context, 0, &s->retry, replay_later,
				 (lws_usec_t)backoff(&s->retry_ms) * 1000);
		return;
	}
	s->replay_busy = 1;
	ct_metric_add(&m_replay_batches, 1);
}

/* The next replay batch of p, if none is in flight and its queue has room
 * for an answer: one at a time per connection. */
void
fanout_drained(struct pss *p)
{
	struct sub *next = NULL;

	if (p->state != SESS_LIVE ||
	    p->q_bytes + wsd_answer_max() > (size_t)wsd->cfg->wsd_queue_bytes)
		return;
	for (struct sub *s = p->subs; s; s = s->next) {
		if (s->state != SUB_REPLAYING)
			continue;
		if (s->replay_busy)
			return;
		if (s->replay_wait && !s->retry.list.owner)
			next = s;
	}
	if (next)
		replay(next);
}

void
fanout_start(struct sub *s)
{
	struct channel *c = s->chan;

	if (c->live_seq < 0) {
		/* the channel's cursor starts here; anything that committed
		 * since reached us as a notification and is fetched now */
		c->live_seq = s->last;
		if (c->fetch_again)
			fetch(c);
	}
	if (s->sent < 0) /* "after": -N means the last N */
		s->sent = s->last + s->sent > 0 ? s->last + s->sent : 0;
	s->state = SUB_REPLAYING;
	s->replay_wait = 1;
	fanout_drained(s->pss);
}

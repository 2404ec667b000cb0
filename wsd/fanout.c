/* fanout.c - subscriptions and delivery. A notification "m <id> <channel>
 * <seq>" for a channel with local subscribers carries the event's JSON
 * (sql/007_notify.sql) and is delivered from it when it is the channel's
 * next seq; otherwise (a gap, a fetch under way, a payload too big for
 * NOTIFY) it triggers one fetch of the events after the channel's live
 * cursor. Each event is serialized once (by event_json in the database)
 * into one shared frame and queued to every live subscriber:
 * O(subscribers) pointer pushes, no per-delivery allocation. A new
 * subscriber replays stored events in batches of replay_batch, one batch
 * in flight and the next only once its queue has drained, then turns live;
 * its own cursor (sub->sent) drops any live event it already got from the
 * replay, so nothing is lost or doubled. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "wsd/wsd.h"

static const char q_subscribe[] = "SELECT crosstalk.ws_subscribe($1, $2, $3)";
static const char q_after[] =
	"SELECT seq, event FROM crosstalk.events_after($1, $2, $3)";
/* live fetch: also the sender's login when it asked not to get its own
 * message back (HTTP exclude_sender) */
static const char q_live[] =
	"SELECT m.seq, crosstalk.event_json(m)::text, "
	"coalesce(m.exclude_ref_hash, '') FROM crosstalk.messages m "
	"WHERE m.channel = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3";

static void fetch(struct channel *c);
static void replay(struct sub *s);

struct sub *
sub_find(struct pss *p, const char *channel)
{
	for (struct sub *s = p->subs; s; s = s->next)
		if (strcmp(s->chan->name, channel) == 0)
			return s;
	return NULL;
}

struct sub *
sub_new(struct pss *p, const char *channel, const char *ref)
{
	struct sub *s = calloc(1, sizeof(*s)); /* owned by p->subs */

	if (!s)
		return NULL;
	if (!(s->chan = channel_get(channel, 1)) ||
	    (ref && !(s->ref = strdup(ref)))) {
		channel_put(s->chan);
		free(s);
		return NULL;
	}
	s->pss = p;
	s->state = SUB_WATCHING;
	lws_dll2_add_tail(&s->in_chan, &s->chan->subs);
	ct_metric_add(&m_subs, 1);
	s->next = p->subs;
	p->subs = s;
	return s;
}

void
sub_free(struct sub *s)
{
	struct sub **pp = &s->pss->subs;

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	pgq_forget(s);
	if (s->present)
		presence_sub(s, 0);
	lws_dll2_remove(&s->in_chan);
	ct_metric_add(&m_subs, -1);
	channel_put(s->chan);
	free(s->ref);
	free(s);
}

/* --- live fan-out ------------------------------------------------------ */

/* Queue one event to every live subscriber of c; connections of the login
 * whose ref hash is exclude (may be "") skip it but move past its seq. */
static void
deliver(struct channel *c, int64_t seq, const char *json, size_t len,
	const char *exclude)
{
	struct frame *f = frame_new(json, len);

	if (!f) {
		ct_err("msg=\"out of memory building a frame\"");
		return;
	}
	unsigned pushed = 0;

	f->refs = 1; /* ours while we push */
	lws_start_foreach_dll(struct lws_dll2 *, d, c->subs.head)
	{
		struct sub *s = lws_container_of(d, struct sub, in_chan);

		if (s->state == SUB_LIVE && seq > s->sent) {
			s->sent = seq;
			if (!*exclude || !s->pss->ref_hash ||
			    strcmp(s->pss->ref_hash, exclude) != 0) {
				sess_push(s->pss, f);
				pushed++;
			}
		}
	}
	lws_end_foreach_dll(d);
	frame_unref(f);
	ct_metric_add(&m_deliveries, pushed);
}

static void
on_fetch(void *arg, PGresult *res, int rc, const char *msg, const char *tag)
{
	struct channel *c = arg;
	int n, i;

	c->fetching = 0;
	if (rc == CT_EUNAVAIL) { /* its connection died: ask again */
		fetch(c);
		return;
	}
	if (rc != CT_OK) {
		ct_err("msg=\"fetch failed\" channel=%s err=\"%s\"", c->name,
		       msg);
		return;
	}
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
}

/* A live subscriber more than half full: give it a moment before the next
 * batch lands, so that a burst (a transaction of a thousand messages) does
 * not overflow readers that are merely busy. One that stays backlogged
 * past STALL_MAX_MS no longer holds the channel back: it overflows and is
 * closed with 4008. Notifications keep being read meanwhile. */
#define STALL_MAX_MS 1000

static int
backlogged(struct channel *c)
{
	lws_start_foreach_dll(struct lws_dll2 *, d, c->subs.head)
	{
		struct pss *p = lws_container_of(d, struct sub, in_chan)->pss;

		if (p->state == SESS_LIVE &&
		    p->q_count > (unsigned)wsd->cfg->wsd_queue_max / 2)
			return 1;
	}
	lws_end_foreach_dll(d);
	return 0;
}

static void
fetch_later(lws_sorted_usec_list_t *sul)
{
	fetch(lws_container_of(sul, struct channel, fetch_sul));
}

static void
fetch(struct channel *c)
{
	char after[24], lim[16];
	const char *pv[3] = { c->name, after, lim };
	int64_t now;

	if (c->live_seq < 0 || c->subs.count == 0) {
		c->fetch_again = c->live_seq < 0 && c->subs.count;
		return;
	}
	if (c->fetching || c->fetch_sul.list.owner) {
		c->fetch_again = 1;
		return;
	}
	if (backlogged(c)) {
		now = ct_mono_ms();
		if (!c->stall_ms)
			c->stall_ms = now;
		if (now - c->stall_ms < STALL_MAX_MS) {
			lws_sul_schedule(wsd->context, 0, &c->fetch_sul,
					 fetch_later, 5 * 1000);
			return;
		}
	}
	c->stall_ms = 0;
	c->fetching = 1;
	c->fetch_again = 0;
	snprintf(after, sizeof(after), "%" PRId64, c->live_seq);
	snprintf(lim, sizeof(lim), "%d", wsd->cfg->wsd_replay_batch);
	pgq_query(q_live, 3, pv, on_fetch, c, c, NULL);
}

/* An event notified with its JSON ("m <id> <channel> <seq> <exclude> <json>",
 * sql/007_notify.sql): delivered from the payload when it is the channel's
 * next seq and nothing else is under way; 0 means fetch instead. */
static int
deliver_inline(struct channel *c, int64_t seq, const char *rest)
{
	char excl[72];
	const char *json;
	int n = 0;

	if (!rest || c->fetching || c->fetch_again || c->fetch_sul.list.owner ||
	    seq != c->live_seq + 1 || sscanf(rest, " %71s %n", excl, &n) != 1 ||
	    !n || *(json = rest + n) != '{' || backlogged(c))
		return 0;
	c->live_seq = seq;
	c->stall_ms = 0;
	ct_metric_add(&m_events_in, 1);
	ct_metric_add(&m_events_inline, 1);
	metrics_event_stored(json, strlen(json), ct_now_ms());
	deliver(c, seq, json, strlen(json), strcmp(excl, "-") == 0 ? "" : excl);
	return 1;
}

/* "m <event id> <channel> <seq> [<exclude> <json>]", "e <app> <ref hash>",
 * "r <channel> <user>", "p <channel>". Called for every notification: cheap
 * unless the channel has local subscribers. */
void
fanout_notify(const char *payload)
{
	char kind, a[300], b[300];
	long long seq = 0;
	struct channel *c;

	ct_metric_add(&m_notifies, 1);
	kind = payload[0];
	if (!kind || payload[1] != ' ')
		return;
	switch (kind) {
	case 'm': {
		int n = 0;

		if (sscanf(payload + 2, "%*s %299s %lld%n", a, &seq, &n) != 2)
			return;
		if (!(c = channel_get(a, 0)))
			return;
		if (c->live_seq < 0)
			c->fetch_again = 1;
		else if (seq > c->live_seq &&
			 !deliver_inline(c, seq,
					 payload[2 + n] ? payload + 2 + n
							: NULL))
			fetch(c);
		channel_put(c);
		break;
	}
	case 'e':
		if (sscanf(payload + 2, "%299s %299s", a, b) == 2)
			sess_session_ended(a, b);
		break;
	case 'r':
		if (sscanf(payload + 2, "%299s %299[^\n]", a, b) == 2)
			sess_read_moved(a, b);
		break;
	case 'p':
		if (sscanf(payload + 2, "%299s", a) == 1)
			presence_changed(a);
		break;
	case 't':
		sess_typing_notify(payload + 2);
		break;
	default:
		break;
	}
}

static void
catchup_one(struct channel *c, void *arg)
{
	(void)arg;
	fetch(c);
	lws_start_foreach_dll(struct lws_dll2 *, d, c->subs.head)
	{
		struct sub *s = lws_container_of(d, struct sub, in_chan);

		if (s->state == SUB_REPLAYING && !s->replay_busy &&
		    !s->replay_wait)
			replay(s);
	}
	lws_end_foreach_dll(d);
}

/* After (re)connecting: every channel from its live cursor, every stalled
 * replay from its own. */
void
fanout_catchup_all(void)
{
	channel_foreach(catchup_one, NULL);
}

/* --- subscribe and replay ---------------------------------------------- */

static void
go_live(struct sub *s)
{
	json_t *o;

	char seq[24];

	s->state = SUB_LIVE;
	snprintf(seq, sizeof(seq), "%" PRId64, s->sent);
	o = json_pack("{s:s, s:s, s:s}", "type", "subscribed", "channel",
		      s->chan->name, "last_seq", seq);
	if (o)
		sess_send_json(s->pss, o);
	if (!s->present)
		presence_sub(s, 1);
}

static void
on_replay(void *arg, PGresult *res, int rc, const char *msg, const char *tag)
{
	struct sub *s = arg;
	int n, i;
	size_t total = 0, off = 0;
	char *buf;

	s->replay_busy = 0;
	if (rc == CT_EUNAVAIL) { /* its connection died: ask again */
		replay(s);
		return;
	}
	if (rc != CT_OK) {
		sess_error(s->pss, rc, msg, s->ref, 0);
		sub_free(s);
		return;
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++)
		total += (size_t)PQgetlength(res, i, 1) + 1;
	if (n > 0) {
		/* one frame for the whole batch (a private, unshared one) */
		if (!(buf = malloc(total))) {
			sess_close(s->pss, 1011);
			return;
		}
		for (i = 0; i < n; i++) {
			size_t l = (size_t)PQgetlength(res, i, 1);

			memcpy(buf + off, PQgetvalue(res, i, 1), l);
			off += l;
			buf[off++] = '\n';
		}
		sess_send(s->pss, buf, off - 1);
		free(buf);
		s->sent = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
	}
	if (n >= wsd->cfg->wsd_replay_batch)
		s->replay_wait = 1; /* the next batch once these are written */
	else if (s->chan->live_seq > s->sent)
		replay(s); /* fan-out passed us meanwhile: read up to it */
	else
		go_live(s);
}

static void
replay(struct sub *s)
{
	char after[24], lim[16];
	const char *pv[3] = { s->chan->name, after, lim };

	s->replay_busy = 1;
	s->replay_wait = 0;
	snprintf(after, sizeof(after), "%" PRId64, s->sent);
	snprintf(lim, sizeof(lim), "%d", wsd->cfg->wsd_replay_batch);
	ct_metric_add(&m_replay_batches, 1);
	pgq_query(q_after, 3, pv, on_replay, s, s, NULL);
}

void
fanout_drained(struct pss *p)
{
	for (struct sub *s = p->subs; s; s = s->next)
		if (s->state == SUB_REPLAYING && s->replay_wait &&
		    !s->replay_busy)
			replay(s);
}

static void
on_checked(void *arg, PGresult *res, int rc, const char *msg, const char *tag)
{
	struct sub *s = arg;
	struct channel *c = s->chan;
	int64_t last;

	if (rc != CT_OK) {
		sess_error(s->pss, rc, msg, s->ref, 0);
		if (s->watch) {
			s->state = SUB_WATCHING;
			return;
		}
		sub_free(s);
		return;
	}
	last = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (c->live_seq < 0) {
		/* the channel's cursor starts here; anything that committed
		 * since reached us as a notification and is fetched now */
		c->live_seq = last;
		if (c->fetch_again)
			fetch(c);
	}
	if (s->sent < 0) /* "after": -N means the last N */
		s->sent = last + s->sent > 0 ? last + s->sent : 0;
	s->state = SUB_REPLAYING;
	replay(s);
}

void
fanout_subscribe(struct pss *p, const char *channel, int64_t after,
		 const char *ref)
{
	const char *pv[3] = { p->app, p->user_id, channel };
	struct sub *s = sub_find(p, channel);
	unsigned n = 0;

	if (s && s->state != SUB_WATCHING) {
		/* subscribing again restarts from the new cursor */
		if (s->present)
			presence_sub(s, 0);
		pgq_forget(s);
		s->replay_busy = s->replay_wait = 0;
		free(s->ref);
		s->ref = ref ? strdup(ref) : NULL;
	} else if (!s) {
		for (struct sub *t = p->subs; t; t = t->next)
			n++;
		if (n >= 256) {
			sess_error(p, CT_EINVALID,
				   "too many subscriptions on one connection",
				   ref, 0);
			return;
		}
		if (!(s = sub_new(p, channel, ref))) {
			sess_error(p, CT_ENOMEM, "out of memory", ref, 0);
			return;
		}
	}
	s->state = SUB_CHECKING;
	s->sent = after;
	pgq_query(q_subscribe, 3, pv, on_checked, s, s, NULL);
}

void
fanout_unsubscribe(struct pss *p, const char *channel)
{
	struct sub *s = sub_find(p, channel);
	json_t *o;

	if (s)
		sub_free(s);
	o = json_pack("{s:s, s:s}", "type", "unsubscribed", "channel", channel);
	if (o)
		sess_send_json(p, o);
}

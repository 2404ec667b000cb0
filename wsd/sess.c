/* sess.c - one WebSocket connection: AWAIT_AUTH -> AUTHING -> LIVE ->
 * CLOSING. Parses client frames, runs their queries through pgq, and owns
 * the outbound queue of shared frames that WRITEABLE flushes in one write. */
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "wsd/frame.h"
#include "wsd/wsd.h"

/* clang-format off */
static const char q_redeem[] =
	"SELECT app, user_id, display_name, ref_hash, ref_box "
	"FROM crosstalk.redeem_ticket($1)";
static const char q_publish[] =
	"SELECT retry_after, id, seq, channel FROM crosstalk.ws_publish("
	"$1, $2, $3, $4, $5, $6, $7, $8)";
/* Publishes waiting together commit together, through the HTTP API's
 * group commit (crosstalk.api_post_batch: api_post is ws_publish plus the
 * event's JSON, from which the ack takes id, seq and channel). */
static const char q_publish_batch[] =
	"SELECT i, retry_after, event->>'id', event->>'seq', "
	"event->>'channel', err_state, err_message "
	"FROM crosstalk.api_post_batch($1::json)";
static const char *const publish_keys[] = { "app",     "user_id", "name",
					    "channel", "text",	  "client_id",
					    "limit",   "window" };
static const char *const publish_cols[] = { "retry_after", "id", "seq",
					    "channel" };
static const struct pgq_batch publish_batch = {
	q_publish, q_publish_batch, publish_keys, 8, publish_cols, 4, 32
};
static const char q_change[] =
	"SELECT message_id, seq, channel FROM crosstalk.change_message("
	"$1, $2, $3, $4, $5)";
static const char q_read[] = "SELECT crosstalk.ws_read($1, $2, $3, $4)";
static const char q_unread[] = "SELECT crosstalk.unread_count($1, $2)";
static const char q_history[] =
	"SELECT seq, event FROM crosstalk.ws_history($1, $2, $3, $4, $5)";
static const char q_channels[] =
	"SELECT name, title, last_seq, unread FROM crosstalk.channels_for($1, $2)";
static const char q_typing[] = "SELECT crosstalk.ws_typing($1, $2)";
static const char q_ended[] =
	"SELECT app, ref_hash FROM crosstalk.ended_sessions($1, $2)";
/* clang-format on */

/* --- outbound ---------------------------------------------------------- */

static lws_dll2_owner_t dirty; /* pss with frames to write this turn */
static lws_sorted_usec_list_t flush_sul;
static void flush_dirty(lws_sorted_usec_list_t *sul);

void
sess_close(struct pss *p, int code)
{
	if (p->state == SESS_CLOSING)
		return;
	p->state = SESS_CLOSING;
	p->close_code = code;
	while (p->q_count) { /* nothing more goes out but the close */
		frame_unref(p->q[p->q_head]);
		p->q_head = (p->q_head + 1) % p->q_cap;
		p->q_count--;
	}
	lws_callback_on_writable(p->wsi);
	/* a peer that never reads gets no close frame: drop it anyway */
	lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, 10);
}

/* The ring starts small and doubles up to queue_max: an idle connection
 * costs 16 pointers, not queue_max. */
/* Writes waiting behind one in flight, per connection; past this many the
 * client is far ahead of its acks and is told to slow down. */
#define WRITES_HELD_MAX 64

struct held_write {
	struct held_write *next;
	const char *sql; /* static text */
	int n;
	char *params[8]; /* owned copies; NULL stays NULL */
	pgq_cb cb;
	char *tag; /* owned */
};

static void
held_free(struct held_write *h)
{
	for (int i = 0; i < h->n; i++)
		free(h->params[i]);
	free(h->tag);
	free(h);
}

static int
ring_grow(struct pss *p)
{
	unsigned max = (unsigned)wsd->cfg->wsd_queue_max;
	unsigned ncap = p->q_cap ? p->q_cap * 2 : 16;
	struct frame **nq;

	if (p->q_cap >= max)
		return -1;
	if (ncap > max)
		ncap = max;
	if (!(nq = malloc(ncap * sizeof(*nq)))) /* owned by p */
		return -1;
	for (unsigned i = 0; i < p->q_count; i++)
		nq[i] = p->q[(p->q_head + i) % p->q_cap];
	free(p->q);
	p->q = nq;
	p->q_cap = ncap;
	p->q_head = 0;
	return 0;
}

void
sess_push(struct pss *p, struct frame *f)
{
	if (p->state == SESS_CLOSING)
		return;
	if (p->q_count >= p->q_cap && ring_grow(p) != 0) {
		ct_info("msg=\"queue full, closing\" conn=%" PRIu64
			" user=%s code=4008",
			p->id, p->user_id ? p->user_id : "-");
		ct_metric_add(&m_slow, 1);
		sess_close(p, 4008);
		return;
	}
	frame_ref(f);
	p->q[(p->q_head + p->q_count) % p->q_cap] = f;
	if (p->q_count++ == 0 && !p->in_dirty.owner) {
		lws_dll2_add_tail(&p->in_dirty, &dirty);
		if (!flush_sul.list.owner && !wsd->stopped)
			lws_sul_schedule(wsd->context, 0, &flush_sul,
					 flush_dirty, 1);
	}
}

void
sess_send(struct pss *p, const char *s, size_t len)
{
	struct frame *f = frame_new(s, len);

	if (!f) {
		sess_close(p, 1011);
		return;
	}
	frame_ref(f);
	sess_push(p, f);
	frame_unref(f);
}

void
sess_send_json(struct pss *p, json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT);

	json_decref(obj);
	if (!s) {
		sess_close(p, 1011);
		return;
	}
	sess_send(p, s, strlen(s));
	free(s);
}

void
sess_error(struct pss *p, int rc, const char *msg, const char *ref,
	   int retry_after)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "type", "error", "code",
			      ct_err_code(rc), "message",
			      msg && *msg ? msg : ct_err_code(rc));

	if (!o)
		return;
	if (ref)
		json_object_set_new(o, "ref", json_string(ref));
	if (retry_after > 0)
		json_object_set_new(o, "retry_after",
				    json_integer(retry_after));
	sess_send_json(p, o);
}

/* All waiting frames, newline-joined, in one lws_write (at most
 * WSD_WRITE_MAX bytes); -1 when the write failed. */
static int
write_out(struct pss *p)
{
	size_t total = 0, off = 0;
	unsigned n = 0;

	while (n < p->q_count) {
		struct frame *f = p->q[(p->q_head + n) % p->q_cap];

		if (n && total + f->len + 1 > WSD_WRITE_MAX)
			break;
		total += f->len + (n ? 1 : 0);
		n++;
	}
	if (wsd->wbuf_cap < LWS_PRE + total) {
		unsigned char *b = realloc(wsd->wbuf, LWS_PRE + total);

		if (!b)
			return -1;
		wsd->wbuf = b;
		wsd->wbuf_cap = LWS_PRE + total;
	}
	for (unsigned i = 0; i < n; i++) {
		struct frame *f = p->q[p->q_head];

		if (i)
			wsd->wbuf[LWS_PRE + off++] = '\n';
		memcpy(wsd->wbuf + LWS_PRE + off, f->data, f->len);
		off += f->len;
		frame_unref(f);
		p->q_head = (p->q_head + 1) % p->q_cap;
		p->q_count--;
	}
	if (lws_write(p->wsi, wsd->wbuf + LWS_PRE, off, LWS_WRITE_TEXT) <
	    (int)off)
		return -1;
	ct_metric_add(&m_frames, 1);
	if (p->q_count)
		lws_callback_on_writable(p->wsi);
	else
		fanout_drained(p);
	return 0;
}

/* The connections that got frames during this loop turn, written once the
 * turn's callbacks are done: everything queued in the turn (a whole burst
 * of notifications) leaves in one frame, and straight away. Asking lws for
 * a writable callback instead costs two epoll_ctl() calls and a wake-up
 * per connection per event, which at low rates is most of the cost of a
 * delivery. A connection whose previous write is not yet all out (lws
 * holds the rest) waits for its writable callback, so what lws buffers
 * stays one write per connection and a slow reader still fills its own
 * queue (4008). */
static void
flush_dirty(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	while (dirty.head) {
		struct pss *p =
			lws_container_of(dirty.head, struct pss, in_dirty);

		lws_dll2_remove(&p->in_dirty);
		if (!p->q_count)
			continue;
		if (p->state == SESS_CLOSING || lws_partial_buffered(p->wsi)) {
			lws_callback_on_writable(p->wsi);
			continue;
		}
		if (write_out(p) < 0) /* let lws notice and close it */
			lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
	}
}

void
sess_start(void)
{
	pgq_batch_register(&publish_batch);
}

void
sess_flush_stop(void)
{
	lws_sul_cancel(&flush_sul);
	while (dirty.head)
		lws_dll2_remove(dirty.head);
}

/* WRITEABLE: the close frame, or what a flush left for later. */
int
sess_writeable(struct pss *p)
{
	if (p->state == SESS_CLOSING) {
		char reason[32];
		int l = snprintf(reason, sizeof(reason), "%s",
				 p->close_code == 4008   ? "too slow"
				 : p->close_code == 4001 ? "unauthorized"
				 : p->close_code == 1001 ? "going away"
				 : p->close_code == 1009 ? "frame too big"
				 : p->close_code == 1008 ? "rate limit"
							 : "closing");

		lws_close_reason(p->wsi, (enum lws_close_status)p->close_code,
				 (unsigned char *)reason, (size_t)l);
		return -1;
	}
	if (!p->q_count)
		return 0; /* spurious writeable is legal */
	return write_out(p);
}

static void auth_ticket(struct pss *p, const char *ticket);

/* --- lifecycle ----------------------------------------------------------- */

void
sess_open(struct pss *p, struct lws *wsi)
{
	char ticket[CT_TOKEN_MAX + 8];
	const char *val;

	memset(p, 0, sizeof(*p));
	p->wsi = wsi;
	/* one coalesced write per turn: never hold it back for an ACK */
	{
		int one = 1;

		setsockopt(lws_get_socket_fd(wsi), IPPROTO_TCP, TCP_NODELAY,
			   &one, sizeof(one));
	}
	p->id = ++wsd->next_conn_id;
	p->state = SESS_AWAIT_AUTH;
	{
		char addr[128];

		/* behind a trusted proxy: the client it forwarded for */
		http_client_addr(wsi, addr, sizeof(addr));
		ct_info("msg=\"connection open\" conn=%" PRIu64 " client=%s",
			p->id, addr);
	}
	if (wsd->stopping) {
		sess_close(p, 1001);
		return;
	}
	lws_set_timer_usecs(wsi,
			    (lws_usec_t)wsd->cfg->lim_auth_timeout * 1000000);
	/* clients that cannot send a frame first may use ?ticket= */
	/* the value starts after "ticket=" inside our buffer */
	if ((val = lws_get_urlarg_by_name(wsi, "ticket=", ticket,
					  sizeof(ticket))))
		auth_ticket(p, val);
}

void
sess_timer(struct pss *p)
{
	if (p->state == SESS_AWAIT_AUTH || p->state == SESS_AUTHING) {
		ct_metric_add(&m_auth_fail_timeout, 1);
		sess_close(p, 4001);
	}
}

void
sess_closed(struct pss *p)
{
	pgq_forget(p);
	while (p->w_head) {
		struct held_write *h = p->w_head;

		p->w_head = h->next;
		held_free(h);
	}
	p->w_tail = NULL;
	p->w_count = 0;
	while (p->subs)
		sub_free(p->subs);
	lws_dll2_remove(&p->in_all);
	lws_dll2_remove(&p->in_dirty);
	if (wsd->stopping && !wsd->conns.count && p->state == SESS_CLOSING)
		wsd_stop_soon();
	while (p->q_count) {
		frame_unref(p->q[p->q_head]);
		p->q_head = (p->q_head + 1) % p->q_cap;
		p->q_count--;
	}
	free(p->q);
	free(p->rx);
	free(p->app);
	free(p->user_id);
	free(p->name);
	free(p->ref);
	free(p->ref_hash);
	p->q = NULL;
	p->rx = NULL;
	p->app = p->user_id = p->name = p->ref = p->ref_hash = NULL;
}

void
sess_close_all(int code)
{
	lws_start_foreach_dll(struct lws_dll2 *, d, wsd->conns.head)
	{
		sess_close(lws_container_of(d, struct pss, in_all), code);
	}
	lws_end_foreach_dll(d);
}

/* --- auth ---------------------------------------------------------------- */

static void
on_redeemed(void *arg, PGresult *res, int rc, const char *msg,
	    const char *ticket)
{
	struct pss *p = arg;
	json_t *o;

	if (rc != CT_OK || PQntuples(res) != 1) {
		ct_info("msg=\"auth refused\" conn=%" PRIu64 " err=\"%s\"",
			p->id, rc == CT_OK ? "unknown or used ticket" : msg);
		ct_metric_add(&m_auth_fail_ticket, 1);
		sess_close(p, 4001);
		return;
	}
	p->app = strdup(PQgetvalue(res, 0, 0));
	p->user_id = strdup(PQgetvalue(res, 0, 1));
	p->name = strdup(PQgetvalue(res, 0, 2));
	p->ref_hash = strdup(PQgetvalue(res, 0, 3));
	p->ref = ct_auth_open_ref(ticket, PQgetvalue(res, 0, 4));
	if (!p->app || !p->user_id || !p->name || !p->ref_hash || !p->ref) {
		ct_warn("msg=\"auth failed\" conn=%" PRIu64
			" err=\"cannot open the session ref\"",
			p->id);
		sess_close(p, 4001);
		return;
	}
	lws_set_timer_usecs(p->wsi, LWS_SET_TIMER_USEC_CANCEL);
	p->state = SESS_LIVE;
	lws_rx_flow_control(p->wsi, 1);
	lws_dll2_add_tail(&p->in_all, &wsd->conns);
	ct_metric_add(&m_auth_ok, 1);
	o = json_pack("{s:s, s:{s:s, s:s, s:s}, s:s}", "type", "welcome",
		      "user", "app", p->app, "id", p->user_id, "name", p->name,
		      "node", wsd->node_id);
	if (o)
		sess_send_json(p, o);
	ct_debug("msg=\"welcome\" conn=%" PRIu64 " app=%s user=%s", p->id,
		 p->app, p->user_id);
}

static void
auth_ticket(struct pss *p, const char *ticket)
{
	char hash[CT_HASH_HEX];
	const char *pv[1] = { hash };

	if (!ticket || !*ticket || strlen(ticket) >= CT_TOKEN_MAX) {
		ct_metric_add(&m_auth_fail_ticket, 1);
		sess_close(p, 4001);
		return;
	}
	ct_auth_hash_hex(ticket, hash);
	p->state = SESS_AUTHING;
	/* frames pipelined behind auth wait in lws until we know who it is */
	lws_rx_flow_control(p->wsi, 0);
	pgq_query(q_redeem, 1, pv, on_redeemed, p, p, ticket);
}

/* --- requests ------------------------------------------------------------ */

/* Too many refused requests in one window: sustained flooding, 1008. */
static void
strike(struct pss *p)
{
	int64_t now = ct_mono_ms();

	if (now - p->strikes_ms >
	    (int64_t)wsd->cfg->lim_publish_window * 1000) {
		p->strikes_ms = now;
		p->strikes = 0;
	}
	if (++p->strikes > wsd->cfg->lim_publish_count)
		sess_close(p, 1008);
}

/* "ref" and "client_id" of a request ride along in the pgq tag. */
static void
split_tag(const char *tag, char *ref, size_t reflen, const char **rest)
{
	const char *sep = tag ? strchr(tag, '\x1f') : NULL;
	size_t n = sep ? (size_t)(sep - tag) : 0;

	if (n >= reflen)
		n = reflen - 1;
	memcpy(ref, tag ? tag : "", n);
	ref[n] = 0;
	*rest = sep ? sep + 1 : "";
}

static void
make_tag(char *out, size_t outlen, const char *ref, const char *rest)
{
	snprintf(out, outlen, "%s\x1f%s", ref ? ref : "", rest ? rest : "");
}

/* --- ordered writes ------------------------------------------------------ */

/* Send a write now if none of this connection's is in flight, else queue
 * it behind the others. */
static void
write_query(struct pss *p, const char *sql, int n, const char *const *pv,
	    pgq_cb cb, const char *tag, const char *ref)
{
	struct held_write *h;

	if (!p->w_busy) {
		p->w_busy = 1;
		pgq_query(sql, n, pv, cb, p, p, tag);
		return;
	}
	if (p->w_count >= WRITES_HELD_MAX ||
	    !(h = calloc(1, sizeof(*h)))) { /* owned by p's list */
		sess_error(p, CT_ERATE, "too many writes waiting for acks", ref,
			   1);
		return;
	}
	h->sql = sql;
	h->n = n;
	h->cb = cb;
	h->tag = strdup(tag);
	for (int i = 0; i < n; i++)
		if (pv[i] && !(h->params[i] = strdup(pv[i])))
			h->n = -1;
	if (!h->tag || h->n < 0) {
		h->n = n;
		held_free(h);
		sess_error(p, CT_ENOMEM, "out of memory", ref, 1);
		return;
	}
	if (p->w_tail)
		p->w_tail->next = h;
	else
		p->w_head = h;
	p->w_tail = h;
	p->w_count++;
}

/* The write in flight answered: send the next one waiting, if any. */
static void
write_done(struct pss *p)
{
	struct held_write *h = p->w_head;

	if (!h) {
		p->w_busy = 0;
		return;
	}
	p->w_head = h->next;
	if (!p->w_head)
		p->w_tail = NULL;
	p->w_count--;
	pgq_query(h->sql, h->n, (const char *const *)h->params, h->cb, p, p,
		  h->tag);
	held_free(h);
}

static void
on_published(void *arg, PGresult *res, int rc, const char *msg, const char *tag)
{
	struct pss *p = arg;
	const char *cid;
	char ref[256];
	int retry;
	json_t *o;

	char *rest;
	long long t0 = strtoll(tag, &rest, 10);

	write_done(p);

	split_tag(*rest == '\x1d' ? rest + 1 : tag, ref, sizeof(ref), &cid);
	if (rc != CT_OK) {
		sess_error(p, rc, msg, *ref ? ref : NULL, 0);
		return;
	}
	retry = atoi(PQgetvalue(res, 0, 0));
	if (retry > 0) {
		ct_metric_add(&m_rate_publish, 1);
		sess_error(p, CT_ERATE, "too many messages", *ref ? ref : NULL,
			   retry);
		strike(p);
		return;
	}
	o = json_pack("{s:s, s:s, s:s, s:s}", "type", "ack", "id",
		      PQgetvalue(res, 0, 1), "seq", PQgetvalue(res, 0, 2),
		      "channel", PQgetvalue(res, 0, 3));
	if (!o)
		return;
	if (*cid)
		json_object_set_new(o, "client_id", json_string(cid));
	if (*ref)
		json_object_set_new(o, "ref", json_string(ref));
	sess_send_json(p, o);
	ct_metric_add(&m_publishes, 1);
	if (*rest == '\x1d')
		ct_hist_observe(&h_ack, (double)(ct_mono_ms() - t0));
}

static void
on_changed(void *arg, PGresult *res, int rc, const char *msg, const char *tag)
{
	struct pss *p = arg;
	const char *rest;
	char ref[256];
	json_t *o;

	write_done(p);
	split_tag(tag, ref, sizeof(ref), &rest);
	if (rc != CT_OK) {
		sess_error(p, rc, msg, *ref ? ref : NULL, 0);
		return;
	}
	o = json_pack("{s:s, s:s, s:s, s:s}", "type", "ack", "id",
		      PQgetvalue(res, 0, 0), "seq", PQgetvalue(res, 0, 1),
		      "channel", PQgetvalue(res, 0, 2));
	if (o && *ref)
		json_object_set_new(o, "ref", json_string(ref));
	if (o)
		sess_send_json(p, o);
}

static void
on_unread(void *arg, PGresult *res, int rc, const char *msg, const char *tag)
{
	const char *user;
	char chan[300];
	struct frame *f;
	char *s;
	json_t *o;

	(void)arg;
	if (rc != CT_OK)
		return;
	split_tag(tag, chan, sizeof(chan), &user);
	o = json_pack("{s:s, s:s, s:i}", "type", "unread", "channel", chan,
		      "count", atoi(PQgetvalue(res, 0, 0)));
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s || !(f = frame_new(s, strlen(s)))) {
		free(s);
		return;
	}
	free(s);
	f->refs = 1;
	lws_start_foreach_dll(struct lws_dll2 *, d, wsd->conns.head)
	{
		struct pss *p = lws_container_of(d, struct pss, in_all);

		if (strcmp(p->user_id, user) == 0)
			sess_push(p, f);
	}
	lws_end_foreach_dll(d);
	frame_unref(f);
}

/* 'r <channel> <user>': the user's read marker moved somewhere. */
void
sess_read_moved(const char *channel, const char *user_id)
{
	const char *pv[2] = { user_id, channel };
	char tag[600];

	lws_start_foreach_dll(struct lws_dll2 *, d, wsd->conns.head)
	{
		struct pss *p = lws_container_of(d, struct pss, in_all);

		if (strcmp(p->user_id, user_id) == 0) {
			make_tag(tag, sizeof(tag), channel, user_id);
			pgq_query(q_unread, 2, pv, on_unread, NULL, NULL, tag);
			return;
		}
	}
	lws_end_foreach_dll(d);
}

void
sess_session_ended(const char *app, const char *ref_hash)
{
	lws_start_foreach_dll(struct lws_dll2 *, d, wsd->conns.head)
	{
		struct pss *p = lws_container_of(d, struct pss, in_all);

		if (strcmp(p->app, app) == 0 &&
		    strcmp(p->ref_hash, ref_hash) == 0) {
			ct_info("msg=\"login ended, closing\" conn=%" PRIu64
				" user=%s",
				p->id, p->user_id);
			ct_metric_add(&m_auth_ended, 1);
			sess_close(p, 4001);
		}
	}
	lws_end_foreach_dll(d);
}

static void
on_ended(void *arg, PGresult *res, int rc, const char *msg, const char *tag)
{
	(void)arg;
	if (rc != CT_OK) {
		ct_warn("msg=\"session re-check failed\" err=\"%s\"", msg);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++)
		sess_session_ended(PQgetvalue(res, i, 0),
				   PQgetvalue(res, i, 1));
}

/* Append s to a PostgreSQL array literal being built in *buf ("{" is
 * written before the first element; the caller adds the "}"). */
int
pgarr_add(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t need = *len + 2 * strlen(s) + 5;

	if (need > *cap) {
		size_t ncap = need * 2;
		char *nb = realloc(*buf, ncap);

		if (!nb)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	(*buf)[*len] = *len ? ',' : '{';
	*len += 1;
	(*buf)[*len] = '"';
	*len += 1;
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			(*buf)[(*len)++] = '\\';
		(*buf)[(*len)++] = *s;
	}
	(*buf)[(*len)++] = '"';
	(*buf)[*len] = 0;
	return 0;
}

/* Every session_recheck seconds: one query for all live logins. */
void
sess_recheck(void)
{
	/* In statements of RECHECK_CHUNK logins: one statement for ten
	 * thousand refs would be most of a megabyte, and would hold a query
	 * connection (and the socket buffer) for that long. */
	enum { RECHECK_CHUNK = 200 };
	char *apps = NULL, *refs = NULL;
	size_t al = 0, ac = 0, rl = 0, rcap = 0;
	const char *pv[2];
	unsigned n = 0;

	lws_start_foreach_dll(struct lws_dll2 *, d, wsd->conns.head)
	{
		struct pss *p = lws_container_of(d, struct pss, in_all);

		if (p->state != SESS_LIVE)
			continue;
		if (pgarr_add(&apps, &al, &ac, p->app) ||
		    pgarr_add(&refs, &rl, &rcap, p->ref))
			goto out;
		if (++n == RECHECK_CHUNK) {
			strcat(apps, "}");
			strcat(refs, "}");
			pv[0] = apps;
			pv[1] = refs;
			pgq_query_bg(q_ended, 2, pv, on_ended, NULL, NULL,
				     NULL);
			free(apps);
			free(refs);
			apps = refs = NULL;
			al = ac = rl = rcap = 0;
			n = 0;
		}
	}
	lws_end_foreach_dll(d);
	if (!apps || !refs)
		goto out;
	strcat(apps, "}");
	strcat(refs, "}");
	pv[0] = apps;
	pv[1] = refs;
	pgq_query_bg(q_ended, 2, pv, on_ended, NULL, NULL, NULL);
out:
	free(apps);
	free(refs);
}

/* tag: "<ref>\x1f<limit>\x1f<channel>" */
static void
on_history(void *arg, PGresult *res, int rc, const char *msg, const char *tag)
{
	struct pss *p = arg;
	const char *rest, *chan;
	char ref[256], *head = NULL, *buf = NULL;
	int n, lim, first, i;
	size_t total, off;
	json_t *o;

	split_tag(tag, ref, sizeof(ref), &rest);
	if (rc != CT_OK) {
		sess_error(p, rc, msg, *ref ? ref : NULL, 0);
		return;
	}
	lim = atoi(rest);
	chan = strchr(rest, '\x1f') ? strchr(rest, '\x1f') + 1 : "";
	n = PQntuples(res);
	first = n > lim ? n - lim : 0; /* one extra row: has_more */
	/* {"type":"history","channel":..,"has_more":..,"ref":..,"events":[
	 * the events are JSON text from the database, pasted in */
	o = json_pack("{s:s, s:s, s:b}", "type", "history", "channel", chan,
		      "has_more", first > 0);
	if (o && *ref)
		json_object_set_new(o, "ref", json_string(ref));
	head = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!head)
		goto out;
	total = strlen(head) + 16;
	for (i = first; i < n; i++)
		total += (size_t)PQgetlength(res, i, 1) + 1;
	if (!(buf = malloc(total)))
		goto out;
	off = strlen(head) - 1; /* without the closing brace */
	memcpy(buf, head, off);
	memcpy(buf + off, ",\"events\":[", 11);
	off += 11;
	for (i = first; i < n; i++) {
		size_t l = (size_t)PQgetlength(res, i, 1);

		if (i > first)
			buf[off++] = ',';
		memcpy(buf + off, PQgetvalue(res, i, 1), l);
		off += l;
	}
	buf[off++] = ']';
	buf[off++] = '}';
	sess_send(p, buf, off);
out:
	free(head);
	free(buf);
}

static void
on_channels(void *arg, PGresult *res, int rc, const char *msg, const char *tag)
{
	struct pss *p = arg;
	json_t *o, *a;

	if (rc != CT_OK) {
		sess_error(p, rc, msg, tag && *tag ? tag : NULL, 0);
		return;
	}
	a = json_array();
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:s, s:i}", "name",
				     PQgetvalue(res, i, 0), "title",
				     PQgetvalue(res, i, 1), "last_seq",
				     PQgetvalue(res, i, 2), "unread",
				     atoi(PQgetvalue(res, i, 3))));
	o = json_pack("{s:s, s:o}", "type", "channels", "channels", a);
	if (o) {
		if (tag && *tag)
			json_object_set_new(o, "ref", json_string(tag));
		sess_send_json(p, o);
	}
}

static void
on_simple_error(void *arg, PGresult *res, int rc, const char *msg,
		const char *tag)
{
	if (rc != CT_OK)
		sess_error(arg, rc, msg, tag && *tag ? tag : NULL, 0);
}

/* "after"/"seq"/"before": a string or a number; absent = dflt. */

static void
on_typing(struct pss *p, const char *channel, const char *ref)
{
	struct sub *s = sub_find(p, channel);
	int64_t now = ct_mono_ms();
	int per_s =
		wsd->cfg->lim_typing_per_s > 0 ? wsd->cfg->lim_typing_per_s : 1;
	json_t *u;
	char *us;
	const char *pv[2];

	if (!s || s->state != SUB_LIVE) {
		sess_error(p, CT_EBADREQ, "subscribe to the channel first", ref,
			   0);
		return;
	}
	if (p->typing_ms && now - p->typing_ms < 1000 / per_s) {
		ct_metric_add(&m_rate_typing, 1);
		sess_error(p, CT_ERATE, "typing too often", ref, 1);
		strike(p);
		return;
	}
	p->typing_ms = now;
	u = json_pack("{s:s, s:s, s:s}", "app", p->app, "id", p->user_id,
		      "name", p->name);
	us = u ? json_dumps(u, JSON_COMPACT) : NULL;
	json_decref(u);
	if (!us)
		return;
	pv[0] = channel;
	pv[1] = us;
	pgq_query(q_typing, 2, pv, on_simple_error, p, p, ref);
	free(us);
}

/* 't <channel> <user json>' from any node */
void
sess_typing_notify(const char *payload)
{
	char chan[300];
	const char *user;
	struct channel *c;
	json_t *u;
	const char *uid, *app;
	char *s;
	struct frame *f;

	if (sscanf(payload, "%299s", chan) != 1)
		return;
	user = payload + strlen(chan);
	if (*user != ' ' || !(c = channel_get(chan, 0)))
		return;
	u = json_loads(user + 1, 0, NULL);
	uid = json_string_value(json_object_get(u, "id"));
	app = json_string_value(json_object_get(u, "app"));
	s = NULL;
	if (uid && app) {
		json_t *o = json_pack("{s:s, s:s, s:O}", "type", "typing",
				      "channel", chan, "user", u);

		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
	}
	if (s && (f = frame_new(s, strlen(s)))) {
		f->refs = 1;
		lws_start_foreach_dll(struct lws_dll2 *, d, c->subs.head)
		{
			struct sub *sb =
				lws_container_of(d, struct sub, in_chan);

			if (sb->state == SUB_LIVE &&
			    strcmp(sb->pss->user_id, uid) != 0)
				sess_push(sb->pss, f);
		}
		lws_end_foreach_dll(d);
		frame_unref(f);
	}
	free(s);
	json_decref(u);
	channel_put(c);
}

/* A frame creq_parse() accepted (types, names, numbers and text are
 * checked): act on it. */
static int
on_request(struct pss *p, const struct creq *r)
{
	json_t *m = r->m;
	const char *type = r->type, *ref = r->ref;
	const char *channel = json_string_value(json_object_get(m, "channel"));
	const char *text = json_string_value(json_object_get(m, "text"));
	char a[24], b[24], tag[512];

	if (strcmp(type, "ping") == 0) {
		sess_send(p, "{\"type\":\"pong\"}", 15);
		return 0;
	}
	if (strcmp(type, "channels") == 0) {
		const char *pv[2] = { p->app, p->user_id };

		pgq_query(q_channels, 2, pv, on_channels, p, p, ref);
		return 0;
	}
	if (strcmp(type, "edit") == 0 || strcmp(type, "delete") == 0) {
		int edit = type[0] == 'e';
		const char *pv[5] = { edit ? "edited" : "deleted", p->app,
				      p->user_id, a, edit ? text : NULL };

		snprintf(a, sizeof(a), "%" PRId64, r->seq);
		make_tag(tag, sizeof(tag), ref, NULL);
		write_query(p, q_change, 5, pv, on_changed, tag, ref);
		return 0;
	}
	if (strcmp(type, "subscribe") == 0) {
		fanout_subscribe(p, channel, r->seq, ref);
	} else if (strcmp(type, "unsubscribe") == 0) {
		fanout_unsubscribe(p, channel);
	} else if (strcmp(type, "publish") == 0) {
		const char *cid =
			json_string_value(json_object_get(m, "client_id"));
		char lim[16], win[16];
		const char *pv[8] = { p->app, p->user_id, p->name, channel,
				      text,   cid,        lim,     win };
		int n;

		snprintf(lim, sizeof(lim), "%d", wsd->cfg->lim_publish_count);
		snprintf(win, sizeof(win), "%d", wsd->cfg->lim_publish_window);
		/* "<arrival ms>\x1d<ref>\x1f<client_id>": for the ack timing */
		n = snprintf(tag, sizeof(tag), "%lld\x1d",
			     (long long)ct_mono_ms());
		make_tag(tag + n, sizeof(tag) - (size_t)n, ref, cid);
		write_query(p, q_publish, 8, pv, on_published, tag, ref);
	} else if (strcmp(type, "typing") == 0) {
		on_typing(p, channel, ref);
	} else if (strcmp(type, "read") == 0) {
		const char *pv[4] = { p->app, p->user_id, channel, a };

		snprintf(a, sizeof(a), "%" PRId64, r->seq);
		pgq_query(q_read, 4, pv, on_simple_error, p, p, ref);
	} else if (strcmp(type, "presence") == 0) {
		presence_request(p, channel, ref);
	} else { /* history */
		const char *pv[5] = { p->app, p->user_id, channel, a, b };

		snprintf(a, sizeof(a), "%" PRId64, r->seq);
		snprintf(b, sizeof(b), "%" PRId64, r->limit + 1);
		snprintf(tag, sizeof(tag), "%s\x1f%" PRId64 "\x1f%s",
			 ref ? ref : "", r->limit, channel);
		pgq_query(q_history, 5, pv, on_history, p, p, tag);
	}
	return 0;
}

/* One complete client message: parsed and checked by creq_parse(), then
 * acted on. */
static int
on_message(struct pss *p, const char *s, size_t len)
{
	struct creq r;
	char msg[128];
	int rc, first = p->state == SESS_AWAIT_AUTH;

	if (p->state != SESS_AWAIT_AUTH && p->state != SESS_LIVE)
		return 0; /* authing or closing: drop */
	rc = creq_parse(s, len, first, wsd->cfg->lim_text_max, &r, msg,
			sizeof(msg));
	if (rc != CT_OK) {
		if (first) {
			ct_metric_add(&m_auth_fail_ticket, 1);
			sess_close(p, 4001);
		} else {
			sess_error(p, rc, msg, r.ref, 0);
		}
		creq_free(&r);
		return 0;
	}
	rc = 0;
	if (first)
		auth_ticket(p,
			    json_string_value(json_object_get(r.m, "ticket")));
	else
		rc = on_request(p, &r);
	creq_free(&r);
	return rc;
}

/* A fragment of a client message: reassemble up to frame_max bytes. */
int
sess_receive(struct pss *p, const void *in, size_t len)
{
	size_t max = (size_t)wsd->cfg->lim_frame_max;
	int done = lws_is_final_fragment(p->wsi) &&
		   !lws_remaining_packet_payload(p->wsi);

	if (p->state == SESS_CLOSING)
		return 0;
	if (p->rx_len + len +
		    (done ? 0 : lws_remaining_packet_payload(p->wsi)) >
	    max) {
		ct_info("msg=\"frame too big\" conn=%" PRIu64, p->id);
		sess_close(p, 1009);
		lws_rx_flow_control(p->wsi, 0);
		return 0;
	}
	if (done && !p->rx_len)
		return on_message(p, in, len);
	if (p->rx_len + len > p->rx_cap) {
		size_t ncap = p->rx_len + len + 1024;
		char *nb = realloc(p->rx, ncap);

		if (!nb)
			return -1;
		p->rx = nb;
		p->rx_cap = ncap;
	}
	memcpy(p->rx + p->rx_len, in, len);
	p->rx_len += len;
	if (done) {
		int rc = on_message(p, p->rx, p->rx_len);

		p->rx_len = 0;
		return rc;
	}
	return 0;
}

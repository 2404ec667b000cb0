/* dispatch.c - client frames: reassembled, parsed by creq_parse() (the one
 * table of frame types and their limits), then handed to the handler of
 * their kind. Each handler's query carries a typed context the request
 * owns (pgq.h), never a string to parse back.
 *
 * What one connection may hold: at most [wsd] conn_queries requests queued
 * or in flight, and only while its outbound queue has room for all their
 * answers (wsd_answer_max() each, within queue_bytes). Past that its socket
 * is simply not read (lws_rx_flow_control): further frames wait in the
 * kernel, which costs the daemon nothing, until answers are written. A
 * frame that still arrives past twice the limit is refused with
 * rate_limited. Writes (publish, edit, delete) commit in the order sent
 * (pgq.h's flows): consecutive publishes may share one transaction. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/filesig.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "wsd/creq.h"
#include "wsd/gate.h"
#include "wsd/wsd.h"

/* clang-format off */
static const char q_publish[] =
	"SELECT retry_after, id, seq, channel FROM crosstalk.ws_publish("
	"$1, $2, $3, $4, $5, $6, $7, $8, $9::bigint, $10)";
/* Publishes waiting together commit together, through the HTTP API's
 * group commit (crosstalk.api_post_batch: api_post is ws_publish plus the
 * event's JSON, from which the ack takes id, seq and channel). */
static const char q_publish_batch[] =
	"SELECT i, retry_after, event->>'id', event->>'seq', "
	"event->>'channel', err_state, err_message "
	"FROM crosstalk.api_post_batch($1::json)";
static const char *const publish_keys[] = {
	"app", "user_id", "name", "channel", "text", "client_id", "limit",
	"window", "reply_to", "files"
};
static const char *const publish_cols[] = { "retry_after", "id", "seq",
					    "channel" };
static const struct pgq_batch publish_batch = {
	q_publish, q_publish_batch, publish_keys, 10, publish_cols, 4, 64
};
static const char q_change[] =
	"SELECT message_id, seq, channel FROM crosstalk.change_message("
	"$1, $2, $3, $4, $5)";
static const char q_read[] = "SELECT crosstalk.ws_read($1, $2, $3, $4)";
static const char q_unread[] =
	"SELECT crosstalk.unread_count($1, $2), crosstalk.mention_count($1, $2)";
static const char q_mention[] =
	"SELECT json_build_object('type', 'mention', 'channel', m.channel, "
	"'message', crosstalk.event_json(m))::text FROM crosstalk.messages m "
	"WHERE m.id = $1";
static const char q_history[] =
	"SELECT seq, event FROM crosstalk.ws_history($1, $2, $3, $4, $5)";
static const char q_channels[] =
	"SELECT name, title, last_seq, unread, archived, private, mentions, "
	"read_seq FROM crosstalk.channels_for($1, $2)";
static const char q_typing[] = "SELECT crosstalk.ws_typing($1, $2)";
static const char q_search[] =
	"SELECT crosstalk.search_messages($1, $2, $3, $4, $5, $6::int)";
static const char q_users[] =
	"SELECT crosstalk.search_users($1, $2, $3, $4::int)";
static const char q_group[] =
	"SELECT crosstalk.create_group($1, $2, $3, "
	"ARRAY(SELECT json_array_elements_text($4::json)), $5)";
static const char q_members[] =
	"SELECT json_build_object('channel', $3::text, 'members', "
	"crosstalk.channel_members_of($1, $2, $3))";
static const char q_react[] =
	"SELECT crosstalk.api_react($1, $2, $3, $4::bigint, $5, $6::boolean)";
static const char q_change_members[] =
	"SELECT crosstalk.api_change_members($1, $2::boolean, $3::json, $4, "
	"$5, $6)";
/* clang-format on */

#define CHANNEL_MAX (3 + 4 * 128 + 1 + 4 * 128 + 1)
#define USER_MAX    (4 * 128 + 1)

/* --- contexts (each owned by its request) ----------------------------------
 */

struct ref_ctx {
	char ref[CREQ_REF_MAX + 1]; /* "" when the frame had none */
};

struct pub_ctx {
	char ref[CREQ_REF_MAX + 1];
	char client_id[129];
	int64_t t0_ms; /* frame received: for the ack histogram */
};

struct hist_ctx {
	char ref[CREQ_REF_MAX + 1];
	int64_t limit;
	char channel[CHANNEL_MAX];
};

struct unread_ctx {
	char channel[CHANNEL_MAX];
	char user[USER_MAX];
};

static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static const char *
ref_or_null(const char *ref)
{
	return *ref ? ref : NULL;
}

/* --- what a connection may have in flight ----------------------------------
 */

/* Should p's socket be left unread for now? */
static int
over(const struct pss *p)
{
	size_t room = (size_t)wsd->cfg->wsd_queue_bytes;

	unsigned busy = p->flow.pending + p->gated;

	return p->state == SESS_AUTHING ||
	       busy >= (unsigned)wsd->cfg->wsd_conn_queries ||
	       p->q_bytes + (size_t)(busy + 1) * wsd_answer_max() > room;
}

void
dispatch_resume(struct pss *p)
{
	int pause;

	if (p->state == SESS_CLOSING || !p->wsi)
		return;
	pause = over(p);
	if (pause != (int)p->rx_paused) {
		p->rx_paused = (unsigned)pause;
		lws_rx_flow_control(p->wsi, !pause);
	}
}

static void
dispatch_flow_idle(struct pgq_flow *f)
{
	dispatch_resume(lws_container_of(f, struct pss, flow));
}

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
		out_close(p, 1008);
}

void
dispatch_open(struct pss *p)
{
	p->flow.idle = dispatch_flow_idle;
}

void
dispatch_closed(struct pss *p)
{
	p->flow.idle = NULL; /* nothing more to resume */
}

/* --- answers ----------------------------------------------------------------
 */

static void
on_published(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct pss *p = owner;
	struct pub_ctx *c = ctx;
	int retry;
	json_t *o;

	if (rc != CT_OK) {
		out_error(p, rc, msg, ref_or_null(c->ref),
			  rc == CT_EUNAVAIL ? 1 : 0);
		return;
	}
	retry = atoi(PQgetvalue(res, 0, 0));
	if (retry > 0) {
		ct_metric_add(&m_rate_publish, 1);
		out_error(p, CT_ERATE, "too many messages", ref_or_null(c->ref),
			  retry);
		strike(p);
		return;
	}
	o = json_pack("{s:s, s:s, s:s, s:s}", "type", "ack", "id",
		      PQgetvalue(res, 0, 1), "seq", PQgetvalue(res, 0, 2),
		      "channel", PQgetvalue(res, 0, 3));
	if (!o)
		return;
	if (*c->client_id)
		json_object_set_new(o, "client_id", json_string(c->client_id));
	if (*c->ref)
		json_object_set_new(o, "ref", json_string(c->ref));
	out_json(p, o);
	ct_metric_add(&m_publishes, 1);
	ct_hist_observe(&h_ack, (double)(ct_mono_ms() - c->t0_ms));
}

static void
on_changed(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct pss *p = owner;
	struct ref_ctx *c = ctx;
	json_t *o;

	if (rc != CT_OK) {
		out_error(p, rc, msg, ref_or_null(c->ref), 0);
		return;
	}
	o = json_pack("{s:s, s:s, s:s, s:s}", "type", "ack", "id",
		      PQgetvalue(res, 0, 0), "seq", PQgetvalue(res, 0, 1),
		      "channel", PQgetvalue(res, 0, 2));
	if (o && *c->ref)
		json_object_set_new(o, "ref", json_string(c->ref));
	if (o)
		out_json(p, o);
}

static void
on_simple_error(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct ref_ctx *c = ctx;

	(void)res;
	if (rc != CT_OK)
		out_error(owner, rc, msg, ref_or_null(c->ref), 0);
}

/* History: the newest events of the page that fit one answer; has_more
 * when the page was cut (the client pages on with before = the first seq
 * it got). */
static void
on_history(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct pss *p = owner;
	struct hist_ctx *c = ctx;
	size_t budget = wsd_answer_max(), total, off, head_len;
	char *head = NULL, *buf = NULL;
	int n, first, cut, i;
	json_t *o;

	if (rc != CT_OK) {
		out_error(p, rc, msg, ref_or_null(c->ref), 0);
		return;
	}
	n = PQntuples(res);
	first = n > c->limit ? n - (int)c->limit : 0; /* one extra: has_more */
	total = 0;
	for (i = n - 1; i >= first; i--) { /* newest first, within budget */
		size_t l = (size_t)PQgetlength(res, i, 1) + 1;

		if (i < n - 1 && total + l > budget)
			break;
		total += l;
	}
	cut = i >= first;
	if (cut)
		ct_metric_add(&m_answers_cut, 1);
	first = i + 1;
	/* {"type":"history","channel":..,"has_more":..,"ref":..,"events":[
	 * the events are JSON text from the database, pasted in */
	o = json_pack("{s:s, s:s, s:b}", "type", "history", "channel",
		      c->channel, "has_more", first > 0);
	if (o && *c->ref)
		json_object_set_new(o, "ref", json_string(c->ref));
	head = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!head)
		goto out;
	head_len = strlen(head);
	if (!(buf = malloc(head_len + 16 + total)))
		goto out;
	off = head_len - 1; /* without the closing brace */
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
	out_send(p, buf, off);
out:
	free(head);
	free(buf);
}

static void
on_channels(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct pss *p = owner;
	struct ref_ctx *c = ctx;
	json_t *o, *a;

	if (rc != CT_OK) {
		out_error(p, rc, msg, ref_or_null(c->ref), 0);
		return;
	}
	a = json_array();
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:s, s:i, s:b, s:b, s:i, s:s}",
				     "name", PQgetvalue(res, i, 0), "title",
				     PQgetvalue(res, i, 1), "last_seq",
				     PQgetvalue(res, i, 2), "unread",
				     atoi(PQgetvalue(res, i, 3)), "archived",
				     *PQgetvalue(res, i, 4) == 't', "private",
				     *PQgetvalue(res, i, 5) == 't', "mentions",
				     atoi(PQgetvalue(res, i, 6)), "read_seq",
				     PQgetvalue(res, i, 7)));
	o = json_pack("{s:s, s:o}", "type", "channels", "channels", a);
	if (o) {
		if (*c->ref)
			json_object_set_new(o, "ref", json_string(c->ref));
		out_json(p, o);
	}
}

/* {"type":TYPE,"ref":..,...}: a database function's JSON object answer
 * with the frame's type and ref put in. */
static void
answer_object(struct pss *p, const struct ref_ctx *c, PGresult *res, int rc,
	      const char *msg, const char *type)
{
	json_t *o;

	if (rc != CT_OK) {
		out_error(p, rc, msg, ref_or_null(c->ref), 0);
		return;
	}
	if (PQntuples(res) != 1 ||
	    (size_t)PQgetlength(res, 0, 0) > wsd_answer_max()) {
		out_error(p, CT_ETOOLARGE, "answer too large: ask fewer",
			  ref_or_null(c->ref), 0);
		return;
	}
	if (!(o = json_loads(PQgetvalue(res, 0, 0), 0, NULL))) {
		out_error(p, CT_ENOMEM, "out of memory", ref_or_null(c->ref),
			  0);
		return;
	}
	json_object_set_new(o, "type", json_string(type));
	if (*c->ref)
		json_object_set_new(o, "ref", json_string(c->ref));
	out_json(p, o);
}

/* {"type":"search","results":[..],"next":..} */
static void
on_search(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	answer_object(owner, ctx, res, rc, msg, "search");
}

/* {"type":"users","users":[..],"next":..} */
static void
on_users(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	answer_object(owner, ctx, res, rc, msg, "users");
}

/* {"type":"group","channel":{name, title, private, last_seq, owner}} */
static void
on_group(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	answer_object(owner, ctx, res, rc, msg, "group");
}

/* {"type":"reacted","ref":..,"changed":..,"event"?:{..}} */
static void
on_reacted(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	answer_object(owner, ctx, res, rc, msg, "reacted");
}

/* {"type":"members","channel":..,"members":[{id, role, name, app}]} */
static void
on_members(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	answer_object(owner, ctx, res, rc, msg, "members");
}

/* {"type":"members_changed","channel":..,"changed":..,"event"?:{..}} */
static void
on_members_changed(void *owner, void *ctx, PGresult *res, int rc,
		   const char *msg)
{
	answer_object(owner, ctx, res, rc, msg, "members_changed");
}

/* --- handlers
 * ------------------------------------------------------------------ */

/* A request with a ref context, in p's flow; fails only when out of
 * memory, which is said to the client. */
static void
ask(struct pss *p, const struct creq *r, const char *sql, int n,
    const char *const *pv, pgq_done_fn done)
{
	struct pgq_req *q = pgq_new(sql, n, pv, sizeof(struct ref_ctx));

	if (!q) {
		out_error(p, CT_ENOMEM, "out of memory", r->ref, 1);
		return;
	}
	copy(((struct ref_ctx *)pgq_ctx(q))->ref, CREQ_REF_MAX + 1, r->ref);
	pgq_submit(q, PGQ_USER, &p->flow, p, done, NULL);
}

static void
do_ping(struct pss *p, const struct creq *r)
{
	(void)r;
	out_send(p, "{\"type\":\"pong\"}", 15);
}

static void
do_channels(struct pss *p, const struct creq *r)
{
	const char *pv[2] = { p->app, p->user_id };

	ask(p, r, q_channels, 2, pv, on_channels);
}

static void
do_subscribe(struct pss *p, const struct creq *r)
{
	access_subscribe(p, r->channel, r->seq, r->ref);
}

static void
do_unsubscribe(struct pss *p, const struct creq *r)
{
	access_unsubscribe(p, r->channel);
}

static void
do_publish(struct pss *p, const struct creq *r)
{
	char lim[16], win[16], reply[24];
	const char *pv[10] = { p->app,
			       p->user_id,
			       p->name,
			       r->channel,
			       r->text,
			       r->client_id,
			       lim,
			       win,
			       r->reply_to ? reply : NULL,
			       r->files[0] ? r->files : NULL };
	struct pgq_req *q;
	struct pub_ctx *c;

	snprintf(lim, sizeof(lim), "%d", wsd->cfg->lim_publish_count);
	snprintf(win, sizeof(win), "%d", wsd->cfg->lim_publish_window);
	snprintf(reply, sizeof(reply), "%" PRId64, r->reply_to);
	if (!(q = pgq_new(q_publish, 10, pv, sizeof(*c)))) {
		out_error(p, CT_ENOMEM, "out of memory", r->ref, 1);
		return;
	}
	c = pgq_ctx(q);
	copy(c->ref, sizeof(c->ref), r->ref);
	copy(c->client_id, sizeof(c->client_id), r->client_id);
	c->t0_ms = r->t0_ms; /* the frame's arrival: a hook's wait counts */
	pgq_set_write(q, r->channel);
	pgq_submit(q, PGQ_USER, &p->flow, p, on_published, NULL);
}

static void
do_change(struct pss *p, const struct creq *r)
{
	int edit = r->kind == CREQ_EDIT;
	char id[24];
	const char *pv[5] = { edit ? "edited" : "deleted", p->app, p->user_id,
			      id, edit ? r->text : NULL };
	struct pgq_req *q;

	snprintf(id, sizeof(id), "%" PRId64, r->seq);
	if (!(q = pgq_new(q_change, 5, pv, sizeof(struct ref_ctx)))) {
		out_error(p, CT_ENOMEM, "out of memory", r->ref, 1);
		return;
	}
	copy(((struct ref_ctx *)pgq_ctx(q))->ref, CREQ_REF_MAX + 1, r->ref);
	pgq_set_write(q, NULL); /* after this connection's earlier writes */
	pgq_submit(q, PGQ_USER, &p->flow, p, on_changed, NULL);
}

static void
do_typing(struct pss *p, const struct creq *r)
{
	struct sub *s = sub_find(p, r->channel);
	int64_t now = ct_mono_ms();
	int per_s =
		wsd->cfg->lim_typing_per_s > 0 ? wsd->cfg->lim_typing_per_s : 1;
	const char *pv[2];
	json_t *u;
	char *us;

	if (!s || s->state != SUB_LIVE) {
		out_error(p, CT_EBADREQ, "subscribe to the channel first",
			  r->ref, 0);
		return;
	}
	if (p->typing_ms && now - p->typing_ms < 1000 / per_s) {
		ct_metric_add(&m_rate_typing, 1);
		out_error(p, CT_ERATE, "typing too often", r->ref, 1);
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
	pv[0] = r->channel;
	pv[1] = us;
	ask(p, r, q_typing, 2, pv, on_simple_error);
	free(us);
}

static void
do_read(struct pss *p, const struct creq *r)
{
	char seq[24];
	const char *pv[4] = { p->app, p->user_id, r->channel, seq };

	snprintf(seq, sizeof(seq), "%" PRId64, r->seq);
	ask(p, r, q_read, 4, pv, on_simple_error);
}

static void
do_presence(struct pss *p, const struct creq *r)
{
	access_watch(p, r->channel, r->ref);
}

static void
do_history(struct pss *p, const struct creq *r)
{
	char before[24], lim[24];
	const char *pv[5] = { p->app, p->user_id, r->channel, before, lim };
	struct pgq_req *q;
	struct hist_ctx *c;

	snprintf(before, sizeof(before), "%" PRId64, r->seq);
	snprintf(lim, sizeof(lim), "%" PRId64, r->limit + 1);
	if (!(q = pgq_new(q_history, 5, pv, sizeof(*c)))) {
		out_error(p, CT_ENOMEM, "out of memory", r->ref, 1);
		return;
	}
	c = pgq_ctx(q);
	copy(c->ref, sizeof(c->ref), r->ref);
	copy(c->channel, sizeof(c->channel), r->channel);
	c->limit = r->limit;
	pgq_submit(q, PGQ_USER, &p->flow, p, on_history, NULL);
}

static void
do_search(struct pss *p, const struct creq *r)
{
	char lim[24];
	const char *pv[6] = { p->app,     p->user_id, r->q,
			      r->channel, r->cursor,  lim };

	snprintf(lim, sizeof(lim), "%" PRId64, r->limit);
	ask(p, r, q_search, 6, pv, on_search);
}

static void
do_users(struct pss *p, const struct creq *r)
{
	char lim[24];
	const char *pv[4] = { p->app, r->q, r->cursor, lim };

	snprintf(lim, sizeof(lim), "%" PRId64, r->limit);
	ask(p, r, q_users, 4, pv, on_users);
}

/* A group: this user and the listed people, in a new private channel. */
static void
do_group(struct pss *p, const struct creq *r)
{
	char *ids = json_dumps(r->users, JSON_COMPACT); /* freed here */
	const char *pv[5] = { p->app, p->user_id, p->name, ids, r->title };

	if (!ids) {
		out_error(p, CT_ENOMEM, "out of memory", r->ref, 1);
		return;
	}
	ask(p, r, q_group, 5, pv, on_group);
	free(ids);
}

static void
do_members(struct pss *p, const struct creq *r)
{
	const char *pv[3] = { p->app, p->user_id, r->channel };

	ask(p, r, q_members, 3, pv, on_members);
}

/* add_members / remove_members: as this user (an owner; anyone may
 * remove only themselves) */
static void
do_change_members(struct pss *p, const struct creq *r)
{
	char *ids = json_dumps(r->users, JSON_COMPACT); /* freed here */
	const char *pv[6] = {
		r->channel, r->kind == CREQ_ADD_MEMBERS ? "t" : "f",
		ids,        p->app,
		p->user_id, p->name,
	};

	if (!ids) {
		out_error(p, CT_ENOMEM, "out of memory", r->ref, 1);
		return;
	}
	ask(p, r, q_change_members, 6, pv, on_members_changed);
	free(ids);
}

static void
do_react(struct pss *p, const struct creq *r)
{
	char id[24];
	const char *pv[6] = { p->app,   p->user_id,
			      p->name,  id,
			      r->emoji, r->kind == CREQ_REACT ? "t" : "f" };

	snprintf(id, sizeof(id), "%" PRId64, r->seq);
	ask(p, r, q_react, 6, pv, on_reacted);
}

typedef void (*handler_fn)(struct pss *p, const struct creq *r);

/* Attachments (docs/API.md): a browser uploads over HTTP with a token
 * signed here, and reads files through links signed here; crosstalk-fcgi
 * checks both, and the user's right to the channel, when they are used. */
static int
files_on(struct pss *p, const struct creq *r)
{
	if (wsd->file_secret)
		return 1;
	out_error(p, CT_EUNAVAIL, "attachments need crosstalkctl migrate",
		  r->ref, 0);
	return 0;
}

static void
do_upload(struct pss *p, const struct creq *r)
{
	int64_t exp = ct_now_ms() / 1000 + wsd->cfg->att_url_ttl;
	char tok[CT_UPLOAD_TOKEN_MAX], url[1024];
	json_t *o;

	if (!files_on(p, r))
		return;
	if (ct_upload_token(wsd->file_secret, p->app, p->user_id, r->channel,
			    exp, tok, sizeof(tok)) != 0) {
		out_error(p, CT_EINVALID, "cannot sign an upload here", r->ref,
			  0);
		return;
	}
	snprintf(url, sizeof(url), "%s/attachments",
		 wsd->cfg->http_public_api_url);
	o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I}", "type", "upload",
		      "channel", r->channel, "url", url, "token", tok,
		      "max_size", wsd->cfg->att_max_size, "expires_at_ms",
		      (json_int_t)exp * 1000);
	if (o && r->ref)
		json_object_set_new(o, "ref", json_string(r->ref));
	if (o)
		out_json(p, o);
}

static void
do_files(struct pss *p, const struct creq *r)
{
	int64_t exp = ct_now_ms() / 1000 + wsd->cfg->att_url_ttl;
	json_t *urls = json_object(), *v, *o;
	char q[CT_FILE_LINK_MAX], url[CT_FILE_LINK_MAX + 512], key[24];
	size_t i;

	if (!files_on(p, r) || !urls) {
		json_decref(urls);
		return;
	}
	json_array_foreach(r->ids, i, v)
	{
		int64_t id = json_is_integer(v)
				     ? json_integer_value(v)
				     : strtoll(json_string_value(v), NULL, 10);

		if (ct_file_link(wsd->file_secret, id, p->app, p->user_id, exp,
				 q, sizeof(q)) != 0)
			continue;
		snprintf(url, sizeof(url), "%s/files?%s",
			 wsd->cfg->http_public_api_url, q);
		snprintf(key, sizeof(key), "%" PRId64, id);
		json_object_set_new(urls, key,
				    json_pack("{s:s, s:I}", "url", url,
					      "expires_at_ms",
					      (json_int_t)exp * 1000));
	}
	o = json_pack("{s:s, s:o}", "type", "files", "urls", urls);
	if (o && r->ref)
		json_object_set_new(o, "ref", json_string(r->ref));
	if (o)
		out_json(p, o);
}

static const handler_fn handlers[CREQ_KINDS] = {
	[CREQ_PING] = do_ping,
	[CREQ_CHANNELS] = do_channels,
	[CREQ_SUBSCRIBE] = do_subscribe,
	[CREQ_UNSUBSCRIBE] = do_unsubscribe,
	[CREQ_PUBLISH] = do_publish,
	[CREQ_EDIT] = do_change,
	[CREQ_DELETE] = do_change,
	[CREQ_TYPING] = do_typing,
	[CREQ_READ] = do_read,
	[CREQ_PRESENCE] = do_presence,
	[CREQ_HISTORY] = do_history,
	[CREQ_SEARCH] = do_search,
	[CREQ_USERS] = do_users,
	[CREQ_GROUP] = do_group,
	[CREQ_MEMBERS] = do_members,
	[CREQ_ADD_MEMBERS] = do_change_members,
	[CREQ_REMOVE_MEMBERS] = do_change_members,
	[CREQ_REACT] = do_react,
	[CREQ_UNREACT] = do_react,
	[CREQ_UPLOAD] = do_upload,
	[CREQ_FILES] = do_files,
};

/* One complete client message: parsed and checked, then acted on. */
static void
on_message(struct pss *p, const char *s, size_t len)
{
	struct creq r;
	char msg[128];
	int rc, first = p->state == SESS_AWAIT_AUTH;

	if (p->state != SESS_AWAIT_AUTH && p->state != SESS_LIVE)
		return; /* authing or closing: drop */
	rc = creq_parse(s, len, first, wsd->cfg->lim_text_max, &r, msg,
			sizeof(msg));
	if (rc != CT_OK) {
		if (first) {
			ct_metric_add(&m_auth_fail_ticket, 1);
			out_close(p, 4001);
		} else {
			out_error(p, rc, msg, r.ref, 0);
		}
	} else if (first) {
		login_ticket(p, r.ticket);
	} else if ((r.flags & CREQ_DB) &&
		   p->flow.pending + p->gated >=
			   2 * (unsigned)wsd->cfg->wsd_conn_queries) {
		/* frames lws had read before the socket was paused */
		out_error(p, CT_ERATE, "too many requests in flight", r.ref, 1);
		strike(p);
	} else if (handlers[r.kind] && !gate_take(p, &r, handlers[r.kind])) {
		handlers[r.kind](p, &r);
	}
	creq_free(&r);
	dispatch_resume(p);
}

/* A fragment of a client message: reassemble up to frame_max bytes. */
int
dispatch_receive(struct pss *p, const void *in, size_t len)
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
		out_close(p, 1009);
		lws_rx_flow_control(p->wsi, 0);
		return 0;
	}
	if (done && !p->rx_len) {
		on_message(p, in, len);
		return 0;
	}
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
		size_t total = p->rx_len;

		p->rx_len = 0;
		on_message(p, p->rx, total);
	}
	return 0;
}

void
dispatch_start(void)
{
	pgq_batch_register(&publish_batch);
}

/* --- what other nodes tell
 * ------------------------------------------------------ */

/* f (its reference taken over) to every connection of user_id here. */
static void
push_to_user(const char *user_id, struct frame *f)
{
	dll_foreach(d, d_next, wsd->conns.head)
	{
		struct pss *p = lws_container_of(d, struct pss, in_all);

		if (strcmp(p->user_id, user_id) == 0)
			out_push(p, f);
	}
	frame_unref(f);
}

/* Has user_id a connection on this node? */
static int
user_here(const char *user_id)
{
	dll_foreach(d, d_next, wsd->conns.head)
	{
		if (strcmp(lws_container_of(d, struct pss, in_all)->user_id,
			   user_id) == 0)
			return 1;
	}
	return 0;
}

static void
on_unread(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct unread_ctx *c = ctx;
	struct frame *f;

	(void)owner;
	(void)msg;
	if (rc != CT_OK ||
	    !(f = frame_json(json_pack("{s:s, s:s, s:i, s:i}", "type", "unread",
				       "channel", c->channel, "count",
				       atoi(PQgetvalue(res, 0, 0)), "mentions",
				       atoi(PQgetvalue(res, 0, 1))))))
		return;
	push_to_user(c->user, f);
}

/* The mention frame the database built, to the user's connections. */
static void
on_mention(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct unread_ctx *c = ctx;
	struct frame *f;

	(void)owner;
	(void)msg;
	if (rc != CT_OK || PQntuples(res) != 1 ||
	    !(f = frame_new(PQgetvalue(res, 0, 0),
			    (size_t)PQgetlength(res, 0, 0))))
		return;
	f->refs = 1;
	push_to_user(c->user, f);
}

void
dispatch_mentioned(const char *channel, const char *user_id, int64_t id)
{
	char ids[24];
	const char *pv[1] = { ids };
	struct pgq_req *q;
	struct unread_ctx *c;

	if (!user_here(user_id) || strlen(channel) >= CHANNEL_MAX ||
	    strlen(user_id) >= USER_MAX)
		return;
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	if (!(q = pgq_new(q_mention, 1, pv, sizeof(*c))))
		return;
	c = pgq_ctx(q);
	copy(c->channel, sizeof(c->channel), channel);
	copy(c->user, sizeof(c->user), user_id);
	pgq_submit(q, PGQ_BG, NULL, NULL, on_mention, NULL);
}

/* 'r': the user's read marker moved somewhere; one count for all their
 * connections here. */
void
dispatch_read_moved(const char *channel, const char *user_id)
{
	const char *pv[2] = { user_id, channel };
	struct pgq_req *q;
	struct unread_ctx *c;

	if (!user_here(user_id) || strlen(channel) >= CHANNEL_MAX ||
	    strlen(user_id) >= USER_MAX ||
	    !(q = pgq_new(q_unread, 2, pv, sizeof(*c))))
		return;
	c = pgq_ctx(q);
	copy(c->channel, sizeof(c->channel), channel);
	copy(c->user, sizeof(c->user), user_id);
	pgq_submit(q, PGQ_BG, NULL, NULL, on_unread, NULL);
}

/* Someone types in channel, on any node (user: the typist's JSON). */
void
dispatch_typing(const char *channel, const char *user)
{
	struct channel *c = channel_get(channel, 0);
	json_t *u;
	const char *uid, *app;
	struct frame *f = NULL;

	if (!c)
		return;
	u = json_loads(user, 0, NULL);
	uid = json_string_value(json_object_get(u, "id"));
	app = json_string_value(json_object_get(u, "app"));
	if (uid && app)
		f = frame_json(json_pack("{s:s, s:s, s:O}", "type", "typing",
					 "channel", channel, "user", u));
	if (f) {
		dll_foreach(d, d_next, c->subs.head)
		{
			struct sub *sb =
				lws_container_of(d, struct sub, in_chan);

			if (sb->state == SUB_LIVE &&
			    strcmp(sb->pss->user_id, uid) != 0)
				out_push(sb->pss, f);
		}
		frame_unref(f);
	}
	json_decref(u);
	channel_put(c);
}

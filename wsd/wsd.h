/* wsd.h - state shared inside crosstalk-wsd. One process, one lws loop:
 * nothing here is touched from another thread. */
#ifndef CT_WSD_H
#define CT_WSD_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <libwebsockets.h>

#include "core/err.h"

/* Bytes of waiting events joined into one frame per write; lws hands a
 * write of up to this size to the kernel in one send (tx_packet_size). */
#define WSD_WRITE_MAX (256 * 1024)
/* lws' per-connection receive buffer (malloc'd for every connection):
 * larger client frames arrive in pieces and sess_receive() joins them, so
 * this sets memory per idle connection, not the largest frame. */
#define WSD_RX_BUFFER 512

struct ct_cfg;
struct ev_loop;
struct channel;
struct pss;

/* A serialized server frame shared by every connection that queues it.
 * refs counts the queues holding it; the last frame_unref() frees it. */
struct frame {
	uint32_t refs;
	uint32_t len;
	char data[]; /* len bytes of JSON, no trailing newline */
};

/* One connection's interest in one channel. Owned by the connection
 * (pss->subs); linked into channel->subs while attached. */
enum sub_state {
	SUB_CHECKING,  /* ws_subscribe query in flight */
	SUB_REPLAYING, /* stored events being sent in batches */
	SUB_LIVE,      /* receiving fan-out */
	SUB_WATCHING,  /* presence only, not subscribed */
};

struct sub {
	struct sub *next;     /* in pss->subs */
	lws_dll2_t in_chan;   /* in channel->subs */
	struct channel *chan; /* holds a channel reference */
	struct pss *pss;      /* borrowed: the sub dies with it */
	enum sub_state state;
	int64_t sent;             /* last seq queued to this connection */
	unsigned replay_busy : 1; /* a replay batch query is in flight */
	unsigned replay_wait : 1; /* waiting for the queue to drain */
	unsigned watch : 1;       /* wants presence join/leave */
	unsigned present : 1;     /* our presence row exists */
	unsigned pres_want : 1;   /* owes a full presence answer */
	char *ref;                /* owned: the subscribe frame's ref */
};

enum sess_state {
	SESS_AWAIT_AUTH,
	SESS_AUTHING, /* redeem_ticket in flight */
	SESS_LIVE,
	SESS_CLOSING, /* close_code set, waiting for WRITEABLE */
};

/* Per-connection state, allocated and freed by lws (per_session_data). */
struct pss {
	struct lws *wsi;
	lws_dll2_t in_all;   /* in wsd->conns once LIVE */
	lws_dll2_t in_dirty; /* in sess.c's list of connections to flush */
	enum sess_state state;
	int close_code;
	uint64_t id; /* unique within this node: presence conn_id */

	/* login (malloc'd, owned) */
	char *app, *user_id, *name, *ref, *ref_hash;

	/* outbound: ring of shared frames (malloc'd, owned) */
	struct frame **q;
	unsigned q_head, q_count, q_cap;

	/* inbound: one message being reassembled (malloc'd, owned) */
	char *rx;
	size_t rx_len, rx_cap;

	struct sub *subs;
	int64_t typing_ms;  /* last typing accepted */
	int strikes;        /* rate-limit refusals in the current window */
	int64_t strikes_ms; /* window start */
	unsigned pending_q; /* queries in flight for this connection */
	/* writes (publish, edit, delete) go one at a time per connection so
	 * they commit in the order sent: the query connections run in
	 * parallel. The rest wait here in order (malloc'd, owned). */
	struct held_write *w_head, *w_tail;
	unsigned w_count;
	unsigned w_busy : 1;
};

/* A channel with local subscribers or watchers. Refcounted by its subs and
 * by in-flight queries; freed when both reach zero. */
struct channel {
	struct channel *hnext; /* hash chain */
	char *name;            /* owned */
	lws_dll2_owner_t subs;
	unsigned refs;
	int64_t live_seq; /* last seq fanned out live; -1 until known */
	unsigned fetching : 1;
	unsigned fetch_again : 1;
	unsigned pres_busy : 1;
	unsigned pres_again : 1;
	unsigned pres_known : 1;
	unsigned pres_wait : 1;          /* refresh once our rows are written */
	lws_sorted_usec_list_t pres_sul; /* debounce presence refresh */
	lws_sorted_usec_list_t fetch_sul; /* paced fetch (backlog) */
	int64_t stall_ms;                 /* backlog wait began */
	char **pres; /* sorted "app\x1fid\x1fname", owned */
	unsigned npres;
};

/* Async query results: cb(arg, res, rc). res is NULL unless rc == CT_OK;
 * the callee may keep nothing of it (pgq PQclear()s after the call). When
 * the owner goes away, pgq_forget(owner) turns pending callbacks into no-ops
 * (cb is then called with arg NULL never: it is simply skipped). */
typedef void (*pgq_cb)(void *arg, PGresult *res, int rc, const char *msg,
		       const char *tag);

struct wsd {
	struct ct_cfg *cfg;          /* owned; swapped on SIGHUP */
	const char *cfg_path;        /* borrowed from argv */
	struct ev_loop *loop;        /* owned; lws' foreign loop */
	struct lws_context *context; /* owned */
	struct lws_vhost *vhost;     /* borrowed from context */
	char node_id[128];
	int stopping;
	int stopped;
	uint64_t next_conn_id;

	lws_dll2_owner_t conns; /* authenticated connections */

	/* registered browser origins (apps + our own), owned strings */
	char **origins;
	unsigned norigins;

	/* database state for /health */
	int listen_up, query_up;
	double notify_usage;

	/* one scratch buffer for joined frames: only one write at a time */
	unsigned char *wbuf;
	size_t wbuf_cap;

	lws_sorted_usec_list_t sul_tick; /* once a second: housekeeping */
	lws_sorted_usec_list_t sul_stop; /* hard stop after SIGTERM grace */
	int64_t last_recheck_ms, last_heartbeat_ms, last_origins_ms,
		last_health_ms;
};

extern struct wsd *wsd;   /* the process's one instance (main.c) */
void wsd_stop_soon(void); /* after SIGTERM, once no client is left */

/* http.c: the "http" protocol: /health, /widget, /widget/config, static
 * files; refuses WebSocket upgrades from foreign origins. */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		  void *in, size_t len);
int origin_allowed(const char *origin);
/* A plain reply: status, content type, body (borrowed). 0, or -1 to close. */
int http_reply(struct lws *wsi, unsigned status, const char *type,
	       const char *body);
/* The client's address (the peer, or X-Forwarded-For from a trusted
 * proxy) into out. */
void http_client_addr(struct lws *wsi, char *out, size_t outlen);

/* metrics.c: counters (core/metrics.h) and the /metrics page. */
struct ct_metric;
struct ct_histogram;
extern struct ct_metric m_conns, m_subs, m_notifies, m_events_in,
	m_events_inline, m_deliveries, m_frames, m_slow, m_auth_ok,
	m_auth_fail_ticket, m_auth_fail_timeout, m_auth_fail_origin,
	m_auth_fail_proto, m_auth_ended, m_rate_publish, m_rate_typing,
	m_publishes, m_db_reconnects, m_replay_batches, m_write_groups;
extern struct ct_histogram h_ack, h_delivery;
int metrics_page(struct lws *wsi);
/* Observe commit -> delivery for one event's JSON (its created_at_ms). */
void metrics_event_stored(const char *json, size_t len, int64_t now_ms);

/* proto_chat.c: the "crosstalk.v1" protocol. */
int chat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		  void *in, size_t len);

/* sess.c: connection lifecycle, client frames, outbound queue. */
void sess_open(struct pss *p, struct lws *wsi);
int sess_receive(struct pss *p, const void *in, size_t len);
int sess_writeable(struct pss *p);
void sess_flush_stop(void); /* at shutdown, before the context goes */
void sess_start(void);      /* before pgq_start: registers write groups */
void sess_closed(struct pss *p);
void sess_timer(struct pss *p);
/* Queue a shared frame (takes a reference); overflow closes with 4008. */
void sess_push(struct pss *p, struct frame *f);
/* Queue a fresh frame built from s (copied). */
void sess_send(struct pss *p, const char *s, size_t len);
void sess_send_json(struct pss *p, json_t *obj); /* steals obj */
void sess_error(struct pss *p, int rc, const char *msg, const char *ref,
		int retry_after);
void sess_close(struct pss *p, int code); /* close at the next WRITEABLE */
void sess_close_all(int code);
void sess_recheck(void); /* batched resolve_session check */
void sess_session_ended(const char *app, const char *ref_hash);
void sess_read_moved(const char *channel, const char *user_id);
void sess_typing_notify(const char *payload); /* 't <channel> <json>' */
/* Append s, quoted, to a PostgreSQL array literal in *buf (realloc'd;
 * "{" before the first element, the caller closes with "}"). */
int pgarr_add(char **buf, size_t *len, size_t *cap, const char *s);

/* channel.c: channel table, shared frames. */
struct frame *frame_new(const char *s, size_t len); /* refs 0 */
void frame_ref(struct frame *f);
void frame_unref(struct frame *f);
struct channel *channel_get(const char *name, int create); /* +1 ref */
void channel_put(struct channel *c);                       /* -1 ref */
void channel_foreach(void (*fn)(struct channel *c, void *arg), void *arg);
void channel_free_all(void);

/* fanout.c: subscriptions, replay, notifications -> fetch once -> share
 * -> queue. */
void fanout_notify(const char *payload);
void fanout_catchup_all(void);
void fanout_subscribe(struct pss *p, const char *channel, int64_t after,
		      const char *ref);
void fanout_unsubscribe(struct pss *p, const char *channel);
void fanout_drained(struct pss *p); /* queue empty: resume replays */
struct sub *sub_find(struct pss *p, const char *channel);
struct sub *sub_new(struct pss *p, const char *channel, const char *ref);
void sub_free(struct sub *s); /* unlinks from pss and channel */

/* presence.c */
void presence_changed(const char *channel); /* a 'p' notification */
void presence_sub(struct sub *s, int on);   /* our row for s */
void presence_request(struct pss *p, const char *channel, const char *ref);
void presence_tick(void); /* heartbeat + refresh of watched channels */
void presence_node_up(void);
void presence_node_down(void); /* blocking; at shutdown */
void presence_free(void);      /* pending batch, at shutdown */

/* pgq.c: the async query connection (see pgq.c for why). */
int pgq_start(void);
void pgq_stop(void);
void pgq_tick(void); /* once a second: flush half-sent statements */

/* pgconnect.c: a connection made without blocking the loop. done() gets
 * the connection (the caller's to keep) or NULL and a reason. */
struct pgconnect {
	lws_sorted_usec_list_t sul;
	PGconn *conn; /* owned while connecting */
	int64_t deadline_ms;
	void (*done)(void *arg, PGconn *conn, const char *err);
	void *arg;
};
void pgconnect_start(struct pgconnect *pc, const char *app_name,
		     void (*done)(void *arg, PGconn *conn, const char *err),
		     void *arg);
void pgconnect_cancel(struct pgconnect *pc); /* stop, free what was made */
/* Send sql with n text params (copied) now or once connected. owner is
 * whoever must outlive the answer (a pss or a channel); NULL for none.
 * tag (copied, may be NULL) comes back to cb: small per-request context. */
void pgq_query(const char *sql, int n, const char *const *params, pgq_cb cb,
	       void *arg, void *owner, const char *tag);
/* The same in the background lane: sent only when nothing else waits. */
void pgq_query_bg(const char *sql, int n, const char *const *params, pgq_cb cb,
		  void *arg, void *owner, const char *tag);
void pgq_forget(void *owner);
/* A statement whose requests may be sent in groups: when requests of
 * `single` wait together behind busy connections, up to `max` of them go
 * as one `batch` statement, whose $1 is a JSON array of objects (each
 * request's params under keys[]) and which answers one row per request:
 * (i, the single statement's ncols columns named cols[], err_state,
 * err_message). Each request still gets its own callback, with a one-row
 * result or its own error. Used for publishes: one commit for many. */
#define PGQ_BATCH_COLS 8
struct pgq_batch {
	const char *single; /* static text, compared by address */
	const char *batch;
	const char *const *keys;
	int nparams;
	const char *const *cols;
	int ncols; /* <= PGQ_BATCH_COLS */
	int max;
};
void pgq_batch_register(const struct pgq_batch *b);
int pgq_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		 void *in, size_t len);

/* pglisten.c: the LISTEN connection. */
int pgl_start(void);
void pgl_stop(void);
int pgl_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		 void *in, size_t len);

/* listen.c: an SO_REUSEPORT listener for workers > 1 */
int listen_open(void);
int listen_callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len);

/* origins + health, refreshed by the tick (http.c) */
void origins_refresh(void);
void health_refresh(void);
void origins_free(void);

#endif /* CT_WSD_H */

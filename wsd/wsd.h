/* wsd.h - state shared inside crosstalk-wsd, and each module's interface.
 * One process, one lws loop: nothing here is touched from another thread.
 *
 * Modules, each calling only those below it (what must go up goes through
 * a hook main.c sets: pgq_start, pgl_start, out_start):
 *   main.c       loop, signals, config; routes notifications
 *   proto_chat.c the protocol callback       http.c  plain HTTP, handshakes
 *   dispatch.c   client frames: the request table, ordered writes, what
 *                each connection may have in flight
 *   access.c     the access check; subscribe, unsubscribe, presence frames
 *   fanout.c     delivery: fetch, replay, live
 *   presence.c   who is online             login.c  auth, login checks
 *   sub.c        subscriptions made and freed
 *   channel.c    the channel table         out.c    outbound queues
 *   pglisten.c   the LISTEN connection     pgq.c, pgconnect.c  queries
 *   creq.c       the frame parser          metrics.c, wsd.c  leaves
 *   timers.c     lws timers on time under the libev loop (timers.h) */
#ifndef CT_WSD_H
#define CT_WSD_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <libwebsockets.h>

#include "core/err.h"
#include "wsd/pgq.h"

/* Bytes of waiting events joined into one frame per write; lws hands a
 * write of up to this size to the kernel in one send (tx_packet_size). */
#define WSD_WRITE_MAX (256 * 1024)
/* lws' per-connection receive buffer (malloc'd for every connection):
 * larger client frames arrive in pieces and dispatch.c joins them, so
 * this sets memory per idle connection, not the largest frame. */
#define WSD_RX_BUFFER 512
/* lws' buffer for one response's headers (info.pt_serv_buf_size, one per
 * service thread): the widget's CSP lists every registered origin. */
#define WSD_HTTP_HEADERS (64 * 1024)
/* Subscriptions (and presence watches) per connection. */
#define WSD_SUBS_MAX 256

/* Each entry of an lws_dll2 list, from first: a real for loop, so continue
 * and break mean what they say (lws' foreach macros are while loops whose
 * step is in the closing macro, where a continue spins forever). The next
 * entry is read before the body runs: the body may unlink this one. */
#define dll_foreach(d, d_next, first)                                          \
	for (struct lws_dll2 *d = (first), *d_next = d ? d->next : NULL; d;    \
	     d = d_next, d_next = d ? d->next : NULL)

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

/* One connection's interest in one channel: a subscription, a presence
 * watch, or both. Created only by sub.c (sub_get), with the cap; nothing is
 * delivered and no presence is shown until the access check granted it.
 * Owned by the connection (pss->subs); linked into channel->subs. */
enum sub_state {
	SUB_NEW,       /* not checked yet */
	SUB_CHECKING,  /* access check (ws_subscribe) in flight */
	SUB_IDLE,      /* granted; presence only, nothing delivered */
	SUB_REPLAYING, /* granted; stored events being sent in batches */
	SUB_LIVE,      /* granted; receiving fan-out */
};

struct sub {
	struct sub *next;     /* in pss->subs */
	lws_dll2_t in_chan;   /* in channel->subs */
	struct channel *chan; /* holds a channel reference */
	struct pss *pss;      /* borrowed: the sub dies with it */
	enum sub_state state;
	int64_t sent;                 /* last seq queued to this connection */
	int64_t last;                 /* the channel's last seq when checked */
	unsigned granted : 1;         /* the access check passed */
	unsigned want_live : 1;       /* subscribed (not only watching) */
	unsigned replay_busy : 1;     /* a replay batch query is in flight */
	unsigned replay_wait : 1;     /* waiting for the queue to drain */
	unsigned watch : 1;           /* wants presence join/leave */
	unsigned present : 1;         /* our presence row exists */
	unsigned pres_want : 1;       /* owes a full presence answer */
	char *ref;                    /* owned: the subscribe frame's ref */
	char *pres_ref;               /* owned: the presence frame's ref */
	lws_sorted_usec_list_t retry; /* a replay retried after a failure */
	int retry_ms;
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
	lws_dll2_t in_dirty; /* in out.c's list of connections to flush */
	enum sess_state state;
	int close_code;
	uint64_t id;          /* unique within this node: presence conn_id */
	char addr[64];        /* the client's address (login.c) */
	unsigned counted : 1; /* in login.c's unauthenticated count */
	unsigned rx_paused : 1;

	/* login (malloc'd, owned) */
	char *app, *user_id, *name, *ref, *ref_hash;

	/* outbound: ring of shared frames (malloc'd, owned) */
	struct frame **q;
	unsigned q_head, q_count, q_cap;
	size_t q_bytes; /* bytes of the frames in the ring */

	/* inbound: one message being reassembled (malloc'd, owned) */
	char *rx;
	size_t rx_len, rx_cap;

	/* this connection's requests waiting for a database connection
	 * (pgq.c); flow.pending counts them and those in flight */
	struct pgq_flow flow;
	unsigned replays; /* replay batches in flight (at most one) */

	struct sub *subs;
	unsigned nsubs;

	/* requests waiting for a channel hook, or behind one (gate.c) */
	struct gate_req *gate_head, *gate_tail;
	unsigned gated;
	int64_t typing_ms;      /* last typing accepted */
	lws_dll2_t in_alive;    /* in alive.c's list of every WebSocket */
	int64_t rx_ms;          /* last frame or pong from the peer */
	int64_t ping_ms;        /* last ping sent (or the open) */
	unsigned ping_owed : 1; /* a ping goes at the next WRITEABLE */
	int strikes;            /* rate-limit refusals in the current window */
	int64_t strikes_ms;     /* window start */
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
	lws_sorted_usec_list_t fetch_sul; /* paced fetch, or its retry */
	int fetch_retry_ms;               /* backoff after a failed fetch */
	char **pres; /* sorted "app\x1fid\x1fname", owned */
	unsigned npres;
};

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

	/* attachments' signing key (crosstalk.settings), owned; NULL: off */
	char *file_secret;
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
	int64_t stop_by_ms; /* after SIGTERM: the grace ends */
};

extern struct wsd *wsd; /* the process's one instance (wsd.c) */

/* The most bytes one answer (a history page, a replay batch) may add to a
 * connection's queue: an eighth of [wsd] queue_bytes. Longer answers are
 * cut and say so (has_more; the replay continues). */
size_t wsd_answer_max(void);

/* http.c: the "http" protocol: /health, /widget, /widget/config, static
 * files; refuses WebSocket upgrades from foreign origins. */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		  void *in, size_t len);
int origin_allowed(const char *origin);
/* A plain reply: status, content type, body (borrowed). 0, or -1 to close. */
int http_reply(struct lws *wsi, unsigned status, const char *type,
	       const char *body);

/* metrics.c: counters (core/metrics.h) and the /metrics page. */
struct ct_metric;
struct ct_histogram;
extern struct ct_metric m_conns, m_subs, m_notifies, m_events_in,
	m_events_inline, m_deliveries, m_frames, m_slow, m_auth_ok,
	m_auth_fail_ticket, m_auth_fail_timeout, m_auth_fail_origin,
	m_auth_fail_proto, m_auth_fail_addr, m_auth_ended, m_rate_publish,
	m_rate_typing, m_publishes, m_db_reconnects, m_prepared,
	m_replay_batches, m_write_groups, m_queue_full, m_answers_cut,
	m_hook_allow, m_hook_deny, m_hook_failed;
extern struct ct_histogram h_ack, h_delivery, h_hook;
/* The counters and histograms as Prometheus text (malloc'd), or NULL. */
char *metrics_text(void);
/* Observe commit -> delivery for one event's JSON (its created_at_ms). */
void metrics_event_stored(const char *json, size_t len, int64_t now_ms);

/* proto_chat.c: the "crosstalk.v1" protocol. */
int chat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		  void *in, size_t len);

/* login.c: a connection's life: open (the per-address cap on
 * unauthenticated sockets), the ticket, the batched login re-check, close. */
/* The client's address (the peer, or X-Forwarded-For from a trusted
 * proxy) into out. */
void login_addr(struct lws *wsi, char *out, size_t outlen);
/* 1 if the request came through a proxy we do not trust (it carries
 * X-Forwarded-For from a peer not in trusted_proxies): its peer address
 * says nothing about the client. */
int login_untrusted_proxy(struct lws *wsi);
void login_open(struct pss *p, struct lws *wsi);
/* May one more unauthenticated socket from addr come in? (handshake) */
int login_admit(const char *addr);
void login_ticket(struct pss *p, const char *ticket);
void login_timer(struct pss *p);
void login_closed(struct pss *p);
void login_close_all(int code);
void login_recheck(void); /* batched resolve_session check */
void login_ended(const char *app, const char *ref_hash);
void login_free(void); /* at shutdown */

/* alive.c: keepalive (ping the quiet, drop the silent), our own: lws'
 * costs a walk over all connections per pong. */
void alive_open(struct pss *p); /* after login_open */
void alive_rx(struct pss *p);   /* a frame or a pong arrived */
void alive_closed(struct pss *p);
int alive_writeable(struct pss *p); /* 1 wrote a ping, -1 close, 0 none */
void alive_tick(void);              /* once a second */

/* dispatch.c: client frames. */
int dispatch_receive(struct pss *p, const void *in, size_t len);
/* Read more frames from p if what it has in flight and queued allows. */
void dispatch_resume(struct pss *p);
void dispatch_start(void); /* before pgq_start: registers write groups */
void dispatch_open(struct pss *p);   /* after login_open */
void dispatch_closed(struct pss *p); /* before login_closed */
void dispatch_read_moved(const char *channel, const char *user_id);
void dispatch_typing(const char *channel, const char *user_json);
/* 'u': user was mentioned in message id: a "mention" frame to their
 * connections here. */
void dispatch_mentioned(const char *channel, const char *user_id, int64_t id);

/* out.c: the outbound queue. */
struct frame *frame_new(const char *s, size_t len); /* refs 0 */
/* o serialized into a new frame that the caller holds (refs 1), or NULL;
 * steals o (which may be NULL). */
struct frame *frame_json(json_t *o);
void frame_ref(struct frame *f);
void frame_unref(struct frame *f);
/* Queue a shared frame (takes a reference); overflow closes with 4008. */
void out_push(struct pss *p, struct frame *f);
/* Queue a fresh frame built from s (copied). */
void out_send(struct pss *p, const char *s, size_t len);
void out_json(struct pss *p, json_t *obj); /* steals obj */
void out_error(struct pss *p, int rc, const char *msg, const char *ref,
	       int retry_after);
void out_close(struct pss *p, int code); /* close at the next WRITEABLE */
int out_writeable(struct pss *p);
/* drained(p) is called whenever p's queue empties (main.c wires it). */
void out_start(void (*drained)(struct pss *p));
void out_closed(struct pss *p); /* frees the ring */
void out_stop(void);            /* at shutdown, before the context goes */
/* Bytes queued to all connections now, and the most ever (a frame shared
 * by many queues counts once per queue). */
void out_bytes(size_t *now, size_t *most);

/* channel.c: the channel table. */
struct channel *channel_get(const char *name, int create); /* +1 ref */
void channel_put(struct channel *c);                       /* -1 ref */
void channel_foreach(void (*fn)(struct channel *c, void *arg), void *arg);
void channel_free_all(void);

/* sub.c: subscriptions and presence watches, made and freed. */
struct sub *sub_find(struct pss *p, const char *channel);
/* The sub for channel, made if missing (within WSD_SUBS_MAX: else NULL,
 * and the error was sent with ref). */
struct sub *sub_get(struct pss *p, const char *channel, const char *ref);
void sub_free(struct sub *s); /* unlinks from pss and channel */

/* access.c: the access check, and the frames that need it. */
void access_subscribe(struct pss *p, const char *channel, int64_t after,
		      const char *ref);
void access_unsubscribe(struct pss *p, const char *channel);
void access_revoke(struct sub *s); /* removed from a private channel */
void access_watch(struct pss *p, const char *channel, const char *ref);
/* Make sure the check runs (or ran); once granted, delivery (fanout) and
 * presence go on. */
void access_check(struct sub *s);

/* fanout.c: notifications -> fetch once -> share -> queue; replay. */
struct ct_notice;
void fanout_event(const struct ct_notice *n); /* an 'm' notification */
void fanout_catchup_all(void);
void fanout_start(struct sub *s);   /* granted: replay, then live */
void fanout_drained(struct pss *p); /* queue drained: resume replays */

/* presence.c */
void presence_changed(const char *channel); /* a 'p' notification */
void presence_sub(struct sub *s, int on);   /* our row for s */
void presence_granted(struct sub *s);       /* the check passed: answer */
void presence_tick(void); /* heartbeat + refresh of watched channels */
void presence_node_up(void);
void presence_node_down(void); /* blocking; at shutdown */
void presence_free(void);      /* pending batch, at shutdown */

/* pgconnect.c: a connection made without blocking the loop: connect, then
 * the session setup and extra (e.g. "LISTEN crosstalk"; static text, may be
 * NULL) without waiting. done() gets the connection (nonblocking, the
 * caller's to keep) or NULL and a reason, always on a later loop turn. */
struct pgconnect {
	lws_sorted_usec_list_t sul;
	PGconn *conn; /* owned while connecting */
	int64_t deadline_ms;
	const char *extra;
	int setting_up;
	char err[256];
	void (*done)(void *arg, PGconn *conn, const char *err);
	void *arg;
};
void pgconnect_start(struct pgconnect *pc, const char *app_name,
		     const char *extra,
		     void (*done)(void *arg, PGconn *conn, const char *err),
		     void *arg);
void pgconnect_cancel(struct pgconnect *pc); /* stop, free what was made */

/* pglisten.c: the LISTEN connection. notice(payload) gets every
 * notification (writable, parsed in place); up() runs once LISTENing
 * again, for the catch-up. */
int pgl_start(void (*notice)(char *payload), void (*up)(void));
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

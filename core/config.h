/* config.h - the one INI file all three programs read (libinih parses it).
 * Every key lives in the table in config.c; unknown keys, bad values and
 * missing required keys are errors naming file and line. */
#ifndef CT_CONFIG_H
#define CT_CONFIG_H

#include <stddef.h>

#include "core/err.h"

struct ct_cfg {
	/* [database] */
	char *db_conninfo; /* libpq conninfo; required */
	int db_connect_timeout;
	int db_startup_wait; /* daemons: seconds to keep retrying at start */
	int db_lock_timeout; /* daemons' sessions: seconds to wait for a lock */
	int db_statement_timeout; /* daemons' sessions: seconds; 0 = none */
	int db_keepalive;         /* TCP keepalive and LISTEN probe, seconds */

	/* [log] */
	char *log_level;

	/* [http] crosstalk-fcgi */
	char *http_socket; /* unix path or host:port; "" = fd 0 from spawner */
	int http_workers;  /* worker threads, one PGconn each */
	int http_backlog;
	int http_max_waiters;     /* long-polls waiting at once per process */
	char *http_public_ws_url; /* ws_url in ticket replies */
	char *http_public_widget_url; /* widget_url in ticket replies */
	char *http_public_api_url;    /* browsers' base of files and uploads */
	char *http_metrics_allow;     /* addresses allowed to scrape */
	char *http_metrics_token;     /* or a Bearer token; "" = none */

	/* [wsd] crosstalk-wsd */
	char *wsd_listen; /* address to bind, e.g. 127.0.0.1 */
	int wsd_port;
	int wsd_workers;        /* processes sharing the port (SO_REUSEPORT) */
	char *wsd_web_root;     /* widget and JS files */
	char *wsd_origin;       /* the daemon's own public origin (widget) */
	char *wsd_node_id;      /* "" = hostname:pid */
	int wsd_queue_max;      /* events queued per connection before 4008 */
	int wsd_replay_batch;   /* events fetched per replay query */
	int wsd_queue_bytes;    /* bytes queued per connection before 4008 */
	int wsd_conn_queries;   /* a connection's requests in flight at once */
	int wsd_db_connections; /* query connections */
	int wsd_query_queue_bytes; /* requests waiting for a connection */
	int wsd_unauth_per_addr;   /* sockets not yet authenticated */
	int wsd_sndbuf;            /* SO_SNDBUF per connection; 0 = kernel's */
	char *wsd_metrics_allow;
	char *wsd_metrics_token;
	char *wsd_trusted_proxies; /* X-Forwarded-* honoured from these */

	/* [limits] */
	int lim_text_max;       /* characters per message */
	int lim_body_max;       /* HTTP body bytes */
	int lim_frame_max;      /* WebSocket frame bytes */
	int lim_publish_count;  /* publishes per user per window */
	int lim_publish_window; /* seconds */
	int lim_typing_per_s;
	int lim_ticket_ttl;      /* seconds */
	int lim_ping_interval;   /* seconds */
	int lim_idle_timeout;    /* seconds without a frame before close */
	int lim_auth_timeout;    /* seconds to send the auth frame */
	int lim_session_recheck; /* seconds between resolver re-checks */
	int lim_poll_wait_max;   /* long-poll seconds */
	int lim_poll_limit_max;  /* messages per poll */
	int lim_presence_ttl;    /* seconds a node's presence rows live */

	/* webhooks (fcgi/hooks.c) */
	int hooks_deliver;      /* 1: this process delivers the outbox */
	int hooks_timeout;      /* seconds one delivery may take */
	int hooks_max_attempts; /* then it is parked */
	int hooks_retry_ms;     /* first retry's wait, doubled each time */
	int hooks_concurrency;  /* deliveries at once per process */

	/* [attachments] */
	int att_max_size; /* bytes per file */
	int att_url_ttl;  /* seconds a signed link or upload token lasts */
	char *att_types;  /* sniffed types allowed, "image/png text/..." */
};

/* Parse path into a fresh *out (caller frees with ct_cfg_free). On error
 * writes "file:line: reason" into err (one line) and returns CT_EINVALID;
 * *out is untouched. */
int ct_cfg_load(const char *path, struct ct_cfg **out, char *err,
		size_t errlen) CT_MUSTCHECK;
/* The same from text in memory; name stands for the file in messages. */
int ct_cfg_parse(const char *text, const char *name, struct ct_cfg **out,
		 char *err, size_t errlen) CT_MUSTCHECK;
void ct_cfg_free(struct ct_cfg *cfg); /* NULL is a no-op */
/* Defaults only (tests, --help); never NULL unless out of memory. */
struct ct_cfg *ct_cfg_defaults(void);
/* Write "section.key = value" lines for every key (secrets masked). */
void ct_cfg_dump(const struct ct_cfg *cfg,
		 void (*emit)(const char *line, void *arg), void *arg);

#endif /* CT_CONFIG_H */

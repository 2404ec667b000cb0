/* http.c - plain HTTP on the daemon's port: /health, the widget page, its
 * configuration, and static files from [wsd] web_root. Also the handshake
 * gate: a WebSocket upgrade from a browser origin that is neither a
 * registered app's nor our own is refused with 403. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "wsd/wsd.h"

int
http_reply(struct lws *wsi, unsigned status, const char *type, const char *body)
{
	unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start,
					   *end = buf + sizeof(buf);
	size_t n = strlen(body);

	if (lws_add_http_common_headers(wsi, status, type, n, &p, end) ||
	    lws_add_http_header_by_name(
		    wsi, (const unsigned char *)"cache-control:",
		    (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (n && lws_write(wsi, (unsigned char *)body, n,
			   LWS_WRITE_HTTP_FINAL) != (int)n)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
reply_json(struct lws *wsi, unsigned status, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc;

	json_decref(o);
	if (!s)
		return -1;
	rc = http_reply(wsi, status, "application/json", s);
	free(s);
	return rc;
}

static int
not_found(struct lws *wsi)
{
	return http_reply(wsi, 404, "application/json",
			  "{\"ok\":false,\"error\":{\"code\":\"not_found\","
			  "\"message\":\"no such path\"}}");
}

/* --- origins ------------------------------------------------------------- */

/* An origin is safe to put in a header: scheme://host[:port] chars only. */
static int
origin_clean(const char *s)
{
	if (!*s || strlen(s) > 200)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(":/.-[]_", *s)))
			return 0;
	return 1;
}

int
origin_allowed(const char *origin)
{
	if (strcmp(origin, wsd->cfg->wsd_origin) == 0)
		return 1;
	for (unsigned i = 0; i < wsd->norigins; i++)
		if (strcmp(origin, wsd->origins[i]) == 0)
			return 1;
	return 0;
}

void
origins_free(void)
{
	for (unsigned i = 0; i < wsd->norigins; i++)
		free(wsd->origins[i]);
	free(wsd->origins);
	wsd->origins = NULL;
	wsd->norigins = 0;
}

static void
on_origins(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	int n;
	char **o;

	(void)owner;
	(void)ctx;
	if (rc != CT_OK) {
		ct_warn("msg=\"origin refresh failed\" err=%s", ct_log_q(msg));
		return; /* keep the list we have */
	}
	n = PQntuples(res);
	if (!(o = calloc((size_t)n + 1, sizeof(*o))))
		return;
	origins_free();
	wsd->origins = o;
	for (int i = 0; i < n; i++) {
		const char *v = PQgetvalue(res, i, 0);

		if (origin_clean(v) && (o[wsd->norigins] = strdup(v)))
			wsd->norigins++;
	}
}

void
origins_refresh(void)
{
	if (pgq_query("SELECT DISTINCT unnest(origins) FROM crosstalk.apps "
		      "ORDER BY 1",
		      0, NULL, PGQ_BG, NULL, NULL, on_origins) != CT_OK)
		ct_warn("msg=\"origin refresh skipped: out of memory\"");
}

/* --- health -------------------------------------------------------------- */

static void
on_health(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	(void)owner;
	(void)ctx;
	(void)msg;
	if (rc == CT_OK)
		wsd->notify_usage = strtod(PQgetvalue(res, 0, 0), NULL);
}

void
health_refresh(void)
{
	if (pgq_query("SELECT pg_notification_queue_usage()", 0, NULL, PGQ_BG,
		      NULL, NULL, on_health) != CT_OK)
		ct_warn("msg=\"health refresh skipped: out of memory\"");
}

static int
health(struct lws *wsi)
{
	int up = wsd->listen_up && wsd->query_up;
	json_t *o = json_pack("{s:b, s:s, s:s, s:{s:b, s:b}, s:f, s:I}", "ok",
			      up, "status", up ? "ok" : "unavailable", "node",
			      wsd->node_id, "database", "listen",
			      wsd->listen_up, "query", wsd->query_up,
			      "notify_queue_usage", wsd->notify_usage,
			      "connections", (json_int_t)wsd->conns.count);

	return reply_json(wsi, up ? 200 : 503, o);
}

/* --- metrics ------------------------------------------------------------ */

/* Readable from metrics_allow addresses or with the token. A request a
 * proxy we do not trust forwarded (X-Forwarded-For from a peer not in
 * trusted_proxies) has no address we can believe: its peer is the proxy,
 * often 127.0.0.1, whoever the client is. Then only the token lets it in. */
static int
metrics_page(struct lws *wsi)
{
	char addr[128], auth[256], extra[2048];
	size_t out_now, out_most;
	const char *bearer = NULL;
	char *text, *page;
	int rc;

	login_addr(wsi, addr, sizeof(addr));
	if (login_untrusted_proxy(wsi))
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
	out_bytes(&out_now, &out_most);
	if (!(text = metrics_text()))
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

/* --- widget and static files ------------------------------------------- */

static const char *
mime_of(const char *path)
{
	/* clang-format off */
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".map", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".woff2", "font/woff2" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	/* clang-format on */
	const char *dot = strrchr(path, '.');

	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcmp(dot, types[i].ext) == 0)
				return types[i].type;
	return NULL; /* unknown types are not served */
}

/* Only [A-Za-z0-9._-] segments, none starting with '.', no "..". */
static int
safe_path(const char *uri)
{
	int seg_start = 1;

	if (*uri != '/' || strlen(uri) > 200)
		return 0;
	for (const char *s = uri + 1; *s; s++) {
		if (*s == '/') {
			if (seg_start)
				return 0; /* "//" */
			seg_start = 1;
			continue;
		}
		if (seg_start && *s == '.')
			return 0; /* ".", "..", dotfiles */
		seg_start = 0;
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		      *s == '-'))
			return 0;
	}
	return !seg_start;
}

static int
serve(struct lws *wsi, const char *rel, const char *extra)
{
	static const char nosniff[] = "x-content-type-options: nosniff\x0d\x0a";
	const char *type = mime_of(rel);
	size_t hlen = sizeof(nosniff) + strlen(extra);
	char path[1024], *hdr;
	struct stat st;
	int n;

	if (!type)
		return not_found(wsi);
	snprintf(path, sizeof(path), "%s%s", wsd->cfg->wsd_web_root, rel);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return not_found(wsi);
	if (hlen > WSD_HTTP_HEADERS - 1024) {
		ct_err("msg=\"response headers too long; raise "
		       "WSD_HTTP_HEADERS\" bytes=%zu",
		       hlen);
		return http_reply(wsi, 503, "application/json",
				  "{\"ok\":false,\"error\":{\"code\":"
				  "\"unavailable\",\"message\":\"too many "
				  "origins for one header\"}}");
	}
	if (!(hdr = malloc(hlen))) /* freed below */
		return -1;
	n = snprintf(hdr, hlen, "%s%s", nosniff, extra);
	n = lws_serve_http_file(wsi, path, type, hdr, n);
	free(hdr);
	if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
		return -1;
	return 0;
}

/* The widget page, framable by the registered app origins only. The
 * frame-ancestors list is as long as the origins are many (lws was given a
 * header buffer for it, main.c); one that cannot be sent whole is an error
 * in the log and a 503, never a shorter list that silently shuts apps out. */
static int
widget(struct lws *wsi)
{
	static const char head[] = "cache-control: no-cache\x0d\x0a"
				   "referrer-policy: no-referrer\x0d\x0a"
				   "content-security-policy: frame-ancestors "
				   "'self'";
	size_t len = sizeof(head) + 3, off;
	char *extra;
	int rc;

	for (unsigned i = 0; i < wsd->norigins; i++)
		len += strlen(wsd->origins[i]) + 1;
	if (!(extra = malloc(len))) /* freed below */
		return -1;
	memcpy(extra, head, sizeof(head) - 1);
	off = sizeof(head) - 1;
	for (unsigned i = 0; i < wsd->norigins; i++) {
		size_t l = strlen(wsd->origins[i]);

		extra[off++] = ' ';
		memcpy(extra + off, wsd->origins[i], l);
		off += l;
	}
	memcpy(extra + off, "\x0d\x0a", 3);
	rc = serve(wsi, "/widget.html", extra);
	free(extra);
	return rc;
}

static int
widget_config(struct lws *wsi)
{
	json_t *a = json_array(), *o;
	char ws[300];
	const char *org = wsd->cfg->wsd_origin;

	for (unsigned i = 0; i < wsd->norigins; i++)
		json_array_append_new(a, json_string(wsd->origins[i]));
	snprintf(ws, sizeof(ws), "%s%s/ws",
		 strncmp(org, "https:", 6) == 0 ? "wss:" : "ws:",
		 strchr(org, ':') ? strchr(org, ':') + 1 : "//");
	o = json_pack("{s:b, s:o, s:s, s:s, s:s}", "ok", 1, "origins", a,
		      "origin", org, "ws_url", ws, "protocol", "crosstalk.v1");
	return reply_json(wsi, 200, o);
}

/* Answer a WebSocket upgrade with an error instead. >0: we answered and
 * lws finishes the transaction. The status line is our own: at this point
 * lws would write "HTTP/1.0". */
static int
refuse(struct lws *wsi, const char *status, const char *code,
       const char *message)
{
	unsigned char buf[LWS_PRE + 512];
	char body[256];
	int n, blen;

	blen = snprintf(body, sizeof(body),
			"{\"ok\":false,\"error\":{\"code\":\"%s\","
			"\"message\":\"%s\"}}",
			code, message);
	n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
		     "HTTP/1.1 %s\x0d\x0a"
		     "content-type: application/json\x0d\x0a"
		     "content-length: %d\x0d\x0a"
		     "connection: close\x0d\x0a\x0d\x0a%s",
		     status, blen, body);
	if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS) !=
	    n)
		return -1;
	return 1;
}

/* 1 if the comma-separated Sec-WebSocket-Protocol list names ours. */
static int
offers_protocol(struct lws *wsi)
{
	char list[256];
	int n = lws_hdr_copy(wsi, list, sizeof(list), WSI_TOKEN_PROTOCOL);

	for (char *tok = n > 0 ? strtok(list, ", ") : NULL; tok;
	     tok = strtok(NULL, ", "))
		if (strcmp(tok, "crosstalk.v1") == 0)
			return 1;
	return 0;
}

static int
check_upgrade(struct lws *wsi)
{
	char origin[256], addr[64];
	int have = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
	int n = have > 0 && have < (int)sizeof(origin)
			? lws_hdr_copy(wsi, origin, sizeof(origin),
				       WSI_TOKEN_ORIGIN)
			: -1;

	/* no Origin: not a browser (servers, tools), nothing to hijack; an
	 * Origin we cannot read whole (too long) is refused like a foreign
	 * one */
	if (have > 0 && (n <= 0 || !origin_allowed(origin))) {
		ct_metric_add(&m_auth_fail_origin, 1);
		ct_info("msg=\"handshake refused\" origin=%s",
			n > 0 ? ct_log_q(origin) : "\"(too long)\"");
		return refuse(wsi, "403 Forbidden", "forbidden",
			      "origin not allowed");
	}
	/* each unauthenticated socket costs a ticket lookup: a few per
	 * client address */
	login_addr(wsi, addr, sizeof(addr));
	if (!login_admit(addr)) {
		ct_metric_add(&m_auth_fail_addr, 1);
		return refuse(wsi, "429 Too Many Requests", "rate_limited",
			      "too many unauthenticated connections from "
			      "this address");
	}
	/* without the subprotocol lws would bind the socket to plain http,
	 * where it would sit unauthenticated: refuse it at the door */
	if (!offers_protocol(wsi)) {
		ct_metric_add(&m_auth_fail_proto, 1);
		return refuse(wsi, "400 Bad Request", "bad_request",
			      "subprotocol crosstalk.v1 required");
	}
	return 0;
}

int
http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return check_upgrade(wsi);
	case LWS_CALLBACK_HTTP: {
		const char *uri = in;

		if (strcmp(uri, "/health") == 0)
			return health(wsi);
		if (strcmp(uri, "/metrics") == 0)
			return metrics_page(wsi);
		if (strcmp(uri, "/widget") == 0 || strcmp(uri, "/widget/") == 0)
			return widget(wsi);
		if (strcmp(uri, "/widget/config") == 0)
			return widget_config(wsi);
		if (strcmp(uri, "/widget.html") != 0 && safe_path(uri))
			return serve(
				wsi, uri,
				"cache-control: public, max-age=300\x0d\x0a");
		return not_found(wsi);
	}
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		if (lws_http_transaction_completed(wsi))
			return -1;
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

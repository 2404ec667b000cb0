/* config.c - key table and INI loading through libinih. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

/* K_LIST: a string of words that may go on over indented lines (libinih
 * hands each continuation line over as the key again): they are joined
 * with a blank. libinih reads lines of at most 200 characters. */
enum key_type { K_STR, K_INT, K_LIST };

struct cfg_key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t off;
	const char *def; /* NULL: required */
	long min, max;   /* K_INT range */
	int secret;
};

/* clang-format off */
#define S(sec, n, f, d)   { sec, n, K_STR, offsetof(struct ct_cfg, f), d, 0, 0, 0 }
#define SS(sec, n, f, d)  { sec, n, K_STR, offsetof(struct ct_cfg, f), d, 0, 0, 1 }
#define L(sec, n, f, d)   { sec, n, K_LIST, offsetof(struct ct_cfg, f), d, 0, 0, 0 }
#define I(sec, n, f, d, lo, hi) \
	{ sec, n, K_INT, offsetof(struct ct_cfg, f), d, lo, hi, 0 }
static const struct cfg_key keys[] = {
	SS("database", "conninfo",        db_conninfo,        NULL),
	I ("database", "connect_timeout", db_connect_timeout, "5", 1, 600),
	I ("database", "startup_wait",    db_startup_wait,    "30", 0, 86400),
	I ("database", "lock_timeout",    db_lock_timeout,    "5", 0, 3600),
	I ("database", "statement_timeout", db_statement_timeout, "30", 0, 86400),
	I ("database", "keepalive",       db_keepalive,       "10", 1, 3600),

	S ("log", "level", log_level, "info"),

	S ("http", "socket",           http_socket,            "127.0.0.1:9000"),
	I ("http", "workers",          http_workers,           "8", 1, 512),
	I ("http", "backlog",          http_backlog,           "4096", 1, 65535),
	I ("http", "max_waiters",      http_max_waiters,       "256", 0, 100000),
	S ("http", "public_ws_url",    http_public_ws_url,     "ws://127.0.0.1:8888/ws"),
	S ("http", "public_widget_url", http_public_widget_url, "http://127.0.0.1:8888/widget"),
	S ("http", "public_api_url",   http_public_api_url,    "http://127.0.0.1:8080/api/v1"),
	S ("http", "metrics_allow",    http_metrics_allow,     "127.0.0.1 ::1"),
	SS("http", "metrics_token",    http_metrics_token,     ""),

	S ("wsd", "listen",          wsd_listen,          "127.0.0.1"),
	I ("wsd", "port",            wsd_port,            "8888", 1, 65535),
	I ("wsd", "workers",         wsd_workers,         "1", 1, 256),
	S ("wsd", "web_root",        wsd_web_root,        "/usr/share/crosstalk/web"),
	S ("wsd", "origin",          wsd_origin,          "http://127.0.0.1:8888"),
	S ("wsd", "node_id",         wsd_node_id,         ""),
	I ("wsd", "queue_max",       wsd_queue_max,       "1024", 8, 1000000),
	I ("wsd", "replay_batch",    wsd_replay_batch,    "500", 1, 100000),
	I ("wsd", "queue_bytes",     wsd_queue_bytes,     "4194304", 65536, 1073741824),
	I ("wsd", "conn_queries",    wsd_conn_queries,    "8", 1, 1024),
	I ("wsd", "db_connections",  wsd_db_connections,  "4", 2, 16),
	I ("wsd", "query_queue_bytes", wsd_query_queue_bytes, "16777216", 4096, 1073741824),
	I ("wsd", "unauth_per_addr", wsd_unauth_per_addr, "64", 1, 1000000),
	I ("wsd", "sndbuf",          wsd_sndbuf,          "131072", 0, 16777216),
	S ("wsd", "metrics_allow",   wsd_metrics_allow,   "127.0.0.1 ::1"),
	SS("wsd", "metrics_token",   wsd_metrics_token,   ""),
	S ("wsd", "trusted_proxies", wsd_trusted_proxies, ""),

	I ("limits", "text_max",        lim_text_max,        "4000", 1, 1000000),
	I ("limits", "body_max",        lim_body_max,        "65536", 1024, 16777216),
	I ("limits", "frame_max",       lim_frame_max,       "65536", 1024, 16777216),
	I ("limits", "publish_count",   lim_publish_count,   "20", 1, 1000000),
	I ("limits", "publish_window",  lim_publish_window,  "10", 1, 86400),
	I ("limits", "typing_per_s",    lim_typing_per_s,    "1", 1, 1000),
	I ("limits", "ticket_ttl",      lim_ticket_ttl,      "60", 1, 86400),
	I ("limits", "ping_interval",   lim_ping_interval,   "30", 1, 3600),
	I ("limits", "idle_timeout",    lim_idle_timeout,    "60", 2, 7200),
	I ("limits", "auth_timeout",    lim_auth_timeout,    "10", 1, 600),
	I ("limits", "session_recheck", lim_session_recheck, "60", 1, 86400),
	I ("limits", "poll_wait_max",   lim_poll_wait_max,   "25", 0, 300),
	I ("limits", "poll_limit_max",  lim_poll_limit_max,  "200", 1, 10000),
	I ("limits", "presence_ttl",    lim_presence_ttl,    "45", 5, 3600),

	I ("hooks", "deliver",      hooks_deliver,      "1", 0, 1),
	I ("hooks", "timeout",      hooks_timeout,      "10", 1, 300),
	I ("hooks", "max_attempts", hooks_max_attempts, "8", 1, 100),
	I ("hooks", "retry_ms",     hooks_retry_ms,     "2000", 10, 3600000),
	I ("hooks", "concurrency",  hooks_concurrency,  "16", 1, 256),

	I ("attachments", "max_size", att_max_size, "10485760", 1024, 1073741824),
	I ("attachments", "url_ttl",  att_url_ttl,  "300", 10, 86400),
	L ("attachments", "types",    att_types,
	   "image/png image/jpeg image/gif image/webp application/pdf text/plain "
	   "text/csv application/zip application/vnd.openxmlformats-officedocument.* "
	   "application/vnd.oasis.opendocument.* application/msword "
	   "application/vnd.ms-excel application/vnd.ms-powerpoint"),
};
/* clang-format on */
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct load_ctx {
	struct ct_cfg *cfg;
	unsigned char seen[NKEYS];
	char why[256];
};

static const struct cfg_key *
find_key(const char *section, const char *name, size_t *idx)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0) {
			*idx = i;
			return &keys[i];
		}
	return NULL;
}

static int
set_value(struct ct_cfg *cfg, const struct cfg_key *k, const char *v, char *why,
	  size_t whylen)
{
	char *base = (char *)cfg;

	if (k->type == K_STR || k->type == K_LIST) {
		char **slot = (char **)(base + k->off);
		char *dup = strdup(v);

		if (!dup) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		free(*slot);
		*slot = dup;
		return 0;
	}
	long n;
	if (ct_parse_long(v, k->min, k->max, &n) != 0) {
		snprintf(why, whylen,
			 "%s.%s: '%s' is not a whole number in %ld..%ld",
			 k->section, k->name, v, k->min, k->max);
		return -1;
	}
	*(int *)(base + k->off) = (int)n;
	return 0;
}

static int
on_key(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	const struct cfg_key *k;
	size_t i;

	if (!(k = find_key(section, name, &i))) {
		if (!*section)
			snprintf(lc->why, sizeof(lc->why),
				 "key '%s' outside a [section]", name);
		else
			snprintf(lc->why, sizeof(lc->why),
				 "unknown key '%s' in [%s]", name, section);
		return 0;
	}
	if (lc->seen[i] && k->type == K_LIST) { /* a continuation line */
		char **slot = (char **)((char *)lc->cfg + k->off);
		size_t a = strlen(*slot), b = strlen(value);
		char *more = realloc(*slot, a + 1 + b + 1);

		if (!more) {
			snprintf(lc->why, sizeof(lc->why), "out of memory");
			return 0;
		}
		more[a] = ' ';
		memcpy(more + a + 1, value, b + 1);
		*slot = more;
		return 1;
	}
	if (lc->seen[i]) {
		snprintf(lc->why, sizeof(lc->why), "%s.%s given twice", section,
			 name);
		return 0;
	}
	lc->seen[i] = 1;
	return set_value(lc->cfg, k, value, lc->why, sizeof(lc->why)) == 0;
}

void
ct_cfg_free(struct ct_cfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type != K_INT)
			free(*(char **)((char *)cfg + keys[i].off));
	free(cfg);
}

struct ct_cfg *
ct_cfg_defaults(void)
{
	struct ct_cfg *cfg = calloc(1, sizeof(*cfg));
	char why[128];

	if (!cfg)
		return NULL;
	for (size_t i = 0; i < NKEYS; i++) {
		const char *d = keys[i].def ? keys[i].def : "";

		if (set_value(cfg, &keys[i], d, why, sizeof(why)) != 0) {
			ct_cfg_free(cfg);
			return NULL;
		}
	}
	return cfg;
}

/* Parse with libinih from a file or a string; the checks after parsing
 * are the same for both. */
static int
load(const char *name, FILE *f, const char *text, struct ct_cfg **out,
     char *err, size_t errlen)
{
	struct load_ctx lc = { 0 };
	int line;

	if (!(lc.cfg = ct_cfg_defaults())) {
		snprintf(err, errlen, "%s: out of memory", name);
		return CT_ENOMEM;
	}
	line = f ? ini_parse_file(f, on_key, &lc)
		 : ini_parse_string(text, on_key, &lc);
	if (line != 0) {
		snprintf(err, errlen, "%s:%d: %s", name, line,
			 lc.why[0] ? lc.why : "syntax error");
		goto fail;
	}
	for (size_t i = 0; i < NKEYS; i++)
		if (!keys[i].def && !lc.seen[i]) {
			snprintf(err, errlen, "%s: missing required key %s.%s",
				 name, keys[i].section, keys[i].name);
			goto fail;
		}
	if (ct_log_parse_level(lc.cfg->log_level) < 0) {
		snprintf(err, errlen,
			 "%s: log.level: '%s' is not error|warn|info|debug",
			 name, lc.cfg->log_level);
		goto fail;
	}
	*out = lc.cfg;
	return CT_OK;
fail:
	ct_cfg_free(lc.cfg);
	return CT_EINVALID;
}

int
ct_cfg_load(const char *path, struct ct_cfg **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	int rc;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return CT_EINVALID;
	}
	rc = load(path, f, NULL, out, err, errlen);
	fclose(f);
	return rc;
}

int
ct_cfg_parse(const char *text, const char *name, struct ct_cfg **out, char *err,
	     size_t errlen)
{
	return load(name, NULL, text, out, err, errlen);
}

void
ct_cfg_dump(const struct ct_cfg *cfg, void (*emit)(const char *, void *),
	    void *arg)
{
	char line[1024];

	for (size_t i = 0; i < NKEYS; i++) {
		const struct cfg_key *k = &keys[i];
		const char *base = (const char *)cfg;

		if (k->type == K_INT)
			snprintf(line, sizeof(line), "%s.%s = %d", k->section,
				 k->name, *(const int *)(base + k->off));
		else
			snprintf(line, sizeof(line), "%s.%s = %s", k->section,
				 k->name,
				 k->secret ? "(set)"
					   : *(char *const *)(base + k->off));
		emit(line, arg);
	}
}

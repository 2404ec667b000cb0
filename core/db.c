/* db.c - blocking libpq helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/util.h"

/* The connection parameters every program uses: TCP keepalives (a peer
 * that vanished without a FIN is noticed in about 3 x keepalive seconds),
 * then the conninfo expanded (which may override them), our
 * application_name, the timeout, UTF-8. */
struct conn_params {
	const char *keys[10];
	const char *vals[10];
	char timeout[16], idle[16], intvl[16], user_timeout[16];
};

static void
conn_params(const struct ct_cfg *cfg, const char *app_name,
	    struct conn_params *cp)
{
	static const char *const keys[] = {
		"keepalives",          "keepalives_idle",
		"keepalives_interval", "keepalives_count",
		"tcp_user_timeout",    "dbname",
		"application_name",    "connect_timeout",
		"client_encoding",     NULL
	};
	int k = cfg->db_keepalive;

	snprintf(cp->timeout, sizeof(cp->timeout), "%d",
		 cfg->db_connect_timeout);
	snprintf(cp->idle, sizeof(cp->idle), "%d", k);
	snprintf(cp->intvl, sizeof(cp->intvl), "%d", k / 3 > 0 ? k / 3 : 1);
	snprintf(cp->user_timeout, sizeof(cp->user_timeout), "%d",
		 k * 3 * 1000);
	memcpy(cp->keys, keys, sizeof(keys));
	cp->vals[0] = "1";
	cp->vals[1] = cp->idle;
	cp->vals[2] = cp->intvl;
	cp->vals[3] = "3";
	cp->vals[4] = cp->user_timeout;
	cp->vals[5] = cfg->db_conninfo; /* expand_dbname: the whole conninfo */
	cp->vals[6] = app_name;
	cp->vals[7] = cp->timeout;
	cp->vals[8] = "UTF8";
	cp->vals[9] = NULL;
}

static void
first_line(char *err, size_t errlen, const char *m)
{
	if (!err)
		return;
	snprintf(err, errlen, "%s", m);
	err[strcspn(err, "\n")] = 0;
}

void
ct_db_setup_sql(const struct ct_cfg *cfg, char *out, size_t outlen)
{
	snprintf(out, outlen,
		 "SELECT set_config('crosstalk.text_max', '%d', false), "
		 "set_config('crosstalk.presence_ttl', '%d', false), "
		 "set_config('lock_timeout', '%ds', false), "
		 "set_config('statement_timeout', '%ds', false)",
		 cfg->lim_text_max, cfg->lim_presence_ttl, cfg->db_lock_timeout,
		 cfg->db_statement_timeout);
}

int
ct_db_connected(PGconn *conn, const struct ct_cfg *cfg, char *err,
		size_t errlen)
{
	char set[256];
	PGresult *res;
	int rc = CT_OK;

	ct_db_setup_sql(cfg, set, sizeof(set));
	res = PQexec(conn, set);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (err)
			snprintf(err, errlen, "setting limits failed: %s",
				 PQresultErrorMessage(res));
		rc = CT_EUNAVAIL;
	}
	PQclear(res);
	return rc;
}

PGconn *
ct_db_connect(const struct ct_cfg *cfg, const char *app_name, char *err,
	      size_t errlen)
{
	struct conn_params cp;
	PGconn *conn;

	conn_params(cfg, app_name, &cp);
	conn = PQconnectdbParams(cp.keys, cp.vals, 1);
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		first_line(err, errlen,
			   conn ? PQerrorMessage(conn) : "out of memory");
		PQfinish(conn);
		return NULL;
	}
	if (ct_db_connected(conn, cfg, err, errlen) != CT_OK) {
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

PGconn *
ct_db_connect_start(const struct ct_cfg *cfg, const char *app_name, char *err,
		    size_t errlen)
{
	struct conn_params cp;
	PGconn *conn;

	conn_params(cfg, app_name, &cp);
	conn = PQconnectStartParams(cp.keys, cp.vals, 1);
	if (!conn || PQstatus(conn) == CONNECTION_BAD) {
		first_line(err, errlen,
			   conn ? PQerrorMessage(conn) : "out of memory");
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

PGconn *
ct_db_connect_wait(const struct ct_cfg *cfg, const char *app_name, char *err,
		   size_t errlen)
{
	int64_t deadline = ct_mono_ms() + (int64_t)cfg->db_startup_wait * 1000;
	int64_t backoff = 250;
	PGconn *conn;

	for (int attempt = 1;; attempt++) {
		if ((conn = ct_db_connect(cfg, app_name, err, errlen)))
			return conn;
		if (ct_mono_ms() + backoff > deadline)
			return NULL;
		ct_warn("msg=\"database unreachable, retrying\" attempt=%d "
			"retry_in_ms=%lld error=\"%s\"",
			attempt, (long long)backoff, err);
		struct timespec ts = { backoff / 1000,
				       (backoff % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
	}
}

int
ct_db_state_error(const char *state, const char *primary, char *msg,
		  size_t msglen)
{
	if (state && strncmp(state, "CT", 2) == 0) {
		static const struct {
			const char *state;
			int rc;
		} map[] = {
			{ "CT400", CT_EBADREQ },    { "CT401", CT_EUNAUTH },
			{ "CT403", CT_EFORBIDDEN }, { "CT404", CT_ENOTFOUND },
			{ "CT409", CT_ECONFLICT },  { "CT413", CT_ETOOLARGE },
			{ "CT422", CT_EINVALID },   { "CT429", CT_ERATE },
		};
		snprintf(msg, msglen, "%s", primary ? primary : "refused");
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcmp(state, map[i].state) == 0)
				return map[i].rc;
		return CT_EINVALID;
	}
	/* a channel row held by another transaction past lock_timeout, or
	 * a statement past statement_timeout: retry later */
	if (state && strcmp(state, "55P03") == 0) {
		snprintf(msg, msglen,
			 "the channel is locked by another transaction; "
			 "retry later");
		return CT_EUNAVAIL;
	}
	if (state && strcmp(state, "57014") == 0) {
		snprintf(msg, msglen,
			 "the database took too long; retry later");
		return CT_EUNAVAIL;
	}
	/* class 08 connection, 57P serious shutdown/admin, 53 resources,
	 * 40001/40P01 serialization: worth a retry, so "unavailable" */
	if (state &&
	    (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	     strncmp(state, "53", 2) == 0 || strcmp(state, "40001") == 0 ||
	     strcmp(state, "40P01") == 0)) {
		snprintf(msg, msglen, "database unavailable");
		return CT_EUNAVAIL;
	}
	/* 22xxx data exceptions and 23xxx integrity violations from input */
	if (state && (strncmp(state, "22", 2) == 0)) {
		snprintf(msg, msglen, "%s",
			 primary ? primary : "invalid value");
		return CT_EINVALID;
	}
	if (state && strcmp(state, "23505") == 0) {
		snprintf(msg, msglen, "already exists");
		return CT_ECONFLICT;
	}
	ct_err("msg=\"database error\" sqlstate=%s error=%s",
	       state ? ct_log_q(state) : "-",
	       ct_log_q(primary ? primary : "-"));
	snprintf(msg, msglen, "internal database error");
	return CT_EINTERNAL;
}

int
ct_db_error(PGconn *conn, const PGresult *res, char *msg, size_t msglen)
{
	const char *primary =
		res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		snprintf(msg, msglen, "database unavailable");
		return CT_EUNAVAIL;
	}
	return ct_db_state_error(
		res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL,
		primary ? primary : PQerrorMessage(conn), msg, msglen);
}

int
ct_db_exec(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	char msg[256];
	int rc = CT_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = ct_db_error(conn, res, msg, sizeof(msg));
		ct_err("msg=\"statement failed\" error=%s", ct_log_q(msg));
	}
	PQclear(res);
	return rc;
}

int
ct_db_array_add(char **buf, size_t *len, size_t *cap, const char *s)
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

int
ct_db_array_end(char **buf, size_t *len, size_t *cap)
{
	size_t need = *len + 3;

	if (need > *cap) {
		char *nb = realloc(*buf, need);

		if (!nb)
			return -1;
		*buf = nb;
		*cap = need;
	}
	if (!*len) /* no element: "{}" */
		(*buf)[(*len)++] = '{';
	memcpy(*buf + *len, "}", 2);
	*len += 1;
	return 0;
}

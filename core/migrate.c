/* migrate.c - apply sql/NNN_*.sql once each, in order, then
 * sql/functions.sql when it changed; atomically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/db.h"
#include "core/migrations.h"

/* pg_advisory_xact_lock key: "crosstalk" folded into 63 bits, fixed. */
#define MIGRATE_LOCK "7242690915151283712"

int
ct_schema_latest(void)
{
	int v = 0;

	for (const struct ct_migration *m = ct_migrations; m->version; m++)
		v = m->version;
	return v;
}

int
ct_schema_version(PGconn *conn)
{
	PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM "
				     "crosstalk.migrations");
	int v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static int
run(PGconn *conn, const char *sql, const char *what, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = CT_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char msg[512];

		rc = ct_db_error(conn, res, msg, sizeof(msg));
		if (PQresultErrorMessage(res)[0])
			snprintf(msg, sizeof(msg), "%s",
				 PQresultErrorMessage(res));
		msg[strcspn(msg, "\n")] = 0;
		snprintf(err, errlen, "%s: %s", what, msg);
	}
	PQclear(res);
	return rc;
}

/* 1 if version v is recorded, 0 if not, -1 on error. */
static int
applied(PGconn *conn, int v)
{
	char sql[128];
	PGresult *res;
	int rc = -1;

	snprintf(sql, sizeof(sql),
		 "SELECT 1 FROM crosstalk.migrations WHERE version = %d", v);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		rc = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

/* sql/functions.sql, when the text recorded in crosstalk.code differs. */
static int
functions(PGconn *conn, int *done, char *err, size_t errlen)
{
	char hash[CT_HASH_HEX], rec[256];
	const char *pv[1] = { hash };
	PGresult *res;
	int same, rc;

	ct_auth_hash_hex(ct_functions_sql, hash);
	res = PQexecParams(conn,
			   "SELECT 1 FROM crosstalk.code WHERE name = "
			   "'functions' AND sha256 = $1",
			   1, NULL, pv, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		snprintf(err, errlen, "cannot read crosstalk.code");
		return CT_EINTERNAL;
	}
	same = PQntuples(res) > 0;
	PQclear(res);
	if (same)
		return CT_OK;
	if ((rc = run(conn, ct_functions_sql, "functions.sql", err, errlen)) !=
	    CT_OK)
		return rc;
	snprintf(rec, sizeof(rec),
		 "INSERT INTO crosstalk.code (name, sha256) VALUES "
		 "('functions', '%s') ON CONFLICT (name) DO UPDATE SET "
		 "sha256 = excluded.sha256, applied_at = now()",
		 hash); /* hex digits only */
	if ((rc = run(conn, rec, "functions.sql", err, errlen)) != CT_OK)
		return rc;
	*done = 1;
	return CT_OK;
}

int
ct_migrate(PGconn *conn, int *applied_out, int *functions_out, char *err,
	   size_t errlen)
{
	int rc, have;

	*applied_out = 0;
	*functions_out = 0;
	/* The lock comes before anything else: two migrates serialize here,
	 * and the second finds every version already recorded. The schema is
	 * created only when missing, so an owner without CREATE on the
	 * database can still migrate an existing schema. */
	if ((rc = run(conn,
		      "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ");"
		      "SET LOCAL client_min_messages = warning;"
		      "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_namespace "
		      "WHERE nspname = 'crosstalk') THEN "
		      "CREATE SCHEMA crosstalk; END IF; END $$;"
		      "CREATE TABLE IF NOT EXISTS crosstalk.migrations ("
		      " version int PRIMARY KEY, name text NOT NULL,"
		      " applied_at timestamptz NOT NULL DEFAULT now())",
		      "prepare", err, errlen)) != CT_OK)
		goto fail;
	for (const struct ct_migration *m = ct_migrations; m->version; m++) {
		char rec[256];

		/* every unrecorded version runs, even one numbered below the
		 * newest applied (migrations merged out of order) */
		if ((have = applied(conn, m->version)) < 0) {
			snprintf(err, errlen,
				 "cannot read crosstalk.migrations");
			rc = CT_EINTERNAL;
			goto fail;
		}
		if (have)
			continue;
		if ((rc = run(conn, m->sql, m->name, err, errlen)) != CT_OK)
			goto fail;
		snprintf(rec, sizeof(rec),
			 "INSERT INTO crosstalk.migrations(version, name) "
			 "VALUES (%d, '%s')",
			 m->version, m->name); /* names are ours: [0-9a-z_.] */
		if ((rc = run(conn, rec, m->name, err, errlen)) != CT_OK)
			goto fail;
		(*applied_out)++;
	}
	if ((rc = functions(conn, functions_out, err, errlen)) != CT_OK)
		goto fail;
	if ((rc = run(conn, "COMMIT", "commit", err, errlen)) != CT_OK)
		goto fail;
	return CT_OK;
fail:
	PQclear(PQexec(conn, "ROLLBACK"));
	*applied_out = 0;
	*functions_out = 0;
	return rc;
}

/* migrations.h - the numbered SQL migrations compiled into the programs
 * (generated from sql/ by cmake/embed_sql.cmake) and the migrate step. */
#ifndef CT_MIGRATIONS_H
#define CT_MIGRATIONS_H

#include <libpq-fe.h>

struct ct_migration {
	int version;
	const char *name;
	const char *sql;
};

/* Terminated by a { 0 } row; sorted by version. */
extern const struct ct_migration ct_migrations[];
/* sql/functions.sql: every function's current definition (CREATE OR
 * REPLACE), applied after the migrations whenever its sha256 differs from
 * the one recorded in crosstalk.code. */
extern const char ct_functions_sql[];

/* Apply every migration not yet recorded, then sql/functions.sql if it
 * changed, all in one transaction under an advisory lock, so two migrates
 * at once both succeed with one schema. *applied = how many migrations ran;
 * *functions = 1 when the functions were (re)defined. 0 or CT_E* (reason
 * in err). */
int ct_migrate(PGconn *conn, int *applied, int *functions, char *err,
	       size_t errlen);
/* Highest applied version (0 for none), or -1 on error. */
int ct_schema_version(PGconn *conn);
/* Highest version this build knows. */
int ct_schema_latest(void);

#endif /* CT_MIGRATIONS_H */

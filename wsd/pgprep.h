/* pgprep.h - statements prepared once per query connection (pgprep.c tells
 * why).
 *
 * Every statement pgq sends is static text, known by its address. The
 * first PGPREP_MAX of them seen are numbered; a connection prepares each
 * (as "ct_<n>") while it has nothing else to do, and from then on sends it
 * by name: parsed and planned once per connection instead of once per
 * request. A statement that cannot be prepared, or whose prepared form
 * fails as stale (a migration changed what it returns), is sent as text on
 * that connection from then on. */
#ifndef CT_WSD_PGPREP_H
#define CT_WSD_PGPREP_H

#include <stdint.h>

#include <libpq-fe.h>

#define PGPREP_MAX 32

/* One connection's state; zeroed for a new connection. */
struct pgprep {
	uint32_t ready;  /* prepared here */
	uint32_t failed; /* not to be prepared here */
	int sent;        /* the statement in flight was sent by name (its
			    number + 1; 0: as text) */
};

/* Send sql with its parameters on conn, by name when it is prepared there
 * (PQsendQueryParams' or PQsendQueryPrepared's answer). sql must be static
 * text. */
int pgprep_send(struct pgprep *p, PGconn *conn, const char *sql, int n,
		const char *const *params);
/* Does conn lack a statement it could prepare? */
int pgprep_wanted(const struct pgprep *p);
/* Prepare the next statement that conn lacks (call when pgprep_wanted):
 * its number, for pgprep_done, once PQsendPrepare went out; -1 when the
 * send failed. */
int pgprep_next(struct pgprep *p, PGconn *conn);
/* The PQsendPrepare of statement k finished: ok or not. */
void pgprep_done(struct pgprep *p, int k, int ok);
/* The statement in flight failed with sqlstate. 1 when it was sent by
 * name and its prepared form is stale (0A000, "cached plan must not change
 * result type": a migration changed what it returns): nothing of it ran,
 * and the statement goes as text on this connection from now on. */
int pgprep_failed(struct pgprep *p, const char *sqlstate);

#endif /* CT_WSD_PGPREP_H */

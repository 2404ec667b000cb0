/* pool.h - crosstalk-fcgi's database connections: [http] workers of them
 * shared by all threads, each with its cache of prepared statements, and
 * the one way a statement is run on them: with a deadline. */
#ifndef CT_FCGI_POOL_H
#define CT_FCGI_POOL_H

#include <stddef.h>

#include <libpq-fe.h>

struct ct_cfg;
struct worker;

int pool_init(const struct ct_cfg *cfg);
/* Connect and warm up every slot in a thread of its own (pool.c
 * warm_main); pool_free waits for it. -1 when the thread cannot start. */
int pool_warm_start(void);
void pool_free(void);
int pool_busy(void); /* connections checked out now */

/* Check out a connection for w (waiting up to 10 s for a free one) and
 * (re)connect it if needed; CT_OK or CT_EUNAVAIL. Logs once per outage.
 * Holding one already is fine. */
int pool_hold(struct worker *w);
/* Give it back (safe when none is held). */
void pool_release(struct worker *w);

/* Run sql on w's connection (held, or taken now) as a statement prepared
 * once per connection, keyed by the address of sql: pass string literals
 * only. The answer must come within the deadline ([database]
 * statement_timeout plus a grace, for a server that stopped answering at
 * all); past it, or when the connection is lost, the connection is closed
 * (the next pool_hold makes it anew). The result (caller clears) when it
 * succeeded; else NULL with *rc = CT_E* (never a 500: CT_EINTERNAL becomes
 * CT_EUNAVAIL), the reason in msg, the SQLSTATE in state (may be NULL, 6
 * bytes), and *lost = 1 when the connection is gone. */
PGresult *pool_exec(struct worker *w, const char *sql, int n,
		    const char *const *params, int *rc, char *msg,
		    size_t msglen, char *state, int *lost);

/* pool_exec with binary parameters or result (attachments' bytes): the
 * lengths and formats of the parameters (1: binary) and whether the result
 * comes as binary; bin may be NULL (all text). */
struct pool_bin {
	const int *lengths;
	const int *formats;
	int result_binary;
};
PGresult *pool_exec_bin(struct worker *w, const char *sql, int n,
			const char *const *params, const struct pool_bin *bin,
			int *rc, char *msg, size_t msglen, char *state,
			int *lost);

#endif /* CT_FCGI_POOL_H */

/* pgprep.c - statements prepared once per query connection.
 *
 * Why: a statement sent as text is parsed, analysed and planned for every
 * request. For crosstalk-wsd's group commit that was 0.08 ms of the
 * server's time on a quiet machine and 0.27 ms under load, beside 1.3-1.8
 * ms for a ten-post group; for a subscription's first replay
 * (events_after, an SQL function the planner inlines) planning cost more
 * than running it. Prepared, a statement is planned once per connection
 * (a generic plan once it is as good as the custom ones, as PostgreSQL
 * decides).
 *
 * How: statements are numbered by address as they are first sent (pgq's
 * statements are static text). A connection prepares what it lacks only
 * when it has nothing else to send (pgq.c's send_on), one statement per
 * round trip, so preparing never delays a request by more than one short
 * PQsendPrepare; until then a statement goes as text. Prepared statements
 * live as long as their connection: a new connection starts with none. */
#include <stdio.h>
#include <string.h>

#include "wsd/pgprep.h"

_Static_assert(PGPREP_MAX <= 32, "one bit per statement in a uint32_t");

static struct {
	const char *sql[PGPREP_MAX]; /* static text, by number */
	int n;
} reg;

/* sql's number, numbering it if new and there is room; -1: none */
static int
number(const char *sql)
{
	for (int i = 0; i < reg.n; i++)
		if (reg.sql[i] == sql)
			return i;
	if (reg.n == PGPREP_MAX)
		return -1;
	reg.sql[reg.n] = sql;
	return reg.n++;
}

static void
name_of(int k, char *buf, size_t len)
{
	snprintf(buf, len, "ct_%d", k);
}

int
pgprep_send(struct pgprep *p, PGconn *conn, const char *sql, int n,
	    const char *const *params)
{
	int k = number(sql);
	char name[16];

	p->sent = 0;
	if (k < 0 || !(p->ready & (UINT32_C(1) << k)))
		return PQsendQueryParams(conn, sql, n, NULL, params, NULL, NULL,
					 0);
	name_of(k, name, sizeof(name));
	p->sent = k + 1;
	return PQsendQueryPrepared(conn, name, n, params, NULL, NULL, 0);
}

int
pgprep_wanted(const struct pgprep *p)
{
	uint32_t all =
		reg.n == PGPREP_MAX ? UINT32_MAX : (UINT32_C(1) << reg.n) - 1;

	return (all & ~(p->ready | p->failed)) != 0;
}

int
pgprep_next(struct pgprep *p, PGconn *conn)
{
	uint32_t done = p->ready | p->failed;
	char name[16];

	p->sent = 0;
	for (int i = 0; i < reg.n; i++) {
		if (done & (UINT32_C(1) << i))
			continue;
		name_of(i, name, sizeof(name));
		return PQsendPrepare(conn, name, reg.sql[i], 0, NULL) ? i : -1;
	}
	return -1;
}

void
pgprep_done(struct pgprep *p, int k, int ok)
{
	if (k < 0 || k >= reg.n)
		return;
	if (ok) {
		p->ready |= UINT32_C(1) << k;
	} else {
		p->failed |= UINT32_C(1) << k;
	}
}

int
pgprep_failed(struct pgprep *p, const char *sqlstate)
{
	int k = p->sent - 1;

	p->sent = 0;
	if (k < 0 || strcmp(sqlstate, "0A000") != 0)
		return 0;
	p->ready &= ~(UINT32_C(1) << k);
	p->failed |= UINT32_C(1) << k;
	return 1;
}

/* fcgi.h - what crosstalk-fcgi's modules share: the per-worker state. */
#ifndef CT_FCGI_H
#define CT_FCGI_H

#include <libpq-fe.h>

struct ct_cfg;

/* One per worker thread; owned by main.c. */
struct worker {
	int index;
	const struct ct_cfg *cfg; /* borrowed, lives for the process */
	PGconn *db;               /* NULL while the database is down */
};

/* (Re)connect w->db if needed; 0 or CT_EUNAVAIL. Logs once per outage. */
int worker_db(struct worker *w);

#endif /* CT_FCGI_H */

/* tickets.c - ctbench-tickets: mint many crosstalk tickets straight in
 * PostgreSQL (the HTTP path does one per request), the same way the API
 * does: a random token, its SHA-256 as the key, the session ref sealed
 * with a key derived from the token, crosstalk.mint_ticket() per row.
 *
 *   ctbench-tickets APP COUNT USERS TTL OUT [SESSIONS_OUT]
 *
 * Registers USERS sessions (users bench-u0..), mints COUNT tickets spread
 * over them, writes one ticket per line to OUT, the users taking turns
 * (line i is user i % USERS's: any run of USERS lines is USERS distinct
 * users), and the session refs to SESSIONS_OUT. Connection from the usual
 * PG* environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/auth.h"

static void
fail(PGconn *db, const char *what)
{
	fprintf(stderr, "ctbench-tickets: %s: %s\n", what,
		db ? PQerrorMessage(db) : "");
	exit(1);
}

int
main(int argc, char **argv)
{
	PGconn *db;
	PGresult *r;
	const char *app;
	int count, users, ttl;
	char **refs, (*toks)[CT_TOKEN_MAX];
	FILE *out, *sout = NULL;

	if (argc < 6) {
		fputs("usage: ctbench-tickets APP COUNT USERS TTL OUT "
		      "[SESSIONS_OUT]\n",
		      stderr);
		return 2;
	}
	app = argv[1];
	count = atoi(argv[2]);
	users = atoi(argv[3]);
	ttl = atoi(argv[4]);
	if (count < 1 || count > 1000000 || users < 1 || users > 100000 ||
	    ttl < 1)
		fail(NULL, "bad arguments");
	if (!(out = fopen(argv[5], "w")))
		fail(NULL, argv[5]);
	if (argc > 6 && !(sout = fopen(argv[6], "w")))
		fail(NULL, argv[6]);
	db = PQconnectdb("");
	if (PQstatus(db) != CONNECTION_OK)
		fail(db, "connect");
	r = PQexec(db, "BEGIN");
	PQclear(r);
	refs = calloc((size_t)users, sizeof(*refs));
	toks = calloc((size_t)count, sizeof(*toks)); /* freed at exit */
	if (!refs || !toks)
		fail(NULL, "out of memory");
	for (int u = 0; u < users; u++) {
		char uid[32], name[48];
		const char *p[3] = { app, uid, name };
		snprintf(uid, sizeof(uid), "bench-u%d", u);
		snprintf(name, sizeof(name), "Bench User %d", u);
		r = PQexecParams(
			db,
			"SELECT crosstalk.register_session($1, $2, $3, "
			"86400)",
			3, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			fail(db, "register_session");
		refs[u] = strdup(PQgetvalue(r, 0, 0));
		if (sout)
			fprintf(sout, "%s\n", refs[u]);
		PQclear(r);
	}
	r = PQprepare(db, "mint",
		      "SELECT crosstalk.mint_ticket(h, $1, $2, b, $3::int) "
		      "FROM unnest($4::text[], $5::text[]) AS x(h, b)",
		      5, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail(db, "prepare");
	PQclear(r);
	/* one statement per user and chunk of up to 500 tickets */
	for (int u = 0; u < users; u++) {
		int mine = count / users + (u < count % users);
		for (int done = 0; done < mine;) {
			int n = mine - done > 500 ? 500 : mine - done;
			size_t cap = (size_t)n * 200 + 8;
			char *harr = malloc(cap), *barr = malloc(cap * 2);
			size_t hl = 0, bl = 0;
			char ttls[16];
			if (!harr || !barr)
				fail(NULL, "out of memory");
			harr[hl++] = '{';
			barr[bl++] = '{';
			for (int i = 0; i < n; i++) {
				char tok[CT_TOKEN_MAX], hash[CT_HASH_HEX], *box;
				if (ct_auth_token("ctt_", tok) != 0 ||
				    ct_auth_seal_ref(tok, refs[u], &box) != 0)
					fail(NULL, "token");
				ct_auth_hash_hex(tok, hash);
				hl += (size_t)snprintf(harr + hl, cap - hl,
						       "%s%s", i ? "," : "",
						       hash);
				bl += (size_t)snprintf(barr + bl, cap * 2 - bl,
						       "%s%s", i ? "," : "",
						       box);
				free(box);
				memcpy(toks[(size_t)(done + i) * (size_t)users +
					    (size_t)u],
				       tok, sizeof(tok));
			}
			harr[hl++] = '}';
			harr[hl] = 0;
			barr[bl++] = '}';
			barr[bl] = 0;
			snprintf(ttls, sizeof(ttls), "%d", ttl);
			const char *p[5] = { app, refs[u], ttls, harr, barr };
			r = PQexecPrepared(db, "mint", 5, p, NULL, NULL, 0);
			if (PQresultStatus(r) != PGRES_TUPLES_OK)
				fail(db, "mint_ticket");
			PQclear(r);
			free(harr);
			free(barr);
			done += n;
		}
	}
	r = PQexec(db, "COMMIT");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail(db, "commit");
	PQclear(r);
	PQfinish(db);
	for (int i = 0; i < count; i++)
		fprintf(out, "%s\n", toks[i]);
	if (fclose(out) != 0 || (sout && fclose(sout) != 0))
		fail(NULL, "write");
	return 0;
}

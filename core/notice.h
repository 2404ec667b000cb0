/* notice.h - the payloads crosstalk's SQL functions send on NOTIFY channel
 * "crosstalk", parsed in one place for both daemons.
 *
 *   m <event id> <channel> <seq> [<exclude hash or -> <event JSON>]
 *   e <app> <ref hash>
 *   r <channel> <user id>
 *   p <channel>
 *   t <channel> <user JSON>
 *   u <channel> <user id> <message id>     (the user was mentioned)
 *
 * Fields are separated by one blank. A channel or user id may hold blanks
 * (user ids are any 1-128 characters but ':' and control characters, and a
 * DM channel is built from two of them), so the SQL side escapes every
 * field with crosstalk.wire(): '%' -> %25, ' ' -> %20 (and %XX for any
 * other byte it chooses). A JSON part is always last and taken whole. A
 * field can therefore never forge another: a user id "bob 5 - {x" arrives
 * as one field. */
#ifndef CT_NOTICE_H
#define CT_NOTICE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct ct_notice {
	char kind;           /* 'm', 'e', 'r', 'p', 't', 'u' */
	int64_t id;          /* m u */
	int64_t seq;         /* m */
	const char *channel; /* m r p t u */
	const char *user;    /* r u */
	const char *app;     /* e */
	const char *hash;    /* e; m: the exclude hash, NULL for none */
	const char *json;    /* m (NULL in the short form), t */
	size_t json_len;
};

/* Parse payload in place (escapes are decoded into it, so it must be
 * writable; the fields point into it). CT_OK, or CT_EINVALID for anything
 * that is not exactly one of the forms above: unknown kinds, a missing or
 * extra field, a bad number, a bad escape, a decoded NUL, a JSON part that
 * does not start with '{'. */
int ct_notice_parse(char *payload, struct ct_notice *n) CT_MUSTCHECK;

/* Escape s as crosstalk.wire() does, into out (outlen >= 3 * strlen + 1);
 * for tests and for C code that sends a payload. Returns the length. */
size_t ct_notice_escape(const char *s, char *out, size_t outlen);

#endif /* CT_NOTICE_H */

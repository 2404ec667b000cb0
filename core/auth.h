/* auth.h - secrets: API keys, tickets. Random values come from getrandom(),
 * are stored only as SHA-256 hashes and compared in constant time
 * (OpenSSL's libcrypto: a well-kept Debian library, not our own crypto). */
#ifndef CT_AUTH_H
#define CT_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define CT_SECRET_BYTES 24 /* 192 random bits per key / ticket */
#define CT_TOKEN_MAX    96 /* prefix + base64url text of a token, + NUL */
#define CT_HASH_HEX     65 /* sha256 as hex + NUL */

/* prefix + base64url(CT_SECRET_BYTES random bytes) into out[CT_TOKEN_MAX]. */
int ct_auth_token(const char *prefix, char *out) CT_MUSTCHECK;
/* sha256(s) as lower-case hex into out[CT_HASH_HEX]. */
void ct_auth_hash_hex(const char *s, char *out);
/* hex(HMAC-SHA256(key, msg)) into out[CT_HASH_HEX]; "" on failure. Every
 * signature the hub makes (file links, upload tokens, hook calls). */
void ct_auth_hmac_hex(const char *key, const void *msg, size_t len, char *out);
/* Constant-time equality of two NUL-terminated strings of equal length;
 * different lengths compare unequal (lengths are not secret here). */
int ct_auth_equal(const char *a, const char *b);

/* An API key reads "<app id>.<secret>": split without copying the secret.
 * Returns 0 and the app id (into app[33]) or -1. */
int ct_auth_key_app(const char *key, char *app, size_t applen);

/* A ticket carries its session ref sealed with a key derived from the
 * ticket itself, so the database holds neither in clear. *box is
 * malloc'd hex (caller frees); open returns a malloc'd ref or NULL. */
int ct_auth_seal_ref(const char *ticket, const char *ref,
		     char **box) CT_MUSTCHECK;
char *ct_auth_open_ref(const char *ticket, const char *box);

#endif /* CT_AUTH_H */

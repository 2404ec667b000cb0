/* filesig.h - the credentials of attachments: signed links (a file, for
 * one user, until a time) and upload tokens (a user may upload to one
 * channel until a time). Both are HMAC-SHA256 (OpenSSL's libcrypto) with
 * the database's file secret (crosstalk.settings 'file_secret'), so any
 * daemon of the hub makes them and crosstalk-fcgi checks them without a
 * database look-up of its own. Pure: no I/O. */
#ifndef CT_FILESIG_H
#define CT_FILESIG_H

#include <stddef.h>
#include <stdint.h>

#define CT_FILE_LINK_MAX    1200 /* the query of a signed link, + NUL */
#define CT_UPLOAD_TOKEN_MAX 2400 /* an upload token, + NUL */

/* The query of a signed link, "id=17&a=app1&u=alice&e=1790000000&s=<hex>",
 * into out. 0, or -1 when it does not fit. */
int ct_file_link(const char *secret, int64_t id, const char *app,
		 const char *user, int64_t exp, char *out, size_t outlen);
/* 1 when sig is the link's signature (the expiry is the caller's). */
int ct_file_link_ok(const char *secret, int64_t id, const char *app,
		    const char *user, int64_t exp, const char *sig);

/* An upload token for user of app, channel, until exp (unix seconds). */
int ct_upload_token(const char *secret, const char *app, const char *user,
		    const char *channel, int64_t exp, char *out, size_t outlen);
/* Open a token: 0 with its fields when the signature is good (the expiry
 * is the caller's), -1 otherwise. */
int ct_upload_token_open(const char *secret, const char *tok, char *app,
			 size_t applen, char *user, size_t userlen,
			 char *channel, size_t chlen, int64_t *exp);

/* Percent-encode s for a query value (RFC 3986 unreserved kept). 0, or -1
 * when it does not fit. */
int ct_url_encode(const char *s, char *out, size_t outlen);

#endif /* CT_FILESIG_H */

/* filesig.c - see filesig.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/filesig.h"

#define SIG_HEX CT_HASH_HEX

/* Written here rather than borrowed: libcurl (crosstalk-fcgi) and
 * libwebsockets (crosstalk-wsd) each have one, but not both daemons link
 * either, and it is a dozen lines. */
int
ct_url_encode(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int keep = (*p >= 'a' && *p <= 'z') ||
			   (*p >= 'A' && *p <= 'Z') ||
			   (*p >= '0' && *p <= '9') || strchr("-._~", *p);

		if (o + (keep ? 1 : 3) >= outlen)
			return -1;
		if (keep) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = 0;
	return 0;
}

static int
link_msg(int64_t id, const char *app, const char *user, int64_t exp, char *msg,
	 size_t msglen)
{
	int n = snprintf(msg, msglen, "f1\n%" PRId64 "\n%s\n%s\n%" PRId64, id,
			 app, user, exp);

	return n < 0 || (size_t)n >= msglen ? -1 : n;
}

int
ct_file_link(const char *secret, int64_t id, const char *app, const char *user,
	     int64_t exp, char *out, size_t outlen)
{
	char msg[CT_FILE_LINK_MAX], sig[SIG_HEX], eu[CT_FILE_LINK_MAX];
	int n = link_msg(id, app, user, exp, msg, sizeof(msg));

	if (n < 0 || ct_url_encode(user, eu, sizeof(eu)) != 0)
		return -1;
	ct_auth_hmac_hex(secret, msg, (size_t)n, sig);
	n = snprintf(out, outlen, "id=%" PRId64 "&a=%s&u=%s&e=%" PRId64 "&s=%s",
		     id, app, eu, exp, sig);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
ct_file_link_ok(const char *secret, int64_t id, const char *app,
		const char *user, int64_t exp, const char *sig)
{
	char msg[CT_FILE_LINK_MAX], want[SIG_HEX];
	int n = link_msg(id, app, user, exp, msg, sizeof(msg));

	if (n < 0 || !sig)
		return 0;
	ct_auth_hmac_hex(secret, msg, (size_t)n, want);
	return want[0] && ct_auth_equal(want, sig);
}

/* token = "u1." hex(app "\n" user "\n" channel "\n" exp) "." hex(sig) */
int
ct_upload_token(const char *secret, const char *app, const char *user,
		const char *channel, int64_t exp, char *out, size_t outlen)
{
	char msg[1100], sig[SIG_HEX];
	int n = snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%" PRId64, app, user,
			 channel, exp);
	size_t o = 3;

	if (n < 0 || (size_t)n >= sizeof(msg) ||
	    outlen < 3 + 2 * (size_t)n + 1 + 64 + 1)
		return -1;
	ct_auth_hmac_hex(secret, msg, (size_t)n, sig);
	memcpy(out, "u1.", 3);
	for (int i = 0; i < n; i++, o += 2)
		snprintf(out + o, 3, "%02x", (unsigned char)msg[i]);
	out[o++] = '.';
	memcpy(out + o, sig, 65);
	return 0;
}

static int
unhex(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
				      : -1;
}

/* The next "\n"-ended field of s into out; the rest after it, or NULL. */
static const char *
field(const char *s, char *out, size_t outlen)
{
	const char *nl = strchr(s, '\n');
	size_t n;

	if (!nl || (n = (size_t)(nl - s)) == 0 || n >= outlen)
		return NULL;
	memcpy(out, s, n);
	out[n] = 0;
	return nl + 1;
}

int
ct_upload_token_open(const char *secret, const char *tok, char *app,
		     size_t applen, char *user, size_t userlen, char *channel,
		     size_t chlen, int64_t *exp)
{
	char msg[1100], want[SIG_HEX];
	const char *dot, *p;
	size_t n = 0;
	long long e;
	char *end;

	if (!tok || strncmp(tok, "u1.", 3) != 0 ||
	    !(dot = strchr(tok + 3, '.')) || (dot - tok - 3) % 2 != 0 ||
	    (size_t)(dot - tok - 3) / 2 >= sizeof(msg))
		return -1;
	for (p = tok + 3; p < dot; p += 2) {
		int hi = unhex(p[0]), lo = unhex(p[1]);

		if (hi < 0 || lo < 0)
			return -1;
		msg[n++] = (char)(hi << 4 | lo);
	}
	msg[n] = 0;
	ct_auth_hmac_hex(secret, msg, n, want);
	if (!want[0] || !ct_auth_equal(want, dot + 1) || memchr(msg, 0, n))
		return -1;
	if (!(p = field(msg, app, applen)) || !(p = field(p, user, userlen)) ||
	    !(p = field(p, channel, chlen)))
		return -1;
	e = strtoll(p, &end, 10);
	if (*p < '0' || *p > '9' || *end)
		return -1;
	*exp = (int64_t)e;
	return 0;
}

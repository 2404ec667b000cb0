/* util.c - see util.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

int
ct_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s)
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
ct_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

int64_t
ct_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t
ct_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

unsigned
ct_hash(const char *s, size_t n)
{
	unsigned h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int
lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int
valid_name(const char *s, size_t maxlen, const char *extra)
{
	size_t n;

	if (!s || !lower_alnum((unsigned char)s[0]))
		return 0;
	for (n = 1; s[n]; n++)
		if (!lower_alnum((unsigned char)s[n]) && !strchr(extra, s[n]))
			return 0;
	return n <= maxlen;
}

int
ct_valid_app_id(const char *s)
{
	return valid_name(s, 32, "_-");
}

/* The one rule for user ids (sql/functions.sql check_user says the same):
 * valid UTF-8, 1-128 characters, no ':' and no control character (C0,
 * DEL, C1: U+0080-U+009F, encoded 0xC2 0x80-0x9F). */
int
ct_valid_user_id(const char *s, size_t n)
{
	long chars = ct_utf8_count(s, n);

	if (chars < 1 || chars > 128)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ':' || c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0))
			return 0;
	}
	return 1;
}

int
ct_valid_channel(const char *s)
{
	const char *a, *b;
	size_t alen, blen, cmp;

	if (!s)
		return 0;
	if (strncmp(s, "dm:", 3) != 0)
		return valid_name(s, 64, "_.-");
	a = s + 3;
	if (!(b = strchr(a, ':')))
		return 0;
	alen = (size_t)(b - a);
	b++;
	blen = strlen(b);
	if (!ct_valid_user_id(a, alen) || !ct_valid_user_id(b, blen))
		return 0;
	/* ids sorted bytewise (= by code point), distinct: one name per
	 * pair; SQL compares them COLLATE "C", crosstalk.js by code point */
	cmp = alen < blen ? alen : blen;
	int c = memcmp(a, b, cmp);
	return c < 0 || (c == 0 && alen < blen);
}

int
ct_dm_member(const char *channel, const char *user_id)
{
	const char *a, *b;
	size_t ulen = strlen(user_id);

	if (strncmp(channel, "dm:", 3) != 0)
		return -1;
	a = channel + 3;
	if (!(b = strchr(a, ':')))
		return 0;
	if ((size_t)(b - a) == ulen && memcmp(a, user_id, ulen) == 0)
		return 1;
	return strcmp(b + 1, user_id) == 0;
}

int
ct_dm_name(const char *a, const char *b, char *out, size_t outlen)
{
	int n;

	if (strchr(a, ':') || strchr(b, ':'))
		return -1;
	if (strcmp(a, b) > 0) {
		const char *t = a;
		a = b;
		b = t;
	}
	n = snprintf(out, outlen, "dm:%s:%s", a, b);
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

long
ct_utf8_count(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	long count = 0;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		unsigned cp;
		size_t need;

		if (c == 0)
			return -1;
		if (c < 0x80) {
			i++;
			count++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return -1;
		}
		if (i + need >= len)
			return -1; /* truncated sequence */
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += need + 1;
		count++;
	}
	return count;
}

/* notice.c - see notice.h. */
#include <string.h>

#include "core/notice.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Cut the next blank-separated field off *p: decode it in place and
 * return it, or NULL when there is none or it is malformed. The field must
 * be non-empty; *p moves past its blank (or to the final NUL). */
static char *
field(char **p)
{
	char *start = *p, *in = *p, *out = *p;

	if (!*in || *in == ' ')
		return NULL;
	while (*in && *in != ' ') {
		if (*in == '%') {
			int hi = hexval(in[1]),
			    lo = hi < 0 ? -1 : hexval(in[2]);

			if (lo < 0 || (hi == 0 && lo == 0))
				return NULL; /* bad escape, or a NUL */
			*out++ = (char)(hi << 4 | lo);
			in += 3;
			continue;
		}
		*out++ = *in++;
	}
	*p = *in ? in + 1 : in;
	if (*in && !**p)
		return NULL; /* a trailing blank: an empty last field */
	*out = 0;
	return start;
}

/* A whole decimal number, no sign, no leading blanks, at most 18 digits. */
static int
number(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t n = 0;

	for (; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 18)
			return -1;
		v = v * 10 + (s[n] - '0');
	}
	if (!n)
		return -1;
	*out = v;
	return 0;
}

static int
hash_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (hexval(s[n]) < 0 || (s[n] >= 'A' && s[n] <= 'F'))
			return 0;
	return n == 64;
}

/* The rest of the payload as a JSON object's text. */
static int
json_rest(char *p, struct ct_notice *n)
{
	if (*p != '{')
		return -1;
	n->json = p;
	n->json_len = strlen(p);
	return 0;
}

int
ct_notice_parse(char *payload, struct ct_notice *n)
{
	char *p = payload, *a, *b, *c;

	memset(n, 0, sizeof(*n));
	if (!p || !p[0] || p[1] != ' ')
		return CT_EINVALID;
	n->kind = p[0];
	p += 2;
	switch (n->kind) {
	case 'm':
		if (!(a = field(&p)) || number(a, &n->id) ||
		    !(n->channel = field(&p)) || !(b = field(&p)) ||
		    number(b, &n->seq))
			return CT_EINVALID;
		if (!*p)
			return CT_OK; /* the short form */
		if (!(c = field(&p)) || !*p ||
		    (strcmp(c, "-") != 0 && !hash_ok(c)) || json_rest(p, n))
			return CT_EINVALID;
		n->hash = strcmp(c, "-") == 0 ? NULL : c;
		return CT_OK;
	case 'e':
		if (!(n->app = field(&p)) || !(n->hash = field(&p)) || *p ||
		    !hash_ok(n->hash))
			return CT_EINVALID;
		return CT_OK;
	case 'r':
		if (!(n->channel = field(&p)) || !(n->user = field(&p)) || *p)
			return CT_EINVALID;
		return CT_OK;
	case 'u':
		if (!(n->channel = field(&p)) || !(n->user = field(&p)) ||
		    !(a = field(&p)) || number(a, &n->id) || *p)
			return CT_EINVALID;
		return CT_OK;
	case 'p':
		if (!(n->channel = field(&p)) || *p)
			return CT_EINVALID;
		return CT_OK;
	case 't':
		if (!(n->channel = field(&p)) || json_rest(p, n))
			return CT_EINVALID;
		return CT_OK;
	default:
		return CT_EINVALID;
	}
}

size_t
ct_notice_escape(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!outlen)
		return 0;
	for (; *s && o + 4 <= outlen; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '%' || ch == ' ' || ch < 0x20 || ch == 0x7f) {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = 0;
	return o;
}

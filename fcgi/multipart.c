/* multipart.c - see multipart.h. The body is scanned for "\r\n--boundary"
 * (a leading "\r\n" is assumed before the first one, so every delimiter
 * looks the same); what lies before it is the current part's, except the
 * last delimiter-length bytes, kept until more arrive. */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "fcgi/multipart.h"

enum { S_PREAMBLE, S_AFTER_DELIM, S_HEADERS, S_BODY, S_DONE };

static int
fail(struct mp *m, const char *why)
{
	snprintf(m->err, sizeof(m->err), "%s", why);
	return CT_EBADREQ;
}

/* A parameter's value (quoted or not) after "key=" in a header's value. */
static void
param(const char *v, const char *end, const char *key, char *out, size_t outlen,
      int *found)
{
	size_t klen = strlen(key), o = 0;
	const char *p = v;

	*found = 0;
	out[0] = 0;
	while (p < end) {
		while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(end - p) > klen &&
		    strncasecmp(p, key, klen) == 0 && p[klen] == '=') {
			p += klen + 1;
			*found = 1;
			if (p < end && *p == '"') {
				/* only \" and \\ are escapes: browsers send
				 * a Windows path's backslashes as they are */
				for (p++; p < end && *p != '"'; p++) {
					if (*p == '\\' && p + 1 < end &&
					    (p[1] == '"' || p[1] == '\\'))
						p++;
					if (o + 1 < outlen)
						out[o++] = *p;
				}
			} else {
				for (; p < end && *p != ';' && *p != ' '; p++)
					if (o + 1 < outlen)
						out[o++] = *p;
			}
			out[o] = 0;
			return;
		}
		while (p < end && *p != ';')
			p++;
	}
}

/* Parse the header block [h, end) of one part into m->part. */
static int
headers(struct mp *m, const char *h, const char *end)
{
	int have_cd = 0, found;

	memset(&m->part, 0, sizeof(m->part));
	while (h < end) {
		const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
		const char *colon, *v;

		if (!eol)
			eol = end;
		colon = memchr(h, ':', (size_t)(eol - h));
		if (colon) {
			for (v = colon + 1;
			     v < eol && (*v == ' ' || *v == '\t'); v++)
				;
			if (colon - h == 19 &&
			    strncasecmp(h, "Content-Disposition", 19) == 0) {
				if ((size_t)(eol - v) < 9 ||
				    strncasecmp(v, "form-data", 9) != 0)
					return fail(m,
						    "a part is not form-data");
				have_cd = 1;
				param(v + 9, eol, "name", m->part.name,
				      sizeof(m->part.name), &found);
				param(v + 9, eol, "filename", m->part.filename,
				      sizeof(m->part.filename),
				      &m->part.is_file);
			} else if (colon - h == 12 &&
				   strncasecmp(h, "Content-Type", 12) == 0) {
				size_t n = (size_t)(eol - v);

				if (n >= sizeof(m->part.type))
					n = sizeof(m->part.type) - 1;
				memcpy(m->part.type, v, n);
				m->part.type[n] = 0;
			}
		}
		h = eol + 2;
	}
	if (!have_cd || !m->part.name[0])
		return fail(m, "a part has no Content-Disposition name");
	return CT_OK;
}

int
mp_init(struct mp *m, const char *ctype)
{
	char b[MP_BOUNDARY_MAX + 2];
	const char *semi;
	int found;

	memset(m, 0, sizeof(*m));
	if (!ctype || strncasecmp(ctype, "multipart/form-data", 19) != 0 ||
	    (ctype[19] && ctype[19] != ';' && ctype[19] != ' ')) {
		snprintf(m->err, sizeof(m->err),
			 "send the file as multipart/form-data");
		return CT_EMEDIA;
	}
	semi = ctype + 19;
	param(semi, semi + strlen(semi), "boundary", b, sizeof(b), &found);
	if (!found || !b[0] || strlen(b) > MP_BOUNDARY_MAX)
		return fail(m, "multipart/form-data without a usable boundary");
	m->dlen = (size_t)snprintf(m->delim, sizeof(m->delim), "\r\n--%s", b);
	memcpy(m->buf, "\r\n", 2); /* the first delimiter's missing CRLF */
	m->len = 2;
	m->state = S_PREAMBLE;
	return CT_OK;
}

/* Consume n bytes from the front of the window. */
static void
eat(struct mp *m, size_t n)
{
	memmove(m->buf, m->buf + n, m->len - n);
	m->len -= n;
}

/* Work through the window as far as it goes. */
static int
step(struct mp *m, const struct mp_cb *cb, void *ud)
{
	for (;;) {
		const char *hit;
		size_t keep;
		int rc;

		switch (m->state) {
		case S_PREAMBLE:
			hit = memmem(m->buf, m->len, m->delim, m->dlen);
			if (!hit) {
				/* the preamble is ignored: keep only a tail */
				if (m->len >= m->dlen)
					eat(m, m->len - m->dlen + 1);
				return CT_OK;
			}
			eat(m, (size_t)(hit - m->buf) + m->dlen);
			m->state = S_AFTER_DELIM;
			break;
		case S_AFTER_DELIM:
			if (m->len < 2)
				return CT_OK;
			if (m->buf[0] == '-' && m->buf[1] == '-') {
				m->state = S_DONE;
				m->len = 0;
				return CT_OK;
			}
			/* transport padding (blanks) may precede the CRLF */
			hit = memmem(m->buf, m->len, "\r\n", 2);
			if (!hit) {
				if (m->len > 64)
					return fail(m,
						    "garbage after a boundary");
				return CT_OK;
			}
			for (const char *p = m->buf; p < hit; p++)
				if (*p != ' ' && *p != '\t')
					return fail(m,
						    "garbage after a boundary");
			eat(m, (size_t)(hit - m->buf) + 2);
			m->state = S_HEADERS;
			break;
		case S_HEADERS:
			if (m->len >= 2 && m->buf[0] == '\r' &&
			    m->buf[1] == '\n') {
				hit = m->buf; /* no headers at all */
			} else {
				hit = memmem(m->buf, m->len, "\r\n\r\n", 4);
				if (!hit) {
					if (m->len >= MP_HEADERS_MAX)
						return fail(m,
							    "a part's headers "
							    "are too long");
					return CT_OK;
				}
				hit += 2;
			}
			if ((rc = headers(m, m->buf, hit)) != CT_OK)
				return rc;
			eat(m, (size_t)(hit - m->buf) + 2);
			if (cb->begin &&
			    (rc = cb->begin(ud, &m->part)) != CT_OK)
				return rc;
			m->state = S_BODY;
			break;
		case S_BODY:
			hit = memmem(m->buf, m->len, m->delim, m->dlen);
			if (hit) {
				size_t n = (size_t)(hit - m->buf);

				if (n && cb->data &&
				    (rc = cb->data(ud, m->buf, n)) != CT_OK)
					return rc;
				eat(m, n + m->dlen);
				if (cb->end && (rc = cb->end(ud)) != CT_OK)
					return rc;
				m->state = S_AFTER_DELIM;
				break;
			}
			/* all but what could be the start of a delimiter */
			if (m->len < m->dlen)
				return CT_OK;
			keep = m->dlen - 1;
			if (cb->data &&
			    (rc = cb->data(ud, m->buf, m->len - keep)) != CT_OK)
				return rc;
			eat(m, m->len - keep);
			return CT_OK;
		case S_DONE:
			m->len = 0; /* the epilogue is ignored */
			return CT_OK;
		}
	}
}

int
mp_feed(struct mp *m, const char *data, size_t len, const struct mp_cb *cb,
	void *ud)
{
	while (len > 0) {
		size_t room = sizeof(m->buf) - m->len, n;
		int rc;

		if (m->state == S_DONE)
			return CT_OK;
		if (room == 0)
			return fail(m, "a part's headers are too long");
		n = len < room ? len : room;
		memcpy(m->buf + m->len, data, n);
		m->len += n;
		data += n;
		len -= n;
		if ((rc = step(m, cb, ud)) != CT_OK)
			return rc;
	}
	return CT_OK;
}

int
mp_finish(struct mp *m)
{
	if (m->state != S_DONE)
		return fail(m, "the upload ended before its closing boundary");
	return CT_OK;
}

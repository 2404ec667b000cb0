/* multipart.h - a streaming multipart/form-data reader (RFC 7578): bytes
 * go in as they arrive, parts come out through callbacks, file contents
 * in pieces, so an upload is never held whole. Pure: no FastCGI, no
 * database (a fuzz target feeds it alone).
 *
 * Written here: Debian has no streaming form-data parser in C; GMime
 * parses whole MIME messages into memory, which is what this avoids. */
#ifndef CT_MULTIPART_H
#define CT_MULTIPART_H

#include <stddef.h>

#define MP_BOUNDARY_MAX 70   /* RFC 2046 */
#define MP_HEADERS_MAX  8192 /* one part's header block */
#define MP_NAME_MAX     512  /* a field's name, a filename */
#define MP_WINDOW       65536

struct mp_part {
	char name[MP_NAME_MAX];     /* Content-Disposition name */
	char filename[MP_NAME_MAX]; /* "" for a plain field */
	int is_file;                /* it had a filename parameter */
	char type[128];             /* its Content-Type, "" when absent */
};

/* Each returns 0 to go on, or a CT_E* code that stops mp_feed with it. */
struct mp_cb {
	int (*begin)(void *ud, const struct mp_part *p);
	int (*data)(void *ud, const char *buf, size_t len);
	int (*end)(void *ud);
};

struct mp {
	char delim[4 + MP_BOUNDARY_MAX + 1]; /* "\r\n--" boundary */
	size_t dlen;
	int state;
	char buf[MP_WINDOW + MP_HEADERS_MAX]; /* bytes not yet consumed */
	size_t len;
	struct mp_part part;
	char err[128];
};

/* From the request's Content-Type: CT_OK, or CT_EMEDIA (not form-data)
 * or CT_EBADREQ (no usable boundary) with the reason in m->err. */
int mp_init(struct mp *m, const char *content_type);
/* Feed len more bytes. CT_OK, a callback's code, or CT_EBADREQ with the
 * reason in m->err. */
int mp_feed(struct mp *m, const char *data, size_t len, const struct mp_cb *cb,
	    void *ud);
/* The body ended: CT_OK when its closing boundary was seen, else
 * CT_EBADREQ ("the upload ended early"). */
int mp_finish(struct mp *m);

#endif /* CT_MULTIPART_H */

/* creq.h - one client frame of crosstalk.v1, parsed and checked with no
 * connection and no database: the pure part of the WebSocket frame
 * handler. The one table of frame types (creq.c) says which fields each
 * type needs and their limits; dispatch.c acts on the result by kind, and
 * fuzz/fuzz_ws_frame.c calls the parser alone. */
#ifndef CT_WSD_CREQ_H
#define CT_WSD_CREQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum creq_kind {
	CREQ_AUTH, /* only as the first frame */
	CREQ_PING,
	CREQ_CHANNELS,
	CREQ_SUBSCRIBE,
	CREQ_UNSUBSCRIBE,
	CREQ_PUBLISH,
	CREQ_EDIT,
	CREQ_DELETE,
	CREQ_TYPING,
	CREQ_READ,
	CREQ_PRESENCE,
	CREQ_HISTORY,
	CREQ_SEARCH,
	CREQ_USERS,
	CREQ_GROUP,
	CREQ_MEMBERS,
	CREQ_ADD_MEMBERS,
	CREQ_REMOVE_MEMBERS,
	CREQ_REACT,
	CREQ_UNREACT,
	CREQ_UPLOAD,
	CREQ_FILES,
	CREQ_KINDS
};

/* What a kind needs of the connection (dispatch.c): */
#define CREQ_DB    1 /* a database request: counted against conn_queries */
#define CREQ_WRITE 2 /* a write: commits in the order sent (pgq flows) */

#define CREQ_REF_MAX 200 /* longer refs are dropped, not echoed */

struct creq {
	json_t *m; /* owned: the frame's object (NULL on a parse error) */
	enum creq_kind kind;
	unsigned flags;        /* CREQ_DB | CREQ_WRITE */
	const char *type;      /* borrowed from m */
	const char *ref;       /* borrowed; NULL when absent or too long */
	const char *channel;   /* borrowed; checked, for channel frames */
	const char *text;      /* borrowed; checked, for publish and edit */
	const char *client_id; /* borrowed; publish, may be NULL */
	const char *ticket;    /* borrowed; auth */
	const char *q;         /* borrowed; search words, users prefix */
	const char *cursor;    /* borrowed; search, users; may be NULL */
	const char *title;     /* borrowed; group, may be NULL */
	json_t *users;         /* borrowed from m: a checked array of ids */
	const char *emoji;     /* borrowed; react, unreact */
	int64_t reply_to;      /* publish: the message answered, 0: none */
	char files[256];       /* publish: attachment ids "17,18", or "" */
	json_t *ids;           /* borrowed from m: files' checked ids */
	int64_t seq;           /* after (subscribe), seq (read), id (edit,
				  delete), before (history) */
	int64_t limit;         /* history, search, users */
	int64_t t0_ms;         /* when it arrived (ct_mono_ms) */
};

/* Parse and check one complete frame. first: the connection has not
 * authenticated, so only {"type":"auth","ticket":...} is valid. CT_OK, or
 * CT_E* with the reason in msg (r->ref set when the frame had one).
 * Always creq_free() afterwards. */
int creq_parse(const char *s, size_t len, int first, long text_max,
	       struct creq *r, char *msg, size_t msglen);
void creq_free(struct creq *r);

#endif /* CT_WSD_CREQ_H */

/* frame.h - one client frame of crosstalk.v1, parsed and checked with no
 * connection and no database: the pure part of the WebSocket frame
 * handler (sess.c acts on the result; fuzz/fuzz_ws_frame.c calls it alone). */
#ifndef CT_WSD_FRAME_H
#define CT_WSD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct creq {
	json_t *m; /* owned: the frame's object (NULL on a parse error) */
	const char *type; /* borrowed from m */
	const char *ref;  /* borrowed; NULL when absent or over 200 bytes */
	int64_t seq;      /* after (subscribe), seq (read), id (edit,
			     delete), before (history) */
	int64_t limit;    /* history */
};

/* Parse and check one complete frame. first: the connection has not
 * authenticated, so only {"type":"auth","ticket":...} is valid. CT_OK, or
 * CT_E* with the reason in msg (r->ref set when the frame had one).
 * Always creq_free() afterwards. */
int creq_parse(const char *s, size_t len, int first, long text_max,
	       struct creq *r, char *msg, size_t msglen);
void creq_free(struct creq *r);

#endif /* CT_WSD_FRAME_H */

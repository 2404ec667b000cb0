/* out.c - each connection's outbound queue: a ring of shared, refcounted
 * frames, written after every loop turn as one WebSocket frame (the
 * waiting events joined by newlines), and the close.
 *
 * Bounds: a ring holds at most [wsd] queue_max frames and queue_bytes
 * bytes; a connection past either is too slow for its traffic and is
 * closed with 4008 (it reconnects and resumes by seq). Answers a client
 * asks for (history, replays) are cut to wsd_answer_max() bytes, and
 * dispatch.c admits a request only while the queue has room for its
 * answer, so a client that asks and never reads holds at most queue_bytes
 * and then simply stops being read (its frames wait in the kernel). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "wsd/wsd.h"

static lws_dll2_owner_t dirty;     /* pss with frames to write this turn */
static size_t all_bytes, all_peak; /* bytes queued to all connections */
static void (*on_drained)(struct pss *p);
static lws_sorted_usec_list_t flush_sul;
static void flush_dirty(lws_sorted_usec_list_t *sul);

struct frame *
frame_new(const char *s, size_t len)
{
	struct frame *f = malloc(sizeof(*f) + len + 1); /* caller refs it */

	if (!f)
		return NULL;
	f->refs = 0;
	f->len = (uint32_t)len;
	memcpy(f->data, s, len);
	f->data[len] = 0;
	return f;
}

struct frame *
frame_json(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	struct frame *f = s ? frame_new(s, strlen(s)) : NULL;

	json_decref(o);
	free(s);
	if (f)
		f->refs = 1;
	return f;
}

void
frame_ref(struct frame *f)
{
	f->refs++;
}

void
frame_unref(struct frame *f)
{
	if (f && --f->refs == 0)
		free(f);
}

void
out_bytes(size_t *now, size_t *most)
{
	*now = all_bytes;
	*most = all_peak;
}

size_t
wsd_answer_max(void)
{
	return (size_t)wsd->cfg->wsd_queue_bytes / 8;
}

/* Take the oldest frame off p's ring. */
static void
pop(struct pss *p)
{
	struct frame *f = p->q[p->q_head];

	p->q_bytes -= f->len;
	all_bytes -= f->len;
	frame_unref(f);
	p->q_head = (p->q_head + 1) % p->q_cap;
	p->q_count--;
}

void
out_close(struct pss *p, int code)
{
	if (p->state == SESS_CLOSING)
		return;
	p->state = SESS_CLOSING;
	p->close_code = code;
	while (p->q_count) /* nothing more goes out but the close */
		pop(p);
	lws_callback_on_writable(p->wsi);
	/* a peer that never reads gets no close frame: drop it anyway */
	lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, 10);
}

/* The ring starts small and doubles up to queue_max: an idle connection
 * costs 16 pointers, not queue_max. */
static int
ring_grow(struct pss *p)
{
	unsigned max = (unsigned)wsd->cfg->wsd_queue_max;
	unsigned ncap = p->q_cap ? p->q_cap * 2 : 16;
	struct frame **nq;

	if (p->q_cap >= max)
		return -1;
	if (ncap > max)
		ncap = max;
	if (!(nq = malloc(ncap * sizeof(*nq)))) /* owned by p */
		return -1;
	for (unsigned i = 0; i < p->q_count; i++)
		nq[i] = p->q[(p->q_head + i) % p->q_cap];
	free(p->q);
	p->q = nq;
	p->q_cap = ncap;
	p->q_head = 0;
	return 0;
}

void
out_push(struct pss *p, struct frame *f)
{
	if (p->state == SESS_CLOSING)
		return;
	if ((p->q_count >= p->q_cap && ring_grow(p) != 0) ||
	    p->q_bytes + f->len > (size_t)wsd->cfg->wsd_queue_bytes) {
		ct_info("msg=\"queue full, closing\" conn=%" PRIu64
			" frames=%u bytes=%zu code=4008",
			p->id, p->q_count, p->q_bytes);
		ct_metric_add(&m_slow, 1);
		out_close(p, 4008);
		return;
	}
	frame_ref(f);
	p->q[(p->q_head + p->q_count) % p->q_cap] = f;
	p->q_bytes += f->len;
	if ((all_bytes += f->len) > all_peak)
		all_peak = all_bytes;
	if (p->q_count++ == 0 && !p->in_dirty.owner) {
		lws_dll2_add_tail(&p->in_dirty, &dirty);
		if (!flush_sul.list.owner && !wsd->stopped)
			lws_sul_schedule(wsd->context, 0, &flush_sul,
					 flush_dirty, 1);
	}
}

void
out_send(struct pss *p, const char *s, size_t len)
{
	struct frame *f = frame_new(s, len);

	if (!f) {
		out_close(p, 1011);
		return;
	}
	frame_ref(f);
	out_push(p, f);
	frame_unref(f);
}

void
out_json(struct pss *p, json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT);

	json_decref(obj);
	if (!s) {
		out_close(p, 1011);
		return;
	}
	out_send(p, s, strlen(s));
	free(s);
}

void
out_error(struct pss *p, int rc, const char *msg, const char *ref,
	  int retry_after)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "type", "error", "code",
			      ct_err_code(rc), "message",
			      msg && *msg ? msg : ct_err_code(rc));

	if (!o)
		return;
	if (ref)
		json_object_set_new(o, "ref", json_string(ref));
	if (retry_after > 0)
		json_object_set_new(o, "retry_after",
				    json_integer(retry_after));
	out_json(p, o);
}

/* All waiting frames, newline-joined, in one lws_write (at most
 * WSD_WRITE_MAX bytes); -1 when the write failed. */
static int
write_out(struct pss *p)
{
	size_t total = 0, off = 0;
	unsigned n = 0;

	while (n < p->q_count) {
		struct frame *f = p->q[(p->q_head + n) % p->q_cap];

		if (n && total + f->len + 1 > WSD_WRITE_MAX)
			break;
		total += f->len + (n ? 1 : 0);
		n++;
	}
	if (wsd->wbuf_cap < LWS_PRE + total) {
		unsigned char *b = realloc(wsd->wbuf, LWS_PRE + total);

		if (!b)
			return -1;
		wsd->wbuf = b;
		wsd->wbuf_cap = LWS_PRE + total;
	}
	for (unsigned i = 0; i < n; i++) {
		struct frame *f = p->q[p->q_head];

		if (i)
			wsd->wbuf[LWS_PRE + off++] = '\n';
		memcpy(wsd->wbuf + LWS_PRE + off, f->data, f->len);
		off += f->len;
		pop(p);
	}
	if (lws_write(p->wsi, wsd->wbuf + LWS_PRE, off, LWS_WRITE_TEXT) <
	    (int)off)
		return -1;
	ct_metric_add(&m_frames, 1);
	if (p->q_count) {
		lws_callback_on_writable(p->wsi);
	} else if (on_drained) {
		on_drained(p);
	}
	return 0;
}

/* The connections that got frames during this loop turn, written once the
 * turn's callbacks are done: everything queued in the turn (a whole burst
 * of notifications) leaves in one frame, and straight away. Asking lws for
 * a writable callback instead costs two epoll_ctl() calls and a wake-up
 * per connection per event, which at low rates is most of the cost of a
 * delivery. A connection whose previous write is not yet all out (lws
 * holds the rest) waits for its writable callback, so what lws buffers
 * stays one write per connection and a slow reader still fills its own
 * queue (4008). */
static void
flush_dirty(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	while (dirty.head) {
		struct pss *p =
			lws_container_of(dirty.head, struct pss, in_dirty);

		lws_dll2_remove(&p->in_dirty);
		if (!p->q_count)
			continue;
		if (p->state == SESS_CLOSING || lws_partial_buffered(p->wsi)) {
			lws_callback_on_writable(p->wsi);
			continue;
		}
		if (write_out(p) < 0) /* let lws notice and close it */
			lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
	}
}

void
out_start(void (*drained)(struct pss *p))
{
	on_drained = drained;
}

void
out_stop(void)
{
	lws_sul_cancel(&flush_sul);
	while (dirty.head)
		lws_dll2_remove(dirty.head);
}

static const char *
close_reason(int code)
{
	switch (code) {
	case 4008:
		return "too slow";
	case 4001:
		return "unauthorized";
	case 4029:
		return "too many connections";
	case 1001:
		return "going away";
	case 1009:
		return "frame too big";
	case 1008:
		return "rate limit";
	default:
		return "closing";
	}
}

/* WRITEABLE: the close frame, or what a flush left for later. */
int
out_writeable(struct pss *p)
{
	if (p->state == SESS_CLOSING) {
		const char *reason = close_reason(p->close_code);

		lws_close_reason(p->wsi, (enum lws_close_status)p->close_code,
				 (unsigned char *)reason, strlen(reason));
		return -1;
	}
	switch (alive_writeable(p)) {
	case -1:
		return -1;
	case 1:
		return 0;
	}
	if (!p->q_count)
		return 0; /* spurious writeable is legal */
	return write_out(p);
}

void
out_closed(struct pss *p)
{
	lws_dll2_remove(&p->in_dirty);
	while (p->q_count)
		pop(p);
	free(p->q);
	p->q = NULL;
	p->q_cap = 0;
}

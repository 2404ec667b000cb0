/* gate.c - channel hooks in crosstalk-wsd: a user's publish or subscribe
 * on a channel that has a hook (core/chook.h) waits for the hook's answer
 * before it is acted on. The calls run on libcurl's multi interface
 * driven by the daemon's own libev loop (socket and timer callbacks), so a
 * slow or hanging hook never blocks the loop: other connections and
 * channels go on, and the call ends at the hook's timeout.
 *
 * Order: while one of a connection's requests waits, the requests it sends
 * after wait behind it (in a queue per connection), so its publishes keep
 * the order they were sent in. The queue counts against [wsd]
 * conn_queries like requests in flight. The hook list is read from the
 * database every few seconds (gate_refresh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <ev.h>

#include "core/chook.h"
#include "core/config.h"
#include "core/err.h"
#include "core/hookcall.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "wsd/gate.h"
#include "wsd/wsd.h"

struct gate_req {
	struct hookcall_box {
		struct ct_hookcall call; /* first: the easy handle's private */
		struct gate_req *req;
	} box;
	struct gate_req *next;
	struct pss *p; /* borrowed; the request ends before p */
	struct creq r; /* r.m referenced here */
	gate_go_fn go;
	int calling; /* its call is in the multi handle */
	int verdict; /* -1: waiting, else CT_CHOOK_* */
	int fail_open;
	char *text; /* owned: the hook's new text */
	int64_t t0_ms;
	char msg[256];
};

static CURLM *multi;          /* owned */
static struct ev_timer timer; /* curl's timeout */
static struct ct_chooks hooks;

/* --- the hook list ------------------------------------------------------ */

static void
on_hooks(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct ct_chooks next;

	(void)owner;
	(void)ctx;
	if (rc != CT_OK) {
		ct_warn("msg=\"channel hook refresh failed\" err=%s",
			ct_log_q(msg));
		return; /* keep the list we have */
	}
	if (ct_chooks_load(&next, res) != 0)
		return;
	ct_chooks_free(&hooks);
	hooks = next;
}

void
gate_refresh(void)
{
	if (pgq_query(CT_CHOOKS_SQL, 0, NULL, PGQ_BG, NULL, NULL, on_hooks) !=
	    CT_OK)
		ct_warn("msg=\"channel hook refresh skipped: out of memory\"");
}

/* --- libcurl on the loop ------------------------------------------------- */

struct sock_watch {
	struct ev_io io;
	curl_socket_t fd;
};

static void finished(void);

static void
on_io(struct ev_loop *loop, struct ev_io *w, int revents)
{
	int running, flags = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
			     (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);

	(void)loop;
	curl_multi_socket_action(multi, ((struct sock_watch *)w)->fd, flags,
				 &running);
	finished();
}

static void
on_timer(struct ev_loop *loop, struct ev_timer *w, int revents)
{
	int running;

	(void)loop;
	(void)w;
	(void)revents;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	finished();
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl waits for. */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct sock_watch *sw = sockp;
	int ev = (what & CURL_POLL_IN ? EV_READ : 0) |
		 (what & CURL_POLL_OUT ? EV_WRITE : 0);

	(void)easy;
	(void)userp;
	if (what == CURL_POLL_REMOVE) {
		if (sw) {
			ev_io_stop(wsd->loop, &sw->io);
			free(sw);
			curl_multi_assign(multi, fd, NULL);
		}
		return 0;
	}
	if (!sw) {
		if (!(sw = calloc(1, sizeof(*sw)))) /* freed at REMOVE */
			return -1;
		sw->fd = fd;
		curl_multi_assign(multi, fd, sw);
	} else {
		ev_io_stop(wsd->loop, &sw->io);
	}
	ev_io_init(&sw->io, on_io, fd, ev);
	ev_io_start(wsd->loop, &sw->io);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: when curl wants to be called back. */
static int
on_curl_timer(CURLM *m, long ms, void *userp)
{
	(void)m;
	(void)userp;
	ev_timer_stop(wsd->loop, &timer);
	if (ms >= 0) {
		ev_timer_set(&timer, (double)ms / 1000.0, 0.);
		ev_timer_start(wsd->loop, &timer);
	}
	return 0;
}

int
gate_start(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    !(multi = curl_multi_init()))
		return -1;
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	ev_timer_init(&timer, on_timer, 0., 0.);
	return 0;
}

/* --- requests ------------------------------------------------------------ */

static void
req_free(struct gate_req *g)
{
	if (g->calling)
		curl_multi_remove_handle(multi, g->box.call.easy);
	ct_hookcall_free(&g->box.call);
	json_decref(g->r.m);
	free(g->text);
	free(g);
}

/* Act on p's requests from the head of its queue while they are decided. */
static void
drain(struct pss *p)
{
	struct gate_req *g;

	while ((g = p->gate_head) && g->verdict >= 0) {
		p->gate_head = g->next;
		if (!p->gate_head)
			p->gate_tail = NULL;
		p->gated--;
		if (g->verdict == CT_CHOOK_DENY)
			out_error(p, CT_EFORBIDDEN, g->msg, g->r.ref, 0);
		else if (g->verdict == CT_CHOOK_FAILED && !g->fail_open)
			out_error(p, CT_EUNAVAIL, g->msg, g->r.ref, 1);
		else
			g->go(p, &g->r);
		req_free(g);
	}
	dispatch_resume(p);
}

/* Collect the calls curl finished. */
static void
finished(void)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(multi, &left))) {
		struct hookcall_box *b = NULL;
		struct gate_req *g;
		char err[CURL_ERROR_SIZE];
		long status;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
				  (char **)&b);
		g = b->req;
		status = ct_hookcall_status(&g->box.call, m->data.result, err,
					    sizeof(err));
		curl_multi_remove_handle(multi, m->easy_handle);
		g->calling = 0;
		g->verdict = ct_chook_verdict(
			g->r.kind == CREQ_PUBLISH ? CT_CHOOK_PUBLISH
						  : CT_CHOOK_SUBSCRIBE,
			status, g->box.call.answer, wsd->cfg->lim_text_max,
			&g->text, g->msg, sizeof(g->msg));
		if (g->verdict == CT_CHOOK_FAILED)
			ct_warn("msg=\"channel hook failed\" channel=%s "
				"reason=%s detail=%s policy=%s",
				ct_log_q(g->r.channel), ct_log_q(g->msg),
				ct_log_q(err),
				g->fail_open ? "open" : "closed");
		if (g->text)
			g->r.text = g->text; /* the rewritten publish */
		ct_metric_add(g->verdict == CT_CHOOK_ALLOW  ? &m_hook_allow
			      : g->verdict == CT_CHOOK_DENY ? &m_hook_deny
							    : &m_hook_failed,
			      1);
		ct_hist_observe(&h_hook, (double)(ct_mono_ms() - g->t0_ms));
		drain(g->p);
	}
}

/* Start g's call to h. 0, or -1 (the request is decided as failed). */
static int
call(struct gate_req *g, const struct ct_chook *h, unsigned event)
{
	const struct creq *r = &g->r;
	char *body = ct_chook_body(
		event, r->channel, g->p->app, g->p->user_id, g->p->name,
		event == CT_CHOOK_PUBLISH ? r->text : NULL,
		event == CT_CHOOK_PUBLISH ? r->client_id : NULL);

	g->box.req = g;
	if (ct_hookcall_init(
		    &g->box.call, h->url, h->secret,
		    event == CT_CHOOK_PUBLISH ? "publish" : "subscribe", NULL,
		    body, h->timeout_ms, 1, "crosstalk-channel-hook/1") != 0 ||
	    curl_multi_add_handle(multi, g->box.call.easy) != CURLM_OK)
		return -1;
	g->calling = 1;
	return 0;
}

int
gate_take(struct pss *p, const struct creq *r, gate_go_fn go)
{
	unsigned event = r->kind == CREQ_PUBLISH     ? CT_CHOOK_PUBLISH
			 : r->kind == CREQ_SUBSCRIBE ? CT_CHOOK_SUBSCRIBE
						     : 0;
	const struct ct_chook *h =
		event && multi ? ct_chook_match(&hooks, r->channel, event)
			       : NULL;
	struct gate_req *g;

	if (!h && !p->gate_head)
		return 0;                   /* nothing to wait for */
	if (!(g = calloc(1, sizeof(*g)))) { /* freed by req_free */
		out_error(p, CT_ENOMEM, "out of memory", r->ref, 1);
		return 1;
	}
	g->p = p;
	g->r = *r;
	json_incref(g->r.m); /* r's strings point into it */
	g->go = go;
	g->t0_ms = ct_mono_ms();
	g->verdict = h ? -1 : CT_CHOOK_ALLOW; /* behind others: just waits */
	if (p->gate_tail)
		p->gate_tail->next = g;
	else
		p->gate_head = g;
	p->gate_tail = g;
	p->gated++;
	if (h) {
		g->fail_open = h->fail_open;
		if (call(g, h, event) != 0) {
			g->verdict = CT_CHOOK_FAILED;
			snprintf(g->msg, sizeof(g->msg),
				 "the channel's hook could not be called");
		}
	}
	drain(p);
	return 1;
}

void
gate_closed(struct pss *p)
{
	struct gate_req *g, *next;

	for (g = p->gate_head; g; g = next) {
		next = g->next;
		req_free(g);
	}
	p->gate_head = p->gate_tail = NULL;
	p->gated = 0;
}

void
gate_stop(void)
{
	ct_chooks_free(&hooks);
	if (!multi)
		return;
	ev_timer_stop(wsd->loop, &timer);
	curl_multi_cleanup(multi);
	multi = NULL;
	curl_global_cleanup();
}

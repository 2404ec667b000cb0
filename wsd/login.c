/* login.c - a connection's life: AWAIT_AUTH -> AUTHING -> LIVE ->
 * CLOSING. The ticket is redeemed once; live logins are re-checked against
 * the resolver in batches; a login that ended closes its connections.
 *
 * Sockets that have not authenticated cost a ticket lookup each and hold
 * lws state: at most [wsd] unauth_per_addr of them per client address
 * (the peer, or X-Forwarded-For from a trusted proxy) are let in; the
 * handshake of one more is refused with 429 (http.c asks login_admit). */
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "wsd/wsd.h"

/* clang-format off */
static const char q_redeem[] =
	"SELECT app, user_id, display_name, ref_hash, ref_box "
	"FROM crosstalk.redeem_ticket($1)";
static const char q_ended[] =
	"SELECT app, ref_hash FROM crosstalk.ended_sessions($1, $2)";
/* clang-format on */

/* --- who the client is ------------------------------------------------------
 */

/* The client's address: the peer, or, when the peer is a trusted proxy,
 * the last address in the X-Forwarded-For it set. */
void
login_addr(struct lws *wsi, char *out, size_t outlen)
{
	char xff[256];
	const char *last;
	int n;

	lws_get_peer_simple(wsi, out, outlen);
	if (!wsd->cfg->wsd_trusted_proxies[0] ||
	    !ct_metrics_allowed(wsd->cfg->wsd_trusted_proxies, out, "", NULL))
		return;
	n = lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR);
	if (n <= 0)
		return;
	last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ')
		last++;
	snprintf(out, outlen, "%.*s", (int)strcspn(last, " "), last);
}

int
login_untrusted_proxy(struct lws *wsi)
{
	char peer[128];

	if (lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) <= 0)
		return 0;
	lws_get_peer_simple(wsi, peer, sizeof(peer));
	return !wsd->cfg->wsd_trusted_proxies[0] ||
	       !ct_metrics_allowed(wsd->cfg->wsd_trusted_proxies, peer, "",
				   NULL);
}

/* --- unauthenticated sockets per address --------------------------------- */

#define ADDR_BUCKETS 1024

struct addr_count {
	struct addr_count *next;
	unsigned n;
	char addr[64];
};

static struct addr_count *addrs[ADDR_BUCKETS];

static struct addr_count **
addr_slot(const char *addr)
{
	struct addr_count **pp;

	for (pp = &addrs[ct_hash(addr, strlen(addr)) % ADDR_BUCKETS]; *pp;
	     pp = &(*pp)->next)
		if (strcmp((*pp)->addr, addr) == 0)
			break;
	return pp;
}

int
login_admit(const char *addr)
{
	struct addr_count **pp = addr_slot(addr);

	return !*pp || (*pp)->n < (unsigned)wsd->cfg->wsd_unauth_per_addr;
}

static int
count_in(struct pss *p)
{
	struct addr_count **pp = addr_slot(p->addr);

	if (!*pp) {
		struct addr_count *a = calloc(1, sizeof(*a)); /* table's */

		if (!a)
			return -1;
		snprintf(a->addr, sizeof(a->addr), "%s", p->addr);
		*pp = a;
	}
	if ((*pp)->n >= (unsigned)wsd->cfg->wsd_unauth_per_addr)
		return -1;
	(*pp)->n++;
	p->counted = 1;
	return 0;
}

static void
count_out(struct pss *p)
{
	struct addr_count **pp, *a;

	if (!p->counted)
		return;
	p->counted = 0;
	pp = addr_slot(p->addr);
	if (!(a = *pp))
		return;
	if (--a->n == 0) {
		*pp = a->next;
		free(a);
	}
}

void
login_free(void)
{
	for (unsigned b = 0; b < ADDR_BUCKETS; b++)
		while (addrs[b]) {
			struct addr_count *a = addrs[b];

			addrs[b] = a->next;
			free(a);
		}
}

/* --- lifecycle -------------------------------------------------------------
 */

void
login_open(struct pss *p, struct lws *wsi)
{
	char ticket[CT_TOKEN_MAX + 8];
	const char *val;
	int one = 1;

	memset(p, 0, sizeof(*p));
	p->wsi = wsi;
	/* one coalesced write per turn: never hold it back for an ACK */
	setsockopt(lws_get_socket_fd(wsi), IPPROTO_TCP, TCP_NODELAY, &one,
		   sizeof(one));
	/* a bounded kernel buffer: what a reader that stopped cannot take
	 * waits in our queue, where queue_max and queue_bytes count it */
	if (wsd->cfg->wsd_sndbuf > 0)
		setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF,
			   &wsd->cfg->wsd_sndbuf, sizeof(wsd->cfg->wsd_sndbuf));
	p->id = ++wsd->next_conn_id;
	p->state = SESS_AWAIT_AUTH;
	/* behind a trusted proxy: the client it forwarded for */
	login_addr(wsi, p->addr, sizeof(p->addr));
	ct_info("msg=\"connection open\" conn=%" PRIu64 " client=%s", p->id,
		p->addr);
	if (wsd->stopping) {
		out_close(p, 1001);
		return;
	}
	if (count_in(p) != 0) {
		ct_metric_add(&m_auth_fail_addr, 1);
		out_close(p, 1008);
		return;
	}
	lws_set_timer_usecs(wsi,
			    (lws_usec_t)wsd->cfg->lim_auth_timeout * 1000000);
	/* clients that cannot send a frame first may use ?ticket= */
	/* the value starts after "ticket=" inside our buffer */
	if ((val = lws_get_urlarg_by_name(wsi, "ticket=", ticket,
					  sizeof(ticket))))
		login_ticket(p, val);
}

void
login_timer(struct pss *p)
{
	if (p->state == SESS_AWAIT_AUTH || p->state == SESS_AUTHING) {
		ct_metric_add(&m_auth_fail_timeout, 1);
		out_close(p, 4001);
	}
}

void
login_closed(struct pss *p)
{
	count_out(p);
	while (p->subs)
		sub_free(p->subs);
	pgq_forget(p);
	pgq_flow_drop(&p->flow);
	lws_dll2_remove(&p->in_all);
	out_closed(p);
	free(p->rx);
	free(p->app);
	free(p->user_id);
	free(p->name);
	free(p->ref);
	free(p->ref_hash);
	p->rx = NULL;
	p->app = p->user_id = p->name = p->ref = p->ref_hash = NULL;
}

void
login_close_all(int code)
{
	dll_foreach(d, d_next, wsd->conns.head)
	{
		out_close(lws_container_of(d, struct pss, in_all), code);
	}
}

/* --- the ticket --------------------------------------------------------------
 */

struct redeem_ctx {
	char ticket[CT_TOKEN_MAX]; /* opens the sealed session ref */
};

static void
wipe_redeem(void *ctx)
{
	struct redeem_ctx *c = ctx;

	explicit_bzero(c->ticket, sizeof(c->ticket)); /* a secret */
}

static void
on_redeemed(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct pss *p = owner;
	struct redeem_ctx *c = ctx;
	json_t *o;

	if (rc != CT_OK || PQntuples(res) != 1) {
		ct_info("msg=\"auth refused\" conn=%" PRIu64 " err=%s", p->id,
			ct_log_q(rc == CT_OK ? "unknown or used ticket" : msg));
		ct_metric_add(&m_auth_fail_ticket, 1);
		out_close(p, rc == CT_OK || rc == CT_EUNAUTH ? 4001 : 1013);
		return;
	}
	p->app = strdup(PQgetvalue(res, 0, 0));
	p->user_id = strdup(PQgetvalue(res, 0, 1));
	p->name = strdup(PQgetvalue(res, 0, 2));
	p->ref_hash = strdup(PQgetvalue(res, 0, 3));
	p->ref = ct_auth_open_ref(c->ticket, PQgetvalue(res, 0, 4));
	if (!p->app || !p->user_id || !p->name || !p->ref_hash || !p->ref) {
		ct_warn("msg=\"auth failed\" conn=%" PRIu64
			" err=\"cannot open the session ref\"",
			p->id);
		out_close(p, 4001);
		return;
	}
	count_out(p);
	lws_set_timer_usecs(p->wsi, LWS_SET_TIMER_USEC_CANCEL);
	p->state = SESS_LIVE;
	lws_dll2_add_tail(&p->in_all, &wsd->conns);
	ct_metric_add(&m_auth_ok, 1);
	/* reading resumes when this request is done (the flow's idle) */
	o = json_pack("{s:s, s:{s:s, s:s, s:s}, s:s}", "type", "welcome",
		      "user", "app", p->app, "id", p->user_id, "name", p->name,
		      "node", wsd->node_id);
	if (o)
		out_json(p, o);
	ct_debug("msg=\"welcome\" conn=%" PRIu64 " app=%s user=%s", p->id,
		 p->app, ct_log_q(p->user_id));
}

void
login_ticket(struct pss *p, const char *ticket)
{
	char hash[CT_HASH_HEX];
	const char *pv[1] = { hash };
	struct pgq_req *r;
	struct redeem_ctx *c;

	if (!ticket || !*ticket || strlen(ticket) >= CT_TOKEN_MAX) {
		ct_metric_add(&m_auth_fail_ticket, 1);
		out_close(p, 4001);
		return;
	}
	ct_auth_hash_hex(ticket, hash);
	if (!(r = pgq_new(q_redeem, 1, pv, sizeof(*c)))) {
		out_close(p, 1011);
		return;
	}
	c = pgq_ctx(r);
	memcpy(c->ticket, ticket, strlen(ticket) + 1);
	p->state = SESS_AUTHING;
	/* frames pipelined behind auth wait in lws until we know who it is;
	 * dispatch.c reads again once the redeem is done */
	if (!p->rx_paused) {
		p->rx_paused = 1;
		lws_rx_flow_control(p->wsi, 0);
	}
	pgq_submit(r, PGQ_USER, &p->flow, p, on_redeemed, wipe_redeem);
}

/* --- logins that ended -----------------------------------------------------
 */

void
login_ended(const char *app, const char *ref_hash)
{
	dll_foreach(d, d_next, wsd->conns.head)
	{
		struct pss *p = lws_container_of(d, struct pss, in_all);

		if (strcmp(p->app, app) == 0 &&
		    strcmp(p->ref_hash, ref_hash) == 0) {
			ct_info("msg=\"login ended, closing\" conn=%" PRIu64
				" user=%s",
				p->id, ct_log_q(p->user_id));
			ct_metric_add(&m_auth_ended, 1);
			out_close(p, 4001);
		}
	}
}

static void
on_ended(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	(void)owner;
	(void)ctx;
	if (rc != CT_OK) {
		ct_warn("msg=\"session re-check failed\" err=%s",
			ct_log_q(msg));
		return;
	}
	for (int i = 0; i < PQntuples(res); i++)
		login_ended(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
}

/* Send one chunk of the re-check. */
static void
recheck_send(char **apps, size_t *al, size_t *ac, char **refs, size_t *rl,
	     size_t *rc)
{
	const char *pv[2];

	if (ct_db_array_end(apps, al, ac) == 0 &&
	    ct_db_array_end(refs, rl, rc) == 0) {
		pv[0] = *apps;
		pv[1] = *refs;
		if (pgq_query(q_ended, 2, pv, PGQ_BG, NULL, NULL, on_ended) !=
		    CT_OK)
			ct_warn("msg=\"session re-check skipped: out of "
				"memory\"");
	}
	free(*apps);
	free(*refs);
	*apps = *refs = NULL;
	*al = *ac = *rl = *rc = 0;
}

/* Every session_recheck seconds: one query per RECHECK_CHUNK live logins
 * (one statement for ten thousand refs would be most of a megabyte, and
 * would hold a query connection for that long). */
void
login_recheck(void)
{
	enum { RECHECK_CHUNK = 200 };
	char *apps = NULL, *refs = NULL;
	size_t al = 0, ac = 0, rl = 0, rc = 0;
	unsigned n = 0;

	dll_foreach(d, d_next, wsd->conns.head)
	{
		struct pss *p = lws_container_of(d, struct pss, in_all);

		if (p->state != SESS_LIVE)
			continue;
		if (ct_db_array_add(&apps, &al, &ac, p->app) ||
		    ct_db_array_add(&refs, &rl, &rc, p->ref))
			goto out;
		if (++n == RECHECK_CHUNK) {
			recheck_send(&apps, &al, &ac, &refs, &rl, &rc);
			n = 0;
		}
	}
	if (n)
		recheck_send(&apps, &al, &ac, &refs, &rl, &rc);
out:
	free(apps);
	free(refs);
}

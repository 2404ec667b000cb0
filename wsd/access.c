/* access.c - whether a connection may see a channel, and the frames that
 * ask (subscribe, unsubscribe, presence). The check
 * (crosstalk.ws_subscribe: read access, and the channel's last seq) runs
 * once per sub and again at each subscribe; until it granted the sub,
 * nothing of the channel (events, presence lists, joins and leaves,
 * typing) reaches the connection. A refused check answers every frame that
 * waited on it and frees the sub, so no half-made watcher is left behind. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "wsd/wsd.h"

static const char q_check[] = "SELECT crosstalk.ws_subscribe($1, $2, $3)";

/* Replace *slot with a copy of ref (NULL stays NULL). */
static void
set_ref(char **slot, const char *ref)
{
	free(*slot);
	*slot = ref ? strdup(ref) : NULL;
}

static void
on_checked(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct sub *s = owner;
	struct pss *p = s->pss;

	(void)ctx;
	if (rc != CT_OK) {
		/* every frame that waited on the check gets the answer */
		if (s->want_live)
			out_error(p, rc, msg, s->ref, 0);
		if (s->pres_want)
			out_error(p, rc, msg, s->pres_ref, 0);
		sub_free(s);
		return;
	}
	s->granted = 1;
	s->last = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	s->state = SUB_IDLE;
	if (s->want_live)
		fanout_start(s);
	if (s->watch)
		presence_granted(s);
}

void
access_check(struct sub *s)
{
	struct pss *p = s->pss;
	const char *pv[3] = { p->app, p->user_id, s->chan->name };

	if (s->state == SUB_CHECKING)
		return; /* its answer serves this frame too */
	if (s->granted) {
		if (s->watch)
			presence_granted(s);
		return;
	}
	s->state = SUB_CHECKING;
	if (pgq_query(q_check, 3, pv, PGQ_USER, &p->flow, s, on_checked) !=
	    CT_OK) {
		out_error(p, CT_ENOMEM, "out of memory", s->ref, 0);
		sub_free(s);
	}
}

void
access_subscribe(struct pss *p, const char *channel, int64_t after,
		 const char *ref)
{
	struct sub *s = sub_get(p, channel, ref);

	if (!s)
		return;
	/* subscribing again restarts from the new cursor, after a fresh
	 * check (which also reads the channel's last seq) */
	if (s->present)
		presence_sub(s, 0);
	pgq_forget(s);
	lws_sul_cancel(&s->retry);
	s->retry_ms = 0;
	s->replay_busy = s->replay_wait = 0;
	s->granted = 0;
	s->state = SUB_NEW; /* a check in flight was just forgotten */
	s->want_live = 1;
	s->sent = after;
	set_ref(&s->ref, ref);
	access_check(s);
}

void
access_unsubscribe(struct pss *p, const char *channel)
{
	struct sub *s = sub_find(p, channel);
	json_t *o;

	if (s)
		sub_free(s);
	o = json_pack("{s:s, s:s}", "type", "unsubscribed", "channel", channel);
	if (o)
		out_json(p, o);
}

/* The user was removed from the channel (a 'member' event): the
 * subscription and presence watch end now; the client hears why. */
void
access_revoke(struct sub *s)
{
	struct pss *p = s->pss;
	json_t *o = json_pack("{s:s, s:s, s:s}", "type", "unsubscribed",
			      "channel", s->chan->name, "reason", "removed");

	sub_free(s);
	if (o)
		out_json(p, o);
}

/* A presence frame: the sub (made within the cap) answers once its access
 * check granted it; until then nothing of the channel is shown. */
void
access_watch(struct pss *p, const char *channel, const char *ref)
{
	struct sub *s = sub_get(p, channel, ref);

	if (!s)
		return;
	s->watch = 1;
	s->pres_want = 1;
	set_ref(&s->pres_ref, ref);
	access_check(s);
}

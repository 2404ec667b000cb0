/* sub.c - a connection's subscriptions and presence watches, and the one
 * place they are made. A sub is created by sub_get() within WSD_SUBS_MAX
 * per connection, whether a subscribe or a presence frame asked for it;
 * it starts unchecked, and nothing of its channel reaches the connection
 * (events, presence lists, joins and leaves, typing) until the access check
 * (crosstalk.ws_subscribe: read access, and the channel's last seq)
 * granted it. A refused check answers every frame that waited on it and
 * frees the sub, so no half-made watcher is left behind. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "wsd/wsd.h"

static const char q_check[] = "SELECT crosstalk.ws_subscribe($1, $2, $3)";

struct sub *
sub_find(struct pss *p, const char *channel)
{
	for (struct sub *s = p->subs; s; s = s->next)
		if (strcmp(s->chan->name, channel) == 0)
			return s;
	return NULL;
}

struct sub *
sub_get(struct pss *p, const char *channel, const char *ref)
{
	struct sub *s = sub_find(p, channel);

	if (s)
		return s;
	if (p->nsubs >= WSD_SUBS_MAX) {
		out_error(p, CT_EINVALID,
			  "too many subscriptions on one connection", ref, 0);
		return NULL;
	}
	if (!(s = calloc(1, sizeof(*s)))) /* owned by p->subs */
		goto oom;
	if (!(s->chan = channel_get(channel, 1))) {
		free(s);
		goto oom;
	}
	s->pss = p;
	s->state = SUB_NEW;
	lws_dll2_add_tail(&s->in_chan, &s->chan->subs);
	ct_metric_add(&m_subs, 1);
	s->next = p->subs;
	p->subs = s;
	p->nsubs++;
	return s;
oom:
	out_error(p, CT_ENOMEM, "out of memory", ref, 0);
	return NULL;
}

void
sub_free(struct sub *s)
{
	struct sub **pp = &s->pss->subs;

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = s->next;
		s->pss->nsubs--;
	}
	pgq_forget(s);
	fanout_sub_gone(s);
	if (s->present)
		presence_sub(s, 0);
	lws_dll2_remove(&s->in_chan);
	ct_metric_add(&m_subs, -1);
	channel_put(s->chan);
	free(s->ref);
	free(s->pres_ref);
	free(s);
}

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
sub_check(struct sub *s)
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
sub_subscribe(struct pss *p, const char *channel, int64_t after,
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
	fanout_sub_gone(s);
	s->replay_busy = s->replay_wait = 0;
	s->granted = 0;
	s->state = SUB_NEW; /* a check in flight was just forgotten */
	s->want_live = 1;
	s->sent = after;
	set_ref(&s->ref, ref);
	sub_check(s);
}

void
sub_unsubscribe(struct pss *p, const char *channel)
{
	struct sub *s = sub_find(p, channel);
	json_t *o;

	if (s)
		sub_free(s);
	o = json_pack("{s:s, s:s}", "type", "unsubscribed", "channel", channel);
	if (o)
		out_json(p, o);
}

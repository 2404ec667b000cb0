/* sub.c - a connection's subscriptions and presence watches: the one place
 * they are made and freed. A sub is made by sub_get() within WSD_SUBS_MAX
 * per connection, whether a subscribe or a presence frame asked for it; it
 * starts unchecked (access.c grants it), and nothing of its channel reaches
 * the connection before. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "wsd/wsd.h"

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
	lws_sul_cancel(&s->retry);
	if (s->present)
		presence_sub(s, 0);
	lws_dll2_remove(&s->in_chan);
	ct_metric_add(&m_subs, -1);
	channel_put(s->chan);
	free(s->ref);
	free(s->pres_ref);
	free(s);
}

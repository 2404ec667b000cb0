/* presence.c - who is online, across nodes. Each connection subscribed to
 * a channel has a row in crosstalk.presence under this node's id; the node
 * row's heartbeat keeps them alive (presence_of() ignores nodes silent for
 * presence_ttl). Watchers of a channel get the full list once, then join
 * and leave events computed by diffing successive presence_of() answers:
 * 'p <channel>' notifications trigger a refresh after a short debounce,
 * and every heartbeat refreshes too, so a crashed node's users leave. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "wsd/wsd.h"

#define DEBOUNCE_US (300 * 1000)

static const char q_apply[] =
	"SELECT crosstalk.presence_apply($1, $2, $3, $4, $5, $6, $7)";

#define BATCH_US (100 * 1000)

/* Presence rows are written in batches: a thousand subscribers arriving
 * at once (a node restart, a reconnect storm) cost one transaction and one
 * NOTIFY per channel, not a thousand. */
struct pres_op {
	char conn[24];
	char *channel, *app, *user, *name; /* owned */
	int on;
};

static struct {
	struct pres_op *ops; /* owned */
	unsigned n, cap;
	unsigned applying; /* batches sent, not yet committed */
	lws_sorted_usec_list_t sul;
} batch;

static void refresh(struct channel *c);

static void
refresh_waiting(struct channel *c, void *arg)
{
	(void)arg;
	if (c->pres_wait) {
		c->pres_wait = 0;
		refresh(c);
	}
}

/* A batch committed: answers that waited for it may be read now (the
 * query connections run in parallel, so order is ours to keep). */
static void
on_applied(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	(void)owner;
	(void)ctx;
	(void)res;
	(void)rc;
	(void)msg;
	if (batch.applying)
		batch.applying--;
	if (!batch.applying && !batch.n)
		channel_foreach(refresh_waiting, NULL);
}
static const char q_of[] =
	"SELECT app, user_id, display_name FROM crosstalk.presence_of($1, $2)";
static const char q_up[] = "SELECT crosstalk.node_up($1)";
static const char q_beat[] = "SELECT crosstalk.node_heartbeat($1)";

static void
op_free(struct pres_op *o)
{
	free(o->channel);
	free(o->app);
	free(o->user);
	free(o->name);
}

void
presence_free(void)
{
	lws_sul_cancel(&batch.sul);
	for (unsigned i = 0; i < batch.n; i++)
		op_free(&batch.ops[i]);
	free(batch.ops);
	memset(&batch, 0, sizeof(batch));
}

static void
flush(lws_sorted_usec_list_t *sul)
{
	char *a[6] = { NULL };
	size_t len[6] = { 0 }, cap[6] = { 0 };
	const char *pv[7];
	unsigned i;
	int k, bad = 0;

	(void)sul;
	for (i = 0; i < batch.n && !bad; i++) {
		struct pres_op *o = &batch.ops[i];

		bad = ct_db_array_add(&a[0], &len[0], &cap[0], o->conn) ||
		      ct_db_array_add(&a[1], &len[1], &cap[1], o->channel) ||
		      ct_db_array_add(&a[2], &len[2], &cap[2], o->app) ||
		      ct_db_array_add(&a[3], &len[3], &cap[3], o->user) ||
		      ct_db_array_add(&a[4], &len[4], &cap[4], o->name) ||
		      ct_db_array_add(&a[5], &len[5], &cap[5],
				      o->on ? "t" : "f");
	}
	if (!bad && batch.n) {
		pv[0] = wsd->node_id;
		for (k = 0; k < 6 && !bad; k++) {
			bad = ct_db_array_end(&a[k], &len[k], &cap[k]);
			pv[k + 1] = a[k];
		}
		if (!bad && pgq_query(q_apply, 7, pv, PGQ_BG, NULL, NULL,
				      on_applied) == CT_OK)
			batch.applying++;
	}
	for (k = 0; k < 6; k++)
		free(a[k]);
	for (i = 0; i < batch.n; i++)
		op_free(&batch.ops[i]);
	batch.n = 0;
}

void
presence_sub(struct sub *s, int on)
{
	struct pss *p = s->pss;
	struct pres_op *o;

	if (!p->app)
		return;
	s->present = on ? 1 : 0;
	if (batch.n == batch.cap) {
		unsigned ncap = batch.cap ? batch.cap * 2 : 64;
		struct pres_op *n = realloc(batch.ops, ncap * sizeof(*n));

		if (!n)
			return;
		batch.ops = n;
		batch.cap = ncap;
	}
	o = &batch.ops[batch.n];
	snprintf(o->conn, sizeof(o->conn), "%" PRIu64, p->id);
	o->on = on;
	o->channel = strdup(s->chan->name);
	o->app = strdup(p->app);
	o->user = strdup(p->user_id);
	o->name = strdup(p->name);
	if (!o->channel || !o->app || !o->user || !o->name) {
		op_free(o);
		return;
	}
	batch.n++;
	if (!batch.sul.list.owner && !wsd->stopping)
		lws_sul_schedule(wsd->context, 0, &batch.sul, flush, BATCH_US);
}

static int
watched(struct channel *c)
{
	dll_foreach(d, d_next, c->subs.head)
	{
		if (lws_container_of(d, struct sub, in_chan)->watch)
			return 1;
	}
	return 0;
}

static json_t *
user_of(const char *key)
{
	char app[64], id[300], name[300];

	if (sscanf(key, "%63[^\x1f]\x1f%299[^\x1f]\x1f%299[^\x1f]", app, id,
		   name) != 3)
		return NULL;
	return json_pack("{s:s, s:s, s:s}", "app", app, "id", id, "name", name);
}

static void
to_watchers(struct channel *c, const char *type, const char *key)
{
	struct frame *f =
		frame_json(json_pack("{s:s, s:s, s:o*}", "type", type,
				     "channel", c->name, "user", user_of(key)));

	if (!f)
		return;
	dll_foreach(d, d_next, c->subs.head)
	{
		struct sub *sb = lws_container_of(d, struct sub, in_chan);

		if (sb->watch && sb->granted && !sb->pres_want)
			out_push(sb->pss, f);
	}
	frame_unref(f);
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The full list, to one watcher that asked. */
static void
answer(struct channel *c, struct sub *sb)
{
	json_t *users = json_array(), *o;

	sb->pres_want = 0;
	for (unsigned i = 0; i < c->npres; i++)
		json_array_append_new(users, user_of(c->pres[i]));
	o = json_pack("{s:s, s:s, s:o}", "type", "presence", "channel", c->name,
		      "users", users);
	if (o && sb->pres_ref)
		json_object_set_new(o, "ref", json_string(sb->pres_ref));
	if (o)
		out_json(sb->pss, o);
}

static void
on_presence(void *owner, void *ctx, PGresult *res, int rc, const char *msg)
{
	struct channel *c = owner;
	unsigned n, i = 0, j = 0;
	char **keys;

	(void)ctx;
	(void)msg;
	c->pres_busy = 0;
	if (rc != CT_OK)
		return;
	n = (unsigned)PQntuples(res);
	if (!(keys = calloc(n + 1, sizeof(*keys))))
		return;
	for (i = 0; i < n; i++) {
		size_t l = (size_t)PQgetlength(res, (int)i, 0) +
			   (size_t)PQgetlength(res, (int)i, 1) +
			   (size_t)PQgetlength(res, (int)i, 2) + 3;

		if ((keys[i] = malloc(l)))
			snprintf(keys[i], l, "%s\x1f%s\x1f%s",
				 PQgetvalue(res, (int)i, 0),
				 PQgetvalue(res, (int)i, 1),
				 PQgetvalue(res, (int)i, 2));
		else
			keys[i] = strdup("");
	}
	qsort(keys, n, sizeof(*keys), cmp);
	if (c->pres_known) { /* diff two sorted lists */
		i = j = 0;
		while (i < c->npres || j < n) {
			int d = i >= c->npres ? 1
				: j >= n      ? -1
					      : strcmp(c->pres[i], keys[j]);

			if (d < 0)
				to_watchers(c, "leave", c->pres[i++]);
			else if (d > 0)
				to_watchers(c, "join", keys[j++]);
			else
				i++, j++;
		}
	}
	for (i = 0; i < c->npres; i++)
		free(c->pres[i]);
	free(c->pres);
	c->pres = keys;
	c->npres = n;
	c->pres_known = 1;

	/* full answers for those who asked */
	dll_foreach(d, d_next, c->subs.head)
	{
		struct sub *sb = lws_container_of(d, struct sub, in_chan);

		if (sb->pres_want && sb->granted)
			answer(c, sb);
	}
	if (c->pres_again) {
		c->pres_again = 0;
		refresh(c);
	}
}

static void
refresh(struct channel *c)
{
	char ttl[16];
	const char *pv[2] = { c->name, ttl };

	if (c->pres_busy) {
		c->pres_again = 1;
		return;
	}
	snprintf(ttl, sizeof(ttl), "%d", wsd->cfg->lim_presence_ttl);
	/* after the batched row writes, so that an answer includes them */
	if (batch.n)
		flush(NULL);
	if (batch.applying) {
		c->pres_wait = 1;
		return;
	}
	if (pgq_query(q_of, 2, pv, PGQ_BG, NULL, c, on_presence) == CT_OK)
		c->pres_busy = 1;
}

static void
debounced(lws_sorted_usec_list_t *sul)
{
	refresh(lws_container_of(sul, struct channel, pres_sul));
}

void
presence_changed(const char *channel)
{
	struct channel *c = channel_get(channel, 0);

	if (!c)
		return;
	if (watched(c) && !c->pres_sul.list.owner)
		lws_sul_schedule(wsd->context, 0, &c->pres_sul, debounced,
				 DEBOUNCE_US);
	channel_put(c);
}

void
presence_granted(struct sub *s)
{
	if (s->pres_want)
		refresh(s->chan);
}

static void
refresh_watched(struct channel *c, void *arg)
{
	(void)arg;
	if (watched(c))
		refresh(c);
}

void
presence_tick(void)
{
	const char *pv[1] = { wsd->node_id };

	if (pgq_query(q_beat, 1, pv, PGQ_BG, NULL, NULL, NULL) != CT_OK)
		ct_warn("msg=\"heartbeat skipped: out of memory\"");
	channel_foreach(refresh_watched, NULL);
}

void
presence_node_up(void)
{
	const char *pv[1] = { wsd->node_id };

	if (pgq_query(q_up, 1, pv, PGQ_BG, NULL, NULL, NULL) != CT_OK)
		ct_warn("msg=\"node_up skipped: out of memory\"");
}

/* At shutdown, blocking: this node's users leave everywhere at once. */
void
presence_node_down(void)
{
	const char *pv[1] = { wsd->node_id };
	PGconn *conn = ct_db_connect(wsd->cfg, "crosstalk-wsd", NULL, 0);
	PGresult *res;

	if (!conn)
		return;
	res = PQexecParams(conn, "SELECT crosstalk.node_down($1)", 1, NULL, pv,
			   NULL, NULL, 0);
	PQclear(res);
	PQfinish(conn);
}

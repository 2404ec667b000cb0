/* channel.c - the channels this node has subscribers or watchers for: a
 * hash table by name, refcounted entries. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "wsd/wsd.h"

#define NBUCKETS 4096 /* power of two */

static struct channel *table[NBUCKETS];

static unsigned
hash(const char *s)
{
	return ct_hash(s, strlen(s)) & (NBUCKETS - 1);
}

struct channel *
channel_get(const char *name, int create)
{
	unsigned b = hash(name);
	struct channel *c;

	for (c = table[b]; c; c = c->hnext)
		if (strcmp(c->name, name) == 0) {
			c->refs++;
			return c;
		}
	if (!create || !(c = calloc(1, sizeof(*c))))
		return NULL;
	if (!(c->name = strdup(name))) {
		free(c);
		return NULL;
	}
	c->live_seq = -1;
	c->refs = 1;
	c->hnext = table[b];
	table[b] = c;
	return c;
}

static void
channel_destroy(struct channel *c)
{
	struct channel **pp = &table[hash(c->name)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	lws_sul_cancel(&c->pres_sul);
	lws_sul_cancel(&c->fetch_sul);
	pgq_forget(c);
	for (unsigned i = 0; i < c->npres; i++)
		free(c->pres[i]);
	free(c->pres);
	free(c->name);
	free(c);
}

void
channel_put(struct channel *c)
{
	if (c && --c->refs == 0)
		channel_destroy(c);
}

void
channel_foreach(void (*fn)(struct channel *c, void *arg), void *arg)
{
	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct channel *c = table[b], *next;

		for (; c; c = next) {
			next = c->hnext;
			c->refs++; /* fn may drop the last other reference */
			fn(c, arg);
			next = c->hnext;
			channel_put(c);
		}
	}
}

void
channel_free_all(void)
{
	for (unsigned b = 0; b < NBUCKETS; b++)
		while (table[b])
			channel_destroy(table[b]);
}

/* pollshare.c - one database look for the long-polls one NOTIFY woke.
 * When a post wakes hundreds of waiting messages/poll requests on one
 * channel, they would all run the same crosstalk.poll() at once, queued on
 * the pool's few connections. Instead the first of them to look for a
 * given (wake-up, question) runs it and the others take a copy of its
 * answer. The question is the poll's app, channel, after and limit, plus
 * the user for a direct channel: for a named channel crosstalk.poll()'s
 * answer and access check depend on the app alone, and every waiter already
 * passed that check before it waited. A wake-up is notify.c's generation:
 * the answer was read after the NOTIFY that woke all of them, as each of
 * them would have. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "fcgi/fcgi.h"

#define SLOTS     64
#define SHARE_MAX (256 * 1024) /* larger answers are not kept */
#define FOLLOW_MS 2000         /* then a follower asks for itself */

struct slot {
	uint64_t gen;
	char *key;     /* malloc'd */
	char *answer;  /* malloc'd JSON, NULL while pending or if failed */
	int pending;   /* the leader is asking */
	int64_t at_ms; /* for reuse: oldest first */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct slot slots[SLOTS];
static unsigned long n_shared;

static struct slot *
find(uint64_t gen, const char *key)
{
	for (int i = 0; i < SLOTS; i++)
		if (slots[i].key && slots[i].gen == gen &&
		    strcmp(slots[i].key, key) == 0)
			return &slots[i];
	return NULL;
}

int
pollshare_get(uint64_t gen, const char *key, char **answer, void **claim)
{
	struct slot *s, *old = &slots[0];
	int64_t until = ct_mono_ms() + FOLLOW_MS;

	*answer = NULL;
	*claim = NULL;
	if (!gen)
		return 0;
	pthread_mutex_lock(&mu);
	while ((s = find(gen, key)) && s->pending && ct_mono_ms() < until) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L; /* re-check the deadline */
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cv, &mu, &ts);
	}
	if (s && !s->pending && s->answer) {
		*answer = strdup(s->answer); /* caller frees */
		n_shared += *answer != NULL;
		pthread_mutex_unlock(&mu);
		return *answer ? 1 : 0;
	}
	if (!s) { /* lead: claim the oldest slot that nobody waits on */
		for (int i = 0; i < SLOTS; i++) {
			if (!slots[i].key) {
				old = &slots[i];
				break;
			}
			if (!slots[i].pending &&
			    (old->pending || slots[i].at_ms < old->at_ms))
				old = &slots[i];
		}
		if (!old->pending) {
			char *k = strdup(key);

			if (k) {
				free(old->key);
				free(old->answer);
				old->key = k;
				old->answer = NULL;
				old->gen = gen;
				old->pending = 1;
				old->at_ms = ct_mono_ms();
				*claim = old;
			}
		}
	}
	pthread_mutex_unlock(&mu);
	return 0;
}

void
pollshare_put(void *claim, const char *answer)
{
	struct slot *s = claim;

	if (!s)
		return;
	pthread_mutex_lock(&mu);
	s->answer =
		answer && strlen(answer) <= SHARE_MAX ? strdup(answer) : NULL;
	s->pending = 0;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

unsigned long
pollshare_count(void)
{
	unsigned long n;

	pthread_mutex_lock(&mu);
	n = n_shared;
	pthread_mutex_unlock(&mu);
	return n;
}

void
pollshare_free(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < SLOTS; i++) {
		free(slots[i].key);
		free(slots[i].answer);
		memset(&slots[i], 0, sizeof(slots[i]));
	}
	pthread_mutex_unlock(&mu);
}

/* chook.h - channel hooks (ColdFusion's ChannelListener): which hook
 * answers for a channel, what it is asked and what its answer means. Pure:
 * each daemon loads the list (crosstalk.channel_hooks) and makes the call
 * (hookcall.h) its own way: crosstalk-wsd from its event loop, never
 * blocking it; crosstalk-fcgi in the request's thread. */
#ifndef CT_CHOOK_H
#define CT_CHOOK_H

#include <stddef.h>

#include <libpq-fe.h>

#define CT_CHOOK_PUBLISH   1u
#define CT_CHOOK_SUBSCRIBE 2u

struct ct_chook {
	long long id;
	char *pattern, *url, *secret; /* owned */
	unsigned events;
	int timeout_ms;
	int fail_open;
};

struct ct_chooks {
	struct ct_chook *v; /* owned */
	int n;
};

/* The statement whose rows ct_chooks_load reads. */
#define CT_CHOOKS_SQL                                                          \
	"SELECT id, pattern, url, secret, array_to_string(events, ','), "      \
	"timeout_ms, fail_open FROM crosstalk.channel_hooks ORDER BY id"

/* Rows of CT_CHOOKS_SQL into a fresh *out. 0, or -1 (out of memory). */
int ct_chooks_load(struct ct_chooks *out, PGresult *res);
void ct_chooks_free(struct ct_chooks *l);

/* The hook answering for event on channel: the one whose pattern is the
 * channel's name, else the longest prefix ("support*", "*"); or NULL. */
const struct ct_chook *ct_chook_match(const struct ct_chooks *l,
				      const char *channel, unsigned event);

/* What the hook is asked, as JSON (malloc'd): {"type":"publish" |
 * "subscribe", "channel", "app", "user":{"id","name"}, "text"?,
 * "client_id"?}. text and client_id may be NULL. */
char *ct_chook_body(unsigned event, const char *channel, const char *app,
		    const char *user_id, const char *name, const char *text,
		    const char *client_id);

enum { CT_CHOOK_ALLOW, CT_CHOOK_DENY, CT_CHOOK_FAILED };

/* The verdict of an answer (status 0: the call failed; body may be NULL).
 * ALLOW, with *text a new text (malloc'd) when the hook rewrote a
 * publish; DENY with the hook's message in msg; FAILED with why in msg
 * (the hook's fail_open decides). */
int ct_chook_verdict(unsigned event, long status, const char *body,
		     long text_max, char **text, char *msg, size_t msglen);

#endif /* CT_CHOOK_H */

/* chook.c - see chook.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/chook.h"
#include "core/util.h"

void
ct_chooks_free(struct ct_chooks *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->v[i].pattern);
		free(l->v[i].url);
		free(l->v[i].secret);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
ct_chooks_load(struct ct_chooks *out, PGresult *res)
{
	int n = PQntuples(res);

	out->n = 0;
	out->v = n ? calloc((size_t)n, sizeof(*out->v)) : NULL; /* owned */
	if (n && !out->v)
		return -1;
	for (int i = 0; i < n; i++) {
		struct ct_chook *h = &out->v[i];
		const char *ev = PQgetvalue(res, i, 4);

		h->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		h->pattern = strdup(PQgetvalue(res, i, 1));
		h->url = strdup(PQgetvalue(res, i, 2));
		h->secret = strdup(PQgetvalue(res, i, 3));
		out->n++;
		if (!h->pattern || !h->url || !h->secret) {
			ct_chooks_free(out);
			return -1;
		}
		h->events = (strstr(ev, "publish") ? CT_CHOOK_PUBLISH : 0) |
			    (strstr(ev, "subscribe") ? CT_CHOOK_SUBSCRIBE : 0);
		h->timeout_ms = atoi(PQgetvalue(res, i, 5));
		h->fail_open = PQgetvalue(res, i, 6)[0] == 't';
	}
	return 0;
}

const struct ct_chook *
ct_chook_match(const struct ct_chooks *l, const char *channel, unsigned event)
{
	const struct ct_chook *best = NULL;
	size_t best_len = 0;

	for (int i = 0; i < l->n; i++) {
		const struct ct_chook *h = &l->v[i];
		size_t pl = strlen(h->pattern), score;

		if (!(h->events & event))
			continue;
		if (pl && h->pattern[pl - 1] == '*') {
			if (strncmp(channel, h->pattern, pl - 1) != 0)
				continue;
			score = pl; /* a prefix of n characters: n + 1 */
		} else if (strcmp(channel, h->pattern) == 0) {
			score = (size_t)-1; /* the name itself */
		} else {
			continue;
		}
		if (!best || score > best_len) {
			best = h;
			best_len = score;
		}
	}
	return best;
}

char *
ct_chook_body(unsigned event, const char *channel, const char *app,
	      const char *user_id, const char *name, const char *text,
	      const char *client_id)
{
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:{s:s, s:s}}", "type",
		event == CT_CHOOK_PUBLISH ? "publish" : "subscribe", "channel",
		channel, "app", app, "user", "id", user_id, "name", name);
	char *s;

	if (!o)
		return NULL;
	if (text)
		json_object_set_new(o, "text", json_string(text));
	if (client_id && *client_id)
		json_object_set_new(o, "client_id", json_string(client_id));
	s = json_dumps(o, JSON_COMPACT); /* caller frees */
	json_decref(o);
	return s;
}

static int
failed(char *msg, size_t msglen, const char *why, long status)
{
	if (status)
		snprintf(msg, msglen, "the channel's hook %s (HTTP %ld)", why,
			 status);
	else
		snprintf(msg, msglen, "the channel's hook %s", why);
	return CT_CHOOK_FAILED;
}

int
ct_chook_verdict(unsigned event, long status, const char *body, long text_max,
		 char **text, char *msg, size_t msglen)
{
	json_t *o, *allow, *t, *m;
	int v;

	*text = NULL;
	msg[0] = 0;
	if (status == 0)
		return failed(msg, msglen, "did not answer", 0);
	if (status < 200 || status > 299)
		return failed(msg, msglen, "failed", status);
	o = body ? json_loads(body, JSON_REJECT_DUPLICATES, NULL) : NULL;
	allow = json_object_get(o, "allow");
	if (!json_is_object(o) || !json_is_boolean(allow)) {
		json_decref(o);
		return failed(msg, msglen,
			      "answered without {\"allow\": true|false}",
			      status);
	}
	if (!json_is_true(allow)) {
		const char *s =
			json_string_value(m = json_object_get(o, "message"));

		if (s && json_string_length(m) <= 600 &&
		    ct_utf8_count(s, json_string_length(m)) > 0)
			snprintf(msg, msglen, "%s", s);
		else
			snprintf(msg, msglen, "refused by the channel's hook");
		json_decref(o);
		return CT_CHOOK_DENY;
	}
	v = CT_CHOOK_ALLOW;
	t = json_object_get(o, "text");
	if (event == CT_CHOOK_PUBLISH && t && !json_is_null(t)) {
		const char *s = json_string_value(t);
		long n = s ? ct_utf8_count(s, json_string_length(t)) : -1;

		if (n < 1 || n > text_max)
			v = failed(msg, msglen,
				   "answered a text that is not a valid "
				   "message",
				   status);
		else if (!(*text = strdup(s))) /* caller frees */
			v = failed(msg, msglen, "answer could not be kept",
				   status);
	}
	json_decref(o);
	return v;
}

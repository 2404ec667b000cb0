/* hookcall.h - one signed POST to an app's endpoint, as every hook call is
 * made (webhooks from crosstalk-fcgi, channel hooks from both daemons): a
 * libcurl easy handle with the JSON body and the headers
 *   X-Crosstalk-Event, X-Crosstalk-Id (when given), X-Crosstalk-Timestamp,
 *   X-Crosstalk-Signature: v1=hex(HMAC-SHA256(secret, timestamp "." body))
 * The caller runs it (easy, or a multi handle) and reads the outcome. */
#ifndef CT_HOOKCALL_H
#define CT_HOOKCALL_H

#include <stddef.h>

#include <curl/curl.h>

#define CT_HOOK_ANSWER_MAX 65536 /* bytes of an answer kept */

struct ct_hookcall {
	CURL *easy;
	struct curl_slist *headers;
	char *body;   /* owned */
	char *answer; /* owned: the endpoint's answer (keep_answer), or NULL */
	size_t alen;
	char error[CURL_ERROR_SIZE];
};

/* Set c up (zeroed first) for one POST of body (taken, freed by
 * ct_hookcall_free even on failure). id may be NULL. keep_answer: keep up
 * to CT_HOOK_ANSWER_MAX bytes of the answer in c->answer, else drop it.
 * 0, or -1 (out of memory). */
int ct_hookcall_init(struct ct_hookcall *c, const char *url, const char *secret,
		     const char *event, const char *id, char *body,
		     long timeout_ms, int keep_answer, const char *agent);
void ct_hookcall_free(struct ct_hookcall *c);

/* The status of a finished call (0 when the transfer failed), and its
 * error into err. */
long ct_hookcall_status(struct ct_hookcall *c, CURLcode result, char *err,
			size_t errlen);

/* "v1=" + hex(HMAC-SHA256(secret, ts "." body)) into out[68]. */
void ct_hook_sign(const char *secret, const char *ts, const char *body,
		  char *out);

#endif /* CT_HOOKCALL_H */

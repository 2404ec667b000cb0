/* hookcall.c - see hookcall.h. libcurl because it is Debian's well-kept
 * HTTP client with TLS, proxies and timeouts done right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/auth.h"
#include "core/hookcall.h"

void
ct_hook_sign(const char *secret, const char *ts, const char *body, char *out)
{
	size_t tl = strlen(ts), bl = strlen(body);
	char *msg = malloc(tl + 1 + bl); /* freed here */

	strcpy(out, "v1=");
	if (!msg)
		return;
	memcpy(msg, ts, tl);
	msg[tl] = '.';
	memcpy(msg + tl + 1, body, bl);
	ct_auth_hmac_hex(secret, msg, tl + 1 + bl, out + 3);
	free(msg);
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static size_t
keep(char *p, size_t size, size_t n, void *arg)
{
	struct ct_hookcall *c = arg;
	size_t len = size * n, room;
	char *nb;

	if (!c->answer) {
		if (!(c->answer = malloc(CT_HOOK_ANSWER_MAX + 1)))
			return 0;
		c->alen = 0;
	}
	room = CT_HOOK_ANSWER_MAX - c->alen;
	nb = c->answer;
	memcpy(nb + c->alen, p, len < room ? len : room);
	c->alen += len < room ? len : room;
	nb[c->alen] = 0;
	return len; /* the rest of a long answer is dropped, not an error */
}

static int
header(struct ct_hookcall *c, const char *name, const char *value)
{
	char line[256];
	struct curl_slist *h;

	snprintf(line, sizeof(line), "%s: %s", name, value);
	if (!(h = curl_slist_append(c->headers, line)))
		return -1;
	c->headers = h;
	return 0;
}

int
ct_hookcall_init(struct ct_hookcall *c, const char *url, const char *secret,
		 const char *event, const char *id, char *body, long timeout_ms,
		 int keep_answer, const char *agent)
{
	char ts[24], sig[80];

	memset(c, 0, sizeof(*c));
	c->body = body;
	if (!body || !(c->easy = curl_easy_init()))
		return -1;
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	ct_hook_sign(secret, ts, body, sig);
	if (header(c, "Content-Type", "application/json") ||
	    header(c, "X-Crosstalk-Event", event) ||
	    (id && header(c, "X-Crosstalk-Id", id)) ||
	    header(c, "X-Crosstalk-Timestamp", ts) ||
	    header(c, "X-Crosstalk-Signature", sig) ||
	    !(c->headers = curl_slist_append(c->headers, "Expect:")))
		return -1;
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_USERAGENT, agent);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION,
			 keep_answer ? keep : discard);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->error);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	return 0;
}

long
ct_hookcall_status(struct ct_hookcall *c, CURLcode result, char *err,
		   size_t errlen)
{
	long status = 0;

	if (result != CURLE_OK) {
		snprintf(err, errlen, "%s",
			 *c->error ? c->error : curl_easy_strerror(result));
		return 0;
	}
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	err[0] = 0;
	return status;
}

void
ct_hookcall_free(struct ct_hookcall *c)
{
	if (c->easy)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	free(c->body);
	free(c->answer);
	memset(c, 0, sizeof(*c));
}

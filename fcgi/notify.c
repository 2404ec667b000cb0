/* notify.c - the long-poll wake-up: one listener thread per process holds
 * its own PostgreSQL connection, LISTENs on "crosstalk", and wakes the
 * parked polls (park.c) of the channel an "m" notification names
 * (core/notice.h). While the listener is down (or reconnecting) parked
 * polls look at the database every second, so a missed NOTIFY costs at
 * most a second. */
#include <errno.h>
#include <stdatomic.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/notice.h"
#include "core/util.h"
#include "fcgi/fcgi.h"

static _Atomic int stopping; /* set by notify_stop */
static _Atomic int listening;
static int wake_pipe[2] = { -1, -1 };
static pthread_t tid;
static int started;
static const struct ct_cfg *ncfg;

static void
on_payload(char *p)
{
	struct ct_notice n;

	if (ct_notice_parse(p, &n) != CT_OK || n.kind != 'm')
		return;
	park_wake(n.channel);
}

static void
set_listening(int on)
{
	listening = on;
	park_wake(NULL); /* anything may have been missed: look again */
}

static void *
listener_main(void *arg)
{
	char err[256];
	int warned = 0;

	(void)arg;
	while (!stopping) {
		PGconn *c = ct_db_connect(ncfg, "crosstalk-fcgi-listen", err,
					  sizeof(err)); /* owned here */
		struct pollfd pf[2];

		if (!c || ct_db_exec(c, "LISTEN crosstalk") != CT_OK) {
			if (!warned++)
				ct_warn("msg=\"listener cannot connect; "
					"long-polls re-check every second\" "
					"error=\"%s\"",
					c ? "LISTEN failed" : err);
			PQfinish(c);
			pf[0].fd = wake_pipe[0];
			pf[0].events = POLLIN;
			poll(pf, 1, 1000);
			continue;
		}
		if (warned)
			ct_info("msg=\"listener connected\"");
		warned = 0;
		set_listening(1);
		while (!stopping) {
			PGnotify *n;

			pf[0].fd = PQsocket(c);
			pf[0].events = POLLIN;
			pf[1].fd = wake_pipe[0];
			pf[1].events = POLLIN;
			if (poll(pf, 2, 5000) < 0 && errno != EINTR)
				break;
			if (pf[1].revents)
				break;
			if (!PQconsumeInput(c))
				break;
			while ((n = PQnotifies(c)) != NULL) {
				on_payload(n->extra);
				PQfreemem(n);
			}
			if (PQstatus(c) != CONNECTION_OK)
				break;
		}
		set_listening(0);
		PQfinish(c);
		if (!stopping)
			ct_warn("msg=\"listener lost its connection\"");
	}
	return NULL;
}

int
notify_start(const struct ct_cfg *cfg)
{
	ncfg = cfg;
	if (pipe(wake_pipe) != 0)
		return -1;
	if (pthread_create(&tid, NULL, listener_main, NULL) != 0)
		return -1;
	started = 1;
	return 0;
}

void
notify_stop(void)
{
	if (started) {
		stopping = 1;
		if (write(wake_pipe[1], "x", 1) < 0)
			ct_warn("msg=\"cannot wake the listener\"");
		pthread_join(tid, NULL);
		started = 0;
	}
	if (wake_pipe[0] >= 0) {
		close(wake_pipe[0]);
		close(wake_pipe[1]);
		wake_pipe[0] = wake_pipe[1] = -1;
	}
}

int
notify_listening(void)
{
	return listening;
}

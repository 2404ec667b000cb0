/* crosstalk-wsd - the WebSocket daemon browsers connect to. One lws event
 * loop runs everything; signals arrive through a signalfd adopted into it. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "wsd/wsd.h"

static const char usage[] =
	"usage: crosstalk-wsd --config FILE\n"
	"  WebSocket daemon for crosstalk; also serves the widget.\n"
	"options: --config FILE, --help, --version\n";

static struct wsd the_wsd;
struct wsd *wsd = &the_wsd;

static int
signal_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		void *in, size_t len)
{
	struct signalfd_siginfo si;

	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	if (read(lws_get_socket_fd(wsi), &si, sizeof(si)) != sizeof(si))
		return 0;
	if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
		ct_info("msg=\"stopping\" signal=%u", si.ssi_signo);
		wsd->stopping = 1;
		lws_cancel_service(wsd->context);
	} else if (si.ssi_signo == SIGHUP) {
		ct_info("msg=\"SIGHUP\"");
	}
	return 0;
}

/* clang-format off */
static const struct lws_protocols protocols[] = {
	{ "http", http_callback, 0, 0, 0, NULL, 0 },
	{ "ct-signal", signal_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};
/* clang-format on */

static int
adopt_signals(void)
{
	lws_sock_file_fd_type u;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	u.filefd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (u.filefd < 0)
		return -1;
	/* lws owns the fd from here and closes it with the context */
	if (!lws_adopt_descriptor_vhost(wsd->vhost, LWS_ADOPT_RAW_FILE_DESC, u,
					"ct-signal", NULL)) {
		close(u.filefd);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct lws_context_creation_info info;
	const char *path = NULL;
	char err[512];
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("crosstalk-wsd %s\n", CT_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "crosstalk-wsd: --config FILE is required\n");
		return 2;
	}
	if (ct_cfg_load(path, &wsd->cfg, err, sizeof(err)) != CT_OK) {
		fprintf(stderr, "crosstalk-wsd: bad config: %s\n", err);
		return 1;
	}
	ct_log_init("wsd",
		    (enum ct_log_level)ct_log_parse_level(wsd->cfg->log_level));
	lws_set_log_level(LLL_ERR, NULL);

	memset(&info, 0, sizeof(info));
	info.port = wsd->cfg->wsd_port;
	info.iface = wsd->cfg->wsd_listen;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	/* an IPv4 listen address must not end up bound to [::] */
	if (!strchr(wsd->cfg->wsd_listen, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.vhost_name = "crosstalk";
	if (!(wsd->context = lws_create_context(&info))) {
		fprintf(stderr, "crosstalk-wsd: cannot create context\n");
		goto out;
	}
	if (!(wsd->vhost = lws_create_vhost(wsd->context, &info))) {
		fprintf(stderr, "crosstalk-wsd: cannot listen on %s:%d\n",
			wsd->cfg->wsd_listen, wsd->cfg->wsd_port);
		goto out;
	}
	if (adopt_signals() != 0) {
		fprintf(stderr, "crosstalk-wsd: cannot adopt signalfd\n");
		goto out;
	}
	ct_info("msg=\"listening\" addr=%s port=%d", wsd->cfg->wsd_listen,
		wsd->cfg->wsd_port);
	while (!wsd->stopping)
		if (lws_service(wsd->context, 0) < 0)
			break;
	ct_info("msg=\"stopped\"");
	rc = 0;
out:
	if (wsd->context)
		lws_context_destroy(wsd->context);
	ct_cfg_free(wsd->cfg);
	return rc;
}

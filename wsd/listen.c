/* listen.c - our own listening socket for [wsd] workers > 1. lws 4.1.6
 * sets only SO_REUSEADDR on Linux (its ALLOW_LISTEN_SHARE option acts on
 * Windows alone), so each worker binds its own SO_REUSEPORT socket to
 * exactly the configured address, adopts it as a raw fd, accepts, and
 * hands each connection to lws as if lws had accepted it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "wsd/wsd.h"

int
listen_open(void)
{
	struct sockaddr_in6 a6;
	struct sockaddr_in a4;
	lws_sock_file_fd_type u;
	int one = 1, fd, v6 = strchr(wsd->cfg->wsd_listen, ':') != NULL;

	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	if (v6) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons((uint16_t)wsd->cfg->wsd_port);
		if (inet_pton(AF_INET6, wsd->cfg->wsd_listen, &a6.sin6_addr) !=
		    1)
			return -1;
	} else {
		a4.sin_family = AF_INET;
		a4.sin_port = htons((uint16_t)wsd->cfg->wsd_port);
		if (inet_pton(AF_INET, wsd->cfg->wsd_listen, &a4.sin_addr) != 1)
			return -1;
	}
	fd = socket(v6 ? AF_INET6 : AF_INET,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    (v6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    (v6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6))
		: bind(fd, (struct sockaddr *)&a4, sizeof(a4))) ||
	    listen(fd, 1024)) {
		ct_err("msg=\"cannot listen\" err=\"%s\"", strerror(errno));
		close(fd);
		return -1;
	}
	u.filefd = fd; /* lws owns it from here */
	if (!lws_adopt_descriptor_vhost(wsd->vhost, LWS_ADOPT_RAW_FILE_DESC, u,
					"ct-listen", NULL)) {
		close(fd);
		return -1;
	}
	return 0;
}

int
listen_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		void *in, size_t len)
{
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	for (int i = 0; i < 64; i++) { /* a bounded burst per wakeup */
		int c = accept4(lws_get_socket_fd(wsi), NULL, NULL,
				SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0)
			break; /* EAGAIN: another worker took it, or none */
		if (wsd->stopping) {
			close(c);
			continue;
		}
		lws_adopt_socket_vhost(wsd->vhost, c); /* closes c on failure */
	}
	return 0;
}

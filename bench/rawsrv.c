/* rawsrv.c - the raw limit for fan-out: a trivial epoll server on
 * 127.0.0.1. A WebSocket upgrade becomes a subscriber of the channel its
 * path ends with ("/sub/general": general); "POST /pub/<channel>" with a
 * Content-Length body is answered 200 and its body is sent to every
 * subscriber of that channel as one prebuilt text frame. Nothing is stored.
 *
 *   rawsrv PORT once       one send() per frame per socket
 *   rawsrv PORT coalesce   frames published to a channel in one loop turn
 *                          are sent to each of its sockets in one send()
 *
 * --fault dup|drop|swap|chan makes every 50th publish go wrong (sent twice,
 * not sent, sent after the channel's next one, sent to another channel):
 * a server the benchmark's delivery checks must catch (test bench_checks).
 *
 * Stops on SIGTERM/SIGINT, or by itself after --max-seconds (default 900). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wsproto.h"

struct buf {
	char *p;
	size_t len, cap;
};

struct chan {
	char name[72]; /* "" unused */
	struct cl **subs;
	int nsubs, capsubs;
	struct buf batch;       /* coalesce: frames of this loop turn */
	struct buf held;        /* --fault swap: a body sent after the next */
	struct chan *next_busy; /* on the busy list while batch.len > 0 */
};

struct cl {
	int fd, ws, idx, dead;
	struct chan *ch; /* a subscriber's channel */
	struct cl *next_dead;
	struct buf in, out; /* out: bytes a full socket has not taken yet */
};

#define NCHAN 8192 /* open addressing; the benchmarks use 1,000 */

static volatile sig_atomic_t stop;
static struct chan chans[NCHAN];
static struct chan *busy; /* channels with a batch to send */
static int coalesce, epfd;
static struct cl *dead; /* freed after the current batch of events */

enum fault { F_NONE, F_DUP, F_DROP, F_SWAP, F_CHAN };
#define FAULT_EVERY 50
static enum fault fault;
static unsigned long npublished;

static void
on_signal(int s)
{
	(void)s;
	stop = 1;
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t c = b->cap ? b->cap : 256;
		while (b->len + n > c)
			c *= 2;
		char *q = realloc(b->p, c);
		if (!q) {
			fputs("rawsrv: out of memory\n", stderr);
			exit(1);
		}
		b->p = q;
		b->cap = c;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* The channel the request line's path ends with (NULL: table full). */
static struct chan *
chan_of(const char *req)
{
	const char *p = strchr(req, ' '), *e, *slash;
	char name[72];
	size_t n;
	unsigned h = 2166136261u;

	p = p ? p + 1 : req;
	e = p + strcspn(p, " ?\r\n");
	for (slash = p; slash < e; slash++)
		if (*slash == '/')
			p = slash + 1;
	n = (size_t)(e - p) < sizeof(name) - 1 ? (size_t)(e - p)
					       : sizeof(name) - 1;
	memcpy(name, p, n);
	name[n] = '\0';
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	for (unsigned k = 0; k < NCHAN; k++) {
		struct chan *c = &chans[(h + k) % NCHAN];
		if (c->name[0] == '\0') {
			snprintf(c->name, sizeof(c->name), "%s",
				 n ? name : "-");
			return c;
		}
		if (strcmp(c->name, n ? name : "-") == 0)
			return c;
	}
	return NULL;
}

static void
drop(struct cl *c)
{
	if (c->dead)
		return;
	if (c->ws && c->idx >= 0) {
		struct chan *ch = c->ch;
		ch->subs[c->idx] = ch->subs[--ch->nsubs];
		ch->subs[c->idx]->idx = c->idx;
	}
	close(c->fd);
	c->dead = 1;
	c->next_dead = dead;
	dead = c;
}

static void
reap(void)
{
	while (dead) {
		struct cl *c = dead;
		dead = c->next_dead;
		free(c->in.p);
		free(c->out.p);
		free(c);
	}
}

static void
want_out(struct cl *c, int on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
				  .data.ptr = c };
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* send what is queued, then data; keep what the socket does not take */
static int
push(struct cl *c, const char *data, size_t n)
{
	if (c->out.len > 0) {
		buf_add(&c->out, data, n);
		return 0;
	}
	ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);
	if (w < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		w = 0;
	}
	if ((size_t)w < n) {
		buf_add(&c->out, data + w, n - (size_t)w);
		want_out(c, 1);
	}
	return 0;
}

static void
flush_pending(struct cl *c)
{
	ssize_t w = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);

	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		drop(c);
		return;
	}
	if (w > 0) {
		memmove(c->out.p, c->out.p + w, c->out.len - (size_t)w);
		c->out.len -= (size_t)w;
	}
	if (c->out.len == 0)
		want_out(c, 0);
}

static void
broadcast(struct chan *ch, const char *data, size_t n)
{
	for (int i = 0; i < ch->nsubs; i++) {
		if (push(ch->subs[i], data, n) != 0) {
			drop(ch->subs[i]);
			i--;
		}
	}
}

static void
publish(struct chan *ch, const char *body, size_t n)
{
	unsigned char hdr[14];
	size_t h = ws_header(hdr, WS_OP_TEXT, n, NULL);

	if (coalesce) {
		if (ch->batch.len == 0) {
			ch->next_busy = busy;
			busy = ch;
		}
		buf_add(&ch->batch, hdr, h);
		buf_add(&ch->batch, body, n);
		return;
	}
	char *frame = malloc(h + n);
	if (!frame)
		return;
	memcpy(frame, hdr, h);
	memcpy(frame + h, body, n);
	broadcast(ch, frame, h + n);
	free(frame);
}

/* another channel that has subscribers, or ch itself */
static struct chan *
other_chan(struct chan *ch)
{
	for (int i = 0; i < NCHAN; i++)
		if (&chans[i] != ch && chans[i].nsubs > 0)
			return &chans[i];
	return ch;
}

/* publish, except that with --fault every FAULT_EVERY-th goes wrong */
static void
publish_or_fault(struct chan *ch, const char *body, size_t n)
{
	if (fault == F_NONE || ++npublished % FAULT_EVERY != 0) {
		publish(ch, body, n);
		if (ch->held.len) { /* the one held back: now after this */
			publish(ch, ch->held.p, ch->held.len);
			ch->held.len = 0;
		}
		return;
	}
	switch (fault) {
	case F_DUP:
		publish(ch, body, n);
		publish(ch, body, n);
		break;
	case F_SWAP:
		buf_add(&ch->held, body, n);
		break;
	case F_CHAN:
		publish(other_chan(ch), body, n);
		break;
	default: /* F_DROP */
		break;
	}
}

/* 0: wait for more, 1: handled, -1: drop */
static int
http_in(struct cl *c)
{
	char *e, key[128], cl[32], acc[32], resp[256];
	size_t head, blen;

	for (;;) {
		buf_add(&c->in, "", 1); /* NUL for the string functions */
		c->in.len--;
		e = strstr(c->in.p, "\r\n\r\n");
		if (!e)
			return c->in.len > 16384 ? -1 : 0;
		head = (size_t)(e + 4 - c->in.p);
		if (ws_header_value(c->in.p, "Sec-WebSocket-Key", key,
				    sizeof(key)) == 0) {
			int m;
			ws_accept(key, acc);
			m = snprintf(
				resp, sizeof(resp),
				"HTTP/1.1 101 Switching Protocols\r\n"
				"Upgrade: websocket\r\nConnection: Upgrade\r\n"
				"Sec-WebSocket-Accept: %s\r\n\r\n",
				acc);
			struct chan *ch = chan_of(c->in.p);
			if (!ch || push(c, resp, (size_t)m) != 0)
				return -1;
			c->ws = 1;
			if (ch->nsubs == ch->capsubs) {
				ch->capsubs =
					ch->capsubs ? ch->capsubs * 2 : 16;
				struct cl **s = realloc(
					ch->subs,
					sizeof(*s) * (size_t)ch->capsubs);
				if (!s)
					return -1;
				ch->subs = s;
			}
			c->ch = ch;
			c->idx = ch->nsubs;
			ch->subs[ch->nsubs++] = c;
			c->in.len = 0;
			return 1;
		}
		if (strncmp(c->in.p, "POST ", 5) != 0)
			return -1;
		if (ws_header_value(c->in.p, "Content-Length", cl,
				    sizeof(cl)) != 0)
			return -1;
		blen = strtoul(cl, NULL, 10);
		if (blen > 65536)
			return -1;
		if (c->in.len < head + blen)
			return 0;
		struct chan *ch = chan_of(c->in.p);
		if (!ch)
			return -1;
		publish_or_fault(ch, c->in.p + head, blen);
		static const char ok[] =
			"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
			"Content-Type: text/plain\r\n\r\nok\n";
		if (push(c, ok, sizeof(ok) - 1) != 0)
			return -1;
		memmove(c->in.p, c->in.p + head + blen,
			c->in.len - head - blen);
		c->in.len -= head + blen;
	}
}

static void
on_read(struct cl *c)
{
	char tmp[65536];
	ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		drop(c);
		return;
	}
	if (n < 0)
		return;
	if (c->ws) {
		/* subscribers only say goodbye: a close frame ends them */
		if ((unsigned char)tmp[0] == (0x80 | WS_OP_CLOSE))
			drop(c);
		return;
	}
	buf_add(&c->in, tmp, (size_t)n);
	if (http_in(c) < 0)
		drop(c);
}

static void
usage(void)
{
	fputs("usage: rawsrv PORT once|coalesce [--max-seconds S] "
	      "[--fault dup|drop|swap|chan]\n",
	      stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int lfd, one = 1;
	double max_s = 900;
	time_t start = time(NULL);
	struct epoll_event ev;

	if (argc < 3)
		usage();
	coalesce = strcmp(argv[2], "coalesce") == 0;
	for (int i = 3; i + 1 < argc; i += 2) {
		static const char *const names[] = { "", "dup", "drop", "swap",
						     "chan" };
		if (strcmp(argv[i], "--max-seconds") == 0) {
			max_s = atof(argv[i + 1]);
			continue;
		}
		if (strcmp(argv[i], "--fault") != 0)
			usage();
		for (int f = F_DUP; f <= F_CHAN; f++)
			if (strcmp(argv[i + 1], names[f]) == 0)
				fault = (enum fault)f;
		if (fault == F_NONE)
			usage();
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, 4096) != 0) {
		perror("rawsrv: bind/listen");
		return 1;
	}
	epfd = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	fprintf(stderr, "rawsrv: 127.0.0.1:%s mode %s\n", argv[1], argv[2]);
	while (!stop && difftime(time(NULL), start) < max_s) {
		struct epoll_event evs[256];
		int n = epoll_wait(epfd, evs, 256, 200);
		for (int i = 0; i < n; i++) {
			struct cl *c = evs[i].data.ptr;
			if (!c) {
				for (int k = 0; k < 64; k++) {
					int fd = accept4(lfd, NULL, NULL,
							 SOCK_NONBLOCK);
					if (fd < 0)
						break;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
						   &one, sizeof(one));
					c = calloc(1, sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->idx = -1;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (c->dead)
				continue;
			if (evs[i].events & EPOLLOUT) {
				flush_pending(c);
				continue; /* a dropped c is gone */
			}
			on_read(c);
		}
		while (busy) {
			struct chan *ch = busy;
			busy = ch->next_busy;
			broadcast(ch, ch->batch.p, ch->batch.len);
			ch->batch.len = 0;
		}
		reap();
	}
	fprintf(stderr, "rawsrv: stopping\n");
	return 0;
}

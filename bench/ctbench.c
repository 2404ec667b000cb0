/* ctbench.c - load generator: many WebSocket subscribers, publishers over
 * HTTP keep-alive or WebSocket at a set rate, send-time stamps in the
 * text, deliveries/s, loss and publish->delivery latency. One thread, one
 * epoll loop; 127.0.0.1 only; every phase bounded in time.
 *
 * Two wire dialects: "ct" (crosstalk.v1: auth with a ticket, subscribe,
 * server frames of newline-separated JSON events) and "plain" (one
 * message per frame, the path names the channel: nchan, Node ws, rawsrv).
 *
 * Modes: fanout (step through --rates, one result line per step), idle
 * (hold connections, report server RSS per connection), longpoll (N
 * waiting HTTP polls woken by one publish). Results are printed as
 * "RESULT key=value ..." lines on stdout; progress goes to stderr.
 *
 * Every delivery is checked, per subscriber: the message's text carries
 * its run, channel and per-channel number k ("ctb RUN IDX NS CH K"), so a
 * delivery on the wrong channel, a k seen twice, and (with --pin, where
 * each channel has one publisher connection, so k is the publish order) a
 * k below the last one are counted; crosstalk's events also carry the
 * channel's seq, which must grow by exactly 1. Lost = what was published
 * to the subscriber's channel minus the distinct messages it got: a
 * duplicate never hides a loss. Any of these non-zero fails the step.
 *
 * Publishing is open-loop: message i of a step is due at t0 + i/rate and
 * carries that planned time as its stamp, whether or not a connection was
 * free then, so latency includes any wait for one (no coordinated
 * omission); the backlog of due, unsent messages is reported. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wsproto.h"

#define MAX_RATES   32
#define MAX_HEADERS 8
#define MAX_PIDS    64

enum { P_CT, P_PLAIN };
enum { K_SUB, K_WSPUB, K_HTTPPUB, K_POLL };
enum {
	S_IDLE,
	S_CONNECTING,
	S_HANDSHAKE,
	S_AUTH,
	S_SUBSCRIBING,
	S_READY,
	S_CLOSED
};

struct buf {
	char *p;
	size_t len, cap;
};

struct conn {
	int fd, kind, st, chan, want_out, in_setup;
	struct buf in, out, msg;
	int msg_op, in_msg;
	char key[32];
	const char *ticket;
	/* HTTP client */
	int busy;
	uint64_t req_idx;
	int64_t req_ns;
	/* WebSocket publisher */
	int inflight;
	/* subscriber: what it saw (the bitmap and counts of this run) */
	unsigned seen_run;
	uint64_t last_seq, last_k, got;
	uint8_t *seen;
	size_t seen_cap;
	/* a subscriber that stops reading (--slow): its close code, and the
	 * server's last seq when it subscribed again */
	int slow, close_code;
	uint64_t resumed_to;
};

static struct {
	const char *mode;
	int proto;
	int ws_port, http_port;
	const char *ws_path, *pub_path, *lp_path, *origin, *subproto;
	const char
		*lp_ready; /* PATH=KEY: the server's count of waiting polls */
	const char *tickets_file, *chan_prefix, *after, *ready_file;
	const char *sessions_file;
	const char *headers[MAX_HEADERS];
	int nheaders;
	int subs, channels, pub_conns, pub_ws, window, size, conc, polls;
	double rates[MAX_RATES];
	int nrates;
	double duration, drain, hold, setup_timeout, timeout, max_p99_ms;
	double warmup; /* seconds at the first rate, not reported */
	int keep_going, pin, refine, reps, slow, ws2_port;
	double stalls_ms; /* report 50-ms send-time slices whose max passes it
			   */
	pid_t cpu_pids[MAX_PIDS], stack_pids[MAX_PIDS], rss_pids[MAX_PIDS];
	int ncpu, nstack, nrss;
} opt = {
	.mode = "fanout",
	.proto = P_PLAIN,
	.ws_path = "/sub/%c",
	.pub_path = "/pub/%c",
	.subproto = NULL,
	.chan_prefix = "bench",
	.after = "-1",
	.subs = 100,
	.channels = 1,
	.pub_conns = 8,
	.window = 16,
	.size = 64,
	.conc = 200,
	.polls = 500,
	.duration = 3,
	.drain = 3,
	.hold = 2,
	.setup_timeout = 60,
	.timeout = 300,
	.max_p99_ms = 500,
};

/* ---- clocks, histograms ------------------------------------------ */

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* 1 us buckets below 100 ms, 1 ms buckets up to 100 s */
#define H_FINE   100000
#define H_COARSE 100000
struct hist {
	uint64_t n, max_us;
	uint32_t b[H_FINE + H_COARSE];
};

static void
hist_add(struct hist *h, int64_t ns)
{
	uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
	size_t i = us < H_FINE ? us : H_FINE + us / 1000;

	if (i >= H_FINE + H_COARSE)
		i = H_FINE + H_COARSE - 1;
	h->b[i]++;
	h->n++;
	if (us > h->max_us)
		h->max_us = us;
}

static double
hist_pct_ms(const struct hist *h, double pct)
{
	uint64_t want, acc = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)ceil(h->n * pct / 100.0);
	if (want < 1)
		want = 1;
	for (size_t i = 0; i < H_FINE + H_COARSE; i++) {
		acc += h->b[i];
		if (acc >= want)
			return i < H_FINE ? i / 1000.0 : (double)(i - H_FINE);
	}
	return h->max_us / 1000.0;
}

/* ---- state ---------------------------------------------------------- */

static struct conn *conns;
static int nconns, epfd;
static char **tickets, **sessions;
static int ntickets, next_ticket, nsessions;
static int *sub_ready; /* ready subscribers per channel */
static int ready_subs, ready_pubs, failed, setup_active, closes_in_run;
static int last_close_code;
static unsigned runid;
static uint64_t next_idx;
static int pub_rr;
static int errors_printed;
static int64_t deadline_ns;

static struct {
	uint64_t planned, sent, pub_ok, pub_err, expected, delivered, stale;
	uint64_t acks, srv_errors, sub_bytes;
	uint64_t dups, ooo, wrong_chan, seq_gaps, seq_dups, backlog_max;
	int64_t t0, t_last_deliv;
	struct hist lat, pubrtt;
} st;
static uint64_t *chan_k; /* per channel: the last k planned this run */

/* --stalls: the worst latency of the messages sent in each 50-ms slice of
 * a step, to find when a stall began and line it up with server logs */
#define SLICE_NS  50000000
#define MAX_SLICE 4096
static uint32_t slice_max_us[MAX_SLICE], slice_n[MAX_SLICE],
	slice_over[MAX_SLICE];
static int64_t step_wall_ns; /* CLOCK_REALTIME at the step's t0 */

/* long-poll */
static int lp_answered, lp_ok, lp_early;
static int64_t lp_post_ns, lp_last_ns, lp_acked_ns;
static struct hist lp_hist;

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("ctbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void
note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("ctbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (!q)
		die("out of memory");
	return q;
}

static void
buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 1024;
		while (b->len + extra + 1 > c)
			c *= 2;
		b->p = xrealloc(b->p, c);
		b->cap = c;
	}
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->p, b->p + n, b->len - n);
		b->len -= n;
	}
	if (b->p)
		b->p[b->len] = 0;
}

static void
chan_name(int i, char *out, size_t n)
{
	snprintf(out, n, "%s%d", opt.chan_prefix, i);
}

/* path template: %c = channel name */
static void
expand(const char *tpl, int chan, char *out, size_t n)
{
	char name[96];
	size_t o = 0;

	chan_name(chan, name, sizeof(name));
	for (const char *p = tpl; *p && o + 1 < n; p++) {
		if (p[0] == '%' && p[1] == 'c') {
			for (const char *q = name; *q && o + 1 < n; q++)
				out[o++] = *q;
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* ---- /proc -------------------------------------------------------- */

static double
cpu_ms(const pid_t *pids, int n)
{
	double total = 0;
	long hz = sysconf(_SC_CLK_TCK);

	for (int i = 0; i < n; i++) {
		char path[64], line[2048];
		FILE *f;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(line, sizeof(line), f)) {
			/* fields after the ")" that ends comm: state is 3 */
			char *p = strrchr(line, ')');
			unsigned long ut = 0, stt = 0;
			if (p && sscanf(p + 2,
					"%*c %*d %*d %*d %*d %*d %*u %*u %*u "
					"%*u %*u %lu %lu",
					&ut, &stt) == 2)
				total += (double)(ut + stt) * 1000.0 / hz;
		}
		fclose(f);
	}
	return total;
}

static long
rss_kb(const pid_t *pids, int n)
{
	long total = 0;

	for (int i = 0; i < n; i++) {
		char path[64], line[256];
		FILE *f;
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pids[i]);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f)) {
			long v;
			if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
				total += v;
		}
		fclose(f);
	}
	return total;
}

/* syscalls (syscr + syscw) and bytes (rchar + wchar) of the processes,
 * from /proc/PID/io */
/* Syscalls the server process(es) make during a step: `perf stat -e
 * raw_syscalls:sys_enter -p PIDS` runs alongside it (/proc/PID/io counts
 * read and write calls only, not send and recv). -1 when perf cannot. */
static pid_t
syscalls_start(const pid_t *pids, int n, const char *out)
{
	char list[MAX_PIDS * 12] = "";
	size_t off = 0;
	pid_t p;

	if (n <= 0)
		return -1;
	for (int i = 0; i < n && off < sizeof(list) - 12; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%d",
					i ? "," : "", (int)pids[i]);
	p = fork();
	if (p == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("perf", "perf", "stat", "-x,", "-e",
		       "raw_syscalls:sys_enter", "-p", list, "-o", out,
		       (char *)NULL);
		_exit(127);
	}
	return p;
}

static int64_t
syscalls_stop(pid_t p, const char *out)
{
	char line[256];
	long long v = -1;
	int status;
	FILE *f;

	if (p <= 0)
		return -1;
	kill(p, SIGINT);
	waitpid(p, &status, 0);
	if (!(f = fopen(out, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "raw_syscalls:sys_enter") &&
		    sscanf(line, "%lld,", &v) == 1)
			break;
	fclose(f);
	unlink(out);
	return v;
}

/* the kernel's TCP buffer memory now, kB (/proc/net/sockstat "mem", in
 * pages) */
static long
sock_mem_kb(void)
{
	char line[256];
	long pages = -1;
	FILE *f = fopen("/proc/net/sockstat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *m = strstr(line, " mem ");

		if (strncmp(line, "TCP:", 4) == 0 && m)
			pages = atol(m + 5);
	}
	fclose(f);
	return pages < 0 ? -1 : pages * (sysconf(_SC_PAGESIZE) / 1024);
}

static double
self_cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1000.0 + ru.ru_utime.tv_usec / 1000.0 +
	       ru.ru_stime.tv_sec * 1000.0 + ru.ru_stime.tv_usec / 1000.0;
}

/* ---- sockets --------------------------------------------------------- */

static void
set_events(struct conn *c, int want_out)
{
	struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0),
				  .data.ptr = c };

	if (c->fd < 0 || c->want_out == want_out)
		return;
	c->want_out = want_out;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_fail(struct conn *c, const char *why);

static void
flush_out(struct conn *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			conn_fail(c, strerror(errno));
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	set_events(c, c->out.len > 0);
}

static void
setup_done(struct conn *c)
{
	if (c->in_setup) {
		c->in_setup = 0;
		setup_active--;
	}
}

static void
mark_ready(struct conn *c)
{
	c->st = S_READY;
	setup_done(c);
	if (c->kind == K_SUB) {
		ready_subs++;
		sub_ready[c->chan]++;
	} else {
		ready_pubs++;
	}
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		struct linger l = { 1, 0 }; /* RST: no TIME_WAIT pile-up */
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(c->fd);
		c->fd = -1;
	}
	if (c->st == S_READY) {
		if (c->kind == K_SUB) {
			ready_subs--;
			if (!c->slow)
				sub_ready[c->chan]--;
		} else {
			ready_pubs--;
		}
		if (st.t0 && !c->slow)
			closes_in_run++;
	}
	setup_done(c);
	c->st = S_CLOSED;
}

static void
conn_fail(struct conn *c, const char *why)
{
	if (c->st == S_CLOSED)
		return;
	if (c->st != S_READY)
		failed++;
	if (errors_printed < 5) {
		errors_printed++;
		note("connection %d (kind %d, state %d): %s", (int)(c - conns),
		     c->kind, c->st, why);
	}
	conn_close(c);
}

static void
conn_start(struct conn *c, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s (raise ulimit -n)", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c - conns < opt.slow) {
		/* a slow reader on a slow link: a small receive window, so
		 * that the server, not the kernel, holds what it cannot send */
		int small = 4096;
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
	c->in_setup = 1;
	setup_active++;
	c->st = S_CONNECTING;
	c->want_out = 1;
	epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS)
		conn_fail(c, strerror(errno));
}

/* ---- WebSocket client ----------------------------------------------- */

static void
ws_send(struct conn *c, int opcode, const char *data, size_t n)
{
	unsigned char hdr[14], mask[4];
	uint32_t r = rng();
	size_t h;

	memcpy(mask, &r, 4);
	h = ws_header(hdr, opcode, n, mask);
	buf_reserve(&c->out, h + n);
	memcpy(c->out.p + c->out.len, hdr, h);
	memcpy(c->out.p + c->out.len + h, data, n);
	ws_mask((unsigned char *)c->out.p + c->out.len + h, n, mask, 0);
	c->out.len += h + n;
	c->out.p[c->out.len] = 0;
	flush_out(c);
}

static void
ws_handshake(struct conn *c)
{
	unsigned char raw[16];
	char path[256], req[1024];
	int n;

	for (int i = 0; i < 16; i++)
		raw[i] = (unsigned char)rng();
	ws_b64(raw, 16, c->key);
	expand(opt.ws_path, c->chan, path, sizeof(path));
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
		     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		     "%s%s%s%s%s%s\r\n",
		     path, opt.ws_port, c->key,
		     opt.subproto ? "Sec-WebSocket-Protocol: " : "",
		     opt.subproto ? opt.subproto : "",
		     opt.subproto ? "\r\n" : "", opt.origin ? "Origin: " : "",
		     opt.origin ? opt.origin : "", opt.origin ? "\r\n" : "");
	c->st = S_HANDSHAKE;
	buf_add(&c->out, req, (size_t)n);
	flush_out(c);
}

/* "ctb RUN IDX NS CH K..." on subscriber c -> one delivery, checked */
static void
deliver(struct conn *c, const char *p, const char *end)
{
	uint64_t v[5] = { 0, 0, 0, 0, 0 };
	int k = 0;
	size_t byte;

	while (p < end && k < 5) {
		if (*p >= '0' && *p <= '9') {
			v[k] = v[k] * 10 + (uint64_t)(*p - '0');
		} else if (*p == ' ') {
			k++;
		} else {
			break;
		}
		p++;
	}
	if (v[0] != runid) {
		st.stale++;
		return;
	}
	if ((int)v[3] != c->chan) {
		st.wrong_chan++;
		return;
	}
	if (c->seen_run != runid) { /* a new step: a clean slate */
		c->seen_run = runid;
		c->last_k = 0;
		c->got = 0;
		if (c->seen)
			memset(c->seen, 0, c->seen_cap);
	}
	byte = (size_t)(v[4] / 8);
	if (byte >= c->seen_cap) {
		size_t ncap = (byte + 1) * 2;
		c->seen = xrealloc(c->seen, ncap);
		memset(c->seen + c->seen_cap, 0, ncap - c->seen_cap);
		c->seen_cap = ncap;
	}
	if (c->seen[byte] & (1u << (v[4] % 8))) {
		st.dups++;
		return;
	}
	c->seen[byte] |= (uint8_t)(1u << (v[4] % 8));
	if (opt.pin && v[4] < c->last_k)
		st.ooo++;
	if (v[4] > c->last_k)
		c->last_k = v[4];
	c->got++;
	int64_t t = now_ns();
	hist_add(&st.lat, t - (int64_t)v[2]);
	if (opt.stalls_ms > 0 && (int64_t)v[2] >= st.t0) {
		int64_t sl = ((int64_t)v[2] - st.t0) / SLICE_NS;
		uint32_t us = (uint32_t)((t - (int64_t)v[2]) / 1000);
		if (sl < MAX_SLICE) {
			slice_n[sl]++;
			slice_over[sl] += us > opt.stalls_ms * 1000;
			if (us > slice_max_us[sl])
				slice_max_us[sl] = us;
		}
	}
	st.delivered++;
	st.t_last_deliv = t;
}

static const char *
find(const char *p, size_t n, const char *needle)
{
	return memmem(p, n, needle, strlen(needle));
}

static void
ct_event(struct conn *c, const char *p, size_t n)
{
	const char *t = find(p, n, "\"type\":\""), *end = p + n;

	if (!t)
		return;
	t += 8;
	if ((size_t)(end - t) >= 8 && memcmp(t, "message\"", 8) == 0) {
		const char *x = find(p, n, "\"text\":\"ctb ");
		const char *q = find(p, n, "\"seq\":\"");

		if (q) { /* the channel's seq: exactly one more, always */
			uint64_t seq = strtoull(q + 7, NULL, 10);

			if (c->last_seq && seq <= c->last_seq)
				st.seq_dups++;
			else if (c->last_seq && seq > c->last_seq + 1)
				st.seq_gaps += seq - c->last_seq - 1;
			if (seq > c->last_seq)
				c->last_seq = seq;
		}
		if (x)
			deliver(c, x + 12, end);
	} else if ((size_t)(end - t) >= 4 && memcmp(t, "ack\"", 4) == 0) {
		const char *x = find(p, n, "\"client_id\":\"k");
		if (x) {
			/* client_id k<run>-<idx>-<ns> */
			unsigned long long run = 0, idx = 0, ns = 0;
			if (sscanf(x + 14, "%llu-%llu-%llu", &run, &idx, &ns) ==
				    3 &&
			    run == runid) {
				hist_add(&st.pubrtt, now_ns() - (int64_t)ns);
				st.acks++;
				st.pub_ok++;
			}
		}
		if (c->inflight > 0)
			c->inflight--;
	} else if ((size_t)(end - t) >= 8 && memcmp(t, "welcome\"", 8) == 0) {
		if (c->st == S_AUTH) {
			if (c->kind == K_SUB) {
				char f[256], name[96];
				int m;
				chan_name(c->chan, name, sizeof(name));
				char after[24];

				if (c->slow && c->last_seq)
					snprintf(after, sizeof(after),
						 "%" PRIu64, c->last_seq);
				else
					snprintf(after, sizeof(after), "%s",
						 opt.after);
				m = snprintf(
					f, sizeof(f),
					"{\"type\":\"subscribe\",\"channel\":"
					"\"%s\",\"after\":\"%s\"}",
					name, after);
				c->st = S_SUBSCRIBING;
				ws_send(c, WS_OP_TEXT, f, (size_t)m);
			} else {
				mark_ready(c);
			}
		}
	} else if ((size_t)(end - t) >= 11 &&
		   memcmp(t, "subscribed\"", 11) == 0) {
		const char *q = find(p, n, "\"last_seq\":\"");

		if (q && c->slow)
			c->resumed_to = strtoull(q + 12, NULL, 10);
		if (c->st == S_SUBSCRIBING)
			mark_ready(c);
	} else if ((size_t)(end - t) >= 6 && memcmp(t, "error\"", 6) == 0) {
		st.srv_errors++;
		if (c->kind == K_WSPUB && c->inflight > 0) {
			c->inflight--;
			st.pub_err++;
		}
		if (errors_printed < 5) {
			errors_printed++;
			note("server error: %.*s", (int)(n > 300 ? 300 : n), p);
		}
		if (c->st != S_READY)
			conn_fail(c, "error before ready");
	}
}

static void
ws_message(struct conn *c, const char *p, size_t n)
{
	if (opt.proto == P_PLAIN) {
		if (n >= 4 && memcmp(p, "ctb ", 4) == 0)
			deliver(c, p + 4, p + n);
		return;
	}
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;
		if (len > 0)
			ct_event(c, p, len);
		if (c->st == S_CLOSED)
			return;
		if (!nl)
			break;
		n -= len + 1;
		p = nl + 1;
	}
}

static void
ws_after_handshake(struct conn *c)
{
	if (opt.proto == P_CT) {
		char f[256];
		int m;
		if (next_ticket >= ntickets) {
			conn_fail(c, "out of tickets");
			return;
		}
		c->ticket = tickets[next_ticket++];
		m = snprintf(f, sizeof(f),
			     "{\"type\":\"auth\",\"ticket\":\"%s\"}",
			     c->ticket);
		c->st = S_AUTH;
		ws_send(c, WS_OP_TEXT, f, (size_t)m);
	} else {
		mark_ready(c);
	}
}

static void
ws_input(struct conn *c)
{
	size_t off = 0;

	if (c->st == S_HANDSHAKE) {
		char *e = strstr(c->in.p, "\r\n\r\n"), acc[64], want[32];
		if (!e)
			return;
		e[2] = 0; /* the head as one string; its end stays "\r\n" */
		if (strncmp(c->in.p, "HTTP/1.1 101", 12) != 0) {
			char why[160];
			snprintf(why, sizeof(why), "handshake refused: %.100s",
				 c->in.p);
			conn_fail(c, why);
			return;
		}
		strcat(c->in.p, "\r\n");
		ws_accept(c->key, want);
		if (ws_header_value(c->in.p, "Sec-WebSocket-Accept", acc,
				    sizeof(acc)) != 0 ||
		    strcmp(acc, want) != 0) {
			conn_fail(c, "bad Sec-WebSocket-Accept");
			return;
		}
		off = (size_t)(e + 4 - c->in.p);
		ws_after_handshake(c);
		if (c->st == S_CLOSED)
			return;
	}
	for (;;) {
		struct ws_frame f;
		const unsigned char *p = (unsigned char *)c->in.p + off;
		int h = ws_parse_header(p, c->in.len - off, &f);
		if (h < 0 || (h > 0 && f.masked)) {
			conn_fail(c, "bad frame from server");
			return;
		}
		if (h == 0 || c->in.len - off - (size_t)h < f.len)
			break;
		const char *pl = (const char *)p + h;
		size_t len = (size_t)f.len;
		off += (size_t)h + len;
		switch (f.opcode) {
		case WS_OP_PING:
			ws_send(c, WS_OP_PONG, pl, len);
			break;
		case WS_OP_PONG:
			break;
		case WS_OP_CLOSE:
			last_close_code = len >= 2
						  ? ((unsigned char)pl[0] << 8 |
						     (unsigned char)pl[1])
						  : 1005;
			c->close_code = last_close_code;
			{
				char why[64];
				snprintf(why, sizeof(why),
					 "closed by server (%d)",
					 last_close_code);
				conn_fail(c, why);
			}
			return;
		case WS_OP_TEXT:
		case WS_OP_BIN:
		case WS_OP_CONT:
			if (f.opcode != WS_OP_CONT && f.fin && !c->in_msg) {
				ws_message(c, pl, len);
			} else {
				if (f.opcode != WS_OP_CONT) {
					c->in_msg = 1;
					c->msg.len = 0;
				}
				buf_add(&c->msg, pl, len);
				if (f.fin) {
					c->in_msg = 0;
					ws_message(c, c->msg.p, c->msg.len);
				}
			}
			break;
		default:
			conn_fail(c, "unknown opcode");
			return;
		}
		if (c->st == S_CLOSED)
			return;
	}
	buf_consume(&c->in, off);
}

/* ---- HTTP client ------------------------------------------------------ */

static void
http_response(struct conn *c, int status, const char *body, size_t blen)
{
	int64_t t = now_ns();

	c->busy = 0;
	if (c->kind == K_POLL) {
		char mark[32];
		int mn = snprintf(mark, sizeof(mark), "ctb %u ", runid);

		lp_answered++;
		/* ok: answered with the message this run published */
		if (status >= 200 && status < 300 && body &&
		    memmem(body, blen, mark, (size_t)mn))
			lp_ok++;
		if (!lp_post_ns) {
			lp_early++;
		} else {
			hist_add(&lp_hist, t - lp_post_ns);
			lp_last_ns = t;
		}
		return;
	}
	if (lp_post_ns && !lp_acked_ns)
		lp_acked_ns = t; /* the long-poll scenario's one post */
	if (c->req_idx >> 63)
		return; /* from an earlier step */
	hist_add(&st.pubrtt, t - c->req_ns);
	if (status >= 200 && status < 300) {
		st.pub_ok++;
	} else {
		st.pub_err++;
		st.expected -= (uint64_t)sub_ready[c->chan];
		if (errors_printed < 5) {
			errors_printed++;
			note("publish answered %d: %.*s", status,
			     (int)(blen > 200 ? 200 : blen), body);
		}
	}
}

static void
http_input(struct conn *c)
{
	for (;;) {
		char *e = strstr(c->in.p, "\r\n\r\n"), cl[32], te[32];
		size_t head, need;
		int status = 0;
		if (!e)
			return;
		head = (size_t)(e + 4 - c->in.p);
		{
			char save = c->in.p[head];
			c->in.p[head] = 0;
			sscanf(c->in.p, "HTTP/1.%*d %d", &status);
			if (ws_header_value(c->in.p, "Transfer-Encoding", te,
					    sizeof(te)) == 0) {
				conn_fail(c, "chunked response: not supported");
				return;
			}
			if (ws_header_value(c->in.p, "Content-Length", cl,
					    sizeof(cl)) != 0)
				strcpy(cl, "0");
			c->in.p[head] = save;
		}
		need = head + strtoul(cl, NULL, 10);
		if (c->in.len < need)
			return;
		http_response(c, status, c->in.p + head, need - head);
		buf_consume(&c->in, need);
	}
}

static void
http_request(struct conn *c, const char *method, const char *path,
	     const char *ctype, const char *body, size_t blen)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", method,
			 path, opt.http_port);

	buf_add(&c->out, head, (size_t)n);
	for (int i = 0; i < opt.nheaders; i++) {
		buf_add(&c->out, opt.headers[i], strlen(opt.headers[i]));
		buf_add(&c->out, "\r\n", 2);
	}
	if (nsessions > 0) {
		/* publishes spread over the sessions (users), as from many */
		const char *ref = sessions[c->req_idx % (uint64_t)nsessions];
		n = snprintf(head, sizeof(head), "X-Crosstalk-Session: %s\r\n",
			     ref);
		buf_add(&c->out, head, (size_t)n);
	}
	if (body) {
		n = snprintf(head, sizeof(head),
			     "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
			     ctype, blen);
		buf_add(&c->out, head, (size_t)n);
		buf_add(&c->out, body, blen);
	} else {
		buf_add(&c->out, "\r\n", 2);
	}
	c->busy = 1;
	if (c->kind != K_HTTPPUB)
		c->req_ns = now_ns(); /* a publish keeps its planned time */
	flush_out(c);
}

/* ---- events ----------------------------------------------------------- */

static void
on_event(struct conn *c, uint32_t ev)
{
	if (c->st == S_CLOSED || c->fd < 0)
		return;
	if (c->st == S_CONNECTING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			conn_fail(c, strerror(err));
			return;
		}
		if (c->kind == K_SUB || c->kind == K_WSPUB) {
			ws_handshake(c);
		} else {
			mark_ready(c);
			set_events(c, 0);
		}
		if (c->st == S_CLOSED)
			return;
	}
	if (ev & EPOLLOUT)
		flush_out(c);
	if (c->st == S_CLOSED)
		return;
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (int i = 0; i < 8; i++) {
			buf_reserve(&c->in, 16384);
			ssize_t n = recv(c->fd, c->in.p + c->in.len,
					 c->in.cap - c->in.len - 1, 0);
			if (n > 0 && c->kind == K_SUB)
				st.sub_bytes += (uint64_t)n; /* wire bytes */
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				if (errno == EINTR)
					continue;
				conn_fail(c, strerror(errno));
				return;
			}
			if (n == 0) {
				if (c->kind == K_SUB || c->kind == K_WSPUB)
					ws_input(c);
				else
					http_input(c);
				conn_fail(c, "closed by peer");
				return;
			}
			c->in.len += (size_t)n;
			c->in.p[c->in.len] = 0;
			if ((size_t)n < c->in.cap - c->in.len)
				break;
		}
		if (c->kind == K_SUB || c->kind == K_WSPUB)
			ws_input(c);
		else
			http_input(c);
	}
}

static void
loop_once(int64_t timeout_ns)
{
	struct epoll_event evs[256];
	struct timespec ts;
	int n;

	if (timeout_ns < 0)
		timeout_ns = 0;
	ts.tv_sec = timeout_ns / 1000000000;
	ts.tv_nsec = timeout_ns % 1000000000;
	n = epoll_pwait2(epfd, evs, 256, &ts, NULL);
	for (int i = 0; i < n; i++)
		on_event(evs[i].data.ptr, evs[i].events);
	if (now_ns() > deadline_ns)
		die("hard time limit of %.0f s reached", opt.timeout);
}

/* ---- publishing --------------------------------------------------------- */

static int first_pub, npubs;

/* The connection for the next message, on channel chan: with --pin,
 * the channel's own (chan % npubs), else the next free one. NULL: none
 * free now (the message waits, its stamp keeps its planned time). */
static struct conn *
pub_conn(int chan)
{
	if (opt.pin) {
		struct conn *x = &conns[first_pub + chan % npubs];

		if (x->st == S_READY &&
		    (x->kind == K_HTTPPUB ? !x->busy
					  : x->inflight < opt.window))
			return x;
		return NULL;
	}
	for (int i = 0; i < npubs; i++) {
		struct conn *x = &conns[first_pub + (pub_rr + i) % npubs];
		if (x->st != S_READY)
			continue;
		if (x->kind == K_HTTPPUB ? !x->busy
					 : x->inflight < opt.window) {
			pub_rr = (pub_rr + i + 1) % npubs;
			return x;
		}
	}
	return NULL;
}

/* Send the next message, stamped planned_ns; 0 when no connection may
 * take it now. */
static int
publish_one(int64_t planned_ns)
{
	char text[4200], body[4600], path[256], name[96];
	struct conn *c;
	int n, chan;
	uint64_t idx, k;

	chan = (int)(next_idx % (uint64_t)opt.channels);
	if (!(c = pub_conn(chan)))
		return 0;
	idx = next_idx++;
	k = ++chan_k[chan];
	n = snprintf(text, sizeof(text),
		     "ctb %u %" PRIu64 " %" PRId64 " %d %" PRIu64 " ", runid,
		     idx, planned_ns, chan, k);
	while (n < opt.size && n < (int)sizeof(text) - 1)
		text[n++] = 'x';
	text[n] = 0;
	chan_name(chan, name, sizeof(name));
	c->chan = chan;
	c->req_idx = idx;
	c->req_ns = planned_ns;
	st.expected += (uint64_t)sub_ready[chan];
	st.sent++;
	if (c->kind == K_WSPUB) {
		int m = snprintf(body, sizeof(body),
				 "{\"type\":\"publish\",\"channel\":\"%s\","
				 "\"text\":\"%s\",\"client_id\":\"k%u-%" PRIu64
				 "-%" PRId64 "\"}",
				 name, text, runid, idx, planned_ns);
		c->inflight++;
		ws_send(c, WS_OP_TEXT, body, (size_t)m);
	} else {
		expand(opt.pub_path, chan, path, sizeof(path));
		if (opt.proto == P_CT) {
			int m = snprintf(body, sizeof(body),
					 "{\"channel\":\"%s\",\"text\":\"%s\"}",
					 name, text);
			http_request(c, "POST", path, "application/json", body,
				     (size_t)m);
		} else {
			http_request(c, "POST", path, "text/plain", text,
				     (size_t)n);
		}
	}
	return 1;
}

static int
pubs_idle(void)
{
	for (int i = 0; i < npubs; i++) {
		struct conn *c = &conns[first_pub + i];
		if (c->st == S_READY && (c->busy || c->inflight))
			return 0;
	}
	return 1;
}

static void
mark_old_requests(void)
{
	for (int i = 0; i < npubs; i++) {
		struct conn *c = &conns[first_pub + i];
		if (c->busy)
			c->req_idx |= 1ull << 63;
		c->inflight = 0; /* late acks of an earlier step are ignored */
	}
}

/* The slices whose worst delivery took over --stalls ms, one line each on
 * stderr: their number, -1 without --stalls. */
static int
stall_slices(void)
{
	int n = 0;

	if (opt.stalls_ms <= 0)
		return -1;
	for (int i = 0; i < MAX_SLICE; i++) {
		if (slice_max_us[i] <= opt.stalls_ms * 1000)
			continue;
		n++;
		int64_t w = step_wall_ns + (int64_t)i * SLICE_NS;
		time_t sec = (time_t)(w / 1000000000);
		struct tm tm;
		gmtime_r(&sec, &tm);
		note("stall: sent at +%.2f s (%02d:%02d:%02d.%03d UTC), worst "
		     "%.1f ms, %u of %u deliveries over",
		     (double)i * SLICE_NS / 1e9, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (int)(w / 1000000 % 1000),
		     slice_max_us[i] / 1000.0, slice_over[i], slice_n[i]);
	}
	return n;
}

static struct hist pooled;
static int quiet; /* a warm-up step: nothing printed, nothing pooled */

/* One step at rate; 1 when sustained. Its latencies are added to pooled. */
static int
run_step(double rate)
{
	double cpu0, stack0, self0, cpu1, stack1, self1, secs, span;
	int64_t t0, pub_end, drain_end, t;
	uint64_t lost, got = 0;
	int sustained, stalls;

	memset(&st, 0, sizeof(st));
	memset(chan_k, 0, sizeof(*chan_k) * (size_t)opt.channels);
	runid++;
	closes_in_run = 0;
	cpu0 = cpu_ms(opt.cpu_pids, opt.ncpu);
	stack0 = cpu_ms(opt.stack_pids, opt.nstack);
	self0 = self_cpu_ms();
	memset(slice_max_us, 0, sizeof(slice_max_us));
	memset(slice_n, 0, sizeof(slice_n));
	memset(slice_over, 0, sizeof(slice_over));
	{
		struct timespec wall;
		clock_gettime(CLOCK_REALTIME, &wall);
		step_wall_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
	}
	t0 = st.t0 = now_ns();
	pub_end = t0 + (int64_t)(opt.duration * 1e9);
	while ((t = now_ns()) < pub_end) {
		int64_t wait = 2000000;
		if (rate > 0) {
			/* open loop: message i is due at t0 + i / rate */
			uint64_t due =
				(uint64_t)((double)(t - t0) * rate / 1e9) + 1;
			int burst = 0;
			st.planned = due;
			while (st.sent < due && burst < 1000 &&
			       publish_one(t0 + (int64_t)((double)st.sent *
							  1e9 / rate)))
				burst++;
			if (due - st.sent > st.backlog_max)
				st.backlog_max = due - st.sent;
			wait = (int64_t)((double)(st.sent + 1) * 1e9 / rate) -
			       (t - t0);
			if (wait > 2000000)
				wait = 2000000;
			if (wait < 20000)
				wait = 20000;
		} else {
			int burst = 0;
			while (burst < 1000 && publish_one(now_ns()))
				burst++;
			st.planned = st.sent;
		}
		loop_once(wait);
	}
	if (rate > 0)
		st.planned = (uint64_t)(opt.duration * rate);
	drain_end = now_ns() + (int64_t)(opt.drain * 1e9);
	while (now_ns() < drain_end &&
	       !(st.delivered >= st.expected && pubs_idle()))
		loop_once(2000000);
	mark_old_requests();
	cpu1 = cpu_ms(opt.cpu_pids, opt.ncpu);
	stack1 = cpu_ms(opt.stack_pids, opt.nstack);
	self1 = self_cpu_ms();
	secs = opt.duration;
	span = st.t_last_deliv > t0 ? (double)(st.t_last_deliv - t0) / 1e9
				    : secs;
	if (span < secs)
		span = secs;
	for (int i = 0; i < opt.subs; i++)
		if (conns[i].seen_run == runid)
			got += conns[i].got;
	/* what was published to their channels, minus what they got: a
	 * duplicate cannot make up for a loss */
	lost = st.expected > got ? st.expected - got : 0;
	sustained = st.sent >= st.planned * 97 / 100 && st.pub_err == 0 &&
		    lost == 0 && st.dups == 0 && st.ooo == 0 &&
		    st.wrong_chan == 0 && st.seq_gaps == 0 &&
		    st.seq_dups == 0 &&
		    hist_pct_ms(&st.lat, 99) <= opt.max_p99_ms &&
		    closes_in_run == 0 && st.delivered > 0;
	if (opt.subs == 0)
		sustained = st.pub_err == 0 && st.pub_ok > 0;
	if (quiet)
		goto settle;
	stalls = stall_slices();
	printf("RESULT mode=%s rate=%.0f subs=%d channels=%d pubs=%d pin=%d "
	       "planned=%" PRIu64 " sent=%" PRIu64 " backlog_max=%" PRIu64
	       " pub_ok=%" PRIu64 " pub_err=%" PRIu64 " expected=%" PRIu64
	       " delivered=%" PRIu64 " lost=%" PRIu64 " dups=%" PRIu64
	       " ooo=%" PRId64 " wrong_chan=%" PRIu64 " seq_gaps=%" PRIu64
	       " seq_dups=%" PRIu64 " stale=%" PRIu64 " closes=%d "
	       "deliv_per_s=%.0f pub_per_s=%.0f p50_ms=%.3f p99_ms=%.3f "
	       "p999_ms=%.3f max_ms=%.3f pub_p50_ms=%.3f pub_p99_ms=%.3f "
	       "cpu_ms=%.0f stack_cpu_ms=%.0f client_cpu_ms=%.0f "
	       "sub_bytes=%" PRIu64 " rss_kb=%ld "
	       "sock_mem_kb=%ld stall_slices=%d sustained=%d\n",
	       opt.mode, rate, ready_subs, opt.channels, ready_pubs, opt.pin,
	       st.planned, st.sent, st.backlog_max, st.pub_ok, st.pub_err,
	       st.expected, st.delivered, lost, st.dups,
	       opt.pin || opt.proto == P_CT ? (int64_t)st.ooo : (int64_t)-1,
	       st.wrong_chan, st.seq_gaps, st.seq_dups, st.stale, closes_in_run,
	       st.delivered / span, st.pub_ok / secs, hist_pct_ms(&st.lat, 50),
	       hist_pct_ms(&st.lat, 99), hist_pct_ms(&st.lat, 99.9),
	       st.lat.max_us / 1000.0, hist_pct_ms(&st.pubrtt, 50),
	       hist_pct_ms(&st.pubrtt, 99), cpu1 - cpu0, stack1 - stack0,
	       self1 - self0, st.sub_bytes, rss_kb(opt.rss_pids, opt.nrss),
	       sock_mem_kb(), stalls, sustained);
	fflush(stdout);
	note("rate %.0f/s: %" PRIu64 "/%" PRIu64 " delivered, p99 %.1f ms, "
	     "lost %" PRIu64 ", dups %" PRIu64 ", %s",
	     rate, got, st.expected, hist_pct_ms(&st.lat, 99), lost, st.dups,
	     sustained ? "sustained" : "NOT sustained");
	for (size_t i = 0; i < H_FINE + H_COARSE; i++)
		pooled.b[i] += st.lat.b[i];
	pooled.n += st.lat.n;
	if (st.lat.max_us > pooled.max_us)
		pooled.max_us = st.lat.max_us;
settle:
	/* let stragglers land before the next step */
	drain_end = now_ns() + 300000000;
	while (now_ns() < drain_end)
		loop_once(2000000);
	st.t0 = 0;
	return sustained;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The ladder: the --rates steps until one is not sustained, then --refine
 * steps between the last sustained rate and that one (each system gets
 * fine steps around its own limit), then --reps more steps at the best
 * sustained rate, whose latencies are pooled: p99 and p99.9 over all of
 * them, and the min/median/max of each one's p99. */
static void
ladder(void)
{
	double ok = -1, bad = -1, p99s[32];
	int nreps = 0, all_ok = 1;

	/* caches, plans, JIT and connection pools warm for every system alike
	 */
	if (opt.warmup > 0 && opt.nrates > 0) {
		double d = opt.duration;
		char out[64];
		pid_t perf;
		int64_t calls, end = now_ns() + 500000000;

		/* the warm-up also counts the server's syscalls per delivery
		 * at the first rate, traced (perf stat) here and not in the
		 * measured steps, whose CPU figures tracing would raise */
		snprintf(out, sizeof(out), "/tmp/ctbench-perf.%d",
			 (int)getpid());
		perf = syscalls_start(opt.cpu_pids, opt.ncpu, out);
		while (now_ns() < end) /* perf attached before the step */
			loop_once(2000000);
		quiet = 1;
		opt.duration = opt.warmup;
		run_step(opt.rates[0]);
		opt.duration = d;
		quiet = 0;
		calls = syscalls_stop(perf, out);
		printf("RESULT mode=syscalls rate=%.0f delivered=%" PRIu64
		       " syscalls=%" PRId64 " sub_bytes=%" PRIu64 "\n",
		       opt.rates[0], st.delivered, calls, st.sub_bytes);
		fflush(stdout);
		note("warm-up: %.0f s at %.0f/s", opt.warmup, opt.rates[0]);
	}

	for (int r = 0; r < opt.nrates; r++) {
		if (run_step(opt.rates[r])) {
			ok = opt.rates[r];
		} else if (!opt.keep_going) {
			bad = opt.rates[r];
			break;
		}
	}
	for (int j = 1; j <= opt.refine && ok > 0 && bad > 0; j++) {
		double rate = ok + (bad - ok) * j / (opt.refine + 1);

		if (!run_step(rate))
			break;
		ok = rate;
	}
	if (opt.reps <= 0 || ok <= 0)
		return;
	memset(&pooled, 0, sizeof(pooled));
	for (int i = 0; i < opt.reps && i < 32; i++) {
		all_ok &= run_step(ok);
		p99s[nreps++] = hist_pct_ms(&st.lat, 99);
	}
	qsort(p99s, (size_t)nreps, sizeof(double), cmp_double);
	printf("RESULT mode=pooled rate=%.0f reps=%d all_sustained=%d "
	       "p99_ms=%.3f p999_ms=%.3f max_ms=%.3f rep_p99_min_ms=%.3f "
	       "rep_p99_median_ms=%.3f rep_p99_max_ms=%.3f\n",
	       ok, nreps, all_ok, hist_pct_ms(&pooled, 99),
	       hist_pct_ms(&pooled, 99.9), pooled.max_us / 1000.0, p99s[0],
	       p99s[nreps / 2], p99s[nreps - 1]);
	fflush(stdout);
}

/* --slow N: the first N subscribers stop reading while one step runs at
 * rate (the others are measured as usual), then read what waited (the
 * server should have closed them with 4008), connect again and resume
 * from the last seq they saw: they must get every event after it, in
 * order (crosstalk's seqs), up to the last seq the server reports. */
static void
slow_step(double rate)
{
	int closed_4008 = 0, resumed = 0, n = 0;
	uint64_t gaps0;

	for (int i = 0; i < opt.slow && i < opt.subs; i++) {
		struct conn *c = &conns[i];
		struct epoll_event ev = { .events = 0, .data.ptr = c };

		if (c->st != S_READY)
			continue;
		c->slow = 1;
		sub_ready[c->chan]--;
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev); /* not read */
		n++;
	}
	run_step(rate);
	gaps0 = st.seq_gaps;
	for (int i = 0; i < opt.slow && i < opt.subs; i++) {
		struct conn *c = &conns[i];
		int64_t end = now_ns() + 15000000000LL;

		if (!c->slow)
			continue;
		if (c->fd >= 0) {
			c->want_out = -1;
			set_events(c,
				   0); /* read again: what waited, the close */
		}
		while (c->st != S_CLOSED && now_ns() < end)
			loop_once(5000000);
		closed_4008 += c->close_code == 4008;
		/* connect again and resume from the last seq seen */
		free(c->in.p);
		free(c->out.p);
		free(c->msg.p);
		memset(&c->in, 0, sizeof(c->in));
		memset(&c->out, 0, sizeof(c->out));
		memset(&c->msg, 0, sizeof(c->msg));
		c->in_msg = 0;
		c->resumed_to = 0;
		conn_start(c, opt.ws_port);
		while (c->st != S_READY && c->st != S_CLOSED && now_ns() < end)
			loop_once(5000000);
		while (c->st == S_READY && c->last_seq < c->resumed_to &&
		       now_ns() < end)
			loop_once(5000000);
		resumed += c->st == S_READY && c->resumed_to &&
			   c->last_seq == c->resumed_to;
	}
	printf("RESULT mode=slow rate=%.0f slow=%d closed_4008=%d "
	       "resumed=%d resume_seq_gaps=%" PRIu64 "\n",
	       rate, n, closed_4008, resumed, st.seq_gaps - gaps0);
	fflush(stdout);
}

/* ---- setup -----------------------------------------------------------------
 */

static char **
load_lines(const char *path, int *n)
{
	FILE *f;
	char line[256], **v = NULL;

	if (!(f = fopen(path, "r")))
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0])
			continue;
		v = xrealloc(v, sizeof(*v) * (size_t)(*n + 1));
		if (!(v[*n] = strdup(line)))
			die("out of memory");
		(*n)++;
	}
	fclose(f);
	return v;
}

static void
connect_all(int from, int to)
{
	int next = from;
	int64_t end = now_ns() + (int64_t)(opt.setup_timeout * 1e9);
	int64_t last_note = now_ns();

	while (now_ns() < end) {
		while (next < to && setup_active < opt.conc) {
			struct conn *c = &conns[next++];
			conn_start(c, c->kind == K_WSPUB ? opt.ws_port
				      : c->kind == K_SUB
					      ? (opt.ws2_port && (c - conns) % 2
							 ? opt.ws2_port
							 : opt.ws_port)
					      : opt.http_port);
		}
		if (next >= to && setup_active == 0)
			break;
		loop_once(5000000);
		if (now_ns() - last_note > 2000000000) {
			last_note = now_ns();
			note("connecting: %d subscribers and %d publishers "
			     "ready, "
			     "%d failed",
			     ready_subs, ready_pubs, failed);
		}
	}
	for (int i = from; i < to; i++)
		if (conns[i].st != S_READY && conns[i].st != S_CLOSED)
			conn_fail(&conns[i], "setup timed out");
}

static void
parse_pids(const char *s, pid_t *out, int *n)
{
	char *copy = strdup(s), *save = NULL;

	for (char *t = strtok_r(copy, ", ", &save); t && *n < MAX_PIDS;
	     t = strtok_r(NULL, ", ", &save))
		out[(*n)++] = (pid_t)atoi(t);
	free(copy);
}

static void
parse_rates(const char *s)
{
	char *copy = strdup(s), *save = NULL;

	opt.nrates = 0;
	for (char *t = strtok_r(copy, ",", &save); t && opt.nrates < MAX_RATES;
	     t = strtok_r(NULL, ",", &save))
		opt.rates[opt.nrates++] = atof(t);
	free(copy);
}

static void
usage(void)
{
	fputs("usage: ctbench [fanout|idle|longpoll] [options]\n"
	      "  --proto ct|plain   --ws PORT --ws-path TPL (%c = channel)\n"
	      "  --http PORT --pub-path TPL --lp-path TPL --header 'K: V'\n"
	      "  --lp-ready PATH=KEY (publish once the server counts every "
	      "poll)\n"
	      "  --origin URL --subproto NAME --tickets FILE --after N\n"
	      "  --sessions FILE (X-Crosstalk-Session per request, round "
	      "robin)\n"
	      "  --subs N --channels N --chan-prefix S --pub-conns N\n"
	      "  --pub-ws (publish over WebSocket) --window N --size BYTES\n"
	      "  --rates R1,R2,.. (0 = as fast as possible) --duration S\n"
	      "  --drain S --hold S --keep-going --max-p99-ms MS --conc N\n"
	      "  --pin (each channel published by one connection: k order)\n"
	      "  --refine N (steps below the first failed rate) --reps N\n"
	      "  --warmup S (seconds at the first rate, not reported)\n"
	      "  --stalls MS (name the 50-ms slices of send time whose worst "
	      "delivery took longer)\n"
	      "  --slow N (N subscribers stop reading, then resume)\n"
	      "  --ws2 PORT (every other subscriber on a second node)\n"
	      "  --polls N --setup-timeout S --timeout S --ready-file PATH\n"
	      "  --cpu-pids P,.. --stack-pids P,.. --rss-pids P,..\n",
	      stderr);
	exit(2);
}

/* The server's own count of waiting polls: GET the path of opt.lp_ready
 * ("PATH=KEY") on a connection of its own and read the number after KEY
 * (JSON "KEY":N or text "KEY: N"); -1 when it cannot be read. */
static long
lp_server_waiting(void)
{
	char path[256], req[2048], body[16384];
	const char *eq = strchr(opt.lp_ready, '='), *k;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	size_t got = 0;
	ssize_t n;
	int fd, len;

	if (!eq || (size_t)(eq - opt.lp_ready) >= sizeof(path))
		return -1;
	memcpy(path, opt.lp_ready, (size_t)(eq - opt.lp_ready));
	path[eq - opt.lp_ready] = 0;
	len = snprintf(req, sizeof(req),
		       "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n", path,
		       opt.http_port);
	for (int i = 0; i < opt.nheaders; i++)
		len += snprintf(req + len, sizeof(req) - (size_t)len, "%s\r\n",
				opt.headers[i]);
	len += snprintf(req + len, sizeof(req) - (size_t)len, "\r\n");
	sa.sin_port = htons((uint16_t)opt.http_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, (size_t)len) != len) {
		close(fd);
		return -1;
	}
	while (got < sizeof(body) - 1 &&
	       (n = read(fd, body + got, sizeof(body) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	body[got] = 0;
	if (!(k = strstr(body, eq + 1)))
		return -1;
	k += strlen(eq + 1);
	while (*k == '"' || *k == ':' || *k == ' ')
		k++;
	return *k >= '0' && *k <= '9' ? strtol(k, NULL, 10) : -1;
}

int
main(int argc, char **argv)
{
	int i = 1;
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	parse_rates("100");
	if (argc > 1 && argv[1][0] != '-')
		opt.mode = argv[i++];
	for (; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
		if (ARG("--proto"))
			opt.proto = strcmp(v, "ct") == 0 ? P_CT : P_PLAIN;
		else if (ARG("--ws"))
			opt.ws_port = atoi(v);
		else if (ARG("--http"))
			opt.http_port = atoi(v);
		else if (ARG("--ws-path"))
			opt.ws_path = v;
		else if (ARG("--pub-path"))
			opt.pub_path = v;
		else if (ARG("--lp-path"))
			opt.lp_path = v;
		else if (ARG("--lp-ready"))
			opt.lp_ready = v;
		else if (ARG("--origin"))
			opt.origin = v;
		else if (ARG("--subproto"))
			opt.subproto = v;
		else if (ARG("--tickets"))
			opt.tickets_file = v;
		else if (ARG("--sessions"))
			opt.sessions_file = v;
		else if (ARG("--ready-file"))
			opt.ready_file = v;
		else if (ARG("--after"))
			opt.after = v;
		else if (ARG("--chan-prefix"))
			opt.chan_prefix = v;
		else if (ARG("--header")) {
			if (opt.nheaders < MAX_HEADERS)
				opt.headers[opt.nheaders++] = v;
		} else if (ARG("--subs"))
			opt.subs = atoi(v);
		else if (ARG("--channels"))
			opt.channels = atoi(v);
		else if (ARG("--pub-conns"))
			opt.pub_conns = atoi(v);
		else if (ARG("--window"))
			opt.window = atoi(v);
		else if (ARG("--size"))
			opt.size = atoi(v);
		else if (ARG("--conc"))
			opt.conc = atoi(v);
		else if (ARG("--polls"))
			opt.polls = atoi(v);
		else if (ARG("--rates"))
			parse_rates(v);
		else if (ARG("--duration"))
			opt.duration = atof(v);
		else if (ARG("--drain"))
			opt.drain = atof(v);
		else if (ARG("--hold"))
			opt.hold = atof(v);
		else if (ARG("--stalls"))
			opt.stalls_ms = atof(v);
		else if (ARG("--max-p99-ms"))
			opt.max_p99_ms = atof(v);
		else if (ARG("--setup-timeout"))
			opt.setup_timeout = atof(v);
		else if (ARG("--timeout"))
			opt.timeout = atof(v);
		else if (ARG("--cpu-pids"))
			parse_pids(v, opt.cpu_pids, &opt.ncpu);
		else if (ARG("--stack-pids"))
			parse_pids(v, opt.stack_pids, &opt.nstack);
		else if (ARG("--rss-pids"))
			parse_pids(v, opt.rss_pids, &opt.nrss);
		else if (strcmp(a, "--pub-ws") == 0)
			opt.pub_ws = 1;
		else if (strcmp(a, "--keep-going") == 0)
			opt.keep_going = 1;
		else if (strcmp(a, "--pin") == 0)
			opt.pin = 1;
		else if (ARG("--warmup"))
			opt.warmup = atof(v);
		else if (ARG("--refine"))
			opt.refine = atoi(v);
		else if (ARG("--reps"))
			opt.reps = atoi(v);
		else if (ARG("--slow"))
			opt.slow = atoi(v);
		else if (ARG("--ws2"))
			opt.ws2_port = atoi(v);
		else
			usage();
#undef ARG
	}
	if (!opt.ws_port && strcmp(opt.mode, "longpoll") != 0)
		usage();
	if (opt.channels < 1 || opt.subs < 0 || opt.pub_conns < 0 ||
	    opt.size > 4000 || opt.duration <= 0 || opt.duration > 120 ||
	    opt.timeout > 900)
		die("bad option values");
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	rng_state ^= (uint64_t)now_ns() ^ (uint64_t)getpid() << 32;
	runid = (unsigned)(getpid() % 10000) * 100;
	deadline_ns = now_ns() + (int64_t)(opt.timeout * 1e9);
	if (opt.tickets_file)
		tickets = load_lines(opt.tickets_file, &ntickets);
	if (opt.sessions_file)
		sessions = load_lines(opt.sessions_file, &nsessions);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll: %s", strerror(errno));
	sub_ready = calloc((size_t)opt.channels, sizeof(int));
	chan_k = calloc((size_t)opt.channels, sizeof(*chan_k));
	if (!chan_k)
		die("out of memory");

	if (strcmp(opt.mode, "longpoll") == 0) {
		/* polls first, then one publisher */
		nconns = opt.polls + 1;
		conns = calloc((size_t)nconns, sizeof(*conns));
		for (i = 0; i < nconns; i++) {
			conns[i].fd = -1;
			conns[i].kind = i < opt.polls ? K_POLL : K_HTTPPUB;
		}
		first_pub = opt.polls;
		npubs = 1;
		connect_all(0, nconns);
		for (i = 0; i < opt.polls; i++) {
			char path[512];
			if (conns[i].st != S_READY)
				continue;
			expand(opt.lp_path, 0, path, sizeof(path));
			http_request(&conns[i], "GET", path, NULL, NULL, 0);
		}
		/* with --lp-ready, publish only once the server says every
		 * poll waits (up to 30 s): the figure is then the answering,
		 * not the taking in of the polls */
		double ready_ms = -1;
		if (opt.lp_ready) {
			int64_t t0 = now_ns(), end = t0 + 30 * (int64_t)1e9;
			while (now_ns() < end &&
			       lp_server_waiting() < (long)opt.polls)
				loop_once(20000000);
			ready_ms = (now_ns() - t0) / 1e6;
		}
		{
			int64_t end = now_ns() + (int64_t)(opt.hold * 1e9);
			while (now_ns() < end)
				loop_once(5000000);
		}
		int waiting = 0;
		long server_waiting = opt.lp_ready ? lp_server_waiting() : -1;
		for (i = 0; i < opt.polls; i++)
			waiting += conns[i].st == S_READY && conns[i].busy;
		note("%d polls waiting (%d answered early), publishing one",
		     waiting, lp_early);
		runid++;
		lp_post_ns = now_ns();
		publish_one(lp_post_ns);
		int64_t end = now_ns() + (int64_t)(opt.drain * 1e9);
		while (now_ns() < end && lp_answered - lp_early < waiting)
			loop_once(2000000);
		printf("RESULT mode=longpoll polls=%d waiting=%d early=%d "
		       "answered=%d ok=%d all_ms=%.3f p50_ms=%.3f p99_ms=%.3f "
		       "post_ms=%.3f ready_ms=%.1f server_waiting=%ld "
		       "failed=%d\n",
		       opt.polls, waiting, lp_early, lp_answered - lp_early,
		       lp_ok,
		       lp_last_ns ? (lp_last_ns - lp_post_ns) / 1e6 : -1.0,
		       hist_pct_ms(&lp_hist, 50), hist_pct_ms(&lp_hist, 99),
		       lp_acked_ns ? (lp_acked_ns - lp_post_ns) / 1e6 : -1.0,
		       ready_ms, server_waiting, failed);
		return 0;
	}

	/* subscribers, then publishers */
	npubs = strcmp(opt.mode, "idle") == 0 ? 0 : opt.pub_conns;
	nconns = opt.subs + npubs;
	conns = calloc((size_t)nconns + 1, sizeof(*conns));
	if (!conns || !sub_ready)
		die("out of memory");
	for (i = 0; i < nconns; i++) {
		conns[i].fd = -1;
		if (i < opt.subs) {
			conns[i].kind = K_SUB;
			conns[i].chan = i % opt.channels;
		} else {
			conns[i].kind = opt.pub_ws ? K_WSPUB : K_HTTPPUB;
		}
	}
	first_pub = opt.subs;
	long rss0 = rss_kb(opt.rss_pids, opt.nrss);
	int64_t t_setup = now_ns();
	connect_all(0, opt.subs);
	double setup_s = (now_ns() - t_setup) / 1e9;
	note("%d of %d subscribers ready in %.1f s (%d failed)", ready_subs,
	     opt.subs, setup_s, failed);
	if (opt.nrss > 0 || npubs == 0) {
		/* memory of the idle, subscribed connections before any load */
		int64_t end = now_ns() + (int64_t)(opt.hold * 1e9);
		while (now_ns() < end)
			loop_once(5000000);
		long rss1 = rss_kb(opt.rss_pids, opt.nrss);
		printf("RESULT mode=idle subs=%d ready=%d failed=%d "
		       "setup_s=%.2f "
		       "rss0_kb=%ld rss1_kb=%ld per_conn_bytes=%.0f\n",
		       opt.subs, ready_subs, failed, setup_s, rss0, rss1,
		       ready_subs ? (rss1 - rss0) * 1024.0 / ready_subs : 0.0);
		fflush(stdout);
		if (npubs == 0)
			return 0;
	}
	connect_all(opt.subs, nconns);
	if (ready_pubs == 0)
		die("no publisher connection is ready");
	/* let the server finish the setup's work (at most 30 s) so that it
	 * is not counted against the first step */
	for (int q = 0; q < 60 && opt.ncpu > 0; q++) {
		double c0 = cpu_ms(opt.cpu_pids, opt.ncpu);
		int64_t end = now_ns() + 500000000;
		while (now_ns() < end)
			loop_once(5000000);
		if (cpu_ms(opt.cpu_pids, opt.ncpu) - c0 <= 10)
			break;
	}
	if (opt.ready_file) {
		FILE *f =
			fopen(opt.ready_file, "w"); /* tells: publishing now */
		if (f)
			fclose(f);
	}
	if (opt.slow > 0)
		slow_step(opt.rates[0]);
	else
		ladder();
	return 0;
}

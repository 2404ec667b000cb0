/* log.c - key=value lines on stderr, one write(2) each. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static const char *comp = "crosstalk";
static enum ct_log_level cur = CT_LOG_INFO;
static int journal;

static const char *const names[] = { "error", "warn", "info", "debug" };
static const int syslog_prio[] = { 3, 4, 6, 7 };

void
ct_log_init(const char *component, enum ct_log_level level)
{
	comp = component;
	cur = level;
	journal = getenv("JOURNAL_STREAM") != NULL;
}

void
ct_log_set_level(enum ct_log_level level)
{
	cur = level;
}

int
ct_log_parse_level(const char *s)
{
	if (strcmp(s, "warning") == 0)
		return CT_LOG_WARN;
	for (int i = 0; i <= CT_LOG_DEBUG; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int
ct_log_enabled(enum ct_log_level level)
{
	return level <= cur;
}

void
ct_log(enum ct_log_level level, const char *fmt, ...)
{
	char line[2048];
	size_t n = 0;
	va_list ap;
	int r;

	if (level > cur)
		return;
	if (journal) {
		r = snprintf(line, sizeof(line), "<%d>level=%s comp=%s ",
			     syslog_prio[level], names[level], comp);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		r = snprintf(line, sizeof(line),
			     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s "
			     "comp=%s ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			     tm.tm_hour, tm.tm_min, tm.tm_sec,
			     ts.tv_nsec / 1000000, names[level], comp);
	}
	n = r > 0 ? (size_t)r : 0;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n - 1 ? (size_t)r
						      : sizeof(line) - n - 2;
	/* one event, one line: a value carrying control characters (a user's
	 * text, a server message) must not split it or forge another line */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = ' ';
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

const char *
ct_log_q(const char *s)
{
	static __thread char bufs[8][210 * 4 + 8];
	static __thread unsigned next;
	static const char hex[] = "0123456789abcdef";
	char *out = bufs[next++ % 8], *o = out;
	size_t n = 0;

	*o++ = '"';
	for (; s && *s && n < 200; s++, n++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	if (s && *s) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '"';
	*o = 0;
	return out;
}

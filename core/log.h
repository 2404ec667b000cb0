/* log.h - one line per event on stderr: "level=info comp=wsd msg=... k=v".
 * journald-friendly (a <N> priority prefix when JOURNAL_STREAM is set). */
#ifndef CT_LOG_H
#define CT_LOG_H

enum ct_log_level {
	CT_LOG_ERROR = 0,
	CT_LOG_WARN,
	CT_LOG_INFO,
	CT_LOG_DEBUG,
};

/* component: "fcgi", "wsd", "ctl"; borrowed, must outlive logging. */
void ct_log_init(const char *component, enum ct_log_level level);
void ct_log_set_level(enum ct_log_level level);
/* "error", "warn"/"warning", "info", "debug" -> level; -1 if unknown. */
int ct_log_parse_level(const char *s);
int ct_log_enabled(enum ct_log_level level);

/* fmt is the rest of the line in key=value form: ct_log(CT_LOG_INFO,
 * "msg=\"listening\" port=%d", port). Thread-safe (one write per line). */
void ct_log(enum ct_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* s as a quoted log value: "..." with '"', '\\' and control bytes escaped
 * and at most 200 bytes of s, so a value from a user (an id, a name) can
 * never end a field or fake another one. The result lives in one of 8
 * per-thread buffers: use it within the ct_log call. */
const char *ct_log_q(const char *s);

#define ct_err(...)  ct_log(CT_LOG_ERROR, __VA_ARGS__)
#define ct_warn(...) ct_log(CT_LOG_WARN, __VA_ARGS__)
#define ct_info(...) ct_log(CT_LOG_INFO, __VA_ARGS__)
#define ct_debug(...)                                                          \
	do {                                                                   \
		if (ct_log_enabled(CT_LOG_DEBUG))                              \
			ct_log(CT_LOG_DEBUG, __VA_ARGS__);                     \
	} while (0)

#endif /* CT_LOG_H */

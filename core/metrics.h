/* metrics.h - counters, gauges and histograms rendered in Prometheus text
 * format. Each program defines its metrics as static objects; updates are
 * lock-free atomics, so fcgi's worker threads share them safely. */
#ifndef CT_METRICS_H
#define CT_METRICS_H

#include <stdatomic.h>
#include <stddef.h>

enum ct_metric_type { CT_COUNTER, CT_GAUGE };

struct ct_metric {
	const char *name; /* crosstalk_wsd_connections */
	const char *help; /* one line */
	enum ct_metric_type type;
	const char *labels; /* `reason="bad_ticket"` or NULL */
	atomic_llong value;
};

#define CT_HIST_BUCKETS 14
/* Upper bounds in milliseconds, shared by every histogram. */
extern const double ct_hist_bounds_ms[CT_HIST_BUCKETS];

struct ct_histogram {
	const char *name; /* crosstalk_wsd_publish_ack_seconds */
	const char *help;
	atomic_ullong buckets[CT_HIST_BUCKETS + 1]; /* last: +Inf */
	atomic_ullong count;
	atomic_ullong sum_us;
};

static inline void
ct_metric_add(struct ct_metric *m, long long d)
{
	atomic_fetch_add_explicit(&m->value, d, memory_order_relaxed);
}

static inline void
ct_metric_set(struct ct_metric *m, long long v)
{
	atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

void ct_hist_observe(struct ct_histogram *h, double ms);

/* Render the metrics (several entries may share a name with different
 * labels: give them next to each other) and histograms. Returns malloc'd
 * text (caller frees) or NULL. */
char *ct_metrics_render(struct ct_metric *const *m, size_t nm,
			struct ct_histogram *const *h, size_t nh);

/* May a client at addr read metrics? allow is a space-separated list of
 * addresses ("127.0.0.1 ::1"), token the configured admin token ("" =
 * none), bearer what the client sent (NULL = nothing). */
int ct_metrics_allowed(const char *allow, const char *addr, const char *token,
		       const char *bearer);

#endif /* CT_METRICS_H */

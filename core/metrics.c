/* metrics.c - Prometheus text rendering and the access check. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/metrics.h"

const double ct_hist_bounds_ms[CT_HIST_BUCKETS] = {
	0.5, 1, 2, 5, 10, 15, 25, 50, 100, 250, 500, 1000, 2500, 10000,
};

void
ct_hist_observe(struct ct_histogram *h, double ms)
{
	int i = 0;

	while (i < CT_HIST_BUCKETS && ms > ct_hist_bounds_ms[i])
		i++;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us,
				  (unsigned long long)(ms < 0 ? 0 : ms * 1000),
				  memory_order_relaxed);
}

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *b = realloc(o->buf, cap);

		if (!b) {
			o->failed = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
}

char *
ct_metrics_render(struct ct_metric *const *m, size_t nm,
		  struct ct_histogram *const *h, size_t nh)
{
	struct out o = { malloc(4096), 0, 4096, 0 }; /* returned to caller */

	if (!o.buf)
		return NULL;
	o.buf[0] = 0;
	for (size_t i = 0; i < nm; i++) {
		/* HELP/TYPE once per name; labelled series follow together */
		if (i == 0 || strcmp(m[i - 1]->name, m[i]->name) != 0)
			put(&o, "# HELP %s %s\n# TYPE %s %s\n", m[i]->name,
			    m[i]->help, m[i]->name,
			    m[i]->type == CT_COUNTER ? "counter" : "gauge");
		if (m[i]->labels)
			put(&o, "%s{%s} %lld\n", m[i]->name, m[i]->labels,
			    (long long)atomic_load(&m[i]->value));
		else
			put(&o, "%s %lld\n", m[i]->name,
			    (long long)atomic_load(&m[i]->value));
	}
	for (size_t i = 0; i < nh; i++) {
		unsigned long long cum = 0;

		put(&o, "# HELP %s %s\n# TYPE %s histogram\n", h[i]->name,
		    h[i]->help, h[i]->name);
		for (int b = 0; b <= CT_HIST_BUCKETS; b++) {
			cum += atomic_load(&h[i]->buckets[b]);
			if (b < CT_HIST_BUCKETS)
				put(&o, "%s_bucket{le=\"%g\"} %llu\n",
				    h[i]->name, ct_hist_bounds_ms[b] / 1000.0,
				    cum);
			else
				put(&o, "%s_bucket{le=\"+Inf\"} %llu\n",
				    h[i]->name, cum);
		}
		put(&o, "%s_sum %.6f\n%s_count %llu\n", h[i]->name,
		    (double)atomic_load(&h[i]->sum_us) / 1e6, h[i]->name,
		    (unsigned long long)atomic_load(&h[i]->count));
	}
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}

int
ct_metrics_allowed(const char *allow, const char *addr, const char *token,
		   const char *bearer)
{
	size_t alen;

	if (token && token[0] && bearer && ct_auth_equal(token, bearer))
		return 1;
	if (!addr || !(alen = strlen(addr)))
		return 0;
	for (const char *p = allow; p && *p;) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == alen && strncmp(p, addr, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

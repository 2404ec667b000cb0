/* test_metrics.c - Prometheus text format and the scrape access check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static struct ct_metric conns = { "ct_conns", "Open connections.", CT_GAUGE,
				  NULL, 0 };
static struct ct_metric fail_a = { "ct_auth_failures_total", "Failed logins.",
				   CT_COUNTER, "reason=\"bad_ticket\"", 0 };
static struct ct_metric fail_b = { "ct_auth_failures_total", "Failed logins.",
				   CT_COUNTER, "reason=\"origin\"", 0 };
static struct ct_histogram lat = {
	"ct_ack_seconds", "Publish to ack.", { 0 }, 0, 0
};

static void
render(void **state)
{
	struct ct_metric *const ms[] = { &conns, &fail_a, &fail_b };
	struct ct_histogram *const hs[] = { &lat };
	char *text;

	(void)state;
	ct_metric_set(&conns, 7);
	ct_metric_add(&fail_a, 2);
	ct_metric_add(&fail_b, 1);
	ct_hist_observe(&lat, 0.3);
	ct_hist_observe(&lat, 12);
	ct_hist_observe(&lat, 99999);
	text = ct_metrics_render(ms, 3, hs, 1);
	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE ct_conns gauge\nct_conns 7\n"));
	/* one HELP/TYPE for both labelled series */
	assert_non_null(strstr(text,
			       "# TYPE ct_auth_failures_total counter\n"
			       "ct_auth_failures_total{reason="
			       "\"bad_ticket\"} 2\n"
			       "ct_auth_failures_total{reason=\"origin\"} "
			       "1\n"));
	assert_non_null(
		strstr(text, "ct_ack_seconds_bucket{le=\"0.0005\"} 1\n"));
	assert_non_null(
		strstr(text, "ct_ack_seconds_bucket{le=\"0.015\"} 2\n"));
	assert_non_null(strstr(text, "ct_ack_seconds_bucket{le=\"10\"} 2\n"));
	assert_non_null(strstr(text, "ct_ack_seconds_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(text, "ct_ack_seconds_count 3\n"));
	free(text);
}

static void
access_check(void **state)
{
	(void)state;
	assert_true(ct_metrics_allowed("127.0.0.1 ::1", "127.0.0.1", "", NULL));
	assert_true(ct_metrics_allowed("127.0.0.1 ::1", "::1", "", NULL));
	assert_false(
		ct_metrics_allowed("127.0.0.1 ::1", "127.0.0.12", "", NULL));
	assert_false(ct_metrics_allowed("127.0.0.1", "10.0.0.1", "", NULL));
	assert_false(ct_metrics_allowed("127.0.0.1", "10.0.0.1", "", ""));
	assert_true(ct_metrics_allowed("127.0.0.1", "10.0.0.1", "s3cret",
				       "s3cret"));
	assert_false(
		ct_metrics_allowed("127.0.0.1", "10.0.0.1", "s3cret", "s3cre"));
	assert_false(ct_metrics_allowed("", "127.0.0.1", "", NULL));
	assert_false(ct_metrics_allowed("127.0.0.1", NULL, "", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(render),
		cmocka_unit_test(access_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

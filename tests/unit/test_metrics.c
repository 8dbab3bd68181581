/* test_metrics.c - the registry and its text: a counter with labels, a
 * gauge, a histogram's cumulative buckets, +Inf, _sum and _count, label
 * value escaping, the series cap (at cap and cap + 1), collectors (a
 * duplicate family is skipped), names refused, and NULL-safety. */
#include "check.h"
#include "propflow/base/metrics.h"

#include <stdlib.h>
#include <string.h>

static void collect_cb(void *arg, pf_metrics_scrape *sc)
{
	int *calls = arg;
	(*calls)++;
	pf_metrics_family(sc, "t_pool_depth", PF_METRIC_GAUGE, "Depth.");
	pf_metrics_sample(sc, 3, "role", "writer", NULL);
	pf_metrics_sample(sc, 0.5, "role", "reader", NULL);
	pf_metrics_family(sc, "t_requests_total", PF_METRIC_COUNTER, "again: skipped");
	pf_metrics_sample(sc, 99, NULL);
}

int main(void)
{
	pf_metrics *m = pf_metrics_new();
	CHECK(m != NULL);
	static const char *const lbl[] = {"route", "status", NULL};
	pf_metric *req = pf_metrics_counter(m, "t_requests_total", "Requests.", lbl, 3);
	CHECK(req != NULL);
	CHECK(pf_metrics_counter(m, "t_requests_total", "dup", lbl, 3) == NULL);
	CHECK(pf_metrics_counter(m, "9bad", "x", NULL, 1) == NULL);
	static const char *const le[] = {"le", NULL};
	CHECK(pf_metrics_counter(m, "t_le", "x", le, 1) == NULL);
	CHECK(pf_metrics_counter(m, "t_big", "x", NULL, PF_METRICS_SERIES_MAX + 1) == NULL);

	const char *a[] = {"/api/imports/{id}", "200"};
	const char *b[] = {"say \"hi\"\\\n", "404"};
	pf_metric_series *sa = pf_metric_series_get(req, a);
	CHECK(sa != NULL);
	CHECK(pf_metric_series_get(req, a) == sa);
	pf_metric_add(sa, 2);
	pf_metric_add(sa, -1); /* a counter never goes down */
	pf_metric_add(pf_metric_series_get(req, b), 1);
	CHECK_INT(pf_metric_value(sa), 2);
	/* the cap: 3 series; the third fits, the fourth is dropped */
	const char *c3[] = {"c", "500"}, *c4[] = {"d", "500"};
	CHECK(pf_metric_series_get(req, c3) != NULL);
	CHECK(pf_metric_series_get(req, c4) == NULL);
	/* a value over PF_METRICS_VALUE_MAX is cut, and found again cut */
	char longv[200];
	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = 0;
	const char *lv[] = {longv, "200"};
	CHECK(pf_metric_series_get(req, lv) == NULL); /* family full */

	pf_metric *g = pf_metrics_gauge(m, "t_open", "Open things.", NULL, 1);
	pf_metric_add(pf_metric_only(g), 5);
	pf_metric_add(pf_metric_only(g), -2);
	CHECK_INT(pf_metric_value(pf_metric_only(g)), 3);

	static const double bounds[] = {0.1, 1, 10};
	pf_metric *h =
	    pf_metrics_histogram(m, "t_seconds", "Latency\nin seconds.", NULL, 1, bounds, 3);
	CHECK(h != NULL);
	pf_metric_series *hs = pf_metric_only(h);
	pf_metric_observe(hs, 0.05);
	pf_metric_observe(hs, 0.1); /* le is inclusive */
	pf_metric_observe(hs, 5);
	pf_metric_observe(hs, 50);
	static const double bad[] = {1, 1};
	CHECK(pf_metrics_histogram(m, "t_bad", "x", NULL, 1, bad, 2) == NULL);

	int calls = 0;
	CHECK_INT(pf_metrics_collector_add(m, collect_cb, &calls), 0);
	char *text;
	size_t len;
	CHECK_INT(pf_metrics_render(m, &text, &len), 0);
	CHECK_INT(calls, 1);
	CHECK_INT(strlen(text), len);
	CHECK(
	    strstr(text, "# HELP t_requests_total Requests.\n# TYPE t_requests_total counter\n") !=
	    NULL);
	CHECK(strstr(text, "t_requests_total{route=\"/api/imports/{id}\",status=\"200\"} 2\n") !=
	      NULL);
	CHECK(
	    strstr(text, "t_requests_total{route=\"say \\\"hi\\\"\\\\\\n\",status=\"404\"} 1\n") !=
	    NULL);
	CHECK(strstr(text, "t_requests_total 99") == NULL);
	CHECK(strstr(text, "# HELP t_seconds Latency\\nin seconds.\n") != NULL);
	CHECK(strstr(text, "t_seconds_bucket{le=\"0.1\"} 2\nt_seconds_bucket{le=\"1\"} 2\n"
	                   "t_seconds_bucket{le=\"10\"} 3\nt_seconds_bucket{le=\"+Inf\"} 4\n"
	                   "t_seconds_sum 55.15\nt_seconds_count 4\n") != NULL);
	CHECK(strstr(text, "# TYPE t_open gauge\nt_open 3\n") != NULL);
	CHECK(
	    strstr(text, "t_pool_depth{role=\"writer\"} 3\nt_pool_depth{role=\"reader\"} 0.5\n") !=
	    NULL);
	CHECK(strstr(text, "pf_metrics_series_dropped_total 2\n") != NULL);
	CHECK(strstr(text, "process_resident_memory_bytes ") != NULL);
	CHECK(strstr(text, "process_open_fds ") != NULL);
	CHECK(strstr(text, "process_start_time_seconds ") != NULL);
	free(text);

	pf_metrics_collector_remove(m, collect_cb, &calls);
	CHECK_INT(pf_metrics_render(m, &text, &len), 0);
	CHECK_INT(calls, 1);
	CHECK(strstr(text, "t_pool_depth") == NULL);
	free(text);

	char v[32];
	pf_metrics_format_value(0.1, v);
	CHECK_STR(v, "0.1");
	pf_metrics_format_value(1e20, v);
	CHECK_STR(v, "1e+20");
	pf_metrics_format_value(-3, v);
	CHECK_STR(v, "-3");
	pf_metrics_format_value(1.0 / 0.0, v);
	CHECK_STR(v, "+Inf");

	/* no registry: every call is a no-op */
	CHECK(pf_metrics_counter(NULL, "x", "x", NULL, 1) == NULL);
	CHECK(pf_metric_series_get(NULL, a) == NULL);
	pf_metric_add(NULL, 1);
	pf_metric_observe(NULL, 1);
	CHECK_INT(pf_metrics_collector_add(NULL, collect_cb, &calls), 0);
	pf_metrics_free(m);
	pf_metrics_free(NULL);
	return CHECK_DONE();
}

/*
 * metrics.h - a registry of counters, gauges and histograms, rendered in
 * the Prometheus text exposition format (version 0.0.4) for GET /metrics.
 *
 * Families have a fixed set of label names, given at registration, and a
 * fixed cap on their series (label value combinations): every series a
 * family may ever hold is allocated when it is registered, so observing a
 * value never allocates, and the scrape's size is bounded by the sum of the
 * caps. A combination past the cap is not recorded (counted in
 * pf_metrics_series_dropped_total instead). Label values must come from a
 * bounded set by design: route patterns of the route table, never raw
 * paths; statuses as numbers; pool roles.
 *
 * Everything is NULL-safe: a module given no registry (a unit test, a
 * command line mode) registers nothing, gets NULL families and series, and
 * its observations are no-ops. Single-threaded, like the loop: no locks.
 *
 * Hot path: look a series up once (pf_metric_series_get, one hash of the
 * values) or keep the pointer of an unlabelled one (pf_metric_only), then
 * pf_metric_add / _set / _observe.
 *
 * Scrape-time samples: a module whose numbers already live in its own
 * structures (a pool's queue lengths, a cache's bytes) registers one
 * collect callback instead of updating gauges on every change:
 *
 *     static void cache_collect_cb(void *arg, pf_metrics_scrape *sc)
 *     {
 *             const pf_cache *c = arg;
 *             pf_metrics_family(sc, "pf_cache_bytes", PF_METRIC_GAUGE, "Bytes held.");
 *             pf_metrics_sample(sc, (double)c->bytes, NULL);
 *             pf_metrics_family(sc, "pf_cache_lookups_total", PF_METRIC_COUNTER,
 *                               "Lookups by result.");
 *             pf_metrics_sample(sc, (double)c->hits, "result", "hit", NULL);
 *             pf_metrics_sample(sc, (double)c->misses, "result", "miss", NULL);
 *     }
 *     ...
 *     if (pf_metrics_collector_add(m, cache_collect_cb, cache) != 0) ...
 *     ... and pf_metrics_collector_remove(m, cache_collect_cb, cache) before
 *     the cache is freed (when the registry outlives it).
 *
 * A collector declares each of its families once (pf_metrics_family) and
 * gives all of that family's samples right after it; it emits counters and
 * gauges only (histograms are registered). A family name already used (by
 * a registered family or another collector) is skipped whole with a
 * warning, so the output never declares a family twice. The collector must
 * not emit the same label values twice in one family.
 *
 * Ownership: the registry owns its families and series; names, help texts
 * and label names are borrowed and must be static; label values are
 * copied (cut to PF_METRICS_VALUE_MAX bytes). A collector's arg is
 * borrowed until it is removed or the registry freed.
 */
#ifndef PROPFLOW_METRICS_H
#define PROPFLOW_METRICS_H

#include "propflow/base/common.h"

#define PF_METRICS_LABELS_MAX     4          /* label names of one family */
#define PF_METRICS_VALUE_MAX      63         /* bytes of a label value; longer ones are cut */
#define PF_METRICS_BUCKETS_MAX    24         /* finite upper bounds of a histogram */
#define PF_METRICS_FAMILIES_MAX   64         /* registered families */
#define PF_METRICS_SERIES_MAX     4096       /* series of one family */
#define PF_METRICS_COLLECTORS_MAX 32         /* collect callbacks */
#define PF_METRICS_COLLECTED_MAX  128        /* families collectors emit in one scrape */
#define PF_METRICS_SCRAPE_MAX     (16 << 20) /* bytes of one rendered scrape */
#define PF_METRICS_CONTENT_TYPE   "text/plain; version=0.0.4; charset=utf-8"

typedef enum pf_metric_type {
	PF_METRIC_COUNTER = 0,
	PF_METRIC_GAUGE,
	PF_METRIC_HISTOGRAM,
} pf_metric_type;

typedef struct pf_metrics pf_metrics;
typedef struct pf_metric pf_metric;               /* a family */
typedef struct pf_metric_series pf_metric_series; /* one label value combination */
typedef struct pf_metrics_scrape pf_metrics_scrape;

/* NULL on ENOMEM. Notes the process start time (process_start_time_seconds). */
pf_metrics *pf_metrics_new(void);
/* NULL is safe. Every family and series goes with it. */
void pf_metrics_free(pf_metrics *m);

/*
 * Register a family. name: [a-zA-Z_:][a-zA-Z0-9_:]*, unique in the
 * registry; labels: a NULL-terminated list of at most PF_METRICS_LABELS_MAX
 * names ([a-zA-Z_][a-zA-Z0-9_]*, not "__*", not "le"), or NULL for none;
 * max_series: 1 .. PF_METRICS_SERIES_MAX series allocated now. Returns NULL
 * (logged) for a NULL registry, an invalid or duplicate name, a full
 * registry or ENOMEM; a NULL family is a valid no-op family.
 */
pf_metric *pf_metrics_counter(pf_metrics *m, const char *name, const char *help,
                              const char *const *labels, size_t max_series);
pf_metric *pf_metrics_gauge(pf_metrics *m, const char *name, const char *help,
                            const char *const *labels, size_t max_series);
/* bounds: nbounds (1 .. PF_METRICS_BUCKETS_MAX) finite upper bounds,
 * strictly increasing; the +Inf bucket is implicit. Copied. */
pf_metric *pf_metrics_histogram(pf_metrics *m, const char *name, const char *help,
                                const char *const *labels, size_t max_series, const double *bounds,
                                size_t nbounds);

/* The series of values (one per label name, in their order; NULL reads as
 * ""), made on first use in the family's preallocated space. NULL when f
 * is NULL or its series are all taken (counted as dropped). */
pf_metric_series *pf_metric_series_get(pf_metric *f, const char *const *values);
/* The one series of a family without labels (NULL-safe). */
pf_metric_series *pf_metric_only(pf_metric *f);

/* Counter (v >= 0; a negative v is ignored) or gauge. NULL-safe. */
void pf_metric_add(pf_metric_series *s, double v);
/* Gauge. NULL-safe. */
void pf_metric_set(pf_metric_series *s, double v);
/* Histogram: one observation (NaN is ignored). NULL-safe. */
void pf_metric_observe(pf_metric_series *s, double v);
/* A series' value (counter/gauge) or observation count (histogram); 0 for NULL. For tests. */
double pf_metric_value(const pf_metric_series *s);

/* --- collectors (see the example above) --- */
typedef void (*pf_metrics_collect_cb)(void *arg, pf_metrics_scrape *sc);
/* 0, PF_ELIMIT past PF_METRICS_COLLECTORS_MAX; a NULL registry is a no-op (0). */
PF_MUST_CHECK int pf_metrics_collector_add(pf_metrics *m, pf_metrics_collect_cb cb, void *arg);
/* The registration of (cb, arg), if any, goes. NULL-safe. */
void pf_metrics_collector_remove(pf_metrics *m, pf_metrics_collect_cb cb, void *arg);
/* Inside a collect callback: start a family (name and help static).
 * type is PF_METRIC_COUNTER or PF_METRIC_GAUGE. */
void pf_metrics_family(pf_metrics_scrape *sc, const char *name, pf_metric_type type,
                       const char *help);
/* A sample of the current family: label name/value pairs, NULL-ended. */
void pf_metrics_sample(pf_metrics_scrape *sc, double v, ...) __attribute__((sentinel));

/*
 * The whole exposition: registered families in registration order (only
 * series that were touched), the process families, then the collectors'.
 * *out is malloc'd (NUL-terminated, *len bytes). 0, PF_ENOMEM, or PF_ELIMIT
 * past PF_METRICS_SCRAPE_MAX.
 */
PF_MUST_CHECK int pf_metrics_render(pf_metrics *m, char **out, size_t *len);

/* Shortest text that reads back as v ("+Inf", "-Inf", "NaN" as Prometheus
 * spells them). out holds at least 32 bytes. Pure; exposed for tests. */
void pf_metrics_format_value(double v, char out[32]);

#endif

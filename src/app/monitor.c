/*
 * monitor.c - event-loop lag and the pools' load (see monitor.h). The lag
 * timer re-arms itself each time from the moment it ran, so each sample is
 * the lateness of one wake-up: how long a ready event (a timer, a request)
 * waited behind the callback the loop was in. Four wake-ups a second cost
 * nothing measurable; a scrape reads the pools' queue lengths as they are.
 */
#include "propflow/app/monitor.h"
#include "propflow/base/log.h"

#include <stdlib.h>
#include <time.h>

/* Seconds late: a healthy loop is well under a millisecond; a CPU-bound
 * callback (a large page, a hash on the loop) shows as tens of ms. */
static const double lag_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1,    5};

typedef struct monitor_pool {
	pf_db *db;        /* borrowed */
	const char *role; /* borrowed, static */
} monitor_pool;

struct pf_monitor {
	pf_metrics *m;                            /* borrowed */
	struct event *lag_ev;                     /* owned: the lag timer */
	struct timespec due;                      /* when the timer should fire */
	pf_metric_series *lag;                    /* borrowed: histogram */
	monitor_pool pools[PF_MONITOR_POOLS_MAX]; /* watched pools */
	size_t npools;                            /* entries of pools */
};

static void lag_arm(pf_monitor *mon)
{
	clock_gettime(CLOCK_MONOTONIC, &mon->due);
	mon->due.tv_nsec += (long)PF_MONITOR_LAG_INTERVAL_MS * 1000000L;
	while (mon->due.tv_nsec >= 1000000000L) {
		mon->due.tv_nsec -= 1000000000L;
		mon->due.tv_sec++;
	}
	struct timeval tv = {PF_MONITOR_LAG_INTERVAL_MS / 1000,
	                     (PF_MONITOR_LAG_INTERVAL_MS % 1000) * 1000};
	evtimer_add(mon->lag_ev, &tv);
}

static void lag_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_monitor *mon = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double late =
	    (double)(now.tv_sec - mon->due.tv_sec) + (double)(now.tv_nsec - mon->due.tv_nsec) / 1e9;
	/* libevent may fire a hair early (its clock is cached per loop turn) */
	pf_metric_observe(mon->lag, late > 0 ? late : 0);
	lag_arm(mon);
}

static void pools_collect_cb(void *arg, pf_metrics_scrape *sc)
{
	const pf_monitor *mon = arg;
	pf_db_stats st[PF_MONITOR_POOLS_MAX];
	for (size_t i = 0; i < mon->npools; i++)
		pf_db_stats_get(mon->pools[i].db, &st[i]);
	pf_metrics_family(sc, "pf_db_pipeline_depth", PF_METRIC_GAUGE,
	                  "Queries sent on the pool's connections whose results are awaited.");
	for (size_t i = 0; i < mon->npools; i++)
		pf_metrics_sample(sc, (double)st[i].inflight, "role", mon->pools[i].role, NULL);
	pf_metrics_family(sc, "pf_db_waiting", PF_METRIC_GAUGE,
	                  "Queries waiting for room in a connection's pipeline (or for a "
	                  "connection).");
	for (size_t i = 0; i < mon->npools; i++)
		pf_metrics_sample(sc, (double)st[i].waiting, "role", mon->pools[i].role, NULL);
	pf_metrics_family(sc, "pf_db_connections_ready", PF_METRIC_GAUGE,
	                  "Usable database connections of the pool.");
	for (size_t i = 0; i < mon->npools; i++)
		pf_metrics_sample(sc, (double)st[i].ready, "role", mon->pools[i].role, NULL);
	pf_metrics_family(sc, "pf_db_connections", PF_METRIC_GAUGE,
	                  "Database connections of the pool (--db-writers, --db-readers).");
	for (size_t i = 0; i < mon->npools; i++)
		pf_metrics_sample(sc, (double)st[i].conns, "role", mon->pools[i].role, NULL);
}

pf_monitor *pf_monitor_new(struct event_base *base, pf_metrics *m)
{
	if (!m)
		return NULL;
	pf_monitor *mon = calloc(1, sizeof(*mon));
	if (!mon)
		return NULL;
	mon->m = m;
	mon->lag = pf_metric_only(pf_metrics_histogram(
	    m, "pf_event_loop_lag_seconds",
	    "How late the event loop ran a timer due every 250 ms (the time ready work waits).",
	    NULL, 1, lag_bounds, PF_ARRAY_LEN(lag_bounds)));
	mon->lag_ev = evtimer_new(base, lag_cb, mon);
	if (!mon->lag_ev || pf_metrics_collector_add(m, pools_collect_cb, mon) != 0) {
		pf_monitor_free(mon);
		return NULL;
	}
	lag_arm(mon);
	return mon;
}

int pf_monitor_pool(pf_monitor *mon, pf_db *db, const char *role)
{
	if (!mon || !db)
		return 0;
	if (mon->npools >= PF_MONITOR_POOLS_MAX)
		return PF_ELIMIT;
	mon->pools[mon->npools++] = (monitor_pool){db, role};
	return 0;
}

void pf_monitor_forget_pools(pf_monitor *mon)
{
	if (mon)
		mon->npools = 0;
}

void pf_monitor_free(pf_monitor *mon)
{
	if (!mon)
		return;
	pf_metrics_collector_remove(mon->m, pools_collect_cb, mon);
	if (mon->lag_ev)
		event_free(mon->lag_ev);
	free(mon);
}

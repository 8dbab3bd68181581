/*
 * job_meters.c - the imports' instruments: rows stored and batch latency
 * (updated as each batch commits, job_records.c), imports finished by
 * state (job_base.c), and at scrape time the imports this process runs,
 * by state. Counting the running imports from the registry of live jobs
 * costs nothing between scrapes and needs no query; each instance reports
 * its own, and Prometheus sums them across instances.
 */
#include "job_internal.h"
#include "propflow/base/log.h"

/* Seconds from a batch sent to its commit: 500 rows commit in a few ms on
 * a quiet database; a stalled database shows in the last buckets. */
static const double batch_seconds_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,   0.25,   0.5,   1,    2.5,   10};

static void jobs_collect_cb(void *arg, pf_metrics_scrape *sc)
{
	const pf_job_env *env = arg;
	double n[PF_JOB_CANCELLED + 1] = {0};
	for (const pf_job *j = env->jobs; j; j = pf_job_next(j))
		n[pf_job_state_of(j)]++;
	pf_metrics_family(sc, "pf_imports", PF_METRIC_GAUGE,
	                  "Imports this process runs, by state (a terminal state only until "
	                  "the job object is let go).");
	for (int st = PF_JOB_RECEIVING; st <= PF_JOB_CANCELLED; st++)
		pf_metrics_sample(sc, n[st], "state", pf_job_state_name((pf_job_state)st), NULL);
}

void pf_job_env_meter(pf_job_env *env, pf_metrics *m)
{
	if (!m)
		return;
	static const char *const by_state[] = {"state", NULL};
	pf_job_meters *mt = &env->meters;
	mt->rows_stored = pf_metric_only(pf_metrics_counter(
	    m, "pf_import_rows_stored_total",
	    "Rows stored by committed import batches (rate() of it is rows stored per second).",
	    NULL, 1));
	mt->batch_seconds = pf_metric_only(pf_metrics_histogram(
	    m, "pf_import_batch_duration_seconds",
	    "Time from an import batch sent to the database to its commit.", NULL, 1,
	    batch_seconds_bounds, PF_ARRAY_LEN(batch_seconds_bounds)));
	mt->finished = pf_metrics_counter(m, "pf_imports_finished_total",
	                                  "Imports this process brought to a terminal state.",
	                                  by_state, PF_JOB_CANCELLED + 1);
	if (pf_metrics_collector_add(m, jobs_collect_cb, env) != 0)
		pf_warn("jobs: no room for the imports metrics");
}

void pf_job_env_unmeter(pf_job_env *env, pf_metrics *m)
{
	pf_metrics_collector_remove(m, jobs_collect_cb, env);
}

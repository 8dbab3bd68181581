/*
 * market.h - the market analysis of imports (schema/010_analysis.sql) kept
 * up to date in the background, on the writer pool, never blocking the
 * loop. The state lives in PostgreSQL only: another instance serves it, and
 * a takeover or restart continues it from there.
 *
 * Running: each running import this process runs is followed by one timer.
 * While its rows arrive, a step (pf_analysis_step) every PF_MARKET_STEP_MS
 * at the soonest folds the rows stored since the last step (at most
 * PF_MARKET_STEP_ROWS, by row_no range) into mergeable per-group bins, so a
 * step costs what those rows cost, never a scan of the whole import. The
 * next step waits twice as long as the last one took (up to
 * PF_MARKET_WAIT_MAX_MS), so a slow database spends at most about a third of
 * one backend on it while the analysis stays a few seconds behind.
 *
 * The first step comes PF_MARKET_FIRST_MS after the first rows: an import
 * that ends sooner gets the final pass only.
 *
 * Final: when an import ends done, one unit runs the exact pass
 * (pf_analysis_final) for its visible generation. A sweep every
 * PF_MARKET_SWEEP_MS finds done imports whose analysis is not final (this
 * process stopped before the pass, or another one did) and runs it.
 *
 * Every change is told to the owner's WebSockets (pf_events_analysis).
 *
 * Ownership: the market owns its followers (one per import, at most
 * PF_MARKET_JOBS_MAX) and their timers; it borrows the pools and the hub.
 */
#ifndef PROPFLOW_MARKET_H
#define PROPFLOW_MARKET_H

#include "propflow/base/common.h"
#include "propflow/jobs/events.h"
#include "propflow/jobs/job.h"
#include "propflow/store/db.h"

#define PF_MARKET_FIRST_MS    2000  /* the first step of an import, after its first rows */
#define PF_MARKET_STEP_MS     1000  /* a running analysis steps at most this often */
#define PF_MARKET_WAIT_MAX_MS 3000  /* nor waits longer than this between steps */
#define PF_MARKET_STEP_ROWS   50000 /* rows one step folds in (the rest: the next step) */
#define PF_MARKET_JOBS_MAX    1024  /* imports followed at once; more wait for the sweep */
#define PF_MARKET_SWEEP_MS    10000 /* how often done imports without a final pass are sought */
#define PF_MARKET_SWEEP_MAX   4     /* imports finalized per sweep */

typedef struct pf_market pf_market;

/* NULL on ENOMEM. The sweep starts at once. work: the pool that carries
 * steps, final passes and seals, none other's; readers: the sweep's. */
pf_market *pf_market_new(struct event_base *base, pf_db *work, pf_db *readers, pf_events *events);
/* No unit is sent from now on (the pools are about to go); answers still
 * due are taken and dropped. */
void pf_market_stop(pf_market *m);
/* After the pools are freed (no answer can come any more). */
void pf_market_free(pf_market *m);
/* The job env's change hook, beside the events hub's (app.c calls both). */
void pf_market_job_changed(pf_market *m, pf_job *job, bool final);

#endif

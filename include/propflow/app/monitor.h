/*
 * monitor.h - the process's own instruments, kept by the app: the event
 * loop's lag (a periodic timer measures how late it fires, observed in a
 * histogram), and the database pools' load per role at scrape time
 * (pipeline depth, units waiting for a connection, usable connections).
 *
 * Ownership: the monitor owns its timer; it borrows the registry and the
 * pools, which must outlive it (free it before them).
 */
#ifndef PROPFLOW_MONITOR_H
#define PROPFLOW_MONITOR_H

#include "propflow/base/metrics.h"
#include "propflow/store/db.h"
#include <event2/event.h>

#define PF_MONITOR_LAG_INTERVAL_MS 250 /* the lag timer's period */
#define PF_MONITOR_POOLS_MAX       4   /* pools watched */

typedef struct pf_monitor pf_monitor;

/* NULL on ENOMEM or without a registry. */
pf_monitor *pf_monitor_new(struct event_base *base, pf_metrics *m);
/* Report pool db under role ("writer", "reader"; static). 0 or PF_ELIMIT. */
PF_MUST_CHECK int pf_monitor_pool(pf_monitor *mon, pf_db *db, const char *role);
/* Stop watching the pools (they are about to go); the lag timer goes on. NULL-safe. */
void pf_monitor_forget_pools(pf_monitor *mon);
/* NULL-safe. */
void pf_monitor_free(pf_monitor *mon);

#endif

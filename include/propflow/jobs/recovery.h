/*
 * recovery.h - taking over the jobs nobody runs. Jobs left receiving or
 * processing by a process that is gone (a crash, SIGTERM, another
 * instance) are adopted here, at start and every PF_RECOVERY_EVERY_MS;
 * pg_try_advisory_lock decides who runs a job, so two instances never run
 * the same one. A tus upload still missing bytes waits in the database for
 * its next PATCH instead, and one nobody has sent to for --upload-expiry
 * seconds ends interrupted (with its complete rows), so that it stops
 * counting against its owner's running imports.
 *
 * Ownership: the scanner borrows the pool, the job env and the config; it
 * must outlive the pool (a scan in flight is failed when the pool goes, and
 * its answer is then ignored).
 */
#ifndef PROPFLOW_RECOVERY_H
#define PROPFLOW_RECOVERY_H

#include "propflow/base/common.h"
#include "propflow/base/config.h"
#include "propflow/jobs/job.h"
#include "propflow/store/db.h"

#include <event2/event.h>

#define PF_RECOVERY_EVERY_MS 10000 /* look for jobs nobody runs this often */
#define PF_RECOVERY_BATCH    100   /* jobs taken over per scan at most */

typedef struct pf_recovery pf_recovery;

/* A scanner over `readers` (NULL on ENOMEM); nothing runs until start. */
pf_recovery *pf_recovery_new(struct event_base *base, pf_db *readers, pf_job_env *env,
                             const pf_config *cfg);
/* Scan now, then every PF_RECOVERY_EVERY_MS. */
PF_MUST_CHECK int pf_recovery_start(pf_recovery *rc);
/* No more scans; the answer of one in flight is ignored. */
void pf_recovery_stop(pf_recovery *rc);
/* After the pool is gone. NULL is safe. */
void pf_recovery_free(pf_recovery *rc);

#endif

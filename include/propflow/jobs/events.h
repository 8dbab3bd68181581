/*
 * events.h - live progress over WebSocket. A subscriber first gets a
 * snapshot of the jobs, then one frame per change of any job, coalesced to
 * at most one frame per job every --progress-interval-ms (the import's
 * progress interval, which also bounds the read cache's staleness between
 * instances: api/cache.h), and always a final
 * frame when a job ends. Frames carry a per-job seq.
 *
 * Ownership: the hub owns its subscribers; each pf_ws is owned by the ws
 * module and dropped from the hub in its on_close.
 */
#ifndef PROPFLOW_EVENTS_H
#define PROPFLOW_EVENTS_H

#include "propflow/base/common.h"
#include "propflow/store/db.h"
#include "propflow/net/http.h"
#include "propflow/jobs/job.h"

#define PF_EVENTS_TICK_MS         100   /* coalescing period: --progress-interval-ms's default */
#define PF_EVENTS_SUBSCRIBERS_MAX 10000 /* open progress sockets */
#define PF_EVENTS_SNAPSHOT_JOBS   200   /* jobs in a snapshot */
#define PF_EVENTS_DIRTY_MAX       4096  /* jobs changed within one tick */

typedef struct pf_events pf_events;

pf_events *pf_events_new(struct event_base *base, pf_db *readers, pf_job_env *env);
void pf_events_free(pf_events *ev);
/* The job env's `changed` hook. */
void pf_events_job_changed(void *arg, pf_job *job, bool final);
/* Upgrade req to a WebSocket and subscribe it to the jobs of user; 429
 * when the user already has --user-max-websockets open. */
void pf_events_subscribe(pf_events *ev, pf_http_req *req, int64_t user);
/* A job that was not running here was deleted: its owner's subscribers
 * get a final frame {"type": "import", "id": ID, "state": "cancelled",
 * "deleted": true}. */
void pf_events_job_deleted(pf_events *ev, int64_t id, int64_t owner);
/* The market analysis of import id changed (src/jobs/market.c): its
 * owner's subscribers get {"type": "analysis", "job_id", "final",
 * "as_of_rows", "version"} at once (steps come at most every second). */
void pf_events_analysis(pf_events *ev, int64_t id, int64_t owner, bool final, int64_t as_of_rows,
                        int64_t version);
/* The frame of a live job as a JSON object (job object + seq, rate, eta),
 * for frames, snapshots, job reads and the command line's progress; takes
 * a seq when take_seq. The caller owns it (cJSON_Delete); NULL on ENOMEM. */
cJSON *pf_events_job_frame(pf_job *job, bool take_seq, const char *type);

#endif

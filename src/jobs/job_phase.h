/*
 * job_phase.h - the lifecycle of one job as one state machine: what the job
 * is doing with its database session. Pure: names, the table of allowed
 * transitions and what each phase allows, with no database and no event
 * loop, so that tests/unit/test_job_phase.c can check it alone. The side
 * effects of entering a phase are job_set_phase's (job_life.c).
 *
 *   pf_job_new         pf_job_adopt
 *       |                   |
 *      NEW ------------> ADOPTING <-------------------------- IDLING
 *       | start       (settle, lock, read row) <-+ lost  (PATCH) ^  |
 *       v                   |  |  '--------------+              |  |
 *   CREATING                |  '-- gone, finished, elsewhere ---|--|--> ENDED
 *       |  row             v                                   |  |       ^
 *       '-------------> RUNNING --- nobody sends, all stored ---'  unlock |
 *                      |  ^   |                                          |
 *       unit lost or   |  |   | input over, all parsed and stored        |
 *       out of place   v  |   v                                          |
 *                  RESYNCING  FINALIZING --- final unit answered --------+
 *                  (settle,     | lost: RESYNCING                        |
 *                   read row,   |                                        |
 *                   rewind)     |                                        |
 *                               |                                        |
 *   pf_job_cancel (from any phase but ENDED):                            |
 *       CANCELLING -- settled --> FINALIZING (the deletion) -------------+
 *   pf_job_park (shutdown; CREATING, ADOPTING, RUNNING, RESYNCING):      |
 *       PARKING -- settled, bytes stored, lock let go -------------------+
 *   creation refused (CREATING), and NEW let go: ---------------------> ENDED
 *
 * ENDED sends nothing more; the job is freed once its producer has let go
 * and its last unit has answered.
 *
 * What is not a phase (flags of pf_job, each independent of the phase):
 * lock_held (the session may die in any phase), has_row (history: the row
 * was created or read once; PARKING and CANCELLING may come before or after
 * it), resumable (what the upload is), the input's fate (job_input_fate:
 * the producer may end or cut the input in any phase), discard (a failure
 * decided the outcome: set once in any phase, never cleared; a failed job
 * still resynchronises to take its lock back, parks at shutdown and
 * finalizes), and the debts to the producer (owe_resume, owe_durable).
 */
#ifndef PROPFLOW_JOB_PHASE_H
#define PROPFLOW_JOB_PHASE_H

#include <stdbool.h>

typedef enum job_phase {
	JOB_NEW = 0,    /* allocated; pf_job_start not called yet */
	JOB_CREATING,   /* id, admission, lock and row in flight */
	JOB_ADOPTING,   /* taken over: settle, lock, read the row; on_started owed */
	JOB_RUNNING,    /* the row is ours: reading, batches, chunks */
	JOB_RESYNCING,  /* a unit was lost or out of place: settle, read the row, rewind */
	JOB_FINALIZING, /* the final unit (terminal state, or the deletion) is in flight */
	JOB_CANCELLING, /* cancelled: settle, then delete */
	JOB_PARKING,    /* shutdown: settle, store the bytes, let go of the lock, leave */
	JOB_IDLING, /* resumable, nobody sending, all stored: let go, leave; a PATCH takes it back
	             */
	JOB_ENDED,  /* nothing more to send: freed once no holder and no unit is left */
	JOB_PHASE_COUNT
} job_phase;

const char *job_phase_name(job_phase p);
/* Whether the table allows from -> to (a self-transition only where listed:
 * ADOPTING and RESYNCING start over when their read is lost). */
bool job_phase_allowed(job_phase from, job_phase to);
/* The phases that wait for their units to settle, then read the job row. */
bool job_phase_reads_row(job_phase p);
/* Bytes fed are spooled and parsed (else they are counted and dropped). */
bool job_phase_takes_bytes(job_phase p);
/* Records may be parsed and batches sent. */
bool job_phase_parses(job_phase p);
/* A producer may attach (a tus PATCH): the job is or will be running. */
bool job_phase_attachable(job_phase p);

#endif

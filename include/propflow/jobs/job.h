/*
 * job.h - one import: bytes in (from an HTTP body, tus PATCHes, a file or
 * the stored upload), CSV records out, mapped and normalised, raw rows
 * compressed, batches written through the pipelined writer pool, progress
 * kept in import_jobs.
 *
 * Nothing lost: every byte fed is also spooled, LZ4-compressed, into
 * import_chunks; each batch commits the parse position with its rows and
 * applies only where the job stands (compare and set). When the database
 * connection breaks, or a unit finds the job elsewhere than expected, the
 * job resynchronises: it waits for its units to settle, reads the committed
 * position, rewinds the reader there (bytes kept in memory since the last
 * commit, or fetched back from import_chunks) and goes on. The same path
 * adopts an unfinished job after a crash or for a reprocess.
 *
 * Ownership of a job across processes: the process running it holds
 * pg_advisory_lock(id) on the job's writer connection; it is released when
 * the job finishes or parks, or when the process dies.
 *
 * Backpressure: pf_job_feed takes every byte it is given, parses what the
 * batch window allows, and returns PF_JOB_PAUSED while unparsed bytes wait
 * or too many spooled bytes are not stored yet. The producer must then stop
 * (stop reading its socket) until hooks.on_resume. So memory per job is
 * bounded by the window, the spool cap and the uncommitted bytes, never by
 * file size.
 *
 * States (what the job object shows): receiving -> processing -> done |
 * failed | interrupted | cancelled. Inside, what the job is doing with its
 * database session is one state machine of phases (src/jobs/job_phase.h
 * draws it): creating, adopting, running, resyncing, finalizing,
 * cancelling, parking, idling, ended.
 *
 * Reasons are values (pf_job_reason): the hooks and pf_job_error_reason
 * give one, and pf_job_reason_text its words for JSON and logs; the job's
 * error text (pf_job_error) may say more.
 *
 * Ownership: a job is shared by its producer and its pipeline (two
 * references); it is freed when the producer has let go and the job is
 * finished, cancelled or parked.
 */
#ifndef PROPFLOW_JOB_H
#define PROPFLOW_JOB_H

#include "propflow/base/common.h"
#include "propflow/base/config.h"
#include "propflow/base/metrics.h"
#include "propflow/store/db.h"
#include <cjson/cJSON.h>
#include <event2/event.h>

#define PF_JOB_NAME_MAX               255         /* bytes of a job name */
#define PF_JOB_SAMPLE_BYTES_MAX       (8u << 20)  /* held sample rows, bytes */
#define PF_JOB_DICT_BYTES             (32 * 1024) /* raw-row dictionary size */
#define PF_JOB_FLUSH_MS               200         /* a partial batch waits at most this long */
#define PF_JOB_WARNINGS_PER_BATCH_MAX 65536       /* warnings in one batch before it is flushed */
#define PF_JOB_FETCH_AHEAD            (1u << 20)  /* stored bytes fetched ahead of the reader */
#define PF_JOB_FETCH_CHUNKS           4           /* chunks per fetch query */
#define PF_JOB_KEPT_MAX               (8u << 20)  /* uncommitted bytes held for a rewind */

/* Positive result of pf_job_feed. */
enum {
	PF_JOB_PAUSED = 1,
};

typedef enum pf_job_state {
	PF_JOB_RECEIVING = 0,
	PF_JOB_PROCESSING,
	PF_JOB_DONE,
	PF_JOB_FAILED,
	PF_JOB_INTERRUPTED,
	PF_JOB_CANCELLED,
} pf_job_state;

const char *pf_job_state_name(pf_job_state s);
bool pf_job_state_terminal(pf_job_state s);

/* Why a job failed, stopped, or let its producer go. */
typedef enum pf_job_reason {
	PF_JOB_OK = 0,
	PF_JOB_WHY_TAKEN_OVER, /* another request continues this upload */
	PF_JOB_WHY_CANCELLED,  /* the import was cancelled */
	PF_JOB_WHY_SHUTDOWN,   /* server shutting down */
	PF_JOB_WHY_NOT_FOUND,  /* no such import (or not the expected owner's) */
	PF_JOB_WHY_DELETED,    /* deleted while this process ran it */
	PF_JOB_WHY_ELSEWHERE,  /* another process runs it */
	PF_JOB_WHY_FINISHED,   /* it has already ended */
	PF_JOB_WHY_TOO_MANY,   /* admission: too many of the owner's imports running */
	PF_JOB_WHY_ROW_QUOTA,  /* the owner's row quota */
	PF_JOB_WHY_BYTE_QUOTA, /* the owner's storage quota */
	PF_JOB_WHY_DATABASE,   /* the database failed or refused */
	PF_JOB_WHY_NOMEM,      /* out of memory */
	PF_JOB_WHY_CONTENT,    /* the file: no header, unreadable header, bad mapping */
	PF_JOB_WHY_INPUT,      /* the producer cut the input off (pf_job_fail_input) */
} pf_job_reason;

/* The reason in words, for JSON and logs (never NULL). */
const char *pf_job_reason_text(pf_job_reason why);

typedef struct pf_job pf_job;

/* What every job shares: borrowed pointers, owned by the application. */
/* The jobs' instruments (pf_job_env_meter); all NULL without a registry. */
typedef struct pf_job_meters {
	pf_metric_series *rows_stored;   /* borrowed: counter, rows of committed batches */
	pf_metric_series *batch_seconds; /* borrowed: histogram, batch sent to committed */
	pf_metric *finished;             /* borrowed: counter by terminal state */
} pf_job_meters;

typedef struct pf_job_env {
	struct event_base *base;
	const pf_config *cfg;
	pf_db *writers;
	/* told about every change; final is true once, for the terminal state */
	void (*changed)(void *arg, pf_job *job, bool final);
	void *changed_arg;
	pf_job *jobs;      /* registry of this process's live jobs (intrusive list) */
	bool closing;      /* the pools are going away: units fail, jobs only settle */
	uint64_t seq_high; /* highest progress-frame seq issued here; adopted jobs start above it */
	pf_job_meters meters; /* instruments; zero = none */
} pf_job_env;

/*
 * Register the jobs' families in m (NULL: nothing): rows stored, batch
 * latency, imports finished by state, and a collector of the imports this
 * process runs by state. pf_job_env_unmeter removes the collector; call it
 * before env goes when m outlives it.
 */
void pf_job_env_meter(pf_job_env *env, pf_metrics *m);
void pf_job_env_unmeter(pf_job_env *env, pf_metrics *m);

typedef struct pf_job_hooks {
	/* the import_jobs row exists (why PF_JOB_OK) or could not be created
	 * or taken (pf_job_error has the words) */
	void (*on_started)(void *arg, pf_job *job, pf_job_reason why);
	/* after PF_JOB_PAUSED: the producer may feed again */
	void (*on_resume)(void *arg, pf_job *job);
	/* the terminal state is committed */
	void (*on_finished)(void *arg, pf_job *job);
	/* the producer is let go by the job (another producer took over, the
	 * job was cancelled or parked): never touch the job again */
	void (*on_detached)(void *arg, pf_job *job, pf_job_reason why);
	/* after pf_job_sync: every byte fed so far is stored (or the job
	 * failed and drops them) */
	void (*on_durable)(void *arg, pf_job *job);
} pf_job_hooks;

/* bytes_total < 0 when unknown. Name copied (cut to PF_JOB_NAME_MAX). */
pf_job *pf_job_new(pf_job_env *env, const char *name, int64_t bytes_total,
                   const pf_job_hooks *hooks, void *hook_arg);
/* Create the import_jobs row; on_started follows. */
void pf_job_start(pf_job *job);
/* A tus upload (before pf_job_start): a producer that goes away does not
 * end the input; the job waits, parked, for the next one. */
void pf_job_set_resumable(pf_job *job);
/* The user the import belongs to (before pf_job_start). Admission checks
 * that user's running imports and quotas (--user-max-*) in the same
 * transaction as the row; a refusal fails the start and pf_job_error_reason
 * tells which: PF_JOB_WHY_TOO_MANY, _ROW_QUOTA or _BYTE_QUOTA. */
void pf_job_set_owner(pf_job *job, int64_t user);
int64_t pf_job_user(const pf_job *job);
/* Upload bytes the owner may still store (from admission); -1 unknown. */
int64_t pf_job_bytes_left(const pf_job *job);
/* Rename before pf_job_start (multipart learns the file name late). */
void pf_job_set_name(pf_job *job, const char *name);
PF_MUST_CHECK int pf_job_feed(pf_job *job, const char *data, size_t len);
/* All input given: the job goes to processing and finishes by itself. */
void pf_job_end_input(pf_job *job);
/* Input cut off (client gone, body too large, ...): the complete records
 * received are kept; the job ends in `state` with `reason`. */
void pf_job_fail_input(pf_job *job, pf_job_state state, const char *reason);
/* Make every byte fed so far durable; hooks.on_durable follows (on a later
 * loop turn). An upload is acknowledged only then. */
void pf_job_sync(pf_job *job);
/* A live resumable job takes a new producer (see pf_job_attach). */
bool pf_job_accepting(const pf_job *job);
/* The producer lets go; never touch the job afterwards. A one-shot upload
 * not ended is interrupted; a resumable one waits for another producer. */
void pf_job_release(pf_job *job);

/* Take over the unfinished job `id` from the database (after a crash, for a
 * reprocess, for a tus PATCH); with owner != 0 only if it is that user's
 * (else it ends PF_JOB_WHY_NOT_FOUND, taking no lock). The job is in the
 * registry (pf_job_find) from now on: a caller acting for a user checks
 * that the row is theirs first, so that nobody else's request can hold
 * the id. hooks may be NULL (no producer). on_started follows, with a
 * reason when the job cannot be taken (missing, finished, run by another
 * process). NULL on ENOMEM. */
pf_job *pf_job_adopt(pf_job_env *env, int64_t id, int64_t owner, const pf_job_hooks *hooks,
                     void *hook_arg);
/* A new producer for a live resumable job; the previous one, if any, gets
 * on_detached. When the job is still being adopted on_started follows;
 * pf_job_ready tells. */
void pf_job_attach(pf_job *job, const pf_job_hooks *hooks, void *hook_arg);
bool pf_job_ready(const pf_job *job);
/* This process's memory of the job is fresher than its row: ready and not
 * ended (an ended job's row holds its last word; answers read from memory
 * and from the row must not differ while it waits to be freed). */
bool pf_job_live(const pf_job *job);
/* Stop the job, delete it and all its rows and stored bytes; done(arg, ok)
 * runs once the deletion commits (ok false if it failed). The producer gets
 * on_detached. */
void pf_job_cancel(pf_job *job, void (*done)(void *arg, bool ok), void *arg);
/* Shutdown: stop reading, let units in flight settle, make received bytes
 * durable, then free the job; the next start adopts it. */
void pf_job_park(pf_job *job);
/* Exit: free every job left, after the pools are gone (no callback can
 * come any more). */
void pf_job_env_free_all(pf_job_env *env);

int64_t pf_job_id(const pf_job *job);
pf_job_state pf_job_state_of(const pf_job *job);
const char *pf_job_error(const pf_job *job);
pf_job_reason pf_job_error_reason(const pf_job *job); /* PF_JOB_OK when none */
bool pf_job_paused(const pf_job *job);
bool pf_job_resumable(const pf_job *job);
int64_t pf_job_upload_offset(const pf_job *job); /* bytes accepted so far */
int64_t pf_job_bytes_total(const pf_job *job);   /* -1 unknown */
pf_job *pf_job_find(pf_job_env *env, int64_t id);
pf_job *pf_job_next(const pf_job *job); /* registry walk */

/* The job object (see README) from this process's live view. rate fields
 * are added by the caller. */
cJSON *pf_job_to_json(const pf_job *job);
/* Smoothed rows per second and ETA, updated by pf_job_rate_sample. */
void pf_job_rate_sample(pf_job *job, double now_s);
double pf_job_rows_per_sec(const pf_job *job);
double pf_job_eta_seconds(const pf_job *job); /* < 0 when unknown */
uint64_t pf_job_next_seq(pf_job *job);
uint64_t pf_job_seq(const pf_job *job);
/* A number that moves whenever the job object (pf_job_to_json) would:
 * every notified change and the counters the object shows. A cached read
 * of the live job is valid while it stands still (api/cache.h). */
uint64_t pf_job_version(const pf_job *job);

/* The job object from a row selected with PF_JOB_COLUMNS. */
#define PF_JOB_COLUMNS                                                                             \
	"id, name, state, bytes_received, bytes_total, rows_parsed, rows_inserted, "               \
	"rows_rejected, rows_warned, columns::text, encoding, delimiter, raw_bytes, "              \
	"raw_stored_bytes, to_char(created_at AT TIME ZONE 'UTC', "                                \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), to_char(finished_at AT TIME ZONE 'UTC', "           \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), error, resumable, bytes_durable"
cJSON *pf_job_row_to_json(const pf_db_result *r, int stmt, int row);

#endif

/*
 * job_internal.h - the job object and what the parts of the job module
 * share. Private to src/jobs/job*.c: include/propflow/jobs/job.h stays the
 * only interface of jobs.
 *
 * The parts, lowest first; each calls only the ones above it in this list
 * (a lower part reaches a higher one only through job->unit_cb, set at
 * creation):
 *   job_phase.c    the lifecycle table (pure)
 *   job_base.c     units, errors and reasons, public state, notify
 *   job_input.c    the rewindable input stream: spool, kept and pending
 *                  bytes, the stored upload fetched back from import_chunks
 *   job_records.c  records to batches: reader, header, sample, batches
 *   job_row.c      the job row: the units that create, read back, finish
 *                  and unlock it, and the rewind to what it says
 *   job_life.c     the phases (job_set_phase), unit answers, the pump
 *   job.c          the public interface (job.h)
 *   job_json.c     accessors and the job object as JSON (a leaf)
 */
#ifndef PROPFLOW_JOB_INTERNAL_H
#define PROPFLOW_JOB_INTERNAL_H

#include "job_phase.h"

#include "propflow/ingest/csv.h"
#include "propflow/jobs/job.h"
#include "propflow/store/batch.h"
#include "propflow/store/rowshape.h"
#include "propflow/store/spool.h"

#include <event2/buffer.h>
#include <time.h>

/* Holders of a job (pf_job.refs); it is freed when none is left. */
#define JOB_REFS_PRODUCER 1
#define JOB_REFS_PIPELINE 2

#define JOB_ERROR_MAX 512 /* bytes of a composed error message */

/* A data record held in the sample window; job_records.c's. */
typedef struct held_rec held_rec;

typedef enum unit_kind {
	UNIT_ID = 0, /* the id from the sequence (creation, step 1) */
	UNIT_CREATE, /* admission, lock and row (creation, step 2) */
	UNIT_SHAPE,  /* pf_shape_put */
	UNIT_CHUNK,  /* pf_chunk_put */
	UNIT_BATCH,  /* pf_batch_begin + inserts */
	UNIT_READ,   /* lock and the job row (adoption, resync) */
	UNIT_FETCH,  /* stored chunks back */
	UNIT_FINAL,  /* terminal state (or deletion) */
	UNIT_UNLOCK, /* parking, idling */
} unit_kind;

/* One unit in flight: what to do with its result. */
typedef struct unit_ctx {
	pf_job *job; /* borrowed: the job outlives its units */
	unit_kind kind;
	unsigned epoch;
	/* UNIT_BATCH: counters applied on commit, and where it ends */
	int64_t parsed, rejected, warned, raw_bytes, raw_stored;
	int64_t end_offset;
	struct timespec sent; /* UNIT_BATCH: when it was submitted, for the batch latency */
} unit_ctx;

/* How the input ends; independent of the phase (the producer may end or
 * cut it while the job creates, resyncs or runs). */
typedef enum job_input_fate {
	JOB_INPUT_OPEN = 0, /* more may come */
	JOB_INPUT_ENDED,    /* the producer said end, or the stored upload is complete */
	JOB_INPUT_CUT,      /* cut off: the complete records are kept */
} job_input_fate;

/* The rewindable input stream (job_input.c). Stream offsets are bytes of
 * the upload; kept + pending cover [kept_off, parse_off + len(pending)). */
typedef struct job_input {
	pf_spool spool;           /* the durable copy on its way */
	struct evbuffer *kept;    /* owned: consumed by the reader, not committed */
	int64_t kept_off;         /* stream offset of kept's first byte */
	struct evbuffer *pending; /* owned: not parsed yet; starts at parse_off */
	int64_t parse_off;
	/* the stored upload read back from import_chunks (adoption, or a
	 * rewind past the bytes still in memory) */
	bool fetching;         /* pending is fed from the database */
	bool fetch_busy;       /* a fetch unit in flight */
	bool fetch_complete;   /* the stored upload is complete: end input after it */
	int64_t fetch_off;     /* next stream byte to fetch */
	int64_t fetch_end;     /* stored bytes when the fetch began */
	struct evbuffer *tail; /* owned: live bytes that came during the fetch */
} job_input;

struct pf_job {
	pf_job_env *env;             /* borrowed */
	pf_job *reg_next, *reg_prev; /* registry links */
	pf_job_hooks hooks;
	void *hook_arg; /* borrowed: the producer's */
	int refs;       /* JOB_REFS_* bits still held */
	/* every unit's callback: job_life.c's, set at creation, so that the
	 * lower parts send units without calling up */
	void (*unit_cb)(void *arg, const pf_db_result *r);

	job_phase phase;    /* see job_phase.h; changed only by job_set_phase */
	unsigned epoch;     /* units of an older epoch are stale */
	int inflight;       /* units sent, not answered (all kinds) */
	bool has_row;       /* the row was created or read here once (history) */
	bool lock_held;     /* our writer session holds pg_advisory_lock(id) */
	bool resumable;     /* tus: input ends only by the producer's word */
	bool discard;       /* failed or cancelled: input dropped, no more records */
	bool owe_resume;    /* returned PF_JOB_PAUSED, on_resume owed */
	bool owe_durable;   /* pf_job_sync: on_durable owed */
	bool quota_refused; /* a batch was refused for the row quota: the
	                       batches after it fail out of place, as expected */
	job_input_fate input_fate;
	pf_job_state state;   /* public state (job.h) */
	pf_job_state outcome; /* terminal state to reach */
	void (*cancel_done)(void *arg, bool ok);
	void *cancel_arg;

	int64_t id;         /* 0 until the row exists */
	int64_t owner;      /* users.id; when adopting, the one expected (0: any) */
	int64_t rows_left;  /* rows this import may store: the owner's row quota less
	                       what their other imports hold, as of admission and then
	                       of the last batch (schema/005_quota.sql); -1 none */
	int64_t bytes_left; /* the same for upload bytes, as of the last chunk */
	char name[PF_JOB_NAME_MAX + 1];
	char created_at[32];
	char finished_at[32];
	char *error;            /* owned, NULL when none: the first failure, in words */
	pf_job_reason why;      /* the first failure, as a value */
	int64_t gen, work_gen;  /* generations: visible, being written */
	cJSON *override;        /* owned: mapping override of this run, or NULL */
	int64_t bytes_total;    /* -1 unknown */
	int64_t bytes_received; /* stream bytes accepted: the upload offset */
	job_input in;

	/* the reader, header and row shape (job_records.c) */
	pf_csv *csv;          /* owned */
	bool csv_finished;    /* pf_csv_finish / abandon done */
	pf_rowshape shape;    /* owned: header, mapping, date orders, raw rows */
	cJSON *columns;       /* owned: the mapping, [] until the header */
	cJSON *header_fields; /* owned: the header record as read, NULL before */
	uint64_t hdr_end_off; /* stream position after the header */
	uint64_t hdr_end_line;
	bool hdr_end_cr;
	held_rec *held; /* owned array: the sample window */
	size_t nheld, held_cap;
	size_t held_bytes;
	bool sampled; /* orders decided, dictionary built (or restored) */
	pf_batch batch;
	int64_t batch_from; /* first record index in the batch */
	int64_t batch_to;   /* index after its last record */
	int64_t batch_end_off, batch_end_line;
	bool batch_end_cr;
	struct event *pump_ev;  /* owned: deferred pump (job_life.c) */
	struct event *flush_ev; /* owned: partial-batch timer */

	/* committed counters (what the database has) */
	int64_t rows_parsed_local; /* records seen by the reader */
	int64_t rows_stored_local; /* of them, the ones to be stored (not rejected):
	                              what the row quota counts */
	int64_t rows_inserted, rows_rejected, rows_warned;
	int64_t raw_bytes, raw_stored;

	/* progress */
	uint64_t seq;
	uint64_t changes;  /* every notified change: what a cached read of the job is checked
	                      against (api/cache.h) */
	double rate_rows;  /* smoothed rows/s */
	double rate_bytes; /* smoothed bytes/s */
	double rate_t;     /* time of last sample, 0 none */
	int64_t rate_last_rows, rate_last_bytes;
};

/* ---------------- job_base.c ---------------- */

void job_notify(pf_job *job, bool final);
/* Every public state change goes through here (and notifies). */
void job_set_state(pf_job *job, pf_job_state st);
int job_state_by_name(const char *s);
/* The first failure is the one kept (in words and as a value). */
void job_set_error(pf_job *job, pf_job_reason why, const char *msg);
void job_set_name(pf_job *job, const char *name);
bool job_input_over(const pf_job *job);
/* A failure: the outcome is no longer done, input is dropped from now on
 * (in any phase); the job ends once its units settle. */
void job_fail(pf_job *job, pf_job_reason why, const char *msg);
void job_schedule_pump(pf_job *job);
bool job_window_full(const pf_job *job);

/* Units: a context of the job's current epoch, sent on its writer
 * connection in order; job_unit_answered counts one and tells whether it
 * is of the current epoch. */
unit_ctx *job_ctx_new(pf_job *job, unit_kind kind);
/* A unit with job->unit_cb and a new context (in *ctx when ctx is not
 * NULL), or NULL (out of memory). */
pf_db_unit *job_unit_new(pf_job *job, unit_kind kind, unit_ctx **ctx);
/* Frees a unit never sent, and its context. */
void job_unit_drop(pf_db_unit *u, unit_ctx *ctx);
void job_submit(pf_job *job, pf_db_unit *u);
bool job_unit_answered(unit_ctx *c);

/* A value of row 0 of statement stmt (NULL reads as 0 / false). */
int64_t job_val_int(const pf_db_result *r, int stmt, int col);
bool job_val_bool(const pf_db_result *r, int stmt, int col);

/* ---------------- job_input.c ---------------- */

PF_MUST_CHECK int job_input_init(job_input *in);
void job_input_deinit(job_input *in);
/* Live bytes (already spooled): to pending, or to tail during a fetch. */
PF_MUST_CHECK int job_input_add(job_input *in, const char *data, size_t len);
/* n bytes at the front of pending were consumed by the reader. */
PF_MUST_CHECK int job_input_consumed(job_input *in, size_t n);
/* A batch that ends at `end` committed: the bytes before it go. */
void job_input_committed(job_input *in, int64_t end);
/* A record longer than PF_JOB_KEPT_MAX is not held whole for a rewind. */
void job_input_trim(job_input *in);
/* Drops every byte held (the job failed). */
void job_input_drop(job_input *in);
bool job_input_spool_full(const job_input *in);
/* Nothing held: no byte waits to be parsed or stored. */
bool job_input_settled(const job_input *in);
/* Rewind to stream position pos, the stored upload being `durable` bytes
 * (complete or not): from memory when it holds pos, else by a fetch. A
 * fresh job (just adopted) holds nothing. 0 or an error. */
PF_MUST_CHECK int job_input_rewind(job_input *in, int64_t pos, int64_t durable, bool complete,
                                   bool fresh);
/* Sends every sealed chunk not sent in this epoch, in order (UNIT_CHUNK). */
int job_input_send_chunks(pf_job *job); /* callers that only try may ignore it */
/* Seals and sends so that bytes up to end are stored. */
PF_MUST_CHECK int job_input_make_durable(pf_job *job, int64_t end);
/* Follows the owner's quota from what their other imports hold (a value
 * a chunk or batch unit returns; see job_input.c). */
void job_quota_follow(int64_t *left, int64_t max, const char *others);
/* A chunk unit committed: its spool chunk is acknowledged. */
void job_input_chunk_stored(pf_job *job, const pf_db_result *r);

/* What job_input_fetch_more did. */
typedef enum job_fetch_step {
	JOB_FETCH_IDLE = 0, /* nothing to do now (a unit in flight, enough ahead) */
	JOB_FETCH_SENT,     /* a UNIT_FETCH went out */
	JOB_FETCH_DONE,     /* the whole stored upload is in pending: the fetch ended */
} job_fetch_step;
/* Asks for more stored bytes while the reader is fed from the table; a
 * negative error when no unit could be built. */
int job_input_fetch_more(pf_job *job);
/* A fetch unit's rows into pending; 0, or a negative error with *why. */
int job_input_fetch_apply(pf_job *job, const pf_db_result *r, const char **why);

/* ---------------- job_records.c ---------------- */

pf_csv *job_records_reader(pf_job *job);
PF_MUST_CHECK int job_records_columns(pf_job *job);
PF_MUST_CHECK int job_records_header(pf_job *job, size_t n, const char *const *fields,
                                     const size_t *lens);
void job_records_clear(pf_job *job);
/* Decide date orders, store the shape, feed the held rows (sample end). */
int job_records_decide(pf_job *job);
/* Sends the current batch (a no-op when empty); 0 or an error. */
PF_MUST_CHECK int job_records_flush(pf_job *job);
/* A batch committed: counters, quota, input. */
void job_records_committed(pf_job *job, const unit_ctx *c, const pf_db_result *r);
/* A batch was refused for the row quota: its records are not counted. */
void job_records_refused(pf_job *job, const unit_ctx *c);

/* ---------------- job_row.c ---------------- */

/* Sends the units of the row (a unit that could not be built fails on
 * submit, see db.h); each returns 0, or PF_ENOMEM when no unit exists. */
PF_MUST_CHECK int job_row_send_id(pf_job *job);
PF_MUST_CHECK int job_row_send_create(pf_job *job);
PF_MUST_CHECK int job_row_send_read(pf_job *job);
PF_MUST_CHECK int job_row_send_final(pf_job *job);
PF_MUST_CHECK int job_row_send_unlock(pf_job *job);
/* The admission and row came back: PF_JOB_OK, or why it was refused
 * (*detail: the database's words). */
pf_job_reason job_row_created(pf_job *job, const pf_db_result *r, const char **detail);
/* What a read of the row found. */
typedef enum job_row_found {
	JOB_ROW_OURS = 0,   /* locked, running: rewound to it */
	JOB_ROW_MISSING,    /* no such row of the expected owner (no lock taken) */
	JOB_ROW_ELSEWHERE,  /* another process holds it */
	JOB_ROW_DELETED,    /* locked, then gone */
	JOB_ROW_FINISHED,   /* in a terminal state (*msg says which) */
	JOB_ROW_UNREADABLE, /* an error (*msg) */
} job_row_found;
/* Of a UNIT_READ answer, only whether it took the lock (a job parked
 * while it was in flight lets go of it). */
void job_row_read_lock(pf_job *job, const pf_db_result *r);
/* Reads a UNIT_READ answer (not lost) and, when the row is ours, rewinds
 * to it; msg gets the words of FINISHED and UNREADABLE, *st the state of
 * FINISHED. UNREADABLE leaves the job holding the lock, to fail it. */
job_row_found job_row_read(pf_job *job, const pf_db_result *r, char *msg, size_t cap,
                           pf_job_state *st);

/* ---------------- job_life.c ---------------- */

/* Enters a phase and does the transition's side effects; a transition the
 * table does not list aborts. May free the job when it enters JOB_ENDED. */
void job_set_phase(pf_job *job, job_phase to);
/* Does what the phase needs now that something settled (finalize, park,
 * idle, free); may free the job. */
void job_step(pf_job *job);
/* Every unit's answer (job->unit_cb). */
void job_unit_cb(void *arg, const pf_db_result *r);
void job_pump_cb(evutil_socket_t fd, short what, void *arg);
void job_flush_cb(evutil_socket_t fd, short what, void *arg);
void job_pump(pf_job *job);
/* A resync: units in flight turn stale, then the row is read. */
void job_resync(pf_job *job, bool lost);
/* The producer goes (on_detached(why)), and never calls in again. */
void job_detach_producer(pf_job *job, pf_job_reason why);
void job_free(pf_job *job);
void job_unref(pf_job *job, int ref);

#endif

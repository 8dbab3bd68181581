/*
 * job_internal.h - what job.c (the pipeline: input, records, batches, the
 * durable copy, the pump, lifetime, accessors), job_resync.c (reading the
 * stored upload back, resynchronising and adoption's read) and job_finish.c
 * (the terminal state, parking) share. Private to those three files:
 * nothing else includes it, and include/propflow/job.h stays the only
 * interface of jobs.
 */
#ifndef PROPFLOW_JOB_INTERNAL_H
#define PROPFLOW_JOB_INTERNAL_H

#include "propflow/store/batch.h"
#include "propflow/ingest/csv.h"
#include "propflow/jobs/job.h"
#include "propflow/store/rowshape.h"
#include "propflow/store/spool.h"

#include <event2/buffer.h>

/* Holders of a job (pf_job.refs); it is freed when none is left. */
#define JOB_REFS_PRODUCER 1
#define JOB_REFS_PIPELINE 2

/* A data record held in the sample window; its definition is job.c's. */
typedef struct held_rec held_rec;

typedef enum unit_kind {
	UNIT_CREATE = 0, /* id, lock and row */
	UNIT_SHAPE,      /* pf_shape_put */
	UNIT_CHUNK,      /* pf_chunk_put */
	UNIT_BATCH,      /* pf_batch_begin + inserts */
	UNIT_RESYNC,     /* lock and the job row */
	UNIT_FETCH,      /* stored chunks back */
	UNIT_FINAL,      /* terminal state (or deletion) */
	UNIT_UNLOCK,     /* parking */
} unit_kind;

/* One unit in flight: what to do with its result. */
typedef struct unit_ctx {
	pf_job *job; /* borrowed: the job outlives its units */
	unit_kind kind;
	unsigned epoch;
	/* UNIT_BATCH: counters applied on commit, and where it ends */
	int64_t parsed, rejected, warned, raw_bytes, raw_stored;
	int64_t end_offset;
} unit_ctx;

struct pf_job {
	pf_job_env *env;             /* borrowed */
	pf_job *reg_next, *reg_prev; /* registry links */
	pf_job_hooks hooks;
	void *hook_arg; /* borrowed: the producer's */
	int refs;       /* JOB_REFS_* bits still held */

	int64_t id;         /* 0 until the row exists */
	int64_t owner;      /* users.id; when adopting, the one expected (0: any) */
	int64_t rows_left;  /* rows this import may store: the owner's row quota less
	                       what their other imports hold, as of admission and then
	                       of the last batch (schema/005_quota.sql); -1 none */
	int64_t bytes_left; /* the same for upload bytes, as of the last chunk */
	char refusal[6];    /* SQLSTATE of a refused admission (PF002..PF004), or "" */
	char name[PF_JOB_NAME_MAX + 1];
	char created_at[32];
	char finished_at[32];
	pf_job_state state;
	char *error;     /* owned, NULL when none */
	bool started;    /* creation sent */
	bool created;    /* the row exists and we hold its lock */
	bool finalizing; /* final unit sent */
	bool resumable;  /* tus: input ends only by the producer's word */
	bool adopting;   /* pf_job_adopt: on_started owed after the first resync */
	bool lock_held;  /* our writer session holds pg_advisory_lock(id) */
	bool parking;    /* shutdown or idle resumable job: settle, then free */
	bool idle_park;  /* parking only because nobody sends: a PATCH may stop it */
	bool cancelling; /* pf_job_cancel: delete once settled */
	void (*cancel_done)(void *arg, bool ok);
	void *cancel_arg;
	int64_t gen, work_gen; /* generations: visible, being written */
	cJSON *override;       /* owned: mapping override of this run, or NULL */

	/* input */
	int64_t bytes_total;      /* -1 unknown */
	int64_t bytes_received;   /* stream bytes accepted: the upload offset */
	pf_spool spool;           /* the durable copy on its way */
	struct evbuffer *kept;    /* owned: consumed by the reader, not committed */
	int64_t kept_off;         /* stream offset of kept's first byte */
	struct evbuffer *pending; /* owned: not parsed yet; starts at parse_off */
	int64_t parse_off;
	bool input_ended;     /* producer said end, or the stored upload is complete */
	bool input_failed;    /* cut off */
	bool csv_finished;    /* pf_csv_finish / abandon done */
	bool owe_resume;      /* returned PF_JOB_PAUSED, on_resume owed */
	bool owe_durable;     /* pf_job_sync: on_durable owed */
	bool stop_parsing;    /* failure or cancel: discard further input */
	bool quota_refused;   /* a batch was refused for the row quota: the
	                         batches after it fail out of place, as expected */
	pf_job_state outcome; /* terminal state to reach */
	pf_csv *csv;          /* owned */

	/* bytes fetched back from import_chunks (adoption) */
	bool fetching;         /* pending is fed from the database */
	bool fetch_busy;       /* a fetch unit in flight */
	int64_t fetch_off;     /* next stream byte to fetch */
	int64_t fetch_end;     /* stored bytes when the fetch began */
	bool fetch_complete;   /* the stored upload is complete: end input after it */
	struct evbuffer *tail; /* owned: live bytes that came during the fetch */

	/* header and row shape */
	pf_rowshape shape;    /* owned: header, mapping, date orders, raw rows */
	cJSON *columns;       /* owned: the mapping, [] until the header */
	cJSON *header_fields; /* owned: the header record as read, NULL before */
	uint64_t hdr_end_off; /* stream position after the header */
	uint64_t hdr_end_line;
	bool hdr_end_cr;

	/* sample window */
	held_rec *held; /* owned array */
	size_t nheld, held_cap;
	size_t held_bytes;
	bool sampled; /* orders decided, dictionary built (or restored) */

	/* batching */
	pf_batch batch;
	int64_t batch_from; /* first record index in the batch */
	int64_t batch_to;   /* index after its last record */
	int64_t batch_end_off, batch_end_line;
	bool batch_end_cr;
	int inflight; /* units sent, not answered (all kinds) */
	unsigned epoch;
	bool resyncing;         /* waiting for units to settle, or for the row */
	struct event *pump_ev;  /* owned: deferred pump */
	struct event *flush_ev; /* owned: partial-batch timer */

	/* committed counters (what the database has) */
	int64_t rows_parsed_local; /* records seen by the reader */
	int64_t rows_stored_local; /* of them, the ones to be stored (not rejected):
	                              what the row quota counts */
	int64_t rows_inserted, rows_rejected, rows_warned;
	int64_t raw_bytes, raw_stored;

	/* progress */
	uint64_t seq;
	double rate_rows;  /* smoothed rows/s */
	double rate_bytes; /* smoothed bytes/s */
	double rate_t;     /* time of last sample, 0 none */
	int64_t rate_last_rows, rate_last_bytes;
};

/* ---------------- job.c ---------------- */

/* State and errors: the first error is kept; every state change notifies. */
void job_notify(pf_job *job, bool final);
void job_set_error(pf_job *job, const char *msg);
void job_set_state(pf_job *job, pf_job_state st);
int job_state_by_name(const char *s);
bool job_input_over(const pf_job *job);
/* Stops taking input after a failure; the job ends once units settle. */
void job_fail(pf_job *job, const char *msg);
void job_schedule_pump(pf_job *job);

/* Units: a context of the job's current epoch, sent on its writer
 * connection; every callback counts its unit with job_unit_answered, or
 * with job_unit_settle, which also says whether the result still counts. */
unit_ctx *job_ctx_new(pf_job *job, unit_kind kind);
void job_submit(pf_job *job, pf_db_unit *u);
bool job_unit_answered(unit_ctx *c);
bool job_unit_settle(unit_ctx *c, const pf_db_result *r, const char *what);

/* A value of row 0 of statement stmt (NULL reads as 0 / false). */
int64_t job_val_int(const pf_db_result *r, int stmt, int col);
bool job_val_bool(const pf_db_result *r, int stmt, int col);

/* The header, the sample window and the reader. */
int job_update_columns(pf_job *job);
int job_set_header(pf_job *job, size_t n, const char *const *fields, const size_t *lens);
void job_held_clear(pf_job *job);
pf_csv *job_new_reader(pf_job *job);

/* Sends every sealed chunk not sent in this epoch, in order; 0 or an error. */
int job_submit_chunks(pf_job *job);

/* Lifetime: drops a JOB_REFS_* bit; frees once no ref and no unit is left. */
void job_unref(pf_job *job, int ref);
void job_free(pf_job *job);

/* ---------------- job_resync.c ---------------- */

/* Asks for more stored bytes while the reader is being fed from the table. */
void job_fetch_more(pf_job *job);
/* Starts (or finishes) a resync: a new epoch, then the job row is read. */
void job_resync(pf_job *job, bool lost);
/* Reads the lock and the job row (also adoption's first read). */
void job_resync_read(pf_job *job);

/* ---------------- job_finish.c ---------------- */

/* Writes the terminal state (or deletes, or parks) once everything settled. */
void job_maybe_finalize(pf_job *job);

#endif

/*
 * batch.h - one batch of an import: its rows as PostgreSQL binary arrays
 * (one per column, ready to be bound as parameters of a single
 * INSERT ... SELECT FROM unnest(...)), its rejected rows and warnings,
 * and the job counters it moves. One batch = one transaction.
 *
 * Text arrays in binary format need no escaping: each element is its
 * length and its bytes. Casts to numeric/date/etc. happen in SQL.
 *
 * Ownership: the batch owns its column buffers; pf_batch_submit hands
 * them to a database unit and leaves the batch empty and reusable (also
 * when the unit could not be built: it then fails through its callback).
 */
#ifndef PROPFLOW_BATCH_H
#define PROPFLOW_BATCH_H

#include "propflow/base/common.h"
#include "propflow/store/db.h"
#include "propflow/ingest/mapping.h"

#define PF_BATCH_BYTES_MAX  (8 * 1024 * 1024) /* flush a batch past this many bytes */
#define PF_BATCH_REC_COLS   (3 + PF_F__COUNT) /* row_no, line_no, the fields, warned */
#define PF_BATCH_REC_WARNED (2 + PF_F__COUNT) /* rec[] column of warned ('t' / 'f') */
#define PF_BATCH_ERR_COLS   7                 /* kind, row, line, column, value, reason, raw */
#define PF_ARRAY_HEADER     20                /* ndim, flags, oid, dim, lbound */

typedef struct pf_colbuf {
	char *data; /* owned; PF_ARRAY_HEADER bytes reserved in front */
	size_t len; /* bytes used, header included */
	size_t cap;
	uint32_t n; /* elements */
	bool has_null;
} pf_colbuf;

typedef struct pf_batch {
	pf_colbuf rec[PF_BATCH_REC_COLS]; /* property_records columns */
	pf_colbuf raw_row;                /* property_raw.row_no */
	pf_colbuf raw_data;               /* property_raw.data (bytea) */
	pf_colbuf err[PF_BATCH_ERR_COLS]; /* import_errors columns */
	uint32_t nrecords;                /* rows to insert */
	uint32_t nerrors;                 /* import_errors rows */
	int64_t parsed;                   /* data records in this batch */
	int64_t rejected;
	int64_t warned;     /* inserted rows with >= 1 warning */
	int64_t raw_bytes;  /* raw JSON before compression */
	int64_t raw_stored; /* after */
	size_t bytes;       /* total payload, for PF_BATCH_BYTES_MAX */
} pf_batch;

void pf_batch_init(pf_batch *b);
void pf_batch_deinit(pf_batch *b);
bool pf_batch_empty(const pf_batch *b);

/* Append one element (v NULL = SQL NULL). Returns 0 or PF_ENOMEM. */
PF_MUST_CHECK int pf_colbuf_add(pf_colbuf *c, const char *v, size_t len);
/* Complete the array (element type oid) and hand its buffer over. */
char *pf_colbuf_take(pf_colbuf *c, uint32_t elem_oid, size_t *len);
void pf_colbuf_free(pf_colbuf *c);

/* Record an import_errors row. column/value/raw may be NULL. */
PF_MUST_CHECK int pf_batch_add_error(pf_batch *b, bool rejected, uint64_t row, uint64_t line,
                                     const char *column, const char *value, size_t value_len,
                                     const char *reason, const char *raw, size_t raw_len);

/* Where the batch starts and ends in the job's stream: committed with it,
 * and it applies only if the job stands at from_record (compare and set). */
typedef struct pf_batch_progress {
	int64_t job_id;
	int64_t gen;         /* generation written (import_jobs.work_gen) */
	int64_t from_record; /* first data record of the batch */
	int64_t to_record;   /* the record after its last one */
	int64_t end_offset;  /* stream byte after its last record */
	int64_t end_line;    /* physical line there */
	bool end_cr;         /* the byte before end_offset is a CR */
	int64_t max_rows;    /* the owner's row quota, checked in the batch's
	                        transaction (schema/005_quota.sql); 0: none */
	int64_t margin;      /* rows the caller's connections may hold uncommitted
	                        at once: nearer the quota than this, the owner's
	                        batches commit one at a time */
} pf_batch_progress;

/*
 * Build the unit for this batch: the position and counters (first, so a
 * batch out of place aborts), then inserts (records, raw rows, errors),
 * one transaction, and submit it on key p->job_id. Returns 0: the batch
 * is empty and reusable, and the callback runs once with the outcome (an
 * error, with nothing stored, if a buffer could not be made: the unit's
 * build error, see db.h). PF_ENOMEM only when no unit could be allocated:
 * then the batch is unchanged and the callback is not called.
 */
PF_MUST_CHECK int pf_batch_submit(pf_batch *b, pf_db *db, const pf_batch_progress *p, pf_db_cb cb,
                                  void *arg);

#endif

/*
 * job.c - the import pipeline of one upload (see job.h).
 *
 * Flow: pf_job_feed -> spool (durable copy) and pending bytes -> job_pump
 * -> pf_csv_feed -> csv_record_cb -> (sample window, then) job_add_record
 * -> pf_batch -> pf_batch_submit (pipelined, one transaction per batch,
 * position committed with it) -> batch_done_cb.
 *
 * Bytes the reader has consumed stay in `kept` until a batch that ends
 * past them commits, so a resync can rewind the reader to the committed
 * position without the database. After a restart the bytes come back from
 * import_chunks instead (job_resync.c).
 *
 * Every unit carries the job's epoch; a resync starts a new epoch, and the
 * results of older units are only counted, never acted on: the resync reads
 * what they did from the database. Resynchronising is job_resync.c, the
 * terminal state and parking job_finish.c, accessors and JSON
 * job_json.c; what they share is in job_internal.h.
 */
#include "job_internal.h"

#include "propflow/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SQLSTATE_OUT_OF_PLACE "PF001" /* raised by schema/002_durable.sql */
#define SQLSTATE_ROW_QUOTA    "PF003" /* raised by schema/005_quota.sql */

/* A data record held in the sample window (copied). */
typedef struct held_rec {
	uint64_t index, line;
	size_t nfields;
	char **fields; /* owned */
	size_t *lens;  /* owned */
	char *raw;     /* owned */
	size_t raw_len;
	pf_csv_error error;
	uint64_t end_offset, end_line; /* stream position after it */
	bool end_cr;
} held_rec;

static void job_pump(pf_job *job);

const char *pf_job_state_name(pf_job_state s)
{
	switch (s) {
	case PF_JOB_RECEIVING: return "receiving";
	case PF_JOB_PROCESSING: return "processing";
	case PF_JOB_DONE: return "done";
	case PF_JOB_FAILED: return "failed";
	case PF_JOB_INTERRUPTED: return "interrupted";
	case PF_JOB_CANCELLED: return "cancelled";
	}
	abort();
}

int job_state_by_name(const char *s)
{
	for (int st = PF_JOB_RECEIVING; st <= PF_JOB_CANCELLED; st++)
		if (s && strcmp(s, pf_job_state_name((pf_job_state)st)) == 0)
			return st;
	return -1;
}

bool pf_job_state_terminal(pf_job_state s)
{
	return s >= PF_JOB_DONE;
}

/* ---------------- small helpers ---------------- */

/* A partial batch (or sample) is written after PF_JOB_FLUSH_MS even when
 * no more rows come, so the first rows show up at once on a slow upload. */
static void arm_flush(pf_job *job)
{
	struct timeval tv = {0, PF_JOB_FLUSH_MS * 1000};
	evtimer_add(job->flush_ev, &tv);
}

void job_notify(pf_job *job, bool final)
{
	if (job->env->changed)
		job->env->changed(job->env->changed_arg, job, final);
}

void job_set_error(pf_job *job, const char *msg)
{
	if (job->error)
		return; /* the first cause is the one worth reporting */
	job->error = strdup(msg);
	pf_warn("import %lld: %s", (long long)job->id, msg);
}

/* Every state change goes through here. */
void job_set_state(pf_job *job, pf_job_state st)
{
	if (job->state == st)
		return;
	if (pf_job_state_terminal(job->state))
		abort(); /* a finished job never changes again */
	job->state = st;
	job_notify(job, pf_job_state_terminal(st));
}

bool job_input_over(const pf_job *job)
{
	return job->input_ended || job->input_failed;
}

/* Stop taking input after a failure; the job ends once units settle. */
void job_fail(pf_job *job, const char *msg)
{
	job_set_error(job, msg);
	if (job->outcome == PF_JOB_DONE)
		job->outcome = PF_JOB_FAILED;
	job->stop_parsing = true;
	if (job->resumable && !(job->refs & JOB_REFS_PRODUCER))
		job->input_failed = true; /* nobody will end it */
	/* the reader may be inside pending's memory right now: the pump
	 * discards it on its next turn */
	job_schedule_pump(job);
}

void job_schedule_pump(pf_job *job)
{
	event_active(job->pump_ev, 0, 0);
}

static bool window_full(const pf_job *job)
{
	return job->inflight >= job->env->cfg->batches_in_flight;
}

unit_ctx *job_ctx_new(pf_job *job, unit_kind kind)
{
	unit_ctx *c = calloc(1, sizeof(*c));
	if (c) {
		c->job = job;
		c->kind = kind;
		c->epoch = job->epoch;
	}
	return c;
}

/* Send a unit of this job on its writer connection (in order). */
void job_submit(pf_job *job, pf_db_unit *u)
{
	job->inflight++;
	pf_db_submit(job->env->writers, (uint64_t)job->id, u);
}

/* Counts an answered unit; true if it is of the job's current epoch. */
bool job_unit_answered(unit_ctx *c)
{
	c->job->inflight--;
	return c->epoch == c->job->epoch;
}

/*
 * Common start of every unit callback: counts the unit, and tells whether
 * its result still matters. Stale results (an older epoch), results during
 * shutdown, and lost or out-of-place units lead to a resync or a settle.
 */
bool job_unit_settle(unit_ctx *c, const pf_db_result *r, const char *what)
{
	pf_job *job = c->job;
	bool current = job_unit_answered(c) && !job->env->closing;
	if (r->lost)
		job->lock_held = false; /* the session that held it is gone */
	if (current && r->error && c->kind == UNIT_BATCH &&
	    (strcmp(r->sqlstate, SQLSTATE_ROW_QUOTA) == 0 ||
	     (job->quota_refused && strcmp(r->sqlstate, SQLSTATE_OUT_OF_PLACE) == 0))) {
		/* a batch that would go over the owner's row quota, and the ones
		 * sent after it (now out of place): nothing of them is stored, and
		 * the job ends with every batch before them */
		if (!job->quota_refused)
			pf_info(
			    "import %lld: a batch would go over the owner's row quota; stopping",
			    (long long)job->id);
		job->quota_refused = true;
		job->rows_parsed_local -= c->parsed;
		job->rows_stored_local -= c->parsed - c->rejected;
		job_fail(job, "row quota exceeded");
		current = false;
	} else if (current && r->error) {
		if (r->lost || strcmp(r->sqlstate, SQLSTATE_OUT_OF_PLACE) == 0) {
			pf_info("import %lld: %s: %s; resynchronising", (long long)job->id, what,
			        r->error);
			job_resync(job, r->lost);
		} else {
			char msg[512];
			snprintf(msg, sizeof(msg), "%s failed: %s", what, r->error);
			job_fail(job, msg);
		}
		current = false;
	}
	if (!current) {
		if (job->resyncing && job->inflight == 0)
			job_resync(job, false); /* the settle is over: read the row */
		else
			job_schedule_pump(job);
	}
	return current;
}

int64_t job_val_int(const pf_db_result *r, int stmt, int col)
{
	const char *v = pf_db_value(r, stmt, 0, col);
	return v ? strtoll(v, NULL, 10) : 0;
}

bool job_val_bool(const pf_db_result *r, int stmt, int col)
{
	const char *v = pf_db_value(r, stmt, 0, col);
	return v && v[0] == 't';
}

/* ---------------- header ---------------- */

/* The mapping as the job object shows it, rebuilt when it changes. */
int job_update_columns(pf_job *job)
{
	cJSON *arr = pf_rowshape_columns_json(&job->shape);
	if (!arr)
		return PF_ENOMEM;
	cJSON_Delete(job->columns);
	job->columns = arr;
	return 0;
}

int job_set_header(pf_job *job, size_t n, const char *const *fields, const size_t *lens)
{
	int rc = pf_rowshape_set_header(&job->shape, n, fields, lens);
	if (rc != 0)
		return rc;
	if (job->override) {
		char err[256];
		rc = pf_rowshape_override(&job->shape, job->override, err, sizeof(err));
		if (rc != 0) {
			job_fail(job, err);
			return 0;
		}
	}
	return job_update_columns(job);
}

/* ---------------- records into batches ---------------- */

static int submit_batch(pf_job *job);

/* One data record into the current batch. Returns 0, PF_JOB_PAUSED when
 * the window filled, or a negative error. */
static int job_add_record(pf_job *job, const held_rec *h)
{
	pf_batch *b = &job->batch;
	int rc = 0;
	bool reject = h->error != PF_CSV_OK || h->nfields != job->shape.ncols;
	if (!reject && job->rows_left >= 0 && job->rows_stored_local >= job->rows_left) {
		/* over the owner's row quota: this record stays unparsed (counters
		 * keep parsed = inserted + rejected), the rows before it are stored */
		rc = submit_batch(job);
		job_fail(job, "row quota exceeded");
		return rc;
	}
	if (pf_batch_empty(b))
		job->batch_from = (int64_t)h->index;
	b->parsed++;
	if (reject) {
		char reason[128];
		if (h->error != PF_CSV_OK)
			snprintf(reason, sizeof(reason), "%s", pf_csv_error_str(h->error));
		else
			snprintf(reason, sizeof(reason), "expected %zu fields, found %zu",
			         job->shape.ncols, h->nfields);
		b->rejected++;
		rc = pf_batch_add_error(b, true, h->index, h->line, NULL, NULL, 0, reason, h->raw,
		                        h->raw_len);
		if (rc != 0)
			return rc;
	} else {
		rc = pf_rowshape_add_row(&job->shape, b, h->index, h->line,
		                         (const char *const *)h->fields, h->lens);
		if (rc != 0)
			return rc;
	}
	job->batch_to = (int64_t)h->index + 1;
	job->batch_end_off = (int64_t)h->end_offset;
	job->batch_end_line = (int64_t)h->end_line;
	job->batch_end_cr = h->end_cr;
	job->rows_parsed_local++;
	if (!reject)
		job->rows_stored_local++;
	if (b->parsed == 1)
		arm_flush(job);
	if (b->parsed >= job->env->cfg->batch_rows || b->bytes > PF_BATCH_BYTES_MAX ||
	    b->nerrors >= PF_JOB_WARNINGS_PER_BATCH_MAX) {
		rc = submit_batch(job);
		if (rc != 0)
			return rc;
	}
	return window_full(job) ? PF_JOB_PAUSED : 0;
}

static void held_free(held_rec *h)
{
	for (size_t i = 0; i < h->nfields; i++)
		free(h->fields[i]);
	free(h->fields);
	free(h->lens);
	free(h->raw);
	memset(h, 0, sizeof(*h));
}

void job_held_clear(pf_job *job)
{
	for (size_t i = 0; i < job->nheld; i++)
		held_free(&job->held[i]);
	free(job->held);
	job->held = NULL;
	job->nheld = job->held_cap = 0;
	job->held_bytes = 0;
}

static int hold_record(pf_job *job, const pf_csv_record *rec)
{
	if (job->nheld == job->held_cap) {
		size_t cap = job->held_cap ? job->held_cap * 2 : 64;
		held_rec *p = realloc(job->held, cap * sizeof(held_rec));
		if (!p)
			return PF_ENOMEM;
		job->held = p;
		job->held_cap = cap;
	}
	held_rec *h = &job->held[job->nheld];
	memset(h, 0, sizeof(*h));
	h->index = rec->index;
	h->line = rec->line;
	h->error = rec->error;
	h->end_offset = rec->end_offset;
	h->end_line = rec->end_line;
	h->end_cr = rec->end_cr;
	h->fields = calloc(rec->nfields ? rec->nfields : 1, sizeof(char *));
	h->lens = calloc(rec->nfields ? rec->nfields : 1, sizeof(size_t));
	h->raw = malloc(rec->raw_len + 1);
	if (!h->fields || !h->lens || !h->raw)
		goto fail;
	memcpy(h->raw, rec->raw, rec->raw_len);
	h->raw[rec->raw_len] = 0;
	h->raw_len = rec->raw_len;
	size_t bytes = rec->raw_len + 64;
	for (size_t i = 0; i < rec->nfields; i++) {
		h->fields[i] = malloc(rec->lens[i] + 1);
		if (!h->fields[i])
			goto fail;
		h->nfields = i + 1;
		memcpy(h->fields[i], rec->fields[i], rec->lens[i] + 1);
		h->lens[i] = rec->lens[i];
		bytes += rec->lens[i] + 16;
	}
	h->nfields = rec->nfields;
	job->nheld++;
	job->held_bytes += bytes;
	/* date evidence for the decision */
	if (rec->error == PF_CSV_OK && rec->nfields == job->shape.ncols)
		pf_rowshape_observe(&job->shape, rec->fields, rec->lens);
	return 0;
fail:
	held_free(h);
	return PF_ENOMEM;
}

static void shape_done_cb(void *arg, const pf_db_result *r)
{
	unit_ctx *c = arg;
	pf_job *job = c->job;
	if (job_unit_settle(c, r, "storing the column mapping"))
		job_schedule_pump(job);
	free(c);
	job_maybe_finalize(job);
}

/* The held rows for the dictionary: those read whole and of the header's
 * width. */
static bool held_sample_cb(void *arg, size_t i, const char *const **fields, const size_t **lens)
{
	pf_job *job = arg;
	if (i >= job->nheld)
		return false;
	const held_rec *h = &job->held[i];
	bool whole = h->error == PF_CSV_OK && h->nfields == job->shape.ncols;
	*fields = whole ? (const char *const *)h->fields : NULL;
	*lens = h->lens;
	return true;
}

/* The shape row: what a restart needs to go on without the sample. */
static char *shape_json(pf_job *job)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *orders = pf_rowshape_orders_json(&job->shape);
	cJSON *hdr =
	    job->header_fields ? cJSON_Duplicate(job->header_fields, true) : cJSON_CreateArray();
	char *s = NULL;
	if (o && orders && hdr) {
		cJSON_AddItemToObject(o, "header", hdr);
		cJSON_AddItemToObject(o, "orders", orders);
		hdr = orders = NULL;
		s = cJSON_PrintUnformatted(o);
	}
	cJSON_Delete(o);
	cJSON_Delete(orders);
	cJSON_Delete(hdr);
	return s;
}

/* Decide date orders, build the dictionary, store the shape, then feed
 * the held rows into batches. */
static int job_decide(pf_job *job)
{
	job->sampled = true;
	char *dict;
	size_t dict_len;
	int rc = pf_rowshape_decide(&job->shape, held_sample_cb, job, PF_JOB_DICT_BYTES, &dict,
	                            &dict_len);
	if (rc != 0)
		return rc;
	rc = job_update_columns(job);
	if (rc != 0) {
		free(dict);
		return rc;
	}

	/* the shape goes first, on the job's connection, so it commits before
	 * any raw row that needs its dictionary */
	unit_ctx *c = job_ctx_new(job, UNIT_SHAPE);
	pf_db_unit *u = c ? pf_db_unit_new(shape_done_cb, c) : NULL;
	if (!u) {
		free(c);
		free(dict);
		return PF_ENOMEM;
	}
	char *columns = cJSON_PrintUnformatted(job->columns);
	char *shape = shape_json(job);
	char delim[2] = {pf_csv_delimiter(job->csv), 0};
	rc = pf_db_unit_stmt(u, "SELECT pf_shape_put($1, $2::int, $3::jsonb, $4, $5, $6, "
	                        "$7::jsonb, $8, $9, $10::boolean)");
	rc = rc ? rc : pf_db_unit_int(u, job->id);
	rc = rc ? rc : pf_db_unit_int(u, job->work_gen);
	rc = rc ? rc : pf_db_unit_text(u, columns ? columns : "[]");
	rc = rc ? rc : pf_db_unit_text(u, pf_csv_encoding_name(pf_csv_encoding_of(job->csv)));
	rc = rc ? rc : pf_db_unit_text(u, delim[0] ? delim : NULL);
	if (rc == 0) {
		if (dict_len)
			rc = pf_db_unit_binary_owned(u, PF_OID_BYTEA, dict, dict_len);
		else
			rc = pf_db_unit_text(u, NULL);
		dict = NULL;
	}
	free(dict);
	rc = rc ? rc : (shape ? pf_db_unit_text(u, shape) : PF_ENOMEM);
	rc = rc ? rc : pf_db_unit_int(u, (int64_t)job->hdr_end_off);
	rc = rc ? rc : pf_db_unit_int(u, (int64_t)job->hdr_end_line);
	rc = rc ? rc : pf_db_unit_text(u, job->hdr_end_cr ? "t" : "f");
	free(columns);
	free(shape);
	if (rc != 0) {
		pf_db_unit_free(u);
		free(c);
		return rc;
	}
	job_submit(job, u);
	job_notify(job, false);

	/* the held rows, in order; the window may overfill by the sample,
	 * which is bounded by sample_rows and PF_JOB_SAMPLE_BYTES_MAX */
	for (size_t i = 0; i < job->nheld; i++) {
		rc = job_add_record(job, &job->held[i]);
		if (rc < 0)
			return rc;
		held_free(&job->held[i]);
	}
	job_held_clear(job);
	return window_full(job) ? PF_JOB_PAUSED : 0;
}

static int csv_record_cb(void *arg, const pf_csv_record *rec)
{
	pf_job *job = arg;
	int rc;
	if (job->stop_parsing || job->resyncing || job->parking)
		return PF_CSV_PAUSED;
	if (rec->index == 0) {
		if (rec->error != PF_CSV_OK) {
			char msg[256];
			snprintf(msg, sizeof(msg), "the header row cannot be read: %s",
			         pf_csv_error_str(rec->error));
			job_fail(job, msg);
			return PF_CSV_PAUSED;
		}
		cJSON_Delete(job->header_fields);
		job->header_fields = cJSON_CreateArray();
		for (size_t i = 0; job->header_fields && i < rec->nfields; i++)
			if (!cJSON_AddItemToArray(job->header_fields,
			                          cJSON_CreateString(rec->fields[i])))
				return PF_ENOMEM;
		if (!job->header_fields)
			return PF_ENOMEM;
		job->hdr_end_off = rec->end_offset;
		job->hdr_end_line = rec->end_line;
		job->hdr_end_cr = rec->end_cr;
		rc = job_set_header(job, rec->nfields, rec->fields, rec->lens);
		if (rc != 0)
			return rc;
		job_notify(job, false);
		return job->stop_parsing ? PF_CSV_PAUSED : 0;
	}
	if (!job->sampled) {
		rc = hold_record(job, rec);
		if (rc != 0)
			return rc;
		if ((int64_t)job->nheld < job->env->cfg->sample_rows &&
		    job->held_bytes < PF_JOB_SAMPLE_BYTES_MAX) {
			if (job->nheld == 1)
				arm_flush(job);
			return 0;
		}
		rc = job_decide(job);
		return rc == PF_JOB_PAUSED ? PF_CSV_PAUSED : rc;
	}
	held_rec h = {
	    .index = rec->index,
	    .line = rec->line,
	    .nfields = rec->nfields,
	    .fields = (char **)rec->fields,
	    .lens = (size_t *)rec->lens,
	    .raw = (char *)rec->raw,
	    .raw_len = rec->raw_len,
	    .error = rec->error,
	    .end_offset = rec->end_offset,
	    .end_line = rec->end_line,
	    .end_cr = rec->end_cr,
	};
	rc = job_add_record(job, &h);
	return rc == PF_JOB_PAUSED ? PF_CSV_PAUSED : rc;
}

pf_csv *job_new_reader(pf_job *job)
{
	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	lim.field_max = (size_t)job->env->cfg->field_max;
	lim.fields_max = (size_t)job->env->cfg->fields_max;
	lim.record_max = (size_t)job->env->cfg->record_max;
	lim.raw_keep = (size_t)job->env->cfg->error_text_max;
	return pf_csv_new(&lim, csv_record_cb, job);
}

/* ---------------- the durable copy ---------------- */

/* What the owner's other imports hold came back with a chunk or a batch
 * ("-1": no owner, no quota): this import may use the rest of the quota,
 * which narrows while they grow and widens when one is deleted. An import
 * taken over after a restart gets its allowance here, at its first batch. */
static void job_quota_follow(int64_t *left, int64_t max, const char *others)
{
	if (!others)
		return;
	int64_t o = strtoll(others, NULL, 10);
	if (o >= 0)
		*left = o < max ? max - o : 0;
}

static void chunk_done_cb(void *arg, const pf_db_result *r)
{
	unit_ctx *c = arg;
	pf_job *job = c->job;
	if (job_unit_settle(c, r, "storing the upload")) {
		job_quota_follow(&job->bytes_left, job->env->cfg->user_max_bytes,
		                 pf_db_value(r, 0, 0, 1));
		pf_spool_ack_head(&job->spool);
		job_schedule_pump(job);
	}
	free(c);
	job_maybe_finalize(job);
}

/* Send every sealed chunk not sent in this epoch, in order. */
int job_submit_chunks(pf_job *job)
{
	if (job->resyncing || !job->created || job->env->closing)
		return 0; /* sent after the resync */
	pf_spool_chunk *ch;
	while ((ch = pf_spool_next_unsent(&job->spool))) {
		unit_ctx *c = job_ctx_new(job, UNIT_CHUNK);
		pf_db_unit *u = c ? pf_db_unit_new(chunk_done_cb, c) : NULL;
		char *copy = malloc(ch->len ? ch->len : 1);
		int rc = u && copy ? 0 : PF_ENOMEM;
		if (rc == 0 && ch->len)
			memcpy(copy, ch->data, ch->len);
		rc = rc ? rc
		        : pf_db_unit_stmt(u, "SELECT durable, others_bytes "
		                             "FROM pf_chunk_put($1, $2, $3::int, $4, $5::boolean)");
		rc = rc ? rc : pf_db_unit_int(u, job->id);
		rc = rc ? rc : pf_db_unit_int(u, ch->offset);
		rc = rc ? rc : pf_db_unit_int(u, ch->raw_len);
		if (rc == 0) {
			rc = pf_db_unit_binary_owned(u, PF_OID_BYTEA, copy, ch->len);
			copy = NULL;
		}
		rc = rc ? rc : pf_db_unit_text(u, ch->final ? "t" : "f");
		free(copy);
		if (rc != 0) {
			ch->sent = false;
			if (u)
				pf_db_unit_free(u);
			free(c);
			return rc;
		}
		job_submit(job, u);
	}
	return 0;
}

/* Bytes up to `end` must be stored before a batch read from them. */
static int make_durable(pf_job *job, int64_t end)
{
	if (job->spool.sealed < end) {
		int rc = pf_spool_seal(&job->spool, false);
		if (rc != 0)
			return rc;
	}
	return job_submit_chunks(job);
}

/* ---------------- batches ---------------- */

static void batch_done_cb(void *arg, const pf_db_result *r)
{
	unit_ctx *c = arg;
	pf_job *job = c->job;
	if (job_unit_settle(c, r, "storing rows")) {
		job_quota_follow(&job->rows_left, job->env->cfg->user_max_rows,
		                 pf_db_value(r, 0, 0, 0));
		job->rows_inserted += c->parsed - c->rejected;
		job->rows_rejected += c->rejected;
		job->rows_warned += c->warned;
		job->raw_bytes += c->raw_bytes;
		job->raw_stored += c->raw_stored;
		/* the bytes behind it are no longer needed for a rewind */
		int64_t drop = c->end_offset - job->kept_off;
		int64_t have = (int64_t)evbuffer_get_length(job->kept);
		if (drop > have)
			drop = have;
		if (drop > 0) {
			evbuffer_drain(job->kept, (size_t)drop);
			job->kept_off += drop;
		}
		job_notify(job, false);
		if (!job->stop_parsing)
			job_schedule_pump(job);
	}
	free(c);
	job_maybe_finalize(job);
}

static int submit_batch(pf_job *job)
{
	pf_batch *b = &job->batch;
	evtimer_del(job->flush_ev);
	if (pf_batch_empty(b))
		return 0;
	int rc = make_durable(job, job->batch_end_off);
	if (rc != 0)
		return rc;
	unit_ctx *c = job_ctx_new(job, UNIT_BATCH);
	if (!c)
		return PF_ENOMEM;
	c->parsed = b->parsed;
	c->rejected = b->rejected;
	c->warned = b->warned;
	c->raw_bytes = b->raw_bytes;
	c->raw_stored = b->raw_stored;
	c->end_offset = job->batch_end_off;
	pf_batch_progress p = {
	    .job_id = job->id,
	    .gen = job->work_gen,
	    .from_record = job->batch_from,
	    .to_record = job->batch_to,
	    .end_offset = job->batch_end_off,
	    .end_line = job->batch_end_line,
	    .end_cr = job->batch_end_cr,
	    .max_rows = job->env->cfg->user_max_rows, /* unless the job has no owner */
	    .margin = (int64_t)job->env->cfg->db_writers * job->env->cfg->batch_rows,
	};
	job->inflight++; /* pf_batch_submit submits on the job's key */
	rc = pf_batch_submit(b, job->env->writers, &p, batch_done_cb, c);
	if (rc != 0) {
		job->inflight--;
		free(c);
		return rc;
	}
	return 0;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_job *job = arg;
	if (job->stop_parsing || job->resyncing || job->parking)
		return;
	int rc = 0;
	if (!job->sampled && job->nheld > 0)
		rc = job_decide(job);
	if (rc >= 0 && !job->stop_parsing)
		rc = submit_batch(job);
	if (rc < 0)
		job_fail(job, pf_strerror(rc));
	job_maybe_finalize(job);
}

/* ---------------- the pump ---------------- */

static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
	job_pump(arg);
}

/* A record longer than PF_JOB_KEPT_MAX (a 100 MB field) must not be held
 * whole for a rewind: bytes already stored are let go, a rewind reads them
 * back from import_chunks. */
static void trim_kept(pf_job *job)
{
	int64_t len = (int64_t)evbuffer_get_length(job->kept);
	if (len <= PF_JOB_KEPT_MAX)
		return;
	int64_t drop = job->spool.durable - job->kept_off;
	if (drop > len)
		drop = len;
	if (drop > 0) {
		evbuffer_drain(job->kept, (size_t)drop);
		job->kept_off += drop;
	}
}

static bool spool_full(const pf_job *job)
{
	return job->spool.unacked >= PF_SPOOL_UNACKED_MAX;
}

static void job_pump(pf_job *job)
{
	if (job->stop_parsing) {
		evbuffer_drain(job->pending, evbuffer_get_length(job->pending));
		evbuffer_drain(job->kept, evbuffer_get_length(job->kept));
		evbuffer_drain(job->tail, evbuffer_get_length(job->tail));
	}
	if (job->owe_durable && job->created &&
	    (job->stop_parsing || (!job->spool.head && !job->spool.open_len))) {
		job->owe_durable = false;
		if (job->hooks.on_durable) {
			job_schedule_pump(job); /* the rest of this turn, unless freed */
			job->hooks.on_durable(job->hook_arg, job);
			return; /* the producer may have let go: come back later */
		}
	}
	if (!job->created || job->finalizing || job->resyncing)
		return;
	while (!job->stop_parsing && !job->parking && !window_full(job)) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(job->pending, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		size_t consumed = 0;
		int rc = pf_csv_feed(job->csv, v.iov_base, v.iov_len, &consumed);
		if (consumed &&
		    evbuffer_remove_buffer(job->pending, job->kept, consumed) != (int)consumed) {
			job_fail(job, "out of memory");
			break;
		}
		job->parse_off += (int64_t)consumed;
		if (rc < 0) {
			job_fail(job, rc == PF_ENOMEM ? "out of memory" : pf_strerror(rc));
			break;
		}
		if (rc == PF_CSV_PAUSED || job->resyncing)
			break;
	}
	if (job->resyncing)
		return;
	trim_kept(job);
	if (job->fetching && !job->parking)
		job_fetch_more(job);
	if (job->stop_parsing) {
		evbuffer_drain(job->pending, evbuffer_get_length(job->pending));
		evbuffer_drain(job->kept, evbuffer_get_length(job->kept));
	}
	bool drained = evbuffer_get_length(job->pending) == 0 && !job->fetching;
	if ((drained || job->stop_parsing) && !window_full(job) && !spool_full(job) &&
	    job->owe_resume && !job_input_over(job) && !job->parking) {
		job->owe_resume = false;
		if (job->hooks.on_resume)
			job->hooks.on_resume(job->hook_arg, job);
	}
	if (drained && !job->stop_parsing && !job->parking && !window_full(job) &&
	    !job->csv_finished && job_input_over(job)) {
		job->csv_finished = true;
		int rc = 0;
		/* a cut-off upload ends inside a record: the complete records
		 * still held by the reader are kept, the one in progress is not */
		rc = job->input_ended ? pf_csv_finish(job->csv) : pf_csv_abandon(job->csv);
		if (rc >= 0 && !job->stop_parsing) {
			if (!job->sampled)
				rc = job_decide(job);
			if (rc >= 0)
				rc = submit_batch(job);
		}
		if (rc < 0)
			job_fail(job, pf_strerror(rc));
		if (!job->error && job->input_ended && !job->shape.ncols)
			job_fail(job, "the file is empty: no header row");
	}
	job_maybe_finalize(job);
}

/* ---------------- lifetime ---------------- */

void job_free(pf_job *job)
{
	pf_job_env *env = job->env;
	if (job->reg_prev)
		job->reg_prev->reg_next = job->reg_next;
	else if (env->jobs == job)
		env->jobs = job->reg_next;
	if (job->reg_next)
		job->reg_next->reg_prev = job->reg_prev;
	job_held_clear(job);
	pf_rowshape_deinit(&job->shape);
	cJSON_Delete(job->columns);
	cJSON_Delete(job->header_fields);
	cJSON_Delete(job->override);
	pf_csv_free(job->csv);
	pf_batch_deinit(&job->batch);
	pf_spool_deinit(&job->spool);
	if (job->pending)
		evbuffer_free(job->pending);
	if (job->kept)
		evbuffer_free(job->kept);
	if (job->tail)
		evbuffer_free(job->tail);
	if (job->pump_ev)
		event_free(job->pump_ev);
	if (job->flush_ev)
		event_free(job->flush_ev);
	free(job->error);
	free(job);
}

void job_unref(pf_job *job, int ref)
{
	job->refs &= ~ref;
	if (job->refs == 0 && job->inflight == 0)
		job_free(job);
	else if (job->refs == 0)
		job->parking = job->finalizing = true; /* freed when the last unit answers */
}

static pf_job *job_alloc(pf_job_env *env, const pf_job_hooks *hooks, void *hook_arg)
{
	pf_job *job = calloc(1, sizeof(*job));
	if (!job)
		return NULL;
	job->env = env;
	if (hooks) {
		job->hooks = *hooks;
		job->hook_arg = hook_arg;
		job->refs = JOB_REFS_PRODUCER;
	}
	job->refs |= JOB_REFS_PIPELINE;
	job->state = PF_JOB_RECEIVING;
	job->outcome = PF_JOB_DONE;
	job->bytes_total = -1;
	job->rows_left = -1;
	job->bytes_left = -1;
	pf_batch_init(&job->batch);
	pf_rowshape_init(&job->shape);
	pf_spool_init(&job->spool, 0);
	job->csv = job_new_reader(job);
	job->pending = evbuffer_new();
	job->kept = evbuffer_new();
	job->tail = evbuffer_new();
	job->pump_ev = event_new(env->base, -1, 0, pump_cb, job);
	if (job->pump_ev)
		event_priority_set(job->pump_ev, PF_PRIO_BULK); /* parsing is bulk work */
	job->flush_ev = evtimer_new(env->base, flush_cb, job);
	job->columns = cJSON_CreateArray();
	if (!job->csv || !job->pending || !job->kept || !job->tail || !job->pump_ev ||
	    !job->flush_ev || !job->columns) {
		job_free(job);
		return NULL;
	}
	job->reg_next = env->jobs;
	if (env->jobs)
		env->jobs->reg_prev = job;
	env->jobs = job;
	return job;
}

pf_job *pf_job_new(pf_job_env *env, const char *name, int64_t bytes_total,
                   const pf_job_hooks *hooks, void *hook_arg)
{
	pf_job *job = job_alloc(env, hooks, hook_arg);
	if (!job)
		return NULL;
	job->bytes_total = bytes_total;
	pf_job_set_name(job, name);
	return job;
}

void pf_job_set_resumable(pf_job *job)
{
	if (!job->started)
		job->resumable = true;
}

void pf_job_set_name(pf_job *job, const char *name)
{
	if (!name || !*name)
		name = "upload.csv";
	size_t len = strlen(name);
	if (len > PF_JOB_NAME_MAX) {
		len = PF_JOB_NAME_MAX;
		while (len && ((unsigned char)name[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(job->name, name, len);
	job->name[len] = 0;
}

static void start_failed(pf_job *job, const char *why)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "cannot create the import: %s", why);
	job_set_error(job, msg);
	job->outcome = PF_JOB_FAILED;
	job->stop_parsing = true;
	job->finalizing = true; /* no row to update */
	job_set_state(job, PF_JOB_FAILED);
	if (job->hooks.on_started)
		job->hooks.on_started(job->hook_arg, job, job->error);
	job_unref(job, JOB_REFS_PIPELINE);
}

static void created_cb(void *arg, const pf_db_result *r)
{
	unit_ctx *c = arg;
	pf_job *job = c->job;
	job_unit_answered(c);
	free(c);
	const char *id = pf_db_value(r, 2, 0, 0);
	if (r->error || !id || !job_val_bool(r, 1, 0)) {
		if (r->error && r->sqlstate && strncmp(r->sqlstate, "PF", 2) == 0)
			snprintf(job->refusal, sizeof(job->refusal), "%s", r->sqlstate);
		start_failed(job, r->error ? r->error : "no row");
		return;
	}
	job->rows_left = job_val_int(r, 0, 0);
	job->bytes_left = job_val_int(r, 0, 1);
	const char *created = pf_db_value(r, 2, 0, 1);
	snprintf(job->created_at, sizeof(job->created_at), "%s", created ? created : "");
	job->created = true;
	job->lock_held = true;
	if (job->parking) {
		job_maybe_finalize(job);
		return;
	}
	pf_info("import %lld: started '%s'%s", (long long)job->id, job->name,
	        job->resumable ? " (resumable)" : "");
	if (job->hooks.on_started)
		job->hooks.on_started(job->hook_arg, job, NULL);
	if (job_submit_chunks(job) != 0)
		job_fail(job, "out of memory");
	job_notify(job, false);
	job_schedule_pump(job);
}

/* The id comes first, so that the lock is held before the row exists:
 * no other process can take a job that is just being created. */
static void id_cb(void *arg, const pf_db_result *r)
{
	unit_ctx *c = arg;
	pf_job *job = c->job;
	job_unit_answered(c);
	const char *id = pf_db_value(r, 0, 0, 0);
	if (r->error || !id) {
		free(c);
		start_failed(job, r->error ? r->error : "no id returned");
		return;
	}
	job->id = strtoll(id, NULL, 10);
	if (job->parking || job->env->closing) {
		free(c); /* shutting down before the row exists: nothing to keep */
		job_maybe_finalize(job);
		return;
	}
	c->epoch = job->epoch;
	pf_db_unit *u = pf_db_unit_new(created_cb, c);
	const pf_config *cfg = job->env->cfg;
	int rc = u ? 0 : PF_ENOMEM;
	/* admission first, in the same transaction as the row: the owner's
	 * running imports and quotas are checked under a lock per user, and a
	 * refusal (PF002..PF004) takes no job lock */
	rc = rc ? rc
	        : pf_db_unit_stmt(u, "SELECT rows_left, bytes_left FROM pf_job_admit($1, $2, "
	                             "$3, $4, $5)");
	rc = rc ? rc : pf_db_unit_int(u, job->owner);
	rc = rc ? rc : pf_db_unit_int(u, job->bytes_total >= 0 ? job->bytes_total : 0);
	rc = rc ? rc : pf_db_unit_int(u, cfg->user_max_imports);
	rc = rc ? rc : pf_db_unit_int(u, cfg->user_max_rows);
	rc = rc ? rc : pf_db_unit_int(u, cfg->user_max_bytes);
	rc = rc ? rc : pf_db_unit_stmt(u, "SELECT pg_try_advisory_lock($1)");
	rc = rc ? rc : pf_db_unit_int(u, job->id);
	rc = rc ? rc
	        : pf_db_unit_stmt(u, "INSERT INTO import_jobs (id, name, bytes_total, owner_pid, "
	                             "resumable, user_id) VALUES ($1, $2, $3, $4, $5::boolean, "
	                             "NULLIF($6, 0)) RETURNING id, "
	                             "to_char(created_at AT TIME ZONE 'UTC', "
	                             "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')");
	rc = rc ? rc : pf_db_unit_int(u, job->id);
	rc = rc ? rc : pf_db_unit_text(u, job->name);
	if (rc == 0) {
		if (job->bytes_total >= 0)
			rc = pf_db_unit_int(u, job->bytes_total);
		else
			rc = pf_db_unit_text(u, NULL);
	}
	rc = rc ? rc : pf_db_unit_int(u, (int64_t)getpid());
	rc = rc ? rc : pf_db_unit_text(u, job->resumable ? "t" : "f");
	rc = rc ? rc : pf_db_unit_int(u, job->owner);
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		free(c);
		start_failed(job, "out of memory");
		return;
	}
	job_submit(job, u);
}

void pf_job_start(pf_job *job)
{
	if (job->started)
		return;
	job->started = true;
	unit_ctx *c = job_ctx_new(job, UNIT_CREATE);
	pf_db_unit *u = c ? pf_db_unit_new(id_cb, c) : NULL;
	int rc = u ? 0 : PF_ENOMEM;
	rc = rc ? rc
	        : pf_db_unit_stmt(u, "SELECT nextval(pg_get_serial_sequence('import_jobs', 'id'))");
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		free(c);
		start_failed(job, "out of memory");
		return;
	}
	job->inflight++;
	pf_db_submit(job->env->writers, 0, u);
}

pf_job *pf_job_adopt(pf_job_env *env, int64_t id, int64_t owner, const pf_job_hooks *hooks,
                     void *hook_arg)
{
	pf_job *job = job_alloc(env, hooks, hook_arg);
	if (!job)
		return NULL;
	job->id = id;
	job->owner = owner;
	/* the job may have been here before (a tus upload that went idle and
	 * came back): its frames go on above any seq a client saw from us */
	job->seq = env->seq_high;
	job->started = true;
	job->adopting = true;
	job->resyncing = true;
	job_resync_read(job);
	return job;
}

bool pf_job_ready(const pf_job *job)
{
	return job->created && !job->adopting;
}

void pf_job_attach(pf_job *job, const pf_job_hooks *hooks, void *hook_arg)
{
	if (job->parking && job->idle_park && !job->env->closing) {
		/* it was letting go because nobody sent: take it back as if
		 * adopted (the lock is taken again, the stored bytes reread) */
		job->parking = job->idle_park = false;
		job->adopting = true;
		job_resync(job, false);
	}
	if (job->refs & JOB_REFS_PRODUCER) {
		pf_job_hooks old = job->hooks;
		void *old_arg = job->hook_arg;
		job->hooks = (pf_job_hooks){0};
		if (old.on_detached)
			old.on_detached(old_arg, job, "another request continues this upload");
	}
	job->hooks = *hooks;
	job->hook_arg = hook_arg;
	job->refs |= JOB_REFS_PRODUCER;
	job->owe_resume = false;
}

int pf_job_feed(pf_job *job, const char *data, size_t len)
{
	if (job_input_over(job))
		return PF_EINVAL;
	if (job->stop_parsing || job->finalizing || job->parking) {
		job->bytes_received += (int64_t)len;
		return 0; /* failed: the rest of the body is read and dropped */
	}
	if (job->bytes_total >= 0 && (int64_t)len > job->bytes_total - job->bytes_received)
		return PF_ELIMIT;
	int rc = pf_spool_append(&job->spool, data, len);
	if (rc != 0)
		return rc;
	job->bytes_received += (int64_t)len;
	if (evbuffer_add(job->fetching ? job->tail : job->pending, data, len) != 0)
		return PF_ENOMEM;
	if (job_submit_chunks(job) != 0)
		return PF_ENOMEM;
	job_pump(job);
	if (evbuffer_get_length(job->pending) > 0 || job->fetching || spool_full(job) ||
	    job->resyncing || !job->created) {
		job->owe_resume = true;
		return PF_JOB_PAUSED;
	}
	job_notify(job, false);
	return 0;
}

void pf_job_sync(pf_job *job)
{
	job->owe_durable = true;
	if (!job->stop_parsing && !job->spool.finished && pf_spool_seal(&job->spool, false) != 0)
		job_fail(job, "out of memory");
	if (job_submit_chunks(job) != 0)
		job_fail(job, "out of memory");
	job_schedule_pump(job);
}

bool pf_job_accepting(const pf_job *job)
{
	return job->resumable && !job_input_over(job) && !job->stop_parsing &&
	       (!job->parking || (job->idle_park && !job->env->closing)) && !job->cancelling &&
	       !job->finalizing;
}

void pf_job_end_input(pf_job *job)
{
	if (job_input_over(job))
		return;
	job->input_ended = true;
	job->owe_resume = false;
	if (!job->stop_parsing && !job->spool.finished && pf_spool_seal(&job->spool, true) != 0)
		job_fail(job, "out of memory");
	if (job_submit_chunks(job) != 0)
		job_fail(job, "out of memory");
	if (job->state == PF_JOB_RECEIVING && !job->finalizing)
		job_set_state(job, PF_JOB_PROCESSING);
	if (job->created)
		job_schedule_pump(job);
}

void pf_job_fail_input(pf_job *job, pf_job_state state, const char *reason)
{
	if (job_input_over(job))
		return;
	job->input_failed = true;
	job->owe_resume = false;
	job_set_error(job, reason);
	if (job->outcome == PF_JOB_DONE)
		job->outcome = state;
	/* what was received is kept: the open bytes are stored too */
	if (!job->stop_parsing && !job->spool.finished && pf_spool_seal(&job->spool, false) == 0)
		(void)job_submit_chunks(job);
	if (job->created)
		job_schedule_pump(job);
}

void pf_job_release(pf_job *job)
{
	if (!job)
		return;
	job->hooks = (pf_job_hooks){0};
	job->hook_arg = NULL;
	if (!job->started) {
		/* never created in the database: nothing to finish */
		job_free(job);
		return;
	}
	if (!job_input_over(job)) {
		if (job->resumable && !job->stop_parsing) {
			/* make what came durable; the job waits for the next PATCH */
			if (pf_spool_seal(&job->spool, false) == 0)
				(void)job_submit_chunks(job);
			job->owe_resume = false;
			job_schedule_pump(job);
		} else {
			pf_job_fail_input(job, PF_JOB_INTERRUPTED, "upload interrupted");
		}
	}
	/* job_unref may free the job: decide before */
	bool others = (job->refs & ~JOB_REFS_PRODUCER) != 0;
	job_unref(job, JOB_REFS_PRODUCER);
	if (others)
		job_maybe_finalize(job);
}

/* The job lets its producer go (it gets on_detached, then never calls in). */
static void detach_producer(pf_job *job, const char *why)
{
	if (!(job->refs & JOB_REFS_PRODUCER))
		return;
	pf_job_hooks old = job->hooks;
	void *old_arg = job->hook_arg;
	job->hooks = (pf_job_hooks){0};
	job->hook_arg = NULL;
	job->refs &= ~JOB_REFS_PRODUCER;
	if (old.on_detached)
		old.on_detached(old_arg, job, why);
}

void pf_job_cancel(pf_job *job, void (*done)(void *arg, bool ok), void *arg)
{
	if (job->cancelling || pf_job_state_terminal(job->state)) {
		if (done)
			done(arg, false);
		return;
	}
	job->cancelling = true;
	job->cancel_done = done;
	job->cancel_arg = arg;
	job->stop_parsing = true;
	job->outcome = PF_JOB_CANCELLED;
	job->parking = false;
	evtimer_del(job->flush_ev);
	detach_producer(job, "the import was cancelled");
	if (job->finalizing && !job->resyncing) {
		/* the final unit is in flight: the deletion follows it */
		job->finalizing = false;
	}
	job->resyncing = false;
	job->epoch++;
	job_schedule_pump(job);
	job_maybe_finalize(job);
}

void pf_job_park(pf_job *job)
{
	if (job->parking || job->finalizing)
		return;
	job->parking = true;
	evtimer_del(job->flush_ev);
	/* what was received becomes durable before we go */
	if (!job->stop_parsing && !job->spool.finished && job->created &&
	    pf_spool_seal(&job->spool, false) == 0)
		(void)job_submit_chunks(job);
	detach_producer(job, "server shutting down");
	if (!job->started) {
		job_free(job);
		return;
	}
	job_maybe_finalize(job);
}

void pf_job_env_free_all(pf_job_env *env)
{
	while (env->jobs)
		job_free(env->jobs);
}

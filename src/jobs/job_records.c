/*
 * job_records.c - records into batches: the CSV reader of a job, the
 * header and its mapping, the sample window (records held until the date
 * orders and the raw-row dictionary are decided, then stored as the shape)
 * and the batches (pf_batch, one transaction each, the parse position
 * committed with its rows). Flow: job_pump (job_life.c) -> pf_csv_feed ->
 * csv_record_cb -> (sample window, then) add_record -> job_records_flush ->
 * pf_batch_submit; the answer comes back through job->unit_cb to
 * job_records_committed. Calls only job_base.c and job_input.c.
 */
#include "job_internal.h"

#include "propflow/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A partial batch (or sample) is written after PF_JOB_FLUSH_MS even when
 * no more rows come, so the first rows show up at once on a slow upload. */
static void arm_flush(pf_job *job)
{
	struct timeval tv = {0, PF_JOB_FLUSH_MS * 1000};
	evtimer_add(job->flush_ev, &tv);
}

/* ---------------- header ---------------- */

int job_records_columns(pf_job *job)
{
	cJSON *arr = pf_rowshape_columns_json(&job->shape);
	if (!arr)
		return PF_ENOMEM;
	cJSON_Delete(job->columns);
	job->columns = arr;
	return 0;
}

int job_records_header(pf_job *job, size_t n, const char *const *fields, const size_t *lens)
{
	int rc = pf_rowshape_set_header(&job->shape, n, fields, lens);
	if (rc != 0)
		return rc;
	if (job->override) {
		char err[256];
		rc = pf_rowshape_override(&job->shape, job->override, err, sizeof(err));
		if (rc != 0) {
			job_fail(job, PF_JOB_WHY_CONTENT, err);
			return 0;
		}
	}
	return job_records_columns(job);
}

/* ---------------- batches ---------------- */

int job_records_flush(pf_job *job)
{
	pf_batch *b = &job->batch;
	evtimer_del(job->flush_ev);
	if (pf_batch_empty(b))
		return 0;
	int rc = job_input_make_durable(job, job->batch_end_off);
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
	clock_gettime(CLOCK_MONOTONIC, &c->sent);
	const pf_config *cfg = job->env->cfg;
	pf_batch_progress p = {
	    .job_id = job->id,
	    .gen = job->work_gen,
	    .from_record = job->batch_from,
	    .to_record = job->batch_to,
	    .end_offset = job->batch_end_off,
	    .end_line = job->batch_end_line,
	    .end_cr = job->batch_end_cr,
	    .max_rows = cfg->user_max_rows, /* unless the job has no owner */
	    .margin = (int64_t)cfg->db_writers * cfg->batch_rows,
	};
	job->inflight++; /* pf_batch_submit submits on the job's key */
	rc = pf_batch_submit(b, job->env->writers, &p, job->unit_cb, c);
	if (rc != 0) {
		job->inflight--;
		free(c);
		return rc;
	}
	return 0;
}

void job_records_committed(pf_job *job, const unit_ctx *c, const pf_db_result *r)
{
	job_quota_follow(&job->rows_left, job->env->cfg->user_max_rows, pf_db_value(r, 0, 0, 0));
	job->rows_inserted += c->parsed - c->rejected;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pf_metric_add(job->env->meters.rows_stored, (double)(c->parsed - c->rejected));
	pf_metric_observe(job->env->meters.batch_seconds,
	                  (double)(now.tv_sec - c->sent.tv_sec) +
	                      (double)(now.tv_nsec - c->sent.tv_nsec) / 1e9);
	job->rows_rejected += c->rejected;
	job->rows_warned += c->warned;
	job->raw_bytes += c->raw_bytes;
	job->raw_stored += c->raw_stored;
	job_input_committed(&job->in, c->end_offset);
	job_notify(job, false);
}

void job_records_refused(pf_job *job, const unit_ctx *c)
{
	/* a batch that would go over the owner's row quota, and the ones sent
	 * after it (now out of place): nothing of them is stored, and the job
	 * ends with every batch before them */
	if (!job->quota_refused)
		pf_info("import %lld: a batch would go over the owner's row quota; stopping",
		        (long long)job->id);
	job->quota_refused = true;
	job->rows_parsed_local -= c->parsed;
	job->rows_stored_local -= c->parsed - c->rejected;
	job_fail(job, PF_JOB_WHY_ROW_QUOTA, NULL);
}

/* One data record into the current batch. Returns 0, PF_JOB_PAUSED when
 * the window filled, or a negative error. */
static int add_record(pf_job *job, const held_rec *h)
{
	pf_batch *b = &job->batch;
	int rc = 0;
	bool reject = h->error != PF_CSV_OK || h->nfields != job->shape.ncols;
	if (!reject && job->rows_left >= 0 && job->rows_stored_local >= job->rows_left) {
		/* over the owner's row quota: this record stays unparsed (counters
		 * keep parsed = inserted + rejected), the rows before it are stored */
		rc = job_records_flush(job);
		job_fail(job, PF_JOB_WHY_ROW_QUOTA, NULL);
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
	} else {
		rc = pf_rowshape_add_row(&job->shape, b, h->index, h->line,
		                         (const char *const *)h->fields, h->lens);
	}
	if (rc != 0)
		return rc;
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
		rc = job_records_flush(job);
		if (rc != 0)
			return rc;
	}
	return job_window_full(job) ? PF_JOB_PAUSED : 0;
}

/* ---------------- the sample window ---------------- */

static void held_free(held_rec *h)
{
	for (size_t i = 0; i < h->nfields; i++)
		free(h->fields[i]);
	free(h->fields);
	free(h->lens);
	free(h->raw);
	memset(h, 0, sizeof(*h));
}

void job_records_clear(pf_job *job)
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

/* The shape goes first, on the job's connection, so that it commits before
 * any raw row that needs its dictionary. Takes dict. */
static int send_shape(pf_job *job, char *dict, size_t dict_len)
{
	unit_ctx *c;
	pf_db_unit *u = job_unit_new(job, UNIT_SHAPE, &c);
	char *columns = cJSON_PrintUnformatted(job->columns);
	char *shape = shape_json(job);
	if (!u || !shape) {
		job_unit_drop(u, c);
		free(dict);
		free(columns);
		free(shape);
		return PF_ENOMEM;
	}
	char delim[2] = {pf_csv_delimiter(job->csv), 0};
	pf_db_unit_stmt(u, "SELECT pf_shape_put($1, $2::int, $3::jsonb, $4, $5, $6, "
	                   "$7::jsonb, $8, $9, $10::boolean)");
	pf_db_unit_int(u, job->id);
	pf_db_unit_int(u, job->work_gen);
	pf_db_unit_text(u, columns ? columns : "[]");
	pf_db_unit_text(u, pf_csv_encoding_name(pf_csv_encoding_of(job->csv)));
	pf_db_unit_text(u, delim[0] ? delim : NULL);
	if (dict_len)
		pf_db_unit_binary_owned(u, PF_OID_BYTEA, dict, dict_len);
	else
		pf_db_unit_text(u, NULL);
	pf_db_unit_text(u, shape);
	pf_db_unit_int(u, (int64_t)job->hdr_end_off);
	pf_db_unit_int(u, (int64_t)job->hdr_end_line);
	pf_db_unit_text(u, job->hdr_end_cr ? "t" : "f");
	if (!dict_len)
		free(dict);
	free(columns);
	free(shape);
	job_submit(job, u);
	return 0;
}

int job_records_decide(pf_job *job)
{
	job->sampled = true;
	char *dict;
	size_t dict_len;
	int rc = pf_rowshape_decide(&job->shape, held_sample_cb, job, PF_JOB_DICT_BYTES, &dict,
	                            &dict_len);
	if (rc != 0)
		return rc;
	rc = job_records_columns(job);
	if (rc != 0) {
		free(dict);
		return rc;
	}
	rc = send_shape(job, dict, dict_len);
	if (rc != 0)
		return rc;
	job_notify(job, false);

	/* the held rows, in order; the window may overfill by the sample,
	 * which is bounded by sample_rows and PF_JOB_SAMPLE_BYTES_MAX */
	for (size_t i = 0; i < job->nheld; i++) {
		rc = add_record(job, &job->held[i]);
		if (rc < 0)
			return rc;
		held_free(&job->held[i]);
	}
	job_records_clear(job);
	return job_window_full(job) ? PF_JOB_PAUSED : 0;
}

/* ---------------- the reader ---------------- */

static int header_record(pf_job *job, const pf_csv_record *rec)
{
	if (rec->error != PF_CSV_OK) {
		char msg[256];
		snprintf(msg, sizeof(msg), "the header row cannot be read: %s",
		         pf_csv_error_str(rec->error));
		job_fail(job, PF_JOB_WHY_CONTENT, msg);
		return PF_CSV_PAUSED;
	}
	cJSON_Delete(job->header_fields);
	job->header_fields = cJSON_CreateArray();
	for (size_t i = 0; job->header_fields && i < rec->nfields; i++)
		if (!cJSON_AddItemToArray(job->header_fields, cJSON_CreateString(rec->fields[i])))
			return PF_ENOMEM;
	if (!job->header_fields)
		return PF_ENOMEM;
	job->hdr_end_off = rec->end_offset;
	job->hdr_end_line = rec->end_line;
	job->hdr_end_cr = rec->end_cr;
	int rc = job_records_header(job, rec->nfields, rec->fields, rec->lens);
	if (rc != 0)
		return rc;
	job_notify(job, false);
	return job->discard ? PF_CSV_PAUSED : 0;
}

static int csv_record_cb(void *arg, const pf_csv_record *rec)
{
	pf_job *job = arg;
	int rc;
	if (job->discard || !job_phase_parses(job->phase))
		return PF_CSV_PAUSED;
	if (rec->index == 0)
		return header_record(job, rec);
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
		rc = job_records_decide(job);
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
	rc = add_record(job, &h);
	return rc == PF_JOB_PAUSED ? PF_CSV_PAUSED : rc;
}

pf_csv *job_records_reader(pf_job *job)
{
	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	lim.field_max = (size_t)job->env->cfg->field_max;
	lim.fields_max = (size_t)job->env->cfg->fields_max;
	lim.record_max = (size_t)job->env->cfg->record_max;
	lim.raw_keep = (size_t)job->env->cfg->error_text_max;
	return pf_csv_new(&lim, csv_record_cb, job);
}

/*
 * job.c - the import pipeline of one upload (see job.h).
 *
 * Flow: pf_job_feed -> pending bytes -> job_pump -> pf_csv_feed ->
 * csv_record_cb -> (sample window, then) job_add_record -> pf_batch ->
 * pf_batch_submit (pipelined, one transaction per batch) -> batch_done_cb.
 * The first rows are held until each date column's day/month order can be
 * decided from evidence and the raw-row dictionary is built from them;
 * after that, records flow straight into batches. How one record becomes
 * one batch row (mapping, normalising, raw JSON) is rowshape.c's part.
 */
#include "propflow/job.h"
#include "propflow/batch.h"
#include "propflow/csv.h"
#include "propflow/log.h"
#include "propflow/rowshape.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JOB_REFS_PRODUCER 1
#define JOB_REFS_PIPELINE 2

/* A data record held in the sample window (copied). */
typedef struct held_rec {
	uint64_t index, line;
	size_t nfields;
	char **fields; /* owned */
	size_t *lens;  /* owned */
	char *raw;     /* owned */
	size_t raw_len;
	pf_csv_error error;
} held_rec;

/* Counters of one batch in flight, applied when it commits. */
typedef struct batch_ctx {
	pf_job *job; /* borrowed: the job outlives its batches */
	int64_t parsed, rejected, warned, raw_bytes, raw_stored;
} batch_ctx;

struct pf_job {
	pf_job_env *env;             /* borrowed */
	pf_job *reg_next, *reg_prev; /* registry links */
	pf_job_hooks hooks;
	void *hook_arg; /* borrowed: the producer's */
	int refs;       /* JOB_REFS_* bits still held */

	int64_t id; /* 0 until the row exists */
	char name[PF_JOB_NAME_MAX + 1];
	char created_at[32];
	char finished_at[32];
	pf_job_state state;
	char *error;     /* owned, NULL when none */
	bool started;    /* INSERT sent */
	bool created;    /* INSERT returned */
	bool finalizing; /* final UPDATE sent */

	/* input */
	int64_t bytes_total;      /* -1 unknown */
	int64_t bytes_received;   /* fed so far */
	int64_t bytes_parsed;     /* consumed by the CSV reader */
	struct evbuffer *pending; /* owned: fed, not parsed yet */
	bool input_ended;         /* producer said end */
	bool input_failed;        /* producer said cut off */
	bool csv_finished;        /* pf_csv_finish done */
	bool owe_resume;          /* returned PF_JOB_PAUSED, on_resume owed */
	bool stop_parsing;        /* failure: discard further input */
	pf_job_state outcome; /* terminal state to reach: done unless a failure said otherwise */
	pf_csv *csv;          /* owned */

	/* header and row shape */
	pf_rowshape shape; /* owned: header, mapping, date orders, raw rows */
	cJSON *columns;    /* owned: the mapping, [] until the header */

	/* sample window */
	held_rec *held; /* owned array */
	size_t nheld, held_cap;
	size_t held_bytes;
	bool sampled; /* orders decided, dictionary built */

	/* batching */
	pf_batch batch;
	int inflight;           /* batches sent, not committed */
	struct event *pump_ev;  /* owned: deferred pump */
	struct event *flush_ev; /* owned: partial-batch timer */

	/* committed counters (what the database has) */
	int64_t rows_parsed_local; /* records seen by the reader */
	int64_t rows_inserted, rows_rejected, rows_warned;
	int64_t raw_bytes, raw_stored;

	/* progress */
	uint64_t seq;
	double rate_rows;  /* smoothed rows/s */
	double rate_bytes; /* smoothed bytes/s */
	double rate_t;     /* time of last sample, 0 none */
	int64_t rate_last_rows, rate_last_bytes;
};

static void job_pump(pf_job *job);
static void job_maybe_finalize(pf_job *job);
static void schedule_pump(pf_job *job);

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

static void notify(pf_job *job, bool final)
{
	if (job->env->changed)
		job->env->changed(job->env->changed_arg, job, final);
}

static void job_set_error(pf_job *job, const char *msg)
{
	if (job->error)
		return; /* the first cause is the one worth reporting */
	job->error = strdup(msg);
	pf_warn("import %lld: %s", (long long)job->id, msg);
}

/* Every state change goes through here. */
static void job_set_state(pf_job *job, pf_job_state st)
{
	if (job->state == st)
		return;
	if (pf_job_state_terminal(job->state))
		abort(); /* a finished job never changes again */
	job->state = st;
	notify(job, pf_job_state_terminal(st));
}

/* Stop taking input after a failure; the job ends once batches settle. */
static void job_fail(pf_job *job, const char *msg)
{
	job_set_error(job, msg);
	job->outcome = PF_JOB_FAILED;
	job->stop_parsing = true;
	/* the reader may be inside pending's memory right now: the pump
	 * discards it on its next turn */
	schedule_pump(job);
}

static void schedule_pump(pf_job *job)
{
	event_active(job->pump_ev, 0, 0);
}

static bool window_full(const pf_job *job)
{
	return job->inflight >= job->env->cfg->batches_in_flight;
}

/* ---------------- header ---------------- */

/* The mapping as the job object shows it, rebuilt when it changes. */
static int job_update_columns(pf_job *job)
{
	cJSON *arr = pf_rowshape_columns_json(&job->shape);
	if (!arr)
		return PF_ENOMEM;
	cJSON_Delete(job->columns);
	job->columns = arr;
	return 0;
}

/* ---------------- records into batches ---------------- */

static int submit_batch(pf_job *job);

/* One data record into the current batch. Returns 0, PF_JOB_PAUSED when
 * the window filled, or a negative error. */
static int job_add_record(pf_job *job, uint64_t index, uint64_t line, size_t nfields,
                          const char *const *fields, const size_t *lens, const char *raw,
                          size_t raw_len, pf_csv_error err)
{
	pf_batch *b = &job->batch;
	int rc = 0;
	b->parsed++;
	if (err != PF_CSV_OK || nfields != job->shape.ncols) {
		char reason[128];
		if (err != PF_CSV_OK)
			snprintf(reason, sizeof(reason), "%s", pf_csv_error_str(err));
		else
			snprintf(reason, sizeof(reason), "expected %zu fields, found %zu",
			         job->shape.ncols, nfields);
		b->rejected++;
		rc = pf_batch_add_error(b, true, index, line, NULL, NULL, 0, reason, raw, raw_len);
		if (rc != 0)
			return rc;
	} else {
		rc = pf_rowshape_add_row(&job->shape, b, index, line, fields, lens);
		if (rc != 0)
			return rc;
	}
	job->rows_parsed_local++;
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

static void meta_done_cb(void *arg, const pf_db_result *r)
{
	pf_job *job = arg;
	job->inflight--;
	if (r->error) {
		char msg[512];
		snprintf(msg, sizeof(msg), "cannot store the column mapping: %s", r->error);
		job_fail(job, msg);
		return;
	}
	if (!job->stop_parsing)
		schedule_pump(job);
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

/* Decide date orders, build the dictionary, store the mapping, then feed
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

	/* mapping, encoding, delimiter and dictionary go first, on the job's
	 * connection, so they commit before any raw row that needs them */
	pf_db_unit *u = pf_db_unit_new(meta_done_cb, job);
	if (!u) {
		free(dict);
		return PF_ENOMEM;
	}
	char *columns = cJSON_PrintUnformatted(job->columns);
	char delim[2] = {pf_csv_delimiter(job->csv), 0};
	rc = pf_db_unit_stmt(u, "UPDATE import_jobs SET columns = $2::jsonb, encoding = $3, "
	                        "delimiter = $4, raw_dict = $5, updated_at = now() WHERE id = $1");
	rc = rc ? rc : pf_db_unit_int(u, job->id);
	rc = rc ? rc : pf_db_unit_text(u, columns ? columns : "[]");
	rc = rc ? rc : pf_db_unit_text(u, pf_csv_encoding_name(pf_csv_encoding_of(job->csv)));
	rc = rc ? rc : pf_db_unit_text(u, delim[0] ? delim : NULL);
	free(columns);
	if (rc == 0) {
		if (dict_len)
			rc = pf_db_unit_binary_owned(u, PF_OID_BYTEA, dict, dict_len);
		else
			rc = pf_db_unit_text(u, NULL);
	} else {
		free(dict);
	}
	if (rc != 0) {
		pf_db_unit_free(u);
		return rc;
	}
	job->inflight++;
	pf_db_submit(job->env->writers, (uint64_t)job->id, u);
	notify(job, false);

	/* the held rows, in order; the window may overfill by the sample,
	 * which is bounded by sample_rows and PF_JOB_SAMPLE_BYTES_MAX */
	for (size_t i = 0; i < job->nheld; i++) {
		held_rec *h = &job->held[i];
		rc = job_add_record(job, h->index, h->line, h->nfields,
		                    (const char *const *)h->fields, h->lens, h->raw, h->raw_len,
		                    h->error);
		if (rc < 0)
			return rc;
		held_free(h);
	}
	free(job->held);
	job->held = NULL;
	job->nheld = job->held_cap = 0;
	job->held_bytes = 0;
	return window_full(job) ? PF_JOB_PAUSED : 0;
}

static int csv_record_cb(void *arg, const pf_csv_record *rec)
{
	pf_job *job = arg;
	int rc;
	if (job->stop_parsing)
		return PF_CSV_PAUSED;
	if (rec->index == 0) {
		if (rec->error != PF_CSV_OK) {
			char msg[256];
			snprintf(msg, sizeof(msg), "the header row cannot be read: %s",
			         pf_csv_error_str(rec->error));
			job_fail(job, msg);
			return PF_CSV_PAUSED;
		}
		rc = pf_rowshape_set_header(&job->shape, rec->nfields, rec->fields, rec->lens);
		if (rc == 0)
			rc = job_update_columns(job);
		if (rc != 0)
			return rc;
		notify(job, false);
		return 0;
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
	rc = job_add_record(job, rec->index, rec->line, rec->nfields, rec->fields, rec->lens,
	                    rec->raw, rec->raw_len, rec->error);
	return rc == PF_JOB_PAUSED ? PF_CSV_PAUSED : rc;
}

/* ---------------- batches ---------------- */

static void batch_done_cb(void *arg, const pf_db_result *r)
{
	batch_ctx *ctx = arg;
	pf_job *job = ctx->job;
	job->inflight--;
	if (r->error) {
		char msg[512];
		snprintf(msg, sizeof(msg), "storing rows failed: %s", r->error);
		free(ctx);
		job_fail(job, msg);
		return;
	}
	job->rows_inserted += ctx->parsed - ctx->rejected;
	job->rows_rejected += ctx->rejected;
	job->rows_warned += ctx->warned;
	job->raw_bytes += ctx->raw_bytes;
	job->raw_stored += ctx->raw_stored;
	free(ctx);
	notify(job, false);
	if (!job->stop_parsing)
		schedule_pump(job);
	job_maybe_finalize(job);
}

static int submit_batch(pf_job *job)
{
	pf_batch *b = &job->batch;
	evtimer_del(job->flush_ev);
	if (pf_batch_empty(b))
		return 0;
	batch_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return PF_ENOMEM;
	*ctx = (batch_ctx){job, b->parsed, b->rejected, b->warned, b->raw_bytes, b->raw_stored};
	pf_batch_progress p = {
	    .job_id = job->id,
	    .bytes_received = job->bytes_parsed,
	    .state = job->input_ended || job->input_failed ? "processing" : "receiving",
	};
	int rc = pf_batch_submit(b, job->env->writers, &p, batch_done_cb, ctx);
	if (rc != 0) {
		free(ctx);
		return rc;
	}
	job->inflight++;
	return 0;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_job *job = arg;
	if (job->stop_parsing)
		return;
	int rc = 0;
	if (!job->sampled && job->nheld > 0)
		rc = job_decide(job);
	if (rc >= 0 && !job->stop_parsing)
		rc = submit_batch(job);
	if (rc < 0)
		job_fail(job, pf_strerror(rc));
}

/* ---------------- the pump ---------------- */

static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
	job_pump(arg);
}

static void job_pump(pf_job *job)
{
	if (job->stop_parsing)
		evbuffer_drain(job->pending, evbuffer_get_length(job->pending));
	if (!job->created || job->finalizing)
		return;
	while (!job->stop_parsing && !window_full(job)) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(job->pending, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		size_t consumed = 0;
		int rc = pf_csv_feed(job->csv, v.iov_base, v.iov_len, &consumed);
		evbuffer_drain(job->pending, consumed);
		job->bytes_parsed += (int64_t)consumed;
		if (rc < 0) {
			job_fail(job, rc == PF_ENOMEM ? "out of memory" : pf_strerror(rc));
			break;
		}
		if (rc == PF_CSV_PAUSED)
			break;
	}
	if (job->stop_parsing)
		evbuffer_drain(job->pending, evbuffer_get_length(job->pending));
	bool drained = evbuffer_get_length(job->pending) == 0;
	if (drained && !window_full(job) && job->owe_resume && !job->input_ended &&
	    !job->input_failed) {
		job->owe_resume = false;
		if (job->hooks.on_resume)
			job->hooks.on_resume(job->hook_arg, job);
	}
	if (drained && !job->stop_parsing && !window_full(job) && !job->csv_finished &&
	    (job->input_ended || job->input_failed)) {
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

/* ---------------- finishing ---------------- */

static void job_unref(pf_job *job, int ref);

static void final_done_cb(void *arg, const pf_db_result *r)
{
	pf_job *job = arg;
	if (r->error)
		pf_error("import %lld: cannot record the final state: %s", (long long)job->id,
		         r->error);
	const char *fin = pf_db_value(r, 0, 0, 0);
	snprintf(job->finished_at, sizeof(job->finished_at), "%s", fin ? fin : "");
	pf_info("import %lld: %s, %lld rows parsed, %lld inserted, %lld rejected, %lld warned",
	        (long long)job->id, pf_job_state_name(job->outcome),
	        (long long)job->rows_parsed_local, (long long)job->rows_inserted,
	        (long long)job->rows_rejected, (long long)job->rows_warned);
	job_set_state(job, job->outcome);
	if (job->hooks.on_finished)
		job->hooks.on_finished(job->hook_arg, job);
	job_unref(job, JOB_REFS_PIPELINE);
}

/* When input is over, every record parsed and every batch committed,
 * write the terminal state. */
static void job_maybe_finalize(pf_job *job)
{
	if (job->finalizing || !job->created || job->inflight > 0)
		return;
	bool input_over = job->input_ended || job->input_failed;
	if (!input_over) {
		/* a failed job waits for its producer to stop; the rest of the
		 * body is read and dropped meanwhile */
		if (job->stop_parsing && job->owe_resume && job->hooks.on_resume) {
			job->owe_resume = false;
			job->hooks.on_resume(job->hook_arg, job);
		}
		return;
	}
	if (!job->stop_parsing && !job->csv_finished)
		return;
	job->finalizing = true;
	evtimer_del(job->flush_ev);
	if (job->state == PF_JOB_RECEIVING)
		job_set_state(job, PF_JOB_PROCESSING);
	pf_db_unit *u = pf_db_unit_new(final_done_cb, job);
	int rc = u ? 0 : PF_ENOMEM;
	rc = rc ? rc
	        : pf_db_unit_stmt(u, "UPDATE import_jobs SET state = $2, error = $3, "
	                             "bytes_received = GREATEST(bytes_received, $4), "
	                             "finished_at = now(), updated_at = now() WHERE id = $1 "
	                             "RETURNING to_char(finished_at AT TIME ZONE 'UTC', "
	                             "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')");
	rc = rc ? rc : pf_db_unit_int(u, job->id);
	rc = rc ? rc : pf_db_unit_text(u, pf_job_state_name(job->outcome));
	rc = rc ? rc : pf_db_unit_text(u, job->error);
	rc = rc ? rc : pf_db_unit_int(u, job->bytes_received);
	if (rc != 0) {
		pf_db_unit_free(u);
		pf_error("import %lld: out of memory while finishing", (long long)job->id);
		job_set_state(job, PF_JOB_FAILED);
		if (job->hooks.on_finished)
			job->hooks.on_finished(job->hook_arg, job);
		job_unref(job, JOB_REFS_PIPELINE);
		return;
	}
	pf_db_submit(job->env->writers, (uint64_t)job->id, u);
}

/* ---------------- lifetime ---------------- */

static void job_free(pf_job *job)
{
	pf_job_env *env = job->env;
	if (job->reg_prev)
		job->reg_prev->reg_next = job->reg_next;
	else if (env->jobs == job)
		env->jobs = job->reg_next;
	if (job->reg_next)
		job->reg_next->reg_prev = job->reg_prev;
	for (size_t i = 0; i < job->nheld; i++)
		held_free(&job->held[i]);
	free(job->held);
	pf_rowshape_deinit(&job->shape);
	cJSON_Delete(job->columns);
	pf_csv_free(job->csv);
	pf_batch_deinit(&job->batch);
	if (job->pending)
		evbuffer_free(job->pending);
	if (job->pump_ev)
		event_free(job->pump_ev);
	if (job->flush_ev)
		event_free(job->flush_ev);
	free(job->error);
	free(job);
}

static void job_unref(pf_job *job, int ref)
{
	job->refs &= ~ref;
	if (job->refs == 0)
		job_free(job);
}

pf_job *pf_job_new(pf_job_env *env, const char *name, int64_t bytes_total,
                   const pf_job_hooks *hooks, void *hook_arg)
{
	pf_job *job = calloc(1, sizeof(*job));
	if (!job)
		return NULL;
	job->env = env;
	job->hooks = *hooks;
	job->hook_arg = hook_arg;
	job->refs = JOB_REFS_PRODUCER | JOB_REFS_PIPELINE;
	job->state = PF_JOB_RECEIVING;
	job->outcome = PF_JOB_DONE;
	job->bytes_total = bytes_total;
	pf_job_set_name(job, name);
	pf_batch_init(&job->batch);
	pf_rowshape_init(&job->shape);
	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	lim.field_max = (size_t)env->cfg->field_max;
	lim.fields_max = (size_t)env->cfg->fields_max;
	lim.record_max = (size_t)env->cfg->record_max;
	lim.raw_keep = (size_t)env->cfg->error_text_max;
	job->csv = pf_csv_new(&lim, csv_record_cb, job);
	job->pending = evbuffer_new();
	job->pump_ev = event_new(env->base, -1, 0, pump_cb, job);
	job->flush_ev = evtimer_new(env->base, flush_cb, job);
	job->columns = cJSON_CreateArray();
	if (!job->csv || !job->pending || !job->pump_ev || !job->flush_ev || !job->columns) {
		job_free(job);
		return NULL;
	}
	job->reg_next = env->jobs;
	if (env->jobs)
		env->jobs->reg_prev = job;
	env->jobs = job;
	return job;
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

static void created_cb(void *arg, const pf_db_result *r)
{
	pf_job *job = arg;
	const char *id = pf_db_value(r, 0, 0, 0);
	if (r->error || !id) {
		char msg[512];
		snprintf(msg, sizeof(msg), "cannot create the import: %s",
		         r->error ? r->error : "no id returned");
		job_set_error(job, msg);
		job->outcome = PF_JOB_FAILED;
		job->stop_parsing = true;
		job->finalizing = true; /* no row to update */
		job_set_state(job, PF_JOB_FAILED);
		if (job->hooks.on_started)
			job->hooks.on_started(job->hook_arg, job, job->error);
		job_unref(job, JOB_REFS_PIPELINE);
		return;
	}
	job->id = strtoll(id, NULL, 10);
	const char *created = pf_db_value(r, 0, 0, 1);
	snprintf(job->created_at, sizeof(job->created_at), "%s", created ? created : "");
	job->created = true;
	pf_info("import %lld: started '%s'", (long long)job->id, job->name);
	if (job->hooks.on_started)
		job->hooks.on_started(job->hook_arg, job, NULL);
	notify(job, false);
	schedule_pump(job);
}

void pf_job_start(pf_job *job)
{
	if (job->started)
		return;
	job->started = true;
	pf_db_unit *u = pf_db_unit_new(created_cb, job);
	int rc = u ? 0 : PF_ENOMEM;
	rc = rc ? rc
	        : pf_db_unit_stmt(u, "INSERT INTO import_jobs (name, bytes_total, owner_pid) "
	                             "VALUES ($1, $2, $3) RETURNING id, "
	                             "to_char(created_at AT TIME ZONE 'UTC', "
	                             "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')");
	rc = rc ? rc : pf_db_unit_text(u, job->name);
	if (rc == 0) {
		if (job->bytes_total >= 0)
			rc = pf_db_unit_int(u, job->bytes_total);
		else
			rc = pf_db_unit_text(u, NULL);
	}
	rc = rc ? rc : pf_db_unit_int(u, (int64_t)getpid());
	if (rc != 0) {
		pf_db_unit_free(u);
		pf_db_result fake = {.error = "out of memory"};
		created_cb(job, &fake);
		return;
	}
	pf_db_submit(job->env->writers, 0, u);
}

int pf_job_feed(pf_job *job, const char *data, size_t len)
{
	if (job->input_ended || job->input_failed)
		return PF_EINVAL;
	job->bytes_received += (int64_t)len;
	if (job->stop_parsing || job->finalizing)
		return 0; /* failed: the rest of the body is read and dropped */
	if (evbuffer_add(job->pending, data, len) != 0)
		return PF_ENOMEM;
	job_pump(job);
	if (evbuffer_get_length(job->pending) > 0) {
		job->owe_resume = true;
		return PF_JOB_PAUSED;
	}
	notify(job, false);
	return 0;
}

void pf_job_end_input(pf_job *job)
{
	if (job->input_ended || job->input_failed)
		return;
	job->input_ended = true;
	job->owe_resume = false;
	if (job->state == PF_JOB_RECEIVING && !job->finalizing)
		job_set_state(job, PF_JOB_PROCESSING);
	if (job->created)
		schedule_pump(job);
}

void pf_job_fail_input(pf_job *job, pf_job_state state, const char *reason)
{
	if (job->input_ended || job->input_failed)
		return;
	job->input_failed = true;
	job->owe_resume = false;
	job_set_error(job, reason);
	if (job->outcome == PF_JOB_DONE)
		job->outcome = state;
	if (job->created)
		schedule_pump(job);
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
	if (!job->input_ended && !job->input_failed)
		pf_job_fail_input(job, PF_JOB_INTERRUPTED, "upload interrupted");
	job_unref(job, JOB_REFS_PRODUCER);
}

/* ---------------- accessors and JSON ---------------- */

int64_t pf_job_id(const pf_job *job)
{
	return job->id;
}

pf_job_state pf_job_state_of(const pf_job *job)
{
	return job->state;
}

const char *pf_job_error(const pf_job *job)
{
	return job->error;
}

bool pf_job_paused(const pf_job *job)
{
	return job->owe_resume;
}

pf_job *pf_job_find(pf_job_env *env, int64_t id)
{
	for (pf_job *j = env->jobs; j; j = j->reg_next)
		if (j->id == id)
			return j;
	return NULL;
}

pf_job *pf_job_next(const pf_job *job)
{
	return job->reg_next;
}

uint64_t pf_job_next_seq(pf_job *job)
{
	return ++job->seq;
}

uint64_t pf_job_seq(const pf_job *job)
{
	return job->seq;
}

void pf_job_rate_sample(pf_job *job, double now_s)
{
	if (job->rate_t == 0) {
		job->rate_t = now_s;
		job->rate_last_rows = job->rows_parsed_local;
		job->rate_last_bytes = job->bytes_parsed;
		return;
	}
	double dt = now_s - job->rate_t;
	if (dt < 0.05)
		return;
	double rows = (double)(job->rows_parsed_local - job->rate_last_rows) / dt;
	double bytes = (double)(job->bytes_parsed - job->rate_last_bytes) / dt;
	/* exponential smoothing with a ~1 s time constant */
	double a = dt / (dt + 1.0);
	job->rate_rows = job->rate_rows == 0 ? rows : job->rate_rows + a * (rows - job->rate_rows);
	job->rate_bytes =
	    job->rate_bytes == 0 ? bytes : job->rate_bytes + a * (bytes - job->rate_bytes);
	job->rate_t = now_s;
	job->rate_last_rows = job->rows_parsed_local;
	job->rate_last_bytes = job->bytes_parsed;
}

double pf_job_rows_per_sec(const pf_job *job)
{
	return job->rate_rows;
}

double pf_job_eta_seconds(const pf_job *job)
{
	if (job->bytes_total < 0 || job->rate_bytes <= 1.0)
		return -1;
	if (pf_job_state_terminal(job->state))
		return 0;
	double left = (double)(job->bytes_total - job->bytes_parsed);
	return left > 0 ? left / job->rate_bytes : 0;
}

static void add_int(cJSON *o, const char *k, int64_t v)
{
	cJSON_AddNumberToObject(o, k, (double)v);
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v && *v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

static void add_ratio(cJSON *o, int64_t raw, int64_t stored)
{
	add_int(o, "raw_bytes", raw);
	add_int(o, "raw_stored_bytes", stored);
	if (stored > 0)
		cJSON_AddNumberToObject(o, "raw_ratio",
		                        round((double)raw / (double)stored * 100) / 100);
	else
		cJSON_AddNullToObject(o, "raw_ratio");
}

cJSON *pf_job_to_json(const pf_job *job)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	add_int(o, "id", job->id);
	cJSON_AddStringToObject(o, "name", job->name);
	cJSON_AddStringToObject(o, "state", pf_job_state_name(job->state));
	add_int(o, "bytes_received", job->bytes_received);
	if (job->bytes_total >= 0)
		add_int(o, "bytes_total", job->bytes_total);
	else
		cJSON_AddNullToObject(o, "bytes_total");
	add_int(o, "rows_parsed", job->rows_parsed_local);
	add_int(o, "rows_inserted", job->rows_inserted);
	add_int(o, "rows_rejected", job->rows_rejected);
	add_int(o, "rows_warned", job->rows_warned);
	cJSON_AddItemToObject(o, "columns", cJSON_Duplicate(job->columns, true));
	bool has_header = job->shape.ncols > 0;
	add_str_or_null(o, "encoding",
	                has_header ? pf_csv_encoding_name(pf_csv_encoding_of(job->csv)) : NULL);
	char delim[2] = {pf_csv_delimiter(job->csv), 0};
	add_str_or_null(o, "delimiter", has_header ? delim : NULL);
	add_ratio(o, job->raw_bytes, job->raw_stored);
	add_str_or_null(o, "created_at", job->created_at);
	add_str_or_null(o, "finished_at", job->finished_at);
	add_str_or_null(o, "error", job->error);
	return o;
}

static int64_t row_int(const pf_db_result *r, int stmt, int row, int col)
{
	const char *v = pf_db_value(r, stmt, row, col);
	return v ? strtoll(v, NULL, 10) : 0;
}

cJSON *pf_job_row_to_json(const pf_db_result *r, int stmt, int row)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	add_int(o, "id", row_int(r, stmt, row, 0));
	add_str_or_null(o, "name", pf_db_value(r, stmt, row, 1));
	add_str_or_null(o, "state", pf_db_value(r, stmt, row, 2));
	add_int(o, "bytes_received", row_int(r, stmt, row, 3));
	if (pf_db_value(r, stmt, row, 4))
		add_int(o, "bytes_total", row_int(r, stmt, row, 4));
	else
		cJSON_AddNullToObject(o, "bytes_total");
	add_int(o, "rows_parsed", row_int(r, stmt, row, 5));
	add_int(o, "rows_inserted", row_int(r, stmt, row, 6));
	add_int(o, "rows_rejected", row_int(r, stmt, row, 7));
	add_int(o, "rows_warned", row_int(r, stmt, row, 8));
	const char *cols = pf_db_value(r, stmt, row, 9);
	cJSON *c = cols ? cJSON_Parse(cols) : NULL;
	cJSON_AddItemToObject(o, "columns", c ? c : cJSON_CreateArray());
	add_str_or_null(o, "encoding", pf_db_value(r, stmt, row, 10));
	add_str_or_null(o, "delimiter", pf_db_value(r, stmt, row, 11));
	add_ratio(o, row_int(r, stmt, row, 12), row_int(r, stmt, row, 13));
	add_str_or_null(o, "created_at", pf_db_value(r, stmt, row, 14));
	add_str_or_null(o, "finished_at", pf_db_value(r, stmt, row, 15));
	add_str_or_null(o, "error", pf_db_value(r, stmt, row, 16));
	return o;
}

/*
 * job_resync.c - how a job gets back to what the database holds: reading
 * the stored upload back from import_chunks (after a restart, or when a
 * rewind reaches past the bytes still in memory), and resynchronising.
 *
 * A resync starts a new epoch so that every unit in flight turns stale;
 * once they have all been answered it takes (or checks) the job's advisory
 * lock, reads the job row and rewinds the reader, the spool and the
 * counters to the committed position. Adoption (pf_job_adopt, or a PATCH
 * that takes back a parked job) is the same read with nothing in memory.
 */
#include "job_internal.h"

#include "propflow/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- reading the stored upload back ---------------- */

static void fetch_done_cb(void *arg, const pf_db_result *r)
{
	unit_ctx *c = arg;
	pf_job *job = c->job;
	job->fetch_busy = false;
	if (job_unit_settle(c, r, "reading the stored upload")) {
		int n = pf_db_rows(r, 0);
		char *raw = NULL;
		for (int i = 0; i < n && !job->stop_parsing; i++) {
			int64_t off = strtoll(pf_db_value(r, 0, i, 0), NULL, 10);
			int64_t len = strtoll(pf_db_value(r, 0, i, 1), NULL, 10);
			size_t blen = 0;
			unsigned char *blk =
			    PQunescapeBytea((const unsigned char *)pf_db_value(r, 0, i, 2), &blen);
			char *nraw = realloc(raw, len > 0 ? (size_t)len : 1);
			if (!blk || !nraw || off > job->fetch_off ||
			    pf_spool_decode((const char *)blk, blen, nraw, (size_t)len) != 0) {
				if (nraw)
					raw = nraw;
				PQfreemem(blk);
				job_fail(job, "the stored upload cannot be read back");
				break;
			}
			raw = nraw;
			PQfreemem(blk);
			int64_t skip = job->fetch_off - off;
			if (skip < len &&
			    evbuffer_add(job->pending, raw + skip, (size_t)(len - skip)))
				job_fail(job, "out of memory");
			if (off + len > job->fetch_off)
				job->fetch_off = off + len;
		}
		free(raw);
		if (n == 0 && job->fetch_off < job->fetch_end)
			job_fail(job, "the stored upload is missing bytes");
		job_schedule_pump(job);
	}
	free(c);
	job_maybe_finalize(job);
}

/* The whole stored upload is in pending (or being parsed): live bytes that
 * waited go next; the input ends when the stored upload is complete, or is
 * cut off when nobody can send the rest. */
static void fetch_finished(pf_job *job)
{
	job->fetching = false;
	job_schedule_pump(job); /* the live bytes that waited are parsed next */
	if (evbuffer_add_buffer(job->pending, job->tail) != 0)
		job_fail(job, "out of memory");
	if (job->fetch_complete) {
		job->input_ended = true;
		if (job->state == PF_JOB_RECEIVING)
			job_set_state(job, PF_JOB_PROCESSING);
	} else if (!job->resumable && !(job->refs & JOB_REFS_PRODUCER) && !job_input_over(job)) {
		job->input_failed = true;
		job_set_error(job, "upload interrupted");
		if (job->outcome == PF_JOB_DONE)
			job->outcome = PF_JOB_INTERRUPTED;
	}
}

void job_fetch_more(pf_job *job)
{
	if (!job->fetching || job->fetch_busy || job->resyncing || job->stop_parsing)
		return;
	if (job->fetch_off >= job->fetch_end) {
		fetch_finished(job);
		return;
	}
	if (evbuffer_get_length(job->pending) >= PF_JOB_FETCH_AHEAD)
		return;
	unit_ctx *c = job_ctx_new(job, UNIT_FETCH);
	pf_db_unit *u = c ? pf_db_unit_new(fetch_done_cb, c) : NULL;
	int rc = u ? 0 : PF_ENOMEM;
	rc = rc ? rc
	        : pf_db_unit_stmt(u, "SELECT byte_offset, raw_len, data FROM import_chunks "
	                             "WHERE job_id = $1 AND byte_offset + raw_len > $2 "
	                             "AND byte_offset < $3 ORDER BY byte_offset LIMIT $4");
	rc = rc ? rc : pf_db_unit_int(u, job->id);
	rc = rc ? rc : pf_db_unit_int(u, job->fetch_off);
	rc = rc ? rc : pf_db_unit_int(u, job->fetch_end);
	rc = rc ? rc : pf_db_unit_int(u, PF_JOB_FETCH_CHUNKS);
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		free(c);
		job_fail(job, "out of memory");
		return;
	}
	job->fetch_busy = true;
	job_submit(job, u);
}

/* ---------------- resynchronising ---------------- */

/* The local job ends without touching the database (it is deleted, finished
 * or run elsewhere). */
static void job_end_local(pf_job *job, pf_job_state st, const char *why, bool announce)
{
	job->stop_parsing = true;
	job->finalizing = true;
	evtimer_del(job->flush_ev);
	if (why)
		job_set_error(job, why);
	if (job->adopting) {
		job->adopting = false;
		if (job->hooks.on_started)
			job->hooks.on_started(job->hook_arg, job, why ? why : "not running");
	} else if (job->hooks.on_detached) {
		job->hooks.on_detached(job->hook_arg, job, why ? why : "import ended");
	}
	job->hooks = (pf_job_hooks){0};
	job->hook_arg = NULL;
	job->refs &= ~JOB_REFS_PRODUCER;
	if (announce && !pf_job_state_terminal(job->state))
		job_set_state(job, st);
	job_unref(job, JOB_REFS_PIPELINE);
}

/* Restore the row shape of a job taken over from the database. */
static int restore_shape(pf_job *job, const char *shape_txt, const char *dict_hex)
{
	cJSON *shape = cJSON_Parse(shape_txt);
	const cJSON *hdr = cJSON_GetObjectItemCaseSensitive(shape, "header");
	const cJSON *orders = cJSON_GetObjectItemCaseSensitive(shape, "orders");
	int n = cJSON_GetArraySize(hdr);
	int rc = cJSON_IsArray(hdr) && n > 0 ? 0 : PF_EINVAL;
	const char **f = rc ? NULL : calloc((size_t)n, sizeof(char *));
	size_t *l = rc ? NULL : calloc((size_t)n, sizeof(size_t));
	if (rc == 0 && (!f || !l))
		rc = PF_ENOMEM;
	for (int i = 0; rc == 0 && i < n; i++) {
		const cJSON *it = cJSON_GetArrayItem(hdr, i);
		if (!cJSON_IsString(it)) {
			rc = PF_EINVAL;
			break;
		}
		f[i] = it->valuestring;
		l[i] = strlen(it->valuestring);
	}
	if (rc == 0) {
		cJSON_Delete(job->header_fields);
		job->header_fields = cJSON_Duplicate(hdr, true);
		rc = job->header_fields ? job_set_header(job, (size_t)n, f, l) : PF_ENOMEM;
	}
	unsigned char *dict = NULL;
	size_t dict_len = 0;
	if (rc == 0 && dict_hex) {
		dict = PQunescapeBytea((const unsigned char *)dict_hex, &dict_len);
		if (!dict)
			rc = PF_ENOMEM;
	}
	if (rc == 0)
		rc = pf_rowshape_restore(&job->shape, orders, (const char *)dict, dict_len);
	if (rc == 0)
		rc = job_update_columns(job);
	PQfreemem(dict);
	free(f);
	free(l);
	cJSON_Delete(shape);
	if (rc == 0)
		job->sampled = true;
	return rc;
}

/* Columns of the job row a resync reads (statement 1 of the unit). */
#define RESYNC_COLUMNS                                                                             \
	"state, gen, work_gen, next_record, next_offset, next_line, next_cr, bytes_durable, "      \
	"input_complete, resumable, bytes_total, shape::text, work_raw_dict, encoding, "           \
	"delimiter, rows_parsed, rows_inserted, rows_rejected, rows_warned, raw_bytes, "           \
	"raw_stored_bytes, mapping_override::text, name, "                                         \
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), error, "     \
	"coalesce(user_id, 0)"
enum {
	RS_STATE = 0,
	RS_GEN,
	RS_WORK_GEN,
	RS_NEXT_RECORD,
	RS_NEXT_OFFSET,
	RS_NEXT_LINE,
	RS_NEXT_CR,
	RS_DURABLE,
	RS_COMPLETE,
	RS_RESUMABLE,
	RS_TOTAL,
	RS_SHAPE,
	RS_DICT,
	RS_ENCODING,
	RS_DELIMITER,
	RS_PARSED,
	RS_INSERTED,
	RS_REJECTED,
	RS_WARNED,
	RS_RAW,
	RS_STORED,
	RS_OVERRIDE,
	RS_NAME,
	RS_CREATED,
	RS_ERROR,
	RS_OWNER,
};

/* Rewind to the committed position (see job.h). Returns 0 or an error. */
static int resync_apply(pf_job *job, const pf_db_result *r)
{
	const char *shape = pf_db_value(r, 1, 0, RS_SHAPE);
	int64_t durable = job_val_int(r, 1, RS_DURABLE);
	bool complete = job_val_bool(r, 1, RS_COMPLETE);
	bool fresh = job->adopting; /* nothing of it in this process yet */
	int rc;

	job->gen = job_val_int(r, 1, RS_GEN);
	job->work_gen = job_val_int(r, 1, RS_WORK_GEN);
	job->resumable = job_val_bool(r, 1, RS_RESUMABLE);
	job->bytes_total = pf_db_value(r, 1, 0, RS_TOTAL) ? job_val_int(r, 1, RS_TOTAL) : -1;
	job->rows_parsed_local = job_val_int(r, 1, RS_PARSED);
	job->rows_inserted = job_val_int(r, 1, RS_INSERTED);
	job->rows_stored_local = job->rows_inserted;
	job->rows_rejected = job_val_int(r, 1, RS_REJECTED);
	job->rows_warned = job_val_int(r, 1, RS_WARNED);
	job->raw_bytes = job_val_int(r, 1, RS_RAW);
	job->raw_stored = job_val_int(r, 1, RS_STORED);
	if (fresh) {
		const char *v = pf_db_value(r, 1, 0, RS_NAME);
		pf_job_set_name(job, v);
		job->owner = job_val_int(r, 1, RS_OWNER);
		v = pf_db_value(r, 1, 0, RS_CREATED);
		snprintf(job->created_at, sizeof(job->created_at), "%s", v ? v : "");
		v = pf_db_value(r, 1, 0, RS_OVERRIDE);
		cJSON_Delete(job->override);
		job->override = v ? cJSON_Parse(v) : NULL;
		pf_spool_deinit(&job->spool);
		pf_spool_init(&job->spool, durable);
		job->spool.finished = complete;
		job->bytes_received = durable;
	} else {
		rc = pf_spool_rewind(&job->spool, durable, complete);
		if (rc != 0)
			return rc;
	}
	int st = job_state_by_name(pf_db_value(r, 1, 0, RS_STATE));
	if (st == PF_JOB_PROCESSING && job->state == PF_JOB_RECEIVING)
		job_set_state(job, PF_JOB_PROCESSING);

	/* the reader and the shape, at the committed position */
	int64_t pos = 0, index = 1, line = 1;
	bool cr = false;
	pf_csv_free(job->csv);
	job->csv = job_new_reader(job);
	if (!job->csv)
		return PF_ENOMEM;
	job_held_clear(job);
	pf_batch_deinit(&job->batch);
	pf_batch_init(&job->batch);
	job->csv_finished = false;
	if (!shape) {
		/* nothing stored yet: read again from the first byte */
		pf_rowshape_deinit(&job->shape);
		pf_rowshape_init(&job->shape);
		job->sampled = false;
		cJSON_Delete(job->header_fields);
		job->header_fields = NULL;
		rc = job_update_columns(job);
		if (rc != 0)
			return rc;
	} else {
		if (!job->sampled) {
			rc = restore_shape(job, shape, pf_db_value(r, 1, 0, RS_DICT));
			if (rc != 0)
				return rc;
		}
		pos = job_val_int(r, 1, RS_NEXT_OFFSET);
		index = job_val_int(r, 1, RS_NEXT_RECORD);
		line = job_val_int(r, 1, RS_NEXT_LINE);
		cr = job_val_bool(r, 1, RS_NEXT_CR);
		const char *enc = pf_db_value(r, 1, 0, RS_ENCODING);
		const char *delim = pf_db_value(r, 1, 0, RS_DELIMITER);
		rc = pf_csv_resume(job->csv,
		                   enc && strcmp(enc, "windows-1252") == 0 ? PF_CSV_ENC_CP1252
		                                                           : PF_CSV_ENC_UTF8,
		                   delim && delim[0] ? delim[0] : ',', (uint64_t)pos,
		                   (uint64_t)index, (uint64_t)line, cr);
		if (rc != 0)
			return rc;
	}

	/* the bytes from pos on: in memory since the last commit, or stored */
	int64_t mem_end = job->parse_off + (int64_t)evbuffer_get_length(job->pending);
	if (!fresh && !job->fetching && pos >= job->kept_off && pos <= mem_end) {
		if (pos <= job->parse_off) {
			evbuffer_drain(job->kept, (size_t)(pos - job->kept_off));
			if (evbuffer_prepend_buffer(job->pending, job->kept) != 0)
				return PF_ENOMEM;
		} else {
			evbuffer_drain(job->kept, evbuffer_get_length(job->kept));
			evbuffer_drain(job->pending, (size_t)(pos - job->parse_off));
		}
	} else {
		/* fetch the stored bytes; live ones wait in tail */
		if (!fresh && !job->fetching) {
			/* memory holds [kept_off, mem_end): what is past the stored
			 * bytes waits in tail, the rest comes back from the table */
			if (job->kept_off > durable)
				return PF_EINVAL; /* bytes neither kept nor stored */
			if (evbuffer_prepend_buffer(job->pending, job->kept) != 0)
				return PF_ENOMEM;
			int64_t have = (int64_t)evbuffer_get_length(job->pending);
			int64_t skip = durable - job->kept_off;
			evbuffer_drain(job->pending, (size_t)(skip < have ? skip : have));
			if (evbuffer_prepend_buffer(job->tail, job->pending) != 0)
				return PF_ENOMEM;
		}
		evbuffer_drain(job->kept, evbuffer_get_length(job->kept));
		evbuffer_drain(job->pending, evbuffer_get_length(job->pending));
		job->fetching = true;
		job->fetch_busy = false;
		job->fetch_off = pos;
		job->fetch_end = durable;
		job->fetch_complete = complete;
	}
	job->kept_off = job->parse_off = pos;
	return 0;
}

static void resync_done_cb(void *arg, const pf_db_result *r)
{
	unit_ctx *c = arg;
	pf_job *job = c->job;
	bool current = job_unit_answered(c);
	free(c);
	if (job->env->closing || !current) {
		if (job->resyncing && job->inflight == 0 && !job->env->closing)
			job_resync_read(job);
		else
			job_maybe_finalize(job);
		return;
	}
	if (r->lost) {
		job->lock_held = false;
		job->resyncing = false;
		job_resync(job, true); /* queued until a connection is back */
		return;
	}
	job->resyncing = false;
	const char *err = NULL;
	char msg[512];
	if (r->error) {
		snprintf(msg, sizeof(msg), "cannot read the import back: %s", r->error);
		err = msg;
	}
	if (!err && !job->lock_held && pf_db_rows(r, 0) == 0) {
		/* no such import, or not the expected owner's: no lock was taken */
		job_end_local(job, PF_JOB_CANCELLED, "the import was deleted", false);
		return;
	}
	if (!err && !job->lock_held && !job_val_bool(r, 0, 0)) {
		job_end_local(job, PF_JOB_INTERRUPTED, "the import is run by another process",
		              false);
		return;
	}
	job->lock_held = true;
	if (!err && pf_db_rows(r, 1) == 0) {
		job->lock_held = false; /* unlock happens with the connection */
		job_end_local(job, PF_JOB_CANCELLED, "the import was deleted", true);
		return;
	}
	int st = err ? -1 : job_state_by_name(pf_db_value(r, 1, 0, RS_STATE));
	if (!err && (st < 0 || pf_job_state_terminal((pf_job_state)st))) {
		snprintf(msg, sizeof(msg), "the import is %s", pf_db_value(r, 1, 0, RS_STATE));
		job_end_local(job, st < 0 ? PF_JOB_FAILED : (pf_job_state)st, msg, !job->adopting);
		return;
	}
	if (!err) {
		int rc = resync_apply(job, r);
		if (rc != 0) {
			snprintf(msg, sizeof(msg), "cannot resume the import: %s", pf_strerror(rc));
			err = msg;
		}
	}
	job->created = true;
	if (job->adopting) {
		job->adopting = false;
		pf_info("import %lld: taken over at record %lld, byte %lld", (long long)job->id,
		        (long long)job->parse_off ? (long long)job_val_int(r, 1, RS_NEXT_RECORD)
		                                  : 1,
		        (long long)job->parse_off);
		if (job->hooks.on_started)
			job->hooks.on_started(job->hook_arg, job, NULL);
	}
	if (err)
		job_fail(job, err);
	else if (job_submit_chunks(job) != 0)
		job_fail(job, "out of memory");
	job_notify(job, false);
	job_schedule_pump(job);
}

void job_resync_read(pf_job *job)
{
	unit_ctx *c = job_ctx_new(job, UNIT_RESYNC);
	pf_db_unit *u = c ? pf_db_unit_new(resync_done_cb, c) : NULL;
	int rc = u ? 0 : PF_ENOMEM;
	rc = rc ? rc
	        : pf_db_unit_stmt(u, job->lock_held
	                                 ? "SELECT true"
	                                 : "SELECT pg_try_advisory_lock(id) FROM import_jobs "
	                                   "WHERE id = $1 AND ($2 = 0 OR user_id = $2)");
	if (!job->lock_held) {
		rc = rc ? rc : pf_db_unit_int(u, job->id);
		rc = rc ? rc : pf_db_unit_int(u, job->owner);
	}
	rc = rc ? rc
	        : pf_db_unit_stmt(u, "SELECT " RESYNC_COLUMNS " FROM import_jobs WHERE id = $1");
	rc = rc ? rc : pf_db_unit_int(u, job->id);
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		free(c);
		job->resyncing = false;
		job_end_local(job, PF_JOB_FAILED, "out of memory", false);
		return;
	}
	job_submit(job, u);
}

/*
 * Start (or finish) a resync: a new epoch makes every unit in flight stale;
 * once they are all answered the job row is read and the job rewinds.
 */
void job_resync(pf_job *job, bool lost)
{
	if (lost)
		job->lock_held = false;
	if (job->env->closing || job->parking || job->cancelling || job->finalizing)
		return;
	if (!job->resyncing) {
		job->resyncing = true;
		job->epoch++;
		evtimer_del(job->flush_ev);
	}
	if (job->inflight == 0)
		job_resync_read(job);
}

/*
 * job_row.c - the job's row in import_jobs: the units that create it (an
 * id first, so that the advisory lock is held before the row exists; then
 * admission, lock and row in one transaction), read it back (adoption and
 * resync: lock, then the committed position, counters and shape), write
 * its terminal state (or delete it) and let go of its lock; and the rewind
 * of the reader, the shape and the input to what a read found. Builds and
 * reads; what follows is job_life.c's.
 */
#include "job_internal.h"

#include "propflow/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------- creating ---------------- */

int job_row_send_id(pf_job *job)
{
	pf_db_unit *u = job_unit_new(job, UNIT_ID, NULL);
	if (!u)
		return PF_ENOMEM;
	pf_db_unit_stmt(u, "SELECT nextval(pg_get_serial_sequence('import_jobs', 'id'))");
	/* no id yet: any connection */
	job->inflight++;
	pf_db_submit(job->env->writers, 0, u);
	return 0;
}

int job_row_send_create(pf_job *job)
{
	pf_db_unit *u = job_unit_new(job, UNIT_CREATE, NULL);
	if (!u)
		return PF_ENOMEM;
	const pf_config *cfg = job->env->cfg;
	/* admission first, in the same transaction as the row: the owner's
	 * running imports and quotas are checked under a lock per user, and a
	 * refusal (PF002..PF004) takes no job lock */
	pf_db_unit_stmt(u, "SELECT rows_left, bytes_left FROM pf_job_admit($1, $2, $3, $4, $5)");
	pf_db_unit_int(u, job->owner);
	pf_db_unit_int(u, job->bytes_total >= 0 ? job->bytes_total : 0);
	pf_db_unit_int(u, cfg->user_max_imports);
	pf_db_unit_int(u, cfg->user_max_rows);
	pf_db_unit_int(u, cfg->user_max_bytes);
	pf_db_unit_stmt(u, "SELECT pg_try_advisory_lock($1)");
	pf_db_unit_int(u, job->id);
	pf_db_unit_stmt(u, "INSERT INTO import_jobs (id, name, bytes_total, owner_pid, "
	                   "resumable, user_id) VALUES ($1, $2, $3, $4, $5::boolean, "
	                   "NULLIF($6, 0)) RETURNING id, "
	                   "to_char(created_at AT TIME ZONE 'UTC', "
	                   "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')");
	pf_db_unit_int(u, job->id);
	pf_db_unit_text(u, job->name);
	if (job->bytes_total >= 0)
		pf_db_unit_int(u, job->bytes_total);
	else
		pf_db_unit_text(u, NULL);
	pf_db_unit_int(u, (int64_t)getpid());
	pf_db_unit_text(u, job->resumable ? "t" : "f");
	pf_db_unit_int(u, job->owner);
	job_submit(job, u);
	return 0;
}

pf_job_reason job_row_created(pf_job *job, const pf_db_result *r, const char **detail)
{
	const char *id = pf_db_value(r, 2, 0, 0);
	if (r->error || !id || !job_val_bool(r, 1, 0)) {
		*detail = r->error ? r->error : "no row";
		if (r->error && strcmp(r->sqlstate, "PF002") == 0)
			return PF_JOB_WHY_TOO_MANY;
		if (r->error && strcmp(r->sqlstate, "PF003") == 0)
			return PF_JOB_WHY_ROW_QUOTA;
		if (r->error && strcmp(r->sqlstate, "PF004") == 0)
			return PF_JOB_WHY_BYTE_QUOTA;
		return PF_JOB_WHY_DATABASE;
	}
	job->rows_left = job_val_int(r, 0, 0);
	job->bytes_left = job_val_int(r, 0, 1);
	const char *created = pf_db_value(r, 2, 0, 1);
	snprintf(job->created_at, sizeof(job->created_at), "%s", created ? created : "");
	return PF_JOB_OK;
}

/* ---------------- reading back ---------------- */

/* Columns of the job row a read takes (statement 1 of the unit). */
#define READ_COLUMNS                                                                               \
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

int job_row_send_read(pf_job *job)
{
	pf_db_unit *u = job_unit_new(job, UNIT_READ, NULL);
	if (!u)
		return PF_ENOMEM;
	if (job->lock_held) {
		pf_db_unit_stmt(u, "SELECT true");
	} else {
		/* with an expected owner, another user's job is not locked */
		pf_db_unit_stmt(u, "SELECT pg_try_advisory_lock(id) FROM import_jobs "
		                   "WHERE id = $1 AND ($2 = 0 OR user_id = $2)");
		pf_db_unit_int(u, job->id);
		pf_db_unit_int(u, job->owner);
	}
	pf_db_unit_stmt(u, "SELECT " READ_COLUMNS " FROM import_jobs WHERE id = $1");
	pf_db_unit_int(u, job->id);
	job_submit(job, u);
	return 0;
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
		rc = job->header_fields ? job_records_header(job, (size_t)n, f, l) : PF_ENOMEM;
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
		rc = job_records_columns(job);
	PQfreemem(dict);
	free(f);
	free(l);
	cJSON_Delete(shape);
	if (rc == 0)
		job->sampled = true;
	return rc;
}

/* Rewind to the committed position (see job.h). Returns 0 or an error. */
static int rewind_to_row(pf_job *job, const pf_db_result *r)
{
	const char *shape = pf_db_value(r, 1, 0, RS_SHAPE);
	int64_t durable = job_val_int(r, 1, RS_DURABLE);
	bool complete = job_val_bool(r, 1, RS_COMPLETE);
	bool fresh = job->phase == JOB_ADOPTING; /* nothing of it in this process yet */
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
		job_set_name(job, v);
		job->owner = job_val_int(r, 1, RS_OWNER);
		v = pf_db_value(r, 1, 0, RS_CREATED);
		snprintf(job->created_at, sizeof(job->created_at), "%s", v ? v : "");
		v = pf_db_value(r, 1, 0, RS_OVERRIDE);
		cJSON_Delete(job->override);
		job->override = v ? cJSON_Parse(v) : NULL;
		job->bytes_received = durable;
	}
	int st = job_state_by_name(pf_db_value(r, 1, 0, RS_STATE));
	if (st == PF_JOB_PROCESSING && job->state == PF_JOB_RECEIVING)
		job_set_state(job, PF_JOB_PROCESSING);

	/* the reader and the shape, at the committed position */
	int64_t pos = 0, index = 1, line = 1;
	bool cr = false;
	pf_csv_free(job->csv);
	job->csv = job_records_reader(job);
	if (!job->csv)
		return PF_ENOMEM;
	job_records_clear(job);
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
		rc = job_records_columns(job);
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
	return job_input_rewind(&job->in, pos, durable, complete, fresh);
}

void job_row_read_lock(pf_job *job, const pf_db_result *r)
{
	if (!r->error && !job->lock_held && pf_db_rows(r, 0) > 0 && job_val_bool(r, 0, 0))
		job->lock_held = true;
}

job_row_found job_row_read(pf_job *job, const pf_db_result *r, char *msg, size_t cap,
                           pf_job_state *st_out)
{
	if (!r->error && !job->lock_held && pf_db_rows(r, 0) == 0)
		return JOB_ROW_MISSING; /* no such import, or not the owner's: no lock */
	if (!r->error && !job->lock_held && !job_val_bool(r, 0, 0))
		return JOB_ROW_ELSEWHERE;
	job->lock_held = true;
	if (r->error) {
		snprintf(msg, cap, "cannot read the import back: %s", r->error);
		return JOB_ROW_UNREADABLE;
	}
	if (pf_db_rows(r, 1) == 0) {
		job->lock_held = false; /* unlock happens with the connection */
		return JOB_ROW_DELETED;
	}
	const char *state = pf_db_value(r, 1, 0, RS_STATE);
	int st = job_state_by_name(state);
	if (st < 0 || pf_job_state_terminal((pf_job_state)st)) {
		snprintf(msg, cap, "the import is %s", state ? state : "unknown");
		*st_out = st < 0 ? PF_JOB_FAILED : (pf_job_state)st;
		return JOB_ROW_FINISHED;
	}
	int rc = rewind_to_row(job, r);
	if (rc != 0) {
		snprintf(msg, cap, "cannot resume the import: %s", pf_strerror(rc));
		return JOB_ROW_UNREADABLE;
	}
	if (job->phase == JOB_ADOPTING)
		pf_info("import %lld: taken over at record %lld, byte %lld", (long long)job->id,
		        job->in.parse_off ? (long long)job_val_int(r, 1, RS_NEXT_RECORD) : 1LL,
		        (long long)job->in.parse_off);
	return JOB_ROW_OURS;
}

/* ---------------- finishing ---------------- */

static const char sql_final[] =
    "UPDATE import_jobs SET state = $2, error = $3, "
    "bytes_received = GREATEST(bytes_received, $4), finished_at = now(), updated_at = now(), "
    "gen = CASE WHEN $2 = 'done' THEN work_gen ELSE gen END, "
    "raw_dict = CASE WHEN $2 = 'done' THEN work_raw_dict ELSE raw_dict END "
    "WHERE id = $1 AND work_gen = $5 AND state IN ('receiving', 'processing') "
    "RETURNING to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

/* A reprocess replaces the rows only if it succeeds: the other
 * generation goes, in the same transaction as the switch, with its market
 * analysis (the state row; its groups and bins follow by cascade). */
static const char *const sql_drop_other[] = {
    "DELETE FROM property_records WHERE job_id = $1 AND gen <> $2",
    "DELETE FROM property_raw WHERE job_id = $1 AND gen <> $2",
    "DELETE FROM import_errors WHERE job_id = $1 AND gen <> $2",
    "DELETE FROM property_market_state WHERE job_id = $1 AND gen <> $2",
};
static const char *const sql_drop_work[] = {
    "DELETE FROM property_records WHERE job_id = $1 AND gen = $2",
    "DELETE FROM property_raw WHERE job_id = $1 AND gen = $2",
    "DELETE FROM import_errors WHERE job_id = $1 AND gen = $2",
    "DELETE FROM property_market_state WHERE job_id = $1 AND gen = $2",
};

int job_row_send_final(pf_job *job)
{
	pf_db_unit *u = job_unit_new(job, UNIT_FINAL, NULL);
	if (!u)
		return PF_ENOMEM;
	if (job->outcome == PF_JOB_CANCELLED) {
		pf_db_unit_stmt(u, "DELETE FROM import_jobs WHERE id = $1");
		pf_db_unit_int(u, job->id);
	} else {
		pf_db_unit_stmt(u, sql_final);
		pf_db_unit_int(u, job->id);
		pf_db_unit_text(u, pf_job_state_name(job->outcome));
		pf_db_unit_text(u, job->error);
		pf_db_unit_int(u, job->bytes_received);
		pf_db_unit_int(u, job->work_gen);
		if (job->work_gen != job->gen) {
			bool done = job->outcome == PF_JOB_DONE;
			for (size_t i = 0; i < PF_ARRAY_LEN(sql_drop_work); i++) {
				pf_db_unit_stmt(u, done ? sql_drop_other[i] : sql_drop_work[i]);
				pf_db_unit_int(u, job->id);
				pf_db_unit_int(u, job->work_gen);
			}
		}
	}
	if (job->lock_held) {
		pf_db_unit_stmt(u, "SELECT pg_advisory_unlock($1)");
		pf_db_unit_int(u, job->id);
	}
	job_submit(job, u);
	return 0;
}

int job_row_send_unlock(pf_job *job)
{
	pf_db_unit *u = job_unit_new(job, UNIT_UNLOCK, NULL);
	if (!u)
		return PF_ENOMEM;
	pf_db_unit_stmt(u, "SELECT pg_advisory_unlock($1)");
	pf_db_unit_int(u, job->id);
	job_submit(job, u);
	return 0;
}

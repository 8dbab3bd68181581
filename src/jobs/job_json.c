/*
 * job_json.c - what a job shows of itself: the accessors of job.h, the
 * rows-per-second estimate, and the job object as JSON, from memory (a
 * running job) or from an import_jobs row (any job, any instance). The
 * job itself is job.c and the parts job_internal.h lists; this file only
 * reads the job.
 */
#include "job_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

pf_job_reason pf_job_error_reason(const pf_job *job)
{
	return job->error ? job->why : PF_JOB_OK;
}

bool pf_job_paused(const pf_job *job)
{
	return job->owe_resume;
}

bool pf_job_resumable(const pf_job *job)
{
	return job->resumable;
}

int64_t pf_job_upload_offset(const pf_job *job)
{
	return job->bytes_received;
}

int64_t pf_job_bytes_total(const pf_job *job)
{
	return job->bytes_total;
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
	if (++job->seq > job->env->seq_high)
		job->env->seq_high = job->seq;
	return job->seq;
}

uint64_t pf_job_seq(const pf_job *job)
{
	return job->seq;
}

uint64_t pf_job_version(const pf_job *job)
{
	/* FNV-1a over the values; some (bytes received while paused, the
	 * durable offset) move without a notification */
	const int64_t v[] = {(int64_t)job->changes,  job->bytes_received,
	                     job->rows_parsed_local, job->rows_inserted,
	                     job->rows_rejected,     job->rows_warned,
	                     job->raw_bytes,         job->raw_stored,
	                     job->in.spool.durable,  job->gen,
	                     (int64_t)job->state};
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *p = (const unsigned char *)v;
	for (size_t i = 0; i < sizeof(v); i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void pf_job_rate_sample(pf_job *job, double now_s)
{
	if (job->rate_t == 0) {
		job->rate_t = now_s;
		job->rate_last_rows = job->rows_parsed_local;
		job->rate_last_bytes = job->in.parse_off;
		return;
	}
	double dt = now_s - job->rate_t;
	if (dt < 0.05)
		return;
	double rows = (double)(job->rows_parsed_local - job->rate_last_rows) / dt;
	double bytes = (double)(job->in.parse_off - job->rate_last_bytes) / dt;
	/* exponential smoothing with a ~1 s time constant */
	double a = dt / (dt + 1.0);
	job->rate_rows = job->rate_rows == 0 ? rows : job->rate_rows + a * (rows - job->rate_rows);
	job->rate_bytes =
	    job->rate_bytes == 0 ? bytes : job->rate_bytes + a * (bytes - job->rate_bytes);
	job->rate_t = now_s;
	job->rate_last_rows = job->rows_parsed_local;
	job->rate_last_bytes = job->in.parse_off;
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
	double left = (double)(job->bytes_total - job->in.parse_off);
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
	cJSON_AddBoolToObject(o, "resumable", job->resumable);
	add_int(o, "upload_offset", job->bytes_received);
	add_int(o, "bytes_durable", job->in.spool.durable);
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
	const char *res = pf_db_value(r, stmt, row, 17);
	bool resumable = res && res[0] == 't';
	cJSON_AddBoolToObject(o, "resumable", resumable);
	/* from the database, the offset to resume from is what is stored */
	add_int(o, "upload_offset", row_int(r, stmt, row, 18));
	add_int(o, "bytes_durable", row_int(r, stmt, row, 18));
	return o;
}

int64_t pf_job_user(const pf_job *job)
{
	return job->owner;
}

int64_t pf_job_bytes_left(const pf_job *job)
{
	return job->bytes_left;
}

/*
 * job_base.c - what every part of a job uses: the public state and its
 * names, the first error (in words and as a reason), failing, and the
 * units: contexts of the current epoch, sent in order on the job's writer
 * connection, counted when answered. The lowest part of the job module: it
 * calls none of the others.
 */
#include "job_internal.h"

#include "propflow/base/log.h"

#include <stdlib.h>
#include <string.h>

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

const char *pf_job_reason_text(pf_job_reason why)
{
	switch (why) {
	case PF_JOB_OK: return "ok";
	case PF_JOB_WHY_TAKEN_OVER: return "another request continues this upload";
	case PF_JOB_WHY_CANCELLED: return "the import was cancelled";
	case PF_JOB_WHY_SHUTDOWN: return "server shutting down";
	case PF_JOB_WHY_NOT_FOUND: return "not found";
	case PF_JOB_WHY_DELETED: return "the import was deleted";
	case PF_JOB_WHY_ELSEWHERE: return "the import is run by another process";
	case PF_JOB_WHY_FINISHED: return "the import has ended";
	case PF_JOB_WHY_TOO_MANY: return "too many imports running";
	case PF_JOB_WHY_ROW_QUOTA: return "row quota exceeded";
	case PF_JOB_WHY_BYTE_QUOTA: return "storage quota exceeded";
	case PF_JOB_WHY_DATABASE: return "database unavailable";
	case PF_JOB_WHY_NOMEM: return "out of memory";
	case PF_JOB_WHY_CONTENT: return "the file cannot be imported";
	case PF_JOB_WHY_INPUT: return "upload interrupted";
	}
	return "unknown";
}

void job_notify(pf_job *job, bool final)
{
	job->changes++;
	if (job->env->changed)
		job->env->changed(job->env->changed_arg, job, final);
}

void job_set_state(pf_job *job, pf_job_state st)
{
	if (job->state == st)
		return;
	if (pf_job_state_terminal(job->state))
		abort(); /* a finished job never changes again */
	job->state = st;
	if (pf_job_state_terminal(st)) {
		const char *name[] = {pf_job_state_name(st)};
		pf_metric_add(pf_metric_series_get(job->env->meters.finished, name), 1);
	}
	job_notify(job, pf_job_state_terminal(st));
}

void job_set_error(pf_job *job, pf_job_reason why, const char *msg)
{
	if (job->error)
		return; /* the first cause is the one worth reporting */
	job->error = strdup(msg ? msg : pf_job_reason_text(why));
	job->why = why;
	pf_warn("import %lld: %s", (long long)job->id, job->error ? job->error : msg);
}

void job_set_name(pf_job *job, const char *name)
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

bool job_input_over(const pf_job *job)
{
	return job->input_fate != JOB_INPUT_OPEN;
}

void job_fail(pf_job *job, pf_job_reason why, const char *msg)
{
	job_set_error(job, why, msg);
	if (job->outcome == PF_JOB_DONE)
		job->outcome = PF_JOB_FAILED;
	job->discard = true;
	if (job->resumable && !(job->refs & JOB_REFS_PRODUCER) && !job_input_over(job))
		job->input_fate = JOB_INPUT_CUT; /* nobody will end it */
	/* the reader may be inside pending's memory right now: the pump
	 * discards it on its next turn */
	job_schedule_pump(job);
}

void job_schedule_pump(pf_job *job)
{
	event_active(job->pump_ev, 0, 0);
}

bool job_window_full(const pf_job *job)
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

pf_db_unit *job_unit_new(pf_job *job, unit_kind kind, unit_ctx **ctx)
{
	unit_ctx *c = job_ctx_new(job, kind);
	pf_db_unit *u = c ? pf_db_unit_new(job->unit_cb, c) : NULL;
	if (!u) {
		free(c);
		c = NULL;
	}
	if (ctx)
		*ctx = c;
	return u;
}

void job_unit_drop(pf_db_unit *u, unit_ctx *ctx)
{
	pf_db_unit_free(u);
	free(ctx);
}

void job_submit(pf_job *job, pf_db_unit *u)
{
	job->inflight++;
	pf_db_submit(job->env->writers, (uint64_t)job->id, u);
}

bool job_unit_answered(unit_ctx *c)
{
	c->job->inflight--;
	return c->epoch == c->job->epoch;
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

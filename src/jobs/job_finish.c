/*
 * job_finish.c - how a job ends: once input is over, every record parsed
 * and every unit answered, one unit writes the terminal state (a reprocess
 * that succeeded drops the other generation's rows with it), deletes a
 * cancelled import, or, for a parked job, lets go of the advisory lock so
 * that the job can leave memory.
 */
#include "job_internal.h"

#include "propflow/base/log.h"

#include <stdio.h>
#include <stdlib.h>

static void final_done_cb(void *arg, const pf_db_result *r)
{
	unit_ctx *c = arg;
	pf_job *job = c->job;
	bool current = job_unit_answered(c);
	free(c);
	if (!current && !job->env->closing) {
		job_maybe_finalize(job); /* cancelled meanwhile: the deletion follows */
		return;
	}
	if (r->error && !job->env->closing)
		pf_error("import %lld: cannot record the final state: %s", (long long)job->id,
		         r->error);
	if (r->error && r->lost && !job->env->closing && !job->cancelling) {
		/* the database went away: try again once it is back */
		job->finalizing = false;
		job_resync(job, true);
		return;
	}
	if (job->cancelling) {
		pf_info("import %lld: cancelled and deleted", (long long)job->id);
		if (job->cancel_done)
			job->cancel_done(job->cancel_arg, r->error == NULL);
		job->cancel_done = NULL;
		job->outcome = PF_JOB_CANCELLED;
	} else {
		const char *fin = pf_db_value(r, 0, 0, 0);
		snprintf(job->finished_at, sizeof(job->finished_at), "%s", fin ? fin : "");
		pf_info("import %lld: %s, %lld rows parsed, %lld inserted, %lld rejected, "
		        "%lld warned",
		        (long long)job->id, pf_job_state_name(job->outcome),
		        (long long)job->rows_parsed_local, (long long)job->rows_inserted,
		        (long long)job->rows_rejected, (long long)job->rows_warned);
	}
	job->lock_held = false;
	job_set_state(job, job->outcome);
	if (job->hooks.on_finished)
		job->hooks.on_finished(job->hook_arg, job);
	job_unref(job, JOB_REFS_PIPELINE);
}

static const char sql_final[] =
    "UPDATE import_jobs SET state = $2, error = $3, "
    "bytes_received = GREATEST(bytes_received, $4), finished_at = now(), updated_at = now(), "
    "gen = CASE WHEN $2 = 'done' THEN work_gen ELSE gen END, "
    "raw_dict = CASE WHEN $2 = 'done' THEN work_raw_dict ELSE raw_dict END "
    "WHERE id = $1 AND work_gen = $5 AND state IN ('receiving', 'processing') "
    "RETURNING to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

/* A reprocess replaces the rows only if it succeeds: the other
 * generation goes, in the same transaction as the switch. */
static const char *const sql_drop_other[] = {
    "DELETE FROM property_records WHERE job_id = $1 AND gen <> $2",
    "DELETE FROM property_raw WHERE job_id = $1 AND gen <> $2",
    "DELETE FROM import_errors WHERE job_id = $1 AND gen <> $2",
};
static const char *const sql_drop_work[] = {
    "DELETE FROM property_records WHERE job_id = $1 AND gen = $2",
    "DELETE FROM property_raw WHERE job_id = $1 AND gen = $2",
    "DELETE FROM import_errors WHERE job_id = $1 AND gen = $2",
};

static int build_final(pf_job *job, pf_db_unit *u)
{
	int rc = 0;
	if (job->cancelling) {
		rc = pf_db_unit_stmt(u, "DELETE FROM import_jobs WHERE id = $1");
		rc = rc ? rc : pf_db_unit_int(u, job->id);
	} else {
		rc = pf_db_unit_stmt(u, sql_final);
		rc = rc ? rc : pf_db_unit_int(u, job->id);
		rc = rc ? rc : pf_db_unit_text(u, pf_job_state_name(job->outcome));
		rc = rc ? rc : pf_db_unit_text(u, job->error);
		rc = rc ? rc : pf_db_unit_int(u, job->bytes_received);
		rc = rc ? rc : pf_db_unit_int(u, job->work_gen);
		if (job->work_gen != job->gen) {
			bool done = job->outcome == PF_JOB_DONE;
			for (int i = 0; i < 3 && rc == 0; i++) {
				rc =
				    pf_db_unit_stmt(u, done ? sql_drop_other[i] : sql_drop_work[i]);
				rc = rc ? rc : pf_db_unit_int(u, job->id);
				rc = rc ? rc : pf_db_unit_int(u, job->work_gen);
			}
		}
	}
	if (job->lock_held) {
		rc = rc ? rc : pf_db_unit_stmt(u, "SELECT pg_advisory_unlock($1)");
		rc = rc ? rc : pf_db_unit_int(u, job->id);
	}
	return rc;
}

static void unlock_done_cb(void *arg, const pf_db_result *r)
{
	unit_ctx *c = arg;
	pf_job *job = c->job;
	job_unit_answered(c);
	free(c);
	job->lock_held = false;
	if (job->resyncing && job->inflight == 0 && !job->env->closing)
		job_resync_read(job); /* a PATCH came while parking: take it back */
	else
		job_maybe_finalize(job);
}

/* A parked job lets go of its lock once settled, then leaves memory. */
static void job_park_settled(pf_job *job)
{
	if (job->lock_held && !job->env->closing) {
		unit_ctx *c = job_ctx_new(job, UNIT_UNLOCK);
		pf_db_unit *u = c ? pf_db_unit_new(unlock_done_cb, c) : NULL;
		int rc = u ? 0 : PF_ENOMEM;
		rc = rc ? rc : pf_db_unit_stmt(u, "SELECT pg_advisory_unlock($1)");
		rc = rc ? rc : pf_db_unit_int(u, job->id);
		if (rc == 0) {
			job->lock_held = false;
			job_submit(job, u);
			return;
		}
		if (u)
			pf_db_unit_free(u);
		free(c);
	}
	pf_info("import %lld: parked at byte %lld", (long long)job->id, (long long)job->kept_off);
	job->finalizing = true;
	job->refs = 0;
	job_unref(job, 0);
}

/* When input is over, every record parsed and every unit answered, write
 * the terminal state (or delete, or park). */
void job_maybe_finalize(pf_job *job)
{
	if (job->refs == 0 && job->inflight == 0) {
		job_free(job);
		return;
	}
	if (job->finalizing || job->inflight > 0)
		return;
	if (job->parking) {
		if (!(job->refs & JOB_REFS_PRODUCER))
			job_park_settled(job);
		return;
	}
	if ((!job->created && !job->cancelling) || job->resyncing)
		return;
	if (!job->cancelling) {
		if (!job_input_over(job)) {
			if (job->stop_parsing && job->owe_resume && job->hooks.on_resume) {
				/* a failed job drains its producer's body */
				job->owe_resume = false;
				job->hooks.on_resume(job->hook_arg, job);
			}
			/* a resumable upload with nobody sending, all stored and
			 * parsed, leaves memory until the next PATCH */
			if (job->resumable && !(job->refs & JOB_REFS_PRODUCER) &&
			    !job->stop_parsing && !job->fetching &&
			    evbuffer_get_length(job->pending) == 0 && pf_batch_empty(&job->batch) &&
			    job->spool.head == NULL && job->spool.open_len == 0 &&
			    (job->sampled || job->nheld == 0)) {
				job->parking = true;
				job->idle_park = true;
				job_park_settled(job);
			}
			return;
		}
		if (!job->stop_parsing && !job->csv_finished)
			return;
		if (!job->stop_parsing && (job->spool.head || !job->spool.finished)) {
			/* the final chunk must be stored before the job is done */
			if (!job->spool.finished && job->input_ended &&
			    pf_spool_seal(&job->spool, true) != 0) {
				job_fail(job, "out of memory");
				return;
			}
			if (job->input_ended || job->spool.head) {
				if (job_submit_chunks(job) != 0)
					job_fail(job, "out of memory");
				if (job->inflight > 0)
					return;
			}
		}
	}
	job->finalizing = true;
	evtimer_del(job->flush_ev);
	if (job->state == PF_JOB_RECEIVING && !job->cancelling)
		job_set_state(job, PF_JOB_PROCESSING);
	unit_ctx *c = job_ctx_new(job, UNIT_FINAL);
	pf_db_unit *u = c ? pf_db_unit_new(final_done_cb, c) : NULL;
	int rc = u ? build_final(job, u) : PF_ENOMEM;
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		free(c);
		pf_error("import %lld: out of memory while finishing", (long long)job->id);
		job_set_state(job, job->cancelling ? PF_JOB_CANCELLED : PF_JOB_FAILED);
		if (job->cancel_done)
			job->cancel_done(job->cancel_arg, false);
		if (job->hooks.on_finished)
			job->hooks.on_finished(job->hook_arg, job);
		job_unref(job, JOB_REFS_PIPELINE);
		return;
	}
	job_submit(job, u);
}

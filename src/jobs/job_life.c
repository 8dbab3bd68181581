/*
 * job_life.c - the job's lifecycle: job_set_phase enters a phase and does
 * that transition's side effects (job_phase.h draws the machine and holds
 * the table); every unit's answer comes here (job_unit_cb, set as each
 * unit's callback at creation) and is dispatched on its kind, then on the
 * phase; the pump moves bytes from the input to the reader; job_step does
 * what the phase needs once things settle (finalize, park, idle, free).
 *
 * Every unit carries the job's epoch; entering ADOPTING, RESYNCING or
 * CANCELLING starts a new epoch, and the answers of older units are only
 * counted, never acted on: the read that follows finds what they did.
 */
#include "job_internal.h"

#include "propflow/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQLSTATE_OUT_OF_PLACE "PF001" /* raised by schema/002_durable.sql */
#define SQLSTATE_ROW_QUOTA    "PF003" /* raised by schema/005_quota.sql */

static pf_job_reason reason_of_rc(int rc)
{
	return rc == PF_ENOMEM ? PF_JOB_WHY_NOMEM : PF_JOB_WHY_CONTENT;
}

/* ---------------- holders ---------------- */

void job_free(pf_job *job)
{
	pf_job_env *env = job->env;
	if (job->reg_prev)
		job->reg_prev->reg_next = job->reg_next;
	else if (env->jobs == job)
		env->jobs = job->reg_next;
	if (job->reg_next)
		job->reg_next->reg_prev = job->reg_prev;
	job_records_clear(job);
	pf_rowshape_deinit(&job->shape);
	cJSON_Delete(job->columns);
	cJSON_Delete(job->header_fields);
	cJSON_Delete(job->override);
	pf_csv_free(job->csv);
	pf_batch_deinit(&job->batch);
	job_input_deinit(&job->in);
	if (job->pump_ev)
		event_free(job->pump_ev);
	if (job->flush_ev)
		event_free(job->flush_ev);
	free(job->error);
	free(job);
}

/* Only an ENDED job loses its pipeline ref, so no holder left means ENDED:
 * the job goes once its last unit has answered too. */
void job_unref(pf_job *job, int ref)
{
	job->refs &= ~ref;
	if (job->refs == 0 && job->inflight == 0)
		job_free(job);
}

void job_detach_producer(pf_job *job, pf_job_reason why)
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

/* ---------------- endings ---------------- */

/* The row could not be created (or the id not drawn): no row to update. */
static void start_failed(pf_job *job, pf_job_reason why, const char *detail)
{
	char msg[JOB_ERROR_MAX];
	snprintf(msg, sizeof(msg), "cannot create the import: %s", detail);
	job_set_error(job, why, msg);
	job->outcome = PF_JOB_FAILED;
	job->discard = true;
	job_set_state(job, PF_JOB_FAILED);
	if (job->cancel_done) /* cancelled while creating: nothing was kept */
		job->cancel_done(job->cancel_arg, false);
	job->cancel_done = NULL;
	if (job->hooks.on_started)
		job->hooks.on_started(job->hook_arg, job, why);
	job_set_phase(job, JOB_ENDED);
}

/* The job ends here without touching the database (it is missing, deleted,
 * finished or run elsewhere); announce: the state is shown as `st`. */
static void end_local(pf_job *job, pf_job_state st, pf_job_reason why, const char *msg,
                      bool announce)
{
	job_set_error(job, why, msg);
	if (job->phase == JOB_ADOPTING) {
		if (job->hooks.on_started)
			job->hooks.on_started(job->hook_arg, job, why);
	} else if (job->hooks.on_detached) {
		job->hooks.on_detached(job->hook_arg, job, why);
	}
	job->hooks = (pf_job_hooks){0};
	job->hook_arg = NULL;
	job->refs &= ~JOB_REFS_PRODUCER;
	if (announce && !pf_job_state_terminal(job->state))
		job_set_state(job, st);
	job_set_phase(job, JOB_ENDED);
}

/* The final unit could not even be built: the job ends as it stands. */
static void final_unsent(pf_job *job)
{
	pf_error("import %lld: out of memory while finishing", (long long)job->id);
	job_set_state(job, job->outcome == PF_JOB_CANCELLED ? PF_JOB_CANCELLED : PF_JOB_FAILED);
	if (job->cancel_done)
		job->cancel_done(job->cancel_arg, false);
	job->cancel_done = NULL;
	if (job->hooks.on_finished)
		job->hooks.on_finished(job->hook_arg, job);
	job_set_phase(job, JOB_ENDED);
}

/* ---------------- phases ---------------- */

/* ADOPTING and RESYNCING read the row once every unit has answered. */
static void read_when_settled(pf_job *job)
{
	if (!job_phase_reads_row(job->phase) || job->inflight > 0 || job->env->closing)
		return;
	if (job_row_send_read(job) != 0)
		end_local(job, PF_JOB_FAILED, PF_JOB_WHY_NOMEM, NULL, false);
}

void job_set_phase(pf_job *job, job_phase to)
{
	job_phase from = job->phase;
	if (!job_phase_allowed(from, to)) {
		pf_error("import %lld: phase %s -> %s is not in the table", (long long)job->id,
		         job_phase_name(from), job_phase_name(to));
		abort();
	}
	job->phase = to;
	switch (to) {
	case JOB_CREATING:
		if (job_row_send_id(job) != 0)
			start_failed(job, PF_JOB_WHY_NOMEM, "out of memory");
		return;
	case JOB_ADOPTING:
	case JOB_RESYNCING:
		/* every unit in flight turns stale; the row is read once they
		 * have all answered */
		job->epoch++;
		evtimer_del(job->flush_ev);
		read_when_settled(job);
		return;
	case JOB_RUNNING:
		if (job_input_send_chunks(job) != 0)
			job_fail(job, PF_JOB_WHY_NOMEM, NULL);
		job_notify(job, false);
		job_schedule_pump(job);
		return;
	case JOB_FINALIZING:
		evtimer_del(job->flush_ev);
		if (job->state == PF_JOB_RECEIVING && job->outcome != PF_JOB_CANCELLED)
			job_set_state(job, PF_JOB_PROCESSING);
		if (job_row_send_final(job) != 0)
			final_unsent(job);
		return;
	case JOB_CANCELLING:
		/* a final unit in flight turns stale: the deletion follows it */
		job->outcome = PF_JOB_CANCELLED;
		job->discard = true;
		job->epoch++;
		evtimer_del(job->flush_ev);
		job_detach_producer(job, PF_JOB_WHY_CANCELLED);
		job_schedule_pump(job);
		return;
	case JOB_PARKING:
		evtimer_del(job->flush_ev);
		/* what was received becomes durable before we go */
		if (!job->discard && !job->in.spool.finished && job->has_row &&
		    pf_spool_seal(&job->in.spool, false) == 0)
			job_input_send_chunks(job);
		job_detach_producer(job, PF_JOB_WHY_SHUTDOWN);
		return;
	case JOB_IDLING: return; /* job_step lets go of the lock */
	case JOB_ENDED:
		evtimer_del(job->flush_ev);
		job->discard = true;
		job_unref(job, JOB_REFS_PIPELINE); /* may free the job: last */
		return;
	case JOB_NEW:
	case JOB_PHASE_COUNT: break;
	}
	abort();
}

void job_resync(pf_job *job, bool lost)
{
	if (lost)
		job->lock_held = false;
	if (job->env->closing)
		return;
	switch (job->phase) {
	case JOB_RUNNING:
	case JOB_FINALIZING: job_set_phase(job, JOB_RESYNCING); return;
	case JOB_ADOPTING:
	case JOB_RESYNCING: job_set_phase(job, job->phase); return; /* start over */
	default: return; /* parking, idling, cancelling, ended: nothing to rewind */
	}
}

/* ---------------- what settles ---------------- */

/* A running job: finalize once the input is over, every record parsed and
 * every byte stored; or, a resumable one nobody sends to, let go. */
static void running_step(pf_job *job)
{
	job_input *in = &job->in;
	if (!job_input_over(job)) {
		if (job->discard && job->owe_resume && job->hooks.on_resume) {
			/* a failed job drains its producer's body */
			job->owe_resume = false;
			job->hooks.on_resume(job->hook_arg, job);
		}
		/* a resumable upload with nobody sending, all stored and parsed,
		 * leaves memory until the next PATCH */
		if (job->resumable && !(job->refs & JOB_REFS_PRODUCER) && !job->discard &&
		    job_input_settled(in) && pf_batch_empty(&job->batch) &&
		    (job->sampled || job->nheld == 0)) {
			job_set_phase(job, JOB_IDLING);
			job_step(job);
		}
		return;
	}
	if (!job->discard && !job->csv_finished)
		return;
	if (!job->discard && (in->spool.head || !in->spool.finished)) {
		/* the final chunk must be stored before the job is done */
		if (!in->spool.finished && job->input_fate == JOB_INPUT_ENDED &&
		    pf_spool_seal(&in->spool, true) != 0) {
			job_fail(job, PF_JOB_WHY_NOMEM, NULL);
			return;
		}
		if (job->input_fate == JOB_INPUT_ENDED || in->spool.head) {
			if (job_input_send_chunks(job) != 0)
				job_fail(job, PF_JOB_WHY_NOMEM, NULL);
			if (job->inflight > 0)
				return;
		}
	}
	job_set_phase(job, JOB_FINALIZING);
}

void job_step(pf_job *job)
{
	if (job->refs == 0 && job->inflight == 0) {
		job_free(job);
		return;
	}
	if (job->inflight > 0)
		return;
	switch (job->phase) {
	case JOB_NEW:
	case JOB_CREATING:
	case JOB_ADOPTING:
	case JOB_RESYNCING:
	case JOB_FINALIZING:
	case JOB_ENDED: return;
	case JOB_RUNNING: running_step(job); return;
	case JOB_CANCELLING: job_set_phase(job, JOB_FINALIZING); return;
	case JOB_PARKING:
	case JOB_IDLING:
		/* settled: let go of the lock, then of the memory */
		if (job->refs & JOB_REFS_PRODUCER)
			return;
		if (job->lock_held && !job->env->closing && job_row_send_unlock(job) == 0) {
			job->lock_held = false;
			return;
		}
		pf_info("import %lld: parked at byte %lld", (long long)job->id,
		        (long long)job->in.kept_off);
		job_set_phase(job, JOB_ENDED);
		return;
	case JOB_PHASE_COUNT: break;
	}
	abort();
}

/* ---------------- unit answers ---------------- */

/*
 * The common start of the answers of work units (shape, chunk, batch,
 * fetch): counts the unit and tells whether its result still matters.
 * Stale results (an older epoch), results during shutdown, and lost or
 * out-of-place units lead to a resync or a settle.
 */
static bool settle(unit_ctx *c, const pf_db_result *r, const char *what)
{
	pf_job *job = c->job;
	bool current = job_unit_answered(c) && !job->env->closing;
	if (r->lost)
		job->lock_held = false; /* the session that held it is gone */
	if (current && r->error && c->kind == UNIT_BATCH &&
	    (strcmp(r->sqlstate, SQLSTATE_ROW_QUOTA) == 0 ||
	     (job->quota_refused && strcmp(r->sqlstate, SQLSTATE_OUT_OF_PLACE) == 0))) {
		job_records_refused(job, c);
		current = false;
	} else if (current && r->error) {
		if (r->lost || strcmp(r->sqlstate, SQLSTATE_OUT_OF_PLACE) == 0) {
			pf_info("import %lld: %s: %s; resynchronising", (long long)job->id, what,
			        r->error);
			job_resync(job, r->lost);
		} else {
			char msg[JOB_ERROR_MAX];
			snprintf(msg, sizeof(msg), "%s failed: %s", what, r->error);
			job_fail(job, PF_JOB_WHY_DATABASE, msg);
		}
		current = false;
	}
	if (!current) {
		if (job_phase_reads_row(job->phase) && job->inflight == 0)
			read_when_settled(job); /* the settle is over: read the row */
		else
			job_schedule_pump(job);
	}
	return current;
}

static void work_answered(unit_ctx *c, const pf_db_result *r)
{
	static const char *const what[] = {
	    [UNIT_SHAPE] = "storing the column mapping",
	    [UNIT_CHUNK] = "storing the upload",
	    [UNIT_BATCH] = "storing rows",
	    [UNIT_FETCH] = "reading the stored upload",
	};
	pf_job *job = c->job;
	if (c->kind == UNIT_FETCH)
		job->in.fetch_busy = false;
	if (settle(c, r, what[c->kind])) {
		switch (c->kind) {
		case UNIT_CHUNK: job_input_chunk_stored(job, r); break;
		case UNIT_BATCH: job_records_committed(job, c, r); break;
		case UNIT_FETCH:
			if (!job->discard) {
				const char *why = NULL;
				int rc = job_input_fetch_apply(job, r, &why);
				if (rc != 0)
					job_fail(job,
					         rc == PF_ENOMEM ? PF_JOB_WHY_NOMEM
					                         : PF_JOB_WHY_DATABASE,
					         why);
			}
			break;
		default: break;
		}
		if (!(c->kind == UNIT_BATCH && job->discard))
			job_schedule_pump(job);
	}
	free(c);
	job_step(job);
}

/* The id is drawn first, so that the lock is held before the row exists:
 * no other process can take a job that is just being created. */
static void id_answered(unit_ctx *c, const pf_db_result *r)
{
	pf_job *job = c->job;
	job_unit_answered(c);
	free(c);
	const char *id = pf_db_value(r, 0, 0, 0);
	if (r->error || !id) {
		start_failed(job, PF_JOB_WHY_DATABASE, r->error ? r->error : "no id returned");
		return;
	}
	job->id = strtoll(id, NULL, 10);
	if (job->phase != JOB_CREATING || job->env->closing) {
		job_step(job); /* parked before the row exists: nothing to keep */
		return;
	}
	if (job_row_send_create(job) != 0)
		start_failed(job, PF_JOB_WHY_NOMEM, "out of memory");
}

static void created_answered(unit_ctx *c, const pf_db_result *r)
{
	pf_job *job = c->job;
	job_unit_answered(c);
	free(c);
	const char *detail = NULL;
	pf_job_reason why = job_row_created(job, r, &detail);
	if (why != PF_JOB_OK) {
		start_failed(job, why, detail);
		return;
	}
	job->has_row = true;
	job->lock_held = true;
	if (job->phase != JOB_CREATING) {
		job_step(job); /* parked or cancelled meanwhile */
		return;
	}
	pf_info("import %lld: started '%s'%s", (long long)job->id, job->name,
	        job->resumable ? " (resumable)" : "");
	job_set_phase(job, JOB_RUNNING);
	if (job->hooks.on_started)
		job->hooks.on_started(job->hook_arg, job, PF_JOB_OK);
}

static void read_answered(unit_ctx *c, const pf_db_result *r)
{
	pf_job *job = c->job;
	bool current = job_unit_answered(c);
	free(c);
	if (job->env->closing || !current) {
		if (job_phase_reads_row(job->phase) && job->inflight == 0)
			read_when_settled(job);
		else
			job_step(job);
		return;
	}
	if (job->phase == JOB_PARKING) {
		/* parked while the read was in flight: only its lock matters */
		if (!r->lost)
			job_row_read_lock(job, r);
		job_step(job);
		return;
	}
	if (r->lost) {
		job_resync(job, true); /* queued until a connection is back */
		return;
	}
	bool adopting = job->phase == JOB_ADOPTING;
	char msg[JOB_ERROR_MAX];
	pf_job_state st = PF_JOB_FAILED;
	switch (job_row_read(job, r, msg, sizeof(msg), &st)) {
	case JOB_ROW_MISSING:
		/* no such import, or not the expected owner's: no lock taken */
		end_local(job, PF_JOB_CANCELLED,
		          adopting ? PF_JOB_WHY_NOT_FOUND : PF_JOB_WHY_DELETED, NULL, false);
		return;
	case JOB_ROW_ELSEWHERE:
		end_local(job, PF_JOB_INTERRUPTED, PF_JOB_WHY_ELSEWHERE, NULL, false);
		return;
	case JOB_ROW_DELETED:
		end_local(job, PF_JOB_CANCELLED, PF_JOB_WHY_DELETED, NULL, true);
		return;
	case JOB_ROW_FINISHED: end_local(job, st, PF_JOB_WHY_FINISHED, msg, !adopting); return;
	case JOB_ROW_UNREADABLE: job_fail(job, PF_JOB_WHY_DATABASE, msg); break;
	case JOB_ROW_OURS: break;
	}
	job->has_row = true;
	job_set_phase(job, JOB_RUNNING);
	if (adopting && job->hooks.on_started)
		job->hooks.on_started(job->hook_arg, job, PF_JOB_OK);
}

static void final_answered(unit_ctx *c, const pf_db_result *r)
{
	pf_job *job = c->job;
	bool current = job_unit_answered(c);
	free(c);
	bool closing = job->env->closing;
	if (!current && !closing) {
		job_step(job); /* cancelled meanwhile: the deletion follows */
		return;
	}
	bool cancelled = job->outcome == PF_JOB_CANCELLED;
	if (r->error && !closing)
		pf_error("import %lld: cannot record the final state: %s", (long long)job->id,
		         r->error);
	if (r->error && r->lost && !closing && !cancelled) {
		job_resync(job, true); /* the database went away: again once it is back */
		return;
	}
	if (cancelled) {
		pf_info("import %lld: cancelled and deleted", (long long)job->id);
		if (job->cancel_done)
			job->cancel_done(job->cancel_arg, r->error == NULL);
		job->cancel_done = NULL;
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
	job_set_phase(job, JOB_ENDED);
}

static void unlock_answered(unit_ctx *c, const pf_db_result *r)
{
	pf_job *job = c->job;
	job_unit_answered(c);
	free(c);
	job->lock_held = false;
	if (job_phase_reads_row(job->phase) && job->inflight == 0 && !job->env->closing)
		read_when_settled(job); /* a PATCH came while idling: take it back */
	else
		job_step(job);
}

void job_unit_cb(void *arg, const pf_db_result *r)
{
	unit_ctx *c = arg;
	switch (c->kind) {
	case UNIT_ID: id_answered(c, r); return;
	case UNIT_CREATE: created_answered(c, r); return;
	case UNIT_READ: read_answered(c, r); return;
	case UNIT_FINAL: final_answered(c, r); return;
	case UNIT_UNLOCK: unlock_answered(c, r); return;
	case UNIT_SHAPE:
	case UNIT_CHUNK:
	case UNIT_BATCH:
	case UNIT_FETCH: work_answered(c, r); return;
	}
	abort();
}

/* ---------------- the pump ---------------- */

/* The whole stored upload was fetched back: the input ends when it is
 * complete, or is cut off when nobody can send the rest. */
static void fetch_finished(pf_job *job)
{
	job_schedule_pump(job); /* the live bytes that waited are parsed next */
	if (job->in.fetch_complete) {
		job->input_fate = JOB_INPUT_ENDED;
		if (job->state == PF_JOB_RECEIVING)
			job_set_state(job, PF_JOB_PROCESSING);
	} else if (!job->resumable && !(job->refs & JOB_REFS_PRODUCER) && !job_input_over(job)) {
		job->input_fate = JOB_INPUT_CUT;
		job_set_error(job, PF_JOB_WHY_INPUT, NULL);
		if (job->outcome == PF_JOB_DONE)
			job->outcome = PF_JOB_INTERRUPTED;
	}
}

/* All input is in and parsed: the reader finishes (or abandons the record
 * a cut-off upload ends inside), the last batch goes. */
static void finish_reader(pf_job *job)
{
	job->csv_finished = true;
	int rc =
	    job->input_fate == JOB_INPUT_ENDED ? pf_csv_finish(job->csv) : pf_csv_abandon(job->csv);
	if (rc >= 0 && !job->discard) {
		if (!job->sampled)
			rc = job_records_decide(job);
		if (rc >= 0)
			rc = job_records_flush(job);
	}
	if (rc < 0)
		job_fail(job, reason_of_rc(rc), pf_strerror(rc));
	if (!job->error && job->input_fate == JOB_INPUT_ENDED && !job->shape.ncols)
		job_fail(job, PF_JOB_WHY_CONTENT, "the file is empty: no header row");
}

void job_pump(pf_job *job)
{
	job_input *in = &job->in;
	if (job->discard)
		job_input_drop(in);
	if (job->owe_durable && job->has_row &&
	    (job->discard || (!in->spool.head && !in->spool.open_len))) {
		job->owe_durable = false;
		if (job->hooks.on_durable) {
			job_schedule_pump(job); /* the rest of this turn, unless freed */
			job->hooks.on_durable(job->hook_arg, job);
			return; /* the producer may have let go: come back later */
		}
	}
	if (!job->has_row || (job->phase != JOB_RUNNING && job->phase != JOB_CANCELLING &&
	                      job->phase != JOB_PARKING && job->phase != JOB_IDLING))
		return;
	while (job->phase == JOB_RUNNING && !job->discard && !job_window_full(job)) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in->pending, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		size_t consumed = 0;
		int rc = pf_csv_feed(job->csv, v.iov_base, v.iov_len, &consumed);
		if (job_input_consumed(in, consumed) != 0) {
			job_fail(job, PF_JOB_WHY_NOMEM, NULL);
			break;
		}
		if (rc < 0) {
			job_fail(job, reason_of_rc(rc),
			         rc == PF_ENOMEM ? "out of memory" : pf_strerror(rc));
			break;
		}
		if (rc == PF_CSV_PAUSED)
			break;
	}
	bool leaving = job->phase != JOB_RUNNING && job->phase != JOB_CANCELLING;
	job_input_trim(in);
	if (in->fetching && !leaving && !job->discard) {
		int rc = job_input_fetch_more(job);
		if (rc < 0)
			job_fail(job, PF_JOB_WHY_NOMEM, NULL);
		else if (rc == JOB_FETCH_DONE)
			fetch_finished(job);
	}
	if (job->discard)
		job_input_drop(in);
	bool drained = evbuffer_get_length(in->pending) == 0 && !in->fetching;
	if ((drained || job->discard) && !job_window_full(job) && !job_input_spool_full(in) &&
	    job->owe_resume && !job_input_over(job) && !leaving) {
		job->owe_resume = false;
		if (job->hooks.on_resume)
			job->hooks.on_resume(job->hook_arg, job);
	}
	if (drained && !job->discard && job->phase == JOB_RUNNING && !job_window_full(job) &&
	    !job->csv_finished && job_input_over(job))
		finish_reader(job);
	job_step(job);
}

void job_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	job_pump(arg);
}

void job_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_job *job = arg;
	if (job->discard || job->phase != JOB_RUNNING)
		return;
	int rc = 0;
	if (!job->sampled && job->nheld > 0)
		rc = job_records_decide(job);
	if (rc >= 0 && !job->discard)
		rc = job_records_flush(job);
	if (rc < 0)
		job_fail(job, reason_of_rc(rc), pf_strerror(rc));
	job_step(job);
}

/*
 * job.c - the interface of a job (see job.h): creating one, taking one
 * over, what its producer calls (feed, sync, end, cut, let go), cancel and
 * park. The work is below: the lifecycle in job_life.c (phases in
 * job_phase.h), the input stream in job_input.c, records to batches in
 * job_records.c, the job row in job_row.c; job_internal.h lists the parts.
 */
#include "job_internal.h"

#include <stdlib.h>
#include <string.h>

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
	job->unit_cb = job_unit_cb;
	job->phase = JOB_NEW;
	job->state = PF_JOB_RECEIVING;
	job->outcome = PF_JOB_DONE;
	job->bytes_total = -1;
	job->rows_left = -1;
	job->bytes_left = -1;
	pf_batch_init(&job->batch);
	pf_rowshape_init(&job->shape);
	int rc = job_input_init(&job->in);
	job->csv = job_records_reader(job);
	job->pump_ev = event_new(env->base, -1, 0, job_pump_cb, job);
	if (job->pump_ev)
		event_priority_set(job->pump_ev, PF_PRIO_BULK); /* parsing is bulk work */
	job->flush_ev = evtimer_new(env->base, job_flush_cb, job);
	job->columns = cJSON_CreateArray();
	if (rc != 0 || !job->csv || !job->pump_ev || !job->flush_ev || !job->columns) {
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
	job_set_name(job, name);
	return job;
}

void pf_job_set_resumable(pf_job *job)
{
	if (job->phase == JOB_NEW)
		job->resumable = true;
}

void pf_job_set_name(pf_job *job, const char *name)
{
	job_set_name(job, name);
}

void pf_job_set_owner(pf_job *job, int64_t user)
{
	job->owner = user;
}

void pf_job_start(pf_job *job)
{
	if (job->phase == JOB_NEW)
		job_set_phase(job, JOB_CREATING);
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
	job_set_phase(job, JOB_ADOPTING);
	return job;
}

bool pf_job_ready(const pf_job *job)
{
	return job->has_row && job->phase != JOB_ADOPTING;
}

bool pf_job_live(const pf_job *job)
{
	return pf_job_ready(job) && job->phase != JOB_ENDED;
}

void pf_job_attach(pf_job *job, const pf_job_hooks *hooks, void *hook_arg)
{
	if (job->phase == JOB_IDLING && !job->env->closing) {
		/* it was letting go because nobody sent: take it back as if
		 * adopted (the lock is taken again, the stored bytes reread) */
		job_set_phase(job, JOB_ADOPTING);
	}
	job_detach_producer(job, PF_JOB_WHY_TAKEN_OVER);
	job->hooks = *hooks;
	job->hook_arg = hook_arg;
	job->refs |= JOB_REFS_PRODUCER;
	job->owe_resume = false;
}

int pf_job_feed(pf_job *job, const char *data, size_t len)
{
	if (job_input_over(job))
		return PF_EINVAL;
	if (job->discard || !job_phase_takes_bytes(job->phase)) {
		job->bytes_received += (int64_t)len;
		return 0; /* failed: the rest of the body is read and dropped */
	}
	if (job->bytes_total >= 0 && (int64_t)len > job->bytes_total - job->bytes_received)
		return PF_ELIMIT;
	int rc = pf_spool_append(&job->in.spool, data, len);
	if (rc != 0)
		return rc;
	job->bytes_received += (int64_t)len;
	if (job_input_add(&job->in, data, len) != 0 || job_input_send_chunks(job) != 0)
		return PF_ENOMEM;
	job_pump(job);
	if (evbuffer_get_length(job->in.pending) > 0 || job->in.fetching ||
	    job_input_spool_full(&job->in) || job_phase_reads_row(job->phase) || !job->has_row) {
		job->owe_resume = true;
		return PF_JOB_PAUSED;
	}
	job_notify(job, false);
	return 0;
}

void pf_job_sync(pf_job *job)
{
	job->owe_durable = true;
	if (!job->discard && !job->in.spool.finished && pf_spool_seal(&job->in.spool, false) != 0)
		job_fail(job, PF_JOB_WHY_NOMEM, NULL);
	if (job_input_send_chunks(job) != 0)
		job_fail(job, PF_JOB_WHY_NOMEM, NULL);
	job_schedule_pump(job);
}

bool pf_job_accepting(const pf_job *job)
{
	return job->resumable && !job_input_over(job) && !job->discard &&
	       job_phase_attachable(job->phase) && !(job->phase == JOB_IDLING && job->env->closing);
}

void pf_job_end_input(pf_job *job)
{
	if (job_input_over(job))
		return;
	job->input_fate = JOB_INPUT_ENDED;
	job->owe_resume = false;
	if (!job->discard && !job->in.spool.finished && pf_spool_seal(&job->in.spool, true) != 0)
		job_fail(job, PF_JOB_WHY_NOMEM, NULL);
	if (job_input_send_chunks(job) != 0)
		job_fail(job, PF_JOB_WHY_NOMEM, NULL);
	if (job->state == PF_JOB_RECEIVING && job->phase != JOB_FINALIZING &&
	    job->phase != JOB_ENDED)
		job_set_state(job, PF_JOB_PROCESSING);
	if (job->has_row)
		job_schedule_pump(job);
}

void pf_job_fail_input(pf_job *job, pf_job_state state, const char *reason)
{
	if (job_input_over(job))
		return;
	job->input_fate = JOB_INPUT_CUT;
	job->owe_resume = false;
	job_set_error(job, PF_JOB_WHY_INPUT, reason);
	if (job->outcome == PF_JOB_DONE)
		job->outcome = state;
	/* what was received is kept: the open bytes are stored too */
	if (!job->discard && !job->in.spool.finished && pf_spool_seal(&job->in.spool, false) == 0)
		job_input_send_chunks(job);
	if (job->has_row)
		job_schedule_pump(job);
}

void pf_job_release(pf_job *job)
{
	if (!job)
		return;
	job->hooks = (pf_job_hooks){0};
	job->hook_arg = NULL;
	if (job->phase == JOB_NEW) {
		/* never started: nothing to finish */
		job->refs &= ~JOB_REFS_PRODUCER;
		job_set_phase(job, JOB_ENDED);
		return;
	}
	if (!job_input_over(job)) {
		if (job->resumable && !job->discard) {
			/* make what came durable; the job waits for the next PATCH */
			if (pf_spool_seal(&job->in.spool, false) == 0)
				job_input_send_chunks(job);
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
		job_step(job);
}

void pf_job_cancel(pf_job *job, void (*done)(void *arg, bool ok), void *arg)
{
	if (job->phase == JOB_NEW || job->phase == JOB_CANCELLING || job->phase == JOB_ENDED ||
	    pf_job_state_terminal(job->state)) {
		if (done)
			done(arg, false);
		return;
	}
	job->cancel_done = done;
	job->cancel_arg = arg;
	job_set_phase(job, JOB_CANCELLING);
	job_step(job);
}

void pf_job_park(pf_job *job)
{
	switch (job->phase) {
	case JOB_NEW:
		/* never started: nothing to keep */
		job_detach_producer(job, PF_JOB_WHY_SHUTDOWN);
		job_set_phase(job, JOB_ENDED);
		return;
	case JOB_CREATING:
	case JOB_ADOPTING:
	case JOB_RUNNING:
	case JOB_RESYNCING:
		job_set_phase(job, JOB_PARKING);
		job_step(job);
		return;
	default: return; /* finishing, cancelling, or already going */
	}
}

void pf_job_env_free_all(pf_job_env *env)
{
	while (env->jobs)
		job_free(env->jobs);
}

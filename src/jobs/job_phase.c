/*
 * job_phase.c - the table of the job's lifecycle (see job_phase.h). Pure:
 * no database, no event loop; job_life.c's job_set_phase consults it and
 * aborts on a transition it does not list.
 */
#include "job_phase.h"

#include <stdlib.h>

#define B(p) (1u << (p))

/* allowed[from]: the phases `from` may go to. */
static const unsigned allowed[JOB_PHASE_COUNT] = {
    [JOB_NEW] = B(JOB_CREATING) | B(JOB_ADOPTING) | B(JOB_ENDED),
    [JOB_CREATING] = B(JOB_RUNNING) | B(JOB_PARKING) | B(JOB_CANCELLING) | B(JOB_ENDED),
    [JOB_ADOPTING] =
        B(JOB_ADOPTING) | B(JOB_RUNNING) | B(JOB_PARKING) | B(JOB_CANCELLING) | B(JOB_ENDED),
    [JOB_RUNNING] =
        B(JOB_RESYNCING) | B(JOB_FINALIZING) | B(JOB_CANCELLING) | B(JOB_PARKING) | B(JOB_IDLING),
    [JOB_RESYNCING] =
        B(JOB_RESYNCING) | B(JOB_RUNNING) | B(JOB_PARKING) | B(JOB_CANCELLING) | B(JOB_ENDED),
    [JOB_FINALIZING] = B(JOB_RESYNCING) | B(JOB_CANCELLING) | B(JOB_ENDED),
    [JOB_CANCELLING] = B(JOB_FINALIZING) | B(JOB_ENDED),
    [JOB_PARKING] = B(JOB_CANCELLING) | B(JOB_ENDED),
    [JOB_IDLING] = B(JOB_ADOPTING) | B(JOB_CANCELLING) | B(JOB_ENDED),
    [JOB_ENDED] = 0,
};

const char *job_phase_name(job_phase p)
{
	switch (p) {
	case JOB_NEW: return "new";
	case JOB_CREATING: return "creating";
	case JOB_ADOPTING: return "adopting";
	case JOB_RUNNING: return "running";
	case JOB_RESYNCING: return "resyncing";
	case JOB_FINALIZING: return "finalizing";
	case JOB_CANCELLING: return "cancelling";
	case JOB_PARKING: return "parking";
	case JOB_IDLING: return "idling";
	case JOB_ENDED: return "ended";
	case JOB_PHASE_COUNT: break;
	}
	abort();
}

bool job_phase_allowed(job_phase from, job_phase to)
{
	if ((unsigned)from >= JOB_PHASE_COUNT || (unsigned)to >= JOB_PHASE_COUNT)
		return false;
	return (allowed[from] & B(to)) != 0;
}

bool job_phase_reads_row(job_phase p)
{
	return p == JOB_ADOPTING || p == JOB_RESYNCING;
}

bool job_phase_takes_bytes(job_phase p)
{
	/* a creating, adopting or resyncing job holds the bytes until it runs */
	return p == JOB_NEW || p == JOB_CREATING || p == JOB_ADOPTING || p == JOB_RUNNING ||
	       p == JOB_RESYNCING;
}

bool job_phase_parses(job_phase p)
{
	return p == JOB_RUNNING;
}

bool job_phase_attachable(job_phase p)
{
	/* an idling job is taken back (adopted again) */
	return p == JOB_NEW || p == JOB_CREATING || p == JOB_ADOPTING || p == JOB_RUNNING ||
	       p == JOB_RESYNCING || p == JOB_IDLING;
}

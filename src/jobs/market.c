/*
 * market.c - the background market analysis of imports (see market.h):
 * one follower per import, a small state machine (idle, waiting for its
 * timer, a step in flight, the final pass in flight), and the sweep for done
 * imports whose analysis is not final. Steps and final passes also seal the
 * import's complete segments (schema/011_segments.sql).
 */
#include "propflow/jobs/market.h"

#include "propflow/base/log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum follow_state {
	FOLLOW_IDLE = 0,  /* nothing new since the last step */
	FOLLOW_WAITING,   /* rows came: the timer is armed */
	FOLLOW_STEPPING,  /* a step unit is in flight */
	FOLLOW_FINISHING, /* the final unit is in flight */
	FOLLOW_GONE,      /* unlinked and freed */
} follow_state;

typedef struct follow {
	struct follow *next;
	pf_market *m; /* borrowed */
	int64_t job, owner;
	follow_state state;  /* changed only by follow_set_state */
	bool dirty;          /* rows came while a step was in flight */
	bool finish;         /* done while a step was in flight: the final pass follows */
	bool drop;           /* ended otherwise while a step was in flight: forget it */
	struct event *timer; /* owned */
	double step_s;       /* how long the last step took */
	bool stepped;        /* a step was sent */
	double sent_at;      /* when the unit in flight was sent */
} follow;

struct pf_market {
	struct event_base *base; /* borrowed */
	pf_db *work;             /* borrowed: steps, final passes and seals (their own pool) */
	pf_db *readers;          /* borrowed: the sweep */
	pf_events *events;       /* borrowed: frames */
	follow *follows;         /* owned list */
	size_t nfollows;
	struct event *sweep; /* owned */
	bool sweeping;       /* a sweep query is in flight */
	bool stopped;        /* pf_market_stop: nothing more is sent */
};

static const char sql_step[] = "SELECT folded, as_of, version, more FROM pf_analysis_step($1, $2)";
static const char sql_final[] = "SELECT pf_analysis_final($1)";
/* the import's segments get their indexes (schema/011_segments.sql): in a
 * step, the sort indexes of the segments it has filled, first, before the
 * step takes the job's row; in the final pass, last, after its outlier
 * flags are written, the search and filter indexes of every segment */
static const char sql_seal[] = "SELECT pf_records_seal($1, $2::boolean)";
static const char sql_final_rows[] =
    "SELECT s.as_of_rows FROM property_market_state s JOIN import_jobs j "
    "ON j.id = s.job_id AND j.gen = s.gen WHERE s.job_id = $1";
static const char sql_sweep[] =
    "SELECT j.id, coalesce(j.user_id, 0) FROM import_jobs j WHERE j.state = 'done' "
    "AND NOT EXISTS (SELECT 1 FROM property_market_state s WHERE s.job_id = j.id "
    "AND s.gen = j.gen AND s.final) ORDER BY j.id LIMIT $1";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static follow *follow_find(pf_market *m, int64_t job)
{
	for (follow *f = m->follows; f; f = f->next)
		if (f->job == job)
			return f;
	return NULL;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);

static follow *follow_new(pf_market *m, int64_t job, int64_t owner)
{
	if (m->nfollows >= PF_MARKET_JOBS_MAX)
		return NULL; /* the sweep finalizes it later; its running view waits */
	follow *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->timer = evtimer_new(m->base, timer_cb, f);
	if (!f->timer) {
		free(f);
		return NULL;
	}
	f->m = m;
	f->job = job;
	f->owner = owner;
	f->next = m->follows;
	m->follows = f;
	m->nfollows++;
	return f;
}

static void step_done_cb(void *arg, const pf_db_result *r);
static void final_done_cb(void *arg, const pf_db_result *r);

/* Sends f's unit (step or final); false when none could be built. */
static bool send_unit(follow *f, bool final)
{
	pf_market *m = f->m;
	pf_db_unit *u = pf_db_unit_new(final ? final_done_cb : step_done_cb, f);
	if (!u)
		return false;
	if (final) {
		pf_db_unit_stmt(u, sql_final);
		pf_db_unit_int(u, f->job);
		pf_db_unit_stmt(u, sql_final_rows);
		pf_db_unit_int(u, f->job);
		pf_db_unit_stmt(u, sql_seal);
		pf_db_unit_int(u, f->job);
		pf_db_unit_text(u, "true");
	} else {
		pf_db_unit_stmt(u, sql_seal);
		pf_db_unit_int(u, f->job);
		pf_db_unit_text(u, "false");
		pf_db_unit_stmt(u, sql_step);
		pf_db_unit_int(u, f->job);
		pf_db_unit_int(u, PF_MARKET_STEP_ROWS);
	}
	f->sent_at = now_s();
	f->stepped = true;
	/* a pool of its own (app.c): a final pass and its indexes take seconds
	 * on a large import, and no import's batches or creation queue behind
	 * them (on a writer, a new import keyed to that connection waited 9 s
	 * for a final pass, seen in jobs_control) */
	pf_db_submit(m->work, 0, u);
	return true;
}

/* Every transition of a follower, with its side effects. */
static void follow_set_state(follow *f, follow_state to)
{
	pf_market *m = f->m;
	f->state = to;
	switch (to) {
	case FOLLOW_IDLE: return;
	case FOLLOW_WAITING: {
		/* at most every PF_MARKET_STEP_MS, and idle twice as long as the
		 * last step took, up to PF_MARKET_WAIT_MAX_MS */
		double wait = f->step_s * 2;
		if (wait < PF_MARKET_STEP_MS / 1000.0)
			wait = PF_MARKET_STEP_MS / 1000.0;
		if (wait > PF_MARKET_WAIT_MAX_MS / 1000.0)
			wait = PF_MARKET_WAIT_MAX_MS / 1000.0; /* a few seconds behind at most */
		/* an import that ends sooner gets only the final pass */
		if (!f->stepped && wait < PF_MARKET_FIRST_MS / 1000.0)
			wait = PF_MARKET_FIRST_MS / 1000.0;
		struct timeval tv = {(time_t)wait,
		                     (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
		evtimer_add(f->timer, &tv);
		return;
	}
	case FOLLOW_STEPPING:
	case FOLLOW_FINISHING:
		evtimer_del(f->timer);
		f->dirty = false;
		if (m->stopped || !send_unit(f, to == FOLLOW_FINISHING))
			follow_set_state(f, FOLLOW_GONE);
		return;
	case FOLLOW_GONE:
		for (follow **pp = &m->follows; *pp; pp = &(*pp)->next) {
			if (*pp == f) {
				*pp = f->next;
				m->nfollows--;
				break;
			}
		}
		event_free(f->timer);
		free(f);
		return;
	}
	abort();
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	follow *f = arg;
	if (f->state == FOLLOW_WAITING)
		follow_set_state(f, FOLLOW_STEPPING);
}

static void tell(follow *f, bool final, int64_t as_of, const char *version)
{
	if (!version || f->m->stopped)
		return;
	pf_events_analysis(f->m->events, f->job, f->owner, final, as_of,
	                   strtoll(version, NULL, 10));
}

static void step_done_cb(void *arg, const pf_db_result *r)
{
	follow *f = arg;
	f->step_s = now_s() - f->sent_at;
	bool more = false;
	if (r->error) {
		if (!f->m->stopped)
			pf_warn("import %lld: analysis step failed: %s", (long long)f->job,
			        r->error);
	} else {
		/* statement 0 is the seal */
		const char *as_of = pf_db_value(r, 1, 0, 1);
		tell(f, false, as_of ? strtoll(as_of, NULL, 10) : 0, pf_db_value(r, 1, 0, 2));
		const char *m = pf_db_value(r, 1, 0, 3);
		more = m && m[0] == 't';
	}
	if (f->m->stopped || f->drop)
		follow_set_state(f, FOLLOW_GONE);
	else if (f->finish)
		follow_set_state(f, FOLLOW_FINISHING);
	else if (more || f->dirty)
		follow_set_state(f, FOLLOW_WAITING);
	else
		follow_set_state(f, FOLLOW_IDLE);
}

static void final_done_cb(void *arg, const pf_db_result *r)
{
	follow *f = arg;
	if (r->error) {
		if (!f->m->stopped)
			pf_warn("import %lld: final analysis failed (the sweep tries again): %s",
			        (long long)f->job, r->error);
	} else {
		const char *rows = pf_db_value(r, 1, 0, 0);
		tell(f, true, rows ? strtoll(rows, NULL, 10) : 0, pf_db_value(r, 0, 0, 0));
		pf_debug("import %lld: final analysis in %.3f s", (long long)f->job,
		         now_s() - f->sent_at);
	}
	follow_set_state(f, FOLLOW_GONE);
}

void pf_market_job_changed(pf_market *m, pf_job *job, bool final)
{
	int64_t id = pf_job_id(job);
	if (!m || m->stopped || id == 0)
		return;
	pf_job_state st = pf_job_state_of(job);
	follow *f = follow_find(m, id);
	if (!final) {
		if (st != PF_JOB_RECEIVING && st != PF_JOB_PROCESSING)
			return;
		if (!f && !(f = follow_new(m, id, pf_job_user(job))))
			return;
		if (f->state == FOLLOW_IDLE)
			follow_set_state(f, FOLLOW_WAITING);
		else if (f->state == FOLLOW_STEPPING)
			f->dirty = true;
		return;
	}
	if (st != PF_JOB_DONE) {
		/* failed, cancelled or interrupted: the running analysis stays as it
		 * is (a takeover continues it; a delete drops it by cascade) */
		if (f && f->state == FOLLOW_STEPPING)
			f->drop = true;
		else if (f)
			follow_set_state(f, FOLLOW_GONE);
		return;
	}
	if (!f && !(f = follow_new(m, id, pf_job_user(job))))
		return; /* the sweep finds it */
	if (f->state == FOLLOW_STEPPING)
		f->finish = true;
	else if (f->state != FOLLOW_FINISHING)
		follow_set_state(f, FOLLOW_FINISHING);
}

/* ---------------- the sweep ---------------- */

static void sweep_done_cb(void *arg, const pf_db_result *r)
{
	pf_market *m = arg;
	m->sweeping = false;
	if (r->error || m->stopped)
		return;
	for (int i = 0; i < pf_db_rows(r, 0); i++) {
		int64_t id = strtoll(pf_db_value(r, 0, i, 0), NULL, 10);
		if (follow_find(m, id))
			continue; /* being analysed here */
		follow *f = follow_new(m, id, strtoll(pf_db_value(r, 0, i, 1), NULL, 10));
		if (f)
			follow_set_state(f, FOLLOW_FINISHING);
	}
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_market *m = arg;
	if (m->sweeping || m->stopped || pf_db_ready_count(m->readers) == 0)
		return;
	pf_db_unit *u = pf_db_unit_new(sweep_done_cb, m);
	if (!u)
		return;
	pf_db_unit_stmt(u, sql_sweep);
	pf_db_unit_int(u, PF_MARKET_SWEEP_MAX);
	m->sweeping = true;
	pf_db_submit(m->readers, 0, u);
}

pf_market *pf_market_new(struct event_base *base, pf_db *work, pf_db *readers, pf_events *events)
{
	pf_market *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	*m = (pf_market){.base = base, .work = work, .readers = readers, .events = events};
	m->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, m);
	struct timeval tv = {PF_MARKET_SWEEP_MS / 1000, (PF_MARKET_SWEEP_MS % 1000) * 1000};
	if (!m->sweep || event_add(m->sweep, &tv) != 0) {
		if (m->sweep)
			event_free(m->sweep);
		free(m);
		return NULL;
	}
	/* the first sweep at once: imports a stopped process left done without
	 * their final pass (with no reader ready yet, the next one does it) */
	event_active(m->sweep, EV_TIMEOUT, 0);
	return m;
}

void pf_market_stop(pf_market *m)
{
	if (!m)
		return;
	m->stopped = true;
	event_del(m->sweep);
	for (follow *f = m->follows; f; f = f->next)
		evtimer_del(f->timer);
}

void pf_market_free(pf_market *m)
{
	if (!m)
		return;
	while (m->follows)
		follow_set_state(m->follows, FOLLOW_GONE);
	event_free(m->sweep);
	free(m);
}

/*
 * events.c - the progress hub: keep the latest state per job, mark it
 * dirty, and send once per tick; final frames go out at once.
 */
#include "propflow/jobs/events.h"
#include "propflow/base/config.h"
#include "propflow/base/log.h"
#include "propflow/base/tally.h"
#include "propflow/net/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct sub {
	struct sub *next;
	pf_events *hub;     /* borrowed */
	pf_ws *ws;          /* borrowed from the ws module; NULL once closed */
	bool ready;         /* snapshot sent: frames may flow */
	bool query_pending; /* the snapshot query holds a pointer to us */
	int64_t user;       /* the only owner whose jobs this socket hears of */
	bool counted;       /* counted in the hub's per_user */
} sub;

struct pf_events {
	struct event_base *base; /* borrowed */
	pf_db *readers;          /* borrowed */
	pf_job_env *env;         /* borrowed */
	sub *subs;               /* owned list */
	size_t nsubs;
	pf_tally *per_user; /* owned: subscribers per user id (--user-max-websockets) */
	int64_t dirty[PF_EVENTS_DIRTY_MAX]; /* job ids changed since the last tick */
	size_t ndirty;
	struct event *tick; /* owned */
	bool tick_armed;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

cJSON *pf_events_job_frame(pf_job *job, bool take_seq, const char *type)
{
	cJSON *o = pf_job_to_json(job);
	if (!o)
		return NULL;
	pf_job_rate_sample(job, now_s());
	if (type)
		cJSON_AddStringToObject(o, "type", type);
	uint64_t seq = take_seq ? pf_job_next_seq(job) : pf_job_seq(job);
	cJSON_AddNumberToObject(o, "seq", (double)seq);
	double rate = pf_job_rows_per_sec(job);
	cJSON_AddNumberToObject(o, "rows_per_sec", (double)(int64_t)(rate * 10) / 10);
	double eta = pf_job_eta_seconds(job);
	if (eta >= 0)
		cJSON_AddNumberToObject(o, "eta_seconds", (double)(int64_t)(eta * 10) / 10);
	else
		cJSON_AddNullToObject(o, "eta_seconds");
	return o;
}

/* Only the owner's sockets hear of a job. */
static void broadcast(pf_events *ev, int64_t owner, const char *text)
{
	size_t len = strlen(text);
	for (sub *s = ev->subs; s; s = s->next) {
		if (!s->ws || !s->ready || s->user != owner)
			continue;
		/* a full queue closes that socket; the client reconnects and
		 * gets a fresh snapshot */
		if (pf_ws_send_text(s->ws, text, len) != 0)
			pf_debug("ws %llu: progress frame dropped",
			         (unsigned long long)pf_ws_id(s->ws));
	}
}

static bool any_ready(const pf_events *ev, int64_t owner)
{
	for (sub *s = ev->subs; s; s = s->next)
		if (s->ws && s->ready && s->user == owner)
			return true;
	return false;
}

static void send_job(pf_events *ev, pf_job *job)
{
	int64_t owner = pf_job_user(job);
	if (!any_ready(ev, owner))
		return;
	cJSON *o = pf_events_job_frame(job, true, "import");
	char *frame = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!frame)
		return;
	broadcast(ev, owner, frame);
	free(frame);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_events *ev = arg;
	ev->tick_armed = false;
	for (size_t i = 0; i < ev->ndirty; i++) {
		pf_job *job = pf_job_find(ev->env, ev->dirty[i]);
		if (job)
			send_job(ev, job);
	}
	ev->ndirty = 0;
}

void pf_events_job_deleted(pf_events *ev, int64_t id, int64_t owner)
{
	cJSON *o = cJSON_CreateObject();
	if (o) {
		cJSON_AddStringToObject(o, "type", "import");
		cJSON_AddNumberToObject(o, "id", (double)id);
		cJSON_AddStringToObject(o, "state", "cancelled");
		cJSON_AddBoolToObject(o, "deleted", true);
	}
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (text)
		broadcast(ev, owner, text);
	free(text);
}

void pf_events_analysis(pf_events *ev, int64_t id, int64_t owner, bool final, int64_t as_of_rows,
                        int64_t version)
{
	if (!ev || !any_ready(ev, owner))
		return;
	cJSON *o = cJSON_CreateObject();
	if (o) {
		cJSON_AddStringToObject(o, "type", "analysis");
		cJSON_AddNumberToObject(o, "job_id", (double)id);
		cJSON_AddBoolToObject(o, "final", final);
		cJSON_AddNumberToObject(o, "as_of_rows", (double)as_of_rows);
		cJSON_AddNumberToObject(o, "version", (double)version);
	}
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (text)
		broadcast(ev, owner, text);
	free(text);
}

void pf_events_job_changed(void *arg, pf_job *job, bool final)
{
	pf_events *ev = arg;
	int64_t id = pf_job_id(job);
	if (id == 0)
		return; /* not created yet: nobody can know it */
	if (final) {
		for (size_t i = 0; i < ev->ndirty; i++)
			if (ev->dirty[i] == id)
				ev->dirty[i] = ev->dirty[--ev->ndirty];
		send_job(ev, job);
		return;
	}
	for (size_t i = 0; i < ev->ndirty; i++)
		if (ev->dirty[i] == id)
			return;
	if (ev->ndirty < PF_EVENTS_DIRTY_MAX)
		ev->dirty[ev->ndirty++] = id;
	if (!ev->tick_armed) {
		int64_t ms = ev->env->cfg->progress_interval_ms;
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		evtimer_add(ev->tick, &tv);
		ev->tick_armed = true;
	}
}

static void sub_unlink_free(pf_events *ev, sub *s)
{
	if (s->counted)
		pf_tally_sub(ev->per_user, &s->user, sizeof(s->user));
	for (sub **pp = &ev->subs; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			ev->nsubs--;
			break;
		}
	}
	free(s);
}

static void ws_close_cb(void *arg, pf_ws *ws, int code)
{
	sub *s = arg;
	pf_debug("ws %llu: closed (%d)", (unsigned long long)pf_ws_id(ws), code);
	s->ws = NULL;
	if (!s->hub) {
		free(s); /* the hub is gone: we were left for this call */
		return;
	}
	if (!s->query_pending)
		sub_unlink_free(s->hub, s);
}

static void snapshot_cb(void *arg, const pf_db_result *r)
{
	sub *s = arg;
	pf_events *ev = s->hub;
	s->query_pending = false;
	if (!s->ws) {
		sub_unlink_free(ev, s);
		return;
	}
	if (r->error) {
		pf_warn("ws %llu: snapshot failed: %s", (unsigned long long)pf_ws_id(s->ws),
		        r->error);
		pf_ws_close(s->ws, 1011, "database unavailable");
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *jobs = cJSON_CreateArray();
	if (!o || !jobs) {
		cJSON_Delete(o);
		cJSON_Delete(jobs);
		pf_ws_close(s->ws, 1011, "out of memory");
		return;
	}
	cJSON_AddStringToObject(o, "type", "snapshot");
	cJSON_AddItemToObject(o, "jobs", jobs);
	int n = pf_db_rows(r, 0);
	for (int i = 0; i < n; i++) {
		const char *idtxt = pf_db_value(r, 0, i, 0);
		pf_job *live = idtxt ? pf_job_find(ev->env, strtoll(idtxt, NULL, 10)) : NULL;
		cJSON *j = NULL;
		if (live && pf_job_live(live)) {
			/* this process runs it: its memory is fresher than the row */
			j = pf_events_job_frame(live, false, NULL);
		}
		if (!j)
			j = pf_job_row_to_json(r, 0, i);
		if (j)
			cJSON_AddItemToArray(jobs, j);
	}
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text) {
		pf_ws_close(s->ws, 1011, "out of memory");
		return;
	}
	s->ready = true;
	if (pf_ws_send_text(s->ws, text, strlen(text)) != 0)
		pf_debug("ws %llu: snapshot not queued", (unsigned long long)pf_ws_id(s->ws));
	free(text);
}

void pf_events_subscribe(pf_events *ev, pf_http_req *req, int64_t user)
{
	if (ev->nsubs >= PF_EVENTS_SUBSCRIBERS_MAX) {
		pf_http_respond_error(req, 503, "too many progress connections", NULL);
		return;
	}
	unsigned max = (unsigned)ev->env->cfg->user_max_websockets;
	if (pf_tally_get(ev->per_user, &user, sizeof(user)) >= max) {
		/* one user's tabs and scripts share a cap, so that they cannot
		 * take the connection cap from everyone else */
		char detail[48];
		snprintf(detail, sizeof(detail), "{\"max\": %u}", max);
		pf_info("user %lld: progress WebSocket refused: %u open", (long long)user, max);
		pf_http_respond_error(req, 429, "too many progress connections for this user",
		                      detail);
		return;
	}
	if (pf_db_ready_count(ev->readers) == 0) {
		pf_http_respond_error(req, 503, "database unavailable", NULL);
		return;
	}
	sub *s = calloc(1, sizeof(*s));
	if (!s) {
		pf_http_respond_error(req, 503, "out of memory", NULL);
		return;
	}
	s->hub = ev;
	s->user = user;
	static const pf_ws_handlers handlers = {.on_text = NULL, .on_close = ws_close_cb};
	s->ws = pf_ws_accept(req, &handlers, s);
	if (!s->ws) {
		free(s); /* pf_ws_accept answered the request */
		return;
	}
	s->next = ev->subs;
	ev->subs = s;
	ev->nsubs++;
	s->counted = pf_tally_add(ev->per_user, &user, sizeof(user)) == 0;
	pf_db_unit *u = pf_db_unit_new(snapshot_cb, s);
	if (!u ||
	    pf_db_unit_stmt(u, "SELECT " PF_JOB_COLUMNS " FROM import_jobs WHERE user_id = $1 "
	                       "ORDER BY created_at DESC, id DESC LIMIT 200") != 0 ||
	    pf_db_unit_int(u, user) != 0) {
		pf_db_unit_free(u);
		pf_ws_close(s->ws, 1011, "out of memory");
		return;
	}
	s->query_pending = true;
	pf_db_submit(ev->readers, 0, u);
}

pf_events *pf_events_new(struct event_base *base, pf_db *readers, pf_job_env *env)
{
	pf_events *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->base = base;
	ev->readers = readers;
	ev->env = env;
	ev->tick = evtimer_new(base, tick_cb, ev);
	ev->per_user = pf_tally_new();
	if (!ev->tick || !ev->per_user) {
		if (ev->tick)
			event_free(ev->tick);
		pf_tally_free(ev->per_user);
		free(ev);
		return NULL;
	}
	return ev;
}

void pf_events_free(pf_events *ev)
{
	if (!ev)
		return;
	sub *s = ev->subs;
	while (s) {
		sub *next = s->next;
		if (s->ws && !s->query_pending) {
			/* freed by ws_close_cb when the socket's close completes */
			s->hub = NULL;
			pf_ws_close(s->ws, 1001, "server shutting down");
		} else {
			free(s); /* a pending snapshot is failed by the pool first */
		}
		s = next;
	}
	event_free(ev->tick);
	pf_tally_free(ev->per_user);
	free(ev);
}

/*
 * recovery.c - the scan for jobs nobody runs, and their takeover (see
 * recovery.h).
 */
#include "propflow/jobs/recovery.h"

#include "propflow/base/log.h"

#include <stdlib.h>

struct pf_recovery {
	pf_db *readers;       /* borrowed */
	pf_job_env *env;      /* borrowed */
	const pf_config *cfg; /* borrowed */
	struct event *timer;  /* owned */
	bool scanning;        /* a scan is in flight */
	bool stopped;         /* pf_recovery_stop: answers are ignored */
};

static void scanned_cb(void *arg, const pf_db_result *r)
{
	pf_recovery *rc = arg;
	rc->scanning = false;
	if (r->error || rc->stopped)
		return;
	for (int i = 0; i < pf_db_rows(r, 0); i++) {
		int64_t id = strtoll(pf_db_value(r, 0, i, 0), NULL, 10);
		if (pf_job_find(rc->env, id))
			continue;
		if (!pf_job_adopt(rc->env, id, 0, NULL, NULL))
			pf_warn("recovery: cannot take over import %lld: out of memory",
			        (long long)id);
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_recovery *rc = arg;
	if (rc->scanning || rc->stopped || pf_db_ready_count(rc->readers) == 0)
		return;
	pf_db_unit *u = pf_db_unit_new(scanned_cb, rc);
	if (!u)
		return;
	pf_db_unit_stmt(u, "SELECT id FROM import_jobs "
	                   "WHERE state IN ('receiving', 'processing') "
	                   "AND (input_complete OR NOT resumable) "
	                   "ORDER BY id LIMIT $1");
	pf_db_unit_int(u, PF_RECOVERY_BATCH);
	/* a tus upload nobody has sent to for --upload-expiry seconds ends
	 * interrupted; the xact lock skips one being run */
	pf_db_unit_stmt(u, "UPDATE import_jobs SET state = 'interrupted', "
	                   "error = 'upload abandoned: nothing received for ' || $1 || ' s', "
	                   "finished_at = now(), updated_at = now() "
	                   "WHERE state = 'receiving' AND resumable AND NOT input_complete "
	                   "AND updated_at < now() - make_interval(secs => $1) "
	                   "AND pg_try_advisory_xact_lock(id)");
	pf_db_unit_int(u, rc->cfg->upload_expiry_s);
	rc->scanning = true;
	pf_db_submit(rc->readers, 0, u);
}

pf_recovery *pf_recovery_new(struct event_base *base, pf_db *readers, pf_job_env *env,
                             const pf_config *cfg)
{
	pf_recovery *rc = calloc(1, sizeof(*rc));
	if (!rc)
		return NULL;
	rc->readers = readers;
	rc->env = env;
	rc->cfg = cfg;
	rc->timer = event_new(base, -1, EV_PERSIST, tick_cb, rc);
	if (!rc->timer) {
		free(rc);
		return NULL;
	}
	return rc;
}

int pf_recovery_start(pf_recovery *rc)
{
	struct timeval every = {PF_RECOVERY_EVERY_MS / 1000, (PF_RECOVERY_EVERY_MS % 1000) * 1000};
	if (event_add(rc->timer, &every) != 0)
		return PF_ENOMEM;
	event_active(rc->timer, 0, 0);
	return 0;
}

void pf_recovery_stop(pf_recovery *rc)
{
	if (!rc)
		return;
	rc->stopped = true;
	event_del(rc->timer);
}

void pf_recovery_free(pf_recovery *rc)
{
	if (!rc)
		return;
	event_free(rc->timer);
	free(rc);
}

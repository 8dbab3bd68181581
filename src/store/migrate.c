/*
 * migrate.c - schema migrations as a small state machine over a
 * one-connection, non-pipeline pool (migration files hold many
 * statements, which only the simple query protocol accepts).
 */
#include "propflow/store/migrate.h"
#include "propflow/store/db.h"
#include "propflow/base/log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK_KEY "7031977"

typedef enum mig_state {
	MIG_LOCK = 0,
	MIG_TABLE,
	MIG_LIST,
	MIG_BEGIN,
	MIG_APPLY,
	MIG_RECORD,
	MIG_COMMIT,
	MIG_ROLLBACK,
	MIG_UNLOCK,
} mig_state;

typedef struct mig_file {
	char *name; /* owned */
	char *sql;  /* owned */
	bool applied;
} mig_file;

typedef struct migration {
	struct event_base *base; /* borrowed */
	pf_db *db;               /* owned */
	mig_state state;
	mig_file files[PF_MIGRATE_FILES_MAX];
	int nfiles;
	int cur; /* file being applied */
	int applied_now;
	char error[512];
	struct event *timeout; /* owned */
	pf_migrate_cb cb;
	void *arg;
} migration;

static void mig_step(migration *m);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(((const mig_file *)a)->name, ((const mig_file *)b)->name);
}

static int read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return PF_EIO;
	char *buf = malloc(PF_MIGRATE_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return PF_ENOMEM;
	}
	size_t n = fread(buf, 1, PF_MIGRATE_FILE_MAX + 1, f);
	fclose(f);
	if (n > PF_MIGRATE_FILE_MAX) {
		free(buf);
		return PF_ELIMIT;
	}
	buf[n] = 0;
	*out = buf;
	return 0;
}

static void mig_free(migration *m)
{
	for (int i = 0; i < m->nfiles; i++) {
		free(m->files[i].name);
		free(m->files[i].sql);
	}
	if (m->timeout)
		event_free(m->timeout);
	pf_db_free(m->db);
	free(m);
}

/* Deferred: the pool must not be freed inside its own callback. */
static void mig_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	migration *m = arg;
	pf_migrate_cb cb = m->cb;
	void *cbarg = m->arg;
	char err[sizeof(m->error)];
	snprintf(err, sizeof(err), "%s", m->error);
	mig_free(m);
	cb(cbarg, err[0] ? err : NULL);
}

static void mig_finish(migration *m)
{
	if (m->timeout)
		evtimer_del(m->timeout);
	if (event_base_once(m->base, -1, EV_TIMEOUT, mig_finish_cb, m, NULL) != 0) {
		pf_error("migrate: cannot schedule completion");
		abort();
	}
}

static void mig_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	migration *m = arg;
	snprintf(m->error, sizeof(m->error), "database unreachable for %d s",
	         PF_MIGRATE_TIMEOUT_MS / 1000);
	/* the pending unit fails with "shutting down" when the pool is freed;
	 * its callback sees error already set and does nothing more */
	m->state = MIG_UNLOCK;
	mig_finish(m);
}

static void mig_result_cb(void *arg, const pf_db_result *r)
{
	migration *m = arg;
	if (m->error[0])
		return; /* finishing already */
	if (r->error) {
		if (m->state == MIG_APPLY || m->state == MIG_RECORD) {
			snprintf(m->error, sizeof(m->error), "migration %s failed: %s",
			         m->files[m->cur].name, r->error);
			m->state = MIG_ROLLBACK;
			mig_step(m);
			return;
		}
		if (m->state != MIG_ROLLBACK)
			snprintf(m->error, sizeof(m->error), "migrations: %s", r->error);
		mig_finish(m);
		return;
	}
	switch (m->state) {
	case MIG_LOCK:
		/* the database answers and the lock is ours: a migration that
		 * rewrites a large table may take minutes, which is no outage */
		evtimer_del(m->timeout);
		m->state = MIG_TABLE;
		break;
	case MIG_TABLE: m->state = MIG_LIST; break;
	case MIG_LIST:
		for (int row = 0; row < pf_db_rows(r, 0); row++) {
			const char *name = pf_db_value(r, 0, row, 0);
			for (int i = 0; name && i < m->nfiles; i++)
				if (strcmp(m->files[i].name, name) == 0)
					m->files[i].applied = true;
		}
		m->cur = -1;
		m->state = MIG_BEGIN;
		break;
	case MIG_BEGIN: m->state = MIG_APPLY; break;
	case MIG_APPLY: m->state = MIG_RECORD; break;
	case MIG_RECORD: m->state = MIG_COMMIT; break;
	case MIG_COMMIT:
		pf_info("migrate: applied %s", m->files[m->cur].name);
		m->applied_now++;
		m->state = MIG_BEGIN;
		break;
	case MIG_ROLLBACK: mig_finish(m); return;
	case MIG_UNLOCK:
		if (m->applied_now == 0)
			pf_debug("migrate: schema up to date (%d migrations)", m->nfiles);
		mig_finish(m);
		return;
	default: abort();
	}
	mig_step(m);
}

static void mig_send(migration *m, const char *simple_sql, const char *param_sql, const char *param)
{
	pf_db_unit *u = pf_db_unit_new(mig_result_cb, m);
	if (!u) {
		snprintf(m->error, sizeof(m->error), "out of memory");
		mig_finish(m);
		return;
	}
	int rc = simple_sql ? pf_db_unit_simple(u, simple_sql) : pf_db_unit_stmt(u, param_sql);
	if (rc == 0 && param)
		rc = pf_db_unit_text(u, param);
	/* a build error makes the unit fail through the callback */
	(void)rc;
	pf_db_submit(m->db, 0, u);
}

static void mig_step(migration *m)
{
	switch (m->state) {
	case MIG_LOCK:
		mig_send(m, NULL, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", NULL);
		return;
	case MIG_TABLE:
		mig_send(m,
		         "CREATE TABLE IF NOT EXISTS schema_migrations ("
		         "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
		         NULL, NULL);
		return;
	case MIG_LIST: mig_send(m, NULL, "SELECT name FROM schema_migrations", NULL); return;
	case MIG_BEGIN: do { m->cur++;
		} while (m->cur < m->nfiles && m->files[m->cur].applied);
		if (m->cur >= m->nfiles) {
			m->state = MIG_UNLOCK;
			mig_step(m);
			return;
		}
		mig_send(m, "BEGIN", NULL, NULL);
		return;
	case MIG_APPLY:
		pf_info("migrate: applying %s", m->files[m->cur].name);
		mig_send(m, m->files[m->cur].sql, NULL, NULL);
		return;
	case MIG_RECORD:
		mig_send(m, NULL, "INSERT INTO schema_migrations (name) VALUES ($1)",
		         m->files[m->cur].name);
		return;
	case MIG_COMMIT: mig_send(m, "COMMIT", NULL, NULL); return;
	case MIG_ROLLBACK: mig_send(m, "ROLLBACK", NULL, NULL); return;
	case MIG_UNLOCK:
		mig_send(m, NULL, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", NULL);
		return;
	default: abort();
	}
}

int pf_migrate_run(struct event_base *base, const char *conninfo, const char *schema_dir,
                   pf_migrate_cb cb, void *arg)
{
	migration *m = calloc(1, sizeof(*m));
	if (!m)
		return PF_ENOMEM;
	m->base = base;
	m->cb = cb;
	m->arg = arg;
	DIR *d = opendir(schema_dir);
	if (!d) {
		pf_error("migrate: cannot open schema directory %s", schema_dir);
		free(m);
		return PF_EIO;
	}
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0)
			continue;
		if (m->nfiles >= PF_MIGRATE_FILES_MAX) {
			rc = PF_ELIMIT;
			break;
		}
		mig_file *f = &m->files[m->nfiles];
		char path[2048];
		snprintf(path, sizeof(path), "%s/%s", schema_dir, e->d_name);
		f->name = strdup(e->d_name);
		if (!f->name) {
			rc = PF_ENOMEM;
			break;
		}
		m->nfiles++;
		rc = read_file(path, &f->sql);
		if (rc != 0) {
			pf_error("migrate: cannot read %s", path);
			break;
		}
	}
	closedir(d);
	if (rc != 0)
		goto fail;
	qsort(m->files, (size_t)m->nfiles, sizeof(mig_file), cmp_names);
	m->db = pf_db_new(base, conninfo, 1, false, 1, "migrate");
	m->timeout = evtimer_new(base, mig_timeout_cb, m);
	if (!m->db || !m->timeout) {
		rc = PF_ENOMEM;
		goto fail;
	}
	struct timeval tv = {PF_MIGRATE_TIMEOUT_MS / 1000, 0};
	evtimer_add(m->timeout, &tv);
	m->state = MIG_LOCK;
	mig_step(m);
	return 0;
fail:
	mig_free(m);
	return rc;
}

static int cmp_strs(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int pf_migrate_names(const char *schema_dir, char **out, int *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(schema_dir);
	if (!d)
		return PF_EIO;
	char *names[PF_MIGRATE_FILES_MAX];
	int count = 0, rc = 0;
	size_t total = 1;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0)
			continue;
		if (count >= PF_MIGRATE_FILES_MAX) {
			rc = PF_ELIMIT;
			break;
		}
		if (!(names[count] = strdup(e->d_name))) {
			rc = PF_ENOMEM;
			break;
		}
		total += len + 1;
		count++;
	}
	closedir(d);
	char *joined = rc == 0 ? malloc(total) : NULL;
	if (rc == 0 && !joined)
		rc = PF_ENOMEM;
	if (rc == 0) {
		qsort(names, (size_t)count, sizeof(names[0]), cmp_strs);
		size_t used = 0;
		joined[0] = 0;
		for (int i = 0; i < count; i++)
			used += (size_t)snprintf(joined + used, total - used, "%s%s", i ? "/" : "",
			                         names[i]);
		*out = joined;
		*n = count;
	}
	for (int i = 0; i < count; i++)
		free(names[i]);
	return rc;
}

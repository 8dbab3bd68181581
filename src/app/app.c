/*
 * app.c - process lifecycle as one state machine:
 *   PG_START -> MIGRATE -> RUN -> DRAIN -> PG_STOP -> EXIT
 * `serve` listens in RUN and takes over jobs nobody runs (jobs/recovery.c);
 * `import` runs one job from a file in RUN (cli_import.c) and leaves when
 * it ends; `user` runs one account command (api/account_cli.c). A signal moves RUN to DRAIN: stop
 * accepting, cut uploads (their jobs end interrupted with every complete row kept), wait for
 * batches to commit, then stop the embedded database.
 */
#include "propflow/app/app.h"
#include "propflow/app/cli_import.h"
#include "propflow/app/monitor.h"
#include "propflow/api/account.h"
#include "propflow/api/api.h"
#include "propflow/api/export.h"
#include "propflow/net/hasher.h"
#include "propflow/net/proxy.h"
#include "propflow/store/db.h"
#include "propflow/jobs/events.h"
#include "propflow/net/http.h"
#include "propflow/jobs/job.h"
#include "propflow/jobs/market.h"
#include "propflow/jobs/recovery.h"
#include "propflow/base/log.h"
#include "propflow/store/migrate.h"
#include "propflow/store/pgserver.h"
#include "propflow/net/static_files.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum app_state {
	APP_PG_START = 0,
	APP_MIGRATE,
	APP_RUN,
	APP_DRAIN,
	APP_PG_STOP,
	APP_EXIT,
} app_state;

typedef enum app_mode {
	MODE_SERVE = 0,
	MODE_IMPORT,
	MODE_USER, /* `propflow user ...` */
} app_mode;

typedef struct app {
	const pf_config *cfg; /* borrowed */
	app_mode mode;
	app_state state;
	int exit_code;
	struct event_base *base; /* owned */
	pf_pgserver *pg;         /* owned, NULL with --db */
	char conninfo[2048];
	pf_db *writers; /* owned */
	pf_db *work;    /* owned: the market analysis and seals (serve only) */
	pf_db *readers; /* owned */
	pf_job_env env;
	pf_events *events; /* owned */
	pf_market *market; /* owned: the background market analysis; serve only, else NULL */
	pf_static *page;   /* owned */
	pf_api api;
	pf_http_server *http;                      /* owned */
	pf_hasher *hasher;                         /* owned: serve only */
	pf_account account;                        /* borrows the pools and the hasher */
	pf_proxy_list *proxies;                    /* owned: --trust-proxy */
	pf_proxy_list *metrics_allow;              /* owned: --metrics-allow */
	pf_metrics *metrics;                       /* owned: serve only; outlives every user */
	pf_monitor *monitor;                       /* owned: loop lag and the pools' load */
	FILE *access;                              /* owned: --access-log, NULL = stderr */
	char first_link[PF_AUTH_SECRET_CHARS + 1]; /* first run's login secret, "" none */
	bool first_run_asked;                      /* pf_account_first_run in flight or done */
	int user_argc;                             /* user mode: words after "user" */
	const char **user_argv;                    /* borrowed */
	struct event *sigint, *sigterm;            /* owned */
	struct event *drain_timer;                 /* owned: polls for settled jobs */
	pf_recovery *recovery;                     /* owned: takes over jobs nobody runs */
	unsigned drain_ms;
	const char *path;      /* import mode: borrowed from argv */
	pf_cli_import *import; /* owned: import mode */
	pf_cache *cache;       /* owned: freed after the reader pool */
	char *schema;          /* owned: the schema files' names (pf_migrate_names) */
} app;

static void app_set_state(app *a, app_state st);

/* The job env's change hook: progress frames and the market analysis. */
static void job_changed_cb(void *arg, pf_job *job, bool final)
{
	app *a = arg;
	pf_events_job_changed(a->events, job, final);
	pf_market_job_changed(a->market, job, final);
	/* an import that ends leaves the live view that kept this server's
	 * cached job and list current (cache.c): they are read again at once,
	 * not a progress interval later (a list read just before a short
	 * import began, then again after its end, came back without it) */
	if (final)
		pf_cache_forget(a->cache, pf_job_user(job), pf_job_id(job));
}

/* ---------------- import and user modes ---------------- */

/* The import ended, or could not start. */
static void import_done_cb(void *arg, int code)
{
	app *a = arg;
	a->exit_code = code;
	if (a->state == APP_RUN)
		app_set_state(a, APP_DRAIN);
}

/* The job's owner is known: it may start. */
static void import_owner_cb(void *arg, int64_t id, const char *err)
{
	app *a = arg;
	if (err || !pf_cli_import_active(a->import)) {
		fprintf(stderr, "propflow: --user %s: %s\n", a->cfg->user, err ? err : "stopped");
		a->exit_code = 1;
		pf_cli_import_drop(a->import);
		if (a->state == APP_RUN)
			app_set_state(a, APP_DRAIN);
		return;
	}
	pf_cli_import_start(a->import, id);
}

static void user_done_cb(void *arg, int code)
{
	app *a = arg;
	a->exit_code = code;
	if (a->state == APP_RUN)
		app_set_state(a, APP_DRAIN);
}

/* ---------------- states ---------------- */

static void drain_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	app *a = arg;
	a->drain_ms += 50;
	if (a->env.jobs && a->drain_ms < PF_APP_SHUTDOWN_GRACE_MS)
		return;
	if (a->env.jobs)
		pf_warn("app: jobs still unsettled after %d ms; exiting", PF_APP_SHUTDOWN_GRACE_MS);
	event_del(a->drain_timer);
	app_set_state(a, APP_PG_STOP);
}

static void pg_stopped_cb(void *arg, const char *err)
{
	app *a = arg;
	app_set_state(a, APP_EXIT);
}

static void migrated_cb(void *arg, const char *err)
{
	app *a = arg;
	if (err) {
		pf_error("app: %s", err);
		a->exit_code = 1;
		app_set_state(a, APP_PG_STOP);
		return;
	}
	app_set_state(a, APP_RUN);
}

static void pg_ready_cb(void *arg, const char *err)
{
	app *a = arg;
	if (err) {
		pf_error("app: embedded database: %s", err);
		a->exit_code = 1;
		app_set_state(a, APP_PG_STOP);
		return;
	}
	snprintf(a->conninfo, sizeof(a->conninfo), "%s", pf_pgserver_conninfo(a->pg));
	app_set_state(a, APP_MIGRATE);
}

static int app_listen(app *a);

static void first_run_cb(void *arg, const char *secret, const char *err)
{
	app *a = arg;
	if (err) {
		pf_error("app: first run: %s", err);
		a->exit_code = 1;
		if (a->state == APP_RUN)
			app_set_state(a, APP_DRAIN);
		return;
	}
	snprintf(a->first_link, sizeof(a->first_link), "%s", secret ? secret : "");
	if (a->state != APP_RUN || a->http)
		return;
	int rc = app_listen(a);
	if (rc != 0) {
		pf_error("app: cannot listen on %s: %s", a->cfg->listen, pf_strerror(rc));
		a->exit_code = 1;
		app_set_state(a, APP_DRAIN);
	}
}

static void pool_ready_cb(void *arg)
{
	app *a = arg;
	if (a->state != APP_RUN || a->first_run_asked || pf_db_ready_count(a->writers) == 0 ||
	    pf_db_ready_count(a->readers) == 0)
		return;
	/* an administrator exists before anyone can connect */
	a->first_run_asked = true;
	pf_account_first_run(&a->account, first_run_cb, a);
}

static int app_run(app *a)
{
	const pf_config *cfg = a->cfg;
	a->writers = pf_db_new(a->base, a->conninfo, (int)cfg->db_writers, true,
	                       (int)cfg->db_pipeline_max, "writer");
	a->readers = pf_db_new(a->base, a->conninfo, (int)cfg->db_readers, true,
	                       (int)cfg->db_pipeline_max, "reader");
	if (!a->writers || !a->readers)
		return PF_ENOMEM;
	pf_db_set_backend_nice(a->writers, (int)cfg->db_writer_nice);
	a->env = (pf_job_env){
	    .base = a->base,
	    .cfg = cfg,
	    .writers = a->writers,
	    .changed = job_changed_cb,
	    .changed_arg = a,
	    .jobs = NULL,
	};
	a->events = pf_events_new(a->base, a->readers, &a->env);
	if (!a->events)
		return PF_ENOMEM;
	pf_job_env_meter(&a->env, a->metrics);
	if (a->metrics) {
		a->monitor = pf_monitor_new(a->base, a->metrics);
		if (!a->monitor || pf_monitor_pool(a->monitor, a->writers, "writer") != 0 ||
		    pf_monitor_pool(a->monitor, a->readers, "reader") != 0)
			return PF_ENOMEM;
	}
	/* serve only: `propflow import` exits at done, and a unit it left in
	 * flight would go on in its backend after it; a server's sweep does the
	 * final pass of what it imported */
	if (a->mode == MODE_SERVE) {
		/* one connection of its own, at the writers' priority: its units
		 * run for seconds on a large import (market.c) */
		a->work = pf_db_new(a->base, a->conninfo, 1, true, (int)cfg->db_pipeline_max,
		                    "background");
		if (!a->work)
			return PF_ENOMEM;
		pf_db_set_backend_nice(a->work, (int)cfg->db_writer_nice);
		if (a->monitor && pf_monitor_pool(a->monitor, a->work, "background") != 0)
			return PF_ENOMEM;
		if (!(a->market = pf_market_new(a->base, a->work, a->readers, a->events)))
			return PF_ENOMEM;
	}
	a->account = (pf_account){
	    .cfg = cfg, .readers = a->readers, .writers = a->writers, .hasher = a->hasher};
	if (a->mode == MODE_USER) {
		pf_account_cli(&a->account, a->user_argc, a->user_argv, user_done_cb, a);
		return 0;
	}
	if (a->mode == MODE_IMPORT) {
		int rc = pf_cli_import_new(a->base, &a->env, cfg, a->path, import_done_cb, a,
		                           &a->import);
		if (rc == 0)
			pf_account_resolve_user(&a->account, cfg->user, import_owner_cb, a);
		return rc;
	}
	/* listen once both pools have a connection, so the first request
	 * does not meet a 503 */
	pf_db_on_ready(a->writers, pool_ready_cb, a);
	pf_db_on_ready(a->readers, pool_ready_cb, a);
	return 0;
}

static int app_listen(app *a)
{
	const pf_config *cfg = a->cfg;
	a->page = pf_static_load(cfg->static_dir);
	if (!a->page)
		pf_warn("app: no page loaded from %s", cfg->static_dir);
	int nschema = 0;
	if (pf_migrate_names(cfg->schema_dir, &a->schema, &nschema) != 0)
		return PF_EIO; /* the migrations were read from there a moment ago */
	a->cache = pf_cache_new(a->readers, &a->env, (size_t)cfg->cache_bytes,
	                        (unsigned)cfg->progress_interval_ms);
	if (!a->cache || pf_cache_meter(a->cache, a->metrics) != 0)
		return PF_ENOMEM;
	a->api = (pf_api){.cfg = cfg,
	                  .readers = a->readers,
	                  .writers = a->writers,
	                  .env = &a->env,
	                  .events = a->events,
	                  .page = a->page,
	                  .account = &a->account,
	                  .metrics = a->metrics,
	                  .metrics_allow = a->metrics_allow,
	                  .cache = a->cache,
	                  .schema = a->schema,
	                  .nschema = nschema};
	if (pf_export_meter(&a->api) != 0)
		return PF_ENOMEM;
	pf_http_limits lim;
	pf_http_limits_default(&lim);
	lim.url_max = (size_t)cfg->url_max;
	lim.header_bytes_max = (size_t)cfg->header_bytes_max;
	lim.header_count_max = (size_t)cfg->header_count_max;
	lim.body_max = (uint64_t)cfg->max_upload;
	lim.header_timeout_ms = (unsigned)cfg->header_timeout_ms;
	lim.idle_timeout_ms = (unsigned)cfg->idle_timeout_ms;
	lim.max_connections = (unsigned)cfg->max_connections;
	lim.max_per_address = (unsigned)cfg->max_per_address;
	lim.unauth_body_timeout_ms = (unsigned)cfg->unauth_body_timeout_ms;
	lim.proxies = a->proxies;
	lim.access_log = a->access;
	lim.metrics = a->metrics;
	char host[256];
	int port;
	if (pf_config_split_listen(cfg->listen, host, sizeof(host), &port) != 0)
		return PF_EINVAL;
	a->http = pf_http_server_new(a->base, host, port, &lim, pf_api_handle, &a->api);
	if (!a->http)
		return PF_EIO;
	a->recovery = pf_recovery_new(a->base, a->readers, &a->env, cfg);
	if (!a->recovery || pf_recovery_start(a->recovery) != 0)
		return PF_ENOMEM;
	pf_account_record_instance(&a->account, pf_http_server_port(a->http));
	char link[PF_CONFIG_STR_MAX + 128];
	size_t publen = strcspn(cfg->public_url, ",");
	if (a->first_link[0] &&
	    (publen
	         ? pf_account_link_url(cfg->public_url, publen, a->first_link, link, sizeof(link))
	         : pf_account_login_url(cfg->listen, pf_http_server_port(a->http), a->first_link,
	                                link, sizeof(link))) == 0) {
		/* the secret goes to the console only, never to the log */
		printf("propflow first run: log in as admin at %s (one-time link, valid 24 h)\n",
		       link);
		pf_info("app: first run: administrator 'admin' created; one-time login link "
		        "printed on stdout");
	}
	/* the one line scripts and tests wait for */
	printf("propflow listening on http://%s%s%s:%d\n", strchr(host, ':') ? "[" : "", host,
	       strchr(host, ':') ? "]" : "", pf_http_server_port(a->http));
	fflush(stdout);
	return 0;
}

static void app_set_state(app *a, app_state st)
{
	app_state from = a->state;
	a->state = st;
	switch (st) {
	case APP_MIGRATE:
		if (pf_migrate_run(a->base, a->conninfo, a->cfg->schema_dir, migrated_cb, a) != 0) {
			a->exit_code = 1;
			app_set_state(a, APP_PG_STOP);
		}
		return;
	case APP_RUN: {
		int rc = app_run(a);
		if (rc != 0) {
			pf_error("app: cannot start: %s", pf_strerror(rc));
			a->exit_code = 1;
			app_set_state(a, APP_DRAIN);
		}
		return;
	}
	case APP_DRAIN:
		if (from != APP_RUN) {
			app_set_state(a, APP_PG_STOP);
			return;
		}
		if (a->mode == MODE_SERVE)
			pf_info("app: shutting down");
		pf_recovery_stop(a->recovery);
		if (a->http)
			pf_http_server_stop_accepting(a->http);
		if (pf_cli_import_active(a->import)) {
			pf_cli_import_interrupt(a->import);
		} else {
			/* every job parks: units in flight settle, received bytes
			 * are stored, and the next start takes them over */
			for (pf_job *j = a->env.jobs, *next; j; j = next) {
				next = pf_job_next(j);
				pf_job_park(j);
			}
		}
		if (a->http) {
			/* the other requests end here */
			pf_http_server_free(a->http);
			a->http = NULL;
		}
		a->drain_ms = 0;
		a->drain_timer = event_new(a->base, -1, EV_PERSIST, drain_poll_cb, a);
		if (!a->drain_timer) {
			app_set_state(a, APP_PG_STOP);
			return;
		}
		struct timeval tv = {0, 50000};
		event_add(a->drain_timer, &tv);
		return;
	case APP_PG_STOP:
		/* pools first: a pending snapshot query must fail before the
		 * events hub that waits for it goes; jobs still there only
		 * settle (their rows are safe: each batch is one transaction) */
		a->env.closing = true;
		a->env.changed = NULL;
		pf_monitor_forget_pools(a->monitor);
		pf_market_stop(a->market);
		pf_db_free(a->writers);
		pf_db_free(a->readers);
		pf_db_free(a->work);
		a->writers = a->readers = a->work = NULL;
		pf_market_free(a->market);
		a->market = NULL;
		pf_job_env_free_all(&a->env);
		pf_job_env_unmeter(&a->env, a->metrics);
		pf_events_free(a->events);
		a->events = NULL;
		pf_cache_unmeter(a->cache, a->metrics);
		pf_export_unmeter(&a->api);
		pf_cache_free(a->cache); /* after the readers: their failing units called it */
		a->cache = NULL;
		free(a->schema);
		a->schema = NULL;
		/* a command line tool leaves a database it found running
		 * (a server's) as it was */
		if (a->pg && !(a->mode != MODE_SERVE && pf_pgserver_adopted(a->pg))) {
			pf_pgserver_stop(a->pg, pg_stopped_cb, a);
			return;
		}
		app_set_state(a, APP_EXIT);
		return;
	case APP_EXIT: event_base_loopexit(a->base, NULL); return;
	case APP_PG_START:
	default: abort();
	}
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	app *a = arg;
	pf_info("app: signal %d", (int)sig);
	switch (a->state) {
	case APP_RUN: app_set_state(a, APP_DRAIN); return;
	case APP_PG_START:
	case APP_MIGRATE:
		a->exit_code = 1;
		app_set_state(a, APP_PG_STOP);
		return;
	case APP_DRAIN:
		/* a second signal: stop waiting */
		if (a->drain_timer)
			event_del(a->drain_timer);
		app_set_state(a, APP_PG_STOP);
		return;
	case APP_PG_STOP:
	case APP_EXIT: return;
	default: abort();
	}
}

static int app_main(const pf_config *cfg, app_mode mode, const char *path, int user_argc,
                    const char **user_argv)
{
	app a = {.cfg = cfg, .mode = mode, .path = path};
	if (strcmp(cfg->log_level, "debug") == 0)
		pf_log_set_level(PF_LOG_DEBUG);
	else if (strcmp(cfg->log_level, "warn") == 0)
		pf_log_set_level(PF_LOG_WARN);
	else if (strcmp(cfg->log_level, "error") == 0)
		pf_log_set_level(PF_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	a.user_argc = user_argc;
	a.user_argv = user_argv;
	const char *bad = NULL;
	if (pf_proxy_list_parse(cfg->trust_proxy, &a.proxies, &bad) != 0) {
		fprintf(stderr, "propflow: --trust-proxy: bad entry '%s'\n", bad ? bad : "?");
		return 2;
	}
	if (cfg->access_log[0] && !(a.access = fopen(cfg->access_log, "ae"))) {
		fprintf(stderr, "propflow: --access-log %s: %s\n", cfg->access_log,
		        strerror(errno));
		pf_proxy_list_free(a.proxies);
		return 2;
	}
	if (pf_proxy_list_parse(cfg->metrics_allow, &a.metrics_allow, &bad) != 0) {
		fprintf(stderr, "propflow: --metrics-allow: bad entry '%s'\n", bad ? bad : "?");
		pf_proxy_list_free(a.proxies);
		return 2;
	}
	if (mode == MODE_SERVE && !(a.metrics = pf_metrics_new()))
		return 1;
	a.base = event_base_new();
	if (!a.base || event_base_priority_init(a.base, PF_PRIO_LEVELS) != 0)
		return 1;
	if (mode == MODE_SERVE && !(a.hasher = pf_hasher_new(a.base))) {
		fprintf(stderr, "propflow: cannot start the password hasher\n");
		return 1;
	}
	a.sigint = evsignal_new(a.base, SIGINT, signal_cb, &a);
	a.sigterm = evsignal_new(a.base, SIGTERM, signal_cb, &a);
	if (!a.sigint || !a.sigterm || event_add(a.sigint, NULL) || event_add(a.sigterm, NULL))
		return 1;
	a.state = APP_PG_START;
	if (cfg->db[0]) {
		snprintf(a.conninfo, sizeof(a.conninfo), "%s", cfg->db);
		app_set_state(&a, APP_MIGRATE);
	} else {
		char where[PF_PGSERVER_PATH_MAX + 8];
		if (mode != MODE_SERVE &&
		    pf_pgserver_find(cfg->data_dir, where, sizeof(where)) != 0) {
			/* only serve creates a database: a command pointed at the
			 * wrong place must not make a second, empty one */
			fprintf(stderr,
			        "propflow: no database in --data-dir %s (looked for %s).\n"
			        "Give this command the server's --data-dir DIR (or --db CONNINFO); "
			        "`propflow serve --data-dir DIR` creates one.\n",
			        cfg->data_dir, where);
			a.exit_code = 1;
			goto out;
		}
		const char *err = NULL;
		a.pg = pf_pgserver_start(a.base, cfg->data_dir, pg_ready_cb, &a, &err);
		if (!a.pg) {
			fprintf(stderr, "propflow: embedded database: %s\n", err);
			return 1;
		}
	}
	event_base_dispatch(a.base);
out:

	if (mode == MODE_IMPORT) {
		int code = a.import ? pf_cli_import_report(a.import, cfg->json) : 1;
		if (code > a.exit_code)
			a.exit_code = code;
	}
	pf_cli_import_free(a.import);
	if (a.drain_timer)
		event_free(a.drain_timer);
	pf_recovery_free(a.recovery);
	pf_static_free(a.page);
	pf_hasher_free(a.hasher);
	pf_proxy_list_free(a.proxies);
	pf_proxy_list_free(a.metrics_allow);
	if (a.access)
		fclose(a.access);
	pf_pgserver_free(a.pg);
	pf_monitor_free(a.monitor);
	event_free(a.sigint);
	event_free(a.sigterm);
	event_base_free(a.base);
	pf_metrics_free(a.metrics); /* after every connection that counts in it */
	return a.exit_code;
}

int pf_app_serve(const pf_config *cfg)
{
	return app_main(cfg, MODE_SERVE, NULL, 0, NULL);
}

int pf_app_import(const pf_config *cfg, const char *path)
{
	/* fail before starting a database for nothing; opened again later */
	errno = 0;
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, R_OK) != 0) {
		fprintf(stderr, "propflow: cannot read %s: %s\n", path,
		        errno ? strerror(errno) : "not a regular file");
		return 1;
	}
	return app_main(cfg, MODE_IMPORT, path, 0, NULL);
}

int pf_app_user(const pf_config *cfg, int argc, const char **argv)
{
	return app_main(cfg, MODE_USER, NULL, argc, argv);
}

/*
 * app.c - process lifecycle as one state machine:
 *   PG_START -> MIGRATE -> RUN -> DRAIN -> PG_STOP -> EXIT
 * `serve` listens in RUN; `import` runs one job from a file in RUN and
 * leaves when it ends. A signal moves RUN to DRAIN: stop accepting, cut
 * uploads (their jobs end interrupted with every complete row kept), wait
 * for batches to commit, then stop the embedded database.
 */
#include "propflow/app/app.h"
#include "propflow/api/account.h"
#include "propflow/api/api.h"
#include "propflow/net/hasher.h"
#include "propflow/net/proxy.h"
#include "propflow/store/db.h"
#include "propflow/jobs/events.h"
#include "propflow/net/http.h"
#include "propflow/jobs/job.h"
#include "propflow/base/log.h"
#include "propflow/store/migrate.h"
#include "propflow/store/pgserver.h"
#include "propflow/net/static_files.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
	pf_db *readers; /* owned */
	pf_job_env env;
	pf_events *events; /* owned */
	pf_static *page;   /* owned */
	pf_api api;
	pf_http_server *http;                      /* owned */
	pf_hasher *hasher;                         /* owned: serve only */
	pf_account account;                        /* borrows the pools and the hasher */
	pf_proxy_list *proxies;                    /* owned: --trust-proxy */
	FILE *access;                              /* owned: --access-log, NULL = stderr */
	char first_link[PF_AUTH_SECRET_CHARS + 1]; /* first run's login secret, "" none */
	bool first_run_asked;                      /* pf_account_first_run in flight or done */
	int user_argc;                             /* user mode: words after "user" */
	const char **user_argv;                    /* borrowed */
	struct event *sigint, *sigterm;            /* owned */
	struct event *drain_timer;                 /* owned: polls for settled jobs */
	struct event *recover_timer;               /* owned: looks for jobs nobody runs */
	bool recovering;                           /* a recovery query is in flight */
	unsigned drain_ms;
	/* import mode */
	const char *path; /* borrowed from argv */
	int fd;           /* read end of the pipe from the reader child */
	pid_t reader;     /* the reader child, 0 none */
	int64_t file_size;
	int64_t bytes_read;
	pf_job *job;               /* shared with its pipeline */
	struct event *read_ev;     /* owned: reads the next chunk */
	struct event *progress_ev; /* owned: progress line */
	bool tty;
	bool read_paused;
	double t0;
	char *final_json; /* owned: the job as it ended */
	pf_job_state final_state;
} app;

static void app_set_state(app *a, app_state st);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------- import mode: the file producer ---------------- */

/*
 * The file is read by a child process into a pipe, and the loop reads the
 * pipe without blocking: a read of a regular file cannot be made
 * non-blocking, and no read of user data may stall the loop.
 */
static void reader_child(int in, int out)
{
	static char buf[PF_APP_READ_CHUNK];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(n == 0 ? 0 : 1);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(1);
			off += w;
		}
	}
}

static void import_read_cb(evutil_socket_t fd, short what, void *arg)
{
	app *a = arg;
	if (!a->job || a->read_paused)
		return;
	static char buf[PF_APP_READ_CHUNK];
	ssize_t n = read(a->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		event_del(a->read_ev);
		/* the child exits early (short count) if the file cannot be read */
		if (n < 0 || a->bytes_read != a->file_size)
			pf_job_fail_input(
			    a->job, PF_JOB_FAILED,
			    "the file could not be read completely (changed while reading?)");
		else
			pf_job_end_input(a->job);
		return;
	}
	a->bytes_read += n;
	int rc = pf_job_feed(a->job, buf, (size_t)n);
	if (rc == PF_JOB_PAUSED) {
		/* stop reading the pipe; the child blocks on a full pipe */
		a->read_paused = true;
		event_del(a->read_ev);
		return;
	}
	if (rc < 0) {
		event_del(a->read_ev);
		pf_job_fail_input(a->job, PF_JOB_FAILED, pf_strerror(rc));
	}
}

static void import_resume(void *arg, pf_job *job)
{
	app *a = arg;
	a->read_paused = false;
	event_add(a->read_ev, NULL);
}

static void import_started(void *arg, pf_job *job, const char *err)
{
	app *a = arg;
	if (err) {
		/* on_finished is not called for a job never created */
		fprintf(stderr, "propflow: %s\n", err);
		a->exit_code = 1;
		pf_job_release(job);
		a->job = NULL;
		if (a->state == APP_RUN)
			app_set_state(a, APP_DRAIN);
		return;
	}
	event_add(a->read_ev, NULL);
}

static void print_progress(app *a, bool final)
{
	char *frame = pf_events_job_frame(a->job, false, NULL);
	cJSON *o = frame ? cJSON_Parse(frame) : NULL;
	free(frame);
	if (!o)
		return;
	double recv = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "bytes_received"));
	double parsed = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_parsed"));
	double ins = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_inserted"));
	double rate = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_per_sec"));
	double pct = a->file_size > 0 ? 100.0 * recv / (double)a->file_size : 100.0;
	cJSON_Delete(o);
	if (a->tty) {
		int width = 30, fill = (int)(pct * width / 100.0);
		char bar[64];
		for (int i = 0; i < width; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[width] = 0;
		fprintf(stderr, "\r[%s] %5.1f%%  %.0f rows parsed, %.0f stored, %.0f rows/s   %s",
		        bar, pct, parsed, ins, rate, final ? "\n" : "");
	} else {
		fprintf(stderr, "progress: %.1f%% %.0f rows parsed, %.0f stored, %.0f rows/s\n",
		        pct, parsed, ins, rate);
	}
}

static void import_progress_cb(evutil_socket_t fd, short what, void *arg)
{
	app *a = arg;
	if (a->job)
		print_progress(a, false);
}

static void import_finished(void *arg, pf_job *job)
{
	app *a = arg;
	print_progress(a, true);
	a->final_state = pf_job_state_of(job);
	a->final_json = pf_events_job_frame(job, false, NULL);
	a->exit_code = a->final_state == PF_JOB_DONE ? 0 : 1;
	if (a->progress_ev)
		event_del(a->progress_ev);
	pf_job_release(job);
	a->job = NULL;
	if (a->state == APP_RUN)
		app_set_state(a, APP_DRAIN);
}

static const pf_job_hooks import_hooks = {
    .on_started = import_started,
    .on_resume = import_resume,
    .on_finished = import_finished,
};

static int import_begin(app *a)
{
	int file = open(a->path, O_RDONLY | O_CLOEXEC);
	if (file < 0) {
		fprintf(stderr, "propflow: cannot open %s: %s\n", a->path, strerror(errno));
		return PF_EIO;
	}
	struct stat st;
	if (fstat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "propflow: %s is not a regular file\n", a->path);
		close(file);
		return PF_EIO;
	}
	a->file_size = st.st_size;
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		close(file);
		return PF_EIO;
	}
	a->reader = fork();
	if (a->reader == 0) {
		close(p[0]);
		reader_child(file, p[1]);
	}
	close(file);
	close(p[1]);
	a->fd = p[0];
	if (a->reader < 0 || evutil_make_socket_nonblocking(a->fd) != 0) {
		a->reader = 0;
		return PF_EIO;
	}
	const char *name = a->cfg->name[0] ? a->cfg->name : strrchr(a->path, '/');
	name = name ? (name[0] == '/' ? name + 1 : name) : a->path;
	a->read_ev = event_new(a->base, a->fd, EV_READ | EV_PERSIST, import_read_cb, a);
	a->progress_ev = event_new(a->base, -1, EV_PERSIST, import_progress_cb, a);
	a->job = pf_job_new(&a->env, name, a->file_size, &import_hooks, a);
	if (!a->read_ev || !a->progress_ev || !a->job)
		return PF_ENOMEM;
	a->tty = isatty(2);
	struct timeval tv = {a->tty ? 0 : 1, a->tty ? 200000 : 0};
	event_add(a->progress_ev, &tv);
	a->t0 = now_s();
	return 0;
}

/* The job's owner is known: it may start. */
static void import_owner_cb(void *arg, int64_t id, const char *err)
{
	app *a = arg;
	if (err || !a->job) {
		fprintf(stderr, "propflow: --user %s: %s\n", a->cfg->user, err ? err : "stopped");
		a->exit_code = 1;
		if (a->job) {
			pf_job_release(a->job);
			a->job = NULL;
		}
		if (a->state == APP_RUN)
			app_set_state(a, APP_DRAIN);
		return;
	}
	pf_job_set_owner(a->job, id);
	pf_job_start(a->job);
}

static void user_done_cb(void *arg, int code)
{
	app *a = arg;
	a->exit_code = code;
	if (a->state == APP_RUN)
		app_set_state(a, APP_DRAIN);
}

/* ---------------- recovery ---------------- */

/*
 * Jobs left receiving or processing by a process that is gone (crash,
 * SIGTERM, another instance) are taken over: at start and every
 * PF_APP_RECOVER_MS. pg_try_advisory_lock decides who runs a job, so two
 * instances never run the same one. Resumable uploads still missing bytes
 * wait in the database for their next PATCH instead.
 */
static void recover_cb(void *arg, const pf_db_result *r)
{
	app *a = arg;
	a->recovering = false;
	if (r->error || a->state != APP_RUN)
		return;
	for (int i = 0; i < pf_db_rows(r, 0); i++) {
		int64_t id = strtoll(pf_db_value(r, 0, i, 0), NULL, 10);
		if (pf_job_find(&a->env, id))
			continue;
		if (!pf_job_adopt(&a->env, id, 0, NULL, NULL))
			pf_warn("app: cannot take over import %lld: out of memory", (long long)id);
	}
}

static void recover_tick(evutil_socket_t fd, short what, void *arg)
{
	app *a = arg;
	if (a->recovering || a->state != APP_RUN || pf_db_ready_count(a->readers) == 0)
		return;
	pf_db_unit *u = pf_db_unit_new(recover_cb, a);
	/* a tus upload nobody has sent to for --upload-expiry seconds ends
	 * interrupted (with its complete rows), so it stops counting against
	 * its owner's running imports; the xact lock skips one being run */
	if (!u ||
	    pf_db_unit_stmt(u, "SELECT id FROM import_jobs "
	                       "WHERE state IN ('receiving', 'processing') "
	                       "AND (input_complete OR NOT resumable) "
	                       "ORDER BY id LIMIT 100") != 0 ||
	    pf_db_unit_stmt(u, "UPDATE import_jobs SET state = 'interrupted', "
	                       "error = 'upload abandoned: nothing received for ' || $1 || ' s', "
	                       "finished_at = now(), updated_at = now() "
	                       "WHERE state = 'receiving' AND resumable AND NOT input_complete "
	                       "AND updated_at < now() - make_interval(secs => $1) "
	                       "AND pg_try_advisory_xact_lock(id)") != 0 ||
	    pf_db_unit_int(u, a->cfg->upload_expiry_s) != 0) {
		if (u)
			pf_db_unit_free(u);
		return;
	}
	a->recovering = true;
	pf_db_submit(a->readers, 0, u);
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
	    .changed = pf_events_job_changed,
	    .changed_arg = NULL,
	    .jobs = NULL,
	};
	a->events = pf_events_new(a->base, a->readers, &a->env);
	if (!a->events)
		return PF_ENOMEM;
	a->env.changed_arg = a->events;
	a->account = (pf_account){
	    .cfg = cfg, .readers = a->readers, .writers = a->writers, .hasher = a->hasher};
	if (a->mode == MODE_USER) {
		pf_account_cli(&a->account, a->user_argc, a->user_argv, user_done_cb, a);
		return 0;
	}
	if (a->mode == MODE_IMPORT) {
		int rc = import_begin(a);
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
	a->api = (pf_api){.cfg = cfg,
	                  .readers = a->readers,
	                  .writers = a->writers,
	                  .env = &a->env,
	                  .events = a->events,
	                  .page = a->page,
	                  .account = &a->account};
	pf_http_limits lim;
	pf_http_limits_default(&lim);
	lim.url_max = (size_t)cfg->url_max;
	lim.header_bytes_max = (size_t)cfg->header_bytes_max;
	lim.header_count_max = (size_t)cfg->header_count_max;
	lim.body_max = (uint64_t)cfg->max_upload;
	lim.header_timeout_ms = (unsigned)cfg->header_timeout_ms;
	lim.idle_timeout_ms = (unsigned)cfg->idle_timeout_ms;
	lim.max_connections = (unsigned)cfg->max_connections;
	lim.proxies = a->proxies;
	lim.access_log = a->access;
	char host[256];
	int port;
	if (pf_config_split_listen(cfg->listen, host, sizeof(host), &port) != 0)
		return PF_EINVAL;
	a->http = pf_http_server_new(a->base, host, port, &lim, pf_api_handle, &a->api);
	if (!a->http)
		return PF_EIO;
	a->recover_timer = event_new(a->base, -1, EV_PERSIST, recover_tick, a);
	if (!a->recover_timer)
		return PF_ENOMEM;
	struct timeval every = {PF_APP_RECOVER_MS / 1000, (PF_APP_RECOVER_MS % 1000) * 1000};
	event_add(a->recover_timer, &every);
	event_active(a->recover_timer, 0, 0);
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
		if (a->recover_timer)
			event_del(a->recover_timer);
		if (a->http)
			pf_http_server_stop_accepting(a->http);
		if (a->job) {
			pf_job_fail_input(a->job, PF_JOB_INTERRUPTED, "import stopped by a signal");
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
		pf_db_free(a->writers);
		pf_db_free(a->readers);
		a->writers = a->readers = NULL;
		pf_job_env_free_all(&a->env);
		pf_events_free(a->events);
		a->events = NULL;
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
	app a = {.cfg = cfg, .mode = mode, .path = path, .fd = -1};
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
		if (a.final_json && cfg->json) {
			printf("%s\n", a.final_json);
		} else if (a.final_json) {
			cJSON *o = cJSON_Parse(a.final_json);
			double secs = now_s() - a.t0;
			double parsed = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_parsed"));
			printf("import %.0f %s: %.0f rows parsed, %.0f inserted, %.0f rejected, "
			       "%.0f warned in %.2f s (%.0f rows/s)\n",
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "id")),
			       pf_job_state_name(a.final_state), parsed,
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_inserted")),
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_rejected")),
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_warned")), secs,
			       secs > 0 ? parsed / secs : 0);
			const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(o, "error"));
			if (err)
				fprintf(stderr, "propflow: %s\n", err);
			cJSON_Delete(o);
		}
		if (!a.final_json && a.exit_code == 0)
			a.exit_code = 1;
	}
	free(a.final_json);
	if (a.fd >= 0)
		close(a.fd);
	if (a.reader > 0) {
		kill(a.reader, SIGTERM); /* gone already unless the import stopped early */
		waitpid(a.reader, NULL, 0);
	}
	if (a.read_ev)
		event_free(a.read_ev);
	if (a.progress_ev)
		event_free(a.progress_ev);
	if (a.drain_timer)
		event_free(a.drain_timer);
	if (a.recover_timer)
		event_free(a.recover_timer);
	pf_static_free(a.page);
	pf_hasher_free(a.hasher);
	pf_proxy_list_free(a.proxies);
	if (a.access)
		fclose(a.access);
	pf_pgserver_free(a.pg);
	event_free(a.sigint);
	event_free(a.sigterm);
	event_base_free(a.base);
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

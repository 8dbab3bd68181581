/*
 * cli_import.c - the command line's import of one file (see
 * cli_import.h): a reader child, a pipe read without blocking, one job,
 * a progress line and the summary.
 */
#include "propflow/app/cli_import.h"

#include "propflow/jobs/events.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct pf_cli_import {
	struct event_base *base; /* borrowed */
	pf_job_env *env;         /* borrowed */
	const pf_config *cfg;    /* borrowed */
	const char *path;        /* borrowed from argv */
	void (*done)(void *arg, int code);
	void *done_arg;
	int fd;      /* read end of the pipe from the reader child */
	pid_t child; /* the reader child, 0 none */
	int64_t file_size;
	int64_t bytes_read;
	pf_job *job;               /* shared with its pipeline, NULL once let go */
	struct event *read_ev;     /* owned: reads the next chunk */
	struct event *progress_ev; /* owned: progress line */
	bool tty;
	bool read_paused;
	double t0;
	cJSON *final; /* owned: the job as it ended */
	pf_job_state final_state;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child copies the file into the pipe and exits: 0 at its end, 1 on an
 * error (the parent then sees a short count). */
static void reader_child(int in, int out)
{
	static char buf[PF_CLI_IMPORT_CHUNK];
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

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_cli_import *imp = arg;
	if (!imp->job || imp->read_paused)
		return;
	static char buf[PF_CLI_IMPORT_CHUNK];
	ssize_t n = read(imp->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		event_del(imp->read_ev);
		/* the child exits early (short count) if the file cannot be read */
		if (n < 0 || imp->bytes_read != imp->file_size)
			pf_job_fail_input(
			    imp->job, PF_JOB_FAILED,
			    "the file could not be read completely (changed while reading?)");
		else
			pf_job_end_input(imp->job);
		return;
	}
	imp->bytes_read += n;
	int rc = pf_job_feed(imp->job, buf, (size_t)n);
	if (rc == PF_JOB_PAUSED) {
		/* stop reading the pipe; the child blocks on a full pipe */
		imp->read_paused = true;
		event_del(imp->read_ev);
		return;
	}
	if (rc < 0) {
		event_del(imp->read_ev);
		pf_job_fail_input(imp->job, PF_JOB_FAILED, pf_strerror(rc));
	}
}

static void job_resume(void *arg, pf_job *job)
{
	pf_cli_import *imp = arg;
	imp->read_paused = false;
	event_add(imp->read_ev, NULL);
}

static void print_progress(pf_cli_import *imp, bool final)
{
	cJSON *o = pf_events_job_frame(imp->job, false, NULL);
	if (!o)
		return;
	double recv = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "bytes_received"));
	double parsed = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_parsed"));
	double ins = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_inserted"));
	double rate = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_per_sec"));
	double pct = imp->file_size > 0 ? 100.0 * recv / (double)imp->file_size : 100.0;
	cJSON_Delete(o);
	if (imp->tty) {
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

static void progress_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_cli_import *imp = arg;
	if (imp->job)
		print_progress(imp, false);
}

static void job_started(void *arg, pf_job *job, pf_job_reason why)
{
	pf_cli_import *imp = arg;
	if (why != PF_JOB_OK) {
		/* on_finished is not called for a job never created */
		fprintf(stderr, "propflow: %s\n",
		        pf_job_error(job) ? pf_job_error(job) : pf_job_reason_text(why));
		pf_job_release(job);
		imp->job = NULL;
		imp->done(imp->done_arg, 1);
		return;
	}
	event_add(imp->read_ev, NULL);
}

static void job_finished(void *arg, pf_job *job)
{
	pf_cli_import *imp = arg;
	print_progress(imp, true);
	imp->final_state = pf_job_state_of(job);
	imp->final = pf_events_job_frame(job, false, NULL);
	if (imp->progress_ev)
		event_del(imp->progress_ev);
	pf_job_release(job);
	imp->job = NULL;
	imp->done(imp->done_arg, imp->final_state == PF_JOB_DONE ? 0 : 1);
}

static const pf_job_hooks hooks = {
    .on_started = job_started,
    .on_resume = job_resume,
    .on_finished = job_finished,
};

int pf_cli_import_new(struct event_base *base, pf_job_env *env, const pf_config *cfg,
                      const char *path, void (*done)(void *arg, int code), void *arg,
                      pf_cli_import **out)
{
	*out = NULL;
	pf_cli_import *imp = calloc(1, sizeof(*imp));
	if (!imp)
		return PF_ENOMEM;
	*imp = (pf_cli_import){.base = base,
	                       .env = env,
	                       .cfg = cfg,
	                       .path = path,
	                       .done = done,
	                       .done_arg = arg,
	                       .fd = -1};
	int rc = PF_EIO;
	int file = open(path, O_RDONLY | O_CLOEXEC);
	if (file < 0) {
		fprintf(stderr, "propflow: cannot open %s: %s\n", path, strerror(errno));
		goto fail;
	}
	struct stat st;
	if (fstat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "propflow: %s is not a regular file\n", path);
		close(file);
		goto fail;
	}
	imp->file_size = st.st_size;
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		close(file);
		goto fail;
	}
	imp->child = fork();
	if (imp->child == 0) {
		close(p[0]);
		reader_child(file, p[1]);
	}
	close(file);
	close(p[1]);
	imp->fd = p[0];
	if (imp->child < 0 || evutil_make_socket_nonblocking(imp->fd) != 0) {
		imp->child = 0;
		goto fail;
	}
	const char *name = cfg->name[0] ? cfg->name : strrchr(path, '/');
	name = name ? (name[0] == '/' ? name + 1 : name) : path;
	rc = PF_ENOMEM;
	imp->read_ev = event_new(base, imp->fd, EV_READ | EV_PERSIST, read_cb, imp);
	imp->progress_ev = event_new(base, -1, EV_PERSIST, progress_cb, imp);
	imp->job = pf_job_new(env, name, imp->file_size, &hooks, imp);
	if (!imp->read_ev || !imp->progress_ev || !imp->job)
		goto fail;
	imp->tty = isatty(2);
	struct timeval tv = {imp->tty ? 0 : 1, imp->tty ? 200000 : 0};
	event_add(imp->progress_ev, &tv);
	imp->t0 = now_s();
	*out = imp;
	return 0;
fail:
	if (imp->job)
		pf_job_release(imp->job); /* never started: it goes at once */
	pf_cli_import_free(imp);
	return rc;
}

void pf_cli_import_start(pf_cli_import *imp, int64_t owner)
{
	if (!imp->job)
		return;
	pf_job_set_owner(imp->job, owner);
	pf_job_start(imp->job);
}

void pf_cli_import_drop(pf_cli_import *imp)
{
	if (imp->job)
		pf_job_release(imp->job);
	imp->job = NULL;
}

void pf_cli_import_interrupt(pf_cli_import *imp)
{
	if (imp->job)
		pf_job_fail_input(imp->job, PF_JOB_INTERRUPTED, "import stopped by a signal");
}

bool pf_cli_import_active(const pf_cli_import *imp)
{
	return imp && imp->job;
}

int pf_cli_import_report(pf_cli_import *imp, bool json)
{
	cJSON *o = imp->final;
	if (!o)
		return 1;
	if (json) {
		char *s = cJSON_PrintUnformatted(o);
		if (s)
			printf("%s\n", s);
		free(s);
	} else {
		double secs = now_s() - imp->t0;
		double parsed = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_parsed"));
		printf("import %.0f %s: %.0f rows parsed, %.0f inserted, %.0f rejected, "
		       "%.0f warned in %.2f s (%.0f rows/s)\n",
		       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "id")),
		       pf_job_state_name(imp->final_state), parsed,
		       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_inserted")),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_rejected")),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows_warned")), secs,
		       secs > 0 ? parsed / secs : 0);
		const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(o, "error"));
		if (err)
			fprintf(stderr, "propflow: %s\n", err);
	}
	return imp->final_state == PF_JOB_DONE ? 0 : 1;
}

void pf_cli_import_free(pf_cli_import *imp)
{
	if (!imp)
		return;
	if (imp->fd >= 0)
		close(imp->fd);
	if (imp->child > 0) {
		kill(imp->child, SIGTERM); /* gone already unless the import stopped early */
		waitpid(imp->child, NULL, 0);
	}
	if (imp->read_ev)
		event_free(imp->read_ev);
	if (imp->progress_ev)
		event_free(imp->progress_ev);
	cJSON_Delete(imp->final);
	free(imp);
}

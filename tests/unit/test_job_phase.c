/*
 * test_job_phase.c - the job's lifecycle table (src/jobs/job_phase.c): the
 * whole matrix of allowed transitions against the one drawn in
 * job_phase.h, the paths a job really takes (one-shot, tus going idle and
 * taken back, resync, cancel and park from every phase they may come
 * from), that every phase can end and nothing leaves ENDED, what each
 * phase allows, and that job_set_phase aborts on a transition the table
 * does not list (in a child process). No database, no event loop.
 */
#include "check.h"
#include "job_internal.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define N JOB_PHASE_COUNT

/* The diagram of job_phase.h, row by row: from -> the phases it may enter. */
static const char *const expected[N] = {
    [JOB_NEW] = "creating adopting ended",
    [JOB_CREATING] = "running cancelling parking ended",
    [JOB_ADOPTING] = "adopting running cancelling parking ended",
    [JOB_RUNNING] = "resyncing finalizing cancelling parking idling",
    [JOB_RESYNCING] = "running resyncing cancelling parking ended",
    [JOB_FINALIZING] = "resyncing cancelling ended",
    [JOB_CANCELLING] = "finalizing ended",
    [JOB_PARKING] = "cancelling ended",
    [JOB_IDLING] = "adopting cancelling ended",
    [JOB_ENDED] = "",
};

/* Whether `name` is a word of the list. */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ' ');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p += len;
		while (*p == ' ')
			p++;
	}
	return false;
}

static bool path_ok(const job_phase *path, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (!job_phase_allowed(path[i - 1], path[i]))
			return false;
	return true;
}

#define PATH(...)                                                                                  \
	path_ok((const job_phase[]){__VA_ARGS__},                                                  \
	        sizeof((const job_phase[]){__VA_ARGS__}) / sizeof(job_phase))

static void test_matrix(void)
{
	int allowed = 0, want = 0;
	for (int f = 0; f < N; f++) {
		for (int t = 0; t < N; t++) {
			bool in_table = listed(expected[f], job_phase_name((job_phase)t));
			bool got = job_phase_allowed((job_phase)f, (job_phase)t);
			want += in_table;
			allowed += got;
			if (got != in_table)
				CHECK_MSG(false, "%s -> %s: table says %d, diagram %d",
				          job_phase_name((job_phase)f),
				          job_phase_name((job_phase)t), got, in_table);
		}
	}
	CHECK_INT(allowed, want);
	CHECK_INT(allowed, 32);
	/* out of range never passes */
	CHECK(!job_phase_allowed(JOB_PHASE_COUNT, JOB_ENDED));
	CHECK(!job_phase_allowed(JOB_RUNNING, JOB_PHASE_COUNT));
	CHECK(!job_phase_allowed((job_phase)-1, JOB_RUNNING));
}

static void test_paths(void)
{
	/* one-shot upload: created, runs, finishes */
	CHECK(PATH(JOB_NEW, JOB_CREATING, JOB_RUNNING, JOB_FINALIZING, JOB_ENDED));
	/* its connection breaks twice, and once while finishing */
	CHECK(PATH(JOB_NEW, JOB_CREATING, JOB_RUNNING, JOB_RESYNCING, JOB_RESYNCING, JOB_RUNNING,
	           JOB_FINALIZING, JOB_RESYNCING, JOB_RUNNING, JOB_FINALIZING, JOB_ENDED));
	/* creation refused (quota, too many running) */
	CHECK(PATH(JOB_NEW, JOB_CREATING, JOB_ENDED));
	/* a producer that lets go before starting */
	CHECK(PATH(JOB_NEW, JOB_ENDED));
	/* tus: idle between PATCHes, taken back, finished */
	CHECK(PATH(JOB_NEW, JOB_CREATING, JOB_RUNNING, JOB_IDLING, JOB_ADOPTING, JOB_RUNNING,
	           JOB_IDLING, JOB_ENDED));
	CHECK(PATH(JOB_IDLING, JOB_ADOPTING, JOB_RUNNING, JOB_FINALIZING, JOB_ENDED));
	/* taken over after a crash: missing, elsewhere, lost read, then ours */
	CHECK(PATH(JOB_NEW, JOB_ADOPTING, JOB_ENDED));
	CHECK(PATH(JOB_NEW, JOB_ADOPTING, JOB_ADOPTING, JOB_RUNNING));
	/* deleted under a resync */
	CHECK(PATH(JOB_RUNNING, JOB_RESYNCING, JOB_ENDED));
	/* cancel from every phase it may come from, then the deletion */
	const job_phase cancellable[] = {JOB_CREATING,   JOB_ADOPTING, JOB_RUNNING, JOB_RESYNCING,
	                                 JOB_FINALIZING, JOB_PARKING,  JOB_IDLING};
	for (size_t i = 0; i < sizeof(cancellable) / sizeof(*cancellable); i++)
		CHECK_MSG(PATH(cancellable[i], JOB_CANCELLING, JOB_FINALIZING, JOB_ENDED),
		          "cancel from %s", job_phase_name(cancellable[i]));
	/* park (shutdown) from every phase pf_job_park parks */
	const job_phase parkable[] = {JOB_CREATING, JOB_ADOPTING, JOB_RUNNING, JOB_RESYNCING};
	for (size_t i = 0; i < sizeof(parkable) / sizeof(*parkable); i++)
		CHECK_MSG(PATH(parkable[i], JOB_PARKING, JOB_ENDED), "park from %s",
		          job_phase_name(parkable[i]));
}

static void test_not_allowed(void)
{
	for (int t = 0; t < N; t++)
		CHECK_MSG(!job_phase_allowed(JOB_ENDED, (job_phase)t), "nothing leaves ended (%s)",
		          job_phase_name((job_phase)t));
	for (int f = 0; f < N; f++)
		CHECK_MSG(!job_phase_allowed((job_phase)f, JOB_NEW),
		          "nothing goes back to new (%s)", job_phase_name((job_phase)f));
	CHECK(!job_phase_allowed(JOB_NEW, JOB_RUNNING));     /* without a row */
	CHECK(!job_phase_allowed(JOB_RUNNING, JOB_RUNNING)); /* no silent self-transition */
	CHECK(!job_phase_allowed(JOB_RUNNING, JOB_ADOPTING));
	CHECK(!job_phase_allowed(JOB_RUNNING, JOB_ENDED)); /* a running job finalizes first */
	CHECK(!job_phase_allowed(JOB_CANCELLING, JOB_RUNNING));
	CHECK(!job_phase_allowed(JOB_CANCELLING, JOB_PARKING)); /* a shutdown lets a cancel end */
	CHECK(!job_phase_allowed(JOB_PARKING, JOB_RUNNING));
	CHECK(!job_phase_allowed(JOB_PARKING, JOB_ADOPTING)); /* a PATCH does not stop a shutdown */
	CHECK(!job_phase_allowed(JOB_FINALIZING, JOB_RUNNING));
	CHECK(!job_phase_allowed(JOB_FINALIZING, JOB_PARKING));
	CHECK(!job_phase_allowed(JOB_IDLING, JOB_RUNNING)); /* taken back only through a read */
	CHECK(!job_phase_allowed(JOB_CREATING, JOB_RESYNCING));
}

/* Every phase can reach ENDED, and every phase is reachable from NEW. */
static void test_reach(void)
{
	bool from_new[N] = {[JOB_NEW] = true};
	for (int round = 0; round < N; round++)
		for (int f = 0; f < N; f++)
			for (int t = 0; t < N; t++)
				if (from_new[f] && job_phase_allowed((job_phase)f, (job_phase)t))
					from_new[t] = true;
	for (int p = 0; p < N; p++)
		CHECK_MSG(from_new[p], "%s is reachable from new", job_phase_name((job_phase)p));
	bool ends[N] = {[JOB_ENDED] = true};
	for (int round = 0; round < N; round++)
		for (int f = 0; f < N; f++)
			for (int t = 0; t < N; t++)
				if (ends[t] && job_phase_allowed((job_phase)f, (job_phase)t))
					ends[f] = true;
	for (int p = 0; p < N; p++)
		CHECK_MSG(ends[p], "%s can end", job_phase_name((job_phase)p));
}

static void test_predicates(void)
{
	for (int p = 0; p < N; p++) {
		job_phase ph = (job_phase)p;
		CHECK_MSG(job_phase_reads_row(ph) == (ph == JOB_ADOPTING || ph == JOB_RESYNCING),
		          "reads_row(%s)", job_phase_name(ph));
		CHECK_MSG(job_phase_parses(ph) == (ph == JOB_RUNNING), "parses(%s)",
		          job_phase_name(ph));
		bool going = ph == JOB_FINALIZING || ph == JOB_CANCELLING || ph == JOB_PARKING ||
		             ph == JOB_IDLING || ph == JOB_ENDED;
		CHECK_MSG(job_phase_takes_bytes(ph) == !going, "takes_bytes(%s)",
		          job_phase_name(ph));
		CHECK_MSG(job_phase_attachable(ph) == (!going || ph == JOB_IDLING),
		          "attachable(%s)", job_phase_name(ph));
		for (int q = 0; q < p; q++)
			CHECK_MSG(strcmp(job_phase_name(ph), job_phase_name((job_phase)q)) != 0,
			          "names differ: %s", job_phase_name(ph));
	}
}

/* job_set_phase aborts on a transition the table does not list, before
 * any side effect. */
static void test_set_phase_aborts(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		pf_job job = {.phase = JOB_ENDED, .id = 7};
		freopen("/dev/null", "w", stderr);
		job_set_phase(&job, JOB_RUNNING);
		_exit(0); /* not reached if it aborts */
	}
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
	          "job_set_phase(ended -> running) aborts (status %d)", st);
}

int main(void)
{
	test_matrix();
	test_paths();
	test_not_allowed();
	test_reach();
	test_predicates();
	test_set_phase_aborts();
	return CHECK_DONE();
}

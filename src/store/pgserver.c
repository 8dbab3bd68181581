/*
 * pgserver.c - runs the embedded PostgreSQL (see pgserver.h).
 *
 * States: INITDB (child initdb running) -> STARTING (postmaster spawned,
 * waiting for its pid file to say "ready") -> RUNNING -> STOPPING ->
 * STOPPED. Readiness is read from postmaster.pid's status line, which
 * PostgreSQL writes for pg_ctl; no connection attempt is needed.
 */
#include "propflow/store/pgserver.h"
#include "propflow/base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG_POLL_MS          50
#define PG_START_TIMEOUT_MS 60000

typedef enum pg_state {
	PG_INITDB = 0,
	PG_STARTING,
	PG_RUNNING,
	PG_STOPPING,
	PG_STOPPED,
} pg_state;

struct pf_pgserver {
	struct event_base *base; /* borrowed */
	pg_state state;
	char bindir[PF_PGSERVER_PATH_MAX];
	char pgdir[PF_PGSERVER_PATH_MAX];  /* DATA_DIR/pg */
	char rundir[PF_PGSERVER_PATH_MAX]; /* DATA_DIR/run: socket */
	char logpath[PF_PGSERVER_PATH_MAX];
	char conninfo[PF_PGSERVER_PATH_MAX * 2];
	bool as_postgres; /* we are root: children drop to the postgres user */
	uid_t uid;
	gid_t gid;
	pid_t child;         /* initdb or the postmaster we spawned; 0 none */
	pid_t postmaster;    /* pid to signal on stop (ours or adopted) */
	bool adopted;        /* postmaster was running before us */
	struct event *timer; /* owned: polling */
	unsigned waited_ms;
	pf_pgserver_cb cb; /* start or stop completion */
	void *cb_arg;
};

static void pg_poll_cb(evutil_socket_t fd, short what, void *arg);

static void pg_arm(pf_pgserver *pg)
{
	struct timeval tv = {0, PG_POLL_MS * 1000};
	evtimer_add(pg->timer, &tv);
}

static void pg_done(pf_pgserver *pg, const char *err)
{
	pf_pgserver_cb cb = pg->cb;
	pg->cb = NULL;
	if (cb)
		cb(pg->cb_arg, err);
}

static bool file_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* Highest /usr/lib/postgresql/N/bin with a postgres binary, else PATH. */
static int find_bindir(char *out, size_t cap)
{
	DIR *d = opendir("/usr/lib/postgresql");
	int best = -1;
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			char *end;
			long v = strtol(e->d_name, &end, 10);
			if (end == e->d_name || *end || v <= best)
				continue;
			char p[512];
			snprintf(p, sizeof(p), "/usr/lib/postgresql/%s/bin/postgres", e->d_name);
			if (access(p, X_OK) == 0)
				best = (int)v;
		}
		closedir(d);
	}
	if (best >= 0) {
		snprintf(out, cap, "/usr/lib/postgresql/%d/bin", best);
		return 0;
	}
	const char *path = getenv("PATH");
	if (!path)
		return PF_EINVAL;
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		char p[1200];
		snprintf(p, sizeof(p), "%s/initdb", dir);
		if (access(p, X_OK) == 0) {
			snprintf(out, cap, "%s", dir);
			return 0;
		}
	}
	return PF_EINVAL;
}

/* Can uid/gid (not root) walk every directory of path? */
static bool reachable(const char *path, uid_t uid, gid_t gid)
{
	char buf[PF_PGSERVER_PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *slash = buf;; slash = strchr(slash + 1, '/')) {
		char save = 0;
		if (slash) {
			save = slash[1];
			slash[1] = 0;
		}
		struct stat st;
		if (stat(buf, &st) != 0)
			return false;
		bool ok = st.st_uid == uid   ? (st.st_mode & S_IXUSR)
		          : st.st_gid == gid ? (st.st_mode & S_IXGRP)
		                             : (st.st_mode & S_IXOTH);
		if (!ok)
			return false;
		if (!slash)
			return true;
		slash[1] = save;
		if (!save)
			return true;
	}
}

/* FNV-1a: a stable name for a data directory's fallback home. */
static uint64_t path_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Where the cluster of data directory abs (resolved) lives: abs itself,
 * unless the postgres user cannot reach it (a checkout under /root, say)
 * or the socket path would be too long; then a directory of its own under
 * PF_PGSERVER_FALLBACK_ROOT, named by a hash of abs. Creates nothing. */
static bool cluster_home(const char *abs, bool as_postgres, uid_t uid, gid_t gid, char *home,
                         size_t cap)
{
	if ((as_postgres && !reachable(abs, uid, gid)) || strlen(abs) > 80) {
		snprintf(home, cap, "%s/%016llx", PF_PGSERVER_FALLBACK_ROOT,
		         (unsigned long long)path_hash(abs));
		return true;
	}
	snprintf(home, cap, "%s", abs);
	return false;
}

/* The postgres system user, when we are root (children drop to it). */
static bool postgres_user(uid_t *uid, gid_t *gid)
{
	if (geteuid() != 0)
		return false;
	struct passwd *pw = getpwnam("postgres");
	if (!pw)
		return false;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return true;
}

int pf_pgserver_find(const char *data_dir, char *where, size_t cap)
{
	char abs[PF_PGSERVER_PATH_MAX], home[PF_PGSERVER_PATH_MAX];
	if (!realpath(data_dir, abs)) {
		snprintf(where, cap, "%s/pg", data_dir);
		return 1;
	}
	uid_t uid = 0;
	gid_t gid = 0;
	bool as_postgres = postgres_user(&uid, &gid);
	/* as root, pf_pgserver_start first makes DIR itself searchable, which
	 * can move the cluster from the fallback home to DIR: look in both */
	char version[PF_PGSERVER_PATH_MAX + 16];
	snprintf(version, sizeof(version), "%s/pg/PG_VERSION", abs);
	if (file_exists(version) && strlen(abs) <= 80) {
		snprintf(where, cap, "%s/pg", abs);
		return 0;
	}
	cluster_home(abs, as_postgres, uid, gid, home, sizeof(home));
	snprintf(where, cap, "%s/pg", home);
	snprintf(version, sizeof(version), "%s/pg/PG_VERSION", home);
	return file_exists(version) ? 0 : 1;
}

static int ensure_dir(pf_pgserver *pg, const char *dir, mode_t mode)
{
	if (mkdir(dir, mode) != 0 && errno != EEXIST)
		return PF_EIO;
	if (pg->as_postgres && chown(dir, pg->uid, pg->gid) != 0)
		return PF_EIO;
	if (chmod(dir, mode) != 0)
		return PF_EIO;
	return 0;
}

/* fork + exec argv as the database user, output to the log file. */
static pid_t spawn(pf_pgserver *pg, char *const argv[])
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* child */
	int fd = open(pg->logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		if (pg->as_postgres && fchown(fd, pg->uid, pg->gid) != 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0) {
		dup2(devnull, 0);
		close(devnull);
	}
	/* own process group: a Ctrl-C on propflow's terminal must not reach
	 * PostgreSQL before propflow asks it to stop */
	setpgid(0, 0);
	if (pg->as_postgres) {
		if (setgroups(0, NULL) != 0 || setgid(pg->gid) != 0 || setuid(pg->uid) != 0)
			_exit(126);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(argv[0], argv);
	_exit(127);
}

/* postmaster.pid: line 1 pid, line 8 status ("ready", "starting", ...). */
static pid_t read_pidfile(const pf_pgserver *pg, char *status, size_t cap)
{
	char p[PF_PGSERVER_PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/postmaster.pid", pg->pgdir);
	if (status && cap)
		status[0] = 0; /* also when the file is not there yet */
	FILE *f = fopen(p, "r");
	if (!f)
		return 0;
	char line[512];
	pid_t pid = 0;
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (n == 1)
			pid = (pid_t)atol(line);
		if (n == 8 && status) {
			size_t len = strcspn(line, " \r\n");
			if (len >= cap)
				len = cap - 1;
			memcpy(status, line, len);
			status[len] = 0;
		}
	}
	fclose(f);
	return pid;
}

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static void pg_spawn_postmaster(pf_pgserver *pg)
{
	char postgres[PF_PGSERVER_PATH_MAX + 16];
	snprintf(postgres, sizeof(postgres), "%s/postgres", pg->bindir);
	char *argv[] = {postgres,
	                "-D",
	                pg->pgdir,
	                "-k",
	                pg->rundir,
	                "-c",
	                "listen_addresses=",
	                "-c",
	                "unix_socket_permissions=0770",
	                NULL};
	pg->child = spawn(pg, argv);
	if (pg->child < 0) {
		pg->child = 0;
		pg_done(pg, "cannot fork postgres");
		return;
	}
	pg->postmaster = pg->child;
	pg->state = PG_STARTING;
	pg->waited_ms = 0;
	pf_info("pg: started postgres (pid %d) in %s", (int)pg->child, pg->pgdir);
	pg_arm(pg);
}

static void pg_after_initdb(pf_pgserver *pg)
{
	char status[32];
	pid_t pid = read_pidfile(pg, status, sizeof(status));
	if (pid_alive(pid)) {
		pg->postmaster = pid;
		pg->adopted = true;
		/* every command line run adopts the server's: not news */
		pf_debug("pg: adopted running postgres (pid %d) in %s", (int)pid, pg->pgdir);
		pg->state = PG_STARTING; /* wait for "ready" */
		pg->waited_ms = 0;
		pg_arm(pg);
		return;
	}
	pg_spawn_postmaster(pg);
}

static void pg_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_pgserver *pg = arg;
	int status;
	pg->waited_ms += PG_POLL_MS;
	switch (pg->state) {
	case PG_INITDB: {
		pid_t r = waitpid(pg->child, &status, WNOHANG);
		if (r == 0) {
			pg_arm(pg);
			return;
		}
		pg->child = 0;
		if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			pf_error("pg: initdb failed; see %s", pg->logpath);
			pg_done(pg, "initdb failed");
			return;
		}
		pf_info("pg: initdb done");
		pg_after_initdb(pg);
		return;
	}
	case PG_STARTING: {
		if (pg->child) {
			pid_t r = waitpid(pg->child, &status, WNOHANG);
			if (r != 0) {
				pg->child = 0;
				pf_error("pg: postgres exited during start; see %s", pg->logpath);
				pg_done(pg, "postgres failed to start");
				return;
			}
		} else if (!pid_alive(pg->postmaster)) {
			pg_done(pg, "adopted postgres went away");
			return;
		}
		char st[32];
		read_pidfile(pg, st, sizeof(st));
		if (strcmp(st, "ready") == 0) {
			pg->state = PG_RUNNING;
			pg_done(pg, NULL);
			return;
		}
		if (pg->waited_ms > PG_START_TIMEOUT_MS) {
			pg_done(pg, "postgres did not become ready");
			return;
		}
		pg_arm(pg);
		return;
	}
	case PG_STOPPING: {
		bool gone;
		if (pg->child) {
			pid_t r = waitpid(pg->child, &status, WNOHANG);
			gone = r != 0;
			if (gone)
				pg->child = 0;
		} else {
			gone = !pid_alive(pg->postmaster);
		}
		if (gone) {
			pg->state = PG_STOPPED;
			pf_info("pg: stopped");
			pg_done(pg, NULL);
			return;
		}
		if (pg->waited_ms == PF_PGSERVER_STOP_TIMEOUT_MS) {
			pf_warn("pg: fast shutdown too slow, sending SIGQUIT");
			kill(pg->postmaster, SIGQUIT);
		}
		pg_arm(pg);
		return;
	}
	case PG_RUNNING:
	case PG_STOPPED: return;
	default: abort();
	}
}

pf_pgserver *pf_pgserver_start(struct event_base *base, const char *data_dir, pf_pgserver_cb cb,
                               void *arg, const char **err)
{
	pf_pgserver *pg = calloc(1, sizeof(*pg));
	if (!pg) {
		*err = "out of memory";
		return NULL;
	}
	pg->base = base;
	pg->cb = cb;
	pg->cb_arg = arg;
	pg->timer = evtimer_new(base, pg_poll_cb, pg);
	if (!pg->timer) {
		*err = "out of memory";
		goto fail;
	}
	if (find_bindir(pg->bindir, sizeof(pg->bindir)) != 0) {
		*err = "PostgreSQL server binaries not found (install postgresql)";
		goto fail;
	}
	char abs[PF_PGSERVER_PATH_MAX];
	if (mkdir(data_dir, 0711) != 0 && errno != EEXIST) {
		*err = "cannot create the data directory";
		goto fail;
	}
	if (!realpath(data_dir, abs)) {
		*err = "cannot resolve the data directory";
		goto fail;
	}
	if (geteuid() == 0) {
		if (!postgres_user(&pg->uid, &pg->gid)) {
			*err = "running as root needs a 'postgres' system user to run PostgreSQL";
			goto fail;
		}
		pg->as_postgres = true;
		/* the postgres user must be able to reach DIR/pg and DIR/run */
		struct stat st;
		if (stat(abs, &st) == 0 && !(st.st_mode & S_IXOTH))
			chmod(abs, (st.st_mode & 07777) | S_IXOTH);
	}
	/* where the cluster and its socket live (cluster_home) */
	char home[PF_PGSERVER_PATH_MAX];
	if (cluster_home(abs, pg->as_postgres, pg->uid, pg->gid, home, sizeof(home))) {
		if (mkdir(PF_PGSERVER_FALLBACK_ROOT, 0755) != 0 && errno != EEXIST) {
			*err = "data directory unreachable by the postgres user, "
			       "and " PF_PGSERVER_FALLBACK_ROOT " cannot be created";
			goto fail;
		}
		if (ensure_dir(pg, home, 0711) != 0) {
			*err = "cannot prepare the database directory";
			goto fail;
		}
		pf_debug("pg: %s is not reachable by the postgres user; the cluster lives in %s",
		         abs, home);
	}
	if ((size_t)snprintf(pg->pgdir, sizeof(pg->pgdir), "%s/pg", home) >= sizeof(pg->pgdir) ||
	    (size_t)snprintf(pg->rundir, sizeof(pg->rundir), "%s/run", home) >= 100 ||
	    (size_t)snprintf(pg->logpath, sizeof(pg->logpath), "%s/postgresql.log", abs) >=
	        sizeof(pg->logpath)) {
		/* a Unix socket path is limited to ~107 bytes */
		*err = "data directory path too long for a Unix socket";
		goto fail;
	}
	if (ensure_dir(pg, pg->pgdir, 0700) != 0 || ensure_dir(pg, pg->rundir, 0711) != 0) {
		*err = "cannot prepare the database directories (permissions?)";
		goto fail;
	}
	snprintf(pg->conninfo, sizeof(pg->conninfo),
	         "host=%s user=postgres dbname=postgres application_name=propflow", pg->rundir);

	char versionfile[PF_PGSERVER_PATH_MAX + 16];
	snprintf(versionfile, sizeof(versionfile), "%s/PG_VERSION", pg->pgdir);
	if (!file_exists(versionfile)) {
		char initdb[PF_PGSERVER_PATH_MAX + 16];
		snprintf(initdb, sizeof(initdb), "%s/initdb", pg->bindir);
		char *argv[] = {initdb,  "-D", pg->pgdir, "-U",         "postgres", "-A",
		                "trust", "-E", "UTF8",    "--locale=C", NULL};
		pf_info("pg: creating the embedded database in %s", pg->pgdir);
		pg->child = spawn(pg, argv);
		if (pg->child < 0) {
			*err = "cannot fork initdb";
			goto fail;
		}
		pg->state = PG_INITDB;
		pg_arm(pg);
	} else {
		pg_after_initdb(pg);
	}
	return pg;
fail:
	pf_pgserver_free(pg);
	return NULL;
}

bool pf_pgserver_adopted(const pf_pgserver *pg)
{
	return pg->adopted;
}

const char *pf_pgserver_conninfo(const pf_pgserver *pg)
{
	return pg->conninfo;
}

void pf_pgserver_stop(pf_pgserver *pg, pf_pgserver_cb cb, void *arg)
{
	pg->cb = cb;
	pg->cb_arg = arg;
	if (pg->state == PG_INITDB && pg->child)
		kill(pg->child, SIGTERM);
	if (pg->postmaster <= 0 || pg->state == PG_STOPPED) {
		pg->state = PG_STOPPED;
		pg_done(pg, NULL);
		return;
	}
	pg->state = PG_STOPPING;
	pg->waited_ms = 0;
	kill(pg->postmaster, SIGINT); /* fast shutdown: roll back, checkpoint, exit */
	evtimer_del(pg->timer);
	pg_arm(pg);
}

void pf_pgserver_free(pf_pgserver *pg)
{
	if (!pg)
		return;
	if (pg->timer)
		event_free(pg->timer);
	free(pg);
}

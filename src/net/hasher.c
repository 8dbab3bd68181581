/*
 * hasher.c - scrypt off the event loop. A child process, forked from the
 * server, reads framed requests from a socketpair with blocking reads,
 * runs pf_auth_hash_password / pf_auth_verify_password and writes one
 * framed reply per request, in order. The child never touches libevent:
 * it only has its socket and stdio. The parent keeps a FIFO of jobs;
 * each reply answers the oldest one. If the child goes away, its jobs fail
 * from a deferred event and the next request forks a new child.
 *
 * Wire format (host byte order, both ends are one binary):
 *   request  pf_hasher_req, then pw_len password bytes, then stored_len bytes
 *   reply    pf_hasher_rep, then text_len bytes of encoded hash
 */
#include "propflow/net/hasher.h"
#include "propflow/net/auth.h"
#include "propflow/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define PF_HASHER_ZOMBIE_MAX 8     /* dead children not yet reaped */
#define PF_HASHER_FD_SCAN    65536 /* fds closed in the child when close_range fails */
#define PF_HASHER_DUMMY_PW   "propflow dummy password"

enum { HASHER_VERIFY = 1, HASHER_VERIFY_DUMMY = 2, HASHER_HASH = 3 };

typedef struct pf_hasher_req {
	uint8_t kind;        /* HASHER_* */
	uint8_t log_n;       /* HASHER_HASH only */
	uint16_t pad;        /* zero */
	uint32_t pw_len;     /* 0..PF_AUTH_PASSWORD_MAX */
	uint32_t stored_len; /* < PF_AUTH_HASH_TEXT_MAX, HASHER_VERIFY only */
} pf_hasher_req;

typedef struct pf_hasher_rep {
	int32_t rc;        /* 0, PF_AUTH_MISMATCH or negative */
	uint32_t text_len; /* < PF_AUTH_HASH_TEXT_MAX, HASHER_HASH with rc 0 only */
} pf_hasher_rep;

#define PF_HASHER_FRAME_MAX (sizeof(pf_hasher_req) + PF_AUTH_PASSWORD_MAX + PF_AUTH_HASH_TEXT_MAX)
#define PF_HASHER_REPLY_MAX (sizeof(pf_hasher_rep) + PF_AUTH_HASH_TEXT_MAX)

struct pf_hasher_job {
	pf_hasher_job *next;        /* queue link */
	pf_hasher *h;               /* borrowed: owner */
	uint8_t kind;               /* HASHER_* */
	bool cancelled;             /* callback will not run */
	pf_hasher_verify_cb verify; /* for verify kinds */
	pf_hasher_hash_cb hash;     /* for HASHER_HASH */
	void *arg;                  /* borrowed: callback argument */
	uint8_t *frame;             /* owned: request bytes, wiped once written */
	size_t frame_len;           /* bytes in frame */
	size_t sent;                /* bytes of frame written */
};

typedef struct pf_hasher_queue {
	pf_hasher_job *head; /* owned: oldest */
	pf_hasher_job *tail; /* borrowed: newest */
	size_t n;            /* jobs queued */
} pf_hasher_queue;

struct pf_hasher {
	struct event_base *base;             /* borrowed */
	pid_t pid;                           /* child, 0 when none */
	int fd;                              /* parent end of the socketpair, -1 when none */
	struct event *rev;                   /* owned: fd readable */
	struct event *wev;                   /* owned: fd writable, armed while frames wait */
	struct event *fail_ev;               /* owned: runs the callbacks of failed jobs */
	pf_hasher_queue q;                   /* jobs sent or to send to the current child */
	pf_hasher_job *unsent;               /* borrowed: first job in q not fully written */
	pf_hasher_queue failed;              /* jobs whose child died, callbacks due */
	uint8_t rbuf[PF_HASHER_REPLY_MAX];   /* partial reply */
	size_t rlen;                         /* bytes in rbuf */
	pid_t zombies[PF_HASHER_ZOMBIE_MAX]; /* dead children to reap */
	size_t nzombies;                     /* entries in zombies */
};

static void queue_push(pf_hasher_queue *q, pf_hasher_job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
}

static pf_hasher_job *queue_pop(pf_hasher_queue *q)
{
	pf_hasher_job *j = q->head;
	if (!j)
		return NULL;
	q->head = j->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	j->next = NULL;
	return j;
}

static void job_free(pf_hasher_job *j)
{
	if (!j)
		return;
	if (j->frame) {
		OPENSSL_cleanse(j->frame, j->frame_len);
		free(j->frame);
	}
	free(j);
}

/* ---- the child ---- */

static bool read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void child_close_fds(int keep)
{
	/* close_range(2) when the kernel has it; otherwise a bounded scan */
	if (keep > 3 && syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) != 0)
		for (int fd = 3; fd < keep; fd++)
			close(fd);
	if (syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) != 0)
		for (int fd = keep + 1; fd < PF_HASHER_FD_SCAN; fd++)
			close(fd);
}

static void child_setup(int fd, pid_t parent)
{
	child_close_fds(fd);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0); /* the parent died before the line above */
	/* The parent's handlers belong to its event loop. A terminal's ^C goes
	 * to the whole process group: the child stays for the parent's
	 * graceful shutdown and dies with it (EOF or PDEATHSIG). */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void __attribute__((noreturn)) child_main(int fd, pid_t parent)
{
	child_setup(fd, parent);
	/* A verify against no user costs one real verify against this. */
	char dummy[PF_AUTH_HASH_TEXT_MAX];
	if (pf_auth_hash_password(PF_HASHER_DUMMY_PW, strlen(PF_HASHER_DUMMY_PW),
	                          PF_AUTH_SCRYPT_LOG_N, dummy, sizeof(dummy)) != 0)
		_exit(1);
	char pw[PF_AUTH_PASSWORD_MAX];
	char stored[PF_AUTH_HASH_TEXT_MAX];
	for (;;) {
		pf_hasher_req req;
		if (!read_full(fd, &req, sizeof(req)))
			break;
		if (req.pw_len > PF_AUTH_PASSWORD_MAX || req.stored_len >= PF_AUTH_HASH_TEXT_MAX)
			break;
		if (!read_full(fd, pw, req.pw_len) || !read_full(fd, stored, req.stored_len))
			break;
		stored[req.stored_len] = '\0';
		pf_hasher_rep rep = {0, 0};
		char out[PF_AUTH_HASH_TEXT_MAX];
		switch (req.kind) {
		case HASHER_VERIFY: rep.rc = pf_auth_verify_password(pw, req.pw_len, stored); break;
		case HASHER_VERIFY_DUMMY:
			rep.rc = pf_auth_verify_password(pw, req.pw_len, dummy);
			if (rep.rc >= 0)
				rep.rc = PF_AUTH_MISMATCH;
			break;
		case HASHER_HASH:
			rep.rc = pf_auth_hash_password(pw, req.pw_len, req.log_n, out, sizeof(out));
			if (rep.rc == 0)
				rep.text_len = (uint32_t)strlen(out);
			break;
		default: rep.rc = PF_EINVAL; break;
		}
		OPENSSL_cleanse(pw, sizeof(pw));
		if (!write_full(fd, &rep, sizeof(rep)) || !write_full(fd, out, rep.text_len))
			break;
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	_exit(0);
}

/* ---- the parent ---- */

static void read_cb(evutil_socket_t fd, short what, void *arg);
static void write_cb(evutil_socket_t fd, short what, void *arg);

static void reap_zombies(pf_hasher *h, bool block)
{
	size_t keep = 0;
	for (size_t i = 0; i < h->nzombies; i++) {
		pid_t r;
		do
			r = waitpid(h->zombies[i], NULL, block ? 0 : WNOHANG);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			h->zombies[keep++] = h->zombies[i];
		/* r < 0 (ECHILD): someone else reaped it */
	}
	h->nzombies = keep;
}

/* Drop the current child (why NULL: on purpose, not logged); its jobs
 * fail from fail_ev, from the loop. */
static void child_gone(pf_hasher *h, const char *why)
{
	if (h->pid > 0) {
		if (why)
			pf_warn("hasher: child %d gone (%s)", (int)h->pid, why);
		kill(h->pid, SIGKILL);
		if (h->nzombies == PF_HASHER_ZOMBIE_MAX)
			reap_zombies(h, true); /* each was SIGKILLed: quick */
		h->zombies[h->nzombies++] = h->pid;
		reap_zombies(h, false);
		h->pid = 0;
	}
	if (h->rev) {
		event_free(h->rev);
		h->rev = NULL;
	}
	if (h->wev) {
		event_free(h->wev);
		h->wev = NULL;
	}
	if (h->fd >= 0) {
		close(h->fd);
		h->fd = -1;
	}
	h->rlen = 0;
	h->unsent = NULL;
	pf_hasher_job *j;
	while ((j = queue_pop(&h->q)))
		queue_push(&h->failed, j);
	if (h->failed.n)
		event_active(h->fail_ev, EV_TIMEOUT, 0);
}

static void fail_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_hasher *h = arg;
	/* Callbacks may submit: new jobs go to q, never to this list. */
	pf_hasher_job *j;
	while ((j = queue_pop(&h->failed))) {
		if (!j->cancelled) {
			if (j->kind == HASHER_HASH)
				j->hash(j->arg, PF_ECLOSED, NULL);
			else
				j->verify(j->arg, PF_ECLOSED);
		}
		job_free(j);
	}
}

static int child_start(pf_hasher *h)
{
	reap_zombies(h, false);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		pf_error("hasher: socketpair: %s", strerror(errno));
		return PF_EIO;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		pf_error("hasher: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return PF_EIO;
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(sv[1], parent);
	}
	close(sv[1]);
	h->pid = pid;
	h->fd = sv[0];
	int fl = fcntl(h->fd, F_GETFL);
	if (fl < 0 || fcntl(h->fd, F_SETFL, fl | O_NONBLOCK) != 0)
		goto fail;
	h->rev = event_new(h->base, h->fd, EV_READ | EV_PERSIST, read_cb, h);
	h->wev = event_new(h->base, h->fd, EV_WRITE, write_cb, h);
	if (!h->rev || !h->wev || event_add(h->rev, NULL) != 0)
		goto fail;
	pf_debug("hasher: child %d started", (int)pid);
	return 0;
fail:
	pf_error("hasher: cannot watch the child's socket");
	child_gone(h, "setup failed");
	return PF_EIO;
}

/* Write queued frames until done or the socket is full. */
static void flush(pf_hasher *h)
{
	while (h->unsent) {
		pf_hasher_job *j = h->unsent;
		ssize_t n = send(h->fd, j->frame + j->sent, j->frame_len - j->sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (event_add(h->wev, NULL) != 0)
				child_gone(h, "cannot wait to write");
			return;
		}
		if (n <= 0) {
			child_gone(h, strerror(errno));
			return;
		}
		j->sent += (size_t)n;
		if (j->sent == j->frame_len) {
			OPENSSL_cleanse(j->frame, j->frame_len);
			free(j->frame);
			j->frame = NULL;
			h->unsent = j->next;
		}
	}
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
	flush(arg);
}

/* One whole reply in rbuf: answer the oldest job. */
static void answer(pf_hasher *h, const pf_hasher_rep *rep, const char *text)
{
	pf_hasher_job *j = queue_pop(&h->q);
	if (!j->cancelled) {
		if (j->kind == HASHER_HASH) {
			if (rep->rc == 0)
				j->hash(j->arg, 0, text);
			else
				j->hash(j->arg, rep->rc < 0 ? rep->rc : PF_EIO, NULL);
		} else {
			j->verify(j->arg, rep->rc);
		}
	}
	job_free(j);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_hasher *h = arg;
	if (h->nzombies)
		reap_zombies(h, false); /* a dead child is one by now */
	for (;;) {
		ssize_t n = recv(h->fd, h->rbuf + h->rlen, sizeof(h->rbuf) - h->rlen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			child_gone(h, n == 0 ? "end of stream" : strerror(errno));
			return;
		}
		h->rlen += (size_t)n;
		while (h->rlen >= sizeof(pf_hasher_rep)) {
			pf_hasher_rep rep;
			memcpy(&rep, h->rbuf, sizeof(rep));
			if (rep.text_len >= PF_AUTH_HASH_TEXT_MAX || !h->q.head ||
			    h->q.head == h->unsent) {
				child_gone(h, "protocol error");
				return;
			}
			size_t whole = sizeof(rep) + rep.text_len;
			if (h->rlen < whole)
				break;
			char text[PF_AUTH_HASH_TEXT_MAX];
			memcpy(text, h->rbuf + sizeof(rep), rep.text_len);
			text[rep.text_len] = '\0';
			memmove(h->rbuf, h->rbuf + whole, h->rlen - whole);
			h->rlen -= whole;
			pid_t pid = h->pid;
			answer(h, &rep, text);
			/* a callback may have made the child go (a failed submit) */
			if (h->pid != pid)
				return;
		}
	}
}

pf_hasher *pf_hasher_new(struct event_base *base)
{
	pf_hasher *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->base = base;
	h->fd = -1;
	h->fail_ev = event_new(base, -1, 0, fail_cb, h);
	if (!h->fail_ev || child_start(h) != 0) {
		pf_hasher_free(h);
		return NULL;
	}
	return h;
}

void pf_hasher_free(pf_hasher *h)
{
	if (!h)
		return;
	pf_hasher_job *j;
	while ((j = queue_pop(&h->q)))
		job_free(j);
	h->unsent = NULL;
	child_gone(h, NULL);
	while ((j = queue_pop(&h->failed)))
		job_free(j);
	reap_zombies(h, true);
	if (h->fail_ev)
		event_free(h->fail_ev);
	free(h);
}

static pf_hasher_job *submit(pf_hasher *h, uint8_t kind, int log_n, const char *pw, size_t len,
                             const char *stored)
{
	size_t slen = stored ? strlen(stored) : 0;
	/* Input the child would refuse still goes through it, so that the
	 * answer comes from the loop like any other: an over-long stored
	 * hash is sent empty (EINVAL), an over-long password is sent empty
	 * to hash (EINVAL) or checked against the dummy (MISMATCH). */
	if (slen >= PF_AUTH_HASH_TEXT_MAX)
		slen = 0;
	if (len > PF_AUTH_PASSWORD_MAX) {
		if (kind == HASHER_HASH) {
			len = 0;
		} else {
			kind = HASHER_VERIFY_DUMMY;
			len = PF_AUTH_PASSWORD_MAX;
			slen = 0;
		}
	}
	if (log_n < 0 || log_n > UINT8_MAX)
		log_n = 0;
	if (h->q.n >= PF_HASHER_QUEUE_MAX)
		return NULL;
	if (h->pid <= 0 && child_start(h) != 0)
		return NULL;
	pf_hasher_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->h = h;
	j->kind = kind;
	pf_hasher_req req = {kind, (uint8_t)log_n, 0, (uint32_t)len, (uint32_t)slen};
	j->frame_len = sizeof(req) + len + slen;
	j->frame = malloc(j->frame_len);
	if (!j->frame) {
		free(j);
		return NULL;
	}
	memcpy(j->frame, &req, sizeof(req));
	if (len)
		memcpy(j->frame + sizeof(req), pw, len);
	if (slen)
		memcpy(j->frame + sizeof(req) + len, stored, slen);
	queue_push(&h->q, j);
	if (!h->unsent)
		h->unsent = j;
	flush(h);
	return j;
}

pf_hasher_job *pf_hasher_verify(pf_hasher *h, const char *pw, size_t len, const char *stored,
                                pf_hasher_verify_cb cb, void *arg)
{
	pf_hasher_job *j =
	    submit(h, stored ? HASHER_VERIFY : HASHER_VERIFY_DUMMY, 0, pw, len, stored);
	if (j) {
		j->verify = cb;
		j->arg = arg;
	}
	return j;
}

pf_hasher_job *pf_hasher_hash(pf_hasher *h, const char *pw, size_t len, int log_n,
                              pf_hasher_hash_cb cb, void *arg)
{
	pf_hasher_job *j = submit(h, HASHER_HASH, log_n, pw, len, NULL);
	if (j) {
		j->hash = cb;
		j->arg = arg;
	}
	return j;
}

void pf_hasher_cancel(pf_hasher_job *job)
{
	if (job)
		job->cancelled = true;
}

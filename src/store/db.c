/*
 * db.c - non-blocking libpq connection pool on the event loop.
 *
 * Each connection is a small state machine (backoff -> connecting -> ready)
 * with two FIFO queues: units waiting to be sent and units in flight.
 * In pipeline mode a unit is sent as its statements plus one Sync, so the
 * server runs them as one implicit transaction and returns results as
 *   stmt 1 result, NULL, stmt 2 result, NULL, ..., PGRES_PIPELINE_SYNC
 * (libpq sends no NULL after a PGRES_PIPELINE_SYNC, unlike after each
 * statement: a loop that stops at the first NULL would mistake the next
 * unit's results for this one's). We count where we
 * are inside the head unit instead of stopping at the first NULL.
 */
#include "propflow/store/db.h"
#include "propflow/base/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct db_stmt {
	const char *sql; /* borrowed static text, or owned when simple or owned */
	bool simple;     /* multi-statement text, sql owned */
	bool owned;      /* sql owned (pf_db_unit_stmt_owned) */
	int nparams;
	Oid types[PF_DB_PARAMS_MAX];
	char *values[PF_DB_PARAMS_MAX]; /* owned */
	int lengths[PF_DB_PARAMS_MAX];
	int formats[PF_DB_PARAMS_MAX];
} db_stmt;

struct pf_db_unit {
	pf_db_unit *next; /* queue link */
	pf_db_cb cb;
	void *arg; /* borrowed: the submitter's */
	int nstmt;
	db_stmt stmts[PF_DB_STMTS_MAX];
	int build_err; /* first error while building; the unit fails on submit */
	/* while in flight */
	PGresult *res[PF_DB_STMTS_MAX]; /* owned until the callback returns */
	int cur;                        /* statement whose results are being read */
	bool got;                       /* cur has produced its result, NULL expected next */
	char *error;                    /* owned copy of the first error message */
	char sqlstate[6];
};

typedef struct unit_queue {
	pf_db_unit *head, *tail;
	size_t len;
} unit_queue;

typedef enum conn_state {
	CONN_BACKOFF = 0, /* waiting for the reconnect timer */
	CONN_CONNECTING,  /* PQconnectPoll in progress */
	CONN_READY,       /* accepting units */
} conn_state;

typedef struct db_conn {
	pf_db *db; /* borrowed: the pool */
	int index;
	conn_state state;
	PGconn *pg;          /* owned */
	int sock;            /* socket the io event watches, -1 none */
	short watching;      /* EV_READ/EV_WRITE currently watched */
	struct event *io;    /* owned */
	struct event *timer; /* owned: backoff */
	struct event *kick;  /* owned: deferred send */
	unsigned backoff_ms;
	unit_queue pending;  /* not sent yet */
	unit_queue inflight; /* sent, results awaited */
} db_conn;

struct pf_db {
	struct event_base *base; /* borrowed */
	char *conninfo;          /* owned */
	char label[32];
	bool pipeline;
	int pipeline_max;
	int nconn;
	db_conn *conns; /* owned array */
	int ready;
	void (*ready_cb)(void *arg);
	void *ready_arg;
	int backend_nice; /* niceness given to local backends of this pool, 0 none */
};

static void conn_io_cb(evutil_socket_t fd, short what, void *arg);
static void conn_connect(db_conn *c);
static void conn_broken(db_conn *c, const char *why);
static void conn_pump(db_conn *c);

static void q_push(unit_queue *q, pf_db_unit *u)
{
	u->next = NULL;
	if (q->tail)
		q->tail->next = u;
	else
		q->head = u;
	q->tail = u;
	q->len++;
}

static pf_db_unit *q_pop(unit_queue *q)
{
	pf_db_unit *u = q->head;
	if (!u)
		return NULL;
	q->head = u->next;
	if (!q->head)
		q->tail = NULL;
	q->len--;
	u->next = NULL;
	return u;
}

/* ---------------- units ---------------- */

pf_db_unit *pf_db_unit_new(pf_db_cb cb, void *arg)
{
	pf_db_unit *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->cb = cb;
	u->arg = arg;
	return u;
}

void pf_db_unit_free(pf_db_unit *u)
{
	if (!u)
		return;
	for (int i = 0; i < u->nstmt; i++) {
		db_stmt *s = &u->stmts[i];
		for (int k = 0; k < s->nparams; k++)
			free(s->values[k]);
		if (s->simple || s->owned)
			free((char *)s->sql);
	}
	for (int i = 0; i < PF_DB_STMTS_MAX; i++)
		if (u->res[i])
			PQclear(u->res[i]);
	free(u->error);
	free(u);
}

int pf_db_unit_error(const pf_db_unit *u)
{
	return u ? u->build_err : PF_ENOMEM;
}

void pf_db_unit_fail(pf_db_unit *u, int err)
{
	if (u && !u->build_err)
		u->build_err = err;
}

int pf_db_unit_stmt(pf_db_unit *u, const char *sql)
{
	if (!u)
		return PF_ENOMEM;
	if (u->build_err)
		return u->build_err; /* sticky: see db.h */
	if (u->nstmt >= PF_DB_STMTS_MAX) {
		u->build_err = PF_ELIMIT;
		return PF_ELIMIT;
	}
	db_stmt *s = &u->stmts[u->nstmt++];
	s->sql = sql;
	return 0;
}

int pf_db_unit_stmt_owned(pf_db_unit *u, char *sql)
{
	if (!sql) {
		pf_db_unit_fail(u, PF_ENOMEM);
		return pf_db_unit_error(u);
	}
	int rc = pf_db_unit_stmt(u, sql);
	if (rc != 0) {
		free(sql);
		return rc;
	}
	u->stmts[u->nstmt - 1].owned = true;
	return 0;
}

int pf_db_unit_simple(pf_db_unit *u, const char *sql)
{
	if (!u)
		return PF_ENOMEM;
	if (u->build_err)
		return u->build_err;
	char *copy = strdup(sql);
	if (!copy) {
		u->build_err = PF_ENOMEM;
		return PF_ENOMEM;
	}
	int rc = pf_db_unit_stmt(u, copy);
	if (rc != 0) {
		free(copy);
		return rc;
	}
	u->stmts[u->nstmt - 1].simple = true;
	return 0;
}

static int add_param(pf_db_unit *u, Oid type, char *val, int len, int format)
{
	if (!u) {
		free(val);
		return PF_ENOMEM;
	}
	if (u->build_err) {
		free(val);
		return u->build_err;
	}
	if (u->nstmt == 0 || u->stmts[u->nstmt - 1].simple) {
		free(val);
		u->build_err = PF_EINVAL;
		return PF_EINVAL;
	}
	db_stmt *s = &u->stmts[u->nstmt - 1];
	if (s->nparams >= PF_DB_PARAMS_MAX) {
		free(val);
		u->build_err = PF_ELIMIT;
		return PF_ELIMIT;
	}
	s->types[s->nparams] = type;
	s->values[s->nparams] = val;
	s->lengths[s->nparams] = len;
	s->formats[s->nparams] = format;
	s->nparams++;
	return 0;
}

int pf_db_unit_text(pf_db_unit *u, const char *val)
{
	char *copy = NULL;
	if (!u)
		return PF_ENOMEM;
	if (u->build_err)
		return u->build_err;
	if (val) {
		copy = strdup(val);
		if (!copy) {
			u->build_err = PF_ENOMEM;
			return PF_ENOMEM;
		}
	}
	return add_param(u, 0, copy, 0, 0);
}

int pf_db_unit_int(pf_db_unit *u, int64_t val)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lld", (long long)val);
	return pf_db_unit_text(u, buf);
}

int pf_db_unit_binary_owned(pf_db_unit *u, uint32_t oid, char *buf, size_t len)
{
	if (u && !u->build_err && len > INT32_MAX) {
		free(buf);
		u->build_err = PF_ELIMIT;
		return PF_ELIMIT;
	}
	return add_param(u, oid, buf, (int)len, 1);
}

/* The reason of an error the server sent: class 08 (connection exception)
 * and the 57P0x that mean "not now" make the database unavailable; any
 * other state is the statement's own failure. */
static pf_db_reason reason_of_sqlstate(const char *st)
{
	if (strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
	    strcmp(st, "57P03") == 0 || strcmp(st, "57P05") == 0)
		return PF_DB_UNAVAILABLE;
	return PF_DB_QUERY;
}

/* Run the callback once with the unit's results, then free the unit. A
 * unit that failed without a message (out of memory) reports `fallback`;
 * reason is the caller's when it failed the unit itself, else it comes
 * from the server's error. */
static void unit_finish(pf_db_unit *u, const char *fallback, bool lost, pf_db_reason reason)
{
	if (reason == PF_DB_OK && u->error)
		reason = reason_of_sqlstate(u->sqlstate);
	pf_db_result r = {
	    .nres = u->nstmt,
	    .res = u->res,
	    .error = u->error ? u->error : fallback,
	    .sqlstate = u->sqlstate,
	    .reason = reason,
	    /* class 08: connection exception; 57P0x: the server is shutting down */
	    .lost = lost || (u->error && (strncmp(u->sqlstate, "08", 2) == 0 ||
	                                  strncmp(u->sqlstate, "57P0", 4) == 0)),
	};
	if (u->cb)
		u->cb(u->arg, &r);
	pf_db_unit_free(u);
}

static void unit_complete(pf_db_unit *u)
{
	unit_finish(u, NULL, false, PF_DB_OK);
}

/* lost: the unit may have reached the server (see pf_db_result.lost). */
static void unit_fail(pf_db_unit *u, const char *why, bool lost, pf_db_reason reason)
{
	if (!u->error)
		u->error = strdup(why);
	unit_finish(u, why, lost, reason);
}

/* ---------------- results ---------------- */

const char *pf_db_value(const pf_db_result *r, int i, int row, int col)
{
	if (i < 0 || i >= r->nres || !r->res[i])
		return NULL;
	if (row >= PQntuples(r->res[i]) || col >= PQnfields(r->res[i]))
		return NULL;
	if (PQgetisnull(r->res[i], row, col))
		return NULL;
	return PQgetvalue(r->res[i], row, col);
}

int pf_db_rows(const pf_db_result *r, int i)
{
	if (i < 0 || i >= r->nres || !r->res[i])
		return 0;
	return PQntuples(r->res[i]);
}

/* ---------------- connections ---------------- */

static void conn_watch(db_conn *c, short what)
{
	int sock = c->pg ? PQsocket(c->pg) : -1;
	if (c->io && sock == c->sock && what == c->watching)
		return;
	if (c->io) {
		event_free(c->io);
		c->io = NULL;
	}
	c->sock = sock;
	c->watching = what;
	if (sock < 0 || !what)
		return;
	c->io = event_new(c->db->base, sock, what | EV_PERSIST, conn_io_cb, c);
	if (!c->io || event_add(c->io, NULL) != 0) {
		pf_error("db %s/%d: cannot watch socket", c->db->label, c->index);
		return;
	}
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_connect(arg);
}

static void conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	db_conn *c = arg;
	if (c->state == CONN_READY)
		conn_pump(c);
}

/*
 * A pool of bulk work (import batches) can run its backends at a lower CPU
 * priority, so that on a busy machine interactive reads from the other
 * pool get the CPU first. Only for a server on this machine (Unix socket):
 * the backend is then a local process we may renice.
 */
static void conn_renice(db_conn *c)
{
	pf_db *db = c->db;
	const char *host = PQhost(c->pg);
	if (db->backend_nice == 0 || !host || host[0] != '/')
		return;
	int pid = PQbackendPID(c->pg);
	if (pid > 0 && setpriority(PRIO_PROCESS, (id_t)pid, db->backend_nice) != 0)
		pf_debug("db %s/%d: backend %d keeps its priority: %s", db->label, c->index, pid,
		         strerror(errno));
}

void pf_db_set_backend_nice(pf_db *db, int nice)
{
	db->backend_nice = nice;
}

static void conn_set_ready(db_conn *c, bool ready)
{
	pf_db *db = c->db;
	if (ready == (c->state == CONN_READY))
		return;
	if (ready) {
		c->state = CONN_READY;
		/* each connection's first success is chatter (debug); coming back
		 * after a failure or a loss (a warning) is news */
		if (c->backoff_ms)
			pf_info("db %s/%d: connected after retrying", db->label, c->index);
		else
			pf_debug("db %s/%d: connected", db->label, c->index);
		c->backoff_ms = 0;
		db->ready++;
		conn_renice(c);
		if (db->ready == 1 && db->ready_cb)
			db->ready_cb(db->ready_arg);
	} else {
		db->ready--;
	}
}

static void conn_schedule_retry(db_conn *c)
{
	c->state = CONN_BACKOFF;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : PF_DB_BACKOFF_MIN_MS;
	if (c->backoff_ms > PF_DB_BACKOFF_MAX_MS)
		c->backoff_ms = PF_DB_BACKOFF_MAX_MS;
	struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

/* Server notices ("relation already exists, skipping") go to the debug log,
 * not to stderr where libpq would print them. */
static void conn_notice(void *arg, const char *msg)
{
	db_conn *c = arg;
	pf_debug("db %s/%d: %.*s", c->db->label, c->index, (int)strcspn(msg, "\n"), msg);
}

static void conn_connect(db_conn *c)
{
	c->pg = PQconnectStart(c->db->conninfo);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		pf_debug("db %s/%d: connect failed: %s", c->db->label, c->index,
		         c->pg ? PQerrorMessage(c->pg) : "out of memory");
		if (c->pg)
			PQfinish(c->pg);
		c->pg = NULL;
		conn_schedule_retry(c);
		return;
	}
	PQsetNoticeProcessor(c->pg, conn_notice, c);
	if (PQsetnonblocking(c->pg, 1) != 0) {
		conn_broken(c, "cannot set non-blocking");
		return;
	}
	c->state = CONN_CONNECTING;
	conn_watch(c, EV_WRITE);
}

/* Fail what was in flight, keep what was queued, reconnect later. */
static void conn_broken(db_conn *c, const char *why)
{
	bool was_ready = c->state == CONN_READY;
	if (was_ready)
		pf_warn("db %s/%d: connection lost: %s", c->db->label, c->index, why);
	else
		pf_debug("db %s/%d: connect failed: %s", c->db->label, c->index, why);
	conn_set_ready(c, false);
	conn_watch(c, 0);
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->sock = -1;
	conn_schedule_retry(c);
	pf_db_unit *u;
	while ((u = q_pop(&c->inflight)))
		unit_fail(u, "database connection lost", true, PF_DB_UNAVAILABLE);
}

static void conn_poll_connect(db_conn *c)
{
	PostgresPollingStatusType st = PQconnectPoll(c->pg);
	switch (st) {
	case PGRES_POLLING_READING: conn_watch(c, EV_READ); return;
	case PGRES_POLLING_WRITING: conn_watch(c, EV_WRITE); return;
	case PGRES_POLLING_OK:
		if (c->db->pipeline && PQenterPipelineMode(c->pg) != 1) {
			conn_broken(c, "cannot enter pipeline mode");
			return;
		}
		conn_watch(c, EV_READ);
		conn_set_ready(c, true);
		conn_pump(c);
		return;
	case PGRES_POLLING_FAILED:
	default: {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->pg));
		msg[strcspn(msg, "\n")] = 0;
		conn_broken(c, msg);
		return;
	}
	}
}

static void unit_record_error(pf_db_unit *u, PGresult *r)
{
	if (u->error)
		return;
	const char *msg = PQresultErrorMessage(r);
	u->error = strdup(msg && *msg ? msg : "statement failed");
	if (u->error)
		u->error[strcspn(u->error, "\n")] = 0;
	const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	snprintf(u->sqlstate, sizeof(u->sqlstate), "%s", st ? st : "");
}

/* Read every result that is available without blocking. */
static void conn_read_results(db_conn *c)
{
	while (c->inflight.head && c->state == CONN_READY) {
		if (PQisBusy(c->pg))
			return;
		pf_db_unit *u = c->inflight.head;
		PGresult *r = PQgetResult(c->pg);
		if (!r) {
			if (!u->got) {
				if (!c->db->pipeline) {
					/* non-pipeline: NULL ends the unit */
					unit_complete(q_pop(&c->inflight));
					continue;
				}
				return; /* nothing more right now */
			}
			u->got = false;
			u->cur++;
			if (!c->db->pipeline) {
				/* NULL after the last result ends a non-pipeline unit */
				unit_complete(q_pop(&c->inflight));
			}
			continue;
		}
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			unit_complete(q_pop(&c->inflight));
			continue;
		}
		if (st == PGRES_FATAL_ERROR)
			unit_record_error(u, r);
		if (st == PGRES_PIPELINE_ABORTED && !u->error)
			u->error = strdup("pipeline aborted");
		int slot = c->db->pipeline ? u->cur : 0;
		if (slot < PF_DB_STMTS_MAX) {
			if (u->res[slot])
				PQclear(u->res[slot]); /* simple query: keep the last */
			u->res[slot] = r;
		} else {
			PQclear(r);
		}
		u->got = true;
		if (!c->db->pipeline && st == PGRES_FATAL_ERROR) {
			/* keep reading until NULL; the unit ends there */
		}
	}
}

static int conn_send(db_conn *c, pf_db_unit *u)
{
	for (int i = 0; i < u->nstmt; i++) {
		db_stmt *s = &u->stmts[i];
		int ok;
		if (s->simple)
			ok = PQsendQuery(c->pg, s->sql);
		else
			ok = PQsendQueryParams(c->pg, s->sql, s->nparams, s->types,
			                       (const char *const *)s->values, s->lengths,
			                       s->formats, 0);
		if (!ok)
			return PF_EDB;
	}
	if (c->db->pipeline && !PQpipelineSync(c->pg))
		return PF_EDB;
	return 0;
}

/* Send queued units while the window allows, then flush. */
static void conn_pump(db_conn *c)
{
	int window = c->db->pipeline ? c->db->pipeline_max : 1;
	while (c->state == CONN_READY && c->pending.head && (int)c->inflight.len < window) {
		pf_db_unit *u = q_pop(&c->pending);
		if (u->build_err) {
			unit_fail(u, pf_strerror(u->build_err), false, PF_DB_BUILD);
			continue;
		}
		if (!c->db->pipeline && u->nstmt != 1) {
			unit_fail(u, "non-pipeline units take one statement", false, PF_DB_BUILD);
			continue;
		}
		if (conn_send(c, u) != 0) {
			char msg[256];
			snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->pg));
			msg[strcspn(msg, "\n")] = 0;
			unit_fail(u, msg[0] ? msg : "send failed", true, PF_DB_UNAVAILABLE);
			conn_broken(c, msg);
			return;
		}
		q_push(&c->inflight, u);
	}
	if (c->state != CONN_READY)
		return;
	int f = PQflush(c->pg);
	if (f < 0) {
		conn_broken(c, "flush failed");
		return;
	}
	conn_watch(c, f == 1 ? (EV_READ | EV_WRITE) : EV_READ);
}

static void conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	db_conn *c = arg;
	if (c->state == CONN_CONNECTING) {
		conn_poll_connect(c);
		return;
	}
	if (c->state != CONN_READY)
		return;
	if (what & EV_READ) {
		if (!PQconsumeInput(c->pg)) {
			char msg[256];
			snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->pg));
			msg[strcspn(msg, "\n")] = 0;
			conn_broken(c, msg);
			return;
		}
		conn_read_results(c);
		if (c->state == CONN_READY && PQstatus(c->pg) == CONNECTION_BAD) {
			conn_broken(c, "connection bad");
			return;
		}
	}
	if (c->state == CONN_READY)
		conn_pump(c);
}

/* ---------------- pool ---------------- */

pf_db *pf_db_new(struct event_base *base, const char *conninfo, int n, bool pipeline,
                 int pipeline_max, const char *label)
{
	pf_db *db = calloc(1, sizeof(*db));
	if (!db)
		return NULL;
	db->base = base;
	db->conninfo = strdup(conninfo);
	db->pipeline = pipeline;
	db->pipeline_max = pipeline_max > 0 ? pipeline_max : 1;
	db->nconn = n > 0 ? n : 1;
	snprintf(db->label, sizeof(db->label), "%s", label);
	db->conns = calloc((size_t)db->nconn, sizeof(db_conn));
	if (!db->conninfo || !db->conns)
		goto fail;
	for (int i = 0; i < db->nconn; i++) {
		db_conn *c = &db->conns[i];
		c->db = db;
		c->index = i;
		c->sock = -1;
		c->timer = evtimer_new(base, conn_timer_cb, c);
		c->kick = event_new(base, -1, 0, conn_kick_cb, c);
		if (!c->timer || !c->kick)
			goto fail;
	}
	for (int i = 0; i < db->nconn; i++)
		conn_connect(&db->conns[i]);
	return db;
fail:
	pf_db_free(db);
	return NULL;
}

void pf_db_free(pf_db *db)
{
	if (!db)
		return;
	for (int i = 0; db->conns && i < db->nconn; i++) {
		db_conn *c = &db->conns[i];
		pf_db_unit *u;
		while ((u = q_pop(&c->inflight)))
			unit_fail(u, "shutting down", true, PF_DB_UNAVAILABLE);
		while ((u = q_pop(&c->pending)))
			unit_fail(u, "shutting down", true, PF_DB_UNAVAILABLE);
		if (c->io)
			event_free(c->io);
		if (c->timer)
			event_free(c->timer);
		if (c->kick)
			event_free(c->kick);
		if (c->pg)
			PQfinish(c->pg);
	}
	free(db->conns);
	free(db->conninfo);
	free(db);
}

int pf_db_ready_count(const pf_db *db)
{
	return db->ready;
}

size_t pf_db_backlog(const pf_db *db)
{
	size_t n = 0;
	for (int i = 0; i < db->nconn; i++)
		n += db->conns[i].pending.len + db->conns[i].inflight.len;
	return n;
}

void pf_db_on_ready(pf_db *db, void (*cb)(void *arg), void *arg)
{
	db->ready_cb = cb;
	db->ready_arg = arg;
}

void pf_db_submit(pf_db *db, uint64_t key, pf_db_unit *u)
{
	db_conn *c;
	if (key) {
		c = &db->conns[key % (uint64_t)db->nconn];
	} else {
		/* fewest units queued, preferring ready connections */
		c = NULL;
		size_t best = SIZE_MAX;
		for (int i = 0; i < db->nconn; i++) {
			db_conn *k = &db->conns[i];
			size_t load = k->pending.len + k->inflight.len +
			              (k->state == CONN_READY ? 0 : 1000000);
			if (load < best) {
				best = load;
				c = k;
			}
		}
	}
	q_push(&c->pending, u);
	event_active(c->kick, 0, 0);
}

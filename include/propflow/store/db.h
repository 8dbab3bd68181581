/*
 * db.h - a small pool of non-blocking libpq connections driven by the
 * event loop. Connecting uses PQconnectStart/PQconnectPoll; in pipeline
 * mode (the default) every query is a unit of up to PF_DB_STMTS_MAX
 * statements followed by one Sync, so the statements of a unit form one
 * implicit transaction, and up to pipeline_max units are in flight on a
 * connection at once. No call here blocks.
 *
 * A pool made with pipeline=false runs one unit at a time and allows
 * "simple" statements (multi-statement SQL text, no parameters): used to
 * apply migrations.
 *
 * Routing: a unit goes to connection key % n when key != 0 (so one job's
 * batches commit in order on one connection), else to the connection with
 * the fewest units queued.
 *
 * Ownership: the pool owns its connections and every submitted unit; a
 * unit's parameters are copied (or handed over with _param_owned) at
 * submission; results are owned by the pool and valid only during the
 * callback.
 */
#ifndef PROPFLOW_DB_H
#define PROPFLOW_DB_H

#include "propflow/base/common.h"
#include <event2/event.h>
#include <libpq-fe.h>

#define PF_DB_STMTS_MAX      8  /* statements in one unit */
#define PF_DB_PARAMS_MAX     32 /* parameters of one statement */
#define PF_DB_BACKOFF_MIN_MS 50
#define PF_DB_BACKOFF_MAX_MS 2000

/* Type OIDs used for parameters. */
#define PF_OID_INT8        20
#define PF_OID_TEXT        25
#define PF_OID_BYTEA       17
#define PF_OID_TEXT_ARRAY  1009
#define PF_OID_BYTEA_ARRAY 1001

typedef struct pf_db pf_db;
typedef struct pf_db_unit pf_db_unit;

/* Why a unit failed, for callers to switch on (the message is for logs). */
typedef enum pf_db_reason {
	PF_DB_OK = 0,      /* every statement succeeded */
	PF_DB_QUERY,       /* the server refused a statement (constraint, data, a raised
	                      error with its own SQLSTATE): the same unit would fail again */
	PF_DB_UNAVAILABLE, /* the database cannot answer now: the connection broke or could not
	                      be used, the server is shutting down or not accepting connections
	                      (SQLSTATE class 08, 57P01 admin shutdown, 57P02 crash shutdown,
	                      57P03 cannot connect now, 57P05 idle session timeout), or this
	                      pool is closing; worth retrying later */
	PF_DB_BUILD,       /* the unit could not be built or sent as built (out of memory, a cap,
	                      a contract broken by the caller); never reached the server */
} pf_db_reason;

typedef struct pf_db_result {
	int nres;             /* statements in the unit */
	PGresult **res;       /* one per statement; NULL when not reached */
	const char *error;    /* NULL if every statement succeeded, else the first message */
	const char *sqlstate; /* of that error, or "" */
	pf_db_reason reason;  /* PF_DB_OK exactly when error is NULL */
	bool lost;            /* the outcome is unknown: the connection broke or the server is
	                         going down (the unit may or may not have committed) */
} pf_db_result;

typedef void (*pf_db_cb)(void *arg, const pf_db_result *r);

/* A pool of n connections. conninfo is copied. NULL on ENOMEM. */
pf_db *pf_db_new(struct event_base *base, const char *conninfo, int n, bool pipeline,
                 int pipeline_max, const char *label);
/* Fails every queued unit ("shutting down") and closes. */
void pf_db_free(pf_db *db);
/* Connections currently usable. */
int pf_db_ready_count(const pf_db *db);
/* Units queued or in flight across the pool. */
size_t pf_db_backlog(const pf_db *db);
/* Run this pool's backends at niceness nice (only a server reached over a
 * Unix socket, i.e. on this machine; applied as each connection opens). */
void pf_db_set_backend_nice(pf_db *db, int nice);
/* Called once each time the pool goes from no usable connection to one. */
void pf_db_on_ready(pf_db *db, void (*cb)(void *arg), void *arg);

/* --- building a unit ---
 * The first error while building (out of memory, too many statements or
 * parameters) is sticky: it is kept in the unit, every later call is a
 * no-op returning it, and the unit fails with it on submit (its callback
 * gets the error, from the loop, in order with the key's other units). So
 * a builder need not check each call: it submits, and handles the failure
 * where it handles every other one. pf_db_unit_error tells it earlier. A
 * NULL unit (pf_db_unit_new out of memory) reads as PF_ENOMEM everywhere,
 * so that a builder can call on and check once. */
pf_db_unit *pf_db_unit_new(pf_db_cb cb, void *arg);
void pf_db_unit_free(pf_db_unit *u); /* only for a unit never submitted */
/* The sticky build error: 0, or the first error. */
int pf_db_unit_error(const pf_db_unit *u);
/* Sets the sticky build error (err < 0) for a failure of the builder's
 * own, e.g. a parameter it could not make; the first error stays. */
void pf_db_unit_fail(pf_db_unit *u, int err);
/* Begin a statement; sql is borrowed and must be static. */
int pf_db_unit_stmt(pf_db_unit *u, const char *sql);
/* Begin a statement whose text was made for this unit (malloc'd): sql is
 * owned by the unit from now on, even on error (NULL: out of memory). */
int pf_db_unit_stmt_owned(pf_db_unit *u, char *sql);
/* A multi-statement SQL text without parameters (non-pipeline pools
 * only); copied. */
int pf_db_unit_simple(pf_db_unit *u, const char *sql);
/* Parameters of the current statement: text (NULL = SQL NULL), copied. */
int pf_db_unit_text(pf_db_unit *u, const char *val);
int pf_db_unit_int(pf_db_unit *u, int64_t val);
/* Binary parameter of type oid; buf (malloc'd) is owned by the unit from
 * now on, even on error. */
int pf_db_unit_binary_owned(pf_db_unit *u, uint32_t oid, char *buf, size_t len);
/* Queue the unit; the callback always runs exactly once, from the loop
 * (never inside this call). */
void pf_db_submit(pf_db *db, uint64_t key, pf_db_unit *u);

/* --- result helpers --- */
/* Value of row r, column c of statement i as text, or NULL for SQL NULL. */
const char *pf_db_value(const pf_db_result *r, int i, int row, int col);
int pf_db_rows(const pf_db_result *r, int i);

#endif

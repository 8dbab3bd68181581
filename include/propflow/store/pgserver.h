/*
 * pgserver.h - the embedded default database: a PostgreSQL cluster under
 * DATA_DIR/pg, listening only on a Unix socket in DATA_DIR/run, run as the
 * `postgres` system user when propflow runs as root. initdb on first use;
 * an already running postmaster for that directory is adopted, not
 * re-created. Child processes are watched with timers and waitpid(WNOHANG),
 * so nothing blocks the loop.
 *
 * Ownership: pf_pgserver owns its paths and timers; the postmaster it
 * started or adopted is stopped by pf_pgserver_stop.
 */
#ifndef PROPFLOW_PGSERVER_H
#define PROPFLOW_PGSERVER_H

#include "propflow/base/common.h"
#include <event2/event.h>

#define PF_PGSERVER_PATH_MAX        1024
#define PF_PGSERVER_STOP_TIMEOUT_MS 8000
/* home of clusters whose data directory the postgres user cannot reach */
#define PF_PGSERVER_FALLBACK_ROOT "/var/lib/propflow"

typedef struct pf_pgserver pf_pgserver;

/* done(arg, err): err NULL when the server accepts connections at
 * pf_pgserver_conninfo(), else a static message. */
typedef void (*pf_pgserver_cb)(void *arg, const char *err);

/* Prepare directories and start (initdb first if needed). NULL + *err on
 * immediate failure. */
pf_pgserver *pf_pgserver_start(struct event_base *base, const char *data_dir, pf_pgserver_cb cb,
                               void *arg, const char **err);
const char *pf_pgserver_conninfo(const pf_pgserver *pg);
/*
 * Whether data_dir already holds an embedded database, creating nothing:
 * 0 when it does, 1 when not. where gets the directory looked at (the
 * cluster's DIR/pg, or its fallback home). The command line's `user` and
 * `import` check this first: only `serve` creates a database.
 */
int pf_pgserver_find(const char *data_dir, char *where, size_t cap);
/* The postmaster was already running (a server's, or one left by a crash). */
bool pf_pgserver_adopted(const pf_pgserver *pg);
/* Fast shutdown (SIGINT), then SIGQUIT past the timeout; cb(arg, NULL)
 * when the postmaster is gone. */
void pf_pgserver_stop(pf_pgserver *pg, pf_pgserver_cb cb, void *arg);
void pf_pgserver_free(pf_pgserver *pg);

#endif

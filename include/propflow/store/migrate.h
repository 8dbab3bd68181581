/*
 * migrate.h - applies schema/NNN_*.sql in name order at start, each once,
 * each inside its own transaction, recorded in schema_migrations. A
 * session advisory lock serialises instances starting together.
 */
#ifndef PROPFLOW_MIGRATE_H
#define PROPFLOW_MIGRATE_H

#include "propflow/base/common.h"
#include <event2/event.h>

#define PF_MIGRATE_FILES_MAX  256
#define PF_MIGRATE_FILE_MAX   (4 * 1024 * 1024)
#define PF_MIGRATE_TIMEOUT_MS 60000 /* database unreachable for this long: fail */

/* err is NULL on success. */
typedef void (*pf_migrate_cb)(void *arg, const char *err);

/* Reads the directory now (our own files, before the server serves), then
 * works on the loop. Returns 0 or a negative error (cb not called). */
PF_MUST_CHECK int pf_migrate_run(struct event_base *base, const char *conninfo,
                                 const char *schema_dir, pf_migrate_cb cb, void *arg);

/* The names of schema_dir's migrations, sorted, joined by '/' (a name
 * cannot hold one) into a malloc'd *out, their count in *n: what a
 * database must have applied to be ready (GET /api/ready). Reads the
 * directory now: call at start, not on the loop. 0, PF_EIO, PF_ELIMIT
 * (more than PF_MIGRATE_FILES_MAX) or PF_ENOMEM. */
PF_MUST_CHECK int pf_migrate_names(const char *schema_dir, char **out, int *n);

#endif

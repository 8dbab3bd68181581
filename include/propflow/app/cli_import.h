/*
 * cli_import.h - `propflow import FILE`: the file is read by a child
 * process into a pipe (a read of a regular file cannot be made
 * non-blocking, and no read of user data may stall the loop), the loop
 * feeds the pipe to one job with backpressure, a progress line goes to
 * stderr, and a summary (or the job object, with --json) is printed once
 * the job ends.
 *
 * Ownership: the import owns its pipe, its reader child and its events,
 * and shares its job with the job's pipeline; it borrows the loop, the job
 * env and the config. done(arg, code) runs once when the job has ended or
 * could not start.
 */
#ifndef PROPFLOW_CLI_IMPORT_H
#define PROPFLOW_CLI_IMPORT_H

#include "propflow/base/common.h"
#include "propflow/base/config.h"
#include "propflow/jobs/job.h"

#include <event2/event.h>

#define PF_CLI_IMPORT_CHUNK (64 * 1024) /* the file is read in these */

typedef struct pf_cli_import pf_cli_import;

/* Opens path, starts the reader child and creates the job (not started).
 * On failure the reason is printed and *out is NULL. */
PF_MUST_CHECK int pf_cli_import_new(struct event_base *base, pf_job_env *env, const pf_config *cfg,
                                    const char *path, void (*done)(void *arg, int code), void *arg,
                                    pf_cli_import **out);
/* The owner is known: the job starts. */
void pf_cli_import_start(pf_cli_import *imp, int64_t owner);
/* The owner could not be found: the job goes, never started. */
void pf_cli_import_drop(pf_cli_import *imp);
/* A signal: the input is cut, the job ends interrupted with its rows. */
void pf_cli_import_interrupt(pf_cli_import *imp);
/* The job is still held (not ended, not dropped). */
bool pf_cli_import_active(const pf_cli_import *imp);
/* After the loop: prints the summary (json: the job object) and returns
 * the exit status (0 only when the job ended done). */
int pf_cli_import_report(pf_cli_import *imp, bool json);
/* Closes the pipe, reaps the child, frees. NULL is safe. */
void pf_cli_import_free(pf_cli_import *imp);

#endif

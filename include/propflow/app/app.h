/*
 * app.h - the process: start-up (embedded PostgreSQL, migrations, pools,
 * listener), the two commands (serve, import) and an orderly shutdown on
 * SIGINT/SIGTERM. One event_base, one thread.
 */
#ifndef PROPFLOW_APP_H
#define PROPFLOW_APP_H

#include "propflow/base/common.h"
#include "propflow/base/config.h"

#define PF_APP_SHUTDOWN_GRACE_MS 5000 /* jobs get this long to settle on exit */

/* Exit status of the process. */
int pf_app_serve(const pf_config *cfg);
int pf_app_import(const pf_config *cfg, const char *path);
/* `propflow user SUBCOMMAND ...`: argv holds the words after "user". */
int pf_app_user(const pf_config *cfg, int argc, const char **argv);

#endif

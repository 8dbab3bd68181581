/*
 * account_internal.h - what account.c (the gate, the session and password
 * routes, the first run) and account_cli.c (the `propflow user ...`
 * commands) share. Private to those two files: nothing else includes it,
 * and include/propflow/account.h stays the only interface of accounts.
 */
#ifndef PROPFLOW_ACCOUNT_INTERNAL_H
#define PROPFLOW_ACCOUNT_INTERNAL_H

#include "propflow/api/account.h"

/* A timestamp column as ISO 8601 UTC text with milliseconds, in SQL. */
#define ACCOUNT_ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The SHA-256 digest of secret as a bytea parameter of u; 0 or PF_ENOMEM. */
int account_unit_secret(pf_db_unit *u, const char *secret);

/* A boolean column's text ("t" or "f"; NULL counts as false). */
bool account_is_true(const char *v);

#endif

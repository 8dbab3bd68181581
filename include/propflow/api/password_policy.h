/*
 * password_policy.h - what a new password must be, in one place for every
 * way a password is set: POST /api/account/password (and so the page's
 * set-password form), `propflow user add` and `propflow user password`.
 * A password has at least PF_PASSWORD_MIN_CHARS characters (code points)
 * and at most PF_AUTH_PASSWORD_MAX bytes, is valid UTF-8, and is not one of
 * the few hundred most common passwords (compared case-insensitively).
 * Generated passwords (random, 20 characters) always pass.
 */
#ifndef PROPFLOW_PASSWORD_POLICY_H
#define PROPFLOW_PASSWORD_POLICY_H

#include "propflow/base/common.h"

#define PF_PASSWORD_MIN_CHARS 8

/* NULL when pw (len bytes) may be used, else why not (a static message
 * that names the rule, never the password). */
const char *pf_password_policy_check(const char *pw, size_t len);

#endif

/*
 * account_internal.h - what the parts of the account module share. Private
 * to src/api/account*.c: nothing else includes it, and
 * include/propflow/api/account.h stays the only interface of accounts.
 *
 * The parts, lowest first; each calls only the one above it (the gate
 * reaches a session route only through its account_gate_cb):
 *   account.c          the gate, first run, the instance record, the pure
 *                      helpers, and the helpers below
 *   account_session.c  login (password or link), GET/DELETE session, the
 *                      password change, the login throttle
 *   account_cli.c      the `propflow user ...` commands
 */
#ifndef PROPFLOW_ACCOUNT_INTERNAL_H
#define PROPFLOW_ACCOUNT_INTERNAL_H

#include "propflow/api/account.h"

/* A timestamp column as ISO 8601 UTC text with milliseconds, in SQL. */
#define ACCOUNT_ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The SHA-256 digest of secret as a bytea parameter of u; 0 or PF_ENOMEM. */
int account_unit_secret(pf_db_unit *u, const char *secret);

/* A digest as a bytea parameter of u (an allocation failure is sticky in
 * u); 0 or PF_ENOMEM. */
int account_unit_digest(pf_db_unit *u, const uint8_t digest[PF_AUTH_DIGEST_BYTES]);

/* A boolean column's text ("t" or "f"; NULL counts as false). */
bool account_is_true(const char *v);

/* A foreign Origin on a state change or a WebSocket upgrade. With
 * --public-url the origins named there are the only ones; without it, the
 * request's own Host is. */
bool account_origin_refused(pf_account *acc, pf_http_req *req);

/* Why a request is not logged in: told to the client (detail.reason), so
 * that a script or the page knows what to fix, and never whether a user
 * exists (a disabled user's credentials are "unknown" like any other). */
typedef enum unauth_reason {
	UNAUTH_NONE = 0,  /* neither the cookie nor an Authorization header */
	UNAUTH_MALFORMED, /* an Authorization header that is not "Bearer pft_..." */
	UNAUTH_SESSION,   /* a cookie whose session is unknown, expired or ended */
	UNAUTH_TOKEN,     /* a well-formed token that is unknown or revoked */
} unauth_reason;

/* 401 with WWW-Authenticate: Bearer and detail.reason saying why. */
void account_respond_401(pf_http_req *req, unauth_reason why);

/* What the gate learnt; valid during the callback. */
typedef struct account_gate_info {
	pf_user user;
	bool has_password;
	const char *expires_at;               /* ISO; NULL for a bearer */
	uint8_t digest[PF_AUTH_DIGEST_BYTES]; /* of the credential */
} account_gate_info;

typedef void (*account_gate_cb)(void *arg, pf_http_req *req, const account_gate_info *info);

/*
 * The gate of pf_account_authenticate (see account.h for its answers):
 * on success calls cb with what it learnt when cb is set (the session
 * routes), else user_cb with the user. arg goes to either.
 */
void account_gate(pf_account *acc, pf_http_req *req, account_gate_cb cb, pf_account_auth_cb user_cb,
                  void *arg);

#endif

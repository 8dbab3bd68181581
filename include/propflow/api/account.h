/*
 * account.h - users and how a request proves who it is: the gate every
 * owned route goes through (session cookie or bearer token, CSRF and
 * Origin checks), the session and password routes, the login throttle,
 * the first run's administrator, and the `propflow user` commands. All
 * state lives in PostgreSQL (schema/003_accounts.sql), so any instance
 * behind the same database knows every session.
 *
 * Ownership: pf_account borrows its pools, hasher and config; a request
 * being authenticated is tracked by the account until its callback runs or
 * the request aborts.
 */
#ifndef PROPFLOW_ACCOUNT_H
#define PROPFLOW_ACCOUNT_H

#include "propflow/net/auth.h"
#include "propflow/base/common.h"
#include "propflow/base/config.h"
#include "propflow/store/db.h"
#include "propflow/net/hasher.h"
#include "propflow/net/http.h"

#define PF_USER_NAME_MAX      64
#define PF_ACCOUNT_BODY_MAX   4096        /* bytes of a login or password body */
#define PF_ACCOUNT_LINK_TTL_S (24 * 3600) /* one-time login link */

typedef struct pf_user {
	int64_t id;
	char name[PF_USER_NAME_MAX + 1];
	bool admin;
	bool by_cookie;                    /* authenticated by the session cookie */
	char csrf[PF_AUTH_CSRF_CHARS + 1]; /* the session's CSRF token; "" for a bearer */
} pf_user;

typedef struct pf_account {
	const pf_config *cfg; /* borrowed */
	pf_db *readers;       /* borrowed: lookups */
	pf_db *writers;       /* borrowed: sessions, throttle, users */
	pf_hasher *hasher;    /* borrowed; NULL in CLI modes (hash inline) */
	uint64_t logins;      /* successful logins, to prune old rows now and then */
} pf_account;

/* The user is valid only during the call. */
typedef void (*pf_account_auth_cb)(void *arg, pf_http_req *req, const pf_user *user);

/*
 * Who sent req. On success calls cb (later, from the loop) with the user
 * and records the name for the access log (pf_http_req_set_user). Otherwise
 * answers the request itself and never calls cb: 401 (no, malformed,
 * unknown, expired or disabled credentials; detail.reason says which of
 * the first four, a disabled user's reading as unknown), 403 (state-changing request by cookie
 * without the right X-CSRF-Token, or a foreign Origin on a state change or
 * a WebSocket upgrade: not one of --public-url's origins, or without it not
 * the request's Host), 503 (database away). If the request aborts while
 * the lookup runs, cb is not called.
 */
void pf_account_authenticate(pf_account *acc, pf_http_req *req, pf_account_auth_cb cb, void *arg);

/* The account routes (api.c's table sends them here). Each refuses a
 * foreign Origin (403) and then checks its own credentials: */
void pf_account_login(pf_account *acc, pf_http_req *req);    /* POST /api/session */
void pf_account_session(pf_account *acc, pf_http_req *req);  /* GET /api/session */
void pf_account_logout(pf_account *acc, pf_http_req *req);   /* DELETE /api/session */
void pf_account_password(pf_account *acc, pf_http_req *req); /* POST /api/account/password */

/*
 * First run: when no user exists, create the administrator "admin" (no
 * password), give it every ownerless import and make a one-time login
 * link. done(arg, secret, err): secret is the link's secret (NULL when
 * users already existed), err a static message on failure.
 */
void pf_account_first_run(pf_account *acc,
                          void (*done)(void *arg, const char *secret, const char *err), void *arg);

/*
 * `propflow user SUBCOMMAND ...`: argv holds the words after "user"
 * (options already removed by pf_config_parse). Prints results to stdout,
 * errors to stderr, then done(arg, exit_code).
 */
void pf_account_cli(pf_account *acc, int argc, const char **argv, void (*done)(void *arg, int code),
                    void *arg);

/* The user id of NAME for `propflow import --user` (creating "admin" when
 * no user exists): done(arg, id or 0, err). */
void pf_account_resolve_user(pf_account *acc, const char *name,
                             void (*done)(void *arg, int64_t id, const char *err), void *arg);

/* --- pure helpers (exposed for tests and app.c) --- */

/* Whether an Origin header value names the request's own origin
 * ("http[s]://" + Host; a default port written or not counts the same).
 * Case-insensitive. NULL host: false. */
bool pf_account_same_origin(const char *origin, const char *host, bool https);
/* Whether an Origin header value is one of the comma-separated
 * --public-url list's origins (both normalised by pf_config_origin:
 * case, default ports and a trailing path do not matter). */
bool pf_account_public_origin(const char *public_urls, const char *origin);
/* The Set-Cookie value for a session secret:
 * "pf_session=S; Path=/; HttpOnly; SameSite=Strict; Max-Age=N[; Secure]";
 * secret NULL: "pf_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict[; Secure]".
 * 0 or PF_ELIMIT when cap is short. */
PF_MUST_CHECK int pf_account_cookie(const char *secret, int64_t max_age, bool secure, char *out,
                                    size_t cap);
/* "http://HOST:PORT" from a --listen value; a wildcard host (0.0.0.0, ::,
 * "") becomes 127.0.0.1 / [::1]; port != 0 replaces the listen port.
 * 0, PF_EINVAL, PF_ELIMIT. */
PF_MUST_CHECK int pf_account_base_url(const char *listen, int port, char *out, size_t cap);
/* "BASE/#login=SECRET" from the len bytes of a base URL (a --public-url,
 * whose trailing slashes do not double). 0, PF_EINVAL (empty), PF_ELIMIT. */
PF_MUST_CHECK int pf_account_link_url(const char *base, size_t len, const char *secret, char *out,
                                      size_t cap);
/*
 * A serving instance records where it listens (the URL of --listen with the
 * port actually bound) and its first --public-url in server_instances
 * (schema/006), so that `propflow user link` run elsewhere names them.
 * Fire and forget: a failure is logged.
 */
void pf_account_record_instance(pf_account *acc, int port);

/* "http://HOST:PORT/#login=SECRET" from a --listen value; a wildcard host
 * (0.0.0.0, ::, "") becomes 127.0.0.1 / [::1]; port != 0 replaces the
 * listen port (the port actually bound). 0, PF_EINVAL, PF_ELIMIT. */
PF_MUST_CHECK int pf_account_login_url(const char *listen, int port, const char *secret, char *out,
                                       size_t cap);

#endif

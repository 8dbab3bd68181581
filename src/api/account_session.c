/*
 * account_session.c - the routes that make and end sessions and change a
 * password: POST /api/session (a name and password, or a one-time link),
 * GET and DELETE /api/session, POST /api/account/password. Each refuses a
 * foreign Origin first; GET, DELETE and the password change come through
 * the gate (account.c) with what it learnt (account_gate_info).
 *
 * Logins are throttled per client address and per name in login_throttle
 * (shared by every instance): each attempt is counted before any password
 * is hashed, and given back if it succeeds; scrypt itself runs in the
 * hasher child. A route's context (route_ctx) is owned here until it
 * answers.
 */
#include "account_internal.h"

#include "propflow/api/password_policy.h"
#include "propflow/api/respond.h"
#include "propflow/base/log.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCOUNT_KEY_MAX       112 /* "ip:ADDR" / "name:NAME" throttle keys */
#define ACCOUNT_COOKIE_MAX    160 /* a Set-Cookie value */
#define ACCOUNT_CLEANUP_EVERY 64  /* successful logins between prunes of old rows */

/* A successful attempt is not a failure: the address gets it back ($2 with
 * the name's DELETE before it, else $1). */
#define SQL_REFUND_ON(p)                                                                           \
	"UPDATE login_throttle SET failures = failures - 1 WHERE key = " p " AND failures > 0"

/* ----------------------------------------------------------- small helpers */

static void respond_busy(pf_http_req *req)
{
	pf_respond_header(req, "Retry-After", "1");
	pf_http_respond_error(req, 503, "busy, try again", NULL);
}

/* {"user":{...},"csrf":...,"expires_at":...}; csrf/expires_at may be NULL. */
static void respond_user(pf_http_req *req, int64_t id, const char *name, bool admin,
                         bool has_password, const char *csrf, const char *expires_at)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *u = cJSON_CreateObject();
	if (!o || !u) {
		cJSON_Delete(o);
		cJSON_Delete(u);
		pf_respond_oom(req);
		return;
	}
	cJSON_AddNumberToObject(u, "id", (double)id);
	cJSON_AddStringToObject(u, "name", name);
	cJSON_AddBoolToObject(u, "admin", admin);
	cJSON_AddBoolToObject(u, "has_password", has_password);
	cJSON_AddItemToObject(o, "user", u);
	if (csrf)
		cJSON_AddStringToObject(o, "csrf", csrf);
	else
		cJSON_AddNullToObject(o, "csrf");
	if (expires_at)
		cJSON_AddStringToObject(o, "expires_at", expires_at);
	else
		cJSON_AddNullToObject(o, "expires_at");
	pf_respond_cjson(req, 200, o);
}

/* ------------------------------------------------------ login and password */

typedef enum {
	ROUTE_LOGIN,    /* POST /api/session with name and password */
	ROUTE_LINK,     /* POST /api/session with a one-time link */
	ROUTE_PASSWORD, /* POST /api/account/password */
} route_kind;

/* One POST being served; owned by the route until it answers. */
typedef struct route_ctx {
	pf_account *acc;                           /* borrowed */
	pf_http_req *req;                          /* borrowed until answered */
	route_kind kind;                           /* set once the body is parsed (login/link) */
	char *body;                                /* owned: the body, NUL-terminated */
	size_t body_len;                           /* bytes in body */
	cJSON *json;                               /* owned: the parsed body */
	const char *pw;                            /* in json: password, or current (may be NULL) */
	const char *new_pw;                        /* in json: the new password */
	const char *link;                          /* in json: a link secret */
	char ip_key[ACCOUNT_KEY_MAX];              /* throttle key of the client */
	char name_key[ACCOUNT_KEY_MAX];            /* throttle key of the name; "" = none */
	int64_t user_id;                           /* the user found (0 none) */
	char *stored;                              /* owned: pw_hash being verified, or NULL */
	bool by_cookie;                            /* password: how the user came in */
	uint8_t cred_digest[PF_AUTH_DIGEST_BYTES]; /* password: the session to keep */
	char secret[PF_AUTH_SECRET_CHARS + 1];     /* a new session's secret */
	pf_hasher_job *job;                        /* owned while the hasher works */
} route_ctx;

static void route_free(route_ctx *c)
{
	if (!c)
		return;
	if (c->job)
		pf_hasher_cancel(c->job);
	if (c->body) {
		explicit_bzero(c->body, c->body_len);
		free(c->body);
	}
	cJSON_Delete(c->json); /* holds passwords; cJSON frees without wiping */
	free(c->stored);
	explicit_bzero(c->secret, sizeof(c->secret));
	free(c);
}

static void respond_failure(route_ctx *c)
{
	switch (c->kind) {
	case ROUTE_LOGIN: pf_http_respond_error(c->req, 401, "wrong name or password", NULL); break;
	case ROUTE_LINK:
		pf_http_respond_error(c->req, 401, "login link invalid or used", NULL);
		break;
	case ROUTE_PASSWORD: pf_http_respond_error(c->req, 403, "wrong password", NULL); break;
	default: abort();
	}
}

static void submit(route_ctx *c, pf_db *db, pf_db_unit *u, int rc)
{
	if (rc != 0) {
		pf_db_unit_free(u);
		pf_respond_oom(c->req);
		route_free(c);
		return;
	}
	pf_db_submit(db, 0, u);
}

/* --- failures: already counted when the attempt was let in --- */

static void record_failure(route_ctx *c)
{
	respond_failure(c);
	route_free(c);
}

/* --- now and then: old sessions, throttle rows and links --- */

static void cleanup_done_cb(void *arg, const pf_db_result *r)
{
	if (r->error)
		pf_warn("accounts: pruning old sessions failed: %s", r->error);
}

static void maybe_cleanup(pf_account *acc)
{
	if (acc->logins++ % ACCOUNT_CLEANUP_EVERY != 0)
		return;
	pf_db_unit *u = pf_db_unit_new(cleanup_done_cb, NULL);
	if (!u)
		return;
	int rc =
	    pf_db_unit_stmt(u, "DELETE FROM sessions WHERE expires_at < now() - interval '1 day'");
	rc = pf_db_unit_stmt(u, "DELETE FROM login_throttle WHERE window_start < "
	                        "now() - make_interval(secs => $1)");
	rc = pf_db_unit_int(u, acc->cfg->login_window_s);
	rc = pf_db_unit_stmt(u, "DELETE FROM login_links WHERE expires_at < now() - "
	                        "interval '1 day'");
	if (rc != 0) {
		pf_db_unit_free(u);
		return;
	}
	pf_db_submit(acc->writers, 0, u);
}

/* --- a session was made: the row is id, name, admin, has_password, expires --- */

static void respond_session(route_ctx *c, const pf_db_result *r, int stmt)
{
	char cookie[ACCOUNT_COOKIE_MAX], csrf[PF_AUTH_CSRF_CHARS + 1];
	const char *id = pf_db_value(r, stmt, 0, 0), *name = pf_db_value(r, stmt, 0, 1);
	if (pf_account_cookie(c->secret, c->acc->cfg->session_ttl_s, pf_http_req_https(c->req),
	                      cookie, sizeof(cookie)) != 0) {
		pf_respond_oom(c->req);
		return;
	}
	pf_auth_csrf(c->secret, strlen(c->secret), csrf);
	pf_respond_header(c->req, "Set-Cookie", cookie);
	explicit_bzero(cookie, sizeof(cookie));
	pf_http_req_set_user(c->req, name ? name : "");
	pf_info("conn %llu: %s logged in%s", (unsigned long long)pf_http_req_conn_id(c->req),
	        name ? name : "", c->kind == ROUTE_LINK ? " with a one-time link" : "");
	respond_user(c->req, strtoll(id ? id : "0", NULL, 10), name ? name : "",
	             account_is_true(pf_db_value(r, stmt, 0, 2)),
	             account_is_true(pf_db_value(r, stmt, 0, 3)), csrf, pf_db_value(r, stmt, 0, 4));
	maybe_cleanup(c->acc);
}

static void session_made_cb(void *arg, const pf_db_result *r)
{
	route_ctx *c = arg;
	int stmt = c->kind == ROUTE_LINK ? 0 : 1;
	if (r->error) {
		pf_respond_db_error(c->req, r);
	} else if (pf_db_rows(r, stmt) == 0) {
		if (c->kind == ROUTE_LINK) {
			record_failure(c); /* answers and frees */
			return;
		}
		respond_failure(c); /* disabled while the password was checked */
	} else {
		respond_session(c, r, stmt);
	}
	route_free(c);
}

#define SESSION_USER_SELECT                                                                        \
	"SELECT u.id, u.name, u.is_admin, u.pw_hash IS NOT NULL, " ACCOUNT_ISO(                    \
	    "s.expires_at") " FROM s JOIN users u ON u.id = s.user_id"

/* A new session's secret and the unit that will store it; NULL once the
 * request is answered (and c freed) instead. */
static pf_db_unit *session_unit(route_ctx *c)
{
	if (pf_auth_new_secret("", c->secret, sizeof(c->secret)) != 0) {
		pf_http_respond_error(c->req, 503, "no randomness", NULL);
		route_free(c);
		return NULL;
	}
	pf_db_unit *u = pf_db_unit_new(session_made_cb, c);
	if (!u) {
		pf_respond_oom(c->req);
		route_free(c);
	}
	return u;
}

static void login_succeeded(route_ctx *c)
{
	pf_db_unit *u = session_unit(c);
	if (!u)
		return;
	/* the name's failures are forgotten; the address gets this attempt back */
	int rc = pf_db_unit_stmt(
	    u, "WITH d AS (DELETE FROM login_throttle WHERE key = $1) " SQL_REFUND_ON("$2"));
	rc = pf_db_unit_text(u, c->name_key);
	rc = pf_db_unit_text(u, c->ip_key);
	rc = pf_db_unit_stmt(u, "WITH s AS (INSERT INTO sessions (id_hash, user_id, expires_at) "
	                        "SELECT $1, id, now() + make_interval(secs => $3) FROM users "
	                        "WHERE id = $2 AND NOT disabled "
	                        "RETURNING user_id, expires_at) " SESSION_USER_SELECT);
	rc = account_unit_secret(u, c->secret);
	rc = pf_db_unit_int(u, c->user_id);
	rc = pf_db_unit_int(u, c->acc->cfg->session_ttl_s);
	submit(c, c->acc->writers, u, rc);
}

static void link_login(route_ctx *c)
{
	pf_db_unit *u = session_unit(c);
	if (!u)
		return;
	int rc = pf_db_unit_stmt(
	    u,
	    "WITH l AS (UPDATE login_links SET used_at = now() WHERE link_hash = $1 AND "
	    "used_at IS NULL AND expires_at > now() AND user_id IN "
	    "(SELECT id FROM users WHERE NOT disabled) RETURNING user_id), "
	    "s AS (INSERT INTO sessions (id_hash, user_id, expires_at) "
	    "SELECT $2, user_id, now() + make_interval(secs => $3) FROM l "
	    "RETURNING user_id, expires_at), "
	    "r AS (UPDATE login_throttle SET failures = failures - 1 "
	    "WHERE key = $4 AND failures > 0 AND EXISTS (SELECT 1 FROM l)) " SESSION_USER_SELECT);
	rc = account_unit_secret(u, c->link);
	rc = account_unit_secret(u, c->secret);
	rc = pf_db_unit_int(u, c->acc->cfg->session_ttl_s);
	rc = pf_db_unit_text(u, c->ip_key);
	submit(c, c->acc->writers, u, rc);
}

/* --- password change: the new hash is stored --- */

static void password_stored_cb(void *arg, const pf_db_result *r)
{
	route_ctx *c = arg;
	if (r->error) {
		pf_respond_db_error(c->req, r);
	} else if (pf_db_rows(r, 0) == 0) {
		account_respond_401(c->req, UNAUTH_SESSION); /* the user went away meanwhile */
	} else {
		pf_info("conn %llu: user %" PRId64 " changed the password",
		        (unsigned long long)pf_http_req_conn_id(c->req), c->user_id);
		pf_http_respond(c->req, 204, NULL, NULL, 0);
	}
	route_free(c);
}

static void hashed_cb(void *arg, int rc, const char *encoded)
{
	route_ctx *c = arg;
	c->job = NULL;
	if (rc != 0 || !encoded) {
		pf_warn("conn %llu: password hashing failed (%d)",
		        (unsigned long long)pf_http_req_conn_id(c->req), rc);
		respond_busy(c->req);
		route_free(c);
		return;
	}
	pf_db_unit *u = pf_db_unit_new(password_stored_cb, c);
	if (!u) {
		pf_respond_oom(c->req);
		route_free(c);
		return;
	}
	/* every other credential ends with the old password: other sessions
	 * and the API tokens (a token made while the password was known to
	 * someone else would outlive the change otherwise); the one this
	 * request came with goes on, so the change does not log its maker out */
	int rc2 = pf_db_unit_stmt(u, "UPDATE users SET pw_hash = $1 WHERE id = $2 AND NOT disabled "
	                             "RETURNING id");
	rc2 = rc2 ? rc2 : pf_db_unit_text(u, encoded);
	rc2 = rc2 ? rc2 : pf_db_unit_int(u, c->user_id);
	rc2 = rc2 ? rc2
	          : pf_db_unit_stmt(u, "DELETE FROM sessions WHERE user_id = $1 AND "
	                               "id_hash IS DISTINCT FROM $2");
	rc2 = rc2 ? rc2 : pf_db_unit_int(u, c->user_id);
	if (c->by_cookie)
		rc2 = rc2 ? rc2 : account_unit_digest(u, c->cred_digest);
	else
		rc2 = rc2 ? rc2 : pf_db_unit_text(u, NULL);
	rc2 = rc2 ? rc2
	          : pf_db_unit_stmt(u, "DELETE FROM api_tokens WHERE user_id = $1 AND "
	                               "token_hash IS DISTINCT FROM $2");
	rc2 = rc2 ? rc2 : pf_db_unit_int(u, c->user_id);
	if (c->by_cookie)
		rc2 = rc2 ? rc2 : pf_db_unit_text(u, NULL);
	else
		rc2 = rc2 ? rc2 : account_unit_digest(u, c->cred_digest);
	rc2 = rc2 ? rc2 : pf_db_unit_stmt(u, SQL_REFUND_ON("$1")); /* not a failure */
	rc2 = rc2 ? rc2 : pf_db_unit_text(u, c->ip_key);
	submit(c, c->acc->writers, u, rc2);
}

static void hash_new_password(route_ctx *c)
{
	c->job = c->acc->hasher ? pf_hasher_hash(c->acc->hasher, c->new_pw, strlen(c->new_pw),
	                                         PF_AUTH_SCRYPT_LOG_N, hashed_cb, c)
	                        : NULL;
	if (!c->job) {
		respond_busy(c->req);
		route_free(c);
	}
}

/* --- verifying a password --- */

static void verified_cb(void *arg, int rc)
{
	route_ctx *c = arg;
	c->job = NULL;
	if (rc == PF_AUTH_MISMATCH) {
		record_failure(c);
	} else if (rc == 0) {
		if (c->kind == ROUTE_PASSWORD)
			hash_new_password(c);
		else
			login_succeeded(c);
	} else {
		pf_warn("conn %llu: password check failed (%d)",
		        (unsigned long long)pf_http_req_conn_id(c->req), rc);
		respond_busy(c->req);
		route_free(c);
	}
}

static void verify(route_ctx *c)
{
	/* stored NULL: the same work against a dummy hash, so an unknown or
	 * disabled name answers no faster than a wrong password */
	c->job = c->acc->hasher ? pf_hasher_verify(c->acc->hasher, c->pw, strlen(c->pw), c->stored,
	                                           verified_cb, c)
	                        : NULL;
	if (!c->job) {
		respond_busy(c->req);
		route_free(c);
	}
}

/* Verify c->pw against hash (copied: the result it comes from goes away),
 * or against the dummy hash when hash is NULL. */
static void verify_stored(route_ctx *c, const char *hash)
{
	if (hash && !(c->stored = strdup(hash))) {
		pf_respond_oom(c->req);
		route_free(c);
		return;
	}
	verify(c);
}

/* --- the throttle, before any hashing, with the user's row --- */

/* Every attempt counts as a failure from the moment it is let in, for the
 * address and the name, in one statement (a window that ran out starts
 * again); a success gives it back (SQL_REFUND_ON). So attempts arriving
 * together are each counted before any is hashed: at most
 * --login-max-failures of them get a hash per window. The answer is the
 * seconds left of a window whose count went over, or NULL. */
static const char sql_charge[] =
    "WITH hit AS (INSERT INTO login_throttle AS t (key, failures, window_start) "
    "SELECT k, 1, now() FROM unnest(ARRAY[$1, $2]::text[]) AS k WHERE k IS NOT NULL "
    "ON CONFLICT (key) DO UPDATE SET "
    "failures = CASE WHEN t.window_start <= now() - make_interval(secs => $3) "
    "THEN 1 ELSE t.failures + 1 END, "
    "window_start = CASE WHEN t.window_start <= now() - make_interval(secs => $3) "
    "THEN now() ELSE t.window_start END "
    "RETURNING failures, window_start) "
    "SELECT max(GREATEST(1, ceil(extract(epoch FROM window_start + "
    "make_interval(secs => $3) - now()))))::bigint FROM hit WHERE failures > $4";

static void checked_cb(void *arg, const pf_db_result *r)
{
	route_ctx *c = arg;
	if (r->error) {
		pf_respond_db_error(c->req, r);
		route_free(c);
		return;
	}
	const char *wait = pf_db_value(r, 0, 0, 0);
	if (wait) {
		pf_respond_header(c->req, "Retry-After", wait);
		pf_http_respond_error(c->req, 429, "too many failed logins", NULL);
		route_free(c);
		return;
	}
	bool found = r->nres > 1 && pf_db_rows(r, 1) > 0;
	switch (c->kind) {
	case ROUTE_LINK: link_login(c); return;
	case ROUTE_LOGIN: {
		size_t len = strlen(c->pw);
		if (!c->name_key[0] || len == 0 || len > PF_AUTH_PASSWORD_MAX) {
			record_failure(c); /* no name could match: nothing to hash */
			return;
		}
		const char *id = found ? pf_db_value(r, 1, 0, 0) : NULL;
		const char *hash = found ? pf_db_value(r, 1, 0, 1) : NULL;
		const char *usable = NULL; /* none: checked against the dummy hash */
		if (found && !account_is_true(pf_db_value(r, 1, 0, 2)) && hash) {
			c->user_id = strtoll(id, NULL, 10);
			usable = hash;
		}
		verify_stored(c, usable);
		return;
	}
	case ROUTE_PASSWORD: {
		const char *hash = found ? pf_db_value(r, 1, 0, 0) : NULL;
		if (!hash) {
			hash_new_password(c); /* no password yet: nothing to prove */
			return;
		}
		if (!c->pw || !*c->pw || strlen(c->pw) > PF_AUTH_PASSWORD_MAX) {
			record_failure(c);
			return;
		}
		verify_stored(c, hash);
		return;
	}
	default: abort();
	}
}

static void check_throttle(route_ctx *c)
{
	pf_db_unit *u = pf_db_unit_new(checked_cb, c);
	if (!u) {
		pf_respond_oom(c->req);
		route_free(c);
		return;
	}
	/* one row: NULL when neither key is over, else the seconds left */
	int rc = pf_db_unit_stmt(u, sql_charge);
	rc = pf_db_unit_text(u, c->ip_key);
	rc = pf_db_unit_text(u, c->name_key[0] ? c->name_key : NULL);
	rc = pf_db_unit_int(u, c->acc->cfg->login_window_s);
	rc = pf_db_unit_int(u, c->acc->cfg->login_max_failures);
	if (c->kind == ROUTE_LOGIN && c->name_key[0]) {
		rc = pf_db_unit_stmt(u, "SELECT id, pw_hash, disabled FROM users WHERE name = $1");
		rc = pf_db_unit_text(u, c->name_key + 5);
	} else if (c->kind == ROUTE_PASSWORD) {
		rc = pf_db_unit_stmt(u, "SELECT pw_hash FROM users WHERE id = $1");
		rc = pf_db_unit_int(u, c->user_id);
	}
	submit(c, c->acc->readers, u, rc);
}

/* --- the body --- */

static const char *json_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int route_body_cb(void *arg, pf_http_req *req, const char *data, size_t len)
{
	route_ctx *c = arg;
	if (len > PF_ACCOUNT_BODY_MAX - c->body_len)
		return PF_ELIMIT; /* the HTTP layer's cap normally stops it first */
	char *p = realloc(c->body, c->body_len + len + 1);
	if (!p)
		return PF_ENOMEM;
	c->body = p;
	memcpy(c->body + c->body_len, data, len);
	c->body_len += len;
	c->body[c->body_len] = 0;
	return 0;
}

static void route_abort_cb(void *arg, pf_http_req *req, pf_http_abort why)
{
	route_ctx *c = arg;
	switch (why) {
	case PF_HTTP_ABORT_TOO_LARGE:
		pf_http_respond_error(req, 413, "request body too large", NULL);
		break;
	case PF_HTTP_ABORT_TIMEOUT:
		pf_http_respond_error(req, 408, "request body not complete in time", NULL);
		break;
	case PF_HTTP_ABORT_SHUTDOWN:
		pf_http_respond_error(req, 503, "server shutting down", NULL);
		break;
	default: pf_http_respond_error(req, 400, "request body incomplete", NULL); break;
	}
	route_free(c);
}

static void route_end_cb(void *arg, pf_http_req *req)
{
	route_ctx *c = arg;
	c->json = c->body ? cJSON_ParseWithLength(c->body, c->body_len) : NULL;
	if (!cJSON_IsObject(c->json)) {
		pf_http_respond_error(req, 400, "body must be a JSON object", NULL);
		route_free(c);
		return;
	}
	snprintf(c->ip_key, sizeof(c->ip_key), "ip:%s", pf_http_req_client(req));
	if (c->kind == ROUTE_PASSWORD) {
		c->pw = json_string(c->json, "current");
		c->new_pw = json_string(c->json, "new");
		const char *why = c->new_pw ? pf_password_policy_check(c->new_pw, strlen(c->new_pw))
		                            : "new password missing";
		if (why) {
			char detail[64];
			snprintf(detail, sizeof(detail), "{\"min_chars\": %d, \"max_bytes\": %d}",
			         PF_PASSWORD_MIN_CHARS, PF_AUTH_PASSWORD_MAX);
			pf_http_respond_error(req, 400, why, detail);
			route_free(c);
			return;
		}
	} else if ((c->link = json_string(c->json, "link")) != NULL) {
		c->kind = ROUTE_LINK;
	} else {
		const char *name = json_string(c->json, "name");
		c->pw = json_string(c->json, "password");
		if (!name || !c->pw) {
			pf_http_respond_error(req, 400, "name and password, or link, required",
			                      NULL);
			route_free(c);
			return;
		}
		c->kind = ROUTE_LOGIN;
		if (pf_auth_name_valid(name))
			snprintf(c->name_key, sizeof(c->name_key), "name:%s", name);
	}
	check_throttle(c);
}

static route_ctx *route_start(pf_account *acc, pf_http_req *req, route_kind kind)
{
	if (!pf_http_req_is_json(req)) {
		pf_http_respond_error(req, 415, "Content-Type must be application/json", NULL);
		return NULL;
	}
	if (!pf_respond_db_up(req, acc->readers) || !pf_respond_db_up(req, acc->writers))
		return NULL;
	route_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		pf_respond_oom(req);
		return NULL;
	}
	c->acc = acc;
	c->req = req;
	c->kind = kind;
	return c;
}

static void route_read(route_ctx *c)
{
	pf_http_req_read_body(c->req, PF_ACCOUNT_BODY_MAX, route_body_cb, route_end_cb,
	                      route_abort_cb, c);
}

static void password_gate_cb(void *arg, pf_http_req *req, const account_gate_info *info)
{
	route_ctx *c = route_start(arg, req, ROUTE_PASSWORD);
	if (!c)
		return;
	c->user_id = info->user.id;
	c->by_cookie = info->user.by_cookie;
	memcpy(c->cred_digest, info->digest, sizeof(c->cred_digest));
	snprintf(c->name_key, sizeof(c->name_key), "name:%s", info->user.name);
	route_read(c);
}

/* ------------------------------------------------------- GET/DELETE session */

static void session_get_cb(void *arg, pf_http_req *req, const account_gate_info *info)
{
	respond_user(req, info->user.id, info->user.name, info->user.admin, info->has_password,
	             info->user.by_cookie ? info->user.csrf : NULL, info->expires_at);
}

static void respond_logged_out(pf_http_req *req)
{
	char cookie[ACCOUNT_COOKIE_MAX];
	if (pf_account_cookie(NULL, 0, pf_http_req_https(req), cookie, sizeof(cookie)) == 0)
		pf_respond_header(req, "Set-Cookie", cookie);
	pf_http_respond(req, 204, NULL, NULL, 0);
}

static void session_deleted_cb(void *arg, const pf_db_result *r)
{
	pf_http_req *req = arg;
	if (r->error)
		pf_respond_db_error(req, r);
	else
		respond_logged_out(req);
}

static void session_delete_cb(void *arg, pf_http_req *req, const account_gate_info *info)
{
	pf_account *acc = arg;
	if (!info->user.by_cookie) { /* a token is revoked with the CLI, not here */
		respond_logged_out(req);
		return;
	}
	pf_db_unit *u = pf_db_unit_new(session_deleted_cb, req);
	if (!u) {
		pf_respond_oom(req);
		return;
	}
	int rc = pf_db_unit_stmt(u, "DELETE FROM sessions WHERE id_hash = $1");
	rc = account_unit_digest(u, info->digest);
	if (rc != 0) {
		pf_db_unit_free(u);
		pf_respond_oom(req);
		return;
	}
	pf_db_submit(acc->writers, 0, u);
}

/* ------------------------------------------------------------------ routing */

/* The route table (api.c) sends each of these routes here. A foreign
 * Origin is refused on every one of them, reads included. */
static bool origin_ok(pf_account *acc, pf_http_req *req)
{
	if (!account_origin_refused(acc, req))
		return true;
	pf_http_respond_error(req, 403, "cross-origin request refused", NULL);
	return false;
}

void pf_account_login(pf_account *acc, pf_http_req *req)
{
	if (!origin_ok(acc, req))
		return;
	route_ctx *c = route_start(acc, req, ROUTE_LOGIN);
	if (c)
		route_read(c);
}

void pf_account_session(pf_account *acc, pf_http_req *req)
{
	if (origin_ok(acc, req))
		account_gate(acc, req, session_get_cb, NULL, acc);
}

void pf_account_logout(pf_account *acc, pf_http_req *req)
{
	if (origin_ok(acc, req))
		account_gate(acc, req, session_delete_cb, NULL, acc);
}

void pf_account_password(pf_account *acc, pf_http_req *req)
{
	if (origin_ok(acc, req))
		account_gate(acc, req, password_gate_cb, NULL, acc);
}

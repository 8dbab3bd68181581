/*
 * account.c - who a request is from. The gate (pf_account_authenticate,
 * and account_gate for the session routes of account_session.c) reads a
 * bearer token or the session cookie, refuses foreign origins on state
 * changes, looks the credential's digest up, and enforces the CSRF token
 * of cookie sessions. Also the first run's administrator, the user of
 * `propflow import --user`, the record of where this instance listens,
 * and the pure helpers (origins, cookies, login URLs). Logging in and the
 * password change are account_session.c, the CLI (`propflow user ...`)
 * account_cli.c.
 *
 * Every statement takes its values as parameters; secrets reach the
 * database only as SHA-256 digests (bytea parameters).
 */
#include "account_internal.h"

#include "propflow/api/respond.h"
#include "propflow/base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ACCOUNT_CRED_MAX 128 /* a credential read from a header; longer is invalid */

/* ------------------------------------------------------------ pure helpers */

/* Length of hostport once a port that is the scheme's default is dropped. */
static size_t hostport_len(const char *hp, size_t len, bool https)
{
	const char *dflt = https ? ":443" : ":80";
	size_t dl = strlen(dflt);
	if (len > dl && memcmp(hp + len - dl, dflt, dl) == 0)
		return len - dl;
	return len;
}

bool pf_account_same_origin(const char *origin, const char *host, bool https)
{
	if (!origin || !host || !*host)
		return false;
	const char *scheme = https ? "https://" : "http://";
	size_t sl = strlen(scheme);
	if (strncasecmp(origin, scheme, sl) != 0)
		return false;
	const char *o = origin + sl;
	size_t ol = strlen(o);
	if (ol > 0 && o[ol - 1] == '/') /* some clients send a trailing slash */
		ol--;
	if (memchr(o, '/', ol))
		return false;
	size_t hl = strlen(host);
	ol = hostport_len(o, ol, https);
	hl = hostport_len(host, hl, https);
	return ol == hl && ol > 0 && o[0] != ':' && strncasecmp(o, host, ol) == 0;
}

int pf_account_cookie(const char *secret, int64_t max_age, bool secure, char *out, size_t cap)
{
	int n;
	if (secret)
		n = snprintf(out, cap,
		             "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%" PRId64 "%s",
		             PF_AUTH_COOKIE, secret, max_age, secure ? "; Secure" : "");
	else
		n = snprintf(out, cap, "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
		             PF_AUTH_COOKIE, secure ? "; Secure" : "");
	return n < 0 || (size_t)n >= cap ? PF_ELIMIT : 0;
}

int pf_account_base_url(const char *listen, int port, char *out, size_t cap)
{
	char host[256];
	int lport = 0;
	if (pf_config_split_listen(listen, host, sizeof(host), &lport) != 0)
		return PF_EINVAL;
	if (port == 0)
		port = lport;
	const char *h = host;
	bool v6 = strchr(host, ':') != NULL;
	if (!*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0)
		h = "127.0.0.1", v6 = false;
	else if (strcmp(host, "::") == 0)
		h = "::1";
	int n = snprintf(out, cap, "http://%s%s%s:%d", v6 ? "[" : "", h, v6 ? "]" : "", port);
	return n < 0 || (size_t)n >= cap ? PF_ELIMIT : 0;
}

int pf_account_link_url(const char *base, size_t len, const char *secret, char *out, size_t cap)
{
	while (len && (*base == ' ' || *base == '\t'))
		base++, len--;
	while (len && (base[len - 1] == '/' || base[len - 1] == ' ' || base[len - 1] == '\t'))
		len--;
	if (len == 0 || len > INT32_MAX)
		return PF_EINVAL;
	int n = snprintf(out, cap, "%.*s/#login=%s", (int)len, base, secret);
	return n < 0 || (size_t)n >= cap ? PF_ELIMIT : 0;
}

int pf_account_login_url(const char *listen, int port, const char *secret, char *out, size_t cap)
{
	char base[300];
	int rc = pf_account_base_url(listen, port, base, sizeof(base));
	if (rc != 0)
		return rc == PF_ELIMIT ? PF_EINVAL : rc;
	return pf_account_link_url(base, strlen(base), secret, out, cap);
}

/* ----------------------------------------------------------- small helpers */

static bool state_changing(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

bool pf_account_public_origin(const char *public_urls, const char *origin)
{
	char want[PF_CONFIG_ORIGIN_MAX], got[PF_CONFIG_ORIGIN_MAX];
	if (!origin || pf_config_origin(origin, strlen(origin), got, sizeof(got)) != 0)
		return false; /* "null", a path, garbage: never one of ours */
	for (const char *p = public_urls; *p;) {
		size_t len = strcspn(p, ",");
		if (pf_config_origin(p, len, want, sizeof(want)) == 0 && strcmp(want, got) == 0)
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

/* A foreign Origin on a state change or a WebSocket upgrade. With
 * --public-url the origins named there are the only ones; without it, the
 * request's own Host is (which a client sending both headers chooses
 * itself: only --public-url pins the origin behind a proxy). */
bool account_origin_refused(pf_account *acc, pf_http_req *req)
{
	const char *origin = pf_http_req_header(req, "Origin");
	if (!origin)
		return false;
	const char *upgrade = pf_http_req_header(req, "Upgrade");
	bool ws = upgrade && strcasestr(upgrade, "websocket");
	if (!ws && !state_changing(pf_http_req_method(req)))
		return false;
	if (acc->cfg->public_url[0])
		return !pf_account_public_origin(acc->cfg->public_url, origin);
	return !pf_account_same_origin(origin, pf_http_req_header(req, "Host"),
	                               pf_http_req_https(req));
}

static const char *const unauth_text[] = {
    [UNAUTH_NONE] = "no credentials: send the session cookie or Authorization: Bearer TOKEN",
    [UNAUTH_MALFORMED] = "malformed Authorization header: expected Bearer pft_...",
    [UNAUTH_SESSION] = "unknown or expired session: log in again",
    [UNAUTH_TOKEN] = "unknown or revoked API token",
};

void account_respond_401(pf_http_req *req, unauth_reason why)
{
	char detail[160];
	snprintf(detail, sizeof(detail), "{\"reason\": \"%s\"}", unauth_text[why]);
	pf_respond_header(req, "WWW-Authenticate", "Bearer");
	pf_http_respond_error(req, 401, "not logged in", detail);
}

/* A digest as a bytea parameter. */
int account_unit_digest(pf_db_unit *u, const uint8_t digest[PF_AUTH_DIGEST_BYTES])
{
	char *buf = malloc(PF_AUTH_DIGEST_BYTES);
	if (!buf) {
		pf_db_unit_fail(u, PF_ENOMEM); /* sticky, as the unit's own errors */
		return PF_ENOMEM;
	}
	memcpy(buf, digest, PF_AUTH_DIGEST_BYTES);
	return pf_db_unit_binary_owned(u, PF_OID_BYTEA, buf, PF_AUTH_DIGEST_BYTES);
}

int account_unit_secret(pf_db_unit *u, const char *secret)
{
	uint8_t d[PF_AUTH_DIGEST_BYTES];
	pf_auth_digest(secret, strlen(secret), d);
	return account_unit_digest(u, d);
}

bool account_is_true(const char *v)
{
	return v && v[0] == 't';
}

/* ------------------------------------------------------------------ the gate */

typedef struct gate_ctx {
	pf_account *acc;             /* borrowed */
	pf_http_req *req;            /* borrowed; NULL once the request aborted */
	account_gate_cb cb;          /* internal routes, or NULL */
	pf_account_auth_cb user_cb;  /* pf_account_authenticate's caller */
	void *arg;                   /* for either callback */
	bool by_cookie;              /* the credential was the session cookie */
	char cred[ACCOUNT_CRED_MAX]; /* the credential text (secret) */
	uint8_t digest[PF_AUTH_DIGEST_BYTES];
} gate_ctx;

static const char sql_gate_session[] =
    "SELECT u.id, u.name, u.is_admin, u.pw_hash IS NOT NULL, " ACCOUNT_ISO(
        "s.expires_at") " FROM sessions s JOIN users u ON u.id = s.user_id "
                        "WHERE s.id_hash = $1 AND s.expires_at > now() AND NOT u.disabled";
static const char sql_gate_token[] =
    "SELECT u.id, u.name, u.is_admin, u.pw_hash IS NOT NULL, NULL::text "
    "FROM api_tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.token_hash = $1 AND NOT u.disabled";

static void gate_abort_cb(void *arg, pf_http_req *req, pf_http_abort why)
{
	gate_ctx *g = arg;
	g->req = NULL; /* the lookup's callback frees g */
	pf_http_respond_error(req, why == PF_HTTP_ABORT_SHUTDOWN ? 503 : 400, "request aborted",
	                      NULL);
}

static void gate_done_cb(void *arg, const pf_db_result *r)
{
	gate_ctx *g = arg;
	pf_http_req *req = g->req;
	if (!req)
		goto out;
	pf_http_req_on_abort(req, NULL, NULL);
	if (r->error) {
		pf_respond_db_error(req, r);
		goto out;
	}
	if (pf_db_rows(r, 0) == 0) {
		account_respond_401(req, g->by_cookie ? UNAUTH_SESSION : UNAUTH_TOKEN);
		goto out;
	}
	account_gate_info info = {.has_password = account_is_true(pf_db_value(r, 0, 0, 3)),
	                          .expires_at = pf_db_value(r, 0, 0, 4)};
	const char *id = pf_db_value(r, 0, 0, 0), *name = pf_db_value(r, 0, 0, 1);
	info.user.id = strtoll(id ? id : "0", NULL, 10);
	snprintf(info.user.name, sizeof(info.user.name), "%s", name ? name : "");
	info.user.admin = account_is_true(pf_db_value(r, 0, 0, 2));
	info.user.by_cookie = g->by_cookie;
	memcpy(info.digest, g->digest, sizeof(info.digest));
	if (g->by_cookie) {
		pf_auth_csrf(g->cred, strlen(g->cred), info.user.csrf);
		const char *sent = pf_http_req_header(req, "X-CSRF-Token");
		if (state_changing(pf_http_req_method(req)) &&
		    (!sent || !pf_auth_equal(sent, info.user.csrf))) {
			pf_http_respond_error(req, 403, "missing or wrong CSRF token", NULL);
			goto out;
		}
	}
	pf_http_req_set_user(req, info.user.name);
	pf_http_req_set_trusted(req);
	if (g->cb)
		g->cb(g->arg, req, &info);
	else
		g->user_cb(g->arg, req, &info.user);
out:
	explicit_bzero(g->cred, sizeof(g->cred));
	free(g);
}

void account_gate(pf_account *acc, pf_http_req *req, account_gate_cb cb, pf_account_auth_cb user_cb,
                  void *arg)
{
	if (account_origin_refused(acc, req)) {
		pf_http_respond_error(req, 403, "cross-origin request refused", NULL);
		return;
	}
	char cred[ACCOUNT_CRED_MAX];
	bool by_cookie = false, ok = false;
	unauth_reason why = UNAUTH_NONE;
	const char *authz = pf_http_req_header(req, "Authorization");
	if (authz && pf_auth_bearer(authz, cred, sizeof(cred))) {
		ok = strlen(cred) == PF_AUTH_TOKEN_CHARS &&
		     strncmp(cred, PF_AUTH_TOKEN_PREFIX, strlen(PF_AUTH_TOKEN_PREFIX)) == 0;
		why = UNAUTH_MALFORMED;
	} else if (pf_auth_cookie(pf_http_req_header(req, "Cookie"), PF_AUTH_COOKIE, cred,
	                          sizeof(cred))) {
		by_cookie = true;
		ok = strlen(cred) == PF_AUTH_SECRET_CHARS;
		why = UNAUTH_SESSION;
	} else if (authz) {
		why = UNAUTH_MALFORMED; /* another scheme, and no cookie to fall back on */
	}
	if (!ok) {
		account_respond_401(req, why);
		return;
	}
	if (!pf_respond_db_up(req, acc->readers))
		return;
	gate_ctx *g = calloc(1, sizeof(*g));
	pf_db_unit *u = g ? pf_db_unit_new(gate_done_cb, g) : NULL;
	if (!u) {
		free(g);
		pf_respond_oom(req);
		return;
	}
	*g = (gate_ctx){acc, req, cb, user_cb, arg, by_cookie, "", {0}};
	memcpy(g->cred, cred, sizeof(cred));
	explicit_bzero(cred, sizeof(cred));
	pf_auth_digest(g->cred, strlen(g->cred), g->digest);
	int rc = pf_db_unit_stmt(u, by_cookie ? sql_gate_session : sql_gate_token);
	rc = account_unit_digest(u, g->digest);
	if (rc != 0) {
		pf_db_unit_free(u);
		free(g);
		pf_respond_oom(req);
		return;
	}
	pf_http_req_on_abort(req, gate_abort_cb, g);
	pf_db_submit(acc->readers, 0, u);
}

void pf_account_authenticate(pf_account *acc, pf_http_req *req, pf_account_auth_cb cb, void *arg)
{
	account_gate(acc, req, NULL, cb, arg);
}

/* ------------------------------------------------ first run, import owner */

typedef struct admin_ctx {
	char secret[PF_AUTH_SECRET_CHARS + 1]; /* the link's secret ("" for resolve) */
	void (*first_done)(void *arg, const char *secret, const char *err);
	void (*resolve_done)(void *arg, int64_t id, const char *err);
	void *arg;
} admin_ctx;

/* Held through the unit so two instances starting at once make one admin. */
static const char sql_admin_lock[] = "SELECT pg_advisory_xact_lock(3, 1)";

static void first_run_cb(void *arg, const pf_db_result *r)
{
	admin_ctx *a = arg;
	if (r->error) {
		pf_error("first run: %s", r->error);
		a->first_done(a->arg, NULL, "first run: database error");
	} else if (pf_db_value(r, 1, 0, 0)) {
		const char *jobs = pf_db_value(r, 1, 0, 1);
		pf_info("first run: created administrator \"admin\" (imports claimed: %s) and a "
		        "one-time login link, valid 24 h",
		        jobs ? jobs : "0");
		a->first_done(a->arg, a->secret, NULL);
	} else {
		a->first_done(a->arg, NULL, NULL);
	}
	explicit_bzero(a->secret, sizeof(a->secret));
	free(a);
}

void pf_account_first_run(pf_account *acc,
                          void (*done)(void *arg, const char *secret, const char *err), void *arg)
{
	admin_ctx *a = calloc(1, sizeof(*a));
	pf_db_unit *u = a ? pf_db_unit_new(first_run_cb, a) : NULL;
	if (!u) {
		free(a);
		done(arg, NULL, "out of memory");
		return;
	}
	a->first_done = done;
	a->arg = arg;
	if (pf_auth_new_secret("", a->secret, sizeof(a->secret)) != 0) {
		pf_db_unit_free(u);
		free(a);
		done(arg, NULL, "no randomness");
		return;
	}
	int rc = pf_db_unit_stmt(u, sql_admin_lock);
	rc = pf_db_unit_stmt(u,
	                     "WITH a AS (INSERT INTO users (name, is_admin) SELECT 'admin', true "
	                     "WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING id), "
	                     "j AS (UPDATE import_jobs SET user_id = (SELECT id FROM a) "
	                     "WHERE user_id IS NULL AND EXISTS (SELECT 1 FROM a) RETURNING 1), "
	                     "l AS (INSERT INTO login_links (link_hash, user_id, expires_at) "
	                     "SELECT $1, id, now() + make_interval(secs => $2) FROM a RETURNING 1) "
	                     "SELECT (SELECT id FROM a), (SELECT count(*) FROM j), "
	                     "(SELECT count(*) FROM l)");
	rc = account_unit_secret(u, a->secret);
	rc = pf_db_unit_int(u, PF_ACCOUNT_LINK_TTL_S);
	if (rc != 0) {
		pf_db_unit_free(u);
		free(a);
		done(arg, NULL, "out of memory");
		return;
	}
	pf_db_submit(acc->writers, 0, u);
}

static void resolve_cb(void *arg, const pf_db_result *r)
{
	admin_ctx *a = arg;
	const char *id = r->error ? NULL : pf_db_value(r, 1, 0, 0);
	if (r->error) {
		pf_error("user lookup: %s", r->error);
		a->resolve_done(a->arg, 0, "database error");
	} else if (!id) {
		a->resolve_done(a->arg, 0, "no such user");
	} else {
		a->resolve_done(a->arg, strtoll(id, NULL, 10), NULL);
	}
	free(a);
}

void pf_account_resolve_user(pf_account *acc, const char *name,
                             void (*done)(void *arg, int64_t id, const char *err), void *arg)
{
	if (!pf_auth_name_valid(name)) {
		done(arg, 0, "no such user");
		return;
	}
	admin_ctx *a = calloc(1, sizeof(*a));
	pf_db_unit *u = a ? pf_db_unit_new(resolve_cb, a) : NULL;
	if (!u) {
		free(a);
		done(arg, 0, "out of memory");
		return;
	}
	a->resolve_done = done;
	a->arg = arg;
	/* the inserted row is not visible to the same statement's SELECT:
	 * exactly one branch of the UNION gives the id */
	int rc = pf_db_unit_stmt(u, sql_admin_lock);
	rc = pf_db_unit_stmt(
	    u, "WITH a AS (INSERT INTO users (name, is_admin) SELECT 'admin', true "
	       "WHERE $1::text = 'admin' AND NOT EXISTS (SELECT 1 FROM users) "
	       "RETURNING id), "
	       "j AS (UPDATE import_jobs SET user_id = (SELECT id FROM a) "
	       "WHERE user_id IS NULL AND EXISTS (SELECT 1 FROM a) RETURNING 1) "
	       "SELECT id FROM a UNION ALL SELECT id FROM users WHERE name = $1::text");
	rc = pf_db_unit_text(u, name);
	if (rc != 0) {
		pf_db_unit_free(u);
		free(a);
		done(arg, 0, "out of memory");
		return;
	}
	pf_db_submit(acc->writers, 0, u);
}

/* ------------------------------------------------ where the server listens */

static void instance_recorded_cb(void *arg, const pf_db_result *r)
{
	if (r->error)
		pf_warn("accounts: cannot record this server's address: %s", r->error);
}

void pf_account_record_instance(pf_account *acc, int port)
{
	char url[300], host[256] = "";
	if (pf_account_base_url(acc->cfg->listen, port, url, sizeof(url)) != 0)
		return;
	const char *pub = acc->cfg->public_url;
	size_t publen = strcspn(pub, ","); /* the first is the one links name */
	char *pubcopy = publen ? strndup(pub, publen) : NULL;
	gethostname(host, sizeof(host) - 1);
	pf_db_unit *u = pf_db_unit_new(instance_recorded_cb, NULL);
	int rc = u ? 0 : PF_ENOMEM;
	rc = pf_db_unit_stmt(u, "INSERT INTO server_instances (url, public_url, hostname, pid) "
	                        "VALUES ($1, NULLIF(btrim($2), ''), $3, $4) ON CONFLICT (url) "
	                        "DO UPDATE SET public_url = EXCLUDED.public_url, "
	                        "hostname = EXCLUDED.hostname, pid = EXCLUDED.pid, "
	                        "started_at = now()");
	rc = pf_db_unit_text(u, url);
	rc = pf_db_unit_text(u, pubcopy ? pubcopy : "");
	rc = pf_db_unit_text(u, host);
	rc = pf_db_unit_int(u, (int64_t)getpid());
	rc = pf_db_unit_stmt(u, "DELETE FROM server_instances "
	                        "WHERE started_at < now() - interval '30 days'");
	free(pubcopy);
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		return;
	}
	pf_db_submit(acc->writers, 0, u);
}

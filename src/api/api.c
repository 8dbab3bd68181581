/*
 * api.c - the HTTP API in one table: method, path, who may call it, and
 * the module function that answers. 404 and 405 (Allow built from the
 * table) are answered here and nowhere else; the modules below never call
 * back up here, nor each other for routing.
 */
#include "propflow/api/api.h"
#include "propflow/api/analysis.h"
#include "propflow/api/export.h"
#include "propflow/api/reads.h"
#include "propflow/api/ready.h"
#include "propflow/api/respond.h"
#include "propflow/api/scrape.h"
#include "propflow/api/upload.h"

#include <stdio.h>
#include <string.h>

/* Who may call a route. */
typedef enum route_auth {
	AUTH_OPEN = 0, /* anyone: nothing private in the answer */
	AUTH_USER,     /* a logged-in user (session cookie or token), checked by
	                  pf_account_authenticate before the handler; its id is passed */
	AUTH_SELF,     /* the account module checks credentials itself (it needs the
	                  session, not only the user; a login needs none) */
} route_auth;

/* id: the path's {id} (0 when it has none); user: the caller (AUTH_USER). */
typedef void (*route_fn)(pf_api *api, pf_http_req *req, int64_t id, int64_t user);

typedef struct route {
	const char *method;
	const char *path; /* literal, "{id}" a positive id; "*" any path outside /api/ */
	route_auth auth;
	route_fn fn;
} route;

/* ---------------- handlers: each is one call into its module ---------------- */

static void health(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_reads_health(api, req);
}

static void ready(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_ready_get(api, req);
}

static void fields(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_reads_fields(req);
}

static void session_get(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_account_session(api->account, req);
}

static void login(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_account_login(api->account, req);
}

static void logout(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_account_logout(api->account, req);
}

static void password(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_account_password(api->account, req);
}

static void events(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_events_subscribe(api->events, req, user);
}

static void jobs(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_reads_jobs(api, req, user);
}

static void upload(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_upload_post(api, req, user);
}

static void tus_options(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_upload_options(api, req);
}

static void job(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_reads_job(api, req, id, user);
}

static void tus_head(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_upload_head(api, req, id, user);
}

static void tus_patch(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_upload_patch(api, req, id, user);
}

static void job_delete(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_upload_delete(api, req, id, user);
}

static void reprocess(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_upload_reprocess(api, req, id, user);
}

static void properties(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_reads_properties(api, req, id, user);
}

static void all_properties(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	PF_UNUSED(id);
	pf_reads_all_properties(api, req, user);
}

static void errors(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_reads_errors(api, req, id, user);
}

static void analysis(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_analysis_get(api, req, id, user);
}

static void property(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_reads_property(api, req, id, user);
}

static void metrics(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_scrape_serve(api, req);
}

static void export_records(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_export_records(api, req, id, user);
}

static void export_errors(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_export_errors(api, req, id, user);
}

static void export_file(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_export_file(api, req, id, user);
}

static void page(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	if (!api->page || !pf_static_serve(api->page, req))
		pf_http_respond_error(req, 404, "not found", NULL);
}

/* ---------------- the table ---------------- */

/* Rows of one path are listed together, in the order Allow names them.
 * tus discovery (OPTIONS) is open: browsers send it without credentials. */
/* clang-format off */
static const route routes[] = {
	{"GET",     "/api/health",                  AUTH_OPEN, health},
	{"GET",     "/api/ready",                   AUTH_OPEN, ready},
	{"GET",     "/api/fields",                  AUTH_OPEN, fields},
	{"GET",     "/api/session",                 AUTH_SELF, session_get},
	{"POST",    "/api/session",                 AUTH_SELF, login},
	{"DELETE",  "/api/session",                 AUTH_SELF, logout},
	{"POST",    "/api/account/password",        AUTH_SELF, password},
	{"GET",     "/api/events",                  AUTH_USER, events},
	{"GET",     "/api/imports",                 AUTH_USER, jobs},
	{"POST",    "/api/imports",                 AUTH_USER, upload},
	{"OPTIONS", "/api/imports",                 AUTH_OPEN, tus_options},
	{"GET",     "/api/imports/{id}",            AUTH_USER, job},
	{"HEAD",    "/api/imports/{id}",            AUTH_USER, tus_head},
	{"PATCH",   "/api/imports/{id}",            AUTH_USER, tus_patch},
	{"DELETE",  "/api/imports/{id}",            AUTH_USER, job_delete},
	{"OPTIONS", "/api/imports/{id}",            AUTH_OPEN, tus_options},
	{"POST",    "/api/imports/{id}/reprocess",  AUTH_USER, reprocess},
	{"GET",     "/api/imports/{id}/properties", AUTH_USER, properties},
	{"GET",     "/api/imports/{id}/errors",     AUTH_USER, errors},
	{"GET",     "/api/imports/{id}/analysis",   AUTH_USER, analysis},
	{"GET",     "/api/imports/{id}/export",        AUTH_USER, export_records},
	{"HEAD",    "/api/imports/{id}/export",        AUTH_USER, export_records},
	{"GET",     "/api/imports/{id}/errors/export", AUTH_USER, export_errors},
	{"HEAD",    "/api/imports/{id}/errors/export", AUTH_USER, export_errors},
	{"GET",     "/api/imports/{id}/file",          AUTH_USER, export_file},
	{"HEAD",    "/api/imports/{id}/file",          AUTH_USER, export_file},
	{"GET",     "/api/properties",              AUTH_USER, all_properties},
	{"GET",     "/api/properties/{id}",         AUTH_USER, property},
	{"GET",     "/metrics",                     AUTH_SELF, metrics},
	{"GET",     "*",                            AUTH_OPEN, page},
	{"HEAD",    "*",                            AUTH_OPEN, page},
};
/* clang-format on */

#define ROUTE_ALLOW_MAX 64 /* bytes of an Allow list: every method once fits */

/* ---------------- matching ---------------- */

/* path against a pattern; one trailing '/' on the path is ignored
 * ("/api/imports/" is "/api/imports"). */
static bool route_match(const char *pat, const char *path, int64_t *id)
{
	*id = 0;
	if (strcmp(pat, "*") == 0)
		return strncmp(path, "/api/", 5) != 0;
	while (*pat) {
		if (strncmp(pat, "{id}", 4) == 0) {
			char buf[24];
			size_t n = strcspn(path, "/");
			if (n == 0 || n >= sizeof(buf))
				return false;
			memcpy(buf, path, n);
			buf[n] = 0;
			if (pf_parse_id(buf, id) != 0)
				return false;
			path += n;
			pat += 4;
		} else if (*pat++ != *path++) {
			return false;
		}
	}
	return *path == 0 || (path[0] == '/' && path[1] == 0);
}

/* The row for method and path, with the path's id; NULL when none. When
 * the path is known but not the method, allow (if given) lists the
 * methods it has, comma-separated. */
static const route *route_find(const char *method, const char *path, int64_t *id, char *allow,
                               size_t cap)
{
	if (allow)
		allow[0] = 0;
	for (size_t i = 0; i < PF_ARRAY_LEN(routes); i++) {
		const route *r = &routes[i];
		int64_t v;
		if (!route_match(r->path, path, &v))
			continue;
		if (strcmp(r->method, method) == 0) {
			*id = v;
			return r;
		}
		if (allow) {
			size_t used = strlen(allow);
			snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", r->method);
		}
	}
	return NULL;
}

/* ---------------- dispatch ---------------- */

/* AUTH_USER routes, and paths of no route, once the user is known: the
 * route is found again (a pure lookup) rather than carried, so that
 * nothing is allocated for a request the gate may refuse. */
static void authenticated_cb(void *arg, pf_http_req *req, const pf_user *user)
{
	pf_api *api = arg;
	int64_t id = 0;
	const route *r = route_find(pf_http_req_method(req), pf_http_req_path(req), &id, NULL, 0);
	if (!r) {
		pf_http_respond_error(req, 404, "not found", NULL);
		return;
	}
	r->fn(api, req, id, user->id);
}

void pf_api_handle(void *arg, pf_http_req *req)
{
	pf_api *api = arg;
	char allow[ROUTE_ALLOW_MAX];
	int64_t id = 0;
	const route *r =
	    route_find(pf_http_req_method(req), pf_http_req_path(req), &id, allow, sizeof(allow));
	if (r)
		pf_http_req_set_route(req, r->path); /* the pattern: the metrics' label */
	if (r && r->auth == AUTH_USER) {
		pf_account_authenticate(api->account, req, authenticated_cb, api);
		return;
	}
	if (r) {
		r->fn(api, req, id, 0);
		return;
	}
	if (allow[0]) {
		pf_respond_method_not_allowed(req, allow);
		return;
	}
	/* An API path of no route is 404 only to a logged-in user, as every
	 * owned route is: without credentials it is 401 like them. */
	pf_account_authenticate(api->account, req, authenticated_cb, api);
}

/*
 * respond.c - the answers and parsers every route module shares (see
 * respond.h). Nothing here knows a route.
 */
#include "propflow/api/respond.h"
#include "propflow/base/log.h"

#include <string.h>

void pf_respond_header(pf_http_req *req, const char *name, const char *value)
{
	if (pf_http_add_header(req, name, value) != 0)
		pf_warn("conn %llu: %s header not added",
		        (unsigned long long)pf_http_req_conn_id(req), name);
}

void pf_respond_cjson(pf_http_req *req, int status, cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!s) {
		pf_respond_oom(req);
		return;
	}
	pf_http_respond_json_owned(req, status, s);
}

void pf_respond_oom(pf_http_req *req)
{
	pf_http_respond_error(req, 503, "out of memory", NULL);
}

void pf_respond_db_down(pf_http_req *req)
{
	pf_respond_header(req, "Retry-After", "1");
	pf_http_respond_error(req, 503, "database unavailable", NULL);
}

void pf_respond_db_error(pf_http_req *req, const pf_db_result *r)
{
	pf_warn("conn %llu: query failed: %s", (unsigned long long)pf_http_req_conn_id(req),
	        r->error);
	switch (r->reason) {
	case PF_DB_UNAVAILABLE: pf_respond_db_down(req); return;
	case PF_DB_OK: /* a caller's mistake: nothing failed */
	case PF_DB_QUERY:
	case PF_DB_BUILD: break;
	}
	pf_http_respond_error(req, 500, "query failed", NULL);
}

bool pf_respond_db_up(pf_http_req *req, pf_db *db)
{
	if (pf_db_ready_count(db) > 0)
		return true;
	pf_respond_db_down(req);
	return false;
}

void pf_respond_method_not_allowed(pf_http_req *req, const char *allow)
{
	pf_respond_header(req, "Allow", allow);
	pf_http_respond_error(req, 405, "method not allowed", NULL);
}

int64_t pf_parse_count(const char *s)
{
	if (!s || !*s || strlen(s) > 18)
		return -1;
	int64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v;
}

int pf_parse_id(const char *s, int64_t *out)
{
	int64_t v = pf_parse_count(s);
	if (v <= 0)
		return PF_EINVAL;
	*out = v;
	return 0;
}

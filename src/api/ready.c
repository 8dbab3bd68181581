/*
 * ready.c - the readiness probe (see ready.h): one query on the reader
 * pool that counts which of the expected migrations the database has.
 */
#include "propflow/api/ready.h"
#include "propflow/api/respond.h"
#include "propflow/base/log.h"

#include <stdlib.h>

typedef struct ready_ctx {
	pf_api *api;      /* borrowed */
	pf_http_req *req; /* owned until answered */
} ready_ctx;

/* The names go as one parameter: '/' cannot be in a file name. */
static const char sql_ready[] = "SELECT count(*) FROM schema_migrations "
                                "WHERE name = ANY (string_to_array($1, '/'))";

static void answer(pf_api *api, pf_http_req *req, int status, const char *reason, int64_t applied)
{
	cJSON *o = cJSON_CreateObject();
	pf_cache_counts n;
	pf_cache_stats(api->cache, &n);
	cJSON *cache = o ? cJSON_AddObjectToObject(o, "cache") : NULL;
	if (!cache) {
		cJSON_Delete(o);
		pf_respond_oom(req);
		return;
	}
	cJSON_AddBoolToObject(o, "ready", status == 200);
	if (reason)
		cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddNumberToObject(o, "migrations", api->nschema);
	if (applied >= 0)
		cJSON_AddNumberToObject(o, "applied", (double)applied);
	cJSON_AddNumberToObject(cache, "hits", (double)n.hits);
	cJSON_AddNumberToObject(cache, "misses", (double)n.misses);
	cJSON_AddNumberToObject(cache, "bytes", (double)n.bytes);
	cJSON_AddNumberToObject(cache, "entries", (double)n.entries);
	cJSON_AddNumberToObject(cache, "evictions", (double)n.evictions);
	cJSON_AddNumberToObject(cache, "lookups", (double)n.lookups);
	cJSON_AddNumberToObject(cache, "cap", (double)n.cap);
	pf_respond_header(req, "Cache-Control", "no-store");
	if (status != 200)
		pf_respond_header(req, "Retry-After", "1");
	pf_respond_cjson(req, status, o);
}

static void ready_done_cb(void *arg, const pf_db_result *r)
{
	ready_ctx *c = arg;
	if (r->error) {
		pf_warn("conn %llu: ready: %s", (unsigned long long)pf_http_req_conn_id(c->req),
		        r->error);
		answer(c->api, c->req, 503,
		       r->reason == PF_DB_UNAVAILABLE ? "database unavailable" : "query failed",
		       -1);
	} else {
		const char *v = pf_db_value(r, 0, 0, 0);
		int64_t applied = v ? strtoll(v, NULL, 10) : 0;
		bool all = applied == c->api->nschema;
		answer(c->api, c->req, all ? 200 : 503, all ? NULL : "migrations pending", applied);
	}
	free(c);
}

void pf_ready_get(pf_api *api, pf_http_req *req)
{
	if (pf_db_ready_count(api->readers) == 0) {
		answer(api, req, 503, "database unavailable", -1);
		return;
	}
	ready_ctx *c = malloc(sizeof(*c));
	pf_db_unit *u = c ? pf_db_unit_new(ready_done_cb, c) : NULL;
	int rc = pf_db_unit_stmt(u, sql_ready);
	rc = pf_db_unit_text(u, api->schema ? api->schema : "");
	if (rc != 0) {
		pf_db_unit_free(u);
		free(c);
		pf_respond_oom(req);
		return;
	}
	*c = (ready_ctx){api, req};
	pf_db_submit(api->readers, 0, u);
}

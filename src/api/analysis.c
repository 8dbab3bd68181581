/*
 * analysis.c - the market analysis route (see analysis.h). One unit on the
 * reader pool: the import's state (scoped to its owner), then its groups
 * (pf_analysis_groups: exact columns once final, percentiles from the
 * running bins before).
 */
#include "propflow/api/analysis.h"
#include "propflow/api/cache.h"
#include "propflow/api/respond.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct analysis_ctx {
	pf_api *api;            /* borrowed */
	pf_http_req *req;       /* owned until responded */
	int64_t id;             /* the import */
	int64_t user;           /* its owner, as every row read must be */
	const char *by;         /* static: the kind of grouping */
	int64_t limit;          /* groups asked for */
	pf_cache_ticket ticket; /* the cache's, handed back with the answer */
} analysis_ctx;

static const char *const kinds[] = {"all", "zip", "city", "property_type"};

/* statement 0: the visible generation's state, if the import is the user's */
static const char sql_state[] =
    "SELECT CASE WHEN j.gen = j.work_gen THEN j.rows_inserted ELSE s.as_of_rows END, "
    "coalesce(s.final, false), coalesce(s.as_of_rows, 0), j.analysis_version "
    "FROM import_jobs j LEFT JOIN property_market_state s ON s.job_id = j.id AND s.gen = j.gen "
    "WHERE j.id = $1 AND j.user_id = $2";
/* statement 1: the groups, checked against the owner again (no rows leak
 * when statement 0 found none) */
static const char sql_groups[] =
    "SELECT g.* FROM import_jobs j, pf_analysis_groups(j.id, j.gen, $3, $4::int) g "
    "WHERE j.id = $1 AND j.user_id = $2";

enum {
	G_KEY = 0,
	G_COUNT,
	G_PRICE_MIN,
	G_PRICE_P25,
	G_PRICE_MEDIAN,
	G_PRICE_P75,
	G_PRICE_MAX,
	G_PPSF,
	G_SQFT,
	G_YEAR,
	G_DOM,
	G_BEDS,
	G_STATUS,
	G_OUTLIERS,
};

/* PostgreSQL's numeric or float text as a JSON number; null otherwise
 * (NULL, NaN, Infinity). */
static void add_number(cJSON *o, const char *k, const char *v)
{
	if (v && ((*v >= '0' && *v <= '9') || (*v == '-' && v[1] >= '0' && v[1] <= '9')))
		cJSON_AddRawToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

static void add_median(cJSON *o, const char *k, const char *v)
{
	cJSON *m = cJSON_AddObjectToObject(o, k);
	if (m)
		add_number(m, "median", v);
}

static cJSON *group_json(const pf_db_result *r, int row)
{
	cJSON *g = cJSON_CreateObject();
	if (!g)
		return NULL;
	const char *key = pf_db_value(r, 1, row, G_KEY);
	if (key && key[0])
		cJSON_AddStringToObject(g, "key", key);
	else
		cJSON_AddNullToObject(g, "key"); /* the whole import, or rows without the value */
	add_number(g, "count", pf_db_value(r, 1, row, G_COUNT));
	cJSON *p = cJSON_AddObjectToObject(g, "price");
	if (p) {
		add_number(p, "min", pf_db_value(r, 1, row, G_PRICE_MIN));
		add_number(p, "p25", pf_db_value(r, 1, row, G_PRICE_P25));
		add_number(p, "median", pf_db_value(r, 1, row, G_PRICE_MEDIAN));
		add_number(p, "p75", pf_db_value(r, 1, row, G_PRICE_P75));
		add_number(p, "max", pf_db_value(r, 1, row, G_PRICE_MAX));
	}
	add_median(g, "price_per_sqft", pf_db_value(r, 1, row, G_PPSF));
	add_median(g, "sqft", pf_db_value(r, 1, row, G_SQFT));
	add_median(g, "year_built", pf_db_value(r, 1, row, G_YEAR));
	/* jsonb's text is JSON */
	const char *beds = pf_db_value(r, 1, row, G_BEDS);
	cJSON_AddRawToObject(g, "beds", beds ? beds : "{}");
	add_median(g, "days_on_market", pf_db_value(r, 1, row, G_DOM));
	const char *status = pf_db_value(r, 1, row, G_STATUS);
	cJSON_AddRawToObject(g, "status", status ? status : "{}");
	add_number(g, "outliers", pf_db_value(r, 1, row, G_OUTLIERS));
	return g;
}

static void analysis_done_cb(void *arg, const pf_db_result *r)
{
	analysis_ctx *c = arg;
	if (r->error) {
		pf_respond_db_error(c->req, r);
		free(c);
		return;
	}
	if (pf_db_rows(r, 0) == 0) {
		pf_http_respond_error(c->req, 404, "no such import", NULL);
		free(c);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *groups = cJSON_CreateArray();
	if (!o || !groups) {
		cJSON_Delete(o);
		cJSON_Delete(groups);
		pf_respond_oom(c->req);
		free(c);
		return;
	}
	cJSON_AddNumberToObject(o, "job_id", (double)c->id);
	cJSON_AddStringToObject(o, "by", c->by);
	const char *fin = pf_db_value(r, 0, 0, 1);
	cJSON_AddBoolToObject(o, "final", fin && fin[0] == 't');
	const char *rows = pf_db_value(r, 0, 0, 0);
	add_number(o, "rows", rows ? rows : "0");
	add_number(o, "as_of_rows", pf_db_value(r, 0, 0, 2));
	add_number(o, "version", pf_db_value(r, 0, 0, 3));
	cJSON_AddItemToObject(o, "groups", groups);
	for (int i = 0; i < pf_db_rows(r, 1); i++) {
		cJSON *g = group_json(r, i);
		if (!g || !cJSON_AddItemToArray(groups, g)) {
			cJSON_Delete(g);
			cJSON_Delete(o);
			o = NULL;
			break;
		}
	}
	pf_cache_respond(c->api->cache, c->req, &c->ticket, o);
	free(c);
}

static void analysis_cached_cb(void *arg, pf_http_req *req, const pf_cache_ticket *t);

void pf_analysis_get(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	const char *by = pf_http_req_param(req, "by");
	const char *kind = NULL;
	for (size_t i = 0; i < PF_ARRAY_LEN(kinds) && !kind; i++)
		if (!by || strcmp(by, kinds[i]) == 0)
			kind = kinds[i];
	if (!kind) {
		pf_http_respond_error(req, 400, "by must be one of all, zip, city, property_type",
		                      "{\"param\": \"by\"}");
		return;
	}
	int64_t limit = PF_ANALYSIS_GROUPS_DEFAULT;
	const char *l = pf_http_req_param(req, "limit");
	if (l && (pf_parse_id(l, &limit) != 0 || limit > PF_ANALYSIS_GROUPS_MAX)) {
		char detail[64];
		snprintf(detail, sizeof(detail), "{\"param\": \"limit\", \"max\": %d}",
		         PF_ANALYSIS_GROUPS_MAX);
		pf_http_respond_error(req, 400, "limit must be a whole number from 1 to 1000",
		                      detail);
		return;
	}
	if (!pf_respond_db_up(req, api->readers))
		return;
	analysis_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		pf_respond_oom(req);
		return;
	}
	*c = (analysis_ctx){
	    .api = api, .req = req, .id = id, .user = user, .by = kind, .limit = limit};
	/* an analysis is checked against the import's analysis_version (and
	 * rows, gen) like every cached read: see cache.h */
	char params[64];
	snprintf(params, sizeof(params), "by=%s&limit=%lld", kind, (long long)limit);
	pf_cache_serve(api->cache, req, &(pf_cache_key){user, id, "analysis", params},
	               analysis_cached_cb, c);
}

/* The cache's answer: served (c is done), or a miss to read. */
static void analysis_cached_cb(void *arg, pf_http_req *req, const pf_cache_ticket *t)
{
	analysis_ctx *c = arg;
	(void)req;
	if (!t) {
		free(c);
		return;
	}
	c->ticket = *t;
	pf_db_unit *u = pf_db_unit_new(analysis_done_cb, c);
	if (!u) {
		pf_respond_oom(c->req);
		free(c);
		return;
	}
	pf_db_unit_stmt(u, sql_state);
	pf_db_unit_int(u, c->id);
	pf_db_unit_int(u, c->user);
	pf_db_unit_stmt(u, sql_groups);
	pf_db_unit_int(u, c->id);
	pf_db_unit_int(u, c->user);
	pf_db_unit_text(u, c->by);
	pf_db_unit_int(u, c->limit);
	if (pf_db_unit_error(u) != 0) {
		pf_db_unit_free(u);
		pf_respond_oom(c->req);
		free(c);
		return;
	}
	pf_db_submit(c->api->readers, 0, u);
}

/*
 * api.c - routes. Reads go to the reader pool and answer from its
 * callback; uploads and what is done to imports are upload.c's. Every
 * query takes its values as parameters.
 */
#include "propflow/api/api.h"
#include "propflow/api/respond.h"
#include "propflow/base/log.h"
#include "propflow/api/upload.h"
#include "propflow/ingest/rawpack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- helpers ---------------- */

/* Value as a JSON number, or null (PostgreSQL's numeric/float text). */
static void add_number_text(cJSON *o, const char *k, const char *v)
{
	if (v && ((*v >= '0' && *v <= '9') || *v == '-'))
		cJSON_AddRawToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

static void add_text(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

/* ---------------- reads ---------------- */

#define RECORD_COLUMNS                                                                             \
	"id, row_no, line_no, source_id, address, city, state, zip, price, beds, baths, sqft, "    \
	"lot_sqft, year_built, property_type, status, listed_on::text, sold_on::text, latitude, "  \
	"longitude"

static const struct {
	const char *name;
	bool number;
} record_fields[] = {
    {"id", true},         {"row", true},        {"line", true},           {"source_id", false},
    {"address", false},   {"city", false},      {"state", false},         {"zip", false},
    {"price", true},      {"beds", true},       {"baths", true},          {"sqft", true},
    {"lot_sqft", true},   {"year_built", true}, {"property_type", false}, {"status", false},
    {"listed_on", false}, {"sold_on", false},   {"latitude", true},       {"longitude", true},
};

static cJSON *record_json(const pf_db_result *r, int stmt, int row)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	for (size_t c = 0; c < PF_ARRAY_LEN(record_fields); c++) {
		const char *v = pf_db_value(r, stmt, row, (int)c);
		if (record_fields[c].number)
			add_number_text(o, record_fields[c].name, v);
		else
			add_text(o, record_fields[c].name, v);
	}
	return o;
}

typedef enum read_kind {
	READ_JOB_LIST = 0,
	READ_JOB,
	READ_PROPERTIES,
	READ_ERRORS,
	READ_PROPERTY,
	READ_HEALTH,
} read_kind;

typedef struct read_ctx {
	pf_api *api;      /* borrowed */
	pf_http_req *req; /* owned until responded */
	read_kind kind;
	int64_t id;
	int limit;
	int64_t user; /* owner every row read must belong to */
} read_ctx;

static void page_response(read_ctx *c, const pf_db_result *r, bool errors)
{
	/* statement 0: job exists?  statement 1: limit+1 rows */
	if (pf_db_rows(r, 0) == 0) {
		pf_http_respond_error(c->req, 404, "no such import", NULL);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_CreateArray();
	if (!o || !items) {
		cJSON_Delete(items);
		cJSON_Delete(o);
		pf_http_respond_error(c->req, 503, "out of memory", NULL);
		return;
	}
	cJSON_AddItemToObject(o, "items", items);
	int n = pf_db_rows(r, 1);
	int shown = n > c->limit ? c->limit : n;
	for (int i = 0; i < shown; i++) {
		cJSON *it;
		if (errors) {
			it = cJSON_CreateObject();
			if (!it)
				break;
			add_number_text(it, "id", pf_db_value(r, 1, i, 0));
			add_text(it, "kind", pf_db_value(r, 1, i, 1));
			add_number_text(it, "row", pf_db_value(r, 1, i, 2));
			add_number_text(it, "line", pf_db_value(r, 1, i, 3));
			add_text(it, "column", pf_db_value(r, 1, i, 4));
			add_text(it, "value", pf_db_value(r, 1, i, 5));
			add_text(it, "reason", pf_db_value(r, 1, i, 6));
			add_text(it, "raw", pf_db_value(r, 1, i, 7));
		} else {
			it = record_json(r, 1, i);
			if (!it)
				break;
		}
		cJSON_AddItemToArray(items, it);
	}
	/* the cursor: a record's row_no (column 1), an error's id (column 0) */
	if (n > c->limit)
		add_text(o, "next", pf_db_value(r, 1, c->limit - 1, errors ? 0 : 1));
	else
		cJSON_AddNullToObject(o, "next");
	pf_respond_cjson(c->req, 200, o);
}

static void property_response(read_ctx *c, const pf_db_result *r)
{
	if (pf_db_rows(r, 0) == 0) {
		pf_http_respond_error(c->req, 404, "no such property", NULL);
		return;
	}
	cJSON *o = record_json(r, 0, 0);
	if (!o) {
		pf_respond_cjson(c->req, 200, NULL);
		return;
	}
	int ncols = (int)PF_ARRAY_LEN(record_fields);
	add_number_text(o, "job_id", pf_db_value(r, 0, 0, ncols));
	const char *dict_hex = pf_db_value(r, 0, 0, ncols + 1);
	const char *data_hex = pf_db_value(r, 0, 0, ncols + 2);
	cJSON *raw = NULL;
	if (data_hex) {
		size_t dlen = 0, plen = 0;
		unsigned char *dict =
		    dict_hex ? PQunescapeBytea((const unsigned char *)dict_hex, &dlen) : NULL;
		unsigned char *packed = PQunescapeBytea((const unsigned char *)data_hex, &plen);
		size_t rawlen = 0;
		char *text = NULL;
		if (packed && pf_rawpack_length(packed, plen, &rawlen) == 0 &&
		    (text = malloc(rawlen + 1)) != NULL) {
			size_t got = 0;
			if (pf_rawpack_decompress(dict, dlen, packed, plen, text, rawlen, &got) ==
			    0) {
				text[got] = 0;
				raw = cJSON_Parse(text);
			}
		}
		free(text);
		PQfreemem(dict);
		PQfreemem(packed);
		if (!raw)
			pf_warn("property %lld: raw row could not be decoded", (long long)c->id);
	}
	if (raw)
		cJSON_AddItemToObject(o, "raw", raw);
	else
		cJSON_AddNullToObject(o, "raw");
	pf_respond_cjson(c->req, 200, o);
}

static cJSON *live_overlay(pf_api *api, const pf_db_result *r, int stmt, int row)
{
	const char *idtxt = pf_db_value(r, stmt, row, 0);
	pf_job *live = idtxt ? pf_job_find(api->env, strtoll(idtxt, NULL, 10)) : NULL;
	if (live && pf_job_ready(live)) { /* one still being taken over knows less than the row */
		cJSON *j = pf_events_job_frame(live, false, NULL);
		if (j)
			return j;
	}
	return pf_job_row_to_json(r, stmt, row);
}

static void read_done_cb(void *arg, const pf_db_result *r)
{
	read_ctx *c = arg;
	if (r->error) {
		pf_respond_db_error(c->req, r);
		free(c);
		return;
	}
	switch (c->kind) {
	case READ_HEALTH: {
		cJSON *o = cJSON_CreateObject();
		if (o) {
			cJSON_AddBoolToObject(o, "ok", true);
			cJSON_AddBoolToObject(o, "db", true);
		}
		pf_respond_cjson(c->req, 200, o);
		break;
	}
	case READ_JOB_LIST: {
		cJSON *o = cJSON_CreateObject();
		cJSON *items = cJSON_CreateArray();
		if (o && items) {
			for (int i = 0; i < pf_db_rows(r, 0); i++) {
				cJSON *j = live_overlay(c->api, r, 0, i);
				if (j)
					cJSON_AddItemToArray(items, j);
			}
			cJSON_AddItemToObject(o, "items", items);
		} else {
			cJSON_Delete(items);
		}
		pf_respond_cjson(c->req, 200, o);
		break;
	}
	case READ_JOB:
		if (pf_db_rows(r, 0) == 0)
			pf_http_respond_error(c->req, 404, "no such import", NULL);
		else
			pf_respond_cjson(c->req, 200, live_overlay(c->api, r, 0, 0));
		break;
	case READ_PROPERTIES: page_response(c, r, false); break;
	case READ_ERRORS: page_response(c, r, true); break;
	case READ_PROPERTY: property_response(c, r); break;
	default: abort();
	}
	free(c);
}

/* limit and after from the query string; 400 on nonsense. */
static bool page_params(pf_http_req *req, int *limit, int64_t *after)
{
	const char *l = pf_http_req_param(req, "limit");
	const char *a = pf_http_req_param(req, "after");
	*limit = PF_API_PAGE_DEFAULT;
	*after = 0;
	if (l) {
		int64_t v;
		if (pf_parse_id(l, &v) != 0 || v > PF_API_PAGE_MAX) {
			char detail[64];
			snprintf(detail, sizeof(detail), "{\"max\": %d}", PF_API_PAGE_MAX);
			pf_http_respond_error(
			    req, 400, "limit must be a whole number from 1 to 1000", detail);
			return false;
		}
		*limit = (int)v;
	}
	if (a && *a && pf_parse_id(a, after) != 0) {
		pf_http_respond_error(req, 400, "after must be a cursor returned as next", NULL);
		return false;
	}
	return true;
}

static void start_read(pf_api *api, pf_http_req *req, read_kind kind, int64_t id, int64_t user)
{
	if (!pf_respond_db_up(req, api->readers))
		return;
	int limit = 0;
	int64_t after = 0;
	if ((kind == READ_PROPERTIES || kind == READ_ERRORS) && !page_params(req, &limit, &after))
		return;
	read_ctx *c = calloc(1, sizeof(*c));
	pf_db_unit *u = c ? pf_db_unit_new(read_done_cb, c) : NULL;
	if (!u) {
		free(c);
		pf_http_respond_error(req, 503, "out of memory", NULL);
		return;
	}
	*c = (read_ctx){api, req, kind, id, limit, user};
	int rc = 0;
	switch (kind) {
	case READ_HEALTH: rc = pf_db_unit_stmt(u, "SELECT 1"); break;
	case READ_JOB_LIST:
		rc = pf_db_unit_stmt(u, "SELECT " PF_JOB_COLUMNS
		                        " FROM import_jobs WHERE user_id = $1 "
		                        "ORDER BY created_at DESC, id DESC LIMIT 1000");
		rc = pf_db_unit_int(u, user);
		break;
	case READ_JOB:
		rc = pf_db_unit_stmt(u, "SELECT " PF_JOB_COLUMNS
		                        " FROM import_jobs WHERE id = $1 AND user_id = $2");
		rc = pf_db_unit_int(u, id);
		rc = pf_db_unit_int(u, user);
		break;
	case READ_PROPERTIES:
	case READ_ERRORS:
		/* the owner check is statement 0; statement 1 runs in the same
		 * snapshot but must not leak rows when it fails, so it checks too */
		rc = pf_db_unit_stmt(u, "SELECT 1 FROM import_jobs WHERE id = $1 AND user_id = $2");
		rc = pf_db_unit_int(u, id);
		rc = pf_db_unit_int(u, user);
		if (kind == READ_PROPERTIES)
			rc = pf_db_unit_stmt(u, "SELECT " RECORD_COLUMNS " FROM property_records "
			                        "WHERE job_id = $1 AND gen = (SELECT gen FROM "
			                        "import_jobs WHERE id = $1 AND user_id = $4) "
			                        "AND row_no > $2 ORDER BY row_no LIMIT $3");
		else
			rc = pf_db_unit_stmt(u, "SELECT id, kind, row_no, line_no, column_name, "
			                        "value, reason, raw_text FROM import_errors "
			                        "WHERE job_id = $1 AND gen = (SELECT gen FROM "
			                        "import_jobs WHERE id = $1 AND user_id = $4) "
			                        "AND id > $2 ORDER BY id LIMIT $3");
		rc = pf_db_unit_int(u, id);
		rc = pf_db_unit_int(u, after);
		rc = pf_db_unit_int(u, limit + 1);
		rc = pf_db_unit_int(u, user);
		break;
	case READ_PROPERTY:
		rc = pf_db_unit_stmt(
		    u, "SELECT r.id, r.row_no, r.line_no, r.source_id, r.address, "
		       "r.city, r.state, r.zip, r.price, r.beds, r.baths, r.sqft, "
		       "r.lot_sqft, r.year_built, r.property_type, r.status, "
		       "r.listed_on::text, r.sold_on::text, r.latitude, "
		       "r.longitude, r.job_id, j.raw_dict, w.data "
		       "FROM property_records r JOIN import_jobs j ON j.id = r.job_id "
		       "LEFT JOIN property_raw w ON w.job_id = r.job_id AND "
		       "w.gen = r.gen AND w.row_no = r.row_no WHERE r.id = $1 AND r.gen = j.gen "
		       "AND j.user_id = $2");
		rc = pf_db_unit_int(u, id);
		rc = pf_db_unit_int(u, user);
		break;
	default: abort();
	}
	if (rc != 0) {
		pf_db_unit_free(u);
		free(c);
		pf_http_respond_error(req, 503, "out of memory", NULL);
		return;
	}
	pf_db_submit(api->readers, 0, u);
}

/* ---------------- routing ---------------- */

/* "/api/imports/12/properties" -> id 12, rest "/properties". */
static bool split_id(const char *path, const char *prefix, int64_t *id, const char **rest)
{
	size_t pl = strlen(prefix);
	if (strncmp(path, prefix, pl) != 0)
		return false;
	const char *p = path + pl;
	char buf[24];
	size_t n = strcspn(p, "/");
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = 0;
	if (pf_parse_id(buf, id) != 0)
		return false;
	*rest = p + n;
	return true;
}

/* Every route below belongs to the authenticated user: rows of anyone
 * else's answer exactly as rows that do not exist (404). */
static void route_owned(void *arg, pf_http_req *req, const pf_user *user)
{
	pf_api *api = arg;
	const char *m = pf_http_req_method(req);
	const char *path = pf_http_req_path(req);
	bool get = strcmp(m, "GET") == 0;
	int64_t uid = user->id;
	int64_t id;
	const char *rest;

	if (strcmp(path, "/api/events") == 0) {
		if (!get)
			return pf_respond_method_not_allowed(req, "GET");
		return pf_events_subscribe(api->events, req, uid);
	}
	if (strcmp(path, "/api/imports") == 0 || strcmp(path, "/api/imports/") == 0) {
		if (get)
			return start_read(api, req, READ_JOB_LIST, 0, uid);
		if (strcmp(m, "POST") == 0)
			return pf_upload_post(api, req, uid);
		return pf_respond_method_not_allowed(req, "GET, POST, OPTIONS");
	}
	if (split_id(path, "/api/imports/", &id, &rest)) {
		read_kind kind;
		if (*rest == 0) {
			if (strcmp(m, "HEAD") == 0)
				return pf_upload_head(api, req, id, uid);
			if (strcmp(m, "PATCH") == 0)
				return pf_upload_patch(api, req, id, uid);
			if (strcmp(m, "DELETE") == 0)
				return pf_upload_delete(api, req, id, uid);
			if (!get)
				return pf_respond_method_not_allowed(
				    req, "GET, HEAD, PATCH, DELETE, OPTIONS");
			kind = READ_JOB;
		} else if (strcmp(rest, "/reprocess") == 0) {
			if (strcmp(m, "POST") != 0)
				return pf_respond_method_not_allowed(req, "POST");
			return pf_upload_reprocess(api, req, id, uid);
		} else if (strcmp(rest, "/properties") == 0)
			kind = READ_PROPERTIES;
		else if (strcmp(rest, "/errors") == 0)
			kind = READ_ERRORS;
		else
			return pf_http_respond_error(req, 404, "not found", NULL);
		if (!get)
			return pf_respond_method_not_allowed(req, "GET");
		return start_read(api, req, kind, id, uid);
	}
	if (split_id(path, "/api/properties/", &id, &rest) && *rest == 0) {
		if (!get)
			return pf_respond_method_not_allowed(req, "GET");
		return start_read(api, req, READ_PROPERTY, id, uid);
	}
	pf_http_respond_error(req, 404, "not found", NULL);
}

void pf_api_handle(void *arg, pf_http_req *req)
{
	pf_api *api = arg;
	const char *m = pf_http_req_method(req);
	const char *path = pf_http_req_path(req);
	bool get = strcmp(m, "GET") == 0;

	if (strncmp(path, "/api/", 5) != 0) {
		if (!get && strcmp(m, "HEAD") != 0) {
			pf_respond_method_not_allowed(req, "GET, HEAD");
			return;
		}
		if (api->page && pf_static_serve(api->page, req))
			return;
		pf_http_respond_error(req, 404, "not found", NULL);
		return;
	}
	/* open to anyone: health, logging in, and tus discovery (OPTIONS
	 * carries no data and browsers send it without credentials) */
	if (strcmp(path, "/api/health") == 0) {
		if (!get)
			return pf_respond_method_not_allowed(req, "GET");
		return start_read(api, req, READ_HEALTH, 0, 0);
	}
	if (pf_account_owns(path))
		return pf_account_handle(api->account, req);
	if (strcmp(m, "OPTIONS") == 0 && strncmp(path, "/api/imports", 12) == 0)
		return pf_upload_options(api, req);
	pf_account_authenticate(api->account, req, route_owned, api);
}

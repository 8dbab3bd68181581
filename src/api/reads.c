/*
 * reads.c - the API's reads (see reads.h). Each goes to the reader pool as
 * one unit and answers from its callback; every query takes its values as
 * parameters and is scoped to its owner. GET /api/fields comes from the
 * field table (fields.h), a record's JSON from record.h, the statements of
 * a page of records from query.h.
 */
#include "propflow/api/reads.h"
#include "propflow/api/cache.h"
#include "propflow/api/cursor.h"
#include "propflow/api/query.h"
#include "propflow/api/record.h"
#include "propflow/api/respond.h"
#include "propflow/base/log.h"
#include "propflow/ingest/fields.h"
#include "propflow/ingest/rawpack.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define add_number_text pf_record_add_number
#define add_text        pf_record_add_text

void pf_reads_fields(pf_http_req *req)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(o, "items");
	for (int f = 0; items && f < PF_F__COUNT; f++) {
		const pf_field_info *i = pf_field_info_of((pf_field)f);
		static const char *const types[] = {
		    [PF_T_TEXT] = "text",          [PF_T_ID] = "id",
		    [PF_T_NUMBER] = "number",      [PF_T_INTEGER] = "integer",
		    [PF_T_DATE] = "date",          [PF_T_LATITUDE] = "latitude",
		    [PF_T_LONGITUDE] = "longitude"};
		cJSON *it = cJSON_CreateObject();
		if (!it || !cJSON_AddItemToArray(items, it)) {
			cJSON_Delete(it);
			cJSON_Delete(o);
			o = NULL;
			break;
		}
		cJSON_AddStringToObject(it, "name", i->name);
		cJSON_AddStringToObject(it, "kind", pf_field_kind_name(i->kind));
		cJSON_AddStringToObject(it, "type", types[i->type]);
		cJSON_AddStringToObject(it, "sql", i->sql);
		cJSON_AddStringToObject(it, "format", i->format);
		cJSON_AddNumberToObject(it, "width", i->width);
		cJSON_AddStringToObject(it, "label", i->label);
		cJSON_AddStringToObject(it, "brief", i->brief);
	}
	pf_respond_cjson(req, 200, o);
}

/* ---------------- one unit per read ---------------- */

typedef enum read_kind {
	READ_JOB_LIST = 0,
	READ_JOB,
	READ_PROPERTIES,
	READ_ALL_PROPERTIES,
	READ_ERRORS,
	READ_PROPERTY,
	READ_HEALTH,
} read_kind;

typedef struct read_ctx {
	pf_api *api;            /* borrowed */
	pf_http_req *req;       /* owned until responded */
	read_kind kind;         /* what is read */
	int64_t id;             /* the import or record */
	int64_t user;           /* owner every row read must belong to */
	int limit;              /* pages: items asked for */
	const char *after;      /* errors: the cursor as sent (in req), NULL none */
	pf_cursor cur;          /* errors: after, opened (valid when after is set) */
	pf_query *query;        /* records: owned, the request's q, filters, sort, page */
	pf_query_pos pos;       /* records: where the page starts (query->after, opened) */
	char *jobs;             /* all records, a record: owned, the user's imports ("{1,2}") */
	pf_cache_ticket ticket; /* the cache's, for the answer (cache.h) */
} read_ctx;

static void read_done_cb(void *arg, const pf_db_result *r);

static void read_free(read_ctx *c)
{
	if (c) {
		free(c->query);
		free(c->jobs);
	}
	free(c);
}

static bool records_read(const read_ctx *c)
{
	return c->kind == READ_PROPERTIES || c->kind == READ_ALL_PROPERTIES;
}

static pf_query_scope records_scope(const read_ctx *c)
{
	return c->kind == READ_ALL_PROPERTIES ? PF_QUERY_ALL : PF_QUERY_IMPORT;
}

/* 400 naming the parameter ({"error": "NAME message", "detail": {"param":
 * NAME}}). */
static void respond_param_error(pf_http_req *req, const pf_query_error *e)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%.80s %s", e->param, e->message);
	cJSON *d = cJSON_CreateObject();
	char *detail = NULL;
	if (d && cJSON_AddStringToObject(d, "param", e->param))
		detail = cJSON_PrintUnformatted(d);
	cJSON_Delete(d);
	pf_http_respond_error(req, 400, msg, detail);
	cJSON_free(detail);
}

/* A page's cursor (after) is one this server sealed for this list; its
 * import is checked once the import is known to be the user's (so that
 * someone else's import stays a plain 404). */
static bool open_cursor(read_ctx *c)
{
	if (records_read(c)) {
		pf_query_error e;
		if (pf_query_cursor_open(c->query, c->api->cursor_key, records_scope(c), &c->pos,
		                         &e) != 0) {
			respond_param_error(c->req, &e);
			return false;
		}
		return true;
	}
	if (!c->after)
		return true;
	if (pf_cursor_decode(c->api->cursor_key, PF_CURSOR_ERRORS, c->after, &c->cur) != 0) {
		pf_http_respond_error(c->req, 400, "after must be a cursor returned as next", NULL);
		return false;
	}
	return true;
}

/* A page of records: statement 0 the import's generation if it is the
 * user's (one import only), then the planner's settings, then the page of
 * limit+1 rows. */
static void records_response(read_ctx *c, const pf_db_result *r)
{
	int stmt = 1; /* after the planner's settings */
	if (c->kind == READ_PROPERTIES) {
		const char *gentxt = pf_db_value(r, 0, 0, 0);
		if (pf_db_rows(r, 0) == 0 || !gentxt) {
			pf_http_respond_error(c->req, 404, "no such import", NULL);
			return;
		}
		int64_t gen = strtoll(gentxt, NULL, 10);
		if (c->pos.started && c->pos.job != c->id) {
			pf_http_respond_error(
			    c->req, 400, "after must be a cursor returned as next for this import",
			    "{\"param\": \"after\"}");
			return;
		}
		if (c->pos.started && c->pos.gen != gen) {
			pf_http_respond_error(
			    c->req, 409,
			    "the import was reprocessed since this cursor was made: "
			    "start again from the first page",
			    NULL);
			return;
		}
		c->pos.gen = gen;
		stmt = 2;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_CreateArray();
	if (!o || !items) {
		cJSON_Delete(items);
		cJSON_Delete(o);
		pf_respond_oom(c->req);
		return;
	}
	cJSON_AddItemToObject(o, "items", items);
	int limit = c->query->limit;
	int n = pf_db_rows(r, stmt);
	int shown = n > limit ? limit : n;
	for (int i = 0; i < shown; i++) {
		cJSON *it = pf_record_json(r, stmt, i);
		if (!it) {
			cJSON_Delete(o);
			pf_respond_oom(c->req);
			return;
		}
		cJSON_AddItemToArray(items, it);
	}
	if (n > limit) {
		char text[PF_CURSOR_CHARS_MAX + 1];
		if (pf_query_row_pos(c->query, r, stmt, limit - 1, &c->pos) != 0 ||
		    pf_query_cursor_seal(c->query, c->api->cursor_key, records_scope(c), &c->pos,
		                         text, sizeof(text)) != 0) {
			cJSON_Delete(o);
			pf_http_respond_error(c->req, 500, "cannot make a cursor", NULL);
			return;
		}
		cJSON_AddStringToObject(o, "next", text);
	} else {
		cJSON_AddNullToObject(o, "next");
	}
	pf_cache_respond(c->api->cache, c->req, &c->ticket, o);
}

/* A page of errors: statement 0 the import's generation if it is the
 * user's, statement 1 limit+1 errors. */
static void page_response(read_ctx *c, const pf_db_result *r)
{
	/* statement 0: the job's generation if it is the user's; statement 1:
	 * limit+1 rows */
	const char *gentxt = pf_db_value(r, 0, 0, 0);
	if (pf_db_rows(r, 0) == 0 || !gentxt) {
		pf_http_respond_error(c->req, 404, "no such import", NULL);
		return;
	}
	int64_t gen = strtoll(gentxt, NULL, 10);
	if (c->after && c->cur.job != c->id) {
		pf_http_respond_error(
		    c->req, 400, "after must be a cursor returned as next for this import", NULL);
		return;
	}
	if (c->after && c->cur.gen != gen) {
		pf_http_respond_error(c->req, 409,
		                      "the import was reprocessed since this cursor was made: "
		                      "start again from the first page",
		                      NULL);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_CreateArray();
	if (!o || !items) {
		cJSON_Delete(items);
		cJSON_Delete(o);
		pf_respond_oom(c->req);
		return;
	}
	cJSON_AddItemToObject(o, "items", items);
	int n = pf_db_rows(r, 1);
	int shown = n > c->limit ? c->limit : n;
	for (int i = 0; i < shown; i++) {
		cJSON *it = cJSON_CreateObject();
		if (!it)
			break;
		{
			add_number_text(it, "id", pf_db_value(r, 1, i, 0));
			add_text(it, "kind", pf_db_value(r, 1, i, 1));
			add_number_text(it, "row", pf_db_value(r, 1, i, 2));
			add_number_text(it, "line", pf_db_value(r, 1, i, 3));
			add_text(it, "column", pf_db_value(r, 1, i, 4));
			add_text(it, "value", pf_db_value(r, 1, i, 5));
			add_text(it, "reason", pf_db_value(r, 1, i, 6));
			add_text(it, "raw", pf_db_value(r, 1, i, 7));
		}
		cJSON_AddItemToArray(items, it);
	}
	/* the position: an error's id (column 0) */
	const char *last = n > c->limit ? pf_db_value(r, 1, c->limit - 1, 0) : NULL;
	if (last) {
		pf_cursor next = {c->id, gen, strtoll(last, NULL, 10)};
		char text[PF_CURSOR_CHARS + 1];
		if (pf_cursor_encode(c->api->cursor_key, PF_CURSOR_ERRORS, &next, text,
		                     sizeof(text)) != 0) {
			cJSON_Delete(o);
			pf_http_respond_error(c->req, 500, "cannot make a cursor", NULL);
			return;
		}
		cJSON_AddStringToObject(o, "next", text);
	} else {
		cJSON_AddNullToObject(o, "next");
	}
	pf_cache_respond(c->api->cache, c->req, &c->ticket, o);
}

static void property_response(read_ctx *c, const pf_db_result *r)
{
	if (pf_db_rows(r, 0) == 0) {
		pf_http_respond_error(c->req, 404, "no such property", NULL);
		return;
	}
	cJSON *o = pf_record_json(r, 0, 0);
	if (!o) {
		pf_respond_oom(c->req);
		return;
	}
	const char *dict_hex = pf_db_value(r, 0, 0, PF_RECORD_NCOLS);
	const char *data_hex = pf_db_value(r, 0, 0, PF_RECORD_NCOLS + 1);
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
	if (live && pf_job_live(live)) { /* one being taken over knows less than the row */
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
		read_free(c);
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
		pf_cache_respond(c->api->cache, c->req, &c->ticket, o);
		break;
	}
	case READ_JOB:
		if (pf_db_rows(r, 0) == 0)
			pf_http_respond_error(c->req, 404, "no such import", NULL);
		else
			pf_cache_respond(c->api->cache, c->req, &c->ticket,
			                 live_overlay(c->api, r, 0, 0));
		break;
	case READ_PROPERTIES:
	case READ_ALL_PROPERTIES: records_response(c, r); break;
	case READ_ERRORS: page_response(c, r); break;
	case READ_PROPERTY: property_response(c, r); break;
	default: abort();
	}
	read_free(c);
}

/* The statements of c's read; 0 or the first building error. */
static int read_build(read_ctx *c, pf_db_unit *u)
{
	int rc = 0;
	switch (c->kind) {
	case READ_HEALTH: rc = pf_db_unit_stmt(u, "SELECT 1"); break;
	case READ_JOB_LIST:
		rc = pf_db_unit_stmt(u, "SELECT " PF_JOB_COLUMNS
		                        " FROM import_jobs WHERE user_id = $1 "
		                        "ORDER BY created_at DESC, id DESC LIMIT 1000");
		rc = pf_db_unit_int(u, c->user);
		break;
	case READ_JOB:
		rc = pf_db_unit_stmt(u, "SELECT " PF_JOB_COLUMNS
		                        " FROM import_jobs WHERE id = $1 AND user_id = $2");
		rc = pf_db_unit_int(u, c->id);
		rc = pf_db_unit_int(u, c->user);
		break;
	case READ_PROPERTIES: {
		/* the owner check is statement 0; the page reads the import only
		 * when it is the user's, too. A cursor of another import reads
		 * nothing and is refused once the import is known to be the
		 * user's (someone else's stays a plain 404). */
		bool other = c->pos.started && c->pos.job != c->id;
		rc = pf_query_append_owner(u, c->id, c->user);
		rc = pf_query_append_planner(u, c->query);
		rc = pf_query_append_page(u, c->query, PF_QUERY_IMPORT, c->id, c->user, NULL,
		                          &c->pos, other ? 0 : c->query->limit + 1);
		break;
	}
	case READ_ALL_PROPERTIES:
		rc = pf_query_append_planner(u, c->query);
		rc = pf_query_append_page(u, c->query, PF_QUERY_ALL, 0, c->user, c->jobs, &c->pos,
		                          c->query->limit + 1);
		break;
	case READ_ERRORS: {
		/* the owner check is statement 0; statement 1 must not leak rows
		 * when it fails, so it checks too. A cursor of another import
		 * reads nothing (position and limit 0) and is refused once the
		 * import is known to be the user's. */
		bool other = c->after && c->cur.job != c->id;
		rc = pf_db_unit_stmt(u,
		                     "SELECT gen FROM import_jobs WHERE id = $1 AND user_id = $2");
		rc = pf_db_unit_int(u, c->id);
		rc = pf_db_unit_int(u, c->user);
		rc = pf_db_unit_stmt(u, "SELECT id, kind, row_no, line_no, column_name, "
		                        "value, reason, raw_text FROM import_errors "
		                        "WHERE job_id = $1 AND gen = (SELECT gen FROM "
		                        "import_jobs WHERE id = $1 AND user_id = $4) "
		                        "AND id > $2 ORDER BY id LIMIT $3");
		rc = pf_db_unit_int(u, c->id);
		rc = pf_db_unit_int(u, c->after && !other ? c->cur.pos : 0);
		rc = pf_db_unit_int(u, other ? 0 : c->limit + 1);
		rc = pf_db_unit_int(u, c->user);
		break;
	}
	case READ_PROPERTY:
		rc = pf_db_unit_stmt(
		    u, "SELECT " PF_RECORD_COLUMNS_R ", j.raw_dict, w.data "
		       "FROM property_records r JOIN import_jobs j ON j.id = r.job_id "
		       "LEFT JOIN property_raw w ON w.job_id = r.job_id AND "
		       "w.gen = r.gen AND w.row_no = r.row_no WHERE r.id = $1 AND "
		       "r.gen = j.gen AND j.user_id = $2 AND r.job_id = ANY ($3::bigint[])");
		rc = pf_db_unit_int(u, c->id);
		rc = pf_db_unit_int(u, c->user);
		rc = pf_db_unit_text(u, c->jobs);
		break;
	default: abort();
	}
	return rc;
}

/* Runs c's read; c is owned by the unit from here on (or freed). */
static void read_send(read_ctx *c);

/* The page across imports and a record by id name the user's imports,
 * read first: with their ids as a constant the planner reads only their
 * segments, where a join on import_jobs alone planned every segment of
 * every user's imports (schema/011_segments.sql) on each read. */
static void jobs_loaded_cb(void *arg, const pf_db_result *r)
{
	read_ctx *c = arg;
	if (r->error) {
		pf_respond_db_error(c->req, r);
		read_free(c);
		return;
	}
	const char *v = pf_db_value(r, 0, 0, 0);
	c->jobs = strdup(v ? v : "{}");
	if (!c->jobs) {
		pf_respond_oom(c->req);
		read_free(c);
		return;
	}
	read_send(c);
}

static void read_submit(read_ctx *c)
{
	if ((records_read(c) || c->kind == READ_ERRORS) && !open_cursor(c)) {
		read_free(c);
		return;
	}
	if ((c->kind == READ_ALL_PROPERTIES || c->kind == READ_PROPERTY) && !c->jobs) {
		pf_db_unit *u = pf_db_unit_new(jobs_loaded_cb, c);
		int rc =
		    u ? pf_db_unit_stmt(u, "SELECT coalesce(array_agg(id ORDER BY id), '{}')::text "
		                           "FROM import_jobs WHERE user_id = $1")
		      : PF_ENOMEM;
		rc = pf_db_unit_int(u, c->user);
		if (rc != 0) {
			pf_db_unit_free(u);
			pf_respond_oom(c->req);
			read_free(c);
			return;
		}
		pf_db_submit(c->api->readers, 0, u);
		return;
	}
	read_send(c);
}

static void read_send(read_ctx *c)
{
	pf_db_unit *u = pf_db_unit_new(read_done_cb, c);
	if (!u || read_build(c, u) != 0) {
		pf_db_unit_free(u);
		pf_respond_oom(c->req);
		read_free(c);
		return;
	}
	pf_db_submit(c->api->readers, 0, u);
}

/* ---------------- the cursor key ---------------- */

/* Made once by whichever instance comes first (schema/006_cursor_key.sql). */
static const char sql_key_insert[] = "INSERT INTO server_keys (name, secret) "
                                     "VALUES ('cursor', decode($1, 'hex')) "
                                     "ON CONFLICT (name) DO NOTHING";
static const char sql_key_read[] =
    "SELECT encode(secret, 'hex') FROM server_keys WHERE name = 'cursor'";

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static void key_loaded_cb(void *arg, const pf_db_result *r)
{
	read_ctx *c = arg;
	if (r->error) {
		pf_respond_db_error(c->req, r);
		read_free(c);
		return;
	}
	const char *hex = pf_db_value(r, 1, 0, 0);
	uint8_t key[PF_CURSOR_KEY_BYTES];
	bool ok = hex && strlen(hex) == 2 * sizeof(key);
	for (size_t i = 0; ok && i < sizeof(key); i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
		ok = hi >= 0 && lo >= 0;
		if (ok)
			key[i] = (uint8_t)(hi << 4 | lo);
	}
	if (!ok) {
		pf_error("api: the cursor key in server_keys is not 32 bytes");
		pf_http_respond_error(c->req, 500, "cannot read the cursor key", NULL);
		read_free(c);
		return;
	}
	if (!c->api->cursor_key_ready) {
		memcpy(c->api->cursor_key, key, sizeof(key));
		c->api->cursor_key_ready = true;
	}
	explicit_bzero(key, sizeof(key));
	read_submit(c);
}

/* The first page read of this process fetches the key (making it when no
 * instance has yet); reads that arrive meanwhile fetch it too, which is
 * harmless: every one gets the same row. */
static void key_load(read_ctx *c)
{
	uint8_t mine[PF_CURSOR_KEY_BYTES];
	char hex[2 * PF_CURSOR_KEY_BYTES + 1];
	if (RAND_bytes(mine, sizeof(mine)) != 1) {
		pf_http_respond_error(c->req, 500, "cannot make a cursor key", NULL);
		read_free(c);
		return;
	}
	for (size_t i = 0; i < sizeof(mine); i++)
		snprintf(hex + 2 * i, 3, "%02x", mine[i]);
	explicit_bzero(mine, sizeof(mine));
	pf_db_unit *u = pf_db_unit_new(key_loaded_cb, c);
	int rc = u ? pf_db_unit_stmt(u, sql_key_insert) : PF_ENOMEM;
	rc = pf_db_unit_text(u, hex);
	rc = pf_db_unit_stmt(u, sql_key_read);
	explicit_bzero(hex, sizeof(hex));
	if (rc != 0) {
		pf_db_unit_free(u);
		pf_respond_oom(c->req);
		read_free(c);
		return;
	}
	pf_db_submit(c->api->writers, 0, u);
}

/* ---------------- entry points ---------------- */

/* limit and after from the query string; 400 on nonsense. */
static bool page_params(pf_http_req *req, int *limit, const char **after)
{
	const char *l = pf_http_req_param(req, "limit");
	const char *a = pf_http_req_param(req, "after");
	*limit = PF_API_PAGE_DEFAULT;
	*after = a && *a ? a : NULL;
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
	return true;
}

static void read_cached_cb(void *arg, pf_http_req *req, const pf_cache_ticket *t);
static void read_go(read_ctx *c);

static void start_read(pf_api *api, pf_http_req *req, read_kind kind, int64_t id, int64_t user)
{
	if (!pf_respond_db_up(req, api->readers))
		return;
	bool records = kind == READ_PROPERTIES || kind == READ_ALL_PROPERTIES;
	int limit = 0;
	const char *after = NULL;
	pf_query *query = NULL;
	if (kind == READ_ERRORS && !page_params(req, &limit, &after))
		return;
	if (records) {
		pf_query_error e;
		query = malloc(sizeof(*query));
		if (!query) {
			pf_respond_oom(req);
			return;
		}
		int rc = pf_query_parse(query, req, &e);
		if (rc != 0) {
			free(query);
			if (rc == PF_EINVAL)
				respond_param_error(req, &e);
			else
				pf_respond_oom(req);
			return;
		}
	}
	read_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		free(query);
		pf_respond_oom(req);
		return;
	}
	*c = (read_ctx){.api = api,
	                .req = req,
	                .kind = kind,
	                .id = id,
	                .user = user,
	                .limit = limit,
	                .after = after,
	                .query = query};
	/* the job, the list and a first page (of an import, or across the
	 * user's imports: any q, filters and sort, no cursor) go through the
	 * cache (cache.h); read_cached_cb goes on below. A search asked again
	 * (the page comes back to it, another tab, a reload) is a hit until
	 * the import's state changes. */
	char params[PF_CACHE_KEY_MAX];
	bool first_page = records && query->after[0] == 0 &&
	                  pf_query_canonical(query, params, sizeof(params)) == 0;
	if (kind == READ_JOB || kind == READ_JOB_LIST || first_page) {
		pf_cache_key k = {user, kind == READ_ALL_PROPERTIES ? 0 : id,
		                  kind == READ_JOB              ? "job"
		                  : kind == READ_JOB_LIST       ? "jobs"
		                  : kind == READ_ALL_PROPERTIES ? "all"
		                                                : "page",
		                  first_page ? params : ""};
		pf_cache_serve(api->cache, req, &k, read_cached_cb, c);
		return;
	}
	read_go(c);
}

/* The cache's answer: served (free), or a miss to read. */
static void read_cached_cb(void *arg, pf_http_req *req, const pf_cache_ticket *t)
{
	read_ctx *c = arg;
	if (!t) {
		read_free(c);
		return;
	}
	c->ticket = *t;
	read_go(c);
}

static void read_go(read_ctx *c)
{
	pf_api *api = c->api;
	bool page =
	    c->kind == READ_PROPERTIES || c->kind == READ_ALL_PROPERTIES || c->kind == READ_ERRORS;
	if (page && !api->cursor_key_ready) {
		if (pf_respond_db_up(c->req, api->writers))
			key_load(c);
		else
			read_free(c);
		return;
	}
	read_submit(c);
}

void pf_reads_health(pf_api *api, pf_http_req *req)
{
	start_read(api, req, READ_HEALTH, 0, 0);
}

void pf_reads_jobs(pf_api *api, pf_http_req *req, int64_t user)
{
	start_read(api, req, READ_JOB_LIST, 0, user);
}

void pf_reads_job(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	start_read(api, req, READ_JOB, id, user);
}

void pf_reads_properties(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	start_read(api, req, READ_PROPERTIES, id, user);
}

void pf_reads_all_properties(pf_api *api, pf_http_req *req, int64_t user)
{
	start_read(api, req, READ_ALL_PROPERTIES, 0, user);
}

void pf_reads_errors(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	start_read(api, req, READ_ERRORS, id, user);
}

void pf_reads_property(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	start_read(api, req, READ_PROPERTY, id, user);
}

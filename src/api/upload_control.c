/*
 * upload_control.c - what is done to an import once it exists: DELETE
 * (cancel a running job, or delete the row and its rows) and POST
 * .../reprocess (run the stored file again, optionally with a mapping
 * override, admitted like an upload); see upload.h. Each request's
 * context (ctl_ctx) is owned here until it answers. The upload object is
 * not used: only the tus header, as DELETE is tus termination too.
 */
#include "upload_internal.h"

#include "propflow/api/respond.h"
#include "propflow/base/log.h"
#include "propflow/ingest/mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- DELETE ---------------- */

typedef struct ctl_ctx {
	pf_api *api;
	pf_http_req *req;
	int64_t id;
	int64_t user;    /* the import must be theirs */
	cJSON *override; /* owned: reprocess mapping, or NULL */
	char *body;      /* owned: reprocess request body */
	size_t body_len;
} ctl_ctx;

static void ctl_free(ctl_ctx *c)
{
	cJSON_Delete(c->override);
	free(c->body);
	free(c);
}

/* Answers the request with an error, then frees the context. */
static void ctl_fail(ctl_ctx *c, int status, const char *msg)
{
	pf_http_respond_error(c->req, status, msg, NULL);
	ctl_free(c);
}

static void cancel_done(void *arg, bool ok)
{
	ctl_ctx *c = arg;
	upload_tus_headers(c->req);
	pf_cache_forget(c->api->cache, c->user, c->id);
	if (ok)
		pf_http_respond(c->req, 204, NULL, NULL, 0);
	else
		pf_http_respond_error(c->req, 503, "the import could not be deleted", NULL);
	ctl_free(c);
}

static void delete_done_cb(void *arg, const pf_db_result *r)
{
	ctl_ctx *c = arg;
	upload_tus_headers(c->req);
	if (r->error)
		pf_respond_db_error(c->req, r);
	else if (pf_db_rows(r, 0) == 0)
		pf_http_respond_error(c->req, 404, "not found", NULL);
	else {
		pf_info("import %lld: deleted", (long long)c->id);
		pf_cache_forget(c->api->cache, c->user, c->id);
		pf_events_job_deleted(c->api->events, c->id, c->user);
		pf_http_respond(c->req, 204, NULL, NULL, 0);
	}
	ctl_free(c);
}

void pf_upload_delete(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	if (!pf_respond_db_up(req, api->writers))
		return;
	ctl_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		pf_http_respond_error(req, 503, "out of memory", NULL);
		return;
	}
	*c = (ctl_ctx){api, req, id, user, NULL, NULL, 0};
	pf_job *job = pf_job_find(api->env, id);
	if (job && pf_job_user(job) == user && !pf_job_state_terminal(pf_job_state_of(job))) {
		pf_job_cancel(job, cancel_done, c);
		return;
	}
	/* not running here: delete the row (its rows go with it); a process
	 * running it elsewhere finds it gone at its next batch */
	pf_db_unit *u = pf_db_unit_new(delete_done_cb, c);
	int rc = u ? 0 : PF_ENOMEM;
	rc = pf_db_unit_stmt(u, "DELETE FROM import_jobs WHERE id = $1 AND user_id = $2 "
	                        "RETURNING id");
	rc = pf_db_unit_int(u, id);
	rc = pf_db_unit_int(u, user);
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		ctl_fail(c, 503, "out of memory");
		return;
	}
	pf_db_submit(api->writers, (uint64_t)id, u);
}

/* ---------------- reprocess ---------------- */

static const char sql_reprocess[] =
    "UPDATE import_jobs SET work_gen = gen + 1, state = 'processing', next_record = 1, "
    "next_offset = 0, next_line = 1, next_cr = false, shape = NULL, columns = '[]', "
    "rows_parsed = 0, rows_inserted = 0, rows_rejected = 0, rows_warned = 0, raw_bytes = 0, "
    "raw_stored_bytes = 0, error = NULL, finished_at = NULL, mapping_override = $2::jsonb, "
    "updated_at = now() WHERE id = $1 AND user_id = $3 "
    "AND state IN ('done', 'failed', 'interrupted') AND bytes_durable > 0 "
    "AND (SELECT count(*) FROM import_jobs WHERE user_id = $3 "
    "AND state IN ('receiving', 'processing')) < $4 RETURNING " PF_JOB_COLUMNS;

static const char *const sql_leftovers[] = {
    "DELETE FROM property_records WHERE job_id = $1 AND "
    "gen <> (SELECT gen FROM import_jobs WHERE id = $1)",
    "DELETE FROM property_raw WHERE job_id = $1 AND "
    "gen <> (SELECT gen FROM import_jobs WHERE id = $1)",
    "DELETE FROM import_errors WHERE job_id = $1 AND "
    "gen <> (SELECT gen FROM import_jobs WHERE id = $1)",
};

static void reprocess_started_cb(void *arg, const pf_db_result *r)
{
	ctl_ctx *c = arg;
	if (r->error) {
		pf_respond_db_error(c->req, r);
		ctl_free(c);
		return;
	}
	if (pf_db_rows(r, 1) == 0) {
		const char *v = pf_db_value(r, 0, 0, 0);
		int64_t running = v ? strtoll(v, NULL, 10) : 0, max = c->api->cfg->user_max_imports;
		if (running >= max) {
			char detail[96];
			snprintf(detail, sizeof(detail), "{\"running\": %lld, \"max\": %lld}",
			         (long long)running, (long long)max);
			pf_respond_header(c->req, "Retry-After", "5");
			pf_http_respond_error(c->req, 429, "too many imports running", detail);
		} else {
			pf_http_respond_error(c->req, 409,
			                      "the import changed meanwhile; try again", NULL);
		}
		ctl_free(c);
		return;
	}
	cJSON *o = pf_job_row_to_json(r, 1, 0);
	if (!pf_job_adopt(c->api->env, c->id, c->user, NULL, NULL)) {
		cJSON_Delete(o);
		ctl_fail(c, 503, "out of memory");
		return;
	}
	pf_cache_forget(c->api->cache, c->user, c->id);
	pf_info("import %lld: reprocessing%s", (long long)c->id,
	        c->override ? " with a mapping override" : "");
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/imports/%lld", (long long)c->id);
	pf_respond_header(c->req, "Location", loc);
	pf_respond_cjson(c->req, 202, o);
	ctl_free(c);
}

/* Does the header (the shape's, as stored) have a column of this name? */
static bool header_has(const cJSON *hdr, const char *name)
{
	int i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, hdr)
	{
		i++;
		char col[32];
		snprintf(col, sizeof(col), "column_%d", i);
		if (cJSON_IsString(it) &&
		    (strcmp(it->valuestring, name) == 0 ||
		     (!it->valuestring[strspn(it->valuestring, " \t")] && strcmp(col, name) == 0)))
			return true;
	}
	return false;
}

static void reprocess_check_cb(void *arg, const pf_db_result *r)
{
	ctl_ctx *c = arg;
	if (r->error) {
		pf_respond_db_error(c->req, r);
		ctl_free(c);
		return;
	}
	if (pf_db_rows(r, 0) == 0) {
		ctl_fail(c, 404, "not found");
		return;
	}
	const char *state = pf_db_value(r, 0, 0, 0);
	const char *durable = pf_db_value(r, 0, 0, 2);
	if (pf_job_find(c->api->env, c->id) || !state ||
	    (strcmp(state, "done") && strcmp(state, "failed") && strcmp(state, "interrupted"))) {
		char msg[96];
		snprintf(msg, sizeof(msg), "the import is %s: wait until it ends",
		         state ? state : "running");
		ctl_fail(c, 409, msg);
		return;
	}
	if (!durable || strcmp(durable, "0") == 0) {
		ctl_fail(c, 409, "the file of this import is not stored");
		return;
	}
	if (c->override) {
		const char *shape_txt = pf_db_value(r, 0, 0, 1);
		cJSON *shape = shape_txt ? cJSON_Parse(shape_txt) : NULL;
		const cJSON *hdr = cJSON_GetObjectItemCaseSensitive(shape, "header");
		const cJSON *it;
		char msg[160] = "";
		cJSON_ArrayForEach(it, c->override)
		{
			if (!header_has(hdr, it->string)) {
				snprintf(msg, sizeof(msg), "no column \"%.64s\" in the file",
				         it->string);
				break;
			}
		}
		cJSON_Delete(shape);
		if (msg[0]) {
			ctl_fail(c, 400, msg);
			return;
		}
	}
	pf_db_unit *u = pf_db_unit_new(reprocess_started_cb, c);
	char *ov = c->override ? cJSON_PrintUnformatted(c->override) : NULL;
	int rc = u ? 0 : PF_ENOMEM;
	/* admitted like an upload: the owner's running imports are counted
	 * under the admission lock (schema/007), and the job restarts only
	 * below --user-max-imports, in the same transaction */
	rc = pf_db_unit_stmt(u, "SELECT pf_job_running($1)");
	rc = pf_db_unit_int(u, c->user);
	rc = pf_db_unit_stmt(u, sql_reprocess);
	rc = pf_db_unit_int(u, c->id);
	rc = pf_db_unit_text(u, ov);
	rc = pf_db_unit_int(u, c->user);
	rc = pf_db_unit_int(u, c->api->cfg->user_max_imports);
	for (int i = 0; i < 3 && rc == 0; i++) {
		rc = pf_db_unit_stmt(u, sql_leftovers[i]);
		rc = pf_db_unit_int(u, c->id);
	}
	free(ov);
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		ctl_fail(c, 503, "out of memory");
		return;
	}
	pf_db_submit(c->api->writers, (uint64_t)c->id, u);
}

/* {"fields": ["source_id", ...]}: the canonical names, for a 400 that
 * names an unknown one. Owned by the caller; NULL on ENOMEM. */
static char *fields_detail(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = o ? cJSON_AddArrayToObject(o, "fields") : NULL;
	for (int f = 0; a && f < PF_F__COUNT; f++)
		cJSON_AddItemToArray(a, cJSON_CreateString(pf_field_name((pf_field)f)));
	char *s = a ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return s;
}

/*
 * {"mapping": {"header": "field" | null, ...}} or an empty body. Anything
 * else is refused, naming what is wrong, rather than ignored: a misspelt
 * key would otherwise start a full reprocess with the default mapping.
 * On PF_EINVAL msg says why and *detail (owned, may stay NULL) adds JSON.
 */
static int parse_reprocess_body(ctl_ctx *c, char *msg, size_t cap, char **detail)
{
	if (c->body_len == 0)
		return 0;
	cJSON *o = cJSON_ParseWithLength(c->body, c->body_len);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		snprintf(msg, cap, "the body must be a JSON object: {\"mapping\": {...}}");
		return PF_EINVAL;
	}
	const cJSON *k;
	cJSON_ArrayForEach(k, o)
	{
		if (strcmp(k->string, "mapping") != 0) {
			snprintf(msg, cap,
			         "unknown key \"%.64s\": the body is {\"mapping\": {...}}",
			         k->string);
			cJSON_Delete(o);
			return PF_EINVAL;
		}
	}
	cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(o, "mapping");
	cJSON_Delete(o);
	if (!m || cJSON_IsNull(m)) {
		cJSON_Delete(m);
		return 0;
	}
	if (!cJSON_IsObject(m)) {
		cJSON_Delete(m);
		snprintf(msg, cap, "mapping must be an object of header: field or null");
		return PF_EINVAL;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, m)
	{
		if (cJSON_IsNull(it))
			continue;
		if (!cJSON_IsString(it)) {
			snprintf(msg, cap,
			         "mapping: the value for \"%.64s\" must be a field name or null",
			         it->string);
			cJSON_Delete(m);
			return PF_EINVAL;
		}
		if (pf_field_by_name(it->valuestring) < 0) {
			snprintf(msg, cap, "mapping: unknown field \"%.64s\" for \"%.64s\"",
			         it->valuestring, it->string);
			*detail = fields_detail();
			cJSON_Delete(m);
			return PF_EINVAL;
		}
	}
	c->override = m;
	return 0;
}

static int rp_body_cb(void *arg, pf_http_req *req, const char *data, size_t len)
{
	ctl_ctx *c = arg;
	char *p = realloc(c->body, c->body_len + len + 1);
	if (!p)
		return PF_ENOMEM;
	c->body = p;
	memcpy(c->body + c->body_len, data, len);
	c->body_len += len;
	return 0;
}

static void rp_end_cb(void *arg, pf_http_req *req)
{
	ctl_ctx *c = arg;
	char msg[224], *detail = NULL;
	if (parse_reprocess_body(c, msg, sizeof(msg), &detail) != 0) {
		pf_http_respond_error(c->req, 400, msg, detail);
		free(detail);
		ctl_free(c);
		return;
	}
	pf_db_unit *u = pf_db_unit_new(reprocess_check_cb, c);
	int rc = u ? 0 : PF_ENOMEM;
	rc = pf_db_unit_stmt(u, "SELECT state, shape::text, bytes_durable FROM import_jobs "
	                        "WHERE id = $1 AND user_id = $2");
	rc = pf_db_unit_int(u, c->id);
	rc = pf_db_unit_int(u, c->user);
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		ctl_fail(c, 503, "out of memory");
		return;
	}
	pf_db_submit(c->api->readers, 0, u);
}

static void rp_abort_cb(void *arg, pf_http_req *req, pf_http_abort why)
{
	ctl_ctx *c = arg;
	ctl_fail(c, why == PF_HTTP_ABORT_TOO_LARGE ? 413 : 400, "reprocess request: body");
}

void pf_upload_reprocess(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	if (!pf_respond_db_up(req, api->writers))
		return;
	ctl_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		pf_http_respond_error(req, 503, "out of memory", NULL);
		return;
	}
	*c = (ctl_ctx){api, req, id, user, NULL, NULL, 0};
	pf_http_req_read_body(req, PF_REPROCESS_BODY_MAX, rp_body_cb, rp_end_cb, rp_abort_cb, c);
}

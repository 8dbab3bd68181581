/*
 * upload_tus.c - the tus 1.0.0 routes (core, creation, termination's
 * header): POST creates an empty resumable import, HEAD tells its offset,
 * PATCH appends from it, OPTIONS advertises; and POST /api/imports itself,
 * which is tus creation when Tus-Resumable is present and a one-shot
 * upload (upload.c) otherwise. Upload-Metadata is read here
 * (pf_tus_metadata). A PATCH streams through the upload object of
 * upload.c; an interrupted one leaves the import waiting for the next.
 */
#include "upload_internal.h"

#include "propflow/api/respond.h"
#include "propflow/base/utf8.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------- helpers ---------------- */

static void tus_error(pf_http_req *req, int status, const char *msg, const char *detail)
{
	upload_tus_headers(req);
	pf_http_respond_error(req, status, msg, detail);
}

/* Tus-Resumable must name our version (412 otherwise). */
static bool tus_version_ok(pf_http_req *req)
{
	const char *v = pf_http_req_header(req, "Tus-Resumable");
	if (v && strcmp(v, PF_TUS_VERSION) == 0)
		return true;
	pf_respond_header(req, "Tus-Version", PF_TUS_VERSION);
	upload_tus_headers(req);
	pf_http_respond_error(req, 412, "Tus-Resumable must be " PF_TUS_VERSION, NULL);
	return false;
}

int pf_tus_metadata(const char *header, const char *key, char *out, size_t cap)
{
	if (!header)
		return 1;
	if (strlen(header) > PF_TUS_METADATA_MAX)
		return PF_EINVAL;
	size_t klen = strlen(key);
	const char *p = header;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *k = p;
		while (*p && *p != ' ' && *p != ',')
			p++;
		size_t kl = (size_t)(p - k);
		const char *v = NULL;
		size_t vl = 0;
		if (*p == ' ') {
			while (*p == ' ')
				p++;
			v = p;
			while (*p && *p != ',' && *p != ' ')
				p++;
			vl = (size_t)(p - v);
		}
		while (*p == ' ')
			p++;
		if (*p && *p != ',')
			return PF_EINVAL;
		if (kl != klen || strncmp(k, key, klen) != 0)
			continue;
		if (!v || vl == 0) {
			if (cap < 1)
				return PF_EINVAL;
			out[0] = 0;
			return 0;
		}
		if (vl % 4 != 0 || vl / 4 * 3 >= cap)
			return PF_EINVAL;
		for (size_t i = 0; i < vl; i++)
			if (!isalnum((unsigned char)v[i]) && v[i] != '+' && v[i] != '/' &&
			    !(v[i] == '=' && i >= vl - 2))
				return PF_EINVAL;
		int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)v, (int)vl);
		if (n < 0)
			return PF_EINVAL;
		/* EVP_DecodeBlock counts the padding as zero bytes */
		n -= (v[vl - 1] == '=') + (v[vl - 2] == '=');
		if (memchr(out, 0, (size_t)n))
			return PF_EINVAL;
		out[n] = 0;
		return 0;
	}
	return 1;
}

/* The writers are reachable, or 503 (with the tus header) is answered. */
static bool tus_db_up(pf_api *api, pf_http_req *req)
{
	if (pf_db_ready_count(api->writers))
		return true;
	upload_tus_headers(req);
	(void)pf_respond_db_up(req, api->writers);
	return false;
}

/* ---------------- tus ---------------- */

void pf_upload_options(pf_api *api, pf_http_req *req)
{
	upload_tus_headers(req);
	pf_respond_header(req, "Tus-Version", PF_TUS_VERSION);
	pf_respond_header(req, "Tus-Extension", PF_TUS_EXTENSIONS);
	upload_header_int(req, "Tus-Max-Size", api->cfg->max_upload);
	pf_http_respond(req, 204, NULL, NULL, 0);
}

static void create_started(upload *up, pf_job *job, pf_job_reason err)
{
	if (err != PF_JOB_OK) {
		upload_start_refused(up);
		return;
	}
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/imports/%lld", (long long)pf_job_id(up->job));
	pf_respond_header(up->req, "Location", loc);
	upload_tus_headers(up->req);
	pf_cache_forget(up->api->cache, up->user, pf_job_id(up->job)); /* a new row in the list */
	pf_respond_cjson(up->req, 201, pf_job_to_json(up->job));
	upload_close(up);
}

static void tus_create(pf_api *api, pf_http_req *req, int64_t user)
{
	if (!tus_version_ok(req))
		return;
	if (pf_http_req_has_body(req) && pf_http_req_content_length(req) != 0) {
		tus_error(req, 400, "creation-with-upload is not supported: POST, then PATCH",
		          NULL);
		return;
	}
	if (pf_http_req_header(req, "Upload-Defer-Length")) {
		tus_error(req, 400, "Upload-Defer-Length is not supported", NULL);
		return;
	}
	int64_t len = pf_parse_count(pf_http_req_header(req, "Upload-Length"));
	if (len < 0) {
		tus_error(req, 400, "Upload-Length must be a byte count", NULL);
		return;
	}
	if (len == 0) {
		tus_error(req, 400, "the file is empty", NULL);
		return;
	}
	if (len > api->cfg->max_upload) {
		char detail[64];
		snprintf(detail, sizeof(detail), "{\"max_bytes\": %lld}",
		         (long long)api->cfg->max_upload);
		tus_error(req, 413, "upload too large", detail);
		return;
	}
	char name[PF_JOB_NAME_MAX + 1];
	int rc = pf_tus_metadata(pf_http_req_header(req, "Upload-Metadata"), "filename", name,
	                         sizeof(name));
	if (rc < 0) {
		tus_error(req, 400, "Upload-Metadata is malformed", NULL);
		return;
	}
	if (rc == 0 && !pf_utf8_valid(name, strlen(name))) {
		tus_error(req, 400, "Upload-Metadata filename is not UTF-8", NULL);
		return;
	}
	if (!tus_db_up(api, req))
		return;
	upload *up = upload_new(api, req, UP_CREATE, user, create_started);
	if (!up)
		return;
	up->job = pf_job_new(api->env, rc == 0 ? name : NULL, len, &upload_hooks, up);
	if (!up->job) {
		upload_fail(up, 503, "out of memory", NULL);
		return;
	}
	pf_job_set_owner(up->job, user);
	pf_job_set_resumable(up->job);
	up->started = true;
	pf_job_start(up->job);
}

void pf_upload_post(pf_api *api, pf_http_req *req, int64_t user)
{
	if (pf_http_req_header(req, "Tus-Resumable"))
		tus_create(api, req, user);
	else
		upload_oneshot_start(api, req, user);
}

/* The job is ours (attached or adopted): check the offset, then read. */
static void patch_go(upload *up)
{
	int64_t have = pf_job_upload_offset(up->job);
	if (!pf_job_accepting(up->job)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "the import is %s",
		         pf_job_state_name(pf_job_state_of(up->job)));
		upload_header_int(up->req, "Upload-Offset", have);
		upload_fail(up, 409, pf_job_error(up->job) ? pf_job_error(up->job) : msg, NULL);
		return;
	}
	if (up->offset != have) {
		char msg[128];
		snprintf(msg, sizeof(msg), "Upload-Offset is %lld, the upload is at %lld",
		         (long long)up->offset, (long long)have);
		upload_header_int(up->req, "Upload-Offset", have);
		upload_fail(up, 409, msg, NULL);
		return;
	}
	int64_t clen = pf_http_req_content_length(up->req);
	int64_t total = pf_job_bytes_total(up->job);
	if (clen > 0 && total >= 0 && clen > total - have) {
		upload_fail(up, 413, "more bytes than Upload-Length", NULL);
		return;
	}
	upload_read(up, (uint64_t)(total >= 0 ? total - have : 0) + 1);
}

/* PATCH on an adopted job: its row was read back, or could not be. */
static void patch_started(upload *up, pf_job *job, pf_job_reason err)
{
	switch (err) {
	case PF_JOB_OK: break;
	case PF_JOB_WHY_NOT_FOUND:
	case PF_JOB_WHY_DELETED:
		up->job = NULL;                          /* it ends by itself */
		upload_fail(up, 404, "not found", NULL); /* as for any missing id */
		return;
	default:
		up->job = NULL;
		upload_fail(up, 409,
		            pf_job_error(job) ? pf_job_error(job) : pf_job_reason_text(err), NULL);
		return;
	}
	patch_go(up);
}

static void patch_check_owner(upload *up);
static void patch_take(upload *up, pf_job *job);

void pf_upload_patch(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	if (!tus_version_ok(req))
		return;
	const char *ct = pf_http_req_header(req, "Content-Type");
	if (!ct || strcasecmp(ct, "application/offset+octet-stream") != 0) {
		tus_error(req, 415, "Content-Type must be application/offset+octet-stream", NULL);
		return;
	}
	int64_t off = pf_parse_count(pf_http_req_header(req, "Upload-Offset"));
	if (off < 0) {
		tus_error(req, 400, "Upload-Offset must be a byte count", NULL);
		return;
	}
	if (!tus_db_up(api, req))
		return;
	upload *up = upload_new(api, req, UP_PATCH, user, patch_started);
	if (!up)
		return;
	up->offset = off;
	up->id = id;
	pf_job *job = pf_job_find(api->env, id);
	if (job && pf_job_user(job) != user) {
		upload_fail(up, 404, "not found", NULL);
		return;
	}
	if (!job) {
		/* not in memory: the row must be this user's before the job is
		 * taken in (another user's PATCH must not hold it, even briefly) */
		patch_check_owner(up);
		return;
	}
	patch_take(up, job);
}

/* A live job of the user's: attach, or refuse with its state. */
static void patch_take(upload *up, pf_job *job)
{
	pf_http_req *req = up->req;
	if (job) {
		if (!pf_job_accepting(job)) {
			upload_header_int(req, "Upload-Offset", pf_job_upload_offset(job));
			char msg[96];
			snprintf(msg, sizeof(msg), "the import is %s%s",
			         pf_job_state_name(pf_job_state_of(job)),
			         pf_job_resumable(job) ? "" : " and not resumable");
			upload_fail(up, 409, msg, NULL);
			return;
		}
		up->job = job;
		up->started = true;
		up->created = pf_job_ready(job); /* else on_started tells */
		pf_job_attach(job, &upload_hooks, up);
		if (pf_job_ready(job))
			patch_go(up);
		return;
	}
	up->started = true;
	up->job = pf_job_adopt(up->api->env, up->id, up->user, &upload_hooks, up);
	if (!up->job)
		upload_fail(up, 503, "out of memory", NULL);
}

static void patch_owner_cb(void *arg, const pf_db_result *r)
{
	upload *up = arg;
	if (r->error) {
		upload_tus_headers(up->req);
		pf_respond_db_error(up->req, r);
		upload_close(up);
		return;
	}
	if (pf_db_rows(r, 0) == 0) {
		upload_fail(up, 404, "not found", NULL);
		return;
	}
	/* another PATCH of the owner's may have taken it in meanwhile */
	pf_job *job = pf_job_find(up->api->env, up->id);
	if (job && pf_job_user(job) != up->user) {
		upload_fail(up, 404, "not found", NULL);
		return;
	}
	patch_take(up, job);
}

static void patch_check_owner(upload *up)
{
	pf_db_unit *u = pf_db_unit_new(patch_owner_cb, up);
	if (!u || pf_db_unit_stmt(u, "SELECT 1 FROM import_jobs WHERE id = $1 AND user_id = $2") ||
	    pf_db_unit_int(u, up->id) || pf_db_unit_int(u, up->user)) {
		pf_db_unit_free(u);
		upload_fail(up, 503, "out of memory", NULL);
		return;
	}
	pf_db_submit(up->api->readers, 0, u);
}

/* ---------------- HEAD ---------------- */

typedef struct head_ctx {
	pf_http_req *req;
} head_ctx;

static void head_done_cb(void *arg, const pf_db_result *r)
{
	head_ctx *c = arg;
	pf_http_req *req = c->req;
	free(c);
	upload_tus_headers(req);
	pf_respond_header(req, "Cache-Control", "no-store");
	if (r->error) {
		pf_respond_db_error(req, r);
		return;
	}
	if (pf_db_rows(r, 0) == 0) {
		pf_http_respond(req, 404, NULL, NULL, 0);
		return;
	}
	pf_respond_header(req, "Upload-Offset", pf_db_value(r, 0, 0, 0));
	const char *total = pf_db_value(r, 0, 0, 1);
	if (total)
		pf_respond_header(req, "Upload-Length", total);
	pf_http_respond(req, 200, NULL, NULL, 0);
}

void pf_upload_head(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_job *job = pf_job_find(api->env, id);
	if (job && pf_job_ready(job) && pf_job_user(job) == user) {
		/* live here: what this process has accepted */
		upload_tus_headers(req);
		pf_respond_header(req, "Cache-Control", "no-store");
		upload_header_int(req, "Upload-Offset", pf_job_upload_offset(job));
		if (pf_job_bytes_total(job) >= 0)
			upload_header_int(req, "Upload-Length", pf_job_bytes_total(job));
		pf_http_respond(req, 200, NULL, NULL, 0);
		return;
	}
	if (!pf_respond_db_up(req, api->readers))
		return;
	head_ctx *c = calloc(1, sizeof(*c));
	pf_db_unit *u = c ? pf_db_unit_new(head_done_cb, c) : NULL;
	int rc = u ? 0 : PF_ENOMEM;
	rc = pf_db_unit_stmt(u, "SELECT bytes_durable, bytes_total FROM import_jobs "
	                        "WHERE id = $1 AND user_id = $2");
	rc = pf_db_unit_int(u, id);
	rc = pf_db_unit_int(u, user);
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		free(c);
		pf_http_respond_error(req, 503, "out of memory", NULL);
		return;
	}
	c->req = req;
	pf_db_submit(api->readers, 0, u);
}

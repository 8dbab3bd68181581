/*
 * upload.c - files coming in over HTTP (one-shot and tus) and what is done
 * to an import afterwards (delete, reprocess); see upload.h.
 *
 * Every acknowledgement waits for the bytes to be stored: a 202 or a tus
 * 204 means the file (or the PATCH) survives a crash from then on.
 */
#include "propflow/api/upload.h"
#include "propflow/api/respond.h"
#include "propflow/base/log.h"
#include "propflow/base/utf8.h"
#include "propflow/ingest/mapping.h"
#include "propflow/net/multipart.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------- helpers ---------------- */

static void add_header(pf_http_req *req, const char *name, const char *value)
{
	if (pf_http_add_header(req, name, value) != 0)
		pf_warn("conn %llu: %s header not added",
		        (unsigned long long)pf_http_req_conn_id(req), name);
}

static void add_header_int(pf_http_req *req, const char *name, int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	add_header(req, name, buf);
}

static void tus_headers(pf_http_req *req)
{
	add_header(req, "Tus-Resumable", PF_TUS_VERSION);
}

static void tus_error(pf_http_req *req, int status, const char *msg, const char *detail)
{
	tus_headers(req);
	pf_http_respond_error(req, status, msg, detail);
}

/* Tus-Resumable must name our version (412 otherwise). */
static bool tus_version_ok(pf_http_req *req)
{
	const char *v = pf_http_req_header(req, "Tus-Resumable");
	if (v && strcmp(v, PF_TUS_VERSION) == 0)
		return true;
	add_header(req, "Tus-Version", PF_TUS_VERSION);
	tus_headers(req);
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
	tus_headers(req);
	(void)pf_respond_db_up(req, api->writers);
	return false;
}

/* ---------------- one request streaming into a job ---------------- */

#define UPLOAD_REFUSE_MAX 256 /* bytes of a refused upload's error message */

typedef enum upload_kind {
	UP_ONESHOT = 0, /* POST with the file as body */
	UP_CREATE,      /* tus POST: no body */
	UP_PATCH,       /* tus PATCH */
} upload_kind;

/*
 * An upload lives from its request head until its answer. The HTTP layer
 * calls nothing of ours after we respond, so whoever responds also frees
 * the upload (upload_close), letting go of the job, which goes on by
 * itself (finishes, or waits for the next PATCH).
 */
typedef struct upload {
	pf_api *api;      /* borrowed */
	pf_http_req *req; /* owned until responded */
	pf_job *job;      /* shared with the pipeline; let go on close */
	pf_multipart *mp; /* owned, NULL for raw bodies */
	upload_kind kind;
	bool body_done;    /* the body ended normally */
	bool want_pause;   /* the job asked to stop reading */
	bool named;        /* ?name= given */
	bool syncing;      /* pf_job_sync called, on_durable awaited */
	bool started;      /* pf_job_start called: a row is (being) made */
	bool created;      /* on_started came without an error: the row exists */
	bool refusing;     /* answered with refuse_*: the job is being deleted first */
	uint64_t bytes;    /* file bytes fed to the job */
	int64_t offset;    /* PATCH: Upload-Offset asked for */
	int64_t user;      /* who uploads: the job must be theirs */
	int64_t id;        /* PATCH: the import asked for */
	int refuse_status; /* refusing: the answer's status */
	char refuse_msg[UPLOAD_REFUSE_MAX]; /* refusing: the answer's error */
} upload;

static void upload_close(upload *up)
{
	if (up->job)
		pf_job_release(up->job);
	pf_multipart_free(up->mp);
	up->api->uploads--;
	free(up);
}

static void upload_fail(upload *up, int status, const char *msg, const char *detail)
{
	if (up->kind != UP_ONESHOT)
		tus_headers(up->req);
	pf_http_respond_error(up->req, status, msg, detail);
	upload_close(up);
}

/* The job let us go (taken over, cancelled, shutting down). */
static void up_detached(void *arg, pf_job *job, pf_job_reason why)
{
	upload *up = arg;
	up->job = NULL;
	if (up->refusing)
		return; /* our own pf_job_cancel: the refusal answers when it commits */
	int status = why == PF_JOB_WHY_CANCELLED ? 410 : why == PF_JOB_WHY_SHUTDOWN ? 503 : 409;
	upload_fail(up, status, pf_job_reason_text(why), NULL);
}

/*
 * A refused upload (400: empty file, no or broken file part, a header that
 * cannot be read) keeps no job: the user's list shows only imports that
 * exist. If the job's row was made, the job is deleted as DELETE would
 * (rows, stored bytes, a last "cancelled" frame), and the 400 is answered
 * once that committed, so a list fetched after the answer no longer has
 * it. The request stays valid until answered even if the client leaves
 * (http.h); body bytes arriving meanwhile are not read.
 */
static void refuse_answer(upload *up)
{
	if (up->kind != UP_ONESHOT)
		tus_headers(up->req);
	pf_http_respond_error(up->req, up->refuse_status, up->refuse_msg, NULL);
	upload_close(up);
}

static void refuse_cancelled(void *arg, bool ok)
{
	upload *up = arg;
	if (!ok)
		pf_warn("conn %llu: the refused upload's import could not be deleted",
		        (unsigned long long)pf_http_req_conn_id(up->req));
	refuse_answer(up);
}

static void refuse_deleted_cb(void *arg, const pf_db_result *r)
{
	upload *up = arg;
	if (r->error)
		pf_warn("conn %llu: the refused upload's import could not be deleted: %s",
		        (unsigned long long)pf_http_req_conn_id(up->req), r->error);
	else if (pf_db_rows(r, 0) > 0)
		pf_events_job_deleted(up->api->events, strtoll(pf_db_value(r, 0, 0, 0), NULL, 10),
		                      up->user);
	refuse_answer(up);
}

/* The row exists: delete the job, then answer. */
static void refuse_discard(upload *up)
{
	pf_job *job = up->job;
	if (!job) {
		refuse_answer(up);
		return;
	}
	if (!pf_job_state_terminal(pf_job_state_of(job))) {
		/* detaches us (up_detached leaves up->job NULL), then answers */
		pf_job_cancel(job, refuse_cancelled, up);
		return;
	}
	/* it ended already: delete the row as DELETE does for a finished job */
	int64_t id = pf_job_id(job);
	pf_job_release(job);
	up->job = NULL;
	pf_db_unit *u = pf_db_unit_new(refuse_deleted_cb, up);
	int rc = u ? 0 : PF_ENOMEM;
	rc = pf_db_unit_stmt(u, "DELETE FROM import_jobs WHERE id = $1 AND user_id = $2 "
	                        "RETURNING id");
	rc = pf_db_unit_int(u, id);
	rc = pf_db_unit_int(u, up->user);
	if (rc != 0) {
		if (u)
			pf_db_unit_free(u);
		refuse_answer(up);
		return;
	}
	pf_db_submit(up->api->writers, (uint64_t)id, u);
}

/* Refuse the upload with status (400) and msg, keeping no job. */
static void upload_refuse(upload *up, int status, const char *msg)
{
	if (up->refusing)
		return;
	up->refusing = true;
	up->refuse_status = status;
	snprintf(up->refuse_msg, sizeof(up->refuse_msg), "%s", msg);
	if (!up->started) {
		refuse_answer(up); /* no row: releasing the job frees it */
		return;
	}
	if (up->created)
		refuse_discard(up);
	/* else the row is being made: up_started goes on */
}

/* One-shot: answer once the body is in and stored. */
static void oneshot_answer(upload *up)
{
	cJSON *o = pf_job_to_json(up->job);
	const char *err = pf_job_error(up->job);
	pf_job_reason why = err ? pf_job_error_reason(up->job) : PF_JOB_OK;
	if (err && why != PF_JOB_WHY_ROW_QUOTA && why != PF_JOB_WHY_BYTE_QUOTA) {
		cJSON_Delete(o);
		upload_refuse(up, 400, err); /* e.g. the header cannot be read */
		return;
	}
	if (err) {
		/* the row quota ran out while importing: the rows up to it stay */
		char *detail = o ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
		pf_http_respond_error(up->req, 413, err, detail);
		free(detail);
		upload_close(up);
		return;
	}
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/imports/%lld", (long long)pf_job_id(up->job));
	add_header(up->req, "Location", loc);
	pf_respond_cjson(up->req, 202, o);
	upload_close(up);
}

static void up_durable(void *arg, pf_job *job)
{
	upload *up = arg;
	if (!up->syncing)
		return;
	up->syncing = false;
	if (up->kind == UP_ONESHOT) {
		oneshot_answer(up);
		return;
	}
	/* PATCH: a file refused whole (its header cannot be read, say) is
	 * refused as a one-shot upload is: 400 and no job left */
	const char *err = pf_job_error(job);
	pf_job_reason why = err ? pf_job_error_reason(job) : PF_JOB_OK;
	bool quota = why == PF_JOB_WHY_ROW_QUOTA || why == PF_JOB_WHY_BYTE_QUOTA;
	if (err && !quota && !pf_job_accepting(job)) {
		upload_refuse(up, 400, err);
		return;
	}
	if (pf_job_error(job) && !pf_job_resumable(job)) {
		upload_fail(up, 409, pf_job_error(job), NULL);
		return;
	}
	tus_headers(up->req);
	add_header_int(up->req, "Upload-Offset", pf_job_upload_offset(job));
	pf_http_respond(up->req, 204, NULL, NULL, 0);
	upload_close(up);
}

static void up_resume(void *arg, pf_job *job)
{
	upload *up = arg;
	up->want_pause = false;
	pf_http_req_resume(up->req);
}

static void up_started(void *arg, pf_job *job, pf_job_reason err);

static const pf_job_hooks upload_hooks = {
    .on_started = up_started,
    .on_resume = up_resume,
    .on_finished = NULL,
    .on_detached = up_detached,
    .on_durable = up_durable,
};

static int feed(upload *up, const char *data, size_t len)
{
	up->bytes += len;
	int rc = pf_job_feed(up->job, data, len);
	if (rc == PF_JOB_PAUSED)
		up->want_pause = true;
	return rc < 0 ? rc : 0;
}

static int mp_data_cb(void *arg, const char *data, size_t len)
{
	return feed(arg, data, len);
}

static int up_body_cb(void *arg, pf_http_req *req, const char *data, size_t len)
{
	upload *up = arg;
	int rc;
	if (up->refusing)
		return PF_HTTP_PAUSE; /* answered once the job is deleted */
	if (up->mp) {
		size_t consumed;
		rc = pf_multipart_feed(up->mp, data, len, &consumed);
		if (pf_multipart_in_file(up->mp) && !up->started) {
			const char *fn = pf_multipart_filename(up->mp);
			if (!up->named && fn && !pf_utf8_valid(fn, strlen(fn))) {
				upload_refuse(up, 400,
				              "the file name of the file part is not UTF-8");
				return 0;
			}
			if (!up->named)
				pf_job_set_name(up->job, fn);
			up->started = true;
			pf_job_start(up->job);
		}
		if (rc < 0) {
			const char *why = pf_multipart_error(up->mp);
			char msg[UPLOAD_REFUSE_MAX];
			snprintf(msg, sizeof(msg), "malformed multipart body: %s",
			         why ? why : "unreadable");
			upload_refuse(up, 400, msg); /* may have answered and freed up */
			return 0;
		}
	} else {
		int64_t left = pf_job_bytes_left(up->job);
		if (left >= 0 && up->bytes + len > (uint64_t)left) {
			pf_job_fail_input(up->job, PF_JOB_FAILED, "storage quota exceeded");
			upload_fail(up, 413, "storage quota exceeded", NULL);
			return 0;
		}
		rc = feed(up, data, len);
		if (rc == PF_ELIMIT) {
			char msg[128];
			snprintf(msg, sizeof(msg), "more bytes than Upload-Length (%lld)",
			         (long long)pf_job_bytes_total(up->job));
			upload_fail(up, 413, msg, NULL);
			return 0;
		}
		if (rc < 0) {
			pf_job_fail_input(up->job, PF_JOB_FAILED, pf_strerror(rc));
			upload_fail(up, 503, pf_strerror(rc), NULL);
			return 0;
		}
	}
	return up->want_pause ? PF_HTTP_PAUSE : 0;
}

static void up_end_cb(void *arg, pf_http_req *req)
{
	upload *up = arg;
	up->body_done = true;
	if (up->refusing)
		return; /* answered once the job is deleted */
	if (up->kind == UP_PATCH) {
		if (pf_job_upload_offset(up->job) == pf_job_bytes_total(up->job))
			pf_job_end_input(up->job);
		up->syncing = true;
		pf_job_sync(up->job);
		return;
	}
	if (up->mp && (pf_multipart_finish(up->mp) != 0 || !pf_multipart_in_file(up->mp))) {
		const char *why = pf_multipart_error(up->mp);
		char msg[UPLOAD_REFUSE_MAX];
		snprintf(msg, sizeof(msg), "multipart body without a complete file part%s%s",
		         why ? ": " : "", why ? why : "");
		upload_refuse(up, 400, msg);
		return;
	}
	if (up->bytes == 0) {
		upload_refuse(up, 400, "the file is empty");
		return;
	}
	pf_job_end_input(up->job);
	/* answered from up_durable once every byte is stored */
	up->syncing = true;
	pf_job_sync(up->job);
}

static void up_abort_cb(void *arg, pf_http_req *req, pf_http_abort why)
{
	upload *up = arg;
	const pf_config *cfg = up->api->cfg;
	if (up->refusing)
		return; /* the refusal answers (the request stays valid until then) */
	if (why == PF_HTTP_ABORT_TOO_LARGE) {
		char msg[128], detail[64];
		snprintf(msg, sizeof(msg), "upload larger than %lld bytes",
		         (long long)cfg->max_upload);
		snprintf(detail, sizeof(detail), "{\"max_bytes\": %lld}",
		         (long long)cfg->max_upload);
		if (up->kind == UP_ONESHOT)
			pf_job_fail_input(up->job, PF_JOB_FAILED, msg);
		upload_fail(up, 413, msg, detail);
		return;
	}
	char msg[160];
	snprintf(msg, sizeof(msg), "upload interrupted: %s", pf_http_abort_name(why));
	/* a tus upload just waits for the next PATCH */
	if (up->kind == UP_ONESHOT)
		pf_job_fail_input(up->job, PF_JOB_INTERRUPTED, msg);
	upload_fail(up,
	            why == PF_HTTP_ABORT_TIMEOUT    ? 408
	            : why == PF_HTTP_ABORT_SHUTDOWN ? 503
	                                            : 400,
	            msg, NULL);
}

static upload *upload_new(pf_api *api, pf_http_req *req, upload_kind kind, int64_t user)
{
	upload *up = calloc(1, sizeof(*up));
	if (!up) {
		pf_http_respond_error(req, 503, "out of memory", NULL);
		return NULL;
	}
	up->api = api;
	up->req = req;
	up->kind = kind;
	up->user = user;
	api->uploads++;
	return up;
}

/* ---------------- one-shot ---------------- */

static void oneshot_read(upload *up)
{
	uint64_t cap = (uint64_t)up->api->cfg->max_upload;
	pf_http_req_read_body(up->req, cap, up_body_cb, up_end_cb, up_abort_cb, up);
}

/* The job could not be created: refused by admission, or the database. */
static void start_refused(upload *up)
{
	const pf_config *cfg = up->api->cfg;
	pf_job_reason why = up->job ? pf_job_error_reason(up->job) : PF_JOB_WHY_DATABASE;
	char detail[96];
	if (why == PF_JOB_WHY_TOO_MANY) {
		snprintf(detail, sizeof(detail), "{\"running\": %lld, \"max\": %lld}",
		         (long long)cfg->user_max_imports, (long long)cfg->user_max_imports);
		add_header(up->req, "Retry-After", "5");
		upload_fail(up, 429, "too many imports running", detail);
	} else if (why == PF_JOB_WHY_ROW_QUOTA) {
		snprintf(detail, sizeof(detail), "{\"max_rows\": %lld}",
		         (long long)cfg->user_max_rows);
		upload_fail(up, 413, "row quota exceeded", detail);
	} else if (why == PF_JOB_WHY_BYTE_QUOTA) {
		snprintf(detail, sizeof(detail), "{\"max_bytes\": %lld}",
		         (long long)cfg->user_max_bytes);
		upload_fail(up, 413, "storage quota exceeded", detail);
	} else {
		add_header(up->req, "Retry-After", "1");
		upload_fail(up, 503, "cannot create the import: database unavailable", NULL);
	}
}

static void oneshot_start(pf_api *api, pf_http_req *req, int64_t user)
{
	int64_t clen = pf_http_req_content_length(req);
	if (clen > api->cfg->max_upload) {
		char detail[64];
		snprintf(detail, sizeof(detail), "{\"max_bytes\": %lld}",
		         (long long)api->cfg->max_upload);
		pf_http_respond_error(req, 413, "upload too large", detail);
		return;
	}
	if (!pf_respond_db_up(req, api->writers))
		return;
	upload *up = upload_new(api, req, UP_ONESHOT, user);
	if (!up)
		return;
	const char *ctype = pf_http_req_header(req, "Content-Type");
	if (ctype && strncasecmp(ctype, "multipart/", 10) == 0) {
		const char *why = NULL;
		up->mp = pf_multipart_new(ctype, mp_data_cb, up, &why);
		if (!up->mp) {
			upload_fail(up, 400, why ? why : "bad multipart body", NULL);
			return;
		}
	}
	const char *name = pf_http_req_param(req, "name");
	if (name && !pf_utf8_valid(name, strlen(name))) {
		upload_fail(up, 400, "?name= is not UTF-8 (percent-encode the name's UTF-8 bytes)",
		            NULL);
		return;
	}
	up->named = name && *name;
	up->job =
	    pf_job_new(api->env, up->named ? name : NULL, clen >= 0 ? clen : -1, &upload_hooks, up);
	if (!up->job) {
		upload_fail(up, 503, "out of memory", NULL);
		return;
	}
	pf_job_set_owner(up->job, user);
	if (up->mp) {
		/* the job starts when the file part (and its name) begins */
		oneshot_read(up);
		return;
	}
	/* admitted first (running imports, quotas): a refusal is answered
	 * before any of the body is read */
	up->started = true;
	pf_job_start(up->job);
}

/* ---------------- tus ---------------- */

void pf_upload_options(pf_api *api, pf_http_req *req)
{
	tus_headers(req);
	add_header(req, "Tus-Version", PF_TUS_VERSION);
	add_header(req, "Tus-Extension", PF_TUS_EXTENSIONS);
	add_header_int(req, "Tus-Max-Size", api->cfg->max_upload);
	pf_http_respond(req, 204, NULL, NULL, 0);
}

static void create_started(upload *up, pf_job_reason err)
{
	if (err != PF_JOB_OK) {
		start_refused(up);
		return;
	}
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/imports/%lld", (long long)pf_job_id(up->job));
	add_header(up->req, "Location", loc);
	tus_headers(up->req);
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
	upload *up = upload_new(api, req, UP_CREATE, user);
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
		oneshot_start(api, req, user);
}

/* The job is ours (attached or adopted): check the offset, then read. */
static void patch_go(upload *up)
{
	int64_t have = pf_job_upload_offset(up->job);
	if (!pf_job_accepting(up->job)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "the import is %s",
		         pf_job_state_name(pf_job_state_of(up->job)));
		add_header_int(up->req, "Upload-Offset", have);
		upload_fail(up, 409, pf_job_error(up->job) ? pf_job_error(up->job) : msg, NULL);
		return;
	}
	if (up->offset != have) {
		char msg[128];
		snprintf(msg, sizeof(msg), "Upload-Offset is %lld, the upload is at %lld",
		         (long long)up->offset, (long long)have);
		add_header_int(up->req, "Upload-Offset", have);
		upload_fail(up, 409, msg, NULL);
		return;
	}
	int64_t clen = pf_http_req_content_length(up->req);
	int64_t total = pf_job_bytes_total(up->job);
	if (clen > 0 && total >= 0 && clen > total - have) {
		upload_fail(up, 413, "more bytes than Upload-Length", NULL);
		return;
	}
	pf_http_req_read_body(up->req, (uint64_t)(total >= 0 ? total - have : 0) + 1, up_body_cb,
	                      up_end_cb, up_abort_cb, up);
}

static void up_started(void *arg, pf_job *job, pf_job_reason err)
{
	upload *up = arg;
	if (!err)
		up->created = true;
	if (up->refusing) {
		/* refused while the row was being made */
		if (err)
			refuse_answer(up);
		else
			refuse_discard(up);
		return;
	}
	if (up->kind == UP_CREATE) {
		create_started(up, err);
		return;
	}
	if (up->kind == UP_ONESHOT) {
		if (err != PF_JOB_OK)
			start_refused(up);
		else if (!up->mp)
			oneshot_read(up);
		return;
	}
	/* PATCH on an adopted job */
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
	upload *up = upload_new(api, req, UP_PATCH, user);
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
			add_header_int(req, "Upload-Offset", pf_job_upload_offset(job));
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
		tus_headers(up->req);
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
	tus_headers(req);
	add_header(req, "Cache-Control", "no-store");
	if (r->error) {
		pf_respond_db_error(req, r);
		return;
	}
	if (pf_db_rows(r, 0) == 0) {
		pf_http_respond(req, 404, NULL, NULL, 0);
		return;
	}
	add_header(req, "Upload-Offset", pf_db_value(r, 0, 0, 0));
	const char *total = pf_db_value(r, 0, 0, 1);
	if (total)
		add_header(req, "Upload-Length", total);
	pf_http_respond(req, 200, NULL, NULL, 0);
}

void pf_upload_head(pf_api *api, pf_http_req *req, int64_t id, int64_t user)
{
	pf_job *job = pf_job_find(api->env, id);
	if (job && pf_job_ready(job) && pf_job_user(job) == user) {
		/* live here: what this process has accepted */
		tus_headers(req);
		add_header(req, "Cache-Control", "no-store");
		add_header_int(req, "Upload-Offset", pf_job_upload_offset(job));
		if (pf_job_bytes_total(job) >= 0)
			add_header_int(req, "Upload-Length", pf_job_bytes_total(job));
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
	tus_headers(c->req);
	if (ok)
		pf_http_respond(c->req, 204, NULL, NULL, 0);
	else
		pf_http_respond_error(c->req, 503, "the import could not be deleted", NULL);
	ctl_free(c);
}

static void delete_done_cb(void *arg, const pf_db_result *r)
{
	ctl_ctx *c = arg;
	tus_headers(c->req);
	if (r->error)
		pf_respond_db_error(c->req, r);
	else if (pf_db_rows(r, 0) == 0)
		pf_http_respond_error(c->req, 404, "not found", NULL);
	else {
		pf_info("import %lld: deleted", (long long)c->id);
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
			add_header(c->req, "Retry-After", "5");
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
	pf_info("import %lld: reprocessing%s", (long long)c->id,
	        c->override ? " with a mapping override" : "");
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/imports/%lld", (long long)c->id);
	add_header(c->req, "Location", loc);
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

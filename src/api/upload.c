/*
 * upload.c - the upload object: one request streaming a file into a
 * pf_job, whatever brought it (one-shot POST, tus creation or PATCH), with
 * its job hooks, body reading, refusals (which keep no job) and the
 * answers once the bytes are stored; and the one-shot upload itself (raw,
 * chunked or multipart body). The tus routes are upload_tus.c, DELETE and
 * reprocess upload_control.c; see upload_internal.h for who calls whom.
 *
 * Every acknowledgement waits for the bytes to be stored: a 202 or a tus
 * 204 means the file (or the PATCH) survives a crash from then on.
 */
#include "upload_internal.h"

#include "propflow/api/respond.h"
#include "propflow/base/log.h"
#include "propflow/base/utf8.h"
#include "propflow/net/multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------- helpers ---------------- */

void upload_header_int(pf_http_req *req, const char *name, int64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	pf_respond_header(req, name, buf);
}

void upload_tus_headers(pf_http_req *req)
{
	pf_respond_header(req, "Tus-Resumable", PF_TUS_VERSION);
}

/* ---------------- one request streaming into a job ---------------- */

void upload_close(upload *up)
{
	if (up->job)
		pf_job_release(up->job);
	pf_multipart_free(up->mp);
	up->api->uploads--;
	free(up);
}

void upload_fail(upload *up, int status, const char *msg, const char *detail)
{
	if (up->kind != UP_ONESHOT)
		upload_tus_headers(up->req);
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
		upload_tus_headers(up->req);
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
	pf_respond_header(up->req, "Location", loc);
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
	upload_tus_headers(up->req);
	upload_header_int(up->req, "Upload-Offset", pf_job_upload_offset(job));
	/* the offset moved: this server's cached job and list show it at once
	 * (others within their progress interval) */
	pf_cache_forget(up->api->cache, up->user, pf_job_id(job));
	pf_http_respond(up->req, 204, NULL, NULL, 0);
	upload_close(up);
}

static void up_resume(void *arg, pf_job *job)
{
	upload *up = arg;
	up->want_pause = false;
	pf_http_req_resume(up->req);
}

/* Whatever the kind, a refusal that came while the row was being made is
 * finished here; otherwise the kind's own next step (up->started_cb). */
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
	up->started_cb(up, job, err);
}

const pf_job_hooks upload_hooks = {
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

upload *upload_new(pf_api *api, pf_http_req *req, upload_kind kind, int64_t user,
                   upload_started_cb started_cb)
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
	up->started_cb = started_cb;
	api->uploads++;
	return up;
}

void upload_read(upload *up, uint64_t cap)
{
	pf_http_req_read_body(up->req, cap, up_body_cb, up_end_cb, up_abort_cb, up);
}

/* ---------------- one-shot ---------------- */

static void oneshot_read(upload *up)
{
	upload_read(up, (uint64_t)up->api->cfg->max_upload);
}

/* The job could not be created: refused by admission, or the database. */
void upload_start_refused(upload *up)
{
	const pf_config *cfg = up->api->cfg;
	pf_job_reason why = up->job ? pf_job_error_reason(up->job) : PF_JOB_WHY_DATABASE;
	char detail[96];
	if (why == PF_JOB_WHY_TOO_MANY) {
		snprintf(detail, sizeof(detail), "{\"running\": %lld, \"max\": %lld}",
		         (long long)cfg->user_max_imports, (long long)cfg->user_max_imports);
		pf_respond_header(up->req, "Retry-After", "5");
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
		pf_respond_header(up->req, "Retry-After", "1");
		upload_fail(up, 503, "cannot create the import: database unavailable", NULL);
	}
}

static void oneshot_started(upload *up, pf_job *job, pf_job_reason err)
{
	if (err != PF_JOB_OK)
		upload_start_refused(up);
	else if (!up->mp)
		oneshot_read(up);
}

void upload_oneshot_start(pf_api *api, pf_http_req *req, int64_t user)
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
	upload *up = upload_new(api, req, UP_ONESHOT, user, oneshot_started);
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

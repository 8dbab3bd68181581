/*
 * upload_internal.h - what the parts of the upload module share. Private to
 * src/api/upload*.c: include/propflow/api/upload.h stays the only interface
 * of uploads.
 *
 * The parts, lowest first; each calls only the ones above it in this list
 * (upload.c reaches a kind's next step only through upload.started_cb, set
 * by whoever makes the upload):
 *   upload.c          the upload object (a request streaming into a job):
 *                     its job hooks, body, refusals and answers; one-shot
 *   upload_tus.c      the tus routes (creation, HEAD, PATCH, OPTIONS,
 *                     Upload-Metadata) and POST /api/imports
 *   upload_control.c  DELETE and reprocess of an import
 */
#ifndef PROPFLOW_UPLOAD_INTERNAL_H
#define PROPFLOW_UPLOAD_INTERNAL_H

#include "propflow/api/upload.h"
#include "propflow/net/multipart.h"

#define UPLOAD_REFUSE_MAX 256 /* bytes of a refused upload's error message */

typedef enum upload_kind {
	UP_ONESHOT = 0, /* POST with the file as body */
	UP_CREATE,      /* tus POST: no body */
	UP_PATCH,       /* tus PATCH */
} upload_kind;

typedef struct upload upload;

/* The kind's next step once the job's row is made (err PF_JOB_OK) or could
 * not be made or taken; not called for an upload being refused. */
typedef void (*upload_started_cb)(upload *up, pf_job *job, pf_job_reason err);

/*
 * An upload lives from its request head until its answer. The HTTP layer
 * calls nothing of ours after we respond, so whoever responds also frees
 * the upload (upload_close), letting go of the job, which goes on by
 * itself (finishes, or waits for the next PATCH).
 */
struct upload {
	pf_api *api;      /* borrowed */
	pf_http_req *req; /* owned until responded */
	pf_job *job;      /* shared with the pipeline; let go on close */
	pf_multipart *mp; /* owned, NULL for raw bodies */
	upload_kind kind;
	upload_started_cb started_cb; /* the kind's step after on_started */
	bool body_done;               /* the body ended normally */
	bool want_pause;              /* the job asked to stop reading */
	bool named;                   /* ?name= given */
	bool syncing;                 /* pf_job_sync called, on_durable awaited */
	bool started;                 /* pf_job_start called: a row is (being) made */
	bool created;                 /* on_started came without an error: the row exists */
	bool refusing;                /* answered with refuse_*: the job is being deleted first */
	uint64_t bytes;               /* file bytes fed to the job */
	int64_t offset;               /* PATCH: Upload-Offset asked for */
	int64_t user;                 /* who uploads: the job must be theirs */
	int64_t id;                   /* PATCH: the import asked for */
	int refuse_status;            /* refusing: the answer's status */
	char refuse_msg[UPLOAD_REFUSE_MAX]; /* refusing: the answer's error */
};

/* The hooks of every upload's job (on_started ends in up->started_cb). */
extern const pf_job_hooks upload_hooks;

/* A new upload of kind for user (api->uploads counts it), or NULL with 503
 * answered. */
upload *upload_new(pf_api *api, pf_http_req *req, upload_kind kind, int64_t user,
                   upload_started_cb started_cb);
/* Frees up and lets go of its job; the request must be answered. */
void upload_close(upload *up);
/* Answers with an error (and the tus header for tus kinds), then closes. */
void upload_fail(upload *up, int status, const char *msg, const char *detail);
/* Reads the body (at most cap bytes) into the job; answered from there. */
void upload_read(upload *up, uint64_t cap);
/* The job could not be created: 429, 413 or 503 by its reason. */
void upload_start_refused(upload *up);
/* POST /api/imports without Tus-Resumable. */
void upload_oneshot_start(pf_api *api, pf_http_req *req, int64_t user);

/* Tus-Resumable: PF_TUS_VERSION on the answer. */
void upload_tus_headers(pf_http_req *req);
/* A header whose value is the decimal v. */
void upload_header_int(pf_http_req *req, const char *name, int64_t v);

#endif

/*
 * upload.h - the ways a file comes in over HTTP, each streaming into a
 * pf_job:
 *  - one-shot: POST /api/imports with the file as the body (raw,
 *    chunked or multipart); answered 202 once every byte is stored;
 *  - tus 1.0.0 (core, creation, termination): POST creates an empty
 *    resumable import, HEAD tells the offset, PATCH appends from it,
 *    OPTIONS advertises; an interrupted PATCH leaves the import waiting.
 * And what is done to an import afterwards: DELETE (cancel and delete),
 * POST .../reprocess (run the stored file again).
 *
 * Every import belongs to the user passed in: another user's answers 404,
 * as one that does not exist.
 *
 * An upload refused with 400 (empty, no or a broken file part, a header
 * that cannot be read; for tus, at the PATCH that completes the file)
 * keeps no job: its job is deleted, as DELETE would, before the answer.
 * A name that is not UTF-8 (?name=, tus filename, multipart filename) is
 * a 400 before any job is made. A reprocess is admitted like an upload
 * (--user-max-imports, 429 with {running, max}).
 *
 * Ownership: each request's context is owned by its handler until it
 * responds; jobs are shared with their pipeline (see job.h).
 */
#ifndef PROPFLOW_UPLOAD_H
#define PROPFLOW_UPLOAD_H

#include "propflow/api/api.h"

#define PF_TUS_VERSION        "1.0.0"
#define PF_TUS_EXTENSIONS     "creation,termination"
#define PF_TUS_METADATA_MAX   4096        /* bytes of Upload-Metadata */
#define PF_REPROCESS_BODY_MAX (64 * 1024) /* bytes of a reprocess request body */

/* POST /api/imports: tus creation when Tus-Resumable is present, else a
 * one-shot upload. */
void pf_upload_post(pf_api *api, pf_http_req *req, int64_t user);
/* OPTIONS /api/imports[/ID]. */
void pf_upload_options(pf_api *api, pf_http_req *req);
/* HEAD /api/imports/ID: the tus offset. */
void pf_upload_head(pf_api *api, pf_http_req *req, int64_t id, int64_t user);
/* PATCH /api/imports/ID: append from Upload-Offset. */
void pf_upload_patch(pf_api *api, pf_http_req *req, int64_t id, int64_t user);
/* DELETE /api/imports/ID. */
void pf_upload_delete(pf_api *api, pf_http_req *req, int64_t id, int64_t user);
/* POST /api/imports/ID/reprocess. */
void pf_upload_reprocess(pf_api *api, pf_http_req *req, int64_t id, int64_t user);

/* Upload-Metadata: the value of key (base64-decoded) into out (cap bytes,
 * NUL-terminated). Returns 0, 1 when the key is absent, or PF_EINVAL for
 * a malformed header or value (not base64, too long, NUL inside). */
PF_MUST_CHECK int pf_tus_metadata(const char *header, const char *key, char *out, size_t cap);

#endif

/*
 * reads.h - the API's reads: health, the field table, a user's imports,
 * one import, its records and errors page by page (sealed cursors, see
 * cursor.h), one record with its original row. Each answers its request
 * from the reader pool's callback; every query is scoped to the user
 * passed in, and another user's rows answer as rows that do not exist
 * (404).
 *
 * Paging: ?limit=1..PF_API_PAGE_MAX (default PF_API_PAGE_DEFAULT) and
 * ?after=<a "next" of the previous page>. A limit or cursor that is not
 * one of these is 400; so is a cursor of another import or of the other
 * list; a cursor made before a reprocess replaced the import's rows is 409.
 *
 * Ownership: each request's context is owned here until it responds.
 */
#ifndef PROPFLOW_READS_H
#define PROPFLOW_READS_H

#include "propflow/api/api.h"

/* GET /api/health: 200 {"ok": true, "db": true}, or 503. */
void pf_reads_health(pf_api *api, pf_http_req *req);
/* GET /api/fields: the canonical fields (fields.h) as
 * [{name, kind, type, sql, format, width, label, brief}], from memory. */
void pf_reads_fields(pf_http_req *req);
/* GET /api/imports: the user's imports, newest first (at most 1000). */
void pf_reads_jobs(pf_api *api, pf_http_req *req, int64_t user);
/* GET /api/imports/ID. */
void pf_reads_job(pf_api *api, pf_http_req *req, int64_t id, int64_t user);
/* GET /api/imports/ID/properties: {items: [record], next}; q, filters,
 * sort, limit and after as query.h parses them. */
void pf_reads_properties(pf_api *api, pf_http_req *req, int64_t id, int64_t user);
/* GET /api/properties: {items: [record], next}, across the user's imports
 * (q, filters, sort: query.h). */
void pf_reads_all_properties(pf_api *api, pf_http_req *req, int64_t user);
/* GET /api/imports/ID/errors: {items: [error], next}. */
void pf_reads_errors(pf_api *api, pf_http_req *req, int64_t id, int64_t user);
/* GET /api/properties/ID: the record, its job_id and raw row. */
void pf_reads_property(pf_api *api, pf_http_req *req, int64_t id, int64_t user);

#endif

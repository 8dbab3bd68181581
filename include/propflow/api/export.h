/*
 * export.h - the API's downloads, each streamed as it is read (see
 * pf_http_stream_begin in http.h) with a Content-Disposition file name:
 *
 *   GET|HEAD /api/imports/ID/export?format=csv|ndjson|geojson
 *       the import's records, as stored so far (also while it runs), in
 *       the file's order. csv: a header of the field names (fields.h) and
 *       RFC 4180 quoting (NULL empty, an empty text ""); ndjson: one record
 *       object per line; geojson: a FeatureCollection of Points from
 *       longitude/latitude (geometry null without both), properties the
 *       record. gzip when the client accepts it.
 *   GET|HEAD /api/imports/ID/errors/export
 *       CSV: the file's header line (its titles, in its delimiter), a last
 *       column "propflow_reason", then each rejected row's text as read
 *       (import_errors.raw_text) and its reason: fix the rows and upload
 *       the file again.
 *   GET|HEAD /api/imports/ID/file
 *       the uploaded file, byte for byte, from import_chunks, with its
 *       Content-Length; 409 while the upload is not complete.
 *
 * Rows come as a chain of keyset pages, each its own short statement on the
 * reader pool (no cursor or transaction is held across the client's pace),
 * the next one sent while the current one is formatted and written, and
 * none while a formatted page still waits for room in the connection's
 * output. An unfiltered export in file order (the common "give me
 * everything") reads row_no ranges instead, PF_EXPORT_AHEAD at once, then
 * keyset pages for the rows stored since it began. Memory per download is
 * bounded by PF_HTTP_STREAM_HIGH plus a few pages (one past the high mark,
 * at most PF_EXPORT_AHEAD + 1 waiting) and their results. Every statement is scoped to
 * the owner: another user's import is 404. A reprocess during a download cuts it (the client sees
 * an incomplete body).
 *
 * Ownership: each download's context is owned here until its stream ends
 * and its last statement returned.
 */
#ifndef PROPFLOW_EXPORT_H
#define PROPFLOW_EXPORT_H

#include "propflow/api/api.h"

#define PF_EXPORT_PAGE_ROWS   5000 /* records or errors per statement */
#define PF_EXPORT_AHEAD       2    /* statements at once of an unfiltered export in file order */
#define PF_EXPORT_PAGE_CHUNKS 2    /* import_chunks rows (each up to 256 KB raw) per statement */
#define PF_EXPORT_NAME_MAX    120  /* bytes of a Content-Disposition file name */
#define PF_EXPORT_REASON_COL                                                                       \
	"propflow_reason" /* the error file's last column: maps to no field                        \
	                   */

/* The exports' counts (api->exports) as pf_export* families at every
 * scrape of api->metrics (none: a no-op); unmeter before api goes. */
PF_MUST_CHECK int pf_export_meter(pf_api *api);
void pf_export_unmeter(pf_api *api);

/* GET|HEAD /api/imports/ID/export?format=csv|ndjson|geojson. */
void pf_export_records(pf_api *api, pf_http_req *req, int64_t id, int64_t user);
/* GET|HEAD /api/imports/ID/errors/export. */
void pf_export_errors(pf_api *api, pf_http_req *req, int64_t id, int64_t user);
/* GET|HEAD /api/imports/ID/file. */
void pf_export_file(pf_api *api, pf_http_req *req, int64_t id, int64_t user);

/* The import's name as a Content-Disposition value: attachment; an ASCII
 * filename (other bytes, quotes, slashes and controls as '_', at most
 * PF_EXPORT_NAME_MAX bytes) whose extension is replaced by ext (NULL:
 * kept), and filename* (RFC 8187) with the UTF-8 name when that differs.
 * Pure; out has cap bytes (>= 4 * PF_EXPORT_NAME_MAX + 64 fits any). */
void pf_export_disposition(const char *name, const char *ext, char *out, size_t cap);

#endif

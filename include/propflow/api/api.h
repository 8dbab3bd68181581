/*
 * api.h - the HTTP API: one route table (api.c, README lists the same)
 * that sends each request to its module: reads (reads.c), uploads and what
 * is done to imports (upload.c, upload_tus.c, upload_control.c), logging
 * in (account.c, account_session.c), the progress WebSocket (events.c)
 * and the page (static_files.c). 404 and 405 (with
 * Allow from the table) are answered there and nowhere else.
 *
 * Ownership: pf_api borrows everything it is given; each request's
 * context is owned by the route handling it until it responds.
 */
#ifndef PROPFLOW_API_H
#define PROPFLOW_API_H

#include "propflow/api/account.h"
#include "propflow/api/cache.h"
#include "propflow/api/cursor.h"
#include "propflow/base/common.h"
#include "propflow/base/config.h"
#include "propflow/store/db.h"
#include "propflow/jobs/events.h"
#include "propflow/net/http.h"
#include "propflow/jobs/job.h"
#include "propflow/net/static_files.h"

#define PF_API_PAGE_DEFAULT 100
#define PF_API_PAGE_MAX     1000

/* What the exports did, by kind (records, errors, file): read by their
 * metrics collector (export.c) at scrape time. */
#define PF_API_EXPORT_KINDS 3
typedef struct pf_api_export_counts {
	uint64_t started[PF_API_EXPORT_KINDS]; /* headers sent, streaming began */
	uint64_t ended[PF_API_EXPORT_KINDS];   /* the whole body sent */
	uint64_t cut[PF_API_EXPORT_KINDS];     /* cut: client gone, reprocess, error */
	uint64_t rows[PF_API_EXPORT_KINDS];    /* records or rejected rows written (file: 0) */
	uint64_t bytes[PF_API_EXPORT_KINDS];   /* body bytes handed to the connection */
	uint64_t active;                       /* streaming now */
} pf_api_export_counts;

typedef struct pf_api {
	const pf_config *cfg; /* borrowed */
	pf_db *readers;       /* borrowed */
	pf_db *writers;       /* borrowed: deletes and reprocess go with the job's units */
	pf_job_env *env;      /* borrowed */
	pf_events *events;    /* borrowed */
	pf_static *page;      /* borrowed, may be NULL */
	pf_account *account;  /* borrowed: who a request is */
	pf_cache *cache;      /* borrowed, may be NULL: the read cache (cache.h) */
	const char *schema;   /* borrowed: the schema files' names joined by '/' (ready.h) */
	int nschema;          /* how many */
	size_t uploads;       /* uploads in progress */
	uint8_t cursor_key[PF_CURSOR_KEY_BYTES]; /* seals page cursors; read from the database at
	                                            the first page read (reads.c) */
	bool cursor_key_ready;                   /* cursor_key holds the shared key */
	pf_metrics *metrics; /* borrowed, may be NULL: GET /metrics renders it */
	const struct pf_proxy_list *metrics_allow; /* borrowed: --metrics-allow */
	pf_api_export_counts exports;              /* the exports' counts (export.c) */
} pf_api;

/* The pf_http_request_cb: arg is the pf_api. */
void pf_api_handle(void *arg, pf_http_req *req);

#endif

/*
 * api.h - the HTTP routes (README lists them): uploads into jobs, job and
 * record reads from the reader pool, the progress WebSocket, the page.
 *
 * Ownership: pf_api borrows everything it is given; each request's
 * context is owned by the route handling it until it responds.
 */
#ifndef PROPFLOW_API_H
#define PROPFLOW_API_H

#include "propflow/api/account.h"
#include "propflow/base/common.h"
#include "propflow/base/config.h"
#include "propflow/store/db.h"
#include "propflow/jobs/events.h"
#include "propflow/net/http.h"
#include "propflow/jobs/job.h"
#include "propflow/net/static_files.h"

#define PF_API_PAGE_DEFAULT 100
#define PF_API_PAGE_MAX     1000

typedef struct pf_api {
	const pf_config *cfg; /* borrowed */
	pf_db *readers;       /* borrowed */
	pf_db *writers;       /* borrowed: deletes and reprocess go with the job's units */
	pf_job_env *env;      /* borrowed */
	pf_events *events;    /* borrowed */
	pf_static *page;      /* borrowed, may be NULL */
	pf_account *account;  /* borrowed: who a request is */
	size_t uploads;       /* uploads in progress */
} pf_api;

/* The pf_http_request_cb: arg is the pf_api. */
void pf_api_handle(void *arg, pf_http_req *req);

/* Shared by the route modules. */
void pf_api_respond_cjson(pf_http_req *req, int status, cJSON *o); /* takes o */
/* A query failed: 503 (with Retry-After) when the database is away, else 500. */
void pf_api_respond_db_error(pf_http_req *req, const pf_db_result *r);
/* false (and 503 answered) when the pool has no usable connection. */
bool pf_api_db_up(pf_api *api, pf_http_req *req, pf_db *db);

/* Parse a positive decimal id (no sign, no spaces, <= 2^62). */
PF_MUST_CHECK int pf_api_parse_id(const char *s, int64_t *out);

#endif

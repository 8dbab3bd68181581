/*
 * respond.h - answers every route module shares, below all of them: JSON
 * bodies, "database unavailable" with Retry-After, 405 with Allow, out of
 * memory, and the parsing of ids and counts in paths and headers. The route
 * modules (api, upload, account) call down to it and never to each other
 * for these.
 */
#ifndef PROPFLOW_RESPOND_H
#define PROPFLOW_RESPOND_H

#include "propflow/base/common.h"
#include "propflow/net/http.h"
#include "propflow/store/db.h"

#include <cjson/cJSON.h>

/* o as the JSON body with status; takes o (NULL answers 503 out of memory). */
void pf_respond_cjson(pf_http_req *req, int status, cJSON *o);
/* A query failed: 503 (with Retry-After) when the database is away, else 500. */
void pf_respond_db_error(pf_http_req *req, const pf_db_result *r);
/* false (and 503 with Retry-After answered) when db has no usable connection. */
bool pf_respond_db_up(pf_http_req *req, pf_db *db);
/* 503 "database unavailable" with Retry-After: 1. */
void pf_respond_db_down(pf_http_req *req);
/* 503 "out of memory". */
void pf_respond_oom(pf_http_req *req);
/* 405 with Allow: allow. */
void pf_respond_method_not_allowed(pf_http_req *req, const char *allow);
/* Adds a header; a failure (no room) is logged, never fatal to the answer. */
void pf_respond_header(pf_http_req *req, const char *name, const char *value);

/* A positive decimal id (no sign, no spaces, <= 18 digits). */
PF_MUST_CHECK int pf_parse_id(const char *s, int64_t *out);
/* A non-negative decimal count (no sign, no spaces, <= 18 digits), or -1. */
int64_t pf_parse_count(const char *s);

#endif

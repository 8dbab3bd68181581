/*
 * analysis.h - GET /api/imports/ID/analysis: the market analysis of an
 * import's visible generation (schema/010_analysis.sql, kept up to date by
 * src/jobs/market.c), one kind of grouping at a time.
 *
 * ?by=all|zip|city|property_type (default all), ?limit=1..PF_ANALYSIS_GROUPS_MAX
 * (default PF_ANALYSIS_GROUPS_DEFAULT): the groups with the most rows first.
 * Another user's import is 404; a bad by or limit is 400 naming it.
 *
 * Ownership: the request's context is owned here until it responds.
 */
#ifndef PROPFLOW_API_ANALYSIS_H
#define PROPFLOW_API_ANALYSIS_H

#include "propflow/api/api.h"

#define PF_ANALYSIS_GROUPS_DEFAULT 100
#define PF_ANALYSIS_GROUPS_MAX     1000

void pf_analysis_get(pf_api *api, pf_http_req *req, int64_t id, int64_t user);

#endif

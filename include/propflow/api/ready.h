/*
 * ready.h - GET /api/ready, the readiness probe for a load balancer: 200
 * {"ready": true, ...} only when the database answers and has applied
 * every migration this server's --schema-dir holds; 503 {"ready": false,
 * "reason": ...} otherwise ("database unavailable", "migrations
 * pending"). /api/health stays the liveness probe. Open: nothing private
 * is in the answer (the read cache's counters are, for the operator).
 *
 * Ownership: each request's context is owned here until it answers.
 */
#ifndef PROPFLOW_READY_H
#define PROPFLOW_READY_H

#include "propflow/api/api.h"

void pf_ready_get(pf_api *api, pf_http_req *req);

#endif

/*
 * scrape.h - GET /metrics: the metrics registry in the Prometheus text
 * format, for a monitoring system. Served to a client whose address is in
 * --metrics-allow (the client address: behind a trusted proxy, the one it
 * forwarded), or to an administrator's token or session. Anyone else gets
 * 403: the route exists (it is documented), it is just not theirs; bad
 * credentials get the gate's 401.
 */
#ifndef PROPFLOW_SCRAPE_H
#define PROPFLOW_SCRAPE_H

#include "propflow/api/api.h"

/* Answers req (200 text, 401, 403, 500 on ENOMEM, 503 database away). */
void pf_scrape_serve(pf_api *api, pf_http_req *req);

#endif

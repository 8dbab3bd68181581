/*
 * scrape.c - GET /metrics (see scrape.h): who may read it, then one
 * rendering of the registry. Nothing here touches the database unless the
 * client is outside the allow list and sends credentials.
 */
#include "propflow/api/scrape.h"
#include "propflow/base/log.h"
#include "propflow/base/metrics.h"
#include "propflow/net/proxy.h"

#include <stdlib.h>
#include <string.h>

static void scrape_render(pf_api *api, pf_http_req *req)
{
	char *text = NULL;
	size_t len = 0;
	int rc = pf_metrics_render(api->metrics, &text, &len);
	if (rc != 0) {
		pf_error("metrics: cannot render: %s", pf_strerror(rc));
		pf_http_respond_error(req, 500, "metrics unavailable", NULL);
		return;
	}
	pf_http_respond(req, 200, PF_METRICS_CONTENT_TYPE, text, len);
	free(text);
}

static void scrape_refuse(pf_http_req *req)
{
	pf_http_respond_error(req, 403, "forbidden",
	                      "\"metrics are served to --metrics-allow addresses and to "
	                      "administrators\"");
}

static void scrape_admin_cb(void *arg, pf_http_req *req, const pf_user *user)
{
	if (!user->admin) {
		pf_info("metrics: %s: user %s is not an administrator", pf_http_req_client(req),
		        user->name);
		scrape_refuse(req);
		return;
	}
	scrape_render(arg, req);
}

void pf_scrape_serve(pf_api *api, pf_http_req *req)
{
	if (!api->metrics) {
		pf_http_respond_error(req, 404, "not found", NULL);
		return;
	}
	if (pf_proxy_trusted(api->metrics_allow, pf_http_req_client(req))) {
		scrape_render(api, req);
		return;
	}
	/* from elsewhere, only with credentials: the gate answers bad ones */
	if (!pf_http_req_header(req, "Authorization") && !pf_http_req_header(req, "Cookie")) {
		scrape_refuse(req);
		return;
	}
	pf_account_authenticate(api->account, req, scrape_admin_cb, api);
}

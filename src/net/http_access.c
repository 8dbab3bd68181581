/*
 * http_access.c - the access log of the HTTP layer: one line per request
 * (time, client, user, method, path, status, body bytes, duration), and for
 * an upgraded request (WebSocket) one line when the new protocol ends. The
 * access object of an upgraded request also holds its place under
 * max_connections (pf_http_upgraded) until then.
 */
#include "http_internal.h"
#include "propflow/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Copy of s safe for a log line: control bytes become '?'. */
static void log_safe(char *out, size_t cap, const char *s)
{
	size_t i = 0;
	for (; s[i] && i + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	out[i] = '\0';
}

/*
 * One line per request: time, client, user, method, path (never the query
 * string or a header value, so no secret reaches the log), status, body
 * bytes, duration. An upgraded request (WebSocket) is logged when the new
 * protocol ends, with its lifetime.
 */
struct pf_http_access {
	FILE *f;               /* borrowed: the server's sink */
	pf_http_upgraded *upg; /* shared: counts this upgraded connection; NULL = not counted */
	struct timespec start; /* when the request began */
	char client[INET6_ADDRSTRLEN];
	char user[72];
	char method[16];
	char path[512];
};

static void access_fill(pf_http_access *a, FILE *f, const pf_http_req *req)
{
	a->f = f ? f : stderr;
	a->upg = NULL;
	a->start = req->start;
	snprintf(a->client, sizeof(a->client), "%s", pf_http_req_client(req));
	log_safe(a->user, sizeof(a->user), req->user[0] ? req->user : "-");
	snprintf(a->method, sizeof(a->method), "%s", req->method ? req->method : "-");
	log_safe(a->path, sizeof(a->path), req->path ? req->path : "-");
	for (char *q = a->path; *q; q++)
		if (*q == ' ')
			*q = '+';
}

static void access_write(const pf_http_access *a, int status, size_t len)
{
	char stamp[40];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", now.tv_nsec / 1000000);
	fprintf(a->f, "ACCESS %s %s %s %s %s %d %zu %.1fms\n", stamp, a->client, a->user, a->method,
	        a->path, status, len, pf_http_ms_since(&a->start));
	fflush(a->f);
}

void pf_http_access_log(FILE *f, const pf_http_req *req, int status, size_t len)
{
	pf_http_access a;
	access_fill(&a, f, req);
	access_write(&a, status, len);
}

pf_http_access *pf_http_access_new(FILE *f, const pf_http_req *req, pf_http_upgraded *upg)
{
	pf_http_access *a = malloc(sizeof(*a));
	if (!a)
		return NULL;
	access_fill(a, f, req);
	if (upg) {
		/* the connection lives on as another protocol: it keeps its place
		 * under max_connections until the access line is written */
		a->upg = upg;
		upg->n++;
		upg->refs++;
	}
	return a;
}

void pf_http_upgraded_unref(pf_http_upgraded *u)
{
	if (u && --u->refs == 0)
		free(u);
}

void pf_http_access_finish(pf_http_access *a, int status, size_t bytes)
{
	if (!a)
		return;
	access_write(a, status, bytes);
	if (a->upg) {
		a->upg->n--;
		pf_http_upgraded_unref(a->upg);
	}
	free(a);
}

/* ---------------------------------------------------------------- metrics */

/* Latency buckets, seconds: a page read is a few ms, an upload's last
 * request (the whole file) may take minutes. */
static const double http_seconds_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25,  0.5,    1,     2.5,  5,     10,   60};

#define PF_HTTP_METRIC_REQUEST_SERIES 1024 /* route x method x status combinations kept */
#define PF_HTTP_METRIC_ROUTE_SERIES   128  /* route x method combinations kept */

static void http_collect_cb(void *arg, pf_metrics_scrape *sc)
{
	const pf_http_server *srv = arg;
	pf_metrics_family(sc, "pf_http_connections", PF_METRIC_GAUGE,
	                  "Open HTTP connections (WebSockets aside), counted against "
	                  "--max-connections.");
	pf_metrics_sample(sc, (double)srv->nconns, NULL);
	pf_metrics_family(sc, "pf_websockets", PF_METRIC_GAUGE,
	                  "Open WebSockets (connections upgraded from HTTP).");
	pf_metrics_sample(sc, (double)(srv->upg ? srv->upg->n : 0), NULL);
}

void pf_http_meters_register(pf_http_server *srv)
{
	pf_metrics *m = srv->lim.metrics;
	if (!m)
		return;
	static const char *const by_status[] = {"route", "method", "status", NULL};
	static const char *const by_route[] = {"route", "method", NULL};
	pf_http_meters *mt = &srv->meters;
	mt->requests = pf_metrics_counter(m, "pf_http_requests_total",
	                                  "HTTP responses by route pattern, method and status.",
	                                  by_status, PF_HTTP_METRIC_REQUEST_SERIES);
	mt->seconds = pf_metrics_histogram(
	    m, "pf_http_request_duration_seconds",
	    "Time from a request's first byte to its response (or upgrade), by route pattern.",
	    by_route, PF_HTTP_METRIC_ROUTE_SERIES, http_seconds_bounds,
	    PF_ARRAY_LEN(http_seconds_bounds));
	mt->bytes_in = pf_metric_only(
	    pf_metrics_counter(m, "pf_http_received_bytes_total",
	                       "Bytes read from client sockets (HTTP and WebSocket).", NULL, 1));
	mt->bytes_out = pf_metric_only(
	    pf_metrics_counter(m, "pf_http_sent_bytes_total",
	                       "Bytes written to client sockets (HTTP and WebSocket).", NULL, 1));
	if (pf_metrics_collector_add(m, http_collect_cb, srv) != 0)
		pf_warn("http: no room for the connection metrics");
}

void pf_http_meters_unregister(pf_http_server *srv)
{
	pf_metrics_collector_remove(srv->lim.metrics, http_collect_cb, srv);
}

void pf_http_meters_request(pf_http_server *srv, const pf_http_req *req, int status)
{
	pf_http_meters *mt = &srv->meters;
	if (!mt->requests)
		return;
	char code[12];
	snprintf(code, sizeof(code), "%d", status);
	const char *route = req && req->route ? req->route : "none";
	const char *method = req && req->method ? req->method : "none";
	const char *labels[] = {route, method, code};
	pf_metric_add(pf_metric_series_get(mt->requests, labels), 1);
	if (req)
		pf_metric_observe(pf_metric_series_get(mt->seconds, labels),
		                  pf_http_ms_since(&req->start) / 1e3);
}

static void bytes_in_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	if (info->n_added)
		pf_metric_add(arg, (double)info->n_added);
}

static void bytes_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	/* the bufferevent drains what the socket took */
	if (info->n_deleted)
		pf_metric_add(arg, (double)info->n_deleted);
}

void pf_http_meters_watch(pf_http_server *srv, struct bufferevent *bev)
{
	if (!srv->meters.bytes_in)
		return;
	evbuffer_add_cb(bufferevent_get_input(bev), bytes_in_cb, srv->meters.bytes_in);
	evbuffer_add_cb(bufferevent_get_output(bev), bytes_out_cb, srv->meters.bytes_out);
}

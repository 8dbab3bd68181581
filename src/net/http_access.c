/*
 * http_access.c - the access log of the HTTP layer: one line per request
 * (time, client, user, method, path, status, body bytes, duration), and for
 * an upgraded request (WebSocket) one line when the new protocol ends. The
 * access object of an upgraded request also holds its place under
 * max_connections (pf_http_upgraded) until then.
 */
#include "http_internal.h"

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

/*
 * http_req.c - the request side of the HTTP server (see http.h): a
 * request's lifetime and abort notification, storage of its head (target
 * and headers, under the caps) as the parser delivers it, path and query
 * decoding, the accessors, and building responses into an output buffer.
 *
 * Nothing here touches a socket or a connection's state: http.c drives the
 * parser and the connection and calls in (shared definitions in
 * http_internal.h).
 */
#include "http_internal.h"
#include "propflow/base/log.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *pf_http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* ---------------------------------------------------------------- lifetime */

pf_http_req *pf_http_req_new(pf_http_conn *conn, struct event_base *base, uint64_t conn_id,
                             const char *peer)
{
	pf_http_req *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->conn = conn;
	req->base = base;
	req->refs = 1;
	req->conn_id = conn_id;
	snprintf(req->peer, sizeof(req->peer), "%s", peer);
	req->content_length = -1;
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	return req;
}

static void req_free(pf_http_req *req)
{
	free(req->url);
	free(req->path);
	free(req->query);
	free(req->hbuf);
	free(req->hdr);
	free(req->params);
	for (size_t i = 0; i < req->nrh; i++) {
		free(req->rh_name[i]);
		free(req->rh_value[i]);
	}
	pf_gzip_free(req->gz);
	if (req->zbuf)
		evbuffer_free(req->zbuf);
	free(req);
}

void pf_http_req_unref(pf_http_req *req)
{
	if (--req->refs == 0)
		req_free(req);
}

const char *pf_http_abort_name(pf_http_abort why)
{
	switch (why) {
	case PF_HTTP_ABORT_CLOSED: return "client closed";
	case PF_HTTP_ABORT_TOO_LARGE: return "body too large";
	case PF_HTTP_ABORT_MALFORMED: return "malformed body";
	case PF_HTTP_ABORT_TIMEOUT: return "body timeout";
	case PF_HTTP_ABORT_SHUTDOWN: return "server shutting down";
	case PF_HTTP_ABORT_EVICTED: return "evicted at the connection cap";
	}
	return "unknown";
}

void pf_http_req_fire_abort(pf_http_req *req, pf_http_abort why)
{
	/* after the end callback the body is complete: no abort, respond just frees */
	if (req->finished || req->abort_fired || req->body == BODY_DONE)
		return;
	if (req->body == BODY_READING || req->body == BODY_UNREAD)
		req->body = BODY_ABORTED;
	if (!req->abort_cb)
		return; /* a callback registered later still hears of it */
	req->abort_fired = true;
	req->abort_cb(req->abort_arg, req, why);
}

static void req_deferred_abort_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_http_req *req = arg;
	req->refs++; /* the callback may respond */
	pf_http_req_fire_abort(req, req->abort_reason);
	pf_http_req_unref(req);
	pf_http_req_unref(req); /* the reference of this pending event */
}

void pf_http_req_defer_abort(pf_http_req *req, pf_http_abort why)
{
	static const struct timeval zero = {0, 0};
	req->abort_reason = why;
	req->refs++;
	if (event_base_once(req->base, -1, EV_TIMEOUT, req_deferred_abort_cb, req, &zero) < 0) {
		req->refs--;
		pf_error("conn %llu: cannot schedule abort", (unsigned long long)req->conn_id);
	}
}

/* ------------------------------------------------------------ head storage */

/* Append bytes to a buffer that may grow up to cap bytes. */
static int buf_append(char **buf, size_t *used, size_t *alloc, size_t initial, size_t cap,
                      const char *data, size_t len)
{
	if (len > cap - *used)
		return PF_ELIMIT;
	if (len > *alloc - *used) {
		size_t n = *alloc ? *alloc : initial;
		while (n - *used < len)
			n *= 2;
		if (n > cap)
			n = cap;
		char *nb = realloc(*buf, n);
		if (!nb)
			return PF_ENOMEM;
		*buf = nb;
		*alloc = n;
	}
	memcpy(*buf + *used, data, len);
	*used += len;
	return 0;
}

/* Header bytes plus a NUL after every name and value. */
static size_t hbuf_cap(const pf_http_limits *lim)
{
	return lim->header_bytes_max + 2 * lim->header_count_max + 1;
}

/* End the current name or value. */
static int hbuf_nul(pf_http_req *req, const pf_http_limits *lim)
{
	char nul = '\0';
	return buf_append(&req->hbuf, &req->hlen, &req->hcap, PF_HTTP_HBUF_INITIAL, hbuf_cap(lim),
	                  &nul, 1);
}

static int header_bytes(pf_http_req *req, const pf_http_limits *lim, const char *at, size_t len)
{
	if (len > lim->header_bytes_max - req->hbytes)
		return 431;
	req->hbytes += len;
	int r = buf_append(&req->hbuf, &req->hlen, &req->hcap, PF_HTTP_HBUF_INITIAL, hbuf_cap(lim),
	                   at, len);
	if (r < 0)
		return r == PF_ENOMEM ? 503 : 431;
	return 0;
}

int pf_http_req_head_url(pf_http_req *req, size_t url_max, const char *at, size_t len)
{
	/* one byte more than the cap is kept for the NUL */
	int r = buf_append(&req->url, &req->url_len, &req->url_cap, PF_HTTP_URL_INITIAL,
	                   url_max + 1, at, len);
	if (r < 0 || req->url_len > url_max)
		return r == PF_ENOMEM ? 503 : 414;
	return 0;
}

int pf_http_req_head_field(pf_http_req *req, const pf_http_limits *lim, const char *at, size_t len)
{
	if (req->nhdr == 0 || req->in_value) {
		if (req->nhdr >= lim->header_count_max)
			return 431;
		if (req->in_value && hbuf_nul(req, lim) < 0)
			return 431;
		if (req->nhdr == req->hdr_cap) {
			size_t n = req->hdr_cap ? req->hdr_cap * 2 : 16;
			if (n > lim->header_count_max)
				n = lim->header_count_max;
			req_header *nh = realloc(req->hdr, n * sizeof(*nh));
			if (!nh)
				return 503;
			req->hdr = nh;
			req->hdr_cap = n;
		}
		req->hdr[req->nhdr].name = req->hlen;
		req->hdr[req->nhdr].value = req->hlen;
		req->nhdr++;
		req->in_value = false;
	}
	return header_bytes(req, lim, at, len);
}

int pf_http_req_head_value(pf_http_req *req, const pf_http_limits *lim, const char *at, size_t len)
{
	if (!req->in_value) {
		if (hbuf_nul(req, lim) < 0)
			return 431;
		req->hdr[req->nhdr - 1].value = req->hlen;
		req->in_value = true;
	}
	return header_bytes(req, lim, at, len);
}

int pf_http_req_head_complete(pf_http_req *req, const pf_http_limits *lim)
{
	/* a header name without a value (cannot normally happen) gets an empty one */
	if (req->nhdr > 0 && !req->in_value) {
		if (hbuf_nul(req, lim) < 0)
			return 431;
		req->hdr[req->nhdr - 1].value = req->hlen;
	}
	return 0;
}

/* ---------------------------------------------------------------- decoding */

static int hex_val(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decode %xx in the path; refuses %00 and broken escapes. */
static char *decode_path(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		int hi = len - i >= 3 ? hex_val((unsigned char)s[i + 1]) : -1;
		int lo = len - i >= 3 ? hex_val((unsigned char)s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return NULL;
		}
		out[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[o] = '\0';
	return out;
}

/* Query component decoding: '+' is a space; a broken escape or %00 stays literal. */
static size_t decode_query_part(char *out, const char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int hi = -1, lo = -1;
		if (s[i] == '%' && len - i >= 3) {
			hi = hex_val((unsigned char)s[i + 1]);
			lo = hex_val((unsigned char)s[i + 2]);
		}
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o++] = '\0';
	return o;
}

static int req_decode_params(pf_http_req *req)
{
	size_t qlen = strlen(req->query);
	/* each pair decodes to at most its own length plus two NULs */
	req->params = malloc(qlen * 2 + 2);
	if (!req->params)
		return PF_ENOMEM;
	char *out = req->params;
	const char *q = req->query;
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t plen = amp ? (size_t)(amp - q) : strlen(q);
		if (plen > 0) {
			const char *eq = memchr(q, '=', plen);
			size_t klen = eq ? (size_t)(eq - q) : plen;
			out += decode_query_part(out, q, klen);
			if (eq)
				out += decode_query_part(out, eq + 1, plen - klen - 1);
			else
				*out++ = '\0';
			req->nparams++;
		}
		q += plen;
		if (*q == '&')
			q++;
	}
	return 0;
}

/* Split the target into path and query and check them; returns an HTTP status. */
int pf_http_req_finish_head(pf_http_req *req, int is_connect)
{
	char nul = '\0';
	if (buf_append(&req->url, &req->url_len, &req->url_cap, PF_HTTP_URL_INITIAL,
	               req->url_len + 1, &nul, 1) < 0)
		return 503;
	req->url_len--; /* the NUL is not part of the target */
	if (req->nhdr > 0 && buf_append(&req->hbuf, &req->hlen, &req->hcap, PF_HTTP_HBUF_INITIAL,
	                                req->hlen + 1, &nul, 1) < 0)
		return 503;
	/* trim trailing blanks of values (leading ones are dropped by the parser) */
	for (size_t i = 0; i < req->nhdr; i++) {
		char *v = req->hbuf + req->hdr[i].value;
		size_t n = strlen(v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			v[--n] = '\0';
	}
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (req->url_len == 0 || http_parser_parse_url(req->url, req->url_len, is_connect, &u) != 0)
		return 400;
	if (!(u.field_set & (1 << UF_PATH)))
		return 400;
	req->path = decode_path(req->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
	if (!req->path || req->path[0] != '/')
		return 400;
	if (u.field_set & (1 << UF_QUERY))
		req->query =
		    strndup(req->url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
	else
		req->query = strdup("");
	if (!req->query)
		return 503;
	return 0;
}

/* --------------------------------------------------------------- accessors */

const char *pf_http_req_method(const pf_http_req *req)
{
	return req->method;
}

const char *pf_http_req_path(const pf_http_req *req)
{
	return req->path;
}

const char *pf_http_req_query(const pf_http_req *req)
{
	return req->query;
}

const char *pf_http_req_param(pf_http_req *req, const char *name)
{
	if (!req->params && req_decode_params(req) < 0)
		return NULL;
	const char *p = req->params;
	for (size_t i = 0; i < req->nparams; i++) {
		const char *v = p + strlen(p) + 1;
		if (strcmp(p, name) == 0)
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

bool pf_http_req_param_at(pf_http_req *req, size_t i, const char **name, const char **value)
{
	if (!req->params && req_decode_params(req) < 0)
		return false;
	if (i >= req->nparams)
		return false;
	const char *p = req->params;
	for (size_t k = 0; k < i; k++) {
		p += strlen(p) + 1;
		p += strlen(p) + 1;
	}
	*name = p;
	*value = p + strlen(p) + 1;
	return true;
}

const char *pf_http_req_header(const pf_http_req *req, const char *name)
{
	for (size_t i = 0; i < req->nhdr; i++)
		if (strcasecmp(req->hbuf + req->hdr[i].name, name) == 0)
			return req->hbuf + req->hdr[i].value;
	return NULL;
}

bool pf_http_media_is_json(const char *ct)
{
	static const char json[] = "application/json";
	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, json, sizeof(json) - 1) != 0)
		return false;
	const char *p = ct + sizeof(json) - 1;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0' || *p == ';';
}

bool pf_http_req_is_json(const pf_http_req *req)
{
	return pf_http_media_is_json(pf_http_req_header(req, "Content-Type"));
}

bool pf_http_req_has_body(const pf_http_req *req)
{
	return req->chunked || req->content_length > 0;
}

int64_t pf_http_req_content_length(const pf_http_req *req)
{
	return req->content_length;
}

bool pf_http_req_alive(const pf_http_req *req)
{
	return req->conn != NULL;
}

const char *pf_http_req_client(const pf_http_req *req)
{
	return req->client[0] ? req->client : req->peer;
}

bool pf_http_req_https(const pf_http_req *req)
{
	return req->https;
}

void pf_http_req_set_user(pf_http_req *req, const char *name)
{
	snprintf(req->user, sizeof(req->user), "%s", name ? name : "");
}

void pf_http_req_set_route(pf_http_req *req, const char *pattern)
{
	req->route = pattern;
}

void pf_http_req_set_trusted(pf_http_req *req)
{
	req->trusted = true;
}

bool pf_http_req_trusted(const pf_http_req *req)
{
	return req->trusted;
}

const char *pf_http_req_peer(const pf_http_req *req)
{
	return req->peer;
}

struct event_base *pf_http_req_base(const pf_http_req *req)
{
	return req->base;
}

uint64_t pf_http_req_conn_id(const pf_http_req *req)
{
	return req->conn_id;
}

/* ------------------------------------------------------------- responses */

static void append_date(struct evbuffer *out)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	evbuffer_add_printf(out, "Date: %s\r\n", date);
}

void pf_http_write_head(struct evbuffer *out, int status, const char *ctype, int64_t length,
                        bool chunked, bool gzip, bool vary, bool keep, const pf_http_req *req)
{
	bool no_body = status < 200 || status == 204 || status == 304;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, pf_http_status_text(status));
	append_date(out);
	if (ctype && !no_body)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	if (!no_body && length >= 0)
		evbuffer_add_printf(out, "Content-Length: %lld\r\n", (long long)length);
	if (!no_body && chunked)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	if (!no_body && gzip)
		evbuffer_add_printf(out, "Content-Encoding: gzip\r\n");
	if (vary)
		evbuffer_add_printf(out, "Vary: Accept-Encoding\r\n");
	evbuffer_add_printf(out, "Connection: %s\r\n", keep ? "keep-alive" : "close");
	/* every answer: no MIME sniffing, no referrer leaking ids to elsewhere */
	evbuffer_add_printf(out,
	                    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n");
	for (size_t i = 0; req && i < req->nrh; i++)
		evbuffer_add_printf(out, "%s: %s\r\n", req->rh_name[i], req->rh_value[i]);
	evbuffer_add(out, "\r\n", 2);
}

void pf_http_write_response(struct evbuffer *out, int status, const char *ctype, const void *body,
                            size_t len, bool keep, bool head_only, const pf_http_req *req)
{
	bool no_body = status < 200 || status == 204 || status == 304;
	pf_http_write_head(out, status, ctype, (int64_t)len, false, false, false, keep, req);
	if (!no_body && !head_only && len > 0)
		evbuffer_add(out, body, len);
}

char *pf_http_error_json(const char *msg, const char *detail_json)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "error", msg);
	cJSON *d = NULL;
	if (detail_json) {
		d = cJSON_Parse(detail_json);
		if (!d)
			d = cJSON_CreateString(detail_json);
	}
	if (!d)
		d = cJSON_CreateNull();
	if (d)
		cJSON_AddItemToObject(o, "detail", d);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

int pf_http_add_header(pf_http_req *req, const char *name, const char *value)
{
	if (req->nrh >= PF_HTTP_RESPONSE_HEADERS_MAX)
		return PF_ELIMIT;
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n") || !*name)
		return PF_EINVAL;
	req->rh_name[req->nrh] = strdup(name);
	req->rh_value[req->nrh] = strdup(value);
	if (!req->rh_name[req->nrh] || !req->rh_value[req->nrh]) {
		free(req->rh_name[req->nrh]);
		free(req->rh_value[req->nrh]);
		return PF_ENOMEM;
	}
	req->nrh++;
	return 0;
}

/*
 * http.c - the HTTP/1.1 server: a listening socket watched by the loop, one
 * bufferevent per connection, Node's http-parser for framing.
 *
 * A connection handles one request at a time. The parser is paused right
 * after each request head, so the handler is always called from outside
 * http_parser_execute() and bytes of later (pipelined) requests stay in the
 * input buffer until the current request has been answered. Reading is
 * bounded by a read high watermark (PF_HTTP_READ_MAX): while the parser
 * does not consume, the socket is not read.
 *
 * Objects are never freed inside their own callbacks: a dying connection is
 * marked CONN_DEAD and freed by the server's reaper event on the same loop
 * turn, after the callback returned; a request is reference counted (the
 * handler holds one reference until it responds, each pending deferred
 * callback holds one).
 */
#include "propflow/http.h"
#include "propflow/log.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/buffer.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PF_HTTP_LINGER_MS       2000 /* read and discard after closing: the peer sees our answer */
#define PF_HTTP_REJECT_MAX      64   /* connections being turned away with 503 at once */
#define PF_HTTP_ACCEPT_BATCH    64   /* accept() calls per wakeup */
#define PF_HTTP_URL_INITIAL     256  /* first allocation of the URL buffer */
#define PF_HTTP_HBUF_INITIAL    1024 /* first allocation of the header buffer */
#define PF_HTTP_ACCEPT_RETRY_MS 100  /* pause accepting this long when out of descriptors */

typedef struct pf_http_conn pf_http_conn;

/* Body progress of one request. */
typedef enum req_body {
	BODY_NONE,    /* the request has no body */
	BODY_UNREAD,  /* it has one; the handler has not asked for it */
	BODY_READING, /* fragments are being delivered */
	BODY_DONE,    /* end callback fired */
	BODY_ABORTED, /* abort fired (or pending) instead */
} req_body;

typedef struct req_header {
	size_t name;  /* offset into hbuf */
	size_t value; /* offset into hbuf */
} req_header;

struct pf_http_req {
	pf_http_conn *conn;          /* borrowed; NULL once the connection is gone or done */
	struct event_base *base;     /* borrowed from the server */
	int refs;                    /* handler (until respond) + pending deferred events */
	bool finished;               /* responded or detached */
	bool abort_fired;            /* the abort callback ran (or was due with none set) */
	uint64_t conn_id;            /* for logs */
	char peer[INET6_ADDRSTRLEN]; /* peer address text */
	const char *method;          /* static string from http-parser */
	bool is_head;                /* method is HEAD: responses carry no body */
	char *url;                   /* owned: raw request target, NUL-terminated */
	size_t url_len;              /* bytes in url */
	size_t url_cap;              /* bytes allocated for url */
	char *path;                  /* owned: decoded path */
	char *query;                 /* owned: raw query or "" */
	char *hbuf;                  /* owned: header names and values, each NUL-terminated */
	size_t hlen;                 /* bytes used in hbuf */
	size_t hcap;                 /* bytes allocated for hbuf */
	size_t hbytes;               /* header name + value bytes (the capped quantity) */
	req_header *hdr;             /* owned: header index */
	size_t nhdr;                 /* headers in hdr */
	size_t hdr_cap;              /* entries allocated in hdr */
	bool in_value;               /* the parser is inside a header value */
	char *params;                /* owned, lazily: decoded "k\0v\0" pairs of the query */
	size_t nparams;              /* pairs in params */
	int64_t content_length;      /* -1 when absent or chunked */
	bool chunked;                /* Transfer-Encoding: chunked */
	req_body body;               /* body progress */
	uint64_t body_max;           /* effective body cap */
	uint64_t body_read;          /* body bytes delivered */
	bool resume_pending;         /* pf_http_req_resume() since the last body fragment */
	pf_http_body_cb body_cb;     /* from read_body */
	pf_http_end_cb end_cb;       /* from read_body */
	void *body_arg;              /* borrowed: argument of body_cb and end_cb */
	pf_http_abort_cb abort_cb;   /* from read_body or on_abort */
	void *abort_arg;             /* borrowed */
	const char *abort_reason;    /* static: reason of a deferred abort */
	char *rh_name[PF_HTTP_RESPONSE_HEADERS_MAX];  /* owned: extra response header names */
	char *rh_value[PF_HTTP_RESPONSE_HEADERS_MAX]; /* owned: their values */
	size_t nrh;                                   /* extra response headers */
	struct timespec start; /* when the request began, for the access log */
};

/*
 * Connection states; conn_set_state() does every side effect of entering
 * one (timer, reading, the dead list).
 */
typedef enum conn_state {
	CONN_HEAD,    /* reading a request head, or idle between requests */
	CONN_HANDLER, /* head handed over; parser paused until read_body or respond */
	CONN_BODY,    /* delivering body fragments (maybe paused by the consumer) */
	CONN_WAIT,    /* request complete or aborted; waiting for the response */
	CONN_CLOSING, /* no more requests: flushing output, then lingering */
	CONN_DEAD,    /* on the server's dead list; freed by the reaper */
} conn_state;

struct pf_http_conn {
	pf_http_server *srv;         /* borrowed */
	pf_http_conn *prev, *next;   /* links in srv->conns or srv->dead */
	struct bufferevent *bev;     /* owned; NULL after detach */
	struct event *timer;         /* owned: header, idle, stall and linger timeouts */
	struct event *defer;         /* owned: zero-timeout "process later" */
	http_parser parser;          /* parser state */
	conn_state state;            /* see conn_set_state() */
	uint64_t id;                 /* for logs */
	char peer[INET6_ADDRSTRLEN]; /* peer address text */
	pf_http_req *building;       /* owned: request whose head is being parsed */
	pf_http_req *req;            /* borrowed (the handler owns it): current request */
	unsigned nreq;               /* requests started on this connection */
	bool head_ready;             /* a head completed inside the parser; dispatch it */
	bool msg_begun;              /* bytes of a new head have arrived */
	bool msg_done;               /* the parser finished the current message */
	bool keep_alive;             /* the client allows another request */
	bool upgrade;                /* the request asked for a protocol upgrade */
	bool must_close;             /* close after the current response */
	bool read_eof;               /* the peer shut its sending side */
	bool body_paused;            /* consumer returned PF_HTTP_PAUSE */
	bool out_blocked;            /* parsing stopped: output over output_max */
	bool shut;                   /* our side was shut down (lingering) */
	bool rejecting;              /* over the connection cap: 503 and close */
	int error_status;            /* status chosen by a parser callback that failed */
	const char *error_detail;    /* static: why, for that status */
	const char *pending_abort;   /* static: abort reason set inside the parser */
	size_t out_seen;             /* output length at the last idle timer, for progress */
	const char *close_reason;    /* static: first reason this connection closes */
};

struct pf_http_server {
	struct event_base *base; /* borrowed */
	pf_http_limits lim;      /* copy */
	pf_http_request_cb cb;   /* request handler */
	void *arg;               /* borrowed: handler argument */
	int fd;                  /* owned: listening socket, -1 once stopped */
	int port;                /* bound port */
	struct event *listen_ev; /* owned */
	struct event *retry_ev;  /* owned: re-enable accepting after EMFILE */
	struct event *reap_ev;   /* owned: frees dead connections */
	pf_http_conn *conns;     /* owned list: live connections */
	pf_http_conn *dead;      /* owned list: connections waiting for the reaper */
	unsigned nconns;         /* live connections counted against max_connections */
	unsigned nreject;        /* live connections being turned away */
	uint64_t next_id;        /* connection ids */
};

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t len);
static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void conn_set_state(pf_http_conn *c, conn_state s);
static void conn_process(pf_http_conn *c);
static void conn_close(pf_http_conn *c, const char *reason);
static void conn_kill(pf_http_conn *c, const char *reason, const char *abort_reason);
static void req_unref(pf_http_req *req);

void pf_http_limits_default(pf_http_limits *lim)
{
	lim->url_max = 8192;
	lim->header_bytes_max = 32768;
	lim->header_count_max = 100;
	lim->body_max = (uint64_t)1 << 30;
	lim->header_timeout_ms = 10000;
	lim->idle_timeout_ms = 60000;
	lim->max_connections = 512;
	lim->output_max = 4 * 1024 * 1024;
}

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
	default: return "Unknown";
	}
}

static void ms_to_tv(unsigned ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

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

/* ---------------------------------------------------------------- requests */

static pf_http_req *req_new(pf_http_conn *c)
{
	pf_http_req *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->conn = c;
	req->base = c->srv->base;
	req->refs = 1;
	req->conn_id = c->id;
	memcpy(req->peer, c->peer, sizeof(req->peer));
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
	free(req);
}

static void req_unref(pf_http_req *req)
{
	if (--req->refs == 0)
		req_free(req);
}

/* Fire the abort callback now (at most once, never after respond). */
static void req_fire_abort(pf_http_req *req, const char *reason)
{
	/* after the end callback the body is complete: no abort, respond just frees */
	if (req->finished || req->abort_fired || req->body == BODY_DONE)
		return;
	if (req->body == BODY_READING || req->body == BODY_UNREAD)
		req->body = BODY_ABORTED;
	if (!req->abort_cb)
		return; /* a callback registered later still hears of it */
	req->abort_fired = true;
	req->abort_cb(req->abort_arg, req, reason);
}

static void req_deferred_abort_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_http_req *req = arg;
	req->refs++; /* the callback may respond */
	req_fire_abort(req, req->abort_reason);
	req_unref(req);
	req_unref(req); /* the reference of this pending event */
}

/* Fire the abort callback on a later loop turn (never re-entrantly). */
static void req_defer_abort(pf_http_req *req, const char *reason)
{
	static const struct timeval zero = {0, 0};
	req->abort_reason = reason;
	req->refs++;
	if (event_base_once(req->base, -1, EV_TIMEOUT, req_deferred_abort_cb, req, &zero) < 0) {
		req->refs--;
		pf_error("conn %llu: cannot schedule abort", (unsigned long long)req->conn_id);
	}
}

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
static int req_finish_head(pf_http_req *req, int is_connect)
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

/* ------------------------------------------------------------ parser callbacks */

static int on_message_begin(http_parser *p)
{
	pf_http_conn *c = p->data;
	c->msg_begun = true;
	c->msg_done = false;
	if (c->building)
		req_unref(c->building);
	c->building = req_new(c);
	if (!c->building) {
		c->error_status = 503;
		return -1;
	}
	struct timeval tv;
	ms_to_tv(c->srv->lim.header_timeout_ms, &tv);
	evtimer_add(c->timer, &tv);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	pf_http_conn *c = p->data;
	pf_http_req *req = c->building;
	/* one byte more than the cap is kept for the NUL */
	int r = buf_append(&req->url, &req->url_len, &req->url_cap, PF_HTTP_URL_INITIAL,
	                   c->srv->lim.url_max + 1, at, len);
	if (r < 0 || req->url_len > c->srv->lim.url_max) {
		c->error_status = r == PF_ENOMEM ? 503 : 414;
		return -1;
	}
	return 0;
}

static size_t hbuf_cap(const pf_http_limits *lim)
{
	/* header bytes plus a NUL after every name and value */
	return lim->header_bytes_max + 2 * lim->header_count_max + 1;
}

static int header_bytes(pf_http_conn *c, pf_http_req *req, const char *at, size_t len)
{
	const pf_http_limits *lim = &c->srv->lim;
	if (len > lim->header_bytes_max - req->hbytes) {
		c->error_status = 431;
		return -1;
	}
	req->hbytes += len;
	int r = buf_append(&req->hbuf, &req->hlen, &req->hcap, PF_HTTP_HBUF_INITIAL, hbuf_cap(lim),
	                   at, len);
	if (r < 0) {
		c->error_status = r == PF_ENOMEM ? 503 : 431;
		return -1;
	}
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	pf_http_conn *c = p->data;
	pf_http_req *req = c->building;
	const pf_http_limits *lim = &c->srv->lim;
	if (!req)
		return 0; /* chunked trailers: ignored (http-parser caps their size) */
	if (req->nhdr == 0 || req->in_value) {
		if (req->nhdr >= lim->header_count_max) {
			c->error_status = 431;
			return -1;
		}
		char nul = '\0';
		if (req->in_value && buf_append(&req->hbuf, &req->hlen, &req->hcap,
		                                PF_HTTP_HBUF_INITIAL, hbuf_cap(lim), &nul, 1) < 0) {
			c->error_status = 431;
			return -1;
		}
		if (req->nhdr == req->hdr_cap) {
			size_t n = req->hdr_cap ? req->hdr_cap * 2 : 16;
			if (n > lim->header_count_max)
				n = lim->header_count_max;
			req_header *nh = realloc(req->hdr, n * sizeof(*nh));
			if (!nh) {
				c->error_status = 503;
				return -1;
			}
			req->hdr = nh;
			req->hdr_cap = n;
		}
		req->hdr[req->nhdr].name = req->hlen;
		req->hdr[req->nhdr].value = req->hlen;
		req->nhdr++;
		req->in_value = false;
	}
	return header_bytes(c, req, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	pf_http_conn *c = p->data;
	pf_http_req *req = c->building;
	if (!req)
		return 0; /* chunked trailers */
	if (!req->in_value) {
		char nul = '\0';
		if (buf_append(&req->hbuf, &req->hlen, &req->hcap, PF_HTTP_HBUF_INITIAL,
		               hbuf_cap(&c->srv->lim), &nul, 1) < 0) {
			c->error_status = 431;
			return -1;
		}
		req->hdr[req->nhdr - 1].value = req->hlen;
		req->in_value = true;
	}
	return header_bytes(c, req, at, len);
}

static int on_headers_complete(http_parser *p)
{
	pf_http_conn *c = p->data;
	pf_http_req *req = c->building;
	/* a header name without a value (cannot normally happen) gets an empty one */
	if (req->nhdr > 0 && !req->in_value) {
		char nul = '\0';
		if (buf_append(&req->hbuf, &req->hlen, &req->hcap, PF_HTTP_HBUF_INITIAL,
		               hbuf_cap(&c->srv->lim), &nul, 1) < 0) {
			c->error_status = 431;
			return -1;
		}
		req->hdr[req->nhdr - 1].value = req->hlen;
	}
	/* http-parser refuses a request Transfer-Encoding other than chunked only
	 * after this callback; refuse it before the handler sees the request */
	int status = 400;
	c->error_detail = "unsupported transfer-encoding";
	if (!(p->uses_transfer_encoding && !(p->flags & F_CHUNKED))) {
		c->error_detail = "invalid request target";
		status = req_finish_head(req, p->method == HTTP_CONNECT);
	}
	if (status) {
		c->error_status = status;
		return -1;
	}
	req->method = http_method_str((enum http_method)p->method);
	req->is_head = p->method == HTTP_HEAD;
	req->chunked = (p->flags & F_CHUNKED) != 0;
	if (!req->chunked && (p->flags & F_CONTENTLENGTH))
		req->content_length = (int64_t)p->content_length;
	req->body = (req->chunked || req->content_length > 0) ? BODY_UNREAD : BODY_NONE;
	c->keep_alive = http_should_keep_alive(p) != 0;
	c->upgrade = p->upgrade != 0;
	c->must_close = c->upgrade;
	c->msg_begun = false;
	c->req = req;
	c->building = NULL;
	c->nreq++;
	c->head_ready = true;
	http_parser_pause(p, 1);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	pf_http_conn *c = p->data;
	pf_http_req *req = c->req;
	if (!req || req->body != BODY_READING) {
		/* cannot happen: the parser only runs past a head once the body is wanted */
		c->pending_abort = "malformed body";
		return -1;
	}
	if (len > req->body_max - req->body_read) {
		c->pending_abort = "body too large";
		return -1;
	}
	req->body_read += len;
	req->resume_pending = false;
	int r = req->body_cb(req->body_arg, req, at, len);
	if (c->req != req || c->state != CONN_BODY) {
		/* answered (or aborted) from inside the callback: stop here */
		http_parser_pause(p, 1);
		return 0;
	}
	if (r == PF_HTTP_PAUSE) {
		c->body_paused = true;
		http_parser_pause(p, 1);
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	pf_http_conn *c = p->data;
	pf_http_req *req = c->req;
	c->msg_done = true;
	if (req && req->body == BODY_READING) {
		req->body = BODY_DONE;
		conn_set_state(c, CONN_WAIT);
		req->end_cb(req->body_arg, req);
	}
	/* one request at a time: conn_process() decides whether to go on */
	http_parser_pause(p, 1);
	return 0;
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

/* Write a whole response; req supplies extra headers and may be NULL. */
static void write_response(struct evbuffer *out, int status, const char *ctype, const void *body,
                           size_t len, bool keep, bool head_only, const pf_http_req *req)
{
	bool no_body = status < 200 || status == 204 || status == 304;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, pf_http_status_text(status));
	append_date(out);
	if (ctype && !no_body)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	if (!no_body)
		evbuffer_add_printf(out, "Content-Length: %zu\r\n", len);
	evbuffer_add_printf(out, "Connection: %s\r\n", keep ? "keep-alive" : "close");
	for (size_t i = 0; req && i < req->nrh; i++)
		evbuffer_add_printf(out, "%s: %s\r\n", req->rh_name[i], req->rh_value[i]);
	evbuffer_add(out, "\r\n", 2);
	if (!no_body && !head_only && len > 0)
		evbuffer_add(out, body, len);
}

static char *error_json(const char *msg, const char *detail_json)
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

/* An error answered by the server itself (no request handed out); then close. */
static void conn_fail(pf_http_conn *c, int status, const char *msg, const char *detail)
{
	char *detail_json = NULL;
	if (detail) {
		cJSON *s = cJSON_CreateString(detail);
		detail_json = s ? cJSON_PrintUnformatted(s) : NULL;
		cJSON_Delete(s);
	}
	char *json = error_json(msg, detail_json);
	free(detail_json);
	const char *body = json ? json : "{\"error\":\"internal error\",\"detail\":null}";
	if (c->bev) {
		write_response(bufferevent_get_output(c->bev), status, "application/json", body,
		               strlen(body), false, false, NULL);
		pf_info("conn %llu: - - %d %zu 0ms", (unsigned long long)c->id, status,
		        strlen(body));
	}
	free(json);
	conn_close(c, msg);
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

static void access_log(const pf_http_req *req, int status, size_t len)
{
	char path[512];
	log_safe(path, sizeof(path), req->path ? req->path : "-");
	pf_info("conn %llu: %s %s %d %zu %.0fms", (unsigned long long)req->conn_id,
	        req->method ? req->method : "-", path, status, len, ms_since(&req->start));
}

static void conn_schedule(pf_http_conn *c)
{
	static const struct timeval zero = {0, 0};
	if (c->state != CONN_DEAD)
		evtimer_add(c->defer, &zero);
}

void pf_http_respond(pf_http_req *req, int status, const char *content_type, const void *body,
                     size_t len)
{
	if (req->finished) {
		pf_warn("conn %llu: second response ignored", (unsigned long long)req->conn_id);
		return;
	}
	req->finished = true;
	pf_http_conn *c = req->conn;
	if (c && c->bev) {
		bool complete = req->body == BODY_NONE || req->body == BODY_DONE;
		bool keep =
		    c->keep_alive && !c->must_close && complete && !c->read_eof && c->srv->fd >= 0;
		write_response(bufferevent_get_output(c->bev), status, content_type, body, len,
		               keep, req->is_head, req);
		access_log(req, status, len);
		c->req = NULL;
		req->conn = NULL;
		if (!keep) {
			conn_close(c, complete ? "closed after response" : "response before body");
		} else {
			conn_set_state(c, CONN_HEAD);
			conn_schedule(c);
		}
	} else {
		pf_debug("conn %llu: %s response %d dropped: client gone",
		         (unsigned long long)req->conn_id, req->method, status);
	}
	req_unref(req);
}

void pf_http_respond_json_owned(pf_http_req *req, int status, char *json)
{
	if (!json) {
		static const char oom[] = "{\"error\":\"out of memory\",\"detail\":null}";
		pf_http_respond(req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	pf_http_respond(req, status, "application/json", json, strlen(json));
	free(json);
}

void pf_http_respond_error(pf_http_req *req, int status, const char *msg, const char *detail_json)
{
	pf_http_respond_json_owned(req, status, error_json(msg, detail_json));
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

const char *pf_http_req_header(const pf_http_req *req, const char *name)
{
	for (size_t i = 0; i < req->nhdr; i++)
		if (strcasecmp(req->hbuf + req->hdr[i].name, name) == 0)
			return req->hbuf + req->hdr[i].value;
	return NULL;
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

/* -------------------------------------------------------------------- body */

void pf_http_req_read_body(pf_http_req *req, uint64_t body_max, pf_http_body_cb body_cb,
                           pf_http_end_cb end_cb, pf_http_abort_cb abort_cb, void *arg)
{
	if (req->finished || (req->body != BODY_NONE && req->body != BODY_UNREAD)) {
		pf_warn("conn %llu: read_body called twice", (unsigned long long)req->conn_id);
		return;
	}
	req->body_cb = body_cb;
	req->end_cb = end_cb;
	req->body_arg = arg;
	req->abort_cb = abort_cb;
	req->abort_arg = arg;
	pf_http_conn *c = req->conn;
	if (!c) {
		/* the connection died before the body was wanted */
		req->body = BODY_ABORTED;
		req_defer_abort(req, "client closed");
		return;
	}
	req->body_max = body_max ? body_max : c->srv->lim.body_max;
	if (req->content_length >= 0 && (uint64_t)req->content_length > req->body_max) {
		req->body = BODY_ABORTED;
		c->must_close = true;
		conn_set_state(c, CONN_WAIT);
		req_defer_abort(req, "body too large");
		return;
	}
	const char *expect = pf_http_req_header(req, "Expect");
	if (expect && strcasecmp(expect, "100-continue") == 0 && req->body == BODY_UNREAD &&
	    c->parser.http_major == 1 && c->parser.http_minor >= 1)
		evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
	req->body = BODY_READING;
	c->body_paused = false;
	conn_set_state(c, CONN_BODY);
	conn_schedule(c);
}

void pf_http_req_resume(pf_http_req *req)
{
	req->resume_pending = true;
	if (req->conn)
		conn_schedule(req->conn);
}

void pf_http_req_on_abort(pf_http_req *req, pf_http_abort_cb cb, void *arg)
{
	req->abort_cb = cb;
	req->abort_arg = arg;
	if (!req->conn && !req->abort_fired && !req->finished)
		req_defer_abort(req, "client closed");
}

/* -------------------------------------------------------------- connections */

/*
 * Whether the socket is read. Not while the consumer paused the body, and
 * not while a full input buffer (PF_HTTP_READ_MAX) waits for a state that
 * consumes it: libevent would call the read callback again and again.
 * Otherwise yes, also while the handler works, so a vanished peer is seen.
 */
static void conn_update_read(pf_http_conn *c)
{
	if (c->state == CONN_DEAD || !c->bev || c->read_eof)
		return;
	bool on = true;
	if (c->state == CONN_BODY && c->body_paused)
		on = false;
	else if (c->state != CONN_CLOSING &&
	         evbuffer_get_length(bufferevent_get_input(c->bev)) >= PF_HTTP_READ_MAX)
		on = false;
	if (on)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

static void conn_set_state(pf_http_conn *c, conn_state s)
{
	const pf_http_limits *lim = &c->srv->lim;
	struct timeval tv;
	if (c->state == CONN_DEAD)
		return;
	c->state = s;
	switch (s) {
	case CONN_HEAD:
		c->out_seen = c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
		ms_to_tv(c->msg_begun || c->nreq == 0 ? lim->header_timeout_ms
		                                      : lim->idle_timeout_ms,
		         &tv);
		evtimer_add(c->timer, &tv);
		conn_update_read(c);
		break;
	case CONN_HANDLER:
	case CONN_WAIT:
		/* the server is busy, not the client: no timer */
		evtimer_del(c->timer);
		conn_update_read(c);
		break;
	case CONN_BODY:
		if (c->body_paused) {
			evtimer_del(c->timer);
		} else {
			ms_to_tv(lim->idle_timeout_ms, &tv);
			evtimer_add(c->timer, &tv);
		}
		conn_update_read(c);
		break;
	case CONN_CLOSING:
		ms_to_tv(c->shut ? PF_HTTP_LINGER_MS : lim->idle_timeout_ms, &tv);
		evtimer_add(c->timer, &tv);
		conn_update_read(c);
		break;
	case CONN_DEAD:
		pf_debug("conn %llu: closed (%s)", (unsigned long long)c->id,
		         c->close_reason ? c->close_reason : "done");
		evtimer_del(c->timer);
		evtimer_del(c->defer);
		if (c->bev)
			bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		/* move from the live list to the dead list */
		if (c->prev)
			c->prev->next = c->next;
		else
			c->srv->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->prev = NULL;
		c->next = c->srv->dead;
		if (c->next)
			c->next->prev = c;
		c->srv->dead = c;
		if (c->rejecting)
			c->srv->nreject--;
		else
			c->srv->nconns--;
		event_active(c->srv->reap_ev, EV_TIMEOUT, 0);
		break;
	default: abort();
	}
}

static void conn_free(pf_http_conn *c)
{
	if (c->building)
		req_unref(c->building);
	if (c->bev)
		bufferevent_free(c->bev);
	event_free(c->timer);
	event_free(c->defer);
	free(c);
}

/* After the output drained: shut our side and read until the peer closes. */
static void conn_linger(pf_http_conn *c)
{
	if (c->read_eof || !c->bev) {
		conn_set_state(c, CONN_DEAD);
		return;
	}
	if (!c->shut) {
		shutdown(bufferevent_getfd(c->bev), SHUT_WR);
		c->shut = true;
		conn_set_state(c, CONN_CLOSING); /* re-arms the timer for the linger time */
	}
}

/* Stop taking requests; flush what is queued, then close. No request is attached. */
static void conn_close(pf_http_conn *c, const char *reason)
{
	if (c->state == CONN_CLOSING || c->state == CONN_DEAD)
		return;
	if (!c->close_reason)
		c->close_reason = reason;
	if (c->building) {
		req_unref(c->building);
		c->building = NULL;
	}
	conn_set_state(c, CONN_CLOSING);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_linger(c);
}

/* The connection is gone: abort its request and drop it now. */
static void conn_kill(pf_http_conn *c, const char *reason, const char *abort_reason)
{
	if (c->state == CONN_DEAD)
		return;
	if (!c->close_reason)
		c->close_reason = reason;
	pf_http_req *req = c->req;
	c->req = NULL;
	conn_set_state(c, CONN_DEAD);
	if (req) {
		req->conn = NULL;
		req->refs++;
		req_fire_abort(req, abort_reason);
		req_unref(req);
	}
}

static void conn_dispatch(pf_http_conn *c)
{
	conn_set_state(c, CONN_HANDLER);
	c->srv->cb(c->srv->arg, c->req);
}

/* The parser stopped with an error (not a pause). */
static void conn_parse_failed(pf_http_conn *c, enum http_errno e)
{
	pf_http_req *req = c->req;
	if (req) {
		/* inside a body the handler owns the request and answers it */
		const char *reason = c->pending_abort ? c->pending_abort : "malformed body";
		c->pending_abort = NULL;
		c->must_close = true;
		conn_set_state(c, CONN_WAIT);
		req->refs++;
		req_fire_abort(req, reason);
		req_unref(req);
		return;
	}
	int status = c->error_status ? c->error_status : 400;
	if (e == HPE_HEADER_OVERFLOW)
		status = 431;
	switch (status) {
	case 414: conn_fail(c, 414, "request target too long", NULL); break;
	case 431: conn_fail(c, 431, "request headers too large", NULL); break;
	case 503: conn_fail(c, 503, "out of memory", NULL); break;
	default:
		conn_fail(c, 400, "bad request",
		          e == HPE_CB_headers_complete && c->error_detail
		              ? c->error_detail
		              : http_errno_description(e));
		break;
	}
}

/* Input ended and every buffered byte was parsed. */
static void conn_input_ended(pf_http_conn *c)
{
	switch (c->state) {
	case CONN_HEAD:
		conn_close(c, c->msg_begun ? "client closed inside a head" : "client closed");
		break;
	case CONN_BODY: conn_kill(c, "client closed inside a body", "client closed"); break;
	default: break;
	}
}

/* Parse buffered input while the state allows it. */
static void conn_parse(pf_http_conn *c)
{
	for (;;) {
		if (c->state == CONN_HEAD) {
			size_t out = evbuffer_get_length(bufferevent_get_output(c->bev));
			if (out > c->srv->lim.output_max) {
				c->out_blocked = true;
				break;
			}
		} else if (c->state != CONN_BODY || c->body_paused) {
			break;
		}
		struct evbuffer *in = bufferevent_get_input(c->bev);
		if (evbuffer_get_length(in) == 0) {
			if (c->read_eof)
				conn_input_ended(c);
			break;
		}
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		enum http_errno pe = HTTP_PARSER_ERRNO(&c->parser);
		if (pe != HPE_OK && pe != HPE_PAUSED) {
			/* failed earlier (in detach): the connection cannot go on */
			conn_close(c, "parser failed");
			break;
		}
		http_parser_pause(&c->parser, 0);
		size_t n = http_parser_execute(&c->parser, &parser_settings, v.iov_base, v.iov_len);
		if (c->state != CONN_DEAD)
			evbuffer_drain(in, n);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		if (c->state == CONN_DEAD || c->state == CONN_CLOSING)
			break;
		if (e == HPE_PAUSED) {
			if (c->head_ready) {
				c->head_ready = false;
				conn_dispatch(c);
			} else if (c->state == CONN_BODY && c->body_paused) {
				conn_set_state(c, CONN_BODY); /* stop the timer and reading */
			}
			continue;
		}
		if (e != HPE_OK) {
			conn_parse_failed(c, e);
			break;
		}
		if (c->parser.upgrade) {
			/* the rest is another protocol and nobody took it */
			conn_close(c, "upgrade not taken");
			break;
		}
	}
}

/* Parse buffered input while the state allows it. */
static void conn_process(pf_http_conn *c)
{
	conn_parse(c);
	conn_update_read(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	pf_http_conn *c = arg;
	if (c->state == CONN_CLOSING) {
		/* lingering: discard */
		struct evbuffer *in = bufferevent_get_input(bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (c->state == CONN_BODY && !c->body_paused) {
		struct timeval tv;
		ms_to_tv(c->srv->lim.idle_timeout_ms, &tv);
		evtimer_add(c->timer, &tv);
	}
	conn_process(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	pf_http_conn *c = arg;
	if (c->state == CONN_CLOSING) {
		conn_linger(c);
	} else if (c->out_blocked) {
		c->out_blocked = false;
		conn_schedule(c);
	}
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	pf_http_conn *c = arg;
	if (what & BEV_EVENT_ERROR) {
		conn_kill(c, (what & BEV_EVENT_WRITING) ? "write failed" : "connection reset",
		          "client closed");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		c->read_eof = true;
		if (c->state == CONN_CLOSING) {
			if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
				conn_set_state(c, CONN_DEAD);
			return;
		}
		conn_process(c);
	}
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_http_conn *c = arg;
	switch (c->state) {
	case CONN_HEAD:
		if (c->msg_begun) {
			conn_fail(c, 408, "request timeout", NULL);
		} else {
			size_t out = evbuffer_get_length(bufferevent_get_output(c->bev));
			if (out > 0 && out < c->out_seen) {
				/* a slow reader still making progress */
				conn_set_state(c, CONN_HEAD);
				c->out_seen = out;
			} else {
				conn_close(c, "idle timeout");
			}
		}
		break;
	case CONN_BODY:
		if (c->req) {
			pf_http_req *req = c->req;
			c->must_close = true;
			conn_set_state(c, CONN_WAIT);
			req->refs++;
			req_fire_abort(req, "body timeout");
			req_unref(req);
		}
		break;
	case CONN_CLOSING: conn_set_state(c, CONN_DEAD); break;
	default: break;
	}
}

static void conn_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_http_conn *c = arg;
	if (c->state == CONN_BODY && c->body_paused && c->req && c->req->resume_pending) {
		c->req->resume_pending = false;
		c->body_paused = false;
		conn_set_state(c, CONN_BODY);
	}
	if (c->state == CONN_HEAD || c->state == CONN_BODY)
		conn_process(c);
}

static void conn_new(pf_http_server *srv, int fd, const struct sockaddr_storage *ss, bool reject)
{
	pf_http_conn *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->srv = srv;
	c->id = ++srv->next_id;
	c->rejecting = reject;
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, c->peer,
		          sizeof(c->peer));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, c->peer,
		          sizeof(c->peer));
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(srv->base, conn_timer_cb, c);
	c->defer = evtimer_new(srv->base, conn_defer_cb, c);
	if (!c->bev || !c->timer || !c->defer) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			close(fd);
		if (c->timer)
			event_free(c->timer);
		if (c->defer)
			event_free(c->defer);
		free(c);
		pf_error("http: out of memory for a connection");
		return;
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, PF_HTTP_READ_MAX);
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	if (reject)
		srv->nreject++;
	else
		srv->nconns++;
	pf_debug("conn %llu: open from %s", (unsigned long long)c->id, c->peer);
	c->state = CONN_HEAD;
	conn_set_state(c, CONN_HEAD);
	if (reject)
		conn_fail(c, 503, "too many connections", NULL);
	return;
fail:
	close(fd);
	pf_error("http: out of memory for a connection");
}

/* ------------------------------------------------------------------ server */

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_http_server *srv = arg;
	if (srv->fd >= 0)
		event_add(srv->listen_ev, NULL);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	pf_http_server *srv = arg;
	for (int i = 0; i < PF_HTTP_ACCEPT_BATCH && srv->fd >= 0; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct timeval tv;
				pf_warn("http: accept: %s; pausing", strerror(errno));
				event_del(srv->listen_ev);
				ms_to_tv(PF_HTTP_ACCEPT_RETRY_MS, &tv);
				evtimer_add(srv->retry_ev, &tv);
			}
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (srv->nconns < srv->lim.max_connections)
			conn_new(srv, fd, &ss, false);
		else if (srv->nreject < PF_HTTP_REJECT_MAX)
			conn_new(srv, fd, &ss, true);
		else
			close(fd);
	}
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_http_server *srv = arg;
	while (srv->dead) {
		pf_http_conn *c = srv->dead;
		srv->dead = c->next;
		conn_free(c);
	}
}

pf_http_server *pf_http_server_new(struct event_base *base, const char *host, int port,
                                   const pf_http_limits *lim, pf_http_request_cb cb, void *arg)
{
	/* a peer closing while we write must be an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	pf_http_server *srv = calloc(1, sizeof(*srv));
	struct addrinfo *ai = NULL;
	if (!srv)
		return NULL;
	srv->fd = -1;
	srv->base = base;
	srv->lim = *lim;
	srv->cb = cb;
	srv->arg = arg;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST};
	int r = getaddrinfo(host, portstr, &hints, &ai);
	if (r != 0) {
		pf_error("http: cannot use address %s:%d: %s", host, port, gai_strerror(r));
		goto fail;
	}
	srv->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->fd < 0) {
		pf_error("http: socket: %s", strerror(errno));
		goto fail;
	}
	int one = 1;
	setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(srv->fd, 511) < 0) {
		pf_error("http: cannot listen on %s:%d: %s", host, port, strerror(errno));
		goto fail;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(srv->fd, (struct sockaddr *)&ss, &sl) == 0)
		srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                           : ((struct sockaddr_in *)&ss)->sin_port);
	srv->listen_ev = event_new(base, srv->fd, EV_READ | EV_PERSIST, accept_cb, srv);
	srv->retry_ev = evtimer_new(base, retry_cb, srv);
	srv->reap_ev = event_new(base, -1, 0, reap_cb, srv);
	if (!srv->listen_ev || !srv->retry_ev || !srv->reap_ev ||
	    event_add(srv->listen_ev, NULL) < 0) {
		pf_error("http: cannot watch the listening socket");
		goto fail;
	}
	freeaddrinfo(ai);
	return srv;
fail:
	if (ai)
		freeaddrinfo(ai);
	pf_http_server_free(srv);
	return NULL;
}

void pf_http_server_stop_accepting(pf_http_server *srv)
{
	if (srv->fd < 0)
		return;
	if (srv->listen_ev)
		event_del(srv->listen_ev);
	if (srv->retry_ev)
		evtimer_del(srv->retry_ev);
	close(srv->fd);
	srv->fd = -1;
}

void pf_http_server_free(pf_http_server *srv)
{
	if (!srv)
		return;
	pf_http_server_stop_accepting(srv);
	while (srv->conns)
		conn_kill(srv->conns, "server shutting down", "server shutting down");
	reap_cb(-1, 0, srv);
	if (srv->listen_ev)
		event_free(srv->listen_ev);
	if (srv->retry_ev)
		event_free(srv->retry_ev);
	if (srv->reap_ev)
		event_free(srv->reap_ev);
	free(srv);
}

int pf_http_server_port(const pf_http_server *srv)
{
	return srv->port;
}

/* ------------------------------------------------------------------ detach */

struct bufferevent *pf_http_req_detach(pf_http_req *req)
{
	pf_http_conn *c = req->conn;
	if (!c || !c->bev || req->finished || c->req != req)
		return NULL;
	if (!c->msg_done) {
		/* the parser stopped just before the head's last byte: finish the head */
		struct evbuffer *in = bufferevent_get_input(c->bev);
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) >= 1) {
			http_parser_pause(&c->parser, 0);
			size_t n = http_parser_execute(&c->parser, &parser_settings, v.iov_base,
			                               v.iov_len);
			evbuffer_drain(in, n);
		}
		if (!c->msg_done) {
			c->must_close = true;
			return NULL;
		}
	}
	struct bufferevent *bev = c->bev;
	c->bev = NULL;
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	req->finished = true;
	access_log(req, 101, 0);
	c->req = NULL;
	req->conn = NULL;
	c->close_reason = "upgraded";
	conn_set_state(c, CONN_DEAD);
	req_unref(req);
	return bev;
}

/*
 * http_internal.h - what http.c (connections, the parser, the server) and
 * http_req.c (the request: head storage, decoding, accessors, response
 * building) share. Private to those two files: nothing else includes it,
 * and include/propflow/http.h stays the only interface of the HTTP layer.
 *
 * Functions here that return an int status return 0 or the HTTP status the
 * connection answers with (400, 414, 431, 503), never an error code.
 */
#ifndef PROPFLOW_HTTP_INTERNAL_H
#define PROPFLOW_HTTP_INTERNAL_H

#include "propflow/net/http.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <time.h>

#define PF_HTTP_URL_INITIAL  256  /* first allocation of the URL buffer */
#define PF_HTTP_HBUF_INITIAL 1024 /* first allocation of the header buffer */

/* A connection; its definition is http.c's. */
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
	pf_http_abort abort_reason;  /* reason of a deferred abort */
	bool trusted;                /* credentials accepted (pf_http_req_set_trusted) */
	char *rh_name[PF_HTTP_RESPONSE_HEADERS_MAX];  /* owned: extra response header names */
	char *rh_value[PF_HTTP_RESPONSE_HEADERS_MAX]; /* owned: their values */
	size_t nrh;                                   /* extra response headers */
	struct timespec start;         /* when the request began, for the access log */
	char client[INET6_ADDRSTRLEN]; /* the client: peer, or forwarded by a trusted proxy */
	bool https;                    /* the client spoke TLS to a trusted proxy */
	char user[65];                 /* who, for the access log; "" unknown */
};

/* ------------------------------------------------------------- lifetime */

/* A request of connection conn (borrowed), one reference (the handler's).
 * NULL on ENOMEM. */
pf_http_req *pf_http_req_new(pf_http_conn *conn, struct event_base *base, uint64_t conn_id,
                             const char *peer);
/* Drop a reference; the last one frees the request. */
void pf_http_req_unref(pf_http_req *req);
/* Fire the abort callback now: at most once, never after respond or after
 * the end callback. With no callback set, a later registration hears of it. */
void pf_http_req_fire_abort(pf_http_req *req, pf_http_abort why);
/* The same on a later loop turn, never re-entrantly. */
void pf_http_req_defer_abort(pf_http_req *req, pf_http_abort why);

/* ------------------------------------------------------- head storage */

/* Append bytes of the request target; the target is capped at url_max.
 * Returns 0, 414 or 503. */
PF_MUST_CHECK int pf_http_req_head_url(pf_http_req *req, size_t url_max, const char *at,
                                       size_t len);
/* Append bytes of a header name (a new header when a value came before).
 * Capped by lim's header_count_max and header_bytes_max. Returns 0, 431 or 503. */
PF_MUST_CHECK int pf_http_req_head_field(pf_http_req *req, const pf_http_limits *lim,
                                         const char *at, size_t len);
/* Append bytes of the current header's value. Returns 0, 431 or 503. */
PF_MUST_CHECK int pf_http_req_head_value(pf_http_req *req, const pf_http_limits *lim,
                                         const char *at, size_t len);
/* The header block ended: a last name without a value gets an empty one.
 * Returns 0 or 431. */
PF_MUST_CHECK int pf_http_req_head_complete(pf_http_req *req, const pf_http_limits *lim);
/* Split the target into decoded path and raw query and check them; trim
 * header values. Returns 0, 400 or 503. */
PF_MUST_CHECK int pf_http_req_finish_head(pf_http_req *req, int is_connect);

/* ----------------------------------------------------------- responses */

/* Write a whole response to out; req (may be NULL) supplies the extra
 * headers. 1xx, 204 and 304 carry no body and no Content-Length; with
 * head_only the headers describe the body but it is not written (HEAD). */
void pf_http_write_response(struct evbuffer *out, int status, const char *ctype, const void *body,
                            size_t len, bool keep, bool head_only, const pf_http_req *req);
/* {"error": msg, "detail": detail_json parsed (a string when it is not
 * JSON) or null}, malloc'd; NULL on ENOMEM. */
char *pf_http_error_json(const char *msg, const char *detail_json);

#endif

/*
 * http.h - HTTP/1.1 server on a libevent base, parsing with Node's
 * http-parser. Keep-alive and pipelining (requests are handled one at a
 * time per connection, in order), caps on URL, header size and count,
 * header and idle timeouts, chunked and Content-Length bodies, and
 * Expect: 100-continue.
 *
 * Body backpressure is a contract (after h2o): the body callback receives
 * each fragment and must take all of it (copy or process); when it returns
 * PF_HTTP_PAUSE the connection stops reading its socket until the consumer
 * calls pf_http_req_resume(). Memory per connection is therefore bounded by
 * one socket read (PF_HTTP_READ_MAX) plus the consumer's own caps.
 *
 * Connections are capped three ways (see pf_http_limits): in total
 * (max_connections, WebSockets included), per client address
 * (max_per_address), and in time: an unauthenticated request must send its
 * whole body within unauth_body_timeout_ms. At the total cap the stalest
 * connection that is idle, still in its head, or in an unauthenticated body
 * is closed to make room; only when there is none is the new one refused.
 * The route that accepted a request's credentials says so with
 * pf_http_req_set_trusted().
 *
 * Request lifetime: the handler owns the request from on_request until it
 * calls exactly one pf_http_respond*() or pf_ws_accept(). If the connection
 * dies first, the request stays valid (pf_http_req_alive() turns false, the
 * abort callback fires once) and the final respond just frees it. Objects
 * are never freed inside their own libevent callback.
 */
#ifndef PROPFLOW_HTTP_H
#define PROPFLOW_HTTP_H

#include "propflow/base/common.h"
#include "propflow/base/metrics.h"
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>

#define PF_HTTP_READ_MAX             (64 * 1024) /* bytes read from a socket per turn */
#define PF_HTTP_RESPONSE_HEADERS_MAX 16          /* extra response headers per request */
/* A streamed response's producer waits once the connection's output holds
 * more than PF_HTTP_STREAM_HIGH bytes, and is called back when it drained
 * below PF_HTTP_STREAM_LOW: what one slow reader costs is the high mark
 * plus the last piece written past it. */
#define PF_HTTP_STREAM_HIGH (256 * 1024)
#define PF_HTTP_STREAM_LOW  (64 * 1024)

/* Positive results (see common.h). */
enum {
	PF_HTTP_PAUSE = 1, /* body callback: stop reading until resume */
	PF_HTTP_FULL = 2,  /* stream write: over the high mark, wait for the writable callback */
};

typedef struct pf_http_limits {
	size_t url_max;             /* bytes of request target; 414 past it */
	size_t header_bytes_max;    /* all header bytes; 431 past it */
	size_t header_count_max;    /* header lines; 431 past it */
	uint64_t body_max;          /* default body cap; 413 past it (per request overridable) */
	unsigned header_timeout_ms; /* headers must complete within this; 408 */
	unsigned idle_timeout_ms;   /* keep-alive idle and body stall limit */
	unsigned unauth_body_timeout_ms; /* whole body of an untrusted request; 0 = none */
	unsigned max_connections;        /* HTTP + upgraded; beyond it (after eviction) 503 */
	unsigned max_per_address;        /* HTTP connections of one address (IPv6: /64);
	                                    beyond it 429; 0 = no cap; trusted proxies exempt */
	size_t output_max; /* bytes queued to a slow reader before we stop producing */
	const struct pf_proxy_list *proxies; /* borrowed: trusted reverse proxies, may be NULL */
	FILE *access_log;                    /* borrowed: one line per request; NULL = stderr */
	pf_metrics *metrics; /* borrowed, may be NULL: requests, bytes and connections are
	                               counted there (families pf_http_*, see README) */
} pf_http_limits;

void pf_http_limits_default(pf_http_limits *lim);

typedef struct pf_http_server pf_http_server;
typedef struct pf_http_req pf_http_req;

typedef void (*pf_http_request_cb)(void *arg, pf_http_req *req);

/* Listen on host:port ("127.0.0.1", 8080). Returns NULL and logs on failure. */
pf_http_server *pf_http_server_new(struct event_base *base, const char *host, int port,
                                   const pf_http_limits *lim, pf_http_request_cb cb, void *arg);
/* Stop accepting new connections (existing ones go on). */
void pf_http_server_stop_accepting(pf_http_server *srv);
/* Close every connection and free. Pending requests get aborted. */
void pf_http_server_free(pf_http_server *srv);
/* Port actually bound (useful with port 0). */
int pf_http_server_port(const pf_http_server *srv);

/* --- request accessors (valid until the request is finished) --- */
const char *pf_http_req_method(const pf_http_req *req); /* "GET", "POST", ... */
const char *pf_http_req_path(const pf_http_req *req);   /* decoded path, no query */
const char *pf_http_req_query(const pf_http_req *req);  /* raw query string or "" */
/* Decoded value of query parameter name, NULL if absent. Borrowed. */
const char *pf_http_req_param(pf_http_req *req, const char *name);
/* The i-th query parameter in the order sent (names may repeat): false
 * past the last (or out of memory). Borrowed. */
bool pf_http_req_param_at(pf_http_req *req, size_t i, const char **name, const char **value);
/* Header value (case-insensitive name), NULL if absent. Borrowed. */
const char *pf_http_req_header(const pf_http_req *req, const char *name);
bool pf_http_req_has_body(const pf_http_req *req);
/* Content-Length, or -1 when absent / chunked. */
int64_t pf_http_req_content_length(const pf_http_req *req);
bool pf_http_req_alive(const pf_http_req *req);
/* Peer address text ("127.0.0.1"), for logs and --trust-proxy. */
const char *pf_http_req_peer(const pf_http_req *req);
/* The client's address: the peer, or what a trusted proxy forwarded
 * (--trust-proxy); and whether the client spoke TLS to that proxy. */
const char *pf_http_req_client(const pf_http_req *req);
bool pf_http_req_https(const pf_http_req *req);
/* The route that answers the request, as its pattern in the route table
 * ("/api/imports/{id}"), for the metrics: borrowed, must be static. Never a
 * raw path, so that the series stay few. Unset: "none". */
void pf_http_req_set_route(pf_http_req *req, const char *pattern);
/* Who the request is from, for the access log (copied, truncated to 64). */
void pf_http_req_set_user(pf_http_req *req, const char *name);
/* The request's credentials were accepted. Its body then has no whole-body
 * deadline (only the idle timeout), and its connection is not evicted
 * while the body arrives. */
void pf_http_req_set_trusted(pf_http_req *req);
bool pf_http_req_trusted(const pf_http_req *req);
/* Content-Type is application/json: the media type compared exactly, case
 * aside, parameters after ';' allowed ("application/json; charset=utf-8");
 * "application/jsonx" or "application/json-seq" are not. */
bool pf_http_req_is_json(const pf_http_req *req);
/* The same test on a Content-Type value (NULL: false). Pure. */
bool pf_http_media_is_json(const char *content_type);
struct event_base *pf_http_req_base(const pf_http_req *req);
/* Id of the connection for logs. */
uint64_t pf_http_req_conn_id(const pf_http_req *req);

/* --- request body --- */
/* Return 0 to go on, PF_HTTP_PAUSE to stop reading the socket. data is
 * borrowed for the call. */
typedef int (*pf_http_body_cb)(void *arg, pf_http_req *req, const char *data, size_t len);
/* The body ended normally (all bytes delivered). */
typedef void (*pf_http_end_cb)(void *arg, pf_http_req *req);
/* Why a request can no longer complete. Never 0. */
typedef enum pf_http_abort {
	PF_HTTP_ABORT_CLOSED = 1, /* the client went away (or reset the connection) */
	PF_HTTP_ABORT_TOO_LARGE,  /* more body than body_max: answer 413 */
	PF_HTTP_ABORT_MALFORMED,  /* broken chunked framing: answer 400 */
	PF_HTTP_ABORT_TIMEOUT,    /* the body stalled past the idle timeout, or an
	                             untrusted body missed its deadline: answer 408 */
	PF_HTTP_ABORT_SHUTDOWN,   /* the server is shutting down: answer 503 */
	PF_HTTP_ABORT_EVICTED,    /* closed to make room at the connection cap */
} pf_http_abort;

/* A short English name for logs and messages ("body too large"). */
const char *pf_http_abort_name(pf_http_abort why);

/* The request can no longer complete (see pf_http_abort). At most once, never after the end
 * callback (a complete body stays complete; respond then just frees the
 * request if the client left) and never after respond. If the connection
 * died before a callback was registered, it fires on a later loop turn once
 * one is (read_body or on_abort). After this no body/end callback comes. */
typedef void (*pf_http_abort_cb)(void *arg, pf_http_req *req, pf_http_abort why);

/*
 * Start receiving the body (sends "100 Continue" if the client asked for
 * it). body_max overrides the server default when non-zero: once more body
 * bytes than that arrive, the abort callback fires with
 * PF_HTTP_ABORT_TOO_LARGE and the handler should answer 413. An untrusted
 * request (no pf_http_req_set_trusted() before this call) must deliver the
 * whole body within unauth_body_timeout_ms (PF_HTTP_ABORT_TIMEOUT).
 */
void pf_http_req_read_body(pf_http_req *req, uint64_t body_max, pf_http_body_cb body_cb,
                           pf_http_end_cb end_cb, pf_http_abort_cb abort_cb, void *arg);
/* Resume reading after PF_HTTP_PAUSE. Safe to call when not paused and
 * from any callback; the actual read happens on a later loop turn. */
void pf_http_req_resume(pf_http_req *req);
/* Abort notification without a body (e.g. a GET waiting on the database). */
void pf_http_req_on_abort(pf_http_req *req, pf_http_abort_cb cb, void *arg);

/* --- response (each finishes the request) --- */
/* Add a response header before responding (copied). At most
 * PF_HTTP_RESPONSE_HEADERS_MAX; returns PF_ELIMIT past it. */
PF_MUST_CHECK int pf_http_add_header(pf_http_req *req, const char *name, const char *value);
/* Body copied. If the request body was not read completely the connection
 * closes after the response (Connection: close). */
void pf_http_respond(pf_http_req *req, int status, const char *content_type, const void *body,
                     size_t len);
/* Takes a JSON text (malloc'd, ownership passes). */
void pf_http_respond_json_owned(pf_http_req *req, int status, char *json);
/* {"error": msg, "detail": detail_json or null}; detail_json may be NULL. */
void pf_http_respond_error(pf_http_req *req, int status, const char *msg, const char *detail_json);
const char *pf_http_status_text(int status);

/* --- streamed response (finishes the request like a respond) ---
 *
 * For a body produced piece by piece (exports): the status line and the
 * headers (pf_http_add_header's) go out at begin, then the body as it is
 * written. Framing: Content-Length when length >= 0 and the body is not
 * compressed; else chunked on HTTP/1.1, close-delimited on HTTP/1.0.
 * With gzip_ok the route offers gzip: Vary: Accept-Encoding is sent, and
 * when the request's Accept-Encoding takes gzip (pf_gzip_accepted) the body
 * is compressed (Content-Encoding: gzip).
 *
 * Backpressure: a write that leaves more than PF_HTTP_STREAM_HIGH bytes
 * queued returns PF_HTTP_FULL; the producer then stops, and writable_cb
 * runs (on a later loop turn, never inside a write) once the queue drained
 * below PF_HTTP_STREAM_LOW. While it streams, the connection has no idle
 * timer (a slow reader that reads is never dropped) but a write timeout:
 * when nothing of the queue can be sent for idle_timeout_ms the client is
 * dropped, and the abort callback (pf_http_req_on_abort) fires with
 * PF_HTTP_ABORT_TIMEOUT; a client that leaves fires it with
 * PF_HTTP_ABORT_CLOSED. After an abort writes return PF_ECLOSED and the
 * producer must still call pf_http_stream_end (or _fail) to let go.
 * A HEAD request gets the headers only: writes are counted and dropped.
 * The access line logs the status and the body bytes sent (after gzip,
 * without chunk framing). */
typedef void (*pf_http_writable_cb)(void *arg, pf_http_req *req);
/* 0, PF_EINVAL (already answered), PF_ENOMEM (nothing sent: respond
 * instead). */
PF_MUST_CHECK int pf_http_stream_begin(pf_http_req *req, int status, const char *content_type,
                                       int64_t length, bool gzip_ok, pf_http_writable_cb cb,
                                       void *arg);
/* Queue len bytes of body (copied). 0: room for more; PF_HTTP_FULL: wait
 * for the writable callback; PF_ECLOSED: the client is gone (or the stream
 * was not begun); PF_ENOMEM. */
PF_MUST_CHECK int pf_http_stream_write(pf_http_req *req, const void *data, size_t len);
/* The same for the whole of buf, which is drained (moved, not copied,
 * when the body is not compressed). */
PF_MUST_CHECK int pf_http_stream_add_buffer(pf_http_req *req, struct evbuffer *buf);
/* Whether a write now would find the queue under the high mark. */
bool pf_http_stream_room(const pf_http_req *req);
/* The body is complete: the last chunk (and gzip trailer) goes out; the
 * connection goes on to its next request, or closes when it cannot. */
void pf_http_stream_end(pf_http_req *req);
/* The body cannot be completed (a failure after the headers went out):
 * the connection closes without the last chunk, so the client sees a cut
 * body, not a short valid one. why is static, logged. */
void pf_http_stream_fail(pf_http_req *req, const char *why);
/* The request's method is HEAD. */
bool pf_http_req_is_head(const pf_http_req *req);

/*
 * Take over the connection for another protocol (WebSocket). The caller
 * must have written nothing; after this the request is finished and the
 * bufferevent belongs to the new owner, with read/write callbacks cleared.
 * Bytes the parser already received past the request head are left in its
 * input buffer. Returns NULL if the connection is gone. *access (may be
 * NULL; NULL on ENOMEM) gets the request's access-log line, written by
 * pf_http_access_finish when the new protocol ends; until then the
 * upgraded connection keeps counting against max_connections (even past
 * pf_http_server_free, which the access object outlives).
 */
typedef struct pf_http_access pf_http_access;
struct bufferevent *pf_http_req_detach(pf_http_req *req, pf_http_access **access);
/* Write the access line (status, bytes sent, lifetime) and free it; NULL ok. */
void pf_http_access_finish(pf_http_access *a, int status, size_t bytes);

#endif

/*
 * http_internal.h - what the files of the HTTP layer share: http_server.c
 * (listening, accepting, the connection caps, the reaper), http.c (a
 * connection's protocol: the parser and its callbacks, the socket
 * callbacks, the body, responding, detach), http_conn.c (a connection's
 * state machine: every side effect of entering a state, failing, closing,
 * lingering, killing), http_access.c (the access log and the count of
 * upgraded connections) and http_req.c (the request: head storage,
 * decoding, accessors, response building). They call each other in that
 * order only, never back up. Private to them: nothing else includes it,
 * and include/propflow/net/http.h stays the only interface of the HTTP
 * layer.
 *
 * Functions here that return an int status return 0 or the HTTP status the
 * connection answers with (400, 414, 431, 503), never an error code.
 */
#ifndef PROPFLOW_HTTP_INTERNAL_H
#define PROPFLOW_HTTP_INTERNAL_H

#include "propflow/base/tally.h"
#include "propflow/net/gzip.h"
#include "propflow/net/http.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <http_parser.h>
#include <stdio.h>
#include <time.h>

#define PF_HTTP_URL_INITIAL  256  /* first allocation of the URL buffer */
#define PF_HTTP_HBUF_INITIAL 1024 /* first allocation of the header buffer */

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
	struct timespec start;           /* when the request began, for the access log */
	char client[INET6_ADDRSTRLEN];   /* the client: peer, or forwarded by a trusted proxy */
	bool https;                      /* the client spoke TLS to a trusted proxy */
	char user[65];                   /* who, for the access log; "" unknown */
	bool streaming;                  /* pf_http_stream_begin'd, not yet ended */
	bool stream_chunked;             /* the streamed body is framed in chunks */
	bool stream_keep;                /* the connection goes on after the stream */
	bool want_writable;              /* a write returned PF_HTTP_FULL: call writable_cb */
	int stream_status;               /* for the access log */
	uint64_t stream_bytes;           /* body bytes queued (after gzip, before framing) */
	pf_gzip *gz;                     /* owned: the body's compressor, NULL when plain */
	struct evbuffer *zbuf;           /* owned: compressed bytes waiting to be framed */
	pf_http_writable_cb writable_cb; /* from stream_begin */
	void *writable_arg;              /* borrowed */
	const char *route; /* borrowed, static: route pattern for the metrics; NULL none */
};

/*
 * Connection states; pf_http_conn_set_state() (http_conn.c) does every side
 * effect of entering one (timer, reading, the dead list).
 */
typedef enum conn_state {
	CONN_HEAD,    /* reading a request head, or idle between requests */
	CONN_HANDLER, /* head handed over; parser paused until read_body or respond */
	CONN_BODY,    /* delivering body fragments (maybe paused by the consumer) */
	CONN_WAIT,    /* request complete or aborted; waiting for the response */
	CONN_STREAM,  /* a streamed response is being written; write timeout only */
	CONN_CLOSING, /* no more requests: flushing output, then lingering */
	CONN_DEAD,    /* on the server's dead list; freed by the reaper */
} conn_state;

struct pf_http_conn {
	pf_http_server *srv;            /* borrowed */
	pf_http_conn *prev, *next;      /* links in srv->conns or srv->dead */
	struct bufferevent *bev;        /* owned; NULL after detach */
	struct event *timer;            /* owned: header, idle, stall and linger timeouts */
	struct event *defer;            /* owned: zero-timeout "process later" */
	http_parser parser;             /* parser state */
	conn_state state;               /* see pf_http_conn_set_state() */
	uint64_t id;                    /* for logs */
	char peer[INET6_ADDRSTRLEN];    /* peer address text */
	pf_http_req *building;          /* owned: request whose head is being parsed */
	pf_http_req *req;               /* borrowed (the handler owns it): current request */
	unsigned nreq;                  /* requests started on this connection */
	bool head_ready;                /* a head completed inside the parser; dispatch it */
	bool msg_begun;                 /* bytes of a new head have arrived */
	bool msg_done;                  /* the parser finished the current message */
	bool keep_alive;                /* the client allows another request */
	bool upgrade;                   /* the request asked for a protocol upgrade */
	bool must_close;                /* close after the current response */
	bool read_eof;                  /* the peer shut its sending side */
	bool body_paused;               /* consumer returned PF_HTTP_PAUSE */
	bool out_blocked;               /* parsing stopped: output over output_max */
	bool shut;                      /* our side was shut down (lingering) */
	bool rejecting;                 /* over a connection cap: 503/429 and close */
	bool addr_counted;              /* counted in srv->per_addr under akey */
	uint8_t aklen;                  /* bytes of akey */
	uint8_t akey[PF_TALLY_KEY_MAX]; /* the peer's address (IPv6: its /64) */
	int error_status;               /* status chosen by a parser callback that failed */
	const char *error_detail;       /* static: why, for that status */
	pf_http_abort pending_abort;    /* abort reason set inside the parser; 0 none */
	const char *exec_begin;         /* the segment http_parser_execute() is parsing */
	const char *exec_end;           /* its end */
	bool value_line_ended;          /* the current header's value reached its line end */
	uint8_t crlf_due;               /* bytes of the CRLF after chunk data not yet seen */
	bool has_deadline;              /* the body must end by body_deadline */
	struct timespec body_deadline;  /* untrusted body: whole-body deadline */
	size_t out_seen;                /* output length at the last idle timer, for progress */
	struct timespec idle_since;     /* when it last became idle between requests */
	const char *close_reason;       /* static: first reason this connection closes */
};

/*
 * Upgraded connections (WebSockets) still count against max_connections.
 * They outlive their HTTP connection and possibly the server (the server is
 * freed before the WebSocket owners close them), so the count is shared
 * with each one's access object and freed by whichever goes last.
 */
typedef struct pf_http_upgraded {
	unsigned n;    /* upgraded connections alive */
	unsigned refs; /* the server + each counted access object */
} pf_http_upgraded;

/* The server's instruments in lim.metrics; all NULL without a registry. */
typedef struct pf_http_meters {
	pf_metric *requests;         /* borrowed: counter by route, method, status */
	pf_metric *seconds;          /* borrowed: latency histogram by route, method */
	pf_metric_series *bytes_in;  /* borrowed: bytes read from client sockets */
	pf_metric_series *bytes_out; /* borrowed: bytes written to client sockets */
} pf_http_meters;

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
	pf_http_upgraded *upg;   /* shared (see pf_http_upgraded): upgraded connections */
	pf_tally *per_addr;      /* owned: live connections per address key; NULL = no cap */
	bool accept_starved;     /* accept() is failing for lack of descriptors/memory */
	uint64_t next_id;        /* connection ids */
	pf_http_meters meters;   /* instruments (http_access.c) */
};

static inline void pf_http_ms_to_tv(unsigned ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/* Milliseconds from t0 (CLOCK_MONOTONIC) to now; negative for a time to come. */
static inline double pf_http_ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---------------------------------------------------- connections (http.c) */

/* A connection on fd from ss, on the live list. reject is 0, or the status
 * it is turned away with (503 at the total cap, 429 at its address's cap);
 * key (klen bytes) is its address key, counted in srv->per_addr. */
void pf_http_conn_new(pf_http_server *srv, int fd, const struct sockaddr_storage *ss, int reject,
                      const uint8_t *key, size_t klen);

/* ------------------------------------- connection states (http_conn.c) */

/* Enter state s with every side effect: the timer (header, idle, body or
 * linger time, none while the server works), reading on or off, the
 * priority, and for CONN_DEAD the move to the dead list and the reaper.
 * Nothing happens once the connection is dead. */
void pf_http_conn_set_state(pf_http_conn *c, conn_state s);
/* Reading on or off as the state and the input buffer allow. */
void pf_http_conn_update_read(pf_http_conn *c);
/* While a body arrives: the idle timeout, or what is left of an untrusted
 * body's deadline when that comes first. */
void pf_http_conn_arm_body_timer(pf_http_conn *c);
/* Process the connection on a later loop turn (its defer event). */
void pf_http_conn_schedule(pf_http_conn *c);
/* An error answered by the server itself (no request handed out): a JSON
 * body of msg and detail (may be NULL), then close. */
void pf_http_conn_fail(pf_http_conn *c, int status, const char *msg, const char *detail);
/* Stop taking requests; flush what is queued, then linger. No request is
 * attached. reason is static, logged when it closes. */
void pf_http_conn_close(pf_http_conn *c, const char *reason);
/* After the output drained: shut our side and read until the peer closes. */
void pf_http_conn_linger(pf_http_conn *c);
/* The connection is gone: abort its request and move it to the dead list. */
void pf_http_conn_kill(pf_http_conn *c, const char *reason, pf_http_abort why);
/* Free a connection of the dead list (the server's reaper). */
void pf_http_conn_free(pf_http_conn *c);

/* ------------------------------------------- access log (http_access.c) */

/* One access line for a finished request, to f (NULL: stderr). */
void pf_http_access_log(FILE *f, const pf_http_req *req, int status, size_t len);
/* The access line of an upgraded request, written by pf_http_access_finish;
 * it counts in upg (may be NULL) until then. NULL on ENOMEM. */
pf_http_access *pf_http_access_new(FILE *f, const pf_http_req *req, pf_http_upgraded *upg);
/* Drop a reference to upg (NULL is safe); the last frees it. */
void pf_http_upgraded_unref(pf_http_upgraded *upg);
/* Register the server's families and its connection collector in
 * srv->lim.metrics (none: a no-op); _unregister before the server goes. */
void pf_http_meters_register(pf_http_server *srv);
void pf_http_meters_unregister(pf_http_server *srv);
/* A response was written: count it by route, method and status, and its
 * latency. req NULL: the server's own refusal (route and method "none"). */
void pf_http_meters_request(pf_http_server *srv, const pf_http_req *req, int status);
/* Count the bytes bev reads and writes, for as long as it lives (also
 * after it is detached for a WebSocket: the series outlive it). */
void pf_http_meters_watch(pf_http_server *srv, struct bufferevent *bev);

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

/* Write a response's status line and headers to out. length < 0: no
 * Content-Length; chunked adds Transfer-Encoding: chunked; gzip adds
 * Content-Encoding: gzip, vary Vary: Accept-Encoding. */
void pf_http_write_head(struct evbuffer *out, int status, const char *ctype, int64_t length,
                        bool chunked, bool gzip, bool vary, bool keep, const pf_http_req *req);
/* Write a whole response to out; req (may be NULL) supplies the extra
 * headers. 1xx, 204 and 304 carry no body and no Content-Length; with
 * head_only the headers describe the body but it is not written (HEAD). */
void pf_http_write_response(struct evbuffer *out, int status, const char *ctype, const void *body,
                            size_t len, bool keep, bool head_only, const pf_http_req *req);
/* {"error": msg, "detail": detail_json parsed (a string when it is not
 * JSON) or null}, malloc'd; NULL on ENOMEM. */
char *pf_http_error_json(const char *msg, const char *detail_json);

#endif

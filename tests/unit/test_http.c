/*
 * test_http.c - the HTTP server in-process: a pf_http_server on 127.0.0.1:0
 * and raw client sockets (bufferevents) on the same event loop. Covers
 * keep-alive and pipelining, chunked bodies split into 1-byte writes,
 * 100-continue, the URL/header caps at cap and cap+1, body pause/resume,
 * aborts, timeouts, the connection cap (evicting the stalest idle,
 * half-sent or unauthenticated connection; upgraded ones counted), the
 * per-address cap (429), the whole-body deadline of untrusted bodies, the
 * raised descriptor limit, Content-Encoding refused with 415, the strict
 * head rules (obs-fold and chunk CRLF split at every byte, header name
 * characters, Host, versions 505, Transfer-Encoding 501), the JSON media
 * type test, HEAD and detach.
 */
#include "check.h"
#include "loop_client.h"
#include "propflow/net/http.h"
#include "propflow/base/log.h"
#include "propflow/net/static_files.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ test client */

static void client_send(client *c, const char *s, size_t len)
{
	bufferevent_write(c->bev, s, len);
}

static void client_sends(client *c, const char *s)
{
	client_send(c, s, strlen(s));
}

/* Close the client socket at once (the server sees EOF/reset). */
static void client_close(client *c)
{
	bufferevent_free(c->bev);
	c->bev = NULL;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Run the loop until cond(arg) holds or ms elapse. */
static bool run_until(bool (*cond)(void *), void *arg, int ms)
{
	double end = now_ms() + ms;
	while (!cond || !cond(arg)) {
		if (now_ms() > end)
			return cond == NULL;
		event_base_loop(base, EVLOOP_ONCE);
	}
	return true;
}

static void run_for(int ms)
{
	run_until(NULL, NULL, ms);
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

typedef struct wait_text {
	client *c;
	const char *needle;
	int n;
} wait_text;

static bool has_text(void *arg)
{
	wait_text *w = arg;
	return count_of(w->c->in, w->needle) >= w->n;
}

static bool wait_for(client *c, const char *needle, int n, int ms)
{
	wait_text w = {c, needle, n};
	return run_until(has_text, &w, ms);
}

static bool is_eof(void *arg)
{
	return ((client *)arg)->eof;
}

/* ------------------------------------------------------------ handler */

#define BODY_CAP (1024 * 1024)

static struct {
	int requests;
	int outstanding;
	int max_outstanding;
	char *body; /* received body bytes */
	size_t body_len;
	int body_calls;
	int ends;
	int aborts;
	pf_http_abort abort_reason;
	bool alive_at_abort;
	bool pause_each;    /* body callback returns PF_HTTP_PAUSE */
	bool resume_inside; /* ...and calls resume from inside the callback */
	bool paused;
	pf_http_req *body_req;
	uint64_t body_max;
	pf_http_req *held;
	struct bufferevent *up;     /* detached connection */
	struct bufferevent *upb[4]; /* detached with an access object (/upgrade2) */
	pf_http_access *access[4];  /* their access objects */
	int naccess;
	char last_param[64];
	pf_static *st;
	pf_http_req *stream;  /* /stream being produced */
	int stream_left;      /* its pieces still to write */
	int stream_fulls;     /* writes that returned PF_HTTP_FULL */
	int stream_writables; /* writable callbacks */
	int stream_aborts;    /* abort callbacks of streams */
} T;

static void finish(pf_http_req *req, int status, const char *text)
{
	T.outstanding--;
	pf_http_respond(req, status, "text/plain", text, strlen(text));
}

static int body_cb(void *arg, pf_http_req *req, const char *data, size_t len)
{
	if (T.body_len + len <= BODY_CAP)
		memcpy(T.body + T.body_len, data, len);
	T.body_len += len;
	T.body_calls++;
	if (T.pause_each) {
		T.paused = true;
		if (T.resume_inside)
			pf_http_req_resume(req);
		return PF_HTTP_PAUSE;
	}
	return 0;
}

static void end_cb(void *arg, pf_http_req *req)
{
	T.ends++;
	T.body_req = NULL;
	char *out = malloc(T.body_len + 32);
	int n = snprintf(out, 32, "len=%zu;", T.body_len);
	memcpy(out + n, T.body, T.body_len);
	T.outstanding--;
	pf_http_respond(req, 200, "text/plain", out, (size_t)n + T.body_len);
	free(out);
}

static void hold_end_cb(void *arg, pf_http_req *req)
{
	T.ends++;
}

static void abort_cb(void *arg, pf_http_req *req, pf_http_abort why)
{
	T.aborts++;
	T.abort_reason = why;
	T.alive_at_abort = pf_http_req_alive(req);
	T.body_req = NULL;
	if (req == T.held)
		T.held = NULL;
	T.outstanding--;
	pf_http_respond_error(req, why == PF_HTTP_ABORT_TOO_LARGE ? 413 : 400,
	                      pf_http_abort_name(why), NULL);
}

static void deferred_respond_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_http_req *req = arg;
	char text[96];
	const char *i = pf_http_req_param(req, "i");
	snprintf(text, sizeof(text), "i=%s", i ? i : "-");
	finish(req, 200, text);
}

static void up_read_cb(struct bufferevent *bev, void *arg)
{
	bufferevent_write_buffer(bev, bufferevent_get_input(bev));
}

#define STREAM_PIECE 1000 /* bytes of one /stream write: piece i is 'a' + i % 26 */

/* Write /stream's pieces until the output is full or none is left. */
static void stream_produce(pf_http_req *req)
{
	char piece[STREAM_PIECE];
	while (T.stream_left > 0) {
		memset(piece, 'a' + T.stream_left % 26, sizeof(piece));
		T.stream_left--;
		int rc = pf_http_stream_write(req, piece, sizeof(piece));
		if (rc == PF_HTTP_FULL) {
			T.stream_fulls++;
			return; /* the writable callback goes on */
		}
		if (rc != 0)
			return; /* gone: the abort callback ends it */
	}
	T.stream = NULL;
	T.outstanding--;
	pf_http_stream_end(req);
}

static void stream_writable_cb(void *arg, pf_http_req *req)
{
	T.stream_writables++;
	stream_produce(req);
}

static void stream_abort_cb(void *arg, pf_http_req *req, pf_http_abort why)
{
	T.stream_aborts++;
	T.stream = NULL;
	T.outstanding--;
	pf_http_stream_end(req);
}

static void handler(void *arg, pf_http_req *req)
{
	T.requests++;
	T.outstanding++;
	if (T.outstanding > T.max_outstanding)
		T.max_outstanding = T.outstanding;
	const char *path = pf_http_req_path(req);
	if (strcmp(path, "/get") == 0) {
		char text[256];
		const char *i = pf_http_req_param(req, "i");
		const char *a = pf_http_req_param(req, "a");
		snprintf(T.last_param, sizeof(T.last_param), "%s", a ? a : "(null)");
		snprintf(text, sizeof(text), "i=%s", i ? i : "-");
		finish(req, 200, text);
	} else if (strcmp(path, "/defer") == 0) {
		struct timeval tv = {0, 30000};
		event_base_once(base, -1, EV_TIMEOUT, deferred_respond_cb, req, &tv);
	} else if (strcmp(path, "/echo") == 0) {
		T.body_len = 0;
		T.body_calls = 0;
		T.body_req = req;
		pf_http_req_read_body(req, T.body_max, body_cb, end_cb, abort_cb, NULL);
	} else if (strcmp(path, "/upgrade2") == 0) {
		/* an upgrade that keeps its access object: it counts at the cap */
		T.outstanding--;
		struct bufferevent *bev = pf_http_req_detach(req, &T.access[T.naccess]);
		if (bev) {
			T.upb[T.naccess++] = bev;
			bufferevent_write(bev, "HTTP/1.1 101 Switching Protocols\r\n\r\n", 36);
			bufferevent_enable(bev, EV_WRITE);
		}
	} else if (strcmp(path, "/tbody") == 0) {
		/* as a route that checked credentials first */
		T.body_len = 0;
		T.body_calls = 0;
		pf_http_req_set_trusted(req);
		pf_http_req_read_body(req, 0, body_cb, end_cb, abort_cb, NULL);
	} else if (strcmp(path, "/endhold") == 0) {
		/* read the body but answer only later (T.held) */
		T.held = req;
		T.body_len = 0;
		pf_http_req_read_body(req, 0, body_cb, hold_end_cb, abort_cb, NULL);
	} else if (strcmp(path, "/holdpost") == 0) {
		T.held = req;
		T.body_len = 0;
		T.body_calls = 0;
	} else if (strcmp(path, "/hold") == 0) {
		T.held = req;
		pf_http_req_on_abort(req, abort_cb, NULL);
	} else if (strcmp(path, "/stream") == 0) {
		const char *n = pf_http_req_param(req, "n");
		T.stream = req;
		T.stream_left = n ? atoi(n) : 0;
		pf_http_req_on_abort(req, stream_abort_cb, NULL);
		if (pf_http_stream_begin(req, 200, "text/plain", -1, false, stream_writable_cb,
		                         NULL) != 0)
			abort();
		if (pf_http_req_is_head(req))
			T.stream_left = 0;
		stream_produce(req);
	} else if (strcmp(path, "/early") == 0) {
		finish(req, 413, "no");
	} else if (strcmp(path, "/upgrade") == 0) {
		struct bufferevent *bev = pf_http_req_detach(req, NULL);
		T.outstanding--;
		if (bev) {
			T.up = bev;
			bufferevent_write(bev, "HTTP/1.1 101 Switching Protocols\r\n\r\n", 36);
			bufferevent_setcb(bev, up_read_cb, NULL, NULL, NULL);
			bufferevent_enable(bev, EV_READ | EV_WRITE);
			up_read_cb(bev, NULL); /* bytes that came with the head */
		}
	} else if (strcmp(path, "/hdr") == 0) {
		const char *v = pf_http_req_header(req, "x-test");
		if (pf_http_add_header(req, "X-Reply", v ? v : "none") != 0)
			abort();
		finish(req, 200, "hdr");
	} else if (T.st && pf_static_serve(T.st, req)) {
		T.outstanding--;
	} else {
		T.outstanding--;
		pf_http_respond_error(req, 404, "not found", "{\"path\":true}");
	}
}

static bool has_held(void *arg)
{
	return T.held != NULL;
}

static pf_http_server *start(const pf_http_limits *lim)
{
	pf_http_server *srv = pf_http_server_new(base, "127.0.0.1", 0, lim, handler, NULL);
	if (!srv) {
		fprintf(stderr, "cannot start server\n");
		exit(1);
	}
	return srv;
}

static void small_limits(pf_http_limits *lim)
{
	pf_http_limits_default(lim);
	lim->url_max = 64;
	lim->header_bytes_max = 256;
	lim->header_count_max = 8;
	lim->header_timeout_ms = 5000;
	lim->idle_timeout_ms = 5000;
	lim->max_connections = 16;
}

/* ------------------------------------------------------------ tests */

static void test_pipelining(int port)
{
	client *c = client_new(port);
	T.max_outstanding = 0;
	const char *three = "GET /defer?i=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	                    "GET /get?i=2 HTTP/1.1\r\nHost: x\r\n\r\n"
	                    "GET /defer?i=3 HTTP/1.1\r\nHost: x\r\n\r\n";
	client_sends(c, three);
	CHECK(wait_for(c, "HTTP/1.1 200 OK", 3, 2000));
	char *a = strstr(c->in, "i=1"), *b = strstr(c->in, "i=2"), *d = strstr(c->in, "i=3");
	CHECK(a && b && d && a < b && b < d);
	CHECK_INT(T.max_outstanding, 1);
	CHECK_INT(count_of(c->in, "Connection: keep-alive"), 3);
	CHECK(!c->eof);
	/* the same connection takes another request afterwards */
	client_sends(c, "GET /get?i=4 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "i=4", 1, 2000));
	client_free(c);
}

static void test_split_head(int port)
{
	/* a request head written one byte per loop turn */
	client *c = client_new(port);
	const char *req = "GET /get?i=77&a=x+y%41 HTTP/1.1\r\nHost: a\r\nX-Long: vvvvvvvv\r\n\r\n";
	for (size_t i = 0; req[i]; i++) {
		client_send(c, req + i, 1);
		run_for(1);
	}
	CHECK(wait_for(c, "i=77", 1, 2000));
	CHECK_STR(T.last_param, "x yA");
	client_free(c);
}

static void test_chunked_bytes(int port)
{
	client *c = client_new(port);
	client_sends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	const char *body = "hello, chunked world";
	char chunk[16];
	for (size_t i = 0; body[i]; i++) {
		snprintf(chunk, sizeof(chunk), "1\r\n%c\r\n", body[i]);
		/* each chunk itself split into single bytes */
		for (size_t j = 0; chunk[j]; j++) {
			client_send(c, chunk + j, 1);
			run_for(1);
		}
	}
	client_sends(c, "0\r\n\r\n");
	CHECK(wait_for(c, "len=20;hello, chunked world", 1, 2000));
	CHECK(strstr(c->in, "Connection: keep-alive") != NULL);
	/* keep-alive after a chunked body */
	client_sends(c, "GET /get?i=5 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "i=5", 1, 2000));
	client_free(c);
}

/* The body of a chunked response starting at p: its bytes decoded into
 * out (cap), the count returned; -1 when the framing is broken or the
 * last chunk is missing. */
static long dechunk(const char *p, char *out, size_t cap)
{
	size_t n = 0;
	for (;;) {
		char *e;
		unsigned long len = strtoul(p, &e, 16);
		if (e == p || strncmp(e, "\r\n", 2) != 0)
			return -1;
		p = e + 2;
		if (len == 0)
			return strncmp(p, "\r\n", 2) == 0 ? (long)n : -1;
		if (len > cap - n)
			return -1;
		memcpy(out + n, p, len);
		n += len;
		p += len;
		if (strncmp(p, "\r\n", 2) != 0)
			return -1;
		p += 2;
	}
}

/* Streamed responses: chunked on 1.1 past the high mark and back (the
 * writable callback), keep-alive after the last chunk; HEAD without a
 * body; close-delimited on 1.0; a client that leaves mid-stream fires the
 * abort callback once and the stream ends without a leak. */
static void test_stream(int port)
{
	enum { PIECES = 1500 }; /* 1.5 MB: several times PF_HTTP_STREAM_HIGH */
	client *c = client_new(port);
	T.stream_fulls = T.stream_writables = T.stream_aborts = 0;
	client_sends(c, "GET /stream?n=1500 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "\r\n0\r\n\r\n", 1, 5000));
	CHECK(T.stream_fulls > 0);
	CHECK(T.stream_writables >= T.stream_fulls);
	const char *body = strstr(c->in, "\r\n\r\n");
	CHECK(strstr(c->in, "Transfer-Encoding: chunked") != NULL);
	CHECK(strstr(c->in, "Content-Length") == NULL);
	char *got = malloc(PIECES * STREAM_PIECE);
	long n = body ? dechunk(body + 4, got, PIECES * STREAM_PIECE) : -1;
	CHECK_INT(n, PIECES * STREAM_PIECE);
	int wrong = 0;
	for (int i = 0; n == PIECES * STREAM_PIECE && i < PIECES; i++)
		wrong += got[i * STREAM_PIECE] != 'a' + (PIECES - i) % 26 ||
		         got[i * STREAM_PIECE + STREAM_PIECE - 1] != 'a' + (PIECES - i) % 26;
	CHECK_INT(wrong, 0);
	/* the connection goes on */
	client_sends(c, "GET /get?i=31 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "i=31", 1, 2000));
	client_free(c);

	/* HEAD: the head only */
	c = client_new(port);
	client_sends(c, "HEAD /stream?n=50 HTTP/1.1\r\nHost: t\r\n\r\n"
	                "GET /get?i=32 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "i=32", 1, 2000));
	CHECK(strstr(c->in, "Transfer-Encoding: chunked") != NULL);
	CHECK(strstr(c->in, "0\r\n\r\n") == NULL);
	client_free(c);

	/* HTTP/1.0: no framing; the end of the body is the end of the connection */
	c = client_new(port);
	client_sends(c, "GET /stream?n=300 HTTP/1.0\r\n\r\n");
	CHECK(run_until(is_eof, c, 5000));
	body = strstr(c->in, "\r\n\r\n");
	CHECK(strstr(c->in, "Transfer-Encoding") == NULL);
	CHECK(body && c->len - (size_t)(body + 4 - c->in) == 300 * STREAM_PIECE);
	client_free(c);

	/* a client that leaves mid-stream */
	c = client_new(port);
	client_sends(c, "GET /stream?n=100000 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "\r\n\r\n", 1, 2000));
	client_free(c);
	for (int i = 0; i < 200 && T.stream_aborts == 0; i++)
		run_for(10);
	CHECK_INT(T.stream_aborts, 1);
	CHECK(T.stream == NULL);
	free(got);
}

static void test_continue(int port)
{
	client *c = client_new(port);
	client_sends(
	    c,
	    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
	CHECK(wait_for(c, "HTTP/1.1 100 Continue\r\n\r\n", 1, 2000));
	CHECK(strstr(c->in, "200 OK") == NULL);
	client_sends(c, "abcde");
	CHECK(wait_for(c, "len=5;abcde", 1, 2000));
	client_free(c);

	/* too large: no 100, a 413 and close */
	c = client_new(port);
	T.body_max = 10;
	T.aborts = 0;
	client_sends(
	    c,
	    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
	CHECK(wait_for(c, "HTTP/1.1 413", 1, 2000));
	CHECK(strstr(c->in, "100 Continue") == NULL);
	CHECK(strstr(c->in, "Connection: close") != NULL);
	CHECK_INT(T.abort_reason, PF_HTTP_ABORT_TOO_LARGE);
	CHECK(run_until(is_eof, c, 3000));
	client_free(c);

	/* at the cap: accepted */
	c = client_new(port);
	client_sends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789");
	CHECK(wait_for(c, "len=10;0123456789", 1, 2000));
	client_free(c);

	/* chunked over the cap: abort once the count passes it */
	c = client_new(port);
	T.aborts = 0;
	client_sends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	                "5\r\n01234\r\n5\r\n56789\r\n1\r\nX\r\n0\r\n\r\n");
	CHECK(wait_for(c, "HTTP/1.1 413", 1, 2000));
	CHECK_INT(T.aborts, 1);
	CHECK_INT(T.body_len, 10);
	CHECK(run_until(is_eof, c, 3000));
	client_free(c);
	T.body_max = 0;
}

static void send_target(int port, size_t target_len, const char *want)
{
	char req[512];
	char target[256];
	strcpy(target, "/get?i=");
	size_t n = strlen(target);
	while (n < target_len)
		target[n++] = 'a';
	target[n] = '\0';
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
	client *c = client_new(port);
	client_sends(c, req);
	CHECK_MSG(wait_for(c, want, 1, 2000), "target of %zu bytes -> %s", target_len, want);
	client_free(c);
}

/* Headers whose names and values total `bytes`, in `count` headers. */
static void send_headers(int port, size_t count, size_t bytes, const char *want)
{
	char req[2048] = "GET /get?i=h HTTP/1.1\r\n";
	size_t left = bytes;
	for (size_t i = 0; i < count; i++) {
		char name[8];
		/* the first is Host, which HTTP/1.1 requires */
		snprintf(name, sizeof(name), i == 0 ? "Host" : "X-%zu", i);
		size_t vlen = (i == count - 1) ? left - strlen(name) : 8;
		left -= strlen(name) + vlen;
		strcat(req, name);
		strcat(req, ": ");
		size_t o = strlen(req);
		memset(req + o, 'v', vlen);
		req[o + vlen] = '\0';
		strcat(req, "\r\n");
	}
	strcat(req, "\r\n");
	client *c = client_new(port);
	client_sends(c, req);
	CHECK_MSG(wait_for(c, want, 1, 2000), "%zu headers, %zu bytes -> %s", count, bytes, want);
	if (strcmp(want, "200 OK") != 0)
		CHECK(run_until(is_eof, c, 3000));
	client_free(c);
}

static void test_caps(int port)
{
	send_target(port, 64, "200 OK");
	send_target(port, 65, "HTTP/1.1 414");
	send_headers(port, 8, 256, "200 OK");
	send_headers(port, 8, 257, "HTTP/1.1 431");
	send_headers(port, 9, 200, "HTTP/1.1 431");
	send_headers(port, 1, 256, "200 OK");
	send_headers(port, 1, 257, "HTTP/1.1 431");
}

static void test_pause(int port)
{
	enum { N = 300000 };
	char *big = malloc(N);
	for (size_t i = 0; i < N; i++)
		big[i] = (char)('a' + i % 26);
	client *c = client_new(port);
	char head[128];
	snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
	         N);
	T.pause_each = true;
	T.ends = 0;
	client_sends(c, head);
	client_send(c, big, N);
	int pauses = 0;
	bool quiet = true;
	while (T.ends == 0 && pauses < 10000) {
		run_for(2);
		if (!T.paused)
			continue;
		int calls = T.body_calls;
		run_for(20);
		if (T.body_calls != calls)
			quiet = false;
		pauses++;
		T.paused = false;
		if (T.body_req)
			pf_http_req_resume(T.body_req);
	}
	CHECK(quiet);
	CHECK(pauses > 1);
	CHECK_INT(T.ends, 1);
	CHECK_INT(T.body_len, N);
	CHECK(T.body_len == N && memcmp(T.body, big, N) == 0);
	CHECK(wait_for(c, "len=300000;", 1, 2000));
	client_free(c);

	/* resume from inside the body callback */
	c = client_new(port);
	T.resume_inside = true;
	T.ends = 0;
	client_sends(c, head);
	client_send(c, big, N);
	CHECK(wait_for(c, "len=300000;", 1, 5000));
	CHECK(T.body_len == N && memcmp(T.body, big, N) == 0);
	T.resume_inside = false;
	T.pause_each = false;
	client_free(c);
	free(big);
}

/* A body that arrives before the handler wants it is not read past the cap, without spinning. */
static void test_held_body(int port)
{
	enum { N = 400000 };
	char *big = malloc(N);
	memset(big, 'q', N);
	client *c = client_new(port);
	char head[128];
	snprintf(head, sizeof(head),
	         "POST /holdpost HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n", N);
	client_sends(c, head);
	client_send(c, big, N);
	run_for(20);
	CHECK(T.held != NULL);
	clock_t cpu0 = clock();
	run_for(200);
	double cpu_ms = (double)(clock() - cpu0) * 1000.0 / CLOCKS_PER_SEC;
	CHECK_MSG(cpu_ms < 100, "no busy loop while a body waits (%.0f ms cpu)", cpu_ms);
	pf_http_req *req = T.held;
	T.held = NULL;
	T.ends = 0;
	pf_http_req_read_body(req, 0, body_cb, end_cb, abort_cb, NULL);
	CHECK(wait_for(c, "len=400000;", 1, 5000));
	CHECK_INT(T.body_len, N);
	free(big);
	client_free(c);
}

static void test_client_gone(int port)
{
	client *c = client_new(port);
	T.aborts = 0;
	T.abort_reason = 0;
	client_sends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789");
	run_for(30);
	CHECK_INT(T.body_len, 10);
	client_close(c);
	run_for(50);
	CHECK_INT(T.aborts, 1);
	CHECK_INT(T.abort_reason, PF_HTTP_ABORT_CLOSED);
	CHECK(!T.alive_at_abort);
	client_free(c);

	/* a held GET gets its abort through on_abort when the peer resets */
	c = client_new(port);
	client_sends(c, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
	run_for(30);
	CHECK(T.held != NULL);
	T.aborts = 0;
	/* RST rather than FIN: SO_LINGER 0 */
	struct linger lg = {1, 0};
	setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	client_close(c);
	run_for(50);
	CHECK_INT(T.aborts, 1);
	CHECK(T.held == NULL);
	client_free(c);
}

/* Once the body ended, a vanishing client does not abort; respond just frees. */
static void test_no_abort_after_end(int port)
{
	client *c = client_new(port);
	T.ends = 0;
	T.aborts = 0;
	client_sends(c, "POST /endhold HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
	run_for(30);
	CHECK_INT(T.ends, 1);
	pf_http_req *req = T.held;
	CHECK(req != NULL);
	struct linger lg = {1, 0};
	setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	client_close(c);
	run_for(50);
	CHECK_INT(T.aborts, 0);
	CHECK(req && !pf_http_req_alive(req));
	T.held = NULL;
	if (req)
		finish(req, 202, "late");
	client_free(c);
}

static void test_errors(int port)
{
	client *c = client_new(port);
	client_sends(c, "GARBAGE\r\n\r\n");
	CHECK(wait_for(c, "HTTP/1.1 400 Bad Request", 1, 2000));
	CHECK(strstr(c->in, "\"error\":\"bad request\"") != NULL);
	CHECK(run_until(is_eof, c, 3000));
	client_free(c);

	const char *bad[] = {"/get%00", "/g%zzet", "/get%4"};
	for (size_t i = 0; i < 3; i++) {
		char req[128];
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", bad[i]);
		c = client_new(port);
		client_sends(c, req);
		CHECK_MSG(wait_for(c, "HTTP/1.1 400", 1, 2000), "%s -> 400", bad[i]);
		client_free(c);
	}
	c = client_new(port);
	client_sends(c, "GET /g%65t?i=%41 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "i=A", 1, 2000));
	client_free(c);

	c = client_new(port);
	client_sends(c, "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "{\"error\":\"not found\",\"detail\":{\"path\":true}}", 1, 2000));
	CHECK(strstr(c->in, "Content-Type: application/json") != NULL);
	client_free(c);

	/* responding before reading the body closes the connection */
	c = client_new(port);
	client_sends(c, "POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde"
	                "GET /get?i=9 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "HTTP/1.1 413", 1, 2000));
	CHECK(strstr(c->in, "Connection: close") != NULL);
	CHECK(run_until(is_eof, c, 3000));
	CHECK(strstr(c->in, "i=9") == NULL);
	client_free(c);

	/* HEAD: length but no body; extra header */
	c = client_new(port);
	client_sends(c, "HEAD /get?i=1 HTTP/1.1\r\nHost: t\r\n\r\nGET /hdr HTTP/1.1\r\nHost: "
	                "t\r\nX-Test: yes\r\n\r\n");
	CHECK(wait_for(c, "X-Reply: yes", 1, 2000));
	CHECK(strstr(c->in, "Content-Length: 3\r\n") != NULL);
	CHECK(strstr(c->in, "i=1") == NULL);
	client_free(c);

	/* Connection: close from the client */
	c = client_new(port);
	client_sends(c, "GET /get?i=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	CHECK(wait_for(c, "Connection: close", 1, 2000));
	CHECK(run_until(is_eof, c, 3000));
	client_free(c);

	/* HTTP/1.0 defaults to close */
	c = client_new(port);
	client_sends(c, "GET /get?i=1 HTTP/1.0\r\n\r\n");
	CHECK(wait_for(c, "Connection: close", 1, 2000));
	CHECK(run_until(is_eof, c, 3000));
	client_free(c);
}

/* Content-Encoding other than identity: 415 before the handler sees the request */
static void test_content_encoding(int port)
{
	static const char *const refused[] = {"gzip", "GZIP",           "deflate",
	                                      "br",   "gzip, identity", "x-custom"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char req[256];
		snprintf(req, sizeof(req),
		         "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: "
		         "%s\r\nContent-Length: 4\r\n\r\n"
		         "\x1f\x8b\x08\x08",
		         refused[i]);
		int before = T.requests;
		client *c = client_new(port);
		client_sends(c, req);
		CHECK_MSG(wait_for(c, "HTTP/1.1 415 Unsupported Media Type", 1, 2000), "%s -> 415",
		          refused[i]);
		CHECK(strstr(c->in, "\"error\":\"unsupported content-encoding\"") != NULL);
		CHECK(strstr(c->in, "Content-Type: application/json") != NULL);
		CHECK(strstr(c->in, "Connection: close") != NULL);
		CHECK(run_until(is_eof, c, 3000));
		CHECK_INT(T.requests, before); /* the handler never saw it */
		client_free(c);
	}
	/* chunked too, and a GET: the head decides */
	client *c = client_new(port);
	client_sends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
	                "Content-Encoding: gzip\r\n\r\n4\r\nabcd\r\n0\r\n\r\n");
	CHECK(wait_for(c, "HTTP/1.1 415", 1, 2000));
	client_free(c);
	c = client_new(port);
	client_sends(c, "GET /get?i=2 HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\n\r\n");
	CHECK(wait_for(c, "HTTP/1.1 415", 1, 2000));
	CHECK(strstr(c->in, "i=2") == NULL);
	client_free(c);
	/* identity (any case, padded) and an empty value are plain bodies */
	static const char *const plain[] = {"identity", "IDENTITY", " identity ", ""};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char req[256];
		snprintf(req, sizeof(req),
		         "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding:%s\r\nContent-Length: "
		         "4\r\n\r\n"
		         "wxyz",
		         plain[i]);
		c = client_new(port);
		client_sends(c, req);
		CHECK_MSG(wait_for(c, "wxyz", 1, 2000), "'%s' -> echoed", plain[i]);
		CHECK(strstr(c->in, "415") == NULL);
		client_free(c);
	}
}

static void test_detach(int port)
{
	client *c = client_new(port);
	client_sends(
	    c,
	    "GET /upgrade HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	    "EARLY");
	CHECK(wait_for(c, "101 Switching Protocols\r\n\r\nEARLY", 1, 2000));
	client_sends(c, "LATER");
	CHECK(wait_for(c, "EARLYLATER", 1, 2000));
	client_free(c);
	if (T.up) {
		bufferevent_free(T.up);
		T.up = NULL;
	}
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	fputs(text, f);
	fclose(f);
}

static void test_static(int port)
{
	char dir[] = "/tmp/pf_static_XXXXXX";
	if (!mkdtemp(dir))
		abort();
	char sub[600];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	mkdir(sub, 0755);
	write_file(dir, "index.html", "<!doctype html><p>hi</p>");
	write_file(dir, "app.js", "export const x = 1;\n");
	write_file(dir, ".hidden", "secret");
	write_file(sub, "x.css", "p{}");
	T.st = pf_static_load(dir);
	CHECK(T.st != NULL);

	client *c = client_new(port);
	client_sends(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "<p>hi</p>", 1, 2000));
	CHECK(strstr(c->in, "Content-Type: text/html; charset=utf-8\r\n") != NULL);
	CHECK(strstr(c->in, "Cache-Control: no-cache\r\n") != NULL);
	CHECK(strstr(c->in, "X-Content-Type-Options: nosniff\r\n") != NULL);
	CHECK(strstr(c->in, "Referrer-Policy: no-referrer\r\n") != NULL);
	CHECK(strstr(c->in, "Content-Security-Policy: default-src 'self'; script-src 'self'; "
	                    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
	                    "object-src 'none'; base-uri 'none'; form-action 'self'; "
	                    "frame-ancestors 'none'\r\n") != NULL);
	CHECK(strstr(c->in, "X-Frame-Options: DENY\r\n") != NULL);
	char *et = strstr(c->in, "ETag: \"");
	CHECK(et != NULL);
	char etag[64] = "";
	if (et)
		sscanf(et, "ETag: %63s", etag);
	CHECK_INT(strlen(etag), 34);
	client_free(c);

	char req[256];
	c = client_new(port);
	snprintf(
	    req, sizeof(req),
	    "GET /index.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: W/\"x\", %s\r\n\r\n"
	    "HEAD /app.js HTTP/1.1\r\nHost: t\r\n\r\nGET /sub/x.css HTTP/1.1\r\nHost: t\r\n\r\n",
	    etag);
	client_sends(c, req);
	CHECK(wait_for(c, "p{}", 1, 2000));
	CHECK(strstr(c->in, "HTTP/1.1 304 Not Modified\r\n") != NULL);
	CHECK(strstr(c->in, "<p>hi</p>") == NULL);
	CHECK(strstr(c->in,
	             "Content-Type: text/javascript; charset=utf-8\r\nContent-Length: 20\r\n") !=
	      NULL);
	CHECK(strstr(c->in, "export const") == NULL);
	CHECK(strstr(c->in, "Content-Type: text/css; charset=utf-8") != NULL);
	client_free(c);

	const char *missing[] = {"/.hidden", "/sub/../app.js", "/nope.js", "/sub"};
	for (size_t i = 0; i < PF_ARRAY_LEN(missing); i++) {
		c = client_new(port);
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", missing[i]);
		client_sends(c, req);
		CHECK_MSG(wait_for(c, "HTTP/1.1 404", 1, 2000), "%s -> 404", missing[i]);
		client_free(c);
	}
	c = client_new(port);
	client_sends(c, "POST /app.js HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "HTTP/1.1 404", 1, 2000));
	client_free(c);
	pf_static_free(T.st);
	T.st = NULL;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
}

static void test_timeouts(void)
{
	pf_http_limits lim;
	small_limits(&lim);
	lim.header_timeout_ms = 100;
	lim.idle_timeout_ms = 150;
	lim.max_connections = 2;
	pf_http_server *srv = start(&lim);
	int port = pf_http_server_port(srv);

	client *c = client_new(port);
	client_sends(c, "GET /get HTTP/1.1\r\nHost:");
	double t0 = now_ms();
	CHECK(wait_for(c, "HTTP/1.1 408", 1, 2000));
	CHECK(now_ms() - t0 >= 90);
	CHECK(run_until(is_eof, c, 3000));
	client_free(c);

	c = client_new(port);
	client_sends(c, "GET /get HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "200 OK", 1, 2000));
	t0 = now_ms();
	CHECK(run_until(is_eof, c, 3000));
	CHECK(now_ms() - t0 >= 100);
	CHECK(strstr(c->in, "408") == NULL);
	client_free(c);

	/* body stall: abort "body timeout" */
	c = client_new(port);
	T.aborts = 0;
	client_sends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345");
	CHECK(wait_for(c, "HTTP/1.1 400", 1, 2000));
	CHECK_INT(T.abort_reason, PF_HTTP_ABORT_TIMEOUT);
	CHECK(T.alive_at_abort);
	client_free(c);

	/* a held request survives the server: respond just frees it */
	run_for(50);
	client *a = client_new(port);
	client_sends(a, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(run_until(has_held, NULL, 2000));
	pf_http_req *held = T.held;
	pf_http_server_free(srv);
	client_free(a);
	if (held && T.held == held) {
		CHECK(!pf_http_req_alive(held));
		T.held = NULL;
		finish(held, 200, "late");
	}
}

/*
 * The connection cap: at the cap, the connection idle longest between
 * requests is closed to take the new one; when every connection is busy
 * (a request in progress or half a head), the new one gets 503.
 */
static void test_conn_cap(void)
{
	pf_http_limits lim;
	small_limits(&lim);
	lim.max_connections = 2;
	pf_http_server *srv = start(&lim);
	int port = pf_http_server_port(srv);

	client *a = client_new(port);
	client_sends(a, "GET /get?i=a HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(a, "i=a", 1, 2000));
	run_for(20);
	client *b = client_new(port);
	client_sends(b, "GET /get?i=b HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(b, "i=b", 1, 2000));
	run_for(20);
	/* both idle keep-alive: the third is served, the oldest (a) closed */
	client *c = client_new(port);
	client_sends(c, "GET /get?i=c HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "i=c", 1, 2000));
	CHECK(strstr(c->in, "503") == NULL);
	CHECK(run_until(is_eof, a, 2000));
	run_for(20);
	CHECK(!b->eof);
	client_free(a);
	/* b (idle longer than c) still works until evicted */
	client_sends(b, "GET /get?i=b2 HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(b, "i=b2", 1, 2000));
	run_for(20);
	/* a connection that sent nothing yet is idle too: c is now the oldest */
	client *d = client_new(port);
	run_for(30);
	CHECK(run_until(is_eof, c, 2000));
	CHECK(!b->eof);
	client_free(c);
	client_sends(d, "GET /get?i=d HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(d, "i=d", 1, 2000));

	/* b holds a request (busy, kept); d is half-way through a head: the
	 * stalest that waits on its client, so it makes room for e */
	T.held = NULL;
	client_sends(b, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(run_until(has_held, NULL, 2000));
	client_sends(d, "GET /get?i=d2 HTTP/1.1\r\nHost: t\r\nHo");
	run_for(30);
	client *e = client_new(port);
	client_sends(e, "GET /get?i=e HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(e, "i=e", 1, 2000));
	CHECK(run_until(is_eof, d, 2000));
	CHECK(!b->eof);
	client_free(d);

	/* an unauthenticated body is evicted too, with its abort told */
	T.aborts = 0;
	client_sends(e, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
	run_for(30);
	client *f = client_new(port);
	client_sends(f, "GET /get?i=f HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(f, "i=f", 1, 2000));
	CHECK(run_until(is_eof, e, 2000));
	CHECK_INT(T.aborts, 1);
	CHECK_INT(T.abort_reason, PF_HTTP_ABORT_EVICTED);
	client_free(e);

	/* a trusted body and a held request: nothing to evict, 503 */
	client_sends(f, "POST /tbody HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc");
	run_for(30);
	client *g = client_new(port);
	CHECK(wait_for(g, "HTTP/1.1 503", 1, 2000));
	CHECK(strstr(g->in, "too many connections") != NULL);
	CHECK(run_until(is_eof, g, 3000));
	CHECK(!b->eof && !f->eof);
	client_free(g);
	/* the busy ones go on */
	client_sends(f, "def");
	CHECK(wait_for(f, "len=6;abcdef", 1, 2000));
	pf_http_req *held = T.held;
	T.held = NULL;
	finish(held, 200, "held-done");
	CHECK(wait_for(b, "held-done", 1, 2000));
	client_free(f);
	client_free(b);
	run_for(20);
	pf_http_server_free(srv);
}

/*
 * Out of descriptors: accept() fails with EMFILE while the connections wait
 * in the backlog. The server must pause accepting (not spin on a listening
 * socket that stays readable) and serve them once descriptors are back.
 */
static void test_emfile(void)
{
	pf_http_limits lim;
	small_limits(&lim);
	pf_http_server *srv = start(&lim);
	int port = pf_http_server_port(srv);
	enum { N = 4 };
	client *cs[N];
	for (int i = 0; i < N; i++) {
		cs[i] = client_new(port);
		client_sends(cs[i], "GET /get?i=emfile HTTP/1.1\r\nHost: t\r\n\r\n");
	}
	/* the lowest free descriptor: every one below it is in use */
	int probe = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(probe >= 0);
	close(probe);
	struct rlimit rl, low;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	low = rl;
	low.rlim_cur = (rlim_t)probe;
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	run_for(300);
	getrusage(RUSAGE_SELF, &r1);
	double cpu_ms = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e3 +
	                (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e3 +
	                (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e3 +
	                (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e3;
	CHECK_MSG(cpu_ms < 150, "no busy loop on EMFILE: %.0f ms of CPU in 300 ms", cpu_ms);
	int served = 0;
	for (int i = 0; i < N; i++)
		served += strstr(cs[i]->in, "i=emfile") != NULL;
	CHECK_INT(served, 0);
	CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	for (int i = 0; i < N; i++)
		CHECK_MSG(wait_for(cs[i], "i=emfile", 1, 2000), "client %d served after EMFILE", i);
	for (int i = 0; i < N; i++)
		client_free(cs[i]);
	run_for(20);
	pf_http_server_free(srv);
}

/* Many connections at once: the descriptor limit was raised for them. */
static void test_many_connections(void)
{
	pf_http_limits lim;
	pf_http_limits_default(&lim);
	lim.max_connections = 1100;
	/* a low soft limit, as many systems start with: the server raises it */
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_max > 256) {
		rl.rlim_cur = 256;
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	}
	pf_http_server *srv = start(&lim);
	int port = pf_http_server_port(srv);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	CHECK_MSG(rl.rlim_cur == rl.rlim_max, "soft limit %llu raised to the hard %llu",
	          (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	enum { N = 1000 };
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * N + 64) {
		printf("# skip: descriptor hard limit %llu too low for %d connections\n",
		       (unsigned long long)rl.rlim_cur, N);
		pf_http_server_free(srv);
		return;
	}
	static client *cs[N];
	for (int i = 0; i < N; i++)
		cs[i] = client_new(port);
	run_for(300);
	client *last = client_new(port);
	client_sends(last, "GET /get?i=last HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(last, "i=last", 1, 3000));
	int closed = 0;
	for (int i = 0; i < N; i++)
		closed += cs[i]->eof;
	CHECK_INT(closed, 0);
	client_free(last);
	for (int i = 0; i < N; i++)
		client_free(cs[i]);
	run_for(50);
	pf_http_server_free(srv);
}

/* A client whose socket is bound to a local address of 127/8 first. */
static client *client_from(int port, const char *local)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in me = {.sin_family = AF_INET};
	inet_pton(AF_INET, local, &me.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0) {
		perror("bind");
		exit(1);
	}
	evutil_make_socket_nonblocking(fd);
	client *c = calloc(1, sizeof(*c));
	c->in = calloc(1, 1);
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, client_read_cb, NULL, client_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof(sin));
	return c;
}

static void test_json_media(void)
{
	static const char *const yes[] = {"application/json",
	                                  "APPLICATION/Json",
	                                  "application/json; charset=utf-8",
	                                  "application/json;charset=UTF-8",
	                                  " application/json ",
	                                  "application/json ;x=y"};
	static const char *const no[] = {"application/jsonx",
	                                 "application/json-seq",
	                                 "application/json+x",
	                                 "application/jso",
	                                 "text/json",
	                                 "application/ json",
	                                 "",
	                                 "xapplication/json"};
	for (size_t i = 0; i < PF_ARRAY_LEN(yes); i++)
		CHECK_MSG(pf_http_media_is_json(yes[i]), "'%s' is JSON", yes[i]);
	for (size_t i = 0; i < PF_ARRAY_LEN(no); i++)
		CHECK_MSG(!pf_http_media_is_json(no[i]), "'%s' is not JSON", no[i]);
	CHECK(!pf_http_media_is_json(NULL));
	CHECK_STR(pf_http_abort_name(PF_HTTP_ABORT_TOO_LARGE), "body too large");
	CHECK_STR(pf_http_abort_name(PF_HTTP_ABORT_EVICTED), "evicted at the connection cap");
}

/* Send text in two writes split at byte k (the loop runs between them),
 * and expect want in the answer. */
static bool split_answer(int port, const char *text, size_t k, const char *want)
{
	client *c = client_new(port);
	client_send(c, text, k);
	run_for(3);
	client_send(c, text + k, strlen(text) - k);
	bool ok = wait_for(c, want, 1, 2000);
	client_free(c);
	return ok;
}

/* What a head must be beyond http-parser's checks (nginx's rules). */
static void test_strict_heads(int port)
{
	static const struct {
		const char *req;
		const char *want;
	} cases[] = {
	    {"GET /get HTTP/1.1\r\nHost: t\r\nX-A: a\r\n folded\r\n\r\n", "HTTP/1.1 400"},
	    {"GET /get HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tfolded\r\n\r\n", "HTTP/1.1 400"},
	    {"GET /get HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", "HTTP/1.1 400"},
	    {"GET /get HTTP/1.1\r\nHost: t\r\nX-A : x\r\n\r\n", "HTTP/1.1 400"},
	    {"GET /get HTTP/1.1\r\n\r\n", "HTTP/1.1 400"},
	    {"GET /get HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400"},
	    {"GET /get HTTP/2.0\r\nHost: t\r\n\r\n", "HTTP/1.1 505"},
	    {"GET /get HTTP/1.2\r\nHost: t\r\n\r\n", "HTTP/1.1 505"},
	    {"GET /get HTTP/0.9\r\nHost: t\r\n\r\n", "HTTP/1.1 505"},
	    {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	     "HTTP/1.1 501"},
	    {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n",
	     "HTTP/1.1 501"},
	    {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
	     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	     "HTTP/1.1 400"},
	    {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: identity\r\n"
	     "Content-Encoding: identity\r\nContent-Length: 1\r\n\r\nx",
	     "HTTP/1.1 400"},
	};
	for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
		int before = T.requests;
		client *c = client_new(port);
		client_sends(c, cases[i].req);
		CHECK_MSG(wait_for(c, cases[i].want, 1, 2000), "case %zu -> %s", i, cases[i].want);
		CHECK_MSG(run_until(is_eof, c, 3000), "case %zu: closed", i);
		CHECK_MSG(T.requests == before, "case %zu: the handler never saw it", i);
		client_free(c);
	}
	/* a fold is told from a value split between two reads, wherever the split */
	const char *fold = "GET /get?i=f HTTP/1.1\r\nHost: t\r\nX-A: a b\r\n c\r\n\r\n";
	const char *plain = "GET /get?i=p HTTP/1.1\r\nHost: t\r\nX-A: a b c\r\nX-B: \r\n\r\n";
	int wrong = 0;
	for (size_t k = 1; k < strlen(fold); k++)
		wrong += !split_answer(port, fold, k, "HTTP/1.1 400");
	CHECK_MSG(wrong == 0, "a fold split anywhere is refused (%d splits missed)", wrong);
	wrong = 0;
	for (size_t k = 1; k < strlen(plain); k++)
		wrong += !split_answer(port, plain, k, "i=p");
	CHECK_MSG(wrong == 0, "a plain head split anywhere is served (%d splits refused)", wrong);
	/* chunk data must be followed by CRLF, wherever the reads split it */
	const char *bad = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	                  "3\r\nabcXY0\r\n\r\n";
	const char *good = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	                   "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	wrong = 0;
	for (size_t k = 1; k < strlen(bad); k++)
		wrong += !split_answer(port, bad, k, "HTTP/1.1 400");
	CHECK_MSG(wrong == 0, "chunk data without CRLF refused (%d splits missed)", wrong);
	CHECK_INT(T.abort_reason, PF_HTTP_ABORT_MALFORMED);
	wrong = 0;
	for (size_t k = 1; k < strlen(good); k++)
		wrong += !split_answer(port, good, k, "len=5;abcde");
	CHECK_MSG(wrong == 0, "well-formed chunks served (%d splits refused)", wrong);
	/* a bare LF after the data, and a CR then something else */
	CHECK(split_answer(port,
	                   "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	                   "3\r\nabc\n0\r\n\r\n",
	                   10, "HTTP/1.1 400"));
	CHECK(split_answer(port,
	                   "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	                   "3\r\nabc\rX0\r\n\r\n",
	                   10, "HTTP/1.1 400"));
}

/* An untrusted body has a whole-body deadline; a trusted one only the idle timeout. */
static void test_body_deadline(void)
{
	pf_http_limits lim;
	small_limits(&lim);
	lim.idle_timeout_ms = 2000;
	lim.unauth_body_timeout_ms = 300;
	pf_http_server *srv = start(&lim);
	int port = pf_http_server_port(srv);
	T.aborts = 0;
	client *c = client_new(port);
	client_sends(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\r\n");
	double t0 = now_ms();
	/* one byte every 40 ms: never idle for long, but never done */
	while (!c->eof && now_ms() - t0 < 2000 && !strstr(c->in, "HTTP/1.1")) {
		client_sends(c, "x");
		run_for(40);
	}
	double ms = now_ms() - t0;
	CHECK_MSG(strstr(c->in, "HTTP/1.1 400") != NULL, "the dribbling body is cut (%s)", c->in);
	CHECK_INT(T.abort_reason, PF_HTTP_ABORT_TIMEOUT);
	CHECK_MSG(ms >= 280 && ms < 1000, "after the 300 ms deadline (%.0f ms)", ms);
	client_free(c);

	/* trusted: the same dribble goes on past the deadline and completes */
	c = client_new(port);
	T.aborts = 0;
	client_sends(c, "POST /tbody HTTP/1.1\r\nHost: t\r\nContent-Length: 15\r\n\r\n");
	for (int i = 0; i < 15 && !c->eof; i++) {
		client_sends(c, "y");
		run_for(40);
	}
	CHECK(wait_for(c, "len=15;yyyyyyyyyyyyyyy", 1, 2000));
	CHECK_INT(T.aborts, 0);
	client_free(c);
	run_for(20);
	pf_http_server_free(srv);
}

/* max_per_address: the next connection of a full address gets 429, others go on. */
static void test_per_address(void)
{
	pf_http_limits lim;
	small_limits(&lim);
	lim.max_per_address = 3;
	pf_http_server *srv = start(&lim);
	int port = pf_http_server_port(srv);
	client *a[3];
	for (int i = 0; i < 3; i++) {
		a[i] = client_from(port, "127.0.0.2");
		client_sends(a[i], "GET /get?i=a HTTP/1.1\r\nHost: t\r\n\r\n");
		CHECK(wait_for(a[i], "i=a", 1, 2000));
	}
	client *over = client_from(port, "127.0.0.2");
	CHECK(wait_for(over, "HTTP/1.1 429", 1, 2000));
	CHECK(strstr(over->in, "too many connections from your address") != NULL);
	CHECK(run_until(is_eof, over, 3000));
	client_free(over);
	/* another address is not affected */
	client *b = client_from(port, "127.0.0.3");
	client_sends(b, "GET /get?i=b HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(b, "i=b", 1, 2000));
	client_free(b);
	/* one of the address's connections closes: room again */
	client_free(a[0]);
	run_for(30);
	client *again = client_from(port, "127.0.0.2");
	client_sends(again, "GET /get?i=again HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(again, "i=again", 1, 2000));
	client_free(again);
	client_free(a[1]);
	client_free(a[2]);
	run_for(20);
	pf_http_server_free(srv);
}

/* Upgraded connections keep their place under max_connections until their
 * access line is written, and are never evicted. */
static void test_upgraded_count(void)
{
	pf_http_limits lim;
	small_limits(&lim);
	lim.max_connections = 2;
	pf_http_server *srv = start(&lim);
	int port = pf_http_server_port(srv);
	T.naccess = 0;
	client *u[2];
	for (int i = 0; i < 2; i++) {
		u[i] = client_new(port);
		client_sends(u[i], "GET /upgrade2 HTTP/1.1\r\nHost: t\r\nUpgrade: x\r\n"
		                   "Connection: Upgrade\r\n\r\n");
		CHECK(wait_for(u[i], "101 Switching", 1, 2000));
	}
	CHECK_INT(T.naccess, 2);
	client *c = client_new(port);
	CHECK(wait_for(c, "HTTP/1.1 503", 1, 2000));
	client_free(c);
	/* one ends: its place is free again */
	pf_http_access_finish(T.access[1], 101, 0);
	bufferevent_free(T.upb[1]);
	c = client_new(port);
	client_sends(c, "GET /get?i=up HTTP/1.1\r\nHost: t\r\n\r\n");
	CHECK(wait_for(c, "i=up", 1, 2000));
	client_free(c);
	client_free(u[1]);
	/* the other outlives the server: its access object still works */
	run_for(20);
	pf_http_server_free(srv);
	pf_http_access_finish(T.access[0], 101, 0);
	bufferevent_free(T.upb[0]);
	client_free(u[0]);
	T.naccess = 0;
	run_for(20);
}

int main(void)
{
	pf_log_set_level(getenv("PF_TEST_DEBUG") ? PF_LOG_DEBUG : PF_LOG_WARN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("PF_TEST_ALARM"))
		alarm(4);
	base = event_base_new();
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, 5000};
	event_add(tick, &tv);
	T.body = malloc(BODY_CAP);

	pf_http_limits lim;
	small_limits(&lim);
	pf_http_server *srv = start(&lim);
	int port = pf_http_server_port(srv);
	CHECK(port > 0);

	test_pipelining(port);
	test_split_head(port);
	test_chunked_bytes(port);
	test_stream(port);
	test_continue(port);
	test_caps(port);
	test_pause(port);
	test_held_body(port);
	test_client_gone(port);
	test_no_abort_after_end(port);
	test_errors(port);
	test_content_encoding(port);
	test_detach(port);
	test_json_media();
	test_strict_heads(port);
	test_static(port);
	pf_http_server_free(srv);
	test_timeouts();
	test_body_deadline();
	test_per_address();
	test_upgraded_count();
	test_conn_cap();
	test_emfile();
	test_many_connections();

	event_free(tick);
	run_for(10);
	event_base_free(base);
	free(T.body);
	return CHECK_DONE();
}

/*
 * fuzz_http.c - libFuzzer harness for the HTTP server. Each input is sent
 * as the byte stream of one client connection (then the client shuts its
 * sending side) to a real pf_http_server on 127.0.0.1, and the loop runs
 * until the server has closed the connection. The handler walks every
 * accessor, reads bodies while pausing and resuming, answers early on some
 * paths and detaches on /up, so all request paths and lifetimes are hit.
 * Build and run (from the repo root; meson builds it with the net library):
 *   tests/fuzz/run 60 http
 */
#include "propflow/net/http.h"
#include "propflow/base/log.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static struct event_base *base;
static pf_http_server *srv;
static int port;

typedef struct fuzz_client {
	struct bufferevent *bev;
	bool eof;
	bool shut;
	size_t got;
} fuzz_client;

typedef struct body_state {
	pf_http_req *req; /* NULL once answered */
	size_t seen;
	int calls;
	int refs; /* the request until answered, plus pending resume events */
} body_state;

static void body_unref(body_state *b)
{
	if (--b->refs == 0)
		free(b);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	body_state *b = arg;
	if (b->req)
		pf_http_req_resume(b->req);
	body_unref(b);
}

static void body_done(body_state *b)
{
	b->req = NULL;
	body_unref(b);
}

static int body_cb(void *arg, pf_http_req *req, const char *data, size_t len)
{
	body_state *b = arg;
	b->seen += len;
	if (len && data[0] == 'X') {
		/* answer in the middle of the body */
		body_done(b);
		pf_http_respond_error(req, 400, "x", NULL);
		return 0;
	}
	if (++b->calls % 2) {
		static const struct timeval zero = {0, 0};
		b->refs++;
		event_base_once(base, -1, EV_TIMEOUT, resume_cb, b, &zero);
		return PF_HTTP_PAUSE;
	}
	return 0;
}

static void end_cb(void *arg, pf_http_req *req)
{
	body_state *b = arg;
	char text[64];
	snprintf(text, sizeof(text), "%zu", b->seen);
	body_done(b);
	pf_http_respond(req, 200, "text/plain", text, strlen(text));
}

static void abort_cb(void *arg, pf_http_req *req, pf_http_abort why)
{
	body_state *b = arg;
	body_done(b);
	pf_http_respond_error(req, 413, pf_http_abort_name(why), "{\"a\":[1,2]}");
}

static void handler(void *arg, pf_http_req *req)
{
	const char *path = pf_http_req_path(req);
	volatile size_t sink = 0;
	sink += strlen(pf_http_req_method(req)) + strlen(pf_http_req_query(req));
	const char *v = pf_http_req_param(req, "a");
	sink += v ? strlen(v) : 0;
	v = pf_http_req_param(req, "");
	sink += v ? strlen(v) : 0;
	v = pf_http_req_header(req, "content-type");
	sink += v ? strlen(v) : 0;
	sink += (size_t)pf_http_req_content_length(req) + pf_http_req_has_body(req);
	sink += strlen(pf_http_req_peer(req));
	(void)sink;
	if (pf_http_add_header(req, "X-A", "b") != 0)
		abort();
	if (strcmp(path, "/up") == 0) {
		struct bufferevent *bev = pf_http_req_detach(req, NULL);
		if (bev)
			bufferevent_free(bev);
		else
			pf_http_respond(req, 500, NULL, NULL, 0);
		return;
	}
	if (strncmp(path, "/early", 6) == 0) {
		pf_http_respond(req, 202, "application/json", "{}", 2);
		return;
	}
	if (pf_http_req_has_body(req) || strcmp(path, "/body") == 0) {
		body_state *b = calloc(1, sizeof(*b));
		b->req = req;
		b->refs = 1;
		pf_http_req_read_body(req, path[1] == 's' ? 16 : 0, body_cb, end_cb, abort_cb, b);
		return;
	}
	pf_http_respond(req, 200, "text/plain", path, strlen(path));
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	fuzz_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	c->got += evbuffer_get_length(in);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	fuzz_client *c = arg;
	if (!c->shut) {
		c->shut = true;
		shutdown(bufferevent_getfd(bev), SHUT_WR);
	}
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	fuzz_client *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			client_write_cb(bev, c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		c->eof = true;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pf_log_set_level(PF_LOG_ERROR);
	base = event_base_new();
	pf_http_limits lim;
	pf_http_limits_default(&lim);
	lim.url_max = 256;
	lim.header_bytes_max = 512;
	lim.header_count_max = 8;
	lim.body_max = 4096;
	lim.output_max = 256;
	srv = pf_http_server_new(base, "127.0.0.1", 0, &lim, handler, NULL);
	if (!srv)
		abort();
	port = pf_http_server_port(srv);
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, 1000};
	event_add(tick, &tv);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_client c = {0};
	c.bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c.bev, client_read_cb, client_write_cb, client_event_cb, &c);
	bufferevent_enable(c.bev, EV_READ | EV_WRITE);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bufferevent_write(c.bev, data, size);
	bufferevent_socket_connect(c.bev, (struct sockaddr *)&sin, sizeof(sin));
	double deadline = now_ms() + 3000;
	while (!c.eof) {
		if (now_ms() > deadline) {
			fprintf(stderr, "connection never closed\n");
			abort();
		}
		event_base_loop(base, EVLOOP_ONCE);
	}
	bufferevent_free(c.bev);
	/* let the server reap the connection and run pending one-shot events */
	for (int i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	return 0;
}

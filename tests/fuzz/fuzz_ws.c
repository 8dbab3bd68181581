/*
 * fuzz_ws.c - libFuzzer harness for the WebSocket layer. Each input is
 * sent, after a valid upgrade request, as the client's frame stream on one
 * connection to a real server on 127.0.0.1 (then the client shuts its
 * sending side), and the loop runs until the server has closed. The first
 * byte selects options: bit 0 a 1 ms ping interval, bit 1 echo text.
 * Text starting with 'C' makes the server close, 'B' floods the send queue.
 * Build and run (from the repo root; meson builds it with the net library):
 *   tests/fuzz/run 60 ws
 */
#include "propflow/net/http.h"
#include "propflow/base/log.h"
#include "propflow/net/ws.h"

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
static int port;
static unsigned char opts;
static int closes;

typedef struct fuzz_client {
	struct bufferevent *bev;
	bool eof;
	bool shut;
} fuzz_client;

static void on_text(void *arg, pf_ws *ws, const char *data, size_t len)
{
	if (len && data[0] == 'C') {
		pf_ws_close(ws, 1000, "asked");
		return;
	}
	if (len && data[0] == 'B') {
		static char blob[64 * 1024];
		for (int i = 0; i < 40; i++)
			if (pf_ws_send_text(ws, blob, sizeof(blob)) != 0)
				break;
		return;
	}
	if (opts & 2) {
		int r = pf_ws_send_text(ws, data, len);
		if (r != 0 && r != PF_ECLOSED && r != PF_ELIMIT)
			abort();
	}
}

static void on_close(void *arg, pf_ws *ws, int code)
{
	closes++;
}

static void handler(void *arg, pf_http_req *req)
{
	static const pf_ws_handlers h = {.on_text = on_text, .on_close = on_close};
	pf_ws *ws = pf_ws_accept(req, &h, NULL);
	if (ws && (opts & 1))
		pf_ws_set_ping_interval(ws, 1);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
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
	pf_http_server *srv = pf_http_server_new(base, "127.0.0.1", 0, &lim, handler, NULL);
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
	static const char head[] =
	    "GET /ws HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
	if (size < 1)
		return 0;
	opts = data[0];
	closes = 0;
	fuzz_client c = {0};
	c.bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c.bev, client_read_cb, client_write_cb, client_event_cb, &c);
	bufferevent_enable(c.bev, EV_READ | EV_WRITE);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bufferevent_write(c.bev, head, sizeof(head) - 1);
	bufferevent_write(c.bev, data + 1, size - 1);
	bufferevent_socket_connect(c.bev, (struct sockaddr *)&sin, sizeof(sin));
	double deadline = now_ms() + 8000;
	while (!c.eof) {
		if (now_ms() > deadline) {
			fprintf(stderr, "websocket never closed\n");
			abort();
		}
		event_base_loop(base, EVLOOP_ONCE);
	}
	bufferevent_free(c.bev);
	for (int i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	if (closes != 1) {
		fprintf(stderr, "on_close ran %d times\n", closes);
		abort();
	}
	return 0;
}

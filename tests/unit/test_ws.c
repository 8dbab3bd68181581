/*
 * test_ws.c - WebSocket: the accept key (RFC 6455 example), handshake
 * validation through a real server and socket on one event loop, frame
 * round trips (7/16/64-bit lengths, fragments, frames sent with the head),
 * ping/pong both ways, close handshakes, and the protocol errors and caps
 * (oversized 1009, unmasked/reserved opcode/fragmented control and a
 * 1-byte close payload 1002, binary 1003, send queue 1008, a ping flood
 * from a peer that never reads 1008).
 */
#include "check.h"
#include "loop_client.h"
#include "propflow/net/http.h"
#include "propflow/base/log.h"
#include "propflow/net/ws.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* ------------------------------------------------------------ client */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

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

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* A client frame (masked unless told otherwise). */
static void send_frame(client *c, int opcode, bool fin, const void *payload, size_t len,
                       bool masked)
{
	unsigned char *f = malloc(len + 14);
	size_t n = 0;
	f[n++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	unsigned char mbit = masked ? 0x80 : 0;
	if (len < 126) {
		f[n++] = (unsigned char)(mbit | len);
	} else if (len < 65536) {
		f[n++] = mbit | 126;
		f[n++] = (unsigned char)(len >> 8);
		f[n++] = (unsigned char)len;
	} else {
		f[n++] = mbit | 127;
		for (int i = 7; i >= 0; i--)
			f[n++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
	if (masked) {
		memcpy(f + n, mask, 4);
		n += 4;
	}
	for (size_t i = 0; i < len; i++)
		f[n + i] = ((const unsigned char *)payload)[i] ^ (masked ? mask[i % 4] : 0);
	bufferevent_write(c->bev, f, n + len);
	free(f);
}

static void send_text(client *c, const char *s)
{
	send_frame(c, 1, true, s, strlen(s), true);
}

typedef struct frame {
	int op;
	bool fin;
	const unsigned char *payload;
	size_t len;
} frame;

/* Frames the server sent after the 101 head; returns how many (up to max). */
static int frames(client *c, frame *out, int max)
{
	const unsigned char *p = (const unsigned char *)strstr(c->in, "\r\n\r\n");
	if (!p)
		return 0;
	p += 4;
	const unsigned char *end = (const unsigned char *)c->in + c->len;
	int k = 0;
	while (k < max && end - p >= 2) {
		size_t len = p[1] & 0x7f, h = 2;
		if (len == 126) {
			if (end - p < 4)
				break;
			len = ((size_t)p[2] << 8) | p[3];
			h = 4;
		} else if (len == 127) {
			if (end - p < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = (len << 8) | p[2 + i];
			h = 10;
		}
		if ((size_t)(end - p) < h + len)
			break;
		out[k].op = p[0] & 0x0f;
		out[k].fin = (p[0] & 0x80) != 0;
		out[k].payload = p + h;
		out[k].len = len;
		k++;
		p += h + len;
	}
	return k;
}

typedef struct wait_frames {
	client *c;
	int n;
} wait_frames;

static bool has_frames(void *arg)
{
	wait_frames *w = arg;
	frame f[64];
	return frames(w->c, f, 64) >= w->n;
}

static bool wait_n_frames(client *c, int n, int ms)
{
	wait_frames w = {c, n};
	return run_until(has_frames, &w, ms);
}

static bool has_head(void *arg)
{
	client *c = arg;
	return strstr(c->in, "\r\n\r\n") != NULL;
}

static bool is_eof(void *arg)
{
	return ((client *)arg)->eof;
}

static int close_code(const frame *f)
{
	return f->op == 8 && f->len >= 2 ? (f->payload[0] << 8) | f->payload[1] : -1;
}

/* ------------------------------------------------------------ server side */

static struct {
	pf_ws *ws;
	char text[128];
	size_t text_len;
	int texts;
	int closes;
	int code;
	bool echo;
} S;

static void on_text(void *arg, pf_ws *ws, const char *data, size_t len)
{
	S.texts++;
	S.text_len = len;
	snprintf(S.text, sizeof(S.text), "%.*s", (int)(len < 100 ? len : 100), data);
	if (S.echo) {
		char *out = malloc(len + 5);
		memcpy(out, "echo:", 5);
		memcpy(out + 5, data, len);
		if (pf_ws_send_text(ws, out, len + 5) != 0)
			S.texts += 1000;
		free(out);
	}
}

static void on_close(void *arg, pf_ws *ws, int code)
{
	S.closes++;
	S.code = code;
	if (ws == S.ws)
		S.ws = NULL;
}

static void handler(void *arg, pf_http_req *req)
{
	static const pf_ws_handlers h = {.on_text = on_text, .on_close = on_close};
	if (strcmp(pf_http_req_path(req), "/ws") == 0) {
		S.ws = pf_ws_accept(req, &h, NULL);
	} else {
		pf_http_respond_error(req, 404, "not found", NULL);
	}
}

static const char *UPGRADE_FMT = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n"
                                 "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                 "Sec-WebSocket-Key: %s\r\n\r\n";

/* Connect and upgrade; returns the client after the 101 arrived. */
static client *ws_connect(int port)
{
	char req[512];
	snprintf(req, sizeof(req), UPGRADE_FMT, "dGhlIHNhbXBsZSBub25jZQ==");
	client *c = client_new(port);
	S.ws = NULL;
	S.closes = 0;
	S.code = 0;
	S.texts = 0;
	bufferevent_write(c->bev, req, strlen(req));
	run_until(has_head, c, 2000);
	run_for(5);
	return c;
}

/* ------------------------------------------------------------ tests */

static void test_accept_key(void)
{
	char out[29];
	CHECK_INT(pf_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	/* RFC 6455 section 1.3 */
	CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CHECK_INT(pf_ws_accept_key(NULL, out), PF_EINVAL);
	CHECK_INT(pf_ws_accept_key("", out), PF_EINVAL);
	CHECK_INT(pf_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", out), PF_EINVAL);
	CHECK_INT(pf_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ===", out), PF_EINVAL);
	CHECK_INT(pf_ws_accept_key("dGhlIHNhbXBsZSBub2!jZQ==", out), PF_EINVAL);
	CHECK_INT(pf_ws_accept_key("dGhlIHNhbXBsZSBub25jZQAA", out), PF_EINVAL);
}

static void expect_status(int port, const char *request, const char *want)
{
	client *c = client_new(port);
	bufferevent_write(c->bev, request, strlen(request));
	run_until(has_head, c, 2000);
	CHECK_MSG(strstr(c->in, want) != NULL, "handshake -> %s", want);
	client_free(c);
}

static void test_handshake(int port)
{
	expect_status(
	    port,
	    "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	    "HTTP/1.1 400");
	expect_status(
	    port,
	    "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
	    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	    "HTTP/1.1 400");
	expect_status(
	    port,
	    "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	    "HTTP/1.1 426");
	expect_status(
	    port,
	    "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	    "Sec-WebSocket-Version: 13");
	expect_status(port,
	              "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
	              "HTTP/1.1 400");
	expect_status(
	    port,
	    "POST /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Content-Length: 0\r\n\r\n",
	    "HTTP/1.1 400");

	client *c = ws_connect(port);
	CHECK(strstr(c->in, "HTTP/1.1 101 Switching Protocols\r\n") != NULL);
	CHECK(strstr(c->in, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
	CHECK(S.ws != NULL);
	client_free(c);
	run_for(20);
	CHECK_INT(S.closes, 1);
	CHECK_INT(S.code, 1006);
}

static void test_round_trips(int port)
{
	/* a frame in the same write as the head */
	char req[512];
	snprintf(req, sizeof(req), UPGRADE_FMT, "AAAAAAAAAAAAAAAAAAAAAA==");
	client *c = client_new(port);
	S.echo = true;
	S.texts = 0;
	S.closes = 0;
	bufferevent_write(c->bev, req, strlen(req));
	send_text(c, "early");
	CHECK(wait_n_frames(c, 1, 2000));
	CHECK_STR(S.text, "early");
	frame f[64];
	int n = frames(c, f, 64);
	CHECK(n == 1 && f[0].op == 1 && f[0].fin && f[0].len == 10 &&
	      memcmp(f[0].payload, "echo:early", 10) == 0);

	send_text(c, "hello");
	CHECK(wait_n_frames(c, 2, 2000));
	n = frames(c, f, 64);
	CHECK(n == 2 && f[1].len == 10 && memcmp(f[1].payload, "echo:hello", 10) == 0);

	/* 16-bit and 64-bit lengths */
	char *big = malloc(PF_WS_MESSAGE_MAX);
	memset(big, 'x', PF_WS_MESSAGE_MAX);
	send_frame(c, 1, true, big, 126, true);
	send_frame(c, 1, true, big, PF_WS_MESSAGE_MAX, true); /* 64-bit length, exactly the cap */
	CHECK(wait_n_frames(c, 4, 2000));
	n = frames(c, f, 64);
	CHECK(n == 4 && f[2].len == 131 && f[3].len == PF_WS_MESSAGE_MAX + 5);
	CHECK_INT(S.text_len, PF_WS_MESSAGE_MAX);

	/* a fragmented text message, with a ping between the fragments */
	send_frame(c, 1, false, "hel", 3, true);
	send_frame(c, 9, true, "pp", 2, true);
	send_frame(c, 0, true, "lo", 2, true);
	CHECK(wait_n_frames(c, 6, 2000));
	n = frames(c, f, 64);
	CHECK(n == 6 && f[4].op == 10 && f[4].len == 2 && memcmp(f[4].payload, "pp", 2) == 0);
	CHECK(n == 6 && f[5].len == 10 && memcmp(f[5].payload, "echo:hello", 10) == 0);

	/* exactly the message cap in two fragments is fine */
	send_frame(c, 1, false, big, PF_WS_MESSAGE_MAX - 1, true);
	send_frame(c, 0, true, big, 1, true);
	CHECK(wait_n_frames(c, 7, 2000));
	CHECK_INT(S.text_len, PF_WS_MESSAGE_MAX);

	/* client close: echoed, on_close(1000), then the socket closes */
	unsigned char cl[2] = {0x03, 0xe8};
	send_frame(c, 8, true, cl, 2, true);
	CHECK(wait_n_frames(c, 8, 2000));
	n = frames(c, f, 64);
	CHECK_INT(close_code(&f[7]), 1000);
	CHECK_INT(S.closes, 1);
	CHECK_INT(S.code, 1000);
	CHECK(run_until(is_eof, c, 2000));
	client_free(c);
	free(big);
	S.echo = false;
}

/* Send something bad and expect a close frame with code. */
static void expect_close(int port, const char *what, int want, void (*bad)(client *))
{
	client *c = ws_connect(port);
	bad(c);
	bool got = wait_n_frames(c, 1, 2000);
	frame f[4];
	int n = frames(c, f, 4);
	CHECK_MSG(got && n >= 1 && close_code(&f[n - 1]) == want, "%s -> close %d (got %d)", what,
	          want, n >= 1 ? close_code(&f[n - 1]) : -1);
	/* answer the close: the server finishes and closes the socket */
	unsigned char cl[2] = {(unsigned char)(want >> 8), (unsigned char)want};
	send_frame(c, 8, true, cl, 2, true);
	CHECK_MSG(run_until(is_eof, c, 2000), "%s: socket closed", what);
	CHECK_MSG(S.closes == 1 && S.code == want, "%s: on_close(%d) once (got %d x%d)", what, want,
	          S.code, S.closes);
	client_free(c);
}

static void bad_oversized(client *c)
{
	char *big = malloc(PF_WS_MESSAGE_MAX + 1);
	memset(big, 'o', PF_WS_MESSAGE_MAX + 1);
	send_frame(c, 1, true, big, PF_WS_MESSAGE_MAX + 1, true);
	free(big);
}

static void bad_oversized_fragments(client *c)
{
	char *big = malloc(PF_WS_MESSAGE_MAX);
	memset(big, 'o', PF_WS_MESSAGE_MAX);
	send_frame(c, 1, false, big, PF_WS_MESSAGE_MAX, true);
	send_frame(c, 0, true, big, 1, true);
	free(big);
}

static void bad_unmasked(client *c)
{
	send_frame(c, 1, true, "plain", 5, false);
}

static void bad_opcode(client *c)
{
	send_frame(c, 3, true, "x", 1, true);
}

static void bad_fragmented_ping(client *c)
{
	send_frame(c, 9, false, "x", 1, true);
}

static void bad_binary(client *c)
{
	send_frame(c, 2, true, "\x01\x02", 2, true);
}

static void bad_close_one_byte(client *c)
{
	send_frame(c, 8, true, "\x03", 1, true);
}

static void test_protocol_errors(int port)
{
	expect_close(port, "oversized message", 1009, bad_oversized);
	expect_close(port, "oversized fragmented message", 1009, bad_oversized_fragments);
	expect_close(port, "unmasked frame", 1002, bad_unmasked);
	expect_close(port, "reserved opcode", 1002, bad_opcode);
	expect_close(port, "fragmented ping", 1002, bad_fragmented_ping);
	expect_close(port, "binary frame", 1003, bad_binary);
	expect_close(port, "close frame with a 1-byte payload", 1002, bad_close_one_byte);
}

/*
 * A protocol error while the client is still sending a lot: the server
 * must not reset the connection (that can destroy its close frame in
 * flight); it shuts its side, drops further input, and ends once the
 * client closes.
 */
static void test_error_linger(int port)
{
	S.closes = 0;
	client *c = ws_connect(port);
	size_t n = 4 * PF_WS_MESSAGE_MAX;
	char *big = malloc(n);
	memset(big, 'o', n);
	send_frame(c, 1, true, big, n, true);
	for (int i = 0; i < 8; i++)
		send_frame(c, 1, true, big, n, true); /* 2 MB more after the bad frame */
	free(big);
	CHECK(wait_n_frames(c, 1, 2000));
	frame f[4];
	int nf = frames(c, f, 4);
	CHECK_MSG(nf == 1 && close_code(&f[0]) == 1009, "close 1009 arrives (got %d frames, %d)",
	          nf, nf ? close_code(&f[0]) : -1);
	CHECK_MSG(run_until(is_eof, c, 2000), "server shut its side");
	CHECK_INT(S.closes, 1);
	CHECK_INT(S.code, 1009);
	client_free(c);
	run_for(50);
}

static void test_server_close_and_ping(int port)
{
	client *c = ws_connect(port);
	CHECK(S.ws != NULL);
	pf_ws *ws = S.ws;
	pf_ws_close(ws, 1001, "bye");
	CHECK_MSG(S.closes == 0, "on_close is not called inside pf_ws_close");
	CHECK(wait_n_frames(c, 1, 2000));
	frame f[8];
	int n = frames(c, f, 8);
	CHECK(n == 1 && close_code(&f[0]) == 1001 && f[0].len == 5 &&
	      memcmp(f[0].payload + 2, "bye", 3) == 0);
	CHECK_INT(S.closes, 1);
	CHECK_INT(S.code, 1001);
	unsigned char cl[2] = {0x03, 0xe9};
	send_frame(c, 8, true, cl, 2, true);
	CHECK(run_until(is_eof, c, 2000));
	client_free(c);

	/* pings: answered keeps it open, unanswered closes it */
	c = ws_connect(port);
	pf_ws_set_ping_interval(S.ws, 40);
	for (int i = 1; i <= 3; i++) {
		CHECK_MSG(wait_n_frames(c, i, 1000), "ping %d arrives", i);
		n = frames(c, f, 8);
		CHECK(n == i && f[i - 1].op == 9);
		send_frame(c, 10, true, NULL, 0, true);
	}
	CHECK(S.ws != NULL && S.closes == 0);
	double t0 = now_ms();
	CHECK(run_until(is_eof, c, 2000));
	CHECK(now_ms() - t0 < 500);
	CHECK_INT(S.closes, 1);
	CHECK_INT(S.code, 1006);
	client_free(c);
}

static void test_sendq(int port)
{
	client *c = ws_connect(port);
	bufferevent_disable(c->bev, EV_READ); /* a reader that never reads */
	pf_ws *ws = S.ws;
	char *msg = malloc(64 * 1024);
	memset(msg, 'm', 64 * 1024);
	int r = 0;
	size_t sent = 0;
	while (sent < 64 * 1024 * 1024) {
		r = pf_ws_send_text(ws, msg, 64 * 1024);
		if (r != 0)
			break;
		sent += 64 * 1024;
		run_for(1);
	}
	CHECK_INT(r, PF_ELIMIT);
	CHECK(pf_ws_pending(ws) <= PF_WS_SENDQ_MAX);
	CHECK_MSG(sent < 64 * 1024 * 1024, "cap reached after %zu bytes", sent);
	run_for(20);
	CHECK_INT(S.closes, 1);
	CHECK_INT(S.code, 1008);
	free(msg);
	client_free(c);
	run_for(20);
}

static bool ws_closed(void *arg)
{
	return S.closes > 0;
}

/*
 * A peer that pings and never reads: every pong is queued for it, and the
 * queued pongs count against the send cap like our own messages. The
 * server drops it (1008) long before the pings stop; without the cap the
 * queue grows with every ping.
 */
static void test_ping_flood(int port)
{
	client *c = ws_connect(port);
	CHECK(S.ws != NULL);
	/* a small receive buffer: the kernel holds few pongs for us */
	int small = 4096;
	setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	bufferevent_disable(c->bev, EV_READ);
	enum { PINGS = 64 * 1024, LIMIT_MB = 256 };
	/* empty masked pings (mask key 0): 6 bytes each */
	unsigned char *block = calloc(PINGS, 6);
	for (size_t i = 0; i < PINGS; i++) {
		block[i * 6] = 0x89;
		block[i * 6 + 1] = 0x80;
	}
	size_t sent = 0;
	while (S.closes == 0 && sent < (size_t)LIMIT_MB * 1024 * 1024) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		if (evbuffer_get_length(out) < 4 * PINGS * 6) {
			bufferevent_write(c->bev, block, PINGS * 6);
			sent += PINGS * 6;
		}
		run_until(ws_closed, NULL, 2);
	}
	free(block);
	CHECK_MSG(S.closes == 1, "the flooding peer is dropped (after %zu MB of pings)",
	          sent >> 20);
	CHECK_MSG(S.code == 1008, "on_close(1008) (got %d)", S.code);
	client_free(c);
	run_for(20);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	pf_log_set_level(getenv("PF_TEST_DEBUG") ? PF_LOG_DEBUG : PF_LOG_ERROR);
	base = event_base_new();
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, 5000};
	event_add(tick, &tv);

	test_accept_key();
	pf_http_limits lim;
	pf_http_limits_default(&lim);
	pf_http_server *srv = pf_http_server_new(base, "127.0.0.1", 0, &lim, handler, NULL);
	CHECK(srv != NULL);
	int port = pf_http_server_port(srv);
	test_handshake(port);
	test_round_trips(port);
	test_protocol_errors(port);
	test_error_linger(port);
	test_server_close_and_ping(port);
	test_sendq(port);
	test_ping_flood(port);
	pf_http_server_free(srv);
	event_free(tick);
	run_for(20);
	event_base_free(base);
	return CHECK_DONE();
}

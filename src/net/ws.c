/*
 * ws.c - WebSocket server connections (RFC 6455): the upgrade handshake on
 * top of http.c, then framing by wslay's event API over the detached
 * bufferevent. wslay answers pings and close frames and enforces masking,
 * opcodes and the message cap; this file adds the server's own pings, the
 * send queue cap and the object's lifetime.
 *
 * Lifetime: OPEN until either side starts closing; then on_close fires once
 * (the owner forgets the pointer) and the object stays, unowned, in CLOSING
 * while the close handshake and the output drain; then it is freed from a
 * one-shot event, never inside a callback of its own.
 */
#include "propflow/net/ws.h"
#include "propflow/base/log.h"

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

#define PF_WS_CLOSE_TIMEOUT_MS 5000        /* wait this long for the close handshake and drain */
#define PF_WS_WRITE_CHUNK      (64 * 1024) /* socket buffer level at which frames wait in wslay */
#define PF_WS_GUID             "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* What a frame waiting in wslay's queue costs beyond its payload (the
 * message, its copy and the queue entry), so that a flood of empty pings,
 * each answered by an empty pong, counts against the send cap too. */
#define PF_WS_FRAME_COST 64

typedef enum ws_state {
	WS_OPEN,    /* messages flow */
	WS_CLOSING, /* on_close fired; finishing the close handshake and output */
	WS_DEAD,    /* free scheduled */
} ws_state;

struct pf_ws {
	struct bufferevent *bev;     /* owned (detached from the HTTP connection) */
	wslay_event_context_ptr ctx; /* owned */
	pf_ws_handlers h;            /* owner's callbacks */
	void *arg;                   /* borrowed: owner's argument */
	uint64_t id;                 /* the HTTP connection's id, for logs */
	ws_state state;              /* see above */
	int close_code;              /* code reported to on_close */
	bool pong_due;               /* a ping was sent and no pong came back yet */
	bool read_eof;               /* the peer closed its side */
	int drop_code;               /* nonzero: drop the connection on the next turn */
	bool close_written;          /* we wrote a close frame past wslay (protocol error) */
	bool shut;                   /* our sending side is shut: lingering for the peer's EOF */
	unsigned ping_ms;            /* ping interval */
	struct event *ping_timer;    /* owned: pings, and the close timeout in CLOSING */
	struct event *defer;         /* owned: first processing after the handshake */
	pf_http_access *access;      /* owned: the upgrade's access line, written at the end */
	size_t sent;                 /* bytes written to the socket, for the access line */
};

static void ws_io(pf_ws *ws);

static void ms_to_tv(unsigned ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

int pf_ws_accept_key(const char *key, char out[29])
{
	/* the key must be base64 of 16 bytes: 22 characters and "==" */
	if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
		return PF_EINVAL;
	unsigned char raw[24];
	if (EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
		return PF_EINVAL;
	unsigned char buf[24 + sizeof(PF_WS_GUID) - 1];
	memcpy(buf, key, 24);
	memcpy(buf + 24, PF_WS_GUID, sizeof(PF_WS_GUID) - 1);
	unsigned char digest[SHA_DIGEST_LENGTH];
	SHA1(buf, sizeof(buf), digest);
	if (EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH) != 28)
		return PF_EINVAL;
	out[28] = '\0';
	return 0;
}

/* Does the comma-separated header value contain token (case-insensitive)? */
static bool has_token(const char *value, const char *token)
{
	size_t tlen = strlen(token);
	const char *p = value;
	while (p && *p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *end = p;
		while (*end && *end != ',')
			end++;
		const char *e = end;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - p) == tlen && strncasecmp(p, token, tlen) == 0)
			return true;
		p = end;
	}
	return false;
}

/* ------------------------------------------------------------ lifetime */

static void ws_free_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_ws *ws = arg;
	pf_debug("ws %llu: freed", (unsigned long long)ws->id);
	pf_http_access_finish(ws->access, 101, ws->sent);
	event_free(ws->ping_timer);
	event_free(ws->defer);
	wslay_event_context_free(ws->ctx);
	bufferevent_free(ws->bev);
	free(ws);
}

/* Tell the owner once; the object lives on until finished. */
static void ws_notify_close(pf_ws *ws, int code)
{
	if (ws->state != WS_OPEN)
		return;
	ws->state = WS_CLOSING;
	ws->close_code = code;
	struct timeval tv;
	ms_to_tv(PF_WS_CLOSE_TIMEOUT_MS, &tv);
	evtimer_add(ws->ping_timer, &tv);
	pf_debug("ws %llu: closing (%d)", (unsigned long long)ws->id, code);
	if (ws->h.on_close)
		ws->h.on_close(ws->arg, ws, code);
}

/* Drop the connection now (the owner is told first if it was not yet). */
static void ws_finish(pf_ws *ws, int code, const char *why)
{
	static const struct timeval zero = {0, 0};
	if (ws->state == WS_DEAD)
		return;
	ws_notify_close(ws, code);
	ws->state = WS_DEAD;
	pf_debug("ws %llu: closed (%s)", (unsigned long long)ws->id, why);
	evtimer_del(ws->ping_timer);
	evtimer_del(ws->defer);
	bufferevent_disable(ws->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(ws->bev, NULL, NULL, NULL, NULL);
	if (event_base_once(bufferevent_get_base(ws->bev), -1, EV_TIMEOUT, ws_free_cb, ws, &zero) <
	    0)
		pf_error("ws %llu: cannot schedule free", (unsigned long long)ws->id);
}

/* ------------------------------------------------------------ wslay glue */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	pf_ws *ws = user;
	int n = evbuffer_remove(bufferevent_get_input(ws->bev), buf, len);
	if (n <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

/*
 * Always takes the whole buffer, so the output holds only whole frames and
 * a close frame of our own can be appended after a protocol error.
 * Backpressure is applied before wslay_event_send() is called (ws_send).
 */
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
	pf_ws *ws = user;
	if (evbuffer_add(bufferevent_get_output(ws->bev), data, len) < 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	ws->sent += len;
	return (ssize_t)len;
}

/* Move queued messages to the socket buffer while it is not too full. */
static int ws_send(pf_ws *ws)
{
	if (!wslay_event_want_write(ws->ctx) ||
	    evbuffer_get_length(bufferevent_get_output(ws->bev)) >= PF_WS_WRITE_CHUNK)
		return 0;
	return wslay_event_send(ws->ctx);
}

static void ws_protocol_error(pf_ws *ws);

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                   void *user)
{
	pf_ws *ws = user;
	switch (m->opcode) {
	case WSLAY_TEXT_FRAME:
		if (ws->state == WS_OPEN && ws->h.on_text)
			ws->h.on_text(ws->arg, ws, (const char *)m->msg, m->msg_length);
		break;
	case WSLAY_BINARY_FRAME:
		if (ws->state == WS_OPEN) {
			const char r[] = "binary frames not supported";
			wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA,
			                        (const uint8_t *)r, sizeof(r) - 1);
		}
		break;
	case WSLAY_PONG: ws->pong_due = false; break;
	case WSLAY_CONNECTION_CLOSE:
		if (m->msg_length == 1) {
			/* a close payload is empty or a 2-byte code (RFC 6455 5.5.1);
			 * wslay reads one byte as "no code" and echoes that */
			ws_protocol_error(ws);
			break;
		}
		ws_notify_close(ws, m->status_code ? m->status_code : WSLAY_CODE_NO_STATUS_RCVD);
		break;
	default: break;
	}
}

/*
 * wslay met a frame it cannot parse (fragmented or oversized control frame,
 * bad length...). It queued a close without a status code; send 1002
 * ourselves instead and stop both directions.
 */
static void ws_protocol_error(pf_ws *ws)
{
	static const unsigned char close_1002[4] = {0x88, 0x02, 0x03, 0xea};
	wslay_event_shutdown_read(ws->ctx);
	wslay_event_shutdown_write(ws->ctx);
	if (!wslay_event_get_close_sent(ws->ctx)) {
		evbuffer_add(bufferevent_get_output(ws->bev), close_1002, sizeof(close_1002));
		ws->close_written = true;
	}
	ws_notify_close(ws, WSLAY_CODE_PROTOCOL_ERROR);
}

/* Run wslay both ways, then see whether the connection is over. */
static void ws_io(pf_ws *ws)
{
	if (ws->state == WS_DEAD)
		return;
	if (!wslay_event_get_read_enabled(ws->ctx)) {
		/* we closed on an error: what the peer still sends is dropped, so
		 * neither memory grows nor our close frame gets lost to a reset */
		struct evbuffer *in = bufferevent_get_input(ws->bev);
		evbuffer_drain(in, evbuffer_get_length(in));
	} else if (wslay_event_want_read(ws->ctx)) {
		int r = wslay_event_recv(ws->ctx);
		if (r == WSLAY_ERR_NOMEM) {
			ws_finish(ws, WSLAY_CODE_ABNORMAL_CLOSURE, "out of memory");
			return;
		}
		if (r != 0)
			ws_protocol_error(ws);
	}
	if (ws->state == WS_DEAD)
		return;
	if (pf_ws_pending(ws) > PF_WS_SENDQ_MAX) {
		/* wslay answers every ping with a pong, queued whether or not the
		 * peer reads: one that pings and never reads would grow the queue
		 * without end. Like a full send queue, the peer is dropped (its
		 * close frame would not get through either). */
		pf_warn("ws %llu: send queue over %d bytes (pongs to a peer that does not read); "
		        "dropping",
		        (unsigned long long)ws->id, PF_WS_SENDQ_MAX);
		ws_finish(ws, WSLAY_CODE_POLICY_VIOLATION, "send queue full");
		return;
	}
	if (ws_send(ws) != 0) {
		ws_finish(ws, WSLAY_CODE_ABNORMAL_CLOSURE, "send failed");
		return;
	}
	bool close_out = ws->close_written || wslay_event_get_close_sent(ws->ctx);
	if (close_out && ws->state == WS_OPEN) {
		/* wslay closed on its own: message too big, bad opcode, no mask... */
		int code = wslay_event_get_status_code_sent(ws->ctx);
		ws_notify_close(ws, code ? code : WSLAY_CODE_NO_STATUS_RCVD);
	}
	bool out_empty = evbuffer_get_length(bufferevent_get_output(ws->bev)) == 0;
	bool read_done = wslay_event_get_close_received(ws->ctx) || ws->read_eof;
	if (close_out && read_done && out_empty) {
		ws_finish(ws, ws->close_code, "close handshake done");
	} else if (close_out && out_empty && !wslay_event_get_read_enabled(ws->ctx)) {
		/*
		 * Closed on an error while the peer may still be sending: closing
		 * the socket now with unread input would reset the connection
		 * and the peer could lose our close frame. Shut our side and
		 * wait (at most the close timeout) for the peer's EOF.
		 */
		if (!ws->shut) {
			shutdown(bufferevent_getfd(ws->bev), SHUT_WR);
			ws->shut = true;
		}
	} else if (ws->read_eof && !close_out) {
		ws_finish(ws, WSLAY_CODE_ABNORMAL_CLOSURE, "peer went away");
	}
}

static void ws_read_cb(struct bufferevent *bev, void *arg)
{
	ws_io(arg);
}

static void ws_write_cb(struct bufferevent *bev, void *arg)
{
	ws_io(arg);
}

static void ws_event_cb(struct bufferevent *bev, short what, void *arg)
{
	pf_ws *ws = arg;
	if (what & BEV_EVENT_ERROR) {
		ws_finish(ws, WSLAY_CODE_ABNORMAL_CLOSURE, "connection error");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		ws->read_eof = true;
		ws_io(ws);
	}
}

static void ws_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_ws *ws = arg;
	if (ws->state == WS_CLOSING) {
		ws_finish(ws, ws->close_code, "close timeout");
		return;
	}
	if (ws->pong_due) {
		ws_finish(ws, WSLAY_CODE_ABNORMAL_CLOSURE, "no pong");
		return;
	}
	struct wslay_event_msg ping = {.opcode = WSLAY_PING, .msg = NULL, .msg_length = 0};
	if (wslay_event_queue_msg(ws->ctx, &ping) == 0)
		ws->pong_due = true;
	struct timeval tv;
	ms_to_tv(ws->ping_ms, &tv);
	evtimer_add(ws->ping_timer, &tv);
	ws_io(ws);
}

static void ws_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_ws *ws = arg;
	if (ws->drop_code)
		ws_finish(ws, ws->drop_code, "send queue full");
	else
		ws_io(ws);
}

/* ------------------------------------------------------------ public */

pf_ws *pf_ws_accept(pf_http_req *req, const pf_ws_handlers *h, void *arg)
{
	const char *upgrade = pf_http_req_header(req, "Upgrade");
	const char *connection = pf_http_req_header(req, "Connection");
	const char *version = pf_http_req_header(req, "Sec-WebSocket-Version");
	const char *key = pf_http_req_header(req, "Sec-WebSocket-Key");
	char accept[29];
	if (strcmp(pf_http_req_method(req), "GET") != 0 || pf_http_req_has_body(req)) {
		pf_http_respond_error(req, 400, "websocket upgrade needs a GET without a body",
		                      NULL);
		return NULL;
	}
	if (!upgrade || !has_token(upgrade, "websocket") || !connection ||
	    !has_token(connection, "upgrade")) {
		pf_http_respond_error(req, 400, "not a websocket upgrade", NULL);
		return NULL;
	}
	if (!version || strcmp(version, "13") != 0) {
		if (pf_http_add_header(req, "Sec-WebSocket-Version", "13") != 0)
			pf_warn("ws: cannot add a header");
		pf_http_respond_error(req, 426, "unsupported websocket version", NULL);
		return NULL;
	}
	if (pf_ws_accept_key(key, accept) != 0) {
		pf_http_respond_error(req, 400, "invalid Sec-WebSocket-Key", NULL);
		return NULL;
	}
	pf_ws *ws = calloc(1, sizeof(*ws));
	struct wslay_event_callbacks cbs = {
	    .recv_callback = recv_cb,
	    .send_callback = send_cb,
	    .on_msg_recv_callback = msg_cb,
	};
	if (!ws)
		goto oom;
	ws->id = pf_http_req_conn_id(req);
	ws->h = *h;
	ws->arg = arg;
	ws->ping_ms = PF_WS_PING_INTERVAL_MS;
	struct event_base *base = pf_http_req_base(req);
	ws->ping_timer = evtimer_new(base, ws_timer_cb, ws);
	ws->defer = evtimer_new(base, ws_defer_cb, ws);
	if (!ws->ping_timer || !ws->defer ||
	    wslay_event_context_server_init(&ws->ctx, &cbs, ws) != 0)
		goto oom;
	wslay_event_config_set_max_recv_msg_length(ws->ctx, PF_WS_MESSAGE_MAX);
	ws->bev = pf_http_req_detach(req, &ws->access);
	if (!ws->bev) {
		/* the connection is gone (or the head was not complete): nothing to answer */
		pf_http_respond_error(req, 400, "connection not upgradable", NULL);
		goto fail;
	}
	evbuffer_add_printf(bufferevent_get_output(ws->bev),
	                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	                    accept);
	bufferevent_setcb(ws->bev, ws_read_cb, ws_write_cb, ws_event_cb, ws);
	bufferevent_enable(ws->bev, EV_READ | EV_WRITE);
	struct timeval tv;
	ms_to_tv(ws->ping_ms, &tv);
	evtimer_add(ws->ping_timer, &tv);
	/* frames that came with the head are read on the next turn, after the owner has ws */
	static const struct timeval zero = {0, 0};
	evtimer_add(ws->defer, &zero);
	pf_debug("ws %llu: open", (unsigned long long)ws->id);
	return ws;
oom:
	pf_http_respond_error(req, 503, "out of memory", NULL);
fail:
	if (ws) {
		if (ws->ctx)
			wslay_event_context_free(ws->ctx);
		if (ws->ping_timer)
			event_free(ws->ping_timer);
		if (ws->defer)
			event_free(ws->defer);
		free(ws);
	}
	return NULL;
}

size_t pf_ws_pending(const pf_ws *ws)
{
	return evbuffer_get_length(bufferevent_get_output(ws->bev)) +
	       wslay_event_get_queued_msg_length(ws->ctx) +
	       wslay_event_get_queued_msg_count(ws->ctx) * PF_WS_FRAME_COST;
}

int pf_ws_send_text(pf_ws *ws, const char *data, size_t len)
{
	if (ws->state != WS_OPEN || ws->drop_code)
		return PF_ECLOSED;
	size_t pending = pf_ws_pending(ws);
	if (pending > PF_WS_SENDQ_MAX || len > PF_WS_SENDQ_MAX - pending) {
		/* the peer does not read: a close frame would not get through either */
		static const struct timeval zero = {0, 0};
		pf_warn("ws %llu: send queue over %d bytes; dropping", (unsigned long long)ws->id,
		        PF_WS_SENDQ_MAX);
		ws->drop_code = WSLAY_CODE_POLICY_VIOLATION;
		evtimer_add(ws->defer, &zero);
		return PF_ELIMIT;
	}
	struct wslay_event_msg msg = {
	    .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)data, .msg_length = len};
	int r = wslay_event_queue_msg(ws->ctx, &msg);
	if (r == WSLAY_ERR_NOMEM)
		return PF_ENOMEM;
	if (r != 0)
		return PF_ECLOSED;
	/* write now: no owner callback can run from here */
	if (ws_send(ws) != 0) {
		static const struct timeval zero = {0, 0};
		evtimer_add(ws->defer, &zero); /* ws_io finishes it on a later turn */
		return PF_ECLOSED;
	}
	return 0;
}

void pf_ws_close(pf_ws *ws, int code, const char *reason)
{
	if (ws->state != WS_OPEN)
		return;
	size_t rlen = reason ? strlen(reason) : 0;
	if (rlen > 123) /* a control frame carries at most 125 bytes */
		rlen = 123;
	wslay_event_queue_close(ws->ctx, (uint16_t)code, (const uint8_t *)reason, rlen);
	/* on_close comes on a later turn (ws_io sees the close sent): never inside this call */
	static const struct timeval zero = {0, 0};
	evtimer_add(ws->defer, &zero);
}

uint64_t pf_ws_id(const pf_ws *ws)
{
	return ws->id;
}

void pf_ws_set_ping_interval(pf_ws *ws, unsigned ms)
{
	ws->ping_ms = ms;
	struct timeval tv;
	ms_to_tv(ms, &tv);
	if (ws->state == WS_OPEN)
		evtimer_add(ws->ping_timer, &tv);
}

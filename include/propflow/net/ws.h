/*
 * ws.h - WebSocket server side (RFC 6455) on a bufferevent, framing by
 * wslay, handshake accept key by libcrypto (SHA-1 + base64).
 *
 * Ping is answered with pong, close is answered and the connection
 * closed; the server pings idle peers. Text frames from the client are
 * capped (PF_WS_MESSAGE_MAX, close 1009 past it); a close frame with a
 * 1-byte payload is a protocol error (1002). Outgoing data is bounded:
 * once more than PF_WS_SENDQ_MAX bytes wait for a slow reader (our
 * messages, and the pongs wslay queues for the peer's pings, each frame
 * counted with its overhead) the connection is dropped (on_close gets
 * 1008), since progress frames are coalesced and a fresh snapshot is sent
 * on reconnect.
 *
 * Ownership: pf_ws owns its bufferevent and wslay context. It is freed by
 * the module itself after on_close returns (never inside a libevent
 * callback of its own); the owner must drop its pointer in on_close.
 */
#ifndef PROPFLOW_WS_H
#define PROPFLOW_WS_H

#include "propflow/base/common.h"
#include "propflow/net/http.h"

#define PF_WS_MESSAGE_MAX      (64 * 1024)
#define PF_WS_SENDQ_MAX        (1024 * 1024)
#define PF_WS_PING_INTERVAL_MS 30000

typedef struct pf_ws pf_ws;

typedef struct pf_ws_handlers {
	/* A complete text message from the client (may be NULL). */
	void (*on_text)(void *arg, pf_ws *ws, const char *data, size_t len);
	/* The connection is closing or closed; code is the close code. */
	void (*on_close)(void *arg, pf_ws *ws, int code);
} pf_ws_handlers;

/*
 * Validates an upgrade request (GET, Upgrade: websocket, Connection:
 * upgrade, Sec-WebSocket-Version: 13, a 16-byte base64 key). If invalid,
 * responds 400 (426 for a wrong version) itself and returns NULL. Else
 * sends 101, takes the connection (the request is finished) and returns
 * the socket.
 */
pf_ws *pf_ws_accept(pf_http_req *req, const pf_ws_handlers *h, void *arg);

/* Queue a text message. Returns 0, PF_ECLOSED, or PF_ELIMIT (queue over
 * PF_WS_SENDQ_MAX: the connection is being closed). */
PF_MUST_CHECK int pf_ws_send_text(pf_ws *ws, const char *data, size_t len);
/* Start a close handshake with code and reason. */
void pf_ws_close(pf_ws *ws, int code, const char *reason);
/* Bytes waiting to be written, queued frames counted with their overhead. */
size_t pf_ws_pending(const pf_ws *ws);
uint64_t pf_ws_id(const pf_ws *ws);
/* Change the ping interval (default PF_WS_PING_INTERVAL_MS); used by tests. */
void pf_ws_set_ping_interval(pf_ws *ws, unsigned ms);

/* Sec-WebSocket-Accept for a key (out: 29 bytes incl. NUL). Pure. */
PF_MUST_CHECK int pf_ws_accept_key(const char *key, char out[29]);

#endif

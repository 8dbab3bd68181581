/*
 * http.c - a connection of the HTTP/1.1 server: one bufferevent, Node's
 * http-parser for framing (with the checks nginx makes and a lax
 * http-parser does not), its timers, the request body and the response.
 * Accepting and the connection caps are http_server.c's.
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
 *
 * The connection's states and every side effect of entering one (timers,
 * reading, closing, lingering, the dead list) are http_conn.c's; the
 * request itself (head storage, decoding, accessors, response text) is
 * http_req.c's, the access log http_access.c's; http_internal.h holds what
 * the files share.
 */
#include "http_internal.h"
#include "propflow/base/log.h"
#include "propflow/base/tally.h"
#include "propflow/net/proxy.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* ------------------------------------------------------------ parser callbacks */

static int on_message_begin(http_parser *p)
{
	pf_http_conn *c = p->data;
	c->msg_begun = true;
	c->msg_done = false;
	c->crlf_due = 0;
	if (c->building)
		pf_http_req_unref(c->building);
	c->building = pf_http_req_new(c, c->srv->base, c->id, c->peer);
	if (!c->building) {
		c->error_status = 503;
		return -1;
	}
	struct timeval tv;
	pf_http_ms_to_tv(c->srv->lim.header_timeout_ms, &tv);
	evtimer_add(c->timer, &tv);
	return 0;
}

/* A head storage result (0 or an HTTP status) as a parser callback's. */
static int head_status(pf_http_conn *c, int status)
{
	if (!status)
		return 0;
	c->error_status = status;
	return -1;
}

/* Refuse the head with 400 and a reason, from a parser callback. */
static int head_refuse(pf_http_conn *c, const char *detail)
{
	c->error_detail = detail;
	return head_status(c, 400);
}

/* RFC 9110 tchar: what a header name may hold. http-parser, built lax,
 * lets a space through ("Bad Name: x"), which a proxy in front of us may
 * read otherwise: refused, as nginx does. */
static bool is_tchar(unsigned char ch)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch && strchr(extra, ch));
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	pf_http_conn *c = p->data;
	return head_status(c, pf_http_req_head_url(c->building, c->srv->lim.url_max, at, len));
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	pf_http_conn *c = p->data;
	c->value_line_ended = false;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)at[i]))
			return head_refuse(c, "invalid character in a header name");
	if (!c->building)
		return 0; /* chunked trailers: ignored (http-parser caps their size) */
	return head_status(c, pf_http_req_head_field(c->building, &c->srv->lim, at, len));
}

/*
 * http-parser, built lax, takes a line that starts with a space or tab as
 * the continuation of the previous value (obs-fold, RFC 9112 5.2) and
 * hands it over as more of that value. A value also arrives in pieces when
 * it is split between two reads; the two differ in that a folded piece
 * comes after the value already reached its line end (the callback fired
 * at the CR, before the end of the parsed segment). Refused, as nginx does.
 */
static int on_header_value(http_parser *p, const char *at, size_t len)
{
	pf_http_conn *c = p->data;
	if (c->value_line_ended)
		return head_refuse(c, "obsolete line folding in a header");
	c->value_line_ended = at + len < c->exec_end;
	if (!c->building)
		return 0; /* chunked trailers */
	return head_status(c, pf_http_req_head_value(c->building, &c->srv->lim, at, len));
}

/*
 * What a head must be beyond what http-parser checks, as nginx has it: a
 * version we speak, Host on HTTP/1.1 (exactly one), at most one
 * Transfer-Encoding and that one exactly "chunked" (http-parser would take
 * "gzip, chunked" as chunked and refuses the rest only after this
 * callback), at most one Content-Encoding and that one identity. Sets
 * error_status and error_detail and returns -1 on a refusal.
 */
static int head_check(pf_http_conn *c, const http_parser *p, const pf_http_req *req)
{
	/* one pass over the header index: Host, Transfer-Encoding, Content-Encoding */
	static const char *const names[3] = {"Host", "Transfer-Encoding", "Content-Encoding"};
	size_t n[3] = {0, 0, 0};
	const char *v[3] = {NULL, NULL, NULL};
	for (size_t i = 0; i < req->nhdr; i++) {
		const char *name = req->hbuf + req->hdr[i].name;
		for (size_t k = 0; k < 3; k++) {
			if (strcasecmp(name, names[k]) == 0 && n[k]++ == 0)
				v[k] = req->hbuf + req->hdr[i].value;
		}
	}
	c->error_status = 400;
	if (p->http_major != 1 || p->http_minor > 1) {
		c->error_status = 505;
		c->error_detail = "only HTTP/1.0 and HTTP/1.1 are spoken here";
		return -1;
	}
	if (n[0] > 1 || (n[0] == 0 && p->http_minor == 1)) {
		c->error_detail =
		    n[0] ? "more than one Host header" : "HTTP/1.1 request without Host";
		return -1;
	}
	if (n[1] > 1) {
		c->error_detail = "more than one Transfer-Encoding header";
		return -1;
	}
	if (n[1] == 1 && strcasecmp(v[1], "chunked") != 0) {
		c->error_status = 501;
		c->error_detail = "only Transfer-Encoding: chunked is accepted";
		return -1;
	}
	/* a compressed body would have to be inflated to be read, and a small
	 * one can inflate without bound: refuse every coding */
	if (n[2] > 1) {
		c->error_detail = "more than one Content-Encoding header";
		return -1;
	}
	if (v[2] && *v[2] && strcasecmp(v[2], "identity") != 0) {
		c->error_status = 415;
		c->error_detail = "only identity is accepted: send the file uncompressed";
		return -1;
	}
	c->error_status = 0;
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	pf_http_conn *c = p->data;
	pf_http_req *req = c->building;
	if (head_status(c, pf_http_req_head_complete(req, &c->srv->lim)) < 0)
		return -1;
	int status = pf_http_req_finish_head(req, p->method == HTTP_CONNECT);
	if (status) {
		c->error_detail = status == 400 ? "invalid request target" : NULL;
		c->error_status = status;
		return -1;
	}
	if (head_check(c, p, req) != 0)
		return -1;
	req->method = http_method_str((enum http_method)p->method);
	req->is_head = p->method == HTTP_HEAD;
	pf_proxy_resolve(c->srv->lim.proxies, req->peer, pf_http_req_header(req, "X-Forwarded-For"),
	                 pf_http_req_header(req, "X-Forwarded-Proto"), req->client, &req->https);
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

/* Check the bytes of a chunk's trailing CRLF that lie in [p, end). */
static bool crlf_check(pf_http_conn *c, const char *p, const char *end)
{
	for (; c->crlf_due > 0 && p < end; p++, c->crlf_due--)
		if (*p != (c->crlf_due == 2 ? '\r' : '\n'))
			return false;
	return true;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	pf_http_conn *c = p->data;
	pf_http_req *req = c->req;
	if (!req || req->body != BODY_READING) {
		/* cannot happen: the parser only runs past a head once the body is wanted */
		c->pending_abort = PF_HTTP_ABORT_MALFORMED;
		return -1;
	}
	if (len > req->body_max - req->body_read) {
		c->pending_abort = PF_HTTP_ABORT_TOO_LARGE;
		return -1;
	}
	if ((p->flags & F_CHUNKED) && p->content_length == 0) {
		/* the chunk's data ends here: CRLF must follow, which http-parser
		 * built lax does not check (a smuggling shape) */
		c->crlf_due = 2;
		if (!crlf_check(c, at + len, c->exec_end)) {
			c->pending_abort = PF_HTTP_ABORT_MALFORMED;
			return -1;
		}
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
		pf_http_conn_set_state(c, CONN_WAIT);
		req->end_cb(req->body_arg, req);
	}
	/* one request at a time: conn_process() decides whether to go on */
	http_parser_pause(p, 1);
	return 0;
}

/* ------------------------------------------------------------- responses */

void pf_http_respond(pf_http_req *req, int status, const char *content_type, const void *body,
                     size_t len)
{
	if (req->finished || req->streaming) {
		pf_warn("conn %llu: second response ignored", (unsigned long long)req->conn_id);
		return;
	}
	req->finished = true;
	pf_http_conn *c = req->conn;
	if (c && c->bev) {
		bool complete = req->body == BODY_NONE || req->body == BODY_DONE;
		bool keep =
		    c->keep_alive && !c->must_close && complete && !c->read_eof && c->srv->fd >= 0;
		pf_http_write_response(bufferevent_get_output(c->bev), status, content_type, body,
		                       len, keep, req->is_head, req);
		pf_http_access_log(c->srv->lim.access_log, req, status, req->is_head ? 0 : len);
		pf_http_meters_request(c->srv, req, status);
		c->req = NULL;
		req->conn = NULL;
		if (!keep) {
			pf_http_conn_close(c, complete ? "closed after response"
			                               : "response before body");
		} else {
			pf_http_conn_set_state(c, CONN_HEAD);
			pf_http_conn_schedule(c);
		}
	} else {
		pf_debug("conn %llu: %s response %d dropped: client gone",
		         (unsigned long long)req->conn_id, req->method, status);
	}
	pf_http_req_unref(req);
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
	pf_http_respond_json_owned(req, status, pf_http_error_json(msg, detail_json));
}

/* ------------------------------------------------------- streamed responses */

bool pf_http_req_is_head(const pf_http_req *req)
{
	return req->is_head;
}

int pf_http_stream_begin(pf_http_req *req, int status, const char *content_type, int64_t length,
                         bool gzip_ok, pf_http_writable_cb cb, void *arg)
{
	if (req->finished || req->streaming)
		return PF_EINVAL;
	pf_http_conn *c = req->conn;
	/* HEAD announces what GET would send, without compressing anything */
	bool gzip = gzip_ok && pf_gzip_accepted(pf_http_req_header(req, "Accept-Encoding"));
	if (gzip && !req->is_head) {
		req->gz = pf_gzip_new();
		req->zbuf = evbuffer_new();
		if (!req->gz || !req->zbuf) {
			pf_gzip_free(req->gz);
			req->gz = NULL;
			return PF_ENOMEM;
		}
	}
	if (gzip)
		length = -1; /* the compressed length is known only at the end */
	req->streaming = true;
	req->stream_status = status;
	req->writable_cb = cb;
	req->writable_arg = arg;
	if (!c || !c->bev)
		return 0; /* gone already: the abort callback tells the producer */
	bool complete = req->body == BODY_NONE || req->body == BODY_DONE;
	bool http11 = c->parser.http_major == 1 && c->parser.http_minor >= 1;
	req->stream_chunked = length < 0 && http11;
	/* HTTP/1.0 without a length: the end of the body is the end of the
	 * connection */
	req->stream_keep = c->keep_alive && !c->must_close && complete && !c->read_eof &&
	                   c->srv->fd >= 0 && (length >= 0 || req->stream_chunked);
	pf_http_write_head(bufferevent_get_output(c->bev), status, content_type, length,
	                   req->stream_chunked, gzip, gzip_ok, req->stream_keep, req);
	pf_http_conn_set_state(c, CONN_STREAM);
	return 0;
}

bool pf_http_stream_room(const pf_http_req *req)
{
	const pf_http_conn *c = req->conn;
	return c && c->bev &&
	       evbuffer_get_length(bufferevent_get_output(c->bev)) < PF_HTTP_STREAM_HIGH;
}

/* Frame and queue the bytes of src (drained): one chunk when chunked. */
static int stream_queue(pf_http_req *req, struct evbuffer *out, struct evbuffer *src)
{
	size_t n = evbuffer_get_length(src);
	if (n == 0)
		return 0;
	req->stream_bytes += n;
	if (req->is_head) {
		evbuffer_drain(src, n);
		return 0;
	}
	if (req->stream_chunked && evbuffer_add_printf(out, "%zx\r\n", n) < 0)
		return PF_ENOMEM;
	if (evbuffer_add_buffer(out, src) != 0)
		return PF_ENOMEM;
	if (req->stream_chunked && evbuffer_add(out, "\r\n", 2) != 0)
		return PF_ENOMEM;
	return 0;
}

/* After a write: room, or wait for the writable callback. */
static int stream_after_write(pf_http_req *req, struct evbuffer *out)
{
	if (evbuffer_get_length(out) < PF_HTTP_STREAM_HIGH)
		return 0;
	req->want_writable = true;
	return PF_HTTP_FULL;
}

int pf_http_stream_add_buffer(pf_http_req *req, struct evbuffer *buf)
{
	pf_http_conn *c = req->conn;
	if (!req->streaming || !c || !c->bev || c->state != CONN_STREAM) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return PF_ECLOSED;
	}
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int rc = 0;
	if (req->gz) {
		struct evbuffer_iovec v[8];
		while (rc == 0 && evbuffer_get_length(buf) > 0) {
			int k = evbuffer_peek(buf, -1, NULL, v, 8);
			size_t used = 0;
			for (int i = 0; i < k && i < 8 && rc == 0; i++) {
				rc = pf_gzip_write(req->gz, v[i].iov_base, v[i].iov_len, req->zbuf);
				used += v[i].iov_len;
			}
			evbuffer_drain(buf, used);
		}
		rc = rc ? rc : stream_queue(req, out, req->zbuf);
	} else {
		rc = stream_queue(req, out, buf);
	}
	if (rc != 0)
		return rc;
	return stream_after_write(req, out);
}

int pf_http_stream_write(pf_http_req *req, const void *data, size_t len)
{
	pf_http_conn *c = req->conn;
	if (!req->streaming || !c || !c->bev || c->state != CONN_STREAM)
		return PF_ECLOSED;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int rc;
	if (req->gz) {
		rc = pf_gzip_write(req->gz, data, len, req->zbuf);
		rc = rc ? rc : stream_queue(req, out, req->zbuf);
	} else if (len == 0) {
		rc = 0;
	} else {
		/* copied once, into the output, as a chunk of its own */
		req->stream_bytes += len;
		if (req->is_head)
			return 0;
		rc = req->stream_chunked && evbuffer_add_printf(out, "%zx\r\n", len) < 0 ? PF_ENOMEM
		                                                                         : 0;
		rc = rc ? rc : (evbuffer_add(out, data, len) != 0 ? PF_ENOMEM : 0);
		rc =
		    rc ? rc
		       : (req->stream_chunked && evbuffer_add(out, "\r\n", 2) != 0 ? PF_ENOMEM : 0);
	}
	if (rc != 0)
		return rc;
	return stream_after_write(req, out);
}

/* Detach a finished stream from its connection: the access line, then
 * the next request or closing. */
static void stream_finish(pf_http_req *req, pf_http_conn *c, bool ok, const char *why)
{
	pf_http_access_log(c->srv->lim.access_log, req, req->stream_status,
	                   (size_t)req->stream_bytes);
	pf_http_meters_request(c->srv, req, req->stream_status);
	c->req = NULL;
	req->conn = NULL;
	if (ok && req->stream_keep) {
		pf_http_conn_set_state(c, CONN_HEAD);
		pf_http_conn_schedule(c);
	} else {
		c->must_close = true;
		pf_http_conn_close(c, why);
	}
}

void pf_http_stream_end(pf_http_req *req)
{
	if (!req->streaming || req->finished) {
		pf_warn("conn %llu: stream end without a stream", (unsigned long long)req->conn_id);
		return;
	}
	req->finished = true;
	req->streaming = false;
	pf_http_conn *c = req->conn;
	if (c && c->bev && c->state == CONN_STREAM) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		bool ok = true;
		if (req->gz && !req->is_head)
			ok = pf_gzip_finish(req->gz, req->zbuf) == 0 &&
			     stream_queue(req, out, req->zbuf) == 0;
		if (ok && req->stream_chunked && !req->is_head)
			ok = evbuffer_add(out, "0\r\n\r\n", 5) == 0;
		stream_finish(req, c, ok, ok ? "closed after stream" : "stream cut: out of memory");
	} else {
		pf_debug("conn %llu: %s stream of %llu bytes ended: client gone",
		         (unsigned long long)req->conn_id, req->method,
		         (unsigned long long)req->stream_bytes);
	}
	pf_http_req_unref(req);
}

void pf_http_stream_fail(pf_http_req *req, const char *why)
{
	if (!req->streaming || req->finished)
		return;
	req->finished = true;
	req->streaming = false;
	pf_http_conn *c = req->conn;
	if (c && c->bev && c->state == CONN_STREAM) {
		pf_warn("conn %llu: stream cut after %llu bytes: %s", (unsigned long long)c->id,
		        (unsigned long long)req->stream_bytes, why);
		stream_finish(req, c, false, why);
	}
	pf_http_req_unref(req);
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
		pf_http_req_defer_abort(req, PF_HTTP_ABORT_CLOSED);
		return;
	}
	req->body_max = body_max ? body_max : c->srv->lim.body_max;
	if (req->content_length >= 0 && (uint64_t)req->content_length > req->body_max) {
		req->body = BODY_ABORTED;
		c->must_close = true;
		pf_http_conn_set_state(c, CONN_WAIT);
		pf_http_req_defer_abort(req, PF_HTTP_ABORT_TOO_LARGE);
		return;
	}
	const char *expect = pf_http_req_header(req, "Expect");
	if (expect && strcasecmp(expect, "100-continue") == 0 && req->body == BODY_UNREAD &&
	    c->parser.http_major == 1 && c->parser.http_minor >= 1)
		evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
	req->body = BODY_READING;
	c->body_paused = false;
	/* without credentials nobody is owed the time a slow body takes: a
	 * whole-body deadline, so that slow senders cannot hold the connection
	 * cap (the idle timeout alone restarts with every byte) */
	c->has_deadline = !req->trusted && c->srv->lim.unauth_body_timeout_ms > 0;
	if (c->has_deadline) {
		unsigned ms = c->srv->lim.unauth_body_timeout_ms;
		clock_gettime(CLOCK_MONOTONIC, &c->body_deadline);
		c->body_deadline.tv_sec += ms / 1000;
		c->body_deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (c->body_deadline.tv_nsec >= 1000000000L) {
			c->body_deadline.tv_sec++;
			c->body_deadline.tv_nsec -= 1000000000L;
		}
	}
	pf_http_conn_set_state(c, CONN_BODY);
	pf_http_conn_schedule(c);
}

void pf_http_req_resume(pf_http_req *req)
{
	req->resume_pending = true;
	if (req->conn)
		pf_http_conn_schedule(req->conn);
}

void pf_http_req_on_abort(pf_http_req *req, pf_http_abort_cb cb, void *arg)
{
	req->abort_cb = cb;
	req->abort_arg = arg;
	if (!req->conn && !req->abort_fired && !req->finished)
		pf_http_req_defer_abort(req, PF_HTTP_ABORT_CLOSED);
}

/* -------------------------------------------------------------- connections */
static void conn_dispatch(pf_http_conn *c)
{
	pf_http_conn_set_state(c, CONN_HANDLER);
	c->srv->cb(c->srv->arg, c->req);
}

/* The parser stopped with an error (not a pause). */
static void conn_parse_failed(pf_http_conn *c, enum http_errno e)
{
	pf_http_req *req = c->req;
	if (req) {
		/* inside a body the handler owns the request and answers it */
		pf_http_abort reason =
		    c->pending_abort ? c->pending_abort : PF_HTTP_ABORT_MALFORMED;
		c->pending_abort = 0;
		c->must_close = true;
		pf_http_conn_set_state(c, CONN_WAIT);
		req->refs++;
		pf_http_req_fire_abort(req, reason);
		pf_http_req_unref(req);
		return;
	}
	int status = c->error_status ? c->error_status : 400;
	if (e == HPE_HEADER_OVERFLOW)
		status = 431;
	switch (status) {
	case 414: pf_http_conn_fail(c, 414, "request target too long", NULL); break;
	case 431: pf_http_conn_fail(c, 431, "request headers too large", NULL); break;
	case 415: pf_http_conn_fail(c, 415, "unsupported content-encoding", c->error_detail); break;
	case 501:
		pf_http_conn_fail(c, 501, "unsupported transfer-encoding", c->error_detail);
		break;
	case 503: pf_http_conn_fail(c, 503, "out of memory", NULL); break;
	case 505: pf_http_conn_fail(c, 505, "unsupported HTTP version", c->error_detail); break;
	default:
		pf_http_conn_fail(c, 400, "bad request",
		                  c->error_detail ? c->error_detail : http_errno_description(e));
		break;
	}
}

/* Input ended and every buffered byte was parsed. */
static void conn_input_ended(pf_http_conn *c)
{
	switch (c->state) {
	case CONN_HEAD:
		pf_http_conn_close(c,
		                   c->msg_begun ? "client closed inside a head" : "client closed");
		break;
	case CONN_BODY:
		pf_http_conn_kill(c, "client closed inside a body", PF_HTTP_ABORT_CLOSED);
		break;
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
			pf_http_conn_close(c, "parser failed");
			break;
		}
		c->exec_begin = v.iov_base;
		c->exec_end = c->exec_begin + v.iov_len;
		if (c->crlf_due && !crlf_check(c, c->exec_begin, c->exec_end)) {
			/* a chunk's data was not followed by CRLF (seen in this read) */
			c->pending_abort = PF_HTTP_ABORT_MALFORMED;
			conn_parse_failed(c, HPE_INVALID_CHUNK_SIZE);
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
				pf_http_conn_set_state(c,
				                       CONN_BODY); /* stop the timer and reading */
			}
			continue;
		}
		if (e != HPE_OK) {
			conn_parse_failed(c, e);
			break;
		}
		if (c->parser.upgrade) {
			/* the rest is another protocol and nobody took it */
			pf_http_conn_close(c, "upgrade not taken");
			break;
		}
	}
}

/* Parse buffered input while the state allows it. */
static void conn_process(pf_http_conn *c)
{
	conn_parse(c);
	pf_http_conn_update_read(c);
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
	if (c->state == CONN_BODY && !c->body_paused)
		pf_http_conn_arm_body_timer(c);
	conn_process(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	pf_http_conn *c = arg;
	if (c->state == CONN_CLOSING) {
		pf_http_conn_linger(c);
	} else if (c->state == CONN_STREAM) {
		/* under the low mark (the write watermark of CONN_STREAM): the
		 * producer is called from the defer event, not from here */
		if (c->req && c->req->want_writable)
			pf_http_conn_schedule(c);
	} else if (c->out_blocked) {
		c->out_blocked = false;
		pf_http_conn_schedule(c);
	}
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	pf_http_conn *c = arg;
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_WRITING)) {
		/* CONN_STREAM's write timeout: the client read nothing for that long */
		pf_info("conn %llu: %s: read nothing of a stream for %u ms",
		        (unsigned long long)c->id, c->peer, c->srv->lim.idle_timeout_ms);
		pf_http_conn_kill(c, "write timeout", PF_HTTP_ABORT_TIMEOUT);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		pf_http_conn_kill(c,
		                  (what & BEV_EVENT_WRITING) ? "write failed" : "connection reset",
		                  PF_HTTP_ABORT_CLOSED);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		c->read_eof = true;
		if (c->state == CONN_CLOSING) {
			if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
				pf_http_conn_set_state(c, CONN_DEAD);
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
			pf_http_conn_fail(c, 408, "request timeout", NULL);
		} else {
			size_t out = evbuffer_get_length(bufferevent_get_output(c->bev));
			if (out > 0 && out < c->out_seen) {
				/* a slow reader still making progress */
				pf_http_conn_set_state(c, CONN_HEAD);
				c->out_seen = out;
			} else {
				pf_http_conn_close(c, "idle timeout");
			}
		}
		break;
	case CONN_BODY:
		if (c->req) {
			pf_http_req *req = c->req;
			if (c->has_deadline && pf_http_ms_since(&c->body_deadline) >= 0)
				pf_info("conn %llu: %s: an unauthenticated body not complete "
				        "within %u ms",
				        (unsigned long long)c->id, c->peer,
				        c->srv->lim.unauth_body_timeout_ms);
			c->must_close = true;
			pf_http_conn_set_state(c, CONN_WAIT);
			req->refs++;
			pf_http_req_fire_abort(req, PF_HTTP_ABORT_TIMEOUT);
			pf_http_req_unref(req);
		}
		break;
	case CONN_CLOSING: pf_http_conn_set_state(c, CONN_DEAD); break;
	default: break;
	}
}

static void conn_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_http_conn *c = arg;
	if (c->state == CONN_STREAM && c->req && c->req->want_writable && c->bev &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) <= PF_HTTP_STREAM_LOW) {
		pf_http_req *req = c->req;
		req->want_writable = false;
		req->refs++;
		if (req->writable_cb)
			req->writable_cb(req->writable_arg, req);
		pf_http_req_unref(req);
		return;
	}
	if (c->state == CONN_BODY && c->body_paused && c->req && c->req->resume_pending) {
		c->req->resume_pending = false;
		c->body_paused = false;
		pf_http_conn_set_state(c, CONN_BODY);
	}
	if (c->state == CONN_HEAD || c->state == CONN_BODY)
		conn_process(c);
}

/* See http_internal.h. */
void pf_http_conn_new(pf_http_server *srv, int fd, const struct sockaddr_storage *ss, int reject,
                      const uint8_t *key, size_t aklen)
{
	pf_http_conn *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->srv = srv;
	c->id = ++srv->next_id;
	c->rejecting = reject != 0;
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
	pf_http_meters_watch(srv, c->bev);
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	if (reject) {
		srv->nreject++;
	} else {
		srv->nconns++;
		if (srv->per_addr && aklen > 0 && pf_tally_add(srv->per_addr, key, aklen) == 0) {
			memcpy(c->akey, key, aklen);
			c->aklen = (uint8_t)aklen;
			c->addr_counted = true;
		}
	}
	pf_debug("conn %llu: open from %s", (unsigned long long)c->id, c->peer);
	c->state = CONN_HEAD;
	pf_http_conn_set_state(c, CONN_HEAD);
	if (reject == 429)
		pf_http_conn_fail(c, 429, "too many connections from your address", NULL);
	else if (reject)
		pf_http_conn_fail(c, 503, "too many connections", NULL);
	return;
fail:
	close(fd);
	pf_error("http: out of memory for a connection");
}

/* ------------------------------------------------------------------ detach */

struct bufferevent *pf_http_req_detach(pf_http_req *req, pf_http_access **access)
{
	pf_http_conn *c = req->conn;
	if (!c || !c->bev || req->finished || c->req != req)
		return NULL;
	if (!c->msg_done) {
		/* the parser stopped just before the head's last byte: finish the head */
		struct evbuffer *in = bufferevent_get_input(c->bev);
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) >= 1) {
			c->exec_begin = v.iov_base;
			c->exec_end = c->exec_begin + v.iov_len;
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
	if (access)
		*access = pf_http_access_new(c->srv->lim.access_log, req, c->srv->upg);
	pf_http_meters_request(c->srv, req, 101);
	c->req = NULL;
	req->conn = NULL;
	c->close_reason = "upgraded";
	pf_http_conn_set_state(c, CONN_DEAD);
	pf_http_req_unref(req);
	return bev;
}

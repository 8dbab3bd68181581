/*
 * http_conn.c - the state machine of an HTTP connection (see
 * http_internal.h): pf_http_conn_set_state() does every side effect of
 * entering a state (the timer, whether the socket is read, the priority,
 * the move to the dead list), and the ways a connection ends: an error the
 * server answers itself, closing after the output drained and lingering,
 * and being killed when the peer is gone. A dying connection is marked
 * CONN_DEAD and freed by the server's reaper event (http_server.c) on the
 * same loop turn, never inside its own callback.
 *
 * Nothing here parses or reads: http.c drives the parser and the socket
 * callbacks and calls in; this file calls only down, into http_req.c.
 */
#include "http_internal.h"
#include "propflow/base/log.h"
#include "propflow/base/tally.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define PF_HTTP_LINGER_MS 2000 /* read and discard after closing: the peer sees our answer */

/* An error answered by the server itself (no request handed out); then close. */
void pf_http_conn_fail(pf_http_conn *c, int status, const char *msg, const char *detail)
{
	char *detail_json = NULL;
	if (detail) {
		cJSON *s = cJSON_CreateString(detail);
		detail_json = s ? cJSON_PrintUnformatted(s) : NULL;
		cJSON_Delete(s);
	}
	char *json = pf_http_error_json(msg, detail_json);
	free(detail_json);
	const char *body = json ? json : "{\"error\":\"internal error\",\"detail\":null}";
	if (c->bev) {
		pf_http_write_response(bufferevent_get_output(c->bev), status, "application/json",
		                       body, strlen(body), false, false, NULL);
		pf_info("conn %llu: - - %d %zu 0ms", (unsigned long long)c->id, status,
		        strlen(body));
		pf_http_meters_request(c->srv, NULL, status);
	}
	free(json);
	pf_http_conn_close(c, msg);
}

void pf_http_conn_schedule(pf_http_conn *c)
{
	static const struct timeval zero = {0, 0};
	if (c->state != CONN_DEAD)
		evtimer_add(c->defer, &zero);
}

/*
 * Whether the socket is read. Not while the consumer paused the body, and
 * not while a full input buffer (PF_HTTP_READ_MAX) waits for a state that
 * consumes it: libevent would call the read callback again and again.
 * Otherwise yes, also while the handler works, so a vanished peer is seen.
 */
void pf_http_conn_update_read(pf_http_conn *c)
{
	if (c->state == CONN_DEAD || !c->bev || c->read_eof)
		return;
	bool on = true;
	if (c->state == CONN_BODY && c->body_paused)
		on = false;
	else if (c->state != CONN_CLOSING &&
	         evbuffer_get_length(bufferevent_get_input(c->bev)) >= PF_HTTP_READ_MAX)
		on = false;
	if (on)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

/* Bodies are bulk work (see common.h); failing (an event already active,
 * or a base without priorities) only leaves the order as it was. */
static void conn_set_priority(pf_http_conn *c, int prio)
{
	if (c->bev && bufferevent_priority_set(c->bev, prio) != 0)
		pf_debug("conn %llu: priority unchanged", (unsigned long long)c->id);
	if (c->defer && !evtimer_pending(c->defer, NULL))
		event_priority_set(c->defer, prio);
}

/* While a body arrives: the idle timeout, or what is left of an untrusted
 * body's deadline when that comes first. */
void pf_http_conn_arm_body_timer(pf_http_conn *c)
{
	struct timeval tv;
	unsigned ms = c->srv->lim.idle_timeout_ms;
	if (c->has_deadline) {
		double left = -pf_http_ms_since(&c->body_deadline);
		if (left < (double)ms)
			ms = left > 0 ? (unsigned)left + 1 : 0;
	}
	pf_http_ms_to_tv(ms, &tv);
	evtimer_add(c->timer, &tv);
}

void pf_http_conn_set_state(pf_http_conn *c, conn_state s)
{
	const pf_http_limits *lim = &c->srv->lim;
	struct timeval tv;
	if (c->state == CONN_DEAD)
		return;
	if (c->state == CONN_STREAM && s != CONN_STREAM && c->bev) {
		/* back to the plain output rules: no write timeout, called when empty */
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	}
	c->state = s;
	conn_set_priority(c, s == CONN_BODY ? PF_PRIO_BULK : PF_PRIO_NORMAL);
	switch (s) {
	case CONN_HEAD:
		c->out_seen = c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
		if (!c->msg_begun)
			clock_gettime(CLOCK_MONOTONIC, &c->idle_since);
		pf_http_ms_to_tv(c->msg_begun || c->nreq == 0 ? lim->header_timeout_ms
		                                              : lim->idle_timeout_ms,
		                 &tv);
		evtimer_add(c->timer, &tv);
		pf_http_conn_update_read(c);
		break;
	case CONN_HANDLER:
	case CONN_WAIT:
		/* the server is busy, not the client: no timer */
		evtimer_del(c->timer);
		pf_http_conn_update_read(c);
		break;
	case CONN_STREAM:
		/* a slow reader that reads is fine; one that reads nothing for the
		 * idle time is dropped (libevent's write timeout restarts at every
		 * byte the socket takes); the write callback at the low mark wakes
		 * the producer */
		evtimer_del(c->timer);
		if (c->bev) {
			pf_http_ms_to_tv(lim->idle_timeout_ms, &tv);
			bufferevent_set_timeouts(c->bev, NULL, &tv);
			bufferevent_setwatermark(c->bev, EV_WRITE, PF_HTTP_STREAM_LOW, 0);
		}
		pf_http_conn_update_read(c);
		break;
	case CONN_BODY:
		if (c->body_paused)
			evtimer_del(c->timer);
		else
			pf_http_conn_arm_body_timer(c);
		pf_http_conn_update_read(c);
		break;
	case CONN_CLOSING:
		pf_http_ms_to_tv(c->shut ? PF_HTTP_LINGER_MS : lim->idle_timeout_ms, &tv);
		evtimer_add(c->timer, &tv);
		pf_http_conn_update_read(c);
		break;
	case CONN_DEAD:
		pf_debug("conn %llu: closed (%s)", (unsigned long long)c->id,
		         c->close_reason ? c->close_reason : "done");
		evtimer_del(c->timer);
		evtimer_del(c->defer);
		if (c->bev)
			bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		/* move from the live list to the dead list */
		if (c->prev)
			c->prev->next = c->next;
		else
			c->srv->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->prev = NULL;
		c->next = c->srv->dead;
		if (c->next)
			c->next->prev = c;
		c->srv->dead = c;
		if (c->rejecting)
			c->srv->nreject--;
		else
			c->srv->nconns--;
		if (c->addr_counted)
			pf_tally_sub(c->srv->per_addr, c->akey, c->aklen);
		event_active(c->srv->reap_ev, EV_TIMEOUT, 0);
		break;
	default: abort();
	}
}

void pf_http_conn_free(pf_http_conn *c)
{
	if (c->building)
		pf_http_req_unref(c->building);
	if (c->bev)
		bufferevent_free(c->bev);
	event_free(c->timer);
	event_free(c->defer);
	free(c);
}

/* After the output drained: shut our side and read until the peer closes. */
void pf_http_conn_linger(pf_http_conn *c)
{
	if (c->read_eof || !c->bev) {
		pf_http_conn_set_state(c, CONN_DEAD);
		return;
	}
	if (!c->shut) {
		shutdown(bufferevent_getfd(c->bev), SHUT_WR);
		c->shut = true;
		pf_http_conn_set_state(c, CONN_CLOSING); /* re-arms the timer for the linger time */
	}
}

/* Stop taking requests; flush what is queued, then close. No request is attached. */
void pf_http_conn_close(pf_http_conn *c, const char *reason)
{
	if (c->state == CONN_CLOSING || c->state == CONN_DEAD)
		return;
	if (!c->close_reason)
		c->close_reason = reason;
	if (c->building) {
		pf_http_req_unref(c->building);
		c->building = NULL;
	}
	pf_http_conn_set_state(c, CONN_CLOSING);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		pf_http_conn_linger(c);
}

/* The connection is gone: abort its request and drop it now. */
void pf_http_conn_kill(pf_http_conn *c, const char *reason, pf_http_abort why)
{
	if (c->state == CONN_DEAD)
		return;
	if (!c->close_reason)
		c->close_reason = reason;
	pf_http_req *req = c->req;
	c->req = NULL;
	if (req && req->streaming && c->bev) {
		/* a stream cut short: its access line now (the server's log is
		 * out of its reach once the connection is gone), with what left */
		size_t queued = evbuffer_get_length(bufferevent_get_output(c->bev));
		uint64_t sent = req->stream_bytes > queued ? req->stream_bytes - queued : 0;
		pf_http_access_log(c->srv->lim.access_log, req, req->stream_status, (size_t)sent);
		pf_http_meters_request(c->srv, req, req->stream_status);
	}
	pf_http_conn_set_state(c, CONN_DEAD);
	if (req) {
		req->conn = NULL;
		req->refs++;
		pf_http_req_fire_abort(req, why);
		pf_http_req_unref(req);
	}
}

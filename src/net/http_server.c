/*
 * http_server.c - the listening side of the HTTP layer: the socket, accept
 * (in batches, pausing when descriptors run out), the reaper that frees
 * dead connections once per loop turn, and the connection caps: per
 * address (max_per_address, 429), in total (max_connections, WebSockets
 * included), and at the total cap the eviction of the stalest connection
 * that waits on its client without credentials (idle, in a head, or in an
 * untrusted body) before a new one is refused (503). A connection itself is
 * http.c's.
 */
#include "http_internal.h"
#include "propflow/base/log.h"
#include "propflow/net/proxy.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define PF_HTTP_REJECT_MAX      64  /* connections being turned away with 503/429 at once */
#define PF_HTTP_ACCEPT_BATCH    64  /* accept() calls per wakeup */
#define PF_HTTP_ACCEPT_RETRY_MS 100 /* pause accepting this long when out of descriptors */
#define PF_HTTP_FD_RESERVE      64  /* descriptors kept for the database, files and logs */

void pf_http_limits_default(pf_http_limits *lim)
{
	lim->url_max = 8192;
	lim->header_bytes_max = 32768;
	lim->header_count_max = 100;
	lim->body_max = (uint64_t)1 << 30;
	lim->header_timeout_ms = 10000;
	lim->idle_timeout_ms = 60000;
	lim->unauth_body_timeout_ms = 10000;
	lim->max_connections = 512;
	lim->max_per_address = 0;
	lim->output_max = 4 * 1024 * 1024;
	lim->proxies = NULL;
	lim->access_log = NULL;
	lim->metrics = NULL;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_http_server *srv = arg;
	if (srv->fd >= 0)
		event_add(srv->listen_ev, NULL);
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * Whether c may be closed to make room at the connection cap, and since
 * when it has been waiting on its client: idle between requests (nothing
 * half-read, nothing to write) since idle_since; inside a request head, or
 * inside the body of a request nobody vouched for (no credentials), since
 * the request began. A request in the handler's hands, a trusted body and
 * a response being written are left alone.
 */
static bool conn_evictable(const pf_http_conn *c, struct timespec *since)
{
	if (c->rejecting || !c->bev)
		return false;
	switch (c->state) {
	case CONN_HEAD:
		if (c->msg_begun && c->building) {
			*since = c->building->start;
			return true;
		}
		*since = c->idle_since;
		return !c->msg_begun && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
		       evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
	case CONN_BODY:
		if (!c->req || c->req->trusted)
			return false;
		*since = c->req->start;
		return true;
	default: return false;
	}
}

/*
 * At the connection cap: close the stalest connection that waits on its
 * client without having shown credentials (conn_evictable), so that a new
 * client is served rather than turned away by sockets that do nothing or
 * trickle. A linear scan: it runs only at the cap, over at most
 * max_connections. Returns whether one was closed.
 */
static bool evict_stalest(pf_http_server *srv)
{
	pf_http_conn *victim = NULL;
	struct timespec vsince = {0, 0}, since;
	for (pf_http_conn *c = srv->conns; c; c = c->next) {
		if (conn_evictable(c, &since) && (!victim || ts_before(&since, &vsince))) {
			victim = c;
			vsince = since;
		}
	}
	if (!victim)
		return false;
	const char *what = victim->state == CONN_BODY ? "in an unauthenticated body"
	                   : victim->msg_begun        ? "in a request head"
	                                              : "idle";
	pf_info("conn %llu: %s: closed to make room at the connection cap (%u), %s for %.0f ms",
	        (unsigned long long)victim->id, victim->peer, srv->lim.max_connections, what,
	        pf_http_ms_since(&vsince));
	pf_http_conn_kill(victim, "evicted at the connection cap", PF_HTTP_ABORT_EVICTED);
	return true;
}

/* The per-address key of ss: an IPv4 address (also when IPv4-mapped), or
 * an IPv6 address's /64, which one client usually holds whole. */
static size_t addr_key(const struct sockaddr_storage *ss, uint8_t key[PF_TALLY_KEY_MAX])
{
	if (ss->ss_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return 4;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(key, a->s6_addr + 12, 4);
			return 4;
		}
		memcpy(key, a->s6_addr, 8);
		return 8;
	}
	return 0;
}

/* Is this connection over its address's cap? Trusted proxies carry many
 * clients on their one address and limit them themselves: exempt. */
static bool addr_over_cap(const pf_http_server *srv, const struct sockaddr_storage *ss,
                          const uint8_t *key, size_t klen)
{
	if (!srv->per_addr || klen == 0 ||
	    pf_tally_get(srv->per_addr, key, klen) < srv->lim.max_per_address)
		return false;
	if (srv->lim.proxies) {
		char text[INET6_ADDRSTRLEN] = "";
		const void *a = ss->ss_family == AF_INET
		                    ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
		                    : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (inet_ntop(ss->ss_family, a, text, sizeof(text)) &&
		    pf_proxy_trusted(srv->lim.proxies, text))
			return false;
	}
	return true;
}

/*
 * Each connection is a descriptor: let the process use as many as its hard
 * limit allows (the soft limit is often 1024), and say so when even that
 * is short of the connection cap.
 */
static void raise_fd_limit(unsigned max_connections)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			pf_debug("http: descriptor limit raised from %llu to %llu",
			         (unsigned long long)was, (unsigned long long)rl.rlim_cur);
		else
			rl.rlim_cur = was;
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)max_connections + PF_HTTP_FD_RESERVE)
		pf_warn("http: only %llu file descriptors for up to %u connections: "
		        "new connections will wait when they run out",
		        (unsigned long long)rl.rlim_cur, max_connections);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	pf_http_server *srv = arg;
	for (int i = 0; i < PF_HTTP_ACCEPT_BATCH && srv->fd >= 0; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct timeval tv;
				/* once per episode: it repeats every PF_HTTP_ACCEPT_RETRY_MS */
				if (!srv->accept_starved)
					pf_warn("http: accept: %s; pausing %d ms at a time until "
					        "it succeeds",
					        strerror(errno), PF_HTTP_ACCEPT_RETRY_MS);
				srv->accept_starved = true;
				event_del(srv->listen_ev);
				pf_http_ms_to_tv(PF_HTTP_ACCEPT_RETRY_MS, &tv);
				evtimer_add(srv->retry_ev, &tv);
			}
			return;
		}
		if (srv->accept_starved) {
			pf_info("http: accepting again");
			srv->accept_starved = false;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		uint8_t key[PF_TALLY_KEY_MAX];
		size_t klen = addr_key(&ss, key);
		int reject = 0;
		if (addr_over_cap(srv, &ss, key, klen)) {
			reject = 429;
		} else if (srv->nconns + srv->upg->n >= srv->lim.max_connections) {
			reject = evict_stalest(srv) ? 0 : 503;
		}
		if (!reject || srv->nreject < PF_HTTP_REJECT_MAX)
			pf_http_conn_new(srv, fd, &ss, reject, key, klen);
		else
			close(fd);
	}
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	pf_http_server *srv = arg;
	while (srv->dead) {
		pf_http_conn *c = srv->dead;
		srv->dead = c->next;
		pf_http_conn_free(c);
	}
}

pf_http_server *pf_http_server_new(struct event_base *base, const char *host, int port,
                                   const pf_http_limits *lim, pf_http_request_cb cb, void *arg)
{
	/* a peer closing while we write must be an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(lim->max_connections);
	pf_http_server *srv = calloc(1, sizeof(*srv));
	struct addrinfo *ai = NULL;
	if (!srv)
		return NULL;
	srv->fd = -1;
	srv->base = base;
	srv->lim = *lim;
	srv->cb = cb;
	srv->arg = arg;
	srv->upg = calloc(1, sizeof(*srv->upg));
	if (!srv->upg)
		goto fail;
	srv->upg->refs = 1;
	pf_http_meters_register(srv);
	if (lim->max_per_address > 0 && !(srv->per_addr = pf_tally_new()))
		goto fail;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST};
	int r = getaddrinfo(host, portstr, &hints, &ai);
	if (r != 0) {
		pf_error("http: cannot use address %s:%d: %s", host, port, gai_strerror(r));
		goto fail;
	}
	srv->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->fd < 0) {
		pf_error("http: socket: %s", strerror(errno));
		goto fail;
	}
	int one = 1;
	setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(srv->fd, 511) < 0) {
		pf_error("http: cannot listen on %s:%d: %s", host, port, strerror(errno));
		goto fail;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(srv->fd, (struct sockaddr *)&ss, &sl) == 0)
		srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                           : ((struct sockaddr_in *)&ss)->sin_port);
	srv->listen_ev = event_new(base, srv->fd, EV_READ | EV_PERSIST, accept_cb, srv);
	srv->retry_ev = evtimer_new(base, retry_cb, srv);
	srv->reap_ev = event_new(base, -1, 0, reap_cb, srv);
	if (!srv->listen_ev || !srv->retry_ev || !srv->reap_ev ||
	    event_add(srv->listen_ev, NULL) < 0) {
		pf_error("http: cannot watch the listening socket");
		goto fail;
	}
	freeaddrinfo(ai);
	return srv;
fail:
	if (ai)
		freeaddrinfo(ai);
	pf_http_server_free(srv);
	return NULL;
}

void pf_http_server_stop_accepting(pf_http_server *srv)
{
	if (srv->fd < 0)
		return;
	if (srv->listen_ev)
		event_del(srv->listen_ev);
	if (srv->retry_ev)
		evtimer_del(srv->retry_ev);
	close(srv->fd);
	srv->fd = -1;
}

void pf_http_server_free(pf_http_server *srv)
{
	if (!srv)
		return;
	pf_http_server_stop_accepting(srv);
	while (srv->conns)
		pf_http_conn_kill(srv->conns, "server shutting down", PF_HTTP_ABORT_SHUTDOWN);
	reap_cb(-1, 0, srv);
	if (srv->listen_ev)
		event_free(srv->listen_ev);
	if (srv->retry_ev)
		event_free(srv->retry_ev);
	if (srv->reap_ev)
		event_free(srv->reap_ev);
	pf_tally_free(srv->per_addr);
	pf_http_meters_unregister(srv);
	pf_http_upgraded_unref(srv->upg);
	free(srv);
}

int pf_http_server_port(const pf_http_server *srv)
{
	return srv->port;
}

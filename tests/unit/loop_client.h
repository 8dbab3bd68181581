/*
 * loop_client.h - a raw TCP client on the test's own event loop, for
 * unit tests that drive an in-process server (http, ws): it connects to
 * 127.0.0.1:port and collects every byte received, NUL-terminated.
 * The includer sets `base` to its event_base before the first client.
 */
#ifndef PROPFLOW_TEST_LOOP_CLIENT_H
#define PROPFLOW_TEST_LOOP_CLIENT_H

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>

static struct event_base *base; /* the test's loop */

typedef struct client {
	struct bufferevent *bev;
	char *in;   /* everything received, NUL-terminated */
	size_t len; /* bytes in in */
	bool eof;   /* server closed */
} client;

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	c->in = realloc(c->in, c->len + n + 1);
	evbuffer_remove(in, c->in + c->len, n);
	c->len += n;
	c->in[c->len] = '\0';
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	client *c = arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		client_read_cb(bev, c);
		c->eof = true;
	}
}

static client *client_new(int port)
{
	client *c = calloc(1, sizeof(*c));
	c->in = calloc(1, 1);
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, client_read_cb, NULL, client_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof(sin));
	return c;
}

static void client_free(client *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	free(c->in);
	free(c);
}

#endif

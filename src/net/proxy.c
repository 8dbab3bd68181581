/*
 * proxy.c - trusted reverse proxies (--trust-proxy) and what they tell us.
 * A request's X-Forwarded-For and X-Forwarded-Proto are believed only when
 * its TCP peer is in the list; the client is then the rightmost forwarded
 * address that is not itself a trusted proxy (the first hop we cannot
 * vouch for), since everything left of it may be written by the client.
 * Addresses are compared as bytes: IPv4 as 4 bytes, IPv6 as 16, and an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it holds.
 */
#include "propflow/net/proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PF_PROXY_TEXT_MAX   64 /* one entry's text, "[v6]:port" included */
#define PF_PROXY_XFF_MAX    64 /* X-Forwarded-For entries examined, from the right */
#define PF_PROXY_PREFIX_MAX 3  /* digits after '/' */

typedef struct pf_proxy_addr {
	int family;    /* AF_INET or AF_INET6 (never IPv4-mapped) */
	uint8_t b[16]; /* network order; 4 used for AF_INET */
} pf_proxy_addr;

typedef struct pf_proxy_entry {
	pf_proxy_addr a; /* host bits cleared */
	int prefix;      /* 0..32 or 0..128 */
} pf_proxy_entry;

struct pf_proxy_list {
	size_t n;                                  /* entries used */
	pf_proxy_entry entries[PF_PROXY_LIST_MAX]; /* owned, inline */
};

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* A bare textual address (no port, no brackets) of len chars. */
static bool addr_parse(const char *s, size_t len, pf_proxy_addr *a)
{
	char buf[PF_PROXY_TEXT_MAX];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a->b) == 1) {
		a->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, buf, a->b) != 1)
		return false;
	a->family = AF_INET6;
	if (memcmp(a->b, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(a->b, a->b + 12, 4);
		memset(a->b + 4, 0, 12);
		a->family = AF_INET;
	}
	return true;
}

static int addr_bits(const pf_proxy_addr *a)
{
	return a->family == AF_INET ? 32 : 128;
}

static void addr_mask(pf_proxy_addr *a, int prefix)
{
	int bytes = addr_bits(a) / 8;
	for (int i = 0; i < bytes; i++) {
		int keep = prefix - i * 8;
		if (keep >= 8)
			continue;
		a->b[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
	}
}

static bool entry_match(const pf_proxy_entry *e, const pf_proxy_addr *a)
{
	if (e->a.family != a->family)
		return false;
	pf_proxy_addr m = *a;
	addr_mask(&m, e->prefix);
	return memcmp(m.b, e->a.b, sizeof(m.b)) == 0;
}

/* "addr" or "addr/prefix"; an IPv4-mapped IPv6 network of /96 or more
 * becomes the IPv4 network it covers. */
static bool entry_parse(const char *s, size_t len, pf_proxy_entry *e)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	char abuf[PF_PROXY_TEXT_MAX];
	if (alen == 0 || alen >= sizeof(abuf))
		return false;
	memcpy(abuf, s, alen);
	abuf[alen] = '\0';
	memset(&e->a, 0, sizeof(e->a));
	bool mapped = false;
	if (inet_pton(AF_INET, abuf, e->a.b) == 1) {
		e->a.family = AF_INET;
	} else if (inet_pton(AF_INET6, abuf, e->a.b) == 1) {
		e->a.family = AF_INET6;
		mapped = memcmp(e->a.b, v4mapped, sizeof(v4mapped)) == 0;
	} else {
		return false;
	}
	int prefix = addr_bits(&e->a);
	if (slash) {
		const char *p = slash + 1, *end = s + len;
		size_t digits = (size_t)(end - p);
		if (digits == 0 || digits > PF_PROXY_PREFIX_MAX)
			return false;
		prefix = 0;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return false;
			prefix = prefix * 10 + (*p - '0');
		}
		if (prefix > addr_bits(&e->a))
			return false;
	}
	if (mapped && prefix >= 96) {
		memmove(e->a.b, e->a.b + 12, 4);
		memset(e->a.b + 4, 0, 12);
		e->a.family = AF_INET;
		prefix -= 96;
	}
	e->prefix = prefix;
	addr_mask(&e->a, prefix);
	return true;
}

int pf_proxy_list_parse(const char *spec, pf_proxy_list **out, const char **bad)
{
	*out = NULL;
	if (bad)
		*bad = NULL;
	pf_proxy_list *l = calloc(1, sizeof(*l));
	if (!l)
		return PF_ENOMEM;
	const char *s = spec ? spec : "";
	while (is_space(*s))
		s++;
	if (*s == '\0')
		goto done;
	for (;;) {
		const char *comma = strchr(s, ',');
		const char *end = comma ? comma : s + strlen(s);
		const char *b = s, *e = end;
		while (b < e && is_space(*b))
			b++;
		while (e > b && is_space(e[-1]))
			e--;
		if (l->n == PF_PROXY_LIST_MAX) {
			if (bad)
				*bad = b;
			free(l);
			return PF_ELIMIT;
		}
		if (!entry_parse(b, (size_t)(e - b), &l->entries[l->n])) {
			if (bad)
				*bad = b;
			free(l);
			return PF_EINVAL;
		}
		l->n++;
		if (!comma)
			break;
		s = comma + 1;
	}
done:
	*out = l;
	return 0;
}

void pf_proxy_list_free(pf_proxy_list *l)
{
	free(l);
}

static bool list_match(const pf_proxy_list *l, const pf_proxy_addr *a)
{
	if (!l)
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (entry_match(&l->entries[i], a))
			return true;
	return false;
}

bool pf_proxy_trusted(const pf_proxy_list *l, const char *addr)
{
	pf_proxy_addr a;
	return l && addr && addr_parse(addr, strlen(addr), &a) && list_match(l, &a);
}

/* One X-Forwarded-For entry: "v4", "v4:port", "v6", "[v6]" or "[v6]:port". */
static bool xff_entry_parse(const char *s, size_t len, pf_proxy_addr *a)
{
	if (len == 0 || len >= PF_PROXY_TEXT_MAX)
		return false;
	const char *end = s + len, *port = NULL;
	if (*s == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return false;
		if (close + 1 < end) {
			if (close[1] != ':')
				return false;
			port = close + 2;
		}
		/* brackets hold IPv6 text only (possibly IPv4-mapped) */
		size_t alen = (size_t)(close - s - 1);
		if (!memchr(s + 1, ':', alen) || !addr_parse(s + 1, alen, a))
			return false;
	} else {
		const char *colon = memchr(s, ':', len);
		if (colon && !memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
			/* exactly one colon: IPv4 with a port */
			if (!addr_parse(s, (size_t)(colon - s), a) || a->family != AF_INET)
				return false;
			port = colon + 1;
		} else if (!addr_parse(s, len, a)) {
			return false;
		}
	}
	if (port) {
		size_t digits = (size_t)(end - port);
		if (digits == 0 || digits > 5)
			return false;
		for (const char *p = port; p < end; p++)
			if (*p < '0' || *p > '9')
				return false;
	}
	return true;
}

static void addr_format(const pf_proxy_addr *a, char out[PF_PROXY_ADDR_MAX])
{
	if (!inet_ntop(a->family, a->b, out, PF_PROXY_ADDR_MAX))
		out[0] = '\0';
}

/* The client address from X-Forwarded-For, walking right to left. */
static bool xff_client(const pf_proxy_list *l, const char *xff, pf_proxy_addr *client)
{
	const char *end = xff + strlen(xff);
	bool have_valid = false;
	for (int examined = 0; examined < PF_PROXY_XFF_MAX && end >= xff; examined++) {
		const char *start = end;
		while (start > xff && start[-1] != ',')
			start--;
		const char *b = start, *e = end;
		while (b < e && is_space(*b))
			b++;
		while (e > b && is_space(e[-1]))
			e--;
		pf_proxy_addr a;
		if (xff_entry_parse(b, (size_t)(e - b), &a)) {
			if (!list_match(l, &a)) {
				*client = a;
				return true;
			}
			/* all trusted so far: the leftmost valid one stands */
			*client = a;
			have_valid = true;
		}
		if (start == xff)
			break;
		end = start - 1;
	}
	return have_valid;
}

void pf_proxy_resolve(const pf_proxy_list *l, const char *peer, const char *xff, const char *xfp,
                      char client[PF_PROXY_ADDR_MAX], bool *https)
{
	*https = false;
	pf_proxy_addr pa;
	bool peer_ok = peer && addr_parse(peer, strlen(peer), &pa);
	if (peer_ok)
		addr_format(&pa, client);
	else
		snprintf(client, PF_PROXY_ADDR_MAX, "%s", peer ? peer : "");
	if (!peer_ok || !list_match(l, &pa))
		return;
	pf_proxy_addr ca;
	if (xff && xff_client(l, xff, &ca))
		addr_format(&ca, client);
	if (xfp) {
		const char *s = xfp;
		while (is_space(*s))
			s++;
		const char *e = s;
		while (*e && *e != ',')
			e++;
		while (e > s && is_space(e[-1]))
			e--;
		*https = e - s == 5 && strncasecmp(s, "https", 5) == 0;
	}
}

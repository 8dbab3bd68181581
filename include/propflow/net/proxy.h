/*
 * proxy.h - which peers are trusted reverse proxies (--trust-proxy), and
 * what a request's client address and scheme are: X-Forwarded-For and
 * X-Forwarded-Proto count only when the TCP peer is trusted.
 *
 * Ownership: pf_proxy_list is owned by whoever parsed it.
 */
#ifndef PROPFLOW_PROXY_H
#define PROPFLOW_PROXY_H

#include "propflow/base/common.h"
#include <stddef.h>

#define PF_PROXY_LIST_MAX 64 /* entries in --trust-proxy */
#define PF_PROXY_ADDR_MAX 46 /* INET6_ADDRSTRLEN */

typedef struct pf_proxy_list pf_proxy_list;

/* "127.0.0.1, 10.0.0.0/8,::1,fd00::/8"; NULL or "" gives an empty list.
 * PF_EINVAL (with *bad pointing at the bad entry's text, may be NULL) or
 * PF_ELIMIT past PF_PROXY_LIST_MAX entries; PF_ENOMEM. */
PF_MUST_CHECK int pf_proxy_list_parse(const char *spec, pf_proxy_list **out, const char **bad);
void pf_proxy_list_free(pf_proxy_list *l);
/* addr is a textual IPv4 or IPv6 address (IPv4-mapped IPv6 matches IPv4 entries). */
bool pf_proxy_trusted(const pf_proxy_list *l, const char *addr);
/*
 * Resolve a request from peer. When peer is trusted: client = the
 * rightmost X-Forwarded-For entry (comma list, spaces trimmed, an entry
 * may be "[v6]:port" or "v4:port") that is not itself trusted, or the
 * leftmost valid one when all are trusted, or peer when the header is
 * absent or holds no valid address; https = the first X-Forwarded-Proto
 * value equals "https" (case-insensitive). Otherwise client = peer,
 * https = false. l may be NULL (nothing trusted).
 */
void pf_proxy_resolve(const pf_proxy_list *l, const char *peer, const char *xff, const char *xfp,
                      char client[PF_PROXY_ADDR_MAX], bool *https);

#endif

/*
 * hasher.h - password hashing off the event loop. scrypt is deliberately
 * slow and memory-hard (~0.1 s, 32 MiB), so it runs in a child process
 * forked at start; the loop talks to it over a socketpair with a bounded
 * queue of requests, answered in order. If the child dies, its pending
 * requests fail and the next request forks a new one.
 *
 * Ownership: pf_hasher owns the child, the socket and every queued job;
 * a job is freed after its callback runs or when it is cancelled.
 */
#ifndef PROPFLOW_HASHER_H
#define PROPFLOW_HASHER_H

#include "propflow/base/common.h"
#include <event2/event.h>

#define PF_HASHER_QUEUE_MAX 32 /* requests waiting for the child */

typedef struct pf_hasher pf_hasher;
typedef struct pf_hasher_job pf_hasher_job;

/* rc: 0 match, PF_AUTH_MISMATCH, negative on error (child gone, bad hash). */
typedef void (*pf_hasher_verify_cb)(void *arg, int rc);
/* rc 0 and encoded (valid during the call) or negative and NULL. */
typedef void (*pf_hasher_hash_cb)(void *arg, int rc, const char *encoded);

/* Forks the child now. NULL on failure. */
pf_hasher *pf_hasher_new(struct event_base *base);
/* Drops pending jobs without running their callbacks (as by cancel),
 * kills and reaps the child. */
void pf_hasher_free(pf_hasher *h);

/* Verify pw against stored; stored NULL compares against a fixed dummy
 * hash and always ends PF_AUTH_MISMATCH (same time as a real check).
 * NULL when the queue is full or the child cannot be started: answer 503.
 * The callback runs later, from the loop, never inside this call. */
pf_hasher_job *pf_hasher_verify(pf_hasher *h, const char *pw, size_t len, const char *stored,
                                pf_hasher_verify_cb cb, void *arg);
pf_hasher_job *pf_hasher_hash(pf_hasher *h, const char *pw, size_t len, int log_n,
                              pf_hasher_hash_cb cb, void *arg);
/* The callback of a job not yet answered will not run. */
void pf_hasher_cancel(pf_hasher_job *job);

#endif

/*
 * cache.h - the read cache: whole JSON answers of common reads (the job
 * object, the import list, the first page of an import; after issue 11's
 * merge the analysis and counts), kept in memory under a byte cap with
 * LRU eviction, and the ETag / 304 of the same reads.
 *
 * Keys. An entry is keyed by (user, import, route, normalised parameters):
 * a user never meets another user's entry, whatever the import id. Import
 * 0 stands for "all of the user's imports" (the import list).
 *
 * Validation. Every read is checked against the state of its import: gen,
 * rows_inserted, analysis_version, state and updated_at of its
 * import_jobs row, read with the owner in the WHERE clause (for import 0:
 * the same summed over the user's imports, with their count and ids). That
 * state (a "stamp") is looked up at most once per --progress-interval-ms
 * per process and shared by every entry and request of the import; within
 * the interval a hit costs no database round trip. A job running in this
 * process adds its live version (pf_job_version: its notified changes and
 * the counters its object shows), so a change made here shows at once; a
 * change made by another process shows within the interval. A delete or reprocess done
 * here forgets the stamp at once (pf_cache_forget).
 *
 * ETag. Sent weak (W/), "\"<16 hex>\"": a 64-bit hash of the key and the stamp,
 * so computing it on a hit is a hash of a few hundred bytes. Same state
 * and parameters, same ETag (also from another instance, unless the job
 * runs live in one of them); a stored row, a reprocess, a new analysis
 * version, a delete: another one. An entry is served only when its ETag
 * is the current one; If-None-Match ("*", a list, W/ compared weakly per
 * RFC 9110) matching it answers 304 without a body. Every cached answer
 * carries ETag, Cache-Control: private, no-cache, and X-Cache: hit|miss.
 *
 * Use, two calls (the route owns its context throughout):
 *
 *   pf_cache_key k = {user, import_id, "analysis", params};
 *   pf_cache_serve(api->cache, req, &k, got_cb, ctx);
 *   ...
 *   got_cb(ctx, req, t): t NULL -> answered (hit, 304 or 503): free ctx.
 *                        else copy *t into ctx, read the database, then
 *   pf_cache_respond(api->cache, req, &ctx->ticket, json)  (200, stored)
 *   or any other answer (an error is never stored).
 *
 * got_cb may run inside pf_cache_serve (a fresh stamp) or from the reader
 * pool's callback. A NULL cache, or --cache-bytes 0, disables it all: no
 * stamp lookups, no ETag, no X-Cache; got_cb then always gets a ticket
 * that pf_cache_respond answers as a plain 200.
 *
 * Ownership: the cache owns its entries, stamps and waiting requests'
 * records (not the requests); it borrows the reader pool and the job env.
 * It must be freed after the reader pool (whose failing units call it).
 */
#ifndef PROPFLOW_CACHE_H
#define PROPFLOW_CACHE_H

#include "propflow/base/common.h"
#include "propflow/base/metrics.h"
#include "propflow/jobs/job.h"
#include "propflow/net/http.h"
#include "propflow/store/db.h"

#include <cjson/cJSON.h>

#define PF_CACHE_KEY_MAX    256  /* bytes of route + normalised parameters */
#define PF_CACHE_ETAG_MAX   24   /* "\"" + 16 hex + "\"" + NUL, rounded up */
#define PF_CACHE_STAMPS_MAX 4096 /* imports (and users' lists) whose state is held */
#define PF_CACHE_WAITERS_MAX                                                                       \
	256                        /* requests waiting on one stamp lookup; beyond,                \
	                              they read uncached */
#define PF_CACHE_BUCKETS_MAX 65536 /* hash buckets of the entries */

typedef struct pf_cache pf_cache;

/* What a read is. route and params are borrowed for the call. */
typedef struct pf_cache_key {
	int64_t user;       /* the caller: owner of every row read */
	int64_t job;        /* the import; 0: all of the user's imports */
	const char *route;  /* a short fixed name: "job", "jobs", "page", ... */
	const char *params; /* normalised parameters ("limit=100"), "" none */
} pf_cache_key;

/* Given to a route on a miss; it hands it back to pf_cache_respond. */
typedef struct pf_cache_ticket {
	int64_t user, job;
	char key[PF_CACHE_KEY_MAX];   /* route and params */
	char etag[PF_CACHE_ETAG_MAX]; /* "" when the answer is not to be stored */
} pf_cache_ticket;

typedef struct pf_cache_counts {
	uint64_t hits;      /* answered from an entry (304s included) */
	uint64_t misses;    /* read from the database (uncacheable reads aside) */
	uint64_t evictions; /* entries dropped to stay under the cap */
	uint64_t lookups;   /* stamp lookups sent to the database */
	size_t bytes;       /* held by entries, their keys and headers included */
	size_t entries;
	size_t cap; /* --cache-bytes */
} pf_cache_counts;

/* t NULL: the cache answered req; else the route reads and answers. */
typedef void (*pf_cache_cb)(void *arg, pf_http_req *req, const pf_cache_ticket *t);

/* cap_bytes 0: a cache that does nothing (NULL is the same). interval_ms:
 * how long a stamp is trusted. NULL on ENOMEM. */
pf_cache *pf_cache_new(pf_db *readers, pf_job_env *env, size_t cap_bytes, unsigned interval_ms);
void pf_cache_free(pf_cache *c);

/* Get or miss (see above). A key longer than PF_CACHE_KEY_MAX is read
 * uncached. cb is called exactly once. */
void pf_cache_serve(pf_cache *c, pf_http_req *req, const pf_cache_key *k, pf_cache_cb cb,
                    void *arg);
/* Put: answers req 200 with o (taken; NULL answers 503) and, when t has an
 * ETag, stores the text under t (evicting the least recently used entries
 * to stay under the cap; an answer larger than an eighth of the cap is
 * not stored). */
void pf_cache_respond(pf_cache *c, pf_http_req *req, const pf_cache_ticket *t, cJSON *o);
/* A ticket whose answer is not stored (for routes that decide late). */
void pf_cache_ticket_none(pf_cache_ticket *t);

/* The import changed here (deleted, reprocessed): its stamp and its
 * owner's list stamp are looked up again at the next read. */
void pf_cache_forget(pf_cache *c, int64_t user, int64_t job);

/* For the metrics (NULL cache: zeros). */
void pf_cache_stats(const pf_cache *c, pf_cache_counts *out);
/* The counts as pf_cache_* families at every scrape of m (NULL m or c: a
 * no-op); unmeter before the cache is freed. */
PF_MUST_CHECK int pf_cache_meter(pf_cache *c, pf_metrics *m);
void pf_cache_unmeter(pf_cache *c, pf_metrics *m);

/* True when every parameter of req's query string is one of names
 * (NULL-terminated): a read with any other parameter (a filter, a
 * cursor) is not the cacheable one. */
bool pf_cache_query_only(const pf_http_req *req, const char *const *names);

/* Does an If-None-Match value match etag (a strong "\"...\"")? "*"
 * matches anything; W/ tags compare weakly. Pure. */
bool pf_cache_etag_match(const char *if_none_match, const char *etag);

#endif

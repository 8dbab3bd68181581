/*
 * cache.c - the read cache and its validators (see cache.h): entries in a
 * chained hash table and one LRU list under a byte cap; stamps (the state
 * of an import, or of a user's list of imports) in a second small table,
 * each looked up at most once per interval, with the requests that wait
 * for a lookup queued on it.
 */
#include "propflow/api/cache.h"
#include "propflow/api/respond.h"
#include "propflow/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_STAMP_BUCKETS 1024 /* stamps hash into this many chains */
#define CACHE_BUCKETS_MIN   64

/* ---------------- hashing ---------------- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= FNV_PRIME;
	}
	return h;
}

static uint64_t fnv_int(uint64_t h, int64_t v)
{
	return fnv(h, &v, sizeof(v));
}

/* A final mix, so that nearby inputs spread over the buckets and tags. */
static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------- structures ---------------- */

/* A request waiting for its stamp's lookup. */
typedef struct cache_wait {
	pf_http_req *req;       /* borrowed: answered by cb's owner or by us */
	pf_cache_cb cb;         /* the route's */
	void *arg;              /* the route's context */
	pf_cache_ticket ticket; /* key, user, job; the ETag once known */
	struct cache_wait *next;
} cache_wait;

/* The state reads are checked against, of (user, job). */
typedef struct cache_stamp {
	int64_t user, job;        /* job 0: the user's list */
	bool found;               /* the row exists and is the user's */
	uint64_t state;           /* hash of what the lookup read */
	uint64_t checked_ms;      /* when it was read; 0 never (or forgotten) */
	bool looking;             /* a lookup is in flight */
	bool forgotten;           /* forgotten while looking: the answer may predate it */
	cache_wait *waiters;      /* owned: requests waiting for the lookup */
	cache_wait **waiters_end; /* where the next one goes (FIFO) */
	size_t nwaiters;
	struct cache_stamp *next; /* hash chain */
	pf_cache *cache;          /* borrowed: the unit's callback needs it */
} cache_stamp;

typedef struct cache_entry {
	struct cache_entry *chain;       /* hash chain */
	struct cache_entry *prev, *next; /* LRU: the cache's head is the most recent */
	uint64_t hash;                   /* of user, job and key */
	int64_t user, job;
	char etag[PF_CACHE_ETAG_MAX];
	size_t bytes; /* accounted: the struct, key and body */
	size_t len;   /* body bytes */
	char *body;   /* owned, NUL-terminated JSON */
	char key[];   /* route and params */
} cache_entry;

struct pf_cache {
	pf_db *readers;        /* borrowed */
	pf_job_env *env;       /* borrowed: live jobs */
	size_t cap;            /* bytes; 0 = disabled */
	unsigned interval_ms;  /* how long a stamp is trusted */
	cache_entry **buckets; /* owned array of chains */
	size_t nbuckets;       /* a power of two */
	cache_entry *lru_head, *lru_tail;
	cache_stamp *stamps[CACHE_STAMP_BUCKETS]; /* owned chains */
	size_t nstamps;
	pf_cache_counts n;
};

/* ---------------- If-None-Match ---------------- */

bool pf_cache_etag_match(const char *inm, const char *etag)
{
	if (!inm || !etag || !etag[0])
		return false;
	size_t elen = strlen(etag);
	const char *p = inm;
	for (;;) {
		p += strspn(p, " \t,");
		if (!*p)
			return false;
		if (*p == '*') {
			const char *q = p + 1 + strspn(p + 1, " \t");
			if (*q == 0 || *q == ',')
				return true;
		}
		if (p[0] == 'W' && p[1] == '/')
			p += 2; /* weak comparison: the opaque tags alone */
		if (*p != '"') {
			p += strcspn(p, ",");
			continue;
		}
		const char *end = strchr(p + 1, '"');
		if (!end)
			return false;
		size_t tlen = (size_t)(end - p) + 1;
		if (tlen == elen && memcmp(p, etag, elen) == 0)
			return true;
		p = end + 1;
	}
}

/* ---------------- query parameters ---------------- */

bool pf_cache_query_only(const pf_http_req *req, const char *const *names)
{
	const char *q = pf_http_req_query(req);
	while (q && *q) {
		size_t n = strcspn(q, "&");
		size_t nlen = strcspn(q, "=&");
		if (n > 0) {
			bool known = false;
			for (const char *const *k = names; *k && !known; k++)
				known = strlen(*k) == nlen && memcmp(*k, q, nlen) == 0;
			if (!known)
				return false;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return true;
}

/* ---------------- entries ---------------- */

static uint64_t entry_hash(int64_t user, int64_t job, const char *key)
{
	uint64_t h = fnv_int(fnv_int(FNV_OFFSET, user), job);
	return mix(fnv(h, key, strlen(key)));
}

static void lru_unlink(pf_cache *c, cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(pf_cache *c, cache_entry *e)
{
	e->prev = NULL;
	e->next = c->lru_head;
	if (c->lru_head)
		c->lru_head->prev = e;
	c->lru_head = e;
	if (!c->lru_tail)
		c->lru_tail = e;
}

static cache_entry **entry_slot(pf_cache *c, uint64_t hash, int64_t user, int64_t job,
                                const char *key)
{
	cache_entry **s = &c->buckets[hash & (c->nbuckets - 1)];
	for (; *s; s = &(*s)->chain) {
		cache_entry *e = *s;
		if (e->hash == hash && e->user == user && e->job == job && strcmp(e->key, key) == 0)
			break;
	}
	return s;
}

static void entry_drop(pf_cache *c, cache_entry **slot)
{
	cache_entry *e = *slot;
	*slot = e->chain;
	lru_unlink(c, e);
	c->n.bytes -= e->bytes;
	c->n.entries--;
	free(e->body);
	free(e);
}

static void evict_one(pf_cache *c)
{
	cache_entry *e = c->lru_tail;
	entry_drop(c, entry_slot(c, e->hash, e->user, e->job, e->key));
	c->n.evictions++;
}

/* More buckets once the chains grow longer than one on average. */
static void grow(pf_cache *c)
{
	if (c->n.entries < c->nbuckets || c->nbuckets >= PF_CACHE_BUCKETS_MAX)
		return;
	size_t nb = c->nbuckets * 2;
	cache_entry **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < c->nbuckets; i++) {
		for (cache_entry *e = c->buckets[i], *next; e; e = next) {
			next = e->chain;
			e->chain = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = nb;
}

static void entry_put(pf_cache *c, const pf_cache_ticket *t, const char *body, size_t len)
{
	size_t klen = strlen(t->key);
	size_t bytes = sizeof(cache_entry) + klen + 1 + len + 1;
	if (bytes > c->cap / 8)
		return; /* one answer must not push out a whole cache of small ones */
	uint64_t h = entry_hash(t->user, t->job, t->key);
	cache_entry **slot = entry_slot(c, h, t->user, t->job, t->key);
	if (*slot)
		entry_drop(c, slot); /* an older state's answer */
	cache_entry *e = malloc(sizeof(*e) + klen + 1);
	char *copy = malloc(len + 1);
	if (!e || !copy) {
		free(e);
		free(copy);
		return;
	}
	memcpy(copy, body, len);
	copy[len] = 0;
	*e = (cache_entry){
	    .hash = h, .user = t->user, .job = t->job, .bytes = bytes, .len = len, .body = copy};
	memcpy(e->key, t->key, klen + 1);
	snprintf(e->etag, sizeof(e->etag), "%s", t->etag);
	while (c->lru_tail && bytes > c->cap - c->n.bytes)
		evict_one(c);
	slot = &c->buckets[h & (c->nbuckets - 1)];
	e->chain = *slot;
	*slot = e;
	lru_push(c, e);
	c->n.bytes += bytes;
	c->n.entries++;
	grow(c);
}

/* ---------------- answers ---------------- */

/* The tag goes out weak (W/): an answer names one state of the import, but
 * a page's "next" cursor is sealed with a random nonce, so another server
 * (or this one after an eviction) answers the same state with other bytes
 * that mean the same. If-None-Match compares weakly either way. */
static void cache_headers(pf_http_req *req, const char *etag, bool hit)
{
	char weak[PF_CACHE_ETAG_MAX + 2];
	snprintf(weak, sizeof(weak), "W/%s", etag);
	pf_respond_header(req, "ETag", weak);
	pf_respond_header(req, "Cache-Control", "private, no-cache");
	pf_respond_header(req, "X-Cache", hit ? "hit" : "miss");
}

/* With the current ETag known: 304, a hit, or the route's read. */
static void decide(pf_cache *c, pf_http_req *req, pf_cache_ticket *t, pf_cache_cb cb, void *arg)
{
	if (pf_cache_etag_match(pf_http_req_header(req, "If-None-Match"), t->etag)) {
		c->n.hits++;
		cache_headers(req, t->etag, true);
		pf_http_respond(req, 304, NULL, NULL, 0);
		cb(arg, req, NULL);
		return;
	}
	uint64_t h = entry_hash(t->user, t->job, t->key);
	cache_entry *e = *entry_slot(c, h, t->user, t->job, t->key);
	if (e && strcmp(e->etag, t->etag) == 0) {
		c->n.hits++;
		lru_unlink(c, e);
		lru_push(c, e);
		cache_headers(req, t->etag, true);
		pf_http_respond(req, 200, "application/json", e->body, e->len);
		cb(arg, req, NULL);
		return;
	}
	c->n.misses++;
	cb(arg, req, t);
}

/* ---------------- stamps ---------------- */

static cache_stamp **stamp_slot(pf_cache *c, int64_t user, int64_t job)
{
	uint64_t h = mix(fnv_int(fnv_int(FNV_OFFSET, user), job));
	cache_stamp **s = &c->stamps[h % CACHE_STAMP_BUCKETS];
	while (*s && !((*s)->user == user && (*s)->job == job))
		s = &(*s)->next;
	return s;
}

/* At the cap, stamps that are stale and idle go (they are re-read anyway). */
static void stamps_sweep(pf_cache *c, uint64_t now)
{
	for (size_t i = 0; i < CACHE_STAMP_BUCKETS; i++) {
		for (cache_stamp **s = &c->stamps[i]; *s;) {
			cache_stamp *st = *s;
			if (!st->looking && now - st->checked_ms >= c->interval_ms) {
				*s = st->next;
				free(st);
				c->nstamps--;
			} else {
				s = &st->next;
			}
		}
	}
}

/* The stamp's hash with this process's live view folded in. */
static uint64_t live_state(pf_cache *c, const cache_stamp *st)
{
	uint64_t h = fnv_int(st->state, st->found);
	for (pf_job *j = c->env ? c->env->jobs : NULL; j; j = pf_job_next(j)) {
		if (pf_job_user(j) != st->user || (st->job && pf_job_id(j) != st->job) ||
		    !pf_job_live(j))
			continue;
		/* a live job: its version, and a mark that the body comes
		 * from live memory (another instance's body from the row
		 * differs, so its tag must too) */
		h = fnv_int(fnv_int(h, pf_job_id(j)), (int64_t)pf_job_version(j));
		h = fnv(h, "live", 4);
	}
	return h;
}

static void ticket_etag(const cache_stamp *st, uint64_t state, pf_cache_ticket *t)
{
	uint64_t h = fnv(fnv_int(fnv_int(FNV_OFFSET, t->user), t->job), t->key, strlen(t->key));
	h = mix(fnv_int(h, (int64_t)state));
	snprintf(t->etag, sizeof(t->etag), "\"%016llx\"", (unsigned long long)h);
	PF_UNUSED(st);
}

/* A request whose stamp is known. */
static void with_stamp(pf_cache *c, cache_stamp *st, pf_http_req *req, pf_cache_ticket *t,
                       pf_cache_cb cb, void *arg)
{
	if (!st->found) {
		/* not the user's (or gone): the route answers its 404 */
		t->etag[0] = 0;
		cb(arg, req, t);
		return;
	}
	ticket_etag(st, live_state(c, st), t);
	decide(c, req, t, cb, arg);
}

static const char sql_job_stamp[] = "SELECT gen, rows_inserted, analysis_version, state, "
                                    "(extract(epoch FROM updated_at) * 1000000)::bigint "
                                    "FROM import_jobs WHERE id = $1 AND user_id = $2";
/* The list: count and ids catch an import added or deleted, the sums any
 * change of one (updated_at is summed, not maxed: a transaction that
 * started earlier commits an older now()). */
static const char sql_list_stamp[] =
    "SELECT count(*), coalesce(sum(id), 0), coalesce(sum(gen), 0), "
    "coalesce(sum(rows_inserted), 0), coalesce(sum(analysis_version), 0), "
    "coalesce(sum((extract(epoch FROM updated_at) * 1000000)::bigint), 0), "
    "coalesce(sum(hashtext(state)), 0) FROM import_jobs WHERE user_id = $1";

static void stamp_read_cb(void *arg, const pf_db_result *r)
{
	cache_stamp *st = arg;
	pf_cache *c = st->cache;
	st->looking = false;
	bool failed = r->error != NULL;
	if (!failed) {
		st->found = pf_db_rows(r, 0) > 0;
		uint64_t h = FNV_OFFSET;
		int cols = st->job ? 5 : 7;
		for (int i = 0; st->found && i < cols; i++) {
			const char *v = pf_db_value(r, 0, 0, i);
			h = fnv(h, v ? v : "", v ? strlen(v) + 1 : 0);
		}
		st->state = h;
		st->checked_ms = st->forgotten ? 0 : now_ms();
	}
	st->forgotten = false;
	cache_wait *w = st->waiters;
	st->waiters = NULL;
	st->waiters_end = &st->waiters;
	st->nwaiters = 0;
	while (w) {
		cache_wait *next = w->next;
		if (failed) {
			/* the route's own read would meet the same database */
			pf_respond_db_error(w->req, r);
			w->cb(w->arg, w->req, NULL);
		} else {
			with_stamp(c, st, w->req, &w->ticket, w->cb, w->arg);
		}
		free(w);
		w = next;
	}
}

static int stamp_lookup(pf_cache *c, cache_stamp *st)
{
	pf_db_unit *u = pf_db_unit_new(stamp_read_cb, st);
	int rc = pf_db_unit_stmt(u, st->job ? sql_job_stamp : sql_list_stamp);
	if (st->job)
		rc = pf_db_unit_int(u, st->job);
	rc = pf_db_unit_int(u, st->user);
	if (rc != 0) {
		pf_db_unit_free(u);
		return rc;
	}
	st->looking = true;
	c->n.lookups++;
	pf_db_submit(c->readers, 0, u);
	return 0;
}

/* ---------------- entry points ---------------- */

void pf_cache_ticket_none(pf_cache_ticket *t)
{
	memset(t, 0, sizeof(*t));
}

void pf_cache_serve(pf_cache *c, pf_http_req *req, const pf_cache_key *k, pf_cache_cb cb, void *arg)
{
	pf_cache_ticket t;
	pf_cache_ticket_none(&t);
	t.user = k->user;
	t.job = k->job;
	int n = snprintf(t.key, sizeof(t.key), "%s?%s", k->route, k->params ? k->params : "");
	if (!c || c->cap == 0 || n < 0 || (size_t)n >= sizeof(t.key)) {
		t.key[0] = 0;
		cb(arg, req, &t);
		return;
	}
	uint64_t now = now_ms();
	cache_stamp **slot = stamp_slot(c, k->user, k->job);
	cache_stamp *st = *slot;
	if (!st) {
		if (c->nstamps >= PF_CACHE_STAMPS_MAX)
			stamps_sweep(c, now);
		st = c->nstamps < PF_CACHE_STAMPS_MAX ? calloc(1, sizeof(*st)) : NULL;
		if (!st) {
			c->n.misses++;
			t.etag[0] = 0;
			cb(arg, req, &t);
			return;
		}
		*st = (cache_stamp){.user = k->user, .job = k->job, .cache = c};
		st->waiters_end = &st->waiters;
		slot = stamp_slot(c, k->user, k->job); /* the sweep may have moved it */
		*slot = st;
		c->nstamps++;
	}
	if (!st->looking && st->checked_ms && now - st->checked_ms < c->interval_ms) {
		with_stamp(c, st, req, &t, cb, arg);
		return;
	}
	cache_wait *w = st->nwaiters < PF_CACHE_WAITERS_MAX ? malloc(sizeof(*w)) : NULL;
	if (!w || (!st->looking && stamp_lookup(c, st) != 0)) {
		free(w);
		c->n.misses++;
		t.etag[0] = 0;
		cb(arg, req, &t);
		return;
	}
	*w = (cache_wait){.req = req, .cb = cb, .arg = arg, .ticket = t};
	*st->waiters_end = w;
	st->waiters_end = &w->next;
	st->nwaiters++;
}

void pf_cache_respond(pf_cache *c, pf_http_req *req, const pf_cache_ticket *t, cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!s) {
		pf_respond_oom(req);
		return;
	}
	if (c && c->cap && t && t->etag[0]) {
		entry_put(c, t, s, strlen(s));
		cache_headers(req, t->etag, false);
	}
	pf_http_respond_json_owned(req, 200, s);
}

void pf_cache_forget(pf_cache *c, int64_t user, int64_t job)
{
	if (!c || c->cap == 0)
		return;
	cache_stamp *st[2] = {*stamp_slot(c, user, job), *stamp_slot(c, user, 0)};
	for (int i = 0; i < 2; i++) {
		if (!st[i])
			continue;
		st[i]->checked_ms = 0;
		st[i]->forgotten = st[i]->looking;
	}
}

void pf_cache_stats(const pf_cache *c, pf_cache_counts *out)
{
	memset(out, 0, sizeof(*out));
	if (c)
		*out = c->n;
}

/* Scrape-time samples (see metrics.h): the counts as they stand. */
static void cache_collect_cb(void *arg, pf_metrics_scrape *sc)
{
	pf_cache_counts n;
	pf_cache_stats(arg, &n);
	pf_metrics_family(sc, "pf_cache_requests_total", PF_METRIC_COUNTER,
	                  "Cacheable reads by result (a hit includes a 304).");
	pf_metrics_sample(sc, (double)n.hits, "result", "hit", NULL);
	pf_metrics_sample(sc, (double)n.misses, "result", "miss", NULL);
	pf_metrics_family(sc, "pf_cache_bytes", PF_METRIC_GAUGE,
	                  "Bytes held by the read cache's entries.");
	pf_metrics_sample(sc, (double)n.bytes, NULL);
	pf_metrics_family(sc, "pf_cache_capacity_bytes", PF_METRIC_GAUGE,
	                  "The read cache's byte cap (--cache-bytes).");
	pf_metrics_sample(sc, (double)n.cap, NULL);
	pf_metrics_family(sc, "pf_cache_entries", PF_METRIC_GAUGE, "Entries in the read cache.");
	pf_metrics_sample(sc, (double)n.entries, NULL);
	pf_metrics_family(sc, "pf_cache_evictions_total", PF_METRIC_COUNTER,
	                  "Entries dropped to stay under the cap.");
	pf_metrics_sample(sc, (double)n.evictions, NULL);
	pf_metrics_family(sc, "pf_cache_state_lookups_total", PF_METRIC_COUNTER,
	                  "Import states read from the database to check entries.");
	pf_metrics_sample(sc, (double)n.lookups, NULL);
}

int pf_cache_meter(pf_cache *c, pf_metrics *m)
{
	return c && m ? pf_metrics_collector_add(m, cache_collect_cb, c) : 0;
}

void pf_cache_unmeter(pf_cache *c, pf_metrics *m)
{
	if (c && m)
		pf_metrics_collector_remove(m, cache_collect_cb, c);
}

pf_cache *pf_cache_new(pf_db *readers, pf_job_env *env, size_t cap_bytes, unsigned interval_ms)
{
	pf_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->readers = readers;
	c->env = env;
	c->cap = cap_bytes;
	c->n.cap = cap_bytes;
	c->interval_ms = interval_ms;
	c->nbuckets = CACHE_BUCKETS_MIN;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	return c;
}

void pf_cache_free(pf_cache *c)
{
	if (!c)
		return;
	while (c->lru_tail)
		entry_drop(c, entry_slot(c, c->lru_tail->hash, c->lru_tail->user, c->lru_tail->job,
		                         c->lru_tail->key));
	for (size_t i = 0; i < CACHE_STAMP_BUCKETS; i++) {
		for (cache_stamp *st = c->stamps[i], *next; st; st = next) {
			next = st->next;
			/* the pool is gone before us: no lookup is in flight, so
			 * no request waits */
			free(st);
		}
	}
	free(c->buckets);
	free(c);
}

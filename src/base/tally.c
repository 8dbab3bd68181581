/*
 * tally.c - counts per key (see tally.h): separate chaining in a power of
 * two bucket array that doubles when there are more keys than buckets.
 * The hash is FNV-1a started from a per-table random seed.
 */
#include "propflow/base/tally.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define PF_TALLY_BUCKETS_INITIAL 64

typedef struct entry {
	struct entry *next;            /* owned: next in the bucket */
	unsigned count;                /* always > 0 while linked */
	uint8_t len;                   /* bytes of key */
	uint8_t key[PF_TALLY_KEY_MAX]; /* copied */
} entry;

struct pf_tally {
	entry **buckets; /* owned: nbuckets chains */
	size_t nbuckets; /* a power of two */
	size_t nkeys;    /* linked entries */
	uint64_t seed;   /* hash seed, random per table */
};

static uint64_t hash(const pf_tally *t, const uint8_t *k, size_t len)
{
	uint64_t h = 14695981039346656037ULL ^ t->seed;
	for (size_t i = 0; i < len; i++) {
		h ^= k[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 29; /* FNV's low bits mix poorly; the bucket index uses them */
	return h;
}

pf_tally *pf_tally_new(void)
{
	pf_tally *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->nbuckets = PF_TALLY_BUCKETS_INITIAL;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
		t->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t;
	return t;
}

void pf_tally_free(pf_tally *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (entry *e = t->buckets[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->buckets);
	free(t);
}

static entry **find(const pf_tally *t, const void *key, size_t len)
{
	entry **pp = &t->buckets[hash(t, key, len) & (t->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->len == len && memcmp((*pp)->key, key, len) == 0)
			break;
	return pp;
}

unsigned pf_tally_get(const pf_tally *t, const void *key, size_t len)
{
	if (len > PF_TALLY_KEY_MAX)
		return 0;
	entry *e = *find(t, key, len);
	return e ? e->count : 0;
}

/* Double the bucket array; on ENOMEM the table just stays as it is. */
static void grow(pf_tally *t)
{
	size_t n = t->nbuckets * 2;
	entry **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (entry *e = t->buckets[i], *next; e; e = next) {
			next = e->next;
			entry **head = &nb[hash(t, e->key, e->len) & (n - 1)];
			e->next = *head;
			*head = e;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}

int pf_tally_add(pf_tally *t, const void *key, size_t len)
{
	if (len > PF_TALLY_KEY_MAX)
		return PF_EINVAL;
	entry **pp = find(t, key, len);
	if (*pp) {
		(*pp)->count++;
		return 0;
	}
	entry *e = calloc(1, sizeof(*e));
	if (!e)
		return PF_ENOMEM;
	e->count = 1;
	e->len = (uint8_t)len;
	memcpy(e->key, key, len);
	*pp = e;
	t->nkeys++;
	if (t->nkeys > t->nbuckets)
		grow(t);
	return 0;
}

void pf_tally_sub(pf_tally *t, const void *key, size_t len)
{
	if (len > PF_TALLY_KEY_MAX)
		return;
	entry **pp = find(t, key, len);
	entry *e = *pp;
	if (!e)
		return;
	if (--e->count == 0) {
		*pp = e->next;
		free(e);
		t->nkeys--;
	}
}

size_t pf_tally_keys(const pf_tally *t)
{
	return t->nkeys;
}

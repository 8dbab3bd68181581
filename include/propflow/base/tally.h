/*
 * tally.h - a count per small key (an address, a user id) with O(1) add,
 * remove and look-up, for caps such as connections per address or
 * WebSockets per user that are checked on every accept or upgrade.
 *
 * A key is up to PF_TALLY_KEY_MAX bytes compared as bytes. An entry exists
 * only while its count is above zero, so memory follows the number of
 * distinct keys in use, which the caller's own caps bound. Buckets are
 * chosen with a hash seeded per table, so a client who picks its keys
 * (addresses) cannot aim them at one chain without knowing the seed.
 *
 * Ownership: the table owns its entries; keys are copied.
 */
#ifndef PROPFLOW_TALLY_H
#define PROPFLOW_TALLY_H

#include "propflow/base/common.h"

#define PF_TALLY_KEY_MAX 16 /* bytes of a key (an IPv6 address) */

typedef struct pf_tally pf_tally;

/* NULL on ENOMEM. */
pf_tally *pf_tally_new(void);
/* NULL is safe. */
void pf_tally_free(pf_tally *t);
/* The count of key (0 when absent). len <= PF_TALLY_KEY_MAX. */
unsigned pf_tally_get(const pf_tally *t, const void *key, size_t len);
/* Count key once more: 0, PF_ENOMEM, or PF_EINVAL for a key too long. */
PF_MUST_CHECK int pf_tally_add(pf_tally *t, const void *key, size_t len);
/* Count key once less; an entry at 0 is removed. Absent keys are ignored. */
void pf_tally_sub(pf_tally *t, const void *key, size_t len);
/* Keys with a count above zero. */
size_t pf_tally_keys(const pf_tally *t);

#endif

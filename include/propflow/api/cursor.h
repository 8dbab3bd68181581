/*
 * cursor.h - the paging cursors of GET /api/imports/ID/properties and
 * .../errors ("next" in a page, "after" in the next request), sealed so
 * that a client can neither read nor make one.
 *
 * A cursor holds the job it belongs to, the job's generation (a reprocess
 * makes a new one) and the position after the page's last item (a row
 * number, or an import_errors id). It is AES-256-GCM under a key shared by
 * every instance through PostgreSQL (schema/006_cursor_key.sql), with a
 * random nonce, and the cursor's kind as associated data:
 *
 *   base64url(nonce[12] || ciphertext(job[8] gen[8] pos[8]) || tag[16])
 *
 * so a records cursor is refused for errors and the other way round, and
 * any change to a cursor (or a cursor of another deployment) is refused.
 * What the position is stays inside: an errors cursor no longer shows how
 * many errors every user has stored.
 */
#ifndef PROPFLOW_CURSOR_H
#define PROPFLOW_CURSOR_H

#include "propflow/base/common.h"

#define PF_CURSOR_KEY_BYTES 32
#define PF_CURSOR_BYTES     (12 + 24 + 16)                  /* nonce, sealed values, tag */
#define PF_CURSOR_CHARS     ((PF_CURSOR_BYTES * 8 + 5) / 6) /* base64url, no padding */

/* Sealed bytes of any length up to PF_CURSOR_PLAIN_MAX (pf_cursor_seal):
 * base64url(nonce[12] || ciphertext(plain) || tag[16]). */
#define PF_CURSOR_PLAIN_MAX 160
#define PF_CURSOR_CHARS_MAX (((12 + PF_CURSOR_PLAIN_MAX + 16) * 8 + 5) / 6)

typedef enum pf_cursor_kind {
	PF_CURSOR_RECORDS = 1,   /* position: the last row_no of the page (no longer made) */
	PF_CURSOR_ERRORS = 2,    /* position: the last import_errors.id of the page */
	PF_CURSOR_QUERY = 3,     /* a records walk of one import, query.c's bytes */
	PF_CURSOR_QUERY_ALL = 4, /* a records walk across a user's imports, query.c's bytes */
} pf_cursor_kind;

typedef struct pf_cursor {
	int64_t job; /* the import the cursor pages */
	int64_t gen; /* its generation when the page was read */
	int64_t pos; /* the page's last key; the next page starts after it */
} pf_cursor;

/* Seal c into out (cap >= PF_CURSOR_CHARS + 1, NUL-terminated).
 * 0, PF_ELIMIT (cap too small) or PF_EIO (the cipher or the random
 * source failed). */
PF_MUST_CHECK int pf_cursor_encode(const uint8_t key[PF_CURSOR_KEY_BYTES], pf_cursor_kind kind,
                                   const pf_cursor *c, char *out, size_t cap);

/* Open text as a cursor of kind: 0, or PF_EINVAL for anything that is not
 * exactly a cursor of that kind sealed under key (wrong length or
 * alphabet, padding, stray bits, tampered, another kind or key, or values
 * out of range: a job below 1, a negative generation or position). */
PF_MUST_CHECK int pf_cursor_decode(const uint8_t key[PF_CURSOR_KEY_BYTES], pf_cursor_kind kind,
                                   const char *text, pf_cursor *c);

/* Seal len bytes of plain (len <= PF_CURSOR_PLAIN_MAX) as a cursor of kind
 * into out (cap > its length, NUL-terminated): 0, PF_ELIMIT or PF_EIO. */
PF_MUST_CHECK int pf_cursor_seal(const uint8_t key[PF_CURSOR_KEY_BYTES], pf_cursor_kind kind,
                                 const uint8_t *plain, size_t len, char *out, size_t cap);
/* Open text sealed by pf_cursor_seal with kind and key into plain (cap >=
 * PF_CURSOR_PLAIN_MAX), *len its length: 0 or PF_EINVAL (as decode). */
PF_MUST_CHECK int pf_cursor_open(const uint8_t key[PF_CURSOR_KEY_BYTES], pf_cursor_kind kind,
                                 const char *text, uint8_t *plain, size_t cap, size_t *len);

/* Big-endian 64-bit integers in a cursor's bytes (query.c seals its own
 * layout with them). */
void pf_cursor_put64(uint8_t *p, int64_t v);
int64_t pf_cursor_get64(const uint8_t *p);

#endif

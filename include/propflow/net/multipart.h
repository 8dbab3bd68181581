/*
 * multipart.h - streaming multipart/form-data decoder (RFC 7578), for
 * `curl -F file=@x.csv` uploads. Bytes go in as they arrive; the content
 * of the first part that carries a filename (or, failing that, the first
 * part named "file") comes out through a callback, with no copy of the
 * whole body. Other parts are skipped. Part headers are capped.
 *
 * Ownership: pf_multipart owns its small header buffer and boundary copy.
 */
#ifndef PROPFLOW_MULTIPART_H
#define PROPFLOW_MULTIPART_H

#include "propflow/base/common.h"

#define PF_MULTIPART_BOUNDARY_MAX     70   /* RFC 2046 */
#define PF_MULTIPART_PART_HEADERS_MAX 8192 /* bytes of one part's headers */

/* Positive results. */
enum {
	PF_MULTIPART_PAUSED = 1, /* data callback paused; feed the rest later */
	PF_MULTIPART_DONE = 2,   /* closing boundary seen; rest ignored */
};

/* Errors are reported as PF_EINVAL with pf_multipart_error() text. */

/* Return 0 or PF_MULTIPART_PAUSED (stop after these bytes were taken); a
 * negative value stops decoding: feed returns PF_EINVAL, error "data callback
 * failed". */
typedef int (*pf_multipart_data_cb)(void *arg, const char *data, size_t len);

typedef struct pf_multipart pf_multipart;

/* From a Content-Type value; NULL if it is not multipart/form-data with a
 * valid boundary (then *why says why). */
pf_multipart *pf_multipart_new(const char *content_type, pf_multipart_data_cb cb, void *arg,
                               const char **why);
void pf_multipart_free(pf_multipart *mp);
/* Like pf_csv_feed: *consumed tells how much was used. */
PF_MUST_CHECK int pf_multipart_feed(pf_multipart *mp, const char *data, size_t len,
                                    size_t *consumed);
/* Body ended: returns 0 if the file part was complete, PF_EINVAL otherwise. */
PF_MUST_CHECK int pf_multipart_finish(pf_multipart *mp);
const char *pf_multipart_error(const pf_multipart *mp);
/* Filename of the file part (borrowed), NULL until its headers are read. */
const char *pf_multipart_filename(const pf_multipart *mp);
bool pf_multipart_in_file(const pf_multipart *mp); /* file part headers seen */

#endif

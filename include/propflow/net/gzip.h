/*
 * gzip.h - streaming gzip for response bodies (zlib's deflate with the
 * gzip wrapper), and whether a request's Accept-Encoding takes gzip.
 *
 * Memory is bounded per stream: deflate's state is (1 << (window bits +
 * 2)) + (1 << (memory level + 9)) bytes, 192 KB with the values below,
 * whatever the length of the body; compressed bytes go straight into the
 * caller's evbuffer (the connection's output), nothing else is held.
 */
#ifndef PROPFLOW_GZIP_H
#define PROPFLOW_GZIP_H

#include "propflow/base/common.h"

#include <event2/buffer.h>

#define PF_GZIP_LEVEL       3     /* speed over ratio: the loop compresses inline */
#define PF_GZIP_WINDOW_BITS 15    /* a 32 KB window (+16 below asks for the gzip wrapper) */
#define PF_GZIP_MEM_LEVEL   7     /* 64 KB of hash state */
#define PF_GZIP_OUT_STEP    16384 /* output space reserved per deflate call */

typedef struct pf_gzip pf_gzip;

/* A new stream; NULL on ENOMEM. */
pf_gzip *pf_gzip_new(void);
void pf_gzip_free(pf_gzip *z); /* NULL is safe */
/* Compress len bytes of data, appending what deflate emits to out (it may
 * emit nothing yet). 0, PF_ENOMEM, or PF_EINVAL after finish. */
PF_MUST_CHECK int pf_gzip_write(pf_gzip *z, const void *data, size_t len, struct evbuffer *out);
/* Flush the rest and the gzip trailer into out; the stream is done. */
PF_MUST_CHECK int pf_gzip_finish(pf_gzip *z, struct evbuffer *out);

/* Whether an Accept-Encoding value takes gzip (RFC 9110 12.5.3): a "gzip"
 * (or "x-gzip") entry with a q-value above 0, or else a "*" entry above 0.
 * "gzip;q=0" refuses it; NULL or "" takes nothing. Pure. */
bool pf_gzip_accepted(const char *accept_encoding);

#endif

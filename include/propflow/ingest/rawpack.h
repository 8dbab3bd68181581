/*
 * rawpack.h - LZ4 compression of raw rows with a per-import dictionary.
 *
 * One ~700-byte JSON row barely compresses on its own (ratio ~1.15), so each
 * import gets a dictionary built from its first rows (the sample window) and
 * every row is compressed alone against it: still decompressible one by one,
 * ratio ~3x. The dictionary is stored with the job; a stored value is
 *   byte 0      format: PF_RAWPACK_FMT_DICT
 *   bytes 1..4  uncompressed length, little endian
 *   rest        LZ4 block compressed with the dictionary
 *
 * Ownership: pf_rawpack owns a copy of the dictionary and its LZ4 stream.
 */
#ifndef PROPFLOW_RAWPACK_H
#define PROPFLOW_RAWPACK_H

#include "propflow/base/common.h"

#define PF_RAWPACK_DICT_MAX (64 * 1024)        /* LZ4 uses at most the last 64 KB */
#define PF_RAWPACK_ROW_MAX  (16 * 1024 * 1024) /* larger raw rows are refused */
#define PF_RAWPACK_FMT_DICT 1
#define PF_RAWPACK_HEADER   5

typedef struct pf_rawpack pf_rawpack;

/* dict may be NULL/0 (compresses without one). Copies dict. NULL on ENOMEM. */
pf_rawpack *pf_rawpack_new(const void *dict, size_t dict_len);
void pf_rawpack_free(pf_rawpack *rp);

/* Worst-case packed size for n input bytes. */
size_t pf_rawpack_bound(size_t n);

/* Compress src into dst (cap >= pf_rawpack_bound(len)); *out_len set.
 * Returns 0, PF_EINVAL (cap too small or len > PF_RAWPACK_ROW_MAX). */
PF_MUST_CHECK int pf_rawpack_compress(pf_rawpack *rp, const void *src, size_t len, void *dst,
                                      size_t cap, size_t *out_len);

/* Uncompressed length stored in a packed value, or PF_EINVAL. */
PF_MUST_CHECK int pf_rawpack_length(const void *src, size_t len, size_t *raw_len);

/* Decompress into dst (cap >= stored length). Returns 0 or PF_EINVAL
 * (corrupt input, wrong dictionary). Stateless: safe on any process. */
PF_MUST_CHECK int pf_rawpack_decompress(const void *dict, size_t dict_len, const void *src,
                                        size_t len, void *dst, size_t cap, size_t *out_len);

/*
 * Dictionary building: feed sample rows; the builder keeps at most
 * PF_RAWPACK_DICT_MAX bytes (later rows placed last, where LZ4 finds
 * them cheapest). Caller owns the buffer passed to _init.
 */
typedef struct pf_rawdict {
	char *buf; /* owned by caller, cap bytes */
	size_t cap;
	size_t len;
} pf_rawdict;

void pf_rawdict_init(pf_rawdict *d, char *buf, size_t cap);
void pf_rawdict_add(pf_rawdict *d, const void *row, size_t len);

#endif

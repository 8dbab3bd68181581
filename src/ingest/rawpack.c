/*
 * rawpack.c - LZ4 compression of raw rows against a per-import dictionary.
 *
 * The dictionary is loaded (hashed) once into dict_stream. Each row then
 * starts a fresh working stream (LZ4_resetStream_fast) that references the
 * loaded dictionary in place (LZ4_attach_dictionary), so a row compresses
 * alone against the dictionary without re-hashing up to 64 KB per row, and
 * decompresses alone with LZ4_decompress_safe_usingDict.
 *
 * Only the last PF_RAWPACK_DICT_MAX bytes of a dictionary are used (LZ4
 * cannot refer further back); both sides trim the same way.
 *
 * The stored format carries no checksum: a wrong dictionary is caught only
 * when the LZ4 block does not decode to exactly the stored length.
 */
#define LZ4_STATIC_LINKING_ONLY
#include <lz4.h>

#include "propflow/ingest/rawpack.h"

#include <stdlib.h>
#include <string.h>

struct pf_rawpack {
	LZ4_stream_t dict_stream; /* owned: the dictionary, loaded once; refers to dict */
	LZ4_stream_t work;        /* owned: reset for each row, dictionary attached */
	char *dict;               /* owned: copy of the dictionary, NULL when none */
	size_t dict_len;
};

static void dict_tail(const void **dict, size_t *len)
{
	if (!*dict)
		*len = 0;
	if (*len > PF_RAWPACK_DICT_MAX) {
		*dict = (const char *)*dict + (*len - PF_RAWPACK_DICT_MAX);
		*len = PF_RAWPACK_DICT_MAX;
	}
}

pf_rawpack *pf_rawpack_new(const void *dict, size_t dict_len)
{
	pf_rawpack *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return NULL;
	dict_tail(&dict, &dict_len);
	if (dict_len > 0) {
		rp->dict = malloc(dict_len);
		if (!rp->dict)
			goto fail;
		memcpy(rp->dict, dict, dict_len);
		rp->dict_len = dict_len;
	}
	if (!LZ4_initStream(&rp->dict_stream, sizeof(rp->dict_stream)) ||
	    !LZ4_initStream(&rp->work, sizeof(rp->work)))
		goto fail;
	if (rp->dict_len > 0)
		LZ4_loadDict(&rp->dict_stream, rp->dict, (int)rp->dict_len);
	return rp;
fail:
	pf_rawpack_free(rp);
	return NULL;
}

void pf_rawpack_free(pf_rawpack *rp)
{
	if (!rp)
		return;
	free(rp->dict);
	free(rp);
}

size_t pf_rawpack_bound(size_t n)
{
	return PF_RAWPACK_HEADER + n + n / 255 + 16; /* LZ4_COMPRESSBOUND without its int cap */
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int pf_rawpack_compress(pf_rawpack *rp, const void *src, size_t len, void *dst, size_t cap,
                        size_t *out_len)
{
	static const char empty[1];
	unsigned char *d = dst;

	if (!rp || !dst || !out_len || len > PF_RAWPACK_ROW_MAX || cap < pf_rawpack_bound(len))
		return PF_EINVAL;
	if (!src)
		src = empty;
	size_t room = cap - PF_RAWPACK_HEADER;
	if (room > (size_t)LZ4_compressBound((int)len))
		room = (size_t)LZ4_compressBound((int)len);

	LZ4_resetStream_fast(&rp->work);
	LZ4_attach_dictionary(&rp->work, rp->dict_len > 0 ? &rp->dict_stream : NULL);
	int n = LZ4_compress_fast_continue(&rp->work, src, (char *)d + PF_RAWPACK_HEADER, (int)len,
	                                   (int)room, 1);
	if (n <= 0)
		return PF_EINVAL; /* cannot happen with room >= LZ4_compressBound(len) */
	d[0] = PF_RAWPACK_FMT_DICT;
	put_le32(d + 1, (uint32_t)len);
	*out_len = PF_RAWPACK_HEADER + (size_t)n;
	return 0;
}

int pf_rawpack_length(const void *src, size_t len, size_t *raw_len)
{
	const unsigned char *s = src;

	if (!s || len < PF_RAWPACK_HEADER + 1 || s[0] != PF_RAWPACK_FMT_DICT)
		return PF_EINVAL;
	uint32_t n = get_le32(s + 1);
	if (n > PF_RAWPACK_ROW_MAX)
		return PF_EINVAL;
	*raw_len = n;
	return 0;
}

int pf_rawpack_decompress(const void *dict, size_t dict_len, const void *src, size_t len, void *dst,
                          size_t cap, size_t *out_len)
{
	char scratch[1];
	size_t raw_len;
	int rc;

	if (len > (size_t)INT32_MAX)
		return PF_EINVAL;
	rc = pf_rawpack_length(src, len, &raw_len);
	if (rc)
		return rc;
	if (raw_len > cap || (!dst && raw_len > 0))
		return PF_EINVAL;
	dict_tail(&dict, &dict_len);
	int n = LZ4_decompress_safe_usingDict((const char *)src + PF_RAWPACK_HEADER,
	                                      dst ? dst : scratch, (int)(len - PF_RAWPACK_HEADER),
	                                      (int)raw_len, dict, (int)dict_len);
	if (n < 0 || (size_t)n != raw_len)
		return PF_EINVAL;
	if (out_len)
		*out_len = raw_len;
	return 0;
}

void pf_rawdict_init(pf_rawdict *d, char *buf, size_t cap)
{
	d->buf = buf;
	d->cap = buf ? cap : 0;
	d->len = 0;
}

/*
 * Rows are appended in order until the buffer is full; the row that does not
 * fit contributes its beginning (a JSON row's first keys are as useful as any)
 * and later rows are ignored. The sample window's rows are alike, so the
 * first 64 KB are as good a dictionary as any other 64 KB of them, and
 * keeping them costs no copying.
 */
void pf_rawdict_add(pf_rawdict *d, const void *row, size_t len)
{
	if (!row || d->len >= d->cap)
		return;
	if (len > d->cap - d->len)
		len = d->cap - d->len;
	memcpy(d->buf + d->len, row, len);
	d->len += len;
}

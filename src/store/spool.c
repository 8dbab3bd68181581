/*
 * spool.c - chunks of an upload on their way to import_chunks (see
 * spool.h). Whole chunks compress about 3x on property exports; each chunk
 * is one LZ4 block so that a restart can start at any chunk.
 */
#include "propflow/store/spool.h"

#include <lz4.h>
#include <stdlib.h>
#include <string.h>

void pf_spool_init(pf_spool *sp, int64_t offset)
{
	memset(sp, 0, sizeof(*sp));
	sp->durable = sp->sealed = offset;
}

static void chunk_free(pf_spool_chunk *c)
{
	free(c->data);
	free(c);
}

void pf_spool_deinit(pf_spool *sp)
{
	pf_spool_chunk *c = sp->head;
	while (c) {
		pf_spool_chunk *next = c->next;
		chunk_free(c);
		c = next;
	}
	free(sp->open);
	memset(sp, 0, sizeof(*sp));
}

int pf_spool_seal(pf_spool *sp, bool final)
{
	if (sp->finished)
		return PF_EINVAL;
	if (sp->open_len == 0 && !final)
		return 0;
	pf_spool_chunk *c = calloc(1, sizeof(*c));
	int bound = LZ4_compressBound((int)sp->open_len);
	if (!c || !(c->data = malloc(bound > 0 ? (size_t)bound : 1))) {
		free(c);
		return PF_ENOMEM;
	}
	int n =
	    sp->open_len ? LZ4_compress_default(sp->open, c->data, (int)sp->open_len, bound) : 0;
	if (n < 0 || (n == 0 && sp->open_len)) {
		chunk_free(c);
		return PF_ENOMEM;
	}
	c->len = (size_t)n;
	char *fit = realloc(c->data, c->len ? c->len : 1); /* held until stored: no slack */
	if (fit)
		c->data = fit;
	c->offset = sp->sealed;
	c->raw_len = (uint32_t)sp->open_len;
	c->final = final;
	sp->sealed += (int64_t)sp->open_len;
	sp->unacked += sp->open_len;
	sp->open_len = 0;
	sp->finished = final;
	if (sp->tail)
		sp->tail->next = c;
	else
		sp->head = c;
	sp->tail = c;
	return 0;
}

int pf_spool_append(pf_spool *sp, const char *data, size_t len)
{
	if (sp->finished)
		return PF_EINVAL;
	while (len) {
		if (!sp->open && !(sp->open = malloc(PF_SPOOL_CHUNK)))
			return PF_ENOMEM;
		size_t n = PF_SPOOL_CHUNK - sp->open_len;
		if (n > len)
			n = len;
		memcpy(sp->open + sp->open_len, data, n);
		sp->open_len += n;
		data += n;
		len -= n;
		if (sp->open_len == PF_SPOOL_CHUNK) {
			int rc = pf_spool_seal(sp, false);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

pf_spool_chunk *pf_spool_next_unsent(pf_spool *sp)
{
	for (pf_spool_chunk *c = sp->head; c; c = c->next)
		if (!c->sent) {
			c->sent = true;
			return c;
		}
	return NULL;
}

static void pop_head(pf_spool *sp)
{
	pf_spool_chunk *c = sp->head;
	sp->head = c->next;
	if (!sp->head)
		sp->tail = NULL;
	sp->unacked -= c->raw_len;
	if (c->offset + c->raw_len > sp->durable)
		sp->durable = c->offset + c->raw_len;
	chunk_free(c);
}

void pf_spool_ack_head(pf_spool *sp)
{
	if (sp->head)
		pop_head(sp);
}

int pf_spool_rewind(pf_spool *sp, int64_t durable, bool complete)
{
	while (sp->head && sp->head->offset + sp->head->raw_len <= durable &&
	       (sp->head->raw_len > 0 || complete))
		pop_head(sp);
	if (sp->head ? sp->head->offset != durable : sp->sealed != durable)
		return PF_EINVAL;
	sp->durable = durable;
	for (pf_spool_chunk *c = sp->head; c; c = c->next)
		c->sent = false;
	return 0;
}

int pf_spool_decode(const char *data, size_t len, char *out, size_t raw_len)
{
	if (raw_len == 0)
		return len == 0 ? 0 : PF_EINVAL;
	int n = LZ4_decompress_safe(data, out, (int)len, (int)raw_len);
	return n == (int)raw_len ? 0 : PF_EINVAL;
}

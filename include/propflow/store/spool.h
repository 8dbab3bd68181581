/*
 * spool.h - the durable copy of an upload, before it is durable: bytes are
 * gathered into chunks of PF_SPOOL_CHUNK bytes, each sealed chunk is
 * compressed as one LZ4 block, and kept here until the database says it is
 * stored (import_chunks, through pf_chunk_put). The job submits the chunks
 * and reports acknowledgements; after a lost connection it asks for every
 * chunk not yet acknowledged again. Chunks are contiguous and in order, so
 * the stored bytes of a job are always a prefix of its upload.
 *
 * Ownership: the spool owns its open buffer and every sealed chunk until
 * pf_spool_ack frees it.
 */
#ifndef PROPFLOW_SPOOL_H
#define PROPFLOW_SPOOL_H

#include "propflow/base/common.h"

#define PF_SPOOL_CHUNK       (256 * 1024) /* raw bytes of a full chunk */
#define PF_SPOOL_UNACKED_MAX (8u << 20)   /* raw bytes sealed, not stored: producer waits past it */

typedef struct pf_spool_chunk {
	struct pf_spool_chunk *next;
	int64_t offset;   /* stream offset of its first byte */
	uint32_t raw_len; /* bytes it stands for */
	bool final;       /* the upload's last chunk */
	bool sent;        /* submitted in the current round (see pf_spool_rewind) */
	char *data;       /* owned: the LZ4 block */
	size_t len;
} pf_spool_chunk;

typedef struct pf_spool {
	int64_t durable; /* stream bytes the database has */
	int64_t sealed;  /* end of the last sealed chunk */
	char *open;      /* owned: bytes not sealed yet */
	size_t open_len;
	pf_spool_chunk *head; /* sealed, not acknowledged, in order */
	pf_spool_chunk *tail;
	size_t unacked; /* raw bytes in head..tail */
	bool finished;  /* the final chunk is sealed */
} pf_spool;

/* An empty spool whose stream continues at offset (bytes already stored). */
void pf_spool_init(pf_spool *sp, int64_t offset);
void pf_spool_deinit(pf_spool *sp);

/* Take len bytes; full chunks are sealed as they fill. Returns 0,
 * PF_ENOMEM or PF_EINVAL (after the final chunk). */
PF_MUST_CHECK int pf_spool_append(pf_spool *sp, const char *data, size_t len);
/* Seal the open bytes now (nothing when empty, unless final: the final
 * chunk may be empty). Returns 0, PF_ENOMEM or PF_EINVAL. */
PF_MUST_CHECK int pf_spool_seal(pf_spool *sp, bool final);
/* The next sealed chunk not yet submitted in this round, marked sent; NULL
 * when none. */
pf_spool_chunk *pf_spool_next_unsent(pf_spool *sp);
/* The database stored the oldest chunk (acknowledgements come in order). */
void pf_spool_ack_head(pf_spool *sp);
/* A new round after a lost connection: the database has `durable` bytes
 * (and the final chunk when complete); chunks below are dropped, the rest
 * will be submitted again. Returns 0, or PF_EINVAL when durable is not a
 * chunk boundary the spool knows. */
PF_MUST_CHECK int pf_spool_rewind(pf_spool *sp, int64_t durable, bool complete);

/* Decompress one stored chunk into out (raw_len bytes). Returns 0 or
 * PF_EINVAL when the block is corrupt. */
PF_MUST_CHECK int pf_spool_decode(const char *data, size_t len, char *out, size_t raw_len);

#endif

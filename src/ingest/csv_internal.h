/*
 * csv_internal.h - what the two files of the CSV reader share: csv.c (the
 * record and field state machine, the record buffer, pf_csv_feed and the
 * rest of csv.h) and csv_decode.c (the bytes under it: the encoding and
 * delimiter sniffers, transcoding of bytes >= 0x80, UTF-8 sequences split
 * across chunks, the raw text of a record, and the capped buffer growth
 * both use). csv.c calls into csv_decode.c, never the other way: the field
 * append both need is an inline function here. Private to them:
 * include/propflow/ingest/csv.h stays the only interface of the reader.
 */
#ifndef PROPFLOW_CSV_INTERNAL_H
#define PROPFLOW_CSV_INTERNAL_H

#include "propflow/ingest/csv.h"

#include <string.h>

#define PF_CSV_BUF_START    4096                          /* first size of the record buffer */
#define PF_CSV_FIELDS_START 64                            /* first size of the per-field arrays */
#define PF_CSV_PRE_MAX      (PF_CSV_HEADER_SNIFF_MAX + 4) /* held bytes while sniffing */
#define PF_CSV_RAW_SLACK    4 /* raw_in keeps this much more than raw_keep to end a character */

enum parse_state {
	S_REC_START,   /* between records: blank lines are eaten here */
	S_FIELD_START, /* at the first byte of a field */
	S_UNQUOTED,    /* inside an unquoted field */
	S_QUOTED,      /* inside quotes */
	S_QUOTE_END,   /* just after a quote inside quotes: "" or the closing one */
};

enum sniff_state {
	D_FIELD_START,
	D_UNQUOTED,
	D_QUOTED,
	D_QUOTE_END,
};

struct pf_csv {
	pf_csv_limits lim;   /* copy of the caller's limits */
	pf_csv_record_cb cb; /* borrowed */
	void *arg;           /* borrowed, passed to cb */
	bool ready;          /* encoding and delimiter known: main parser runs */
	bool finished;       /* pf_csv_finish was called */
	int fatal;           /* sticky negative error (allocation) */
	char delim;          /* 0 until known */
	pf_csv_encoding enc; /* UNKNOWN until decided */

	/* Sniffing phase. */
	char *pre; /* owned: bytes held until ready, replayed from pre_off */
	size_t pre_len;
	size_t pre_cap;
	size_t pre_off;
	uint64_t sniffed;      /* stream bytes seen by the sniffers */
	unsigned char head[3]; /* first stream bytes, for the BOM */
	bool bom;              /* the stream starts with a UTF-8 BOM */
	unsigned u8_need;      /* UTF-8 sniffer: continuation bytes still expected */
	unsigned char u8_lo;   /* allowed range of the next continuation byte */
	unsigned char u8_hi;
	enum sniff_state dst; /* delimiter sniffer state */
	bool d_content;       /* the header line has started */
	size_t dcount[4];     /* occurrences of each candidate outside quotes */

	/* Main parser. */
	enum parse_state st;
	size_t bom_skip;       /* BOM bytes still to drop */
	bool cr_last;          /* the last byte consumed was a CR */
	unsigned char pend[4]; /* incomplete UTF-8 sequence at the end of a chunk */
	size_t pend_len;
	unsigned char stop_unq[256]; /* bytes that end a plain stretch outside quotes */
	unsigned char stop_q[256];   /* ... inside quotes */

	/* Record being built. */
	char *buf; /* owned: fields back to back, NUL terminated */
	size_t buf_len;
	size_t buf_cap;
	size_t buf_max;     /* record_max + fields_max + 1 */
	size_t field_start; /* offset in buf of the current field */
	size_t rec_bytes;   /* field bytes of the record so far */
	size_t *offs;       /* owned: field offsets in buf */
	size_t *lens;       /* owned: field lengths */
	const char **ptrs;  /* owned: field pointers, built at delivery */
	size_t nfields;
	size_t fields_cap;
	pf_csv_error cap_err; /* first cap exceeded in this record */
	bool unterminated;    /* end of input inside quotes */
	bool rec_quoted;      /* a field of this record was quoted */
	bool rec_dirty;       /* the record's text has a NUL or a byte >= 0x80 */
	uint64_t rec_line;    /* line the record starts on */
	char *raw_in;         /* owned: record text from earlier chunks, undecoded */
	size_t raw_in_len;
	size_t raw_in_cap;
	size_t raw_in_text; /* bytes in raw_in other than NUL */
	size_t raw_in_max;  /* most non-NUL bytes kept: raw_keep + PF_CSV_RAW_SLACK */
	bool raw_over;      /* raw_in dropped bytes */
	char *raw_out;      /* owned: decoded raw text */
	size_t raw_out_cap;

	/* Counters. */
	uint64_t index; /* next record index */
	uint64_t line;  /* current physical line, from 1 */
	uint64_t nul_bytes;
	uint64_t bytes_in;
	uint64_t base_off; /* stream offset of the chunk parse() works on */
	uint64_t rec_end;  /* stream offset after the record being delivered */
	bool rec_end_cr;   /* ... and whether its last byte is a CR */
};

/* ---------------------------------------------- the bytes (csv_decode.c) */

/* a + b, SIZE_MAX when it would overflow. */
size_t csv_add_sat(size_t a, size_t b);
/* Grows *ptr to hold at least need elements, doubling, never past max.
 * Returns 0, PF_ELIMIT (need > max) or PF_ENOMEM. */
int csv_grow(void **ptr, size_t *cap, size_t need, size_t max, size_t elem, size_t start);

/* Sniffing: runs the encoding and delimiter sniffers over p until both
 * have decided; returns bytes examined. */
size_t csv_sniff(pf_csv *csv, const unsigned char *p, size_t n);
/* Sets delim from the counts seen so far (',' on a tie or none). */
void csv_decide_delim(pf_csv *csv);

/* Field bytes: decodes the bytes >= 0x80 starting at p into the current
 * field; returns where plain text resumes. */
const unsigned char *csv_decode_high(pf_csv *csv, const unsigned char *p, const unsigned char *end);
/* Completes a UTF-8 sequence left incomplete by the previous chunk. */
const unsigned char *csv_resolve_pending(pf_csv *csv, const unsigned char *p,
                                         const unsigned char *end);
/* End of input: the incomplete sequence is Windows-1252 after all. */
void csv_flush_pending(pf_csv *csv);

/* Raw text: keeps record text that spans chunks (raw_in). */
void csv_raw_append(pf_csv *csv, const unsigned char *s, size_t n);
/* Decodes n bytes of record text into raw_out, at most raw_keep bytes and
 * never half a character. complete: src is the whole record text. */
size_t csv_raw_decode(pf_csv *csv, const unsigned char *src, size_t n, bool complete,
                      bool *truncated);

/* -------------------------------------------------- the record buffer */

static inline void csv_append_slow(pf_csv *csv, const unsigned char *s, size_t n)
{
	int rc = csv_grow((void **)&csv->buf, &csv->buf_cap, csv->buf_len + n + 1, csv->buf_max, 1,
	                  PF_CSV_BUF_START);
	if (rc) {
		/* the caps keep need <= buf_max, so this is an allocation failure */
		csv->fatal = PF_ENOMEM;
		csv->cap_err = PF_CSV_RECORD_TOO_LONG;
		return;
	}
	memcpy(csv->buf + csv->buf_len, s, n);
	csv->buf_len += n;
	csv->rec_bytes += n;
}

/* Adds decoded bytes to the current field, or records which cap they break. */
static inline void csv_append(pf_csv *csv, const unsigned char *s, size_t n)
{
	if (csv->cap_err)
		return;
	size_t froom = csv->lim.field_max - (csv->buf_len - csv->field_start);
	size_t rroom = csv->lim.record_max - csv->rec_bytes;
	if (n > froom || n > rroom) {
		/* the cap a byte-by-byte reader would cross first: same for any chunking */
		csv->cap_err = froom <= rroom ? PF_CSV_FIELD_TOO_LONG : PF_CSV_RECORD_TOO_LONG;
		return;
	}
	if (n >= csv->buf_cap - csv->buf_len) {
		csv_append_slow(csv, s, n);
		return;
	}
	memcpy(csv->buf + csv->buf_len, s, n);
	csv->buf_len += n;
	csv->rec_bytes += n;
}

#endif

/*
 * csv.h - streaming CSV reader for real-world exports.
 *
 * Bytes go in as they arrive (any split, even mid-character or mid-CRLF);
 * records come out through a callback, already transcoded to UTF-8.
 *  - RFC 4180 quoting: delimiters, doubled quotes and newlines inside quotes.
 *  - Line endings LF, CRLF or lone CR, mixed freely.
 *  - Encoding: a UTF-8 BOM is skipped. The first PF_CSV_SNIFF_BYTES decide
 *    the encoding: valid UTF-8 -> UTF-8, otherwise Windows-1252 (a superset
 *    of Latin-1 for printable text). In a file judged UTF-8, any later
 *    invalid sequence is transcoded byte-wise as Windows-1252, so no invalid
 *    UTF-8 ever leaves this module. NUL bytes are dropped (PostgreSQL text
 *    cannot hold them) and counted in nul_bytes.
 *  - Delimiter: detected on the header line among ',' ';' '\t' '|'
 *    (outside quotes, most frequent wins, ',' on a tie or none), unless
 *    forced in the limits.
 *  - Blank lines (nothing but a line ending) are skipped: they are not
 *    records, but physical line numbers keep counting them.
 *
 * Ownership: pf_csv owns all its buffers; a record passed to the callback
 * and everything it points to are borrowed until the callback returns.
 */
#ifndef PROPFLOW_CSV_H
#define PROPFLOW_CSV_H

#include "propflow/base/common.h"

#define PF_CSV_SNIFF_BYTES (64 * 1024) /* bytes examined to pick encoding */
#define PF_CSV_HEADER_SNIFF_MAX                                                                    \
	(1024 * 1024) /* header line longer than this: delimiter from what was seen */

/* Positive results of pf_csv_feed (see error rule in common.h). */
enum {
	PF_CSV_PAUSED = 1, /* the callback asked to stop; feed the rest later */
};

typedef enum pf_csv_encoding {
	PF_CSV_ENC_UNKNOWN = 0, /* not enough bytes seen yet */
	PF_CSV_ENC_UTF8,
	PF_CSV_ENC_CP1252,
} pf_csv_encoding;

/* Why a record could not be read as a record (record->error). */
typedef enum pf_csv_error {
	PF_CSV_OK = 0,
	PF_CSV_FIELD_TOO_LONG,  /* a field exceeded limits.field_max */
	PF_CSV_TOO_MANY_FIELDS, /* more than limits.fields_max fields */
	PF_CSV_RECORD_TOO_LONG, /* whole record exceeded limits.record_max */
	PF_CSV_UNTERMINATED,    /* end of input inside a quoted field */
	PF_CSV_BAD_QUOTE,       /* never raised: a stray quote inside an unquoted
	                           field, or text after a closing quote, is kept
	                           literally as exports do; reserved */
} pf_csv_error;

const char *pf_csv_error_str(pf_csv_error e);

typedef struct pf_csv_limits {
	size_t field_max;  /* bytes of one field after decoding */
	size_t fields_max; /* fields in one record */
	size_t record_max; /* bytes of one record (all fields) */
	size_t raw_keep;   /* bytes of original record text kept for error reports */
	char delimiter;    /* 0 = detect */
} pf_csv_limits;

/* Sensible defaults: 1 MiB field, 4096 fields, 4 MiB record, 2 KiB raw. */
void pf_csv_limits_default(pf_csv_limits *lim);

typedef struct pf_csv_record {
	uint64_t index;            /* 0 for the header, then 1, 2, ... for data records */
	uint64_t line;             /* physical line (from 1) the record starts on */
	size_t nfields;            /* number of fields (0 when error set and unknown) */
	const char *const *fields; /* nfields NUL-terminated UTF-8 strings */
	const size_t *lens;        /* their lengths */
	const char *raw; /* original text of the record, UTF-8, at most raw_keep bytes, no final
	                    line ending */
	size_t raw_len;
	bool raw_truncated; /* raw is a prefix */
	pf_csv_error error; /* PF_CSV_OK, or why fields are unusable */
	/* Where the stream stands after this record and its line ending: what
	 * pf_csv_resume needs to go on from here in a new reader. */
	uint64_t end_offset; /* stream byte just after the record */
	uint64_t end_line;   /* physical line at end_offset */
	bool end_cr;         /* the byte before end_offset is a CR (an LF next is its pair) */
} pf_csv_record;

/*
 * Called once per record. Return 0 to go on, PF_CSV_PAUSED to make
 * pf_csv_feed return after this record (the record itself is taken),
 * or a negative error to abort (returned by pf_csv_feed).
 */
typedef int (*pf_csv_record_cb)(void *arg, const pf_csv_record *rec);

typedef struct pf_csv pf_csv;

pf_csv *pf_csv_new(const pf_csv_limits *lim, pf_csv_record_cb cb, void *arg);
void pf_csv_free(pf_csv *csv);

/*
 * Until the encoding and delimiter are known (at most PF_CSV_SNIFF_BYTES,
 * or the header line up to PF_CSV_HEADER_SNIFF_MAX), bytes are held inside
 * and reported consumed; a pause while those held records are delivered
 * returns PF_CSV_PAUSED with *consumed = 0, and the next call (even with
 * len 0) delivers the rest first. A UTF-8 BOM decides UTF-8 at once.
 *
 * Parse up to len bytes. *consumed tells how many were used: all of them
 * unless the callback paused (PF_CSV_PAUSED) or an error is returned.
 * Bytes not consumed must be passed again, first, on the next call.
 */
PF_MUST_CHECK int pf_csv_feed(pf_csv *csv, const char *data, size_t len, size_t *consumed);

/* End of input: emits the last record if it had no final line ending.
 * Returns 0, or a negative error. A PF_CSV_PAUSED from the callback is
 * ignored here (there is nothing left to pause). */
PF_MUST_CHECK int pf_csv_finish(pf_csv *csv);

/* Input was cut off: delivers every complete record still held (the
 * encoding and delimiter are decided on what was seen) and drops the
 * record in progress. Returns 0 or a negative error. */
PF_MUST_CHECK int pf_csv_abandon(pf_csv *csv);

/*
 * Start a fresh reader in the middle of a stream, at a record boundary a
 * previous reader reported (end_offset, end_line, end_cr of its last
 * record, and the next record index), with the encoding and delimiter that
 * reader decided: no sniffing, no BOM. Feed the stream from offset on.
 * Call before the first pf_csv_feed. Returns 0 or PF_EINVAL.
 */
PF_MUST_CHECK int pf_csv_resume(pf_csv *csv, pf_csv_encoding enc, char delim, uint64_t offset,
                                uint64_t index, uint64_t line, bool cr_last);

char pf_csv_delimiter(const pf_csv *csv); /* 0 until known */
pf_csv_encoding pf_csv_encoding_of(const pf_csv *csv);
const char *pf_csv_encoding_name(pf_csv_encoding e); /* "utf-8", "windows-1252", "unknown" */
uint64_t pf_csv_nul_bytes(const pf_csv *csv);
uint64_t pf_csv_lines(const pf_csv *csv);    /* physical lines seen so far */
uint64_t pf_csv_bytes_in(const pf_csv *csv); /* input bytes consumed so far */

#endif

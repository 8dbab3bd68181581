/*
 * csv.c - streaming CSV reader for real-world exports (see csv.h).
 *
 * Two phases. Until the encoding and the delimiter are known, bytes are
 * only examined by two small sniffers and held in `pre` (at most
 * PF_CSV_HEADER_SNIFF_MAX bytes). Once both are known, the held bytes and
 * then everything after them go through one state machine that works on
 * the raw bytes directly: structure (quotes, delimiters, CR, LF) is ASCII
 * in both UTF-8 and Windows-1252, so only field contents need decoding,
 * and plain stretches are found with a 256-entry stop table and copied
 * with one memcpy.
 *
 * A record is built in one buffer (fields back to back, each NUL
 * terminated) whose size is bounded by the limits; past a cap the record
 * keeps being parsed for its structure only and is delivered with an
 * error. The raw text of a record that lies inside one input chunk and
 * needs no decoding is handed out as a pointer into that chunk.
 */
#include "propflow/ingest/csv.h"
#include "propflow/base/utf8.h"

#include <stdlib.h>
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

static const char delim_candidates[4] = {',', ';', '\t', '|'};
static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

/* Windows-1252 0x80-0x9F; the five undefined bytes become U+FFFD. */
/* clang-format off */
static const uint16_t cp1252_hi[32] = {
	0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
	0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178,
};
/* clang-format on */

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

const char *pf_csv_error_str(pf_csv_error e)
{
	switch (e) {
	case PF_CSV_OK: return "ok";
	case PF_CSV_FIELD_TOO_LONG: return "field too long";
	case PF_CSV_TOO_MANY_FIELDS: return "too many fields";
	case PF_CSV_RECORD_TOO_LONG: return "record too long";
	case PF_CSV_UNTERMINATED: return "unterminated quoted field at end of input";
	case PF_CSV_BAD_QUOTE: return "bad quote";
	}
	return "unknown csv error";
}

const char *pf_csv_encoding_name(pf_csv_encoding e)
{
	switch (e) {
	case PF_CSV_ENC_UTF8: return "utf-8";
	case PF_CSV_ENC_CP1252: return "windows-1252";
	case PF_CSV_ENC_UNKNOWN: break;
	}
	return "unknown";
}

void pf_csv_limits_default(pf_csv_limits *lim)
{
	lim->field_max = 1024 * 1024;
	lim->fields_max = 4096;
	lim->record_max = 4 * 1024 * 1024;
	lim->raw_keep = 2048;
	lim->delimiter = 0;
}

static size_t add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Grows *ptr to hold at least need elements, doubling, never past max. */
static int grow(void **ptr, size_t *cap, size_t need, size_t max, size_t elem, size_t start)
{
	if (need <= *cap)
		return 0;
	if (need > max)
		return PF_ELIMIT;
	size_t n = *cap ? *cap : start;
	while (n < need)
		n = n > max / 2 ? max : n * 2;
	if (n > max)
		n = max;
	if (n > SIZE_MAX / elem)
		return PF_ENOMEM;
	void *q = realloc(*ptr, n * elem);
	if (!q)
		return PF_ENOMEM;
	*ptr = q;
	*cap = n;
	return 0;
}

pf_csv *pf_csv_new(const pf_csv_limits *lim, pf_csv_record_cb cb, void *arg)
{
	if (!lim || !cb || lim->fields_max == 0)
		return NULL;
	unsigned char d = (unsigned char)lim->delimiter;
	if (d == '"' || d == '\r' || d == '\n' || d >= 0x80)
		return NULL;
	pf_csv *csv = calloc(1, sizeof(*csv));
	if (!csv)
		return NULL;
	csv->lim = *lim;
	csv->cb = cb;
	csv->arg = arg;
	csv->delim = lim->delimiter;
	csv->line = 1;
	csv->buf_max = add_sat(add_sat(lim->record_max, lim->fields_max), 1);
	csv->raw_in_max = add_sat(lim->raw_keep, PF_CSV_RAW_SLACK);
	return csv;
}

void pf_csv_free(pf_csv *csv)
{
	if (!csv)
		return;
	free(csv->pre);
	free(csv->buf);
	free(csv->offs);
	free(csv->lens);
	free(csv->ptrs);
	free(csv->raw_in);
	free(csv->raw_out);
	free(csv);
}

char pf_csv_delimiter(const pf_csv *csv)
{
	return csv->delim;
}

pf_csv_encoding pf_csv_encoding_of(const pf_csv *csv)
{
	return csv->enc;
}

uint64_t pf_csv_nul_bytes(const pf_csv *csv)
{
	return csv->nul_bytes;
}

uint64_t pf_csv_lines(const pf_csv *csv)
{
	return csv->line - 1 + (csv->st != S_REC_START);
}

uint64_t pf_csv_bytes_in(const pf_csv *csv)
{
	return csv->bytes_in;
}

/* ---- decoding helpers ---- */

/* UTF-8 of Windows-1252 byte b >= 0x80 into out; returns its length. */
static size_t cp1252_utf8(unsigned char b, unsigned char out[3])
{
	unsigned cp = b < 0xA0 ? cp1252_hi[b - 0x80] : b;
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	out[0] = (unsigned char)(0xE0 | cp >> 12);
	out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	out[2] = (unsigned char)(0x80 | (cp & 0x3F));
	return 3;
}

/* ---- record building ---- */

static void append_slow(pf_csv *csv, const unsigned char *s, size_t n)
{
	int rc = grow((void **)&csv->buf, &csv->buf_cap, csv->buf_len + n + 1, csv->buf_max, 1,
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
static inline void append(pf_csv *csv, const unsigned char *s, size_t n)
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
		append_slow(csv, s, n);
		return;
	}
	memcpy(csv->buf + csv->buf_len, s, n);
	csv->buf_len += n;
	csv->rec_bytes += n;
}

static void append_cp1252(pf_csv *csv, unsigned char b)
{
	unsigned char t[3];
	append(csv, t, cp1252_utf8(b, t));
}

static void end_field(pf_csv *csv)
{
	if (csv->cap_err)
		return;
	if (csv->nfields == csv->lim.fields_max) {
		csv->cap_err = PF_CSV_TOO_MANY_FIELDS;
		return;
	}
	if (csv->nfields == csv->fields_cap) {
		size_t cap = csv->fields_cap;
		int rc = grow((void **)&csv->offs, &cap, csv->nfields + 1, csv->lim.fields_max,
		              sizeof(size_t), PF_CSV_FIELDS_START);
		if (!rc) {
			cap = csv->fields_cap;
			rc = grow((void **)&csv->lens, &cap, csv->nfields + 1, csv->lim.fields_max,
			          sizeof(size_t), PF_CSV_FIELDS_START);
		}
		if (!rc) {
			cap = csv->fields_cap;
			rc = grow((void **)&csv->ptrs, &cap, csv->nfields + 1, csv->lim.fields_max,
			          sizeof(char *), PF_CSV_FIELDS_START);
		}
		if (rc) {
			csv->fatal = PF_ENOMEM;
			csv->cap_err = PF_CSV_TOO_MANY_FIELDS;
			return;
		}
		csv->fields_cap = cap;
	}
	if (csv->buf_len == csv->buf_cap) {
		/* only an empty last field can get here: reserve its NUL */
		append_slow(csv, (const unsigned char *)"", 0);
		if (csv->cap_err)
			return;
	}
	csv->offs[csv->nfields] = csv->field_start;
	csv->lens[csv->nfields] = csv->buf_len - csv->field_start;
	csv->nfields++;
	csv->buf[csv->buf_len++] = '\0';
	csv->field_start = csv->buf_len;
}

/*
 * Keeps record text that spans chunks, for raw. A run of NUL bytes is kept
 * as one NUL (it still breaks a UTF-8 sequence when decoded, as in the
 * fields) and only other bytes count against raw_in_max: so when raw_in
 * overflows, its raw_keep + 4 bytes decode to more than raw_keep, and the
 * kept prefix reads exactly as if the whole record were decoded at once.
 */
static void raw_append(pf_csv *csv, const unsigned char *s, size_t n)
{
	if (n == 0 || csv->raw_over)
		return;
	size_t room = csv->raw_in_max - csv->raw_in_text;
	size_t want = n < room ? n : room;
	size_t need =
	    csv->rec_dirty ? add_sat(csv->raw_in_max, csv->raw_in_max) : csv->raw_in_len + want;
	if (grow((void **)&csv->raw_in, &csv->raw_in_cap, need,
	         add_sat(csv->raw_in_max, csv->raw_in_max), 1, 256)) {
		csv->fatal = PF_ENOMEM;
		return;
	}
	unsigned char *dst = (unsigned char *)csv->raw_in;
	if (!csv->rec_dirty) {
		memcpy(dst + csv->raw_in_len, s, want);
		csv->raw_in_len += want;
		csv->raw_in_text += want;
		csv->raw_over = n > room;
		return;
	}
	size_t o = csv->raw_in_len, text = csv->raw_in_text;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == 0) {
			if (o > 0 && dst[o - 1] != 0)
				dst[o++] = 0;
			continue;
		}
		if (text == csv->raw_in_max) {
			csv->raw_over = true;
			break;
		}
		dst[o++] = s[i];
		text++;
	}
	csv->raw_in_len = o;
	csv->raw_in_text = text;
}

/* Decodes n bytes of record text into raw_out, at most raw_keep bytes and
 * never half a character. complete: src is the whole record text. */
static size_t raw_decode(pf_csv *csv, const unsigned char *src, size_t n, bool complete,
                         bool *truncated)
{
	size_t cap = csv->lim.raw_keep, o = 0, i = 0;
	size_t want = n > SIZE_MAX / 3 ? SIZE_MAX : n * 3;
	if (want > cap)
		want = cap;
	if (grow((void **)&csv->raw_out, &csv->raw_out_cap, want + 1, add_sat(cap, 1), 1, 256)) {
		csv->fatal = PF_ENOMEM;
		*truncated = true;
		return 0;
	}
	unsigned char *out = (unsigned char *)csv->raw_out;
	*truncated = !complete;
	while (i < n) {
		unsigned char c = src[i];
		if (c < 0x80) {
			i++;
			if (c == 0)
				continue;
			if (o == cap)
				goto full;
			out[o++] = c;
			continue;
		}
		if (csv->enc == PF_CSV_ENC_UTF8) {
			int k = pf_utf8_seq(src + i, n - i);
			if (k > 0) {
				if ((size_t)k > cap - o)
					goto full;
				memcpy(out + o, src + i, (size_t)k);
				o += (size_t)k;
				i += (size_t)k;
				continue;
			}
			if (k < 0 && !complete)
				break; /* cut by raw_keep mid-character */
		}
		unsigned char t[3];
		size_t k = cp1252_utf8(c, t);
		if (k > cap - o)
			goto full;
		memcpy(out + o, t, k);
		o += k;
		i++;
	}
	return o;
full:
	*truncated = true;
	return o;
}

static void reset_record(pf_csv *csv)
{
	csv->buf_len = 0;
	csv->field_start = 0;
	csv->rec_bytes = 0;
	csv->nfields = 0;
	csv->cap_err = PF_CSV_OK;
	csv->unterminated = false;
	csv->rec_quoted = false;
	csv->rec_dirty = false;
	csv->raw_in_len = 0;
	csv->raw_in_text = 0;
	csv->raw_over = false;
}

/* Ends the record whose text in the current chunk is [span, q) (after any
 * part kept in raw_in) and hands it to the callback; returns its answer. */
static int end_record(pf_csv *csv, const unsigned char *span, const unsigned char *q)
{
	end_field(csv);
	if (csv->fatal)
		return csv->fatal;
	if (!csv->cap_err && !csv->unterminated && csv->nfields == 1 && csv->lens[0] == 0 &&
	    !csv->rec_quoted) {
		reset_record(csv); /* blank line (or only NUL bytes) */
		return 0;
	}
	pf_csv_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.index = csv->index++;
	rec.line = csv->rec_line;
	rec.error = csv->unterminated ? PF_CSV_UNTERMINATED : csv->cap_err;
	rec.end_offset = csv->rec_end;
	rec.end_line = csv->line;
	rec.end_cr = csv->rec_end_cr;
	if (!csv->cap_err) {
		for (size_t i = 0; i < csv->nfields; i++)
			csv->ptrs[i] = csv->buf + csv->offs[i];
		rec.nfields = csv->nfields;
		rec.fields = csv->ptrs;
		rec.lens = csv->lens;
	} else {
		static const char *const none[1] = {NULL};
		static const size_t zero[1] = {0};
		rec.fields = none;
		rec.lens = zero;
	}

	const unsigned char *src;
	size_t n = span ? (size_t)(q - span) : 0;
	if (csv->raw_in_len == 0 && !csv->raw_over) {
		src = span;
	} else {
		raw_append(csv, span, n);
		src = (const unsigned char *)csv->raw_in;
		n = csv->raw_in_len;
	}
	if (!src) {
		rec.raw = "";
	} else if (!csv->rec_dirty) {
		rec.raw = (const char *)src;
		rec.raw_len = n > csv->lim.raw_keep ? csv->lim.raw_keep : n;
		rec.raw_truncated = n > csv->lim.raw_keep || csv->raw_over;
	} else {
		rec.raw_len = raw_decode(csv, src, n, !csv->raw_over, &rec.raw_truncated);
		rec.raw = csv->raw_out ? csv->raw_out : "";
	}
	if (csv->fatal)
		return csv->fatal;
	int rc = csv->cb(csv->arg, &rec);
	reset_record(csv);
	return rc;
}

/* ---- main parser ---- */

/* First byte at or after p that is set in tab, or end. */
static inline const unsigned char *scan(const unsigned char *p, const unsigned char *end,
                                        const unsigned char *tab)
{
	while (end - p >= 4) {
		if (tab[p[0]])
			return p;
		if (tab[p[1]])
			return p + 1;
		if (tab[p[2]])
			return p + 2;
		if (tab[p[3]])
			return p + 3;
		p += 4;
	}
	while (p < end && !tab[*p])
		p++;
	return p;
}

/* Decodes the bytes >= 0x80 starting at p; returns where plain text resumes. */
static const unsigned char *decode_high(pf_csv *csv, const unsigned char *p,
                                        const unsigned char *end)
{
	csv->rec_dirty = true;
	if (csv->enc != PF_CSV_ENC_UTF8) {
		while (p < end && *p >= 0x80)
			append_cp1252(csv, *p++);
		return p;
	}
	const unsigned char *s = p;
	while (p < end && *p >= 0x80) {
		int k = pf_utf8_seq(p, (size_t)(end - p));
		if (k > 0) {
			p += k;
			continue;
		}
		append(csv, s, (size_t)(p - s));
		if (k < 0) {
			/* split across chunks: finish it with the next bytes */
			csv->pend_len = (size_t)(end - p);
			memcpy(csv->pend, p, csv->pend_len);
			return end;
		}
		append_cp1252(csv, *p++);
		s = p;
	}
	append(csv, s, (size_t)(p - s));
	return p;
}

/* Completes a UTF-8 sequence left incomplete by the previous chunk. */
static const unsigned char *resolve_pending(pf_csv *csv, const unsigned char *p,
                                            const unsigned char *end)
{
	unsigned char t[4];
	size_t old = csv->pend_len, k = old;
	memcpy(t, csv->pend, old);
	while (k < 4 && p + (k - old) < end) {
		t[k] = p[k - old];
		k++;
	}
	int n = pf_utf8_seq(t, k);
	if (n < 0) {
		memcpy(csv->pend, t, k);
		csv->pend_len = k;
		return end;
	}
	csv->pend_len = 0;
	if (n > 0) {
		append(csv, t, (size_t)n);
		return p + ((size_t)n - old);
	}
	for (size_t i = 0; i < old; i++)
		append_cp1252(csv, t[i]);
	return p;
}

static void flush_pending(pf_csv *csv)
{
	for (size_t i = 0; i < csv->pend_len; i++)
		append_cp1252(csv, csv->pend[i]);
	csv->pend_len = 0;
}

/*
 * Parses len bytes (the main phase). *used: bytes consumed, all unless the
 * callback stopped (returned non-zero, which is passed back).
 */
static int parse(pf_csv *csv, const char *data, size_t len, size_t *used)
{
	const unsigned char *base = (const unsigned char *)data, *p = base, *end = base + len;
	const unsigned char *span = NULL; /* start of the current record's text in this chunk */
	const unsigned char *stop_unq = csv->stop_unq, *stop_q = csv->stop_q;
	const unsigned char delim = (unsigned char)csv->delim;
	enum parse_state st = csv->st;
	int rc = 0;

	while (csv->bom_skip && p < end) {
		p++;
		csv->bom_skip--;
	}
	const unsigned char *first = p;
	if (st != S_REC_START) {
		span = p;
		if (csv->pend_len && p < end)
			p = resolve_pending(csv, p, end);
	}

	while (p < end) {
		switch (st) {
		case S_REC_START:
			if (*p == '\n') {
				if (p > first ? p[-1] != '\r' : !csv->cr_last)
					csv->line++;
				p++;
				continue;
			}
			if (*p == '\r') {
				csv->line++;
				p++;
				continue;
			}
			csv->rec_line = csv->line;
			span = p;
			st = S_FIELD_START;
			/* fall through */
		case S_FIELD_START:
			if (*p == '"') {
				csv->rec_quoted = true;
				st = S_QUOTED;
				p++;
				continue;
			}
			if (*p == '\0') {
				csv->nul_bytes++;
				csv->rec_dirty = true;
				p++;
				continue;
			}
			st = S_UNQUOTED;
			/* fall through */
		case S_UNQUOTED: {
			const unsigned char *s = p;
			p = scan(p, end, stop_unq);
			if (p > s)
				append(csv, s, (size_t)(p - s));
			if (p == end)
				continue;
			unsigned char c = *p;
			if (c == delim) {
				end_field(csv);
				p++;
				st = S_FIELD_START;
			} else if (c == '\r' || c == '\n') {
				goto record_end;
			} else if (c == '\0') {
				csv->nul_bytes++;
				csv->rec_dirty = true;
				p++;
			} else {
				p = decode_high(csv, p, end);
			}
			continue;
		}
		case S_QUOTED: {
			const unsigned char *s = p;
			p = scan(p, end, stop_q);
			if (p > s)
				append(csv, s, (size_t)(p - s));
			if (p == end)
				continue;
			unsigned char c = *p;
			if (c == '"') {
				st = S_QUOTE_END;
				p++;
			} else if (c == '\r') {
				csv->line++;
				append(csv, p++, 1);
			} else if (c == '\n') {
				if (p > first ? p[-1] != '\r' : !csv->cr_last)
					csv->line++;
				append(csv, p++, 1);
			} else if (c == '\0') {
				csv->nul_bytes++;
				csv->rec_dirty = true;
				p++;
			} else {
				p = decode_high(csv, p, end);
			}
			continue;
		}
		case S_QUOTE_END: {
			unsigned char c = *p;
			if (c == '"') {
				append(csv, p++, 1);
				st = S_QUOTED;
			} else if (c == delim) {
				end_field(csv);
				p++;
				st = S_FIELD_START;
			} else if (c == '\r' || c == '\n') {
				goto record_end;
			} else {
				st = S_UNQUOTED; /* text after the closing quote is kept */
			}
			continue;
		}
		}
		abort();

	record_end : {
		const unsigned char *q = p;
		csv->line++;
		if (*p++ == '\r' && p < end && *p == '\n')
			p++;
		csv->rec_end = csv->base_off + (uint64_t)(p - base);
		csv->rec_end_cr = p[-1] == '\r';
		st = S_REC_START;
		rc = end_record(csv, span, q);
		span = NULL;
		if (rc)
			break;
	}
	}

	if (st != S_REC_START && span)
		raw_append(csv, span, (size_t)(p - span));
	if (p > first)
		csv->cr_last = p[-1] == '\r';
	csv->st = st;
	*used = (size_t)(p - base);
	if (csv->fatal)
		return csv->fatal;
	return rc;
}

/* ---- sniffing ---- */

static int delim_index(unsigned char b)
{
	for (int i = 0; i < 4; i++)
		if (b == (unsigned char)delim_candidates[i])
			return i;
	return -1;
}

static bool sniff_utf8_byte(pf_csv *csv, unsigned char b)
{
	if (csv->u8_need) {
		if (b < csv->u8_lo || b > csv->u8_hi)
			return false;
		csv->u8_need--;
		csv->u8_lo = 0x80;
		csv->u8_hi = 0xBF;
		return true;
	}
	if (b < 0x80)
		return true;
	if (b < 0xC2 || b > 0xF4)
		return false;
	csv->u8_lo = 0x80;
	csv->u8_hi = 0xBF;
	if (b < 0xE0) {
		csv->u8_need = 1;
	} else if (b < 0xF0) {
		csv->u8_need = 2;
		if (b == 0xE0)
			csv->u8_lo = 0xA0;
		else if (b == 0xED)
			csv->u8_hi = 0x9F;
	} else {
		csv->u8_need = 3;
		if (b == 0xF0)
			csv->u8_lo = 0x90;
		else if (b == 0xF4)
			csv->u8_hi = 0x8F;
	}
	return true;
}

static void decide_delim(pf_csv *csv)
{
	size_t best = 0;
	char d = ',';
	for (int i = 0; i < 4; i++) {
		if (csv->dcount[i] > best) {
			best = csv->dcount[i];
			d = delim_candidates[i];
		} else if (csv->dcount[i] == best && best > 0) {
			d = ','; /* tie */
		}
	}
	csv->delim = d;
}

/* One header-line byte for the delimiter sniffer (a mirror of the parser). */
static void sniff_delim_byte(pf_csv *csv, unsigned char b)
{
	if (csv->dst == D_QUOTED) {
		if (b == '"')
			csv->dst = D_QUOTE_END;
		return;
	}
	if (csv->dst == D_QUOTE_END) {
		if (b == '"') {
			csv->dst = D_QUOTED;
			return;
		}
		csv->dst = D_UNQUOTED;
	}
	if (b == '\r' || b == '\n') {
		if (csv->d_content)
			decide_delim(csv);
		csv->dst = D_FIELD_START; /* a blank line before the header */
		return;
	}
	if (b == '\0')
		return;
	int i = delim_index(b);
	csv->d_content = true;
	if (i >= 0) {
		csv->dcount[i]++;
		csv->dst = D_FIELD_START;
	} else if (b == '"' && csv->dst == D_FIELD_START) {
		csv->dst = D_QUOTED;
	} else {
		csv->dst = D_UNQUOTED;
	}
}

/* Runs the sniffers over p until both have decided; returns bytes examined. */
static size_t sniff(pf_csv *csv, const unsigned char *p, size_t n)
{
	size_t i = 0;
	for (; i < n && !(csv->enc && csv->delim); i++) {
		unsigned char b = p[i];
		uint64_t off = csv->sniffed++;
		bool bom_prefix = false;
		if (off < 3) {
			csv->head[off] = b;
			bom_prefix = memcmp(csv->head, utf8_bom, off + 1) == 0;
			if (off == 2 && bom_prefix)
				csv->bom = true;
		}
		if (!csv->enc) {
			if (!sniff_utf8_byte(csv, b))
				csv->enc = PF_CSV_ENC_CP1252;
			else if (csv->bom)
				csv->enc = PF_CSV_ENC_UTF8; /* a BOM declares UTF-8 */
			else if (csv->sniffed >= PF_CSV_SNIFF_BYTES && !csv->u8_need)
				csv->enc = PF_CSV_ENC_UTF8;
		}
		if (!csv->delim) {
			if (bom_prefix)
				continue; /* decided once the BOM is known to be one or not */
			if (off > 0 && off < 3 && memcmp(csv->head, utf8_bom, off) == 0) {
				csv->d_content = true; /* EF or EF BB was text after all */
				csv->dst = D_UNQUOTED;
			}
			sniff_delim_byte(csv, b);
			if (!csv->delim && csv->sniffed >= PF_CSV_HEADER_SNIFF_MAX)
				decide_delim(csv);
		}
	}
	return i;
}

static void start_main(pf_csv *csv)
{
	if (!csv->enc)
		csv->enc = PF_CSV_ENC_UTF8; /* nothing invalid was seen */
	if (!csv->delim)
		decide_delim(csv);
	csv->bom_skip = csv->bom ? 3 : 0;
	memset(csv->stop_unq, 0, sizeof(csv->stop_unq));
	memset(csv->stop_unq + 0x80, 1, 0x80);
	csv->stop_unq[0] = csv->stop_unq['\r'] = csv->stop_unq['\n'] = 1;
	memcpy(csv->stop_q, csv->stop_unq, sizeof(csv->stop_q));
	csv->stop_unq[(unsigned char)csv->delim] = 1;
	csv->stop_q['"'] = 1;
	csv->ready = true;
}

static void drop_pre(pf_csv *csv)
{
	free(csv->pre);
	csv->pre = NULL;
	csv->pre_len = csv->pre_cap = csv->pre_off = 0;
}

int pf_csv_feed(pf_csv *csv, const char *data, size_t len, size_t *consumed)
{
	size_t used = 0;
	int rc = 0;
	*consumed = 0;
	if (csv->finished || (len && !data))
		return PF_EINVAL;
	if (csv->fatal)
		return csv->fatal;
	if (!csv->ready) {
		sniff(csv, (const unsigned char *)data, len);
		if (!(csv->enc && csv->delim)) {
			if (grow((void **)&csv->pre, &csv->pre_cap, csv->pre_len + len,
			         PF_CSV_PRE_MAX, 1, 4096))
				return PF_ENOMEM;
			if (len)
				memcpy(csv->pre + csv->pre_len, data, len);
			csv->pre_len += len;
			csv->bytes_in += len;
			*consumed = len;
			return 0;
		}
		start_main(csv);
	}
	if (csv->pre) {
		/* held bytes come first; a pause among them takes nothing new */
		csv->base_off = csv->pre_off;
		rc = parse(csv, csv->pre + csv->pre_off, csv->pre_len - csv->pre_off, &used);
		csv->pre_off += used;
		if (rc)
			return rc;
		drop_pre(csv);
	}
	if (len) {
		csv->base_off = csv->bytes_in;
		rc = parse(csv, data, len, &used);
		*consumed = used;
		csv->bytes_in += used;
	}
	return rc;
}

int pf_csv_resume(pf_csv *csv, pf_csv_encoding enc, char delim, uint64_t offset, uint64_t index,
                  uint64_t line, bool cr_last)
{
	if (csv->ready || csv->pre || csv->sniffed || csv->finished || !delim ||
	    (enc != PF_CSV_ENC_UTF8 && enc != PF_CSV_ENC_CP1252) || index == 0 || line == 0)
		return PF_EINVAL;
	csv->enc = enc;
	csv->delim = delim;
	start_main(csv); /* no BOM: bom is false */
	csv->index = index;
	csv->line = line;
	csv->cr_last = cr_last;
	csv->bytes_in = offset;
	return 0;
}

int pf_csv_finish(pf_csv *csv)
{
	size_t used;
	int rc;
	if (csv->finished)
		return PF_EINVAL;
	csv->finished = true;
	if (csv->fatal)
		return csv->fatal;
	if (!csv->ready)
		start_main(csv);
	while (csv->pre && csv->pre_off < csv->pre_len) {
		csv->base_off = csv->pre_off;
		rc = parse(csv, csv->pre + csv->pre_off, csv->pre_len - csv->pre_off, &used);
		csv->pre_off += used;
		if (rc < 0)
			return rc;
	}
	drop_pre(csv);
	if (csv->st == S_REC_START)
		return 0;
	flush_pending(csv);
	if (csv->st == S_QUOTED)
		csv->unterminated = true;
	csv->st = S_REC_START;
	csv->line++; /* the last line had no line ending */
	csv->rec_end = csv->bytes_in;
	csv->rec_end_cr = false;
	rc = end_record(csv, NULL, NULL);
	return rc < 0 ? rc : 0;
}

int pf_csv_abandon(pf_csv *csv)
{
	size_t used;
	int rc;
	if (csv->finished)
		return PF_EINVAL;
	csv->finished = true;
	if (csv->fatal)
		return csv->fatal;
	if (!csv->ready)
		start_main(csv); /* decide on what was held */
	while (csv->pre && csv->pre_off < csv->pre_len) {
		csv->base_off = csv->pre_off;
		rc = parse(csv, csv->pre + csv->pre_off, csv->pre_len - csv->pre_off, &used);
		csv->pre_off += used;
		if (rc < 0)
			return rc;
	}
	drop_pre(csv);
	return 0; /* a record in progress was cut off: it is not a record */
}

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
 *
 * This file is the record side: the state machine, the record buffer and
 * the interface of csv.h. The bytes under it (the sniffers, transcoding,
 * the raw text) are csv_decode.c's; shared definitions in csv_internal.h.
 */
#include "csv_internal.h"

#include <stdlib.h>
#include <string.h>

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
	csv->buf_max = csv_add_sat(csv_add_sat(lim->record_max, lim->fields_max), 1);
	csv->raw_in_max = csv_add_sat(lim->raw_keep, PF_CSV_RAW_SLACK);
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

/* ---- record building ---- */

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
		int rc = csv_grow((void **)&csv->offs, &cap, csv->nfields + 1, csv->lim.fields_max,
		                  sizeof(size_t), PF_CSV_FIELDS_START);
		if (!rc) {
			cap = csv->fields_cap;
			rc = csv_grow((void **)&csv->lens, &cap, csv->nfields + 1,
			              csv->lim.fields_max, sizeof(size_t), PF_CSV_FIELDS_START);
		}
		if (!rc) {
			cap = csv->fields_cap;
			rc = csv_grow((void **)&csv->ptrs, &cap, csv->nfields + 1,
			              csv->lim.fields_max, sizeof(char *), PF_CSV_FIELDS_START);
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
		csv_append_slow(csv, (const unsigned char *)"", 0);
		if (csv->cap_err)
			return;
	}
	csv->offs[csv->nfields] = csv->field_start;
	csv->lens[csv->nfields] = csv->buf_len - csv->field_start;
	csv->nfields++;
	csv->buf[csv->buf_len++] = '\0';
	csv->field_start = csv->buf_len;
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
		csv_raw_append(csv, span, n);
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
		rec.raw_len = csv_raw_decode(csv, src, n, !csv->raw_over, &rec.raw_truncated);
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
			p = csv_resolve_pending(csv, p, end);
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
				csv_append(csv, s, (size_t)(p - s));
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
				p = csv_decode_high(csv, p, end);
			}
			continue;
		}
		case S_QUOTED: {
			const unsigned char *s = p;
			p = scan(p, end, stop_q);
			if (p > s)
				csv_append(csv, s, (size_t)(p - s));
			if (p == end)
				continue;
			unsigned char c = *p;
			if (c == '"') {
				st = S_QUOTE_END;
				p++;
			} else if (c == '\r') {
				csv->line++;
				csv_append(csv, p++, 1);
			} else if (c == '\n') {
				if (p > first ? p[-1] != '\r' : !csv->cr_last)
					csv->line++;
				csv_append(csv, p++, 1);
			} else if (c == '\0') {
				csv->nul_bytes++;
				csv->rec_dirty = true;
				p++;
			} else {
				p = csv_decode_high(csv, p, end);
			}
			continue;
		}
		case S_QUOTE_END: {
			unsigned char c = *p;
			if (c == '"') {
				csv_append(csv, p++, 1);
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
		csv_raw_append(csv, span, (size_t)(p - span));
	if (p > first)
		csv->cr_last = p[-1] == '\r';
	csv->st = st;
	*used = (size_t)(p - base);
	if (csv->fatal)
		return csv->fatal;
	return rc;
}

static void start_main(pf_csv *csv)
{
	if (!csv->enc)
		csv->enc = PF_CSV_ENC_UTF8; /* nothing invalid was seen */
	if (!csv->delim)
		csv_decide_delim(csv);
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
		csv_sniff(csv, (const unsigned char *)data, len);
		if (!(csv->enc && csv->delim)) {
			if (csv_grow((void **)&csv->pre, &csv->pre_cap, csv->pre_len + len,
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
	csv_flush_pending(csv);
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

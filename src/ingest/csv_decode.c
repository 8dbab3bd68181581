/*
 * csv_decode.c - the bytes under the CSV reader (see csv.h and
 * csv_internal.h): the two sniffers that decide the encoding and the
 * delimiter while csv.c holds the first bytes, transcoding of field bytes
 * >= 0x80 (valid UTF-8 kept, anything else read as Windows-1252),
 * UTF-8 sequences split across chunks, and the raw text of a record kept
 * and decoded for error reports. Nothing here knows quotes, fields or
 * records: csv.c runs the state machine and calls in, never the reverse.
 */
#include "csv_internal.h"
#include "propflow/base/utf8.h"

#include <stdlib.h>
#include <string.h>

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

size_t csv_add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Grows *ptr to hold at least need elements, doubling, never past max. */
int csv_grow(void **ptr, size_t *cap, size_t need, size_t max, size_t elem, size_t start)
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

static void append_cp1252(pf_csv *csv, unsigned char b)
{
	unsigned char t[3];
	csv_append(csv, t, cp1252_utf8(b, t));
}

/* ---- raw text ---- */

/*
 * Keeps record text that spans chunks, for raw. A run of NUL bytes is kept
 * as one NUL (it still breaks a UTF-8 sequence when decoded, as in the
 * fields) and only other bytes count against raw_in_max: so when raw_in
 * overflows, its raw_keep + 4 bytes decode to more than raw_keep, and the
 * kept prefix reads exactly as if the whole record were decoded at once.
 */
void csv_raw_append(pf_csv *csv, const unsigned char *s, size_t n)
{
	if (n == 0 || csv->raw_over)
		return;
	size_t room = csv->raw_in_max - csv->raw_in_text;
	size_t want = n < room ? n : room;
	size_t need =
	    csv->rec_dirty ? csv_add_sat(csv->raw_in_max, csv->raw_in_max) : csv->raw_in_len + want;
	if (csv_grow((void **)&csv->raw_in, &csv->raw_in_cap, need,
	             csv_add_sat(csv->raw_in_max, csv->raw_in_max), 1, 256)) {
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
size_t csv_raw_decode(pf_csv *csv, const unsigned char *src, size_t n, bool complete,
                      bool *truncated)
{
	size_t cap = csv->lim.raw_keep, o = 0, i = 0;
	size_t want = n > SIZE_MAX / 3 ? SIZE_MAX : n * 3;
	if (want > cap)
		want = cap;
	if (csv_grow((void **)&csv->raw_out, &csv->raw_out_cap, want + 1, csv_add_sat(cap, 1), 1,
	             256)) {
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

/* ---- field bytes ---- */

/* Decodes the bytes >= 0x80 starting at p; returns where plain text resumes. */
const unsigned char *csv_decode_high(pf_csv *csv, const unsigned char *p, const unsigned char *end)
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
		csv_append(csv, s, (size_t)(p - s));
		if (k < 0) {
			/* split across chunks: finish it with the next bytes */
			csv->pend_len = (size_t)(end - p);
			memcpy(csv->pend, p, csv->pend_len);
			return end;
		}
		append_cp1252(csv, *p++);
		s = p;
	}
	csv_append(csv, s, (size_t)(p - s));
	return p;
}

/* Completes a UTF-8 sequence left incomplete by the previous chunk. */
const unsigned char *csv_resolve_pending(pf_csv *csv, const unsigned char *p,
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
		csv_append(csv, t, (size_t)n);
		return p + ((size_t)n - old);
	}
	for (size_t i = 0; i < old; i++)
		append_cp1252(csv, t[i]);
	return p;
}

void csv_flush_pending(pf_csv *csv)
{
	for (size_t i = 0; i < csv->pend_len; i++)
		append_cp1252(csv, csv->pend[i]);
	csv->pend_len = 0;
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

void csv_decide_delim(pf_csv *csv)
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
			csv_decide_delim(csv);
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
size_t csv_sniff(pf_csv *csv, const unsigned char *p, size_t n)
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
				csv_decide_delim(csv);
		}
	}
	return i;
}

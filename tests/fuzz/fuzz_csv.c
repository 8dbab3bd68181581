/*
 * fuzz_csv.c - libFuzzer harness for the streaming CSV reader and the
 * normalising of what it reads.
 *
 * The first input byte picks small caps and a forced delimiter or none, the
 * next two a split point; the rest is fed in two pieces (the callback
 * pausing now and then) and then finished. The records must be the same as
 * when the whole input is fed at once, every field and raw text must be
 * valid UTF-8 without NUL, and lengths must respect the caps.
 *
 * As the import does, the first record is taken as the header and mapped
 * onto the canonical fields, and every later field goes through the
 * normaliser of its column's type (dates in every order), with date
 * evidence collected per column: outputs must be NUL-terminated within
 * their buffer, text outputs valid UTF-8 and no longer than the input,
 * results one of the three documented codes.
 *
 * Built by meson with -Dfuzz=true (see README.md); run with tests/fuzz/run.
 */
#include "propflow/ingest/csv.h"
#include "propflow/ingest/mapping.h"
#include "propflow/ingest/normalise.h"
#include "../unit/utf8_valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_COLUMNS_MAX 64 /* header columns mapped and normalised */
#define GUARD            16 /* bytes checked past an output buffer */

typedef struct sink {
	pf_csv_limits lim;
	bool normalise;                              /* map the header, normalise the rest */
	size_t ncols;                                /* header columns kept (0: none yet) */
	bool have_header;                            /* the first record was seen */
	pf_column_map map[FUZZ_COLUMNS_MAX];         /* the header's mapping */
	pf_date_evidence evidence[FUZZ_COLUMNS_MAX]; /* per column */
	unsigned char *log;                          /* owned: digest of every record */
	size_t len;
	size_t cap;
	unsigned n;
	bool pause;
} sink;

static void log_add(sink *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2 + 256;
		s->log = realloc(s->log, s->cap);
		if (!s->log)
			abort();
	}
	memcpy(s->log + s->len, p, n);
	s->len += n;
}

static void check_out(const char *buf, size_t cap)
{
	if (!memchr(buf, '\0', cap))
		abort(); /* not NUL-terminated within cap */
	for (size_t i = cap; i < cap + GUARD; i++)
		if ((unsigned char)buf[i] != 0xA5)
			abort(); /* wrote past cap */
}

/* One field through its column's normaliser, as the import does. */
static void normalise_field(pf_field_type t, pf_date_order order, const char *v, size_t len)
{
	bool text = t == PF_T_TEXT || t == PF_T_ID;
	size_t cap = text ? len + 1 : PF_NORM_OUT_MAX;
	char *out = malloc(cap + GUARD);
	if (!out)
		abort();
	memset(out, 0xA5, cap + GUARD);
	const char *why = NULL;
	int rc = pf_norm_value(t, order, v, len, out, cap, &why);
	check_out(out, cap);
	if (rc != PF_NORM_VALUE && rc != PF_NORM_NULL && rc != PF_NORM_INVALID)
		abort();
	if ((rc == PF_NORM_NULL) != pf_norm_is_null(v, len))
		abort();
	if (rc == PF_NORM_INVALID && (!why || !*why))
		abort();
	if (rc == PF_NORM_VALUE) {
		size_t olen = strlen(out);
		if (text && (olen > len || !utf8_valid((const unsigned char *)out, olen)))
			abort();
		if (t == PF_T_DATE && olen != 10)
			abort();
	}
	free(out);
}

static void normalise_record(sink *s, const pf_csv_record *r)
{
	if (!s->have_header) {
		/* the header: map it */
		s->have_header = true;
		s->ncols = r->nfields < FUZZ_COLUMNS_MAX ? r->nfields : FUZZ_COLUMNS_MAX;
		const char *names[FUZZ_COLUMNS_MAX];
		for (size_t i = 0; i < s->ncols; i++)
			names[i] = r->fields[i];
		if (s->ncols && pf_mapping_build(names, s->ncols, s->map) != 0)
			abort();
		return;
	}
	for (size_t i = 0; i < s->ncols && i < r->nfields; i++) {
		if (s->map[i].field < 0)
			continue;
		pf_field_type t = pf_field_type_of((pf_field)s->map[i].field);
		if (t == PF_T_DATE) {
			pf_date_observe(&s->evidence[i], r->fields[i], r->lens[i]);
			for (int o = PF_DATE_ORDER_UNKNOWN; o <= PF_DATE_ORDER_CONFLICT; o++)
				normalise_field(t, (pf_date_order)o, r->fields[i], r->lens[i]);
		} else {
			normalise_field(t, PF_DATE_ORDER_UNKNOWN, r->fields[i], r->lens[i]);
		}
	}
}

static int record_cb(void *arg, const pf_csv_record *r)
{
	sink *s = arg;
	size_t total = 0;
	if (r->nfields > s->lim.fields_max)
		abort();
	if (r->error && r->error != PF_CSV_UNTERMINATED && r->nfields != 0)
		abort();
	for (size_t i = 0; i < r->nfields; i++) {
		if (r->lens[i] > s->lim.field_max || strlen(r->fields[i]) != r->lens[i] ||
		    !utf8_valid((const unsigned char *)r->fields[i], r->lens[i]))
			abort();
		total += r->lens[i];
	}
	if (total > s->lim.record_max)
		abort();
	if (!r->raw || r->raw_len > s->lim.raw_keep ||
	    !utf8_valid((const unsigned char *)r->raw, r->raw_len))
		abort();
	if (s->normalise && !r->error)
		normalise_record(s, r);
	uint64_t hdr[4] = {r->index, r->line, r->nfields, (uint64_t)r->error};
	log_add(s, hdr, sizeof(hdr));
	for (size_t i = 0; i < r->nfields; i++)
		log_add(s, r->fields[i], r->lens[i] + 1);
	log_add(s, r->raw, r->raw_len);
	log_add(s, &r->raw_truncated, 1);
	s->n++;
	return s->pause && (s->n % 3) == 0 ? PF_CSV_PAUSED : 0;
}

/* Feeds [p, p+n) completely, resuming after pauses. */
static void feed_all(pf_csv *csv, const char *p, size_t n)
{
	while (n) {
		size_t used;
		int rc = pf_csv_feed(csv, p, n, &used);
		if (rc < 0 || used > n || (rc == 0 && used != n))
			abort();
		p += used;
		n -= used;
	}
}

static void parse(const pf_csv_limits *lim, const char *data, size_t len, size_t cut, bool pause,
                  sink *s, uint64_t *nul, uint64_t *lines)
{
	memset(s, 0, sizeof(*s));
	s->lim = *lim;
	s->pause = pause;
	s->normalise = !pause; /* once per input is enough */
	pf_csv *csv = pf_csv_new(lim, record_cb, s);
	if (!csv)
		abort();
	feed_all(csv, data, cut);
	feed_all(csv, data + cut, len - cut);
	if (pf_csv_feed(csv, NULL, 0, &(size_t){0}) < 0 || pf_csv_finish(csv) != 0)
		abort();
	if (pf_csv_bytes_in(csv) != len)
		abort();
	*nul = pf_csv_nul_bytes(csv);
	*lines = pf_csv_lines(csv);
	pf_csv_free(csv);
	for (size_t i = 0; i < s->ncols; i++) {
		const pf_date_evidence *ev = &s->evidence[i];
		if (ev->first_gt12 > ev->numeric || ev->second_gt12 > ev->numeric)
			abort();
		if (pf_date_decide(ev) > PF_DATE_ORDER_CONFLICT)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	static const char delims[4] = {0, ',', ';', '\t'};
	pf_csv_limits lim;
	pf_csv_limits_default(&lim);
	uint8_t mode = data[0];
	if (mode & 0x80) {
		lim.field_max = 1 + (mode & 7) * 3;
		lim.fields_max = 1 + ((mode >> 3) & 7);
		lim.record_max = 2 + (mode & 0x1F) * 2;
		lim.raw_keep = (mode >> 2) & 0xF;
	}
	lim.delimiter = delims[(mode >> 5) & 3];
	size_t len = size - 3;
	size_t cut = len ? ((size_t)data[1] << 8 | data[2]) % (len + 1) : 0;
	const char *text = (const char *)data + 3;

	sink a, b;
	uint64_t nul_a, nul_b, lines_a, lines_b;
	parse(&lim, text, len, len, false, &a, &nul_a, &lines_a);
	parse(&lim, text, len, cut, true, &b, &nul_b, &lines_b);
	if (a.len != b.len || (a.len && memcmp(a.log, b.log, a.len) != 0) || nul_a != nul_b ||
	    lines_a != lines_b)
		abort();
	free(a.log);
	free(b.log);
	return 0;
}

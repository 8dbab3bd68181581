/*
 * fuzz_csv.c - libFuzzer harness for the streaming CSV reader.
 *
 * The first input byte picks small caps and a forced delimiter or none, the
 * next two a split point; the rest is fed in two pieces (the callback
 * pausing now and then) and then finished. The records must be the same as
 * when the whole input is fed at once, every field and raw text must be
 * valid UTF-8 without NUL, and lengths must respect the caps.
 *
 * Build and run by hand (not part of meson):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude src/csv.c src/log.c \
 *         tests/fuzz/fuzz_csv.c -o /tmp/fuzz_csv
 *   /tmp/fuzz_csv -max_total_time=60 tests/fuzz/corpus/csv
 */
#include "propflow/csv.h"
#include "../unit/utf8_valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
	pf_csv_limits lim;
	unsigned char *log; /* owned: digest of every record */
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

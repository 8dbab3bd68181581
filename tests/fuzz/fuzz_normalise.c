/*
 * fuzz_normalise.c - libFuzzer harness for every normaliser, the date
 * evidence and the header mapping. Checks that outputs stay within their
 * cap and are NUL-terminated, that a value's output reads back as itself
 * (normalising is idempotent), and the mapping's promises (confidence
 * ranges, one column per field).
 *
 * Build by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude src/ingest/normalise.c \
 *     src/ingest/dates.c src/ingest/mapping.c src/base/log.c tests/fuzz/fuzz_normalise.c \
 *     -o /tmp/fuzz_norm -lm
 *   /tmp/fuzz_norm -max_total_time=60 tests/fuzz/corpus/normalise
 */
#include "propflow/ingest/mapping.h"
#include "propflow/ingest/normalise.h"

#include <stdlib.h>
#include <string.h>

#define GUARD            16
#define FUZZ_HEADERS_MAX 64

static void check_out(const char *buf, size_t cap)
{
	if (cap > 0 && !memchr(buf, '\0', cap))
		abort(); /* not NUL-terminated within cap */
	for (size_t i = cap; i < cap + GUARD; i++)
		if ((unsigned char)buf[i] != 0xA5)
			abort(); /* wrote past cap */
}

static bool plain_decimal(const char *s)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (!(*p >= '0' && *p <= '9'))
		return false;
	if (*p == '0' && p[1] >= '0' && p[1] <= '9')
		return false; /* no leading zeros */
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (!*p)
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p[-1] == '0')
			return false; /* no trailing zeros */
	}
	return *p == '\0' && strcmp(s, "-0") != 0;
}

static int run(int kind, pf_date_order order, const char *s, size_t len, char *out, size_t cap,
               const char **why)
{
	switch (kind) {
	case 0: return pf_norm_number(s, len, out, cap, why);
	case 1: return pf_norm_integer(s, len, out, cap, why);
	case 2: return pf_norm_coord(s, len, true, out, cap, why);
	case 3: return pf_norm_coord(s, len, false, out, cap, why);
	case 4: return pf_norm_date(s, len, order, out, cap, why);
	case 5: return pf_norm_text(s, len, out, cap, why);
	default: return pf_norm_value((pf_field_type)(kind - 6), order, s, len, out, cap, why);
	}
}

static void one_value(const char *s, size_t len, size_t cap)
{
	char out[PF_NORM_OUT_MAX + GUARD], again[PF_NORM_OUT_MAX + GUARD];
	bool is_null = pf_norm_is_null(s, len);

	for (int kind = 0; kind < 13; kind++) {
		for (int order = 0; order < 4; order++) {
			if (kind != 4 && kind < 6 && order > 0)
				break;
			const char *why = NULL;
			memset(out, 0xA5, sizeof(out));
			int rc = run(kind, (pf_date_order)order, s, len, out, cap, &why);
			check_out(out, cap);
			if (rc != PF_NORM_VALUE && rc != PF_NORM_NULL && rc != PF_NORM_INVALID)
				abort();
			if ((rc == PF_NORM_NULL) != is_null)
				abort();
			if (rc == PF_NORM_INVALID && (!why || !*why))
				abort();
			if (rc != PF_NORM_VALUE)
				continue;
			size_t olen = strlen(out);
			if ((kind <= 3 || kind == 8 || kind == 9 || kind == 11 || kind == 12) &&
			    !plain_decimal(out))
				abort();
			if ((kind == 4 || kind == 10) && olen != 10)
				abort();
			/* idempotent: the output reads back as itself */
			memset(again, 0xA5, sizeof(again));
			why = NULL;
			rc = run(kind, (pf_date_order)order, out, olen, again, PF_NORM_OUT_MAX,
			         &why);
			check_out(again, PF_NORM_OUT_MAX);
			if (rc != PF_NORM_VALUE || strcmp(again, out) != 0)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cap = data[0] % (PF_NORM_OUT_MAX + 1); /* 0 .. 64, small caps included */
	const char *s = (const char *)data + 1;
	size_t len = size - 1;

	one_value(s, len, cap);
	one_value(s, len, PF_NORM_OUT_MAX);

	/* date evidence over the lines of the input */
	pf_date_evidence ev = {0};
	const char *p = s, *end = s + len;
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		pf_date_observe(&ev, p, l);
		if (!nl)
			break;
		p = nl + 1;
	}
	if (ev.first_gt12 > ev.numeric || ev.second_gt12 > ev.numeric)
		abort();
	pf_date_order o = pf_date_decide(&ev);
	if (o > PF_DATE_ORDER_CONFLICT || !pf_date_order_name(o))
		abort();

	/* the mapping over the lines of the input, as headers */
	char *copy = malloc(len + 1);
	const char *headers[FUZZ_HEADERS_MAX];
	pf_column_map map[FUZZ_HEADERS_MAX];
	size_t n = 0;
	if (!copy)
		return 0;
	memcpy(copy, s, len);
	copy[len] = '\0';
	char *q = copy;
	while (n < FUZZ_HEADERS_MAX) {
		headers[n++] = q;
		char *nl = strchr(q, '\n');
		if (!nl)
			break;
		*nl = '\0';
		q = nl + 1;
	}
	if (pf_mapping_build(headers, n, map) != 0)
		abort();
	bool taken[PF_F__COUNT] = {false};
	for (size_t i = 0; i < n; i++) {
		if (map[i].field < 0) {
			if (map[i].field != -1 || map[i].match != PF_MATCH_NONE ||
			    map[i].confidence != 0)
				abort();
			continue;
		}
		if (map[i].field >= PF_F__COUNT || taken[map[i].field])
			abort();
		taken[map[i].field] = true;
		if (map[i].match == PF_MATCH_EXACT && map[i].confidence != 1.0)
			abort();
		if (map[i].match == PF_MATCH_FUZZY &&
		    (map[i].confidence < PF_MAPPING_FUZZY_MIN || map[i].confidence >= 1.0))
			abort();
		if (map[i].match != PF_MATCH_EXACT && map[i].match != PF_MATCH_FUZZY)
			abort();
	}
	char folded[PF_MAPPING_HEADER_MAX + GUARD];
	memset(folded, 0xA5, sizeof(folded));
	size_t fl = pf_mapping_fold(headers[0], folded, cap);
	check_out(folded, cap);
	if (cap > 0 && (fl >= cap || strlen(folded) != fl))
		abort();
	free(copy);
	return 0;
}

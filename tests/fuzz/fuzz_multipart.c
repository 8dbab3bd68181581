/*
 * fuzz_multipart.c - libFuzzer harness for the multipart decoder. The
 * first byte picks the piece size (1..64) and whether the data callback
 * pauses; the next line (up to '\n') is the boundary; the rest is the body.
 * The body is decoded twice, whole and in pieces, and both runs must give
 * the same file content, result and filename (a differential check).
 * Build (from the repo root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_multipart.c \
 *     src/net/multipart.c -o fuzz_multipart
 *   ./fuzz_multipart -max_total_time=60 tests/fuzz/corpus/multipart
 */
#include "propflow/net/multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
	char *data;
	size_t len;
	bool pause;
} out;

static int cb(void *arg, const char *data, size_t len)
{
	out *o = arg;
	o->data = realloc(o->data, o->len + len + 1);
	memcpy(o->data + o->len, data, len);
	o->len += len;
	return o->pause ? PF_MULTIPART_PAUSED : 0;
}

typedef struct run_result {
	int feed;   /* last feed result */
	int finish; /* finish result */
	char filename[1100];
} run_result;

static bool decode(const char *ct, const char *body, size_t len, size_t piece, out *o,
                   run_result *r)
{
	pf_multipart *mp = pf_multipart_new(ct, cb, o, NULL);
	if (!mp)
		return false;
	size_t off = 0;
	r->feed = 0;
	while (off < len) {
		size_t n = len - off < piece ? len - off : piece;
		size_t used = 0;
		r->feed = pf_multipart_feed(mp, body + off, n, &used);
		if (used > n)
			abort();
		if (r->feed < 0 || r->feed == PF_MULTIPART_DONE)
			break;
		if (r->feed != PF_MULTIPART_PAUSED && used != n)
			abort(); /* not paused: everything must be taken */
		off += used;
	}
	r->finish = pf_multipart_finish(mp);
	const char *fn = pf_multipart_filename(mp);
	snprintf(r->filename, sizeof(r->filename), "%s", fn ? fn : "(none)");
	if (r->finish != 0 && pf_multipart_error(mp)[0] == '\0')
		abort(); /* an error always has a text */
	pf_multipart_free(mp);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t piece = 1 + (data[0] & 63);
	bool pause = data[0] & 64;
	const char *rest = (const char *)data + 1;
	size_t rlen = size - 1;
	const char *nl = memchr(rest, '\n', rlen);
	if (!nl || nl - rest > 100)
		return 0;
	char ct[160];
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=\"%.*s\"", (int)(nl - rest), rest);
	if (memchr(rest, '\0', (size_t)(nl - rest)))
		return 0;
	const char *body = nl + 1;
	size_t blen = rlen - (size_t)(nl - rest) - 1;

	out whole = {0}, pieces = {.pause = pause};
	run_result a, b;
	if (!decode(ct, body, blen, blen ? blen : 1, &whole, &a))
		return 0;
	decode(ct, body, blen, piece, &pieces, &b);
	if (a.finish != b.finish || whole.len != pieces.len ||
	    (whole.len && memcmp(whole.data, pieces.data, whole.len) != 0) ||
	    strcmp(a.filename, b.filename) != 0) {
		fprintf(stderr, "whole and split decoding differ\n");
		abort();
	}
	free(whole.data);
	free(pieces.data);
	return 0;
}

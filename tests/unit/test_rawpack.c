/*
 * test_rawpack.c - LZ4 with a per-import dictionary: round trips, the
 * compression ratio on MLS-like JSON rows, corrupt and truncated input,
 * wrong lengths, and rows of 0, 1, dictionary-sized and maximum size.
 */
#include "check.h"
#include "propflow/ingest/rawpack.h"

#include <stdio.h>
#include <stdlib.h>

static unsigned rng = 20240601u;

static unsigned next(void)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 8) & 0xffffff;
}

static const char *pick(const char *const *a, size_t n)
{
	return a[next() % n];
}
#define PICK(a) pick(a, PF_ARRAY_LEN(a))

/* One row as an MLS export's JSON: ~30 keys, realistic values. */
static size_t mls_row(char *buf, size_t cap, int i)
{
	static const char *const streets[] = {
	    "Main St",       "Oak Ave",      "Maple Dr",   "Pine Ln", "Cedar Ct", "Elm St",
	    "Lakeview Blvd", "Hillcrest Rd", "Sunset Way", "Park Pl", "2nd Ave",  "Washington St"};
	static const char *const cities[] = {"Seattle", "Bellevue", "Redmond", "Kirkland",
	                                     "Renton",  "Tacoma",   "Everett", "Bothell"};
	static const char *const types[] = {"Single Family Residential", "Condo/Co-op", "Townhouse",
	                                    "Multi-Family (2-4 Unit)", "Land"};
	static const char *const statuses[] = {"Active", "Pending", "Sold", "Contingent"};
	static const char *const agents[] = {"Jane Smith", "John Doe",       "Maria Garcia",
	                                     "Wei Chen",   "Robert Johnson", "Emily Davis"};
	static const char *const offices[] = {"Windermere Real Estate", "Coldwell Banker Bain",
	                                      "John L. Scott", "Redfin", "Keller Williams"};
	static const char *const remarks[] = {
	    "Charming home with updated kitchen and hardwood floors throughout.",
	    "Stunning views! Open floor plan, vaulted ceilings, new roof 2019.",
	    "Move-in ready. Close to schools, parks and transit. Must see!",
	    "Investor special, needs TLC. Sold as-is.",
	    "Light-filled corner unit with private deck and garage parking."};
	unsigned price = 250000 + next() % 1500000;
	return (size_t)snprintf(
	    buf, cap,
	    "{\"MLS #\":\"%u\",\"Status\":\"%s\",\"Property Type\":\"%s\","
	    "\"Address\":\"%u %s\",\"Unit\":\"%s\",\"City\":\"%s\",\"State\":\"WA\","
	    "\"Zip Code\":\"98%03u\",\"County\":\"King\",\"List Price\":\"$%u,%03u\","
	    "\"Original List Price\":\"$%u,%03u\",\"Beds\":\"%u\",\"Baths\":\"%u.%u\","
	    "\"Sq Ft\":\"%u\",\"Lot Size\":\"%u\",\"Year Built\":\"%u\","
	    "\"List Date\":\"%02u/%02u/2014\",\"Sold Date\":\"%s\",\"Days on Market\":\"%u\","
	    "\"Latitude\":\"47.%06u\",\"Longitude\":\"-122.%06u\",\"HOA Fee\":\"%u\","
	    "\"Tax Amount\":\"%u.%02u\",\"Listing Agent\":\"%s\",\"Agent Phone\":\"206-%03u-%04u\","
	    "\"Listing Office\":\"%s\",\"Garage Spaces\":\"%u\",\"Stories\":\"%u\","
	    "\"Photos\":\"%u\",\"Remarks\":\"%s\"}",
	    1200000u + (unsigned)i * 7u + next() % 5, PICK(statuses), PICK(types),
	    100 + next() % 19900, PICK(streets), next() % 3 ? "" : "A", PICK(cities), next() % 200,
	    price / 1000, price % 1000, price / 1000 + 10, price % 1000, 1 + next() % 6,
	    1 + next() % 4, next() % 2 ? 5 : 0, 600 + next() % 4000, 2000 + next() % 20000,
	    1900 + next() % 120, 1 + next() % 12, 1 + next() % 28, next() % 2 ? "" : "2014-11-02",
	    next() % 200, next() % 1000000, next() % 1000000, next() % 600, 1000 + next() % 20000,
	    next() % 100, PICK(agents), next() % 1000, next() % 10000, PICK(offices), next() % 4,
	    1 + next() % 3, next() % 40, PICK(remarks));
}

static void test_roundtrip(void)
{
	const char *dict = "{\"a\":\"hello world\",\"b\":\"hello world\"}";
	pf_rawpack *rp = pf_rawpack_new(dict, strlen(dict));
	CHECK(rp != NULL);
	const char *row = "{\"a\":\"hello world\",\"b\":\"hello there\"}";
	size_t len = strlen(row), cap = pf_rawpack_bound(len), n = 0, m = 0;
	unsigned char *dst = malloc(cap);
	char back[128];
	CHECK_INT(pf_rawpack_compress(rp, row, len, dst, cap, &n), 0);
	CHECK(n < len); /* it all refers to the dictionary */
	CHECK_INT(dst[0], PF_RAWPACK_FMT_DICT);
	CHECK_INT(dst[1] | dst[2] << 8 | dst[3] << 16 | (unsigned)dst[4] << 24, len);
	size_t raw_len = 0;
	CHECK_INT(pf_rawpack_length(dst, n, &raw_len), 0);
	CHECK_INT(raw_len, len);
	CHECK_INT(pf_rawpack_decompress(dict, strlen(dict), dst, n, back, sizeof(back), &m), 0);
	CHECK_INT(m, len);
	CHECK(memcmp(back, row, len) == 0);
	/* compressing again gives the same bytes: each row stands alone */
	unsigned char *again = malloc(cap);
	size_t n2 = 0;
	CHECK_INT(pf_rawpack_compress(rp, row, len, again, cap, &n2), 0);
	CHECK(n2 == n && memcmp(again, dst, n) == 0);
	/* cap exactly the stored length works, one less is refused */
	CHECK_INT(pf_rawpack_decompress(dict, strlen(dict), dst, n, back, len, &m), 0);
	CHECK_INT(pf_rawpack_decompress(dict, strlen(dict), dst, n, back, len - 1, &m), PF_EINVAL);
	/* compress cap: bound exactly works, one less is refused */
	CHECK_INT(pf_rawpack_compress(rp, row, len, again, cap - 1, &n2), PF_EINVAL);
	CHECK_INT(pf_rawpack_compress(NULL, row, len, again, cap, &n2), PF_EINVAL);
	free(again);
	free(dst);
	pf_rawpack_free(rp);
	pf_rawpack_free(NULL);

	/* without a dictionary */
	rp = pf_rawpack_new(NULL, 0);
	CHECK(rp != NULL);
	unsigned char buf[256];
	CHECK_INT(pf_rawpack_compress(rp, row, len, buf, sizeof(buf), &n), 0);
	CHECK_INT(pf_rawpack_decompress(NULL, 0, buf, n, back, sizeof(back), &m), 0);
	CHECK(m == len && memcmp(back, row, len) == 0);
	pf_rawpack_free(rp);
}

static void test_ratio(void)
{
	enum { ROWS = 500, SAMPLE = 100 };
	static char rows[ROWS][2048];
	size_t lens[ROWS];
	size_t total = 0;
	for (int i = 0; i < ROWS; i++) {
		lens[i] = mls_row(rows[i], sizeof(rows[i]), i);
		total += lens[i];
	}
	static char dictbuf[PF_RAWPACK_DICT_MAX];
	pf_rawdict d;
	pf_rawdict_init(&d, dictbuf, sizeof(dictbuf));
	for (int i = 0; i < SAMPLE; i++)
		pf_rawdict_add(&d, rows[i], lens[i]);
	CHECK(d.len > 0 && d.len <= d.cap);

	pf_rawpack *rp = pf_rawpack_new(d.buf, d.len);
	CHECK(rp != NULL);
	size_t raw = 0, packed = 0, alone_packed = 0;
	bool ok = true;
	unsigned char out[4096];
	char back[2048];
	pf_rawpack *nodict = pf_rawpack_new(NULL, 0);
	for (int i = SAMPLE; i < ROWS; i++) {
		size_t n, m, n0;
		if (pf_rawpack_compress(rp, rows[i], lens[i], out, sizeof(out), &n) ||
		    pf_rawpack_decompress(d.buf, d.len, out, n, back, sizeof(back), &m) ||
		    m != lens[i] || memcmp(back, rows[i], m) != 0)
			ok = false;
		raw += lens[i];
		packed += n;
		if (pf_rawpack_compress(nodict, rows[i], lens[i], out, sizeof(out), &n0))
			ok = false;
		alone_packed += n0;
	}
	CHECK_MSG(ok, "rows 101-500 round trip");
	double ratio = (double)raw / (double)packed;
	CHECK_MSG(ratio >= 2.5,
	          "ratio %.2f on rows 101-500 (avg row %zu bytes -> %zu), dict %zu bytes; "
	          "without a dictionary %.2f",
	          ratio, raw / (ROWS - SAMPLE), packed / (ROWS - SAMPLE), d.len,
	          (double)raw / (double)alone_packed);
	pf_rawpack_free(nodict);

	/* decompressing with the wrong dictionary does not give the row back */
	size_t n, m;
	int rc = pf_rawpack_compress(rp, rows[200], lens[200], out, sizeof(out), &n);
	CHECK_INT(rc, 0);
	rc = pf_rawpack_decompress(NULL, 0, out, n, back, sizeof(back), &m);
	CHECK_INT(rc, PF_EINVAL);
	char wrong[PF_RAWPACK_DICT_MAX];
	memset(wrong, 'z', sizeof(wrong));
	rc = pf_rawpack_decompress(wrong, sizeof(wrong), out, n, back, sizeof(back), &m);
	CHECK(rc == PF_EINVAL || memcmp(back, rows[200], lens[200]) != 0);
	pf_rawpack_free(rp);
	(void)total;
}

static void test_corrupt(void)
{
	const char *dict = "0123456789abcdefghijklmnopqrstuvwxyz";
	pf_rawpack *rp = pf_rawpack_new(dict, strlen(dict));
	const char *row = "abcdefghij0123456789abcdefghij-xyz-abcdefghij";
	size_t len = strlen(row), n, m, raw_len;
	unsigned char p[128], q[128];
	char back[128];
	CHECK_INT(pf_rawpack_compress(rp, row, len, p, sizeof(p), &n), 0);

	/* header */
	CHECK_INT(pf_rawpack_length(p, 0, &raw_len), PF_EINVAL);
	CHECK_INT(pf_rawpack_length(p, PF_RAWPACK_HEADER, &raw_len), PF_EINVAL);
	CHECK_INT(pf_rawpack_length(NULL, 10, &raw_len), PF_EINVAL);
	memcpy(q, p, n);
	q[0] = 2; /* unknown format */
	CHECK_INT(pf_rawpack_length(q, n, &raw_len), PF_EINVAL);
	CHECK_INT(pf_rawpack_decompress(dict, strlen(dict), q, n, back, sizeof(back), &m),
	          PF_EINVAL);
	/* wrong length in the header: longer, shorter, beyond the row cap */
	memcpy(q, p, n);
	q[1]++;
	CHECK_INT(pf_rawpack_decompress(dict, strlen(dict), q, n, back, sizeof(back), &m),
	          PF_EINVAL);
	memcpy(q, p, n);
	q[1]--;
	CHECK_INT(pf_rawpack_decompress(dict, strlen(dict), q, n, back, sizeof(back), &m),
	          PF_EINVAL);
	memcpy(q, p, n);
	q[4] = 0xff;
	CHECK_INT(pf_rawpack_length(q, n, &raw_len), PF_EINVAL);
	CHECK_INT(pf_rawpack_decompress(dict, strlen(dict), q, n, back, sizeof(back), &m),
	          PF_EINVAL);
	/* exactly PF_RAWPACK_ROW_MAX is a legal length, +1 is not */
	memcpy(q, p, n);
	q[1] = 0, q[2] = 0, q[3] = 0, q[4] = 1; /* 16 MiB */
	CHECK_INT(pf_rawpack_length(q, n, &raw_len), 0);
	CHECK_INT(raw_len, PF_RAWPACK_ROW_MAX);
	q[1] = 1;
	CHECK_INT(pf_rawpack_length(q, n, &raw_len), PF_EINVAL);
	/* truncated blocks */
	int refused = 0;
	for (size_t cut = 0; cut < n; cut++)
		refused += pf_rawpack_decompress(dict, strlen(dict), p, cut, back, sizeof(back),
		                                 &m) == PF_EINVAL;
	CHECK_INT(refused, n);
	/* every single-byte corruption of the block is refused or harmless to memory */
	int bad = 0;
	for (size_t i = PF_RAWPACK_HEADER; i < n; i++) {
		for (int v = 0; v < 256; v += 17) {
			memcpy(q, p, n);
			q[i] ^= (unsigned char)(v | 1);
			char out[64];
			m = 0;
			int rc = pf_rawpack_decompress(dict, strlen(dict), q, n, out, len, &m);
			if (rc != 0 && rc != PF_EINVAL)
				bad++;
			if (rc == 0 && m != len)
				bad++;
		}
	}
	CHECK_INT(bad, 0);
	/* garbage after the header */
	memset(q + PF_RAWPACK_HEADER, 0xff, 40);
	CHECK_INT(pf_rawpack_decompress(dict, strlen(dict), q, PF_RAWPACK_HEADER + 40, back,
	                                sizeof(back), &m),
	          PF_EINVAL);
	pf_rawpack_free(rp);
}

static void test_sizes(void)
{
	/* a dictionary larger than 64 KB: only its tail is used, on both sides */
	size_t dlen = PF_RAWPACK_DICT_MAX + 1000;
	char *dict = malloc(dlen);
	for (size_t i = 0; i < dlen; i++)
		dict[i] = (char)('a' + (i * 7 + i / 13) % 26);
	pf_rawpack *rp = pf_rawpack_new(dict, dlen);
	CHECK(rp != NULL);
	size_t n, m;

	/* empty row */
	unsigned char p[64];
	char back[8];
	CHECK_INT(pf_rawpack_compress(rp, "", 0, p, sizeof(p), &n), 0);
	CHECK(n > PF_RAWPACK_HEADER);
	m = 99;
	CHECK_INT(pf_rawpack_decompress(dict, dlen, p, n, back, 0, &m), 0);
	CHECK_INT(m, 0);
	CHECK_INT(pf_rawpack_decompress(dict, dlen, p, n, NULL, 0, &m), 0);
	CHECK_INT(pf_rawpack_compress(rp, NULL, 0, p, sizeof(p), &n), 0);
	CHECK_INT(pf_rawpack_bound(0), PF_RAWPACK_HEADER + 16);

	/* one byte */
	CHECK_INT(pf_rawpack_compress(rp, "x", 1, p, pf_rawpack_bound(1), &n), 0);
	CHECK_INT(pf_rawpack_decompress(dict, dlen, p, n, back, 1, &m), 0);
	CHECK(m == 1 && back[0] == 'x');
	CHECK_INT(pf_rawpack_decompress(dict, dlen, p, n, back, 0, &m), PF_EINVAL);
	CHECK_INT(pf_rawpack_decompress(dict, dlen, p, n, NULL, 1, &m), PF_EINVAL);

	/* a row longer than the dictionary, made of it */
	size_t rlen = 3 * dlen;
	char *row = malloc(rlen), *out = malloc(rlen);
	for (size_t i = 0; i < rlen; i++)
		row[i] = dict[(i * 31) % dlen];
	size_t cap = pf_rawpack_bound(rlen);
	unsigned char *big = malloc(cap);
	CHECK_INT(pf_rawpack_compress(rp, row, rlen, big, cap, &n), 0);
	CHECK_INT(pf_rawpack_decompress(dict, dlen, big, n, out, rlen, &m), 0);
	CHECK(m == rlen && memcmp(out, row, rlen) == 0);
	/* the same with only the 64 KB tail of the dictionary */
	CHECK_INT(pf_rawpack_decompress(dict + 1000, PF_RAWPACK_DICT_MAX, big, n, out, rlen, &m),
	          0);
	CHECK(m == rlen && memcmp(out, row, rlen) == 0);
	free(big);
	free(row);
	free(out);

	/* the largest row, and one byte more */
	rlen = PF_RAWPACK_ROW_MAX;
	row = malloc(rlen + 1);
	out = malloc(rlen);
	for (size_t i = 0; i < rlen + 1; i++)
		row[i] = (char)(i % 251 ^ (i >> 10));
	cap = pf_rawpack_bound(rlen + 1);
	big = malloc(cap);
	CHECK_INT(pf_rawpack_compress(rp, row, rlen, big, cap, &n), 0);
	CHECK_INT(pf_rawpack_decompress(dict, dlen, big, n, out, rlen, &m), 0);
	CHECK(m == rlen && memcmp(out, row, rlen) == 0);
	CHECK_INT(pf_rawpack_compress(rp, row, rlen + 1, big, cap, &n), PF_EINVAL);
	/* incompressible input stays within the bound */
	for (size_t i = 0; i < 100000; i++)
		row[i] = (char)next();
	CHECK_INT(pf_rawpack_compress(rp, row, 100000, big, pf_rawpack_bound(100000), &n), 0);
	CHECK(n <= pf_rawpack_bound(100000));
	CHECK_INT(pf_rawpack_decompress(dict, dlen, big, n, out, 100000, &m), 0);
	CHECK(m == 100000 && memcmp(out, row, m) == 0);
	free(big);
	free(row);
	free(out);
	pf_rawpack_free(rp);
	free(dict);
}

static void test_dict_builder(void)
{
	char buf[10];
	pf_rawdict d;
	pf_rawdict_init(&d, buf, sizeof(buf));
	CHECK_INT(d.len, 0);
	pf_rawdict_add(&d, "abcd", 4);
	pf_rawdict_add(&d, "", 0);
	pf_rawdict_add(&d, NULL, 3);
	CHECK_INT(d.len, 4);
	pf_rawdict_add(&d, "efghij", 6); /* exactly fills */
	CHECK_INT(d.len, 10);
	CHECK(memcmp(buf, "abcdefghij", 10) == 0);
	pf_rawdict_add(&d, "k", 1); /* full: ignored */
	CHECK_INT(d.len, 10);
	pf_rawdict_init(&d, buf, sizeof(buf));
	pf_rawdict_add(&d, "0123456", 7);
	pf_rawdict_add(&d, "789xyz", 6); /* only its beginning fits */
	CHECK_INT(d.len, 10);
	CHECK(memcmp(buf, "0123456789", 10) == 0);
	pf_rawdict_init(&d, NULL, 100);
	pf_rawdict_add(&d, "x", 1);
	CHECK_INT(d.len, 0);
}

int main(void)
{
	test_roundtrip();
	test_ratio();
	test_corrupt();
	test_sizes();
	test_dict_builder();
	return CHECK_DONE();
}

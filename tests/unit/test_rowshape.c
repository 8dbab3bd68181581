/*
 * test_rowshape.c - header names and mapping, date orders, values and
 * their warnings, raw JSON rows and their round trip through rawpack.
 */
#include "check.h"
#include "propflow/store/rowshape.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* Element i of a binary array column: its bytes (NULL for SQL NULL). */
static const char *elem(const pf_colbuf *c, uint32_t i, size_t *len)
{
	if (!c->data || i >= c->n)
		return NULL;
	const char *p = c->data + PF_ARRAY_HEADER;
	for (uint32_t k = 0;; k++) {
		uint32_t n;
		memcpy(&n, p, 4);
		n = ntohl(n);
		p += 4;
		if (k == i) {
			*len = n == UINT32_MAX ? 0 : n;
			return n == UINT32_MAX ? NULL : p;
		}
		if (n != UINT32_MAX)
			p += n;
	}
}

/* Element i as a NUL-terminated copy in a static buffer, or NULL. */
static const char *elem_str(const pf_colbuf *c, uint32_t i)
{
	static char buf[4096];
	size_t len = 0;
	const char *p = elem(c, i, &len);
	if (!p || len >= sizeof(buf))
		return NULL;
	memcpy(buf, p, len);
	buf[len] = 0;
	return buf;
}

static int set_header(pf_rowshape *rs, size_t n, const char *const *h)
{
	size_t lens[64];
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(h[i]);
	return pf_rowshape_set_header(rs, n, h, lens);
}

static void row_lens(size_t n, const char *const *f, size_t *lens)
{
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(f[i]);
}

/* The sample for pf_rowshape_decide: an array of rows, NULL rows skipped. */
typedef struct sample {
	size_t n, ncols;
	const char *const *const *rows;
	size_t lens[16][16];
} sample;

static bool sample_cb(void *arg, size_t i, const char *const **fields, const size_t **lens)
{
	sample *s = arg;
	if (i >= s->n)
		return false;
	*fields = s->rows[i];
	if (s->rows[i])
		row_lens(s->ncols, s->rows[i], s->lens[i]);
	*lens = s->lens[i];
	return true;
}

static bool no_rows_cb(void *arg, size_t i, const char *const **fields, const size_t **lens)
{
	return false;
}

static void test_empty(void)
{
	pf_rowshape rs;
	pf_rowshape_init(&rs);
	CHECK_INT(rs.ncols, 0);
	bool none = true;
	for (int f = 0; f < PF_F__COUNT; f++)
		none = none && rs.field_col[f] == -1;
	CHECK(none);
	cJSON *cols = pf_rowshape_columns_json(&rs);
	CHECK(cJSON_IsArray(cols) && cJSON_GetArraySize(cols) == 0);
	cJSON_Delete(cols);
	/* a row before the decision is refused */
	pf_batch b;
	pf_batch_init(&b);
	CHECK_INT(pf_rowshape_add_row(&rs, &b, 1, 2, NULL, NULL), PF_EINVAL);
	CHECK_INT(b.nrecords, 0);
	pf_batch_deinit(&b);
	pf_rowshape_deinit(&rs);
	pf_rowshape_deinit(&rs); /* twice is safe */
	CHECK_INT(rs.ncols, 0);
}

static void test_header_names(void)
{
	pf_rowshape rs;
	pf_rowshape_init(&rs);
	const char *h[] = {"Address", "",  "Price", "Price",    " \t ",
	                   "a (2)",   "a", "a",     "column_9", ""};
	CHECK_INT(set_header(&rs, PF_ARRAY_LEN(h), h), 0);
	CHECK_INT(rs.ncols, PF_ARRAY_LEN(h));
	/* titles are as in the file, blank ones empty */
	CHECK_STR(rs.titles[0], "Address");
	CHECK_STR(rs.titles[1], "");
	CHECK_STR(rs.titles[3], "Price");
	CHECK_STR(rs.titles[4], "");
	/* raw keys: empty named by position, duplicates numbered */
	CHECK_STR(rs.headers[0], "Address");
	CHECK_STR(rs.headers[1], "column_2");
	CHECK_STR(rs.headers[2], "Price");
	CHECK_STR(rs.headers[3], "Price (2)");
	CHECK_STR(rs.headers[4], "column_5");
	CHECK_STR(rs.headers[5], "a (2)");
	CHECK_STR(rs.headers[6], "a");
	CHECK_STR(rs.headers[7], "a (3)"); /* "a (2)" is taken by a real column */
	CHECK_STR(rs.headers[8], "column_9");
	CHECK_STR(rs.headers[9], "column_10");
	pf_rowshape_deinit(&rs);

	/* a generated name that a later real name repeats */
	pf_rowshape_init(&rs);
	const char *h2[] = {"", "column_1", "column_1"};
	CHECK_INT(set_header(&rs, 3, h2), 0);
	CHECK_STR(rs.headers[0], "column_1");
	CHECK_STR(rs.headers[1], "column_1 (2)");
	CHECK_STR(rs.headers[2], "column_1 (3)");
	pf_rowshape_deinit(&rs);

	/* a long name is cut to PF_MAPPING_HEADER_MAX, at a UTF-8 boundary */
	char at[PF_MAPPING_HEADER_MAX + 1], over[PF_MAPPING_HEADER_MAX + 2];
	char utf[PF_MAPPING_HEADER_MAX + 3];
	memset(at, 'x', PF_MAPPING_HEADER_MAX);
	at[PF_MAPPING_HEADER_MAX] = 0;
	memset(over, 'y', PF_MAPPING_HEADER_MAX + 1);
	over[PF_MAPPING_HEADER_MAX + 1] = 0;
	memset(utf, 'z', PF_MAPPING_HEADER_MAX - 1);
	memcpy(utf + PF_MAPPING_HEADER_MAX - 1, "\xc3\xa9", 3); /* é straddles the cap */
	const char *h3[] = {at, over, utf, over};
	pf_rowshape_init(&rs);
	CHECK_INT(set_header(&rs, 4, h3), 0);
	CHECK_INT(strlen(rs.titles[0]), PF_MAPPING_HEADER_MAX);
	CHECK_INT(strlen(rs.titles[1]), PF_MAPPING_HEADER_MAX);
	CHECK_INT(strlen(rs.titles[2]), PF_MAPPING_HEADER_MAX - 1);
	CHECK_INT(strlen(rs.headers[1]), PF_MAPPING_HEADER_MAX);
	CHECK_INT(strlen(rs.headers[3]), PF_MAPPING_HEADER_MAX + 4); /* " (2)" added */
	CHECK(strncmp(rs.headers[3] + PF_MAPPING_HEADER_MAX, " (2)", 4) == 0);
	pf_rowshape_deinit(&rs);
}

static const char *const hdr[] = {"Address",  "MLS #",     "Price", "Price", "Listed On",
                                  "Latitude", "Longitude", "",      "Notes"};
enum { C_ADDR, C_MLS, C_PRICE, C_PRICE2, C_LISTED, C_LAT, C_LON, C_EMPTY, C_NOTES, NCOLS };

static void test_mapping(void)
{
	pf_rowshape rs;
	pf_rowshape_init(&rs);
	CHECK_INT(set_header(&rs, NCOLS, hdr), 0);
	CHECK_INT(rs.field_col[PF_F_ADDRESS], C_ADDR);
	CHECK_INT(rs.field_col[PF_F_SOURCE_ID], C_MLS);
	CHECK_INT(rs.field_col[PF_F_PRICE], C_PRICE); /* the earlier column wins */
	CHECK_INT(rs.field_col[PF_F_LISTED_ON], C_LISTED);
	CHECK_INT(rs.field_col[PF_F_LATITUDE], C_LAT);
	CHECK_INT(rs.field_col[PF_F_LONGITUDE], C_LON);
	CHECK_INT(rs.field_col[PF_F_CITY], -1);
	CHECK_INT(rs.map[C_ADDR].field, PF_F_ADDRESS);
	CHECK_INT(rs.map[C_ADDR].match, PF_MATCH_EXACT);
	CHECK_INT(rs.map[C_PRICE2].field, -1);
	CHECK_INT(rs.map[C_EMPTY].field, -1);

	cJSON *cols = pf_rowshape_columns_json(&rs);
	CHECK_INT(cJSON_GetArraySize(cols), NCOLS);
	cJSON *c0 = cJSON_GetArrayItem(cols, C_ADDR);
	CHECK_INT(cJSON_GetObjectItem(c0, "index")->valuedouble, 0);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "header")), "Address");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "field")), "address");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "match")), "exact");
	CHECK(cJSON_GetObjectItem(c0, "confidence")->valuedouble == 1.0);
	CHECK(!cJSON_HasObjectItem(c0, "date_order")); /* not a date field */
	cJSON *ce = cJSON_GetArrayItem(cols, C_EMPTY);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ce, "header")), ""); /* the title */
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(ce, "field")));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ce, "match")), "none");
	cJSON *cd = cJSON_GetArrayItem(cols, C_LISTED);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cd, "date_order")), "unknown");
	cJSON_Delete(cols);

	/* evidence decides the order: 13/01 reads only day first */
	const char *r1[NCOLS] = {"1 Main St", "A1", "100", "", "13/01/2020", "", "", "", ""};
	const char *r2[NCOLS] = {"2 Main St", "A2", "100", "", "02/03/2020", "", "", "", ""};
	size_t l1[NCOLS], l2[NCOLS];
	row_lens(NCOLS, r1, l1);
	row_lens(NCOLS, r2, l2);
	pf_rowshape_observe(&rs, r1, l1);
	pf_rowshape_observe(&rs, r2, l2);
	char *dict = (char *)1;
	size_t dict_len = 1;
	CHECK_INT(pf_rowshape_decide(&rs, no_rows_cb, NULL, 1024, &dict, &dict_len), 0);
	CHECK(dict == NULL && dict_len == 0); /* no sample rows: no dictionary */
	CHECK_INT(rs.order[PF_F_LISTED_ON], PF_DATE_ORDER_DMY);
	cols = pf_rowshape_columns_json(&rs);
	cd = cJSON_GetArrayItem(cols, C_LISTED);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cd, "date_order")), "dmy");
	cJSON_Delete(cols);

	/* and values are read with it */
	pf_batch b;
	pf_batch_init(&b);
	CHECK_INT(pf_rowshape_add_row(&rs, &b, 2, 3, r2, l2), 0);
	CHECK_STR(elem_str(&b.rec[2 + PF_F_LISTED_ON], 0), "2020-03-02");
	pf_batch_deinit(&b);
	pf_rowshape_deinit(&rs);
}

static void test_rows(void)
{
	pf_rowshape rs;
	pf_rowshape_init(&rs);
	CHECK_INT(set_header(&rs, NCOLS, hdr), 0);
	const char *good[NCOLS] = {
	    " 1 Main St ", "00123", "$1,250,000", "x", "2020-01-02", "", "", "", "n"};
	const char *bad[NCOLS] = {"2 Oak Ave", "", "abc", "", "", "", "", "", ""};
	const char *lost[NCOLS] = {"", "N/A", "5", "", "", "45.5", "", "", ""};
	const char *coords[NCOLS] = {"", "", "", "", "", "45.5", "-122.6", "", ""};
	const char *const *rows[] = {good, NULL, bad};
	sample s = {.n = 3, .ncols = NCOLS, .rows = rows};
	char *dict;
	size_t dict_len;
	CHECK_INT(pf_rowshape_decide(&rs, sample_cb, &s, 4096, &dict, &dict_len), 0);
	CHECK(dict != NULL && dict_len > 0 && dict_len <= 4096);
	CHECK_INT(rs.order[PF_F_LISTED_ON], PF_DATE_ORDER_UNKNOWN);

	pf_batch b;
	pf_batch_init(&b);
	size_t l[NCOLS];

	/* a good row: every mapped field normalised, no warning */
	row_lens(NCOLS, good, l);
	CHECK_INT(pf_rowshape_add_row(&rs, &b, 1, 2, good, l), 0);
	CHECK_INT(b.nrecords, 1);
	CHECK_INT(b.nerrors, 0);
	CHECK_INT(b.warned, 0);
	CHECK_INT(b.parsed, 0); /* the caller's counter */
	CHECK_STR(elem_str(&b.rec[0], 0), "1");
	CHECK_STR(elem_str(&b.rec[1], 0), "2");
	CHECK_STR(elem_str(&b.rec[2 + PF_F_ADDRESS], 0), "1 Main St");
	CHECK_STR(elem_str(&b.rec[2 + PF_F_SOURCE_ID], 0), "00123");
	CHECK_STR(elem_str(&b.rec[2 + PF_F_PRICE], 0), "1250000");
	CHECK_STR(elem_str(&b.rec[2 + PF_F_LISTED_ON], 0), "2020-01-02");
	size_t len = 1;
	CHECK(elem(&b.rec[2 + PF_F_CITY], 0, &len) == NULL); /* unmapped: NULL */
	CHECK_STR(elem_str(&b.raw_row, 0), "1");
	CHECK_INT(b.raw_data.n, 1);
	CHECK(b.raw_bytes > 0 && b.raw_stored > 0);
	CHECK(b.bytes > 0);

	/* a bad value: NULL and a warning naming its column and value */
	row_lens(NCOLS, bad, l);
	CHECK_INT(pf_rowshape_add_row(&rs, &b, 2, 5, bad, l), 0);
	CHECK_INT(b.nrecords, 2);
	CHECK_INT(b.nerrors, 1);
	CHECK_INT(b.warned, 1);
	CHECK(elem(&b.rec[2 + PF_F_PRICE], 1, &len) == NULL);
	CHECK_STR(elem_str(&b.err[0], 0), "warning");
	CHECK_STR(elem_str(&b.err[1], 0), "2");
	CHECK_STR(elem_str(&b.err[2], 0), "5");
	CHECK_STR(elem_str(&b.err[3], 0), "Price");
	CHECK_STR(elem_str(&b.err[4], 0), "abc");
	CHECK(elem_str(&b.err[5], 0) && strlen(elem_str(&b.err[5], 0)) > 0);
	CHECK(elem(&b.err[6], 0, &len) == NULL); /* no raw text for a warning */

	/* no address, no source id (a NULL word), one coordinate only */
	row_lens(NCOLS, lost, l);
	CHECK_INT(pf_rowshape_add_row(&rs, &b, 3, 6, lost, l), 0);
	CHECK_INT(b.nrecords, 3);
	CHECK_INT(b.nerrors, 2);
	CHECK_INT(b.warned, 2);
	CHECK(elem(&b.err[3], 1, &len) == NULL);
	CHECK_STR(elem_str(&b.err[5], 1), "no address, source id or coordinates");
	CHECK_STR(elem_str(&b.rec[2 + PF_F_PRICE], 2), "5");

	/* both coordinates locate a row */
	row_lens(NCOLS, coords, l);
	CHECK_INT(pf_rowshape_add_row(&rs, &b, 4, 7, coords, l), 0);
	CHECK_INT(b.nerrors, 2);
	CHECK_INT(b.warned, 2);
	CHECK_STR(elem_str(&b.rec[2 + PF_F_LONGITUDE], 3), "-122.6");

	/* a bad value in a row without locators: two warnings, one warned row */
	const char *both[NCOLS] = {"", "", "zzz", "", "", "", "", "", ""};
	row_lens(NCOLS, both, l);
	CHECK_INT(pf_rowshape_add_row(&rs, &b, 5, 8, both, l), 0);
	CHECK_INT(b.nerrors, 4);
	CHECK_INT(b.warned, 3);

	pf_batch_deinit(&b);
	free(dict);
	pf_rowshape_deinit(&rs);
}

static void test_warning_value_cap(void)
{
	pf_rowshape rs;
	pf_rowshape_init(&rs);
	const char *h[] = {"Price", "MLS"};
	CHECK_INT(set_header(&rs, 2, h), 0);
	char *dict;
	size_t dict_len;
	CHECK_INT(pf_rowshape_decide(&rs, no_rows_cb, NULL, 1024, &dict, &dict_len), 0);
	pf_batch b;
	pf_batch_init(&b);
	char at[PF_ROWSHAPE_WARN_VALUE_MAX + 1], over[PF_ROWSHAPE_WARN_VALUE_MAX + 2];
	char utf[PF_ROWSHAPE_WARN_VALUE_MAX + 3];
	memset(at, 'q', sizeof(at) - 1);
	at[sizeof(at) - 1] = 0;
	memset(over, 'q', sizeof(over) - 1);
	over[sizeof(over) - 1] = 0;
	memset(utf, 'q', PF_ROWSHAPE_WARN_VALUE_MAX - 1);
	memcpy(utf + PF_ROWSHAPE_WARN_VALUE_MAX - 1, "\xc3\xa9", 3);
	const char *vals[] = {at, over, utf};
	size_t want[] = {PF_ROWSHAPE_WARN_VALUE_MAX, PF_ROWSHAPE_WARN_VALUE_MAX,
	                 PF_ROWSHAPE_WARN_VALUE_MAX - 1};
	for (size_t i = 0; i < 3; i++) {
		const char *f[] = {vals[i], "id"};
		size_t l[] = {strlen(vals[i]), 2};
		CHECK_INT(pf_rowshape_add_row(&rs, &b, i + 1, i + 2, f, l), 0);
		size_t len = 0;
		CHECK(elem(&b.err[4], (uint32_t)i, &len) != NULL);
		CHECK_MSG(len == want[i], "warning value %zu cut to %zu (got %zu)", i, want[i],
		          len);
	}
	CHECK_INT(b.warned, 3);
	pf_batch_deinit(&b);
	free(dict);
	pf_rowshape_deinit(&rs);
}

/* The stored raw row of element i, decompressed. */
static char *unpack(const pf_batch *b, uint32_t i, const char *dict, size_t dict_len,
                    size_t *out_len)
{
	size_t plen = 0;
	const char *p = elem(&b->raw_data, i, &plen);
	size_t raw_len;
	if (!p || pf_rawpack_length(p, plen, &raw_len) != 0)
		return NULL;
	char *out = malloc(raw_len + 1);
	if (!out)
		return NULL;
	if (pf_rawpack_decompress(dict, dict_len, p, plen, out, raw_len, out_len) != 0) {
		free(out);
		return NULL;
	}
	out[*out_len] = 0;
	return out;
}

static void test_raw_json(void)
{
	pf_rowshape rs;
	pf_rowshape_init(&rs);
	const char *h[] = {"Address", "say \"hi\"\\", "", "Notes"};
	CHECK_INT(set_header(&rs, 4, h), 0);
	const char *sample_row[] = {"10 Elm St", "plain", "x", "a sample row"};
	const char *const *rows[] = {sample_row};
	sample s = {.n = 1, .ncols = 4, .rows = rows};
	char *dict;
	size_t dict_len;
	CHECK_INT(pf_rowshape_decide(&rs, sample_cb, &s, 4096, &dict, &dict_len), 0);
	CHECK(dict != NULL && dict_len > 0);

	const char *f[] = {"1 \"Quoted\" Rd", "back\\slash", "tab\tnl\ncr\r\x01\x1f",
	                   "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8f\xa0"};
	size_t l[4];
	row_lens(4, f, l);
	pf_batch b;
	pf_batch_init(&b);
	CHECK_INT(pf_rowshape_add_row(&rs, &b, 1, 2, f, l), 0);
	size_t len = 0;
	char *raw = unpack(&b, 0, dict, dict_len, &len);
	const char *want = "{\"Address\":\"1 \\\"Quoted\\\" Rd\","
	                   "\"say \\\"hi\\\"\\\\\":\"back\\\\slash\","
	                   "\"column_3\":\"tab\\tnl\\ncr\\r\\u0001\\u001f\","
	                   "\"Notes\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8f\xa0\"}";
	CHECK_STR(raw, want);
	CHECK_INT(len, strlen(want));
	CHECK_INT(b.raw_bytes, (int64_t)strlen(want));

	/* valid JSON whose values are the fields, byte for byte */
	cJSON *o = raw ? cJSON_Parse(raw) : NULL;
	CHECK(cJSON_IsObject(o));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "Address")), f[0]);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "say \"hi\"\\")), f[1]);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "column_3")), f[2]);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "Notes")), f[3]);
	cJSON_Delete(o);
	free(raw);

	/* the wrong dictionary does not give the row back */
	char *wrong = unpack(&b, 0, NULL, 0, &len);
	CHECK(wrong == NULL || strcmp(wrong, want) != 0);
	free(wrong);

	/* many rows, each decompressible alone */
	bool all = true;
	for (uint32_t i = 1; i <= 50; i++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "%u Elm St", i);
		const char *g[] = {addr, "plain", "x", "a sample row"};
		size_t gl[4];
		row_lens(4, g, gl);
		all = all && pf_rowshape_add_row(&rs, &b, i + 1, i + 2, g, gl) == 0;
	}
	CHECK(all);
	CHECK_INT(b.raw_data.n, 51);
	raw = unpack(&b, 50, dict, dict_len, &len);
	CHECK_STR(raw, "{\"Address\":\"50 Elm St\",\"say \\\"hi\\\"\\\\\":\"plain\","
	               "\"column_3\":\"x\",\"Notes\":\"a sample row\"}");
	free(raw);
	CHECK(b.raw_stored < b.raw_bytes); /* the dictionary pays */

	pf_batch_deinit(&b);
	free(dict);
	pf_rowshape_deinit(&rs);
}

static void test_dict_cap(void)
{
	/* the dictionary stops at its cap and skips rows marked unusable */
	pf_rowshape rs;
	pf_rowshape_init(&rs);
	const char *h[] = {"Address"};
	CHECK_INT(set_header(&rs, 1, h), 0);
	const char *a[] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	const char *const *rows[] = {NULL, a, a, a, a, a, a, a, a, a, a, a, a};
	sample s = {.n = PF_ARRAY_LEN(rows), .ncols = 1, .rows = rows};
	char *dict;
	size_t dict_len;
	CHECK_INT(pf_rowshape_decide(&rs, sample_cb, &s, 128, &dict, &dict_len), 0);
	CHECK(dict != NULL && dict_len > 0 && dict_len <= 128);
	free(dict);
	pf_rowshape_deinit(&rs);

	/* only unusable rows: no dictionary, rows still compress */
	pf_rowshape_init(&rs);
	CHECK_INT(set_header(&rs, 1, h), 0);
	const char *const *none[] = {NULL, NULL};
	sample s2 = {.n = 2, .ncols = 1, .rows = none};
	CHECK_INT(pf_rowshape_decide(&rs, sample_cb, &s2, 128, &dict, &dict_len), 0);
	CHECK(dict == NULL && dict_len == 0);
	pf_batch b;
	pf_batch_init(&b);
	size_t l[] = {strlen(a[0])};
	CHECK_INT(pf_rowshape_add_row(&rs, &b, 1, 2, a, l), 0);
	size_t len;
	char *raw = unpack(&b, 0, NULL, 0, &len);
	CHECK_STR(raw, "{\"Address\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}");
	free(raw);
	pf_batch_deinit(&b);
	pf_rowshape_deinit(&rs);
}

/* A reprocess mapping: columns by title (or column_N), fields by name. */
static void test_override(void)
{
	pf_rowshape rs;
	pf_rowshape_init(&rs);
	CHECK_INT(set_header(&rs, NCOLS, hdr), 0);
	char err[128];
	cJSON *ov = cJSON_Parse("{\"Notes\": \"city\", \"Price\": null, \"column_8\": \"price\"}");
	CHECK_INT(pf_rowshape_override(&rs, ov, err, sizeof(err)), 0);
	CHECK_INT(rs.field_col[PF_F_CITY], C_NOTES);
	CHECK_INT(rs.map[C_NOTES].match, PF_MATCH_OVERRIDE);
	CHECK_INT(rs.map[C_PRICE].field, -1);
	CHECK_INT(rs.map[C_PRICE].match, PF_MATCH_OVERRIDE);
	CHECK_INT(rs.field_col[PF_F_PRICE], C_EMPTY);
	cJSON *cols = pf_rowshape_columns_json(&rs);
	CHECK_STR(
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cols, C_NOTES), "match")),
	    "override");
	cJSON_Delete(cols);
	cJSON_Delete(ov);
	/* a field taken from another column leaves it unmapped */
	ov = cJSON_Parse("{\"Address\": \"source_id\"}");
	CHECK_INT(pf_rowshape_override(&rs, ov, err, sizeof(err)), 0);
	CHECK_INT(rs.field_col[PF_F_SOURCE_ID], C_ADDR);
	CHECK_INT(rs.map[C_MLS].field, -1);
	CHECK_INT(rs.field_col[PF_F_ADDRESS], -1);
	cJSON_Delete(ov);
	const char *bad[] = {"{\"Nope\": \"city\"}", "{\"Notes\": \"cty\"}", "{\"Notes\": 3}",
	                     "[]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ov = cJSON_Parse(bad[i]);
		err[0] = 0;
		CHECK_MSG(pf_rowshape_override(&rs, ov, err, sizeof(err)) == PF_EINVAL && err[0],
		          "override %s refused with a message", bad[i]);
		cJSON_Delete(ov);
	}
	pf_rowshape_deinit(&rs);
}

/* Orders and dictionary saved, then restored into a new shape: the same
 * rows come out. */
static void test_restore(void)
{
	pf_rowshape a, b;
	pf_rowshape_init(&a);
	pf_rowshape_init(&b);
	CHECK_INT(set_header(&a, NCOLS, hdr), 0);
	CHECK_INT(set_header(&b, NCOLS, hdr), 0);
	const char *r1[NCOLS] = {"1 Main St", "A1", "100", "", "13/01/2020", "1", "2", "", "x"};
	size_t l1[NCOLS];
	row_lens(NCOLS, r1, l1);
	pf_rowshape_observe(&a, r1, l1);
	const char *const *rows[] = {r1};
	sample s = {.n = 1, .ncols = NCOLS, .rows = rows};
	char *dict;
	size_t dict_len;
	CHECK_INT(pf_rowshape_decide(&a, sample_cb, &s, 4096, &dict, &dict_len), 0);
	cJSON *orders = pf_rowshape_orders_json(&a);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(orders, "listed_on")), "dmy");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(orders, "sold_on")), "unknown");
	CHECK_INT(pf_rowshape_restore(&b, orders, dict, dict_len), 0);
	CHECK_INT(b.order[PF_F_LISTED_ON], PF_DATE_ORDER_DMY);
	CHECK_INT(pf_rowshape_restore(&b, orders, dict, dict_len), PF_EINVAL); /* once */
	const char *r2[NCOLS] = {"2 Elm", "A2", "5", "", "02/03/2021", "", "", "", "y"};
	size_t l2[NCOLS];
	row_lens(NCOLS, r2, l2);
	pf_batch ba, bb;
	pf_batch_init(&ba);
	pf_batch_init(&bb);
	CHECK_INT(pf_rowshape_add_row(&a, &ba, 2, 3, r2, l2), 0);
	CHECK_INT(pf_rowshape_add_row(&b, &bb, 2, 3, r2, l2), 0);
	CHECK_STR(elem_str(&bb.rec[2 + PF_F_LISTED_ON], 0), "2021-03-02");
	CHECK(ba.raw_data.len == bb.raw_data.len &&
	      memcmp(ba.raw_data.data, bb.raw_data.data, ba.raw_data.len) == 0);
	pf_batch_deinit(&ba);
	pf_batch_deinit(&bb);
	/* malformed orders */
	pf_rowshape c;
	pf_rowshape_init(&c);
	CHECK_INT(set_header(&c, NCOLS, hdr), 0);
	cJSON *badj = cJSON_Parse("{\"listed_on\": \"ymd\", \"sold_on\": \"mdy\"}");
	CHECK_INT(pf_rowshape_restore(&c, badj, NULL, 0), PF_EINVAL);
	cJSON_Delete(badj);
	cJSON_Delete(orders);
	free(dict);
	pf_rowshape_deinit(&a);
	pf_rowshape_deinit(&b);
	pf_rowshape_deinit(&c);
}

int main(void)
{
	test_override();
	test_restore();
	test_empty();
	test_header_names();
	test_mapping();
	test_rows();
	test_warning_value_cap();
	test_raw_json();
	test_dict_cap();
	return CHECK_DONE();
}

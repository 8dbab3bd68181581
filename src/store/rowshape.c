/*
 * rowshape.c - one CSV record into one batch row, given the header (see
 * rowshape.h): header names and mapping, date orders, raw JSON rows and
 * their dictionary, value normalisation and its warnings.
 *
 * The job (job.c) decides when each step happens; nothing here knows about
 * the reader, the sample window or the database.
 */
#include "propflow/store/rowshape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- scratch buffers ---------------- */

static int buf_reserve(pf_rowshape_buf *s, size_t more)
{
	if (more <= s->cap - s->len)
		return 0;
	size_t cap = s->cap ? s->cap : 4096;
	while (more > cap - s->len)
		cap *= 2;
	char *p = realloc(s->p, cap);
	if (!p)
		return PF_ENOMEM;
	s->p = p;
	s->cap = cap;
	return 0;
}

static void buf_free(pf_rowshape_buf *s)
{
	free(s->p);
	memset(s, 0, sizeof(*s));
}

/* Append s as JSON string content (no quotes). Input is valid UTF-8. */
static int json_escape(pf_rowshape_buf *out, const char *s, size_t len)
{
	if (buf_reserve(out, len * 6) != 0)
		return PF_ENOMEM;
	char *o = out->p + out->len;
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		/* most bytes need no escaping: copy each such run at once */
		size_t run = i;
		while (run < len && (unsigned char)s[run] >= 0x20 && s[run] != '"' &&
		       s[run] != '\\')
			run++;
		if (run > i) {
			memcpy(o, s + i, run - i);
			o += run - i;
			i = run;
			if (i == len)
				break;
		}
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20) {
			*o++ = '\\';
			switch (c) {
			case '\n': *o++ = 'n'; break;
			case '\r': *o++ = 'r'; break;
			case '\t': *o++ = 't'; break;
			default:
				*o++ = 'u';
				*o++ = '0';
				*o++ = '0';
				*o++ = hex[c >> 4];
				*o++ = hex[c & 15];
			}
		} else {
			*o++ = (char)c;
		}
	}
	out->len = (size_t)(o - out->p);
	return 0;
}

/* ---------------- life ---------------- */

void pf_rowshape_init(pf_rowshape *rs)
{
	memset(rs, 0, sizeof(*rs));
	for (int f = 0; f < PF_F__COUNT; f++)
		rs->field_col[f] = -1;
}

void pf_rowshape_deinit(pf_rowshape *rs)
{
	for (size_t i = 0; i < rs->ncols; i++) {
		if (rs->titles)
			free(rs->titles[i]);
		if (rs->headers)
			free(rs->headers[i]);
		if (rs->keys)
			free(rs->keys[i]);
	}
	free(rs->titles);
	free(rs->headers);
	free(rs->keys);
	free(rs->key_lens);
	free(rs->map);
	pf_rawpack_free(rs->rp);
	buf_free(&rs->json);
	buf_free(&rs->packed);
	buf_free(&rs->norm);
	pf_rowshape_init(rs);
}

/* ---------------- header ---------------- */

static void rebuild_field_cols(pf_rowshape *rs);

int pf_rowshape_set_header(pf_rowshape *rs, size_t n, const char *const *fields, const size_t *lens)
{
	rs->ncols = n;
	rs->titles = calloc(n, sizeof(char *));
	rs->headers = calloc(n, sizeof(char *));
	rs->keys = calloc(n, sizeof(char *));
	rs->key_lens = calloc(n, sizeof(size_t));
	rs->map = calloc(n, sizeof(pf_column_map));
	if (!rs->titles || !rs->headers || !rs->keys || !rs->key_lens || !rs->map)
		return PF_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char name[PF_MAPPING_HEADER_MAX + 32];
		/* raw rows are keyed by the original names; only an empty (or
		 * blank) name is replaced, and a very long one cut */
		size_t len = lens[i];
		const char *h = fields[i];
		size_t blank = 0;
		while (blank < len && (h[blank] == ' ' || h[blank] == '\t'))
			blank++;
		if (blank == len)
			len = 0;
		if (len > PF_MAPPING_HEADER_MAX) {
			len = PF_MAPPING_HEADER_MAX;
			while (len && ((unsigned char)h[len] & 0xC0) == 0x80)
				len--; /* cut at a UTF-8 boundary */
		}
		rs->titles[i] = strndup(h, len);
		if (!rs->titles[i])
			return PF_ENOMEM;
		if (len == 0) {
			snprintf(name, sizeof(name), "column_%zu", i + 1);
		} else {
			memcpy(name, h, len);
			name[len] = 0;
		}
		/* duplicates get " (2)", " (3)", ... */
		char base[sizeof(name)];
		memcpy(base, name, sizeof(base));
		for (int k = 2;; k++) {
			bool dup = false;
			for (size_t j = 0; j < i && !dup; j++)
				dup = strcmp(rs->headers[j], name) == 0;
			if (!dup)
				break;
			snprintf(name, sizeof(name), "%.*s (%d)", PF_MAPPING_HEADER_MAX, base, k);
		}
		rs->headers[i] = strdup(name);
		if (!rs->headers[i])
			return PF_ENOMEM;
		pf_rowshape_buf key = {0};
		if (buf_reserve(&key, 4) != 0 || (key.p[key.len++] = '"', 0) ||
		    json_escape(&key, name, strlen(name)) != 0 || buf_reserve(&key, 3) != 0) {
			buf_free(&key);
			return PF_ENOMEM;
		}
		key.p[key.len++] = '"';
		key.p[key.len++] = ':';
		rs->keys[i] = key.p;
		rs->key_lens[i] = key.len;
	}
	int rc = pf_mapping_build((const char *const *)rs->titles, n, rs->map);
	if (rc != 0)
		return rc;
	rebuild_field_cols(rs);
	return 0;
}

static void rebuild_field_cols(pf_rowshape *rs)
{
	for (int f = 0; f < PF_F__COUNT; f++)
		rs->field_col[f] = -1;
	for (size_t i = 0; i < rs->ncols; i++)
		if (rs->map[i].field >= 0 && rs->map[i].field < PF_F__COUNT)
			rs->field_col[rs->map[i].field] = (int)i;
}

int pf_rowshape_override(pf_rowshape *rs, const cJSON *ov, char *err, size_t errlen)
{
	if (!cJSON_IsObject(ov)) {
		snprintf(err, errlen, "mapping must be an object of header: field");
		return PF_EINVAL;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, ov)
	{
		int f = -1;
		if (cJSON_IsString(it)) {
			f = pf_field_by_name(it->valuestring);
			if (f < 0) {
				snprintf(err, errlen, "unknown field \"%.64s\"", it->valuestring);
				return PF_EINVAL;
			}
		} else if (!cJSON_IsNull(it)) {
			snprintf(err, errlen, "the field for \"%.64s\" must be a string or null",
			         it->string);
			return PF_EINVAL;
		}
		size_t col = rs->ncols;
		for (size_t i = 0; i < rs->ncols && col == rs->ncols; i++)
			if (strcmp(rs->titles[i], it->string) == 0 ||
			    strcmp(rs->headers[i], it->string) == 0)
				col = i;
		if (col == rs->ncols) {
			snprintf(err, errlen, "no column \"%.64s\" in the file", it->string);
			return PF_EINVAL;
		}
		if (f >= 0)
			for (size_t i = 0; i < rs->ncols; i++)
				if (rs->map[i].field == f)
					rs->map[i] = (pf_column_map){-1, 0, PF_MATCH_NONE};
		rs->map[col] = (pf_column_map){f, f >= 0 ? 1.0 : 0, PF_MATCH_OVERRIDE};
	}
	rebuild_field_cols(rs);
	return 0;
}

cJSON *pf_rowshape_orders_json(const pf_rowshape *rs)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	for (int f = 0; f < PF_F__COUNT; f++)
		if (pf_field_type_of((pf_field)f) == PF_T_DATE &&
		    !cJSON_AddStringToObject(o, pf_field_name((pf_field)f),
		                             pf_date_order_name(rs->order[f]))) {
			cJSON_Delete(o);
			return NULL;
		}
	return o;
}

int pf_rowshape_restore(pf_rowshape *rs, const cJSON *orders, const char *dict, size_t dict_len)
{
	static const pf_date_order all[] = {PF_DATE_ORDER_UNKNOWN, PF_DATE_ORDER_MDY,
	                                    PF_DATE_ORDER_DMY, PF_DATE_ORDER_CONFLICT};
	if (!cJSON_IsObject(orders) || rs->rp)
		return PF_EINVAL;
	for (int f = 0; f < PF_F__COUNT; f++) {
		rs->order[f] = PF_DATE_ORDER_UNKNOWN;
		if (pf_field_type_of((pf_field)f) != PF_T_DATE)
			continue;
		const cJSON *v =
		    cJSON_GetObjectItemCaseSensitive(orders, pf_field_name((pf_field)f));
		if (!cJSON_IsString(v))
			return PF_EINVAL;
		size_t k = 0;
		while (k < sizeof(all) / sizeof(all[0]) &&
		       strcmp(pf_date_order_name(all[k]), v->valuestring) != 0)
			k++;
		if (k == sizeof(all) / sizeof(all[0]))
			return PF_EINVAL;
		rs->order[f] = all[k];
	}
	rs->rp = pf_rawpack_new(dict_len ? dict : NULL, dict_len);
	return rs->rp ? 0 : PF_ENOMEM;
}

cJSON *pf_rowshape_columns_json(const pf_rowshape *rs)
{
	cJSON *arr = cJSON_CreateArray();
	if (!arr)
		return NULL;
	for (size_t i = 0; i < rs->ncols; i++) {
		cJSON *c = cJSON_CreateObject();
		if (!c) {
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddItemToArray(arr, c);
		int f = rs->map[i].field;
		cJSON_AddNumberToObject(c, "index", (double)i);
		cJSON_AddStringToObject(c, "header", rs->titles[i]);
		if (f >= 0)
			cJSON_AddStringToObject(c, "field", pf_field_name((pf_field)f));
		else
			cJSON_AddNullToObject(c, "field");
		cJSON_AddStringToObject(c, "match", pf_match_name(rs->map[i].match));
		cJSON_AddNumberToObject(c, "confidence",
		                        round(rs->map[i].confidence * 100.0) / 100.0);
		if (f >= 0 && pf_field_type_of((pf_field)f) == PF_T_DATE)
			cJSON_AddStringToObject(c, "date_order", pf_date_order_name(rs->order[f]));
	}
	return arr;
}

/* ---------------- raw rows ---------------- */

static int build_raw_json(pf_rowshape *rs, const char *const *fields, const size_t *lens)
{
	pf_rowshape_buf *s = &rs->json;
	s->len = 0;
	if (buf_reserve(s, 2) != 0)
		return PF_ENOMEM;
	s->p[s->len++] = '{';
	for (size_t i = 0; i < rs->ncols; i++) {
		if (buf_reserve(s, rs->key_lens[i] + 3) != 0)
			return PF_ENOMEM;
		if (i)
			s->p[s->len++] = ',';
		memcpy(s->p + s->len, rs->keys[i], rs->key_lens[i]);
		s->len += rs->key_lens[i];
		s->p[s->len++] = '"';
		if (json_escape(s, fields[i], lens[i]) != 0 || buf_reserve(s, 2) != 0)
			return PF_ENOMEM;
		s->p[s->len++] = '"';
	}
	s->p[s->len++] = '}';
	return 0;
}

/* ---------------- the sample: date orders and dictionary ---------------- */

void pf_rowshape_observe(pf_rowshape *rs, const char *const *fields, const size_t *lens)
{
	for (int f = 0; f < PF_F__COUNT; f++) {
		int c = rs->field_col[f];
		if (c >= 0 && pf_field_type_of((pf_field)f) == PF_T_DATE)
			pf_date_observe(&rs->ev[f], fields[c], lens[c]);
	}
}

int pf_rowshape_decide(pf_rowshape *rs, pf_rowshape_sample_fn next, void *arg, size_t dict_cap,
                       char **dict_out, size_t *dict_len)
{
	*dict_out = NULL;
	*dict_len = 0;
	for (int f = 0; f < PF_F__COUNT; f++)
		rs->order[f] = pf_date_decide(&rs->ev[f]);

	char *dict = malloc(dict_cap);
	if (!dict)
		return PF_ENOMEM;
	pf_rawdict d;
	pf_rawdict_init(&d, dict, dict_cap);
	const char *const *fields;
	const size_t *lens;
	for (size_t i = 0; d.len < d.cap && next(arg, i, &fields, &lens); i++) {
		if (!fields)
			continue;
		int rc = build_raw_json(rs, fields, lens);
		if (rc != 0) {
			free(dict);
			return rc;
		}
		pf_rawdict_add(&d, rs->json.p, rs->json.len);
	}
	rs->rp = pf_rawpack_new(d.len ? dict : NULL, d.len);
	if (!rs->rp) {
		free(dict);
		return PF_ENOMEM;
	}
	if (d.len == 0) {
		free(dict);
		return 0;
	}
	*dict_out = dict;
	*dict_len = d.len;
	return 0;
}

/* ---------------- one row ---------------- */

static int add_value(pf_rowshape *rs, pf_batch *b, int f, const char *v, size_t len, uint64_t row,
                     uint64_t line, bool *warned)
{
	pf_colbuf *col = &b->rec[2 + f];
	int c = rs->field_col[f];
	if (c < 0)
		return pf_colbuf_add(col, NULL, 0);
	if (buf_reserve(&rs->norm, len + PF_NORM_OUT_MAX + 1) != 0)
		return PF_ENOMEM;
	const char *reason = NULL;
	int r = pf_norm_value(pf_field_type_of((pf_field)f), rs->order[f], v, len, rs->norm.p,
	                      rs->norm.cap, &reason);
	if (r == PF_NORM_VALUE)
		return pf_colbuf_add(col, rs->norm.p, strlen(rs->norm.p));
	if (r == PF_NORM_INVALID) {
		*warned = true;
		/* the value as shown in the warning */
		size_t vlen = len > PF_ROWSHAPE_WARN_VALUE_MAX ? PF_ROWSHAPE_WARN_VALUE_MAX : len;
		while (vlen < len && vlen && ((unsigned char)v[vlen] & 0xC0) == 0x80)
			vlen--;
		int rc = pf_batch_add_error(b, false, row, line, rs->headers[c], v, vlen,
		                            reason ? reason : "unreadable value", NULL, 0);
		if (rc != 0)
			return rc;
	}
	return pf_colbuf_add(col, NULL, 0);
}

/* A row locates a property by its address, its source id, or both
 * coordinates. */
static bool row_located(const pf_rowshape *rs, const char *const *fields, const size_t *lens)
{
	static const pf_field locators[] = {PF_F_ADDRESS, PF_F_SOURCE_ID};
	for (size_t k = 0; k < PF_ARRAY_LEN(locators); k++) {
		int c = rs->field_col[locators[k]];
		if (c >= 0 && !pf_norm_is_null(fields[c], lens[c]))
			return true;
	}
	int clat = rs->field_col[PF_F_LATITUDE], clon = rs->field_col[PF_F_LONGITUDE];
	return clat >= 0 && clon >= 0 && !pf_norm_is_null(fields[clat], lens[clat]) &&
	       !pf_norm_is_null(fields[clon], lens[clon]);
}

int pf_rowshape_add_row(pf_rowshape *rs, pf_batch *b, uint64_t index, uint64_t line,
                        const char *const *fields, const size_t *lens)
{
	if (!rs->rp)
		return PF_EINVAL;
	char rowtxt[24], linetxt[24];
	int rl = snprintf(rowtxt, sizeof(rowtxt), "%llu", (unsigned long long)index);
	int ll = snprintf(linetxt, sizeof(linetxt), "%llu", (unsigned long long)line);
	bool warned = false;
	int rc = pf_colbuf_add(&b->rec[0], rowtxt, (size_t)rl);
	rc = rc ? rc : pf_colbuf_add(&b->rec[1], linetxt, (size_t)ll);
	for (int f = 0; f < PF_F__COUNT && rc == 0; f++) {
		int c = rs->field_col[f];
		rc = add_value(rs, b, f, c >= 0 ? fields[c] : NULL, c >= 0 ? lens[c] : 0, index,
		               line, &warned);
	}
	if (rc != 0)
		return rc;
	/* a row that locates nothing is kept, and said so */
	if (!row_located(rs, fields, lens)) {
		warned = true;
		rc = pf_batch_add_error(b, false, index, line, NULL, NULL, 0,
		                        "no address, source id or coordinates", NULL, 0);
		if (rc != 0)
			return rc;
	}
	if (warned)
		b->warned++;
	rc = pf_colbuf_add(&b->rec[PF_BATCH_REC_WARNED], warned ? "t" : "f", 1);
	if (rc != 0)
		return rc;
	rc = build_raw_json(rs, fields, lens);
	if (rc != 0)
		return rc;
	if (buf_reserve(&rs->packed, pf_rawpack_bound(rs->json.len)) != 0)
		return PF_ENOMEM;
	size_t plen;
	rc = pf_rawpack_compress(rs->rp, rs->json.p, rs->json.len, rs->packed.p, rs->packed.cap,
	                         &plen);
	if (rc != 0)
		return rc;
	rc = pf_colbuf_add(&b->raw_row, rowtxt, (size_t)rl);
	rc = rc ? rc : pf_colbuf_add(&b->raw_data, rs->packed.p, plen);
	if (rc != 0)
		return rc;
	b->raw_bytes += (int64_t)rs->json.len;
	b->raw_stored += (int64_t)plen;
	b->nrecords++;
	size_t rec_bytes = 0;
	for (size_t i = 0; i < rs->ncols; i++)
		rec_bytes += lens[i] + 8;
	b->bytes += rec_bytes + plen;
	return 0;
}

/*
 * batch.c - binary array building and the one-transaction batch unit.
 *
 * Binary array format (PostgreSQL array_recv): int32 ndim, int32 has-null
 * flag, uint32 element type, then per dimension int32 size and int32 lower
 * bound, then per element int32 length (-1 = NULL) and the bytes; all
 * integers big-endian.
 */
#include "propflow/store/batch.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLBUF_MIN 4096

/* The records INSERT, from the field table (fields.h). Parameters: $1 the
 * job, $2 the generation, then one text array per batch column (row_no,
 * line_no, each field, warned), cast to the field's SQL type. The casts are
 * made once, in the inner SELECT, and the outer one adds the outlier flag of
 * impossible values from the typed values (pf_record_outlier, an inlined
 * SQL function of schema/010_analysis.sql). */
#define SQL_RECORDS_HEAD                                                                           \
	"INSERT INTO property_records (job_id, gen, row_no, line_no" PF_FIELD_NAMES                \
	", warned, outlier) SELECT t.*, pf_record_outlier(t.price, t.sqft, t.year_built) FROM "    \
	"(SELECT $1::bigint, $2::int, row_no::int, line_no::int" PF_FIELD_CASTS                    \
	", warned::boolean FROM unnest("
#define SQL_RECORDS_TAIL ") AS u(row_no, line_no" PF_FIELD_NAMES ", warned)) AS t"
#define SQL_ARRAY_PARAM  16 /* bytes of "$NN::text[], " */

/* The placeholders of the unnest list are numbered, which the preprocessor
 * cannot do: the statement is written out once, at the first batch, and
 * never changes after (the loop's thread is the only caller). */
static const char *sql_records(void)
{
	static char sql[sizeof(SQL_RECORDS_HEAD) + sizeof(SQL_RECORDS_TAIL) +
	                PF_BATCH_REC_COLS * SQL_ARRAY_PARAM];
	if (sql[0])
		return sql;
	size_t n = (size_t)snprintf(sql, sizeof(sql), "%s", SQL_RECORDS_HEAD);
	for (int i = 0; i < PF_BATCH_REC_COLS; i++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s$%d::text[]", i ? ", " : "",
		                      3 + i);
	snprintf(sql + n, sizeof(sql) - n, "%s", SQL_RECORDS_TAIL);
	return sql;
}

static const char sql_raw[] =
    "INSERT INTO property_raw (job_id, gen, row_no, data) "
    "SELECT $1, $4::int, r::int, d FROM unnest($2::text[], $3::bytea[]) AS u(r, d)";

static const char sql_errors[] =
    "INSERT INTO import_errors (job_id, gen, kind, row_no, line_no, column_name, value, "
    "reason, raw_text) "
    "SELECT $1, $9::int, k, r::int, l::int, c, v, why, raw "
    "FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::text[]) AS u(k, r, l, c, v, why, raw)";

/* First: moves the job's position and counters, or aborts the batch (see
 * schema/002_durable.sql), also when it would go over the owner's row quota
 * (schema/005_quota.sql). */
static const char sql_begin[] =
    "SELECT pf_batch_begin($1, $2::int, $3, $4, $5, $6, $7::boolean, $8, $9, $10, $11, $12, "
    "$13, $14, $15)";

static void put32(char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static int colbuf_reserve(pf_colbuf *c, size_t more)
{
	if (!c->data) {
		size_t cap = COLBUF_MIN;
		while (cap < PF_ARRAY_HEADER + more)
			cap *= 2;
		c->data = malloc(cap);
		if (!c->data)
			return PF_ENOMEM;
		c->cap = cap;
		c->len = PF_ARRAY_HEADER;
	}
	if (more <= c->cap - c->len)
		return 0;
	size_t cap = c->cap;
	while (more > cap - c->len)
		cap *= 2;
	char *p = realloc(c->data, cap);
	if (!p)
		return PF_ENOMEM;
	c->data = p;
	c->cap = cap;
	return 0;
}

int pf_colbuf_add(pf_colbuf *c, const char *v, size_t len)
{
	if (len > INT32_MAX)
		return PF_ELIMIT;
	int rc = colbuf_reserve(c, 4 + (v ? len : 0));
	if (rc != 0)
		return rc;
	if (!v) {
		put32(c->data + c->len, UINT32_MAX); /* -1: NULL */
		c->len += 4;
		c->has_null = true;
	} else {
		put32(c->data + c->len, (uint32_t)len);
		memcpy(c->data + c->len + 4, v, len);
		c->len += 4 + len;
	}
	c->n++;
	return 0;
}

char *pf_colbuf_take(pf_colbuf *c, uint32_t elem_oid, size_t *len)
{
	if (colbuf_reserve(c, 0) != 0)
		return NULL;
	char *p = c->data;
	put32(p, 1);
	put32(p + 4, c->has_null ? 1 : 0);
	put32(p + 8, elem_oid);
	put32(p + 12, c->n);
	put32(p + 16, 1);
	*len = c->len;
	memset(c, 0, sizeof(*c));
	return p;
}

void pf_colbuf_free(pf_colbuf *c)
{
	free(c->data);
	memset(c, 0, sizeof(*c));
}

void pf_batch_init(pf_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void pf_batch_deinit(pf_batch *b)
{
	for (int i = 0; i < PF_BATCH_REC_COLS; i++)
		pf_colbuf_free(&b->rec[i]);
	for (int i = 0; i < PF_BATCH_ERR_COLS; i++)
		pf_colbuf_free(&b->err[i]);
	pf_colbuf_free(&b->raw_row);
	pf_colbuf_free(&b->raw_data);
	memset(b, 0, sizeof(*b));
}

bool pf_batch_empty(const pf_batch *b)
{
	return b->parsed == 0 && b->nerrors == 0;
}

int pf_batch_add_error(pf_batch *b, bool rejected, uint64_t row, uint64_t line, const char *column,
                       const char *value, size_t value_len, const char *reason, const char *raw,
                       size_t raw_len)
{
	char rowtxt[24], linetxt[24];
	int rl = snprintf(rowtxt, sizeof(rowtxt), "%llu", (unsigned long long)row);
	int ll = snprintf(linetxt, sizeof(linetxt), "%llu", (unsigned long long)line);
	const char *kind = rejected ? "rejected" : "warning";
	int rc = 0;
	rc = rc ? rc : pf_colbuf_add(&b->err[0], kind, strlen(kind));
	rc = rc ? rc : pf_colbuf_add(&b->err[1], rowtxt, (size_t)rl);
	rc = rc ? rc : pf_colbuf_add(&b->err[2], linetxt, (size_t)ll);
	rc = rc ? rc : pf_colbuf_add(&b->err[3], column, column ? strlen(column) : 0);
	rc = rc ? rc : pf_colbuf_add(&b->err[4], value, value_len);
	rc = rc ? rc : pf_colbuf_add(&b->err[5], reason, strlen(reason));
	rc = rc ? rc : pf_colbuf_add(&b->err[6], raw, raw_len);
	if (rc != 0)
		return rc;
	b->nerrors++;
	b->bytes += 64 + value_len + raw_len;
	return 0;
}

/* Bind a column as a binary array parameter (a buffer that cannot be
 * made fails the unit: see db.h). */
static void bind_col(pf_db_unit *u, pf_colbuf *c, uint32_t array_oid, uint32_t elem_oid)
{
	size_t len;
	char *buf = pf_colbuf_take(c, elem_oid, &len);
	if (!buf)
		pf_db_unit_fail(u, PF_ENOMEM);
	else
		pf_db_unit_binary_owned(u, array_oid, buf, len);
}

int pf_batch_submit(pf_batch *b, pf_db *db, const pf_batch_progress *p, pf_db_cb cb, void *arg)
{
	pf_db_unit *u = pf_db_unit_new(cb, arg);
	if (!u)
		return PF_ENOMEM;
	pf_db_unit_stmt(u, sql_begin);
	pf_db_unit_int(u, p->job_id);
	pf_db_unit_int(u, p->gen);
	pf_db_unit_int(u, p->from_record);
	pf_db_unit_int(u, p->to_record);
	pf_db_unit_int(u, p->end_offset);
	pf_db_unit_int(u, p->end_line);
	pf_db_unit_text(u, p->end_cr ? "t" : "f");
	pf_db_unit_int(u, b->parsed);
	pf_db_unit_int(u, b->parsed - b->rejected);
	pf_db_unit_int(u, b->rejected);
	pf_db_unit_int(u, b->warned);
	pf_db_unit_int(u, b->raw_bytes);
	pf_db_unit_int(u, b->raw_stored);
	pf_db_unit_int(u, p->max_rows);
	pf_db_unit_int(u, p->margin);
	if (b->nrecords) {
		pf_db_unit_stmt(u, sql_records());
		pf_db_unit_int(u, p->job_id);
		pf_db_unit_int(u, p->gen);
		for (int i = 0; i < PF_BATCH_REC_COLS; i++)
			bind_col(u, &b->rec[i], PF_OID_TEXT_ARRAY, PF_OID_TEXT);
		pf_db_unit_stmt(u, sql_raw);
		pf_db_unit_int(u, p->job_id);
		bind_col(u, &b->raw_row, PF_OID_TEXT_ARRAY, PF_OID_TEXT);
		bind_col(u, &b->raw_data, PF_OID_BYTEA_ARRAY, PF_OID_BYTEA);
		pf_db_unit_int(u, p->gen);
	}
	if (b->nerrors) {
		pf_db_unit_stmt(u, sql_errors);
		pf_db_unit_int(u, p->job_id);
		for (int i = 0; i < PF_BATCH_ERR_COLS; i++)
			bind_col(u, &b->err[i], PF_OID_TEXT_ARRAY, PF_OID_TEXT);
		pf_db_unit_int(u, p->gen);
	}
	pf_batch_deinit(b);
	pf_db_submit(db, (uint64_t)p->job_id, u);
	return 0;
}

/* test_batch.c - binary array layout that PostgreSQL's array_recv reads, and the
 * sticky build error of a database unit that batches rely on. */
#include "check.h"
#include "propflow/store/batch.h"

#include <arpa/inet.h>
#include <stdlib.h>

static uint32_t get32(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return ntohl(v);
}

/* A unit's first build error is sticky (db.h): later calls are no-ops
 * returning it, so a builder need not check each one. */
static void test_sticky_build_error(void)
{
	pf_db_unit *u = pf_db_unit_new(NULL, NULL);
	CHECK(u != NULL);
	CHECK_INT(pf_db_unit_error(u), 0);
	CHECK_INT(pf_db_unit_int(u, 1), PF_EINVAL); /* a parameter before any statement */
	CHECK_INT(pf_db_unit_error(u), PF_EINVAL);
	CHECK_INT(pf_db_unit_stmt(u, "SELECT $1"), PF_EINVAL);
	CHECK_INT(pf_db_unit_text(u, "x"), PF_EINVAL);
	CHECK_INT(pf_db_unit_binary_owned(u, PF_OID_BYTEA, malloc(4), 4), PF_EINVAL);
	pf_db_unit_fail(u, PF_ENOMEM); /* the first error stays */
	CHECK_INT(pf_db_unit_error(u), PF_EINVAL);
	pf_db_unit_free(u);

	u = pf_db_unit_new(NULL, NULL);
	for (int i = 0; i < PF_DB_STMTS_MAX; i++)
		CHECK_INT(pf_db_unit_stmt(u, "SELECT 1"), 0);
	CHECK_INT(pf_db_unit_stmt(u, "SELECT 1"), PF_ELIMIT); /* cap + 1 */
	CHECK_INT(pf_db_unit_int(u, 1), PF_ELIMIT);
	CHECK_INT(pf_db_unit_error(u), PF_ELIMIT);
	pf_db_unit_free(u);

	/* a unit that could not be allocated reads as out of memory */
	CHECK_INT(pf_db_unit_stmt(NULL, "SELECT 1"), PF_ENOMEM);
	CHECK_INT(pf_db_unit_int(NULL, 1), PF_ENOMEM);
	CHECK_INT(pf_db_unit_text(NULL, "x"), PF_ENOMEM);
	CHECK_INT(pf_db_unit_binary_owned(NULL, PF_OID_BYTEA, malloc(4), 4), PF_ENOMEM);
	CHECK_INT(pf_db_unit_error(NULL), PF_ENOMEM);
	pf_db_unit_fail(NULL, PF_EINVAL);

	u = pf_db_unit_new(NULL, NULL);
	CHECK_INT(pf_db_unit_stmt(u, "SELECT 1"), 0);
	pf_db_unit_fail(u, PF_ENOMEM);
	CHECK_INT(pf_db_unit_error(u), PF_ENOMEM);
	CHECK_INT(pf_db_unit_text(u, "y"), PF_ENOMEM);
	pf_db_unit_free(u);
}

int main(void)
{
	test_sticky_build_error();
	pf_colbuf c = {0};
	CHECK_INT(pf_colbuf_add(&c, "ab", 2), 0);
	CHECK_INT(pf_colbuf_add(&c, NULL, 0), 0);
	CHECK_INT(pf_colbuf_add(&c, "", 0), 0);
	size_t len;
	char *buf = pf_colbuf_take(&c, PF_OID_TEXT, &len);
	CHECK(buf != NULL);
	CHECK_INT(len, PF_ARRAY_HEADER + 4 + 2 + 4 + 4);
	CHECK_INT(get32(buf), 1);     /* ndim */
	CHECK_INT(get32(buf + 4), 1); /* has nulls */
	CHECK_INT(get32(buf + 8), PF_OID_TEXT);
	CHECK_INT(get32(buf + 12), 3); /* elements */
	CHECK_INT(get32(buf + 16), 1); /* lower bound */
	CHECK_INT(get32(buf + 20), 2);
	CHECK(memcmp(buf + 24, "ab", 2) == 0);
	CHECK_INT(get32(buf + 26), UINT32_MAX); /* NULL */
	CHECK_INT(get32(buf + 30), 0);          /* empty string, not NULL */
	CHECK(c.data == NULL && c.n == 0);      /* handed over, colbuf reset */
	free(buf);

	/* growth past the first allocation keeps every element */
	pf_colbuf big = {0};
	char v[1000];
	memset(v, 'x', sizeof(v));
	for (int i = 0; i < 100; i++)
		CHECK_MSG(pf_colbuf_add(&big, v, sizeof(v)) == 0, "add %d", i);
	buf = pf_colbuf_take(&big, PF_OID_BYTEA, &len);
	CHECK_INT(len, PF_ARRAY_HEADER + 100 * 1004);
	CHECK_INT(get32(buf + 4), 0);
	CHECK_INT(get32(buf + 12), 100);
	free(buf);

	pf_batch b;
	pf_batch_init(&b);
	CHECK(pf_batch_empty(&b));
	CHECK_INT(pf_batch_add_error(&b, true, 7, 9, NULL, NULL, 0, "expected 3 fields, found 2",
	                             "a,b", 3),
	          0);
	CHECK_INT(b.nerrors, 1);
	CHECK(!pf_batch_empty(&b));
	CHECK_INT(b.err[1].n, 1);
	pf_batch_deinit(&b);
	CHECK(pf_batch_empty(&b));
	return CHECK_DONE();
}

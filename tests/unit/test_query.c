/* test_query.c - the canonical text of a search (the read cache's key):
 * one text for the same search asked in other words, another for any
 * change, and no value that reads as a parameter boundary. */
#include "check.h"
#include "propflow/api/query.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int canon(const char *const *names, const char *const *values, size_t n, char *out,
                 size_t cap)
{
	pf_query q;
	pf_query_error e;
	int rc = pf_query_parse_pairs(&q, names, values, n, &e);
	return rc != 0 ? rc : pf_query_canonical(&q, out, cap);
}

int main(void)
{
	char a[256], b[256];
	const char *n1[] = {"limit", "q", "price_min", "sort"};
	const char *v1[] = {"20", "Maple  ST", "100000", "-price"};
	const char *n2[] = {"sort", "price_min", "q", "limit"};
	const char *v2[] = {"-price", "100000", " maple st ", "20"};
	CHECK_INT(canon(n1, v1, N(n1), a, sizeof(a)), 0);
	CHECK_INT(canon(n2, v2, N(n2), b, sizeof(b)), 0);
	CHECK_MSG(strcmp(a, b) == 0, "%s == %s", a, b);

	/* any change is another text: the sort's direction, a bound, limit */
	const char *v3[] = {"20", "maple st", "100000", "price"};
	CHECK_INT(canon(n1, v3, N(n1), b, sizeof(b)), 0);
	CHECK(strcmp(a, b) != 0);
	const char *v4[] = {"20", "maple st", "100001", "-price"};
	CHECK_INT(canon(n1, v4, N(n1), b, sizeof(b)), 0);
	CHECK(strcmp(a, b) != 0);
	const char *v5[] = {"21", "maple st", "100000", "-price"};
	CHECK_INT(canon(n1, v5, N(n1), b, sizeof(b)), 0);
	CHECK(strcmp(a, b) != 0);

	/* city "x&zip=1" is not city "x" and zip "1" */
	const char *n6[] = {"city"};
	const char *v6[] = {"x&zip=1"};
	const char *n7[] = {"city", "zip"};
	const char *v7[] = {"x", "1"};
	CHECK_INT(canon(n6, v6, N(n6), a, sizeof(a)), 0);
	CHECK_INT(canon(n7, v7, N(n7), b, sizeof(b)), 0);
	CHECK_MSG(strcmp(a, b) != 0, "%s != %s", a, b);
	CHECK(strstr(a, "x%26zip%3D1") != NULL);

	/* too long for the key: refused, never cut */
	CHECK_INT(canon(n1, v1, N(n1), a, 12), PF_ELIMIT);
	return CHECK_DONE();
}

/* test_tally.c - counts per key: add, get, sub to zero removes the entry,
 * many keys (the table grows), keys of different lengths stay apart, and
 * a key over PF_TALLY_KEY_MAX is refused. */
#include "check.h"
#include "propflow/base/tally.h"

#include <string.h>

int main(void)
{
	pf_tally *t = pf_tally_new();
	CHECK(t != NULL);
	const unsigned char a[4] = {127, 0, 0, 2}, b[4] = {127, 0, 0, 3};
	CHECK_INT(pf_tally_get(t, a, 4), 0);
	for (int i = 0; i < 3; i++)
		CHECK_INT(pf_tally_add(t, a, 4), 0);
	CHECK_INT(pf_tally_add(t, b, 4), 0);
	CHECK_INT(pf_tally_get(t, a, 4), 3);
	CHECK_INT(pf_tally_get(t, b, 4), 1);
	CHECK_INT(pf_tally_get(t, a, 3), 0); /* a prefix is another key */
	CHECK_INT(pf_tally_keys(t), 2);
	pf_tally_sub(t, b, 4);
	CHECK_INT(pf_tally_get(t, b, 4), 0);
	CHECK_INT(pf_tally_keys(t), 1);
	pf_tally_sub(t, b, 4); /* absent: ignored */
	CHECK_INT(pf_tally_get(t, a, 4), 3);

	/* 10,000 keys: the bucket array grows, every count stays right */
	enum { N = 10000 };
	int failed = 0;
	for (uint32_t i = 0; i < N; i++) {
		int64_t user = (int64_t)i * 7919;
		for (uint32_t k = 0; k <= i % 3; k++)
			failed += pf_tally_add(t, &user, sizeof(user)) != 0;
	}
	CHECK_INT(failed, 0);
	CHECK_INT(pf_tally_keys(t), N + 1);
	int wrong = 0;
	for (uint32_t i = 0; i < N; i++) {
		int64_t user = (int64_t)i * 7919;
		wrong += pf_tally_get(t, &user, sizeof(user)) != i % 3 + 1;
	}
	CHECK_INT(wrong, 0);
	for (uint32_t i = 0; i < N; i++) {
		int64_t user = (int64_t)i * 7919;
		for (uint32_t k = 0; k <= i % 3; k++)
			pf_tally_sub(t, &user, sizeof(user));
	}
	CHECK_INT(pf_tally_keys(t), 1);
	CHECK_INT(pf_tally_get(t, a, 4), 3);

	unsigned char big[PF_TALLY_KEY_MAX + 1];
	memset(big, 1, sizeof(big));
	CHECK_INT(pf_tally_add(t, big, sizeof(big)), PF_EINVAL);
	CHECK_INT(pf_tally_add(t, big, PF_TALLY_KEY_MAX), 0);
	CHECK_INT(pf_tally_get(t, big, PF_TALLY_KEY_MAX), 1);
	pf_tally_free(t);
	pf_tally_free(NULL);
	return CHECK_DONE();
}

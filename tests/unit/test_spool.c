/*
 * test_spool.c - the upload spool: chunking at PF_SPOOL_CHUNK, sealing,
 * in-order acknowledgement, rewinding after a lost connection, and the
 * LZ4 round trip of every chunk.
 */
#include "check.h"
#include "propflow/store/spool.h"

#include <stdlib.h>
#include <string.h>

static char *make_data(size_t n)
{
	char *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)("abcdefgh,12345\n"[i % 15] + (i / 4096 % 3));
	return p;
}

/* Every sealed chunk decodes to its stretch of the input. */
static bool chunks_match(const pf_spool *sp, const char *data)
{
	for (const pf_spool_chunk *c = sp->head; c; c = c->next) {
		char *out = malloc(c->raw_len ? c->raw_len : 1);
		bool ok = pf_spool_decode(c->data, c->len, out, c->raw_len) == 0 &&
		          memcmp(out, data + c->offset, c->raw_len) == 0;
		free(out);
		if (!ok)
			return false;
	}
	return true;
}

static void test_chunking(void)
{
	size_t n = 3 * PF_SPOOL_CHUNK + 1234;
	char *data = make_data(n);
	pf_spool sp;
	pf_spool_init(&sp, 0);
	/* odd pieces across chunk boundaries */
	for (size_t off = 0; off < n;) {
		size_t k = 777 + off % 5000;
		if (k > n - off)
			k = n - off;
		CHECK_INT(pf_spool_append(&sp, data + off, k), 0);
		off += k;
	}
	CHECK(sp.sealed == 3 * PF_SPOOL_CHUNK);
	CHECK(sp.open_len == 1234);
	CHECK(sp.unacked == 3 * PF_SPOOL_CHUNK);
	CHECK_INT(pf_spool_seal(&sp, false), 0);
	CHECK(sp.sealed == (int64_t)n && sp.open_len == 0);
	CHECK_INT(pf_spool_seal(&sp, false), 0); /* nothing open: no chunk */
	int count = 0;
	for (pf_spool_chunk *c = sp.head; c; c = c->next)
		count++;
	CHECK_INT(count, 4);
	CHECK(chunks_match(&sp, data));
	CHECK(sp.head->len < sp.head->raw_len / 2); /* it compresses */

	/* sent once each, in order */
	pf_spool_chunk *c1 = pf_spool_next_unsent(&sp);
	pf_spool_chunk *c2 = pf_spool_next_unsent(&sp);
	CHECK(c1 && c1->offset == 0 && c2 && c2->offset == PF_SPOOL_CHUNK);
	pf_spool_ack_head(&sp);
	CHECK(sp.durable == PF_SPOOL_CHUNK && sp.head == c2);
	CHECK(sp.unacked == n - PF_SPOOL_CHUNK);

	/* connection lost: the database has only the first chunk; c2 and the
	 * rest go again, from the first not stored */
	CHECK_INT(pf_spool_rewind(&sp, PF_SPOOL_CHUNK, false), 0);
	CHECK(pf_spool_next_unsent(&sp) == c2);
	/* ... or it had stored c2 too though the ack never came */
	CHECK_INT(pf_spool_rewind(&sp, 2 * PF_SPOOL_CHUNK, false), 0);
	CHECK(sp.head && sp.head->offset == 2 * PF_SPOOL_CHUNK);
	CHECK(sp.durable == 2 * PF_SPOOL_CHUNK);
	/* not a chunk boundary, or more than was sealed */
	CHECK_INT(pf_spool_rewind(&sp, 2 * PF_SPOOL_CHUNK + 1, false), PF_EINVAL);
	CHECK_INT(pf_spool_rewind(&sp, (int64_t)n + 1, false), PF_EINVAL);

	/* the final chunk, empty, then nothing more */
	CHECK_INT(pf_spool_seal(&sp, true), 0);
	CHECK(sp.finished && sp.tail->final && sp.tail->raw_len == 0);
	CHECK_INT(pf_spool_append(&sp, "x", 1), PF_EINVAL);
	CHECK_INT(pf_spool_seal(&sp, false), PF_EINVAL);
	while (sp.head)
		pf_spool_ack_head(&sp);
	CHECK(sp.durable == (int64_t)n && sp.unacked == 0 && !sp.tail);
	pf_spool_deinit(&sp);
	free(data);
}

static void test_rewind_final(void)
{
	pf_spool sp;
	pf_spool_init(&sp, 1000); /* a stream that continues at 1000 */
	CHECK_INT(pf_spool_append(&sp, "abc", 3), 0);
	CHECK_INT(pf_spool_seal(&sp, true), 0);
	CHECK(sp.head->offset == 1000 && sp.head->raw_len == 3 && sp.head->final);
	/* the database has none of it yet, then all of it */
	CHECK_INT(pf_spool_rewind(&sp, 1000, false), 0);
	CHECK(sp.head != NULL);
	CHECK_INT(pf_spool_rewind(&sp, 1003, true), 0);
	CHECK(sp.head == NULL && sp.durable == 1003);
	pf_spool_deinit(&sp);

	/* an empty final chunk is dropped only once the upload is complete */
	pf_spool_init(&sp, 50);
	CHECK_INT(pf_spool_seal(&sp, true), 0);
	CHECK_INT(pf_spool_rewind(&sp, 50, false), 0);
	CHECK(sp.head && sp.head->raw_len == 0);
	CHECK_INT(pf_spool_rewind(&sp, 50, true), 0);
	CHECK(sp.head == NULL);
	pf_spool_deinit(&sp);
}

static void test_decode(void)
{
	char out[16];
	CHECK_INT(pf_spool_decode("", 0, out, 0), 0);
	CHECK_INT(pf_spool_decode("x", 1, out, 0), PF_EINVAL);
	CHECK_INT(pf_spool_decode("\xff\xff\xff", 3, out, sizeof(out)), PF_EINVAL);
}

int main(void)
{
	test_chunking();
	test_rewind_final();
	test_decode();
	return CHECK_DONE();
}

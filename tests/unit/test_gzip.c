/* test_gzip.c - Accept-Encoding as RFC 9110 reads it (q-values, "*", a
 * refusal that stands), and a gzip stream written in pieces inflates back
 * to the same bytes with zlib's own reader. */
#include "check.h"
#include "propflow/net/gzip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int main(void)
{
	CHECK(pf_gzip_accepted("gzip"));
	CHECK(pf_gzip_accepted("gzip, deflate, br"));
	CHECK(pf_gzip_accepted("deflate, GZIP;q=0.5"));
	CHECK(pf_gzip_accepted("x-gzip"));
	CHECK(pf_gzip_accepted("br, *"));
	CHECK(pf_gzip_accepted("gzip ; q=1.0"));
	CHECK(!pf_gzip_accepted("gzip;q=0"));
	CHECK(!pf_gzip_accepted("gzip;q=0.000"));
	CHECK(!pf_gzip_accepted("*, gzip;q=0"));
	CHECK(!pf_gzip_accepted("gzip;q=0, gzip"));
	CHECK(!pf_gzip_accepted("*;q=0"));
	CHECK(!pf_gzip_accepted("identity"));
	CHECK(!pf_gzip_accepted("gzipx, deflate"));
	CHECK(!pf_gzip_accepted("gzip;q=abc"));
	CHECK(!pf_gzip_accepted(""));
	CHECK(!pf_gzip_accepted(NULL));

	/* 2 MB of CSV-like text in uneven pieces */
	enum { N = 2 << 20 };
	char *src = malloc(N);
	CHECK(src != NULL);
	for (size_t i = 0; i < N; i++)
		src[i] = (char)("0123456789,abcdef\n"[(i * 7 + i / 97) % 18]);
	pf_gzip *z = pf_gzip_new();
	struct evbuffer *out = evbuffer_new();
	CHECK(z && out);
	size_t off = 0, step = 1;
	int rc = 0;
	while (off < N && rc == 0) {
		size_t n = step < N - off ? step : N - off;
		rc = pf_gzip_write(z, src + off, n, out);
		off += n;
		step = step * 3 + 1;
	}
	CHECK_INT(rc, 0);
	CHECK_INT(pf_gzip_finish(z, out), 0);
	CHECK_INT(pf_gzip_write(z, "x", 1, out), PF_EINVAL);
	size_t zlen = evbuffer_get_length(out);
	CHECK(zlen > 0 && zlen < N / 4);
	unsigned char *zb = evbuffer_pullup(out, -1);
	char *back = malloc(N + 1);
	z_stream is;
	memset(&is, 0, sizeof(is));
	CHECK_INT(inflateInit2(&is, 15 + 16), Z_OK);
	is.next_in = zb;
	is.avail_in = (uInt)zlen;
	is.next_out = (Bytef *)back;
	is.avail_out = N + 1;
	CHECK_INT(inflate(&is, Z_FINISH), Z_STREAM_END);
	CHECK_INT(is.total_out, N);
	CHECK(memcmp(back, src, N) == 0);
	inflateEnd(&is);
	free(back);
	free(src);
	evbuffer_free(out);
	pf_gzip_free(z);
	pf_gzip_free(NULL);
	return CHECK_DONE();
}

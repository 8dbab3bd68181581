/*
 * gzip.c - streaming gzip for response bodies (see gzip.h). The HTTP
 * layer's streamed responses (http.c) run each written piece through here
 * when the client accepts gzip; deflate writes directly into space
 * reserved in the output evbuffer, so no body is ever held whole.
 */
#include "propflow/net/gzip.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

struct pf_gzip {
	z_stream zs;   /* deflate state (zlib-owned memory, freed by deflateEnd) */
	bool finished; /* the trailer was written */
};

pf_gzip *pf_gzip_new(void)
{
	pf_gzip *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	if (deflateInit2(&z->zs, PF_GZIP_LEVEL, Z_DEFLATED, PF_GZIP_WINDOW_BITS + 16,
	                 PF_GZIP_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(z);
		return NULL;
	}
	return z;
}

void pf_gzip_free(pf_gzip *z)
{
	if (!z)
		return;
	deflateEnd(&z->zs);
	free(z);
}

/* Run deflate with flush until it has consumed the input (and, for
 * Z_FINISH, written the trailer), committing its output to out. */
static int gzip_run(pf_gzip *z, int flush, struct evbuffer *out)
{
	for (;;) {
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(out, PF_GZIP_OUT_STEP, &v, 1) < 1)
			return PF_ENOMEM;
		z->zs.next_out = v.iov_base;
		z->zs.avail_out = (uInt)(v.iov_len > UINT32_MAX ? UINT32_MAX : v.iov_len);
		uInt before = z->zs.avail_out;
		int rc = deflate(&z->zs, flush);
		v.iov_len = before - z->zs.avail_out;
		if (evbuffer_commit_space(out, &v, 1) != 0)
			return PF_ENOMEM;
		if (rc == Z_STREAM_END)
			return 0;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return PF_EINVAL;
		/* done when deflate left output space unused: it has nothing more */
		if (z->zs.avail_out != 0 && z->zs.avail_in == 0 && flush != Z_FINISH)
			return 0;
	}
}

int pf_gzip_write(pf_gzip *z, const void *data, size_t len, struct evbuffer *out)
{
	if (z->finished)
		return PF_EINVAL;
	const unsigned char *p = data;
	while (len > 0) {
		/* avail_in is 32 bits: feed a huge piece in slices */
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		z->zs.next_in = (Bytef *)p;
		z->zs.avail_in = n;
		int rc = gzip_run(z, Z_NO_FLUSH, out);
		z->zs.next_in = NULL;
		if (rc != 0)
			return rc;
		p += n;
		len -= n;
	}
	return 0;
}

int pf_gzip_finish(pf_gzip *z, struct evbuffer *out)
{
	if (z->finished)
		return PF_EINVAL;
	z->zs.next_in = NULL;
	z->zs.avail_in = 0;
	int rc = gzip_run(z, Z_FINISH, out);
	z->finished = true;
	return rc;
}

/* The q-value of an entry's parameters ("; q=0.5"): 1 when absent, 0 for
 * anything unreadable (a client that sends nonsense gets no compression). */
static double entry_q(const char *p, const char *end)
{
	while (p < end) {
		while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
			p++;
		if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			char num[16];
			size_t n = 0;
			p += 2;
			while (p < end && n + 1 < sizeof(num) && *p != ';' && *p != ' ' &&
			       *p != '\t')
				num[n++] = *p++;
			num[n] = 0;
			char *e;
			double q = strtod(num, &e);
			return (n == 0 || *e || q < 0 || q > 1) ? 0 : q;
		}
		while (p < end && *p != ';')
			p++;
	}
	return 1;
}

bool pf_gzip_accepted(const char *ae)
{
	if (!ae)
		return false;
	int gzip = -1, star = -1; /* -1 not named, else 0/1: q above 0 */
	const char *p = ae;
	while (*p) {
		const char *end = p + strcspn(p, ",");
		const char *t = p;
		while (t < end && (*t == ' ' || *t == '\t'))
			t++;
		size_t tl = 0;
		while (t + tl < end && t[tl] != ';' && t[tl] != ' ' && t[tl] != '\t')
			tl++;
		int ok = entry_q(t + tl, end) > 0;
		if ((tl == 4 && strncasecmp(t, "gzip", 4) == 0) ||
		    (tl == 6 && strncasecmp(t, "x-gzip", 6) == 0))
			gzip = gzip == 0 ? 0 : ok; /* a refusal anywhere stands */
		else if (tl == 1 && *t == '*')
			star = ok;
		p = *end ? end + 1 : end;
	}
	return gzip >= 0 ? gzip == 1 : star == 1;
}

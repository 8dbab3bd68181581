/*
 * test_multipart.c - the streaming multipart/form-data decoder: whole,
 * byte by byte, split at every point, random bodies whose content is full
 * of near-delimiters, pausing callbacks, the caps at cap and cap+1, and
 * malformed forms.
 */
#include "check.h"
#include "propflow/net/multipart.h"

#include <stdlib.h>
#include <string.h>

typedef struct sink {
	char *data;
	size_t len;
	size_t cap;
	bool pause; /* return PF_MULTIPART_PAUSED on every call */
	int calls;
} sink;

static int sink_cb(void *arg, const char *data, size_t len)
{
	sink *s = arg;
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2 + 64;
		s->data = realloc(s->data, s->cap);
	}
	memcpy(s->data + s->len, data, len);
	s->len += len;
	s->calls++;
	return s->pause ? PF_MULTIPART_PAUSED : 0;
}

/* Feed body in pieces of the given sizes (0-terminated list, then the rest). */
typedef struct result {
	int last;      /* last feed result */
	int finish;    /* pf_multipart_finish */
	char *content; /* file part content (owned) */
	size_t len;
	char filename[256];
} result;

static result run(const char *ctype, const char *body, size_t blen, const size_t *splits,
                  bool pause)
{
	result r = {0};
	sink s = {.pause = pause};
	const char *why = NULL;
	pf_multipart *mp = pf_multipart_new(ctype, sink_cb, &s, &why);
	if (!mp) {
		r.last = -100;
		return r;
	}
	size_t off = 0;
	size_t si = 0;
	while (off < blen) {
		size_t n = blen - off;
		if (splits && splits[si]) {
			n = splits[si++];
			if (n > blen - off)
				n = blen - off;
		}
		size_t used = 0;
		/* feed this piece until it is all taken (pauses return early) */
		size_t done = 0;
		do {
			r.last = pf_multipart_feed(mp, body + off + done, n - done, &used);
			done += used;
			if (r.last < 0 || r.last == PF_MULTIPART_DONE)
				break;
		} while (done < n);
		if (r.last < 0 || r.last == PF_MULTIPART_DONE)
			break;
		off += n;
	}
	r.finish = pf_multipart_finish(mp);
	const char *fn = pf_multipart_filename(mp);
	snprintf(r.filename, sizeof(r.filename), "%s", fn ? fn : "(null)");
	pf_multipart_free(mp);
	r.content = s.data;
	r.len = s.len;
	return r;
}

static const char *CT = "multipart/form-data; boundary=XyZzy";

static const char BODY[] =
    "preamble to ignore\r\n"
    "--XyZzy\r\n"
    "Content-Disposition: form-data; name=\"note\"\r\n"
    "\r\n"
    "not the file\r\n"
    "--XyZzy  \r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"my \\\"data\\\";.csv\"\r\n"
    "Content-Type: text/csv\r\n"
    "\r\n"
    "a,b\r\n1,2\r\n--XyZz\r\n\r\n--XyZzX is not it\r\n-\r\n"
    "\r\n"
    "--XyZzy\r\n"
    "Content-Disposition: form-data; name=\"other\"; filename=\"second.csv\"\r\n"
    "\r\n"
    "ignored\r\n"
    "--XyZzy--\r\n"
    "epilogue";

static const char WANT[] = "a,b\r\n1,2\r\n--XyZz\r\n\r\n--XyZzX is not it\r\n-\r\n";

static bool same(const result *r, const char *want, size_t wlen)
{
	return r->len == wlen && (wlen == 0 || memcmp(r->content, want, wlen) == 0);
}

static void test_basic(void)
{
	size_t blen = sizeof(BODY) - 1;
	result r = run(CT, BODY, blen, NULL, false);
	CHECK_INT(r.last, PF_MULTIPART_DONE);
	CHECK_INT(r.finish, 0);
	CHECK(same(&r, WANT, sizeof(WANT) - 1));
	CHECK_STR(r.filename, "my \"data\";.csv");
	free(r.content);

	/* byte by byte */
	size_t *ones = malloc((blen + 1) * sizeof(size_t));
	for (size_t i = 0; i < blen; i++)
		ones[i] = 1;
	ones[blen] = 0;
	r = run(CT, BODY, blen, ones, false);
	CHECK_INT(r.last, PF_MULTIPART_DONE);
	CHECK(same(&r, WANT, sizeof(WANT) - 1));
	free(r.content);
	/* byte by byte with a callback that pauses every time */
	r = run(CT, BODY, blen, ones, true);
	CHECK(same(&r, WANT, sizeof(WANT) - 1));
	CHECK_INT(r.finish, 0);
	free(r.content);
	free(ones);

	/* every split point, with and without pausing */
	int bad = 0;
	for (size_t cut = 0; cut <= blen; cut++) {
		size_t sp[2] = {cut, 0};
		for (int p = 0; p < 2; p++) {
			r = run(CT, BODY, blen, cut ? sp : NULL, p);
			if (!same(&r, WANT, sizeof(WANT) - 1) || r.finish != 0 ||
			    strcmp(r.filename, "my \"data\";.csv") != 0)
				bad++;
			free(r.content);
		}
	}
	CHECK_MSG(bad == 0, "every split point gives the same content (%d bad)", bad);
}

/* Random bodies over a tiny alphabet, so near-delimiters are everywhere. */
static void test_random(void)
{
	unsigned seed = 12345;
	int bad = 0, runs = 0;
	for (int t = 0; t < 3000; t++) {
		seed = seed * 1103515245u + 12345u;
		srand(seed);
		char boundary[16];
		size_t bl = 1 + (size_t)rand() % 6;
		for (size_t i = 0; i < bl; i++)
			boundary[i] = "-ab"[rand() % 3];
		boundary[bl] = 'z'; /* not ending in a space; z never appears in content */
		boundary[bl + 1] = '\0';
		char delim[32];
		snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
		size_t clen = (size_t)rand() % 200;
		char content[256];
		for (size_t i = 0; i < clen; i++)
			content[i] = "\r\n-ab"[rand() % 5];
		char body[1024];
		int n = snprintf(body, sizeof(body),
		                 "--%s\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n",
		                 boundary);
		memcpy(body + n, content, clen);
		n += (int)clen;
		n += snprintf(body + n, sizeof(body) - (size_t)n, "\r\n--%s--\r\n", boundary);
		char ctype[64];
		snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=\"%s\"", boundary);
		size_t splits[64];
		size_t k = 0;
		while (k < 63) {
			splits[k++] = 1 + (size_t)rand() % 7;
		}
		splits[k] = 0;
		result r = run(ctype, body, (size_t)n, splits, rand() % 2);
		runs++;
		if (!same(&r, content, clen) || r.finish != 0 || r.last != PF_MULTIPART_DONE)
			bad++;
		free(r.content);
	}
	CHECK_MSG(bad == 0, "random near-delimiter bodies: %d of %d wrong", bad, runs);
}

static void test_content_types(void)
{
	const char *why = NULL;
	pf_multipart *mp;
	CHECK(pf_multipart_new("text/csv", sink_cb, NULL, &why) == NULL);
	CHECK_STR(why, "not multipart/form-data");
	CHECK(pf_multipart_new("multipart/form-data", sink_cb, NULL, &why) == NULL);
	CHECK_STR(why, "missing multipart boundary");
	CHECK(pf_multipart_new("multipart/form-data; boundary=", sink_cb, NULL, &why) == NULL);
	CHECK(pf_multipart_new("multipart/form-datax; boundary=a", sink_cb, NULL, &why) == NULL);
	CHECK(pf_multipart_new("multipart/form-data; boundary=a\rb", sink_cb, NULL, &why) == NULL);
	mp = pf_multipart_new("Multipart/Form-Data ; charset=x; BOUNDARY=\"a b\"", sink_cb, NULL,
	                      &why);
	CHECK(mp != NULL);
	pf_multipart_free(mp);

	char ct[160], b[80];
	memset(b, 'b', 70);
	b[70] = '\0';
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", b);
	mp = pf_multipart_new(ct, sink_cb, NULL, &why);
	CHECK_MSG(mp != NULL, "boundary of 70 bytes accepted");
	pf_multipart_free(mp);
	b[70] = 'b';
	b[71] = '\0';
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", b);
	CHECK_MSG(pf_multipart_new(ct, sink_cb, NULL, &why) == NULL, "boundary of 71 refused");
	CHECK_STR(why, "invalid multipart boundary");
}

static void test_header_cap(void)
{
	/* part headers of exactly the cap (including the blank line) and one more */
	for (int extra = 0; extra < 2; extra++) {
		size_t cap = PF_MULTIPART_PART_HEADERS_MAX + (size_t)extra;
		const char *cd = "Content-Disposition: form-data; name=\"file\"\r\nX-Pad: ";
		size_t fixed = strlen(cd) + 4; /* CRLF CRLF */
		size_t pad = cap - fixed;
		char *body = malloc(cap + 200);
		size_t n = 0;
		memcpy(body, "--B\r\n", 5);
		n += 5;
		memcpy(body + n, cd, strlen(cd));
		n += strlen(cd);
		memset(body + n, 'p', pad);
		n += pad;
		memcpy(body + n, "\r\n\r\nDATA\r\n--B--", 15);
		n += 15;
		result r = run("multipart/form-data; boundary=B", body, n, NULL, false);
		if (extra == 0) {
			CHECK_MSG(r.last == PF_MULTIPART_DONE && same(&r, "DATA", 4),
			          "part headers at the cap");
		} else {
			CHECK_MSG(r.last == PF_EINVAL, "part headers over the cap");
		}
		free(r.content);
		free(body);
	}
}

static void test_malformed(void)
{
	const char *ct = "multipart/form-data; boundary=B";
	const char *cases[][2] = {
	    /* body, expected finish error */
	    {"--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--B--", "no file"},
	    {"--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\npartial", "truncated"},
	    {"--Bxx\r\n", "garbage after boundary"},
	    {"no boundary at all", "no boundary"},
	    {"", "empty"},
	};
	for (size_t i = 0; i < PF_ARRAY_LEN(cases); i++) {
		result r = run(ct, cases[i][0], strlen(cases[i][0]), NULL, false);
		CHECK_MSG(r.finish == PF_EINVAL, "malformed: %s", cases[i][1]);
		free(r.content);
	}
	/* name="file" without a filename is the file part; empty content is fine */
	const char *b = "--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--B--";
	result r = run(ct, b, strlen(b), NULL, false);
	CHECK_INT(r.finish, 0);
	CHECK_INT(r.len, 0);
	CHECK_STR(r.filename, "(null)");
	free(r.content);
	/* a part with no headers at all, then the file; RFC 5987 filename */
	b = "--B\r\n\r\nskip\r\n--B\r\nContent-Disposition: form-data; name=\"f\"; "
	    "filename*=UTF-8''na%C3%AFve%20x.csv\r\n\r\nX\r\n--B--";
	r = run(ct, b, strlen(b), NULL, false);
	CHECK_INT(r.finish, 0);
	CHECK(same(&r, "X", 1));
	CHECK_STR(r.filename, "na\xc3\xafve x.csv");
	free(r.content);
	/* after DONE the rest is ignored */
	sink s = {0};
	pf_multipart *mp = pf_multipart_new(ct, sink_cb, &s, NULL);
	size_t used = 0;
	b = "--B\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nQ\r\n--B--";
	CHECK_INT(pf_multipart_feed(mp, b, strlen(b), &used), PF_MULTIPART_DONE);
	CHECK_INT(pf_multipart_feed(mp, "more", 4, &used), PF_MULTIPART_DONE);
	CHECK(pf_multipart_in_file(mp));
	CHECK_INT(pf_multipart_finish(mp), 0);
	pf_multipart_free(mp);
	free(s.data);
	pf_multipart_free(NULL);
}

static int failing_cb(void *arg, const char *data, size_t len)
{
	return PF_ENOMEM;
}

static void test_callback_failure(void)
{
	pf_multipart *mp =
	    pf_multipart_new("multipart/form-data; boundary=B", failing_cb, NULL, NULL);
	const char *b = "--B\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nQQ\r\n--B--";
	size_t used = 0;
	CHECK_INT(pf_multipart_feed(mp, b, strlen(b), &used), PF_EINVAL);
	CHECK_STR(pf_multipart_error(mp), "data callback failed");
	CHECK_INT(pf_multipart_feed(mp, "x", 1, &used), PF_EINVAL);
	CHECK_INT(pf_multipart_finish(mp), PF_EINVAL);
	pf_multipart_free(mp);
}

int main(void)
{
	test_basic();
	test_random();
	test_content_types();
	test_header_cap();
	test_malformed();
	test_callback_failure();
	return CHECK_DONE();
}

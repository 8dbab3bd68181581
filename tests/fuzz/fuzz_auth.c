/*
 * fuzz_auth.c - libFuzzer harness for the auth text parsers: Cookie and
 * Authorization headers, base64url, stored scrypt hashes, names, and the
 * --trust-proxy list with X-Forwarded-For / X-Forwarded-Proto. The input
 * is split at '\n' into up to eight pieces: cookie header, authorization,
 * base64url text, stored hash, proxy list, peer, X-Forwarded-For,
 * X-Forwarded-Proto. Each piece is also tried in every other role that
 * reads text, and results are checked against their contracts: outputs
 * NUL-terminated within their cap, base64url and stored hashes canonical
 * (decoding then encoding gives the input back). A stored hash that parses
 * is never verified (scrypt is slow on purpose); a malformed one must make
 * verify answer PF_EINVAL at once.
 * Build (from the repo root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_auth.c \
 *     src/net/auth.c src/net/proxy.c -lcrypto -o fuzz_auth
 *   ./fuzz_auth -max_total_time=60 tests/fuzz/corpus/auth
 */
#include "propflow/net/auth.h"
#include "propflow/net/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIECES 8

static void check_cookie_bearer(const char *text)
{
	char out[64];
	for (size_t cap = 0; cap <= sizeof(out); cap += 16) {
		memset(out, 'Z', sizeof(out));
		if (pf_auth_cookie(text, PF_AUTH_COOKIE, out, cap)) {
			size_t n = strnlen(out, cap);
			if (n == 0 || n >= cap || strchr(out, ';'))
				abort();
		}
		memset(out, 'Z', sizeof(out));
		if (pf_auth_bearer(text, out, cap)) {
			size_t n = strnlen(out, cap);
			if (n == 0 || n >= cap)
				abort();
			for (size_t i = 0; i < n; i++)
				if ((unsigned char)out[i] <= ' ')
					abort();
		}
	}
}

static void check_b64(const char *text, size_t len)
{
	uint8_t dec[256];
	char enc[400];
	size_t n = 0;
	int rc = pf_auth_b64url_decode(text, len, dec, sizeof(dec), &n);
	if (rc == 0) {
		if (n > sizeof(dec))
			abort();
		size_t m = pf_auth_b64url(dec, n, enc);
		if (m != len || memcmp(enc, text, len) != 0)
			abort(); /* not canonical */
	} else if (rc != PF_EINVAL && rc != PF_ELIMIT) {
		abort();
	}
}

static void check_hash(const char *text)
{
	pf_auth_scrypt p;
	if (pf_auth_parse_hash(text, &p) == 0) {
		if (p.log_n < 10 || p.log_n > 20 || p.r < 1 || p.r > 16 || p.p < 1 || p.p > 4)
			abort();
		char salt[32], hash[48], again[PF_AUTH_HASH_TEXT_MAX];
		pf_auth_b64url(p.salt, sizeof(p.salt), salt);
		pf_auth_b64url(p.hash, sizeof(p.hash), hash);
		snprintf(again, sizeof(again), "$scrypt$ln=%d,r=%d,p=%d$%s$%s", p.log_n, p.r, p.p,
		         salt, hash);
		if (strcmp(again, text) != 0)
			abort();
		return;
	}
	if (pf_auth_verify_password("pw", 2, text) != PF_EINVAL)
		abort();
}

static void check_proxy(const char *spec, const char *peer, const char *xff, const char *xfp)
{
	pf_proxy_list *l = NULL;
	const char *bad = NULL;
	int rc = pf_proxy_list_parse(spec, &l, &bad);
	if (rc != 0) {
		if (l || (rc != PF_EINVAL && rc != PF_ELIMIT))
			abort();
		if (bad && (bad < spec || bad > spec + strlen(spec)))
			abort();
	}
	char client[PF_PROXY_ADDR_MAX + 8];
	memset(client, 'Z', sizeof(client));
	bool https = true;
	pf_proxy_resolve(l, peer, xff, xfp, client, &https);
	if (strnlen(client, PF_PROXY_ADDR_MAX) >= PF_PROXY_ADDR_MAX)
		abort();
	if (!pf_proxy_trusted(l, peer) && https)
		abort(); /* an untrusted peer never says https */
	/* a client taken from the header is an address (not the raw peer text) */
	if (pf_proxy_trusted(l, peer) && !pf_proxy_trusted(l, client) &&
	    strcmp(client, peer) != 0) {
		pf_proxy_list *any = NULL;
		if (pf_proxy_list_parse("0.0.0.0/0,::/0", &any, NULL) != 0)
			abort();
		if (!pf_proxy_trusted(any, client))
			abort();
		pf_proxy_list_free(any);
	}
	pf_proxy_list_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char *buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* pieces end at '\n' (or at an embedded NUL, as C strings do) */
	const char *piece[PIECES];
	size_t plen[PIECES];
	char *s = buf;
	for (int i = 0; i < PIECES; i++) {
		piece[i] = s;
		char *nl = strchr(s, '\n');
		if (nl) {
			*nl = '\0';
			s = nl + 1;
		} else {
			s += strlen(s);
		}
		plen[i] = strlen(piece[i]);
	}

	for (int i = 0; i < PIECES; i++) {
		check_cookie_bearer(piece[i]);
		check_b64(piece[i], plen[i]);
		check_hash(piece[i]);
		bool valid = pf_auth_name_valid(piece[i]);
		if (valid && (plen[i] == 0 || plen[i] > 64))
			abort();
		if (!pf_auth_equal(piece[i], piece[i]))
			abort();
		if (i > 0 &&
		    pf_auth_equal(piece[i], piece[i - 1]) != (strcmp(piece[i], piece[i - 1]) == 0))
			abort();
	}
	check_proxy(piece[4], piece[5], piece[6], piece[7]);
	/* every piece as a list spec, the others in fixed roles */
	check_proxy(piece[0], "127.0.0.1", piece[1], piece[2]);
	check_proxy("127.0.0.1,::1,10.0.0.0/8", piece[5], piece[6], piece[7]);
	check_proxy("0.0.0.0/0,::/0", "::1", piece[0], piece[3]);
	free(buf);
	return 0;
}

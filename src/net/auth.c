/*
 * auth.c - the pure pieces of authentication: CSPRNG secrets as base64url
 * text, their SHA-256 digests, CSRF tokens (an HMAC of the session secret),
 * scrypt password hashes in a '$scrypt$' text form, and credentials read
 * out of Cookie and Authorization headers. Everything here is synchronous;
 * scrypt is slow on purpose, so the server runs it in the hasher child.
 */
#include "propflow/net/auth.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define PF_AUTH_CSRF_MSG     "propflow csrf"
#define PF_AUTH_SCRYPT_R     8
#define PF_AUTH_SCRYPT_P     1
#define PF_AUTH_LOG_N_MIN    10
#define PF_AUTH_LOG_N_MAX    20
#define PF_AUTH_R_MAX        16
#define PF_AUTH_P_MAX        4
#define PF_AUTH_SALT_CHARS   22 /* base64url of 16 bytes */
#define PF_AUTH_HASH_CHARS   43 /* base64url of 32 bytes */
#define PF_AUTH_NAME_MAX     64
#define PF_AUTH_SCRYPT_SLACK (1u << 20) /* over scrypt's own buffers, for maxmem */

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int pf_auth_random(uint8_t *buf, size_t len)
{
	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;
		if (RAND_bytes(buf, n) != 1)
			return PF_EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t pf_auth_b64url(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0, i = 0;
	for (; len - i >= 3; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
		out[o++] = b64url_chars[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Strict: no padding, no whitespace, and the unused low bits of the last
 * character must be zero, so every byte string has exactly one encoding. */
int pf_auth_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	if (len % 4 == 1)
		return PF_EINVAL;
	size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	for (size_t i = 0; i < len; i++)
		if (b64url_value((unsigned char)in[i]) < 0)
			return PF_EINVAL;
	if (need > cap)
		return PF_ELIMIT;
	size_t o = 0, i = 0;
	for (; len - i >= 4; i += 4) {
		uint32_t v = (uint32_t)b64url_value((unsigned char)in[i]) << 18 |
		             (uint32_t)b64url_value((unsigned char)in[i + 1]) << 12 |
		             (uint32_t)b64url_value((unsigned char)in[i + 2]) << 6 |
		             (uint32_t)b64url_value((unsigned char)in[i + 3]);
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	size_t rest = len - i;
	if (rest == 2) {
		uint32_t v = (uint32_t)b64url_value((unsigned char)in[i]) << 18 |
		             (uint32_t)b64url_value((unsigned char)in[i + 1]) << 12;
		if (v & 0xffff)
			return PF_EINVAL;
		out[o++] = (uint8_t)(v >> 16);
	} else if (rest == 3) {
		uint32_t v = (uint32_t)b64url_value((unsigned char)in[i]) << 18 |
		             (uint32_t)b64url_value((unsigned char)in[i + 1]) << 12 |
		             (uint32_t)b64url_value((unsigned char)in[i + 2]) << 6;
		if (v & 0xff)
			return PF_EINVAL;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
	}
	*outlen = o;
	return 0;
}

int pf_auth_new_secret(const char *prefix, char *out, size_t cap)
{
	size_t plen = strlen(prefix);
	if (cap < PF_AUTH_SECRET_CHARS + 1 || plen > cap - PF_AUTH_SECRET_CHARS - 1)
		return PF_ELIMIT;
	uint8_t raw[PF_AUTH_SECRET_BYTES];
	if (pf_auth_random(raw, sizeof(raw)) != 0)
		return PF_EIO;
	memcpy(out, prefix, plen);
	pf_auth_b64url(raw, sizeof(raw), out + plen);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

void pf_auth_digest(const char *secret, size_t len, uint8_t out[PF_AUTH_DIGEST_BYTES])
{
	unsigned int n = 0;
	/* SHA-256 fails only when OpenSSL cannot allocate; a zero digest
	 * would then match nothing real, but stopping is clearer. */
	if (EVP_Digest(secret, len, out, &n, EVP_sha256(), NULL) != 1 || n != PF_AUTH_DIGEST_BYTES)
		abort();
}

void pf_auth_csrf(const char *session_secret, size_t len, char out[PF_AUTH_CSRF_CHARS + 1])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (len > INT_MAX ||
	    !HMAC(EVP_sha256(), session_secret, (int)len, (const uint8_t *)PF_AUTH_CSRF_MSG,
	          strlen(PF_AUTH_CSRF_MSG), mac, &n) ||
	    n != 32)
		abort(); /* as for the digest: only on allocation failure */
	pf_auth_b64url(mac, 32, out);
}

bool pf_auth_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	/* Walk a whole; bytes past b's end compare against 0 and the length
	 * difference is folded in, so time depends only on the lengths. */
	volatile unsigned char diff = (unsigned char)(la != lb);
	for (size_t i = 0; i < la; i++) {
		unsigned char c = i < lb ? (unsigned char)b[i] : 0;
		diff |= (unsigned char)a[i] ^ c;
	}
	return diff == 0;
}

/* Bytes scrypt allocates (B and V, plus XY) with room to spare. */
static uint64_t scrypt_maxmem(int log_n, int r, int p)
{
	uint64_t n = (uint64_t)1 << log_n;
	return 2 * 128 * (uint64_t)r * (n + 2) + 128 * (uint64_t)r * (uint64_t)p +
	       PF_AUTH_SCRYPT_SLACK;
}

static int scrypt_derive(const char *pw, size_t len, const uint8_t *salt, int log_n, int r, int p,
                         uint8_t out[PF_AUTH_HASH_BYTES])
{
	if (EVP_PBE_scrypt(pw, len, salt, PF_AUTH_SALT_BYTES, (uint64_t)1 << log_n, (uint64_t)r,
	                   (uint64_t)p, scrypt_maxmem(log_n, r, p), out, PF_AUTH_HASH_BYTES) != 1)
		return PF_EIO;
	return 0;
}

int pf_auth_hash_password(const char *pw, size_t len, int log_n, char *out, size_t cap)
{
	if (len == 0 || len > PF_AUTH_PASSWORD_MAX || log_n < PF_AUTH_LOG_N_MIN ||
	    log_n > PF_AUTH_LOG_N_MAX)
		return PF_EINVAL;
	uint8_t salt[PF_AUTH_SALT_BYTES], key[PF_AUTH_HASH_BYTES];
	char salt_txt[PF_AUTH_SALT_CHARS + 1], key_txt[PF_AUTH_HASH_CHARS + 1];
	int rc = pf_auth_random(salt, sizeof(salt));
	if (rc != 0)
		return rc;
	rc = scrypt_derive(pw, len, salt, log_n, PF_AUTH_SCRYPT_R, PF_AUTH_SCRYPT_P, key);
	if (rc != 0)
		goto done;
	pf_auth_b64url(salt, sizeof(salt), salt_txt);
	pf_auth_b64url(key, sizeof(key), key_txt);
	int n = snprintf(out, cap, "$scrypt$ln=%d,r=%d,p=%d$%s$%s", log_n, PF_AUTH_SCRYPT_R,
	                 PF_AUTH_SCRYPT_P, salt_txt, key_txt);
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			out[0] = '\0';
		rc = PF_ELIMIT;
	}
done:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* A decimal parameter "key=V" with no sign and no leading zero, in
 * [min, max]; advances *s past it. */
static bool parse_param(const char **s, const char *key, int min, int max, int *out)
{
	size_t klen = strlen(key);
	if (strncmp(*s, key, klen) != 0)
		return false;
	const char *p = *s + klen;
	if (*p < '1' || *p > '9')
		return false;
	int v = 0, digits = 0;
	while (*p >= '0' && *p <= '9') {
		if (++digits > 2)
			return false;
		v = v * 10 + (*p - '0');
		p++;
	}
	if (v < min || v > max)
		return false;
	*out = v;
	*s = p;
	return true;
}

static bool parse_b64_field(const char **s, size_t chars, uint8_t *out, size_t bytes)
{
	const char *end = strchr(*s, '$');
	size_t len = end ? (size_t)(end - *s) : strlen(*s);
	size_t got = 0;
	if (len != chars || pf_auth_b64url_decode(*s, len, out, bytes, &got) != 0 || got != bytes)
		return false;
	*s += len;
	return true;
}

int pf_auth_parse_hash(const char *stored, pf_auth_scrypt *out)
{
	static const char head[] = "$scrypt$";
	const char *s = stored;
	if (!s || strncmp(s, head, sizeof(head) - 1) != 0)
		return PF_EINVAL;
	s += sizeof(head) - 1;
	if (!parse_param(&s, "ln=", PF_AUTH_LOG_N_MIN, PF_AUTH_LOG_N_MAX, &out->log_n) ||
	    !parse_param(&s, ",r=", 1, PF_AUTH_R_MAX, &out->r) ||
	    !parse_param(&s, ",p=", 1, PF_AUTH_P_MAX, &out->p))
		return PF_EINVAL;
	if (*s++ != '$' || !parse_b64_field(&s, PF_AUTH_SALT_CHARS, out->salt, PF_AUTH_SALT_BYTES))
		return PF_EINVAL;
	if (*s++ != '$' || !parse_b64_field(&s, PF_AUTH_HASH_CHARS, out->hash, PF_AUTH_HASH_BYTES))
		return PF_EINVAL;
	return *s == '\0' ? 0 : PF_EINVAL;
}

int pf_auth_verify_password(const char *pw, size_t len, const char *stored)
{
	pf_auth_scrypt h;
	if (pf_auth_parse_hash(stored, &h) != 0)
		return PF_EINVAL;
	/* no hash is ever made of these, so they cannot match */
	if (len == 0 || len > PF_AUTH_PASSWORD_MAX)
		return PF_AUTH_MISMATCH;
	uint8_t key[PF_AUTH_HASH_BYTES];
	int rc = scrypt_derive(pw, len, h.salt, h.log_n, h.r, h.p, key);
	if (rc == 0)
		rc = CRYPTO_memcmp(key, h.hash, sizeof(key)) == 0 ? 0 : PF_AUTH_MISMATCH;
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

bool pf_auth_cookie(const char *cookie_header, const char *name, char *out, size_t cap)
{
	if (!cookie_header || !name || cap == 0)
		return false;
	size_t nlen = strlen(name);
	const char *s = cookie_header;
	while (*s) {
		while (is_space(*s) || *s == ';')
			s++;
		const char *pair = s, *end = strchr(s, ';');
		if (!end)
			end = s + strlen(s);
		s = end;
		const char *eq = memchr(pair, '=', (size_t)(end - pair));
		if (!eq)
			continue;
		const char *ne = eq;
		while (ne > pair && is_space(ne[-1]))
			ne--;
		if ((size_t)(ne - pair) != nlen || memcmp(pair, name, nlen) != 0)
			continue;
		/* the first cookie of that name wins, even when empty */
		const char *v = eq + 1, *ve = end;
		while (v < ve && is_space(*v))
			v++;
		while (ve > v && is_space(ve[-1]))
			ve--;
		if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
			v++;
			ve--;
		}
		size_t vlen = (size_t)(ve - v);
		if (vlen == 0 || vlen >= cap)
			return false;
		memcpy(out, v, vlen);
		out[vlen] = '\0';
		return true;
	}
	return false;
}

bool pf_auth_bearer(const char *authorization, char *out, size_t cap)
{
	static const char scheme[] = "bearer";
	if (!authorization || cap == 0)
		return false;
	const char *s = authorization;
	while (is_space(*s))
		s++;
	if (strncasecmp(s, scheme, sizeof(scheme) - 1) != 0)
		return false;
	s += sizeof(scheme) - 1;
	if (!is_space(*s))
		return false;
	while (is_space(*s))
		s++;
	const char *e = s + strlen(s);
	while (e > s && is_space(e[-1]))
		e--;
	size_t len = (size_t)(e - s);
	if (len == 0 || len >= cap)
		return false;
	for (const char *p = s; p < e; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false; /* one token68, no inner spaces or controls */
	memcpy(out, s, len);
	out[len] = '\0';
	return true;
}

bool pf_auth_name_valid(const char *name)
{
	if (!name)
		return false;
	size_t n = 0;
	for (const char *p = name; *p; p++, n++) {
		char c = *p;
		if (n >= PF_AUTH_NAME_MAX)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '@' || c == '-'))
			return false;
	}
	return n > 0;
}
